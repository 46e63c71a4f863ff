/* MoE sublayer: sqrt(softplus) router (bias only for selection, or a fixed
 * token-id table on hash layers), normalized top-k weights times the routed
 * scale, SwiGLU experts with clamp, and an fp32 sum over experts in
 * ascending expert id, then the shared expert, then one bf16 rounding (the
 * moe_route and moe_experts ops, backend.h). */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/layers.h"

/* The routing the reference dumps: per token, ascending expert id, weights
 * alongside (a debugging download). */
static void dump_routing(const ld_call *c, const int *idx_d, const float *wt_d, int S, int K) {
    int *idx = malloc(sizeof(int) * (size_t)S * K), *de = malloc(sizeof(int) * (size_t)S * K);
    float *wt = malloc(sizeof(float) * (size_t)S * K), *dw = malloc(sizeof(float) * (size_t)S * K);
    if (idx && de && wt && dw && !ld_call_fetch(c, idx, idx_d, sizeof(int) * (size_t)S * K) &&
        !ld_call_fetch(c, wt, wt_d, sizeof(float) * (size_t)S * K)) {
        for (int t = 0; t < S; t++)
            for (int k = 0; k < K; k++) {
                int rank = 0, e = idx[(long)t * K + k];
                for (int j = 0; j < K; j++) rank += idx[(long)t * K + j] < e || (idx[(long)t * K + j] == e && j < k);
                de[(long)t * K + rank] = e;
                dw[(long)t * K + rank] = wt[(long)t * K + k];
            }
        /* host arrays: hand them to the observers directly */
        for (int i = 0; i < c->n_seg; i++) {
            const ld_seg *g = &c->seg[i];
            if (!g->s->dump) continue;
            g->s->dump(g->s->dump_ctx, "moe_experts", c->layer, LD_DUMP_I32, de + (long)g->row0 * K, g->S, K);
            g->s->dump(g->s->dump_ctx, "moe_weights", c->layer, LD_DUMP_F32, dw + (long)g->row0 * K, g->S, K);
        }
    }
    free(idx);
    free(de);
    free(wt);
    free(dw);
}

static double expert_bytes(const ld_expert_w *X) {
    return ld_weight_bytes(&X->w1) + ld_weight_bytes(&X->w2) + ld_weight_bytes(&X->w3);
}

int ld_moe(const ld_call *c, const ld_moe_w *w, int hash, const ld_bf16 *x, ld_bf16 *out) {
    const ld_model *m = c->m;
    const ld_config *cf = &m->cfg;
    ld_backend *be = c->be;
    int S = c->rows, D = cf->dim, E = cf->n_routed_experts, K = cf->n_activated_experts, inter = cf->moe_inter_dim;
    float *xf = ld_call_alloc(c, sizeof(float) * (size_t)S * D);
    float *logit = ld_call_alloc(c, sizeof(float) * (size_t)S * E);
    int *idx = ld_call_alloc(c, sizeof(int) * (size_t)S * K);
    float *wt = ld_call_alloc(c, sizeof(float) * (size_t)S * K);
    if (c->ar->failed) return -1;
    if (be->ops->widen(be, x, (long)S * D, xf) || ld_linear_f32(c, &w->gate, xf, S, logit)) return -1;
    ld_route_args ra = {.logits = logit, .S = S, .E = E, .K = K, .bias = hash ? NULL : w->bias,
                        .tid2eid = hash ? w->tid2eid : NULL, .ids = c->ids, .route_scale = (float)cf->route_scale,
                        .idx = idx, .wt = wt};
    if (be->ops->moe_route(be, &ra)) return -1;
    if (ld_call_dumping(c)) dump_routing(c, idx, wt, S, K);

    int used = -1;
    ld_moe_args ma = {.experts = w->experts, .shared = &w->shared, .S = S, .E = E, .K = K, .dim = D, .inter = inter,
                      .swiglu_limit = (float)cf->swiglu_limit, .x = x, .idx = idx, .wt = wt, .out = out,
                      .experts_used = &used};
    if (be->ops->moe_experts(be, &ma)) return -1;
    if (m->traffic) {
        /* a backend that cannot count cheaply: every row's experts distinct */
        if (used < 0) used = (long)S * K < E ? S * K : E;
        m->traffic->weight_bytes += used * expert_bytes(&w->experts[0]) + expert_bytes(&w->shared);
        m->traffic->macs += (double)(S * K + S) * 3 * inter * D;
    }
    return 0;
}
