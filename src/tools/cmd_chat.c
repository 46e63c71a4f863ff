/* ladder chat: an interactive terminal chat on one engine session. Each turn
 * renders the whole conversation with the V4 chat encoding; when the new
 * prompt extends the tokens the session already holds (the usual case: the
 * earlier turns), only the rest is evaluated. Line editing and history come
 * from libedit when stdin is a terminal. */
#include <editline/readline.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/sampler.h"
#include "text/chat.h"
#include "text/pyjson.h"
#include "text/tokenizer.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

static const char *usage =
    "usage: ladder chat -m DIR [options]\n"
    "  A multi-turn chat in the terminal. Commands: /reset (forget the conversation),\n"
    "  /system TEXT (set the system prompt and reset), /think (toggle thinking mode:\n"
    "  the reasoning is shown apart from the answer), /quit. Ctrl-D quits.\n"
    "  -t FILE             tokenizer.json (default: DIR/tokenizer.json)\n"
    "  -n N                most tokens per answer (default 512)\n"
    "  --temperature T     (default: generation_config.json, else 1.0)\n"
    "  --top-p P, --top-k K, --min-p P, --seed S   sampling, as for generate\n"
    "  --think             start in thinking mode\n"
    "  --ctx N             positions of the conversation (default: the model's, at most 4096)\n"
    "  -b, --backend NAME  operator backend; --mmap keeps the weights mapped\n";

static volatile sig_atomic_t g_interrupt;
static int g_tty; /* dim the reasoning on a terminal; mark it in plain text otherwise */
static void on_int(int s) {
    (void)s;
    g_interrupt = 1;
}

typedef struct {
    cJSON *msgs;
    const char *system;
    int thinking;
} convo;

static void convo_reset(convo *c) {
    cJSON_Delete(c->msgs);
    c->msgs = cJSON_CreateArray();
    if (c->system) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "system");
        cJSON_AddStringToObject(m, "content", c->system);
        cJSON_AddItemToArray(c->msgs, m);
    }
}

static char *read_line(int tty) {
    if (tty) return readline("> ");
    static char buf[1 << 16];
    if (!fgets(buf, sizeof buf, stdin)) return NULL;
    buf[strcspn(buf, "\n")] = 0;
    return strdup(buf);
}

/* One answer: the prompt's new tokens, then sampling until EOS, -n or Ctrl-C.
 * Prints reasoning (thinking mode) and answer apart; returns the text. */
static char *answer(ladder_session *s, ld_tokenizer *tok, const int *ids, int n, int max_new, ld_sampler *smp,
                    int thinking, int *held, int *n_held) {
    const ladder_info *in = ladder_engine_info(ladder_session_engine(s));
    /* the session holds held[0..n_held): keep the common prefix */
    int common = 0;
    while (common < *n_held && common < n && held[common] == ids[common]) common++;
    if (common < *n_held || common == n) {
        ladder_session_reset(s);
        common = 0;
    }
    float *lg = malloc(sizeof(float) * (size_t)in->vocab_size);
    ld_detok_stream *dt = ld_detok_stream_new(tok);
    ld_strbuf text = {0};
    if (!lg || !dt || ladder_eval(s, ids + common, n - common, LADDER_LOGITS_LAST, lg, NULL)) {
        fprintf(stderr, "ladder chat: error: %s\n", ladder_last_error());
        free(lg);
        ld_detok_stream_free(dt);
        *n_held = 0;
        ladder_session_reset(s);
        return NULL;
    }
    memcpy(held, ids, sizeof(int) * (size_t)n);
    *n_held = n;
    int in_reasoning = thinking;
    if (thinking) printf(g_tty ? "\033[2m" : "[thinking] ");
    g_interrupt = 0;
    for (int k = 0; k < max_new && !g_interrupt; k++) {
        int t = ld_sampler_next(smp, lg);
        if (t == in->eos_id) {
            /* the next turn's prompt has it after this answer: keep the cache in step */
            if (*n_held < ladder_session_context(s) && !ladder_eval(s, &t, 1, LADDER_LOGITS_NONE, NULL, NULL))
                held[(*n_held)++] = t;
            break;
        }
        const char *o;
        size_t on;
        if (!ld_detok_stream_push(dt, t, &o, &on)) {
            ld_sb_put(&text, o, on);
            if (in_reasoning && strstr(text.p ? text.p : "", LD_DSV4_THINK_END)) {
                in_reasoning = 0;
                printf(g_tty ? "\033[0m\n" : " [/thinking]\n");
            } else {
                fwrite(o, 1, on, stdout);
            }
            fflush(stdout);
        }
        if (*n_held >= ladder_session_context(s) || ladder_eval(s, &t, 1, LADDER_LOGITS_LAST, lg, NULL)) break;
        held[(*n_held)++] = t;
    }
    if (in_reasoning) printf(g_tty ? "\033[0m" : " [/thinking]");
    printf("\n");
    free(lg);
    ld_detok_stream_free(dt);
    ld_sb_put(&text, "", 1);
    return text.p;
}

