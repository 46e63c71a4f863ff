/* AVX-512 VNNI w8a8 kernels: vpdpbusd multiplies u8 by s8 in groups of 4
 * into int32 lanes, exactly. I8 weights are made unsigned by flipping their
 * top bit (w + 128; the driver's -128 * sum q takes it back out); FP4_I8
 * nibbles become 2 * e2m1 + 12 through one vpermb each (VBMI: 64-entry
 * table, so the bits above a nibble need no masking) and the driver's
 * -12 * sum q per group starts each group's accumulator. One zmm is the 16
 * canonical lanes: lane i is group 16t + i of superblock t. */
#include <immintrin.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "backends/w8a8.h"

/* Bytes ahead of the row stream that each step prefetches into L2. */
#define PF_AHEAD 1024

static inline __attribute__((always_inline)) void i8_rows(const cpu_qx *x, const int MR, const ld_weight *w, int n0,
                                                          int n1, float *y, long ldy) {
    const float *sw = (const float *)(const void *)w->scale;
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    long k = w->k;
    for (int n = n0; n < n1; n++) {
        const int8_t *wr = (const int8_t *)w->data + (long)n * k;
        /* two chains per row: one vpdpbusd's latency is not paid per 64 bytes */
        __m512i acc[4][2];
        for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
        long i = 0;
        for (; i + 128 <= k; i += 128) {
            _mm_prefetch((const char *)(wr + i + PF_AHEAD), _MM_HINT_T1);
            __m512i w0 = _mm512_xor_si512(_mm512_loadu_si512((const void *)(wr + i)), flip);
            __m512i w1 = _mm512_xor_si512(_mm512_loadu_si512((const void *)(wr + i + 64)), flip);
            for (int r = 0; r < MR; r++) {
                const int8_t *q = x->q + r * x->ldq + i;
                acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], w0, _mm512_loadu_si512((const void *)q));
                acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], w1, _mm512_loadu_si512((const void *)(q + 64)));
            }
        }
        for (; i < k; i += 64) {
            __m512i w0 = _mm512_xor_si512(_mm512_loadu_si512((const void *)(wr + i)), flip);
            for (int r = 0; r < MR; r++)
                acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], w0, _mm512_loadu_si512((const void *)(x->q + r * x->ldq + i)));
        }
        for (int r = 0; r < MR; r++) {
            int32_t d = _mm512_reduce_add_epi32(_mm512_add_epi32(acc[r][0], acc[r][1])) + x->corr[r * x->ldc];
            y[r * ldy + n - n0] = (float)d * (x->s[r] * sw[n]);
        }
    }
}

CPU_W8A8_ENTRY(i8, i8_rows)

/* The fixed 16-lane tree (backends/w8a8.h) on one register. */
static inline __attribute__((always_inline)) float tree16(__m512 v) {
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

static inline __attribute__((always_inline)) void fp4_rows(const cpu_qx *x, const int MR, const ld_weight *w, int n0,
                                                           int n1, float *y, long ldy) {
    /* 2 * e2m1 + 12 per nibble, repeated for the index bits above it */
#define T16 12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0
    static const _Alignas(64) int8_t t64[64] = {T16, T16, T16, T16};
#undef T16
    const __m512i tab = _mm512_load_si512((const void *)t64);
    long k = w->k, groups = k / 32;
    for (int n = n0; n < n1; n++) {
        const uint8_t *wr = (const uint8_t *)w->data + (long)n * (k / 2), *sr = w->scale + (long)n * w->scale_cols;
        __m512 facc[4];
        for (int r = 0; r < MR; r++) facc[r] = _mm512_setzero_ps();
        for (long t = 0; t * 16 < groups; t++) {
            long G = groups - 16 * t < 16 ? groups - 16 * t : 16;
            const uint8_t *p = wr + 256 * t;
            __mmask64 cm = G == 16 ? ~(__mmask64)0 : (((__mmask64)1 << (4 * G)) - 1);
            /* a chain per nibble half: the integer sums are exact, so how
               they are split does not matter, and one chain of 8 vpdpbusd
               per superblock would wait on its latency */
            __m512i acc[4][2];
            for (int r = 0; r < MR; r++) {
                acc[r][0] = _mm512_loadu_si512((const void *)(x->corr + r * x->ldc + 16 * t));
                acc[r][1] = _mm512_setzero_si512();
            }
            for (int c = 0; c < 4; c++) {
                _mm_prefetch((const char *)(p + 64 * c + PF_AHEAD), _MM_HINT_T1);
                /* a short last superblock: chunks 4G bytes apart, the
                   missing groups' lanes load as zeros */
                __m512i wv = _mm512_maskz_loadu_epi8(cm, p + 4 * G * c);
                __m512i lo = _mm512_permutexvar_epi8(wv, tab);
                __m512i hi = _mm512_permutexvar_epi8(_mm512_srli_epi16(wv, 4), tab);
                for (int r = 0; r < MR; r++) {
                    const int8_t *xq = x->xp + r * x->ldp + LD_FP4I8_SB * t + 128 * c;
                    acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], lo, _mm512_loadu_si512((const void *)xq));
                    acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], hi, _mm512_loadu_si512((const void *)(xq + 64)));
                }
            }
            __m512 sc = _mm512_castsi512_ps(
                _mm512_slli_epi32(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8((__mmask16)((1u << G) - 1), sr + 16 * t)), 23));
            for (int r = 0; r < MR; r++)
                facc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc[r][0], acc[r][1])), sc, facc[r]);
        }
        for (int r = 0; r < MR; r++) y[r * ldy + n - n0] = tree16(facc[r]) * (0.5f * x->s[r]);
    }
}

