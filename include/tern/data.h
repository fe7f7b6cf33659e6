/* tern/data.h — datasets in memory, normalisation, augmentation, batching.
 *
 * A tern_dataset (tern/data_types.h) holds a whole split in memory. Pixels
 * are read as bytes p in 0..255, scaled to p/255 in [0,1], then (optionally)
 * normalised once at load, per channel: x = (p/255 - mean[c]) / std[c].
 *
 * Readers (every error names the file and what is wrong):
 *   - idx (MNIST, Fashion-MNIST), plain or gzip: images magic 0x00000803
 *     with big-endian dims (N, H, W), labels magic 0x00000801 with (N).
 *   - CIFAR-10 binary: records of 1 label byte + 3072 bytes (3, 32, 32) RGB;
 *     a file's size must be a multiple of 3073.
 *
 * tern_dataset_load() finds a split's files in a directory by name:
 *   mnist, fashion-mnist:  train-{images-idx3,labels-idx1}-ubyte[.gz],
 *                          t10k-{images-idx3,labels-idx1}-ubyte[.gz]
 *                          (the plain file wins when both exist).
 *   cifar10:  train = data_batch_1.bin .. data_batch_5.bin, any subset; when
 *             none of those five exists, every data_batch_*.bin instead (so a
 *             partial copy such as data_batch_1.first4000.bin is accepted).
 *             test = test_batch.bin, else every test_batch*.bin. Files are
 *             read in name order. Class names come from batches.meta.txt when
 *             present, else the built-in CIFAR-10 names.
 *   folder:   DIR/train/CLASS/IMAGE and DIR/test/CLASS/IMAGE, one subfolder per
 *             class; the class names are the subfolder names in byte order
 *             (strcmp), label k = the k-th name; train and test must have the
 *             same set (else an error names the missing class), at most
 *             TERN_DATA_MAX_CLASSES, each name shorter than TERN_DATA_NAME_LEN.
 *             Images: files ending .png, .jpg, .jpeg (any case), read in
 *             name order; other files, subfolders and names starting with '.'
 *             are skipped; a class folder without an image is an error.
 *             PNG: any bit depth and colour type (palette expanded, 16 bits
 *             scaled to 8, alpha dropped); JPEG: grayscale or RGB (not CMYK).
 *             opts->channels 1 or 3 converts each image (gray to RGB:
 *             replicated; RGB to gray: ITU-R BT.601 luma 0.299 R + 0.587 G +
 *             0.114 B); 0 takes the first image's. opts->size (H, W), or the
 *             first image's: an image of another size is resized (bilinear,
 *             tern_image_resize) when opts->resize, else refused naming the
 *             file, its size and the expected one.
 *   npy:      DIR/{train,test}_images.npy with DIR/{train,test}_labels.npy,
 *             else DIR/{train,test}.npz holding the arrays `images` and
 *             `labels` (np.savez or np.savez_compressed: stored or deflated).
 *             .npy versions 1.0, 2.0, 3.0, C order only. Images: uint8 ('|u1',
 *             p/255) or float32 ('<f4' or '>f4', taken as they are: [0,1]
 *             expected, NaN and Inf refused), shaped (N,H,W) (1 channel),
 *             (N,H,W,C) when the last dim is 1 or 3, else (N,C,H,W) when the
 *             second is 1 or 3. Labels: (N) of any integer dtype (u1, i1, u2,
 *             i2, u4, i4, u8, i8, either byte order), in 0..K-1, where K-1 is
 *             the largest label of both splits; class names "0".."K-1".
 *   csv:      DIR/train.csv and DIR/test.csv, comma-separated, a header row
 *             naming the columns, then one sample per line (blank lines
 *             skipped, no quoting). Every column but the label column
 *             (opts->label_column, default "label") is a numeric feature,
 *             taken as it is (not divided by 255). Labels: when every label
 *             of both files is a whole number, they must be 0..K-1 (class
 *             names "0".."K-1"); otherwise they are names, the classes being
 *             the distinct names of both files in byte order. Features become
 *             images (N, 1, 1, F): one channel, so flatten + linear see F
 *             values and normalize: compute takes one mean and std over all.
 * A path that holds something other than a regular file (a directory, a
 * FIFO, a link loop) is refused with a message naming what it is; a FIFO is
 * never waited on.
 * datasets/fetch.sh downloads and verifies the standard files.
 *
 * A tern_loader walks a dataset in batches: per epoch it reshuffles with its
 * own seeded tern_rng, and per sample it applies the augmentation (random
 * crop with zero padding, horizontal flip) while copying into the caller's
 * batch buffers. It never allocates after tern_loader_init(). */
