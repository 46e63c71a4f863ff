/* Host implementations of the data-movement ops and of the attention-side
 * composites, over the instance's primitive slots (so a host backend that
 * overrides sparse_attn or indexer_scores gets them used here). These are
 * the loops the model ran between ops before the interface carried them. */
#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref.h"
#include "core/error.h"

int ld_host_embed(ld_backend *be, const ld_bf16 *table, const int *ids, int rows, int d, int copies, ld_bf16 *h) {
    (void)be;
    for (int t = 0; t < rows; t++)
        for (int j = 0; j < copies; j++)
            memcpy(h + ((long)t * copies + j) * d, table + (long)ids[t] * d, sizeof(ld_bf16) * (size_t)d);
    return 0;
}

int ld_host_copy_rows(ld_backend *be, void *dst, size_t dst_pitch, const void *src, size_t src_pitch, size_t bytes,
                      int rows) {
    (void)be;
    for (int r = 0; r < rows; r++)
        memmove((char *)dst + (size_t)r * dst_pitch, (const char *)src + (size_t)r * src_pitch, bytes);
    return 0;
}

int ld_host_widen(ld_backend *be, const ld_bf16 *x, long n, float *y) {
    (void)be;
    for (long i = 0; i < n; i++) y[i] = ld_bf16_to_f32(x[i]);
    return 0;
}

int ld_host_scale_bf16(ld_backend *be, ld_bf16 *x, long n, float s) {
    (void)be;
    for (long i = 0; i < n; i++) x[i] = ld_f32_to_bf16(ld_bf16_to_f32(x[i]) * s);
    return 0;
}

int ld_host_quant_sim(ld_backend *be, ld_bf16 *x, int rows, long stride, int n, int block, int fp4) {
    (void)be;
    for (int r = 0; r < rows; r++) {
        if (fp4) ld_fp4_sim_bf16(x + r * stride, n, block);
        else ld_fp8_sim_bf16(x + r * stride, n, block);
    }
    return 0;
}

int ld_host_attend(ld_backend *be, const ld_attend_args *a) {
    int cap = a->W + (a->comp_idx ? a->k_max : 0) + 1;
    if (!a->comp_idx && a->comp_ratio) cap += (int)((a->P + a->rows) / a->comp_ratio);
    const ld_bf16 **list = malloc(sizeof *list * (size_t)cap);
    if (!list) return ld_set_error("out of memory in attention");
    long qn = (long)a->h * a->d;
    int rc = 0;
    for (int t = 0; t < a->rows && !rc; t++) {
        long p = a->P + t;
        int n = 0;
        for (long qp = p - a->window + 1 < 0 ? 0 : p - a->window + 1; qp <= p; qp++)
            list[n++] = qp >= a->P ? a->kv_new + (qp - a->P) * a->d : a->ring + (qp % a->window) * a->d;
        while (n < a->W) list[n++] = NULL;
        if (a->comp_idx) {
            const int *sel = a->comp_idx + (long)t * a->k_max;
            for (int i = 0; i < a->k_max && sel[i] >= 0; i++) list[n++] = a->comp + (long)sel[i] * a->d;
        } else if (a->comp_ratio) {
            for (long i = 0; i < (p + 1) / a->comp_ratio; i++) list[n++] = a->comp + i * a->d;
        }
        rc = be->ops->sparse_attn(be, a->q + t * qn, a->h, a->d, list, n, a->sink, a->scale, a->out + t * qn);
    }
    free(list);
    return rc;
}

/* Normalizes, rotates and quantizes a pooled entry exactly as the reference
 * stores it. */
