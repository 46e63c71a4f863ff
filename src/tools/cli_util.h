/* Small helpers shared by the subcommands: flag parsing and raw id files. */
#ifndef LADDER_TOOLS_CLI_UTIL_H
#define LADDER_TOOLS_CLI_UTIL_H

#include <stddef.h>

#include "model/model.h"

/* Prints "ladder <cmd>: error: <msg>" and returns 1. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses a whole decimal integer in [lo, hi]; -1 on error. */
int cli_int(const char *s, long lo, long hi, long *out);
int cli_float(const char *s, double lo, double hi, double *out);
/* Reads raw little-endian int32 ids; sets *n. Returns NULL with ld error set. */
int *cli_read_ids(const char *path, int *n);
int cli_write_file(const char *path, const void *data, size_t bytes);
/* Returns argv[i+1] for a flag that needs a value, or NULL (and reports). */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);

/* Loads a model for a command that runs it: weights copied into memory when
 * they fit (faster), unless use_mmap; progress on stderr for big ones.
 * Returns 0, or 1 after reporting the error. */
/* Backend settings from the environment (main.c), for every command. */
extern ld_backend_opts cli_backend;
int cli_load_model(const char *cmd, const char *dir, const ld_backend_ops *ops, int use_mmap, ld_model *m);

#endif
