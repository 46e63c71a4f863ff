/* Scratch allocations of one forward call, released together. Keeps error
 * paths in the model code to a single cleanup. */
#ifndef LADDER_CORE_SCRATCH_H
#define LADDER_CORE_SCRATCH_H

#include <stddef.h>

typedef struct {
    void **ptrs;
    int n, cap;
    int failed;
} ld_scratch;

/* Zero-initialized; returns NULL (and marks the scratch failed) when out of memory. */
void *ld_scratch_alloc(ld_scratch *s, size_t bytes);
void ld_scratch_free(ld_scratch *s);

#endif
