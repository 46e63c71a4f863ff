/* Attention-side cpu ops, written once in plain C over 16-lane arrays and
 * compiled per ISA (ops_avx512.c, ops_avx2.c, ops_neon.c, ops_sve256.c,
 * ops_scalar.c) with the compiler
 * vectorizing the lane loops. Each lane does the same fmaf sequence on every
 * path, and cross-lane sums use the fixed tree of cpu.h, so all paths give
 * the same bits. Included with OPS_SUFFIX defined. */
#include <math.h>
#include <string.h>

#include "backends/cpu/cpu.h"

#define OPS_CAT2(a, b) a##_##b
#define OPS_CAT(a, b) OPS_CAT2(a, b)
#define OPS(name) OPS_CAT(name, OPS_SUFFIX)

/* ld_f32_to_bf16 (round to nearest even, NaN kept quiet) without a branch,
 * so loops over it vectorize. */
static inline ld_bf16 OPS(to_bf16)(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16, q = (u >> 16) | 0x40u;
    return (ld_bf16)((u & 0x7fffffffu) > 0x7f800000u ? q : r);
}

/* e^x under ld_expf's rule (evaluate in double, round once to float),
 * written so that lanes vectorize: x = n ln2 + r with |r| <= ln2/2, e^r by
 * its Taylor series to r^13 (truncation below 1e-17), 2^n put into the
 * exponent bits. Within a couple of double ulps of libm's exp, so the float
 * result is libm's except when e^x lies within about 1e-16 (relative) of a
 * midpoint between two floats; every ISA path does the same operations, so
 * the paths agree bit for bit. x is clamped to [-700, 709] so 2^n stays a
 * normal double; beyond that the result is set to inf above libm's overflow
 * point and to 0 below its underflow point. Between -745 and -700 it stays
 * e^-700: both round to 0 in float and vanish next to 1 in 1 + e^x, the two
 * uses here. NaN stays NaN. */
static inline double OPS(exp_d)(double x0) {
    double x = x0 < -700.0 ? -700.0 : x0;
    x = x > 709.0 ? 709.0 : x;
    const double magic = 0x1.8p52; /* adding it rounds to an integer held in the low mantissa bits */
    double t = fma(x, 0x1.71547652b82fep0, magic), n = t - magic;
    double r = fma(n, -0x1.62e42fee00000p-1, x); /* ln2 high part: n * it is exact */
    r = fma(n, -0x1.a39ef35793c76p-33, r);      /* ln2 low part */
    double p = 1.0 / 6227020800.0;               /* 1/13! */
    p = fma(p, r, 1.0 / 479001600.0);
    p = fma(p, r, 1.0 / 39916800.0);
    p = fma(p, r, 1.0 / 3628800.0);
    p = fma(p, r, 1.0 / 362880.0);
    p = fma(p, r, 1.0 / 40320.0);
    p = fma(p, r, 1.0 / 5040.0);
    p = fma(p, r, 1.0 / 720.0);
    p = fma(p, r, 1.0 / 120.0);
    p = fma(p, r, 1.0 / 24.0);
    p = fma(p, r, 1.0 / 6.0);
    p = fma(p, r, 0.5);
    p = fma(p, r, 1.0);
    p = fma(p, r, 1.0);
    uint64_t tb, mb, sb;
    memcpy(&tb, &t, sizeof tb);
    memcpy(&mb, &magic, sizeof mb);
    sb = (tb - mb + 1023u) << 52;
    double sc;
    memcpy(&sc, &sb, sizeof sc);
    double e = p * sc;
    e = x0 > 0x1.62e42fefa39efp9 ? (double)INFINITY : e; /* above ln(DBL_MAX) */
    return x0 < -745.2 ? 0.0 : e;
}

static inline float OPS(expf)(float x) { return (float)OPS(exp_d)((double)x); }

