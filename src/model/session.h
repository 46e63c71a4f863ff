/* One inference timeline (a sequence) over a loaded model, with its KV cache.
 * Several sessions can share one model; each owns its cache, in buffers of
 * the model's backend reserved for the session's context length up front
 * (counted against the model's KV budget), so nothing grows while it runs.
 *
 * Cache per layer (all post-norm, post-RoPE, FP8/FP4-simulated as the
 * reference stores them):
 *   window ring  [window, head_dim] bf16, token p at slot p % window
 *   compressed   [n, head_dim] bf16, entry i summarises tokens [r*i, r*i+r)
 *   compressor   fp32 kv/score state [c*r, c*d] incl. the overlap block
 *   indexer      its own compressed keys [n, index_head_dim] + fp32 state */
#ifndef LADDER_MODEL_SESSION_H
#define LADDER_MODEL_SESSION_H

#include "model/model.h"

typedef struct {
    ld_bf16 *cache;   /* [cap, d] backend memory */
    int n, cap, d, ratio;
    float *kv_state;  /* [c*r, c*d] backend memory */
    float *sc_state;
} ld_comp_cache;

/* floats in each of kv_state and sc_state */
long ld_comp_state_floats(const ld_comp_cache *cc);

typedef struct {
    ld_bf16 *win;     /* [window, head_dim] */
    ld_comp_cache comp, icomp;
} ld_layer_cache;

typedef enum { LD_DUMP_BF16, LD_DUMP_F32, LD_DUMP_I32 } ld_dump_kind;
/* Debug observer: called with intermediate arrays of a forward call. */
typedef void (*ld_dump_fn)(void *ctx, const char *name, int layer, ld_dump_kind kind, const void *data, int rows,
                           int cols);

typedef struct {
    const ld_model *m;
    long ctx;         /* positions reserved */
    size_t kv_bytes;  /* of the caches, counted in the model's budget */
    long pos;         /* tokens consumed so far */
    int calls;        /* forward calls made; the first one sizes the window list differently */
    int first_rows;   /* tokens of the first call (0 before it) */
    ld_layer_cache *lc;
    ld_dump_fn dump;
    void *dump_ctx;
} ld_session;

/* ctx: positions to reserve (0: min(max_position_embeddings,
 * LD_SESSION_DEFAULT_CTX)); refused with a clear error when the caches do not
 * fit in the model's KV budget or the backend's memory. */
#define LD_SESSION_DEFAULT_CTX 4096
int ld_session_init_ctx(ld_session *s, const ld_model *m, long ctx);
int ld_session_init(ld_session *s, const ld_model *m);
/* 1 when the state is that of one call over its tokens (no call yet, or a
 * first call of at least one window): ladder_eval's promises then give any
 * continuation the bits of a fresh session fed everything at once. */
int ld_session_exact(const ld_session *s);
/* Bytes of KV cache a session of ctx positions reserves. */
size_t ld_session_kv_bytes(const ld_model *m, long ctx);
void ld_session_free(ld_session *s);
/* Forgets the sequence (cache contents), keeping allocations. */
void ld_session_reset(ld_session *s);

/* Feeds n tokens at positions pos..pos+n-1 as one forward call. logits
 * (optional, [vocab]) receives the fp32 logits of the last token. */
int ld_session_eval(ld_session *s, const int *ids, int n, float *logits);

/* Batched evaluation: session b gets n[b] tokens ids[b] (decode: 1 each) in
 * one forward call, so every weight is read once for the whole batch.
 * logits (optional) receives [B, vocab]: each session's last token. A
 * session gets bit-identical results alone or in any batch. */
int ld_batch_eval(ld_session *const *ss, const int *const *ids, const int *n, int B, float *logits);
/* As ld_batch_eval; all_rows: logits [sum n, vocab] of every row instead of
 * each session's last one (rows in batch order). */
int ld_batch_eval_rows(ld_session *const *ss, const int *const *ids, const int *n, int B, float *logits, int all_rows);

/* A session's whole state in host memory: position, call history (the
 * first call's size matters, see first_rows), window rings, compressed
 * entries, compressor and indexer state. Restoring it into a session of the
 * same model makes that session continue exactly as the saved one would. */
typedef struct ladder_snapshot ld_snapshot; /* ladder.h's handle */
int ld_session_save(const ld_session *s, ld_snapshot **out);
/* s must belong to the snapshot's model and reserve at least its position. */
int ld_session_restore(ld_session *s, const ld_snapshot *snap);
long ld_snapshot_pos(const ld_snapshot *snap);
size_t ld_snapshot_bytes(const ld_snapshot *snap);
/* 1 when the saved state is that of one call over its tokens (no call yet,
 * or a first call of at least one window), so any continuation gives the
 * bits of a fresh session fed everything in one call. */
int ld_snapshot_exact(const ld_snapshot *snap);
void ld_snapshot_free(ld_snapshot *snap);

/* Layer-level access, for conformance tools: runs block `layer` alone over
 * n tokens at positions pos..pos+n-1, h [n, hc_mult, dim] bf16 in/out (host
 * memory), using
 * and updating only that layer's cache. Does not advance the position; call
 * ld_session_advance(s, n) once all layers of those tokens are done. */
int ld_session_eval_block(ld_session *s, int layer, const int *ids, int n, ld_bf16 *h);
void ld_session_advance(ld_session *s, int n);

#endif
