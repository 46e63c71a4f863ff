/* The benchmark's measurement loops (see bench.h). Decode, prefill and
 * batched runs go through the public API and its per-call accounting; only
 * the linear rates reach below it, for the raw weights. Greedy decoding;
 * prompts are fixed pseudo-random token sequences. */
#include "bench/bench.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_linears.h"
#include "bench/roofline.h"
#include "core/error.h"
#include "model/engine.h"
#include "runtime/generate.h"
#include "runtime/sampler.h"

/* The machine's bandwidth drifts by tens of percent over minutes on shared
 * hosts, so each run is bracketed by a measurement just before and just
 * after it, and its roofline uses the higher of the two: a momentarily slow
 * measurement never inflates a fraction. */
static double bracket_bw(int T, double *last, bench_report *r) {
    double now = ld_measure_read_bw(T, (size_t)1 << 30), bw = now > *last ? now : *last;
    *last = now;
    if (now > r->best_bw) r->best_bw = now;
    return bw;
}

double bench_vs_best(const bench_report *r, double bw) { return r->best_bw > 0 ? bw / r->best_bw : 1; }

static int *prompt_ids(int n, int vocab, int seed) {
    int *p = malloc(sizeof(int) * (size_t)(n ? n : 1));
    uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(seed + 1);
    for (int i = 0; p && i < n; i++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        p[i] = i == 0 ? 0 : 2 + (int)(s % (uint64_t)(vocab - 2));
    }
    return p;
}

/* Prefill `ctx` tokens, then decode `steps` greedy tokens; tok/s and the
 * weight bytes per decoded token. */
static int decode_run(ladder_engine *e, int ctx, int steps, int threads, double *tps, double *bytes_per_tok,
                      double *h2d, double *d2h, double *paired) {
    int V = ladder_engine_info(e)->vocab_size, rc = -1;
    ladder_session *s = NULL;
    char *buf = NULL;
    size_t cap = 0;
    int *p = prompt_ids(ctx, V, ctx);
    float *lg = malloc(sizeof(float) * (size_t)V);
    if (!p || !lg) { ld_set_error("out of memory"); goto out; }
    ladder_session_opts so = {.context = ctx + steps};
    if (ladder_session_new(e, &so, &s)) goto out;
    for (int i = 0; i < ctx; i += 512) /* chunks of >= one window: same bits as one shot */
        if (ladder_eval(s, p + i, ctx - i < 512 ? ctx - i : 512, LADDER_LOGITS_LAST, lg, NULL)) goto out;
    double bytes = 0, up = 0, down = 0, t_steps = 0, t_read = 0, t_paired = 0;
    for (int k = 0; k < steps; k++) {
        int tok = ld_argmax(lg, V);
        ladder_stats st;
        double t0 = ld_now();
        if (ladder_eval(s, &tok, 1, LADDER_LOGITS_LAST, lg, &st)) goto out;
        double dt = ld_now() - t0;
        t_steps += dt;
        bytes += st.weight_bytes;
        up += (double)st.h2d_bytes;
        down += (double)st.d2h_bytes;
        /* the buffer is sized by the first step, which also warms it */
        if (!buf && st.weight_bytes > 0) {
            cap = (size_t)st.weight_bytes < LD_READ_CAP ? ((size_t)st.weight_bytes + 4095) & ~(size_t)4095 : LD_READ_CAP;
            if ((buf = aligned_alloc(4096, cap))) memset(buf, 1, cap);
        } else if (buf) {
            t_read += ld_read_bytes(buf, cap, st.weight_bytes, threads);
            t_paired += dt;
        }
    }
    *tps = steps / t_steps;
    *paired = t_paired > 0 ? t_read / t_paired : 0;
    *bytes_per_tok = bytes / steps;
    *h2d = up / steps;
    *d2h = down / steps;
    rc = 0;
out:
    ladder_session_free(s);
    free(buf);
    free(lg);
    free(p);
    return rc;
}

