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
 * the tail of our one-line message. The in-memory build, the atomic write,
 * the header check and the error recorder live in h5util.c, shared with the
 * deploy checkpoints (deploy.c). */
#include "tern/checkpoint.h"

#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/h5util.h"

/* Checkpoints of a different architecture: what to do about it. */
#define ARCH_HINT                                                                                                 \
    "the checkpoint comes from another architecture: build the model from the config stored in it (/config) " \
    "or start a new run"

#define VERSION_HINT "load it with the tern release that wrote it, or start a new run"
#define DAMAGED_HINT "the file was altered or corrupted; resume from an earlier checkpoint"

/* The HDF5 user block: 512 bytes before the HDF5 superblock that HDF5
 * ignores, where tern keeps a text header with the file's size and CRC-32. */
static const tern_h5_format ckpt_format = {
    .magic = "tern-train checkpoint\n",
    .version = TERN_CKPT_VERSION,
    .kind = "checkpoint",
    .version_hint = VERSION_HINT,
    .damaged_hint = DAMAGED_HINT,
};

/* ---- names and dims ------------------------------------------------------- */

/* 1 when `name` can be one HDF5 link name of at most cap-1 characters. */
static int name_ok(const char *name, size_t cap) {
    if (!name || !*name || strlen(name) >= cap || strchr(name, '/')) return 0;
    return strcmp(name, ".") != 0;
}

