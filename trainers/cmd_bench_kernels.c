/* cmd_bench_kernels.c — `tern bench kernels` (and `tern bench` alone): the
 * packed ternary kernels and the runtime against OpenBLAS fp32 and against
 * themselves on one thread, side by side in one process, interleaved, one
 * markdown table. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

typedef struct gemm_job {
    tern_packed *w;      /* (n_w) copies of the same weights, used in turn */
    int n_w, next;
    const float *x, *wf; /* x (n, K), wf (M, K) */
    float *y;            /* (n, M) */
    int M, K, n;
    tern_kernel path;
    void *scratch;
    size_t scratch_bytes;
} gemm_job;

static int run_tern_gemm(void *p) {
    gemm_job *j = p;
    const tern_packed *w = &j->w[j->next];
    j->next = (j->next + 1) % j->n_w;
    return tern_kernel_gemm(j->path, w, j->x, j->n, NULL, j->y, TERN_KACT_I8, j->scratch, j->scratch_bytes) != TERN_OK;
}

static int run_blas_gemm(void *p) {
    gemm_job *j = p;
    if (j->n == 1) cblas_sgemv(CblasRowMajor, CblasNoTrans, j->M, j->K, 1.0f, j->wf, j->K, j->x, 1, 0.0f, j->y, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->n, j->M, j->K, 1.0f, j->x, j->K, j->wf, j->K, 0.0f,
                    j->y, j->M);
    return 0;
}

/* A network's calls take the batches of x in turn: the same input every call
 * would let the branch predictor learn it (maxpool's compares, for one), and
 * a user's inputs differ from call to call. */
enum { NET_SAMPLES = 256 }; /* at least this many distinct samples per case */

typedef struct net_job {
    tern_runtime *rt;
    const float *x;      /* (n_batches * n, C, H, W) */
    int n, n_batches, next, shape[4];
} net_job;

static int run_net(void *p) {
    net_job *j = p;
    const size_t per = (size_t)j->shape[1] * j->shape[2] * j->shape[3];
    tern_tensor x = tern_tensor_view((float *)j->x + per * (size_t)j->n * (size_t)j->next, NULL, 4, j->shape);
    j->next = (j->next + 1) % j->n_batches;
    const float *z;
    return tern_runtime_forward(j->rt, &x, &z) != TERN_OK;
}

static void head(void) {
    printf("| case | unit | tern median | tern min | base median | base min | speedup | tern GMAC/s | base GMAC/s "
           "| tern GB/s | base GB/s | target |\n");
    printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
}

/* One row: per call (samples 0: ms per call) or per sample (samples per
 * call: µs per sample); macs and weight bytes are per call; speedup is the
 * ratio of the medians. */
static void row(const char *name, int samples, const cli_time *t, const cli_time *b, double macs, double bytes_t,
                double bytes_b, const char *target) {
    const double u = samples ? 1e6 / samples : 1e3;
    printf("| %s | %s | %.4g | %.4g | %.4g | %.4g | %.2fx | %.1f | %.1f | %.1f | %.1f | %s |\n", name,
           samples ? "us/sample" : "ms/call", u * t->median, u * t->min, u * b->median, u * b->min,
           b->median / t->median, macs / t->median * 1e-9, macs / b->median * 1e-9, bytes_t / t->median * 1e-9,
           bytes_b / b->median * 1e-9, target);
    fflush(stdout);
}

/* A deploy model of `n` layer specs with random weights (He init, batchnorm
 * at its initial statistics) on a (c, hw, hw) input of dataset `name`. */
static tern_status spec_deploy(tern_deploy *d, const tern_layer_spec *s, int n, int c, int hw, const char *name) {
    int in[3] = {c, hw, hw};
    tern_model m;
    tern_status st = tern_model_init(&m, s, n, 3, in, TERN_INIT_HE, 1);
    if (st) return st;
    tern_dataset meta;
    tern_dataset_init(&meta);
    snprintf(meta.name, sizeof meta.name, "%s", name);
    meta.c = c, meta.h = meta.w = hw, meta.n_classes = 10;
    for (int k = 0; k < 10; k++) snprintf(meta.class_names[k], sizeof meta.class_names[k], "%d", k);
    st = tern_deploy_from_model(d, &m, &meta);
    tern_model_free(&m);
    return st;
}

