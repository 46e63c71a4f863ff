/* Checkpoint loading must reject every kind of corrupt input with one clear
 * line that names the problem and the file or tensor, and never crash:
 * - safetensors files built byte by byte here (ld_st_open);
 * - checkpoint directories with shards and an index (ld_ckpt_open);
 * - complete model directories, synthesized from a config written here and
 *   then damaged one tensor at a time (ld_model_load);
 * - the same directories through the CLI (`ladder logits`), which must exit
 *   non-zero without a signal and print exactly one line on stderr.
 * With the shared oracle data present, a damaged copy of the real oracle
 * checkpoint is checked as well. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backends/backend.h"
#include "core/error.h"
#include "io/checkpoint.h"
#include "io/resident.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/model.h"
#include "model/schema.h"
#include "model/synth.h"
#include "testutil.h"

static char root[4096];

static const char *path_in(const char *dir, const char *name) {
    static char buf[4][4400];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(data, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static int make_dir(const char *path) {
    char cmd[4600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", path, path);
    return system(cmd);
}

/* A safetensors file: u64 LE header length (hlen_override when >= 0),
 * the header text, then the data; cut short at `cut` bytes when >= 0. */
static int write_st(const char *path, const char *header, const void *data, size_t dlen, long long hlen_override,
                    long cut) {
    size_t hl = strlen(header), n = 8 + hl + dlen;
    uint8_t *buf = malloc(n ? n : 1);
    uint64_t h = hlen_override >= 0 ? (uint64_t)hlen_override : (uint64_t)hl;
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(h >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (dlen) memcpy(buf + 8 + hl, data, dlen);
    int r = write_bytes(path, buf, cut >= 0 && (size_t)cut < n ? (size_t)cut : n);
    free(buf);
    return r;
}

/* The diagnosis must be one line and contain every needle. */
static void check_message(const char *what, const char *needle1, const char *needle2) {
    const char *msg = ld_last_error();
    CHECK(msg && msg[0], "%s: no error message", what);
    if (!msg) return;
    CHECK(!strchr(msg, '\n'), "%s: message spans several lines: %s", what, msg);
    if (needle1) CHECK(strstr(msg, needle1) != NULL, "%s: message does not mention \"%s\": %s", what, needle1, msg);
    if (needle2) CHECK(strstr(msg, needle2) != NULL, "%s: message does not mention \"%s\": %s", what, needle2, msg);
}

static void expect_st_fail(const char *what, const char *path, const char *needle) {
    ld_st_file f;
    ld_clear_error();
    int r = ld_st_open(path, &f);
    CHECK(r == -1, "%s: ld_st_open accepted a corrupt file", what);
    if (r == 0) { ld_st_close(&f); return; }
    check_message(what, path, needle);
}

/* ---- safetensors files --------------------------------------------------- */

static const char VALID_HDR[] =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
    "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[16,22]}}";
static uint8_t valid_data[22];

static void make_valid_data(void) {
    float a[4] = {1, 2, 3, 4};
    uint16_t b[3] = {0x3fc0, 0xc000, 0x3e80}; /* 1.5, -2, 0.25 */
    memcpy(valid_data, a, 16);
    memcpy(valid_data + 16, b, 6);
}

static void test_st_valid(const char *dir) {
    const char *p = path_in(dir, "valid.safetensors");
    CHECK(write_st(p, VALID_HDR, valid_data, sizeof valid_data, -1, -1) == 0, "write %s", p);
    ld_st_file f;
    int r = ld_st_open(p, &f);
    CHECK(r == 0, "valid file rejected: %s", ld_last_error());
    if (r) return;
    CHECK(f.n_tensors == 2, "__metadata__ is not a tensor: %d tensors", f.n_tensors);
    for (int i = 0; i < f.n_tensors; i++) {
        const ld_tensor *t = &f.tensors[i];
        if (!strcmp(t->name, "a")) {
            CHECK(t->dtype == LD_DT_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 2 && t->numel == 4 &&
                      t->nbytes == 16,
                  "tensor a metadata");
            float v[4];
            memcpy(v, t->data, 16);
            CHECK(v[0] == 1 && v[3] == 4, "tensor a data");
        } else {
            CHECK(!strcmp(t->name, "b") && t->dtype == LD_DT_BF16 && t->ndim == 1 && t->shape[0] == 3 && t->nbytes == 6,
                  "tensor b metadata");
            uint16_t v[3];
            memcpy(v, t->data, 6);
            CHECK(ld_bf16_to_f32(v[0]) == 1.5f && ld_bf16_to_f32(v[2]) == 0.25f, "tensor b data");
        }
    }
    ld_st_close(&f);

    /* zero-size tensors may share an offset; an empty header is a valid empty file */
    const char *pz = path_in(dir, "zero.safetensors");
    write_st(pz, "{\"z\":{\"dtype\":\"I64\",\"shape\":[0,4],\"data_offsets\":[0,0]},"
                 "\"y\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}", "\x07", 1, -1, -1);
    r = ld_st_open(pz, &f);
    CHECK(r == 0 && f.n_tensors == 2, "zero-size and scalar tensors: %s", r ? ld_last_error() : "ok");
    if (!r) ld_st_close(&f);
    const char *pe = path_in(dir, "empty.safetensors");
    write_st(pe, "{}", NULL, 0, -1, -1);
    r = ld_st_open(pe, &f);
    CHECK(r == 0 && f.n_tensors == 0, "empty header: %s", r ? ld_last_error() : "ok");
    if (!r) ld_st_close(&f);
}

static void test_st_corrupt(const char *dir) {
    char what[128];
    const char *p = path_in(dir, "bad.safetensors");
    long full = 8 + (long)strlen(VALID_HDR) + (long)sizeof valid_data, hl = (long)strlen(VALID_HDR);

    long cuts[] = {0, 3, 7, 8, 8 + hl / 2, 8 + hl - 1, 8 + hl, 8 + hl + 10, full - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_st(p, VALID_HDR, valid_data, sizeof valid_data, -1, cuts[i]);
        snprintf(what, sizeof what, "truncated at %ld of %ld bytes", cuts[i], full);
        /* the last cut leaves only tensor b short of data */
        expect_st_fail(what, p, cuts[i] == full - 1 ? "'b'" : NULL);
    }

    long long hls[] = {hl + (long long)sizeof valid_data + 1, 1ll << 40, (long long)INT64_MAX};
    for (size_t i = 0; i < sizeof hls / sizeof hls[0]; i++) {
        write_st(p, VALID_HDR, valid_data, sizeof valid_data, hls[i], -1);
        snprintf(what, sizeof what, "header length %lld past the end", hls[i]);
        expect_st_fail(what, p, "header");
    }
    /* all-ones length: 2^64-1 must not wrap around in the bounds check */
    {
        uint8_t b[16];
        memset(b, 0xff, 8);
        memcpy(b + 8, "{}      ", 8);
        write_bytes(p, b, sizeof b);
        expect_st_fail("header length 2^64-1", p, "header");
    }

    static const char *not_json[] = {"{\"a\": {\"dtype\": \"F32\",", "\x01\x02 garbage", "", "{\"a\":1,}"};
    for (size_t i = 0; i < sizeof not_json / sizeof not_json[0]; i++) {
        write_st(p, not_json[i], valid_data, sizeof valid_data, -1, -1);
        snprintf(what, sizeof what, "header not JSON #%zu", i);
        expect_st_fail(what, p, "JSON");
    }
    static const char *not_obj[] = {"[1,2,3]", "\"str\"", "42", "null", "true"};
    for (size_t i = 0; i < sizeof not_obj / sizeof not_obj[0]; i++) {
        write_st(p, not_obj[i], NULL, 0, -1, -1);
        snprintf(what, sizeof what, "header %s", not_obj[i]);
        expect_st_fail(what, p, "object");
    }

    /* tensor-level problems: the message must name the tensor */
    static const struct { const char *label, *hdr; } bad[] = {
        {"entry not an object", "{\"w\":5}"},
        {"unknown dtype", "{\"w\":{\"dtype\":\"F9\",\"shape\":[2],\"data_offsets\":[0,2]}}"},
        {"unknown dtype Q4_K", "{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,2]}}"},
        {"dtype not a string", "{\"w\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,2]}}"},
        {"missing dtype", "{\"w\":{\"shape\":[2],\"data_offsets\":[0,2]}}"},
        {"missing shape", "{\"w\":{\"dtype\":\"U8\",\"data_offsets\":[0,2]}}"},
        {"missing offsets", "{\"w\":{\"dtype\":\"U8\",\"shape\":[2]}}"},
        {"offsets past the data", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1000],\"data_offsets\":[0,1000]}}"},
        {"offsets reversed", "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[16,8]}}"},
        {"negative offset", "{\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[-1,3]}}"},
        {"fractional offset", "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0.5,2.5]}}"},
        {"huge offset", "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[18446744073709551614,1e20]}}"},
        {"one offset", "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0]}}"},
        {"three offsets", "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2,4]}}"},
        {"offsets not an array", "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":\"0-2\"}}"},
        {"bytes != dtype x shape", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}"},
        {"bytes != dtype x shape (bf16)", "{\"w\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,3]}}"},
        {"negative dim", "{\"w\":{\"dtype\":\"U8\",\"shape\":[-2],\"data_offsets\":[0,2]}}"},
        {"fractional dim", "{\"w\":{\"dtype\":\"U8\",\"shape\":[2.5],\"data_offsets\":[0,2]}}"},
        {"string dim", "{\"w\":{\"dtype\":\"U8\",\"shape\":[\"2\"],\"data_offsets\":[0,2]}}"},
        {"nine dims", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,2]}}"},
        {"element count overflow",
         "{\"w\":{\"dtype\":\"F64\",\"shape\":[1099511627776,1099511627776,1099511627776],\"data_offsets\":[0,8]}}"},
        /* 2^40 x 2^21 F64 elements = 2^64 bytes, which wraps to 0 in 64 bits */
        {"byte count wrapping to zero",
         "{\"w\":{\"dtype\":\"F64\",\"shape\":[1099511627776,2097152],\"data_offsets\":[0,0]}}"},
        /* (2^61 + 2) x 8 bytes wraps to 16: a 16-byte range "holding" 2^61 elements */
        {"byte count wrapping to 16",
         "{\"w\":{\"dtype\":\"F64\",\"shape\":[1099510579201,2097154],\"data_offsets\":[0,16]}}"},
    };
    uint8_t zeros[32] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_st(p, bad[i].hdr, zeros, sizeof zeros, -1, -1);
        expect_st_fail(bad[i].label, p, "'w'");
    }

    write_st(p, "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", zeros, 16, -1, -1);
    expect_st_fail("overlapping tensors", p, "'a'");
    CHECK(strstr(ld_last_error(), "'b'") != NULL, "overlap names both tensors: %s", ld_last_error());
    write_st(p, "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]},"
                "\"b\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}", zeros, 8, -1, -1);
    expect_st_fail("tensor inside another", p, "overlap");
    /* a repeated key is named as such, not as two tensors that overlap */
    write_st(p, "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]},"
                "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}", zeros, 8, -1, -1);
    expect_st_fail("duplicate tensor name", p, "duplicate tensor name 'a' in the header");
    write_st(p, "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", zeros, 8, -1, -1);
    expect_st_fail("duplicate tensor name, disjoint data", p, "duplicate tensor name 'a' in the header");
    write_st(p, "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},,}", zeros, 8, -1, -1);
    expect_st_fail("header JSON error located", p, "near byte");

    expect_st_fail("missing file", path_in(dir, "nope.safetensors"), NULL);
    expect_st_fail("directory instead of a file", dir, NULL);
}

