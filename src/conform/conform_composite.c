/* Ops-level conformance of the data-movement ops and the composites: what
 * the model used to do on the host between ops, now in the interface so a
 * device backend can keep everything resident. Each runs against ref's host
 * implementation from identical inputs, with the checks of the harness.
 *
 * A composite the backend inherits from ref runs the backend's own
 * primitives inside, so it is bit-exact only when those are ref's too.
 *
 * Inputs follow the model: attention entries and queries as the model forms
 * them (bf16 of unit RMS), compressor state with -inf scores where a block
 * has not started, indexer inputs on a small integer grid so that every
 * score is exact in fp32 on any backend (the selection is then a pure
 * function of the inputs, ties included: to the lower index), router logits
 * of realistic spread, experts in their checkpoint formats. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "conform/conform_harness.h"
#include "core/error.h"

/* ------------------------------------------------------ data movement */

typedef struct {
    const ld_bf16 *table, *x;
    const int *ids;
    float s;
    int d, copies, n, width, pitch, block, fp4;
    long stride;
} mv_args;

static int run_embed(ld_backend *o, const void *a, int m, void *const *out) {
    const mv_args *v = a;
    return o->ops->embed(o, D(v->table), D(v->ids), m, v->d, v->copies, D((ld_bf16 *)out[0]));
}
/* rows of `width` values out of rows `pitch` apart, into rows pitch + 20 apart */
static int run_copy(ld_backend *o, const void *a, int m, void *const *out) {
    const mv_args *v = a;
    return o->ops->copy_rows(o, D(out[0]), sizeof(ld_bf16) * (size_t)(v->pitch + 20), D(v->x),
                             sizeof(ld_bf16) * (size_t)v->pitch, sizeof(ld_bf16) * (size_t)v->width, m);
}
static int run_widen(ld_backend *o, const void *a, int m, void *const *out) {
    const mv_args *v = a;
    return o->ops->widen(o, D(v->x), (long)m * v->n, D((float *)out[0]));
}
static int run_scale(ld_backend *o, const void *a, int m, void *const *out) {
    const mv_args *v = a;
    if (cf_dpush(out[0], v->x, sizeof(ld_bf16) * (size_t)m * v->n)) return -1;
    return o->ops->scale_bf16(o, D((ld_bf16 *)out[0]), (long)m * v->n, v->s);
}
static int run_quant(ld_backend *o, const void *a, int m, void *const *out) {
    const mv_args *v = a;
    if (cf_dpush(out[0], v->x, sizeof(ld_bf16) * (size_t)m * v->stride)) return -1;
    return o->ops->quant_sim(o, D((ld_bf16 *)out[0]), m, v->stride, v->n, v->block, v->fp4);
}

