/* cpu backend internals.
 *
 * Canonical cpu numerics (the same bits on every ISA path, so AVX-512, AVX2
 * and the scalar fallback are interchangeable and testable against each
 * other): a dot product over k runs in 16 lanes. The k range is cut into
 * slots of 16 values; slot s feeds lane i with element cpu_elem(fmt, s, i),
 * and each lane accumulates fma(x, w, acc) slot after slot. The 16 lanes are
 * then summed by the fixed tree (i + i+8), (i + i+4), (i + i+2), (0 + 1).
 *
 * The element order within a slot is chosen per weight format so that the
 * vector decode is cheapest (and an ARM port can reuse it):
 *   F32, FP8:  slot s lane i = element 16s + i
 *   BF16, FP4: groups of 32: slot 2g+c, lane i = element 32g + 2i + c
 *              (BF16: even/odd halves of a 32-bit pair, one shift or mask
 *              each; FP4: lane i owns byte i of a 32-group, low nibble then
 *              high, and the group's one scale can scale the decode table)
 * The driver stores activations already permuted this way, so kernels only
 * permute the weights they decode.
 *
 * Weights are dequantized exactly (fp8/fp4 value times its power-of-two
 * scale) before the fma; a power-of-two scale may be applied to x instead
 * (fma(x*s, w, acc) == fma(x, w*s, acc)). FP8/FP4 linears quantize
 * activations with the reference rule and use their exact dequantized
 * values. Every output element is computed by one thread with this fixed
 * order, whatever M, the batch or the thread count: results are
 * deterministic.
 *
 * Micro-kernel contract (one per ISA and weight format): computes an
 * mr x nr tile y[r*ldy + j] = dot(xp[r*ldx ...], W row n0+j) for r < mr <= 4,
 * j < nr <= 4, k = w->k (a multiple of 32); xp is the
 * permuted fp32 activation rows. */
#ifndef LADDER_BACKENDS_CPU_H
#define LADDER_BACKENDS_CPU_H

#include "backends/backend.h"
#include "backends/w8a8.h"

#define CPU_MR 4
#define CPU_NR 4
#define CPU_MR_TALL 8 /* rows of a tall tile (cpu_tall_fn) */

typedef void (*cpu_tile_fn)(const float *x, long ldx, int mr, const ld_weight *w, int n0, int nr, float *y, long ldy);

/* Decodes the k range [k0, k1) (multiples of 32) of weight rows [n0, n0+nr)
 * into panel[j*(k1-k0) ...] as exact fp32 values, each row in the slot
 * layout of its format, so the F32 tile on the panel gives the same bits as
 * the format's own tile. Used when many activation rows share each weight
 * row (prefill, batches). */
typedef void (*cpu_decode_fn)(const ld_weight *w, int n0, int nr, long k0, long k1, float *panel);

/* Panel tiles: activation rows [0, m) in tiles of CPU_MR against panel rows
 * [0, nr), nr <= CPU_NR, over the k range [0, kc) (a multiple of 32) of
 * pieces whose rows are ldx and ldp apart. Continues the 16-lane
 * accumulators of row r, panel row j kept in
 * st[((r/CPU_MR)*CPU_MR*CPU_NR + (r%CPU_MR)*CPU_NR + j)*16 ...] (zero when
 * first), so a long k can be cut into L1-sized ranges without changing a
 * bit. On the last range (y not NULL) the sums go to y[r*ldy + j] instead.
 * One call covers a whole block of rows: the per-call cost (loading and
 * storing accumulators aside) is paid once per block. */
typedef void (*cpu_panel_fn)(const float *x, long ldx, int m, const float *panel, long ldp, int nr, long kc, float *st,
                             int first, float *y, long ldy);

/* Tall tile: CPU_MR_TALL activation rows at once (batched decode, small
 * expert groups) against weight rows [n0, n0+nr), nr <= 2, over the k range
 * [k0, k1) (multiples of 32), continuing the 16-lane accumulators kept in
 * st[(j*CPU_MR_TALL + r)*16 ...] (zero when first). x8 holds the rows
 * interleaved by slot (cpu_x8), so one pointer walks all of them, and the k
 * ranges keep that block of x in L1 while the weight rows stream past. */
typedef void (*cpu_tall_fn)(const float *x8, const ld_weight *w, int n0, int nr, long k0, long k1, float *st,
                            int first);

