/* alloc.c — the dataset struct: empty, allocated, freed, named classes;
 * and a whole file read into memory.
 * The readers (idx.c, cifar10.c) fill datasets with these helpers, and
 * dataset.c calls the readers: this file depends on neither. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "data_impl.h"
#include "io/fsutil.h"

void tern_dataset_init(tern_dataset *ds) {
    memset(ds, 0, sizeof *ds);
    for (int k = 0; k < TERN_DATA_MAX_CHANNELS; k++) ds->std[k] = 1.0f;
}

void tern_dataset_free(tern_dataset *ds) {
    if (!ds) return;
    free(ds->images);
    free(ds->labels);
    tern_dataset_init(ds);
}

int tern__dataset_empty(const tern_dataset *ds) { return !ds->images && !ds->labels && ds->n == 0; }

tern_status tern__dataset_alloc(tern_dataset *ds, const char *who, int n, int c, int h, int w) {
    tern_dataset_init(ds);
    size_t count = (size_t)n * (size_t)c * (size_t)h * (size_t)w;
    if (count / (size_t)n / (size_t)c / (size_t)h != (size_t)w || count > SIZE_MAX / sizeof(float))
        return tern_error(TERN_ERR_NOMEM, "%s: %d images of (%d,%d,%d) overflow the address space", who, n, c, h, w);
    ds->images = malloc(count * sizeof(float));
    ds->labels = malloc((size_t)n * sizeof(int));
    if (!ds->images || !ds->labels) {
        tern_dataset_free(ds);
        return tern_error(TERN_ERR_NOMEM, "%s: cannot allocate %zu MiB for %d images of (%d,%d,%d)", who,
                          count * sizeof(float) >> 20, n, c, h, w);
    }
    ds->n = n;
    ds->c = c;
    ds->h = h;
    ds->w = w;
    return TERN_OK;
}

void tern__dataset_set_classes(tern_dataset *ds, const char *const *names, int n_classes) {
    ds->n_classes = n_classes;
    for (int i = 0; i < n_classes && i < TERN_DATA_MAX_CLASSES; i++)
        snprintf(ds->class_names[i], TERN_DATA_NAME_LEN, "%s", names[i]);
}

tern_status tern__data_read_file(const char *path, unsigned char **p, size_t *n) {
    int fd;
    long long size;
    *p = NULL, *n = 0;
    tern_status st = tern_fs_open_regular(path, &fd, &size);
    if (st) return st;
    unsigned char *b = malloc(size > 0 ? (size_t)size : 1);
    if (!b) st = tern_error(TERN_ERR_NOMEM, "%s: cannot read %lld bytes into memory", path, size);
    for (size_t got = 0; !st && got < (size_t)size;) {
        ssize_t r = read(fd, b + got, (size_t)size - got);
        if (r <= 0) st = tern_error(TERN_ERR_IO, "%s: read failed after %zu of %lld bytes", path, got, size);
        else got += (size_t)r;
    }
    close(fd);
    if (st) free(b);
    else *p = b, *n = (size_t)size;
    return st;
}
