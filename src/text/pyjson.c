/* Python-compatible JSON parsing and json.dumps formatting (see pyjson.h).
 * Invariant: number nodes parsed here carry their lexeme in valuestring;
 * nodes built elsewhere have none and are printed from valuedouble. */
#include "text/pyjson.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/strmap.h"
#include "text/utf8.h"

void ld_sb_put(ld_strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void ld_sb_puts(ld_strbuf *b, const char *s) { ld_sb_put(b, s, strlen(s)); }

void ld_pyjson_dump_string(ld_strbuf *b, const char *s, size_t n, int ensure_ascii) {
    ld_sb_put(b, "\"", 1);
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        char esc[16];
        size_t el = 0, adv = 1;
        switch (c) {
        case '"': el = (size_t)snprintf(esc, sizeof esc, "\\\""); break;
        case '\\': el = (size_t)snprintf(esc, sizeof esc, "\\\\"); break;
        case '\n': el = (size_t)snprintf(esc, sizeof esc, "\\n"); break;
        case '\r': el = (size_t)snprintf(esc, sizeof esc, "\\r"); break;
        case '\t': el = (size_t)snprintf(esc, sizeof esc, "\\t"); break;
        case '\b': el = (size_t)snprintf(esc, sizeof esc, "\\b"); break;
        case '\f': el = (size_t)snprintf(esc, sizeof esc, "\\f"); break;
        default:
            if (c < 0x20) {
                el = (size_t)snprintf(esc, sizeof esc, "\\u%04x", c);
            } else if (c >= 0x80 && ensure_ascii) {
                size_t l = ld_utf8_seq_len((const unsigned char *)s + i, n - i);
                uint32_t cp = l ? ld_utf8_decode((const unsigned char *)s + i, l) : 0xFFFD;
                adv = l ? l : 1;
                if (cp >= 0x10000) {
                    cp -= 0x10000;
                    el = (size_t)snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
                } else {
                    el = (size_t)snprintf(esc, sizeof esc, "\\u%04x", cp);
                }
            }
        }
        if (el) {
            ld_sb_put(b, s + run, i - run);
            ld_sb_put(b, esc, el);
            i += adv;
            run = i;
        } else {
            i++;
        }
    }
    ld_sb_put(b, s + run, n - run);
    ld_sb_put(b, "\"", 1);
}

/* repr(float): the shortest digits that round-trip, fixed notation when the
 * decimal exponent is in [-4, 16), else d.ddde+XX. */
