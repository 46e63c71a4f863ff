/* The DeepSeek-V4 checkpoint as one table: every tensor kind with its name,
 * the model field it binds to, its dtype or weight format, its shape as a
 * function of the config, and the condition under which a block has it.
 * The binder, the synthesizer, device placement, the statistics and the
 * benchmarks all walk this table, so a new tensor or a changed shape is one
 * entry here.
 *
 * Names follow the official HF layout: "embed.weight", then per block
 * "layers.{l}." (main) or "mtp.{i}." (multi-token prediction) followed by
 * the entry's name; routed experts are "ffn.experts.{e}.{w}". A weight
 * (linear) is the data tensor "<name>.weight" plus, in block-scaled
 * formats, "<name>.scale" (backends/wformat.h gives both shapes). */
#ifndef LADDER_MODEL_SCHEMA_H
#define LADDER_MODEL_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

/* Which struct an entry's field lives in. */
typedef enum {
    LD_SS_MODEL,  /* ld_model, once */
    LD_SS_LAYER,  /* ld_layer_w, per block (main and MTP) */
    LD_SS_EXPERT, /* ld_expert_w, per block and routed expert */
} ld_schema_scope;

/* When a block has the tensor (model-level entries: always). */
typedef enum {
    LD_SC_ALWAYS,
    LD_SC_COMPRESSED, /* compress ratio != 0: the KV compressor */
    LD_SC_CSA,        /* compress ratio 4: the lightning indexer */
    LD_SC_HASH,       /* main block l < n_hash_layers: token-id routing table */
    LD_SC_BIAS,       /* every other block: the routing bias */
    LD_SC_MTP,        /* MTP blocks only */
} ld_schema_cond;

/* What one decoded token reads of the tensor. */
typedef enum {
    LD_SR_ALL,    /* all of it */
    LD_SR_ROW,    /* one row, picked by the token id */
    LD_SR_ROUTED, /* all of it when the router picks the expert */
} ld_schema_read;

/* Dimensions an entry's shape is built from. */
typedef enum {
    LD_SD_NONE,      /* no second dimension: a vector */
    LD_SD_ONE,
    LD_SD_THREE,     /* hyper-connection scales: pre, post, comb */
    LD_SD_FOUR,      /* the indexer's compressor always has ratio 4 */
    LD_SD_DIM,
    LD_SD_VOCAB,
    LD_SD_Q_LORA,
    LD_SD_HEADS,
    LD_SD_HEAD_DIM,
    LD_SD_Q,         /* n_heads * head_dim */
    LD_SD_O_LORA,    /* o_groups * o_lora_rank */
    LD_SD_O_GROUP_IN,/* n_heads * head_dim / o_groups */
    LD_SD_HC,        /* hc_mult */
    LD_SD_HC_MIX,    /* (2 + hc_mult) * hc_mult: pre, post and the comb matrix */
    LD_SD_HC_DIM,    /* hc_mult * dim */
    LD_SD_EXPERTS,
    LD_SD_TOPK,
    LD_SD_INTER,
    LD_SD_RATIO,     /* the block's compress ratio */
    LD_SD_COMP,      /* compressor rows: head_dim, doubled when ratio 4 overlaps windows */
    LD_SD_IDX_HEADS,
    LD_SD_IDX_DIM,
    LD_SD_IDX_Q,     /* index_n_heads * index_head_dim */
    LD_SD_IDX_COMP,  /* 2 * index_head_dim (ratio 4 overlaps) */
} ld_schema_dim;

/* fmt of routed-expert weights: the config's expert format (FP4 or FP8). */
#define LD_SCHEMA_EXPERT_FMT (-1)

typedef struct {
    const char *name;     /* after the block prefix; a weight's without ".weight" */
    ld_schema_scope scope;
    ld_schema_cond cond;
    size_t off;           /* field offset in the scope's struct */
    int weight;           /* a linear bound to an ld_weight, else a plain tensor */
    int fmt;              /* weights: ld_wfmt or LD_SCHEMA_EXPERT_FMT */
    ld_dtype dtype;       /* plain tensors */
    ld_schema_dim d0, d1; /* weights: [n, k] */
    ld_schema_read read;
    /* Synthetic init: values of this mean and standard deviation, the
     * deviation divided by sqrt(d1) when fan_in (a linear's fan-in, so unit
     * RMS inputs give unit RMS outputs). Weights: mean 0, sigma the gain. */
    float mean, sigma;
    int fan_in;
} ld_schema_entry;

/* One checkpoint tensor. */
typedef struct {
    char name[160];
    ld_dtype dtype;
    int ndim;
    int64_t shape[2];
    uint64_t nbytes;
} ld_schema_part;

/* One binding: a plain tensor (one part) or a weight (data, then scale). */
typedef struct {
    const ld_schema_entry *e;
    int layer;  /* -1: model-level */
    int expert; /* routed expert id; -1 otherwise */
    int mtp;    /* the block is an MTP block */
    ld_wfmt fmt;
    int64_t n, k; /* weights */
    int nparts;
    ld_schema_part part[2];
} ld_schema_item;

/* Calls fn for every binding the config implies, in binding order (model
 * tensors, then block by block); stops at and returns fn's first nonzero
 * result, else 0. */
typedef int (*ld_schema_fn)(void *ctx, const ld_schema_item *it);
int ld_schema_each(const ld_config *c, ld_schema_fn fn, void *ctx);

/* The model field an item binds to (an ld_weight for weights, else a const
 * pointer); NULL while the layers or experts are not allocated. */
void *ld_schema_field(ld_model *m, const ld_schema_item *it);
const void *ld_schema_cfield(const ld_model *m, const ld_schema_item *it);

/* Tensors and bytes the config implies in a checkpoint. */
void ld_schema_totals(const ld_config *c, int *n_tensors, uint64_t *bytes);

#endif
