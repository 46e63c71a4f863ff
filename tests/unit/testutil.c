#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int test_failures, test_checks;

int test_summary(const char *name) {
    printf("%s: %d checks, %d failed\n", name, test_checks, test_failures);
    return test_failures ? 1 : 0;
}

const char *test_shared_dir(void) {
    const char *d = getenv("LADDER_SHARED");
    struct stat st;
    if (!d || stat(d, &st) || !S_ISDIR(st.st_mode)) {
        printf("SKIP: shared oracle data not found (LADDER_SHARED=%s)\n", d ? d : "(unset)");
        return NULL;
    }
    return d;
}

const char *test_tmp_dir(void) {
    static char buf[4096];
    const char *d = getenv("LADDER_TMP");
    snprintf(buf, sizeof buf, "%s", d ? d : "/tmp/ladder-test");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", buf);
    if (system(cmd)) return NULL;
    return buf;
}

void *test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); p = NULL; }
    if (p) p[n] = 0;
    fclose(f);
    if (size) *size = (size_t)n;
    return p;
}

int test_run(const char *cmd, char **out) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
        n += r;
        if (cap - n < 2) { cap *= 2; buf = realloc(buf, cap); }
    }
    if (buf) buf[n] = 0;
    int st = pclose(p);
    if (out) *out = buf; else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

double test_fp8_value(int c) {
    int s = (c >> 7) & 1, e = (c >> 3) & 15, m = c & 7;
    if (e == 15 && m == 7) return NAN;
    double v = e == 0 ? ldexp(m, -9) : ldexp(8 + m, e - 10);
    return s ? -v : v;
}
