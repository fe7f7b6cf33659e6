/* dconv_avx512.c — the AVX-512 twin of the direct fp32 conv (dconv.h).
 *
 * Lanes are 16 output positions of one output row; a tile is up to 8
 * output channels of those positions, so each input load serves 8 FMAs.
 * Each lane runs the scalar twin's sequence exactly: its taps in (c, kh, kw)
 * order, one fmaf each, a tap outside the image skipped (rows by the loop,
 * columns by the FMA's lane mask, which keeps the accumulator), then
 * + bias and the epilogue's operations in tern_epi_apply's order. So the
 * two agree bit for bit. Masked loads and gathers touch no masked-off
 * lane's address, so the edges of the image need no padded copy. */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/x86/dconv_avx512.h"

#define RB 8  /* output channels per tile */

/* Lanes of the chunk at ow0 whose output position ow is in [lo, hi). */
static inline __mmask16 lanes(int ow0, int lo, int hi) {
    int a = lo > ow0 ? lo - ow0 : 0, b = hi - ow0 < 16 ? hi - ow0 : 16;
    if (b <= a) return 0;
    return (__mmask16)((((uint32_t)1 << (b - a)) - 1) << a);
}

/* tern_epi_apply on 16 lanes of channel r, after + bias. */
static inline __m512 epilogue(const tern_epilogue *e, int r, __m512 v, float bias) {
    v = _mm512_add_ps(v, _mm512_set1_ps(bias));
    if (e->center)
        v = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(v, _mm512_set1_ps(e->center[r])), _mm512_set1_ps(e->scale[r])),
                          _mm512_set1_ps(e->shift[r]));
    if (e->act == TERN_EPI_RELU) {
        v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_LT_OQ), _mm512_setzero_ps());
    } else if (e->act == TERN_EPI_HARDTANH) {
        const __m512 one = _mm512_set1_ps(1.0f), mone = _mm512_set1_ps(-1.0f);
        const __mmask16 lo = _mm512_cmp_ps_mask(v, mone, _CMP_LT_OQ), hi = _mm512_cmp_ps_mask(v, one, _CMP_GT_OQ);
        v = _mm512_mask_mov_ps(_mm512_mask_mov_ps(v, hi, one), lo, mone);
    }
    return v;
}

/* Channels r0 .. r0+rb-1 (rb <= RB) of output row oh, positions ow0 .. +15
 * (those in `out` exist). Inlined with constant rb, acc stays in registers. */
static inline __attribute__((always_inline)) void tile(const tern_conv2d_geom *g, int OW, int rb, int r0, int oh,
                                                       int ow0, const float *w, const float *bias,
                                                       const tern_epilogue *e, const float *x, float *y, int OH) {
    const int C = g->cin, H = g->h, W = g->w, KH = g->kh, KW = g->kw, s = g->stride, p = g->pad;
    const size_t K = (size_t)C * KH * KW;
    const __mmask16 out = lanes(ow0, 0, OW);
    const __m512i step = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(s));
    __m512 acc[RB];
    for (int j = 0; j < rb; j++) acc[j] = _mm512_setzero_ps();
    for (int c = 0; c < C; c++)
        for (int kh = 0; kh < KH; kh++) {
            const int ih = oh * s - p + kh;
            if (ih < 0 || ih >= H) continue;
            const float *xr = x + ((size_t)c * H + ih) * W;  /* (W) */
            for (int kw = 0; kw < KW; kw++) {
                /* ow reads column ow s - p + kw: inside [0, W) for ow in [lo, hi) */
                const int lo = p - kw > 0 ? (p - kw + s - 1) / s : 0, hi = (W - 1 + p - kw) / s + 1;
                const __mmask16 m = out & (W - 1 + p - kw >= 0 ? lanes(ow0, lo, hi) : 0);
                if (!m) continue;
                const int at = ow0 * s - p + kw;  /* column of lane 0 (may be outside: masked) */
                const __m512 xv = s == 1 ? _mm512_maskz_loadu_ps(m, (const void *)((uintptr_t)xr + (intptr_t)at * 4))
                                         : _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m,
                                                                    _mm512_add_epi32(step, _mm512_set1_epi32(at)), xr, 4);
                const float *wt = w + (size_t)r0 * K + ((size_t)c * KH + kh) * KW + kw;
                for (int j = 0; j < rb; j++) acc[j] = _mm512_mask3_fmadd_ps(_mm512_set1_ps(wt[j * K]), xv, acc[j], m);
            }
        }
    for (int j = 0; j < rb; j++)
        _mm512_mask_storeu_ps(y + ((size_t)(r0 + j) * OH + oh) * OW + ow0, out,
                              epilogue(e, r0 + j, acc[j], bias[r0 + j]));
}

void tern_dconv_f32_avx512(const tern_conv2d_geom *g, int M, const float *w, const float *bias,
                           const tern_epilogue *e, const float *x, int n, float *y) {
    const int OH = (g->h + 2 * g->pad - g->kh) / g->stride + 1, OW = (g->w + 2 * g->pad - g->kw) / g->stride + 1;
    for (int b = 0; b < n; b++) {
        const float *xb = x + (size_t)b * g->cin * g->h * g->w;  /* (C, H, W) */
        float *yb = y + (size_t)b * M * OH * OW;                 /* (M, OH, OW) */
        for (int oh = 0; oh < OH; oh++)
            for (int ow0 = 0; ow0 < OW; ow0 += 16) {
                int r0 = 0;
                for (; r0 + RB <= M; r0 += RB) tile(g, OW, RB, r0, oh, ow0, w, bias, e, xb, yb, OH);
                for (; r0 < M; r0++) tile(g, OW, 1, r0, oh, ow0, w, bias, e, xb, yb, OH);
            }
    }
}
