/* The V4 forward pass over one call (spec §3.1-3.2):
 *   h = embed[ids] repeated into hc_mult streams
 *   per block: hc_pre -> attn_norm -> attention -> hc_post,
 *              hc_pre -> ffn_norm  -> MoE       -> hc_post
 *   hc_head -> norm -> fp32 head on the last token of each sequence.
 * A call may carry several sequences (segments of rows): their tokens share
 * every weight read, and each row's arithmetic is independent of the others,
 * so a sequence gets the same bits alone or in a batch.
 *
 * Everything runs as backend ops on backend memory. What crosses to the
 * device per call: the token ids and the RoPE cos/sin rows of the call's
 * positions (computed here, in double as the reference does, so a device
 * needs no fp64); what comes back: the logits. Scratch comes from the
 * model's arena, reset after each layer. */
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

int ld_linear(const ld_call *c, const ld_weight *w, const ld_bf16 *x, int rows, ld_bf16 *y) {
    count_linear(c, w, rows);
    return c->be->ops->linear(c->be, w, x, rows, y);
}

int ld_linear_f32(const ld_call *c, const ld_weight *w, const float *x, int rows, float *y) {
    count_linear(c, w, rows);
    return c->be->ops->linear_f32(c->be, w, x, rows, y);
}

void *ld_call_alloc(const ld_call *c, size_t bytes) {
    void *p = ld_scratch_alloc(c->ar, bytes);
    if (!p) ld_set_error("out of memory for %zu bytes of scratch in block %d", bytes, c->layer);
    return p;
}

int ld_call_ratio_slot(const ld_call *c, int r) {
    for (int i = 0; i < c->n_ratios; i++)
        if (c->ratios[i] == r) return i;
    return -1;
}

static size_t kind_size(ld_dump_kind k) { return k == LD_DUMP_BF16 ? 2 : 4; }

int ld_call_dumping(const ld_call *c) {
    for (int i = 0; i < c->n_seg; i++)
        if (c->seg[i].s->dump) return 1;
    return 0;
}

int ld_call_fetch(const ld_call *c, void *dst, const void *src, size_t bytes) {
    ld_xfer keep = c->be->xfer;
    int rc = ld_be_download(c->be, dst, src, bytes);
    c->be->xfer = keep;
    return rc;
}

void ld_call_dump(const ld_call *c, const char *name, ld_dump_kind kind, const void *data, int rows, int cols) {
    if (!ld_call_dumping(c)) return;
    size_t bytes = (size_t)rows * cols * kind_size(kind);
    const char *host = data;
    char *copy = NULL;
    if (c->be->ops->mem != LD_MEM_HOST) {
        copy = malloc(bytes ? bytes : 1);
        if (!copy || ld_call_fetch(c, copy, data, bytes)) {
            free(copy);
            return;
        }
        host = copy;
    }
    for (int i = 0; i < c->n_seg; i++) {
        const ld_seg *g = &c->seg[i];
        if (g->s->dump)
            g->s->dump(g->s->dump_ctx, name, c->layer, kind, host + (size_t)g->row0 * cols * kind_size(kind), g->S,
                       cols);
    }
    free(copy);
}

/* One hyper-connected sublayer: h <- hc_post(f(norm(hc_pre(h))), h). The
 * new streams go to *spare, and the two buffers swap. */
