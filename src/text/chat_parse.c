/* DeepSeek-V4 completion parsing: assistant text -> reasoning, content and
 * OpenAI-style tool calls. Accepts exactly what the official parser accepts
 * (including its tolerance of a tool-call block cut off at the end) and
 * reports the first malformation it meets, quoting the offending text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/chat.h"
#include "text/chat_internal.h"
#include "text/pyjson.h"
#include "text/utf8.h"

#define DSML LD_DSV4_DSML

typedef struct {
    const char *t;
    size_t n;
} str;

/* Finds the earliest of the stop strings at or after *pos (the first listed
 * wins a tie). Sets *seg to the text before it and moves *pos past it;
 * without a match *seg runs to the end and the result is -1. */
static int read_until(const str *s, size_t *pos, const char *const *stops, int nstops, str *seg) {
    size_t best = s->n;
    int which = -1;
    for (int k = 0; k < nstops; k++) {
        size_t sl = strlen(stops[k]);
        for (size_t p = *pos; p + sl <= s->n && p < best; p++) {
            if (!memcmp(s->t + p, stops[k], sl)) {
                best = p;
                which = k;
                break;
            }
        }
    }
    seg->t = s->t + *pos;
    seg->n = best - *pos;
    *pos = which >= 0 ? best + strlen(stops[which]) : s->n;
    return which;
}

static int seg_is(str a, const char *lit) { return a.n == strlen(lit) && !memcmp(a.t, lit, a.n); }

/* Quotes the offending text JSON-style so the message stays on one line. */
static int fail_seg(const char *what, str seg) {
    ld_strbuf b = {0};
    ld_pyjson_dump_string(&b, seg.t, seg.n > 160 ? 160 : seg.n, 0);
    ld_set_error("%s: %s%s", what, b.p ? b.p : "\"\"", seg.n > 160 ? " (truncated)" : "");
    free(b.p);
    return -1;
}

