/* epilogue.h — what a ternary (or fp32) layer applies to its sums before it
 * stores them, so the layers after it need no pass of their own: the bias,
 * an unfolded batchnorm (the deploy model's affine layer) and an activation.
 * The struct and its math live in the portable header (one copy, shared with
 * the C export); every kernel path that fuses it does the same operations in
 * the same order, so they agree bit for bit. Internal to libtern. */
#ifndef TERN_KERNELS_EPILOGUE_H
#define TERN_KERNELS_EPILOGUE_H

#include "portable/tern_portable.h"

/* The epilogue of one value of channel r (tern_pt_epi_apply). */
static inline float tern_epi_apply(const tern_epilogue *e, int r, float y) { return tern_pt_epi_apply(e, r, y); }

#endif
