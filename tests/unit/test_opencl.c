/* The OpenCL backend against ref's host functions, op by op: seeded random
 * inputs, odd and realistic shapes, the conformance tolerances
 * (docs/CONFORMANCE.md), determinism (two runs, identical bits) and row
 * independence (M = 4 and M = 1 equal the first rows of M = 37). The
 * composites are compared with host compositions of ref's primitives in
 * the model code's order. Exits 77 when no OpenCL device is present. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/opencl_api.h"
#include "backends/ref/ref.h"
#include "core/error.h"

static ld_backend be = {.ops = &ld_backend_opencl_ops};
static const ld_backend_ops *O = &ld_backend_opencl_ops;
static int failures;

/* ---------------------------------------------------------- inputs */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
static float unif(void) { return ((float)(rnd() & 0xffffff) + 0.5f) / 16777216.0f; }
static float gauss(void) { return sqrtf(-2.0f * logf(unif())) * cosf(6.2831853f * unif()); }

/* unit-RMS bf16 activations with a few 8x outlier channels */
static ld_bf16 *act(long n) {
    ld_bf16 *x = malloc(sizeof(ld_bf16) * (size_t)n);
    for (long i = 0; i < n; i++) x[i] = ld_f32_to_bf16(gauss() * (i % 97 == 3 ? 8.0f : 1.0f));
    return x;
}
static float *fvec(long n, float sd, float mean) {
    float *x = malloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) x[i] = mean + sd * gauss();
    return x;
}

static uint8_t e8m0_of(float s) { return (uint8_t)(127 + ilogbf(s)); }

/* A checkpoint-format weight [n, k] of N(0, sd). */
static ld_weight make_weight(ld_wfmt f, int n, int k, float sd) {
    ld_weight w = {.fmt = f, .n = n, .k = k};
    float *v = fvec((long)n * k, sd, 0.0f);
    if (f == LD_WF_F32) {
        w.data = v;
        return w;
    }
    if (f == LD_WF_BF16) {
        ld_bf16 *b = malloc(sizeof(ld_bf16) * (size_t)n * k);
        for (long i = 0; i < (long)n * k; i++) b[i] = ld_f32_to_bf16(v[i]);
        w.data = b;
    } else if (f == LD_WF_FP4) {
        uint8_t *q = calloc((size_t)n * k / 2, 1), *s = malloc((size_t)n * (k / 32));
        w.scale_cols = k / 32;
        for (int r = 0; r < n; r++)
            for (int b = 0; b < k / 32; b++) {
                float *blk = v + (long)r * k + b * 32, amax = 0;
                for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(blk[i]));
                float sc = ld_fp4_block_scale(amax);
                s[(long)r * w.scale_cols + b] = e8m0_of(sc);
                for (int i = 0; i < 32; i++) {
                    long at = (long)r * k + b * 32 + i;
                    q[at / 2] |= (uint8_t)(ld_f32_to_fp4(blk[i] / sc) << (at & 1 ? 4 : 0));
                }
            }
        w.data = q;
        w.scale = s;
    } else {
        int sr = (n + 127) / 128;
        uint8_t *q = malloc((size_t)n * k), *s = malloc((size_t)sr * (k / 128));
        w.scale_cols = k / 128;
        for (int br = 0; br < sr; br++)
            for (int bc = 0; bc < k / 128; bc++) {
                float amax = 0;
                for (int r = br * 128; r < n && r < br * 128 + 128; r++)
                    for (int i = bc * 128; i < bc * 128 + 128; i++) amax = fmaxf(amax, fabsf(v[(long)r * k + i]));
                float sc = ld_pow2_ceil_scale(amax / 448.0f);
                s[br * w.scale_cols + bc] = e8m0_of(sc);
                for (int r = br * 128; r < n && r < br * 128 + 128; r++)
                    for (int i = bc * 128; i < bc * 128 + 128; i++)
                        q[(long)r * k + i] = ld_f32_to_fp8(v[(long)r * k + i] / sc);
            }
        w.data = q;
        w.scale = s;
    }
    free(v);
    return w;
}

static ld_weight dev_weight(const ld_weight *w) {
    ld_weight d = *w;
    if (O->prepare_weight(&be, &d)) { fprintf(stderr, "prepare_weight: %s\n", ld_last_error()); exit(1); }
    return d;
}

/* ---------------------------------------------------------- device helpers */

