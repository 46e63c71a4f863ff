/* Norms, RoPE, Hadamard, hyper-connections and the data-movement ops: one
 * launch each (hc_pre/hc_head: the mixes as an fp32 linear, then one finish
 * kernel). Constants that ref forms in double (1/n, n^-0.5) are formed here
 * the same way and passed in. */
#include <math.h>

#include "backends/opencl/ocl.h"
#include "core/error.h"

static int rms_run(ocl_ctx *c, const void *x, const void *w, void *y, void *rs, int m, int n, float eps,
                   const char *op) {
    ocl_call a;
    ocl_begin(&a, c, OCL_K_rmsnorm);
    ocl_buf(&a, x);
    ocl_buf(&a, w);
    ocl_buf(&a, y);
    ocl_buf(&a, rs);
    ocl_int(&a, n);
    ocl_float(&a, (float)(1.0 / n));
    ocl_float(&a, eps);
    ocl_int(&a, rs != NULL);
    return ocl_run(&a, op, (size_t)m * c->wg, 1, 1, c->wg);
}

int ocl_op_rmsnorm(ld_backend *be, const ld_bf16 *x, const ld_bf16 *w, int m, int n, float eps, ld_bf16 *y) {
    return rms_run(OCL_CTX(be), x, w, y, NULL, m, n, eps, "rmsnorm");
}

int ocl_op_head_rmsnorm(ld_backend *be, ld_bf16 *q, int n_heads, int head_dim, float eps) {
    ocl_ctx *c = OCL_CTX(be);
    ocl_call a;
    ocl_begin(&a, c, OCL_K_head_rmsnorm);
    ocl_buf(&a, q);
    ocl_int(&a, head_dim);
    ocl_float(&a, (float)(1.0 / head_dim));
    ocl_float(&a, eps);
    return ocl_run(&a, "head_rmsnorm", (size_t)n_heads * c->wg, 1, 1, c->wg);
}

int ocl_op_rope(ld_backend *be, ld_bf16 *x, int rows, long row_stride, int n_vec, int vec_stride, const float *cs,
                int n_pairs, int inverse) {
    ocl_call a;
    ocl_begin(&a, OCL_CTX(be), OCL_K_rope);
    ocl_buf(&a, x);
    ocl_buf(&a, cs);
    ocl_long(&a, row_stride);
    ocl_int(&a, vec_stride);
    ocl_int(&a, n_pairs);
    ocl_int(&a, inverse);
    return ocl_run(&a, "rope", (size_t)n_pairs, (size_t)n_vec, (size_t)rows, 0);
}

int ocl_op_hadamard(ld_backend *be, ld_bf16 *x, int m, int n) {
    ocl_ctx *c = OCL_CTX(be);
    if (n & (n - 1)) return ld_set_error("opencl hadamard: n = %d is not a power of two", n);
    ocl_call a;
    ocl_begin(&a, c, OCL_K_hadamard);
    ocl_buf(&a, x);
    ocl_int(&a, n);
    ocl_float(&a, (float)(1.0 / sqrt((double)n)));
    ocl_local(&a, sizeof(float) * (size_t)n);
    return ocl_run(&a, "hadamard", (size_t)m * c->wg, 1, 1, c->wg);
}

/* The mixes: nmix fp32 dots of each row's hc*d stream concat with fn (a
 * weight [nmix, hc*d]), and rsqrt(mean(x^2)+eps) of the row. */
static int hc_run(ocl_ctx *c, const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m,
                  int d, int hc, int nmix, int iters, float norm_eps, float hc_eps, ld_bf16 *y, float *post,
                  float *comb, const char *op) {
    if (hc > 16) return ld_set_error("opencl %s: hc = %d exceeds 16", op, hc);
    void *dots = ocl_scratch(c, SCR_MIX, sizeof(float) * (size_t)m * nmix);
    void *rs = ocl_scratch(c, SCR_RMS, sizeof(float) * (size_t)m);
    if (!dots || !rs) return ld_wrap_error("opencl %s", op);
    ld_weight w = {.fmt = LD_WF_F32, .n = nmix, .k = hc * d, .data = fn};
    if (ocl_linear_run(c, &w, h, 0, NULL, m, dots, 1, 0, NULL, -1, 0, op)) return -1;
    if (rms_run(c, h, NULL, NULL, rs, m, hc * d, norm_eps, op)) return -1;
    ocl_call a;
    ocl_begin(&a, c, OCL_K_hc_finish);
    ocl_buf(&a, dots);
    ocl_buf(&a, rs);
    ocl_buf(&a, scale);
    ocl_buf(&a, base);
    ocl_buf(&a, h);
    ocl_buf(&a, y);
    ocl_buf(&a, post);
    ocl_buf(&a, comb);
    ocl_int(&a, d);
    ocl_int(&a, hc);
    ocl_int(&a, nmix);
    ocl_int(&a, iters);
    ocl_float(&a, hc_eps);
    ocl_int(&a, post == NULL);
    return ocl_run(&a, op, (size_t)m * c->wg, 1, 1, c->wg);
}

