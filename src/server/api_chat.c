/* POST /v1/chat/completions and /apply-template: OpenAI messages rendered
 * with the V4 chat encoding, the completion split back into reasoning,
 * content and tool calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server_internal.h"
#include "core/error.h"
#include "text/chat.h"

#define DSML_OPEN "\n\n<" LD_DSV4_DSML "tool_calls" /* where a tool-call block starts (chat_parse.c) */
#define DSML_INVOKE_END "</" LD_DSV4_DSML "invoke>"      /* where one call ends */

/* Thinking mode and effort from reasoning_effort (OpenAI and DeepSeek
 * values) and chat_template_kwargs.thinking (vLLM, SGLang). */
static int chat_mode(cJSON *req, ld_chat_opts *o, ld_reply *rp) {
    cJSON *eff = cJSON_GetObjectItemCaseSensitive(req, "reasoning_effort");
    cJSON *kw = cJSON_GetObjectItemCaseSensitive(req, "chat_template_kwargs");
    if (eff && !cJSON_IsNull(eff)) {
        const char *e = cJSON_IsString(eff) ? eff->valuestring : "";
        if (!strcmp(e, "none") || !strcmp(e, "minimal")) o->thinking = 0;
        else if (!strcmp(e, "low") || !strcmp(e, "medium")) o->thinking = 1;
        else if (!strcmp(e, "high") || !strcmp(e, "max")) o->thinking = 1, o->reasoning_effort = e;
        else {
            ld_reply_error(rp, 400, "invalid_request_error",
                           "'reasoning_effort' must be one of none, minimal, low, medium, high, max");
            return -1;
        }
    }
    if (kw && !cJSON_IsNull(kw)) {
        if (!cJSON_IsObject(kw)) {
            ld_reply_error(rp, 400, "invalid_request_error", "'chat_template_kwargs' must be an object");
            return -1;
        }
        const char *keys[] = {"thinking", "enable_thinking"};
        for (int i = 0; i < 2; i++) {
            cJSON *t = cJSON_GetObjectItemCaseSensitive(kw, keys[i]);
            if (!t || cJSON_IsNull(t)) continue;
            if (!cJSON_IsBool(t)) {
                ld_reply_error(rp, 400, "invalid_request_error", "'chat_template_kwargs.%s' must be a boolean", keys[i]);
                return -1;
            }
            o->thinking = cJSON_IsTrue(t);
        }
    }
    return 0;
}

/* The messages with the request's tools and response_format placed on the
 * leading system (or developer) message, where the V4 format renders them;
 * an empty system message is put in front when there is none. */
static cJSON *messages_of(cJSON *req, ld_reply *rp) {
    cJSON *msgs = cJSON_GetObjectItemCaseSensitive(req, "messages");
    if (!cJSON_IsArray(msgs) || !cJSON_GetArraySize(msgs)) {
        ld_reply_error(rp, 400, "invalid_request_error", "'messages' must be a non-empty array");
        return NULL;
    }
    for (cJSON *m = msgs->child; m; m = m->next)
        if (!cJSON_IsObject(m) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m, "role"))) {
            ld_reply_error(rp, 400, "invalid_request_error", "every message must be an object with a string 'role'");
            return NULL;
        }
    cJSON *out = cJSON_Duplicate(msgs, 1);
    cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools"), *rf = cJSON_GetObjectItemCaseSensitive(req, "response_format");
    cJSON *tc = cJSON_GetObjectItemCaseSensitive(req, "tool_choice");
    if (tc && cJSON_IsString(tc) && !strcmp(tc->valuestring, "none")) tools = NULL;
    if (rf && cJSON_IsObject(rf)) {
        cJSON *ty = cJSON_GetObjectItemCaseSensitive(rf, "type");
        if (cJSON_IsString(ty) && !strcmp(ty->valuestring, "text")) rf = NULL;
    }
    int want_tools = tools && cJSON_IsArray(tools) && cJSON_GetArraySize(tools), want_rf = rf && !cJSON_IsNull(rf);
    if (tools && !cJSON_IsNull(tools) && !cJSON_IsArray(tools)) {
        cJSON_Delete(out);
        ld_reply_error(rp, 400, "invalid_request_error", "'tools' must be an array");
        return NULL;
    }
    if (!want_tools && !want_rf) return out;
    cJSON *first = out->child, *role = cJSON_GetObjectItemCaseSensitive(first, "role");
    if (strcmp(role->valuestring, "system") && strcmp(role->valuestring, "developer")) {
        cJSON *sys = cJSON_CreateObject();
        cJSON_AddStringToObject(sys, "role", "system");
        cJSON_AddStringToObject(sys, "content", "");
        cJSON_InsertItemInArray(out, 0, sys);
        first = sys;
    }
    if (want_tools) {
        cJSON_DeleteItemFromObjectCaseSensitive(first, "tools");
        cJSON_AddItemToObject(first, "tools", cJSON_Duplicate(tools, 1));
    }
    if (want_rf) {
        cJSON_DeleteItemFromObjectCaseSensitive(first, "response_format");
        cJSON_AddItemToObject(first, "response_format", cJSON_Duplicate(rf, 1));
    }
    return out;
}

