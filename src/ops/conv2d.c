/* conv2d.c — 2-D cross-correlation as im2col + sgemm, one sample at a time.
 *
 * The column helpers (im2col and its adjoint) are shared with the runtime
 * and live in src/kernels/fp32.c.
 *
 * Shapes (PyTorch conventions, zero padding):
 *   x (N,C,H,W), W (O,C,KH,KW), b (O) → y (N,O,OH,OW)
 *   OH = (H + 2 pad - KH) / stride + 1, OW likewise; K = C KH KW, P = OH OW.
 *
 * For each sample n, im2col unrolls x_n into col (K,P): row (c,kh,kw),
 * column (oh,ow) holds x_n[c, oh stride - pad + kh, ow stride - pad + kw],
 * or 0 in the padding. Then W seen as (O,K) gives y_n (O,P) = W col.
 *
 * Memory: the columns of a whole batch are K·P·N floats (hundreds of MB for a
 * CIFAR VGG layer), so they are never kept. The op owns one (K,P) buffer from
 * the arena; the forward fills it per sample, and the backward reuses the same
 * buffer, recomputing the columns of x_n for dW and then overwriting them
 * with dcol for dx. A 1x1 kernel with stride 1 and no padding needs no
 * columns at all: col is x_n itself, seen as (C, H W).
 *
 * Backward per sample (accumulating, beta = 1 where the target is a grad):
 *   dW (O,K) += dy_n (O,P) · col_n^T (P,K)
 *   dcol (K,P) = W^T (K,O) · dy_n (O,P), then col2im adds dcol into dx_n
 *   db (O)   += sum over n, oh, ow of dy */
#include <cblas.h>
#include <limits.h>
#include <string.h>

#include "ops_impl.h"
#include "tern/kernels.h"

typedef struct {
    int stride, pad;
    int OH, OW;
    float *col; /* (K,P) column buffer; NULL when col is x_n itself (1x1, stride 1, pad 0) */
} conv2d_state;

tern_tensor *tern_conv2d(tern_ctx *c, tern_tensor *x, tern_tensor *w, tern_tensor *b, int stride, int pad) {
    if (!x || !w || c->status) return NULL;
    char sx[TERN_SHAPE_STR_LEN], sw[TERN_SHAPE_STR_LEN], sb[TERN_SHAPE_STR_LEN];
    if (x->ndim != 4) return tern_ctx_fail(c, TERN_ERR_SHAPE, "conv2d: input %s must be (N,C,H,W)", SHAPE(x, sx));
    if (w->ndim != 4)
        return tern_ctx_fail(c, TERN_ERR_SHAPE, "conv2d: weight %s must be (O,C,KH,KW)", SHAPE(w, sw));
    if (stride < 1) return tern_ctx_fail(c, TERN_ERR_ARG, "conv2d: stride %d must be >= 1", stride);
    if (pad < 0) return tern_ctx_fail(c, TERN_ERR_ARG, "conv2d: pad %d must be >= 0", pad);
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int O = w->shape[0], KH = w->shape[2], KW = w->shape[3];
    if (w->shape[1] != C)
        return tern_ctx_fail(c, TERN_ERR_SHAPE, "conv2d: input %s does not match weight %s (%d channels vs %d)",
                             SHAPE(x, sx), SHAPE(w, sw), C, w->shape[1]);
    if (b && (b->ndim != 1 || b->shape[0] != O))
        return tern_ctx_fail(c, TERN_ERR_SHAPE, "conv2d: bias %s does not match weight %s (needs (%d))",
                             SHAPE(b, sb), SHAPE(w, sw), O);
    long long Hp = H + 2LL * pad, Wp = W + 2LL * pad;
    if (KH > Hp || KW > Wp)
        return tern_ctx_fail(c, TERN_ERR_SHAPE,
                             "conv2d: kernel %dx%d of weight %s is larger than input %s padded by %d (%lldx%lld)",
                             KH, KW, SHAPE(w, sw), SHAPE(x, sx), pad, Hp, Wp);
    long long OH = (Hp - KH) / stride + 1, OW = (Wp - KW) / stride + 1;
    long long K = (long long)C * KH * KW;
    /* sgemm takes int dimensions. */
    if (OH * OW > INT_MAX || K > INT_MAX)
        return tern_ctx_fail(c, TERN_ERR_SHAPE,
                             "conv2d: input %s, weight %s, pad %d give a %lldx%lld output; too large for sgemm",
                             SHAPE(x, sx), SHAPE(w, sw), pad, OH, OW);

    conv2d_state *s = tern_ctx_alloc(c, sizeof *s);
    if (!s) return NULL;
    s->stride = stride;
    s->pad = pad;
    s->OH = (int)OH;
    s->OW = (int)OW;
    s->col = NULL;
    if (!(KH == 1 && KW == 1 && stride == 1 && pad == 0)) {
        s->col = tern_ctx_alloc(c, (size_t)K * (size_t)(OH * OW) * sizeof(float));
        if (!s->col) return NULL;
    }
    int shape[4] = {N, O, (int)OH, (int)OW};
    tern_tensor *y = tern_ctx_tensor(c, 4, shape, tern_ctx_wants_grad(c, x, w, b, NULL));
    return tern_ctx_apply(c, TERN_OP_CONV2D, y, s, x, w, b, NULL);
}

