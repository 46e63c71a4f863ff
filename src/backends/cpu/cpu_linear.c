/* cpu linears: activation preparation (the reference FP8 quantization for
 * FP8/FP4 weights), then micro-kernel tiles spread over the thread pool.
 *
 * Work split: tasks own disjoint ranges of output rows (weights), so each
 * weight byte is read by one thread once per M-block; within a task, the
 * activations are walked in blocks small enough to stay in L2 while the
 * task's weight rows stream past them. */
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "backends/wformat.h"
#include "core/error.h"
#include "core/threadpool.h"

#define TASK_ROWS 64          /* output rows per task (multiple of CPU_NR) */
#define PANEL_FLOATS (256 << 10) /* a task's decoded panel: 1 MB, half of L2 */
#define XBLOCK_BYTES (192 << 10)

typedef struct {
    const cpu_ctx *c;
    const ld_weight *w;
    const float *x;
    const float *x8; /* x in interleaved blocks of CPU_MR_TALL rows, or NULL */
    const float *xb; /* x stored by pieces for the panel path, or NULL */
    const uint16_t *xh; /* x as exact fp16 rows for the FP8 half tile (cpu.h), or NULL */
    const int16_t *xe;
    int m, task_rows;
    int n_tasks;   /* tasks along the outputs; the rest split the rows */
    int row_chunk; /* rows per task (all of them, or a multiple of CPU_MR_TALL) */
    float *y;
    ld_bf16 *yb;
    cpu_tile_fn tile;
    cpu_decode_fn decode;
    cpu_panel_fn panel_tiles;
    cpu_tall_fn tall;
    cpu_fp8h_tile_fn fp8h;
} lin_job;

/* Rows of activations from which decoding a task's weights once into an fp32
 * panel beats decoding them again in every 4-row tile (measured on AVX-512:
 * the direct tiles stay ahead up to 16 rows for FP8 and 32 for BF16/FP4). */
static int panel_min_rows(ld_wfmt fmt) { return fmt == LD_WF_FP8 || fmt == LD_WF_FP8_DQ ? 16 : 32; }

/* F32 weights are already fp32: nothing to decode into a panel. */
static int uses_panel(const ld_weight *w, int m) { return m >= panel_min_rows(w->fmt) && w->fmt != LD_WF_F32; }

/* Panel path blocking: k is cut into PANEL_KC ranges and the activation
 * rows into blocks of PANEL_MB. Over one range, the block of x (24 KB) and
 * the 4 panel rows a tile group shares (8 KB) stay in L1 while every tile of
 * the block passes. Both are stored in contiguous pieces, rows kc apart
 * (panel_off): rows k*4 bytes apart, k a multiple of 1024, would all fall in
 * the same few L1 sets and evict each other. */
#define PANEL_KC 512
#define PANEL_MB 12

/* Start of the piece holding rows [r0, r0+rows) over the k range from k0,
 * in a matrix of k columns stored by pieces. */
static size_t panel_off(long r0, long rows, long k, long k0) { return (size_t)(r0 * k + rows * k0); }

/* Many rows: the task's weights are decoded once into an fp32 panel (slot
 * layout, exact values) that stays in L2, and the tiles walk it in k ranges
 * that fit L1, carrying their 16-lane accumulators between ranges; the
 * per-lane fma sequence is the direct tiles' one, so the bits are too. */
