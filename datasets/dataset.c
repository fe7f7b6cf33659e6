/* dataset.c — what every dataset shares: finding a split's files and
 * reading them with the readers (idx.c, cifar10.c, folder.c, npy.c, csv.c), per-channel
 * normalisation, augmentation, and the shuffling batch loader. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_impl.h"
#include "io/fsutil.h"

_Static_assert(sizeof(int) == 4, "tern labels are int32 and stored as int");

#define PATH_LEN 4096
#define CIFAR_MAX_FILES 64

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/* ---- opening files ------------------------------------------------------ */

/* 1 when something (a file, a directory, a broken link, ...) is at path. */
static int path_exists(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0 || errno != ENOENT;
}

/* ---- normalisation ------------------------------------------------------ */

tern_status tern_dataset_stats(const tern_dataset *ds, float *mean, float *std) {
    if (!ds || !ds->images || !mean || !std) return tern_error(TERN_ERR_ARG, "dataset stats: empty dataset or NULL output");
    size_t plane = (size_t)ds->h * ds->w;
    double count = (double)ds->n * (double)plane;
    for (int k = 0; k < ds->c; k++) {
        /* Two passes in double: the mean, then the mean squared deviation. */
        double sum = 0.0, sq = 0.0;
        for (int i = 0; i < ds->n; i++) {
            const float *p = ds->images + ((size_t)i * ds->c + k) * plane;  /* (h, w) */
            for (size_t j = 0; j < plane; j++) sum += p[j];
        }
        double m = sum / count;
        for (int i = 0; i < ds->n; i++) {
            const float *p = ds->images + ((size_t)i * ds->c + k) * plane;
            for (size_t j = 0; j < plane; j++) sq += (p[j] - m) * (p[j] - m);
        }
        mean[k] = (float)m;
        std[k] = (float)sqrt(sq / count);
    }
    return TERN_OK;
}

tern_status tern_dataset_normalize(tern_dataset *ds, const tern_norm *norm) {
    if (!ds || !ds->images) return tern_error(TERN_ERR_ARG, "normalize: empty dataset");
    if (!norm || norm->mode == TERN_NORM_NONE) return TERN_OK;
    if (ds->normalized)
        return tern_error(TERN_ERR_ARG, "normalize: %s is already normalised (mean %g, std %g on channel 0)", ds->name,
                          ds->mean[0], ds->std[0]);
    if (ds->c > TERN_DATA_MAX_CHANNELS)
        return tern_error(TERN_ERR_UNSUPPORTED, "normalize: %s has %d channels, at most %d supported", ds->name, ds->c,
                          TERN_DATA_MAX_CHANNELS);
    float mean[TERN_DATA_MAX_CHANNELS], std[TERN_DATA_MAX_CHANNELS];
    if (norm->mode == TERN_NORM_GIVEN) {
        for (int k = 0; k < ds->c; k++) {
            mean[k] = norm->mean[k];
            std[k] = norm->std[k];
            if (!isfinite(mean[k]) || !isfinite(std[k]) || !(std[k] > 0.0f))
                return tern_error(TERN_ERR_ARG, "normalize: %s channel %d: mean %g, std %g; need finite values, std > 0",
                                  ds->name, k, mean[k], std[k]);
        }
    } else if (norm->mode == TERN_NORM_COMPUTE) {
        tern_status st = tern_dataset_stats(ds, mean, std);
        if (st != TERN_OK) return st;
        for (int k = 0; k < ds->c; k++)
            if (!(std[k] > 0.0f))
                return tern_error(TERN_ERR_NUMERIC,
                                  "normalize: %s channel %d is constant (std 0); give mean and std explicitly",
                                  ds->name, k);
    } else {
        return tern_error(TERN_ERR_ARG, "normalize: unknown mode %d", (int)norm->mode);
    }
    size_t plane = (size_t)ds->h * ds->w;
    for (int i = 0; i < ds->n; i++)
        for (int k = 0; k < ds->c; k++) {
            float *p = ds->images + ((size_t)i * ds->c + k) * plane;  /* (h, w) */
            for (size_t j = 0; j < plane; j++) p[j] = (p[j] - mean[k]) / std[k];
        }
    for (int k = 0; k < ds->c; k++) {
        ds->mean[k] = mean[k];
        ds->std[k] = std[k];
    }
    ds->normalized = 1;
    return TERN_OK;
}

