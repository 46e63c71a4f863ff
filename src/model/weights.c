/* Binds every tensor the config implies to typed views, checking name,
 * dtype and shape; the first problem found is reported with the tensor name
 * and the file it lives in (or "missing"). */
#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/resident.h"
#include "model/model.h"

#define LD_PI 3.14159265358979323846

typedef struct {
    const ld_checkpoint *ck;
    ld_model *m;
    int failed;
} binder;

/* safetensors packs tensors back to back, so a tensor after an odd-sized one
 * can be misaligned for its element type; such (small) tensors are copied to
 * aligned memory owned by the model instead of being read through a
 * misaligned pointer. */
static const void *aligned_view(binder *b, const ld_tensor *t) {
    size_t al = ld_dtype_size(t->dtype);
    if (al <= 1 || (uintptr_t)t->data % al == 0) return t->data;
    void **np = realloc(b->m->owned, sizeof *np * (size_t)(b->m->n_owned + 1));
    void *copy = malloc(t->nbytes ? t->nbytes : 1);
    if (!np || !copy) {
        free(copy);
        if (np) b->m->owned = np;
        ld_set_error("out of memory copying misaligned tensor '%s'", t->name);
        return NULL;
    }
    b->m->owned = np;
    memcpy(copy, t->data, t->nbytes);
    b->m->owned[b->m->n_owned++] = copy;
    return copy;
}

static const void *get(binder *b, ld_dtype dt, int64_t d0, int64_t d1, const char *fmt, ...) LD_PRINTF(5, 6);

static const void *get(binder *b, ld_dtype dt, int64_t d0, int64_t d1, const char *fmt, ...) {
    if (b->failed) return NULL;
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    const ld_tensor *t = ld_ckpt_find(b->ck, name);
    b->failed = 1;
    if (!t) { ld_set_error("checkpoint %s: missing tensor '%s'", b->ck->dir, name); return NULL; }
    const char *file = ld_ckpt_file_of(b->ck, t);
    if (t->dtype != dt) {
        ld_set_error("%s: tensor '%s' has dtype %s, expected %s", file, name, ld_dtype_name(t->dtype), ld_dtype_name(dt));
        return NULL;
    }
    int nd = d1 < 0 ? 1 : 2;
    if (t->ndim != nd || t->shape[0] != d0 || (nd == 2 && t->shape[1] != d1)) {
        char got[128] = "";
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (nd == 1) ld_set_error("%s: tensor '%s' has shape [%s], expected [%lld]", file, name, got, (long long)d0);
        else ld_set_error("%s: tensor '%s' has shape [%s], expected [%lld, %lld]", file, name, got, (long long)d0, (long long)d1);
        return NULL;
    }
    const void *p = aligned_view(b, t);
    b->failed = p == NULL;
    return p;
}

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

static ld_weight get_fp8(binder *b, int n, int k, const char *prefix) {
    ld_weight w = {.fmt = LD_WF_FP8, .n = n, .k = k, .scale_cols = (int)cdiv(k, 128)};
    w.data = get(b, LD_DT_F8_E4M3, n, k, "%s.weight", prefix);
    w.scale = get(b, LD_DT_F8_E8M0, cdiv(n, 128), cdiv(k, 128), "%s.scale", prefix);
    return w;
}

static ld_weight get_fp4(binder *b, int n, int k, const char *prefix) {
    ld_weight w = {.fmt = LD_WF_FP4, .n = n, .k = k, .scale_cols = k / 32};
    w.data = get(b, LD_DT_I8, n, k / 2, "%s.weight", prefix);
    w.scale = get(b, LD_DT_F8_E8M0, n, k / 32, "%s.scale", prefix);
    return w;
}

static ld_weight get_bf16(binder *b, int n, int k, const char *prefix) {
    ld_weight w = {.fmt = LD_WF_BF16, .n = n, .k = k};
    w.data = get(b, LD_DT_BF16, n, k, "%s.weight", prefix);
    return w;
}

static void bind_compressor(binder *b, const ld_config *c, int ratio, int d, const char *p, ld_compressor_w *w) {
    int overlap = ratio == 4, cd = (1 + overlap) * d;
    char q[256];
    w->ratio = ratio;
    w->d = d;
    w->overlap = overlap;
    snprintf(q, sizeof q, "%s.wkv", p);
    w->wkv = get_bf16(b, cd, c->dim, q);
    snprintf(q, sizeof q, "%s.wgate", p);
    w->wgate = get_bf16(b, cd, c->dim, q);
    w->ape = get(b, LD_DT_F32, ratio, cd, "%s.ape", p);
    w->norm = get(b, LD_DT_BF16, d, -1, "%s.norm.weight", p);
}

