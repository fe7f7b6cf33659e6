/* batchnorm.c — batch normalisation per channel, forward beside backward.
 *
 * x is (N,C) or (N,C,H,W); a channel's M = N*H*W values (H = W = 1 for 2-D)
 * are normalised together. Both layouts are walked as N*C contiguous planes
 * of H*W floats, so the loops read memory in order and accumulate into
 * per-channel sums. For (N,C), where a plane is one float, each loop runs
 * over a row of C channels instead, so that it vectorizes (the MLP's
 * batchnorms took 20% of its training step as planes of one float); the
 * arithmetic per element, and so every result bit, is the same.
 *
 * Training: mean and biased variance of the batch, in double by two passes
 * (mean first, then squared deviations) so a large M or a large offset does
 * not cancel. With H, W > 1 the channels are cut into tasks (tern/pool.h);
 * a channel's sums stay in one task, so the thread count changes no bit.
 * The running statistics are updated here, in the forward, with the
 * unbiased variance var * M / (M - 1); the backward never touches them.
 *
 * Synchronised (tern_ctx.sync_bn on a comm of several ranks, training): the
 * statistics are those of all ranks' batches together, M their values per
 * channel. Each rank sums its own values; tern_comm_sum_f64 adds the ranks'
 * sums (and counts) in rank order; the global mean then shifts every rank's
 * squared deviations, which are summed likewise. The backward sums sg and
 * sgx over the ranks before dx: the loss the trainer differentiates is the
 * global batch's (tern_xent_cfg.mean_over), so the formula below with the
 * global M and sums is exact. dbeta and dgamma take only this rank's sums:
 * the trainer's all-reduce of the gradients adds the ranks' later.
 *
 * Backward with xhat = (x - mean) * invstd, g = dL/dy:
 *   dbeta  += sum g
 *   dgamma += sum g xhat
 *   training: dx += gamma invstd / M (M g - sum g - xhat sum g xhat)
 *   eval:     dx += gamma invstd g      (the statistics are constants) */
#include <math.h>

#include "kernels/norm.h"
#include "ops_impl.h"
#include "tern/comm.h"
#include "tern/pool.h"

typedef struct {
    int batch_stats;        /* 1: normalised with batch statistics (training) */
    int relu;               /* 1: y = max(bn(x), 0), relu fused in */
    float momentum, eps;
    float *running_mean;    /* (C) buffers, updated by a training forward */
    float *running_var;     /* (C) */
    float *mean;            /* (C) the statistics used, saved for backward */
    float *invstd;          /* (C) 1 / sqrt(var + eps) */
    double *acc;            /* (1 + 2C) per-channel sums, scratch for both passes */
    double M;               /* values per channel the statistics are of (all ranks' with sync) */
    int sync;               /* 1: statistics and sums of all ranks' batches (n->ctx->comm) */
    int pass;               /* what the (N,C,H,W) tasks do now: a bn_pass */
} bn_state;

/* The work of an (N,C,H,W) task on each of its channels. Alone, a channel
 * is done in one go while it is in cache (BN_ALL: the statistics or the
 * sums, then y or dx). With sync, the ranks' sums come between: the local
 * sums are one pass (BN_SUM, BN_SSD, BN_GRAD_SUMS), the outputs from the
 * global ones another (BN_Y, BN_DX). */
enum bn_pass { BN_ALL, BN_SUM, BN_SSD, BN_Y, BN_GRAD_SUMS, BN_DX };

/* Dimensions shared by forward and backward: x is N planes of C channels of HW floats. */
static void bn_dims(const tern_tensor *x, int *N, int *C, size_t *HW) {
    *N = x->shape[0];
    *C = x->shape[1];
    *HW = x->ndim == 4 ? (size_t)x->shape[2] * x->shape[3] : 1;
}

static int bn_check_vec(tern_ctx *c, const char *what, const tern_tensor *v, const tern_tensor *x) {
    char sv[TERN_SHAPE_STR_LEN], sx[TERN_SHAPE_STR_LEN];
    if (!v) {
        tern_ctx_fail(c, TERN_ERR_ARG, "batchnorm: %s is NULL (input %s)", what, SHAPE(x, sx));
        return 0;
    }
    if (v->ndim != 1 || v->shape[0] != x->shape[1]) {
        tern_ctx_fail(c, TERN_ERR_SHAPE, "batchnorm: %s %s does not match input %s: need (%d)", what, SHAPE(v, sv),
                      SHAPE(x, sx), x->shape[1]);
        return 0;
    }
    return 1;
}

