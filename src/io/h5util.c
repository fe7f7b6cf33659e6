/* h5util.c — the HDF5 plumbing tern's checkpoint formats share (h5util.h):
 * quiet error handling, attributes, checksummed datasets, files built in
 * memory and written atomically, and the CRC header checked before HDF5
 * parses a file.
 *
 * Why in memory: HDF5 never writes to disk, so a full disk or a size limit
 * hits our own write(), whose failure we can clean up after, instead of
 * HDF5's close, which leaves a half-closed file that crashes the library at
 * exit. The cost is one in-memory copy of the file while saving (we take
 * over HDF5's buffer rather than copy it). */
#include "io/h5util.h"

#include "io/fsutil.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Largest chunk, in elements (4 MiB of float32): HDF5 caps a chunk at 4 GiB,
 * and fletcher32 is computed per chunk. */
#define CHUNK_MAX_ELEMS ((hsize_t)1 << 20)
#define HEADER_BYTES TERN_H5_HEADER_BYTES

/* ---- HDF5 error handling -------------------------------------------------- */

/* The innermost error of HDF5's last failed API call on this thread. */
static _Thread_local char h5_last[256];

static herr_t record_walk(unsigned n, const H5E_error2_t *e, void *data) {
    (void)data;
    if (n == 0 && e->desc && *e->desc) snprintf(h5_last, sizeof h5_last, "%s", e->desc);
    return 0;
}

/* Installed as HDF5's automatic error handler, which runs when an API call
 * fails, before the stack is cleared by the next call (a cleanup close):
 * it records the error instead of printing it. */
static herr_t record_error(hid_t estack, void *data) {
    (void)data;
    h5_last[0] = '\0';
    H5Ewalk2(estack, H5E_WALK_UPWARD, record_walk, NULL);
    return 0;
}

/* Replace HDF5's stderr printing by record_error, remembering the caller's handler. */
void tern_h5_quiet_begin(tern_h5_quiet *q) {
    q->func = NULL;
    q->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, record_error, NULL);
    h5_last[0] = '\0';
}

void tern_h5_quiet_end(const tern_h5_quiet *q) {
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

/* The recorded cause, e.g. "file signature not found"; for a failed system
 * call only its errno text. */
const char *tern_h5_cause(char *buf, size_t len) {
    snprintf(buf, len, "%s", h5_last[0] ? h5_last : "unknown HDF5 error");
    /* sec2 write/read failures read "file write failed: time = ..., errno = 28,
     * error message = 'No space left on device', buf = ..."; keep the text. */
    const char *m = strstr(buf, "error message = '");
    if (m) {
        m += strlen("error message = '");
        const char *end = strchr(m, '\'');
        size_t n = end ? (size_t)(end - m) : strlen(m);
        memmove(buf, m, n);
        buf[n] = '\0';
    }
    return buf;
}

/* ---- small helpers ------------------------------------------------------ */

/* File access: 1.10 object formats (checksummed metadata and chunk index,
 * readable by HDF5 >= 1.10), and a close that closes every object still
 * open in the file. */
hid_t tern_h5_fapl(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    if (H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) < 0 ||
        H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        H5Pclose(fapl);
        return -1;
    }
#if H5_VERSION_GE(1, 10, 7)
    /* Lock when the file system can, without failing where it cannot (NFS). */
    H5Pset_file_locking(fapl, 1, 1);
#endif
    return fapl;
}

const char *tern_h5_dims_str(int rank, const hsize_t *dims, char *buf, size_t len) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, len - k, "(");
    for (int i = 0; i < rank && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, i ? ",%llu" : "%llu", (unsigned long long)dims[i]);
    if (k < len) snprintf(buf + k, len - k, ")");
    return buf;
}
/* Chunk = the whole dataset, halving its largest dim until it holds at most
 * CHUNK_MAX_ELEMS elements. */
static void chunk_dims(int rank, const hsize_t *dims, hsize_t *chunk) {
    hsize_t n = 1;
    for (int i = 0; i < rank; i++) {
        chunk[i] = dims[i];
        n *= dims[i];
    }
    while (n > CHUNK_MAX_ELEMS) {
        int big = 0;
        for (int i = 1; i < rank; i++)
            if (chunk[i] > chunk[big]) big = i;
        n /= chunk[big];
        chunk[big] = (chunk[big] + 1) / 2;
        n *= chunk[big];
    }
}

