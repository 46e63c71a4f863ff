/* ladder generate / ladder demo. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/synth.h"
#include "runtime/generate.h"
#include "text/tokenizer.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

static const char *gen_usage =
    "usage: ladder generate -m DIR (--prompt-ids FILE | -p TEXT) [-n N] [options]\n"
    "  Streams the generated tokens to stdout (as text when a tokenizer is available,\n"
    "  else as ids), then prints prefill and decode speed to stderr. FILE holds raw\n"
    "  little-endian int32 ids ('-': stdin; `ladder tokenize --ids-out` writes them). A\n"
    "  text prompt is tokenized with DIR/tokenizer.json (or -t) and gets the model's BOS\n"
    "  token in front. Prompt + N must fit the model's context (refused before generating).\n"
    "  -t FILE             tokenizer.json to use (default: DIR/tokenizer.json if present)\n"
    "  --ids               print token ids even when a tokenizer is available\n"
    "  -n N                tokens to generate (default 32)\n"
    "  --temperature T     0 = greedy (default: generation_config.json, else 1.0)\n"
    "  --top-k K           keep the K most likely tokens (default: generation_config, else off)\n"
    "  --top-p P           nucleus sampling threshold (default: generation_config, else 1.0)\n"
    "  --min-p P           drop tokens below P x the top probability (default 0)\n"
    "  --seed S            sampling seed (default 0)\n"
    "  --prefill-chunk C   prefill the prompt in calls of C tokens (default: one call, or\n"
    "                      512-token calls with progress for prompts over 1024 tokens)\n"
    "  --ignore-eos        keep generating after the end-of-sequence token\n"
    "  -b, --backend NAME  operator backend (default: the engine's, the fastest this\n"
    "                      machine runs; `ref` is the scalar ground truth)\n"
    "  --mmap              keep the weights mapped from the files (default: copied into\n"
    "                      memory when they fit in 3/4 of the available memory: faster)\n";

typedef struct {
    int count;
    ld_detok_stream *detok; /* NULL: print ids */
} stream_ctx;

static void prefill_progress(void *ctx, int done, int total) {
    (void)ctx;
    if (total > 1024) fprintf(stderr, "prefill: %d / %d tokens\n", done, total);
}

static int print_token(void *ctx, int tok) {
    stream_ctx *s = ctx;
    if (s->detok) {
        const char *out;
        size_t n;
        if (ld_detok_stream_push(s->detok, tok, &out, &n)) return -1;
        fwrite(out, 1, n, stdout);
    } else {
        printf("%s%d", s->count ? " " : "", tok);
    }
    s->count++;
    fflush(stdout);
    return 0;
}

static int run_generation(const char *cmd, const char *dir, const char *backend, const int *ids, int n_ids,
                          int prepend_bos, ld_gen_opts *o, const double *temp, const long *topk,
                          const double *topp, const ld_tokenizer *tok, int use_mmap) {
    ladder_engine_opts eo = cli_engine_opts(backend, use_mmap);
    ladder_engine *e;
    if (cli_open_engine(cmd, dir, &eo, &e)) return 1;
    const ladder_info *in = ladder_engine_info(e);
    /* flags override generation_config.json, which overrides the built-in defaults */
    o->sampling.temperature = temp ? (float)*temp : (in->do_sample ? in->temperature : 0.0f);
    o->sampling.top_k = topk ? (int)*topk : in->top_k;
    o->sampling.top_p = topp ? (float)*topp : (in->top_p > 0 ? in->top_p : 1.0f);
    ladder_session *s = NULL;
    ld_gen_stats st;
    stream_ctx sc = {0};
    int rc = 1, *full = malloc(sizeof(int) * (size_t)(n_ids + 1));
    if (!full) { cli_fail(cmd, "out of memory"); goto out; }
    /* a text prompt gets the model's BOS in front, as the chat encoder writes it */
    if (prepend_bos) full[0] = in->bos_id;
    memcpy(full + prepend_bos, ids, sizeof(int) * (size_t)n_ids);
    if (tok && !(sc.detok = ld_detok_stream_new(tok))) { cli_fail(cmd, "%s", ladder_last_error()); goto out; }
    o->on_token = print_token;
    o->on_prefill = prefill_progress;
    o->ctx = &sc;
    /* the KV cache is reserved for prompt + generation up front: too long is refused now, not midway */
    ladder_session_opts so = {.context = (long)n_ids + prepend_bos + o->max_new};
    if (ladder_session_new(e, &so, &s)) { cli_fail(cmd, "%s", ladder_last_error()); goto out; }
    if (ld_generate(s, full, n_ids + prepend_bos, o, &st)) { printf("\n"); cli_fail(cmd, "%s", ladder_last_error()); goto out; }
    if (sc.detok) {
        const char *tail;
        size_t tn;
        if (!ld_detok_stream_flush(sc.detok, &tail, &tn)) fwrite(tail, 1, tn, stdout);
    }
    printf("\n");
    /* the first new token comes from the prefill: decode speed needs a second one */
    char rate[64] = "n/a";
    if (st.new_tokens > 1 && st.decode_s > 0) snprintf(rate, sizeof rate, "%.2f tok/s", (st.new_tokens - 1) / st.decode_s);
    fprintf(stderr, "%s: prefill %d tokens in %.3f s (%.2f tok/s), decode %d tokens in %.3f s (%s), backend %s\n",
            cmd, st.prompt_tokens, st.prefill_s, st.prompt_tokens / (st.prefill_s > 0 ? st.prefill_s : 1e-9),
            st.new_tokens, st.decode_s, rate, in->backend);
    rc = 0;
out:
    ladder_session_free(s);
    ld_detok_stream_free(sc.detok);
    free(full);
    ladder_engine_close(e);
    return rc;
}

