/* Weight format paths. The bf16 conversion against values computed here
 * from the format definitions (e4m3 and e2m1 decoded by hand, E8M0 as
 * ldexp), refusals of what is not exact, and the bf16 path end to end on a
 * synthetic checkpoint: the cpu backend agrees with ref on it, and it differs
 * from the native path (activations are no longer FP8-quantized). The w8a8
 * path end to end the same way (its arithmetic: test_ops_ref, test_cpu). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/w8a8.h"
#include "ladder.h"
#include "model/model.h"
#include "model/synth.h"
#include "testutil.h"

/* e4m3fn by its definition: bias 7, 3 mantissa bits, subnormals, no infinities */
static float e4m3(uint8_t b) {
    int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
    float v = e ? ldexpf(1.0f + m / 8.0f, e - 7) : ldexpf(m / 8.0f, -6);
    return s ? -v : v;
}

/* e2m1: bias 1, 1 mantissa bit */
static float e2m1(uint8_t nib) {
    int s = (nib >> 3) & 1, e = (nib >> 1) & 3, m = nib & 1;
    float v = e ? ldexpf(1.0f + m / 2.0f, e - 1) : m * 0.5f;
    return s ? -v : v;
}

static uint32_t rng = 12345;
static uint32_t next(void) {
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

static void conversions(void) {
    /* FP8 [130, 260]: partial 128 x 128 blocks on both edges */
    int n = 130, k = 260, sc = 3;
    uint8_t *d = malloc((size_t)n * k), s[2 * 3];
    for (int i = 0; i < n * k; i++) {
        d[i] = (uint8_t)next();
        if ((d[i] & 0x7f) == 0x7f) d[i] ^= 1; /* not NaN */
    }
    for (int i = 0; i < 6; i++) s[i] = (uint8_t)(120 + next() % 15);
    ld_weight w = {.fmt = LD_WF_FP8, .n = n, .k = k, .data = d, .scale = s, .scale_cols = sc};
    ld_bf16 *o = malloc(sizeof(ld_bf16) * (size_t)n * k);
    CHECK(ld_weight_to_bf16(&w, o) == 0, "fp8: %s", ladder_last_error());
    int bad = 0;
    for (int r = 0; r < n; r++)
        for (int c = 0; c < k; c++) {
            float want = ldexpf(e4m3(d[r * k + c]), s[(r / 128) * sc + c / 128] - 127);
            uint32_t u;
            memcpy(&u, &want, 4);
            bad += (u & 0xffff) != 0 || o[r * k + c] != (ld_bf16)(u >> 16);
        }
    CHECK(bad == 0, "fp8: %d of %d elements differ from e4m3 x 2^(s-127)", bad, n * k);
    w.fmt = LD_WF_FP8_DQ;
    CHECK(ld_weight_to_bf16(&w, o) == 0, "fp8 (dequantized use): %s", ladder_last_error());

    /* w8a8 (int8 per output row): every row's amax maps to 127 exactly, and
       each code is the rounded value over the row scale */
    {
        int8_t *q = malloc((size_t)n * k);
        float *rs = malloc(sizeof(float) * (size_t)n);
        w.fmt = LD_WF_FP8;
        CHECK(ld_weight_to_i8(&w, q, rs) == 0, "to i8: %s", ladder_last_error());
        int off = 0;
        for (int r = 0; r < n; r++) {
            int top = 0;
            for (int c = 0; c < k; c++) {
                float v = ldexpf(e4m3(d[r * k + c]), s[(r / 128) * sc + c / 128] - 127);
                top |= abs(q[r * k + c]) == 127;
                off += fabsf(v - q[r * k + c] * rs[r]) > 0.5f * rs[r] * 1.0001f;
            }
            off += !top;
        }
        CHECK(off == 0, "to i8: %d codes off by more than half a step, or rows without a 127", off);
        d[7] = 0x7f; /* NaN */
        CHECK(ld_weight_to_i8(&w, q, rs) != 0 && strstr(ladder_last_error(), "(0, 7)"), "NaN to i8: %s",
              ladder_last_error());
        d[7] = 0x3c;
        free(q);
        free(rs);
        w.fmt = LD_WF_FP8_DQ;
    }

    /* refusals: a NaN code, a NaN scale, a product beyond bf16's range */
    d[5] = 0x7f;
    CHECK(ld_weight_to_bf16(&w, o) != 0 && strstr(ladder_last_error(), "(0, 5)"), "NaN code: %s", ladder_last_error());
    d[5] = 0x7e; /* 448 */
    s[0] = 255;
    CHECK(ld_weight_to_bf16(&w, o) != 0, "NaN scale accepted");
    s[0] = 254; /* 448 x 2^127 overflows */
    CHECK(ld_weight_to_bf16(&w, o) != 0 && strstr(ladder_last_error(), "not exact"), "overflow: %s", ladder_last_error());

    /* FP4 [3, 64]: two per byte (element 2j low), one scale per 32 */
    uint8_t p[3 * 32], ps[3 * 2];
    for (int i = 0; i < 96; i++) p[i] = (uint8_t)next();
    for (int i = 0; i < 6; i++) ps[i] = (uint8_t)(110 + next() % 30);
    ld_weight f = {.fmt = LD_WF_FP4, .n = 3, .k = 64, .data = p, .scale = ps, .scale_cols = 2};
    CHECK(ld_weight_to_bf16(&f, o) == 0, "fp4: %s", ladder_last_error());
    bad = 0;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 64; c++) {
            uint8_t b = p[r * 32 + c / 2];
            float want = ldexpf(e2m1(c % 2 ? b >> 4 : b & 15), ps[r * 2 + c / 32] - 127);
            uint32_t u;
            memcpy(&u, &want, 4);
            bad += o[r * 64 + c] != (ld_bf16)(u >> 16);
        }
    CHECK(bad == 0, "fp4: %d of 192 elements differ from e2m1 x 2^(s-127)", bad);
    free(d);
    free(o);
}

