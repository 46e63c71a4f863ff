#include "core/scratch.h"

#include <stdlib.h>

void *ld_scratch_alloc(ld_scratch *s, size_t bytes) {
    if (s->n == s->cap) {
        int nc = s->cap ? 2 * s->cap : 32;
        void **np = realloc(s->ptrs, sizeof *np * (size_t)nc);
        if (!np) { s->failed = 1; return NULL; }
        s->ptrs = np;
        s->cap = nc;
    }
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) { s->failed = 1; return NULL; }
    s->ptrs[s->n++] = p;
    return p;
}

void ld_scratch_free(ld_scratch *s) {
    for (int i = 0; i < s->n; i++) free(s->ptrs[i]);
    free(s->ptrs);
    s->ptrs = NULL;
    s->n = s->cap = 0;
    s->failed = 0;
}
