/* Synthetic checkpoint writer. Every tensor draws from its own random stream
 * seeded by (seed, tensor name), so the bytes do not depend on sharding or
 * write order. Values are generated through small lookup tables (16 random
 * bits -> one code), which keeps multi-GB slices fast to write.
 *
 * Magnitudes: a linear with fan-in k gets weights of standard deviation
 * gain/sqrt(k), so RMS-normalized inputs give unit-RMS outputs; FP8/FP4
 * blocks carry an E8M0 scale with a random +-1 exponent jitter so that the
 * per-block scale handling is exercised. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/numerics.h"
#include "io/st_writer.h"
#include "model/synth.h"

typedef enum { G_UNIFORM_BF16, G_UNIFORM_F32, G_FP8, G_E8M0, G_FP4, G_TID2EID } gen_kind;

typedef struct {
    ld_st_entry e;
    gen_kind kind;
    float sigma, mean; /* uniform kinds: value = mean + sigma*sqrt(3)*u, u in [-1,1) */
    int scale_exp;     /* E8M0 kinds: centre exponent (unbiased) */
    int experts, k;    /* tid2eid */
} plan_t;

typedef struct {
    plan_t *p;
    int n, cap;
    const ld_config *c;
} plan;

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t name_seed(uint64_t seed, const char *name) {
    uint64_t h = 1469598103934665603ull ^ seed;
    for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return h;
}

static plan_t *add(plan *P, const char *name, ld_dtype dt, int64_t d0, int64_t d1, gen_kind k) {
    if (P->n == P->cap) {
        int nc = P->cap ? P->cap * 2 : 256;
        plan_t *np = realloc(P->p, sizeof *np * (size_t)nc);
        if (!np) return NULL;
        P->p = np;
        P->cap = nc;
    }
    plan_t *t = &P->p[P->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->e.name, sizeof t->e.name, "%s", name);
    t->e.dtype = dt;
    t->e.ndim = d1 < 0 ? 1 : 2;
    t->e.shape[0] = d0;
    t->e.shape[1] = d1;
    t->e.nbytes = (uint64_t)d0 * (uint64_t)(d1 < 0 ? 1 : d1) * ld_dtype_size(dt);
    t->kind = k;
    return t;
}

static void add_vec(plan *P, const char *name, ld_dtype dt, int64_t n, float mean, float sigma) {
    plan_t *t = add(P, name, dt, n, -1, dt == LD_DT_BF16 ? G_UNIFORM_BF16 : G_UNIFORM_F32);
    if (t) { t->mean = mean; t->sigma = sigma; }
}

static void add_mat(plan *P, const char *name, ld_dtype dt, int64_t n, int64_t k, float sigma) {
    plan_t *t = add(P, name, dt, n, k, dt == LD_DT_BF16 ? G_UNIFORM_BF16 : G_UNIFORM_F32);
    if (t) t->sigma = sigma;
}

/* Uniform table codes over [-448, 448] have std 448/sqrt(3); pick the E8M0
 * exponent that maps that to the wanted sigma. */
static int exp_for(float sigma, float code_std) { return (int)lrint(log2((double)sigma / code_std)); }

static void add_fp8(plan *P, const char *prefix, int64_t n, int64_t k, float gain) {
    char nm[200];
    snprintf(nm, sizeof nm, "%s.weight", prefix);
    add(P, nm, LD_DT_F8_E4M3, n, k, G_FP8);
    snprintf(nm, sizeof nm, "%s.scale", prefix);
    plan_t *s = add(P, nm, LD_DT_F8_E8M0, (n + 127) / 128, (k + 127) / 128, G_E8M0);
    if (s) s->scale_exp = exp_for(gain / sqrtf((float)k), 448.0f / sqrtf(3.0f));
}

