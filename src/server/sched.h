/* The server's scheduler: continuous batching over a fixed pool of sessions.
 *
 * One thread owns the engine. Each step it admits queued requests into free
 * slots, then runs one ladder_eval_batch over every active slot: a prefill
 * chunk for slots still reading their prompt, one token for the decoding
 * ones, so each weight is read once per step for all of them. Chunks are cut
 * from the request alone (never from the batch), the first at least one
 * window long, so a request's tokens are the same whether it runs alone or
 * beside others (ladder.h's promises). A request whose prompt starts with a
 * cached prefix resumes from its snapshot (server/prefix.h); prompts are
 * snapshotted where their last message starts, and sequences where they
 * end, for the requests that extend them. */
#ifndef LADDER_SERVER_SCHED_H
#define LADDER_SERVER_SCHED_H

#include <pthread.h>
#include <stdatomic.h>

#include "ladder.h"
#include "runtime/sampler.h"
#include "server/prefix.h"

typedef enum { LD_FIN_NONE = 0, LD_FIN_STOP, LD_FIN_LENGTH, LD_FIN_CANCELLED, LD_FIN_ERROR } ld_finish;

/* One generation request; the HTTP side owns it and keeps it alive until
 * ld_req_release after the scheduler said done. */
typedef struct ld_req {
    /* in */
    int *prompt;
    int n_prompt;
    int max_new;
    int stop_at_eos;
    ld_sampling sampling;
    int want_logprobs; /* top alternatives per token, 0..LD_MAX_TOP (-1: none) */
    /* a prompt position worth a snapshot for later requests (0: none): where
       the last message starts, which a conversation's next turn extends */
    int cache_at;
    /* out, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int *out;
    float *logprob;                /* [n_out] when want_logprobs >= 0 */
    int *top_id;                   /* [n_out * want_logprobs] */
    float *top_lp;
    int n_out, cap;
    int cached;                    /* prompt tokens resumed from the prefix cache */
    ld_finish finish;              /* set once, when done */
    char error[256];
    double t_submit, t_first, t_last, t_done;
    atomic_int cancel;             /* set by the client side: stop at the next step */
    atomic_int refs;               /* the HTTP side and the scheduler */
    struct ld_req *next;
} ld_req;

enum { LD_MAX_TOP = 20 };

ld_req *ld_req_new(const int *prompt, int n_prompt);
void ld_req_release(ld_req *r);

typedef struct ld_sched ld_sched;

/* Prefill tokens per step by default: on a compute-bound CPU prefill, a
 * chunk's time is what every decoding sequence waits in that step, while
 * larger chunks gain little (the weights are read once per step either way). */
#define LD_SCHED_CHUNK 64

typedef struct {
    int parallel;    /* sessions decoded together */
    long context;    /* positions each session reserves */
    int queue;       /* requests waiting beyond the running ones */
    int chunk;       /* prefill tokens per step, all sequences together (0: LD_SCHED_CHUNK) */
    size_t prefix_bytes; /* bound on the prefix cache's snapshots (0: none) */
    /* (optional) each gap between two consecutive tokens of a request, in
       seconds, called on the scheduler's thread */
    void (*on_gap)(void *user, double seconds);
    void *user;
} ld_sched_opts;

/* Counters for /metrics (read under ld_sched_snapshot). */
typedef struct {
    long running, queued, slots;
    long prompt_tokens, generated_tokens;
    double kv_bytes_used, kv_bytes_total;
    long steps;
    ld_prefix_stats prefix;
} ld_sched_stats;

ld_sched *ld_sched_new(ladder_engine *e, const ld_sched_opts *o);
/* 0: queued; 1: the queue is full (429); 2: stopping (503). */
int ld_sched_submit(ld_sched *s, ld_req *r);
void ld_sched_snapshot(ld_sched *s, ld_sched_stats *st);
/* Stops admitting; requests still running after deadline_s are cancelled. */
void ld_sched_drain(ld_sched *s, double deadline_s);
void ld_sched_free(ld_sched *s);

#endif
