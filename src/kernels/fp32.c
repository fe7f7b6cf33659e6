/* fp32.c — fp32 window and column helpers, one copy shared by the training
 * ops (src/ops) and the runtime (src/runtime): pooling forwards and the
 * (K,P) im2col with its adjoint. Plain C loops the compiler vectorises; the
 * one SIMD twin is the 2x2 stride-2 maxpool's (x86/fp32_avx512.c), chosen
 * here on the CPU, bit for bit the same. */
#include <math.h>
#include <string.h>

#include "fp32.h"
#include "portable/tern_portable.h"
#include "tern/kernels.h"
#if defined(__x86_64__)
#include "kernels/x86/fp32_avx512.h"
#endif

/* The part [lo, hi) of a window that lies inside [0, size) (tern_pt_clip). */
static inline void clip(int start, int k, int size, int *lo, int *hi) { tern_pt_clip(start, k, size, lo, hi); }

/* One output of maxpool and its index: tern_pt_window_max (first maximum
 * wins ties, the first NaN wins over numbers, as in PyTorch). */
static inline float window_max(const float *xp, int W, int h0, int h1, int w0, int w1, int32_t *best_out) {
    return tern_pt_window_max(xp, W, h0, h1, w0, w1, best_out);
}

/* A plane without padding: no window is clipped, so the bounds are plain
 * multiples of the stride. Inlined with constant k and stride for the 2x2
 * stride-2 pool of most CNNs, where the compiler unrolls the window. */
static inline void maxpool_plane_unpadded(const float *xp, int W, int k, int stride, int OH, int OW, float *yp,
                                          int32_t *ap) {
    for (int oh = 0; oh < OH; oh++)
        for (int ow = 0; ow < OW; ow++) {
            int32_t best;
            yp[oh * OW + ow] = window_max(xp, W, oh * stride, oh * stride + k, ow * stride, ow * stride + k, &best);
            if (ap) ap[oh * OW + ow] = best;
        }
}

/* The 2x2 stride-2 pool without padding, the one of most CNNs, with the
 * argmax: window_max's scan (a b / c d; first strict max, first NaN wins)
 * written as selects over whole rows, so the compiler vectorises it. */
static void maxpool_plane_2x2(const float *xp, int W, int OH, int OW, float *yp, int32_t *ap) {
    for (int oh = 0; oh < OH; oh++) {
        const float *r0 = xp + (size_t)(2 * oh) * W, *r1 = r0 + W;
        float *yr = yp + (size_t)oh * OW;
        int32_t *ar = ap + (size_t)oh * OW, base = 2 * oh * W;
#pragma omp simd
        for (int ow = 0; ow < OW; ow++) {
            float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
            float m = a;
            int32_t at = 0;
            at = b > m ? 1 : at, m = b > m ? b : m;
            at = c > m ? W : at, m = c > m ? c : m;
            at = d > m ? W + 1 : at, m = d > m ? d : m;
            /* a NaN anywhere: the first one, as the scan keeps it */
            at = d != d ? W + 1 : at, m = d != d ? d : m;
            at = c != c ? W : at, m = c != c ? c : m;
            at = b != b ? 1 : at, m = b != b ? b : m;
            at = a != a ? 0 : at, m = a != a ? a : m;
            yr[ow] = m;
            ar[ow] = base + 2 * ow + at;
        }
    }
}

/* The winner of two values in scan order, x first: x when it is NaN, else
 * y when y is NaN or larger, else x (a tie keeps x). Applied as a tree,
 * pair_max(pair_max(a, b), pair_max(c, d)) is exactly window_max's scan of
 * a b / c d: the first NaN if any, else the first maximum in row-major
 * order, since the right pair wins only when it holds the first NaN or
 * beats every value of the left one. Three plain selects, which GCC
 * vectorises (a select on a | of compares it does not). */
static inline float pair_max(float x, float y) {
    float m = y > x ? y : x;
    m = y != y ? y : m;
    return x != x ? x : m;
}

/* Without an argmax the pool is pure data flow, so one loop per row
 * vectorises (stride-2 loads become permutes). */
