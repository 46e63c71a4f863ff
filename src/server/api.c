/* Routing, replies, and the endpoints other than chat. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/generate.h"
#include "server/server_internal.h"

void ld_reply_json(ld_reply *rp, int status, cJSON *j) {
    rp->status = status;
    rp->type = "application/json";
    rp->body = j ? cJSON_PrintUnformatted(j) : NULL;
    if (!rp->body) {
        rp->status = 500;
        rp->body = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\"}}");
    }
    cJSON_Delete(j);
}

/* OpenAI's error object: {"error": {"message", "type", "param", "code"}} */
void ld_reply_error(ld_reply *rp, int status, const char *type, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddNullToObject(e, "param");
    cJSON_AddNullToObject(e, "code");
    ld_reply_json(rp, status, j);
}

void ld_api_new_id(char *out, size_t n, const char *prefix) {
    static _Atomic unsigned long counter;
    snprintf(out, n, "%s-%lx%05lx", prefix, (unsigned long)time(NULL), counter++ & 0xfffff);
}

/* a number field in [lo, hi]; 1 absent, 0 set, -1 bad (reply made) */
static int num_field(cJSON *req, const char *name, double lo, double hi, double *v, ld_reply *rp) {
    cJSON *f = cJSON_GetObjectItemCaseSensitive(req, name);
    if (!f || cJSON_IsNull(f)) return 1;
    if (!cJSON_IsNumber(f) || !(f->valuedouble >= lo && f->valuedouble <= hi)) {
        ld_reply_error(rp, 400, "invalid_request_error", "'%s' must be a number in [%g, %g]", name, lo, hi);
        return -1;
    }
    *v = f->valuedouble;
    return 0;
}

int ld_api_sampling(ld_srv *S, cJSON *req, ld_req *r, ld_reply *rp) {
    const ladder_info *in = S->info;
    double v;
    int k;
    r->sampling.temperature = in->do_sample ? in->temperature : 1.0f;
    r->sampling.top_p = in->top_p > 0 ? in->top_p : 1.0f;
    r->sampling.top_k = 0;
    r->max_new = S->o.max_tokens;
    if ((k = num_field(req, "temperature", 0, 2, &v, rp)) < 0) return -1;
    if (!k) r->sampling.temperature = (float)v;
    if ((k = num_field(req, "top_p", 0, 1, &v, rp)) < 0) return -1;
    if (!k) r->sampling.top_p = v > 0 ? (float)v : 1e-9f;
    if ((k = num_field(req, "top_k", -1, 1 << 24, &v, rp)) < 0) return -1;
    if (!k) r->sampling.top_k = v > 0 ? (int)v : 0;
    if ((k = num_field(req, "min_p", 0, 1, &v, rp)) < 0) return -1;
    if (!k) r->sampling.min_p = (float)v;
    if ((k = num_field(req, "seed", -9.2e18, 9.2e18, &v, rp)) < 0) return -1;
    if (!k) r->sampling.seed = (uint64_t)(long long)v;
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "max_completion_tokens" : "max_tokens";
        if ((k = num_field(req, name, 1, 1e9, &v, rp)) < 0) return -1;
        if (!k) {
            if (v > S->o.max_tokens) {
                ld_reply_error(rp, 400, "invalid_request_error", "'%s' = %.0f is above this server's limit of %d", name,
                               v, S->o.max_tokens);
                return -1;
            }
            r->max_new = (int)v;
        }
    }
    /* vLLM's extension, for benchmarks: generate max_tokens whatever comes */
    cJSON *ie = cJSON_GetObjectItemCaseSensitive(req, "ignore_eos");
    if (ie && !cJSON_IsBool(ie) && !cJSON_IsNull(ie)) {
        ld_reply_error(rp, 400, "invalid_request_error", "'ignore_eos' must be a boolean");
        return -1;
    }
    if (cJSON_IsTrue(ie)) r->stop_at_eos = 0;
    long room = S->o.context - r->n_prompt;
    if (room <= 0) {
        ld_reply_error(rp, 400, "invalid_request_error",
                       "the prompt is %d tokens, and this server's context is %ld: nothing is left to generate",
                       r->n_prompt, S->o.context);
        return -1;
    }
    if (r->max_new > room) r->max_new = (int)room;
    return 0;
}

