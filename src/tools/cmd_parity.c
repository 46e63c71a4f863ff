/* ladder parity: end-to-end agreement of two backends on one checkpoint.
 *
 * Per prompt: one prefill call, then N decode steps fed with backend A's
 * greedy tokens (teacher forcing: both backends always see the same inputs,
 * so a single early disagreement cannot derail the rest of the comparison).
 * Every logits row of A is compared with B's: max |logit difference|,
 * KL(A||B) and top-1 agreement. With --text, each backend's perplexity on
 * given token sequences.
 *
 * On an oracle case (DIR/golden/manifest.json) the first prompt is the
 * manifest's own run: its prompt, then its forced ids, i.e. exactly the rows
 * its `sensitivity` section measured, which are printed alongside. "golden"
 * may stand for a backend there: the stored logits of the official
 * reference (ref reproduces them bit for bit). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/session.h"
#include "tools/cli_util.h"
#include "conform/conform.h"

static const char *usage =
    "usage: ladder parity -m DIR -b A -b B [--prompts FILE] [--text FILE] [-n N] [--json FILE]\n"
    "  Compares backend B with backend A end to end: per prompt a prefill, then N decode\n"
    "  steps fed with A's greedy tokens. Reports max |logit diff|, mean and max KL(A||B),\n"
    "  top-1 agreement; with --text, each backend's perplexity and their ratio.\n"
    "  -b NAME        a backend (twice: A then B); 'golden' = the stored logits of an oracle case\n"
    "  --prompts FILE one prompt per line, space-separated token ids (default: a few\n"
    "                 deterministic prompts; on an oracle case, first its own prompt + forced ids)\n"
    "  --text FILE    token sequences (same format) to measure perplexity on\n"
    "  -n N           decode steps per prompt (default 16)\n"
    "  --json FILE    also write the figures as JSON\n"
    "  Exit status 1 when DIR is an oracle case, A is ref or golden, and B misses the\n"
    "  statistical bar of docs/PORTING.md on the oracle rows.\n";

typedef struct {
    int *ids;
    int n, n_forced; /* n_forced > 0: ids[n..n+n_forced) are fed instead of A's greedy tokens */
    char name[32];
} prompt_t;

typedef struct {
    int rows, top1;
    long nonfinite; /* logits that are NaN or Inf on either side */
    double maxabs, kl_sum, kl_max;
} stats_t;

/* ----------------------------------------------------------- inputs */

static int read_lines(const char *path, prompt_t **out, int *count, int vocab) {
    FILE *f = fopen(path, "r");
    if (!f) return ld_set_error("cannot open %s", path);
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        prompt_t p = {0};
        for (char *s = line, *e;; s = e) {
            long v = strtol(s, &e, 10);
            if (e == s) {
                while (*e == ' ' || *e == '\t') e++;
                if (*e) rc = ld_set_error("%s:%d: not a token id near '%.10s'", path, lineno, e);
                break;
            }
            if (v < 0 || v >= vocab) { rc = ld_set_error("%s:%d: token id %ld outside [0, %d)", path, lineno, v, vocab); break; }
            int *q = realloc(p.ids, sizeof(int) * (size_t)(p.n + 1));
            if (!q) { rc = ld_set_error("out of memory"); break; }
            (p.ids = q)[p.n++] = (int)v;
        }
        if (rc || !p.n) { free(p.ids); if (rc) break; continue; }
        snprintf(p.name, sizeof p.name, "line %d", lineno);
        prompt_t *q = realloc(*out, sizeof *q * (size_t)(*count + 1));
        if (!q) { free(p.ids); rc = ld_set_error("out of memory"); break; }
        (*out = q)[(*count)++] = p;
    }
    free(line);
    fclose(f);
    return rc;
}

static void *read_golden(const char *dir, const char *file, size_t *bytes) {
    char path[4200];
    snprintf(path, sizeof path, "%s/golden/%s", dir, file);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = n > 0 ? malloc((size_t)n) : NULL;
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); p = NULL; }
    fclose(f);
    *bytes = p ? (size_t)n : 0;
    return p;
}