static void tensor_dims(const tern_tensor *t, hsize_t *dims) {
    for (int i = 0; i < t->ndim; i++) dims[i] = (hsize_t)t->shape[i];
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
    if (!isfinite(value))
        return tern_error(TERN_ERR_ARG, "checkpoint: metadata '%s' = %g is not a finite number", name ? name : "(null)",
                          value);
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

/* Every float a checkpoint holds is finite, and the optimizer's blocks that
 * cannot be negative (Adam's v) are not: a NaN weight or moment would
 * train or evaluate as NaN without a word. `data` is in p's layout, state[k]
 * in o's; the first bad value is named with `where` ("the checkpoint", "the
 * model"). */
static tern_status check_values(tern_status code, const char *path, const char *where, const tern_params *p,
                                const tern_optim *o, const float *data, const float *const *state) {
    int n_state = o ? o->n_state : 0;
    for (int i = 0; i < p->count; i++) {
        const tern_param *q = &p->items[i];
        for (int k = -1; k < n_state; k++) {
            if (k >= 0 && !(q->flags & TERN_PARAM_TRAIN)) break;
            const float *v = (k < 0 ? data : state[k]) + q->offset;
            int nonneg = k >= 0 && tern_optim_state_nonneg(o, k);
            for (size_t j = 0; j < q->t.n; j++) {
                if (isfinite(v[j]) && !(nonneg && v[j] < 0.0f)) continue;
                char what[TERN_PARAM_NAME_LEN + 40];
                if (k < 0) snprintf(what, sizeof what, "parameter '%s'", q->name);
                else snprintf(what, sizeof what, "%s state of '%s'", tern_optim_state_name(o, k), q->name);
                return tern_error(code, "%s: %s's %s holds %g at index %zu, %s%s", path, where, what, (double)v[j],
                                  j, nonneg ? "which must be finite and >= 0" : "which must be finite",
                                  code == TERN_ERR_FORMAT ? "; " DAMAGED_HINT : "");
            }
        }
    }
    return TERN_OK;
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

static herr_t close_dset(hid_t d) { return d < 0 ? -1 : H5Dclose(d); }

typedef tern_h5_writer writer;

static herr_t write_root(writer *w, const tern_ckpt_state *s) {
    snprintf(w->what, sizeof w->what, "the root attributes");
    int version = TERN_CKPT_VERSION;
    long long epoch = s->epoch, step = s->step;
    if (tern_h5_attr_write_str(w->file, "format", TERN_CKPT_FORMAT) < 0 ||
        tern_h5_attr_write(w->file, "version", H5T_STD_I32LE, H5T_NATIVE_INT, &version) < 0 ||
        tern_h5_attr_write(w->file, "epoch", H5T_STD_I64LE, H5T_NATIVE_LLONG, &epoch) < 0 ||
        tern_h5_attr_write(w->file, "step", H5T_STD_I64LE, H5T_NATIVE_LLONG, &step) < 0)
        return -1;
    snprintf(w->what, sizeof w->what, "/config");
    const char *text = s->config_text ? s->config_text : "";
    hid_t t = tern_h5_str_type(text);
    if (t < 0) return -1;
    hsize_t one = 1;
    herr_t r = close_dset(tern_h5_dset_write(w->file, "config", 1, &one, t, t, text, 0));
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
        hid_t d = tern_h5_dset_write(g, q->name, q->t.ndim, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, q->t.data, 0);
        if (d < 0 || tern_h5_attr_write(d, "trainable", H5T_STD_I32LE, H5T_NATIVE_INT, &trainable) < 0) r = -1;
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
    if (tern_h5_attr_write_str(g, "kind", tern_optim_kind_name(o->cfg.kind)) < 0 ||
        tern_h5_attr_write(g, "step", H5T_STD_I64LE, H5T_NATIVE_LLONG, &step) < 0 ||
        tern_h5_attr_write(g, "weight_decay", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &wd) < 0 ||
        tern_h5_attr_write(g, "momentum", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &mu) < 0 ||
        tern_h5_attr_write(g, "nesterov", H5T_STD_I32LE, H5T_NATIVE_INT, &nesterov) < 0 ||
        tern_h5_attr_write(g, "beta1", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &b1) < 0 ||
        tern_h5_attr_write(g, "beta2", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &b2) < 0 ||
        tern_h5_attr_write(g, "eps", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &eps) < 0)
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
            r = close_dset(tern_h5_dset_write(sg, q->name, q->t.ndim, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                                                  tern_optim_state_view(o, i, q), 0));
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
        r = close_dset(tern_h5_dset_write(g, s->rng[i].name, 1, &four, H5T_STD_U64LE, H5T_NATIVE_UINT64, s->rng[i].rng->s, 0));
    }
    if (H5Gclose(g) < 0) r = -1;
    if (r < 0) return r;
    snprintf(w->what, sizeof w->what, "/meta");
    g = H5Gcreate2(w->file, "meta", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    for (int i = 0; i < s->n_meta && r >= 0; i++) {
        snprintf(w->what, sizeof w->what, "/meta attribute %s", s->meta[i].name);
        r = tern_h5_attr_write(g, s->meta[i].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &s->meta[i].value);
    }
    if (H5Gclose(g) < 0) r = -1;
    return r;
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

static herr_t fill_file(tern_h5_writer *w, const void *user) {
    const tern_ckpt_state *s = user;
    herr_t r = write_root(w, s);
    if (r >= 0) r = write_params(w, s->params);
    if (r >= 0 && s->optim) r = write_optim(w, s->optim);
    if (r >= 0) r = write_rng_meta(w, s);
    return r;
}

tern_status tern_ckpt_save(const char *path, const tern_ckpt_state *s) {
    tern_status st = check_state(path, s);
    /* A checkpoint that load would refuse is never written. */
    if (!st)
        st = check_values(TERN_ERR_ARG, path, "the model", s->params, s->optim, s->params->data,
                          s->optim ? (const float *const *)s->optim->state : NULL);
    for (int i = 0; !st && i < s->n_meta; i++)
        if (!isfinite(s->meta[i].value))
            st = tern_error(TERN_ERR_ARG, "%s: metadata '%s' = %g is not a finite number", path, s->meta[i].name,
                            s->meta[i].value);
    if (st) return st;
    return tern_h5_save(path, path, &ckpt_format, data_bytes(s), fill_file, s, NULL);
}

/* ---- reading -------------------------------------------------------------- */

typedef tern_h5_reader reader;

/* A tern-train checkpoint's 'format' attribute. */
static tern_status check_format(const reader *r) {
    char fmt[64];
    if (H5Aexists(r->file, "format") <= 0)
        return tern_error(TERN_ERR_FORMAT, "%s: not a tern checkpoint (an HDF5 file without a 'format' attribute)",
                          r->path);
    if (tern_h5_attr_read_str(r->file, "format", fmt, sizeof fmt) < 0)
        return tern_error(TERN_ERR_FORMAT, "%s: not a tern checkpoint (its 'format' attribute is not a short string)",
                          r->path);
    if (strcmp(fmt, TERN_CKPT_FORMAT) != 0)
        return tern_error(TERN_ERR_FORMAT, "%s: not a tern training checkpoint (format '%s', expected '%s')", r->path,
                          fmt, TERN_CKPT_FORMAT);
    return TERN_OK;
}

/* Open `path` read-only and check it is a tern-train checkpoint of our version. */
static tern_status open_checkpoint(reader *r, const char *path) {
    r->path = path;
    r->file = -1;
    if (!path || !*path) return tern_error(TERN_ERR_ARG, "checkpoint: empty or NULL path");
    return tern_h5_open_verified(r, path, &ckpt_format, check_format);
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
    tern_h5_shape got;
    char a[96], b[96];
    switch (tern_h5_read_dset(r, loc, name, cls, rank, want, mtype, buf, &got)) {
    case TERN_H5_DSET_OK:
        return TERN_OK;
    case TERN_H5_DSET_MISSING:
        return tern_error(TERN_ERR_FORMAT, "%s: %s is missing from the checkpoint (%s); %s", r->path, what, where,
                          hint);
    case TERN_H5_DSET_UNOPENED:
        return tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: %s is not a readable dataset (HDF5: %s)", r->path,
                          where, r->cause);
    case TERN_H5_DSET_TYPE:
        return tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: %s holds data of another type", r->path, where);
    case TERN_H5_DSET_NO_SHAPE:
        return tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: %s has no readable shape", r->path, where);
    case TERN_H5_DSET_SHAPE:
        return tern_error(TERN_ERR_FORMAT, "%s: %s is %s in the checkpoint but %s in the model; %s", r->path, what,
                          tern_h5_dims_str(got.rank, got.dims, a, sizeof a), tern_h5_dims_str(rank, want, b, sizeof b),
                          hint);
    case TERN_H5_DSET_UNREAD:
        break;
    }
    return tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: cannot read %s (HDF5: %s)", r->path, where, r->cause);
}

/* Groups and attribute lists are walked in HDF5's native order only: an
 * ordered walk of dense storage first builds a table, and HDF5 1.10 frees
 * uninitialised pointers when that fails on a malformed file. Names are
 * sorted here instead. */
#define LIST_ORDER H5_ITER_NATIVE

static int cmp_name(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

/* /rng holds at most TERN_CKPT_MAX_RNG streams, as tern writes them: the one
 * rule of every reader (load, read_info and so eval, resume and inspect). */
static tern_status check_rng_count(reader *r, hid_t g) {
    H5G_info_t gi;
    if (H5Gget_info(g, &gi) < 0)
        return tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: cannot list /rng (HDF5: %s)", r->path,
                          tern_h5_cause(r->cause, sizeof r->cause));
    if (gi.nlinks > TERN_CKPT_MAX_RNG)
        return tern_error(TERN_ERR_FORMAT, "%s: /rng holds %llu random streams, more than the %d a checkpoint can; %s",
                          r->path, (unsigned long long)gi.nlinks, TERN_CKPT_MAX_RNG, DAMAGED_HINT);
    return TERN_OK;
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
                          tern_h5_cause(r->cause, sizeof r->cause));
    if (gi.nlinks == want) return TERN_OK;
    extra_find e = {.p = p, .train_only = train_only};
    hsize_t idx = 0;
    if (H5Literate(g, H5_INDEX_NAME, LIST_ORDER, &idx, extra_walk, &e) > 0)
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
    if (!name_ok(name, TERN_CKPT_NAME_LEN) || tern_h5_attr_read(loc, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, &v) < 0) {
        m->st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: /meta attribute '%.40s' is not a number",
                           m->r->path, name);
        return -1;
    }
    if (!isfinite(v)) {
        m->st = tern_error(TERN_ERR_FORMAT, "%s: /meta attribute '%s' is %g, not a finite number; %s", m->r->path,
                           name, v, DAMAGED_HINT);
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
    if (H5Aiterate2(g, H5_INDEX_NAME, LIST_ORDER, &idx, meta_walk, &m) < 0 && !m.st)
        m.st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: cannot list /meta (HDF5: %s)", r->path,
                          tern_h5_cause(r->cause, sizeof r->cause));
    H5Gclose(g);
    qsort(meta, (size_t)m.n, sizeof *meta, cmp_name);
    *n = m.n;
    return m.st;
}

