/* dconv_avx512.h — the AVX-512 twin of the direct fp32 conv
 * (src/kernels/dconv.h, whose dispatch calls it). Internal to libtern. */
#ifndef TERN_KERNELS_X86_DCONV_AVX512_H
#define TERN_KERNELS_X86_DCONV_AVX512_H

#include "kernels/epilogue.h"
#include "tern/kernels.h"

/* tern_dconv_f32_ref's y bit for bit, on AVX-512F; e not NULL. */
void tern_dconv_f32_avx512(const tern_conv2d_geom *g, int M, const float *w, const float *bias,
                           const tern_epilogue *e, const float *x, int n, float *y);

#endif
