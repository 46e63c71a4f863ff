/* Host MoE composites: routing, and the grouped experts with the combine.
 * The combine order is part of the arithmetic: per row an fp32 sum over its
 * experts in ascending expert id, then the shared expert, then one bf16
 * rounding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref.h"
#include "core/error.h"

int ld_host_moe_route(ld_backend *be, const ld_route_args *a) {
    int E = a->E, K = a->K;
    float *sel = malloc(sizeof(float) * (size_t)E);
    if (!sel) return ld_set_error("out of memory in the router");
    int rc = 0;
    for (int t = 0; t < a->S && !rc; t++) {
        float *s = a->logits + (long)t * E;
        for (int e = 0; e < E; e++) s[e] = sqrtf(ld_softplusf(s[e]));
        int *it = a->idx + (long)t * K;
        if (a->tid2eid) {
            for (int k = 0; k < K; k++) it[k] = (int)a->tid2eid[(long)a->ids[t] * K + k];
        } else {
            for (int e = 0; e < E; e++) sel[e] = s[e] + a->bias[e];
            rc = be->ops->topk(be, sel, E, K, it);
        }
        double sum = 0;
        for (int k = 0; k < K; k++) sum += s[it[k]];
        for (int k = 0; k < K; k++) a->wt[(long)t * K + k] = s[it[k]] / (float)sum * a->route_scale;
    }
    free(sel);
    return rc;
}

/* y = w2(swiglu(w1 x, w3 x) * weight) for n rows of x; weights per row
 * (NULL: 1). g and u hold [n, inter]. */
static int expert_ffn(ld_backend *be, const ld_moe_args *a, const ld_expert_w *X, const ld_bf16 *x, int n,
                      const float *wt, ld_bf16 *g, ld_bf16 *u, ld_bf16 *y) {
    const ld_backend_ops *o = be->ops;
    int inter = a->inter;
    if (o->linear(be, &X->w1, x, n, g) || o->linear(be, &X->w3, x, n, u)) return -1;
    for (int i = 0; i < n; i++)
        if (o->swiglu(be, g + (long)i * inter, u + (long)i * inter, inter, a->swiglu_limit, wt ? wt[i] : 1.0f,
                      g + (long)i * inter))
            return -1;
    return o->linear(be, &X->w2, g, n, y);
}

int ld_host_moe_experts(ld_backend *be, const ld_moe_args *a) {
    int S = a->S, D = a->dim, K = a->K, rc = -1, used = 0;
    float *y = calloc((size_t)S * D, sizeof(float));
    int *rows = malloc(sizeof(int) * (size_t)S);
    float *rw = malloc(sizeof(float) * (size_t)S);
    ld_bf16 *xe = malloc(sizeof(ld_bf16) * (size_t)S * D);
    ld_bf16 *ye = malloc(sizeof(ld_bf16) * (size_t)S * D);
    ld_bf16 *g = malloc(sizeof(ld_bf16) * (size_t)S * a->inter);
    ld_bf16 *u = malloc(sizeof(ld_bf16) * (size_t)S * a->inter);
    if (!y || !rows || !rw || !xe || !ye || !g || !u) { ld_set_error("out of memory in the MoE"); goto out; }
    for (int e = 0; e < a->E; e++) {
        int n = 0;
        for (int t = 0; t < S; t++)
            for (int k = 0; k < K; k++)
                if (a->idx[(long)t * K + k] == e) {
                    rows[n] = t;
                    rw[n] = a->wt[(long)t * K + k];
                    n++;
                    break; /* a duplicated id in a hash row updates once, as the reference's indexed add does */
                }
        if (!n) continue;
        used++;
        for (int i = 0; i < n; i++) memcpy(xe + (long)i * D, a->x + (long)rows[i] * D, sizeof(ld_bf16) * (size_t)D);
        if (expert_ffn(be, a, &a->experts[e], xe, n, rw, g, u, ye)) goto out;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < D; j++) y[(long)rows[i] * D + j] += ld_bf16_to_f32(ye[(long)i * D + j]);
    }
    if (expert_ffn(be, a, a->shared, a->x, S, NULL, g, u, ye)) goto out;
    for (long i = 0; i < (long)S * D; i++) a->out[i] = ld_f32_to_bf16(y[i] + ld_bf16_to_f32(ye[i]));
    if (a->experts_used) *a->experts_used = used;
    rc = 0;
out:
    free(y);
    free(rows);
    free(rw);
    free(xe);
    free(ye);
    free(g);
    free(u);
    return rc;
}
