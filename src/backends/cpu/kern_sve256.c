/* SVE micro-kernels for 256-bit vectors (Neoverse V1 / Graviton3 class;
 * cpu_isa.c runs them only where the vector length is 256): the 16
 * canonical lanes as two 8-lane registers, the slot layout of cpu.h, so the
 * bits equal every other path. SVE's extending loads widen weight bytes
 * straight into 32-bit lanes, which makes the FP8 and FP4 decodes shorter
 * than on NEON. Built with -msve-vector-bits=256, so the vector types have
 * a fixed size and fit the template's arrays. */
#include <arm_sve.h>

#include "backends/cpu/cpu.h"

typedef svfloat32_t vf __attribute__((arm_sve_vector_bits(256)));
typedef svuint32_t vu __attribute__((arm_sve_vector_bits(256)));
typedef svbool_t vb __attribute__((arm_sve_vector_bits(256)));

typedef struct {
    vf lo, hi;
} v16;

#define SVE_AI static inline __attribute__((always_inline))
#define PT svptrue_b32()

SVE_AI v16 V_ZERO(void) { return (v16){svdup_f32(0.0f), svdup_f32(0.0f)}; }
SVE_AI v16 V_SET1(float f) { return (v16){svdup_f32(f), svdup_f32(f)}; }
SVE_AI v16 V_LOAD(const float *p) { return (v16){svld1_f32(PT, p), svld1_f32(PT, p + 8)}; }
SVE_AI v16 V_MUL(v16 a, v16 b) { return (v16){svmul_f32_x(PT, a.lo, b.lo), svmul_f32_x(PT, a.hi, b.hi)}; }
/* acc + a*b, one rounding (FMLA) */
SVE_AI v16 V_FMA(v16 a, v16 b, v16 c) { return (v16){svmla_f32_x(PT, c.lo, a.lo, b.lo), svmla_f32_x(PT, c.hi, a.hi, b.hi)}; }
SVE_AI void V_STORE(float *p, v16 v) {
    svst1_f32(PT, p, v.lo);
    svst1_f32(PT, p + 8, v.hi);
}

/* cpu_reduce16: (i, i+8) is lo+hi; the rest of the tree on 8 lanes, through
 * memory (a tile's sums, not its inner loop) */
SVE_AI float sve_reduce(v16 v) {
    float a[8];
    svst1_f32(PT, a, svadd_f32_x(PT, v.lo, v.hi));
    float b0 = a[0] + a[4], b1 = a[1] + a[5], b2 = a[2] + a[6], b3 = a[3] + a[7];
    return (b0 + b2) + (b1 + b3);
}
#define V_REDUCE_4(v, y)                                                                          \
    do {                                                                                          \
        for (int q_ = 0; q_ < 4; q_++) (y)[q_] = sve_reduce((v)[q_]);                             \
    } while (0)
#define V_REDUCE_16(v, y, ldy)                                                                    \
    do {                                                                                          \
        for (int q_ = 0; q_ < 16; q_++) (y)[(q_ / 4) * (ldy) + q_ % 4] = sve_reduce((v)[q_]);     \
    } while (0)

#define DECODER(name) SVE_AI void name(const uint8_t *p, const uint8_t *s, size_t k, v16 *v)

DECODER(dec_f32) {
    (void)s, (void)k;
    v[0] = V_LOAD((const float *)p);
    v[1] = V_LOAD((const float *)p + 16);
}

DECODER(dec_bf16) {
    (void)s, (void)k;
    const uint32_t *u = (const uint32_t *)p;
    vu a = svld1_u32(PT, u), b = svld1_u32(PT, u + 8);
    v[0] = (v16){svreinterpret_f32_u32(svlsl_n_u32_x(PT, a, 16)), svreinterpret_f32_u32(svlsl_n_u32_x(PT, b, 16))};
    v[1] = (v16){svreinterpret_f32_u32(svand_n_u32_x(PT, a, 0xffff0000u)),
                 svreinterpret_f32_u32(svand_n_u32_x(PT, b, 0xffff0000u))};
}

/* 8 e4m3 bytes into the low halves of 32-bit lanes (sign-extended), moved
 * to fp16 position as value * 2^-8 (see kern_avx512.c) and widened: FCVT
 * reads the fp16 in the low half of each 32-bit container. */
SVE_AI vf fp8x8(const uint8_t *q) {
    svint32_t b = svld1sb_s32(PT, (const int8_t *)q);
    svint32_t h = svand_n_s32_x(PT, svlsl_n_s32_x(PT, b, 7), 0xbfff);
    return svcvt_f32_f16_x(PT, svreinterpret_f16_s32(h));
}

DECODER(dec_fp8) {
    (void)s, (void)k;
    v[0] = (v16){fp8x8(p), fp8x8(p + 8)};
    v[1] = (v16){fp8x8(p + 16), fp8x8(p + 24)};
}

/* 8 fp4 nibbles (one per lane) from the group's pre-scaled magnitudes (the
 * first 8 entries of cpu_fp4_tab's row) plus the sign bit. */
SVE_AI vf fp4x8(vu idx, vf mag) {
    vf m = svtbl_f32(mag, svand_n_u32_x(PT, idx, 7));
    vu sign = svlsl_n_u32_x(PT, svand_n_u32_x(PT, idx, 8), 28);
    return svreinterpret_f32_u32(sveor_u32_x(PT, svreinterpret_u32_f32(m), sign));
}

DECODER(dec_fp4) {
    vf mag = svld1_f32(PT, cpu_fp4_tab[s[k / 32]]);
    vu dl = svld1ub_u32(PT, p), dh = svld1ub_u32(PT, p + 8);
    v[0] = (v16){fp4x8(dl, mag), fp4x8(dh, mag)};
    v[1] = (v16){fp4x8(svlsr_n_u32_x(PT, dl, 4), mag), fp4x8(svlsr_n_u32_x(PT, dh, 4), mag)};
}

#define KERNELS_VAR cpu_kernels_sve256
#define KERNELS_NAME "sve256"
#include "backends/cpu/tile_template.h"
