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

static void free_weight(ld_weight *w) {
    free((void *)w->data);
    free((void *)w->scale);
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
    free_weight(&w);
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

/* ---------------------------------------------------------- composites */

/* attention.c's index lists, then ref's sparse attention per row */
static void ref_attend(const ld_attend_args *a, ld_bf16 *out) {
    const ld_bf16 **list = malloc(sizeof(*list) * (size_t)(a->W + a->k_max + 4096));
    for (int t = 0; t < a->rows; t++) {
        long p = a->P + t;
        int n = 0;
        for (long qp = p - a->window + 1 < 0 ? 0 : p - a->window + 1; qp <= p; qp++)
            list[n++] = qp >= a->P ? a->kv_new + (qp - a->P) * a->d : a->ring + (qp % a->window) * a->d;
        while (n < a->W) list[n++] = NULL;
        if (a->comp && a->comp_idx) {
            for (int i = 0; i < a->k_max && a->comp_idx[(long)t * a->k_max + i] >= 0; i++)
                list[n++] = a->comp + (long)a->comp_idx[(long)t * a->k_max + i] * a->d;
        } else if (a->comp && a->comp_ratio > 0) {
            for (long i = 0; i < (p + 1) / a->comp_ratio; i++) list[n++] = a->comp + i * a->d;
        }
        ld_ref_sparse_attn(a->q + (long)t * a->h * a->d, a->h, a->d, list, n, a->sink, a->scale,
                           out + (long)t * a->h * a->d);
    }
    free(list);
}

typedef struct {
    ld_attend_args host, dev;
} att_ctx;

static void att_run(void *p, int m, void *out) {
    att_ctx *c = p;
    ld_attend_args a = c->dev;
    size_t ob = sizeof(ld_bf16) * (size_t)m * a.h * a.d;
    a.rows = m;
    a.out = dalloc(ob);
    ok(O->attend(&be, &a), "attend");
    get(out, a.out, ob);
    O->free(&be, a.out);
}

static void test_attend(int h, int d, int window, int rows, long P, int ncomp, int k_max, int ratio, int full_rows,
                        const char *label) {
    int W = P == 0 && rows < window ? rows : window;
    ld_bf16 *q = act((long)rows * h * d), *kvn = act((long)rows * d), *ring = act((long)window * d);
    ld_bf16 *comp = ncomp ? act((long)ncomp * d) : NULL;
    for (long i = 0; i < (long)rows * h * d; i++) q[i] = ld_f32_to_bf16(ld_bf16_to_f32(q[i]) * 0.3f);
    float *sink = fvec(h, 1.0f, 0.0f);
    int *cidx = NULL;
    if (k_max) {
        cidx = malloc(sizeof(int) * (size_t)rows * k_max);
        for (int t = 0; t < rows; t++) {
            int nvis = (int)((P + t + 1) / ratio), k = nvis < k_max ? nvis : k_max;
            if (t % 3 == 1 && k > 3) k -= 3; /* -1 tails of other lengths */
            for (int i = 0; i < k_max; i++) cidx[(long)t * k_max + i] = i < k ? (int)(rnd() % (uint32_t)nvis) : -1;
        }
    }
    att_ctx c;
    c.host = (ld_attend_args){.q = q, .rows = rows, .h = h, .d = d, .kv_new = kvn, .ring = ring, .window = window,
                              .W = W, .P = P, .comp = comp, .comp_idx = cidx, .k_max = k_max, .comp_ratio = ratio,
                              .sink = sink, .scale = 1.0f / sqrtf((float)d)};
    c.dev = c.host;
    c.dev.q = put(q, sizeof(ld_bf16) * (size_t)rows * h * d);
    c.dev.kv_new = put(kvn, sizeof(ld_bf16) * (size_t)rows * d);
    c.dev.ring = put(ring, sizeof(ld_bf16) * (size_t)window * d);
    c.dev.comp = comp ? put(comp, sizeof(ld_bf16) * (size_t)ncomp * d) : NULL;
    c.dev.comp_idx = cidx ? put(cidx, sizeof(int) * (size_t)rows * k_max) : NULL;
    c.dev.sink = put(sink, sizeof(float) * (size_t)h);
    size_t rb = sizeof(ld_bf16) * (size_t)h * d;
    ld_bf16 *got, *ref = malloc(rb * (size_t)rows);
    if (full_rows) {
        got = rows_check("attend", label, att_run, &c, rb);
    } else {
        got = malloc(rb * (size_t)rows);
        att_run(&c, rows, got);
    }
    ref_attend(&c.host, ref);
    compare_bf16("attend", label, ref, got, (long)rows * h * d, T_CHAIN);
    free(q); free(kvn); free(ring); free(comp); free(sink); free(cidx); free(ref); free(got);
}

/* compressor.c's state machine and emit, with ref's primitives */
static void ref_compress(const ld_compress_args *a) {
    int r = a->ratio, d = a->d, cd = (1 + a->overlap) * d, rd = a->rope_dim, j = 0;
    float *pk = malloc(sizeof(float) * 2 * (size_t)r * d), *ps = malloc(sizeof(float) * 2 * (size_t)r * d);
    float *pooled = malloc(sizeof(float) * (size_t)d);
    ld_bf16 *tmp = malloc(sizeof(ld_bf16) * (size_t)d);
    for (int t = 0; t < a->S; t++) {
        long p = a->P + t;
        int slot = (int)(p % r), row = a->overlap ? r + slot : slot;
        float *kr = a->kv + (long)t * cd, *sr = a->sc + (long)t * cd;
        for (int i = 0; i < cd; i++) sr[i] += a->ape[(long)slot * cd + i];
        memcpy(a->kv_state + (long)row * cd, kr, sizeof(float) * (size_t)cd);
        memcpy(a->sc_state + (long)row * cd, sr, sizeof(float) * (size_t)cd);
        if ((p + 1) % r) continue;
        if (a->overlap) {
            for (int q = 0; q < r; q++) {
                memcpy(pk + (long)q * d, a->kv_state + (long)q * cd, sizeof(float) * (size_t)d);
                memcpy(ps + (long)q * d, a->sc_state + (long)q * cd, sizeof(float) * (size_t)d);
                memcpy(pk + (long)(r + q) * d, a->kv_state + (long)(r + q) * cd + d, sizeof(float) * (size_t)d);
                memcpy(ps + (long)(r + q) * d, a->sc_state + (long)(r + q) * cd + d, sizeof(float) * (size_t)d);
            }
            ld_ref_compress_pool(pk, ps, 2 * r, d, d, pooled);
            memcpy(a->kv_state, a->kv_state + (long)r * cd, sizeof(float) * (size_t)r * cd);
            memcpy(a->sc_state, a->sc_state + (long)r * cd, sizeof(float) * (size_t)r * cd);
        } else {
            ld_ref_compress_pool(a->kv_state, a->sc_state, r, d, cd, pooled);
        }
        ld_bf16 *e = a->cache + (long)(a->n0 + j) * d;
        for (int i = 0; i < d; i++) tmp[i] = ld_f32_to_bf16(pooled[i]);
        ld_ref_rmsnorm(tmp, a->norm, 1, d, a->norm_eps, e);
        const float *cs = a->cs_emit + (long)j * rd;
        ld_ref_rope(e + d - rd, 1, 0, cs, cs + rd / 2, rd / 2, 0);
        if (a->rotate) {
            ld_ref_hadamard(e, 1, d);
            ld_fp4_sim_bf16(e, d, 32);
        } else {
            ld_fp8_sim_bf16(e, d - rd, 64);
        }
        j++;
    }
    free(pk); free(ps); free(pooled); free(tmp);
}

static void test_compress(int ratio, int overlap, int d, int rotate, int S1, int S2, const char *label) {
    int cd = (1 + overlap) * d, rd = 64, srows = (1 + overlap) * ratio, cap = (S1 + S2) / ratio + 2;
    float *ape = fvec((long)ratio * cd, 0.5f, 0.0f), *ks = calloc((size_t)srows * cd, sizeof(float));
    float *ss = malloc(sizeof(float) * (size_t)srows * cd);
    for (long i = 0; i < (long)srows * cd; i++) ss[i] = -INFINITY;
    ld_bf16 *norm = malloc(sizeof(ld_bf16) * (size_t)d), *cache = calloc((size_t)cap * d, sizeof(ld_bf16));
    for (int i = 0; i < d; i++) norm[i] = ld_f32_to_bf16(1.0f + 0.05f * gauss());
    float *dape = put(ape, sizeof(float) * (size_t)ratio * cd), *dks = put(ks, sizeof(float) * (size_t)srows * cd);
    float *dss = put(ss, sizeof(float) * (size_t)srows * cd);
    ld_bf16 *dnorm = put(norm, sizeof(ld_bf16) * (size_t)d), *dcache = put(cache, sizeof(ld_bf16) * (size_t)cap * d);
    int n0 = 0;
    for (int call = 0; call < 2; call++) {
        int S = call ? S2 : S1;
        long P = call ? S1 : 0;
        int blocks = (int)((P + S) / ratio - P / ratio);
        float *kv = fvec((long)S * cd, 1.0f, 0.0f), *sc = fvec((long)S * cd, 1.0f, 0.0f);
        float *cs = malloc(sizeof(float) * (size_t)(blocks ? blocks : 1) * rd);
        for (int b = 0; b < blocks; b++)
            for (int i = 0; i < rd / 2; i++) {
                float ang = (float)((P / ratio + b) * ratio) * powf(10000.0f, -2.0f * i / rd);
                cs[b * rd + i] = cosf(ang);
                cs[b * rd + rd / 2 + i] = sinf(ang);
            }
        ld_compress_args h = {.kv = kv, .sc = sc, .S = S, .P = P, .ape = ape, .kv_state = ks, .sc_state = ss,
                              .cache = cache, .n0 = n0, .ratio = ratio, .d = d, .overlap = overlap, .rope_dim = rd,
                              .rotate = rotate, .norm = norm, .norm_eps = 1e-6f, .cs_emit = cs};
        ld_compress_args a = h;
        a.kv = put(kv, sizeof(float) * (size_t)S * cd);
        a.sc = put(sc, sizeof(float) * (size_t)S * cd);
        a.ape = dape;
        a.kv_state = dks;
        a.sc_state = dss;
        a.cache = dcache;
        a.norm = dnorm;
        a.cs_emit = put(cs, sizeof(float) * (size_t)(blocks ? blocks : 1) * rd);
        ok(O->compress(&be, &a), "compress");
        ref_compress(&h);
        float *g = malloc(sizeof(float) * (size_t)(S > srows ? S : srows) * cd);
        get(g, a.sc, sizeof(float) * (size_t)S * cd);
        same_bits("compress", "scores + ape", sc, g, sizeof(float) * (size_t)S * cd);
        get(g, dks, sizeof(float) * (size_t)srows * cd);
        same_bits("compress", "kv state", ks, g, sizeof(float) * (size_t)srows * cd);
        get(g, dss, sizeof(float) * (size_t)srows * cd);
        same_bits("compress", "score state", ss, g, sizeof(float) * (size_t)srows * cd);
        n0 += blocks;
        free(kv); free(sc); free(cs); free(g);
    }
    ld_bf16 *got = malloc(sizeof(ld_bf16) * (size_t)n0 * d);
    get(got, dcache, sizeof(ld_bf16) * (size_t)n0 * d);
    compare_bf16("compress", label, cache, got, (long)n0 * d, T_CHAIN);
    free(ape); free(ks); free(ss); free(norm); free(cache); free(got);
}

/* Selection against ref's topk over the device's own scores (the scores
 * themselves are checked by indexer_scores): exact. */
static void test_select(int S, long P, int h, int d, int topk, int k_max, const char *label) {
    long nmax = (P + S) / 4;
    ld_bf16 *q = act((long)S * h * d), *w = act((long)S * h), *keys = act(nmax * d);
    ld_select_args a = {.q = put(q, sizeof(ld_bf16) * (size_t)S * h * d), .w = put(w, sizeof(ld_bf16) * (size_t)S * h),
                        .S = S, .h = h, .d = d, .P = P, .keys = put(keys, sizeof(ld_bf16) * (size_t)nmax * d),
                        .topk = topk, .k_max = k_max, .sel = dalloc(sizeof(int) * (size_t)S * k_max)};
    ok(O->indexer_select(&be, &a), "indexer_select");
    int *got = malloc(sizeof(int) * (size_t)S * k_max), *ref = malloc(sizeof(int) * (size_t)S * k_max);
    get(got, a.sel, sizeof(int) * (size_t)S * k_max);
    float *ds = dalloc(sizeof(float) * (size_t)nmax), *sc = malloc(sizeof(float) * (size_t)nmax);
    for (int t = 0; t < S; t++) {
        int nvis = (int)((P + t + 1) / 4), k = nvis < topk ? nvis : topk;
        int *st = ref + (long)t * k_max;
        for (int i = 0; i < k_max; i++) st[i] = -1;
        if (!k) continue;
        ok(O->indexer_scores(&be, (const ld_bf16 *)a.q + (long)t * h * d, (const ld_bf16 *)a.w + (long)t * h, h, d,
                             a.keys, nvis, ds), "indexer_scores");
        get(sc, ds, sizeof(float) * (size_t)nvis);
        ld_ref_topk(sc, nvis, k, st);
    }
    same_bits("indexer_select", label, ref, got, sizeof(int) * (size_t)S * k_max);
    record("indexer_select", 0);
    free(q); free(w); free(keys); free(got); free(ref); free(sc);
}

static void test_route(int hash) {
    int S = 37, E = 64, K = 6, V = 100;
    float *lg = fvec((long)S * E, 2.0f, 0.0f), *bias = fvec(E, 0.1f, 0.0f);
    int64_t *tid = malloc(sizeof(int64_t) * (size_t)V * K);
    int ids[37];
    for (long i = 0; i < (long)V * K; i++) tid[i] = rnd() % (uint32_t)E;
    tid[7 * K + 1] = tid[7 * K]; /* a repeated expert */
    for (int t = 0; t < S; t++) ids[t] = t == 2 ? 7 : (int)(rnd() % (uint32_t)V);
    ld_route_args a = {.logits = put(lg, sizeof(float) * (size_t)S * E), .S = S, .E = E, .K = K,
                       .bias = hash ? NULL : put(bias, sizeof(float) * (size_t)E),
                       .tid2eid = hash ? put(tid, sizeof(int64_t) * (size_t)V * K) : NULL,
                       .ids = hash ? put(ids, sizeof ids) : NULL, .route_scale = 2.5f,
                       .idx = dalloc(sizeof(int) * (size_t)S * K), .wt = dalloc(sizeof(float) * (size_t)S * K)};
    ok(O->moe_route(&be, &a), "moe_route");
    int ri[37 * 6], gi[37 * 6];
    float rw[37 * 6], gw[37 * 6], *gs = malloc(sizeof(float) * (size_t)S * E), sel[64];
    get(gi, a.idx, sizeof gi);
    get(gw, a.wt, sizeof gw);
    get(gs, a.logits, sizeof(float) * (size_t)S * E);
    for (int t = 0; t < S; t++) { /* moe.c's routing */
        float *s = lg + (long)t * E;
        for (int e = 0; e < E; e++) s[e] = sqrtf(ld_softplusf(s[e]));
        int *it = ri + t * K;
        if (hash) {
            for (int k = 0; k < K; k++) it[k] = (int)tid[(long)ids[t] * K + k];
        } else {
            for (int e = 0; e < E; e++) sel[e] = s[e] + bias[e];
            ld_ref_topk(sel, E, K, it);
        }
        double sum = 0;
        for (int k = 0; k < K; k++) sum += s[it[k]];
        for (int k = 0; k < K; k++) rw[t * K + k] = s[it[k]] / (float)sum * 2.5f;
    }
    const char *label = hash ? "hash, 64 experts top-6" : "bias, 64 experts top-6";
    same_bits("moe_route", label, ri, gi, sizeof ri);
    record("moe_route idx", 0);
    compare("moe_route wt", label, rw, gw, S * K, T_F32);
    compare("moe_route score", label, lg, gs, (long)S * E, T_F32);
    free(lg); free(bias); free(tid); free(gs);
}

/* moe.c's experts: per expert its rows in ascending order, w2(swiglu(w1 x,
 * w3 x) * weight), an fp32 sum in ascending expert id, the shared expert,
 * one rounding. */
static void ref_moe(const ld_expert_w *ex, const ld_expert_w *sh, int S, int E, int K, int D, int I, float lim,
                    const ld_bf16 *x, const int *idx, const float *wt, ld_bf16 *out) {
    float *y = calloc((size_t)S * D, sizeof(float));
    ld_bf16 *xe = malloc(sizeof(ld_bf16) * (size_t)S * D), *ye = malloc(sizeof(ld_bf16) * (size_t)S * D);
    ld_bf16 *g = malloc(sizeof(ld_bf16) * (size_t)S * I), *u = malloc(sizeof(ld_bf16) * (size_t)S * I);
    int *rows = malloc(sizeof(int) * (size_t)S);
    float *rw = malloc(sizeof(float) * (size_t)S);
    for (int e = 0; e <= E; e++) {
        const ld_expert_w *X = e < E ? &ex[e] : sh;
        int n = 0;
        if (e < E) {
            for (int t = 0; t < S; t++)
                for (int k = 0; k < K; k++)
                    if (idx[t * K + k] == e) { rows[n] = t; rw[n] = wt[t * K + k]; n++; break; }
        } else {
            for (int t = 0; t < S; t++) { rows[n] = t; rw[n] = 1.0f; n++; }
        }
        if (!n) continue;
        for (int i = 0; i < n; i++) memcpy(xe + (long)i * D, x + (long)rows[i] * D, sizeof(ld_bf16) * (size_t)D);
        ld_ref_linear(&X->w1, xe, n, g);
        ld_ref_linear(&X->w3, xe, n, u);
        for (int i = 0; i < n; i++) ld_ref_swiglu(g + (long)i * I, u + (long)i * I, I, lim, rw[i], g + (long)i * I);
        ld_ref_linear(&X->w2, g, n, ye);
        if (e < E)
            for (int i = 0; i < n; i++)
                for (int j = 0; j < D; j++) y[(long)rows[i] * D + j] += ld_bf16_to_f32(ye[(long)i * D + j]);
    }
    for (long i = 0; i < (long)S * D; i++) out[i] = ld_f32_to_bf16(y[i] + ld_bf16_to_f32(ye[i]));
    free(y); free(xe); free(ye); free(g); free(u); free(rows); free(rw);
}

typedef struct {
    ld_moe_args dev;
} moe_ctx;

static void moe_run(void *p, int m, void *out) {
    moe_ctx *c = p;
    ld_moe_args a = c->dev;
    a.S = m;
    a.out = dalloc(sizeof(ld_bf16) * (size_t)m * a.dim);
    ok(O->moe_experts(&be, &a), "moe_experts");
    get(out, a.out, sizeof(ld_bf16) * (size_t)m * a.dim);
    O->free(&be, a.out);
}

static void test_moe(ld_wfmt ef, ld_wfmt sf, int E, int K, int D, int I, const char *label) {
    int S = 37;
    ld_expert_w *hx = malloc(sizeof(*hx) * (size_t)E), *dx = malloc(sizeof(*dx) * (size_t)E), hs, ds;
    for (int e = 0; e <= E; e++) {
        ld_wfmt f = e < E ? ef : sf;
        ld_expert_w w = {make_weight(f, I, D, 0.05f), make_weight(f, D, I, 0.05f), make_weight(f, I, D, 0.05f)};
        ld_expert_w d = {dev_weight(&w.w1), dev_weight(&w.w2), dev_weight(&w.w3)};
        if (e < E) { hx[e] = w; dx[e] = d; } else { hs = w; ds = d; }
    }
    ld_bf16 *x = act((long)S * D);
    int *idx = malloc(sizeof(int) * (size_t)S * K);
    float *wt = fvec((long)S * K, 0.2f, 0.5f);
    for (int t = 0; t < S; t++)
        for (int k = 0; k < K; k++) idx[t * K + k] = (int)(rnd() % (uint32_t)(E - 1)); /* expert E-1 unused */
    idx[3 * K + 1] = idx[3 * K]; /* a repeated id counts once */
    ld_moe_args a = {.experts = dx, .shared = &ds, .S = S, .E = E, .K = K, .dim = D, .inter = I, .swiglu_limit = 10.0f,
                     .x = put(x, sizeof(ld_bf16) * (size_t)S * D), .idx = put(idx, sizeof(int) * (size_t)S * K),
                     .wt = put(wt, sizeof(float) * (size_t)S * K)};
    moe_ctx c = {a};
    ld_bf16 *got = rows_check("moe_experts", label, moe_run, &c, sizeof(ld_bf16) * (size_t)D);
    ld_bf16 *ref = malloc(sizeof(ld_bf16) * (size_t)S * D);
    ref_moe(hx, &hs, S, E, K, D, I, 10.0f, x, idx, wt, ref);
    compare_bf16("moe_experts", label, ref, got, (long)S * D, T_MOE);
    for (int e = 0; e <= E; e++) {
        ld_expert_w *d = e < E ? &dx[e] : &ds, *h = e < E ? &hx[e] : &hs;
        O->release_weight(&be, &d->w1);
        O->release_weight(&be, &d->w2);
        O->release_weight(&be, &d->w3);
        free_weight(&h->w1);
        free_weight(&h->w2);
        free_weight(&h->w3);
    }
    O->free(&be, (void *)a.x);
    O->free(&be, (void *)a.idx);
    O->free(&be, (void *)a.wt);
    free(hx); free(dx); free(x); free(idx); free(wt); free(got); free(ref);
}

static void test_composites(void) {
    test_attend(8, 512, 128, 37, 300, 200, 64, 4, 1, "CSA h=8 P=300");
    test_attend(4, 512, 128, 37, 0, 0, 0, 0, 1, "first call W=S");
    test_attend(3, 64, 16, 37, 500, 8, 0, 64, 1, "HCA window 16");
    test_attend(64, 512, 128, 4, 4000, 1000, 512, 4, 0, "CSA h=64 k=512");
    test_compress(4, 1, 128, 1, 37, 6, "CSA indexer d=128 rotate");
    test_compress(4, 1, 512, 0, 37, 6, "CSA d=512");
    test_compress(128, 0, 512, 0, 300, 37, "HCA r=128 d=512");
    test_select(37, 100, 8, 64, 16, 20, "S=37 P=100 top-16");
    test_select(4, 8190, 64, 128, 512, 512, "S=4 top-512 of 2048");
    test_route(0);
    test_route(1);
    test_moe(LD_WF_FP4, LD_WF_FP8, 8, 3, 512, 256, "fp4 experts, fp8 shared");
    test_moe(LD_WF_BF16, LD_WF_BF16, 5, 2, 200, 72, "bf16 odd shapes");
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
    test_composites();

    ok(O->sync(&be), "sync");
    O->destroy(&be);
    printf("\n%-18s %6s %12s\n", "op", "cases", "worst nmse");
    for (int i = 0; i < MAX_OPS && report[i].name; i++)
        printf("%-18s %6d %12.3g\n", report[i].name, report[i].cases, report[i].worst);
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "ok", failures);
    return failures ? 1 : 0;
}