static int prefill_run(ladder_engine *e, int n, double *tps, double *flops, double *scratch) {
    ladder_session *s = NULL;
    int *p = prompt_ids(n, ladder_engine_info(e)->vocab_size, 7), rc = -1;
    ladder_stats st;
    if (!p) { ld_set_error("out of memory"); goto out; }
    ladder_session_opts so = {.context = n};
    if (ladder_session_new(e, &so, &s)) goto out;
    double t0 = ld_now();
    if (ladder_eval(s, p, n, LADDER_LOGITS_NONE, NULL, &st)) goto out;
    double dt = ld_now() - t0;
    *tps = n / dt;
    *flops = 2 * st.macs / dt;
    *scratch = (double)st.scratch_peak_bytes;
    rc = 0;
out:
    ladder_session_free(s);
    free(p);
    return rc;
}

static int batch_run(ladder_engine *e, int B, int steps, double *tps, double *bytes_per_step) {
    int V = ladder_engine_info(e)->vocab_size, rc = -1, made = 0;
    ladder_session **ss = calloc((size_t)B, sizeof *ss);
    int *tok = calloc((size_t)B, sizeof(int)), *ones = calloc((size_t)B, sizeof(int));
    const int **ip = calloc((size_t)B, sizeof *ip);
    float *lg = malloc(sizeof(float) * (size_t)V * B);
    if (!ss || !tok || !ones || !ip || !lg) { ld_set_error("out of memory"); goto out; }
    for (int b = 0; b < B; b++, made++) {
        ladder_session_opts so = {.context = 64 + steps};
        if (ladder_session_new(e, &so, &ss[b])) goto out;
        int *p = prompt_ids(64, V, 100 + b);
        int r = !p || ladder_eval(ss[b], p, 64, LADDER_LOGITS_LAST, lg + (long)b * V, NULL);
        free(p);
        if (r) goto out;
        ip[b] = &tok[b];
        ones[b] = 1;
    }
    double bytes = 0, t0 = ld_now();
    for (int k = 0; k < steps; k++) {
        ladder_stats st;
        for (int b = 0; b < B; b++) tok[b] = ld_argmax(lg + (long)b * V, V);
        if (ladder_eval_batch(ss, ip, ones, B, lg, &st)) goto out;
        bytes += st.weight_bytes;
    }
    *tps = (double)B * steps / (ld_now() - t0);
    *bytes_per_step = bytes / steps;
    rc = 0;
out:
    for (int b = 0; b < made; b++) ladder_session_free(ss[b]);
    free(ss); free(tok); free(ones); free(ip); free(lg);
    return rc;
}

static void say(const bench_opts *o, const char *what) {
    if (o->progress) o->progress(o->ctx, what);
}

static void done(const bench_opts *o, const bench_report *r, bench_section s, int i) {
    if (o->result) o->result(o->ctx, r, s, i);
}

