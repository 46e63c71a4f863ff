/* Checkpoint directory handling: shard discovery through the index json,
 * cross-checking that every indexed tensor is in the shard the index names
 * and every shard tensor is indexed, and a name -> tensor table. */
#include "io/checkpoint.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "io/json.h"

char *ld_read_text_file(const char *path, size_t max_bytes) {
    FILE *fp = fopen(path, "rb");
    if (!fp) { ld_set_error("%s: cannot open: %s", path, strerror(errno)); return NULL; }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            if (cap > max_bytes) { free(buf); buf = NULL; ld_set_error("%s: larger than %zu bytes", path, max_bytes); break; }
            char *nb = realloc(buf, cap * 2);
            if (!nb) { free(buf); buf = NULL; ld_set_error("out of memory"); break; }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - 1 - n, fp);
        n += r;
        if (r == 0) { buf[n] = 0; break; }
    }
    fclose(fp);
    return buf;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const ld_tensor *const *)a)->name, (*(const ld_tensor *const *)b)->name);
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Collects the distinct shard names of the index, in first-seen order. */
static int index_shards(const char *ipath, cJSON *wm, char ***names, int *n) {
    *names = NULL;
    *n = 0;
    for (cJSON *e = wm->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, '/'))
            return ld_set_error("%s: weight_map entry '%s' is not a plain file name", ipath, e->string);
        int seen = 0;
        for (int i = 0; i < *n && !seen; i++) seen = !strcmp((*names)[i], e->valuestring);
        if (seen) continue;
        char **nn = realloc(*names, (size_t)(*n + 1) * sizeof *nn);
        if (!nn) return ld_set_error("out of memory");
        *names = nn;
        (*names)[(*n)++] = e->valuestring;
    }
    return 0;
}

int ld_ckpt_open(const char *dir, ld_checkpoint *ck) {
    memset(ck, 0, sizeof *ck);
    ck->dir = strdup(dir);
    char *ipath = join(dir, "model.safetensors.index.json");
    cJSON *index = NULL;
    char **shards = NULL;
    int n_shards = 0, rc = -1;
    char *listed = NULL;
    if (!ck->dir || !ipath) { ld_set_error("out of memory"); goto out; }
    if (file_exists(ipath)) {
        char *txt = ld_read_text_file(ipath, 64u << 20);
        if (!txt) goto out;
        index = ld_json_parse_object(txt, ipath);
        free(txt);
        if (!index) goto out;
        cJSON *wm = cJSON_GetObjectItemCaseSensitive(index, "weight_map");
        if (!cJSON_IsObject(wm)) { ld_set_error("%s: missing weight_map object", ipath); goto out; }
        if (index_shards(ipath, wm, &shards, &n_shards)) goto out;
        if (n_shards == 0) { ld_set_error("%s: weight_map is empty", ipath); goto out; }
    } else {
        static char single[] = "model.safetensors";
        char *sp = join(dir, single);
        int ok = sp && file_exists(sp);
        free(sp);
        if (!ok) { ld_set_error("%s: no model.safetensors.index.json or model.safetensors", dir); goto out; }
        shards = malloc(sizeof *shards);
        if (!shards) { ld_set_error("out of memory"); goto out; }
        shards[0] = single;
        n_shards = 1;
    }
    ck->files = calloc((size_t)n_shards, sizeof *ck->files);
    if (!ck->files) { ld_set_error("out of memory"); goto out; }
    int total = 0;
    for (int i = 0; i < n_shards; i++) {
        char *p = join(dir, shards[i]);
        if (!p) { ld_set_error("out of memory"); goto out; }
        int r = ld_st_open(p, &ck->files[i]);
        free(p);
        if (r) goto out;
        ck->n_files++;
        total += ck->files[i].n_tensors;
    }
    ck->by_name = malloc((size_t)(total ? total : 1) * sizeof *ck->by_name);
    if (!ck->by_name) { ld_set_error("out of memory"); goto out; }
    for (int i = 0; i < ck->n_files; i++)
        for (int j = 0; j < ck->files[i].n_tensors; j++) {
            ck->files[i].tensors[j].file = i;
            ck->by_name[ck->n_tensors++] = &ck->files[i].tensors[j];
        }
    qsort(ck->by_name, (size_t)ck->n_tensors, sizeof *ck->by_name, cmp_name);
    for (int i = 1; i < ck->n_tensors; i++)
        if (!strcmp(ck->by_name[i]->name, ck->by_name[i - 1]->name)) {
            ld_set_error("tensor '%s' appears twice (%s and %s)", ck->by_name[i]->name,
                         ck->files[ck->by_name[i - 1]->file].path, ck->files[ck->by_name[i]->file].path);
            goto out;
        }
    if (index) {
        cJSON *wm = cJSON_GetObjectItemCaseSensitive(index, "weight_map");
        listed = calloc((size_t)(ck->n_tensors ? ck->n_tensors : 1), 1);
        if (!listed) { ld_set_error("out of memory"); goto out; }
        for (cJSON *e = wm->child; e; e = e->next) {
            const ld_tensor *t = ld_ckpt_find(ck, e->string);
            if (!t) { ld_set_error("tensor '%s' listed in the index is missing from %s", e->string, e->valuestring); goto out; }
            const char *fp = ck->files[t->file].path, *base = strrchr(fp, '/');
            if (strcmp(base ? base + 1 : fp, e->valuestring)) {
                ld_set_error("tensor '%s': index says %s but it is in %s", e->string, e->valuestring, fp);
                goto out;
            }
            const ld_tensor *key = t;
            const ld_tensor **at = bsearch(&key, ck->by_name, (size_t)ck->n_tensors, sizeof *ck->by_name, cmp_name);
            listed[at - ck->by_name] = 1;
        }
        /* the index is the list of what the checkpoint holds: a tensor it
         * leaves out is a sign of a stale index or a stray shard */
        for (int i = 0; i < ck->n_tensors; i++)
            if (!listed[i]) {
                ld_set_error("tensor '%s' in %s is not listed in %s", ck->by_name[i]->name,
                             ck->files[ck->by_name[i]->file].path, ipath);
                goto out;
            }
    }
    rc = 0;
out:
    free(listed);
    free(shards);
    cJSON_Delete(index);
    free(ipath);
    if (rc) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", ld_last_error());
        ld_ckpt_close(ck);
        ld_set_error("%s", msg);
    }
    return rc;
}

void ld_ckpt_close(ld_checkpoint *ck) {
    for (int i = 0; i < ck->n_files; i++) ld_st_close(&ck->files[i]);
    free(ck->files);
    free(ck->by_name);
    free(ck->dir);
    memset(ck, 0, sizeof *ck);
}

const ld_tensor *ld_ckpt_find(const ld_checkpoint *ck, const char *name) {
    ld_tensor key = {.name = (char *)name};
    const ld_tensor *kp = &key;
    const ld_tensor **r = bsearch(&kp, ck->by_name, (size_t)ck->n_tensors, sizeof *ck->by_name, cmp_name);
    return r ? *r : NULL;
}

const char *ld_ckpt_file_of(const ld_checkpoint *ck, const ld_tensor *t) { return ck->files[t->file].path; }
