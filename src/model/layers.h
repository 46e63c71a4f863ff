/* Sublayers of a V4 block, shared by the forward pass (internal header). */
#ifndef LADDER_MODEL_LAYERS_H
#define LADDER_MODEL_LAYERS_H

#include "core/scratch.h"
#include "model/session.h"

/* One forward call's view of a layer. */
typedef struct {
    ld_session *s;
    int layer;
    long P;         /* position of the first token of the call */
    int S;          /* tokens in the call */
    int first_call; /* the reference sizes prefill window lists min(S, window) */
    ld_scratch *sc;
} ld_call;

/* Runs the compressor over the call's tokens (x: [S, dim] fp32), appending
 * every completed block's entry to cc. rotate selects the indexer flavour
 * (Hadamard + FP4 simulation) over the main one (FP8 simulation). */
int ld_compressor_run(const ld_call *c, const ld_compressor_w *w, ld_comp_cache *cc, const float *x, int rotate);

/* Attention sublayer: x [S, dim] bf16 (after attn_norm) -> out [S, dim] bf16. */
int ld_attention(const ld_call *c, const ld_bf16 *x, ld_bf16 *out);

/* MoE sublayer: x [S, dim] bf16 (after ffn_norm) -> out [S, dim] bf16. */
int ld_moe(const ld_call *c, const ld_moe_w *w, int hash, const int *ids, const ld_bf16 *x, ld_bf16 *out);

void ld_call_dump(const ld_call *c, const char *name, ld_dump_kind kind, const void *data, int rows, int cols);

#endif