/* Optional half-precision FP8 tile (a path with fp16 multiply-accumulate,
 * kern_asimdfhm.c, or with bf16 dot products, kern_avx512bf16.c):
 * prep turns m quantized activation rows of k into exact fp16 rows xh and
 * one exponent per 128-block xe ((k + 127) / 128 per row); the tile then
 * takes x (the fp32 rows, for rows it cannot do exactly), xh and xe, rows
 * ldx apart, and gives the bits of tile[LD_WF_FP8]. */
typedef void (*cpu_fp8h_prep_fn)(const float *xf, int m, int k, uint16_t *xh, int16_t *xe);
typedef void (*cpu_fp8h_tile_fn)(const float *x, const uint16_t *xh, const int16_t *xe, long ldx, int mr,
                                 const ld_weight *w, int n0, int nr, float *y, long ldy);

typedef struct {
    const char *name;
    cpu_tile_fn tile[5];     /* indexed by ld_wfmt */
    cpu_decode_fn decode[5]; /* indexed by ld_wfmt */
    cpu_panel_fn panel_tiles;
    cpu_tall_fn tall[5];     /* indexed by ld_wfmt */
    cpu_fp8h_prep_fn fp8h_prep; /* both NULL, or both set */
    cpu_fp8h_tile_fn fp8h_tile;
    /* The same for FP4 (x: the rows in FP4's slot layout; the tile gives the
       bits of tile[LD_WF_FP4]); both NULL, or both set. */
    cpu_fp8h_prep_fn fp4h_prep;
    cpu_fp8h_tile_fn fp4h_tile;
} cpu_kernels;

/* The w8a8 forms (backends/w8a8.h): integer dot products, whose sums are
 * exact, so every path gives ref's bits. The driver (cpu_w8a8.c) quantizes
 * the activations once per call into cpu_qx; a kernel computes rows [0, mr)
 * (mr <= CPU_MR) of it against weight rows [n0, n1) into y[r*ldy + n - n0]. */
typedef struct {
    const int8_t *q;     /* rows of k int8 values, ldq apart */
    const int8_t *xp;    /* FP4_I8: q in the superblock order (cpu_w8a8.c), ldp apart */
    const int32_t *corr; /* I8: -128 * sum q per row; FP4_I8: -12 * sum q per group, 16 per superblock, ldc apart */
    const float *s;      /* the rows' scales */
    long ldq, ldp, ldc;
} cpu_qx;
typedef void (*cpu_w8a8_fn)(const cpu_qx *x, int mr, const ld_weight *w, int n0, int n1, float *y, long ldy);
/* One activation row of k: its scale (ld_w8a8_quant_row's bits) into *s,
 * q, and either I8's corr[0] (xp NULL) or FP4_I8's xp and corr (cpu_qx). */
typedef void (*cpu_w8a8_prep_fn)(const float *x, long k, float *s, int8_t *q, int8_t *xp, int32_t *corr);
typedef struct {
    const char *name;
    cpu_w8a8_fn i8, fp4i8;
    cpu_w8a8_prep_fn prep;
} cpu_w8a8_kernels;

/* The portable prep (cpu_w8a8.c). */
void cpu_w8a8_prep(const float *x, long k, float *s, int8_t *q, int8_t *xp, int32_t *corr);

/* A kernel entry calling ROWS(x, MR, w, n0, n1, y, ldy) with MR a constant
 * 1..4, so each tile height compiles with its own register allocation. */
#define CPU_W8A8_ENTRY(NAME, ROWS)                                                                \
    static void NAME(const cpu_qx *x, int mr, const ld_weight *w, int n0, int n1, float *y, long ldy) { \
        switch (mr) {                                                                             \
        case 1: ROWS(x, 1, w, n0, n1, y, ldy); break;                                             \
        case 2: ROWS(x, 2, w, n0, n1, y, ldy); break;                                             \
        case 3: ROWS(x, 3, w, n0, n1, y, ldy); break;                                             \
        default: ROWS(x, 4, w, n0, n1, y, ldy); break;                                            \
        }                                                                                         \
    }

/* A short last FP4_I8 superblock (G < 16 groups, chunks 4G bytes apart)
 * copied to full size, chunks 64 bytes apart, the missing groups zero with
 * scale byte 0 (their lanes then add 0): for kernels that load whole
 * chunks and cannot mask. */
static inline void cpu_fp4i8_pad(const uint8_t *p, const uint8_t *sp, long G, uint8_t pad[256], uint8_t spad[16]) {
    for (int i = 0; i < 256; i++) pad[i] = 0;
    for (int i = 0; i < 16; i++) spad[i] = i < G ? sp[i] : 0;
    for (int c = 0; c < 4; c++)
        for (long i = 0; i < 4 * G; i++) pad[64 * c + i] = p[4 * G * c + i];
}

