/* ladder bench: speed of a backend on a checkpoint, each figure next to its
 * roofline measured in the same run (the measurements: src/bench/bench.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "bench/bench.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

static const char *usage =
    "usage: ladder bench -m DIR [-b BACKEND] [--threads N] [--batch B[,B...]] [--json FILE]\n"
    "                    [--decode N] [--contexts C[,C...]] [--prefill N] [--batch-steps N] [--mmap]\n"
    "                    [--probe-history FILE|none]\n"
    "  Measures, in one run: read bandwidth and peak FMA throughput of this machine; the\n"
    "  backend's linears alone per weight format, on the weights one decoded token reads (1 and\n"
    "  8 activation rows), again on a 4 MB slice of one of them that stays in cache (the\n"
    "  kernels' own ceiling, without memory), and again pass for pass against a plain read of\n"
    "  as many bytes (a ratio the bandwidth's swings leave alone); decode tok/s after a\n"
    "  64-token prompt (N decoded tokens, default 128) and after longer contexts (default\n"
    "  1024; 32 decoded tokens each), each step also against a plain read of the bytes it read;\n"
    "  prefill tok/s of a 512-token prompt and the scratch memory it held at its peak;\n"
    "  batched decode tok/s for B sequences (default 1,4,8), each with its speed-up over\n"
    "  B = 1 when that ran first, else over the single-sequence decode, and the speed-up the\n"
    "  weight bytes allow (B times the bytes a\n"
    "  one-sequence step reads, over the bytes a B-sequence step reads: the sequences route to\n"
    "  different experts). Each figure is also given as a fraction of its roofline, measured\n"
    "  again right after it: the higher of the measurements before and after counts. A backend\n"
    "  with device memory also reports the bytes crossing the bus per decoded token. Greedy\n"
    "  decoding; the prompt is a fixed pseudo-random token sequence. -b defaults to the\n"
    "  engine's backend (the fastest this machine runs); --threads to LADDER_THREADS,\n"
    "  else all online CPUs (capped to them; no short form: -t is generate's tokenizer).\n"
    "  --json FILE is written under a temporary name and renamed when complete. Weights\n"
    "  are copied into memory when they fit (streaming them from the\n"
    "  file mapping is slower); --mmap keeps them mapped.\n"
    "  A shared machine's read bandwidth alternates between congested and quiet modes over\n"
    "  minutes, and a decode that is not bandwidth-bound looks close to its roofline in the\n"
    "  congested one. So the best probe seen per thread count is kept in --probe-history\n"
    "  (default $XDG_CACHE_HOME/ladder/bench-probes.json, else ~/.cache/ladder/...; none:\n"
    "  not kept), and each decode and batched figure says whether its probe was at least\n"
    "  80% of that best: only then does it count.\n";

/* The probe history: {"read_bw_best_Bps": {"THREADS": bytes/s, ...}}. */
static const char *history_path(const char *given, char *buf, size_t n) {
    if (given) return strcmp(given, "none") ? given : NULL;
    const char *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    if (x && *x) snprintf(buf, n, "%s/ladder/bench-probes.json", x);
    else if (h && *h) snprintf(buf, n, "%s/.cache/ladder/bench-probes.json", h);
    else return NULL;
    return buf;
}

static cJSON *history_read(const char *path) {
    FILE *f = path ? fopen(path, "rb") : NULL;
    char buf[8192];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    cJSON *j = n ? cJSON_ParseWithLength(buf, n) : NULL;
    if (f && !cJSON_IsObject(j)) fprintf(stderr, "bench: note: %s is not a probe history; starting a new one\n", path);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        j = cJSON_CreateObject();
    }
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "read_bw_best_Bps"))) {
        cJSON_DeleteItemFromObjectCaseSensitive(j, "read_bw_best_Bps");
        cJSON_AddObjectToObject(j, "read_bw_best_Bps");
    }
    return j;
}

static void history_write(const char *path, cJSON *j) {
    char dir[4200], tmp[4300];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; (p = strchr(p, '/')); *p++ = '/') { /* mkdir -p of its folder */
        *p = 0;
        mkdir(dir, 0755);
    }
    char *t = cJSON_Print(j);
    FILE *f = t && !cli_tmp_path(path, tmp, sizeof tmp) ? fopen(tmp, "wb") : NULL;
    int ok = f && fputs(t, f) >= 0;
    if (f) ok = !fclose(f) && ok;
    if (!f || cli_commit(tmp, path, ok) || !ok)
        fprintf(stderr, "bench: note: could not record the probe in %s\n", path);
    free(t);
}