int bench_run(ladder_engine *e, const bench_opts *opts, bench_report *r) {
    bench_opts o = *opts;
    if (!o.decode_tokens) o.decode_tokens = 128;
    if (!o.prefill_tokens) o.prefill_tokens = 512;
    if (!o.batch_steps) o.batch_steps = 32;
    if (!o.n_batches) o.n_batches = 3, o.batches[0] = 1, o.batches[1] = 4, o.batches[2] = 8;
    if (!o.n_contexts) o.n_contexts = 1, o.contexts[0] = 1024;
    if (o.n_batches > BENCH_MAX_LIST || o.n_contexts > BENCH_MAX_LIST)
        return ld_set_error("at most %d batch sizes and %d contexts", BENCH_MAX_LIST, BENCH_MAX_LIST);
    const ladder_info *in = ladder_engine_info(e);
    int T = in->threads;
    char what[128];
    *r = (bench_report){.backend = in->backend, .cpu_isa = in->cpu_isa, .threads = T,
                        .weights_resident = in->weights_resident, .best_bw = o.best_bw, .formats = in->formats};

    snprintf(what, sizeof what, "read bandwidth and peak FMA with %d thread(s)", T);
    say(&o, what);
    r->read_bw = ld_measure_read_bw(T, (size_t)1 << 30);
    if (r->read_bw > r->best_bw) r->best_bw = r->read_bw;
    r->peak_flops = ld_measure_peak_fma(T, &r->fma_isa);
    done(&o, r, BENCH_MACHINE, 0);
    double last_bw = r->read_bw, last_peak = r->peak_flops;

    /* the kernels alone, on the weights one decoded token reads */
    int rows[2] = {1, 8};
    say(&o, "linears per weight format, 1 and 8 rows");
    int n = bench_linear_rates(ld_engine_model(e), rows, 2, T, r->linears);
    if (n < 0) return -1;
    double bw = bracket_bw(T, &last_bw, r);
    for (int i = 0; i < n; i++) {
        r->linears[i].read_bw = bw;
        r->n_linears = i + 1;
        done(&o, r, BENCH_LINEAR, i);
    }

    /* decode after a short prompt, then at longer contexts */
    int ctx[BENCH_MAX_LIST + 1] = {64}, nctx = 1;
    for (int i = 0; i < o.n_contexts; i++) ctx[nctx++] = o.contexts[i];
    for (int i = 0; i < nctx; i++) {
        bench_decode *d = &r->decode[i];
        d->context = ctx[i], d->tokens = i == 0 ? o.decode_tokens : 32;
        snprintf(what, sizeof what, "decode, context %d, %d tokens", d->context, d->tokens);
        say(&o, what);
        if (decode_run(e, d->context, d->tokens, T, &d->tok_per_s, &d->bytes_per_token, &d->h2d_per_token,
                       &d->d2h_per_token, &d->paired_ratio))
            return -1;
        d->transfer_bound = 2.0 * ladder_engine_info(e)->vocab_size * 4 + 65536;
        d->read_bw = bracket_bw(T, &last_bw, r);
        d->roofline_tok_per_s = d->read_bw / d->bytes_per_token;
        d->fraction = d->tok_per_s / d->roofline_tok_per_s;
        r->n_decode = i + 1;
        done(&o, r, BENCH_DECODE, i);
    }

    bench_prefill *p = &r->prefill;
    p->tokens = o.prefill_tokens;
    snprintf(what, sizeof what, "prefill of %d tokens", p->tokens);
    say(&o, what);
    if (prefill_run(e, p->tokens, &p->tok_per_s, &p->flops, &p->scratch_peak)) return -1;
    const char *isa;
    double now = ld_measure_peak_fma(T, &isa);
    p->peak_flops = now > last_peak ? now : last_peak;
    p->fraction = p->flops / p->peak_flops;
    done(&o, r, BENCH_PREFILL, 0);

    double tps1 = 0, bytes1 = 0;
    for (int i = 0; i < o.n_batches; i++) {
        bench_batched *b = &r->batched[i];
        b->batch = o.batches[i];
        snprintf(what, sizeof what, "batched decode, B = %d", b->batch);
        say(&o, what);
        if (batch_run(e, b->batch, o.batch_steps, &b->tok_per_s, &b->bytes_per_step)) return -1;
        if (b->batch == 1) tps1 = b->tok_per_s, bytes1 = b->bytes_per_step;
        /* against the B = 1 batched run when it came first, else against the
           single-sequence decode above (same 64-token prompt) */
        int have1 = tps1 > 0;
        double ref = have1 ? tps1 : r->decode[0].tok_per_s, ref_bytes = have1 ? bytes1 : r->decode[0].bytes_per_token;
        b->speedup_reference = have1 ? "B=1" : "decode";
        b->speedup = b->tok_per_s / ref;
        b->read_bw = bracket_bw(T, &last_bw, r);
        b->roofline_tok_per_s = b->read_bw / b->bytes_per_step * b->batch;
        b->speedup_bytes_bound = b->batch * ref_bytes / b->bytes_per_step;
        b->fraction = b->tok_per_s / b->roofline_tok_per_s;
        r->n_batched = i + 1;
        done(&o, r, BENCH_BATCHED, i);
    }
    return 0;
}

