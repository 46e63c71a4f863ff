/* The cpu backend table: SIMD linears, attention, indexer and
 * hyper-connection ops with runtime ISA dispatch and a thread pool; the
 * remaining (cheap) slots and the composites are the ref implementation
 * (BLIS-style: reference first, then override what is accelerated).
 *
 * Each instance has its own ISA path (cpu_isa.c; default: the best this CPU
 * runs) and thread pool (default: all online CPUs). Only the constant
 * decode tables are shared. */
#include <math.h>
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
_Alignas(64) uint8_t cpu_fp4_bf16[256][32];
_Alignas(64) uint8_t cpu_fp8_bf16[2][128];
_Alignas(64) uint16_t cpu_fp4_bf16w[256][32];

static void tables_once(void) {
    for (int i = 0; i < 256; i++) {
        cpu_e8m0[i] = ld_e8m0_to_f32((uint8_t)i);
        for (int c = 0; c < 16; c++) {
            cpu_fp4_tab[i][c] = ld_fp4_to_f32((uint8_t)c) * cpu_e8m0[i];
            uint32_t u = ld_f32_to_bits(cpu_fp4_tab[i][c]);
            cpu_fp4_bf16[i][c] = (uint8_t)(u >> 16);
            cpu_fp4_bf16[i][16 + c] = (uint8_t)(u >> 24);
            cpu_fp4_bf16w[i][c] = cpu_fp4_bf16w[i][16 + c] = (uint16_t)(u >> 16);
        }
    }
    /* what the fp16 route (kern_avx512.h dec_fp8) makes of each magnitude,
       times its 2^8: e4m3 for 0..126, and 480 for 0x7f (e4m3's NaN code) */
    for (int i = 0; i < 128; i++) {
        int e = i >> 3, m = i & 7;
        float v = e ? ldexpf(1.0f + m / 8.0f, e - 7) : ldexpf((float)m, -9);
        uint32_t u = ld_f32_to_bits(v);
        cpu_fp8_bf16[0][i] = (uint8_t)(u >> 16);
        cpu_fp8_bf16[1][i] = (uint8_t)(u >> 24);
    }
}

void cpu_tables_init(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, tables_once);
}

static int create(ld_backend *be, const ld_backend_opts *o) {
    const char *isa = o->isa && *o->isa ? o->isa : ld_cpu_best_isa();
    const cpu_kernels *k;
    const cpu_vec *v;
    if (cpu_isa_lookup(isa, &k, &v)) return ld_set_error("unknown cpu ISA path '%s' (this build has: %s)", isa, ld_cpu_isa_list());
    if (!ld_cpu_isa_usable(isa)) return ld_set_error("this CPU cannot run the %s path (it runs: %s)", isa, ld_cpu_best_isa());
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
    c->w8a8 = cpu_w8a8_for(isa);
    c->vec = v;
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
    snprintf(buf, len, "cpu / %s (w8a8 %s), %d threads", c->kern->name, c->w8a8->name, c->threads);
}

const char *ld_cpu_instance_isa(const ld_backend *be) { return cpu_of(be)->kern->name; }
int ld_cpu_instance_threads(const ld_backend *be) { return cpu_of(be)->threads; }

#if defined(__x86_64__)
#define CPU_DESCRIPTION "x86-64 AVX-512 / AVX2 / scalar with threads; deterministic fixed-order fp32 accumulation"
#elif defined(__aarch64__)
#define CPU_DESCRIPTION "aarch64 SVE-256 / NEON / scalar with threads; deterministic fixed-order fp32 accumulation"
#else
#define CPU_DESCRIPTION "portable scalar with threads; deterministic fixed-order fp32 accumulation"
#endif

const ld_backend_ops ld_backend_cpu_ops = {
    .name = "cpu",
    .description = CPU_DESCRIPTION,
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
