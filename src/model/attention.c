/* V4 attention: low-rank queries with per-head RMS normalization, one shared
 * 512-d KV head (key == value), RoPE on the last rope_dim dims, sliding
 * window + compressed entries (HCA: all; CSA: lightning-indexer top-k),
 * attention sink, inverse RoPE on the output, grouped low-rank output.
 *
 * Everything that is a function of one row (projections, norms, RoPE) runs
 * over all rows of the call at once, so batched sequences share each weight
 * read; what depends on a sequence's cache runs per segment.
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

/* Row-wise products of one call, shared by the per-segment steps. */
typedef struct {
    const ld_bf16 *x;   /* [rows, dim] normed input */
    const float *xf;    /* same, fp32 */
    const ld_bf16 *q;   /* [rows, H*hd] rotated queries */
    const ld_bf16 *kv;  /* [rows, hd] new window entries */
    const float *cs;    /* [rows, rd] cos | sin per row */
    float *ckv, *csc;   /* main compressor projections [rows, c*hd] */
    const ld_bf16 *iq;  /* indexer queries [rows, Hi*dI] (CSA) */
    const ld_bf16 *iw;  /* indexer head weights [rows, Hi] */
    float *ikv, *isc;   /* indexer compressor projections [rows, 2*dI] */
    ld_bf16 *o;         /* [rows, H*hd] attention output */
} rows_t;

static int project_indexer(const ld_call *c, const ld_attn_w *A, const ld_bf16 *qr, rows_t *R) {
    const ld_model *m = c->m;
    const ld_config *cf = &m->cfg;
    const ld_backend_ops *ops = m->ops;
    int S = c->rows, Hi = cf->index_n_heads, dI = cf->index_head_dim, rd = cf->rope_dim;
    float *cs = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)rd);
    ld_bf16 *q = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * Hi * dI);
    ld_bf16 *w = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * Hi);
    if (c->sc->failed) return ld_set_error("out of memory in the indexer");
    ld_linear(c, &A->idx_wq_b, qr, S, q);
    for (int si = 0; si < c->n_seg; si++)
        for (int t = 0; t < c->seg[si].S; t++) {
            ld_bf16 *qt = q + (long)(c->seg[si].row0 + t) * Hi * dI;
            ld_model_rope_cos_sin(m, 1, c->seg[si].P + t, cs, cs + rd / 2);
            ops->rope(qt + dI - rd, Hi, dI, cs, cs + rd / 2, rd / 2, 0);
            ops->hadamard(qt, Hi, dI);
            for (int h = 0; h < Hi; h++) ld_fp4_sim_bf16(qt + (long)h * dI, dI, 32);
        }
    ld_linear(c, &A->idx_wproj, R->x, S, w);
    /* the scalar is formed in double as the reference does (d^-0.5 * h^-0.5) */
    float wscale = (float)(pow(dI, -0.5) * pow(Hi, -0.5));
    for (long i = 0; i < (long)S * Hi; i++) w[i] = ld_f32_to_bf16(ld_bf16_to_f32(w[i]) * wscale);
    R->iq = q;
    R->iw = w;
    return ld_compressor_project(c, &A->idx_comp, R->xf, &R->ikv, &R->isc);
}

/* Lightning-indexer selection of one segment: sel[t*k_max ...] = top-k
 * compressed ids of each token, -1 padded. */
static int select_segment(const ld_call *c, const ld_seg *g, const ld_attn_w *A, ld_layer_cache *L, const rows_t *R,
                          int *sel, int k_max) {
    const ld_config *cf = &c->m->cfg;
    const ld_backend_ops *ops = c->m->ops;
    int Hi = cf->index_n_heads, dI = cf->index_head_dim, r0 = g->row0;
    if (ld_compressor_run(c, g, &A->idx_comp, &L->icomp, R->ikv + (long)r0 * 2 * dI, R->isc + (long)r0 * 2 * dI, 1))
        return -1;
    float *score = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)(L->icomp.n + 1));
    if (!score) return ld_set_error("out of memory in the indexer");
    for (int t = 0; t < g->S; t++) {
        int nvis = (int)((g->P + t + 1) / 4), k = nvis < cf->index_topk ? nvis : cf->index_topk;
        int *st = sel + (long)t * k_max;
        for (int i = 0; i < k_max; i++) st[i] = -1;
        if (!k) continue;
        ops->indexer_scores(R->iq + (long)(r0 + t) * Hi * dI, R->iw + (long)(r0 + t) * Hi, Hi, dI, L->icomp.cache, nvis,
                            score);
        ops->topk(score, nvis, k, st);
    }
    if (g->s->dump) {
        /* dump width as the reference prefill: min(index_topk, S/4) */
        int kw = g->S / 4 < k_max ? g->S / 4 : k_max;
        int *dd = ld_scratch_alloc(c->sc, sizeof(int) * (size_t)g->S * (kw ? kw : 1));
        if (dd) {
            for (int t = 0; t < g->S; t++) memcpy(dd + (long)t * kw, sel + (long)t * k_max, sizeof(int) * (size_t)kw);
            g->s->dump(g->s->dump_ctx, "indexer_topk", c->layer, LD_DUMP_I32, dd, g->S, kw);
        }
    }
    return 0;
}

