/* Thread-local last-error line; see error.h. */
#include "core/error.h"

#include <stdio.h>
#include <string.h>

#define LD_ERR_CAP 1024
static _Thread_local char g_err[LD_ERR_CAP];

/* Messages quote untrusted names (tensor names, JSON keys); control
 * characters there would split the one-line diagnosis or drive the
 * terminal, so they are shown as '?'. */
static void sanitize(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

int ld_set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    sanitize(g_err);
    return -1;
}

int ld_wrap_error(const char *fmt, ...) {
    char prefix[LD_ERR_CAP], old[LD_ERR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, g_err, sizeof old);
    snprintf(g_err, sizeof g_err, "%s: %s", prefix, old[0] ? old : "unknown error");
    sanitize(g_err);
    return -1;
}

const char *ld_last_error(void) { return g_err[0] ? g_err : "unknown error"; }
void ld_clear_error(void) { g_err[0] = 0; }
