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

/* fsync the directory holding path, so a rename into it is durable; some
 * file systems cannot (EINVAL), and there the rename stands. TERN_ERR_IO
 * "PATH: saved, but cannot fsync directory ..." on failure. */
tern_status tern_fs_sync_dir(const char *path);

/* mkdir -p dir, and check it is a writable directory; TERN_ERR_IO
 * "DIR: cannot create the <what>: why" on failure. */
tern_status tern_fs_mkdirs(const char *dir, const char *what);

/* rm -r path: a directory tree (symbolic links are removed, never
 * followed) or a file; 0, or -1 with errno set by the first failure. */
int tern_fs_remove_tree(const char *path);

/* Put directory `fresh` in the place of `dir`, whole: a rename when dir is
 * absent or empty; else the two are exchanged atomically (renameat2's
 * RENAME_EXCHANGE; where the file system lacks it, dir is first renamed to
 * "<dir>.old.<pid>...", so a crash leaves both trees, never neither) and the
 * old tree is then removed. On failure dir is as it was; TERN_ERR_IO naming
 * dir and the step. */
tern_status tern_fs_replace_dir(const char *fresh, const char *dir);

#endif
