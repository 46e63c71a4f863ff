/* Fuzz target: arbitrary bytes as a safetensors file.
 *
 * ld_st_open maps a real file, so the input goes through a temporary file.
 * Besides "no crash", an accepted file must satisfy the invariants the
 * header promises (data inside the mapping, sizes consistent, no overlap):
 * a mapping is not guarded by ASan redzones, so an out-of-range view would
 * otherwise go unnoticed until it ran past a page boundary. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "fuzz_entry.h"
#include "io/safetensors.h"

static const char *tmp_path(void) {
    static char path[512];
    if (!path[0]) {
        const char *d = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/ladder-fuzz-st-%ld.safetensors", d && d[0] ? d : "/tmp", (long)getpid());
    }
    return path;
}

static void check_invariants(const ld_st_file *f) {
    const uint8_t *lo = f->map, *hi = (const uint8_t *)f->map + f->map_size;
    for (int i = 0; i < f->n_tensors; i++) {
        const ld_tensor *t = &f->tensors[i];
        const uint8_t *b = t->data;
        if (!t->name || b < lo || b > hi || t->nbytes > (size_t)(hi - b)) abort();
        /* element count and byte size without wrap-around: a 64-bit product
         * that overflows could make a huge tensor look like a small one */
        size_t es = ld_dtype_size(t->dtype);
        if (es == 0 || t->numel < 0 || (uint64_t)t->numel > SIZE_MAX / es || (size_t)t->numel * es != t->nbytes) abort();
        uint64_t n = 1;
        for (int d = 0; d < t->ndim; d++) {
            if (t->shape[d] < 0 || (t->shape[d] && n > UINT64_MAX / (uint64_t)t->shape[d])) abort();
            n *= (uint64_t)t->shape[d];
        }
        if (n != (uint64_t)t->numel) abort();
        /* read the extremes so a view past the mapping faults here */
        if (t->nbytes) {
            volatile uint8_t sink = b[0];
            sink = b[t->nbytes - 1];
            (void)sink;
        }
        for (int j = 0; j < i; j++) {
            const ld_tensor *u = &f->tensors[j];
            const uint8_t *c = u->data;
            if (t->nbytes && u->nbytes && b < c + u->nbytes && c < b + t->nbytes) abort();
        }
    }
}

int ld_fuzz_safetensors(const uint8_t *data, size_t size) {
    const char *path = tmp_path();
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    size_t w = fwrite(data, 1, size, fp);
    if (fclose(fp) || w != size) { remove(path); return 0; }
    ld_st_file f;
    if (ld_st_open(path, &f) == 0) {
        check_invariants(&f);
        ld_st_close(&f);
    } else {
        /* A failure must leave a one-line diagnosis. Messages quote tensor
         * names verbatim, so a newline inside a name (from the input) can
         * still split the line; only a newline of the library's own is a bug. */
        const char *msg = ld_last_error();
        if (!msg || !msg[0] || (strchr(msg, '\n') && !memchr(data, '\n', size))) abort();
    }
    remove(path);
    return 0;
}

#ifdef LADDER_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return ld_fuzz_safetensors(data, size); }
#endif