static void movement(ctx_t *c) {
    if (cf_wanted(c, "embed")) {
        int V = 300, d = 512;
        cf_seed_case(c, "embed", "vocab 300 x 512, 4 copies");
        ld_bf16 *t = cf_new_act(c, V, d, 1.0);
        int *ids = cf_alloc(c, sizeof(int) * 37, 0);
        for (int r = 0; r < 37; r++) ids[r] = r == 0 ? 0 : r == 1 ? V - 1 : (int)(cf_urand(&c->g) * V);
        mv_args a = {.table = t, .ids = ids, .d = d, .copies = 4};
        job_t j = cf_job("embed", SAME(embed), 37, 4, 1);
        snprintf(j.shape, sizeof j.shape, "vocab 300 x 512, 4 copies");
        cf_set_part(&j, "", K_BF16, 4L * d, T_EXACT);
        j.run = run_embed, j.args = &a;
        cf_add_in(&j, t, sizeof(ld_bf16) * (size_t)V * d);
        cf_run_job(c, &j);
        cf_free(t), cf_free(ids);
    }
    if (cf_wanted(c, "copy_rows")) {
        cf_seed_case(c, "copy_rows", "300 of 512, pitch 320");
        ld_bf16 *x = cf_new_act(c, 37, 512, 1.0);
        mv_args a = {.x = x, .width = 300, .pitch = 512};
        job_t j = cf_job("copy_rows", SAME(copy_rows), 37, 4, 1);
        snprintf(j.shape, sizeof j.shape, "300 of 512, dst pitch 532");
        cf_set_part(&j, "", K_BF16, 532, T_EXACT);
        j.run = run_copy, j.args = &a;
        cf_add_in(&j, x, sizeof(ld_bf16) * 37 * 512);
        cf_run_job(c, &j);
        cf_free(x);
    }
    if (cf_wanted(c, "widen") || cf_wanted(c, "scale_bf16")) {
        cf_seed_case(c, "widen", "rows of 4096");
        ld_bf16 *x = cf_new_act(c, 37, 4096, 1.0);
        x[5] = 0x7f80, x[6] = 0xff80, x[7] = 0x0001; /* inf, -inf, a subnormal */
        mv_args a = {.x = x, .n = 4096, .s = (float)(1.0 / sqrt(128.0 * 64.0))};
        const char *ops[2] = {"widen", "scale_bf16"};
        for (int k = 0; k < 2; k++) {
            if (!cf_wanted(c, ops[k])) continue;
            job_t j = cf_job(ops[k], k ? SAME(scale_bf16) : SAME(widen), 37, 4, 1);
            snprintf(j.shape, sizeof j.shape, k ? "rows of 4096, x 2^-6.5" : "rows of 4096, inf and subnormal");
            cf_set_part(&j, "", k ? K_BF16 : K_F32, 4096, T_EXACT);
            j.run = k ? run_scale : run_widen, j.args = &a;
            cf_add_in(&j, x, sizeof(ld_bf16) * 37 * 4096);
            cf_run_job(c, &j);
        }
        cf_free(x);
    }
    static const struct { const char *label; int n, stride, block, fp4; } QS[] = {
        {"fp8 kv nope 448 of 512, blocks of 64", 448, 512, 64, 0},
        {"fp4 idx 128, blocks of 32", 128, 128, 32, 1},
        {"fp8 rand 128 of 200, blocks of 64", 128, 200, 64, 0}};
    for (size_t i = 0; i < sizeof QS / sizeof QS[0] && cf_wanted(c, "quant_sim"); i++) {
        cf_seed_case(c, "quant_sim", QS[i].label);
        ld_bf16 *x = cf_new_act(c, 37, QS[i].stride, 1.0);
        cf_fill_act(c, x + 2L * QS[i].stride, 1, QS[i].stride, 300.0); /* past e4m3's range before scaling */
        memset(x + 3L * QS[i].stride, 0, sizeof(ld_bf16) * (size_t)QS[i].stride);
        mv_args a = {.x = x, .n = QS[i].n, .stride = QS[i].stride, .block = QS[i].block, .fp4 = QS[i].fp4};
        job_t j = cf_job("quant_sim", SAME(quant_sim), 37, 4, 1);
        snprintf(j.shape, sizeof j.shape, "%s", QS[i].label);
        cf_set_part(&j, "", K_BF16, QS[i].stride, T_EXACT);
        j.run = run_quant, j.args = &a;
        cf_add_in(&j, x, sizeof(ld_bf16) * 37 * (size_t)QS[i].stride);
        cf_run_job(c, &j);
        cf_free(x);
    }
}

/* ---------------------------------------------------------- attention */

typedef struct {
    ld_attend_args a;
    int comp_n;
} att2_args;

static int run_attend(ld_backend *o, const void *va, int m, void *const *out) {
    const att2_args *v = va;
    ld_attend_args a = v->a;
    a.rows = m;
    a.q = D(a.q), a.kv_new = D(a.kv_new), a.ring = D(a.ring), a.comp = D(a.comp), a.comp_idx = D(a.comp_idx);
    a.sink = D(a.sink), a.out = D((ld_bf16 *)out[0]);
    return o->ops->attend(o, &a);
}