#ifndef TERN_DATA_H
#define TERN_DATA_H

#include <stdint.h>
#include "tern/api.h"
#include "tern/config.h"
#include "tern/data_types.h"
#include "tern/nn.h"
#include "tern/rng.h"
#include "tern/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An all-zero dataset (nothing owned). */
TERN_API void tern_dataset_init(tern_dataset *ds);
/* Free images and labels; leaves an all-zero dataset. */
TERN_API void tern_dataset_free(tern_dataset *ds);

/* Load split "train" or "test" of `name` ("mnist", "fashion-mnist",
 * "cifar10", "folder", "npy", "csv") from `dir`, finding files as described above, then apply `norm`
 * (NULL: TERN_NORM_NONE). TERN_NORM_COMPUTE is refused for "test": pass the
 * training split's ds.mean/ds.std as TERN_NORM_GIVEN. ds must be empty. */
TERN_API tern_status tern_dataset_load(tern_dataset *ds, const char *name, const char *dir, const char *split,
                                       const tern_norm *norm);

/* The same with opts (NULL: defaults), which the folder and csv readers
 * use (tern_data_opts). */
TERN_API tern_status tern_dataset_load_opts(tern_dataset *ds, const char *name, const char *dir, const char *split,
                                            const tern_norm *norm, const tern_data_opts *opts);

/* Read an idx images file (magic 0x803, dims N,H,W) and labels file (magic
 * 0x801, dim N) — plain or gzip — into ds as (N,1,H,W) pixels p/255 and
 * labels in 0..9, with class names "0".."9". ds must be empty. */
TERN_API tern_status tern_idx_load(tern_dataset *ds, const char *images_path, const char *labels_path);

/* Read and concatenate CIFAR-10 binary files paths[0..n_paths) into ds as
 * (N,3,32,32) pixels p/255, labels in 0..9, the built-in class names.
 * ds must be empty. */
TERN_API tern_status tern_cifar10_load(tern_dataset *ds, const char *const *paths, int n_paths);

/* Split "train" or "test" of the image folder dir (described above) into ds
 * as (N,C,H,W) pixels p/255. ds must be empty. */
TERN_API tern_status tern_folder_load(tern_dataset *ds, const char *dir, const char *split,
                                      const tern_data_opts *opts);

/* Split "train" or "test" of the NumPy arrays in dir (described above). */
TERN_API tern_status tern_npy_load(tern_dataset *ds, const char *dir, const char *split);

/* Split "train" or "test" of the CSV files in dir (described above). */
TERN_API tern_status tern_csv_load(tern_dataset *ds, const char *dir, const char *split, const tern_data_opts *opts);

/* ---- image files ---------------------------------------------------------- */

/* Decoded 8-bit pixels, interleaved (h, w, c), c = 1 (gray) or 3 (RGB). */
typedef struct tern_image {
    unsigned char *px;  /* (h, w, c), owned */
    int h, w, c;
} tern_image;

/* Read the PNG, JPEG or PNM (P2, P3 ASCII; P5, P6 binary; maxval up to
 * 65535, scaled to 8 bits) at path, told apart by their first bytes, into
 * *img. TERN_ERR_UNSUPPORTED when the file is none of these;
 * TERN_ERR_FORMAT naming the file when it is corrupt or truncated. */
