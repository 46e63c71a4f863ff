/* Compares ladder's tokenizer with oracle ids written by oracle_cases.js.
 * usage: text_oracle_check TOKENIZER_JSON CASES_JSONL [--special-as-text]
 * For every case: encode must equal the oracle ids, decode(encode(x)) must
 * give x back, and the streaming detokenizer must give the same bytes.
 * Prints per-kind counts; exit 0 only when everything matched. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tokenizer.h"

static char *read_line(FILE *f, size_t *n) {
    size_t cap = 1 << 16, len = 0;
    char *b = malloc(cap);
    if (!b) return NULL;
    int c;
    while ((c = fgetc(f)) != EOF && c != '\n') {
        if (len + 1 >= cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) { free(b); return NULL; }
            b = nb;
        }
        b[len++] = (char)c;
    }
    if (c == EOF && len == 0) { free(b); return NULL; }
    b[len] = 0;
    *n = len;
    return b;
}

static int unhex(const char *h, char **out, size_t *n) {
    size_t l = strlen(h);
    char *b = malloc(l / 2 + 1);
    if (!b) return -1;
    for (size_t i = 0; i + 1 < l; i += 2) {
        unsigned v;
        if (sscanf(h + i, "%2x", &v) != 1) { free(b); return -1; }
        b[i / 2] = (char)v;
    }
    *out = b;
    *n = l / 2;
    return 0;
}

typedef struct { const char *name; long cases, ok, bytes; } tally;

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: text_oracle_check TOKENIZER_JSON CASES_JSONL [--special-as-text]\n");
        return 2;
    }
    ld_encode_opts opts = {0};
    if (argc > 3 && !strcmp(argv[3], "--special-as-text")) opts.special_as_text = 1;
    ld_tokenizer *tok = ld_tokenizer_load(argv[1]);
    if (!tok) { fprintf(stderr, "error: %s\n", ld_last_error()); return 1; }
    FILE *f = fopen(argv[2], "rb");
    if (!f) { fprintf(stderr, "error: cannot open %s\n", argv[2]); return 1; }
    tally t[2] = {{"corpus", 0, 0, 0}, {"fuzz", 0, 0, 0}};
    long roundtrip_bad = 0, stream_bad = 0, shown = 0;
    char *line;
    size_t ln;
    ld_detok_stream *ds = ld_detok_stream_new(tok);
    while ((line = read_line(f, &ln))) {
        cJSON *j = cJSON_ParseWithLength(line, ln);
        const cJSON *kind = cJSON_GetObjectItem(j, "kind"), *hex = cJSON_GetObjectItem(j, "hex"),
                    *ids = cJSON_GetObjectItem(j, "ids");
        char *text;
        size_t tn;
        if (!cJSON_IsString(kind) || !cJSON_IsString(hex) || !cJSON_IsArray(ids) || unhex(hex->valuestring, &text, &tn)) {
            fprintf(stderr, "error: bad case line\n");
            return 1;
        }
        tally *ta = &t[strcmp(kind->valuestring, "corpus") != 0];
        ta->cases++;
        ta->bytes += (long)tn;
        int32_t *got;
        size_t gn;
        if (ld_tokenizer_encode(tok, text, tn, &opts, &got, &gn)) {
            fprintf(stderr, "error: encode failed: %s\n", ld_last_error());
            return 1;
        }
        int same = (size_t)cJSON_GetArraySize(ids) == gn;
        size_t k = 0;
        for (const cJSON *e = ids->child; e && same; e = e->next, k++) same = (int32_t)e->valuedouble == got[k];
        if (same) ta->ok++;
        else if (shown++ < 5) {
            fprintf(stderr, "MISMATCH (%s, %zu bytes): %.*s\n  oracle:", kind->valuestring, tn, (int)(tn > 200 ? 200 : tn), text);
            for (const cJSON *e = ids->child; e; e = e->next) fprintf(stderr, " %d", (int)e->valuedouble);
            fprintf(stderr, "\n  ladder:");
            for (size_t q = 0; q < gn; q++) fprintf(stderr, " %d", got[q]);
            fprintf(stderr, "\n");
        }
        char *dec;
        size_t dn;
        if (ld_tokenizer_decode(tok, got, gn, &dec, &dn) || dn != tn || memcmp(dec, text, tn)) roundtrip_bad++;
        /* streaming: concatenation of pushes + flush equals one-shot decode */
        char *acc = malloc(dn + 1);
        size_t an = 0;
        int sok = acc != NULL;
        for (size_t q = 0; q < gn && sok; q++) {
            const char *o;
            size_t on;
            if (ld_detok_stream_push(ds, got[q], &o, &on) || an + on > dn) { sok = 0; break; }
            memcpy(acc + an, o, on);
            an += on;
        }
        const char *o;
        size_t on;
        if (sok && !ld_detok_stream_flush(ds, &o, &on) && an + on <= dn) {
            memcpy(acc + an, o, on);
            an += on;
        } else sok = 0;
        if (!sok || an != dn || memcmp(acc, dec, dn)) stream_bad++;
        free(acc);
        free(dec);
        free(got);
        free(text);
        cJSON_Delete(j);
        free(line);
    }
    fclose(f);
    int bad = roundtrip_bad || stream_bad;
    for (int i = 0; i < 2; i++) {
        printf("%s: %ld/%ld identical to oracle (%ld bytes)\n", t[i].name, t[i].ok, t[i].cases, t[i].bytes);
        if (t[i].ok != t[i].cases) bad = 1;
    }
    printf("decode(encode(x)) == x failures: %ld; streaming != one-shot: %ld\n", roundtrip_bad, stream_bad);
    ld_detok_stream_free(ds);
    ld_tokenizer_free(tok);
    return bad ? 1 : 0;
}
