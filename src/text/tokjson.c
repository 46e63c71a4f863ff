/* Loading and validating tokenizer.json into an ld_tokenizer.
 *
 * Every rejection names the field at fault, so a malformed or unsupported
 * file gives a one-line diagnosis instead of a crash or a silently different
 * tokenization. Semantics follow HF tokenizers' deserializer: merges refer to
 * model vocab entries and their concatenation must be in the vocab too; an
 * added token takes the id of an equal vocab entry, else the next free id. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/pyjson.h"
#include "text/tok_internal.h"
#include "text/utf8.h"

#define MAX_ID (1 << 24) /* far above any real vocab; bounds allocations */
#define MAX_FILE ((size_t)1 << 30)

/* GPT-2 byte <-> char table: printable bytes map to themselves, the others
 * to U+0100 onwards in byte order. */
static void byte_level_tables(uint32_t b2c[256], int16_t c2b[324]) {
    uint32_t n = 0;
    for (int i = 0; i < 324; i++) c2b[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        b2c[b] = printable ? (uint32_t)b : 256 + n++;
        c2b[b2c[b]] = (int16_t)b;
    }
}

/* Maps a byte-level token string back to raw bytes; 0 if some char is not in
 * the table (then HF's decoder keeps the token's own UTF-8 bytes). */
static int unmap_bytes(const int16_t *c2b, const char *s, size_t n, char *out, size_t *out_n) {
    size_t i = 0, w = 0;
    while (i < n) {
        size_t l = ld_utf8_seq_len((const unsigned char *)s + i, n - i);
        if (!l) return 0;
        uint32_t cp = ld_utf8_decode((const unsigned char *)s + i, l);
        if (cp >= 324 || c2b[cp] < 0) return 0;
        out[w++] = (char)c2b[cp];
        i += l;
    }
    *out_n = w;
    return 1;
}

static int get_bool(const cJSON *obj, const char *key, int dflt, const char *ctx, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) { *out = dflt; return 0; }
    if (!cJSON_IsBool(v)) return ld_set_error("%s.%s must be true or false", ctx, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int get_id(const cJSON *v, const char *what, const char *name, int32_t *out) {
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= MAX_ID ||
        v->valuedouble != (double)(int32_t)v->valuedouble)
        return ld_set_error("%s '%.60s': id must be an integer in [0, %d)", what, name, MAX_ID);
    *out = (int32_t)v->valuedouble;
    return 0;
}

static int grow_ids(ld_tokenizer *tok, int32_t id) {
    if (id < tok->n_ids) return 0;
    int32_t n = tok->n_ids ? tok->n_ids : 1024;
    while (n <= id) n *= 2;
    const char **d = realloc(tok->dec, (size_t)n * sizeof *d);
    if (d) tok->dec = d;
    uint32_t *dl = realloc(tok->dec_len, (size_t)n * sizeof *dl);
    if (dl) tok->dec_len = dl;
    uint8_t *sp = realloc(tok->special, (size_t)n);
    if (sp) tok->special = sp;
    if (!d || !dl || !sp) return ld_set_error("out of memory (id table of %d)", n);
    for (int32_t i = tok->n_ids; i < n; i++) {
        tok->dec[i] = NULL;
        tok->dec_len[i] = 0;
        tok->special[i] = 0;
    }
    tok->n_ids = n;
    return 0;
}

/* Records what id decodes to: the ByteLevel decoder's reading of text. */
static int set_decode(ld_tokenizer *tok, const int16_t *c2b, int32_t id, const char *text, size_t n) {
    if (grow_ids(tok, id)) return -1;
    char tmp[1024];
    char *raw = n <= sizeof tmp ? tmp : malloc(n);
    size_t rn;
    if (!raw) return ld_set_error("out of memory");
    const char *src = text;
    if (unmap_bytes(c2b, text, n, raw, &rn)) {
        src = raw;
        n = rn;
    }
    const char *d = ld_arena_dup(&tok->arena, src, n);
    if (raw != tmp) free(raw);
    if (!d) return -1;
    tok->dec[id] = d;
    tok->dec_len[id] = (uint32_t)n;
    return 0;
}

