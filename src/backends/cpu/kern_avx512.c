/* AVX-512 micro-kernels: one zmm register holds the 16 canonical lanes.
 * Each format decodes a whole group of slots at once (cpu.h): FP8 32 values
 * through fp16 (e4m3 bits shifted into fp16 position give value * 2^-8,
 * exact incl. subnormals; the 2^8 joins the block scale applied to x), BF16
 * 32 values as the even/odd halves of 32-bit pairs, FP4 64 values through a
 * 16-entry permute table indexed by the nibbles of 16 dwords. */
#include <immintrin.h>

#include "backends/cpu/cpu.h"

/* Decoders: fill v[0..G) with the weight slots of row n for the group at k. */
#define DECODER(name) static inline __attribute__((always_inline)) void name(const ld_weight *w, int n, long k, __m512 *v)

DECODER(dec_f32) {
    const float *p = (const float *)w->data + (long)n * w->k + k;
    v[0] = _mm512_loadu_ps(p);
    v[1] = _mm512_loadu_ps(p + 16);
}

DECODER(dec_bf16) {
    __m512i b = _mm512_loadu_si512((const void *)((const ld_bf16 *)w->data + (long)n * w->k + k));
    v[0] = _mm512_castsi512_ps(_mm512_slli_epi32(b, 16));
    v[1] = _mm512_castsi512_ps(_mm512_and_si512(b, _mm512_set1_epi32((int)0xffff0000u)));
}

DECODER(dec_fp8) {
    __m512i b = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)((const uint8_t *)w->data + (long)n * w->k + k)));
    __m512i t = _mm512_slli_epi16(b, 7); /* sign lands on bit 14; adding bit 14 to itself carries it to 15 */
    __m512i h = _mm512_add_epi16(t, _mm512_and_si512(t, _mm512_set1_epi16(0x4000)));
    v[0] = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
    v[1] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
}

DECODER(dec_fp4) {
    const uint8_t *q = (const uint8_t *)w->data + (long)n * (w->k / 2) + k / 2;
    const uint8_t *sc = w->scale + (long)n * w->scale_cols + k / 32;
    /* dword i = bytes 2i, 2i+1 = the nibbles of elements 4i..4i+3 */
    __m512i d = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i *)q));
    const __m512 tab = _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f, -1.5f,
                                      -2.0f, -3.0f, -4.0f, -6.0f);
    /* lanes 0-7 hold elements of the first 32-group, lanes 8-15 of the second */
    __m512 s = _mm512_insertf32x8(_mm512_set1_ps(cpu_e8m0[sc[0]]), _mm256_set1_ps(cpu_e8m0[sc[1]]), 1);
    v[0] = _mm512_mul_ps(_mm512_permutexvar_ps(d, tab), s);
    v[1] = _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(d, 4), tab), s);
    v[2] = _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(d, 16), tab), s);
    v[3] = _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(d, 20), tab), s);
}

/* x multiplier per group for FP8 (XS = 1): the block scale times 2^8, an
 * exact power of two */
#define FP8_SCALE(n, k) _mm512_set1_ps(cpu_e8m0[w->scale[(long)((n) / 128) * w->scale_cols + (k) / 128]] * 256.0f)
#define XS_FP8(k) FP8_SCALE(n0, k)

/* One MR x NR tile with the accumulators in registers; G slots per group. */
#define TILE_FIXED(DEC, XS, G, MR, NR)                                                            \
    do {                                                                                          \
        __m512 acc[MR][NR];                                                                       \
        _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++)                                      \
            _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) acc[r][j] = _mm512_setzero_ps(); \
        for (long k = 0; k < w->k; k += 16 * G) {                                                 \
            __m512 xs = XS != 0 ? XS_FP8(k) : _mm512_setzero_ps();                                \
            /* one weight row at a time keeps register pressure at G + MR*NR */                   \
            _Pragma("GCC unroll 4") for (int j = 0; j < NR; j++) {                                \
                __m512 wv[G];                                                                     \
                DEC(w, n0 + j, k, wv);                                                            \
                _Pragma("GCC unroll 4") for (int g = 0; g < G; g++)                               \
                    _Pragma("GCC unroll 4") for (int r = 0; r < MR; r++) {                        \
                    __m512 xv = _mm512_loadu_ps(x + r * ldx + k + 16 * g);                        \
                    if (XS != 0) xv = _mm512_mul_ps(xv, xs);                                      \
                    acc[r][j] = _mm512_fmadd_ps(xv, wv[g], acc[r][j]);                            \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
        for (int r = 0; r < MR; r++)                                                              \
            for (int j = 0; j < NR; j++) {                                                        \
                float v16[16];                                                                    \
                _mm512_storeu_ps(v16, acc[r][j]);                                                 \
                y[r * ldy + j] = cpu_reduce16(v16);                                               \
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
                __m512 v[G];                                                                      \
                DEC(w, n0 + j, k, v);                                                             \
                if (FP8) {                                                                        \
                    __m512 xs = FP8_SCALE(n0 + j, k);                                             \
                    for (int g = 0; g < G; g++) v[g] = _mm512_mul_ps(v[g], xs);                   \
                }                                                                                 \
                for (int g = 0; g < G; g++) _mm512_storeu_ps(panel + (long)j * w->k + k + 16 * g, v[g]); \
            }                                                                                     \
    }

DEFINE_DECODE(decode_f32, dec_f32, 0, 2)
DEFINE_DECODE(decode_bf16, dec_bf16, 0, 2)
DEFINE_DECODE(decode_fp8, dec_fp8, 1, 2)
DEFINE_DECODE(decode_fp4, dec_fp4, 0, 4)

const cpu_kernels cpu_kernels_avx512 = {"avx512",
                                        {tile_f32, tile_bf16, tile_fp8, tile_fp8, tile_fp4},
                                        {decode_f32, decode_bf16, decode_fp8, decode_fp8, decode_fp4}};
