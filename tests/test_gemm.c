/* test_gemm.c — tern_sgemm (the AVX-512 GEMM on a CPU that has it, else
 * OpenBLAS) against its scalar twin tern_sgemm_ref: every trans combination,
 * beta 0 (C prefilled with NaN) and 1, leading dims wider than the matrix,
 * odd sizes, every GEMM shape of the training step, several threads at once.
 *
 * Tolerance. Each entry is a float dot product of length K plus beta C. A
 * recursive (or blocked, or FMA) float sum of K products, plus one more
 * addition for beta C, errs by at most gamma_{K+1} <= (K+1) u (1 + O(Ku))
 * times S = sum_k |a_ik b_kj| + |beta c_ij| (u = 2^-24 = FLT_EPSILON / 2;
 * Higham, Accuracy and Stability, 3.1). Both sides obey that, so they differ
 * by at most 2 (K+1) u S = (K+1) FLT_EPSILON S; S is computed here in double.
 * A wrong kernel (a sign, a dropped k, a shifted row) errs by about S itself,
 * far above that bound for every K here (test_checker_rejects shows the
 * checker trips on a single such entry). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/sgemm.h"
#include "tern.h"

#define SENTINEL 12345.0f   /* C's columns past N: a GEMM must not touch them */

typedef struct problem {
    int tA, tB, M, N, K;
    int lda, ldb, ldc;
    float beta;
    float *A, *B, *C0;       /* C0: C before the call (NaN for beta 0) */
} problem;

static void problem_init(problem *p, int tA, int tB, int M, int N, int K, int pad, float beta, uint64_t seed) {
    *p = (problem){.tA = tA, .tB = tB, .M = M, .N = N, .K = K, .beta = beta};
    int ar = tA ? K : M, ac = tA ? M : K, br = tB ? N : K, bc = tB ? K : N;
    p->lda = ac + pad, p->ldb = bc + pad, p->ldc = N + pad;
    p->A = malloc(sizeof(float) * ((size_t)ar * p->lda + 1));
    p->B = malloc(sizeof(float) * ((size_t)br * p->ldb + 1));
    p->C0 = malloc(sizeof(float) * ((size_t)M * p->ldc + 1));
    assert_non_null(p->A);
    assert_non_null(p->B);
    assert_non_null(p->C0);
    tern_rng r;
    tern_rng_seed(&r, seed);
    for (size_t i = 0; i < (size_t)ar * p->lda; i++) p->A[i] = 2.0f * tern_rng_uniform(&r) - 1.0f;
    for (size_t i = 0; i < (size_t)br * p->ldb; i++) p->B[i] = 2.0f * tern_rng_uniform(&r) - 1.0f;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < p->ldc; j++)
            p->C0[(size_t)i * p->ldc + j] = j >= N ? SENTINEL : beta == 0.0f ? NAN : tern_rng_normal(&r);
}

static void problem_free(problem *p) {
    free(p->A);
    free(p->B);
    free(p->C0);
}

static float *c_copy(const problem *p) {
    size_t n = (size_t)p->M * p->ldc;
    float *c = malloc(sizeof(float) * (n + 1));
    assert_non_null(c);
    memcpy(c, p->C0, sizeof(float) * n);
    return c;
}

/* Number of entries of C (from tern_sgemm) off the reference R by more than
 * the bound of the header comment, or outside C that changed; prints the
 * first. */
