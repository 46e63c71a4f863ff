/* Number formats of DeepSeek-V4 checkpoints and activations, bit-exact.
 *
 * bf16: storage of activations; conversion is round-to-nearest-even.
 * fp8 e4m3fn: weights and simulated activations; bias 7, no infinities,
 *   0x7F/0xFF are NaN, max finite 448, subnormals down to 2^-9.
 * e8m0: power-of-two scales, byte b means 2^(b-127); 255 is NaN.
 * fp4 e2m1: routed-expert weights, two per byte, element 2k in the LOW nibble.
 *
 * The activation quantizers reproduce the reference kernels: amax is
 * floored, multiplied by the fp32 constant 1/max (not divided), and the scale
 * is the next power of two computed from the fp32 bit pattern. */
#ifndef LADDER_CORE_NUMERICS_H
#define LADDER_CORE_NUMERICS_H

#include <stdint.h>
#include <string.h>

typedef uint16_t ld_bf16;

static inline float ld_bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t ld_f32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static inline float ld_bf16_to_f32(ld_bf16 h) { return ld_bits_to_f32((uint32_t)h << 16); }

static inline ld_bf16 ld_f32_to_bf16(float f) {
    uint32_t u = ld_f32_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (ld_bf16)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (ld_bf16)(u >> 16);
}

/* Rounds an fp32 value to the nearest bf16 value, returned as fp32. */
static inline float ld_round_bf16(float f) { return ld_bf16_to_f32(ld_f32_to_bf16(f)); }

extern const float ld_fp8_e4m3_table[256];
extern const float ld_fp4_e2m1_table[16];

static inline float ld_fp8_to_f32(uint8_t b) { return ld_fp8_e4m3_table[b]; }
static inline float ld_fp4_to_f32(uint8_t nib) { return ld_fp4_e2m1_table[nib & 15]; }
float ld_e8m0_to_f32(uint8_t b);

/* Round-to-nearest-even with saturation to +-448; NaN maps to 0x7F. */
uint8_t ld_f32_to_fp8(float x);
/* Round-to-nearest-even (ties to the even code) with saturation to +-6. */
uint8_t ld_f32_to_fp4(float x);

/* 2^ceil(log2(v)) from the bit pattern of v, as the reference kernels do. */
float ld_pow2_ceil_scale(float v);

/* Scale of one activation block: amax floored, times fp32(1/qmax), rounded up
 * to a power of two. */
float ld_fp8_block_scale(float amax);
float ld_fp4_block_scale(float amax);

/* Quantizes n values (one block) to fp8 codes with the block scale rule;
 * returns the scale. */
float ld_quant_fp8_block(const float *x, int n, uint8_t *codes);

/* In-place FP8 simulation (x <- bf16(fp8(x/s)*s)) over rows of bf16, in
 * blocks of `block` along the row; `n` values per row, n % block == 0. */
void ld_fp8_sim_bf16(ld_bf16 *x, int n, int block);
/* In-place FP4 simulation (blocks of `block`), indexer queries and keys. */
void ld_fp4_sim_bf16(ld_bf16 *x, int n, int block);

/* float32 math evaluated in double and rounded once: the canonical libm
 * choice the oracle data fixes. */
float ld_expf(float x);
float ld_sigmoidf(float x);
float ld_siluf(float x);
float ld_softplusf(float x);
float ld_rsqrtf(float x);

#endif