static cJSON *read_manifest(const char *dir) {
    size_t n;
    char *txt = read_golden(dir, "manifest.json", &n);
    if (!txt) return NULL;
    char *z = realloc(txt, n + 1);
    if (!z) { free(txt); return NULL; }
    z[n] = 0;
    cJSON *j = cJSON_Parse(z);
    free(z);
    return j;
}

/* --------------------------------------------------------- compare */

static void compare_row(const float *a, const float *b, int V, stats_t *s) {
    double ma = -INFINITY, mb = -INFINITY, za = 0, zb = 0, kl = 0;
    int ia = 0, ib = 0;
    for (int i = 0; i < V; i++) {
        if (a[i] > a[ia]) ia = i;
        if (b[i] > b[ib]) ib = i;
        if (!isfinite(a[i]) || !isfinite(b[i])) { s->nonfinite++; continue; }
        ma = fmax(ma, a[i]), mb = fmax(mb, b[i]);
        s->maxabs = fmax(s->maxabs, fabs((double)a[i] - b[i]));
    }
    for (int i = 0; i < V; i++)
        if (isfinite(a[i]) && isfinite(b[i])) za += exp(a[i] - ma), zb += exp(b[i] - mb);
    double la = ma + log(za), lb = mb + log(zb);
    for (int i = 0; i < V; i++) {
        if (!isfinite(a[i]) || !isfinite(b[i])) continue;
        double pa = exp(a[i] - la);
        if (pa > 0) kl += pa * ((a[i] - la) - (b[i] - lb));
    }
    kl = fmax(kl, 0); /* rounding can leave a tiny negative sum */
    s->rows++, s->top1 += ia == ib, s->kl_sum += kl, s->kl_max = fmax(s->kl_max, kl);
}

static void merge(stats_t *all, const stats_t *s) {
    all->nonfinite += s->nonfinite, all->rows += s->rows, all->top1 += s->top1, all->kl_sum += s->kl_sum;
    all->kl_max = fmax(all->kl_max, s->kl_max), all->maxabs = fmax(all->maxabs, s->maxabs);
}

static void print_stats(const char *name, int tokens, const stats_t *s) {
    printf("%-18s %6d %5d %12.4e %11.4e %11.4e %6d/%-4d %6.3f\n", name, tokens, s->rows, s->maxabs,
           s->rows ? s->kl_sum / s->rows : 0, s->kl_max, s->top1, s->rows, s->rows ? (double)s->top1 / s->rows : 0);
    if (s->nonfinite) printf("%-18s %ld non-finite logits (NaN/Inf), left out of the figures above\n", "", s->nonfinite);
}

/* ------------------------------------------------------------- runs */

typedef struct {
    const char *name;
    ld_model m;
    int loaded;
    float *golden; /* "golden": prefill row then the forced decode rows */
    int golden_rows;
} side_t;

/* Runs prompt p on both sides, comparing every logits row. */
static int run_prompt(side_t *sd, const prompt_t *p, int steps, int V, stats_t *st) {
    ld_session s[2] = {{0}, {0}};
    float *row[2] = {malloc(sizeof(float) * (size_t)V), malloc(sizeof(float) * (size_t)V)};
    int rc = -1, rows = 1 + (p->n_forced ? p->n_forced : steps);
    if (!row[0] || !row[1]) { ld_set_error("out of memory"); goto out; }
    for (int k = 0; k < 2; k++)
        if (!sd[k].golden && ld_session_init(&s[k], &sd[k].m)) goto out;
    for (int r = 0; r < rows; r++) {
        int tok = r == 0 ? 0 : p->n_forced ? p->ids[p->n + r - 1] : 0;
        if (r > 0 && !p->n_forced) { /* A's greedy token */
            tok = 0;
            for (int i = 1; i < V; i++)
                if (row[0][i] > row[0][tok]) tok = i;
        }
        for (int k = 0; k < 2; k++) {
            if (sd[k].golden) {
                if (r >= sd[k].golden_rows) { ld_set_error("golden data has only %d logits rows", sd[k].golden_rows); goto out; }
                memcpy(row[k], sd[k].golden + (long)r * V, sizeof(float) * (size_t)V);
            } else if (r == 0 ? ld_session_eval(&s[k], p->ids, p->n, row[k]) : ld_session_eval(&s[k], &tok, 1, row[k]))
                goto out;
        }
        compare_row(row[0], row[1], V, st);
    }
    rc = 0;
out:
    for (int k = 0; k < 2; k++)
        if (s[k].lc) ld_session_free(&s[k]);
    free(row[0]), free(row[1]);
    return rc;
}

