/* cpu attention, indexer and hyper-connection ops: thread-parallel drivers
 * around the per-ISA bodies of ops_impl.h. Work is split over heads, keys or
 * rows; each output is computed by one task in a fixed order, so the thread
 * count never changes a bit. */
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "backends/ref/ref.h"
#include "core/error.h"
#include "core/threadpool.h"

void cpu_bf16_rows(const cpu_ctx *c, const float *y, long n, ld_bf16 *out) { c->vec->bf16_rows(y, n, out); }

void cpu_quant_rows(const cpu_ctx *c, const ld_bf16 *x, int m, int k, float *xf) { c->vec->quant_rows(x, m, k, xf); }

void cpu_expf_rows(const cpu_ctx *c, const float *x, long n, float *out) { c->vec->expf_rows(x, n, out); }

void cpu_widen_rows(const cpu_ctx *c, const ld_bf16 *x, long n, float *y) { c->vec->widen_rows(x, n, y); }

void cpu_to_slots(const cpu_ctx *c, const float *x, long n, float *d) { c->vec->to_slots(x, n, d); }

void cpu_swiglu_rows(const cpu_ctx *c, const ld_bf16 *g, const ld_bf16 *u, long n, float limit, float weight,
                     ld_bf16 *out) {
    c->vec->swiglu_rows(g, u, n, limit, weight, out);
}

int cpu_widen(ld_backend *be, const ld_bf16 *x, long n, float *y) {
    cpu_widen_rows(cpu_of(be), x, n, y);
    return 0;
}

/* ---- sparse attention: keys widened once, heads in parallel ---- */
typedef struct {
    const ld_bf16 *q;
    int d, n;
    const float *const *kf;
    const float *sink;
    float scale;
    ld_bf16 *out;
    const cpu_vec *t;
} attn_job;

static void attn_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const attn_job *J = ctx;
    J->t->attn_head(J->q + (long)task * J->d, J->d, J->kf, J->n, J->sink[task], J->scale, J->out + (long)task * J->d);
}

int cpu_sparse_attn(ld_backend *be, const ld_bf16 *q, int h, int d, const ld_bf16 *const *kv, int n, const float *sink,
                    float scale, ld_bf16 *out) {
    const cpu_ctx *c = cpu_of(be);
    float *kbuf = aligned_alloc(64, (sizeof(float) * (size_t)(n ? n : 1) * d + 63) & ~(size_t)63);
    const float **kf = malloc(sizeof(*kf) * (size_t)(n ? n : 1));
    if (!kbuf || !kf) {
        free(kbuf);
        free(kf);
        return ld_set_error("out of memory in sparse attention (%d entries)", n);
    }
    for (int j = 0; j < n; j++) {
        kf[j] = NULL;
        if (!kv[j]) continue;
        float *row = kbuf + (long)j * d;
        for (int i = 0; i < d; i++) row[i] = ld_bf16_to_f32(kv[j][i]);
        kf[j] = row;
    }
    attn_job J = {.q = q, .d = d, .n = n, .kf = kf, .sink = sink, .scale = scale, .out = out, .t = c->vec};
    ld_threadpool_run(c->pool, h, attn_task, &J);
    free(kf);
    free(kbuf);
    return 0;
}

/* ---- indexer scores: keys in parallel chunks ---- */
#define KEYS_PER_TASK 32
typedef struct {
    const float *qf, *wf;
    int h, d, n;
    const ld_bf16 *keys;
    float *out;
    const cpu_vec *t;
} idx_job;

static void idx_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const idx_job *J = ctx;
    int i0 = task * KEYS_PER_TASK, i1 = i0 + KEYS_PER_TASK < J->n ? i0 + KEYS_PER_TASK : J->n;
    J->t->index_scores(J->qf, J->wf, J->h, J->d, J->keys, i0, i1, J->out);
}

int cpu_indexer_scores(ld_backend *be, const ld_bf16 *q, const ld_bf16 *w, int h, int d, const ld_bf16 *keys, int n,
                       float *out) {
    const cpu_ctx *c = cpu_of(be);
    float *qf = aligned_alloc(64, (sizeof(float) * (size_t)(h * d + h) + 63) & ~(size_t)63);
    if (!qf) return ld_set_error("out of memory in the indexer");
    float *wf = qf + (long)h * d;
    for (long i = 0; i < (long)h * d; i++) qf[i] = ld_bf16_to_f32(q[i]);
    for (int i = 0; i < h; i++) wf[i] = ld_bf16_to_f32(w[i]);
    idx_job J = {.qf = qf, .wf = wf, .h = h, .d = d, .n = n, .keys = keys, .out = out, .t = c->vec};
    ld_threadpool_run(c->pool, (n + KEYS_PER_TASK - 1) / KEYS_PER_TASK, idx_task, &J);
    free(qf);
    return 0;
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
    const cpu_vec *t;
} hc_job;

