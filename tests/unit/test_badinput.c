/* Bad input, as a new user would type it, across every command that reads
 * that input: each case must end with a non-zero exit status (1 or 2, never
 * a signal), print nothing on stdout that looks like a result, and give one
 * error line that names the cause. The fixtures are made here from a
 * synthesized tiny checkpoint: configs with one key changed, truncated
 * shards, id files of the wrong size or kind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/synth.h"
#include "testutil.h"

static char root[4200], good[4300];
static const char *bin;

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, n, f) == n, "write %s", path);
    if (f) fclose(f);
}

/* A copy of the good checkpoint whose config.json has `from` replaced by
 * `to` (the shards are linked, not copied). */
static void variant(const char *name, const char *from, const char *to) {
    char dir[4400], cmd[9000], path[4500];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' && ln -s '%s'/*.safetensors* '%s'/ 2>/dev/null; true", dir,
             dir, good, dir);
    CHECK(system(cmd) == 0, "fixture %s", name);
    snprintf(path, sizeof path, "%s/config.json", good);
    size_t n;
    char *cfg = test_read_file(path, &n);
    CHECK(cfg != NULL, "read config");
    if (!cfg) return;
    if (!to) to = cfg; /* unchanged */
    char *out = malloc(n + strlen(to) + 1);
    char *hit = from ? strstr(cfg, from) : NULL;
    CHECK(!from || hit, "fixture %s: '%s' not in config.json", name, from);
    if (hit) {
        size_t pre = (size_t)(hit - cfg);
        memcpy(out, cfg, pre);
        strcpy(out + pre, to);
        strcat(out, hit + strlen(from));
    } else {
        strcpy(out, to); /* the whole file */
    }
    snprintf(path, sizeof path, "%s/config.json", dir);
    write_file(path, out, strlen(out));
    free(cfg);
    free(out);
}

typedef struct {
    const char *kind;   /* what is wrong */
    const char *args;   /* after "ladder ": %s = the fixture root */
    const char *expect; /* a substring the error must contain */
} bad_case;

