/* fsutil.h — internal: the file-system steps tern's writers share, so every
 * file that replaces results is written the same crash-safe way. */
#ifndef TERN_IO_FSUTIL_H
#define TERN_IO_FSUTIL_H

#include <stddef.h>

#include "tern/status.h"

/* "<path>.tmp.<pid>.<n>" into tmp (cap bytes): unique within this process. */
void tern_fs_tmp_name(char *tmp, size_t cap, const char *path);

/* Replace path by data[0..size) atomically: a fresh temporary file in the
 * same directory (O_EXCL), write, fsync, rename over path, fsync the
 * directory. On failure path is untouched and no temporary file remains;
 * TERN_ERR_IO naming path and the step. */
tern_status tern_fs_write_atomic(const char *path, const void *data, size_t size);

/* mkdir -p dir, and check it is a writable directory; TERN_ERR_IO
 * "DIR: cannot create the <what>: why" on failure. */
tern_status tern_fs_mkdirs(const char *dir, const char *what);

#endif
