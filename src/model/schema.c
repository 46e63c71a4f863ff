/* The V4 checkpoint table (schema.h) and its iterator. The table is in
 * binding order, which is the order the binder reports the first problem
 * in; the synthesizer sorts by name, so the order never reaches the files. */
#include <stdio.h>
#include <string.h>

#include "model/schema.h"

#define M(f) LD_SS_MODEL, LD_SC_ALWAYS, offsetof(ld_model, f)
#define L(cond, f) LD_SS_LAYER, cond, offsetof(ld_layer_w, f)
#define X(f) LD_SS_EXPERT, LD_SC_ALWAYS, offsetof(ld_expert_w, f)

/* A plain tensor of dtype dt; a weight of format fmt, whose init std is
 * gain/sqrt(k). */
#define T(name, where, dt, d0, d1, read, mean, sigma, fan) {name, where, 0, 0, dt, d0, d1, read, mean, sigma, fan}
#define W(name, where, fmt, n, k, read, gain) {name, where, 1, fmt, LD_DT_F32, n, k, read, 0, gain, 1}

static const ld_schema_entry ENTRIES[] = {
    T("embed.weight", M(embed), LD_DT_BF16, LD_SD_VOCAB, LD_SD_DIM, LD_SR_ROW, 0, 1.0f, 0),
    W("head", M(head), LD_WF_BF16, LD_SD_VOCAB, LD_SD_DIM, LD_SR_ALL, 2.5f),
    T("norm.weight", M(norm), LD_DT_BF16, LD_SD_DIM, LD_SD_NONE, LD_SR_ALL, 1.0f, 0.05f, 0),
    T("hc_head_fn", M(hc_head.fn), LD_DT_F32, LD_SD_HC, LD_SD_HC_DIM, LD_SR_ALL, 0, 0.5f, 1),
    T("hc_head_base", M(hc_head.base), LD_DT_F32, LD_SD_HC, LD_SD_NONE, LD_SR_ALL, 0, 0.5f, 0),
    T("hc_head_scale", M(hc_head.scale), LD_DT_F32, LD_SD_ONE, LD_SD_NONE, LD_SR_ALL, 1.0f, 0.2f, 0),

    T("hc_attn_fn", L(LD_SC_ALWAYS, hc_attn.fn), LD_DT_F32, LD_SD_HC_MIX, LD_SD_HC_DIM, LD_SR_ALL, 0, 0.5f, 1),
    T("hc_attn_base", L(LD_SC_ALWAYS, hc_attn.base), LD_DT_F32, LD_SD_HC_MIX, LD_SD_NONE, LD_SR_ALL, 0, 0.5f, 0),
    T("hc_attn_scale", L(LD_SC_ALWAYS, hc_attn.scale), LD_DT_F32, LD_SD_THREE, LD_SD_NONE, LD_SR_ALL, 1.0f, 0.2f, 0),
    T("hc_ffn_fn", L(LD_SC_ALWAYS, hc_ffn.fn), LD_DT_F32, LD_SD_HC_MIX, LD_SD_HC_DIM, LD_SR_ALL, 0, 0.5f, 1),
    T("hc_ffn_base", L(LD_SC_ALWAYS, hc_ffn.base), LD_DT_F32, LD_SD_HC_MIX, LD_SD_NONE, LD_SR_ALL, 0, 0.5f, 0),
    T("hc_ffn_scale", L(LD_SC_ALWAYS, hc_ffn.scale), LD_DT_F32, LD_SD_THREE, LD_SD_NONE, LD_SR_ALL, 1.0f, 0.2f, 0),
    T("attn_norm.weight", L(LD_SC_ALWAYS, attn_norm), LD_DT_BF16, LD_SD_DIM, LD_SD_NONE, LD_SR_ALL, 1.0f, 0.05f, 0),
    T("ffn_norm.weight", L(LD_SC_ALWAYS, ffn_norm), LD_DT_BF16, LD_SD_DIM, LD_SD_NONE, LD_SR_ALL, 1.0f, 0.05f, 0),

    W("attn.wq_a", L(LD_SC_ALWAYS, attn.wq_a), LD_WF_FP8, LD_SD_Q_LORA, LD_SD_DIM, LD_SR_ALL, 1.0f),
    T("attn.q_norm.weight", L(LD_SC_ALWAYS, attn.q_norm), LD_DT_BF16, LD_SD_Q_LORA, LD_SD_NONE, LD_SR_ALL, 1.0f, 0.05f, 0),
    W("attn.wq_b", L(LD_SC_ALWAYS, attn.wq_b), LD_WF_FP8, LD_SD_Q, LD_SD_Q_LORA, LD_SR_ALL, 1.0f),
    W("attn.wkv", L(LD_SC_ALWAYS, attn.wkv), LD_WF_FP8, LD_SD_HEAD_DIM, LD_SD_DIM, LD_SR_ALL, 1.0f),
    T("attn.kv_norm.weight", L(LD_SC_ALWAYS, attn.kv_norm), LD_DT_BF16, LD_SD_HEAD_DIM, LD_SD_NONE, LD_SR_ALL, 1.0f, 0.05f, 0),
    /* stored FP8, multiplied as bf16: the grouped output LoRA keeps full precision */
    W("attn.wo_a", L(LD_SC_ALWAYS, attn.wo_a), LD_WF_FP8_DQ, LD_SD_O_LORA, LD_SD_O_GROUP_IN, LD_SR_ALL, 1.0f),
    W("attn.wo_b", L(LD_SC_ALWAYS, attn.wo_b), LD_WF_FP8, LD_SD_DIM, LD_SD_O_LORA, LD_SR_ALL, 0.5f),
    T("attn.attn_sink", L(LD_SC_ALWAYS, attn.sink), LD_DT_F32, LD_SD_HEADS, LD_SD_NONE, LD_SR_ALL, 0, 1.0f, 0),

    W("attn.compressor.wkv", L(LD_SC_COMPRESSED, attn.comp.wkv), LD_WF_BF16, LD_SD_COMP, LD_SD_DIM, LD_SR_ALL, 1.0f),
    W("attn.compressor.wgate", L(LD_SC_COMPRESSED, attn.comp.wgate), LD_WF_BF16, LD_SD_COMP, LD_SD_DIM, LD_SR_ALL, 1.0f),
    T("attn.compressor.ape", L(LD_SC_COMPRESSED, attn.comp.ape), LD_DT_F32, LD_SD_RATIO, LD_SD_COMP, LD_SR_ALL, 0, 0.1f, 0),
    T("attn.compressor.norm.weight", L(LD_SC_COMPRESSED, attn.comp.norm), LD_DT_BF16, LD_SD_HEAD_DIM, LD_SD_NONE, LD_SR_ALL,
      1.0f, 0.05f, 0),

    W("attn.indexer.wq_b", L(LD_SC_CSA, attn.idx_wq_b), LD_WF_FP8, LD_SD_IDX_Q, LD_SD_Q_LORA, LD_SR_ALL, 1.0f),
    W("attn.indexer.weights_proj", L(LD_SC_CSA, attn.idx_wproj), LD_WF_BF16, LD_SD_IDX_HEADS, LD_SD_DIM, LD_SR_ALL, 1.0f),
    W("attn.indexer.compressor.wkv", L(LD_SC_CSA, attn.idx_comp.wkv), LD_WF_BF16, LD_SD_IDX_COMP, LD_SD_DIM, LD_SR_ALL, 1.0f),
    W("attn.indexer.compressor.wgate", L(LD_SC_CSA, attn.idx_comp.wgate), LD_WF_BF16, LD_SD_IDX_COMP, LD_SD_DIM, LD_SR_ALL,
      1.0f),
    T("attn.indexer.compressor.ape", L(LD_SC_CSA, attn.idx_comp.ape), LD_DT_F32, LD_SD_FOUR, LD_SD_IDX_COMP, LD_SR_ALL, 0,
      0.1f, 0),
    T("attn.indexer.compressor.norm.weight", L(LD_SC_CSA, attn.idx_comp.norm), LD_DT_BF16, LD_SD_IDX_DIM, LD_SD_NONE,
      LD_SR_ALL, 1.0f, 0.05f, 0),

    W("ffn.gate", L(LD_SC_ALWAYS, ffn.gate), LD_WF_BF16, LD_SD_EXPERTS, LD_SD_DIM, LD_SR_ALL, 1.0f),
    T("ffn.gate.tid2eid", L(LD_SC_HASH, ffn.tid2eid), LD_DT_I64, LD_SD_VOCAB, LD_SD_TOPK, LD_SR_ROW, 0, 0, 0),
    T("ffn.gate.bias", L(LD_SC_BIAS, ffn.bias), LD_DT_F32, LD_SD_EXPERTS, LD_SD_NONE, LD_SR_ALL, 0, 0.02f, 0),
    /* consecutive expert-scope rows repeat per expert: e0.w1, e0.w2, e0.w3, e1.w1, ... */
    W("w1", X(w1), LD_SCHEMA_EXPERT_FMT, LD_SD_INTER, LD_SD_DIM, LD_SR_ROUTED, 1.0f),
    W("w2", X(w2), LD_SCHEMA_EXPERT_FMT, LD_SD_DIM, LD_SD_INTER, LD_SR_ROUTED, 0.5f),
    W("w3", X(w3), LD_SCHEMA_EXPERT_FMT, LD_SD_INTER, LD_SD_DIM, LD_SR_ROUTED, 1.0f),
    W("ffn.shared_experts.w1", L(LD_SC_ALWAYS, ffn.shared.w1), LD_WF_FP8, LD_SD_INTER, LD_SD_DIM, LD_SR_ALL, 1.0f),
    W("ffn.shared_experts.w2", L(LD_SC_ALWAYS, ffn.shared.w2), LD_WF_FP8, LD_SD_DIM, LD_SD_INTER, LD_SR_ALL, 0.5f),
    W("ffn.shared_experts.w3", L(LD_SC_ALWAYS, ffn.shared.w3), LD_WF_FP8, LD_SD_INTER, LD_SD_DIM, LD_SR_ALL, 1.0f),

    W("e_proj", L(LD_SC_MTP, e_proj), LD_WF_FP8, LD_SD_DIM, LD_SD_DIM, LD_SR_ALL, 1.0f),
    W("h_proj", L(LD_SC_MTP, h_proj), LD_WF_FP8, LD_SD_DIM, LD_SD_DIM, LD_SR_ALL, 1.0f),
    T("enorm.weight", L(LD_SC_MTP, enorm), LD_DT_BF16, LD_SD_DIM, LD_SD_NONE, LD_SR_ALL, 1.0f, 0.05f, 0),
    T("hnorm.weight", L(LD_SC_MTP, hnorm), LD_DT_BF16, LD_SD_DIM, LD_SD_NONE, LD_SR_ALL, 1.0f, 0.05f, 0),
    T("norm.weight", L(LD_SC_MTP, norm), LD_DT_BF16, LD_SD_DIM, LD_SD_NONE, LD_SR_ALL, 1.0f, 0.05f, 0),
    T("hc_head_fn", L(LD_SC_MTP, hc_head.fn), LD_DT_F32, LD_SD_HC, LD_SD_HC_DIM, LD_SR_ALL, 0, 0.5f, 1),
    T("hc_head_base", L(LD_SC_MTP, hc_head.base), LD_DT_F32, LD_SD_HC, LD_SD_NONE, LD_SR_ALL, 0, 0.5f, 0),
    T("hc_head_scale", L(LD_SC_MTP, hc_head.scale), LD_DT_F32, LD_SD_ONE, LD_SD_NONE, LD_SR_ALL, 1.0f, 0.2f, 0),
};

