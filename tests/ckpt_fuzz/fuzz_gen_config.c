/* Fuzz target: arbitrary bytes as generation_config.json text.
 *
 * An accepted file must leave sampling defaults the sampler accepts (the
 * load happens long before the first token is sampled); a rejected one must
 * leave a diagnosis without a line break of its own. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "fuzz_entry.h"
#include "model/config.h"

int ld_fuzz_gen_config(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    ld_gen_defaults g = {.temperature = 1, .top_p = 1, .top_k = 0, .min_p = 0, .do_sample = 1};
    if (ld_gen_config_parse(text, "fuzz/generation_config.json", &g) == 0) {
        if (!(g.temperature >= 0) || !isfinite(g.temperature) || !(g.top_p > 0 && g.top_p <= 1) || g.top_k < 0 ||
            !(g.min_p >= 0 && g.min_p <= 1) || (g.do_sample != 0 && g.do_sample != 1))
            abort();
    } else {
        const char *msg = ld_last_error();
        if (!msg || !msg[0] || (strchr(msg, '\n') && !memchr(data, '\n', size))) abort();
    }
    free(text);
    return 0;
}

#ifdef LADDER_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return ld_fuzz_gen_config(data, size); }
#endif
