/* qconv_avx512.c — the direct int8 ternary conv (kernels/qconv.h) on
 * AVX-512 VNNI.
 *
 * Lanes are 16 output channels. For each (tap, channel quad) a tile loads
 * one zmm of weight codes per group (16 channels x 4 input channels) and
 * broadcasts the 4 int8 activations of each output position (vpdpbusd's
 * 32-bit broadcast operand); G groups x NP positions (4 x 6 or 3 x 6 for
 * 48+ channels, 2 x 12 or 1 x 12 below: up to 24 accumulators) share those
 * loads, so a 32-channel conv reuses each broadcast for two groups and
 * each weight load for twelve positions. The epilogue is qconv_ref's, lane-wise,
 * in the same operations and order, so y is bit-identical: the int32 D
 * converted with the current rounding mode (as (float) is), wp*sx one
 * rounded product, one fused multiply-add, then the affine's three roundings
 * and the activation as compares and blends (NaN passes, -0 stays -0).
 *
 * Output: the 16 channels of one position are scattered into a block buffer
 * of PB positions per channel, copied out to the (M, OH, OW) rows once the
 * block is done. Scattered straight to rows P floats apart, the 16 stores
 * of a position fall into one L1 set whenever P is a multiple of 1024 (a
 * 32x32 image), and a conv there ran 4-7x slower than its arithmetic. */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels_impl.h"
#include "kernels/qconv_impl.h"

#define AI static inline __attribute__((always_inline))

#define PB 48   /* positions per output block: 8 tiles of 6, 3 cache lines per channel */

/* y of group g at position p from its accumulator, stored to its 16 rows
 * of the block buffer, lane l at dst + l * PB. */
AI void store_out(const tern_qconv_job *j, int g, int p, __m512i acc, __m512i vidx, float *dst) {
    const tern_qconv *c = j->c;
    const tern_epilogue *e = j->e;
    const int r0 = g * TERN_QCONV_LANES, left = c->m - r0;
    const __mmask16 live = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
    const __m512i d = _mm512_sub_epi32(acc, _mm512_set1_epi32(j->psum[p]));
    const __m512 s = _mm512_mul_ps(_mm512_maskz_loadu_ps(live, c->w->wp + r0), _mm512_set1_ps(j->sx));
    const __m512 b = j->bias ? _mm512_maskz_loadu_ps(live, j->bias + r0) : _mm512_setzero_ps();
    __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d), s, b);
    if (e->center) {
        y = _mm512_sub_ps(y, _mm512_maskz_loadu_ps(live, e->center + r0));
        y = _mm512_mul_ps(y, _mm512_maskz_loadu_ps(live, e->scale + r0));
        y = _mm512_add_ps(y, _mm512_maskz_loadu_ps(live, e->shift + r0));
    }
    if (e->act == TERN_EPI_RELU) {
        const __m512 z = _mm512_setzero_ps();
        y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(y, z, _CMP_LT_OQ), z);
    } else if (e->act == TERN_EPI_HARDTANH) {
        const __m512 lo = _mm512_set1_ps(-1.0f), hi = _mm512_set1_ps(1.0f);
        y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(y, lo, _CMP_LT_OQ), lo);
        y = _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(y, hi, _CMP_GT_OQ), hi);
    }
    _mm512_mask_i32scatter_ps(dst, live, vidx, y, 4);
}

/* Groups g0 .. g0+G-1 at positions p0 .. p0+NP-1 over every tap and quad,
 * into buf: (G * 16, PB) for the block from position b0. */