static void *put(const void *h, size_t n) {
    void *d = O->alloc(&be, n);
    if (!d || (n && O->upload(&be, d, h, n))) { fprintf(stderr, "upload: %s\n", ld_last_error()); exit(1); }
    return d;
}
static void *dalloc(size_t n) {
    void *d = O->alloc(&be, n);
    if (!d) { fprintf(stderr, "alloc: %s\n", ld_last_error()); exit(1); }
    return d;
}
static void get(void *h, const void *d, size_t n) {
    if (n && O->download(&be, h, d, n)) { fprintf(stderr, "download: %s\n", ld_last_error()); exit(1); }
}
static void ok(int rc, const char *what) {
    if (rc) { fprintf(stderr, "%s failed: %s\n", what, ld_last_error()); exit(1); }
}

/* ---------------------------------------------------------- comparisons */

typedef enum { T_EXACT, T_BF16, T_CHAIN, T_F32, T_MOE } tol;
static const struct { double nmse, maxabs; } bound[] = {
    {0, 0}, {1e-5, 0x1p-7}, {1e-4, 0x1p-6}, {1e-10, 1e-5}, {1e-4, INFINITY}};

#define MAX_OPS 64
static struct { const char *name; double worst; int cases; } report[MAX_OPS];
static void record(const char *op, double nmse) {
    int i = 0;
    while (i < MAX_OPS && report[i].name && strcmp(report[i].name, op)) i++;
    if (i == MAX_OPS) return;
    report[i].name = op;
    if (nmse > report[i].worst) report[i].worst = nmse;
    report[i].cases++;
}

static void compare(const char *op, const char *label, const float *a, const float *b, long n, tol t) {
    double se = 0, sa = 0, amax = 0, dmax = 0;
    int bad_nan = 0;
    for (long i = 0; i < n; i++) {
        if (isfinite(a[i]) != isfinite(b[i])) { bad_nan = 1; continue; }
        if (!isfinite(a[i])) continue;
        double d = (double)a[i] - b[i];
        se += d * d;
        sa += (double)a[i] * a[i];
        amax = fmax(amax, fabs(a[i]));
        dmax = fmax(dmax, fabs(d));
    }
    double nmse = sa > 0 ? se / sa : se;
    record(op, nmse);
    int fail = bad_nan || (t == T_EXACT ? se != 0 : (nmse > bound[t].nmse || dmax > bound[t].maxabs * amax));
    if (fail || getenv("LD_TEST_VERBOSE"))
        printf("%s %-15s %-28s nmse %.3g maxabs %.3g (max|a| %.3g)%s\n", fail ? "FAIL" : "    ", op, label, nmse,
               dmax, amax, bad_nan ? " NaN/Inf mismatch" : "");
    failures += fail;
}

static float *widen_bf16(const ld_bf16 *x, long n) {
    float *f = malloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) f[i] = ld_bf16_to_f32(x[i]);
    return f;
}
static void compare_bf16(const char *op, const char *label, const ld_bf16 *a, const ld_bf16 *b, long n, tol t) {
    float *fa = widen_bf16(a, n), *fb = widen_bf16(b, n);
    compare(op, label, fa, fb, n, t);
    free(fa);
    free(fb);
}
static void same_bits(const char *op, const char *label, const void *a, const void *b, size_t bytes) {
    if (memcmp(a, b, bytes)) {
        printf("FAIL %-15s %-28s differs\n", op, label);
        failures++;
    }
}

/* Row ops: run(m, out) on the device; M = 37 twice (determinism), then 4
 * and 1 against its first rows. Returns the M = 37 output (malloc'd). */
typedef void (*dev_run)(void *ctx, int m, void *out);
static void *rows_check(const char *op, const char *label, dev_run run, void *ctx, size_t row_bytes) {
    void *a = malloc(row_bytes * 37), *b = malloc(row_bytes * 37);
    run(ctx, 37, a);
    run(ctx, 37, b);
    same_bits(op, "determinism", a, b, row_bytes * 37);
    run(ctx, 4, b);
    same_bits(op, "rows 4 vs 37", a, b, row_bytes * 4);
    run(ctx, 1, b);
    same_bits(op, "rows 1 vs 37", a, b, row_bytes);
    (void)label;
    free(b);
    return a;
}

/* ---------------------------------------------------------- linears */

typedef struct {
    ld_weight dw;
    const void *dx;
    int f32;
} lin_ctx;

static void lin_run(void *p, int m, void *out) {
    lin_ctx *c = p;
    size_t yb = (size_t)m * c->dw.n * (c->f32 ? 4 : 2);
    void *dy = dalloc(yb);
    ok(c->f32 ? O->linear_f32(&be, &c->dw, c->dx, m, dy) : O->linear(&be, &c->dw, c->dx, m, dy), "linear");
    get(out, dy, yb);
    O->free(&be, dy);
}

