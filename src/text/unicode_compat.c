/* Pattern rewriting so PCRE2 classifies code points like HF's Oniguruma.
 *
 * Every character class of the pattern, and every class escape outside one
 * (\p{L}, \S, ...), is compiled alone with PCRE2 and tested on the code
 * points of ld_ucd_delta. Its oracle answer for those code points is worked
 * out from the items it is made of: property and \s \d \w items from the
 * table, anything else (literals, ranges, POSIX classes, scripts) from PCRE2,
 * since literals mean the same to both engines. Where the two answers differ
 * the class is patched: code points to add go into the class (or into an
 * alternative), code points to remove go into the negation of a negated
 * class (or into a lookahead guard). Classes that already agree are left
 * byte for byte as they were, so typical text runs the original pattern.
 *
 * Not handled: \b and \B (they use PCRE2's \w), case-insensitive matching
 * of code points the table adds, and Oniguruma-only class syntax. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "text/unicode_compat.h"
#include "text/utf8.h"

const char *const ld_gc_names[LD_GC_COUNT] = {
    "Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe",
    "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"};

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} buf;

static void put(buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->n + n + 1 > cap) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) { b->oom = 1; return; }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void puts_(buf *b, const char *s) { put(b, s, strlen(s)); }

/* Set of code points as sorted inclusive ranges (appended in order). */
typedef struct {
    uint32_t (*r)[2];
    size_t n, cap;
    int oom;
} cpset;

static void cpset_add(cpset *s, uint32_t cp) {
    if (s->n && s->r[s->n - 1][1] + 1 == cp) { s->r[s->n - 1][1] = cp; return; }
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        void *nr = realloc(s->r, cap * sizeof *s->r);
        if (!nr) { s->oom = 1; return; }
        s->r = nr;
        s->cap = cap;
    }
    s->r[s->n][0] = s->r[s->n][1] = cp;
    s->n++;
}

/* Writes the ranges as class items, e.g. \x{1F6DC}\x{1FA89}-\x{1FA8F}. */
static void put_items(buf *b, const cpset *s) {
    char t[40];
    for (size_t i = 0; i < s->n; i++) {
        if (s->r[i][0] == s->r[i][1]) snprintf(t, sizeof t, "\\x{%X}", (unsigned)s->r[i][0]);
        else snprintf(t, sizeof t, "\\x{%X}-\\x{%X}", (unsigned)s->r[i][0], (unsigned)s->r[i][1]);
        puts_(b, t);
    }
}

/* A class item the table can answer for: a set of categories and \s \d \w
 * flags, possibly negated. */
typedef struct {
    uint32_t gc_mask;
    uint8_t flag_mask, neg;
} prop_item;

/* Category set named by a \p{...} body (PCRE2 spelling), 0 if unknown. */
static uint32_t gc_mask_of(const char *name, size_t n) {
    if (n == 1 || (n == 2 && (name[1] == '&' || (name[0] == 'L' && name[1] == 'C')))) {
        uint32_t m = 0;
        for (int g = 0; g < LD_GC_COUNT; g++)
            if (ld_gc_names[g][0] == name[0] && (n == 1 || g <= LD_GC_Lt)) m |= 1u << g;
        return m;
    }
    if (n == 2)
        for (int g = 0; g < LD_GC_COUNT; g++)
            if (!memcmp(ld_gc_names[g], name, 2)) return 1u << g;
    return 0;
}

static int item_has(const prop_item *it, const ld_ucd_range *r) {
    int in = ((it->gc_mask >> r->gc) & 1) || (r->flags & it->flag_mask);
    return in != it->neg;
}

/* A class being rewritten: its items split into those the table answers
 * for and the rest, kept as text for PCRE2. */
typedef struct {
    int neg;
    const char *body; /* items between [ or [^ and ] */
    size_t body_len;
    prop_item props[64];
    size_t n_props;
    buf others; /* "[" + remaining items + "]" */
    int n_others;
} cls;

/* Length of the escape at p[0] == '\\' (up to end e), including arguments
 * like {..} so their characters are not taken for syntax. */