/* Python str.isspace() set, which re's \s uses for str patterns. */
static int py_space(uint32_t c) {
    return (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
           c == 0x3000;
}

/* `$` in Python re (no MULTILINE) also matches before one final "\n". */
static int ends_with_at_end(str s, const char *lit, size_t *cut) {
    size_t l = strlen(lit);
    if (s.n >= l && !memcmp(s.t + s.n - l, lit, l)) { *cut = s.n - l; return 1; }
    if (s.n >= l + 1 && s.t[s.n - 1] == '\n' && !memcmp(s.t + s.n - 1 - l, lit, l)) { *cut = s.n - 1 - l; return 1; }
    return 0;
}

/* ^\s*name="(.*?)">\n$ */
static int match_invoke_name(str s, str *name) {
    size_t p = 0;
    while (p < s.n) {
        size_t l = ld_utf8_seq_len((const unsigned char *)s.t + p, s.n - p);
        if (!l || !py_space(ld_utf8_decode((const unsigned char *)s.t + p, l))) break;
        p += l;
    }
    static const char pre[] = "name=\"";
    if (s.n - p < sizeof pre - 1 || memcmp(s.t + p, pre, sizeof pre - 1)) return 0;
    p += sizeof pre - 1;
    size_t cut;
    str rest = {s.t + p, s.n - p};
    if (!ends_with_at_end(rest, "\">\n", &cut)) return 0;
    name->t = rest.t;
    name->n = cut;
    return 1;
}

/* ^ name="(.*?)" string="(true|false)">(.*?)<$ ; the lazy name ends at the
 * first `" string="true|false">` after which the value can close with "<". */
static int match_param(str s, str *name, int *is_str, str *value) {
    static const char pre[] = " name=\"";
    if (s.n < sizeof pre - 1 || memcmp(s.t, pre, sizeof pre - 1)) return 0;
    size_t vend;
    if (!ends_with_at_end(s, "<", &vend)) return 0;
    static const char *const mids[] = {"\" string=\"true\">", "\" string=\"false\">"};
    for (size_t p = sizeof pre - 1; p < s.n; p++) {
        for (int k = 0; k < 2; k++) {
            size_t ml = strlen(mids[k]);
            if (p + ml <= vend && !memcmp(s.t + p, mids[k], ml)) {
                name->t = s.t + sizeof pre - 1;
                name->n = p - (sizeof pre - 1);
                *is_str = k == 0;
                value->t = s.t + p + ml;
                value->n = vend - (p + ml);
                return 1;
            }
        }
    }
    return 0;
}

/* Builds {"name": ..., "arguments": "{...}"} the way the official decoder
 * joins parameters: strings re-encoded as JSON, others inserted verbatim. */
static cJSON *make_call(str name, str *pn, str *pv, int *ps, int np) {
    ld_strbuf b = {0};
    ld_sb_puts(&b, "{");
    for (int i = 0; i < np; i++) {
        if (i) ld_sb_puts(&b, ", ");
        ld_pyjson_dump_string(&b, pn[i].t, pn[i].n, 0);
        ld_sb_puts(&b, ": ");
        if (ps[i]) ld_pyjson_dump_string(&b, pv[i].t, pv[i].n, 0);
        else ld_sb_put(&b, pv[i].t, pv[i].n);
    }
    ld_sb_puts(&b, "}");
    char *nm = malloc(name.n + 1);
    cJSON *call = cJSON_CreateObject(), *fn = cJSON_CreateObject();
    if (b.oom || !nm || !call || !fn) {
        free(b.p), free(nm), cJSON_Delete(call), cJSON_Delete(fn);
        ld_set_error("out of memory");
        return NULL;
    }
    memcpy(nm, name.t, name.n);
    nm[name.n] = 0;
    cJSON_AddStringToObject(call, "type", "function");
    cJSON_AddStringToObject(fn, "name", nm);
    cJSON_AddStringToObject(fn, "arguments", b.p);
    cJSON_AddItemToObject(call, "function", fn);
    free(nm);
    free(b.p);
    return call;
}

static int parse_tool_calls(const str *s, size_t *pos, int *stop, cJSON *calls) {
    static const char *const head[] = {"<" DSML "invoke", "</" DSML "tool_calls>"};
    static const char *const body[] = {"<" DSML "parameter", "</" DSML "invoke"};
    static const char *const pend[] = {"/" DSML "parameter"};
    *stop = -1;
    while (*pos < s->n) {
        str seg;
        int st = read_until(s, pos, head, 2, &seg);
        *stop = st < 0 ? -1 : 100 + st; /* 101: block end */
        if (!seg_is(seg, ">\n")) return fail_seg("Tool call format error: expected '>\\n' but got", seg);
        if (st == 1) break;
        if (st < 0) return ld_set_error("Missing special token in tool calls");
        str nseg, name;
        st = read_until(s, pos, body, 2, &nseg);
        if (!match_invoke_name(nseg, &name)) return fail_seg("Tool name format error", nseg);
        str pn[64], pv[64];
        int ps[64], np = 0;
        *stop = st;
        while (st == 0) {
            str pseg, k, v;
            int is_str;
            read_until(s, pos, pend, 1, &pseg);
            if (!match_param(pseg, &k, &is_str, &v)) return fail_seg("Parameter format error", pseg);
            for (int i = 0; i < np; i++)
                if (pn[i].n == k.n && !memcmp(pn[i].t, k.t, k.n)) return fail_seg("Duplicate parameter name", k);
            if (np == 64) return ld_set_error("too many parameters in one tool call (max 64)");
            pn[np] = k, pv[np] = v, ps[np++] = is_str;
            str tail;
            st = read_until(s, pos, body, 2, &tail);
            *stop = st;
            if (!seg_is(tail, ">\n")) return fail_seg("Parameter format error: expected '>\\n' but got", tail);
        }
        cJSON *call = make_call(name, pn, pv, ps, np);
        if (!call) return -1;
        cJSON_AddItemToArray(calls, call);
    }
    return 0;
}

static int contains(str s, const char *lit) {
    size_t l = strlen(lit);
    for (size_t p = 0; p + l <= s.n; p++)
        if (!memcmp(s.t + p, lit, l)) return 1;
    return 0;
}

static cJSON *str_node(str s) {
    char *c = malloc(s.n + 1);
    if (!c) return NULL;
    memcpy(c, s.t, s.n);
    c[s.n] = 0;
    cJSON *r = cJSON_CreateString(c);
    free(c);
    return r;
}

cJSON *ld_chat_parse_completion(const char *text, size_t len, int thinking) {
    str s = {text, len}, reasoning = {"", 0}, content;
    size_t pos = 0;
    static const char *const think_stops[] = {LD_DSV4_THINK_END, "\n\n<" DSML "tool_calls"};
    static const char *const content_stops[] = {LD_DSV4_EOS, "\n\n<" DSML "tool_calls"};
    static const char *const eos[] = {LD_DSV4_EOS};
    cJSON *calls = cJSON_CreateArray();
    if (!calls) { ld_set_error("out of memory"); return NULL; }
    if (thinking && read_until(&s, &pos, think_stops, 2, &reasoning) != 0) {
        ld_set_error("Invalid thinking format: missing </think>");
        goto fail;
    }
    int st = read_until(&s, &pos, content_stops, 2, &content);
    int stop_is_eos = st == 0;
    if (st == 1) {
        int tstop;
        if (parse_tool_calls(&s, &pos, &tstop, calls)) goto fail;
        str after;
        st = read_until(&s, &pos, eos, 1, &after);
        if (after.n) {
            ld_set_error("Unexpected content after tool calls");
            goto fail;
        }
        stop_is_eos = st == 0;
    } else if (st != 0) {
        ld_set_error("Invalid format: missing EOS token");
        goto fail;
    }
    if (pos != len || !(stop_is_eos || st < 0)) {
        ld_set_error("Unexpected content at end");
        goto fail;
    }
    static const char *const banned[] = {LD_DSV4_BOS, LD_DSV4_EOS, LD_DSV4_THINK_START, LD_DSV4_THINK_END, DSML};
    for (int k = 0; k < 5; k++)
        if (contains(content, banned[k]) || contains(reasoning, banned[k])) {
            ld_set_error("Unexpected special token '%s' in content", banned[k]);
            goto fail;
        }
    cJSON *msg = cJSON_CreateObject();
    cJSON *cn = str_node(content), *rn = str_node(reasoning);
    if (!msg || !cn || !rn) {
        cJSON_Delete(msg), cJSON_Delete(cn), cJSON_Delete(rn);
        ld_set_error("out of memory");
        goto fail;
    }
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddItemToObject(msg, "content", cn);
    cJSON_AddItemToObject(msg, "reasoning_content", rn);
    cJSON_AddItemToObject(msg, "tool_calls", calls);
    return msg;
fail:
    cJSON_Delete(calls);
    return NULL;
}