static int panel_task(const lin_job *J, int n0, int n1) {
    const ld_weight *w = J->w;
    long k = w->k, nn = n1 - n0;
    int nt = (int)(nn + CPU_NR - 1) / CPU_NR, mt = PANEL_MB / CPU_MR;
    size_t st_floats = (size_t)nt * mt * CPU_MR * CPU_NR * 16;
    float *panel = cpu_scratch(CPU_SCR_PANEL, (size_t)nn * (size_t)k + st_floats);
    if (!panel) return -1;
    float *st = panel + (size_t)nn * (size_t)k;
    for (int m0 = 0; m0 < J->m; m0 += PANEL_MB) {
        int m1 = m0 + PANEL_MB < J->m ? m0 + PANEL_MB : J->m, mb = m1 - m0;
        for (long k0 = 0; k0 < k; k0 += PANEL_KC) {
            long kc = k0 + PANEL_KC < k ? PANEL_KC : k - k0;
            const float *xb = J->xb + panel_off(m0, mb, k, k0);
            float *pb = panel + panel_off(0, nn, k, k0);
            for (int n = n0; n < n1; n += CPU_NR) {
                int nr = n1 - n < CPU_NR ? n1 - n : CPU_NR;
                float *ts = st + (size_t)((n - n0) / CPU_NR) * mt * CPU_MR * CPU_NR * 16;
                /* the first row block decodes each piece of the panel just
                   before its tiles use it, while it is still in L1 */
                if (m0 == 0) J->decode(w, n, nr, k0, k0 + kc, pb + (n - n0) * kc);
                J->panel_tiles(xb, kc, mb, pb + (n - n0) * kc, kc, nr, kc, ts, k0 == 0,
                               k0 + kc == k ? J->y + (long)m0 * w->n + n : NULL, w->n);
            }
        }
    }
    return 0;
}

static int permuted(ld_wfmt fmt) { return fmt == LD_WF_BF16 || fmt == LD_WF_FP4; }

/* Rows [r0, r1) of x (m rows of k) into the pieces of the panel path
 * (panel_off), put into the slot layout of fmt on the way when x is not in
 * it yet, so the activations are rewritten once, not permuted and then
 * copied. Pieces are multiples of 32 wide, so no slot straddles two. */
static void store_pieces(const cpu_ctx *c, ld_wfmt fmt, const float *x, long r0, long r1, int m, long k, float *xb) {
    int perm = permuted(fmt);
    for (long r = r0; r < r1; r++) {
        long m0 = r - r % PANEL_MB, mb = m0 + PANEL_MB < m ? PANEL_MB : m - m0;
        const float *xr = x + (r - r0) * k;
        for (long k0 = 0; k0 < k; k0 += PANEL_KC) {
            long kc = k0 + PANEL_KC < k ? PANEL_KC : k - k0;
            float *d = xb + panel_off(m0, mb, k, k0) + (r - m0) * kc;
            if (!perm) memcpy(d, xr + k0, sizeof(float) * (size_t)kc);
            else cpu_to_slots(c, xr + k0, kc, d);
        }
    }
}

/* k range of one tall pass: the 8-row block of x over it (32 KB) stays in
 * L1 while the task's weight rows stream past in pairs. */
#define TALL_KC 1024

/* Eight activation rows from r against the task's weight rows: tall tiles
 * over k ranges, accumulators kept per row pair in between. */
static void tall_block(const lin_job *J, int n0, int n1, int r) {
    _Alignas(64) float st[TASK_ROWS * CPU_MR_TALL * 16];
    const ld_weight *w = J->w;
    const float *x8 = J->x8 + (long)r * w->k;
    for (long k0 = 0; k0 < w->k; k0 += TALL_KC) {
        long k1 = k0 + TALL_KC < w->k ? k0 + TALL_KC : w->k;
        for (int n = n0; n < n1; n += 2)
            J->tall(x8, w, n, n1 - n < 2 ? 1 : 2, k0, k1, st + (n - n0) * CPU_MR_TALL * 16, k0 == 0);
    }
    for (int n = n0; n < n1; n++)
        for (int i = 0; i < CPU_MR_TALL; i++)
            J->y[(long)(r + i) * w->n + n] = cpu_reduce16(st + ((n - n0) * CPU_MR_TALL + i) * 16);
}

static void lin_rows(const lin_job *J, int n0, int n1, int r0, int r1);

