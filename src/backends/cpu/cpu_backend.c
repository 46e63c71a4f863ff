/* The cpu backend table: SIMD linears, attention, indexer and
 * hyper-connection ops with runtime ISA dispatch and a thread pool; the
 * remaining (cheap) slots are the ref implementation (BLIS-style: reference
 * first, then override what is accelerated).
 *
 * Configuration lives in this module (ld_cpu_configure): the ISA path
 * (avx512, avx2, scalar; default: best available) and the thread count
 * (default: all online CPUs). */
#include <string.h>
#include <unistd.h>

#include "backends/cpu/cpu.h"
#include "backends/cpu/cpu_api.h"
#include "backends/ref/ref.h"
#include "core/error.h"
#include "core/threadpool.h"

void cpu_linear(const ld_weight *w, const ld_bf16 *x, int m, ld_bf16 *y);
void cpu_swiglu(const ld_bf16 *g, const ld_bf16 *u, int n, float limit, float weight, ld_bf16 *out);
void cpu_rmsnorm(const ld_bf16 *x, const ld_bf16 *w, int m, int n, float eps, ld_bf16 *y);
void cpu_head_rmsnorm(ld_bf16 *q, int n_heads, int head_dim, float eps);
void cpu_linear_f32(const ld_weight *w, const float *x, int m, float *y);
void cpu_sparse_attn(const ld_bf16 *q, int h, int d, const ld_bf16 *const *kv, int n, const float *sink, float scale,
                     ld_bf16 *out);
void cpu_indexer_scores(const ld_bf16 *q, const ld_bf16 *w, int h, int d, const ld_bf16 *keys, int n, float *out);
void cpu_hc_pre(const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m, int d, int hc,
                int iters, float norm_eps, float hc_eps, ld_bf16 *y, float *post, float *comb);
void cpu_hc_post(const ld_bf16 *x, const ld_bf16 *res, const float *post, const float *comb, int m, int d, int hc,
                 ld_bf16 *out);
void cpu_hc_head(const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m, int d, int hc,
                 float norm_eps, float hc_eps, ld_bf16 *y);

float cpu_e8m0[256];
_Alignas(64) float cpu_fp4_tab[256][16];
static const cpu_kernels *g_kern;
static ld_threadpool *g_pool;
static int g_threads;

void cpu_tables_init(void) {
    for (int i = 0; i < 256; i++) {
        cpu_e8m0[i] = ld_e8m0_to_f32((uint8_t)i);
        for (int c = 0; c < 16; c++) cpu_fp4_tab[i][c] = ld_fp4_to_f32((uint8_t)c) * cpu_e8m0[i];
    }
}

static int have(const char *isa) {
    __builtin_cpu_init();
    if (!strcmp(isa, "avx512")) return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    if (!strcmp(isa, "avx2")) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return !strcmp(isa, "scalar");
}

int ld_cpu_configure(const char *isa, int threads) {
    const cpu_kernels *k;
    if (!isa || !*isa) isa = have("avx512") ? "avx512" : have("avx2") ? "avx2" : "scalar";
    if (!strcmp(isa, "avx512")) k = &cpu_kernels_avx512;
    else if (!strcmp(isa, "avx2")) k = &cpu_kernels_avx2;
    else if (!strcmp(isa, "scalar")) k = &cpu_kernels_scalar;
    else return ld_set_error("unknown cpu ISA path '%s' (avx512, avx2, scalar)", isa);
    if (!have(isa)) return ld_set_error("this CPU cannot run the %s path", isa);
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    cpu_tables_init();
    if (threads != g_threads) {
        ld_threadpool_destroy(g_pool);
        g_pool = ld_threadpool_create(threads);
        if (!g_pool) return ld_set_error("cannot start %d threads", threads);
        g_threads = threads;
    }
    g_kern = k;
    return 0;
}

const char *ld_cpu_isa(void) { return g_kern ? g_kern->name : "unconfigured"; }
int ld_cpu_threads(void) { return g_threads; }

const cpu_kernels *cpu_active(void) {
    if (!g_kern) ld_cpu_configure(NULL, 0);
    return g_kern;
}

struct ld_threadpool *cpu_pool(void) {
    if (!g_kern) ld_cpu_configure(NULL, 0);
    return g_pool;
}

const ld_backend_ops ld_backend_cpu_ops = {
    .name = "cpu",
    .description = "x86 AVX-512 / AVX2 / scalar with threads; deterministic fixed-order fp32 accumulation",
    .probe = 0,
    .linear = cpu_linear,
    .linear_f32 = cpu_linear_f32,
    .rmsnorm = cpu_rmsnorm,
    .head_rmsnorm = cpu_head_rmsnorm,
    .rope = ld_ref_rope,
    .hadamard = ld_ref_hadamard,
    .hc_pre = cpu_hc_pre,
    .hc_post = cpu_hc_post,
    .hc_head = cpu_hc_head,
    .sparse_attn = cpu_sparse_attn,
    .compress_pool = ld_ref_compress_pool,
    .indexer_scores = cpu_indexer_scores,
    .topk = ld_ref_topk,
    .swiglu = cpu_swiglu,
};
