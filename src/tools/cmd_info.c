/* ladder info: what a checkpoint is and what it costs to run. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/stats.h"
#include "tools/cli_util.h"
#include "tools/commands.h"

static const char *usage = "usage: ladder info -m DIR\n"
                           "  Prints the config summary, parameters and bytes by dtype, weight bytes read per\n"
                           "  decoded token, and KV-cache bytes per token.\n";

int cmd_info(int argc, char **argv) {
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(usage, stdout); return 0; }
        if (!strcmp(argv[i], "-m")) { if (!(dir = cli_value("info", argc, argv, &i))) return 1; }
        else return cli_fail("info", "unknown option '%s' (see --help)", argv[i]);
    }
    if (!dir) return cli_fail("info", "-m DIR is required");
    ld_model m;
    if (ld_model_load(dir, &ld_backend_ref_ops, &m)) return cli_fail("info", "%s", ld_last_error());
    const ld_config *c = &m.cfg;
    ld_model_stats_t st;
    ld_model_stats(&m, &st);
    int n[4] = {0};
    for (int l = 0; l < c->n_layers; l++) n[c->compress_ratios[l] == 0 ? 0 : c->compress_ratios[l] == 4 ? 1 : 2]++;
    printf("model        %s\n", dir);
    printf("shape        hidden %d, %d layers (+%d MTP), %d heads x %d, q_lora %d, o_groups %d x %d\n", c->dim,
           c->n_layers, c->n_mtp_layers, c->n_heads, c->head_dim, c->q_lora_rank, c->o_groups, c->o_lora_rank);
    printf("attention    window %d; %d window-only, %d CSA (ratio 4, indexer %d x %d top-%d), %d HCA layers\n", c->window,
           n[0], n[1], c->index_n_heads, c->index_head_dim, c->index_topk, n[2]);
    printf("moe          %d routed experts (top-%d, %s), 1 shared, inter %d, %d hash layers, route scale %g\n",
           c->n_routed_experts, c->n_activated_experts, c->expert_fp4 ? "FP4" : "FP8", c->moe_inter_dim,
           c->n_hash_layers, c->route_scale);
    printf("vocab        %d (bos %d, eos %d)\n", c->vocab_size, c->bos_id, c->eos_id);
    printf("files        %d shard(s), %d tensors\n", m.ck.n_files, m.ck.n_tensors);
    printf("parameters   %.3f B, %.3f GB on disk\n", st.total_params / 1e9, st.total_bytes / 1e9);
    for (int d = 0; d < LD_DT_COUNT; d++)
        if (st.bytes[d])
            printf("  %-8s   %14lld params %10.3f GB\n", ld_dtype_name((ld_dtype)d), (long long)st.params[d], st.bytes[d] / 1e9);
    printf("decode       %.3f GB of weights read per token (routed experts: %d of %d per layer)\n", st.active_bytes / 1e9,
           c->n_activated_experts, c->n_routed_experts);
    printf("kv cache     %.1f bytes per token + %.2f MB fixed window rings (bf16 layout)\n", st.kv_bytes_per_token,
           st.kv_fixed_bytes / 1e6);
    ld_model_free(&m);
    return 0;
}
