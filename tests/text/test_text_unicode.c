/* Regex class patching (src/text/unicode_compat.c): PCRE2 must classify
 * code points as HF tokenizers does. Expected answers are the oracle's
 * (tokenizers 0.23.2), checked by the npm-oracle tests on whole tokenizers;
 * here single classes are pinned, whatever the linked PCRE2 version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tok_internal.h"
#include "text/unicode_compat.h"
#include "text/utf8.h"

static int failures;
#define CHECK(c, ...) do { if (!(c)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* Whether pattern (compiled as a tokenizer compiles it) matches exactly the
 * one code point cp. */
static int matches(const char *pattern, uint32_t cp) {
    pcre2_code *re = ld_regex_compile(pattern, strlen(pattern), 0, NULL, NULL);
    if (!re) {
        fprintf(stderr, "%s: %s\n", pattern, ld_last_error());
        return -1;
    }
    unsigned char u[4];
    size_t n = ld_utf8_encode(cp, u);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    int rc = pcre2_match(re, u, n, 0, PCRE2_ANCHORED, md, NULL);
    int whole = rc > 0 && pcre2_get_ovector_pointer(md)[1] == n;
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return whole;
}

static const struct {
    const char *pattern;
    uint32_t cp;
    int want;
} cases[] = {
    {"\\p{So}", 0x1F6DC, 1},      /* Unicode 15 emoji (wireless) */
    {"\\p{S}", 0x1FAE9, 1},       /* Unicode 16 emoji */
    {"[\\p{P}\\p{S}]", 0x1FAE9, 1},
    {"\\p{L}", 0x1C89, 1},        /* Unicode 16 Cyrillic capital TJE */
    {"\\p{Lu}", 0x1C89, 1},
    {"\\p{L&}", 0x1C8A, 1},
    {"[^\\r\\n\\p{L}\\p{P}\\p{S}]", 0x1F6DC, 0},
    {"[^\\r\\n\\p{L}\\p{P}\\p{S}]", 0x0041, 0},
    {"[^\\r\\n\\p{L}\\p{P}\\p{S}]", 0x0031, 1},
    {"\\P{L}", 0x1C89, 0},
    {"\\p{^L}", 0x1C89, 0},
    {"\\pN", 0x1CCF0, 1},         /* Unicode 16 outlined digit */
    {"\\d", 0x1CCF0, 1},
    {"\\p{Lo}", 0x31350, 1},      /* CJK extension H (Unicode 15) */
    {"[\\p{L}\\p{M}]", 0x0897, 1}, /* Unicode 16 Arabic mark */
    {"\\s", 0x180E, 0},           /* not White_Space since Unicode 6.3 */
    {"\\S", 0x180E, 1},
    {"\\s", 0x0085, 1},
    {"\\s", 0x3000, 1},
    {"[^\\s\\p{L}\\p{N}]", 0x180E, 1},
    {"[^\\s\\p{L}\\p{N}]", 0x1C89, 0},
    {"\\w", 0x0301, 1},           /* Oniguruma's \w has marks */
    {"\\w", 0x2070, 0},           /* ... and mostly no other numbers */
    {"\\W", 0x2070, 1},
    {"[a-z\\p{N}]", 0x0062, 1},
    {"[]\\p{N}]", 0x005D, 1},
    {"\\Q\\p{L}\\E", 0x0041, 0},  /* quoted: literal text, not a class */
    {"[^^\\p{L}]", 0x005E, 0},      /* a literal ^ kept when patched */
    {"[^^\\p{L}]", 0x1C89, 0},
    {"[^^\\p{L}]", 0x0031, 1},
};

int main(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = matches(cases[i].pattern, cases[i].cp);
        CHECK(got == cases[i].want, "%s on U+%04X: got %d, want %d", cases[i].pattern, (unsigned)cases[i].cp,
              got, cases[i].want);
    }
    /* Patterns with no class escapes are not touched at all. */
    size_t n;
    int err;
    char *same = ld_regex_compat_rewrite("[a-z]+|'s", 9, PCRE2_UTF | PCRE2_UCP, &n, NULL, &err);
    CHECK(!same && !err, "literal-only pattern rewritten");
    /* Broken patterns keep PCRE2's own message, about the pattern as written. */
    static const char *const bad[] = {"[\\p{L}", "\\p{", "\\p{Nope}", "(\\s", "\\"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pcre2_code *re = ld_regex_compile(bad[i], strlen(bad[i]), 0, NULL, NULL);
        CHECK(!re && strstr(ld_last_error(), "bad regex"), "%s: got '%s'", bad[i], re ? "compiled" : ld_last_error());
        pcre2_code_free(re);
    }
    /* Valid patterns stay valid, including syntax the rewriter does not
     * follow (a comment holding an unclosed class). */
    static const char *const odd[] = {"(?x)\\p{L}+ # [unclosed", "[[:alpha:]\\p{N}]", "\\p{Greek}\\s",
                                      "(?<=\\p{L})\\s(?<![\\p{L}\\p{N}])", "[\\Q]\\E\\p{S}]", "\\cX\\p{L}"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        pcre2_code *re = ld_regex_compile(odd[i], strlen(odd[i]), 0, NULL, NULL);
        CHECK(re, "%s: %s", odd[i], ld_last_error());
        pcre2_code_free(re);
    }
    /* The table is sorted and disjoint, as the rewriter assumes. */
    for (size_t i = 0; i < ld_ucd_delta_n; i++)
        CHECK(ld_ucd_delta[i].lo <= ld_ucd_delta[i].hi && (i == 0 || ld_ucd_delta[i - 1].hi < ld_ucd_delta[i].lo),
              "table run %zu", i);
    if (failures) return 1;
    printf("unicode class tests passed (%zu cases, table of %zu runs)\n", sizeof cases / sizeof cases[0],
           ld_ucd_delta_n);
    return 0;
}
