/* End-to-end parity of two engines (see parity.h). Runs through the public
 * API only: the sides are engines, perplexity uses all-rows logits. */
#include "conform/parity.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conform/conform.h"
#include "core/error.h"

/* ----------------------------------------------------------- inputs */

/* min_tokens: a shorter non-empty line is an error naming it (a perplexity
 * text needs a token to predict); a file with no line at all is one too. */
static int read_lines(const char *path, parity_prompt **out, int *count, int vocab, int min_tokens, const char *what) {
    struct stat st;
    if (stat(path, &st)) return ld_set_error("%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return ld_set_error("%s: is a directory", path);
    /* checked before opening: a FIFO with no writer would block the open */
    if (!S_ISREG(st.st_mode)) return ld_set_error("%s: not a regular file (a pipe or device)", path);
    FILE *f = fopen(path, "r");
    if (!f) return ld_set_error("%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        parity_prompt p = {0};
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
        if (!rc && p.n && p.n < min_tokens)
            rc = ld_set_error("%s:%d: %d token(s); a %s needs at least %d", path, lineno, p.n, what, min_tokens);
        if (rc || !p.n) { free(p.ids); if (rc) break; continue; }
        snprintf(p.name, sizeof p.name, "line %d", lineno);
        parity_prompt *q = realloc(*out, sizeof *q * (size_t)(*count + 1));
        if (!q) { free(p.ids); rc = ld_set_error("out of memory"); break; }
        (*out = q)[(*count)++] = p;
    }
    free(line);
    fclose(f);
    if (!rc && !*count) rc = ld_set_error("%s has no %ss (one per line, space-separated token ids)", path, what);
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

static void compare_row(const float *a, const float *b, int V, parity_stats *s) {
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

static void merge(parity_stats *all, const parity_stats *s) {
    all->nonfinite += s->nonfinite, all->rows += s->rows, all->top1 += s->top1, all->kl_sum += s->kl_sum;
    all->kl_max = fmax(all->kl_max, s->kl_max), all->maxabs = fmax(all->maxabs, s->maxabs);
}

/* ------------------------------------------------------------- runs */

typedef struct {
    ladder_engine *e;
    float *golden; /* e == NULL: prefill row then the forced decode rows */
    int golden_rows;
} side_t;

/* Runs prompt p on both sides, comparing every logits row. */
static int run_prompt(side_t *sd, const parity_prompt *p, int steps, int V, parity_stats *st) {
    ladder_session *s[2] = {0};
    float *row[2] = {malloc(sizeof(float) * (size_t)V), malloc(sizeof(float) * (size_t)V)};
    int rc = -1, rows = 1 + (p->n_forced ? p->n_forced : steps);
    if (!row[0] || !row[1]) { ld_set_error("out of memory"); goto out; }
    for (int k = 0; k < 2; k++)
        if (sd[k].e && ladder_session_new(sd[k].e, &(ladder_session_opts){.context = (long)p->n + rows}, &s[k])) goto out;
    for (int r = 0; r < rows; r++) {
        int tok = r == 0 ? 0 : p->n_forced ? p->ids[p->n + r - 1] : 0;
        if (r > 0 && !p->n_forced) { /* A's greedy token */
            tok = 0;
            for (int i = 1; i < V; i++)
                if (row[0][i] > row[0][tok]) tok = i;
        }
        for (int k = 0; k < 2; k++) {
            if (!sd[k].e) {
                if (r >= sd[k].golden_rows) { ld_set_error("golden data has only %d logits rows", sd[k].golden_rows); goto out; }
                memcpy(row[k], sd[k].golden + (long)r * V, sizeof(float) * (size_t)V);
            } else if (r == 0 ? ladder_eval(s[k], p->ids, p->n, LADDER_LOGITS_LAST, row[k], NULL)
                              : ladder_eval(s[k], &tok, 1, LADDER_LOGITS_LAST, row[k], NULL))
                goto out;
        }
        compare_row(row[0], row[1], V, st);
    }
    rc = 0;
out:
    if (rc) ld_wrap_error("%s", p->name);
    ladder_session_free(s[0]);
    ladder_session_free(s[1]);
    free(row[0]), free(row[1]);
    return rc;
}

/* Perplexity of one engine on token sequences: one prefill per sequence,
 * the logits of every position. */
static int perplexity(ladder_engine *e, const parity_prompt *t, int nt, double *ppl) {
    int V = ladder_engine_info(e)->vocab_size;
    double nll = 0;
    long count = 0;
    for (int i = 0; i < nt; i++) {
        if (t[i].n < 2) continue;
        ladder_session *s = NULL;
        float *lg = malloc(sizeof(float) * (size_t)t[i].n * V);
        if (!lg) return ld_set_error("out of memory");
        int rc = ladder_session_new(e, &(ladder_session_opts){.context = t[i].n}, &s) ||
                 ladder_eval(s, t[i].ids, t[i].n, LADDER_LOGITS_ALL, lg, NULL);
        ladder_session_free(s);
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

static void read_sensitivity(const cJSON *man, parity_report *r) {
    const cJSON *sens = cJSON_GetObjectItemCaseSensitive(man, "sensitivity");
    if (!cJSON_IsObject(sens)) return;
    int n = cJSON_GetArraySize(sens);
    if (!(r->variants = calloc((size_t)(n ? n : 1), sizeof *r->variants))) return;
    for (const cJSON *v = sens->child; v; v = v->next) {
        if (!cJSON_IsObject(v)) continue;
        parity_variant *o = &r->variants[r->n_variants++];
        snprintf(o->name, sizeof o->name, "%s", v->string);
        o->kl_mean = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "kl_mean"));
        o->kl_max = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "kl_max"));
        o->max_abs_logit_diff = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "max_abs_logit_diff"));
        o->top1 = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "top1_agreement"));
        if (!strcmp(v->string, "plain_fp32_accumulation_and_other_libm"))
            r->kl_bar = 2 * o->kl_mean, r->top1_bar = o->top1 - 0.10;
    }
}

