/* Sampling order follows the usual HF pipeline: temperature, then top-k,
 * top-p and min-p filters on the softmax of the tempered logits, then one
 * draw from the renormalized survivors. Candidates are sorted by probability
 * (ties: lower id first) so results do not depend on sort stability. */
#include "runtime/sampler.h"

#include <math.h>
#include <stdlib.h>

#include "core/error.h"

int ld_argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

int ld_sampler_init(ld_sampler *s, const ld_sampling *p, int vocab) {
    s->cand = NULL;
    if (!(p->temperature >= 0) || p->top_k < 0 || !(p->top_p > 0 && p->top_p <= 1) || !(p->min_p >= 0 && p->min_p <= 1))
        return ld_set_error("sampling parameters out of range (temperature >= 0, top-k >= 0, 0 < top-p <= 1, 0 <= min-p <= 1)");
    s->p = *p;
    s->vocab = vocab;
    s->state = p->seed ^ 0x853c49e6748fea9bull;
    s->cand = malloc(sizeof *s->cand * (size_t)vocab);
    if (!s->cand) {
        ld_sampler_free(s);
        return ld_set_error("out of memory");
    }
    return 0;
}

void ld_sampler_free(ld_sampler *s) {
    free(s->cand);
    s->cand = NULL;
}

static uint64_t next_u64(uint64_t *st) {
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int by_prob_desc(const void *a, const void *b) {
    const struct ld_cand *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id - y->id;
}

int ld_sampler_next(ld_sampler *s, const float *logits) {
    int V = s->vocab;
    struct ld_cand *c = s->cand;
    if (s->p.temperature == 0) return ld_argmax(logits, V);
    float mx = logits[ld_argmax(logits, V)];
    double sum = 0;
    for (int i = 0; i < V; i++) {
        c[i].p = (float)exp((double)(logits[i] - mx) / s->p.temperature);
        c[i].id = i;
        sum += c[i].p;
    }
    for (int i = 0; i < V; i++) c[i].p = (float)(c[i].p / sum);
    qsort(c, (size_t)V, sizeof *c, by_prob_desc);
    int n = V;
    if (s->p.top_k > 0 && s->p.top_k < n) n = s->p.top_k;
    if (s->p.top_p < 1) {
        double acc = 0;
        for (int i = 0; i < n; i++) {
            acc += c[i].p;
            if (acc >= s->p.top_p) { n = i + 1; break; }
        }
    }
    if (s->p.min_p > 0) {
        float thr = s->p.min_p * c[0].p;
        int m = 1;
        while (m < n && c[m].p >= thr) m++;
        n = m;
    }
    double tot = 0;
    for (int i = 0; i < n; i++) tot += c[i].p;
    double u = (double)(next_u64(&s->state) >> 11) * 0x1p-53 * tot, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += c[i].p;
        if (u < acc) return c[i].id;
    }
    return c[n - 1].id;
}
