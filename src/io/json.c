#include "io/json.h"

#include <string.h>

#include "core/error.h"

cJSON *ld_json_parse_object(const char *text, const char *origin) {
    const char *end = NULL;
    /* require the NUL terminator so that text after the object is not silently dropped */
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        size_t len = strlen(text);
        size_t off = ep && ep >= text && ep <= text + len ? (size_t)(ep - text) : 0;
        ld_set_error("%s is not valid JSON (error near byte %zu)", origin, off);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        ld_set_error("%s: not a JSON object", origin);
        return NULL;
    }
    return root;
}
