/* The ref backend table: plain scalar C, the project's numerical ground
 * truth. Clarity over speed; every rounding point is explicit. */
#include "backends/ref/ref.h"

const ld_backend_ops ld_backend_ref_ops = {
    .name = "ref",
    .description = "scalar reference: canonical exact arithmetic, bit-identical to the oracle data",
    .probe = 0,
    .linear = ld_ref_linear,
    .linear_f32 = ld_ref_linear_f32,
    .rmsnorm = ld_ref_rmsnorm,
    .head_rmsnorm = ld_ref_head_rmsnorm,
    .rope = ld_ref_rope,
    .hadamard = ld_ref_hadamard,
    .hc_pre = ld_ref_hc_pre,
    .hc_post = ld_ref_hc_post,
    .hc_head = ld_ref_hc_head,
    .sparse_attn = ld_ref_sparse_attn,
    .compress_pool = ld_ref_compress_pool,
    .indexer_scores = ld_ref_indexer_scores,
    .topk = ld_ref_topk,
    .swiglu = ld_ref_swiglu,
};
