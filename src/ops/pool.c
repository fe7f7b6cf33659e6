/* pool.c — maxpool2d, avgpool2d, global_avgpool: forward beside backward.
 *
 * Windows follow PyTorch's floor mode: OH = (H + 2 pad - k) / stride + 1, and
 * each window [oh*stride - pad, oh*stride - pad + k) lies inside the padded
 * input. With pad < k every window also overlaps the real input, so a max is
 * always taken over real values and never over padding alone. */
#include <math.h>
#include <stdint.h>

#include "kernels/fp32.h"
#include "ops_impl.h"
#include "tern/pool.h"

typedef struct {
    int k, stride, pad;
    int32_t *argmax;  /* (N,C,OH,OW) index h*W + w into the input plane; NULL when not recording */
} pool_state;

/* Checks shared by both windowed pools; on success fills the output shape. */
static int pool_check(tern_ctx *c, const char *op, const tern_tensor *x, int k, int stride, int pad, int *out_shape) {
    char sx[TERN_SHAPE_STR_LEN];
    if (x->ndim != 4) {
        tern_ctx_fail(c, TERN_ERR_SHAPE, "%s: input %s must be (N,C,H,W)", op, SHAPE(x, sx));
        return 0;
    }
    if (k < 1 || stride < 1 || pad < 0) {
        tern_ctx_fail(c, TERN_ERR_ARG, "%s: k=%d stride=%d pad=%d: need k >= 1, stride >= 1, pad >= 0", op, k, stride,
                      pad);
        return 0;
    }
    if (pad >= k) {
        /* A window could then lie wholly in the padding. */
        tern_ctx_fail(c, TERN_ERR_ARG, "%s: pad %d must be smaller than the window k=%d (input %s)", op, pad, k,
                      SHAPE(x, sx));
        return 0;
    }
    int H = x->shape[2], W = x->shape[3];
    int64_t ph = (int64_t)H + 2 * (int64_t)pad, pw = (int64_t)W + 2 * (int64_t)pad;
    if (k > ph || k > pw) {
        tern_ctx_fail(c, TERN_ERR_SHAPE, "%s: window k=%d is larger than the padded input %lldx%lld (input %s, pad %d)",
                      op, k, (long long)ph, (long long)pw, SHAPE(x, sx), pad);
        return 0;
    }
    if ((int64_t)H * W > INT32_MAX) {
        tern_ctx_fail(c, TERN_ERR_SHAPE, "%s: input plane %s has more than 2^31 elements", op, SHAPE(x, sx));
        return 0;
    }
    out_shape[0] = x->shape[0];
    out_shape[1] = x->shape[1];
    out_shape[2] = (int)tern_conv_out_size(H, k, stride, pad);
    out_shape[3] = (int)tern_conv_out_size(W, k, stride, pad);
    return 1;
}

/* The part [lo, hi) of the window starting at `start` (may be negative) with
 * length k that lies inside [0, size). */
static inline void clip(int start, int k, int size, int *lo, int *hi) {
    *lo = start < 0 ? 0 : start;
    *hi = start + k > size ? size : start + k;
}

/* ---- maxpool2d: y = max over each k×k window, padding -inf ---------------- */

/* Both windowed pools: check, keep the window, and (max only, and only when
 * a backward will run) room for the argmax of every output. */
static tern_tensor *pool_build(tern_ctx *c, const tern_op_def *op, tern_tensor *x, int k, int stride, int pad) {
    if (!x || c->status) return NULL;
    int shape[4];
    if (!pool_check(c, op->name, x, k, stride, pad, shape)) return NULL;
    pool_state *s = tern_ctx_alloc(c, sizeof *s);
    if (!s) return NULL;
    *s = (pool_state){.k = k, .stride = stride, .pad = pad, .argmax = NULL};
    tern_tensor *y = tern_ctx_tensor(c, 4, shape, tern_ctx_wants_grad(c, x, NULL, NULL, NULL));
    if (!y) return NULL;
    if (op == &tern_op_maxpool2d && y->grad) {
        s->argmax = tern_ctx_alloc(c, y->n * sizeof(int32_t));
        if (!s->argmax) return NULL;
    }
    return tern_ctx_apply(c, op, y, s, x, NULL, NULL, NULL);
}

tern_tensor *tern_maxpool2d(tern_ctx *c, tern_tensor *x, int k, int stride, int pad) {
    return pool_build(c, &tern_op_maxpool2d, x, k, stride, pad);
}

/* maxpool runs as POOL_TASKS tasks, each a range of planes: planes are
 * independent, so any cut gives the same bits. */
#define POOL_TASKS 8

static void maxpool_forward_part(void *arg, int task, int thread) {
    (void)thread;
    tern_node *n = arg;
    const pool_state *s = n->state;
    const tern_tensor *x = n->in[0];
    tern_tensor *y = n->out;
    size_t lo, hi, HW = (size_t)x->shape[2] * x->shape[3], OHW = (size_t)y->shape[2] * y->shape[3];
    tern_pool_range((size_t)x->shape[0] * x->shape[1], POOL_TASKS, task, &lo, &hi);
    tern_kernel_maxpool2d_f32(x->data + lo * HW, hi - lo, x->shape[2], x->shape[3], s->k, s->stride, s->pad,
                              y->shape[2], y->shape[3], y->data + lo * OHW, s->argmax ? s->argmax + lo * OHW : NULL);
}

