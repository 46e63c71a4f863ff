/* The ARMv8.2-A path for cores with FP16 arithmetic and the widening
 * multiply-accumulate FMLAL (Linux "asimdhp" and "asimdfhm"; Kunpeng 920
 * has both). It is the NEON path except for the FP8 decode tile: e4m3
 * weights are already fp16 after two integer instructions (kern_neon.h), and
 * FMLAL multiplies fp16 pairs exactly and adds the product to fp32 lanes with
 * one rounding, which is the fp32 FMA of the same values. That drops the
 * eight fp16 -> fp32 widenings per 32 weights of each row.
 *
 * The fp32 route multiplies each weight by x * xs, where xs is the weight
 * block's power-of-two scale. For FMLAL that factor must be an exact fp16,
 * so the accumulators run in a shifted domain: with x = h * 2^E per
 * activation block (h an exact fp16, fp8h_prep) and t = E + log2(xs), the
 * row takes h * 2^(t - S) for one S per output row and multiplies the sum by
 * 2^S at the end. Scaling every addend and every partial sum by a power of
 * two changes no rounding while nothing is subnormal or overflows in either
 * domain, which the bounds of fp8h_shift guarantee; rows outside them take
 * the fp32 tile, so the bits equal every other path's. */
#include <limits.h>
#include <math.h>

#include "backends/cpu/kern_neon.h"

static void fp8h_prep(const float *xf, int m, int k, uint16_t *xh, int16_t *xe);
static void fp8h_tile(const float *x, const uint16_t *xh, const int16_t *xe, long ldx, int mr, const ld_weight *w,
                      int n0, int nr, float *y, long ldy);

#define KERNELS_VAR cpu_kernels_asimdfhm
#define KERNELS_NAME "asimdfhm"
#define KERNELS_FP8H_PREP fp8h_prep
#define KERNELS_FP8H_TILE fp8h_tile
#include "backends/cpu/tile_template.h"

#define FP8H_ZERO INT16_MIN /* block of zeros: any shift is exact */
#define FP8H_BAD INT16_MAX  /* block with an Inf or NaN: the row takes the fp32 tile */

/* Per 128-block of each row: E, the least exponent with amax <= 448 * 2^E.
 * The quantizer's values are e4m3 times a power of two s >= amax / 448, so
 * 2^E <= s and every x * 2^-E is at most 448 with no bit below 2^-9: an
 * exact fp16. */
static void fp8h_prep(const float *xf, int m, int k, uint16_t *xh, int16_t *xe) {
    int nb = (k + 127) / 128;
    for (long r = 0; r < m; r++)
        for (int b = 0; b < nb; b++) {
            const float *p = xf + r * k + b * 128;
            uint16_t *o = xh + r * k + b * 128;
            int len = k - b * 128 < 128 ? k - b * 128 : 128;
            float32x4_t mx = vdupq_n_f32(0.0f);
            for (int i = 0; i < len; i += 4) mx = vmaxq_f32(mx, vabsq_f32(vld1q_f32(p + i)));
            float a = vmaxvq_f32(mx);
            int16_t *e = xe + r * nb + b;
            if (!(a <= 3.4028235e38f)) {
                *e = FP8H_BAD;
                continue;
            }
            int E = 0;
            if (a > 0) {
                E = ilogbf(a) - 8;
                while (ldexpf(a, -E) > 448.0f) E++;
                while (ldexpf(a, 1 - E) <= 448.0f) E--;
            }
            *e = a > 0 ? (int16_t)E : FP8H_ZERO;
            if (E >= -126 && E <= 126) {
                float32x4_t f = vdupq_n_f32(ldexpf(1.0f, -E));
                for (int i = 0; i < len; i += 8) {
                    float16x4_t lo = vcvt_f16_f32(vmulq_f32(vld1q_f32(p + i), f));
                    vst1q_u16(o + i, vreinterpretq_u16_f16(vcvt_high_f16_f32(lo, vmulq_f32(vld1q_f32(p + i + 4), f))));
                }
            } else {
                for (int i = 0; i < len; i++) {
                    float16_t h = (float16_t)ldexpf(p[i], -E);
                    __builtin_memcpy(o + i, &h, 2);
                }
            }
        }
}

/* S for one activation row against one block row of weights (e8m0 scales
 * s8): the largest t maps to 2^7 (448 * 2^7 < 65504) and the smallest must
 * stay at or above 2^-15 (then no h * 2^(t-S) has a bit below fp16's 2^-24).
 * Products then have no bit below 2^(t-26) in the fp32 domain and 2^-41 in
 * the shifted one, both above the smallest normal for these bounds, and sums
 * of up to 2^20 of them stay far below overflow. 0: use the fp32 tile. */
static int fp8h_shift(const int16_t *xe, const uint8_t *s8, int nb, int *S) {
    int tmin = INT_MAX, tmax = INT_MIN;
    for (int b = 0; b < nb; b++) {
        if (xe[b] == FP8H_BAD || s8[b] == 255) return 0;
        if (xe[b] == FP8H_ZERO) continue;
        int t = xe[b] + (int)s8[b] - 127 + 8; /* FP8_SCALE's 2^8 */
        tmin = t < tmin ? t : tmin;
        tmax = t > tmax ? t : tmax;
    }
    if (tmin > tmax) tmax = tmin = 7;
    if (tmax - tmin > 22 || tmin < -100 || tmax > 90) return 0;
    *S = tmax - 7;
    return 1;
}

