/* h5util.h — what tern's two HDF5 file formats share: training checkpoints
 * (checkpoint.c) and deploy checkpoints (deploy.c). Internal to src/io.
 *
 * Both formats are HDF5 files (1.10 object formats) behind a 512-byte user
 * block holding a NUL-padded text header,
 *
 *     <magic line>\nversion V\nbytes N\ncrc32 XXXXXXXX\n
 *
 * with the file's size and zlib's CRC-32 of every byte after the 512. Both
 * are built in memory (HDF5's core driver), then written atomically
 * (temporary file, fsync, rename, fsync of the directory), and both check the
 * header before HDF5 parses a byte of a possibly damaged file.
 *
 * HDF5 prints its error stack to stderr by default; callers bracket their
 * HDF5 calls with tern_h5_quiet_begin/end, which record the innermost error
 * instead (tern_h5_cause fetches it for the one-line message). */
#ifndef TERN_IO_H5UTIL_H
#define TERN_IO_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>

#include "tern/status.h"

#define TERN_H5_HEADER_BYTES 512

/* ---- errors --------------------------------------------------------------- */

typedef struct tern_h5_quiet {
    H5E_auto2_t func;
    void *data;
} tern_h5_quiet;

/* Replace HDF5's stderr printing by a recorder, remembering the caller's handler. */
void tern_h5_quiet_begin(tern_h5_quiet *q);
/* Clear HDF5's error stack and restore the caller's handler. */
void tern_h5_quiet_end(const tern_h5_quiet *q);
/* The recorded cause of the last failed HDF5 call ("file signature not
 * found"; for a failed system call only its errno text), written into buf. */
const char *tern_h5_cause(char *buf, size_t len);

/* ---- small helpers -------------------------------------------------------- */

/* File access: 1.10 object formats (checksummed metadata and chunk index),
 * strong close, file locking where the file system has it. -1 on failure. */
hid_t tern_h5_fapl(void);
/* "(256,784)" into buf. */
const char *tern_h5_dims_str(int rank, const hsize_t *dims, char *buf, size_t len);
/* zlib's CRC-32 of buf[0..n). */
unsigned long tern_h5_crc(const unsigned char *buf, size_t n);

/* Scalar attribute `name` of file type ftype from *v (memory type mtype). */
herr_t tern_h5_attr_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v);
/* A fixed-length, NUL-terminated UTF-8 string type of strlen(v) + 1 bytes. */
hid_t tern_h5_str_type(const char *v);
herr_t tern_h5_attr_write_str(hid_t loc, const char *name, const char *v);
/* 1-D attribute of n values. */
herr_t tern_h5_attr_write_vec(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int n, const void *v);

/* Create loc/name (rank, dims) of file type ftype, chunked (at most 2^20
 * elements a chunk) with fletcher32, and deflate at `deflate` (1..9; 0: no
 * compression), and write `data` (memory type mtype). The open dataset or -1. */
hid_t tern_h5_dset_write(hid_t loc, const char *name, int rank, const hsize_t *dims, hid_t ftype, hid_t mtype,
                         const void *data, int deflate);

/* What the attribute readers below return: 0, or why not (all < 0). */
enum {
    TERN_H5_ATTR_OK = 0,
    TERN_H5_ATTR_MISSING = -1, /* no such attribute */
    TERN_H5_ATTR_TYPE = -2,    /* not one value of the class asked for, or unreadable */
    TERN_H5_ATTR_RANGE = -3,   /* an integer outside long long's range */
    TERN_H5_ATTR_LONG = -4,    /* a string longer than the buffer holds */
};

/* Read a scalar (or one-element) attribute of class cls into *v of memory
 * type mtype; -1 when missing or of another class. */
int tern_h5_attr_read(hid_t loc, const char *name, H5T_class_t cls, hid_t mtype, void *v);
/* A scalar integer attribute (signed or unsigned, any width) into *v:
 * TERN_H5_ATTR_OK, _MISSING, _TYPE or _RANGE. */
int tern_h5_attr_read_i64(hid_t loc, const char *name, long long *v);
/* The same, and the value in decimal into text[tlen] (when not NULL), also
 * when it is out of range, for messages. */
int tern_h5_attr_read_int(hid_t loc, const char *name, long long *v, char *text, size_t tlen);
/* A string attribute (fixed or variable length, ASCII or UTF-8, as h5py
 * writes) into buf[len], NUL-terminated: TERN_H5_ATTR_OK, _MISSING, _TYPE
 * (not a string) or _LONG (its text needs more than len - 1 bytes). */