int ocl_op_hc_pre(ld_backend *be, const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m,
                  int d, int hc, int iters, float norm_eps, float hc_eps, ld_bf16 *y, float *post, float *comb) {
    return hc_run(OCL_CTX(be), h, fn, scale, base, m, d, hc, (2 + hc) * hc, iters, norm_eps, hc_eps, y, post, comb,
                  "hc_pre");
}

int ocl_op_hc_head(ld_backend *be, const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m,
                   int d, int hc, float norm_eps, float hc_eps, ld_bf16 *y) {
    return hc_run(OCL_CTX(be), h, fn, scale, base, m, d, hc, hc, 0, norm_eps, hc_eps, y, NULL, NULL, "hc_head");
}

int ocl_op_hc_post(ld_backend *be, const ld_bf16 *x, const ld_bf16 *res, const float *post, const float *comb, int m,
                   int d, int hc, ld_bf16 *out) {
    ocl_call a;
    ocl_begin(&a, OCL_CTX(be), OCL_K_hc_post);
    ocl_buf(&a, x);
    ocl_buf(&a, res);
    ocl_buf(&a, post);
    ocl_buf(&a, comb);
    ocl_buf(&a, out);
    ocl_int(&a, d);
    ocl_int(&a, hc);
    return ocl_run(&a, "hc_post", (size_t)d, (size_t)hc, (size_t)m, 0);
}

int ocl_op_compress_pool(ld_backend *be, const float *kv, const float *score, int rows, int d, int ld, float *out) {
    ocl_call a;
    ocl_begin(&a, OCL_CTX(be), OCL_K_compress_pool);
    ocl_buf(&a, kv);
    ocl_buf(&a, score);
    ocl_buf(&a, out);
    ocl_int(&a, rows);
    ocl_int(&a, ld);
    return ocl_run(&a, "compress_pool", (size_t)d, 1, 1, 0);
}

int ocl_op_embed(ld_backend *be, const ld_bf16 *table, const int *ids, int rows, int d, int copies, ld_bf16 *h) {
    ocl_call a;
    ocl_begin(&a, OCL_CTX(be), OCL_K_embed);
    ocl_buf(&a, table);
    ocl_buf(&a, ids);
    ocl_buf(&a, h);
    ocl_int(&a, d);
    ocl_int(&a, copies);
    return ocl_run(&a, "embed", (size_t)d, (size_t)copies, (size_t)rows, 0);
}

int ocl_op_copy_rows(ld_backend *be, void *dst, size_t dst_pitch, const void *src, size_t src_pitch, size_t bytes,
                     int rows) {
    int unit = (((uintptr_t)dst | (uintptr_t)src | dst_pitch | src_pitch | bytes) & 3) ? 1 : 4;
    ocl_call a;
    ocl_begin(&a, OCL_CTX(be), OCL_K_copy_rows);
    ocl_buf(&a, dst);
    ocl_buf(&a, src);
    ocl_long(&a, (long)dst_pitch);
    ocl_long(&a, (long)src_pitch);
    ocl_int(&a, unit);
    return ocl_run(&a, "copy_rows", bytes / (size_t)unit, (size_t)rows, 1, 0);
}

int ocl_op_widen(ld_backend *be, const ld_bf16 *x, long n, float *y) {
    ocl_call a;
    ocl_begin(&a, OCL_CTX(be), OCL_K_widen);
    ocl_buf(&a, x);
    ocl_buf(&a, y);
    return ocl_run(&a, "widen", (size_t)n, 1, 1, 0);
}

int ocl_op_scale_bf16(ld_backend *be, ld_bf16 *x, long n, float s) {
    ocl_call a;
    ocl_begin(&a, OCL_CTX(be), OCL_K_scale_bf16);
    ocl_buf(&a, x);
    ocl_float(&a, s);
    return ocl_run(&a, "scale_bf16", (size_t)n, 1, 1, 0);
}

int ocl_op_quant_sim(ld_backend *be, ld_bf16 *x, int rows, long stride, int n, int block, int fp4) {
    if (block <= 0 || n % block) return ld_set_error("opencl quant_sim: n = %d is not a multiple of %d", n, block);
    ocl_call a;
    ocl_begin(&a, OCL_CTX(be), OCL_K_quant_sim);
    ocl_buf(&a, x);
    ocl_long(&a, stride);
    ocl_int(&a, block);
    ocl_int(&a, fp4);
    return ocl_run(&a, "quant_sim", (size_t)(n / block), (size_t)rows, 1, 0);
}
