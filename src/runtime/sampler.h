/* Token sampling: greedy, temperature, top-k, top-p, min-p, seeded. */
#ifndef LADDER_RUNTIME_SAMPLER_H
#define LADDER_RUNTIME_SAMPLER_H

#include <stdint.h>

typedef struct {
    float temperature; /* 0 = greedy (argmax, lowest id on ties) */
    int top_k;         /* 0 = off */
    float top_p;       /* 1 = off */
    float min_p;       /* 0 = off: drop tokens with p < min_p * p_max */
    uint64_t seed;
} ld_sampling;

typedef struct {
    ld_sampling p;
    uint64_t state;
    struct ld_cand { float p; int id; } *cand, *tmp; /* scratch [vocab] each */
    int vocab;
} ld_sampler;

int ld_sampler_init(ld_sampler *s, const ld_sampling *p, int vocab);
void ld_sampler_free(ld_sampler *s);
/* Picks the next token from fp32 logits (not modified). */
int ld_sampler_next(ld_sampler *s, const float *logits);
int ld_argmax(const float *x, int n);

#endif