/* The MLP of configs/mnist_mlp.yaml, ternary layers with 8-bit activations. */
static tern_status mlp_deploy(tern_deploy *d) {
    tern_quant_cfg q = tern_quant_cfg_default(TERN_QUANT_TWN);
    q.act_bits = 8;
    const tern_layer_spec s[6] = {
        {.type = TERN_LAYER_FLATTEN},
        {.type = TERN_LAYER_LINEAR, .name = "fc1", .out = 256, .no_bias = 1, .ternary = 1, .quant = q},
        {.type = TERN_LAYER_BATCHNORM, .name = "bn1", .act = TERN_ACT_RELU},
        {.type = TERN_LAYER_LINEAR, .name = "fc2", .out = 256, .no_bias = 1, .ternary = 1, .quant = q},
        {.type = TERN_LAYER_BATCHNORM, .name = "bn2", .act = TERN_ACT_RELU},
        {.type = TERN_LAYER_LINEAR, .name = "fc3", .out = 10},
    };
    return spec_deploy(d, s, 6, 1, 28, "mnist");
}

/* The LeNet-5 of configs/mnist_lenet5.yaml, ternary layers with 8-bit activations. */
static tern_status lenet_deploy(tern_deploy *d) {
    tern_quant_cfg q = tern_quant_cfg_default(TERN_QUANT_TWN);
    q.act_bits = 8;
    const tern_layer_spec s[10] = {
        {.type = TERN_LAYER_CONV2D, .name = "conv1", .out = 32, .kernel = 5, .no_bias = 1},
        {.type = TERN_LAYER_BATCHNORM, .name = "bn1", .act = TERN_ACT_RELU},
        {.type = TERN_LAYER_MAXPOOL, .kernel = 2},
        {.type = TERN_LAYER_CONV2D, .name = "conv2", .out = 64, .kernel = 5, .no_bias = 1, .ternary = 1, .quant = q},
        {.type = TERN_LAYER_BATCHNORM, .name = "bn2", .act = TERN_ACT_RELU},
        {.type = TERN_LAYER_MAXPOOL, .kernel = 2},
        {.type = TERN_LAYER_FLATTEN},
        {.type = TERN_LAYER_LINEAR, .name = "fc1", .out = 512, .no_bias = 1, .ternary = 1, .quant = q},
        {.type = TERN_LAYER_BATCHNORM, .name = "bn3", .act = TERN_ACT_RELU},
        {.type = TERN_LAYER_LINEAR, .name = "fc2", .out = 10},
    };
    return spec_deploy(d, s, 10, 1, 28, "mnist");
}

/* A deploy model: `path`'s, or else the built one; and its fp32 twin. */
static tern_status net_load(const char *path, tern_status (*build)(tern_deploy *), tern_deploy *d, tern_deploy *f) {
    tern_status st = path ? tern_deploy_load(d, path) : build(d);
    if (st) return st;
    if ((st = tern_deploy_to_fp32(d, f))) tern_deploy_free(d);
    return st;
}

/* MACs and weight bytes (packed for ternary layers, fp32 for the twin) of one sample of d. */
static void net_cost(const tern_deploy *d, double *macs, double *bytes_t, double *bytes_f) {
    *macs = *bytes_t = *bytes_f = 0;
    for (int i = 0; i < d->n_layers; i++) {
        const tern_dlayer *L = &d->layers[i];
        if (L->type != TERN_DLAYER_LINEAR && L->type != TERN_DLAYER_CONV2D) continue;
        double per = (double)L->out_shape[0] * L->in_features;
        double pos = L->type == TERN_DLAYER_CONV2D ? (double)L->out_shape[1] * L->out_shape[2] : 1.0;
        *macs += per * pos;
        *bytes_t += L->ternary ? (double)L->packed.rows * L->packed.row_bytes + 8.0 * L->out_shape[0] : 4.0 * per;
        *bytes_f += 4.0 * per;
    }
}