void tern_kernel_maxpool2x2_f32_ref(const float *restrict x, int W, size_t pairs, int OW, float *restrict y) {
    for (size_t q = 0; q < pairs; q++) {
        const float *r0 = x + 2 * q * (size_t)W, *r1 = r0 + W;
        float *yr = y + q * (size_t)OW;
#pragma omp simd
        for (int ow = 0; ow < OW; ow++) {
            const float h0 = pair_max(r0[2 * ow], r0[2 * ow + 1]), h1 = pair_max(r1[2 * ow], r1[2 * ow + 1]);
            yr[ow] = pair_max(h0, h1);
        }
    }
}

/* The twin of the CPU: the AVX-512 one where the CPU has it (the check is
 * libgcc's cached CPU model, a few loads), else the scalar one. */
static void maxpool_rows_2x2(const float *x, int W, size_t pairs, int OW, float *y) {
#if defined(__x86_64__)
    if (tern_kernel_available(TERN_KERNEL_AVX512)) {
        tern_kernel_maxpool2x2_f32_avx512(x, W, pairs, OW, y);
        return;
    }
#endif
    tern_kernel_maxpool2x2_f32_ref(x, W, pairs, OW, y);
}

void tern_kernel_maxpool2d_f32(const float *x, size_t planes, int H, int W, int k, int stride, int pad, int OH,
                               int OW, float *y, int32_t *argmax) {
    if (pad == 0 && k == 2 && stride == 2 && !argmax) {
        if (H == 2 * OH) {
            maxpool_rows_2x2(x, W, planes * (size_t)OH, OW, y);  /* one tall plane */
            return;
        }
        for (size_t p = 0; p < planes; p++)  /* an odd last row is left out */
            maxpool_rows_2x2(x + p * (size_t)H * W, W, (size_t)OH, OW, y + p * (size_t)OH * OW);
        return;
    }
    for (size_t p = 0; p < planes; p++) {
        const float *xp = x + p * (size_t)H * W;  /* (H,W) */
        float *yp = y + p * (size_t)OH * OW;      /* (OH,OW) */
        int32_t *ap = argmax ? argmax + p * (size_t)OH * OW : NULL;
        if (pad == 0 && k == 2 && stride == 2 && ap) {
            maxpool_plane_2x2(xp, W, OH, OW, yp, ap);
            continue;
        }
        if (pad == 0) {
            maxpool_plane_unpadded(xp, W, k, stride, OH, OW, yp, ap);
            continue;
        }
        for (int oh = 0; oh < OH; oh++) {
            int h0, h1;
            clip(oh * stride - pad, k, H, &h0, &h1);
            for (int ow = 0; ow < OW; ow++) {
                int w0, w1;
                clip(ow * stride - pad, k, W, &w0, &w1);
                int32_t best;
                yp[oh * OW + ow] = window_max(xp, W, h0, h1, w0, w1, &best);
                if (ap) ap[oh * OW + ow] = best;
            }
        }
    }
}

void tern_kernel_avgpool2d_f32(const float *x, size_t planes, int H, int W, int k, int stride, int pad, int OH,
                               int OW, float *y) {
    /* Zero padding adds nothing to the sum but counts in the divisor. */
    const float inv = 1.0f / (float)(k * k);
    for (size_t p = 0; p < planes; p++) {
        const float *xp = x + p * (size_t)H * W;  /* (H,W) */
        float *yp = y + p * (size_t)OH * OW;      /* (OH,OW) */
        for (int oh = 0; oh < OH; oh++) {
            int h0, h1;
            clip(oh * stride - pad, k, H, &h0, &h1);
            for (int ow = 0; ow < OW; ow++) {
                int w0, w1;
                clip(ow * stride - pad, k, W, &w0, &w1);
                yp[oh * OW + ow] = tern_pt_window_avg(xp, W, h0, h1, w0, w1, inv);
            }
        }
    }
}

/* The output indices o in [lo, hi) whose input index o stride - pad + k lies
 * inside [0, in); every other o of [0, out) reads padding. */
