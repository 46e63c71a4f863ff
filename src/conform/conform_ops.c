/* Ops-level conformance: every slot of the operator interface, run on the
 * backend under test and on ref from identical inputs, compared against a
 * per-operator tolerance (docs/CONFORMANCE.md gives the reasoning).
 *
 * Besides the numbers, each case checks what a port most often gets wrong
 * (the harness follows ggml's test-backend-ops):
 * - out-of-bounds writes: outputs live between sentinel bytes;
 * - unwritten outputs: outputs start as NaN bit patterns, so an element the
 *   backend skips shows up as a NaN/Inf disagreement;
 * - inputs must stay untouched (checksummed before and after);
 * - determinism: the backend runs every call twice and must give the same bits;
 * - row independence: for ops over M rows, the rows of an M=4 or M=1 call
 *   must equal the first rows of the M=37 call bit for bit (batched decode
 *   promises a sequence the same result alone or in a batch).
 * ref runs once per case at the largest M; its rows are independent by
 * construction, so smaller M compare against a prefix of that run.
 *
 * Inputs are a pure function of (seed, op, case label), realistic in
 * magnitude: bf16 activations of unit RMS with a few outlier channels;
 * weights drawn as Gaussians and quantized the way real checkpoints are
 * (FP8 e4m3 + E8M0 128x128 block scales, FP4 e2m1 packed + 1x32 scales). */
#include <fnmatch.h>
#include <math.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "conform/conform.h"

/* ------------------------------------------------------------------ rng */

typedef struct { uint64_t s; } rng_t;

