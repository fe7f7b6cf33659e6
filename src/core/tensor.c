/* tensor.c — shape helpers for tensor views. */
#include "tern/tensor.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

size_t tern_shape_numel(int ndim, const int *shape) {
    if (ndim < 1 || ndim > TERN_MAX_DIMS) return 0;
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 1) return 0;
        if (n != SIZE_MAX && __builtin_mul_overflow(n, (size_t)shape[i], &n)) n = SIZE_MAX;
    }
    return n;
}

tern_tensor tern_tensor_view(float *data, float *grad, int ndim, const int *shape) {
    tern_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.grad = grad;
    t.ndim = ndim;
    for (int i = 0; i < ndim && i < TERN_MAX_DIMS; i++) t.shape[i] = shape[i];
    t.n = tern_shape_numel(ndim, shape);
    return t;
}

int tern_tensor_same_shape(const tern_tensor *a, const tern_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

const char *tern_shape_str(const tern_tensor *t, char *buf, size_t len) {
    if (!t) {
        snprintf(buf, len, "(null)");
        return buf;
    }
    return tern_dims_str(t->ndim, t->shape, buf, len);
}

const char *tern_dims_str(int ndim, const int *dims, char *buf, size_t len) {
    size_t k = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < ndim && k < len; i++) k += (size_t)snprintf(buf + k, len - k, i ? ",%d" : "%d", dims[i]);
    if (k < len) snprintf(buf + k, len - k, ")");
    return buf;
}

int64_t tern_conv_out_size(int size, int k, int stride, int pad) {
    int64_t padded = (int64_t)size + 2 * (int64_t)pad;
    return padded < k ? -1 : (padded - k) / stride + 1;
}