static void bind_hc(binder *b, const ld_config *c, const char *p, const char *kind, int nmix, int nscale, ld_hc_w *w) {
    w->fn = get(b, LD_DT_F32, nmix, (int64_t)c->hc_mult * c->dim, "%shc_%s_fn", p, kind);
    w->base = get(b, LD_DT_F32, nmix, -1, "%shc_%s_base", p, kind);
    w->scale = get(b, LD_DT_F32, nscale, -1, "%shc_%s_scale", p, kind);
}

static void bind_layer(binder *b, const ld_config *c, int l, ld_layer_w *L) {
    char p[64], q[256];
    int mtp = l >= c->n_layers;
    if (mtp) snprintf(p, sizeof p, "mtp.%d.", l - c->n_layers);
    else snprintf(p, sizeof p, "layers.%d.", l);
    int nmix = (2 + c->hc_mult) * c->hc_mult;
    bind_hc(b, c, p, "attn", nmix, 3, &L->hc_attn);
    bind_hc(b, c, p, "ffn", nmix, 3, &L->hc_ffn);
    L->attn_norm = get(b, LD_DT_BF16, c->dim, -1, "%sattn_norm.weight", p);
    L->ffn_norm = get(b, LD_DT_BF16, c->dim, -1, "%sffn_norm.weight", p);

    ld_attn_w *A = &L->attn;
    int hd = c->head_dim, H = c->n_heads;
    A->ratio = c->compress_ratios[l];
#define PFX(s) (snprintf(q, sizeof q, "%s%s", p, s), q)
    A->wq_a = get_fp8(b, c->q_lora_rank, c->dim, PFX("attn.wq_a"));
    A->q_norm = get(b, LD_DT_BF16, c->q_lora_rank, -1, "%sattn.q_norm.weight", p);
    A->wq_b = get_fp8(b, H * hd, c->q_lora_rank, PFX("attn.wq_b"));
    A->wkv = get_fp8(b, hd, c->dim, PFX("attn.wkv"));
    A->kv_norm = get(b, LD_DT_BF16, hd, -1, "%sattn.kv_norm.weight", p);
    A->wo_a = get_fp8(b, c->o_groups * c->o_lora_rank, H * hd / c->o_groups, PFX("attn.wo_a"));
    A->wo_a.fmt = LD_WF_FP8_DQ;
    A->wo_b = get_fp8(b, c->dim, c->o_groups * c->o_lora_rank, PFX("attn.wo_b"));
    A->sink = get(b, LD_DT_F32, H, -1, "%sattn.attn_sink", p);
    if (A->ratio) bind_compressor(b, c, A->ratio, hd, PFX("attn.compressor"), &A->comp);
    if (A->ratio == 4) {
        A->idx_wq_b = get_fp8(b, c->index_n_heads * c->index_head_dim, c->q_lora_rank, PFX("attn.indexer.wq_b"));
        A->idx_wproj = get_bf16(b, c->index_n_heads, c->dim, PFX("attn.indexer.weights_proj"));
        bind_compressor(b, c, 4, c->index_head_dim, PFX("attn.indexer.compressor"), &A->idx_comp);
    }

    ld_moe_w *F = &L->ffn;
    int E = c->n_routed_experts, inter = c->moe_inter_dim;
    F->gate = get_bf16(b, E, c->dim, PFX("ffn.gate"));
    if (!mtp && l < c->n_hash_layers) {
        F->tid2eid = get(b, LD_DT_I64, c->vocab_size, c->n_activated_experts, "%sffn.gate.tid2eid", p);
        for (long i = 0; F->tid2eid && i < (long)c->vocab_size * c->n_activated_experts; i++)
            if (F->tid2eid[i] < 0 || F->tid2eid[i] >= E) {
                ld_set_error("tensor '%sffn.gate.tid2eid': entry %ld = %lld is not an expert id in [0, %d)", p, i,
                             (long long)F->tid2eid[i], E);
                b->failed = 1;
                break;
            }
    } else {
        F->bias = get(b, LD_DT_F32, E, -1, "%sffn.gate.bias", p);
    }
    F->experts = calloc((size_t)E, sizeof *F->experts);
    if (!F->experts) { ld_set_error("out of memory"); b->failed = 1; return; }
    for (int e = 0; e < E && !b->failed; e++) {
        char ep[128];
        ld_expert_w *X = &F->experts[e];
        ld_weight (*get_x)(binder *, int, int, const char *) = c->expert_fp4 ? get_fp4 : get_fp8;
        snprintf(ep, sizeof ep, "%sffn.experts.%d.w1", p, e);
        X->w1 = get_x(b, inter, c->dim, ep);
        snprintf(ep, sizeof ep, "%sffn.experts.%d.w2", p, e);
        X->w2 = get_x(b, c->dim, inter, ep);
        snprintf(ep, sizeof ep, "%sffn.experts.%d.w3", p, e);
        X->w3 = get_x(b, inter, c->dim, ep);
    }
    F->shared.w1 = get_fp8(b, inter, c->dim, PFX("ffn.shared_experts.w1"));
    F->shared.w2 = get_fp8(b, c->dim, inter, PFX("ffn.shared_experts.w2"));
    F->shared.w3 = get_fp8(b, inter, c->dim, PFX("ffn.shared_experts.w3"));
    if (mtp) {
        L->e_proj = get_fp8(b, c->dim, c->dim, PFX("e_proj"));
        L->h_proj = get_fp8(b, c->dim, c->dim, PFX("h_proj"));
        L->enorm = get(b, LD_DT_BF16, c->dim, -1, "%senorm.weight", p);
        L->hnorm = get(b, LD_DT_BF16, c->dim, -1, "%shnorm.weight", p);
        L->norm = get(b, LD_DT_BF16, c->dim, -1, "%snorm.weight", p);
        bind_hc(b, c, p, "head", c->hc_mult, 1, &L->hc_head);
    }
#undef PFX
}

