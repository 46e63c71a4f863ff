/* AVX2 w8a8 kernels. Without VNNI the u8 x s8 products go through
 * vpmaddubsw, whose pair sums saturate at 16 bits: I8 multiplies |x| by the
 * weight carrying x's sign (pairs at most 2 * 127 * 127), FP4_I8 the weight
 * plus 12 by x (pairs at most 2 * 24 * 127); vpmaddwd then widens exactly.
 * The 16 canonical lanes are two ymm halves. */
#include <immintrin.h>

#include "backends/cpu/cpu.h"
#include "backends/w8a8.h"

static inline __attribute__((always_inline)) int32_t hsum(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

static inline __attribute__((always_inline)) void i8_rows(const cpu_qx *x, const int MR, const ld_weight *w, int n0,
                                                          int n1, float *y, long ldy) {
    const float *sw = (const float *)(const void *)w->scale;
    const __m256i ones = _mm256_set1_epi16(1);
    long k = w->k;
    for (int n = n0; n < n1; n++) {
        const int8_t *wr = (const int8_t *)w->data + (long)n * k;
        __m256i acc[4];
        for (int r = 0; r < MR; r++) acc[r] = _mm256_setzero_si256();
        for (long i = 0; i < k; i += 32) {
            __m256i wv = _mm256_loadu_si256((const __m256i *)(wr + i));
            for (int r = 0; r < MR; r++) {
                __m256i xv = _mm256_loadu_si256((const __m256i *)(x->q + r * x->ldq + i));
                __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(xv), _mm256_sign_epi8(wv, xv));
                acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(p, ones));
            }
        }
        for (int r = 0; r < MR; r++) y[r * ldy + n - n0] = (float)hsum(acc[r]) * (x->s[r] * sw[n]);
    }
}

CPU_W8A8_ENTRY(i8, i8_rows)

static inline __attribute__((always_inline)) void fp4_rows(const cpu_qx *x, const int MR, const ld_weight *w, int n0,
                                                           int n1, float *y, long ldy) {
    const __m256i ones = _mm256_set1_epi16(1), m4 = _mm256_set1_epi8(15);
    /* 2 * e2m1 + 12 per nibble, in both 128-bit halves for vpshufb */
    const __m256i tab = _mm256_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0, 12, 13, 14, 15, 16,
                                         18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0);
    long k = w->k, groups = k / 32;
    for (int n = n0; n < n1; n++) {
        const uint8_t *wr = (const uint8_t *)w->data + (long)n * (k / 2), *sr = w->scale + (long)n * w->scale_cols;
        __m256 facc[4][2];
        for (int r = 0; r < MR; r++) facc[r][0] = facc[r][1] = _mm256_setzero_ps();
        for (long t = 0; t * 16 < groups; t++) {
            long G = groups - 16 * t < 16 ? groups - 16 * t : 16;
            _Alignas(32) uint8_t pad[256], spad[16];
            const uint8_t *p = wr + 256 * t, *sp = sr + 16 * t;
            if (G < 16) {
                cpu_fp4i8_pad(p, sp, G, pad, spad);
                p = pad, sp = spad;
            }
            __m256i acc[4][2];
            for (int r = 0; r < MR; r++)
                for (int h = 0; h < 2; h++)
                    acc[r][h] = _mm256_loadu_si256((const __m256i *)(x->corr + r * x->ldc + 16 * t + 8 * h));
            for (int c = 0; c < 4; c++)
                for (int h = 0; h < 2; h++) {
                    __m256i wv = _mm256_loadu_si256((const __m256i *)(p + 64 * c + 32 * h));
                    __m256i lo = _mm256_shuffle_epi8(tab, _mm256_and_si256(wv, m4));
                    __m256i hi = _mm256_shuffle_epi8(tab, _mm256_and_si256(_mm256_srli_epi16(wv, 4), m4));
                    for (int r = 0; r < MR; r++) {
                        const int8_t *xq = x->xp + r * x->ldp + LD_FP4I8_SB * t + 128 * c + 32 * h;
                        __m256i a = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)xq));
                        __m256i b = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(xq + 64)));
                        acc[r][h] = _mm256_add_epi32(acc[r][h], _mm256_madd_epi16(_mm256_add_epi16(a, b), ones));
                    }
                }
            for (int h = 0; h < 2; h++) {
                __m256 sc = _mm256_castsi256_ps(
                    _mm256_slli_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(sp + 8 * h))), 23));
                for (int r = 0; r < MR; r++) facc[r][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc[r][h]), sc, facc[r][h]);
            }
        }
        for (int r = 0; r < MR; r++) {
            float lane[16];
            _mm256_storeu_ps(lane, facc[r][0]);
            _mm256_storeu_ps(lane + 8, facc[r][1]);
            y[r * ldy + n - n0] = ld_w8a8_tree16(lane) * (0.5f * x->s[r]);
        }
    }
}

CPU_W8A8_ENTRY(fp4i8, fp4_rows)

const cpu_w8a8_kernels cpu_w8a8_avx2 = {"avx2", i8, fp4i8, cpu_w8a8_prep};
