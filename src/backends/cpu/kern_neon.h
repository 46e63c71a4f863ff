/* The AdvSIMD (NEON) pieces shared by the aarch64 paths: the 16 canonical
 * lanes as four 4-lane registers (q[0] = lanes 0-3 ... q[3] = lanes 12-15),
 * the weight decoders, and the fixed reduction tree. ARMv8.0-A only: fp16
 * widening (FCVTL) and TBL are baseline AdvSIMD, so every aarch64 core
 * with Linux runs it. */
#ifndef LADDER_BACKENDS_CPU_KERN_NEON_H
#define LADDER_BACKENDS_CPU_KERN_NEON_H

#include <arm_neon.h>

#include "backends/cpu/cpu.h"

typedef struct {
    float32x4_t q[4];
} v16;

#define NEON_AI static inline __attribute__((always_inline))

NEON_AI v16 V_ZERO(void) {
    float32x4_t z = vdupq_n_f32(0.0f);
    return (v16){{z, z, z, z}};
}
NEON_AI v16 V_SET1(float f) {
    float32x4_t z = vdupq_n_f32(f);
    return (v16){{z, z, z, z}};
}
NEON_AI v16 V_LOAD(const float *p) { return (v16){{vld1q_f32(p), vld1q_f32(p + 4), vld1q_f32(p + 8), vld1q_f32(p + 12)}}; }
NEON_AI v16 V_MUL(v16 a, v16 b) {
    return (v16){{vmulq_f32(a.q[0], b.q[0]), vmulq_f32(a.q[1], b.q[1]), vmulq_f32(a.q[2], b.q[2]),
                  vmulq_f32(a.q[3], b.q[3])}};
}
/* acc + a*b, one rounding (FMLA) */
NEON_AI v16 V_FMA(v16 a, v16 b, v16 c) {
    return (v16){{vfmaq_f32(c.q[0], a.q[0], b.q[0]), vfmaq_f32(c.q[1], a.q[1], b.q[1]),
                  vfmaq_f32(c.q[2], a.q[2], b.q[2]), vfmaq_f32(c.q[3], a.q[3], b.q[3])}};
}
NEON_AI void V_STORE(float *p, v16 v) {
    vst1q_f32(p, v.q[0]);
    vst1q_f32(p + 4, v.q[1]);
    vst1q_f32(p + 8, v.q[2]);
    vst1q_f32(p + 12, v.q[3]);
}
#define V_KEEP(v) __asm__("" : "+w"((v).q[0]), "+w"((v).q[1]), "+w"((v).q[2]), "+w"((v).q[3]))

/* cpu_reduce16 on registers: (i, i+8) is q0+q2 and q1+q3, (i, i+4) their
 * sum, (i, i+2) the two halves, (0, 1) the pairwise add. */
NEON_AI float neon_reduce(v16 v) {
    float32x4_t b = vaddq_f32(vaddq_f32(v.q[0], v.q[2]), vaddq_f32(v.q[1], v.q[3]));
    float32x2_t c = vadd_f32(vget_low_f32(b), vget_high_f32(b));
    return vget_lane_f32(vpadd_f32(c, c), 0);
}
#define V_REDUCE_4(v, y)                                                                          \
    do {                                                                                          \
        for (int q_ = 0; q_ < 4; q_++) (y)[q_] = neon_reduce((v)[q_]);                            \
    } while (0)
#define V_REDUCE_16(v, y, ldy)                                                                    \
    do {                                                                                          \
        for (int q_ = 0; q_ < 16; q_++) (y)[(q_ / 4) * (ldy) + q_ % 4] = neon_reduce((v)[q_]);    \
    } while (0)

/* p: the weight row's bytes for this group; s: the row's FP4 scales, k the
 * group's first element (FP4 only) */
#define DECODER(name) NEON_AI void name(const uint8_t *p, const uint8_t *s, size_t k, v16 *v)

DECODER(dec_f32) {
    (void)s, (void)k;
    v[0] = V_LOAD((const float *)p);
    v[1] = V_LOAD((const float *)p + 16);
}

/* slot 0 = the low (even) halves of the 32-bit pairs shifted up, slot 1 the
 * high (odd) halves with the low bits cleared */
DECODER(dec_bf16) {
    (void)s, (void)k;
    const uint32x4_t hi16 = vdupq_n_u32(0xffff0000u);
    for (int i = 0; i < 4; i++) {
        uint32x4_t b = vld1q_u32((const uint32_t *)p + 4 * i);
        v[0].q[i] = vreinterpretq_f32_u32(vshlq_n_u32(b, 16));
        v[1].q[i] = vreinterpretq_f32_u32(vandq_u32(b, hi16));
    }
}

/* 16 e4m3 bytes as fp16 bit patterns of value * 2^-8: SSHLL #7 sign-extends
 * each byte and puts its magnitude bits on the fp16 exponent/mantissa
 * (bits 13..7), the sign on bit 15 (and 14, cleared); exact, subnormals
 * included (see kern_avx512.c). */
NEON_AI void fp8_to_h(const uint8_t *p, float16x8_t *lo, float16x8_t *hi) {
    int8x16_t b = vld1q_s8((const int8_t *)p);
    const int16x8_t m = vdupq_n_s16((short)0xbfff);
    *lo = vreinterpretq_f16_s16(vandq_s16(vshll_n_s8(vget_low_s8(b), 7), m));
    *hi = vreinterpretq_f16_s16(vandq_s16(vshll_high_n_s8(b, 7), m));
}

DECODER(dec_fp8) {
    (void)s, (void)k;
    for (int g = 0; g < 2; g++) {
        float16x8_t lo, hi;
        fp8_to_h(p + 16 * g, &lo, &hi);
        v[g].q[0] = vcvt_f32_f16(vget_low_f16(lo));
        v[g].q[1] = vcvt_high_f32_f16(lo);
        v[g].q[2] = vcvt_f32_f16(vget_low_f16(hi));
        v[g].q[3] = vcvt_high_f32_f16(hi);
    }
}

/* FP4: a 32-group shares one scale, and every e2m1 value times a power of
 * two has at most two significant bits, so the pre-scaled decode table is
 * exact in bf16: two 16-byte TBL tables (the low and high bytes of those
 * bf16s, cpu_fp4_bf16) turn nibbles into bf16s, widened by a shift. Lane i
 * = byte i: its low nibble is element 2i (slot 0), its high one 2i+1. */
NEON_AI void fp4_nibbles(uint8x16_t n, uint8x16_t tl, uint8x16_t th, v16 *v) {
    uint8x16_t l = vqtbl1q_u8(tl, n), h = vqtbl1q_u8(th, n);
    uint16x8_t a = vreinterpretq_u16_u8(vzip1q_u8(l, h)), b = vreinterpretq_u16_u8(vzip2q_u8(l, h));
    v->q[0] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(a), 16));
    v->q[1] = vreinterpretq_f32_u32(vshll_high_n_u16(a, 16));
    v->q[2] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(b), 16));
    v->q[3] = vreinterpretq_f32_u32(vshll_high_n_u16(b, 16));
}

DECODER(dec_fp4) {
    const uint8_t *t = cpu_fp4_bf16[s[k / 32]];
    uint8x16_t tl = vld1q_u8(t), th = vld1q_u8(t + 16), d = vld1q_u8(p);
    fp4_nibbles(vandq_u8(d, vdupq_n_u8(15)), tl, th, &v[0]);
    fp4_nibbles(vshrq_n_u8(d, 4), tl, th, &v[1]);
}

#endif