static tern_tensor *batchnorm(tern_ctx *c, tern_tensor *x, tern_tensor *gamma, tern_tensor *beta,
                              tern_tensor *running_mean, tern_tensor *running_var, float momentum, float eps,
                              int relu) {
    if (!x || c->status) return NULL;
    char sx[TERN_SHAPE_STR_LEN];
    if (x->ndim != 2 && x->ndim != 4)
        return tern_ctx_fail(c, TERN_ERR_SHAPE, "batchnorm: input %s must be (N,C) or (N,C,H,W)", SHAPE(x, sx));
    if (!bn_check_vec(c, "gamma", gamma, x) || !bn_check_vec(c, "beta", beta, x) ||
        !bn_check_vec(c, "running_mean", running_mean, x) || !bn_check_vec(c, "running_var", running_var, x))
        return NULL;
    if (!(momentum >= 0.0f && momentum <= 1.0f))
        return tern_ctx_fail(c, TERN_ERR_ARG, "batchnorm: momentum %g is outside [0, 1]", momentum);
    if (!(eps > 0.0f && isfinite(eps)))
        return tern_ctx_fail(c, TERN_ERR_ARG, "batchnorm: eps %g must be positive and finite", eps);
    int N, C;
    size_t HW;
    bn_dims(x, &N, &C, &HW);
    /* One value per channel has no variance (and M - 1 = 0 in the unbiased
     * one). With sync, the ranks' values together count: two at least. */
    int sync = c->training && c->sync_bn && tern_comm_size(c->comm) > 1;
    if (c->training && !sync && (size_t)N * HW < 2)
        return tern_ctx_fail(c, TERN_ERR_SHAPE,
                             "batchnorm: training needs more than one value per channel, got input %s", SHAPE(x, sx));

    bn_state *s = tern_ctx_alloc(c, sizeof *s);
    if (!s) return NULL;
    s->batch_stats = c->training != 0;
    s->relu = relu;
    s->sync = sync;
    s->M = (double)N * (double)HW;
    s->momentum = momentum;
    s->eps = eps;
    s->running_mean = running_mean->data;
    s->running_var = running_var->data;
    s->mean = tern_ctx_alloc(c, 2 * (size_t)C * sizeof(float));
    s->acc = tern_ctx_alloc(c, (1 + 2 * (size_t)C) * sizeof(double));
    if (!s->mean || !s->acc) return NULL;
    s->invstd = s->mean + C;
    tern_tensor *y = tern_ctx_tensor(c, x->ndim, x->shape, tern_ctx_wants_grad(c, x, gamma, beta, NULL));
    y = tern_ctx_apply(c, &tern_op_batchnorm, y, s, x, gamma, beta, NULL);
    return c->status ? NULL : y; /* a sum over the ranks may fail in the forward */
}

tern_tensor *tern_batchnorm(tern_ctx *c, tern_tensor *x, tern_tensor *gamma, tern_tensor *beta,
                            tern_tensor *running_mean, tern_tensor *running_var, float momentum, float eps) {
    return batchnorm(c, x, gamma, beta, running_mean, running_var, momentum, eps, 0);
}

tern_tensor *tern_batchnorm_relu(tern_ctx *c, tern_tensor *x, tern_tensor *gamma, tern_tensor *beta,
                                 tern_tensor *running_mean, tern_tensor *running_var, float momentum, float eps) {
    return batchnorm(c, x, gamma, beta, running_mean, running_var, momentum, eps, 1);
}

/* relu's forward and backward, for the fused op: v < 0 ? 0 : v lets a NaN
 * through as tern_relu does; the grad passes where the output is positive.
 * The backward masks dy in place: this node is its only reader, and every
 * other contribution to it has arrived (the tape runs in reverse). */
static inline void relu_run(float *y, size_t n) {
    for (size_t j = 0; j < n; j++) y[j] = y[j] < 0.0f ? 0.0f : y[j];
}
static inline void relu_mask_run(const float *y, float *dy, size_t n) {
    for (size_t j = 0; j < n; j++) dy[j] = y[j] > 0.0f ? dy[j] : 0.0f;
}

/* acc[c] = sum over the channel of (x - shift[c])^p, p = 1 or 2; shift may
 * be NULL (0). (N,C) only: each row of C channels is one vectorised loop. */
