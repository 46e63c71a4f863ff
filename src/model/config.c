/* config.json <-> ld_config. Only keys the architecture depends on are
 * required; each is range-checked so that a bad config fails here with a
 * message naming the key, not later as an out-of-bounds access. */
#include "model/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/json.h"

/* lo_open: the lower bound itself is excluded, for values the forward pass
 * divides by or takes the logarithm of. */
static int get_num_in(const cJSON *o, const char *origin, const char *key, double lo, int lo_open, double hi,
                      int required, double dflt, double *out) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!n || cJSON_IsNull(n)) {
        if (required) return ld_set_error("%s: missing key '%s'", origin, key);
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsNumber(n)) return ld_set_error("%s: key '%s' is not a number", origin, key);
    double v = n->valuedouble;
    if (!((lo_open ? v > lo : v >= lo) && v <= hi))
        return ld_set_error("%s: key '%s' = %g is out of range %c%g, %g]", origin, key, v, lo_open ? '(' : '[', lo, hi);
    *out = v;
    return 0;
}

static int get_num(const cJSON *o, const char *origin, const char *key, double lo, double hi, int required,
                   double dflt, double *out) {
    return get_num_in(o, origin, key, lo, 0, hi, required, dflt, out);
}

static int get_int(const cJSON *o, const char *origin, const char *key, long lo, long hi, int required, long dflt,
                   int *out) {
    double d = 0;
    if (get_num(o, origin, key, (double)lo, (double)hi, required, (double)dflt, &d)) return -1;
    if (floor(d) != d) return ld_set_error("%s: key '%s' = %g is not an integer", origin, key, d);
    *out = (int)d;
    return 0;
}

/* A key whose other values the engine has no code for: absent is the
 * default, anything but `supported` is an error rather than being ignored. */
static int only_string(const cJSON *o, const char *origin, const char *label, const char *key, const char *supported) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!n || cJSON_IsNull(n)) return 0;
    if (!cJSON_IsString(n))
        return ld_set_error("%s: key '%s' is not a string (supported: %s)", origin, label, supported);
    if (strcmp(n->valuestring, supported))
        return ld_set_error("%s: key '%s' = '%s' is not supported (supported: %s)", origin, label, n->valuestring,
                            supported);
    return 0;
}

static int unsupported_values(const cJSON *root, const char *origin) {
    if (only_string(root, origin, "hidden_act", "hidden_act", "silu") ||
        only_string(root, origin, "scoring_func", "scoring_func", "sqrtsoftplus"))
        return -1;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
    if (t && !cJSON_IsNull(t)) {
        if (!cJSON_IsBool(t))
            return ld_set_error("%s: key 'tie_word_embeddings' is not a boolean (supported: false)", origin);
        if (cJSON_IsTrue(t))
            return ld_set_error("%s: key 'tie_word_embeddings' = true is not supported (supported: false)", origin);
    }
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    if (q && !cJSON_IsNull(q)) {
        if (!cJSON_IsObject(q)) return ld_set_error("%s: key 'quantization_config' is not an object", origin);
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(q, "weight_block_size");
        if (b && !cJSON_IsNull(b)) {
            const cJSON *b0 = cJSON_GetArrayItem(b, 0), *b1 = cJSON_GetArrayItem(b, 1);
            if (!cJSON_IsArray(b) || cJSON_GetArraySize(b) != 2 || !cJSON_IsNumber(b0) || !cJSON_IsNumber(b1) ||
                b0->valuedouble != 128 || b1->valuedouble != 128)
                return ld_set_error("%s: key 'quantization_config.weight_block_size' is not supported "
                                    "(supported: [128, 128])", origin);
        }
    }
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (cJSON_IsObject(rs) && (only_string(rs, origin, "rope_scaling.type", "type", "yarn") ||
                               only_string(rs, origin, "rope_scaling.rope_type", "rope_type", "yarn")))
        return -1;
    return 0;
}

