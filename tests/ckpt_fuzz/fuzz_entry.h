/* Entry points shared by the libFuzzer build and the corpus replay driver. */
#ifndef LADDER_CKPT_FUZZ_ENTRY_H
#define LADDER_CKPT_FUZZ_ENTRY_H

#include <stddef.h>
#include <stdint.h>

int ld_fuzz_safetensors(const uint8_t *data, size_t size);
int ld_fuzz_config(const uint8_t *data, size_t size);
int ld_fuzz_gen_config(const uint8_t *data, size_t size);

#endif
