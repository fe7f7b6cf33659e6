/* deploy.c — deploy checkpoints: save as HDF5, load with every shape and
 * code verified (tern/deploy.h). Making one from a trained model is
 * export.c's.
 *
 * The file shares its plumbing with training checkpoints (h5util.c): built
 * in memory, written atomically, a CRC-32 header checked before HDF5 parses
 * anything, HDF5's error printing replaced by a one-line message. The
 * schema is in tern/deploy.h and, in full, docs/deploy-format.md. */
#include "tern/deploy.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/fsutil.h"
#include "io/h5util.h"
#include "tern/quant.h"

#define DAMAGED_HINT "the file was altered or corrupted: export it again from its training checkpoint"
#define TOOL_HINT "the file was altered or written by another tool: export it again"

static const tern_h5_format deploy_format = {
    .magic = "tern-deploy model\n",
    .version = TERN_DEPLOY_VERSION,
    .kind = "deploy checkpoint",
    /* Version 1 stored each row's blocks end to end; version 2 stores them in
     * the kernels' tile order. A version-1 file is refused, not re-laid: its
     * training checkpoint exports a version-2 file in seconds. */
    .version_hint = "re-export it from its training checkpoint with `tern export`",
    .damaged_hint = DAMAGED_HINT,
};

static const char *const dlayer_names[TERN_DLAYER_TYPE_COUNT] = {
    [TERN_DLAYER_LINEAR] = "linear",   [TERN_DLAYER_CONV2D] = "conv2d",
    [TERN_DLAYER_AFFINE] = "affine",   [TERN_DLAYER_MAXPOOL] = "maxpool",
    [TERN_DLAYER_AVGPOOL] = "avgpool", [TERN_DLAYER_GLOBAL_AVGPOOL] = "global_avgpool",
    [TERN_DLAYER_RELU] = "relu",       [TERN_DLAYER_HARDTANH] = "hardtanh",
    [TERN_DLAYER_FLATTEN] = "flatten", [TERN_DLAYER_ADD] = "add",
};

const char *tern_dlayer_type_name(tern_dlayer_type t) {
    return (unsigned)t < TERN_DLAYER_TYPE_COUNT ? dlayer_names[t] : "unknown";
}

void tern_deploy_init(tern_deploy *d) { memset(d, 0, sizeof *d); }

static void dlayer_free(tern_dlayer *L) {
    tern_packed_free(&L->packed);
    free(L->weight);
    free(L->bias);
    free(L->scale);
    free(L->center);
    L->weight = L->bias = L->scale = L->center = NULL;
}

void tern_deploy_free(tern_deploy *d) {
    for (int i = 0; d->layers && i < d->n_layers; i++) dlayer_free(&d->layers[i]);
    free(d->layers);
    memset(d, 0, sizeof *d);
}

/* The K a linear/conv layer's input gives it: F, or cin*k*k. */
static int wcols(const tern_dlayer *L, const int *in_shape) {
    return L->type == TERN_DLAYER_CONV2D ? L->in_channels * L->kernel * L->kernel : in_shape[0];
}

/* ---- shapes ----------------------------------------------------------------- */

/* Layer i's output shape from its input shape (in_ndim, in) and its
 * parameters, by the model's rule (tern_layer_out_shape), into L->out_*;
 * "" or a reason in why[]. `M` is the row count of a linear/conv layer's
 * weights. */
static int infer_shape(const tern_deploy *d, int i, int in_ndim, const int *in, int M, int *out_ndim, int *out,
                       char *why, size_t wl) {
    const tern_dlayer *L = &d->layers[i];
    char sb[64];
    tern_dims_str(in_ndim, in, sb, sizeof sb);
    /* The attributes come from a file: bound them before any arithmetic,
     * and do every product below in 64 bits, so a crafted file cannot wrap
     * an int into a small, plausible size. */
    const long long LIM = 1 << 16;
    if (L->kernel > LIM || L->pad > LIM || L->stride > LIM || L->in_channels > (1 << 24) || M > (1 << 24))
        return snprintf(why, wl, "kernel %d, pad %d, stride %d, channels %d or outputs %d out of range", L->kernel,
                        L->pad, L->stride, L->in_channels, M), 0;
    /* Each deploy layer shapes its output as the model layer it came from. */
    static const tern_layer_type as_layer[TERN_DLAYER_TYPE_COUNT] = {
        [TERN_DLAYER_LINEAR] = TERN_LAYER_LINEAR,   [TERN_DLAYER_CONV2D] = TERN_LAYER_CONV2D,
        [TERN_DLAYER_AFFINE] = TERN_LAYER_BATCHNORM, [TERN_DLAYER_MAXPOOL] = TERN_LAYER_MAXPOOL,
        [TERN_DLAYER_AVGPOOL] = TERN_LAYER_AVGPOOL, [TERN_DLAYER_GLOBAL_AVGPOOL] = TERN_LAYER_GLOBAL_AVGPOOL,
        [TERN_DLAYER_RELU] = TERN_LAYER_RELU,       [TERN_DLAYER_HARDTANH] = TERN_LAYER_HARDTANH,
        [TERN_DLAYER_FLATTEN] = TERN_LAYER_FLATTEN, [TERN_DLAYER_ADD] = TERN_LAYER_ADD,
    };
    if ((unsigned)L->type >= TERN_DLAYER_TYPE_COUNT) return snprintf(why, wl, "unknown layer type %d", (int)L->type), 0;
    tern_layer_spec s = {.type = as_layer[L->type], .out = M, .kernel = L->kernel, .stride = L->stride, .pad = L->pad};
    if (tern_layer_out_shape(&s, i, in_ndim, in, out_ndim, out)) return snprintf(why, wl, "%s", tern_errmsg()), 0;
    if ((L->type == TERN_DLAYER_CONV2D || L->type == TERN_DLAYER_AFFINE) && L->in_channels != in[0])
        return snprintf(why, wl, "%s has %d input channels but its input is %s", dlayer_names[L->type],
                        L->in_channels, sb), 0;
    if (L->type == TERN_DLAYER_CONV2D && (long long)L->in_channels * L->kernel * L->kernel > INT_MAX)
        return snprintf(why, wl, "conv2d weight of %d x %dx%d is too large", L->in_channels, L->kernel, L->kernel), 0;
    if (L->type == TERN_DLAYER_ADD) {
        if (L->from < 0 || L->from >= i) return snprintf(why, wl, "add 'from' %d is not an earlier layer", L->from), 0;
        const tern_dlayer *F = &d->layers[L->from];
        if (F->out_ndim != in_ndim || memcmp(F->out_shape, in, sizeof(int) * (size_t)in_ndim)) {
            char fb[64];
            return snprintf(why, wl, "add input %s does not match layer %d's output %s", sb, L->from,
                            tern_dims_str(F->out_ndim, F->out_shape, fb, sizeof fb)), 0;
        }
    }
    return 1;
}

