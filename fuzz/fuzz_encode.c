/* Fuzz target: encoding arbitrary bytes. Checks the invariants for every
 * input: decode(encode(x)) == x (also for invalid UTF-8, which passes through
 * as byte tokens) in both added-token modes, and the streaming detokenizer
 * releases exactly the one-shot decode. Uses LADDER_FUZZ_TOKENIZER (a
 * tokenizer.json path) when set, else the built-in tiny tokenizer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tokenizer.h"
#include "tiny_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ld_tokenizer *get_tok(void) {
    static ld_tokenizer *tok;
    if (tok) return tok;
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ld_tokenizer *tok = get_tok();
    for (int mode = 0; mode < 2; mode++) {
        ld_encode_opts o = {0, mode};
        int32_t *ids;
        size_t n;
        if (ld_tokenizer_encode(tok, (const char *)data, size, &o, &ids, &n)) abort();
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
