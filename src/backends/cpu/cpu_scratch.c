/* Per-thread scratch buffers of the cpu linears (see cpu.h). */
#include <pthread.h>
#include <stdlib.h>

#include "backends/cpu/cpu.h"

/* Activation and panel buffers start on a cache line, and rows are
 * multiples of 64 bytes, so no 64-byte vector load splits across lines. */
static float *cpu_alloc(size_t floats) {
    size_t bytes = (sizeof(float) * (floats ? floats : 1) + 63) & ~(size_t)63;
    return aligned_alloc(64, bytes);
}

/* One set per thread, freed by the key destructor when the thread exits.
 * Allocating afresh per call gets new mappings whose pages the kernel must
 * fault in and zero every time, several MB per linear in a prefill. */
typedef struct {
    float *p[CPU_SCR_N];
    size_t cap[CPU_SCR_N];
} scratch_set;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *v) {
    scratch_set *b = v;
    for (int i = 0; i < CPU_SCR_N; i++) free(b->p[i]);
    free(b);
}

static void scratch_key_init(void) { pthread_key_create(&scratch_key, scratch_free); }

float *cpu_scratch(int kind, size_t floats) {
    pthread_once(&scratch_once, scratch_key_init);
    scratch_set *b = pthread_getspecific(scratch_key);
    if (!b) {
        if (!(b = calloc(1, sizeof *b))) return NULL;
        pthread_setspecific(scratch_key, b);
    }
    if (floats > b->cap[kind]) {
        free(b->p[kind]);
        b->p[kind] = cpu_alloc(floats);
        b->cap[kind] = b->p[kind] ? floats : 0;
    }
    return b->p[kind];
}
