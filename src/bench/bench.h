/* The benchmark of one engine, in-process: the machine's rooflines (read
 * bandwidth, peak FMA), the backend's linears per weight format, decode,
 * prefill and batched-decode speed, each figure next to its roofline
 * measured in the same run (these machines are shared and noisy, so
 * absolute numbers from different runs do not compare; ratios do).
 *
 *   decode   tok/s vs  read bandwidth / weight bytes actually read per token
 *   prefill  FLOP/s vs  peak FMA throughput
 *   batched  tok/s for B sequences decoded together, and the gain over B = 1
 *
 * Options in, a report out; `ladder bench` parses flags and prints. */
#ifndef LADDER_BENCH_BENCH_H
#define LADDER_BENCH_BENCH_H

#include <stdio.h>

#include "ladder.h"

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
    /* The same weights again, each pass right after a plain read of as many
       bytes (ld_read_pass): streaming rate over plain-read rate, summed over
       the pairs. Both see the same seconds of the machine, so unlike the
       fraction of read_bw it does not swing with the bandwidth's modes. */
    double paired_ratio;
    double read_bw;     /* the bandwidth roofline this rate is judged against */
} bench_linear_rate;

typedef struct {
    int context, tokens;              /* prompt length, greedy tokens decoded after it */
    double tok_per_s, bytes_per_token, read_bw, roofline_tok_per_s, fraction;
    /* bytes crossing the bus per decoded token (0 on host backends), and the
       bound a device-resident backend must stay under: the logits row down
       (and as much again of slack) plus 64 KiB of ids and RoPE rows */
    double h2d_per_token, d2h_per_token, transfer_bound;
    /* Each step followed by a plain read of as many bytes as it read
       (ld_read_pass, up to 1 GB at a time): the read seconds over the step
       seconds. A fraction of a roofline measured in the same seconds, so the
       bandwidth's modes move it far less than `fraction`. */
    double paired_ratio;
} bench_decode;

typedef struct {
    int tokens;
    double tok_per_s, flops, peak_flops, fraction;
    double scratch_peak;   /* scratch bytes the one-call prefill held at its peak */
} bench_prefill;

typedef struct {
    int batch;
    double tok_per_s, speedup;
    const char *speedup_reference; /* "B=1" when that ran first, else "decode" (the 64-token decode) */
    /* the speed-up reachable if both runs streamed their weights equally
       well: B sequences over the growth of the bytes a step reads (each
       sequence routes to its own experts) */
    double speedup_bytes_bound;
    double bytes_per_step, read_bw, roofline_tok_per_s, fraction;
} bench_batched;

typedef enum { BENCH_MACHINE, BENCH_LINEAR, BENCH_DECODE, BENCH_PREFILL, BENCH_BATCHED } bench_section;

#define BENCH_MAX_LIST 8
#define BENCH_QUALIFY 0.8

typedef struct {
    const char *backend, *cpu_isa; /* cpu_isa NULL unless the backend has ISA paths */
    int threads, weights_resident;
    double read_bw, peak_flops;    /* the machine, measured first */
    /* The read bandwidth alternates over minutes between a congested and a
       quiet mode on shared machines, and in the congested one a decode that
       is not bandwidth-bound looks close to its roofline. So each figure is
       also set against the best probe seen on this machine (the options'
       best_bw and every probe of this run): below BENCH_QUALIFY of it, the
       figure was taken in a congested moment and does not count. */
    double best_bw;
    const char *formats;           /* the weight format path */
    const char *fma_isa;
    bench_linear_rate linears[10]; /* 5 format groups (bench_linears.c) x 1 and 8 rows */
    int n_linears;
    bench_decode decode[BENCH_MAX_LIST + 1]; /* 64-token context first, then the options' contexts */
    int n_decode;
    bench_prefill prefill;
    bench_batched batched[BENCH_MAX_LIST];
    int n_batched;
} bench_report;

typedef struct bench_opts {
    int decode_tokens;             /* after the 64-token prompt; 0 = 128 */
    int prefill_tokens;            /* 0 = 512 */
    int batch_steps;               /* decode steps per batch size; 0 = 32 */
    int batches[BENCH_MAX_LIST];   /* batch sizes; n_batches 0 = 1, 4, 8 */
    int n_batches;
    int contexts[BENCH_MAX_LIST];  /* longer contexts to decode at (32 tokens each); n_contexts 0 = 1024 */
    int n_contexts;
    /* the best read bandwidth probe seen on this machine with the engine's
       thread count before this run (0: none recorded) */
    double best_bw;
    /* (optional) called before each measurement with what it is */
    void (*progress)(void *ctx, const char *what);
    /* (optional) called when entry i of a section is in the report */
    void (*result)(void *ctx, const bench_report *r, bench_section section, int i);
    void *ctx;
} bench_opts;

/* Runs everything on e. Returns 0, or -1 with ladder_last_error() set. */
int bench_run(ladder_engine *e, const bench_opts *o, bench_report *r);
/* A probe of bw against the best seen (r->best_bw at the time). */
double bench_vs_best(const bench_report *r, double bw);
/* The report as one JSON object (the layout `ladder bench --json` writes). */
int bench_write_json(FILE *f, const char *model, const bench_report *r);

#endif
