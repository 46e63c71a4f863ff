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
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/numerics.h"
#include "io/st_writer.h"
#include "model/schema.h"
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

/* Uniform table codes over [-448, 448] have std 448/sqrt(3); pick the E8M0
 * exponent that maps that to the wanted sigma. */
static int exp_for(float sigma, float code_std) { return (int)lrint(log2((double)sigma / code_std)); }

/* One schema binding: its tensors with the generator their dtype implies. */
static int plan_item(void *ctx, const ld_schema_item *it) {
    plan *P = ctx;
    const ld_schema_entry *e = it->e;
    const ld_schema_part *d = &it->part[0];
    if (!e->weight || it->fmt == LD_WF_BF16 || it->fmt == LD_WF_F32) {
        int bf = d->dtype == LD_DT_BF16;
        gen_kind k = d->dtype == LD_DT_I64 ? G_TID2EID : bf ? G_UNIFORM_BF16 : G_UNIFORM_F32;
        plan_t *t = add(P, d->name, d->dtype, d->shape[0], d->ndim == 2 ? d->shape[1] : -1, k);
        if (!t) return -1;
        t->mean = e->mean;
        t->sigma = e->fan_in ? e->sigma / sqrtf((float)(e->weight ? it->k : d->shape[1])) : e->sigma;
        if (k == G_TID2EID) {
            t->experts = P->c->n_routed_experts;
            t->k = P->c->n_activated_experts;
        }
        return 0;
    }
    const ld_schema_part *s = &it->part[1];
    int fp4 = it->fmt == LD_WF_FP4;
    if (!add(P, d->name, d->dtype, d->shape[0], d->shape[1], fp4 ? G_FP4 : G_FP8)) return -1;
    plan_t *t = add(P, s->name, s->dtype, s->shape[0], s->shape[1], G_E8M0);
    if (!t) return -1;
    /* 2.93: rms of the 16 e2m1 codes */
    t->scale_exp = exp_for(e->sigma / sqrtf((float)it->k), fp4 ? 2.93f : 448.0f / sqrtf(3.0f));
    return 0;
}

static int cmp_plan(const void *a, const void *b) { return strcmp(((const plan_t *)a)->e.name, ((const plan_t *)b)->e.name); }

static int build_plan(const ld_config *c, plan *P) {
    memset(P, 0, sizeof *P);
    P->c = c;
    if (ld_schema_each(c, plan_item, P) || P->n == 0 || !P->p) return ld_set_error("out of memory planning the checkpoint");
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

static int is_shard_name(const char *n) {
    size_t l = strlen(n);
    return !strncmp(n, "model", 5) && l > 12 && !strcmp(n + l - 12, ".safetensors");
}

/* Removes the regular files directly in d that which() selects (all when
 * NULL), then d itself when all is set. */
static void remove_files(const char *d, int (*which)(const char *), int all) {
    DIR *dd = opendir(d);
    if (!dd) return;
    char p[4400];
    for (struct dirent *e; (e = readdir(dd));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || (which && !which(e->d_name))) continue;
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        struct stat st;
        if (!lstat(p, &st) && S_ISREG(st.st_mode)) unlink(p);
    }
    closedir(dd);
    if (all) rmdir(d);
}

static int write_into(const ld_config *c, const char *dir, const ld_synth_opts *o, int *n_shards_out);

/* A killed run leaves its DIR.partial.PID behind; one whose process is gone
 * is removed so abandoned multi-GB attempts do not pile up. */
static void remove_stale_partials(const char *dir) {
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    const char *base = slash ? slash + 1 : dir;
    if (!slash) snprintf(parent, sizeof parent, ".");
    else if (slash == parent) parent[1] = 0;
    else *slash = 0;
    size_t bl = strlen(base);
    DIR *d = opendir(parent);
    if (!d || !bl) { if (d) closedir(d); return; }
    char p[8400];
    for (struct dirent *e; (e = readdir(d));) {
        const char *n = e->d_name;
        if (strncmp(n, base, bl) || strncmp(n + bl, ".partial.", 9)) continue;
        char *end;
        long pid = strtol(n + bl + 9, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid() || !kill((pid_t)pid, 0) || errno != ESRCH) continue;
        snprintf(p, sizeof p, "%s/%s", parent, n);
        remove_files(p, NULL, 1);
    }
    closedir(d);
}

/* The checkpoint is written into a sibling DIR.partial.PID and moved into
 * place at the end, the index last: a run that fails or is killed midway
 * never leaves DIR looking complete, and the index is the completion
 * marker readers (demo) rely on. Replacing a checkpoint drops the old shards
 * first, so none of a differently sharded old one survives. */
int ld_synth_write(const ld_config *c, const char *dir, const ld_synth_opts *o) {
    if (c->n_routed_experts > 4096) return ld_set_error("at most 4096 routed experts can be synthesized");
    struct stat st;
    int exists = !stat(dir, &st);
    if (exists && !S_ISDIR(st.st_mode)) return ld_set_error("%s: exists and is not a directory", dir);
    char tmp[4096], from[4400], to[4400];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.partial.%ld", dir, (long)getpid()) >= sizeof tmp) return ld_set_error("%s: path too long", dir);
    remove_stale_partials(dir);
    remove_files(tmp, NULL, 1);
    if (mkdir(tmp, 0755)) return ld_set_error("%s: cannot create directory: %s", tmp, strerror(errno));
    int n_shards = 0;
    if (write_into(c, tmp, o, &n_shards)) { remove_files(tmp, NULL, 1); return -1; }
    if (!exists) {
        if (!rename(tmp, dir)) return 0;
        int e = errno;
        remove_files(tmp, NULL, 1);
        return ld_set_error("%s: cannot move the finished checkpoint into place: %s", dir, strerror(e));
    }
    snprintf(to, sizeof to, "%s/model.safetensors.index.json", dir);
    if (unlink(to) && errno != ENOENT) {
        int e = errno;
        remove_files(tmp, NULL, 1);
        return ld_set_error("%s: cannot replace: %s", to, strerror(e));
    }
    remove_files(dir, is_shard_name, 0);
    char name[128];
    for (int s = -3; s <= n_shards; s++) {
        if (s == -3 && !o->tokenizer_json) continue;
        if (s == -3) snprintf(name, sizeof name, "tokenizer.json");
        else if (s == -2) snprintf(name, sizeof name, "config.json");
        else if (s == -1) snprintf(name, sizeof name, "generation_config.json");
        else if (s == n_shards) snprintf(name, sizeof name, "model.safetensors.index.json");
        else if (n_shards == 1) snprintf(name, sizeof name, "model.safetensors");
        else snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, n_shards);
        snprintf(from, sizeof from, "%s/%s", tmp, name);
        snprintf(to, sizeof to, "%s/%s", dir, name);
        if (rename(from, to)) {
            int e = errno;
            remove_files(tmp, NULL, 1);
            return ld_set_error("%s: cannot move into place: %s", to, strerror(e));
        }
    }
    rmdir(tmp);
    return 0;
}

static int write_into(const ld_config *c, const char *dir, const ld_synth_opts *o, int *n_shards_out) {
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
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (o->tokenizer_json && write_text(path, o->tokenizer_json)) goto out;
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
                /* the write error is the cause, not the tensor the close finds incomplete */
                char why[512];
                snprintf(why, sizeof why, "%s", ld_last_error());
                ld_st_writer_close(&w);
                ld_set_error("%s", why);
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
    *n_shards_out = n_shards;
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
