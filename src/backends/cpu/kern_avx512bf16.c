/* The AVX-512 path for cores with AVX512_BF16 and AVX512_VBMI (Zen 4,
 * Sapphire Rapids): the avx512 kernels, plus an FP8 tile for one activation
 * row (decode) on VDPBF16PS. Per 64 weights the fp32 tile spends 10 decode
 * instructions and 4 FMAs; this one turns e4m3 bytes into bf16 through two
 * 128-entry byte tables (VPERMI2B on the low 7 bits, the sign merged back
 * with one VPTERNLOGD), places the words with one two-source byte permute
 * per 32, and multiplies and adds 32 pairs per VDPBF16PS: 7 instructions.
 *
 * Why the bits are the fp32 tile's: VDPBF16PS lane i computes
 * (acc + a1*b1) + a0*b0 with a1, b1 the high words of the lane's pair,
 * rounding each sum to nearest even, and flushes subnormal inputs and
 * results. The pair of lane i here holds element i of a 32-group in the high
 * word and element 16+i in the low one: slot 0, then slot 1, the order in
 * which TILE_FIXED's FMAs take them (cpu.h). Each product is exact in fp32
 * (e4m3 values times x, whose quantized values have 4 significant bits), so
 * FMA and multiply-then-add give the same sum, and nothing is flushed while
 * no input, product or partial sum is subnormal, which the bounds of
 * bf16_ok guarantee; rows outside them take the fp32 tile.
 *
 * x carries the weights' power-of-two block scale, as in the fp32 tile: its
 * bf16 words get the scale's exponent added (zeros excepted), which is exact
 * inside the same bounds. */
#include <limits.h>
#include <math.h>

#include "backends/cpu/kern_avx512.h"

static void bf16_prep(const float *xf, int m, int k, uint16_t *xh, int16_t *xe);
static void bf16_tile(const float *x, const uint16_t *xh, const int16_t *xe, long ldx, int mr, const ld_weight *w,
                      int n0, int nr, float *y, long ldy);
static void bf16_prep4(const float *xf, int m, int k, uint16_t *xh, int16_t *xe);
static void bf16_tile4(const float *x, const uint16_t *xh, const int16_t *xe, long ldx, int mr, const ld_weight *w,
                       int n0, int nr, float *y, long ldy);

#define KERNELS_VAR cpu_kernels_avx512bf16
#define KERNELS_NAME "avx512bf16"
#define KERNELS_FP8H_PREP bf16_prep
#define KERNELS_FP8H_TILE bf16_tile
#define KERNELS_FP4H_PREP bf16_prep4
#define KERNELS_FP4H_TILE bf16_tile4
#include "backends/cpu/tile_template.h"

#define XE_ZERO INT16_MIN /* block of zeros: any scale is exact */
#define XE_BAD INT16_MAX  /* block the route cannot take (Inf, NaN, out of range) */

/* Per 128-block of each row: E, the least exponent with amax <= 448 * 2^E
 * (every value is then a multiple of 2^(E-9) below 2^(E+9)), or XE_ZERO /
 * XE_BAD. A value with 4 significant bits is exact in bf16 while it is
 * normal, hence the bound on E. */
static int16_t block_exp(const float *p) {
    __m512 mx = _mm512_setzero_ps();
    __mmask16 bad = 0;
    for (int i = 0; i < 128; i += 16) {
        __m512 v = _mm512_loadu_ps(p + i);
        mx = _mm512_max_ps(mx, _mm512_abs_ps(v));
        bad |= _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q); /* max_ps drops a NaN in its second operand */
    }
    float a = _mm512_reduce_max_ps(mx);
    if (bad || !(a <= 3.4028235e38f)) return XE_BAD;
    if (a == 0) return XE_ZERO;
    int E = ilogbf(a) - 8;
    while (ldexpf(a, -E) > 448.0f) E++;
    while (ldexpf(a, 1 - E) <= 448.0f) E--;
    return E < -117 || E > 117 ? XE_BAD : (int16_t)E;
}