/* Perplexity of one backend on token sequences: one prefill per sequence
 * with the logits of every position. */
static int perplexity(const ld_model *m, const prompt_t *t, int nt, double *ppl) {
    int V = m->cfg.vocab_size;
    double nll = 0;
    long count = 0;
    for (int i = 0; i < nt; i++) {
        if (t[i].n < 2) continue;
        ld_session s;
        float *lg = malloc(sizeof(float) * (size_t)t[i].n * V);
        if (!lg || ld_session_init_ctx(&s, m, t[i].n)) { free(lg); return -1; }
        ld_session *sp = &s;
        const int *ids = t[i].ids;
        int rc = ld_batch_eval_rows(&sp, &ids, &t[i].n, 1, lg, 1);
        ld_session_free(&s);
        for (int r = 0; !rc && r < t[i].n - 1; r++) {
            const float *l = lg + (long)r * V;
            double mx = -INFINITY, z = 0;
            for (int v = 0; v < V; v++) mx = fmax(mx, l[v]);
            for (int v = 0; v < V; v++) z += exp(l[v] - mx);
            nll += mx + log(z) - l[t[i].ids[r + 1]], count++;
        }
        free(lg);
        if (rc) return -1;
    }
    *ppl = count ? exp(nll / (double)count) : NAN;
    return 0;
}

/* ------------------------------------------------------------- main */

static void print_sensitivity(const cJSON *man, double *kl_bar, double *top1_bar) {
    const cJSON *sens = cJSON_GetObjectItemCaseSensitive(man, "sensitivity");
    if (!cJSON_IsObject(sens)) return;
    printf("\nmanifest sensitivity rows (KL(golden||variant) over the prefill + forced decode rows):\n");
    printf("%-42s %11s %11s %12s %6s\n", "variant", "mean KL", "max KL", "max|dlogit|", "top1");
    for (const cJSON *v = sens->child; v; v = v->next) {
        if (!cJSON_IsObject(v)) continue;
        double km = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "kl_mean"));
        double kx = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "kl_max"));
        double ma = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "max_abs_logit_diff"));
        double t1 = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "top1_agreement"));
        printf("%-42s %11.4e %11.4e %12.4e %6.3f\n", v->string, km, kx, ma, t1);
        if (!strcmp(v->string, "plain_fp32_accumulation_and_other_libm")) *kl_bar = 2 * km, *top1_bar = t1 - 0.10;
    }
}

