/* cpu w8a8 linears (backends/w8a8.h): the activations quantized once per
 * call, then integer kernels over tasks of output rows.
 *
 * FP4_I8 activations go into the order of the weight's superblocks: for
 * superblock t, chunk c, nibble h (0 low, 1 high), byte 4i + b is element
 * 32(16t + i) + 8c + 2b + h, so a chunk's low (high) nibbles meet their
 * activations lane for lane. Groups a short last superblock lacks are zero,
 * which is why every superblock takes a full 512 bytes there. */
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu.h"
#include "backends/w8a8.h"
#include "core/error.h"
#include "core/threadpool.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

#define TASK_ROWS 64 /* output rows per task: 256 KB of int8 at k = 4096 stays in L2 while x passes */

static long superblocks(long k) { return (k + LD_FP4I8_SB - 1) / LD_FP4I8_SB; }

static void permute_fp4(const int8_t *q, long k, int8_t *xp, int32_t *corr) {
    long groups = k / 32, nsb = superblocks(k);
    memset(xp, 0, (size_t)(nsb * LD_FP4I8_SB));
    memset(corr, 0, sizeof(int32_t) * (size_t)(nsb * 16));
    for (long g = 0; g < groups; g++) {
        long t = g / 16, i = g % 16;
        int32_t sum = 0;
        for (int e = 0; e < 32; e++) {
            int c = e / 8, b = (e % 8) / 2, h = e % 2;
            xp[t * LD_FP4I8_SB + c * 128 + h * 64 + 4 * i + b] = q[g * 32 + e];
            sum += q[g * 32 + e];
        }
        corr[g] = -12 * sum;
    }
}

void cpu_w8a8_prep(const float *x, long k, float *s, int8_t *q, int8_t *xp, int32_t *corr) {
    *s = ld_w8a8_quant_row(x, k, q);
    if (xp) {
        permute_fp4(q, k, xp, corr);
        return;
    }
    int32_t sum = 0;
    for (long i = 0; i < k; i++) sum += q[i];
    corr[0] = -128 * sum;
}

typedef struct {
    const cpu_ctx *c;
    const ld_weight *w;
    cpu_qx x;
    int m;
    float *y;
    ld_bf16 *yb;
} w8_job;

static void w8_task(void *ctx, int task, int n_tasks) {
    (void)n_tasks;
    const w8_job *J = ctx;
    const ld_weight *w = J->w;
    int n0 = task * TASK_ROWS, n1 = n0 + TASK_ROWS < w->n ? n0 + TASK_ROWS : w->n;
    cpu_w8a8_fn fn = w->fmt == LD_WF_I8 ? J->c->w8a8->i8 : J->c->w8a8->fp4i8;
    /* the task's weight rows stay in L2 while the activation rows pass in
       tiles of CPU_MR */
    for (int r = 0; r < J->m; r += CPU_MR) {
        cpu_qx x = J->x;
        x.q += r * x.ldq;
        x.xp = x.xp ? x.xp + r * x.ldp : NULL;
        x.corr += r * x.ldc;
        x.s += r;
        fn(&x, J->m - r < CPU_MR ? J->m - r : CPU_MR, w, n0, n1, J->y + (long)r * w->n + n0, w->n);
    }
    for (long r = 0; r < J->m; r++)
        cpu_bf16_rows(J->c, J->y + r * w->n + n0, n1 - n0, J->yb + r * w->n + n0);
}

static size_t up64(size_t b) { return (b + 63) & ~(size_t)63; }

int cpu_linear_w8a8(const cpu_ctx *c, const ld_weight *w, const ld_bf16 *x, int m, ld_bf16 *y) {
    long k = w->k, fp4 = w->fmt == LD_WF_FP4_I8;
    long ldq = (long)up64((size_t)k), ldp = fp4 ? superblocks(k) * LD_FP4I8_SB : 0;
    long ldc = fp4 ? superblocks(k) * 16 : 16;
    size_t mm = (size_t)m;
    size_t b_xf = up64(sizeof(float) * (size_t)k), b_q = mm * (size_t)ldq, b_p = mm * (size_t)ldp;
    size_t b_c = up64(sizeof(int32_t) * mm * (size_t)ldc), b_s = up64(sizeof(float) * mm);
    size_t b_y = sizeof(float) * mm * (size_t)w->n;
    char *buf = (char *)cpu_scratch(CPU_SCR_ACT, (b_xf + b_q + b_p + b_c + b_s + b_y) / sizeof(float) + 1);
    if (!buf) return ld_set_error("out of memory for a %d x %d linear over %d rows", w->n, w->k, m);
    float *xf = (float *)buf, *s = (float *)(buf + b_xf + b_q + b_p + b_c), *yf = (float *)((char *)s + b_s);
    int8_t *q = (int8_t *)(buf + b_xf), *xp = (int8_t *)(buf + b_xf + b_q);
    int32_t *corr = (int32_t *)(buf + b_xf + b_q + b_p);
    for (long r = 0; r < m; r++) {
        cpu_widen_rows(c, x + r * k, k, xf);
        c->w8a8->prep(xf, k, s + r, q + r * ldq, fp4 ? xp + r * ldp : NULL, corr + r * ldc);
    }
    w8_job J = {.c = c, .w = w, .m = m, .y = yf, .yb = y,
                .x = {.q = q, .xp = fp4 ? xp : NULL, .corr = corr, .s = s, .ldq = ldq, .ldp = ldp, .ldc = ldc}};
    ld_threadpool_run(c->pool, (w->n + TASK_ROWS - 1) / TASK_ROWS, w8_task, &J);
    return 0;
}

const cpu_w8a8_kernels *cpu_w8a8_for(const char *isa) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    int avx512 = !strcmp(isa, "avx512") || !strcmp(isa, "avx512bf16");
    if (avx512 && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vbmi"))
        return &cpu_w8a8_vnni;
    if (avx512 || !strcmp(isa, "avx2")) return &cpu_w8a8_avx2;
#elif defined(__aarch64__) && defined(__linux__)
    /* FEAT_DotProd is optional before ARMv8.4, whatever the path: Linux's
       HWCAP_ASIMDDP (bit 20, spelled out for older headers) */
    if ((!strcmp(isa, "neon") || !strcmp(isa, "asimdfhm") || !strcmp(isa, "sve256")) &&
        (getauxval(AT_HWCAP) & (1ul << 20)))
        return &cpu_w8a8_dotprod;
#endif
    (void)isa;
    return &cpu_w8a8_scalar;
}
