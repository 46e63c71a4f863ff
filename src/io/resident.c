/* Resident checkpoints (see resident.h). */
#define _DEFAULT_SOURCE /* MADV_HUGEPAGE */
#include "io/resident.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/error.h"

#define TENSOR_ALIGN 64
#define REGION_ALIGN ((size_t)2 << 20) /* one transparent huge page */

static size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

size_t ld_ckpt_data_bytes(const ld_checkpoint *ck) {
    size_t total = 0;
    for (int f = 0; f < ck->n_files; f++)
        for (int i = 0; i < ck->files[f].n_tensors; i++) total += ck->files[f].tensors[i].nbytes;
    return total;
}

size_t ld_mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (size_t)kb * 1024;
}

/* Reads in 64 MB steps so progress is smooth. pread, not a copy out of the
 * mapping: no page faults on the file side, and no second resident copy. */
#define COPY_STEP ((size_t)64 << 20)

static int read_at(int fd, const char *path, uint8_t *dst, size_t n, off_t off) {
    while (n) {
        ssize_t r = pread(fd, dst, n, off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return ld_set_error("%s: read failed at byte %lld: %s", path, (long long)off, r ? strerror(errno) : "file shrank");
        dst += r, n -= (size_t)r, off += r;
    }
    return 0;
}

static int move_file(ld_st_file *f, size_t *done, size_t total, void (*progress)(size_t, size_t)) {
    size_t size = 0;
    for (int i = 0; i < f->n_tensors; i++) size = align_up(size, TENSOR_ALIGN) + f->tensors[i].nbytes;
    size = align_up(size ? size : 1, REGION_ALIGN);
    uint8_t *region = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED)
        return ld_set_error("%s: cannot allocate %.2f GB to hold its weights: %s", f->path, (double)size / 1e9,
                            strerror(errno));
#ifdef MADV_HUGEPAGE
    madvise(region, size, MADV_HUGEPAGE); /* a hint: without it the copy still works */
#endif
    int fd = open(f->path, O_RDONLY);
    if (fd < 0) {
        munmap(region, size);
        return ld_set_error("%s: cannot reopen: %s", f->path, strerror(errno));
    }
    size_t off = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        const ld_tensor *t = &f->tensors[i];
        off = align_up(off, TENSOR_ALIGN);
        off_t src = (off_t)((const uint8_t *)t->data - (const uint8_t *)f->map);
        for (size_t c = 0; c < t->nbytes; c += COPY_STEP) {
            size_t n = t->nbytes - c < COPY_STEP ? t->nbytes - c : COPY_STEP;
            if (read_at(fd, f->path, region + off + c, n, src + (off_t)c)) {
                close(fd);
                munmap(region, size);
                return -1;
            }
            *done += n;
            if (progress) progress(*done, total);
        }
        off += t->nbytes;
    }
    close(fd);
    /* every read succeeded: only now repoint the tensors */
    off = 0;
    for (int i = 0; i < f->n_tensors; i++) {
        off = align_up(off, TENSOR_ALIGN);
        f->tensors[i].data = region + off;
        off += f->tensors[i].nbytes;
    }
    mprotect(region, size, PROT_READ); /* weights are read-only from here on */
    munmap(f->map, f->map_size);
    f->map = region;
    f->map_size = size;
    return 0;
}

int ld_ckpt_make_resident(ld_checkpoint *ck, void (*progress)(size_t done, size_t total)) {
    size_t done = 0, total = ld_ckpt_data_bytes(ck);
    for (int f = 0; f < ck->n_files; f++)
        if (move_file(&ck->files[f], &done, total, progress)) return -1;
    return 0;
}
