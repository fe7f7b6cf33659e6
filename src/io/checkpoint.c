/* checkpoint.c — HDF5 training checkpoints: atomic save, verified all-or-nothing load.
 *
 * Save builds the HDF5 file in memory (core driver), writes the image to a
 * fresh temporary file next to the destination with plain write(2), fsyncs
 * it, renames it over the destination and fsyncs the directory, so a crash
 * leaves either the old checkpoint or the new one. Keeping HDF5 away from
 * the disk matters: when HDF5's own write fails (disk full), its H5Fclose
 * fails too and the half-closed file crashes the library at exit. The cost
 * is one in-memory copy of the file while saving (we take over HDF5's
 * buffer rather than copy it), small next to tern's models.
 *
 * Load reads every dataset into one staging allocation laid out like the
 * caller's blocks, checking names, shapes and checksums on the way, and only
 * copies into the caller's parameters, optimizer, RNGs and counters once all
 * of it has been read: a failed load changes nothing.
 *
 * Integrity, in two layers: the 512-byte header in HDF5's user block
 * records the file's size and a CRC-32 of the rest, checked with plain
 * reads before HDF5 opens the file, so truncation and bit rot are reported
 * as such and HDF5's parser never sees a damaged file; inside, every
 * dataset is chunked with the fletcher32 filter (verified by HDF5 on every
 * read, by tern and by other tools) and the 1.10 object formats checksum
 * the metadata. (1.8 formats are not enough: their v1 B-tree chunk index has
 * no checksum, and one flipped byte there made a load return zeros.)
 *
 * HDF5 prints its error stack to stderr by default; every entry point here
 * replaces that printing, for its duration, by a handler that records the
 * innermost error (the caller's handler is restored after), which becomes
 * the tail of our one-line message. */
#include "tern/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Checkpoints of a different architecture: what to do about it. */
#define ARCH_HINT                                                                                                 \
    "the checkpoint comes from another architecture: build the model from the config stored in it (/config) " \
    "or start a new run"

#define VERSION_HINT "load it with the tern release that wrote it, or start a new run"
#define DAMAGED_HINT "the file was altered or corrupted; resume from an earlier checkpoint"

/* Largest chunk, in elements (4 MiB of float32): HDF5 caps a chunk at 4 GiB,
 * and fletcher32 is computed per chunk. */
#define CHUNK_MAX_ELEMS ((hsize_t)1 << 20)

/* The HDF5 user block: 512 bytes before the HDF5 superblock that HDF5
 * ignores, where tern keeps a text header with the file's size and CRC-32. */
#define HEADER_BYTES 512
#define HEADER_MAGIC "tern-train checkpoint\n"

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

typedef struct h5_quiet {
    H5E_auto2_t func;
    void *data;
} h5_quiet;

/* Replace HDF5's stderr printing by record_error, remembering the caller's handler. */
static void quiet_begin(h5_quiet *q) {
    q->func = NULL;
    q->data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
    H5Eset_auto2(H5E_DEFAULT, record_error, NULL);
    h5_last[0] = '\0';
}

static void quiet_end(const h5_quiet *q) {
    H5Eclear2(H5E_DEFAULT);
    H5Eset_auto2(H5E_DEFAULT, q->func, q->data);
}

/* The recorded cause, e.g. "file signature not found"; for a failed system
 * call only its errno text. */
static const char *h5_cause(char *buf, size_t len) {
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

/* File access: 1.10 object formats (checksummed metadata and chunk index,
 * readable by HDF5 >= 1.10), and a close that closes every object still
 * open in the file. */
static hid_t file_access_plist(void) {
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

/* ---- names and dims ------------------------------------------------------- */

/* 1 when `name` can be one HDF5 link name of at most cap-1 characters. */
static int name_ok(const char *name, size_t cap) {
    if (!name || !*name || strlen(name) >= cap || strchr(name, '/')) return 0;
    return strcmp(name, ".") != 0;
}

static const char *dims_str(int rank, const hsize_t *dims, char *buf, size_t len) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, len - k, "(");
    for (int i = 0; i < rank && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, i ? ",%llu" : "%llu", (unsigned long long)dims[i]);
    if (k < len) snprintf(buf + k, len - k, ")");
    return buf;
}

