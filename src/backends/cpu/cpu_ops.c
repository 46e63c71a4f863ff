/* cpu attention, indexer and hyper-connection ops: thread-parallel drivers
 * around the per-ISA bodies of ops_impl.h. Work is split over heads, keys or
 * rows; each output is computed by one task in a fixed order, so the thread
 * count never changes a bit. */
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "backends/ref/ref.h"
#include "core/threadpool.h"

#define DECLARE(S)                                                                                                 \
    void cpu_attn_head_##S(const ld_bf16 *q, int d, const float *const *kf, int n, float sink, float scale,       \
                           ld_bf16 *out);                                                                          \
    void cpu_index_scores_##S(const float *qf, const float *wf, int h, int d, const ld_bf16 *keys, int i0, int i1, \
                              float *out);                                                                         \
    void cpu_hc_post_rows_##S(const ld_bf16 *x, const ld_bf16 *res, const float *post, const float *comb, int r0,  \
                              int r1, int d, int hc, ld_bf16 *out);                                        \
    void cpu_bf16_rows_##S(const float *y, long n, ld_bf16 *out);                                               \
    void cpu_widen_rows_##S(const ld_bf16 *x, long n, float *y);                                                \
    void cpu_to_slots_##S(const float *x, long n, float *d);                                                    \
    void cpu_quant_rows_##S(const ld_bf16 *x, int m, int k, float *xf);                                         \
    void cpu_swiglu_rows_##S(const ld_bf16 *g, const ld_bf16 *u, long n, float limit, float weight, ld_bf16 *out); \
    void cpu_expf_rows_##S(const float *x, long n, float *out);
DECLARE(avx512)
DECLARE(avx2)
DECLARE(scalar)

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
} ops_table;

static const ops_table *ops(void) {
    static const ops_table t512 = {cpu_attn_head_avx512, cpu_index_scores_avx512, cpu_hc_post_rows_avx512,
                                   cpu_bf16_rows_avx512, cpu_quant_rows_avx512,
                                   cpu_swiglu_rows_avx512, cpu_expf_rows_avx512,
                                   cpu_widen_rows_avx512, cpu_to_slots_avx512};
    static const ops_table t256 = {cpu_attn_head_avx2, cpu_index_scores_avx2, cpu_hc_post_rows_avx2,
                                   cpu_bf16_rows_avx2, cpu_quant_rows_avx2,
                                   cpu_swiglu_rows_avx2, cpu_expf_rows_avx2,
                                   cpu_widen_rows_avx2, cpu_to_slots_avx2};
    static const ops_table tsc = {cpu_attn_head_scalar, cpu_index_scores_scalar, cpu_hc_post_rows_scalar,
                                   cpu_bf16_rows_scalar, cpu_quant_rows_scalar,
                                   cpu_swiglu_rows_scalar, cpu_expf_rows_scalar,
                                   cpu_widen_rows_scalar, cpu_to_slots_scalar};
    const char *isa = cpu_active()->name;
    return !strcmp(isa, "avx512") ? &t512 : !strcmp(isa, "avx2") ? &t256 : &tsc;
}

void cpu_bf16_rows(const float *y, long n, ld_bf16 *out) { ops()->bf16_rows(y, n, out); }

void cpu_quant_rows(const ld_bf16 *x, int m, int k, float *xf) { ops()->quant_rows(x, m, k, xf); }

void cpu_expf_rows(const float *x, long n, float *out) { ops()->expf_rows(x, n, out); }

void cpu_widen_rows(const ld_bf16 *x, long n, float *y) { ops()->widen_rows(x, n, y); }

void cpu_to_slots(const float *x, long n, float *d) { ops()->to_slots(x, n, d); }

void cpu_swiglu_rows(const ld_bf16 *g, const ld_bf16 *u, long n, float limit, float weight, ld_bf16 *out) {
    ops()->swiglu_rows(g, u, n, limit, weight, out);
}

