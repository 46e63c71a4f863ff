/* Cache consistency on a synthetic checkpoint: the same tokens must give
 * bit-identical logits and caches whether they arrive as one prefill, as a
 * prefill followed by single-token decode steps, or as prefill chunks of at
 * least one window; sessions on one engine must not interfere. Runs through
 * ladder.h; the cache comparison looks below it (model/engine.h). */
#include <stdlib.h>
#include <string.h>

#include "ladder.h"
#include "model/engine.h"
#include "model/synth.h"
#include "testutil.h"

#define NTOK 100

static int toks[NTOK];

/* Feeds toks[0..NTOK) in calls of the given sizes (0-terminated list; the
 * last size repeats), returning the logits after the last token. */
static int run(ladder_engine *e, const int *sizes, float *logits, ladder_session **keep) {
    ladder_session *s;
    if (ladder_session_new(e, NULL, &s)) return -1;
    int pos = 0, si = 0;
    while (pos < NTOK) {
        int n = sizes[si];
        if (sizes[si + 1]) si++;
        if (n > NTOK - pos) n = NTOK - pos;
        if (ladder_eval(s, toks + pos, n, LADDER_LOGITS_LAST, logits, NULL)) { ladder_session_free(s); return -1; }
        pos += n;
    }
    if (keep) *keep = s;
    else ladder_session_free(s);
    return 0;
}

static int same(const float *a, const float *b, int n) { return memcmp(a, b, sizeof(float) * (size_t)n) == 0; }

static int same_cache(ladder_session *sa, ladder_session *sb) {
    const ld_session *a = ld_engine_session(sa), *b = ld_engine_session(sb);
    const ld_config *c = &a->m->cfg;
    for (int l = 0; l < c->n_layers; l++) {
        const ld_layer_cache *x = &a->lc[l], *y = &b->lc[l];
        if (memcmp(x->win, y->win, sizeof(ld_bf16) * (size_t)c->window * c->head_dim)) return 0;
        if (x->comp.n != y->comp.n || (x->comp.n && memcmp(x->comp.cache, y->comp.cache, sizeof(ld_bf16) * (size_t)x->comp.n * x->comp.d))) return 0;
        if (x->icomp.n != y->icomp.n || (x->icomp.n && memcmp(x->icomp.cache, y->icomp.cache, sizeof(ld_bf16) * (size_t)x->icomp.n * x->icomp.d))) return 0;
    }
    return 1;
}

