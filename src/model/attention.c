/* V4 attention: low-rank queries with per-head RMS normalization, one shared
 * 512-d KV head (key == value), RoPE on the last rope_dim dims, sliding
 * window + compressed entries (HCA: all; CSA: lightning-indexer top-k),
 * attention sink, inverse RoPE on the output, grouped low-rank output.
 *
 * Index lists per query token follow the reference exactly, because the
 * online softmax runs in blocks of 64 entries of the list:
 *   window part: positions max(0,p-window+1)..p, oldest first, padded with
 *     empty slots to width W = window, except on a sequence's first call
 *     where the reference uses W = min(S, window);
 *   compressed part: appended after the W window slots. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/layers.h"

/* Lightning indexer: fills sel[t*k_max ...] with the top-k compressed ids of
 * each token (-1 padded) and nsel[t] with how many are valid. */
static int indexer(const ld_call *c, const ld_seg *g, const ld_attn_w *A, ld_layer_cache *L, const ld_bf16 *x,
                   const float *xf, const ld_bf16 *qr, int *sel, int k_max) {
    const ld_model *m = c->m;
    const ld_config *cf = &m->cfg;
    const ld_backend_ops *ops = m->ops;
    int S = g->S, Hi = cf->index_n_heads, dI = cf->index_head_dim, rd = cf->rope_dim;
    ld_bf16 *q = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * Hi * dI);
    ld_bf16 *w = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * Hi);
    float *cs = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)rd);
    float *sn = cs + rd / 2;
    if (c->sc->failed) return ld_set_error("out of memory in the indexer");
    ops->linear(&A->idx_wq_b, qr, S, q);
    for (int t = 0; t < S; t++) {
        ld_bf16 *qt = q + (long)t * Hi * dI;
        ld_model_rope_cos_sin(m, 1, g->P + t, cs, sn);
        ops->rope(qt + dI - rd, Hi, dI, cs, sn, rd / 2, 0);
        ops->hadamard(qt, Hi, dI);
        for (int h = 0; h < Hi; h++) ld_fp4_sim_bf16(qt + (long)h * dI, dI, 32);
    }
    if (ld_compressor_run(c, g, &A->idx_comp, &L->icomp, xf, 1)) return -1;
    ops->linear(&A->idx_wproj, x, S, w);
    /* the scalar is formed in double as the reference does (d^-0.5 * h^-0.5) */
    float wscale = (float)(pow(dI, -0.5) * pow(Hi, -0.5));
    for (long i = 0; i < (long)S * Hi; i++) w[i] = ld_f32_to_bf16(ld_bf16_to_f32(w[i]) * wscale);
    float *score = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)(L->icomp.n + 1));
    if (!score) return ld_set_error("out of memory in the indexer");
    for (int t = 0; t < S; t++) {
        int nvis = (int)((g->P + t + 1) / 4), k = nvis < cf->index_topk ? nvis : cf->index_topk;
        int *st = sel + (long)t * k_max;
        for (int i = 0; i < k_max; i++) st[i] = -1;
        if (!k) continue;
        ops->indexer_scores(q + (long)t * Hi * dI, w + (long)t * Hi, Hi, dI, L->icomp.cache, nvis, score);
        ops->topk(score, nvis, k, st);
    }
    return 0;
}

/* The per-sequence part of attention: indexer, compressor, sparse
 * attention against this sequence's caches, and the window-ring update.
 * Row arrays point at the segment's first row. */
static int attend_segment(const ld_call *c, const ld_seg *g, const ld_bf16 *x, const float *xf, const ld_bf16 *qr,
                          const ld_bf16 *q, const ld_bf16 *kv, const float *cs, ld_bf16 *o) {
    const ld_model *m = c->m;
    const ld_config *cf = &m->cfg;
    const ld_backend_ops *ops = m->ops;
    const ld_attn_w *A = &m->layers[c->layer].attn;
    ld_layer_cache *L = &g->s->lc[c->layer];
    int S = g->S, H = cf->n_heads, hd = cf->head_dim, rd = cf->rope_dim, win = cf->window, r = A->ratio;
    long qn = (long)H * hd;

    /* compressed entries: the indexer (CSA) runs before the main compressor, as in the reference */
    int k_max = 0, *sel = NULL;
    if (r == 4) {
        k_max = cf->index_topk;
        sel = ld_scratch_alloc(c->sc, sizeof(int) * (size_t)S * (k_max ? k_max : 1));
        if (!sel) return ld_set_error("out of memory in attention");
        if (indexer(c, g, A, L, x, xf, qr, sel, k_max)) return -1;
        if (g->s->dump) {
            /* dump width as the reference prefill: min(index_topk, S/4) */
            int kw = S / 4 < k_max ? S / 4 : k_max;
            int *dd = ld_scratch_alloc(c->sc, sizeof(int) * (size_t)S * (kw ? kw : 1));
            if (dd) {
                for (int t = 0; t < S; t++) memcpy(dd + (long)t * kw, sel + (long)t * k_max, sizeof(int) * (size_t)kw);
                g->s->dump(g->s->dump_ctx, "indexer_topk", c->layer, LD_DUMP_I32, dd, S, kw);
            }
        }
    }
    if (r && ld_compressor_run(c, g, &A->comp, &L->comp, xf, 0)) return -1;

    /* sparse attention, one query token at a time */
    int W = g->first_call && S < win ? S : win;
    int ncomp_max = r ? (r == 4 ? k_max : L->comp.n) : 0;
    const ld_bf16 **rows = ld_scratch_alloc(c->sc, sizeof(*rows) * (size_t)(W + ncomp_max + 1));
    if (!rows) return ld_set_error("out of memory in attention");
    float scale = (float)pow(hd, -0.5);
    for (int t = 0; t < S; t++) {
        long p = g->P + t;
        int n = 0;
        for (long qp = p - win + 1 < 0 ? 0 : p - win + 1; qp <= p; qp++)
            rows[n++] = qp >= g->P ? kv + (qp - g->P) * hd : L->win + (qp % win) * hd;
        while (n < W) rows[n++] = NULL;
        if (r == 4) {
            for (int i = 0; i < k_max && sel[(long)t * k_max + i] >= 0; i++)
                rows[n++] = L->comp.cache + (long)sel[(long)t * k_max + i] * hd;
        } else if (r) {
            long nvis = (p + 1) / r;
            for (long i = 0; i < nvis; i++) rows[n++] = L->comp.cache + i * hd;
        }
        ops->sparse_attn(q + t * qn, H, hd, rows, n, A->sink, scale, o + t * qn);
        const float *ct = cs + (long)t * rd;
        ops->rope(o + t * qn + hd - rd, H, hd, ct, ct + rd / 2, rd / 2, 1);
    }
    for (int t = S - win < 0 ? 0 : S - win; t < S; t++)
        memcpy(L->win + ((g->P + t) % win) * hd, kv + (long)t * hd, sizeof(ld_bf16) * (size_t)hd);
    return 0;
}

