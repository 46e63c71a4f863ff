/* Rates of a backend's linears on a model's own decode-path weights, per
 * weight format: what decode speed is made of, and what a port tunes first. */
#ifndef LADDER_BENCH_LINEARS_H
#define LADDER_BENCH_LINEARS_H

#include "bench/bench.h"
#include "model/model.h"

/* Runs every weight of each format that one decoded token reads (the head,
 * attention, shared and top-k routed experts of every layer, gates) through
 * m->ops->linear with `rows` random activation rows, for each entry of
 * rows[], then the cached slice (bench/bench.h). read_bw is left 0. Fills out[] (up to
 * 3 * n_rows entries); returns how many, or -1 with ld_last_error() set. */
int bench_linear_rates(const ld_model *m, const int *rows, int n_rows, int threads, bench_linear_rate *out);

#endif
