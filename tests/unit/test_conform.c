/* The conformance engine itself: the cpu backend must pass (ops on the
 * reduced set, layers on a tiny synthetic checkpoint and on the oracle
 * cases), and deliberately broken backends must be caught, each by the
 * check meant for its kind of bug: wrong numbers (rmsnorm ignoring its
 * weight, linear dropping its last K block), an out-of-bounds write, a
 * result that depends on how many rows are computed together.
 *
 * The engine lives with the tools (src/tools), outside the ladder_core
 * library the tests link, so its two files are compiled into this test. */
#include <stdlib.h>
#include <string.h>

#include "backends/ref/ref.h"
#include "core/error.h"
#include "model/synth.h"
#include "testutil.h"
#include "backends/ref/ref.h"
#include "backends/wformat.h"
#include "conform/conform.h"

/* --------------------------------------------------- broken backends */

static int bad_rmsnorm(ld_backend *be, const ld_bf16 *x, const ld_bf16 *w, int m, int n, float eps, ld_bf16 *y) {
    (void)w;
    ld_bf16 *ones = malloc(sizeof(ld_bf16) * (size_t)n);
    for (int i = 0; i < n; i++) ones[i] = ld_f32_to_bf16(1.0f);
    ld_ref_rmsnorm(x, ones, m, n, eps, y);
    free(ones);
    (void)be;
    return 0;
}

/* drops the last 128-wide K block: computes with those inputs zeroed */
static int bad_linear(ld_backend *be, const ld_weight *w, const ld_bf16 *x, int m, ld_bf16 *y) {
    ld_bf16 *xc = malloc(sizeof(ld_bf16) * (size_t)m * (size_t)w->k);
    memcpy(xc, x, sizeof(ld_bf16) * (size_t)m * (size_t)w->k);
    if (w->k > 128)
        for (int r = 0; r < m; r++) memset(xc + (long)r * w->k + w->k - 128, 0, 128 * sizeof(ld_bf16));
    ld_ref_linear(w, xc, m, y);
    free(xc);
    (void)be;
    return 0;
}

/* right values, plus one element written past the end */
static int bad_swiglu(ld_backend *be, const ld_bf16 *g, const ld_bf16 *u, int n, float limit, float weight, ld_bf16 *out) {
    ld_ref_swiglu(g, u, n, limit, weight, out);
    out[n] = out[0];
    (void)be;
    return 0;
}

/* rounds differently when called with several rows, as a batching bug would */
static int bad_hadamard(ld_backend *be, ld_bf16 *x, int m, int n) {
    ld_ref_hadamard(x, m, n);
    if (m > 64) x[0] ^= 1;
    (void)be;
    return 0;
}

/* drops the compressed entries of HCA layers: a composite's index lists wrong */
static int bad_attend(ld_backend *be, const ld_attend_args *a) {
    ld_attend_args b = *a;
    b.comp_ratio = 0;
    return ld_host_attend(be, &b);
}

/* A "device" whose memory is separate host memory: ref's ops run on it
 * unchanged, but every buffer is a copy reached through upload/download,
 * and sparse_attn (host pointers) is not offered. `short_upload` loses the
 * last bytes of every upload, as a broken transfer would. */
static int short_upload;
static void *dev_alloc(ld_backend *be, size_t n) {
    (void)be;
    return malloc(n ? n : 1);
}
static void dev_free(ld_backend *be, void *p) {
    (void)be;
    free(p);
}
static int dev_upload(ld_backend *be, void *d, const void *s, size_t n) {
    (void)be;
    memcpy(d, s, short_upload && n > 64 ? n - 64 : n);
    return 0;
}
static int dev_download(ld_backend *be, void *d, const void *s, size_t n) {
    (void)be;
    memcpy(d, s, n);
    return 0;
}
static int dev_prepare(ld_backend *be, ld_weight *w) {
    size_t nd = ld_wformat_data_bytes(w->fmt, w->n, w->k), ns = ld_wformat_scale_bytes(w->fmt, w->n, w->k);
    void *d = dev_alloc(be, nd), *s = w->scale ? dev_alloc(be, ns) : NULL;
    memcpy(d, w->data, nd);
    if (s) memcpy(s, w->scale, ns);
    w->data = d, w->scale = s;
    return 0;
}
/* its attention runs ref's host composite over ref's primitives, since the
 * table itself offers no sparse_attn */
