/* A loaded DeepSeek-V4 model: config, typed views of the weights in the
 * memory of the model's backend instance (the mapped checkpoint itself for
 * host backends; uploaded copies for device backends), and the scratch
 * arena of its forward calls (one call at a time per model). */
#ifndef LADDER_MODEL_MODEL_H
#define LADDER_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"
#include "backends/wformat.h"
#include "core/scratch.h"
#include "io/checkpoint.h"
#include "model/config.h"

/* Weight format paths (convert.c): native = the checkpoint's formats. */
typedef enum { LD_FORMATS_NATIVE = 0, LD_FORMATS_BF16 = 1, LD_FORMATS_W8A8 = 2 } ld_formats;

typedef struct {
    ld_weight wkv, wgate;   /* [c*d, dim] BF16 (c = 2 with overlap) */
    const float *ape;       /* [ratio, c*d] */
    const ld_bf16 *norm;    /* [d] */
    int ratio, d, overlap;
} ld_compressor_w;

typedef struct {
    ld_weight wq_a;          /* [q_lora, dim] FP8 */
    const ld_bf16 *q_norm;   /* [q_lora] */
    ld_weight wq_b;          /* [H*hd, q_lora] FP8 */
    ld_weight wkv;           /* [hd, dim] FP8 */
    const ld_bf16 *kv_norm;  /* [hd] */
    ld_weight wo_a;          /* [G*o_lora, H*hd/G] FP8 used as bf16 */
    ld_weight wo_b;          /* [dim, G*o_lora] FP8 */
    const float *sink;       /* [H] */
    int ratio;               /* 0: window only; 4: CSA (indexer); other: HCA */
    ld_compressor_w comp;
    /* lightning indexer (ratio 4 only) */
    ld_weight idx_wq_b;      /* [Hi*dI, q_lora] FP8 */
    ld_weight idx_wproj;     /* [Hi, dim] BF16 */
    ld_compressor_w idx_comp;
} ld_attn_w;

typedef struct {
    ld_weight gate;          /* [E, dim] BF16 */
    const float *bias;       /* [E] or NULL (hash layers) */
    const int64_t *tid2eid;  /* [vocab, k] or NULL */
    ld_expert_w *experts;    /* [E] */
    ld_expert_w shared;
} ld_moe_w;

typedef struct {
    const float *fn, *base, *scale;
} ld_hc_w;

typedef struct {
    ld_hc_w hc_attn, hc_ffn;
    const ld_bf16 *attn_norm, *ffn_norm;
    ld_attn_w attn;
    ld_moe_w ffn;
    /* MTP only */
    ld_weight e_proj, h_proj;
    const ld_bf16 *enorm, *hnorm, *norm;
    ld_hc_w hc_head;
} ld_layer_w;

/* Optional accounting a benchmark attaches to a model: multiply-adds of the
 * linears and attention, and bytes of weights read (each weight once per
 * forward call, routed experts only when chosen). */
typedef struct {
    double macs;
    double weight_bytes;
} ld_traffic;

/* Per-call figures every forward call leaves in the model (ld_model_last_call). */
typedef struct {
    size_t scratch_peak;     /* scratch bytes the call had handed out at once */
    double h2d_bytes, d2h_bytes;
} ld_call_stats;

typedef struct {
    ld_config cfg;
    ld_checkpoint ck;
    ld_gen_defaults gen;
    const ld_bf16 *embed;    /* [V, dim] */
    ld_weight head;          /* [V, dim] BF16 */
    const ld_bf16 *norm;     /* [dim] */
    ld_hc_w hc_head;
    ld_layer_w *layers;      /* n_layers main blocks, then n_mtp_layers MTP blocks */
    /* RoPE inverse frequencies: [0] plain (window-only layers), [1] YaRN (compressed layers) */
    float *inv_freq[2];
    ld_backend *be;          /* owned: the instance every op runs on */
    ld_scratch *arena;         /* scratch of forward calls */
    ld_call_stats *last;     /* figures of the latest forward call */
    size_t kv_budget;        /* bytes all sessions' caches may reserve (0: no limit) */
    size_t *kv_reserved;     /* bytes reserved by live sessions */
    void **dev_owned;        /* device copies of small tensors */
    int n_dev_owned;
    ld_traffic *traffic;     /* NULL unless a benchmark is counting */
    void **owned;            /* aligned copies of misaligned small tensors */
    int n_owned;
    int resident;            /* weights copied out of the file mapping (resident.h) */
    char mapped_why[256];    /* why an auto load kept (some) weights mapped; "" otherwise */
    ld_formats formats;      /* the format path the weights were converted to */
} ld_model;

/* Opens the checkpoint directory, parses config.json (and
 * generation_config.json when present) and binds every tensor the config
 * implies, checking names, shapes and dtypes. */
int ld_model_load(const char *dir, const ld_backend_ops *ops, ld_model *m);

/* Where the weights live: the file mapping (no copy; the page cache may be
 * shared), resident anonymous memory (faster streaming, one copy at load,
 * see io/resident.h), or auto: resident when they fit in 3/4 of the memory
 * the kernel reports available. ld_model_load() maps. */
typedef enum { LD_LOAD_MMAP, LD_LOAD_RESIDENT, LD_LOAD_AUTO } ld_load_mode;
typedef struct {
    ld_load_mode mode;
    void (*progress)(size_t done, size_t total); /* bytes copied so far; may be NULL */
    ld_backend_opts backend;                     /* ISA, threads, device */
    size_t kv_budget;                            /* 0: no limit */
    /* bf16: FP8/FP4 linears converted at load (the checkpoint's weights are
       then read once from the file mapping, never copied) */
    ld_formats formats;
} ld_load_opts;
int ld_model_load_opts(const char *dir, const ld_backend_ops *ops, const ld_load_opts *o, ld_model *m);
void ld_model_free(ld_model *m);

/* Converts the bound weights to the format path f (owned by the model). */
int ld_model_convert(ld_model *m, ld_formats f);
/* The exact bf16 dequantization of an FP8, FP8_DQ or FP4 weight into out
 * [n, k]; fails, naming the element, where a value would not be exact. */
int ld_weight_to_bf16(const ld_weight *w, ld_bf16 *out);

/* Backend placement and runtime state (place.c): the arena and per-call
 * figures, then every tensor the forward pass reads moved into the
 * backend's memory (nothing to do for host backends). */
int ld_model_runtime_init(ld_model *m);
void ld_model_runtime_free(ld_model *m);
int ld_model_place(ld_model *m);
void ld_model_unplace(ld_model *m);

/* cos/sin of the RoPE angles at position pos: yarn = 1 for compressed
 * layers (compress_rope_theta + YaRN), 0 for window-only layers. */
void ld_model_rope_cos_sin(const ld_model *m, int yarn, long pos, float *cos, float *sin);

#endif
