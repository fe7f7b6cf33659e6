/* conv.c — conv2d over packed ternary weights: im2col into caller scratch,
 * then the current path's GEMM with the OH*OW output positions as samples. */
#include <stdint.h>
#include <string.h>

#include "kernels_impl.h"

static int conv_out(int size, int k, int stride, int pad) { return (size + 2 * pad - k) / stride + 1; }

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
    size_t P = (size_t)conv_out(g->h, g->kh, g->stride, g->pad) * (size_t)conv_out(g->w, g->kw, g->stride, g->pad);
    size_t kp = tern_kp(w);
    if (act == TERN_KACT_I8) return (size_t)g->cin * g->h * g->w + P * (kp + 8) + 128;
    return P * kp * sizeof(float) + 64;
}

static void *align64(void *p) { return (void *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

/* Column p = (oh, ow) of one image: its receptive field in (ci, i, j) order,
 * zero where it falls in the padding and from K to Kp. */
#define IM2COL(T, col, img, g, oh_n, ow_n, kp, EXTRA)                                         \
    for (int oh = 0; oh < (oh_n); oh++)                                                       \
        for (int ow = 0; ow < (ow_n); ow++) {                                                 \
            T *c_ = (col) + ((size_t)oh * (ow_n) + ow) * (kp);                               \
            size_t k_ = 0;                                                                    \
            for (int ci = 0; ci < (g)->cin; ci++)                                             \
                for (int i = 0; i < (g)->kh; i++) {                                           \
                    int ih = oh * (g)->stride - (g)->pad + i;                                 \
                    for (int jj = 0; jj < (g)->kw; jj++) {                                    \
                        int iw = ow * (g)->stride - (g)->pad + jj;                            \
                        int in = ih >= 0 && ih < (g)->h && iw >= 0 && iw < (g)->w;            \
                        c_[k_++] = in ? (img)[((size_t)ci * (g)->h + ih) * (g)->w + iw] : 0;  \
                    }                                                                         \
                }                                                                             \
            memset(c_ + k_, 0, ((kp) - k_) * sizeof(T));                                      \
            EXTRA                                                                             \
        }

tern_status tern_kernel_conv2d(const tern_packed *w, const tern_conv2d_geom *g, const float *x, int n,
                               const float *bias, float *y, tern_kact act, void *scratch, size_t scratch_bytes) {
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
    if ((st = tern_kernel_ops_current(&ops))) return st;

    const int oh_n = conv_out(g->h, g->kh, g->stride, g->pad), ow_n = conv_out(g->w, g->kw, g->stride, g->pad);
    const size_t P = (size_t)oh_n * (size_t)ow_n, kp = tern_kp(w);
    const size_t in_n = (size_t)g->cin * g->h * g->w, out_n = (size_t)w->rows * P;
    unsigned char *s = align64(scratch);

    for (int b = 0; b < n; b++) {
        const float *img = x + (size_t)b * in_n;   /* (cin, h, w) */
        float *yb = y + (size_t)b * out_n;          /* (M, OH, OW): position p of row r at r*P + p */
        if (act == TERN_KACT_I8) {
            /* Quantize the image once (one absmax per image), then gather
             * int8 columns; padding is q = 0, exactly the zero it stands for. */
            int8_t *qimg = (int8_t *)s;                        /* (cin, h, w) */
            int8_t *col = (int8_t *)align64(qimg + in_n);      /* (P, Kp) */
            float *sx = (float *)(col + P * kp);               /* (P) */
            int32_t *qsum = (int32_t *)(sx + P);               /* (P) */
            float sxi;
            int32_t total;
            if (ops->quantize(img, (int)in_n, qimg, &sxi, &total))
                return tern_error(TERN_ERR_NUMERIC, "kernel_conv2d: image %d has a NaN or Inf activation", b);
            size_t p = 0;
            IM2COL(int8_t, col, qimg, g, oh_n, ow_n, kp, {
                int32_t sum = 0;
                for (size_t t = 0; t < k_; t++) sum += c_[t];
                qsum[p] = sum;
                sx[p++] = sxi;
            })
            tern_kq_job job = {.w = w, .n = (int)P, .q = col, .ldq = kp, .sx = sx, .qsum = qsum, .bias = bias,
                               .y = yb, .ys = 1, .yr = P};
            ops->gemm_i8(&job);
        } else {
            float *col = (float *)s;   /* (P, Kp) */
            IM2COL(float, col, img, g, oh_n, ow_n, kp, )
            tern_kf_job job = {.w = w, .n = (int)P, .x = col, .ldx = kp, .bias = bias, .y = yb, .ys = 1, .yr = P};
            ops->gemm_f32(&job);
        }
    }
    return TERN_OK;
}