#define N_ENTRIES (int)(sizeof ENTRIES / sizeof ENTRIES[0])

static int64_t dim_of(const ld_config *c, int l, ld_schema_dim d) {
    int r = l >= 0 ? c->compress_ratios[l] : 0;
    switch (d) {
    case LD_SD_NONE: return -1;
    case LD_SD_ONE: return 1;
    case LD_SD_THREE: return 3;
    case LD_SD_FOUR: return 4;
    case LD_SD_DIM: return c->dim;
    case LD_SD_VOCAB: return c->vocab_size;
    case LD_SD_Q_LORA: return c->q_lora_rank;
    case LD_SD_HEADS: return c->n_heads;
    case LD_SD_HEAD_DIM: return c->head_dim;
    case LD_SD_Q: return (int64_t)c->n_heads * c->head_dim;
    case LD_SD_O_LORA: return (int64_t)c->o_groups * c->o_lora_rank;
    case LD_SD_O_GROUP_IN: return (int64_t)c->n_heads * c->head_dim / c->o_groups;
    case LD_SD_HC: return c->hc_mult;
    case LD_SD_HC_MIX: return (int64_t)(2 + c->hc_mult) * c->hc_mult;
    case LD_SD_HC_DIM: return (int64_t)c->hc_mult * c->dim;
    case LD_SD_EXPERTS: return c->n_routed_experts;
    case LD_SD_TOPK: return c->n_activated_experts;
    case LD_SD_INTER: return c->moe_inter_dim;
    case LD_SD_RATIO: return r;
    case LD_SD_COMP: return (int64_t)(r == 4 ? 2 : 1) * c->head_dim;
    case LD_SD_IDX_HEADS: return c->index_n_heads;
    case LD_SD_IDX_DIM: return c->index_head_dim;
    case LD_SD_IDX_Q: return (int64_t)c->index_n_heads * c->index_head_dim;
    case LD_SD_IDX_COMP: return 2 * (int64_t)c->index_head_dim;
    }
    return -1;
}

