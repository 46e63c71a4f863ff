/* Scratch memory of forward calls: a bump allocator over blocks of backend
 * memory, released by resetting to a mark. The forward pass marks before
 * each layer and resets after it, so a call holds one layer's scratch
 * whatever the layer count. Blocks are kept between calls (a decode step
 * allocates nothing) and never move, so device addresses stay valid. */
#ifndef LADDER_CORE_SCRATCH_H
#define LADDER_CORE_SCRATCH_H

#include <stddef.h>

typedef struct {
    char *base;
    size_t size, used;
} ld_scratch_block;

typedef struct {
    void *(*alloc)(void *ctx, size_t bytes); /* NULL with the error set when out of memory */
    void (*release)(void *ctx, void *p);
    void *ctx;
    size_t min_block;
    ld_scratch_block *blocks;
    int n, cap, cur;
    size_t reserved;      /* bytes of all blocks */
    size_t live, peak;    /* bytes handed out now, and the most at once since ld_scratch_peak_reset */
    size_t peak_ever;     /* the most at once so far */
    int failed;
} ld_scratch;

typedef struct {
    int block;
    size_t used, live;
} ld_scratch_mark;

/* 256-byte aligned (device base alignment and cache lines); contents
 * undefined. NULL (and failed set) when out of memory. */
void *ld_scratch_alloc(ld_scratch *a, size_t bytes);
ld_scratch_mark ld_scratch_save(const ld_scratch *a);
void ld_scratch_restore(ld_scratch *a, ld_scratch_mark m);
void ld_scratch_peak_reset(ld_scratch *a);
/* With nothing handed out: replaces several blocks by one of the largest
 * size needed so far, so a steady workload runs in one contiguous block
 * (what a device prefers) and the memory held is what the calls need, not
 * the fragments of the first ones. */
int ld_scratch_compact(ld_scratch *a);
/* Gives every block back. */
void ld_scratch_free(ld_scratch *a);

#endif
