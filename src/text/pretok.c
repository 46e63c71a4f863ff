/* Pre-tokenization: a sequence of regex Splits and ByteLevel steps, with the
 * match semantics of HF tokenizers (which runs Oniguruma).
 *
 * Each step maps a list of spans to a finer list; empty spans are dropped
 * after every step, as HF does. ByteLevel's byte-to-char mapping is not
 * materialized: BPE works on raw bytes and the vocab was converted to raw
 * bytes at load, so the step only contributes its prefix space and optional
 * GPT-2 split. That is why tokjson.c rejects Splits placed after ByteLevel. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tok_internal.h"
#include "text/unicode_compat.h"
#include "text/utf8.h"

int ld_spanvec_push(ld_spanvec *sv, size_t start, size_t len) {
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 64;
        ld_span *nv = realloc(sv->v, cap * sizeof *nv);
        if (!nv) return ld_set_error("out of memory (pre-tokenizer)");
        sv->v = nv;
        sv->cap = cap;
    }
    sv->v[sv->n++] = (ld_span){start, len};
    return 0;
}

static pcre2_code *compile(const char *pattern, size_t len, uint32_t flags) {
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, flags, &err, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        ld_set_error("bad regex at offset %zu: %s", (size_t)off, (const char *)msg);
        return NULL;
    }
    /* JIT is an accelerator only; the interpreter gives the same matches. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

pcre2_code *ld_regex_compile(const char *pattern, size_t len, int literal, ld_tokenizer *tok,
                             pcre2_code **exact) {
    /* No PCRE2_NO_UTF_CHECK: patterns come from the file and may be invalid UTF-8. */
    uint32_t flags = literal ? PCRE2_UTF | PCRE2_LITERAL : PCRE2_UTF | PCRE2_UCP;
    if (exact) *exact = NULL;
    /* The pattern as written first, so errors point into it. */
    pcre2_code *re = compile(pattern, len, flags);
    if (!re || literal) return re;
    if (tok && !tok->ucd_touched && !(tok->ucd_touched = calloc(1, LD_UCD_BITMAP_BYTES))) {
        pcre2_code_free(re);
        ld_set_error("out of memory (regex)");
        return NULL;
    }
    size_t fixed_len = 0;
    int oom = 0;
    char *fixed = ld_regex_compat_rewrite(pattern, len, flags, &fixed_len, tok ? tok->ucd_touched : NULL, &oom);
    if (oom) {
        pcre2_code_free(re);
        ld_set_error("out of memory (regex)");
        return NULL;
    }
    /* Syntax the rewriter does not follow (e.g. (?x) comments) could make
     * the patched pattern invalid; the pattern as written is kept then. */
    pcre2_code *fx = fixed ? compile(fixed, fixed_len, flags) : NULL;
    free(fixed);
    if (!fx) {
        ld_clear_error();
        return re;
    }
    if (!exact) { /* one regex wanted: the exact one */
        pcre2_code_free(re);
        return fx;
    }
    tok->ucd_patched = 1;
    *exact = fx;
    return re;
}

/* Whether valid UTF-8 text holds a code point some patched regex treats
 * differently from its original. */
static int needs_exact(const ld_tokenizer *tok, const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        size_t n = ld_utf8_seq_len(s + i, len - i);
        if (!n) n = 1;
        uint32_t cp = ld_utf8_decode(s + i, n);
        if (tok->ucd_touched[cp >> 3] & (1u << (cp & 7))) return 1;
        i += n;
    }
    return 0;
}

typedef struct {
    size_t s, e;
    int match;
} seg;

typedef struct {
    seg *v;
    size_t n, cap;
} segvec;

static int seg_push(segvec *sv, size_t s, size_t e, int match) {
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 64;
        seg *nv = realloc(sv->v, cap * sizeof *nv);
        if (!nv) return ld_set_error("out of memory (pre-tokenizer)");
        sv->v = nv;
        sv->cap = cap;
    }
    sv->v[sv->n++] = (seg){s, e, match};
    return 0;
}

/* All matches of re in subj as alternating (gap, match) segments covering
 * subj. Iteration follows the onig crate: an empty match right where the
 * previous match ended is refused and the search moves on one character. */
static int find_matches(ld_tokenizer *tok, const pcre2_code *re, const char *subj, size_t n,
                        int invert, segvec *out) {
    size_t last_end = 0, prev = 0, last_match_end = 0;
    int have_last = 0;
    while (last_end <= n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)subj, n, last_end, PCRE2_NO_UTF_CHECK, tok->md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return ld_set_error("pre-tokenizer regex failed: %s", (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tok->md);
        size_t s = ov[0], e = ov[1];
        if (s == e && have_last && last_match_end == e) {
            if (last_end >= n) break;
            size_t cl = ld_utf8_seq_len((const unsigned char *)subj + last_end, n - last_end);
            last_end += cl ? cl : 1;
            continue;
        }
        last_end = e;
        last_match_end = e;
        have_last = 1;
        if (prev != s && seg_push(out, prev, s, invert)) return -1;
        if (seg_push(out, s, e, !invert)) return -1;
        prev = e;
    }
    if (prev != n && seg_push(out, prev, n, invert)) return -1;
    return 0;
}

