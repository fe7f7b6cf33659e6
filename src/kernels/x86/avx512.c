/* avx512.c — AVX-512 (F/BW/VL/DQ + VNNI) ternary GEMMs.
 *
 * Int8: the 2-bit codes c = w + 1 in {0,1,2} are the unsigned operand of
 * vpdpbusd and the int8 activations q the signed one, so each instruction
 * adds 64 products c*q (at most 2*127) into 16 int32 lanes, exactly. Then
 *     sum(c*q) = sum(w*q) + sum(q)   =>   D = sum(c*q) - qsum,
 * with qsum computed once per sample when it was quantized. For TTQ scales
 * a second vpdpbusd with the "is +1" bit (c >> 1) gives P; N = P - D.
 *
 * Block b of two neighbouring rows is 64 contiguous bytes in the tile
 * order (tern/kernels.h), so one zmm load holds it: after a shift by 2*sh
 * and a mask, lane j < 32 holds the code of weight 32*sh + j of the first
 * row and lane 32 + j that of the second; the matching 32 activations are
 * one load broadcast to both halves. Each accumulator then sums two rows,
 * one per 256-bit half. A tile of one row loads its block into the low half
 * and leaves the high half zero.

 * Fp32: per block and shift, vpcmpeqb gives 32-bit masks of the +1 and -1
 * weights; masked adds and subtracts apply them to 16 floats at a time, so
 * this path also only adds and subtracts (a zero weight never touches its
 * activation, as in the reference).
 *
 * Register tiles: R rows x S samples share each weight decode and each
 * activation load. */
#include <float.h>
#include <immintrin.h>
#include <string.h>

#include "kernels/kernels_impl.h"

#define AI static inline __attribute__((always_inline))

/* ---- activation quantization ------------------------------------------------
 * The same arithmetic as tern_kq_quantize_ref: max is exact in any order,
 * inv = 127/amax is the same one division, x*inv the same rounded product,
 * and vcvtps2dq rounds half to even like rintf (both follow MXCSR). The
 * ragged end uses masked loads and stores. */
static int avx512_quantize(const float *x, int k, int8_t *q, float *sx, int32_t *qsum) {
    const __m512 absm = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff)), big = _mm512_set1_ps(FLT_MAX);
    __m512 vmax = _mm512_setzero_ps();
    __mmask16 bad = 0;
    for (int i = 0; i < k; i += 16) {
        __mmask16 m = k - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (k - i)) - 1);
        __m512 a = _mm512_and_ps(_mm512_maskz_loadu_ps(m, x + i), absm);
        bad |= _mm512_cmp_ps_mask(a, big, _CMP_NLE_UQ);   /* Inf, or NaN (unordered) */
        vmax = _mm512_max_ps(vmax, a);
    }
    if (bad) return -1;
    float amax = _mm512_reduce_max_ps(vmax);
    if (amax < TERN_KQ_AMAX_MIN) {
        memset(q, 0, (size_t)k);
        *sx = 0.0f;
        *qsum = 0;
        return 0;
    }
    const __m512 inv = _mm512_set1_ps(127.0f / amax);
    const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
    __m512i sum = _mm512_setzero_si512();
    for (int i = 0; i < k; i += 16) {
        __mmask16 m = k - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (k - i)) - 1);
        __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
        v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
        _mm512_mask_cvtepi32_storeu_epi8(q + i, m, v);
        sum = _mm512_add_epi32(sum, v);   /* masked-off lanes loaded 0, so add 0 */
    }
    *sx = amax / 127.0f;
    *qsum = _mm512_reduce_add_epi32(sum);
    return 0;
}

/* ---- int8 ------------------------------------------------------------------ */

/* Activations for shift sh of block b, in both 256-bit halves. */
AI __m512i q_bcast(const int8_t *x, int b, int sh) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(x + (size_t)b * TERN_T2_BLOCK + 32 * sh)));
}

AI int32_t hsum256_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

/* Lane r = the sum of row r0 + r, r < 8, from the accumulators a[q][s] of
 * row pairs (2q low half, 2q + 1 high half): one transposed reduction
 * instead of 8 (exact: int32 sums in any order). */