static void test_linear(ld_wfmt f, int n, int k, const char *label) {
    ld_weight w = make_weight(f, n, k, 0.05f);
    /* row 0 stays on the host side only: the device gets x + one row */
    ld_bf16 *x = act(38L * k);
    memset(x + 2L * k, 0, sizeof(ld_bf16) * (size_t)k);
    for (int i = 0; i < k; i++) x[5L * k + i] = ld_f32_to_bf16(ld_bf16_to_f32(x[5L * k + i]) * 64.0f);
    void *dx = put(x, sizeof(ld_bf16) * 38 * (size_t)k);
    lin_ctx c = {dev_weight(&w), (char *)dx + sizeof(ld_bf16) * (size_t)k, 0};
    ld_bf16 *got = rows_check("linear", label, lin_run, &c, sizeof(ld_bf16) * (size_t)n);
    ld_bf16 *ref = malloc(sizeof(ld_bf16) * 37 * (size_t)n);
    ld_ref_linear(&w, x + k, 37, ref);
    compare_bf16("linear", label, ref, got, 37L * n, T_BF16);
    if (n >= 256) { /* a row slice of the device weight (pointer arithmetic on device addresses) */
        ld_weight hs = ld_weight_rows(&w, 128, 128), ds = ld_weight_rows(&c.dw, 128, 128);
        lin_ctx cs = {ds, c.dx, 0};
        lin_run(&cs, 4, got);
        ld_ref_linear(&hs, x + k, 4, ref);
        compare_bf16("linear", "row slice 128..255", ref, got, 4L * 128, T_BF16);
    }
    if (f == LD_WF_F32 || f == LD_WF_BF16) {
        float *xf = fvec(37L * k, 1.0f, 0.0f), *rf = malloc(sizeof(float) * 37 * (size_t)n);
        lin_ctx cf = {c.dw, put(xf, sizeof(float) * 37 * (size_t)k), 1};
        float *gf = rows_check("linear_f32", label, lin_run, &cf, sizeof(float) * (size_t)n);
        ld_ref_linear_f32(&w, xf, 37, rf);
        compare("linear_f32", label, rf, gf, 37L * n, T_F32);
        O->free(&be, (void *)cf.dx);
        free(xf);
        free(rf);
        free(gf);
    }
    O->release_weight(&be, &c.dw);
    O->free(&be, dx);
    free(x);
    free(got);
    free(ref);
}

/* ---------------------------------------------------------- norms, rope, hadamard, hc */

typedef struct {
    const void *dx, *dw, *cs, *fn, *scale, *base, *dres, *dpost, *dcomb;
    const ld_bf16 *hx;
    int n, hd, d, hc, np, inv;
} row_ctx;

static void rms_run(void *p, int m, void *out) {
    row_ctx *c = p;
    void *dy = dalloc(sizeof(ld_bf16) * (size_t)m * c->n);
    ok(O->rmsnorm(&be, c->dx, c->dw, m, c->n, 1e-6f, dy), "rmsnorm");
    get(out, dy, sizeof(ld_bf16) * (size_t)m * c->n);
    O->free(&be, dy);
}

/* in-place ops work on a fresh copy of the input */
static void *fresh(const row_ctx *c, size_t bytes) { return put(c->hx, bytes); }

static void head_run(void *p, int m, void *out) {
    row_ctx *c = p;
    void *q = fresh(c, sizeof(ld_bf16) * (size_t)m * c->hd);
    ok(O->head_rmsnorm(&be, q, m, c->hd, 1e-6f), "head_rmsnorm");
    get(out, q, sizeof(ld_bf16) * (size_t)m * c->hd);
    O->free(&be, q);
}

static void rope_run(void *p, int m, void *out) {
    row_ctx *c = p;
    size_t rb = sizeof(ld_bf16) * (size_t)c->n * c->hd;
    char *q = fresh(c, rb * (size_t)m);
    ok(O->rope(&be, (ld_bf16 *)(q + sizeof(ld_bf16) * (size_t)(c->hd - 2 * c->np)), m, (long)c->n * c->hd, c->n,
               c->hd, c->cs, c->np, c->inv),
       "rope");
    get(out, q, rb * (size_t)m);
    O->free(&be, q);
}

static void had_run(void *p, int m, void *out) {
    row_ctx *c = p;
    void *q = fresh(c, sizeof(ld_bf16) * (size_t)m * c->n);
    ok(O->hadamard(&be, q, m, c->n), "hadamard");
    get(out, q, sizeof(ld_bf16) * (size_t)m * c->n);
    O->free(&be, q);
}