/* ---- sparse attention: keys widened once, heads in parallel ---- */
typedef struct {
    const ld_bf16 *q;
    int d, n;
    const float *const *kf;
    const float *sink;
    float scale;
    ld_bf16 *out;
    const ops_table *t;
} attn_job;

static void attn_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const attn_job *J = ctx;
    J->t->attn_head(J->q + (long)task * J->d, J->d, J->kf, J->n, J->sink[task], J->scale, J->out + (long)task * J->d);
}

void cpu_sparse_attn(const ld_bf16 *q, int h, int d, const ld_bf16 *const *kv, int n, const float *sink, float scale,
                     ld_bf16 *out) {
    float *kbuf = aligned_alloc(64, (sizeof(float) * (size_t)(n ? n : 1) * d + 63) & ~(size_t)63);
    const float **kf = malloc(sizeof(*kf) * (size_t)(n ? n : 1));
    if (!kbuf || !kf) abort();
    for (int j = 0; j < n; j++) {
        kf[j] = NULL;
        if (!kv[j]) continue;
        float *row = kbuf + (long)j * d;
        for (int i = 0; i < d; i++) row[i] = ld_bf16_to_f32(kv[j][i]);
        kf[j] = row;
    }
    attn_job J = {.q = q, .d = d, .n = n, .kf = kf, .sink = sink, .scale = scale, .out = out, .t = ops()};
    ld_threadpool_run(cpu_pool(), h, attn_task, &J);
    free(kf);
    free(kbuf);
}

/* ---- indexer scores: keys in parallel chunks ---- */
#define KEYS_PER_TASK 32
typedef struct {
    const float *qf, *wf;
    int h, d, n;
    const ld_bf16 *keys;
    float *out;
    const ops_table *t;
} idx_job;

static void idx_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const idx_job *J = ctx;
    int i0 = task * KEYS_PER_TASK, i1 = i0 + KEYS_PER_TASK < J->n ? i0 + KEYS_PER_TASK : J->n;
    J->t->index_scores(J->qf, J->wf, J->h, J->d, J->keys, i0, i1, J->out);
}

void cpu_indexer_scores(const ld_bf16 *q, const ld_bf16 *w, int h, int d, const ld_bf16 *keys, int n, float *out) {
    float *qf = aligned_alloc(64, (sizeof(float) * (size_t)(h * d + h) + 63) & ~(size_t)63);
    if (!qf) abort();
    float *wf = qf + (long)h * d;
    for (long i = 0; i < (long)h * d; i++) qf[i] = ld_bf16_to_f32(q[i]);
    for (int i = 0; i < h; i++) wf[i] = ld_bf16_to_f32(w[i]);
    idx_job J = {.qf = qf, .wf = wf, .h = h, .d = d, .n = n, .keys = keys, .out = out, .t = ops()};
    ld_threadpool_run(cpu_pool(), (n + KEYS_PER_TASK - 1) / KEYS_PER_TASK, idx_task, &J);
    free(qf);
}

/* ---- hyper-connections: mixes through the linear kernels, rows in parallel ---- */
#define ROWS_PER_TASK 8
typedef struct {
    const ld_bf16 *x, *res, *h;
    const float *post, *comb, *mix, *scale, *base;
    int m, d, hc, iters, nmix;
    float hc_eps;
    ld_bf16 *out, *y;
    float *post_out, *comb_out;
    const ops_table *t;
} hc_job;

static void post_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const hc_job *J = ctx;
    int r0 = task * ROWS_PER_TASK, r1 = r0 + ROWS_PER_TASK < J->m ? r0 + ROWS_PER_TASK : J->m;
    J->t->hc_post_rows(J->x, J->res, J->post, J->comb, r0, r1, J->d, J->hc, J->out);
}

void cpu_hc_post(const ld_bf16 *x, const ld_bf16 *res, const float *post, const float *comb, int m, int d, int hc,
                 ld_bf16 *out) {
    hc_job J = {.x = x, .res = res, .post = post, .comb = comb, .m = m, .d = d, .hc = hc, .out = out, .t = ops()};
    ld_threadpool_run(cpu_pool(), (m + ROWS_PER_TASK - 1) / ROWS_PER_TASK, post_task, &J);
}

