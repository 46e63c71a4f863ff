/* Layer-level conformance (the msprobe idea for ports): ref runs the whole
 * checkpoint once while the dump hook records every block's output; then
 * each block runs on the backend under test, alone, from exactly the input
 * ref gave that block, and its output is compared with ref's. An error is
 * thereby pinned to one layer instead of compounding through the stack.
 *
 * Phases: the prompt as one prefill call, then single-token decode steps
 * (ref's greedy tokens). The backend gets a fresh session per layer used
 * only through ld_session_eval_block + ld_session_advance, so its cache of
 * that layer is built by the backend itself from ref's inputs, as in a real
 * run. Inputs: layer 0 gets the embedding rows repeated hc_mult times; layer
 * l > 0 gets ref's "hidden" dump of layer l-1.
 *
 * Also compared: the attention and MoE sublayer outputs (dump hook, both
 * sessions). The attention output comes from the identical input; the MoE
 * output already carries the backend's own attention result.
 *
 * This file also holds the report helpers shared with the ops level. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/session.h"
#include "conform/conform.h"

/* ------------------------------------------------------------- report */

conform_row *conform_add(conform_report *r) {
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 64;
        conform_row *p = realloc(r->rows, sizeof *p * (size_t)cap);
        if (!p) return NULL;
        r->rows = p, r->cap = cap;
    }
    conform_row *row = &r->rows[r->n++];
    memset(row, 0, sizeof *row);
    return row;
}

void conform_report_free(conform_report *r) {
    free(r->rows);
    memset(r, 0, sizeof *r);
}

void conform_print_header(FILE *f, conform_kind kind) {
    if (kind == CONF_OP)
        fprintf(f, "%-14s %-46s %3s %9s %12s %9s %9s  %-26s %s\n", "op", "shape", "M", "nmse", "cos", "maxabs",
                "maxrel", "tolerance", "result");
    else
        fprintf(f, "%-14s %-11s %4s %12s %12s %9s %9s %9s %9s  %-32s %s\n", "layer.output", "phase", "tok", "cos",
                "cos tok-med", ">1%", ">0.1%", "maxabs", "nmse", "tolerance", "result");
}

void conform_print_row(FILE *f, const conform_row *w) {
    const char *res = w->unsupported ? "N/A" : w->pass ? "PASS" : "FAIL";
    if (w->kind == CONF_OP)
        fprintf(f, "%-14s %-46s %3d %9.2e %12.9f %9.2e %9.2e  %-26s %s%s%s%s\n", w->op, w->shape, w->m, w->nmse,
                w->cos, w->maxabs, w->maxrel, w->tol, res, *w->why ? " (" : "", w->why, *w->why ? ")" : "");
    else
        fprintf(f, "%-14s %-11s %4d %12.9f %12.9f %9.2e %9.2e %9.2e %9.2e  %-32s %s%s%s%s\n", w->op, w->shape, w->m,
                w->cos, w->cos_tok, w->frac1, w->frac01, w->maxabs, w->nmse, w->tol, res, *w->why ? " (" : "", w->why,
                *w->why ? ")" : "");
    fflush(f);
}

static void json_num(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, "\"%s\": %.9g, ", key, v);
    else fprintf(f, "\"%s\": null, ", key);
}
static void json_str(FILE *f, const char *key, const char *s) {
    fprintf(f, "\"%s\": \"", key);
    for (; *s; s++)
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s >= 0x20) fputc(*s, f);
    fputs("\", ", f);
}

int conform_write_json(const char *path, const char *backend, const conform_report *r) {
    FILE *f = fopen(path, "w");
    if (!f) return ld_set_error("cannot write %s", path);
    fprintf(f, "{\"backend\": \"%s\", \"failures\": %d, \"rows\": [\n", backend, r->failures);
    for (int i = 0; i < r->n; i++) {
        const conform_row *w = &r->rows[i];
        fputs("  {", f);
        json_str(f, "level", w->kind == CONF_OP ? "op" : "layer");
        json_str(f, "op", w->op);
        json_str(f, "shape", w->shape);
        fprintf(f, "\"m\": %d, ", w->m);
        json_num(f, "nmse", w->nmse);
        json_num(f, "cos", w->cos);
        json_num(f, "maxabs", w->maxabs);
        json_num(f, "maxrel", w->maxrel);
        if (w->kind == CONF_LAYER)
            json_num(f, "cos_token_median", w->cos_tok), json_num(f, "frac_rel_gt_1pct", w->frac1),
                json_num(f, "frac_rel_gt_0.1pct", w->frac01);
        json_str(f, "tolerance", w->tol);
        json_str(f, "why", w->why);
        fprintf(f, "\"pass\": %s}%s\n", w->pass ? "true" : "false", i + 1 < r->n ? "," : "");
    }
    fputs("]}\n", f);
    if (fclose(f)) return ld_set_error("cannot write %s", path);
    return 0;
}

