/* Text subcommands: tokenize, detokenize, encode-chat, parse-completion.
 * Their flags and output formats are contracts other tools script against:
 * change them only compatibly. Every failure prints one line
 * "ladder <cmd>: error: ..." and returns a non-zero exit code. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/chat.h"
#include "text/pyjson.h"
#include "text/tokenizer.h"
#include "text/utf8.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

static int fail(const char *cmd, const char *msg) {
    fprintf(stderr, "ladder %s: error: %s\n", cmd, msg);
    return 1;
}

static int usage_error(const char *cmd, const char *what, const char *arg) {
    fprintf(stderr, "ladder %s: error: %s%s%s (see ladder %s --help)\n", cmd, what, arg ? " " : "", arg ? arg : "", cmd);
    return 2;
}

static char *read_all(FILE *f, size_t *n) {
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    while (b) {
        size_t r = fread(b + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0) break;
        if (len + 1 == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) free(b);
            b = nb;
        }
    }
    if (!b) {
        ld_set_error("out of memory reading input");
        return NULL;
    }
    if (ferror(f)) {
        free(b);
        ld_set_error("read error");
        return NULL;
    }
    b[len] = 0;
    *n = len;
    return b;
}

static int is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

static const char tokenize_help[] =
    "usage: ladder tokenize -t TOKENIZER_JSON [--bos] [--special-as-text] [--input FILE | -p TEXT]\n"
    "                       [--ids-out FILE]\n\n"
    "Prints the token ids of the whole input on one line, space-separated.\n"
    "The text comes from --input FILE, from -p TEXT, or else from stdin; it is\n"
    "encoded as given (no newline is added or stripped).\n\n"
    "  -t, --tokenizer PATH  Hugging Face tokenizer.json (byte-level BPE)\n"
    "  --bos                 prepend the BOS token (default: none)\n"
    "  --special-as-text     do not match added/special tokens: their text is\n"
    "                        tokenized as ordinary characters (untrusted input)\n"
    "  --input FILE          read the text from FILE (a regular file; stdin otherwise)\n"
    "  -p, --prompt TEXT     use TEXT\n"
    "  --ids-out FILE        write the ids to FILE as raw little-endian int32 (the\n"
    "                        --prompt-ids format of generate and logits) instead\n";

int cmd_tokenize(int argc, char **argv) {
    const char *cmd = "tokenize", *tpath = NULL, *input = NULL, *prompt = NULL, *ids_out = NULL;
    ld_encode_opts opts = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) { fputs(tokenize_help, stdout); return 0; }
        if (!strcmp(a, "--bos")) opts.add_bos = 1;
        else if (!strcmp(a, "--special-as-text")) opts.special_as_text = 1;
        else if ((!strcmp(a, "-t") || !strcmp(a, "--tokenizer")) && i + 1 < argc) tpath = argv[++i];
        else if (!strcmp(a, "--input") && i + 1 < argc) input = argv[++i];
        else if (!strcmp(a, "--ids-out") && i + 1 < argc) ids_out = argv[++i];
        else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && i + 1 < argc) prompt = argv[++i];
        else return usage_error(cmd, "unknown or incomplete option", a);
    }
    if (!tpath) return usage_error(cmd, "missing -t TOKENIZER_JSON", NULL);
    if (input && prompt) return usage_error(cmd, "give either --input or -p, not both", NULL);
    if (ids_out && cli_out_check(ids_out)) return fail(cmd, ld_last_error());
    char *text = NULL;
    size_t n = 0;
    if (prompt) {
        n = strlen(prompt);
    } else {
        FILE *f = input ? cli_open_input(input) : stdin;
        if (!f) return fail(cmd, ld_last_error());
        text = read_all(f, &n);
        if (f != stdin) fclose(f);
        if (!text) return fail(cmd, ld_last_error());
    }
    ld_tokenizer *tok = ld_tokenizer_load(tpath);
    if (!tok) {
        free(text);
        return fail(cmd, ld_last_error());
    }
    int32_t *ids;
    size_t nid;
    int rc = ld_tokenizer_encode(tok, prompt ? prompt : text, n, &opts, &ids, &nid);
    if (rc) {
        fail(cmd, ld_last_error());
    } else if (ids_out) {
        unsigned char *raw = malloc(4 * nid + 1);
        for (size_t i = 0; raw && i < nid; i++)
            for (int b = 0; b < 4; b++) raw[4 * i + b] = (unsigned char)((uint32_t)ids[i] >> (8 * b));
        if (!raw) rc = fail(cmd, "out of memory");
        else if ((rc = cli_write_file(ids_out, raw, 4 * nid))) fail(cmd, ld_last_error());
        free(raw);
        free(ids);
    } else {
        for (size_t i = 0; i < nid; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        free(ids);
    }
    ld_tokenizer_free(tok);
    free(text);
    return rc ? 1 : 0;
}

static const char detokenize_help[] =
    "usage: ladder detokenize -t TOKENIZER_JSON [--stream]\n\n"
    "Reads token ids (whitespace-separated integers) from stdin and writes the\n"
    "text they decode to on stdout, byte for byte (no newline added).\n\n"
    "  -t, --tokenizer PATH  Hugging Face tokenizer.json\n"
    "  --stream              decode id by id with the streaming detokenizer, as\n"
    "                        generation does (same bytes, flushed per token)\n";

int cmd_detokenize(int argc, char **argv) {
    const char *cmd = "detokenize", *tpath = NULL;
    int stream = 0;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) { fputs(detokenize_help, stdout); return 0; }
        if (!strcmp(argv[i], "--stream")) stream = 1;
        else if ((!strcmp(argv[i], "-t") || !strcmp(argv[i], "--tokenizer")) && i + 1 < argc) tpath = argv[++i];
        else return usage_error(cmd, "unknown or incomplete option", argv[i]);
    }
    if (!tpath) return usage_error(cmd, "missing -t TOKENIZER_JSON", NULL);
    size_t n;
    char *in = read_all(stdin, &n);
    if (!in) return fail(cmd, ld_last_error());
    int32_t *ids = malloc((n / 2 + 1) * sizeof *ids);
    size_t nid = 0;
    for (char *p = in; ids;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX || (*end && !strchr(" \t\r\n", *end))) {
            fprintf(stderr, "ladder %s: error: not a token id: '%.20s'\n", cmd, p);
            free(in), free(ids);
            return 1;
        }
        ids[nid++] = (int32_t)v;
        p = end;
    }
    free(in);
    if (!ids) return fail(cmd, "out of memory");
    ld_tokenizer *tok = ld_tokenizer_load(tpath);
    if (!tok) {
        free(ids);
        return fail(cmd, ld_last_error());
    }
    int rc = 0;
    if (stream) {
        ld_detok_stream *s = ld_detok_stream_new(tok);
        const char *o;
        size_t on;
        for (size_t i = 0; s && i < nid && !rc; i++) {
            rc = ld_detok_stream_push(s, ids[i], &o, &on);
            if (!rc) fwrite(o, 1, on, stdout), fflush(stdout);
        }
        if (!s) rc = -1;
        else if (!rc && !(rc = ld_detok_stream_flush(s, &o, &on))) fwrite(o, 1, on, stdout);
        ld_detok_stream_free(s);
    } else {
        char *out;
        size_t on;
        rc = ld_tokenizer_decode(tok, ids, nid, &out, &on);
        if (!rc) fwrite(out, 1, on, stdout), free(out);
    }
    if (rc) fail(cmd, ld_last_error());
    ld_tokenizer_free(tok);
    free(ids);
    return rc ? 1 : 0;
}

static int parse_mode(const char *v, int *thinking) {
    if (!strcmp(v, "thinking")) *thinking = 1;
    else if (!strcmp(v, "chat")) *thinking = 0;
    else return -1;
    return 0;
}

static const char encode_chat_help[] =
    "usage: ladder encode-chat --thinking-mode thinking|chat [--keep-thinking]\n"
    "                          [--reasoning-effort high|max] [--no-bos]\n\n"
    "Reads a JSON array of messages from stdin and writes the DeepSeek-V4 prompt\n"
    "text to stdout, with no newline added. Messages take the form the official\n"
    "encoder takes: roles system, developer, user, assistant (content,\n"
    "reasoning_content, tool_calls), tool (tool_call_id, content) and\n"
    "latest_reminder; tool schemas go in a system or developer message's \"tools\"\n"
    "field; \"response_format\", \"task\" and \"wo_eos\" are honoured. An object\n"
    "{\"messages\": [...], \"tools\": [...]} is also accepted: its tools are\n"
    "attached to the first message.\n\n"
    "  --thinking-mode MODE       thinking or chat (required)\n"
    "  --keep-thinking            keep reasoning of turns before the last user\n"
    "                             message (default: dropped)\n"
    "  --reasoning-effort LEVEL   high or max (max adds a preamble in thinking mode)\n"
    "  --no-bos                   omit the leading <｜begin▁of▁sentence｜>\n";

int cmd_encode_chat(int argc, char **argv) {
    const char *cmd = "encode-chat";
    ld_chat_opts o = {0};
    int have_mode = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) { fputs(encode_chat_help, stdout); return 0; }
        if (!strcmp(a, "--keep-thinking")) o.keep_thinking = 1;
        else if (!strcmp(a, "--no-bos")) o.no_bos = 1;
        else if (!strcmp(a, "--thinking-mode") && i + 1 < argc) {
            if (parse_mode(argv[++i], &o.thinking)) return usage_error(cmd, "--thinking-mode must be thinking or chat, got", argv[i]);
            have_mode = 1;
        } else if (!strcmp(a, "--reasoning-effort") && i + 1 < argc) {
            o.reasoning_effort = argv[++i];
            if (strcmp(o.reasoning_effort, "high") && strcmp(o.reasoning_effort, "max"))
                return usage_error(cmd, "--reasoning-effort must be high or max, got", o.reasoning_effort);
        } else return usage_error(cmd, "unknown or incomplete option", a);
    }
    if (!have_mode) return usage_error(cmd, "missing --thinking-mode thinking|chat", NULL);
    size_t n;
    char *in = read_all(stdin, &n);
    if (!in) return fail(cmd, ld_last_error());
    cJSON *root = ld_pyjson_parse(in, n);
    free(in);
    if (!root) return fail(cmd, ld_last_error());
    cJSON *msgs = root;
    if (cJSON_IsObject(root)) {
        msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
        cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
        if (cJSON_IsArray(msgs) && tools && msgs->child && cJSON_IsObject(msgs->child)) {
            cJSON_DeleteItemFromObjectCaseSensitive(msgs->child, "tools");
            cJSON_AddItemToObject(msgs->child, "tools", cJSON_Duplicate(tools, 1));
        }
    }
    if (!cJSON_IsArray(msgs)) {
        cJSON_Delete(root);
        return fail(cmd, "input must be a JSON array of messages (or an object with \"messages\")");
    }
    char *prompt = ld_chat_encode(msgs, &o);
    cJSON_Delete(root);
    if (!prompt) return fail(cmd, ld_last_error());
    fwrite(prompt, 1, strlen(prompt), stdout);
    free(prompt);
    return 0;
}

static const char parse_help[] =
    "usage: ladder parse-completion --thinking-mode thinking|chat\n\n"
    "Reads one DeepSeek-V4 assistant completion from stdin (the text generated\n"
    "after the prompt, ending with <｜end▁of▁sentence｜>) and prints one JSON\n"
    "object: {\"role\": \"assistant\", \"content\", \"reasoning_content\",\n"
    "\"tool_calls\"}, tool calls in OpenAI form with arguments as a JSON string.\n"
    "Malformed text (bad DSML, missing </think> or end token) is an error, and\n"
    "so is a NUL byte; invalid UTF-8 bytes become U+FFFD in the output.\n\n"
    "  --thinking-mode MODE   thinking (text starts inside <think>) or chat\n";

/* The JSON printed must be valid UTF-8 whatever the generated bytes were: a
 * model can emit a byte token alone, or be cut midway through a character. */
