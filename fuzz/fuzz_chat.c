/* Fuzz target: the chat format. The input is tried both as a completion to
 * parse (in both modes) and as a JSON message list to render; either may
 * fail, but only with an error message, never a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/chat.h"
#include "text/pyjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    for (int thinking = 0; thinking < 2; thinking++) {
        cJSON *m = ld_chat_parse_completion((const char *)data, size, thinking);
        if (m) {
            char *s = ld_pyjson_dumps(m, 0);
            free(s);
            cJSON_Delete(m);
        }
    }
    cJSON *msgs = ld_pyjson_parse((const char *)data, size);
    if (msgs) {
        for (int k = 0; k < 4; k++) {
            ld_chat_opts o = {k & 1, k >> 1, k == 3 ? "max" : NULL, 0};
            char *p = ld_chat_encode(msgs, &o);
            free(p);
        }
        char *d = ld_pyjson_dumps(msgs, size & 1);
        free(d);
        cJSON_Delete(msgs);
    }
    return 0;
}
