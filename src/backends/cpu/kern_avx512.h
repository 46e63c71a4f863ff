/* AVX-512 micro-kernel pieces for tile_template.h (kern_avx512.c, and
 * kern_avx512bf16.c with its BF16 FP8 tile): one zmm register holds the 16
 * canonical lanes. Each format decodes a whole group of slots at once (cpu.h): FP8 32 values
 * through fp16 (e4m3 bits shifted into fp16 position give value * 2^-8,
 * exact incl. subnormals; the 2^8 joins the block scale applied to x), BF16
 * 32 values as the even/odd halves of 32-bit pairs, FP4 32 values (one scale
 * group) through a scaled 16-entry permute table indexed by nibbles. */
#ifndef LADDER_BACKENDS_CPU_KERN_AVX512_H
#define LADDER_BACKENDS_CPU_KERN_AVX512_H
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
#define V_KEEP(v) __asm__("" : "+v"(v))

/* p: the weight row's bytes for this group; s: the row's FP4 scales, k the
 * group's first element (FP4 only) */
#define DECODER(name) static inline __attribute__((always_inline)) void name(const uint8_t *p, const uint8_t *s, size_t k, v16 *v)

DECODER(dec_f32) {
    (void)s, (void)k;
    v[0] = _mm512_loadu_ps((const float *)p);
    v[1] = _mm512_loadu_ps((const float *)p + 16);
}

DECODER(dec_bf16) {
    (void)s, (void)k;
    __m512i b = _mm512_loadu_si512((const void *)p);
    v[0] = _mm512_castsi512_ps(_mm512_slli_epi32(b, 16));
    v[1] = _mm512_castsi512_ps(_mm512_and_si512(b, _mm512_set1_epi32((int)0xffff0000u)));
}

DECODER(dec_fp8) {
    (void)s, (void)k;
    /* sign-extended, the byte's sign fills bits 15..7 of the word; shifted by
       7 it lands on bit 15 (and 14, cleared) above the magnitude bits 13..7 */
    __m512i b = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)p));
    __m512i h = _mm512_and_si512(_mm512_slli_epi16(b, 7), _mm512_set1_epi16((short)0xbfff));
    v[0] = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
    v[1] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
}

DECODER(dec_fp4) {
    /* one 32-group shares one scale, so the table comes pre-scaled for it
       (cpu_fp4_tab; the permutes read it from L1) */
    const __m512 tab = _mm512_load_ps(cpu_fp4_tab[s[k / 32]]);
    /* lane i = byte i: its low nibble is element 2i, its high one 2i+1 */
    __m512i d = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
    v[0] = _mm512_permutexvar_ps(d, tab);
    v[1] = _mm512_permutexvar_ps(_mm512_srli_epi32(d, 4), tab);
}

/* The fixed 16-lane tree on 16 registers at once. Each step adds the halves
 * the scalar tree adds ((i, i+8), (i, i+4), (i, i+2), (0, 1)), two
 * accumulators per register, so the sums are bit for bit cpu_reduce16's.
 * Fed in transposed order, the last register holds row r's four sums in
 * its 128-bit chunk r. */
static inline __attribute__((always_inline)) void reduce16(const __m512 *v, float *y, long ldy) {
    __m512 a[8], b[4], c[2], d;
    for (int p = 0; p < 8; p++) {
        __m512 u = v[(2 * p) % 4 * 4 + (2 * p) / 4], t = v[(2 * p + 1) % 4 * 4 + (2 * p + 1) / 4];
        a[p] = _mm512_add_ps(_mm512_shuffle_f32x4(u, t, 0x44), _mm512_shuffle_f32x4(u, t, 0xee));
    }
    for (int p = 0; p < 4; p++)
        b[p] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * p], a[2 * p + 1], 0x88),
                             _mm512_shuffle_f32x4(a[2 * p], a[2 * p + 1], 0xdd));
    for (int p = 0; p < 2; p++)
        c[p] = _mm512_add_ps(_mm512_shuffle_ps(b[2 * p], b[2 * p + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(b[2 * p], b[2 * p + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    d = _mm512_add_ps(_mm512_shuffle_ps(c[0], c[1], _MM_SHUFFLE(2, 0, 2, 0)),
                      _mm512_shuffle_ps(c[0], c[1], _MM_SHUFFLE(3, 1, 3, 1)));
    _mm_storeu_ps(y, _mm512_extractf32x4_ps(d, 0));
    _mm_storeu_ps(y + ldy, _mm512_extractf32x4_ps(d, 1));
    _mm_storeu_ps(y + 2 * ldy, _mm512_extractf32x4_ps(d, 2));
    _mm_storeu_ps(y + 3 * ldy, _mm512_extractf32x4_ps(d, 3));
}
#define V_REDUCE_16(v, y, ldy) reduce16(v, y, ldy)

/* The same tree on 4 registers (one row of a direct tile): after the two
 * 256- and 128-bit steps each 128-bit chunk q holds accumulator q's four
 * partial sums, which the in-chunk steps finish. */
static inline __attribute__((always_inline)) void reduce4(const __m512 *v, float *y) {
    __m512 p = _mm512_add_ps(_mm512_shuffle_f32x4(v[0], v[1], 0x44), _mm512_shuffle_f32x4(v[0], v[1], 0xee));
    __m512 q = _mm512_add_ps(_mm512_shuffle_f32x4(v[2], v[3], 0x44), _mm512_shuffle_f32x4(v[2], v[3], 0xee));
    __m512 b = _mm512_add_ps(_mm512_shuffle_f32x4(p, q, 0x88), _mm512_shuffle_f32x4(p, q, 0xdd));
    __m512 c = _mm512_add_ps(_mm512_shuffle_ps(b, b, _MM_SHUFFLE(1, 0, 1, 0)), _mm512_shuffle_ps(b, b, _MM_SHUFFLE(3, 2, 3, 2)));
    __m512 d = _mm512_add_ps(_mm512_shuffle_ps(c, c, _MM_SHUFFLE(0, 0, 0, 0)), _mm512_shuffle_ps(c, c, _MM_SHUFFLE(1, 1, 1, 1)));
    /* lane 0 of each chunk */
    _mm_storeu_ps(y, _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), d)));
}
#define V_REDUCE_4(v, y) reduce4(v, y)

#endif
