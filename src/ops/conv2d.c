/* conv2d.c — 2-D cross-correlation as im2col + GEMM (tern_sgemm), a chunk of samples at a time.
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
 * CIFAR VGG layer), so they are never kept. Each thread owns one colG buffer
 * and one (O, G P) buffer from the arena, bounded whatever the batch; the
 * forward fills them per chunk, and the backward reuses them, recomputing
 * the columns for dW and then overwriting them with dcol for dx. A 1x1
 * kernel with stride 1 and no padding needs no columns at all: col is x_n
 * itself, seen as (C, H W), one sample a chunk.
 *
 * Threads (tern/pool.h): chunks are the tasks of the forward. In the
 * backward, chunk j belongs to slot j mod S, S = min(CONV2D_SLOTS, chunks,
 * what keeps S·O·K floats within CONV2D_DWP_FLOATS), or S = chunks when
 * there is no dW to sum; each slot is a task
 * that sums its chunks' dW into its own (O,K) partial, and the partials are
 * then added to dW in slot order. S and the chunks depend on shapes only,
 * so the sums, and every bit of dW, do not depend on the thread count.
 *
 * Backward per chunk (accumulating, beta = 1 where the target is a grad):
 *   dyG (O, G P) gathered from dy (G,O,P)
 *   dW (O,K) += dyG (O, G P) · colG^T (G P, K)
 *   dcolG (K, G P) = W^T (K,O) · dyG (O, G P), then col2im adds each
 *   sample's columns into dx_n
 *   db (O)   += sum over n, oh, ow of dy */
#include <limits.h>
#include <string.h>

#include "kernels/fp32.h"
#include "kernels/sgemm.h"
#include "ops_impl.h"
#include "tern/pool.h"

/* Floats of one chunk's columns at most (1 MB: the columns are written and
 * then read by the GEMM, so they should stay in a core's L2; LeNet-5's step
 * ran 5% faster than with 16 MB), samples a chunk at most, and dW partial
 * sums (slots) at most. */
#define CONV2D_COL_FLOATS ((size_t)256 << 10)
#define CONV2D_CHUNK 16
#define CONV2D_SLOTS 8
/* Floats of all dW partials at most (16 MB): a wide layer gets fewer slots. */
#define CONV2D_DWP_FLOATS ((size_t)4 << 20)

typedef struct {
    int stride, pad;
    int OH, OW;
    int G;         /* samples per chunk */
    int threads;   /* scratch sets below: one per thread */
    int slots;     /* dW partial sums of the backward (S) */
    size_t col_n;  /* floats of one col buffer, 0 without columns */
    size_t yg_n;   /* floats of one yg buffer, 0 when G = 1 */
    float *col;    /* threads x (K, G P) columns; NULL when col is x_n itself (1x1, stride 1, pad 0; G = 1) */
    float *yg;     /* threads x (O, G P) a chunk's outputs or output grads; NULL when G = 1 */
    float *dwp;    /* slots x (O,K) dW partials; NULL when slots = 1 (dW accumulates in place) */
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
    long long OH = tern_conv_out_size(H, KH, stride, pad), OW = tern_conv_out_size(W, KW, stride, pad);
    long long K = (long long)C * KH * KW;
    /* sgemm takes int dimensions. */
    if (OH * OW > INT_MAX || K > INT_MAX)
        return tern_ctx_fail(c, TERN_ERR_SHAPE,
                             "conv2d: input %s, weight %s, pad %d give a %lldx%lld output; too large for sgemm",
                             SHAPE(x, sx), SHAPE(w, sw), pad, OH, OW);

    if (tern_ctx_reserve_scratch(c, TERN_SGEMM_SCRATCH_BYTES)) return NULL;
    conv2d_state *s = tern_ctx_alloc(c, sizeof *s);
    if (!s) return NULL;
    *s = (conv2d_state){.stride = stride, .pad = pad, .OH = (int)OH, .OW = (int)OW, .G = 1,
                        .threads = tern_pool_threads(c->pool), .slots = 1};
    if (!(KH == 1 && KW == 1 && stride == 1 && pad == 0)) {
        size_t kp = (size_t)K * (size_t)(OH * OW), g = CONV2D_COL_FLOATS / kp;
        if (g > CONV2D_CHUNK) g = CONV2D_CHUNK;
        if (g > (size_t)N) g = (size_t)N;
        if ((size_t)(OH * OW) * g > INT_MAX) g = 1;
        s->G = g < 1 ? 1 : (int)g;
        s->col_n = kp * (size_t)s->G;
        if (s->G > 1) s->yg_n = (size_t)O * (size_t)(OH * OW) * (size_t)s->G;
        if (!(s->col = tern_ctx_alloc(c, s->col_n * (size_t)s->threads * sizeof(float)))) return NULL;
        if (s->yg_n && !(s->yg = tern_ctx_alloc(c, s->yg_n * (size_t)s->threads * sizeof(float)))) return NULL;
    }
    /* Without dW nothing is summed across chunks: each chunk is a slot. */
    size_t chunks = ((size_t)N + (size_t)s->G - 1) / (size_t)s->G;
    s->slots = (int)chunks;
    if (c->grad && w->grad) {
        size_t ok = (size_t)O * (size_t)K, slots = CONV2D_DWP_FLOATS / ok;
        if (slots > CONV2D_SLOTS) slots = CONV2D_SLOTS;
        if (slots > chunks) slots = chunks;
        s->slots = slots < 1 ? 1 : (int)slots;
        if (s->slots > 1 && !(s->dwp = tern_ctx_alloc(c, ok * (size_t)s->slots * sizeof(float)))) return NULL;
    }
    int shape[4] = {N, O, (int)OH, (int)OW};
    tern_tensor *y = tern_ctx_tensor(c, 4, shape, tern_ctx_wants_grad(c, x, w, b, NULL));
    return tern_ctx_apply(c, &tern_op_conv2d, y, s, x, w, b, NULL);
}

