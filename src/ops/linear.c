/* linear.c — fully connected layer y = x W^T + b on cblas_sgemm.
 *
 * PyTorch layout: W is (O,I), one row per output feature, so the forward is
 * a GEMM with W transposed in place (no copy). The backward needs only x and
 * W, which the tape keeps as inputs, so the op saves no state of its own.
 * All three gradient products use beta = 1: sgemm adds straight into the
 * grads, which is the accumulation (+=) the tape asks for.
 *
 * The in-feature count I is spelled `In` in code: cblas.h pulls in
 * <complex.h>, whose macro I is the imaginary unit. */
#include <cblas.h>

#include "ops_impl.h"

tern_tensor *tern_linear(tern_ctx *c, tern_tensor *x, tern_tensor *w, tern_tensor *b) {
    if (!x || !w || c->status) return NULL;
    char sx[TERN_SHAPE_STR_LEN], sw[TERN_SHAPE_STR_LEN], sb[TERN_SHAPE_STR_LEN];
    if (x->ndim != 2)
        return tern_ctx_fail(c, TERN_ERR_SHAPE, "linear: input %s must be (N,I); flatten it first", SHAPE(x, sx));
    if (w->ndim != 2)
        return tern_ctx_fail(c, TERN_ERR_SHAPE, "linear: weight %s must be (O,I)", SHAPE(w, sw));
    if (x->shape[1] != w->shape[1])
        return tern_ctx_fail(c, TERN_ERR_SHAPE, "linear: input %s does not match weight %s", SHAPE(x, sx),
                             SHAPE(w, sw));
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return tern_ctx_fail(c, TERN_ERR_SHAPE, "linear: bias %s does not match weight %s (needs (%d))",
                             SHAPE(b, sb), SHAPE(w, sw), w->shape[0]);
    int shape[2] = {x->shape[0], w->shape[0]}; /* (N,O) */
    tern_tensor *y = tern_ctx_tensor(c, 2, shape, tern_ctx_wants_grad(c, x, w, b, NULL));
    return tern_ctx_apply(c, TERN_OP_LINEAR, y, NULL, x, w, b, NULL);
}

void tern_linear_forward(tern_node *n) {
    const tern_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    tern_tensor *y = n->out;
    int N = x->shape[0], In = x->shape[1], O = w->shape[0];
    /* With a bias, y starts as b broadcast over rows and sgemm adds x W^T. */
    float beta = 0.0f;
    if (b) {
        for (int i = 0; i < N; i++)
            for (int o = 0; o < O; o++) y->data[(size_t)i * O + o] = b->data[o];
        beta = 1.0f;
    }
    /* y (N,O) = x (N,I) · W^T (I,O) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, O, In, 1.0f, x->data, In, w->data, In, beta, y->data, O);
}

void tern_linear_backward(tern_node *n) {
    tern_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    const float *dy = n->out->grad; /* (N,O) */
    int N = x->shape[0], In = x->shape[1], O = w->shape[0];
    /* dx (N,I) += dy (N,O) · W (O,I) */
    if (x->grad)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, In, O, 1.0f, dy, O, w->data, In, 1.0f, x->grad, In);
    /* dW (O,I) += dy^T (O,N) · x (N,I) */
    if (w->grad)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, In, N, 1.0f, dy, O, x->data, In, 1.0f, w->grad, In);
    /* db (O) += sum over rows of dy */
    if (b && b->grad)
        for (int i = 0; i < N; i++)
            for (int o = 0; o < O; o++) b->grad[o] += dy[(size_t)i * O + o];
}
