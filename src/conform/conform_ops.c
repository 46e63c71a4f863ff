/* Ops-level conformance: every slot of the operator interface, run on the
 * backend under test and on ref from identical inputs, compared against a
 * per-operator tolerance (docs/CONFORMANCE.md gives the reasoning).
 *
 * Besides the numbers, each case checks what a port most often gets wrong
 * (the harness follows ggml's test-backend-ops):
 * - out-of-bounds writes: outputs live between sentinel bytes;
 * - unwritten outputs: outputs start as NaN bit patterns, so an element the
 *   backend skips shows up as a NaN/Inf disagreement;
 * - inputs must stay untouched (checksummed before and after);
 * - determinism: the backend runs every call twice and must give the same bits;
 * - row independence: for ops over M rows, the rows of an M=4 or M=1 call
 *   must equal the first rows of the M=37 call bit for bit (batched decode
 *   promises a sequence the same result alone or in a batch).
 * ref runs once per case at the largest M; its rows are independent by
 * construction, so smaller M compare against a prefix of that run.
 *
 * Inputs are a pure function of (seed, op, case label), realistic in
 * magnitude: bf16 activations of unit RMS with a few outlier channels;
 * weights drawn as Gaussians and quantized the way real checkpoints are
 * (FP8 e4m3 + E8M0 128x128 block scales, FP4 e2m1 packed + 1x32 scales). */
#include <fnmatch.h>
#include <math.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "conform/conform_harness.h"

/* ------------------------------------------------------------ linears */

typedef struct {
    ld_weight w;
    const ld_bf16 *x;
    const float *xf;
} lin_args;

static int run_linear(ld_backend *o, const void *a, int m, void *const *out) {
    const lin_args *l = a;
    ld_weight w;
    if (cf_with_weight(o, &l->w, &w)) return -1;
    int rc = o->ops->linear(o, &w, D(l->x), m, D(out[0]));
    cf_done_weight(o, &w);
    return rc;
}
static int run_linear_f32(ld_backend *o, const void *a, int m, void *const *out) {
    const lin_args *l = a;
    ld_weight w;
    if (cf_with_weight(o, &l->w, &w)) return -1;
    int rc = o->ops->linear_f32(o, &w, D(l->xf), m, D(out[0]));
    cf_done_weight(o, &w);
    return rc;
}

typedef struct {
    const char *label;
    ld_wfmt fmt;
    int n, k; /* out, in */
    int f32;  /* runs through linear_f32 */
} lin_shape;

static const char *const FMT_NAME[] = {"f32", "bf16", "fp8", "fp8dq", "fp4", "i8", "fp4i8"};

/* Rows of N to run under a MAC budget: ref's linear is scalar double, so the
 * big shapes run on a leading subset of their rows (multiples of 128, the
 * FP8 scale-block height); the table says which. */
static int rows_for(int n, long cap) {
    if (n <= cap) return n;
    int r = (int)(cap / 128 * 128);
    return r < 128 ? (n < 128 ? n : 128) : r;
}