/* hc_pre output row: y [d] bf16, post [hc], comb [hc*hc] packed */
static void hcpre_run(void *p, int m, void *out) {
    row_ctx *c = p;
    int d = c->d, hc = c->hc;
    size_t rb = sizeof(ld_bf16) * d + sizeof(float) * (size_t)(hc + hc * hc);
    ld_bf16 *dy = dalloc(sizeof(ld_bf16) * (size_t)m * d);
    float *dp = dalloc(sizeof(float) * (size_t)m * hc), *dc = dalloc(sizeof(float) * (size_t)m * hc * hc);
    ok(O->hc_pre(&be, c->dx, c->fn, c->scale, c->base, m, d, hc, 20, 1e-6f, 1e-6f, dy, dp, dc), "hc_pre");
    char *h = malloc(rb * (size_t)m);
    get(h, dy, sizeof(ld_bf16) * (size_t)m * d);
    get(h + sizeof(ld_bf16) * (size_t)m * d, dp, sizeof(float) * (size_t)m * hc);
    get(h + sizeof(ld_bf16) * (size_t)m * d + sizeof(float) * (size_t)m * hc, dc, sizeof(float) * (size_t)m * hc * hc);
    for (int r = 0; r < m; r++) { /* interleave into rows for the row checks */
        char *o = (char *)out + rb * (size_t)r;
        memcpy(o, h + sizeof(ld_bf16) * (size_t)r * d, sizeof(ld_bf16) * d);
        memcpy(o + sizeof(ld_bf16) * d, h + sizeof(ld_bf16) * (size_t)m * d + sizeof(float) * (size_t)r * hc,
               sizeof(float) * hc);
        memcpy(o + sizeof(ld_bf16) * d + sizeof(float) * hc,
               h + sizeof(ld_bf16) * (size_t)m * d + sizeof(float) * (size_t)m * hc + sizeof(float) * (size_t)r * hc * hc,
               sizeof(float) * hc * hc);
    }
    free(h);
    O->free(&be, dy);
    O->free(&be, dp);
    O->free(&be, dc);
}

static void hchead_run(void *p, int m, void *out) {
    row_ctx *c = p;
    void *dy = dalloc(sizeof(ld_bf16) * (size_t)m * c->d);
    ok(O->hc_head(&be, c->dx, c->fn, c->scale, c->base, m, c->d, c->hc, 1e-6f, 1e-6f, dy), "hc_head");
    get(out, dy, sizeof(ld_bf16) * (size_t)m * c->d);
    O->free(&be, dy);
}

static void hcpost_run(void *p, int m, void *out) {
    row_ctx *c = p;
    size_t ob = sizeof(ld_bf16) * (size_t)m * c->hc * c->d;
    void *dy = dalloc(ob);
    ok(O->hc_post(&be, c->dx, c->dres, c->dpost, c->dcomb, m, c->d, c->hc, dy), "hc_post");
    get(out, dy, ob);
    O->free(&be, dy);
}

