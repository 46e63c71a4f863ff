/* ladder bench: speed of a backend on a checkpoint, each figure next to its
 * roofline measured in the same run (these machines are shared and noisy,
 * so absolute numbers from different runs do not compare; ratios do).
 *
 *   decode   tok/s vs  read bandwidth / weight bytes actually read per token
 *   prefill  FLOP/s vs  peak FMA throughput
 *   batched  tok/s for B sequences decoded together, and the gain over B = 1 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu_api.h"
#include "core/error.h"
#include "model/session.h"
#include "runtime/generate.h"
#include "runtime/sampler.h"
#include "bench/bench_linears.h"
#include "tools/cli_util.h"
#include "tools/commands.h"
#include "bench/roofline.h"

static const char *usage =
    "usage: ladder bench -m DIR [-b BACKEND] [-t THREADS] [--batch B[,B...]] [--json FILE]\n"
    "                    [--decode N] [--contexts C[,C...]] [--prefill N] [--batch-steps N] [--mmap]\n"
    "  Measures, in one run: read bandwidth and peak FMA throughput of this machine; the\n"
    "  backend's linears alone per weight format, on the weights one decoded token reads (1 and\n"
    "  8 activation rows), and again on a 4 MB slice of one of them that stays in cache (the\n"
    "  kernels' own ceiling, without memory); decode tok/s after a 64-token prompt (N decoded\n"
    "  tokens, default 128) and after longer contexts (default 1024; 32 decoded tokens each);\n"
    "  prefill tok/s of a 512-token prompt; batched decode tok/s for B sequences (default\n"
    "  1,4,8), each with its speed-up over B = 1 when that ran first, else over the\n"
    "  single-sequence decode, and the speed-up the weight bytes allow (B times the bytes a\n"
    "  one-sequence step reads, over the bytes a B-sequence step reads: the sequences route to\n"
    "  different experts). Each figure is also given as a fraction of its roofline, measured\n"
    "  again right after it: the higher of the measurements before and after counts. Greedy\n"
    "  decoding; the prompt is a fixed pseudo-random token sequence. -b defaults to cpu; -t to\n"
    "  all online CPUs. Weights are copied into memory when they fit (streaming them from the\n"
    "  file mapping is slower); --mmap keeps them mapped.\n";

typedef struct {
    double bw, peak;
    const char *fma_isa;
} machine_t;

/* The machine's bandwidth drifts by tens of percent over minutes on shared
 * hosts, so each run is bracketed by a measurement just before and just
 * after it, and its roofline uses the higher of the two: a momentarily slow
 * measurement never inflates a fraction. */
static double bracket_bw(int T, double *last) {
    double now = ld_measure_read_bw(T, (size_t)1 << 30), bw = now > *last ? now : *last;
    *last = now;
    return bw;
}

static int *prompt_ids(int n, int vocab, int seed) {
    int *p = malloc(sizeof(int) * (size_t)(n ? n : 1));
    uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(seed + 1);
    for (int i = 0; i < n; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        p[i] = i == 0 ? 0 : 2 + (int)(s % (uint64_t)(vocab - 2));
    }
    return p;
}

/* Prefill `ctx` tokens, then decode `steps` greedy tokens; returns tok/s and
 * the weight bytes per decoded token. */
static int decode_run(ld_model *m, int ctx, int steps, double *tps, double *bytes_per_tok, double *prefill_s) {
    ld_session s;
    if (ld_session_init(&s, m)) return -1;
    int V = m->cfg.vocab_size, *p = prompt_ids(ctx, V, ctx), rc = -1;
    float *lg = malloc(sizeof(float) * (size_t)V);
    double t0 = ld_now();
    for (int i = 0; i < ctx; i += 512) /* chunks of >= one window: same bits as one shot */
        if (ld_session_eval(&s, p + i, ctx - i < 512 ? ctx - i : 512, lg)) goto out;
    *prefill_s = ld_now() - t0;
    ld_traffic tr = {0};
    m->traffic = &tr;
    t0 = ld_now();
    for (int k = 0; k < steps; k++) {
        int tok = ld_argmax(lg, V);
        if (ld_session_eval(&s, &tok, 1, lg)) goto out;
    }
    double dt = ld_now() - t0;
    *tps = steps / dt;
    *bytes_per_tok = tr.weight_bytes / steps;
    rc = 0;
out:
    m->traffic = NULL;
    free(lg);
    free(p);
    ld_session_free(&s);
    return rc;
}