typedef struct {
    ld_stream base;
    ld_gen g;
    char id[64];
    int thinking, include_usage, sent_role, sent_final;
    size_t routed;  /* bytes of text routed to reasoning or content */
    int in_content; /* past "</think>" (always, in chat mode) */
    int in_tools;   /* a DSML block began: the rest becomes tool_calls */
    size_t tools_at;    /* where it began */
    size_t invoke_seen; /* text scanned for the end of a call */
    int calls_sent;     /* tool calls streamed so far */
} chat_stream;

static cJSON *chunk(chat_stream *s, cJSON *delta, const char *finish) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", s->id);
    cJSON_AddStringToObject(j, "object", "chat.completion.chunk");
    cJSON_AddNumberToObject(j, "created", (double)time(NULL));
    cJSON_AddStringToObject(j, "model", s->g.srv->o.model_name);
    cJSON *ch = cJSON_AddArrayToObject(j, "choices"), *c = cJSON_CreateObject();
    cJSON_AddItemToArray(ch, c);
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON_AddItemToObject(c, "delta", delta ? delta : cJSON_CreateObject());
    /* the tokens consumed since the last chunk: with the text they made, or
       ahead of it where the text is held back (a partial marker) */
    cJSON_AddItemToObject(c, "logprobs", ld_gen_logprobs_pending(&s->g, 1));
    if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
    else cJSON_AddNullToObject(c, "finish_reason");
    if (s->g.usage_every_chunk) ld_usage_into(j, &s->g);
    return j;
}

static void text_delta(chat_stream *s, ld_strbuf *b, const char *key, size_t from, size_t to) {
    if (to <= from) return;
    char *t = strndup(s->g.text.p + from, to - from);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, key, t ? t : "");
    free(t);
    ld_sse(b, chunk(s, d, NULL));
}

static long find(const ld_strbuf *t, size_t from, const char *pat) {
    size_t l = strlen(pat);
    for (size_t p = from; p + l <= t->n; p++)
        if (!memcmp(t->p + p, pat, l)) return (long)p;
    return -1;
}

/* Routes text[routed, emitted) to reasoning, content or the tool block. */
static void route(chat_stream *s, ld_strbuf *b) {
    ld_gen *g = &s->g;
    while (s->routed < g->emitted && !s->in_tools) {
        if (!s->in_content) {
            long p = find(&g->text, s->routed, LD_DSV4_THINK_END);
            size_t end = p >= 0 && (size_t)p < g->emitted ? (size_t)p : g->emitted;
            text_delta(s, b, "reasoning_content", s->routed, end);
            s->routed = end;
            if (p >= 0 && (size_t)p + strlen(LD_DSV4_THINK_END) <= g->emitted) {
                s->routed = (size_t)p + strlen(LD_DSV4_THINK_END);
                s->in_content = 1;
                continue;
            }
            break;
        }
        long p = find(&g->text, s->routed, DSML_OPEN);
        size_t end = p >= 0 && (size_t)p < g->emitted ? (size_t)p : g->emitted;
        text_delta(s, b, "content", s->routed, end);
        s->routed = end;
        if (p >= 0 && (size_t)p < g->emitted) {
            s->in_tools = 1;
            s->tools_at = s->invoke_seen = (size_t)p;
        }
        break;
    }
}

/* "call_" and the completion's id with the call's index: the same in the
 * stream and the whole reply, unique per response. */
static void name_call(const chat_stream *s, cJSON *call, int i) {
    const char *dash = strchr(s->id, '-');
    char id[96];
    snprintf(id, sizeof id, "call_%s_%d", dash ? dash + 1 : s->id, i);
    cJSON_DeleteItemFromObjectCaseSensitive(call, "id");
    cJSON_AddStringToObject(call, "id", id);
}