static void test_rows(void) {
    char label[64];
    int ns[] = {4096, 1000, 7168};
    for (int t = 0; t < 3; t++) {
        int n = ns[t];
        ld_bf16 *x = act(37L * n), *w = malloc(sizeof(ld_bf16) * (size_t)n), *ref = malloc(sizeof(ld_bf16) * 37 * (size_t)n);
        memset(x + n, 0, sizeof(ld_bf16) * (size_t)n);
        for (int i = 0; i < n; i++) w[i] = ld_f32_to_bf16(1.0f + 0.05f * gauss());
        row_ctx c = {.dx = put(x, sizeof(ld_bf16) * 37 * (size_t)n), .dw = put(w, sizeof(ld_bf16) * (size_t)n), .n = n};
        snprintf(label, sizeof label, "n=%d", n);
        ld_bf16 *got = rows_check("rmsnorm", label, rms_run, &c, sizeof(ld_bf16) * (size_t)n);
        ld_ref_rmsnorm(x, w, 37, n, 1e-6f, ref);
        compare_bf16("rmsnorm", label, ref, got, 37L * n, T_BF16);
        O->free(&be, (void *)c.dx);
        O->free(&be, (void *)c.dw);
        free(x);
        free(w);
        free(ref);
        free(got);
    }
    /* head_rmsnorm: heads are the rows */
    int hds[] = {512, 128, 72};
    for (int t = 0; t < 3; t++) {
        int hd = hds[t];
        ld_bf16 *q = act(37L * hd), *ref = malloc(sizeof(ld_bf16) * 37 * (size_t)hd);
        row_ctx c = {.hx = q, .hd = hd};
        snprintf(label, sizeof label, "head_dim=%d", hd);
        ld_bf16 *got = rows_check("head_rmsnorm", label, head_run, &c, sizeof(ld_bf16) * (size_t)hd);
        memcpy(ref, q, sizeof(ld_bf16) * 37 * (size_t)hd);
        ld_ref_head_rmsnorm(ref, 37, hd, 1e-6f);
        compare_bf16("head_rmsnorm", label, ref, got, 37L * hd, T_CHAIN);
        free(q);
        free(ref);
        free(got);
    }
    /* rope on the last rd dims of each head, forward and inverse */
    for (int t = 0; t < 2; t++) {
        int H = t ? 3 : 64, hd = t ? 40 : 512, rd = t ? 10 : 64, np = rd / 2;
        long rowe = (long)H * hd;
        ld_bf16 *q = act(37 * rowe), *ref = malloc(sizeof(ld_bf16) * 37 * (size_t)rowe);
        float *cs = malloc(sizeof(float) * 37 * (size_t)rd);
        for (int r = 0; r < 37; r++)
            for (int i = 0; i < np; i++) {
                float a = (float)(r + 1) * powf(10000.0f, -(float)i / np);
                cs[r * rd + i] = cosf(a);
                cs[r * rd + np + i] = sinf(a);
            }
        row_ctx c = {.hx = q, .cs = put(cs, sizeof(float) * 37 * (size_t)rd), .n = H, .hd = hd, .np = np, .inv = t};
        snprintf(label, sizeof label, "%dx%d rd=%d inv=%d", H, hd, rd, t);
        ld_bf16 *got = rows_check("rope", label, rope_run, &c, sizeof(ld_bf16) * (size_t)rowe);
        memcpy(ref, q, sizeof(ld_bf16) * 37 * (size_t)rowe);
        for (int r = 0; r < 37; r++)
            ld_ref_rope(ref + r * rowe + hd - rd, H, hd, cs + r * rd, cs + r * rd + np, np, t);
        compare_bf16("rope", label, ref, got, 37 * rowe, T_BF16);
        O->free(&be, (void *)c.cs);
        free(q);
        free(ref);
        free(cs);
        free(got);
    }
    int hn[] = {128, 512, 16};
    for (int t = 0; t < 3; t++) {
        int n = hn[t];
        ld_bf16 *x = act(37L * n), *ref = malloc(sizeof(ld_bf16) * 37 * (size_t)n);
        row_ctx c = {.hx = x, .n = n};
        snprintf(label, sizeof label, "n=%d", n);
        ld_bf16 *got = rows_check("hadamard", label, had_run, &c, sizeof(ld_bf16) * (size_t)n);
        memcpy(ref, x, sizeof(ld_bf16) * 37 * (size_t)n);
        ld_ref_hadamard(ref, 37, n);
        compare_bf16("hadamard", label, ref, got, 37L * n, T_BF16);
        free(x);
        free(ref);
        free(got);
    }
    /* hyper-connections: hc = 4 over d = 4096 and an odd d */
    int hds2[] = {4096, 200};
    for (int t = 0; t < 2; t++) {
        int d = hds2[t], hc = 4, nmix = (2 + hc) * hc;
        long rowe = (long)hc * d;
        ld_bf16 *h = act(37 * rowe);
        float *fn = fvec(nmix * rowe, 1.0f / sqrtf((float)rowe), 0.0f), scale[3] = {0.9f, 0.7f, 0.5f};
        float *base = fvec(nmix, 0.5f, 0.0f);
        row_ctx c = {.dx = put(h, sizeof(ld_bf16) * 37 * (size_t)rowe), .fn = put(fn, sizeof(float) * nmix * (size_t)rowe),
                     .scale = put(scale, sizeof scale), .base = put(base, sizeof(float) * (size_t)nmix), .d = d,
                     .hc = hc};
        snprintf(label, sizeof label, "hc=4 d=%d", d);
        size_t rb = sizeof(ld_bf16) * d + sizeof(float) * (size_t)(hc + hc * hc);
        char *got = rows_check("hc_pre", label, hcpre_run, &c, rb);
        ld_bf16 *ry = malloc(sizeof(ld_bf16) * 37 * (size_t)d), *gy = malloc(sizeof(ld_bf16) * 37 * (size_t)d);
        float *rp = malloc(sizeof(float) * 37 * (size_t)(hc + hc * hc)), *gp = malloc(sizeof(float) * 37 * (size_t)(hc + hc * hc));
        ld_ref_hc_pre(h, fn, scale, base, 37, d, hc, 20, 1e-6f, 1e-6f, ry, rp, rp + 37 * hc);
        for (int r = 0; r < 37; r++) {
            memcpy(gy + (long)r * d, got + rb * r, sizeof(ld_bf16) * d);
            memcpy(gp + r * hc, got + rb * r + sizeof(ld_bf16) * d, sizeof(float) * hc);
            memcpy(gp + 37 * hc + r * hc * hc, got + rb * r + sizeof(ld_bf16) * d + sizeof(float) * hc,
                   sizeof(float) * hc * hc);
        }
        compare_bf16("hc_pre", label, ry, gy, 37L * d, T_BF16);
        compare("hc_pre post", label, rp, gp, 37L * hc, T_F32);
        compare("hc_pre comb", label, rp + 37 * hc, gp + 37 * hc, 37L * hc * hc, T_F32);
        free(got);
        got = rows_check("hc_head", label, hchead_run, &c, sizeof(ld_bf16) * (size_t)d);
        ld_ref_hc_head(h, fn, scale, base, 37, d, hc, 1e-6f, 1e-6f, ry);
        compare_bf16("hc_head", label, ry, (ld_bf16 *)got, 37L * d, T_BF16);
        free(got);
        /* hc_post from the hc_pre outputs */
        ld_bf16 *x = act(37L * d), *ro = malloc(sizeof(ld_bf16) * 37 * (size_t)rowe);
        c.dx = put(x, sizeof(ld_bf16) * 37 * (size_t)d);
        c.dres = put(h, sizeof(ld_bf16) * 37 * (size_t)rowe);
        c.dpost = put(rp, sizeof(float) * 37 * hc);
        c.dcomb = put(rp + 37 * hc, sizeof(float) * 37 * hc * hc);
        got = rows_check("hc_post", label, hcpost_run, &c, sizeof(ld_bf16) * (size_t)rowe);
        ld_ref_hc_post(x, h, rp, rp + 37 * hc, 37, d, hc, ro);
        compare_bf16("hc_post", label, ro, (ld_bf16 *)got, 37 * rowe, T_BF16);
        free(got);
        free(x);
        free(ro);
        free(h);
        free(fn);
        free(base);
        free(ry);
        free(gy);
        free(rp);
        free(gp);
    }
}

