/* Size accounting over the tensors the config implies (model/schema.h; the
 * binder has checked them against the checkpoint): what `ladder info`
 * reports (as stored) and what a bandwidth roofline divides by (as the
 * weight format path reads them). */
#include <string.h>

#include "model/schema.h"
#include "model/stats.h"

typedef struct {
    ld_model_stats_t *st;
    double expert_bytes;
    ld_formats f; /* the format path: what the converted linears read (convert.c) */
} counter;

static int count(void *ctx, const ld_schema_item *it) {
    counter *k = ctx;
    ld_model_stats_t *st = k->st;
    double bytes = 0;
    for (int i = 0; i < it->nparts; i++) {
        const ld_schema_part *p = &it->part[i];
        int64_t numel = p->shape[0] * (p->ndim == 2 ? p->shape[1] : 1);
        /* packed data counts its weight elements (FP4: two per byte); scales count as stored */
        int64_t params = it->e->weight && i == 0 ? numel * ld_wformat_of(it->fmt)->pack : numel;
        st->params[p->dtype] += params;
        st->bytes[p->dtype] += p->nbytes;
        st->total_bytes += p->nbytes;
        st->total_params += params;
        bytes += (double)p->nbytes;
    }
    if (it->mtp) return 0;
    int conv = it->e->weight && it->fmt != LD_WF_BF16 && it->fmt != LD_WF_F32;
    double nk = (double)it->n * (double)it->k;
    if (conv && k->f == LD_FORMATS_BF16) bytes = 2.0 * nk;
    else if (conv && k->f == LD_FORMATS_W8A8 && it->fmt != LD_WF_FP4) bytes = nk + 4.0 * it->n; /* int8 + a row scale */
    switch (it->e->read) {
    case LD_SR_ALL: st->active_bytes += bytes; break;
    case LD_SR_ROW: st->active_bytes += bytes / (double)it->part[0].shape[0]; break;
    case LD_SR_ROUTED: k->expert_bytes += bytes; break;
    }
    return 0;
}

void ld_model_stats(const ld_model *m, ld_model_stats_t *st) {
    memset(st, 0, sizeof *st);
    const ld_config *c = &m->cfg;
    counter k = {.st = st, .f = (ld_formats)m->formats};
    ld_schema_each(c, count, &k);
    /* routed experts: num_experts_per_tok of n_routed_experts per layer, on average */
    st->active_bytes += k.expert_bytes * c->n_activated_experts / c->n_routed_experts;
    for (int l = 0; l < c->n_layers; l++) {
        int r = c->compress_ratios[l];
        if (!r) continue;
        st->kv_bytes_per_token += (double)c->head_dim * 2 / r;
        if (r == 4) st->kv_bytes_per_token += (double)c->index_head_dim * 2 / r;
    }
    st->kv_fixed_bytes = (double)c->n_layers * c->window * c->head_dim * 2;
}
