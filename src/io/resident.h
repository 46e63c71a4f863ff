/* Moving a checkpoint's tensors from the file mapping into anonymous memory.
 *
 * Why: weights streamed from page-cache pages of a file mapping run slower
 * than from anonymous memory on transparent huge pages (fewer TLB misses,
 * and each tensor can start on a cache line, which the file layout does not
 * promise: safetensors packs tensors at any byte offset). The copy costs one
 * pass over the data at load and the file's page cache stays reclaimable. */
#ifndef LADDER_IO_RESIDENT_H
#define LADDER_IO_RESIDENT_H

#include <stddef.h>

#include "io/checkpoint.h"

/* Bytes of tensor data in the checkpoint. */
size_t ld_ckpt_data_bytes(const ld_checkpoint *ck);

/* Bytes the kernel reports as available (MemAvailable), 0 if unknown. */
size_t ld_mem_available(void);

/* Copies every file's tensors into one anonymous region per file (each
 * tensor 64-byte aligned, huge pages requested) and drops the file mapping.
 * progress (may be NULL) is called with bytes done and total. Returns 0, or
 * -1 with ld_last_error() set and the checkpoint unchanged for the files not
 * yet moved (still valid: every tensor points at a live mapping). */
int ld_ckpt_make_resident(ld_checkpoint *ck, void (*progress)(size_t done, size_t total));

#endif
