/* act.c — per-sample absmax fake-quantization of a ternary layer's input
 * (BitNet's 8-bit activations), with an identity STE. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "tern/kernels.h"
#include "tern/pool.h"
#include "quant_impl.h"
#include "tern/quant.h"

#define ACT_TASKS 16  /* row blocks of a batch; fixed, so results never depend on the threads */

typedef struct {
    float Q;                   /* 2^(bits-1) - 1: 127 */
    int bad_row;               /* first row with NaN or Inf, or -1 */
    int bad_task[ACT_TASKS];   /* each row block's first such row, or -1 */
} act_state;

tern_tensor *tern_quant_act(tern_ctx *c, tern_tensor *x, int bits) {
    if (!x || c->status) return NULL;
    if (bits == 0) return x;
    if (bits != 8) return tern_ctx_fail(c, TERN_ERR_ARG, "quant_act: bits = %d, must be 0 (off) or 8", bits);
    act_state *s = tern_ctx_alloc(c, sizeof *s);
    if (!s) return NULL;
    s->Q = (float)((1 << (bits - 1)) - 1);
    s->bad_row = -1;
    tern_tensor *y = tern_ctx_tensor(c, x->ndim, x->shape, tern_ctx_wants_grad(c, x, NULL, NULL, NULL));
    y = tern_ctx_apply(c, &tern_op_quant_act, y, s, x, NULL, NULL, NULL);
    if (y && s->bad_row >= 0) {
        char sx[TERN_SHAPE_STR_LEN];
        return tern_ctx_fail(c, TERN_ERR_NUMERIC, "quant_act: row %d of input %s holds NaN or Inf", s->bad_row,
                             SHAPE(x, sx));
    }
    return y;
}

/* round-half-even(v) for |v| < 2^22 under the default rounding mode: adding
 * 1.5 * 2^23 leaves no fraction bits, so the sum rounds v to an integer as
 * nearbyintf does, and the difference is exact. The same bits as
 * nearbyintf, without a libm call per element where the build has no
 * SSE4.1 round instruction, and the loop vectorizes. */
static inline float round_even_small(float v) {
    const float magic = 12582912.0f; /* 0x1.8p23 */
    return (v + magic) - magic;
}

static void act_forward_rows(void *arg, int task, int thread) {
    (void)thread;
    tern_node *n = arg;
    act_state *s = n->state;
    const tern_tensor *x = n->in[0];
    const int N = x->shape[0];
    const size_t D = x->n / (size_t)N;
    const float Q = s->Q;
    size_t lo, hi;
    tern_pool_range((size_t)N, ACT_TASKS, task, &lo, &hi);
    s->bad_task[task] = -1;
    for (size_t r = lo; r < hi; r++) {
        const float *xr = x->data + r * D;  /* (D) one sample */
        float *yr = n->out->data + r * D;
        float m = 0.0f;
        int bad = 0;
        for (size_t i = 0; i < D; i++) {
            float a = fabsf(xr[i]);
            bad |= !(a <= FLT_MAX);  /* NaN or Inf */
            m = a > m ? a : m;
        }
        /* A row below TERN_KQ_AMAX_MIN is 0, as in the int8 kernels: there
         * 127 / m is not finite. */
        if (bad || m < TERN_KQ_AMAX_MIN) {
            if (bad && s->bad_task[task] < 0) s->bad_task[task] = (int)r;
            memset(yr, 0, D * sizeof(float));
            continue;
        }
        /* q = round-half-even(x s), s = Q / m, so |q| <= Q; y = q m / Q, the
         * dequantization an int8 kernel applies to its accumulator. */
        const float sc = Q / m, inv = m / Q;
        for (size_t i = 0; i < D; i++) {
            float q = round_even_small(xr[i] * sc);
            q = q > Q ? Q : (q < -Q ? -Q : q);
            yr[i] = q * inv;
        }
    }
}

void tern_quant_act_forward(tern_node *n) {
    act_state *s = n->state;
    tern_pool_for(n->ctx->pool, ACT_TASKS, 0, act_forward_rows, n);
    s->bad_row = -1;
    for (int t = 0; t < ACT_TASKS && s->bad_row < 0; t++) s->bad_row = s->bad_task[t];
}

static void act_backward_part(void *arg, int task, int thread) {
    (void)thread;
    tern_node *n = arg;
    tern_tensor *x = n->in[0];
    const float *dy = n->out->grad;
    size_t lo, hi;
    tern_pool_range(x->n, ACT_TASKS, task, &lo, &hi);
    for (size_t i = lo; i < hi; i++) x->grad[i] += dy[i];
}

void tern_quant_act_backward(tern_node *n) {
    /* Identity STE: the rounding error is treated as a constant. */
    if (n->in[0]->grad) tern_pool_for(n->ctx->pool, ACT_TASKS, 0, act_backward_part, n);
}

TERN_OP_DEFINE(quant_act);
