/* Fuzz target: arbitrary bytes as config.json text.
 *
 * An accepted config must satisfy the structural constraints the model code
 * relies on for memory safety (array sizes, divisibility); a rejected one
 * must leave a diagnosis without a line break of its own. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "fuzz_entry.h"
#include "model/config.h"

static void check_invariants(const ld_config *c) {
    if (c->n_layers < 1 || c->n_layers > LD_MAX_LAYERS || c->n_mtp_layers < 0 || c->n_mtp_layers > 8) abort();
    for (int i = 0; i < c->n_layers + c->n_mtp_layers; i++)
        if (c->compress_ratios[i] < 0) abort();
    if (c->dim < 128 || c->dim % 128 || c->q_lora_rank % 128 || c->moe_inter_dim % 128) abort();
    if (c->rope_dim < 2 || c->rope_dim % 2 || c->rope_dim >= c->head_dim || (c->head_dim - c->rope_dim) % 64) abort();
    if (c->o_groups < 1 || (c->n_heads * c->head_dim) % c->o_groups) abort();
    if (c->index_head_dim & (c->index_head_dim - 1)) abort();
    if (c->n_activated_experts < 1 || c->n_activated_experts > c->n_routed_experts) abort();
    if (c->n_hash_layers < 0 || c->n_hash_layers > c->n_layers) abort();
    if (c->hc_mult < 1 || c->hc_mult > 16 || c->vocab_size < 1) abort();
    /* the values the forward pass divides by or takes the logarithm of */
    if (!(c->beta_fast > c->beta_slow && c->beta_slow > 0) || !(c->rope_factor >= 1)) abort();
    if (!(c->rope_theta > 1) || !(c->compress_rope_theta > 1) || !(c->route_scale > 0)) abort();
    if (!((float)c->norm_eps > 0) || !((float)c->hc_eps > 0) || c->original_seq_len < 0) abort();
    if (c->bos_id < 0 || c->bos_id >= c->vocab_size || c->eos_id < 0 || c->eos_id >= c->vocab_size) abort();
}

int ld_fuzz_config(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    ld_config c;
    if (ld_config_parse(text, "fuzz/config.json", &c) == 0) {
        check_invariants(&c);
    } else {
        /* messages quote offending strings verbatim, so only a newline
         * that is not from the input counts as a split diagnosis */
        const char *msg = ld_last_error();
        if (!msg || !msg[0] || (strchr(msg, '\n') && !memchr(data, '\n', size))) abort();
    }
    free(text);
    return 0;
}

#ifdef LADDER_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return ld_fuzz_config(data, size); }
#endif
