/* The ref backend's slots, shared between its files. */
#ifndef LADDER_BACKENDS_REF_H
#define LADDER_BACKENDS_REF_H

#include "backends/backend.h"

void ld_ref_linear(const ld_weight *w, const ld_bf16 *x, int m, ld_bf16 *y);
void ld_ref_linear_f32(const ld_weight *w, const float *x, int m, float *y);
void ld_ref_rmsnorm(const ld_bf16 *x, const ld_bf16 *w, int m, int n, float eps, ld_bf16 *y);
void ld_ref_head_rmsnorm(ld_bf16 *q, int n_heads, int head_dim, float eps);
void ld_ref_rope(ld_bf16 *x, int n_vec, int stride, const float *cos, const float *sin, int n_pairs, int inverse);
void ld_ref_hadamard(ld_bf16 *x, int m, int n);
void ld_ref_hc_pre(const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m, int d, int hc,
                   int iters, float norm_eps, float hc_eps, ld_bf16 *y, float *post, float *comb);
/* Pieces of the hyper-connection ops for backends that compute the mixes
 * themselves: rsqrt(mean(x^2)+eps) of a row, and everything after the mixes
 * (sigmoids, Sinkhorn, the stream reduction) for one row. */
float ld_ref_inv_rms(const ld_bf16 *x, int n, float eps);
void ld_ref_hc_pre_finish(const ld_bf16 *hr, const float *mix, const float *scale, const float *base, int d, int hc,
                          int iters, float hc_eps, ld_bf16 *y, float *post, float *comb);
void ld_ref_hc_head_finish(const ld_bf16 *hr, const float *mix, const float *scale, const float *base, int d, int hc,
                           float hc_eps, ld_bf16 *y);
void ld_ref_hc_post(const ld_bf16 *x, const ld_bf16 *res, const float *post, const float *comb, int m, int d, int hc,
                    ld_bf16 *out);
void ld_ref_hc_head(const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m, int d, int hc,
                    float norm_eps, float hc_eps, ld_bf16 *y);
void ld_ref_sparse_attn(const ld_bf16 *q, int h, int d, const ld_bf16 *const *kv, int n, const float *sink,
                        float scale, ld_bf16 *out);
void ld_ref_compress_pool(const float *kv, const float *score, int rows, int d, int ld, float *out);
void ld_ref_indexer_scores(const ld_bf16 *q, const ld_bf16 *w, int h, int d, const ld_bf16 *keys, int n, float *out);
void ld_ref_topk(const float *s, int n, int k, int *idx);
void ld_ref_swiglu(const ld_bf16 *g, const ld_bf16 *u, int n, float limit, float weight, ld_bf16 *out);


/* v2 slots other tables reuse. */
int ld_ref_rope_rows(ld_backend *be, ld_bf16 *x, int rows, long row_stride, int n_vec, int vec_stride, const float *cs,
                     int n_pairs, int inverse);
int ld_ref_topk_op(ld_backend *be, const float *s, int n, int k, int *idx);
int ld_ref_hadamard_op(ld_backend *be, ld_bf16 *x, int m, int n);
int ld_ref_compress_pool_op(ld_backend *be, const float *kv, const float *score, int rows, int d, int ld, float *out);

/* Host implementations of the data-movement ops and the composites, written
 * over the instance's own primitive slots (ref_composite.c, ref_moe.c): every
 * host backend inherits them with the ref table. */
int ld_host_embed(ld_backend *be, const ld_bf16 *table, const int *ids, int rows, int d, int copies, ld_bf16 *h);
int ld_host_copy_rows(ld_backend *be, void *dst, size_t dst_pitch, const void *src, size_t src_pitch, size_t bytes,
                      int rows);
int ld_host_widen(ld_backend *be, const ld_bf16 *x, long n, float *y);
int ld_host_scale_bf16(ld_backend *be, ld_bf16 *x, long n, float s);
int ld_host_quant_sim(ld_backend *be, ld_bf16 *x, int rows, long stride, int n, int block, int fp4);
int ld_host_attend(ld_backend *be, const ld_attend_args *a);
int ld_host_compress(ld_backend *be, const ld_compress_args *a);
int ld_host_indexer_select(ld_backend *be, const ld_select_args *a);
int ld_host_moe_route(ld_backend *be, const ld_route_args *a);
int ld_host_moe_experts(ld_backend *be, const ld_moe_args *a);

#endif