static int *ids_of(cJSON *arr, int *n, ld_srv *S, ld_reply *rp) {
    int cnt = cJSON_GetArraySize(arr);
    int *ids = malloc(sizeof(int) * (size_t)(cnt ? cnt : 1));
    if (!ids) return NULL;
    for (int i = 0; i < cnt; i++) {
        cJSON *x = cJSON_GetArrayItem(arr, i);
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble >= S->info->vocab_size ||
            x->valuedouble != (int)x->valuedouble) {
            ld_reply_error(rp, 400, "invalid_request_error", "token %d of the prompt is not an id below the vocabulary size %d",
                           i, S->info->vocab_size);
            free(ids);
            return NULL;
        }
        ids[i] = (int)x->valuedouble;
    }
    *n = cnt;
    return ids;
}

/* text -> ids with the tokenizer (added tokens matched, as HF does) */
static int *encode(ld_srv *S, const char *text, int *n, ld_reply *rp) {
    int32_t *t;
    size_t tn;
    if (ld_tokenizer_encode(S->tok, text, strlen(text), NULL, &t, &tn)) {
        ld_reply_error(rp, 400, "invalid_request_error", "cannot tokenize the prompt: %s", ladder_last_error());
        return NULL;
    }
    int *ids = malloc(sizeof(int) * (tn ? tn : 1));
    for (size_t i = 0; ids && i < tn; i++) ids[i] = t[i];
    free(t);
    *n = (int)tn;
    return ids;
}

/* ------------------------------------------------------- /v1/completions */

typedef struct {
    ld_stream base;
    ld_gen g;
    char id[64];
    int include_usage, sent_final;
} cmpl_stream;

/* g: a stream's generation, whose pending log-probabilities the chunk
 * carries (NULL: none) */
static cJSON *cmpl_chunk(ld_srv *S, ld_gen *g, const char *id, const char *text, size_t n, const char *finish) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", id);
    cJSON_AddStringToObject(j, "object", "text_completion");
    cJSON_AddNumberToObject(j, "created", (double)time(NULL));
    cJSON_AddStringToObject(j, "model", S->o.model_name);
    cJSON *ch = cJSON_AddArrayToObject(j, "choices"), *c = cJSON_CreateObject();
    cJSON_AddItemToArray(ch, c);
    cJSON_AddNumberToObject(c, "index", 0);
    char *t = strndup(text, n);
    cJSON_AddStringToObject(c, "text", t ? t : "");
    free(t);
    cJSON_AddItemToObject(c, "logprobs", ld_gen_logprobs_pending(g, 0));
    if (finish) cJSON_AddStringToObject(c, "finish_reason", finish);
    else cJSON_AddNullToObject(c, "finish_reason");
    if (g && g->usage_every_chunk) ld_usage_into(j, g);
    return j;
}

static int cmpl_next(ld_stream *base, ld_strbuf *b) {
    cmpl_stream *s = (cmpl_stream *)base;
    if (s->sent_final) return 1;
    size_t from = s->g.emitted;
    int done = ld_gen_step(&s->g);
    if (s->g.emitted > from)
        ld_sse(b, cmpl_chunk(s->g.srv, &s->g, s->id, s->g.text.p + from, s->g.emitted - from, NULL));
    if (!done) return 0;
    ld_sse(b, cmpl_chunk(s->g.srv, &s->g, s->id, "", 0, ld_finish_name(&s->g)));
    ld_stream_end(b, s->include_usage ? cmpl_chunk(s->g.srv, NULL, s->id, "", 0, NULL) : NULL, &s->g);
    s->sent_final = 1;
    return 1;
}

static void cmpl_cancel(ld_stream *base) { ld_gen_cancel(&((cmpl_stream *)base)->g); }
static void cmpl_free(ld_stream *base) {
    cmpl_stream *s = (cmpl_stream *)base;
    ld_gen_free(&s->g);
    free(s);
}

