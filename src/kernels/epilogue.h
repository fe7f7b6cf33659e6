/* epilogue.h — what a ternary (or fp32) layer applies to its sums before it
 * stores them, so the layers after it need no pass of their own: the bias,
 * an unfolded batchnorm (the deploy model's affine layer) and an activation.
 * One copy of that math, shared by the runtime's plain loops and by every
 * kernel path that fuses it (their SIMD twins do the same operations in the
 * same order, so they agree bit for bit). Internal to libtern. */
#ifndef TERN_KERNELS_EPILOGUE_H
#define TERN_KERNELS_EPILOGUE_H

#include <stddef.h>

typedef enum tern_epi_act {
    TERN_EPI_NONE = 0,
    TERN_EPI_RELU,       /* x < 0 ? 0 : x */
    TERN_EPI_HARDTANH,   /* clamp to [-1, 1] */
} tern_epi_act;

/* After the layer's own y (which already holds its bias), per output
 * channel r:
 *     y = (y - center[r]) * scale[r] + shift[r]     when center != NULL
 *     y = act(y)
 * (x - mean) * (gamma invstd) + beta is training's batchnorm in eval, in
 * its order and with its two roundings (the build compiles with
 * -ffp-contract=off, so no compiler fuses it). */
typedef struct tern_epilogue {
    const float *center, *scale, *shift;   /* (M) each, or all NULL */
    tern_epi_act act;
} tern_epilogue;

/* The epilogue of one value of channel r. */
static inline float tern_epi_apply(const tern_epilogue *e, int r, float y) {
    if (e->center) y = (y - e->center[r]) * e->scale[r] + e->shift[r];
    if (e->act == TERN_EPI_RELU) y = y < 0.0f ? 0.0f : y;
    else if (e->act == TERN_EPI_HARDTANH) y = y < -1.0f ? -1.0f : (y > 1.0f ? 1.0f : y);
    return y;
}

#endif
