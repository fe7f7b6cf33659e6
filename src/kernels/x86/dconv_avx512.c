/* dconv_avx512.c — the AVX-512 twin of the direct fp32 conv (dconv.h).
 *
 * Lanes are output positions of one output row, 32 at a time in two
 * vectors; a tile is up to 8 output channels of those positions, so each
 * input load serves 8 FMAs and each weight broadcast 2. At stride 1 without
 * padding, lanes run over the flattened output plane instead (flat_tile).
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

/* Channels r0 .. r0+RB-1 (R8 = 1) or r0 alone (R8 = 0) of output row oh,
 * positions ow0 .. ow0+31 (two chunks of 16 lanes; those in `out` exist);
 * km[2 kw + h]: the lanes of chunk h whose column for tap kw is inside the
 * image. Each weight is broadcast once for both chunks. The accumulators
 * are named, not an array, so they stay in registers. */
static inline __attribute__((always_inline)) void tile(const tern_conv2d_geom *g, int OW, int R8, int r0, int oh,
                                                       int ow0, const __mmask16 *km, const float *w,
                                                       const float *bias, const tern_epilogue *e, const float *x,
                                                       float *y, int OH) {
    const int C = g->cin, H = g->h, W = g->w, KH = g->kh, KW = g->kw, s = g->stride, p = g->pad;
    const size_t K = (size_t)C * KH * KW;
    const __m512i step = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(s));
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0;
    for (int c = 0; c < C; c++)
        for (int kh = 0; kh < KH; kh++) {
            const int ih = oh * s - p + kh;
            if (ih < 0 || ih >= H) continue;
            const float *xr = x + ((size_t)c * H + ih) * W;  /* (W) */
            const float *wt = w + (size_t)r0 * K + ((size_t)c * KH + kh) * KW;
            for (int kw = 0; kw < KW; kw++) {
                const __mmask16 m = km[2 * kw], n = km[2 * kw + 1];
                const int at = ow0 * s - p + kw, bt = at + 16 * s;  /* columns of the chunks' lane 0 */
                __m512 xa, xb;
                if (s == 1) {
                    xa = _mm512_maskz_loadu_ps(m, (const void *)((uintptr_t)xr + (intptr_t)at * 4));
                    xb = _mm512_maskz_loadu_ps(n, (const void *)((uintptr_t)xr + (intptr_t)bt * 4));
                } else {
                    xa = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, _mm512_add_epi32(step, _mm512_set1_epi32(at)),
                                                  xr, 4);
                    xb = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), n, _mm512_add_epi32(step, _mm512_set1_epi32(bt)),
                                                  xr, 4);
                }
#define DCONV_FMA(j, a, b)                                         \
    do {                                                           \
        const __m512 wv = _mm512_set1_ps(wt[(j) * K + kw]);        \
        a = _mm512_mask3_fmadd_ps(wv, xa, a, m);                   \
        b = _mm512_mask3_fmadd_ps(wv, xb, b, n);                   \
    } while (0)
                DCONV_FMA(0, a0, b0);
                if (R8) {
                    DCONV_FMA(1, a1, b1); DCONV_FMA(2, a2, b2); DCONV_FMA(3, a3, b3);
                    DCONV_FMA(4, a4, b4); DCONV_FMA(5, a5, b5); DCONV_FMA(6, a6, b6); DCONV_FMA(7, a7, b7);
                }
#undef DCONV_FMA
            }
        }
    const __m512 acc[2][RB] = {{a0, a1, a2, a3, a4, a5, a6, a7}, {b0, b1, b2, b3, b4, b5, b6, b7}};
    for (int h = 0; h < 2; h++) {
        const __mmask16 out = lanes(ow0 + 16 * h, 0, OW);
        for (int j = 0; out && j < (R8 ? RB : 1); j++)
            _mm512_mask_storeu_ps(y + ((size_t)(r0 + j) * OH + oh) * OW + ow0 + 16 * h, out,
                                  epilogue(e, r0 + j, acc[h][j], bias[r0 + j]));
    }
}

/* The stride 1, pad 0 case (LeNet-5's first conv): no tap ever falls
 * outside the image, so the lanes can be the flattened positions oh OW + ow
 * of the (OH, OW) plane rather than one row's: no lane idles on a row's
 * tail (24-wide rows in 16-lane vectors waste a third of the FMAs), and the
 * store is one contiguous run per channel. A chunk of 16 positions spans at
 * most two rows (OW >= 16): its lanes in row a (mask ma) read the input from
 * off, those in row a+1 (mask mb) from off + W - OW. A tile is RB channels x
 * 3 chunks: 24 accumulators, each input load serves RB FMAs. The lanes still
 * run the scalar twin's sequence (every tap in (c, kh, kw) order, one fmaf,
 * + bias, epilogue), so the results agree bit for bit. */
