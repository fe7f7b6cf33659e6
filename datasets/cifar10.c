/* cifar10.c — the CIFAR-10 binary format.
 *
 * A file is a sequence of 3073-byte records: 1 label byte (0..9), then a
 * 32x32 image as 1024 R, 1024 G, 1024 B bytes, each plane row-major — which
 * is already (C, H, W), so a record maps onto the dataset with no transpose.
 * The official split is data_batch_1..5.bin (10000 records each) for train
 * and test_batch.bin for test; any number of records per file is accepted. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "data_impl.h"
#include "io/fsutil.h"

#define CIFAR_SIDE 32
#define CIFAR_PIXELS (3 * CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_CHUNK 16  /* records per fread: a 48 KiB stack buffer */

static const char *const cifar10_names[10] = {"airplane", "automobile", "bird",  "cat",  "deer",
                                              "dog",      "frog",       "horse", "ship", "truck"};

/* Number of records in path, from its size. */
static tern_status cifar_count(const char *path, int *records) {
    int fd;
    long long size;
    tern_status st = tern_fs_open_regular(path, &fd, &size);
    if (st != TERN_OK) return st;
    close(fd);
    if (size == 0) return tern_error(TERN_ERR_FORMAT, "%s: empty file, expected 3073-byte CIFAR-10 records", path);
    if (size % CIFAR_RECORD != 0)
        return tern_error(TERN_ERR_FORMAT,
                          "%s: size %lld is not a multiple of the 3073-byte CIFAR-10 record (%lld records and %lld "
                          "bytes over)",
                          path, size, size / CIFAR_RECORD, size % CIFAR_RECORD);
    if (size / CIFAR_RECORD > TERN_DATA_MAX_N)
        return tern_error(TERN_ERR_FORMAT, "%s: %lld records, more than tern reads (%d)", path, size / CIFAR_RECORD,
                          TERN_DATA_MAX_N);
    *records = (int)(size / CIFAR_RECORD);
    return TERN_OK;
}

/* Read `records` records of path into images (records,3,32,32) and labels. */
static tern_status cifar_read(const char *path, int records, float *images, int *labels) {
    unsigned char buf[CIFAR_CHUNK * CIFAR_RECORD];
    int fd;
    long long size;
    tern_status st = tern_fs_open_regular(path, &fd, &size);
    if (st != TERN_OK) return st;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return tern_error(TERN_ERR_NOMEM, "%s: cannot open: %s", path, strerror(errno));
    }
    for (int done = 0; done < records && st == TERN_OK;) {
        int want = records - done < CIFAR_CHUNK ? records - done : CIFAR_CHUNK;
        size_t got = fread(buf, CIFAR_RECORD, (size_t)want, f);
        if (got < (size_t)want) {
            st = ferror(f) ? tern_error(TERN_ERR_IO, "%s: read failed at record %d: %s", path, done + (int)got,
                                        strerror(errno))
                           : tern_error(TERN_ERR_FORMAT, "%s: truncated: ends after %d of %d records", path,
                                        done + (int)got, records);
            break;
        }
        for (int r = 0; r < want; r++) {
            const unsigned char *rec = buf + (size_t)r * CIFAR_RECORD;
            int i = done + r;
            if (rec[0] > 9) {
                st = tern_error(TERN_ERR_FORMAT, "%s: label %d at index %d is outside 0..9", path, rec[0], i);
                break;
            }
            labels[i] = rec[0];
            float *img = images + (size_t)i * CIFAR_PIXELS;  /* (3, 32, 32) */
            for (int k = 0; k < CIFAR_PIXELS; k++) img[k] = (float)rec[1 + k] / 255.0f;
        }
        done += want;
    }
    fclose(f);
    return st;
}

tern_status tern_cifar10_load(tern_dataset *ds, const char *const *paths, int n_paths) {
    if (!ds || !paths || n_paths < 1) return tern_error(TERN_ERR_ARG, "cifar10: no dataset or no files given");
    if (!tern__dataset_empty(ds))
        return tern_error(TERN_ERR_ARG, "cifar10: dataset already holds data; tern_dataset_free() it first");
    long long total = 0;
    for (int i = 0; i < n_paths; i++) {
        if (!paths[i]) return tern_error(TERN_ERR_ARG, "cifar10: file %d of %d is NULL", i, n_paths);
        int records = 0;
        tern_status st = cifar_count(paths[i], &records);
        if (st != TERN_OK) return st;
        total += records;
        if (total > TERN_DATA_MAX_N)
            return tern_error(TERN_ERR_FORMAT, "%s: the files hold more than %d records together", paths[i],
                              TERN_DATA_MAX_N);
    }
    tern_status st = tern__dataset_alloc(ds, paths[0], (int)total, 3, CIFAR_SIDE, CIFAR_SIDE);
    if (st != TERN_OK) return st;
    int at = 0;
    for (int i = 0; i < n_paths && st == TERN_OK; i++) {
        int records = 0;
        st = cifar_count(paths[i], &records);
        if (st == TERN_OK && at + records > ds->n)
            st = tern_error(TERN_ERR_IO, "%s: grew while being read", paths[i]);
        if (st == TERN_OK) st = cifar_read(paths[i], records, ds->images + (size_t)at * CIFAR_PIXELS, ds->labels + at);
        at += records;
    }
    if (st == TERN_OK && at != ds->n) st = tern_error(TERN_ERR_IO, "%s: changed while being read", paths[n_paths - 1]);
    if (st != TERN_OK) {
        tern_dataset_free(ds);
        return st;
    }
    snprintf(ds->name, sizeof ds->name, "cifar10");
    tern__dataset_set_classes(ds, cifar10_names, 10);
    return TERN_OK;
}
