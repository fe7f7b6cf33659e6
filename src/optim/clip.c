/* clip.c — gradient clipping by global norm (torch.nn.utils.clip_grad_norm_). */
#include "tern/optim.h"

#include <math.h>

/* sum g[i]^2 in double with 8 independent partial sums: one serial chain of
 * dependent double adds would bound the loop by add latency, and the lanes
 * map onto SIMD registers. */
static double sum_squares(const float *restrict g, size_t n) {
    double acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += (double)g[i + j] * (double)g[i + j];
    for (; i < n; i++) acc[0] += (double)g[i] * (double)g[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

tern_status tern_clip_grad_norm(tern_params *p, float max_norm, float *norm_out) {
    if (!p || !p->grad || !norm_out)
        return tern_error(TERN_ERR_ARG, "clip_grad_norm: parameters are NULL or not allocated, or no norm output");
    if (!(max_norm > 0.0f)) return tern_error(TERN_ERR_ARG, "clip_grad_norm: max_norm = %g must be > 0", max_norm);
    /* sum g^2 over TRAIN params only, in double: a float sum over millions
     * of squares loses digits the clip coefficient depends on. */
    double ss = 0.0;
    for (int k = 0; k < p->count; k++) {
        const tern_param *q = &p->items[k];
        if (!(q->flags & TERN_PARAM_TRAIN)) continue;
        ss += sum_squares(p->grad + q->offset, q->t.n);
    }
    double norm = sqrt(ss);
    *norm_out = (float)norm;
    if (!isfinite(norm)) return tern_error(TERN_ERR_NUMERIC, "clip_grad_norm: gradient norm is %g", norm);
    /* torch: c = max_norm / (norm + 1e-6), clamped to 1; grads *= c. A
     * coefficient of 1 changes nothing, so only c < 1 touches the grads. */
    double c = (double)max_norm / (norm + 1e-6);
    if (c < 1.0) {
        float cf = (float)c;
        for (int k = 0; k < p->count; k++) {
            const tern_param *q = &p->items[k];
            if (!(q->flags & TERN_PARAM_TRAIN)) continue;
            float *g = p->grad + q->offset;
            for (size_t i = 0; i < q->t.n; i++) g[i] *= cf;
        }
    }
    return TERN_OK;
}