static int load_model(ld_tokenizer *tok, const cJSON *model, const int16_t *c2b, ld_strmap *model_vocab) {
    if (!cJSON_IsObject(model)) return ld_set_error("missing or invalid \"model\" object");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (type && !(cJSON_IsString(type) && !strcmp(type->valuestring, "BPE")))
        return ld_set_error("model.type %s%s%s is not supported (only BPE)",
                            cJSON_IsString(type) ? "'" : "", cJSON_IsString(type) ? type->valuestring : "(not a string)",
                            cJSON_IsString(type) ? "'" : "");
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (dropout && !cJSON_IsNull(dropout) && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0))
        return ld_set_error("model.dropout is not supported (must be null)");
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (a && !cJSON_IsNull(a) && !(cJSON_IsString(a) && a->valuestring[0] == 0))
            return ld_set_error("model.%s is not supported (must be null or empty)", affixes[i]);
    }
    int byte_fallback = 0;
    if (get_bool(model, "fuse_unk", 0, "model", &tok->fuse_unk) ||
        get_bool(model, "byte_fallback", 0, "model", &byte_fallback) ||
        get_bool(model, "ignore_merges", 0, "model", &tok->ignore_merges))
        return -1;

    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return ld_set_error("model.vocab must be an object of token -> id");
    size_t nv = (size_t)cJSON_GetArraySize(vocab);
    if (ld_strmap_init(model_vocab, nv) || ld_strmap_init(&tok->vocab, nv) || ld_strmap_init(&tok->by_text, nv + 1024))
        return -1;
    char tmp[1024];
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int32_t id = 0;
        if (get_id(e, "model.vocab entry", e->string, &id)) return -1;
        size_t kl = strlen(e->string);
        char *key = ld_arena_dup(&tok->arena, e->string, kl);
        if (!key || ld_strmap_put(model_vocab, key, kl, id) || ld_strmap_put(&tok->by_text, key, kl, id)) return -1;
        size_t rn;
        if (kl <= sizeof tmp && unmap_bytes(c2b, key, kl, tmp, &rn)) {
            char *raw = ld_arena_dup(&tok->arena, tmp, rn);
            if (!raw || ld_strmap_put(&tok->vocab, raw, rn, id)) return -1;
        }
        if (set_decode(tok, c2b, id, key, kl)) return -1;
    }
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        tok->byte_id[b] = ld_strmap_get(&tok->vocab, &c, 1);
        tok->fallback_id[b] = -1;
        if (byte_fallback) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            tok->fallback_id[b] = ld_strmap_get(model_vocab, name, strlen(name));
        }
    }
    tok->unk_id = -1;
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (unk && !cJSON_IsNull(unk)) {
        if (!cJSON_IsString(unk)) return ld_set_error("model.unk_token must be a string or null");
        tok->unk_id = ld_strmap_get(model_vocab, unk->valuestring, strlen(unk->valuestring));
        if (tok->unk_id < 0) return ld_set_error("model.unk_token '%.60s' is not in the vocab", unk->valuestring);
    }

    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!cJSON_IsArray(merges)) return ld_set_error("model.merges must be an array");
    if (ld_pairmap_init(&tok->merges, (size_t)cJSON_GetArraySize(merges))) return -1;
    int32_t rank = 0;
    char *cat = NULL;
    size_t cat_cap = 0;
    int rc = 0;
    for (const cJSON *m = merges->child; m && !rc; m = m->next, rank++) {
        const char *a, *b;
        size_t al, bl;
        if (cJSON_IsString(m)) {
            const char *sp = strchr(m->valuestring, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                rc = ld_set_error("model.merges[%d] '%.60s' must be two tokens separated by one space", rank, m->valuestring);
                break;
            }
            a = m->valuestring; al = (size_t)(sp - a);
            b = sp + 1; bl = strlen(b);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) {
            a = m->child->valuestring; al = strlen(a);
            b = m->child->next->valuestring; bl = strlen(b);
        } else {
            rc = ld_set_error("model.merges[%d] must be a string \"a b\" or an array [a, b]", rank);
            break;
        }
        int32_t ai = ld_strmap_get(model_vocab, a, al), bi = ld_strmap_get(model_vocab, b, bl);
        if (ai < 0 || bi < 0) {
            rc = ld_set_error("model.merges[%d]: token '%.*s' is not in the vocab", rank,
                              (int)(ai < 0 ? (al > 60 ? 60 : al) : (bl > 60 ? 60 : bl)), ai < 0 ? a : b);
            break;
        }
        if (al + bl > cat_cap) {
            cat_cap = 2 * (al + bl) + 64;
            char *nc = realloc(cat, cat_cap);
            if (!nc) { rc = ld_set_error("out of memory"); break; }
            cat = nc;
        }
        memcpy(cat, a, al);
        memcpy(cat + al, b, bl);
        int32_t ni = ld_strmap_get(model_vocab, cat, al + bl);
        if (ni < 0) {
            rc = ld_set_error("model.merges[%d]: merged token '%.*s' is not in the vocab", rank,
                              (int)(al + bl > 60 ? 60 : al + bl), cat);
            break;
        }
        rc = ld_pairmap_put(&tok->merges, ai, bi, rank, ni);
    }
    free(cat);
    return rc;
}