static void tensor_dims(const tern_tensor *t, hsize_t *dims) {
    for (int i = 0; i < t->ndim; i++) dims[i] = (hsize_t)t->shape[i];
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

/* ---- the state ------------------------------------------------------------ */

void tern_ckpt_state_init(tern_ckpt_state *s, tern_params *params, tern_optim *optim) {
    memset(s, 0, sizeof *s);
    s->params = params;
    s->optim = optim;
}

tern_status tern_ckpt_add_rng(tern_ckpt_state *s, const char *name, tern_rng *rng) {
    if (!s || !rng) return tern_error(TERN_ERR_ARG, "checkpoint: add_rng given a NULL state or rng");
    if (!name_ok(name, TERN_CKPT_NAME_LEN))
        return tern_error(TERN_ERR_ARG, "checkpoint: rng name '%s' must be 1..%d characters without '/'",
                          name ? name : "(null)", TERN_CKPT_NAME_LEN - 1);
    for (int i = 0; i < s->n_rng; i++)
        if (strcmp(s->rng[i].name, name) == 0) return tern_error(TERN_ERR_ARG, "checkpoint: duplicate rng '%s'", name);
    if (s->n_rng >= TERN_CKPT_MAX_RNG)
        return tern_error(TERN_ERR_NOMEM, "checkpoint: more than %d rngs ('%s')", TERN_CKPT_MAX_RNG, name);
    tern_ckpt_rng *e = &s->rng[s->n_rng++];
    strcpy(e->name, name);
    e->rng = rng;
    return TERN_OK;
}

tern_status tern_ckpt_set_meta(tern_ckpt_state *s, const char *name, double value) {
    if (!s) return tern_error(TERN_ERR_ARG, "checkpoint: set_meta given a NULL state");
    if (!name_ok(name, TERN_CKPT_NAME_LEN))
        return tern_error(TERN_ERR_ARG, "checkpoint: metadata name '%s' must be 1..%d characters without '/'",
                          name ? name : "(null)", TERN_CKPT_NAME_LEN - 1);
    for (int i = 0; i < s->n_meta; i++)
        if (strcmp(s->meta[i].name, name) == 0) {
            s->meta[i].value = value;
            return TERN_OK;
        }
    if (s->n_meta >= TERN_CKPT_MAX_META)
        return tern_error(TERN_ERR_NOMEM, "checkpoint: more than %d metadata values ('%s')", TERN_CKPT_MAX_META, name);
    tern_ckpt_meta *e = &s->meta[s->n_meta++];
    strcpy(e->name, name);
    e->value = value;
    return TERN_OK;
}

int tern_ckpt_get_meta(const tern_ckpt_state *s, const char *name, double *value) {
    if (!s || !name) return 0;
    for (int i = 0; i < s->n_meta; i++)
        if (strcmp(s->meta[i].name, name) == 0) {
            if (value) *value = s->meta[i].value;
            return 1;
        }
    return 0;
}

/* Everything save and load rely on, checked before any file is touched. */
static tern_status check_state(const char *path, const tern_ckpt_state *s) {
    if (!path || !*path) return tern_error(TERN_ERR_ARG, "checkpoint: empty or NULL path");
    if (!s || !s->params) return tern_error(TERN_ERR_ARG, "%s: checkpoint state or its parameter table is NULL", path);
    const tern_params *p = s->params;
    if (!p->data) return tern_error(TERN_ERR_ARG, "%s: the parameter table is not allocated (tern_params_alloc)", path);
    for (int i = 0; i < p->count; i++)
        if (!name_ok(p->items[i].name, TERN_PARAM_NAME_LEN))
            return tern_error(TERN_ERR_ARG, "%s: parameter name '%s' cannot be stored (no '/' and not '.')", path,
                              p->items[i].name);
    const tern_optim *o = s->optim;
    if (o && (o->params != p || o->total != p->total))
        return tern_error(TERN_ERR_ARG, "%s: the optimizer is bound to another parameter table", path);
    if (o && (o->n_state < 0 || o->n_state > TERN_OPTIM_MAX_STATE))
        return tern_error(TERN_ERR_ARG, "%s: optimizer has %d state blocks", path, o->n_state);
    for (int i = 0; o && i < o->n_state; i++)
        if (!o->state[i] || !tern_optim_state_name(o, i))
            return tern_error(TERN_ERR_ARG, "%s: optimizer state block %d is not allocated", path, i);
    if (s->n_rng < 0 || s->n_rng > TERN_CKPT_MAX_RNG)
        return tern_error(TERN_ERR_ARG, "%s: n_rng %d is not in 0..%d", path, s->n_rng, TERN_CKPT_MAX_RNG);
    if (s->n_meta < 0 || s->n_meta > TERN_CKPT_MAX_META)
        return tern_error(TERN_ERR_ARG, "%s: n_meta %d is not in 0..%d", path, s->n_meta, TERN_CKPT_MAX_META);
    for (int i = 0; i < s->n_rng; i++) {
        if (!s->rng[i].rng || !name_ok(s->rng[i].name, TERN_CKPT_NAME_LEN))
            return tern_error(TERN_ERR_ARG, "%s: rng %d ('%.*s') has no state or a bad name", path, i,
                              TERN_CKPT_NAME_LEN, s->rng[i].name);
        for (int j = 0; j < i; j++)
            if (strcmp(s->rng[i].name, s->rng[j].name) == 0)
                return tern_error(TERN_ERR_ARG, "%s: duplicate rng '%s'", path, s->rng[i].name);
    }
    for (int i = 0; i < s->n_meta; i++) {
        if (!name_ok(s->meta[i].name, TERN_CKPT_NAME_LEN))
            return tern_error(TERN_ERR_ARG, "%s: metadata %d ('%.*s') has a bad name", path, i, TERN_CKPT_NAME_LEN,
                              s->meta[i].name);
        for (int j = 0; j < i; j++)
            if (strcmp(s->meta[i].name, s->meta[j].name) == 0)
                return tern_error(TERN_ERR_ARG, "%s: duplicate metadata '%s'", path, s->meta[i].name);
    }
    return TERN_OK;
}

/* ---- writing -------------------------------------------------------------- */

/* Scalar attribute `name` of file type ftype from *v (memory type mtype). */
static herr_t attr_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, const void *v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp < 0 ? -1 : H5Acreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, mtype, v);
    if (a >= 0 && H5Aclose(a) < 0) r = -1;
    if (sp >= 0) H5Sclose(sp);
    return r;
}

/* A fixed-length, NUL-terminated UTF-8 string type of strlen(v) + 1 bytes
 * (config files may hold any UTF-8; h5py decodes by this flag). */
static hid_t str_type(const char *v) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return -1;
    if (H5Tset_size(t, strlen(v) + 1) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0 ||
        H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

static herr_t attr_write_str(hid_t loc, const char *name, const char *v) {
    hid_t t = str_type(v);
    if (t < 0) return -1;
    herr_t r = attr_write(loc, name, t, t, v);
    H5Tclose(t);
    return r;
}

/* Create loc/name (rank, dims) of file type ftype, chunked with fletcher32,
 * and write `data` (memory type mtype). Returns the open dataset or -1. */
static hid_t dset_write(hid_t loc, const char *name, int rank, const hsize_t *dims, hid_t ftype, hid_t mtype,
                        const void *data) {
    hsize_t chunk[TERN_MAX_DIMS];
    chunk_dims(rank, dims, chunk);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = -1;
    if (dcpl >= 0 && sp >= 0 && H5Pset_chunk(dcpl, rank, chunk) >= 0 && H5Pset_fletcher32(dcpl) >= 0)
        d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d >= 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        H5Dclose(d);
        d = -1;
    }
    if (sp >= 0) H5Sclose(sp);
    if (dcpl >= 0) H5Pclose(dcpl);
    return d;
}