int ld_api_stream_flags(cJSON *req, int *stream, int *include_usage, ld_reply *rp) {
    cJSON *st = cJSON_GetObjectItemCaseSensitive(req, "stream");
    if (st && !cJSON_IsBool(st) && !cJSON_IsNull(st)) {
        ld_reply_error(rp, 400, "invalid_request_error", "'stream' must be a boolean");
        return -1;
    }
    *stream = cJSON_IsTrue(st);
    cJSON *so = cJSON_GetObjectItemCaseSensitive(req, "stream_options");
    *include_usage = so && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    /* vLLM's continuous_usage_stats: the usage so far in every chunk */
    if (*include_usage && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "continuous_usage_stats"))) *include_usage |= 2;
    return 0;
}

void ld_api_completions(ld_srv *S, cJSON *req, ld_reply *rp) {
    cJSON *p = cJSON_GetObjectItemCaseSensitive(req, "prompt");
    int n = 0, *ids = NULL, stream, inc;
    if (ld_api_stream_flags(req, &stream, &inc, rp)) return;
    if (cJSON_IsString(p)) {
        if (!S->tok) { ld_reply_error(rp, 400, "invalid_request_error", "this model has no tokenizer: send token ids"); return; }
        if (!(ids = encode(S, p->valuestring, &n, rp))) return;
    } else if (cJSON_IsArray(p)) {
        if (!(ids = ids_of(p, &n, S, rp))) return;
    } else {
        { ld_reply_error(rp, 400, "invalid_request_error", "'prompt' must be a string or an array of token ids"); return; }
    }
    if (!n) {
        free(ids);
        { ld_reply_error(rp, 400, "invalid_request_error", "the prompt is empty"); return; }
    }
    ld_req *r = ld_req_new(ids, n);
    free(ids);
    if (!r) { ld_reply_error(rp, 500, "server_error", "out of memory"); return; }
    if (ld_api_sampling(S, req, r, rp)) { ld_req_release(r); return; }
    cJSON *lp = cJSON_GetObjectItemCaseSensitive(req, "logprobs");
    if (lp && !cJSON_IsNull(lp)) {
        if (!cJSON_IsNumber(lp) || lp->valuedouble < 0 || lp->valuedouble > 5) {
            ld_req_release(r);
            ld_reply_error(rp, 400, "invalid_request_error", "'logprobs' must be an integer in [0, 5]");
            return;
        }
        r->want_logprobs = (int)lp->valuedouble;
    }
    cmpl_stream *s = calloc(1, sizeof *s);
    if (!s) { ld_req_release(r); { ld_reply_error(rp, 500, "server_error", "out of memory"); return; } }
    char err[300];
    int st = ld_gen_start(S, &s->g, r, cJSON_GetObjectItemCaseSensitive(req, "stop"), NULL, err, sizeof err);
    if (st) {
        free(s);
        { ld_reply_error(rp, st, st == 400 ? "invalid_request_error" : "server_error", "%s", err); return; }
    }
    ld_api_new_id(s->id, sizeof s->id, "cmpl");
    if (stream) {
        s->base = (ld_stream){cmpl_next, cmpl_free, cmpl_cancel};
        s->include_usage = inc;
        s->g.usage_every_chunk = (inc & 2) != 0;
        rp->status = 200;
        rp->stream = &s->base;
        return;
    }
    ld_gen_finish(&s->g, rp);
    if (s->g.fin == LD_FIN_ERROR || s->g.fin == LD_FIN_CANCELLED) {
        ld_reply_error(rp, s->g.fin == LD_FIN_ERROR ? 500 : 503, "server_error", "generation failed: %s", s->g.r->error);
    } else {
        cJSON *j = cmpl_chunk(S, NULL, s->id, s->g.text.p ? s->g.text.p : "", s->g.text.n, ld_finish_name(&s->g));
        cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0);
        cJSON_ReplaceItemInObject(c0, "logprobs", ld_gen_logprobs(&s->g, 0));
        ld_usage_into(j, &s->g);
        ld_reply_json(rp, 200, j);
    }
    cmpl_free(&s->base);
}

/* ------------------------------------------------- tokenize / detokenize */

void ld_api_tokenize(ld_srv *S, cJSON *req, ld_reply *rp) {
    cJSON *c = cJSON_GetObjectItemCaseSensitive(req, "content");
    if (!S->tok) { ld_reply_error(rp, 400, "invalid_request_error", "this model has no tokenizer"); return; }
    if (!cJSON_IsString(c)) { ld_reply_error(rp, 400, "invalid_request_error", "'content' must be a string"); return; }
    int n, *ids = encode(S, c->valuestring, &n, rp);
    if (!ids) return;
    cJSON *j = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(j, "tokens");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    free(ids);
    ld_reply_json(rp, 200, j);
}

