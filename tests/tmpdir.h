/* tmpdir.h — a test program's scratch directory, shared by the tests that
 * write files: tmpdir_make("deploy") makes $TMPDIR/tern_deploy_XXXXXX (or
 * under /tmp) and leaves its path in `tmpdir`; tmpdir_teardown, the cmocka
 * group teardown, removes it with everything in it. */
#ifndef TERN_TESTS_TMPDIR_H
#define TERN_TESTS_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

/* rm -r of dir (symlinks removed, not followed). */
static void tmpdir_remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) tmpdir_remove_tree(path);
        else unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* tmpdir = a new empty directory tern_<name>_XXXXXX; 0 on success. */
static int tmpdir_make(const char *name) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/tern_%s_XXXXXX", base && *base ? base : "/tmp", name);
    return mkdtemp(tmpdir) ? 0 : -1;
}

/* path's contents become text; 0, or -1 when it cannot be written. */
static inline int tmpdir_write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int tmpdir_teardown(void **state) {
    (void)state;
    tmpdir_remove_tree(tmpdir);
    return 0;
}

#endif