static void post_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const hc_job *J = ctx;
    int r0 = task * ROWS_PER_TASK, r1 = r0 + ROWS_PER_TASK < J->m ? r0 + ROWS_PER_TASK : J->m;
    J->t->hc_post_rows(J->x, J->res, J->post, J->comb, r0, r1, J->d, J->hc, J->out);
}

int cpu_hc_post(ld_backend *be, const ld_bf16 *x, const ld_bf16 *res, const float *post, const float *comb, int m,
                int d, int hc, ld_bf16 *out) {
    const cpu_ctx *c = cpu_of(be);
    hc_job J = {.x = x, .res = res, .post = post, .comb = comb, .m = m, .d = d, .hc = hc, .out = out, .t = c->vec};
    ld_threadpool_run(c->pool, (m + ROWS_PER_TASK - 1) / ROWS_PER_TASK, post_task, &J);
    return 0;
}

/* Rows of the mixes' input, widened, and their inverse RMS. */
typedef struct {
    const cpu_ctx *c;
    const ld_bf16 *h;
    float *xf, *rs, eps;
    int len;
} mixin_job;

static void mixin_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const mixin_job *J = ctx;
    const ld_bf16 *hr = J->h + (long)task * J->len;
    float *xr = J->xf + (long)task * J->len;
    cpu_widen_rows(J->c, hr, J->len, xr);
    J->rs[task] = ld_ref_inv_rms(hr, J->len, J->eps);
}

/* mix[r][j] = dot(h_r, fn_j) * rsqrt(mean(h_r^2) + eps), dots in the canonical order */
static float *hc_mixes(const cpu_ctx *c, const ld_bf16 *h, const float *fn, int m, int len, int nmix, float norm_eps) {
    float *xf = aligned_alloc(64, (sizeof(float) * (size_t)m * len + 63) & ~(size_t)63);
    float *mix = malloc(sizeof(float) * (size_t)m * nmix), *rs = malloc(sizeof(float) * (size_t)m);
    if (!xf || !mix || !rs) {
        free(xf);
        free(mix);
        free(rs);
        ld_set_error("out of memory in the hyper-connection mixes");
        return NULL;
    }
    /* rows are long (hc * dim) and independent: prepared in parallel */
    mixin_job P = {.c = c, .h = h, .xf = xf, .rs = rs, .eps = norm_eps, .len = len};
    ld_threadpool_run(c->pool, m, mixin_task, &P);
    ld_weight w = {.fmt = LD_WF_F32, .n = nmix, .k = len, .data = fn};
    cpu_run_tiles(c, &w, xf, m, mix);
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

int cpu_hc_pre(ld_backend *be, const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m, int d,
               int hc, int iters, float norm_eps, float hc_eps, ld_bf16 *y, float *post, float *comb) {
    const cpu_ctx *c = cpu_of(be);
    int nmix = (2 + hc) * hc;
    float *mix = hc_mixes(c, h, fn, m, hc * d, nmix, norm_eps);
    if (!mix) return -1;
    hc_job J = {.h = h, .mix = mix, .scale = scale, .base = base, .m = m, .d = d, .hc = hc, .iters = iters,
                .nmix = nmix, .hc_eps = hc_eps, .y = y, .post_out = post, .comb_out = comb};
    ld_threadpool_run(c->pool, (m + ROWS_PER_TASK - 1) / ROWS_PER_TASK, pre_task, &J);
    free(mix);
    return 0;
}

int cpu_hc_head(ld_backend *be, const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m, int d,
                int hc, float norm_eps, float hc_eps, ld_bf16 *y) {
    const cpu_ctx *c = cpu_of(be);
    float *mix = hc_mixes(c, h, fn, m, hc * d, hc, norm_eps);
    if (!mix) return -1;
    hc_job J = {.h = h, .mix = mix, .scale = scale, .base = base, .m = m, .d = d, .hc = hc, .nmix = hc,
                .hc_eps = hc_eps, .y = y};
    ld_threadpool_run(c->pool, (m + ROWS_PER_TASK - 1) / ROWS_PER_TASK, pre_task, &J);
    free(mix);
    return 0;
}
