/* ladder info: what a checkpoint is and what it costs to run. */
#include <stdio.h>
#include <string.h>

#include "tools/cli_util.h"
#include "tools/commands.h"

static const char *usage = "usage: ladder info -m DIR\n"
                           "  Prints the config summary, parameters and bytes by dtype, weight bytes read per\n"
                           "  decoded token (as the --weights path reads them), and KV-cache bytes per token.\n";

int cmd_info(int argc, char **argv) {
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) { fputs(usage, stdout); return 0; }
        if (!strcmp(argv[i], "-m")) { if (!(dir = cli_value("info", argc, argv, &i))) return 2; }
        else return cli_usage("info", "unknown option '%s' (see --help)", argv[i]);
    }
    if (!dir) return cli_usage("info", "-m DIR is required");
    /* nothing runs, so the weights stay mapped: no copy of a large checkpoint */
    ladder_engine_opts o = cli_engine_opts(NULL, 1);
    ladder_engine *e;
    if (ladder_engine_open(dir, &o, &e)) return cli_fail("info", "%s", ladder_last_error());
    const ladder_info *c = ladder_engine_info(e);
    printf("model        %s\n", dir);
    printf("shape        hidden %d, %d layers (+%d MTP), %d heads x %d, q_lora %d, o_groups %d x %d\n", c->dim,
           c->n_layers, c->n_mtp_layers, c->n_heads, c->head_dim, c->q_lora_rank, c->o_groups, c->o_lora_rank);
    printf("attention    window %d; %d window-only, %d CSA (ratio 4, indexer %d x %d top-%d), %d HCA layers\n", c->window,
           c->n_window_layers, c->n_csa_layers, c->index_n_heads, c->index_head_dim, c->index_topk, c->n_hca_layers);
    printf("moe          %d routed experts (top-%d, %s), %d shared, inter %d, %d hash layers, route scale %g\n",
           c->n_routed_experts, c->n_activated_experts, c->expert_fp4 ? "FP4" : "FP8", c->n_shared_experts,
           c->moe_inter_dim, c->n_hash_layers, c->route_scale);
    printf("vocab        %d (bos %d, eos %d)\n", c->vocab_size, c->bos_id, c->eos_id);
    printf("files        %d shard(s), %d tensors\n", c->n_files, c->n_tensors);
    printf("parameters   %.3f B, %.3f GB on disk\n", c->total_params / 1e9, c->total_bytes / 1e9);
    for (int d = 0; d < c->n_dtypes; d++)
        printf("  %-8s   %14lld params %10.3f GB\n", c->dtypes[d].name, (long long)c->dtypes[d].params,
               c->dtypes[d].bytes / 1e9);
    printf("decode       %.3f GB of weights read per token on the %s path (routed experts: %d of %d per layer)\n",
           c->weight_bytes_per_token / 1e9, c->formats, c->n_activated_experts, c->n_routed_experts);
    printf("kv cache     %.1f bytes per token + %.2f MB fixed window rings (bf16 layout)\n", c->kv_bytes_per_token,
           c->kv_fixed_bytes / 1e6);
    ladder_engine_close(e);
    return 0;
}
