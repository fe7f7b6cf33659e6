/* sgemm.h — tern's fp32 GEMM for training. Internal to libtern: the
 * training ops (src/ops/linear.c, conv2d.c) call it, and `tern bench gemm`
 * times it.
 *
 * A single-threaded sgemm for the training step's GEMMs (linear and conv
 * forward, dX, dW), on the path its caller names (tern_ctx.sgemm, whose
 * enum is in tern/tape.h): TERN_SGEMM_AVX512 runs tern's packed AVX-512
 * kernel (src/kernels/x86/gemm_avx512.c) where the CPU has AVX-512 (F, BW,
 * VL, DQ, VNNI, as the avx512 kernel path), TERN_SGEMM_OPENBLAS OpenBLAS's
 * cblas_sgemm, the faster portable choice elsewhere; AUTO the first of the
 * two this CPU runs. The AVX-512 GEMM packs blocks of A and B into the
 * caller's scratch; without one (NULL) it is OpenBLAS's.
 * No allocation and no state: several threads may run it at once on
 * different blocks of C, each with its own scratch. */
#ifndef TERN_KERNELS_SGEMM_H
#define TERN_KERNELS_SGEMM_H

#include <stddef.h>

#include "tern/tape.h"

/* Bytes of tern_sgemm's scratch (64-byte aligned): 128 KB of packed A and
 * 32 KB of packed B. */
#define TERN_SGEMM_SCRATCH_BYTES ((size_t)(128 * 256 + 256 * 32) * sizeof(float))

/* C (M,N) = op(A) (M,K) op(B) (K,N) + beta C, row-major, alpha 1, on
 * `path`, with scratch of TERN_SGEMM_SCRATCH_BYTES (or NULL: OpenBLAS).
 * transA: A is stored (K,M) with row stride lda, else (M,K); transB: B is
 * stored (N,K) with ldb, else (K,N). beta 0 overwrites C without reading it
 * (it may hold NaN); any other beta scales C. M, N < 1 do nothing; K < 1
 * gives C = beta C. */
void tern_sgemm(tern_sgemm_path path, float *scratch, int transA, int transB, int M, int N, int K, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* The scalar twin, the tests' reference: the same C with plain loops, each
 * sum in float in k order, then + beta C (not read when beta is 0). */
void tern_sgemm_ref(int transA, int transB, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                    float beta, float *C, int ldc);

/* The path tern_sgemm runs for `path` on this CPU: OPENBLAS or AVX512. */
tern_sgemm_path tern_sgemm_resolve(tern_sgemm_path path);

/* "auto", "openblas", "avx512"; "unknown" out of range. */
const char *tern_sgemm_name(tern_sgemm_path path);

#if defined(__x86_64__)
/* tern_sgemm on AVX-512 (src/kernels/x86/gemm_avx512.c); M, N, K >= 1,
 * scratch as tern_sgemm's. */
void tern_sgemm_avx512(float *scratch, int transA, int transB, int M, int N, int K, const float *A, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc);
#endif

#endif
