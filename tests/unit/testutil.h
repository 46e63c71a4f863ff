/* Minimal test harness: CHECK records a failure and continues; the test's
 * main returns test_summary(). Exit code 77 = skipped (ctest SKIP_RETURN_CODE). */
#ifndef LADDER_TESTUTIL_H
#define LADDER_TESTUTIL_H

#include <stddef.h>
#include <stdio.h>

extern int test_failures, test_checks;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        test_checks++;                                                          \
        if (!(cond)) {                                                          \
            test_failures++;                                                    \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

int test_summary(const char *name);
/* Directory of the shared oracle data, or NULL (prints why). */
const char *test_shared_dir(void);
/* Scratch directory for files a test writes (created if needed). */
const char *test_tmp_dir(void);
/* Reads a whole file; NULL if absent. */
void *test_read_file(const char *path, size_t *size);
/* Runs a shell command, returns its exit status; output to *out if given (caller frees). */
int test_run(const char *cmd, char **out);
/* fp8 e4m3fn code -> value from the format definition (sign, 4-bit exponent
 * with bias 7, 3-bit mantissa; exponent 0 is subnormal, m * 2^-9;
 * S.1111.111 is NaN; no infinities), independent of the engine's codec. */
double test_fp8_value(int code);

#endif
