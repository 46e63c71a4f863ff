/* Streaming safetensors writer: the tensor directory is declared first, the
 * header written once, then each tensor's bytes are streamed in declaration
 * order (so multi-GB checkpoints never sit in memory). */
#ifndef LADDER_IO_ST_WRITER_H
#define LADDER_IO_ST_WRITER_H

#include <stdint.h>
#include <stdio.h>

#include "io/safetensors.h"

typedef struct {
    char name[160];
    ld_dtype dtype;
    int ndim;
    int64_t shape[4];
    uint64_t nbytes;
} ld_st_entry;

typedef struct {
    FILE *f;
    char *path;
    const ld_st_entry *entries;
    int n, next;
    uint64_t written, expected; /* bytes of the current tensor */
} ld_st_writer;

/* Writes the header for entries (in the given order, which becomes the data order). */
int ld_st_writer_open(ld_st_writer *w, const char *path, const ld_st_entry *entries, int n);
/* Appends bytes of the current tensor; moves to the next one when complete. */
int ld_st_writer_write(ld_st_writer *w, const void *data, size_t bytes);
/* Checks every tensor was completely written, then closes. */
int ld_st_writer_close(ld_st_writer *w);

#endif