/* Tool calls s->calls_sent.. of calls, each as OpenAI streams one: its id,
 * type and name with empty arguments, then the arguments. */
static void send_calls(chat_stream *s, ld_strbuf *b, const cJSON *calls) {
    int n = cJSON_GetArraySize(calls);
    for (int i = s->calls_sent; i < n; i++) {
        const cJSON *c = cJSON_GetArrayItem(calls, i), *fn = cJSON_GetObjectItemCaseSensitive(c, "function");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name"), *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments");
        for (int part = 0; part < 2; part++) {
            cJSON *d = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(d, "tool_calls"), *x = cJSON_CreateObject();
            cJSON_AddItemToArray(arr, x);
            cJSON_AddNumberToObject(x, "index", i);
            cJSON *f = cJSON_CreateObject();
            if (!part) {
                name_call(s, x, i);
                cJSON_AddStringToObject(x, "type", "function");
                cJSON_AddStringToObject(f, "name", cJSON_IsString(name) ? name->valuestring : "");
            }
            cJSON_AddStringToObject(f, "arguments", part && cJSON_IsString(args) ? args->valuestring : "");
            cJSON_AddItemToObject(x, "function", f);
            ld_sse(b, chunk(s, d, NULL));
        }
    }
    if (n > s->calls_sent) s->calls_sent = n;
}

/* Streams each tool call once its invoke element is complete: the block up
 * to there, closed as the format closes it, goes through the official
 * parser alone. */
static void stream_calls(chat_stream *s, ld_strbuf *b) {
    ld_gen *g = &s->g;
    long p, last = -1;
    for (size_t from = s->invoke_seen; (p = find(&g->text, from, DSML_INVOKE_END)) >= 0 &&
                                       (size_t)p + strlen(DSML_INVOKE_END) <= g->emitted;
         from = (size_t)p + 1)
        last = p;
    if (last < 0) return;
    s->invoke_seen = (size_t)last + strlen(DSML_INVOKE_END);
    ld_strbuf t = {0};
    ld_sb_put(&t, g->text.p + s->tools_at, s->invoke_seen - s->tools_at);
    ld_sb_puts(&t, "\n</" LD_DSV4_DSML "tool_calls>" LD_DSV4_EOS);
    cJSON *m = t.oom ? NULL : ld_chat_parse_completion(t.p, t.n, 0);
    free(t.p);
    send_calls(s, b, cJSON_GetObjectItemCaseSensitive(m, "tool_calls"));
    cJSON_Delete(m);
}

/* The finished completion as a message: the official parser when it ended
 * on the end-of-sequence token; else reasoning/content split by hand. */
static cJSON *final_message(chat_stream *s) {
    ld_gen *g = &s->g;
    if (g->eos) {
        ld_strbuf t = {0}; /* the text after "<｜Assistant｜><think>", as the parser takes it */
        ld_sb_put(&t, g->text.p ? g->text.p : "", g->text.n);
        ld_sb_puts(&t, LD_DSV4_EOS);
        cJSON *m = t.oom ? NULL : ld_chat_parse_completion(t.p, t.n, s->thinking);
        free(t.p);
        int i = 0;
        for (cJSON *c = m ? cJSON_GetObjectItemCaseSensitive(m, "tool_calls")->child : NULL; c; c = c->next)
            name_call(s, c, i++);
        if (m) return m;
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "assistant");
    long p = s->thinking ? find(&g->text, 0, LD_DSV4_THINK_END) : 0;
    size_t cstart = 0;
    if (s->thinking) {
        size_t rend = p >= 0 ? (size_t)p : g->text.n;
        char *r = strndup(g->text.p ? g->text.p : "", rend);
        cJSON_AddStringToObject(m, "reasoning_content", r ? r : "");
        free(r);
        cstart = p >= 0 ? (size_t)p + strlen(LD_DSV4_THINK_END) : g->text.n;
    }
    char *c = strndup(g->text.p ? g->text.p + cstart : "", g->text.n - cstart);
    cJSON_AddStringToObject(m, "content", c ? c : "");
    free(c);
    return m;
}

static const char *finish_reason(chat_stream *s, const cJSON *msg) {
    cJSON *tc = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    if (tc && cJSON_GetArraySize(tc)) return "tool_calls";
    return ld_finish_name(&s->g);
}