static int dev_attend(ld_backend *be, const ld_attend_args *a) {
    ld_backend r = *be;
    r.ops = &ld_backend_ref_ops;
    return ld_host_attend(&r, a);
}
static void dev_release(ld_backend *be, ld_weight *w) {
    dev_free(be, (void *)w->data);
    dev_free(be, (void *)w->scale);
}

static ld_backend_ops broken(const char *name) {
    ld_backend_ops b = ld_backend_ref_ops;
    b.name = name;
    if (!strcmp(name, "bad-rmsnorm")) b.rmsnorm = bad_rmsnorm;
    if (!strcmp(name, "bad-linear")) b.linear = bad_linear;
    if (!strcmp(name, "bad-swiglu")) b.swiglu = bad_swiglu;
    if (!strcmp(name, "bad-hadamard")) b.hadamard = bad_hadamard;
    if (!strcmp(name, "bad-attend")) b.attend = bad_attend;
    if (!strncmp(name, "fake-device", 11)) {
        b.mem = LD_MEM_DEVICE;
        b.alloc = dev_alloc, b.free = dev_free, b.upload = dev_upload, b.download = dev_download;
        b.prepare_weight = dev_prepare, b.release_weight = dev_release;
        b.sparse_attn = NULL;
        b.attend = dev_attend;
    }
    return b;
}

/* ------------------------------------------------------------- checks */

/* Runs the ops level filtered to `pattern`; returns the failures and the
 * first failure's reason in why. */
static int ops_failures(const ld_backend_ops *b, const char *pattern, char *why, size_t why_len) {
    conform_opts o = {.pattern = pattern, .seed = 1, .reduced = 1};
    conform_report r = {0};
    int f = ld_conform_ops(b, &o, &r);
    if (why) {
        *why = 0;
        for (int i = 0; i < r.n; i++)
            if (!r.rows[i].pass) { snprintf(why, why_len, "%s %s: %s", r.rows[i].op, r.rows[i].shape, r.rows[i].why); break; }
    }
    CHECK(f < 0 || r.n > 0, "%s: no rows for pattern %s", b->name, pattern ? pattern : "(all)");
    conform_report_free(&r);
    return f;
}

static int layer_failures_path(const ld_backend_ops *b, const char *dir, int n_decode, ld_formats path) {
    conform_layer_opts o = {.n_decode = n_decode, .formats = path};
    conform_report r = {0};
    int f = ld_conform_layers(b, dir, &o, &r);
    CHECK(f >= 0, "%s on %s: %s", b->name, dir, ld_last_error());
    CHECK(r.n == 0 || r.rows[0].kind == CONF_LAYER, "layer rows expected");
    for (int i = 0; b == ld_backend_find("cpu") && i < r.n; i++)
        if (!r.rows[i].pass) fprintf(stderr, "  %s %s: %s\n", r.rows[i].op, r.rows[i].shape, r.rows[i].why);
    conform_report_free(&r);
    return f;
}

static int layer_failures(const ld_backend_ops *b, const char *dir, int n_decode) {
    return layer_failures_path(b, dir, n_decode, LD_FORMATS_NATIVE);
}

