/* Small helpers shared by the subcommands: flag parsing, raw id files, and
 * opening an engine the way every command does. */
#ifndef LADDER_TOOLS_CLI_UTIL_H
#define LADDER_TOOLS_CLI_UTIL_H

#include <stddef.h>
#include <stdio.h>

#include "ladder.h"

/* Prints "ladder <cmd>: error: <msg>" and returns 1. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same for a bad command line (flags): returns 2. Exit status 1 is for
 * errors found while running (missing files, bad input, failed checks). */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses a whole decimal integer in [lo, hi]; -1 on error. */
int cli_int(const char *s, long lo, long hi, long *out);
int cli_float(const char *s, double lo, double hi, double *out);
/* Opens an input file: "-" is stdin; a directory, FIFO or device is refused
 * (checked without opening, so nothing blocks). NULL with the error set. */
FILE *cli_open_input(const char *path);
/* n capped to the online CPUs, with a note on stderr when it was above. */
int cli_cap_threads(const char *who, const char *what, int n);
/* Reads raw little-endian int32 ids ("-": stdin); sets *n. Returns NULL with the error set. */
int *cli_read_ids(const char *path, int *n);
/* Outputs are written to PATH.tmp.PID beside PATH and renamed over it once
 * complete, so a failure leaves the old file or none, never a torn one. */
int cli_write_file(const char *path, const void *data, size_t bytes);
/* Checks before any work that PATH can be written: its directory exists, is
 * a directory and writable, and PATH is not a directory. An existing device
 * or pipe is written in place. */
int cli_out_check(const char *path);
/* 1 when path does not exist or is an empty directory. */
int cli_dir_empty(const char *path);
int cli_tmp_path(const char *path, char *buf, size_t cap);
/* Renames tmp over path when ok, else (or when that fails) removes tmp. */
int cli_commit(const char *tmp, const char *path, int ok);
/* cli_out_check, then opens the temporary name (written to tmp). */
FILE *cli_out_open(const char *path, char *tmp, size_t cap);
/* Closes f; with ok and no write error, renames it into place; else removes it. */
int cli_out_close(FILE *f, const char *tmp, const char *path, int ok);
/* Returns argv[i+1] for a flag that needs a value, or NULL (and reports). */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);

/* Reads LADDER_CPU_ISA and LADDER_THREADS once, for every command's engine
 * options. Returns 0, or 1 after printing a one-line error. */
int cli_env_init(void);
/* Engine options of a command: backend NULL = the engine's default, the
 * environment's cpu settings, weights mapped or (default) copied when they
 * fit, the --weights format path; a backend "NAME:PATH" (ref:bf16) sets its
 * own path. */
ladder_engine_opts cli_engine_opts(const char *backend, int use_mmap);
/* The command line's --weights; 0, or -1 with the error. */
int cli_set_formats(const char *name);
ladder_formats cli_formats(void);
/* The environment's cpu settings alone (NULL / 0 when unset). */
const char *cli_env_isa(void);
int cli_env_threads(void);
/* Opens an engine, with load progress on stderr for big checkpoints and a
 * note when an automatic load kept the weights mapped. Returns 0, or 1 after
 * reporting the error. */
int cli_open_engine(const char *cmd, const char *dir, const ladder_engine_opts *o, ladder_engine **e);

#endif