static int chat_next(ld_stream *base, ld_strbuf *b) {
    chat_stream *s = (chat_stream *)base;
    if (s->sent_final) return 1;
    if (!s->sent_role) {
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "role", "assistant");
        cJSON_AddStringToObject(d, "content", "");
        ld_sse(b, chunk(s, d, NULL));
        s->sent_role = 1;
        return 0;
    }
    int done = ld_gen_step(&s->g);
    route(s, b);
    if (s->in_tools) stream_calls(s, b);
    if (!done) return 0;
    cJSON *msg = final_message(s);
    cJSON *tc = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
    if (tc && cJSON_GetArraySize(tc)) {
        send_calls(s, b, tc); /* those the end completed */
    } else if (s->in_tools) {
        /* a block that did not parse: give it back as text */
        text_delta(s, b, "content", s->routed, s->g.text.n);
    }
    ld_sse(b, chunk(s, NULL, finish_reason(s, msg)));
    cJSON_Delete(msg);
    ld_stream_end(b, s->include_usage ? chunk(s, NULL, NULL) : NULL, &s->g);
    s->sent_final = 1;
    return 1;
}

static void chat_cancel(ld_stream *base) { ld_gen_cancel(&((chat_stream *)base)->g); }
static void chat_free(ld_stream *base) {
    chat_stream *s = (chat_stream *)base;
    ld_gen_free(&s->g);
    free(s);
}

static const char *const MARKERS[] = {LD_DSV4_THINK_END, DSML_OPEN, NULL};

int ld_chat_replay(ld_srv *S, const char *completion, int thinking, int stream, ld_strbuf *out) {
    int32_t *t;
    size_t tn;
    if (!S->tok || ld_tokenizer_encode(S->tok, completion, strlen(completion), NULL, &t, &tn)) return -1;
    int *ids = malloc(sizeof(int) * (tn ? tn : 1));
    for (size_t i = 0; ids && i < tn; i++) ids[i] = t[i];
    free(t);
    ld_req *r = ids ? ld_req_new(ids, (int)tn) : NULL;
    chat_stream *s = r ? calloc(1, sizeof *s) : NULL;
    char err[300];
    if (!s || ld_gen_init(S, &s->g, r, NULL, MARKERS, err, sizeof err)) {
        free(ids);
        if (!s) ld_req_release(r);
        free(s);
        return ld_set_error("cannot replay the completion");
    }
    r->out = ids; /* the tokens, as if generated */
    r->cap = (int)tn;
    s->thinking = thinking;
    s->in_content = !thinking;
    snprintf(s->id, sizeof s->id, "chatcmpl-replay");
    if (stream) { /* one token per event, as a generation arrives */
        chat_next(&s->base, out);
        do {
            if (r->n_out < (int)tn) r->n_out++;
            if (r->n_out == (int)tn) r->finish = LD_FIN_STOP;
        } while (!chat_next(&s->base, out));
    } else {
        r->n_out = (int)tn;
        r->finish = LD_FIN_STOP;
        while (!ld_gen_step(&s->g)) {}
        cJSON *m = final_message(s);
        char *p = m ? cJSON_PrintUnformatted(m) : NULL;
        if (p) ld_sb_puts(out, p);
        free(p);
        cJSON_Delete(m);
    }
    chat_free(&s->base);
    return out->oom ? ld_set_error("out of memory") : 0;
}

/* Tokens before the prompt's last user turn: the system prompt and the
 * earlier turns, which the conversation's next request repeats (its newest
 * turn is not). "<｜User｜>" is a special token, so the text before it
 * tokenizes to a prefix of the whole; checked, 0 if not. */
static int last_turn_start(ld_srv *S, const char *prompt, const int32_t *t, size_t tn) {
    const char *last = NULL;
    for (const char *p = prompt; (p = strstr(p, LD_DSV4_USER)); p += strlen(LD_DSV4_USER)) last = p;
    if (!last || last == prompt) return 0;
    int32_t *h;
    size_t hn;
    if (ld_tokenizer_encode(S->tok, prompt, (size_t)(last - prompt), NULL, &h, &hn)) return 0;
    int ok = hn > 0 && hn < tn && !memcmp(h, t, sizeof *h * hn);
    free(h);
    return ok ? (int)hn : 0;
}

