/* DeepSeek-V4 prompt rendering (messages -> text), byte-exact with the
 * official encoder. Each message renders independently given the whole list:
 * what follows it decides the transition ("<｜Assistant｜>" plus "<think>" or
 * "</think>", or a task token), and the position of the last user/developer
 * turn decides whose reasoning is kept. The strings below are protocol
 * constants of the format; changing a byte changes the model's input. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/chat.h"
#include "text/chat_internal.h"
#include "text/pyjson.h"

#define DSML LD_DSV4_DSML

static const char reasoning_effort_max[] =
    "Reasoning Effort: Absolute maximum with no shortcuts permitted.\n"
    "You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the root "
    "cause, rigorously stress-testing your logic against all potential paths, edge cases, and adversarial "
    "scenarios.\n"
    "Explicitly write out your entire deliberation process, documenting every intermediate step, considered "
    "alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n\n";

static const char tools_head[] =
    "## Tools\n\n"
    "You have access to a set of tools to help answer the user's question. You can invoke tools by writing a "
    "\"<" DSML "tool_calls>\" block like the following:\n\n"
    "<" DSML "tool_calls>\n"
    "<" DSML "invoke name=\"$TOOL_NAME\">\n"
    "<" DSML "parameter name=\"$PARAMETER_NAME\" string=\"true|false\">$PARAMETER_VALUE</" DSML "parameter>\n"
    "...\n"
    "</" DSML "invoke>\n"
    "<" DSML "invoke name=\"$TOOL_NAME2\">\n"
    "...\n"
    "</" DSML "invoke>\n"
    "</" DSML "tool_calls>\n\n"
    "String parameters should be specified as is and set `string=\"true\"`. For all other types (numbers, "
    "booleans, arrays, objects), pass the value in JSON format and set `string=\"false\"`.\n\n"
    "If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning inside "
    "<think>...</think> BEFORE any tool calls or final response.\n\n"
    "Otherwise, output directly after </think> with tool calls or final response.\n\n"
    "### Available Tool Schemas\n\n";
static const char tools_tail[] =
    "\n\nYou MUST strictly follow the above defined tool name and parameter schemas to invoke tool calls.\n";
static const char response_format_head[] =
    "## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n";

static const char *const task_names[] = {"action", "query", "authority", "domain", "title", "read_url"};
static const char *const task_tokens[] = {"<｜action｜>", "<｜query｜>", "<｜authority｜>",
                                          "<｜domain｜>", "<｜title｜>", "<｜read_url｜>"};

typedef struct {
    const cJSON **m; /* messages being rendered (after merging and dropping) */
    int n;
    int thinking, drop;
    int last_user;
    const char *effort;
} render_ctx;

static int find_last_user(const cJSON **m, int n) {
    for (int i = n - 1; i >= 0; i--)
        if (ld_chat_role_is(m[i], "user") || ld_chat_role_is(m[i], "developer")) return i;
    return -1;
}

/* `value or ""` for a field that must be text. */
static int text_or_empty(const cJSON *v, const char *what, int idx, const char **out) {
    if (!py_truthy(v)) { *out = ""; return 0; }
    if (!cJSON_IsString(v)) return ld_set_error("message %d: %s must be a string", idx, what);
    *out = v->valuestring;
    return 0;
}

/* str(value) for the few shapes the official templates format directly. */
static int py_str(ld_strbuf *b, const cJSON *v, const char *what, int idx) {
    if (!v || cJSON_IsNull(v)) ld_sb_puts(b, "None");
    else if (cJSON_IsString(v)) ld_sb_puts(b, v->valuestring);
    else return ld_set_error("message %d: %s must be a string", idx, what);
    return 0;
}

static int render_tools(ld_strbuf *b, const cJSON *tools, int idx) {
    ld_sb_puts(b, tools_head);
    int k = 0;
    for (const cJSON *t = tools->child; t; t = t->next, k++) {
        const cJSON *fn = py_get(t, "function");
        if (!fn) return ld_set_error("message %d: tools[%d] has no \"function\"", idx, k);
        if (k) ld_sb_puts(b, "\n");
        if (ld_pyjson_dump_into(b, fn, 0)) return -1;
    }
    ld_sb_puts(b, tools_tail);
    return 0;
}

