/* The request fuzz entry point, shared by libFuzzer and the corpus replay. */
#ifndef LADDER_SERVER_FUZZ_REQUEST_H
#define LADDER_SERVER_FUZZ_REQUEST_H

#include <stddef.h>
#include <stdint.h>

int ld_fuzz_request(const uint8_t *data, size_t size);

#endif