void conform_default_prompt(int *ids, int n, int vocab, int bos, uint64_t seed) {
    uint64_t s = seed ^ 0x6a09e667f3bcc909ull;
    for (int i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        /* avoid the low ids (BOS/EOS and other specials in real vocabularies) */
        ids[i] = i == 0 ? bos : 2 + (int)((s >> 33) % (uint64_t)(vocab > 3 ? vocab - 2 : 1));
    }
}

/* ------------------------------------------------------------ capture */

enum { OUT_HIDDEN, OUT_ATTN, OUT_FFN, N_OUT };
static const char *const OUT_NAME[N_OUT] = {"hidden", "attn_out", "ffn_out"};

/* Dumps of one session, indexed [(phase * n_layers + layer) * N_OUT + out]. */
typedef struct {
    ld_bf16 **buf;
    int n_layers, phase, failed;
} capture;

static void on_dump(void *ctx, const char *name, int layer, ld_dump_kind kind, const void *data, int rows, int cols) {
    capture *cp = ctx;
    if (layer < 0 || layer >= cp->n_layers || kind != LD_DUMP_BF16) return;
    for (int o = 0; o < N_OUT; o++) {
        if (strcmp(name, OUT_NAME[o])) continue;
        ld_bf16 **slot = &cp->buf[((long)cp->phase * cp->n_layers + layer) * N_OUT + o];
        free(*slot);
        size_t bytes = sizeof(ld_bf16) * (size_t)rows * (size_t)cols;
        if (!(*slot = malloc(bytes))) cp->failed = 1;
        else memcpy(*slot, data, bytes);
    }
}

static ld_bf16 *got(const capture *cp, int phase, int layer, int o) {
    return cp->buf[((long)phase * cp->n_layers + layer) * N_OUT + o];
}

/* ------------------------------------------------------------ compare */

/* Thresholds (docs/CONFORMANCE.md). Judged on cosines: over the whole
 * output, and the median over tokens of each token's cosine. A bug hits
 * every token, so it moves the median; a legitimate discrete flip (an
 * expert chosen differently, an indexer selection, FP8 codes re-rounded
 * after a last-bit input difference) hits a few tokens and moves only the
 * aggregate, which therefore gets the looser bound. The relative-error
 * fractions are reported, not judged: FP8 activation quantization turns
 * last-bit differences into broad ~1%-of-RMS differences after two linears,
 * so they are large for any backend that is not bit-exact. Relative error
 * of an element: |a-b| / max(|a|, floor), floor = 0.1 x RMS of ref's values
 * of that token. */
#define REL_FLOOR 0.1
typedef struct {
    double cos_all, cos_tok;
    const char *text;
} layer_tol;
static const layer_tol LTOL[N_OUT] = {
    {0.998, 0.999, "cos>=0.998 token-median>=0.999"},
    {0.998, 0.9995, "cos>=0.998 token-median>=0.9995"},
    {0.98, 0.995, "cos>=0.98 token-median>=0.995"},
};

