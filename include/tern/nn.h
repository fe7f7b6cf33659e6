/* tern/nn.h — layers and models built from a list of layer specs.
 *
 * A model is a sequence of layers; an `add` layer sums the running output
 * with the output of an earlier layer (a residual connection). The builder
 * infers every layer's input shape from the model's input shape, declares
 * the parameters in one tern_params table with PyTorch-style names
 * ("fc1.weight", "bn1.running_var"), and initialises them from a seed.
 *
 * Shapes are per sample here (no batch dim): (F) for features, (C,H,W) for
 * images. linear needs (F): put a flatten layer after the last conv.
 *
 * Hybrid models: each linear/conv layer is ternary or full precision. A
 * ternary layer keeps its latent fp32 weight as the parameter and, on every
 * forward, feeds tern_quant_ternary(W) to the ordinary op (after the 8-bit
 * fake-quant of its input when quant.act_bits = 8). Learned scales are
 * parameters named "<layer>.alpha" (ttq also "<layer>.alpha_neg"),
 * initialised from the closed form, with their own learning-rate multiplier. */
#ifndef TERN_NN_H
#define TERN_NN_H

#include <stdint.h>
#include "tern/api.h"
#include "tern/params.h"
#include "tern/quant.h"
#include "tern/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tern_layer_type {
    TERN_LAYER_LINEAR,
    TERN_LAYER_CONV2D,
    TERN_LAYER_MAXPOOL,
    TERN_LAYER_AVGPOOL,
    TERN_LAYER_GLOBAL_AVGPOOL,
    TERN_LAYER_BATCHNORM,
    TERN_LAYER_RELU,
    TERN_LAYER_HARDTANH,
    TERN_LAYER_DROPOUT,
    TERN_LAYER_FLATTEN,
    TERN_LAYER_ADD,
    TERN_LAYER_TYPE_COUNT
} tern_layer_type;

/* Activation fused after a linear/conv/batchnorm layer. */
typedef enum tern_act { TERN_ACT_NONE, TERN_ACT_RELU, TERN_ACT_HARDTANH, TERN_ACT_COUNT } tern_act;

/* Names for configs and files, indexed by the enums: "linear", "conv2d",
 * "maxpool", "avgpool", "global_avgpool", "batchnorm", "relu", "hardtanh",
 * "dropout", "flatten", "add"; "none", "relu", "hardtanh". */
TERN_API extern const char *const tern_layer_type_names[TERN_LAYER_TYPE_COUNT];
TERN_API extern const char *const tern_act_names[TERN_ACT_COUNT];

/* A batchnorm layer's defaults (PyTorch's): the running statistics move by
 * momentum 0.1 a batch; eps 1e-5 keeps 1 / sqrt(var + eps) finite. */
#define TERN_BN_MOMENTUM 0.1f
#define TERN_BN_EPS 1e-5f

/* Weight initialisation of linear and conv layers. */
typedef enum tern_init { TERN_INIT_HE, TERN_INIT_XAVIER } tern_init;

#define TERN_LAYER_NAME_LEN 32

typedef struct tern_layer_spec {
    tern_layer_type type;
    char name[TERN_LAYER_NAME_LEN];  /* "" → "<type><index>", e.g. "linear0" */
    int out;                         /* linear: out features; conv: out channels */
    int kernel, stride, pad;         /* conv and pools; stride 0 → 1 (conv) or kernel (pools) */
    int no_bias;                     /* linear/conv: 1 drops the bias */
    tern_act act;                    /* applied after the layer */
    float p;                         /* dropout probability */
    float momentum, eps;             /* batchnorm; 0 → TERN_BN_MOMENTUM and TERN_BN_EPS */
    int from;                        /* add: index of the earlier layer whose output is added */
    int ternary;                     /* linear/conv: 1 quantizes the weights to alpha * {-1,0,+1} */
    tern_quant_cfg quant;            /* ternary layers: the quantizer settings */
    float alpha_lr;                  /* learned scales' lr multiplier; 0 → 1 */
} tern_layer_spec;

/* Per-layer: the spec, shapes and where its parameters are (-1: none). */
typedef struct tern_layer {
    tern_layer_spec spec;
    int in_ndim, in_shape[3];        /* per sample */
    int out_ndim, out_shape[3];
    int w, b;                        /* weight, bias */
    int mean, var;                   /* batchnorm running statistics (buffers) */
    int alpha, alpha_neg;            /* ternary layers' learned scales (ttq: Wp, Wn) */
} tern_layer;

typedef struct tern_model {
    tern_layer *layers;
    int n_layers;
    int in_ndim, in_shape[3];        /* per sample */
    int n_classes;                   /* the last layer's output size */
    tern_params params;
} tern_model;

/* Build and initialise: shapes inferred, params declared and allocated, weights
 * drawn from `seed`. Errors name the layer, e.g.
 * "model: layer 3 (linear) needs (F) input, got (32,7,7); add a flatten layer". */
