/* Session lifetime. Every cache is reserved for the session's context length
 * when it is created, in the backend's memory, and counted against the
 * model's KV budget: a session either gets all it can ever need or is
 * refused with the reason, and nothing grows (or moves) while it runs. */
#include "model/session.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static long default_ctx(const ld_model *m) {
    long c = m->cfg.max_position_embeddings;
    return c < LD_SESSION_DEFAULT_CTX ? c : LD_SESSION_DEFAULT_CTX;
}

/* State rows and columns of a compressor: overlap (ratio 4) keeps two blocks. */
static long state_floats(int ratio, int d) {
    int c = ratio == 4 ? 2 : 1;
    return (long)c * ratio * c * d;
}

long ld_comp_state_floats(const ld_comp_cache *cc) { return state_floats(cc->ratio, cc->d); }

size_t ld_session_kv_bytes(const ld_model *m, long ctx) {
    const ld_config *c = &m->cfg;
    if (ctx <= 0) ctx = default_ctx(m);
    size_t b = 0;
    for (int l = 0; l < c->n_layers; l++) {
        int r = c->compress_ratios[l];
        b += sizeof(ld_bf16) * (size_t)c->window * c->head_dim;
        if (r) b += sizeof(ld_bf16) * (size_t)(ctx / r) * c->head_dim + 2 * sizeof(float) * (size_t)state_floats(r, c->head_dim);
        if (r == 4)
            b += sizeof(ld_bf16) * (size_t)(ctx / 4) * c->index_head_dim +
                 2 * sizeof(float) * (size_t)state_floats(4, c->index_head_dim);
    }
    return b;
}

/* Empty compressor state: kv = 0, score = -inf, so a first block pools
 * only its own rows. */
static int comp_clear(ld_backend *be, ld_comp_cache *cc) {
    long n = state_floats(cc->ratio, cc->d);
    float *h = malloc(sizeof(float) * (size_t)n);
    if (!h) return ld_set_error("out of memory");
    memset(h, 0, sizeof(float) * (size_t)n);
    int rc = ld_be_upload(be, cc->kv_state, h, sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) h[i] = -INFINITY;
    if (!rc) rc = ld_be_upload(be, cc->sc_state, h, sizeof(float) * (size_t)n);
    free(h);
    cc->n = 0;
    return rc;
}

static int comp_init(ld_backend *be, ld_comp_cache *cc, int ratio, int d, long ctx) {
    long n = state_floats(ratio, d);
    cc->d = d;
    cc->ratio = ratio;
    cc->cap = (int)(ctx / ratio);
    cc->cache = ld_be_alloc(be, sizeof(ld_bf16) * (size_t)(cc->cap ? cc->cap : 1) * d);
    cc->kv_state = ld_be_alloc(be, sizeof(float) * (size_t)n);
    cc->sc_state = ld_be_alloc(be, sizeof(float) * (size_t)n);
    if (!cc->cache || !cc->kv_state || !cc->sc_state) return -1;
    return comp_clear(be, cc);
}

int ld_session_init_ctx(ld_session *s, const ld_model *m, long ctx) {
    memset(s, 0, sizeof *s);
    const ld_config *c = &m->cfg;
    if (ctx <= 0) ctx = default_ctx(m);
    if (ctx > c->max_position_embeddings)
        return ld_set_error("context length %ld exceeds max_position_embeddings %ld", ctx, c->max_position_embeddings);
    size_t need = ld_session_kv_bytes(m, ctx);
    if (m->kv_budget && *m->kv_reserved + need > m->kv_budget)
        return ld_set_error("a session of %ld positions needs %.1f MB of KV cache; %.1f MB of the %.1f MB budget is "
                            "left",
                            ctx, need / 1e6, (m->kv_budget - *m->kv_reserved) / 1e6, m->kv_budget / 1e6);
    s->m = m;
    s->ctx = ctx;
    s->lc = calloc((size_t)c->n_layers, sizeof *s->lc);
    if (!s->lc) return ld_set_error("out of memory");
    ld_backend *be = m->be;
    for (int l = 0; l < c->n_layers; l++) {
        ld_layer_cache *L = &s->lc[l];
        int r = c->compress_ratios[l];
        L->win = ld_be_alloc(be, sizeof(ld_bf16) * (size_t)c->window * c->head_dim);
        if (!L->win) goto fail;
        if (r && comp_init(be, &L->comp, r, c->head_dim, ctx)) goto fail;
        if (r == 4 && comp_init(be, &L->icomp, 4, c->index_head_dim, ctx)) goto fail;
    }
    s->kv_bytes = need;
    *m->kv_reserved += need;
    return 0;
fail:;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", ld_last_error());
    ld_session_free(s);
    return ld_set_error("cannot reserve the KV cache of %ld positions (%.1f MB): %s", ctx, need / 1e6, msg);
}

int ld_session_exact(const ld_session *s) { return s->calls == 0 || s->first_rows >= s->m->cfg.window; }

int ld_session_init(ld_session *s, const ld_model *m) { return ld_session_init_ctx(s, m, 0); }

void ld_session_free(ld_session *s) {
    if (s->lc) {
        ld_backend *be = s->m->be;
        for (int l = 0; l < s->m->cfg.n_layers; l++) {
            ld_layer_cache *L = &s->lc[l];
            ld_be_free(be, L->win);
            ld_comp_cache *cs[2] = {&L->comp, &L->icomp};
            for (int i = 0; i < 2; i++) {
                ld_be_free(be, cs[i]->cache);
                ld_be_free(be, cs[i]->kv_state);
                ld_be_free(be, cs[i]->sc_state);
            }
        }
        *s->m->kv_reserved -= s->kv_bytes;
    }
    free(s->lc);
    memset(s, 0, sizeof *s);
}

void ld_session_reset(ld_session *s) {
    for (int l = 0; l < s->m->cfg.n_layers; l++) {
        ld_comp_cache *cs[2] = {&s->lc[l].comp, &s->lc[l].icomp};
        for (int i = 0; i < 2; i++)
            if (cs[i]->kv_state) comp_clear(s->m->be, cs[i]);
    }
    s->pos = 0;
    s->calls = 0;
    s->first_rows = 0;
}
