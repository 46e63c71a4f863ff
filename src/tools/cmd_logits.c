/* ladder logits: the stable contract external parity harnesses call.
 *   row 0   = logits at the last prompt position after prefilling the prompt
 *   row i>0 = logits after feeding forced token i-1 as one decode step
 * Output: raw little-endian float32 rows of vocab_size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/session.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

static const char *usage =
    "usage: ladder logits -m DIR --prompt-ids P.i32 [--forced-ids F.i32] [--backend NAME] -o OUT.f32\n"
    "  Ids are raw little-endian int32. Writes float32 rows of vocab_size: row 0 is the\n"
    "  logits of the last prompt token after one prefill call over the whole prompt,\n"
    "  row i the logits after feeding forced token i-1 as a single decode step.\n"
    "  --backend NAME   operator backend (default: ref)\n";

int cmd_logits(int argc, char **argv) {
    const char *dir = NULL, *pp = NULL, *fp = NULL, *out = NULL, *bk = "ref";
    for (int i = 1; i < argc; i++) {
        const char **dst = NULL;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(usage, stdout); return 0; }
        if (!strcmp(argv[i], "-m")) dst = &dir;
        else if (!strcmp(argv[i], "--prompt-ids")) dst = &pp;
        else if (!strcmp(argv[i], "--forced-ids")) dst = &fp;
        else if (!strcmp(argv[i], "--backend") || !strcmp(argv[i], "-b")) dst = &bk;
        else if (!strcmp(argv[i], "-o")) dst = &out;
        else return cli_fail("logits", "unknown option '%s' (see --help)", argv[i]);
        if (!(*dst = cli_value("logits", argc, argv, &i))) return 1;
    }
    if (!dir || !pp || !out) return cli_fail("logits", "-m, --prompt-ids and -o are required (see --help)");
    const ld_backend_ops *ops = ld_backend_find(bk);
    if (!ops) return cli_fail("logits", "unknown or unusable backend '%s'", bk);
    int np = 0, nf = 0, *prompt = cli_read_ids(pp, &np), *forced = NULL;
    if (!prompt) return cli_fail("logits", "%s", ld_last_error());
    if (np == 0) { free(prompt); return cli_fail("logits", "%s: the prompt is empty", pp); }
    if (fp && !(forced = cli_read_ids(fp, &nf))) { free(prompt); return cli_fail("logits", "%s", ld_last_error()); }
    ld_model m;
    ld_session s;
    int rc = 1;
    float *rows = NULL;
    if (ld_model_load(dir, ops, &m)) { free(prompt); free(forced); return cli_fail("logits", "%s", ld_last_error()); }
    if (ld_session_init(&s, &m)) goto done_model;
    long V = m.cfg.vocab_size;
    rows = malloc(sizeof(float) * (size_t)V * (size_t)(nf + 1));
    if (!rows) { ld_set_error("out of memory"); goto done; }
    if (ld_session_eval(&s, prompt, np, rows)) goto done;
    for (int i = 0; i < nf; i++)
        if (ld_session_eval(&s, &forced[i], 1, rows + (long)(i + 1) * V)) goto done;
    if (cli_write_file(out, rows, sizeof(float) * (size_t)V * (size_t)(nf + 1))) goto done;
    rc = 0;
done:
    ld_session_free(&s);
done_model:
    if (rc) cli_fail("logits", "%s", ld_last_error());
    ld_model_free(&m);
    free(rows);
    free(prompt);
    free(forced);
    return rc;
}