static void float_repr(ld_strbuf *b, double v) {
    if (isnan(v)) { ld_sb_puts(b, "NaN"); return; }
    if (isinf(v)) { ld_sb_puts(b, v < 0 ? "-Infinity" : "Infinity"); return; }
    char tmp[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    /* tmp = [-]d[.ddd]e[+-]XX: pull out digits and exponent */
    char digits[32];
    size_t nd = 0;
    const char *p = tmp;
    int neg = *p == '-';
    if (neg) p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.') digits[nd++] = *p;
    int e10 = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    digits[nd] = 0;
    if (neg) ld_sb_put(b, "-", 1);
    if (e10 >= -4 && e10 < 16) {
        if (e10 < 0) {
            ld_sb_puts(b, "0.");
            for (int i = -1; i > e10; i--) ld_sb_put(b, "0", 1);
            ld_sb_put(b, digits, nd);
        } else {
            size_t ip = (size_t)e10 + 1;
            for (size_t i = 0; i < ip; i++) ld_sb_put(b, i < nd ? &digits[i] : "0", 1);
            ld_sb_put(b, ".", 1);
            if (nd > ip) ld_sb_put(b, digits + ip, nd - ip);
            else ld_sb_put(b, "0", 1);
        }
    } else {
        ld_sb_put(b, digits, 1);
        if (nd > 1) {
            ld_sb_put(b, ".", 1);
            ld_sb_put(b, digits + 1, nd - 1);
        }
        char ex[16];
        snprintf(ex, sizeof ex, "e%c%02d", e10 < 0 ? '-' : '+', e10 < 0 ? -e10 : e10);
        ld_sb_puts(b, ex);
    }
}

static void dump_number(ld_strbuf *b, const cJSON *v) {
    const char *lx = v->valuestring;
    if (lx && *lx && !strpbrk(lx, ".eE")) {
        /* An int: Python keeps every digit; "-0" becomes 0. */
        const char *d = lx + (*lx == '-');
        while (*d == '0' && d[1]) d++;
        if (!strcmp(d, "0")) ld_sb_put(b, "0", 1);
        else {
            if (*lx == '-') ld_sb_put(b, "-", 1);
            ld_sb_puts(b, d);
        }
        return;
    }
    if (lx && *lx) {
        float_repr(b, strtod(lx, NULL));
        return;
    }
    double x = v->valuedouble;
    if (isfinite(x) && x == floor(x) && fabs(x) < 1e15) {
        char t[32];
        snprintf(t, sizeof t, "%.0f", x);
        ld_sb_puts(b, strcmp(t, "-0") ? t : "0");
    } else {
        float_repr(b, x);
    }
}

static int dump(ld_strbuf *b, const cJSON *v, int ascii, int depth) {
    if (depth > 1000) return ld_set_error("JSON nested too deeply");
    if (cJSON_IsNull(v)) ld_sb_puts(b, "null");
    else if (cJSON_IsTrue(v)) ld_sb_puts(b, "true");
    else if (cJSON_IsFalse(v)) ld_sb_puts(b, "false");
    else if (cJSON_IsNumber(v)) dump_number(b, v);
    else if (cJSON_IsString(v)) ld_pyjson_dump_string(b, v->valuestring, strlen(v->valuestring), ascii);
    else if (cJSON_IsArray(v) || cJSON_IsObject(v)) {
        int obj = cJSON_IsObject(v);
        ld_sb_put(b, obj ? "{" : "[", 1);
        for (const cJSON *c = v->child; c; c = c->next) {
            if (c != v->child) ld_sb_put(b, ", ", 2);
            if (obj) {
                const char *k = c->string ? c->string : "";
                ld_pyjson_dump_string(b, k, strlen(k), ascii);
                ld_sb_put(b, ": ", 2);
            }
            if (dump(b, c, ascii, depth + 1)) return -1;
        }
        ld_sb_put(b, obj ? "}" : "]", 1);
    } else {
        return ld_set_error("cannot serialize a JSON node of unknown type");
    }
    return b->oom ? ld_set_error("out of memory") : 0;
}

int ld_pyjson_dump_into(ld_strbuf *b, const cJSON *v, int ensure_ascii) { return dump(b, v, ensure_ascii, 0); }

char *ld_pyjson_dumps(const cJSON *v, int ensure_ascii) {
    ld_strbuf b = {0};
    if (dump(&b, v, ensure_ascii, 0)) {
        free(b.p);
        return NULL;
    }
    if (!b.p) ld_sb_put(&b, "", 0);
    return b.p;
}

/* Lexemes of all numbers in document order (strings skipped). */
typedef struct {
    size_t *off, *len;
    size_t n, cap;
} lexemes;

static int scan_numbers(const char *t, size_t n, lexemes *lx) {
    for (size_t i = 0; i < n;) {
        char c = t[i];
        if (c == '"') {
            for (i++; i < n && t[i] != '"'; i++)
                if (t[i] == '\\') i++;
            i++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t s = i;
            while (i < n && strchr("+-0123456789.eE", t[i]) && t[i]) i++;
            if (lx->n == lx->cap) {
                size_t cap = lx->cap ? lx->cap * 2 : 64;
                size_t *no = realloc(lx->off, cap * sizeof *no), *nl;
                if (!no) return -1;
                lx->off = no;
                nl = realloc(lx->len, cap * sizeof *nl);
                if (!nl) return -1;
                lx->len = nl;
                lx->cap = cap;
            }
            lx->off[lx->n] = s;
            lx->len[lx->n++] = i - s;
        } else {
            i++;
        }
    }
    return 0;
}

static int attach_numbers(cJSON *v, const char *t, const lexemes *lx, size_t *k, int depth) {
    if (depth > 1000) return -1;
    if (cJSON_IsNumber(v)) {
        if (*k >= lx->n) return -1;
        char *s = malloc(lx->len[*k] + 1);
        if (!s) return -1;
        memcpy(s, t + lx->off[*k], lx->len[*k]);
        s[lx->len[*k]] = 0;
        v->valuestring = s;
        (*k)++;
    }
    for (cJSON *c = v->child; c; c = c->next)
        if (attach_numbers(c, t, lx, k, depth + 1)) return -1;
    return 0;
}

/* json.loads builds dicts: a repeated key keeps its first slot, last value. */
static int dedupe(cJSON *v, int depth) {
    if (depth > 1000) return -1;
    for (cJSON *c = v->child; c; c = c->next)
        if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && dedupe(c, depth + 1)) return -1;
    if (!cJSON_IsObject(v)) return 0;
    ld_strmap seen;
    if (ld_strmap_init(&seen, 16)) return -1;
    cJSON *c = v->child;
    int32_t idx = 0;
    cJSON **slots = NULL;
    size_t nslots = 0;
    while (c) {
        cJSON *next = c->next;
        const char *k = c->string ? c->string : "";
        int32_t prev = ld_strmap_get(&seen, k, strlen(k));
        if (prev >= 0) {
            cJSON_DetachItemViaPointer(v, c);
            /* The map holds the first node's key string: move it to the node
             * that stays, so replacing frees the other (equal) copy. */
            char *k_old = slots[prev]->string;
            slots[prev]->string = c->string;
            c->string = k_old;
            cJSON_ReplaceItemViaPointer(v, slots[prev], c);
            slots[prev] = c;
        } else {
            cJSON **ns = realloc(slots, (nslots + 1) * sizeof *ns);
            if (!ns || ld_strmap_put(&seen, k, strlen(k), idx)) {
                free(ns ? ns : slots);
                ld_strmap_free(&seen);
                return -1;
            }
            slots = ns;
            slots[nslots++] = c;
            idx++;
        }
        c = next;
    }
    free(slots);
    ld_strmap_free(&seen);
    return 0;
}