/* A runtime for d at batch n on the packed kernels' path and pool. */
static tern_status rt_init(tern_runtime *rt, const tern_deploy *d, int n, tern_runtime_act act, tern_kernel path,
                           tern_pool *pool) {
    tern_runtime_opts o = {.max_batch = n, .act = act, .kernel = path, .pool = pool};
    return tern_runtime_init_opts(rt, d, &o);
}

/* One row: model a (act mode act, on pool pa) against model b (AUTO, on pool
 * pb), both on the same random batches of n in turn; per sample. 1 after a
 * one-line error. */
static int net_case(const char *name, const tern_deploy *a, tern_runtime_act act, tern_pool *pa, const tern_deploy *b,
                    tern_pool *pb, int n, tern_kernel path, int repeats, tern_rng *r, const char *target) {
    const size_t per_in = (size_t)a->in_shape[0] * a->in_shape[1] * a->in_shape[2];
    const int n_batches = (NET_SAMPLES + n - 1) / n;
    const size_t numel = per_in * (size_t)n * (size_t)n_batches;
    float *x = malloc(sizeof(float) * numel);
    tern_runtime ra, rb;
    memset(&ra, 0, sizeof ra), memset(&rb, 0, sizeof rb);
    int rc = 1;
    if (!x) tern_error(TERN_ERR_NOMEM, "out of memory");
    else if (!rt_init(&ra, a, n, act, path, pa) && !rt_init(&rb, b, n, TERN_RUNTIME_ACT_AUTO, path, pb)) {
        for (size_t i = 0; i < numel; i++) x[i] = tern_rng_normal(r);
        net_job ja = {.rt = &ra, .x = x, .n = n, .n_batches = n_batches,
                      .shape = {n, a->in_shape[0], a->in_shape[1], a->in_shape[2]}};
        net_job jb = ja;
        jb.rt = &rb;
        cli_time ta, tb;
        if (cli_interleave(tern_clock_now_s, run_net, &ja, run_net, &jb, repeats, &ta, &tb)) {
            double macs, bytes_a, bytes_f;
            net_cost(a, &macs, &bytes_a, &bytes_f);
            row(name, n, &ta, &tb, macs * n, bytes_a, a == b ? bytes_a : bytes_f, target);
            rc = 0;
        }
    }
    tern_runtime_free(&ra);
    tern_runtime_free(&rb);
    free(x);
    return rc ? cli_fail("bench kernels") : 0;
}

/* (a) GEMV 4096 x 4096, a third of the weights zero as after TWN, on path:
 * one row with the packed weights in cache (one copy, 4 MB), one with them
 * streamed from DRAM (64 copies rotated, 256 MB, beyond the L3 a core
 * reaches on any current x86 or Arm server); with `batched`, (d) the same
 * weights in cache at batch 256 (GEMM, against sgemm) instead. OpenBLAS's
 * fp32 weights are 64 MB either way. 1 after a one-line error. */
