/* fp32_avx512.h — the AVX-512 twin of fp32.c's 2x2 stride-2 maxpool rows
 * (tern_kernel_maxpool2x2_f32_ref in src/kernels/fp32.h, whose dispatch
 * calls it). Internal to libtern. */
#ifndef TERN_KERNELS_X86_FP32_AVX512_H
#define TERN_KERNELS_X86_FP32_AVX512_H

#include <stddef.h>

/* tern_kernel_maxpool2x2_f32_ref's y bit for bit, on AVX-512F. */
void tern_kernel_maxpool2x2_f32_avx512(const float *x, int W, size_t pairs, int OW, float *y);

#endif