/* ---------------------------------------------------------- attention-side primitives */

static void test_small_ops(void) {
    /* compress_pool: 8 rows of the overlap layout (ld = 2d) */
    {
        int rows = 8, d = 512, ld = 1024;
        float *kv = fvec(rows * ld, 1.0f, 0.0f), *sc = fvec(rows * ld, 2.0f, 0.0f), ref[512], got[512], again[512];
        for (int c = 0; c < 20; c++) sc[c] = -INFINITY; /* row 0 empty on some channels */
        float *dkv = put(kv, sizeof(float) * rows * ld), *dsc = put(sc, sizeof(float) * rows * ld), *dout = dalloc(sizeof ref);
        ok(O->compress_pool(&be, dkv + 3, dsc + 3, rows, d, ld, dout), "compress_pool");
        get(got, dout, sizeof got);
        ok(O->compress_pool(&be, dkv + 3, dsc + 3, rows, d, ld, dout), "compress_pool");
        get(again, dout, sizeof again);
        same_bits("compress_pool", "determinism", got, again, sizeof got);
        ld_ref_compress_pool(kv + 3, sc + 3, rows, d, ld, ref);
        compare("compress_pool", "8 rows d=512 ld=1024", ref, got, d, T_F32);
        free(kv);
        free(sc);
    }
    /* indexer_scores: 64 heads of 128 over n keys */
    int hs[] = {64, 5}, ds[] = {128, 48}, nk[] = {1500, 77};
    for (int t = 0; t < 2; t++) {
        int h = hs[t], d = ds[t], n = nk[t];
        ld_bf16 *q = act((long)h * d), *w = act(h), *k = act((long)n * d);
        float *ref = malloc(sizeof(float) * (size_t)n), *got = malloc(sizeof(float) * (size_t)n), *dout = dalloc(sizeof(float) * (size_t)n);
        void *dq = put(q, sizeof(ld_bf16) * (size_t)h * d), *dw = put(w, sizeof(ld_bf16) * (size_t)h), *dk = put(k, sizeof(ld_bf16) * (size_t)n * d);
        ok(O->indexer_scores(&be, dq, dw, h, d, dk, n, dout), "indexer_scores");
        get(got, dout, sizeof(float) * (size_t)n);
        ld_ref_indexer_scores(q, w, h, d, k, n, ref);
        char label[64];
        snprintf(label, sizeof label, "h=%d d=%d n=%d", h, d, n);
        compare("indexer_scores", label, ref, got, n, T_CHAIN);
        /* top-k of these bf16 scores (many ties), exact */
        int kk = t ? 90 : 512, *ri = malloc(sizeof(int) * (size_t)kk), *gi = malloc(sizeof(int) * (size_t)kk);
        int *di = dalloc(sizeof(int) * (size_t)kk);
        ok(O->topk(&be, dout, n, kk, di), "topk");
        get(gi, di, sizeof(int) * (size_t)kk);
        ld_ref_topk(got, n, kk, ri);
        snprintf(label, sizeof label, "top-%d of %d", kk, n);
        same_bits("topk", label, ri, gi, sizeof(int) * (size_t)kk);
        record("topk", 0);
        free(q); free(w); free(k); free(ref); free(got); free(ri); free(gi);
    }
    /* swiglu with and without the clamp */
    for (int t = 0; t < 2; t++) {
        int n = 37 * 2048 + 5;
        ld_bf16 *g = act(n), *u = act(n), *ref = malloc(sizeof(ld_bf16) * (size_t)n), *got = malloc(sizeof(ld_bf16) * (size_t)n);
        for (int i = 0; i < n; i += 50) g[i] = ld_f32_to_bf16(30.0f * gauss());
        void *dg = put(g, sizeof(ld_bf16) * (size_t)n), *du = put(u, sizeof(ld_bf16) * (size_t)n), *dout = dalloc(sizeof(ld_bf16) * (size_t)n);
        float lim = t ? 0.0f : 10.0f, wt = t ? 1.0f : 0.37f;
        ok(O->swiglu(&be, dg, du, n, lim, wt, dout), "swiglu");
        get(got, dout, sizeof(ld_bf16) * (size_t)n);
        ld_ref_swiglu(g, u, n, lim, wt, ref);
        compare_bf16("swiglu", t ? "no clamp" : "limit 10, weight 0.37", ref, got, n, T_BF16);
        free(g); free(u); free(ref); free(got);
    }
    /* embed, copy_rows, widen, scale_bf16: exact */
    {
        int V = 1000, d = 4096, rows = 37, copies = 4, ids[37];
        ld_bf16 *tab = act((long)V * d), *h = malloc(sizeof(ld_bf16) * (size_t)rows * copies * d);
        for (int i = 0; i < rows; i++) ids[i] = (int)(rnd() % (uint32_t)V);
        void *dt = put(tab, sizeof(ld_bf16) * (size_t)V * d), *di = put(ids, sizeof ids);
        ld_bf16 *dh = dalloc(sizeof(ld_bf16) * (size_t)rows * copies * d), *hg = malloc(sizeof(ld_bf16) * (size_t)rows * copies * d);
        ok(O->embed(&be, dt, di, rows, d, copies, dh), "embed");
        get(hg, dh, sizeof(ld_bf16) * (size_t)rows * copies * d);
        for (int t = 0; t < rows; t++)
            for (int j = 0; j < copies; j++) memcpy(h + ((long)t * copies + j) * d, tab + (long)ids[t] * d, sizeof(ld_bf16) * d);
        same_bits("embed", "4096 x4", h, hg, sizeof(ld_bf16) * (size_t)rows * copies * d);
        record("embed", 0);
        /* copy_rows: 4-byte and byte paths, pitches apart */
        for (int t = 0; t < 2; t++) {
            size_t bytes = t ? 1023 : 1024, sp = 4096 + (t ? 3 : 0), dp = 2048 + (t ? 1 : 0);
            int nr = 9;
            uint8_t *src = malloc(sp * nr), *dst = calloc(dp * nr, 1), *exp = calloc(dp * nr, 1);
            for (size_t i = 0; i < sp * nr; i++) src[i] = (uint8_t)rnd();
            uint8_t *ds = put(src, sp * nr), *dd = put(dst, dp * nr);
            ok(O->copy_rows(&be, dd + t, dp, ds + 5 * t, sp, bytes, nr), "copy_rows");
            get(dst, dd, dp * nr);
            for (int r = 0; r < nr; r++) memcpy(exp + r * dp + t, src + r * sp + 5 * t, bytes);
            same_bits("copy_rows", t ? "byte path" : "word path", exp, dst, dp * nr);
            record("copy_rows", 0);
            free(src); free(dst); free(exp);
        }
        long n = (long)V * d;
        float *wf = malloc(sizeof(float) * (size_t)n), *wg = malloc(sizeof(float) * (size_t)n), *dw = dalloc(sizeof(float) * (size_t)n);
        ok(O->widen(&be, dt, n, dw), "widen");
        get(wg, dw, sizeof(float) * (size_t)n);
        for (long i = 0; i < n; i++) wf[i] = ld_bf16_to_f32(tab[i]);
        same_bits("widen", "4M values", wf, wg, sizeof(float) * (size_t)n);
        record("widen", 0);
        ld_bf16 *sg = malloc(sizeof(ld_bf16) * (size_t)n);
        ok(O->scale_bf16(&be, dt, n, 0.0883883f), "scale_bf16");
        get(sg, dt, sizeof(ld_bf16) * (size_t)n);
        for (long i = 0; i < n; i++) tab[i] = ld_f32_to_bf16(ld_bf16_to_f32(tab[i]) * 0.0883883f);
        same_bits("scale_bf16", "4M values", tab, sg, sizeof(ld_bf16) * (size_t)n);
        record("scale_bf16", 0);
        free(tab); free(h); free(hg); free(wf); free(wg); free(sg);
    }
    /* quant_sim: FP8 on the nope dims (block 64), FP8 1x128, FP4 1x32, rows stride apart */
    int blocks[] = {64, 128, 32}, fp4s[] = {0, 0, 1};
    for (int t = 0; t < 3; t++) {
        int rows = 37, n = 448, stride = 512;
        if (blocks[t] == 128) n = 384;
        ld_bf16 *x = act((long)rows * stride), *got = malloc(sizeof(ld_bf16) * (size_t)rows * stride);
        memset(x + stride, 0, sizeof(ld_bf16) * (size_t)stride);
        for (int i = 0; i < 64; i++) x[3 * stride + i] = ld_f32_to_bf16(1e-30f * gauss());
        ld_bf16 *dx = put(x, sizeof(ld_bf16) * (size_t)rows * stride);
        ok(O->quant_sim(&be, dx, rows, stride, n, blocks[t], fp4s[t]), "quant_sim");
        get(got, dx, sizeof(ld_bf16) * (size_t)rows * stride);
        for (int r = 0; r < rows; r++)
            (fp4s[t] ? ld_fp4_sim_bf16 : ld_fp8_sim_bf16)(x + (long)r * stride, n, blocks[t]);
        char label[64];
        snprintf(label, sizeof label, "%s block %d", fp4s[t] ? "fp4" : "fp8", blocks[t]);
        same_bits("quant_sim", label, x, got, sizeof(ld_bf16) * (size_t)rows * stride);
        record("quant_sim", 0);
        free(x); free(got);
    }
}

