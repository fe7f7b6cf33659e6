/* norm_avx512.h — the AVX-512 twins of norm.h's batchnorm loops, bit for
 * bit the scalar twins (src/kernels/norm.c, whose dispatch calls them).
 * Internal to libtern. */
#ifndef TERN_KERNELS_X86_NORM_AVX512_H
#define TERN_KERNELS_X86_NORM_AVX512_H

#include <stddef.h>

double tern_kernel_bn_sum_f32_avx512(const float *x, size_t stride, size_t n, size_t hw, double shift, int power);
void tern_kernel_bn_grad_sums_f32_avx512(const float *x, const float *g, size_t stride, size_t n, size_t hw,
                                         float mean, float invstd, double *sg, double *sgx);
void tern_kernel_bn_norm_f32_avx512(const float *x, size_t len, float mean, float scale, float beta, int relu,
                                    float *y);
void tern_kernel_bn_dx_f32_avx512(const float *x, const float *g, size_t len, float k, float mean, float invstd,
                                  float mg, float mgx, float *dx);
void tern_kernel_relu_mask_f32_avx512(const float *y, float *dy, size_t len);

#endif
