/* DeepSeek-V4 message preprocessing: the format has no tool role, so tool
 * results become <tool_result> blocks of user turns. Mirrors the official
 * merge_tool_messages / sort_tool_results_by_call_order, including quirks
 * that change the prompt: consecutive user messages are merged into one turn
 * unless the earlier one carries a task, and tool results are reordered only
 * when a turn has two or more of them and the last assistant call list had
 * ids. Input is never modified. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/chat_internal.h"
#include "text/pyjson.h"

int ld_chat_role_is(const cJSON *msg, const char *r) {
    const cJSON *role = py_get(msg, "role");
    return cJSON_IsString(role) && !strcmp(role->valuestring, r);
}

/* msg.get(key, "") as a new node. */
static cJSON *get_or_empty(const cJSON *msg, const char *key) {
    const cJSON *v = py_get(msg, key);
    return v ? cJSON_Duplicate(v, 1) : cJSON_CreateString("");
}

static int last_is_user_with_blocks(const cJSON *merged, int need_no_task) {
    const cJSON *last = cJSON_GetArrayItem(merged, cJSON_GetArraySize(merged) - 1);
    if (!last || !ld_chat_role_is(last, "user") || !py_get(last, "content_blocks")) return 0;
    return !need_no_task || !py_not_none(py_get(last, "task"));
}

static cJSON *merge(const cJSON *messages) {
    cJSON *merged = cJSON_CreateArray();
    if (!merged) return NULL;
    int i = 0;
    for (const cJSON *msg = messages->child; msg; msg = msg->next, i++) {
        if (!cJSON_IsObject(msg)) {
            ld_set_error("message %d is not a JSON object", i);
            goto fail;
        }
        cJSON *last = cJSON_GetArrayItem(merged, cJSON_GetArraySize(merged) - 1);
        if (ld_chat_role_is(msg, "tool")) {
            cJSON *block = cJSON_CreateObject();
            cJSON_AddStringToObject(block, "type", "tool_result");
            cJSON_AddItemToObject(block, "tool_use_id", get_or_empty(msg, "tool_call_id"));
            cJSON_AddItemToObject(block, "content", get_or_empty(msg, "content"));
            if (last_is_user_with_blocks(merged, 0)) {
                cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(last, "content_blocks"), block);
            } else {
                cJSON *u = cJSON_CreateObject();
                cJSON_AddStringToObject(u, "role", "user");
                cJSON *blocks = cJSON_AddArrayToObject(u, "content_blocks");
                cJSON_AddItemToArray(blocks, block);
                cJSON_AddItemToArray(merged, u);
            }
        } else if (ld_chat_role_is(msg, "user")) {
            cJSON *block = cJSON_CreateObject();
            cJSON_AddStringToObject(block, "type", "text");
            cJSON_AddItemToObject(block, "text", get_or_empty(msg, "content"));
            if (last_is_user_with_blocks(merged, 1)) {
                cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(last, "content_blocks"), block);
            } else {
                cJSON *u = cJSON_CreateObject();
                cJSON_AddStringToObject(u, "role", "user");
                cJSON_AddItemToObject(u, "content", get_or_empty(msg, "content"));
                cJSON_AddItemToArray(cJSON_AddArrayToObject(u, "content_blocks"), block);
                static const char *const keep[] = {"task", "wo_eos", "mask"};
                for (int k = 0; k < 3; k++) {
                    const cJSON *v = py_get(msg, keep[k]);
                    if (v) cJSON_AddItemToObject(u, keep[k], cJSON_Duplicate(v, 1));
                }
                cJSON_AddItemToArray(merged, u);
            }
        } else {
            cJSON_AddItemToArray(merged, cJSON_Duplicate(msg, 1));
        }
    }
    return merged;
fail:
    cJSON_Delete(merged);
    return NULL;
}

/* Key under which an id is compared: strings as themselves, other JSON
 * values by their serialization (ids are strings in practice). */
static char *id_key(const cJSON *v) {
    if (!v) return NULL;
    if (cJSON_IsString(v)) {
        size_t n = strlen(v->valuestring);
        char *k = malloc(n + 2);
        if (k) {
            k[0] = 's';
            memcpy(k + 1, v->valuestring, n + 1);
        }
        return k;
    }
    char *d = ld_pyjson_dumps(v, 0);
    if (!d) return NULL;
    size_t n = strlen(d);
    char *k = malloc(n + 2);
    if (k) {
        k[0] = 'j';
        memcpy(k + 1, d, n + 1);
    }
    free(d);
    return k;
}