/* out[j] = expf(s[j] - m) for j < n. */
static void OPS(exp_rows)(const float *restrict s, float m, int n, float *restrict out) {
    for (int j = 0; j < n; j++) out[j] = OPS(expf)(s[j] - m);
}

static inline float OPS(dot)(const float *a, const float *b, int n) {
    float acc[16] = {0};
    for (int k = 0; k < n; k += 16)
        for (int i = 0; i < 16; i++) acc[i] = fmaf(a[k + i], b[k + i], acc[i]);
    return cpu_reduce16(acc);
}

static inline __attribute__((always_inline)) void OPS(fma16)(float *restrict acc, const float *x, const float *y) {
    for (int i = 0; i < 16; i++) acc[i] = fmaf(x[i], y[i], acc[i]);
}

/* dot() of a with up to 8 rows at once: one dot is a chain of dependent
 * fmas (latency-bound); eight independent chains keep the FMA units busy.
 * Each result has exactly dot()'s arithmetic. Missing rows read a. */
static inline void OPS(dot8)(const float *a, const float *const *b, int nb, int n, float *out) {
    _Alignas(64) float acc[8][16] = {{0}};
    const float *r0 = nb > 0 ? b[0] : a, *r1 = nb > 1 ? b[1] : a, *r2 = nb > 2 ? b[2] : a, *r3 = nb > 3 ? b[3] : a;
    const float *r4 = nb > 4 ? b[4] : a, *r5 = nb > 5 ? b[5] : a, *r6 = nb > 6 ? b[6] : a, *r7 = nb > 7 ? b[7] : a;
    for (int k = 0; k < n; k += 16) {
        OPS(fma16)(acc[0], a + k, r0 + k);
        OPS(fma16)(acc[1], a + k, r1 + k);
        OPS(fma16)(acc[2], a + k, r2 + k);
        OPS(fma16)(acc[3], a + k, r3 + k);
        OPS(fma16)(acc[4], a + k, r4 + k);
        OPS(fma16)(acc[5], a + k, r5 + k);
        OPS(fma16)(acc[6], a + k, r6 + k);
        OPS(fma16)(acc[7], a + k, r7 + k);
    }
    for (int j = 0; j < nb; j++) out[j] = cpu_reduce16(acc[j]);
}

static inline void OPS(widen)(const ld_bf16 *x, long n, float *y) {
    for (long i = 0; i < n; i++) y[i] = ld_bf16_to_f32(x[i]);
}

/* One head of sparse attention over n entries whose rows are already fp32
 * (kf[j], NULL = empty slot). Online softmax in blocks of 64 like the
 * reference; probabilities are rounded to bf16 for the PV sum. */
static void OPS(cpu_attn_head)(const ld_bf16 *q, int d, const float *const *kf, int n, float sink, float scale, ld_bf16 *out) {
    _Alignas(64) float qf[4096], acc[4096], blk[4096], s[64];
    OPS(widen)(q, d, qf);
    memset(acc, 0, sizeof(float) * (size_t)d);
    float m = -INFINITY, l = 0;
    for (int b0 = 0; b0 < n; b0 += 64) {
        int bn = n - b0 < 64 ? n - b0 : 64;
        float bmax = -INFINITY;
        for (int j0 = 0; j0 < bn; j0 += 8) {
            const float *rows[8];
            int idx[8], nr = 0;
            for (int j = j0; j < j0 + 8 && j < bn; j++) {
                s[j] = -INFINITY;
                if (kf[b0 + j]) rows[nr] = kf[b0 + j], idx[nr++] = j;
            }
            float dots[8];
            OPS(dot8)(qf, rows, nr, d, dots);
            for (int t = 0; t < nr; t++) s[idx[t]] = dots[t] * scale;
        }
        for (int j = 0; j < bn; j++) bmax = s[j] > bmax ? s[j] : bmax;
        float m_new = m > bmax ? m : bmax;
        if (m_new == -INFINITY) continue;
        float alpha = OPS(expf)(m - m_new), psum = 0, pj[64];
        memset(blk, 0, sizeof(float) * (size_t)d);
        OPS(exp_rows)(s, m_new, bn, pj);
        for (int j = 0; j < bn; j++) {
            if (!kf[b0 + j]) continue;
            float p = pj[j];
            psum += p;
            float pb = ld_round_bf16(p);
            const float *k = kf[b0 + j];
            for (int i = 0; i < d; i++) blk[i] = fmaf(pb, k[i], blk[i]);
        }
        l = l * alpha + psum;
        for (int i = 0; i < d; i++) acc[i] = fmaf(acc[i], alpha, blk[i]);
        m = m_new;
    }
    l += OPS(expf)(sink - m);
    for (int i = 0; i < d; i++) out[i] = OPS(to_bf16)(acc[i] / l);
}

