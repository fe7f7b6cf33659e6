/* tern/ops.h — differentiable ops: forward here, backward on the tape.
 *
 * Each op takes the step context and input tensors and returns a new arena
 * tensor, or NULL when the inputs are NULL or wrong (ctx->status and
 * tern_errmsg() then say which op and which shapes). Shapes are NCHW:
 * N batch, C channels, H rows, W columns. A NULL bias means no bias.
 *
 * Each op's forward and backward sit side by side in src/ops/<op>.c, which
 * publishes them as one definition (src/ops/ops_impl.h lists them all); a
 * tape node points to its op's definition. */
#ifndef TERN_OPS_H
#define TERN_OPS_H

#include "tern/api.h"
#include "tern/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y = x W^T + b.  x (N,I), W (O,I), b (O) → y (N,O).  cblas_sgemm. */
TERN_API tern_tensor *tern_linear(tern_ctx *c, tern_tensor *x, tern_tensor *w, tern_tensor *b);

/* y = W * x + b (cross-correlation).  x (N,C,H,W), W (O,C,KH,KW), b (O)
 * → y (N,O,OH,OW), OH = (H + 2 pad - KH) / stride + 1.  im2col + sgemm. */
TERN_API tern_tensor *tern_conv2d(tern_ctx *c, tern_tensor *x, tern_tensor *w, tern_tensor *b, int stride, int pad);

/* y = max over each k×k window (padding is -inf).  x (N,C,H,W) → (N,C,OH,OW). */
TERN_API tern_tensor *tern_maxpool2d(tern_ctx *c, tern_tensor *x, int k, int stride, int pad);

/* y = sum over each k×k window / (k*k) (zero padding counted, as PyTorch's
 * default count_include_pad).  x (N,C,H,W) → (N,C,OH,OW). */
TERN_API tern_tensor *tern_avgpool2d(tern_ctx *c, tern_tensor *x, int k, int stride, int pad);

/* y[n,c] = mean over h,w of x[n,c,h,w].  x (N,C,H,W) → (N,C). */
TERN_API tern_tensor *tern_global_avgpool(tern_ctx *c, tern_tensor *x);

/* Batch normalisation over N (and H,W) per channel C; x (N,C) or (N,C,H,W).
 * Training: y = gamma (x - mean_B) / sqrt(var_B + eps) + beta with the biased
 * batch variance, and running = (1 - momentum) running + momentum stat with
 * the unbiased variance (PyTorch's convention). Eval: the running statistics.
 * gamma, beta, running_mean, running_var are (C). Training with c->sync_bn
 * on a comm of several ranks: the statistics (and the backward's sums) are
 * those of all ranks' batches together, as PyTorch's SyncBatchNorm; every
 * rank must call it. dgamma, dbeta stay this rank's share (sum them over the
 * ranks as every parameter grad). Otherwise each rank's batch alone. */
TERN_API tern_tensor *tern_batchnorm(tern_ctx *c, tern_tensor *x, tern_tensor *gamma, tern_tensor *beta,
                                     tern_tensor *running_mean, tern_tensor *running_var, float momentum, float eps);

/* relu(batchnorm(...)) as one op: the same bits as the two, without the
 * intermediate tensor and its grad (one pass less each way). */
TERN_API tern_tensor *tern_batchnorm_relu(tern_ctx *c, tern_tensor *x, tern_tensor *gamma, tern_tensor *beta,
                                          tern_tensor *running_mean, tern_tensor *running_var, float momentum,
                                          float eps);

/* y = max(x, 0). */
TERN_API tern_tensor *tern_relu(tern_ctx *c, tern_tensor *x);

/* y = clamp(x, lo, hi); dy/dx = 1 inside (lo, hi), 0 outside. */
TERN_API tern_tensor *tern_hardtanh(tern_ctx *c, tern_tensor *x, float lo, float hi);

/* Training: y = x * m / (1 - p), m ~ Bernoulli(1 - p) from ctx->rng.
 * Eval or p == 0: y = x (the same tensor, no copy). */
TERN_API tern_tensor *tern_dropout(tern_ctx *c, tern_tensor *x, float p);

/* y = a + b, same shapes (residual connections). */
TERN_API tern_tensor *tern_add(tern_ctx *c, tern_tensor *a, tern_tensor *b);

/* A view of x with another shape of the same size; shares data and grad,
 * so it needs no node on the tape. */
TERN_API tern_tensor *tern_reshape(tern_ctx *c, tern_tensor *x, int ndim, const int *shape);

/* (N, ...) → (N, prod(...)). */
TERN_API tern_tensor *tern_flatten(tern_ctx *c, tern_tensor *x);

/* loss = mean_n [ logsumexp(z_n) - z_n[label_n] ], fused and stable.
 * logits (N,K), labels[N] in [0,K) → loss (1). The backward is
 * (softmax(z) - onehot) / N. `labels` must stay valid until backward. */
TERN_API tern_tensor *tern_softmax_xent(tern_ctx *c, tern_tensor *logits, const int *labels);

/* What the training loss adds to plain cross-entropy (all zero: plain CE). */
typedef struct tern_xent_cfg {
    float label_smoothing;  /* eps in [0, 1): the target is (1 - eps) onehot + eps / K */
    const float *teacher;   /* (N,K) teacher logits for distillation; NULL: none. Valid until backward */
    float temperature;      /* T > 0 (distillation) */
    float weight;           /* w in [0, 1] (distillation) */
    int mean_over;          /* the loss is the rows' sum / mean_over (>= N); 0: / N, the batch's mean.
                               One rank of a data-parallel run gives the global batch: its loss is its
                               share of the global mean, and the ranks' gradients sum to the batch's */
} tern_xent_cfg;

/* loss = (1 - w) CE_eps(z, y) + w T^2 KL(softmax(t/T) || softmax(z/T)), mean
 * over the batch (over mean_over rows, when set); without a teacher, CE_eps alone. CE_eps is PyTorch's
 * CrossEntropyLoss(label_smoothing=eps): mean_n [lse(z_n) - (1 - eps) z_n[y_n]
 * - eps/K sum_k z_n[k]]; the KD term is F.kl_div(log_softmax(z/T),
 * softmax(t/T), reduction='batchmean') T^2 (Hinton et al.: T^2 keeps the
 * gradient's scale). Backward: [(1 - w)(softmax(z) - q) + w T (softmax(z/T)
 * - softmax(t/T))] / N (or / mean_over). cfg NULL is tern_softmax_xent; a cfg out of range
 * fails with the op's name and the value. */
TERN_API tern_tensor *tern_xent_loss(tern_ctx *c, tern_tensor *logits, const int *labels, const tern_xent_cfg *cfg);

/* Number of rows whose argmax equals the label (ties: the first max). */
TERN_API int tern_count_correct(const tern_tensor *logits, const int *labels);

#ifdef __cplusplus
}
#endif

#endif