static void linear_case(ctx_t *c, const char *model, const lin_shape *s, int random) {
    const char *op = s->f32 ? "linear_f32" : "linear";
    if (!cf_wanted(c, op)) return;
    char label[64];
    snprintf(label, sizeof label, "%s %s %s %d->%d", model, s->label, FMT_NAME[s->fmt], s->k, s->n);
    cf_seed_case(c, op, label);
    long b1 = c->o->reduced ? 1L << 21 : 64L << 20, b2 = c->o->reduced ? 1L << 21 : 160L << 20;
    int mmax = random ? 9 : 37, n1 = random ? s->n : rows_for(s->n, b1 / s->k);
    int n2 = random ? s->n : rows_for(s->n, b2 / ((long)mmax * s->k));
    wbuf wb = cf_make_weight(c, s->fmt, n1 > n2 ? n1 : n2, s->k);
    ld_bf16 *x = cf_new_act(c, mmax, s->k, 1.0);
    /* a loud row (residual-stream spikes) and, for random shapes, an all-zero
     * row (the activation scale floor) */
    cf_fill_act(c, x + 3L * s->k, 1, s->k, 40.0);
    if (random) memset(x + 1L * s->k, 0, sizeof(ld_bf16) * (size_t)s->k);
    float *xf = cf_alloc(c, sizeof(float) * (size_t)mmax * s->k, 0);
    for (long i = 0; i < (long)mmax * s->k; i++) xf[i] = ld_bf16_to_f32(x[i]);
    for (int pass = 0; pass < 2; pass++) {
        int n = pass == 0 ? n1 : n2;
        if (random && pass == 1) break;
        lin_args a = {.w = ld_weight_rows(&wb.w, 0, n), .x = x, .xf = xf};
        job_t j = random ? cf_job(op, 0, 9, 3, 1) : pass == 0 ? cf_job(op, 0, 1, 0, 0) : cf_job(op, 0, 37, 4, 1);
        j.same = s->f32 ? SAME(linear_f32) : SAME(linear);
        j.wfmt_set = 1, j.wfmt = s->fmt;
        if (n < s->n) snprintf(j.shape, sizeof j.shape, "%s [%d rows]", label, n);
        else snprintf(j.shape, sizeof j.shape, "%s", label);
        /* the w8a8 forms are integer sums in a fixed order (backends/w8a8.h): exact */
        tolk t = s->f32 ? T_F32 : s->fmt == LD_WF_I8 || s->fmt == LD_WF_FP4_I8 ? T_EXACT : T_BF16;
        cf_set_part(&j, "", s->f32 ? K_F32 : K_BF16, n, t);
        j.run = s->f32 ? run_linear_f32 : run_linear;
        j.args = &a;
        cf_add_in(&j, a.w.data, cf_weight_bytes(&a.w));
        cf_add_in(&j, x, sizeof(ld_bf16) * (size_t)mmax * s->k);
        cf_add_in(&j, xf, sizeof(float) * (size_t)mmax * s->k);
        cf_run_job(c, &j);
    }
    cf_free_weight(&wb);
    cf_free(x);
    cf_free(xf);
}

static const lin_shape FLASH_LIN[] = {
    {"wq_a", LD_WF_FP8, 1024, 4096, 0},         {"wkv", LD_WF_FP8, 512, 4096, 0},
    {"wq_b", LD_WF_FP8, 32768, 1024, 0},        {"wo_a group", LD_WF_FP8_DQ, 1024, 4096, 0},
    {"wo_b", LD_WF_FP8, 4096, 8192, 0},         {"shared w1", LD_WF_FP8, 2048, 4096, 0},
    {"shared w2", LD_WF_FP8, 4096, 2048, 0},    {"expert w1", LD_WF_FP4, 2048, 4096, 0},
    {"expert w2", LD_WF_FP4, 4096, 2048, 0},    {"idx wq_b", LD_WF_FP8, 8192, 1024, 0},
    {"idx wproj", LD_WF_BF16, 64, 4096, 0},     {"comp r4 wkv", LD_WF_BF16, 1024, 4096, 1},
    {"comp r128 wkv", LD_WF_BF16, 512, 4096, 1}, {"idx comp wkv", LD_WF_BF16, 256, 4096, 1},
    {"router", LD_WF_BF16, 256, 4096, 1},       {"head", LD_WF_BF16, 129280, 4096, 1},
    /* the w8a8 path's forms of the FP8 and FP4 linears */
    {"wq_b", LD_WF_I8, 32768, 1024, 0},         {"wo_b", LD_WF_I8, 4096, 8192, 0},
    {"expert w1", LD_WF_FP4_I8, 2048, 4096, 0}, {"expert w2", LD_WF_FP4_I8, 4096, 2048, 0},
};
static const lin_shape PRO_LIN[] = {
    {"wq_a", LD_WF_FP8, 1536, 7168, 0},         {"wkv", LD_WF_FP8, 512, 7168, 0},
    {"wq_b", LD_WF_FP8, 65536, 1536, 0},        {"wo_b", LD_WF_FP8, 7168, 16384, 0},
    {"shared w1", LD_WF_FP8, 3072, 7168, 0},    {"shared w2", LD_WF_FP8, 7168, 3072, 0},
    {"expert w1", LD_WF_FP4, 3072, 7168, 0},    {"expert w2", LD_WF_FP4, 7168, 3072, 0},
    {"idx wq_b", LD_WF_FP8, 8192, 1536, 0},     {"idx wproj", LD_WF_BF16, 64, 7168, 0},
    {"comp r4 wkv", LD_WF_BF16, 1024, 7168, 1}, {"comp r128 wkv", LD_WF_BF16, 512, 7168, 1},
    {"idx comp wkv", LD_WF_BF16, 256, 7168, 1}, {"router", LD_WF_BF16, 384, 7168, 1},
    {"head", LD_WF_BF16, 129280, 7168, 1},
};
/* Small odd shapes: N not a multiple of the tile or of 128, several K blocks. */
static const lin_shape RAND_LIN[] = {
    {"a", LD_WF_F32, 259, 640, 0},  {"b", LD_WF_BF16, 259, 640, 0}, {"c", LD_WF_FP8, 259, 640, 0},
    {"d", LD_WF_FP8_DQ, 7, 384, 0}, {"e", LD_WF_FP4, 133, 640, 0},  {"f", LD_WF_FP8, 1, 128, 0},
    {"g", LD_WF_F32, 130, 256, 1},  {"h", LD_WF_BF16, 5, 384, 1},  {"i", LD_WF_I8, 259, 640, 0},
    {"j", LD_WF_FP4_I8, 133, 1184, 0}, {"k", LD_WF_FP4_I8, 3, 96, 0},
};

