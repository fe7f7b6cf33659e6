/* idx.c — the idx format of MNIST and Fashion-MNIST, plain or gzip.
 *
 * An idx file is a 4-byte magic 0x0000TTDD (TT = 0x08: unsigned bytes,
 * DD = number of dims), DD big-endian uint32 dims, then the bytes in
 * row-major order. Images are idx3 (N, H, W), labels idx1 (N). zlib's gzread
 * reads plain files transparently, so one path serves both encodings. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data_impl.h"
#include "io/fsutil.h"

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_MAX_SIDE 65535u
#define IDX_CHUNK (1u << 16)

static const char *const digit_names[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

static tern_status idx_open(gzFile *f, const char *path, long long *size) {
    int fd;
    tern_status st = tern_fs_open_regular(path, &fd, size);
    if (st != TERN_OK) return st;
    *f = gzdopen(fd, "rb");
    if (!*f) {
        close(fd);
        return tern_error(TERN_ERR_NOMEM, "%s: cannot open: out of memory", path);
    }
    gzbuffer(*f, 1u << 17);
    return TERN_OK;
}

/* Read up to n bytes; *got = bytes read. Fails only on a read or gzip error. */
static tern_status idx_read(gzFile f, const char *path, unsigned char *buf, size_t n, size_t *got) {
    *got = 0;
    while (*got < n) {
        size_t want = n - *got < IDX_CHUNK ? n - *got : IDX_CHUNK;
        int r = gzread(f, buf + *got, (unsigned)want);
        if (r < 0) {
            /* Z_ERRNO: the OS failed; else the gzip stream is corrupt. */
            int zerr = 0;
            const char *msg = gzerror(f, &zerr);
            return tern_error(zerr == Z_ERRNO ? TERN_ERR_IO : TERN_ERR_FORMAT, "%s: read failed: %s", path, msg);
        }
        if (r == 0) break;
        *got += (size_t)r;
    }
    return TERN_OK;
}

