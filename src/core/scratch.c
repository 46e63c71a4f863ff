#include "core/scratch.h"

#include <stdlib.h>

#define ALIGN 256

static size_t up(size_t n) { return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

void *ld_scratch_alloc(ld_scratch *a, size_t bytes) {
    size_t need = up(bytes ? bytes : 1);
    /* the current block, then the kept blocks after it, then a new one */
    for (; a->cur < a->n; a->cur++) {
        ld_scratch_block *b = &a->blocks[a->cur];
        if (b->size - b->used >= need) {
            void *p = b->base + b->used;
            b->used += need;
            a->live += need;
            if (a->live > a->peak) a->peak = a->live;
            if (a->live > a->peak_ever) a->peak_ever = a->live;
            return p;
        }
        if (a->cur + 1 < a->n) a->blocks[a->cur + 1].used = 0;
    }
    if (a->n == a->cap) {
        int nc = a->cap ? a->cap * 2 : 8;
        ld_scratch_block *nb = realloc(a->blocks, sizeof *nb * (size_t)nc);
        if (!nb) { a->failed = 1; return NULL; }
        a->blocks = nb;
        a->cap = nc;
    }
    size_t size = need > a->min_block ? need : a->min_block;
    char *base = a->alloc(a->ctx, size);
    if (!base) { a->failed = 1; return NULL; }
    a->blocks[a->n++] = (ld_scratch_block){.base = base, .size = size, .used = 0};
    a->reserved += size;
    a->cur = a->n - 1;
    return ld_scratch_alloc(a, bytes);
}

ld_scratch_mark ld_scratch_save(const ld_scratch *a) {
    ld_scratch_mark m = {.block = a->cur, .live = a->live};
    m.used = a->cur < a->n ? a->blocks[a->cur].used : 0;
    return m;
}

void ld_scratch_restore(ld_scratch *a, ld_scratch_mark m) {
    a->cur = m.block;
    if (a->cur < a->n) a->blocks[a->cur].used = m.used;
    a->live = m.live;
    a->failed = 0;
}

void ld_scratch_peak_reset(ld_scratch *a) {
    a->peak = a->live;
}

int ld_scratch_compact(ld_scratch *a) {
    if (a->live || a->n <= 1) return 0;
    size_t size = a->peak_ever > a->min_block ? a->peak_ever : a->min_block;
    for (int i = 0; i < a->n; i++) a->release(a->ctx, a->blocks[i].base);
    a->n = a->cur = 0;
    a->reserved = 0;
    char *base = a->alloc(a->ctx, size);
    if (!base) return -1; /* blocks are made again on demand */
    a->blocks[0] = (ld_scratch_block){.base = base, .size = size};
    a->n = 1;
    a->reserved = size;
    return 0;
}

void ld_scratch_free(ld_scratch *a) {
    for (int i = 0; i < a->n; i++) a->release(a->ctx, a->blocks[i].base);
    free(a->blocks);
    a->blocks = NULL;
    a->n = a->cap = a->cur = 0;
    a->reserved = a->live = 0;
}