/* Indexer scores of keys [i0, i1): out[i] = bf16(sum_h bf16(relu(bf16(q_h.k_i)) * w_h)). */
static void OPS(cpu_index_scores)(const float *qf, const float *wf, int h, int d, const ld_bf16 *keys, int i0, int i1,
                           float *out) {
    _Alignas(64) float kf[4096];
    for (int i = i0; i < i1; i++) {
        OPS(widen)(keys + (long)i * d, d, kf);
        float tot = 0;
        for (int hh = 0; hh < h; hh++) {
            float sc = ld_round_bf16(OPS(dot)(qf + (long)hh * d, kf, d));
            if (sc < 0) sc = 0;
            tot += ld_round_bf16(sc * wf[hh]);
        }
        out[i] = ld_round_bf16(tot);
    }
}

/* hc_post for rows [r0, r1): out_j = bf16(post_j*x + sum_i comb[i][j]*res_i),
 * fp32 in i order; columns in chunks so any width fits the stack buffers. */
static void OPS(cpu_hc_post_rows)(const ld_bf16 *x, const ld_bf16 *res, const float *post, const float *comb, int r0, int r1,
                           int d, int hc, ld_bf16 *out) {
    enum { CH = 512 };
    _Alignas(64) float xf[CH], rf[16][CH], sum[CH];
    for (int r = r0; r < r1; r++) {
        const float *c = comb + (long)r * hc * hc;
        for (int c0 = 0; c0 < d; c0 += CH) {
            int cn = d - c0 < CH ? d - c0 : CH;
            OPS(widen)(x + (long)r * d + c0, cn, xf);
            for (int k = 0; k < hc; k++) OPS(widen)(res + ((long)r * hc + k) * d + c0, cn, rf[k]);
            for (int j = 0; j < hc; j++) {
                ld_bf16 *o = out + ((long)r * hc + j) * d + c0;
                float pj = post[r * hc + j];
                /* k outside the column loop, so the columns vectorize; each
                   column still sums k = 0, 1, ... in order */
                for (int i = 0; i < cn; i++) sum[i] = 0;
                for (int k = 0; k < hc; k++) {
                    float ck = c[k * hc + j];
                    for (int i = 0; i < cn; i++) sum[i] = fmaf(ck, rf[k][i], sum[i]);
                }
                for (int i = 0; i < cn; i++) o[i] = OPS(to_bf16)(fmaf(pj, xf[i], sum[i]));
            }
        }
    }
}

static void OPS(cpu_widen_rows)(const ld_bf16 *x, long n, float *y) { OPS(widen)(x, n, y); }

/* The slot layout of the permuted formats (cpu_elem): per 32-group the even
 * elements, then the odd ones. n is a multiple of 32. */
static void OPS(cpu_to_slots)(const float *x, long n, float *d) {
    for (long g = 0; g < n; g += 32)
        for (int i = 0; i < 16; i++) d[g + i] = x[g + 2 * i], d[g + 16 + i] = x[g + 2 * i + 1];
}

static void OPS(cpu_bf16_rows)(const float *y, long n, ld_bf16 *out) {
    for (long i = 0; i < n; i++) out[i] = OPS(to_bf16)(y[i]);
}

