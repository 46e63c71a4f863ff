#include "tools/cli_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

static void say_error(const char *cmd, const char *fmt, va_list ap) {
    fprintf(stderr, "ladder %s: error: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int cli_fail(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say_error(cmd, fmt, ap);
    va_end(ap);
    return 1;
}

int cli_usage(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say_error(cmd, fmt, ap);
    va_end(ap);
    return 2;
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

FILE *cli_open_input(const char *path) {
    if (!strcmp(path, "-")) return stdin;
    /* stat, unlike open, cannot block on a FIFO with no writer */
    struct stat st;
    if (stat(path, &st)) { ld_set_error("%s: cannot open: %s", path, strerror(errno)); return NULL; }
    if (S_ISDIR(st.st_mode)) { ld_set_error("%s: is a directory", path); return NULL; }
    if (!S_ISREG(st.st_mode)) {
        ld_set_error("%s: not a regular file (a pipe or device); give '-' to read standard input", path);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) ld_set_error("%s: cannot open: %s", path, strerror(errno));
    return f;
}

int *cli_read_ids(const char *path, int *n) {
    FILE *f = cli_open_input(path);
    if (!f) return NULL;
    /* read as a stream: '-' may be a pipe */
    size_t cap = 4096, len = 0, r;
    unsigned char *buf = malloc(cap);
    while (buf && (r = fread(buf + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            unsigned char *nb = cap < ((size_t)1 << 31) ? realloc(buf, cap * 2) : NULL;
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    int err = ferror(f);
    if (f != stdin) fclose(f);
    if (!buf || err) { free(buf); ld_set_error("%s: read failed", path); return NULL; }
    if (len % 4) { free(buf); ld_set_error("%s: %zu bytes is not a whole number of int32 ids", path, len); return NULL; }
    int *ids = malloc(len ? len : 4);
    if (!ids) { free(buf); ld_set_error("out of memory"); return NULL; }
    for (size_t i = 0; i < len / 4; i++)
        ids[i] = (int)((uint32_t)buf[4 * i] | (uint32_t)buf[4 * i + 1] << 8 | (uint32_t)buf[4 * i + 2] << 16 |
                       (uint32_t)buf[4 * i + 3] << 24);
    free(buf);
    *n = (int)(len / 4);
    return ids;
}

int cli_out_check(const char *path) {
    struct stat st;
    if (!*path) return ld_set_error("the output path is empty");
    if (!stat(path, &st) && S_ISDIR(st.st_mode)) return ld_set_error("%s: is a directory", path);
    /* a device or pipe (/dev/null, /dev/stdout) is written in place: nothing can be renamed over it */
    if (!stat(path, &st) && !S_ISREG(st.st_mode)) return 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    if (stat(dir, &st)) return ld_set_error("%s: directory %s: %s", path, dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return ld_set_error("%s: %s is not a directory", path, dir);
    if (access(dir, W_OK | X_OK)) return ld_set_error("%s: directory %s is not writable: %s", path, dir, strerror(errno));
    return 0;
}

int cli_dir_empty(const char *path) {
    DIR *d = opendir(path);
    if (!d) return errno == ENOENT;
    int n = 0;
    for (struct dirent *e; !n && (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return !n;
}

int cli_tmp_path(const char *path, char *buf, size_t cap) {
    struct stat st;
    if (!stat(path, &st) && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
        if ((size_t)snprintf(buf, cap, "%s", path) >= cap) return ld_set_error("%s: path too long", path);
        return 0;
    }
    if ((size_t)snprintf(buf, cap, "%s.tmp.%ld", path, (long)getpid()) >= cap) return ld_set_error("%s: path too long", path);
    return 0;
}

int cli_commit(const char *tmp, const char *path, int ok) {
    if (!strcmp(tmp, path)) return ok ? 0 : -1;
    if (ok && !rename(tmp, path)) return 0;
    int e = errno;
    unlink(tmp);
    return ok ? ld_set_error("%s: cannot rename the finished file into place: %s", path, strerror(e)) : -1;
}

FILE *cli_out_open(const char *path, char *tmp, size_t cap) {
    if (cli_out_check(path) || cli_tmp_path(path, tmp, cap)) return NULL;
    FILE *f = fopen(tmp, "wb");
    if (!f) ld_set_error("%s: cannot create: %s", tmp, strerror(errno));
    return f;
}

int cli_out_close(FILE *f, const char *tmp, const char *path, int ok) {
    int e = 0;
    if (fflush(f) || ferror(f)) e = errno ? errno : EIO;
    if (fclose(f) && !e) e = errno ? errno : EIO;
    if (ok && e) {
        cli_commit(tmp, path, 0);
        return ld_set_error("%s: write failed: %s", path, strerror(e));
    }
    return cli_commit(tmp, path, ok);
}

int cli_write_file(const char *path, const void *data, size_t bytes) {
    char tmp[4200];
    FILE *f = cli_out_open(path, tmp, sizeof tmp);
    if (!f) return -1;
    size_t w = fwrite(data, 1, bytes, f);
    int e = errno;
    if (w != bytes) {
        fclose(f);
        cli_commit(tmp, path, 0);
        return ld_set_error("%s: write failed: %s", path, strerror(e));
    }
    return cli_out_close(f, tmp, path, 1);
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_usage(cmd, "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cli_cap_threads(const char *who, const char *what, int n) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    /* more threads than CPUs only makes them wait for each other */
    if (cpus > 0 && n > cpus) {
        fprintf(stderr, "%s: note: %s %d is more than the %ld online CPUs; using %ld\n", who, what, n, cpus, cpus);
        return (int)cpus;
    }
    return n;
}

static const char *env_isa;
static int env_threads;

int cli_env_init(void) {
    /* every value is checked here, so a typo fails every command at once
       instead of silently running with the defaults */
    const char *isa = getenv("LADDER_CPU_ISA"), *thr = getenv("LADDER_THREADS");
    if (isa && *isa) {
        if (!ladder_cpu_isa_known(isa)) {
            fprintf(stderr, "ladder: error: LADDER_CPU_ISA: '%s' is not a cpu path of this build (%s)\n", isa,
                    ladder_cpu_isa_paths());
            return 1;
        }
        env_isa = isa;
    }
    if (thr && *thr) {
        long n;
        if (cli_int(thr, 0, 4096, &n)) {
            fprintf(stderr, "ladder: error: LADDER_THREADS: '%s' is not a thread count in [0, 4096] (0 = all online CPUs)\n", thr);
            return 1;
        }
        env_threads = cli_cap_threads("ladder", "LADDER_THREADS", (int)n);
    }
    return 0;
}

const char *cli_env_isa(void) { return env_isa; }
int cli_env_threads(void) { return env_threads; }

static ladder_formats formats;

int cli_set_formats(const char *name) { return ladder_formats_parse(name, &formats); }
ladder_formats cli_formats(void) { return formats; }

ladder_engine_opts cli_engine_opts(const char *backend, int use_mmap) {
    ladder_engine_opts o = ladder_engine_opts_default();
    o.backend = backend;
    o.formats = formats;
    const char *colon = backend ? strchr(backend, ':') : NULL;
    if (colon) {
        /* a few names live at once (parity opens two engines) */
        static char names[4][64];
        static int next;
        char *nm = names[next++ % 4];
        snprintf(nm, sizeof names[0], "%.*s", (int)(colon - backend), backend);
        o.backend = nm;
        if (ladder_formats_parse(colon + 1, &o.formats)) { /* a bad command line */
            fprintf(stderr, "ladder: error: backend '%s': %s\n", backend, ladder_last_error());
            exit(2);
        }
    }
    o.cpu_isa = env_isa;
    o.threads = env_threads;
    o.weights = use_mmap ? LADDER_WEIGHTS_MMAP : LADDER_WEIGHTS_AUTO;
    return o;
}

static void load_progress(void *user, size_t done, size_t total) {
    size_t *next = user;
    if (total < ((size_t)2 << 30)) return; /* quiet for small checkpoints */
    if (done >= *next || done == total) {
        fprintf(stderr, "load: copying weights into memory, %.1f / %.1f GB\n", (double)done / 1e9, (double)total / 1e9);
        *next = done + total / 10;
    }
}

int cli_open_engine(const char *cmd, const char *dir, const ladder_engine_opts *o, ladder_engine **e) {
    size_t next = 0;
    ladder_engine_opts oo = *o;
    if (!oo.progress) oo.progress = load_progress, oo.progress_user = &next;
    if (ladder_engine_open(dir, &oo, e)) return cli_fail(cmd, "%s", ladder_last_error());
    const ladder_info *in = ladder_engine_info(*e);
    if (in->mapped_note[0]) fprintf(stderr, "ladder %s: note: weights stay mapped from the files: %s\n", cmd, in->mapped_note);
    return 0;
}