int ld_attention(const ld_call *c, const ld_bf16 *x, ld_bf16 *out) {
    const ld_model *m = c->m;
    const ld_config *cf = &m->cfg;
    const ld_backend_ops *ops = m->ops;
    const ld_attn_w *A = &m->layers[c->layer].attn;
    int S = c->rows, H = cf->n_heads, hd = cf->head_dim, rd = cf->rope_dim;
    int yarn = A->ratio > 0;
    long qn = (long)H * hd;

    ld_bf16 *qa = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * cf->q_lora_rank);
    ld_bf16 *qr = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * cf->q_lora_rank);
    ld_bf16 *q = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * qn);
    ld_bf16 *kv = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * hd);
    ld_bf16 *kvr = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * hd);
    ld_bf16 *o = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * qn);
    float *xf = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)S * cf->dim);
    float *cs = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)S * rd);
    if (c->sc->failed) return ld_set_error("out of memory in attention");
    for (long i = 0; i < (long)S * cf->dim; i++) xf[i] = ld_bf16_to_f32(x[i]);
    for (int si = 0; si < c->n_seg; si++)
        for (int t = 0; t < c->seg[si].S; t++) {
            float *ct = cs + (long)(c->seg[si].row0 + t) * rd;
            ld_model_rope_cos_sin(m, yarn, c->seg[si].P + t, ct, ct + rd / 2);
        }

    /* queries: wq_a -> q_norm -> wq_b -> per-head norm -> RoPE */
    ops->linear(&A->wq_a, x, S, qa);
    ops->rmsnorm(qa, A->q_norm, S, cf->q_lora_rank, (float)cf->norm_eps, qr);
    ops->linear(&A->wq_b, qr, S, q);
    for (int t = 0; t < S; t++) {
        float *ct = cs + (long)t * rd;
        ops->head_rmsnorm(q + t * qn, H, hd, (float)cf->norm_eps);
        ops->rope(q + t * qn + hd - rd, H, hd, ct, ct + rd / 2, rd / 2, 0);
    }
    /* the single KV head: wkv -> kv_norm -> RoPE -> FP8 simulation of the nope dims */
    ops->linear(&A->wkv, x, S, kvr);
    ops->rmsnorm(kvr, A->kv_norm, S, hd, (float)cf->norm_eps, kv);
    for (int t = 0; t < S; t++) {
        float *ct = cs + (long)t * rd;
        ops->rope(kv + (long)t * hd + hd - rd, 1, 0, ct, ct + rd / 2, rd / 2, 0);
        ld_fp8_sim_bf16(kv + (long)t * hd, hd - rd, 64);
    }

    for (int si = 0; si < c->n_seg; si++) {
        const ld_seg *g = &c->seg[si];
        long r0 = g->row0;
        if (attend_segment(c, g, x + r0 * cf->dim, xf + r0 * cf->dim, qr + r0 * cf->q_lora_rank, q + r0 * qn,
                           kv + r0 * hd, cs + r0 * rd, o + r0 * qn))
            return -1;
    }

    /* grouped low-rank output: per group o_g . wo_a_g^T (bf16), then wo_b */
    int G = cf->o_groups, gin = (int)(qn / G), olr = cf->o_lora_rank;
    ld_bf16 *og = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * gin);
    ld_bf16 *tg = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * olr);
    ld_bf16 *tt = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * G * olr);
    if (c->sc->failed) return ld_set_error("out of memory in attention");
    for (int g = 0; g < G; g++) {
        for (int t = 0; t < S; t++) memcpy(og + (long)t * gin, o + t * qn + (long)g * gin, sizeof(ld_bf16) * (size_t)gin);
        ld_weight wg = ld_weight_rows(&A->wo_a, g * olr, olr);
        ops->linear(&wg, og, S, tg);
        for (int t = 0; t < S; t++)
            memcpy(tt + ((long)t * G + g) * olr, tg + (long)t * olr, sizeof(ld_bf16) * (size_t)olr);
    }
    ops->linear(&A->wo_b, tt, S, out);
    return 0;
}
