/* The operator interface: every piece of heavy math the model code does goes
 * through one of these slots, so a port to new hardware is a new table.
 *
 * Contract for implementers:
 * - `ref` (backends/ref) fills every slot and is the numerical ground truth:
 *   it follows the canonical arithmetic of the oracle manifests (every dot
 *   product and long sum exact, then rounded once to fp32; fp32 math
 *   functions evaluated in double and rounded once; bf16 rounding at the
 *   points the official code rounds).
 * - Another backend starts from a copy of the ref table (ld_backend_ref_ops)
 *   and overrides the slots it accelerates, so no slot is ever NULL.
 * - Shapes: row-major, contiguous unless a stride is given. bf16 values are
 *   stored as ld_bf16 (upper half of an fp32).
 * - Ops never allocate from the model's point of view beyond small scratch,
 *   never fail on valid shapes, and write only their outputs. */
#ifndef LADDER_BACKENDS_BACKEND_H
#define LADDER_BACKENDS_BACKEND_H

#include <stdint.h>

#include "core/numerics.h"

/* Weight formats as stored in official checkpoints. */
typedef enum {
    LD_WF_F32,    /* float [n, k] */
    LD_WF_BF16,   /* bf16 [n, k] */
    LD_WF_FP8,    /* e4m3 [n, k] + e8m0 scale [ceil(n/128), ceil(k/128)]; activations FP8-quantized 1x128 */
    LD_WF_FP8_DQ, /* same storage, used as its exact bf16 dequantization (wo_a): no activation quantization */
    LD_WF_FP4,    /* e2m1 packed [n, k/2] (element 2j = low nibble) + e8m0 scale [n, k/32] */
} ld_wfmt;

typedef struct {
    ld_wfmt fmt;
    int n, k;             /* logical shape [out, in] */
    const void *data;
    const uint8_t *scale; /* FP8 / FP4 only */
    int scale_cols;       /* row length of the scale matrix */
} ld_weight;

/* Returns rows [r0, r0+rows) of w as a weight of its own; r0 and rows must be
 * multiples of 128 for FP8 formats. */
ld_weight ld_weight_rows(const ld_weight *w, int r0, int rows);

typedef struct ld_backend_ops {
    const char *name;
    const char *description;
    /* (optional) 0 when the backend cannot run on this machine; NULL = always usable. */
    int (*probe)(void);

    /* y[m,n] = bf16(x[m,k] . W^T). FP8/FP4: x is first quantized per row in
     * 1x128 E8M0 blocks; per K block the exact partial sum, rounded to fp32,
     * is scaled and added to an fp32 accumulator in ascending block order
     * (FP4: 32-wide blocks, times act scale then weight scale). Others: the
     * exact dot product rounded to fp32. */
    void (*linear)(const ld_weight *w, const ld_bf16 *x, int m, ld_bf16 *y);
    /* y[m,n] = fp32(x[m,k] . W^T) for F32/BF16 weights and fp32 inputs
     * (compressor projections, router, lm head). */
    void (*linear_f32)(const ld_weight *w, const float *x, int m, float *y);

    /* y = bf16(w * (x * rsqrt(mean(x^2) + eps))), fp32 inside; m rows of n. */
    void (*rmsnorm)(const ld_bf16 *x, const ld_bf16 *w, int m, int n, float eps, ld_bf16 *y);
    /* Per-head unweighted RMS normalization of the queries, every step in bf16. */
    void (*head_rmsnorm)(ld_bf16 *q, int n_heads, int head_dim, float eps);
    /* Interleaved-pair rotation of n_vec vectors (stride apart) by the angles
     * whose cos/sin are given (n_pairs each); inverse rotates by -angle. */
    void (*rope)(ld_bf16 *x, int n_vec, int stride, const float *cos, const float *sin, int n_pairs, int inverse);
    /* In place: x <- bf16(fp32(H x) * n^-0.5) for m vectors of n (power of 2). */
    void (*hadamard)(ld_bf16 *x, int m, int n);

    /* Hyper-connections. h: [m, hc, d] bf16 streams. fn: [(2+hc)*hc, hc*d]
     * fp32, scale[3], base[(2+hc)*hc]. Outputs y [m, d] bf16, post [m, hc],
     * comb [m, hc, hc] (Sinkhorn-normalized, row = source stream). */
    void (*hc_pre)(const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m, int d, int hc,
                   int iters, float norm_eps, float hc_eps, ld_bf16 *y, float *post, float *comb);
    /* out[m, hc, d] = bf16(post[j]*x + sum_i comb[i][j]*res_i). */
    void (*hc_post)(const ld_bf16 *x, const ld_bf16 *res, const float *post, const float *comb, int m, int d, int hc,
                    ld_bf16 *out);
    /* Final stream reduction: fn [hc, hc*d], scale[1], base[hc]; y [m, d]. */
    void (*hc_head)(const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m, int d, int hc,
                    float norm_eps, float hc_eps, ld_bf16 *y);

    /* One query token, all heads: q [h, d]; kv[j] = row of entry j (d values,
     * key == value) or NULL for an empty (-1) slot; entries are processed in
     * order, in blocks of 64, with online softmax, bf16 probabilities for the
     * PV product and the sink added to the denominator at the end. */
    void (*sparse_attn)(const ld_bf16 *q, int h, int d, const ld_bf16 *const *kv, int n, const float *sink,
                        float scale, ld_bf16 *out);
    /* Compressor pooling: per channel c, softmax over rows r of score[r*ld+c],
     * then out[c] = fp32(sum_r kv[r*ld+c] * w). rows x d, leading dim ld. */
    void (*compress_pool)(const float *kv, const float *score, int rows, int d, int ld, float *out);
    /* Lightning-indexer scores of one query token against n keys:
     * out[i] = bf16(sum_h bf16(relu(bf16(q_h . k_i)) * w_h)), stored as fp32. */
    void (*indexer_scores)(const ld_bf16 *q, const ld_bf16 *w, int h, int d, const ld_bf16 *keys, int n, float *out);
    /* Indices of the k largest of s[0..n), descending, ties -> lower index. */
    void (*topk)(const float *s, int n, int k, int *idx);
    /* SwiGLU with clamp: a = silu(min(g, lim)) * clamp(u, -lim, lim) (lim <= 0:
     * no clamp); a *= weight; out = bf16(a). n values. */
    void (*swiglu)(const ld_bf16 *g, const ld_bf16 *u, int n, float limit, float weight, ld_bf16 *out);
} ld_backend_ops;

extern const ld_backend_ops ld_backend_ref_ops;

/* Registry (backends/registry.c). */
const ld_backend_ops *ld_backend_find(const char *name);
int ld_backend_count(void);
const ld_backend_ops *ld_backend_at(int i);

#endif