static int bench_gemm(int repeats, tern_rng *r, tern_kernel path, int batched) {
    enum { M = 4096, K = 4096, COPIES = 64, B = 256 };
    const int copies = batched ? 1 : COPIES, n = batched ? B : 1;
    int8_t *T = malloc((size_t)M * K);
    float *wf = malloc(sizeof(float) * (size_t)M * K), *x = malloc(sizeof(float) * K * n);
    float *y = malloc(sizeof(float) * M * n), *alpha = malloc(sizeof(float) * M);
    tern_packed *pw = calloc((size_t)copies, sizeof *pw);
    gemm_job g = {.w = pw, .x = x, .wf = wf, .y = y, .M = M, .K = K, .n = n, .path = path};
    int rc = 1;
    if (!T || !wf || !x || !y || !alpha || !pw) {
        fprintf(stderr, "tern bench kernels: out of memory\n");
        goto done;
    }
    for (int i = 0; i < M; i++) alpha[i] = 0.05f + 0.01f * tern_rng_uniform(r);
    for (size_t i = 0; i < (size_t)M * K; i++) {
        T[i] = (int8_t)((int)tern_rng_below(r, 3) - 1);
        wf[i] = (float)T[i] * alpha[i / K];
    }
    for (int i = 0; i < K * n; i++) x[i] = tern_rng_normal(r);
    if (tern_packed_init(&pw[0], M, K) || tern_packed_set(&pw[0], T, alpha, NULL)) {
        rc = cli_fail("bench kernels");
        goto done;
    }
    for (int c = 1; c < copies; c++) {
        if (tern_packed_init(&pw[c], M, K)) {
            rc = cli_fail("bench kernels");
            goto done;
        }
        memcpy(pw[c].qs, pw[0].qs, (size_t)M * pw[0].row_bytes);
        memcpy(pw[c].wp, pw[0].wp, sizeof(float) * M);
        memcpy(pw[c].wn, pw[0].wn, sizeof(float) * M);
        pw[c].symmetric = pw[0].symmetric;
    }
    g.scratch_bytes = tern_kernel_gemm_scratch_bytes(&pw[0], n, TERN_KACT_I8);
    if (!(g.scratch = malloc(g.scratch_bytes))) {
        fprintf(stderr, "tern bench kernels: out of memory\n");
        goto done;
    }
    const double bytes_t = (double)M * pw[0].row_bytes + 8.0 * M;
    static const char *const names[3] = {"(a) GEMV 4096x4096 b=1, int8 act", "(a) same, weights from DRAM",
                                         "(d) GEMM 4096x4096 b=256, int8 act"};
    static const char *const targets[3] = {">= 10x", "", "<= 23.3 ms"}; /* (d): tern's time before this issue */
    for (int d = batched ? 2 : 0; d < (batched ? 3 : 2); d++) {
        cli_time tt, tf;
        g.n_w = d == 1 ? COPIES : 1;
        g.next = 0;
        if (!cli_interleave(tern_clock_now_s, run_tern_gemm, &g, run_blas_gemm, &g, repeats, &tt, &tf)) {
            rc = cli_fail("bench kernels");
            goto done;
        }
        row(names[d], 0, &tt, &tf, (double)M * K * n, bytes_t, 4.0 * M * K, targets[d]);
    }
    rc = 0;
done:
    for (int c = 0; pw && c < copies; c++) tern_packed_free(&pw[c]);
    free(pw);
    free(T);
    free(wf);
    free(x);
    free(y);
    free(alpha);
    free(g.scratch);
    return rc;
}

/* (e) and (f): LeNet-5 d (named net) at batch 1 and 64 against its fp32
 * twin f, then at batch 64 on a pool of 2 threads against 1. 1 after a
 * one-line error. */
static int bench_lenet(const tern_deploy *d, const tern_deploy *f, const char *net, int repeats, tern_rng *r,
                       tern_kernel path) {
    char name[96];
    int rc = 0;
    for (int b = 0; !rc && b < 2; b++) {
        snprintf(name, sizeof name, "(e) %s b=%d, auto act, vs fp32 twin", net, b ? 64 : 1);
        rc = net_case(name, d, TERN_RUNTIME_ACT_AUTO, NULL, f, NULL, b ? 64 : 1, path, repeats, r, b ? "" : ">= 4x");
    }
    /* Last: the pool is the newest part of the runtime. */
    tern_pool *pool = NULL;
    if (!rc && tern_pool_init(&pool, 2)) rc = cli_fail("bench kernels");
    snprintf(name, sizeof name, "(f) %s b=64, 2 threads vs 1", net);
    if (!rc) rc = net_case(name, d, TERN_RUNTIME_ACT_AUTO, pool, d, NULL, 64, path, repeats, r, ">= 1.8x");
    tern_pool_free(pool);
    return rc;
}