/* Reference activation quantization (1x128 E8M0 blocks, e4m3 RNE with
 * subnormals), producing the exact dequantized values the kernels consume.
 * Rounding to the e4m3 grid uses the add-and-subtract trick: for |v| in
 * [2^e, 2^e+1) the grid step is 2^(e-3) (2^-9 below 2^-6), and
 * (|v| + 1.5*2^(step+23)) - 1.5*2^(step+23) rounds to it with the FPU's
 * round-to-nearest-even. |v| <= 448 after the clamp, so nothing overflows;
 * tests/unit/test_cpu.c checks this against the reference codec. */
static void OPS(cpu_quant_rows)(const ld_bf16 *x, int m, int k, float *xf) {
    for (long r = 0; r < m; r++)
        for (int b = 0; b < k; b += 128) {
            const ld_bf16 *xb = x + r * k + b;
            float *ob = xf + r * k + b, amax = 0;
            for (int i = 0; i < 128; i++) {
                float a = fabsf(ld_bf16_to_f32(xb[i]));
                amax = a > amax ? a : amax;
            }
            float s = ld_fp8_block_scale(amax), inv = 1.0f / s; /* s is a power of two: exact */
            for (int i = 0; i < 128; i++) {
                uint32_t u = ld_f32_to_bits(ld_bf16_to_f32(xb[i]) * inv);
                uint32_t sign = u & 0x80000000u, a = u & 0x7fffffffu;
                if (a > 0x43e00000u) a = 0x43e00000u; /* clamp to 448 */
                int e = (int)(a >> 23);
                if (e < 127 - 6) e = 127 - 6;
                float c = ld_bits_to_f32((uint32_t)(e + 20) << 23 | 0x400000u);
                float q = (ld_bits_to_f32(a) + c) - c;
                ob[i] = ld_bits_to_f32(ld_f32_to_bits(q * s) | sign);
            }
        }
}

/* ld_ref_swiglu's arithmetic with OPS(exp_d) for the exp in silu. The
 * clamps stay libm's fminf/fmaxf (their NaN rules, signaling NaNs included,
 * are the reference's) in a first pass; the second pass vectorizes. */
static void OPS(cpu_swiglu_rows)(const ld_bf16 *g, const ld_bf16 *u, long n, float limit, float weight, ld_bf16 *out) {
    float gs[256], us[256];
    for (long i0 = 0; i0 < n; i0 += 256) {
        int cn = n - i0 < 256 ? (int)(n - i0) : 256;
        for (int i = 0; i < cn; i++) {
            float gv = ld_bf16_to_f32(g[i0 + i]), uv = ld_bf16_to_f32(u[i0 + i]);
            if (limit > 0) {
                uv = fminf(fmaxf(uv, -limit), limit);
                gv = fminf(gv, limit);
            }
            gs[i] = gv, us[i] = uv;
        }
        for (int i = 0; i < cn; i++) {
            double gd = gs[i];
            float silu = (float)(gd / (1.0 + OPS(exp_d)(-gd)));
            out[i0 + i] = OPS(to_bf16)(weight * (silu * us[i]));
        }
    }
}

/* out[i] = ld_expf(x[i]) as evaluated here (OPS(exp_d)); tests compare it
 * with libm and across ISA paths. */
static void OPS(cpu_expf_rows)(const float *x, long n, float *out) {
    for (long i = 0; i < n; i++) out[i] = OPS(expf)(x[i]);
}

const cpu_vec OPS(cpu_vec) = {OPS(cpu_attn_head), OPS(cpu_index_scores), OPS(cpu_hc_post_rows),
                              OPS(cpu_bf16_rows), OPS(cpu_quant_rows), OPS(cpu_swiglu_rows),
                              OPS(cpu_expf_rows), OPS(cpu_widen_rows), OPS(cpu_to_slots)};