static int exists(const ld_config *c, int l, const ld_schema_entry *e) {
    int mtp = l >= c->n_layers, r = l >= 0 ? c->compress_ratios[l] : 0;
    switch (e->cond) {
    case LD_SC_ALWAYS: return 1;
    case LD_SC_COMPRESSED: return r != 0;
    case LD_SC_CSA: return r == 4;
    case LD_SC_HASH: return !mtp && l < c->n_hash_layers;
    case LD_SC_BIAS: return mtp || l >= c->n_hash_layers;
    case LD_SC_MTP: return mtp;
    }
    return 0;
}

static void set_part(ld_schema_part *p, const char *base, const char *suffix, ld_dtype dt, int64_t d0, int64_t d1) {
    snprintf(p->name, sizeof p->name, "%s%s", base, suffix);
    p->dtype = dt;
    p->ndim = d1 < 0 ? 1 : 2;
    p->shape[0] = d0;
    p->shape[1] = d1;
    p->nbytes = (uint64_t)d0 * (uint64_t)(d1 < 0 ? 1 : d1) * ld_dtype_size(dt);
}

static int emit(const ld_config *c, const ld_schema_entry *e, int l, int x, const char *prefix, ld_schema_fn fn,
                void *ctx) {
    ld_schema_item it = {.e = e, .layer = l, .expert = x, .mtp = l >= c->n_layers};
    char base[160];
    if (x >= 0) snprintf(base, sizeof base, "%sffn.experts.%d.%s", prefix, x, e->name);
    else snprintf(base, sizeof base, "%s%s", prefix, e->name);
    int64_t d0 = dim_of(c, l, e->d0), d1 = dim_of(c, l, e->d1);
    if (!e->weight) {
        it.nparts = 1;
        set_part(&it.part[0], base, "", e->dtype, d0, d1);
        return fn(ctx, &it);
    }
    it.fmt = e->fmt == LD_SCHEMA_EXPERT_FMT ? (c->expert_fp4 ? LD_WF_FP4 : LD_WF_FP8) : (ld_wfmt)e->fmt;
    it.n = d0;
    it.k = d1;
    const ld_wformat *F = ld_wformat_of(it.fmt);
    set_part(&it.part[0], base, ".weight", F->dtype, d0, ld_wformat_data_cols(it.fmt, d1));
    it.nparts = 1;
    if (F->scale_rows) {
        int64_t sr, sc;
        ld_wformat_scale_shape(it.fmt, d0, d1, &sr, &sc);
        set_part(&it.part[it.nparts++], base, ".scale", LD_DT_F8_E8M0, sr, sc);
    }
    return fn(ctx, &it);
}

