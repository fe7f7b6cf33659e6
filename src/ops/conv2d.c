/* conv2d.c — 2-D cross-correlation as im2col + sgemm, a chunk of samples at a time.
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
 * Chunks: one sample's GEMM is small (LeNet-5's conv2 is 64x64x800) and runs
 * far below what sgemm does on wide matrices, so G samples' columns sit side
 * by side in one (K, G P) matrix and each chunk is one GEMM:
 *   yG (O, G P) = W (O,K) · colG (K, G P), then scattered to y (G,O,P) + b.
 * G = min(N, CONV2D_CHUNK, what keeps colG within CONV2D_COL_FLOATS),
 * at least 1.
 *
 * Memory: the columns of a whole batch are K·P·N floats (hundreds of MB for a
 * CIFAR VGG layer), so they are never kept. The op owns one colG buffer and
 * one (O, G P) buffer from the arena, bounded whatever the batch; the forward
 * fills them per chunk, and the backward reuses them, recomputing the columns
 * for dW and then overwriting them with dcol for dx. A 1x1 kernel with
 * stride 1 and no padding needs no columns at all: col is x_n itself, seen
 * as (C, H W), one sample a chunk.
 *
 * Backward per chunk (accumulating, beta = 1 where the target is a grad):
 *   dyG (O, G P) gathered from dy (G,O,P)
 *   dW (O,K) += dyG (O, G P) · colG^T (G P, K)
 *   dcolG (K, G P) = W^T (K,O) · dyG (O, G P), then col2im adds each
 *   sample's columns into dx_n
 *   db (O)   += sum over n, oh, ow of dy */
#include <cblas.h>
#include <limits.h>
#include <string.h>

#include "ops_impl.h"
#include "tern/kernels.h"

/* Floats of one chunk's columns at most (16 MB), and samples a chunk at most. */
#define CONV2D_COL_FLOATS ((size_t)4 << 20)
#define CONV2D_CHUNK 16

typedef struct {
    int stride, pad;
    int OH, OW;
    int G;      /* samples per chunk */
    float *col; /* (K, G P) columns; NULL when col is x_n itself (1x1, stride 1, pad 0; G = 1) */
    float *yg;  /* (O, G P) a chunk's outputs or output grads; NULL when G = 1 */
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
    s->col = s->yg = NULL;
    s->G = 1;
    if (!(KH == 1 && KW == 1 && stride == 1 && pad == 0)) {
        size_t kp = (size_t)K * (size_t)(OH * OW), g = CONV2D_COL_FLOATS / kp;
        if (g > CONV2D_CHUNK) g = CONV2D_CHUNK;
        if (g > (size_t)N) g = (size_t)N;
        if ((size_t)(OH * OW) * g > INT_MAX) g = 1;
        s->G = g < 1 ? 1 : (int)g;
        s->col = tern_ctx_alloc(c, kp * (size_t)s->G * sizeof(float));
        if (!s->col) return NULL;
        if (s->G > 1 && !(s->yg = tern_ctx_alloc(c, (size_t)O * (size_t)(OH * OW) * (size_t)s->G * sizeof(float))))
            return NULL;
    }
    int shape[4] = {N, O, (int)OH, (int)OW};
    tern_tensor *y = tern_ctx_tensor(c, 4, shape, tern_ctx_wants_grad(c, x, w, b, NULL));
    return tern_ctx_apply(c, TERN_OP_CONV2D, y, s, x, w, b, NULL);
}

/* The columns of samples i0 .. i0+g-1 of x into s->col (K, g P); returns
 * the column matrix (x_i0 itself for a 1x1 conv without columns). */
static const float *chunk_columns(const conv2d_state *s, const tern_tensor *x, int KH, int KW, int i0, int g) {
    int C = x->shape[1], H = x->shape[2], W = x->shape[3], P = s->OH * s->OW;
    const float *x0 = x->data + (size_t)i0 * C * H * W; /* (g,C,H,W) */
    if (!s->col) return x0;
    for (int j = 0; j < g; j++)
        tern_kernel_im2col_ld_f32(x0 + (size_t)j * C * H * W, C, H, W, KH, KW, s->stride, s->pad, s->OH, s->OW,
                                  s->col + (size_t)j * P, (size_t)g * P);
    return s->col;
}

