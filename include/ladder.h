/* Ladder's public boundary: a loaded checkpoint with one backend (engine),
 * sequences with their KV caches (sessions), evaluation alone or batched,
 * per-call accounting, and errors as one line of text.
 *
 * The command line and any server are written against this header only, so
 * they never depend on tensor layouts, backend tables or the forward pass.
 * Everything here is plain C11; handles are opaque.
 *
 * Conventions:
 * - Functions that can fail return 0 on success and -1 on error; then
 *   ladder_last_error() holds one human-readable line (thread-local).
 * - Calls on one engine and its sessions must not run concurrently: the
 *   engine accounts each call on shared counters, and the cpu backend's
 *   settings (ISA path, thread pool) are process-wide until backends become
 *   instances of their own.
 * - Token ids are int; logits are fp32 rows of ladder_info.vocab_size. */
#ifndef LADDER_H
#define LADDER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ladder_engine ladder_engine;
typedef struct ladder_session ladder_session;

/* One line describing the last failure of a ladder_* call on this thread. */
const char *ladder_last_error(void);

/* ------------------------------------------------------------- engine */

typedef enum {
    /* copied into memory when they fit in 3/4 of the available memory
       (streaming from the file mapping is measurably slower), else mapped */
    LADDER_WEIGHTS_AUTO = 0,
    /* left in the file mapping: no copy, the page cache may be shared */
    LADDER_WEIGHTS_MMAP = 1,
} ladder_residency;

/* Weight format paths: the numbers the linears compute in. */
typedef enum {
    LADDER_FORMATS_NATIVE = 0, /* as shipped: FP8 (activations FP8 per 1x128), FP4 experts, BF16 */
    /* every FP8/FP4 linear converted at load to its exact bf16 dequantization,
       for chips whose best matrix unit is BF16; activations are then used in
       bf16, not quantized to FP8 (the path's accuracy cost) */
    LADDER_FORMATS_BF16 = 1,
    /* FP8 linears as int8 with one scale per output row, FP4 experts kept
       4-bit (expanded to int8 exactly), activations int8 with one scale per
       token: the scheme of INT8-only matrix units */
    LADDER_FORMATS_W8A8 = 2,
} ladder_formats;

/* "native", "bf16", "w8a8"; NULL for an unknown value. */
const char *ladder_formats_name(ladder_formats f);
/* The path a name gives; -1 with the known names in the error otherwise. */
int ladder_formats_parse(const char *name, ladder_formats *out);

/* Zero-initialized options are the defaults (so is ladder_engine_opts_default()). */
typedef struct {
    /* NULL or "": the fastest backend usable on this machine (today "cpu");
       "ref" is the scalar ground truth, chosen only when asked for */
    const char *backend;
    int threads;             /* cpu: worker threads; 0 = all online CPUs */
    const char *cpu_isa;     /* cpu: an ISA path (ladder_cpu_isa_paths); NULL = the best this CPU runs */
    ladder_residency weights;
    /* bf16: converted into memory the engine owns; the checkpoint is then
       read once from its file mapping and never copied */
    ladder_formats formats;
    /* Upper bound on the KV-cache memory of all sessions together, in
       bytes; 0 = no limit. A session reserves its whole context up front;
       one that does not fit is refused with the sizes in the message. */
    size_t kv_budget_bytes;
    /* (optional) weight bytes copied so far during the load; total is the
       checkpoint size. Not called when the weights stay mapped. */
    void (*progress)(void *user, size_t done, size_t total);
    void *progress_user;
} ladder_engine_opts;

ladder_engine_opts ladder_engine_opts_default(void);

/* Opens the checkpoint directory (HF layout: config.json, safetensors,
 * optional generation_config.json), checks every tensor the config implies
 * and prepares the backend. *out is NULL on failure. */
int ladder_engine_open(const char *dir, const ladder_engine_opts *opts, ladder_engine **out);
/* Frees the engine; its sessions must be freed first. NULL is a no-op. */
void ladder_engine_close(ladder_engine *e);