int main(void) {
    const char *tmp = test_tmp_dir();
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/session-tiny", tmp);
    ld_config c;
    ld_synth_preset("tiny", &c);
    ld_synth_opts so = {.seed = 7};
    CHECK(ld_synth_write(&c, dir, &so) == 0, "synth: %s", ladder_last_error());
    ladder_engine_opts eo = {.backend = "ref"};
    ladder_engine *m;
    if (ladder_engine_open(dir, &eo, &m)) {
        CHECK(0, "load: %s", ladder_last_error());
        return test_summary("session");
    }
    int V = ladder_engine_info(m)->vocab_size, W = ladder_engine_info(m)->window;
    toks[0] = 0;
    for (int i = 1; i < NTOK; i++) toks[i] = 2 + (i * 7919) % (V - 2);
    float *ref = malloc(sizeof(float) * (size_t)V), *got = malloc(sizeof(float) * (size_t)V);
    ladder_session *s_ref = NULL, *s_got = NULL;
    int one_shot[] = {NTOK, 0};
    CHECK(run(m, one_shot, ref, &s_ref) == 0, "one-shot: %s", ladder_last_error());

    /* prefill of at least one window, then one token per decode step */
    int pre_dec[] = {30, 1, 0};
    CHECK(run(m, pre_dec, got, &s_got) == 0, "prefill+decode: %s", ladder_last_error());
    CHECK(same(ref, got, V), "prefill(30)+decode differs from one-shot prefill(%d)", NTOK);
    CHECK(same_cache(s_ref, s_got), "caches differ after prefill+decode");
    ladder_session_free(s_got);

    /* chunks of exactly one window, of a non-multiple, and uneven chunks */
    int ch1[] = {16, 0}, ch2[] = {23, 0}, ch3[] = {W, 41, 17, 0};
    const int *chunks[] = {ch1, ch2, ch3};
    for (int i = 0; i < 3; i++) {
        CHECK(run(m, chunks[i], got, &s_got) == 0, "chunked: %s", ladder_last_error());
        CHECK(same(ref, got, V), "chunked prefill #%d differs from one-shot", i);
        CHECK(same_cache(s_ref, s_got), "caches differ after chunked prefill #%d", i);
        ladder_session_free(s_got);
    }

    /* two interleaved sessions equal two sessions run alone */
    ladder_session *a = NULL, *b = NULL;
    CHECK(ladder_session_new(m, NULL, &a) == 0 && ladder_session_new(m, NULL, &b) == 0, "init: %s", ladder_last_error());
    float *la = malloc(sizeof(float) * (size_t)V), *lb = malloc(sizeof(float) * (size_t)V);
    CHECK(ladder_eval(a, toks, 20, LADDER_LOGITS_LAST, la, NULL) == 0, "a");
    CHECK(ladder_eval(b, toks + 50, 20, LADDER_LOGITS_LAST, lb, NULL) == 0, "b");
    for (int i = 20; i < NTOK; i++) {
        CHECK(ladder_eval(a, toks + i, 1, LADDER_LOGITS_LAST, la, NULL) == 0, "a step");
        if (i < 50) CHECK(ladder_eval(b, toks + 70 + (i - 20), 1, LADDER_LOGITS_LAST, lb, NULL) == 0, "b step"); /* toks[70..99] */
    }
    CHECK(same(ref, la, V), "session a disturbed by interleaved session b");

    /* batched decode: the same sequence decoded alone and inside a batch of
       three sessions at other positions (one of them prefilling) */
    {
        ladder_session *alone = NULL, *x[3] = {0};
        float *lo = malloc(sizeof(float) * (size_t)V), *lbat = malloc(sizeof(float) * 3 * (size_t)V);
        CHECK(ladder_session_new(m, NULL, &alone) == 0, "init");
        for (int i = 0; i < 3; i++) CHECK(ladder_session_new(m, NULL, &x[i]) == 0, "init");
        CHECK(ladder_eval(alone, toks, 30, LADDER_LOGITS_LAST, lo, NULL) == 0, "alone prefill");
        CHECK(ladder_eval(x[0], toks, 30, LADDER_LOGITS_LAST, lbat, NULL) == 0, "x0 prefill");
        CHECK(ladder_eval(x[1], toks + 40, 7, LADDER_LOGITS_LAST, lbat, NULL) == 0, "x1 prefill");
        int bad_rows = 0;
        for (int i = 30; i < 60; i++) {
            CHECK(ladder_eval(alone, toks + i, 1, LADDER_LOGITS_LAST, lo, NULL) == 0, "alone step");
            ladder_session *bs[3] = {x[1], x[0], x[2]};
            const int *bi[3] = {toks + 47 + (i - 30) % 40, toks + i, toks + (i % 5 == 0 ? 10 : 3)};
            int bn[3] = {1, 1, i % 5 == 0 ? 5 : 1};
            CHECK(ladder_eval_batch(bs, bi, bn, 3, lbat, NULL) == 0, "batch step: %s", ladder_last_error());
            bad_rows += !same(lo, lbat + V, V);
        }
        CHECK(bad_rows == 0, "%d of 30 decode steps differ between alone and batched", bad_rows);
        ladder_session *dup[2] = {x[0], x[0]};
        const int *di[2] = {toks, toks};
        int dn[2] = {1, 1};
        CHECK(ladder_eval_batch(dup, di, dn, 2, lbat, NULL) != 0, "a session twice in one batch was accepted");
        ladder_session_free(alone);
        for (int i = 0; i < 3; i++) ladder_session_free(x[i]);
        free(lo);
        free(lbat);
    }

    /* snapshots: a state saved after a first call of at least one window and
       some decode steps, restored into a session that held other tokens,
       continues with the bits of one call over everything */
    {
        ladder_session *src = NULL, *dst = NULL, *small = NULL;
        ladder_snapshot *snap = NULL, *early = NULL;
        float *lg = malloc(sizeof(float) * (size_t)V);
        CHECK(ladder_session_new(m, NULL, &src) == 0 && ladder_session_new(m, NULL, &dst) == 0, "init");
        CHECK(ladder_eval(src, toks, 30, LADDER_LOGITS_NONE, NULL, NULL) == 0, "src prefill");
        CHECK(ladder_session_save(src, &early) == 0, "save: %s", ladder_last_error());
        for (int i = 30; i < 41; i++) CHECK(ladder_eval(src, toks + i, 1, LADDER_LOGITS_NONE, NULL, NULL) == 0, "step");
        CHECK(ladder_session_save(src, &snap) == 0, "save: %s", ladder_last_error());
        CHECK(snap && ladder_snapshot_pos(snap) == 41 && ladder_snapshot_exact(snap), "snapshot position/exactness");
        CHECK(snap && early && ladder_snapshot_bytes(snap) > ladder_snapshot_bytes(early),
              "a later snapshot holds more compressed entries");
        CHECK(ladder_eval(dst, toks + 60, 33, LADDER_LOGITS_NONE, NULL, NULL) == 0, "dst holds other tokens");
        CHECK(snap && ladder_session_restore(dst, snap) == 0, "restore: %s", ladder_last_error());
        CHECK(ladder_session_pos(dst) == 41, "restored position %ld", ladder_session_pos(dst));
        CHECK(ladder_eval(dst, toks + 41, NTOK - 41, LADDER_LOGITS_LAST, lg, NULL) == 0, "continue");
        CHECK(same(ref, lg, V), "restored snapshot + rest differs from one call over all tokens");
        CHECK(same_cache(s_ref, dst), "caches differ after a restored snapshot");
        /* the same snapshot again, continued in other chunks */
        CHECK(ladder_session_restore(dst, snap) == 0, "restore twice");
        for (int p = 41; p < NTOK; p += 13) {
            int k = NTOK - p < 13 ? NTOK - p : 13;
            CHECK(ladder_eval(dst, toks + p, k, LADDER_LOGITS_LAST, lg, NULL) == 0, "chunk");
        }
        CHECK(same(ref, lg, V), "restored snapshot + chunks differs from one call");
        /* the earlier snapshot is untouched by what came after it */
        CHECK(early && ladder_session_restore(dst, early) == 0, "restore early");
        CHECK(ladder_eval(dst, toks + 30, NTOK - 30, LADDER_LOGITS_LAST, lg, NULL) == 0, "continue early");
        CHECK(same(ref, lg, V), "the snapshot at 30 + rest differs from one call");
        /* too small a context, and another engine, are refused */
        ladder_session_opts tiny_ctx = {.context = 32};
        CHECK(ladder_session_new(m, &tiny_ctx, &small) == 0, "init small");
        CHECK(snap && ladder_session_restore(small, snap) != 0 && strstr(ladder_last_error(), "reserves"),
              "a snapshot of 41 positions restored into a 32-position session: %s", ladder_last_error());
        ladder_engine *m2 = NULL;
        ladder_session *other = NULL;
        if (ladder_engine_open(dir, &eo, &m2) == 0 && ladder_session_new(m2, NULL, &other) == 0) {
            CHECK(snap && ladder_session_restore(other, snap) != 0 && strstr(ladder_last_error(), "another engine"),
                  "a snapshot restored on another engine: %s", ladder_last_error());
        } else {
            CHECK(0, "second engine: %s", ladder_last_error());
        }
        ladder_session_free(other);
        ladder_engine_close(m2);
        /* a short first call is not exact, yet a restore still continues as
           the saved session does */
        ladder_session *shortp = NULL;
        ladder_snapshot *snap2 = NULL;
        float *lg2 = malloc(sizeof(float) * (size_t)V);
        CHECK(ladder_session_new(m, NULL, &shortp) == 0, "init");
        CHECK(ladder_eval(shortp, toks, W / 2, LADDER_LOGITS_NONE, NULL, NULL) == 0, "short prefill");
        for (int i = W / 2; i < 25; i++) CHECK(ladder_eval(shortp, toks + i, 1, LADDER_LOGITS_NONE, NULL, NULL) == 0, "step");
        CHECK(ladder_session_save(shortp, &snap2) == 0, "save");
        CHECK(snap2 && !ladder_snapshot_exact(snap2), "a first call of %d < window %d reported exact", W / 2, W);
        CHECK(!ladder_session_exact(shortp) && ladder_session_exact(src), "session exactness disagrees with its snapshots'");
        CHECK(snap2 && ladder_session_restore(dst, snap2) == 0, "restore");
        CHECK(ladder_eval(shortp, toks + 25, NTOK - 25, LADDER_LOGITS_LAST, lg, NULL) == 0, "continue saved");
        CHECK(ladder_eval(dst, toks + 25, NTOK - 25, LADDER_LOGITS_LAST, lg2, NULL) == 0, "continue restored");
        CHECK(same(lg, lg2, V), "a restored inexact snapshot diverges from the session it was saved from");
        ladder_snapshot_free(snap2);
        ladder_session_free(shortp);
        free(lg2);
        ladder_snapshot_free(snap);
        ladder_snapshot_free(early);
        ladder_session_free(src);
        ladder_session_free(dst);
        ladder_session_free(small);
        free(lg);
    }

    /* reset returns a session to an empty state */
    ladder_session_reset(a);
    CHECK(ladder_eval(a, toks, NTOK, LADDER_LOGITS_LAST, la, NULL) == 0, "after reset");
    CHECK(same(ref, la, V), "reset session differs from a fresh one");

    /* bad input is refused without touching the state */
    int bad = V + 5;
    CHECK(ladder_eval(a, &bad, 1, LADDER_LOGITS_LAST, la, NULL) != 0, "out-of-vocabulary id accepted");
    CHECK(strstr(ladder_last_error(), "vocabulary") != NULL, "error text: %s", ladder_last_error());

    ladder_session_free(a);
    ladder_session_free(b);
    ladder_session_free(s_ref);
    free(la);
    free(lb);
    free(ref);
    free(got);
    ladder_engine_close(m);
    return test_summary("session");
}