static void lin_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const lin_job *J = ctx;
    int tn = task % J->n_tasks, tm = task / J->n_tasks;
    int n0 = tn * J->task_rows, n1 = n0 + J->task_rows < J->w->n ? n0 + J->task_rows : J->w->n;
    int r0 = tm * J->row_chunk, r1 = r0 + J->row_chunk < J->m ? r0 + J->row_chunk : J->m;
    lin_rows(J, n0, n1, r0, r1);
    if (J->yb)
        for (long r = r0; r < r1; r++)
            cpu_bf16_rows(J->c, J->y + r * J->w->n + n0, n1 - n0, J->yb + r * J->w->n + n0);
}

/* Outputs [n0, n1) of rows [r0, r1); r0 is a multiple of CPU_MR_TALL, and
 * the panel path always gets every row. */
static void lin_rows(const lin_job *J, int n0, int n1, int r0, int r1) {
    const ld_weight *w = J->w;
    int k = w->k;
    int mb = (int)(XBLOCK_BYTES / ((long)k * 4));
    mb = mb < CPU_MR ? CPU_MR : mb - mb % CPU_MR;
    if (J->xb) {
        if (panel_task(J, n0, n1) == 0) return;
        if (!J->x) abort(); /* no row-major copy to fall back on; the interface has no failure path */
    }
    int m8 = J->x8 ? J->m - J->m % CPU_MR_TALL : 0;
    for (int r = r0; r < r1 && r < m8; r += CPU_MR_TALL) tall_block(J, n0, n1, r);
    for (int m0 = r0 > m8 ? r0 : m8; m0 < r1; m0 += mb) {
        int m1 = m0 + mb < r1 ? m0 + mb : r1;
        /* one activation row of BF16 (the head, the compressors): two weight
           rows at a time, two streams per thread. One row (one stream) ran at
           0.98-1.01 of a plain read at 41-45 GB/s, where 4 rows reached
           0.92-0.95, but its single accumulator chain stops at about 57 GB/s
           from cache, under the quiet bandwidth; two chains reach 98 GB/s
           from cache and 0.92-0.93 of a plain read at 41-45 GB/s (one row:
           0.90-0.93 in the same runs). FP8 and FP4 take 4 rows. */
        int step = J->m == 1 && w->fmt == LD_WF_BF16 ? 2 : CPU_NR;
        for (int n = n0; n < n1; n += step) {
            int nr = n1 - n < step ? n1 - n : step;
            for (int r = m0; r < m1; r += CPU_MR) {
                int mr = m1 - r < CPU_MR ? m1 - r : CPU_MR;
                if (J->xh)
                    J->fp8h(J->x + (long)r * k, J->xh + (long)r * k, J->xe + (long)r * ((k + 127) / 128), k, mr, w, n,
                            nr, J->y + (long)r * w->n + n, w->n);
                else J->tile(J->x + (long)r * k, k, mr, w, n, nr, J->y + (long)r * w->n + n, w->n);
            }
        }
    }
}

/* Stores x in the slot layout of the weight format (cpu.h), so every
 * kernel reads its activations contiguously. */
static void permute_rows(const cpu_ctx *c, const float *x, int m, int k, float *xp) {
    for (long r = 0; r < m; r++) cpu_to_slots(c, x + r * k, k, xp + r * k);
}

/* Rows [0, m8) of x in interleaved blocks of CPU_MR_TALL (cpu_x8). */
static float *interleave8(const float *x, int m8, long k) {
    float *x8 = cpu_scratch(CPU_SCR_PACK, (size_t)m8 * (size_t)k);
    if (!x8) return NULL;
    for (long b = 0; b < m8 / CPU_MR_TALL; b++)
        for (long s = 0; s < k / 16; s++)
            for (int r = 0; r < CPU_MR_TALL; r++)
                memcpy(x8 + b * CPU_MR_TALL * k + cpu_x8(s, r, 0), x + (b * CPU_MR_TALL + r) * k + 16 * s, 16 * sizeof(float));
    return x8;
}