/* ---- sharded checkpoints ------------------------------------------------- */

#define S1 "model-00001-of-00002.safetensors"
#define S2 "model-00002-of-00002.safetensors"
static const char HDR_A[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
static const char HDR_B[] = "{\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}";
static const char HDR_AB[] = "{\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                             "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]}}";

static void make_shards(const char *dir, const char *h1, const char *h2, const char *index) {
    uint8_t z[8] = {0};
    make_dir(dir);
    write_st(path_in(dir, S1), h1, z, 8, -1, -1);
    if (h2) write_st(path_in(dir, S2), h2, z, 8, -1, -1);
    if (index) write_bytes(path_in(dir, "model.safetensors.index.json"), index, strlen(index));
}

static void expect_ckpt_fail(const char *what, const char *dir, const char *n1, const char *n2) {
    ld_checkpoint ck;
    ld_clear_error();
    int r = ld_ckpt_open(dir, &ck);
    CHECK(r == -1, "%s: ld_ckpt_open accepted it", what);
    if (r == 0) { ld_ckpt_close(&ck); return; }
    check_message(what, n1, n2);
}

static void test_checkpoint(const char *base) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/ck", base);
    const char *idx_ok = "{\"metadata\":{\"total_size\":12},\"weight_map\":{\"a\":\"" S1 "\",\"b\":\"" S2 "\"}}";
    make_shards(dir, HDR_A, HDR_B, idx_ok);
    ld_checkpoint ck;
    int r = ld_ckpt_open(dir, &ck);
    CHECK(r == 0, "valid sharded checkpoint rejected: %s", ld_last_error());
    if (r == 0) {
        const ld_tensor *a = ld_ckpt_find(&ck, "a"), *b = ld_ckpt_find(&ck, "b");
        CHECK(a && b && ck.n_tensors == 2 && ck.n_files == 2, "both tensors found");
        if (b) CHECK(strstr(ld_ckpt_file_of(&ck, b), S2) != NULL, "b lives in shard 2");
        CHECK(ld_ckpt_find(&ck, "c") == NULL, "unknown name");
        ld_ckpt_close(&ck);
    }

    make_dir(dir);
    expect_ckpt_fail("empty directory", dir, dir, NULL);

    make_shards(dir, HDR_A, HDR_AB, idx_ok);
    expect_ckpt_fail("tensor in two shards", dir, "'a'", S2);

    make_shards(dir, HDR_A, HDR_B,
                "{\"weight_map\":{\"a\":\"" S1 "\",\"b\":\"model-00003-of-00003.safetensors\"}}");
    expect_ckpt_fail("index names a missing shard", dir, "model-00003-of-00003.safetensors", NULL);

    make_shards(dir, HDR_A, HDR_B, "{\"weight_map\":{\"a\":\"" S2 "\",\"b\":\"" S1 "\"}}");
    expect_ckpt_fail("index puts a tensor in the wrong shard", dir, "'a'", S2);

    make_shards(dir, HDR_A, HDR_B, "{\"weight_map\":{\"a\":\"" S1 "\",\"b\":\"" S2 "\",\"c\":\"" S1 "\"}}");
    expect_ckpt_fail("index lists a tensor no shard has", dir, "'c'", S1);

    make_shards(dir,
                "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                "\"c\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
                HDR_B, idx_ok);
    expect_ckpt_fail("shard holds a tensor the index does not list", dir, "'c'", S1);

    make_shards(dir, HDR_A, HDR_B, "{\"weight_map\":{\"a\":\"" S1 "\",");
    expect_ckpt_fail("index not JSON", dir, "model.safetensors.index.json", "near byte");
    make_shards(dir, HDR_A, HDR_B, "{\"metadata\":{}}");
    expect_ckpt_fail("index without weight_map", dir, "weight_map", NULL);
    make_shards(dir, HDR_A, HDR_B, "{\"weight_map\":{}}");
    expect_ckpt_fail("empty weight_map", dir, "weight_map", NULL);
    make_shards(dir, HDR_A, HDR_B, "{\"weight_map\":{\"a\":\"../" S1 "\"}}");
    expect_ckpt_fail("shard path leaving the directory", dir, "'a'", NULL);
    make_shards(dir, HDR_A, HDR_B, "{\"weight_map\":{\"a\":3}}");
    expect_ckpt_fail("shard name not a string", dir, "'a'", NULL);

    make_shards(dir, HDR_A, "{\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,40]}}", idx_ok);
    expect_ckpt_fail("corrupt shard", dir, S2, "'b'");

    /* a JSON object with a repeated key still yields two tensors of one name */
    make_dir(dir);
    uint8_t z[8] = {0};
    write_st(path_in(dir, "model.safetensors"),
             "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
             "\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", z, 8, -1, -1);
    expect_ckpt_fail("tensor name repeated in one header", dir, "'a'", NULL);
}

