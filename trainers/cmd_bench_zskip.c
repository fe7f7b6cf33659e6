/* cmd_bench_zskip.c — `tern bench zskip`: the dense packed kernels against
 * the zero-skipping ones by the fraction of zero weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

typedef struct zskip_job {
    const tern_packed *p;
    const tern_sparse *s;
    const tern_conv2d_geom *g; /* NULL: GEMM */
    const float *x;
    float *y;
    int n;
    tern_kact act;
    tern_kernel path;
    void *scratch;
    size_t scratch_bytes;
} zskip_job;

static int run_dense(void *v) {
    zskip_job *j = v;
    return (j->g ? tern_kernel_conv2d(j->path, j->p, j->g, j->x, j->n, NULL, j->y, j->act, j->scratch, j->scratch_bytes)
                 : tern_kernel_gemm(j->path, j->p, j->x, j->n, NULL, j->y, j->act, j->scratch, j->scratch_bytes)) != TERN_OK;
}

static int run_sparse(void *v) {
    zskip_job *j = v;
    return (j->g ? tern_sparse_conv2d(j->path, j->s, j->g, j->x, j->n, NULL, j->y, j->act, j->scratch, j->scratch_bytes)
                 : tern_sparse_gemm(j->path, j->s, j->x, j->n, NULL, j->y, j->act, j->scratch, j->scratch_bytes)) != TERN_OK;
}

/* --act, spelt as every command spells the modes: bit 0 the int8
 * activations, bit 1 the fp32 ones. */
static const cli_choice zskip_acts[] = {{"int8", 1}, {"fp32", 2}, {"both", 3}, {NULL, 0}};

