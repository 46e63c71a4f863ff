/* Synthetic checkpoints in exactly the official HF layout (names, dtypes,
 * block scales, shards + index json, config.json), with random weights whose
 * magnitudes keep activations and logits in a realistic range. */
#ifndef LADDER_MODEL_SYNTH_H
#define LADDER_MODEL_SYNTH_H

#include <stdint.h>

#include "model/config.h"

/* Fills c with a named preset: "tiny", "flash-slice", "pro-slice",
 * "flash", "pro". Returns -1 for an unknown name. */
int ld_synth_preset(const char *name, ld_config *c);
/* Truncates to n main layers (keeping the layer-type pattern and the MTP
 * layers) and/or sets the routed expert count; 0 leaves a value as is. */
int ld_synth_resize(ld_config *c, int n_layers, int n_experts);

typedef struct {
    uint64_t seed;
    uint64_t shard_bytes; /* start a new shard past this size (0 = default 4 GiB) */
    int progress;         /* print progress lines to stderr */
    const char *tokenizer_json; /* written as tokenizer.json when not NULL */
} ld_synth_opts;

/* Writes config.json, generation_config.json, shards and the index into dir
 * (created if missing). Deterministic for a given config and seed. The files
 * are written beside dir first and moved in when complete, the index last:
 * a dir holding model.safetensors.index.json is a complete checkpoint. An
 * existing dir's model*.safetensors are replaced; its other files stay. A
 * killed run leaves dir.partial.PID, removed by the next write to dir. */
int ld_synth_write(const ld_config *c, const char *dir, const ld_synth_opts *o);

#endif