/* Whether layer L's memory per sample stays within TERN_DEPLOY_MAX_ACT_ELEMS
 * (tern/deploy.h): its output, and for a conv its columns (K padded to the
 * kernels' 128, by OH*OW), which the kernels stage per image. Sizes in 64
 * bits with overflow checks; the reason in why[] when not. */
static int activation_fits(const tern_dlayer *L, char *why, size_t wl) {
    const unsigned long long lim = TERN_DEPLOY_MAX_ACT_ELEMS;
    unsigned long long n = 1, cols = 0;
    int over = 0;
    for (int k = 0; k < L->out_ndim; k++) over |= __builtin_mul_overflow(n, (unsigned long long)L->out_shape[k], &n);
    if (over || n > lim)
        return snprintf(why, wl, "its output has %s%llu values per sample, more than tern's bound of %llu (%llu MiB)",
                        over ? "over " : "", over ? ULLONG_MAX : n, lim, lim * 4 >> 20), 0;
    if (L->type != TERN_DLAYER_CONV2D) return 1;
    unsigned long long kp = ((unsigned long long)L->in_features + 127) / 128 * 128;
    over = __builtin_mul_overflow(kp, (unsigned long long)L->out_shape[1], &cols) ||
           __builtin_mul_overflow(cols, (unsigned long long)L->out_shape[2], &cols);
    if (over || cols > lim)
        return snprintf(why, wl, "its %d x %d output positions of %d inputs each need %s%llu values of columns per "
                        "sample, more than tern's bound of %llu (%llu MiB)", L->out_shape[1], L->out_shape[2],
                        L->in_features, over ? "over " : "", over ? ULLONG_MAX : cols, lim, lim * 4 >> 20), 0;
    return 1;
}

/* The index of v's first NaN or infinity; n when there is none. */
static size_t first_nonfinite(const float *v, size_t n) {
    for (size_t i = 0; v && i < n; i++)
        if (!isfinite(v[i])) return i;
    return n;
}

/* Every float a model in memory holds is finite, and the input's std is
 * positive, before a byte is written: a file tern_deploy_load would refuse
 * is never written. `name` stands for the file in the message. */
static tern_status check_model(const tern_deploy *d, const char *name) {
    for (int c = 0; c < d->in_shape[0] && c < TERN_DATA_MAX_CHANNELS; c++)
        if (!isfinite(d->mean[c]) || !isfinite(d->std[c]) || !(d->std[c] > 0.0f))
            return tern_error(TERN_ERR_NUMERIC, "%s: the input normalisation of channel %d (mean %g, std %g) is not "
                              "usable", name, c, d->mean[c], d->std[c]);
    for (int i = 0; i < d->n_layers; i++) {
        const tern_dlayer *L = &d->layers[i];
        const int weighted = L->type == TERN_DLAYER_LINEAR || L->type == TERN_DLAYER_CONV2D;
        const size_t M = weighted ? (size_t)L->out_shape[0] : 0, C = (size_t)L->in_channels;
        const struct { const char *what; const float *v; size_t n; } arr[] = {
            {"bias", L->bias, weighted ? M : (L->type == TERN_DLAYER_AFFINE ? C : 0)},
            {"weight", L->weight, weighted && !L->ternary ? M * (size_t)L->in_features : 0},
            {"wp", L->packed.wp, weighted && L->ternary ? M : 0},
            {"wn", L->packed.wn, weighted && L->ternary ? M : 0},
            {"center", L->center, L->type == TERN_DLAYER_AFFINE ? C : 0},
            {"scale", L->scale, L->type == TERN_DLAYER_AFFINE ? C : 0},
        };
        for (size_t k = 0; k < sizeof arr / sizeof arr[0]; k++) {
            size_t j = first_nonfinite(arr[k].v, arr[k].n);
            if (j < arr[k].n)
                return tern_error(TERN_ERR_NUMERIC, "%s: layer %d (%s): %s[%zu] = %g is not finite; the model's "
                                  "weights or batchnorm statistics are not finite", name, i, L->name,
                                  L->type == TERN_DLAYER_AFFINE && k == 0 ? "shift" : arr[k].what, j, arr[k].v[j]);
        }
    }
    return TERN_OK;
}

/* ---- saving ------------------------------------------------------------------ */

typedef struct save_job {
    const tern_deploy *d;
    int deflate;
    size_t *qs_disk;  /* out: stored bytes of the qs datasets */
} save_job;

static herr_t attr_i32(hid_t loc, const char *name, int v) {
    return tern_h5_attr_write(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT, &v);
}

static herr_t attr_f32v(hid_t loc, const char *name, int n, const float *v) {
    return tern_h5_attr_write_vec(loc, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, n, v);
}

static herr_t attr_i32v(hid_t loc, const char *name, int n, const int *v) {
    return tern_h5_attr_write_vec(loc, name, H5T_STD_I32LE, H5T_NATIVE_INT, n, v);
}

/* A float32 dataset written and closed. */
/* The dims of an fp32 layer's /weight dataset into wd, PyTorch's layout:
 * linear (M, K), conv2d (M, C, k, k); returns the rank. Written and read by
 * this one rule. */
static int fp32_weight_dims(const tern_dlayer *L, int M, int K, hsize_t wd[4]) {
    wd[0] = (hsize_t)M;
    if (L->type != TERN_DLAYER_CONV2D) {
        wd[1] = (hsize_t)K;
        return 2;
    }
    wd[1] = (hsize_t)L->in_channels;
    wd[2] = wd[3] = (hsize_t)L->kernel;
    return 4;
}