/* Inverse RoPE frequencies as the official precompute does them in fp32:
 * 1/(base^(2i/d)), then the YaRN ramp between the beta_fast and beta_slow
 * correction dims (compressed layers only). */
static float *rope_inv_freq(const ld_config *c, int yarn) {
    int d = c->rope_dim, half = d / 2;
    double base = yarn ? c->compress_rope_theta : c->rope_theta;
    float *f = malloc(sizeof(float) * (size_t)half);
    if (!f) return NULL;
    for (int i = 0; i < half; i++) {
        float e = (float)(2 * i) / (float)d;
        f[i] = 1.0f / (float)pow(base, (double)e);
    }
    if (yarn && c->original_seq_len > 0) {
        double L = c->original_seq_len;
        double lo_d = d * log(L / (c->beta_fast * 2 * LD_PI)) / (2 * log(base));
        double hi_d = d * log(L / (c->beta_slow * 2 * LD_PI)) / (2 * log(base));
        double lo = floor(lo_d), hi = ceil(hi_d);
        if (lo < 0) lo = 0;
        if (hi > d - 1) hi = d - 1;
        float span = lo == hi ? (float)(hi + 0.001 - lo) : (float)(hi - lo);
        float factor = (float)c->rope_factor;
        for (int i = 0; i < half; i++) {
            float ramp = ((float)i - (float)lo) / span;
            ramp = ramp < 0 ? 0 : (ramp > 1 ? 1 : ramp);
            float smooth = 1.0f - ramp;
            f[i] = f[i] / factor * (1.0f - smooth) + f[i] * smooth;
        }
    }
    return f;
}

void ld_model_rope_cos_sin(const ld_model *m, int yarn, long pos, float *cs, float *sn) {
    const float *f = m->inv_freq[yarn];
    for (int i = 0; i < m->cfg.rope_dim / 2; i++) {
        float a = (float)pos * f[i];
        cs[i] = (float)cos((double)a);
        sn[i] = (float)sin((double)a);
    }
}

/* Binds every tensor the config implies; on failure the error is set and
 * what was bound so far is left for unbind(). */
