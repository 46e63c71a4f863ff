/* AVX2 + FMA + F16C micro-kernels: the 16 canonical lanes as two 8-lane
 * halves (lo = lanes 0-7, hi = lanes 8-15), same slot layout as cpu.h, so the
 * bits equal the other paths. FP4 decodes through an 8-entry magnitude
 * permute plus the sign bit. */
#include <immintrin.h>

#include "backends/cpu/cpu.h"

typedef struct {
    __m256 lo, hi;
} v16;

#define DECODER(name) static inline __attribute__((always_inline)) void name(const ld_weight *w, int n, long k, v16 *v)

DECODER(dec_f32) {
    const float *p = (const float *)w->data + (long)n * w->k + k;
    for (int g = 0; g < 2; g++) {
        v[g].lo = _mm256_loadu_ps(p + 16 * g);
        v[g].hi = _mm256_loadu_ps(p + 16 * g + 8);
    }
}

DECODER(dec_bf16) {
    const ld_bf16 *p = (const ld_bf16 *)w->data + (long)n * w->k + k;
    __m256i a = _mm256_loadu_si256((const __m256i *)p), b = _mm256_loadu_si256((const __m256i *)(p + 16));
    const __m256i hi16 = _mm256_set1_epi32((int)0xffff0000u);
    v[0].lo = _mm256_castsi256_ps(_mm256_slli_epi32(a, 16));
    v[0].hi = _mm256_castsi256_ps(_mm256_slli_epi32(b, 16));
    v[1].lo = _mm256_castsi256_ps(_mm256_and_si256(a, hi16));
    v[1].hi = _mm256_castsi256_ps(_mm256_and_si256(b, hi16));
}

static inline __m256 fp8x8(const uint8_t *q) {
    __m128i t = _mm_slli_epi16(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)q)), 7);
    return _mm256_cvtph_ps(_mm_add_epi16(t, _mm_and_si128(t, _mm_set1_epi16(0x4000))));
}

DECODER(dec_fp8) {
    const uint8_t *q = (const uint8_t *)w->data + (long)n * w->k + k;
    for (int g = 0; g < 2; g++) {
        v[g].lo = fp8x8(q + 16 * g);
        v[g].hi = fp8x8(q + 16 * g + 8);
    }
}

static inline __m256 fp4x8(__m256i idx, __m256 s) {
    const __m256 mag = _mm256_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f);
    idx = _mm256_and_si256(idx, _mm256_set1_epi32(15));
    __m256 v = _mm256_permutevar8x32_ps(mag, idx); /* uses the low 3 bits */
    __m256i sign = _mm256_slli_epi32(_mm256_and_si256(idx, _mm256_set1_epi32(8)), 28);
    return _mm256_mul_ps(_mm256_xor_ps(v, _mm256_castsi256_ps(sign)), s);
}

DECODER(dec_fp4) {
    const uint8_t *q = (const uint8_t *)w->data + (long)n * (w->k / 2) + k / 2;
    const uint8_t *sc = w->scale + (long)n * w->scale_cols + k / 32;
    __m256i dl = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)q));
    __m256i dh = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(q + 16)));
    __m256 sl = _mm256_set1_ps(cpu_e8m0[sc[0]]), sh = _mm256_set1_ps(cpu_e8m0[sc[1]]);
    const int sh4[4] = {0, 4, 16, 20};
    for (int c = 0; c < 4; c++) {
        __m128i cnt = _mm_cvtsi32_si128(sh4[c]);
        v[c].lo = fp4x8(_mm256_srl_epi32(dl, cnt), sl);
        v[c].hi = fp4x8(_mm256_srl_epi32(dh, cnt), sh);
    }
}

#define FP8_SCALE(n, k) _mm256_set1_ps(cpu_e8m0[w->scale[(long)((n) / 128) * w->scale_cols + (k) / 128]] * 256.0f)
#define XS_FP8(k) FP8_SCALE(n0, k)

