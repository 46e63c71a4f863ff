/* Helpers shared by chat_prep.c, chat_encode.c and chat_parse.c (internal).
 * They reproduce the Python behaviours the official encoder relies on. */
#ifndef LADDER_TEXT_CHAT_INTERNAL_H
#define LADDER_TEXT_CHAT_INTERNAL_H

#include <cjson/cJSON.h>

/* dict.get(key): NULL when absent. */
static inline const cJSON *py_get(const cJSON *obj, const char *key) {
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

/* Python truthiness of a JSON value (absent counts as None). */
static inline int py_truthy(const cJSON *v) {
    if (!v || cJSON_IsNull(v) || cJSON_IsFalse(v)) return 0;
    if (cJSON_IsTrue(v)) return 1;
    if (cJSON_IsNumber(v)) return v->valuedouble != 0;
    if (cJSON_IsString(v)) return v->valuestring[0] != 0;
    return v->child != NULL;
}

/* `x is not None` for dict.get results. */
static inline int py_not_none(const cJSON *v) { return v && !cJSON_IsNull(v); }

/* 1 when msg["role"] is the string r. */
int ld_chat_role_is(const cJSON *msg, const char *r);

/* Preprocessing (chat_prep.c). Returns a new array (caller deletes) with tool
 * messages merged into user turns as content_blocks, and tool results sorted
 * by the preceding assistant's tool_calls order. */
cJSON *ld_chat_merge_tools(const cJSON *messages);

#endif
