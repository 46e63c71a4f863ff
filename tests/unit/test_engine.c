/* The public API (include/ladder.h) on a synthetic checkpoint: backend
 * choice, the logits modes and what they promise, batching, accounting,
 * limits and error text. Uses nothing but ladder.h (and synth to write the
 * checkpoint). */
#include <stdlib.h>
#include <string.h>

#include "ladder.h"
#include "model/synth.h"
#include "testutil.h"

#define NTOK 40 /* beyond the tiny preset's window of 16: every cache path is used */

static int toks[NTOK];

static int same(const float *a, const float *b, long n) { return memcmp(a, b, sizeof(float) * (size_t)n) == 0; }

static ladder_engine *open_engine(const char *dir, const char *backend) {
    ladder_engine_opts o = ladder_engine_opts_default();
    o.backend = backend;
    ladder_engine *e = NULL;
    CHECK(ladder_engine_open(dir, &o, &e) == 0 && e, "open %s: %s", backend ? backend : "(default)", ladder_last_error());
    return e;
}

/* LAST vs ALL, ALL vs fresh prefixes, batch vs alone, stats. */
static void check_modes(ladder_engine *e) {
    const ladder_info *in = ladder_engine_info(e);
    int V = in->vocab_size;
    float *all = malloc(sizeof(float) * (size_t)V * NTOK), *last = malloc(sizeof(float) * (size_t)V);
    ladder_session *s = NULL;
    ladder_stats st = {0};
    CHECK(ladder_session_new(e, NULL, &s) == 0, "session: %s", ladder_last_error());
    if (!s) goto out;
    CHECK(ladder_eval(s, toks, NTOK, LADDER_LOGITS_ALL, all, &st) == 0, "all: %s", ladder_last_error());
    CHECK(ladder_session_pos(s) == NTOK, "pos %ld after %d tokens", ladder_session_pos(s), NTOK);
    /* one call over NTOK tokens: every weight read once, at least the head's macs per row */
    CHECK(st.rows == NTOK && st.macs >= (double)NTOK * V * in->dim && st.weight_bytes > 0 && st.seconds > 0 &&
              st.h2d_bytes == 0 && st.d2h_bytes == 0,
          "%s: stats rows %ld macs %g bytes %g s %g", in->backend, st.rows, st.macs, st.weight_bytes, st.seconds);
    CHECK(st.weight_bytes <= (double)in->total_bytes, "%s: %g weight bytes read of %llu", in->backend,
          st.weight_bytes, (unsigned long long)in->total_bytes);
    ladder_session_reset(s);
    CHECK(ladder_session_pos(s) == 0, "pos after reset");
    CHECK(ladder_eval(s, toks, NTOK, LADDER_LOGITS_LAST, last, NULL) == 0, "last: %s", ladder_last_error());
    CHECK(same(last, all + (long)(NTOK - 1) * V, V), "%s: LAST differs from the last row of ALL", in->backend);

    /* row i of ALL = LAST of a fresh session fed ids[0..i] in one call */
    int bad = 0, first_bad = -1;
    for (int i = 0; i < NTOK; i++) {
        ladder_session_reset(s);
        if (ladder_eval(s, toks, i + 1, LADDER_LOGITS_LAST, last, NULL)) { bad++; continue; }
        if (!same(last, all + (long)i * V, V)) bad++, first_bad = first_bad < 0 ? i : first_bad;
    }
    CHECK(bad == 0, "%s: %d of %d ALL rows differ from the fresh prefix (first: row %d)", in->backend, bad, NTOK,
          first_bad);

    /* decode steps: a sequence alone and in a batch of two give the same bits */
    ladder_session *a = NULL, *b = NULL, *c = NULL;
    CHECK(!ladder_session_new(e, NULL, &a) && !ladder_session_new(e, NULL, &b) && !ladder_session_new(e, NULL, &c),
          "sessions: %s", ladder_last_error());
    float *lb = malloc(sizeof(float) * 2 * (size_t)V);
    if (a && b && c) {
        CHECK(!ladder_eval(a, toks, 20, LADDER_LOGITS_LAST, last, NULL) && !ladder_eval(b, toks, 20, LADDER_LOGITS_LAST, lb, NULL) &&
                  !ladder_eval(c, toks + 5, 9, LADDER_LOGITS_NONE, NULL, NULL),
              "prefill: %s", ladder_last_error());
        int diff = 0;
        for (int i = 20; i < NTOK; i++) {
            ladder_session *bs[2] = {c, b};
            const int *bi[2] = {toks + i - 6, toks + i};
            int bn[2] = {1, 1};
            CHECK(ladder_eval(a, toks + i, 1, LADDER_LOGITS_LAST, last, NULL) == 0, "alone: %s", ladder_last_error());
            CHECK(ladder_eval_batch(bs, bi, bn, 2, lb, &st) == 0, "batch: %s", ladder_last_error());
            diff += !same(last, lb + V, V);
        }
        CHECK(diff == 0, "%s: %d of %d steps differ between alone and a batch of 2", in->backend, diff, NTOK - 20);
        CHECK(st.rows == 2 && st.macs > 0 && st.weight_bytes > 0, "batch stats rows %ld macs %g", st.rows, st.macs);
        ladder_session *dup[2] = {a, a};
        const int *di[2] = {toks, toks};
        int dn[2] = {1, 1};
        CHECK(ladder_eval_batch(dup, di, dn, 2, lb, NULL) != 0 && strstr(ladder_last_error(), "twice"),
              "a session twice in a batch: %s", ladder_last_error());
    }
    ladder_session_free(a);
    ladder_session_free(b);
    ladder_session_free(c);
    free(lb);
out:
    ladder_session_free(s);
    free(all);
    free(last);
}

