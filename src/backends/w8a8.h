/* The w8a8 format path: its storage forms and canonical arithmetic, which
 * every backend computes bit for bit (ref in plain C, cpu with integer dot
 * products). It is the scheme INT8-only matrix units run DeepSeek with:
 * weights int8, activations int8 with one scale per token.
 *
 * Activations (every row of a linear's input, per token): amax = max |x|,
 * s = amax / 127 (fp32), q = rint(x / s) clamped to [-127, 127], ties to
 * even. amax 0 gives s = 0 and q = 0; a row holding Inf or NaN gives s = NaN
 * (so its outputs are NaN) and q = 0.
 *
 * LD_WF_I8 (from an FP8 linear): per output row n, s_w = amax_n / 127 of the
 * exact dequantized row, w = rint(value / s_w) clamped to [-127, 127]. The
 * output is y = (float)D * (s * s_w), D = sum of q*w in exact integers; the
 * two fp32 roundings (D to float, the products) are the only ones.
 *
 * LD_WF_FP4_I8 (from an FP4 expert): nothing of the weight is lost. Twice an
 * e2m1 value is an integer of magnitude at most 12, and a 32-group's E8M0
 * scale e stays a power of two, so group g gives the exact integer
 * D_g = sum of q * 2*e2m1. The output is
 *     lane[g % 16] = fma((float)D_g, 2^(e_g - 127), lane[g % 16])  for g in order,
 *     y = tree16(lane) * (0.5 * s)
 * with the cpu backend's 16-lane tree ((i, i+8), (i, i+4), (i, i+2), (0, 1)).
 * D_g is below 2^16 and the scale a power of two, so each fma adds an exact
 * product: the lane additions and the last products round, nothing else.
 * Scale bytes 0 and 255 would leave the normal range (2^-127) or be NaN;
 * conversion refuses them unless the group is all zeros (then 1: the same
 * zero products), so kernels can make 2^(e - 127) as the float bits e << 23.
 *
 * FP4_I8 storage: each row is cut into superblocks of 512 elements (16
 * groups; the last may hold G < 16). Superblock t is 4 chunks of 4G bytes;
 * byte 4i + b of chunk c is byte 4c + b of group 16t + i as the checkpoint
 * packs it (elements 2p in the low nibble, 2p + 1 in the high one). So one
 * 64-byte load carries four bytes of each of the 16 groups in its 32-bit
 * lanes, and the group sums build up in integer lanes with no shuffle. */
#ifndef LADDER_BACKENDS_W8A8_H
#define LADDER_BACKENDS_W8A8_H

#include <stdint.h>

#include "backends/backend.h"

#define LD_W8A8_QMAX 127
#define LD_FP4I8_SB 512 /* elements of a superblock */

/* Quantizes k values; returns the row's scale s (see above). */
float ld_w8a8_quant_row(const float *x, long k, int8_t *q);

/* Byte of element e in an FP4_I8 row of k elements; *hi: its nibble. */
static inline long ld_fp4i8_byte(long k, long e, int *hi) {
    long g = e / 32, t = g / 16, p = (e % 32) / 2;
    long groups = k / 32 - 16 * t, G = groups < 16 ? groups : 16;
    *hi = (int)(e & 1);
    return 256 * t + (p / 4) * 4 * G + 4 * (g % 16) + p % 4;
}

/* 2 * e2m1 value of nibble v: an integer in [-12, 12] */
static inline int ld_fp4_twice(uint8_t v) {
    static const int8_t T[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    return T[v & 15];
}

/* 2^(e - 127) for a scale byte conversion allows (1..254) */
float ld_fp4i8_scale(uint8_t e);

/* The fixed 16-lane sum: (i, i+8), (i, i+4), (i, i+2), (0, 1). The cpu
 * backend's canonical reduction (cpu_reduce16) is this same tree. */
static inline float ld_w8a8_tree16(const float *v) {
    float a[8], b[4], c[2];
    for (int i = 0; i < 8; i++) a[i] = v[i] + v[i + 8];
    for (int i = 0; i < 4; i++) b[i] = a[i] + a[i + 4];
    for (int i = 0; i < 2; i++) c[i] = b[i] + b[i + 2];
    return c[0] + c[1];
}

/* The rules above on one activation row q against one weight row, in
 * plain C (ref, and the cpu backend's portable kernels): I8's exact D, and
 * FP4_I8's tree16(lane) before the factor 0.5 * s. */
int32_t ld_w8a8_dot_i8(const int8_t *q, const int8_t *w, long k);
float ld_w8a8_dot_fp4(const int8_t *q, const uint8_t *w, const uint8_t *scales, long k);

/* FP8 weight [n, k] -> int8 data q [n, k] and fp32 row scales [n]. */
int ld_weight_to_i8(const ld_weight *w, int8_t *q, float *scales);
/* FP4 weight -> FP4_I8 data [n, k/2] and scales [n, k/32]; fails on a
 * scale byte the path cannot take (above), naming the element. */
int ld_weight_to_fp4i8(const ld_weight *w, uint8_t *data, uint8_t *scales);

#endif
