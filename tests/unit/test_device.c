/* A backend with its own memory (opencl) through the public API, on a
 * synthetic checkpoint: logits bit-identical run to run and for a sequence
 * decoded alone or inside a batch of 4; what crosses the bus per decode step
 * stays within the logits row and the call's small inputs; close to cpu.
 * Skips (77) when no OpenCL device is usable. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ladder.h"
#include "model/synth.h"
#include "testutil.h"

#define PROMPT 24
#define STEPS 12

/* Prefill PROMPT tokens, then STEPS decode steps on given tokens; every
 * row of logits into out [(1 + STEPS), V]. Optionally decoded inside a batch
 * of 4 (the sequence at position 2, the others on their own tokens). */
static int run(ladder_engine *e, int batched, const int *toks, float *out, ladder_stats *step) {
    int V = ladder_engine_info(e)->vocab_size, rc = -1;
    ladder_session *s[4] = {0};
    float *lg = malloc(sizeof(float) * (size_t)V * 4);
    int B = batched ? 4 : 1, me = batched ? 2 : 0;
    ladder_session_opts so = {.context = PROMPT + STEPS + 8};
    for (int b = 0; b < B; b++)
        if (ladder_session_new(e, &so, &s[b])) goto out;
    for (int b = 0; b < B; b++) {
        const int *p = b == me ? toks : toks + 3 + b;
        if (ladder_eval(s[b], p, b == me ? PROMPT : PROMPT - b, LADDER_LOGITS_LAST, lg, NULL)) goto out;
        if (b == me) memcpy(out, lg, sizeof(float) * (size_t)V);
    }
    for (int t = 0; t < STEPS; t++) {
        int ti[4];
        const int *ip[4];
        int ones[4] = {1, 1, 1, 1};
        for (int b = 0; b < B; b++) ti[b] = b == me ? toks[PROMPT + t] : (t * 13 + b * 7) % V, ip[b] = &ti[b];
        if (ladder_eval_batch(s, ip, ones, B, lg, step)) goto out;
        memcpy(out + (long)(t + 1) * V, lg + (long)me * V, sizeof(float) * (size_t)V);
    }
    rc = 0;
out:
    for (int b = 0; b < B; b++) ladder_session_free(s[b]);
    free(lg);
    return rc;
}

int main(void) {
    if (!ladder_backend_usable("opencl")) {
        printf("skipped: no usable OpenCL device (or the opencl backend is not built)\n");
        return 77;
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/device-tiny", test_tmp_dir());
    ld_config cfg;
    ld_synth_preset("tiny", &cfg);
    ld_synth_opts so = {.seed = 5};
    if (ld_synth_write(&cfg, dir, &so)) { CHECK(0, "synth failed"); return test_summary("device"); }

    ladder_engine *dev = NULL, *cpu = NULL;
    ladder_engine_opts od = {.backend = "opencl"}, oc = {.backend = "cpu", .threads = 2};
    CHECK(ladder_engine_open(dir, &od, &dev) == 0, "open opencl: %s", ladder_last_error());
    CHECK(ladder_engine_open(dir, &oc, &cpu) == 0, "open cpu: %s", ladder_last_error());
    if (!dev || !cpu) return test_summary("device");
    int V = ladder_engine_info(dev)->vocab_size, toks[PROMPT + STEPS];
    for (int i = 0; i < PROMPT + STEPS; i++) toks[i] = 1 + (i * 131 + 7) % (V - 1);
    long n = (long)(1 + STEPS) * V;
    float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n),
          *c = malloc(sizeof(float) * (size_t)n), *r = malloc(sizeof(float) * (size_t)n);
    ladder_stats st = {0};
    CHECK(run(dev, 0, toks, a, &st) == 0, "alone: %s", ladder_last_error());
    /* one decode step: the ids and RoPE rows down, one logits row up */
    double bound = 2.0 * V * 4 + 65536;
    CHECK(st.d2h_bytes >= (uint64_t)V * 4 && st.h2d_bytes > 0 && (double)(st.h2d_bytes + st.d2h_bytes) <= bound,
          "bus per decode step: %llu down + %llu up, bound %.0f", (unsigned long long)st.h2d_bytes,
          (unsigned long long)st.d2h_bytes, bound);
    CHECK(st.weight_bytes > 0 && st.scratch_peak_bytes > 0, "device stats");
    CHECK(run(dev, 0, toks, b, NULL) == 0, "again: %s", ladder_last_error());
    CHECK(!memcmp(a, b, sizeof(float) * (size_t)n), "two runs of the same sequence differ");
    CHECK(run(dev, 1, toks, c, NULL) == 0, "batched: %s", ladder_last_error());
    int diff = 0;
    for (int t = 0; t <= STEPS; t++) diff += memcmp(a + (long)t * V, c + (long)t * V, sizeof(float) * (size_t)V) != 0;
    CHECK(diff == 0, "%d of %d rows differ alone vs in a batch of 4", diff, STEPS + 1);
    /* close to cpu: fp32 sums in other orders, FP8 requantization between */
    CHECK(run(cpu, 0, toks, r, NULL) == 0, "cpu: %s", ladder_last_error());
    double num = 0, den = 0;
    int top1 = 0;
    for (int t = 0; t <= STEPS; t++) {
        int ia = 0, ir = 0;
        for (int v = 0; v < V; v++) {
            double x = a[(long)t * V + v], y = r[(long)t * V + v];
            num += (x - y) * (x - y), den += y * y;
            if (a[(long)t * V + v] > a[(long)t * V + ia]) ia = v;
            if (r[(long)t * V + v] > r[(long)t * V + ir]) ir = v;
        }
        top1 += ia == ir;
    }
    CHECK(num <= 1e-2 * den && top1 >= STEPS / 2, "opencl vs cpu: rel. error %.3g, top-1 %d/%d", sqrt(num / den), top1,
          STEPS + 1);
    free(a), free(b), free(c), free(r);
    ladder_engine_close(dev);
    ladder_engine_close(cpu);
    return test_summary("device");
}
