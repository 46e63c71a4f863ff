/* The HTTP side of a generation: tokens to text, stop strings, finish. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/generate.h"
#include "server/server_internal.h"
#include "text/chat.h"
#include "text/utf8.h"

int ld_gen_init(ld_srv *S, ld_gen *g, ld_req *r, cJSON *stop, const char *const *markers, char *err, size_t errn) {
    memset(g, 0, sizeof *g);
    g->srv = S;
    g->r = r;
    /* stop: a string or an array of up to 4 strings, as OpenAI takes it */
    if (stop && !cJSON_IsNull(stop)) {
        int n = cJSON_IsString(stop) ? 1 : cJSON_IsArray(stop) ? cJSON_GetArraySize(stop) : -1;
        if (n < 0 || n > 4) {
            snprintf(err, errn, "'stop' must be a string or an array of at most 4 strings");
            ld_req_release(r);
            return 400;
        }
        g->stops = calloc((size_t)(n ? n : 1), sizeof *g->stops);
        for (int i = 0; g->stops && i < n; i++) {
            const cJSON *s = cJSON_IsString(stop) ? stop : cJSON_GetArrayItem(stop, i);
            if (!cJSON_IsString(s) || !s->valuestring[0]) {
                snprintf(err, errn, "'stop' entries must be non-empty strings");
                ld_gen_free(g);
                return 400;
            }
            g->stops[g->n_stops++] = strdup(s->valuestring);
        }
    }
    g->markers = markers;
    if (S->tok && !(g->dt = ld_detok_stream_new(S->tok))) {
        snprintf(err, errn, "%s", ladder_last_error());
        ld_gen_free(g);
        return 500;
    }
    return 0;
}

int ld_gen_start(ld_srv *S, ld_gen *g, ld_req *r, cJSON *stop, const char *const *markers, char *err, size_t errn) {
    int st = ld_gen_init(S, g, r, stop, markers, err, errn);
    if (st) return st;
    int rc = S->sched ? ld_sched_submit(S->sched, r) : 2;
    if (rc) {
        snprintf(err, errn, rc == 1 ? "the server is busy: every slot and the queue are taken; retry later"
                                    : "the server is shutting down");
        ld_gen_free(g);
        return rc == 1 ? 429 : 503;
    }
    return 0;
}

static void append(ld_gen *g, int tok) {
    const ladder_info *in = g->srv->info;
    if (tok == in->eos_id && g->r->stop_at_eos) {
        g->eos = 1;
        return;
    }
    const char *out;
    size_t n;
    if (g->dt) {
        if (!ld_detok_stream_push(g->dt, tok, &out, &n)) ld_sb_put(&g->text, out, n);
    } else {
        char id[16];
        snprintf(id, sizeof id, "%s%d", g->text.n ? " " : "", tok);
        ld_sb_puts(&g->text, id);
    }
}

/* the earliest stop string in text from `from`; its position or -1 */
static long find_stop(const ld_gen *g, size_t from) {
    long best = -1;
    for (int i = 0; i < g->n_stops; i++) {
        size_t l = strlen(g->stops[i]);
        for (size_t p = from; p + l <= g->text.n; p++)
            if (!memcmp(g->text.p + p, g->stops[i], l)) {
                if (best < 0 || (long)p < best) best = (long)p;
                break;
            }
    }
    return best;
}

/* The longest k < strlen(pat) with text ending in pat's first k bytes. */
static size_t prefix_at_end(const ld_strbuf *t, const char *pat) {
    for (size_t k = strlen(pat) - 1; k > 0; k--)
        if (k <= t->n && !memcmp(t->p + t->n - k, pat, k)) return k;
    return 0;
}

/* Bytes at the end of the text that may be the start of a stop string or a
 * marker: they wait for the next tokens. */
static size_t partial_tail(const ld_gen *g) {
    size_t best = 0, k;
    for (int i = 0; i < g->n_stops; i++)
        if ((k = prefix_at_end(&g->text, g->stops[i])) > best) best = k;
    for (const char *const *m = g->markers; m && *m; m++)
        if ((k = prefix_at_end(&g->text, *m)) > best) best = k;
    return best;
}

