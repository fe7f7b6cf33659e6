/* gemm.c — tern_sgemm: the dispatch between tern's AVX-512 GEMM and
 * OpenBLAS, and its scalar twin (tern/kernels.h has the contract). */
#include <cblas.h>
#include <string.h>

#include "kernels/sgemm.h"
#include "tern/kernels.h"

/* The AVX-512 GEMM runs only where the avx512 kernel path is available: a
 * CPU without it gets OpenBLAS, never an illegal instruction. The check
 * reads CPUID bits libgcc cached at start-up, cheap enough per GEMM. */
tern_sgemm_path tern_sgemm_resolve(tern_sgemm_path path) {
    if (path == TERN_SGEMM_OPENBLAS) return TERN_SGEMM_OPENBLAS;
    return tern_kernel_available(TERN_KERNEL_AVX512) ? TERN_SGEMM_AVX512 : TERN_SGEMM_OPENBLAS;
}

const char *tern_sgemm_name(tern_sgemm_path path) {
    static const char *const names[TERN_SGEMM_COUNT] = {"auto", "openblas", "avx512"};
    return (unsigned)path < TERN_SGEMM_COUNT ? names[path] : "unknown";
}

/* C = beta C for K = 0: no products, and beta 0 must not read C. */
static void scale_c(int M, int N, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        if (beta == 0.0f) memset(c, 0, sizeof(float) * (size_t)N);
        else if (beta != 1.0f)
            for (int j = 0; j < N; j++) c[j] *= beta;
    }
}

void tern_sgemm(tern_sgemm_path path, float *scratch, int transA, int transB, int M, int N, int K, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M < 1 || N < 1) return;
    if (K < 1) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
#if defined(__x86_64__)
    if (scratch && tern_sgemm_resolve(path) == TERN_SGEMM_AVX512) {
        tern_sgemm_avx512(scratch, transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K, 1.0f,
                A, lda, B, ldb, beta, C, ldc);
}

void tern_sgemm_ref(int transA, int transB, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                    float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            float s = 0.0f;
            for (int k = 0; k < K; k++) {
                float a = transA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];   /* op(A)[i][k] */
                float b = transB ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];   /* op(B)[k][j] */
                s += a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0f ? s : s + beta * *c;
        }
}
