/* V4 attention: low-rank queries with per-head RMS normalization, one shared
 * 512-d KV head (key == value), RoPE on the last rope_dim dims, sliding
 * window + compressed entries (HCA: all; CSA: lightning-indexer top-k),
 * attention sink, inverse RoPE on the output, grouped low-rank output.
 *
 * Everything that is a function of one row (projections, norms, RoPE) runs
 * over all rows of the call at once, so batched sequences share each weight
 * read; what depends on a sequence's cache (compressors, indexer selection,
 * attention, the window ring) runs per segment, each as one op over the
 * segment's rows. The index lists the attention walks are defined by the
 * `attend` op (backend.h): the reference's order matters, because its online
 * softmax runs in blocks of 64 entries. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/layers.h"

/* Row-wise products of one call, shared by the per-segment steps. */
typedef struct {
    const ld_bf16 *q;   /* [rows, H*hd] rotated queries */
    const ld_bf16 *kv;  /* [rows, hd] new window entries */
    float *ckv, *csc;   /* main compressor projections [rows, c*hd] */
    const ld_bf16 *iq;  /* indexer queries [rows, Hi*dI] (CSA) */
    const ld_bf16 *iw;  /* indexer head weights [rows, Hi] */
    float *ikv, *isc;   /* indexer compressor projections [rows, 2*dI] */
    ld_bf16 *o;         /* [rows, H*hd] attention output */
} rows_t;

/* Compressor projections of all the call's rows (x: [rows, dim] fp32). */
static int compressor_project(const ld_call *c, const ld_compressor_w *w, const float *x, float **kv, float **sc) {
    int cd = (1 + w->overlap) * w->d;
    *kv = ld_call_alloc(c, sizeof(float) * (size_t)c->rows * cd);
    *sc = ld_call_alloc(c, sizeof(float) * (size_t)c->rows * cd);
    if (c->ar->failed) return -1;
    if (ld_linear_f32(c, &w->wkv, x, c->rows, *kv)) return -1;
    return ld_linear_f32(c, &w->wgate, x, c->rows, *sc);
}

/* One segment's compressor step; the entry count is known from the
 * positions alone, so the host never reads the cache. */
static int compressor_run(const ld_call *c, const ld_seg *g, const ld_compressor_w *w, ld_comp_cache *cc, float *kv,
                          float *sc, int rotate) {
    const ld_config *cf = &c->m->cfg;
    int r = w->ratio, slot = ld_call_ratio_slot(c, r);
    int blocks = (int)((g->P + g->S) / r - g->P / r);
    if (cc->n + blocks > cc->cap) return ld_set_error("compressed KV cache of %d entries is full", cc->cap);
    ld_compress_args a = {.kv = kv, .sc = sc, .S = g->S, .P = g->P, .ape = w->ape, .kv_state = cc->kv_state,
                          .sc_state = cc->sc_state, .cache = cc->cache, .n0 = cc->n, .ratio = r, .d = w->d,
                          .overlap = w->overlap, .rope_dim = cf->rope_dim, .rotate = rotate, .norm = w->norm,
                          .norm_eps = (float)cf->norm_eps, .cs_emit = g->cs_emit[slot]};
    if (c->be->ops->compress(c->be, &a)) return -1;
    cc->n += blocks;
    return 0;
}

static int project_indexer(const ld_call *c, const ld_attn_w *A, const ld_bf16 *qr, const ld_bf16 *x, const float *xf,
                           rows_t *R) {
    const ld_config *cf = &c->m->cfg;
    ld_backend *be = c->be;
    int S = c->rows, Hi = cf->index_n_heads, dI = cf->index_head_dim, rd = cf->rope_dim;
    ld_bf16 *q = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)S * Hi * dI);
    ld_bf16 *w = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)S * Hi);
    if (c->ar->failed) return -1;
    if (ld_linear(c, &A->idx_wq_b, qr, S, q) ||
        be->ops->rope(be, q + dI - rd, S, (long)Hi * dI, Hi, dI, c->cs[1], rd / 2, 0) ||
        be->ops->hadamard(be, q, S * Hi, dI) || be->ops->quant_sim(be, q, S * Hi, dI, dI, 32, 1) ||
        ld_linear(c, &A->idx_wproj, x, S, w))
        return -1;
    /* the scalar is formed in double as the reference does (d^-0.5 * h^-0.5) */
    if (be->ops->scale_bf16(be, w, (long)S * Hi, (float)(pow(dI, -0.5) * pow(Hi, -0.5)))) return -1;
    R->iq = q;
    R->iw = w;
    return compressor_project(c, &A->idx_comp, xf, &R->ikv, &R->isc);
}

/* Lightning-indexer selection of one segment: sel [S, k_max] top-k
 * compressed ids of each token, -1 padded. */
