#include "tools/cli_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/checkpoint.h"

int cli_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ladder %s: error: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_int(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_float(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

int *cli_read_ids(const char *path, int *n) {
    FILE *f = fopen(path, "rb");
    if (!f) { ld_set_error("%s: cannot open: %s", path, strerror(errno)); return NULL; }
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (sz < 0 || sz % 4) {
        fclose(f);
        ld_set_error("%s: %ld bytes is not a whole number of int32 ids", path, sz);
        return NULL;
    }
    int *ids = malloc(sz ? (size_t)sz : 4);
    if (!ids || fread(ids, 1, (size_t)sz, f) != (size_t)sz) {
        free(ids);
        fclose(f);
        ld_set_error("%s: read failed", path);
        return NULL;
    }
    fclose(f);
    *n = (int)(sz / 4);
    return ids;
}

int cli_write_file(const char *path, const void *data, size_t bytes) {
    FILE *f = fopen(path, "wb");
    if (!f) return ld_set_error("%s: cannot create: %s", path, strerror(errno));
    size_t w = fwrite(data, 1, bytes, f);
    if (fclose(f) || w != bytes) return ld_set_error("%s: write failed", path);
    return 0;
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_fail(cmd, "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}
