/* qconv_avx2.c — the direct int8 ternary conv (kernels/qconv.h) on AVX2.
 *
 * A 16-channel group's 64 weight bytes are two ymm halves of 8 channels x 4
 * input channels. vpmaddubsw multiplies the unsigned codes (<= 2) by the
 * broadcast int8 activations (|q| <= 127) and adds pairs, at most 508 in
 * magnitude, so it never saturates; vpmaddwd by ones adds the pairs into the
 * 8 int32 lanes. A tile is one group x NP (up to 4) positions: 8
 * accumulators sharing the two weight loads. The epilogue is qconv_ref's,
 * lane-wise, in the same operations and order (bit-identical y); the 8
 * channels of a half go to their (M, OH, OW) rows through a small buffer. */
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels_impl.h"
#include "kernels/qconv_impl.h"

#define AI static inline __attribute__((always_inline))

/* y of channels r0 .. r0+7 (those below M) at position p, from acc. */
AI void store_out(const tern_qconv_job *j, int r0, int p, __m256i acc) {
    const tern_qconv *c = j->c;
    const tern_epilogue *e = j->e;
    const int left = c->m - r0;
    if (left <= 0) return;
    const __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256i d = _mm256_sub_epi32(acc, _mm256_set1_epi32(j->psum[p]));
    const __m256 s = _mm256_mul_ps(_mm256_maskload_ps(c->w->wp + r0, live), _mm256_set1_ps(j->sx));
    const __m256 b = j->bias ? _mm256_maskload_ps(j->bias + r0, live) : _mm256_setzero_ps();
    __m256 y = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), s, b);
    if (e->center) {
        y = _mm256_sub_ps(y, _mm256_maskload_ps(e->center + r0, live));
        y = _mm256_mul_ps(y, _mm256_maskload_ps(e->scale + r0, live));
        y = _mm256_add_ps(y, _mm256_maskload_ps(e->shift + r0, live));
    }
    if (e->act == TERN_EPI_RELU) {
        const __m256 z = _mm256_setzero_ps();
        y = _mm256_blendv_ps(y, z, _mm256_cmp_ps(y, z, _CMP_LT_OQ));
    } else if (e->act == TERN_EPI_HARDTANH) {
        const __m256 lo = _mm256_set1_ps(-1.0f), hi = _mm256_set1_ps(1.0f);
        y = _mm256_blendv_ps(y, lo, _mm256_cmp_ps(y, lo, _CMP_LT_OQ));
        y = _mm256_blendv_ps(y, hi, _mm256_cmp_ps(y, hi, _CMP_GT_OQ));
    }
    float out[8];
    _mm256_storeu_ps(out, y);
    const size_t P = (size_t)c->oh * c->ow;
    for (int l = 0; l < 8 && l < left; l++) j->y[(size_t)(r0 + l) * P + p] = out[l];
}

/* Group g at positions p0 .. p0+NP-1 over every tap and quad. */
AI void tile(const tern_qconv_job *j, int g, int p0, const int NP) {
    const tern_qconv *c = j->c;
    const tern_conv2d_geom *gm = &c->g;
    const size_t Cp = 4 * (size_t)c->cq, rowb = (size_t)c->wpad * Cp;
    const int8_t *base[4];
    for (int i = 0; i < NP; i++) base[i] = tern_qconv_at(j, p0 + i);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i lo[4], hi[4];
    for (int i = 0; i < NP; i++) lo[i] = hi[i] = _mm256_setzero_si256();
    const uint8_t *wt = c->wc + (size_t)g * c->gstride;
    for (int ky = 0; ky < gm->kh; ky++)
        for (int kx = 0; kx < gm->kw; kx++) {
            const size_t off = ky * rowb + kx * Cp;
            for (int qd = 0; qd < c->cq; qd++, wt += 64) {
                const __m256i w0 = _mm256_load_si256((const __m256i *)wt);
                const __m256i w1 = _mm256_load_si256((const __m256i *)(wt + 32));
                for (int i = 0; i < NP; i++) {
                    int32_t a4;
                    memcpy(&a4, base[i] + off + 4 * (size_t)qd, 4);
                    const __m256i a = _mm256_set1_epi32(a4);
                    lo[i] = _mm256_add_epi32(lo[i], _mm256_madd_epi16(_mm256_maddubs_epi16(w0, a), ones));
                    hi[i] = _mm256_add_epi32(hi[i], _mm256_madd_epi16(_mm256_maddubs_epi16(w1, a), ones));
                }
            }
        }
    for (int i = 0; i < NP; i++) {
        store_out(j, g * TERN_QCONV_LANES, p0 + i, lo[i]);
        store_out(j, g * TERN_QCONV_LANES + 8, p0 + i, hi[i]);
    }
}

static void tile_4(const tern_qconv_job *j, int g, int p0) { tile(j, g, p0, 4); }
static void tile_3(const tern_qconv_job *j, int g, int p0) { tile(j, g, p0, 3); }
static void tile_2(const tern_qconv_job *j, int g, int p0) { tile(j, g, p0, 2); }
static void tile_1(const tern_qconv_job *j, int g, int p0) { tile(j, g, p0, 1); }
static void (*const tiles[4])(const tern_qconv_job *, int, int) = {tile_1, tile_2, tile_3, tile_4};

void tern_qconv_avx2(const tern_qconv_job *j) {
    const tern_qconv *c = j->c;
    const int P = c->oh * c->ow;
    for (int p0 = 0; p0 < P; p0 += 4) {
        const int np = P - p0 < 4 ? P - p0 : 4;
        for (int g = 0; g < c->groups; g++) tiles[np - 1](j, g, p0);
    }
}
