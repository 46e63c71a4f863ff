#include "server/sched.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/generate.h"

typedef struct {
    ladder_session *s;
    ld_req *r; /* NULL: free */
    ld_sampler smp;
    int fed;   /* prompt tokens evaluated so far */
    int last;  /* the token to feed next while decoding */
} slot;

struct ld_sched {
    ladder_engine *e;
    const ladder_info *info;
    ld_sched_opts o;
    slot *slots;
    pthread_t th;
    pthread_mutex_t mu; /* queue, stopping, stats */
    pthread_cond_t cv;
    ld_req *head, *tail;
    int n_queued, running, stopping, quit;
    double deadline;
    ld_sched_stats st;
    float *logits; /* [parallel, vocab] */
    int *tokbuf;   /* one token per slot */
    ld_prefix *prefix;
    int rr; /* the prefilling slot served first next step (fairness) */
};

ld_req *ld_req_new(const int *prompt, int n_prompt) {
    ld_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->prompt = malloc(sizeof(int) * (size_t)(n_prompt > 0 ? n_prompt : 1));
    if (!r->prompt) { free(r); return NULL; }
    memcpy(r->prompt, prompt, sizeof(int) * (size_t)n_prompt);
    r->n_prompt = n_prompt;
    r->want_logprobs = -1;
    r->stop_at_eos = 1;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    atomic_init(&r->cancel, 0);
    atomic_init(&r->refs, 1);
    return r;
}

void ld_req_release(ld_req *r) {
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r->prompt);
    free(r->out);
    free(r->logprob);
    free(r->top_id);
    free(r->top_lp);
    free(r);
}