int cmd_chat(int argc, char **argv) {
    const char *dir = NULL, *tokp = NULL, *bk = NULL;
    long max_new = 512, ctx = 0, topk = -1;
    double temp = -1, topp = -1, minp = 0;
    long seed = 0;
    int use_mmap = 0, think = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(usage, stdout); return 0; }
        if (!strcmp(a, "--mmap")) { use_mmap = 1; continue; }
        if (!strcmp(a, "--think")) { think = 1; continue; }
        if (!(v = cli_value("chat", argc, argv, &i))) return 2;
        int bad = 0;
        if (!strcmp(a, "-m")) dir = v;
        else if (!strcmp(a, "-t")) tokp = v;
        else if (!strcmp(a, "-b") || !strcmp(a, "--backend")) bk = v;
        else if (!strcmp(a, "-n")) bad = cli_int(v, 1, 1 << 20, &max_new);
        else if (!strcmp(a, "--ctx")) bad = cli_int(v, 16, 1L << 30, &ctx);
        else if (!strcmp(a, "--temperature")) bad = cli_float(v, 0, 100, &temp);
        else if (!strcmp(a, "--top-p")) bad = cli_float(v, 1e-9, 1, &topp);
        else if (!strcmp(a, "--top-k")) bad = cli_int(v, 0, 1 << 24, &topk);
        else if (!strcmp(a, "--min-p")) bad = cli_float(v, 0, 1, &minp);
        else if (!strcmp(a, "--seed")) bad = cli_int(v, 0, 0x7fffffffL, &seed);
        else return cli_usage("chat", "unknown option '%s' (see --help)", a);
        if (bad) return cli_usage("chat", "%s: invalid value '%s' (see --help)", a, v);
    }
    if (!dir) return cli_usage("chat", "-m DIR is required (see --help)");
    char path[4096];
    if (!tokp) snprintf(path, sizeof path, "%s/tokenizer.json", dir), tokp = path;
    ld_tokenizer *tok = ld_tokenizer_load(tokp);
    if (!tok) return cli_fail("chat", "a chat needs a tokenizer: %s", ladder_last_error());
    ladder_engine_opts eo = cli_engine_opts(bk, use_mmap);
    ladder_engine *e;
    if (cli_open_engine("chat", dir, &eo, &e)) { ld_tokenizer_free(tok); return 1; }
    const ladder_info *in = ladder_engine_info(e);
    if (!ctx) ctx = in->max_position_embeddings < 4096 ? in->max_position_embeddings : 4096;
    ladder_session_opts so = {.context = ctx};
    ladder_session *s = NULL;
    int *held = malloc(sizeof(int) * (size_t)ctx), n_held = 0, rc = 1;
    ld_sampling sp = {.temperature = temp >= 0 ? (float)temp : (in->do_sample ? in->temperature : 0.0f),
                      .top_k = topk >= 0 ? (int)topk : in->top_k,
                      .top_p = topp > 0 ? (float)topp : (in->top_p > 0 ? in->top_p : 1.0f),
                      .min_p = (float)minp, .seed = (uint64_t)seed};
    ld_sampler smp;
    if (!held || ladder_session_new(e, &so, &s) || ld_sampler_init(&smp, &sp, in->vocab_size)) {
        cli_fail("chat", "%s", ladder_last_error());
        goto out;
    }
    int tty = isatty(0) && isatty(1);
    g_tty = tty;
    signal(SIGINT, on_int);
    convo c = {.thinking = think};
    convo_reset(&c);
    if (tty) printf("ladder chat: %s (%s mode; /help for commands, Ctrl-D quits)\n", dir, think ? "thinking" : "chat");
    char *line;
    while ((line = read_line(tty))) {
        if (tty && *line) add_history(line);
        if (!strcmp(line, "/quit")) { free(line); break; }
        if (!strcmp(line, "/help")) puts("/reset  /system TEXT  /think  /quit");
        else if (!strcmp(line, "/reset")) convo_reset(&c), puts("(conversation cleared)");
        else if (!strcmp(line, "/think")) c.thinking = !c.thinking, printf("(%s mode)\n", c.thinking ? "thinking" : "chat");
        else if (!strncmp(line, "/system", 7)) {
            free((char *)c.system);
            c.system = line[7] ? strdup(line + 8) : NULL;
            convo_reset(&c);
            puts("(system prompt set, conversation cleared)");
        } else if (*line == '/') printf("unknown command %s (/help)\n", line);
        else if (*line) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", "user");
            cJSON_AddStringToObject(m, "content", line);
            cJSON_AddItemToArray(c.msgs, m);
            ld_chat_opts co = {.thinking = c.thinking};
            char *prompt = ld_chat_encode(c.msgs, &co);
            int32_t *t = NULL;
            size_t tn = 0;
            if (!prompt || ld_tokenizer_encode(tok, prompt, strlen(prompt), NULL, &t, &tn)) {
                fprintf(stderr, "ladder chat: error: %s\n", ladder_last_error());
            } else if ((long)tn + 1 >= ctx) {
                fprintf(stderr, "ladder chat: error: the conversation (%zu tokens) fills the context of %ld: /reset\n",
                        tn, ctx);
                cJSON_DeleteItemFromArray(c.msgs, cJSON_GetArraySize(c.msgs) - 1);
            } else {
                int *ids = malloc(sizeof(int) * tn);
                for (size_t i = 0; ids && i < tn; i++) ids[i] = t[i];
                char *reply = ids ? answer(s, tok, ids, (int)tn, (int)max_new, &smp, c.thinking, held, &n_held) : NULL;
                free(ids);
                cJSON *a = cJSON_CreateObject();
                cJSON_AddStringToObject(a, "role", "assistant");
                /* the reasoning is not kept for later turns (the format drops it) */
                char *ans = reply && c.thinking && strstr(reply, LD_DSV4_THINK_END)
                                ? strstr(reply, LD_DSV4_THINK_END) + strlen(LD_DSV4_THINK_END)
                                : reply;
                cJSON_AddStringToObject(a, "content", ans ? ans : "");
                cJSON_AddItemToArray(c.msgs, a);
                free(reply);
            }
            free(t);
            free(prompt);
        }
        free(line);
    }
    rc = 0;
    free((char *)c.system);
    cJSON_Delete(c.msgs);
    ld_sampler_free(&smp);
out:
    ladder_session_free(s);
    free(held);
    ladder_engine_close(e);
    ld_tokenizer_free(tok);
    return rc;
}
