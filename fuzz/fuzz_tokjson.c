/* Fuzz target: tokenizer.json loading. Any input must either load or fail
 * with an error message; a loaded tokenizer must encode and round-trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ld_tokenizer *tok = ld_tokenizer_load_json((const char *)data, size);
    if (!tok) {
        if (!ld_last_error()[0]) abort(); /* a failure must say why */
        return 0;
    }
    static const char text[] = "Hello, world! 123 中文 <think> \xF0\x9F\x98\x80\xFF";
    int32_t *ids;
    size_t n;
    if (ld_tokenizer_encode(tok, text, sizeof text - 1, NULL, &ids, &n) == 0) {
        char *out;
        size_t on;
        if (ld_tokenizer_decode(tok, ids, n, &out, &on) == 0) free(out);
        free(ids);
    }
    ld_tokenizer_free(tok);
    return 0;
}
