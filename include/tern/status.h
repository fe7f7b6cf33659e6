/* tern/status.h — status codes and error messages.
 *
 * Library code never prints and never exits. A function that can fail
 * returns a tern_status; on failure it has recorded a one-line message
 * (thread-local) that names the op or file and what is wrong, e.g.
 *   "linear: input (8,784) does not match weight (256,780)".
 * Callers fetch it with tern_errmsg(). */
#ifndef TERN_STATUS_H
#define TERN_STATUS_H

#include "tern/api.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tern_status {
    TERN_OK = 0,
    TERN_ERR_ARG,         /* a bad argument (NULL, out of range, unknown name) */
    TERN_ERR_SHAPE,       /* tensor shapes that do not fit together */
    TERN_ERR_NOMEM,       /* an allocation failed or a fixed capacity was exceeded */
    TERN_ERR_IO,          /* a file could not be opened, read or written */
    TERN_ERR_FORMAT,      /* a file's contents are malformed (magic, size, version) */
    TERN_ERR_CONFIG,      /* a configuration is malformed or inconsistent */
    TERN_ERR_NUMERIC,     /* NaN or Inf where a finite value is required */
    TERN_ERR_UNSUPPORTED, /* a valid request this build or CPU cannot serve */
    TERN_STATUS_COUNT
} tern_status;

/* Record a printf-style message for `code` and return `code`. Passing TERN_OK
 * clears the message. Use as: return tern_error(TERN_ERR_SHAPE, "op: ..."); an
 * argument may be tern_errmsg() itself, to wrap a cause in context. */
TERN_API tern_status tern_error(tern_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The last recorded message on this thread ("" when none). */
TERN_API const char *tern_errmsg(void);

/* A short stable name for a status, its enum name in lower case without
 * the prefix: "ok", "arg", "shape", "nomem", "io", ...; "unknown" out of range. */
TERN_API const char *tern_status_name(tern_status code);

/* The index of `name` in names[0..n) into *index; else `code`, with the
 * message "unknown <what> '<name>' (<names[0]>, <names[1]>, ...)". The
 * *_parse functions of the modules' name tables are built on it. */
TERN_API tern_status tern_name_parse(tern_status code, const char *what, const char *const *names, int n,
                                     const char *name, int *index);

/* Forget the last message. */
TERN_API void tern_error_clear(void);

#ifdef __cplusplus
}
#endif
#endif