static void finish(ld_req *r, ld_finish why, const char *err) {
    pthread_mutex_lock(&r->mu);
    r->finish = why;
    r->t_done = ld_now();
    if (err) snprintf(r->error, sizeof r->error, "%s", err);
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

/* log-softmax of the chosen token and the top alternatives */
static void logprobs(const float *lg, int V, int tok, int top, float *lp, int *ids, float *lps) {
    float mx = lg[0];
    for (int i = 1; i < V; i++) mx = lg[i] > mx ? lg[i] : mx;
    double sum = 0;
    for (int i = 0; i < V; i++) sum += exp((double)lg[i] - mx);
    double lse = mx + log(sum);
    *lp = (float)(lg[tok] - lse);
    for (int k = 0; k < top; k++) {
        int best = -1;
        for (int i = 0; i < V; i++) {
            int taken = 0;
            for (int j = 0; j < k && !taken; j++) taken = ids[j] == i;
            if (!taken && (best < 0 || lg[i] > lg[best])) best = i;
        }
        ids[k] = best;
        lps[k] = (float)(lg[best] - lse);
    }
}

/* Appends a sampled token; returns non-zero when the request is complete. */
static int push_token(ld_sched *S, slot *sl, const float *lg) {
    ld_req *r = sl->r;
    int tok = ld_sampler_next(&sl->smp, lg);
    double gap = -1;
    pthread_mutex_lock(&r->mu);
    int ok = 1;
    if (r->n_out == r->cap) {
        int cap = r->cap ? 2 * r->cap : 64, top = r->want_logprobs > 0 ? r->want_logprobs : 0;
        int *o = realloc(r->out, sizeof(int) * (size_t)cap);
        if (o) r->out = o;
        if (o && r->want_logprobs >= 0) {
            float *a = realloc(r->logprob, sizeof(float) * (size_t)cap);
            if (a) r->logprob = a;
            int *b = realloc(r->top_id, sizeof(int) * (size_t)cap * (size_t)(top ? top : 1));
            if (b) r->top_id = b;
            float *c = realloc(r->top_lp, sizeof(float) * (size_t)cap * (size_t)(top ? top : 1));
            if (c) r->top_lp = c;
            ok = a && b && c;
        }
        ok = ok && o;
        if (ok) r->cap = cap;
    }
    if (ok) {
        if (r->want_logprobs >= 0)
            logprobs(lg, S->info->vocab_size, tok, r->want_logprobs, &r->logprob[r->n_out],
                     r->top_id + (size_t)r->n_out * (size_t)r->want_logprobs,
                     r->top_lp + (size_t)r->n_out * (size_t)r->want_logprobs);
        r->out[r->n_out++] = tok;
        double t = ld_now();
        if (r->n_out == 1) r->t_first = t;
        else gap = t - r->t_last;
        r->t_last = t;
        pthread_cond_broadcast(&r->cv);
    }
    int n = r->n_out;
    pthread_mutex_unlock(&r->mu);
    if (gap >= 0 && S->o.on_gap) S->o.on_gap(S->o.user, gap);
    pthread_mutex_lock(&S->mu);
    S->st.generated_tokens++;
    pthread_mutex_unlock(&S->mu);
    if (!ok) { finish(r, LD_FIN_ERROR, "out of memory"); return 1; }
    sl->last = tok;
    if (r->stop_at_eos && tok == S->info->eos_id) { finish(r, LD_FIN_STOP, NULL); return 1; }
    if (n >= r->max_new) { finish(r, LD_FIN_LENGTH, NULL); return 1; }
    return 0;
}

static void release_slot(ld_sched *S, slot *sl) {
    ld_req_release(sl->r);
    sl->r = NULL;
    ld_sampler_free(&sl->smp);
    pthread_mutex_lock(&S->mu);
    S->running--;
    pthread_mutex_unlock(&S->mu);
}

/* Moves queued requests into free slots. */
static void admit(ld_sched *S) {
    pthread_mutex_lock(&S->mu);
    for (int i = 0; i < S->o.parallel && S->head; i++) {
        slot *sl = &S->slots[i];
        if (sl->r) continue;
        ld_req *r = S->head;
        S->head = r->next;
        if (!S->head) S->tail = NULL;
        S->n_queued--;
        pthread_mutex_unlock(&S->mu);
        ladder_session_reset(sl->s);
        int bad = ld_sampler_init(&sl->smp, &r->sampling, S->info->vocab_size);
        pthread_mutex_lock(&S->mu);
        if (bad) {
            pthread_mutex_unlock(&S->mu);
            finish(r, LD_FIN_ERROR, "out of memory");
            ld_req_release(r);
            pthread_mutex_lock(&S->mu);
            continue;
        }
        sl->r = r;
        sl->fed = 0;
        S->running++;
        S->st.prompt_tokens += r->n_prompt;
        pthread_mutex_unlock(&S->mu);
        long hit = ld_prefix_restore(S->prefix, r->prompt, r->n_prompt, sl->s);
        if (hit > 0) sl->fed = r->cached = (int)hit;
        pthread_mutex_lock(&S->mu);
        ld_prefix_get_stats(S->prefix, &S->st.prefix);
    }
    pthread_mutex_unlock(&S->mu);
}

/* Snapshots for the prefix cache: failures only cost later hits. */
static void remember(ld_sched *S, const int *key, ladder_session *s) {
    if (!S->prefix) return;
    ld_prefix_save(S->prefix, key, s);
    pthread_mutex_lock(&S->mu);
    ld_prefix_get_stats(S->prefix, &S->st.prefix);
    pthread_mutex_unlock(&S->mu);
}

/* A finished sequence's state, keyed by what it consumed: the prompt and
 * every generated token but the last (sampled, never fed). */
static void remember_sequence(ld_sched *S, slot *sl) {
    ld_req *r = sl->r;
    if (!S->prefix || r->finish == LD_FIN_ERROR || r->finish == LD_FIN_CANCELLED) return;
    long n = ladder_session_pos(sl->s);
    if (n != r->n_prompt + r->n_out - 1) return;
    int *key = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!key) return;
    memcpy(key, r->prompt, sizeof(int) * (size_t)r->n_prompt);
    memcpy(key + r->n_prompt, r->out, sizeof(int) * (size_t)(n - r->n_prompt));
    remember(S, key, sl->s);
    free(key);
}

/* Prefill tokens of one sequence in its next step: the rest of the prompt up
 * to the chunk, the first chunk at least a window (bit-identical chunking).
 * Cut from the request alone, never from what else the step holds. */
