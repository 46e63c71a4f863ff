/* AVX2 + FMA + F16C micro-kernels: the 16 canonical lanes as two 8-lane
 * halves (lo = lanes 0-7, hi = lanes 8-15), so the bits equal the other
 * paths. FP8 decodes through fp16 (e4m3 bits shifted into fp16 position give
 * the value times 2^-8, exact incl. subnormals), FP4 through an 8-entry
 * magnitude table plus the sign bit. */
#include <immintrin.h>

#include "backends/cpu/cpu.h"

typedef struct {
    __m256 lo, hi;
} v16;

static inline __m256 fp8x8(const uint8_t *q, __m256 s) {
    __m128i b = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)q));
    __m128i h = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(b, _mm_set1_epi16(0x80)), 8),
                             _mm_slli_epi16(_mm_and_si128(b, _mm_set1_epi16(0x7f)), 7));
    return _mm256_mul_ps(_mm256_cvtph_ps(h), s);
}

static inline __m256 fp4x8(const uint8_t *q, __m256 s) {
    /* 4 bytes = 8 nibbles; element 2j = low nibble of byte j */
    uint32_t u;
    __builtin_memcpy(&u, q, 4);
    __m256i idx = _mm256_srlv_epi32(_mm256_set1_epi32((int)u), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
    idx = _mm256_and_si256(idx, _mm256_set1_epi32(15));
    const __m256 mag = _mm256_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f);
    __m256 v = _mm256_permutevar8x32_ps(mag, idx);
    __m256i sign = _mm256_slli_epi32(_mm256_and_si256(idx, _mm256_set1_epi32(8)), 28);
    return _mm256_mul_ps(_mm256_xor_ps(v, _mm256_castsi256_ps(sign)), s);
}

static inline __m256 bf16x8(const ld_bf16 *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

static inline v16 decode16(const ld_weight *w, int n, int k) {
    v16 r;
    switch (w->fmt) {
    case LD_WF_F32: {
        const float *p = (const float *)w->data + (long)n * w->k + k;
        r.lo = _mm256_loadu_ps(p);
        r.hi = _mm256_loadu_ps(p + 8);
        break;
    }
    case LD_WF_BF16: {
        const ld_bf16 *p = (const ld_bf16 *)w->data + (long)n * w->k + k;
        r.lo = bf16x8(p);
        r.hi = bf16x8(p + 8);
        break;
    }
    case LD_WF_FP8:
    case LD_WF_FP8_DQ: {
        __m256 s = _mm256_set1_ps(cpu_e8m0[w->scale[(long)(n / 128) * w->scale_cols + k / 128]] * 256.0f);
        const uint8_t *q = (const uint8_t *)w->data + (long)n * w->k + k;
        r.lo = fp8x8(q, s);
        r.hi = fp8x8(q + 8, s);
        break;
    }
    default: {
        __m256 s = _mm256_set1_ps(cpu_e8m0[w->scale[(long)n * w->scale_cols + k / 32]]);
        const uint8_t *q = (const uint8_t *)w->data + (long)n * (w->k / 2) + k / 2;
        r.lo = fp4x8(q, s);
        r.hi = fp4x8(q + 4, s);
        break;
    }
    }
    return r;
}

static inline __attribute__((always_inline)) void tile_fixed(const float *x, long ldx, const ld_weight *w, int n0,
                                                             float *y, long ldy, const int MR, const int NR) {
    v16 acc[CPU_MR][CPU_NR];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) acc[r][j].lo = acc[r][j].hi = _mm256_setzero_ps();
    for (int k = 0; k < w->k; k += 16) {
        v16 wv[CPU_NR];
        for (int j = 0; j < NR; j++) wv[j] = decode16(w, n0 + j, k);
        for (int r = 0; r < MR; r++) {
            __m256 xl = _mm256_loadu_ps(x + r * ldx + k), xh = _mm256_loadu_ps(x + r * ldx + k + 8);
            for (int j = 0; j < NR; j++) {
                acc[r][j].lo = _mm256_fmadd_ps(xl, wv[j].lo, acc[r][j].lo);
                acc[r][j].hi = _mm256_fmadd_ps(xh, wv[j].hi, acc[r][j].hi);
            }
        }
    }
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) {
            float v[16];
            _mm256_storeu_ps(v, acc[r][j].lo);
            _mm256_storeu_ps(v + 8, acc[r][j].hi);
            y[r * ldy + j] = cpu_reduce16(v);
        }
}

static void tile(const float *x, long ldx, int mr, const ld_weight *w, int n0, int nr, float *y, long ldy) {
    if (mr == 4 && nr == 4) tile_fixed(x, ldx, w, n0, y, ldy, 4, 4);
    else if (mr == 1 && nr == 4) tile_fixed(x, ldx, w, n0, y, ldy, 1, 4);
    else
        for (int r = 0; r < mr; r++)
            for (int j = 0; j < nr; j++) tile_fixed(x + r * ldx, ldx, w, n0 + j, y + r * ldy + j, ldy, 1, 1);
}

const cpu_kernels cpu_kernels_avx2 = {"avx2", {tile, tile, tile, tile, tile}};