TERN_API tern_status tern_image_read(const char *path, tern_image *img);

/* Free img's pixels; leaves it all-zero. */
TERN_API void tern_image_free(tern_image *img);

/* out (C, H, W) = img's pixels p/255 converted to C channels (1 or 3, as
 * the folder dataset converts) and, when img is not H x W, resized
 * (resize 1) or refused with TERN_ERR_SHAPE naming path and both sizes. */
TERN_API tern_status tern_image_convert(const tern_image *img, const char *path, int C, int H, int W, int resize,
                                        float *out);

/* Bilinear resize of src (c, h, w) to dst (c, H, W), pixel centres aligned
 * (PyTorch's align_corners=False, no antialiasing): dst[y][x] interpolates
 * src at y' = (y + 0.5) h/H - 0.5, x' = (x + 0.5) w/W - 0.5, clamped. */
TERN_API void tern_image_resize(const float *src, int c, int h, int w, float *dst, int H, int W);

/* Per-channel mean and population std (over N*H*W values, in double) of
 * ds->images as they are now; mean and std have ds->c entries. */
TERN_API tern_status tern_dataset_stats(const tern_dataset *ds, float *mean, float *std);

/* Apply norm in place: x = (x - mean[c]) / std[c], with mean/std given or
 * computed by tern_dataset_stats(); records them in ds. Refused when ds is
 * already normalised or a std is not > 0. */
TERN_API tern_status tern_dataset_normalize(tern_dataset *ds, const tern_norm *norm);

/* ---- the data of a config and of a training checkpoint ------------------- */

/* The splits of cfg's dataset from dir (NULL: the config's dataset
 * directory, tern_config_dataset_dir), normalised as training normalises
 * them: train is the training split less the validation split
 * (tern_dataset_hold_out), val that validation split (empty when
 * dataset.validation is 0); with normalize compute, every split by the
 * statistics of train (the training split is read for them even when train
 * is NULL). train and val may be NULL; with train, all splits must have one
 * image size. */
TERN_API tern_status tern_dataset_load_for_config(const tern_config *cfg, const char *dir, tern_dataset *train,
                                                  tern_dataset *val, tern_dataset *test);

/* ---- the validation split ------------------------------------------------ */

/* Move n_val samples of ds (1..n-1) into val (empty), stratified: class k
 * gives n_val * n_k / n of them, rounded by largest remainder so the total
 * is exact; which ones is drawn by a tern_rng seeded with seed. Both parts
 * keep the file's order; ds keeps the rest, in place. A class that would
 * give none, or all it has, is an error naming it. */
TERN_API tern_status tern_dataset_split(tern_dataset *ds, int n_val, uint64_t seed, tern_dataset *val);

/* Samples dataset.validation means for a training split of n: a fraction
 * v in (0,1) gives round(v * n), a count >= 1 itself. */
TERN_API int tern_dataset_validation_count(double validation, int n);

/* Hold cfg's dataset.validation out of train (loaded, not normalised) into
 * val (empty; NULL: dropped), seeded by training.seed on its own stream,
 * then normalise both by *norm; with TERN_NORM_COMPUTE the statistics are
 * train's (the part left) and *norm becomes them, GIVEN, for other splits.
 * Errors point at dataset.validation in the config file. */
TERN_API tern_status tern_dataset_hold_out(const tern_config *cfg, tern_dataset *train, tern_dataset *val,
                                           tern_norm *norm);

/* A training checkpoint with its test split: *cfg its stored config, *test
 * its test split from dir (NULL: the config's dataset directory) normalised
 * as in training, *m its model for the test images' size with the
 * checkpoint's parameters (tern_restore_model). When dir holds images of
 * another size than the model was trained on, the error says so. Free with
 * tern_model_free, tern_dataset_free and tern_config_free; nothing is left
 * allocated on failure. */