int ld_json_reject_nul(const char *text, size_t len) {
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == 0) return ld_set_error("JSON holds a NUL byte at byte %zu (not supported)", i);
        if (!in_str) {
            in_str = c == '"';
        } else if (c == '"') {
            in_str = 0;
        } else if (c == '\\') {
            if (i + 5 < len && text[i + 1] == 'u' && !memcmp(text + i + 2, "0000", 4))
                return ld_set_error("JSON string holds \\u0000 at byte %zu (NUL characters are not supported)", i);
            i++; /* the escaped character cannot end the string */
        }
    }
    return 0;
}

cJSON *ld_pyjson_parse(const char *text, size_t len) {
    const char *end = NULL;
    if (ld_json_reject_nul(text, len)) return NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        const char *ep = cJSON_GetErrorPtr();
        size_t off = ep && ep >= text && ep <= text + len ? (size_t)(ep - text) : 0;
        ld_set_error("invalid JSON near byte %zu", off);
        return NULL;
    }
    for (const char *p = end; p && p < text + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            ld_set_error("invalid JSON: extra data at byte %zu", (size_t)(p - text));
            return NULL;
        }
    }
    lexemes lx = {0};
    size_t k = 0;
    int rc = scan_numbers(text, (size_t)(end - text), &lx);
    if (!rc) rc = attach_numbers(root, text, &lx, &k, 0);
    if (!rc && k != lx.n) rc = -1;
    free(lx.off);
    free(lx.len);
    if (rc || dedupe(root, 0)) {
        cJSON_Delete(root);
        ld_set_error("out of memory or malformed numbers while parsing JSON");
        return NULL;
    }
    return root;
}
