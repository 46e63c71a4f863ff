#include "io/st_writer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

int ld_st_writer_open(ld_st_writer *w, const char *path, const ld_st_entry *e, int n) {
    memset(w, 0, sizeof *w);
    size_t cap = 256 + (size_t)n * 256, len = 0;
    char *h = malloc(cap);
    if (!h) return ld_set_error("out of memory");
    len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(h + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", e[i].name,
                                ld_dtype_name(e[i].dtype));
        for (int d = 0; d < e[i].ndim; d++) len += (size_t)snprintf(h + len, cap - len, "%s%lld", d ? "," : "", (long long)e[i].shape[d]);
        len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                                (unsigned long long)(off + e[i].nbytes));
        off += e[i].nbytes;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    /* pad with spaces so the data section starts 8-byte aligned */
    while ((8 + len) % 8) h[len++] = ' ';
    w->f = fopen(path, "wb");
    if (!w->f) { free(h); return ld_set_error("%s: cannot create: %s", path, strerror(errno)); }
    uint8_t lenb[8];
    for (int i = 0; i < 8; i++) lenb[i] = (uint8_t)((uint64_t)len >> (8 * i));
    int ok = fwrite(lenb, 1, 8, w->f) == 8 && fwrite(h, 1, len, w->f) == len;
    free(h);
    w->path = strdup(path);
    w->entries = e;
    w->n = n;
    w->expected = n ? e[0].nbytes : 0;
    if (!ok) return ld_set_error("%s: write failed: %s", path, strerror(errno));
    /* skip leading empty tensors */
    while (w->next < w->n && w->written == w->entries[w->next].nbytes) {
        w->next++;
        w->written = 0;
    }
    return 0;
}

int ld_st_writer_write(ld_st_writer *w, const void *data, size_t bytes) {
    if (w->next >= w->n || w->written + bytes > w->entries[w->next].nbytes)
        return ld_set_error("%s: more bytes than declared for '%s'", w->path,
                            w->next < w->n ? w->entries[w->next].name : "(end)");
    if (fwrite(data, 1, bytes, w->f) != bytes) return ld_set_error("%s: write failed: %s", w->path, strerror(errno));
    w->written += bytes;
    while (w->next < w->n && w->written == w->entries[w->next].nbytes) {
        w->next++;
        w->written = 0;
    }
    return 0;
}

int ld_st_writer_close(ld_st_writer *w) {
    int rc = 0;
    if (w->next < w->n) rc = ld_set_error("%s: tensor '%s' incomplete", w->path, w->entries[w->next].name);
    if (w->f && fclose(w->f) && !rc) rc = ld_set_error("%s: close failed: %s", w->path, strerror(errno));
    free(w->path);
    memset(w, 0, sizeof *w);
    return rc;
}