static herr_t put_f32(hid_t g, const char *name, int rank, const hsize_t *dims, const float *v, int deflate) {
    hid_t ds = tern_h5_dset_write(g, name, rank, dims, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, v, deflate);
    return ds < 0 ? -1 : H5Dclose(ds);
}

static herr_t write_layer(tern_h5_writer *w, const save_job *job, int i) {
    const tern_dlayer *L = &job->d->layers[i];
    char gname[32];
    snprintf(gname, sizeof gname, "%03d", i);
    snprintf(w->what, sizeof w->what, "/layers/%s (%s)", gname, L->name);
    hid_t lg = H5Gopen2(w->file, "layers", H5P_DEFAULT);
    hid_t g = lg < 0 ? -1 : H5Gcreate2(lg, gname, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (lg >= 0) H5Gclose(lg);
    if (g < 0) return -1;
    herr_t r = 0;
    int z = job->deflate;
    if (tern_h5_attr_write_str(g, "type", dlayer_names[L->type]) < 0 || tern_h5_attr_write_str(g, "name", L->name) < 0 ||
        tern_h5_attr_write_str(g, "act", tern_act_name(L->act)) < 0 || attr_i32v(g, "out_shape", L->out_ndim, L->out_shape) < 0)
        r = -1;
    switch (L->type) {
    case TERN_DLAYER_LINEAR:
    case TERN_DLAYER_CONV2D: {
        int M = L->out_shape[0], K = L->in_features;
        hsize_t dm = (hsize_t)M;
        if (r >= 0 && (attr_i32(g, "ternary", L->ternary) < 0 || attr_i32(g, "in_features", K) < 0 ||
                       attr_i32(g, "out_features", M) < 0))
            r = -1;
        if (r >= 0 && L->type == TERN_DLAYER_CONV2D &&
            (attr_i32(g, "in_channels", L->in_channels) < 0 || attr_i32(g, "kernel", L->kernel) < 0 ||
             attr_i32(g, "stride", L->stride) < 0 || attr_i32(g, "pad", L->pad) < 0))
            r = -1;
        if (r >= 0) r = put_f32(g, "bias", 1, &dm, L->bias, z);
        if (r >= 0 && L->ternary) {
            hsize_t qd[3] = {(hsize_t)M, (hsize_t)L->packed.kblocks, TERN_T2_BLOCK_BYTES};
            if (attr_i32(g, "act_bits", L->act_bits) < 0 || tern_h5_attr_write_str(g, "quantizer", L->quantizer) < 0 ||
                tern_h5_attr_write_str(g, "weight_format", tern_wfmt_table[L->packed.fmt].name) < 0)
                r = -1;
            hid_t q = r < 0 ? -1 : tern_h5_dset_write(g, "qs", 3, qd, H5T_STD_U8LE, H5T_NATIVE_UINT8, L->packed.qs, z);
            if (q < 0 || H5Dclose(q) < 0) r = -1;
            if (r >= 0) r = put_f32(g, "wp", 1, &dm, L->packed.wp, z);
            if (r >= 0) r = put_f32(g, "wn", 1, &dm, L->packed.wn, z);
        } else if (r >= 0) {
            hsize_t wd[4];
            r = put_f32(g, "weight", fp32_weight_dims(L, M, K, wd), wd, L->weight, z);
        }
        break;
    }
    case TERN_DLAYER_AFFINE: {
        hsize_t dc = (hsize_t)L->in_channels;
        if (attr_i32(g, "channels", L->in_channels) < 0) r = -1;
        if (r >= 0) r = put_f32(g, "center", 1, &dc, L->center, z);
        if (r >= 0) r = put_f32(g, "scale", 1, &dc, L->scale, z);
        if (r >= 0) r = put_f32(g, "shift", 1, &dc, L->bias, z);
        break;
    }
    case TERN_DLAYER_MAXPOOL:
    case TERN_DLAYER_AVGPOOL:
        if (r >= 0 && (attr_i32(g, "kernel", L->kernel) < 0 || attr_i32(g, "stride", L->stride) < 0 ||
                       attr_i32(g, "pad", L->pad) < 0))
            r = -1;
        break;
    case TERN_DLAYER_ADD:
        if (r >= 0) r = attr_i32(g, "from", L->from);
        break;
    default: break;
    }
    if (H5Gclose(g) < 0) r = -1;
    return r;
}

static herr_t fill_deploy(tern_h5_writer *w, const void *user) {
    const save_job *job = user;
    const tern_deploy *d = job->d;
    snprintf(w->what, sizeof w->what, "the root attributes");
    int C = d->in_shape[0];
    if (tern_h5_attr_write_str(w->file, "format", TERN_DEPLOY_FORMAT) < 0 ||
        attr_i32(w->file, "version", TERN_DEPLOY_VERSION) < 0 ||
        tern_h5_attr_write_str(w->file, "weight_format", tern_wfmt_table[TERN_WFMT_T2].name) < 0 ||
        attr_i32(w->file, "n_layers", d->n_layers) < 0 || attr_i32v(w->file, "input_shape", 3, d->in_shape) < 0 ||
        attr_i32(w->file, "n_classes", d->n_classes) < 0 || tern_h5_attr_write_str(w->file, "dataset", d->dataset) < 0 ||
        tern_h5_attr_write_str(w->file, "source", d->source) < 0)
        return -1;
    snprintf(w->what, sizeof w->what, "/input");
    hid_t g = H5Gcreate2(w->file, "input", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    herr_t r = attr_f32v(g, "mean", C, d->mean);
    if (r >= 0) r = attr_f32v(g, "std", C, d->std);
    if (H5Gclose(g) < 0) r = -1;
    if (r < 0) return r;
    /* Class names as one fixed-length string array of the longest name's size. */
    snprintf(w->what, sizeof w->what, "/classes");
    size_t len = 1;
    for (int k = 0; k < d->n_classes; k++)
        if (strlen(d->class_names[k]) + 1 > len) len = strlen(d->class_names[k]) + 1;
    char *names = calloc((size_t)d->n_classes, len);
    hid_t t = H5Tcopy(H5T_C_S1);
    if (!names || t < 0 || H5Tset_size(t, len) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0 ||
        H5Tset_cset(t, H5T_CSET_UTF8) < 0)
        r = -1;
    for (int k = 0; names && k < d->n_classes; k++) memcpy(names + (size_t)k * len, d->class_names[k], strlen(d->class_names[k]));
    hsize_t nc = (hsize_t)d->n_classes;
    hid_t ds = r < 0 ? -1 : tern_h5_dset_write(w->file, "classes", 1, &nc, t, t, names, 0);
    if (ds < 0 || H5Dclose(ds) < 0) r = -1;
    if (t >= 0) H5Tclose(t);
    free(names);
    if (r < 0) return r;
    snprintf(w->what, sizeof w->what, "/layers");
    g = H5Gcreate2(w->file, "layers", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0 || H5Gclose(g) < 0) return -1;
    for (int i = 0; i < d->n_layers && r >= 0; i++) r = write_layer(w, job, i);
    /* The stored (compressed) size of the codes, once the chunks are flushed. */
    snprintf(w->what, sizeof w->what, "the packed weights' storage size");
    if (r >= 0) r = H5Fflush(w->file, H5F_SCOPE_GLOBAL);
    for (int i = 0; i < d->n_layers && r >= 0; i++) {
        if (!d->layers[i].ternary) continue;
        char qname[32];
        snprintf(qname, sizeof qname, "layers/%03d/qs", i);
        hid_t q = H5Dopen2(w->file, qname, H5P_DEFAULT);
        if (q < 0) return -1;
        *job->qs_disk += (size_t)H5Dget_storage_size(q);
        r = H5Dclose(q);
    }
    return r;
}

/* Weight counts, for the report and to size the in-memory file. */
static void count_sizes(const tern_deploy *d, tern_deploy_sizes *z) {
    memset(z, 0, sizeof *z);
    for (int i = 0; i < d->n_layers; i++) {
        const tern_dlayer *L = &d->layers[i];
        if (L->type == TERN_DLAYER_LINEAR || L->type == TERN_DLAYER_CONV2D) {
            size_t M = (size_t)L->out_shape[0], K = (size_t)L->in_features;
            if (L->ternary) {
                z->ternary_weights += M * K;
                z->packed_bytes += M * L->packed.row_bytes;
                z->other_params += 3 * M;
            } else {
                z->other_params += M * K + M;
            }
        } else if (L->type == TERN_DLAYER_AFFINE) {
            z->other_params += 3 * (size_t)L->in_channels;
        }
    }
}

/* Write the file to a temporary name beside path, load it back with every
 * check tern_deploy_load makes, and only then rename it over path: an
 * existing path is replaced by a file that loads, or not at all. */
static tern_status save_verified(const char *path, size_t size_hint, save_job *job, size_t *bytes) {
    tern_status ok = tern_fs_check_replaceable(path);
    if (ok) return ok;
    size_t cap = strlen(path) + 48;
    char *tmp = malloc(cap);
    if (!tmp) return tern_error(TERN_ERR_NOMEM, "%s: out of memory", path);
    tern_fs_tmp_name(tmp, cap, path);
    tern_status st = tern_h5_save(tmp, path, &deploy_format, size_hint, fill_deploy, job, bytes);
    if (!st) {
        tern_deploy back;
        st = tern_deploy_load(&back, tmp);
        tern_deploy_free(&back);
        if (st) st = tern_error(st, "%s: not written: the file as built does not load back (%s)", path, tern_errmsg());
    }
    if (!st && rename(tmp, path) != 0)
        st = tern_error(TERN_ERR_IO, "%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
    if (st) unlink(tmp);
    else st = tern_fs_sync_dir(path);
    free(tmp);
    return st;
}

tern_status tern_deploy_save(const tern_deploy *d, const char *path, int deflate, tern_deploy_sizes *sizes) {
    if (!d || !d->layers || d->n_layers < 1) return tern_error(TERN_ERR_ARG, "deploy: saving an empty model");
    if (deflate < 0 || deflate > 9) return tern_error(TERN_ERR_ARG, "deploy: deflate level %d is not in 0..9", deflate);
    tern_status st = check_model(d, path ? path : "deploy");
    if (st) return st;
    /* Deflate is an optional HDF5 filter; without it the file is written uncompressed. */
    tern_h5_quiet q;
    tern_h5_quiet_begin(&q);
    if (deflate > 0 && H5Zfilter_avail(H5Z_FILTER_DEFLATE) <= 0) deflate = 0;
    tern_h5_quiet_end(&q);
    tern_deploy_sizes z;
    count_sizes(d, &z);
    save_job job = {.d = d, .deflate = deflate, .qs_disk = &z.packed_disk_bytes};
    const size_t hint = z.packed_bytes + 4 * z.other_params;
    st = path ? save_verified(path, hint, &job, &z.file_bytes)
              : tern_h5_save(NULL, "deploy", &deploy_format, hint, fill_deploy, &job, &z.file_bytes);
    if (!st && sizes) *sizes = z;
    return st;
}

/* ---- loading ------------------------------------------------------------------ */

typedef tern_h5_reader reader;

/* A deploy checkpoint's 'format' attribute; a training checkpoint gets told to export first. */
static tern_status check_format(const reader *r) {
    char fmt[64];
    if (tern_h5_attr_read_str(r->file, "format", fmt, sizeof fmt) < 0)
        return tern_error(TERN_ERR_FORMAT, "%s: not a tern deploy checkpoint (no 'format' string attribute)", r->path);
    if (strcmp(fmt, TERN_DEPLOY_FORMAT) != 0)
        return tern_error(TERN_ERR_FORMAT, "%s: not a deploy checkpoint (format '%s', expected '%s')%s", r->path, fmt,
                          TERN_DEPLOY_FORMAT,
                          strcmp(fmt, "tern-train") ? "" : "; export it first: tern export CKPT -o MODEL.h5");
    return TERN_OK;
}

static tern_status open_deploy(reader *r, const char *path) {
    r->path = path;
    r->file = -1;
    if (!path || !*path) return tern_error(TERN_ERR_ARG, "deploy: empty or NULL path");
    return tern_h5_open_verified(r, path, &deploy_format, check_format);
}

/* An integer attribute of group `where` in int32's range; a clear error
 * when it is missing, not an integer, or its value does not fit. */
static tern_status get_int(reader *r, hid_t loc, const char *where, const char *name, int *v) {
    long long x = 0;
    char text[32];
    int rc = tern_h5_attr_read_int(loc, name, &x, text, sizeof text);
    if (rc == TERN_H5_ATTR_MISSING)
        return tern_error(TERN_ERR_FORMAT, "%s: %s lacks the integer attribute '%s'; " TOOL_HINT, r->path, where, name);
    if (rc == TERN_H5_ATTR_TYPE)
        return tern_error(TERN_ERR_FORMAT, "%s: %s attribute '%s' is not one integer; " TOOL_HINT, r->path, where, name);
    if (rc == TERN_H5_ATTR_RANGE || x < INT32_MIN || x > INT32_MAX)
        return tern_error(TERN_ERR_FORMAT, "%s: %s attribute '%s' is %s, outside %d..%d; " TOOL_HINT, r->path, where,
                          name, text, INT32_MIN, INT32_MAX);
    *v = (int)x;
    return TERN_OK;
}

static tern_status get_str(reader *r, hid_t loc, const char *where, const char *name, char *buf, size_t len) {
    int rc = tern_h5_attr_read_str(loc, name, buf, len);
    if (rc == TERN_H5_ATTR_MISSING)
        return tern_error(TERN_ERR_FORMAT, "%s: %s lacks the string attribute '%s'; " TOOL_HINT, r->path, where, name);
    if (rc == TERN_H5_ATTR_LONG)
        return tern_error(TERN_ERR_FORMAT, "%s: %s attribute '%s' is longer than %zu bytes; " TOOL_HINT, r->path, where,
                          name, len - 1);
    if (rc != TERN_H5_ATTR_OK)
        return tern_error(TERN_ERR_FORMAT, "%s: %s attribute '%s' is not one string; " TOOL_HINT, r->path, where, name);
    return TERN_OK;
}

/* A 1-D attribute of exactly n values (class cls, memory type mtype). */
static tern_status get_vec(reader *r, hid_t loc, const char *where, const char *name, H5T_class_t cls, hid_t mtype,
                           int n, void *v) {
    hid_t a = H5Aexists(loc, name) > 0 ? H5Aopen(loc, name, H5P_DEFAULT) : -1;
    hid_t t = a < 0 ? -1 : H5Aget_type(a), sp = a < 0 ? -1 : H5Aget_space(a);
    int ok = t >= 0 && sp >= 0 && H5Tget_class(t) == cls && H5Sget_simple_extent_npoints(sp) == n &&
             H5Aread(a, mtype, v) >= 0;
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    if (!ok)
        return tern_error(TERN_ERR_FORMAT, "%s: %s lacks the attribute '%s' of %d %s; " TOOL_HINT, r->path, where, name,
                          n, cls == H5T_FLOAT ? "floats" : "integers");
    return TERN_OK;
}

/* Dataset loc/name of class cls and exactly (rank, want) into buf. */
static tern_status get_dset(reader *r, hid_t loc, const char *where, const char *name, const char *need,
                            H5T_class_t cls, int rank, const hsize_t *want, hid_t mtype, void *buf) {
    tern_h5_shape got;
    char a[96], b[96];
    tern_h5_dset_status s = tern_h5_read_dset(r, loc, name, cls, rank, want, mtype, buf, &got);
    /* A scalar dataset has no shape to speak of. */
    if (s == TERN_H5_DSET_SHAPE && got.rank < 1) s = TERN_H5_DSET_NO_SHAPE;
    switch (s) {
    case TERN_H5_DSET_OK:
        return TERN_OK;
    case TERN_H5_DSET_MISSING:
        return tern_error(TERN_ERR_FORMAT, "%s: dataset %s/%s is missing; " TOOL_HINT, r->path, where, name);
    case TERN_H5_DSET_UNOPENED:
        return tern_error(TERN_ERR_FORMAT, "%s: %s/%s is not a readable dataset (HDF5: %s); " DAMAGED_HINT, r->path,
                          where, name, r->cause);
    case TERN_H5_DSET_TYPE:
        return tern_error(TERN_ERR_FORMAT, "%s: %s/%s holds %s; " TOOL_HINT, r->path, where, name,
                          cls == H5T_FLOAT ? "no floats" : "no integers");
    case TERN_H5_DSET_NO_SHAPE:
        return tern_error(TERN_ERR_FORMAT, "%s: %s/%s has no readable shape; " DAMAGED_HINT, r->path, where, name);
    case TERN_H5_DSET_SHAPE:
        return tern_error(TERN_ERR_FORMAT, "%s: %s/%s is %s but %s needs %s; " TOOL_HINT, r->path, where, name,
                          tern_h5_dims_str(got.rank, got.dims, a, sizeof a), need,
                          tern_h5_dims_str(rank, want, b, sizeof b));
    case TERN_H5_DSET_UNREAD:
        break;
    }
    return tern_error(TERN_ERR_FORMAT, "%s: cannot read %s/%s (HDF5: %s); " DAMAGED_HINT, r->path, where, name,
                      r->cause);
}

static tern_status check_finite(reader *r, const char *where, const char *name, const float *v, size_t n) {
    size_t i = first_nonfinite(v, n);
    if (i < n)
        return tern_error(TERN_ERR_FORMAT, "%s: %s/%s[%zu] = %g is not finite; " TOOL_HINT, r->path, where, name, i,
                          v[i]);
    return TERN_OK;
}

static int parse_name(const char *const *names, int n, const char *s) {
    for (int k = 0; k < n; k++)
        if (names[k] && !strcmp(names[k], s)) return k;
    return -1;
}

static tern_status read_weighted(reader *r, hid_t g, const char *where, tern_dlayer *L, int K, const char *need) {
    int M = L->out_shape[0];
    hsize_t dm = (hsize_t)M;
    tern_status st = TERN_OK;
    L->bias = malloc(sizeof(float) * (size_t)M);
    if (!L->bias) return tern_error(TERN_ERR_NOMEM, "%s: out of memory", r->path);
    if ((st = get_dset(r, g, where, "bias", need, H5T_FLOAT, 1, &dm, H5T_NATIVE_FLOAT, L->bias))) return st;
    if ((st = check_finite(r, where, "bias", L->bias, (size_t)M))) return st;
    if (L->ternary) {
        char wf[16];
        if ((st = get_int(r, g, where, "act_bits", &L->act_bits))) return st;
        if (L->act_bits != 0 && L->act_bits != 8)
            return tern_error(TERN_ERR_FORMAT, "%s: %s has act_bits %d; only 0 and 8 exist; " TOOL_HINT, r->path, where,
                              L->act_bits);
        if ((st = get_str(r, g, where, "quantizer", L->quantizer, sizeof L->quantizer))) return st;
        if ((st = get_str(r, g, where, "weight_format", wf, sizeof wf))) return st;
        if (strcmp(wf, tern_wfmt_table[TERN_WFMT_T2].name))
            return tern_error(TERN_ERR_FORMAT, "%s: %s has weight format '%s'; this tern reads 't2'; " TOOL_HINT,
                              r->path, where, wf);
        if (K > TERN_KERNEL_MAX_COLS)
            return tern_error(TERN_ERR_FORMAT, "%s: %s has %d inputs, more than the kernels' %d", r->path, where, K,
                              TERN_KERNEL_MAX_COLS);
        if ((st = tern_packed_init(&L->packed, M, K))) return tern_error(st, "%s: %s: %s", r->path, where, tern_errmsg());
        hsize_t qd[3] = {(hsize_t)M, (hsize_t)L->packed.kblocks, TERN_T2_BLOCK_BYTES};
        if ((st = get_dset(r, g, where, "qs", need, H5T_INTEGER, 3, qd, H5T_NATIVE_UINT8, L->packed.qs))) return st;
        if ((st = get_dset(r, g, where, "wp", need, H5T_FLOAT, 1, &dm, H5T_NATIVE_FLOAT, L->packed.wp))) return st;
        if ((st = get_dset(r, g, where, "wn", need, H5T_FLOAT, 1, &dm, H5T_NATIVE_FLOAT, L->packed.wn))) return st;
        if ((st = check_finite(r, where, "wp", L->packed.wp, (size_t)M)) ||
            (st = check_finite(r, where, "wn", L->packed.wn, (size_t)M)))
            return st;
        int sym = 1;
        for (int k = 0; k < M; k++) sym &= L->packed.wp[k] == L->packed.wn[k];
        L->packed.symmetric = sym;
        /* Every code and the padding, as the unpacker checks them. */
        int8_t *T = malloc((size_t)M * (size_t)K);
        if (!T) return tern_error(TERN_ERR_NOMEM, "%s: out of memory", r->path);
        st = tern_packed_get(&L->packed, T);
        free(T);
        if (st) return tern_error(TERN_ERR_FORMAT, "%s: %s/qs: %s; " TOOL_HINT, r->path, where, tern_errmsg());
        return TERN_OK;
    }
    hsize_t wd[4];
    const int rank = fp32_weight_dims(L, M, K, wd);
    L->weight = malloc(sizeof(float) * (size_t)M * (size_t)K);
    if (!L->weight) return tern_error(TERN_ERR_NOMEM, "%s: out of memory", r->path);
    if ((st = get_dset(r, g, where, "weight", need, H5T_FLOAT, rank, wd, H5T_NATIVE_FLOAT, L->weight))) return st;
    return check_finite(r, where, "weight", L->weight, (size_t)M * (size_t)K);
}

static tern_status read_layer(reader *r, tern_deploy *d, int i, int in_ndim, const int *in) {
    tern_dlayer *L = &d->layers[i];
    char where[32], gname[16], type[32], act[16];
    snprintf(gname, sizeof gname, "%03d", i);
    snprintf(where, sizeof where, "/layers/%s", gname);
    hid_t lg = H5Gopen2(r->file, "layers", H5P_DEFAULT);
    hid_t g = lg >= 0 && H5Lexists(lg, gname, H5P_DEFAULT) > 0 ? H5Gopen2(lg, gname, H5P_DEFAULT) : -1;
    if (lg >= 0) H5Gclose(lg);
    if (g < 0)
        return tern_error(TERN_ERR_FORMAT, "%s: group %s is missing (the file says %d layers); " TOOL_HINT, r->path, where,
                          d->n_layers);
    tern_status st = get_str(r, g, where, "type", type, sizeof type);
    if (!st) st = get_str(r, g, where, "name", L->name, sizeof L->name);
    if (!st) st = get_str(r, g, where, "act", act, sizeof act);
    int t = st ? -1 : parse_name(dlayer_names, TERN_DLAYER_TYPE_COUNT, type);
    tern_act a = TERN_ACT_NONE;
    if (!st && (t < 0 || tern_act_parse(act, &a)))
        st = tern_error(TERN_ERR_FORMAT, "%s: %s has unknown %s '%s'; " TOOL_HINT, r->path, where, t < 0 ? "type" : "act",
                        t < 0 ? type : act);
    if (!st) {
        L->type = (tern_dlayer_type)t;
        L->act = a;
    }
    int M = 0, K = 0;
    switch (st ? TERN_DLAYER_TYPE_COUNT : L->type) {
    case TERN_DLAYER_LINEAR:
    case TERN_DLAYER_CONV2D:
        st = get_int(r, g, where, "ternary", &L->ternary);
        if (!st) st = get_int(r, g, where, "out_features", &M);
        if (!st) st = get_int(r, g, where, "in_features", &K);
        L->in_features = K;
        if (!st && (L->ternary != 0 && L->ternary != 1))
            st = tern_error(TERN_ERR_FORMAT, "%s: %s has ternary = %d, not 0 or 1; " TOOL_HINT, r->path, where,
                            L->ternary);
        if (!st && (M < 1 || K < 1 || (long long)M * K > (1LL << 30)))
            st = tern_error(TERN_ERR_FORMAT, "%s: %s has %d x %d weights, outside 1 .. 2^30; " TOOL_HINT, r->path,
                            where, M, K);
        if (!st && L->type == TERN_DLAYER_CONV2D) {
            st = get_int(r, g, where, "in_channels", &L->in_channels);
            if (!st) st = get_int(r, g, where, "kernel", &L->kernel);
            if (!st) st = get_int(r, g, where, "stride", &L->stride);
            if (!st) st = get_int(r, g, where, "pad", &L->pad);
        }
        break;
    case TERN_DLAYER_AFFINE: st = get_int(r, g, where, "channels", &L->in_channels); break;
    case TERN_DLAYER_MAXPOOL:
    case TERN_DLAYER_AVGPOOL:
        st = get_int(r, g, where, "kernel", &L->kernel);
        if (!st) st = get_int(r, g, where, "stride", &L->stride);
        if (!st) st = get_int(r, g, where, "pad", &L->pad);
        break;
    case TERN_DLAYER_ADD: st = get_int(r, g, where, "from", &L->from); break;
    default: break;
    }
    char why[320];
    if (!st && (!infer_shape(d, i, in_ndim, in, M, &L->out_ndim, L->out_shape, why, sizeof why) ||
                !activation_fits(L, why, sizeof why)))
        st = tern_error(TERN_ERR_FORMAT, "%s: %s (%s): %s; " TOOL_HINT, r->path, where, L->name, why);
    /* The stored out_shape must be the one the topology gives. */
    int stored[3] = {0, 0, 0};
    if (!st) st = get_vec(r, g, where, "out_shape", H5T_INTEGER, H5T_NATIVE_INT, L->out_ndim, stored);
    if (!st && memcmp(stored, L->out_shape, sizeof(int) * (size_t)L->out_ndim)) {
        char a1[64], b1[64];
        st = tern_error(TERN_ERR_FORMAT, "%s: %s (%s) says its output is %s but its input and parameters give %s; " TOOL_HINT,
                        r->path, where, L->name, tern_dims_str(L->out_ndim, stored, a1, sizeof a1),
                        tern_dims_str(L->out_ndim, L->out_shape, b1, sizeof b1));
    }
    if (!st && (L->type == TERN_DLAYER_LINEAR || L->type == TERN_DLAYER_CONV2D)) {
        int want = wcols(L, in);
        if (K != want)
            st = tern_error(TERN_ERR_FORMAT, "%s: %s (%s) says in_features %d but its input %s gives %d; " TOOL_HINT,
                            r->path, where, L->name, K, in_ndim == 1 ? "(F)" : "(C,H,W)", want);
        char need[96];
        snprintf(need, sizeof need, "layer %d (%s, %d -> %d)", i, L->name, K, M);
        if (!st) st = read_weighted(r, g, where, L, K, need);
    }
    if (!st && L->type == TERN_DLAYER_AFFINE) {
        int C = L->in_channels;
        hsize_t dc = (hsize_t)C;
        char need[96];
        snprintf(need, sizeof need, "layer %d (%s, %d channels)", i, L->name, C);
        L->center = malloc(sizeof(float) * (size_t)C);
        L->scale = malloc(sizeof(float) * (size_t)C);
        L->bias = malloc(sizeof(float) * (size_t)C);
        if (!L->center || !L->scale || !L->bias) st = tern_error(TERN_ERR_NOMEM, "%s: out of memory", r->path);
        if (!st) st = get_dset(r, g, where, "center", need, H5T_FLOAT, 1, &dc, H5T_NATIVE_FLOAT, L->center);
        if (!st) st = get_dset(r, g, where, "scale", need, H5T_FLOAT, 1, &dc, H5T_NATIVE_FLOAT, L->scale);
        if (!st) st = get_dset(r, g, where, "shift", need, H5T_FLOAT, 1, &dc, H5T_NATIVE_FLOAT, L->bias);
        if (!st) st = check_finite(r, where, "center", L->center, (size_t)C);
        if (!st) st = check_finite(r, where, "scale", L->scale, (size_t)C);
        if (!st) st = check_finite(r, where, "shift", L->bias, (size_t)C);
    }
    H5Gclose(g);
    return st;
}

/* Class name k (text of n bytes, not necessarily NUL-terminated) into d. */
static tern_status set_class(reader *r, tern_deploy *d, int k, const char *text, size_t n) {
    size_t len = text ? strnlen(text, n) : 0;
    if (len >= sizeof d->class_names[k])
        return tern_error(TERN_ERR_FORMAT, "%s: /classes[%d] is longer than %zu bytes; " TOOL_HINT, r->path, k,
                          sizeof d->class_names[k] - 1);
    memcpy(d->class_names[k], text ? text : "", len);
    d->class_names[k][len] = '\0';
    return TERN_OK;
}

/* /classes: n_classes fixed-length strings (as written) or variable-length
 * ones (as h5py writes a list of str), ASCII or UTF-8; the memory type keeps
 * the file's character set, which HDF5 does not convert. */
static tern_status read_classes(reader *r, tern_deploy *d) {
    hid_t ds = H5Lexists(r->file, "classes", H5P_DEFAULT) > 0 ? H5Dopen2(r->file, "classes", H5P_DEFAULT) : -1;
    if (ds < 0) return tern_error(TERN_ERR_FORMAT, "%s: dataset /classes is missing; " TOOL_HINT, r->path);
    hid_t t = H5Dget_type(ds), sp = H5Dget_space(ds), mt = -1;
    const int vlen = t >= 0 && H5Tis_variable_str(t) > 0;
    size_t len = t >= 0 && !vlen ? H5Tget_size(t) : sizeof(char *);
    tern_status st = TERN_OK;
    if (t < 0 || sp < 0 || H5Tget_class(t) != H5T_STRING || len < 1 || len > 4096 ||
        H5Sget_simple_extent_npoints(sp) != d->n_classes)
        st = tern_error(TERN_ERR_FORMAT, "%s: /classes is not %d strings; " TOOL_HINT, r->path, d->n_classes);
    char *buf = st ? NULL : calloc((size_t)d->n_classes, len);
    if (!st && !buf) st = tern_error(TERN_ERR_NOMEM, "%s: out of memory", r->path);
    if (!st) {
        mt = vlen ? H5Tcopy(H5T_C_S1) : H5Tcopy(t);
        if (mt < 0 || (vlen && (H5Tset_size(mt, H5T_VARIABLE) < 0 || H5Tset_cset(mt, H5Tget_cset(t)) < 0)) ||
            H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
            st = tern_error(TERN_ERR_FORMAT, "%s: cannot read /classes (HDF5: %s); " DAMAGED_HINT, r->path,
                            tern_h5_cause(r->cause, sizeof r->cause));
        } else {
            char **v = (char **)(void *)buf;
            for (int k = 0; !st && k < d->n_classes; k++)
                st = vlen ? set_class(r, d, k, v[k], sizeof d->class_names[k]) : set_class(r, d, k, buf + (size_t)k * len, len);
            if (vlen) H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, buf);
        }
    }
    free(buf);
    if (mt >= 0) H5Tclose(mt);
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    return st;
}

static tern_status read_all(reader *r, tern_deploy *d) {
    tern_status st = TERN_OK;
    int n_layers = 0;
    if ((st = get_int(r, r->file, "/", "n_layers", &n_layers))) return st;
    if (n_layers < 1 || n_layers > 4096)
        return tern_error(TERN_ERR_FORMAT, "%s: n_layers = %d is out of range; " TOOL_HINT, r->path, n_layers);
    if ((st = get_vec(r, r->file, "/", "input_shape", H5T_INTEGER, H5T_NATIVE_INT, 3, d->in_shape))) return st;
    if (d->in_shape[0] < 1 || d->in_shape[0] > TERN_DATA_MAX_CHANNELS || d->in_shape[1] < 1 || d->in_shape[2] < 1 ||
        (long long)d->in_shape[0] * d->in_shape[1] * d->in_shape[2] > (1 << 26))
        return tern_error(TERN_ERR_FORMAT, "%s: input_shape (%d,%d,%d) is out of range; " TOOL_HINT, r->path,
                          d->in_shape[0], d->in_shape[1], d->in_shape[2]);
    if ((st = get_int(r, r->file, "/", "n_classes", &d->n_classes))) return st;
    if (d->n_classes < 1 || d->n_classes > TERN_DATA_MAX_CLASSES)
        return tern_error(TERN_ERR_FORMAT, "%s: n_classes = %d is not in 1..%d; " TOOL_HINT, r->path, d->n_classes,
                          TERN_DATA_MAX_CLASSES);
    if ((st = get_str(r, r->file, "/", "dataset", d->dataset, sizeof d->dataset))) return st;
    if ((st = get_str(r, r->file, "/", "source", d->source, sizeof d->source))) return st;
    char wf[16];
    if ((st = get_str(r, r->file, "/", "weight_format", wf, sizeof wf))) return st;
    if (strcmp(wf, tern_wfmt_table[TERN_WFMT_T2].name))
        return tern_error(TERN_ERR_FORMAT, "%s: weight format '%s'; this tern reads 't2'; " TOOL_HINT, r->path, wf);
    int C = d->in_shape[0];
    hid_t g = H5Lexists(r->file, "input", H5P_DEFAULT) > 0 ? H5Gopen2(r->file, "input", H5P_DEFAULT) : -1;
    if (g < 0) return tern_error(TERN_ERR_FORMAT, "%s: group /input is missing; " TOOL_HINT, r->path);
    st = get_vec(r, g, "/input", "mean", H5T_FLOAT, H5T_NATIVE_FLOAT, C, d->mean);
    if (!st) st = get_vec(r, g, "/input", "std", H5T_FLOAT, H5T_NATIVE_FLOAT, C, d->std);
    H5Gclose(g);
    for (int c = 0; !st && c < C; c++)
        if (!isfinite(d->mean[c]) || !(d->std[c] > 0.0f) || !isfinite(d->std[c]))
            st = tern_error(TERN_ERR_FORMAT, "%s: /input mean/std of channel %d (%g, %g) are not usable; " TOOL_HINT,
                            r->path, c, d->mean[c], d->std[c]);
    if (st) return st;
    if ((st = read_classes(r, d))) return st;
    d->layers = calloc((size_t)n_layers, sizeof *d->layers);
    if (!d->layers) return tern_error(TERN_ERR_NOMEM, "%s: out of memory", r->path);
    d->n_layers = n_layers;
    int in_ndim = 3;
    const int *in = d->in_shape;
    for (int i = 0; i < n_layers && !st; i++) {
        st = read_layer(r, d, i, in_ndim, in);
        in_ndim = d->layers[i].out_ndim;
        in = d->layers[i].out_shape;
    }
    if (st) return st;
    const tern_dlayer *last = &d->layers[n_layers - 1];
    if (last->out_ndim != 1 || last->out_shape[0] != d->n_classes) {
        char sb[64];
        return tern_error(TERN_ERR_FORMAT, "%s: the last layer gives %s but the model has %d classes; " TOOL_HINT,
                          r->path, tern_dims_str(last->out_ndim, last->out_shape, sb, sizeof sb), d->n_classes);
    }
    return TERN_OK;
}

tern_status tern_deploy_load(tern_deploy *d, const char *path) {
    if (!d) return tern_error(TERN_ERR_ARG, "deploy: load into NULL");
    tern_deploy_init(d);
    tern_h5_quiet q;
    tern_h5_quiet_begin(&q);
    reader r;
    tern_status st = open_deploy(&r, path);
    if (!st) st = read_all(&r, d);
    tern_h5_reader_close(&r);
    tern_h5_quiet_end(&q);
    if (st) tern_deploy_free(d);
    return st;
}

int tern_deploy_probe(const char *path) {
    if (!path) return 0;
    FILE *f = NULL;
    if (tern_fs_fopen_regular(path, "rb", &f, NULL)) return 0;  /* the loader says why */
    char head[32] = {0};
    size_t got = fread(head, 1, sizeof head - 1, f);
    fclose(f);
    size_t ml = strlen(deploy_format.magic);
    if (got >= ml && !memcmp(head, deploy_format.magic, ml)) return 1;
    /* No deploy header: maybe a deploy file whose header was damaged. HDF5
     * parses it only when tern's size and CRC checks pass (or it has no tern
     * header at all): a damaged body is no deploy file to probe. */
    int found = 0;
    if (tern_h5_check_header(path, &deploy_format, &found)) return 0;
    tern_h5_quiet q;
    tern_h5_quiet_begin(&q);
    int yes = 0;
    hid_t fapl = tern_h5_fapl();
    hid_t fl = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (fapl >= 0) H5Pclose(fapl);
    char fmt[64];
    if (fl >= 0 && tern_h5_attr_read_str(fl, "format", fmt, sizeof fmt) == 0) yes = !strcmp(fmt, TERN_DEPLOY_FORMAT);
    if (fl >= 0) H5Fclose(fl);
    tern_h5_quiet_end(&q);
    return yes;
}