/* Scalar attribute `name` of file type ftype from *v (memory type mtype). */
herr_t tern_h5_attr_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp < 0 ? -1 : H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, mtype, v);
    if (a >= 0 && H5Aclose(a) < 0) r = -1;
    if (sp >= 0) H5Sclose(sp);
    return r;
}

/* A fixed-length, NUL-terminated UTF-8 string type of strlen(v) + 1 bytes
 * (config files may hold any UTF-8; h5py decodes by this flag). */
hid_t tern_h5_str_type(const char *v) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return -1;
    if (H5Tset_size(t, strlen(v) + 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0 ||
        H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

herr_t tern_h5_attr_write_str(hid_t loc, const char *name, const char *v) {
    hid_t t = tern_h5_str_type(v);
    if (t < 0) return -1;
    herr_t r = tern_h5_attr_write(loc, name, t, t, v);
    H5Tclose(t);
    return r;
}

herr_t tern_h5_attr_write_vec(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int n, const void *v) {
    hsize_t dim = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    hid_t a = sp < 0 ? -1 : H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, mtype, v);
    if (a >= 0 && H5Aclose(a) < 0) r = -1;
    if (sp >= 0) H5Sclose(sp);
    return r;
}

hid_t tern_h5_dset_write(hid_t loc, const char *name, int rank, const hsize_t *dims, hid_t ftype, hid_t mtype,
                         const void *data, int deflate) {
    hsize_t chunk[H5S_MAX_RANK];
    if (rank < 1 || rank > H5S_MAX_RANK) return -1;
    chunk_dims(rank, dims, chunk);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = -1;
    /* Filters run in the order they are set: deflate, then the checksum of
     * the stored (compressed) bytes. */
    int ok = dcpl >= 0 && sp >= 0 && H5Pset_chunk(dcpl, rank, chunk) >= 0;
    if (ok && deflate > 0) ok = H5Pset_deflate(dcpl, (unsigned)(deflate > 9 ? 9 : deflate)) >= 0;
    if (ok) ok = H5Pset_fletcher32(dcpl) >= 0;
    if (ok) d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d >= 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        H5Dclose(d);
        d = -1;
    }
    if (sp >= 0) H5Sclose(sp);
    if (dcpl >= 0) H5Pclose(dcpl);
    return d;
}

/* zlib's CRC-32 of buf[0..n), fed in pieces that fit its uInt length. */
unsigned long tern_h5_crc(const unsigned char *buf, size_t n) {
    unsigned long crc = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, buf, k);
        buf += k;
        n -= k;
    }
    return crc;
}
/* The core driver's buffer, taken over when HDF5 closes the in-memory file:
 * an image read while the file is open (H5Fget_file_image) still carries
 * the "open for writing" superblock state and fails its checksum on load;
 * the buffer as HDF5 leaves it at close is the finished file. */
typedef struct image_keep {
    void *buf;
    size_t size;
    int closed;
} image_keep;

static void *img_malloc(size_t size, H5FD_file_image_op_t op, void *udata) {
    (void)op;
    (void)udata;
    return malloc(size ? size : 1);
}

static void *img_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op, void *udata) {
    (void)op;
    (void)udata;
    return memcpy(dest, src, size);
}

static void *img_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata) {
    image_keep *k = udata;
    void *p = realloc(ptr, size ? size : 1);
    if (p && op == H5FD_FILE_IMAGE_OP_FILE_RESIZE) {
        k->buf = p;
        k->size = size;
    }
    return p;
}

static herr_t img_free(void *ptr, H5FD_file_image_op_t op, void *udata) {
    image_keep *k = udata;
    if (op == H5FD_FILE_IMAGE_OP_FILE_CLOSE && ptr && ptr == k->buf) {
        k->closed = 1; /* ours now */
        return 0;
    }
    if (ptr == k->buf) k->buf = NULL;
    free(ptr);
    return 0;
}

static void *img_udata_copy(void *udata) { return udata; }
static herr_t img_udata_free(void *udata) {
    (void)udata;
    return 0;
}

/* Where the finished image ends: the end-of-file address in the superblock
 * (HDF5 file format, superblock version 2 and 3, which the 1.10 format
 * bounds give; HDF5 stores it counting the user block, as it compares it
 * with the file's size on open); 0 when the image does not look like that.
 * The core driver's buffer itself is rounded up to its increment. */