static char *replace_invalid_utf8(char *in, size_t *n) {
    size_t bad = 0;
    for (size_t i = 0, l; i < *n; i += l ? l : 1) bad += !(l = ld_utf8_seq_len((const unsigned char *)in + i, *n - i));
    if (!bad) return in;
    char *o = malloc(*n + 2 * bad + 1), *p = o;
    if (!o) { free(in); ld_set_error("out of memory"); return NULL; }
    for (size_t i = 0, l; i < *n; i += l ? l : 1) {
        if ((l = ld_utf8_seq_len((const unsigned char *)in + i, *n - i))) memcpy(p, in + i, l), p += l;
        else memcpy(p, "\xEF\xBF\xBD", 3), p += 3;
    }
    *p = 0;
    *n = (size_t)(p - o);
    free(in);
    return o;
}

int cmd_parse_completion(int argc, char **argv) {
    const char *cmd = "parse-completion";
    int thinking = 0, have_mode = 0;
    for (int i = 1; i < argc; i++) {
        if (is_help(argv[i])) { fputs(parse_help, stdout); return 0; }
        if (!strcmp(argv[i], "--thinking-mode") && i + 1 < argc) {
            if (parse_mode(argv[++i], &thinking)) return usage_error(cmd, "--thinking-mode must be thinking or chat, got", argv[i]);
            have_mode = 1;
        } else return usage_error(cmd, "unknown or incomplete option", argv[i]);
    }
    if (!have_mode) return usage_error(cmd, "missing --thinking-mode thinking|chat", NULL);
    size_t n;
    char *in = read_all(stdin, &n);
    if (!in) return fail(cmd, ld_last_error());
    /* the parser and cJSON work on C strings: text past a NUL would be dropped silently */
    const char *nul = memchr(in, 0, n);
    if (nul) {
        fprintf(stderr, "ladder %s: error: input contains a NUL byte at offset %zu\n", cmd, (size_t)(nul - in));
        free(in);
        return 1;
    }
    if (!(in = replace_invalid_utf8(in, &n))) return fail(cmd, ld_last_error());
    cJSON *msg = ld_chat_parse_completion(in, n, thinking);
    free(in);
    if (!msg) return fail(cmd, ld_last_error());
    char *s = ld_pyjson_dumps(msg, 0);
    cJSON_Delete(msg);
    if (!s) return fail(cmd, ld_last_error());
    printf("%s\n", s);
    free(s);
    return 0;
}
