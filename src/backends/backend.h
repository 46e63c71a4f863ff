/* The operator interface (v2): every piece of work a forward call does, from
 * the embedding to the logits, goes through a backend instance, so a port to
 * new hardware is one backend folder.
 *
 * Memory model (the CUDA one): a backend has a memory kind. Host backends
 * (ref, cpu) compute on host memory, and their buffers are host memory. A
 * device backend (opencl) has memory of its own: alloc() returns a *device
 * address*, typed as a host pointer so the model code can do pointer
 * arithmetic on it, but the host never dereferences it. Bytes cross only
 * through upload() and download(), which the model calls through the
 * counting wrappers below, so every transfer is accounted for.
 *
 * Every tensor an op receives points into memory of the op's backend:
 * activations and scratch (arena blocks from alloc), caches (alloc, reserved
 * per session), weights and small parameters (prepare_weight and import at
 * load time: zero-copy views for host backends, uploaded once for device
 * backends). Descriptors (ld_weight, the argument structs) are host structs.
 *
 * Contract for implementers:
 * - `ref` (backends/ref) fills every slot and is the numerical ground truth:
 *   it follows the canonical arithmetic of the oracle manifests (every dot
 *   product and long sum exact, then rounded once to fp32; fp32 math
 *   functions evaluated in double and rounded once; bf16 rounding at the
 *   points the official code rounds).
 * - A host backend starts from a copy of the ref table (ld_backend_ref_ops)
 *   and overrides what it accelerates. The composite ops of the ref table
 *   (attend, compress, indexer_select, moe_*, embed, ...) are written in terms
 *   of the primitive slots, called through the instance, so a host backend's
 *   faster primitives are used inside them without further work.
 * - A device backend fills only what it implements; an empty slot means
 *   "not supported" (ld_backend_supports), and conformance reports it as
 *   such rather than running ref on device addresses. To run the model it
 *   must support every op the forward pass uses (ld_backend_missing_forward_op).
 * - Ops return 0, or -1 with the error set (core/error.h). Ops may run
 *   asynchronously on device backends; sync() waits and reports the first
 *   failure, and download() implies it.
 * - Shapes: row-major, contiguous unless a stride is given. bf16 values are
 *   stored as ld_bf16 (upper half of an fp32). Ops write only their outputs
 *   and never keep pointers past the call.
 * - Deterministic: the same inputs give the same bits, whatever other rows
 *   share the call (each row's arithmetic is independent of the others). */
#ifndef LADDER_BACKENDS_BACKEND_H
#define LADDER_BACKENDS_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "core/numerics.h"

/* Weight formats as stored in official checkpoints. */
typedef enum {
    LD_WF_F32,    /* float [n, k] */
    LD_WF_BF16,   /* bf16 [n, k] */
    LD_WF_FP8,    /* e4m3 [n, k] + e8m0 scale [ceil(n/128), ceil(k/128)]; activations FP8-quantized 1x128 */
    LD_WF_FP8_DQ, /* same storage, used as its exact bf16 dequantization (wo_a): no activation quantization */
    LD_WF_FP4,    /* e2m1 packed [n, k/2] (element 2j = low nibble) + e8m0 scale [n, k/32] */
    /* The w8a8 path's forms (backends/w8a8.h), made at load from the above;
     * activations quantized to int8 with one scale per row: */
    LD_WF_I8,     /* int8 [n, k] + fp32 scale per output row [n] */
    LD_WF_FP4_I8, /* e2m1 [n, k/2] in 512-element superblocks (w8a8.h) + e8m0 scale [n, k/32] */
} ld_wfmt;

typedef struct {
    ld_wfmt fmt;
    int n, k;             /* logical shape [out, in] */
    const void *data;     /* in the backend's memory (after prepare_weight) */
    const uint8_t *scale; /* FP8 / FP4 only */
    int scale_cols;       /* row length of the scale matrix */
    /* A backend that repacks a weight at load time keeps its own form here
     * (NULL: the checkpoint layout above). row0 locates a row slice inside
     * it (ld_weight_rows). */
    const void *packed;
    int row0;
} ld_weight;