static void attends(ctx_t *c) {
    /* P: the segment's first position; W: window slots listed (the first call
     * of a sequence lists min(S, window)); kind: 0 window only, r > 0 all
     * compressed entries of ratio r, -1 an indexer selection */
    static const struct { const char *label; int h, d, win, P, W, kind, comp_n, k_max; } AT[] = {
        {"window only, first call, 37 of 128", 64, 512, 128, 0, 37, 0, 0, 0},
        {"window ring wraps, P 1000", 64, 512, 128, 1000, 128, 0, 0, 0},
        {"hca ratio 16, P 2000 (125 entries)", 64, 512, 128, 2000, 128, 16, 130, 0},
        {"csa top-64 of 600, -1 padded", 64, 512, 128, 2400, 128, -1, 600, 64},
        {"rand 3x64, window 8, hca ratio 4", 3, 64, 8, 50, 8, 4, 30, 0}};
    for (size_t i = 0; i < sizeof AT / sizeof AT[0] && cf_wanted(c, "attend"); i++) {
        int h = AT[i].h, d = AT[i].d, mmax = 37;
        if (c->o->reduced && h > 16) h = 16;
        cf_seed_case(c, "attend", AT[i].label);
        ld_bf16 *q = cf_new_act(c, (long)mmax * h, d, 1.0), *kv = cf_new_act(c, mmax, d, 1.0);
        ld_bf16 *ring = cf_new_act(c, AT[i].win, d, 1.0);
        ld_bf16 *comp = AT[i].comp_n ? cf_new_act(c, AT[i].comp_n, d, 1.0) : NULL;
        /* queries aligned with a few entries, so the softmax is not flat */
        for (long t = 0; t < (long)mmax * h; t++)
            for (int k = 0; k < d; k++)
                q[t * d + k] = ld_f32_to_bf16(ld_bf16_to_f32(q[t * d + k]) + 2.0f * ld_bf16_to_f32(ring[(t % AT[i].win) * d + k]));
        int *sel = NULL;
        if (AT[i].kind < 0) {
            sel = cf_alloc(c, sizeof(int) * (size_t)mmax * AT[i].k_max, 0);
            for (int t = 0; t < mmax; t++) {
                int valid = AT[i].k_max - (t * 7) % 20; /* the rest -1, as a short prefix selects */
                for (int k = 0; k < AT[i].k_max; k++)
                    sel[t * AT[i].k_max + k] = k < valid ? (int)(cf_urand(&c->g) * AT[i].comp_n) : -1;
            }
        }
        float *sink = cf_new_f32(c, h, 0, 1.0);
        att2_args a = {.a = {.q = q, .h = h, .d = d, .kv_new = kv, .ring = ring, .window = AT[i].win, .W = AT[i].W,
                             .P = AT[i].P, .comp = comp, .comp_idx = sel, .k_max = AT[i].k_max,
                             .comp_ratio = AT[i].kind > 0 ? AT[i].kind : 0, .sink = sink,
                             .scale = 1.0f / sqrtf((float)d)}};
        job_t j = cf_job("attend", SAME(attend) && SAME(sparse_attn), mmax, 4, 1);
        snprintf(j.shape, sizeof j.shape, "%dx%d %s", h, d, AT[i].label);
        cf_set_part(&j, "", K_BF16, (long)h * d, T_CHAIN);
        j.run = run_attend, j.args = &a;
        cf_add_in(&j, q, sizeof(ld_bf16) * (size_t)mmax * h * d);
        cf_add_in(&j, ring, sizeof(ld_bf16) * (size_t)AT[i].win * d);
        cf_run_job(c, &j);
        cf_free(q), cf_free(kv), cf_free(ring), cf_free(comp), cf_free(sel), cf_free(sink);
    }
}

/* ---------------------------------------------------------- compressor */