static int hc_sublayer(const ld_call *c, const ld_hc_w *hw, const ld_bf16 *norm_w, ld_bf16 **h, ld_bf16 **spare,
                       int is_attn) {
    const ld_model *m = c->m;
    const ld_config *cf = &m->cfg;
    ld_backend *be = c->be;
    const ld_layer_w *L = &m->layers[c->layer];
    int S = c->rows, D = cf->dim, hc = cf->hc_mult;
    ld_scratch_mark mk = ld_scratch_save(c->ar);
    ld_bf16 *x = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)S * D);
    ld_bf16 *xn = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)S * D);
    ld_bf16 *y = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)S * D);
    float *post = ld_call_alloc(c, sizeof(float) * (size_t)S * hc);
    float *comb = ld_call_alloc(c, sizeof(float) * (size_t)S * hc * hc);
    if (c->ar->failed) return -1;
    if (m->traffic) { /* the mixing weights and the sublayer norm */
        m->traffic->macs += (double)S * (2 + hc) * hc * hc * D;
        m->traffic->weight_bytes += (double)(2 + hc) * hc * hc * D * 4 + D * 2;
    }
    if (be->ops->hc_pre(be, *h, hw->fn, hw->scale, hw->base, S, D, hc, cf->hc_sinkhorn_iters, (float)cf->norm_eps,
                        (float)cf->hc_eps, x, post, comb) ||
        be->ops->rmsnorm(be, x, norm_w, S, D, (float)cf->norm_eps, xn))
        return -1;
    if (is_attn) {
        if (ld_attention(c, xn, y)) return -1;
        ld_call_dump(c, "attn_out", LD_DUMP_BF16, y, S, D);
    } else {
        if (ld_moe(c, &L->ffn, c->layer < cf->n_hash_layers, xn, y)) return -1;
        ld_call_dump(c, "ffn_out", LD_DUMP_BF16, y, S, D);
    }
    if (be->ops->hc_post(be, y, *h, post, comb, S, D, hc, *spare)) return -1;
    ld_bf16 *t = *h;
    *h = *spare;
    *spare = t;
    ld_scratch_restore(c->ar, mk);
    return 0;
}

static int block(const ld_call *c, ld_bf16 **h, ld_bf16 **spare) {
    const ld_layer_w *L = &c->m->layers[c->layer];
    if (hc_sublayer(c, &L->hc_attn, L->attn_norm, h, spare, 1)) return -1;
    if (hc_sublayer(c, &L->hc_ffn, L->ffn_norm, h, spare, 0)) return -1;
    ld_call_dump(c, "hidden", LD_DUMP_BF16, *h, c->rows, c->m->cfg.hc_mult * c->m->cfg.dim);
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
    if (s->pos + n > s->ctx)
        return ld_set_error("sequence of %ld tokens exceeds the session's context length %ld", s->pos + n, s->ctx);
    return 0;
}

static ld_seg seg_of(ld_session *s, int n, int row0) {
    return (ld_seg){.s = s, .P = s->pos, .S = n, .row0 = row0, .first_call = s->calls == 0};
}

/* The call's ids and RoPE tables, built on the host and uploaded in one
 * transfer: cos|sin of every row's position (plain and YaRN), and of the
 * first position of every compressor block each segment completes. */
static int call_setup(ld_call *c, ld_seg *seg, const int *ids) {
    const ld_model *m = c->m;
    const ld_config *cf = &m->cfg;
    int rows = c->rows, rd = cf->rope_dim;
    c->n_ratios = 0;
    for (int l = 0; l < cf->n_layers; l++) {
        int r = cf->compress_ratios[l];
        if (r > 0 && ld_call_ratio_slot(c, r) < 0) {
            if (c->n_ratios == LD_MAX_RATIOS) return ld_set_error("more than %d distinct compress ratios", LD_MAX_RATIOS);
            c->ratios[c->n_ratios++] = r;
        }
    }
    long n_emit = 0;
    for (int b = 0; b < c->n_seg; b++)
        for (int i = 0; i < c->n_ratios; i++)
            n_emit += (seg[b].P + seg[b].S) / c->ratios[i] - seg[b].P / c->ratios[i];
    size_t ids_bytes = (sizeof(int) * (size_t)rows + 255) & ~(size_t)255;
    size_t bytes = ids_bytes + sizeof(float) * ((size_t)2 * rows + (size_t)n_emit) * rd;
    char *host = malloc(bytes);
    char *dev = ld_call_alloc(c, bytes);
    if (!host || !dev) {
        free(host);
        return host ? -1 : ld_set_error("out of memory for %d tokens", rows);
    }
    memcpy(host, ids, sizeof(int) * (size_t)rows);
    float *cs = (float *)(host + ids_bytes);
    for (int b = 0; b < c->n_seg; b++)
        for (int t = 0; t < seg[b].S; t++)
            for (int y = 0; y < 2; y++) {
                float *row = cs + ((long)y * rows + seg[b].row0 + t) * rd;
                ld_model_rope_cos_sin(m, y, seg[b].P + t, row, row + rd / 2);
            }
    float *e = cs + (long)2 * rows * rd;
    for (int b = 0; b < c->n_seg; b++)
        for (int i = 0; i < c->n_ratios; i++) {
            int r = c->ratios[i];
            seg[b].cs_emit[i] = (const float *)(dev + ((char *)e - host));
            for (long p = seg[b].P; p < seg[b].P + seg[b].S; p++)
                if ((p + 1) % r == 0) {
                    ld_model_rope_cos_sin(m, 1, p + 1 - r, e, e + rd / 2);
                    e += rd;
                }
        }
    int rc = ld_be_upload(c->be, dev, host, bytes);
    free(host);
    /* call-level, so that a layer with an indexer needs no more scratch than one without */
    if (cf->index_topk > 0 && !(c->sel = ld_call_alloc(c, sizeof(int) * (size_t)rows * cf->index_topk))) rc = -1;
    c->ids = (const int *)dev;
    c->cs[0] = (const float *)(dev + ids_bytes);
    c->cs[1] = c->cs[0] + (long)rows * rd;
    return rc;
}

