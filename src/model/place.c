/* Where a model's tensors and scratch live on its backend. Host backends
 * compute on the checkpoint's own memory (zero copy); a device backend gets
 * every weight prepared (uploaded in its checkpoint format, or repacked) and
 * every small tensor uploaded once, at load, so a forward call moves only
 * ids, RoPE rows and logits across the bus. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model.h"
#include "model/schema.h"

static void *arena_alloc(void *be, size_t bytes) { return ld_be_alloc(be, bytes); }
static void arena_release(void *be, void *p) { ld_be_free(be, p); }

int ld_model_runtime_init(ld_model *m) {
    m->arena = calloc(1, sizeof *m->arena);
    m->last = calloc(1, sizeof *m->last);
    m->kv_reserved = calloc(1, sizeof *m->kv_reserved);
    if (!m->arena || !m->last || !m->kv_reserved) return ld_set_error("out of memory");
    *m->arena = (ld_scratch){.alloc = arena_alloc, .release = arena_release, .ctx = m->be, .min_block = 8u << 20};
    return 0;
}

void ld_model_runtime_free(ld_model *m) {
    if (m->arena) ld_scratch_free(m->arena);
    free(m->arena);
    free(m->last);
    free(m->kv_reserved);
    m->arena = NULL;
    m->last = NULL;
    m->kv_reserved = NULL;
}

typedef struct {
    ld_model *m;
    int failed;
} placer;

static void weight(placer *p, ld_weight *w) {
    ld_backend *be = p->m->be;
    if (p->failed || !be->ops->prepare_weight) return;
    if (be->ops->prepare_weight(be, w)) p->failed = 1;
}

/* A small tensor of `bytes` at *ptr moves into the backend's memory. */
static void tensor(placer *p, const void *ptr_in, size_t bytes) {
    const void **ptr = (const void **)ptr_in;
    if (p->failed || !*ptr) return;
    ld_model *m = p->m;
    void *owned;
    const void *d = ld_be_import(m->be, *ptr, bytes, &owned);
    if (!d) { p->failed = 1; return; }
    if (owned) {
        void **np = realloc(m->dev_owned, sizeof *np * (size_t)(m->n_dev_owned + 1));
        if (!np) { ld_be_free(m->be, owned); ld_set_error("out of memory"); p->failed = 1; return; }
        m->dev_owned = np;
        m->dev_owned[m->n_dev_owned++] = owned;
    }
    *ptr = d;
}

/* MTP blocks are not run by the forward pass and stay where they are. */
static int place_one(void *ctx, const ld_schema_item *it) {
    placer *p = ctx;
    if (it->mtp) return 0;
    void *f = ld_schema_field(p->m, it);
    if (it->e->weight) weight(p, f);
    else tensor(p, f, (size_t)it->part[0].nbytes);
    return p->failed;
}

int ld_model_place(ld_model *m) {
    if (m->be->ops->mem == LD_MEM_HOST && !m->be->ops->prepare_weight) return 0;
    placer p = {.m = m};
    ld_schema_each(&m->cfg, place_one, &p);
    return p.failed ? -1 : 0;
}

static int unplace_one(void *ctx, const ld_schema_item *it) {
    ld_model *m = ctx;
    ld_weight *w = it->e->weight && !it->mtp ? ld_schema_field(m, it) : NULL;
    if (w) m->be->ops->release_weight(m->be, w);
    return 0;
}

void ld_model_unplace(ld_model *m) {
    ld_backend *be = m->be;
    for (int i = 0; i < m->n_dev_owned; i++) ld_be_free(be, m->dev_owned[i]);
    free(m->dev_owned);
    m->dev_owned = NULL;
    m->n_dev_owned = 0;
    if (!be->ops->release_weight || !m->layers) return;
    ld_schema_each(&m->cfg, unplace_one, m);
}