AI __m256i hsum8_epi32(__m512i a[4][4], int s) {
    __m256i h[8];
    for (int q = 0; q < 4; q++) {
        h[2 * q] = _mm512_castsi512_si256(a[q][s]);
        h[2 * q + 1] = _mm512_extracti64x4_epi64(a[q][s], 1);
    }
    /* hadd pairs within 128-bit lanes: u0 = rows 0..3, u1 = rows 4..7, low | high halves. */
    __m256i u0 = _mm256_hadd_epi32(_mm256_hadd_epi32(h[0], h[1]), _mm256_hadd_epi32(h[2], h[3]));
    __m256i u1 = _mm256_hadd_epi32(_mm256_hadd_epi32(h[4], h[5]), _mm256_hadd_epi32(h[6], h[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(u0, u1, 0x20), _mm256_permute2x128_si256(u0, u1, 0x31));
}

/* tern_kq_store of rows r0..r0+7 of sample i, 8 lanes at once, the same
 * operations in the same order (tern_kq_out, then tern_epi_apply), so the
 * same bits; the operand order of max/min keeps a NaN as the scalar code
 * does. d = P - N, p = P (asymmetric only). Rows not contiguous in y: the
 * scalar store. */
AI void store8(const tern_kq_job *j, int r0, int i, __m256i d, __m256i p, const int asym) {
    const tern_packed *w = j->w;
    if (j->yr != 1) {
        int32_t dv[8], pv[8];
        _mm256_storeu_si256((__m256i *)dv, d);
        _mm256_storeu_si256((__m256i *)pv, p);
        for (int r = 0; r < 8; r++) tern_kq_store(j, r0 + r, i, dv[r], pv[r]);
        return;
    }
    const __m256 sx = _mm256_set1_ps(j->sx[i]);
    const __m256 b = j->bias ? _mm256_loadu_ps(j->bias + r0) : _mm256_setzero_ps();
    const __m256 sp = _mm256_mul_ps(_mm256_loadu_ps(w->wp + r0), sx);
    __m256 y;
    if (!asym) {
        y = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d), sp, b);
    } else {
        const __m256 sn = _mm256_mul_ps(_mm256_loadu_ps(w->wn + r0), sx);
        y = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), sp,
                            _mm256_fnmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(p, d)), sn, b));
    }
    const tern_epilogue *e = j->epi;
    if (e && e->center)
        y = _mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(y, _mm256_loadu_ps(e->center + r0)), _mm256_loadu_ps(e->scale + r0)),
                          _mm256_loadu_ps(e->shift + r0));
    if (e && e->act == TERN_EPI_RELU) y = _mm256_max_ps(_mm256_setzero_ps(), y);   /* 0 > y ? 0 : y */
    else if (e && e->act == TERN_EPI_HARDTANH)
        y = _mm256_max_ps(_mm256_set1_ps(-1.0f), _mm256_min_ps(_mm256_set1_ps(1.0f), y));
    _mm256_storeu_ps(j->y + (size_t)i * j->ys + (size_t)r0, y);
}