static int prefill_run(ld_model *m, int n, double *tps, double *flops) {
    ld_session s;
    if (ld_session_init(&s, m)) return -1;
    int *p = prompt_ids(n, m->cfg.vocab_size, 7), rc;
    ld_traffic tr = {0};
    m->traffic = &tr;
    double t0 = ld_now();
    rc = ld_session_eval(&s, p, n, NULL);
    double dt = ld_now() - t0;
    m->traffic = NULL;
    *tps = n / dt;
    *flops = 2 * tr.macs / dt;
    free(p);
    ld_session_free(&s);
    return rc;
}

static int batch_run(ld_model *m, int B, int steps, double *tps, double *bytes_per_step) {
    int V = m->cfg.vocab_size, rc = -1;
    ld_session *ss = calloc((size_t)B, sizeof *ss), **sp = calloc((size_t)B, sizeof *sp);
    int *tok = calloc((size_t)B, sizeof(int)), *ones = calloc((size_t)B, sizeof(int));
    const int **ip = calloc((size_t)B, sizeof *ip);
    float *lg = malloc(sizeof(float) * (size_t)V * B);
    ld_traffic tr = {0};
    int inited = 0;
    for (int b = 0; b < B; b++, inited++) {
        if (ld_session_init(&ss[b], m)) goto out;
        int *p = prompt_ids(64, V, 100 + b);
        int r = ld_session_eval(&ss[b], p, 64, lg + (long)b * V);
        free(p);
        if (r) goto out;
        sp[b] = &ss[b];
        ip[b] = &tok[b];
        ones[b] = 1;
    }
    m->traffic = &tr;
    double t0 = ld_now();
    for (int k = 0; k < steps; k++) {
        for (int b = 0; b < B; b++) tok[b] = ld_argmax(lg + (long)b * V, V);
        if (ld_batch_eval(sp, ip, ones, B, lg)) goto out;
    }
    double dt = ld_now() - t0;
    *tps = (double)B * steps / dt;
    *bytes_per_step = tr.weight_bytes / steps;
    rc = 0;
out:
    m->traffic = NULL;
    for (int b = 0; b < inited; b++) ld_session_free(&ss[b]);
    free(ss); free(sp); free(tok); free(ones); free(ip); free(lg);
    return rc;
}

static int parse_list(const char *s, int *out, int max) {
    int n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
        long v;
        if (n == max || cli_int(t, 1, 1 << 20, &v)) return -1;
        out[n++] = (int)v;
    }
    return n;
}