static void linears(ctx_t *c) {
    for (size_t i = 0; i < sizeof RAND_LIN / sizeof RAND_LIN[0]; i++) linear_case(c, "rand", &RAND_LIN[i], 1);
    for (size_t i = 0; i < sizeof FLASH_LIN / sizeof FLASH_LIN[0]; i++) linear_case(c, "flash", &FLASH_LIN[i], 0);
    if (!c->o->reduced)
        for (size_t i = 0; i < sizeof PRO_LIN / sizeof PRO_LIN[0]; i++) linear_case(c, "pro", &PRO_LIN[i], 0);
}

/* ------------------------------------------------------ norms, rotations */

typedef struct {
    const ld_bf16 *x, *w;
    int n, per; /* rmsnorm: row length; in-place ops: vectors per row */
    int stride, off, np, inverse;
    const float *cs; /* [rows, 2*np]: cos | sin per row */
} vec_args;

static int run_rmsnorm(ld_backend *o, const void *a, int m, void *const *out) {
    const vec_args *v = a;
    return o->ops->rmsnorm(o, D(v->x), D(v->w), m, v->n, 1e-6f, D(out[0]));
}
/* In-place ops work on a copy of the input placed in the output buffer. */
static int run_head_rmsnorm(ld_backend *o, const void *a, int m, void *const *out) {
    const vec_args *v = a;
    if (cf_dpush(out[0], v->x, sizeof(ld_bf16) * (size_t)m * v->per * v->n)) return -1;
    return o->ops->head_rmsnorm(o, D((ld_bf16 *)out[0]), m * v->per, v->n, 1e-6f);
}
static int run_hadamard(ld_backend *o, const void *a, int m, void *const *out) {
    const vec_args *v = a;
    if (cf_dpush(out[0], v->x, sizeof(ld_bf16) * (size_t)m * v->per * v->n)) return -1;
    return o->ops->hadamard(o, D((ld_bf16 *)out[0]), m * v->per, v->n);
}
static int run_rope(ld_backend *o, const void *a, int m, void *const *out) {
    const vec_args *v = a;
    if (cf_dpush(out[0], v->x, sizeof(ld_bf16) * (size_t)m * v->per * v->n)) return -1;
    return o->ops->rope(o, D((ld_bf16 *)out[0] + v->off), m, (long)v->per * v->n, v->per, v->stride, D(v->cs), v->np,
                        v->inverse);
}

static void vec_job(ctx_t *c, const char *op, const char *label, int same, run_fn run, vec_args *a, int mmax,
                    long per_row, tolk t) {
    job_t j = mmax > 1 ? cf_job(op, same, mmax, 4, 1) : cf_job(op, same, 1, 0, 0);
    snprintf(j.shape, sizeof j.shape, "%s", label);
    cf_set_part(&j, "", K_BF16, per_row, t);
    j.run = run;
    j.args = a;
    cf_add_in(&j, a->x, sizeof(ld_bf16) * (size_t)(per_row * mmax));
    cf_run_job(c, &j);
}

