/* OpenCL backend: instance, memory, launches and the op table.
 *
 * Memory model. Every alloc() is one cl_mem of its own; the address handed
 * back is ((slot + 1) << 40), a value the host never dereferences, so the
 * model's pointer arithmetic (weight row slices, activation rows, cache
 * entries) produces (slot, byte offset) pairs: the upper bits name the
 * cl_mem, the lower 40 bits the offset into it. Each kernel receives a
 * buffer as `__global uchar *base` plus a `ulong` byte offset and forms its
 * typed pointers inside; no sub-buffers, so offsets need no alignment beyond
 * their element type.
 *
 * What stays resident: weights in their checkpoint formats (FP8 e4m3 and
 * FP4 e2m1 codes with their e8m0 scales, BF16, F32; decoded inside the
 * kernels), small parameters, activations, caches and compressor state; the
 * instance owns scratch buffers (quantized activations, expert row lists and
 * intermediates), grown on demand. Bytes cross only in upload/download, both
 * blocking; the queue is in order, so ops need no events.
 *
 * Determinism: reductions are fixed trees or fixed sequential orders, no
 * float atomics, and each output row is computed by the same sequence of
 * operations whatever the number of rows of the call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/opencl/ocl.h"
#include "backends/opencl/opencl_api.h"
#include "core/error.h"

extern const char ld_ocl_kernel_source[];

const char *ocl_err_name(cl_int e) {
    switch (e) {
#define E(n) case n: return #n;
        E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
        E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
        E(CL_BUILD_PROGRAM_FAILURE) E(CL_INVALID_VALUE) E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT)
        E(CL_INVALID_COMMAND_QUEUE) E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_BUILD_OPTIONS) E(CL_INVALID_PROGRAM)
        E(CL_INVALID_KERNEL_NAME) E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX) E(CL_INVALID_ARG_VALUE)
        E(CL_INVALID_ARG_SIZE) E(CL_INVALID_KERNEL_ARGS) E(CL_INVALID_WORK_DIMENSION)
        E(CL_INVALID_WORK_GROUP_SIZE) E(CL_INVALID_WORK_ITEM_SIZE) E(CL_INVALID_GLOBAL_OFFSET)
        E(CL_INVALID_EVENT_WAIT_LIST) E(CL_INVALID_OPERATION) E(CL_INVALID_BUFFER_SIZE)
        E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
        E(CL_MISALIGNED_SUB_BUFFER_OFFSET)
#undef E
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
    }
}

/* ---------------------------------------------------------- devices */

/* All GPU, accelerator and CPU devices in platform order. */
static int list_devices(cl_device_id *out, cl_device_type *types, int cap) {
    cl_platform_id plats[16];
    cl_uint np = 0;
    if (clGetPlatformIDs(16, plats, &np) != CL_SUCCESS) return 0;
    int n = 0;
    for (cl_uint p = 0; p < np && p < 16; p++) {
        cl_device_id devs[32];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_ACCELERATOR | CL_DEVICE_TYPE_CPU, 32, devs,
                           &nd) != CL_SUCCESS)
            continue;
        for (cl_uint d = 0; d < nd && d < 32 && n < cap; d++) {
            out[n] = devs[d];
            clGetDeviceInfo(devs[d], CL_DEVICE_TYPE, sizeof types[n], &types[n], NULL);
            n++;
        }
    }
    return n;
}

static int ocl_probe(void) {
    cl_device_id d[64];
    cl_device_type t[64];
    return list_devices(d, t, 64) > 0;
}

/* ---------------------------------------------------------- memory */

static cl_mem resolve(ocl_ctx *c, const void *addr, cl_ulong *off) {
    uintptr_t a = (uintptr_t)addr;
    uintptr_t slot = (a >> OCL_ADDR_SHIFT) - 1;
    *off = a & (((uintptr_t)1 << OCL_ADDR_SHIFT) - 1);
    if (!a || slot >= (uintptr_t)c->nslots || !c->slots[slot].mem || *off > c->slots[slot].bytes) return NULL;
    return c->slots[slot].mem;
}