/* Returns rows [r0, r0+rows) of w as a weight of its own; r0 and rows must be
 * multiples of 128 for FP8 formats. Pointer arithmetic only: valid on device
 * addresses. */
ld_weight ld_weight_rows(const ld_weight *w, int r0, int rows);

typedef enum { LD_MEM_HOST, LD_MEM_DEVICE } ld_memkind;

typedef struct ld_backend ld_backend;

/* ---------------------------------------------------------- composite op arguments */

/* Sparse attention of one sequence's rows [0, rows) of a call, all heads.
 * Query row t is at position p = P + t and attends, in this order:
 *   window part: positions max(0, p-window+1) .. p, oldest first; a
 *     position >= P is row (pos - P) of kv_new, an older one is the ring
 *     slot pos % window; padded with empty slots to W entries;
 *   compressed part: comp_idx given (CSA): the entries comp_idx[t*k_max + i]
 *     for i < k_max until the first -1; else when comp_ratio > 0 (HCA): the
 *     entries 0 .. (p+1)/comp_ratio - 1; else none.
 * Entries are d values (key == value). The list is processed in blocks of
 * 64 with online softmax, bf16 probabilities in the PV product and the sink
 * added to the denominator at the end (ld_ref_sparse_attn). */
typedef struct {
    const ld_bf16 *q;       /* [rows, h, d] */
    int rows, h, d;
    const ld_bf16 *kv_new;  /* [rows, d] this call's entries */
    const ld_bf16 *ring;    /* [window, d] */
    int window, W;
    long P;
    const ld_bf16 *comp;    /* [>= visible, d] compressed entries, or NULL */
    const int *comp_idx;    /* [rows, k_max] or NULL */
    int k_max, comp_ratio;
    const float *sink;      /* [h] */
    float scale;
    ld_bf16 *out;           /* [rows, h, d] */
} ld_attend_args;

/* One sequence's compressor step over rows [0, S) at positions P.. (spec
 * §2.3): sc += ape[p % ratio]; the row enters the fp32 state; each completed
 * block (p+1 % ratio == 0) is pooled (compress_pool; with overlap over the
 * previous block's first d channels and this block's last d), rounded to
 * bf16, RMS-normed, rotated at the block's first position (cs_emit row j for
 * the j-th block completed in this call), then either Hadamard-rotated and
 * FP4-simulated (rotate) or FP8-simulated on its nope dims, and stored as
 * cache entry n0 + j. kv/sc are modified. */
typedef struct {
    float *kv, *sc;          /* [S, cd], cd = (1 + overlap) * d */
    int S;
    long P;
    const float *ape;        /* [ratio, cd] */
    float *kv_state, *sc_state; /* [(1 + overlap) * ratio, cd] */
    ld_bf16 *cache;          /* entries [cap, d] */
    int n0;                  /* entries before this call */
    int ratio, d, overlap, rope_dim, rotate;
    const ld_bf16 *norm;     /* [d] */
    float norm_eps;
    const float *cs_emit;    /* [blocks completed, rope_dim]: cos | sin halves */
} ld_compress_args;

/* Lightning-indexer selection for one sequence's rows [0, S) at positions
 * P..: row t sees the first nvis = (P+t+1)/4 keys, scores them
 * (indexer_scores) and keeps the top min(topk, nvis) (topk), then -1 up to
 * k_max. */
typedef struct {
    const ld_bf16 *q;       /* [S, h, d] */
    const ld_bf16 *w;       /* [S, h] */
    int S, h, d;
    long P;
    const ld_bf16 *keys;    /* [>= nvis, d] */
    int topk, k_max;
    int *sel;               /* [S, k_max] */
} ld_select_args;

/* MoE routing of S rows: score = sqrt(softplus(logit)); the K experts are
 * the top-K of score + bias, or tid2eid[ids[t]] on hash layers (bias NULL);
 * weights = score / (sum of the K scores, in double) * route_scale. */
