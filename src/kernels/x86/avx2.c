/* avx2.c — AVX2 ternary GEMMs, one t2 block (32 bytes, 128 weights) per step.
 *
 * Int8: as in avx512.c the codes c = w + 1 in {0,1,2} are the unsigned
 * operand and q the signed one, here of vpmaddubsw: each 16-bit lane gets
 * c0*q0 + c1*q1, at most 2*2*127 = 508, so its saturation never triggers;
 * the four shifts of a block add up to at most 2032 before vpmaddwd widens
 * them to int32. D = sum(c*q) - qsum; for TTQ scales the "is +1" bit
 * (c >> 1) gives P the same way, and N = P - D.
 *
 * Fp32: for each byte widened to a 32-bit lane, the code's low bit (zero
 * weight) and high bit (+1 weight) are shifted into the sign bit and spread
 * into masks; x is added where +1 and subtracted where -1 by and/xor on the
 * sign bit, never multiplied, so a zero weight never touches its activation. */
#include <float.h>
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels_impl.h"

#define AI static inline __attribute__((always_inline))

static inline int32_t hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---- activation quantization ------------------------------------------------
 * The same arithmetic as tern_kq_quantize_ref (see avx512.c); 32 values per
 * step, the ragged end through the scalar reference's own loop body. */
static int avx2_quantize(const float *x, int k, int8_t *q, float *sx, int32_t *qsum) {
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), big = _mm256_set1_ps(FLT_MAX);
    __m256 vmax = _mm256_setzero_ps();
    int bad = 0, i = 0;
    for (; i + 8 <= k; i += 8) {
        __m256 a = _mm256_and_ps(_mm256_loadu_ps(x + i), absm);
        bad |= _mm256_movemask_ps(_mm256_cmp_ps(a, big, _CMP_NLE_UQ));   /* Inf, or NaN (unordered) */
        vmax = _mm256_max_ps(vmax, a);
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float amax = _mm_cvtss_f32(m4);
    for (; i < k; i++) {
        float a = fabsf(x[i]);
        bad |= !(a <= FLT_MAX);
        amax = a > amax ? a : amax;
    }
    if (bad) return -1;
    if (amax < TERN_KQ_AMAX_MIN) {
        memset(q, 0, (size_t)k);
        *sx = 0.0f;
        *qsum = 0;
        return 0;
    }
    const float invs = 127.0f / amax;
    const __m256 inv = _mm256_set1_ps(invs);
    const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i sum = _mm256_setzero_si256();
    i = 0;
    for (; i + 32 <= k; i += 32) {
        __m256i v[4];
        for (int t = 0; t < 4; t++) {
            v[t] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * t), inv));
            v[t] = _mm256_min_epi32(_mm256_max_epi32(v[t], lo), hi);
            sum = _mm256_add_epi32(sum, v[t]);
        }
        /* The packs work per 128-bit lane; the permute restores k order. */
        __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
        _mm256_storeu_si256((__m256i *)(q + i), _mm256_permutevar8x32_epi32(b, order));
    }
    int32_t total = hsum_epi32(sum);
    for (; i < k; i++) {
        float v = rintf(x[i] * invs);
        v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
        q[i] = (int8_t)v;
        total += q[i];
    }
    *sx = amax / 127.0f;
    *qsum = total;
    return 0;
}

/* ---- int8 ------------------------------------------------------------------ */