static herr_t close_dset(hid_t d) { return d < 0 ? -1 : H5Dclose(d); }

typedef struct writer {
    hid_t file;
    char what[TERN_PARAM_NAME_LEN + 32];  /* the object being written, for the message */
} writer;

static herr_t write_root(writer *w, const tern_ckpt_state *s) {
    snprintf(w->what, sizeof w->what, "the root attributes");
    int version = TERN_CKPT_VERSION;
    long long epoch = s->epoch, step = s->step;
    if (attr_write_str(w->file, "format", TERN_CKPT_FORMAT) < 0 ||
        attr_write(w->file, "version", H5T_STD_I32LE, H5T_NATIVE_INT, &version) < 0 ||
        attr_write(w->file, "epoch", H5T_STD_I64LE, H5T_NATIVE_LLONG, &epoch) < 0 ||
        attr_write(w->file, "step", H5T_STD_I64LE, H5T_NATIVE_LLONG, &step) < 0)
        return -1;
    snprintf(w->what, sizeof w->what, "/config");
    const char *text = s->config_text ? s->config_text : "";
    hid_t t = str_type(text);
    if (t < 0) return -1;
    hsize_t one = 1;
    herr_t r = close_dset(dset_write(w->file, "config", 1, &one, t, t, text));
    H5Tclose(t);
    return r;
}