TERN_API tern_status tern_dataset_load_checkpoint(const char *ckpt, const char *dir, tern_config *cfg, tern_model *m,
                                                  tern_dataset *test);

/* ---- augmentation ------------------------------------------------------- */

/* dst (c,h,w) = augmented src (c,h,w); dst != src. The draws, in order:
 * dy = below(2p+1), dx = below(2p+1) when crop_pad = p > 0; then
 * flip = uniform() < 0.5 when hflip. With f = flip:
 *   dst[k][y][x] = src[k][y+dy-p][x'+dx-p], x' = f ? w-1-x : x,
 * and fill[k] where that falls outside src (fill NULL: 0). */
TERN_API void tern_augment_sample(float *dst, const float *src, int c, int h, int w, const tern_augment *aug,
                                  const float *fill, tern_rng *rng);

/* ---- batching ----------------------------------------------------------- */

enum {
    TERN_LOADER_SHUFFLE = 1 << 0,    /* reshuffle at every tern_loader_begin_epoch() */
    TERN_LOADER_DROP_LAST = 1 << 1,  /* drop the last partial batch (else return it short) */
};

typedef struct tern_loader {
    const tern_dataset *ds;  /* borrowed; must outlive the loader */
    int *order;              /* (n) sample order of the current epoch, owned */
    int batch;               /* samples per full batch */
    int flags;               /* TERN_LOADER_* */
    tern_augment aug;        /* applied per sample in tern_loader_next() */
    float fill[TERN_DATA_MAX_CHANNELS];  /* padding value: a 0 pixel, normalised */
    tern_rng rng;            /* shuffle and augmentation draws; save it to resume */
    int epoch;               /* epochs begun; 0 before the first */
    int pos;                 /* next position in order */
    int rank, size;          /* this process's share of every batch (tern_loader_shard); 0 of 1 */
    tern_rng aug_rng;        /* size > 1: this rank's augmentation draws (rng only shuffles) */
    int global_count;        /* samples of the last batch over all ranks (size 1: *count) */
} tern_loader;

/* Prepare a loader over ds with `batch` samples per batch, TERN_LOADER_*
 * flags, augmentation (NULL: none) and the rng seed. Refuses a crop_pad not
 * in 0..min(h,w), and DROP_LAST with batch > n (no batch at all). */
TERN_API tern_status tern_loader_init(tern_loader *l, const tern_dataset *ds, int batch, int flags,
                                      const tern_augment *aug, uint64_t seed);
TERN_API void tern_loader_free(tern_loader *l);

/* Start an epoch: order = 0..n-1, shuffled with l->rng when SHUFFLE; pos = 0. */
TERN_API void tern_loader_begin_epoch(tern_loader *l);

/* Make l the loader of rank `rank` of `size` processes of a data-parallel
 * run: every rank shuffles with the same rng (the same seed everywhere), so
 * the global batches are the same, and tern_loader_next gives this rank the
 * contiguous share [b*rank/size, b*(rank+1)/size) of each global batch of b.
 * With size > 1 augmentation draws from aug_rng, seeded from aug_seed (one
 * per rank); size 1 leaves l drawing as before. TERN_ERR_ARG when rank is
 * not in 0..size-1. */
TERN_API tern_status tern_loader_shard(tern_loader *l, int rank, int size, uint64_t aug_seed);

/* Batches per epoch: n / batch with DROP_LAST, else ceil(n / batch). */
TERN_API int tern_loader_num_batches(const tern_loader *l);

/* Fill x (batch, c, h, w) and y (batch) with the next samples of the epoch
 * (of a shard: this rank's share of them), augmented; *count = samples
 * written: batch (or the share), fewer for a short last batch, 0 when the
 * epoch is over; l->global_count = the batch's samples over all ranks. */
TERN_API tern_status tern_loader_next(tern_loader *l, float *x, int *y, int *count);

#ifdef __cplusplus
}
#endif
#endif
