/* Sublayers of a V4 block, shared by the forward pass (internal header). */
#ifndef LADDER_MODEL_LAYERS_H
#define LADDER_MODEL_LAYERS_H

#include "core/scratch.h"
#include "model/session.h"

#define LD_MAX_RATIOS 8

/* One sequence's share of a forward call: tokens at positions P..P+S-1,
 * stored in rows row0..row0+S-1 of the call's activations. */
typedef struct {
    ld_session *s;
    long P;
    int S;
    int row0;
    int first_call; /* the reference sizes prefill window lists min(S, window) */
    /* cos | sin of the first position of each block the call completes,
     * per compression ratio of the call (ld_call.ratios), device memory */
    const float *cs_emit[LD_MAX_RATIOS];
} ld_seg;

/* One forward call's view of a layer: several sequences' tokens stacked as
 * rows, so every weight is read once for all of them; per-sequence work
 * (caches, attention) loops over the segments. Every pointer is in the
 * backend's memory. */
typedef struct {
    const ld_model *m;
    ld_backend *be;
    int layer;
    int rows;
    int n_seg;
    const ld_seg *seg;
    ld_scratch *ar;
    const int *ids;       /* [rows] token ids */
    const float *cs[2];   /* [rows, rope_dim] cos | sin per row: plain, YaRN */
    int *sel;             /* [rows, index_topk] indexer selection, when the model has an indexer */
    int ratios[LD_MAX_RATIOS], n_ratios;
} ld_call;

void *ld_call_alloc(const ld_call *c, size_t bytes);
/* Index of ratio r in c->ratios. */
int ld_call_ratio_slot(const ld_call *c, int r);

/* Linears through the backend, with optional traffic accounting. */
int ld_linear(const ld_call *c, const ld_weight *w, const ld_bf16 *x, int rows, ld_bf16 *y);
int ld_linear_f32(const ld_call *c, const ld_weight *w, const float *x, int rows, float *y);

/* Attention sublayer: x [rows, dim] bf16 (after attn_norm) -> out [rows, dim] bf16. */
int ld_attention(const ld_call *c, const ld_bf16 *x, ld_bf16 *out);

/* MoE sublayer: x [rows, dim] bf16 (after ffn_norm) -> out [rows, dim] bf16. */
int ld_moe(const ld_call *c, const ld_moe_w *w, int hash, const ld_bf16 *x, ld_bf16 *out);

int ld_call_dumping(const ld_call *c);
/* A copy to the host for the debug observers: kept out of the call's
 * transfer figures, which count only what a forward call itself moves. */
int ld_call_fetch(const ld_call *c, void *dst, const void *src, size_t bytes);
/* data in backend memory, rows of the whole call */
void ld_call_dump(const ld_call *c, const char *name, ld_dump_kind kind, const void *data, int rows, int cols);

#endif