static int logits(const char *dir, const char *backend, ladder_formats f, const int *ids, int n, float *out,
                  const ladder_info **info, ladder_engine **keep) {
    ladder_engine_opts eo = {.backend = backend, .formats = f, .weights = LADDER_WEIGHTS_MMAP};
    ladder_engine *e;
    ladder_session *s;
    if (ladder_engine_open(dir, &eo, &e)) return -1;
    int rc = ladder_session_new(e, NULL, &s) || ladder_eval(s, ids, n, LADDER_LOGITS_ALL, out, NULL);
    ladder_session_free(s);
    if (info) *info = ladder_engine_info(e);
    if (keep) *keep = e;
    else ladder_engine_close(e);
    return rc ? -1 : 0;
}

/* One format path end to end against native: cpu agrees with ref on it,
 * it moves the logits, and info reports it with the bytes it reads. */
static void path_end_to_end(const char *dir, const ld_config *c, ladder_formats path, const int *ids, int N,
                            const float *nat, const ladder_info *in_nat) {
    const char *name = ladder_formats_name(path);
    size_t sz = sizeof(float) * (size_t)N * c->vocab_size;
    float *rb = malloc(sz), *cb = malloc(sz);
    const ladder_info *in_p;
    ladder_engine *e_p = NULL;
    CHECK(logits(dir, "ref", path, ids, N, rb, &in_p, &e_p) == 0, "ref %s: %s", name, ladder_last_error());
    CHECK(logits(dir, "cpu", path, ids, N, cb, NULL, NULL) == 0, "cpu %s: %s", name, ladder_last_error());
    /* cpu against ref on the path, end to end: the tiny model is chaotic
       (a last-bit difference grows along the sequence), so most rows, not
       every row, agree closely; test_conform judges the layers */
    double cosv[64];
    int top_diff = 0;
    for (int r = 0; r < N; r++) {
        const float *a = rb + (size_t)r * c->vocab_size, *b = cb + (size_t)r * c->vocab_size;
        double ab = 0, aa = 0, bb = 0;
        int ia = 0, ib = 0;
        for (int i = 0; i < c->vocab_size; i++) {
            ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
            if (a[i] > a[ia]) ia = i;
            if (b[i] > b[ib]) ib = i;
        }
        double cs = ab / sqrt(aa * bb);
        int j = r;
        while (j > 0 && cosv[j - 1] > cs) cosv[j] = cosv[j - 1], j--;
        cosv[j] = cs;
        top_diff += ia != ib;
    }
    /* int8 activations step by amax / 127, so a last-bit difference from
       the ops around the linears moves a whole step now and then: w8a8
       amplifies it more than bf16 does */
    double bar = path == LADDER_FORMATS_W8A8 ? 0.999 : 0.9999;
    CHECK(cosv[N / 2] >= bar && top_diff <= N / 10, "cpu vs ref on the %s path: median row cosine %.6f, %d of %d "
          "top-1 disagreements", name, cosv[N / 2], top_diff, N);
    double maxd = 0;
    int finite = 1;
    for (size_t i = 0; i < (size_t)N * c->vocab_size; i++) {
        finite &= isfinite(rb[i]);
        double d = fabs((double)rb[i] - nat[i]);
        maxd = d > maxd ? d : maxd;
    }
    CHECK(finite && maxd > 0, "%s logits: finite %d, max |difference| from native %g (activation rounding changed: > 0)",
          name, finite, maxd);
    if (e_p && in_nat) {
        CHECK(!strcmp(in_nat->formats, "native") && !strcmp(in_p->formats, name), "info formats %s / %s",
              in_nat->formats, in_p->formats);
        /* bf16: twice the FP8 bytes; w8a8: int8 where FP8 was, FP4 kept,
           plus a scale per row */
        double ratio = in_p->weight_bytes_per_token / in_nat->weight_bytes_per_token;
        CHECK(path == LADDER_FORMATS_BF16 ? ratio > 1.5 : ratio > 0.99 && ratio < 1.1,
              "%s reads %.0f bytes per token, native %.0f", name, in_p->weight_bytes_per_token,
              in_nat->weight_bytes_per_token);
    }
    ladder_engine_close(e_p);
    free(rb);
    free(cb);
}

