/* status.c — thread-local error message, SQLite style. */
#include "tern/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char errmsg[512];

static const char *const status_names[TERN_STATUS_COUNT] = {
    [TERN_OK] = "ok",
    [TERN_ERR_ARG] = "arg",
    [TERN_ERR_SHAPE] = "shape",
    [TERN_ERR_NOMEM] = "nomem",
    [TERN_ERR_IO] = "io",
    [TERN_ERR_FORMAT] = "format",
    [TERN_ERR_CONFIG] = "config",
    [TERN_ERR_NUMERIC] = "numeric",
    [TERN_ERR_UNSUPPORTED] = "unsupported",
};

tern_status tern_error(tern_status code, const char *fmt, ...) {
    if (code == TERN_OK || !fmt) {
        errmsg[0] = '\0';
        return code;
    }
    /* Format into a copy first: callers may pass tern_errmsg() itself as an
     * argument, to wrap the cause in context, and vsnprintf must not read
     * the buffer it writes. */
    char msg[sizeof errmsg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* A message is one line: control characters from user text (a name or
     * path with a newline) are written as C escapes, cut where they no
     * longer fit. */
    size_t k = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        char esc[5];
        int n = 1;
        esc[0] = (char)*p;
        if (*p < 0x20 || *p == 0x7f) {
            const char *named = *p == '\n' ? "\\n" : *p == '\r' ? "\\r" : *p == '\t' ? "\\t" : NULL;
            n = named ? snprintf(esc, sizeof esc, "%s", named) : snprintf(esc, sizeof esc, "\\x%02x", *p);
        }
        if (k + (size_t)n >= sizeof errmsg) break;
        memcpy(errmsg + k, esc, (size_t)n);
        k += (size_t)n;
    }
    errmsg[k] = '\0';
    return code;
}

const char *tern_errmsg(void) { return errmsg; }

tern_status tern_name_parse(tern_status code, const char *what, const char *const *names, int n, const char *name,
                            int *index) {
    for (int i = 0; name && i < n; i++)
        if (!strcmp(names[i], name)) {
            *index = i;
            return TERN_OK;
        }
    char list[256] = "";
    size_t k = 0;
    for (int i = 0; i < n && k < sizeof list; i++)
        k += (size_t)snprintf(list + k, sizeof list - k, "%s%s", i ? ", " : "", names[i]);
    return tern_error(code, "unknown %s '%s' (%s)", what, name ? name : "(null)", list);
}

void tern_error_clear(void) { errmsg[0] = '\0'; }

const char *tern_status_name(tern_status code) {
    if ((unsigned)code >= TERN_STATUS_COUNT) return "unknown";
    return status_names[code];
}