int cmd_parity(int argc, char **argv) {
    const char *dir = NULL, *names[2] = {0}, *pfile = NULL, *tfile = NULL, *json = NULL;
    long steps = 16;
    int nb = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(usage, stdout); return 0; }
        const char *flag = argv[i], *v;
        if (strcmp(flag, "-m") && strcmp(flag, "-b") && strcmp(flag, "--backend") && strcmp(flag, "--prompts") &&
            strcmp(flag, "--text") && strcmp(flag, "-n") && strcmp(flag, "--json"))
            return cli_fail("parity", "unknown option '%s' (see --help)", flag);
        if (!(v = cli_value("parity", argc, argv, &i))) return 1;
        if (!strcmp(flag, "-m")) dir = v;
        else if (!strcmp(flag, "--prompts")) pfile = v;
        else if (!strcmp(flag, "--text")) tfile = v;
        else if (!strcmp(flag, "--json")) json = v;
        else if (!strcmp(flag, "-n")) {
            if (cli_int(v, 0, 100000, &steps)) return cli_fail("parity", "-n wants a count, not '%s'", v);
        } else if (nb == 2) return cli_fail("parity", "give exactly two backends (-b A -b B)");
        else names[nb++] = v;
    }
    if (!dir || nb != 2) return cli_fail("parity", "-m DIR and two backends (-b A -b B) are required (see --help)");
    cJSON *man = read_manifest(dir);
    side_t sd[2] = {{.name = names[0]}, {.name = names[1]}};
    prompt_t *pr = NULL, *tx = NULL;
    int npr = 0, ntx = 0, rc = 1, V = 0;
    for (int k = 0; k < 2; k++) {
        if (!strcmp(names[k], "golden")) continue;
        const ld_backend_ops *ops = ld_backend_find(names[k]);
        if (!ops) { cli_fail("parity", "unknown or unusable backend '%s'", names[k]); goto out; }
        if (ld_model_load(dir, ops, &sd[k].m)) { cli_fail("parity", "%s", ld_last_error()); goto out; }
        sd[k].loaded = 1, V = sd[k].m.cfg.vocab_size;
    }
    if (!V) { cli_fail("parity", "at least one side must be a backend, not 'golden'"); goto out; }
    const ld_config *cf = &sd[sd[0].loaded ? 0 : 1].m.cfg;

    /* the oracle run first, when there is one */
    size_t bp = 0, bf = 0;
    int *gp = man ? read_golden(dir, "prompt_ids.i32", &bp) : NULL, *gf = man ? read_golden(dir, "forced_ids.i32", &bf) : NULL;
    if (gp && gf && bp >= 4) {
        prompt_t p = {.n = (int)(bp / 4), .n_forced = (int)(bf / 4)};
        p.ids = malloc(bp + bf);
        pr = malloc(sizeof *pr);
        if (!p.ids || !pr) { free(p.ids), free(gp), free(gf); cli_fail("parity", "out of memory"); goto out; }
        memcpy(p.ids, gp, bp), memcpy(p.ids + p.n, gf, bf);
        snprintf(p.name, sizeof p.name, "oracle (forced)");
        pr[0] = p, npr = 1;
    }
    free(gp), free(gf);
    for (int k = 0; k < 2; k++) {
        if (sd[k].loaded) continue;
        size_t b1 = 0, b2 = 0;
        float *pl = man ? read_golden(dir, "prefill_logits.f32", &b1) : NULL, *dl = pl ? read_golden(dir, "decode_logits.f32", &b2) : NULL;
        if (!pl || !dl || !npr || b1 != sizeof(float) * (size_t)V) {
            free(pl), free(dl);
            cli_fail("parity", "'golden' needs an oracle case (%s/golden with prompt, forced ids and logits)", dir);
            goto out;
        }
        sd[k].golden = malloc(b1 + b2);
        if (sd[k].golden) memcpy(sd[k].golden, pl, b1), memcpy((char *)sd[k].golden + b1, dl, b2);
        sd[k].golden_rows = (int)((b1 + b2) / (sizeof(float) * (size_t)V));
        free(pl), free(dl);
    }
    int golden = sd[0].golden || sd[1].golden;
    if (pfile) {
        if (golden) { cli_fail("parity", "'golden' only has the oracle run; drop --prompts"); goto out; }
        npr = 0; /* given prompts replace the defaults, the oracle run included */
        free(pr ? pr[0].ids : NULL), free(pr), pr = NULL;
        if (read_lines(pfile, &pr, &npr, V)) { cli_fail("parity", "%s", ld_last_error()); goto out; }
    } else if (!golden) {
        static const int LEN[3] = {48, 17, 5};
        for (int i = 0; i < 3; i++) {
            prompt_t *q = realloc(pr, sizeof *q * (size_t)(npr + 1));
            if (!q || !(q[npr].ids = malloc(sizeof(int) * (size_t)LEN[i]))) { cli_fail("parity", "out of memory"); goto out; }
            pr = q;
            conform_default_prompt(pr[npr].ids, LEN[i], V, cf->bos_id, (uint64_t)i + 1);
            pr[npr].n = LEN[i], pr[npr].n_forced = 0;
            snprintf(pr[npr].name, sizeof pr[npr].name, "default %d", i + 1);
            npr++;
        }
    }
    if (tfile && read_lines(tfile, &tx, &ntx, V)) { cli_fail("parity", "%s", ld_last_error()); goto out; }
    if (tfile && golden) { cli_fail("parity", "--text needs two backends, not 'golden'"); goto out; }

    printf("ladder parity: A = %s, B = %s on %s (vocab %d); B compared with A\n\n", names[0], names[1], dir, V);
    printf("%-18s %6s %5s %12s %11s %11s %11s %6s\n", "prompt", "tokens", "rows", "max|dlogit|", "mean KL",
           "max KL", "top1", "rate");
    stats_t all = {0}, oracle = {0};
    int all_tokens = 0;
    for (int i = 0; i < npr; i++) {
        stats_t st = {0};
        if (run_prompt(sd, &pr[i], (int)steps, V, &st)) { cli_fail("parity", "%s: %s", pr[i].name, ld_last_error()); goto out; }
        print_stats(pr[i].name, pr[i].n, &st);
        all_tokens += pr[i].n;
        merge(&all, &st);
        if (pr[i].n_forced) oracle = st;
    }
    if (npr > 1) print_stats("all", all_tokens, &all);
    double ppl[2] = {NAN, NAN};
    if (ntx) {
        for (int k = 0; k < 2; k++)
            if (perplexity(&sd[k].m, tx, ntx, &ppl[k])) { cli_fail("parity", "%s", ld_last_error()); goto out; }
        printf("\nperplexity on %s: %s %.6g, %s %.6g, ratio B/A %.6f\n", tfile, names[0], ppl[0], names[1], ppl[1],
               ppl[1] / ppl[0]);
    }
    rc = 0;
    double kl_bar = NAN, top1_bar = NAN;
    int judged = man && oracle.rows && (!strcmp(names[0], "ref") || !strcmp(names[0], "golden"));
    if (man && (!strcmp(names[0], "ref") || !strcmp(names[1], "ref") || golden)) print_sensitivity(man, &kl_bar, &top1_bar);
    if (judged && !isnan(kl_bar)) {
        double km = oracle.kl_sum / oracle.rows, t1 = (double)oracle.top1 / oracle.rows;
        int ok = km <= kl_bar && t1 >= top1_bar;
        printf("\nbar for a backend that does not reproduce the canonical arithmetic (oracle rows):\n"
               "  mean KL %.4e <= %.4e (2x plain_fp32 row) and top1 %.3f >= %.3f (its top1 - 0.10): %s\n",
               km, kl_bar, t1, top1_bar, ok ? "PASS" : "FAIL");
        rc = !ok;
    }
    if (json) {
        FILE *f = fopen(json, "w");
        if (!f) { rc = cli_fail("parity", "cannot write %s", json); goto out; }
        fprintf(f, "{\"a\": \"%s\", \"b\": \"%s\", \"rows\": %d, \"max_abs_logit_diff\": %.9g, \"kl_mean\": %.9g, "
                   "\"kl_max\": %.9g, \"top1_agreement\": %.9g",
                names[0], names[1], all.rows, all.maxabs, all.rows ? all.kl_sum / all.rows : 0, all.kl_max,
                all.rows ? (double)all.top1 / all.rows : 0);
        if (oracle.rows)
            fprintf(f, ", \"oracle\": {\"rows\": %d, \"kl_mean\": %.9g, \"kl_max\": %.9g, \"top1_agreement\": %.9g}",
                    oracle.rows, oracle.kl_sum / oracle.rows, oracle.kl_max, (double)oracle.top1 / oracle.rows);
        if (ntx) fprintf(f, ", \"ppl_a\": %.9g, \"ppl_b\": %.9g", ppl[0], ppl[1]);
        fputs("}\n", f);
        if (fclose(f)) rc = cli_fail("parity", "cannot write %s", json);
    }
out:
    for (int i = 0; i < npr; i++) free(pr[i].ids);
    for (int i = 0; i < ntx; i++) free(tx[i].ids);
    free(pr), free(tx);
    for (int k = 0; k < 2; k++) {
        if (sd[k].loaded) ld_model_free(&sd[k].m);
        free(sd[k].golden);
    }
    cJSON_Delete(man);
    return rc;
}
