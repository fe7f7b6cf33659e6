/* tern_portable.h — the scalar inference math of tern, one copy: libtern's
 * scalar kernels (src/kernels/ref.c, dot.c, dconv.c, fp32.c), its runtime
 * and the dependency-free C export (tern_run.c, copied verbatim beside an
 * exported model) all run these functions, so they agree bit for bit.
 *
 * C99, static inline only, no heap, no I/O, only standard headers. Compile
 * without -ffast-math and with floating-point contraction off (GCC's
 * -std=c99 does that; the pragma below does it for clang): every fmaf here
 * is meant, every other multiply-add is two roundings.
 *
 * Ternary weights come packed 2 bits each in t2 blocks of 128 weights (32
 * bytes; tern/kernels.h has the layout): weight e of a block is bits
 * 2(e/32) of byte e%32, code w+1. A row's blocks are bstride bytes apart
 * (the tile order interleaves the blocks of 8 rows). */
#ifndef TERN_PORTABLE_H
#define TERN_PORTABLE_H

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#define TERN_PT_BLOCK 128              /* weights per t2 block */
#define TERN_PT_BLOCK_BYTES 32         /* bytes per t2 block */
#define TERN_PT_GROUP 8                /* rows whose blocks interleave */
#define TERN_PT_AMAX_MIN (127.0f * FLT_MIN)   /* rows with a smaller absmax quantize to 0 */

/* The 2-bit code (w + 1) of weight e (0..127) of the t2 block at blk. */
static inline int tern_pt_code(const uint8_t *blk, int e) {
    return (blk[e % TERN_PT_BLOCK_BYTES] >> (2 * (e / TERN_PT_BLOCK_BYTES))) & 3;
}

/* Block 0 of row r of an (M rows, kblocks) t2 matrix in tile order, and in
 * *bstride the bytes from one of its blocks to the next. */
static inline const uint8_t *tern_pt_t2_row(const uint8_t *qs, int M, int kblocks, int r, size_t *bstride) {
    const int g0 = r - r % TERN_PT_GROUP, h = M - g0 < TERN_PT_GROUP ? M - g0 : TERN_PT_GROUP;
    *bstride = (size_t)h * TERN_PT_BLOCK_BYTES;
    return qs + (size_t)g0 * TERN_PT_BLOCK_BYTES * (size_t)kblocks + (size_t)(r - g0) * TERN_PT_BLOCK_BYTES;
}

/* Per-row absmax quantization of x (k >= 1 values) to q (k): amax = max|x|,
 * q = clamp(rint(x 127/amax), -127, 127), *sx = amax/127, *qsum = sum q.
 * A row with amax < TERN_PT_AMAX_MIN gives q = 0, sx = 0. Returns 0, or -1
 * when x holds a NaN or Inf. */
static inline int tern_pt_quantize(const float *x, int k, int8_t *q, float *sx, int32_t *qsum) {
    float amax = 0.0f;
    int finite = 1;
    for (int i = 0; i < k; i++) {
        float a = fabsf(x[i]);
        finite &= a <= FLT_MAX;   /* false for Inf and NaN */
        amax = a > amax ? a : amax;
    }
    if (!finite) return -1;
    if (amax < TERN_PT_AMAX_MIN) {
        /* 127/amax would not be finite; such a row carries nothing an int8 can hold. */
        memset(q, 0, (size_t)k);
        *sx = 0.0f;
        *qsum = 0;
        return 0;
    }
    const float inv = 127.0f / amax;
    int32_t sum = 0;
    for (int i = 0; i < k; i++) {
        float v = rintf(x[i] * inv);
        v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
        q[i] = (int8_t)v;
        sum += q[i];
    }
    *sx = amax / 127.0f;
    *qsum = sum;
    return 0;
}

/* *P = sum of q[k] where w[k] = +1, *N = where w[k] = -1, over the kblocks
 * t2 blocks of one row, block b at row + b*bstride; q holds 128*kblocks
 * int8 values, zero from K on. Exact in int32. */
static inline void tern_pt_row_i8_c(const uint8_t *row, size_t bstride, int kblocks, const int8_t *q, int32_t *P,
                                    int32_t *N) {
    int32_t p = 0, n = 0;
    for (int b = 0; b < kblocks; b++) {
        const uint8_t *blk = row + (size_t)b * bstride;
        const int8_t *qb = q + (size_t)b * TERN_PT_BLOCK;
        /* Bits 2s of the 32 bytes are the codes of weights 32s .. 32s + 31. */
        for (int s = 0; s < 4; s++)
            for (int j = 0; j < TERN_PT_BLOCK_BYTES; j++) {
                const int c = (blk[j] >> (2 * s)) & 3;
                const int32_t v = qb[TERN_PT_BLOCK_BYTES * s + j];
                p += c == 2 ? v : 0;
                n += c == 0 ? v : 0;
            }
    }
    *P = p;
    *N = n;
}

