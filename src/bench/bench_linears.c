/* Linear rates per weight format (see bench_linears.h). */
#include "bench/bench_linears.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/roofline.h"
#include "core/error.h"
#include "model/schema.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    const ld_weight **w;
    int n, cap;
} wlist;

static int add(wlist *l, const ld_weight *w) {
    if (!w->data || w->n <= 0) return 0;
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        const ld_weight **p = realloc(l->w, sizeof *p * (size_t)cap);
        if (!p) return ld_set_error("out of memory");
        l->w = p, l->cap = cap;
    }
    l->w[l->n++] = w;
    return 0;
}

/* 0 BF16, 1 FP8 (wo_a's bf16 use included), 2 FP4, 3 I8, 4 FP4_I8 (the
 * w8a8 path's forms); -1 others */
#define GROUPS 5
static int group(const ld_weight *w) {
    switch (w->fmt) {
    case LD_WF_BF16: return 0;
    case LD_WF_FP8:
    case LD_WF_FP8_DQ: return 1;
    case LD_WF_FP4: return 2;
    case LD_WF_I8: return 3;
    case LD_WF_FP4_I8: return 4;
    default: return -1;
    }
}

typedef struct {
    const ld_model *m;
    wlist *g;
} collector;

/* What one decoded token multiplies: every main-block weight but the
 * routed experts, of which the first top-k stand in for the router's pick. */
static int collect_one(void *ctx, const ld_schema_item *it) {
    collector *k = ctx;
    if (!it->e->weight || it->mtp || (it->e->read == LD_SR_ROUTED && it->expert >= k->m->cfg.n_activated_experts))
        return 0;
    const ld_weight *w = ld_schema_cfield(k->m, it);
    return group(w) >= 0 ? add(&k->g[group(w)], w) : 0;
}

static int collect(const ld_model *m, wlist *g) {
    collector k = {m, g};
    return ld_schema_each(&m->cfg, collect_one, &k);
}

/* Seconds per pass of `rows` rows through the weights w[0..n): one warm
 * pass, then passes until `min_s` seconds have gone by. */
static double time_passes(const ld_model *m, const ld_weight *const *w, int n, const ld_bf16 *x, int rows, ld_bf16 *y,
                          double min_s) {
    int passes = 0;
    double t0 = 0;
    do {
        if (passes == 1) t0 = now_s();
        for (int j = 0; j < n; j++) m->be->ops->linear(m->be, w[j], x, rows, y);
        ld_be_sync(m->be); /* a device backend may still be running the pass */
        passes++;
    } while (passes < 3 || now_s() - t0 < min_s);
    return (now_s() - t0) / (passes - 1);
}

/* The first rows of the group's largest weight, as many as fit in
 * BENCH_CACHED_BYTES, in whole 128-row blocks (FP8 scales come per 128
 * rows): same k, same kernels, a working set that stays in cache. */
static ld_weight cached_slice(const wlist *g) {
    const ld_weight *big = g->w[0];
    for (int j = 1; j < g->n; j++)
        if (ld_weight_bytes(g->w[j]) > ld_weight_bytes(big)) big = g->w[j];
    ld_weight s = *big;
    double per_row = ld_weight_bytes(big) / big->n;
    long n = (long)((double)BENCH_CACHED_BYTES / per_row) / 128 * 128;
    s.n = n < 128 ? (big->n < 128 ? big->n : 128) : n < big->n ? (int)n : big->n;
    return s;
}

/* Passes alternating with plain reads of as many bytes (over buf, cap
 * bytes), for at least min_s: plain-read seconds over linear seconds. */
static double paired(const ld_model *m, const ld_weight *const *w, int n, const ld_bf16 *x, int rows, ld_bf16 *y,
                     const char *buf, size_t cap, double bytes, int threads, double min_s) {
    double tr = 0, tl = 0, t0 = now_s();
    for (int pass = 0; pass < 3 || now_s() - t0 < min_s; pass++) {
        double r = ld_read_bytes(buf, cap, bytes, threads), a = now_s();
        for (int j = 0; j < n; j++) m->be->ops->linear(m->be, w[j], x, rows, y);
        ld_be_sync(m->be);
        if (pass) tr += r, tl += now_s() - a; /* the first pair warms both */
    }
    return tl > 0 ? tr / tl : 0;
}

int bench_linear_rates(const ld_model *m, const int *rows, int n_rows, int threads, bench_linear_rate *out) {
    static const char *names[GROUPS] = {"BF16", "FP8", "FP4", "I8", "FP4_I8"};
    wlist g[GROUPS] = {{0}};
    int n_out = -1;
    ld_bf16 *x = NULL, *y = NULL, *xh = NULL; /* x and y in the backend's memory */
    if (collect(m, g)) goto done;
    long maxk = 0, maxn = 0;
    int maxrows = 1;
    for (int i = 0; i < GROUPS; i++)
        for (int j = 0; j < g[i].n; j++) {
            maxk = g[i].w[j]->k > maxk ? g[i].w[j]->k : maxk;
            maxn = g[i].w[j]->n > maxn ? g[i].w[j]->n : maxn;
        }
    for (int r = 0; r < n_rows; r++) maxrows = rows[r] > maxrows ? rows[r] : maxrows;
    xh = malloc(sizeof *xh * (size_t)(maxk * maxrows));
    x = ld_be_alloc(m->be, sizeof *x * (size_t)(maxk * maxrows));
    y = ld_be_alloc(m->be, sizeof *y * (size_t)(maxn * maxrows));
    if (!xh || !x || !y) { ld_set_error("out of memory"); goto done; }
    uint32_t s = 12345;
    for (long i = 0; i < maxk * maxrows; i++) {
        s = s * 1664525u + 1013904223u;
        xh[i] = ld_f32_to_bf16((float)((int)(s >> 9) - (1 << 22)) / (float)(1 << 22));
    }
    if (ld_be_upload(m->be, x, xh, sizeof *x * (size_t)(maxk * maxrows))) goto done;
    n_out = 0;
    for (int i = 0; i < GROUPS; i++) {
        if (!g[i].n) continue;
        double gbytes = 0;
        for (int j = 0; j < g[i].n; j++) gbytes += ld_weight_bytes(g[i].w[j]);
        size_t rb = (size_t)gbytes < LD_READ_CAP ? ((size_t)gbytes + 4095) & ~(size_t)4095 : LD_READ_CAP;
        char *buf = aligned_alloc(4096, rb);
        if (buf) memset(buf, 1, rb); /* faulted in before timing */
        for (int r = 0; r < n_rows; r++) {
            bench_linear_rate *o = &out[n_out++];
            *o = (bench_linear_rate){.format = names[i], .rows = rows[r]};
            for (int j = 0; j < g[i].n; j++) {
                o->bytes += ld_weight_bytes(g[i].w[j]);
                o->macs += (double)g[i].w[j]->n * g[i].w[j]->k * rows[r];
            }
            o->seconds = time_passes(m, g[i].w, g[i].n, x, rows[r], y, 0.5);
            ld_weight slice = cached_slice(&g[i]);
            const ld_weight *sp = &slice;
            o->cached_bytes = ld_weight_bytes(&slice);
            o->cached_seconds = time_passes(m, &sp, 1, x, rows[r], y, 0.3);
            o->paired_ratio = buf ? paired(m, g[i].w, g[i].n, x, rows[r], y, buf, rb, gbytes, threads, 0.5) : 0;
        }
        free(buf);
    }
done:
    for (int i = 0; i < GROUPS; i++) free(g[i].w);
    free(xh);
    ld_be_free(m->be, x);
    ld_be_free(m->be, y);
    return n_out;
}
