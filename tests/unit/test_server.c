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

/* The assistant turns of a gold prompt, each as a completion (the text after
 * "<｜Assistant｜>" and its "<think>" or "</think>", through the end-of-sequence
 * token), in order; returns how many. */
static int completions_of(const char *prompt, char **out, int *thinking, int max) {
    int n = 0;
    const char *p = prompt;
    while (n < max && (p = strstr(p, "<｜Assistant｜>"))) {
        p += strlen("<｜Assistant｜>");
        int th = !strncmp(p, "<think>", 7);
        if (th) p += 7;
        else if (!strncmp(p, "</think>", 8)) p += 8;
        const char *e = strstr(p, "<｜end▁of▁sentence｜>");
        if (!e) break; /* the open turn at the end */
        e += strlen("<｜end▁of▁sentence｜>");
        out[n] = strndup(p, (size_t)(e - p));
        thinking[n++] = th;
        p = e;
    }
    return n;
}

/* Folds a stream's events into {reasoning_content, content, tool_calls}. */
static cJSON *fold_stream(const char *ev, int *deltas, int *bad_order) {
    ld_strbuf r = {0}, c = {0};
    cJSON *calls = cJSON_CreateArray();
    int done = 0;
    for (const char *p = ev; (p = strstr(p, "data: ")); p += 6) {
        if (!strncmp(p + 6, "[DONE]", 6)) { done = 1; break; }
        const char *e = strstr(p, "\n\n");
        cJSON *j = cJSON_ParseWithLength(p + 6, e ? (size_t)(e - p - 6) : strlen(p + 6));
        cJSON *d = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "delta");
        cJSON *x;
        if ((x = cJSON_GetObjectItem(d, "reasoning_content")) && cJSON_IsString(x)) ld_sb_puts(&r, x->valuestring);
        if ((x = cJSON_GetObjectItem(d, "content")) && cJSON_IsString(x)) ld_sb_puts(&c, x->valuestring);
        /* OpenAI's accumulation: a call's first delta (by index) brings its
           id, type and name; every delta appends to its arguments */
        if ((x = cJSON_GetObjectItem(d, "tool_calls")))
            for (cJSON *t = x->child; t; t = t->next) {
                int idx = cJSON_GetObjectItem(t, "index") ? cJSON_GetObjectItem(t, "index")->valueint : -1;
                cJSON *fn = cJSON_GetObjectItem(t, "function"), *have = NULL;
                for (cJSON *c = calls->child; c; c = c->next)
                    if (cJSON_GetObjectItem(c, "index")->valueint == idx) have = c;
                if (!have) {
                    if (idx != cJSON_GetArraySize(calls)) *bad_order = 1;
                    have = cJSON_Duplicate(t, 1);
                    cJSON_AddItemToArray(calls, have);
                    continue;
                }
                (*deltas)++;
                cJSON *hf = cJSON_GetObjectItem(have, "function"), *a = cJSON_GetObjectItem(fn, "arguments");
                const char *old = cJSON_GetObjectItem(hf, "arguments")->valuestring;
                ld_strbuf cat = {0};
                ld_sb_puts(&cat, old);
                if (cJSON_IsString(a)) ld_sb_puts(&cat, a->valuestring);
                ld_sb_put(&cat, "", 1);
                cJSON_ReplaceItemInObject(hf, "arguments", cJSON_CreateString(cat.p));
                free(cat.p);
            }
        cJSON_Delete(j);
    }
    ld_sb_put(&r, "", 1);
    ld_sb_put(&c, "", 1);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "reasoning_content", r.p);
    cJSON_AddStringToObject(m, "content", c.p);
    cJSON_AddItemToObject(m, "tool_calls", calls);
    cJSON_AddBoolToObject(m, "done", done);
    free(r.p);
    free(c.p);
    return m;
}

static const char *str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Tool calls equal by name and by parsed arguments. */
static int same_calls(const cJSON *a, const cJSON *b) {
    if (cJSON_GetArraySize(a) != cJSON_GetArraySize(b)) return 0;
    for (int i = 0; i < cJSON_GetArraySize(a); i++) {
        const cJSON *fa = cJSON_GetObjectItem(cJSON_GetArrayItem(a, i), "function");
        const cJSON *fb = cJSON_GetObjectItem(cJSON_GetArrayItem(b, i), "function");
        cJSON *ja = cJSON_Parse(str(fa, "arguments")), *jb = cJSON_Parse(str(fb, "arguments"));
        int eq = !strcmp(str(fa, "name"), str(fb, "name")) && ja && jb && cJSON_Compare(ja, jb, 1);
        cJSON_Delete(ja);
        cJSON_Delete(jb);
        if (!eq) return 0;
    }
    return 1;
}

/* The official completions (the assistant turns of the gold prompts) through
 * the chat endpoint, whole and streamed: the tool calls of the gold inputs
 * come back, and the stream carries the same message. */