static size_t image_end(const unsigned char *img, size_t n) {
    const unsigned char *sb = img + HEADER_BYTES;
    const unsigned w = 8; /* size of offsets, the default */
    if (n < HEADER_BYTES + 12 + 3 * w || memcmp(sb, "\211HDF\r\n\032\n", 8) != 0 || sb[8] < 2 || sb[9] != w) return 0;
    uint64_t base = 0, eof = 0;
    for (unsigned i = 0; i < w; i++) {
        base |= (uint64_t)sb[12 + i] << (8 * i);
        eof |= (uint64_t)sb[12 + 2 * w + i] << (8 * i);
    }
    return base != HEADER_BYTES || eof > n ? 0 : (size_t)eof;
}

/* Build the file in memory (core driver, no backing store) and return its
 * image with the header, malloc'ed, in *image (*size bytes). */
static tern_status build_image(const char *name, const char *mem_name, const tern_h5_format *fmt, size_t size_hint,
                               tern_h5_fill_fn fill, const void *user, void **image, size_t *size) {
    char cause[256];
    *image = NULL;
    image_keep keep = {0};
    H5FD_file_image_callbacks_t cb = {img_malloc, img_memcpy,     img_realloc,   img_free,
                                      img_udata_copy, img_udata_free, &keep};
    hid_t fapl = tern_h5_fapl(), fcpl = H5Pcreate(H5P_FILE_CREATE);
    size_t increment = (size_hint + ((size_t)1 << 16)) & ~(((size_t)1 << 16) - 1);
    if (fapl >= 0 && (H5Pset_fapl_core(fapl, increment, 0) < 0 || H5Pset_file_image_callbacks(fapl, &cb) < 0)) {
        H5Pclose(fapl);
        fapl = -1;
    }
    /* The name only identifies the in-memory file; nothing is created there. */
    tern_h5_writer w = {.file = -1};
    if (fapl >= 0 && fcpl >= 0 && H5Pset_userblock(fcpl, HEADER_BYTES) >= 0)
        w.file = H5Fcreate(mem_name, H5F_ACC_TRUNC, fcpl, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (w.file < 0)
        return tern_error(TERN_ERR_IO, "%s: cannot create the HDF5 file in memory (HDF5: %s)", name,
                          tern_h5_cause(cause, sizeof cause));
    herr_t r = fill(&w, user);
    if (r < 0) tern_h5_cause(cause, sizeof cause);
    if (H5Fclose(w.file) < 0 && r >= 0) {
        snprintf(w.what, sizeof w.what, "the file (close)");
        tern_h5_cause(cause, sizeof cause);
        r = -1;
    }
    size_t n = keep.closed ? image_end(keep.buf, keep.size) : 0;
    if (r >= 0 && (n <= HEADER_BYTES || n > keep.size)) {
        snprintf(w.what, sizeof w.what, "the file image");
        snprintf(cause, sizeof cause, "the in-memory file was not handed over at close, or has no end-of-file address");
        r = -1;
    }
    if (r < 0) {
        if (keep.closed) free(keep.buf);
        return tern_error(TERN_ERR_IO, "%s: cannot build %s (HDF5: %s)", name, w.what, cause);
    }
    unsigned char *img = keep.buf;
    unsigned long crc = tern_h5_crc(img + HEADER_BYTES, n - HEADER_BYTES);
    memset(img, 0, HEADER_BYTES);
    snprintf((char *)img, HEADER_BYTES, "%sversion %d\nbytes %zu\ncrc32 %08lx\n", fmt->magic, fmt->version, n, crc);
    *image = img;
    *size = n;
    return TERN_OK;
}

tern_status tern_h5_save(const char *path, const char *name, const tern_h5_format *fmt, size_t size_hint,
                         tern_h5_fill_fn fill, const void *user, size_t *bytes) {
    if (!name) name = path ? path : "(in memory)";
    size_t cap = strlen(name) + 48;
    char *tmp = malloc(cap);
    if (!tmp) return tern_error(TERN_ERR_NOMEM, "%s: out of memory", name);
    tern_fs_tmp_name(tmp, cap, name);
    void *image = NULL;
    size_t size = 0;
    tern_h5_quiet q;
    tern_h5_quiet_begin(&q);
    tern_status st = build_image(name, tmp, fmt, size_hint, fill, user, &image, &size);
    tern_h5_quiet_end(&q);
    if (st || !path) {
        if (!st && bytes) *bytes = size;
        free(image);
        free(tmp);
        return st;
    }
    st = tern_fs_write_atomic(path, image, size);
    if (!st && bytes) *bytes = size;
    free(image);
    free(tmp);
    return st;
}

/* Read a scalar (or one-element) attribute of class cls into *v of memory
 * type mtype; -1 when missing or of another class. */
int tern_h5_attr_read(hid_t loc, const char *name, H5T_class_t cls, hid_t mtype, void *v) {
    if (H5Aexists(loc, name) <= 0) return -1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    int ok = t >= 0 && sp >= 0 && H5Tget_class(t) == cls && H5Sget_simple_extent_npoints(sp) == 1 &&
             H5Aread(a, mtype, v) >= 0;
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Aclose(a);
    return ok ? 0 : -1;
}

int tern_h5_attr_read_i64(hid_t loc, const char *name, long long *v) {
    return tern_h5_attr_read_int(loc, name, v, NULL, 0);
}

/* An integer attribute read at its own signedness, so that a value outside
 * long long's range is told apart from a missing attribute. */
int tern_h5_attr_read_int(hid_t loc, const char *name, long long *v, char *text, size_t tlen) {
    if (text && tlen) text[0] = '\0';
    if (H5Aexists(loc, name) <= 0) return TERN_H5_ATTR_MISSING;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return TERN_H5_ATTR_MISSING;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    int rc = t >= 0 && sp >= 0 && H5Tget_class(t) == H5T_INTEGER && H5Sget_simple_extent_npoints(sp) == 1
                 ? TERN_H5_ATTR_OK
                 : TERN_H5_ATTR_TYPE;
    if (rc == TERN_H5_ATTR_OK && H5Tget_sign(t) == H5T_SGN_NONE) {
        unsigned long long u = 0;
        if (H5Aread(a, H5T_NATIVE_ULLONG, &u) < 0) rc = TERN_H5_ATTR_TYPE;
        else if (u > (unsigned long long)LLONG_MAX) rc = TERN_H5_ATTR_RANGE;
        else *v = (long long)u;
        if (rc == TERN_H5_ATTR_RANGE && text && tlen) snprintf(text, tlen, "%llu", u);
    } else if (rc == TERN_H5_ATTR_OK && H5Aread(a, H5T_NATIVE_LLONG, v) < 0) {
        rc = TERN_H5_ATTR_TYPE;
    }
    if (rc == TERN_H5_ATTR_OK && text && tlen) snprintf(text, tlen, "%lld", *v);
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Aclose(a);
    return rc;
}

/* A string attribute (fixed or variable length, ASCII or UTF-8, as h5py
 * writes) into buf[len]. The memory type keeps the file's character set:
 * HDF5 converts no string between ASCII and UTF-8. A fixed-length string
 * may fill its whole size or end in NULs: what counts is that its text fits
 * buf with a terminating NUL. */
int tern_h5_attr_read_str(hid_t loc, const char *name, char *buf, size_t len) {
    if (len == 0) return TERN_H5_ATTR_LONG;
    buf[0] = '\0';
    if (H5Aexists(loc, name) <= 0) return TERN_H5_ATTR_MISSING;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return TERN_H5_ATTR_MISSING;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a), mt = -1;
    int rc = t >= 0 && sp >= 0 && H5Tget_class(t) == H5T_STRING && H5Sget_simple_extent_npoints(sp) == 1
                 ? TERN_H5_ATTR_OK
                 : TERN_H5_ATTR_TYPE;
    char *v = NULL;
    if (rc == TERN_H5_ATTR_OK && H5Tis_variable_str(t) > 0) {
        mt = H5Tcopy(H5T_C_S1);
        if (mt < 0 || H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Tset_cset(mt, H5Tget_cset(t)) < 0 ||
            H5Aread(a, mt, &v) < 0 || !v)
            rc = TERN_H5_ATTR_TYPE;
        else if (strlen(v) >= len)
            rc = TERN_H5_ATTR_LONG;
        else
            strcpy(buf, v);
        if (v) H5free_memory(v);
    } else if (rc == TERN_H5_ATTR_OK) {
        /* Fixed length n: read into n + 1 bytes, then measure the text. */
        size_t n = H5Tget_size(t);
        char *tmp = n > 0 && n < ((size_t)1 << 20) ? calloc(n + 1, 1) : NULL;
        if (!tmp || (mt = H5Tcopy(t)) < 0 || H5Aread(a, mt, tmp) < 0)
            rc = TERN_H5_ATTR_TYPE;
        else if (strlen(tmp) >= len)
            rc = TERN_H5_ATTR_LONG;
        else
            strcpy(buf, tmp);
        free(tmp);
    }
    if (mt >= 0) H5Tclose(mt);
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Aclose(a);
    return rc;
}