int ld_gen_step(ld_gen *g) {
    if (g->done) return 1;
    ld_req *r = g->r;
    pthread_mutex_lock(&r->mu);
    while (g->consumed == r->n_out && !r->finish) pthread_cond_wait(&r->cv, &r->mu);
    int upto = r->n_out, fin = r->finish, got = upto - g->consumed;
    /* copied under the lock: the scheduler may move r->out as it grows */
    int buf[64], *toks = got <= 64 ? buf : malloc(sizeof(int) * (size_t)got);
    if (toks) memcpy(toks, r->out + g->consumed, sizeof(int) * (size_t)got);
    pthread_mutex_unlock(&r->mu);
    size_t before = g->text.n;
    for (int i = 0; toks && i < got; i++) append(g, toks[i]);
    if (toks != buf) free(toks);
    g->consumed = upto;
    int over = fin && g->consumed == upto;
    if (over && g->dt) {
        const char *out;
        size_t n;
        if (!ld_detok_stream_flush(g->dt, &out, &n)) ld_sb_put(&g->text, out, n);
    }
    size_t longest = 1;
    for (int i = 0; i < g->n_stops; i++) longest = strlen(g->stops[i]) > longest ? strlen(g->stops[i]) : longest;
    size_t from = before > longest - 1 ? before - (longest - 1) : 0;
    long at = g->n_stops ? find_stop(g, from) : -1;
    if (at >= 0) {
        g->text.n = (size_t)at;
        ld_gen_cancel(g);
        g->fin = LD_FIN_STOP;
        g->done = 1;
    } else if (over) {
        g->fin = (ld_finish)fin;
        g->done = 1;
    }
    size_t limit = g->text.n;
    if (!g->done) {
        limit -= partial_tail(g);
        while (limit > g->emitted && limit < g->text.n && ((unsigned char)g->text.p[limit] & 0xC0) == 0x80) limit--;
    }
    if (limit > g->emitted) g->emitted = limit;
    return g->done;
}

void ld_gen_cancel(ld_gen *g) {
    if (g->r) atomic_store(&g->r->cancel, 1);
}

void ld_gen_finish(ld_gen *g, const ld_reply *rp) {
    while (!ld_gen_step(g))
        if (rp->client_gone && rp->client_gone(rp->gone_ctx)) ld_gen_cancel(g);
}

void ld_gen_free(ld_gen *g) {
    if (g->r && g->srv) {
        ld_req *r = g->r;
        pthread_mutex_lock(&r->mu);
        double t0 = r->t_submit, t1 = r->t_first;
        pthread_mutex_unlock(&r->mu);
        if (t1 > 0 && t0 > 0) ld_metrics_ttft(&g->srv->m, t1 - t0);
    }
    if (g->r) {
        ld_gen_cancel(g);
        ld_req_release(g->r);
    }
    for (int i = 0; i < g->n_stops; i++) free(g->stops[i]);
    free(g->stops);
    ld_detok_stream_free(g->dt);
    free(g->text.p);
    memset(g, 0, sizeof *g);
}

const char *ld_finish_name(const ld_gen *g) {
    switch (g->fin) {
    case LD_FIN_LENGTH: return "length";
    case LD_FIN_STOP: return "stop";
    case LD_FIN_CANCELLED: return "cancelled";
    default: return "error";
    }
}

/* A token's text as valid UTF-8 (a token may hold part of a character:
 * those bytes become U+FFFD) and its raw bytes. */
static void token_into(const ld_gen *g, int id, cJSON *o) {
    size_t n = 0;
    const char *b = g->srv->tok ? ld_tokenizer_token_bytes(g->srv->tok, id, &n) : NULL;
    char num[16];
    if (!b) snprintf(num, sizeof num, "%d", id), b = num, n = strlen(num);
    ld_strbuf t = {0};
    for (size_t i = 0; i < n;) {
        size_t l = ld_utf8_seq_len((const unsigned char *)b + i, n - i);
        if (l) ld_sb_put(&t, b + i, l), i += l;
        else ld_sb_puts(&t, "\xEF\xBF\xBD"), i++;
    }
    ld_sb_put(&t, "", 1);
    cJSON_AddStringToObject(o, "token", t.p && !t.oom ? t.p : "");
    free(t.p);
    cJSON *by = cJSON_AddArrayToObject(o, "bytes");
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(by, cJSON_CreateNumber((unsigned char)b[i]));
}