AI void q_tile(const tern_kq_job *j, int r0, int i0, const int R, const int S, const int asym) {
    const tern_packed *w = j->w;
    const int nb = w->kblocks;
    const __m256i m3 = _mm256_set1_epi8(3), m1 = _mm256_set1_epi8(1), ones = _mm256_set1_epi16(1);
    __m256i acc[4][2], accp[4][2];
    const uint8_t *wr[4];
    const int8_t *xs[2];
    const size_t bs = tern_t2_tile(w, r0, R, wr); /* block b of row r0 + r at wr[r] + b*bs */
    for (int s = 0; s < S; s++) xs[s] = j->q + (size_t)(i0 + s) * j->ldq;
    for (int r = 0; r < R; r++)
        for (int s = 0; s < S; s++) acc[r][s] = accp[r][s] = _mm256_setzero_si256();

    for (int b = 0; b < nb; b++) {
        __m256i wv[4], t[4][2], tp[4][2];
        for (int r = 0; r < R; r++) {
            wv[r] = _mm256_loadu_si256((const __m256i *)(wr[r] + (size_t)b * bs));
            for (int s = 0; s < S; s++) t[r][s] = tp[r][s] = _mm256_setzero_si256();
        }
        for (int sh = 0; sh < 4; sh++) {
            __m256i xv[2];
            for (int s = 0; s < S; s++)
                xv[s] = _mm256_loadu_si256((const __m256i *)(xs[s] + (size_t)b * TERN_T2_BLOCK + 32 * sh));
            for (int r = 0; r < R; r++) {
                __m256i c = _mm256_and_si256(_mm256_srli_epi16(wv[r], 2 * sh), m3);
                for (int s = 0; s < S; s++) t[r][s] = _mm256_add_epi16(t[r][s], _mm256_maddubs_epi16(c, xv[s]));
                if (asym) {
                    __m256i pc = _mm256_and_si256(_mm256_srli_epi16(wv[r], 2 * sh + 1), m1);
                    for (int s = 0; s < S; s++)
                        tp[r][s] = _mm256_add_epi16(tp[r][s], _mm256_maddubs_epi16(pc, xv[s]));
                }
            }
        }
        for (int r = 0; r < R; r++)
            for (int s = 0; s < S; s++) {
                acc[r][s] = _mm256_add_epi32(acc[r][s], _mm256_madd_epi16(t[r][s], ones));
                if (asym) accp[r][s] = _mm256_add_epi32(accp[r][s], _mm256_madd_epi16(tp[r][s], ones));
            }
    }
    for (int r = 0; r < R; r++)
        for (int s = 0; s < S; s++) {
            int i = i0 + s;
            int32_t d = hsum_epi32(acc[r][s]) - j->qsum[i];
            int32_t p = asym ? hsum_epi32(accp[r][s]) : 0;
            tern_kq_store(j, r0 + r, i, d, p);
        }
}

#define Q_TILE(R, S, A) \
    static void q_tile_##R##_##S##_##A(const tern_kq_job *j, int r0, int i0) { q_tile(j, r0, i0, R, S, A); }
Q_TILE(4, 1, 0)
Q_TILE(2, 2, 0)
Q_TILE(1, 2, 0)
Q_TILE(2, 1, 0)
Q_TILE(1, 1, 0)
Q_TILE(2, 1, 1)
Q_TILE(1, 1, 1)

static void avx2_gemm_i8(const tern_kq_job *j) {
    tern_q_tiles t;
    if (j->w->symmetric) {
        if (j->n < 2) t = (tern_q_tiles){4, 1, q_tile_4_1_0, q_tile_1_1_0, q_tile_4_1_0, q_tile_1_1_0};
        else t = (tern_q_tiles){2, 2, q_tile_2_2_0, q_tile_1_2_0, q_tile_2_1_0, q_tile_1_1_0};
    } else {
        t = (tern_q_tiles){2, 1, q_tile_2_1_1, q_tile_1_1_1, q_tile_2_1_1, q_tile_1_1_1};
    }
    TERN_TILE_LOOP(j, j->w->rows, j->n, t);
}

/* ---- fp32 ------------------------------------------------------------------ */