static int emit(ld_backend *be, const ld_compress_args *a, const float *pooled, int j) {
    int d = a->d, rd = a->rope_dim;
    ld_bf16 *e = a->cache + (long)(a->n0 + j) * d;
    ld_bf16 *tmp = malloc(sizeof(ld_bf16) * (size_t)d);
    if (!tmp) return ld_set_error("out of memory in the compressor");
    for (int i = 0; i < d; i++) tmp[i] = ld_f32_to_bf16(pooled[i]); /* bf16 before the norm */
    int rc = be->ops->rmsnorm(be, tmp, a->norm, 1, d, a->norm_eps, e);
    free(tmp);
    if (!rc) rc = be->ops->rope(be, e + d - rd, 1, 0, 1, 0, a->cs_emit + (long)j * rd, rd / 2, 0);
    if (rc) return rc;
    if (a->rotate) {
        if (be->ops->hadamard(be, e, 1, d)) return -1;
        ld_fp4_sim_bf16(e, d, 32);
    } else {
        ld_fp8_sim_bf16(e, d - rd, 64);
    }
    return 0;
}

int ld_host_compress(ld_backend *be, const ld_compress_args *a) {
    int r = a->ratio, d = a->d, cd = (1 + a->overlap) * d, emitted = 0, rc = 0;
    float *pk = malloc(sizeof(float) * (size_t)2 * r * d);
    float *ps = malloc(sizeof(float) * (size_t)2 * r * d);
    float *pooled = malloc(sizeof(float) * (size_t)d);
    if (!pk || !ps || !pooled) { rc = ld_set_error("out of memory in the compressor"); goto out; }
    for (int t = 0; t < a->S && !rc; t++) {
        long p = a->P + t;
        int slot = (int)(p % r);
        const float *ape = a->ape + (long)slot * cd;
        float *kr = a->kv + (long)t * cd, *sr = a->sc + (long)t * cd;
        for (int i = 0; i < cd; i++) sr[i] += ape[i];
        int row = a->overlap ? r + slot : slot;
        memcpy(a->kv_state + (long)row * cd, kr, sizeof(float) * (size_t)cd);
        memcpy(a->sc_state + (long)row * cd, sr, sizeof(float) * (size_t)cd);
        if ((p + 1) % r) continue;
        if (a->overlap) {
            /* previous block's first d channels, then this block's last d */
            for (int j = 0; j < r; j++) {
                memcpy(pk + (long)j * d, a->kv_state + (long)j * cd, sizeof(float) * (size_t)d);
                memcpy(ps + (long)j * d, a->sc_state + (long)j * cd, sizeof(float) * (size_t)d);
                memcpy(pk + (long)(r + j) * d, a->kv_state + (long)(r + j) * cd + d, sizeof(float) * (size_t)d);
                memcpy(ps + (long)(r + j) * d, a->sc_state + (long)(r + j) * cd + d, sizeof(float) * (size_t)d);
            }
            rc = be->ops->compress_pool(be, pk, ps, 2 * r, d, d, pooled);
            memcpy(a->kv_state, a->kv_state + (long)r * cd, sizeof(float) * (size_t)r * cd);
            memcpy(a->sc_state, a->sc_state + (long)r * cd, sizeof(float) * (size_t)r * cd);
        } else {
            rc = be->ops->compress_pool(be, a->kv_state, a->sc_state, r, d, cd, pooled);
        }
        if (!rc) rc = emit(be, a, pooled, emitted++);
    }
out:
    free(pk);
    free(ps);
    free(pooled);
    return rc;
}

int ld_host_indexer_select(ld_backend *be, const ld_select_args *a) {
    int nmax = (int)((a->P + a->S) / 4);
    float *score = malloc(sizeof(float) * (size_t)(nmax + 1));
    if (!score) return ld_set_error("out of memory in the indexer");
    int rc = 0;
    for (int t = 0; t < a->S && !rc; t++) {
        int nvis = (int)((a->P + t + 1) / 4), k = nvis < a->topk ? nvis : a->topk;
        int *st = a->sel + (long)t * a->k_max;
        for (int i = 0; i < a->k_max; i++) st[i] = -1;
        if (!k) continue;
        rc = be->ops->indexer_scores(be, a->q + (long)t * a->h * a->d, a->w + (long)t * a->h, a->h, a->d, a->keys, nvis,
                                     score);
        if (!rc) rc = be->ops->topk(be, score, nvis, k, st);
    }
    free(score);
    return rc;
}