TERN_API tern_status tern_model_init(tern_model *m, const tern_layer_spec *specs, int n_layers, int in_ndim,
                                     const int *in_shape, tern_init init, uint64_t seed);
TERN_API void tern_model_free(tern_model *m);

/* Layer i's learned scales (alpha; ttq also alpha_neg) = the closed form of
 * its weights as they are now (tern_quant_alpha_init), as tern_model_init
 * starts them; TERN_OK, untouched, for a layer without learned scales. */
TERN_API tern_status tern_model_init_alpha(tern_model *m, int i);

/* Layer i's output shape per sample, (F) or (C,H,W), from its input shape
 * (in_ndim, in): the one rule the model builder and the deploy loader
 * share, windows sized by tern_conv_out_size. TERN_ERR_CONFIG, naming
 * "layer i (type)", when the input does not suit the layer or the output
 * would hold more than INT_MAX values. An add layer gives its input's
 * shape (its caller compares the `from` layer's output). */
TERN_API tern_status tern_layer_out_shape(const tern_layer_spec *s, int i, int in_ndim, const int *in, int *out_ndim,
                                          int *out);

/* logits (N, n_classes) from x (N, in_shape...); NULL on error (ctx->status). */
TERN_API tern_tensor *tern_model_forward(tern_model *m, tern_ctx *c, tern_tensor *x);

/* The quantizer statistics of layer i (a ternary linear/conv) now: sparsity,
 * +1/-1 fractions, scales. TERN_ERR_ARG when layer i is not ternary. */
TERN_API tern_status tern_model_layer_stats(const tern_model *m, int i, tern_quant_layer_stats *st);

/* Fraction of zero weights over all ternary layers (0 when there are none). */
TERN_API double tern_model_sparsity(const tern_model *m);

/* ---- training and evaluation steps ------------------------------------- */

struct tern_optim;
struct tern_xent_cfg;

typedef struct tern_step_result {
    float loss;        /* mean loss of the batch (training: tern_xent_loss's, eval: cross-entropy) */
    int correct;       /* rows whose argmax is the label */
    float grad_norm;   /* global grad norm before clipping (training; 0 in eval) */
} tern_step_result;

/* One training step on a batch x (N, in_shape...) with labels[N]: reset the
 * ctx, zero grads, forward in training mode, loss, backward, clip to `clip`
 * (<= 0: no clipping), optimizer step at `lr`. A NaN/Inf loss or gradient
 * returns TERN_ERR_NUMERIC before the optimizer step: trainable parameters
 * and optimizer state are unchanged, but batchnorm running statistics have
 * already absorbed the bad batch in the forward (the trainer stops the run
 * and keeps its last checkpoint, so none of it is saved). */
TERN_API tern_status tern_model_train_step(tern_model *m, tern_ctx *c, struct tern_optim *o, tern_tensor *x,
                                           const int *labels, float lr, float clip, tern_step_result *r);

/* tern_model_step_grad then tern_model_step_update, with the loss tern_xent_loss(logits, labels, loss)
 * of tern/ops.h: label smoothing, distillation from a teacher's logits
 * (N, n_classes); loss NULL: plain cross-entropy, as tern_model_train_step. */
TERN_API tern_status tern_model_train_step_loss(tern_model *m, tern_ctx *c, struct tern_optim *o, tern_tensor *x,
                                                const int *labels, const struct tern_xent_cfg *loss, float lr,
                                                float clip, tern_step_result *r);

/* The first half of a training step: reset the ctx, zero grads, forward in
 * training mode, loss (loss_cfg as tern_model_train_step_loss), backward.
 * r gets loss and correct (grad_norm 0). A NaN/Inf loss is TERN_ERR_NUMERIC
 * before the backward. A data-parallel run sums the gradient block over its
 * ranks between the two halves. */
TERN_API tern_status tern_model_step_grad(tern_model *m, tern_ctx *c, tern_tensor *x, const int *labels,
                                          const struct tern_xent_cfg *loss_cfg, tern_step_result *r);

/* The second half: r->grad_norm = the global gradient norm of the block as
 * it stands, clipped to `clip` (<= 0: no clipping), then the optimizer step
 * at `lr`. A NaN/Inf norm is TERN_ERR_NUMERIC before the step. */
TERN_API tern_status tern_model_step_update(tern_model *m, struct tern_optim *o, float lr, float clip,
                                            tern_step_result *r);

/* Loss and correct count of a batch in eval mode, with no tape. */
TERN_API tern_status tern_model_eval_batch(tern_model *m, tern_ctx *c, tern_tensor *x, const int *labels,
                                           tern_step_result *r);

/* Enum value → name; "unknown" when out of range. */
TERN_API const char *tern_layer_type_name(tern_layer_type t);
TERN_API const char *tern_act_name(tern_act a);

/* Name → enum value; TERN_ERR_ARG listing the valid names when unknown
 * (*out untouched). */
TERN_API tern_status tern_layer_type_parse(const char *name, tern_layer_type *out);
TERN_API tern_status tern_act_parse(const char *name, tern_act *out);

#ifdef __cplusplus
}
#endif

#endif