typedef struct {
    ld_compress_args a;
    const float *kv0, *sc0, *ks0, *ss0;   /* initial projections and state */
    float *kv, *sc;                       /* scratch the op modifies */
    long state_n, cache_n;
} cmp_args;

/* One call: the outputs are the cache and the two state buffers after it. */
static int run_compress(ld_backend *o, const void *va, int m, void *const *out) {
    const cmp_args *v = va;
    (void)m;
    ld_compress_args a = v->a;
    size_t cd = (size_t)(1 + a.overlap) * a.d, st = sizeof(float) * (size_t)v->state_n;
    if (cf_dpush(v->kv, v->kv0, sizeof(float) * a.S * cd) || cf_dpush(v->sc, v->sc0, sizeof(float) * a.S * cd) ||
        cf_dpush(out[1], v->ks0, st) || cf_dpush(out[2], v->ss0, st))
        return -1;
    a.kv = D(v->kv), a.sc = D(v->sc), a.ape = D(a.ape), a.norm = D(a.norm), a.cs_emit = D(a.cs_emit);
    a.cache = D((ld_bf16 *)out[0]), a.kv_state = D((float *)out[1]), a.sc_state = D((float *)out[2]);
    return o->ops->compress(o, &a);
}

static void compressors(ctx_t *c) {
    static const struct { const char *label; int ratio, d, rotate, P, S, n0; } CM[] = {
        {"csa r4 overlap 512, P5 S37", 4, 512, 0, 5, 37, 1},
        {"csa first blocks, P0 S9", 4, 512, 0, 0, 9, 0},
        {"idx r4 overlap 128, rotated", 4, 128, 1, 6, 21, 1},
        {"hca r128 x 512, P100 S37", 128, 512, 0, 100, 37, 0}};
    for (size_t i = 0; i < sizeof CM / sizeof CM[0] && cf_wanted(c, "compress"); i++) {
        int r = CM[i].ratio, d = CM[i].d, ov = r == 4, cd = (1 + ov) * d, S = CM[i].S, rd = 64;
        long P = CM[i].P, blocks = (P + S) / r - P / r, cap = CM[i].n0 + blocks + 1;
        long state_n = (long)(1 + ov) * r * cd;
        cf_seed_case(c, "compress", CM[i].label);
        float *kv0 = cf_new_f32(c, (long)S * cd, 0, 1.0), *sc0 = cf_new_f32(c, (long)S * cd, 0, 2.0);
        float *kv = cf_alloc(c, sizeof(float) * (size_t)S * cd, 0), *sc = cf_alloc(c, sizeof(float) * (size_t)S * cd, 0);
        float *ape = cf_new_f32(c, (long)r * cd, 0, 0.5);
        float *ks0 = cf_new_f32(c, state_n, 0, 1.0), *ss0 = cf_new_f32(c, state_n, 0, 2.0);
        /* state as a sequence at P leaves it: rows of positions not reached yet are empty */
        for (long row = 0; row < (1 + ov) * r; row++) {
            long blk_row = ov ? row - r : row; /* the current block's slot */
            int empty = P == 0 ? 1 : blk_row >= P % r;
            if (ov && row < r) empty = P < r; /* the previous block exists once one completed */
            if (empty)
                for (int k = 0; k < cd; k++) ks0[row * cd + k] = 0, ss0[row * cd + k] = -INFINITY;
        }
        ld_bf16 *norm = cf_alloc(c, sizeof(ld_bf16) * (size_t)d, 0);
        for (int k = 0; k < d; k++) norm[k] = ld_f32_to_bf16(1.0f + 0.2f * cf_nrand(&c->g));
        float *cs = cf_alloc(c, sizeof(float) * (size_t)(blocks + 1) * rd, 0);
        for (long b = 0; b <= blocks; b++)
            for (int k = 0; k < rd / 2; k++) {
                double ang = (double)(P + b * r) * pow(10000.0, -2.0 * k / rd);
                cs[b * rd + k] = (float)cos(ang), cs[b * rd + rd / 2 + k] = (float)sin(ang);
            }
        cmp_args a = {.a = {.S = S, .P = P, .ape = ape, .n0 = CM[i].n0, .ratio = r, .d = d, .overlap = ov,
                            .rope_dim = rd, .rotate = CM[i].rotate, .norm = norm, .norm_eps = 1e-6f, .cs_emit = cs},
                      .kv0 = kv0, .sc0 = sc0, .ks0 = ks0, .ss0 = ss0, .kv = kv, .sc = sc, .state_n = state_n,
                      .cache_n = cap * d};
        job_t j = cf_job("compress", SAME(compress) && SAME(compress_pool) && SAME(rmsnorm) && SAME(rope) && SAME(hadamard), 1, 0, 0);
        snprintf(j.shape, sizeof j.shape, "%s (%ld blocks)", CM[i].label, blocks);
        /* entries before n0 and after the last block stay as they were (NaN patterns) */
        cf_set_part(&j, " ->cache", K_BF16, cap * d, T_CHAIN);
        cf_set_part(&j, " ->kv state", K_F32, state_n, T_F32);
        cf_set_part(&j, " ->score state", K_F32, state_n, T_F32);
        j.run = run_compress, j.args = &a;
        cf_add_in(&j, kv0, sizeof(float) * (size_t)S * cd);
        cf_add_in(&j, ape, sizeof(float) * (size_t)r * cd);
        cf_run_job(c, &j);
        cf_free(kv0), cf_free(sc0), cf_free(kv), cf_free(sc), cf_free(ape), cf_free(ks0), cf_free(ss0);
        cf_free(norm), cf_free(cs);
    }
}

