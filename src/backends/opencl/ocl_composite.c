/* Indexer scores and top-k, and the composites: attend, compress,
 * indexer_select, moe_route. Each composite is one or two launches over all
 * rows of the call, so nothing of a sequence's state leaves the device. */
#include <math.h>

#include "backends/opencl/ocl.h"
#include "core/error.h"

static int scores_run(ocl_ctx *c, const void *q, const void *w, int h, int d, const void *keys, int n, int rows,
                      void *out, long ldo, int sel, long P, const char *op) {
    ocl_call a;
    ocl_begin(&a, c, OCL_K_indexer_scores);
    ocl_buf(&a, q);
    ocl_buf(&a, w);
    ocl_buf(&a, keys);
    ocl_buf(&a, out);
    ocl_int(&a, h);
    ocl_int(&a, d);
    ocl_int(&a, n);
    ocl_long(&a, ldo);
    ocl_int(&a, sel);
    ocl_long(&a, P);
    ocl_local(&a, sizeof(float) * (size_t)h);
    return ocl_run(&a, op, (size_t)n * c->wg, (size_t)rows, 1, c->wg);
}

static int topk_run(ocl_ctx *c, const void *s, long lds, int n, int k, int rows, void *idx, int ldi, int kpad,
                    int sel, long P, const char *op) {
    ocl_call a;
    ocl_begin(&a, c, OCL_K_topk);
    ocl_buf(&a, s);
    ocl_buf(&a, idx);
    ocl_long(&a, lds);
    ocl_int(&a, ldi);
    ocl_int(&a, n);
    ocl_int(&a, k);
    ocl_int(&a, kpad);
    ocl_int(&a, sel);
    ocl_long(&a, P);
    return ocl_run(&a, op, (size_t)rows * c->wg, 1, 1, c->wg);
}

int ocl_op_indexer_scores(ld_backend *be, const ld_bf16 *q, const ld_bf16 *w, int h, int d, const ld_bf16 *keys,
                          int n, float *out) {
    return scores_run(OCL_CTX(be), q, w, h, d, keys, n, 1, out, n, 0, 0, "indexer_scores");
}

int ocl_op_topk(ld_backend *be, const float *s, int n, int k, int *idx) {
    return topk_run(OCL_CTX(be), s, n, n, k, 1, idx, k, k, 0, 0, "topk");
}

int ocl_op_indexer_select(ld_backend *be, const ld_select_args *a) {
    ocl_ctx *c = OCL_CTX(be);
    long nmax = (a->P + a->S) / 4;
    if (!a->S) return 0;
    if (a->topk > a->k_max) return ld_set_error("opencl indexer_select: topk %d > k_max %d", a->topk, a->k_max);
    float *sc = ocl_scratch(c, SCR_SCORES, sizeof(float) * (size_t)a->S * (size_t)(nmax ? nmax : 1));
    if (!sc) return ld_wrap_error("opencl indexer_select");
    if (nmax && scores_run(c, a->q, a->w, a->h, a->d, a->keys, (int)nmax, a->S, sc, nmax, 1, a->P, "indexer_select"))
        return -1;
    return topk_run(c, sc, nmax, (int)nmax, a->topk, a->S, a->sel, a->k_max, a->k_max, 1, a->P, "indexer_select");
}

int ocl_op_attend(ld_backend *be, const ld_attend_args *a) {
    ocl_ctx *c = OCL_CTX(be);
    ocl_call k;
    ocl_begin(&k, c, OCL_K_attend);
    ocl_buf(&k, a->q);
    ocl_buf(&k, a->kv_new);
    ocl_buf(&k, a->ring);
    ocl_buf(&k, a->comp);
    ocl_buf(&k, a->comp_idx);
    ocl_buf(&k, a->sink);
    ocl_buf(&k, a->out);
    ocl_int(&k, a->h);
    ocl_int(&k, a->d);
    ocl_int(&k, a->window);
    ocl_int(&k, a->W);
    ocl_long(&k, a->P);
    ocl_int(&k, a->k_max);
    ocl_int(&k, a->comp ? a->comp_ratio : 0);
    ocl_int(&k, a->comp && a->comp_idx != NULL);
    ocl_float(&k, a->scale);
    ocl_local(&k, sizeof(float) * (size_t)a->d);
    return ocl_run(&k, "attend", (size_t)a->h * c->wg, (size_t)a->rows, 1, c->wg);
}

int ocl_op_compress(ld_backend *be, const ld_compress_args *a) {
    ocl_ctx *c = OCL_CTX(be);
    if (a->rotate && (a->d & (a->d - 1))) return ld_set_error("opencl compress: d = %d is not a power of two", a->d);
    ocl_call k;
    ocl_begin(&k, c, OCL_K_compress_run);
    ocl_buf(&k, a->kv);
    ocl_buf(&k, a->sc);
    ocl_buf(&k, a->ape);
    ocl_buf(&k, a->kv_state);
    ocl_buf(&k, a->sc_state);
    ocl_buf(&k, a->cache);
    ocl_buf(&k, a->norm);
    ocl_buf(&k, a->cs_emit);
    ocl_int(&k, a->S);
    ocl_long(&k, a->P);
    ocl_int(&k, a->n0);
    ocl_int(&k, a->ratio);
    ocl_int(&k, a->d);
    ocl_int(&k, a->overlap);
    ocl_int(&k, a->rope_dim);
    ocl_int(&k, a->rotate);
    ocl_float(&k, a->norm_eps);
    ocl_float(&k, (float)(1.0 / a->d));
    ocl_float(&k, (float)(1.0 / sqrt((double)a->d)));
    ocl_local(&k, sizeof(float) * (size_t)a->d);
    return ocl_run(&k, "compress", a->S ? c->wg : 0, 1, 1, c->wg);
}

int ocl_op_moe_route(ld_backend *be, const ld_route_args *a) {
    if (a->K > 16) return ld_set_error("opencl moe_route: K = %d exceeds 16", a->K);
    ocl_call k;
    ocl_begin(&k, OCL_CTX(be), OCL_K_moe_route);
    ocl_buf(&k, a->logits);
    ocl_buf(&k, a->bias);
    ocl_buf(&k, a->bias ? NULL : a->tid2eid);
    ocl_buf(&k, a->bias ? NULL : a->ids);
    ocl_buf(&k, a->idx);
    ocl_buf(&k, a->wt);
    ocl_int(&k, a->E);
    ocl_int(&k, a->K);
    ocl_float(&k, a->route_scale);
    ocl_int(&k, a->bias == NULL);
    return ocl_run(&k, "moe_route", (size_t)a->S, 1, 1, 0);
}
