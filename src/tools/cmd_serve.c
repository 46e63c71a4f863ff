/* ladder serve: the OpenAI-compatible server (src/server). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server/server.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

static const char *usage =
    "usage: ladder serve -m DIR [options]\n"
    "  Serves the model over HTTP with OpenAI's API: POST /v1/chat/completions,\n"
    "  /v1/completions (streaming with \"stream\": true), GET /v1/models, /health,\n"
    "  /metrics (Prometheus), POST /tokenize, /detokenize, /apply-template.\n"
    "  Requests are decoded together (continuous batching); SIGTERM or Ctrl-C stops\n"
    "  accepting, lets running requests finish for --drain seconds, and exits 0.\n"
    "  --host ADDR         IPv4 address to bind (default 127.0.0.1: this machine only)\n"
    "  --port N            TCP port (default 8080; 0: any free port, printed)\n"
    "  --api-key KEY       require 'Authorization: Bearer KEY' (default: none; also\n"
    "                      LADDER_API_KEY)\n"
    "  --parallel N        sequences decoded together (default 4)\n"
    "  --ctx N             positions per sequence, prompt + output (default: the\n"
    "                      model's, at most 4096)\n"
    "  --queue N           requests waiting beyond the running ones before 429 (default 64)\n"
    "  --max-tokens N      largest max_tokens a request may ask (default 4096)\n"
    "  --max-body BYTES    largest request body (default 4194304)\n"
    "  --max-conns N       concurrent connections (default 256)\n"
    "  --timeout S         idle connection timeout in seconds (default 60)\n"
    "  --drain S           on SIGTERM, seconds running requests may take (default 10)\n"
    "  --prefill-chunk N   prompt tokens evaluated per step, all requests together: a\n"
    "                      decoding request waits about that long per step while\n"
    "                      others read their prompts (default 64; a prompt's first\n"
    "                      chunk is at least the model's window)\n"
    "  --prefix-cache MB   host memory for snapshots of earlier prompts and\n"
    "                      conversations, resumed by requests that start with the\n"
    "                      same tokens; output is identical either way (default 512;\n"
    "                      0: off)\n"
    "  --model-name NAME   the model id clients see (default: DIR's last component)\n"
    "  --port-file FILE    write the bound port to FILE once listening\n"
    "  -t FILE             tokenizer.json (default: DIR/tokenizer.json; without one\n"
    "                      only token-id prompts work)\n"
    "  -b, --backend NAME  operator backend (default: the fastest this machine runs)\n"
    "  --mmap              keep the weights mapped from the files\n";

int cmd_serve(int argc, char **argv) {
    ld_server_opts o = ld_server_opts_default();
    const char *dir = NULL, *bk = NULL, *tokp = NULL, *name = NULL;
    int use_mmap = 0;
    o.api_key = getenv("LADDER_API_KEY");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long n;
        double d;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage, stdout); return 0; }
        if (!strcmp(a, "--mmap")) { use_mmap = 1; continue; }
        const char **sdst = NULL;
        if (!strcmp(a, "-m")) sdst = &dir;
        else if (!strcmp(a, "--host")) sdst = &o.host;
        else if (!strcmp(a, "--api-key")) sdst = &o.api_key;
        else if (!strcmp(a, "--model-name")) sdst = &name;
        else if (!strcmp(a, "--port-file")) sdst = &o.port_file;
        else if (!strcmp(a, "-t")) sdst = &tokp;
        else if (!strcmp(a, "-b") || !strcmp(a, "--backend")) sdst = &bk;
        if (sdst) {
            if (!(*sdst = cli_value("serve", argc, argv, &i))) return 2;
            continue;
        }
        static const struct { const char *flag; long lo, hi; } ints[] = {
            {"--port", 0, 65535}, {"--parallel", 1, 256}, {"--ctx", 1, 1L << 30}, {"--queue", 0, 1 << 20},
            {"--max-tokens", 1, 1 << 24}, {"--max-body", 1024, 1L << 31}, {"--max-conns", 1, 1 << 16},
            {"--timeout", 1, 86400}, {"--drain", 0, 86400}, {"--prefix-cache", 0, 1L << 24},
            {"--prefill-chunk", 1, 1 << 20}};
        int k = -1;
        for (int j = 0; j < (int)(sizeof ints / sizeof ints[0]); j++)
            if (!strcmp(a, ints[j].flag)) k = j;
        if (k < 0) return cli_usage("serve", "unknown option '%s' (see --help)", a);
        if (!(v = cli_value("serve", argc, argv, &i))) return 2;
        if (cli_int(v, ints[k].lo, ints[k].hi, &n))
            return cli_usage("serve", "%s: '%s' is not an integer in [%ld, %ld]", a, v, ints[k].lo, ints[k].hi);
        d = (double)n;
        switch (k) {
        case 0: o.port = (int)n; break;
        case 1: o.parallel = (int)n; break;
        case 2: o.context = n; break;
        case 3: o.queue = (int)n; break;
        case 4: o.max_tokens = (int)n; break;
        case 5: o.max_body = (size_t)n; break;
        case 6: o.max_conns = (int)n; break;
        case 7: o.timeout_s = (int)n; break;
        case 8: o.drain_s = d; break;
        case 9: o.prefix_bytes = (size_t)n << 20; break;
        default: o.prefill_chunk = (int)n; break;
        }
    }
    if (!dir) return cli_usage("serve", "-m DIR is required (see --help)");
    if (o.api_key && !o.api_key[0]) return cli_usage("serve", "--api-key: the key is empty");
    char path[4096];
    if (!tokp) {
        struct stat st;
        snprintf(path, sizeof path, "%s/tokenizer.json", dir);
        if (!stat(path, &st)) tokp = path;
    }
    ld_tokenizer *tok = NULL;
    if (tokp && !(tok = ld_tokenizer_load(tokp))) return cli_fail("serve", "%s", ladder_last_error());
    if (!tok) fprintf(stderr, "ladder serve: note: %s has no tokenizer.json: only token-id prompts are served\n", dir);
    char base[256];
    if (!name) {
        const char *s = dir + strlen(dir);
        while (s > dir && s[-1] == '/') s--;
        const char *e = s;
        while (s > dir && s[-1] != '/') s--;
        snprintf(base, sizeof base, "%.*s", (int)(e - s), s);
        name = base[0] ? base : "ladder";
    }
    o.model_name = name;
    ladder_engine_opts eo = cli_engine_opts(bk, use_mmap);
    ladder_engine *e;
    if (cli_open_engine("serve", dir, &eo, &e)) {
        ld_tokenizer_free(tok);
        return 1;
    }
    int rc = ld_server_run(e, tok, &o);
    ladder_engine_close(e);
    ld_tokenizer_free(tok);
    return rc ? 1 : 0;
}