/* The columns of samples i0 .. i0+g-1 of x into col (K, g P); returns the
 * column matrix (x_i0 itself for a 1x1 conv without columns). */
static const float *chunk_columns(const conv2d_state *s, float *col, const tern_tensor *x, int KH, int KW, int i0,
                                  int g) {
    int C = x->shape[1], H = x->shape[2], W = x->shape[3], P = s->OH * s->OW;
    const float *x0 = x->data + (size_t)i0 * C * H * W; /* (g,C,H,W) */
    if (!col) return x0;
    for (int j = 0; j < g; j++)
        tern_kernel_im2col_ld_f32(x0 + (size_t)j * C * H * W, C, H, W, KH, KW, s->stride, s->pad, s->OH, s->OW,
                                  col + (size_t)j * P, (size_t)g * P);
    return col;
}

/* One task's view of the op: the node, and its thread's scratch. */
static float *thread_col(const conv2d_state *s, int thread) {
    return s->col ? s->col + (size_t)thread * s->col_n : NULL;
}
static float *thread_yg(const conv2d_state *s, int thread) { return s->yg ? s->yg + (size_t)thread * s->yg_n : NULL; }

/* Forward of chunk `task`: samples task G .. task G + g - 1. */
static void forward_chunk(void *arg, int task, int thread) {
    tern_node *n = arg;
    const conv2d_state *s = n->state;
    const tern_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    int N = x->shape[0], O = w->shape[0], KH = w->shape[2], KW = w->shape[3];
    int K = x->shape[1] * KH * KW, P = s->OH * s->OW;
    int i0 = task * s->G, g = N - i0 < s->G ? N - i0 : s->G, L = g * P;
    const tern_sgemm_path gp = n->ctx->sgemm;
    float *gs = tern_ctx_scratch(n->ctx, thread); /* the GEMM's packing scratch */
    const float *col = chunk_columns(s, thread_col(s, thread), x, KH, KW, i0, g); /* (K, g P) */
    float *y0 = n->out->data + (size_t)i0 * O * P;                                /* (g,O,P) */
    if (g == 1) {
        /* y_i0 (O,P) = W (O,K) · col (K,P) [+ b], in place */
        float beta = 0.0f;
        if (b) {
            for (int o = 0; o < O; o++)
                for (int p = 0; p < P; p++) y0[(size_t)o * P + p] = b->data[o];
            beta = 1.0f;
        }
        tern_sgemm(gp, gs, 0, 0, O, P, K, w->data, K, col, P, beta, y0, P);
        return;
    }
    /* yg (O, g P) = W (O,K) · col (K, g P), then y (g,O,P) = yg + b */
    float *yg = thread_yg(s, thread);
    tern_sgemm(gp, gs, 0, 0, O, L, K, w->data, K, col, L, 0.0f, yg, L);
    for (int j = 0; j < g; j++)
        for (int o = 0; o < O; o++) {
            const float *src = yg + (size_t)o * L + (size_t)j * P;
            float *dst = y0 + ((size_t)j * O + o) * P, bo = b ? b->data[o] : 0.0f;
            for (int p = 0; p < P; p++) dst[p] = src[p] + bo;
        }
}