CPU_W8A8_ENTRY(fp4i8, fp4_rows)

/* The activation prep of cpu_w8a8_prep in 16 lanes: the amax is a max (any
 * order), the division and the round-to-even conversion are IEEE's, so q
 * and s are ld_w8a8_quant_row's bits. A row holding Inf, NaN or only zeros
 * (and a length not a multiple of 32) takes the portable code. */
static void prep(const float *x, long k, float *s, int8_t *q, int8_t *xp, int32_t *corr) {
    if (k % 32) {
        cpu_w8a8_prep(x, k, s, q, xp, corr);
        return;
    }
    __m512 amax = _mm512_setzero_ps();
    const __m512 big = _mm512_set1_ps(3.4028235e38f);
    __mmask16 bad = 0;
    for (long i = 0; i < k; i += 16) {
        __m512 a = _mm512_abs_ps(_mm512_loadu_ps(x + i));
        bad |= _mm512_cmp_ps_mask(a, big, _CMP_NLE_UQ);
        amax = _mm512_max_ps(amax, a);
    }
    float a = _mm512_reduce_max_ps(amax);
    if (bad || a == 0) {
        cpu_w8a8_prep(x, k, s, q, xp, corr);
        return;
    }
    float sc = a / LD_W8A8_QMAX;
    *s = sc;
    const __m512 vs = _mm512_set1_ps(sc);
    const __m512i lo = _mm512_set1_epi32(-LD_W8A8_QMAX), hi = _mm512_set1_epi32(LD_W8A8_QMAX);
    __m512i sum = _mm512_setzero_si512();
    for (long i = 0; i < k; i += 16) {
        __m512i v = _mm512_cvtps_epi32(_mm512_div_ps(_mm512_loadu_ps(x + i), vs));
        v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
        sum = _mm512_add_epi32(sum, v);
        _mm_storeu_si128((__m128i *)(q + i), _mm512_cvtepi32_epi8(v));
    }
    if (!xp) {
        corr[0] = -128 * _mm512_reduce_add_epi32(sum);
        return;
    }
    /* FP4_I8 order (cpu_w8a8.c): per group, even and odd elements of each
       8 apart, as 8 dwords that go 64 bytes apart */
    long groups = k / 32, nsb = (groups + 15) / 16;
    if (groups % 16) {
        memset(xp + (nsb - 1) * LD_FP4I8_SB, 0, LD_FP4I8_SB);
        memset(corr + (nsb - 1) * 16, 0, sizeof(int32_t) * 16);
    }
    const __m256i sh = _mm256_setr_epi8(0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15, 0, 2, 4, 6, 1, 3, 5, 7,
                                        8, 10, 12, 14, 9, 11, 13, 15);
    const __m256i at = _mm256_setr_epi32(0, 16, 32, 48, 64, 80, 96, 112), flip = _mm256_set1_epi8((char)0x80);
    for (long g = 0; g < groups; g++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(q + 32 * g));
        int32_t *base = (int32_t *)(void *)(xp + (g / 16) * LD_FP4I8_SB + 4 * (g % 16));
        _mm256_i32scatter_epi32(base, at, _mm256_shuffle_epi8(v, sh), 4);
        /* sum of the signed bytes: of the bytes plus 128, minus 32 * 128 */
        __m256i u = _mm256_sad_epu8(_mm256_xor_si256(v, flip), _mm256_setzero_si256());
        __m128i t = _mm_add_epi64(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1));
        int32_t sg = (int32_t)(_mm_cvtsi128_si64(t) + _mm_extract_epi64(t, 1)) - 32 * 128;
        corr[g] = -12 * sg;
    }
}

const cpu_w8a8_kernels cpu_w8a8_vnni = {"avx512vnni", i8, fp4i8, prep};