/* Tools and response_format sections shared by system and developer. */
static int render_extras(ld_strbuf *b, const cJSON *msg, int idx) {
    const cJSON *tools = py_get(msg, "tools"), *rf = py_get(msg, "response_format");
    if (py_truthy(tools)) {
        if (!cJSON_IsArray(tools)) return ld_set_error("message %d: tools must be an array", idx);
        ld_sb_puts(b, "\n\n");
        if (render_tools(b, tools, idx)) return -1;
    }
    if (py_truthy(rf)) {
        ld_sb_puts(b, "\n\n");
        ld_sb_puts(b, response_format_head);
        if (ld_pyjson_dump_into(b, rf, 0)) return -1;
    }
    return 0;
}

static int render_user(ld_strbuf *b, const cJSON *msg, int idx) {
    ld_sb_puts(b, LD_DSV4_USER);
    const cJSON *blocks = py_get(msg, "content_blocks");
    if (!py_truthy(blocks)) {
        const char *c = "";
        if (text_or_empty(py_get(msg, "content"), "content", idx, &c)) return -1;
        ld_sb_puts(b, c);
        return 0;
    }
    int k = 0;
    for (const cJSON *bl = blocks->child; bl; bl = bl->next, k++) {
        if (k) ld_sb_puts(b, "\n\n");
        const cJSON *type = py_get(bl, "type");
        const char *ty = cJSON_IsString(type) ? type->valuestring : "";
        if (!strcmp(ty, "text")) {
            const cJSON *t = py_get(bl, "text");
            if (t && !cJSON_IsString(t)) return ld_set_error("message %d: user content must be a string", idx);
            ld_sb_puts(b, t ? t->valuestring : "");
        } else if (!strcmp(ty, "tool_result")) {
            const cJSON *c = py_get(bl, "content");
            ld_sb_puts(b, "<tool_result>");
            if (cJSON_IsArray(c)) {
                int j = 0;
                for (const cJSON *p = c->child; p; p = p->next, j++) {
                    if (!cJSON_IsObject(p)) return ld_set_error("message %d: tool content parts must be objects", idx);
                    if (j) ld_sb_puts(b, "\n\n");
                    const cJSON *pt = py_get(p, "type");
                    if (cJSON_IsString(pt) && !strcmp(pt->valuestring, "text")) {
                        const cJSON *tx = py_get(p, "text");
                        if (tx && !cJSON_IsString(tx)) return ld_set_error("message %d: tool text must be a string", idx);
                        ld_sb_puts(b, tx ? tx->valuestring : "");
                    } else {
                        ld_sb_puts(b, "[Unsupported ");
                        if (py_str(b, pt, "content part type", idx)) return -1;
                        ld_sb_puts(b, "]");
                    }
                }
            } else if (py_str(b, c, "tool content", idx)) {
                return -1;
            }
            ld_sb_puts(b, "</tool_result>");
        } else {
            ld_sb_puts(b, "[Unsupported ");
            if (py_str(b, type, "content block type", idx)) return -1;
            ld_sb_puts(b, "]");
        }
    }
    return 0;
}

/* One DSML <parameter> line per argument of a call. */
static int render_arguments(ld_strbuf *b, const cJSON *args, int idx) {
    cJSON *parsed = NULL, *wrapper = NULL;
    const cJSON *obj;
    if (cJSON_IsString(args)) parsed = ld_pyjson_parse(args->valuestring, strlen(args->valuestring));
    if (parsed) {
        if (!cJSON_IsObject(parsed)) {
            cJSON_Delete(parsed);
            return ld_set_error("message %d: tool call arguments must decode to a JSON object", idx);
        }
        obj = parsed;
    } else {
        /* Not JSON (or not a string): the whole value becomes one argument. */
        wrapper = cJSON_CreateObject();
        cJSON_AddItemToObject(wrapper, "arguments", args ? cJSON_Duplicate(args, 1) : cJSON_CreateNull());
        obj = wrapper;
    }
    int k = 0, rc = 0;
    for (const cJSON *v = obj->child; v && !rc; v = v->next, k++) {
        if (k) ld_sb_puts(b, "\n");
        int is_str = cJSON_IsString(v);
        ld_sb_puts(b, "<" DSML "parameter name=\"");
        ld_sb_puts(b, v->string ? v->string : "");
        ld_sb_puts(b, is_str ? "\" string=\"true\">" : "\" string=\"false\">");
        if (is_str) ld_sb_puts(b, v->valuestring);
        else rc = ld_pyjson_dump_into(b, v, 0);
        ld_sb_puts(b, "</" DSML "parameter>");
    }
    cJSON_Delete(parsed);
    cJSON_Delete(wrapper);
    return rc;
}