/* ------------------------------------------------------------- indexer */

static int run_select(ld_backend *o, const void *va, int m, void *const *out) {
    ld_select_args a = *(const ld_select_args *)va;
    a.S = m;
    a.q = D(a.q), a.w = D(a.w), a.keys = D(a.keys), a.sel = D((int *)out[0]);
    return o->ops->indexer_select(o, &a);
}

/* values in {-1, 0, 1} (dots exact) and head weights of 2^-6: every score
 * is exact in fp32, so any backend must select the same entries */
static ld_bf16 *grid(ctx_t *c, long n) {
    ld_bf16 *x = cf_alloc(c, sizeof(ld_bf16) * (size_t)n, 0);
    for (long i = 0; i < n; i++) x[i] = ld_f32_to_bf16((float)((int)(cf_urand(&c->g) * 3) - 1));
    return x;
}

static void selections(ctx_t *c) {
    static const struct { const char *label; int h, d, P, topk; } IS[] = {
        {"64 heads x 128, P 2000, top-64", 64, 128, 2000, 64},
        {"64 heads x 128, P 10 (fewer keys than k)", 64, 128, 10, 64},
        {"rand 4x32, P 300, top-16", 4, 32, 300, 16}};
    for (size_t i = 0; i < sizeof IS / sizeof IS[0] && cf_wanted(c, "indexer_select"); i++) {
        int h = IS[i].h, d = IS[i].d, mmax = 37, nk = (IS[i].P + mmax) / 4 + 1;
        cf_seed_case(c, "indexer_select", IS[i].label);
        ld_bf16 *q = grid(c, (long)mmax * h * d), *keys = grid(c, (long)nk * d);
        ld_bf16 *w = cf_alloc(c, sizeof(ld_bf16) * (size_t)mmax * h, 0);
        for (long k = 0; k < (long)mmax * h; k++) w[k] = ld_f32_to_bf16(cf_urand(&c->g) < 0.5 ? 1.0f / 64 : 1.0f / 32);
        ld_select_args a = {.q = q, .w = w, .h = h, .d = d, .P = IS[i].P, .keys = keys, .topk = IS[i].topk,
                            .k_max = IS[i].topk};
        job_t j = cf_job("indexer_select", SAME(indexer_select) && SAME(indexer_scores) && SAME(topk), mmax, 4, 1);
        snprintf(j.shape, sizeof j.shape, "%s", IS[i].label);
        cf_set_part(&j, "", K_I32, IS[i].topk, T_EXACT);
        j.run = run_select, j.args = &a;
        cf_add_in(&j, keys, sizeof(ld_bf16) * (size_t)nk * d);
        cf_run_job(c, &j);
        cf_free(q), cf_free(keys), cf_free(w);
    }
}

