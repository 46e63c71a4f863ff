/* The cpu backend table: SIMD linears, attention, indexer and
 * hyper-connection ops with runtime ISA dispatch and a thread pool; the
 * remaining (cheap) slots and the composites are the ref implementation
 * (BLIS-style: reference first, then override what is accelerated).
 *
 * Each instance has its own ISA path (avx512, avx2, scalar; default: best
 * available) and thread pool (default: all online CPUs). Only the constant
 * decode tables are shared. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/cpu/cpu.h"
#include "backends/cpu/cpu_api.h"
#include "backends/ref/ref.h"
#include "core/error.h"
#include "core/threadpool.h"

float cpu_e8m0[256];
_Alignas(64) float cpu_fp4_tab[256][16];

static void tables_once(void) {
    for (int i = 0; i < 256; i++) {
        cpu_e8m0[i] = ld_e8m0_to_f32((uint8_t)i);
        for (int c = 0; c < 16; c++) cpu_fp4_tab[i][c] = ld_fp4_to_f32((uint8_t)c) * cpu_e8m0[i];
    }
}

void cpu_tables_init(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, tables_once);
}

static int have(const char *isa) {
    __builtin_cpu_init();
    if (!strcmp(isa, "avx512")) return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
    if (!strcmp(isa, "avx2")) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return !strcmp(isa, "scalar");
}

const char *ld_cpu_best_isa(void) { return have("avx512") ? "avx512" : have("avx2") ? "avx2" : "scalar"; }

int ld_cpu_isa_usable(const char *isa) {
    return isa && (!strcmp(isa, "avx512") || !strcmp(isa, "avx2") || !strcmp(isa, "scalar")) && have(isa);
}

static int create(ld_backend *be, const ld_backend_opts *o) {
    const char *isa = o->isa && *o->isa ? o->isa : ld_cpu_best_isa();
    const cpu_kernels *k;
    if (!strcmp(isa, "avx512")) k = &cpu_kernels_avx512;
    else if (!strcmp(isa, "avx2")) k = &cpu_kernels_avx2;
    else if (!strcmp(isa, "scalar")) k = &cpu_kernels_scalar;
    else return ld_set_error("unknown cpu ISA path '%s' (avx512, avx2, scalar)", isa);
    if (!have(isa)) return ld_set_error("this CPU cannot run the %s path", isa);
    int threads = o->threads;
    if (threads < 0) return ld_set_error("thread count %d is negative", threads);
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    cpu_tables_init();
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!c) return ld_set_error("out of memory");
    c->kern = k;
    c->vec = cpu_vec_for(k->name);
    c->threads = threads;
    c->pool = ld_threadpool_create(threads);
    if (!c->pool) {
        free(c);
        return ld_set_error("cannot start %d threads", threads);
    }
    be->ctx = c;
    return 0;
}

static void destroy(ld_backend *be) {
    cpu_ctx *c = be->ctx;
    if (!c) return;
    ld_threadpool_destroy(c->pool);
    free(c);
    be->ctx = NULL;
}

static void describe(ld_backend *be, char *buf, size_t len) {
    const cpu_ctx *c = cpu_of(be);
    snprintf(buf, len, "cpu / %s, %d threads", c->kern->name, c->threads);
}

const char *ld_cpu_instance_isa(const ld_backend *be) { return cpu_of(be)->kern->name; }
int ld_cpu_instance_threads(const ld_backend *be) { return cpu_of(be)->threads; }

const ld_backend_ops ld_backend_cpu_ops = {
    .name = "cpu",
    .description = "x86 AVX-512 / AVX2 / scalar with threads; deterministic fixed-order fp32 accumulation",
    .mem = LD_MEM_HOST,
    .create = create,
    .destroy = destroy,
    .describe = describe,
    .linear = cpu_linear,
    .linear_f32 = cpu_linear_f32,
    .rmsnorm = cpu_rmsnorm,
    .head_rmsnorm = cpu_head_rmsnorm,
    .rope = ld_ref_rope_rows,
    .hadamard = ld_ref_hadamard_op,
    .hc_pre = cpu_hc_pre,
    .hc_post = cpu_hc_post,
    .hc_head = cpu_hc_head,
    .sparse_attn = cpu_sparse_attn,
    .compress_pool = ld_ref_compress_pool_op,
    .indexer_scores = cpu_indexer_scores,
    .topk = ld_ref_topk_op,
    .swiglu = cpu_swiglu,
    .embed = ld_host_embed,
    .copy_rows = ld_host_copy_rows,
    .widen = cpu_widen,
    .scale_bf16 = ld_host_scale_bf16,
    .quant_sim = ld_host_quant_sim,
    .attend = ld_host_attend,
    .compress = ld_host_compress,
    .indexer_select = ld_host_indexer_select,
    .moe_route = ld_host_moe_route,
    .moe_experts = ld_host_moe_experts,
};