static inline __attribute__((always_inline)) void flat_tile(const tern_conv2d_geom *g, int P, int gap, int R8, int r0,
                                                            int p0, const __mmask16 *ma, const __mmask16 *mb,
                                                            const int *off, const float *w, const float *bias,
                                                            const tern_epilogue *e, const float *x, float *y) {
    const int C = g->cin, H = g->h, W = g->w, KH = g->kh, KW = g->kw;
    const size_t K = (size_t)C * KH * KW;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0, b6 = a0, b7 = a0;
    __m512 c0 = a0, c1 = a0, c2 = a0, c3 = a0, c4 = a0, c5 = a0, c6 = a0, c7 = a0;
    for (int c = 0; c < C; c++)
        for (int kh = 0; kh < KH; kh++) {
            const uintptr_t xr = (uintptr_t)(x + ((size_t)c * H + kh) * W);  /* (W), tap (c, kh, 0) */
            const float *wt = w + (size_t)r0 * K + ((size_t)c * KH + kh) * KW;
            for (int kw = 0; kw < KW; kw++) {
                __m512 xv[3];
                for (int h = 0; h < 3; h++) {
                    const uintptr_t at = xr + (uintptr_t)(intptr_t)(off[h] + kw) * 4;
                    xv[h] = _mm512_maskz_loadu_ps(ma[h], (const void *)at);
                    if (mb[h]) xv[h] = _mm512_mask_loadu_ps(xv[h], mb[h], (const void *)(at + (uintptr_t)(intptr_t)gap * 4));
                }
#define DCONV_FMA3(j, a, b, c)                                     \
    do {                                                           \
        const __m512 wv = _mm512_set1_ps(wt[(j) * K + kw]);        \
        a = _mm512_fmadd_ps(wv, xv[0], a);                         \
        b = _mm512_fmadd_ps(wv, xv[1], b);                         \
        c = _mm512_fmadd_ps(wv, xv[2], c);                         \
    } while (0)
                DCONV_FMA3(0, a0, b0, c0);
                if (R8) {
                    DCONV_FMA3(1, a1, b1, c1); DCONV_FMA3(2, a2, b2, c2); DCONV_FMA3(3, a3, b3, c3);
                    DCONV_FMA3(4, a4, b4, c4); DCONV_FMA3(5, a5, b5, c5); DCONV_FMA3(6, a6, b6, c6);
                    DCONV_FMA3(7, a7, b7, c7);
                }
#undef DCONV_FMA3
            }
        }
    const __m512 acc[3][RB] = {{a0, a1, a2, a3, a4, a5, a6, a7}, {b0, b1, b2, b3, b4, b5, b6, b7},
                               {c0, c1, c2, c3, c4, c5, c6, c7}};
    for (int h = 0; h < 3; h++) {
        const __mmask16 out = ma[h] | mb[h];
        for (int j = 0; out && j < (R8 ? RB : 1); j++)
            _mm512_mask_storeu_ps(y + (size_t)(r0 + j) * P + p0 + 16 * h, out,
                                  epilogue(e, r0 + j, acc[h][j], bias[r0 + j]));
    }
}

/* One image of the stride 1, pad 0 case, OW >= 16 (flat_tile). */
static void flat_image(const tern_conv2d_geom *g, int M, int OH, int OW, const float *w, const float *bias,
                       const tern_epilogue *e, const float *x, float *y) {
    const int P = OH * OW;
    for (int p0 = 0; p0 < P; p0 += 48) {
        __mmask16 ma[3], mb[3];
        int off[3];
        for (int h = 0; h < 3; h++) {
            const int q = p0 + 16 * h, oh = q / OW, ow = q % OW;
            const int valid = q < P ? (P - q < 16 ? P - q : 16) : 0, na = OW - ow < valid ? OW - ow : valid;
            ma[h] = lanes(0, 0, na);
            mb[h] = lanes(0, na, valid);
            off[h] = q < P ? oh * g->w + ow : 0;
        }
        int r0 = 0;
        for (; r0 + RB <= M; r0 += RB) flat_tile(g, P, g->w - OW, 1, r0, p0, ma, mb, off, w, bias, e, x, y);
        for (; r0 < M; r0++) flat_tile(g, P, g->w - OW, 0, r0, p0, ma, mb, off, w, bias, e, x, y);
    }
}

void tern_dconv_f32_avx512(const tern_conv2d_geom *g, int M, const float *w, const float *bias,
                           const tern_epilogue *e, const float *x, int n, float *y) {
    const int OH = (g->h + 2 * g->pad - g->kh) / g->stride + 1, OW = (g->w + 2 * g->pad - g->kw) / g->stride + 1;
    for (int b = 0; b < n; b++) {
        const float *xb = x + (size_t)b * g->cin * g->h * g->w;  /* (C, H, W) */
        float *yb = y + (size_t)b * M * OH * OW;                 /* (M, OH, OW) */
        if (g->stride == 1 && g->pad == 0 && OW >= 16) {
            flat_image(g, M, OH, OW, w, bias, e, xb, yb);
            continue;
        }
        for (int ow0 = 0; ow0 < OW; ow0 += 32) {
            /* ow reads column ow s - p + kw: inside [0, W) for ow in [lo, hi) */
            __mmask16 km[2 * g->kw];
            for (int kw = 0; kw < g->kw; kw++) {
                const int p = g->pad, s = g->stride, W = g->w;
                const int lo = p - kw > 0 ? (p - kw + s - 1) / s : 0, hi = (W - 1 + p - kw) / s + 1;
                for (int h = 0; h < 2; h++)
                    km[2 * kw + h] = lanes(ow0 + 16 * h, 0, OW) & (W - 1 + p - kw >= 0 ? lanes(ow0 + 16 * h, lo, hi) : 0);
            }
            for (int oh = 0; oh < OH; oh++) {
                int r0 = 0;
                for (; r0 + RB <= M; r0 += RB) tile(g, OW, 1, r0, oh, ow0, km, w, bias, e, xb, yb, OH);
                for (; r0 < M; r0++) tile(g, OW, 0, r0, oh, ow0, km, w, bias, e, xb, yb, OH);
            }
        }
    }
}
