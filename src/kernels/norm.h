/* norm.h — the per-channel loops of training's batchnorm over (N,C,H,W)
 * (src/ops/batchnorm.c), each with its scalar twin and an AVX-512 twin
 * (x86/norm_avx512.c) that gives the same bits; the plain names choose the
 * twin on the CPU. Internal to libtern.
 *
 * A channel is n planes of hw floats, plane i at x + i stride. Sums add
 * each plane in TERN_LANES fixed double lanes (src/core/lanes.h: element j
 * into lane j mod 4, in order, the lanes by their fixed tree), then the
 * planes' sums in plane order, starting from 0. The maps round every float
 * operation as written (no fused multiply-add). */
#ifndef TERN_KERNELS_NORM_H
#define TERN_KERNELS_NORM_H

#include <stddef.h>

/* power 1: sum x; power 2: sum (x - shift)^2, in double. */
double tern_kernel_bn_sum_f32(const float *x, size_t stride, size_t n, size_t hw, double shift, int power);
double tern_kernel_bn_sum_f32_ref(const float *x, size_t stride, size_t n, size_t hw, double shift, int power);

/* *sg = sum g, *sgx = sum g xhat, xhat = (x - mean) invstd in float, the
 * product in double; g's planes at g + i stride as x's. */
void tern_kernel_bn_grad_sums_f32(const float *x, const float *g, size_t stride, size_t n, size_t hw, float mean,
                                  float invstd, double *sg, double *sgx);
void tern_kernel_bn_grad_sums_f32_ref(const float *x, const float *g, size_t stride, size_t n, size_t hw, float mean,
                                      float invstd, double *sg, double *sgx);

/* y[j] = (x[j] - mean) scale + beta, j < len; relu: a negative value
 * becomes +0 (NaN and -0 pass, as tern_relu). */
void tern_kernel_bn_norm_f32(const float *x, size_t len, float mean, float scale, float beta, int relu, float *y);
void tern_kernel_bn_norm_f32_ref(const float *x, size_t len, float mean, float scale, float beta, int relu, float *y);

/* dx[j] += k (g[j] - mg - (x[j] - mean) invstd mgx), j < len: the
 * training backward of dx with mg = mean g, mgx = mean g xhat. */
void tern_kernel_bn_dx_f32(const float *x, const float *g, size_t len, float k, float mean, float invstd, float mg,
                           float mgx, float *dx);
void tern_kernel_bn_dx_f32_ref(const float *x, const float *g, size_t len, float k, float mean, float invstd,
                               float mg, float mgx, float *dx);

/* dy[j] = y[j] > 0 ? dy[j] : 0, j < len: relu's backward from its output. */
void tern_kernel_relu_mask_f32(const float *y, float *dy, size_t len);
void tern_kernel_relu_mask_f32_ref(const float *y, float *dy, size_t len);

#endif
