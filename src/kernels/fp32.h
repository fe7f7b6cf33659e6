/* fp32.h — the fp32 window and column helpers of fp32.c, one copy shared by
 * the training ops (src/ops), the runtime (src/runtime) and the packed
 * convs; and im2col on int8 and int16 images for the packed convs.
 * Internal to libtern. */
#ifndef TERN_KERNELS_FP32_H
#define TERN_KERNELS_FP32_H

#include <stddef.h>
#include <stdint.h>

/* y (planes, OH, OW) = max over each k×k window of x (planes, H, W), windows
 * at (o stride - pad), padding never wins; ties go to the first maximum in
 * row-major order and NaN propagates. argmax (planes, OH, OW), when not NULL,
 * gets the winner's index h W + w in its plane. */
void tern_kernel_maxpool2d_f32(const float *x, size_t planes, int H, int W, int k, int stride, int pad, int OH,
                               int OW, float *y, int32_t *argmax);

/* The 2x2 stride-2 pool without padding and without the argmax, as
 * tern_kernel_maxpool2d_f32 computes it, pairs of input rows (W floats
 * each, 2W apart) -> pairs output rows (OW floats): the scalar twin of
 * x86/fp32_avx512.c's. With H = 2 OH all planes are one tall plane, the
 * rows of a pair never crossing planes. */
void tern_kernel_maxpool2x2_f32_ref(const float *x, int W, size_t pairs, int OW, float *y);

/* y = sum over each k×k window / (k k), zero padding counted (PyTorch's
 * count_include_pad). Shapes as tern_kernel_maxpool2d_f32. */
void tern_kernel_avgpool2d_f32(const float *x, size_t planes, int H, int W, int k, int stride, int pad, int OH,
                               int OW, float *y);

/* col (C KH KW, OH OW) = the receptive fields of x (C,H,W): row (c,kh,kw),
 * column (oh,ow) holds x[c, oh stride - pad + kh, ow stride - pad + kw], 0 in
 * the padding. */
void tern_kernel_im2col_f32(const float *x, int C, int H, int W, int KH, int KW, int stride, int pad, int OH, int OW,
                            float *col);

/* The same with col's rows ld >= OH OW floats apart, so the columns of
 * several images can sit side by side in one (C KH KW, n OH OW) matrix: the
 * training conv's batched GEMMs. */
void tern_kernel_im2col_ld_f32(const float *x, int C, int H, int W, int KH, int KW, int stride, int pad, int OH,
                               int OW, float *col, size_t ld);

/* dx (C,H,W) += the adjoint of tern_kernel_im2col_ld_f32 applied to dcol
 * (rows ld apart): each entry flows back to the pixel it was read from. */
void tern_kernel_col2im_add_ld_f32(const float *dcol, size_t ld, int C, int H, int W, int KH, int KW, int stride,
                                   int pad, int OH, int OW, float *dx);

/* Its scalar twin, which fixes the order each pixel adds its entries in:
 * kernel row kh, then kernel column kw, ascending (the one entry of each
 * pair reading that pixel). The AVX-512 twin (x86/fp32_avx512.h, for
 * stride 1, no padding and W <= 16: LeNet-5's conv2) adds in that order. */
void tern_kernel_col2im_add_ld_f32_ref(const float *dcol, size_t ld, int C, int H, int W, int KH, int KW, int stride,
                                       int pad, int OH, int OW, float *dx);

/* tern_kernel_im2col_f32 on int8 (quantized) and int16 (widened) images,
 * for the packed convs (padding is 0, the value it stands for). */
void tern_kernel_im2col_i8(const int8_t *x, int C, int H, int W, int KH, int KW, int stride, int pad, int OH, int OW,
                           int8_t *col);
void tern_kernel_im2col_i16(const int16_t *x, int C, int H, int W, int KH, int KW, int stride, int pad, int OH,
                            int OW, int16_t *col);

#endif