void ld_api_chat(ld_srv *S, cJSON *req, ld_reply *rp, int template_only) {
    ld_chat_opts o = {0};
    if (chat_mode(req, &o, rp)) return;
    cJSON *msgs = messages_of(req, rp);
    if (!msgs) return;
    char *prompt = ld_chat_encode(msgs, &o);
    cJSON_Delete(msgs);
    if (!prompt) {
        ld_reply_error(rp, 400, "invalid_request_error", "cannot render the messages: %s", ladder_last_error());
        return;
    }
    if (template_only) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "prompt", prompt);
        free(prompt);
        ld_reply_json(rp, 200, j);
        return;
    }
    if (!S->tok) {
        free(prompt);
        ld_reply_error(rp, 400, "invalid_request_error", "this model has no tokenizer: chat needs one");
        return;
    }
    int32_t *t;
    size_t tn;
    int bad = ld_tokenizer_encode(S->tok, prompt, strlen(prompt), NULL, &t, &tn);
    if (bad) {
        free(prompt);
        ld_reply_error(rp, 400, "invalid_request_error", "cannot tokenize the prompt: %s", ladder_last_error());
        return;
    }
    int cache_at = last_turn_start(S, prompt, t, tn);
    free(prompt);
    int *ids = malloc(sizeof(int) * (tn ? tn : 1));
    for (size_t i = 0; ids && i < tn; i++) ids[i] = t[i];
    free(t);
    ld_req *r = ids ? ld_req_new(ids, (int)tn) : NULL;
    free(ids);
    if (!r) {
        ld_reply_error(rp, 500, "server_error", "out of memory");
        return;
    }
    r->cache_at = cache_at;
    if (ld_api_sampling(S, req, r, rp)) {
        ld_req_release(r);
        return;
    }
    cJSON *lp = cJSON_GetObjectItemCaseSensitive(req, "logprobs"), *tl = cJSON_GetObjectItemCaseSensitive(req, "top_logprobs");
    if ((lp && !cJSON_IsBool(lp) && !cJSON_IsNull(lp)) ||
        (tl && !cJSON_IsNull(tl) && (!cJSON_IsNumber(tl) || tl->valuedouble < 0 || tl->valuedouble > LD_MAX_TOP))) {
        ld_req_release(r);
        ld_reply_error(rp, 400, "invalid_request_error", "'logprobs' must be a boolean and 'top_logprobs' an integer in [0, %d]",
                       LD_MAX_TOP);
        return;
    }
    if (cJSON_IsTrue(lp)) r->want_logprobs = cJSON_IsNumber(tl) ? (int)tl->valuedouble : 0;
    int stream, include_usage;
    if (ld_api_stream_flags(req, &stream, &include_usage, rp)) {
        ld_req_release(r);
        return;
    }
    chat_stream *s = calloc(1, sizeof *s);
    if (!s) {
        ld_req_release(r);
        ld_reply_error(rp, 500, "server_error", "out of memory");
        return;
    }
    s->thinking = o.thinking;
    s->in_content = !o.thinking;
    s->include_usage = include_usage;
    char err[300];
    int rc = ld_gen_start(S, &s->g, r, cJSON_GetObjectItemCaseSensitive(req, "stop"), MARKERS, err, sizeof err);
    if (rc) {
        free(s);
        ld_reply_error(rp, rc, rc == 400 ? "invalid_request_error" : "server_error", "%s", err);
        return;
    }
    ld_api_new_id(s->id, sizeof s->id, "chatcmpl");
    s->g.usage_every_chunk = (include_usage & 2) != 0;
    if (stream) {
        s->base = (ld_stream){chat_next, chat_free, chat_cancel};
        rp->status = 200;
        rp->stream = &s->base;
        return;
    }
    ld_gen_finish(&s->g, rp);
    if (s->g.fin == LD_FIN_ERROR || s->g.fin == LD_FIN_CANCELLED) {
        ld_reply_error(rp, s->g.fin == LD_FIN_ERROR ? 500 : 503, "server_error", "generation failed: %s", s->g.r->error);
    } else {
        cJSON *msg = final_message(s), *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "id", s->id);
        cJSON_AddStringToObject(j, "object", "chat.completion");
        cJSON_AddNumberToObject(j, "created", (double)time(NULL));
        cJSON_AddStringToObject(j, "model", S->o.model_name);
        cJSON *ch = cJSON_AddArrayToObject(j, "choices"), *c = cJSON_CreateObject();
        cJSON_AddItemToArray(ch, c);
        cJSON_AddNumberToObject(c, "index", 0);
        cJSON_AddStringToObject(c, "finish_reason", finish_reason(s, msg));
        cJSON_AddItemToObject(c, "message", msg);
        cJSON_AddItemToObject(c, "logprobs", ld_gen_logprobs(&s->g, 1));
        ld_usage_into(j, &s->g);
        ld_reply_json(rp, 200, j);
    }
    chat_free(&s->base);
}