static void call_begin(const ld_model *m) {
    ld_scratch_restore(m->arena, (ld_scratch_mark){0});
    ld_scratch_compact(m->arena);
    ld_scratch_peak_reset(m->arena);
    m->last->h2d_bytes = m->be->xfer.h2d_bytes;
    m->last->d2h_bytes = m->be->xfer.d2h_bytes;
}

static void call_end(const ld_model *m) {
    m->last->scratch_peak = m->arena->peak;
    m->last->h2d_bytes = m->be->xfer.h2d_bytes - m->last->h2d_bytes;
    m->last->d2h_bytes = m->be->xfer.d2h_bytes - m->last->d2h_bytes;
}

int ld_session_eval_block(ld_session *s, int layer, const int *ids, int n, ld_bf16 *h) {
    const ld_model *m = s->m;
    if (layer < 0 || layer >= m->cfg.n_layers) return ld_set_error("layer %d does not exist", layer);
    if (check_ids(s, ids, n)) return -1;
    call_begin(m);
    ld_seg g = seg_of(s, n, 0);
    ld_call c = {.m = m, .be = m->be, .layer = layer, .rows = n, .n_seg = 1, .seg = &g, .ar = m->arena};
    size_t hb = sizeof(ld_bf16) * (size_t)n * m->cfg.hc_mult * m->cfg.dim;
    ld_bf16 *hd = ld_call_alloc(&c, hb), *spare = ld_call_alloc(&c, hb);
    int rc = -1;
    if (hd && spare && !call_setup(&c, &g, ids) && !ld_be_upload(m->be, hd, h, hb) && !block(&c, &hd, &spare) &&
        !ld_be_download(m->be, h, hd, hb))
        rc = 0;
    call_end(m);
    return rc;
}

void ld_session_advance(ld_session *s, int n) {
    if (!s->calls) s->first_rows = n;
    s->pos += n;
    s->calls++;
}

/* hc_head -> norm -> fp32 head over the rows whose logits are wanted. */
static int head(ld_call *c, ld_seg *seg, int B, const ld_bf16 *h, int all_rows, int dumping, float *logits) {
    const ld_model *m = c->m;
    const ld_config *cf = &m->cfg;
    ld_backend *be = c->be;
    int D = cf->dim, hc = cf->hc_mult, rows = c->rows;
    /* only each sequence's last position is needed unless all rows are wanted or observed */
    int hr = all_rows || dumping ? rows : B, nl = all_rows ? rows : B;
    const ld_bf16 *hl = h;
    if (hr == B) {
        ld_bf16 *g = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)B * hc * D);
        if (!g) return -1;
        for (int b = 0; b < B; b++)
            if (be->ops->copy_rows(be, g + (long)b * hc * D, 0, h + (long)(seg[b].row0 + seg[b].S - 1) * hc * D, 0,
                                   sizeof(ld_bf16) * (size_t)hc * D, 1))
                return -1;
        hl = g;
    }
    ld_bf16 *xh = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)hr * D);
    ld_bf16 *xn = ld_call_alloc(c, sizeof(ld_bf16) * (size_t)hr * D);
    float *xf = ld_call_alloc(c, sizeof(float) * (size_t)hr * D);
    if (c->ar->failed) return -1;
    if (m->traffic) {
        m->traffic->macs += (double)hr * hc * hc * D;
        m->traffic->weight_bytes += (double)hc * hc * D * 4 + D * 2;
    }
    if (be->ops->hc_head(be, hl, m->hc_head.fn, m->hc_head.scale, m->hc_head.base, hr, D, hc, (float)cf->norm_eps,
                         (float)cf->hc_eps, xh) ||
        be->ops->rmsnorm(be, xh, m->norm, hr, D, (float)cf->norm_eps, xn) ||
        be->ops->widen(be, xn, (long)hr * D, xf))
        return -1;
    if (dumping) {
        ld_call hcall = *c;
        hcall.layer = -1;
        ld_call_dump(&hcall, "final_norm", LD_DUMP_BF16, xn, rows, D);
    }
    if (!logits) return 0;
    float *xl = xf;
    if (hr != nl) { /* dumping with last rows wanted: gather them */
        if (!(xl = ld_call_alloc(c, sizeof(float) * (size_t)nl * D))) return -1;
        for (int b = 0; b < B; b++)
            if (be->ops->copy_rows(be, xl + (long)b * D, 0, xf + (long)(seg[b].row0 + seg[b].S - 1) * D, 0,
                                   sizeof(float) * (size_t)D, 1))
                return -1;
    }
    float *ld = ld_call_alloc(c, sizeof(float) * (size_t)nl * cf->vocab_size);
    if (!ld) return -1;
    ld_call hcall = *c;
    hcall.layer = -1;
    if (ld_linear_f32(&hcall, &m->head, xl, nl, ld)) return -1;
    return ld_be_download(be, logits, ld, sizeof(float) * (size_t)nl * cf->vocab_size);
}

