#include "runtime/generate.h"

#include <stdlib.h>
#include <time.h>

#include "core/error.h"

double ld_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int ld_generate(ladder_session *s, const int *prompt, int n_prompt, const ld_gen_opts *o, ld_gen_stats *st) {
    const ladder_info *c = ladder_engine_info(ladder_session_engine(s));
    *st = (ld_gen_stats){.prompt_tokens = n_prompt};
    if (n_prompt <= 0) return ld_set_error("the prompt is empty");
    ld_sampler smp;
    if (ld_sampler_init(&smp, &o->sampling, c->vocab_size)) return -1;
    float *logits = malloc(sizeof(float) * (size_t)c->vocab_size);
    int rc = -1;
    if (!logits) { ld_set_error("out of memory"); goto out; }
    double t0 = ld_now();
    /* Long prompts go in 512-token calls so progress can be shown; chunks of
       at least one window give the same bits as one call. */
    int chunk = o->prefill_chunk > 0 ? o->prefill_chunk
                : (n_prompt > 1024 && c->window <= 512) ? 512 : n_prompt;
    for (int i = 0; i < n_prompt; i += chunk) {
        int len = n_prompt - i < chunk ? n_prompt - i : chunk;
        if (ladder_eval(s, prompt + i, len, LADDER_LOGITS_LAST, logits, NULL)) goto out;
        if (o->on_prefill) o->on_prefill(o->ctx, i + len, n_prompt);
    }
    double t1 = ld_now();
    st->prefill_s = t1 - t0;
    for (int k = 0; k < o->max_new; k++) {
        int tok = ld_sampler_next(&smp, logits);
        st->new_tokens++;
        if (o->on_token && o->on_token(o->ctx, tok)) break;
        if (o->stop_at_eos && tok == c->eos_id) break;
        if (k + 1 == o->max_new) break;
        if (ladder_eval(s, &tok, 1, LADDER_LOGITS_LAST, logits, NULL)) goto out;
    }
    st->decode_s = ld_now() - t1;
    rc = 0;
out:
    free(logits);
    ld_sampler_free(&smp);
    return rc;
}