static int load_added(ld_tokenizer *tok, const cJSON *root, const int16_t *c2b, const ld_strmap *model_vocab) {
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (!arr || cJSON_IsNull(arr)) return 0;
    if (!cJSON_IsArray(arr)) return ld_set_error("added_tokens must be an array");
    size_t cap = (size_t)cJSON_GetArraySize(arr);
    tok->added = calloc(cap ? cap : 1, sizeof *tok->added);
    if (!tok->added) return ld_set_error("out of memory");
    int32_t next_id = (int32_t)model_vocab->count;
    ld_strmap by_content;
    if (ld_strmap_init(&by_content, cap)) return -1;
    int rc = 0, idx = 0;
    for (const cJSON *t = arr->child; t && !rc; t = t->next, idx++) {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(t, "content");
        if (!cJSON_IsObject(t) || !cJSON_IsString(content)) {
            rc = ld_set_error("added_tokens[%d] must be an object with a string \"content\"", idx);
            break;
        }
        ld_added_token at = {0};
        char ctx[48];
        snprintf(ctx, sizeof ctx, "added_tokens[%d]", idx);
        if (get_bool(t, "special", 0, ctx, &at.special) || get_bool(t, "normalized", !at.special, ctx, &at.normalized) ||
            get_bool(t, "lstrip", 0, ctx, &at.lstrip) || get_bool(t, "rstrip", 0, ctx, &at.rstrip) ||
            get_bool(t, "single_word", 0, ctx, &at.single_word)) {
            rc = -1;
            break;
        }
        const cJSON *jid = cJSON_GetObjectItemCaseSensitive(t, "id");
        int32_t json_id = 0;
        if (jid && (rc = get_id(jid, "added token", content->valuestring, &json_id))) break;
        at.len = strlen(content->valuestring);
        if (at.len == 0) continue; /* HF ignores empty added tokens */
        at.content = ld_arena_dup(&tok->arena, content->valuestring, at.len);
        if (!at.content) { rc = -1; break; }
        int32_t prev = ld_strmap_get(&by_content, at.content, at.len);
        int32_t id = prev >= 0 ? tok->added[prev].id : ld_strmap_get(model_vocab, at.content, at.len);
        if (id < 0) {
            if (next_id >= MAX_ID) { rc = ld_set_error("too many added tokens"); break; }
            id = next_id++;
        }
        at.id = id;
        if (prev >= 0) {
            tok->added[prev] = at;
        } else {
            if ((rc = ld_strmap_put(&by_content, at.content, at.len, (int32_t)tok->n_added))) break;
            tok->added[tok->n_added++] = at;
        }
        if ((rc = ld_strmap_put(&tok->by_text, at.content, at.len, id))) break;
        if ((rc = set_decode(tok, c2b, id, at.content, at.len))) break;
        tok->special[id] = (uint8_t)at.special;
    }
    ld_strmap_free(&by_content);
    for (size_t i = 0; i < tok->n_added && !rc; i++)
        rc = ld_trie_add(tok->added[i].normalized ? &tok->trie_norm : &tok->trie_raw, tok->added[i].content,
                         tok->added[i].len, (int32_t)i);
    return rc;
}