static int render_assistant(ld_strbuf *b, const render_ctx *c, int idx) {
    const cJSON *msg = c->m[idx];
    const cJSON *calls = py_get(msg, "tool_calls");
    const char *content = "", *rc = "";
    if (text_or_empty(py_get(msg, "content"), "content", idx, &content) ||
        text_or_empty(py_get(msg, "reasoning_content"), "reasoning_content", idx, &rc))
        return -1;
    int prev_task = idx > 0 && py_not_none(py_get(c->m[idx - 1], "task"));
    if (c->thinking && !prev_task && (!c->drop || idx > c->last_user)) {
        ld_sb_puts(b, rc);
        ld_sb_puts(b, LD_DSV4_THINK_END);
    }
    ld_sb_puts(b, content);
    if (py_truthy(calls)) {
        if (!cJSON_IsArray(calls)) return ld_set_error("message %d: tool_calls must be an array", idx);
        ld_sb_puts(b, "\n\n<" DSML "tool_calls>\n");
        int k = 0;
        for (const cJSON *tc = calls->child; tc; tc = tc->next, k++) {
            const cJSON *fn = py_get(tc, "function");
            const cJSON *name = py_get(fn, "name");
            if (!fn || !name || !py_get(fn, "arguments"))
                return ld_set_error("message %d: tool_calls[%d] needs function.name and function.arguments", idx, k);
            if (k) ld_sb_puts(b, "\n");
            ld_sb_puts(b, "<" DSML "invoke name=\"");
            if (py_str(b, name, "tool call name", idx)) return -1;
            ld_sb_puts(b, "\">\n");
            if (render_arguments(b, py_get(fn, "arguments"), idx)) return -1;
            ld_sb_puts(b, "\n</" DSML "invoke>");
        }
        ld_sb_puts(b, "\n</" DSML "tool_calls>");
    }
    if (!py_truthy(py_get(msg, "wo_eos"))) ld_sb_puts(b, LD_DSV4_EOS);
    return 0;
}

static int render_message(ld_strbuf *b, const render_ctx *c, int idx) {
    const cJSON *msg = c->m[idx];
    const cJSON *role = py_get(msg, "role");
    const char *r = cJSON_IsString(role) ? role->valuestring : "";
    if (idx == 0 && c->thinking && c->effort && !strcmp(c->effort, "max")) ld_sb_puts(b, reasoning_effort_max);
    if (!strcmp(r, "system")) {
        const char *content = "";
        if (text_or_empty(py_get(msg, "content"), "content", idx, &content)) return -1;
        ld_sb_puts(b, content);
        if (render_extras(b, msg, idx)) return -1;
    } else if (!strcmp(r, "developer")) {
        const cJSON *content = py_get(msg, "content");
        if (!py_truthy(content)) return ld_set_error("message %d: a developer message needs content", idx);
        if (!cJSON_IsString(content)) return ld_set_error("message %d: content must be a string", idx);
        ld_sb_puts(b, LD_DSV4_USER);
        ld_sb_puts(b, content->valuestring);
        if (render_extras(b, msg, idx)) return -1;
    } else if (!strcmp(r, "user")) {
        if (render_user(b, msg, idx)) return -1;
    } else if (!strcmp(r, "latest_reminder")) {
        ld_sb_puts(b, LD_DSV4_LATEST_REMINDER);
        if (py_str(b, py_get(msg, "content"), "content", idx)) return -1;
    } else if (!strcmp(r, "assistant")) {
        if (render_assistant(b, c, idx)) return -1;
    } else {
        return ld_set_error("message %d: unknown role '%.40s'", idx, cJSON_IsString(role) ? r : "(none)");
    }

    /* Transition: only when the next message is an assistant or reminder
     * turn, or this is the last message. */
    if (idx + 1 < c->n && !ld_chat_role_is(c->m[idx + 1], "assistant") &&
        !ld_chat_role_is(c->m[idx + 1], "latest_reminder"))
        return 0;
    const cJSON *task = py_get(msg, "task");
    if (py_not_none(task)) {
        int t = -1;
        for (int k = 0; k < 6 && cJSON_IsString(task); k++)
            if (!strcmp(task->valuestring, task_names[k])) t = k;
        if (t < 0) return ld_set_error("message %d: invalid task (valid: action, query, authority, domain, title, read_url)", idx);
        if (t == 0) {
            ld_sb_puts(b, LD_DSV4_ASSISTANT);
            ld_sb_puts(b, c->thinking ? LD_DSV4_THINK_START : LD_DSV4_THINK_END);
        }
        ld_sb_puts(b, task_tokens[t]);
    } else if (!strcmp(r, "user") || !strcmp(r, "developer")) {
        ld_sb_puts(b, LD_DSV4_ASSISTANT);
        int open = c->thinking && (!c->drop || idx >= c->last_user);
        ld_sb_puts(b, open ? LD_DSV4_THINK_START : LD_DSV4_THINK_END);
    }
    return 0;
}