static void norms(ctx_t *c) {
    static const struct { const char *label; int n; } RMS[] = {
        {"flash dim 4096", 4096}, {"pro dim 7168", 7168}, {"flash q_lora 1024", 1024}, {"pro q_lora 1536", 1536},
        {"kv / compressor 512", 512}, {"idx compressor 128", 128}, {"rand 100 (zero row)", 100}};
    for (size_t i = 0; i < sizeof RMS / sizeof RMS[0] && cf_wanted(c, "rmsnorm"); i++) {
        if (c->o->reduced && RMS[i].n > 4096) continue;
        int n = RMS[i].n;
        cf_seed_case(c, "rmsnorm", RMS[i].label);
        ld_bf16 *x = cf_new_act(c, 37, n, 1.0), *w = cf_alloc(c, sizeof(ld_bf16) * (size_t)n, 0);
        for (int k = 0; k < n; k++) w[k] = ld_f32_to_bf16(1.0f + 0.2f * cf_nrand(&c->g));
        cf_fill_act(c, x + 2L * n, 1, n, 50.0);
        if (n == 100) memset(x + 1L * n, 0, sizeof(ld_bf16) * (size_t)n);
        vec_args a = {.x = x, .w = w, .n = n};
        vec_job(c, "rmsnorm", RMS[i].label, SAME(rmsnorm), run_rmsnorm, &a, 37, n, T_BF16);
        cf_free(x), cf_free(w);
    }
    static const struct { const char *label; int h, hd; } HN[] = {
        {"flash q 64x512", 64, 512}, {"pro q 128x512", 128, 512}, {"rand 3x64", 3, 64}};
    for (size_t i = 0; i < sizeof HN / sizeof HN[0] && cf_wanted(c, "head_rmsnorm"); i++) {
        if (c->o->reduced && HN[i].h > 64) continue;
        int h = HN[i].h, hd = HN[i].hd, mmax = c->o->reduced ? 4 : 37;
        cf_seed_case(c, "head_rmsnorm", HN[i].label);
        ld_bf16 *q = cf_alloc(c, sizeof(ld_bf16) * (size_t)mmax * h * hd, 0);
        for (long v = 0; v < (long)mmax * h; v++) cf_fill_act(c, q + v * hd, 1, hd, 0.3 + 3 * cf_urand(&c->g));
        vec_args a = {.x = q, .n = hd, .per = h};
        vec_job(c, "head_rmsnorm", HN[i].label, SAME(head_rmsnorm), run_head_rmsnorm, &a, mmax, (long)h * hd, T_CHAIN);
        cf_free(q);
    }
}

static void rotations(ctx_t *c) {
    /* row r: the angles of position 1000 + 7r (theta 10000, 64 rope dims) */
    float *cs = cf_alloc(c, sizeof(float) * 37 * 64, 0);
    for (int r = 0; r < 37; r++)
        for (int i = 0; i < 32; i++) {
            double ang = (1000.0 + 7 * r) * pow(10000.0, -2.0 * i / 64.0);
            cs[r * 64 + i] = (float)cos(ang), cs[r * 64 + 32 + i] = (float)sin(ang);
        }
    static const struct { const char *label; int per, stride, off, np, inverse; } RO[] = {
        {"flash q 64x512, last 64 dims", 64, 512, 448, 32, 0},
        {"pro q 128x512, last 64 dims", 128, 512, 448, 32, 0},
        {"flash out 64x512, inverse", 64, 512, 448, 32, 1},
        {"idx q 64x128, last 64 dims", 64, 128, 64, 32, 0},
        {"kv 1x512, stride 0", 1, 0, 448, 32, 0},
        {"rand 3x16, all dims", 3, 16, 0, 8, 1}};
    for (size_t i = 0; i < sizeof RO / sizeof RO[0] && cf_wanted(c, "rope"); i++) {
        if (c->o->reduced && RO[i].per > 64) continue;
        int width = RO[i].stride ? RO[i].stride : 512, mmax = RO[i].stride ? 37 : 1;
        cf_seed_case(c, "rope", RO[i].label);
        ld_bf16 *x = cf_new_act(c, (long)mmax * RO[i].per, width, 1.0);
        vec_args a = {.x = x, .n = width, .per = RO[i].per, .stride = RO[i].stride, .off = RO[i].off,
                      .np = RO[i].np, .inverse = RO[i].inverse, .cs = cs};
        vec_job(c, "rope", RO[i].label, SAME(rope), run_rope, &a, mmax, (long)RO[i].per * width, T_BF16);
        cf_free(x);
    }
    cf_free(cs);
    static const struct { const char *label; int per, n, mmax; } HA[] = {
        {"idx q 64x128", 64, 128, 37}, {"compressor entry 1x128", 1, 128, 1}, {"rand 5x16", 5, 16, 9},
        {"rand 2x1024", 2, 1024, 4}};
    for (size_t i = 0; i < sizeof HA / sizeof HA[0] && cf_wanted(c, "hadamard"); i++) {
        cf_seed_case(c, "hadamard", HA[i].label);
        ld_bf16 *x = cf_new_act(c, (long)HA[i].mmax * HA[i].per, HA[i].n, 1.0);
        vec_args a = {.x = x, .n = HA[i].n, .per = HA[i].per};
        vec_job(c, "hadamard", HA[i].label, SAME(hadamard), run_hadamard, &a, HA[i].mmax, (long)HA[i].per * HA[i].n,
                T_BF16);
        cf_free(x);
    }
}