static void bn_row_sums(const tern_tensor *x, const double *shift, int power, double *acc) {
    int N = x->shape[0], C = x->shape[1];
    for (int ch = 0; ch < C; ch++) acc[ch] = 0.0;
    for (int i = 0; i < N; i++) {
        const float *xr = x->data + (size_t)i * C; /* (C) */
        for (int ch = 0; ch < C; ch++) {
            double d = (double)xr[ch] - (shift ? shift[ch] : 0.0);
            acc[ch] += power == 1 ? d : d * d;
        }
    }
}

/* The statistics of channel ch from its sum and sum of squared deviations;
 * a training forward also moves the running statistics. */
static void bn_set_stats(bn_state *s, int ch, double mean, double ssd, double M) {
    double var = ssd / M; /* biased: normalises this batch */
    s->mean[ch] = (float)mean;
    s->invstd[ch] = (float)(1.0 / sqrt(var + (double)s->eps));
    double unbiased = ssd / (M - 1.0), m = s->momentum;
    s->running_mean[ch] = (float)((1.0 - m) * s->running_mean[ch] + m * mean);
    s->running_var[ch] = (float)((1.0 - m) * s->running_var[ch] + m * unbiased);
}

/* Channels per task of the (N,C,H,W) layout: channels are independent, so
 * any cut gives the same bits. */
#define BN_TASKS 8

/* tern_comm_sum_f64 takes at most this many values at a time. */
#define BN_SUM_CHUNK 4096

/* buf[0..n) = its sum over the ranks of the ctx's comm, in rank order (the
 * same bits on every rank). 0 with the ctx failed when the comm fails. */
static int bn_sum_ranks(tern_ctx *c, double *buf, size_t n, const char *what) {
    for (size_t at = 0; at < n; at += BN_SUM_CHUNK) {
        size_t k = n - at < BN_SUM_CHUNK ? n - at : BN_SUM_CHUNK;
        tern_status st = tern_comm_sum_f64(c->comm, buf + at, k);
        if (st) {
            tern_ctx_fail(c, st, "batchnorm: summing the %s over %d ranks: %s", what, tern_comm_size(c->comm),
                          tern_errmsg());
            return 0;
        }
    }
    return 1;
}

/* Forward of (N,C,H,W) channels [lo, hi), as s->pass says: the sums into
 * s->acc, or y (after the statistics, in BN_ALL's training). Each plane is
 * summed in fixed double lanes and the planes in sample order, by the loops
 * of kernels/norm.h (an AVX-512 twin with the scalar twin's bits). */
static void bn_forward_channels(void *arg, int task, int thread) {
    (void)thread;
    tern_node *n = arg;
    bn_state *s = n->state;
    const tern_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    int N, C;
    size_t HW, lo, hi;
    bn_dims(x, &N, &C, &HW);
    tern_pool_range((size_t)C, BN_TASKS, task, &lo, &hi);
    double *sum = s->acc + 1, *ssd = s->acc + 1 + C; /* (C) each, bn_stats's */
    const size_t stride = (size_t)C * HW; /* from a channel's plane to the next sample's */
    for (size_t ch = lo; ch < hi; ch++) {
        const float *xc = x->data + ch * HW; /* plane 0 of the channel */
        if (s->pass == BN_SUM) {
            sum[ch] = tern_kernel_bn_sum_f32(xc, stride, (size_t)N, HW, 0.0, 1);
            continue;
        }
        if (s->pass == BN_SSD) { /* sum[ch] holds the mean by now */
            ssd[ch] = tern_kernel_bn_sum_f32(xc, stride, (size_t)N, HW, sum[ch], 2);
            continue;
        }
        if (s->pass == BN_ALL && s->batch_stats) {
            double mean = tern_kernel_bn_sum_f32(xc, stride, (size_t)N, HW, 0.0, 1) / s->M;
            bn_set_stats(s, (int)ch, mean, tern_kernel_bn_sum_f32(xc, stride, (size_t)N, HW, mean, 2), s->M);
        }
        /* y = (x - mean) (gamma invstd) + beta; see tern_batchnorm_forward. */
        float m = s->mean[ch], scale = gamma->data[ch] * s->invstd[ch], b = beta->data[ch];
        for (int i = 0; i < N; i++) {
            size_t off = (size_t)i * stride + ch * HW;
            tern_kernel_bn_norm_f32(x->data + off, HW, m, scale, b, s->relu, n->out->data + off);
        }
    }
}

