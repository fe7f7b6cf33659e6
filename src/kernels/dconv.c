/* dconv.c — the direct fp32 conv's scalar twin and its dispatch (dconv.h). */
#include "kernels/dconv.h"

#include <math.h>

#if defined(__x86_64__)
#include "kernels/x86/dconv_avx512.h"
#endif

/* One image: each output row is tern_pt_dconv_row, the one copy of the
 * direct conv's order (taps in (c, kh, kw) order, fmaf, the loop over ow
 * innermost so it vectorises). */
static void dconv_image(const tern_conv2d_geom *g, int M, int OH, int OW, const float *w, const float *bias,
                        const tern_epilogue *e, const float *x, float *y) {
    const int C = g->cin, KH = g->kh, KW = g->kw;
    for (int r = 0; r < M; r++)
        for (int oh = 0; oh < OH; oh++)
            tern_pt_dconv_row(x, C, g->h, g->w, KH, KW, g->stride, g->pad, w + (size_t)r * C * KH * KW, bias[r], e, r,
                              oh, OW, y + ((size_t)r * OH + oh) * OW);
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