/* Per-sequence part: compressed entries, sparse attention against this
 * sequence's caches, inverse RoPE of the output, the window-ring update. */
static int attend_segment(const ld_call *c, const ld_seg *g, const rows_t *R) {
    const ld_model *m = c->m;
    const ld_config *cf = &m->cfg;
    const ld_backend_ops *ops = m->ops;
    const ld_attn_w *A = &m->layers[c->layer].attn;
    ld_layer_cache *L = &g->s->lc[c->layer];
    int S = g->S, H = cf->n_heads, hd = cf->head_dim, rd = cf->rope_dim, win = cf->window, r = A->ratio;
    long qn = (long)H * hd, r0 = g->row0;
    const ld_bf16 *kv = R->kv + r0 * hd;

    /* the indexer (CSA) runs before the main compressor, as in the reference */
    int k_max = 0, *sel = NULL;
    if (r == 4) {
        k_max = cf->index_topk;
        sel = ld_scratch_alloc(c->sc, sizeof(int) * (size_t)S * (k_max ? k_max : 1));
        if (!sel) return ld_set_error("out of memory in attention");
        if (select_segment(c, g, A, L, R, sel, k_max)) return -1;
    }
    int cd = (r == 4 ? 2 : 1) * hd;
    if (r && ld_compressor_run(c, g, &A->comp, &L->comp, R->ckv + r0 * cd, R->csc + r0 * cd, 0)) return -1;

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
        ld_bf16 *ot = R->o + (r0 + t) * qn;
        ops->sparse_attn(R->q + (r0 + t) * qn, H, hd, rows, n, A->sink, scale, ot);
        const float *ct = R->cs + (r0 + t) * rd;
        ops->rope(ot + hd - rd, H, hd, ct, ct + rd / 2, rd / 2, 1);
        if (m->traffic) m->traffic->macs += 2.0 * n * H * hd;
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
            ld_model_rope_cos_sin(m, A->ratio > 0, c->seg[si].P + t, ct, ct + rd / 2);
        }

    /* queries: wq_a -> q_norm -> wq_b -> per-head norm -> RoPE */
    ld_linear(c, &A->wq_a, x, S, qa);
    ops->rmsnorm(qa, A->q_norm, S, cf->q_lora_rank, (float)cf->norm_eps, qr);
    ld_linear(c, &A->wq_b, qr, S, q);
    for (int t = 0; t < S; t++) {
        float *ct = cs + (long)t * rd;
        ops->head_rmsnorm(q + t * qn, H, hd, (float)cf->norm_eps);
        ops->rope(q + t * qn + hd - rd, H, hd, ct, ct + rd / 2, rd / 2, 0);
    }
    /* the single KV head: wkv -> kv_norm -> RoPE -> FP8 simulation of the nope dims */
    ld_linear(c, &A->wkv, x, S, kvr);
    ops->rmsnorm(kvr, A->kv_norm, S, hd, (float)cf->norm_eps, kv);
    for (int t = 0; t < S; t++) {
        float *ct = cs + (long)t * rd;
        ops->rope(kv + (long)t * hd + hd - rd, 1, 0, ct, ct + rd / 2, rd / 2, 0);
        ld_fp8_sim_bf16(kv + (long)t * hd, hd - rd, 64);
    }

    rows_t R = {.x = x, .xf = xf, .q = q, .kv = kv, .cs = cs, .o = o};
    if (A->ratio == 4 && project_indexer(c, A, qr, &R)) return -1;
    if (A->ratio && ld_compressor_project(c, &A->comp, xf, &R.ckv, &R.csc)) return -1;
    for (int si = 0; si < c->n_seg; si++)
        if (attend_segment(c, &c->seg[si], &R)) return -1;

    /* grouped low-rank output: per group o_g . wo_a_g^T (bf16), then wo_b */
    int G = cf->o_groups, gin = (int)(qn / G), olr = cf->o_lora_rank;
    ld_bf16 *og = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * gin);
    ld_bf16 *tg = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * olr);
    ld_bf16 *tt = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * G * olr);
    if (c->sc->failed) return ld_set_error("out of memory in attention");
    for (int g = 0; g < G; g++) {
        for (int t = 0; t < S; t++) memcpy(og + (long)t * gin, o + t * qn + (long)g * gin, sizeof(ld_bf16) * (size_t)gin);
        ld_weight wg = ld_weight_rows(&A->wo_a, g * olr, olr);
        ld_linear(c, &wg, og, S, tg);
        for (int t = 0; t < S; t++)
            memcpy(tt + ((long)t * G + g) * olr, tg + (long)t * olr, sizeof(ld_bf16) * (size_t)olr);
    }
    ld_linear(c, &A->wo_b, tt, S, out);
    return 0;
}