/* ---- model directories --------------------------------------------------- */

/* The oracle config's layout with smaller sizes: 2 layers (window-only and
 * CSA with indexer), 2 experts, 1 hash layer, vocab 256. */
static const char CONFIG[] =
    "{\n"
    "  \"architectures\": [\"DeepseekV4ForCausalLM\"],\n"
    "  \"bos_token_id\": 0,\n"
    "  \"eos_token_id\": 1,\n"
    "  \"expert_dtype\": \"fp4\",\n"
    "  \"hc_eps\": 1e-06,\n"
    "  \"hc_mult\": 4,\n"
    "  \"hc_sinkhorn_iters\": 20,\n"
    "  \"head_dim\": 128,\n"
    "  \"hidden_size\": 128,\n"
    "  \"index_head_dim\": 128,\n"
    "  \"index_n_heads\": 2,\n"
    "  \"index_topk\": 4,\n"
    "  \"max_position_embeddings\": 4096,\n"
    "  \"model_type\": \"deepseek_v4\",\n"
    "  \"moe_intermediate_size\": 128,\n"
    "  \"n_routed_experts\": 2,\n"
    "  \"n_shared_experts\": 1,\n"
    "  \"num_attention_heads\": 2,\n"
    "  \"num_experts_per_tok\": 1,\n"
    "  \"num_hidden_layers\": 2,\n"
    "  \"num_hash_layers\": 1,\n"
    "  \"num_nextn_predict_layers\": 0,\n"
    "  \"o_groups\": 2,\n"
    "  \"o_lora_rank\": 128,\n"
    "  \"q_lora_rank\": 128,\n"
    "  \"qk_rope_head_dim\": 64,\n"
    "  \"rms_norm_eps\": 1e-06,\n"
    "  \"rope_scaling\": {\"beta_fast\": 32, \"beta_slow\": 1, \"factor\": 4, "
    "\"original_max_position_embeddings\": 64, \"type\": \"yarn\"},\n"
    "  \"rope_theta\": 10000,\n"
    "  \"routed_scaling_factor\": 1.5,\n"
    "  \"scoring_func\": \"sqrtsoftplus\",\n"
    "  \"sliding_window\": 16,\n"
    "  \"swiglu_limit\": 10.0,\n"
    "  \"vocab_size\": 256,\n"
    "  \"compress_rope_theta\": 160000,\n"
    "  \"compress_ratios\": [0, 4]\n"
    "}\n";