/* Shared flag parsing of generate and demo; returns 1 if the flag was consumed, -1 on error. */
static int parse_gen_flag(const char *cmd, int argc, char **argv, int *i, ld_gen_opts *o, double **temp, long **topk,
                          double **topp, double *tv, long *kv, double *pv) {
    const char *a = argv[*i], *v;
    double d;
    long n;
    if (!strcmp(a, "--ignore-eos")) { o->stop_at_eos = 0; return 1; }
    if (strcmp(a, "-n") && strcmp(a, "--temperature") && strcmp(a, "--top-k") && strcmp(a, "--top-p") &&
        strcmp(a, "--min-p") && strcmp(a, "--seed") && strcmp(a, "--prefill-chunk"))
        return 0;
    if (!(v = cli_value(cmd, argc, argv, i))) return -1;
    if (!strcmp(a, "-n")) { if (cli_int(v, 1, 1 << 24, &n)) goto bad; o->max_new = (int)n; }
    else if (!strcmp(a, "--temperature")) { if (cli_float(v, 0, 100, tv)) goto bad; *temp = tv; }
    else if (!strcmp(a, "--top-k")) { if (cli_int(v, 0, 1 << 24, kv)) goto bad; *topk = kv; }
    else if (!strcmp(a, "--top-p")) { if (cli_float(v, 1e-9, 1, pv)) goto bad; *topp = pv; }
    else if (!strcmp(a, "--min-p")) { if (cli_float(v, 0, 1, &d)) goto bad; o->sampling.min_p = (float)d; }
    else if (!strcmp(a, "--seed")) { if (cli_int(v, 0, 0x7fffffffL, &n)) goto bad; o->sampling.seed = (uint64_t)n; }
    else if (!strcmp(a, "--prefill-chunk")) { if (cli_int(v, 1, 1 << 24, &n)) goto bad; o->prefill_chunk = (int)n; }
    return 1;
bad:
    cli_usage(cmd, "%s: invalid value '%s' (see --help)", a, v);
    return -1;
}

/* Loads DIR/tokenizer.json (or an explicit path); NULL without error when
 * the default file is simply absent. */
static ld_tokenizer *open_tokenizer(const char *dir, const char *explicit_path, int *failed) {
    char path[4096];
    *failed = 0;
    if (!explicit_path) {
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        struct stat st;
        if (stat(path, &st)) return NULL;
        explicit_path = path;
    }
    ld_tokenizer *t = ld_tokenizer_load(explicit_path);
    if (!t) *failed = 1;
    return t;
}