/* ---------------------------------------------------- hyper-connections */

typedef struct {
    const ld_bf16 *h, *x;
    const float *fn, *scale, *base, *post, *comb;
    int d, hc;
} hc_args;

static int run_hc_pre(ld_backend *o, const void *a, int m, void *const *out) {
    const hc_args *v = a;
    return o->ops->hc_pre(o, D(v->h), D(v->fn), D(v->scale), D(v->base), m, v->d, v->hc, 20, 1e-6f, 1e-6f,
                          D((ld_bf16 *)out[0]), D((float *)out[1]), D((float *)out[2]));
}
static int run_hc_post(ld_backend *o, const void *a, int m, void *const *out) {
    const hc_args *v = a;
    return o->ops->hc_post(o, D(v->x), D(v->h), D(v->post), D(v->comb), m, v->d, v->hc, D((ld_bf16 *)out[0]));
}
static int run_hc_head(ld_backend *o, const void *a, int m, void *const *out) {
    const hc_args *v = a;
    return o->ops->hc_head(o, D(v->h), D(v->fn), D(v->scale), D(v->base), m, v->d, v->hc, 1e-6f, 1e-6f,
                           D((ld_bf16 *)out[0]));
}

static void hyper(ctx_t *c) {
    static const struct { const char *label; int d, hc; } HC[] = {
        {"flash hc=4 dim 4096", 4096, 4}, {"pro hc=4 dim 7168", 7168, 4}, {"rand hc=4 dim 256", 256, 4},
        {"rand hc=2 dim 128", 128, 2}};
    const char *ops[3] = {"hc_pre", "hc_post", "hc_head"};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < sizeof HC / sizeof HC[0] && cf_wanted(c, ops[k]); i++) {
            int d = HC[i].d, hc = HC[i].hc, mmax = c->o->reduced ? 4 : 37, nmix = k == 2 ? hc : (2 + hc) * hc;
            if (c->o->reduced && d > 4096) continue;
            cf_seed_case(c, ops[k], HC[i].label);
            /* streams of different loudness, mixing weights as a checkpoint has them */
            ld_bf16 *h = cf_alloc(c, sizeof(ld_bf16) * (size_t)mmax * hc * d, 0), *x = cf_new_act(c, mmax, d, 1.0);
            for (long s = 0; s < (long)mmax * hc; s++) cf_fill_act(c, h + s * d, 1, d, 1.0 + 3 * cf_urand(&c->g));
            float *fn = cf_new_f32(c, (long)nmix * hc * d, 0, 0.5 / sqrt((double)hc * d));
            float *scale = cf_new_f32(c, 3, 1.0, 0.2), *base = cf_new_f32(c, nmix, 0, 0.5);
            float *post = cf_new_f32(c, (long)mmax * hc, 0, 1), *comb = cf_new_f32(c, (long)mmax * hc * hc, 0, 1);
            for (long s = 0; s < (long)mmax * hc; s++) post[s] = 2.0f * ld_sigmoidf(post[s]);
            for (long r = 0; r < (long)mmax * hc; r++) { /* rows of a near doubly-stochastic mix */
                float *cr = comb + r * hc, sum = 0;
                for (int q = 0; q < hc; q++) sum += cr[q] = ld_expf(cr[q]);
                for (int q = 0; q < hc; q++) cr[q] /= sum;
            }
            hc_args a = {.h = h, .x = x, .fn = fn, .scale = scale, .base = base, .post = post, .comb = comb,
                         .d = d, .hc = hc};
            job_t j = cf_job(ops[k], 0, mmax, 4, 1);
            snprintf(j.shape, sizeof j.shape, "%s", HC[i].label);
            j.args = &a;
            cf_add_in(&j, h, sizeof(ld_bf16) * (size_t)mmax * hc * d);
            cf_add_in(&j, fn, sizeof(float) * (size_t)nmix * hc * d);
            if (k == 0) {
                j.same = SAME(hc_pre), j.run = run_hc_pre;
                cf_set_part(&j, " ->y", K_BF16, d, T_BF16);
                cf_set_part(&j, " ->post", K_F32, hc, T_F32);
                cf_set_part(&j, " ->comb", K_F32, (long)hc * hc, T_F32);
            } else if (k == 1) {
                j.same = SAME(hc_post), j.run = run_hc_post;
                cf_set_part(&j, "", K_BF16, (long)hc * d, T_BF16);
                cf_add_in(&j, x, sizeof(ld_bf16) * (size_t)mmax * d);
            } else {
                j.same = SAME(hc_head), j.run = run_hc_head;
                cf_set_part(&j, "", K_BF16, d, T_BF16);
            }
            cf_run_job(c, &j);
            cf_free(h), cf_free(x), cf_free(fn), cf_free(scale), cf_free(base), cf_free(post), cf_free(comb);
        }
}