void tern_maxpool2d_forward(tern_node *n) { tern_pool_for(n->ctx->pool, POOL_TASKS, 0, maxpool_forward_part, n); }

static void maxpool_backward_part(void *arg, int task, int thread) {
    (void)thread;
    tern_node *n = arg;
    const pool_state *s = n->state;
    tern_tensor *x = n->in[0];
    const tern_tensor *y = n->out;
    size_t HW = (size_t)x->shape[2] * x->shape[3], OHW = (size_t)y->shape[2] * y->shape[3];
    size_t lo, hi;
    tern_pool_range((size_t)x->shape[0] * x->shape[1], POOL_TASKS, task, &lo, &hi);
    /* The gradient goes to the one input that was the max. */
    for (size_t p = lo; p < hi; p++) {
        float *dx = x->grad + p * HW;
        const float *dy = y->grad + p * OHW;
        const int32_t *ap = s->argmax + p * OHW;
        for (size_t o = 0; o < OHW; o++) dx[ap[o]] += dy[o];
    }
}

void tern_maxpool2d_backward(tern_node *n) {
    if (n->in[0]->grad) tern_pool_for(n->ctx->pool, POOL_TASKS, 0, maxpool_backward_part, n);
}

TERN_OP_DEFINE(maxpool2d);

/* ---- avgpool2d: y = sum over each k×k window / (k*k) ---------------------- */

tern_tensor *tern_avgpool2d(tern_ctx *c, tern_tensor *x, int k, int stride, int pad) {
    return pool_build(c, &tern_op_avgpool2d, x, k, stride, pad);
}

void tern_avgpool2d_forward(tern_node *n) {
    const pool_state *s = n->state;
    const tern_tensor *x = n->in[0];
    tern_tensor *y = n->out;
    tern_kernel_avgpool2d_f32(x->data, (size_t)x->shape[0] * x->shape[1], x->shape[2], x->shape[3], s->k, s->stride,
                              s->pad, y->shape[2], y->shape[3], y->data);
}

void tern_avgpool2d_backward(tern_node *n) {
    const pool_state *s = n->state;
    tern_tensor *x = n->in[0];
    if (!x->grad) return;
    const tern_tensor *y = n->out;
    int H = x->shape[2], W = x->shape[3], OH = y->shape[2], OW = y->shape[3];
    size_t planes = (size_t)x->shape[0] * x->shape[1];
    float inv = 1.0f / (float)(s->k * s->k);
    /* Each input in a window receives dy / (k*k); overlapping windows add. */
    for (size_t p = 0; p < planes; p++) {
        float *dx = x->grad + p * H * W;
        const float *dy = y->grad + p * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            int h0, h1;
            clip(oh * s->stride - s->pad, s->k, H, &h0, &h1);
            for (int ow = 0; ow < OW; ow++) {
                int w0, w1;
                clip(ow * s->stride - s->pad, s->k, W, &w0, &w1);
                float g = dy[oh * OW + ow] * inv;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) dx[h * W + w] += g;
            }
        }
    }
}

TERN_OP_DEFINE(avgpool2d);

/* ---- global_avgpool: y[n,c] = mean over h,w of x[n,c,h,w] ---------------- */

tern_tensor *tern_global_avgpool(tern_ctx *c, tern_tensor *x) {
    if (!x || c->status) return NULL;
    if (x->ndim != 4) {
        char sx[TERN_SHAPE_STR_LEN];
        return tern_ctx_fail(c, TERN_ERR_SHAPE, "global_avgpool: input %s must be (N,C,H,W)", SHAPE(x, sx));
    }
    int shape[2] = {x->shape[0], x->shape[1]};
    tern_tensor *y = tern_ctx_tensor(c, 2, shape, tern_ctx_wants_grad(c, x, NULL, NULL, NULL));
    return tern_ctx_apply(c, &tern_op_global_avgpool, y, NULL, x, NULL, NULL, NULL);
}

void tern_global_avgpool_forward(tern_node *n) {
    const tern_tensor *x = n->in[0];
    size_t HW = (size_t)x->shape[2] * x->shape[3];
    /* Summed in double: a large plane in float would lose low bits. */
    for (size_t p = 0; p < n->out->n; p++) {
        const float *xp = x->data + p * HW;
        double sum = 0.0;
        for (size_t i = 0; i < HW; i++) sum += xp[i];
        n->out->data[p] = (float)(sum / (double)HW);
    }
}

void tern_global_avgpool_backward(tern_node *n) {
    tern_tensor *x = n->in[0];
    if (!x->grad) return;
    size_t HW = (size_t)x->shape[2] * x->shape[3];
    float inv = 1.0f / (float)HW;
    for (size_t p = 0; p < n->out->n; p++) {
        float g = n->out->grad[p] * inv;
        float *dx = x->grad + p * HW;
        for (size_t i = 0; i < HW; i++) dx[i] += g;
    }
}

TERN_OP_DEFINE(global_avgpool);