/* Integer attribute `name` of `where` (shown in messages) is in [0, max]:
 * checked before any cast, since the trainer counts epochs in int and the
 * optimizer's steps stop at TERN_OPTIM_MAX_STEP. */
static tern_status check_count(const reader *r, const char *where, const char *name, long long v, long long max) {
    if (v >= 0 && v <= max) return TERN_OK;
    return tern_error(TERN_ERR_FORMAT, "%s: attribute '%s' of %s is %lld, outside 0..%lld; %s", r->path, name, where,
                      v, max, DAMAGED_HINT);
}

static tern_status read_counters(reader *r, long long *epoch, long long *step) {
    if (tern_h5_attr_read_i64(r->file, "epoch", epoch) < 0 || tern_h5_attr_read_i64(r->file, "step", step) < 0)
        return tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint (no integer 'epoch' and 'step' attributes)",
                          r->path);
    tern_status st = check_count(r, "/", "epoch", *epoch, INT_MAX);
    return st ? st : check_count(r, "/", "step", *step, TERN_OPTIM_MAX_STEP);
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
    if (tern_h5_attr_read_str(g, "kind", fkind, sizeof fkind) < 0 || tern_h5_attr_read_i64(g, "step", step) < 0)
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint (/optim lacks its 'kind' or 'step')", r->path);
    else if ((st = check_count(r, "/optim", "step", *step, TERN_OPTIM_MAX_STEP - 1)))
        ;
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
    st = check_rng_count(r, g);
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
    if (!st) {
        const float *state[TERN_OPTIM_MAX_STATE];
        for (int k = 0; s->optim && k < s->optim->n_state; k++) state[k] = stage + (size_t)(1 + k) * s->params->total;
        st = check_values(TERN_ERR_FORMAT, r->path, "the checkpoint", s->params, s->optim, stage, state);
    }
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
    tern_h5_quiet q;
    tern_h5_quiet_begin(&q);
    reader r;
    st = open_checkpoint(&r, path);
    if (!st) st = load_all(&r, s, stage, rngs, counters, meta, &n_meta);
    tern_h5_reader_close(&r);
    tern_h5_quiet_end(&q);
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
                            tern_h5_cause(r->cause, sizeof r->cause));
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
    tern_h5_quiet q;
    tern_h5_quiet_begin(&q);
    reader r;
    tern_status st = open_checkpoint(&r, path);
    if (!st) st = read_config(&r, text);
    tern_h5_reader_close(&r);
    tern_h5_quiet_end(&q);
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
    if (H5Literate(g, H5_INDEX_NAME, LIST_ORDER, &idx, params_walk, &w) < 0 || w.bad)
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: cannot list /params", r->path);
    H5Gclose(g);
    if (st) return st;
    g = open_group(r, r->file, "rng", "/rng", &st);
    if (g < 0) return st;
    idx = 0;
    st = check_rng_count(r, g);
    if (!st && (H5Literate(g, H5_INDEX_NAME, LIST_ORDER, &idx, rng_walk, &w) < 0 || w.bad))
        st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint: cannot list /rng", r->path);
    H5Gclose(g);
    qsort(info->rng_names, (size_t)info->n_rng, sizeof info->rng_names[0], cmp_name);
    if (st) return st;
    if (H5Lexists(r->file, "optim", H5P_DEFAULT) > 0) {
        long long ostep = 0;
        g = open_group(r, r->file, "optim", "/optim", &st);
        if (g < 0) return st;
        if (tern_h5_attr_read_str(g, "kind", info->optim, sizeof info->optim) < 0 || tern_h5_attr_read_i64(g, "step", &ostep) < 0)
            st = tern_error(TERN_ERR_FORMAT, "%s: damaged checkpoint (/optim lacks its 'kind' or 'step')", r->path);
        else
            st = check_count(r, "/optim", "step", ostep, TERN_OPTIM_MAX_STEP - 1);
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
    tern_h5_quiet q;
    tern_h5_quiet_begin(&q);
    reader r;
    tern_status st = open_checkpoint(&r, path);
    if (!st) st = read_info(&r, &tmp);
    tern_h5_reader_close(&r);
    tern_h5_quiet_end(&q);
    if (!st) *info = tmp;
    return st;
}