/* ---------------------------------------------------------- main */

int main(void) {
    if (!O->probe()) {
        printf("no OpenCL platform or device: skipped\n");
        return 77;
    }
    ld_backend_opts opts = {.device = -1};
    if (getenv("LD_OPENCL_DEVICE")) opts.device = atoi(getenv("LD_OPENCL_DEVICE"));
    if (O->create(&be, &opts)) {
        printf("opencl create failed (%s): skipped\n", ld_last_error());
        return 77;
    }
    char desc[256];
    O->describe(&be, desc, sizeof desc);
    printf("device: %s\n", desc);

    test_linear(LD_WF_FP8, 256, 512, "fp8 512->256");
    test_linear(LD_WF_FP8, 1024, 4096, "fp8 4096->1024");
    test_linear(LD_WF_FP8_DQ, 256, 1024, "fp8_dq 1024->256");
    test_linear(LD_WF_FP4, 2048, 4096, "fp4 4096->2048");
    test_linear(LD_WF_FP4, 160, 256, "fp4 256->160");
    test_linear(LD_WF_BF16, 300, 1000, "bf16 1000->300");
    test_linear(LD_WF_BF16, 512, 4096, "bf16 4096->512");
    test_linear(LD_WF_F32, 77, 333, "f32 333->77");
    test_rows();
    test_small_ops();


    ok(O->sync(&be), "sync");
    O->destroy(&be);
    printf("\n%-18s %6s %12s\n", "op", "cases", "worst nmse");
    for (int i = 0; i < MAX_OPS && report[i].name; i++)
        printf("%-18s %6d %12.3g\n", report[i].name, report[i].cases, report[i].worst);
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "ok", failures);
    return failures ? 1 : 0;
}