void ld_api_detokenize(ld_srv *S, cJSON *req, ld_reply *rp) {
    cJSON *t = cJSON_GetObjectItemCaseSensitive(req, "tokens");
    if (!S->tok) { ld_reply_error(rp, 400, "invalid_request_error", "this model has no tokenizer"); return; }
    if (!cJSON_IsArray(t)) { ld_reply_error(rp, 400, "invalid_request_error", "'tokens' must be an array of token ids"); return; }
    int n, *ids = ids_of(t, &n, S, rp);
    if (!ids) return;
    int32_t *t32 = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    char *out = NULL;
    size_t len;
    for (int i = 0; t32 && i < n; i++) t32[i] = ids[i];
    free(ids);
    if (!t32 || ld_tokenizer_decode(S->tok, t32, (size_t)n, &out, &len)) {
        free(t32);
        { ld_reply_error(rp, 400, "invalid_request_error", "cannot decode: %s", ladder_last_error()); return; }
    }
    free(t32);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "content", out);
    free(out);
    ld_reply_json(rp, 200, j);
}

/* ---------------------------------------------------------------- routes */

static void models(ld_srv *S, ld_reply *rp) {
    cJSON *j = cJSON_CreateObject(), *d;
    cJSON_AddStringToObject(j, "object", "list");
    d = cJSON_AddArrayToObject(j, "data");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddItemToArray(d, m);
    cJSON_AddStringToObject(m, "id", S->o.model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "ladder");
    cJSON_AddNumberToObject(m, "max_model_len", (double)S->o.context);
    ld_reply_json(rp, 200, j);
}

static void metrics(ld_srv *S, ld_reply *rp) {
    ld_sched_stats st = {0};
    if (S->sched) ld_sched_snapshot(S->sched, &st);
    ld_strbuf b = {0};
    ld_metrics_render(&S->m, &st, &b);
    ld_sb_put(&b, "", 1);
    rp->status = b.oom ? 500 : 200;
    rp->type = "text/plain; version=0.0.4";
    rp->body = b.p;
}

void ld_api_handle(ld_srv *S, const char *method, const char *url, const char *body, size_t len, ld_reply *rp) {
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (get && !strcmp(url, "/health")) { ld_reply_json(rp, 200, cJSON_Parse("{\"status\":\"ok\"}")); return; }
    if (get && !strcmp(url, "/v1/models")) { models(S, rp); return; }
    if (get && !strcmp(url, "/metrics")) { metrics(S, rp); return; }
    static const char *const posts[] = {"/v1/chat/completions", "/v1/completions", "/tokenize", "/detokenize",
                                        "/apply-template"};
    int route = -1;
    for (int i = 0; i < 5; i++)
        if (!strcmp(url, posts[i])) route = i;
    if (route < 0 && strcmp(url, "/health") && strcmp(url, "/v1/models") && strcmp(url, "/metrics"))
        { ld_reply_error(rp, 404, "invalid_request_error", "no route %s %s", method, url); return; }
    if (route < 0 || !post)
        { ld_reply_error(rp, 405, "invalid_request_error", "%s does not take %s", url, method); return; }
    if (ld_json_reject_nul(body, len)) { ld_reply_error(rp, 400, "invalid_request_error", "the body holds a NUL byte"); return; }
    /* pyjson: numbers in tool schemas print back as Python would (chat encoding) */
    cJSON *req = ld_pyjson_parse(body, len);
    if (!req) { ld_reply_error(rp, 400, "invalid_request_error", "the body is not valid JSON: %s", ladder_last_error()); return; }
    if (!cJSON_IsObject(req)) {
        cJSON_Delete(req);
        { ld_reply_error(rp, 400, "invalid_request_error", "the body must be a JSON object"); return; }
    }
    switch (route) {
    case 0: ld_api_chat(S, req, rp, 0); break;
    case 1: ld_api_completions(S, req, rp); break;
    case 2: ld_api_tokenize(S, req, rp); break;
    case 3: ld_api_detokenize(S, req, rp); break;
    default: ld_api_chat(S, req, rp, 1); break;
    }
    cJSON_Delete(req);
}
