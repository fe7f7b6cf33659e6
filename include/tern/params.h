/* tern/params.h — parameters in contiguous blocks with named views.
 *
 * All of a model's parameters live in one float block, their gradients in a
 * second of the same layout; optimizers keep their state in blocks of that
 * layout too (tern/optim.h). Each parameter is a named view (offset, shape).
 * Zeroing all gradients is one memset; a checkpoint is a walk over the table.
 *
 * Buffers (batchnorm running statistics) live in the same table without
 * TERN_PARAM_TRAIN: they are saved and loaded but get no gradient and no
 * update.
 *
 * Build: tern_params_add(...) for each, then tern_params_alloc() once; only
 * after that are the views' data/grad pointers valid. */
#ifndef TERN_PARAMS_H
#define TERN_PARAMS_H

#include <stddef.h>
#include "tern/api.h"
#include "tern/status.h"
#include "tern/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    TERN_PARAM_TRAIN = 1 << 0,  /* updated by the optimizer, has a grad */
    TERN_PARAM_DECAY = 1 << 1,  /* weight decay applies (weights, not biases) */
};

#define TERN_PARAM_NAME_LEN 64

typedef struct tern_param {
    char name[TERN_PARAM_NAME_LEN];  /* "fc1.weight", "bn1.running_mean" */
    tern_tensor t;                   /* view into the blocks; grad NULL for buffers */
    size_t offset;                   /* in floats, 16-float aligned */
    int flags;
    float lr_scale;                  /* per-parameter learning-rate multiplier, 1 */
} tern_param;

typedef struct tern_params {
    tern_param *items;
    int count, cap;
    float *data;   /* (total) */
    float *grad;   /* (total) */
    size_t total;  /* floats in each block, padding included */
} tern_params;

TERN_API void tern_params_init(tern_params *p);
TERN_API void tern_params_free(tern_params *p);

/* Declare a parameter; its index into *index (may be NULL). TERN_ERR_ARG
 * for a duplicate or bad name or after allocation, TERN_ERR_SHAPE for a bad
 * shape, TERN_ERR_NOMEM. */
TERN_API tern_status tern_params_add(tern_params *p, const char *name, int ndim, const int *shape, int flags,
                                     int *index);

/* Allocate the data and grad blocks (zeroed) and point every view into them. */
TERN_API tern_status tern_params_alloc(tern_params *p);

/* grad = 0, one pass over the grad block. */
TERN_API void tern_params_zero_grad(tern_params *p);

/* The parameter with this name, or NULL. */
TERN_API tern_param *tern_params_find(tern_params *p, const char *name);

/* Number of trainable scalars (padding and buffers excluded). */
TERN_API size_t tern_params_count_trainable(const tern_params *p);

#ifdef __cplusplus
}
#endif

#endif