int ld_schema_each(const ld_config *c, ld_schema_fn fn, void *ctx) {
    int rc = 0;
    for (int i = 0; i < N_ENTRIES && !rc; i++)
        if (ENTRIES[i].scope == LD_SS_MODEL) rc = emit(c, &ENTRIES[i], -1, -1, "", fn, ctx);
    for (int l = 0; l < c->n_layers + c->n_mtp_layers && !rc; l++) {
        char p[64];
        if (l >= c->n_layers) snprintf(p, sizeof p, "mtp.%d.", l - c->n_layers);
        else snprintf(p, sizeof p, "layers.%d.", l);
        for (int i = 0; i < N_ENTRIES && !rc; i++) {
            const ld_schema_entry *e = &ENTRIES[i];
            if (e->scope == LD_SS_MODEL || !exists(c, l, e)) continue;
            if (e->scope == LD_SS_LAYER) { rc = emit(c, e, l, -1, p, fn, ctx); continue; }
            int j = i;
            while (j < N_ENTRIES && ENTRIES[j].scope == LD_SS_EXPERT) j++;
            for (int x = 0; x < c->n_routed_experts && !rc; x++)
                for (int k = i; k < j && !rc; k++) rc = emit(c, &ENTRIES[k], l, x, p, fn, ctx);
            i = j - 1;
        }
    }
    return rc;
}

void *ld_schema_field(ld_model *m, const ld_schema_item *it) {
    char *base;
    switch (it->e->scope) {
    case LD_SS_MODEL: base = (char *)m; break;
    case LD_SS_LAYER: base = m->layers ? (char *)&m->layers[it->layer] : NULL; break;
    default: base = m->layers && m->layers[it->layer].ffn.experts ? (char *)&m->layers[it->layer].ffn.experts[it->expert] : NULL;
    }
    return base ? base + it->e->off : NULL;
}

const void *ld_schema_cfield(const ld_model *m, const ld_schema_item *it) {
    return ld_schema_field((ld_model *)m, it);
}

typedef struct {
    int n;
    uint64_t bytes;
} totals;

static int add_totals(void *ctx, const ld_schema_item *it) {
    totals *t = ctx;
    for (int i = 0; i < it->nparts; i++) {
        t->n++;
        t->bytes += it->part[i].nbytes;
    }
    return 0;
}

void ld_schema_totals(const ld_config *c, int *n_tensors, uint64_t *bytes) {
    totals t = {0};
    ld_schema_each(c, add_totals, &t);
    *n_tensors = t.n;
    *bytes = t.bytes;
}
