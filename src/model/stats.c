/* Size accounting over a loaded checkpoint: what `ladder info` reports and
 * what a bandwidth roofline divides by. */
#include <stdio.h>
#include <string.h>

#include "model/stats.h"

static int is_expert(const char *n) { return strstr(n, ".ffn.experts.") != NULL; }

void ld_model_stats(const ld_model *m, ld_model_stats_t *st) {
    memset(st, 0, sizeof *st);
    const ld_config *c = &m->cfg;
    double expert_bytes = 0;
    for (int i = 0; i < m->ck.n_tensors; i++) {
        const ld_tensor *t = m->ck.by_name[i];
        int64_t params = t->dtype == LD_DT_I8 && is_expert(t->name) ? 2 * t->numel : t->numel;
        st->params[t->dtype] += params;
        st->bytes[t->dtype] += t->nbytes;
        st->total_bytes += t->nbytes;
        st->total_params += params;
        if (!strncmp(t->name, "mtp.", 4)) continue;
        if (is_expert(t->name)) expert_bytes += (double)t->nbytes;
        else if (!strcmp(t->name, "embed.weight")) st->active_bytes += (double)t->nbytes / c->vocab_size;
        else if (strstr(t->name, "tid2eid")) st->active_bytes += (double)t->nbytes / c->vocab_size;
        else st->active_bytes += (double)t->nbytes;
    }
    /* routed experts: num_experts_per_tok of n_routed_experts per layer, on average */
    st->active_bytes += expert_bytes * c->n_activated_experts / c->n_routed_experts;
    for (int l = 0; l < c->n_layers; l++) {
        int r = c->compress_ratios[l];
        if (!r) continue;
        st->kv_bytes_per_token += (double)c->head_dim * 2 / r;
        if (r == 4) st->kv_bytes_per_token += (double)c->index_head_dim * 2 / r;
    }
    st->kv_fixed_bytes = (double)c->n_layers * c->window * c->head_dim * 2;
}
