/* tern_portable_files.h — the portable runtime's sources (tern_portable.h,
 * tern_portable_dsp.h, tern_run.h, tern_run.c), embedded into libtern at
 * build time (embed.cmake), for the C export. Internal to libtern. */
#ifndef TERN_PORTABLE_FILES_H
#define TERN_PORTABLE_FILES_H

#include <stddef.h>

typedef struct tern_portable_file {
    const char *name;            /* "tern_run.c" */
    const unsigned char *data;   /* its bytes (a NUL follows them) */
    size_t size;
} tern_portable_file;

extern const tern_portable_file tern_portable_files[];
extern const int tern_portable_n_files;

#endif