static void add_fp4(plan *P, const char *prefix, int64_t n, int64_t k, float gain) {
    char nm[200];
    snprintf(nm, sizeof nm, "%s.weight", prefix);
    add(P, nm, LD_DT_I8, n, k / 2, G_FP4);
    snprintf(nm, sizeof nm, "%s.scale", prefix);
    plan_t *s = add(P, nm, LD_DT_F8_E8M0, n, k / 32, G_E8M0);
    if (s) s->scale_exp = exp_for(gain / sqrtf((float)k), 2.93f); /* rms of the 16 e2m1 codes */
}

static void add_compressor(plan *P, const ld_config *c, const char *p, int ratio, int d) {
    char nm[200];
    int cd = (ratio == 4 ? 2 : 1) * d;
    snprintf(nm, sizeof nm, "%s.wkv.weight", p); add_mat(P, nm, LD_DT_BF16, cd, c->dim, 1.0f / sqrtf((float)c->dim));
    snprintf(nm, sizeof nm, "%s.wgate.weight", p); add_mat(P, nm, LD_DT_BF16, cd, c->dim, 1.0f / sqrtf((float)c->dim));
    snprintf(nm, sizeof nm, "%s.ape", p); add_mat(P, nm, LD_DT_F32, ratio, cd, 0.1f);
    snprintf(nm, sizeof nm, "%s.norm.weight", p); add_vec(P, nm, LD_DT_BF16, d, 1.0f, 0.05f);
}

