/* The server's request handling without a network or a model: the official
 * V4 encoding gold cases through POST /apply-template (the request carries
 * the same messages, tools and thinking mode), and the error replies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"
#include "testutil.h"

static cJSON *post(ld_srv *S, const char *url, const char *body, int *status) {
    ld_reply rp = {0};
    ld_api_handle(S, "POST", url, body, strlen(body), &rp);
    *status = rp.status;
    cJSON *j = rp.body ? cJSON_Parse(rp.body) : NULL;
    free(rp.body);
    return j;
}

static void gold_cases(ld_srv *S) {
    const char *dir = test_shared_dir();
    char path[4200];
    snprintf(path, sizeof path, "%s/encoding-dsv4/test_input_1.json", dir ? dir : "");
    FILE *f = dir ? fopen(path, "rb") : NULL;
    if (!f) {
        printf("skipped: the encoding gold cases (../shared/encoding-dsv4) are absent\n");
        return;
    }
    fclose(f);
    for (int i = 1; i <= 4; i++) {
        size_t ni, no;
        snprintf(path, sizeof path, "%s/encoding-dsv4/test_input_%d.json", dir, i);
        char *in = test_read_file(path, &ni);
        snprintf(path, sizeof path, "%s/encoding-dsv4/test_output_%d.txt", dir, i);
        char *gold = test_read_file(path, &no);
        cJSON *root = in ? cJSON_ParseWithLength(in, ni) : NULL;
        CHECK(root && gold, "case %d: cannot read the gold files", i);
        if (!root || !gold) { free(in); free(gold); cJSON_Delete(root); continue; }
        /* an OpenAI request: messages, tools at the top, thinking per case (4: chat) */
        cJSON *req = cJSON_CreateObject();
        cJSON *msgs = cJSON_IsObject(root) ? cJSON_DetachItemFromObject(root, "messages") : cJSON_Duplicate(root, 1);
        cJSON_AddItemToObject(req, "messages", msgs);
        if (cJSON_IsObject(root)) cJSON_AddItemToObject(req, "tools", cJSON_DetachItemFromObject(root, "tools"));
        cJSON *kw = cJSON_AddObjectToObject(req, "chat_template_kwargs");
        cJSON_AddBoolToObject(kw, "thinking", i != 4);
        char *body = cJSON_PrintUnformatted(req);
        int st;
        cJSON *rep = post(S, "/apply-template", body, &st);
        cJSON *p = cJSON_GetObjectItemCaseSensitive(rep, "prompt");
        CHECK(st == 200 && cJSON_IsString(p), "case %d: status %d", i, st);
        if (cJSON_IsString(p)) {
            int same = strlen(p->valuestring) == no && !memcmp(p->valuestring, gold, no);
            CHECK(same, "case %d: /apply-template differs from the gold output", i);
            if (same) printf("case %d: /apply-template byte-identical to the gold output (%zu bytes)\n", i, no);
        }
        cJSON_Delete(rep);
        free(body);
        cJSON_Delete(req);
        cJSON_Delete(root);
        free(in);
        free(gold);
    }
}

/* every malformed request is a 4xx with an OpenAI error object */
static void errors(ld_srv *S) {
    static const struct { const char *url, *body; int status; } cases[] = {
        {"/apply-template", "{", 400},
        {"/apply-template", "[1,2]", 400},
        {"/apply-template", "{\"messages\":[]}", 400},
        {"/apply-template", "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", 400},
        {"/apply-template", "{\"messages\":[{\"content\":\"x\"}]}", 400},
        {"/apply-template", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"reasoning_effort\":\"huge\"}", 400},
        {"/apply-template", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"chat_template_kwargs\":{\"thinking\":1}}", 400},
        {"/apply-template", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":{}}", 400},
        {"/apply-template", "{\"a\":\"\\u0000\"}", 400},
        {"/nowhere", "{}", 404},
        {"/tokenize", "{\"content\":\"x\"}", 400}, /* no tokenizer */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int st;
        cJSON *rep = post(S, cases[i].url, cases[i].body, &st);
        cJSON *e = cJSON_GetObjectItemCaseSensitive(rep, "error");
        CHECK(st == cases[i].status, "%s %s: status %d, want %d", cases[i].url, cases[i].body, st, cases[i].status);
        CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")) &&
                  cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "type")),
              "%s %s: no OpenAI error object", cases[i].url, cases[i].body);
        cJSON_Delete(rep);
    }
    /* a system message is put in front for tools when there is none */
    int st;
    cJSON *rep = post(S, "/apply-template",
                      "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{\"type\":\"function\","
                      "\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\"}}}]}",
                      &st);
    cJSON *p = cJSON_GetObjectItemCaseSensitive(rep, "prompt");
    CHECK(st == 200 && cJSON_IsString(p) && strstr(p->valuestring, "## Tools") &&
              strstr(p->valuestring, "<｜User｜>x<｜Assistant｜>"),
          "tools without a system message are not rendered");
    cJSON_Delete(rep);
}

int main(void) {
    ld_srv S = {.o = ld_server_opts_default()};
    ld_metrics_init(&S.m);
    gold_cases(&S);
    errors(&S);
    ld_metrics_free(&S.m);
    return test_summary("server");
}
