/* tern/data_types.h — what a dataset is, for every layer that passes one:
 * the whole split in memory (tern_dataset: images as float32 (N, C, H, W),
 * labels as int in [0, n_classes), the class names and the normalisation
 * applied), the normalisation and augmentation a config asks for. Types
 * only: reading, normalising and batching datasets is tern/data.h's, a
 * layer above the configs and the deploy files that name these types. */
#ifndef TERN_DATA_TYPES_H
#define TERN_DATA_TYPES_H

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_DATA_MAX_CHANNELS 3
#define TERN_DATA_MAX_CLASSES 256  /* a user's image folders or CSV labels */
#define TERN_DATA_NAME_LEN 32
#define TERN_IMAGE_MAX_SIDE 16384        /* the largest image width or height read */
#define TERN_IMAGE_MAX_PIXELS (1 << 26)  /* the largest width * height read */
#define TERN_DATA_MAX_N (1 << 30)  /* largest sample count a reader accepts: indices and counts are int */

typedef struct tern_dataset {
    char name[TERN_DATA_NAME_LEN];  /* "mnist", "fashion-mnist", "cifar10", "idx", "folder", "npy", "csv" */
    float *images;                  /* (n, c, h, w), owned */
    int *labels;                    /* (n), each in [0, n_classes), owned */
    int n, c, h, w;
    int n_classes;
    char class_names[TERN_DATA_MAX_CLASSES][TERN_DATA_NAME_LEN];
    int normalized;                          /* 1 once mean/std have been applied */
    float mean[TERN_DATA_MAX_CHANNELS];      /* applied: x = (p/255 - mean) / std; */
    float std[TERN_DATA_MAX_CHANNELS];       /* 0 and 1 while not normalised */
} tern_dataset;

typedef enum tern_norm_mode {
    TERN_NORM_NONE = 0,  /* keep p/255 in [0,1] */
    TERN_NORM_GIVEN,     /* use mean[] and std[] (from the config) */
    TERN_NORM_COMPUTE,   /* per-channel mean and population std of this (training) split */
} tern_norm_mode;

typedef struct tern_norm {
    tern_norm_mode mode;
    float mean[TERN_DATA_MAX_CHANNELS];  /* GIVEN only; first c entries used */
    float std[TERN_DATA_MAX_CHANNELS];   /* GIVEN only; each > 0 */
} tern_norm;

/* How a user's dataset (folder, npy, csv) is read; all-zero: the defaults. */
typedef struct tern_data_opts {
    int channels;  /* folder: 1 or 3, every image converted to it; 0: the first image's */
    int size[2];   /* folder: (H, W) of every image; 0, 0: the first image's */
    int resize;    /* folder: 1 resizes an image of another size (bilinear), 0 refuses it */
    char label_column[TERN_DATA_NAME_LEN];  /* csv: the label column's header; "": "label" */
} tern_data_opts;

typedef struct tern_augment {
    int crop_pad;  /* random crop: pad every side by crop_pad, crop back to HxW (0: off) */
    int hflip;     /* 1: mirror left-right with probability 0.5 */
} tern_augment;

#ifdef __cplusplus
}
#endif
#endif
