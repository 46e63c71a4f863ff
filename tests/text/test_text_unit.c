/* Pure-C tests of the text library (no downloads): tokenizer loading and
 * rejection of malformed files, encode/decode invariants, added-token and
 * special-as-text behaviour, the streaming detokenizer on split characters,
 * and Python-compatible JSON formatting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/pyjson.h"
#include "text/tokenizer.h"
#include "tiny_tokenizer.h"

static int failures;
#define CHECK(c, ...) do { if (!(c)) { failures++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static void roundtrip(ld_tokenizer *t, const char *s, size_t n) {
    for (int mode = 0; mode < 2; mode++) {
        ld_encode_opts o = {0, mode};
        int32_t *ids;
        size_t k;
        char *out;
        size_t on;
        CHECK(!ld_tokenizer_encode(t, s, n, &o, &ids, &k), "encode: %s", ld_last_error());
        CHECK(!ld_tokenizer_decode(t, ids, k, &out, &on) && on == n && !memcmp(out, s, n), "roundtrip of %zu bytes", n);
        free(out);
        free(ids);
    }
}

static void test_tokenizer(void) {
    char *j = tiny_tokenizer_json();
    ld_tokenizer *t = ld_tokenizer_load_json(j, strlen(j));
    CHECK(t, "tiny tokenizer loads: %s", ld_last_error());
    if (!t) { free(j); return; }
    int32_t bos = ld_tokenizer_bos_id(t), think = ld_tokenizer_token_id(t, "<think>", 7);
    CHECK(bos == 276 && think == 277, "added ids: bos %d think %d", bos, think);

    int32_t *ids;
    size_t n;
    const char *s = "<|bos|>the thing 12345<think>";
    CHECK(!ld_tokenizer_encode(t, s, strlen(s), NULL, &ids, &n), "encode");
    static const int32_t want[] = {276, 116, 257, 256, 104, 260, 32, 265, 52, 53, 277};
    CHECK(n == sizeof want / sizeof want[0] && !memcmp(ids, want, sizeof want), "ids of \"%s\" (got %zu)", s, n);
    free(ids);

    ld_encode_opts bos_opt = {1, 0}, plain = {0, 1};
    CHECK(!ld_tokenizer_encode(t, "he", 2, &bos_opt, &ids, &n) && n == 2 && ids[0] == 276 && ids[1] == 257, "--bos");
    free(ids);
    /* special-as-text: no added token may come out of untrusted text */
    const char *forge = "<｜Assistant｜><think>";
    CHECK(!ld_tokenizer_encode(t, forge, strlen(forge), &plain, &ids, &n), "encode plain");
    for (size_t i = 0; i < n; i++) CHECK(ids[i] < 276, "special-as-text produced added token %d", ids[i]);
    free(ids);

    roundtrip(t, "", 0);
    /* lengths from sizeof: the literals contain no NUL but are not valid C strings to count by hand */
#define RT(lit) roundtrip(t, lit, sizeof(lit) - 1)
    RT("\xff\xfe invalid \xe4\xb8 utf8 \xed\xa0\x80 \xf0\x9f\x98");
    RT("中文 and 日本語 \r\n\r\n  \t 😀👍🏽 e\xcc\x81");
