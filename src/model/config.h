/* DeepSeek-V4 hyperparameters, read from the Hugging Face config.json of
 * DeepseekV4ForCausalLM (key names as in the released V4-Flash config). */
#ifndef LADDER_MODEL_CONFIG_H
#define LADDER_MODEL_CONFIG_H

#define LD_MAX_LAYERS 256

typedef struct {
    int vocab_size, dim, n_layers, n_mtp_layers;
    int n_heads, head_dim, rope_dim; /* RoPE on the LAST rope_dim dims of a head */
    int q_lora_rank, o_groups, o_lora_rank;
    int window;                             /* sliding_window */
    int compress_ratios[LD_MAX_LAYERS + 8]; /* n_layers + n_mtp_layers entries */
    double rope_theta, compress_rope_theta;
    double rope_factor;       /* YaRN, compressed layers only */
    int original_seq_len;     /* 0 disables YaRN */
    double beta_fast, beta_slow;
    int index_n_heads, index_head_dim, index_topk;
    int hc_mult, hc_sinkhorn_iters;
    double hc_eps, norm_eps;
    int n_routed_experts, n_activated_experts, n_shared_experts, moe_inter_dim;
    int n_hash_layers;
    double route_scale, swiglu_limit;
    int expert_fp4; /* routed experts stored as packed FP4 (else FP8) */
    int expert_dtype_given; /* 0: config has no expert_dtype; the loader infers it from the tensors */
    int bos_id, eos_id;
    long max_position_embeddings;
} ld_config;

/* Parses and validates; errors name the file and the key. */
int ld_config_load(const char *path, ld_config *c);
int ld_config_parse(const char *json_text, const char *origin, ld_config *c);
/* Writes config.json in the HF layout. */
int ld_config_write(const char *path, const ld_config *c);

/* Sampling defaults of generation_config.json (absent keys keep the input). */
typedef struct {
    float temperature, top_p, min_p;
    int top_k;
    int do_sample;
} ld_gen_defaults;
int ld_gen_config_load(const char *path, ld_gen_defaults *g);
int ld_gen_config_parse(const char *json_text, const char *origin, ld_gen_defaults *g);

#endif