/* Rows of the mixes' input, widened, and their inverse RMS. */
typedef struct {
    const ld_bf16 *h;
    float *xf, *rs, eps;
    int len;
} mixin_job;

static void mixin_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const mixin_job *J = ctx;
    const ld_bf16 *hr = J->h + (long)task * J->len;
    float *xr = J->xf + (long)task * J->len;
    cpu_widen_rows(hr, J->len, xr);
    J->rs[task] = ld_ref_inv_rms(hr, J->len, J->eps);
}

/* mix[r][j] = dot(h_r, fn_j) * rsqrt(mean(h_r^2) + eps), dots in the canonical order */
static float *hc_mixes(const ld_bf16 *h, const float *fn, int m, int len, int nmix, float norm_eps) {
    float *xf = aligned_alloc(64, (sizeof(float) * (size_t)m * len + 63) & ~(size_t)63);
    float *mix = malloc(sizeof(float) * (size_t)m * nmix), *rs = malloc(sizeof(float) * (size_t)m);
    if (!xf || !mix || !rs) abort();
    /* rows are long (hc * dim) and independent: prepared in parallel */
    mixin_job P = {.h = h, .xf = xf, .rs = rs, .eps = norm_eps, .len = len};
    ld_threadpool_run(cpu_pool(), m, mixin_task, &P);
    ld_weight w = {.fmt = LD_WF_F32, .n = nmix, .k = len, .data = fn};
    cpu_run_tiles(&w, xf, m, mix);
    for (int r = 0; r < m; r++)
        for (int j = 0; j < nmix; j++) mix[(long)r * nmix + j] *= rs[r];
    free(xf);
    free(rs);
    return mix;
}

static void pre_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const hc_job *J = ctx;
    int r0 = task * ROWS_PER_TASK, r1 = r0 + ROWS_PER_TASK < J->m ? r0 + ROWS_PER_TASK : J->m;
    for (int r = r0; r < r1; r++) {
        const ld_bf16 *hr = J->h + (long)r * J->hc * J->d;
        if (J->post_out)
            ld_ref_hc_pre_finish(hr, J->mix + (long)r * J->nmix, J->scale, J->base, J->d, J->hc, J->iters, J->hc_eps,
                                 J->y + (long)r * J->d, J->post_out + r * J->hc, J->comb_out + (long)r * J->hc * J->hc);
        else
            ld_ref_hc_head_finish(hr, J->mix + (long)r * J->nmix, J->scale, J->base, J->d, J->hc, J->hc_eps,
                                  J->y + (long)r * J->d);
    }
}

void cpu_hc_pre(const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m, int d, int hc,
                int iters, float norm_eps, float hc_eps, ld_bf16 *y, float *post, float *comb) {
    int nmix = (2 + hc) * hc;
    float *mix = hc_mixes(h, fn, m, hc * d, nmix, norm_eps);
    hc_job J = {.h = h, .mix = mix, .scale = scale, .base = base, .m = m, .d = d, .hc = hc, .iters = iters,
                .nmix = nmix, .hc_eps = hc_eps, .y = y, .post_out = post, .comb_out = comb};
    ld_threadpool_run(cpu_pool(), (m + ROWS_PER_TASK - 1) / ROWS_PER_TASK, pre_task, &J);
    free(mix);
}

void cpu_hc_head(const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m, int d, int hc,
                 float norm_eps, float hc_eps, ld_bf16 *y) {
    float *mix = hc_mixes(h, fn, m, hc * d, hc, norm_eps);
    hc_job J = {.h = h, .mix = mix, .scale = scale, .base = base, .m = m, .d = d, .hc = hc, .nmix = hc,
                .hc_eps = hc_eps, .y = y};
    ld_threadpool_run(cpu_pool(), (m + ROWS_PER_TASK - 1) / ROWS_PER_TASK, pre_task, &J);
    free(mix);
}
