/* tern/tensor.h — float32 tensors of up to 4 dims, row-major (NCHW).
 *
 * A tensor is a view: it does not own its memory. Activations point into the
 * step arena, parameters into the parameter blocks (tern/params.h).
 * `grad` is NULL when no gradient flows to the tensor. */
#ifndef TERN_TENSOR_H
#define TERN_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "tern/api.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_MAX_DIMS 4

typedef struct tern_tensor {
    float *data;                /* (n) */
    float *grad;                /* (n) or NULL */
    int ndim;                   /* 1..4 */
    int shape[TERN_MAX_DIMS];   /* shape[0] is the batch dim for activations */
    size_t n;                   /* prod(shape) */
} tern_tensor;

/* prod(shape[0..ndim)); 0 when ndim is out of 1..4 or a dim is < 1;
 * SIZE_MAX when the product overflows a size_t. */
TERN_API size_t tern_shape_numel(int ndim, const int *shape);

/* A view over caller memory; shape is copied. */
TERN_API tern_tensor tern_tensor_view(float *data, float *grad, int ndim, const int *shape);

/* 1 when a and b have the same ndim and dims. */
TERN_API int tern_tensor_same_shape(const tern_tensor *a, const tern_tensor *b);

/* Writes "(8,3,32,32)" into buf and returns buf; "(null)" for NULL. */
TERN_API const char *tern_shape_str(const tern_tensor *t, char *buf, size_t len);

/* Writes dims[0..ndim) as "(16,28,28)" into buf and returns buf. */
TERN_API const char *tern_dims_str(int ndim, const int *dims, char *buf, size_t len);

/* The output size of a k-wide window sliding by `stride` (>= 1) over a side
 * of `size` padded by `pad` at both ends: (size + 2 pad - k) / stride + 1,
 * in 64 bits; -1 when the window does not fit the padded side. Convolutions
 * and pools, in training, export and the kernels, all size by this rule. */
TERN_API int64_t tern_conv_out_size(int size, int k, int stride, int pad);

/* A buffer big enough for any tern_shape_str. */
#define TERN_SHAPE_STR_LEN 64

#ifdef __cplusplus
}
#endif

#endif
