/* Prompt -> tokens loop over one session, with timing. */
#ifndef LADDER_RUNTIME_GENERATE_H
#define LADDER_RUNTIME_GENERATE_H

#include "ladder.h"
#include "runtime/sampler.h"

typedef struct {
    int max_new;       /* tokens to generate */
    int prefill_chunk; /* 0: automatic (one call, or 512-token calls for long prompts) */
    int stop_at_eos;
    ld_sampling sampling;
    /* called with each new token; return non-zero to stop */
    int (*on_token)(void *ctx, int token);
    /* (optional) called after each prefill call with tokens done / total */
    void (*on_prefill)(void *ctx, int done, int total);
    void *ctx;
} ld_gen_opts;

typedef struct {
    int prompt_tokens, new_tokens;
    double prefill_s, decode_s;
} ld_gen_stats;

/* Prefills the prompt, then samples up to max_new tokens, each fed back as a
 * single decode step; the session keeps the sequence. */
int ld_generate(ladder_session *s, const int *prompt, int n_prompt, const ld_gen_opts *o, ld_gen_stats *st);
double ld_now(void);

#endif
