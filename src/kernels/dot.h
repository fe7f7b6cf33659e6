/* dot.h — the fp32 linear layer of the runtime: y = x W^T + bias, one
 * fixed order of summation per output whatever the batch, so a sample gets
 * the same bits alone, in a batch, or in any thread's part of one.
 * Internal to libtern. */
#ifndef TERN_KERNELS_DOT_H
#define TERN_KERNELS_DOT_H

#include "kernels/epilogue.h"

/* y (n, M) = epi(x (n, K) W (M, K)^T + bias (M)). Per output: 16 partial
 * sums, lane l taking x[k] w[k] for k = l mod 16 over the full 16-wide
 * chunks in order (a product, then a sum: two roundings), the K mod 16 last
 * ones into lanes 0, 1, ..., then the lanes summed as a fixed tree (lane l
 * += lane l + h for h = 8, 4, 2, 1), then + bias[r], then the epilogue (e
 * may be NULL). Tiles of 4 samples x 4 rows share their loads; the order
 * above does not depend on the tile, n or the target's vector width. */
void tern_kernel_linear_f32(const float *x, int n, const float *W, const float *bias, int M, int K,
                            const tern_epilogue *e, float *y);

#endif
