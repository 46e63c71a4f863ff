/* safetensors reader: mmap + strict header validation (see safetensors.h).
 * Layout: u64 little-endian header length N, N bytes of JSON, then the data
 * section that all data_offsets are relative to. */
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[LD_DT_COUNT] = {
    [LD_DT_F32] = {"F32", 4},       [LD_DT_F16] = {"F16", 2},         [LD_DT_BF16] = {"BF16", 2},
    [LD_DT_F8_E4M3] = {"F8_E4M3", 1}, [LD_DT_F8_E8M0] = {"F8_E8M0", 1}, [LD_DT_I8] = {"I8", 1},
    [LD_DT_U8] = {"U8", 1},         [LD_DT_I16] = {"I16", 2},         [LD_DT_I32] = {"I32", 4},
    [LD_DT_I64] = {"I64", 8},       [LD_DT_F64] = {"F64", 8},         [LD_DT_BOOL] = {"BOOL", 1},
};

const char *ld_dtype_name(ld_dtype dt) { return dt < LD_DT_COUNT ? dtypes[dt].name : "?"; }
size_t ld_dtype_size(ld_dtype dt) { return dt < LD_DT_COUNT ? dtypes[dt].size : 0; }

int ld_dtype_from_name(const char *s, ld_dtype *out) {
    for (int i = 0; i < LD_DT_COUNT; i++)
        if (!strcmp(s, dtypes[i].name)) { *out = (ld_dtype)i; return 0; }
    return -1;
}

/* Header numbers are JSON doubles; only exact non-negative integers below
 * 2^53 are accepted so that nothing is silently truncated. */
static int json_u64(const cJSON *n, uint64_t *out) {
    if (!cJSON_IsNumber(n)) return -1;
    double d = n->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || floor(d) != d) return -1;
    *out = (uint64_t)d;
    return 0;
}

static int cmp_by_offset(const void *a, const void *b) {
    const ld_tensor *x = a, *y = b;
    const char *px = x->data, *py = y->data;
    return px < py ? -1 : px > py;
}

static int parse_tensor(const char *path, const cJSON *e, const uint8_t *data, uint64_t data_size,
                        ld_tensor *t) {
    const char *nm = e->string;
    if (!cJSON_IsObject(e)) return ld_set_error("%s: tensor '%s': entry is not an object", path, nm);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(jd)) return ld_set_error("%s: tensor '%s': missing dtype", path, nm);
    if (ld_dtype_from_name(jd->valuestring, &t->dtype))
        return ld_set_error("%s: tensor '%s': unknown dtype '%s'", path, nm, jd->valuestring);
    if (!cJSON_IsArray(js)) return ld_set_error("%s: tensor '%s': missing shape", path, nm);
    int nd = cJSON_GetArraySize(js);
    if (nd > LD_MAX_DIMS) return ld_set_error("%s: tensor '%s': %d dimensions (max %d)", path, nm, nd, LD_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1;
    for (int i = 0; i < nd; i++) {
        uint64_t d;
        if (json_u64(cJSON_GetArrayItem(js, i), &d) || d > (1ull << 40))
            return ld_set_error("%s: tensor '%s': bad shape entry %d", path, nm, i);
        t->shape[i] = (int64_t)d;
        if (d && numel > (1ull << 62) / d) return ld_set_error("%s: tensor '%s': shape too large", path, nm);
        numel *= d;
    }
    t->numel = (int64_t)numel;
    uint64_t b, en;
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || json_u64(cJSON_GetArrayItem(jo, 0), &b) ||
        json_u64(cJSON_GetArrayItem(jo, 1), &en))
        return ld_set_error("%s: tensor '%s': bad data_offsets", path, nm);
    if (en < b || en > data_size)
        return ld_set_error("%s: tensor '%s': data_offsets [%llu, %llu] outside the data section (%llu bytes)", path,
                            nm, (unsigned long long)b, (unsigned long long)en, (unsigned long long)data_size);
    /* compare by division: numel * size may overflow for hostile shapes */
    uint64_t esz = ld_dtype_size(t->dtype);
    if ((en - b) % esz || (en - b) / esz != numel)
        return ld_set_error("%s: tensor '%s': %llu bytes but %s x %llu elements needs %llu", path, nm,
                            (unsigned long long)(en - b), ld_dtype_name(t->dtype), (unsigned long long)numel,
                            numel <= UINT64_MAX / esz ? (unsigned long long)(numel * esz) : ~0ull);
    t->data = data + b;
    t->nbytes = (size_t)(en - b);
    t->name = strdup(nm);
    return t->name ? 0 : ld_set_error("out of memory");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* JSON does not forbid a repeated key; caught before the tensors are parsed
 * so that it is not mistaken for two tensors that overlap. */
