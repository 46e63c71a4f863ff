/* Session snapshots, for prefix reuse: a sequence's state copied to host
 * memory and back. V4's caches make this small: the window rings are fixed
 * (window x head_dim per layer), the compressed caches hold one entry per
 * `ratio` tokens, and the compressor and indexer states are a few blocks of
 * fp32; nothing grows with the prompt at full width. Only the entries in use
 * are copied, so a snapshot of p tokens costs what the cache holds at p. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/session.h"

struct ladder_snapshot {
    const ld_model *m;
    long pos;
    int calls, first_rows;
    size_t bytes;
    unsigned char *data;
};

/* Every piece of backend memory that holds state at position pos, in one
 * fixed order; fn moves `bytes` at device address dev. */
typedef int (*piece_fn)(void *ctx, ld_backend *be, void *dev, size_t bytes);

static int walk(const ld_session *s, long pos, piece_fn fn, void *ctx) {
    const ld_config *c = &s->m->cfg;
    ld_backend *be = s->m->be;
    for (int l = 0; l < c->n_layers; l++) {
        const ld_layer_cache *L = &s->lc[l];
        if (fn(ctx, be, L->win, sizeof(ld_bf16) * (size_t)c->window * c->head_dim)) return -1;
        const ld_comp_cache *cs[2] = {&L->comp, &L->icomp};
        for (int i = 0; i < 2; i++) {
            const ld_comp_cache *cc = cs[i];
            if (!cc->kv_state) continue;
            size_t entries = (size_t)(pos / cc->ratio), st = sizeof(float) * (size_t)ld_comp_state_floats(cc);
            if ((entries && fn(ctx, be, cc->cache, sizeof(ld_bf16) * entries * (size_t)cc->d)) ||
                fn(ctx, be, cc->kv_state, st) || fn(ctx, be, cc->sc_state, st))
                return -1;
        }
    }
    return 0;
}

typedef struct {
    unsigned char *p;
    size_t at;
} cursor;

static int count(void *ctx, ld_backend *be, void *dev, size_t bytes) {
    (void)be, (void)dev;
    ((cursor *)ctx)->at += bytes;
    return 0;
}

static int down(void *ctx, ld_backend *be, void *dev, size_t bytes) {
    cursor *k = ctx;
    if (ld_be_download(be, k->p + k->at, dev, bytes)) return -1;
    k->at += bytes;
    return 0;
}

static int up(void *ctx, ld_backend *be, void *dev, size_t bytes) {
    cursor *k = ctx;
    if (ld_be_upload(be, dev, k->p + k->at, bytes)) return -1;
    k->at += bytes;
    return 0;
}

int ld_session_save(const ld_session *s, ld_snapshot **out) {
    *out = NULL;
    cursor k = {0};
    walk(s, s->pos, count, &k);
    ld_snapshot *snap = calloc(1, sizeof *snap);
    unsigned char *data = malloc(k.at ? k.at : 1);
    if (!snap || !data) {
        free(snap);
        free(data);
        return ld_set_error("out of memory for a %.1f MB session snapshot", k.at / 1e6);
    }
    *snap = (ld_snapshot){.m = s->m, .pos = s->pos, .calls = s->calls, .first_rows = s->first_rows,
                          .bytes = k.at, .data = data};
    k = (cursor){.p = data};
    if (walk(s, s->pos, down, &k)) {
        ld_snapshot_free(snap);
        return ld_wrap_error("saving the session state");
    }
    *out = snap;
    return 0;
}

int ld_session_restore(ld_session *s, const ld_snapshot *snap) {
    if (snap->m != s->m) return ld_set_error("the snapshot belongs to another engine");
    if (snap->pos > s->ctx)
        return ld_set_error("the snapshot holds %ld positions; the session reserves %ld", snap->pos, s->ctx);
    cursor k = {.p = snap->data};
    if (walk(s, snap->pos, up, &k)) {
        ld_session_reset(s);
        return ld_wrap_error("restoring the session state");
    }
    for (int l = 0; l < s->m->cfg.n_layers; l++) {
        ld_comp_cache *cs[2] = {&s->lc[l].comp, &s->lc[l].icomp};
        for (int i = 0; i < 2; i++)
            if (cs[i]->kv_state) cs[i]->n = (int)(snap->pos / cs[i]->ratio);
    }
    s->pos = snap->pos;
    s->calls = snap->calls;
    s->first_rows = snap->first_rows;
    return 0;
}

long ld_snapshot_pos(const ld_snapshot *snap) { return snap->pos; }
size_t ld_snapshot_bytes(const ld_snapshot *snap) { return snap->bytes + sizeof *snap; }

int ld_snapshot_exact(const ld_snapshot *snap) {
    /* the saved session's own rule, on the saved fields */
    ld_session s = {.m = snap->m, .calls = snap->calls, .first_rows = snap->first_rows};
    return ld_session_exact(&s);
}

void ld_snapshot_free(ld_snapshot *snap) {
    if (!snap) return;
    free(snap->data);
    free(snap);
}