/* ------------------------------------------------------ attention side */

typedef struct {
    const ld_bf16 *q, *w, *keys;
    const ld_bf16 *const *kv;
    const float *sink, *s, *sc;
    int h, d, n, k, ld;
    float scale;
} att_args;

/* host kind only: its entries are a list of host pointers */
static int run_sparse_attn(ld_backend *o, const void *a, int m, void *const *out) {
    const att_args *v = a;
    (void)m;
    return o->ops->sparse_attn(o, v->q, v->h, v->d, v->kv, v->n, v->sink, v->scale, out[0]);
}
static int run_indexer(ld_backend *o, const void *a, int m, void *const *out) {
    const att_args *v = a;
    (void)m;
    return o->ops->indexer_scores(o, D(v->q), D(v->w), v->h, v->d, D(v->keys), v->n, D((float *)out[0]));
}
static int run_pool(ld_backend *o, const void *a, int m, void *const *out) {
    const att_args *v = a;
    (void)m;
    return o->ops->compress_pool(o, D(v->s), D(v->sc), v->n, v->d, v->ld, D((float *)out[0]));
}
static int run_topk(ld_backend *o, const void *a, int m, void *const *out) {
    const att_args *v = a;
    (void)m;
    return o->ops->topk(o, D(v->s), v->n, v->k, D((int *)out[0]));
}

static void one_call(ctx_t *c, const char *op, const char *label, int same, run_fn run, const att_args *a, okind k,
                     long n_out, tolk t) {
    job_t j = cf_job(op, same, 1, 0, 0);
    snprintf(j.shape, sizeof j.shape, "%s", label);
    cf_set_part(&j, "", k, n_out, t);
    j.run = run;
    j.args = a;
    cf_run_job(c, &j);
}