/* ---- finding a split's files -------------------------------------------- */

static tern_status join(char *out, const char *who, const char *dir, const char *file) {
    int len = snprintf(out, PATH_LEN, "%s/%s", dir, file);
    if (len < 0 || len >= PATH_LEN) return tern_error(TERN_ERR_ARG, "%s: path %s/%s is too long", who, dir, file);
    return TERN_OK;
}

/* out = dir/base when something is there, else dir/base.gz when something
 * is there; the reader then says what is wrong with a directory, a FIFO or
 * a link loop in its place. */
static tern_status find_idx(char *out, const char *who, const char *dir, const char *base) {
    char gz[PATH_LEN];
    tern_status st = join(out, who, dir, base);
    if (st != TERN_OK) return st;
    if (path_exists(out)) return TERN_OK;
    if (snprintf(gz, sizeof gz, "%s.gz", out) >= (int)sizeof gz)
        return tern_error(TERN_ERR_ARG, "%s: path %s.gz is too long", who, out);
    if (path_exists(gz)) {
        memcpy(out, gz, sizeof gz);
        return TERN_OK;
    }
    return tern_error(TERN_ERR_IO, "%s: missing file %s (nor %s.gz); run datasets/fetch.sh %s", who, out, base, who);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every entry of dir whose name matches pattern, sorted by name (the reader
 * refuses one that is not a regular file).
 * paths[] points into names (CIFAR_MAX_FILES * PATH_LEN chars). */
static tern_status glob_dir(const char *who, const char *dir, const char *pattern, char *names, char **paths,
                            int *count) {
    DIR *d = opendir(dir);
    if (!d) return tern_error(TERN_ERR_IO, "%s: cannot open directory %s: %s", who, dir, strerror(errno));
    tern_status st = TERN_OK;
    *count = 0;
    struct dirent *e;
    while (st == TERN_OK && (e = readdir(d)) != NULL) {
        if (fnmatch(pattern, e->d_name, 0) != 0) continue;
        if (*count == CIFAR_MAX_FILES) {
            st = tern_error(TERN_ERR_ARG, "%s: more than %d files match %s/%s", who, CIFAR_MAX_FILES, dir, pattern);
            break;
        }
        char *p = names + (size_t)*count * PATH_LEN;
        st = join(p, who, dir, e->d_name);
        if (st == TERN_OK) paths[(*count)++] = p;
    }
    closedir(d);
    if (st == TERN_OK) qsort(paths, (size_t)*count, sizeof *paths, cmp_str);
    return st;
}

/* Class names, one per non-empty line of batches.meta.txt (when present). */
static tern_status cifar_meta(tern_dataset *ds, const char *dir) {
    char path[PATH_LEN], line[256];
    tern_status st = join(path, "cifar10", dir, "batches.meta.txt");
    if (st != TERN_OK || !path_exists(path)) return st;
    int fd;
    long long size;
    if ((st = tern_fs_open_regular(path, &fd, &size)) != TERN_OK) return st;
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return tern_error(TERN_ERR_NOMEM, "%s: cannot open: %s", path, strerror(errno));
    }
    char names[TERN_DATA_MAX_CLASSES][TERN_DATA_NAME_LEN];
    int n = 0;
    while (st == TERN_OK && fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t')) len--;
        line[len] = '\0';
        if (len == 0) continue;
        if (n == TERN_DATA_MAX_CLASSES)
            st = tern_error(TERN_ERR_FORMAT, "%s: more than %d class names", path, TERN_DATA_MAX_CLASSES);
        else if (len >= TERN_DATA_NAME_LEN)
            st = tern_error(TERN_ERR_FORMAT, "%s: class name '%s' is longer than %d characters", path, line,
                            TERN_DATA_NAME_LEN - 1);
        else
            memcpy(names[n++], line, len + 1);
    }
    fclose(f);
    if (st == TERN_OK && n != ds->n_classes)
        st = tern_error(TERN_ERR_FORMAT, "%s: %d class names, expected %d", path, n, ds->n_classes);
    if (st == TERN_OK)
        for (int i = 0; i < n; i++) memcpy(ds->class_names[i], names[i], TERN_DATA_NAME_LEN);
    return st;
}