void *ocl_alloc(ld_backend *be, size_t bytes) {
    ocl_ctx *c = OCL_CTX(be);
    if (bytes > c->max_alloc) {
        ld_set_error("opencl: allocation of %zu bytes exceeds the device's CL_DEVICE_MAX_MEM_ALLOC_SIZE (%llu)", bytes,
                     (unsigned long long)c->max_alloc);
        return NULL;
    }
    int s = 0;
    while (s < c->nslots && c->slots[s].mem) s++;
    if (s == c->nslots) {
        ocl_slot *ns = realloc(c->slots, sizeof(*ns) * (size_t)(c->nslots * 2 + 16));
        if (!ns) { ld_set_error("opencl: out of host memory for the buffer table"); return NULL; }
        memset(ns + c->nslots, 0, sizeof(*ns) * (size_t)(c->nslots + 16));
        c->slots = ns;
        c->nslots = c->nslots * 2 + 16;
    }
    cl_int err;
    cl_mem m = clCreateBuffer(c->ctx, CL_MEM_READ_WRITE, bytes ? bytes : 4, NULL, &err);
    if (err != CL_SUCCESS) {
        ld_set_error("opencl: clCreateBuffer of %zu bytes: %s", bytes, ocl_err_name(err));
        return NULL;
    }
    c->slots[s].mem = m;
    c->slots[s].bytes = bytes;
    return (void *)((uintptr_t)(s + 1) << OCL_ADDR_SHIFT);
}

void ocl_free(ld_backend *be, void *p) {
    ocl_ctx *c = OCL_CTX(be);
    cl_ulong off;
    cl_mem m = resolve(c, p, &off);
    if (!m || off) return;
    clReleaseMemObject(m);
    c->slots[((uintptr_t)p >> OCL_ADDR_SHIFT) - 1].mem = NULL;
}

static int transfer(ld_backend *be, void *dev, const void *host_src, void *host_dst, size_t bytes, const char *what) {
    ocl_ctx *c = OCL_CTX(be);
    if (!bytes) return 0;
    cl_ulong off;
    cl_mem m = resolve(c, dev, &off);
    if (!m || off + bytes > c->slots[((uintptr_t)dev >> OCL_ADDR_SHIFT) - 1].bytes)
        return ld_set_error("opencl %s: %zu bytes at %p are not inside one device buffer", what, bytes, dev);
    cl_int err = host_src ? clEnqueueWriteBuffer(c->q, m, CL_TRUE, off, bytes, host_src, 0, NULL, NULL)
                          : clEnqueueReadBuffer(c->q, m, CL_TRUE, off, bytes, host_dst, 0, NULL, NULL);
    if (err != CL_SUCCESS) return ld_set_error("opencl %s of %zu bytes: %s", what, bytes, ocl_err_name(err));
    return 0;
}

int ocl_upload(ld_backend *be, void *dst, const void *src, size_t bytes) {
    return transfer(be, dst, src, NULL, bytes, "upload");
}
static int ocl_download(ld_backend *be, void *dst, const void *src, size_t bytes) {
    return transfer(be, (void *)src, NULL, dst, bytes, "download");
}

static int ocl_sync(ld_backend *be) {
    cl_int err = clFinish(OCL_CTX(be)->q);
    if (err != CL_SUCCESS) return ld_set_error("opencl sync: clFinish: %s", ocl_err_name(err));
    return 0;
}

void *ocl_scratch(ocl_ctx *c, ocl_scr s, size_t bytes) {
    if (c->scr[s] && c->scr_bytes[s] >= bytes) return c->scr[s];
    ld_backend tmp = {.ctx = c};
    /* freeing a buffer that queued kernels still use is safe: OpenCL defers it */
    if (c->scr[s]) ocl_free(&tmp, c->scr[s]);
    size_t nb = bytes + bytes / 2 + 256;
    if (nb > c->max_alloc && bytes <= c->max_alloc) nb = bytes;
    c->scr[s] = ocl_alloc(&tmp, nb);
    c->scr_bytes[s] = c->scr[s] ? nb : 0;
    return c->scr[s];
}

