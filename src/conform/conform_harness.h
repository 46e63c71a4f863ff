/* The ops-level conformance harness, shared by the files of cases
 * (conform_ops.c: primitives; conform_composite.c: data movement and the
 * composite ops). Internal to src/conform.
 *
 * A case builds inputs (cf_alloc'd: guarded, and mirrored to device memory
 * for a backend that has its own), describes the call as a job (its M values,
 * its outputs with their tolerance class, its inputs that must not change)
 * and hands it to cf_run_job, which runs ref once and the backend twice per
 * M, checks, and reports a row per output. Run functions pass every pointer
 * through D(), which is the device twin while the backend under test runs. */
#ifndef LADDER_CONFORM_HARNESS_H
#define LADDER_CONFORM_HARNESS_H

#include <setjmp.h>
#include <stdint.h>

#include "conform/conform.h"

typedef struct { uint64_t s; } rng_t;

typedef struct {
    const ld_backend_ops *b;
    ld_backend *be, *ref; /* instances of b and of ref */
    const conform_opts *o;
    conform_report *r;
    jmp_buf oom;
    rng_t g; /* reseeded per case */
} ctx_t;

typedef struct {
    ld_weight w;
    void *data;
    uint8_t *scale;
} wbuf;

typedef enum { K_BF16, K_F32, K_I32 } okind;

/* Tolerance classes (docs/CONFORMANCE.md):
 * T_EXACT  bit-identical;
 * T_BF16   one final bf16 rounding: every element within a bf16 ulp or so,
 *          nmse <= 1e-5 (all elements one ulp off would be ~2^-16);
 * T_CHAIN  several bf16 roundings in a chain (an upstream flip moves a
 *          whole head or sum by one ulp): nmse <= 1e-4, |err| <= 2^-6 max;
 * T_F32    fp32 outputs of long sums in another order: nmse <= 1e-10;
 * T_REQUANT chained linears that re-quantize their activations to e4m3 in
 *          between (an expert): a bf16 ulp upstream flips an e4m3 code now
 *          and then, a step of 6-12% on that element: nmse <= 1e-3,
 *          |err| <= 2^-4 max. */
typedef enum { T_EXACT, T_BF16, T_CHAIN, T_F32, T_REQUANT } tolk;

typedef struct {
    double nmse, cos, maxabs, maxrel, amax;
    long nonfinite; /* elements where NaN/Inf-ness (or the Inf sign) differ */
} cmp_t;

typedef int (*run_fn)(ld_backend *o, const void *args, int m, void *const *out);

typedef struct {
    const char *suffix; /* names the output of a multi-output op */
    okind kind;
    long per_row;       /* elements per row (per call when the op has no rows) */
    tolk tol;
} part_t;

typedef struct {
    const char *op;
    char shape[80];
    int same;           /* the backend's slot is ref's own function */
    int wfmt_set;       /* the op takes a weight of format wfmt (ld_backend_takes) */
    ld_wfmt wfmt;
    int ms[4];          /* M values, largest first, 0-terminated */
    int nparts;
    part_t part[3];
    run_fn run;
    const void *args;
    int nin;
    const void *in[6];  /* inputs that must not change */
    size_t in_bytes[6];
} job_t;

#define SAME(slot) (c->b->slot == ld_backend_ref_ops.slot)
#define D(p) ((__typeof__(p))cf_dmap(p))

uint64_t cf_next64(rng_t *g);
double cf_urand(rng_t *g);
float cf_nrand(rng_t *g);
uint64_t cf_hash_str(uint64_t h, const char *s);
void cf_seed_case(ctx_t *c, const char *op, const char *label);
int cf_wanted(const ctx_t *c, const char *op);
void *cf_dmap(const void *p);
void cf_set_device(ld_backend *be);
int cf_dpush(void *dst, const void *src, size_t bytes);
void *cf_alloc(ctx_t *c, size_t bytes, int fill);
int cf_intact(const void *q);
void cf_free(void *q);
uint64_t cf_checksum(const void *p, size_t n);
void cf_fill_act(ctx_t *c, ld_bf16 *x, long m, long n, double rms);
void cf_fill_f32(ctx_t *c, float *x, long n, double mean, double sd);
ld_bf16 *cf_new_act(ctx_t *c, long m, long n, double rms);
float *cf_new_f32(ctx_t *c, long n, double mean, double sd);
wbuf cf_make_weight(ctx_t *c, ld_wfmt fmt, int n, int k);
void cf_free_weight(wbuf *b);
size_t cf_weight_bytes(const ld_weight *w);
cmp_t cf_compare(const void *a, const void *b, okind k, long n);
void cf_emit(ctx_t *c, const char *op, const char *shape, int m, const cmp_t *q, tolk t, int same,
                 int bits_equal, const char *why);
void cf_add_in(job_t *j, const void *p, size_t bytes);
void cf_run_job(ctx_t *c, job_t *j);
job_t cf_job(const char *op, int same, int m0, int m1, int m2);
void cf_set_part(job_t *j, const char *suffix, okind k, long per_row, tolk t);
int cf_with_weight(ld_backend *o, const ld_weight *hw, ld_weight *w);
void cf_done_weight(ld_backend *o, ld_weight *w);

/* The cases of conform_composite.c. */
void cf_composites(ctx_t *c);

#endif
