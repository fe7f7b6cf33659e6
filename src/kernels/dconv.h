/* dconv.h — direct fp32 convolution for few input channels: the first conv
 * of a CNN on images with 1 or 3 channels, which hybrid models keep in
 * fp32. With cin <= 4 an im2col GEMM has K = cin k k of only 9..100 and
 * spends its time staging columns; the direct loop reads the image in
 * place. Internal to libtern; the runtime uses it for fp32 convs with
 * cin <= TERN_DCONV_MAX_CIN (any cin works, but larger ones are faster
 * through a GEMM).
 *
 * Math, per image, output channel r and position (oh, ow):
 *     acc = 0;  for c, kh, kw in that order, over the taps inside the image
 *               (padding taps are skipped, not added as zeros):
 *                   acc = fmaf(w[r, c, kh, kw], x[c, oh s - p + kh, ow s - p + kw], acc)
 *     y = tern_epi_apply(e, r, acc + bias[r])
 * fmaf is one rounding on every path, so the SIMD twins, which keep this
 * order per output (lanes are output positions), agree with the scalar
 * twin bit for bit. No scratch, no allocation; calls with their own y may
 * run at once on any threads. */
#ifndef TERN_KERNELS_DCONV_H
#define TERN_KERNELS_DCONV_H

#include "kernels/epilogue.h"
#include "tern/kernels.h"

#define TERN_DCONV_MAX_CIN 4

/* y (n, M, OH, OW) = the conv above of x (n, g->cin, g->h, g->w) with w
 * (M, cin, kh, kw), bias (M), epilogue e (NULL: none), on `path` (resolved,
 * not AUTO: the AVX-512 twin there, the scalar twin on every other path);
 * OH = (h + 2 pad - kh) / stride + 1, likewise OW. */
void tern_dconv_f32(tern_kernel path, const tern_conv2d_geom *g, int M, const float *w, const float *bias,
                    const tern_epilogue *e, const float *x, int n, float *y);

/* The scalar twin: the reference the SIMD ones match bit for bit. */
void tern_dconv_f32_ref(const tern_conv2d_geom *g, int M, const float *w, const float *bias, const tern_epilogue *e,
                        const float *x, int n, float *y);

#endif
