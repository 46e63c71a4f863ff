/* Error reporting: functions below main() never exit or print on failure.
 * They record one human-readable line with ld_set_error() and return an
 * error code; the CLI prints it. The message is thread-local so parallel
 * sessions do not overwrite each other's diagnosis. */
#ifndef LADDER_CORE_ERROR_H
#define LADDER_CORE_ERROR_H

#include <stdarg.h>

#if defined(__GNUC__)
#define LD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LD_PRINTF(a, b)
#endif

/* Records the message and returns -1, so callers can write
 * `return ld_set_error("...")`. */
int ld_set_error(const char *fmt, ...) LD_PRINTF(1, 2);
/* Prefixes the current message with more context ("loading X: ..."). */
int ld_wrap_error(const char *fmt, ...) LD_PRINTF(1, 2);
const char *ld_last_error(void);
void ld_clear_error(void);

#endif
