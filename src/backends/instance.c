/* Backend instances and the memory wrappers every caller goes through (so
 * transfers are counted in one place). Host backends may leave the memory
 * slots empty: their buffers are plain aligned host memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"

static const char *const op_names[] = {
#define LD_OP_NAME(n) #n,
    LD_OPS(LD_OP_NAME)
#undef LD_OP_NAME
};

const char *ld_op_name(ld_op op) { return op >= 0 && op < LD_OP_COUNT ? op_names[op] : "?"; }

/* The slot of op `op` in the table, by name order (LD_OPS lists them in
 * the order the struct declares them). */
static const void *slot(const ld_backend_ops *o, ld_op op) {
    switch (op) {
#define LD_OP_CASE(n)                                                                                                  \
    case LD_OP_##n: return (const void *)o->n;
        LD_OPS(LD_OP_CASE)
#undef LD_OP_CASE
    default: return NULL;
    }
}

int ld_backend_supports(const ld_backend *be, ld_op op) { return slot(be->ops, op) != NULL; }
int ld_backend_takes(const ld_backend *be, ld_wfmt f) { return !be->ops->wformats || (be->ops->wformats >> f & 1); }

/* What the forward pass calls (model/forward.c, attention.c, moe.c). */
static const ld_op forward_ops[] = {LD_OP_linear,     LD_OP_linear_f32,     LD_OP_rmsnorm,   LD_OP_head_rmsnorm,
                                    LD_OP_rope,       LD_OP_hadamard,       LD_OP_hc_pre,    LD_OP_hc_post,
                                    LD_OP_hc_head,    LD_OP_embed,          LD_OP_copy_rows, LD_OP_widen,
                                    LD_OP_scale_bf16, LD_OP_quant_sim,      LD_OP_attend,    LD_OP_compress,
                                    LD_OP_indexer_select, LD_OP_moe_route, LD_OP_moe_experts};

const char *ld_backend_missing_forward_op(const ld_backend *be) {
    for (size_t i = 0; i < sizeof forward_ops / sizeof forward_ops[0]; i++)
        if (!ld_backend_supports(be, forward_ops[i])) return ld_op_name(forward_ops[i]);
    return NULL;
}

ld_backend *ld_backend_create(const ld_backend_ops *ops, const ld_backend_opts *o) {
    ld_backend_opts dflt = {.device = -1};
    if (!o) o = &dflt;
    if (ops->probe && !ops->probe()) {
        ld_set_error("backend '%s' cannot run on this machine", ops->name);
        return NULL;
    }
    ld_backend *be = calloc(1, sizeof *be);
    if (!be) { ld_set_error("out of memory"); return NULL; }
    be->ops = ops;
    if (ops->create && ops->create(be, o)) {
        free(be);
        return NULL;
    }
    return be;
}

void ld_backend_destroy(ld_backend *be) {
    if (!be) return;
    if (be->ops->destroy) be->ops->destroy(be);
    free(be);
}

void ld_backend_describe(ld_backend *be, char *buf, size_t len) {
    if (!len) return;
    buf[0] = 0;
    if (be->ops->describe) be->ops->describe(be, buf, len);
    else snprintf(buf, len, "%s", be->ops->name);
}

void *ld_be_alloc(ld_backend *be, size_t bytes) {
    void *p;
    if (be->ops->alloc) p = be->ops->alloc(be, bytes);
    else {
        /* cache-line aligned, whole lines, so vector loads never split */
        size_t n = (bytes + 63) & ~(size_t)63;
        p = aligned_alloc(64, n ? n : 64);
        if (!p) ld_set_error("out of memory allocating %zu bytes", bytes);
    }
    return p;
}

void ld_be_free(ld_backend *be, void *p) {
    if (!p) return;
    if (be->ops->free) be->ops->free(be, p);
    else free(p);
}

/* Host backends copy within one memory: nothing crosses a bus, nothing is counted. */
int ld_be_upload(ld_backend *be, void *dst, const void *src, size_t bytes) {
    if (be->ops->mem != LD_MEM_HOST) {
        be->xfer.h2d_bytes += (double)bytes;
        be->xfer.uploads++;
    }
    if (be->ops->upload) return be->ops->upload(be, dst, src, bytes);
    memcpy(dst, src, bytes);
    return 0;
}

int ld_be_download(ld_backend *be, void *dst, const void *src, size_t bytes) {
    if (be->ops->mem != LD_MEM_HOST) {
        be->xfer.d2h_bytes += (double)bytes;
        be->xfer.downloads++;
    }
    if (be->ops->download) return be->ops->download(be, dst, src, bytes);
    memcpy(dst, src, bytes);
    return 0;
}

int ld_be_sync(ld_backend *be) { return be->ops->sync ? be->ops->sync(be) : 0; }

const void *ld_be_import(ld_backend *be, const void *src, size_t bytes, void **owned) {
    *owned = NULL;
    if (!src || be->ops->mem == LD_MEM_HOST) return src;
    void *d = ld_be_alloc(be, bytes);
    if (!d) return NULL;
    /* load-time traffic is not a per-token cost: keep it out of the counters */
    ld_xfer keep = be->xfer;
    int rc = ld_be_upload(be, d, src, bytes);
    be->xfer = keep;
    if (rc) { ld_be_free(be, d); return NULL; }
    *owned = d;
    return d;
}