static herr_t write_params(writer *w, const tern_params *p) {
    snprintf(w->what, sizeof w->what, "/params");
    hid_t g = H5Gcreate2(w->file, "params", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    herr_t r = 0;
    for (int i = 0; i < p->count && r >= 0; i++) {
        const tern_param *q = &p->items[i];
        snprintf(w->what, sizeof w->what, "/params/%s", q->name);
        hsize_t dims[TERN_MAX_DIMS];
        tensor_dims(&q->t, dims);
        int trainable = (q->flags & TERN_PARAM_TRAIN) ? 1 : 0;
        hid_t d = dset_write(g, q->name, q->t.ndim, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, q->t.data);
        if (d < 0 || attr_write(d, "trainable", H5T_STD_I32LE, H5T_NATIVE_INT, &trainable) < 0) r = -1;
        if (d >= 0) H5Dclose(d);
    }
    if (H5Gclose(g) < 0) r = -1;
    return r;
}

static herr_t write_optim(writer *w, const tern_optim *o) {
    snprintf(w->what, sizeof w->what, "/optim");
    hid_t g = H5Gcreate2(w->file, "optim", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    long long step = o->step;
    int nesterov = o->cfg.nesterov;
    double wd = o->cfg.weight_decay, mu = o->cfg.momentum, b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
    herr_t r = 0;
    if (attr_write_str(g, "kind", tern_optim_kind_name(o->cfg.kind)) < 0 ||
        attr_write(g, "step", H5T_STD_I64LE, H5T_NATIVE_LLONG, &step) < 0 ||
        attr_write(g, "weight_decay", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &wd) < 0 ||
        attr_write(g, "momentum", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &mu) < 0 ||
        attr_write(g, "nesterov", H5T_STD_I32LE, H5T_NATIVE_INT, &nesterov) < 0 ||
        attr_write(g, "beta1", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &b1) < 0 ||
        attr_write(g, "beta2", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &b2) < 0 ||
        attr_write(g, "eps", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &eps) < 0)
        r = -1;
    const tern_params *p = o->params;
    for (int i = 0; i < o->n_state && r >= 0; i++) {
        const char *sname = tern_optim_state_name(o, i);
        snprintf(w->what, sizeof w->what, "/optim/%s", sname);
        hid_t sg = H5Gcreate2(g, sname, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (sg < 0) {
            r = -1;
            break;
        }
        /* The optimizer never touches buffers, so only TRAIN entries have state. */
        for (int j = 0; j < p->count && r >= 0; j++) {
            const tern_param *q = &p->items[j];
            if (!(q->flags & TERN_PARAM_TRAIN)) continue;
            snprintf(w->what, sizeof w->what, "/optim/%s/%s", sname, q->name);
            hsize_t dims[TERN_MAX_DIMS];
            tensor_dims(&q->t, dims);
            r = close_dset(dset_write(sg, q->name, q->t.ndim, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                                      tern_optim_state_view(o, i, q)));
        }
        if (H5Gclose(sg) < 0) r = -1;
    }
    if (H5Gclose(g) < 0) r = -1;
    return r;
}

static herr_t write_rng_meta(writer *w, const tern_ckpt_state *s) {
    snprintf(w->what, sizeof w->what, "/rng");
    hid_t g = H5Gcreate2(w->file, "rng", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    herr_t r = 0;
    hsize_t four = 4;
    for (int i = 0; i < s->n_rng && r >= 0; i++) {
        snprintf(w->what, sizeof w->what, "/rng/%s", s->rng[i].name);
        r = close_dset(dset_write(g, s->rng[i].name, 1, &four, H5T_STD_U64LE, H5T_NATIVE_UINT64, s->rng[i].rng->s));
    }
    if (H5Gclose(g) < 0) r = -1;
    if (r < 0) return r;
    snprintf(w->what, sizeof w->what, "/meta");
    g = H5Gcreate2(w->file, "meta", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    for (int i = 0; i < s->n_meta && r >= 0; i++) {
        snprintf(w->what, sizeof w->what, "/meta attribute %s", s->meta[i].name);
        r = attr_write(g, s->meta[i].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &s->meta[i].value);
    }
    if (H5Gclose(g) < 0) r = -1;
    return r;
}

/* zlib's CRC-32 of buf[0..n), fed in pieces that fit its uInt length. */
static unsigned long crc_bytes(const unsigned char *buf, size_t n) {
    unsigned long crc = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, buf, k);
        buf += k;
        n -= k;
    }
    return crc;
}

/* Bytes of data the checkpoint holds, to size the in-memory file once. */
static size_t data_bytes(const tern_ckpt_state *s) {
    size_t n = 0;
    for (int i = 0; i < s->params->count; i++) {
        const tern_param *q = &s->params->items[i];
        int states = (s->optim && (q->flags & TERN_PARAM_TRAIN)) ? s->optim->n_state : 0;
        n += sizeof(float) * q->t.n * (size_t)(1 + states);
    }
    return n + (s->config_text ? strlen(s->config_text) : 0);
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

/* Build the whole checkpoint as an HDF5 file in memory (core driver, no
 * backing store) and return its image, malloc'ed, in *image (*size bytes).
 * HDF5 thus never writes to disk: a full disk or a size limit hits our own
 * write(), whose failure we can clean up after, instead of HDF5's close,
 * which leaves a half-closed file that crashes the library at exit. */
static tern_status build_image(const char *path, const char *tmp, const tern_ckpt_state *s, void **image,
                               size_t *size) {
    char cause[256];
    *image = NULL;
    image_keep keep = {0};
    H5FD_file_image_callbacks_t cb = {img_malloc, img_memcpy,     img_realloc,   img_free,
                                      img_udata_copy, img_udata_free, &keep};
    hid_t fapl = file_access_plist(), fcpl = H5Pcreate(H5P_FILE_CREATE);
    size_t increment = (data_bytes(s) + ((size_t)1 << 16)) & ~(((size_t)1 << 16) - 1);
    if (fapl >= 0 && (H5Pset_fapl_core(fapl, increment, 0) < 0 || H5Pset_file_image_callbacks(fapl, &cb) < 0)) {
        H5Pclose(fapl);
        fapl = -1;
    }
    /* The name only identifies the in-memory file; nothing is created there. */
    writer w = {.file = -1};
    if (fapl >= 0 && fcpl >= 0 && H5Pset_userblock(fcpl, HEADER_BYTES) >= 0)
        w.file = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    if (w.file < 0)
        return tern_error(TERN_ERR_IO, "%s: cannot create the HDF5 file in memory (HDF5: %s)", path,
                          h5_cause(cause, sizeof cause));
    herr_t r = write_root(&w, s);
    if (r >= 0) r = write_params(&w, s->params);
    if (r >= 0 && s->optim) r = write_optim(&w, s->optim);
    if (r >= 0) r = write_rng_meta(&w, s);
    if (r < 0) h5_cause(cause, sizeof cause);
    if (H5Fclose(w.file) < 0 && r >= 0) {
        snprintf(w.what, sizeof w.what, "the file (close)");
        h5_cause(cause, sizeof cause);
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
        return tern_error(TERN_ERR_IO, "%s: cannot build %s (HDF5: %s)", path, w.what, cause);
    }
    unsigned char *img = keep.buf;
    unsigned long crc = crc_bytes(img + HEADER_BYTES, n - HEADER_BYTES);
    memset(img, 0, HEADER_BYTES);
    snprintf((char *)img, HEADER_BYTES, HEADER_MAGIC "version %d\nbytes %zu\ncrc32 %08lx\n", TERN_CKPT_VERSION, n, crc);
    *image = img;
    *size = n;
    return TERN_OK;
}

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
static void tmp_name(char *tmp, size_t cap, const char *path) {
    snprintf(tmp, cap, "%s.tmp.%ld.%lu", path, (long)getpid(), (unsigned long)atomic_fetch_add(&tmp_seq, 1));
}

tern_status tern_ckpt_save(const char *path, const tern_ckpt_state *s) {
    tern_status st = check_state(path, s);
    if (st) return st;
    size_t cap = strlen(path) + 48;
    char *tmp = malloc(cap);
    if (!tmp) return tern_error(TERN_ERR_NOMEM, "%s: out of memory", path);
    tmp_name(tmp, cap, path);
    void *image = NULL;
    size_t size = 0;
    h5_quiet q;
    quiet_begin(&q);
    st = build_image(path, tmp, s, &image, &size);
    quiet_end(&q);
    if (st) {
        free(tmp);
        return st;
    }
    /* A fresh name in the destination's directory (same file system, so the
     * rename is atomic); O_EXCL never clobbers a stranger's file. */
    int fd = -1;
    for (int tries = 0; tries < 64 && fd < 0; tries++) {
        if (tries) tmp_name(tmp, cap, path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0)
        st = tern_error(TERN_ERR_IO, "%s: cannot create the temporary file %s (%s)", path, tmp, strerror(errno));
    else {
        if (write_fully(fd, image, size) != 0)
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
    free(image);
    free(tmp);
    return st;
}

/* ---- reading -------------------------------------------------------------- */

/* Read a scalar (or one-element) attribute of class cls into *v of memory
 * type mtype; -1 when missing or of another class. */
static int attr_read(hid_t loc, const char *name, H5T_class_t cls, hid_t mtype, void *v) {
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

static int attr_read_i64(hid_t loc, const char *name, long long *v) {
    return attr_read(loc, name, H5T_INTEGER, H5T_NATIVE_LLONG, v);
}

/* A string attribute (fixed or variable length, as h5py writes) into
 * buf[len]; -1 when missing, not a string or too long. */
static int attr_read_str(hid_t loc, const char *name, char *buf, size_t len) {
    if (H5Aexists(loc, name) <= 0) return -1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a), mt = -1;
    int ok = t >= 0 && sp >= 0 && H5Tget_class(t) == H5T_STRING && H5Sget_simple_extent_npoints(sp) == 1;
    if (ok && H5Tis_variable_str(t) > 0) {
        char *v = NULL;
        mt = H5Tcopy(H5T_C_S1);
        ok = mt >= 0 && H5Tset_size(mt, H5T_VARIABLE) >= 0 && H5Aread(a, mt, &v) >= 0 && v && strlen(v) < len;
        if (ok) strcpy(buf, v);
        if (v) H5free_memory(v);
    } else if (ok) {
        size_t n = H5Tget_size(t);
        ok = n > 0 && n < len && (mt = H5Tcopy(t)) >= 0;
        if (ok) {
            memset(buf, 0, len);
            ok = H5Aread(a, mt, buf) >= 0;
            buf[n] = '\0';
        }
    }
    if (mt >= 0) H5Tclose(mt);
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Aclose(a);
    return ok ? 0 : -1;
}

typedef struct reader {
    const char *path;
    hid_t file;
    char cause[256];
} reader;


/* The tern header in the user block. When the file starts with it, its
 * version, the file's size and the CRC-32 of everything after the header
 * are checked here, before HDF5 parses a byte of a file that may be
 * damaged (HDF5 is not hardened against corrupt input: on some damaged
 * metadata it leaks and complains at exit). *found = 0 when the magic is
 * absent: a foreign file, which HDF5 and the attributes then identify. */
static tern_status check_header(const char *path, int *found) {
    *found = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return tern_error(TERN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char head[HEADER_BYTES + 1];
    size_t got = fread(head, 1, HEADER_BYTES, f), magic = strlen(HEADER_MAGIC);
    head[got] = '\0';
    struct stat sb;
    if (got < magic || memcmp(head, HEADER_MAGIC, magic) != 0 || fstat(fileno(f), &sb) != 0) {
        fclose(f);
        return TERN_OK;
    }
    *found = 1;
    int version = 0;
    unsigned long long bytes = 0;
    unsigned long crc = 0;
    tern_status st = TERN_OK;
    unsigned long long size = (unsigned long long)sb.st_size;
    if (sscanf(head + magic, "version %d", &version) != 1)
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: unreadable header; " DAMAGED_HINT, path);
    else if (version != TERN_CKPT_VERSION)
        st = tern_error(TERN_ERR_FORMAT, "%s: checkpoint format version %d, but this tern reads version %d; "
                        VERSION_HINT, path, version, TERN_CKPT_VERSION);
    else if (sscanf(head + magic, "version %*d\nbytes %llu\ncrc32 %lx", &bytes, &crc) != 2 || bytes < HEADER_BYTES)
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: unreadable header; " DAMAGED_HINT, path);
    else if (size < bytes)
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: truncated to %llu of %llu bytes; " DAMAGED_HINT, path,
                        size, bytes);
    else if (size > bytes)
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: %llu bytes where its header says %llu; " DAMAGED_HINT,
                        path, size, bytes);
    if (st) {
        fclose(f);
        return st;
    }
    size_t cap = (size_t)1 << 20;
    unsigned char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return tern_error(TERN_ERR_NOMEM, "%s: out of memory", path);
    }
    unsigned long c = crc32(0L, Z_NULL, 0);
    size_t k;
    while ((k = fread(buf, 1, cap, f)) > 0) c = crc32(c, buf, (uInt)k);
    if (ferror(f))
        st = tern_error(TERN_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    else if (c != crc)
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: CRC-32 is %08lx, its header says %08lx; "
                        DAMAGED_HINT, path, c, crc);
    free(buf);
    fclose(f);
    return st;
}

/* Open `path` read-only and check it is a tern-train checkpoint of our version. */
static tern_status open_checkpoint(reader *r, const char *path) {
    r->path = path;
    r->file = -1;
    if (!path || !*path) return tern_error(TERN_ERR_ARG, "checkpoint: empty or NULL path");
    struct stat sb;
    if (stat(path, &sb) != 0) return tern_error(TERN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return tern_error(TERN_ERR_IO, "%s: not a regular file", path);
    int has_header = 0;
    tern_status st = check_header(path, &has_header);
    if (st) return st;
    hid_t fapl = file_access_plist();
    r->file = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    if (r->file < 0)
        return tern_error(TERN_ERR_FORMAT, "%s: not a tern checkpoint (HDF5: %s)", path,
                          h5_cause(r->cause, sizeof r->cause));
    char fmt[64];
    long long version;
    if (H5Aexists(r->file, "format") <= 0)
        return tern_error(TERN_ERR_FORMAT, "%s: not a tern checkpoint (an HDF5 file without a 'format' attribute)",
                          path);
    if (attr_read_str(r->file, "format", fmt, sizeof fmt) < 0)
        return tern_error(TERN_ERR_FORMAT, "%s: not a tern checkpoint (its 'format' attribute is not a short string)",
                          path);
    if (strcmp(fmt, TERN_CKPT_FORMAT) != 0)
        return tern_error(TERN_ERR_FORMAT, "%s: not a tern training checkpoint (format '%s', expected '%s')", path, fmt,
                          TERN_CKPT_FORMAT);
    if (attr_read_i64(r->file, "version", &version) < 0)
        return tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint (no integer 'version' attribute)", path);
    if (version != TERN_CKPT_VERSION)
        return tern_error(TERN_ERR_FORMAT, "%s: checkpoint format version %lld, but this tern reads version %d; "
                          VERSION_HINT, path, version, TERN_CKPT_VERSION);
    if (!has_header)
        return tern_error(TERN_ERR_FORMAT,
                          "%s: damaged checkpoint: its header (the first %d bytes) is missing or corrupt; "
                          DAMAGED_HINT,
                          path, HEADER_BYTES);
    return TERN_OK;
}

static void reader_close(reader *r) {
    if (r->file >= 0) H5Fclose(r->file);
    r->file = -1;
}

static hid_t open_group(reader *r, hid_t loc, const char *name, const char *where, tern_status *st) {
    hid_t g = H5Lexists(loc, name, H5P_DEFAULT) > 0 ? H5Gopen2(loc, name, H5P_DEFAULT) : -1;
    if (g < 0) *st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint (no group %s)", r->path, where);
    return g;
}

/* Read dataset loc/name (shown as `where`) of class cls and exactly the
 * shape (rank, want) into buf (memory type mtype). A missing dataset or
 * another shape is reported as `what` (e.g. "parameter 'fc1.weight'"), with
 * `hint` appended. */
static tern_status read_dset(reader *r, hid_t loc, const char *name, const char *where, const char *what,
                             const char *hint, H5T_class_t cls, int rank, const hsize_t *want, hid_t mtype, void *buf) {
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0)
        return tern_error(TERN_ERR_FORMAT, "%s: %s is missing from the checkpoint (%s); %s", r->path, what, where,
                          hint);
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0)
        return tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: %s is not a readable dataset (HDF5: %s)", r->path,
                          where, h5_cause(r->cause, sizeof r->cause));
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    int frank = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
    hsize_t dims[H5S_MAX_RANK];
    tern_status st = TERN_OK;
    if (t < 0 || H5Tget_class(t) != cls)
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: %s holds data of another type", r->path, where);
    else if (frank < 0 || frank > H5S_MAX_RANK || H5Sget_simple_extent_dims(sp, dims, NULL) < 0)
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: %s has no readable shape", r->path, where);
    else {
        int same = frank == rank;
        for (int i = 0; same && i < rank; i++) same = dims[i] == want[i];
        if (!same) {
            char a[96], b[96];
            st = tern_error(TERN_ERR_FORMAT, "%s: %s is %s in the checkpoint but %s in the model; %s", r->path, what,
                            dims_str(frank, dims, a, sizeof a), dims_str(rank, want, b, sizeof b), hint);
        } else if (H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
            st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: cannot read %s (HDF5: %s)", r->path, where,
                            h5_cause(r->cause, sizeof r->cause));
    }
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    return st;
}

typedef struct extra_find {
    const tern_params *p;
    int train_only;
    char name[TERN_PARAM_NAME_LEN + 16];
} extra_find;

/* Stop at the first link of the group that is not an entry of p. */
static herr_t extra_walk(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g;
    (void)info;
    extra_find *e = data;
    tern_param *q = strlen(name) < TERN_PARAM_NAME_LEN ? tern_params_find((tern_params *)e->p, name) : NULL;
    if (q && (!e->train_only || (q->flags & TERN_PARAM_TRAIN))) return 0;
    snprintf(e->name, sizeof e->name, "%.*s", TERN_PARAM_NAME_LEN + 8, name);
    return 1;
}

/* The group holds exactly `want` links, all named by p's (TRAIN) entries;
 * the caller has already found every entry in it. */
static tern_status check_no_extra(reader *r, hid_t g, const char *where, const tern_params *p, int train_only,
                                  hsize_t want, const char *hint) {
    H5G_info_t gi;
    if (H5Gget_info(g, &gi) < 0)
        return tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: cannot list %s (HDF5: %s)", r->path, where,
                          h5_cause(r->cause, sizeof r->cause));
    if (gi.nlinks == want) return TERN_OK;
    extra_find e = {.p = p, .train_only = train_only};
    hsize_t idx = 0;
    if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, extra_walk, &e) > 0)
        return tern_error(TERN_ERR_FORMAT, "%s: the checkpoint has %s/%s, which the model lacks; %s", r->path, where,
                          e.name, hint);
    return tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: %s lists %llu entries, expected %llu", r->path, where,
                      (unsigned long long)gi.nlinks, (unsigned long long)want);
}