/* 2^u as fp16 bits, u in [-15, 7] (2^-15 is subnormal) */
static inline float16x8_t h_pow2(int u) {
    return vreinterpretq_f16_u16(vdupq_n_u16(u >= -14 ? (uint16_t)((u + 15) << 10) : (uint16_t)0x0200));
}

/* One activation row against 4 weight rows; lane i of the 16 accumulators
 * of weight row J takes element k+i of slot 0, then k+16+i of slot 1, as in
 * TILE_FIXED. Named registers, not arrays: GCC stores an array of them to
 * the stack on every step. */
#define FHM_ROW(J)                                                                                \
    do {                                                                                          \
        const uint8_t *p = w##J + k;                                                              \
        if ((k & 63) == 0) __builtin_prefetch(p + pf, 0, 1);                                      \
        float16x8_t l0, h0, l1, h1;                                                               \
        fp8_to_h(p, &l0, &h0);                                                                    \
        fp8_to_h(p + 16, &l1, &h1);                                                               \
        c##J##0 = vfmlalq_low_f16(c##J##0, l0, x0);                                               \
        c##J##1 = vfmlalq_high_f16(c##J##1, l0, x0);                                              \
        c##J##2 = vfmlalq_low_f16(c##J##2, h0, x1);                                               \
        c##J##3 = vfmlalq_high_f16(c##J##3, h0, x1);                                              \
        c##J##0 = vfmlalq_low_f16(c##J##0, l1, x2);                                               \
        c##J##1 = vfmlalq_high_f16(c##J##1, l1, x2);                                              \
        c##J##2 = vfmlalq_low_f16(c##J##2, h1, x3);                                               \
        c##J##3 = vfmlalq_high_f16(c##J##3, h1, x3);                                              \
    } while (0)
#define FHM_SUM(J) (neon_reduce((v16){{c##J##0, c##J##1, c##J##2, c##J##3}}) * s)

static void fp8h_row(const uint16_t *xh, const int16_t *xe, const ld_weight *w, int n0, int S, float *y) {
    const uint8_t *s8 = FP8_SROW(1, n0), *w0 = WROW(8, n0), *w1 = WROW(8, n0 + 1), *w2 = WROW(8, n0 + 2),
                  *w3 = WROW(8, n0 + 3);
    const size_t K = (size_t)w->k, pf = (size_t)PF_ROWS * K; /* PREFETCH_NEXT's distance */
    float32x4_t z = vdupq_n_f32(0.0f), c00 = z, c01 = z, c02 = z, c03 = z, c10 = z, c11 = z, c12 = z, c13 = z,
                c20 = z, c21 = z, c22 = z, c23 = z, c30 = z, c31 = z, c32 = z, c33 = z;
    for (size_t k0 = 0; k0 < K; k0 += 128) {
        int b = (int)(k0 / 128);
        float16x8_t f = h_pow2(xe[b] == FP8H_ZERO ? 0 : xe[b] + (int)s8[b] - 127 + 8 - S);
        size_t k1 = k0 + 128 < K ? k0 + 128 : K;
        for (size_t k = k0; k < k1; k += 32) {
            float16x8_t x0 = vmulq_f16(vreinterpretq_f16_u16(vld1q_u16(xh + k)), f),
                        x1 = vmulq_f16(vreinterpretq_f16_u16(vld1q_u16(xh + k + 8)), f),
                        x2 = vmulq_f16(vreinterpretq_f16_u16(vld1q_u16(xh + k + 16)), f),
                        x3 = vmulq_f16(vreinterpretq_f16_u16(vld1q_u16(xh + k + 24)), f);
            FHM_ROW(0);
            FHM_ROW(1);
            FHM_ROW(2);
            FHM_ROW(3);
        }
    }
    float s = ldexpf(1.0f, S);
    y[0] = FHM_SUM(0), y[1] = FHM_SUM(1), y[2] = FHM_SUM(2), y[3] = FHM_SUM(3);
}

/* One row (decode): per 32 weights of a weight row the half route issues
 * 18 instructions (2 loads, 8 to turn bytes into fp16, 8 FMLAL) where the
 * fp32 tile issues 26 (8 FCVTL more, 8 FMLA). With several rows the fp32
 * tile decodes once for all of them (18 + 8 per row), which the half route,
 * one row per pass for want of registers, does not beat. */
static void fp8h_tile(const float *x, const uint16_t *xh, const int16_t *xe, long ldx, int mr, const ld_weight *w,
                      int n0, int nr, float *y, long ldy) {
    int nb = (w->k + 127) / 128, S;
    if (mr == 1 && nr == 4 && fp8h_shift(xe, FP8_SROW(1, n0), nb, &S)) fp8h_row(xh, xe, w, n0, S, y);
    else tile_fp8(x, ldx, mr, w, n0, nr, y, ldy);
}