static int select_segment(const ld_call *c, const ld_seg *g, const ld_attn_w *A, ld_layer_cache *L, const rows_t *R,
                          int *sel, int k_max) {
    const ld_config *cf = &c->m->cfg;
    int Hi = cf->index_n_heads, dI = cf->index_head_dim, r0 = g->row0;
    if (compressor_run(c, g, &A->idx_comp, &L->icomp, R->ikv + (long)r0 * 2 * dI, R->isc + (long)r0 * 2 * dI, 1))
        return -1;
    ld_select_args a = {.q = R->iq + (long)r0 * Hi * dI, .w = R->iw + (long)r0 * Hi, .S = g->S, .h = Hi, .d = dI,
                        .P = g->P, .keys = L->icomp.cache, .topk = cf->index_topk, .k_max = k_max, .sel = sel};
    if (c->be->ops->indexer_select(c->be, &a)) return -1;
    if (g->s->dump) {
        /* dump width as the reference prefill: min(index_topk, S/4) */
        int kw = g->S / 4 < k_max ? g->S / 4 : k_max;
        int *all = malloc(sizeof(int) * (size_t)g->S * (k_max ? k_max : 1));
        int *dd = malloc(sizeof(int) * (size_t)g->S * (kw ? kw : 1));
        if (all && dd && !ld_call_fetch(c, all, sel, sizeof(int) * (size_t)g->S * k_max)) {
            for (int t = 0; t < g->S; t++) memcpy(dd + (long)t * kw, all + (long)t * k_max, sizeof(int) * (size_t)kw);
            g->s->dump(g->s->dump_ctx, "indexer_topk", c->layer, LD_DUMP_I32, dd, g->S, kw);
        }
        free(all);
        free(dd);
    }
    return 0;
}

/* Stores the segment's new entries in the window ring (the last `window`
 * of them), in at most two contiguous runs. */
static int ring_store(const ld_call *c, const ld_seg *g, ld_bf16 *ring, const ld_bf16 *kv) {
    int win = c->m->cfg.window, hd = c->m->cfg.head_dim, n = g->S < win ? g->S : win;
    long p0 = g->P + g->S - n;
    int s0 = (int)(p0 % win), run = n < win - s0 ? n : win - s0;
    size_t row = sizeof(ld_bf16) * (size_t)hd;
    const ld_bf16 *src = kv + (long)(g->S - n) * hd;
    if (c->be->ops->copy_rows(c->be, ring + (long)s0 * hd, 0, src, 0, row * run, 1)) return -1;
    if (run < n && c->be->ops->copy_rows(c->be, ring, 0, src + (long)run * hd, 0, row * (n - run), 1)) return -1;
    return 0;
}

/* Per-sequence caches: the indexer (CSA) selection, then the main
 * compressor, as in the reference; sel is the segment's rows of the call's
 * [rows, k_max] selection. */
static int prepare_segment(const ld_call *c, const ld_seg *g, const rows_t *R, int *sel) {
    const ld_config *cf = &c->m->cfg;
    const ld_attn_w *A = &c->m->layers[c->layer].attn;
    ld_layer_cache *L = &g->s->lc[c->layer];
    int r = A->ratio, hd = cf->head_dim, cd = (r == 4 ? 2 : 1) * hd;
    long r0 = g->row0;
    if (r == 4 && select_segment(c, g, A, L, R, sel + r0 * cf->index_topk, cf->index_topk)) return -1;
    if (r && compressor_run(c, g, &A->comp, &L->comp, R->ckv + r0 * cd, R->csc + r0 * cd, 0)) return -1;
    return 0;
}

/* Per-sequence attention against this sequence's caches, inverse RoPE of
 * the output, then the window-ring update. */
static int attend_segment(const ld_call *c, const ld_seg *g, const rows_t *R, const int *sel) {
    const ld_model *m = c->m;
    const ld_config *cf = &m->cfg;
    ld_backend *be = c->be;
    const ld_attn_w *A = &m->layers[c->layer].attn;
    ld_layer_cache *L = &g->s->lc[c->layer];
    int S = g->S, H = cf->n_heads, hd = cf->head_dim, rd = cf->rope_dim, win = cf->window, r = A->ratio;
    int k_max = r == 4 ? cf->index_topk : 0;
    long qn = (long)H * hd, r0 = g->row0;
    int W = g->first_call && S < win ? S : win;
    ld_attend_args a = {.q = R->q + r0 * qn, .rows = S, .h = H, .d = hd, .kv_new = R->kv + r0 * hd, .ring = L->win,
                        .window = win, .W = W, .P = g->P, .comp = r ? L->comp.cache : NULL,
                        .comp_idx = r == 4 ? sel + r0 * k_max : NULL, .k_max = k_max, .comp_ratio = r == 4 ? 0 : r,
                        .sink = A->sink, .scale = (float)pow(hd, -0.5), .out = R->o + r0 * qn};
    if (be->ops->attend(be, &a)) return -1;
    if (m->traffic) /* the entries each row walks: W window slots plus its compressed ones */
        for (int t = 0; t < S; t++) {
            long p = g->P + t, nc = 0;
            if (r == 4) nc = (p + 1) / 4 < cf->index_topk ? (p + 1) / 4 : cf->index_topk;
            else if (r) nc = (p + 1) / r;
            m->traffic->macs += 2.0 * (W + nc) * H * hd;
        }
    if (be->ops->rope(be, R->o + r0 * qn + hd - rd, S, qn, H, hd, c->cs[r > 0] + r0 * rd, rd / 2, 1)) return -1;
    return ring_store(c, g, L->win, R->kv + r0 * hd);
}