static void progress(void *ctx, const char *what) {
    (void)ctx;
    fprintf(stderr, "bench: measuring %s...\n", what);
}

/* Whether a figure's bandwidth probe lets it count (bench.h: BENCH_QUALIFY). */
static const char *counts(const bench_report *r, double bw, char *buf, size_t n) {
    double f = bench_vs_best(r, bw);
    if (f >= BENCH_QUALIFY) snprintf(buf, n, " [probe %.0f%% of the best so far: counts]", 100 * f);
    else snprintf(buf, n, " [probe %.0f%% of the best so far: congested, does not count]", 100 * f);
    return buf;
}

static void result(void *ctx, const bench_report *r, bench_section sec, int i) {
    char note[96];
    (void)ctx;
    if (sec == BENCH_MACHINE) {
        printf("machine   read bandwidth %.2f GB/s, peak fp32 FMA %.1f GFLOP/s (%s), %d thread(s)\n", r->read_bw / 1e9,
               r->peak_flops / 1e9, r->fma_isa, r->threads);
        if (r->best_bw > r->read_bw)
            printf("          best probe seen on this machine with %d thread(s): %.2f GB/s; this one is %.0f%% of it "
                   "(figures count at %.0f%% or more)\n",
                   r->threads, r->best_bw / 1e9, 100 * r->read_bw / r->best_bw, 100 * BENCH_QUALIFY);
        else
            printf("          the best probe seen on this machine with %d thread(s) so far; figures count when their "
                   "probe is at least %.0f%% of the best\n", r->threads, 100 * BENCH_QUALIFY);
        printf("backend   %s%s%s, weights %s\n", r->backend, r->cpu_isa ? " / " : "", r->cpu_isa ? r->cpu_isa : "",
               r->weights_resident ? "in memory" : "mapped from the files");
    } else if (sec == BENCH_LINEAR) {
        const bench_linear_rate *l = &r->linears[i];
        double bps = l->bytes / l->seconds, fl = 2 * l->macs / l->seconds, cbps = l->cached_bytes / l->cached_seconds;
        printf("linear    %-4s x %d row%s: %6.2f GB/s of weights (%5.1f%% of read bandwidth), %6.1f GFLOP/s (%4.1f%% of peak); "
               "from cache %6.2f GB/s (%5.1f%%); %.2fx a plain read of as many bytes, pass for pass\n",
               l->format, l->rows, l->rows > 1 ? "s" : " ", bps / 1e9, 100 * bps / l->read_bw, fl / 1e9,
               100 * fl / r->peak_flops, cbps / 1e9, 100 * cbps / l->read_bw, l->paired_ratio);
    } else if (sec == BENCH_DECODE) {
        const bench_decode *d = &r->decode[i];
        printf("decode    context %6d: %7.2f tok/s, %.3f GB weights/token, roofline %.2f tok/s (%.1f GB/s) -> %.1f%% of roofline%s\n",
               d->context, d->tok_per_s, d->bytes_per_token / 1e9, d->roofline_tok_per_s, d->read_bw / 1e9, 100 * d->fraction,
               counts(r, d->read_bw, note, sizeof note));
        if (d->paired_ratio > 0)
            printf("          step for step against a plain read of its bytes: %.1f%% of the read's speed\n",
                   100 * d->paired_ratio);
        if (d->h2d_per_token + d->d2h_per_token > 0)
            printf("          bus per token: %.0f B host->device, %.0f B device->host (bound %.0f B: %s)\n",
                   d->h2d_per_token, d->d2h_per_token, d->transfer_bound,
                   d->h2d_per_token + d->d2h_per_token <= d->transfer_bound ? "within" : "EXCEEDED");
    } else if (sec == BENCH_PREFILL) {
        const bench_prefill *p = &r->prefill;
        printf("prefill   %d tokens: %7.2f tok/s, %.1f GFLOP/s -> %.1f%% of peak FMA (%.1f GFLOP/s); scratch peak %.1f MB\n",
               p->tokens, p->tok_per_s, p->flops / 1e9, 100 * p->fraction, p->peak_flops / 1e9, p->scratch_peak / 1e6);
    } else {
        const bench_batched *b = &r->batched[i];
        printf("batched   B = %2d: %7.2f tok/s (%.2fx %s, %.2fx by bytes read), %.3f GB weights/step, roofline %.2f tok/s (%.1f GB/s) -> %.1f%%%s\n",
               b->batch, b->tok_per_s, b->speedup, b->speedup_reference, b->speedup_bytes_bound, b->bytes_per_step / 1e9,
               b->roofline_tok_per_s, b->read_bw / 1e9, 100 * b->fraction, counts(r, b->read_bw, note, sizeof note));
    }
    fflush(stdout);
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
    const char *dir = NULL, *bk = NULL, *json = NULL, *hist_arg = NULL;
    long threads = -1, decode_n = 128, prefill_n = 512, batch_steps = 32;
    int use_mmap = 0;
    bench_opts bo = {.progress = progress, .result = result};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage, stdout); return 0; }
        if (!strcmp(a, "--mmap")) { use_mmap = 1; continue; }
        if (!(v = cli_value("bench", argc, argv, &i))) return 2;
        if (!strcmp(a, "-m")) dir = v;
        else if (!strcmp(a, "-b") || !strcmp(a, "--backend")) bk = v;
        else if (!strcmp(a, "--json")) json = v;
        else if (!strcmp(a, "--probe-history")) hist_arg = v;
        else if (!strcmp(a, "--threads")) { if (cli_int(v, 1, 4096, &threads)) return cli_usage("bench", "--threads: '%s' is not a thread count in [1, 4096]", v); }
        else if (!strcmp(a, "-t")) return cli_usage("bench", "-t is not a bench option: the thread count is --threads (-t is generate's tokenizer)");
        else if (!strcmp(a, "--decode")) { if (cli_int(v, 1, 1 << 20, &decode_n)) return cli_usage("bench", "--decode: bad count '%s'", v); }
        else if (!strcmp(a, "--prefill")) { if (cli_int(v, 1, 1 << 20, &prefill_n)) return cli_usage("bench", "--prefill: bad count '%s'", v); }
        else if (!strcmp(a, "--batch-steps")) { if (cli_int(v, 1, 1 << 20, &batch_steps)) return cli_usage("bench", "--batch-steps: bad count '%s'", v); }
        else if (!strcmp(a, "--batch")) { if ((bo.n_batches = parse_list(v, bo.batches, BENCH_MAX_LIST)) < 0) return cli_usage("bench", "--batch: bad list '%s'", v); }
        else if (!strcmp(a, "--contexts")) { if ((bo.n_contexts = parse_list(v, bo.contexts, BENCH_MAX_LIST)) < 0) return cli_usage("bench", "--contexts: bad list '%s'", v); }
        else return cli_usage("bench", "unknown option '%s' (see --help)", a);
    }
    if (!dir) return cli_usage("bench", "-m DIR is required");
    bo.decode_tokens = (int)decode_n, bo.prefill_tokens = (int)prefill_n, bo.batch_steps = (int)batch_steps;
    ladder_engine_opts eo = cli_engine_opts(bk, use_mmap);
    if (threads > 0) eo.threads = cli_cap_threads("ladder bench", "--threads", (int)threads);
    char jtmp[4200];
    FILE *jf = json ? cli_out_open(json, jtmp, sizeof jtmp) : NULL;
    if (json && !jf) return cli_fail("bench", "--json %s", ladder_last_error());
    ladder_engine *e;
    if (cli_open_engine("bench", dir, &eo, &e)) { if (jf) cli_out_close(jf, jtmp, json, 0); return 1; }
    char hbuf[4200], key[16];
    const char *hist = history_path(hist_arg, hbuf, sizeof hbuf);
    cJSON *h = hist ? history_read(hist) : NULL, *best = h ? cJSON_GetObjectItemCaseSensitive(h, "read_bw_best_Bps") : NULL;
    snprintf(key, sizeof key, "%d", ladder_engine_info(e)->threads);
    cJSON *b = best ? cJSON_GetObjectItemCaseSensitive(best, key) : NULL;
    bo.best_bw = cJSON_IsNumber(b) ? b->valuedouble : 0;
    bench_report rep;
    int rc = 0;
    int ran = !bench_run(e, &bo, &rep);
    if (ran && h && rep.best_bw > bo.best_bw) {
        cJSON_DeleteItemFromObjectCaseSensitive(best, key);
        cJSON_AddNumberToObject(best, key, rep.best_bw);
        history_write(hist, h);
    }
    cJSON_Delete(h);
    if (!ran || (jf && bench_write_json(jf, dir, &rep))) rc = cli_fail("bench", "%s", ladder_last_error());
    if (jf && cli_out_close(jf, jtmp, json, !rc) && !rc) rc = cli_fail("bench", "%s", ladder_last_error());
    ladder_engine_close(e);
    return rc;
}