static size_t escape_len(const char *p, const char *e) {
    if (p + 1 >= e) return 1;
    char c = p[1];
    if ((c == 'p' || c == 'P' || c == 'x' || c == 'o' || c == 'N' || c == 'g') && p + 2 < e && p[2] == '{') {
        const char *q = memchr(p + 2, '}', (size_t)(e - p - 2));
        return q ? (size_t)(q - p) + 1 : 2;
    }
    if (c == 'p' || c == 'P' || c == 'c') return p + 2 < e ? 3 : 2;
    size_t cl = ld_utf8_seq_len((const unsigned char *)p + 1, (size_t)(e - p - 1));
    return 1 + (cl ? cl : 1);
}

/* Turns an escape into a prop_item if the table can answer for it. */
static int escape_prop(const char *p, size_t n, prop_item *it) {
    memset(it, 0, sizeof *it);
    if (n < 2) return 0; /* a lone trailing backslash */
    char c = p[1];
    const char *f = strchr("sSdDwW", c);
    if (n == 2 && f && c) {
        it->flag_mask = c == 's' || c == 'S' ? LD_UCD_SPACE : c == 'd' || c == 'D' ? LD_UCD_DIGIT : LD_UCD_WORD;
        it->neg = c >= 'A' && c <= 'Z';
        return 1;
    }
    if (c != 'p' && c != 'P') return 0;
    const char *name = p + 2;
    size_t len = n - 2;
    if (len >= 2 && name[0] == '{') { name++; len -= 2; }
    it->neg = c == 'P';
    if (len && name[0] == '^') { name++; len--; it->neg = !it->neg; }
    return (it->gc_mask = gc_mask_of(name, len)) != 0;
}

/* Parses the class at p[0] == '[' up to e. Returns the length of the whole
 * class, or 0 when it does not end (PCRE2 will report the error). */
static size_t parse_class(const char *p, const char *e, cls *k) {
    const char *q = p + 1;
    k->neg = q < e && *q == '^';
    if (k->neg) q++;
    k->body = q;
    puts_(&k->others, "[");
    if (q < e && *q == ']') { /* a leading ] is a literal */
        puts_(&k->others, "\\]");
        k->n_others++;
        q++;
    }
    while (q < e && *q != ']') {
        const char *s = q;
        if (*q == '\\' && q + 1 < e && q[1] == 'Q') {
            const char *end = q + 2;
            while (end < e && !(end[0] == '\\' && end + 1 < e && end[1] == 'E')) end++;
            q = end < e ? end + 2 : e;
        } else if (*q == '\\') {
            q += escape_len(q, e);
            prop_item it;
            if (k->n_props < sizeof k->props / sizeof k->props[0] && escape_prop(s, (size_t)(q - s), &it)) {
                k->props[k->n_props++] = it;
                continue;
            }
        } else if (*q == '[' && q + 1 < e && strchr(":.=", q[1])) {
            const char *end = q + 2;
            while (end + 1 < e && !(end[0] == q[1] && end[1] == ']')) end++;
            q = end + 1 < e ? end + 2 : e;
        } else {
            size_t cl = ld_utf8_seq_len((const unsigned char *)q, (size_t)(e - q));
            q += cl ? cl : 1;
        }
        if (k->others.n == 1 && *s == '^') puts_(&k->others, "\\"); /* keep it literal */
        put(&k->others, s, (size_t)(q - s));
        k->n_others++;
    }
    if (q >= e) return 0;
    k->body_len = (size_t)(q - k->body);
    puts_(&k->others, "]");
    return (size_t)(q + 1 - p);
}

/* A class compiled twice, as (?:[..])*+ and as its complement, so one match
 * spans a whole run of code points that are in (or out of) the class. */
typedef struct {
    pcre2_code *in, *out;
} runs_re;

