/* JSON with Python's json module semantics, on top of cJSON trees.
 *
 * The DeepSeek-V4 chat format embeds json.dumps() output (tool schemas,
 * tool-call arguments), so rendering it byte-exact needs Python's formatting:
 * ", " and ": " separators, insertion key order, ints printed as written,
 * floats as repr(), and ensure_ascii control. cJSON alone keeps numbers only
 * as doubles, so ld_pyjson_parse also records each number's source text. */
#ifndef LADDER_TEXT_PYJSON_H
#define LADDER_TEXT_PYJSON_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Parses like json.loads: the whole input must be one JSON value; a repeated
 * object key keeps its first position and its last value. Number nodes carry
 * their source lexeme in valuestring (freed by cJSON_Delete). NULL on error,
 * with the reason in ld_last_error(). */
cJSON *ld_pyjson_parse(const char *text, size_t len);

/* cJSON keeps strings NUL-terminated, so a NUL character (a raw NUL byte or
 * a \u0000 escape) would silently cut a string short. Returns -1 with a
 * message naming the byte offset if text holds one, else 0. */
int ld_json_reject_nul(const char *text, size_t len);

/* json.dumps(v, ensure_ascii=...) with default separators. malloc'd string,
 * NULL on error (out of memory, nesting deeper than 1000). */
char *ld_pyjson_dumps(const cJSON *v, int ensure_ascii);

/* Appends json.dumps of a plain string (the str case of dumps). */
typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} ld_strbuf;
void ld_sb_put(ld_strbuf *b, const char *s, size_t n);
void ld_sb_puts(ld_strbuf *b, const char *s);
void ld_pyjson_dump_string(ld_strbuf *b, const char *s, size_t n, int ensure_ascii);
int ld_pyjson_dump_into(ld_strbuf *b, const cJSON *v, int ensure_ascii);

#endif