#define INT(key, field, lo, hi) \
    if (get_int(root, origin, key, lo, hi, 1, 0, &c->field)) goto out
#define INT_OPT(key, field, lo, hi, d) \
    if (get_int(root, origin, key, lo, hi, 0, d, &c->field)) goto out
#define NUM(key, field, lo, hi) \
    if (get_num(root, origin, key, lo, hi, 1, 0, &c->field)) goto out
#define NUM_OPT(key, field, lo, hi, d) \
    if (get_num(root, origin, key, lo, hi, 0, d, &c->field)) goto out
#define NUM_OPT_GT(key, field, lo, hi, d) \
    if (get_num_in(root, origin, key, lo, 1, hi, 0, d, &c->field)) goto out

int ld_config_parse(const char *text, const char *origin, ld_config *c) {
    memset(c, 0, sizeof *c);
    cJSON *root = ld_json_parse_object(text, origin);
    int rc = -1;
    if (!root) goto out;
    INT("vocab_size", vocab_size, 1, 1 << 24);
    INT("hidden_size", dim, 128, 1 << 16);
    INT("num_hidden_layers", n_layers, 1, LD_MAX_LAYERS);
    INT_OPT("num_nextn_predict_layers", n_mtp_layers, 0, 8, 0);
    INT("num_attention_heads", n_heads, 1, 1024);
    INT("head_dim", head_dim, 2, 4096);
    INT("qk_rope_head_dim", rope_dim, 2, 4096);
    INT("q_lora_rank", q_lora_rank, 1, 1 << 16);
    INT("o_groups", o_groups, 1, 1024);
    INT("o_lora_rank", o_lora_rank, 1, 1 << 16);
    INT("sliding_window", window, 1, 1 << 20);
    /* the YaRN ramp divides by log(theta) */
    NUM_OPT_GT("rope_theta", rope_theta, 1, 1e12, 10000);
    NUM_OPT_GT("compress_rope_theta", compress_rope_theta, 1, 1e12, 160000);
    INT("index_n_heads", index_n_heads, 1, 1024);
    INT("index_head_dim", index_head_dim, 2, 4096);
    INT("index_topk", index_topk, 1, 1 << 20);
    INT_OPT("hc_mult", hc_mult, 1, 16, 4);
    INT_OPT("hc_sinkhorn_iters", hc_sinkhorn_iters, 1, 1000, 20);
    /* the kernels take eps as a float: below 1e-30 it may flush to zero,
     * and a zero row would then normalize to NaN */
    NUM_OPT("hc_eps", hc_eps, 1e-30, 1, 1e-6);
    NUM_OPT("rms_norm_eps", norm_eps, 1e-30, 1, 1e-6);
    INT("n_routed_experts", n_routed_experts, 1, 1 << 16);
    INT("num_experts_per_tok", n_activated_experts, 1, 1 << 16);
    INT_OPT("n_shared_experts", n_shared_experts, 0, 1, 1);
    INT("moe_intermediate_size", moe_inter_dim, 1, 1 << 20);
    INT_OPT("num_hash_layers", n_hash_layers, 0, LD_MAX_LAYERS, 0);
    NUM_OPT_GT("routed_scaling_factor", route_scale, 0, 1e6, 1);
    NUM_OPT("swiglu_limit", swiglu_limit, 0, 1e9, 0);
    INT_OPT("bos_token_id", bos_id, 0, 1 << 24, 0);
    INT_OPT("eos_token_id", eos_id, 0, 1 << 24, 1);
    {
        /* pad_token_id is not used, but a bad one marks a config of another vocabulary */
        int pad = 0;
        if (get_int(root, origin, "pad_token_id", 0, 1 << 24, 0, 0, &pad)) goto out;
        static const char *const ids[] = {"bos_token_id", "eos_token_id", "pad_token_id"};
        int vals[] = {c->bos_id, c->eos_id, pad};
        for (int i = 0; i < 3; i++)
            if (vals[i] >= c->vocab_size) {
                ld_set_error("%s: key '%s' = %d is not below vocab_size %d", origin, ids[i], vals[i], c->vocab_size);
                goto out;
            }
    }
    {
        double mp = 0;
        if (get_num(root, origin, "max_position_embeddings", 1, 1e12, 0, 1048576, &mp)) goto out;
        if (floor(mp) != mp) { ld_set_error("%s: key 'max_position_embeddings' = %g is not an integer", origin, mp); goto out; }
        c->max_position_embeddings = (long)mp;
    }
    if (unsupported_values(root, origin)) goto out;
    const cJSON *ed = cJSON_GetObjectItemCaseSensitive(root, "expert_dtype");
    c->expert_fp4 = 0;
    if (ed && !cJSON_IsNull(ed)) {
        if (!cJSON_IsString(ed) || (strcmp(ed->valuestring, "fp4") && strcmp(ed->valuestring, "fp8"))) {
            if (cJSON_IsString(ed))
                ld_set_error("%s: key 'expert_dtype' = '%s' is not supported (supported: fp4, fp8)", origin,
                             ed->valuestring);
            else
                ld_set_error("%s: key 'expert_dtype' is not a string (supported: fp4, fp8)", origin);
            goto out;
        }
        c->expert_dtype_given = 1;
        c->expert_fp4 = !strcmp(ed->valuestring, "fp4");
    }
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    c->rope_factor = 1;
    c->beta_fast = 32;
    c->beta_slow = 1;
    if (rs && !cJSON_IsNull(rs) && !cJSON_IsObject(rs)) {
        ld_set_error("%s: key 'rope_scaling' is not an object", origin);
        goto out;
    }
    if (rs && cJSON_IsObject(rs)) {
        int osl = 0;
        /* YaRN takes log(original_max_position_embeddings / (2 pi beta)) */
        if (get_num(rs, origin, "factor", 1, 1e6, 0, 1, &c->rope_factor) ||
            get_int(rs, origin, "original_max_position_embeddings", 0, 1 << 30, 0, 0, &osl) ||
            get_num_in(rs, origin, "beta_fast", 0, 1, 1e6, 0, 32, &c->beta_fast) ||
            get_num_in(rs, origin, "beta_slow", 0, 1, 1e6, 0, 1, &c->beta_slow))
            goto out;
        /* the ramp runs from the beta_fast dimension up to the beta_slow one */
        if (!(c->beta_fast > c->beta_slow)) {
            ld_set_error("%s: rope_scaling.beta_fast = %g must be above rope_scaling.beta_slow = %g", origin,
                         c->beta_fast, c->beta_slow);
            goto out;
        }
        c->original_seq_len = osl;
    }
    const cJSON *cr = cJSON_GetObjectItemCaseSensitive(root, "compress_ratios");
    int want = c->n_layers + c->n_mtp_layers;
    if (!cJSON_IsArray(cr)) { ld_set_error("%s: missing array 'compress_ratios'", origin); goto out; }
    if (cJSON_GetArraySize(cr) < want) {
        ld_set_error("%s: compress_ratios has %d entries, need num_hidden_layers + num_nextn_predict_layers = %d", origin,
                     cJSON_GetArraySize(cr), want);
        goto out;
    }
    for (int i = 0; i < want; i++) {
        const cJSON *v = cJSON_GetArrayItem(cr, i);
        if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > (1 << 20) || floor(v->valuedouble) != v->valuedouble) {
            ld_set_error("%s: compress_ratios[%d] is not a non-negative integer", origin, i);
            goto out;
        }
        c->compress_ratios[i] = (int)v->valuedouble;
    }
    /* Structural constraints of the kernels: FP8 activation blocks are 128
     * wide, the KV nope part is FP8-simulated in blocks of 64, RoPE works on
     * pairs, the indexer Hadamard needs a power of two. */
    const char *why = NULL;
    if (c->dim % 128) why = "hidden_size must be a multiple of 128";
    else if (c->q_lora_rank % 128) why = "q_lora_rank must be a multiple of 128";
    else if (c->moe_inter_dim % 128) why = "moe_intermediate_size must be a multiple of 128";
    else if (c->rope_dim % 2 || c->rope_dim >= c->head_dim) why = "qk_rope_head_dim must be even and below head_dim";
    else if ((c->head_dim - c->rope_dim) % 64) why = "head_dim - qk_rope_head_dim must be a multiple of 64";
    else if ((c->n_heads * c->head_dim) % c->o_groups || ((c->n_heads * c->head_dim / c->o_groups) % 128))
        why = "num_attention_heads*head_dim/o_groups must be a multiple of 128";
    else if (c->o_lora_rank % 128) why = "o_lora_rank must be a multiple of 128";
    else if (c->index_head_dim & (c->index_head_dim - 1) || c->index_head_dim % 32 || c->index_head_dim <= c->rope_dim)
        why = "index_head_dim must be a power of two, at least 32 and above qk_rope_head_dim";
    else if (c->n_activated_experts > c->n_routed_experts) why = "num_experts_per_tok exceeds n_routed_experts";
    else if (c->n_hash_layers > c->n_layers) why = "num_hash_layers exceeds num_hidden_layers";
    else if (c->expert_fp4 && c->dim % 32) why = "FP4 experts need hidden_size % 32 == 0";
    else if (c->n_shared_experts != 1) why = "exactly one shared expert is supported (n_shared_experts)";
    if (why) { ld_set_error("%s: %s", origin, why); goto out; }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int ld_config_load(const char *path, ld_config *c) {
    char *txt = ld_read_text_file(path, 16u << 20);
    if (!txt) return -1;
    int r = ld_config_parse(txt, path, c);
    free(txt);
    return r;
}

