/* Internals of the OpenCL backend, shared between its files. */
#ifndef LADDER_BACKENDS_OPENCL_OCL_H
#define LADDER_BACKENDS_OPENCL_OCL_H

#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>

#include "backends/backend.h"

/* Kernels, one cl_kernel each per instance. */
#define OCL_KERNELS(X)                                                                                         \
    X(quant_act) X(linear) X(rmsnorm) X(head_rmsnorm) X(rope) X(hadamard) X(hc_finish) X(hc_post)              \
    X(compress_pool) X(swiglu) X(embed) X(copy_rows) X(widen) X(scale_bf16) X(quant_sim) X(fill_f32)           \
    X(add_round) X(indexer_scores) X(topk) X(attend) X(compress_run) X(moe_route) X(moe_group)

typedef enum {
#define OCL_K_ENUM(n) OCL_K_##n,
    OCL_KERNELS(OCL_K_ENUM)
#undef OCL_K_ENUM
    OCL_K_COUNT
} ocl_kid;

/* Instance scratch: device buffers grown on demand, contents not kept. */
typedef enum { SCR_CODES, SCR_ASCALE, SCR_CODES2, SCR_ASCALE2, SCR_G, SCR_U, SCR_Y, SCR_YE, SCR_GRP, SCR_RW,
               SCR_MIX, SCR_RMS, SCR_SCORES, SCR_COUNT } ocl_scr;

typedef struct {
    cl_mem mem;
    size_t bytes;
} ocl_slot;

typedef struct {
    cl_context ctx;
    cl_device_id dev;
    cl_command_queue q;
    cl_program prog;
    cl_kernel k[OCL_K_COUNT];
    size_t wg;               /* work-group size the program was built for */
    cl_ulong local_bytes, max_alloc;
    char desc[256];
    ocl_slot *slots;         /* device address (i+1) << 40 is slots[i] */
    int nslots;
    cl_mem dummy;            /* bound where an optional buffer is absent */
    void *scr[SCR_COUNT];
    size_t scr_bytes[SCR_COUNT];
} ocl_ctx;

#define OCL_ADDR_SHIFT 40

const char *ocl_err_name(cl_int e);
void *ocl_alloc(ld_backend *be, size_t bytes);
void ocl_free(ld_backend *be, void *p);
int ocl_upload(ld_backend *be, void *dst, const void *src, size_t bytes);
/* A device address of at least bytes for scratch slot s, or NULL (error set). */
void *ocl_scratch(ocl_ctx *c, ocl_scr s, size_t bytes);

/* One kernel launch: arguments in order, then run. An absent buffer (NULL)
 * binds a dummy buffer at offset 0. Errors are kept until ocl_run. */
typedef struct {
    ocl_ctx *c;
    cl_kernel k;
    cl_uint n;
    cl_int err;
    const char *what;
} ocl_call;

void ocl_begin(ocl_call *a, ocl_ctx *c, ocl_kid k);
void ocl_buf(ocl_call *a, const void *addr);
void ocl_int(ocl_call *a, int v);
void ocl_long(ocl_call *a, long v);
void ocl_float(ocl_call *a, float v);
void ocl_local(ocl_call *a, size_t bytes);
/* Global g0 x g1 x g2 work-items (g0 a multiple of l0 when l0 > 0; l0 = 0
 * lets the runtime choose); an empty range launches nothing. */
int ocl_run(ocl_call *a, const char *op, size_t g0, size_t g1, size_t g2, size_t l0);

/* Linear on device buffers (ocl_linear.c), shared with moe_experts. x is
 * bf16 (xkind 0), fp32 (1) or already FP8 codes with per-128 scales xs (2);
 * FP8/FP4 weights quantize a bf16 x first. list/grp/e/E: the expert row
 * lists of the linear kernel (list 0: dense m rows). */
int ocl_linear_run(ocl_ctx *c, const ld_weight *w, const void *x, int xkind, const void *xs, int m, void *y,
                   int ykind, int list, const void *grp, int e, int E, const char *op);
/* FP8 codes and scales of the rows of x [m, k] (rows < count of expert e
 * when e >= 0). */
int ocl_quant_act(ocl_ctx *c, const void *x, int k, int m, const void *grp, int e, int E, void *codes, void *scales,
                  const char *op);

#define OCL_CTX(be) ((ocl_ctx *)(be)->ctx)

/* Ops of the table, by file. */
int ocl_op_linear(ld_backend *be, const ld_weight *w, const ld_bf16 *x, int m, ld_bf16 *y);
int ocl_op_linear_f32(ld_backend *be, const ld_weight *w, const float *x, int m, float *y);
int ocl_op_rmsnorm(ld_backend *be, const ld_bf16 *x, const ld_bf16 *w, int m, int n, float eps, ld_bf16 *y);
int ocl_op_head_rmsnorm(ld_backend *be, ld_bf16 *q, int n_heads, int head_dim, float eps);
int ocl_op_rope(ld_backend *be, ld_bf16 *x, int rows, long row_stride, int n_vec, int vec_stride, const float *cs,
                int n_pairs, int inverse);
int ocl_op_hadamard(ld_backend *be, ld_bf16 *x, int m, int n);
int ocl_op_hc_pre(ld_backend *be, const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m,
                  int d, int hc, int iters, float norm_eps, float hc_eps, ld_bf16 *y, float *post, float *comb);
int ocl_op_hc_post(ld_backend *be, const ld_bf16 *x, const ld_bf16 *res, const float *post, const float *comb, int m,
                   int d, int hc, ld_bf16 *out);
int ocl_op_hc_head(ld_backend *be, const ld_bf16 *h, const float *fn, const float *scale, const float *base, int m,
                   int d, int hc, float norm_eps, float hc_eps, ld_bf16 *y);
int ocl_op_compress_pool(ld_backend *be, const float *kv, const float *score, int rows, int d, int ld, float *out);
int ocl_op_indexer_scores(ld_backend *be, const ld_bf16 *q, const ld_bf16 *w, int h, int d, const ld_bf16 *keys,
                          int n, float *out);
int ocl_op_topk(ld_backend *be, const float *s, int n, int k, int *idx);
int ocl_op_swiglu(ld_backend *be, const ld_bf16 *g, const ld_bf16 *u, int n, float limit, float weight,
                  ld_bf16 *out);
int ocl_op_embed(ld_backend *be, const ld_bf16 *table, const int *ids, int rows, int d, int copies, ld_bf16 *h);
int ocl_op_copy_rows(ld_backend *be, void *dst, size_t dst_pitch, const void *src, size_t src_pitch, size_t bytes,
                     int rows);
int ocl_op_widen(ld_backend *be, const ld_bf16 *x, long n, float *y);
int ocl_op_scale_bf16(ld_backend *be, ld_bf16 *x, long n, float s);
int ocl_op_quant_sim(ld_backend *be, ld_bf16 *x, int rows, long stride, int n, int block, int fp4);
int ocl_op_attend(ld_backend *be, const ld_attend_args *a);
int ocl_op_compress(ld_backend *be, const ld_compress_args *a);
int ocl_op_indexer_select(ld_backend *be, const ld_select_args *a);
int ocl_op_moe_route(ld_backend *be, const ld_route_args *a);
int ocl_op_moe_experts(ld_backend *be, const ld_moe_args *a);

#endif