static void add_layer(plan *P, const ld_config *c, int l) {
    char p[64], nm[200];
    int mtp = l >= c->n_layers, r = c->compress_ratios[l], D = c->dim, H = c->n_heads, hd = c->head_dim;
    int nmix = (2 + c->hc_mult) * c->hc_mult, inter = c->moe_inter_dim, E = c->n_routed_experts;
    if (mtp) snprintf(p, sizeof p, "mtp.%d.", l - c->n_layers);
    else snprintf(p, sizeof p, "layers.%d.", l);
#define N(s) (snprintf(nm, sizeof nm, "%s%s", p, s), nm)
    const char *kinds[2] = {"attn", "ffn"};
    for (int i = 0; i < 2; i++) {
        char b[64];
        snprintf(b, sizeof b, "hc_%s_fn", kinds[i]); add_mat(P, N(b), LD_DT_F32, nmix, (int64_t)c->hc_mult * D, 0.5f / sqrtf((float)(c->hc_mult * D)));
        snprintf(b, sizeof b, "hc_%s_base", kinds[i]); add_vec(P, N(b), LD_DT_F32, nmix, 0.0f, 0.5f);
        snprintf(b, sizeof b, "hc_%s_scale", kinds[i]); add_vec(P, N(b), LD_DT_F32, 3, 1.0f, 0.2f);
    }
    add_vec(P, N("attn_norm.weight"), LD_DT_BF16, D, 1.0f, 0.05f);
    add_vec(P, N("ffn_norm.weight"), LD_DT_BF16, D, 1.0f, 0.05f);
    add_fp8(P, N("attn.wq_a"), c->q_lora_rank, D, 1.0f);
    add_vec(P, N("attn.q_norm.weight"), LD_DT_BF16, c->q_lora_rank, 1.0f, 0.05f);
    add_fp8(P, N("attn.wq_b"), (int64_t)H * hd, c->q_lora_rank, 1.0f);
    add_fp8(P, N("attn.wkv"), hd, D, 1.0f);
    add_vec(P, N("attn.kv_norm.weight"), LD_DT_BF16, hd, 1.0f, 0.05f);
    add_fp8(P, N("attn.wo_a"), (int64_t)c->o_groups * c->o_lora_rank, (int64_t)H * hd / c->o_groups, 1.0f);
    add_fp8(P, N("attn.wo_b"), D, (int64_t)c->o_groups * c->o_lora_rank, 0.5f);
    add_vec(P, N("attn.attn_sink"), LD_DT_F32, H, 0.0f, 1.0f);
    if (r) add_compressor(P, c, N("attn.compressor"), r, hd);
    if (r == 4) {
        add_fp8(P, N("attn.indexer.wq_b"), (int64_t)c->index_n_heads * c->index_head_dim, c->q_lora_rank, 1.0f);
        add_mat(P, N("attn.indexer.weights_proj.weight"), LD_DT_BF16, c->index_n_heads, D, 1.0f / sqrtf((float)D));
        add_compressor(P, c, N("attn.indexer.compressor"), 4, c->index_head_dim);
    }
    add_mat(P, N("ffn.gate.weight"), LD_DT_BF16, E, D, 1.0f / sqrtf((float)D));
    if (!mtp && l < c->n_hash_layers) {
        plan_t *t = add(P, N("ffn.gate.tid2eid"), LD_DT_I64, c->vocab_size, c->n_activated_experts, G_TID2EID);
        if (t) { t->experts = E; t->k = c->n_activated_experts; }
    } else {
        add_vec(P, N("ffn.gate.bias"), LD_DT_F32, E, 0.0f, 0.02f);
    }
    for (int e = 0; e < E; e++) {
        char b[96];
        const char *w[3] = {"w1", "w2", "w3"};
        for (int j = 0; j < 3; j++) {
            int64_t n = j == 1 ? D : inter, k = j == 1 ? inter : D;
            snprintf(b, sizeof b, "ffn.experts.%d.%s", e, w[j]);
            if (c->expert_fp4) add_fp4(P, N(b), n, k, j == 1 ? 0.5f : 1.0f);
            else add_fp8(P, N(b), n, k, j == 1 ? 0.5f : 1.0f);
        }
    }
    add_fp8(P, N("ffn.shared_experts.w1"), inter, D, 1.0f);
    add_fp8(P, N("ffn.shared_experts.w2"), D, inter, 0.5f);
    add_fp8(P, N("ffn.shared_experts.w3"), inter, D, 1.0f);
    if (mtp) {
        add_fp8(P, N("e_proj"), D, D, 1.0f);
        add_fp8(P, N("h_proj"), D, D, 1.0f);
        add_vec(P, N("enorm.weight"), LD_DT_BF16, D, 1.0f, 0.05f);
        add_vec(P, N("hnorm.weight"), LD_DT_BF16, D, 1.0f, 0.05f);
        add_vec(P, N("norm.weight"), LD_DT_BF16, D, 1.0f, 0.05f);
        add_mat(P, N("hc_head_fn"), LD_DT_F32, c->hc_mult, (int64_t)c->hc_mult * D, 0.5f / sqrtf((float)(c->hc_mult * D)));
        add_vec(P, N("hc_head_base"), LD_DT_F32, c->hc_mult, 0.0f, 0.5f);
        add_vec(P, N("hc_head_scale"), LD_DT_F32, 1, 1.0f, 0.2f);
    }
#undef N
}

static int cmp_plan(const void *a, const void *b) { return strcmp(((const plan_t *)a)->e.name, ((const plan_t *)b)->e.name); }

static int build_plan(const ld_config *c, plan *P) {
    memset(P, 0, sizeof *P);
    P->c = c;
    int D = c->dim;
    add_mat(P, "embed.weight", LD_DT_BF16, c->vocab_size, D, 1.0f);
    add_mat(P, "head.weight", LD_DT_BF16, c->vocab_size, D, 2.5f / sqrtf((float)D));
    add_vec(P, "norm.weight", LD_DT_BF16, D, 1.0f, 0.05f);
    add_mat(P, "hc_head_fn", LD_DT_F32, c->hc_mult, (int64_t)c->hc_mult * D, 0.5f / sqrtf((float)(c->hc_mult * D)));
    add_vec(P, "hc_head_base", LD_DT_F32, c->hc_mult, 0.0f, 0.5f);
    add_vec(P, "hc_head_scale", LD_DT_F32, 1, 1.0f, 0.2f);
    for (int l = 0; l < c->n_layers + c->n_mtp_layers; l++) add_layer(P, c, l);
    if (P->n == 0 || !P->p) return ld_set_error("out of memory planning the checkpoint");
    qsort(P->p, (size_t)P->n, sizeof *P->p, cmp_plan);
    return 0;
}