static tern_status load_cifar10(tern_dataset *ds, const char *dir, int train) {
    char *names = malloc((size_t)CIFAR_MAX_FILES * PATH_LEN);
    char *paths[CIFAR_MAX_FILES];
    if (!names) return tern_error(TERN_ERR_NOMEM, "cifar10: out of memory");
    int count = 0;
    tern_status st = TERN_OK;
    /* The standard names first; only when none exists, the looser glob. */
    const char *standard[5] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                               "data_batch_5.bin"};
    if (!train) standard[0] = "test_batch.bin";
    for (int i = 0; i < (train ? 5 : 1) && st == TERN_OK; i++) {
        char *p = names + (size_t)count * PATH_LEN;
        st = join(p, "cifar10", dir, standard[i]);
        if (st == TERN_OK && path_exists(p)) paths[count++] = p;
    }
    const char *pattern = train ? "data_batch_*.bin" : "test_batch*.bin";
    if (st == TERN_OK && count == 0) st = glob_dir("cifar10", dir, pattern, names, paths, &count);
    if (st == TERN_OK && count == 0)
        st = tern_error(TERN_ERR_IO, "cifar10: no %s or %s in %s; run datasets/fetch.sh cifar10 or give a directory "
                        "holding the binary batches",
                        train ? "data_batch_1..5.bin" : "test_batch.bin", pattern, dir);
    if (st == TERN_OK) st = tern_cifar10_load(ds, (const char *const *)paths, count);
    free(names);
    if (st == TERN_OK) st = cifar_meta(ds, dir);
    return st;
}

tern_status tern_dataset_load(tern_dataset *ds, const char *name, const char *dir, const char *split,
                              const tern_norm *norm) {
    return tern_dataset_load_opts(ds, name, dir, split, norm, NULL);
}

tern_status tern_dataset_load_opts(tern_dataset *ds, const char *name, const char *dir, const char *split,
                                   const tern_norm *norm, const tern_data_opts *opts) {
    if (!ds || !name || !dir || !split) return tern_error(TERN_ERR_ARG, "dataset load: NULL argument");
    int train = !strcmp(split, "train");
    if (!train && strcmp(split, "test"))
        return tern_error(TERN_ERR_ARG, "%s: unknown split '%s' (expected train or test)", name, split);
    if (!train && norm && norm->mode == TERN_NORM_COMPUTE)
        return tern_error(TERN_ERR_ARG,
                          "%s: normalisation statistics must come from the train split; pass its mean/std as given",
                          name);
    if (!tern__dataset_empty(ds))
        return tern_error(TERN_ERR_ARG, "%s: dataset already holds data; tern_dataset_free() it first", name);
    tern_status st;
    if (!strcmp(name, "mnist") || !strcmp(name, "fashion-mnist")) {
        char images[PATH_LEN], labels[PATH_LEN];
        st = find_idx(images, name, dir, train ? "train-images-idx3-ubyte" : "t10k-images-idx3-ubyte");
        if (st == TERN_OK) st = find_idx(labels, name, dir, train ? "train-labels-idx1-ubyte" : "t10k-labels-idx1-ubyte");
        if (st == TERN_OK) st = tern_idx_load(ds, images, labels);
        if (st == TERN_OK && name[0] == 'f') tern__dataset_set_classes(ds, fashion_names, 10);
    } else if (!strcmp(name, "cifar10")) {
        st = load_cifar10(ds, dir, train);
    } else if (!strcmp(name, "folder")) {
        st = tern_folder_load(ds, dir, split, opts);
    } else if (!strcmp(name, "npy")) {
        st = tern_npy_load(ds, dir, split);
    } else if (!strcmp(name, "csv")) {
        st = tern_csv_load(ds, dir, split, opts);
    } else {
        return tern_error(TERN_ERR_ARG, "dataset load: unknown dataset '%s' (expected mnist, fashion-mnist, cifar10, "
                          "folder, npy or csv)", name);
    }
    if (st == TERN_OK) {
        snprintf(ds->name, sizeof ds->name, "%s", name);
        st = tern_dataset_normalize(ds, norm);
    }
    if (st != TERN_OK) tern_dataset_free(ds);
    return st;
}

