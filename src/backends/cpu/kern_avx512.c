/* AVX-512 micro-kernels: the 16 canonical lanes in one zmm register. FP8
 * decodes through fp16 (exact, value times 2^-8, folded into the scale), FP4
 * through a 16-entry permute table. */
#include <immintrin.h>

#include "backends/cpu/cpu.h"

#define DECODER(name) static inline __attribute__((always_inline)) __m512 name(const ld_weight *w, int n, int k)

DECODER(dec_f32) { return _mm512_loadu_ps((const float *)w->data + (long)n * w->k + k); }

DECODER(dec_bf16) {
    __m256i b = _mm256_loadu_si256((const __m256i *)((const ld_bf16 *)w->data + (long)n * w->k + k));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(b), 16));
}

/* raw e4m3 value / 256; the block scale (times 256) is applied to x instead */
DECODER(dec_fp8) {
    __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)((const uint8_t *)w->data + (long)n * w->k + k)));
    __m256i h = _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(b, _mm256_set1_epi16(0x80)), 8),
                                _mm256_slli_epi16(_mm256_and_si256(b, _mm256_set1_epi16(0x7f)), 7));
    return _mm512_cvtph_ps(h);
}

DECODER(dec_fp4) {
    const uint8_t *q = (const uint8_t *)w->data + (long)n * (w->k / 2) + k / 2;
    __m128i b = _mm_loadl_epi64((const __m128i *)q);
    __m128i lo = _mm_and_si128(b, _mm_set1_epi8(15));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), _mm_set1_epi8(15));
    __m512i idx = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi));
    const __m512 tab = _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f, -1.5f,
                                      -2.0f, -3.0f, -4.0f, -6.0f);
    __m512 s = _mm512_set1_ps(cpu_e8m0[w->scale[(long)n * w->scale_cols + k / 32]]);
    return _mm512_permutexvar_ps(idx, _mm512_mul_ps(tab, s));
}

/* One MR x NR tile with the accumulators in registers; DEC is the format's decoder. */
#define TILE_FIXED(DEC, XS, MR, NR)                                                               \
    do {                                                                                          \
        __m512 acc[MR][NR];                                                                       \
        _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++)                                      \
            _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) acc[r][j] = _mm512_setzero_ps(); \
        for (int k = 0; k < w->k; k += 16) {                                                      \
            __m512 wv[NR];                                                                        \
            _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) wv[j] = DEC(w, n0 + j, k);       \
            __m512 xs = XS(k);                                                                    \
            _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++) {                                \
                __m512 xv = _mm512_mul_ps(_mm512_loadu_ps(x + r * ldx + k), xs);                  \
                _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++)                              \
                    acc[r][j] = _mm512_fmadd_ps(xv, wv[j], acc[r][j]);                            \
            }                                                                                     \
        }                                                                                         \
        for (int r = 0; r < MR; r++)                                                              \
            for (int j = 0; j < NR; j++) {                                                        \
                float v[16];                                                                      \
                _mm512_storeu_ps(v, acc[r][j]);                                                   \
                y[r * ldy + j] = cpu_reduce16(v);                                                 \
            }                                                                                     \
    } while (0)

#define DEFINE_TILE(NAME, DEC, XS)                                                                \
    static void NAME(const float *x, long ldx, int mr, const ld_weight *w, int n0, int nr, float *y, long ldy) { \
        if (mr == 4 && nr == 4) TILE_FIXED(DEC, XS, 4, 4);                                            \
        else if (mr == 1 && nr == 4) TILE_FIXED(DEC, XS, 1, 4);                                       \
        else {                                                                                    \
            const float *x0 = x;                                                                  \
            float *y0 = y;                                                                        \
            int base = n0;                                                                        \
            for (int rr = 0; rr < mr; rr++)                                                       \
                for (int jj = 0; jj < nr; jj++) {                                                 \
                    x = x0 + rr * ldx;                                                            \
                    y = y0 + rr * ldy + jj;                                                       \
                    n0 = base + jj;                                                               \
                    TILE_FIXED(DEC, XS, 1, 1);                                                        \
                }                                                                                 \
        }                                                                                         \
    }

/* x multipliers: exact powers of two, so fma(x*s, w, acc) == fma(x, w*s, acc) */
#define XS_ONE(k) _mm512_set1_ps(1.0f)
#define XS_FP8(k) _mm512_set1_ps(cpu_e8m0[w->scale[(long)(n0 / 128) * w->scale_cols + (k) / 128]] * 256.0f)

DEFINE_TILE(tile_f32, dec_f32, XS_ONE)
DEFINE_TILE(tile_bf16, dec_bf16, XS_ONE)
DEFINE_TILE(tile_fp8, dec_fp8, XS_FP8)
DEFINE_TILE(tile_fp4, dec_fp4, XS_ONE)

const cpu_kernels cpu_kernels_avx512 = {"avx512", {tile_f32, tile_bf16, tile_fp8, tile_fp8, tile_fp4}};