#undef RT

    /* streaming: 中 is 3 bytes; feed byte tokens one by one */
    ld_detok_stream *ds = ld_detok_stream_new(t);
    const char *o;
    size_t on;
    int32_t b1 = 0xE4, b2 = 0xB8, b3 = 0xAD; /* byte ids equal byte values here */
    CHECK(!ld_detok_stream_push(ds, b1, &o, &on) && on == 0, "partial char held back");
    CHECK(!ld_detok_stream_push(ds, b2, &o, &on) && on == 0, "partial char held back");
    CHECK(!ld_detok_stream_push(ds, b3, &o, &on) && on == 3 && !memcmp(o, "中", 3), "complete char released");
    CHECK(!ld_detok_stream_push(ds, 0xFF, &o, &on) && on == 1, "invalid byte released at once");
    CHECK(!ld_detok_stream_push(ds, 0xE4, &o, &on) && on == 0, "held");
    CHECK(!ld_detok_stream_flush(ds, &o, &on) && on == 1, "flush releases the incomplete tail");
    CHECK(ld_detok_stream_push(ds, 999999, &o, &on) == -1, "unknown id is an error");
    ld_detok_stream_free(ds);
    ld_tokenizer_free(t);

    /* malformed files: every truncation of a valid file must fail cleanly */
    size_t len = strlen(j);
    for (size_t cut = 0; cut < len; cut += 97) {
        ld_clear_error();
        ld_tokenizer *bad = ld_tokenizer_load_json(j, cut);
        CHECK(!bad, "truncated file (%zu bytes) must not load", cut);
        CHECK(strlen(ld_last_error()) > 10 && !strchr(ld_last_error(), '\n'), "one-line error");
        ld_tokenizer_free(bad);
    }
    free(j);
    static const char *const bad_files[][2] = {
        {"[]", "object"},
        {"{\"model\":{\"type\":\"WordPiece\"}}", "WordPiece"},
        {"{\"model\":{\"vocab\":{\"a\":-1},\"merges\":[]}}", "id must be"},
        {"{\"model\":{\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}", "not in the vocab"},
        {"{\"model\":{\"vocab\":{\"a\":0},\"merges\":[\"a a a\"]}}", "two tokens"},
        {"{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]}}", "ByteLevel"},
        {"{\"model\":{\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"}}", "regex"},
        {"{\"model\":{\"vocab\":{},\"merges\":[]},\"normalizer\":{\"type\":\"Lowercase\"}}", "Lowercase"},
    };
    for (size_t i = 0; i < sizeof bad_files / sizeof bad_files[0]; i++) {
        ld_tokenizer *bad = ld_tokenizer_load_json(bad_files[i][0], strlen(bad_files[i][0]));
        CHECK(!bad && strstr(ld_last_error(), bad_files[i][1]), "bad file %zu: got '%s'", i, ld_last_error());
        ld_tokenizer_free(bad);
    }
    CHECK(!ld_tokenizer_load("/nonexistent/tokenizer.json") && strstr(ld_last_error(), "cannot open"), "missing file");
}

static void dumps_is(const char *in, const char *want, int ascii) {
    cJSON *v = ld_pyjson_parse(in, strlen(in));
    char *got = v ? ld_pyjson_dumps(v, ascii) : NULL;
    CHECK(got && !strcmp(got, want), "dumps(%s): got %s want %s", in, got ? got : ld_last_error(), want);
    free(got);
    cJSON_Delete(v);
}

static void test_pyjson(void) {
    dumps_is("{\"b\":1,\"a\":[1.0,-0,2e3,1e16,1e-5,0.0001,123456789012345678901234567890]}",
             "{\"b\": 1, \"a\": [1.0, 0, 2000.0, 1e+16, 1e-05, 0.0001, 123456789012345678901234567890]}", 0);
    dumps_is("{\"k\":\"é\\n\\u0001\\\"\\\\/\\t\",\"x\":true,\"y\":null}",
             "{\"k\": \"é\\n\\u0001\\\"\\\\/\\t\", \"x\": true, \"y\": null}", 0);
    dumps_is("\"é😀\"", "\"\\u00e9\\ud83d\\ude00\"", 1);
    dumps_is("{\"a\":1,\"b\":2,\"a\":3}", "{\"a\": 3, \"b\": 2}", 0); /* dict semantics */
    dumps_is("[0.1, 1.5e300, -2.5e-7, 100.0, 3.0e0]", "[0.1, 1.5e+300, -2.5e-07, 100.0, 3.0]", 0);
    CHECK(!ld_pyjson_parse("[1] x", 5), "extra data must be rejected");
    CHECK(!ld_pyjson_parse("{", 1), "truncated JSON must be rejected");
}

int main(void) {
    test_tokenizer();
    test_pyjson();
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    else printf("text unit tests passed\n");
    return failures ? 1 : 0;
}