/* R rows (8 or 1) x S samples. */
AI void q_tile(const tern_kq_job *j, int r0, int i0, const int R, const int S, const int asym) {
    const tern_packed *w = j->w;
    const int nb = w->kblocks, Q = (R + 1) / 2;   /* row pairs */
    const __m512i m3 = _mm512_set1_epi8(3), m1 = _mm512_set1_epi8(1);
    __m512i acc[4][4], accp[4][4];
    const uint8_t *wr[8];
    const int8_t *xs[4];
    const size_t bs = tern_t2_tile(w, r0, R, wr); /* block b of row r0 + r at wr[r] + b*bs */
    for (int s = 0; s < S; s++) xs[s] = j->q + (size_t)(i0 + s) * j->ldq;
    for (int q = 0; q < Q; q++)
        for (int s = 0; s < S; s++) acc[q][s] = accp[q][s] = _mm512_setzero_si512();

    for (int b = 0; b < nb; b++) {
        __m512i wv[4];
        for (int q = 0; q < Q; q++) {
            const uint8_t *p = wr[2 * q] + (size_t)b * bs;
            wv[q] = R == 1 ? _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)p))
                           : _mm512_loadu_si512(p);
        }
        for (int sh = 0; sh < 4; sh++) {
            __m512i xv[4];
            for (int s = 0; s < S; s++) xv[s] = q_bcast(xs[s], b, sh);
            for (int q = 0; q < Q; q++) {
                __m512i c = _mm512_and_si512(_mm512_srli_epi16(wv[q], 2 * sh), m3);
                for (int s = 0; s < S; s++) acc[q][s] = _mm512_dpbusd_epi32(acc[q][s], c, xv[s]);
                if (asym) {
                    __m512i pc = _mm512_and_si512(_mm512_srli_epi16(wv[q], 2 * sh + 1), m1);
                    for (int s = 0; s < S; s++) accp[q][s] = _mm512_dpbusd_epi32(accp[q][s], pc, xv[s]);
                }
            }
        }
    }
    if (R == 8 && S == 1) {
        /* The GEMV tile: 8 sums in one register, then 8 outputs at once. */
        const __m256i d = _mm256_sub_epi32(hsum8_epi32(acc, 0), _mm256_set1_epi32(j->qsum[i0]));
        store8(j, r0, i0, d, asym ? hsum8_epi32(accp, 0) : d, asym);
        return;
    }
    for (int r = 0; r < R; r++)
        for (int s = 0; s < S; s++) {
            const int i = i0 + s, q = r / 2;
            const __m256i a = r % 2 ? _mm512_extracti64x4_epi64(acc[q][s], 1) : _mm512_castsi512_si256(acc[q][s]);
            const __m256i ap = r % 2 ? _mm512_extracti64x4_epi64(accp[q][s], 1) : _mm512_castsi512_si256(accp[q][s]);
            tern_kq_store(j, r0 + r, i, hsum256_epi32(a) - j->qsum[i], asym ? hsum256_epi32(ap) : 0);
        }
}

#define Q_TILE(R, S, A) \
    static void q_tile_##R##_##S##_##A(const tern_kq_job *j, int r0, int i0) { q_tile(j, r0, i0, R, S, A); }
Q_TILE(8, 1, 0)
Q_TILE(8, 4, 0)
Q_TILE(1, 4, 0)
Q_TILE(1, 1, 0)
Q_TILE(8, 1, 1)
Q_TILE(8, 2, 1)
Q_TILE(1, 2, 1)
Q_TILE(1, 1, 1)

/* 8 rows per tile (a whole group: one sequential run of weights); with
 * several samples, 16 accumulators (4 row pairs x 4 samples, or x 2 samples
 * with P and D) keep vpdpbusd's latency hidden. */
static void avx512_gemm_i8(const tern_kq_job *j) {
    tern_q_tiles t;
    if (j->w->symmetric) {
        if (j->n < 4) t = (tern_q_tiles){8, 1, q_tile_8_1_0, q_tile_1_1_0, q_tile_8_1_0, q_tile_1_1_0};
        else t = (tern_q_tiles){8, 4, q_tile_8_4_0, q_tile_1_4_0, q_tile_8_1_0, q_tile_1_1_0};
    } else {
        if (j->n < 2) t = (tern_q_tiles){8, 1, q_tile_8_1_1, q_tile_1_1_1, q_tile_8_1_1, q_tile_1_1_1};
        else t = (tern_q_tiles){8, 2, q_tile_8_2_1, q_tile_1_2_1, q_tile_8_1_1, q_tile_1_1_1};
    }
    TERN_TILE_LOOP(j, j->w->rows, j->n, t);
}

/* ---- fp32 ------------------------------------------------------------------ */