int cmd_generate(int argc, char **argv) {
    const char *dir = NULL, *pp = NULL, *bk = NULL, *text = NULL, *tokp = NULL;
    int want_ids = 0, use_mmap = 0;
    ld_gen_opts o = {.max_new = 32, .stop_at_eos = 1};
    double tv, pv, *temp = NULL, *topp = NULL;
    long kv, *topk = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(gen_usage, stdout); return 0; }
        int r = parse_gen_flag("generate", argc, argv, &i, &o, &temp, &topk, &topp, &tv, &kv, &pv);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(argv[i], "--ids")) { want_ids = 1; continue; }
        if (!strcmp(argv[i], "--mmap")) { use_mmap = 1; continue; }
        const char **dst = NULL;
        if (!strcmp(argv[i], "-m")) dst = &dir;
        else if (!strcmp(argv[i], "--prompt-ids")) dst = &pp;
        else if (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--prompt")) dst = &text;
        else if (!strcmp(argv[i], "-t")) dst = &tokp;
        else if (!strcmp(argv[i], "--backend") || !strcmp(argv[i], "-b")) dst = &bk;
        else return cli_usage("generate", "unknown option '%s' (see --help)", argv[i]);
        if (!(*dst = cli_value("generate", argc, argv, &i))) return 2;
    }
    if (!dir || !!pp == !!text) return cli_usage("generate", "-m and exactly one of --prompt-ids or -p are required (see --help)");
    int failed;
    ld_tokenizer *tok = open_tokenizer(dir, tokp, &failed);
    if (failed) return cli_fail("generate", "%s", ladder_last_error());
    if (text && !tok) return cli_fail("generate", "a text prompt needs a tokenizer: %s/tokenizer.json is absent (use -t)", dir);
    int n = 0, *ids = NULL;
    if (pp) {
        if (!(ids = cli_read_ids(pp, &n))) { ld_tokenizer_free(tok); return cli_fail("generate", "%s", ladder_last_error()); }
    } else {
        int32_t *tid;
        size_t tn;
        ld_encode_opts eo = {.add_bos = 0};
        if (ld_tokenizer_encode(tok, text, strlen(text), &eo, &tid, &tn)) {
            ld_tokenizer_free(tok);
            return cli_fail("generate", "%s", ladder_last_error());
        }
        ids = malloc(sizeof(int) * (tn + 1));
        if (ids)
            for (size_t i = 0; i < tn; i++) ids[n++] = tid[i];
        free(tid);
    }
    if (!n && !text) { free(ids); ld_tokenizer_free(tok); return cli_fail("generate", "the prompt is empty"); }
    int rc = run_generation("generate", dir, bk, ids, n, text != NULL, &o, temp, topk, topp, want_ids ? NULL : tok, use_mmap);
    free(ids);
    ld_tokenizer_free(tok);
    return rc;
}

static const char *demo_usage =
    "usage: ladder demo [-o DIR] [-n N] [--temperature T] [--top-k K] [--top-p P] [--min-p P]\n"
    "                   [--seed S] [--prefill-chunk C] [--ignore-eos]\n"
    "  Synthesizes the `tiny` preset into DIR (default: ladder-demo-tiny in the current\n"
    "  directory; reused when it holds a complete checkpoint) and generates N tokens (default\n"
    "  32) from a fixed prompt. The weights are RANDOM: the tokens mean nothing; the run shows\n"
    "  the whole pipeline (checkpoint writing, loading, prefill, cached decode, sampling) on\n"
    "  the engine's default backend (the fastest this machine runs). The options are those\n"
    "  of ladder generate; demo always ignores the end-of-sequence token (random weights).\n";

int cmd_demo(int argc, char **argv) {
    const char *dir = "ladder-demo-tiny";
    ld_gen_opts o = {.max_new = 32, .stop_at_eos = 0};
    double tv, pv, *temp = NULL, *topp = NULL;
    long kv, *topk = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(demo_usage, stdout); return 0; }
        int r = parse_gen_flag("demo", argc, argv, &i, &o, &temp, &topk, &topp, &tv, &kv, &pv);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(argv[i], "-o")) { if (!(dir = cli_value("demo", argc, argv, &i))) return 2; }
        else return cli_usage("demo", "unknown option '%s' (see --help)", argv[i]);
    }
    char cfg[4096];
    struct stat stt;
    snprintf(cfg, sizeof cfg, "%s/model.safetensors.index.json", dir);
    /* synth moves the index in last: with it the checkpoint is complete */
    if (stat(cfg, &stt)) {
        char cj[4200];
        snprintf(cj, sizeof cj, "%s/config.json", dir);
        if (!cli_dir_empty(dir) && stat(cj, &stt))
            return cli_fail("demo", "%s is not empty and holds no checkpoint: give another -o DIR", dir);
        ld_config c;
        ld_synth_preset("tiny", &c);
        ld_synth_opts so = {.seed = 1, .progress = 1};
        fprintf(stderr, "demo: synthesizing the tiny preset into %s (random weights, seed 1)\n", dir);
        if (ld_synth_write(&c, dir, &so)) return cli_fail("demo", "%s", ladder_last_error());
    }
    fprintf(stderr, "demo: the weights are random, so the generated ids are meaningless\n");
    int prompt[48];
    prompt[0] = 0;
    for (int i = 1; i < 48; i++) prompt[i] = 2 + (i * 97) % 1000;
    return run_generation("demo", dir, NULL, prompt, 48, 0, &o, temp, topk, topp, NULL, 0);
}