static long check(const problem *p, const float *C, const float *R) {
    long bad = 0;
    for (int i = 0; i < p->M; i++)
        for (int j = 0; j < p->ldc; j++) {
            size_t at = (size_t)i * p->ldc + j;
            if (j >= p->N) {   /* padding columns: untouched */
                if (C[at] != SENTINEL && !bad++) fprintf(stderr, "  C[%d][%d] past N=%d was written\n", i, j, p->N);
                continue;
            }
            double s = p->beta == 0.0f ? 0.0 : fabs((double)p->beta * p->C0[at]);
            for (int k = 0; k < p->K; k++) {
                double a = p->tA ? p->A[(size_t)k * p->lda + i] : p->A[(size_t)i * p->lda + k];
                double b = p->tB ? p->B[(size_t)j * p->ldb + k] : p->B[(size_t)k * p->ldb + j];
                s += fabs(a * b);
            }
            double tol = (p->K + 1.0) * FLT_EPSILON * s + FLT_MIN;
            double d = fabs((double)C[at] - R[at]);
            if (!(d <= tol) && !bad++)
                fprintf(stderr, "  %s%s M=%d N=%d K=%d beta=%g: C[%d][%d] = %.9g, reference %.9g (|diff| %.3g > %.3g)\n",
                        p->tA ? "T" : "N", p->tB ? "T" : "N", p->M, p->N, p->K, p->beta, i, j, C[at], R[at], d, tol);
        }
    return bad;
}

/* The packing scratch of the single-threaded tests. */
static float scratch[TERN_SGEMM_SCRATCH_BYTES / sizeof(float)] __attribute__((aligned(64)));

/* tern_sgemm on `path` with that scratch. */
static void sgemm(tern_sgemm_path path, int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B,
                  int ldb, float beta, float *C, int ldc) {
    tern_sgemm(path, scratch, tA, tB, M, N, K, A, lda, B, ldb, beta, C, ldc);
}

/* Run one problem through tern_sgemm on `path` and tern_sgemm_ref; the count of bad entries. */
static long run_on(tern_sgemm_path path, int tA, int tB, int M, int N, int K, int pad, float beta, uint64_t seed) {
    problem p;
    problem_init(&p, tA, tB, M, N, K, pad, beta, seed);
    float *C = c_copy(&p), *R = c_copy(&p);
    sgemm(path, tA, tB, M, N, K, p.A, p.lda, p.B, p.ldb, beta, C, p.ldc);
    tern_sgemm_ref(tA, tB, M, N, K, p.A, p.lda, p.B, p.ldb, beta, R, p.ldc);
    long bad = check(&p, C, R);
    free(C);
    free(R);
    problem_free(&p);
    return bad;
}

/* The same on the AUTO path, which the training ops use by default. */
static long run(int tA, int tB, int M, int N, int K, int pad, float beta, uint64_t seed) {
    return run_on(TERN_SGEMM_AUTO, tA, tB, M, N, K, pad, beta, seed);
}

/* On a CPU with AVX-512 the tests must exercise tern's kernel, not OpenBLAS;
 * the choice is the caller's, whatever inference kernel path is in use. */
static void test_path(void **state) {
    (void)state;
    const char *want = tern_kernel_available(TERN_KERNEL_AVX512) ? "avx512" : "openblas";
    assert_string_equal(tern_sgemm_name(tern_sgemm_resolve(TERN_SGEMM_AUTO)), want);
    assert_string_equal(tern_sgemm_name(tern_sgemm_resolve(TERN_SGEMM_AVX512)), want);
    assert_string_equal(tern_sgemm_name(tern_sgemm_resolve(TERN_SGEMM_OPENBLAS)), "openblas");
    assert_string_equal(tern_sgemm_name(TERN_SGEMM_AUTO), "auto");
    assert_string_equal(tern_sgemm_name(TERN_SGEMM_COUNT), "unknown");
}

/* Odd sizes around the 8 x 32 tile, the 16-wide transposes and the K blocks,
 * all four trans combinations, beta 0 and 1, ld == width and ld > width. */