int tern_h5_attr_read_str(hid_t loc, const char *name, char *buf, size_t len);

/* ---- whole files ------------------------------------------------------------ */

/* What a file's writer fills in; `what` names the object being written, for
 * the message when HDF5 fails. */
typedef struct tern_h5_writer {
    hid_t file;
    char what[160];
} tern_h5_writer;

typedef herr_t (*tern_h5_fill_fn)(tern_h5_writer *w, const void *user);

/* The header every tern HDF5 file starts with. */
typedef struct tern_h5_format {
    const char *magic;         /* first header line with its '\n': "tern-train checkpoint\n" */
    int version;
    const char *kind;          /* for messages: "checkpoint", "deploy checkpoint" */
    const char *version_hint;  /* what to do about another version */
    const char *damaged_hint;  /* what to do about a damaged file */
} tern_h5_format;

/* Build the file in memory with fill(), add the header, and, when path is
 * not NULL, write it to path atomically (as the overview says; an existing
 * path is untouched on failure and no temporary file remains). *bytes (may
 * be NULL) = the file's size. size_hint: bytes of data, to size the
 * in-memory file once. `name` stands for the file in messages when path is
 * NULL. */
tern_status tern_h5_save(const char *path, const char *name, const tern_h5_format *fmt, size_t size_hint,
                         tern_h5_fill_fn fill, const void *user, size_t *bytes);

/* When `path` starts with fmt's magic: check its version, size and CRC-32
 * with plain reads (TERN_ERR_FORMAT naming the file and the damage, with the
 * hints) and set *found = 1. *found = 0 when the magic is absent: a foreign
 * file, left for HDF5 and the attributes to identify, unless its header has
 * tern's version, bytes and crc32 lines (a damaged first line, or another
 * tern format): then its size and CRC are checked all the same, so HDF5 only
 * ever parses an intact body. */
tern_status tern_h5_check_header(const char *path, const tern_h5_format *fmt, int *found);

/* ---- reading ----------------------------------------------------------------- */

/* A file open for reading: `path` names it in messages, `cause` holds the
 * text of the last HDF5 failure the reader met. */
typedef struct tern_h5_reader {
    const char *path;
    hid_t file;
    char cause[256];
} tern_h5_reader;

/* Checks the 'format' attribute of r->file, just opened: TERN_OK, or the
 * format's own error (recorded with tern_error). */
typedef tern_status (*tern_h5_format_check_fn)(const tern_h5_reader *r);

/* Open `path` (not empty) read-only as a file of format fmt, checking in
 * this order: its header (tern_h5_check_header), HDF5's open, check_format,
 * the integer 'version' attribute against fmt->version, and last that the
 * header was there. Messages name the path and fmt->kind, with fmt's hints.
 * On failure r->file is -1. */
tern_status tern_h5_open_verified(tern_h5_reader *r, const char *path, const tern_h5_format *fmt,
                                  tern_h5_format_check_fn check_format);
/* Close r->file if open; r->file = -1. */
void tern_h5_reader_close(tern_h5_reader *r);

/* What tern_h5_read_dset found; the caller words the message. */
typedef enum tern_h5_dset_status {
    TERN_H5_DSET_OK = 0,
    TERN_H5_DSET_MISSING,  /* no link loc/name */
    TERN_H5_DSET_UNOPENED, /* HDF5 cannot open it as a dataset; r->cause says why */
    TERN_H5_DSET_TYPE,     /* its type is not of the class asked for */
    TERN_H5_DSET_NO_SHAPE, /* its dataspace is unreadable */
    TERN_H5_DSET_SHAPE,    /* another shape, in *got */
    TERN_H5_DSET_UNREAD,   /* the read failed; r->cause says why */
} tern_h5_dset_status;

/* A dataset's shape as found in the file. */
typedef struct tern_h5_shape {
    int rank;
    hsize_t dims[H5S_MAX_RANK];
} tern_h5_shape;

/* Read dataset loc/name of class cls and exactly the shape (rank, want)
 * into buf (memory type mtype); got->rank, got->dims = the shape found in
 * the file (rank -1 when it was not read). Records no message. */
tern_h5_dset_status tern_h5_read_dset(tern_h5_reader *r, hid_t loc, const char *name, H5T_class_t cls, int rank,
                                      const hsize_t *want, hid_t mtype, void *buf, tern_h5_shape *got);

#endif