int cmd_bench_kernels(int argc, char **argv) {
    int repeats = 31;
    const char *model = NULL, *lenet = NULL;
    const cli_opt options[] = {
        CLI_INT_OPT("--repeats", &repeats, "N", 1, 100000, "repeats, of which the median and min are quoted (31)"),
        CLI_STR_OPT("--model", &model, "MODEL.h5", "a deploy checkpoint for (b) and (c) instead of the MLP"),
        CLI_STR_OPT("--lenet", &lenet, "MODEL.h5", "a deploy checkpoint for (e) and (f) instead of the random LeNet-5"),
        CLI_END_OPT,
    };
    const cli_spec spec = {
        .cmd = "bench kernels",
        .usage = "usage: tern bench kernels [--repeats N] [--model MODEL.h5] [--lenet MODEL.h5]\n"
                 "\n"
                 "Packed ternary kernels and the runtime against a base, side by side in one\n"
                 "process: each case calibrated to about 2 ms per block and warmed for 1 ms\n"
                 "right before it, the two sides in an order picked anew per repeat; the\n"
                 "median and the min of N repeats (31), speedup = base median / tern median.\n"
                 "  (a) GEMV 4096x4096 at batch 1: tern_kernel_gemm (int8 path) vs cblas_sgemv,\n"
                 "      with the packed weights in cache, then streamed from DRAM (64 copies in turn)\n"
                 "  (b) MNIST MLP 784-256-256-10 at batch 1: the runtime on the deploy model vs\n"
                 "      the same network with fp32 weights through OpenBLAS (sgemv), with int8\n"
                 "      then fp32 activations\n"
                 "  (c) the same at batch 256 (sgemm)\n"
                 "  (d) GEMM 4096x4096 at batch 256: tern_kernel_gemm vs cblas_sgemm\n"
                 "  (e) LeNet-5 (configs/mnist_lenet5.yaml, act_bits 8) at batch 1 and 64: the\n"
                 "      runtime vs its fp32 twin, per sample\n"
                 "  (f) the LeNet-5 at batch 64 on a pool of 2 threads vs on 1\n"
                 "Every side single-threaded but (f)'s (OpenBLAS set to 1 thread). The MLP and\n"
                 "LeNet-5 have random weights unless --model or --lenet gives a trained one.\n"
                 "The networks take 256 distinct random samples in turn (batches of n), as a\n"
                 "user's inputs change from call to call. GB/s counts the weight bytes read\n"
                 "per call. The output is a markdown table.\n",
        .opts = options,
    };
    int rc;
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    /* The models first: a bad --model or --lenet fails at once, before any timing. */
    tern_deploy d, f, l, lf;
    if (net_load(model, mlp_deploy, &d, &f)) return cli_fail("bench kernels");
    if (net_load(lenet, lenet_deploy, &l, &lf)) {
        tern_deploy_free(&f);
        tern_deploy_free(&d);
        return cli_fail("bench kernels");
    }
    tern_kernel path;
    rc = cli_kernel_from_env(&path) ? cli_fail("bench kernels") : 0;
    openblas_set_num_threads(1);
    tern_rng r;
    tern_rng_seed(&r, 1);
    if (!rc) {
        printf("tern bench kernels: kernel path %s, %d interleaved repeats; base = OpenBLAS fp32 (a, d), the fp32 "
               "twin (b, c, e), tern on 1 thread (f)\n\n",
               tern_kernel_name(path), repeats);
        head();
        rc = bench_gemm(repeats, &r, path, 0);
    }
    /* (b), (c): the MLP (or --model) against its fp32 twin, int8 (auto for --model) then fp32 activations. */
    static const tern_runtime_act acts[2] = {TERN_RUNTIME_ACT_AUTO, TERN_RUNTIME_ACT_F32};
    for (int b = 0; !rc && b < 4; b++) {
        const int n = b / 2 ? 256 : 1, a = b % 2;
        char name[96];
        snprintf(name, sizeof name, "(%c) %s b=%d, %s act", b / 2 ? 'c' : 'b', model ? "model" : "MLP 784-256-256-10",
                 n, a ? "fp32" : (model ? "auto" : "int8"));
        rc = net_case(name, &d, acts[a], NULL, &f, NULL, n, path, repeats, &r,
                      a ? "" : (b / 2 ? ">= 1.5x" : ">= 3x"));
    }
    if (!rc) rc = bench_gemm(repeats, &r, path, 1);
    if (!rc) rc = bench_lenet(&l, &lf, lenet ? "--lenet model" : "LeNet-5", repeats, &r, path);
    tern_deploy_free(&lf);
    tern_deploy_free(&l);
    tern_deploy_free(&f);
    tern_deploy_free(&d);
    return rc;
}
