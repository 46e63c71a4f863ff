/* AVX-512 micro-kernels: one zmm register holds the 16 canonical lanes.
 * Each format decodes a whole group of slots at once (cpu.h): FP8 32 values
 * through fp16 (e4m3 bits shifted into fp16 position give value * 2^-8,
 * exact incl. subnormals; the 2^8 joins the block scale applied to x), BF16
 * 32 values as the even/odd halves of 32-bit pairs, FP4 64 values through a
 * 16-entry permute table indexed by the nibbles of 16 dwords. */
#include <immintrin.h>

#include "backends/cpu/cpu.h"

/* Decoders: fill v[0..G) with the weight slots of row n for the group at k. */
typedef __m512 v16;
#define V_ZERO() _mm512_setzero_ps()
#define V_SET1(f) _mm512_set1_ps(f)
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_MUL(a, b) _mm512_mul_ps(a, b)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_STORE(p, v) _mm512_storeu_ps(p, v)

#define DECODER(name) static inline __attribute__((always_inline)) void name(const ld_weight *w, int n, long k, v16 *v)

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

#define KERNELS_VAR cpu_kernels_avx512
#define KERNELS_NAME "avx512"
#include "backends/cpu/tile_template.h"
