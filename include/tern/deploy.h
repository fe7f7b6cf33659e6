/* tern/deploy.h — deploy checkpoints: a trained model as the kernels run it,
 * in memory and on disk: save, load and every check of the file.
 *
 * A deploy model is made by export (tern/export.h): ternary layers packed
 * 2 bits a weight in the kernels' "t2" layout (tern/kernels.h) with per-row
 * scales wp, wn, batchnorm folded or kept as a per-channel affine layer,
 * fp32 layers as fp32. This header is its form in memory and on disk.
 *
 * On disk (format "tern-deploy", version 2; docs/deploy-format.md has every
 * dataset and attribute, the bit order and a worked h5py example): an HDF5
 * file behind the same 512-byte CRC header as training checkpoints
 * ("tern-deploy model\nversion 2\nbytes N\ncrc32 X\n"), with
 *   /            attrs format, version, weight_format "t2", n_layers,
 *                input_shape (C,H,W), n_classes, dataset, source
 *   /input       attrs mean (C), std (C): x = (p/255 - mean[c]) / std[c]
 *   /classes     string (n_classes)
 *   /layers/NNN  one group per layer in order (000, 001, ...), attrs type,
 *                name, act, out_shape; by type:
 *       linear/conv2d ternary: qs uint8 (M, kblocks, 32) holding the M*kblocks
 *                blocks in the kernels' tile order, wp, wn, bias (M);
 *                attrs ternary=1, act_bits (0 or 8), in_features, out_features
 *                (conv2d also in_channels, kernel, stride, pad), quantizer
 *       linear/conv2d fp32: weight (M, K) or (M, C, k, k), bias (M)
 *       affine: center, scale, shift (C): y = (x - center[c]) scale[c] + shift[c]
 *       maxpool/avgpool: attrs kernel, stride, pad;  add: attr from (a layer
 *       index);  global_avgpool, flatten, relu, hardtanh: no data
 * Every dataset is chunked and fletcher32-checked; weights, scales and
 * biases are also deflate-compressed.
 *
 * Version 2 differs from 1 only in the order of the qs blocks; a version-1
 * file is refused with a hint to re-export it with `tern export`.
 * Loading checks the header (size, CRC), format, version, every layer's
 * attributes, every dataset's type and exact shape against the shapes the
 * topology implies, the packed codes (no 0b11 code, zero padding) and the
 * final output against the class count, every float for NaN and infinity,
 * and every layer's memory per sample against TERN_DEPLOY_MAX_ACT_ELEMS;
 * errors are one line naming the file
 * and the object, e.g.
 *   "m.h5: /layers/001/qs is (256,6,32) but layer 1 (fc1, 784 -> 256) needs
 *    (256,7,32); the file was altered or written by another tool: export it
 *    again". */
#ifndef TERN_DEPLOY_H
#define TERN_DEPLOY_H

#include <stddef.h>

#include "tern/api.h"
#include "tern/data_types.h"
#include "tern/kernels.h"
#include "tern/nn.h"
#include "tern/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_DEPLOY_FORMAT "tern-deploy"
#define TERN_DEPLOY_VERSION 2   /* 2: qs in the kernels' tile order (tern/kernels.h) */
#define TERN_DEPLOY_DEFLATE 6   /* the deflate level export uses */
/* The most floats one sample may need in any one layer: its output, and for
 * a conv its columns (in_features padded to 128, by OH*OW), which the
 * kernels stage per image. 2^26 floats (256 MiB), the bound on the input
 * itself: a 512x512 RGB conv or a 64x1024x1024 feature map fits; a file
 * asking for more is refused at load, naming the layer. */
#define TERN_DEPLOY_MAX_ACT_ELEMS (1LL << 26)

typedef enum tern_dlayer_type {
    TERN_DLAYER_LINEAR,
    TERN_DLAYER_CONV2D,
    TERN_DLAYER_AFFINE,          /* per-channel y = (x - center) scale + shift (an unfolded batchnorm) */
    TERN_DLAYER_MAXPOOL,
    TERN_DLAYER_AVGPOOL,
    TERN_DLAYER_GLOBAL_AVGPOOL,
    TERN_DLAYER_RELU,
    TERN_DLAYER_HARDTANH,
    TERN_DLAYER_FLATTEN,
    TERN_DLAYER_ADD,
    TERN_DLAYER_TYPE_COUNT
} tern_dlayer_type;