/* The batch statistics of every channel, by two passes over x: sums, then
 * squared deviations from the mean; with sync each summed over the ranks
 * (with the ranks' value counts, for the global M). 0 with the ctx failed. */
static int bn_stats(tern_node *n) {
    bn_state *s = n->state;
    const tern_tensor *x = n->in[0];
    int N, C;
    size_t HW;
    bn_dims(x, &N, &C, &HW);
    double *count = s->acc, *mean = s->acc + 1, *ssd = s->acc + 1 + C; /* (1), (C), (C) */
    *count = s->M;
    if (HW > 1) {
        s->pass = BN_SUM;
        tern_pool_for(n->ctx->pool, BN_TASKS, 0, bn_forward_channels, n);
    } else {
        bn_row_sums(x, NULL, 1, mean);
    }
    if (s->sync) {
        if (!bn_sum_ranks(n->ctx, s->acc, 1 + (size_t)C, "batch statistics")) return 0;
        s->M = *count; /* >= 2: two ranks or more, of one value or more */
    }
    for (int ch = 0; ch < C; ch++) mean[ch] /= s->M;
    if (HW > 1) {
        s->pass = BN_SSD;
        tern_pool_for(n->ctx->pool, BN_TASKS, 0, bn_forward_channels, n);
    } else {
        bn_row_sums(x, mean, 2, ssd);
    }
    if (s->sync && !bn_sum_ranks(n->ctx, ssd, (size_t)C, "batch statistics")) return 0;
    for (int ch = 0; ch < C; ch++) bn_set_stats(s, ch, mean[ch], ssd[ch], s->M);
    return 1;
}

void tern_batchnorm_forward(tern_node *n) {
    bn_state *s = n->state;
    const tern_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    int N, C;
    size_t HW;
    bn_dims(x, &N, &C, &HW);
    if (!s->batch_stats)
        for (int ch = 0; ch < C; ch++) {
            s->mean[ch] = s->running_mean[ch];
            s->invstd[ch] = (float)(1.0 / sqrt((double)s->running_var[ch] + (double)s->eps));
        }
    /* (N,C,H,W) alone: each task takes its channels' statistics itself. */
    if (s->batch_stats && (HW == 1 || s->sync) && !bn_stats(n)) return;
    if (HW > 1) {
        s->pass = s->sync ? BN_Y : BN_ALL;
        tern_pool_for(n->ctx->pool, BN_TASKS, 0, bn_forward_channels, n);
        return;
    }
    /* y = (x - mean) (gamma invstd) + beta. Not x scale + (beta - mean scale):
     * with a large mean that form cancels two large products and loses the
     * low digits, while x - mean is exact for x near the mean. */
    float *scale = (float *)s->acc; /* (C) the sums are spent */
    for (int ch = 0; ch < C; ch++) scale[ch] = gamma->data[ch] * s->invstd[ch];
    for (int i = 0; i < N; i++) {
        const float *xr = x->data + (size_t)i * C; /* (C) */
        float *yr = n->out->data + (size_t)i * C;
        for (int ch = 0; ch < C; ch++) yr[ch] = (xr[ch] - s->mean[ch]) * scale[ch] + beta->data[ch];
        if (s->relu) relu_run(yr, (size_t)C);
    }
}

/* Backward of (N,C,H,W) channels [lo, hi), as s->pass says: the sums,
 * dgamma and dbeta, then dx (BN_ALL); or the first three, keeping the sums
 * in s->acc (BN_GRAD_SUMS); or dx from the sums in s->acc (BN_DX). */
