/* linear.c — fully connected layer y = x W^T + b on tern_sgemm.
 *
 * PyTorch layout: W is (O,I), one row per output feature, so the forward is
 * a GEMM with W transposed in place (no copy). The backward needs only x and
 * W, which the tape keeps as inputs, so the op saves no state of its own.
 * All three gradient products use beta = 1: sgemm adds straight into the
 * grads, which is the accumulation (+=) the tape asks for.
 *
 * Threads: each product is cut into up to GEMM_PARTS blocks of rows or
 * columns of its output (whichever is longer), one task each. The cut
 * depends on the shape only, and no element is summed across tasks, so the
 * result does not depend on the thread count.
 *
 * The in-feature count I is spelled `In` in code (I is <complex.h>'s
 * imaginary unit wherever cblas.h is included). */
#include "kernels/sgemm.h"
#include "ops_impl.h"
#include "tern/pool.h"

#define GEMM_PARTS 4
#define GEMM_PART_FLOPS (2.0 * 1024 * 1024) /* below this a block is not worth a task */

/* C (M,N) = op(A) (M,K) · op(B) (K,N) + beta C, row-major, cut into tasks. */
typedef struct {
    tern_ctx *c;
    int ta, tb, M, N, K, lda, ldb, ldc, parts, by_rows;
    const float *A, *B;
    float beta, *C;
} gemm_job;

static void gemm_part(void *arg, int task, int thread) {
    const gemm_job *j = arg;
    size_t lo, hi;
    tern_pool_range((size_t)(j->by_rows ? j->M : j->N), j->parts, task, &lo, &hi);
    if (lo == hi) return;
    const float *A = j->A, *B = j->B;
    float *C = j->C;
    int M = j->M, N = j->N;
    if (j->by_rows) { /* rows lo..hi of C: rows of op(A) */
        A += j->ta ? lo : lo * (size_t)j->lda;
        C += lo * (size_t)j->ldc;
        M = (int)(hi - lo);
    } else { /* columns lo..hi of C: columns of op(B) */
        B += j->tb ? lo * (size_t)j->ldb : lo;
        C += lo;
        N = (int)(hi - lo);
    }
    tern_sgemm(j->c->sgemm, tern_ctx_scratch(j->c, thread), j->ta, j->tb, M, N, j->K, A, j->lda, B, j->ldb, j->beta, C,
               j->ldc);
}

static void gemm(tern_ctx *c, int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc) {
    gemm_job j = {.c = c, .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .lda = lda, .ldb = ldb, .ldc = ldc,
                  .A = A, .B = B, .beta = beta, .C = C, .by_rows = M >= N};
    double parts = 2.0 * M * N * K / GEMM_PART_FLOPS;
    j.parts = parts >= GEMM_PARTS ? GEMM_PARTS : parts < 1.0 ? 1 : (int)parts;
    tern_pool_for(c->pool, j.parts, 0, gemm_part, &j);
}

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
    if (tern_ctx_reserve_scratch(c, TERN_SGEMM_SCRATCH_BYTES)) return NULL;
    int shape[2] = {x->shape[0], w->shape[0]}; /* (N,O) */
    tern_tensor *y = tern_ctx_tensor(c, 2, shape, tern_ctx_wants_grad(c, x, w, b, NULL));
    return tern_ctx_apply(c, &tern_op_linear, y, NULL, x, w, b, NULL);
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
    gemm(n->ctx, 0, 1, N, O, In, x->data, In, w->data, In, beta, y->data, O);
}

void tern_linear_backward(tern_node *n) {
    tern_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    const float *dy = n->out->grad; /* (N,O) */
    int N = x->shape[0], In = x->shape[1], O = w->shape[0];
    /* dx (N,I) += dy (N,O) · W (O,I) */
    if (x->grad)
        gemm(n->ctx, 0, 0, N, In, O, dy, O, w->data, In, 1.0f, x->grad, In);
    /* dW (O,I) += dy^T (O,N) · x (N,I) */
    if (w->grad)
        gemm(n->ctx, 1, 0, O, In, N, dy, O, x->data, In, 1.0f, w->grad, In);
    /* db (O) += sum over rows of dy */
    if (b && b->grad)
        for (int i = 0; i < N; i++)
            for (int o = 0; o < O; o++) b->grad[o] += dy[(size_t)i * O + o];
}

TERN_OP_DEFINE(linear);
