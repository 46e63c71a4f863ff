/* The ref backend's operators against computations written out here.
 *
 * Two kinds of expectation:
 * - a plain float64 evaluation of the math (no rounding rules at all),
 *   compared with a tolerance stated per op;
 * - where the manifest's arithmetic rules make the result a pure function of
 *   exact quantities (FP8/FP4/BF16 linears, Hadamard, indexer scores, top-k),
 *   the rule re-implemented here and compared bit for bit.
 * Inputs come from a fixed-seed PRNG at realistic magnitudes. Quantization
 * and rounding helpers are re-implemented in this file rather than taken
 * from core/numerics, so a shared mistake cannot cancel out. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref.h"
#include "backends/w8a8.h"
#include "core/error.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------- */

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rng_next(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rng_unit(void) { return (double)(rng_next() >> 11) * 0x1p-53; }
static double rng_gauss(void) {
    double u = rng_unit(), v = rng_unit();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static float bits_f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t f_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* bf16 round-to-nearest-even of a finite fp32 value. */
static uint16_t bf16_of(float f) {
    uint32_t u = f_bits(f), keep = u & 0xffff0000u, rem = u & 0xffffu;
    if (rem > 0x8000u || (rem == 0x8000u && (keep & 0x10000u))) keep += 0x10000u;
    return (uint16_t)(keep >> 16);
}
static float bf(uint16_t h) { return bits_f((uint32_t)h << 16); }
static float bf16r(float f) { return bf(bf16_of(f)); }

/* bf16 values with a bounded exponent range: dot products of these are
 * exact in double, which the bit-exact checks rely on. */
static uint16_t rand_bf16_bounded(int emin, int emax) {
    int e = emin + (int)(rng_next() % (uint64_t)(emax - emin + 1));
    double v = ldexp(1.0 + (double)(rng_next() % 128) / 128.0, e);
    return bf16_of((float)(rng_next() & 1 ? -v : v));
}
static uint16_t rand_bf16_gauss(double sd) { return bf16_of((float)(rng_gauss() * sd)); }

static double fp8_tab[256];
static int fp8_encode(double x) { /* nearest finite code, ties to even; saturates */
    int best = 0;
    double bd = INFINITY, a = fabs(x);
    for (int c = 0; c <= 0x7e; c++) {
        double d = fabs(fp8_tab[c] - a);
        if (d < bd || (d == bd && (c & 1) == 0)) { bd = d; best = c; }
    }
    return (x < 0 || (x == 0 && signbit(x)) ? 0x80 : 0) | best;
}
static const double fp4_tab[16] = {0, .5, 1, 1.5, 2, 3, 4, 6, -0.0, -.5, -1, -1.5, -2, -3, -4, -6};
static double e8m0(int b) { return ldexp(1.0, b - 127); }
/* fp32 elementwise functions of the manifest: evaluated in double, rounded once */
static float rsqrt_f(float x) { return (float)(1.0 / sqrt((double)x)); }
static float exp_f(float x) { return (float)exp((double)x); }

/* Activation quantization of one 128-block with the manifest's scale rule. */
static float act_scale(const float *x, int n) {
    float amax = 0;
    for (int i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
    if (amax < 1e-4f) amax = 1e-4f;
    float v = amax * (float)(1.0 / 448.0);
    int e;
    double f = frexp((double)v, &e);
    return (float)(f == 0.5 ? ldexp(1.0, e - 1) : ldexp(1.0, e));
}
static void act_quant(const float *x, int k, double *xq, float *sa) {
    for (int b = 0; b < k / 128; b++) {
        sa[b] = act_scale(x + b * 128, 128);
        for (int i = b * 128; i < b * 128 + 128; i++) {
            double v = x[i] / sa[b];
            v = v > 448 ? 448 : v < -448 ? -448 : v;
            xq[i] = fp8_tab[fp8_encode(v)];
        }
    }
}

/* got within rel*|ref| + abs of ref; also catches NaN. */
static int near(double got, double ref, double rel, double abs) {
    return fabs(got - ref) <= rel * fabs(ref) + abs;
}

/* Like CHECK, but only the first few failures of a sweep are printed. */
static int fails;
#define EXPECT(cond, ...)                                                    \
    do {                                                                     \
        test_checks++;                                                       \
        if (!(cond)) {                                                       \
            test_failures++;                                                 \
            if (fails++ < 12) {                                              \
                fprintf(stderr, "%s:%d: %s failed: ", __FILE__, __LINE__, #cond); \
                fprintf(stderr, __VA_ARGS__);                                \
                fputc('\n', stderr);                                         \
            }                                                                \
        }                                                                    \
    } while (0)

static int popcount_u(unsigned v) {
    int n = 0;
    for (; v; v &= v - 1) n++;
    return n;
}

/* ---- linear -------------------------------------------------------------- */

enum { LM = 3, LK = 384, LN = 200 };

typedef struct {
    uint16_t x[LM * LK];
    float xf[LM * LK];
    float wf32[LN * LK];
    uint16_t wbf[LN * LK];
    uint8_t w8[LN * LK], s8[2 * 3];
    uint8_t w4[LN * LK / 2], s4[LN * LK / 32];
} lin_data;

static void make_linear(lin_data *D) {
    for (int i = 0; i < LM * LK; i++) {
        D->x[i] = rand_bf16_bounded(-8, 2);
        D->xf[i] = bf(D->x[i]);
    }
    /* one row with an outlier, so one block's activation scale differs */
    D->x[LK + 5] = bf16_of(37.0f);
    D->xf[LK + 5] = 37.0f;
    for (int i = 0; i < LN * LK; i++) {
        D->wf32[i] = (float)(rng_gauss() * 0.05);
        D->wbf[i] = rand_bf16_bounded(-9, -3);
        int c;
        do c = (int)(rng_next() & 0xff); while ((c & 0x7f) == 0x7f);
        D->w8[i] = (uint8_t)c;
    }
    for (int i = 0; i < 6; i++) D->s8[i] = (uint8_t)(115 + rng_next() % 8);
    for (int i = 0; i < LN * LK / 2; i++) D->w4[i] = (uint8_t)(rng_next() & 0xff);
    for (int i = 0; i < LN * LK / 32; i++) D->s4[i] = (uint8_t)(118 + rng_next() % 8);
}

static double w_value(const lin_data *D, ld_wfmt fmt, int o, int i) {
    switch (fmt) {
    case LD_WF_F32: return D->wf32[o * LK + i];
    case LD_WF_BF16: return bf(D->wbf[o * LK + i]);
    case LD_WF_FP8:
    case LD_WF_FP8_DQ: return fp8_tab[D->w8[o * LK + i]] * e8m0(D->s8[(o / 128) * 3 + i / 128]);
    case LD_WF_FP4: {
        uint8_t byte = D->w4[o * (LK / 2) + i / 2];
        return fp4_tab[i & 1 ? byte >> 4 : byte & 15] * e8m0(D->s4[o * (LK / 32) + i / 32]);
    }
    case LD_WF_I8:
    case LD_WF_FP4_I8: break; /* test_w8a8 */
    }
    return NAN;
}

static ld_weight weight_of(const lin_data *D, ld_wfmt fmt) {
    ld_weight w = {.fmt = fmt, .n = LN, .k = LK};
    switch (fmt) {
    case LD_WF_F32: w.data = D->wf32; break;
    case LD_WF_BF16: w.data = D->wbf; break;
    case LD_WF_FP8:
    case LD_WF_FP8_DQ: w.data = D->w8; w.scale = D->s8; w.scale_cols = 3; break;
    case LD_WF_FP4: w.data = D->w4; w.scale = D->s4; w.scale_cols = LK / 32; break;
    case LD_WF_I8:
    case LD_WF_FP4_I8: break; /* test_w8a8 */
    }
    return w;
}

/* The manifest rule, bit for bit: the expected bf16 output of one element. */
static uint16_t linear_rule(const lin_data *D, ld_wfmt fmt, int r, int o, const double *xq, const float *sa) {
    const float *x = D->xf + r * LK;
    if (fmt == LD_WF_FP8 || fmt == LD_WF_FP4) {
        float acc = 0;
        if (fmt == LD_WF_FP8) {
            for (int b = 0; b < LK / 128; b++) {
                double p = 0; /* 4-bit x 4-bit significands: exact */
                for (int i = b * 128; i < b * 128 + 128; i++) p += xq[i] * fp8_tab[D->w8[o * LK + i]];
                float ws = (float)e8m0(D->s8[(o / 128) * 3 + b]);
                acc += (float)p * (sa[b] * ws);
            }
        } else {
            for (int b = 0; b < LK / 32; b++) {
                double p = 0;
                for (int i = b * 32; i < b * 32 + 32; i++) {
                    uint8_t byte = D->w4[o * (LK / 2) + i / 2];
                    p += xq[i] * fp4_tab[i & 1 ? byte >> 4 : byte & 15];
                }
                acc += (float)p * sa[b / 4] * (float)e8m0(D->s4[o * (LK / 32) + b]);
            }
        }
        return bf16_of(acc);
    }
    /* plain formats: the exact dot product rounded once to fp32. Summed here
     * in descending order: the sum is exact (BF16) or exact far below fp32
     * resolution (FP8_DQ), so the order must not matter. */
    double p = 0;
    for (int i = LK - 1; i >= 0; i--) p += (double)x[i] * w_value(D, fmt, o, i);
    return bf16_of((float)p);
}

static void test_linear(void) {
    static lin_data D;
    make_linear(&D);
    static const ld_wfmt fmts[5] = {LD_WF_F32, LD_WF_BF16, LD_WF_FP8, LD_WF_FP8_DQ, LD_WF_FP4};
    static const char *names[5] = {"F32", "BF16", "FP8", "FP8_DQ", "FP4"};
    static uint16_t y[LM * LN];
    for (int f = 0; f < 5; f++) {
        ld_wfmt fmt = fmts[f];
        ld_weight w = weight_of(&D, fmt);
        memset(y, 0xff, sizeof y);
        ld_ref_linear(&w, D.x, LM, y);
        fails = 0;
        int exact_bad = 0;
        for (int r = 0; r < LM; r++) {
            double xq[LK];
            float sa[LK / 128];
            const float *x = D.xf + r * LK;
            int quant = fmt == LD_WF_FP8 || fmt == LD_WF_FP4;
            act_quant(x, LK, xq, sa);
            for (int o = 0; o < LN; o++) {
                double ref = 0, mag = 0;
                for (int i = 0; i < LK; i++) {
                    double xv = quant ? xq[i] * sa[i / 128] : x[i];
                    double t = xv * w_value(&D, fmt, o, i);
                    ref += t;
                    mag += fabs(t);
                }
                /* bf16 output: <= 2^-9 relative; fp32 block partials and
                 * accumulation add ~2^-24 of the term magnitudes */
                double got = bf(y[r * LN + o]);
                EXPECT(near(got, ref, 0x1p-8, 0x1p-20 * mag), "linear %s [%d,%d]: got %.9g ref %.9g", names[f], r, o,
                       got, ref);
                if (fmt != LD_WF_F32 && y[r * LN + o] != linear_rule(&D, fmt, r, o, xq, sa)) exact_bad++;
            }
        }
        /* F32 weights: products of fp32 x bf16 are not exact in a double sum, so no bit-exact claim */
        if (fmt != LD_WF_F32)
            CHECK(exact_bad == 0, "linear %s: %d outputs differ from the manifest rule", names[f], exact_bad);
    }

    /* a row slice is the same linear restricted to those outputs */
    static const ld_wfmt sfmts[3] = {LD_WF_BF16, LD_WF_FP8, LD_WF_FP4};
    for (int f = 0; f < 3; f++) {
        ld_weight w = weight_of(&D, sfmts[f]);
        ld_weight s = ld_weight_rows(&w, 128, LN - 128);
        static uint16_t ys[LM * (LN - 128)];
        ld_ref_linear(&w, D.x, LM, y);
        ld_ref_linear(&s, D.x, LM, ys);
        int bad = 0;
        for (int r = 0; r < LM; r++)
            for (int o = 0; o < LN - 128; o++) bad += ys[r * (LN - 128) + o] != y[r * LN + 128 + o];
        CHECK(bad == 0, "ld_weight_rows fmt %d: %d outputs differ from the full linear", (int)sfmts[f], bad);
    }

    /* an all-zero activation row (scale floor) gives exact zeros */
    uint16_t xz[LK] = {0}, yz[LN];
    ld_weight w8 = weight_of(&D, LD_WF_FP8);
    ld_ref_linear(&w8, xz, 1, yz);
    int nz = 0;
    for (int o = 0; o < LN; o++) nz += bf(yz[o]) != 0.0f;
    CHECK(nz == 0, "FP8 linear of a zero row: %d non-zero outputs", nz);
}

/* The w8a8 rules of backends/w8a8.h, written out here from the checkpoint
 * forms: per-token int8 activations, the FP8 weight requantized per output
 * row, FP4 groups as exact integer sums placed in lanes g % 16. ref on the
 * converted weights must match them bit for bit. */
static int8_t q8(float v) {
    float r = rintf(v);
    return (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
}
static float tree16(const float *v) {
    float a[8], b[4];
    for (int i = 0; i < 8; i++) a[i] = v[i] + v[i + 8];
    for (int i = 0; i < 4; i++) b[i] = a[i] + a[i + 4];
    return (b[0] + b[2]) + (b[1] + b[3]);
}

static void test_w8a8(void) {
    static lin_data D;
    make_linear(&D);
    ld_weight w8 = weight_of(&D, LD_WF_FP8), w4 = weight_of(&D, LD_WF_FP4);
    static int8_t qi8[LN * LK];
    static float si8[LN];
    static uint8_t d4[LN * LK / 2], s4[LN * LK / 32];
    CHECK(ld_weight_to_i8(&w8, qi8, si8) == 0, "to i8: %s", ld_last_error());
    CHECK(ld_weight_to_fp4i8(&w4, d4, s4) == 0, "to fp4i8: %s", ld_last_error());
    ld_weight wi = {.fmt = LD_WF_I8, .n = LN, .k = LK, .data = qi8, .scale = (const uint8_t *)si8, .scale_cols = 1};
    ld_weight wf = {.fmt = LD_WF_FP4_I8, .n = LN, .k = LK, .data = d4, .scale = s4, .scale_cols = LK / 32};
    static uint16_t yi[LM * LN], yf[LM * LN];
    ld_ref_linear(&wi, D.x, LM, yi);
    ld_ref_linear(&wf, D.x, LM, yf);
    int bad_w = 0, bad_i = 0, bad_f = 0;
    double err = 0, mag = 0;
    for (int o = 0; o < LN; o++) {
        float amax = 0;
        for (int i = 0; i < LK; i++) amax = fmaxf(amax, fabsf((float)w_value(&D, LD_WF_FP8, o, i)));
        float sw = amax / 127;
        bad_w += sw != si8[o];
        for (int i = 0; i < LK; i++) bad_w += q8((float)w_value(&D, LD_WF_FP8, o, i) / sw) != qi8[o * LK + i];
    }
    for (int r = 0; r < LM; r++) {
        const float *x = D.xf + r * LK;
        float amax = 0;
        int8_t q[LK];
        for (int i = 0; i < LK; i++) amax = fmaxf(amax, fabsf(x[i]));
        float sx = amax / 127;
        for (int i = 0; i < LK; i++) q[i] = q8(x[i] / sx);
        for (int o = 0; o < LN; o++) {
            int64_t d = 0;
            for (int i = 0; i < LK; i++) d += q[i] * qi8[o * LK + i];
            bad_i += yi[r * LN + o] != bf16_of((float)d * (sx * si8[o]));
            float lane[16] = {0};
            for (int g = 0; g < LK / 32; g++) {
                int64_t dg = 0;
                for (int i = g * 32; i < g * 32 + 32; i++) {
                    uint8_t byte = D.w4[o * (LK / 2) + i / 2];
                    dg += q[i] * (int)(2 * fp4_tab[i & 1 ? byte >> 4 : byte & 15]);
                }
                lane[g % 16] = fmaf((float)dg, (float)e8m0(D.s4[o * (LK / 32) + g]), lane[g % 16]);
            }
            bad_f += yf[r * LN + o] != bf16_of(tree16(lane) * (0.5f * sx));
            /* and the path stays near the exact product of its inputs */
            double ex = 0;
            for (int i = 0; i < LK; i++) ex += (double)x[i] * w_value(&D, LD_WF_FP4, o, i);
            err += (bf(yf[r * LN + o]) - ex) * (bf(yf[r * LN + o]) - ex);
            mag += ex * ex;
        }
    }
    CHECK(bad_w == 0, "FP8 -> int8 weights: %d values differ from the rule", bad_w);
    CHECK(bad_i == 0, "I8 linear: %d outputs differ from the w8a8 rule", bad_i);
    CHECK(bad_f == 0, "FP4_I8 linear: %d outputs differ from the w8a8 rule", bad_f);
    CHECK(err < 1e-3 * mag, "FP4_I8 linear: nmse %g against the exact product", err / mag);
    /* a scale byte of 0 on a group that is not all zero cannot be taken */
    uint8_t s0[LN * LK / 32];
    memcpy(s0, D.s4, sizeof s0);
    s0[5] = 0;
    D.w4[5 * 16] |= 1;
    w4.scale = s0;
    CHECK(ld_weight_to_fp4i8(&w4, d4, s4) != 0 && strstr(ld_last_error(), "scale byte 0"), "fp4i8 scale 0: %s",
          ld_last_error());
}

static void test_linear_f32(void) {
    enum { M = 4, K = 256, N = 96 };
    static float x[M * K], wf[N * K], y[M * N];
    static uint16_t wb[N * K];
    for (int i = 0; i < M * K; i++) x[i] = (float)rng_gauss();
    for (int i = 0; i < N * K; i++) {
        wf[i] = (float)(rng_gauss() / 16);
        wb[i] = rand_bf16_gauss(1.0 / 16);
    }
    for (int f = 0; f < 2; f++) {
        ld_weight w = {.fmt = f ? LD_WF_BF16 : LD_WF_F32, .n = N, .k = K, .data = f ? (const void *)wb : (const void *)wf};
        ld_ref_linear_f32(&w, x, M, y);
        fails = 0;
        for (int r = 0; r < M; r++)
            for (int o = 0; o < N; o++) {
                double ref = 0, mag = 0;
                for (int i = 0; i < K; i++) {
                    double t = (double)x[r * K + i] * (f ? bf(wb[o * K + i]) : wf[o * K + i]);
                    ref += t;
                    mag += fabs(t);
                }
                /* fp32 output of an (almost) exact sum: half an fp32 ulp plus double accumulation noise */
                EXPECT(near(y[r * N + o], ref, 0x1p-24, 0x1p-44 * mag), "linear_f32 %d [%d,%d]: %.9g vs %.9g", f, r,
                       o, y[r * N + o], ref);
            }
    }
}

/* ---- norms --------------------------------------------------------------- */

static void test_rmsnorm(void) {
    enum { M = 5, N = 512 };
    static uint16_t x[M * N], w[N], y[M * N];
    const float eps = 1e-6f;
    for (int i = 0; i < M * N; i++) x[i] = rand_bf16_gauss(i < N ? 3.0 : 0.2);
    for (int i = (M - 1) * N; i < M * N; i++) x[i] = 0; /* zero row: eps keeps it finite */
    for (int i = 0; i < N; i++) w[i] = bf16_of((float)(1.0 + 0.1 * rng_gauss()));
    ld_ref_rmsnorm(x, w, M, N, eps, y);
    fails = 0;
    for (int r = 0; r < M; r++) {
        double ss = 0;
        for (int i = 0; i < N; i++) ss += (double)bf(x[r * N + i]) * bf(x[r * N + i]);
        double inv = 1.0 / sqrt(ss / N + eps);
        for (int i = 0; i < N; i++) {
            double ref = bf(w[i]) * (bf(x[r * N + i]) * inv);
            /* bf16 output (2^-9) on top of a few fp32 roundings */
            EXPECT(near(bf(y[r * N + i]), ref, 0x1p-8, 1e-30), "rmsnorm [%d,%d]: %g vs %g", r, i, bf(y[r * N + i]), ref);
        }
        /* rule: exact sum of squares -> fp32, times fp32(1/n), + eps, rsqrt; bf16(w * (x * r)) */
        float rs = rsqrt_f((float)ss * (float)(1.0 / N) + eps);
        int exact_bad = 0;
        for (int i = 0; i < N; i++) exact_bad += y[r * N + i] != bf16_of(bf(w[i]) * (bf(x[r * N + i]) * rs));
        CHECK(exact_bad == 0, "rmsnorm row %d: %d values differ from the rounding rule", r, exact_bad);
    }
}

static void test_head_rmsnorm(void) {
    enum { H = 32, D = 128 };
    static uint16_t q[H * D], q0[H * D];
    const float eps = 1e-6f;
    for (int i = 0; i < H * D; i++) q0[i] = q[i] = rand_bf16_gauss(0.5 + (i / D) % 4);
    ld_ref_head_rmsnorm(q, H, D, eps);
    fails = 0;
    for (int h = 0; h < H; h++) {
        double ss = 0;
        for (int i = 0; i < D; i++) ss += (double)bf(q0[h * D + i]) * bf(q0[h * D + i]);
        double inv = 1.0 / sqrt(ss / D + eps);
        for (int i = 0; i < D; i++) {
            double ref = bf(q0[h * D + i]) * inv;
            /* every step rounds to bf16 (squares, mean, +eps, rsqrt, product):
             * about five 2^-9 roundings in sequence */
            EXPECT(near(bf(q[h * D + i]), ref, 0x1p-6, 1e-30), "head_rmsnorm [%d,%d]: %g vs %g", h, i, bf(q[h * D + i]),
                   ref);
        }
        /* rule (bf16 tensor ops): bf16(q*q), bf16(sum * fp32(1/hd)), bf16(m + eps), bf16(rsqrt), bf16(q * r) */
        double sq = 0;
        for (int i = 0; i < D; i++) sq += bf16r(bf(q0[h * D + i]) * bf(q0[h * D + i]));
        float mean = bf16r((float)sq * (float)(1.0 / D));
        float rr = bf16r(rsqrt_f(bf16r(mean + eps)));
        int exact_bad = 0;
        for (int i = 0; i < D; i++) exact_bad += q[h * D + i] != bf16_of(bf(q0[h * D + i]) * rr);
        CHECK(exact_bad == 0, "head_rmsnorm head %d: %d values differ from the rounding rule", h, exact_bad);
    }
}

/* ---- RoPE ---------------------------------------------------------------- */

static void test_rope(void) {
    enum { NV = 5, STRIDE = 200, OFF = 64, NP = 32 };
    static uint16_t x[NV * STRIDE], x0[NV * STRIDE], x2[NV * STRIDE];
    float cs[NP], sn[NP];
    for (int i = 0; i < NV * STRIDE; i++) x0[i] = x[i] = rand_bf16_gauss(2.0);
    long pos = 1234;
    for (int i = 0; i < NP; i++) {
        float inv = (float)(1.0 / pow(10000.0, 2.0 * i / (2.0 * NP)));
        float ang = (float)pos * inv;
        cs[i] = (float)cos((double)ang);
        sn[i] = (float)sin((double)ang);
    }
    ld_ref_rope(x + OFF, NV, STRIDE, cs, sn, NP, 0);
    fails = 0;
    int touched = 0;
    for (int v = 0; v < NV; v++)
        for (int j = 0; j < STRIDE; j++) {
            int idx = v * STRIDE + j;
            if (j < OFF || j >= OFF + 2 * NP) { touched += x[idx] != x0[idx]; continue; }
            int p = (j - OFF) / 2;
            double a = bf(x0[v * STRIDE + OFF + 2 * p]), b = bf(x0[v * STRIDE + OFF + 2 * p + 1]);
            double ref = (j - OFF) % 2 == 0 ? a * cs[p] - b * sn[p] : a * sn[p] + b * cs[p];
            /* bf16 output; the fp32 products can cancel, so allow fp32 noise of the inputs */
            EXPECT(near(bf(x[idx]), ref, 0x1p-8, 0x1p-21 * (fabs(a) + fabs(b))), "rope [%d,%d]: %g vs %g", v, j,
                   bf(x[idx]), ref);
        }
    CHECK(touched == 0, "rope wrote %d values outside the rotated pairs", touched);

    memcpy(x2, x, sizeof x);
    ld_ref_rope(x2 + OFF, NV, STRIDE, cs, sn, NP, 1);
    for (int v = 0; v < NV; v++)
        for (int p = 0; p < NP; p++) {
            int i0 = v * STRIDE + OFF + 2 * p;
            double a = bf(x[i0]), b = bf(x[i0 + 1]);
            double ra = a * cs[p] + b * sn[p], rb = -a * sn[p] + b * cs[p];
            EXPECT(near(bf(x2[i0]), ra, 0x1p-8, 0x1p-21 * (fabs(a) + fabs(b))), "inverse rope re [%d,%d]", v, p);
            EXPECT(near(bf(x2[i0 + 1]), rb, 0x1p-8, 0x1p-21 * (fabs(a) + fabs(b))), "inverse rope im [%d,%d]", v, p);
            /* rotating back returns the input up to two bf16 roundings of a norm-preserving map */
            double nrm = hypot(bf(x0[i0]), bf(x0[i0 + 1]));
            EXPECT(fabs(bf(x2[i0]) - bf(x0[i0])) <= 0x1p-7 * nrm && fabs(bf(x2[i0 + 1]) - bf(x0[i0 + 1])) <= 0x1p-7 * nrm,
                   "rope then inverse [%d,%d]: (%g,%g) vs (%g,%g)", v, p, bf(x2[i0]), bf(x2[i0 + 1]), bf(x0[i0]),
                   bf(x0[i0 + 1]));
        }
}

/* ---- Hadamard ------------------------------------------------------------ */

static void test_hadamard(void) {
    static const int sizes[5] = {1, 2, 16, 64, 128};
    enum { M = 3 };
    for (int si = 0; si < 5; si++) {
        int n = sizes[si];
        uint16_t *x = malloc(sizeof(uint16_t) * M * n), *x0 = malloc(sizeof(uint16_t) * M * n);
        for (int i = 0; i < M * n; i++) x0[i] = x[i] = rand_bf16_bounded(-6, 3);
        ld_ref_hadamard(x, M, n);
        float sc = (float)(1.0 / sqrt((double)n));
        fails = 0;
        int exact_bad = 0;
        for (int r = 0; r < M; r++)
            for (int i = 0; i < n; i++) {
                double s = 0, mag = 0;
                for (int j = 0; j < n; j++) {
                    double t = (popcount_u((unsigned)(i & j)) & 1 ? -1.0 : 1.0) * bf(x0[r * n + j]);
                    s += t; /* exact: +-bf16 values of a bounded range */
                    mag += fabs(t);
                }
                double ref = s / sqrt((double)n);
                EXPECT(near(bf(x[r * n + i]), ref, 0x1p-8, 0x1p-22 * mag), "hadamard n=%d [%d,%d]: %g vs %g", n, r, i,
                       bf(x[r * n + i]), ref);
                /* rule: exact transform -> fp32, times fp32(n^-0.5), -> bf16 */
                exact_bad += x[r * n + i] != bf16_of((float)s * sc);
            }
        CHECK(exact_bad == 0, "hadamard n=%d: %d values differ from the rounding rule", n, exact_bad);
        /* H/sqrt(n) is an involution: applying it twice returns the input within two bf16 roundings */
        ld_ref_hadamard(x, M, n);
        for (int r = 0; r < M; r++) {
            double nrm = 0;
            for (int i = 0; i < n; i++) nrm = fmax(nrm, fabs(bf(x0[r * n + i])));
            for (int i = 0; i < n; i++)
                EXPECT(fabs(bf(x[r * n + i]) - bf(x0[r * n + i])) <= 0x1p-7 * nrm * sqrt((double)n),
                       "hadamard twice n=%d [%d,%d]", n, r, i);
        }
        free(x);
        free(x0);
    }
}

/* ---- hyper-connections --------------------------------------------------- */

static double sigmoid_d(double x) { return 1.0 / (1.0 + exp(-x)); }

/* mixes of the spec: (xf . fn_j) * rsqrt(mean(xf^2) + eps), all in double */
static void hc_mix_ref(const uint16_t *h, const float *fn, int nmix, int len, double eps, double *mix) {
    double ss = 0;
    for (int i = 0; i < len; i++) ss += (double)bf(h[i]) * bf(h[i]);
    double rs = 1.0 / sqrt(ss / len + eps);
    for (int j = 0; j < nmix; j++) {
        double s = 0;
        for (int i = 0; i < len; i++) s += (double)bf(h[i]) * fn[(long)j * len + i];
        mix[j] = s * rs;
    }
}

static void test_hc(void) {
    enum { M = 3, HC = 4, D = 128, NMIX = (2 + HC) * HC, ITERS = 20 };
    const float neps = 1e-6f, heps = 1e-6f;
    static uint16_t h[M * HC * D], y[M * D], x[M * D], out[M * HC * D];
    static float fn[NMIX * HC * D], fnh[HC * HC * D];
    float scale[3], base[NMIX], post[M * HC], comb[M * HC * HC], sh[1], bh[HC];
    for (int i = 0; i < M * HC * D; i++) h[i] = rand_bf16_gauss(i < HC * D ? 0.3 : 1.5);
    for (int i = 0; i < NMIX * HC * D; i++) fn[i] = (float)(rng_gauss() * 0.5 / sqrt(HC * D));
    for (int i = 0; i < HC * HC * D; i++) fnh[i] = (float)(rng_gauss() * 0.5 / sqrt(HC * D));
    for (int i = 0; i < 3; i++) scale[i] = (float)(1.0 + 0.2 * rng_gauss());
    for (int i = 0; i < NMIX; i++) base[i] = (float)(0.5 * rng_gauss());
    /* peaked comb logits converge slowly, so a wrong iteration count shows */
    scale[2] = 8.0f;
    for (int i = 2 * HC; i < NMIX; i++) base[i] = (float)(3.0 * rng_gauss());
    sh[0] = (float)(1.0 + 0.2 * rng_gauss());
    for (int i = 0; i < HC; i++) bh[i] = (float)(0.5 * rng_gauss());

    ld_ref_hc_pre(h, fn, scale, base, M, D, HC, ITERS, neps, heps, y, post, comb);
    fails = 0;
    for (int r = 0; r < M; r++) {
        const uint16_t *hr = h + r * HC * D;
        double mix[NMIX], pre[HC], C[HC][HC];
        hc_mix_ref(hr, fn, NMIX, HC * D, neps, mix);
        for (int j = 0; j < HC; j++) {
            pre[j] = sigmoid_d(mix[j] * scale[0] + base[j]) + heps;
            double pj = 2 * sigmoid_d(mix[HC + j] * scale[1] + base[HC + j]);
            /* fp32 mixes (~1e-7 relative) through a sigmoid of slope <= 1/2 */
            EXPECT(fabs(post[r * HC + j] - pj) <= 1e-5, "hc_pre post [%d,%d]: %.8g vs %.8g", r, j, post[r * HC + j], pj);
        }
        /* float64 Sinkhorn as the spec writes it: row softmax + eps, column
         * normalisation, then (iters-1) x (row, column) */
        for (int j = 0; j < HC; j++) {
            double mx = -INFINITY, s = 0;
            for (int k = 0; k < HC; k++) { C[j][k] = mix[2 * HC + j * HC + k] * scale[2] + base[2 * HC + j * HC + k]; mx = fmax(mx, C[j][k]); }
            for (int k = 0; k < HC; k++) { C[j][k] = exp(C[j][k] - mx); s += C[j][k]; }
            for (int k = 0; k < HC; k++) C[j][k] = C[j][k] / s + heps;
        }
        for (int it = 0; it < ITERS; it++) {
            if (it > 0)
                for (int j = 0; j < HC; j++) {
                    double s = 0;
                    for (int k = 0; k < HC; k++) s += C[j][k];
                    for (int k = 0; k < HC; k++) C[j][k] /= s + heps;
                }
            for (int k = 0; k < HC; k++) {
                double s = 0;
                for (int j = 0; j < HC; j++) s += C[j][k];
                for (int j = 0; j < HC; j++) C[j][k] /= s + heps;
            }
        }
        const float *c = comb + r * HC * HC;
        for (int j = 0; j < HC; j++) {
            double rs = 0, cs = 0;
            for (int k = 0; k < HC; k++) {
                /* 20 normalisation rounds in fp32; each is contracting, so the
                 * error stays a few fp32 ulps of entries <= 1 */
                EXPECT(fabs(c[j * HC + k] - C[j][k]) <= 1e-5, "hc_pre comb [%d][%d][%d]: %.8g vs %.8g", r, j, k,
                       c[j * HC + k], C[j][k]);
                EXPECT(c[j * HC + k] > 0, "comb entries are positive");
                rs += c[j * HC + k];
                cs += c[k * HC + j];
            }
            /* doubly stochastic: columns exact up to eps (the last step normalises
             * them); rows only approximately, as 20 rounds on these peaked
             * logits are not fully converged */
            EXPECT(fabs(cs - 1) <= 1e-4, "comb column %d of row %d sums to %.8g", j, r, cs);
            EXPECT(fabs(rs - 1) <= 0.1, "comb row %d of token %d sums to %.8g", j, r, rs);
        }
        for (int i = 0; i < D; i++) {
            double ref = 0, mag = 0;
            for (int j = 0; j < HC; j++) {
                ref += pre[j] * bf(hr[j * D + i]);
                mag += fabs(pre[j] * bf(hr[j * D + i]));
            }
            /* bf16 output; pre carries ~1e-6 relative error from the fp32 mixes */
            EXPECT(near(bf(y[r * D + i]), ref, 0x1p-8, 1e-5 * mag), "hc_pre y [%d,%d]: %g vs %g", r, i, bf(y[r * D + i]),
                   ref);
        }
    }

    /* hc_post with the comb/post just computed */
    for (int i = 0; i < M * D; i++) x[i] = rand_bf16_gauss(1.0);
    ld_ref_hc_post(x, h, post, comb, M, D, HC, out);
    for (int r = 0; r < M; r++)
        for (int j = 0; j < HC; j++)
            for (int i = 0; i < D; i++) {
                double ref = (double)post[r * HC + j] * bf(x[r * D + i]), mag = fabs(ref);
                for (int k = 0; k < HC; k++) {
                    double t = (double)comb[r * HC * HC + k * HC + j] * bf(h[(r * HC + k) * D + i]);
                    ref += t;
                    mag += fabs(t);
                }
                /* bf16 output over fp32 products and one fp32 addition */
                EXPECT(near(bf(out[(r * HC + j) * D + i]), ref, 0x1p-8, 0x1p-20 * mag), "hc_post [%d,%d,%d]: %g vs %g",
                       r, j, i, bf(out[(r * HC + j) * D + i]), ref);
            }

    ld_ref_hc_head(h, fnh, sh, bh, M, D, HC, neps, heps, y);
    for (int r = 0; r < M; r++) {
        const uint16_t *hr = h + r * HC * D;
        double mix[HC], pre[HC];
        hc_mix_ref(hr, fnh, HC, HC * D, neps, mix);
        for (int j = 0; j < HC; j++) pre[j] = sigmoid_d(mix[j] * sh[0] + bh[j]) + heps;
        for (int i = 0; i < D; i++) {
            double ref = 0, mag = 0;
            for (int j = 0; j < HC; j++) {
                ref += pre[j] * bf(hr[j * D + i]);
                mag += fabs(pre[j] * bf(hr[j * D + i]));
            }
            EXPECT(near(bf(y[r * D + i]), ref, 0x1p-8, 1e-5 * mag), "hc_head [%d,%d]: %g vs %g", r, i, bf(y[r * D + i]),
                   ref);
        }
    }
}

/* ---- sparse attention ---------------------------------------------------- */

/* The manifest's online-softmax rule for one head, in fp32 where it says so. */
static void attn_rule(const uint16_t *qh, int d, const uint16_t *const *kv, int n, float sink, float scale,
                      uint16_t *out) {
    float m = -INFINITY, l = 0, acc[512] = {0}, s[64], p[64];
    for (int b0 = 0; b0 < n; b0 += 64) {
        int bn = n - b0 < 64 ? n - b0 : 64;
        float bmax = -INFINITY;
        for (int j = 0; j < bn; j++) {
            const uint16_t *k = kv[b0 + j];
            if (!k) continue;
            double dot = 0;
            for (int i = 0; i < d; i++) dot += (double)bf(qh[i]) * bf(k[i]);
            s[j] = (float)dot * scale;
            bmax = fmaxf(bmax, s[j]);
        }
        float mn = fmaxf(m, bmax);
        if (mn == -INFINITY) continue;
        float alpha = exp_f(m - mn);
        double psum = 0;
        for (int j = 0; j < bn; j++) {
            p[j] = kv[b0 + j] ? exp_f(s[j] - mn) : 0.0f;
            psum += p[j];
        }
        l = l * alpha + (float)psum;
        for (int i = 0; i < d; i++) {
            double pv = 0;
            for (int j = 0; j < bn; j++)
                if (kv[b0 + j]) pv += (double)bf16r(p[j]) * bf(kv[b0 + j][i]);
            acc[i] = acc[i] * alpha + (float)pv;
        }
        m = mn;
    }
    l += exp_f(sink - m);
    for (int i = 0; i < d; i++) out[i] = bf16_of(acc[i] / l);
}

static void test_sparse_attn(void) {
    enum { H = 4, D = 128, POOL = 256 };
    static uint16_t pool[POOL * D], q[H * D], out[H * D];
    static const uint16_t *kv[POOL];
    float sink[H];
    for (int i = 0; i < POOL * D; i++) pool[i] = rand_bf16_gauss(1.0);
    for (int i = 0; i < H * D; i++) q[i] = rand_bf16_gauss(1.5);
    for (int i = 0; i < H; i++) sink[i] = (float)rng_gauss();
    float scale = (float)(1.0 / sqrt((double)D));
    static const int ns[9] = {0, 1, 5, 63, 64, 65, 130, 200, 256};
    for (int t = 0; t < 9; t++) {
        int n = ns[t];
        int all_null = t == 2; /* a list of only empty slots: the sink alone remains */
        for (int j = 0; j < n; j++) {
            int nul = all_null || rng_next() % 5 == 0;
            kv[j] = nul ? NULL : (const uint16_t *)pool + (rng_next() % POOL) * D;
        }
        memset(out, 0xff, sizeof out);
        ld_ref_sparse_attn(q, H, D, (const ld_bf16 *const *)kv, n, sink, scale, out);
        fails = 0;
        for (int hh = 0; hh < H; hh++) {
            double s[POOL], mx = sink[hh];
            for (int j = 0; j < n; j++) {
                if (!kv[j]) continue;
                double dot = 0;
                for (int i = 0; i < D; i++) dot += (double)bf(q[hh * D + i]) * bf(kv[j][i]);
                s[j] = dot * scale;
                mx = fmax(mx, s[j]);
            }
            double den = exp(sink[hh] - mx);
            for (int j = 0; j < n; j++)
                if (kv[j]) den += exp(s[j] - mx);
            for (int i = 0; i < D; i++) {
                double num = 0, mag = 0;
                for (int j = 0; j < n; j++) {
                    if (!kv[j]) continue;
                    double p = exp(s[j] - mx);
                    num += p * bf(kv[j][i]);
                    mag += p * fabs(bf(kv[j][i]));
                }
                double ref = num / den, got = bf(out[hh * D + i]);
                /* bf16 probabilities in the PV sum (2^-9 per term) and a bf16 output (2^-9) */
                EXPECT(near(got, ref, 0x1p-8, 0x1p-8 * mag / den + 1e-30), "sparse_attn n=%d [%d,%d]: %.7g vs %.7g", n,
                       hh, i, got, ref);
                if (n == 0 || all_null) EXPECT(got == 0.0f, "no visible entry: output must be 0, got %g", got);
            }
            uint16_t want[D];
            attn_rule(q + hh * D, D, kv, n, sink[hh], scale, want);
            int exact_bad = 0;
            for (int i = 0; i < D; i++) exact_bad += want[i] != out[hh * D + i];
            CHECK(exact_bad == 0, "sparse_attn n=%d head %d: %d values differ from the online-softmax rule", n, hh,
                  exact_bad);
        }
    }
}

/* ---- compressor pooling -------------------------------------------------- */

static void test_compress_pool(void) {
    enum { ROWS = 8, D = 64, LD = 160 };
    static float kv[ROWS * LD], score[ROWS * LD], out[D];
    for (int i = 0; i < ROWS * LD; i++) {
        kv[i] = (float)rng_gauss();
        score[i] = (float)(2 * rng_gauss());
    }
    /* the overlap layout's first block: half the rows masked with -inf in half the channels */
    for (int r = 0; r < ROWS / 2; r++)
        for (int c = 0; c < D / 2; c++) score[r * LD + c] = -INFINITY;
    ld_ref_compress_pool(kv, score, ROWS, D, LD, out);
    fails = 0;
    for (int c = 0; c < D; c++) {
        double mx = -INFINITY, se = 0, acc = 0, mag = 0;
        for (int r = 0; r < ROWS; r++) mx = fmax(mx, score[r * LD + c]);
        for (int r = 0; r < ROWS; r++) se += exp(score[r * LD + c] - mx);
        for (int r = 0; r < ROWS; r++) {
            double w = exp(score[r * LD + c] - mx) / se;
            acc += kv[r * LD + c] * w;
            mag += fabs(kv[r * LD + c]) * w;
        }
        /* fp32 exp, division and products: a few fp32 ulps of each term */
        EXPECT(near(out[c], acc, 0, 1e-6 * mag), "compress_pool channel %d: %.9g vs %.9g", c, out[c], acc);
    }
}

/* ---- indexer scores ------------------------------------------------------ */

static void test_indexer_scores(void) {
    enum { H = 4, D = 128, N = 37 };
    static uint16_t q[H * D], keys[N * D], w[H];
    float out[N];
    for (int i = 0; i < H * D; i++) q[i] = rand_bf16_bounded(-5, 1);
    for (int i = 0; i < N * D; i++) keys[i] = rand_bf16_bounded(-5, 1);
    for (int i = 0; i < H; i++) w[i] = bf16_of((float)(rng_gauss() * 0.1));
    ld_ref_indexer_scores(q, w, H, D, keys, N, out);
    fails = 0;
    int exact_bad = 0;
    for (int i = 0; i < N; i++) {
        double ref = 0, mag = 0, tot = 0;
        for (int h = 0; h < H; h++) {
            double dot = 0;
            for (int j = 0; j < D; j++) dot += (double)bf(q[h * D + j]) * bf(keys[i * D + j]);
            double t = fmax(dot, 0) * bf(w[h]);
            ref += t;
            mag += fabs(t);
            /* rule: bf16(relu(bf16(dot)) * w) summed exactly, then fp32, then bf16 */
            float sc = bf16r((float)dot);
            if (sc < 0) sc = 0;
            tot += bf16r(sc * bf(w[h]));
        }
        /* two bf16 roundings per head term, one on the sum */
        EXPECT(near(out[i], ref, 0x1p-8, 0x1p-7 * mag), "indexer_scores %d: %g vs %g", i, out[i], ref);
        exact_bad += f_bits(out[i]) != f_bits(bf16r((float)tot));
    }
    CHECK(exact_bad == 0, "indexer_scores: %d scores differ from the rounding rule", exact_bad);
}

/* ---- top-k --------------------------------------------------------------- */

static void test_topk(void) {
    enum { N = 60 };
    float s[N];
    int idx[N], want[N];
    for (int t = 0; t < 6; t++) {
        for (int i = 0; i < N; i++) {
            if (t < 3) s[i] = (float)(rng_next() % 7);            /* many ties */
            else s[i] = (float)rng_gauss();
            if (t == 2 && i % 9 == 0) s[i] = -INFINITY;           /* masked entries */
        }
        /* expected order: stable insertion sort by descending score */
        int order[N];
        for (int i = 0; i < N; i++) {
            int j = i;
            while (j > 0 && s[order[j - 1]] < s[i]) { order[j] = order[j - 1]; j--; }
            order[j] = i;
        }
        for (int k = 1; k <= N; k++) {
            memset(idx, 0xff, sizeof idx);
            ld_ref_topk(s, N, k, idx);
            memcpy(want, order, sizeof(int) * (size_t)k);
            int p = 0;
            while (p < k && idx[p] == want[p]) p++;
            CHECK(p == k, "topk t=%d k=%d: position %d is %d, want %d", t, k, p, p < k ? idx[p] : -1,
                  p < k ? want[p] : -1);
        }
    }
}

/* ---- SwiGLU -------------------------------------------------------------- */

static double silu_d(double x) { return x / (1.0 + exp(-x)); }

static void test_swiglu(void) {
    enum { N = 2000 };
    static uint16_t g[N], u[N], out[N];
    for (int i = 0; i < N; i++) {
        g[i] = rand_bf16_gauss(8.0);
        u[i] = rand_bf16_gauss(8.0);
    }
    static const float limits[2] = {10.0f, 0.0f};
    for (int li = 0; li < 2; li++) {
        float lim = limits[li], wt = 0.7f;
        ld_ref_swiglu(g, u, N, lim, wt, out);
        fails = 0;
        for (int i = 0; i < N; i++) {
            double gv = bf(g[i]), uv = bf(u[i]);
            if (lim > 0) {
                gv = fmin(gv, lim);                 /* gate: upper clamp only */
                uv = fmin(fmax(uv, -lim), lim);     /* up: both sides */
            }
            double ref = wt * silu_d(gv) * uv;
            /* bf16 output; silu and the products are single fp32 roundings */
            EXPECT(near(bf(out[i]), ref, 0x1p-8, 1e-30), "swiglu lim=%g [%d] g=%g u=%g: %g vs %g", lim, i, bf(g[i]),
                   bf(u[i]), bf(out[i]), ref);
        }
    }
    /* the clamp semantics, on values where the alternatives differ visibly */
    uint16_t gg[4] = {bf16_of(-12.0f), bf16_of(15.0f), bf16_of(1.0f), bf16_of(1.0f)};
    uint16_t uu[4] = {bf16_of(1.0f), bf16_of(1.0f), bf16_of(15.0f), bf16_of(-15.0f)};
    uint16_t oo[4];
    ld_ref_swiglu(gg, uu, 4, 10.0f, 1.0f, oo);
    CHECK(near(bf(oo[0]), silu_d(-12.0), 0x1p-8, 0), "gate is not clamped from below: %g vs silu(-12)=%g", bf(oo[0]),
          silu_d(-12.0));
    CHECK(near(bf(oo[1]), silu_d(10.0), 0x1p-8, 0), "gate clamped from above to 10: %g", bf(oo[1]));
    CHECK(near(bf(oo[2]), silu_d(1.0) * 10, 0x1p-8, 0), "up clamped to +10: %g", bf(oo[2]));
    CHECK(near(bf(oo[3]), -silu_d(1.0) * 10, 0x1p-8, 0), "up clamped to -10: %g", bf(oo[3]));
}

int main(void) {
    for (int c = 0; c < 256; c++) fp8_tab[c] = test_fp8_value(c);
    test_linear();
    test_w8a8();
    test_linear_f32();
    test_rmsnorm();
    test_head_rmsnorm();
    test_rope();
    test_hadamard();
    test_hc();
    test_sparse_attn();
    test_compress_pool();
    test_indexer_scores();
    test_topk();
    test_swiglu();
    return test_summary("test_ops_ref");
}
