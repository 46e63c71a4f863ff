/* cpu backend internals.
 *
 * Canonical cpu numerics (the same bits on every ISA path, so AVX-512, AVX2
 * and the scalar fallback are interchangeable and testable against each
 * other): a dot product over k runs in 16 lanes, lane = k mod 16; each lane
 * accumulates fma(x, w, acc) in ascending k; the 16 lanes are then summed by
 * the fixed tree (i + i+8), (i + i+4), (i + i+2), (0 + 1). Weights are
 * dequantized exactly (fp8/fp4 value times its power-of-two scale) before
 * the fma; FP8/FP4 linears quantize activations with the reference rule and
 * use their exact dequantized values. Every output element is computed by
 * one thread with this fixed order, whatever M, the batch or the thread
 * count: results are deterministic.
 *
 * Micro-kernel contract (one per ISA and weight format): computes an
 * mr x nr tile y[r*ldy + j] = dot(x[r*ldx ...], W row n0+j) for r < mr <= 4,
 * j < nr <= 4, k = w->k, k % 16 == 0. x is fp32. */
#ifndef LADDER_BACKENDS_CPU_H
#define LADDER_BACKENDS_CPU_H

#include "backends/backend.h"

#define CPU_MR 4
#define CPU_NR 4

typedef void (*cpu_tile_fn)(const float *x, long ldx, int mr, const ld_weight *w, int n0, int nr, float *y, long ldy);

typedef struct {
    const char *name;
    cpu_tile_fn tile[5]; /* indexed by ld_wfmt */
} cpu_kernels;

extern const cpu_kernels cpu_kernels_scalar;
extern const cpu_kernels cpu_kernels_avx2;
extern const cpu_kernels cpu_kernels_avx512;

/* e8m0 byte -> float, exact (255 -> NaN) */
extern float cpu_e8m0[256];
void cpu_tables_init(void);

/* The fixed 16-lane reduction tree, shared by all paths. */
static inline float cpu_reduce16(const float *v) {
    float a[8], b[4], c[2];
    for (int i = 0; i < 8; i++) a[i] = v[i] + v[i + 8];
    for (int i = 0; i < 4; i++) b[i] = a[i] + a[i + 4];
    for (int i = 0; i < 2; i++) c[i] = b[i] + b[i + 2];
    return c[0] + c[1];
}

/* Currently selected kernels and thread count (cpu_backend.c). */
const cpu_kernels *cpu_active(void);
struct ld_threadpool *cpu_pool(void);

#endif
