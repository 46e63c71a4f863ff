/* Where a model's tensors and scratch live on its backend. Host backends
 * compute on the checkpoint's own memory (zero copy); a device backend gets
 * every weight prepared (uploaded in its checkpoint format, or repacked) and
 * every small tensor uploaded once, at load, so a forward call moves only
 * ids, RoPE rows and logits across the bus. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/model.h"

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

static void hc(placer *p, const ld_config *c, ld_hc_w *w, int nmix, int nscale) {
    tensor(p, &w->fn, sizeof(float) * (size_t)nmix * c->hc_mult * c->dim);
    tensor(p, &w->base, sizeof(float) * (size_t)nmix);
    tensor(p, &w->scale, sizeof(float) * (size_t)nscale);
}

static void compressor(placer *p, ld_compressor_w *w) {
    weight(p, &w->wkv);
    weight(p, &w->wgate);
    tensor(p, &w->ape, sizeof(float) * (size_t)w->ratio * (1 + w->overlap) * w->d);
    tensor(p, &w->norm, sizeof(ld_bf16) * (size_t)w->d);
}

static void expert(placer *p, ld_expert_w *x) {
    weight(p, &x->w1);
    weight(p, &x->w2);
    weight(p, &x->w3);
}

/* MTP blocks are not run by the forward pass and stay where they are. */
int ld_model_place(ld_model *m) {
    if (m->be->ops->mem == LD_MEM_HOST && !m->be->ops->prepare_weight) return 0;
    const ld_config *c = &m->cfg;
    placer p = {.m = m};
    int nmix = (2 + c->hc_mult) * c->hc_mult;
    tensor(&p, &m->embed, sizeof(ld_bf16) * (size_t)c->vocab_size * c->dim);
    weight(&p, &m->head);
    tensor(&p, &m->norm, sizeof(ld_bf16) * (size_t)c->dim);
    hc(&p, c, &m->hc_head, c->hc_mult, 1);
    for (int l = 0; l < c->n_layers && !p.failed; l++) {
        ld_layer_w *L = &m->layers[l];
        hc(&p, c, &L->hc_attn, nmix, 3);
        hc(&p, c, &L->hc_ffn, nmix, 3);
        tensor(&p, &L->attn_norm, sizeof(ld_bf16) * (size_t)c->dim);
        tensor(&p, &L->ffn_norm, sizeof(ld_bf16) * (size_t)c->dim);
        ld_attn_w *A = &L->attn;
        weight(&p, &A->wq_a);
        tensor(&p, &A->q_norm, sizeof(ld_bf16) * (size_t)c->q_lora_rank);
        weight(&p, &A->wq_b);
        weight(&p, &A->wkv);
        tensor(&p, &A->kv_norm, sizeof(ld_bf16) * (size_t)c->head_dim);
        weight(&p, &A->wo_a);
        weight(&p, &A->wo_b);
        tensor(&p, &A->sink, sizeof(float) * (size_t)c->n_heads);
        if (A->ratio) compressor(&p, &A->comp);
        if (A->ratio == 4) {
            weight(&p, &A->idx_wq_b);
            weight(&p, &A->idx_wproj);
            compressor(&p, &A->idx_comp);
        }
        ld_moe_w *F = &L->ffn;
        weight(&p, &F->gate);
        tensor(&p, &F->bias, sizeof(float) * (size_t)c->n_routed_experts);
        tensor(&p, &F->tid2eid, sizeof(int64_t) * (size_t)c->vocab_size * c->n_activated_experts);
        for (int e = 0; e < c->n_routed_experts; e++) expert(&p, &F->experts[e]);
        expert(&p, &F->shared);
    }
    return p.failed ? -1 : 0;
}

static void unweight(ld_backend *be, ld_weight *w) {
    if (be->ops->release_weight) be->ops->release_weight(be, w);
}

void ld_model_unplace(ld_model *m) {
    ld_backend *be = m->be;
    for (int i = 0; i < m->n_dev_owned; i++) ld_be_free(be, m->dev_owned[i]);
    free(m->dev_owned);
    m->dev_owned = NULL;
    m->n_dev_owned = 0;
    if (!be->ops->release_weight || !m->layers) return;
    const ld_config *c = &m->cfg;
    unweight(be, &m->head);
    for (int l = 0; l < c->n_layers; l++) {
        ld_layer_w *L = &m->layers[l];
        ld_weight *ws[] = {&L->attn.wq_a, &L->attn.wq_b, &L->attn.wkv, &L->attn.wo_a, &L->attn.wo_b, &L->ffn.gate,
                           &L->ffn.shared.w1, &L->ffn.shared.w2, &L->ffn.shared.w3};
        for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) unweight(be, ws[i]);
        if (L->attn.ratio) {
            unweight(be, &L->attn.comp.wkv);
            unweight(be, &L->attn.comp.wgate);
        }
        if (L->attn.ratio == 4) {
            unweight(be, &L->attn.idx_wq_b);
            unweight(be, &L->attn.idx_wproj);
            unweight(be, &L->attn.idx_comp.wkv);
            unweight(be, &L->attn.idx_comp.wgate);
        }
        for (int e = 0; e < c->n_routed_experts; e++) {
            unweight(be, &L->ffn.experts[e].w1);
            unweight(be, &L->ffn.experts[e].w2);
            unweight(be, &L->ffn.experts[e].w3);
        }
    }
}
