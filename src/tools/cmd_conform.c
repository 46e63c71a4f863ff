/* ladder conform: proves a backend computes what ref computes, operator by
 * operator and then layer by layer on real checkpoints (conform_ops.c,
 * conform_layers.c; docs/CONFORMANCE.md explains every tolerance). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <time.h>

#include "tools/cli_util.h"
#include "conform/conform.h"
#include "tools/commands.h"

static const char *usage =
    "usage: ladder conform [-b BACKEND] [--op PATTERN] [--seed N] [--quick] [--json FILE]\n"
    "                      [-m DIR ...] [--prompt-ids FILE] [--decode N] [--ops-only|--layers-only]\n"
    "                      [--weights PATH [--against-native]]\n"
    "  Compares a backend with ref, the numerical ground truth; exits 1 on any failure.\n"
    "  ops:    every operator on random inputs and on the exact V4-Flash / V4-Pro shapes,\n"
    "          M = 37, 4, 1 where the op takes rows. ref's linear is scalar double, so the\n"
    "          largest weights run on a leading subset of their output rows ('[N rows]').\n"
    "  layers: with -m DIR (repeatable), every block of the checkpoint run on the backend\n"
    "          from the input ref gave it: a prefill, then --decode single-token steps.\n"
    "  -b BACKEND        backend under test (default: the first registered one besides ref)\n"
    "  --op PATTERN      only ops whose name matches (glob, or substring), e.g. 'linear*'\n"
    "  --seed N          input seed (default 1); inputs depend only on seed, op and shape\n"
    "  --quick           the reduced set of the unit tests (no Pro shapes, small subsets)\n"
    "  --json FILE       also write every row as JSON\n"
    "  --prompt-ids FILE raw little-endian int32 prompt for the layer level ('-': stdin)\n"
    "                    (default: a deterministic 64-token prompt)\n"
    "  --decode N        decode steps after the prompt (default 4)\n"
    "  --weights PATH    the weight format path both sides run (native, bf16, w8a8)\n"
    "  --against-native  layers only: ref runs the native path, the backend --weights', so\n"
    "                    each sublayer row shows the error the path brings in at that\n"
    "                    sublayer (the backend bar is printed for scale; not an exit failure)\n";

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Rows of kind k that ran; *fail of them failed, *na were not run (the
 * backend leaves the op unsupported). */
static int summarize(const conform_report *r, conform_kind k, int *fail, int *na) {
    int n = 0;
    *fail = *na = 0;
    for (int i = 0; i < r->n; i++) {
        if (r->rows[i].kind != k) continue;
        if (r->rows[i].unsupported) (*na)++;
        else n++, *fail += !r->rows[i].pass;
    }
    return n;
}