static int chunk_len(const ld_sched *S, const slot *sl) {
    int left = sl->r->n_prompt - sl->fed, c = S->o.chunk, at = sl->r->cache_at - sl->fed;
    if (sl->fed == 0 && c < S->info->window) c = S->info->window;
    if (left > c) left = c;
    /* end a chunk where the prompt is snapshotted, unless that would make a
       first call shorter than a window (not exact) */
    if (at > 0 && at < left && (sl->fed > 0 || at >= S->info->window)) left = at;
    return left;
}

static void *loop(void *arg) {
    ld_sched *S = arg;
    int P = S->o.parallel;
    ladder_session **ss = malloc(sizeof *ss * (size_t)P);
    const int **ids = malloc(sizeof *ids * (size_t)P);
    int *n = malloc(sizeof(int) * (size_t)P), *which = malloc(sizeof(int) * (size_t)P);
    for (;;) {
        pthread_mutex_lock(&S->mu);
        while (!S->quit && !S->head && !S->running) pthread_cond_wait(&S->cv, &S->mu);
        int quit = S->quit, stopping = S->stopping;
        double deadline = S->deadline;
        pthread_mutex_unlock(&S->mu);
        if (quit || !ss || !ids || !n || !which) break;
        if (!stopping) admit(S);
        /* every decoding sequence steps; prefill chunks share a budget of
           o.chunk tokens per step (at least one chunk goes in), so a long
           prompt, or many arriving at once, delays the decodes by about one
           chunk's time per step, not by the whole prompt */
        int B = 0, budget = S->o.chunk, prefills = 0;
        S->rr = (S->rr + 1) % P;
        for (int k = 0; k < P; k++) {
            int i = (S->rr + k) % P;
            slot *sl = &S->slots[i];
            if (!sl->r) continue;
            if (atomic_load(&sl->r->cancel) || (stopping && ld_now() > deadline)) {
                finish(sl->r, LD_FIN_CANCELLED, "cancelled");
                release_slot(S, sl);
                continue;
            }
            if (sl->fed < sl->r->n_prompt) {
                int c = chunk_len(S, sl);
                if (prefills && c > budget) continue; /* next step */
                budget -= c;
                prefills++;
                ss[B] = sl->s;
                ids[B] = sl->r->prompt + sl->fed;
                n[B] = c;
            } else {
                ss[B] = sl->s;
                S->tokbuf[i] = sl->last;
                ids[B] = &S->tokbuf[i];
                n[B] = 1;
            }
            which[B++] = i;
        }
        if (!B) continue;
        int rc = ladder_eval_batch(ss, ids, n, B, S->logits, NULL);
        pthread_mutex_lock(&S->mu);
        S->st.steps++;
        pthread_mutex_unlock(&S->mu);
        for (int b = 0; b < B; b++) {
            slot *sl = &S->slots[which[b]];
            if (rc) {
                finish(sl->r, LD_FIN_ERROR, ladder_last_error());
                release_slot(S, sl);
                continue;
            }
            int prefilling = sl->fed < sl->r->n_prompt;
            if (prefilling) sl->fed += n[b];
            if (prefilling && sl->fed == sl->r->cache_at) remember(S, sl->r->prompt, sl->s);
            if (prefilling && sl->fed < sl->r->n_prompt) continue; /* more prompt to read */
            if (push_token(S, sl, S->logits + (size_t)b * (size_t)S->info->vocab_size)) {
                remember_sequence(S, sl);
                release_slot(S, sl);
            }
        }
    }
    free(ss);
    free(ids);
    free(n);
    free(which);
    return NULL;
}

