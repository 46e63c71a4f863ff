/* Conformance of a backend against `ref`, the numerical ground truth.
 *
 * Two levels, both usable from the command line (`ladder conform`,
 * `ladder parity`) and in-process (unit tests):
 * - ops:    every slot of the operator interface on random inputs and on the
 *           exact V4-Flash / V4-Pro shapes, each compared with ref against a
 *           per-operator tolerance (docs/CONFORMANCE.md explains them);
 * - layers: every block of a checkpoint run on the backend from the input
 *           ref produced for it (prefill, then single-token decode steps),
 *           so an error is pinned to one layer instead of being smeared
 *           over the whole forward pass.
 * Both append rows to a report; a row records what was compared, the error
 * measures, the tolerance it was judged against and the verdict. */
#ifndef LADDER_CONFORM_CONFORM_H
#define LADDER_CONFORM_CONFORM_H

#include <stdint.h>
#include <stdio.h>

#include "backends/backend.h"
#include "model/model.h"

typedef enum { CONF_OP, CONF_LAYER } conform_kind;

typedef struct {
    conform_kind kind;
    char op[24];     /* slot name; layer rows: "L<l>.hidden", "L<l>.attn_out", ... */
    char shape[80];  /* op rows: the shape (and the subset run); layer rows: phase and tokens */
    int m;           /* rows per call (op rows); tokens of the call (layer rows) */
    double nmse;     /* sum (a-b)^2 / sum a^2, a = ref */
    double cos;      /* cosine similarity of a and b */
    double maxabs;   /* max |a-b| */
    double maxrel;   /* max |a-b| / max(|a|, floor), floor as documented per level */
    double cos_tok;  /* layer rows: median over tokens of the per-token cosine */
    double frac1;    /* layer rows: fraction of elements with relative error > 1% */
    double frac01;   /* layer rows: ... > 0.1% */
    char tol[40];    /* the tolerance the row was judged against, in words */
    int pass;
    int unsupported; /* op rows: the backend leaves the slot empty (not run, not a failure) */
    char why[96];    /* first reason of a failure ("" when passed) */
} conform_row;

typedef struct {
    conform_row *rows;
    int n, cap;
    int failures;
} conform_report;

typedef struct {
    const char *pattern; /* run only ops whose slot name matches (fnmatch glob, or substring); NULL = all */
    uint64_t seed;       /* inputs are a pure function of (seed, op, case label) */
    int reduced;         /* small, quick set (unit tests): model shapes cut to a few hundred rows, no Pro */
    FILE *log;           /* rows printed as they complete; NULL = silent */
    ld_backend_opts backend; /* how the backend under test is instantiated */
} conform_opts;

/* Runs the ops-level conformance of backend b. Returns the number of failed
 * rows (0 = conformant); rows are appended to r. -1 on an internal error
 * (out of memory), with the ld error set. */
int ld_conform_ops(const ld_backend_ops *b, const conform_opts *o, conform_report *r);

typedef struct {
    const int *prompt;   /* NULL: the default deterministic prompt of CONFORM_DEFAULT_PROMPT tokens */
    int n_prompt;
    int n_decode;        /* single-token steps after the prompt (greedy tokens of ref) */
    FILE *log;
    ld_backend_opts backend;
    ld_formats formats;  /* the weight format path of both sides: each checked against ref's arithmetic of it */
    /* ref runs the native path instead, so each row shows how far the
       backend's path moves that sublayer from the checkpoint's own numbers:
       where a format path's error enters */
    int vs_native;
} conform_layer_opts;

#define CONFORM_DEFAULT_PROMPT 64

/* Layer-level conformance of backend b on the checkpoint in dir. Returns
 * the number of failed rows, or -1 (ld error set) if the checkpoint cannot
 * be run. */
int ld_conform_layers(const ld_backend_ops *b, const char *dir, const conform_layer_opts *o, conform_report *r);

/* The deterministic default prompt: BOS then pseudo-random ids below vocab. */
void conform_default_prompt(int *ids, int n, int vocab, int bos, uint64_t seed);

void conform_report_free(conform_report *r);
conform_row *conform_add(conform_report *r);
void conform_print_header(FILE *f, conform_kind kind);
void conform_print_row(FILE *f, const conform_row *row);
/* Writes {"backend":..., "failures":..., "rows":[...]} to path. */
int conform_write_json(const char *path, const char *backend, const conform_report *r);

/* The same by backend name, for callers that stay above the backend
 * interface (the command line). conform_select_backend resolves name (NULL
 * or "": the first registered backend other than ref), checks cpu_isa and
 * threads for the cpu backend (they reach its instance through
 * conform_opts.backend: NULL / 0 = best path, all online CPUs) and sets
 * *resolved to its registry name.
 * Returns 0, or -1 with the error set. */
int conform_select_backend(const char *name, const char *cpu_isa, int threads, const char **resolved);
int ld_conform_ops_named(const char *backend, const conform_opts *o, conform_report *r);
int ld_conform_layers_named(const char *backend, const char *dir, const conform_layer_opts *o, conform_report *r);

/* Subcommands (argv[0] is the subcommand name). */
int cmd_conform(int argc, char **argv);
int cmd_parity(int argc, char **argv);

#endif