/* ------------------------------------------------------------- main */

static int add_prompt(parity_report *r, const parity_prompt *p) {
    parity_prompt *q = realloc(r->prompts, sizeof *q * (size_t)(r->n_prompts + 1));
    if (!q) return ld_set_error("out of memory");
    (r->prompts = q)[r->n_prompts++] = *p;
    return 0;
}

static int is_ref(const side_t *s) { return s->e && !strcmp(ladder_engine_info(s->e)->backend, "ref"); }

int parity_run(const parity_opts *o, parity_report *r) {
    *r = (parity_report){.ppl = {NAN, NAN}, .kl_bar = NAN, .top1_bar = NAN};
    side_t sd[2] = {{.e = o->engine[0]}, {.e = o->engine[1]}};
    ladder_engine *any = sd[0].e ? sd[0].e : sd[1].e;
    if (!any) return ld_set_error("at least one side must be a backend, not 'golden'");
    const ladder_info *in = ladder_engine_info(any);
    int V = r->vocab = in->vocab_size, rc = -1;
    cJSON *man = read_manifest(o->dir);
    parity_prompt *tx = NULL;
    int ntx = 0;

    /* the oracle run first, when there is one */
    size_t bp = 0, bf = 0;
    int *gp = man ? read_golden(o->dir, "prompt_ids.i32", &bp) : NULL, *gf = man ? read_golden(o->dir, "forced_ids.i32", &bf) : NULL;
    if (gp && gf && bp >= 4) {
        parity_prompt p = {.n = (int)(bp / 4), .n_forced = (int)(bf / 4), .ids = malloc(bp + bf)};
        if (!p.ids || add_prompt(r, &p)) { free(p.ids), free(gp), free(gf); ld_set_error("out of memory"); goto out; }
        memcpy(p.ids, gp, bp), memcpy(p.ids + p.n, gf, bf);
        snprintf(r->prompts[0].name, sizeof r->prompts[0].name, "oracle (forced)");
    }
    free(gp), free(gf);
    for (int k = 0; k < 2; k++) {
        if (sd[k].e) continue;
        size_t b1 = 0, b2 = 0;
        float *pl = man ? read_golden(o->dir, "prefill_logits.f32", &b1) : NULL;
        float *dl = pl ? read_golden(o->dir, "decode_logits.f32", &b2) : NULL;
        if (!pl || !dl || !r->n_prompts || b1 != sizeof(float) * (size_t)V) {
            free(pl), free(dl);
            ld_set_error("'golden' needs an oracle case (%s/golden with prompt, forced ids and logits)", o->dir);
            goto out;
        }
        sd[k].golden = malloc(b1 + b2);
        if (!sd[k].golden) { free(pl), free(dl); ld_set_error("out of memory"); goto out; }
        memcpy(sd[k].golden, pl, b1), memcpy((char *)sd[k].golden + b1, dl, b2);
        sd[k].golden_rows = (int)((b1 + b2) / (sizeof(float) * (size_t)V));
        free(pl), free(dl);
    }
    int golden = !sd[0].e || !sd[1].e;
    if (o->prompts_file) {
        if (golden) { ld_set_error("'golden' only has the oracle run; drop --prompts"); goto out; }
        /* given prompts replace the defaults, the oracle run included */
        for (int i = 0; i < r->n_prompts; i++) free(r->prompts[i].ids);
        free(r->prompts), r->prompts = NULL, r->n_prompts = 0;
        if (read_lines(o->prompts_file, &r->prompts, &r->n_prompts, V, 1, "prompt")) goto out;
    } else if (!golden) {
        static const int LEN[3] = {48, 17, 5};
        for (int i = 0; i < 3; i++) {
            parity_prompt p = {.n = LEN[i], .ids = malloc(sizeof(int) * (size_t)LEN[i])};
            if (!p.ids || add_prompt(r, &p)) { free(p.ids); ld_set_error("out of memory"); goto out; }
            conform_default_prompt(p.ids, LEN[i], V, in->bos_id, (uint64_t)i + 1);
            snprintf(r->prompts[r->n_prompts - 1].name, sizeof p.name, "default %d", i + 1);
        }
    }
    if (o->text_file && golden) { ld_set_error("--text needs two backends, not 'golden'"); goto out; }
    if (o->text_file && read_lines(o->text_file, &tx, &ntx, V, 2, "text")) goto out;

    if (!(r->stats = calloc((size_t)(r->n_prompts ? r->n_prompts : 1), sizeof *r->stats))) { ld_set_error("out of memory"); goto out; }
    for (int i = 0; i < r->n_prompts; i++) {
        if (run_prompt(sd, &r->prompts[i], o->steps, V, &r->stats[i])) goto out;
        r->all_tokens += r->prompts[i].n;
        merge(&r->all, &r->stats[i]);
        if (r->prompts[i].n_forced) r->oracle = r->stats[i];
    }
    for (int k = 0; ntx && k < 2; k++)
        if (perplexity(sd[k].e, tx, ntx, &r->ppl[k])) goto out;
    r->n_text = ntx;
    int a_is_truth = is_ref(&sd[0]) || !sd[0].e;
    if (man && (is_ref(&sd[0]) || is_ref(&sd[1]) || golden)) read_sensitivity(man, r);
    if (man && r->oracle.rows && a_is_truth && !isnan(r->kl_bar)) {
        double km = r->oracle.kl_sum / r->oracle.rows, t1 = (double)r->oracle.top1 / r->oracle.rows;
        r->judged = 1;
        r->pass = km <= r->kl_bar && t1 >= r->top1_bar;
    }
    rc = 0;
out:
    for (int i = 0; i < ntx; i++) free(tx[i].ids);
    free(tx);
    free(sd[0].golden), free(sd[1].golden);
    cJSON_Delete(man);
    return rc;
}