/* ---- augmentation ------------------------------------------------------- */

void tern_augment_sample(float *dst, const float *src, int c, int h, int w, const tern_augment *aug,
                         const float *fill, tern_rng *rng) {
    int p = aug && aug->crop_pad > 0 ? aug->crop_pad : 0;
    int oy = 0, ox = 0, flip = 0;  /* the crop window's offset in the unpadded frame */
    if (p) {
        oy = (int)tern_rng_below(rng, (uint32_t)(2 * p + 1)) - p;
        ox = (int)tern_rng_below(rng, (uint32_t)(2 * p + 1)) - p;
    }
    if (aug && aug->hflip) flip = tern_rng_uniform(rng) < 0.5f;
    for (int k = 0; k < c; k++) {
        const float *s = src + (size_t)k * h * w;  /* (h, w) */
        float *d = dst + (size_t)k * h * w;        /* (h, w) */
        float f = fill ? fill[k] : 0.0f;
        for (int y = 0; y < h; y++) {
            int sy = y + oy;
            float *drow = d + (size_t)y * w;
            if (sy < 0 || sy >= h) {
                for (int x = 0; x < w; x++) drow[x] = f;
                continue;
            }
            const float *srow = s + (size_t)sy * w;
            for (int x = 0; x < w; x++) {
                int sx = (flip ? w - 1 - x : x) + ox;
                drow[x] = sx >= 0 && sx < w ? srow[sx] : f;
            }
        }
    }
}

/* ---- the batch loader --------------------------------------------------- */

tern_status tern_loader_init(tern_loader *l, const tern_dataset *ds, int batch, int flags, const tern_augment *aug,
                             uint64_t seed) {
    if (!l) return tern_error(TERN_ERR_ARG, "loader: NULL loader");
    memset(l, 0, sizeof *l);
    if (!ds || !ds->images || ds->n < 1) return tern_error(TERN_ERR_ARG, "loader: empty dataset");
    if (batch < 1) return tern_error(TERN_ERR_ARG, "loader: batch size %d, expected >= 1", batch);
    if (flags & ~(TERN_LOADER_SHUFFLE | TERN_LOADER_DROP_LAST))
        return tern_error(TERN_ERR_ARG, "loader: unknown flags 0x%x", (unsigned)flags);
    if ((flags & TERN_LOADER_DROP_LAST) && batch > ds->n)
        return tern_error(TERN_ERR_ARG, "loader: batch %d is larger than %s's %d samples and drop_last is set: no batch",
                          batch, ds->name, ds->n);
    if (ds->c > TERN_DATA_MAX_CHANNELS)
        return tern_error(TERN_ERR_UNSUPPORTED, "loader: %s has %d channels, at most %d supported", ds->name, ds->c,
                          TERN_DATA_MAX_CHANNELS);
    if (aug) {
        int side = ds->h < ds->w ? ds->h : ds->w;
        if (aug->crop_pad < 0 || aug->crop_pad > side)
            return tern_error(TERN_ERR_ARG, "loader: crop padding %d is outside 0..%d for %dx%d images", aug->crop_pad,
                              side, ds->h, ds->w);
        l->aug = *aug;
    }
    l->order = malloc((size_t)ds->n * sizeof(int));
    if (!l->order) return tern_error(TERN_ERR_NOMEM, "loader: cannot allocate the order of %d samples", ds->n);
    l->ds = ds;
    l->batch = batch;
    l->flags = flags;
    /* Padding is a black (0) pixel, as in torchvision's RandomCrop(padding=p)
     * ahead of Normalize: in normalised units that is -mean/std. */
    for (int k = 0; k < ds->c; k++) l->fill[k] = ds->normalized ? (0.0f - ds->mean[k]) / ds->std[k] : 0.0f;
    tern_rng_seed(&l->rng, seed);
    l->pos = ds->n;
    l->size = 1;
    return TERN_OK;
}

