/* ladder parity: end-to-end agreement of two backends on one checkpoint
 * (the comparison itself: src/conform/parity.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "conform/parity.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

static const char *usage =
    "usage: ladder parity -m DIR -b A -b B [--prompts FILE] [--text FILE] [-n N] [--json FILE]\n"
    "  Compares backend B with backend A end to end: per prompt a prefill, then N decode\n"
    "  steps fed with A's greedy tokens. Reports max |logit diff|, mean and max KL(A||B),\n"
    "  top-1 agreement; with --text, each backend's perplexity and their ratio.\n"
    "  -b NAME        a backend (twice: A then B); 'golden' = the stored logits of an oracle case;\n"
    "                 NAME:PATH picks a weight format path (ref:w8a8 against ref: its accuracy cost)\n"
    "  --prompts FILE one prompt per line, space-separated token ids (default: a few\n"
    "                 deterministic prompts; on an oracle case, first its own prompt + forced ids)\n"
    "  --text FILE    token sequences (same format) to measure perplexity on\n"
    "  -n N           decode steps per prompt (default 16)\n"
    "  --json FILE    also write the figures as JSON\n"
    "  Exit status 1 when DIR is an oracle case, A is ref or golden, and B misses the\n"
    "  statistical bar of docs/PORTING.md on the oracle rows.\n";

static void print_stats(const char *name, int tokens, const parity_stats *s) {
    printf("%-18s %6d %5d %12.4e %11.4e %11.4e %6d/%-4d %6.3f\n", name, tokens, s->rows, s->maxabs,
           s->rows ? s->kl_sum / s->rows : 0, s->kl_max, s->top1, s->rows, s->rows ? (double)s->top1 / s->rows : 0);
    if (s->nonfinite) printf("%-18s %ld non-finite logits (NaN/Inf), left out of the figures above\n", "", s->nonfinite);
}

int cmd_parity(int argc, char **argv) {
    const char *names[2] = {0}, *json = NULL;
    long steps = 16;
    int nb = 0;
    parity_opts po = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(usage, stdout); return 0; }
        const char *flag = argv[i], *v;
        if (strcmp(flag, "-m") && strcmp(flag, "-b") && strcmp(flag, "--backend") && strcmp(flag, "--prompts") &&
            strcmp(flag, "--text") && strcmp(flag, "-n") && strcmp(flag, "--json"))
            return cli_usage("parity", "unknown option '%s' (see --help)", flag);
        if (!(v = cli_value("parity", argc, argv, &i))) return 2;
        if (!strcmp(flag, "-m")) po.dir = v;
        else if (!strcmp(flag, "--prompts")) po.prompts_file = v;
        else if (!strcmp(flag, "--text")) po.text_file = v;
        else if (!strcmp(flag, "--json")) json = v;
        else if (!strcmp(flag, "-n")) {
            if (cli_int(v, 0, 100000, &steps)) return cli_usage("parity", "-n wants a count, not '%s'", v);
        } else if (nb == 2) return cli_usage("parity", "give exactly two backends (-b A -b B)");
        else names[nb++] = v;
    }
    if (!po.dir || nb != 2) return cli_usage("parity", "-m DIR and two backends (-b A -b B) are required (see --help)");
    if (json && cli_out_check(json)) return cli_fail("parity", "--json %s", ladder_last_error());
    po.steps = (int)steps;
    int rc = 1;
    parity_report r = {0};
    for (int k = 0; k < 2; k++) {
        if (!strcmp(names[k], "golden")) continue;
        ladder_engine_opts eo = cli_engine_opts(names[k], 1);
        if (ladder_engine_open(po.dir, &eo, &po.engine[k])) { cli_fail("parity", "%s", ladder_last_error()); goto out; }
    }
    if (parity_run(&po, &r)) { cli_fail("parity", "%s", ladder_last_error()); goto out; }

    printf("ladder parity: A = %s, B = %s on %s (vocab %d); B compared with A\n\n", names[0], names[1], po.dir, r.vocab);
    printf("%-18s %6s %5s %12s %11s %11s %11s %6s\n", "prompt", "tokens", "rows", "max|dlogit|", "mean KL",
           "max KL", "top1", "rate");
    for (int i = 0; i < r.n_prompts; i++) print_stats(r.prompts[i].name, r.prompts[i].n, &r.stats[i]);
    if (r.n_prompts > 1) print_stats("all", r.all_tokens, &r.all);
    if (r.n_text)
        printf("\nperplexity on %s: %s %.6g, %s %.6g, ratio B/A %.6f\n", po.text_file, names[0], r.ppl[0], names[1],
               r.ppl[1], r.ppl[1] / r.ppl[0]);
    if (r.n_variants) {
        printf("\nmanifest sensitivity rows (KL(golden||variant) over the prefill + forced decode rows):\n");
        printf("%-42s %11s %11s %12s %6s\n", "variant", "mean KL", "max KL", "max|dlogit|", "top1");
        for (int i = 0; i < r.n_variants; i++) {
            const parity_variant *v = &r.variants[i];
            printf("%-42s %11.4e %11.4e %12.4e %6.3f\n", v->name, v->kl_mean, v->kl_max, v->max_abs_logit_diff, v->top1);
        }
    }
    rc = 0;
    if (r.judged) {
        printf("\nbar for a backend that does not reproduce the canonical arithmetic (oracle rows):\n"
               "  mean KL %.4e <= %.4e (2x plain_fp32 row) and top1 %.3f >= %.3f (its top1 - 0.10): %s\n",
               r.oracle.kl_sum / r.oracle.rows, r.kl_bar, (double)r.oracle.top1 / r.oracle.rows, r.top1_bar,
               r.pass ? "PASS" : "FAIL");
        rc = !r.pass;
    }
    char jtmp[4200];
    if (json && (cli_tmp_path(json, jtmp, sizeof jtmp) || cli_commit(jtmp, json, !parity_write_json(jtmp, names[0], names[1], &r))))
        rc = cli_fail("parity", "%s", ladder_last_error());
out:
    parity_report_free(&r);
    ladder_engine_close(po.engine[0]);
    ladder_engine_close(po.engine[1]);
    return rc;
}