static void valid_range(int k, int stride, int pad, int in, int out, int *lo, int *hi) {
    int first = pad - k; /* o stride must be >= first */
    int l = first > 0 ? (first + stride - 1) / stride : 0;
    int last = in - 1 + pad - k; /* o stride must be <= last */
    int h = last >= 0 ? last / stride + 1 : 0;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* n zeros at p. The padding runs of im2col are short or (pad 0) empty, and
 * a libc call per empty run cost LeNet-5's training step 6% of its
 * instructions. */
#define ZERO_RUN(p, n)                                      \
    for (size_t z_ = 0, n_ = (n); z_ < n_; z_++) (p)[z_] = 0

/* Copy a short run of bytes: a conv row segment, often 8 floats. Neither a
 * memcpy call nor a SIMD loop suits it (the call costs more than the copy,
 * and a 16-lane loop runs 8 floats in its scalar tail); fixed 32-byte
 * blocks compile to one vector move each, the last block overlapping the
 * one before (source and destination never overlap each other). */
static inline void copy_run(void *dst, const void *src, size_t bytes) {
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (bytes < 32) {
        for (size_t i = 0; i < bytes; i++) d[i] = s[i];
        return;
    }
    size_t i = 0;
    for (; i + 32 <= bytes; i += 32) memcpy(d + i, s + i, 32);
    if (i < bytes) memcpy(d + bytes - 32, s + bytes - 32, 32);
}

/* col (C KH KW, OH OW), rows ld apart, = the receptive fields of x (C,H,W),
 * zeros in the padding; one body for float, int8 (the dense conv's quantized
 * images) and int16 (the zero-skipping conv's widened ones). */
#define IM2COL_BODY(T, ld)                                                                                  \
    for (int ch = 0; ch < C; ch++)                                                                          \
        for (int kh = 0; kh < KH; kh++) {                                                                   \
            int oh_lo, oh_hi;                                                                               \
            valid_range(kh, stride, pad, H, OH, &oh_lo, &oh_hi);                                            \
            for (int kw = 0; kw < KW; kw++) {                                                               \
                int ow_lo, ow_hi;                                                                           \
                valid_range(kw, stride, pad, W, OW, &ow_lo, &ow_hi);                                        \
                T *row = col + ((size_t)(ch * KH + kh) * KW + kw) * (ld); /* (OH,OW) */                        \
                ZERO_RUN(row, (size_t)oh_lo * OW);                                                          \
                for (int oh = oh_lo; oh < oh_hi; oh++) {                                                    \
                    const T *src = x + ((size_t)ch * H + (size_t)(oh * stride - pad + kh)) * W;             \
                    T *dst = row + (size_t)oh * OW;                                                         \
                    ZERO_RUN(dst, (size_t)ow_lo);                                                           \
                    if (stride == 1)                                                                        \
                        copy_run(dst + ow_lo, src + (ow_lo - pad + kw), (size_t)(ow_hi - ow_lo) * sizeof(T)); \
                    else                                                                                    \
                        for (int ow = ow_lo; ow < ow_hi; ow++) dst[ow] = src[ow * stride - pad + kw];       \
                    ZERO_RUN(dst + ow_hi, (size_t)(OW - ow_hi));                                            \
                }                                                                                           \
                ZERO_RUN(row + (size_t)oh_hi * OW, (size_t)(OH - oh_hi) * OW);                              \
            }                                                                                               \
        }

void tern_kernel_im2col_f32(const float *x, int C, int H, int W, int KH, int KW, int stride, int pad, int OH, int OW,
                   float *col) {
    IM2COL_BODY(float, (size_t)OH * OW)
}

/* im2col without padding and stride 1 (LeNet's and most valid convs):
 * every run is whole, so the loops carry no bounds, and a row of 8 (conv2
 * of LeNet-5, 8x8 outputs) is one vector move. It was 16% of LeNet-5's
 * training step in the general body. */
static void im2col_valid_f32(const float *x, int C, int H, int W, int KH, int KW, int OH, int OW, float *col,
                             size_t ld) {
    for (int ch = 0; ch < C; ch++)
        for (int kh = 0; kh < KH; kh++)
            for (int kw = 0; kw < KW; kw++) {
                float *row = col + ((size_t)(ch * KH + kh) * KW + kw) * ld;  /* (OH,OW) */
                const float *src = x + ((size_t)ch * H + kh) * W + kw;       /* rows W apart */
                if (OW == 8)
                    for (int oh = 0; oh < OH; oh++) memcpy(row + (size_t)oh * 8, src + (size_t)oh * W, 32);
                else
                    for (int oh = 0; oh < OH; oh++)
                        copy_run(row + (size_t)oh * OW, src + (size_t)oh * W, (size_t)OW * sizeof(float));
            }
}

void tern_kernel_im2col_ld_f32(const float *x, int C, int H, int W, int KH, int KW, int stride, int pad, int OH, int OW,
                               float *col, size_t ld) {
    if (stride == 1 && pad == 0) {
        im2col_valid_f32(x, C, H, W, KH, KW, OH, OW, col, ld);
        return;
    }
    IM2COL_BODY(float, ld)
}

void tern_kernel_im2col_i16(const int16_t *x, int C, int H, int W, int KH, int KW, int stride, int pad, int OH,
                            int OW, int16_t *col) {
    IM2COL_BODY(int16_t, (size_t)OH * OW)
}

void tern_kernel_im2col_i8(const int8_t *x, int C, int H, int W, int KH, int KW, int stride, int pad, int OH, int OW,
                           int8_t *col) {
    IM2COL_BODY(int8_t, (size_t)OH * OW)
}

/* dx (C,H,W) += the adjoint of im2col applied to dcol (C KH KW, OH OW), rows
 * ld apart: every column entry flows back to the pixel it was read from;
 * padding drops. */
void tern_kernel_col2im_add_ld_f32(const float *dcol, size_t ld, int C, int H, int W, int KH, int KW, int stride,
                                   int pad, int OH, int OW, float *dx) {
#if defined(__x86_64__)
    if (stride == 1 && pad == 0 && W <= 16 && tern_kernel_available(TERN_KERNEL_AVX512)) {
        tern_kernel_col2im_add_valid16_f32_avx512(dcol, ld, C, H, W, KH, KW, OH, OW, dx);
        return;
    }
#endif
    tern_kernel_col2im_add_ld_f32_ref(dcol, ld, C, H, W, KH, KW, stride, pad, OH, OW, dx);
}

void tern_kernel_col2im_add_ld_f32_ref(const float *dcol, size_t ld, int C, int H, int W, int KH, int KW, int stride,
                                       int pad, int OH, int OW, float *dx) {
    if (stride == 1 && pad == 0 && OW == 8) {
        /* im2col_valid_f32's adjoint for rows of 8: each run one vector add */
        for (int ch = 0; ch < C; ch++)
            for (int kh = 0; kh < KH; kh++)
                for (int kw = 0; kw < KW; kw++) {
                    const float *row = dcol + ((size_t)(ch * KH + kh) * KW + kw) * ld;
                    float *dst = dx + ((size_t)ch * H + kh) * W + kw;
                    for (int oh = 0; oh < OH; oh++) {
                        float t[8], *d = dst + (size_t)oh * W;
                        memcpy(t, row + (size_t)oh * 8, sizeof t);
                        for (int l = 0; l < 8; l++) d[l] += t[l];
                    }
                }
        return;
    }
    for (int ch = 0; ch < C; ch++)
        for (int kh = 0; kh < KH; kh++) {
            int oh_lo, oh_hi;
            valid_range(kh, stride, pad, H, OH, &oh_lo, &oh_hi);
            for (int kw = 0; kw < KW; kw++) {
                int ow_lo, ow_hi;
                valid_range(kw, stride, pad, W, OW, &ow_lo, &ow_hi);
                const float *row = dcol + ((size_t)(ch * KH + kh) * KW + kw) * ld;
                for (int oh = oh_lo; oh < oh_hi; oh++) {
                    float *dst = dx + ((size_t)ch * H + (size_t)(oh * stride - pad + kh)) * W;
                    const float *src = row + (size_t)oh * OW;
                    if (stride == 1) {
                        float *d1 = dst - pad + kw;
#pragma omp simd
                        for (int ow = ow_lo; ow < ow_hi; ow++) d1[ow] += src[ow];
                    } else {
                        for (int ow = ow_lo; ow < ow_hi; ow++) dst[ow * stride - pad + kw] += src[ow];
                    }
                }
            }
        }
}