typedef struct {
    int final_rows, hidden;
} obs_count;

static void observe(void *ctx, const char *name, int layer, ladder_dump_kind kind, const void *data, int rows, int cols) {
    obs_count *c = ctx;
    (void)data, (void)cols;
    if (!strcmp(name, "final_norm") && layer == -1 && kind == LADDER_DUMP_BF16) c->final_rows += rows;
    if (!strcmp(name, "hidden")) c->hidden++;
}

int main(void) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/engine-tiny", test_tmp_dir());
    ld_config cfg;
    ld_synth_preset("tiny", &cfg);
    ld_synth_opts so = {.seed = 11};
    if (ld_synth_write(&cfg, dir, &so)) { CHECK(0, "synth failed"); return test_summary("engine"); }
    toks[0] = 0;
    for (int i = 1; i < NTOK; i++) toks[i] = 2 + (i * 7919) % (cfg.vocab_size - 2);

    /* the default backend is the fast one; ref only on request */
    ladder_engine *cpu = open_engine(dir, NULL), *ref = open_engine(dir, "ref");
    if (!cpu || !ref) return test_summary("engine");
    const ladder_info *ic = ladder_engine_info(cpu), *ir = ladder_engine_info(ref);
    CHECK(!strcmp(ic->backend, "cpu"), "default backend is '%s', want cpu", ic->backend);
    CHECK(ic->cpu_isa && ic->threads >= 1, "cpu info: isa %s, %d threads", ic->cpu_isa ? ic->cpu_isa : "NULL", ic->threads);
    CHECK(!strcmp(ir->backend, "ref") && !ir->cpu_isa && ir->threads == 1, "ref info: %s", ir->backend);
    CHECK(ic->vocab_size == cfg.vocab_size && ic->n_layers == cfg.n_layers && ic->window == cfg.window &&
              ic->n_window_layers + ic->n_csa_layers + ic->n_hca_layers == cfg.n_layers && ic->n_dtypes > 0 &&
              ic->total_params > 0 && ic->weight_bytes_per_token > 0 && ic->kv_bytes_per_token > 0 &&
              ic->max_position_embeddings == cfg.max_position_embeddings,
          "info fields");
    ladder_engine_close(ref);
    ref = NULL;

    /* ISA path and threads reach the cpu backend */
    {
        ladder_engine_opts o = {.backend = "cpu", .cpu_isa = "scalar", .threads = 2, .weights = LADDER_WEIGHTS_MMAP,
                                .kv_budget_bytes = 1 << 20};
        ladder_engine *e = NULL;
        CHECK(ladder_engine_open(dir, &o, &e) == 0, "scalar: %s", ladder_last_error());
        if (e) {
            const ladder_info *in = ladder_engine_info(e);
            CHECK(!strcmp(in->cpu_isa, "scalar") && in->threads == 2 && !in->weights_resident &&
                      in->kv_budget_bytes == 1 << 20,
                  "scalar engine: isa %s, %d threads, resident %d", in->cpu_isa, in->threads, in->weights_resident);
            ladder_engine_close(e);
        }
        o.cpu_isa = "sse9";
        CHECK(ladder_engine_open(dir, &o, &e) != 0 && !e && strstr(ladder_last_error(), "sse9"),
              "bad ISA: %s", ladder_last_error());
        o.cpu_isa = NULL, o.threads = -1;
        CHECK(ladder_engine_open(dir, &o, &e) != 0 && strstr(ladder_last_error(), "negative"), "negative threads: %s",
              ladder_last_error());
    }
    ladder_engine_close(cpu);
    cpu = open_engine(dir, NULL); /* back to the default cpu settings */
    if (!cpu) return test_summary("engine");

    check_modes(cpu);
    ref = open_engine(dir, "ref");
    if (ref) check_modes(ref);

    /* a bad backend name is a clear error */
    {
        ladder_engine_opts o = {.backend = "nosuch"};
        ladder_engine *e = NULL;
        CHECK(ladder_engine_open(dir, &o, &e) != 0 && !e, "unknown backend accepted");
        CHECK(strstr(ladder_last_error(), "unknown backend 'nosuch'") && strstr(ladder_last_error(), "ref"),
              "error text: %s", ladder_last_error());
        CHECK(ladder_engine_open("/nonexistent-dir", NULL, &e) != 0 && strstr(ladder_last_error(), "nonexistent"),
              "missing dir: %s", ladder_last_error());
    }
    int found_ref = 0;
    for (int i = 0; i < ladder_backend_count(); i++) found_ref |= !strcmp(ladder_backend_name(i), "ref");
    CHECK(found_ref && ladder_backend_usable("ref") && !ladder_backend_usable("nosuch"), "backend list");

    /* context: a session reserving 24 tokens refuses the 25th */
    {
        ladder_session *s = NULL;
        ladder_session_opts so2 = {.context = 24};
        CHECK(ladder_session_new(cpu, &so2, &s) == 0 && ladder_session_context(s) == 24, "session: %s", ladder_last_error());
        float *lg = malloc(sizeof(float) * (size_t)cfg.vocab_size);
        if (s) {
            CHECK(ladder_eval(s, toks, 20, LADDER_LOGITS_LAST, lg, NULL) == 0, "20 of 24: %s", ladder_last_error());
            CHECK(ladder_eval(s, toks, 5, LADDER_LOGITS_LAST, lg, NULL) != 0, "25 tokens in a context of 24 accepted");
            CHECK(strstr(ladder_last_error(), "context of 24"), "error text: %s", ladder_last_error());
            CHECK(ladder_session_pos(s) == 20, "a refused call moved the position to %ld", ladder_session_pos(s));
            CHECK(ladder_eval(s, toks, 4, LADDER_LOGITS_LAST, lg, NULL) == 0, "24 of 24: %s", ladder_last_error());
            CHECK(ladder_eval(s, toks, 1, LADDER_LOGITS_LAST, NULL, NULL) != 0 && strstr(ladder_last_error(), "buffer"),
                  "logits without a buffer: %s", ladder_last_error());
            int bad = cfg.vocab_size;
            ladder_session_reset(s);
            CHECK(ladder_eval(s, &bad, 1, LADDER_LOGITS_NONE, NULL, NULL) != 0 && strstr(ladder_last_error(), "vocabulary"),
                  "out-of-vocabulary id: %s", ladder_last_error());
            CHECK(ladder_eval(s, toks, 0, LADDER_LOGITS_NONE, NULL, NULL) != 0, "an empty call was accepted");
        }
        ladder_session_free(s);
        so2.context = cfg.max_position_embeddings + 1;
        CHECK(ladder_session_new(cpu, &so2, &s) != 0 && strstr(ladder_last_error(), "max_position_embeddings"),
              "context beyond the model: %s", ladder_last_error());

        /* the observer sees every layer and, at the end, every row */
        obs_count oc = {0};
        CHECK(ladder_session_new(cpu, NULL, &s) == 0, "session");
        if (s) {
            ladder_session_observe(s, observe, &oc);
            CHECK(ladder_eval(s, toks, 7, LADDER_LOGITS_LAST, lg, NULL) == 0, "observed eval");
            CHECK(oc.final_rows == 7 && oc.hidden == cfg.n_layers, "observer saw %d final rows, %d layers", oc.final_rows,
                  oc.hidden);
            ladder_session_observe(s, NULL, NULL);
            CHECK(ladder_eval(s, toks, 1, LADDER_LOGITS_LAST, lg, NULL) == 0 && oc.final_rows == 7, "observer removed");
        }
        ladder_session_free(s);
        free(lg);
    }
    /* the KV budget: sessions reserve their whole context when created; the
       one that does not fit is refused, and freeing one makes room again */
    {
        ladder_engine_opts o = {.kv_budget_bytes = 0};
        ladder_engine *e = NULL;
        ladder_session *a = NULL, *b = NULL, *c = NULL;
        ladder_session_opts so = {.context = 64};
        CHECK(ladder_engine_open(dir, &o, &e) == 0, "open: %s", ladder_last_error());
        /* measure one session's reservation through a first engine without a limit */
        size_t one = e ? ladder_session_kv_bytes(e, 64) : 0;
        ladder_engine_close(e);
        o.kv_budget_bytes = one * 2 + one / 2;
        CHECK(one > 0 && ladder_engine_open(dir, &o, &e) == 0, "open with a budget: %s", ladder_last_error());
        if (e) {
            CHECK(ladder_session_new(e, &so, &a) == 0 && ladder_session_new(e, &so, &b) == 0, "two sessions fit: %s",
                  ladder_last_error());
            CHECK(ladder_session_new(e, &so, &c) != 0 && !c && strstr(ladder_last_error(), "budget"),
                  "a third session beyond the budget: %s", ladder_last_error());
            ladder_session_free(b);
            CHECK(ladder_session_new(e, &so, &c) == 0, "room again after a free: %s", ladder_last_error());
            ladder_stats st;
            float *lg = malloc(sizeof(float) * (size_t)cfg.vocab_size);
            CHECK(lg && ladder_eval(a, toks, 20, LADDER_LOGITS_LAST, lg, &st) == 0, "eval: %s", ladder_last_error());
            CHECK(st.scratch_peak_bytes > 0 && st.h2d_bytes == 0 && st.d2h_bytes == 0,
                  "host backend stats: scratch %zu, h2d %llu, d2h %llu", st.scratch_peak_bytes,
                  (unsigned long long)st.h2d_bytes, (unsigned long long)st.d2h_bytes);
            free(lg);
            ladder_session_free(a);
            ladder_session_free(c);
            ladder_engine_close(e);
        }
    }
    ladder_engine_close(cpu);
    ladder_engine_close(ref);
    return test_summary("engine");
}