int cmd_bench(int argc, char **argv) {
    const char *dir = NULL, *bk = "cpu", *json = NULL;
    long threads = 0, decode_n = 128, prefill_n = 512, batch_steps = 32;
    int batches[8] = {1, 4, 8}, nb = 3, ctxs[8] = {1024}, nc = 1, use_mmap = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage, stdout); return 0; }
        if (!strcmp(a, "--mmap")) { use_mmap = 1; continue; }
        if (!(v = cli_value("bench", argc, argv, &i))) return 1;
        if (!strcmp(a, "-m")) dir = v;
        else if (!strcmp(a, "-b") || !strcmp(a, "--backend")) bk = v;
        else if (!strcmp(a, "--json")) json = v;
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { if (cli_int(v, 1, 256, &threads)) return cli_fail("bench", "-t: bad thread count '%s'", v); }
        else if (!strcmp(a, "--decode")) { if (cli_int(v, 1, 1 << 20, &decode_n)) return cli_fail("bench", "--decode: bad count '%s'", v); }
        else if (!strcmp(a, "--prefill")) { if (cli_int(v, 1, 1 << 20, &prefill_n)) return cli_fail("bench", "--prefill: bad count '%s'", v); }
        else if (!strcmp(a, "--batch-steps")) { if (cli_int(v, 1, 1 << 20, &batch_steps)) return cli_fail("bench", "--batch-steps: bad count '%s'", v); }
        else if (!strcmp(a, "--batch")) { if ((nb = parse_list(v, batches, 8)) < 0) return cli_fail("bench", "--batch: bad list '%s'", v); }
        else if (!strcmp(a, "--contexts")) { if ((nc = parse_list(v, ctxs, 8)) < 0) return cli_fail("bench", "--contexts: bad list '%s'", v); }
        else return cli_fail("bench", "unknown option '%s' (see --help)", a);
    }
    if (!dir) return cli_fail("bench", "-m DIR is required");
    const ld_backend_ops *ops = ld_backend_find(bk);
    if (!ops) return cli_fail("bench", "unknown or unusable backend '%s'", bk);
    if (threads) cli_backend.threads = (int)threads;
    ld_model m;
    if (cli_load_model("bench", dir, ops, use_mmap, &m)) return 1;
    int T = !strcmp(bk, "cpu") ? ld_cpu_instance_threads(m.be) : 1;

    machine_t mc;
    fprintf(stderr, "bench: measuring read bandwidth and peak FMA with %d thread(s)...\n", T);
    mc.bw = ld_measure_read_bw(T, (size_t)1 << 30);
    mc.peak = ld_measure_peak_fma(T, &mc.fma_isa);
    printf("machine   read bandwidth %.2f GB/s, peak fp32 FMA %.1f GFLOP/s (%s), %d thread(s)\n", mc.bw / 1e9,
           mc.peak / 1e9, mc.fma_isa, T);
    printf("backend   %s%s%s, weights %s\n", ops->name, !strcmp(bk, "cpu") ? " / " : "", !strcmp(bk, "cpu") ? ld_cpu_instance_isa(m.be) : "",
           m.resident ? "in memory" : "mapped from the files");

    FILE *jf = json ? fopen(json, "w") : NULL;
    if (json && !jf) { ld_model_free(&m); return cli_fail("bench", "%s: cannot create", json); }
    if (jf) fprintf(jf, "{\n  \"model\": \"%s\", \"backend\": \"%s\", \"threads\": %d,\n  \"read_bw_Bps\": %.4g, \"peak_flops\": %.4g,\n  \"linears\": [", dir, ops->name, T, mc.bw, mc.peak);
    int rc = 1;
    double last_bw = mc.bw, last_peak = mc.peak;
    {
        /* the kernels alone, on the weights one decoded token reads */
        int rows[2] = {1, 8};
        bench_linear_rate lr[6];
        fprintf(stderr, "bench: linears per weight format, 1 and 8 rows...\n");
        int n = bench_linear_rates(&m, rows, 2, lr);
        if (n < 0) goto out;
        double bw = bracket_bw(T, &last_bw);
        for (int i = 0; i < n; i++) {
            double bps = lr[i].bytes / lr[i].seconds, fl = 2 * lr[i].macs / lr[i].seconds;
            double cbps = lr[i].cached_bytes / lr[i].cached_seconds;
            printf("linear    %-4s x %d row%s: %6.2f GB/s of weights (%5.1f%% of read bandwidth), %6.1f GFLOP/s (%4.1f%% of peak); "
                   "from cache %6.2f GB/s (%5.1f%%)\n",
                   lr[i].format, lr[i].rows, lr[i].rows > 1 ? "s" : " ", bps / 1e9, 100 * bps / bw, fl / 1e9, 100 * fl / mc.peak,
                   cbps / 1e9, 100 * cbps / bw);
            if (jf) fprintf(jf, "%s\n    {\"format\": \"%s\", \"rows\": %d, \"weight_bytes\": %.6g, \"seconds\": %.6g, \"read_bw_Bps\": %.4g, \"bw_fraction\": %.4f, \"flops_fraction\": %.4f, "
                                "\"cached_weight_bytes\": %.6g, \"cached_seconds\": %.6g}",
                            i ? "," : "", lr[i].format, lr[i].rows, lr[i].bytes, lr[i].seconds, bw, bps / bw, fl / mc.peak,
                            lr[i].cached_bytes, lr[i].cached_seconds);
        }
        if (jf) fprintf(jf, "\n  ],\n  \"decode\": [");
    }
    /* decode after a short prompt, then at longer contexts */
    int all_ctx[9] = {64}, nctx = 1;
    for (int i = 0; i < nc; i++) all_ctx[nctx++] = ctxs[i];
    double tps1 = 0, dec64 = 0, bytes1 = 0, bytes64 = 0;
    for (int i = 0; i < nctx; i++) {
        int steps = i == 0 ? (int)decode_n : 32;
        double tps, bpt, pre_s;
        fprintf(stderr, "bench: decode, context %d, %d tokens...\n", all_ctx[i], steps);
        if (decode_run(&m, all_ctx[i], steps, &tps, &bpt, &pre_s)) goto out;
        if (i == 0) dec64 = tps, bytes64 = bpt;
        double bw = bracket_bw(T, &last_bw), roof = bw / bpt;
        printf("decode    context %6d: %7.2f tok/s, %.3f GB weights/token, roofline %.2f tok/s (%.1f GB/s) -> %.1f%% of roofline\n",
               all_ctx[i], tps, bpt / 1e9, roof, bw / 1e9, 100 * tps / roof);
        if (jf) fprintf(jf, "%s\n    {\"context\": %d, \"tokens\": %d, \"tok_per_s\": %.4g, \"weight_bytes_per_token\": %.6g, \"read_bw_Bps\": %.4g, \"roofline_tok_per_s\": %.4g, \"fraction\": %.4f}",
                        i ? "," : "", all_ctx[i], steps, tps, bpt, bw, roof, tps / roof);
    }
    {
        double tps, fl;
        fprintf(stderr, "bench: prefill of %ld tokens...\n", prefill_n);
        if (prefill_run(&m, (int)prefill_n, &tps, &fl)) goto out;
        const char *isa;
        double now = ld_measure_peak_fma(T, &isa), peak = now > last_peak ? now : last_peak;
        last_peak = now;
        printf("prefill   %ld tokens: %7.2f tok/s, %.1f GFLOP/s -> %.1f%% of peak FMA (%.1f GFLOP/s)\n", prefill_n, tps,
               fl / 1e9, 100 * fl / peak, peak / 1e9);
        if (jf) fprintf(jf, "\n  ],\n  \"prefill\": {\"tokens\": %ld, \"tok_per_s\": %.4g, \"flops\": %.4g, \"peak_flops\": %.4g, \"fraction\": %.4f},\n  \"batched\": [", prefill_n, tps, fl, peak, fl / peak);
    }
    for (int i = 0; i < nb; i++) {
        double tps, bps;
        fprintf(stderr, "bench: batched decode, B = %d...\n", batches[i]);
        if (batch_run(&m, batches[i], (int)batch_steps, &tps, &bps)) goto out;
        if (batches[i] == 1) tps1 = tps, bytes1 = bps;
        /* the speed-up is against the B = 1 batched run when it came first,
           else against the single-sequence decode above (same 64-token prompt) */
        int have1 = tps1 > 0;
        double ref = have1 ? tps1 : dec64, ref_bytes = have1 ? bytes1 : bytes64;
        const char *ref_name = have1 ? "B=1" : "decode";
        double bw = bracket_bw(T, &last_bw), roof = bw / bps * batches[i];
        /* the speed-up reachable if both runs streamed their weights equally
           well: B sequences over the growth of the bytes a step reads (each
           sequence routes to its own experts) */
        double bound = batches[i] * ref_bytes / bps;
        printf("batched   B = %2d: %7.2f tok/s (%.2fx %s, %.2fx by bytes read), %.3f GB weights/step, roofline %.2f tok/s (%.1f GB/s) -> %.1f%%\n",
               batches[i], tps, tps / ref, ref_name, bound, bps / 1e9, roof, bw / 1e9, 100 * tps / roof);
        if (jf) fprintf(jf, "%s\n    {\"batch\": %d, \"tok_per_s\": %.4g, \"speedup_vs_1\": %.4g, \"speedup_reference\": \"%s\", \"speedup_bytes_bound\": %.4g, \"weight_bytes_per_step\": %.6g, \"read_bw_Bps\": %.4g, \"fraction\": %.4f}",
                        i ? "," : "", batches[i], tps, tps / ref, ref_name, bound, bps, bw, tps / roof);
    }
    if (jf) fprintf(jf, "\n  ]\n}\n");
    rc = 0;
out:
    if (rc) cli_fail("bench", "%s", ld_last_error());
    if (jf) fclose(jf);
    ld_model_free(&m);
    return rc;
}