/* CONFIG with one substring replaced. */
static char *config_with(const char *old, const char *repl) {
    const char *at = strstr(CONFIG, old);
    if (!at) return NULL;
    size_t n = strlen(CONFIG) - strlen(old) + strlen(repl) + 1, pre = (size_t)(at - CONFIG);
    char *s = malloc(n);
    memcpy(s, CONFIG, pre);
    strcpy(s + pre, repl);
    strcat(s, at + strlen(old));
    return s;
}

static int copy_file(const char *from, const char *to) {
    size_t n;
    void *d = test_read_file(from, &n);
    if (!d) return -1;
    int r = write_bytes(to, d, n);
    free(d);
    return r;
}

typedef struct {
    const char *target;   /* tensor to change */
    const char *new_name; /* rename to this */
    const char *new_dtype;
    const char *new_shape; /* JSON array text */
    long patch_i64;        /* >= 0: set element 0 of the target (I64) to 99 */
} st_edit;

/* Rewrites src (a valid safetensors file) into dst with one tensor's header
 * entry (or data) changed; everything else byte-identical. */
static int rewrite_st(const char *src, const char *dst, const st_edit *e) {
    ld_st_file f;
    if (ld_st_open(src, &f)) return -1;
    const uint8_t *map = f.map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | map[i];
    const uint8_t *data = map + 8 + hlen;
    size_t dlen = f.map_size - 8 - (size_t)hlen, cap = 1024 + (size_t)f.n_tensors * 256, n = 0;
    char *h = malloc(cap);
    int found = 0;
    n += (size_t)snprintf(h + n, cap - n, "{");
    for (int i = 0; i < f.n_tensors; i++) {
        const ld_tensor *t = &f.tensors[i];
        int hit = !strcmp(t->name, e->target);
        found |= hit;
        char shape[256] = "[";
        for (int d = 0; d < t->ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? "," : "", (long long)t->shape[d]);
        strcat(shape, "]");
        uint64_t b = (uint64_t)((const uint8_t *)t->data - data);
        n += (size_t)snprintf(h + n, cap - n, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%llu,%llu]}",
                              i ? "," : "", hit && e->new_name ? e->new_name : t->name,
                              hit && e->new_dtype ? e->new_dtype : ld_dtype_name(t->dtype),
                              hit && e->new_shape ? e->new_shape : shape, (unsigned long long)b,
                              (unsigned long long)(b + t->nbytes));
    }
    snprintf(h + n, cap - n, "}");
    uint8_t *dcopy = malloc(dlen ? dlen : 1);
    memcpy(dcopy, data, dlen);
    if (e->patch_i64 >= 0)
        for (int i = 0; i < f.n_tensors; i++)
            if (!strcmp(f.tensors[i].name, e->target)) {
                int64_t v = 99;
                memcpy(dcopy + ((const uint8_t *)f.tensors[i].data - data), &v, 8);
            }
    int r = found ? write_st(dst, h, dcopy, dlen, -1, -1) : -1;
    free(h);
    free(dcopy);
    ld_st_close(&f);
    return r;
}

static const char *ladder_bin(void) {
    const char *b = getenv("LADDER_BIN");
    struct stat st;
    return b && !stat(b, &st) && S_ISREG(st.st_mode) ? b : NULL;
}

/* Runs `ladder logits` on dir: returns its exit status; *err_lines gets the
 * number of stderr lines and *err the text (caller frees). */