int main(void) {
    const ld_backend_ops *cpu = ld_backend_find("cpu");
    CHECK(cpu != NULL, "cpu backend not registered");
    if (!cpu) return test_summary("conform");
    char why[256];

    /* ops: cpu conforms; each broken table is caught by the intended check */
    CHECK(ops_failures(cpu, NULL, why, sizeof why) == 0, "cpu fails ops conformance: %s", why);
    CHECK(ops_failures(&ld_backend_ref_ops, "topk", NULL, 0) == 0, "ref must conform to itself");
    ld_backend_ops b1 = broken("bad-rmsnorm"), b2 = broken("bad-linear"), b3 = broken("bad-swiglu"),
                   b4 = broken("bad-hadamard");
    CHECK(ops_failures(&b1, "rmsnorm", why, sizeof why) > 0, "rmsnorm without weight not caught");
    CHECK(ops_failures(&b1, "head_rmsnorm", NULL, 0) == 0, "head_rmsnorm is untouched in bad-rmsnorm");
    CHECK(ops_failures(&b2, "linear", why, sizeof why) > 0, "linear dropping a K block not caught");
    CHECK(ops_failures(&b3, "swiglu", why, sizeof why) > 0 && strstr(why, "outside"),
          "out-of-bounds write not caught by the sentinels: %s", why);
    CHECK(ops_failures(&b4, "hadamard", why, sizeof why) > 0 && strstr(why, "depend on M"),
          "M-dependent rows not caught: %s", why);
    ld_backend_ops b5 = broken("bad-attend");
    CHECK(ops_failures(&b5, "attend", why, sizeof why) > 0, "attend without its compressed entries not caught");
    /* a backend with its own memory runs on device twins: ref's arithmetic
       there conforms, its empty slot is reported as such, and a transfer
       that loses bytes is caught */
    ld_backend_ops fd = broken("fake-device");
    {
        conform_opts o = {.seed = 1, .reduced = 1};
        conform_report r = {0};
        int f = ld_conform_ops(&fd, &o, &r), na = 0, ran = 0;
        for (int i = 0; i < r.n; i++) na += r.rows[i].unsupported, ran += !r.rows[i].unsupported;
        CHECK(f == 0 && ran > 200 && na > 0, "fake device: %d failures, %d rows run, %d not supported (%s)", f, ran, na,
              f < 0 ? ld_last_error() : "");
        for (int i = 0; i < r.n; i++)
            if (r.rows[i].unsupported) CHECK(!strcmp(r.rows[i].op, "sparse_attn"), "%s reported unsupported", r.rows[i].op);
        conform_report_free(&r);
    }
    short_upload = 1;
    CHECK(ops_failures(&fd, "rmsnorm", why, sizeof why) > 0, "a transfer losing bytes not caught");
    short_upload = 0;

    /* layers on a tiny synthetic checkpoint */
    const char *tmp = test_tmp_dir();
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/conform-tiny", tmp ? tmp : ".");
    ld_config c;
    ld_synth_preset("tiny", &c);
    ld_synth_opts so = {.seed = 11};
    CHECK(ld_synth_write(&c, dir, &so) == 0, "synth: %s", ld_last_error());
    CHECK(layer_failures(cpu, dir, 4) == 0, "cpu fails layer conformance on the tiny synth");
    CHECK(layer_failures_path(cpu, dir, 4, LD_FORMATS_BF16) == 0, "cpu fails layer conformance on the bf16 path");
    CHECK(layer_failures_path(cpu, dir, 4, LD_FORMATS_W8A8) == 0, "cpu fails layer conformance on the w8a8 path");
    /* the format-path report: ref on bf16 against ref on native shows the
       error the path brings in at every sublayer (none is bitwise equal),
       and the same path against itself shows none */
    {
        conform_layer_opts o = {.n_decode = 2, .formats = LD_FORMATS_BF16, .vs_native = 1};
        conform_report r = {0};
        int f = ld_conform_layers(&ld_backend_ref_ops, dir, &o, &r), moved = 0;
        for (int i = 0; i < r.n; i++) moved += r.rows[i].nmse > 0;
        CHECK(f >= 0 && r.n > 0 && moved == r.n, "bf16 vs native: %d of %d sublayer rows moved (%s)", moved, r.n,
              f < 0 ? ld_last_error() : "");
        conform_report_free(&r);
        o.vs_native = 0;
        f = ld_conform_layers(&ld_backend_ref_ops, dir, &o, &r);
        moved = 0;
        for (int i = 0; i < r.n; i++) moved += r.rows[i].nmse > 0;
        CHECK(f == 0 && moved == 0, "ref bf16 against itself: %d rows differ", moved);
        conform_report_free(&r);
    }
    CHECK(layer_failures(&b1, dir, 2) > 0, "bad-rmsnorm passes layer conformance");
    CHECK(layer_failures(&b2, dir, 2) > 0, "bad-linear passes layer conformance");

    /* layers on the oracle cases, when the shared data is there */
    const char *sh = getenv("LADDER_SHARED");
    const char *cases[2] = {"v4-tiny-a", "v4-tiny-b"};
    for (int i = 0; sh && i < 2; i++) {
        snprintf(dir, sizeof dir, "%s/oracle/%s/config.json", sh, cases[i]);
        FILE *f = fopen(dir, "r");
        if (!f) { printf("oracle case %s absent: its layer check skipped\n", cases[i]); continue; }
        fclose(f);
        snprintf(dir, sizeof dir, "%s/oracle/%s", sh, cases[i]);
        CHECK(layer_failures(cpu, dir, 4) == 0, "cpu fails layer conformance on %s", cases[i]);
        CHECK(layer_failures_path(cpu, dir, 4, LD_FORMATS_BF16) == 0, "cpu fails bf16-path layer conformance on %s",
              cases[i]);
        CHECK(layer_failures_path(cpu, dir, 4, LD_FORMATS_W8A8) == 0, "cpu fails w8a8-path layer conformance on %s",
              cases[i]);
    }
    return test_summary("conform");
}