void parity_report_free(parity_report *r) {
    for (int i = 0; i < r->n_prompts; i++) free(r->prompts[i].ids);
    free(r->prompts), free(r->stats), free(r->variants);
    *r = (parity_report){0};
}

int parity_write_json(const char *path, const char *a, const char *b, const parity_report *r) {
    FILE *f = fopen(path, "w");
    if (!f) return ld_set_error("cannot write %s", path);
    const parity_stats *all = &r->all, *orc = &r->oracle;
    fprintf(f, "{\"a\": \"%s\", \"b\": \"%s\", \"rows\": %d, \"max_abs_logit_diff\": %.9g, \"kl_mean\": %.9g, "
               "\"kl_max\": %.9g, \"top1_agreement\": %.9g",
            a, b, all->rows, all->maxabs, all->rows ? all->kl_sum / all->rows : 0, all->kl_max,
            all->rows ? (double)all->top1 / all->rows : 0);
    if (orc->rows)
        fprintf(f, ", \"oracle\": {\"rows\": %d, \"kl_mean\": %.9g, \"kl_max\": %.9g, \"top1_agreement\": %.9g}",
                orc->rows, orc->kl_sum / orc->rows, orc->kl_max, (double)orc->top1 / orc->rows);
    if (r->n_text) fprintf(f, ", \"ppl_a\": %.9g, \"ppl_b\": %.9g", r->ppl[0], r->ppl[1]);
    fputs("}\n", f);
    return fclose(f) ? ld_set_error("cannot write %s", path) : 0;
}