typedef struct meta_read {
    reader *r;
    tern_ckpt_meta *meta;
    int n;
    tern_status st;
} meta_read;

static herr_t meta_walk(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
    (void)info;
    meta_read *m = data;
    double v;
    if (m->n >= TERN_CKPT_MAX_META) {
        m->st = tern_error(TERN_ERR_FORMAT, "%s: checkpoint has more than %d metadata values", m->r->path,
                           TERN_CKPT_MAX_META);
        return -1;
    }
    if (!name_ok(name, TERN_CKPT_NAME_LEN) || attr_read(loc, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, &v) < 0) {
        m->st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: /meta attribute '%.40s' is not a number",
                           m->r->path, name);
        return -1;
    }
    strcpy(m->meta[m->n].name, name);
    m->meta[m->n++].value = v;
    return 0;
}

/* All of /meta into meta[], *n entries. */
static tern_status read_meta(reader *r, tern_ckpt_meta *meta, int *n) {
    tern_status st = TERN_OK;
    hid_t g = open_group(r, r->file, "meta", "/meta", &st);
    if (g < 0) return st;
    meta_read m = {.r = r, .meta = meta};
    hsize_t idx = 0;
    if (H5Aiterate2(g, H5_INDEX_NAME, H5_ITER_INC, &idx, meta_walk, &m) < 0 && !m.st)
        m.st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: cannot list /meta (HDF5: %s)", r->path,
                          h5_cause(r->cause, sizeof r->cause));
    H5Gclose(g);
    *n = m.n;
    return m.st;
}

