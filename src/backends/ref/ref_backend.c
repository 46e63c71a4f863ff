/* The ref backend table: plain scalar C, the project's numerical ground
 * truth. Clarity over speed; every rounding point is explicit. The slots
 * adapt the ld_ref_* functions (pure host functions other backends and tests
 * reuse) to the instance interface; the composites are in ref_composite.c. */
#include "backends/ref/ref.h"
#include "backends/wformat.h"
#include "core/error.h"

static int linear(ld_backend *be, const ld_weight *w, const ld_bf16 *x, int m, ld_bf16 *y) {
    (void)be;
    ld_ref_linear(w, x, m, y);
    return 0;
}

static int linear_f32(ld_backend *be, const ld_weight *w, const float *x, int m, float *y) {
    (void)be;
    if (w->fmt != LD_WF_F32 && w->fmt != LD_WF_BF16 && w->fmt != LD_WF_FP8_DQ)
        return ld_set_error("linear_f32 takes f32, bf16 or fp8dq weights, not %s", ld_wformat_of(w->fmt)->name);
    ld_ref_linear_f32(w, x, m, y);
    return 0;
}

static int rmsnorm(ld_backend *be, const ld_bf16 *x, const ld_bf16 *w, int m, int n, float eps, ld_bf16 *y) {
    (void)be;
    ld_ref_rmsnorm(x, w, m, n, eps, y);
    return 0;
}

static int head_rmsnorm(ld_backend *be, ld_bf16 *q, int n_heads, int head_dim, float eps) {
    (void)be;
    ld_ref_head_rmsnorm(q, n_heads, head_dim, eps);
    return 0;
}

int ld_ref_rope_rows(ld_backend *be, ld_bf16 *x, int rows, long row_stride, int n_vec, int vec_stride, const float *cs,
                     int n_pairs, int inverse) {
    (void)be;
    for (int r = 0; r < rows; r++) {
        const float *c = cs + (long)r * 2 * n_pairs;
        ld_ref_rope(x + r * row_stride, n_vec, vec_stride, c, c + n_pairs, n_pairs, inverse);
    }
    return 0;
}

int ld_ref_hadamard_op(ld_backend *be, ld_bf16 *x, int m, int n) {
    (void)be;
    ld_ref_hadamard(x, m, n);
    return 0;
}

static int hc_pre(ld_backend *be, const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m, int d,
                  int hc, int iters, float norm_eps, float hc_eps, ld_bf16 *y, float *post, float *comb) {
    (void)be;
    ld_ref_hc_pre(h, fn, scale, base, m, d, hc, iters, norm_eps, hc_eps, y, post, comb);
    return 0;
}

static int hc_post(ld_backend *be, const ld_bf16 *x, const ld_bf16 *res, const float *post, const float *comb, int m,
                   int d, int hc, ld_bf16 *out) {
    (void)be;
    ld_ref_hc_post(x, res, post, comb, m, d, hc, out);
    return 0;
}

static int hc_head(ld_backend *be, const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m,
                   int d, int hc, float norm_eps, float hc_eps, ld_bf16 *y) {
    (void)be;
    ld_ref_hc_head(h, fn, scale, base, m, d, hc, norm_eps, hc_eps, y);
    return 0;
}

static int sparse_attn(ld_backend *be, const ld_bf16 *q, int h, int d, const ld_bf16 *const *kv, int n,
                       const float *sink, float scale, ld_bf16 *out) {
    (void)be;
    ld_ref_sparse_attn(q, h, d, kv, n, sink, scale, out);
    return 0;
}

int ld_ref_compress_pool_op(ld_backend *be, const float *kv, const float *score, int rows, int d, int ld, float *out) {
    (void)be;
    ld_ref_compress_pool(kv, score, rows, d, ld, out);
    return 0;
}

static int indexer_scores(ld_backend *be, const ld_bf16 *q, const ld_bf16 *w, int h, int d, const ld_bf16 *keys, int n,
                          float *out) {
    (void)be;
    ld_ref_indexer_scores(q, w, h, d, keys, n, out);
    return 0;
}

int ld_ref_topk_op(ld_backend *be, const float *s, int n, int k, int *idx) {
    (void)be;
    ld_ref_topk(s, n, k, idx);
    return 0;
}

static int swiglu(ld_backend *be, const ld_bf16 *g, const ld_bf16 *u, int n, float limit, float weight, ld_bf16 *out) {
    (void)be;
    ld_ref_swiglu(g, u, n, limit, weight, out);
    return 0;
}

const ld_backend_ops ld_backend_ref_ops = {
    .name = "ref",
    .description = "scalar reference: canonical exact arithmetic, bit-identical to the oracle data",
    .mem = LD_MEM_HOST,
    .linear = linear,
    .linear_f32 = linear_f32,
    .rmsnorm = rmsnorm,
    .head_rmsnorm = head_rmsnorm,
    .rope = ld_ref_rope_rows,
    .hadamard = ld_ref_hadamard_op,
    .hc_pre = hc_pre,
    .hc_post = hc_post,
    .hc_head = hc_head,
    .sparse_attn = sparse_attn,
    .compress_pool = ld_ref_compress_pool_op,
    .indexer_scores = indexer_scores,
    .topk = ld_ref_topk_op,
    .swiglu = swiglu,
    .embed = ld_host_embed,
    .copy_rows = ld_host_copy_rows,
    .widen = ld_host_widen,
    .scale_bf16 = ld_host_scale_bf16,
    .quant_sim = ld_host_quant_sim,
    .attend = ld_host_attend,
    .compress = ld_host_compress,
    .indexer_select = ld_host_indexer_select,
    .moe_route = ld_host_moe_route,
    .moe_experts = ld_host_moe_experts,
};
