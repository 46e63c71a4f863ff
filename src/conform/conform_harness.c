/* The ops-level conformance harness (conform_harness.h): deterministic
 * inputs, guarded buffers with device twins, comparison against ref and the
 * per-job checks. */
#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/w8a8.h"
#include "conform/conform_harness.h"
#include "backends/wformat.h"
#include "core/error.h"

/* ------------------------------------------------------------------ rng */


uint64_t cf_next64(rng_t *g) {
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
double cf_urand(rng_t *g) { return (double)(cf_next64(g) >> 11) * (1.0 / 9007199254740992.0); }
/* Irwin-Hall(4): close enough to a Gaussian for test data, and cheap for
 * the hundreds of millions of weights the big shapes need. */
float cf_nrand(rng_t *g) {
    uint64_t a = cf_next64(g), b = cf_next64(g);
    double s = (double)(a >> 32) + (double)(a & 0xffffffffu) + (double)(b >> 32) + (double)(b & 0xffffffffu);
    return (float)((s / 4294967296.0 - 2.0) * 1.7320508075688772);
}
uint64_t cf_hash_str(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

/* ------------------------------------------------------------ context */


void cf_seed_case(ctx_t *c, const char *op, const char *label) {
    c->g.s = cf_hash_str(cf_hash_str(0xcbf29ce484222325ull ^ c->o->seed, op), label);
}

int cf_wanted(const ctx_t *c, const char *op) {
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

/* A backend with its own memory runs on device twins of the harness's
 * buffers: each galloc buffer (guards included) is uploaded before every call
 * of the backend and downloaded after it, so the checks below (guards,
 * unchanged inputs, determinism) see what the device did. The run functions
 * hand ops D(p), the twin of host pointer p (p itself on host backends and
 * while ref runs). The harness is single-threaded; the table is per process. */
typedef struct {
    unsigned char *host, *dev;
    size_t bytes;
} twin_t;
static struct {
    ld_backend *be; /* the device backend under test, or NULL */
    int on;         /* D() maps while the backend runs */
    twin_t *t;
    int n, cap;
} MIR;

static void twin_add(unsigned char *host, size_t bytes) {
    if (MIR.n == MIR.cap) {
        int nc = MIR.cap ? 2 * MIR.cap : 64;
        twin_t *nt = realloc(MIR.t, sizeof *nt * (size_t)nc);
        if (!nt) return; /* an untracked buffer maps to itself, and the op reports a bad address */
        MIR.t = nt, MIR.cap = nc;
    }
    MIR.t[MIR.n++] = (twin_t){.host = host, .bytes = bytes};
}

static void twin_drop(unsigned char *host) {
    for (int i = 0; i < MIR.n; i++)
        if (MIR.t[i].host == host) {
            if (MIR.t[i].dev && MIR.be) ld_be_free(MIR.be, MIR.t[i].dev);
            MIR.t[i] = MIR.t[--MIR.n];
            return;
        }
}

void *cf_dmap(const void *p) {
    if (!MIR.on || !p) return (void *)p;
    const unsigned char *q = p;
    for (int i = 0; i < MIR.n; i++)
        if (q >= MIR.t[i].host && q < MIR.t[i].host + MIR.t[i].bytes) return MIR.t[i].dev + (q - MIR.t[i].host);
    return (void *)p;
}

static int twins_push(void) {
    for (int i = 0; i < MIR.n; i++) {
        twin_t *t = &MIR.t[i];
        if (!t->dev && !(t->dev = ld_be_alloc(MIR.be, t->bytes))) return -1;
        if (ld_be_upload(MIR.be, t->dev, t->host, t->bytes)) return -1;
    }
    MIR.on = 1;
    return 0;
}

static int twins_pull(void) {
    MIR.on = 0;
    for (int i = 0; i < MIR.n; i++)
        if (MIR.t[i].dev && ld_be_download(MIR.be, MIR.t[i].host, MIR.t[i].dev, MIR.t[i].bytes)) return -1;
    return 0;
}

void cf_set_device(ld_backend *be) { MIR.be = be; }

/* An in-place op's input, copied on the host into its output buffer after
 * the push, goes to the twin as well. */
int cf_dpush(void *dst, const void *src, size_t bytes) {
    memcpy(dst, src, bytes);
    return MIR.on ? ld_be_upload(MIR.be, D(dst), dst, bytes) : 0;
}

void *cf_alloc(ctx_t *c, size_t bytes, int fill) {
    unsigned char *p = malloc(bytes + 2 * GUARD + 16);
    if (!p) longjmp(c->oom, 1);
    twin_add(p, bytes + 2 * GUARD + 16);
    memcpy(p, &bytes, sizeof bytes);
    memset(p + 16, GUARD_BYTE, GUARD);
    memset(p + 16 + GUARD, fill, bytes);
    memset(p + 16 + GUARD + bytes, GUARD_BYTE, GUARD);
    return p + 16 + GUARD;
}
int cf_intact(const void *q) {
    const unsigned char *p = (const unsigned char *)q - GUARD - 16;
    size_t bytes;
    memcpy(&bytes, p, sizeof bytes);
    for (int i = 0; i < GUARD; i++)
        if (p[16 + i] != GUARD_BYTE || p[16 + GUARD + bytes + i] != GUARD_BYTE) return 0;
    return 1;
}
void cf_free(void *q) {
    if (!q) return;
    twin_drop((unsigned char *)q - GUARD - 16);
    free((unsigned char *)q - GUARD - 16);
}

uint64_t cf_checksum(const void *p, size_t n) {
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
void cf_fill_act(ctx_t *c, ld_bf16 *x, long m, long n, double rms) {
    float *t = malloc(sizeof(float) * (size_t)n);
    if (!t) longjmp(c->oom, 1);
    for (long r = 0; r < m; r++) {
        double ss = 0;
        for (long i = 0; i < n; i++) {
            t[i] = cf_nrand(&c->g) * ((((uint32_t)i * 2654435761u) >> 24) % 61 == 0 ? 8.0f : 1.0f);
            ss += (double)t[i] * t[i];
        }
        float k = (float)(rms / sqrt(ss / (double)n + 1e-30));
        for (long i = 0; i < n; i++) x[r * n + i] = ld_f32_to_bf16(t[i] * k);
    }
    free(t);
}
void cf_fill_f32(ctx_t *c, float *x, long n, double mean, double sd) {
    for (long i = 0; i < n; i++) x[i] = (float)(mean + sd * cf_nrand(&c->g));
}
ld_bf16 *cf_new_act(ctx_t *c, long m, long n, double rms) {
    ld_bf16 *x = cf_alloc(c, sizeof(ld_bf16) * (size_t)(m * n), 0);
    cf_fill_act(c, x, m, n, rms);
    return x;
}
float *cf_new_f32(ctx_t *c, long n, double mean, double sd) {
    float *x = cf_alloc(c, sizeof(float) * (size_t)n, 0);
    cf_fill_f32(c, x, n, mean, sd);
    return x;
}


static uint8_t e8m0_of(float pow2) { return (uint8_t)((ld_f32_to_bits(pow2) >> 23) & 0xff); }

/* Gaussian weights of std 1/sqrt(k) (per-row gain 0.5..2 so that scale
 * blocks differ), stored in fmt exactly as a checkpoint stores them. */
/* The w8a8 forms, converted from a checkpoint-form weight as loading does. */
static wbuf make_w8a8(ctx_t *c, ld_wfmt fmt, int n, int k) {
    wbuf src = cf_make_weight(c, fmt == LD_WF_I8 ? LD_WF_FP8 : LD_WF_FP4, n, k), b = {.w = src.w};
    b.w.fmt = fmt;
    b.data = cf_alloc(c, ld_wformat_data_bytes(fmt, n, k), 0);
    int rc;
    if (fmt == LD_WF_I8) {
        b.scale = cf_alloc(c, sizeof(float) * (size_t)n, 0);
        b.w.scale_cols = 1;
        rc = ld_weight_to_i8(&src.w, b.data, (float *)(void *)b.scale);
    } else {
        b.scale = cf_alloc(c, (size_t)n * (size_t)src.w.scale_cols, 0);
        rc = ld_weight_to_fp4i8(&src.w, b.data, b.scale);
    }
    cf_free_weight(&src);
    if (rc) longjmp(c->oom, 1); /* random weights always convert */
    b.w.data = b.data;
    b.w.scale = b.scale;
    return b;
}

wbuf cf_make_weight(ctx_t *c, ld_wfmt fmt, int n, int k) {
    if (fmt == LD_WF_I8 || fmt == LD_WF_FP4_I8) return make_w8a8(c, fmt, n, k);
    wbuf b = {.w = {.fmt = fmt, .n = n, .k = k}};
    const ld_wformat *F = ld_wformat_of(fmt);
    int band = F->scale_rows ? F->scale_rows : 1; /* rows quantized together: one scale block high */
    float *t = malloc(sizeof(float) * (size_t)band * (size_t)k);
    if (!t) longjmp(c->oom, 1);
    b.data = cf_alloc(c, ld_wformat_data_bytes(fmt, n, k), 0);
    int64_t srows, scols;
    ld_wformat_scale_shape(fmt, n, k, &srows, &scols);
    b.w.scale_cols = (int)scols;
    if (b.w.scale_cols) b.scale = cf_alloc(c, (size_t)b.w.scale_cols * (size_t)srows, 0);
    for (int r0 = 0; r0 < n; r0 += band) {
        int rows = n - r0 < band ? n - r0 : band;
        for (int r = 0; r < rows; r++) {
            float gain = (float)(0.5 + 1.5 * cf_urand(&c->g)) / sqrtf((float)k);
            for (int i = 0; i < k; i++) t[(long)r * k + i] = cf_nrand(&c->g) * gain;
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
void cf_free_weight(wbuf *b) {
    cf_free(b->data);
    cf_free(b->scale);
}
size_t cf_weight_bytes(const ld_weight *w) { return ld_wformat_data_bytes(w->fmt, w->n, w->k); }

/* ---------------------------------------------------- compare, judge */

static const struct {
    double nmse, absf;
    const char *text;
} TOL[] = {
    {0, 0, "bit-exact"},
    {1e-5, 1.0 / 128, "nmse<=1e-5 abs<=2^-7max"},
    {1e-4, 1.0 / 64, "nmse<=1e-4 abs<=2^-6max"},
    {1e-10, 1e-5, "nmse<=1e-10 abs<=1e-5max"},
    {1e-3, 1.0 / 16, "nmse<=1e-3 abs<=2^-4max"},
};


static double elem(const void *p, okind k, long i) {
    if (k == K_BF16) return ld_bf16_to_f32(((const ld_bf16 *)p)[i]);
    if (k == K_F32) return ((const float *)p)[i];
    return ((const int *)p)[i];
}

/* maxrel uses the floor 1e-3 * max|a|: elements near zero come out of
 * cancelling sums and carry the absolute error of their terms. */
cmp_t cf_compare(const void *a, const void *b, okind k, long n) {
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

void cf_emit(ctx_t *c, const char *op, const char *shape, int m, const cmp_t *q, tolk t, int same,
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




static size_t ksize(okind k) { return k == K_BF16 ? 2 : 4; }

void cf_add_in(job_t *j, const void *p, size_t bytes) {
    j->in[j->nin] = p;
    j->in_bytes[j->nin++] = bytes;
}

/* The backend under test on one call, through the device twins when it has
 * its own memory; 0, or -1 with the error set. */
static int run_backend(ctx_t *c, job_t *j, int m, void *const *out) {
    if (!MIR.be) return j->run(c->be, j->args, m, out);
    if (twins_push()) return -1;
    int rc = j->run(c->be, j->args, m, out);
    if (!rc) rc = ld_be_sync(c->be);
    if (twins_pull()) rc = -1;
    return rc;
}

static ld_op op_named(const char *name) {
    for (int i = 0; i < LD_OP_COUNT; i++)
        if (!strcmp(ld_op_name((ld_op)i), name)) return (ld_op)i;
    return LD_OP_COUNT;
}

/* A slot the backend leaves empty: reported, not run (ref's code would be
 * handed addresses it cannot read), and not a failure of what it does run. */
static void unsupported(ctx_t *c, const job_t *j) {
    conform_row *row = conform_add(c->r);
    if (!row) longjmp(c->oom, 1);
    row->kind = CONF_OP;
    snprintf(row->op, sizeof row->op, "%s", j->op);
    snprintf(row->shape, sizeof row->shape, "%s", j->shape);
    row->m = j->ms[0];
    row->nmse = row->cos = row->maxabs = row->maxrel = NAN;
    snprintf(row->tol, sizeof row->tol, "-");
    row->pass = 1;
    row->unsupported = 1;
    snprintf(row->why, sizeof row->why, "not supported by the backend");
    if (c->o->log) conform_print_row(c->o->log, row);
}

void cf_run_job(ctx_t *c, job_t *j) {
    if (!ld_backend_supports(c->be, op_named(j->op)) || (j->wfmt_set && !ld_backend_takes(c->be, j->wfmt))) {
        unsupported(c, j);
        return;
    }
    void *ref[3] = {0}, *keep[3] = {0};
    uint64_t h0[6];
    for (int i = 0; i < j->nin; i++) h0[i] = cf_checksum(j->in[i], j->in_bytes[i]);
    int mmax = j->ms[0];
    for (int p = 0; p < j->nparts; p++)
        ref[p] = cf_alloc(c, ksize(j->part[p].kind) * (size_t)(j->part[p].per_row * mmax), 0xFF);
    j->run(c->ref, j->args, mmax, ref);
    for (int mi = 0; mi < 4 && j->ms[mi]; mi++) {
        int m = j->ms[mi];
        void *out[3], *out2[3];
        const char *why = NULL;
        for (int p = 0; p < j->nparts; p++) {
            size_t bytes = ksize(j->part[p].kind) * (size_t)(j->part[p].per_row * m);
            out[p] = cf_alloc(c, bytes, 0xFF);
            out2[p] = cf_alloc(c, bytes, 0xFF);
        }
        char err[96] = "";
        if (run_backend(c, j, m, out) || run_backend(c, j, m, out2)) {
            snprintf(err, sizeof err, "the op failed: %s", ld_last_error());
            why = err;
        }
        for (int i = 0; i < j->nin; i++)
            if (cf_checksum(j->in[i], j->in_bytes[i]) != h0[i]) why = "modified an input";
        for (int p = 0; p < j->nparts; p++) {
            size_t bytes = ksize(j->part[p].kind) * (size_t)(j->part[p].per_row * m);
            if (!cf_intact(ref[p])) why = "harness: ref wrote outside its output";
            if (!why && (!cf_intact(out[p]) || !cf_intact(out2[p]))) why = "wrote outside its output buffer";
            if (!why && memcmp(out[p], out2[p], bytes)) why = "two identical calls gave different bits";
            if (!why && mi > 0 && memcmp(out[p], keep[p], bytes))
                why = "rows depend on M (differ from the same rows of the largest-M call)";
        }
        for (int p = 0; p < j->nparts; p++) {
            long n = j->part[p].per_row * m;
            cmp_t q = cf_compare(ref[p], out[p], j->part[p].kind, n);
            int eq = !memcmp(ref[p], out[p], ksize(j->part[p].kind) * (size_t)n);
            char shape[96];
            snprintf(shape, sizeof shape, "%s%s", j->shape, j->part[p].suffix);
            const char *w = why ? why : j->same && !eq ? "slot is ref's own function, yet not bit-identical" : NULL;
            cf_emit(c, j->op, shape, m, &q, j->same ? T_EXACT : j->part[p].tol, j->same, eq, w);
            if (mi == 0) keep[p] = out[p];
            else cf_free(out[p]);
            cf_free(out2[p]);
        }
    }
    for (int p = 0; p < j->nparts; p++) cf_free(ref[p]), cf_free(keep[p]);
}

/* M values must be strictly decreasing: a repeated or larger one is dropped. */
job_t cf_job(const char *op, int same, int m0, int m1, int m2) {
    job_t j = {.op = op, .same = same, .ms = {m0, 0, 0, 0}};
    if (m1 > 0 && m1 < m0) j.ms[1] = m1;
    if (m2 > 0 && m2 < (j.ms[1] ? m1 : m0)) j.ms[j.ms[1] ? 2 : 1] = m2;
    return j;
}
void cf_set_part(job_t *j, const char *suffix, okind k, long per_row, tolk t) {
    j->part[j->nparts++] = (part_t){suffix, k, per_row, t};
}


/* The weight as the model hands it to the backend: prepared (uploaded or
 * repacked) from the host view when the backend prepares weights. */
int cf_with_weight(ld_backend *o, const ld_weight *hw, ld_weight *w) {
    *w = *hw;
    if (!o->ops->prepare_weight) {
        w->data = D(w->data), w->scale = D(w->scale);
        return 0;
    }
    return o->ops->prepare_weight(o, w);
}
void cf_done_weight(ld_backend *o, ld_weight *w) {
    if (o->ops->prepare_weight && o->ops->release_weight) o->ops->release_weight(o, w);
}