/* Applies the delimiter behavior (HF NormalizedString::split) and appends the
 * kept, non-empty pieces, offset by base, to out. */
static int split_behavior(const segvec *m, int behavior, size_t base, ld_spanvec *out) {
    size_t n = m->n;
    if (behavior == LD_SPLIT_ISOLATED || behavior == LD_SPLIT_REMOVED) {
        for (size_t i = 0; i < n; i++) {
            if (behavior == LD_SPLIT_REMOVED && m->v[i].match) continue;
            if (m->v[i].e > m->v[i].s && ld_spanvec_push(out, base + m->v[i].s, m->v[i].e - m->v[i].s))
                return -1;
        }
        return 0;
    }
    /* The merging behaviors fold into a temporary list, then copy out. */
    segvec acc = {0};
    int prev_match = 0, rc = 0;
    if (behavior == LD_SPLIT_MERGED_NEXT) {
        for (size_t k = n; k-- > 0 && !rc;) {
            const seg *g = &m->v[k];
            if (g->match && !prev_match && acc.n) acc.v[acc.n - 1].s = g->s;
            else rc = seg_push(&acc, g->s, g->e, 0);
            prev_match = g->match;
        }
        for (size_t i = 0, j = acc.n; i < j / 2; i++) { /* reverse */
            seg t = acc.v[i];
            acc.v[i] = acc.v[j - 1 - i];
            acc.v[j - 1 - i] = t;
        }
    } else {
        for (size_t k = 0; k < n && !rc; k++) {
            const seg *g = &m->v[k];
            int merge = behavior == LD_SPLIT_CONTIGUOUS ? g->match == prev_match : g->match && !prev_match;
            if (merge && acc.n) acc.v[acc.n - 1].e = g->e;
            else rc = seg_push(&acc, g->s, g->e, 0);
            prev_match = g->match;
        }
    }
    for (size_t i = 0; i < acc.n && !rc; i++)
        if (acc.v[i].e > acc.v[i].s) rc = ld_spanvec_push(out, base + acc.v[i].s, acc.v[i].e - acc.v[i].s);
    free(acc.v);
    return rc;
}

int ld_pretokenize(ld_tokenizer *tok, const char *text, size_t len, ld_word_fn emit, void *ctx) {
    ld_spanvec a = {0}, b = {0};
    segvec m = {0};
    char *owned = NULL; /* buffer built by a prefix-space step */
    const char *buf = text;
    int rc = ld_spanvec_push(&a, 0, len);
    int exact = tok->ucd_patched && needs_exact(tok, text, len);
    for (size_t si = 0; si < tok->n_steps && !rc; si++) {
        const ld_pretok_step *st = &tok->steps[si];
        if (st->kind == LD_PT_BYTELEVEL && st->add_prefix_space) {
            size_t total = 0;
            for (size_t i = 0; i < a.n; i++) total += a.v[i].len + 1;
            char *nb = malloc(total + 1);
            if (!nb) {
                rc = ld_set_error("out of memory (pre-tokenizer)");
                break;
            }
            size_t w = 0;
            b.n = 0;
            for (size_t i = 0; i < a.n && !rc; i++) {
                size_t s0 = w;
                if (buf[a.v[i].start] != ' ') nb[w++] = ' ';
                memcpy(nb + w, buf + a.v[i].start, a.v[i].len);
                w += a.v[i].len;
                rc = ld_spanvec_push(&b, s0, w - s0);
            }
            free(owned);
            owned = nb;
            buf = nb;
            ld_spanvec t = a;
            a = b;
            b = t;
        }
        if (rc || !st->re) continue;
        b.n = 0;
        int behavior = st->kind == LD_PT_BYTELEVEL ? LD_SPLIT_ISOLATED : st->behavior;
        for (size_t i = 0; i < a.n && !rc; i++) {
            m.n = 0;
            const pcre2_code *re = exact && st->re_exact ? st->re_exact : st->re;
            rc = find_matches(tok, re, buf + a.v[i].start, a.v[i].len, st->invert, &m);
            if (!rc) rc = split_behavior(&m, behavior, a.v[i].start, &b);
        }
        ld_spanvec t = a;
        a = b;
        b = t;
    }
    for (size_t i = 0; i < a.n && !rc; i++)
        if (a.v[i].len) rc = emit(ctx, buf + a.v[i].start, a.v[i].len);
    free(a.v);
    free(b.v);
    free(m.v);
    free(owned);
    return rc;
}