void tern_conv2d_forward(tern_node *n) {
    const conv2d_state *s = n->state;
    const tern_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    int N = x->shape[0];
    int O = w->shape[0], KH = w->shape[2], KW = w->shape[3];
    int K = x->shape[1] * KH * KW, P = s->OH * s->OW;
    for (int i0 = 0; i0 < N; i0 += s->G) {
        int g = N - i0 < s->G ? N - i0 : s->G, L = g * P;
        const float *col = chunk_columns(s, x, KH, KW, i0, g); /* (K, g P) */
        float *y0 = n->out->data + (size_t)i0 * O * P;         /* (g,O,P) */
        if (g == 1) {
            /* y_i0 (O,P) = W (O,K) · col (K,P) [+ b], in place */
            float beta = 0.0f;
            if (b) {
                for (int o = 0; o < O; o++)
                    for (int p = 0; p < P; p++) y0[(size_t)o * P + p] = b->data[o];
                beta = 1.0f;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, P, K, 1.0f, w->data, K, col, P, beta, y0, P);
            continue;
        }
        /* yg (O, g P) = W (O,K) · col (K, g P), then y (g,O,P) = yg + b */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, L, K, 1.0f, w->data, K, col, L, 0.0f, s->yg, L);
        for (int j = 0; j < g; j++)
            for (int o = 0; o < O; o++) {
                const float *src = s->yg + (size_t)o * L + (size_t)j * P;
                float *dst = y0 + ((size_t)j * O + o) * P, bo = b ? b->data[o] : 0.0f;
                for (int p = 0; p < P; p++) dst[p] = src[p] + bo;
            }
    }
}

void tern_conv2d_backward(tern_node *n) {
    const conv2d_state *s = n->state;
    tern_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int O = w->shape[0], KH = w->shape[2], KW = w->shape[3];
    int K = C * KH * KW, P = s->OH * s->OW;
    for (int i0 = 0; i0 < N; i0 += s->G) {
        int g = N - i0 < s->G ? N - i0 : s->G, L = g * P;
        const float *dy0 = n->out->grad + (size_t)i0 * O * P; /* (g,O,P) */
        const float *dyg = dy0;                               /* (O, g P) */
        if (g > 1) {
            for (int j = 0; j < g; j++)
                for (int o = 0; o < O; o++)
                    memcpy(s->yg + (size_t)o * L + (size_t)j * P, dy0 + ((size_t)j * O + o) * P, sizeof(float) * P);
            dyg = s->yg;
        }
        if (w->grad) {
            /* dW (O,K) += dyg (O, g P) · col^T (g P, K), the columns recomputed: the forward kept none */
            const float *col = chunk_columns(s, x, KH, KW, i0, g);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, K, L, 1.0f, dyg, L, col, L, 1.0f, w->grad, K);
        }
        if (x->grad) {
            float *dx0 = x->grad + (size_t)i0 * C * H * W; /* (g,C,H,W) */
            if (s->col) {
                /* dcol (K, g P) = W^T (K,O) · dyg (O, g P), in the column buffer
                 * (its columns were consumed by dW above). */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, L, O, 1.0f, w->data, K, dyg, L, 0.0f, s->col,
                            L);
                for (int j = 0; j < g; j++)
                    tern_kernel_col2im_add_ld_f32(s->col + (size_t)j * P, (size_t)L, C, H, W, KH, KW, s->stride,
                                                  s->pad, s->OH, s->OW, dx0 + (size_t)j * C * H * W);
            } else {
                /* col is x_n, so dcol is dx_n: accumulate in place (g = 1). */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, O, 1.0f, w->data, K, dyg, P, 1.0f, dx0,
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