typedef struct {
    float *logits;          /* [S, E], replaced by the scores */
    int S, E, K;
    const float *bias;      /* [E] or NULL */
    const int64_t *tid2eid; /* [vocab, K] or NULL */
    const int *ids;         /* [S] token ids (hash layers) */
    float route_scale;
    int *idx;               /* [S, K] */
    float *wt;              /* [S, K] */
} ld_route_args;

typedef struct {
    ld_weight w1, w2, w3;   /* w1/w3 [inter, dim], w2 [dim, inter] */
} ld_expert_w;

/* Routed experts and the shared expert of S rows, combined: per row the fp32
 * sum over its experts in ascending id (a duplicated id counts once) of
 * w2(swiglu(w1 x, w3 x) * weight), then the shared expert's, rounded to bf16
 * once. */
typedef struct {
    const ld_expert_w *experts; /* [E] host descriptors of device weights */
    const ld_expert_w *shared;
    int S, E, K, dim, inter;
    float swiglu_limit;
    const ld_bf16 *x;        /* [S, dim] */
    const int *idx;          /* [S, K] */
    const float *wt;         /* [S, K] */
    ld_bf16 *out;            /* [S, dim] */
    /* (optional, host memory) distinct routed experts run, for traffic
     * accounting; a backend that cannot tell cheaply leaves it alone */
    int *experts_used;
} ld_moe_args;

/* ---------------------------------------------------------- the table */

typedef struct {
    const char *isa;  /* host ISA path; NULL = best available */
    int threads;      /* 0 = all online CPUs */
    int device;       /* device index for device backends; -1 = the first usable */
} ld_backend_opts;

/* X-macro of the op slots, for names and capability queries. */
#define LD_OPS(X)                                                                                              \
    X(linear) X(linear_f32) X(rmsnorm) X(head_rmsnorm) X(rope) X(hadamard) X(hc_pre) X(hc_post) X(hc_head)      \
    X(sparse_attn) X(compress_pool) X(indexer_scores) X(topk) X(swiglu) X(embed) X(copy_rows) X(widen)          \
    X(scale_bf16) X(quant_sim) X(attend) X(compress) X(indexer_select) X(moe_route) X(moe_experts)

typedef enum {
#define LD_OP_ENUM(n) LD_OP_##n,
    LD_OPS(LD_OP_ENUM)
#undef LD_OP_ENUM
    LD_OP_COUNT
} ld_op;

const char *ld_op_name(ld_op op);

