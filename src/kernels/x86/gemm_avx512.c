/* gemm_avx512.c — tern's fp32 GEMM on AVX-512: C = op(A) op(B) + beta C.
 *
 * Blocking, for the training step's shapes (M, N up to ~10^4, K up to ~10^4):
 *
 *   for each block of mc rows of C                    (mc <= A_BUF / kc)
 *     for each block of kc along K                     (kc <= KC, K split evenly)
 *       pack op(A)[mc rows, kc] into Ap                 (Ap, 128 KB: in L2)
 *       for each panel of NR = 32 columns of C
 *         pack op(B)[kc, 32 columns] into Bp            (Bp, kc x 32: in L1)
 *         for each MR = 8 rows of the block: the micro-kernel
 *
 * Layouts. Ap holds mc/8 panels one after the other; panel p is (kc, 8):
 *     Ap[p*8*kc + k*8 + i] = op(A)[i0 + 8p + i][k0 + k]      (0 past M)
 * Bp is (kc, 32):
 *     Bp[k*32 + j] = op(B)[k0 + k][j0 + j]                    (0 past N)
 * so the micro-kernel reads both strictly sequentially.
 *
 * Micro-kernel: an 8 x 32 tile of C in 16 zmm accumulators. Per k: two zmm
 * loads of Bp's row, eight broadcasts of Ap's column (folded into the FMAs
 * as {1to16} memory operands), 16 FMAs. 16 independent chains cover the FMA
 * latency of two pipes. The zero padding lets it always run the full tile;
 * it stores only the valid rows, and the valid columns with a k-mask.
 *
 * Packing. op(A) with A stored (K, M) (transA) and op(B) with B stored
 * (K, N) are row copies (masked loads at the edges). A stored (M, K) and B
 * stored (N, K) (transB) run along K in memory, so they are packed with
 * 16 x 16 in-register transposes: 16 rows x 16 k in, 16 k x 16 rows out
 * (for Ap the two 8-row halves of each k go to two neighbouring panels).
 *
 * beta: the first K block writes C = acc + beta C (beta 0: C is not read,
 * so NaN garbage cannot leak in); later K blocks add to it.
 *
 * The buffers are the caller's scratch (TERN_SGEMM_SCRATCH_BYTES, Ap then
 * Bp): no allocation here, and several threads run GEMMs at once, each
 * with its own scratch (the pool's per-thread block in the training ops). */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/sgemm.h"

#define AI static inline __attribute__((always_inline))

enum {
    MR = 8,              /* rows of C per micro-kernel */
    NR = 32,             /* columns of C per micro-kernel: two zmm */
    KC = 256,            /* most of K per block: Bp = KC x NR floats = 32 KB */
    A_BUF = 128 * KC,    /* floats of Ap: mc x kc <= 128 x 256 (128 KB) */
};

_Static_assert(TERN_SGEMM_SCRATCH_BYTES >= (A_BUF + KC * NR) * sizeof(float), "scratch holds Ap and Bp");

