/* dconv.c — the direct fp32 conv's scalar twin and its dispatch (dconv.h). */
#include "kernels/dconv.h"

#include <math.h>

#if defined(__x86_64__)
#include "kernels/x86/dconv_avx512.h"
#endif

/* The output positions o in [lo, hi) whose input index o stride - pad + t
 * lies inside [0, in). */
static void tap_range(int t, int stride, int pad, int in, int out, int *lo, int *hi) {
    int l = 0, h = out;
    while (l < out && l * stride - pad + t < 0) l++;
    while (h > l && (h - 1) * stride - pad + t >= in) h--;
    *lo = l;
    *hi = h;
}

/* One image. The output row is the accumulator: every tap adds into the
 * valid part of the row, so each output sums its taps in (c, kh, kw) order
 * while the loop over ow, innermost, vectorises. */
static void dconv_image(const tern_conv2d_geom *g, int M, int OH, int OW, const float *w, const float *bias,
                        const tern_epilogue *e, const float *x, float *y) {
    const int C = g->cin, H = g->h, W = g->w, KH = g->kh, KW = g->kw, s = g->stride, p = g->pad;
    for (int r = 0; r < M; r++)
        for (int oh = 0; oh < OH; oh++) {
            float *yr = y + ((size_t)r * OH + oh) * OW;  /* (OW) */
            for (int ow = 0; ow < OW; ow++) yr[ow] = 0.0f;
            for (int c = 0; c < C; c++)
                for (int kh = 0; kh < KH; kh++) {
                    const int ih = oh * s - p + kh;
                    if (ih < 0 || ih >= H) continue;
                    const float *xr = x + ((size_t)c * H + ih) * W;  /* (W) */
                    for (int kw = 0; kw < KW; kw++) {
                        const float wt = w[(((size_t)r * C + c) * KH + kh) * KW + kw];
                        int lo, hi;
                        tap_range(kw, s, p, W, OW, &lo, &hi);
                        for (int ow = lo; ow < hi; ow++) yr[ow] = fmaf(wt, xr[ow * s - p + kw], yr[ow]);
                    }
                }
            for (int ow = 0; ow < OW; ow++) yr[ow] = tern_epi_apply(e, r, yr[ow] + bias[r]);
        }
}

void tern_dconv_f32_ref(const tern_conv2d_geom *g, int M, const float *w, const float *bias, const tern_epilogue *e,
                        const float *x, int n, float *y) {
    const tern_epilogue none = {0};
    const int OH = (g->h + 2 * g->pad - g->kh) / g->stride + 1, OW = (g->w + 2 * g->pad - g->kw) / g->stride + 1;
    for (int b = 0; b < n; b++)
        dconv_image(g, M, OH, OW, w, bias, e ? e : &none, x + (size_t)b * g->cin * g->h * g->w,
                    y + (size_t)b * M * OH * OW);
}

void tern_dconv_f32(tern_kernel path, const tern_conv2d_geom *g, int M, const float *w, const float *bias,
                    const tern_epilogue *e, const float *x, int n, float *y) {
#if defined(__x86_64__)
    if (path == TERN_KERNEL_AVX512) {
        const tern_epilogue none = {0};
        tern_dconv_f32_avx512(g, M, w, bias, e ? e : &none, x, n, y);
        return;
    }
#endif
    (void)path;
    tern_dconv_f32_ref(g, M, w, bias, e, x, n, y);
}