AI void tile(const tern_qconv_job *j, int g0, int p0, int b0, float *buf, const int G, const int NP, __m512i vidx) {
    const tern_qconv *c = j->c;
    const tern_conv2d_geom *gm = &c->g;
    const size_t Cp = 4 * (size_t)c->cq, rowb = (size_t)c->wpad * Cp;
    const int8_t *base[12];
    for (int i = 0; i < NP; i++) base[i] = tern_qconv_at(j, p0 + i);
    __m512i acc[4][12];
    for (int g = 0; g < G; g++)
        for (int i = 0; i < NP; i++) acc[g][i] = _mm512_setzero_si512();
    const uint8_t *wt = c->wc + (size_t)g0 * c->gstride;
    for (int ky = 0; ky < gm->kh; ky++)
        for (int kx = 0; kx < gm->kw; kx++) {
            const size_t off = ky * rowb + kx * Cp;
            for (int qd = 0; qd < c->cq; qd++, wt += 64) {
                __m512i wv[4];
                for (int g = 0; g < G; g++) wv[g] = _mm512_load_si512((const void *)(wt + (size_t)g * c->gstride));
                for (int i = 0; i < NP; i++) {
                    int32_t a4;
                    memcpy(&a4, base[i] + off + 4 * (size_t)qd, 4);
                    const __m512i a = _mm512_set1_epi32(a4);
                    for (int g = 0; g < G; g++) acc[g][i] = _mm512_dpbusd_epi32(acc[g][i], wv[g], a);
                }
            }
        }
    for (int g = 0; g < G; g++)
        for (int i = 0; i < NP; i++)
            store_out(j, g0 + g, p0 + i, acc[g][i], vidx, buf + (size_t)g * 16 * PB + (p0 + i - b0));
}

/* n <= PB floats of one block row out to y: inline masked moves, where a
 * memcpy call per row cost more than the copy. */
AI void copy_row(float *y, const float *row, int n) {
    for (int i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, k, _mm512_maskz_load_ps(k, row + i));
    }
}

typedef void (*tile_fn)(const tern_qconv_job *j, int g0, int p0, int b0, float *buf, __m512i vidx);
#define TILE(G, NP)                                                                                 \
    static void tile_##G##_##NP(const tern_qconv_job *j, int g0, int p0, int b0, float *buf, __m512i vidx) { \
        tile(j, g0, p0, b0, buf, G, NP, vidx);                                                      \
    }
#define TILES6(G) TILE(G, 1) TILE(G, 2) TILE(G, 3) TILE(G, 4) TILE(G, 5) TILE(G, 6)
#define TILES12(G) TILES6(G) TILE(G, 7) TILE(G, 8) TILE(G, 9) TILE(G, 10) TILE(G, 11) TILE(G, 12)
TILES12(1) TILES12(2) TILES6(3) TILES6(4)
#define ROW6(G) tile_##G##_1, tile_##G##_2, tile_##G##_3, tile_##G##_4, tile_##G##_5, tile_##G##_6
#define ROW12(G) {ROW6(G), tile_##G##_7, tile_##G##_8, tile_##G##_9, tile_##G##_10, tile_##G##_11, tile_##G##_12}
static const tile_fn tiles[4][12] = {ROW12(1), ROW12(2), {ROW6(3)}, {ROW6(4)}};

void tern_qconv_avx512(const tern_qconv_job *j) {
    const tern_qconv *c = j->c;
    const int P = c->oh * c->ow;
    float buf[4 * 16 * PB] __attribute__((aligned(64)));   /* (64 channels, PB positions) */
    const __m512i vidx = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(PB));
    for (int b0 = 0; b0 < P; b0 += PB) {
        const int nb = P - b0 < PB ? P - b0 : PB;
        for (int g0 = 0; g0 < c->groups; g0 += 4) {
            const int G = c->groups - g0 < 4 ? c->groups - g0 : 4;
            const int npmax = G <= 2 ? 12 : 6;   /* PB is a multiple of both */
            for (int p0 = b0; p0 < b0 + nb; p0 += npmax) {
                const int np = b0 + nb - p0 < npmax ? b0 + nb - p0 : npmax;
                tiles[G - 1][np - 1](j, g0, p0, b0, buf, vidx);
            }
            const int r1 = c->m < (g0 + G) * 16 ? c->m : (g0 + G) * 16;
            for (int r = g0 * 16; r < r1; r++) copy_row(j->y + (size_t)r * P + b0, buf + (size_t)(r - g0 * 16) * PB, nb);
        }
    }
}