typedef struct ld_backend_ops {
    const char *name;
    const char *description;
    ld_memkind mem;
    /* (optional) 0 when the backend cannot run on this machine; NULL = always usable. */
    int (*probe)(void);

    /* ---- instance (optional: NULL = stateless) */
    int (*create)(ld_backend *be, const ld_backend_opts *o); /* sets be->ctx */
    void (*destroy)(ld_backend *be);
    /* One line for reports: ISA path and threads, device name, ... */
    void (*describe)(ld_backend *be, char *buf, size_t len);

    /* ---- memory (host backends may leave these NULL: malloc/memcpy) */
    void *(*alloc)(ld_backend *be, size_t bytes);
    void (*free)(ld_backend *be, void *p);
    int (*upload)(ld_backend *be, void *dst, const void *src, size_t bytes);
    int (*download)(ld_backend *be, void *dst, const void *src, size_t bytes);
    /* Load time: w arrives as a host view of the checkpoint; the backend may
     * replace its pointers with its own memory, converting or repacking
     * (NULL: host backends keep the zero-copy view). */
    int (*prepare_weight)(ld_backend *be, ld_weight *w);
    void (*release_weight)(ld_backend *be, ld_weight *w);
    /* Bit f set: linears take weights of ld_wfmt f; 0: every format. */
    unsigned wformats;
    int (*sync)(ld_backend *be);

    /* ---- primitives */

    /* y[m,n] = bf16(x[m,k] . W^T). FP8/FP4: x is first quantized per row in
     * 1x128 E8M0 blocks; per K block the exact partial sum, rounded to fp32,
     * is scaled and added to an fp32 accumulator in ascending block order
     * (FP4: 32-wide blocks, times act scale then weight scale). Others: the
     * exact dot product rounded to fp32. I8 / FP4_I8: backends/w8a8.h. */
    int (*linear)(ld_backend *be, const ld_weight *w, const ld_bf16 *x, int m, ld_bf16 *y);
    /* y[m,n] = fp32(x[m,k] . W^T) for F32/BF16 weights and fp32 inputs
     * (compressor projections, router, lm head). */
    int (*linear_f32)(ld_backend *be, const ld_weight *w, const float *x, int m, float *y);
    /* y = bf16(w * (x * rsqrt(mean(x^2) + eps))), fp32 inside; m rows of n. */
    int (*rmsnorm)(ld_backend *be, const ld_bf16 *x, const ld_bf16 *w, int m, int n, float eps, ld_bf16 *y);
    /* Per-head unweighted RMS normalization, every step in bf16, in place. */
    int (*head_rmsnorm)(ld_backend *be, ld_bf16 *q, int n_heads, int head_dim, float eps);
    /* In place, interleaved-pair rotation: row r (x + r*row_stride) holds
     * n_vec vectors vec_stride apart, each rotated by the angles of cs row r
     * (cs + r*2*n_pairs: n_pairs cosines, then n_pairs sines); inverse
     * rotates by -angle. */
    int (*rope)(ld_backend *be, ld_bf16 *x, int rows, long row_stride, int n_vec, int vec_stride, const float *cs,
                int n_pairs, int inverse);
    /* In place: x <- bf16(fp32(H x) * n^-0.5) for m vectors of n (power of 2). */
    int (*hadamard)(ld_backend *be, ld_bf16 *x, int m, int n);

    /* Hyper-connections. h: [m, hc, d] bf16 streams. fn: [(2+hc)*hc, hc*d]
     * fp32, scale[3], base[(2+hc)*hc]. Outputs y [m, d] bf16, post [m, hc],
     * comb [m, hc, hc] (Sinkhorn-normalized, row = source stream). */
    int (*hc_pre)(ld_backend *be, const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m,
                  int d, int hc, int iters, float norm_eps, float hc_eps, ld_bf16 *y, float *post, float *comb);
    /* out[m, hc, d] = bf16(post[j]*x + sum_i comb[i][j]*res_i). */
    int (*hc_post)(ld_backend *be, const ld_bf16 *x, const ld_bf16 *res, const float *post, const float *comb, int m,
                   int d, int hc, ld_bf16 *out);
    /* Final stream reduction: fn [hc, hc*d], scale[1], base[hc]; y [m, d]. */
    int (*hc_head)(ld_backend *be, const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m,
                   int d, int hc, float norm_eps, float hc_eps, ld_bf16 *y);

    /* Host kind only (the list is host pointers): one query token, all
     * heads, q [h, d]; kv[j] = row of entry j or NULL for an empty slot
     * (the arithmetic of `attend`). */
    int (*sparse_attn)(ld_backend *be, const ld_bf16 *q, int h, int d, const ld_bf16 *const *kv, int n,
                       const float *sink, float scale, ld_bf16 *out);
    /* Compressor pooling: per channel c, softmax over rows r of score[r*ld+c],
     * then out[c] = fp32(sum_r kv[r*ld+c] * w). rows x d, leading dim ld. */
    int (*compress_pool)(ld_backend *be, const float *kv, const float *score, int rows, int d, int ld, float *out);
    /* Lightning-indexer scores of one query token against n keys:
     * out[i] = bf16(sum_h bf16(relu(bf16(q_h . k_i)) * w_h)), stored as fp32. */
    int (*indexer_scores)(ld_backend *be, const ld_bf16 *q, const ld_bf16 *w, int h, int d, const ld_bf16 *keys,
                          int n, float *out);
    /* Indices of the k largest of s[0..n), descending, ties -> lower index. */
    int (*topk)(ld_backend *be, const float *s, int n, int k, int *idx);
    /* SwiGLU with clamp: a = silu(min(g, lim)) * clamp(u, -lim, lim) (lim <= 0:
     * no clamp); a *= weight; out = bf16(a). n values. */
    int (*swiglu)(ld_backend *be, const ld_bf16 *g, const ld_bf16 *u, int n, float limit, float weight,
                  ld_bf16 *out);

    /* ---- data movement and elementwise */

    /* h[t, j, :] = table[ids[t], :] for j < copies: [rows, copies, d]. */
    int (*embed)(ld_backend *be, const ld_bf16 *table, const int *ids, int rows, int d, int copies, ld_bf16 *h);
    /* rows x bytes, row r from src + r*src_pitch to dst + r*dst_pitch. */
    int (*copy_rows)(ld_backend *be, void *dst, size_t dst_pitch, const void *src, size_t src_pitch, size_t bytes,
                     int rows);
    /* y = fp32(x), n values. */
    int (*widen)(ld_backend *be, const ld_bf16 *x, long n, float *y);
    /* x = bf16(fp32(x) * s), n values. */
    int (*scale_bf16)(ld_backend *be, ld_bf16 *x, long n, float s);
    /* In place, rows of n values stride apart: FP8 (fp4 = 0, ld_fp8_sim_bf16)
     * or FP4 (ld_fp4_sim_bf16) simulation in blocks of `block`. */
    int (*quant_sim)(ld_backend *be, ld_bf16 *x, int rows, long stride, int n, int block, int fp4);

    /* ---- composites (see the argument structs) */
    int (*attend)(ld_backend *be, const ld_attend_args *a);
    int (*compress)(ld_backend *be, const ld_compress_args *a);
    int (*indexer_select)(ld_backend *be, const ld_select_args *a);
    int (*moe_route)(ld_backend *be, const ld_route_args *a);
    int (*moe_experts)(ld_backend *be, const ld_moe_args *a);
} ld_backend_ops;

