/* Streaming detokenizer: turns generated ids into printable UTF-8 chunks.
 *
 * Invariant: `pend` holds only the bytes of a trailing sequence that is still
 * a valid prefix of some UTF-8 character (at most 3 bytes). Everything before
 * it is released, including bytes that can never become valid, so the
 * released stream is byte-for-byte the one-shot decode. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

struct ld_detok_stream {
    const ld_tokenizer *tok;
    char *buf; /* pending bytes + room for the next token */
    size_t n, cap;
    char *out; /* bytes handed to the caller last time */
    size_t out_cap;
};

ld_detok_stream *ld_detok_stream_new(const ld_tokenizer *tok) {
    ld_detok_stream *s = calloc(1, sizeof *s);
    if (!s) ld_set_error("out of memory");
    else s->tok = tok;
    return s;
}

void ld_detok_stream_free(ld_detok_stream *s) {
    if (!s) return;
    free(s->buf);
    free(s->out);
    free(s);
}

/* 1 when the n (< full length) bytes at p could still start a valid char. */
static int incomplete_prefix(const unsigned char *p, size_t n) {
    unsigned c = p[0];
    size_t need = c >= 0xC2 && c < 0xE0 ? 2 : c >= 0xE0 && c < 0xF0 ? 3 : c >= 0xF0 && c < 0xF5 ? 4 : 0;
    if (!need || n >= need) return 0;
    for (size_t i = 1; i < n; i++) {
        unsigned lo = 0x80, hi = 0xBF;
        if (i == 1) {
            if (c == 0xE0) lo = 0xA0;
            else if (c == 0xED) hi = 0x9F;
            else if (c == 0xF0) lo = 0x90;
            else if (c == 0xF4) hi = 0x8F;
        }
        if (p[i] < lo || p[i] > hi) return 0;
    }
    return 1;
}

static int emit(ld_detok_stream *s, size_t upto, const char **out, size_t *out_len) {
    if (upto > s->out_cap) {
        char *no = realloc(s->out, upto);
        if (!no) return ld_set_error("out of memory");
        s->out = no;
        s->out_cap = upto;
    }
    if (upto) {
        memcpy(s->out, s->buf, upto);
        memmove(s->buf, s->buf + upto, s->n - upto);
    }
    s->n -= upto;
    *out = upto ? s->out : "";
    *out_len = upto;
    return 0;
}

int ld_detok_stream_push(ld_detok_stream *s, int32_t id, const char **out, size_t *out_len) {
    size_t l;
    const char *b = ld_tokenizer_token_bytes(s->tok, id, &l);
    *out = "";
    *out_len = 0;
    if (!b) return ld_set_error("detokenize: unknown token id %d", (int)id);
    if (s->n + l > s->cap) {
        size_t cap = (s->n + l) * 2 + 16;
        char *nb = realloc(s->buf, cap);
        if (!nb) return ld_set_error("out of memory");
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->n, b, l);
    s->n += l;
    /* Walk to the first position whose remaining bytes are an incomplete but
     * still possible character; only the tail can be one. */
    const unsigned char *u = (const unsigned char *)s->buf;
    size_t i = 0;
    while (i < s->n) {
        if (u[i] < 0x80) { i++; continue; }
        size_t sl = ld_utf8_seq_len(u + i, s->n - i);
        if (sl) { i += sl; continue; }
        if (incomplete_prefix(u + i, s->n - i)) break;
        i++; /* a byte that can never be valid goes out as it is */
    }
    return emit(s, i, out, out_len);
}

int ld_detok_stream_flush(ld_detok_stream *s, const char **out, size_t *out_len) {
    return emit(s, s->n, out, out_len);
}