extern const cpu_w8a8_kernels cpu_w8a8_scalar;
#if defined(__x86_64__)
extern const cpu_w8a8_kernels cpu_w8a8_avx2;
extern const cpu_w8a8_kernels cpu_w8a8_vnni; /* AVX-512 VNNI + VBMI */
#elif defined(__aarch64__)
extern const cpu_w8a8_kernels cpu_w8a8_dotprod; /* ARMv8.2 SDOT */
#endif
/* The fastest w8a8 kernels the ISA path called isa may use on this CPU. */
const cpu_w8a8_kernels *cpu_w8a8_for(const char *isa);

/* The paths of each architecture (cpu_isa.c lists them, best first). */
extern const cpu_kernels cpu_kernels_scalar;
#if defined(__x86_64__)
extern const cpu_kernels cpu_kernels_avx2;
extern const cpu_kernels cpu_kernels_avx512;
extern const cpu_kernels cpu_kernels_avx512bf16;
#elif defined(__aarch64__)
extern const cpu_kernels cpu_kernels_neon;
extern const cpu_kernels cpu_kernels_asimdfhm;
extern const cpu_kernels cpu_kernels_sve256;
#endif

/* e8m0 byte -> float, exact (255 -> NaN) */
extern float cpu_e8m0[256];
/* The 16 e2m1 values times each e8m0 scale (exact): an FP4 group's decode
 * table, one 64-byte row per scale byte. */
extern float cpu_fp4_tab[256][16];
/* The same table as bf16 (exact: each entry has at most two significant
 * bits), one row per scale byte: the 16 low bytes, then the 16 high bytes
 * (byte-lookup decoders, kern_neon.h). */
extern uint8_t cpu_fp4_bf16[256][32];
/* Each e4m3 magnitude (the low 7 bits) as bf16, exact: its low bytes, then
 * its high bytes (the BF16 FP8 tile, kern_avx512bf16.c). */
extern uint8_t cpu_fp8_bf16[2][128];
/* cpu_fp4_tab as bf16 words, the 16 entries twice (a 32-word permute table
 * whose index bit 4 does not matter). */
extern uint16_t cpu_fp4_bf16w[256][32];
void cpu_tables_init(void);

/* Element of the k range that slot s, lane i consumes (see above). */
static inline long cpu_elem(ld_wfmt fmt, long s, int i) {
    if (fmt == LD_WF_BF16 || fmt == LD_WF_FP4) return 32 * (s / 2) + 2 * i + s % 2;
    return 16 * s + i;
}

/* Slot s, lane i of row r in an interleaved block of CPU_MR_TALL rows. */
static inline long cpu_x8(long s, int r, int i) { return (s * CPU_MR_TALL + r) * 16 + i; }

/* The fixed 16-lane reduction tree, shared by all paths. */
static inline float cpu_reduce16(const float *v) { return ld_w8a8_tree16(v); }

/* Per-ISA bodies of the non-linear ops (ops_impl.h, compiled once per ISA). */
typedef struct {
    void (*attn_head)(const ld_bf16 *, int, const float *const *, int, float, float, ld_bf16 *);
    void (*index_scores)(const float *, const float *, int, int, const ld_bf16 *, int, int, float *);
    void (*hc_post_rows)(const ld_bf16 *, const ld_bf16 *, const float *, const float *, int, int, int, int, ld_bf16 *);
    void (*bf16_rows)(const float *, long, ld_bf16 *);
    void (*quant_rows)(const ld_bf16 *, int, int, float *);
    void (*swiglu_rows)(const ld_bf16 *, const ld_bf16 *, long, float, float, ld_bf16 *);
    void (*expf_rows)(const float *, long, float *);
    void (*widen_rows)(const ld_bf16 *, long, float *);
    void (*to_slots)(const float *, long, float *);
} cpu_vec;

/* One cpu backend instance: its ISA path and its thread pool. */
typedef struct cpu_ctx {
    const cpu_kernels *kern;
    const cpu_w8a8_kernels *w8a8;
    const cpu_vec *vec;
    struct ld_threadpool *pool;
    int threads;
} cpu_ctx;