/* tern_pt_row_i8: the Cortex-M DSP twin (tern_portable_dsp.h, same
 * contract, same sums) where the core has the DSP extension, else the C. */
#if defined(__ARM_FEATURE_DSP) && !defined(TERN_PT_NO_DSP)
#include "tern_portable_dsp.h"
#define tern_pt_row_i8 tern_pt_row_i8_dsp
#else
#define tern_pt_row_i8 tern_pt_row_i8_c
#endif

/* Fp32 activations x (K) over one row: the signed sum d of x[k] w[k],
 * adding and subtracting in k order (symmetric scales). */
static inline float tern_pt_row_f32_d(const uint8_t *row, size_t bstride, int K, const float *x) {
    float d = 0.0f;
    for (int k0 = 0; k0 < K; k0 += TERN_PT_BLOCK) {
        const uint8_t *blk = row + (size_t)(k0 / TERN_PT_BLOCK) * bstride;
        const int e1 = K - k0 < TERN_PT_BLOCK ? K - k0 : TERN_PT_BLOCK;
        for (int e = 0; e < e1; e++) {
            const int c = tern_pt_code(blk, e);
            if (c == 2) d += x[k0 + e];
            else if (c == 0) d -= x[k0 + e];
        }
    }
    return d;
}

/* Likewise P (w = +1) and N (w = -1) summed apart in k order (TTQ). */
static inline void tern_pt_row_f32_pn(const uint8_t *row, size_t bstride, int K, const float *x, float *P, float *N) {
    float p = 0.0f, n = 0.0f;
    for (int k0 = 0; k0 < K; k0 += TERN_PT_BLOCK) {
        const uint8_t *blk = row + (size_t)(k0 / TERN_PT_BLOCK) * bstride;
        const int e1 = K - k0 < TERN_PT_BLOCK ? K - k0 : TERN_PT_BLOCK;
        for (int e = 0; e < e1; e++) {
            const int c = tern_pt_code(blk, e);
            if (c == 2) p += x[k0 + e];
            else if (c == 0) n += x[k0 + e];
        }
    }
    *P = p;
    *N = n;
}

/* Int8 output: symmetric y = fmaf(d, wp sx, b) with d = P - N; else with
 * p = P, N = p - d: y = fmaf(p, wp sx, fmaf(-N, wn sx, b)). */
static inline float tern_pt_kq_out(int symmetric, float wp, float wn, int32_t d, int32_t p, float sx, float b) {
    if (symmetric) return fmaf((float)d, wp * sx, b);
    const int32_t n = p - d;
    return fmaf((float)p, wp * sx, fmaf(-(float)n, wn * sx, b));
}

/* Fp32-activation output: fmaf(wp, d, b), or fmaf(wp, P, fmaf(-wn, N, b)). */
static inline float tern_pt_kf_out_sym(float wp, float d, float b) { return fmaf(wp, d, b); }
static inline float tern_pt_kf_out_asym(float wp, float wn, float p, float n, float b) {
    return fmaf(wp, p, fmaf(-wn, n, b));
}

/* ---- the epilogue: what a layer applies to its sums as it stores them ---- */

typedef enum tern_epi_act {
    TERN_EPI_NONE = 0,
    TERN_EPI_RELU,       /* x < 0 ? 0 : x (a NaN passes) */
    TERN_EPI_HARDTANH,   /* clamp to [-1, 1] */
} tern_epi_act;

/* Per output channel r, after the layer's y (bias included):
 *     y = (y - center[r]) * scale[r] + shift[r]     when center != NULL
 *     y = act(y)
 * batchnorm in eval, in its order and with its two roundings. */
typedef struct tern_epilogue {
    const float *center, *scale, *shift;   /* (M) each, or all NULL */
    tern_epi_act act;
} tern_epilogue;

/* The epilogue of one value of channel r. */
static inline float tern_pt_epi_apply(const tern_epilogue *e, int r, float y) {
    if (e->center) {
        y = y - e->center[r];
        y = y * e->scale[r];
        y = y + e->shift[r];
    }
    if (e->act == TERN_EPI_RELU) y = y < 0.0f ? 0.0f : y;
    else if (e->act == TERN_EPI_HARDTANH) y = y < -1.0f ? -1.0f : (y > 1.0f ? 1.0f : y);
    return y;
}

/* ---- fp32 linear: 16 lanes ------------------------------------------------
 * Lane l takes x[k] w[k] for k = l mod 16 over the full 16-wide chunks in
 * order (a product, then a sum), the K mod 16 last ones into lanes 0, 1, ...,
 * then the lanes summed as a fixed tree (l += l + h for h = 8, 4, 2, 1),
 * then + bias. tern_pt_dot_finish is the part after the full chunks. */
