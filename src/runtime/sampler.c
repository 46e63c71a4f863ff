/* Sampling order follows the usual HF pipeline: temperature, then top-k,
 * top-p and min-p filters on the softmax of the tempered logits, then one
 * draw from the renormalized survivors. Candidates are ordered by
 * probability (ties: lower id first), so a seed gives the same token
 * whatever the sort. */
#include "runtime/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int ld_argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

int ld_sampler_init(ld_sampler *s, const ld_sampling *p, int vocab) {
    s->cand = s->tmp = NULL;
    if (!(p->temperature >= 0) || p->top_k < 0 || !(p->top_p > 0 && p->top_p <= 1) || !(p->min_p >= 0 && p->min_p <= 1))
        return ld_set_error("sampling parameters out of range (temperature >= 0, top-k >= 0, 0 < top-p <= 1, 0 <= min-p <= 1)");
    s->p = *p;
    s->vocab = vocab;
    s->state = p->seed ^ 0x853c49e6748fea9bull;
    s->cand = malloc(sizeof *s->cand * (size_t)vocab);
    s->tmp = malloc(sizeof *s->tmp * (size_t)vocab);
    if (!s->cand || !s->tmp) {
        ld_sampler_free(s);
        return ld_set_error("out of memory");
    }
    return 0;
}

void ld_sampler_free(ld_sampler *s) {
    free(s->cand);
    free(s->tmp);
    s->cand = s->tmp = NULL;
}

static uint64_t next_u64(uint64_t *st) {
    uint64_t z = (*st += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Sorts c[0..n), given in id order, by probability, highest first, ties
 * by lower id: a stable radix sort on the bit patterns of the probabilities
 * (non-negative floats order like their bits), a byte per pass. A
 * comparison sort of a 129k-token vocabulary cost about as much as a fifth
 * of a decode step. */
static void sort_desc(struct ld_cand *c, struct ld_cand *tmp, int n) {
    struct ld_cand *src = c, *dst = tmp;
    for (int shift = 0; shift < 32; shift += 8) {
        int cnt[257] = {0};
        for (int i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &src[i].p, sizeof u);
            cnt[((~u >> shift) & 255) + 1]++;
        }
        int same = 0;
        for (int b = 1; b <= 256; b++) same |= cnt[b] == n;
        if (same) continue; /* every key has this byte: the pass would not move anything */
        for (int b = 1; b <= 256; b++) cnt[b] += cnt[b - 1];
        for (int i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &src[i].p, sizeof u);
            dst[cnt[(~u >> shift) & 255]++] = src[i];
        }
        struct ld_cand *t = src;
        src = dst, dst = t;
    }
    if (src != c) memcpy(c, src, sizeof *c * (size_t)n);
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
    sort_desc(c, s->tmp, V);
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
