/* conv.c — conv2d over packed ternary weights: im2col into caller scratch
 * (row-wise into (K, P), the shared fp32.c body, then one blocked transpose
 * into the (P, Kp) rows the GEMM reads), then the current path's GEMM with
 * the OH*OW output positions as samples. */
#include <stdint.h>
#include <string.h>

#include "fp32.h"
#include "kernels_impl.h"
#include "tern/tensor.h"

static tern_status conv_check(const tern_packed *w, const tern_conv2d_geom *g) {
    if (!w || !w->qs || !g) return tern_error(TERN_ERR_ARG, "kernel_conv2d: NULL weights or geometry");
    if (g->cin < 1 || g->h < 1 || g->w < 1 || g->kh < 1 || g->kw < 1 || g->stride < 1 || g->pad < 0)
        return tern_error(TERN_ERR_SHAPE,
                          "kernel_conv2d: input (%d,%d,%d), kernel %dx%d, stride %d, pad %d: sizes must be >= 1, pad >= 0",
                          g->cin, g->h, g->w, g->kh, g->kw, g->stride, g->pad);
    long k = (long)g->cin * g->kh * g->kw;
    if (k != w->cols)
        return tern_error(TERN_ERR_SHAPE, "kernel_conv2d: weight (%d,%d) does not match cin*kh*kw = %d*%d*%d = %ld",
                          w->rows, w->cols, g->cin, g->kh, g->kw, k);
    if ((long long)g->cin * g->h * g->w > INT32_MAX)
        return tern_error(TERN_ERR_SHAPE, "kernel_conv2d: input (%d,%d,%d) has more than 2^31 values", g->cin, g->h, g->w);
    if (g->h + 2 * g->pad < g->kh || g->w + 2 * g->pad < g->kw)
        return tern_error(TERN_ERR_SHAPE, "kernel_conv2d: kernel %dx%d is larger than the padded input %dx%d", g->kh,
                          g->kw, g->h + 2 * g->pad, g->w + 2 * g->pad);
    return TERN_OK;
}

size_t tern_kernel_conv2d_scratch_bytes(const tern_packed *w, const tern_conv2d_geom *g, tern_kact act) {
    if (!w || !g || g->cin < 1 || g->h < 1 || g->w < 1 || g->kh < 1 || g->kw < 1 || g->stride < 1 || g->pad < 0)
        return 0;
    if (g->h + 2 * g->pad < g->kh || g->w + 2 * g->pad < g->kw) return 0;
    size_t P = (size_t)tern_conv_out_size(g->h, g->kh, g->stride, g->pad) *
               (size_t)tern_conv_out_size(g->w, g->kw, g->stride, g->pad);
    size_t kp = tern_kp(w), K = (size_t)w->cols;
    if (act == TERN_KACT_I8) return (size_t)g->cin * g->h * g->w + K * P + P * (kp + 8) + 192;
    return (K + kp) * P * sizeof(float) + 128;
}

static void *align64(void *p) { return (void *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

tern_status tern_kernel_conv2d(tern_kernel path, const tern_packed *w, const tern_conv2d_geom *g, const float *x,
                               int n, const float *bias, float *y, tern_kact act, void *scratch, size_t scratch_bytes) {
    tern_status st = conv_check(w, g);
    if (st) return st;
    if (!x || !y || !scratch) return tern_error(TERN_ERR_ARG, "kernel_conv2d: NULL input, output or scratch");
    if (n < 1) return tern_error(TERN_ERR_SHAPE, "kernel_conv2d: batch %d, needs at least 1", n);
    if ((unsigned)act >= TERN_KACT_COUNT)
        return tern_error(TERN_ERR_ARG, "kernel_conv2d: unknown activation mode %d", act);
    size_t need = tern_kernel_conv2d_scratch_bytes(w, g, act);
    if (scratch_bytes < need)
        return tern_error(TERN_ERR_ARG, "kernel_conv2d: scratch has %zu bytes, needs %zu", scratch_bytes, need);
    const tern_kernel_ops *ops;
    if ((st = tern_kernel_ops_get(path, &ops))) return st;

    const int oh_n = (int)tern_conv_out_size(g->h, g->kh, g->stride, g->pad);
    const int ow_n = (int)tern_conv_out_size(g->w, g->kw, g->stride, g->pad);
    const size_t P = (size_t)oh_n * (size_t)ow_n, kp = tern_kp(w), K = (size_t)w->cols;
    const size_t in_n = (size_t)g->cin * g->h * g->w, out_n = (size_t)w->rows * P;
    unsigned char *s = align64(scratch);

    for (int b = 0; b < n; b++) {
        const float *img = x + (size_t)b * in_n;   /* (cin, h, w) */
        float *yb = y + (size_t)b * out_n;          /* (M, OH, OW): position p of row r at r*P + p */
        if (act == TERN_KACT_I8) {
            /* Quantize the image once (one absmax per image), im2col the
             * int8 image row-wise into (K, P) (padding is q = 0, exactly the
             * zero it stands for), transpose to the GEMM's (P, Kp). */
            int8_t *qimg = (int8_t *)s;                        /* (cin, h, w) */
            int8_t *kcol = (int8_t *)align64(qimg + in_n);     /* (K, P) */
            int8_t *col = (int8_t *)align64(kcol + K * P);     /* (P, Kp) */
            float *sx = (float *)(col + P * kp);               /* (P) */
            int32_t *qsum = (int32_t *)(sx + P);               /* (P) */
            float sxi;
            int32_t total;
            if (ops->quantize(img, (int)in_n, qimg, &sxi, &total))
                return tern_error(TERN_ERR_NUMERIC, "kernel_conv2d: image %d has a NaN or Inf activation", b);
            tern_kernel_im2col_i8(qimg, g->cin, g->h, g->w, g->kh, g->kw, g->stride, g->pad, oh_n, ow_n, kcol);
            TERN_TRANSPOSE(col, kp, kcol, P, K, P)
            for (size_t p = 0; p < P; p++) {
                int8_t *c = col + p * kp;
                memset(c + K, 0, kp - K);
                int32_t sum = 0;
                for (size_t t = 0; t < K; t++) sum += c[t];
                qsum[p] = sum;
                sx[p] = sxi;
            }
            tern_kq_job job = {.w = w, .n = (int)P, .q = col, .ldq = kp, .sx = sx, .qsum = qsum, .bias = bias,
                               .y = yb, .ys = 1, .yr = P};
            ops->gemm_i8(&job);
        } else {
            float *kcol = (float *)s;                          /* (K, P) */
            float *col = (float *)align64(kcol + K * P);       /* (P, Kp) */
            tern_kernel_im2col_f32(img, g->cin, g->h, g->w, g->kh, g->kw, g->stride, g->pad, oh_n, ow_n, kcol);
            TERN_TRANSPOSE(col, kp, kcol, P, K, P)
            for (size_t p = 0; p < P; p++) memset(col + p * kp + K, 0, (kp - K) * sizeof(float));
            tern_kf_job job = {.w = w, .n = (int)P, .x = col, .ldx = kp, .bias = bias, .y = yb, .ys = 1, .yr = P};
            ops->gemm_f32(&job);
        }
    }
    return TERN_OK;
}