/* Streams one tensor's bytes through the writer in 1 MiB chunks. */
static int gen_tensor(const plan_t *t, uint64_t seed, ld_st_writer *w, uint8_t *buf, size_t cap, const float *bf_unit,
                      const uint8_t *fp8_tab, uint64_t *done, uint64_t total, int progress) {
    uint64_t s = name_seed(seed, t->e.name);
    uint64_t left = t->e.nbytes;
    ld_bf16 tab[65536];
    if (t->kind == G_UNIFORM_BF16)
        for (int i = 0; i < 65536; i++) tab[i] = ld_f32_to_bf16(t->mean + t->sigma * bf_unit[i]);
    int64_t row = 0;
    while (left) {
        size_t n = left < cap ? (size_t)left : cap;
        switch (t->kind) {
        case G_UNIFORM_BF16:
            for (size_t i = 0; i < n; i += 8) {
                uint64_t r = splitmix(&s);
                for (int j = 0; j < 4 && i + 2 * j < n; j++) memcpy(buf + i + 2 * j, &tab[(r >> (16 * j)) & 0xffff], 2);
            }
            break;
        case G_UNIFORM_F32:
            for (size_t i = 0; i < n; i += 4) {
                float u = (float)((int64_t)(splitmix(&s) >> 40) - (1 << 23)) / (float)(1 << 23);
                float v = t->mean + t->sigma * 1.7320508f * u;
                memcpy(buf + i, &v, 4);
            }
            break;
        case G_FP8:
            for (size_t i = 0; i < n; i += 4) {
                uint64_t r = splitmix(&s);
                for (int j = 0; j < 4 && i + j < n; j++) buf[i + j] = fp8_tab[(r >> (16 * j)) & 0xffff];
            }
            break;
        case G_FP4: /* uniform over all 16 codes in both nibbles */
            for (size_t i = 0; i < n; i += 8) {
                uint64_t r = splitmix(&s);
                memcpy(buf + i, &r, n - i < 8 ? n - i : 8);
            }
            break;
        case G_E8M0:
            for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(127 + t->scale_exp + (int)(splitmix(&s) % 3) - 1);
            break;
        case G_TID2EID: {
            /* k distinct experts per token id, by a partial shuffle */
            int k = t->k, E = t->experts;
            size_t rb = (size_t)k * 8, rows = n / rb;
            int perm[4096];
            for (size_t ri = 0; ri < rows; ri++, row++) {
                for (int e = 0; e < E && e < 4096; e++) perm[e] = e;
                for (int j = 0; j < k; j++) {
                    int pick = j + (int)(splitmix(&s) % (uint64_t)(E - j));
                    int tmp = perm[j]; perm[j] = perm[pick]; perm[pick] = tmp;
                    int64_t v = perm[j];
                    memcpy(buf + ri * rb + (size_t)j * 8, &v, 8);
                }
            }
            n = rows * rb;
            break;
        }
        }
        if (ld_st_writer_write(w, buf, n)) return -1;
        left -= n;
        uint64_t before = *done;
        *done += n;
        if (progress && total > (256u << 20) && (before * 20 / total) != (*done * 20 / total))
            fprintf(stderr, "synth: %.2f / %.2f GB written (%d%%)\n", *done / 1e9, total / 1e9, (int)(*done * 100 / total));
    }
    return 0;
}

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return ld_set_error("%s: cannot create: %s", path, strerror(errno));
    fputs(text, f);
    return fclose(f) ? ld_set_error("%s: write failed", path) : 0;
}