/* %R is the fixture root, %G the good checkpoint. */
static const bad_case CASES[] = {
    /* a checkpoint directory that is not there */
    {"missing dir", "info -m %R/nope", "nope"},
    {"missing dir", "generate -m %R/nope --prompt-ids %R/ids4 -n 1", "nope"},
    {"missing dir", "logits -m %R/nope --prompt-ids %R/ids4 -o %R/out.f32", "nope"},
    {"missing dir", "bench -m %R/nope", "nope"},
    {"missing dir", "parity -m %R/nope -b ref -b cpu", "nope"},
    /* config.json that is not JSON */
    {"config not JSON", "info -m %R/notjson", "config.json"},
    {"config not JSON", "generate -m %R/notjson --prompt-ids %R/ids4 -n 1", "config.json"},
    {"config not JSON", "logits -m %R/notjson --prompt-ids %R/ids4 -o %R/out.f32", "config.json"},
    {"config not JSON", "bench -m %R/notjson", "config.json"},
    {"config not JSON", "conform --layers-only -m %R/notjson", "config.json"},
    {"config not JSON", "parity -m %R/notjson -b ref -b cpu", "config.json"},
    /* a key out of range */
    {"config key out of range", "info -m %R/layers0", "num_hidden_layers"},
    {"config key out of range", "generate -m %R/layers0 --prompt-ids %R/ids4 -n 1", "num_hidden_layers"},
    {"config key out of range", "logits -m %R/layers0 --prompt-ids %R/ids4 -o %R/out.f32", "num_hidden_layers"},
    {"config key out of range", "conform --layers-only -m %R/layers0", "num_hidden_layers"},
    {"config key out of range", "parity -m %R/layers0 -b ref -b cpu", "num_hidden_layers"},
    /* a shard cut short */
    {"truncated shard", "info -m %R/trunc", "safetensors"},
    {"truncated shard", "generate -m %R/trunc --prompt-ids %R/ids4 -n 1", "safetensors"},
    {"truncated shard", "logits -m %R/trunc --prompt-ids %R/ids4 -o %R/out.f32", "safetensors"},
    {"truncated shard", "conform --layers-only -m %R/trunc", "safetensors"},
    /* id files */
    {"ids not whole int32", "generate -m %G --prompt-ids %R/ids5 -n 1", "int32"},
    {"ids not whole int32", "logits -m %G --prompt-ids %R/ids5 -o %R/out.f32", "int32"},
    {"ids not whole int32", "logits -m %G --prompt-ids %R/ids4 --forced-ids %R/ids5 -o %R/out.f32", "int32"},
    {"ids not whole int32", "conform --layers-only -m %G --prompt-ids %R/ids5", "int32"},
    {"ids file missing", "generate -m %G --prompt-ids %R/noids -n 1", "noids"},
    {"ids file missing", "logits -m %G --prompt-ids %R/noids -o %R/out.f32", "noids"},
    {"ids outside the vocabulary", "generate -m %G --prompt-ids %R/idsbig -n 1", "vocabulary"},
    {"ids outside the vocabulary", "logits -m %G --prompt-ids %R/idsbig -o %R/out.f32", "vocabulary"},
    {"empty prompt", "generate -m %G --prompt-ids %R/ids0 -n 1", "empty"},
    {"empty prompt", "logits -m %G --prompt-ids %R/ids0 -o %R/out.f32", "empty"},
    /* flags */
    {"unknown flag", "info -m %G --frobnicate", "--frobnicate"},
    {"unknown flag", "generate -m %G --frobnicate", "--frobnicate"},
    {"unknown flag", "logits -m %G --frobnicate", "--frobnicate"},
    {"unknown flag", "bench -m %G --frobnicate", "--frobnicate"},
    {"unknown flag", "conform --frobnicate", "--frobnicate"},
    {"unknown flag", "parity -m %G --frobnicate", "--frobnicate"},
    {"unknown flag", "synth --frobnicate", "--frobnicate"},
    {"flag without its value", "generate -m %G --prompt-ids", "--prompt-ids"},
    {"flag without its value", "logits -m %G -o", "-o"},
    {"flag without its value", "bench -m %G --batch", "--batch"},
    {"flag without its value", "conform --op", "--op"},
    {"flag without its value", "parity -m %G -b", "-b"},
    {"bad number", "generate -m %G --prompt-ids %R/ids4 -n abc", "abc"},
    {"bad number", "generate -m %G --prompt-ids %R/ids4 -n 1 --temperature -1", "temperature"},
    {"bad number", "bench -m %G --decode 1.5", "1.5"},
    {"bad number", "conform --seed x1", "x1"},
    {"bad number", "parity -m %G -b ref -b cpu -n -4", "-4"},
    {"unknown backend", "generate -m %G --prompt-ids %R/ids4 -n 1 -b nosuch", "nosuch"},
    {"unknown backend", "logits -m %G --prompt-ids %R/ids4 -o %R/out.f32 -b nosuch", "nosuch"},
    {"unknown backend", "bench -m %G -b nosuch", "nosuch"},
    {"unknown backend", "conform -b nosuch", "nosuch"},
    {"unknown backend", "parity -m %G -b ref -b nosuch", "nosuch"},
    /* settings from the environment */
    {"bad LADDER_THREADS", "env LADDER_THREADS=abc %B info -m %G", "LADDER_THREADS"},
    {"bad LADDER_THREADS", "env LADDER_THREADS=-3 %B generate -m %G --prompt-ids %R/ids4 -n 1", "LADDER_THREADS"},
    {"bad LADDER_CPU_ISA", "env LADDER_CPU_ISA=sse9 %B generate -m %G --prompt-ids %R/ids4 -n 1", "sse9"},
    {"bad LADDER_CPU_ISA", "env LADDER_CPU_ISA=sse9 %B conform --quick --op topk", "sse9"},
    /* config and generation-config values the engine would not apply, or that break the math */
    {"unsupported config value", "info -m %R/gelu", "hidden_act"},
    {"unsupported config value", "generate -m %R/gelu --prompt-ids %R/ids4 -n 1", "hidden_act"},
    {"unsupported config value", "logits -m %R/gelu --prompt-ids %R/ids4 -o %R/out.f32", "hidden_act"},
    {"unsupported config value", "bench -m %R/gelu", "hidden_act"},
    {"unsupported config value", "conform --layers-only -m %R/gelu", "hidden_act"},
    {"unsupported config value", "parity -m %R/gelu -b ref -b cpu", "hidden_act"},
    {"config value that makes NaN", "info -m %R/betafast0", "beta_fast"},
    {"config value that makes NaN", "generate -m %R/betafast0 --prompt-ids %R/ids4 -n 1", "beta_fast"},
    {"config value that makes NaN", "logits -m %R/betafast0 --prompt-ids %R/ids4 -o %R/out.f32", "beta_fast"},
    {"config value that makes NaN", "bench -m %R/betafast0", "beta_fast"},
    {"config value that makes NaN", "conform --layers-only -m %R/betafast0", "beta_fast"},
    {"config value that makes NaN", "parity -m %R/betafast0 -b ref -b cpu", "beta_fast"},
    {"token id past the vocabulary", "info -m %R/eosbig", "eos_token_id"},
    {"token id past the vocabulary", "generate -m %R/eosbig --prompt-ids %R/ids4 -n 1", "eos_token_id"},
    {"token id past the vocabulary", "logits -m %R/eosbig --prompt-ids %R/ids4 -o %R/out.f32", "eos_token_id"},
    {"token id past the vocabulary", "bench -m %R/eosbig", "eos_token_id"},
    {"token id past the vocabulary", "conform --layers-only -m %R/eosbig", "eos_token_id"},
    {"token id past the vocabulary", "parity -m %R/eosbig -b ref -b cpu", "eos_token_id"},
    {"generation_config.json out of range", "generate -m %R/topp0 --prompt-ids %R/ids4 -n 1", "top_p"},
    {"generation_config.json out of range", "logits -m %R/topp0 --prompt-ids %R/ids4 -o %R/out.f32", "top_p"},
    {"generation_config.json out of range", "bench -m %R/topp0", "top_p"},
    {"generation_config.json out of range", "parity -m %R/topp0 -b ref -b cpu", "top_p"},
    /* inputs that are not regular files, outputs that cannot be written, runs that check nothing */
    {"ids path is a directory", "generate -m %G --prompt-ids %R -n 1", "directory"},
    {"ids path is a directory", "logits -m %G --prompt-ids %R -o %R/out.f32", "directory"},
    {"ids path is a directory", "logits -m %G --prompt-ids %R/ids4 --forced-ids %R -o %R/out.f32", "directory"},
    {"ids path is a directory", "conform --layers-only -m %G --prompt-ids %R", "directory"},
    {"output directory missing", "logits -m %G --prompt-ids %R/ids4 -o %R/nodir/out.f32", "nodir"},
    {"output directory missing", "bench -m %G --json %R/nodir/b.json", "nodir"},
    {"output directory missing", "conform --quick --op topk --json %R/nodir/c.json", "nodir"},
    {"output directory missing", "parity -m %G -b ref -b cpu --json %R/nodir/p.json", "nodir"},
    {"nothing checked", "conform --quick --op zzz*", "zzz"},
    {"nothing checked", "parity -m %G -b ref -b cpu --prompts %R/ids0", "no prompts"},
    {"missing checkpoint for conform", "conform --quick -m %R/nope", "nope"},
    {"synth over a checkpoint", "synth --preset tiny --seed 1 -o %G", "--force"},
    /* requests beyond the model */
    {"beyond the context", "generate -m %G --prompt-ids %R/ids4 -n 100000", "max_position_embeddings"},
};

