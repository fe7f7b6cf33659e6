/* act.c — per-sample absmax fake-quantization of a ternary layer's input
 * (BitNet's 8-bit activations), with an identity STE. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "tern/kernels.h"
#include "quant_impl.h"
#include "tern/quant.h"

typedef struct {
    float Q;      /* 2^(bits-1) - 1: 127 */
    int bad_row;  /* first row with NaN or Inf, or -1 */
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

void tern_quant_act_forward(tern_node *n) {
    act_state *s = n->state;
    const tern_tensor *x = n->in[0];
    const int N = x->shape[0];
    const size_t D = x->n / (size_t)N;
    const float Q = s->Q;
    s->bad_row = -1;
    for (int r = 0; r < N; r++) {
        const float *xr = x->data + (size_t)r * D;  /* (D) one sample */
        float *yr = n->out->data + (size_t)r * D;
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
            if (bad && s->bad_row < 0) s->bad_row = r;
            memset(yr, 0, D * sizeof(float));
            continue;
        }
        /* q = round-half-even(x s), s = Q / m, so |q| <= Q; y = q m / Q, the
         * dequantization an int8 kernel applies to its accumulator. */
        const float sc = Q / m, inv = m / Q;
        for (size_t i = 0; i < D; i++) {
            float q = nearbyintf(xr[i] * sc);
            q = q > Q ? Q : (q < -Q ? -Q : q);
            yr[i] = q * inv;
        }
    }
}

void tern_quant_act_backward(tern_node *n) {
    tern_tensor *x = n->in[0];
    if (!x->grad) return;
    /* Identity STE: the rounding error is treated as a constant. */
    const float *dy = n->out->grad;
    for (size_t i = 0; i < x->n; i++) x->grad[i] += dy[i];
}

TERN_OP_DEFINE(quant_act);