AI void f_tile(const tern_kf_job *j, int r0, int i0, const int R, const int S, const int asym) {
    const tern_packed *w = j->w;
    const int nb = w->kblocks;
    const __m256i sign = _mm256_set1_epi32((int)0x80000000u);
    /* acc: D (symmetric) or P; accn: N. */
    __m256 acc[2][2], accn[2][2];
    const uint8_t *wr[2];
    const float *xs[2];
    const size_t bs = tern_t2_tile(w, r0, R, wr); /* block b of row r0 + r at wr[r] + b*bs */
    for (int s = 0; s < S; s++) xs[s] = j->x + (size_t)(i0 + s) * j->ldx;
    for (int r = 0; r < R; r++)
        for (int s = 0; s < S; s++) acc[r][s] = accn[r][s] = _mm256_setzero_ps();

    for (int b = 0; b < nb; b++) {
        /* Bytes 8g..8g+7 of the block hold weights 32*sh + 8g .. +7. */
        for (int g = 0; g < 4; g++) {
            __m256i e[2];
            for (int r = 0; r < R; r++)
                e[r] = _mm256_cvtepu8_epi32(
                    _mm_loadl_epi64((const __m128i *)(wr[r] + (size_t)b * bs + 8 * g)));
            for (int sh = 0; sh < 4; sh++) {
                __m256 xv[2];
                for (int s = 0; s < S; s++) xv[s] = _mm256_loadu_ps(xs[s] + (size_t)b * TERN_T2_BLOCK + 32 * sh + 8 * g);
                for (int r = 0; r < R; r++) {
                    /* All ones where the weight is 0 (code bit 0) / +1 (code bit 1). */
                    __m256 zm = _mm256_castsi256_ps(_mm256_srai_epi32(_mm256_slli_epi32(e[r], 31 - 2 * sh), 31));
                    __m256 pm = _mm256_castsi256_ps(_mm256_srai_epi32(_mm256_slli_epi32(e[r], 30 - 2 * sh), 31));
                    if (asym) {
                        __m256 nm = _mm256_castsi256_ps(
                            _mm256_xor_si256(_mm256_castps_si256(_mm256_or_ps(zm, pm)), _mm256_set1_epi32(-1)));
                        for (int s = 0; s < S; s++) {
                            acc[r][s] = _mm256_add_ps(acc[r][s], _mm256_and_ps(pm, xv[s]));
                            accn[r][s] = _mm256_add_ps(accn[r][s], _mm256_and_ps(nm, xv[s]));
                        }
                    } else {
                        /* x where +1, -x where -1, -0 where 0: flip the sign unless +1. */
                        __m256 flip = _mm256_andnot_ps(pm, _mm256_castsi256_ps(sign));
                        for (int s = 0; s < S; s++)
                            acc[r][s] = _mm256_add_ps(acc[r][s], _mm256_xor_ps(_mm256_andnot_ps(zm, xv[s]), flip));
                    }
                }
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int s = 0; s < S; s++) {
            int i = i0 + s;
            float v = asym ? tern_kf_out_asym(w, r0 + r, hsum_ps(acc[r][s]), hsum_ps(accn[r][s]), j->bias)
                           : tern_kf_out_sym(w, r0 + r, hsum_ps(acc[r][s]), j->bias);
            tern_kf_store(j, r0 + r, i, v);
        }
}

#define F_TILE(R, S, A) \
    static void f_tile_##R##_##S##_##A(const tern_kf_job *j, int r0, int i0) { f_tile(j, r0, i0, R, S, A); }
F_TILE(2, 2, 0)
F_TILE(1, 2, 0)
F_TILE(2, 1, 0)
F_TILE(1, 1, 0)
F_TILE(2, 2, 1)
F_TILE(1, 2, 1)
F_TILE(2, 1, 1)
F_TILE(1, 1, 1)

static void avx2_gemm_f32(const tern_kf_job *j) {
    tern_f_tiles t;
    if (j->w->symmetric) t = (tern_f_tiles){2, 2, f_tile_2_2_0, f_tile_1_2_0, f_tile_2_1_0, f_tile_1_1_0};
    else t = (tern_f_tiles){2, 2, f_tile_2_2_1, f_tile_1_2_1, f_tile_2_1_1, f_tile_1_1_1};
    TERN_TILE_LOOP(j, j->w->rows, j->n, t);
}

/* ---- zero-skipping ------------------------------------------------------------ */

#define SP_VB 32
#define SP_V 2
#define SP_PREFIX sp256_
#include "kernels/x86/sparse_simd.h"

const tern_kernel_ops tern_kernel_ops_avx2 = {
    .name = "avx2",
    .quantize = avx2_quantize,
    .gemm_i8 = avx2_gemm_i8,
    .gemm_f32 = avx2_gemm_f32,
    .sparse_i8 = sp256_sparse_i8,
    .sparse_f32 = sp256_sparse_f32,
};