static void test_odd_sizes(void **state) {
    (void)state;
    static const int sizes[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 47, 100};
    static const int ks[] = {1, 3, 16, 17, 100, 255, 257, 600};
    uint64_t seed = 1;
    for (int t = 0; t < 4; t++)
        for (int mi = 0; mi < 12; mi++)
            for (int ni = 0; ni < 12; ni += 1 + (mi & 1))
                for (int ki = (mi + ni) % 3; ki < 8; ki += 3) {
                    int pad = (mi + ni + ki) % 3 == 0 ? 0 : 5 + ki;
                    float beta = (mi + ki) & 1 ? 1.0f : 0.0f;
                    long bad = run(t >> 1, t & 1, sizes[mi], sizes[ni], ks[ki], pad, beta, seed++);
                    assert_int_equal(bad, 0);
                }
}

/* Several M blocks (M > 128 at K = 256; the buffer holds mc x kc <= 128 x 256),
 * several K blocks with beta 0, and an uneven final M block. */
static void test_blocks(void **state) {
    (void)state;
    for (int t = 0; t < 4; t++) {
        assert_int_equal(run(t >> 1, t & 1, 300, 70, 700, 3, 0.0f, 100 + t), 0);
        assert_int_equal(run(t >> 1, t & 1, 137, 45, 513, 0, 1.0f, 200 + t), 0);
        assert_int_equal(run(t >> 1, t & 1, 1030, 33, 20, 1, 0.0f, 300 + t), 0);   /* mc grows as kc shrinks */
    }
}

/* Any other beta scales C. */
static void test_beta_other(void **state) {
    (void)state;
    assert_int_equal(run(0, 0, 19, 37, 41, 2, 0.5f, 7), 0);
    assert_int_equal(run(1, 1, 19, 37, 41, 2, -2.0f, 8), 0);
}

/* Every GEMM the training step makes (tern/kernels.h's callers), and the
 * halves two threads get when they split the batch or the rows of dW. */
typedef struct shape {
    const char *use;
    int tA, tB, M, N, K;
    float beta;
} shape;

static const shape shapes[] = {
    {"conv1 forward", 0, 0, 32, 9216, 25, 0},  {"conv1 dW", 0, 1, 32, 25, 9216, 1},
    {"conv2 forward", 0, 0, 64, 1024, 800, 0}, {"conv2 dW", 0, 1, 64, 800, 1024, 1},
    {"conv2 dcol", 1, 0, 800, 1024, 64, 0},    {"fc1 forward", 0, 1, 128, 512, 1024, 0},
    {"fc1 dX", 0, 0, 128, 1024, 512, 1},       {"fc1 dW", 1, 0, 512, 1024, 128, 1},
    {"MLP forward", 0, 1, 128, 256, 784, 0},   {"MLP dW", 1, 0, 256, 784, 128, 1},
    {"MLP dX", 0, 0, 128, 784, 256, 1},        {"fc1 forward half", 0, 1, 64, 512, 1024, 0},
    {"conv2 forward half", 0, 0, 64, 512, 800, 0},
};

static void test_training_shapes(void **state) {
    (void)state;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const shape *h = &shapes[s];
        long bad = run(h->tA, h->tB, h->M, h->N, h->K, 0, h->beta, 1000 + s);
        if (bad) fprintf(stderr, "  %s: %ld entries off\n", h->use, bad);
        assert_int_equal(bad, 0);
    }
}

/* K = 0: C = beta C; empty M or N: nothing. */
static void test_degenerate(void **state) {
    (void)state;
    float C[6] = {NAN, NAN, NAN, 1, 2, 3}, A[1] = {0}, B[1] = {0};
    sgemm(TERN_SGEMM_AUTO, 0, 0, 1, 3, 0, A, 1, B, 3, 0.0f, C, 3);
    sgemm(TERN_SGEMM_AUTO, 0, 0, 1, 3, 0, A, 1, B, 3, 1.0f, C + 3, 3);
    for (int j = 0; j < 3; j++) assert_true(C[j] == 0.0f && C[3 + j] == (float)(j + 1));
    sgemm(TERN_SGEMM_AUTO, 0, 0, 0, 3, 5, A, 5, B, 3, 0.0f, C, 3);
    sgemm(TERN_SGEMM_AUTO, 0, 0, 1, 0, 5, A, 5, B, 3, 0.0f, C, 3);
    assert_true(C[0] == 0.0f);
}