/* One deploy layer. Shapes are per sample: (F) or (C,H,W). */
typedef struct tern_dlayer {
    tern_dlayer_type type;
    char name[TERN_LAYER_NAME_LEN];
    tern_act act;                  /* applied after the layer */
    int out_ndim, out_shape[3];
    int kernel, stride, pad;       /* conv2d, pools */
    int from;                      /* add: index of the deploy layer whose output is added */
    /* linear / conv2d: M = out_shape[0] rows of K = in_features (conv: cin*k*k) */
    int in_features;
    int ternary;                   /* 1: packed, 0: fp32 weight */
    int act_bits;                  /* ternary: 8 if trained with 8-bit activations (runs TERN_KACT_I8), else 0 */
    char quantizer[16];            /* ternary: "twn", "absmean", "ttq" (informative) */
    tern_packed packed;            /* ternary: (M, K) codes and per-row wp, wn (BN folded in) */
    float *weight;                 /* fp32: (M, K), PyTorch layout; NULL for ternary */
    float *bias;                   /* (M) linear/conv (zeros when the layer had none); affine: shift (C) */
    float *scale;                  /* affine: (C) */
    float *center;                 /* affine: (C); y = (x - center) scale + shift, batchnorm's own order */
    int in_channels;               /* conv2d: cin; affine: C */
} tern_dlayer;

typedef struct tern_deploy {
    int n_layers;
    tern_dlayer *layers;           /* (n_layers), owned */
    int in_shape[3];               /* (C,H,W) per sample */
    int n_classes;
    char class_names[TERN_DATA_MAX_CLASSES][TERN_DATA_NAME_LEN];
    char dataset[TERN_DATA_NAME_LEN];   /* "mnist", ...: where the model's inputs come from */
    float mean[TERN_DATA_MAX_CHANNELS]; /* input normalisation: x = (p/255 - mean) / std */
    float std[TERN_DATA_MAX_CHANNELS];
    char source[256];              /* the training checkpoint it came from ("" when unknown) */
} tern_deploy;

/* Sizes an export reports (tern_deploy_save). */
typedef struct tern_deploy_sizes {
    size_t file_bytes;             /* the deploy file */
    size_t ternary_weights;        /* M*K over ternary layers */
    size_t packed_bytes;           /* their qs bytes in memory (padding of K to 128 included) */
    size_t packed_disk_bytes;      /* their qs datasets as stored (compressed) */
    size_t other_params;           /* floats besides the codes: scales, biases, fp32 weights, affines */
} tern_deploy_sizes;

/* "linear", "conv2d", "affine", ... ; "unknown" out of range. */
TERN_API const char *tern_dlayer_type_name(tern_dlayer_type t);

/* An empty model (nothing owned). */
TERN_API void tern_deploy_init(tern_deploy *d);
/* Free what a deploy model owns; leaves it empty. */
TERN_API void tern_deploy_free(tern_deploy *d);

/* Write d to path atomically, datasets compressed at `deflate` (0: none,
 * 1..9): every float is checked finite first (TERN_ERR_NUMERIC naming the
 * layer), the file is written to a temporary name beside path, loaded back
 * with tern_deploy_load's every check, and only then renamed over path, so
 * an existing path is replaced by a loadable file or not at all. path NULL:
 * build the file in memory only, to measure it. sizes may be NULL. */
TERN_API tern_status tern_deploy_save(const tern_deploy *d, const char *path, int deflate, tern_deploy_sizes *sizes);

/* Read and verify path into *d (empty on entry; left empty on failure). */
TERN_API tern_status tern_deploy_load(tern_deploy *d, const char *path);

/* 1 when path is a deploy checkpoint by its header or its 'format'
 * attribute (the file may still be damaged: load says how), else 0. */
TERN_API int tern_deploy_probe(const char *path);

#ifdef __cplusplus
}
#endif
#endif