/* y as fp32, and also rounded to bf16 into yb (when not NULL) by the task
 * that computed it, while it is still in cache. x: the rows in slot layout,
 * or NULL when xb already holds them in pieces (panel path only). */
static void run_tiles(const cpu_ctx *c, const ld_weight *w, const float *x, const float *xb, const uint16_t *xh,
                      const int16_t *xe, int m, float *y, ld_bf16 *yb) {
    const cpu_kernels *K = c->kern;
    lin_job J = {.c = c, .w = w, .x = x, .xb = xb, .xh = xh, .xe = xe, .m = m, .y = y, .yb = yb,
                 .tile = K->tile[w->fmt], .decode = K->decode[w->fmt], .panel_tiles = K->panel_tiles,
                 .tall = K->tall[w->fmt], .fp8h = w->fmt == LD_WF_FP4 ? K->fp4h_tile : K->fp8h_tile};
    /* tall tiles run only on the direct path (no panel); without the
     * interleaved copy (out of memory) the 4-row tiles give the same bits */
    if (!J.xb && uses_panel(w, m)) {
        float *pk = cpu_scratch(CPU_SCR_PACK, (size_t)m * w->k);
        if (pk) store_pieces(c, LD_WF_F32, x, 0, m, m, w->k, pk); /* F32: x is in slot layout already, copied as is */
        J.xb = pk;
    } else if (!J.xb && m >= CPU_MR_TALL) J.x8 = interleave8(x, m - m % CPU_MR_TALL, w->k);
    int T = ld_threadpool_size(c->pool);
    J.task_rows = TASK_ROWS;
    if (J.xb) {
        /* the panel of a task stays in L2 beside the blocks of x passing by */
        while (J.task_rows > CPU_NR && (long)J.task_rows * w->k > PANEL_FLOATS) J.task_rows /= 2;
        /* short rows: wider tasks read x fewer times, while enough tasks
           remain to balance the threads */
        while ((long)J.task_rows * 2 * w->k <= PANEL_FLOATS && w->n / (J.task_rows * 2) >= 8 * T) J.task_rows *= 2;
    }
    J.n_tasks = (w->n + J.task_rows - 1) / J.task_rows;
    J.row_chunk = m;
    /* few outputs (the hyper-connection mixes: 24) but many rows: the rows
       are split too, in whole tall blocks, so every thread has work */
    if (!J.xb && J.n_tasks < 2 * T && m >= 2 * CPU_MR_TALL) {
        int parts = (2 * T + J.n_tasks - 1) / J.n_tasks;
        J.row_chunk = (m + parts - 1) / parts;
        J.row_chunk += (CPU_MR_TALL - J.row_chunk % CPU_MR_TALL) % CPU_MR_TALL;
    }
    ld_threadpool_run(c->pool, J.n_tasks * ((m + J.row_chunk - 1) / J.row_chunk), lin_task, &J);
}

void cpu_run_tiles(const cpu_ctx *c, const ld_weight *w, const float *x, int m, float *y) {
    run_tiles(c, w, x, NULL, NULL, NULL, m, y, NULL);
}

/* Activation preparation of rows [r0, r1): quantized or widened into xf,
 * then stored in the slot layout into xp, or straight into the pieces of
 * the panel path (pieces set). */
typedef struct {
    const cpu_ctx *c;
    const ld_weight *w;
    const ld_bf16 *x;
    float *xf, *xp;
    uint16_t *xh; /* the FP8 half tile's rows (cpu.h), or NULL */
    int16_t *xe;
    int m, pieces;
} prep_job;

