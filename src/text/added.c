/* Added-token matching: splits text around added tokens before BPE.
 *
 * Mirrors HF AddedVocabulary::find_matches: the leftmost match wins, the
 * longest token at that position wins, matches never overlap, and the scan
 * resumes after a match even when the match is then discarded (single_word).
 * lstrip/rstrip widen a kept match over adjacent Unicode whitespace. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tok_internal.h"
#include "text/utf8.h"

int ld_trie_add(ld_trie *t, const char *s, size_t len, int32_t token) {
    if (!t->nodes) {
        t->cap = 256;
        t->nodes = malloc(t->cap * sizeof *t->nodes);
        if (!t->nodes) return ld_set_error("out of memory (added-token trie)");
        t->nodes[0] = (ld_trie_node){-1, -1, -1, 0};
        t->n = 1;
    }
    if (len == 0) return 0; /* HF ignores empty added tokens */
    t->first[(unsigned char)s[0]] = 1;
    int32_t cur = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        int32_t c = t->nodes[cur].child;
        while (c >= 0 && t->nodes[c].byte != b) c = t->nodes[c].sibling;
        if (c < 0) {
            if (t->n == t->cap) {
                ld_trie_node *nn = realloc(t->nodes, 2 * t->cap * sizeof *nn);
                if (!nn) return ld_set_error("out of memory (added-token trie)");
                t->nodes = nn;
                t->cap *= 2;
            }
            c = (int32_t)t->n++;
            t->nodes[c] = (ld_trie_node){-1, t->nodes[cur].child, -1, b};
            t->nodes[cur].child = c;
        }
        cur = c;
    }
    /* A later token with the same text replaces the earlier one, as in HF. */
    t->nodes[cur].token = token;
    return 0;
}

void ld_trie_free(ld_trie *t) {
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

/* Longest token starting at text[p]; returns its length (0 = none). */
static size_t trie_longest(const ld_trie *t, const char *text, size_t len, size_t p, int32_t *token) {
    int32_t cur = 0;
    size_t best = 0;
    for (size_t i = p; i < len; i++) {
        unsigned char b = (unsigned char)text[i];
        int32_t c = t->nodes[cur].child;
        while (c >= 0 && t->nodes[c].byte != b) c = t->nodes[c].sibling;
        if (c < 0) break;
        cur = c;
        if (t->nodes[cur].token >= 0) {
            best = i + 1 - p;
            *token = t->nodes[cur].token;
        }
    }
    return best;
}

/* Unicode White_Space, the set Rust's regex \s uses. */
static int is_ws(uint32_t c) {
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* Word characters for single_word tokens. Approximates Unicode \w with the
 * general categories PCRE2 can test; no tokenizer in the supported families
 * sets single_word, so exactness here is not load-bearing. */
static int is_word_char(uint32_t c) {
    static pcre2_code *re;
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    pthread_mutex_lock(&mu);
    if (!re) {
        static const char pat[] = "^[\\p{L}\\p{M}\\p{Nd}\\p{Nl}\\p{Pc}]";
        re = ld_regex_compile(pat, sizeof pat - 1, 0, NULL, NULL);
    }
    pthread_mutex_unlock(&mu);
    if (!re) return 0;
    unsigned char buf[4];
    size_t n = ld_utf8_encode(c, buf);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return 0;
    int rc = pcre2_match(re, buf, n, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

/* Code point ending at text[end) (text is valid UTF-8), its start in *st. */
static uint32_t prev_cp(const char *text, size_t end, size_t *st) {
    size_t s = end - 1;
    while (s > 0 && ((unsigned char)text[s] & 0xC0) == 0x80) s--;
    *st = s;
    return ld_utf8_decode((const unsigned char *)text + s, end - s);
}

static uint32_t next_cp(const char *text, size_t len, size_t p, size_t *clen) {
    *clen = ld_utf8_seq_len((const unsigned char *)text + p, len - p);
    if (!*clen) *clen = 1;
    return ld_utf8_decode((const unsigned char *)text + p, *clen);
}

static int piece_push(ld_piecevec *pv, size_t start, size_t len, int32_t token) {
    if (pv->n == pv->cap) {
        size_t cap = pv->cap ? pv->cap * 2 : 16;
        ld_piece *nv = realloc(pv->v, cap * sizeof *nv);
        if (!nv) return ld_set_error("out of memory (added-token split)");
        pv->v = nv;
        pv->cap = cap;
    }
    pv->v[pv->n++] = (ld_piece){start, len, token};
    return 0;
}

int ld_added_split(const ld_tokenizer *tok, const ld_trie *trie, const char *text, size_t len,
                   int skip_all, ld_piecevec *out) {
    if (skip_all || !trie->nodes || trie->n <= 1) return len ? piece_push(out, 0, len, -1) : 0;
    size_t start_offset = 0, p = 0;
    while (p < len) {
        int32_t token = -1;
        size_t mlen = trie->first[(unsigned char)text[p]] ? trie_longest(trie, text, len, p, &token) : 0;
        if (!mlen) {
            p++;
            continue;
        }
        size_t start = p, stop = p + mlen;
        p = stop;
        const ld_added_token *at = &tok->added[token];
        if (at->single_word) {
            size_t st, cl;
            int start_ok = start == 0 || !is_word_char(prev_cp(text, start, &st));
            int stop_ok = stop == len || !is_word_char(next_cp(text, len, stop, &cl));
            if (!start_ok || !stop_ok) continue;
        }
        if (at->lstrip) {
            size_t ns = start, st;
            while (ns > 0 && is_ws(prev_cp(text, ns, &st))) ns = st;
            start = ns > start_offset ? ns : start_offset;
        }
        if (at->rstrip) {
            size_t cl;
            while (stop < len && is_ws(next_cp(text, len, stop, &cl))) stop += cl;
        }
        if (start < start_offset) start = start_offset;
        if (start_offset < start && piece_push(out, start_offset, start - start_offset, -1)) return -1;
        if (piece_push(out, start, stop - start, token)) return -1;
        start_offset = stop;
        if (p < stop) p = stop;
    }
    if (start_offset < len && piece_push(out, start_offset, len - start_offset, -1)) return -1;
    return 0;
}
