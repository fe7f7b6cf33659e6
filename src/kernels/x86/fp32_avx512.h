/* fp32_avx512.h — the AVX-512 twins of fp32.c's 2x2 stride-2 maxpool rows
 * (tern_kernel_maxpool2x2_f32_ref in src/kernels/fp32.h) and of its col2im
 * for small valid convs (tern_kernel_col2im_add_ld_f32_ref), which fp32.c's
 * dispatch calls. Internal to libtern. */
#ifndef TERN_KERNELS_X86_FP32_AVX512_H
#define TERN_KERNELS_X86_FP32_AVX512_H

#include <stddef.h>

/* tern_kernel_maxpool2x2_f32_ref's y bit for bit, on AVX-512F. */
void tern_kernel_maxpool2x2_f32_avx512(const float *x, int W, size_t pairs, int OW, float *y);

/* tern_kernel_col2im_add_ld_f32_ref's dx bit for bit, for stride 1, pad 0
 * and W = OW + KW - 1 <= 16. */
void tern_kernel_col2im_add_valid16_f32_avx512(const float *dcol, size_t ld, int C, int H, int W, int KH, int KW,
                                               int OH, int OW, float *dx);

#endif
