/* Tokenizer lifecycle and the encode/decode pipelines.
 *
 * Encode order (HF TokenizerImpl::encode): added tokens with normalized=false
 * are cut out of the raw text; the rest is normalized (identity for the
 * supported families) and cut again on normalized=true added tokens; each
 * remaining piece is pre-tokenized and every word BPE-encoded. Invalid UTF-8
 * bytes, which HF cannot receive at all, are passed through as single-byte
 * tokens between the valid runs so decode(encode(x)) == x for any bytes. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tok_internal.h"
#include "text/utf8.h"

ld_tokenizer *ld_tokenizer_new_empty(void) {
    ld_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        ld_set_error("out of memory");
        return NULL;
    }
    tok->bos_id = -1;
    tok->unk_id = -1;
    for (int b = 0; b < 256; b++) tok->byte_id[b] = tok->fallback_id[b] = -1;
    pthread_mutex_init(&tok->lock, NULL);
    tok->md = pcre2_match_data_create(1, NULL);
    if (!tok->md || ld_strmap_init(&tok->cache, 1 << 14)) {
        ld_tokenizer_free(tok);
        ld_set_error("out of memory");
        return NULL;
    }
    return tok;
}

void ld_tokenizer_free(ld_tokenizer *tok) {
    if (!tok) return;
    for (size_t i = 0; i < tok->n_steps; i++) {
        pcre2_code_free(tok->steps[i].re);
        pcre2_code_free(tok->steps[i].re_exact);
    }
    free(tok->steps);
    free(tok->ucd_touched);
    ld_strmap_free(&tok->vocab);
    ld_strmap_free(&tok->by_text);
    ld_pairmap_free(&tok->merges);
    free(tok->dec);
    free(tok->dec_len);
    free(tok->special);
    free(tok->added);
    ld_trie_free(&tok->trie_raw);
    ld_trie_free(&tok->trie_norm);
    ld_bpe_cache_free(tok);
    if (tok->md) pcre2_match_data_free(tok->md);
    ld_arena_free(&tok->arena);
    pthread_mutex_destroy(&tok->lock);
    free(tok);
}

typedef struct {
    ld_tokenizer *tok;
    ld_idvec *out;
} word_ctx;

static int on_word(void *ctx, const char *w, size_t n) {
    word_ctx *c = ctx;
    return ld_bpe_word(c->tok, w, n, c->out);
}

/* Second added-token pass, then pre-tokenization and BPE of the rest. */
static int encode_text_piece(ld_tokenizer *tok, const char *s, size_t n, int skip, ld_idvec *out) {
    ld_piecevec pv = {0};
    int rc = ld_added_split(tok, &tok->trie_norm, s, n, skip, &pv);
    word_ctx wc = {tok, out};
    for (size_t i = 0; i < pv.n && !rc; i++) {
        if (pv.v[i].token >= 0) rc = ld_idvec_push(out, tok->added[pv.v[i].token].id);
        else rc = ld_pretokenize(tok, s + pv.v[i].start, pv.v[i].len, on_word, &wc);
    }
    free(pv.v);
    return rc;
}

static int encode_valid(ld_tokenizer *tok, const char *s, size_t n, int skip, ld_idvec *out) {
    ld_piecevec pv = {0};
    int rc = ld_added_split(tok, &tok->trie_raw, s, n, skip, &pv);
    for (size_t i = 0; i < pv.n && !rc; i++) {
        if (pv.v[i].token >= 0) rc = ld_idvec_push(out, tok->added[pv.v[i].token].id);
        else rc = encode_text_piece(tok, s + pv.v[i].start, pv.v[i].len, skip, out);
    }
    free(pv.v);
    return rc;
}

int ld_tokenizer_encode(ld_tokenizer *tok, const char *text, size_t len, const ld_encode_opts *opts,
                        int32_t **ids, size_t *n) {
    ld_encode_opts o = opts ? *opts : (ld_encode_opts){0};
    ld_idvec out = {0};
    *ids = NULL;
    *n = 0;
    if (!text && len) return ld_set_error("encode: NULL text");
    if (o.add_bos) {
        if (tok->bos_id < 0) return ld_set_error("this tokenizer defines no BOS token");
        if (ld_idvec_push(&out, tok->bos_id)) return -1;
    }
    pthread_mutex_lock(&tok->lock);
    int rc = 0;
    size_t i = 0;
    while (i < len && !rc) {
        size_t j = i;
        const unsigned char *u = (const unsigned char *)text;
        for (;;) {
            if (j >= len) break;
            if (u[j] < 0x80) { j++; continue; }
            size_t l = ld_utf8_seq_len(u + j, len - j);
            if (!l) break;
            j += l;
        }
        if (j > i) rc = encode_valid(tok, text + i, j - i, o.special_as_text, &out);
        if (j < len && !rc) {
            int32_t id = tok->byte_id[u[j]];
            if (id < 0) id = tok->fallback_id[u[j]];
            if (id < 0) id = tok->unk_id;
            if (id >= 0) rc = ld_idvec_push(&out, id);
            j++;
        }
        i = j;
    }
    pthread_mutex_unlock(&tok->lock);
    if (rc) {
        free(out.v);
        return -1;
    }
    *ids = out.v;
    *n = out.n;
    return 0;
}

const char *ld_tokenizer_token_bytes(const ld_tokenizer *tok, int32_t id, size_t *len) {
    if (id < 0 || id >= tok->n_ids || !tok->dec[id]) return NULL;
    *len = tok->dec_len[id];
    return tok->dec[id];
}

int ld_tokenizer_decode(const ld_tokenizer *tok, const int32_t *ids, size_t n, char **out, size_t *out_len) {
    size_t total = 0, l;
    *out = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!ld_tokenizer_token_bytes(tok, ids[i], &l))
            return ld_set_error("decode: unknown token id %d (position %zu)", (int)ids[i], i);
        total += l;
    }
    char *buf = malloc(total + 1);
    if (!buf) return ld_set_error("out of memory (decode of %zu bytes)", total);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        const char *b = ld_tokenizer_token_bytes(tok, ids[i], &l);
        memcpy(buf + w, b, l);
        w += l;
    }
    buf[w] = 0;
    *out = buf;
    *out_len = w;
    return 0;
}

int32_t ld_tokenizer_token_id(const ld_tokenizer *tok, const char *text, size_t len) {
    return ld_strmap_get(&tok->by_text, text, len);
}

int32_t ld_tokenizer_bos_id(const ld_tokenizer *tok) { return tok->bos_id; }

int32_t ld_tokenizer_vocab_size(const ld_tokenizer *tok) {
    int32_t n = tok->n_ids;
    while (n > 0 && !tok->dec[n - 1]) n--;
    return n;
}

int ld_tokenizer_is_special(const ld_tokenizer *tok, int32_t id) {
    return id >= 0 && id < tok->n_ids && tok->special[id];
}