static pcre2_code *compile_star(const char *body, size_t n, int neg, uint32_t flags) {
    buf t = {0};
    puts_(&t, neg ? "(?:[^" : "(?:[");
    if (!neg && n && body[0] == '^') puts_(&t, "\\"); /* literal ^ of a negated class */
    put(&t, body, n);
    puts_(&t, "])*+");
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = t.oom ? NULL : pcre2_compile((PCRE2_SPTR)t.p, t.n, flags | PCRE2_ANCHORED, &err, &off, NULL);
    if (re) (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    free(t.p);
    return re;
}

static int runs_init(runs_re *r, const char *body, size_t n, int neg, uint32_t flags) {
    r->in = compile_star(body, n, neg, flags);
    r->out = compile_star(body, n, !neg, flags);
    return r->in && r->out ? 0 : -1;
}

static void runs_free(runs_re *r) {
    pcre2_code_free(r->in);
    pcre2_code_free(r->out);
}

/* Sets in[i] for each code point of the UTF-8 text s (ncp code points). */
static void runs_members(const runs_re *r, pcre2_match_data *md, const unsigned char *s, size_t n, uint8_t *in) {
    size_t pos = 0, cp = 0;
    for (int want = 1; pos < n; want = !want) {
        int rc = pcre2_match(want ? r->in : r->out, s, n, pos, 0, md, NULL);
        size_t end = rc > 0 ? pcre2_get_ovector_pointer(md)[1] : pos;
        while (pos < end) {
            in[cp++] = (uint8_t)want;
            pos += ld_utf8_seq_len(s + pos, n - pos);
        }
        if (!want && end == pos && rc <= 0) { /* neither side matches: take it as out */
            in[cp++] = 0;
            pos += ld_utf8_seq_len(s + pos, n - pos);
        }
    }
}

/* Compares PCRE2 and the oracle on class k over the table; fills add
 * (oracle in, PCRE2 out) and rem (the other way). Returns -1 when PCRE2
 * cannot compile the class alone (it is left untouched then) or on OOM. */
static int diff_class(const cls *k, uint32_t flags, cpset *add, cpset *rem) {
    runs_re whole = {0}, oth = {0};
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    unsigned char *text = NULL;
    uint8_t *pc = NULL, *ot = NULL;
    size_t cap = 0;
    int rc = md && !runs_init(&whole, k->body, k->body_len, k->neg, flags) ? 0 : -1;
    if (!rc && k->n_others) rc = runs_init(&oth, k->others.p + 1, k->others.n - 2, 0, flags);
    for (size_t i = 0; i < ld_ucd_delta_n && !rc; i++) {
        const ld_ucd_range *r = &ld_ucd_delta[i];
        size_t ncp = r->hi - r->lo + 1;
        if (ncp > cap) {
            free(text);
            free(pc);
            free(ot);
            cap = ncp;
            text = malloc(cap * 4);
            pc = malloc(cap);
            ot = calloc(cap, 1);
            if (!text || !pc || !ot) { rc = -1; break; }
        }
        size_t n = 0;
        for (uint32_t c = r->lo; c <= r->hi; c++) n += ld_utf8_encode(c, text + n);
        runs_members(&whole, md, text, n, pc);
        if (k->n_others) runs_members(&oth, md, text, n, ot);
        int prop_in = 0;
        for (size_t j = 0; j < k->n_props && !prop_in; j++) prop_in = item_has(&k->props[j], r);
        for (size_t j = 0; j < ncp; j++) {
            int oracle = (prop_in || ot[j]) != k->neg;
            if (oracle && !pc[j]) cpset_add(add, r->lo + (uint32_t)j);
            if (!oracle && pc[j]) cpset_add(rem, r->lo + (uint32_t)j);
        }
    }
    free(text);
    free(pc);
    free(ot);
    pcre2_match_data_free(md);
    runs_free(&whole);
    runs_free(&oth);
    return rc;
}

/* Emits class k patched with add/rem. A removal from a positive class needs
 * a lookahead, which is slow in loops like \s+; a class of one escape item
 * is turned into the negation of its complement instead ([\s] is [^\S]). */
static void put_patched(buf *b, const cls *k, const cpset *add, const cpset *rem) {
    char flipped[64];
    cls alt;
    if (!k->neg && rem->n && k->n_props == 1 && !k->n_others && k->body_len < sizeof flipped &&
        k->body[0] == '\\') {
        memcpy(flipped, k->body, k->body_len);
        flipped[1] = (char)(flipped[1] ^ 0x20); /* s <-> S, p <-> P, ... */
        alt = *k;
        alt.neg = 1;
        alt.body = flipped;
        k = &alt;
    }
    /* Long range lists are slow in PCRE2 classes (every code point above
     * U+00FF walks them), so they go where few characters reach them: after
     * the original class has failed, or (removals from a negated class)
     * after the class's own test, as a lookahead. Short ones are merged. */
    enum { SHORT = 8 };
    int merge_add = !k->neg && add->n <= SHORT, merge_rem = k->neg && rem->n <= SHORT;
    int alt_add = add->n && !merge_add, look_rem = rem->n && !merge_rem;
    int group = alt_add || look_rem;
    if (group) puts_(b, "(?:");
    if (look_rem) {
        puts_(b, "(?![");
        if (k->neg) { /* not C, then not rem; a leading ^ of C is a literal */
            if (k->body_len && k->body[0] == '^') puts_(b, "\\");
            put(b, k->body, k->body_len);
        } else {
            put_items(b, rem);
        }
        puts_(b, "])");
    }
    if (look_rem && k->neg) {
        puts_(b, "[^");
        put_items(b, rem);
    } else {
        puts_(b, k->neg ? "[^" : "[");
        put(b, k->body, k->body_len);
        if (merge_add) put_items(b, add);
        if (merge_rem) put_items(b, rem);
    }
    puts_(b, "]");
    if (alt_add) { puts_(b, "|["); put_items(b, add); puts_(b, "]"); }
    if (group) puts_(b, ")");
}

/* Handles one class (at p, class text n bytes, or an escape written as the
 * class "[\\X]" in s). Appends the original or the patched text. */
static int do_class(buf *b, const char *orig, size_t orig_len, const char *s, size_t n, uint32_t flags,
                    int *changed, uint8_t *touched) {
    cls k = {0};
    cpset add = {0}, rem = {0};
    int rc = 0;
    if (!parse_class(s, s + n, &k)) { put(b, orig, orig_len); goto done; }
    if (k.others.oom) { rc = -1; goto done; }
    if (k.n_props == 0) { /* all answered by PCRE2: nothing can differ */
        put(b, orig, orig_len);
        goto done;
    }
    if (diff_class(&k, flags, &add, &rem) < 0 || (!add.n && !rem.n)) {
        put(b, orig, orig_len);
    } else {
        put_patched(b, &k, &add, &rem);
        *changed = 1;
        for (int w = 0; w < 2 && touched; w++) {
            const cpset *set = w ? &rem : &add;
            for (size_t i = 0; i < set->n; i++)
                for (uint32_t cp = set->r[i][0]; cp <= set->r[i][1]; cp++)
                    touched[cp >> 3] = (uint8_t)(touched[cp >> 3] | 1u << (cp & 7));
        }
    }
    if (add.oom || rem.oom) rc = -1;
done:
    free(k.others.p);
    free(add.r);
    free(rem.r);
    return rc;
}

char *ld_regex_compat_rewrite(const char *pat, size_t len, uint32_t compile_flags, size_t *out_len,
                              uint8_t *touched, int *err) {
    buf b = {0};
    const char *p = pat, *e = pat + len;
    uint32_t flags = compile_flags & (PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS);
    int changed = 0;
    *err = 0;
    while (p < e && !b.oom) {
        const char *s = p;
        if (*p == '\\' && p + 1 < e && p[1] == 'Q') {
            const char *end = p + 2;
            while (end < e && !(end[0] == '\\' && end + 1 < e && end[1] == 'E')) end++;
            p = end < e ? end + 2 : e;
        } else if (*p == '\\') {
            p += escape_len(p, e);
            prop_item it;
            if (escape_prop(s, (size_t)(p - s), &it)) {
                /* An escape outside a class is the one-item class around it. */
                buf t = {0};
                puts_(&t, "[");
                put(&t, s, (size_t)(p - s));
                puts_(&t, "]");
                if (t.oom || do_class(&b, s, (size_t)(p - s), t.p, t.n, flags, &changed, touched)) b.oom = 1;
                free(t.p);
                continue;
            }
        } else if (*p == '[') {
            cls k = {0};
            size_t n = parse_class(p, e, &k);
            free(k.others.p);
            if (n) {
                if (do_class(&b, p, n, p, n, flags, &changed, touched)) b.oom = 1;
                p += n;
                continue;
            }
            p = e; /* unterminated: leave the rest as is */
        } else if (*p == '(' && p + 2 < e && p[1] == '?' && p[2] == '#') {
            const char *q = memchr(p, ')', (size_t)(e - p));
            p = q ? q + 1 : e;
        } else {
            p++;
        }
        put(&b, s, (size_t)(p - s));
    }
    if (b.oom) {
        free(b.p);
        *err = 1;
        return NULL;
    }
    if (!changed) {
        free(b.p);
        return NULL;
    }
    *out_len = b.n;
    return b.p;
}
