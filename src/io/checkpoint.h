/* A checkpoint directory: one model.safetensors, or shards listed by
 * model.safetensors.index.json. Tensors are looked up by their native name
 * (e.g. "layers.3.attn.wq_a.weight"). */
#ifndef LADDER_IO_CHECKPOINT_H
#define LADDER_IO_CHECKPOINT_H

#include "io/safetensors.h"

typedef struct {
    char *dir;
    ld_st_file *files;
    int n_files;
    const ld_tensor **by_name; /* sorted by name for bsearch */
    int n_tensors;
} ld_checkpoint;

int ld_ckpt_open(const char *dir, ld_checkpoint *ck);
void ld_ckpt_close(ld_checkpoint *ck);
const ld_tensor *ld_ckpt_find(const ld_checkpoint *ck, const char *name);
const char *ld_ckpt_file_of(const ld_checkpoint *ck, const ld_tensor *t);

/* Reads a whole small text file (config, index); caller frees. */
char *ld_read_text_file(const char *path, size_t max_bytes);

#endif