int ld_config_write(const char *path, const ld_config *c) {
    FILE *f = fopen(path, "w");
    if (!f) return ld_set_error("%s: cannot write", path);
    fprintf(f, "{\n  \"architectures\": [\"DeepseekV4ForCausalLM\"],\n  \"model_type\": \"deepseek_v4\",\n");
    fprintf(f, "  \"attention_bias\": false,\n  \"attention_dropout\": 0.0,\n");
    fprintf(f, "  \"bos_token_id\": %d,\n  \"eos_token_id\": %d,\n", c->bos_id, c->eos_id);
    fprintf(f, "  \"expert_dtype\": \"%s\",\n", c->expert_fp4 ? "fp4" : "fp8");
    fprintf(f, "  \"hc_eps\": %g,\n  \"hc_mult\": %d,\n  \"hc_sinkhorn_iters\": %d,\n", c->hc_eps, c->hc_mult,
            c->hc_sinkhorn_iters);
    fprintf(f, "  \"head_dim\": %d,\n  \"hidden_act\": \"silu\",\n  \"hidden_size\": %d,\n", c->head_dim, c->dim);
    fprintf(f, "  \"index_head_dim\": %d,\n  \"index_n_heads\": %d,\n  \"index_topk\": %d,\n", c->index_head_dim,
            c->index_n_heads, c->index_topk);
    fprintf(f, "  \"max_position_embeddings\": %ld,\n", c->max_position_embeddings);
    fprintf(f, "  \"moe_intermediate_size\": %d,\n  \"n_routed_experts\": %d,\n  \"n_shared_experts\": %d,\n",
            c->moe_inter_dim, c->n_routed_experts, c->n_shared_experts);
    fprintf(f, "  \"norm_topk_prob\": true,\n  \"num_attention_heads\": %d,\n  \"num_experts_per_tok\": %d,\n",
            c->n_heads, c->n_activated_experts);
    fprintf(f, "  \"num_hidden_layers\": %d,\n  \"num_hash_layers\": %d,\n  \"num_key_value_heads\": 1,\n",
            c->n_layers, c->n_hash_layers);
    fprintf(f, "  \"num_nextn_predict_layers\": %d,\n  \"o_groups\": %d,\n  \"o_lora_rank\": %d,\n", c->n_mtp_layers,
            c->o_groups, c->o_lora_rank);
    fprintf(f, "  \"q_lora_rank\": %d,\n  \"qk_rope_head_dim\": %d,\n", c->q_lora_rank, c->rope_dim);
    fprintf(f, "  \"quantization_config\": {\"activation_scheme\": \"dynamic\", \"fmt\": \"e4m3\", \"quant_method\": "
               "\"fp8\", \"scale_fmt\": \"ue8m0\", \"weight_block_size\": [128, 128]},\n");
    fprintf(f, "  \"rms_norm_eps\": %g,\n", c->norm_eps);
    fprintf(f, "  \"rope_scaling\": {\"beta_fast\": %g, \"beta_slow\": %g, \"factor\": %g, "
               "\"original_max_position_embeddings\": %d, \"type\": \"yarn\"},\n",
            c->beta_fast, c->beta_slow, c->rope_factor, c->original_seq_len);
    fprintf(f, "  \"rope_theta\": %g,\n  \"routed_scaling_factor\": %g,\n  \"scoring_func\": \"sqrtsoftplus\",\n",
            c->rope_theta, c->route_scale);
    fprintf(f, "  \"sliding_window\": %d,\n  \"swiglu_limit\": %g,\n  \"tie_word_embeddings\": false,\n", c->window,
            c->swiglu_limit);
    fprintf(f, "  \"topk_method\": \"noaux_tc\",\n  \"torch_dtype\": \"bfloat16\",\n  \"vocab_size\": %d,\n",
            c->vocab_size);
    fprintf(f, "  \"compress_rope_theta\": %g,\n  \"compress_ratios\": [", c->compress_rope_theta);
    for (int i = 0; i < c->n_layers + c->n_mtp_layers; i++) fprintf(f, "%s%d", i ? ", " : "", c->compress_ratios[i]);
    fprintf(f, "]\n}\n");
    return fclose(f) ? ld_set_error("%s: write failed", path) : 0;
}