/* The checker must be able to fail: a "kernel" that flips the sign of one
 * product (the last k) is caught on most entries, and so is a write past N. */
static void test_checker_rejects(void **state) {
    (void)state;
    problem p;
    problem_init(&p, 0, 1, 16, 40, 300, 2, 0.0f, 9);
    float *C = c_copy(&p), *R = c_copy(&p);
    sgemm(TERN_SGEMM_AUTO, 0, 1, p.M, p.N, p.K, p.A, p.lda, p.B, p.ldb, 0.0f, C, p.ldc);
    tern_sgemm_ref(0, 1, p.M, p.N, p.K, p.A, p.lda, p.B, p.ldb, 0.0f, R, p.ldc);
    assert_int_equal(check(&p, C, R), 0);
    tern_sgemm_ref(0, 1, p.M, p.N, p.K - 1, p.A, p.lda, p.B, p.ldb, 0.0f, C, p.ldc);
    for (int i = 0; i < p.M; i++)
        for (int j = 0; j < p.N; j++)
            C[(size_t)i * p.ldc + j] -= p.A[(size_t)i * p.lda + p.K - 1] * p.B[(size_t)j * p.ldb + p.K - 1];
    assert_true(check(&p, C, R) > p.M * p.N / 2);
    memcpy(C, R, sizeof(float) * (size_t)p.M * p.ldc);
    C[5 * (size_t)p.ldc + p.N] = 0.0f;   /* a write past N */
    assert_int_equal(check(&p, C, R), 1);
    free(C);
    free(R);
    problem_free(&p);
}

/* The fallback, asked for by name: OpenBLAS's GEMM. */
static void test_fallback(void **state) {
    (void)state;
    for (int t = 0; t < 4; t++)
        assert_int_equal(run_on(TERN_SGEMM_OPENBLAS, t >> 1, t & 1, 33, 47, 100, 3, t & 1 ? 1.0f : 0.0f, 50 + t), 0);
}

/* Two threads at once, each on its own rows of one C (the trainer's split),
 * with their own scratch: the result equals one call's. */
typedef struct half_job {
    const problem *p;
    float *C;
    int row0, rows;
} half_job;

static void *half_run(void *arg) {
    half_job *h = arg;
    const problem *p = h->p;
    float *own = aligned_alloc(64, TERN_SGEMM_SCRATCH_BYTES);
    for (int rep = 0; own && rep < 20; rep++)
        tern_sgemm(TERN_SGEMM_AUTO, own, p->tA, p->tB, h->rows, p->N, p->K, p->A + (size_t)h->row0 * p->lda, p->lda,
                   p->B, p->ldb, 0.0f, h->C + (size_t)h->row0 * p->ldc, p->ldc);
    free(own);
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    problem p;
    problem_init(&p, 0, 1, 128, 512, 1024, 0, 0.0f, 11);
    float *C = c_copy(&p), *R = c_copy(&p);
    tern_sgemm_ref(0, 1, p.M, p.N, p.K, p.A, p.lda, p.B, p.ldb, 0.0f, R, p.ldc);
    half_job h[2] = {{&p, C, 0, 64}, {&p, C, 64, 64}};
    pthread_t th[2];
    for (int t = 0; t < 2; t++) assert_int_equal(pthread_create(&th[t], NULL, half_run, &h[t]), 0);
    for (int t = 0; t < 2; t++) assert_int_equal(pthread_join(th[t], NULL), 0);
    assert_int_equal(check(&p, C, R), 0);
    free(C);
    free(R);
    problem_free(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path),
        cmocka_unit_test(test_odd_sizes),
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_beta_other),
        cmocka_unit_test(test_training_shapes),
        cmocka_unit_test(test_degenerate),
        cmocka_unit_test(test_checker_rejects),
        cmocka_unit_test(test_fallback),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