/* FP8: per 32-group, word 2i holds element 16+i and word 2i+1 element i. */
static void bf16_prep(const float *xf, int m, int k, uint16_t *xh, int16_t *xe) {
    int nb = k / 128;
    for (long r = 0; r < m; r++)
        for (int b = 0; b < nb; b++) {
            const float *p = xf + r * k + b * 128;
            uint16_t *o = xh + r * k + b * 128;
            xe[r * nb + b] = block_exp(p);
            for (int g = 0; g < 128; g += 32) {
                __m512i lo = _mm512_loadu_si512((const void *)(p + g)), hi = _mm512_loadu_si512((const void *)(p + g + 16));
                /* (x[i] & 0xffff0000) | (x[16+i] >> 16) */
                __m512i d = _mm512_ternarylogic_epi32(lo, _mm512_srli_epi32(hi, 16), _mm512_set1_epi32((int)0xffff0000u), 0xe4);
                _mm512_storeu_si512((void *)(o + g), d);
            }
        }
}

/* FP4: per 32-group, word 2i holds element 2i+1 and word 2i+1 element 2i
 * (the high words of the fp32 bits: words 4i+3 and 4i+1 of the pair of
 * registers). */
static void bf16_prep4(const float *xf, int m, int k, uint16_t *xh, int16_t *xe) {
    int nb = k / 128;
    uint16_t jw[32];
    for (int i = 0; i < 16; i++) jw[2 * i] = (uint16_t)(4 * i + 3), jw[2 * i + 1] = (uint16_t)(4 * i + 1);
    const __m512i idx = _mm512_loadu_si512((const void *)jw);
    for (long r = 0; r < m; r++)
        for (int b = 0; b < nb; b++) {
            const float *p = xf + r * k + b * 128;
            uint16_t *o = xh + r * k + b * 128;
            xe[r * nb + b] = block_exp(p);
            for (int g = 0; g < 128; g += 32) {
                __m512i lo = _mm512_loadu_si512((const void *)(p + g)), hi = _mm512_loadu_si512((const void *)(p + g + 16));
                _mm512_storeu_si512((void *)(o + g), _mm512_permutex2var_epi16(lo, idx, hi));
            }
        }
}

/* For one activation row against one block row of weights (e8m0 scales
 * s8): with t = E + log2(scale) per block, x * scale is a multiple of
 * 2^(t-9) below 2^(t+9) and each product a multiple of 2^(t-18), as is
 * every partial sum of the row for the least t. t >= -108 keeps all of them
 * at or above 2^-126 (normal) or zero; t <= 80 keeps sums of up to 2^20
 * products, and the fp32 tile's x * scale * 2^8, far from overflow. */
static int bf16_ok(const int16_t *xe, const uint8_t *s8, int nb) {
    for (int b = 0; b < nb; b++) {
        if (xe[b] == XE_BAD || s8[b] == 255) return 0;
        if (xe[b] == XE_ZERO) continue;
        int t = xe[b] + (int)s8[b] - 127;
        if (t < -108 || t > 80) return 0;
    }
    return 1;
}

/* 64 e4m3 bytes as bf16: group a (bytes 0..31) into *a, group b into *b,
 * each in the pair order of bf16_prep. */
static inline __attribute__((always_inline)) void fp8_to_bf16(__m512i z, __m512i tl0, __m512i tl1, __m512i th0,
                                                              __m512i th1, __m512i ia, __m512i ib, __m512i *a,
                                                              __m512i *b) {
    __m512i lo = _mm512_permutex2var_epi8(tl0, z, tl1);
    __m512i hi = _mm512_permutex2var_epi8(th0, z, th1);
    hi = _mm512_ternarylogic_epi32(hi, z, _mm512_set1_epi8((char)0x80), 0xf8); /* hi | (z & sign) */
    *a = _mm512_permutex2var_epi8(lo, ia, hi);
    *b = _mm512_permutex2var_epi8(lo, ib, hi);
}

