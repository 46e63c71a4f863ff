/* The V4 forward pass over one call (spec §3.1-3.2):
 *   h = embed[ids] repeated into hc_mult streams
 *   per block: hc_pre -> attn_norm -> attention -> hc_post,
 *              hc_pre -> ffn_norm  -> MoE       -> hc_post
 *   hc_head -> norm -> fp32 head on the last token of each sequence.
 * A call may carry several sequences (segments of rows): their tokens share
 * every weight read, and each row's arithmetic is independent of the others,
 * so a sequence gets the same bits alone or in a batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/layers.h"

static void count_linear(const ld_call *c, const ld_weight *w, int rows) {
    if (!c->m->traffic) return;
    c->m->traffic->macs += (double)rows * w->n * w->k;
    c->m->traffic->weight_bytes += ld_weight_bytes(w);
}

void ld_linear(const ld_call *c, const ld_weight *w, const ld_bf16 *x, int rows, ld_bf16 *y) {
    count_linear(c, w, rows);
    c->m->ops->linear(w, x, rows, y);
}

void ld_linear_f32(const ld_call *c, const ld_weight *w, const float *x, int rows, float *y) {
    count_linear(c, w, rows);
    c->m->ops->linear_f32(w, x, rows, y);
}

static size_t kind_size(ld_dump_kind k) { return k == LD_DUMP_BF16 ? 2 : 4; }

int ld_call_dumping(const ld_call *c) {
    for (int i = 0; i < c->n_seg; i++)
        if (c->seg[i].s->dump) return 1;
    return 0;
}

void ld_call_dump(const ld_call *c, const char *name, ld_dump_kind kind, const void *data, int rows, int cols) {
    (void)rows;
    for (int i = 0; i < c->n_seg; i++) {
        const ld_seg *g = &c->seg[i];
        if (g->s->dump)
            g->s->dump(g->s->dump_ctx, name, c->layer, kind,
                       (const char *)data + (size_t)g->row0 * cols * kind_size(kind), g->S, cols);
    }
}

/* One hyper-connected sublayer: h <- hc_post(f(norm(hc_pre(h))), h). */
static int hc_sublayer(const ld_call *c, const ld_hc_w *hw, const ld_bf16 *norm_w, ld_bf16 *h, int is_attn,
                       const int *ids) {
    const ld_model *m = c->m;
    const ld_config *cf = &m->cfg;
    const ld_backend_ops *ops = m->ops;
    const ld_layer_w *L = &m->layers[c->layer];
    int S = c->rows, D = cf->dim, hc = cf->hc_mult;
    ld_bf16 *x = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * D);
    ld_bf16 *xn = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * D);
    ld_bf16 *y = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * D);
    float *post = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)S * hc);
    float *comb = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)S * hc * hc);
    ld_bf16 *nh = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * hc * D);
    if (c->sc->failed) return ld_set_error("out of memory in block %d", c->layer);
    if (m->traffic) { /* the mixing weights and the sublayer norm */
        m->traffic->macs += (double)S * (2 + hc) * hc * hc * D;
        m->traffic->weight_bytes += (double)(2 + hc) * hc * hc * D * 4 + D * 2;
    }
    ops->hc_pre(h, hw->fn, hw->scale, hw->base, S, D, hc, cf->hc_sinkhorn_iters, (float)cf->norm_eps,
                (float)cf->hc_eps, x, post, comb);
    ops->rmsnorm(x, norm_w, S, D, (float)cf->norm_eps, xn);
    if (is_attn) {
        if (ld_attention(c, xn, y)) return -1;
        ld_call_dump(c, "attn_out", LD_DUMP_BF16, y, S, D);
    } else {
        if (ld_moe(c, &L->ffn, c->layer < cf->n_hash_layers, ids, xn, y)) return -1;
        ld_call_dump(c, "ffn_out", LD_DUMP_BF16, y, S, D);
    }
    /* hc_post reads the residual h while writing the new streams */
    ops->hc_post(y, h, post, comb, S, D, hc, nh);
    memcpy(h, nh, sizeof(ld_bf16) * (size_t)S * hc * D);
    return 0;
}

static int block(const ld_call *c, const int *ids, ld_bf16 *h) {
    const ld_layer_w *L = &c->m->layers[c->layer];
    if (hc_sublayer(c, &L->hc_attn, L->attn_norm, h, 1, ids)) return -1;
    if (hc_sublayer(c, &L->hc_ffn, L->ffn_norm, h, 0, ids)) return -1;
    ld_call_dump(c, "hidden", LD_DUMP_BF16, h, c->rows, c->m->cfg.hc_mult * c->m->cfg.dim);
    return 0;
}

static int check_ids(const ld_session *s, const int *ids, int n) {
    const ld_config *cf = &s->m->cfg;
    if (n <= 0) return ld_set_error("no tokens to evaluate");
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= cf->vocab_size)
            return ld_set_error("token id %d at input position %d is outside the vocabulary [0, %d)", ids[i], i,
                                cf->vocab_size);
    if (s->pos + n > cf->max_position_embeddings)
        return ld_set_error("sequence of %ld tokens exceeds max_position_embeddings %ld", s->pos + n,
                            cf->max_position_embeddings);
    return 0;
}

static ld_seg seg_of(ld_session *s, int n, int row0) {
    return (ld_seg){.s = s, .P = s->pos, .S = n, .row0 = row0, .first_call = s->calls == 0};
}