static int load_normalizer(ld_tokenizer *tok, const cJSON *n, int depth) {
    if (!n || cJSON_IsNull(n)) return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(n, "type");
    if (!cJSON_IsObject(n) || !cJSON_IsString(type)) return ld_set_error("normalizer must be null or an object with a \"type\"");
    if (!strcmp(type->valuestring, "Sequence") && depth < 4) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
        if (!cJSON_IsArray(list)) return ld_set_error("normalizer Sequence needs a \"normalizers\" array");
        for (const cJSON *c = list->child; c; c = c->next)
            if (load_normalizer(tok, c, depth + 1)) return -1;
        return 0;
    }
    if (!strcmp(type->valuestring, "NFC"))
        return ld_set_error("normalizer NFC is not supported yet (Qwen-style tokenizers)");
    return ld_set_error("normalizer type '%.40s' is not supported", type->valuestring);
}

static int add_step(ld_tokenizer *tok, ld_pretok_step st) {
    ld_pretok_step *ns = realloc(tok->steps, (tok->n_steps + 1) * sizeof *ns);
    if (!ns) {
        pcre2_code_free(st.re);
        pcre2_code_free(st.re_exact);
        return ld_set_error("out of memory");
    }
    tok->steps = ns;
    tok->steps[tok->n_steps++] = st;
    return 0;
}

static const char gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

static int load_pretok(ld_tokenizer *tok, const cJSON *p, int depth, int *seen_bl) {
    if (!p || cJSON_IsNull(p)) return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    if (!cJSON_IsObject(p) || !cJSON_IsString(type)) return ld_set_error("pre_tokenizer must be null or an object with a \"type\"");
    const char *t = type->valuestring;
    if (!strcmp(t, "Sequence") && depth < 4) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (!cJSON_IsArray(list)) return ld_set_error("pre_tokenizer Sequence needs a \"pretokenizers\" array");
        for (const cJSON *c = list->child; c; c = c->next)
            if (load_pretok(tok, c, depth + 1, seen_bl)) return -1;
        return 0;
    }
    ld_pretok_step st = {0};
    if (!strcmp(t, "ByteLevel")) {
        int use_regex = 1;
        if (get_bool(p, "add_prefix_space", 1, "pre_tokenizer ByteLevel", &st.add_prefix_space) ||
            get_bool(p, "use_regex", 1, "pre_tokenizer ByteLevel", &use_regex))
            return -1;
        st.kind = LD_PT_BYTELEVEL;
        if (use_regex && !(st.re = ld_regex_compile(gpt2_pattern, sizeof gpt2_pattern - 1, 0, tok, &st.re_exact)))
            return -1;
        *seen_bl = 1;
        return add_step(tok, st);
    }
    if (!strcmp(t, "Split")) {
        if (*seen_bl) return ld_set_error("pre_tokenizer: a Split after ByteLevel is not supported");
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const cJSON *rx = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
        const cJSON *lit = cJSON_GetObjectItemCaseSensitive(pat, "String");
        const cJSON *src = cJSON_IsString(rx) ? rx : lit;
        if (!cJSON_IsObject(pat) || !cJSON_IsString(src))
            return ld_set_error("pre_tokenizer Split needs \"pattern\": {\"Regex\": ...} or {\"String\": ...}");
        const cJSON *beh = cJSON_GetObjectItemCaseSensitive(p, "behavior");
        static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
        st.behavior = -1;
        for (int i = 0; i < 5 && cJSON_IsString(beh); i++)
            if (!strcmp(beh->valuestring, names[i])) st.behavior = i;
        if (st.behavior < 0) return ld_set_error("pre_tokenizer Split: unknown \"behavior\"");
        if (get_bool(p, "invert", 0, "pre_tokenizer Split", &st.invert)) return -1;
        st.kind = LD_PT_SPLIT;
        st.re = ld_regex_compile(src->valuestring, strlen(src->valuestring), src == lit, tok, &st.re_exact);
        if (!st.re) return ld_wrap_error("pre_tokenizer Split pattern");
        return add_step(tok, st);
    }
    return ld_set_error("pre_tokenizer type '%.40s' is not supported", t);
}

