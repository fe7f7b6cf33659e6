/* fp32_avx512.c — the AVX-512 twins of the 2x2 stride-2 maxpool without
 * argmax (fp32.h, tern_kernel_maxpool2x2_f32_ref) and of col2im for small
 * valid convs (the end of the file).
 *
 * Lanes are 16 outputs of one output row. Each input row's 32 floats under
 * them are split into even and odd columns by two permutes, then the
 * scalar twin's tree runs lane by lane: pair_max(pair_max(a, b),
 * pair_max(c, d)), each pair_max the same select (x when x is NaN, else y
 * when y is NaN or larger, else x) as two compares and a blend, so the two
 * agree bit for bit: the same NaN, the same zero. The row's tail is one
 * masked chunk; masked loads touch no masked-off lane's address. */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/x86/fp32_avx512.h"

/* The winner of x and y in scan order, x first, lane by lane. */
static inline __m512 pair_max(__m512 x, __m512 y) {
    const __mmask16 x_num = _mm512_cmp_ps_mask(x, x, _CMP_ORD_Q);
    const __mmask16 take_y = _mm512_mask_cmp_ps_mask(x_num, y, x, _CMP_NLE_UQ); /* y > x or y NaN */
    return _mm512_mask_blend_ps(take_y, x, y);
}

/* pair_max of the columns (2i, 2i+1) of the 32 floats at r, i = 0..15,
 * loading the halves under masks lo and hi. */
static inline __m512 row_pairs(const float *r, __mmask16 lo, __mmask16 hi) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512 a = _mm512_maskz_loadu_ps(lo, r), b = _mm512_maskz_loadu_ps(hi, r + 16);
    return pair_max(_mm512_permutex2var_ps(a, even, b), _mm512_permutex2var_ps(a, odd, b));
}

/* The same for short rows, W = 2 OW with OW dividing 16 (LeNet-5's 8x8
 * planes): row pairs then lie end to end, each output reading 4 floats, so
 * 16 outputs are the next 64 floats whatever the rows. The horizontal
 * winners of 2 vectors are split into their top and bottom rows by two more
 * permutes, and one chunk serves 16 / OW row pairs instead of a mostly
 * masked chunk each. */
static void pool_short_rows(const float *x, size_t n, int OW, float *y) {
    int32_t top[16], bottom[16];
    for (int l = 0; l < 16; l++) top[l] = l / OW * 2 * OW + l % OW, bottom[l] = top[l] + OW;
    const __m512i it = _mm512_loadu_si512(top), ib = _mm512_loadu_si512(bottom);
    for (size_t o = 0; o < n; o += 16) {
        const size_t left = 4 * (n - o); /* floats still to read */
        __mmask16 m[4];
        for (int j = 0; j < 4; j++)
            m[j] = left >= 16 * (size_t)(j + 1) ? 0xffff
                   : left > 16 * (size_t)j   ? (__mmask16)((1u << (left - 16 * (size_t)j)) - 1)
                                             : 0;
        const __m512 h0 = row_pairs(x + 4 * o, m[0], m[1]), h1 = row_pairs(x + 4 * o + 32, m[2], m[3]);
        const __m512 v = pair_max(_mm512_permutex2var_ps(h0, it, h1), _mm512_permutex2var_ps(h0, ib, h1));
        _mm512_mask_storeu_ps(y + o, n - o >= 16 ? 0xffff : (__mmask16)((1u << (n - o)) - 1), v);
    }
}

void tern_kernel_maxpool2x2_f32_avx512(const float *x, int W, size_t pairs, int OW, float *y) {
    if (W == 2 * OW && OW < 16 && 16 % OW == 0) {
        pool_short_rows(x, pairs * (size_t)OW, OW, y);
        return;
    }
    const int n = OW % 16; /* the tail: n outputs read 2n floats of each row */
    const __mmask16 tail = (__mmask16)((1u << n) - 1);
    const __mmask16 lo = n >= 8 ? 0xffff : (__mmask16)((1u << 2 * n) - 1);
    const __mmask16 hi = n > 8 ? (__mmask16)((1u << (2 * n - 16)) - 1) : 0;
    for (size_t q = 0; q < pairs; q++) {
        const float *r0 = x + 2 * q * (size_t)W, *r1 = r0 + W;
        float *yr = y + q * (size_t)OW;
        int ow = 0;
        for (; ow + 16 <= OW; ow += 16)
            _mm512_storeu_ps(yr + ow, pair_max(row_pairs(r0 + 2 * ow, 0xffff, 0xffff),
                                               row_pairs(r1 + 2 * ow, 0xffff, 0xffff)));
        if (n)
            _mm512_mask_storeu_ps(yr + ow, tail, pair_max(row_pairs(r0 + 2 * ow, lo, hi), row_pairs(r1 + 2 * ow, lo, hi)));
    }
}

/* col2im, stride 1, no padding, image rows of W <= 16: one vector holds a
 * row of dx, loaded once; the KW column rows that add into it (kernel row
 * kh, output row oh = h - kh) each land shifted by kw lanes under a mask,
 * in kw order, then the row is stored once. The scalar twin, row by row of
 * dcol, made every add wait on the store of the one before (shifted runs of
 * the same row: store forwarding fails), at the same order per pixel. */
void tern_kernel_col2im_add_valid16_f32_avx512(const float *dcol, size_t ld, int C, int H, int W, int KH, int KW,
                                               int OH, int OW, float *dx) {
    const __mmask16 wm = (__mmask16)((1u << W) - 1), om = (__mmask16)((1u << OW) - 1);
    for (int ch = 0; ch < C; ch++)
        for (int kh = 0; kh < KH; kh++) {
            const float *rows = dcol + (size_t)(ch * KH + kh) * KW * ld; /* KW rows (OH,OW), ld apart */
            for (int oh = 0; oh < OH; oh++) {
                float *d = dx + ((size_t)ch * H + (size_t)(oh + kh)) * W;
                __m512 acc = _mm512_maskz_loadu_ps(wm, d);
                for (int kw = 0; kw < KW; kw++) {
                    const __mmask16 m = (__mmask16)(om << kw); /* lane kw + l gets entry l */
                    const float *src = rows + (size_t)kw * ld + (size_t)oh * OW;
                    acc = _mm512_mask_add_ps(acc, m, acc, _mm512_maskz_loadu_ps(m, src - kw));
                }
                _mm512_mask_storeu_ps(d, wm, acc);
            }
        }
}