static int cmp_dbl(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double cosine(double ab, double aa, double bb) { return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : aa == 0 && bb == 0; }

static void compare_rows(conform_report *r, FILE *log, int layer, int o, const char *phase, const ld_bf16 *a,
                         const ld_bf16 *b, int rows, long cols) {
    conform_row *w = conform_add(r);
    double *tc = malloc(sizeof(double) * (size_t)(rows > 0 ? rows : 1));
    if (!w || !tc) { free(tc); return; }
    w->kind = CONF_LAYER;
    snprintf(w->op, sizeof w->op, "L%d.%s", layer, OUT_NAME[o]);
    snprintf(w->shape, sizeof w->shape, "%s", phase);
    w->m = rows;
    snprintf(w->tol, sizeof w->tol, "%s", LTOL[o].text);
    if (!a || !b) {
        snprintf(w->why, sizeof w->why, "no %s dump from %s", OUT_NAME[o], a ? "the backend" : "ref");
        r->failures++;
        if (log) conform_print_row(log, w);
        free(tc);
        return;
    }
    double saa = 0, sbb = 0, sab = 0, sdd = 0;
    long n1 = 0, n01 = 0, bad = 0;
    for (int t = 0; t < rows; t++) {
        const ld_bf16 *ar = a + (long)t * cols, *br = b + (long)t * cols;
        double ss = 0, taa = 0, tbb = 0, tab = 0;
        for (long i = 0; i < cols; i++) ss += (double)ld_bf16_to_f32(ar[i]) * ld_bf16_to_f32(ar[i]);
        double fl = REL_FLOOR * sqrt(ss / (double)cols);
        for (long i = 0; i < cols; i++) {
            double x = ld_bf16_to_f32(ar[i]), y = ld_bf16_to_f32(br[i]), d = fabs(x - y);
            if (!isfinite(x) || !isfinite(y)) { bad += !(x == y || (isnan(x) && isnan(y))); continue; }
            double rel = d / fmax(fabs(x), fl > 0 ? fl : 1e-30);
            taa += x * x, tbb += y * y, tab += x * y, sdd += d * d;
            n1 += rel > 1e-2, n01 += rel > 1e-3;
            w->maxabs = fmax(w->maxabs, d), w->maxrel = fmax(w->maxrel, rel);
        }
        saa += taa, sbb += tbb, sab += tab;
        tc[t] = cosine(tab, taa, tbb);
    }
    qsort(tc, (size_t)rows, sizeof *tc, cmp_dbl);
    double n = (double)rows * (double)cols;
    w->cos = cosine(sab, saa, sbb);
    w->cos_tok = rows % 2 ? tc[rows / 2] : 0.5 * (tc[rows / 2 - 1] + tc[rows / 2]);
    w->nmse = saa > 0 ? sdd / saa : sdd > 0 ? INFINITY : 0;
    w->frac1 = n1 / n, w->frac01 = n01 / n;
    const char *why = bad                              ? "NaN/Inf disagreement"
                      : !(w->cos_tok >= LTOL[o].cos_tok) ? "median token cosine below threshold"
                      : !(w->cos >= LTOL[o].cos_all)     ? "cosine below threshold"
                                                         : NULL;
    w->pass = !why;
    snprintf(w->why, sizeof w->why, "%s", why ? why : "");
    r->failures += !w->pass;
    if (log) conform_print_row(log, w);
    free(tc);
}

/* --------------------------------------------------------------- run */

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

int ld_conform_layers(const ld_backend_ops *b, const char *dir, const conform_layer_opts *o, conform_report *r) {
    ld_model rm, bm;
    ld_load_opts ro = {.mode = LD_LOAD_MMAP, .formats = o->vs_native ? LD_FORMATS_NATIVE : o->formats};
    if (ld_model_load_opts(dir, &ld_backend_ref_ops, &ro, &rm)) return -1;
    ld_load_opts lo = {.mode = LD_LOAD_MMAP, .backend = o->backend, .formats = o->formats};
    if (ld_model_load_opts(dir, b, &lo, &bm)) { ld_model_free(&rm); return -1; }
    const ld_config *cf = &rm.cfg;
    int L = cf->n_layers, P = 1 + (o->n_decode > 0 ? o->n_decode : 0), D = cf->dim, hc = cf->hc_mult;
    int S = o->prompt ? o->n_prompt : CONFORM_DEFAULT_PROMPT, rc = -1, before = r->failures;
    int *toks = malloc(sizeof(int) * (size_t)(S + P));
    float *logits = malloc(sizeof(float) * (size_t)cf->vocab_size);
    capture ref = {.buf = calloc((size_t)P * L * N_OUT, sizeof(ld_bf16 *)), .n_layers = L};
    capture bk = {.buf = calloc((size_t)P * L * N_OUT, sizeof(ld_bf16 *)), .n_layers = L};
    ld_bf16 *h = malloc(sizeof(ld_bf16) * (size_t)S * hc * D);
    /* the decode steps of one output, side by side: [P-1, cols] each */
    ld_bf16 *da = malloc(sizeof(ld_bf16) * (size_t)P * hc * D), *db = malloc(sizeof(ld_bf16) * (size_t)P * hc * D);
    ld_session rs = {0}, bs = {0};
    if (!toks || !logits || !ref.buf || !bk.buf || !h || !da || !db) { ld_set_error("out of memory"); goto out; }
    if (S <= 0) { ld_set_error("the prompt is empty"); goto out; }
    if (o->prompt) memcpy(toks, o->prompt, sizeof(int) * (size_t)S);
    else conform_default_prompt(toks, S, cf->vocab_size, cf->bos_id, 0);

    /* ref: the whole model, recording every block's outputs per phase */
    if (ld_session_init(&rs, &rm)) goto out;
    rs.dump = on_dump, rs.dump_ctx = &ref;
    for (int p = 0; p < P; p++) {
        ref.phase = p;
        if (p == 0 ? ld_session_eval(&rs, toks, S, logits) : ld_session_eval(&rs, &toks[S + p - 1], 1, logits))
            goto out;
        toks[S + p] = argmax(logits, cf->vocab_size); /* the next phase's token */
    }
    if (ref.failed) { ld_set_error("out of memory capturing ref's dumps"); goto out; }

    /* backend: each block alone, from ref's input of that block */
    for (int l = 0; l < L; l++) {
        if (ld_session_init(&bs, &bm)) goto out;
        bs.dump = on_dump, bs.dump_ctx = &bk;
        for (int p = 0; p < P; p++) {
            const int *ids = p == 0 ? toks : &toks[S + p - 1];
            int n = p == 0 ? S : 1;
            if (l == 0)
                for (int t = 0; t < n; t++)
                    for (int j = 0; j < hc; j++)
                        memcpy(h + ((long)t * hc + j) * D, rm.embed + (long)ids[t] * D, sizeof(ld_bf16) * (size_t)D);
            else if (got(&ref, p, l - 1, OUT_HIDDEN))
                memcpy(h, got(&ref, p, l - 1, OUT_HIDDEN), sizeof(ld_bf16) * (size_t)n * hc * D);
            else { ld_set_error("ref produced no hidden dump for layer %d", l - 1); goto out; }
            bk.phase = p;
            if (ld_session_eval_block(&bs, l, ids, n, h)) goto out;
            ld_session_advance(&bs, n);
        }
        ld_session_free(&bs);
        if (bk.failed) { ld_set_error("out of memory capturing the backend's dumps"); goto out; }
        /* one row for the prefill, one for all decode steps together */
        for (int k = 0; k < N_OUT; k++) {
            long cols = k == OUT_HIDDEN ? (long)hc * D : D;
            compare_rows(r, o->log, l, k, "prefill", got(&ref, 0, l, k), got(&bk, 0, l, k), S, cols);
            if (P == 1) continue;
            char phase[32];
            if (P == 2) snprintf(phase, sizeof phase, "decode 1");
            else snprintf(phase, sizeof phase, "decode 1-%d", P - 1);
            int miss = 0;
            for (int p = 1; p < P; p++) {
                const ld_bf16 *a = got(&ref, p, l, k), *b2 = got(&bk, p, l, k);
                if (a && b2) {
                    memcpy(da + (p - 1) * cols, a, sizeof(ld_bf16) * (size_t)cols);
                    memcpy(db + (p - 1) * cols, b2, sizeof(ld_bf16) * (size_t)cols);
                } else miss = 1;
            }
            compare_rows(r, o->log, l, k, phase, miss ? NULL : da, miss ? NULL : db, P - 1, cols);
        }
    }
    rc = r->failures - before;
out:
    if (bs.lc) ld_session_free(&bs);
    if (rs.lc) ld_session_free(&rs);
    for (long i = 0; ref.buf && i < (long)P * L * N_OUT; i++) free(ref.buf[i]);
    for (long i = 0; bk.buf && i < (long)P * L * N_OUT; i++) free(bk.buf[i]);
    free(ref.buf), free(bk.buf), free(h), free(da), free(db), free(toks), free(logits);
    ld_model_free(&bm);
    ld_model_free(&rm);
    return rc;
}
