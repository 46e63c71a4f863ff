/* DeepSeek-V4 chat encoding against the official gold cases (found through
 * LADDER_SHARED/encoding-dsv4; skipped with exit 77 when absent), plus the
 * completion-parsing checks the official test makes on those prompts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/chat.h"
#include "text/pyjson.h"

static int failures;
#define CHECK(c, ...) do { if (!(c)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) { free(b); b = NULL; }
    fclose(f);
    if (b) { b[sz] = 0; *n = (size_t)sz; }
    return b;
}

static cJSON *parse_between(const char *p, const char *start_after, int last, const char *end, int thinking) {
    const char *s = NULL, *q = p;
    while ((q = strstr(q, start_after))) { s = q; if (!last) break; q++; }
    if (!s) return NULL;
    s += strlen(start_after);
    const char *e = end ? strstr(s, end) : NULL;
    size_t n = e ? (size_t)(e - s) : strlen(s);
    cJSON *m = ld_chat_parse_completion(s, n, thinking);
    if (!m) fprintf(stderr, "parse error: %s\n", ld_last_error());
    return m;
}

static const char *str_of(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "(missing)";
}

static void parse_checks(int i, const char *prompt) {
    const char *marker = "<｜Assistant｜><think>";
    if (i == 1) {
        cJSON *tc = parse_between(prompt, marker, 0, "<｜User｜>", 1);
        CHECK(tc, "case 1: first assistant turn must parse");
        if (tc) {
            CHECK(!strcmp(str_of(tc, "reasoning_content"), "The user wants to know the weather in Beijing. I should use the get_weather tool."), "case 1 reasoning");
            CHECK(!strcmp(str_of(tc, "content"), ""), "case 1 content");
            cJSON *calls = cJSON_GetObjectItem(tc, "tool_calls");
            CHECK(cJSON_GetArraySize(calls) == 1, "case 1: one tool call");
            cJSON *fn = cJSON_GetObjectItem(cJSON_GetArrayItem(calls, 0), "function");
            CHECK(!strcmp(str_of(fn, "name"), "get_weather"), "case 1 tool name");
            const char *a = str_of(fn, "arguments");
            cJSON *args = ld_pyjson_parse(a, strlen(a));
            CHECK(args && cJSON_GetArraySize(args) == 2 && !strcmp(str_of(args, "location"), "Beijing") &&
                  !strcmp(str_of(args, "unit"), "celsius"), "case 1 arguments: %s", a);
            cJSON_Delete(args);
            cJSON_Delete(tc);
        }
        cJSON *fin = parse_between(prompt, marker, 1, NULL, 1);
        CHECK(fin, "case 1: final assistant turn must parse");
        if (fin) {
            CHECK(!strcmp(str_of(fin, "reasoning_content"), "Got the weather data. Let me format a nice response."), "case 1 final reasoning");
            CHECK(strstr(str_of(fin, "content"), "22°C") != NULL, "case 1 final content");
            CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(fin, "tool_calls")) == 0, "case 1 final: no tool calls");
            cJSON_Delete(fin);
        }
    } else if (i == 2) {
        cJSON *m = parse_between(prompt, marker, 1, NULL, 1);
        CHECK(m, "case 2: last assistant turn must parse");
        if (m) {
            CHECK(!strcmp(str_of(m, "reasoning_content"), "The user asks about the capital of France. It is Paris."), "case 2 reasoning");
            CHECK(!strcmp(str_of(m, "content"), "The capital of France is Paris."), "case 2 content");
            CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(m, "tool_calls")) == 0, "case 2: no tool calls");
            cJSON_Delete(m);
        }
        CHECK(!strstr(prompt, "The user said hello"), "case 2: earlier reasoning must be dropped");
    }
}

int main(void) {
    const char *shared = getenv("LADDER_SHARED");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/encoding-dsv4", shared ? shared : "");
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/test_input_1.json", dir);
    FILE *pf = shared ? fopen(probe, "rb") : NULL;
    if (!pf) {
        printf("SKIP: gold cases not found (set LADDER_SHARED to the folder holding encoding-dsv4/)\n");
        return 77;
    }
    fclose(pf);
    for (int i = 1; i <= 4; i++) {
        char in[4200], out[4200];
        snprintf(in, sizeof in, "%s/test_input_%d.json", dir, i);
        snprintf(out, sizeof out, "%s/test_output_%d.txt", dir, i);
        size_t ni, no;
        char *ji = slurp(in, &ni), *gold = slurp(out, &no);
        CHECK(ji && gold, "case %d: cannot read gold files", i);
        if (!ji || !gold) { free(ji); free(gold); continue; }
        cJSON *root = ld_pyjson_parse(ji, ni);
        CHECK(root, "case %d: input JSON: %s", i, ld_last_error());
        cJSON *msgs = root;
        if (cJSON_IsObject(root)) { /* {"tools", "messages"}: tools go on messages[0] */
            msgs = cJSON_GetObjectItem(root, "messages");
            cJSON_AddItemToObject(msgs->child, "tools", cJSON_Duplicate(cJSON_GetObjectItem(root, "tools"), 1));
        }
        ld_chat_opts o = {i != 4, 0, NULL, 0};
        char *p = ld_chat_encode(msgs, &o);
        CHECK(p, "case %d: encode failed: %s", i, p ? "" : ld_last_error());
        if (p) {
            int same = strlen(p) == no && !memcmp(p, gold, no);
            CHECK(same, "case %d: prompt differs from the gold output", i);
            if (same) printf("case %d: byte-identical (%zu bytes)\n", i, no);
            parse_checks(i, p);
        }
        free(p);
        cJSON_Delete(root);
        free(ji);
        free(gold);
    }
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