int ld_gen_config_parse(const char *text, const char *origin, ld_gen_defaults *g) {
    cJSON *root = ld_json_parse_object(text, origin);
    if (!root) return -1;
    /* the ranges the sampler accepts; an absent key keeps the caller's value */
    double t = g->temperature, p = g->top_p, mp = g->min_p;
    int k = g->top_k, rc = -1;
    if (get_num(root, origin, "temperature", 0, 1e6, 0, t, &t) ||
        get_num_in(root, origin, "top_p", 0, 1, 1, 0, p, &p) ||
        get_int(root, origin, "top_k", 0, 1 << 24, 0, k, &k) ||
        get_num(root, origin, "min_p", 0, 1, 0, mp, &mp))
        goto out;
    /* the sampler holds top_p as a float, where a tiny one becomes 0 */
    if (!((float)p > 0)) {
        ld_set_error("%s: key 'top_p' = %g is out of range (0, 1] once held as a float", origin, p);
        goto out;
    }
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "do_sample");
    if (n && !cJSON_IsNull(n) && !cJSON_IsBool(n)) {
        ld_set_error("%s: key 'do_sample' is not a boolean", origin);
        goto out;
    }
    if (cJSON_IsBool(n)) g->do_sample = cJSON_IsTrue(n);
    g->temperature = (float)t;
    g->top_p = (float)p;
    g->top_k = k;
    g->min_p = (float)mp;
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int ld_gen_config_load(const char *path, ld_gen_defaults *g) {
    char *txt = ld_read_text_file(path, 1u << 20);
    if (!txt) return -1;
    int r = ld_gen_config_parse(txt, path, g);
    free(txt);
    return r;
}