void tern_conv2d_forward(tern_node *n) {
    const conv2d_state *s = n->state;
    int N = n->in[0]->shape[0];
    tern_pool_for(n->ctx->pool, (N + s->G - 1) / s->G, s->threads, forward_chunk, n);
}

/* Backward of slot `task`: its chunks task, task + S, ... in order. dW goes
 * to the slot's partial (or, with one slot, straight into dW), dx to the
 * chunk's samples, which no other task touches. */
static void backward_slot(void *arg, int task, int thread) {
    tern_node *n = arg;
    const conv2d_state *s = n->state;
    tern_tensor *x = n->in[0], *w = n->in[1];
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int O = w->shape[0], KH = w->shape[2], KW = w->shape[3];
    int K = C * KH * KW, P = s->OH * s->OW;
    int chunks = (N + s->G - 1) / s->G;
    float *dw = s->dwp ? s->dwp + (size_t)task * O * K : w->grad; /* (O,K) */
    float *col_buf = thread_col(s, thread), *yg = thread_yg(s, thread);
    const tern_sgemm_path gp = n->ctx->sgemm;
    float *gs = tern_ctx_scratch(n->ctx, thread); /* the GEMM's packing scratch */
    for (int ch = task; ch < chunks; ch += s->slots) {
        int i0 = ch * s->G, g = N - i0 < s->G ? N - i0 : s->G, L = g * P;
        const float *dy0 = n->out->grad + (size_t)i0 * O * P; /* (g,O,P) */
        const float *dyg = dy0;                               /* (O, g P) */
        if (g > 1) {
            for (int j = 0; j < g; j++)
                for (int o = 0; o < O; o++)
                    memcpy(yg + (size_t)o * L + (size_t)j * P, dy0 + ((size_t)j * O + o) * P, sizeof(float) * P);
            dyg = yg;
        }
        if (w->grad) {
            /* dW (O,K) += dyg (O, g P) · col^T (g P, K), the columns recomputed:
             * the forward kept none. A partial starts at its slot's first chunk. */
            const float *col = chunk_columns(s, col_buf, x, KH, KW, i0, g);
            float beta = s->dwp && ch == task ? 0.0f : 1.0f;
            tern_sgemm(gp, gs, 0, 1, O, K, L, dyg, L, col, L, beta, dw, K);
        }
        if (x->grad) {
            float *dx0 = x->grad + (size_t)i0 * C * H * W; /* (g,C,H,W) */
            if (col_buf) {
                /* dcol (K, g P) = W^T (K,O) · dyg (O, g P), in the column buffer
                 * (its columns were consumed by dW above). */
                tern_sgemm(gp, gs, 1, 0, K, L, O, w->data, K, dyg, L, 0.0f, col_buf, L);
                for (int j = 0; j < g; j++)
                    tern_kernel_col2im_add_ld_f32(col_buf + (size_t)j * P, (size_t)L, C, H, W, KH, KW, s->stride,
                                                  s->pad, s->OH, s->OW, dx0 + (size_t)j * C * H * W);
            } else {
                /* col is x_n, so dcol is dx_n: accumulate in place (g = 1). */
                tern_sgemm(gp, gs, 1, 0, K, P, O, w->data, K, dyg, P, 1.0f, dx0, P);
            }
        }
    }
}

/* dW += the slots' partials, in slot order; task t owns a range of dW. */
#define REDUCE_TASKS 8
static void reduce_dw(void *arg, int task, int thread) {
    (void)thread;
    tern_node *n = arg;
    const conv2d_state *s = n->state;
    const tern_tensor *w = n->in[1];
    size_t lo, hi, ok = w->n;
    tern_pool_range(ok, REDUCE_TASKS, task, &lo, &hi);
    for (int sl = 0; sl < s->slots; sl++) {
        const float *p = s->dwp + (size_t)sl * ok;
        for (size_t i = lo; i < hi; i++) w->grad[i] += p[i];
    }
}

void tern_conv2d_backward(tern_node *n) {
    const conv2d_state *s = n->state;
    tern_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    int N = x->shape[0], O = w->shape[0], P = s->OH * s->OW;
    if (w->grad || x->grad) tern_pool_for(n->ctx->pool, s->slots, s->threads, backward_slot, n);
    if (w->grad && s->dwp) tern_pool_for(n->ctx->pool, REDUCE_TASKS, s->threads, reduce_dw, n);
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

TERN_OP_DEFINE(conv2d);