static tern_status read_counters(reader *r, long long *epoch, long long *step) {
    if (attr_read_i64(r->file, "epoch", epoch) < 0 || attr_read_i64(r->file, "step", step) < 0)
        return tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint (no integer 'epoch' and 'step' attributes)",
                          r->path);
    return TERN_OK;
}

/* Every parameter of p from /params into stage (p's layout), and nothing more in it. */
static tern_status load_params(reader *r, const tern_params *p, float *stage) {
    tern_status st = TERN_OK;
    hid_t g = open_group(r, r->file, "params", "/params", &st);
    if (g < 0) return st;
    for (int i = 0; i < p->count && !st; i++) {
        const tern_param *q = &p->items[i];
        char where[TERN_PARAM_NAME_LEN + 16], what[TERN_PARAM_NAME_LEN + 16];
        snprintf(where, sizeof where, "/params/%s", q->name);
        snprintf(what, sizeof what, "parameter '%s'", q->name);
        hsize_t dims[TERN_MAX_DIMS];
        tensor_dims(&q->t, dims);
        st = read_dset(r, g, q->name, where, what, ARCH_HINT, H5T_FLOAT, q->t.ndim, dims, H5T_NATIVE_FLOAT,
                       stage + q->offset);
    }
    if (!st) st = check_no_extra(r, g, "/params", p, 0, (hsize_t)p->count, ARCH_HINT);
    H5Gclose(g);
    return st;
}