AI int imin(int a, int b) { return a < b ? a : b; }
AI __mmask16 lanes(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* r[i][j] -> r[j][i] for a 16 x 16 block of floats.
 * 1: unpacklo/hi interleave row pairs: in 128-bit lane L, u[2p] = (r2p[4L],
 *    r2p+1[4L], r2p[4L+1], r2p+1[4L+1]) and u[2p+1] the same for 4L+2, 4L+3.
 * 2: shuffle_ps 0x44/0xEE joins two of those: v[4q+c] lane L = column 4L+c,
 *    rows 4q..4q+3.
 * 3, 4: the result's row 4L+c, lane q, is v[4q+c]'s lane L: a 4 x 4
 *    transpose of 128-bit lanes over v[c], v[4+c], v[8+c], v[12+c], done by
 *    two rounds of shuffle_f32x4 taking even (0x88) or odd (0xDD) lanes. */
AI void transpose16(__m512 r[16]) {
    __m512 u[16], v[16];
    for (int p = 0; p < 8; p++) {
        u[2 * p] = _mm512_unpacklo_ps(r[2 * p], r[2 * p + 1]);
        u[2 * p + 1] = _mm512_unpackhi_ps(r[2 * p], r[2 * p + 1]);
    }
    for (int q = 0; q < 4; q++) {
        v[4 * q + 0] = _mm512_shuffle_ps(u[4 * q], u[4 * q + 2], 0x44);
        v[4 * q + 1] = _mm512_shuffle_ps(u[4 * q], u[4 * q + 2], 0xEE);
        v[4 * q + 2] = _mm512_shuffle_ps(u[4 * q + 1], u[4 * q + 3], 0x44);
        v[4 * q + 3] = _mm512_shuffle_ps(u[4 * q + 1], u[4 * q + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        __m512 w0 = _mm512_shuffle_f32x4(v[c], v[4 + c], 0x88);      /* lanes 0,2 of v[c], v[4+c] */
        __m512 w1 = _mm512_shuffle_f32x4(v[c], v[4 + c], 0xDD);      /* lanes 1,3 */
        __m512 w2 = _mm512_shuffle_f32x4(v[8 + c], v[12 + c], 0x88);
        __m512 w3 = _mm512_shuffle_f32x4(v[8 + c], v[12 + c], 0xDD);
        r[c] = _mm512_shuffle_f32x4(w0, w2, 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(w0, w2, 0xDD);
        r[4 + c] = _mm512_shuffle_f32x4(w1, w3, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(w1, w3, 0xDD);
    }
}

/* Load `rows` (<= 16) rows of 16 floats from src (row stride ld), the first
 * kn along K valid, zeros elsewhere, and transpose: r[k] = column k. */
AI void load_transpose(__m512 r[16], const float *src, size_t ld, int rows, int kn) {
    __mmask16 km = lanes(kn);
    for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_maskz_loadu_ps(km, src + i * ld) : _mm512_setzero_ps();
    transpose16(r);
}

/* Ap from A stored (M, K): rows i0.. (mb valid, padded to mbp), k0..k0+kc. */
static void pack_a_rows(float *Ap, const float *A, int lda, int i0, int mb, int mbp, int k0, int kc) {
    for (int p = 0; p < mbp; p += 16) {
        const float *src = A + (size_t)(i0 + p) * lda + k0;
        float *lo = Ap + (size_t)p * kc, *hi = lo + (size_t)MR * kc;   /* panels p/8 and p/8 + 1 */
        for (int k = 0; k < kc; k += 16) {
            __m512 r[16];
            int kn = imin(16, kc - k);
            load_transpose(r, src + k, (size_t)lda, mb - p, kn);
            for (int t = 0; t < kn; t++) _mm256_store_ps(lo + (k + t) * MR, _mm512_castps512_ps256(r[t]));
            if (p + MR < mbp)
                for (int t = 0; t < kn; t++) _mm256_store_ps(hi + (k + t) * MR, _mm512_extractf32x8_ps(r[t], 1));
        }
    }
}

/* Ap from A stored (K, M) (transA): each k's 8 rows are contiguous. */
static void pack_a_cols(float *Ap, const float *A, int lda, int i0, int mb, int mbp, int k0, int kc) {
    for (int p = 0; p < mbp; p += MR) {
        __mmask8 m = (__mmask8)lanes(mb - p);
        const float *src = A + (size_t)k0 * lda + i0 + p;
        float *dst = Ap + (size_t)p * kc;
        for (int k = 0; k < kc; k++) _mm256_store_ps(dst + k * MR, _mm256_maskz_loadu_ps(m, src + (size_t)k * lda));
    }
}

/* Bp from B stored (K, N): columns j0.. (nb valid), k0..k0+kc. */
static void pack_b_rows(float *Bp, const float *B, int ldb, int j0, int nb, int k0, int kc) {
    __mmask16 m0 = lanes(nb), m1 = lanes(nb - 16);
    const float *src = B + (size_t)k0 * ldb + j0;
    for (int k = 0; k < kc; k++, src += ldb) {
        _mm512_store_ps(Bp + k * NR, _mm512_maskz_loadu_ps(m0, src));
        _mm512_store_ps(Bp + k * NR + 16, _mm512_maskz_loadu_ps(m1, src + 16));
    }
}

/* Bp from B stored (N, K) (transB): 16 rows of B give 16 columns of Bp. */
static void pack_b_cols(float *Bp, const float *B, int ldb, int j0, int nb, int k0, int kc) {
    for (int g = 0; g < NR; g += 16) {
        const float *src = B + (size_t)(j0 + g) * ldb + k0;
        for (int k = 0; k < kc; k += 16) {
            __m512 r[16];
            int kn = imin(16, kc - k);
            load_transpose(r, src + k, (size_t)ldb, nb - g, kn);
            for (int t = 0; t < kn; t++) _mm512_store_ps(Bp + (k + t) * NR + g, r[t]);
        }
    }
}

/* C[0..mr, 0..32) (masked by m0, m1) = a (kc, 8) b (kc, 32) + beta C. */
static void kernel_8x32(int kc, const float *restrict a, const float *restrict b, float *c, int ldc, int mr,
                        __mmask16 m0, __mmask16 m1, float beta) {
    __m512 acc[MR][2];
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
#pragma GCC unroll 4
    for (int k = 0; k < kc; k++, a += MR, b += NR) {
        __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        for (int i = 0; i < MR; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
        }
    }
    __m512 vb = _mm512_set1_ps(beta);
    for (int i = 0; i < MR; i++) {
        if (i >= mr) break;
        float *ci = c + (size_t)i * ldc;
        if (beta != 0.0f) {
            acc[i][0] = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16), acc[i][1]);
        }
        _mm512_mask_storeu_ps(ci, m0, acc[i][0]);
        _mm512_mask_storeu_ps(ci + 16, m1, acc[i][1]);
    }
}

void tern_sgemm_avx512(float *scratch, int transA, int transB, int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc) {
    float *Ap = scratch, *Bp = scratch + A_BUF;   /* (A_BUF), (KC, NR): 64-byte aligned */
    /* Even splits: K = 800 runs as 4 x 200, not 3 x 256 + 32. */
    const int nkb = (K + KC - 1) / KC, kc_max = (K + nkb - 1) / nkb;
    const int mc_cap = A_BUF / kc_max / MR * MR;   /* >= 128 */
    const int nmb = (M + mc_cap - 1) / mc_cap;
    const int mc_max = ((M + nmb - 1) / nmb + MR - 1) / MR * MR;
    for (int i0 = 0; i0 < M; i0 += mc_max) {
        const int mb = imin(mc_max, M - i0), mbp = (mb + MR - 1) / MR * MR;
        for (int k0 = 0; k0 < K; k0 += kc_max) {
            const int kc = imin(kc_max, K - k0);
            const float bk = k0 == 0 ? beta : 1.0f;
            if (transA) pack_a_cols(Ap, A, lda, i0, mb, mbp, k0, kc);
            else pack_a_rows(Ap, A, lda, i0, mb, mbp, k0, kc);
            for (int j0 = 0; j0 < N; j0 += NR) {
                const int nb = imin(NR, N - j0);
                if (transB) pack_b_cols(Bp, B, ldb, j0, nb, k0, kc);
                else pack_b_rows(Bp, B, ldb, j0, nb, k0, kc);
                const __mmask16 m0 = lanes(nb), m1 = lanes(nb - 16);
                for (int p = 0; p < mbp; p += MR)
                    kernel_8x32(kc, Ap + (size_t)p * kc, Bp, C + (size_t)(i0 + p) * ldc + j0, ldc, imin(MR, mb - p),
                                m0, m1, bk);
            }
        }
    }
}