static int bind_all(ld_model *m) {
    ld_config *c = &m->cfg;
    binder b = {.ck = &m->ck, .m = m};
    m->embed = get(&b, LD_DT_BF16, c->vocab_size, c->dim, "embed.weight");
    m->head = get_bf16(&b, c->vocab_size, c->dim, "head");
    m->norm = get(&b, LD_DT_BF16, c->dim, -1, "norm.weight");
    bind_hc(&b, c, "", "head", c->hc_mult, 1, &m->hc_head);
    int nl = c->n_layers + c->n_mtp_layers;
    m->layers = calloc((size_t)nl, sizeof *m->layers);
    if (!m->layers) { ld_set_error("out of memory"); b.failed = 1; }
    for (int l = 0; l < nl && !b.failed; l++) bind_layer(&b, c, l, &m->layers[l]);
    m->inv_freq[0] = rope_inv_freq(c, 0);
    m->inv_freq[1] = rope_inv_freq(c, 1);
    if (!b.failed && (!m->inv_freq[0] || !m->inv_freq[1])) { ld_set_error("out of memory"); b.failed = 1; }
    return b.failed ? -1 : 0;
}

/* Drops every binding (pointers into the checkpoint), keeping the checkpoint. */
static void unbind(ld_model *m) {
    if (m->layers)
        for (int l = 0; l < m->cfg.n_layers + m->cfg.n_mtp_layers; l++) free(m->layers[l].ffn.experts);
    free(m->layers);
    m->layers = NULL;
    free(m->inv_freq[0]);
    free(m->inv_freq[1]);
    m->inv_freq[0] = m->inv_freq[1] = NULL;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    m->owned = NULL;
    m->n_owned = 0;
}

/* Resident when asked, or (auto) when the weights fit comfortably in the
 * memory the kernel reports available. */
static int want_resident(const ld_model *m, ld_load_mode mode) {
    if (mode != LD_LOAD_AUTO) return mode == LD_LOAD_RESIDENT;
    size_t avail = ld_mem_available();
    return avail && ld_ckpt_data_bytes(&m->ck) <= avail / 4 * 3;
}

static int load_fail(ld_model *m) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", ld_last_error());
    ld_model_free(m);
    return ld_set_error("%s", msg);
}

int ld_model_load_opts(const char *dir, const ld_backend_ops *ops, const ld_load_opts *o, ld_model *m) {
    memset(m, 0, sizeof *m);
    if (!(m->be = ld_backend_create(ops, o ? &o->backend : NULL))) return -1;
    const char *missing = ld_backend_missing_forward_op(m->be);
    if (missing) {
        ld_set_error("backend '%s' cannot run the model: it has no '%s' op", ops->name, missing);
        return load_fail(m);
    }
    m->kv_budget = o ? o->kv_budget : 0;
    if (ld_model_runtime_init(m)) return load_fail(m);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (ld_config_load(path, &m->cfg)) return -1;
    m->gen = (ld_gen_defaults){.temperature = 1.0f, .top_p = 1.0f, .top_k = 0, .min_p = 0, .do_sample = 1};
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    FILE *gf = fopen(path, "r");
    if (gf) {
        fclose(gf);
        if (ld_gen_config_load(path, &m->gen)) return -1;
    }
    if (ld_ckpt_open(dir, &m->ck)) return -1;
    ld_config *c = &m->cfg;
    if (!c->expert_dtype_given) {
        /* released configs without expert_dtype: the stored dtype decides (I8 = packed FP4) */
        const ld_tensor *t = ld_ckpt_find(&m->ck, "layers.0.ffn.experts.0.w1.weight");
        c->expert_fp4 = t && t->dtype == LD_DT_I8;
    }
    /* validate everything before copying any weight, then bind again to the copies */
    if (bind_all(m)) return load_fail(m);
    if (o && want_resident(m, o->mode)) {
        unbind(m);
        m->resident = ld_ckpt_make_resident(&m->ck, o->progress) == 0;
        if (!m->resident && o->mode == LD_LOAD_RESIDENT) return load_fail(m);
        /* auto: a failed copy (out of memory, say) leaves the files not yet
           moved mapped; every tensor points at live memory either way */
        if (!m->resident) snprintf(m->mapped_why, sizeof m->mapped_why, "%s", ld_last_error());
        if (bind_all(m)) return load_fail(m);
    }
    if (ld_model_place(m)) return load_fail(m);
    return 0;
}

int ld_model_load(const char *dir, const ld_backend_ops *ops, ld_model *m) {
    return ld_model_load_opts(dir, ops, NULL, m);
}

void ld_model_free(ld_model *m) {
    if (m->be) ld_model_unplace(m);
    unbind(m);
    ld_ckpt_close(&m->ck);
    ld_model_runtime_free(m);
    ld_backend_destroy(m->be);
    memset(m, 0, sizeof *m);
}
