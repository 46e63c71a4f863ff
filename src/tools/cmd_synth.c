/* ladder synth: write a random checkpoint in the official HF layout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "model/synth.h"
#include "text/tokenizer.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

static const char *usage =
    "usage: ladder synth (--config CFG.json | --preset NAME) [--layers N] [--experts E] --seed S -o DIR\n"
    "                    [--tokenizer] [--force]\n"
    "  Writes a checkpoint with random weights in exactly the official DeepSeek-V4 HF layout\n"
    "  (config.json, generation_config.json, safetensors shards, model.safetensors.index.json).\n"
    "  --preset NAME   tiny (fast tests), flash-slice / pro-slice (real V4-Flash / V4-Pro layer\n"
    "                  widths, 4 layers by default), flash, pro (full depth; hundreds of GB)\n"
    "  --config FILE   start from an HF config.json instead of a preset\n"
    "  --layers N      number of main layers (the CSA/HCA pattern is kept; MTP layer kept)\n"
    "  --experts E     number of routed experts per layer\n"
    "  --seed S        random seed (required; same seed = same bytes)\n"
    "  --shard-gb G    start a new shard past G GB (default 4)\n"
    "  --tokenizer     also write a synthetic byte-level tokenizer.json with the V4 chat\n"
    "                  markers (vocabularies of 272 to 65808 ids: tiny), so the checkpoint\n"
    "                  takes text prompts and chat requests\n"
    "  --force         write into a non-empty DIR: its model*.safetensors, index and\n"
    "                  config files are replaced, other files stay (default: refused)\n"
    "  The files are written beside DIR and moved in when complete, the index last, so\n"
    "  a run that fails or is killed never leaves DIR looking like a whole checkpoint.\n";

int cmd_synth(int argc, char **argv) {
    const char *preset = NULL, *cfgp = NULL, *out = NULL;
    long layers = 0, experts = 0, seed = -1;
    double shard_gb = 4;
    int force = 0, want_tok = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage, stdout); return 0; }
        if (!strcmp(a, "--force")) { force = 1; continue; }
        if (!strcmp(a, "--tokenizer")) { want_tok = 1; continue; }
        if (!strcmp(a, "--preset") || !strcmp(a, "--config") || !strcmp(a, "-o") || !strcmp(a, "--layers") ||
            !strcmp(a, "--experts") || !strcmp(a, "--seed") || !strcmp(a, "--shard-gb")) {
            if (!(v = cli_value("synth", argc, argv, &i))) return 2;
        } else {
            return cli_usage("synth", "unknown option '%s' (see --help)", a);
        }
        if (!strcmp(a, "--preset")) preset = v;
        else if (!strcmp(a, "--config")) cfgp = v;
        else if (!strcmp(a, "-o")) out = v;
        else if (!strcmp(a, "--layers") && cli_int(v, 1, 256, &layers)) return cli_usage("synth", "--layers: '%s' is not in [1, 256]", v);
        else if (!strcmp(a, "--experts") && cli_int(v, 1, 4096, &experts)) return cli_usage("synth", "--experts: '%s' is not in [1, 4096]", v);
        else if (!strcmp(a, "--seed") && cli_int(v, 0, 0x7fffffffL, &seed)) return cli_usage("synth", "--seed: '%s' is not a non-negative integer", v);
        else if (!strcmp(a, "--shard-gb") && cli_float(v, 0.001, 1e6, &shard_gb)) return cli_usage("synth", "--shard-gb: '%s' is not a positive number", v);
    }
    if (!!preset == !!cfgp) return cli_usage("synth", "give exactly one of --preset or --config (see --help)");
    if (!out) return cli_usage("synth", "-o DIR is required");
    if (seed < 0) return cli_usage("synth", "--seed is required");
    struct stat st;
    if (!stat(out, &st) && !S_ISDIR(st.st_mode)) return cli_fail("synth", "-o %s: exists and is not a directory", out);
    if (!force && !cli_dir_empty(out)) return cli_fail("synth", "%s is not empty (--force replaces the checkpoint in it)", out);
    ld_config c;
    if (preset ? ld_synth_preset(preset, &c) : ld_config_load(cfgp, &c)) return cli_fail("synth", "%s", ld_last_error());
    if (ld_synth_resize(&c, (int)layers, (int)experts)) return cli_fail("synth", "%s", ld_last_error());
    char *tj = NULL;
    if (want_tok && !(tj = ld_tokenizer_synth_json(c.vocab_size, c.bos_id, c.eos_id)))
        return cli_fail("synth", "--tokenizer: %s", ld_last_error());
    ld_synth_opts o = {.seed = (uint64_t)seed, .shard_bytes = (uint64_t)(shard_gb * 1e9), .progress = 1,
                       .tokenizer_json = tj};
    int rc = ld_synth_write(&c, out, &o), with_tok = tj != NULL;
    free(tj);
    if (rc) return cli_fail("synth", "%s", ld_last_error());
    fprintf(stderr, "synth: wrote %s (%d layers, %d routed experts, random weights%s)\n", out, c.n_layers,
            c.n_routed_experts, with_tok ? ", synthetic tokenizer" : "");
    return 0;
}
