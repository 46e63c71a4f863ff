/* End-to-end agreement of two engines on one checkpoint (`ladder parity`).
 *
 * Per prompt: one prefill call, then N decode steps fed with side A's greedy
 * tokens (teacher forcing: both sides always see the same inputs, so a
 * single early disagreement cannot derail the rest of the comparison).
 * Every logits row of A is compared with B's: max |logit difference|,
 * KL(A||B) and top-1 agreement. Given text, each side's perplexity.
 *
 * On an oracle case (DIR/golden/manifest.json) the first prompt is the
 * manifest's own run: its prompt, then its forced ids, i.e. exactly the rows
 * its `sensitivity` section measured, reported alongside. A side may be
 * "golden" there (engine NULL): the stored logits of the official reference,
 * which ref reproduces bit for bit. */
#ifndef LADDER_CONFORM_PARITY_H
#define LADDER_CONFORM_PARITY_H

#include "ladder.h"

typedef struct {
    int *ids;
    int n, n_forced; /* n_forced > 0: ids[n..n+n_forced) are fed instead of A's greedy tokens */
    char name[32];
} parity_prompt;

typedef struct {
    int rows, top1;
    long nonfinite; /* logits that are NaN or Inf on either side, left out of the other figures */
    double maxabs, kl_sum, kl_max;
} parity_stats;

/* One variant of the manifest's sensitivity section: KL(golden||variant). */
typedef struct {
    char name[64];
    double kl_mean, kl_max, max_abs_logit_diff, top1;
} parity_variant;

typedef struct {
    const char *dir;
    ladder_engine *engine[2]; /* A, B; NULL = golden */
    const char *prompts_file; /* one prompt per line, space-separated ids; NULL = defaults */
    const char *text_file;    /* sequences to measure perplexity on; NULL = none */
    int steps;                /* decode steps per prompt without forced ids */
} parity_opts;

typedef struct {
    int vocab;
    parity_prompt *prompts;
    parity_stats *stats;      /* per prompt */
    int n_prompts, all_tokens;
    parity_stats all, oracle; /* oracle: the manifest run's rows (rows 0 when none) */
    int n_text;               /* sequences perplexity was measured on */
    double ppl[2];
    /* the manifest's sensitivity rows, when a side is ref or golden */
    parity_variant *variants;
    int n_variants;
    /* the statistical bar of docs/PORTING.md on the oracle rows, when A is
       ref or golden: mean KL <= 2x the plain-fp32 variant's, top-1 >= its
       top-1 - 0.10 */
    int judged, pass;
    double kl_bar, top1_bar;
} parity_report;

/* Returns 0, or -1 with ladder_last_error() set. */
int parity_run(const parity_opts *o, parity_report *r);
void parity_report_free(parity_report *r);
/* The figures as JSON, a and b naming the sides. */
int parity_write_json(const char *path, const char *a, const char *b, const parity_report *r);

#endif