#define TILE_FIXED(DEC, XS, G, MR, NR)                                                            \
    do {                                                                                          \
        v16 acc[MR][NR];                                                                          \
        _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++)                                      \
            _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) acc[r][j].lo = acc[r][j].hi = _mm256_setzero_ps(); \
        for (long k = 0; k < w->k; k += 16 * G) {                                                 \
            __m256 xs = XS != 0 ? XS_FP8(k) : _mm256_setzero_ps();                                \
            _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) {                                \
                v16 wv[G];                                                                        \
                DEC(w, n0 + j, k, wv);                                                            \
                _Pragma("GCC unroll 4") for (int g = 0; g < G; g++)                               \
                    _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++) {                        \
                    __m256 xl = _mm256_loadu_ps(x + r * ldx + k + 16 * g);                        \
                    __m256 xh = _mm256_loadu_ps(x + r * ldx + k + 16 * g + 8);                    \
                    if (XS != 0) { xl = _mm256_mul_ps(xl, xs); xh = _mm256_mul_ps(xh, xs); }      \
                    acc[r][j].lo = _mm256_fmadd_ps(xl, wv[g].lo, acc[r][j].lo);                   \
                    acc[r][j].hi = _mm256_fmadd_ps(xh, wv[g].hi, acc[r][j].hi);                   \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
        for (int r = 0; r < MR; r++)                                                              \
            for (int j = 0; j < NR; j++) {                                                        \
                float v16f[16];                                                                   \
                _mm256_storeu_ps(v16f, acc[r][j].lo);                                             \
                _mm256_storeu_ps(v16f + 8, acc[r][j].hi);                                         \
                y[r * ldy + j] = cpu_reduce16(v16f);                                              \
            }                                                                                     \
    } while (0)

#define DEFINE_TILE(NAME, DEC, XS, G)                                                             \
    static void NAME(const float *x, long ldx, int mr, const ld_weight *w, int n0, int nr, float *y, long ldy) { \
        if (mr == 4 && nr == 4) TILE_FIXED(DEC, XS, G, 4, 4);                                     \
        else if (mr == 1 && nr == 4) TILE_FIXED(DEC, XS, G, 1, 4);                                \
        else if (mr == 2 && nr == 4) TILE_FIXED(DEC, XS, G, 2, 4);                                \
        else if (mr == 3 && nr == 4) TILE_FIXED(DEC, XS, G, 3, 4);                                \
        else {                                                                                    \
            const float *x0 = x;                                                                  \
            float *y0 = y;                                                                        \
            int base = n0;                                                                        \
            for (int rr = 0; rr < mr; rr++)                                                       \
                for (int jj = 0; jj < nr; jj++) {                                                 \
                    x = x0 + rr * ldx;                                                            \
                    y = y0 + rr * ldy + jj;                                                       \
                    n0 = base + jj;                                                               \
                    TILE_FIXED(DEC, XS, G, 1, 1);                                                 \
                }                                                                                 \
        }                                                                                         \
    }

DEFINE_TILE(tile_f32, dec_f32, 0, 2)
DEFINE_TILE(tile_bf16, dec_bf16, 0, 2)
DEFINE_TILE(tile_fp8, dec_fp8, 1, 2)
DEFINE_TILE(tile_fp4, dec_fp4, 0, 4)

#define DEFINE_DECODE(NAME, DEC, FP8, G)                                                          \
    static void NAME(const ld_weight *w, int n0, int nr, float *panel) {                          \
        for (int j = 0; j < nr; j++)                                                              \
            for (long k = 0; k < w->k; k += 16 * G) {                                             \
                v16 v[G];                                                                         \
                DEC(w, n0 + j, k, v);                                                             \
                if (FP8) {                                                                        \
                    __m256 xs = FP8_SCALE(n0 + j, k);                                             \
                    for (int g = 0; g < G; g++) {                                                 \
                        v[g].lo = _mm256_mul_ps(v[g].lo, xs);                                     \
                        v[g].hi = _mm256_mul_ps(v[g].hi, xs);                                     \
                    }                                                                             \
                }                                                                                 \
                for (int g = 0; g < G; g++) {                                                     \
                    _mm256_storeu_ps(panel + (long)j * w->k + k + 16 * g, v[g].lo);               \
                    _mm256_storeu_ps(panel + (long)j * w->k + k + 16 * g + 8, v[g].hi);           \
                }                                                                                 \
            }                                                                                     \
    }

DEFINE_DECODE(decode_f32, dec_f32, 0, 2)
DEFINE_DECODE(decode_bf16, dec_bf16, 0, 2)
DEFINE_DECODE(decode_fp8, dec_fp8, 1, 2)
DEFINE_DECODE(decode_fp4, dec_fp4, 0, 4)

const cpu_kernels cpu_kernels_avx2 = {"avx2",
                                      {tile_f32, tile_bf16, tile_fp8, tile_fp8, tile_fp4},
                                      {decode_f32, decode_bf16, decode_fp8, decode_fp8, decode_fp4}};
