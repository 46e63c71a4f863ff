/* Fuzz target: encoding arbitrary bytes. Checks the invariants for every
 * input: decode(encode(x)) == x (also for invalid UTF-8, which passes through
 * as byte tokens) in both added-token modes, and the streaming detokenizer
 * releases exactly the one-shot decode. Also checks that the patched
 * (Unicode-exact) pre-tokenizer regexes, forced on every text, give the
 * ids of the normal choice: the original regexes are only used on text
 * without the code points patched classes treat differently. Uses
 * LADDER_FUZZ_TOKENIZER (a tokenizer.json path) when set, else the built-in
 * tiny tokenizer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tok_internal.h"
#include "text/tokenizer.h"
#include "text/unicode_compat.h"
#include "tiny_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ld_tokenizer *load(void) {
    ld_tokenizer *tok;
    const char *path = getenv("LADDER_FUZZ_TOKENIZER");
    if (path && *path) {
        tok = ld_tokenizer_load(path);
    } else {
        char *j = tiny_tokenizer_json();
        tok = j ? ld_tokenizer_load_json(j, strlen(j)) : NULL;
        free(j);
    }
    if (!tok) {
        fprintf(stderr, "fuzz_encode: cannot load tokenizer: %s\n", ld_last_error());
        abort();
    }
    return tok;
}

static ld_tokenizer *get_tok(ld_tokenizer **exact) {
    static ld_tokenizer *tok, *ex;
    if (!tok) {
        tok = load();
        ex = load();
        if (ex->ucd_patched) memset(ex->ucd_touched, 0xFF, LD_UCD_BITMAP_BYTES);
    }
    *exact = ex;
    return tok;
}

static void same_as_exact(ld_tokenizer *ex, const uint8_t *data, size_t size, const int32_t *ids, size_t n) {
    ld_encode_opts o = {0, 0};
    int32_t *ids2;
    size_t n2;
    if (ld_tokenizer_encode(ex, (const char *)data, size, &o, &ids2, &n2)) abort();
    if (n2 != n || (n && memcmp(ids, ids2, n * sizeof *ids))) abort();
    free(ids2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ld_tokenizer *ex;
    ld_tokenizer *tok = get_tok(&ex);
    for (int mode = 0; mode < 2; mode++) {
        ld_encode_opts o = {0, mode};
        int32_t *ids;
        size_t n;
        if (ld_tokenizer_encode(tok, (const char *)data, size, &o, &ids, &n)) abort();
        if (mode == 0) same_as_exact(ex, data, size, ids, n);
        char *out;
        size_t on;
        if (ld_tokenizer_decode(tok, ids, n, &out, &on) || on != size || memcmp(out, data, size)) abort();
        ld_detok_stream *s = ld_detok_stream_new(tok);
        size_t got = 0;
        const char *chunk;
        size_t cl;
        for (size_t i = 0; i < n; i++) {
            if (ld_detok_stream_push(s, ids[i], &chunk, &cl) || got + cl > on || memcmp(out + got, chunk, cl)) abort();
            got += cl;
        }
        if (ld_detok_stream_flush(s, &chunk, &cl) || got + cl != on || memcmp(out + got, chunk, cl)) abort();
        ld_detok_stream_free(s);
        free(out);
        free(ids);
    }
    return 0;
}
