/* fsutil.c — atomic file and directory replacement, mkdir -p, rm -r (fsutil.h). */
#define _GNU_SOURCE /* renameat2 */
#include "io/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* write(2) all of buf, through short writes and signals. */
static int write_fully(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

tern_status tern_fs_sync_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return tern_error(TERN_ERR_NOMEM, "%s: out of memory", path);
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    tern_status st = TERN_OK;
    /* Some file systems cannot fsync a directory (EINVAL); the rename stands. */
    if (fd < 0 || (fsync(fd) != 0 && errno != EINVAL))
        st = tern_error(TERN_ERR_IO, "%s: saved, but cannot fsync directory %s (%s); it may not survive a crash", path,
                        dir, strerror(errno));
    if (fd >= 0) close(fd);
    free(copy);
    return st;
}

static const char *kind_of(mode_t m) {
    return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO (named pipe)" : S_ISSOCK(m) ? "a socket"
         : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device" : "not a plain file";
}

tern_status tern_fs_open_regular(const char *path, int *fd, long long *size) {
    *fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (*fd < 0) {
        int e = errno;
        struct stat lsb;
        if (e == ENOENT && lstat(path, &lsb) == 0 && S_ISLNK(lsb.st_mode))
            return tern_error(TERN_ERR_IO, "%s: cannot open: a symbolic link to a missing file", path);
        return tern_error(TERN_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat sb;
    tern_status st = TERN_OK;
    if (fstat(*fd, &sb) != 0) st = tern_error(TERN_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode)) st = tern_error(TERN_ERR_IO, "%s: is %s, not a regular file", path, kind_of(sb.st_mode));
    else if (fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) & ~O_NONBLOCK) != 0)
        st = tern_error(TERN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (st != TERN_OK) {
        close(*fd);
        *fd = -1;
        return st;
    }
    *size = (long long)sb.st_size;
    return TERN_OK;
}