static uint64_t next64(rng_t *g) {
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double urand(rng_t *g) { return (double)(next64(g) >> 11) * (1.0 / 9007199254740992.0); }
/* Irwin-Hall(4): close enough to a Gaussian for test data, and cheap for
 * the hundreds of millions of weights the big shapes need. */
static float nrand(rng_t *g) {
    uint64_t a = next64(g), b = next64(g);
    double s = (double)(a >> 32) + (double)(a & 0xffffffffu) + (double)(b >> 32) + (double)(b & 0xffffffffu);
    return (float)((s / 4294967296.0 - 2.0) * 1.7320508075688772);
}
static uint64_t hash_str(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

/* ------------------------------------------------------------ context */

typedef struct {
    const ld_backend_ops *b;
    ld_backend *be, *ref; /* instances of b and of ref */
    const conform_opts *o;
    conform_report *r;
    jmp_buf oom;
    rng_t g; /* reseeded per case */
} ctx_t;

static void seed_case(ctx_t *c, const char *op, const char *label) {
    c->g.s = hash_str(hash_str(0xcbf29ce484222325ull ^ c->o->seed, op), label);
}

static int wanted(const ctx_t *c, const char *op) {
    const char *p = c->o->pattern;
    if (!p || !*p) return 1;
    if (strpbrk(p, "*?[")) return fnmatch(p, op, 0) == 0;
    return strstr(op, p) != NULL;
}

/* Buffers with sentinels: [size][guard][body][guard]. An allocation failure
 * abandons the whole run (longjmp) rather than threading errors through
 * every case; the few buffers of the abandoned case leak. */
#define GUARD 256
#define GUARD_BYTE 0xA5

static void *galloc(ctx_t *c, size_t bytes, int fill) {
    unsigned char *p = malloc(bytes + 2 * GUARD + 16);
    if (!p) longjmp(c->oom, 1);
    memcpy(p, &bytes, sizeof bytes);
    memset(p + 16, GUARD_BYTE, GUARD);
    memset(p + 16 + GUARD, fill, bytes);
    memset(p + 16 + GUARD + bytes, GUARD_BYTE, GUARD);
    return p + 16 + GUARD;
}
static int gintact(const void *q) {
    const unsigned char *p = (const unsigned char *)q - GUARD - 16;
    size_t bytes;
    memcpy(&bytes, p, sizeof bytes);
    for (int i = 0; i < GUARD; i++)
        if (p[16 + i] != GUARD_BYTE || p[16 + GUARD + bytes + i] != GUARD_BYTE) return 0;
    return 1;
}
static void gfree(void *q) {
    if (q) free((unsigned char *)q - GUARD - 16);
}

static uint64_t checksum(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 0x84222325cbf29ce4ull, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    for (; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* --------------------------------------------------------- input data */

/* m rows of n bf16 with RMS `rms` per row; every 61st channel (by hash) is an
 * outlier at 8x, like the few large channels of real activations, so FP8
 * block scales differ between blocks. */
static void fill_act(ctx_t *c, ld_bf16 *x, long m, long n, double rms) {
    float *t = malloc(sizeof(float) * (size_t)n);
    if (!t) longjmp(c->oom, 1);
    for (long r = 0; r < m; r++) {
        double ss = 0;
        for (long i = 0; i < n; i++) {
            t[i] = nrand(&c->g) * ((((uint32_t)i * 2654435761u) >> 24) % 61 == 0 ? 8.0f : 1.0f);
            ss += (double)t[i] * t[i];
        }
        float k = (float)(rms / sqrt(ss / (double)n + 1e-30));
        for (long i = 0; i < n; i++) x[r * n + i] = ld_f32_to_bf16(t[i] * k);
    }
    free(t);
}
static void fill_f32(ctx_t *c, float *x, long n, double mean, double sd) {
    for (long i = 0; i < n; i++) x[i] = (float)(mean + sd * nrand(&c->g));
}
static ld_bf16 *new_act(ctx_t *c, long m, long n, double rms) {
    ld_bf16 *x = galloc(c, sizeof(ld_bf16) * (size_t)(m * n), 0);
    fill_act(c, x, m, n, rms);
    return x;
}
static float *new_f32(ctx_t *c, long n, double mean, double sd) {
    float *x = galloc(c, sizeof(float) * (size_t)n, 0);
    fill_f32(c, x, n, mean, sd);
    return x;
}

typedef struct {
    ld_weight w;
    void *data;
    uint8_t *scale;
} wbuf;

static uint8_t e8m0_of(float pow2) { return (uint8_t)((ld_f32_to_bits(pow2) >> 23) & 0xff); }

/* Gaussian weights of std 1/sqrt(k) (per-row gain 0.5..2 so that scale
 * blocks differ), stored in fmt exactly as a checkpoint stores them. */
static wbuf make_weight(ctx_t *c, ld_wfmt fmt, int n, int k) {
    wbuf b = {.w = {.fmt = fmt, .n = n, .k = k}};
    int band = fmt == LD_WF_FP8 || fmt == LD_WF_FP8_DQ ? 128 : 1;
    float *t = malloc(sizeof(float) * (size_t)band * (size_t)k);
    if (!t) longjmp(c->oom, 1);
    size_t esz = fmt == LD_WF_F32 ? 4 : fmt == LD_WF_BF16 ? 2 : 1;
    b.data = galloc(c, fmt == LD_WF_FP4 ? (size_t)n * (size_t)(k / 2) : (size_t)n * (size_t)k * esz, 0);
    if (band == 128) b.w.scale_cols = (k + 127) / 128;
    if (fmt == LD_WF_FP4) b.w.scale_cols = k / 32;
    if (b.w.scale_cols) b.scale = galloc(c, (size_t)b.w.scale_cols * (size_t)(band == 128 ? (n + 127) / 128 : n), 0);
    for (int r0 = 0; r0 < n; r0 += band) {
        int rows = n - r0 < band ? n - r0 : band;
        for (int r = 0; r < rows; r++) {
            float gain = (float)(0.5 + 1.5 * urand(&c->g)) / sqrtf((float)k);
            for (int i = 0; i < k; i++) t[(long)r * k + i] = nrand(&c->g) * gain;
        }
        long base = (long)r0 * k;
        if (fmt == LD_WF_F32)
            memcpy((float *)b.data + base, t, sizeof(float) * (size_t)rows * (size_t)k);
        else if (fmt == LD_WF_BF16)
            for (long i = 0; i < (long)rows * k; i++) ((ld_bf16 *)b.data)[base + i] = ld_f32_to_bf16(t[i]);
        else if (fmt == LD_WF_FP4)
            for (int r = 0; r < rows; r++) { /* one row per band; 1x32 scale blocks */
                uint8_t *q = (uint8_t *)b.data + (long)(r0 + r) * (k / 2);
                for (int blk = 0; blk < k / 32; blk++) {
                    float amax = 0, *v = t + (long)r * k + blk * 32;
                    for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(v[i]));
                    float s = ld_fp4_block_scale(amax);
                    b.scale[(long)(r0 + r) * b.w.scale_cols + blk] = e8m0_of(s);
                    for (int i = 0; i < 32; i += 2)
                        q[blk * 16 + i / 2] = (uint8_t)(ld_f32_to_fp4(v[i] / s) | ld_f32_to_fp4(v[i + 1] / s) << 4);
                }
            }
        else /* FP8: 128x128 blocks share one scale */
            for (int cb = 0; cb < b.w.scale_cols; cb++) {
                int c0 = cb * 128, cw = k - c0 < 128 ? k - c0 : 128;
                float amax = 0;
                for (int r = 0; r < rows; r++)
                    for (int i = 0; i < cw; i++) amax = fmaxf(amax, fabsf(t[(long)r * k + c0 + i]));
                float s = ld_fp8_block_scale(amax);
                b.scale[(long)(r0 / 128) * b.w.scale_cols + cb] = e8m0_of(s);
                for (int r = 0; r < rows; r++)
                    for (int i = 0; i < cw; i++)
                        ((uint8_t *)b.data)[base + (long)r * k + c0 + i] = ld_f32_to_fp8(t[(long)r * k + c0 + i] / s);
            }
    }
    free(t);
    b.w.data = b.data;
    b.w.scale = b.scale;
    return b;
}
static void free_weight(wbuf *b) {
    gfree(b->data);
    gfree(b->scale);
}
static size_t weight_bytes(const ld_weight *w) {
    switch (w->fmt) {
    case LD_WF_F32: return (size_t)w->n * w->k * 4;
    case LD_WF_BF16: return (size_t)w->n * w->k * 2;
    case LD_WF_FP4: return (size_t)w->n * (w->k / 2);
    default: return (size_t)w->n * w->k;
    }
}

/* ---------------------------------------------------- compare, judge */

typedef enum { K_BF16, K_F32, K_I32 } okind;
/* Tolerance classes (docs/CONFORMANCE.md):
 * T_EXACT  bit-identical;
 * T_BF16   one final bf16 rounding: every element within a bf16 ulp or so,
 *          nmse <= 1e-5 (all elements one ulp off would be ~2^-16);
 * T_CHAIN  several bf16 roundings in a chain (an upstream flip moves a
 *          whole head or sum by one ulp): nmse <= 1e-4, |err| <= 2^-6 max;
 * T_F32    fp32 outputs of long sums in another order: nmse <= 1e-10. */
typedef enum { T_EXACT, T_BF16, T_CHAIN, T_F32 } tolk;
static const struct {
    double nmse, absf;
    const char *text;
} TOL[] = {
    {0, 0, "bit-exact"},
    {1e-5, 1.0 / 128, "nmse<=1e-5 abs<=2^-7max"},
    {1e-4, 1.0 / 64, "nmse<=1e-4 abs<=2^-6max"},
    {1e-10, 1e-5, "nmse<=1e-10 abs<=1e-5max"},
};

typedef struct {
    double nmse, cos, maxabs, maxrel, amax;
    long nonfinite; /* elements where NaN/Inf-ness (or the Inf sign) differ */
} cmp_t;

static double elem(const void *p, okind k, long i) {
    if (k == K_BF16) return ld_bf16_to_f32(((const ld_bf16 *)p)[i]);
    if (k == K_F32) return ((const float *)p)[i];
    return ((const int *)p)[i];
}

/* maxrel uses the floor 1e-3 * max|a|: elements near zero come out of
 * cancelling sums and carry the absolute error of their terms. */
static cmp_t compare(const void *a, const void *b, okind k, long n) {
    cmp_t m = {0};
    double saa = 0, sbb = 0, sab = 0, sdd = 0;
    for (long i = 0; i < n; i++) {
        double x = elem(a, k, i);
        if (isfinite(x)) m.amax = fmax(m.amax, fabs(x));
    }
    double floor_ = 1e-3 * m.amax;
    for (long i = 0; i < n; i++) {
        double x = elem(a, k, i), y = elem(b, k, i);
        if (!isfinite(x) || !isfinite(y)) {
            if (!((isnan(x) && isnan(y)) || (isinf(x) && x == y))) m.nonfinite++;
            continue;
        }
        double d = x - y;
        saa += x * x, sbb += y * y, sab += x * y, sdd += d * d;
        m.maxabs = fmax(m.maxabs, fabs(d));
        m.maxrel = fmax(m.maxrel, fabs(d) / fmax(fabs(x), floor_ > 0 ? floor_ : 1e-30));
    }
    m.nmse = saa > 0 ? sdd / saa : sdd > 0 ? INFINITY : 0;
    m.cos = saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : saa == 0 && sbb == 0 ? 1 : 0;
    return m;
}

static void emit(ctx_t *c, const char *op, const char *shape, int m, const cmp_t *q, tolk t, int same,
                 int bits_equal, const char *why) {
    conform_row *row = conform_add(c->r);
    if (!row) longjmp(c->oom, 1);
    row->kind = CONF_OP;
    snprintf(row->op, sizeof row->op, "%s", op);
    snprintf(row->shape, sizeof row->shape, "%s", shape);
    row->m = m;
    row->nmse = q->nmse, row->cos = q->cos, row->maxabs = q->maxabs, row->maxrel = q->maxrel;
    snprintf(row->tol, sizeof row->tol, "%s", same ? "bit-exact (ref's fn)" : TOL[t].text);
    if (!why && q->nonfinite) why = "NaN/Inf where ref is finite (or vice versa), or an unwritten element";
    if (!why && t == T_EXACT && !bits_equal) why = "not bit-identical to ref";
    if (!why && t != T_EXACT && !(q->nmse <= TOL[t].nmse)) why = "nmse above tolerance";
    if (!why && t != T_EXACT && !(q->maxabs <= TOL[t].absf * q->amax)) why = "max abs error above tolerance";
    row->pass = why == NULL;
    snprintf(row->why, sizeof row->why, "%s", why ? why : "");
    if (!row->pass) c->r->failures++;
    if (c->o->log) conform_print_row(c->o->log, row);
}

/* ------------------------------------------------------------ driver */

typedef void (*run_fn)(ld_backend *o, const void *args, int m, void *const *out);

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
    int ms[4];          /* M values, largest first, 0-terminated */
    int nparts;
    part_t part[3];
    run_fn run;
    const void *args;
    int nin;
    const void *in[6];  /* inputs that must not change */
    size_t in_bytes[6];
} job_t;

static size_t ksize(okind k) { return k == K_BF16 ? 2 : 4; }

static void add_in(job_t *j, const void *p, size_t bytes) {
    j->in[j->nin] = p;
    j->in_bytes[j->nin++] = bytes;
}

static void run_job(ctx_t *c, job_t *j) {
    void *ref[3] = {0}, *keep[3] = {0};
    uint64_t h0[6];
    for (int i = 0; i < j->nin; i++) h0[i] = checksum(j->in[i], j->in_bytes[i]);
    int mmax = j->ms[0];
    for (int p = 0; p < j->nparts; p++)
        ref[p] = galloc(c, ksize(j->part[p].kind) * (size_t)(j->part[p].per_row * mmax), 0xFF);
    j->run(c->ref, j->args, mmax, ref);
    for (int mi = 0; mi < 4 && j->ms[mi]; mi++) {
        int m = j->ms[mi];
        void *out[3], *out2[3];
        const char *why = NULL;
        for (int p = 0; p < j->nparts; p++) {
            size_t bytes = ksize(j->part[p].kind) * (size_t)(j->part[p].per_row * m);
            out[p] = galloc(c, bytes, 0xFF);
            out2[p] = galloc(c, bytes, 0xFF);
        }
        j->run(c->be, j->args, m, out);
        j->run(c->be, j->args, m, out2);
        for (int i = 0; i < j->nin; i++)
            if (checksum(j->in[i], j->in_bytes[i]) != h0[i]) why = "modified an input";
        for (int p = 0; p < j->nparts; p++) {
            size_t bytes = ksize(j->part[p].kind) * (size_t)(j->part[p].per_row * m);
            if (!gintact(ref[p])) why = "harness: ref wrote outside its output";
            if (!why && (!gintact(out[p]) || !gintact(out2[p]))) why = "wrote outside its output buffer";
            if (!why && memcmp(out[p], out2[p], bytes)) why = "two identical calls gave different bits";
            if (!why && mi > 0 && memcmp(out[p], keep[p], bytes))
                why = "rows depend on M (differ from the same rows of the largest-M call)";
        }
        for (int p = 0; p < j->nparts; p++) {
            long n = j->part[p].per_row * m;
            cmp_t q = compare(ref[p], out[p], j->part[p].kind, n);
            int eq = !memcmp(ref[p], out[p], ksize(j->part[p].kind) * (size_t)n);
            char shape[96];
            snprintf(shape, sizeof shape, "%s%s", j->shape, j->part[p].suffix);
            const char *w = why ? why : j->same && !eq ? "slot is ref's own function, yet not bit-identical" : NULL;
            emit(c, j->op, shape, m, &q, j->same ? T_EXACT : j->part[p].tol, j->same, eq, w);
            if (mi == 0) keep[p] = out[p];
            else gfree(out[p]);
            gfree(out2[p]);
        }
    }
    for (int p = 0; p < j->nparts; p++) gfree(ref[p]), gfree(keep[p]);
}

/* M values must be strictly decreasing: a repeated or larger one is dropped. */
static job_t job(const char *op, int same, int m0, int m1, int m2) {
    job_t j = {.op = op, .same = same, .ms = {m0, 0, 0, 0}};
    if (m1 > 0 && m1 < m0) j.ms[1] = m1;
    if (m2 > 0 && m2 < (j.ms[1] ? m1 : m0)) j.ms[j.ms[1] ? 2 : 1] = m2;
    return j;
}
static void set_part(job_t *j, const char *suffix, okind k, long per_row, tolk t) {
    j->part[j->nparts++] = (part_t){suffix, k, per_row, t};
}
#define SAME(slot) (c->b->slot == ld_backend_ref_ops.slot)


/* ------------------------------------------------------------ linears */

typedef struct {
    ld_weight w;
    const ld_bf16 *x;
    const float *xf;
} lin_args;

static void run_linear(ld_backend *o, const void *a, int m, void *const *out) {
    const lin_args *l = a;
    o->ops->linear(o, &l->w, l->x, m, out[0]);
}
static void run_linear_f32(ld_backend *o, const void *a, int m, void *const *out) {
    const lin_args *l = a;
    o->ops->linear_f32(o, &l->w, l->xf, m, out[0]);
}

typedef struct {
    const char *label;
    ld_wfmt fmt;
    int n, k; /* out, in */
    int f32;  /* runs through linear_f32 */
} lin_shape;

static const char *const FMT_NAME[] = {"f32", "bf16", "fp8", "fp8dq", "fp4"};

/* Rows of N to run under a MAC budget: ref's linear is scalar double, so the
 * big shapes run on a leading subset of their rows (multiples of 128, the
 * FP8 scale-block height); the table says which. */
static int rows_for(int n, long cap) {
    if (n <= cap) return n;
    int r = (int)(cap / 128 * 128);
    return r < 128 ? (n < 128 ? n : 128) : r;
}

static void linear_case(ctx_t *c, const char *model, const lin_shape *s, int random) {
    const char *op = s->f32 ? "linear_f32" : "linear";
    if (!wanted(c, op)) return;
    char label[64];
    snprintf(label, sizeof label, "%s %s %s %d->%d", model, s->label, FMT_NAME[s->fmt], s->k, s->n);
    seed_case(c, op, label);
    long b1 = c->o->reduced ? 1L << 21 : 64L << 20, b2 = c->o->reduced ? 1L << 21 : 160L << 20;
    int mmax = random ? 9 : 37, n1 = random ? s->n : rows_for(s->n, b1 / s->k);
    int n2 = random ? s->n : rows_for(s->n, b2 / ((long)mmax * s->k));
    wbuf wb = make_weight(c, s->fmt, n1 > n2 ? n1 : n2, s->k);
    ld_bf16 *x = new_act(c, mmax, s->k, 1.0);
    /* a loud row (residual-stream spikes) and, for random shapes, an all-zero
     * row (the activation scale floor) */
    fill_act(c, x + 3L * s->k, 1, s->k, 40.0);
    if (random) memset(x + 1L * s->k, 0, sizeof(ld_bf16) * (size_t)s->k);
    float *xf = galloc(c, sizeof(float) * (size_t)mmax * s->k, 0);
    for (long i = 0; i < (long)mmax * s->k; i++) xf[i] = ld_bf16_to_f32(x[i]);
    for (int pass = 0; pass < 2; pass++) {
        int n = pass == 0 ? n1 : n2;
        if (random && pass == 1) break;
        lin_args a = {.w = ld_weight_rows(&wb.w, 0, n), .x = x, .xf = xf};
        job_t j = random ? job(op, 0, 9, 3, 1) : pass == 0 ? job(op, 0, 1, 0, 0) : job(op, 0, 37, 4, 1);
        j.same = s->f32 ? SAME(linear_f32) : SAME(linear);
        if (n < s->n) snprintf(j.shape, sizeof j.shape, "%s [%d rows]", label, n);
        else snprintf(j.shape, sizeof j.shape, "%s", label);
        set_part(&j, "", s->f32 ? K_F32 : K_BF16, n, s->f32 ? T_F32 : T_BF16);
        j.run = s->f32 ? run_linear_f32 : run_linear;
        j.args = &a;
        add_in(&j, a.w.data, weight_bytes(&a.w));
        add_in(&j, x, sizeof(ld_bf16) * (size_t)mmax * s->k);
        add_in(&j, xf, sizeof(float) * (size_t)mmax * s->k);
        run_job(c, &j);
    }
    free_weight(&wb);
    gfree(x);
    gfree(xf);
}

static const lin_shape FLASH_LIN[] = {
    {"wq_a", LD_WF_FP8, 1024, 4096, 0},         {"wkv", LD_WF_FP8, 512, 4096, 0},
    {"wq_b", LD_WF_FP8, 32768, 1024, 0},        {"wo_a group", LD_WF_FP8_DQ, 1024, 4096, 0},
    {"wo_b", LD_WF_FP8, 4096, 8192, 0},         {"shared w1", LD_WF_FP8, 2048, 4096, 0},
    {"shared w2", LD_WF_FP8, 4096, 2048, 0},    {"expert w1", LD_WF_FP4, 2048, 4096, 0},
    {"expert w2", LD_WF_FP4, 4096, 2048, 0},    {"idx wq_b", LD_WF_FP8, 8192, 1024, 0},
    {"idx wproj", LD_WF_BF16, 64, 4096, 0},     {"comp r4 wkv", LD_WF_BF16, 1024, 4096, 1},
    {"comp r128 wkv", LD_WF_BF16, 512, 4096, 1}, {"idx comp wkv", LD_WF_BF16, 256, 4096, 1},
    {"router", LD_WF_BF16, 256, 4096, 1},       {"head", LD_WF_BF16, 129280, 4096, 1},
};
static const lin_shape PRO_LIN[] = {
    {"wq_a", LD_WF_FP8, 1536, 7168, 0},         {"wkv", LD_WF_FP8, 512, 7168, 0},
    {"wq_b", LD_WF_FP8, 65536, 1536, 0},        {"wo_b", LD_WF_FP8, 7168, 16384, 0},
    {"shared w1", LD_WF_FP8, 3072, 7168, 0},    {"shared w2", LD_WF_FP8, 7168, 3072, 0},
    {"expert w1", LD_WF_FP4, 3072, 7168, 0},    {"expert w2", LD_WF_FP4, 7168, 3072, 0},
    {"idx wq_b", LD_WF_FP8, 8192, 1536, 0},     {"idx wproj", LD_WF_BF16, 64, 7168, 0},
    {"comp r4 wkv", LD_WF_BF16, 1024, 7168, 1}, {"comp r128 wkv", LD_WF_BF16, 512, 7168, 1},
    {"idx comp wkv", LD_WF_BF16, 256, 7168, 1}, {"router", LD_WF_BF16, 384, 7168, 1},
    {"head", LD_WF_BF16, 129280, 7168, 1},
};
/* Small odd shapes: N not a multiple of the tile or of 128, several K blocks. */
static const lin_shape RAND_LIN[] = {
    {"a", LD_WF_F32, 259, 640, 0},  {"b", LD_WF_BF16, 259, 640, 0}, {"c", LD_WF_FP8, 259, 640, 0},
    {"d", LD_WF_FP8_DQ, 7, 384, 0}, {"e", LD_WF_FP4, 133, 640, 0},  {"f", LD_WF_FP8, 1, 128, 0},
    {"g", LD_WF_F32, 130, 256, 1},  {"h", LD_WF_BF16, 5, 384, 1},
};

static void linears(ctx_t *c) {
    for (size_t i = 0; i < sizeof RAND_LIN / sizeof RAND_LIN[0]; i++) linear_case(c, "rand", &RAND_LIN[i], 1);
    for (size_t i = 0; i < sizeof FLASH_LIN / sizeof FLASH_LIN[0]; i++) linear_case(c, "flash", &FLASH_LIN[i], 0);
    if (!c->o->reduced)
        for (size_t i = 0; i < sizeof PRO_LIN / sizeof PRO_LIN[0]; i++) linear_case(c, "pro", &PRO_LIN[i], 0);
}

/* ------------------------------------------------------ norms, rotations */

typedef struct {
    const ld_bf16 *x, *w;
    int n, per; /* rmsnorm: row length; in-place ops: vectors per row */
    int stride, off, np, inverse;
    const float *cs; /* [rows, 2*np]: cos | sin per row */
} vec_args;

static void run_rmsnorm(ld_backend *o, const void *a, int m, void *const *out) {
    const vec_args *v = a;
    o->ops->rmsnorm(o, v->x, v->w, m, v->n, 1e-6f, out[0]);
}
/* In-place ops work on a copy of the input placed in the output buffer. */
static void run_head_rmsnorm(ld_backend *o, const void *a, int m, void *const *out) {
    const vec_args *v = a;
    memcpy(out[0], v->x, sizeof(ld_bf16) * (size_t)m * v->per * v->n);
    o->ops->head_rmsnorm(o, out[0], m * v->per, v->n, 1e-6f);
}
static void run_hadamard(ld_backend *o, const void *a, int m, void *const *out) {
    const vec_args *v = a;
    memcpy(out[0], v->x, sizeof(ld_bf16) * (size_t)m * v->per * v->n);
    o->ops->hadamard(o, out[0], m * v->per, v->n);
}
static void run_rope(ld_backend *o, const void *a, int m, void *const *out) {
    const vec_args *v = a;
    memcpy(out[0], v->x, sizeof(ld_bf16) * (size_t)m * v->per * v->n);
    o->ops->rope(o, (ld_bf16 *)out[0] + v->off, m, (long)v->per * v->n, v->per, v->stride, v->cs, v->np, v->inverse);
}

static void vec_job(ctx_t *c, const char *op, const char *label, int same, run_fn run, vec_args *a, int mmax,
                    long per_row, tolk t) {
    job_t j = mmax > 1 ? job(op, same, mmax, 4, 1) : job(op, same, 1, 0, 0);
    snprintf(j.shape, sizeof j.shape, "%s", label);
    set_part(&j, "", K_BF16, per_row, t);
    j.run = run;
    j.args = a;
    add_in(&j, a->x, sizeof(ld_bf16) * (size_t)(per_row * mmax));
    run_job(c, &j);
}

static void norms(ctx_t *c) {
    static const struct { const char *label; int n; } RMS[] = {
        {"flash dim 4096", 4096}, {"pro dim 7168", 7168}, {"flash q_lora 1024", 1024}, {"pro q_lora 1536", 1536},
        {"kv / compressor 512", 512}, {"idx compressor 128", 128}, {"rand 100 (zero row)", 100}};
    for (size_t i = 0; i < sizeof RMS / sizeof RMS[0] && wanted(c, "rmsnorm"); i++) {
        if (c->o->reduced && RMS[i].n > 4096) continue;
        int n = RMS[i].n;
        seed_case(c, "rmsnorm", RMS[i].label);
        ld_bf16 *x = new_act(c, 37, n, 1.0), *w = galloc(c, sizeof(ld_bf16) * (size_t)n, 0);
        for (int k = 0; k < n; k++) w[k] = ld_f32_to_bf16(1.0f + 0.2f * nrand(&c->g));
        fill_act(c, x + 2L * n, 1, n, 50.0);
        if (n == 100) memset(x + 1L * n, 0, sizeof(ld_bf16) * (size_t)n);
        vec_args a = {.x = x, .w = w, .n = n};
        vec_job(c, "rmsnorm", RMS[i].label, SAME(rmsnorm), run_rmsnorm, &a, 37, n, T_BF16);
        gfree(x), gfree(w);
    }
    static const struct { const char *label; int h, hd; } HN[] = {
        {"flash q 64x512", 64, 512}, {"pro q 128x512", 128, 512}, {"rand 3x64", 3, 64}};
    for (size_t i = 0; i < sizeof HN / sizeof HN[0] && wanted(c, "head_rmsnorm"); i++) {
        if (c->o->reduced && HN[i].h > 64) continue;
        int h = HN[i].h, hd = HN[i].hd, mmax = c->o->reduced ? 4 : 37;
        seed_case(c, "head_rmsnorm", HN[i].label);
        ld_bf16 *q = galloc(c, sizeof(ld_bf16) * (size_t)mmax * h * hd, 0);
        for (long v = 0; v < (long)mmax * h; v++) fill_act(c, q + v * hd, 1, hd, 0.3 + 3 * urand(&c->g));
        vec_args a = {.x = q, .n = hd, .per = h};
        vec_job(c, "head_rmsnorm", HN[i].label, SAME(head_rmsnorm), run_head_rmsnorm, &a, mmax, (long)h * hd, T_CHAIN);
        gfree(q);
    }
}

static void rotations(ctx_t *c) {
    /* row r: the angles of position 1000 + 7r (theta 10000, 64 rope dims) */
    static float cs[37][64];
    for (int r = 0; r < 37; r++)
        for (int i = 0; i < 32; i++) {
            double ang = (1000.0 + 7 * r) * pow(10000.0, -2.0 * i / 64.0);
            cs[r][i] = (float)cos(ang), cs[r][32 + i] = (float)sin(ang);
        }
    static const struct { const char *label; int per, stride, off, np, inverse; } RO[] = {
        {"flash q 64x512, last 64 dims", 64, 512, 448, 32, 0},
        {"pro q 128x512, last 64 dims", 128, 512, 448, 32, 0},
        {"flash out 64x512, inverse", 64, 512, 448, 32, 1},
        {"idx q 64x128, last 64 dims", 64, 128, 64, 32, 0},
        {"kv 1x512, stride 0", 1, 0, 448, 32, 0},
        {"rand 3x16, all dims", 3, 16, 0, 8, 1}};
    for (size_t i = 0; i < sizeof RO / sizeof RO[0] && wanted(c, "rope"); i++) {
        if (c->o->reduced && RO[i].per > 64) continue;
        int width = RO[i].stride ? RO[i].stride : 512, mmax = RO[i].stride ? 37 : 1;
        seed_case(c, "rope", RO[i].label);
        ld_bf16 *x = new_act(c, (long)mmax * RO[i].per, width, 1.0);
        vec_args a = {.x = x, .n = width, .per = RO[i].per, .stride = RO[i].stride, .off = RO[i].off,
                      .np = RO[i].np, .inverse = RO[i].inverse, .cs = cs[0]};
        vec_job(c, "rope", RO[i].label, SAME(rope), run_rope, &a, mmax, (long)RO[i].per * width, T_BF16);
        gfree(x);
    }
    static const struct { const char *label; int per, n, mmax; } HA[] = {
        {"idx q 64x128", 64, 128, 37}, {"compressor entry 1x128", 1, 128, 1}, {"rand 5x16", 5, 16, 9},
        {"rand 2x1024", 2, 1024, 4}};
    for (size_t i = 0; i < sizeof HA / sizeof HA[0] && wanted(c, "hadamard"); i++) {
        seed_case(c, "hadamard", HA[i].label);
        ld_bf16 *x = new_act(c, (long)HA[i].mmax * HA[i].per, HA[i].n, 1.0);
        vec_args a = {.x = x, .n = HA[i].n, .per = HA[i].per};
        vec_job(c, "hadamard", HA[i].label, SAME(hadamard), run_hadamard, &a, HA[i].mmax, (long)HA[i].per * HA[i].n,
                T_BF16);
        gfree(x);
    }
}

/* ---------------------------------------------------- hyper-connections */

typedef struct {
    const ld_bf16 *h, *x;
    const float *fn, *scale, *base, *post, *comb;
    int d, hc;
} hc_args;

static void run_hc_pre(ld_backend *o, const void *a, int m, void *const *out) {
    const hc_args *v = a;
    o->ops->hc_pre(o, v->h, v->fn, v->scale, v->base, m, v->d, v->hc, 20, 1e-6f, 1e-6f, out[0], out[1], out[2]);
}
static void run_hc_post(ld_backend *o, const void *a, int m, void *const *out) {
    const hc_args *v = a;
    o->ops->hc_post(o, v->x, v->h, v->post, v->comb, m, v->d, v->hc, out[0]);
}
static void run_hc_head(ld_backend *o, const void *a, int m, void *const *out) {
    const hc_args *v = a;
    o->ops->hc_head(o, v->h, v->fn, v->scale, v->base, m, v->d, v->hc, 1e-6f, 1e-6f, out[0]);
}

static void hyper(ctx_t *c) {
    static const struct { const char *label; int d, hc; } HC[] = {
        {"flash hc=4 dim 4096", 4096, 4}, {"pro hc=4 dim 7168", 7168, 4}, {"rand hc=4 dim 256", 256, 4},
        {"rand hc=2 dim 128", 128, 2}};
    const char *ops[3] = {"hc_pre", "hc_post", "hc_head"};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < sizeof HC / sizeof HC[0] && wanted(c, ops[k]); i++) {
            int d = HC[i].d, hc = HC[i].hc, mmax = c->o->reduced ? 4 : 37, nmix = k == 2 ? hc : (2 + hc) * hc;
            if (c->o->reduced && d > 4096) continue;
            seed_case(c, ops[k], HC[i].label);
            /* streams of different loudness, mixing weights as a checkpoint has them */
            ld_bf16 *h = galloc(c, sizeof(ld_bf16) * (size_t)mmax * hc * d, 0), *x = new_act(c, mmax, d, 1.0);
            for (long s = 0; s < (long)mmax * hc; s++) fill_act(c, h + s * d, 1, d, 1.0 + 3 * urand(&c->g));
            float *fn = new_f32(c, (long)nmix * hc * d, 0, 0.5 / sqrt((double)hc * d));
            float *scale = new_f32(c, 3, 1.0, 0.2), *base = new_f32(c, nmix, 0, 0.5);
            float *post = new_f32(c, (long)mmax * hc, 0, 1), *comb = new_f32(c, (long)mmax * hc * hc, 0, 1);
            for (long s = 0; s < (long)mmax * hc; s++) post[s] = 2.0f * ld_sigmoidf(post[s]);
            for (long r = 0; r < (long)mmax * hc; r++) { /* rows of a near doubly-stochastic mix */
                float *cr = comb + r * hc, sum = 0;
                for (int q = 0; q < hc; q++) sum += cr[q] = ld_expf(cr[q]);
                for (int q = 0; q < hc; q++) cr[q] /= sum;
            }
            hc_args a = {.h = h, .x = x, .fn = fn, .scale = scale, .base = base, .post = post, .comb = comb,
                         .d = d, .hc = hc};
            job_t j = job(ops[k], 0, mmax, 4, 1);
            snprintf(j.shape, sizeof j.shape, "%s", HC[i].label);
            j.args = &a;
            add_in(&j, h, sizeof(ld_bf16) * (size_t)mmax * hc * d);
            add_in(&j, fn, sizeof(float) * (size_t)nmix * hc * d);
            if (k == 0) {
                j.same = SAME(hc_pre), j.run = run_hc_pre;
                set_part(&j, " ->y", K_BF16, d, T_BF16);
                set_part(&j, " ->post", K_F32, hc, T_F32);
                set_part(&j, " ->comb", K_F32, (long)hc * hc, T_F32);
            } else if (k == 1) {
                j.same = SAME(hc_post), j.run = run_hc_post;
                set_part(&j, "", K_BF16, (long)hc * d, T_BF16);
                add_in(&j, x, sizeof(ld_bf16) * (size_t)mmax * d);
            } else {
                j.same = SAME(hc_head), j.run = run_hc_head;
                set_part(&j, "", K_BF16, d, T_BF16);
            }
            run_job(c, &j);
            gfree(h), gfree(x), gfree(fn), gfree(scale), gfree(base), gfree(post), gfree(comb);
        }
}

/* ------------------------------------------------------ attention side */

typedef struct {
    const ld_bf16 *q, *w, *keys;
    const ld_bf16 *const *kv;
    const float *sink, *s, *sc;
    int h, d, n, k, ld;
    float scale;
} att_args;

static void run_sparse_attn(ld_backend *o, const void *a, int m, void *const *out) {
    const att_args *v = a;
    (void)m;
    o->ops->sparse_attn(o, v->q, v->h, v->d, v->kv, v->n, v->sink, v->scale, out[0]);
}
static void run_indexer(ld_backend *o, const void *a, int m, void *const *out) {
    const att_args *v = a;
    (void)m;
    o->ops->indexer_scores(o, v->q, v->w, v->h, v->d, v->keys, v->n, out[0]);
}
static void run_pool(ld_backend *o, const void *a, int m, void *const *out) {
    const att_args *v = a;
    (void)m;
    o->ops->compress_pool(o, v->s, v->sc, v->n, v->d, v->ld, out[0]);
}
static void run_topk(ld_backend *o, const void *a, int m, void *const *out) {
    const att_args *v = a;
    (void)m;
    o->ops->topk(o, v->s, v->n, v->k, out[0]);
}

static void one_call(ctx_t *c, const char *op, const char *label, int same, run_fn run, const att_args *a, okind k,
                     long n_out, tolk t) {
    job_t j = job(op, same, 1, 0, 0);
    snprintf(j.shape, sizeof j.shape, "%s", label);
    set_part(&j, "", k, n_out, t);
    j.run = run;
    j.args = a;
    run_job(c, &j);
}

static void attention(ctx_t *c) {
    /* n = window entries then compressed ones; `empty` slots are NULL: the
     * first `lead` (a window not yet full) and the last `tail` (top-k padding) */
    static const struct { const char *label; int h, d, n, lead, tail; } SA[] = {
        {"flash 64x512, 128 win + 512 csa", 64, 512, 640, 8, 40},
        {"pro 128x512, 128 win + 1024 csa", 128, 512, 1152, 0, 64},
        {"flash 64x512, 128 win + 300 hca", 64, 512, 428, 0, 0},
        {"rand 4x128 n=130, 1st block empty", 4, 128, 130, 64, 0},
        {"rand 4x128 n=10, all empty", 4, 128, 10, 10, 0},
        {"rand 2x64 n=1", 2, 64, 1, 0, 0}};
    for (size_t i = 0; i < sizeof SA / sizeof SA[0] && wanted(c, "sparse_attn"); i++) {
        int h = SA[i].h, d = SA[i].d, n = SA[i].n;
        if (c->o->reduced && h > 64) continue;
        seed_case(c, "sparse_attn", SA[i].label);
        ld_bf16 *q = new_act(c, h, d, 1.0), *pool = new_act(c, n, d, 1.0);
        /* some keys point along a head's query, so the softmax is peaked as in a real model */
        for (int e = 0; e < n; e++)
            if (next64(&c->g) % 16 == 0) {
                const ld_bf16 *qh = q + (long)(next64(&c->g) % (uint64_t)h) * d;
                for (int t = 0; t < d; t++)
                    pool[(long)e * d + t] = ld_f32_to_bf16(0.5f * ld_bf16_to_f32(pool[(long)e * d + t]) +
                                                          3.0f * ld_bf16_to_f32(qh[t]));
            }
        const ld_bf16 **kv = galloc(c, sizeof(ld_bf16 *) * (size_t)n, 0);
        for (int e = 0; e < n; e++) kv[e] = e < SA[i].lead || e >= n - SA[i].tail ? NULL : pool + (long)e * d;
        float *sink = new_f32(c, h, 0, 1.0);
        att_args a = {.q = q, .kv = kv, .sink = sink, .h = h, .d = d, .n = n, .scale = 1.0f / sqrtf((float)d)};
        one_call(c, "sparse_attn", SA[i].label, SAME(sparse_attn), run_sparse_attn, &a, K_BF16, (long)h * d, T_CHAIN);
        gfree(q), gfree(pool), gfree(kv), gfree(sink);
    }
    static const struct { const char *label; int rows, d, ld, ninf; } CP[] = {
        {"csa 8x512 (overlap)", 8, 512, 512, 0}, {"csa 8x512, 1st block (4 rows -inf)", 8, 512, 512, 4},
        {"hca 128x512", 128, 512, 512, 0},       {"idx 8x128", 8, 128, 128, 0},
        {"rand 4x64 ld 128", 4, 64, 128, 0}};
    for (size_t i = 0; i < sizeof CP / sizeof CP[0] && wanted(c, "compress_pool"); i++) {
        seed_case(c, "compress_pool", CP[i].label);
        long len = (long)CP[i].rows * CP[i].ld;
        float *kv = new_f32(c, len, 0, 1.0), *sc = new_f32(c, len, 0, 2.0);
        for (long t = 0; t < (long)CP[i].ninf * CP[i].ld; t++) sc[t] = -INFINITY, kv[t] = 0;
        att_args a = {.s = kv, .sc = sc, .n = CP[i].rows, .d = CP[i].d, .ld = CP[i].ld};
        one_call(c, "compress_pool", CP[i].label, SAME(compress_pool), run_pool, &a, K_F32, CP[i].d, T_F32);
        gfree(kv), gfree(sc);
    }
    static const struct { const char *label; int h, d, n; } IX[] = {
        {"64 heads x 128, n=2048", 64, 128, 2048}, {"64 heads x 128, n=1", 64, 128, 1}, {"rand 4x128 n=37", 4, 128, 37}};
    for (size_t i = 0; i < sizeof IX / sizeof IX[0] && wanted(c, "indexer_scores"); i++) {
        int h = IX[i].h, d = IX[i].d, n = IX[i].n;
        seed_case(c, "indexer_scores", IX[i].label);
        /* queries and keys are FP4-simulated in the model (after the Hadamard) */
        ld_bf16 *q = new_act(c, h, d, 1.0), *keys = new_act(c, n, d, 1.0), *w = new_act(c, 1, h, 0.05);
        ld_fp4_sim_bf16(q, h * d, 32);
        ld_fp4_sim_bf16(keys, n * d, 32);
        att_args a = {.q = q, .w = w, .keys = keys, .h = h, .d = d, .n = n};
        one_call(c, "indexer_scores", IX[i].label, SAME(indexer_scores), run_indexer, &a, K_F32, n, T_CHAIN);
        gfree(q), gfree(keys), gfree(w);
    }
    /* topk is exact by definition: indices of the k largest, ties to the lower index */
    static const struct { const char *label; int n, k, bf16, equal; } TK[] = {
        {"flash idx 512 of 2048 (bf16 ties)", 2048, 512, 1, 0}, {"pro idx 1024 of 4096 (bf16 ties)", 4096, 1024, 1, 0},
        {"flash router 6 of 256", 256, 6, 0, 0},                {"pro router 6 of 384", 384, 6, 0, 0},
        {"rand 5 of 5", 5, 5, 0, 0}, {"rand 3 of 100, all equal", 100, 3, 0, 1}, {"rand 1 of 1", 1, 1, 0, 0}};
    for (size_t i = 0; i < sizeof TK / sizeof TK[0] && wanted(c, "topk"); i++) {
        seed_case(c, "topk", TK[i].label);
        float *s = new_f32(c, TK[i].n, 0, 1.0);
        for (int t = 0; t < TK[i].n; t++) s[t] = TK[i].equal ? 0.5f : TK[i].bf16 ? ld_round_bf16(s[t]) : s[t];
        att_args a = {.s = s, .n = TK[i].n, .k = TK[i].k};
        job_t j = job("topk", 0, 1, 0, 0);
        snprintf(j.shape, sizeof j.shape, "%s", TK[i].label);
        set_part(&j, "", K_I32, TK[i].k, T_EXACT);
        j.run = run_topk, j.args = &a;
        add_in(&j, s, sizeof(float) * (size_t)TK[i].n);
        run_job(c, &j);
        gfree(s);
    }
}

/* ------------------------------------------------------------- swiglu */

typedef struct {
    const ld_bf16 *g, *u;
    const float *wt;
    int n;
    float limit;
} glu_args;

/* One call per row, as the MoE calls it, each with its routing weight. */
static void run_swiglu(ld_backend *o, const void *a, int m, void *const *out) {
    const glu_args *v = a;
    for (int r = 0; r < m; r++)
        o->ops->swiglu(o, v->g + (long)r * v->n, v->u + (long)r * v->n, v->n, v->limit, v->wt[r],
                  (ld_bf16 *)out[0] + (long)r * v->n);
}

static void swiglus(ctx_t *c) {
    static const struct { const char *label; int n; float limit; } SG[] = {
        {"flash inter 2048, limit 10", 2048, 10}, {"pro inter 3072, limit 10", 3072, 10}, {"rand 100, no limit", 100, 0}};
    for (size_t i = 0; i < sizeof SG / sizeof SG[0] && wanted(c, "swiglu"); i++) {
        int n = SG[i].n;
        seed_case(c, "swiglu", SG[i].label);
        /* rms 4: a good share of gate/up values beyond the clamp at 10 */
        ld_bf16 *g = new_act(c, 37, n, 4.0), *u = new_act(c, 37, n, 4.0);
        float *wt = new_f32(c, 37, 0, 1);
        for (int r = 0; r < 37; r++) wt[r] = r == 0 ? 1.0f : (float)(0.05 + 0.55 * urand(&c->g));
        glu_args a = {.g = g, .u = u, .wt = wt, .n = n, .limit = SG[i].limit};
        job_t j = job("swiglu", SAME(swiglu), 37, 4, 1);
        snprintf(j.shape, sizeof j.shape, "%s", SG[i].label);
        set_part(&j, "", K_BF16, n, T_BF16);
        j.run = run_swiglu, j.args = &a;
        add_in(&j, g, sizeof(ld_bf16) * 37 * (size_t)n);
        add_in(&j, u, sizeof(ld_bf16) * 37 * (size_t)n);
        run_job(c, &j);
        gfree(g), gfree(u), gfree(wt);
    }
}

/* ---------------------------------------------------------------- api */

int ld_conform_ops(const ld_backend_ops *b, const conform_opts *o, conform_report *r) {
    if (b->mem != LD_MEM_HOST)
        return ld_set_error("backend '%s' has device memory: the ops level runs host backends only so far", b->name);
    ctx_t c = {.b = b, .o = o, .r = r};
    c.ref = ld_backend_create(&ld_backend_ref_ops, NULL);
    c.be = c.ref ? ld_backend_create(b, &o->backend) : NULL;
    if (!c.be) {
        ld_backend_destroy(c.ref);
        return -1;
    }
    int before = r->failures;
    if (setjmp(c.oom)) {
        ld_backend_destroy(c.be);
        ld_backend_destroy(c.ref);
        return ld_set_error("out of memory in the conformance harness");
    }
    linears(&c);
    norms(&c);
    rotations(&c);
    hyper(&c);
    attention(&c);
    swiglus(&c);
    ld_backend_destroy(c.be);
    ld_backend_destroy(c.ref);
    return r->failures - before;
}