static void gold_completions(ld_srv *S) {
    const char *dir = test_shared_dir();
    char path[4200];
    int checked = 0, with_calls = 0;
    for (int i = 1; dir && i <= 4; i++) {
        size_t ni, no;
        snprintf(path, sizeof path, "%s/encoding-dsv4/test_input_%d.json", dir, i);
        char *in = test_read_file(path, &ni);
        snprintf(path, sizeof path, "%s/encoding-dsv4/test_output_%d.txt", dir, i);
        char *gold = test_read_file(path, &no);
        cJSON *root = in ? cJSON_ParseWithLength(in, ni) : NULL;
        if (!root || !gold) { free(in); free(gold); cJSON_Delete(root); continue; }
        cJSON *msgs = cJSON_IsObject(root) ? cJSON_GetObjectItem(root, "messages") : root;
        char *comp[16];
        int th[16], n = completions_of(gold, comp, th, 16), k = 0;
        cJSON *m = msgs->child;
        for (int c = 0; c < n; c++) {
            while (m && strcmp(str(m, "role"), "assistant")) m = m->next; /* the input turn it came from */
            ld_strbuf whole = {0}, ev = {0};
            CHECK(!ld_chat_replay(S, comp[c], th[c], 0, &whole) && !ld_chat_replay(S, comp[c], th[c], 1, &ev),
                  "case %d turn %d: replay failed", i, c);
            ld_sb_put(&whole, "", 1);
            ld_sb_put(&ev, "", 1);
            int deltas = 0, bad_order = 0;
            cJSON *msg = cJSON_Parse(whole.p), *fold = fold_stream(ev.p, &deltas, &bad_order);
            cJSON *tc = cJSON_GetObjectItem(msg, "tool_calls"), *want = m ? cJSON_GetObjectItem(m, "tool_calls") : NULL;
            CHECK(msg && cJSON_IsTrue(cJSON_GetObjectItem(fold, "done")), "case %d turn %d: no message or no [DONE]", i, c);
            if (want && cJSON_GetArraySize(want)) {
                CHECK(tc && same_calls(tc, want), "case %d turn %d: tool_calls differ from the gold input's", i, c);
                with_calls++;
            }
            CHECK(same_calls(cJSON_GetObjectItem(fold, "tool_calls"), tc),
                  "case %d turn %d: streamed tool_calls differ from the whole reply's", i, c);
            /* each call streamed as a head (id, type, name) and its arguments,
               in index order; ids and argument text as in the whole reply */
            CHECK(!bad_order && deltas == cJSON_GetArraySize(tc), "case %d turn %d: %d argument deltas for %d calls%s", i,
                  c, deltas, cJSON_GetArraySize(tc), bad_order ? ", out of order" : "");
            for (int q = 0; q < cJSON_GetArraySize(tc); q++) {
                const cJSON *a = cJSON_GetArrayItem(tc, q), *b = cJSON_GetArrayItem(cJSON_GetObjectItem(fold, "tool_calls"), q);
                CHECK(str(a, "id")[0] && !strcmp(str(a, "id"), str(b, "id")), "case %d turn %d call %d: ids '%s' / '%s'", i, c,
                      q, str(a, "id"), str(b, "id"));
                CHECK(!strcmp(str(cJSON_GetObjectItem(a, "function"), "arguments"),
                              str(cJSON_GetObjectItem(b, "function"), "arguments")),
                      "case %d turn %d call %d: streamed arguments text differs", i, c, q);
            }
            CHECK(!strcmp(str(fold, "content"), str(msg, "content")), "case %d turn %d: streamed content differs", i, c);
            CHECK(!strcmp(str(fold, "reasoning_content"), str(msg, "reasoning_content")),
                  "case %d turn %d: streamed reasoning differs", i, c);
            cJSON_Delete(msg);
            cJSON_Delete(fold);
            free(whole.p);
            free(ev.p);
            free(comp[c]);
            if (m) m = m->next;
            k++;
            checked++;
        }
        (void)k;
        cJSON_Delete(root);
        free(in);
        free(gold);
    }
    if (dir) {
        CHECK(checked >= 4 && with_calls >= 1, "only %d gold completions (%d with tool calls)", checked, with_calls);
        printf("%d gold completions (%d with tool calls): whole and streamed replies agree with the gold inputs\n",
               checked, with_calls);
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
    /* the synthetic tokenizer (every byte a token, the V4 markers special)
       carries the gold completions' text exactly */
    ladder_info info = {.vocab_size = 1024, .bos_id = 0, .eos_id = 1};
    char *tj = ld_tokenizer_synth_json(1024, 0, 1);
    S.tok = tj ? ld_tokenizer_load_json(tj, strlen(tj)) : NULL;
    free(tj);
    S.info = &info;
    CHECK(S.tok, "synthetic tokenizer: %s", ladder_last_error());
    if (S.tok) gold_completions(&S);
    ld_tokenizer_free(S.tok);
    ld_metrics_free(&S.m);
    return test_summary("server");
}
