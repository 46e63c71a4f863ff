/* Session lifetime and cache growth. Compressed caches grow by doubling, so
 * a sequence pays only for the positions it reaches. */
#include "model/session.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static int comp_init(ld_comp_cache *cc, int ratio, int d) {
    int c = ratio == 4 ? 2 : 1, rows = c * ratio, cols = c * d;
    cc->d = d;
    cc->kv_state = calloc((size_t)rows * cols, sizeof(float));
    cc->sc_state = malloc((size_t)rows * cols * sizeof(float));
    if (!cc->kv_state || !cc->sc_state) return -1;
    for (long i = 0; i < (long)rows * cols; i++) cc->sc_state[i] = -INFINITY;
    return 0;
}

static void comp_reset(ld_comp_cache *cc, int ratio) {
    if (!cc->kv_state) return;
    int c = ratio == 4 ? 2 : 1;
    long n = (long)c * ratio * c * cc->d;
    memset(cc->kv_state, 0, sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) cc->sc_state[i] = -INFINITY;
    cc->n = 0;
}

int ld_session_init(ld_session *s, const ld_model *m) {
    memset(s, 0, sizeof *s);
    s->m = m;
    const ld_config *c = &m->cfg;
    s->lc = calloc((size_t)c->n_layers, sizeof *s->lc);
    if (!s->lc) return ld_set_error("out of memory");
    for (int l = 0; l < c->n_layers; l++) {
        ld_layer_cache *L = &s->lc[l];
        int r = c->compress_ratios[l];
        L->win = calloc((size_t)c->window * c->head_dim, sizeof(ld_bf16));
        if (!L->win) goto oom;
        if (r && comp_init(&L->comp, r, c->head_dim)) goto oom;
        if (r == 4 && comp_init(&L->icomp, 4, c->index_head_dim)) goto oom;
    }
    return 0;
oom:
    ld_session_free(s);
    return ld_set_error("out of memory allocating the KV cache");
}

void ld_session_free(ld_session *s) {
    if (s->lc)
        for (int l = 0; l < s->m->cfg.n_layers; l++) {
            ld_layer_cache *L = &s->lc[l];
            free(L->win);
            ld_comp_cache *cs[2] = {&L->comp, &L->icomp};
            for (int i = 0; i < 2; i++) {
                free(cs[i]->cache);
                free(cs[i]->kv_state);
                free(cs[i]->sc_state);
            }
        }
    free(s->lc);
    memset(s, 0, sizeof *s);
}

void ld_session_reset(ld_session *s) {
    for (int l = 0; l < s->m->cfg.n_layers; l++) {
        int r = s->m->cfg.compress_ratios[l];
        comp_reset(&s->lc[l].comp, r);
        comp_reset(&s->lc[l].icomp, 4);
    }
    s->pos = 0;
    s->calls = 0;
}
