/* Codecs and quantizers; see numerics.h for the format definitions. */
#include "core/numerics.h"

#include <math.h>

const float ld_fp4_e2m1_table[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                     -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

/* A static table (no lazy init) keeps lookups branch-free and thread-safe. */
const float ld_fp8_e4m3_table[256] = {
#define V(b) (((b) & 0x7f) == 0x7f ? NAN : (((b) >> 7) ? -1.0f : 1.0f) * \
    ((((b) >> 3) & 15) == 0 ? (float)((b) & 7) * 0.001953125f \
     : (1.0f + (float)((b) & 7) / 8.0f) * (float)(1u << ((((b) >> 3) & 15))) / 128.0f))
#define V4(b) V(b), V(b + 1), V(b + 2), V(b + 3)
#define V16(b) V4(b), V4(b + 4), V4(b + 8), V4(b + 12)
#define V64(b) V16(b), V16(b + 16), V16(b + 32), V16(b + 48)
    V64(0), V64(64), V64(128), V64(192)
#undef V
#undef V4
#undef V16
#undef V64
};

float ld_e8m0_to_f32(uint8_t b) {
    if (b == 255) return NAN;
    return ldexpf(1.0f, (int)b - 127);
}

uint8_t ld_f32_to_fp8(float x) {
    if (isnan(x)) return 0x7f;
    uint8_t sign = signbit(x) ? 0x80 : 0;
    float a = fabsf(x);
    if (a >= 448.0f) return sign | 0x7e;
    if (a < 0.015625f) { /* subnormal range: multiples of 2^-9 */
        float q = rintf(a * 512.0f);
        return sign | (uint8_t)q; /* q == 8 is exactly the smallest normal code */
    }
    int e;
    frexpf(a, &e); /* a = f * 2^e, f in [0.5,1) -> unbiased exponent e-1 */
    float q = rintf(ldexpf(a, 3 - (e - 1))); /* in [8,16] */
    int ex = e - 1 + 7, m = (int)q - 8;
    if (m == 8) { ex++; m = 0; }
    if (ex > 15 || (ex == 15 && m == 7)) return sign | 0x7e;
    return sign | (uint8_t)((ex << 3) | m);
}

uint8_t ld_f32_to_fp4(float x) {
    uint8_t sign = signbit(x) ? 8 : 0;
    float a = fabsf(x);
    uint8_t c;
    if (isnan(x)) c = 7;
    else if (a <= 0.25f) c = 0;
    else if (a < 0.75f) c = 1;
    else if (a <= 1.25f) c = 2;
    else if (a < 1.75f) c = 3;
    else if (a <= 2.5f) c = 4;
    else if (a < 3.5f) c = 5;
    else if (a <= 5.0f) c = 6;
    else c = 7;
    return sign | c;
}

float ld_pow2_ceil_scale(float v) {
    uint32_t u = ld_f32_to_bits(v);
    int e = (int)((u >> 23) & 0xff) - 127 + ((u & 0x7fffff) != 0);
    return ldexpf(1.0f, e);
}

float ld_fp8_block_scale(float amax) {
    if (amax < 1e-4f) amax = 1e-4f;
    return ld_pow2_ceil_scale(amax * (float)(1.0 / 448.0));
}

float ld_fp4_block_scale(float amax) {
    const float floor_v = 6.0f * 0x1p-126f;
    if (amax < floor_v) amax = floor_v;
    return ld_pow2_ceil_scale(amax * (float)(1.0 / 6.0));
}

static float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

float ld_quant_fp8_block(const float *x, int n, uint8_t *codes) {
    float amax = 0;
    for (int i = 0; i < n; i++) amax = fmaxf(amax, fabsf(x[i]));
    float s = ld_fp8_block_scale(amax);
    for (int i = 0; i < n; i++) codes[i] = ld_f32_to_fp8(clampf(x[i] / s, -448.0f, 448.0f));
    return s;
}

void ld_fp8_sim_bf16(ld_bf16 *x, int n, int block) {
    for (int b = 0; b < n; b += block) {
        float amax = 0;
        for (int i = 0; i < block; i++) amax = fmaxf(amax, fabsf(ld_bf16_to_f32(x[b + i])));
        float s = ld_fp8_block_scale(amax);
        for (int i = 0; i < block; i++) {
            float v = clampf(ld_bf16_to_f32(x[b + i]) / s, -448.0f, 448.0f);
            x[b + i] = ld_f32_to_bf16(ld_fp8_to_f32(ld_f32_to_fp8(v)) * s);
        }
    }
}

void ld_fp4_sim_bf16(ld_bf16 *x, int n, int block) {
    for (int b = 0; b < n; b += block) {
        float amax = 0;
        for (int i = 0; i < block; i++) amax = fmaxf(amax, fabsf(ld_bf16_to_f32(x[b + i])));
        float s = ld_fp4_block_scale(amax);
        for (int i = 0; i < block; i++) {
            float v = clampf(ld_bf16_to_f32(x[b + i]) / s, -6.0f, 6.0f);
            x[b + i] = ld_f32_to_bf16(ld_fp4_to_f32(ld_f32_to_fp4(v)) * s);
        }
    }
}

float ld_expf(float x) { return (float)exp((double)x); }
float ld_sigmoidf(float x) { return (float)(1.0 / (1.0 + exp(-(double)x))); }
float ld_siluf(float x) { return (float)((double)x / (1.0 + exp(-(double)x))); }
float ld_softplusf(float x) { return x > 20.0f ? x : (float)log1p(exp((double)x)); }
float ld_rsqrtf(float x) { return (float)(1.0 / sqrt((double)x)); }
