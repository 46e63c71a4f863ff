/* Rates of a backend's linears on a model's own decode-path weights, per
 * weight format: what decode speed is made of, and what a port tunes first. */
#ifndef LADDER_BENCH_LINEARS_H
#define LADDER_BENCH_LINEARS_H

#include "model/model.h"

#define BENCH_CACHED_BYTES ((size_t)4 << 20)

typedef struct {
    const char *format; /* "BF16", "FP8", "FP4" */
    int rows;           /* activation rows per call */
    double bytes;       /* weight bytes streamed per pass */
    double macs;        /* multiply-adds per pass */
    double seconds;     /* per pass */
    /* The same calls on a slice of one weight small enough to stay in cache
       (at most BENCH_CACHED_BYTES), repeated: the kernel's own ceiling, without
       memory. A streaming rate far below the read bandwidth with a cached
       rate close to it is a memory-access problem; both low, the decode or
       the arithmetic is the limit. */
    double cached_bytes, cached_seconds;
} bench_linear_rate;

/* Runs every weight of each format that one decoded token reads (the head,
 * attention, shared and top-k routed experts of every layer, gates) through
 * m->ops->linear with `rows` random activation rows, for each entry of
 * rows[], then the cached slice described above. Fills out[] (up to
 * 3 * n_rows entries); returns how many, or -1 with ld_last_error() set. */
int bench_linear_rates(const ld_model *m, const int *rows, int n_rows, bench_linear_rate *out);

#endif