/* The optimizer's kind, step and state blocks (TRAIN entries) into
 * stage[i * total ...] and *step. */
static tern_status load_optim(reader *r, const tern_optim *o, float *stage, long long *step) {
    const char *kind = tern_optim_kind_name(o->cfg.kind);
    if (H5Lexists(r->file, "optim", H5P_DEFAULT) <= 0)
        return tern_error(TERN_ERR_FORMAT,
                          "%s: the checkpoint holds no optimizer state; load it without an optimizer to start %s "
                          "afresh from its weights",
                          r->path, kind);
    tern_status st = TERN_OK;
    hid_t g = open_group(r, r->file, "optim", "/optim", &st);
    if (g < 0) return st;
    char fkind[32] = "";
    if (attr_read_str(g, "kind", fkind, sizeof fkind) < 0 || attr_read_i64(g, "step", step) < 0 || *step < 0)
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint (/optim lacks its 'kind' or 'step')", r->path);
    else if (strcmp(fkind, kind) != 0)
        st = tern_error(TERN_ERR_FORMAT,
                        "%s: the checkpoint's optimizer is %s but this run's is %s; resume with %s, or load the "
                        "weights without an optimizer to start %s afresh",
                        r->path, fkind, kind, fkind, kind);
    const tern_params *p = o->params;
    int n_train = 0;
    for (int j = 0; j < p->count; j++) n_train += (p->items[j].flags & TERN_PARAM_TRAIN) ? 1 : 0;
    const char *hint = "the optimizer state does not match the parameters; " DAMAGED_HINT;
    for (int i = 0; i < o->n_state && !st; i++) {
        const char *sname = tern_optim_state_name(o, i);
        char where[TERN_PARAM_NAME_LEN + 40], what[TERN_PARAM_NAME_LEN + 40];
        if (H5Lexists(g, sname, H5P_DEFAULT) <= 0) {
            st = tern_error(TERN_ERR_FORMAT,
                            "%s: the checkpoint's %s keeps no '%s' state, which this run's %s needs (another "
                            "momentum setting?); resume with the checkpoint's settings, or load the weights only",
                            r->path, fkind, sname, kind);
            break;
        }
        snprintf(where, sizeof where, "/optim/%s", sname);
        hid_t sg = open_group(r, g, sname, where, &st);
        for (int j = 0; j < p->count && !st; j++) {
            const tern_param *q = &p->items[j];
            if (!(q->flags & TERN_PARAM_TRAIN)) continue;
            snprintf(where, sizeof where, "/optim/%s/%s", sname, q->name);
            snprintf(what, sizeof what, "%s state of '%s'", sname, q->name);
            hsize_t dims[TERN_MAX_DIMS];
            tensor_dims(&q->t, dims);
            st = read_dset(r, sg, q->name, where, what, hint, H5T_FLOAT, q->t.ndim, dims, H5T_NATIVE_FLOAT,
                           stage + (size_t)i * o->total + q->offset);
        }
        snprintf(where, sizeof where, "/optim/%s", sname);
        if (!st) st = check_no_extra(r, sg, where, p, 1, (hsize_t)n_train, hint);
        if (sg >= 0) H5Gclose(sg);
    }
    H5G_info_t gi = {0};
    if (!st && (H5Gget_info(g, &gi) < 0 || gi.nlinks != (hsize_t)o->n_state))
        st = tern_error(TERN_ERR_FORMAT,
                        "%s: the checkpoint's %s keeps %llu state block(s) but this run's keeps %d (another momentum "
                        "setting?); resume with the checkpoint's settings, or load the weights only",
                        r->path, fkind, (unsigned long long)gi.nlinks, o->n_state);
    H5Gclose(g);
    return st;
}

/* Each RNG the caller lists, by name, into states[i]. */
static tern_status load_rngs(reader *r, const tern_ckpt_state *s, tern_rng *states) {
    tern_status st = TERN_OK;
    hid_t g = open_group(r, r->file, "rng", "/rng", &st);
    if (g < 0) return st;
    hsize_t four = 4;
    for (int i = 0; i < s->n_rng && !st; i++) {
        char where[TERN_CKPT_NAME_LEN + 8], what[TERN_CKPT_NAME_LEN + 8];
        snprintf(where, sizeof where, "/rng/%s", s->rng[i].name);
        snprintf(what, sizeof what, "rng '%s'", s->rng[i].name);
        st = read_dset(r, g, s->rng[i].name, where, what,
                       "it was saved by a trainer that keeps other random streams; the run cannot resume exactly",
                       H5T_INTEGER, 1, &four, H5T_NATIVE_UINT64, states[i].s);
        /* xoshiro256** never leaves the all-zero state: it cannot be a saved one. */
        if (!st && !(states[i].s[0] | states[i].s[1] | states[i].s[2] | states[i].s[3]))
            st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: rng '%s' is all zero", r->path, s->rng[i].name);
    }
    H5Gclose(g);
    return st;
}

static tern_status load_all(reader *r, tern_ckpt_state *s, float *stage, tern_rng *rngs, long long *counters,
                            tern_ckpt_meta *meta, int *n_meta) {
    tern_status st = load_params(r, s->params, stage);
    if (!st && s->optim) st = load_optim(r, s->optim, stage + s->params->total, &counters[2]);
    if (!st) st = load_rngs(r, s, rngs);
    if (!st) st = read_counters(r, &counters[0], &counters[1]);
    if (!st) st = read_meta(r, meta, n_meta);
    return st;
}

