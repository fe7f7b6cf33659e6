/* fsutil.c — atomic file replacement and mkdir -p (fsutil.h). */
#include "io/fsutil.h"

#include <errno.h>
#include <fcntl.h>
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

/* fsync the directory holding `path`, so the rename itself is durable. */
static tern_status sync_dir(const char *path) {
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

static atomic_ulong tmp_seq;

/* "<path>.tmp.<pid>.<n>": unique within this process, and across processes
 * while the pid lives; the O_EXCL open catches the rest. */
void tern_fs_tmp_name(char *tmp, size_t cap, const char *path) {
    snprintf(tmp, cap, "%s.tmp.%ld.%lu", path, (long)getpid(), (unsigned long)atomic_fetch_add(&tmp_seq, 1));
}

tern_status tern_fs_write_atomic(const char *path, const void *data, size_t size) {
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
            st = sync_dir(path);
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