static int run_cli(const char *dir, int *err_lines, char **err) {
    char cmd[16384], errp[4400], outp[4400];
    snprintf(errp, sizeof errp, "%s/cli.err", root);
    snprintf(outp, sizeof outp, "%s/cli.out", root);
    remove(outp);
    snprintf(cmd, sizeof cmd, "'%s' logits -m '%s' --prompt-ids '%s/prompt.i32' -o '%s' >/dev/null 2>'%s'", ladder_bin(),
             dir, root, outp, errp);
    int rc = test_run(cmd, NULL);
    size_t n = 0;
    char *e = test_read_file(errp, &n);
    int lines = 0;
    for (size_t i = 0; e && i < n; i++) lines += e[i] == '\n';
    if (e && n && e[n - 1] != '\n') lines++;
    *err_lines = lines;
    *err = e;
    return rc;
}

/* A broken model directory: the library and the CLI must both reject it
 * with one line naming n1 (and n2). */
static void expect_model_fail(const char *what, const char *dir, const char *n1, const char *n2) {
    ld_model m;
    ld_clear_error();
    int r = ld_model_load(dir, &ld_backend_ref_ops, &m);
    CHECK(r == -1, "%s: ld_model_load accepted it", what);
    if (r == 0) ld_model_free(&m);
    else check_message(what, n1, n2);
    if (!ladder_bin()) return;
    int lines;
    char *err;
    int rc = run_cli(dir, &lines, &err);
    /* 126/127: the shell could not run the binary; >= 128: killed by a signal */
    CHECK(rc > 0 && rc < 126, "%s: ladder logits exited with %d", what, rc);
    CHECK(lines == 1, "%s: ladder logits printed %d stderr lines:\n%s", what, lines, err ? err : "");
    if (err && n1) CHECK(strstr(err, n1) != NULL, "%s: CLI message lacks \"%s\": %s", what, n1, err);
    free(err);
}

static void variant(const char *base, const char *name, const st_edit *e, char *dir, size_t dsz) {
    snprintf(dir, dsz, "%s/%s", root, name);
    make_dir(dir);
    copy_file(path_in(base, "config.json"), path_in(dir, "config.json"));
    CHECK(rewrite_st(path_in(base, "model.safetensors"), path_in(dir, "model.safetensors"), e) == 0,
          "%s: could not build the variant (is '%s' in the checkpoint?)", name, e->target);
}