extern const cpu_vec cpu_vec_scalar;
#if defined(__x86_64__)
extern const cpu_vec cpu_vec_avx2;
extern const cpu_vec cpu_vec_avx512;
#elif defined(__aarch64__)
extern const cpu_vec cpu_vec_neon;
extern const cpu_vec cpu_vec_sve256;
#endif

/* The kernels and vector bodies of the ISA path called name; -1 when this
 * build has no such path (cpu_isa.c). */
int cpu_isa_lookup(const char *name, const cpu_kernels **kern, const cpu_vec **vec);

static inline const cpu_ctx *cpu_of(const ld_backend *be) { return (const cpu_ctx *)be->ctx; }

/* y[m, w->n] = tiles of x (already in the format's slot layout) against w,
 * spread over the thread pool. */
void cpu_run_tiles(const cpu_ctx *c, const ld_weight *w, const float *x, int m, float *y);

/* Scratch buffers, one set per thread and kind, kept between calls (the
 * largest request so far stays allocated until the thread exits): at least
 * `floats` floats, 64-byte aligned, old contents not kept; NULL when out of
 * memory. A linear uses ACT for its activations and outputs, PACK for the
 * packed or interleaved copy of x, PANEL (on every pool thread) for the
 * decoded weights. */
enum { CPU_SCR_PANEL, CPU_SCR_ACT, CPU_SCR_PACK, CPU_SCR_N };
float *cpu_scratch(int kind, size_t floats);

/* Reference FP8 activation quantization of m rows of k (k % 128 == 0),
 * returned as the exact dequantized values. */
void cpu_quant_rows(const cpu_ctx *c, const ld_bf16 *x, int m, int k, float *xf);

/* e^x rounded to float, n values, as the cpu attention and SwiGLU evaluate
 * it (ops_impl.h); for tests. */
void cpu_expf_rows(const cpu_ctx *c, const float *x, long n, float *out);

/* SwiGLU of n values (ld_ref_swiglu, exp evaluated as in ops_impl.h). */
void cpu_swiglu_rows(const cpu_ctx *c, const ld_bf16 *g, const ld_bf16 *u, long n, float limit, float weight, ld_bf16 *out);

/* bf16 widened to fp32, n values. */
void cpu_widen_rows(const cpu_ctx *c, const ld_bf16 *x, long n, float *y);

/* n values (a multiple of 32) of a row put into the slot layout of BF16 and
 * FP4 (cpu_elem): per 32-group the even elements, then the odd ones. */
void cpu_to_slots(const cpu_ctx *c, const float *x, long n, float *d);

/* y rounded to bf16 (ld_f32_to_bf16), n values. */
void cpu_bf16_rows(const cpu_ctx *c, const float *y, long n, ld_bf16 *out);

/* The slots the cpu table overrides (cpu_linear.c, cpu_ops.c, cpu_rowwise.c). */
int cpu_linear(ld_backend *be, const ld_weight *w, const ld_bf16 *x, int m, ld_bf16 *y);
int cpu_linear_w8a8(const cpu_ctx *c, const ld_weight *w, const ld_bf16 *x, int m, ld_bf16 *y);
int cpu_linear_f32(ld_backend *be, const ld_weight *w, const float *x, int m, float *y);
int cpu_swiglu(ld_backend *be, const ld_bf16 *g, const ld_bf16 *u, int n, float limit, float weight, ld_bf16 *out);
int cpu_rmsnorm(ld_backend *be, const ld_bf16 *x, const ld_bf16 *w, int m, int n, float eps, ld_bf16 *y);
int cpu_head_rmsnorm(ld_backend *be, ld_bf16 *q, int n_heads, int head_dim, float eps);
int cpu_sparse_attn(ld_backend *be, const ld_bf16 *q, int h, int d, const ld_bf16 *const *kv, int n, const float *sink,
                    float scale, ld_bf16 *out);
int cpu_indexer_scores(ld_backend *be, const ld_bf16 *q, const ld_bf16 *w, int h, int d, const ld_bf16 *keys, int n,
                       float *out);
int cpu_hc_pre(ld_backend *be, const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m, int d,
               int hc, int iters, float norm_eps, float hc_eps, ld_bf16 *y, float *post, float *comb);
int cpu_hc_post(ld_backend *be, const ld_bf16 *x, const ld_bf16 *res, const float *post, const float *comb, int m,
                int d, int hc, ld_bf16 *out);
int cpu_hc_head(ld_backend *be, const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m, int d,
                int hc, float norm_eps, float hc_eps, ld_bf16 *y);
int cpu_widen(ld_backend *be, const ld_bf16 *x, long n, float *y);

#endif
