/* Sublayers of a V4 block, shared by the forward pass (internal header). */
#ifndef LADDER_MODEL_LAYERS_H
#define LADDER_MODEL_LAYERS_H

#include "core/scratch.h"
#include "model/session.h"

/* One sequence's share of a forward call: tokens at positions P..P+S-1,
 * stored in rows row0..row0+S-1 of the call's activations. */
typedef struct {
    ld_session *s;
    long P;
    int S;
    int row0;
    int first_call; /* the reference sizes prefill window lists min(S, window) */
} ld_seg;

/* One forward call's view of a layer: several sequences' tokens stacked as
 * rows, so every weight is read once for all of them; per-sequence work
 * (caches, attention) loops over the segments. */
typedef struct {
    const ld_model *m;
    int layer;
    int rows;
    int n_seg;
    const ld_seg *seg;
    ld_scratch *sc;
} ld_call;

/* Compressor projections of all the call's rows (x: [rows, dim] fp32):
 * kv and score [rows, c*d], allocated from the call's scratch. */
int ld_compressor_project(const ld_call *c, const ld_compressor_w *w, const float *x, float **kv, float **sc);
/* Runs the compressor state machine over one segment's rows of kv/score
 * (modified: the positional bias is added in place), appending every
 * completed block's entry to cc. rotate selects the indexer flavour
 * (Hadamard + FP4 simulation) over the main one (FP8 simulation). */
int ld_compressor_run(const ld_call *c, const ld_seg *g, const ld_compressor_w *w, ld_comp_cache *cc, float *kv,
                      float *sc, int rotate);

/* Linears through the backend, with optional traffic accounting. */
void ld_linear(const ld_call *c, const ld_weight *w, const ld_bf16 *x, int rows, ld_bf16 *y);
void ld_linear_f32(const ld_call *c, const ld_weight *w, const float *x, int rows, float *y);

/* Attention sublayer: x [rows, dim] bf16 (after attn_norm) -> out [rows, dim] bf16. */
int ld_attention(const ld_call *c, const ld_bf16 *x, ld_bf16 *out);

/* MoE sublayer: x [rows, dim] bf16 (after ffn_norm) -> out [rows, dim] bf16; ids per row. */
int ld_moe(const ld_call *c, const ld_moe_w *w, int hash, const int *ids, const ld_bf16 *x, ld_bf16 *out);

int ld_call_dumping(const ld_call *c);
void ld_call_dump(const ld_call *c, const char *name, ld_dump_kind kind, const void *data, int rows, int cols);

#endif