static void bn_backward_channels(void *arg, int task, int thread) {
    (void)thread;
    tern_node *n = arg;
    const bn_state *s = n->state;
    tern_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    const float *dy = n->out->grad;
    int N, C;
    size_t HW, lo, hi;
    bn_dims(x, &N, &C, &HW);
    tern_pool_range((size_t)C, BN_TASKS, task, &lo, &hi);
    int sums = beta->grad || gamma->grad || (x->grad && s->batch_stats);
    const size_t stride = (size_t)C * HW; /* from a channel's plane to the next sample's */
    for (size_t ch = lo; ch < hi; ch++) {
        float m = s->mean[ch], is = s->invstd[ch];
        /* sg = sum g, sgx = sum g xhat. Eval's dx needs neither. */
        double sg = 0.0, sgx = 0.0;
        if (s->pass == BN_DX) {
            sg = s->acc[ch];
            sgx = s->acc[C + ch];
        } else {
            if (s->relu)
                for (int i = 0; i < N; i++) {
                    size_t off = (size_t)i * stride + ch * HW;
                    tern_kernel_relu_mask_f32(n->out->data + off, n->out->grad + off, HW);
                }
            if (sums)
                tern_kernel_bn_grad_sums_f32(x->data + ch * HW, dy + ch * HW, stride, (size_t)N, HW, m, is, &sg, &sgx);
            if (beta->grad) beta->grad[ch] += (float)sg;
            if (gamma->grad) gamma->grad[ch] += (float)sgx;
            if (s->pass == BN_GRAD_SUMS) {
                s->acc[ch] = sg;
                s->acc[C + ch] = sgx;
                continue;
            }
        }
        if (!x->grad) continue;
        float k = gamma->data[ch] * is, mg = (float)(sg / s->M), mgx = (float)(sgx / s->M);
        for (int i = 0; i < N; i++) {
            size_t off = (size_t)i * stride + ch * HW;
            const float *gp = dy + off;
            float *dx = x->grad + off;
            if (s->batch_stats) /* dx = k (g - mean(g) - xhat mean(g xhat)) */
                tern_kernel_bn_dx_f32(x->data + off, gp, HW, k, m, is, mg, mgx, dx);
            else
                for (size_t j = 0; j < HW; j++) dx[j] += k * gp[j];
        }
    }
}

void tern_batchnorm_backward(tern_node *n) {
    bn_state *s = n->state;
    tern_tensor *x = n->in[0], *gamma = n->in[1], *beta = n->in[2];
    const float *dy = n->out->grad;
    int N, C;
    size_t HW;
    bn_dims(x, &N, &C, &HW);
    /* With sync, dx needs the ranks' sums (the parameters' grads do not). */
    int global = s->sync && x->grad;
    if (HW > 1) {
        s->pass = global ? BN_GRAD_SUMS : BN_ALL;
        tern_pool_for(n->ctx->pool, BN_TASKS, 0, bn_backward_channels, n);
        if (!global || !bn_sum_ranks(n->ctx, s->acc, 2 * (size_t)C, "gradient sums")) return;
        s->pass = BN_DX;
        tern_pool_for(n->ctx->pool, BN_TASKS, 0, bn_backward_channels, n);
        return;
    }
    if (s->relu) relu_mask_run(n->out->data, n->out->grad, n->out->n);
    /* (N,C): per channel sg = sum g, sgx = sum g xhat, a row at a time. */
    double *sg = s->acc, *sgx = s->acc + C; /* (C) each */
    for (int ch = 0; ch < C; ch++) sg[ch] = sgx[ch] = 0.0;
    if (beta->grad || gamma->grad || (x->grad && s->batch_stats))
        for (int i = 0; i < N; i++) {
            const float *xr = x->data + (size_t)i * C, *gr = dy + (size_t)i * C; /* (C) */
            for (int ch = 0; ch < C; ch++) {
                sg[ch] += gr[ch];
                sgx[ch] += (double)gr[ch] * (double)((xr[ch] - s->mean[ch]) * s->invstd[ch]);
            }
        }
    if (beta->grad)
        for (int ch = 0; ch < C; ch++) beta->grad[ch] += (float)sg[ch];
    if (gamma->grad)
        for (int ch = 0; ch < C; ch++) gamma->grad[ch] += (float)sgx[ch];
    if (!x->grad) return;
    if (global && !bn_sum_ranks(n->ctx, s->acc, 2 * (size_t)C, "gradient sums")) return;
    for (int ch = 0; ch < C; ch++) { /* the sums are spent: make them means */
        sg[ch] /= s->M;
        sgx[ch] /= s->M;
    }
    for (int i = 0; i < N; i++) {
        const float *xr = x->data + (size_t)i * C, *gr = dy + (size_t)i * C; /* (C) */
        float *dx = x->grad + (size_t)i * C;
        if (s->batch_stats)
            for (int ch = 0; ch < C; ch++)
                dx[ch] += gamma->data[ch] * s->invstd[ch] *
                          (gr[ch] - (float)sg[ch] - (xr[ch] - s->mean[ch]) * s->invstd[ch] * (float)sgx[ch]);
        else
            for (int ch = 0; ch < C; ch++) dx[ch] += gamma->data[ch] * s->invstd[ch] * gr[ch];
    }
}

TERN_OP_DEFINE(batchnorm);
