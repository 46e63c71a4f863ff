/* A synthetic tokenizer.json for synthesized checkpoints: byte-level BPE
 * whose every id decodes, with the V4 chat format's markers as added
 * tokens, so a random checkpoint can be prompted with text and chatted with
 * (tests, demos). Not a trained vocabulary: merges are byte pairs in a
 * fixed order, letters and spaces first. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/chat.h"
#include "text/tokenizer.h"

static const char *const SPECIALS[] = {LD_DSV4_BOS, LD_DSV4_EOS, LD_DSV4_USER, LD_DSV4_ASSISTANT,
                                       LD_DSV4_LATEST_REMINDER, LD_DSV4_THINK_START, LD_DSV4_THINK_END};
enum { N_SPECIAL = sizeof SPECIALS / sizeof SPECIALS[0], FIRST_BYTE = 16 };

/* GPT-2's byte-to-character map, as UTF-8 */
static void bl_char(int b, char out[3]) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    unsigned cp = (unsigned)b;
    if (!printable) {
        unsigned n = 0;
        for (int x = 0; x < b; x++) n += !((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE);
        cp = 256 + n;
    }
    memset(out, 0, 3);
    if (cp < 0x80) out[0] = (char)cp;
    else out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F));
}

/* bytes in merge order: lowercase, space, uppercase, digits, the rest */
static void byte_order(int *ord) {
    int n = 0, seen[256] = {0};
    const char *pref = "etaoinshrdlcumwfgypbvkjxqz EATOINSHRDLCUMWFGYPBVKJXQZ0123456789.,'\n";
    for (const char *p = pref; *p; p++) ord[n++] = (unsigned char)*p, seen[(unsigned char)*p] = 1;
    for (int b = 0; b < 256; b++)
        if (!seen[b]) ord[n++] = b;
}

char *ld_tokenizer_synth_json(int vocab_size, int bos_id, int eos_id) {
    int n_merges = vocab_size - FIRST_BYTE - 256;
    if (bos_id != 0 || eos_id != 1) {
        ld_set_error("a synthetic tokenizer puts BOS at 0 and EOS at 1; the config has %d and %d", bos_id, eos_id);
        return NULL;
    }
    if (n_merges < 0 || n_merges > 256 * 256) {
        ld_set_error("a synthetic tokenizer covers vocabularies of %d to %d ids, not %d", FIRST_BYTE + 256,
                     FIRST_BYTE + 256 + 256 * 256, vocab_size);
        return NULL;
    }
    cJSON *j = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(j, "model");
    cJSON_AddStringToObject(j, "version", "1.0");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddFalseToObject(model, "byte_fallback");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab"), *merges = cJSON_AddArrayToObject(model, "merges");
    char bl[256][3];
    for (int b = 0; b < 256; b++) bl_char(b, bl[b]);
    /* the ids below FIRST_BYTE that are not markers still need a string */
    for (int i = N_SPECIAL; i < FIRST_BYTE; i++) {
        char name[32];
        snprintf(name, sizeof name, "<｜reserved_%d｜>", i);
        cJSON_AddNumberToObject(vocab, name, i);
    }
    for (int i = 0; i < N_SPECIAL; i++) cJSON_AddNumberToObject(vocab, SPECIALS[i], i);
    for (int b = 0; b < 256; b++) cJSON_AddNumberToObject(vocab, bl[b], FIRST_BYTE + b);
    int ord[256];
    byte_order(ord);
    for (int m = 0; m < n_merges; m++) {
        int x = ord[m / 256], y = ord[m % 256];
        char pair[16], tok[16];
        snprintf(pair, sizeof pair, "%s %s", bl[x], bl[y]);
        snprintf(tok, sizeof tok, "%s%s", bl[x], bl[y]);
        cJSON_AddNumberToObject(vocab, tok, FIRST_BYTE + 256 + m);
        cJSON_AddItemToArray(merges, cJSON_CreateString(pair));
    }
    cJSON *added = cJSON_AddArrayToObject(j, "added_tokens");
    for (int i = 0; i < FIRST_BYTE; i++) {
        cJSON *a = cJSON_CreateObject();
        char name[32];
        snprintf(name, sizeof name, "<｜reserved_%d｜>", i);
        cJSON_AddNumberToObject(a, "id", i);
        cJSON_AddStringToObject(a, "content", i < N_SPECIAL ? SPECIALS[i] : name);
        cJSON_AddTrueToObject(a, "special");
        cJSON_AddFalseToObject(a, "normalized");
        cJSON_AddItemToArray(added, a);
    }
    cJSON_AddNullToObject(j, "normalizer");
    cJSON_AddItemToObject(j, "pre_tokenizer",
                          cJSON_Parse("{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":"
                                      "{\"Regex\":\" ?[^\\\\s]+|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false},"
                                      "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,"
                                      "\"use_regex\":false}]}"));
    cJSON_AddNullToObject(j, "post_processor");
    cJSON_AddItemToObject(j, "decoder",
                          cJSON_Parse("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,"
                                      "\"use_regex\":true}"));
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) ld_set_error("out of memory");
    return s;
}
