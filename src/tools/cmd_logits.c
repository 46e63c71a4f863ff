/* ladder logits: the stable contract external parity harnesses call.
 *   row 0   = logits at the last prompt position after prefilling the prompt
 *   row i>0 = logits after feeding forced token i-1 as one decode step
 * Output: raw little-endian float32 rows of vocab_size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cli_util.h"
#include "tools/commands.h"

static const char *usage =
    "usage: ladder logits -m DIR --prompt-ids P.i32 [--forced-ids F.i32] [--backend NAME] -o OUT.f32\n"
    "  Ids are raw little-endian int32 (one of the two files may be '-': stdin; pipes\n"
    "  and devices are refused by name). Writes float32 rows of vocab_size: row 0 is the\n"
    "  logits of the last prompt token after one prefill call over the whole prompt,\n"
    "  row i the logits after feeding forced token i-1 as a single decode step.\n"
    "  -b, --backend NAME  operator backend (default: the engine's, the fastest this machine\n"
    "                      runs; `ref` gives the reference's bits, see README)\n"
    "  OUT is written to a temporary name beside it and renamed when complete.\n";

int cmd_logits(int argc, char **argv) {
    const char *dir = NULL, *pp = NULL, *fp = NULL, *out = NULL, *bk = NULL;
    for (int i = 1; i < argc; i++) {
        const char **dst = NULL;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(usage, stdout); return 0; }
        if (!strcmp(argv[i], "-m")) dst = &dir;
        else if (!strcmp(argv[i], "--prompt-ids")) dst = &pp;
        else if (!strcmp(argv[i], "--forced-ids")) dst = &fp;
        else if (!strcmp(argv[i], "--backend") || !strcmp(argv[i], "-b")) dst = &bk;
        else if (!strcmp(argv[i], "-o")) dst = &out;
        else return cli_usage("logits", "unknown option '%s' (see --help)", argv[i]);
        if (!(*dst = cli_value("logits", argc, argv, &i))) return 2;
    }
    if (!dir || !pp || !out) return cli_usage("logits", "-m, --prompt-ids and -o are required (see --help)");
    /* found now, not after the whole computation */
    if (cli_out_check(out)) return cli_fail("logits", "-o %s", ladder_last_error());
    int np = 0, nf = 0, *prompt = cli_read_ids(pp, &np), *forced = NULL;
    if (!prompt) return cli_fail("logits", "%s", ladder_last_error());
    if (np == 0) { free(prompt); return cli_fail("logits", "%s: the prompt is empty", pp); }
    if (fp && !(forced = cli_read_ids(fp, &nf))) { free(prompt); return cli_fail("logits", "%s", ladder_last_error()); }
    /* one pass over the weights: mapping them costs less than copying */
    ladder_engine_opts o = cli_engine_opts(bk, 1);
    ladder_engine *e;
    ladder_session *s = NULL;
    int rc = 1;
    float *rows = NULL;
    if (ladder_engine_open(dir, &o, &e)) { free(prompt); free(forced); return cli_fail("logits", "%s", ladder_last_error()); }
    ladder_session_opts so = {.context = (long)np + nf};
    if (ladder_session_new(e, &so, &s)) goto done;
    long V = ladder_engine_info(e)->vocab_size;
    rows = malloc(sizeof(float) * (size_t)V * (size_t)(nf + 1));
    if (!rows) { cli_fail("logits", "out of memory"); rc = 2; goto done; }
    if (ladder_eval(s, prompt, np, LADDER_LOGITS_LAST, rows, NULL)) goto done;
    for (int i = 0; i < nf; i++)
        if (ladder_eval(s, &forced[i], 1, LADDER_LOGITS_LAST, rows + (long)(i + 1) * V, NULL)) goto done;
    if (cli_write_file(out, rows, sizeof(float) * (size_t)V * (size_t)(nf + 1))) goto done;
    rc = 0;
done:
    if (rc == 1) cli_fail("logits", "%s", ladder_last_error());
    rc = rc != 0;
    ladder_session_free(s);
    ladder_engine_close(e);
    free(rows);
    free(prompt);
    free(forced);
    return rc;
}