static size_t weight_bytes(const ld_weight *w, size_t *scale_bytes) {
    long n = w->n, k = w->k;
    *scale_bytes = 0;
    switch (w->fmt) {
    case LD_WF_F32: return (size_t)(n * k * 4);
    case LD_WF_BF16: return (size_t)(n * k * 2);
    case LD_WF_FP8:
    case LD_WF_FP8_DQ: *scale_bytes = (size_t)((n + 127) / 128 * w->scale_cols); return (size_t)(n * k);
    case LD_WF_FP4: *scale_bytes = (size_t)(n * w->scale_cols); return (size_t)(n * k / 2);
    case LD_WF_I8:
    case LD_WF_FP4_I8: break; /* refused by ocl_prepare_weight */
    }
    return 0;
}

static int ocl_prepare_weight(ld_backend *be, ld_weight *w) {
    if (w->fmt == LD_WF_I8 || w->fmt == LD_WF_FP4_I8)
        return ld_set_error("the opencl backend has no kernels for the w8a8 path (its %s weights); run it on cpu or ref",
                            w->fmt == LD_WF_I8 ? "i8" : "fp4i8");
    size_t sb, db = weight_bytes(w, &sb);
    void *d = ocl_alloc(be, db), *s = sb ? ocl_alloc(be, sb) : NULL;
    if (!d || (sb && !s) || ocl_upload(be, d, w->data, db) || (sb && ocl_upload(be, s, w->scale, sb))) {
        ocl_free(be, d);
        ocl_free(be, s);
        return ld_wrap_error("opencl prepare_weight [%d, %d]", w->n, w->k);
    }
    w->data = d;
    w->scale = s;
    w->packed = NULL;
    w->row0 = 0;
    return 0;
}

static void ocl_release_weight(ld_backend *be, ld_weight *w) {
    ocl_free(be, (void *)w->data);
    ocl_free(be, (void *)w->scale);
    w->data = NULL;
    w->scale = NULL;
}

/* ---------------------------------------------------------- launches */

void ocl_begin(ocl_call *a, ocl_ctx *c, ocl_kid k) {
    a->c = c;
    a->k = c->k[k];
    a->n = 0;
    a->err = CL_SUCCESS;
    a->what = NULL;
}

static void set_arg(ocl_call *a, size_t size, const void *v) {
    cl_int e = clSetKernelArg(a->k, a->n++, size, v);
    if (e != CL_SUCCESS && a->err == CL_SUCCESS) a->err = e;
}

void ocl_buf(ocl_call *a, const void *addr) {
    cl_ulong off = 0;
    cl_mem m = addr ? resolve(a->c, addr, &off) : a->c->dummy;
    if (!m) {
        if (a->err == CL_SUCCESS) a->err = CL_INVALID_MEM_OBJECT;
        a->what = "an argument is not a device address of this instance";
        m = a->c->dummy;
        off = 0;
    }
    set_arg(a, sizeof m, &m);
    set_arg(a, sizeof off, &off);
}
void ocl_int(ocl_call *a, int v) { cl_int x = v; set_arg(a, sizeof x, &x); }
void ocl_long(ocl_call *a, long v) { cl_long x = v; set_arg(a, sizeof x, &x); }
void ocl_float(ocl_call *a, float v) { cl_float x = v; set_arg(a, sizeof x, &x); }
void ocl_local(ocl_call *a, size_t bytes) {
    if (bytes > a->c->local_bytes && a->err == CL_SUCCESS) {
        a->err = CL_OUT_OF_RESOURCES;
        a->what = "needs more local memory than the device has";
    }
    set_arg(a, bytes ? bytes : 4, NULL);
}

int ocl_run(ocl_call *a, const char *op, size_t g0, size_t g1, size_t g2, size_t l0) {
    if (a->err != CL_SUCCESS)
        return ld_set_error("opencl %s: %s", op, a->what ? a->what : ocl_err_name(a->err));
    if (!g0 || !g1 || !g2) return 0;
    size_t g[3] = {g0, g1, g2}, l[3] = {l0, 1, 1};
    cl_int e = clEnqueueNDRangeKernel(a->c->q, a->k, g2 > 1 ? 3 : (g1 > 1 ? 2 : 1), NULL, g, l0 ? l : NULL, 0,
                                      NULL, NULL);
    if (e != CL_SUCCESS) return ld_set_error("opencl %s: clEnqueueNDRangeKernel: %s", op, ocl_err_name(e));
    return 0;
}

