/* fsutil.h — internal: the file-system steps tern's writers share, so every
 * file that replaces results is written the same crash-safe way. */
#ifndef TERN_IO_FSUTIL_H
#define TERN_IO_FSUTIL_H

#include <stddef.h>
#include <stdio.h>

#include "tern/status.h"

/* Open path for reading without blocking (a FIFO in place of a file must
 * not hang tern) and check that it is a regular file: *fd open (blocking
 * again) and *size its size; else TERN_ERR_IO "PATH: is a directory, not a
 * regular file" (a FIFO, a socket, ...) or "PATH: cannot open: why" (a
 * dangling symbolic link, a symbolic link loop, ...). Every reader of a path
 * a user gives opens it through here. */
tern_status tern_fs_open_regular(const char *path, int *fd, long long *size);

/* The same as a stdio stream opened with `mode` ("r" or "rb"); size may be NULL. */
tern_status tern_fs_fopen_regular(const char *path, const char *mode, FILE **f, long long *size);

/* 1 when something is at path (stat succeeds, through symbolic links), else 0. */
int tern_fs_exists(const char *path);

/* "<path>.tmp.<pid>.<n>" into tmp (cap bytes): unique within this process. */
void tern_fs_tmp_name(char *tmp, size_t cap, const char *path);

/* OK when path is absent or a regular file (also through a symbolic link);
 * else TERN_ERR_IO "PATH: is a FIFO (named pipe); tern writes ...": a
 * rename over a device, a FIFO or a directory would replace it with a file. */
tern_status tern_fs_check_replaceable(const char *path);

/* Replace path by data[0..size) atomically (path must pass
 * tern_fs_check_replaceable): a fresh temporary file in the
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