static cJSON *logprobs_range(ld_gen *g, int chat, int from, int to) {
    ld_req *r = g->r;
    cJSON *j = cJSON_CreateObject();
    cJSON *content = chat ? cJSON_AddArrayToObject(j, "content") : NULL;
    cJSON *toks = chat ? NULL : cJSON_AddArrayToObject(j, "tokens");
    cJSON *lps = chat ? NULL : cJSON_AddArrayToObject(j, "token_logprobs");
    cJSON *tops = chat ? NULL : cJSON_AddArrayToObject(j, "top_logprobs");
    int K = r->want_logprobs;
    pthread_mutex_lock(&r->mu);
    if (to > r->n_out) to = r->n_out;
    for (int i = from; i < to; i++) {
        cJSON *e = cJSON_CreateObject();
        token_into(g, r->out[i], e);
        if (chat) {
            cJSON_AddNumberToObject(e, "logprob", r->logprob[i]);
            cJSON *alt = cJSON_AddArrayToObject(e, "top_logprobs");
            for (int k = 0; k < K; k++) {
                cJSON *a = cJSON_CreateObject();
                token_into(g, r->top_id[(size_t)i * K + k], a);
                cJSON_AddNumberToObject(a, "logprob", r->top_lp[(size_t)i * K + k]);
                cJSON_AddItemToArray(alt, a);
            }
            cJSON_AddItemToArray(content, e);
        } else {
            cJSON_AddItemToArray(toks, cJSON_Duplicate(cJSON_GetObjectItem(e, "token"), 1));
            cJSON_AddItemToArray(lps, cJSON_CreateNumber(r->logprob[i]));
            cJSON *alt = cJSON_CreateObject();
            for (int k = 0; k < K; k++) {
                cJSON *a = cJSON_CreateObject();
                token_into(g, r->top_id[(size_t)i * K + k], a);
                const char *t = cJSON_GetObjectItem(a, "token")->valuestring;
                if (!cJSON_GetObjectItemCaseSensitive(alt, t))
                    cJSON_AddNumberToObject(alt, t, r->top_lp[(size_t)i * K + k]);
                cJSON_Delete(a);
            }
            cJSON_AddItemToArray(tops, alt);
            cJSON_Delete(e);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return j;
}

cJSON *ld_gen_logprobs(ld_gen *g, int chat) {
    if (g->r->want_logprobs < 0) return cJSON_CreateNull();
    return logprobs_range(g, chat, 0, g->consumed);
}

cJSON *ld_gen_logprobs_pending(ld_gen *g, int chat) {
    if (!g || g->r->want_logprobs < 0 || g->consumed <= g->lp_sent) return cJSON_CreateNull();
    cJSON *j = logprobs_range(g, chat, g->lp_sent, g->consumed);
    g->lp_sent = g->consumed;
    return j;
}

void ld_sse(ld_strbuf *b, cJSON *j) {
    char *t = cJSON_PrintUnformatted(j);
    ld_sb_puts(b, "data: ");
    if (t) ld_sb_puts(b, t);
    ld_sb_puts(b, "\n\n");
    free(t);
    cJSON_Delete(j);
}

void ld_usage_into(cJSON *j, const ld_gen *g) {
    cJSON_DeleteItemFromObjectCaseSensitive(j, "usage");
    cJSON *u = cJSON_AddObjectToObject(j, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", g->r->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", g->consumed);
    cJSON_AddNumberToObject(u, "total_tokens", g->r->n_prompt + g->consumed);
    /* OpenAI's shape for prompt tokens served from the prefix cache */
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", g->r->cached);
}

void ld_stream_end(ld_strbuf *b, cJSON *usage_chunk, const ld_gen *g) {
    if (usage_chunk) {
        cJSON_ReplaceItemInObject(usage_chunk, "choices", cJSON_CreateArray());
        ld_usage_into(usage_chunk, g);
        ld_sse(b, usage_chunk);
    }
    ld_sb_puts(b, "data: [DONE]\n\n");
}