/* The size and CRC-32 of the bytes after the header, against what the header
 * says; `kind` names the file's format in messages. */
static tern_status check_body(FILE *f, const char *path, const char *kind, const char *hint, unsigned long long size,
                              unsigned long long bytes, unsigned long crc) {
    if (size < bytes)
        return tern_error(TERN_ERR_FORMAT, "%s: damaged %s: truncated to %llu of %llu bytes; %s", path, kind, size, bytes,
                          hint);
    if (size > bytes)
        return tern_error(TERN_ERR_FORMAT, "%s: damaged %s: %llu bytes where its header says %llu; %s", path, kind, size,
                          bytes, hint);
    size_t cap = (size_t)1 << 20;
    unsigned char *buf = malloc(cap);
    if (!buf) return tern_error(TERN_ERR_NOMEM, "%s: out of memory", path);
    tern_status st = TERN_OK;
    unsigned long c = crc32(0L, Z_NULL, 0);
    size_t k;
    if (fseek(f, HEADER_BYTES, SEEK_SET) != 0)
        st = tern_error(TERN_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    while (!st && (k = fread(buf, 1, cap, f)) > 0) c = crc32(c, buf, (uInt)k);
    if (!st && ferror(f))
        st = tern_error(TERN_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    else if (!st && c != crc)
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged %s: CRC-32 is %08lx, its header says %08lx; %s", path, kind, c,
                        crc, hint);
    free(buf);
    return st;
}

/* "version V\nbytes N\ncrc32 X\n" at s: V as text into ver[vlen]; 1 when all
 * three lines are there. */
static int parse_header_lines(const char *s, char *ver, size_t vlen, unsigned long long *bytes, unsigned long *crc) {
    char v[32];
    if (sscanf(s, "version %31[^\n]\nbytes %llu\ncrc32 %lx", v, bytes, crc) != 3 || *bytes < HEADER_BYTES) return 0;
    snprintf(ver, vlen, "%s", v);
    return 1;
}

/* The header is checked with plain reads before HDF5 parses a byte of a file
 * that may be damaged: HDF5 is not hardened against corrupt input (on some
 * damaged metadata it leaks and complains at exit). A file whose first line
 * is not fmt's magic but whose header has tern's version, bytes and crc32
 * lines is a tern file with a damaged (or another format's) first line: its
 * size and CRC are checked all the same, so HDF5 only ever sees an intact
 * body, and the 'format' attribute then tells which it is. */
tern_status tern_h5_check_header(const char *path, const tern_h5_format *fmt, int *found) {
    *found = 0;
    FILE *f = NULL;
    tern_status opened = tern_fs_fopen_regular(path, "rb", &f, NULL);
    if (opened) return opened;
    char head[HEADER_BYTES + 1], ver[32];
    size_t got = fread(head, 1, HEADER_BYTES, f), magic = strlen(fmt->magic);
    head[got] = '\0';
    struct stat sb;
    unsigned long long bytes = 0;
    unsigned long crc = 0;
    tern_status st = TERN_OK;
    if (fstat(fileno(f), &sb) != 0) {
        st = tern_error(TERN_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    } else if (got < magic || memcmp(head, fmt->magic, magic) != 0) {
        /* Not ours by its first line; tern's header lines within the first line's reach? */
        const char *v = strstr(head, "version ");
        if (v && v - head < 64 && parse_header_lines(v, ver, sizeof ver, &bytes, &crc))
            st = check_body(f, path, "tern file (its header's first line is not a tern format's)",
                            "the file was altered or corrupted: restore it from a copy or write it again",
                            (unsigned long long)sb.st_size, bytes, crc);
    } else {
        *found = 1;
        char *end = NULL;
        const char *vs = head + magic;
        errno = 0;
        long long version = strncmp(vs, "version ", 8) ? -1 : strtoll(vs + 8, &end, 10);
        int vok = version >= 0 && errno == 0 && end && *end == '\n';
        if (!vok && sscanf(vs, "version %31[^\n]", ver) == 1 && ver[strspn(ver, "0123456789")] == '\0')
            st = tern_error(TERN_ERR_FORMAT, "%s: %s format version %s, but this tern reads version %d; %s", path,
                            fmt->kind, ver, fmt->version, fmt->version_hint);
        else if (!vok)
            st = tern_error(TERN_ERR_FORMAT, "%s: damaged %s: unreadable header; %s", path, fmt->kind, fmt->damaged_hint);
        else if (version != fmt->version)
            st = tern_error(TERN_ERR_FORMAT, "%s: %s format version %lld, but this tern reads version %d; %s", path,
                            fmt->kind, version, fmt->version, fmt->version_hint);
        else if (!parse_header_lines(vs, ver, sizeof ver, &bytes, &crc))
            st = tern_error(TERN_ERR_FORMAT, "%s: damaged %s: unreadable header; %s", path, fmt->kind, fmt->damaged_hint);
        else
            st = check_body(f, path, fmt->kind, fmt->damaged_hint, (unsigned long long)sb.st_size, bytes, crc);
    }
    fclose(f);
    return st;
}
/* ---- reading ------------------------------------------------------------------ */

tern_status tern_h5_open_verified(tern_h5_reader *r, const char *path, const tern_h5_format *fmt,
                                  tern_h5_format_check_fn check_format) {
    r->path = path;
    r->file = -1;
    int found = 0;
    tern_status st = tern_h5_check_header(path, fmt, &found);
    if (st) return st;
    hid_t fapl = tern_h5_fapl();
    r->file = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (r->file < 0)
        return tern_error(TERN_ERR_FORMAT, "%s: not a tern %s (HDF5: %s)", path, fmt->kind,
                          tern_h5_cause(r->cause, sizeof r->cause));
    long long version = 0;
    char vtext[32];
    st = check_format(r);
    int vrc = st ? 0 : tern_h5_attr_read_int(r->file, "version", &version, vtext, sizeof vtext);
    if (!st && (vrc == TERN_H5_ATTR_MISSING || vrc == TERN_H5_ATTR_TYPE))
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged %s (no integer 'version' attribute)", path, fmt->kind);
    else if (!st && vrc == TERN_H5_ATTR_RANGE)
        st = tern_error(TERN_ERR_FORMAT, "%s: %s attribute 'version' is %s, outside %d..%d; %s", path, fmt->kind, vtext,
                        fmt->version, fmt->version, fmt->version_hint);
    else if (!st && version != fmt->version)
        st = tern_error(TERN_ERR_FORMAT, "%s: %s format version %lld, but this tern reads version %d; %s", path,
                        fmt->kind, version, fmt->version, fmt->version_hint);
    /* HDF5 reads it and it is ours, but its header is gone: damage. */
    else if (!st && !found)
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged %s: its header (the first %d bytes) is missing or corrupt; %s",
                        path, fmt->kind, HEADER_BYTES, fmt->damaged_hint);
    if (st) tern_h5_reader_close(r);
    return st;
}

void tern_h5_reader_close(tern_h5_reader *r) {
    if (r->file >= 0) H5Fclose(r->file);
    r->file = -1;
}

tern_h5_dset_status tern_h5_read_dset(tern_h5_reader *r, hid_t loc, const char *name, H5T_class_t cls, int rank,
                                      const hsize_t *want, hid_t mtype, void *buf, tern_h5_shape *got) {
    got->rank = -1;
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return TERN_H5_DSET_MISSING;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) {
        tern_h5_cause(r->cause, sizeof r->cause);
        return TERN_H5_DSET_UNOPENED;
    }
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    int frank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    tern_h5_dset_status s = TERN_H5_DSET_OK;
    if (t < 0 || H5Tget_class(t) != cls)
        s = TERN_H5_DSET_TYPE;
    else if (frank < 0 || frank > H5S_MAX_RANK || H5Sget_simple_extent_dims(sp, got->dims, NULL) < 0)
        s = TERN_H5_DSET_NO_SHAPE;
    else {
        got->rank = frank;
        int same = frank == rank;
        for (int i = 0; same && i < rank; i++) same = got->dims[i] == want[i];
        if (!same)
            s = TERN_H5_DSET_SHAPE;
        else if (H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            tern_h5_cause(r->cause, sizeof r->cause);
            s = TERN_H5_DSET_UNREAD;
        }
    }
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return s;
}