/* ---------------------------------------------------------- instance */

static const char *const kernel_names[OCL_K_COUNT] = {
#define OCL_K_NAME(n) #n,
    OCL_KERNELS(OCL_K_NAME)
#undef OCL_K_NAME
};

static void release_program(ocl_ctx *c) {
    for (int i = 0; i < OCL_K_COUNT; i++)
        if (c->k[i]) clReleaseKernel(c->k[i]);
    memset(c->k, 0, sizeof c->k);
    if (c->prog) clReleaseProgram(c->prog);
    c->prog = NULL;
}

/* Builds the program for work-group size wg; *fit gets the smallest
 * CL_KERNEL_WORK_GROUP_SIZE over the kernels. */
static int build(ocl_ctx *c, size_t wg, size_t *fit) {
    cl_int err;
    const char *src = ld_ocl_kernel_source;
    c->prog = clCreateProgramWithSource(c->ctx, 1, &src, NULL, &err);
    if (err != CL_SUCCESS) return ld_set_error("opencl: clCreateProgramWithSource: %s", ocl_err_name(err));
    cl_device_fp_config fp = 0;
    clGetDeviceInfo(c->dev, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
    char opts[160];
    snprintf(opts, sizeof opts, "-cl-std=CL1.2 -DWG=%zu%s", wg,
             (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) ? " -cl-fp32-correctly-rounded-divide-sqrt" : "");
    err = clBuildProgram(c->prog, 1, &c->dev, opts, NULL, NULL);
    if (err != CL_SUCCESS) {
        char log[2048] = "";
        clGetProgramBuildInfo(c->prog, c->dev, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
        for (char *p = log; *p; p++)
            if (*p == '\n') *p = ' ';
        return ld_set_error("opencl: building the kernels: %s: %.600s", ocl_err_name(err), log);
    }
    *fit = wg;
    for (int i = 0; i < OCL_K_COUNT; i++) {
        c->k[i] = clCreateKernel(c->prog, kernel_names[i], &err);
        if (err != CL_SUCCESS) return ld_set_error("opencl: kernel %s: %s", kernel_names[i], ocl_err_name(err));
        size_t kw = 0;
        clGetKernelWorkGroupInfo(c->k[i], c->dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof kw, &kw, NULL);
        if (kw && kw < *fit) *fit = kw;
    }
    return 0;
}

static void ocl_destroy(ld_backend *be) {
    ocl_ctx *c = OCL_CTX(be);
    if (!c) return;
    if (c->q) clFinish(c->q);
    for (int i = 0; i < c->nslots; i++)
        if (c->slots[i].mem) clReleaseMemObject(c->slots[i].mem);
    free(c->slots);
    if (c->dummy) clReleaseMemObject(c->dummy);
    release_program(c);
    if (c->q) clReleaseCommandQueue(c->q);
    if (c->ctx) clReleaseContext(c->ctx);
    free(c);
    be->ctx = NULL;
}

static int ocl_create(ld_backend *be, const ld_backend_opts *o) {
    cl_device_id devs[64];
    cl_device_type types[64];
    int n = list_devices(devs, types, 64), pick = -1, want = o ? o->device : -1;
    if (!n) return ld_set_error("opencl: no OpenCL platform or device found");
    if (want >= 0) {
        if (want >= n) return ld_set_error("opencl: device %d requested, %d present", want, n);
        pick = want;
    } else {
        for (int i = 0; i < n && pick < 0; i++)
            if (types[i] & CL_DEVICE_TYPE_GPU) pick = i;
        if (pick < 0) pick = 0;
    }
    ocl_ctx *c = calloc(1, sizeof *c);
    if (!c) return ld_set_error("opencl: out of host memory");
    be->ctx = c;
    c->dev = devs[pick];
    cl_int err;
    c->ctx = clCreateContext(NULL, 1, &c->dev, NULL, NULL, &err);
    if (err == CL_SUCCESS) c->q = clCreateCommandQueue(c->ctx, c->dev, 0, &err);
    if (err == CL_SUCCESS) c->dummy = clCreateBuffer(c->ctx, CL_MEM_READ_WRITE, 64, NULL, &err);
    if (err != CL_SUCCESS) {
        ocl_destroy(be);
        return ld_set_error("opencl: creating the context and queue: %s", ocl_err_name(err));
    }
    size_t maxwg = 1;
    cl_uint cu = 0;
    char pname[96] = "", dname[96] = "";
    cl_platform_id plat;
    clGetDeviceInfo(c->dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof maxwg, &maxwg, NULL);
    clGetDeviceInfo(c->dev, CL_DEVICE_LOCAL_MEM_SIZE, sizeof c->local_bytes, &c->local_bytes, NULL);
    clGetDeviceInfo(c->dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof c->max_alloc, &c->max_alloc, NULL);
    clGetDeviceInfo(c->dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    clGetDeviceInfo(c->dev, CL_DEVICE_NAME, sizeof dname - 1, dname, NULL);
    clGetDeviceInfo(c->dev, CL_DEVICE_PLATFORM, sizeof plat, &plat, NULL);
    clGetPlatformInfo(plat, CL_PLATFORM_NAME, sizeof pname - 1, pname, NULL);
    snprintf(c->desc, sizeof c->desc, "%s / %s, %u compute units", pname, dname, cu);
    /* the reductions want a power of two; 128 keeps the local trees short */
    size_t wg = 128, fit;
    while (wg > maxwg) wg /= 2;
    if (build(c, wg, &fit)) { ocl_destroy(be); return -1; }
    if (fit < wg) {
        while (wg > fit) wg /= 2;
        release_program(c);
        if (build(c, wg, &fit) || fit < wg) {
            ocl_destroy(be);
            return ld_set_error("opencl: kernels do not fit a work-group of %zu", wg);
        }
    }
    c->wg = wg;
    /* the static reduction arrays of the kernels share the device's local memory */
    c->local_bytes = c->local_bytes > 64 * wg + 1024 ? c->local_bytes - 64 * wg - 1024 : 0;
    return 0;
}

static void ocl_describe(ld_backend *be, char *buf, size_t len) { snprintf(buf, len, "%s", OCL_CTX(be)->desc); }

const ld_backend_ops ld_backend_opencl_ops = {
    .name = "opencl",
    .description = "OpenCL 1.2 device: weights and activations resident, kernels built at create",
    .mem = LD_MEM_DEVICE,
    .probe = ocl_probe,
    .create = ocl_create,
    .destroy = ocl_destroy,
    .describe = ocl_describe,
    .alloc = ocl_alloc,
    .free = ocl_free,
    .upload = ocl_upload,
    .download = ocl_download,
    .prepare_weight = ocl_prepare_weight,
    /* the checkpoint's formats; the w8a8 forms have no kernels here yet */
    .wformats = 1u << LD_WF_F32 | 1u << LD_WF_BF16 | 1u << LD_WF_FP8 | 1u << LD_WF_FP8_DQ | 1u << LD_WF_FP4,
    .release_weight = ocl_release_weight,
    .sync = ocl_sync,
    .linear = ocl_op_linear,
    .linear_f32 = ocl_op_linear_f32,
    .rmsnorm = ocl_op_rmsnorm,
    .head_rmsnorm = ocl_op_head_rmsnorm,
    .rope = ocl_op_rope,
    .hadamard = ocl_op_hadamard,
    .hc_pre = ocl_op_hc_pre,
    .hc_post = ocl_op_hc_post,
    .hc_head = ocl_op_hc_head,
    .compress_pool = ocl_op_compress_pool,
    .indexer_scores = ocl_op_indexer_scores,
    .topk = ocl_op_topk,
    .swiglu = ocl_op_swiglu,
    .embed = ocl_op_embed,
    .copy_rows = ocl_op_copy_rows,
    .widen = ocl_op_widen,
    .scale_bf16 = ocl_op_scale_bf16,
    .quant_sim = ocl_op_quant_sim,
    .attend = ocl_op_attend,
    .compress = ocl_op_compress,
    .indexer_select = ocl_op_indexer_select,
    .moe_route = ocl_op_moe_route,
    .moe_experts = ocl_op_moe_experts,
};