/* Bytes and parameters of one checkpoint dtype ("BF16", "F8_E4M3", ...). */
typedef struct {
    const char *name;
    int64_t params; /* packed FP4 counts two per byte */
    uint64_t bytes;
} ladder_dtype_total;

/* What an engine is and what it costs to run; valid while the engine is open. */
typedef struct {
    const char *dir;
    /* config summary */
    int vocab_size, dim, n_layers, n_mtp_layers;
    int n_heads, head_dim, q_lora_rank, o_groups, o_lora_rank;
    int window;                                   /* sliding window of every layer */
    int n_window_layers, n_csa_layers, n_hca_layers; /* compress ratio 0, 4, other */
    int index_n_heads, index_head_dim, index_topk;   /* lightning indexer (CSA layers) */
    int n_routed_experts, n_activated_experts, n_shared_experts, moe_inter_dim, n_hash_layers;
    double route_scale;
    int expert_fp4;                               /* routed experts stored as FP4 (else FP8) */
    int bos_id, eos_id;
    long max_position_embeddings;
    /* checkpoint */
    int n_files, n_tensors;
    int64_t total_params;
    uint64_t total_bytes;
    int n_dtypes;                                 /* entries of dtypes[] in use */
    ladder_dtype_total dtypes[16];
    /* cost */
    double weight_bytes_per_token;                /* read per decoded token (expected expert mix) */
    double kv_bytes_per_token;                    /* compressed-cache growth per token (bf16 layout) */
    double kv_fixed_bytes;                        /* window rings of one session */
    size_t kv_budget_bytes;                       /* as given in the options */
    /* backend */
    const char *backend;                          /* its registry name */
    const char *backend_description;
    const char *cpu_isa;                          /* cpu: the ISA path in use; NULL otherwise */
    int threads;                                  /* worker threads (1 for single-threaded backends) */
    /* weights */
    int weights_resident;                         /* copied into memory (else mapped from the files) */
    const char *mapped_note;                      /* why an auto load kept weights mapped; "" otherwise */
    const char *formats;                          /* the weight format path (ladder_formats_name) */
    /* sampling defaults of generation_config.json (built-in defaults when absent) */
    float temperature, top_p, min_p;
    int top_k, do_sample;
} ladder_info;

const ladder_info *ladder_engine_info(const ladder_engine *e);

/* Registered backends, in the registry's order, whether or not this machine
 * can run them (ladder_backend_usable says which). */
int ladder_backend_count(void);
const char *ladder_backend_name(int i);
/* The cpu backend's ISA paths in this build, best first, as one string
   ("avx512, avx2, scalar" on x86-64, "sve256, asimdfhm, neon, scalar"
   on aarch64), whether name is one of them, and the best this CPU runs. */
const char *ladder_cpu_isa_paths(void);
int ladder_cpu_isa_known(const char *name);
const char *ladder_cpu_best_isa(void);
int ladder_backend_usable(const char *name);

/* ------------------------------------------------------------ sessions */

typedef struct {
    /* tokens the sequence may reach, reserved (KV cache) when the session
       is created; 0 = min(max_position_embeddings, 4096). Every evaluation
       is checked against it. */
    long context;
} ladder_session_opts;

/* opts may be NULL (defaults). Several sessions may share one engine. */
int ladder_session_new(ladder_engine *e, const ladder_session_opts *opts, ladder_session **out);
void ladder_session_free(ladder_session *s);
/* Forgets the sequence, keeping the allocations. */
void ladder_session_reset(ladder_session *s);
/* Tokens consumed so far. */
long ladder_session_pos(const ladder_session *s);
long ladder_session_context(const ladder_session *s);
/* Bytes of KV cache a session of `context` positions reserves (0: the
 * default context), counted against kv_budget_bytes. */
size_t ladder_session_kv_bytes(const ladder_engine *e, long context);
ladder_engine *ladder_session_engine(const ladder_session *s);

/* Debug observer: intermediate arrays of every forward call of the session
 * (per layer: "hidden", "attn_out", "ffn_out", "moe_experts", "moe_weights",
 * "indexer_topk"; layer -1: "final_norm"), rows x cols row-major. bf16
 * values are the upper 16 bits of an fp32. NULL removes it. Costs time: the
 * head then normalizes every row, not only the last. */