static void prep_task(void *ctx, int task, int n_tasks) {
    const prep_job *J = ctx;
    long k = J->w->k, r0 = (long)J->m * task / n_tasks, r1 = (long)J->m * (task + 1) / n_tasks;
    if (J->w->fmt == LD_WF_FP8 || J->w->fmt == LD_WF_FP4) cpu_quant_rows(J->c, J->x + r0 * k, (int)(r1 - r0), (int)k, J->xf + r0 * k);
    else cpu_widen_rows(J->c, J->x + r0 * k, (r1 - r0) * k, J->xf + r0 * k);
    if (J->pieces) store_pieces(J->c, J->w->fmt, J->xf + r0 * k, r0, r1, J->m, k, J->xp);
    else if (permuted(J->w->fmt)) permute_rows(J->c, J->xf + r0 * k, (int)(r1 - r0), (int)k, J->xp + r0 * k);
    if (J->xh) (J->w->fmt == LD_WF_FP4 ? J->c->kern->fp4h_prep : J->c->kern->fp8h_prep)(J->xf + r0 * k, (int)(r1 - r0), (int)k, J->xh + r0 * k, J->xe + r0 * ((k + 127) / 128));
}

int cpu_linear(ld_backend *be, const ld_weight *w, const ld_bf16 *x, int m, ld_bf16 *y) {
    const cpu_ctx *c = cpu_of(be);
    if (w->fmt == LD_WF_I8 || w->fmt == LD_WF_FP4_I8) return cpu_linear_w8a8(c, w, x, m, y);
    long nx = (long)m * w->k, ny = (long)m * w->n;
    int pieces = uses_panel(w, m);
    /* decode rows of FP8 or FP4 weights on a path with a half tile */
    int half = !pieces && m < CPU_MR_TALL &&
               ((w->fmt == LD_WF_FP8 && c->kern->fp8h_tile) || (w->fmt == LD_WF_FP4 && c->kern->fp4h_tile));
    /* FP4's half rows and exponents (2 bytes per element and per block) go
       after the outputs; FP8's where the permuted copy would go, which FP8
       does not use */
    float *xf = cpu_scratch(CPU_SCR_ACT, (size_t)(2 * nx + ny + (half && w->fmt == LD_WF_FP4 ? nx : 0)));
    if (!xf) return ld_set_error("out of memory for a %d x %d linear over %d rows", w->n, w->k, m);
    float *xp = xf + nx, *yf = xp + nx;
    /* rows are independent: many rows (prefill) are prepared in parallel */
    prep_job P = {.c = c, .w = w, .x = x, .xf = xf, .xp = xp, .m = m, .pieces = pieces};
    if (half) {
        P.xh = (uint16_t *)(w->fmt == LD_WF_FP4 ? yf + ny : xp);
        P.xe = (int16_t *)(P.xh + nx);
    }
    int tasks = m >= 16 ? ld_threadpool_size(c->pool) * 2 : 1;
    if (tasks > 1) ld_threadpool_run(c->pool, tasks, prep_task, &P);
    else prep_task(&P, 0, 1);
    if (P.pieces) run_tiles(c, w, NULL, xp, NULL, NULL, m, yf, y);
    else run_tiles(c, w, permuted(w->fmt) ? xp : xf, NULL, P.xh, P.xe, m, yf, y);
    return 0;
}

int cpu_linear_f32(ld_backend *be, const ld_weight *w, const float *x, int m, float *y) {
    const cpu_ctx *c = cpu_of(be);
    if (w->fmt >= LD_WF_I8) return ld_set_error("linear_f32 does not take %s weights", ld_wformat_of(w->fmt)->name);
    if (!permuted(w->fmt)) {
        cpu_run_tiles(c, w, x, m, y);
        return 0;
    }
    float *xp = cpu_scratch(CPU_SCR_ACT, (size_t)m * w->k);
    if (!xp) return ld_set_error("out of memory for a %d x %d linear over %d rows", w->n, w->k, m);
    if (uses_panel(w, m)) {
        store_pieces(c, w->fmt, x, 0, m, m, w->k, xp);
        run_tiles(c, w, NULL, xp, NULL, NULL, m, y, NULL);
        return 0;
    }
    permute_rows(c, x, m, w->k, xp);
    cpu_run_tiles(c, w, xp, m, y);
    return 0;
}