static int check_duplicates(const char *path, const cJSON *root, int n) {
    const char **names = malloc((size_t)(n ? n : 1) * sizeof *names);
    if (!names) return ld_set_error("out of memory");
    int k = 0, rc = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        if (strcmp(e->string, "__metadata__")) names[k++] = e->string;
    qsort(names, (size_t)k, sizeof *names, cmp_str);
    for (int i = 1; i < k && !rc; i++)
        if (!strcmp(names[i], names[i - 1]))
            rc = ld_set_error("%s: duplicate tensor name '%s' in the header", path, names[i]);
    free(names);
    return rc;
}

static int parse_header(ld_st_file *f, const char *hdr, size_t hlen, const uint8_t *data, uint64_t data_size) {
    cJSON *root = cJSON_ParseWithLength(hdr, hlen);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        size_t off = ep && ep >= hdr && ep <= hdr + hlen ? (size_t)(ep - hdr) : 0;
        return ld_set_error("%s: header is not valid JSON (error near byte %zu of the header)", f->path, off);
    }
    int rc = -1;
    if (!cJSON_IsObject(root)) { ld_set_error("%s: header is not a JSON object", f->path); goto out; }
    int n = 0;
    for (cJSON *e = root->child; e; e = e->next) n += strcmp(e->string, "__metadata__") != 0;
    if (check_duplicates(f->path, root, n)) goto out;
    f->tensors = calloc(n ? (size_t)n : 1, sizeof *f->tensors);
    if (!f->tensors) { ld_set_error("out of memory"); goto out; }
    for (cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) continue;
        ld_tensor *t = &f->tensors[f->n_tensors];
        if (parse_tensor(f->path, e, data, data_size, t)) goto out;
        f->n_tensors++;
    }
    /* Overlap check on a copy sorted by start offset; zero-size tensors cannot overlap. */
    ld_tensor *s = malloc((size_t)(n ? n : 1) * sizeof *s);
    if (!s) { ld_set_error("out of memory"); goto out; }
    memcpy(s, f->tensors, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_by_offset);
    for (int i = 1; i < n; i++) {
        const char *prev_end = (const char *)s[i - 1].data + s[i - 1].nbytes;
        if (s[i].nbytes && s[i - 1].nbytes && (const char *)s[i].data < prev_end) {
            ld_set_error("%s: tensors '%s' and '%s' overlap", f->path, s[i - 1].name, s[i].name);
            free(s);
            goto out;
        }
    }
    free(s);
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int ld_st_open(const char *path, ld_st_file *f) {
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    if (!f->path) return ld_set_error("out of memory");
    int fd = open(path, O_RDONLY);
    if (fd < 0) { ld_set_error("%s: cannot open: %s", path, strerror(errno)); goto fail; }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        ld_set_error("%s: not a regular file", path);
        close(fd);
        goto fail;
    }
    if (st.st_size < 8) {
        ld_set_error("%s: truncated: %lld bytes, shorter than the 8-byte header length", path, (long long)st.st_size);
        close(fd);
        goto fail;
    }
    f->map_size = (size_t)st.st_size;
    f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f->map == MAP_FAILED) { f->map = NULL; ld_set_error("%s: mmap failed: %s", path, strerror(errno)); goto fail; }
    const uint8_t *p = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > f->map_size - 8)
        { ld_set_error("%s: header length %llu runs past the end of the file (%zu bytes)", path,
                       (unsigned long long)hlen, f->map_size); goto fail; }
    if (parse_header(f, (const char *)p + 8, (size_t)hlen, p + 8 + hlen, f->map_size - 8 - hlen)) goto fail;
    return 0;
fail:
    ld_st_close(f);
    return -1;
}

void ld_st_close(ld_st_file *f) {
    for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    if (f->map) munmap(f->map, f->map_size);
    free(f->path);
    memset(f, 0, sizeof *f);
}
