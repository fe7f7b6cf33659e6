/* cmd_bench_gemm.c — `tern bench gemm`: tern_sgemm, the training step's
 * GEMM, against cblas_sgemm on the training step's shapes. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "kernels/sgemm.h" /* bench gemm times the training GEMM, internal to libtern */

/* The training step's GEMMs (linear and conv forward, dX, dW of LeNet-5 and
 * the MLP at batch 128), then the halves two threads get: the batch halved
 * (M of linear, N of conv forward and dcol) or dW's rows halved. */
typedef struct gemm_shape {
    const char *use;
    int tA, tB, M, N, K;
    float beta;
} gemm_shape;

static const gemm_shape gemm_shapes[] = {
    {"conv1 forward", 0, 0, 32, 9216, 25, 0},      {"conv1 dW", 0, 1, 32, 25, 9216, 1},
    {"conv2 forward", 0, 0, 64, 1024, 800, 0},     {"conv2 dW", 0, 1, 64, 800, 1024, 1},
    {"conv2 dcol", 1, 0, 800, 1024, 64, 0},        {"fc1 forward", 0, 1, 128, 512, 1024, 0},
    {"fc1 dX", 0, 0, 128, 1024, 512, 1},           {"fc1 dW", 1, 0, 512, 1024, 128, 1},
    {"MLP forward", 0, 1, 128, 256, 784, 0},       {"MLP dW", 1, 0, 256, 784, 128, 1},
    {"MLP dX", 0, 0, 128, 784, 256, 1},
    {"conv1 forward half", 0, 0, 32, 4608, 25, 0}, {"conv1 dW half", 0, 1, 16, 25, 9216, 1},
    {"conv2 forward half", 0, 0, 64, 512, 800, 0}, {"conv2 dW half", 0, 1, 32, 800, 1024, 1},
    {"conv2 dcol half", 1, 0, 800, 512, 64, 0},    {"fc1 forward half", 0, 1, 64, 512, 1024, 0},
    {"fc1 dX half", 0, 0, 64, 1024, 512, 1},       {"fc1 dW half", 1, 0, 256, 1024, 128, 1},
    {"MLP forward half", 0, 1, 64, 256, 784, 0},   {"MLP dW half", 1, 0, 128, 784, 128, 1},
    {"MLP dX half", 0, 0, 64, 784, 256, 1},
};

typedef struct gemm_job {
    const gemm_shape *s;
    const float *A, *B;
    float *C, *scratch;
} gemm_job;

static int run_tern_sgemm(void *p) {
    gemm_job *j = p;
    const gemm_shape *s = j->s;
    tern_sgemm(TERN_SGEMM_AUTO, j->scratch, s->tA, s->tB, s->M, s->N, s->K, j->A, s->tA ? s->M : s->K, j->B,
               s->tB ? s->K : s->N, s->beta, j->C, s->N);
    return 0;
}

static int run_cblas_sgemm(void *p) {
    gemm_job *j = p;
    const gemm_shape *s = j->s;
    cblas_sgemm(CblasRowMajor, s->tA ? CblasTrans : CblasNoTrans, s->tB ? CblasTrans : CblasNoTrans, s->M, s->N, s->K,
                1.0f, j->A, s->tA ? s->M : s->K, j->B, s->tB ? s->K : s->N, s->beta, j->C, s->N);
    return 0;
}

int cmd_bench_gemm(int argc, char **argv) {
    int repeats = 31;
    const cli_opt options[] = {
        CLI_INT_OPT("--repeats", &repeats, "N", 1, 100000, "repeats, of which the median is quoted (31)"),
        CLI_END_OPT,
    };
    const cli_spec spec = {
        .cmd = "bench gemm",
        .usage = "usage: tern bench gemm [--repeats N]\n"
                 "\n"
                 "tern_sgemm (tern's AVX-512 GEMM, or OpenBLAS where the CPU lacks the\n"
                 "avx512 path) against cblas_sgemm on the training step's GEMM shapes and their\n"
                 "halves, both on 1 thread, side by side in one process, interleaved; medians\n"
                 "of N repeats (31) of the wall clock. OpenBLAS runs the kernel its own\n"
                 "dispatch (or OPENBLAS_CORETYPE) picks.\n",
        .opts = options,
    };
    int rc;
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    openblas_set_num_threads(1);
    float *scratch = aligned_alloc(64, TERN_SGEMM_SCRATCH_BYTES);
    if (!scratch) {
        fprintf(stderr, "tern bench gemm: out of memory\n");
        return 1;
    }
    printf("tern bench gemm: tern_sgemm path %s vs cblas_sgemm, 1 thread each, %d interleaved repeats, medians\n",
           tern_sgemm_name(tern_sgemm_resolve(TERN_SGEMM_AUTO)), repeats);
    printf("%-20s %5s %5s %5s %5s %4s %10s %10s %9s %9s %7s\n", "use", "trans", "M", "N", "K", "beta", "tern ms",
           "blas ms", "tGFLOP/s", "bGFLOP/s", "ratio");
    tern_rng r;
    tern_rng_seed(&r, 1);
    double log_sum = 0;
    int n_shapes = (int)(sizeof gemm_shapes / sizeof gemm_shapes[0]);
    for (int i = 0; i < n_shapes; i++) {
        const gemm_shape *s = &gemm_shapes[i];
        size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N, nc = (size_t)s->M * s->N;
        float *A = malloc(sizeof(float) * na), *B = malloc(sizeof(float) * nb), *C = malloc(sizeof(float) * nc);
        if (!A || !B || !C) {
            fprintf(stderr, "tern bench gemm: out of memory\n");
            return 1;
        }
        for (size_t k = 0; k < na; k++) A[k] = tern_rng_normal(&r);
        for (size_t k = 0; k < nb; k++) B[k] = tern_rng_normal(&r);
        for (size_t k = 0; k < nc; k++) C[k] = 0.0f;   /* beta 1 keeps adding: stays finite */
        gemm_job j = {s, A, B, C, scratch};
        cli_time ct, cb;
        if (!cli_interleave(tern_clock_now_s, run_tern_sgemm, &j, run_cblas_sgemm, &j, repeats, &ct, &cb))
            return cli_fail("bench gemm");
        const double tt = ct.median, tb = cb.median;
        double flop = 2.0 * s->M * s->N * s->K;
        printf("%-20s %4s%s %5d %5d %5d %4g %10.4f %10.4f %9.1f %9.1f %6.2fx\n", s->use, s->tA ? "T" : "N",
               s->tB ? "T" : "N", s->M, s->N, s->K, s->beta, 1e3 * tt, 1e3 * tb, flop / tt * 1e-9, flop / tb * 1e-9,
               tb / tt);
        log_sum += log(tb / tt);
        free(A);
        free(B);
        free(C);
    }
    printf("geometric mean ratio (blas time / tern time): %.2fx\n", exp(log_sum / n_shapes));
    free(scratch);
    return 0;
}