/* ----------------------------------------------------------------- MoE */

typedef struct {
    ld_route_args a;
    const float *logits0;
    float *logits;
} route2_args;

static int run_route(ld_backend *o, const void *va, int m, void *const *out) {
    const route2_args *v = va;
    ld_route_args a = v->a;
    a.S = m;
    if (cf_dpush(v->logits, v->logits0, sizeof(float) * (size_t)m * a.E)) return -1;
    a.logits = D(v->logits), a.bias = D(a.bias), a.tid2eid = D(a.tid2eid), a.ids = D(a.ids);
    a.idx = D((int *)out[0]), a.wt = D((float *)out[1]);
    return o->ops->moe_route(o, &a);
}

typedef struct {
    ld_moe_args a;
    int n_w;
} experts_args;

static int run_experts(ld_backend *o, const void *va, int m, void *const *out) {
    const experts_args *v = va;
    ld_moe_args a = v->a;
    int E = a.E, rc = -1, done = 0;
    ld_expert_w *xw = malloc(sizeof *xw * (size_t)(E + 1));
    if (!xw) return ld_set_error("out of memory");
    for (; done < E + 1; done++) {
        const ld_expert_w *h = done < E ? &a.experts[done] : a.shared;
        ld_weight *d[3] = {&xw[done].w1, &xw[done].w2, &xw[done].w3};
        const ld_weight *s[3] = {&h->w1, &h->w2, &h->w3};
        int k = 0;
        for (; k < 3 && !cf_with_weight(o, s[k], d[k]); k++) {}
        if (k < 3) {
            for (int u = 0; u < k; u++) cf_done_weight(o, d[u]);
            goto out;
        }
    }
    a.S = m;
    a.experts = xw, a.shared = &xw[E];
    a.x = D(a.x), a.idx = D(a.idx), a.wt = D(a.wt), a.out = D((ld_bf16 *)out[0]);
    a.experts_used = NULL;
    rc = o->ops->moe_experts(o, &a);
out:
    for (int e = 0; e < done; e++) cf_done_weight(o, &xw[e].w1), cf_done_weight(o, &xw[e].w2), cf_done_weight(o, &xw[e].w3);
    free(xw);
    return rc;
}