tern_status tern_loader_shard(tern_loader *l, int rank, int size, uint64_t aug_seed) {
    if (!l || size < 1 || rank < 0 || rank >= size)
        return tern_error(TERN_ERR_ARG, "loader shard: rank %d of %d processes", rank, size);
    l->rank = rank;
    l->size = size;
    if (size > 1) tern_rng_seed(&l->aug_rng, aug_seed);
    return TERN_OK;
}

void tern_loader_free(tern_loader *l) {
    if (!l) return;
    free(l->order);
    memset(l, 0, sizeof *l);
}

void tern_loader_begin_epoch(tern_loader *l) {
    int n = l->ds->n;
    /* From the identity every epoch, so an epoch's order depends only on the
     * rng state at its start: saving l->rng there is enough to resume. */
    for (int i = 0; i < n; i++) l->order[i] = i;
    if (l->flags & TERN_LOADER_SHUFFLE) tern_rng_shuffle(&l->rng, l->order, n);
    l->pos = 0;
    l->epoch++;
}

int tern_loader_num_batches(const tern_loader *l) {
    int n = l->ds->n;
    return l->flags & TERN_LOADER_DROP_LAST ? n / l->batch : (n + l->batch - 1) / l->batch;
}

tern_status tern_loader_next(tern_loader *l, float *x, int *y, int *count) {
    if (count) *count = 0;
    if (!l || !l->ds || !x || !y || !count) return tern_error(TERN_ERR_ARG, "loader next: NULL loader or buffer");
    if (l->epoch == 0) return tern_error(TERN_ERR_ARG, "loader next: no epoch begun; call tern_loader_begin_epoch()");
    const tern_dataset *ds = l->ds;
    int left = ds->n - l->pos;
    int b = left < l->batch ? left : l->batch;
    if (b < l->batch && (l->flags & TERN_LOADER_DROP_LAST)) b = 0;
    size_t chw = (size_t)ds->c * ds->h * ds->w;
    int augment = l->aug.crop_pad > 0 || l->aug.hflip;
    tern_rng *rng = l->size > 1 ? &l->aug_rng : &l->rng;
    /* This rank's contiguous share of the global batch of b. */
    const int lo = (int)((long)b * l->rank / l->size), hi = (int)((long)b * (l->rank + 1) / l->size);
    for (int i = lo; i < hi; i++) {
        int s = l->order[l->pos + i];
        const float *src = ds->images + (size_t)s * chw;  /* (c, h, w) */
        float *dst = x + (size_t)(i - lo) * chw;
        if (augment)
            tern_augment_sample(dst, src, ds->c, ds->h, ds->w, &l->aug, l->fill, rng);
        else
            memcpy(dst, src, chw * sizeof(float));
        y[i - lo] = ds->labels[s];
    }
    l->pos += b;
    if (b == 0) l->pos = ds->n;
    l->global_count = b;
    b = hi - lo;
    *count = b;
    return TERN_OK;
}