static inline float tern_pt_dot_finish(float a[16], const float *x, const float *w, int k0, int K, float bias) {
    for (int k = k0, l = 0; k < K; k++, l++) {
        const float p = x[k] * w[k];
        a[l] += p;
    }
    for (int h = 8; h >= 1; h /= 2)
        for (int l = 0; l < h; l++) a[l] += a[l + h];
    return a[0] + bias;
}

/* One output of the fp32 linear layer: x (K) . w (K) + bias in the lane order above. */
static inline float tern_pt_dot(const float *x, const float *w, int K, float bias) {
    float a[16] = {0};
    const int kf = K / 16 * 16;
    for (int k = 0; k < kf; k += 16)
        for (int l = 0; l < 16; l++) {
            const float p = x[k + l] * w[k + l];
            a[l] += p;
        }
    return tern_pt_dot_finish(a, x, w, kf, K, bias);
}

/* ---- the direct fp32 conv ------------------------------------------------ */

/* The output positions o in [lo, hi) whose input index o stride - pad + t
 * lies inside [0, in). */
static inline void tern_pt_tap_range(int t, int stride, int pad, int in, int out, int *lo, int *hi) {
    int l = 0, h = out;
    while (l < out && l * stride - pad + t < 0) l++;
    while (h > l && (h - 1) * stride - pad + t >= in) h--;
    *lo = l;
    *hi = h;
}

/* Output row oh (OW values, into yr) of the conv of x (C, H, W) by one
 * channel's weights w (C, KH, KW), stride s, padding p: yr is the
 * accumulator; every tap adds into the valid part of the row, so each
 * output sums its taps in (c, kh, kw) order with fmaf (padding taps
 * skipped) while the loop over ow, innermost, vectorises. Then
 * yr = epi(acc + bias) for channel r. */
static inline void tern_pt_dconv_row(const float *x, int C, int H, int W, int KH, int KW, int s, int p,
                                     const float *w, float bias, const tern_epilogue *e, int r, int oh, int OW,
                                     float *yr) {
    for (int ow = 0; ow < OW; ow++) yr[ow] = 0.0f;
    for (int c = 0; c < C; c++)
        for (int kh = 0; kh < KH; kh++) {
            const int ih = oh * s - p + kh;
            if (ih < 0 || ih >= H) continue;
            const float *xr = x + ((size_t)c * H + ih) * W;  /* (W) */
            for (int kw = 0; kw < KW; kw++) {
                const float wt = w[((size_t)c * KH + kh) * KW + kw];
                int lo, hi;
                tern_pt_tap_range(kw, s, p, W, OW, &lo, &hi);
                for (int ow = lo; ow < hi; ow++) yr[ow] = fmaf(wt, xr[ow * s - p + kw], yr[ow]);
            }
        }
    for (int ow = 0; ow < OW; ow++) yr[ow] = tern_pt_epi_apply(e, r, yr[ow] + bias);
}

/* ---- pools: one window -------------------------------------------------- */

/* The part [lo, hi) of a window starting at `start` (may be negative) of
 * length k that lies inside [0, size). */
static inline void tern_pt_clip(int start, int k, int size, int *lo, int *hi) {
    *lo = start < 0 ? 0 : start;
    *hi = start + k > size ? size : start + k;
}

/* Max of the window rows [h0, h1) x columns [w0, w1) of a plane (row length
 * W), *best_out its index: first maximum in row-major order wins ties, the
 * first NaN wins over numbers (as PyTorch). Compare-and-select, no branch
 * on the data. */
static inline float tern_pt_window_max(const float *xp, int W, int h0, int h1, int w0, int w1, int32_t *best_out) {
    int32_t best = h0 * W + w0, nan_at = -1;
    float m = xp[best];
    for (int h = h0; h < h1; h++)
        for (int w = w0; w < w1; w++) {
            const int32_t at = h * W + w;
            const float v = xp[at];
            const int gt = v > m; /* false for a NaN v, and always once m is NaN */
            m = gt ? v : m;
            best = gt ? at : best;
            nan_at = ((v != v) & (nan_at < 0)) ? at : nan_at;
        }
    best = nan_at >= 0 ? nan_at : best;
    *best_out = best;
    return xp[best];
}

/* Average of the window rows [h0, h1) x columns [w0, w1): summed in
 * row-major order, times inv = 1/(k k) (zero padding counts in the divisor). */
static inline float tern_pt_window_avg(const float *xp, int W, int h0, int h1, int w0, int w1, float inv) {
    float sum = 0.0f;
    for (int h = h0; h < h1; h++)
        for (int w = w0; w < w1; w++) sum += xp[h * W + w];
    return sum * inv;
}

/* ---- input ---------------------------------------------------------------- */

/* A pixel byte as the model's input: (p/255 - mean) / std. */
static inline float tern_pt_normalize(uint8_t p, float mean, float std) {
    return ((float)p / 255.0f - mean) / std;
}

#endif