void tern_conv2d_forward(tern_node *n) {
    const conv2d_state *s = n->state;
    const tern_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int O = w->shape[0], KH = w->shape[2], KW = w->shape[3];
    int K = C * KH * KW, P = s->OH * s->OW;
    for (int i = 0; i < N; i++) {
        const float *xn = x->data + (size_t)i * C * H * W; /* (C,H,W) */
        float *yn = n->out->data + (size_t)i * O * P;      /* (O,P) */
        const float *col = xn;                             /* (K,P) */
        if (s->col) {
            tern_kernel_im2col_f32(xn, C, H, W, KH, KW, s->stride, s->pad, s->OH, s->OW, s->col);
            col = s->col;
        }
        float beta = 0.0f;
        if (b) {
            for (int o = 0; o < O; o++)
                for (int p = 0; p < P; p++) yn[(size_t)o * P + p] = b->data[o];
            beta = 1.0f;
        }
        /* y_n (O,P) = W (O,K) · col (K,P) [+ b] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, P, K, 1.0f, w->data, K, col, P, beta, yn, P);
    }
}

void tern_conv2d_backward(tern_node *n) {
    const conv2d_state *s = n->state;
    tern_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int O = w->shape[0], KH = w->shape[2], KW = w->shape[3];
    int K = C * KH * KW, P = s->OH * s->OW;
    for (int i = 0; i < N; i++) {
        const float *xn = x->data + (size_t)i * C * H * W; /* (C,H,W) */
        const float *dyn = n->out->grad + (size_t)i * O * P; /* (O,P) */
        if (w->grad) {
            const float *col = xn; /* (K,P), recomputed: the forward kept none */
            if (s->col) {
                tern_kernel_im2col_f32(xn, C, H, W, KH, KW, s->stride, s->pad, s->OH, s->OW, s->col);
                col = s->col;
            }
            /* dW (O,K) += dy_n (O,P) · col^T (P,K) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, K, P, 1.0f, dyn, P, col, P, 1.0f, w->grad, K);
        }
        if (x->grad) {
            float *dxn = x->grad + (size_t)i * C * H * W; /* (C,H,W) */
            if (s->col) {
                /* dcol (K,P) = W^T (K,O) · dy_n (O,P), in the column buffer
                 * (its columns of x_n were consumed by dW above). */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, O, 1.0f, w->data, K, dyn, P, 0.0f,
                            s->col, P);
                tern_kernel_col2im_add_f32(s->col, C, H, W, KH, KW, s->stride, s->pad, s->OH, s->OW, dxn);
            } else {
                /* col is x_n, so dcol is dx_n: accumulate in place. */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, O, 1.0f, w->data, K, dyn, P, 1.0f, dxn,
                            P);
            }
        }
    }
    /* db (O) += sum over n, oh, ow of dy */
    if (b && b->grad)
        for (int i = 0; i < N; i++)
            for (int o = 0; o < O; o++) {
                const float *d = n->out->grad + ((size_t)i * O + o) * P;
                float sum = 0.0f;
                for (int p = 0; p < P; p++) sum += d[p];
                b->grad[o] += sum;
            }
}