ld_sched *ld_sched_new(ladder_engine *e, const ld_sched_opts *o) {
    ld_sched *S = calloc(1, sizeof *S);
    if (!S) return NULL;
    S->e = e;
    S->info = ladder_engine_info(e);
    S->o = *o;
    if (S->o.chunk <= 0) S->o.chunk = LD_SCHED_CHUNK;
    S->slots = calloc((size_t)o->parallel, sizeof *S->slots);
    S->logits = malloc(sizeof(float) * (size_t)o->parallel * (size_t)S->info->vocab_size);
    S->tokbuf = malloc(sizeof(int) * (size_t)o->parallel);
    pthread_mutex_init(&S->mu, NULL);
    pthread_cond_init(&S->cv, NULL);
    if (!S->slots || !S->logits || !S->tokbuf) goto fail;
    ladder_session_opts so = {.context = o->context};
    for (int i = 0; i < o->parallel; i++)
        if (ladder_session_new(e, &so, &S->slots[i].s)) goto fail;
    S->st.slots = o->parallel;
    if (o->prefix_bytes && !(S->prefix = ld_prefix_new(o->prefix_bytes))) goto fail;
    ld_prefix_get_stats(S->prefix, &S->st.prefix);
    S->st.kv_bytes_total = (double)ladder_session_kv_bytes(e, o->context) * o->parallel;
    if (pthread_create(&S->th, NULL, loop, S)) goto fail;
    return S;
fail:
    ld_prefix_free(S->prefix);
    if (S->slots)
        for (int i = 0; i < o->parallel; i++) ladder_session_free(S->slots[i].s);
    free(S->slots);
    free(S->logits);
    free(S->tokbuf);
    free(S);
    return NULL;
}

int ld_sched_submit(ld_sched *S, ld_req *r) {
    pthread_mutex_lock(&S->mu);
    /* free slots take requests at the next step boundary: they count as room */
    int rc = S->stopping ? 2 : S->running + S->n_queued >= S->o.parallel + S->o.queue ? 1 : 0;
    if (!rc) {
        atomic_fetch_add(&r->refs, 1);
        r->t_submit = ld_now();
        r->next = NULL;
        if (S->tail) S->tail->next = r;
        else S->head = r;
        S->tail = r;
        S->n_queued++;
        pthread_cond_signal(&S->cv);
    }
    pthread_mutex_unlock(&S->mu);
    return rc;
}

void ld_sched_snapshot(ld_sched *S, ld_sched_stats *st) {
    pthread_mutex_lock(&S->mu);
    *st = S->st;
    st->running = S->running;
    st->queued = S->n_queued;
    st->kv_bytes_used = S->st.kv_bytes_total * S->running / (S->o.parallel ? S->o.parallel : 1);
    pthread_mutex_unlock(&S->mu);
}

void ld_sched_drain(ld_sched *S, double deadline_s) {
    pthread_mutex_lock(&S->mu);
    S->stopping = 1;
    S->deadline = ld_now() + deadline_s;
    /* queued requests never start */
    ld_req *q = S->head;
    S->head = S->tail = NULL;
    S->n_queued = 0;
    pthread_cond_signal(&S->cv);
    pthread_mutex_unlock(&S->mu);
    while (q) {
        ld_req *nx = q->next;
        finish(q, LD_FIN_CANCELLED, "the server is shutting down");
        ld_req_release(q);
        q = nx;
    }
}

void ld_sched_free(ld_sched *S) {
    if (!S) return;
    pthread_mutex_lock(&S->mu);
    S->quit = 1;
    pthread_cond_signal(&S->cv);
    pthread_mutex_unlock(&S->mu);
    pthread_join(S->th, NULL);
    for (int i = 0; i < S->o.parallel; i++) {
        if (S->slots[i].r) {
            finish(S->slots[i].r, LD_FIN_CANCELLED, "the server is shutting down");
            ld_req_release(S->slots[i].r);
            ld_sampler_free(&S->slots[i].smp);
        }
        ladder_session_free(S->slots[i].s);
    }
    ld_req *q = S->head;
    while (q) {
        ld_req *nx = q->next;
        finish(q, LD_FIN_CANCELLED, "the server is shutting down");
        ld_req_release(q);
        q = nx;
    }
    ld_prefix_free(S->prefix);
    pthread_mutex_destroy(&S->mu);
    pthread_cond_destroy(&S->cv);
    free(S->slots);
    free(S->logits);
    free(S->tokbuf);
    free(S);
}
