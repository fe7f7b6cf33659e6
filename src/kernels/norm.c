/* norm.c — batchnorm's per-channel loops (norm.h): the scalar twins, which
 * define the bits, and the dispatch to the AVX-512 twins on the CPU (the
 * check is libgcc's cached CPU model, a few loads per call). */
#include "kernels/norm.h"

#include "core/lanes.h"
#include "tern/kernels.h"
#if defined(__x86_64__)
#include "kernels/x86/norm_avx512.h"
#define HAVE_AVX512() tern_kernel_available(TERN_KERNEL_AVX512)
#else
#define HAVE_AVX512() 0
#endif

double tern_kernel_bn_sum_f32_ref(const float *x, size_t stride, size_t n, size_t hw, double shift, int power) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *xp = x + i * stride; /* (hw) */
        double a[TERN_LANES] = {0};
        size_t j = 0;
        if (power == 1) {
            for (; j + TERN_LANES <= hw; j += TERN_LANES)
                for (int l = 0; l < TERN_LANES; l++) a[l] += (double)xp[j + l];
            for (int l = 0; j < hw; j++, l++) a[l] += (double)xp[j];
        } else {
            for (; j + TERN_LANES <= hw; j += TERN_LANES)
                for (int l = 0; l < TERN_LANES; l++) {
                    double d = (double)xp[j + l] - shift;
                    a[l] += d * d;
                }
            for (int l = 0; j < hw; j++, l++) {
                double d = (double)xp[j] - shift;
                a[l] += d * d;
            }
        }
        sum += tern_lanes_sum(a);
    }
    return sum;
}

double tern_kernel_bn_sum_f32(const float *x, size_t stride, size_t n, size_t hw, double shift, int power) {
#if defined(__x86_64__)
    if (HAVE_AVX512()) return tern_kernel_bn_sum_f32_avx512(x, stride, n, hw, shift, power);
#endif
    return tern_kernel_bn_sum_f32_ref(x, stride, n, hw, shift, power);
}

void tern_kernel_bn_grad_sums_f32_ref(const float *x, const float *g, size_t stride, size_t n, size_t hw, float mean,
                                      float invstd, double *sg, double *sgx) {
    double s = 0.0, sx = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *xp = x + i * stride, *gp = g + i * stride; /* (hw) */
        double a[TERN_LANES] = {0}, b[TERN_LANES] = {0};
        size_t j = 0;
        for (; j + TERN_LANES <= hw; j += TERN_LANES)
            for (int l = 0; l < TERN_LANES; l++) {
                a[l] += gp[j + l];
                b[l] += (double)gp[j + l] * (double)((xp[j + l] - mean) * invstd);
            }
        for (int l = 0; j < hw; j++, l++) {
            a[l] += gp[j];
            b[l] += (double)gp[j] * (double)((xp[j] - mean) * invstd);
        }
        s += tern_lanes_sum(a);
        sx += tern_lanes_sum(b);
    }
    *sg = s;
    *sgx = sx;
}

void tern_kernel_bn_grad_sums_f32(const float *x, const float *g, size_t stride, size_t n, size_t hw, float mean,
                                  float invstd, double *sg, double *sgx) {
#if defined(__x86_64__)
    if (HAVE_AVX512()) {
        tern_kernel_bn_grad_sums_f32_avx512(x, g, stride, n, hw, mean, invstd, sg, sgx);
        return;
    }
#endif
    tern_kernel_bn_grad_sums_f32_ref(x, g, stride, n, hw, mean, invstd, sg, sgx);
}

void tern_kernel_bn_norm_f32_ref(const float *x, size_t len, float mean, float scale, float beta, int relu, float *y) {
    if (relu) /* clipped as it is written: no second pass */
        for (size_t j = 0; j < len; j++) {
            float v = (x[j] - mean) * scale + beta;
            y[j] = v < 0.0f ? 0.0f : v;
        }
    else
        for (size_t j = 0; j < len; j++) y[j] = (x[j] - mean) * scale + beta;
}

void tern_kernel_bn_norm_f32(const float *x, size_t len, float mean, float scale, float beta, int relu, float *y) {
#if defined(__x86_64__)
    if (HAVE_AVX512()) {
        tern_kernel_bn_norm_f32_avx512(x, len, mean, scale, beta, relu, y);
        return;
    }
#endif
    tern_kernel_bn_norm_f32_ref(x, len, mean, scale, beta, relu, y);
}

void tern_kernel_bn_dx_f32_ref(const float *x, const float *g, size_t len, float k, float mean, float invstd,
                               float mg, float mgx, float *dx) {
    for (size_t j = 0; j < len; j++) dx[j] += k * (g[j] - mg - (x[j] - mean) * invstd * mgx);
}

void tern_kernel_bn_dx_f32(const float *x, const float *g, size_t len, float k, float mean, float invstd, float mg,
                           float mgx, float *dx) {
#if defined(__x86_64__)
    if (HAVE_AVX512()) {
        tern_kernel_bn_dx_f32_avx512(x, g, len, k, mean, invstd, mg, mgx, dx);
        return;
    }
#endif
    tern_kernel_bn_dx_f32_ref(x, g, len, k, mean, invstd, mg, mgx, dx);
}

void tern_kernel_relu_mask_f32_ref(const float *y, float *dy, size_t len) {
    for (size_t j = 0; j < len; j++) dy[j] = y[j] > 0.0f ? dy[j] : 0.0f;
}

void tern_kernel_relu_mask_f32(const float *y, float *dy, size_t len) {
#if defined(__x86_64__)
    if (HAVE_AVX512()) {
        tern_kernel_relu_mask_f32_avx512(y, dy, len);
        return;
    }
#endif
    tern_kernel_relu_mask_f32_ref(y, dy, len);
}