int bench_write_json(FILE *f, const char *model, const bench_report *r) {
    fprintf(f, "{\n  \"model\": \"%s\", \"backend\": \"%s\", \"threads\": %d, \"weights\": \"%s\",\n  \"read_bw_Bps\": %.4g, "
               "\"best_read_bw_Bps\": %.4g, \"qualify_fraction\": %.2f, \"peak_flops\": %.4g,\n  \"linears\": [",
            model, r->backend, r->threads, r->formats ? r->formats : "native", r->read_bw, r->best_bw, BENCH_QUALIFY,
            r->peak_flops);
    for (int i = 0; i < r->n_linears; i++) {
        const bench_linear_rate *l = &r->linears[i];
        double bps = l->bytes / l->seconds, fl = 2 * l->macs / l->seconds;
        fprintf(f, "%s\n    {\"format\": \"%s\", \"rows\": %d, \"weight_bytes\": %.6g, \"seconds\": %.6g, \"read_bw_Bps\": %.4g, \"bw_fraction\": %.4f, \"flops_fraction\": %.4f, "
                   "\"cached_weight_bytes\": %.6g, \"cached_seconds\": %.6g, \"paired_read_ratio\": %.4f}",
                i ? "," : "", l->format, l->rows, l->bytes, l->seconds, l->read_bw, bps / l->read_bw, fl / r->peak_flops,
                l->cached_bytes, l->cached_seconds, l->paired_ratio);
    }
    fprintf(f, "\n  ],\n  \"decode\": [");
    for (int i = 0; i < r->n_decode; i++) {
        const bench_decode *d = &r->decode[i];
        fprintf(f, "%s\n    {\"context\": %d, \"tokens\": %d, \"tok_per_s\": %.4g, \"weight_bytes_per_token\": %.6g, \"read_bw_Bps\": %.4g, \"roofline_tok_per_s\": %.4g, \"fraction\": %.4f, "
                   "\"h2d_bytes_per_token\": %.6g, \"d2h_bytes_per_token\": %.6g, \"transfer_bound_bytes\": %.6g, "
                   "\"probe_vs_best\": %.4f, \"counts\": %s, \"paired_read_ratio\": %.4f}",
                i ? "," : "", d->context, d->tokens, d->tok_per_s, d->bytes_per_token, d->read_bw, d->roofline_tok_per_s, d->fraction,
                d->h2d_per_token, d->d2h_per_token, d->transfer_bound, bench_vs_best(r, d->read_bw),
                bench_vs_best(r, d->read_bw) >= BENCH_QUALIFY ? "true" : "false", d->paired_ratio);
    }
    const bench_prefill *p = &r->prefill;
    fprintf(f, "\n  ],\n  \"prefill\": {\"tokens\": %d, \"tok_per_s\": %.4g, \"flops\": %.4g, \"peak_flops\": %.4g, \"fraction\": %.4f, \"scratch_peak_bytes\": %.6g},\n  \"batched\": [",
            p->tokens, p->tok_per_s, p->flops, p->peak_flops, p->fraction, p->scratch_peak);
    for (int i = 0; i < r->n_batched; i++) {
        const bench_batched *b = &r->batched[i];
        fprintf(f, "%s\n    {\"batch\": %d, \"tok_per_s\": %.4g, \"speedup_vs_1\": %.4g, \"speedup_reference\": \"%s\", \"speedup_bytes_bound\": %.4g, \"weight_bytes_per_step\": %.6g, \"read_bw_Bps\": %.4g, \"fraction\": %.4f, "
                   "\"probe_vs_best\": %.4f, \"counts\": %s}",
                i ? "," : "", b->batch, b->tok_per_s, b->speedup, b->speedup_reference, b->speedup_bytes_bound, b->bytes_per_step,
                b->read_bw, b->fraction, bench_vs_best(r, b->read_bw),
                bench_vs_best(r, b->read_bw) >= BENCH_QUALIFY ? "true" : "false");
    }
    fprintf(f, "\n  ]\n}\n");
    return ferror(f) ? ld_set_error("writing the JSON report failed") : 0;
}