int ld_synth_write(const ld_config *c, const char *dir, const ld_synth_opts *o) {
    if (c->n_routed_experts > 4096) return ld_set_error("at most 4096 routed experts can be synthesized");
    if (mkdir(dir, 0755) && errno != EEXIST) return ld_set_error("%s: cannot create directory: %s", dir, strerror(errno));
    plan P;
    if (build_plan(c, &P)) return -1;
    char path[4096];
    int rc = -1, n_shards = 1;
    uint64_t shard_max = o->shard_bytes ? o->shard_bytes : (4ull << 30), total = 0, acc = 0;
    int *shard_of = malloc(sizeof(int) * (size_t)P.n);
    uint8_t *buf = malloc(1 << 20);
    float *bf_unit = malloc(sizeof(float) * 65536);
    uint8_t *fp8_tab = malloc(65536);
    FILE *idx = NULL;
    if (!shard_of || !buf || !bf_unit || !fp8_tab) { ld_set_error("out of memory"); goto out; }
    for (int i = 0; i < 65536; i++) {
        float u = ((float)i + 0.5f) / 32768.0f - 1.0f; /* quantiles of uniform(-1, 1) */
        bf_unit[i] = 1.7320508f * u;
        fp8_tab[i] = ld_f32_to_fp8(448.0f * u);
    }
    for (int i = 0; i < P.n; i++) {
        if (acc && acc + P.p[i].e.nbytes > shard_max) { n_shards++; acc = 0; }
        shard_of[i] = n_shards - 1;
        acc += P.p[i].e.nbytes;
        total += P.p[i].e.nbytes;
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (ld_config_write(path, c)) goto out;
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    if (write_text(path, "{\n  \"bos_token_id\": 0,\n  \"eos_token_id\": 1,\n  \"do_sample\": true,\n"
                         "  \"temperature\": 1.0,\n  \"top_p\": 1.0\n}\n"))
        goto out;
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    idx = fopen(path, "w");
    if (!idx) { ld_set_error("%s: cannot create: %s", path, strerror(errno)); goto out; }
    fprintf(idx, "{\n  \"metadata\": {\n    \"total_size\": %llu\n  },\n  \"weight_map\": {\n", (unsigned long long)total);
    uint64_t done = 0;
    ld_st_entry *ents = malloc(sizeof *ents * (size_t)P.n);
    if (!ents) { ld_set_error("out of memory"); goto out; }
    for (int s = 0, first = 0; s < n_shards; s++) {
        int cnt = 0;
        while (first + cnt < P.n && shard_of[first + cnt] == s) { ents[cnt] = P.p[first + cnt].e; cnt++; }
        char fname[128];
        if (n_shards == 1) snprintf(fname, sizeof fname, "model.safetensors");
        else snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", s + 1, n_shards);
        snprintf(path, sizeof path, "%s/%s", dir, fname);
        ld_st_writer w;
        if (ld_st_writer_open(&w, path, ents, cnt)) { free(ents); goto out; }
        for (int i = 0; i < cnt; i++) {
            if (gen_tensor(&P.p[first + i], o->seed, &w, buf, 1 << 20, bf_unit, fp8_tab, &done, total, o->progress)) {
                ld_st_writer_close(&w);
                free(ents);
                goto out;
            }
            fprintf(idx, "%s    \"%s\": \"%s\"", first + i ? ",\n" : "", P.p[first + i].e.name, fname);
        }
        if (ld_st_writer_close(&w)) { free(ents); goto out; }
        first += cnt;
    }
    free(ents);
    fprintf(idx, "\n  }\n}\n");
    rc = 0;
out:
    if (idx && fclose(idx) && !rc) rc = ld_set_error("index write failed");
    free(shard_of);
    free(buf);
    free(bf_unit);
    free(fp8_tab);
    free(P.p);
    return rc;
}
