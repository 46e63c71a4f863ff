/* Fuzz target: one request to the server's router, without a network or a
 * model. Byte 0 picks the route (bit 7: GET), the rest is the body. The
 * server state has the synthetic tokenizer and a model description but no
 * scheduler, so every check, rendering and tokenization runs and generation
 * is refused (503). Any reply must be a status in [200, 599] with a JSON
 * body; a crash, a sanitizer report or a leak is a finding. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_request.h"
#include "server/server_internal.h"

static ld_srv *server(void) {
    static ld_srv S;
    static ladder_info info;
    static int ready;
    if (!ready) {
        info = (ladder_info){.vocab_size = 1024, .bos_id = 0, .eos_id = 1, .window = 128,
                             .max_position_embeddings = 4096, .temperature = 1, .top_p = 1};
        char *j = ld_tokenizer_synth_json(1024, 0, 1);
        S.tok = j ? ld_tokenizer_load_json(j, strlen(j)) : NULL;
        free(j);
        if (!S.tok) abort();
        S.info = &info;
        S.o = ld_server_opts_default();
        S.o.context = 4096;
        ld_metrics_init(&S.m);
        ready = 1;
    }
    return &S;
}

int ld_fuzz_request(const uint8_t *data, size_t size) {
    static const char *const urls[] = {"/v1/chat/completions", "/v1/completions", "/tokenize", "/detokenize",
                                       "/apply-template",      "/health",         "/v1/models", "/metrics"};
    if (!size) return 0;
    ld_reply rp = {0};
    ld_api_handle(server(), data[0] & 0x80 ? "GET" : "POST", urls[data[0] % 8], (const char *)data + 1, size - 1, &rp);
    if (rp.status < 200 || rp.status > 599 || rp.stream) abort();
    if (rp.type && !strcmp(rp.type, "application/json")) {
        cJSON *j = rp.body ? cJSON_Parse(rp.body) : NULL;
        if (!j) abort();
        cJSON_Delete(j);
    }
    free(rp.body);
    return 0;
}

#ifdef LADDER_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return ld_fuzz_request(data, size); }
#endif