static void moes(ctx_t *c) {
    if (cf_wanted(c, "moe_route")) {
        static const struct { const char *label; int E, K, hash; } RT[] = {
            {"flash 6 of 256, bias", 256, 6, 0}, {"hash layer, 6 of 256 by token", 256, 6, 1}, {"rand 2 of 5", 5, 2, 0}};
        for (size_t i = 0; i < sizeof RT / sizeof RT[0]; i++) {
            int E = RT[i].E, K = RT[i].K, V = 97, mmax = 37;
            cf_seed_case(c, "moe_route", RT[i].label);
            float *lg0 = cf_new_f32(c, (long)mmax * E, 0, 2.0), *lg = cf_alloc(c, sizeof(float) * (size_t)mmax * E, 0);
            float *bias = cf_new_f32(c, E, 0, 0.1);
            int64_t *t2e = cf_alloc(c, sizeof(int64_t) * (size_t)V * K, 0);
            int *ids = cf_alloc(c, sizeof(int) * (size_t)mmax, 0);
            for (long k = 0; k < (long)V * K; k++) t2e[k] = (int64_t)(cf_urand(&c->g) * E);
            for (int t = 0; t < mmax; t++) ids[t] = (int)(cf_urand(&c->g) * V);
            route2_args a = {.a = {.E = E, .K = K, .bias = RT[i].hash ? NULL : bias, .tid2eid = RT[i].hash ? t2e : NULL,
                                   .ids = ids, .route_scale = 2.5f},
                             .logits0 = lg0, .logits = lg};
            job_t j = cf_job("moe_route", SAME(moe_route) && SAME(topk), mmax, 4, 1);
            snprintf(j.shape, sizeof j.shape, "%s", RT[i].label);
            cf_set_part(&j, " ->experts", K_I32, K, T_EXACT);
            cf_set_part(&j, " ->weights", K_F32, K, T_F32);
            j.run = run_route, j.args = &a;
            cf_add_in(&j, lg0, sizeof(float) * (size_t)mmax * E);
            cf_run_job(c, &j);
            cf_free(lg0), cf_free(lg), cf_free(bias), cf_free(t2e), cf_free(ids);
        }
    }
    if (cf_wanted(c, "moe_experts")) {
        /* FP4 routed experts and an FP8 shared one, as V4 stores them; some
           rows pick an expert twice (a hash table may), which counts once */
        int E = c->o->reduced ? 6 : 12, K = 3, dim = 512, inter = 256, mmax = 37;
        cf_seed_case(c, "moe_experts", "fp4 experts 512->256->512");
        wbuf *wb = malloc(sizeof *wb * (size_t)(3 * E + 3));
        ld_expert_w *xw = malloc(sizeof *xw * (size_t)(E + 1));
        if (!wb || !xw) { free(wb), free(xw); longjmp(c->oom, 1); }
        for (int e = 0; e <= E; e++) {
            ld_wfmt f = e < E ? LD_WF_FP4 : LD_WF_FP8;
            wb[3 * e] = cf_make_weight(c, f, inter, dim);
            wb[3 * e + 1] = cf_make_weight(c, f, dim, inter);
            wb[3 * e + 2] = cf_make_weight(c, f, inter, dim);
            xw[e] = (ld_expert_w){wb[3 * e].w, wb[3 * e + 1].w, wb[3 * e + 2].w};
        }
        ld_bf16 *x = cf_new_act(c, mmax, dim, 1.0);
        int *idx = cf_alloc(c, sizeof(int) * (size_t)mmax * K, 0);
        float *wt = cf_new_f32(c, (long)mmax * K, 0, 1);
        for (int t = 0; t < mmax; t++)
            for (int k = 0; k < K; k++) {
                idx[t * K + k] = t % 9 == 4 && k == 2 ? idx[t * K] : (int)(cf_urand(&c->g) * E);
                wt[t * K + k] = (float)(0.2 + 0.6 * cf_urand(&c->g));
            }
        experts_args a = {.a = {.experts = xw, .shared = &xw[E], .E = E, .K = K, .dim = dim, .inter = inter,
                                .swiglu_limit = 10.0f, .x = x, .idx = idx, .wt = wt}};
        job_t j = cf_job("moe_experts", SAME(moe_experts) && SAME(linear) && SAME(swiglu), mmax, 4, 1);
        snprintf(j.shape, sizeof j.shape, "%d experts + shared, top-%d, fp4 512->256->512", E, K);
        cf_set_part(&j, "", K_BF16, dim, T_REQUANT);
        j.run = run_experts, j.args = &a;
        cf_add_in(&j, x, sizeof(ld_bf16) * (size_t)mmax * dim);
        cf_run_job(c, &j);
        for (int k = 0; k < 3 * E + 3; k++) cf_free_weight(&wb[k]);
        free(wb), free(xw);
        cf_free(x), cf_free(idx), cf_free(wt);
    }
}

void cf_composites(ctx_t *c) {
    movement(c);
    attends(c);
    compressors(c);
    selections(c);
    moes(c);
}