int cmd_conform(int argc, char **argv) {
    const char *bk = NULL, *json = NULL, *pids = NULL, *dirs[16];
    int ndirs = 0, ops_only = 0, layers_only = 0, quick = 0, vs_native = 0;
    long seed = 1, decode = 4;
    conform_opts oo = {.backend = {.isa = cli_env_isa(), .threads = cli_env_threads(), .device = -1}};
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(usage, stdout); return 0; }
        if (!strcmp(argv[i], "--ops-only")) { ops_only = 1; continue; }
        if (!strcmp(argv[i], "--layers-only")) { layers_only = 1; continue; }
        if (!strcmp(argv[i], "--quick")) { quick = 1; continue; }
        if (!strcmp(argv[i], "--against-native")) { vs_native = 1; continue; }
        if (strcmp(argv[i], "-b") && strcmp(argv[i], "--backend") && strcmp(argv[i], "--op") &&
            strcmp(argv[i], "--seed") && strcmp(argv[i], "--json") && strcmp(argv[i], "-m") &&
            strcmp(argv[i], "--prompt-ids") && strcmp(argv[i], "--decode"))
            return cli_usage("conform", "unknown option '%s' (see --help)", argv[i]);
        const char *flag = argv[i];
        if (!(v = cli_value("conform", argc, argv, &i))) return 2;
        if (!strcmp(flag, "-b") || !strcmp(flag, "--backend")) bk = v;
        else if (!strcmp(flag, "--op")) oo.pattern = v;
        else if (!strcmp(flag, "--json")) json = v;
        else if (!strcmp(flag, "--prompt-ids")) pids = v;
        else if (!strcmp(flag, "-m")) {
            if (ndirs == 16) return cli_usage("conform", "at most 16 checkpoints (-m) per run");
            dirs[ndirs++] = v;
        } else if (!strcmp(flag, "--seed") ? cli_int(v, 0, 0x7fffffffL, &seed) : cli_int(v, 0, 1000, &decode))
            return cli_usage("conform", "%s wants a non-negative integer, not '%s'", flag, v);
    }
    if (ops_only && layers_only) return cli_usage("conform", "--ops-only and --layers-only exclude each other");
    if (layers_only && !ndirs) return cli_usage("conform", "--layers-only needs at least one -m DIR");
    if (vs_native && (!layers_only || cli_formats() == LADDER_FORMATS_NATIVE))
        return cli_usage("conform", "--against-native compares a format path's layers: give --layers-only, -m DIR and "
                                    "--weights PATH (not native)");
    const char *name;
    /* a missing checkpoint is found now, not after every op has run */
    for (int d = 0; d < ndirs; d++) {
        char cfg[4200];
        struct stat st;
        snprintf(cfg, sizeof cfg, "%s/config.json", dirs[d]);
        if (stat(dirs[d], &st)) return cli_fail("conform", "-m %s: %s", dirs[d], strerror(errno));
        if (!S_ISDIR(st.st_mode)) return cli_fail("conform", "-m %s: not a directory", dirs[d]);
        if (stat(cfg, &st)) return cli_fail("conform", "-m %s: no config.json in it: not a checkpoint", dirs[d]);
    }
    if (json && cli_out_check(json)) return cli_fail("conform", "--json %s", ladder_last_error());
    if (conform_select_backend(bk, cli_env_isa(), cli_env_threads(), &name)) return cli_fail("conform", "%s", ladder_last_error());
    int np = 0, *prompt = NULL;
    if (pids && !(prompt = cli_read_ids(pids, &np))) return cli_fail("conform", "%s", ladder_last_error());
    if (pids && !np) { free(prompt); return cli_fail("conform", "%s: the prompt is empty", pids); }

    conform_report rep = {0};
    int rc = 0;
    double t0 = now(), t_ops = 0;
    printf("ladder conform: backend '%s' against ref, seed %ld\n\n", name, seed);
    if (!layers_only) {
        oo.seed = (uint64_t)seed, oo.reduced = quick, oo.log = stdout;
        conform_print_header(stdout, CONF_OP);
        if (ld_conform_ops_named(name, &oo, &rep) < 0) rc = cli_fail("conform", "%s", ladder_last_error());
        t_ops = now() - t0;
    }
    for (int d = 0; d < ndirs && !rc && !ops_only; d++) {
        conform_layer_opts lo = {.prompt = prompt, .n_prompt = np, .n_decode = (int)decode, .log = stdout,
                                 .backend = {.isa = cli_env_isa(), .threads = cli_env_threads(), .device = -1},
                                 .formats = (ld_formats)cli_formats(), .vs_native = vs_native};
        printf("\nlayers of %s (%s prompt of %d tokens, %ld decode steps; weights %s; rel. error floor 0.1 x row RMS)\n",
               dirs[d], prompt ? "given" : "default", prompt ? np : CONFORM_DEFAULT_PROMPT, decode,
               ladder_formats_name(cli_formats()));
        conform_print_header(stdout, CONF_LAYER);
        if (ld_conform_layers_named(name, dirs[d], &lo, &rep) < 0) rc = cli_fail("conform", "%s: %s", dirs[d], ladder_last_error());
    }
    int fo, fl, nao, nal, no = summarize(&rep, CONF_OP, &fo, &nao), nl = summarize(&rep, CONF_LAYER, &fl, &nal);
    printf("\nconform %s: ops %d/%d passed%s", name, no - fo, no, layers_only ? " (skipped)" : "");
    if (nao) printf(" (%d rows not supported by the backend, not run)", nao);
    if (ndirs && !ops_only) printf(", layers %d/%d passed", nl - fl, nl);
    printf(" (ops %.1f s, total %.1f s)\n", t_ops, now() - t0);
    char jtmp[4200];
    if (json && (cli_tmp_path(json, jtmp, sizeof jtmp) || cli_commit(jtmp, json, !conform_write_json(jtmp, name, &rep))))
        rc = cli_fail("conform", "%s", ladder_last_error());
    if (vs_native)
        printf("(a format-path report: ref ran the native path; rows over the backend bar show where the %s path's "
               "error enters, and do not fail the run)\n", ladder_formats_name(cli_formats()));
    if (!rc && rep.failures && !vs_native) rc = 1;
    /* a run that compared nothing must not read as a pass */
    if (!rc && !layers_only && !no) {
        if (nao) rc = cli_fail("conform", "nothing was checked: every matching op (%d rows) is not supported by backend '%s'", nao, name);
        else if (oo.pattern) rc = cli_fail("conform", "no op matches '%s' (ladder conform --quick lists every op)", oo.pattern);
        else rc = cli_fail("conform", "no op was run");
    }
    conform_report_free(&rep);
    free(prompt);
    return rc;
}
