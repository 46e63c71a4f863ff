/* A small byte-level BPE tokenizer.json built in memory, for tests and fuzz
 * targets that must run without downloaded files. It exercises every piece
 * of the format the loader supports: all 256 byte symbols, string and array
 * merges, special and normalized added tokens, a Split sequence with the
 * DeepSeek pattern, ByteLevel, and a TemplateProcessing BOS. */
#ifndef LADDER_TESTS_TINY_TOKENIZER_H
#define LADDER_TESTS_TINY_TOKENIZER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Byte-level char of byte b, as UTF-8 into out (returns length). */
static size_t tiny_bl_char(int b, char *out) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    unsigned cp = (unsigned)b;
    if (!printable) {
        unsigned n = 0;
        for (int x = 0; x < b; x++)
            if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE))) n++;
        cp = 256 + n;
    }
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* Returns a malloc'd tokenizer.json text. Ids: bytes 0-255, merges 256+,
 * added tokens after. */
static char *tiny_tokenizer_json(void) {
    static const char *const merges[][2] = {
        {"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"i", "n"}, {"in", "g"}, {"e", "r"}, {"Ġ", "a"},
        {"o", "n"}, {"1", "2"}, {"12", "3"}, {"Ġ", "Ġ"}, {"ĠĠ", "ĠĠ"}, {"Ċ", "Ċ"}, {"l", "l"},
        {"'", "s"}, {"a", "n"}, {"an", "d"}, {"Ġ", "and"}, {"ä", "¸"}, {"ä¸", "Ń"},
    };
    size_t cap = 1 << 16, n = 0;
    char *j = malloc(cap);
    if (!j) return NULL;
#define PUT(...) n += (size_t)snprintf(j + n, cap - n, __VA_ARGS__)
    PUT("{\"version\":\"1.0\",\"normalizer\":null,\"model\":{\"type\":\"BPE\",\"dropout\":null,"
        "\"unk_token\":null,\"fuse_unk\":false,\"byte_fallback\":false,\"vocab\":{");
    for (int b = 0; b < 256; b++) {
        char c[3] = {0};
        tiny_bl_char(b, c);
        PUT("%s\"%s%s\":%d", b ? "," : "", (c[0] == '"' || c[0] == '\\') ? "\\" : "", c, b);
    }
    size_t nm = sizeof merges / sizeof merges[0];
    for (size_t i = 0; i < nm; i++) PUT(",\"%s%s\":%zu", merges[i][0], merges[i][1], 256 + i);
    PUT("},\"merges\":[");
    for (size_t i = 0; i < nm; i++) {
        if (i % 2) PUT("%s[\"%s\",\"%s\"]", i ? "," : "", merges[i][0], merges[i][1]);
        else PUT("%s\"%s %s\"", i ? "," : "", merges[i][0], merges[i][1]);
    }
    int a = 256 + (int)nm;
    PUT("]},\"added_tokens\":["
        "{\"id\":%d,\"content\":\"<|bos|>\",\"special\":true,\"normalized\":false},"
        "{\"id\":%d,\"content\":\"<think>\",\"special\":false,\"normalized\":true},"
        "{\"id\":%d,\"content\":\"</think>\",\"special\":false,\"normalized\":true},"
        "{\"id\":%d,\"content\":\"<｜User｜>\",\"special\":false,\"normalized\":true},"
        "{\"id\":%d,\"content\":\"<｜Assistant｜>\",\"special\":true,\"normalized\":false}],",
        a, a + 1, a + 2, a + 3, a + 4);
    PUT("\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
        "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{N}{1,3}\"},\"behavior\":\"Isolated\",\"invert\":false},"
        "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[一-龥\\u3040-ゟ゠-ヿ]+\"},\"behavior\":\"Isolated\",\"invert\":false},"
        "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[!\\\"#$%%&'()*+,\\\\-./:;<=>?@\\\\[\\\\\\\\\\\\]^_`{|}~][A-Za-z]+|"
        "[^\\r\\n\\\\p{L}\\\\p{P}\\\\p{S}]?[\\\\p{L}\\\\p{M}]+| ?[\\\\p{P}\\\\p{S}]+[\\r\\n]*|\\\\s*[\\r\\n]+|"
        "\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false},"
        "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":false}]},"
        "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<|bos|>\","
        "\"type_id\":0}},{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}]},"
        "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true}}");
#undef PUT
    return j;
}

#endif
