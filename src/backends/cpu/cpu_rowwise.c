/* Element- and row-wise ops of the cpu backend: the reference code itself,
 * run on slices spread over the thread pool. Each element or row depends on
 * nothing outside its slice, so the bits are the reference's whatever the
 * split; only the wall time changes (these ran on one core while the other
 * idled, several percent of a prefill). */
#include "backends/cpu/cpu.h"
#include "backends/ref/ref.h"
#include "core/threadpool.h"

/* Slices smaller than this are not worth a thread hand-off. */
#define MIN_SLICE 8192

static int n_slices(const cpu_ctx *c, long items, long cost_per_item) {
    long work = items * cost_per_item, s = work / MIN_SLICE;
    int t = ld_threadpool_size(c->pool) * 4;
    if (s > t) s = t;
    if (s > items) s = items;
    return s < 1 ? 1 : (int)s;
}

static void slice(long items, int task, int n_tasks, long *i0, long *i1) {
    *i0 = items * task / n_tasks;
    *i1 = items * (task + 1) / n_tasks;
}

typedef struct {
    const cpu_ctx *c;
    const ld_bf16 *g, *u, *x, *w;
    ld_bf16 *out;
    long n;
    int d;
    float limit, weight, eps;
} rw_job;

static void swiglu_task(void *ctx, int task, int n_tasks) {
    const rw_job *J = ctx;
    long i0, i1;
    slice(J->n, task, n_tasks, &i0, &i1);
    cpu_swiglu_rows(J->c, J->g + i0, J->u + i0, i1 - i0, J->limit, J->weight, J->out + i0);
}

int cpu_swiglu(ld_backend *be, const ld_bf16 *g, const ld_bf16 *u, int n, float limit, float weight, ld_bf16 *out) {
    const cpu_ctx *c = cpu_of(be);
    rw_job J = {.c = c, .g = g, .u = u, .out = out, .n = n, .limit = limit, .weight = weight};
    ld_threadpool_run(c->pool, n_slices(c, n, 16), swiglu_task, &J);
    return 0;
}

static void rmsnorm_task(void *ctx, int task, int n_tasks) {
    const rw_job *J = ctx;
    long r0, r1;
    slice(J->n, task, n_tasks, &r0, &r1);
    ld_ref_rmsnorm(J->x + r0 * J->d, J->w, (int)(r1 - r0), J->d, J->eps, J->out + r0 * J->d);
}

int cpu_rmsnorm(ld_backend *be, const ld_bf16 *x, const ld_bf16 *w, int m, int n, float eps, ld_bf16 *y) {
    const cpu_ctx *c = cpu_of(be);
    rw_job J = {.c = c, .x = x, .w = w, .out = y, .n = m, .d = n, .eps = eps};
    ld_threadpool_run(c->pool, n_slices(c, m, n), rmsnorm_task, &J);
    return 0;
}

static void head_rmsnorm_task(void *ctx, int task, int n_tasks) {
    const rw_job *J = ctx;
    long h0, h1;
    slice(J->n, task, n_tasks, &h0, &h1);
    ld_ref_head_rmsnorm(J->out + h0 * J->d, (int)(h1 - h0), J->d, J->eps);
}

int cpu_head_rmsnorm(ld_backend *be, ld_bf16 *q, int n_heads, int head_dim, float eps) {
    const cpu_ctx *c = cpu_of(be);
    rw_job J = {.c = c, .out = q, .n = n_heads, .d = head_dim, .eps = eps};
    ld_threadpool_run(c->pool, n_slices(c, n_heads, head_dim), head_rmsnorm_task, &J);
    return 0;
}
