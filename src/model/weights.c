/* Binds every tensor the schema (model/schema.h) implies for the config to
 * typed views, checking name, dtype and shape; the first problem found is
 * reported with the tensor name and the file it lives in (or "missing"). */
#include <math.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/resident.h"
#include "model/model.h"
#include "model/schema.h"

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

/* Finds one checkpoint tensor and checks its dtype and shape against the
 * schema's; NULL (error set) on the first mismatch. */
static const void *get(binder *b, const ld_schema_part *want) {
    const char *name = want->name;
    const ld_tensor *t = ld_ckpt_find(b->ck, name);
    if (!t) { ld_set_error("checkpoint %s: missing tensor '%s'", b->ck->dir, name); return NULL; }
    const char *file = ld_ckpt_file_of(b->ck, t);
    if (t->dtype != want->dtype) {
        ld_set_error("%s: tensor '%s' has dtype %s, expected %s", file, name, ld_dtype_name(t->dtype),
                     ld_dtype_name(want->dtype));
        return NULL;
    }
    int nd = want->ndim;
    int64_t d0 = want->shape[0], d1 = want->shape[1];
    if (t->ndim != nd || t->shape[0] != d0 || (nd == 2 && t->shape[1] != d1)) {
        char got[128] = "";
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        if (nd == 1) ld_set_error("%s: tensor '%s' has shape [%s], expected [%lld]", file, name, got, (long long)d0);
        else ld_set_error("%s: tensor '%s' has shape [%s], expected [%lld, %lld]", file, name, got, (long long)d0, (long long)d1);
        return NULL;
    }
    return aligned_view(b, t);
}

/* Token-id routing must name real experts: the table indexes the expert array. */
static int check_tid2eid(const ld_config *c, const char *name, const int64_t *t) {
    for (long i = 0; i < (long)c->vocab_size * c->n_activated_experts; i++)
        if (t[i] < 0 || t[i] >= c->n_routed_experts)
            return ld_set_error("tensor '%s': entry %ld = %lld is not an expert id in [0, %d)", name, i, (long long)t[i],
                                c->n_routed_experts);
    return 0;
}

static int bind_one(void *ctx, const ld_schema_item *it) {
    binder *b = ctx;
    void *field = ld_schema_field(b->m, it);
    if (!it->e->weight) {
        const void *p = get(b, &it->part[0]);
        if (!p) return b->failed = 1;
        *(const void **)field = p;
        if (it->e->scope == LD_SS_LAYER && it->e->off == offsetof(ld_layer_w, ffn.tid2eid) &&
            check_tid2eid(&b->m->cfg, it->part[0].name, p))
            return b->failed = 1;
        return 0;
    }
    ld_weight w = {.fmt = it->fmt, .n = (int)it->n, .k = (int)it->k};
    if (!(w.data = get(b, &it->part[0]))) return b->failed = 1;
    if (it->nparts > 1) {
        w.scale_cols = (int)it->part[1].shape[1];
        if (!(w.scale = get(b, &it->part[1]))) return b->failed = 1;
    }
    *(ld_weight *)field = w;
    return 0;
}

/* Per-block facts the forward pass reads next to the tensors. */
static void block_meta(const ld_config *c, int l, ld_layer_w *L) {
    ld_attn_w *A = &L->attn;
    A->ratio = c->compress_ratios[l];
    if (A->ratio) A->comp = (ld_compressor_w){.ratio = A->ratio, .d = c->head_dim, .overlap = A->ratio == 4};
    if (A->ratio == 4) A->idx_comp = (ld_compressor_w){.ratio = 4, .d = c->index_head_dim, .overlap = 1};
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
    int nl = c->n_layers + c->n_mtp_layers;
    m->layers = calloc((size_t)nl, sizeof *m->layers);
    for (int l = 0; m->layers && l < nl && !b.failed; l++) {
        block_meta(c, l, &m->layers[l]);
        m->layers[l].ffn.experts = calloc((size_t)c->n_routed_experts, sizeof *m->layers[l].ffn.experts);
        if (!m->layers[l].ffn.experts && c->n_routed_experts) b.failed = 1;
    }
    if (!m->layers || b.failed) { ld_set_error("out of memory"); b.failed = 1; }
    if (!b.failed) ld_schema_each(c, bind_one, &b);
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
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (ld_config_load(path, &m->cfg)) return load_fail(m);
    m->gen = (ld_gen_defaults){.temperature = 1.0f, .top_p = 1.0f, .top_k = 0, .min_p = 0, .do_sample = 1};
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    FILE *gf = fopen(path, "r");
    if (gf) {
        fclose(gf);
        if (ld_gen_config_load(path, &m->gen)) return load_fail(m);
    }
    if (ld_ckpt_open(dir, &m->ck)) return load_fail(m);
    ld_config *c = &m->cfg;
    if (!c->expert_dtype_given) {
        /* released configs without expert_dtype: the stored dtype decides (I8 = packed FP4) */
        const ld_tensor *t = ld_ckpt_find(&m->ck, "layers.0.ffn.experts.0.w1.weight");
        c->expert_fp4 = t && t->dtype == LD_DT_I8;
    }
    /* the checkpoint is readable: now the backend (threads, a device context) */
    if (!(m->be = ld_backend_create(ops, o ? &o->backend : NULL))) return load_fail(m);
    const char *missing = ld_backend_missing_forward_op(m->be);
    if (missing) {
        ld_set_error("backend '%s' cannot run the model: it has no '%s' op", ops->name, missing);
        return load_fail(m);
    }
    m->kv_budget = o ? o->kv_budget : 0;
    if (ld_model_runtime_init(m)) return load_fail(m);
    /* validate everything before copying any weight, then bind again to the copies */
    if (bind_all(m)) return load_fail(m);
    /* a device backend uploads the weights anyway: a host copy would only double them */
    if (o && m->be->ops->mem == LD_MEM_HOST && o->formats == LD_FORMATS_NATIVE && want_resident(m, o->mode)) {
        unbind(m);
        m->resident = ld_ckpt_make_resident(&m->ck, o->progress) == 0;
        if (!m->resident && o->mode == LD_LOAD_RESIDENT) return load_fail(m);
        /* auto: a failed copy (out of memory, say) leaves the files not yet
           moved mapped; every tensor points at live memory either way */
        if (!m->resident) snprintf(m->mapped_why, sizeof m->mapped_why, "%s", ld_last_error());
        if (bind_all(m)) return load_fail(m);
    }
    m->formats = o ? o->formats : LD_FORMATS_NATIVE;
    if (ld_model_convert(m, m->formats) || ld_model_place(m)) return load_fail(m);
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