typedef struct {
    char **keys;
    int *idx;
    int n;
} call_order;

static void order_clear(call_order *o) {
    for (int i = 0; i < o->n; i++) free(o->keys[i]);
    free(o->keys);
    free(o->idx);
    memset(o, 0, sizeof *o);
}

static int order_lookup(const call_order *o, const cJSON *id) {
    char *k = id_key(id);
    int r = 0;
    /* later assignments of a repeated id win, like dict item assignment */
    for (int i = 0; k && i < o->n; i++)
        if (!strcmp(o->keys[i], k)) r = o->idx[i];
    free(k);
    return r;
}

static void sort_results(cJSON *merged) {
    call_order order = {0};
    for (cJSON *msg = merged->child; msg; msg = msg->next) {
        const cJSON *calls = py_get(msg, "tool_calls");
        const cJSON *blocks = py_get(msg, "content_blocks");
        if (ld_chat_role_is(msg, "assistant") && py_truthy(calls)) {
            order_clear(&order);
            int idx = 0;
            for (const cJSON *tc = calls->child; tc; tc = tc->next, idx++) {
                const cJSON *id = py_get(tc, "id");
                if (!py_truthy(id)) id = py_get(py_get(tc, "function"), "id");
                if (!py_truthy(id)) continue;
                char **nk = realloc(order.keys, (size_t)(order.n + 1) * sizeof *nk);
                if (!nk) break;
                order.keys = nk;
                int *ni = realloc(order.idx, (size_t)(order.n + 1) * sizeof *ni);
                if (!ni) break;
                order.idx = ni;
                order.keys[order.n] = id_key(id);
                order.idx[order.n] = idx;
                if (order.keys[order.n]) order.n++;
            }
        } else if (ld_chat_role_is(msg, "user") && py_truthy(blocks) && cJSON_IsArray(blocks)) {
            int n = cJSON_GetArraySize(blocks), nt = 0;
            if (order.n == 0 || n < 2) continue;
            cJSON **all = malloc((size_t)n * sizeof *all), **tools = malloc((size_t)n * sizeof *tools);
            int *keys = malloc((size_t)n * sizeof *keys);
            if (!all || !tools || !keys) {
                free(all), free(tools), free(keys);
                continue;
            }
            int i = 0;
            for (cJSON *b = blocks->child; b; b = b->next) {
                all[i++] = b;
                const cJSON *t = py_get(b, "type");
                if (cJSON_IsString(t) && !strcmp(t->valuestring, "tool_result")) {
                    const cJSON *use = py_get(b, "tool_use_id");
                    keys[nt] = order_lookup(&order, use ? use : NULL);
                    tools[nt++] = b;
                }
            }
            if (nt > 1) {
                for (int a = 1; a < nt; a++) { /* stable insertion sort */
                    cJSON *tb = tools[a];
                    int tk = keys[a], b = a - 1;
                    while (b >= 0 && keys[b] > tk) {
                        tools[b + 1] = tools[b];
                        keys[b + 1] = keys[b];
                        b--;
                    }
                    tools[b + 1] = tb;
                    keys[b + 1] = tk;
                }
                cJSON *bl = (cJSON *)blocks;
                for (i = 0; i < n; i++) cJSON_DetachItemViaPointer(bl, all[i]);
                int t = 0;
                for (i = 0; i < n; i++) {
                    const cJSON *ty = py_get(all[i], "type");
                    int is_tool = cJSON_IsString(ty) && !strcmp(ty->valuestring, "tool_result");
                    cJSON_AddItemToArray(bl, is_tool ? tools[t++] : all[i]);
                }
            }
            free(all), free(tools), free(keys);
        }
    }
    order_clear(&order);
}

cJSON *ld_chat_merge_tools(const cJSON *messages) {
    if (!cJSON_IsArray(messages)) {
        ld_set_error("messages must be a JSON array");
        return NULL;
    }
    cJSON *merged = merge(messages);
    if (merged) sort_results(merged);
    return merged;
}
