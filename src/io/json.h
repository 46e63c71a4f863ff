/* Parsing of the small JSON files next to the weights, with errors that
 * locate the problem. */
#ifndef LADDER_IO_JSON_H
#define LADDER_IO_JSON_H

#include <cjson/cJSON.h>

/* Parses a NUL-terminated text that must be one JSON object (trailing
 * whitespace allowed). On failure returns NULL with the error set to
 * "ORIGIN is not valid JSON (error near byte N)" or "ORIGIN: not a JSON
 * object"; the caller cJSON_Delete()s the result. */
cJSON *ld_json_parse_object(const char *text, const char *origin);

#endif