tern_status tern_fs_fopen_regular(const char *path, const char *mode, FILE **f, long long *size) {
    int fd = -1;
    long long n = 0;
    tern_status st = tern_fs_open_regular(path, &fd, &n);
    if (st) return st;
    if (!(*f = fdopen(fd, mode))) {
        int e = errno;
        close(fd);
        return tern_error(TERN_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    if (size) *size = n;
    return TERN_OK;
}

static atomic_ulong tmp_seq;

/* "<path>.tmp.<pid>.<n>": unique within this process, and across processes
 * while the pid lives; the O_EXCL open catches the rest. */
int tern_fs_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

void tern_fs_tmp_name(char *tmp, size_t cap, const char *path) {
    snprintf(tmp, cap, "%s.tmp.%ld.%lu", path, (long)getpid(), (unsigned long)atomic_fetch_add(&tmp_seq, 1));
}

tern_status tern_fs_check_replaceable(const char *path) {
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return tern_error(TERN_ERR_IO, "%s: is %s; tern writes its results only to regular files", path,
                          kind_of(sb.st_mode));
    return TERN_OK;
}

tern_status tern_fs_write_atomic(const char *path, const void *data, size_t size) {
    tern_status ok = tern_fs_check_replaceable(path);
    if (ok) return ok;
    size_t cap = strlen(path) + 48;
    char *tmp = malloc(cap);
    if (!tmp) return tern_error(TERN_ERR_NOMEM, "%s: out of memory", path);
    /* A fresh name in the destination's directory (same file system, so the
     * rename is atomic); O_EXCL never clobbers a stranger's file. */
    int fd = -1;
    for (int tries = 0; tries < 64 && fd < 0; tries++) {
        tern_fs_tmp_name(tmp, cap, path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    tern_status st = TERN_OK;
    if (fd < 0)
        st = tern_error(TERN_ERR_IO, "%s: cannot create the temporary file %s (%s)", path, tmp, strerror(errno));
    else {
        if (write_fully(fd, data, size) != 0)
            st = tern_error(TERN_ERR_IO, "%s: cannot write %zu bytes to %s (%s)", path, size, tmp, strerror(errno));
        else if (fsync(fd) != 0)
            st = tern_error(TERN_ERR_IO, "%s: cannot fsync %s (%s)", path, tmp, strerror(errno));
        if (close(fd) != 0 && !st)
            st = tern_error(TERN_ERR_IO, "%s: cannot close %s (%s)", path, tmp, strerror(errno));
        if (!st && rename(tmp, path) != 0)
            st = tern_error(TERN_ERR_IO, "%s: cannot rename %s over it (%s)", path, tmp, strerror(errno));
        if (st)
            unlink(tmp);
        else
            st = tern_fs_sync_dir(path);
    }
    free(tmp);
    return st;
}

tern_status tern_fs_mkdirs(const char *dir, const char *what) {
    if (!dir[0]) return tern_error(TERN_ERR_IO, "the %s path is empty", what);
    char *p = strdup(dir);
    if (!p) return tern_error(TERN_ERR_NOMEM, "%s: out of memory", dir);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            tern_status st = TERN_OK;
            struct stat sb;
            if (mkdir(p, 0777) && errno != EEXIST)
                st = tern_error(TERN_ERR_IO, "%s: cannot create the %s: %s", p, what, strerror(errno));
            else if (stat(p, &sb) || !S_ISDIR(sb.st_mode))
                st = tern_error(TERN_ERR_IO, "%s: cannot create the %s: not a directory", p, what);
            if (st) {
                free(p);
                return st;
            }
            *s = c;
            if (!c) break;
        }
    }
    free(p);
    if (access(dir, W_OK | X_OK))
        return tern_error(TERN_ERR_IO, "%s: the %s is not writable: %s", dir, what, strerror(errno));
    return TERN_OK;
}


static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int tern_fs_remove_tree(const char *path) {
    /* Depth first, without following links or leaving the file system. */
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

tern_status tern_fs_replace_dir(const char *fresh, const char *dir) {
    /* Absent or empty: rename(2) replaces it in one step. */
    if (rename(fresh, dir) == 0) return tern_fs_sync_dir(dir);
    if (errno != EEXIST && errno != ENOTEMPTY)
        return tern_error(TERN_ERR_IO, "%s: cannot move %s into place: %s", dir, fresh, strerror(errno));
    size_t cap = strlen(dir) + 48;
    char *old = malloc(cap);
    if (!old) return tern_error(TERN_ERR_NOMEM, "%s: out of memory", dir);
    tern_status st = TERN_OK;
#ifdef RENAME_EXCHANGE
    int exchanged = renameat2(AT_FDCWD, fresh, AT_FDCWD, dir, RENAME_EXCHANGE) == 0;
    int unsupported = !exchanged && (errno == EINVAL || errno == ENOSYS);
#else
    int exchanged = 0, unsupported = 1;
#endif
    if (exchanged) {
        snprintf(old, cap, "%s", fresh); /* the old tree now has the fresh one's name */
    } else if (!unsupported) {
        st = tern_error(TERN_ERR_IO, "%s: cannot exchange it with %s: %s", dir, fresh, strerror(errno));
    } else {
        snprintf(old, cap, "%s.old.%ld", dir, (long)getpid());
        if (rename(dir, old) != 0)
            st = tern_error(TERN_ERR_IO, "%s: cannot move it aside to %s: %s", dir, old, strerror(errno));
        else if (rename(fresh, dir) != 0) {
            st = tern_error(TERN_ERR_IO, "%s: cannot move %s into place: %s", dir, fresh, strerror(errno));
            rename(old, dir); /* put it back */
        }
    }
    if (!st) {
        st = tern_fs_sync_dir(dir);
        tern_fs_remove_tree(old); /* the replaced tree: a leftover is harmless */
    }
    free(old);
    return st;
}
