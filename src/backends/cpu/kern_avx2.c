/* AVX2 + FMA + F16C micro-kernels: the 16 canonical lanes as two 8-lane
 * halves (lo = lanes 0-7, hi = lanes 8-15), same slot layout as cpu.h, so the
 * bits equal the other paths. FP4 decodes through an 8-entry magnitude
 * permute (scaled per 32-group) plus the sign bit. */
#include <immintrin.h>

#include "backends/cpu/cpu.h"

typedef struct {
    __m256 lo, hi;
} v16;

static inline v16 V_ZERO(void) { return (v16){_mm256_setzero_ps(), _mm256_setzero_ps()}; }
static inline v16 V_SET1(float f) { return (v16){_mm256_set1_ps(f), _mm256_set1_ps(f)}; }
static inline v16 V_LOAD(const float *p) { return (v16){_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
static inline v16 V_MUL(v16 a, v16 b) { return (v16){_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
static inline v16 V_FMA(v16 a, v16 b, v16 c) { return (v16){_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)}; }
static inline void V_STORE(float *p, v16 v) {
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
}

/* p: the weight row's bytes for this group; s: the row's FP4 scales, k the
 * group's first element (FP4 only) */
#define DECODER(name) static inline __attribute__((always_inline)) void name(const uint8_t *p, const uint8_t *s, size_t k, v16 *v)

DECODER(dec_f32) {
    (void)s, (void)k;
    const float *f = (const float *)p;
    for (int g = 0; g < 2; g++) {
        v[g].lo = _mm256_loadu_ps(f + 16 * g);
        v[g].hi = _mm256_loadu_ps(f + 16 * g + 8);
    }
}

DECODER(dec_bf16) {
    (void)s, (void)k;
    __m256i a = _mm256_loadu_si256((const __m256i *)p), b = _mm256_loadu_si256((const __m256i *)(p + 32));
    const __m256i hi16 = _mm256_set1_epi32((int)0xffff0000u);
    v[0].lo = _mm256_castsi256_ps(_mm256_slli_epi32(a, 16));
    v[0].hi = _mm256_castsi256_ps(_mm256_slli_epi32(b, 16));
    v[1].lo = _mm256_castsi256_ps(_mm256_and_si256(a, hi16));
    v[1].hi = _mm256_castsi256_ps(_mm256_and_si256(b, hi16));
}

static inline __m256 fp8x8(const uint8_t *q) {
    __m128i t = _mm_slli_epi16(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)q)), 7); /* see kern_avx512.c */
    return _mm256_cvtph_ps(_mm_and_si128(t, _mm_set1_epi16((short)0xbfff)));
}

DECODER(dec_fp8) {
    (void)s, (void)k;
    for (int g = 0; g < 2; g++) {
        v[g].lo = fp8x8(p + 16 * g);
        v[g].hi = fp8x8(p + 16 * g + 8);
    }
}

/* 8 fp4 values, one per byte of idx (low or high nibble, per shift),
 * from the 8-entry magnitude table already scaled, plus the sign bit. */
static inline __m256 fp4x8(__m256i idx, __m256 mag) {
    __m256 v = _mm256_permutevar8x32_ps(mag, idx); /* uses the low 3 bits */
    __m256i sign = _mm256_slli_epi32(_mm256_and_si256(idx, _mm256_set1_epi32(8)), 28);
    return _mm256_xor_ps(v, _mm256_castsi256_ps(sign));
}

DECODER(dec_fp4) {
    /* the first 8 entries of the group's pre-scaled table: the magnitudes */
    __m256 mag = _mm256_load_ps(cpu_fp4_tab[s[k / 32]]);
    __m256i dl = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
    __m256i dh = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(p + 8)));
    v[0].lo = fp4x8(dl, mag);
    v[0].hi = fp4x8(dh, mag);
    v[1].lo = fp4x8(_mm256_srli_epi32(dl, 4), mag);
    v[1].hi = fp4x8(_mm256_srli_epi32(dh, 4), mag);
}

#define KERNELS_VAR cpu_kernels_avx2
#define KERNELS_NAME "avx2"
#include "backends/cpu/tile_template.h"
