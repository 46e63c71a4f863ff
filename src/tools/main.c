/* The `ladder` command line: a table of subcommands. Each subcommand lives in
 * its own cmd_*.c file and owns its flags and --help text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "tools/cli_util.h"
#include "tools/commands.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"demo", cmd_demo, "synthesize the tiny preset (random weights) and generate from it"},
    {"synth", cmd_synth, "write a random checkpoint in the official HF layout"},
    {"info", cmd_info, "summarize a checkpoint: config, parameters, bytes, KV cost"},
    {"generate", cmd_generate, "generate tokens from a prompt"},
    {"logits", cmd_logits, "write float32 logits for a prompt and forced tokens"},
    {"bench", cmd_bench, "measure decode/prefill/batched speed against the machine's rooflines"},
    {"conform", cmd_conform, "compare a backend with ref, op by op and layer by layer"},
    {"parity", cmd_parity, "end-to-end logit agreement of two backends"},
    {"chat", cmd_chat, "an interactive multi-turn chat in the terminal"},
    {"serve", cmd_serve, "serve the model over HTTP with OpenAI's API (continuous batching)"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"detokenize", cmd_detokenize, "print the text of token ids read from stdin"},
    {"encode-chat", cmd_encode_chat, "render a JSON message list as a DeepSeek-V4 prompt"},
    {"parse-completion", cmd_parse_completion, "parse a completion into reasoning, content, tool calls"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: ladder <command> [options]   (ladder <command> --help for details)\n"
               "       ladder --version\n\n"
               "Ladder: a vendor-neutral inference engine for DeepSeek-V4.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-17s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nEvery command that loads a model also takes --weights native|bf16|w8a8, the\n"
               "weight format path: native (default) computes in the checkpoint's formats;\n"
               "bf16 converts every FP8/FP4 linear at load to its exact bf16 dequantization\n"
               "(for chips whose best matrix unit is BF16; activations stay bf16); w8a8 makes\n"
               "FP8 linears int8 with a scale per output row and keeps FP4 experts 4-bit,\n"
               "with activations quantized to int8 per token (for INT8 matrix units). A\n"
               "backend name may carry one too, as in 'ladder parity -b ref -b ref:w8a8'.\n");
    fprintf(f, "\nExit status: 0 success; 1 an error while running (a missing or bad file, bad\n"
               "input, a failed check); 2 a bad command line (unknown option, missing or\n"
               "malformed value, bad LADDER_* variable). Errors are one line on stderr.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("ladder %s\n", LADDER_VERSION);
        /* which build and which of its cpu paths this machine gets: the
           first thing to ask of a port */
        printf("cpu paths: %s (this CPU runs: %s)\n", ladder_cpu_isa_paths(), ladder_cpu_best_isa());
        return 0;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
#ifdef __GLIBC__
    /* The forward pass allocates and frees the same multi-megabyte buffers
       in every layer. By default glibc maps such blocks afresh, or gives the
       heap top back to the kernel, and each reuse faults in and zeroes the
       pages again. Keeping freed memory for reuse avoids that work. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
    /* LADDER_CPU_ISA=PATH (ladder_cpu_isa_paths) forces the cpu backend's code path (all
       give the same bits), LADDER_THREADS=N its pool size; commands pass them
       on in their engine options */
    if (cli_env_init()) return 2;
    /* --weights is taken out before the command parses its own options */
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--weights")) continue;
        if (i + 1 >= argc || cli_set_formats(argv[i + 1])) {
            fprintf(stderr, "ladder: error: --weights: %s\n",
                    i + 1 >= argc ? "a format path is required (native, bf16, w8a8)" : ladder_last_error());
            return 2;
        }
        memmove(argv + i, argv + i + 2, sizeof *argv * (size_t)(argc - i - 1)); /* argv[argc] (NULL) too */
        argc -= 2;
        i--;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "ladder: error: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
