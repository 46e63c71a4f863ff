/* The V4 forward pass over one call's tokens (spec §3.1-3.2):
 *   h = embed[ids] repeated into hc_mult streams
 *   per block: hc_pre -> attn_norm -> attention -> hc_post,
 *              hc_pre -> ffn_norm  -> MoE       -> hc_post
 *   hc_head -> norm -> fp32 head on the last token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/layers.h"

void ld_call_dump(const ld_call *c, const char *name, ld_dump_kind kind, const void *data, int rows, int cols) {
    if (c->s->dump) c->s->dump(c->s->dump_ctx, name, c->layer, kind, data, rows, cols);
}

/* One hyper-connected sublayer: h <- hc_post(f(norm(hc_pre(h))), h). */
static int hc_sublayer(const ld_call *c, const ld_hc_w *hw, const ld_bf16 *norm_w, ld_bf16 *h, int is_attn,
                       const int *ids) {
    const ld_model *m = c->s->m;
    const ld_config *cf = &m->cfg;
    const ld_backend_ops *ops = m->ops;
    const ld_layer_w *L = &m->layers[c->layer];
    int S = c->S, D = cf->dim, hc = cf->hc_mult;
    ld_bf16 *x = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * D);
    ld_bf16 *xn = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * D);
    ld_bf16 *y = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * D);
    float *post = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)S * hc);
    float *comb = ld_scratch_alloc(c->sc, sizeof(float) * (size_t)S * hc * hc);
    if (c->sc->failed) return ld_set_error("out of memory in block %d", c->layer);
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
    ld_bf16 *nh = ld_scratch_alloc(c->sc, sizeof(ld_bf16) * (size_t)S * hc * D);
    if (!nh) return ld_set_error("out of memory in block %d", c->layer);
    ops->hc_post(y, h, post, comb, S, D, hc, nh);
    memcpy(h, nh, sizeof(ld_bf16) * (size_t)S * hc * D);
    return 0;
}

static int block(ld_session *s, int l, const int *ids, int n, ld_bf16 *h, ld_scratch *sc) {
    ld_call c = {.s = s, .layer = l, .P = s->pos, .S = n, .first_call = s->calls == 0, .sc = sc};
    const ld_layer_w *L = &s->m->layers[l];
    if (hc_sublayer(&c, &L->hc_attn, L->attn_norm, h, 1, ids)) return -1;
    if (hc_sublayer(&c, &L->hc_ffn, L->ffn_norm, h, 0, ids)) return -1;
    ld_call_dump(&c, "hidden", LD_DUMP_BF16, h, n, s->m->cfg.hc_mult * s->m->cfg.dim);
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

int ld_session_eval_block(ld_session *s, int layer, const int *ids, int n, ld_bf16 *h) {
    if (layer < 0 || layer >= s->m->cfg.n_layers) return ld_set_error("layer %d does not exist", layer);
    if (check_ids(s, ids, n)) return -1;
    ld_scratch sc = {0};
    int rc = block(s, layer, ids, n, h, &sc);
    ld_scratch_free(&sc);
    return rc;
}

void ld_session_advance(ld_session *s, int n) {
    s->pos += n;
    s->calls++;
}

int ld_session_eval(ld_session *s, const int *ids, int n, float *logits) {
    const ld_model *m = s->m;
    const ld_config *cf = &m->cfg;
    const ld_backend_ops *ops = m->ops;
    int D = cf->dim, hc = cf->hc_mult;
    if (check_ids(s, ids, n)) return -1;
    ld_scratch sc = {0};
    int rc = -1;
    ld_bf16 *h = ld_scratch_alloc(&sc, sizeof(ld_bf16) * (size_t)n * hc * D);
    if (!h) { ld_set_error("out of memory for %d tokens", n); goto out; }
    for (int t = 0; t < n; t++)
        for (int j = 0; j < hc; j++)
            memcpy(h + ((long)t * hc + j) * D, m->embed + (long)ids[t] * D, sizeof(ld_bf16) * (size_t)D);
    for (int l = 0; l < cf->n_layers; l++)
        if (block(s, l, ids, n, h, &sc)) goto out;
    /* head: only the last position is needed unless someone observes all rows */
    int first = s->dump ? 0 : n - 1, rows = n - first;
    ld_bf16 *xh = ld_scratch_alloc(&sc, sizeof(ld_bf16) * (size_t)rows * D);
    ld_bf16 *xn = ld_scratch_alloc(&sc, sizeof(ld_bf16) * (size_t)rows * D);
    float *xf = ld_scratch_alloc(&sc, sizeof(float) * (size_t)D);
    if (sc.failed) { ld_set_error("out of memory in the head"); goto out; }
    ops->hc_head(h + (long)first * hc * D, m->hc_head.fn, m->hc_head.scale, m->hc_head.base, rows, D, hc,
                 (float)cf->norm_eps, (float)cf->hc_eps, xh);
    ops->rmsnorm(xh, m->norm, rows, D, (float)cf->norm_eps, xn);
    if (s->dump) s->dump(s->dump_ctx, "final_norm", -1, LD_DUMP_BF16, xn, rows, D);
    if (logits) {
        for (int i = 0; i < D; i++) xf[i] = ld_bf16_to_f32(xn[(long)(rows - 1) * D + i]);
        ops->linear_f32(&m->head, xf, 1, logits);
    }
    ld_session_advance(s, n);
    rc = 0;
out:
    ld_scratch_free(&sc);
    return rc;
}
