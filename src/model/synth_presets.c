/* Synthetic-checkpoint presets. flash-slice and pro-slice have the real
 * V4-Flash / V4-Pro layer widths (the costly part of a decode step) with
 * fewer layers and experts chosen by flags. */
#include <string.h>

#include "core/error.h"
#include "model/synth.h"

static void common(ld_config *c) {
    memset(c, 0, sizeof *c);
    c->n_mtp_layers = 1;
    c->rope_dim = 64;
    c->rope_theta = 10000;
    c->compress_rope_theta = 160000;
    c->beta_fast = 32;
    c->beta_slow = 1;
    c->hc_mult = 4;
    c->hc_sinkhorn_iters = 20;
    c->hc_eps = 1e-6;
    c->norm_eps = 1e-6;
    c->n_shared_experts = 1;
    c->swiglu_limit = 10.0;
    c->expert_fp4 = 1;
    c->expert_dtype_given = 1;
    c->bos_id = 0;
    c->eos_id = 1;
    c->max_position_embeddings = 1048576;
}

/* Flash/Pro main-layer pattern: Flash starts with two window-only layers,
 * Pro with two HCA layers, then CSA/HCA alternate; the MTP layer is window-only. */
static void pattern(ld_config *c, int first) {
    for (int l = 0; l < c->n_layers; l++) c->compress_ratios[l] = l < 2 ? first : (l % 2 == 0 ? 4 : 128);
    for (int i = 0; i < c->n_mtp_layers; i++) c->compress_ratios[c->n_layers + i] = 0;
}

int ld_synth_preset(const char *name, ld_config *c) {
    common(c);
    if (!strcmp(name, "tiny")) {
        /* small enough for unit tests, yet every layer kind and cache path is exercised within ~100 tokens */
        c->vocab_size = 1024; c->dim = 256; c->n_layers = 4;
        c->n_heads = 4; c->head_dim = 128; c->q_lora_rank = 128; c->o_groups = 2; c->o_lora_rank = 128;
        c->window = 16; c->index_n_heads = 4; c->index_head_dim = 128; c->index_topk = 4;
        c->n_routed_experts = 8; c->n_activated_experts = 2; c->moe_inter_dim = 128; c->n_hash_layers = 1;
        c->route_scale = 1.5; c->rope_factor = 4; c->original_seq_len = 64; c->max_position_embeddings = 4096;
        int r[] = {0, 4, 16, 4, 0};
        memcpy(c->compress_ratios, r, sizeof r);
        return 0;
    }
    int flash = !strncmp(name, "flash", 5), pro = !strncmp(name, "pro", 3);
    if (!flash && !pro) return ld_set_error("unknown preset '%s' (tiny, flash-slice, pro-slice, flash, pro)", name);
    int slice = strstr(name, "-slice") != NULL;
    if (strcmp(name + (flash ? 5 : 3), slice ? "-slice" : "")) return ld_set_error("unknown preset '%s'", name);
    c->vocab_size = 129280; c->head_dim = 512; c->o_lora_rank = 1024; c->window = 128;
    c->index_n_heads = 64; c->index_head_dim = 128; c->n_activated_experts = 6; c->n_hash_layers = 3;
    c->rope_factor = 16; c->original_seq_len = 65536;
    if (flash) {
        c->dim = 4096; c->n_layers = slice ? 4 : 43; c->n_heads = 64; c->q_lora_rank = 1024; c->o_groups = 8;
        c->index_topk = 512; c->n_routed_experts = 256; c->moe_inter_dim = 2048; c->route_scale = 1.5;
    } else {
        c->dim = 7168; c->n_layers = slice ? 4 : 61; c->n_heads = 128; c->q_lora_rank = 1536; c->o_groups = 16;
        c->index_topk = 1024; c->n_routed_experts = 384; c->moe_inter_dim = 3072; c->route_scale = 2.5;
    }
    pattern(c, flash ? 0 : 128);
    return 0;
}

int ld_synth_resize(ld_config *c, int n_layers, int n_experts) {
    if (n_layers < 0 || n_layers > LD_MAX_LAYERS) return ld_set_error("--layers must be in [1, %d]", LD_MAX_LAYERS);
    if (n_layers) {
        int mtp[8];
        for (int i = 0; i < c->n_mtp_layers; i++) mtp[i] = c->compress_ratios[c->n_layers + i];
        if (n_layers > c->n_layers) {
            /* extend by repeating the CSA/HCA alternation */
            for (int l = c->n_layers; l < n_layers; l++) c->compress_ratios[l] = l % 2 == 0 ? 4 : 128;
        }
        c->n_layers = n_layers;
        for (int i = 0; i < c->n_mtp_layers; i++) c->compress_ratios[n_layers + i] = mtp[i];
        if (c->n_hash_layers > n_layers) c->n_hash_layers = n_layers;
    }
    if (n_experts < 0) return ld_set_error("--experts must be positive");
    if (n_experts) {
        c->n_routed_experts = n_experts;
        if (c->n_activated_experts > n_experts) c->n_activated_experts = n_experts;
    }
    return 0;
}