/* Expands %R, %G and %B (the binary; a command without %B gets it in front). */
static void expand(const char *t, char *out, size_t cap) {
    size_t k = 0;
    if (!strstr(t, "%B")) k += (size_t)snprintf(out, cap, "%s ", bin);
    for (const char *p = t; *p && k + 1 < cap; p++) {
        const char *rep = NULL;
        if (p[0] == '%' && p[1] == 'R') rep = root;
        if (p[0] == '%' && p[1] == 'G') rep = good;
        if (p[0] == '%' && p[1] == 'B') rep = bin;
        if (rep) {
            k += (size_t)snprintf(out + k, cap - k, "%s", rep);
            p++;
        } else {
            out[k++] = *p;
        }
    }
    out[k < cap ? k : cap - 1] = 0;
}

int main(void) {
    bin = getenv("LADDER_BIN");
    const char *tmp = test_tmp_dir();
    if (!bin || !tmp) {
        printf("skipped: LADDER_BIN or the scratch directory is not set (run through ctest)\n");
        return 77;
    }
    snprintf(root, sizeof root, "%s/badinput", tmp);
    snprintf(good, sizeof good, "%s/good", root);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", root, root);
    CHECK(system(cmd) == 0, "mkdir");
    ld_config cfg;
    ld_synth_preset("tiny", &cfg);
    ld_synth_opts so = {.seed = 3};
    if (ld_synth_write(&cfg, good, &so)) { CHECK(0, "synth"); return test_summary("badinput"); }

    /* fixtures */
    variant("notjson", NULL, "{\"vocab_size\": 300,");
    variant("layers0", "\"num_hidden_layers\": ", "\"num_hidden_layers\": 0, \"unused_was\": ");
    variant("gelu", "\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"");
    variant("betafast0", "\"beta_fast\": 32", "\"beta_fast\": 0");
    variant("eosbig", "\"eos_token_id\": 1,", "\"eos_token_id\": 1024,");
    variant("topp0", NULL, NULL);
    snprintf(cmd, sizeof cmd, "rm -rf '%s/trunc' && cp -r '%s' '%s/trunc' && f=$(ls '%s/trunc'/*.safetensors | head -1) && "
             "truncate -s 5000 \"$f\"", root, good, root, root);
    CHECK(system(cmd) == 0, "fixture trunc");
    {
        char gp[4400];
        const char *gen = "{\"do_sample\": true, \"temperature\": 0.7, \"top_p\": 0}";
        snprintf(gp, sizeof gp, "%s/topp0/generation_config.json", root);
        write_file(gp, gen, strlen(gen));
    }
    int ids4[4] = {1, 2, 3, 4}, big = cfg.vocab_size;
    char path[4400];
    snprintf(path, sizeof path, "%s/ids4", root), write_file(path, ids4, sizeof ids4);
    snprintf(path, sizeof path, "%s/ids5", root), write_file(path, ids4, 5);
    snprintf(path, sizeof path, "%s/ids0", root), write_file(path, ids4, 0);
    snprintf(path, sizeof path, "%s/idsbig", root), write_file(path, &big, sizeof big);

    int n = (int)(sizeof CASES / sizeof CASES[0]), bad = 0;
    for (int i = 0; i < n; i++) {
        char line[9000], *out = NULL;
        expand(CASES[i].args, line, sizeof line);
        snprintf(cmd, sizeof cmd, "%s 2>&1 >/dev/null", line); /* stderr only */
        int code = test_run(cmd, &out); /* -1: ended by a signal */
        int lines = 0;
        for (const char *p = out ? out : ""; *p; p++) lines += *p == '\n';
        int ok = (code == 1 || code == 2) && out && strstr(out, CASES[i].expect) && strstr(out, "error") && lines == 1;
        if (!ok) bad++;
        CHECK(ok, "[%s] ladder %s: exit %d, stderr (%d lines): %s", CASES[i].kind, CASES[i].args, code, lines,
              out ? out : "(none)");
        free(out);
    }
    int kinds = 0;
    for (int i = 0; i < n; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= !strcmp(CASES[i].kind, CASES[j].kind);
        kinds += !seen;
    }
    printf("bad input: %d cases of %d kinds, %d not handled\n", n, kinds, bad);
    return test_summary("badinput");
}