static int check_decoder(const cJSON *d, int depth) {
    if (!d || cJSON_IsNull(d)) return 0;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(d, "type");
    if (!cJSON_IsObject(d) || !cJSON_IsString(type)) return ld_set_error("decoder must be null or an object with a \"type\"");
    if (!strcmp(type->valuestring, "ByteLevel")) return 0;
    if (!strcmp(type->valuestring, "Sequence") && depth < 4) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(d, "decoders");
        if (!cJSON_IsArray(list)) return ld_set_error("decoder Sequence needs a \"decoders\" array");
        for (const cJSON *c = list->child; c; c = c->next)
            if (check_decoder(c, depth + 1)) return -1;
        return 0;
    }
    return ld_set_error("decoder type '%.40s' is not supported (only ByteLevel)", type->valuestring);
}

/* BOS from a TemplateProcessing post-processor (possibly in a Sequence). */
static int32_t template_bos(const ld_tokenizer *tok, const cJSON *pp, int depth) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(pp, "type");
    if (!cJSON_IsString(type) || depth > 4) return -1;
    if (!strcmp(type->valuestring, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(pp, "processors");
        for (const cJSON *c = cJSON_IsArray(list) ? list->child : NULL; c; c = c->next) {
            int32_t id = template_bos(tok, c, depth + 1);
            if (id >= 0) return id;
        }
        return -1;
    }
    if (strcmp(type->valuestring, "TemplateProcessing")) return -1;
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(pp, "single");
    const cJSON *first = cJSON_IsArray(single) ? single->child : NULL;
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(first, "SpecialToken");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(sp, "id");
    if (!cJSON_IsString(name)) return -1;
    return ld_strmap_get(&tok->by_text, name->valuestring, strlen(name->valuestring));
}

static void find_bos(ld_tokenizer *tok, const cJSON *root) {
    tok->bos_id = template_bos(tok, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), 0);
    static const char *const names[] = {"<｜begin▁of▁sentence｜>", "<|begin_of_text|>", "<s>", "<bos>"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && tok->bos_id < 0; i++)
        for (size_t k = 0; k < tok->n_added; k++)
            if (tok->added[k].special && !strcmp(tok->added[k].content, names[i])) tok->bos_id = tok->added[k].id;
}

ld_tokenizer *ld_tokenizer_load_json(const char *json, size_t len) {
    if (ld_json_reject_nul(json, len)) {
        ld_wrap_error("tokenizer.json");
        return NULL;
    }
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        size_t off = ep && ep >= json && ep <= json + len ? (size_t)(ep - json) : 0;
        ld_set_error("tokenizer.json is not valid JSON (error near byte %zu)", off);
        return NULL;
    }
    ld_tokenizer *tok = ld_tokenizer_new_empty();
    uint32_t b2c[256];
    int16_t c2b[324];
    byte_level_tables(b2c, c2b);
    ld_strmap model_vocab = {0};
    int seen_bl = 0, rc = -1;
    if (!tok) goto done;
    if (!cJSON_IsObject(root)) { ld_set_error("tokenizer.json must hold a JSON object"); goto done; }
    if (load_model(tok, cJSON_GetObjectItemCaseSensitive(root, "model"), c2b, &model_vocab)) goto done;
    if (load_added(tok, root, c2b, &model_vocab)) goto done;
    if (load_normalizer(tok, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), 0)) goto done;
    if (load_pretok(tok, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), 0, &seen_bl)) goto done;
    if (!seen_bl) {
        ld_set_error("pre_tokenizer has no ByteLevel step: only byte-level BPE tokenizers are supported");
        goto done;
    }
    if (check_decoder(cJSON_GetObjectItemCaseSensitive(root, "decoder"), 0)) goto done;
    find_bos(tok, root);
    rc = 0;
done:
    ld_strmap_free(&model_vocab);
    cJSON_Delete(root);
    if (rc) {
        ld_tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

ld_tokenizer *ld_tokenizer_load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        ld_set_error("cannot open tokenizer file '%s'", path);
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : (1u << 20);
            char *nb = cap <= MAX_FILE ? realloc(buf, cap) : NULL;
            if (!nb) {
                free(buf);
                fclose(f);
                ld_set_error("tokenizer file '%s' is too large or memory ran out", path);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        ld_set_error("error reading tokenizer file '%s'", path);
        return NULL;
    }
    ld_tokenizer *tok = ld_tokenizer_load_json(buf, n);
    free(buf);
    if (!tok) ld_wrap_error("%s", path);
    return tok;
}