tern_status tern_ckpt_load(const char *path, tern_ckpt_state *s) {
    tern_status st = check_state(path, s);
    if (st) return st;
    tern_params *p = s->params;
    tern_optim *o = s->optim;
    int n_state = o ? o->n_state : 0;
    /* Staging in the caller's layout: params, then each optimizer state block. */
    float *stage = malloc(sizeof(float) * (p->total ? p->total : 1) * (size_t)(1 + n_state));
    if (!stage) return tern_error(TERN_ERR_NOMEM, "%s: cannot allocate %zu floats to load into", path, p->total);
    tern_rng rngs[TERN_CKPT_MAX_RNG];
    tern_ckpt_meta meta[TERN_CKPT_MAX_META];
    long long counters[3] = {0, 0, 0}; /* epoch, step, optimizer step */
    int n_meta = 0;
    h5_quiet q;
    quiet_begin(&q);
    reader r;
    st = open_checkpoint(&r, path);
    if (!st) st = load_all(&r, s, stage, rngs, counters, meta, &n_meta);
    reader_close(&r);
    quiet_end(&q);
    if (!st) {
        /* Everything is read and verified: only now touch the caller's state. */
        for (int i = 0; i < p->count; i++) {
            tern_param *e = &p->items[i];
            memcpy(e->t.data, stage + e->offset, sizeof(float) * e->t.n);
            for (int k = 0; k < n_state && (e->flags & TERN_PARAM_TRAIN); k++)
                memcpy(tern_optim_state_view(o, k, e), stage + (size_t)(1 + k) * p->total + e->offset,
                       sizeof(float) * e->t.n);
        }
        if (o) o->step = (long)counters[2];
        for (int i = 0; i < s->n_rng; i++) *s->rng[i].rng = rngs[i];
        s->epoch = (long)counters[0];
        s->step = (long)counters[1];
        s->n_meta = n_meta;
        memcpy(s->meta, meta, sizeof(tern_ckpt_meta) * (size_t)n_meta);
    }
    free(stage);
    return st;
}

/* ---- config and info ------------------------------------------------------ */

static tern_status read_config(reader *r, char **text) {
    if (H5Lexists(r->file, "config", H5P_DEFAULT) <= 0)
        return tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint (no /config)", r->path);
    hid_t d = H5Dopen2(r->file, "config", H5P_DEFAULT);
    hid_t t = d < 0 ? -1 : H5Dget_type(d), sp = d < 0 ? -1 : H5Dget_space(d);
    tern_status st = TERN_OK;
    if (t < 0 || sp < 0 || H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t) != 0 ||
        H5Sget_simple_extent_npoints(sp) != 1) {
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint (/config is not one fixed-length string)", r->path);
    } else {
        size_t n = H5Tget_size(t);
        char *buf = calloc(n + 1, 1);
        if (!buf)
            st = tern_error(TERN_ERR_NOMEM, "%s: cannot allocate %zu bytes for the config", r->path, n + 1);
        else if (H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: cannot read /config (HDF5: %s)", r->path,
                            h5_cause(r->cause, sizeof r->cause));
            free(buf);
        } else
            *text = buf;
    }
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    return st;
}

tern_status tern_ckpt_read_config(const char *path, char **text) {
    if (!text) return tern_error(TERN_ERR_ARG, "%s: read_config given NULL for the text", path ? path : "checkpoint");
    *text = NULL;
    h5_quiet q;
    quiet_begin(&q);
    reader r;
    tern_status st = open_checkpoint(&r, path);
    if (!st) st = read_config(&r, text);
    reader_close(&r);
    quiet_end(&q);
    return st;
}

typedef struct info_walk {
    tern_ckpt_info *info;
    int bad;
} info_walk;

static herr_t params_walk(hid_t g, const char *name, const H5L_info_t *li, void *data) {
    (void)li;
    info_walk *w = data;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    hid_t sp = d < 0 ? -1 : H5Dget_space(d);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    if (n < 0) {
        w->bad = 1;
        return -1;
    }
    w->info->n_params++;
    w->info->n_scalars += (size_t)n;
    return 0;
}

static herr_t rng_walk(hid_t g, const char *name, const H5L_info_t *li, void *data) {
    (void)g;
    (void)li;
    info_walk *w = data;
    if (w->info->n_rng >= TERN_CKPT_MAX_RNG || !name_ok(name, TERN_CKPT_NAME_LEN)) {
        w->bad = 1;
        return -1;
    }
    strcpy(w->info->rng_names[w->info->n_rng++], name);
    return 0;
}

static tern_status read_info(reader *r, tern_ckpt_info *info) {
    long long epoch, step;
    tern_status st = read_counters(r, &epoch, &step);
    if (st) return st;
    info->version = TERN_CKPT_VERSION;
    info->epoch = (long)epoch;
    info->step = (long)step;
    info_walk w = {.info = info};
    hsize_t idx = 0;
    hid_t g = open_group(r, r->file, "params", "/params", &st);
    if (g < 0) return st;
    if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, params_walk, &w) < 0 || w.bad)
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: cannot list /params", r->path);
    H5Gclose(g);
    if (st) return st;
    g = open_group(r, r->file, "rng", "/rng", &st);
    if (g < 0) return st;
    idx = 0;
    if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, rng_walk, &w) < 0 || w.bad)
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: cannot list /rng", r->path);
    H5Gclose(g);
    if (st) return st;
    if (H5Lexists(r->file, "optim", H5P_DEFAULT) > 0) {
        long long ostep = 0;
        g = open_group(r, r->file, "optim", "/optim", &st);
        if (g < 0) return st;
        if (attr_read_str(g, "kind", info->optim, sizeof info->optim) < 0 || attr_read_i64(g, "step", &ostep) < 0)
            st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint (/optim lacks its 'kind' or 'step')", r->path);
        info->optim_step = (long)ostep;
        H5Gclose(g);
        if (st) return st;
    }
    return read_meta(r, info->meta, &info->n_meta);
}

tern_status tern_ckpt_read_info(const char *path, tern_ckpt_info *info) {
    if (!info) return tern_error(TERN_ERR_ARG, "%s: read_info given a NULL info", path ? path : "checkpoint");
    tern_ckpt_info tmp;
    memset(&tmp, 0, sizeof tmp);
    h5_quiet q;
    quiet_begin(&q);
    reader r;
    tern_status st = open_checkpoint(&r, path);
    if (!st) st = read_info(&r, &tmp);
    reader_close(&r);
    quiet_end(&q);
    if (!st) *info = tmp;
    return st;
}