int ld_session_eval_block(ld_session *s, int layer, const int *ids, int n, ld_bf16 *h) {
    if (layer < 0 || layer >= s->m->cfg.n_layers) return ld_set_error("layer %d does not exist", layer);
    if (check_ids(s, ids, n)) return -1;
    ld_scratch sc = {0};
    ld_seg g = seg_of(s, n, 0);
    ld_call c = {.m = s->m, .layer = layer, .rows = n, .n_seg = 1, .seg = &g, .sc = &sc};
    int rc = block(&c, ids, h);
    ld_scratch_free(&sc);
    return rc;
}

void ld_session_advance(ld_session *s, int n) {
    s->pos += n;
    s->calls++;
}

int ld_batch_eval(ld_session *const *ss, const int *const *ids, const int *n, int B, float *logits) {
    if (B <= 0) return ld_set_error("empty batch");
    const ld_model *m = ss[0]->m;
    const ld_config *cf = &m->cfg;
    const ld_backend_ops *ops = m->ops;
    int D = cf->dim, hc = cf->hc_mult, rows = 0, dumping = 0;
    for (int b = 0; b < B; b++) {
        if (ss[b]->m != m) return ld_set_error("batched sessions must share one model");
        for (int j = 0; j < b; j++)
            if (ss[j] == ss[b]) return ld_set_error("a session appears twice in one batch");
        if (check_ids(ss[b], ids[b], n[b])) return -1;
        rows += n[b];
        dumping |= ss[b]->dump != NULL;
    }
    ld_scratch sc = {0};
    int rc = -1;
    ld_seg *seg = ld_scratch_alloc(&sc, sizeof *seg * (size_t)B);
    int *all_ids = ld_scratch_alloc(&sc, sizeof(int) * (size_t)rows);
    ld_bf16 *h = ld_scratch_alloc(&sc, sizeof(ld_bf16) * (size_t)rows * hc * D);
    if (sc.failed) { ld_set_error("out of memory for %d tokens", rows); goto out; }
    for (int b = 0, r = 0; b < B; r += n[b], b++) {
        seg[b] = seg_of(ss[b], n[b], r);
        memcpy(all_ids + r, ids[b], sizeof(int) * (size_t)n[b]);
    }
    for (int t = 0; t < rows; t++)
        for (int j = 0; j < hc; j++)
            memcpy(h + ((long)t * hc + j) * D, m->embed + (long)all_ids[t] * D, sizeof(ld_bf16) * (size_t)D);
    for (int l = 0; l < cf->n_layers; l++) {
        ld_call c = {.m = m, .layer = l, .rows = rows, .n_seg = B, .seg = seg, .sc = &sc};
        if (block(&c, all_ids, h)) goto out;
    }
    /* head: only each sequence's last position is needed unless someone observes all rows */
    int hr = dumping ? rows : B;
    ld_bf16 *hl = ld_scratch_alloc(&sc, sizeof(ld_bf16) * (size_t)hr * hc * D);
    ld_bf16 *xh = ld_scratch_alloc(&sc, sizeof(ld_bf16) * (size_t)hr * D);
    ld_bf16 *xn = ld_scratch_alloc(&sc, sizeof(ld_bf16) * (size_t)hr * D);
    float *xf = ld_scratch_alloc(&sc, sizeof(float) * (size_t)B * D);
    if (sc.failed) { ld_set_error("out of memory in the head"); goto out; }
    if (dumping) memcpy(hl, h, sizeof(ld_bf16) * (size_t)rows * hc * D);
    else
        for (int b = 0; b < B; b++)
            memcpy(hl + (long)b * hc * D, h + (long)(seg[b].row0 + n[b] - 1) * hc * D, sizeof(ld_bf16) * (size_t)hc * D);
    if (m->traffic) {
        m->traffic->macs += (double)hr * hc * hc * D;
        m->traffic->weight_bytes += (double)hc * hc * D * 4 + D * 2;
    }
    ops->hc_head(hl, m->hc_head.fn, m->hc_head.scale, m->hc_head.base, hr, D, hc, (float)cf->norm_eps,
                 (float)cf->hc_eps, xh);
    ops->rmsnorm(xh, m->norm, hr, D, (float)cf->norm_eps, xn);
    for (int b = 0; b < B; b++) {
        long last = dumping ? seg[b].row0 + n[b] - 1 : b;
        if (ss[b]->dump) ss[b]->dump(ss[b]->dump_ctx, "final_norm", -1, LD_DUMP_BF16, xn + (long)seg[b].row0 * D, n[b], D);
        for (int i = 0; i < D; i++) xf[(long)b * D + i] = ld_bf16_to_f32(xn[last * D + i]);
    }
    if (logits) {
        ld_call hc = {.m = m, .layer = -1, .rows = B, .n_seg = B, .seg = seg, .sc = &sc};
        ld_linear_f32(&hc, &m->head, xf, B, logits);
    }
    if (m->traffic) m->traffic->weight_bytes += (double)rows * D * 2; /* embedding rows */
    for (int b = 0; b < B; b++) ld_session_advance(ss[b], n[b]);
    rc = 0;
out:
    ld_scratch_free(&sc);
    return rc;
}

int ld_session_eval(ld_session *s, const int *ids, int n, float *logits) { return ld_batch_eval(&s, &ids, &n, 1, logits); }