typedef enum { LADDER_DUMP_BF16 = 0, LADDER_DUMP_F32 = 1, LADDER_DUMP_I32 = 2 } ladder_dump_kind;
typedef void (*ladder_observer)(void *ctx, const char *name, int layer, ladder_dump_kind kind, const void *data,
                                int rows, int cols);
void ladder_session_observe(ladder_session *s, ladder_observer fn, void *ctx);

/* ----------------------------------------------------------- snapshots */

/* A session's whole state (position, window rings, compressed entries,
 * compressor and indexer state) copied to host memory, so a later sequence
 * that starts with the same tokens (a system prompt, earlier turns) resumes
 * from it instead of evaluating them again. It costs what the cache holds
 * at that position: fixed window rings plus one entry per compressed block. */
typedef struct ladder_snapshot ladder_snapshot;

int ladder_session_save(const ladder_session *s, ladder_snapshot **out);
/* Replaces s's state with the snapshot's; s continues exactly as the saved
 * session would have. s must be on the snapshot's engine and reserve at
 * least ladder_snapshot_pos positions. */
int ladder_session_restore(ladder_session *s, const ladder_snapshot *snap);
/* Tokens the saved session had consumed. */
long ladder_snapshot_pos(const ladder_snapshot *snap);
/* Host memory the snapshot holds. */
size_t ladder_snapshot_bytes(const ladder_snapshot *snap);
/* 1 when the saved state is the one a single call over its tokens gives
 * (its first call had at least ladder_info.window tokens, or none was
 * made): then a restored session fed more tokens gets the bits a fresh
 * session fed all of them would (ladder_eval's promises). 0 otherwise: a
 * short first call sizes the reference's window lists differently. */
int ladder_snapshot_exact(const ladder_snapshot *snap);
/* The same of a session now: whether a snapshot of it would be exact. */
int ladder_session_exact(const ladder_session *s);
void ladder_snapshot_free(ladder_snapshot *snap);

/* ---------------------------------------------------------- evaluation */

typedef enum {
    LADDER_LOGITS_NONE = 0,
    LADDER_LOGITS_LAST = 1, /* [vocab]: after the last token of the call */
    LADDER_LOGITS_ALL = 2,  /* [n, vocab]: after each token of the call */
} ladder_logits_mode;

/* Accounting of one call. */
typedef struct {
    double macs;          /* multiply-adds of the linears, attention and head */
    double weight_bytes;  /* weight bytes read: each weight once per forward call, routed experts when chosen */
    double seconds;       /* wall time of the call */
    /* bytes copied host -> device and device -> host; always 0 on host
       backends (ref, cpu), whose buffers are host memory */
    uint64_t h2d_bytes, d2h_bytes;
    long rows;            /* tokens evaluated */
    size_t scratch_peak_bytes; /* scratch memory the call held at its peak */
} ladder_stats;

/* Feeds ids[0..n) at positions pos..pos+n-1 in one forward call and
 * advances the session. logits gets the rows mode asks for (may be NULL
 * with LADDER_LOGITS_NONE); stats (optional) this call's accounting.
 *
 * Promises, on every backend (tests/unit/test_engine.c, test_session.c):
 * LAST equals the last row of ALL bit for bit; row i of ALL equals the LAST
 * logits of a fresh session fed ids[0..i] in one call; a first call of at
 * least one window (ladder_info.window) followed by calls of any size,
 * single-token decode steps included, gives the bits of one call over the
 * same tokens. Shorter first calls are not promised those bits. */
int ladder_eval(ladder_session *s, const int *ids, int n, ladder_logits_mode mode, float *logits,
                ladder_stats *stats);

/* One forward call over B sessions of one engine (each at most once), n[b]
 * tokens for session b (decode: 1 each), so every weight is read once for
 * the whole batch. logits (optional) gets [B, vocab], each session's last
 * row; a session gets the same bits alone or in any batch. */
int ladder_eval_batch(ladder_session *const *sessions, const int *const *ids, const int *n, int B, float *logits,
                      ladder_stats *stats);

#ifdef __cplusplus
}
#endif

#endif