char *ld_chat_encode(const cJSON *messages, const ld_chat_opts *opts) {
    ld_chat_opts o = opts ? *opts : (ld_chat_opts){0};
    if (o.reasoning_effort && strcmp(o.reasoning_effort, "high") && strcmp(o.reasoning_effort, "max")) {
        ld_set_error("reasoning effort must be \"high\" or \"max\"");
        return NULL;
    }
    cJSON *merged = ld_chat_merge_tools(messages);
    if (!merged) return NULL;
    int n = cJSON_GetArraySize(merged);
    const cJSON **m = malloc((size_t)(n ? n : 1) * sizeof *m);
    cJSON *stripped = cJSON_CreateArray(); /* owns assistant copies without reasoning */
    ld_strbuf b = {0};
    char *result = NULL;
    if (!m || !stripped) {
        ld_set_error("out of memory");
        goto done;
    }
    int drop = !o.keep_thinking;
    for (const cJSON *x = merged->child; x; x = x->next)
        if (py_truthy(py_get(x, "tools"))) drop = 0;
    int k = 0;
    for (const cJSON *x = merged->child; x; x = x->next) m[k++] = x;
    if (o.thinking && drop) {
        /* Before the last user turn: keep user/system/tool/reminder turns,
         * strip reasoning from assistant turns, drop everything else. */
        int last = find_last_user(m, n), w = 0;
        for (int i = 0; i < n; i++) {
            const cJSON *x = m[i];
            int keep = i >= last || ld_chat_role_is(x, "user") || ld_chat_role_is(x, "system") ||
                       ld_chat_role_is(x, "tool") || ld_chat_role_is(x, "latest_reminder") ||
                       ld_chat_role_is(x, "direct_search_results");
            if (keep) m[w++] = x;
            else if (ld_chat_role_is(x, "assistant")) {
                cJSON *cp = cJSON_Duplicate(x, 1);
                if (!cp) { ld_set_error("out of memory"); goto done; }
                cJSON_DeleteItemFromObjectCaseSensitive(cp, "reasoning_content");
                cJSON_AddItemToArray(stripped, cp);
                m[w++] = cp;
            }
        }
        n = w;
    }
    render_ctx c = {m, n, o.thinking, drop, find_last_user(m, n), o.reasoning_effort};
    if (!o.no_bos) ld_sb_puts(&b, LD_DSV4_BOS);
    for (int i = 0; i < n; i++)
        if (render_message(&b, &c, i)) goto done;
    if (b.oom) {
        ld_set_error("out of memory");
        goto done;
    }
    if (!b.p) ld_sb_put(&b, "", 0);
    result = b.p;
    b.p = NULL;
done:
    free(b.p);
    free(m);
    cJSON_Delete(stripped);
    cJSON_Delete(merged);
    return result;
}