int ld_batch_eval_rows(ld_session *const *ss, const int *const *ids, const int *n, int B, float *logits, int all_rows) {
    if (B <= 0) return ld_set_error("empty batch");
    const ld_model *m = ss[0]->m;
    const ld_config *cf = &m->cfg;
    int D = cf->dim, hc = cf->hc_mult, rows = 0, dumping = 0;
    for (int b = 0; b < B; b++) {
        if (ss[b]->m != m) return ld_set_error("batched sessions must share one model");
        for (int j = 0; j < b; j++)
            if (ss[j] == ss[b]) return ld_set_error("a session appears twice in one batch");
        if (check_ids(ss[b], ids[b], n[b])) return -1;
        rows += n[b];
        dumping |= ss[b]->dump != NULL;
    }
    call_begin(m);
    int rc = -1;
    ld_seg *seg = calloc((size_t)B, sizeof *seg);
    int *all_ids = malloc(sizeof(int) * (size_t)rows);
    ld_call c = {.m = m, .be = m->be, .layer = -1, .rows = rows, .n_seg = B, .seg = seg, .ar = m->arena};
    size_t hb = sizeof(ld_bf16) * (size_t)rows * hc * D;
    ld_bf16 *h = ld_call_alloc(&c, hb), *spare = ld_call_alloc(&c, hb);
    if (!seg || !all_ids) { ld_set_error("out of memory for %d tokens", rows); goto out; }
    if (!h || !spare) goto out;
    for (int b = 0, r = 0; b < B; r += n[b], b++) {
        seg[b] = seg_of(ss[b], n[b], r);
        memcpy(all_ids + r, ids[b], sizeof(int) * (size_t)n[b]);
    }
    if (call_setup(&c, seg, all_ids)) goto out;
    if (m->be->ops->embed(m->be, m->embed, c.ids, rows, D, hc, h)) goto out;
    for (int l = 0; l < cf->n_layers; l++) {
        c.layer = l;
        ld_scratch_mark mk = ld_scratch_save(m->arena);
        if (block(&c, &h, &spare)) goto out;
        ld_scratch_restore(m->arena, mk);
    }
    if (head(&c, seg, B, h, all_rows, dumping, logits)) goto out;
    if (m->traffic) m->traffic->weight_bytes += (double)rows * D * 2; /* embedding rows */
    if (!logits && ld_be_sync(m->be)) goto out;
    for (int b = 0; b < B; b++) ld_session_advance(ss[b], n[b]);
    rc = 0;
out:
    call_end(m);
    free(seg);
    free(all_ids);
    return rc;
}

int ld_batch_eval(ld_session *const *ss, const int *const *ids, const int *n, int B, float *logits) {
    return ld_batch_eval_rows(ss, ids, n, B, logits, 0);
}

int ld_session_eval(ld_session *s, const int *ids, int n, float *logits) { return ld_batch_eval(&s, &ids, &n, 1, logits); }