static void end_to_end(void) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/formats-tiny", test_tmp_dir());
    ld_config c;
    ld_synth_preset("tiny", &c);
    ld_synth_opts so = {.seed = 5};
    CHECK(ld_synth_write(&c, dir, &so) == 0, "synth: %s", ladder_last_error());
    enum { N = 40 };
    int ids[N];
    for (int i = 0; i < N; i++) ids[i] = 2 + (i * 7919) % (c.vocab_size - 2);
    float *nat = malloc(sizeof(float) * (size_t)N * c.vocab_size);
    const ladder_info *in_nat;
    ladder_engine *e_nat = NULL;
    CHECK(logits(dir, "ref", LADDER_FORMATS_NATIVE, ids, N, nat, &in_nat, &e_nat) == 0, "ref native: %s",
          ladder_last_error());
    path_end_to_end(dir, &c, LADDER_FORMATS_BF16, ids, N, nat, e_nat ? in_nat : NULL);
    path_end_to_end(dir, &c, LADDER_FORMATS_W8A8, ids, N, nat, e_nat ? in_nat : NULL);
    ladder_engine_close(e_nat);
    ladder_engine_opts bad = {.backend = "ref", .formats = (ladder_formats)7};
    ladder_engine *e;
    CHECK(ladder_engine_open(dir, &bad, &e) != 0 && strstr(ladder_last_error(), "format path"), "bad path: %s",
          ladder_last_error());
    ladder_formats f;
    CHECK(ladder_formats_parse("bf16", &f) == 0 && f == LADDER_FORMATS_BF16, "parse bf16");
    CHECK(ladder_formats_parse("w8a8", &f) == 0 && f == LADDER_FORMATS_W8A8, "parse w8a8");
    CHECK(ladder_formats_parse("int3", &f) != 0 && strstr(ladder_last_error(), "native, bf16, w8a8"), "parse: %s",
          ladder_last_error());
    free(nat);
}

int main(void) {
    conversions();
    end_to_end();
    return test_summary("formats");
}
