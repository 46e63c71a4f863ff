/* MoE sublayer: sqrt(softplus) router (bias only for selection, or a fixed
 * token-id table on hash layers), normalized top-k weights times the routed
 * scale, SwiGLU experts with clamp, and an fp32 sum over experts in
 * ascending expert id, then the shared expert, then one bf16 rounding. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/layers.h"

/* y = w2(swiglu(w1 x, w3 x) * weight) for n rows of x; weights per row. */
static int expert_ffn(const ld_call *c, const ld_expert_w *X, const ld_bf16 *x, int n, const float *wt, ld_bf16 *y) {
    const ld_model *m = c->m;
    const ld_backend_ops *ops = m->ops;
    int inter = m->cfg.moe_inter_dim;
    ld_bf16 *g = malloc(sizeof(ld_bf16) * (size_t)n * inter);
    ld_bf16 *u = malloc(sizeof(ld_bf16) * (size_t)n * inter);
    if (!g || !u) { free(g); free(u); return ld_set_error("out of memory in the MoE"); }
    ld_linear(c, &X->w1, x, n, g);
    ld_linear(c, &X->w3, x, n, u);
    for (int i = 0; i < n; i++)
        ops->swiglu(g + (long)i * inter, u + (long)i * inter, inter, (float)m->cfg.swiglu_limit, wt ? wt[i] : 1.0f,
                    g + (long)i * inter);
    ld_linear(c, &X->w2, g, n, y);
    free(g);
    free(u);
    return 0;
}

int ld_moe(const ld_call *c, const ld_moe_w *w, int hash, const int *ids, const ld_bf16 *x, ld_bf16 *out) {
    const ld_model *m = c->m;
    const ld_config *cf = &m->cfg;
    const ld_backend_ops *ops = m->ops;
    int S = c->rows, D = cf->dim, E = cf->n_routed_experts, K = cf->n_activated_experts;
    float *xf = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)S * D);
    float *logit = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)S * E);
    float *sel = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)E);
    int *idx = ld_scratch_alloc(c->sc, sizeof(int) * (size_t)S * K);
    float *wt = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)S * K);
    float *y = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)S * D);
    int *rows = ld_scratch_alloc(c->sc, sizeof(int) * (size_t)S);
    float *rw = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)S);
    ld_bf16 *xe = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * D);
    ld_bf16 *ye = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * D);
    if (c->sc->failed) return ld_set_error("out of memory in the MoE");
    for (long i = 0; i < (long)S * D; i++) xf[i] = ld_bf16_to_f32(x[i]);

    /* routing */
    ld_linear_f32(c, &w->gate, xf, S, logit);
    for (int t = 0; t < S; t++) {
        float *s = logit + (long)t * E;
        for (int e = 0; e < E; e++) s[e] = sqrtf(ld_softplusf(s[e]));
        int *it = idx + (long)t * K;
        if (hash) {
            for (int k = 0; k < K; k++) it[k] = (int)w->tid2eid[(long)ids[t] * K + k];
        } else {
            for (int e = 0; e < E; e++) sel[e] = s[e] + w->bias[e];
            ops->topk(sel, E, K, it);
        }
        double sum = 0;
        for (int k = 0; k < K; k++) sum += s[it[k]];
        for (int k = 0; k < K; k++) wt[(long)t * K + k] = s[it[k]] / (float)sum * (float)cf->route_scale;
    }
    if (ld_call_dumping(c)) {
        /* per token, ascending expert id, weights alongside */
        int *de = ld_scratch_alloc(c->sc, sizeof(int) * (size_t)S * K);
        float *dw = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)S * K);
        if (de && dw) {
            for (int t = 0; t < S; t++)
                for (int k = 0; k < K; k++) {
                    int rank = 0, e = idx[(long)t * K + k];
                    for (int j = 0; j < K; j++) rank += idx[(long)t * K + j] < e || (idx[(long)t * K + j] == e && j < k);
                    de[(long)t * K + rank] = e;
                    dw[(long)t * K + rank] = wt[(long)t * K + k];
                }
            ld_call_dump(c, "moe_experts", LD_DUMP_I32, de, S, K);
            ld_call_dump(c, "moe_weights", LD_DUMP_F32, dw, S, K);
        }
    }

    /* routed experts in ascending id; tokens gathered per expert */
    for (int e = 0; e < E; e++) {
        int n = 0;
        for (int t = 0; t < S; t++)
            for (int k = 0; k < K; k++)
                if (idx[(long)t * K + k] == e) {
                    rows[n] = t;
                    rw[n] = wt[(long)t * K + k];
                    n++;
                    break; /* a duplicated id in a hash row updates once, as the reference's indexed add does */
                }
        if (!n) continue;
        for (int i = 0; i < n; i++) memcpy(xe + (long)i * D, x + (long)rows[i] * D, sizeof(ld_bf16) * (size_t)D);
        if (expert_ffn(c, &w->experts[e], xe, n, rw, ye)) return -1;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < D; j++) y[(long)rows[i] * D + j] += ld_bf16_to_f32(ye[(long)i * D + j]);
    }
    if (expert_ffn(c, &w->shared, x, S, NULL, ye)) return -1;
    for (long i = 0; i < (long)S * D; i++) out[i] = ld_f32_to_bf16(y[i] + ld_bf16_to_f32(ye[i]));
    return 0;
}