static void attention(ctx_t *c) {
    /* n = window entries then compressed ones; `empty` slots are NULL: the
     * first `lead` (a window not yet full) and the last `tail` (top-k padding) */
    static const struct { const char *label; int h, d, n, lead, tail; } SA[] = {
        {"flash 64x512, 128 win + 512 csa", 64, 512, 640, 8, 40},
        {"pro 128x512, 128 win + 1024 csa", 128, 512, 1152, 0, 64},
        {"flash 64x512, 128 win + 300 hca", 64, 512, 428, 0, 0},
        {"rand 4x128 n=130, 1st block empty", 4, 128, 130, 64, 0},
        {"rand 4x128 n=10, all empty", 4, 128, 10, 10, 0},
        {"rand 2x64 n=1", 2, 64, 1, 0, 0}};
    for (size_t i = 0; i < sizeof SA / sizeof SA[0] && cf_wanted(c, "sparse_attn"); i++) {
        int h = SA[i].h, d = SA[i].d, n = SA[i].n;
        if (c->o->reduced && h > 64) continue;
        cf_seed_case(c, "sparse_attn", SA[i].label);
        ld_bf16 *q = cf_new_act(c, h, d, 1.0), *pool = cf_new_act(c, n, d, 1.0);
        /* some keys point along a head's query, so the softmax is peaked as in a real model */
        for (int e = 0; e < n; e++)
            if (cf_next64(&c->g) % 16 == 0) {
                const ld_bf16 *qh = q + (long)(cf_next64(&c->g) % (uint64_t)h) * d;
                for (int t = 0; t < d; t++)
                    pool[(long)e * d + t] = ld_f32_to_bf16(0.5f * ld_bf16_to_f32(pool[(long)e * d + t]) +
                                                          3.0f * ld_bf16_to_f32(qh[t]));
            }
        const ld_bf16 **kv = cf_alloc(c, sizeof(ld_bf16 *) * (size_t)n, 0);
        for (int e = 0; e < n; e++) kv[e] = e < SA[i].lead || e >= n - SA[i].tail ? NULL : pool + (long)e * d;
        float *sink = cf_new_f32(c, h, 0, 1.0);
        att_args a = {.q = q, .kv = kv, .sink = sink, .h = h, .d = d, .n = n, .scale = 1.0f / sqrtf((float)d)};
        one_call(c, "sparse_attn", SA[i].label, SAME(sparse_attn), run_sparse_attn, &a, K_BF16, (long)h * d, T_CHAIN);
        cf_free(q), cf_free(pool), cf_free(kv), cf_free(sink);
    }
    static const struct { const char *label; int rows, d, ld, ninf; } CP[] = {
        {"csa 8x512 (overlap)", 8, 512, 512, 0}, {"csa 8x512, 1st block (4 rows -inf)", 8, 512, 512, 4},
        {"hca 128x512", 128, 512, 512, 0},       {"idx 8x128", 8, 128, 128, 0},
        {"rand 4x64 ld 128", 4, 64, 128, 0}};
    for (size_t i = 0; i < sizeof CP / sizeof CP[0] && cf_wanted(c, "compress_pool"); i++) {
        cf_seed_case(c, "compress_pool", CP[i].label);
        long len = (long)CP[i].rows * CP[i].ld;
        float *kv = cf_new_f32(c, len, 0, 1.0), *sc = cf_new_f32(c, len, 0, 2.0);
        for (long t = 0; t < (long)CP[i].ninf * CP[i].ld; t++) sc[t] = -INFINITY, kv[t] = 0;
        att_args a = {.s = kv, .sc = sc, .n = CP[i].rows, .d = CP[i].d, .ld = CP[i].ld};
        one_call(c, "compress_pool", CP[i].label, SAME(compress_pool), run_pool, &a, K_F32, CP[i].d, T_F32);
        cf_free(kv), cf_free(sc);
    }
    static const struct { const char *label; int h, d, n; } IX[] = {
        {"64 heads x 128, n=2048", 64, 128, 2048}, {"64 heads x 128, n=1", 64, 128, 1}, {"rand 4x128 n=37", 4, 128, 37}};
    for (size_t i = 0; i < sizeof IX / sizeof IX[0] && cf_wanted(c, "indexer_scores"); i++) {
        int h = IX[i].h, d = IX[i].d, n = IX[i].n;
        cf_seed_case(c, "indexer_scores", IX[i].label);
        /* queries and keys are FP4-simulated in the model (after the Hadamard) */
        ld_bf16 *q = cf_new_act(c, h, d, 1.0), *keys = cf_new_act(c, n, d, 1.0), *w = cf_new_act(c, 1, h, 0.05);
        ld_fp4_sim_bf16(q, h * d, 32);
        ld_fp4_sim_bf16(keys, n * d, 32);
        att_args a = {.q = q, .w = w, .keys = keys, .h = h, .d = d, .n = n};
        one_call(c, "indexer_scores", IX[i].label, SAME(indexer_scores), run_indexer, &a, K_F32, n, T_CHAIN);
        cf_free(q), cf_free(keys), cf_free(w);
    }
    /* topk is exact by definition: indices of the k largest, ties to the lower index */
    static const struct { const char *label; int n, k, bf16, equal; } TK[] = {
        {"flash idx 512 of 2048 (bf16 ties)", 2048, 512, 1, 0}, {"pro idx 1024 of 4096 (bf16 ties)", 4096, 1024, 1, 0},
        {"flash router 6 of 256", 256, 6, 0, 0},                {"pro router 6 of 384", 384, 6, 0, 0},
        {"rand 5 of 5", 5, 5, 0, 0}, {"rand 3 of 100, all equal", 100, 3, 0, 1}, {"rand 1 of 1", 1, 1, 0, 0}};
    for (size_t i = 0; i < sizeof TK / sizeof TK[0] && cf_wanted(c, "topk"); i++) {
        cf_seed_case(c, "topk", TK[i].label);
        float *s = cf_new_f32(c, TK[i].n, 0, 1.0);
        for (int t = 0; t < TK[i].n; t++) s[t] = TK[i].equal ? 0.5f : TK[i].bf16 ? ld_round_bf16(s[t]) : s[t];
        att_args a = {.s = s, .n = TK[i].n, .k = TK[i].k};
        job_t j = cf_job("topk", 0, 1, 0, 0);
        snprintf(j.shape, sizeof j.shape, "%s", TK[i].label);
        cf_set_part(&j, "", K_I32, TK[i].k, T_EXACT);
        j.run = run_topk, j.args = &a;
        cf_add_in(&j, s, sizeof(float) * (size_t)TK[i].n);
        cf_run_job(c, &j);
        cf_free(s);
    }
}