/* Host-to-device and device-to-host bytes moved through the wrappers below. */
typedef struct {
    double h2d_bytes, d2h_bytes;
    long uploads, downloads;
} ld_xfer;

struct ld_backend {
    const ld_backend_ops *ops;
    void *ctx;       /* the instance's own state (threads, ISA, device queue, ...) */
    ld_xfer xfer;
};

extern const ld_backend_ops ld_backend_ref_ops;

/* Registry (backends/registry.c). */
const ld_backend_ops *ld_backend_find(const char *name);
int ld_backend_count(void);
const ld_backend_ops *ld_backend_at(int i);
/* The default: the first registered host backend other than ref that
 * probes usable on this machine (today cpu); ref otherwise. */
const ld_backend_ops *ld_backend_default(void);
/* By name (NULL or "": the default); NULL with the error set naming the
 * cause: not built in (the list of those that are), or unusable here. */
const ld_backend_ops *ld_backend_resolve(const char *name);

/* Instances (backends/instance.c). */
ld_backend *ld_backend_create(const ld_backend_ops *ops, const ld_backend_opts *o);
void ld_backend_destroy(ld_backend *be);
void ld_backend_describe(ld_backend *be, char *buf, size_t len);
int ld_backend_supports(const ld_backend *be, ld_op op);
/* Whether the backend's linears take weights of format f (ops.wformats). */
int ld_backend_takes(const ld_backend *be, ld_wfmt f);
/* Every op the forward pass calls; NULL when all are there, else the name of
 * the first missing one. */
const char *ld_backend_missing_forward_op(const ld_backend *be);

/* Memory through the instance; uploads and downloads are counted in be->xfer. */
void *ld_be_alloc(ld_backend *be, size_t bytes);
void ld_be_free(ld_backend *be, void *p);
int ld_be_upload(ld_backend *be, void *dst, const void *src, size_t bytes);
int ld_be_download(ld_backend *be, void *dst, const void *src, size_t bytes);
int ld_be_sync(ld_backend *be);
/* A small load-time tensor (norm weights, biases, tables) in the backend's
 * memory: host backends return src itself, device backends upload a copy
 * (*owned set to it, freed with ld_be_free). */
const void *ld_be_import(ld_backend *be, const void *src, size_t bytes, void **owned);

#endif