int cmd_bench_zskip(int argc, char **argv) {
    int repeats = 11, acts = 3, big = 128;
    const cli_opt options[] = {
        CLI_INT_OPT("--repeats", &repeats, "N", 1, 100000, "repeats, of which the median is quoted (11)"),
        CLI_CHOICE_OPT("--act", &acts, zskip_acts, "the activation modes measured (both)"),
        CLI_INT_OPT("--batch", &big, "N", 1, 4096, "the larger batch (128)"),
        CLI_END_OPT,
    };
    const cli_spec spec = {
        .cmd = "bench zskip",
        .usage = "usage: tern bench zskip [--repeats N] [--act int8|fp32|both] [--batch N]\n"
                 "\n"
                 "Dense packed kernels against the zero-skipping ones (tern/kernels.h) on random\n"
                 "ternary layers with 0, 10, ..., 90, 95, 99% zero weights, interleaved, medians\n"
                 "of N repeats (11), 1 thread, on the current kernel path (TERN_KERNEL):\n"
                 "  GEMM (M,K) = (256,784), (256,256), (512,1024) and a conv of 64 outputs over\n"
                 "  32x5x5 inputs at 8x8 positions (a 12x12 image), at batch 1 and N (--batch,\n"
                 "  128; images for the conv), for each activation mode. ratio = dense / zero-skipping time\n"
                 "  (> 1: zero-skipping wins). The crossover is the lowest sparsity from which\n"
                 "  zero-skipping wins at every sparsity measured above it.\n"
                 "Times are the thread's on-CPU time (CLOCK_THREAD_CPUTIME_ID): on a shared\n"
                 "machine, time slices of other processes do not count.\n",
        .opts = options,
    };
    int rc;
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    tern_kernel path;
    if (cli_kernel_from_env(&path)) return cli_fail("bench zskip");
    const int act_lo = acts & 1 ? TERN_KACT_I8 : TERN_KACT_F32, act_hi = acts & 2 ? TERN_KACT_F32 : TERN_KACT_I8;
    static const int zeros[] = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99};
    enum { NZ = sizeof zeros / sizeof zeros[0] };
    static const struct {
        const char *name;
        int M, K, conv;
    } shapes[] = {{"gemm256x784", 256, 784, 0}, {"gemm256x256", 256, 256, 0}, {"gemm512x1024", 512, 1024, 0},
                  {"conv64x(32x5x5)@8x8", 64, 800, 1}};
    const int batches[2] = {1, big};
    const tern_conv2d_geom g = {32, 12, 12, 5, 5, 1, 0}; /* 8x8 output positions */
    tern_rng r;
    tern_rng_seed(&r, 7);
    printf("tern bench zskip: kernel path %s, 1 thread, %d interleaved repeats, medians of thread CPU time; "
           "ratio = dense / zskip\n",
           tern_kernel_name(path), repeats);
    printf("%-24s %5s %4s %6s %11s %11s %7s\n", "shape", "batch", "act", "zeros", "dense ms", "zskip ms", "ratio");
    char summary[2 * 4 * 2][128];
    int n_summary = 0;
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++)
        for (int b = 0; b < 2; b++)
            for (int act = act_lo; act <= act_hi; act++) {
                const int M = shapes[sh].M, K = shapes[sh].K, n = batches[b];
                const size_t in_n = shapes[sh].conv ? (size_t)g.cin * g.h * g.w : (size_t)K;
                const size_t out_n = shapes[sh].conv ? (size_t)M * 64 : (size_t)M;
                int8_t *w = malloc((size_t)M * K);
                float *x = malloc(sizeof(float) * in_n * n), *y = malloc(sizeof(float) * out_n * n);
                float *alpha = malloc(sizeof(float) * M);
                double ratio[NZ];
                if (!w || !x || !y || !alpha) {
                    fprintf(stderr, "tern bench zskip: out of memory\n");
                    return 1;
                }
                for (size_t i = 0; i < in_n * n; i++) x[i] = tern_rng_normal(&r);
                for (int i = 0; i < M; i++) alpha[i] = 0.05f + 0.01f * tern_rng_uniform(&r);
                for (int z = 0; z < NZ; z++) {
                    for (size_t i = 0; i < (size_t)M * K; i++)
                        w[i] = tern_rng_uniform(&r) * 100.0 < zeros[z] ? 0 : (tern_rng_below(&r, 2) ? 1 : -1);
                    tern_packed p = {0};
                    tern_sparse s = {0};
                    if (tern_packed_init(&p, M, K) || tern_packed_set(&p, w, alpha, NULL) || tern_sparse_init(&s, &p))
                        return cli_fail("bench zskip");
                    zskip_job d = {.p = &p, .s = &s, .g = shapes[sh].conv ? &g : NULL, .x = x, .y = y, .n = n,
                                   .act = (tern_kact)act, .path = path};
                    zskip_job q = d;
                    d.scratch_bytes = d.g ? tern_kernel_conv2d_scratch_bytes(&p, &g, d.act)
                                          : tern_kernel_gemm_scratch_bytes(&p, n, d.act);
                    q.scratch_bytes = q.g ? tern_sparse_conv2d_scratch_bytes(&s, &g, q.act)
                                          : tern_sparse_gemm_scratch_bytes(&s, n, q.act);
                    d.scratch = malloc(d.scratch_bytes);
                    q.scratch = malloc(q.scratch_bytes);
                    cli_time cd, cq;
                    if (!d.scratch || !q.scratch ||
                        !cli_interleave(tern_clock_cpu_s, run_dense, &d, run_sparse, &q, repeats, &cd, &cq))
                        return cli_fail("bench zskip");
                    const double td = cd.median, tq = cq.median;
                    ratio[z] = td / tq;
                    printf("%-24s %5d %4s %5.1f%% %11.4f %11.4f %6.2fx\n", shapes[sh].name, n, act ? "fp32" : "int8",
                           100.0 * tern_sparse_zero_fraction(&s), 1e3 * td, 1e3 * tq, ratio[z]);
                    free(d.scratch);
                    free(q.scratch);
                    tern_sparse_free(&s);
                    tern_packed_free(&p);
                }
                int c = NZ;
                while (c > 0 && ratio[c - 1] > 1.0) c--;
                char cross[32];
                if (c == NZ) snprintf(cross, sizeof cross, "none up to 99%%");
                else snprintf(cross, sizeof cross, "%d%%", zeros[c]);
                snprintf(summary[n_summary++], sizeof summary[0], "%-24s batch %3d %-4s crossover %s", shapes[sh].name, n,
                         act ? "fp32" : "int8", cross);
                free(w), free(x), free(y), free(alpha);
            }
    printf("\ncrossover: lowest sparsity from which zero-skipping is faster at every sparsity above\n");
    for (int i = 0; i < n_summary; i++) printf("%s\n", summary[i]);
    return 0;
}