/* ------------------------------------------------------------- swiglu */

typedef struct {
    const ld_bf16 *g, *u;
    const float *wt;
    int n;
    float limit;
} glu_args;

/* One call per row, as the MoE calls it, each with its routing weight. */
static int run_swiglu(ld_backend *o, const void *a, int m, void *const *out) {
    const glu_args *v = a;
    for (int r = 0; r < m; r++)
        if (o->ops->swiglu(o, D(v->g + (long)r * v->n), D(v->u + (long)r * v->n), v->n, v->limit, v->wt[r],
                           D((ld_bf16 *)out[0] + (long)r * v->n)))
            return -1;
    return 0;
}

static void swiglus(ctx_t *c) {
    static const struct { const char *label; int n; float limit; } SG[] = {
        {"flash inter 2048, limit 10", 2048, 10}, {"pro inter 3072, limit 10", 3072, 10}, {"rand 100, no limit", 100, 0}};
    for (size_t i = 0; i < sizeof SG / sizeof SG[0] && cf_wanted(c, "swiglu"); i++) {
        int n = SG[i].n;
        cf_seed_case(c, "swiglu", SG[i].label);
        /* rms 4: a good share of gate/up values beyond the clamp at 10 */
        ld_bf16 *g = cf_new_act(c, 37, n, 4.0), *u = cf_new_act(c, 37, n, 4.0);
        float *wt = cf_new_f32(c, 37, 0, 1);
        for (int r = 0; r < 37; r++) wt[r] = r == 0 ? 1.0f : (float)(0.05 + 0.55 * cf_urand(&c->g));
        glu_args a = {.g = g, .u = u, .wt = wt, .n = n, .limit = SG[i].limit};
        job_t j = cf_job("swiglu", SAME(swiglu), 37, 4, 1);
        snprintf(j.shape, sizeof j.shape, "%s", SG[i].label);
        cf_set_part(&j, "", K_BF16, n, T_BF16);
        j.run = run_swiglu, j.args = &a;
        cf_add_in(&j, g, sizeof(ld_bf16) * 37 * (size_t)n);
        cf_add_in(&j, u, sizeof(ld_bf16) * 37 * (size_t)n);
        cf_run_job(c, &j);
        cf_free(g), cf_free(u), cf_free(wt);
    }
}

/* ---------------------------------------------------------------- api */

int ld_conform_ops(const ld_backend_ops *b, const conform_opts *o, conform_report *r) {
    ctx_t c = {.b = b, .o = o, .r = r};
    c.ref = ld_backend_create(&ld_backend_ref_ops, NULL);
    c.be = c.ref ? ld_backend_create(b, &o->backend) : NULL;
    if (!c.be) {
        ld_backend_destroy(c.ref);
        return -1;
    }
    cf_set_device(b->mem == LD_MEM_HOST ? NULL : c.be);
    int before = r->failures;
    if (setjmp(c.oom)) {
        cf_set_device(NULL);
        ld_backend_destroy(c.be);
        ld_backend_destroy(c.ref);
        return ld_set_error("out of memory in the conformance harness");
    }
    linears(&c);
    norms(&c);
    rotations(&c);
    hyper(&c);
    attention(&c);
    swiglus(&c);
    cf_composites(&c);
    cf_set_device(NULL);
    ld_backend_destroy(c.be);
    ld_backend_destroy(c.ref);
    return r->failures - before;
}