static void test_model(void) {
    char base[4400], dir[4400];
    snprintf(base, sizeof base, "%s/model-ok", root);
    make_dir(base);
    ld_config c;
    int r = ld_config_parse(CONFIG, "test config", &c);
    CHECK(r == 0, "the test's config is valid: %s", ld_last_error());
    if (r) return;
    ld_synth_opts so = {.seed = 7};
    r = ld_synth_write(&c, base, &so);
    CHECK(r == 0, "synthesize the base checkpoint: %s", ld_last_error());
    if (r) return;
    /* one model.safetensors without an index keeps the variants simple */
    remove(path_in(base, "model.safetensors.index.json"));
    write_bytes(path_in(base, "config.json"), CONFIG, strlen(CONFIG));
    int32_t prompt[3] = {0, 5, 7};
    write_bytes(path_in(root, "prompt.i32"), prompt, sizeof prompt);

    ld_model m;
    r = ld_model_load(base, &ld_backend_ref_ops, &m);
    CHECK(r == 0, "the intact checkpoint loads: %s", ld_last_error());
    if (r) return;
    ld_model_free(&m);
    if (ladder_bin()) {
        int lines;
        char *err;
        int rc = run_cli(base, &lines, &err);
        CHECK(rc == 0, "ladder logits on the intact checkpoint: exit %d: %s", rc, err ? err : "");
        free(err);
        size_t n = 0;
        void *out = test_read_file(path_in(root, "cli.out"), &n);
        CHECK(out && n == 256 * sizeof(float), "logits file: %zu bytes, want one row of 256 floats", n);
        free(out);
    } else {
        printf("note: LADDER_BIN not set; CLI cases skipped\n");
    }

    static const struct { const char *label; st_edit e; const char *n1, *n2; } edits[] = {
        {"missing-tensor", {"layers.1.attn.indexer.weights_proj.weight", "layers.1.attn.indexer.weights_proj.weightX", 0, 0, -1},
         "'layers.1.attn.indexer.weights_proj.weight'", "missing"},
        {"missing-scale", {"layers.0.ffn.experts.1.w2.scale", "unrelated.scale", 0, 0, -1},
         "'layers.0.ffn.experts.1.w2.scale'", "missing"},
        {"wrong-dtype", {"norm.weight", 0, "F16", 0, -1}, "'norm.weight'", "F16"},
        {"wrong-dtype-fp8", {"layers.0.attn.wkv.weight", 0, "I8", 0, -1}, "'layers.0.attn.wkv.weight'", "I8"},
        {"fp8-experts-as-fp4", {"layers.1.ffn.experts.0.w1.weight", 0, "F8_E4M3", 0, -1},
         "'layers.1.ffn.experts.0.w1.weight'", "F8_E4M3"},
        {"shape-transposed", {"embed.weight", 0, 0, "[128,256]", -1}, "'embed.weight'", "shape"},
        {"shape-rank", {"layers.1.attn.attn_sink", 0, 0, "[1,2]", -1}, "'layers.1.attn.attn_sink'", "shape"},
        {"tid2eid-out-of-range", {"layers.0.ffn.gate.tid2eid", 0, 0, 0, 0}, "layers.0.ffn.gate.tid2eid", NULL},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        variant(base, edits[i].label, &edits[i].e, dir, sizeof dir);
        expect_model_fail(edits[i].label, dir, edits[i].n1, edits[i].n2);
    }

    /* io-level damage inside a model directory */
    snprintf(dir, sizeof dir, "%s/truncated-weights", root);
    make_dir(dir);
    write_bytes(path_in(dir, "config.json"), CONFIG, strlen(CONFIG));
    {
        size_t n;
        uint8_t *d = test_read_file(path_in(base, "model.safetensors"), &n);
        if (d) write_bytes(path_in(dir, "model.safetensors"), d, n / 2);
        free(d);
    }
    expect_model_fail("truncated model.safetensors", dir, "model.safetensors", NULL);
    snprintf(dir, sizeof dir, "%s/no-weights", root);
    make_dir(dir);
    write_bytes(path_in(dir, "config.json"), CONFIG, strlen(CONFIG));
    expect_model_fail("no weights", dir, dir, NULL);

    /* config.json problems: named by file and key */
    static const struct { const char *label, *old, *repl, *n2; } cfgs[] = {
        {"cfg-not-json", "\"vocab_size\": 256,", "\"vocab_size\": 256,,", NULL},
        {"cfg-missing-key", "  \"hidden_size\": 128,\n", "", "hidden_size"},
        {"cfg-layers-zero", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 0", "num_hidden_layers"},
        {"cfg-layers-huge", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 100000", "num_hidden_layers"},
        {"cfg-not-integer", "\"num_attention_heads\": 2", "\"num_attention_heads\": 2.5", "num_attention_heads"},
        {"cfg-string-number", "\"hidden_size\": 128", "\"hidden_size\": \"128\"", "hidden_size"},
        {"cfg-ratios-short", "\"compress_ratios\": [0, 4]", "\"compress_ratios\": [0]", "compress_ratios"},
        {"cfg-ratios-missing", ",\n  \"compress_ratios\": [0, 4]", "", "compress_ratios"},
        {"cfg-ratio-negative", "\"compress_ratios\": [0, 4]", "\"compress_ratios\": [0, -4]", "compress_ratios"},
        {"cfg-dim-not-128", "\"hidden_size\": 128", "\"hidden_size\": 200", "hidden_size"},
        {"cfg-topk-over-experts", "\"num_experts_per_tok\": 1", "\"num_experts_per_tok\": 3", "num_experts_per_tok"},
        {"cfg-expert-dtype", "\"expert_dtype\": \"fp4\"", "\"expert_dtype\": \"int4\"", "expert_dtype"},
        /* values the YaRN ramp, the norms or the router divide by or take the log of */
        {"cfg-beta-fast-zero", "\"beta_fast\": 32", "\"beta_fast\": 0", "beta_fast"},
        {"cfg-beta-slow-zero", "\"beta_slow\": 1", "\"beta_slow\": 0", "beta_slow"},
        {"cfg-beta-order", "\"beta_fast\": 32, \"beta_slow\": 1", "\"beta_fast\": 1, \"beta_slow\": 32", "beta_fast"},
        {"cfg-beta-equal", "\"beta_fast\": 32, \"beta_slow\": 1", "\"beta_fast\": 2, \"beta_slow\": 2", "beta_slow"},
        {"cfg-factor-below-one", "\"factor\": 4", "\"factor\": 0.5", "factor"},
        {"cfg-orig-max-pos-fraction", "\"original_max_position_embeddings\": 64",
         "\"original_max_position_embeddings\": 64.5", "original_max_position_embeddings"},
        {"cfg-max-pos-fraction", "\"max_position_embeddings\": 4096", "\"max_position_embeddings\": 4096.5",
         "max_position_embeddings"},
        {"cfg-norm-eps-zero", "\"rms_norm_eps\": 1e-06", "\"rms_norm_eps\": 0", "rms_norm_eps"},
        {"cfg-norm-eps-underflow", "\"rms_norm_eps\": 1e-06", "\"rms_norm_eps\": 1e-60", "rms_norm_eps"},
        {"cfg-hc-eps-zero", "\"hc_eps\": 1e-06", "\"hc_eps\": 0", "hc_eps"},
        {"cfg-rope-theta-one", "\"rope_theta\": 10000", "\"rope_theta\": 1", "rope_theta"},
        {"cfg-compress-theta-one", "\"compress_rope_theta\": 160000", "\"compress_rope_theta\": 1",
         "compress_rope_theta"},
        {"cfg-route-scale-zero", "\"routed_scaling_factor\": 1.5", "\"routed_scaling_factor\": 0",
         "routed_scaling_factor"},
        {"cfg-swiglu-limit-negative", "\"swiglu_limit\": 10.0", "\"swiglu_limit\": -1", "swiglu_limit"},
        /* values the engine has no code for */
        {"cfg-hidden-act", "\"hc_eps\"", "\"hidden_act\": \"gelu\", \"hc_eps\"", "'hidden_act' = 'gelu'"},
        {"cfg-hidden-act-number", "\"hc_eps\"", "\"hidden_act\": 1, \"hc_eps\"", "hidden_act"},
        {"cfg-rope-type", "\"type\": \"yarn\"", "\"type\": \"linear\"", "'rope_scaling.type' = 'linear'"},
        {"cfg-rope-type-new-key", "\"type\": \"yarn\"", "\"rope_type\": \"dynamic\"", "rope_scaling.rope_type"},
        {"cfg-block-size", "\"hc_eps\"",
         "\"quantization_config\": {\"quant_method\": \"fp8\", \"weight_block_size\": [64, 64]}, \"hc_eps\"",
         "weight_block_size"},
        {"cfg-block-size-rank", "\"hc_eps\"", "\"quantization_config\": {\"weight_block_size\": [128]}, \"hc_eps\"",
         "weight_block_size"},
        {"cfg-quant-not-object", "\"hc_eps\"", "\"quantization_config\": [], \"hc_eps\"", "quantization_config"},
        {"cfg-tied-embeddings", "\"hc_eps\"", "\"tie_word_embeddings\": true, \"hc_eps\"", "tie_word_embeddings"},
        {"cfg-expert-dtype-number", "\"expert_dtype\": \"fp4\"", "\"expert_dtype\": 4", "expert_dtype"},
        /* token ids must index the embedding */
        {"cfg-bos-past-vocab", "\"bos_token_id\": 0", "\"bos_token_id\": 256", "'bos_token_id' = 256"},
        {"cfg-eos-past-vocab", "\"eos_token_id\": 1", "\"eos_token_id\": 4000", "vocab_size 256"},
        {"cfg-pad-past-vocab", "\"eos_token_id\": 1", "\"eos_token_id\": 1, \"pad_token_id\": 256", "pad_token_id"},
        {"cfg-rope-scaling-not-object", "\"rope_scaling\": {", "\"rope_scaling\": 4, \"x\": {", "rope_scaling"},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        char *text = config_with(cfgs[i].old, cfgs[i].repl);
        CHECK(text != NULL, "%s: pattern not in the config", cfgs[i].label);
        if (!text) continue;
        snprintf(dir, sizeof dir, "%s/%s", root, cfgs[i].label);
        make_dir(dir);
        write_bytes(path_in(dir, "config.json"), text, strlen(text));
        copy_file(path_in(base, "model.safetensors"), path_in(dir, "model.safetensors"));
        free(text);
        expect_model_fail(cfgs[i].label, dir, "config.json", cfgs[i].n2);
    }
    /* the one supported value of each such key is accepted */
    {
        char *text = config_with("\"hc_eps\"", "\"hidden_act\": \"silu\", \"tie_word_embeddings\": false, "
                                                 "\"quantization_config\": {\"weight_block_size\": [128, 128]}, "
                                                 "\"hc_eps\"");
        char *t2 = config_with("\"type\": \"yarn\"", "\"rope_type\": \"yarn\"");
        ld_config cc;
        CHECK(text && ld_config_parse(text, "cfg.json", &cc) == 0, "supported values rejected: %s", ld_last_error());
        CHECK(t2 && ld_config_parse(t2, "cfg.json", &cc) == 0, "rope_type yarn rejected: %s", ld_last_error());
        free(text);
        free(t2);
    }
    snprintf(dir, sizeof dir, "%s/no-config", root);
    make_dir(dir);
    copy_file(path_in(base, "model.safetensors"), path_in(dir, "model.safetensors"));
    expect_model_fail("missing config.json", dir, "config.json", NULL);

    /* ld_config_parse on its own: invalid JSON is located, valid non-objects are named as such */
    static const struct { const char *text, *n2; } texts[] = {
        {"", "error near byte 0"},       {"{", "error near byte 1"},        {"{\"vocab_size\": 256,,}", "error near byte 20"},
        {"{} trailing", "error near byte 3"}, {"[]", "not a JSON object"}, {"null", "not a JSON object"},
        {"\"x\"", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        ld_config cc;
        CHECK(ld_config_parse(texts[i].text, "cfg.json", &cc) == -1, "config text '%s' accepted", texts[i].text);
        check_message("bad config text", "cfg.json", texts[i].n2);
    }
    {
        char *text = config_with("\"vocab_size\": 256,", "\"vocab_size\": 256,,");
        ld_config cc;
        CHECK(text && ld_config_parse(text, "cfg.json", &cc) == -1, "config with ',,' accepted");
        check_message("config with ',,'", "not valid JSON", "near byte");
        CHECK(!strstr(ld_last_error(), "not a JSON object"), "invalid JSON called a non-object: %s", ld_last_error());
        free(text);
    }

    /* generation_config.json: bad JSON is located, bad values are named */
    snprintf(dir, sizeof dir, "%s/gen", root);
    make_dir(dir);
    const char *gp = path_in(dir, "generation_config.json");
    static const struct { const char *text, *n2; } gens[] = {
        {"{\"temperature\": }", "error near byte 16"},
        {"[1]", "not a JSON object"},
        {"{\"temperature\": -1}", "temperature"},
        {"{\"temperature\": 1e999}", "temperature"},
        {"{\"temperature\": \"hot\"}", "temperature"},
        {"{\"top_p\": 0}", "top_p"},
        {"{\"top_p\": 1.5}", "top_p"},
        {"{\"top_p\": 1e-80}", "top_p"},
        {"{\"top_k\": -1}", "top_k"},
        {"{\"top_k\": 2.5}", "top_k"},
        {"{\"min_p\": 2}", "min_p"},
        {"{\"do_sample\": \"yes\"}", "do_sample"},
    };
    for (size_t i = 0; i < sizeof gens / sizeof gens[0]; i++) {
        write_bytes(gp, gens[i].text, strlen(gens[i].text));
        ld_gen_defaults g = {.temperature = 1, .top_p = 1, .do_sample = 1};
        ld_clear_error();
        CHECK(ld_gen_config_load(gp, &g) == -1, "generation config '%s' accepted", gens[i].text);
        check_message(gens[i].text, "generation_config.json", gens[i].n2);
    }
    {
        const char *ok = "{\"bos_token_id\": 0, \"temperature\": 0.6, \"top_p\": 0.95, \"top_k\": 20, \"do_sample\": false}";
        write_bytes(gp, ok, strlen(ok));
        ld_gen_defaults g = {.temperature = 1, .top_p = 1, .min_p = 0.1f, .do_sample = 1};
        CHECK(ld_gen_config_load(gp, &g) == 0, "valid generation config rejected: %s", ld_last_error());
        CHECK(g.temperature == 0.6f && g.top_p == 0.95f && g.top_k == 20 && g.min_p == 0.1f && !g.do_sample,
              "generation config values: %g %g %d %g %d", g.temperature, g.top_p, g.top_k, g.min_p, g.do_sample);
    }
    snprintf(dir, sizeof dir, "%s/gen-top-p-zero", root);
    make_dir(dir);
    write_bytes(path_in(dir, "config.json"), CONFIG, strlen(CONFIG));
    write_bytes(path_in(dir, "generation_config.json"), "{\"top_p\": 0}", 12);
    copy_file(path_in(base, "model.safetensors"), path_in(dir, "model.safetensors"));
    expect_model_fail("generation_config.json top_p 0", dir, "generation_config.json", "top_p");
}

/* The real oracle checkpoint: intact it loads; with one tensor renamed the
 * loader names it. */
static void test_oracle(void) {
    const char *sh = test_shared_dir();
    if (!sh) return;
    char odir[4400], dir[4400];
    snprintf(odir, sizeof odir, "%s/oracle/v4-tiny-a", sh);
    ld_model m;
    int r = ld_model_load(odir, &ld_backend_ref_ops, &m);
    CHECK(r == 0, "oracle checkpoint loads: %s", ld_last_error());
    if (r == 0) ld_model_free(&m);
    st_edit e = {"layers.3.ffn.experts.7.w2.scale", "layers.3.ffn.experts.7.w2.scal", 0, 0, -1};
    variant(odir, "oracle-renamed", &e, dir, sizeof dir);
    expect_model_fail("oracle with a renamed tensor", dir, "'layers.3.ffn.experts.7.w2.scale'", "missing");
    st_edit e2 = {"hc_head_fn", 0, 0, "[2,2048]", -1};
    variant(odir, "oracle-reshaped", &e2, dir, sizeof dir);
    expect_model_fail("oracle with a reshaped tensor", dir, "'hc_head_fn'", "shape");
    /* the real index still lists the original name: the checkpoint layer catches it first */
    variant(odir, "oracle-renamed-indexed", &e, dir, sizeof dir);
    copy_file(path_in(odir, "model.safetensors.index.json"), path_in(dir, "model.safetensors.index.json"));
    expect_model_fail("oracle renamed, stale index", dir, "'layers.3.ffn.experts.7.w2.scale'", NULL);
}

/* The schema against what synth writes and what the loader finds: the same
 * tensor count and bytes as the files and the index's total_size; a device
 * backend's placement visits every weight of the main blocks once and
 * releases each. */
typedef struct {
    int weights, tensors;
} schema_count;

static int count_main(void *ctx, const ld_schema_item *it) {
    schema_count *k = ctx;
    if (!it->mtp) {
        if (it->e->weight) k->weights++;
        else k->tensors++;
    }
    return 0;
}

static int n_prepared, n_released;
static int count_prepare(ld_backend *be, ld_weight *w) { (void)be, (void)w; return n_prepared++, 0; }
static void count_release(ld_backend *be, ld_weight *w) { (void)be, (void)w; n_released++; }

static void test_schema(void) {
    char dir[4400];
    snprintf(dir, sizeof dir, "%s/schema-tiny", root);
    ld_config c;
    CHECK(ld_synth_preset("tiny", &c) == 0, "tiny preset");
    ld_synth_opts so = {.seed = 11};
    int r = ld_synth_write(&c, dir, &so);
    CHECK(r == 0, "synthesize tiny: %s", ld_last_error());
    if (r) return;
    int n;
    uint64_t bytes;
    ld_schema_totals(&c, &n, &bytes);
    ld_checkpoint ck;
    r = ld_ckpt_open(dir, &ck);
    CHECK(r == 0, "open tiny: %s", ld_last_error());
    if (r) return;
    CHECK(ck.n_tensors == n, "schema implies %d tensors, the checkpoint has %d", n, ck.n_tensors);
    CHECK(ld_ckpt_data_bytes(&ck) == bytes, "schema implies %llu bytes, the checkpoint holds %zu",
          (unsigned long long)bytes, ld_ckpt_data_bytes(&ck));
    ld_ckpt_close(&ck);
    size_t len = 0;
    char *idx = test_read_file(path_in(dir, "model.safetensors.index.json"), &len);
    const char *ts = idx ? strstr(idx, "\"total_size\":") : NULL;
    CHECK(ts && strtoull(ts + 13, NULL, 10) == bytes, "index total_size differs from the schema's %llu bytes",
          (unsigned long long)bytes);
    free(idx);

    schema_count k = {0};
    ld_schema_each(&c, count_main, &k);
    ld_backend_ops dev = ld_backend_ref_ops;
    dev.mem = LD_MEM_DEVICE;
    dev.prepare_weight = count_prepare;
    dev.release_weight = count_release;
    ld_model m;
    n_prepared = n_released = 0;
    r = ld_model_load(dir, &dev, &m);
    CHECK(r == 0, "tiny on a device twin of ref: %s", ld_last_error());
    if (r) return;
    CHECK(n_prepared == k.weights, "placement prepared %d weights, the main blocks have %d", n_prepared, k.weights);
    CHECK(m.n_dev_owned == k.tensors, "placement uploaded %d tensors, the main blocks have %d", m.n_dev_owned, k.tensors);
    ld_model_free(&m);
    CHECK(n_released == k.weights, "unplacement released %d weights of %d", n_released, k.weights);
}

int main(void) {
    const char *t = test_tmp_dir();
    if (!t) { printf("SKIP: no scratch directory\n"); return 77; }
    snprintf(root, sizeof root, "%s/test_loader", t);
    make_dir(root);
    make_valid_data();
    char io[4400];
    snprintf(io, sizeof io, "%s/io", root);
    make_dir(io);
    test_st_valid(io);
    test_st_corrupt(io);
    test_checkpoint(root);
    test_model();
    test_schema();
    test_oracle();
    return test_summary("test_loader");
}