AI void f_tile(const tern_kf_job *j, int r0, int i0, const int R, const int S, const int asym) {
    const tern_packed *w = j->w;
    const int nb = w->kblocks;
    const __m256i m3 = _mm256_set1_epi8(3), two = _mm256_set1_epi8(2), zero = _mm256_setzero_si256();
    /* acc: D (symmetric) or P; accn: N. Two accumulators per (r, s): lanes
     * of the first and second 16 weights of each 32. */
    __m512 acc[4][2][2], accn[4][2][2];
    const uint8_t *wr[4];
    const float *xs[2];
    const size_t bs = tern_t2_tile(w, r0, R, wr); /* block b of row r0 + r at wr[r] + b*bs */
    for (int s = 0; s < S; s++) xs[s] = j->x + (size_t)(i0 + s) * j->ldx;
    for (int r = 0; r < R; r++)
        for (int s = 0; s < S; s++)
            for (int h = 0; h < 2; h++) acc[r][s][h] = accn[r][s][h] = _mm512_setzero_ps();

    for (int b = 0; b < nb; b++) {
        __m256i wv[4];
        for (int r = 0; r < R; r++)
            wv[r] = _mm256_loadu_si256((const __m256i *)(wr[r] + (size_t)b * bs));
        for (int sh = 0; sh < 4; sh++) {
            __m512 xv[2][2];
            for (int s = 0; s < S; s++) {
                const float *p = xs[s] + (size_t)b * TERN_T2_BLOCK + 32 * sh;
                xv[s][0] = _mm512_loadu_ps(p);
                xv[s][1] = _mm512_loadu_ps(p + 16);
            }
            for (int r = 0; r < R; r++) {
                __m256i c = _mm256_and_si256(_mm256_srli_epi16(wv[r], 2 * sh), m3);
                __mmask32 kp = _mm256_cmpeq_epi8_mask(c, two), kn = _mm256_cmpeq_epi8_mask(c, zero);
                for (int s = 0; s < S; s++)
                    for (int h = 0; h < 2; h++) {
                        __mmask16 p16 = (__mmask16)(kp >> (16 * h)), n16 = (__mmask16)(kn >> (16 * h));
                        acc[r][s][h] = _mm512_mask_add_ps(acc[r][s][h], p16, acc[r][s][h], xv[s][h]);
                        if (asym) accn[r][s][h] = _mm512_mask_add_ps(accn[r][s][h], n16, accn[r][s][h], xv[s][h]);
                        else acc[r][s][h] = _mm512_mask_sub_ps(acc[r][s][h], n16, acc[r][s][h], xv[s][h]);
                    }
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int s = 0; s < S; s++) {
            int i = i0 + s;
            float a = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][s][0], acc[r][s][1]));
            if (asym) {
                float n = _mm512_reduce_add_ps(_mm512_add_ps(accn[r][s][0], accn[r][s][1]));
                tern_kf_store(j, r0 + r, i, tern_kf_out_asym(w, r0 + r, a, n, j->bias));
            } else {
                tern_kf_store(j, r0 + r, i, tern_kf_out_sym(w, r0 + r, a, j->bias));
            }
        }
}

#define F_TILE(R, S, A) \
    static void f_tile_##R##_##S##_##A(const tern_kf_job *j, int r0, int i0) { f_tile(j, r0, i0, R, S, A); }
F_TILE(4, 2, 0)
F_TILE(1, 2, 0)
F_TILE(4, 1, 0)
F_TILE(1, 1, 0)
F_TILE(2, 2, 1)
F_TILE(1, 2, 1)
F_TILE(2, 1, 1)
F_TILE(1, 1, 1)

static void avx512_gemm_f32(const tern_kf_job *j) {
    tern_f_tiles t;
    if (j->w->symmetric) t = (tern_f_tiles){4, 2, f_tile_4_2_0, f_tile_1_2_0, f_tile_4_1_0, f_tile_1_1_0};
    else t = (tern_f_tiles){2, 2, f_tile_2_2_1, f_tile_1_2_1, f_tile_2_1_1, f_tile_1_1_1};
    TERN_TILE_LOOP(j, j->w->rows, j->n, t);
}

/* ---- zero-skipping ------------------------------------------------------------ */

#define SP_VB 64
#define SP_V 4
#define SP_PREFIX sp512_
#include "kernels/x86/sparse_simd.h"

const tern_kernel_ops tern_kernel_ops_avx512 = {
    .name = "avx512",
    .quantize = avx512_quantize,
    .gemm_i8 = avx512_gemm_i8,
    .gemm_f32 = avx512_gemm_f32,
    .sparse_i8 = sp512_sparse_i8,
    .sparse_f32 = sp512_sparse_f32,
};
