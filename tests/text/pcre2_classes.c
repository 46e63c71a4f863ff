/* Prints how the linked PCRE2 classifies every code point, for
 * gen_unicode_table.js: one line "LO HI GC FLAGS" (hex code points) per run
 * of code points with the same general category and the same membership in
 * \s, \d and \w (FLAGS: s, d, w or -). Surrogates are skipped. The first
 * line is "# PCRE2 VERSION unicode UNICODE_VERSION". Compiled with the
 * options the tokenizer uses (UTF, UCP). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "text/unicode_compat.h"
#include "text/utf8.h"

static pcre2_code *compile(const char *pat) {
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &off, NULL);
    if (re) (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

int main(void) {
    enum { NF = 3 };
    static const char *flag_pat[NF] = {"\\s", "\\d", "\\w"};
    pcre2_code *gc[LD_GC_COUNT], *fl[NF];
    char pat[32];
    for (int g = 0; g < LD_GC_COUNT; g++) {
        snprintf(pat, sizeof pat, "\\p{%s}", ld_gc_names[g]);
        if (!(gc[g] = compile(pat))) { fprintf(stderr, "cannot compile %s\n", pat); return 1; }
    }
    for (int f = 0; f < NF; f++) fl[f] = compile(flag_pat[f]);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    char ver[64], uver[64];
    pcre2_config(PCRE2_CONFIG_VERSION, ver);
    pcre2_config(PCRE2_CONFIG_UNICODE_VERSION, uver);
    printf("# PCRE2 %s unicode %s\n", ver, uver);
    long lo = -1;
    int prev_g = -1;
    char prev_f[NF + 1] = "";
    for (unsigned cp = 0; cp <= 0x110000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        int g = -1;
        char f[NF + 1] = "---";
        if (cp < 0x110000) {
            unsigned char b[4];
            size_t n = ld_utf8_encode(cp, b);
            for (int i = 0; i < LD_GC_COUNT && g < 0; i++)
                if (pcre2_match(gc[i], b, n, 0, 0, md, NULL) > 0) g = i;
            for (int i = 0; i < NF; i++)
                if (pcre2_match(fl[i], b, n, 0, 0, md, NULL) > 0) f[i] = flag_pat[i][1];
            if (g < 0) { fprintf(stderr, "U+%04X has no category\n", cp); return 1; }
        }
        /* A run breaks at the surrogate gap too, so every line is contiguous. */
        if (g != prev_g || strcmp(f, prev_f) || cp == 0xE000) {
            if (lo >= 0) printf("%lX %X %s %s\n", (unsigned long)lo, cp == 0xE000 ? 0xD7FFu : cp - 1,
                                ld_gc_names[prev_g], prev_f);
            lo = cp;
            prev_g = g;
            memcpy(prev_f, f, sizeof f);
        }
    }
    pcre2_match_data_free(md);
    return 0;
}