/* Scratch is taken in the order it can be given back: what the
 * projections and the compressors need is released before the attention
 * output is allocated, and the grouped output projection works in the
 * queries' memory once attention has read them; the indexer selection is
 * call-level scratch. So every kind of layer holds the same at its peak:
 * the queries and the output (32 MB each at 512 rows of V4-Flash). */
int ld_attention(const ld_call *c, const ld_bf16 *x, ld_bf16 *out) {
    const ld_model *m = c->m;
    const ld_config *cf = &m->cfg;
    ld_backend *be = c->be;
    const ld_attn_w *A = &m->layers[c->layer].attn;
    int S = c->rows, H = cf->n_heads, hd = cf->head_dim, rd = cf->rope_dim;
    long qn = (long)H * hd;
    const float *cs = c->cs[A->ratio > 0];

    ld_bf16 *q = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)S * qn);
    ld_bf16 *kv = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)S * hd);
    int *sel = A->ratio == 4 ? c->sel : NULL;
    if (c->ar->failed) return -1;
    ld_scratch_mark mk = ld_scratch_save(c->ar);
    ld_bf16 *qa = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)S * cf->q_lora_rank);
    ld_bf16 *qr = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)S * cf->q_lora_rank);
    ld_bf16 *kvr = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)S * hd);
    float *xf = A->ratio ? ld_call_alloc(c, sizeof(float) * (size_t)S * cf->dim) : NULL;
    if (c->ar->failed) return -1;
    if (xf && be->ops->widen(be, x, (long)S * cf->dim, xf)) return -1;

    /* queries: wq_a -> q_norm -> wq_b -> per-head norm -> RoPE */
    if (ld_linear(c, &A->wq_a, x, S, qa) || be->ops->rmsnorm(be, qa, A->q_norm, S, cf->q_lora_rank, (float)cf->norm_eps, qr) ||
        ld_linear(c, &A->wq_b, qr, S, q) || be->ops->head_rmsnorm(be, q, S * H, hd, (float)cf->norm_eps) ||
        be->ops->rope(be, q + hd - rd, S, qn, H, hd, cs, rd / 2, 0))
        return -1;
    /* the single KV head: wkv -> kv_norm -> RoPE -> FP8 simulation of the nope dims */
    if (ld_linear(c, &A->wkv, x, S, kvr) || be->ops->rmsnorm(be, kvr, A->kv_norm, S, hd, (float)cf->norm_eps, kv) ||
        be->ops->rope(be, kv + hd - rd, S, hd, 1, 0, cs, rd / 2, 0) ||
        be->ops->quant_sim(be, kv, S, hd, hd - rd, 64, 0))
        return -1;

    rows_t R = {.q = q, .kv = kv};
    if (A->ratio == 4 && project_indexer(c, A, qr, x, xf, &R)) return -1;
    if (A->ratio && compressor_project(c, &A->comp, xf, &R.ckv, &R.csc)) return -1;
    for (int si = 0; si < c->n_seg; si++)
        if (prepare_segment(c, &c->seg[si], &R, sel)) return -1;
    ld_scratch_restore(c->ar, mk);

    R.o = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)S * qn);
    if (!R.o) return -1;
    for (int si = 0; si < c->n_seg; si++)
        if (attend_segment(c, &c->seg[si], &R, sel)) return -1;

    /* grouped low-rank output: per group o_g . wo_a_g^T (bf16), then wo_b */
    int G = cf->o_groups, gin = (int)(qn / G), olr = cf->o_lora_rank;
    ld_bf16 *og = q, *tg = og + (long)S * gin, *tt = tg + (long)S * olr;
    if ((long)gin + olr + (long)G * olr > qn) { /* a config whose output stage outgrows the queries */
        og = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)S * gin);
        tg = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)S * olr);
        tt = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)S * G * olr);
        if (c->ar->failed) return -1;
    }
    size_t e = sizeof(ld_bf16);
    ld_bf16 *o = R.o;
    for (int g = 0; g < G; g++) {
        ld_weight wg = ld_weight_rows(&A->wo_a, g * olr, olr);
        if (be->ops->copy_rows(be, og, e * gin, o + (long)g * gin, e * qn, e * gin, S) || ld_linear(c, &wg, og, S, tg) ||
            be->ops->copy_rows(be, tt + (long)g * olr, e * G * olr, tg, e * olr, e * olr, S))
            return -1;
    }
    return ld_linear(c, &A->wo_b, tt, S, out);
}