static uint32_t be32(const unsigned char *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

/* Read and check the magic and the ndims big-endian dims. */
static tern_status idx_header(gzFile f, const char *path, uint32_t magic, int ndims, uint32_t *dims) {
    unsigned char b[16];
    size_t need = 4 + 4 * (size_t)ndims, got;
    tern_status st = idx_read(f, path, b, need, &got);
    if (st != TERN_OK) return st;
    if (got < 4)
        return tern_error(TERN_ERR_FORMAT, "%s: truncated: %zu bytes, too short for an idx header", path, got);
    uint32_t m = be32(b);
    if (m != magic) {
        const char *hint = m == IDX_MAGIC_LABELS   ? " (that of a labels file)"
                           : m == IDX_MAGIC_IMAGES ? " (that of an images file)"
                                                   : "";
        return tern_error(TERN_ERR_FORMAT, "%s: wrong magic 0x%08x%s, expected 0x%08x (idx%d %s)", path, m, hint,
                          magic, ndims, ndims == 3 ? "images" : "labels");
    }
    if (got < need)
        return tern_error(TERN_ERR_FORMAT, "%s: truncated: the idx header needs %zu bytes, the file has %zu", path,
                          need, got);
    for (int i = 0; i < ndims; i++) dims[i] = be32(b + 4 + 4 * i);
    if (dims[0] == 0 || dims[0] > TERN_DATA_MAX_N)
        return tern_error(TERN_ERR_FORMAT, "%s: header declares %u items, expected 1..%d", path, dims[0],
                          TERN_DATA_MAX_N);
    for (int i = 1; i < ndims; i++)
        if (dims[i] == 0 || dims[i] > IDX_MAX_SIDE)
            return tern_error(TERN_ERR_FORMAT, "%s: header dim %d is %u, expected 1..%u", path, i, dims[i],
                              IDX_MAX_SIDE);
    return TERN_OK;
}

/* Before anything is allocated for the payload the header declares (need
 * bytes of `what` after hdr header bytes), the file must be able to hold
 * it: a plain file exactly, a gzip file within deflate's largest ratio
 * (1032:1). A crafted header then costs no memory. */
static tern_status idx_check_size(gzFile f, const char *path, long long size, unsigned hdr, unsigned long long need,
                                  const char *what) {
    long long have = size - hdr;
    if (gzdirect(f) && have < 0) have = 0;
    if (gzdirect(f) && (unsigned long long)have < need)
        return tern_error(TERN_ERR_FORMAT, "%s: truncated: the header declares %llu %s bytes, the file has %lld", path,
                          need, what, have);
    if (!gzdirect(f) && need / 1032 > (unsigned long long)size + 64)
        return tern_error(TERN_ERR_FORMAT, "%s: the header declares %llu %s bytes, more than a gzip file of %lld bytes holds",
                          path, need, what, size);
    return TERN_OK;
}

/* After the declared payload the file must end. */
static tern_status idx_expect_eof(gzFile f, const char *path, uint32_t n, const char *what) {
    unsigned char extra;
    size_t got;
    tern_status st = idx_read(f, path, &extra, 1, &got);
    if (st != TERN_OK) return st;
    if (got)
        return tern_error(TERN_ERR_FORMAT, "%s: trailing bytes after the %u %s the header declares", path, n, what);
    return TERN_OK;
}

/* Pixels as p/255 into out (n*h*w floats), read in chunks. */
static tern_status idx_read_pixels(gzFile f, const char *path, float *out, const uint32_t *dims) {
    size_t total = (size_t)dims[0] * dims[1] * dims[2], done = 0;
    unsigned char buf[IDX_CHUNK];
    while (done < total) {
        size_t want = total - done < IDX_CHUNK ? total - done : IDX_CHUNK, got;
        tern_status st = idx_read(f, path, buf, want, &got);
        if (st != TERN_OK) return st;
        for (size_t i = 0; i < got; i++) out[done + i] = (float)buf[i] / 255.0f;
        done += got;
        if (got < want)
            return tern_error(TERN_ERR_FORMAT,
                              "%s: truncated: header declares %u images of %ux%u (%zu pixel bytes), the file has %zu",
                              path, dims[0], dims[1], dims[2], total, done);
    }
    return idx_expect_eof(f, path, dims[0], "images");
}

static tern_status idx_read_labels(gzFile f, const char *path, int *out, uint32_t n) {
    size_t done = 0;
    unsigned char buf[IDX_CHUNK];
    while (done < n) {
        size_t want = n - done < IDX_CHUNK ? n - done : IDX_CHUNK, got;
        tern_status st = idx_read(f, path, buf, want, &got);
        if (st != TERN_OK) return st;
        for (size_t i = 0; i < got; i++) {
            if (buf[i] > 9)
                return tern_error(TERN_ERR_FORMAT, "%s: label %d at index %zu is outside 0..9", path, buf[i],
                                  done + i);
            out[done + i] = buf[i];
        }
        done += got;
        if (got < want)
            return tern_error(TERN_ERR_FORMAT, "%s: truncated: header declares %u labels, the file has %zu", path, n,
                              done);
    }
    return idx_expect_eof(f, path, n, "labels");
}

tern_status tern_idx_load(tern_dataset *ds, const char *images_path, const char *labels_path) {
    if (!ds || !images_path || !labels_path) return tern_error(TERN_ERR_ARG, "idx: NULL dataset or path");
    if (!tern__dataset_empty(ds))
        return tern_error(TERN_ERR_ARG, "idx: dataset already holds data; tern_dataset_free() it first");
    gzFile fi = NULL, fl = NULL;
    uint32_t idims[3] = {0}, ldims[1] = {0};
    long long isize = 0, lsize = 0;
    tern_status st = idx_open(&fi, images_path, &isize);
    if (st == TERN_OK) st = idx_header(fi, images_path, IDX_MAGIC_IMAGES, 3, idims);
    if (st == TERN_OK) st = idx_check_size(fi, images_path, isize, 16, (unsigned long long)idims[0] * idims[1] * idims[2], "pixel");
    if (st == TERN_OK) st = idx_open(&fl, labels_path, &lsize);
    if (st == TERN_OK) st = idx_header(fl, labels_path, IDX_MAGIC_LABELS, 1, ldims);
    if (st == TERN_OK) st = idx_check_size(fl, labels_path, lsize, 8, ldims[0], "label");
    if (st == TERN_OK && ldims[0] != idims[0])
        st = tern_error(TERN_ERR_FORMAT, "%s: %u labels, but %s has %u images", labels_path, ldims[0], images_path,
                        idims[0]);
    if (st == TERN_OK) st = tern__dataset_alloc(ds, images_path, (int)idims[0], 1, (int)idims[1], (int)idims[2]);
    if (st == TERN_OK) st = idx_read_pixels(fi, images_path, ds->images, idims);
    if (st == TERN_OK) st = idx_read_labels(fl, labels_path, ds->labels, ldims[0]);
    if (fi) gzclose(fi);
    if (fl) gzclose(fl);
    if (st != TERN_OK) {
        tern_dataset_free(ds);
        return st;
    }
    snprintf(ds->name, sizeof ds->name, "idx");
    tern__dataset_set_classes(ds, digit_names, 10);
    return TERN_OK;
}