/* One activation row against NR weight rows (NR accumulator chains). */
#define BF16_ROWS(NR)                                                                                    \
    do {                                                                                                 \
        const uint8_t *wr[NR];                                                                           \
        __m512 acc[NR];                                                                                  \
        for (int j = 0; j < NR; j++) wr[j] = WROW(8, n0 + j), acc[j] = _mm512_setzero_ps();              \
        for (size_t k0 = 0; k0 < K; k0 += 128) {                                                         \
            int b = (int)(k0 / 128);                                                                     \
            __m512i ea = _mm512_set1_epi16((short)(((int)s8[b] - 127) * 128));                           \
            for (size_t k = k0; k < k0 + 128; k += 64) {                                                 \
                __m512i xa = _mm512_loadu_si512((const void *)(xh + k)),                                 \
                        xb = _mm512_loadu_si512((const void *)(xh + k + 32));                            \
                xa = _mm512_mask_add_epi16(xa, _mm512_test_epi16_mask(xa, _mm512_set1_epi16(0x7fff)), xa, ea); \
                xb = _mm512_mask_add_epi16(xb, _mm512_test_epi16_mask(xb, _mm512_set1_epi16(0x7fff)), xb, ea); \
                _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) {                                   \
                    __m512i wa, wb;                                                                      \
                    if ((k & 63) == 0) __builtin_prefetch(wr[j] + k + pf, 0, 1);                         \
                    fp8_to_bf16(_mm512_loadu_si512((const void *)(wr[j] + k)), tl0, tl1, th0, th1, ia, ib, &wa, &wb); \
                    acc[j] = _mm512_dpbf16_ps(acc[j], (__m512bh)xa, (__m512bh)wa);                       \
                    acc[j] = _mm512_dpbf16_ps(acc[j], (__m512bh)xb, (__m512bh)wb);                       \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
        if (NR == 4) V_REDUCE_4(acc, y);                                                                 \
        else                                                                                             \
            for (int j = 0; j < NR; j++) {                                                               \
                float lanes[16];                                                                         \
                _mm512_storeu_ps(lanes, acc[j]);                                                         \
                y[j] = cpu_reduce16(lanes);                                                              \
            }                                                                                            \
    } while (0)

static void bf16_row(const uint16_t *xh, const ld_weight *w, int n0, int nr, float *y) {
    const uint8_t *s8 = FP8_SROW(1, n0);
    const size_t K = (size_t)w->k, pf = (size_t)PF_ROWS * K; /* PREFETCH_NEXT's distance */
    const __m512i tl0 = _mm512_load_si512((const void *)cpu_fp8_bf16[0]),
                  tl1 = _mm512_load_si512((const void *)(cpu_fp8_bf16[0] + 64)),
                  th0 = _mm512_load_si512((const void *)cpu_fp8_bf16[1]),
                  th1 = _mm512_load_si512((const void *)(cpu_fp8_bf16[1] + 64));
    /* output dword i of group a: lo[16+i], hi[16+i], lo[i], hi[i] (bit 6
       picks the second source, hi); group b the same 32 bytes on */
    uint8_t ja[64], jb[64];
    for (int i = 0; i < 16; i++) {
        ja[4 * i] = (uint8_t)(16 + i), ja[4 * i + 1] = (uint8_t)(64 + 16 + i);
        ja[4 * i + 2] = (uint8_t)i, ja[4 * i + 3] = (uint8_t)(64 + i);
    }
    for (int i = 0; i < 64; i++) jb[i] = (uint8_t)(ja[i] + 32);
    const __m512i ia = _mm512_loadu_si512((const void *)ja), ib = _mm512_loadu_si512((const void *)jb);
    switch (nr) {
    case 4: BF16_ROWS(4); break;
    case 3: BF16_ROWS(3); break;
    case 2: BF16_ROWS(2); break;
    default: BF16_ROWS(1); break;
    }
}

static void bf16_tile(const float *x, const uint16_t *xh, const int16_t *xe, long ldx, int mr, const ld_weight *w,
                      int n0, int nr, float *y, long ldy) {
    if (mr == 1 && w->k % 128 == 0 && bf16_ok(xe, FP8_SROW(1, n0), w->k / 128)) bf16_row(xh, w, n0, nr, y);
    else tile_fp8(x, ldx, mr, w, n0, nr, y, ldy);
}

/* FP4 (routed experts): lane i of a 32-group takes byte i, its low nibble
 * (element 2i) in the high word and its high nibble in the low one: slot 0,
 * then slot 1, as in TILE_FIXED (cpu.h). Per 32 weights: one byte permute
 * puts byte i in both words of dword i, one variable shift brings the high
 * nibble down in the low word, and one word permute reads the group's
 * scaled bf16 table (cpu_fp4_bf16w; bits 4 and up of each index are ignored
 * or duplicated); then one VDPBF16PS. */
#define BF16_ROWS4(MR, NR)                                                                               \
    do {                                                                                                 \
        const uint8_t *wr[NR], *sr[NR];                                                                  \
        __m512 acc[MR][NR];                                                                              \
        for (int j = 0; j < NR; j++) wr[j] = WROW(4, n0 + j), sr[j] = SROW(4, n0 + j);                  \
        for (int r = 0; r < MR; r++)                                                                     \
            for (int j = 0; j < NR; j++) acc[r][j] = _mm512_setzero_ps();                                \
        for (size_t k = 0; k < K; k += 128) {                                                            \
            _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) {                                       \
                const uint8_t *sg = sr[j] + k / 32;                                                      \
                __m512i z = _mm512_loadu_si512((const void *)(wr[j] + k / 2));                           \
                __builtin_prefetch(wr[j] + k / 2 + pf, 0, 1);                                            \
                __m512i w0 = FP4_W(z, p0, sg[0]), w1 = FP4_W(z, p1, sg[1]), w2 = FP4_W(z, p2, sg[2]),    \
                        w3 = FP4_W(z, p3, sg[3]);                                                        \
                _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++) {                                   \
                    const uint16_t *xr = xh + r * ldx + k;                                               \
                    acc[r][j] = _mm512_dpbf16_ps(acc[r][j], (__m512bh)_mm512_loadu_si512((const void *)xr), (__m512bh)w0); \
                    acc[r][j] = _mm512_dpbf16_ps(acc[r][j], (__m512bh)_mm512_loadu_si512((const void *)(xr + 32)), (__m512bh)w1); \
                    acc[r][j] = _mm512_dpbf16_ps(acc[r][j], (__m512bh)_mm512_loadu_si512((const void *)(xr + 64)), (__m512bh)w2); \
                    acc[r][j] = _mm512_dpbf16_ps(acc[r][j], (__m512bh)_mm512_loadu_si512((const void *)(xr + 96)), (__m512bh)w3); \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
        for (int r = 0; r < MR; r++) {                                                                   \
            if (NR == 4) V_REDUCE_4(acc[r], y + r * ldy);                                                \
            else                                                                                         \
                for (int j = 0; j < NR; j++) {                                                           \
                    float lanes[16];                                                                     \
                    _mm512_storeu_ps(lanes, acc[r][j]);                                                  \
                    y[r * ldy + j] = cpu_reduce16(lanes);                                                \
                }                                                                                        \
        }                                                                                                \
    } while (0)
#define FP4_W(z, P, S)                                                                                   \
    _mm512_permutexvar_epi16(_mm512_srlv_epi16(_mm512_permutexvar_epi8(P, z), sh),                       \
                             _mm512_load_si512((const void *)cpu_fp4_bf16w[S]))

static void bf16_rows4(const uint16_t *xh, long ldx, int mr, const ld_weight *w, int n0, int nr, float *y, long ldy) {
    const size_t K = (size_t)w->k, pf = (size_t)PF_ROWS * K / 2; /* PREFETCH_NEXT's distance */
    /* group q of the 64 bytes: byte 16q+i into both words of dword i */
    uint8_t jb[4][64];
    for (int q = 0; q < 4; q++)
        for (int i = 0; i < 64; i++) jb[q][i] = (uint8_t)(16 * q + i / 4);
    const __m512i p0 = _mm512_loadu_si512((const void *)jb[0]), p1 = _mm512_loadu_si512((const void *)jb[1]),
                  p2 = _mm512_loadu_si512((const void *)jb[2]), p3 = _mm512_loadu_si512((const void *)jb[3]),
                  sh = _mm512_set1_epi32(4);
#define BF16_NR4(MR)                                                                                     \
    switch (nr) {                                                                                        \
    case 4: BF16_ROWS4(MR, 4); break;                                                                    \
    case 3: BF16_ROWS4(MR, 3); break;                                                                    \
    case 2: BF16_ROWS4(MR, 2); break;                                                                    \
    default: BF16_ROWS4(MR, 1); break;                                                                   \
    }
    switch (mr) {
    case 4: BF16_NR4(4); break;
    case 3: BF16_NR4(3); break;
    case 2: BF16_NR4(2); break;
    default: BF16_NR4(1); break;
    }
}

/* The scale bytes of weight rows [n0, n0 + nr): the least and the greatest. */
static void scale_range(const ld_weight *w, int n0, int nr, int *lo, int *hi) {
    long ng = w->k / 32;
    __m512i mn = _mm512_set1_epi8((char)0xff), mx = _mm512_setzero_si512();
    for (int j = 0; j < nr; j++) {
        const uint8_t *s = SROW(4, n0 + j);
        for (long g = 0; g < ng; g += 64) {
            __mmask64 m = ng - g >= 64 ? ~0ull : (1ull << (ng - g)) - 1;
            __m512i v = _mm512_maskz_loadu_epi8(m, s + g);
            mn = _mm512_min_epu8(mn, _mm512_mask_blend_epi8(m, _mm512_set1_epi8((char)0xff), v));
            mx = _mm512_max_epu8(mx, v);
        }
    }
    uint8_t a[64], b[64];
    _mm512_storeu_si512((void *)a, mn), _mm512_storeu_si512((void *)b, mx);
    *lo = 255, *hi = 0;
    for (int i = 0; i < 64; i++) *lo = a[i] < *lo ? a[i] : *lo, *hi = b[i] > *hi ? b[i] : *hi;
}

/* With x a multiple of 2^(E-9) below 2^(E+9) and a weight a multiple of
 * 2^(s-128) below 2^(s-124): s in [2, 250] keeps every weight a normal
 * bf16, E + s >= 11 every product and partial sum at or above 2^-126 (or
 * zero), E + s <= 200 all of them far from overflow. */
static void bf16_tile4(const float *x, const uint16_t *xh, const int16_t *xe, long ldx, int mr, const ld_weight *w,
                       int n0, int nr, float *y, long ldy) {
    if (w->k % 128 == 0) {
        int emin = INT_MAX, emax = INT_MIN, ok = 1, slo, shi, nb = w->k / 128;
        for (int b = 0; b < mr * nb && ok; b++) {
            int e = xe[(b / nb) * ((ldx + 127) / 128) + b % nb];
            if (e == XE_BAD) ok = 0;
            if (e == XE_ZERO || e == XE_BAD) continue;
            emin = e < emin ? e : emin;
            emax = e > emax ? e : emax;
        }
        if (ok) {
            scale_range(w, n0, nr, &slo, &shi);
            ok = slo >= 2 && shi <= 250 && (emin > emax || (emin + slo >= 11 && emax + shi <= 200));
        }
        if (ok) {
            bf16_rows4(xh, ldx, mr, w, n0, nr, y, ldy);
            return;
        }
    }
    tile_fp4(x, ldx, mr, w, n0, nr, y, ldy);
}
