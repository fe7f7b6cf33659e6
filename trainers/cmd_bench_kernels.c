/* cmd_bench_kernels.c — `tern bench kernels` (and `tern bench` alone): the
 * packed ternary kernels and the runtime against OpenBLAS fp32, side by side
 * in one process, interleaved. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

typedef struct gemv_job {
    tern_packed *w;      /* (n_w) copies of the same weights, used in turn */
    int n_w, next;
    const float *x, *wf;
    float *y;
    int M, K;
    tern_kernel path;
    void *scratch;
    size_t scratch_bytes;
} gemv_job;

static int run_tern_gemv(void *p) {
    gemv_job *j = p;
    const tern_packed *w = &j->w[j->next];
    j->next = (j->next + 1) % j->n_w;
    return tern_kernel_gemm(j->path, w, j->x, 1, NULL, j->y, TERN_KACT_I8, j->scratch, j->scratch_bytes) != TERN_OK;
}

static int run_blas_gemv(void *p) {
    gemv_job *j = p;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, j->M, j->K, 1.0f, j->wf, j->K, j->x, 1, 0.0f, j->y, 1);
    return 0;
}

typedef struct net_job {
    tern_runtime *rt;
    tern_tensor x;
} net_job;

static int run_net(void *p) {
    net_job *j = p;
    const float *z;
    return tern_runtime_forward(j->rt, &j->x, &z) != TERN_OK;
}

static void row(const char *name, double tt, double tf, double macs, double bytes_t, double bytes_f, const char *unit,
                double per, const char *target) {
    printf("%-40s %10.4f %10.4f %8.2fx %9.2f %9.2f %8.2f %8.2f %10.0f %10.0f  %s\n", name, 1e3 * tt, 1e3 * tf, tf / tt,
           macs / tt * 1e-9, macs / tf * 1e-9, bytes_t / tt * 1e-9, bytes_f / tf * 1e-9, per / tt, per / tf, target);
    (void)unit;
}

/* The MLP of configs/mnist_mlp.yaml, random weights, as a deploy model. */
static tern_status mlp_deploy(tern_deploy *d) {
    tern_quant_cfg q = tern_quant_cfg_default(TERN_QUANT_TWN);
    q.act_bits = 8;
    tern_layer_spec s[6] = {
        {.type = TERN_LAYER_FLATTEN},
        {.type = TERN_LAYER_LINEAR, .name = "fc1", .out = 256, .no_bias = 1, .ternary = 1, .quant = q},
        {.type = TERN_LAYER_BATCHNORM, .name = "bn1", .act = TERN_ACT_RELU},
        {.type = TERN_LAYER_LINEAR, .name = "fc2", .out = 256, .no_bias = 1, .ternary = 1, .quant = q},
        {.type = TERN_LAYER_BATCHNORM, .name = "bn2", .act = TERN_ACT_RELU},
        {.type = TERN_LAYER_LINEAR, .name = "fc3", .out = 10},
    };
    int in[3] = {1, 28, 28};
    tern_model m;
    tern_status st = tern_model_init(&m, s, 6, 3, in, TERN_INIT_HE, 1);
    if (st) return st;
    tern_dataset meta;
    tern_dataset_init(&meta);
    snprintf(meta.name, sizeof meta.name, "mnist");
    meta.c = 1, meta.h = meta.w = 28, meta.n_classes = 10;
    for (int k = 0; k < 10; k++) snprintf(meta.class_names[k], sizeof meta.class_names[k], "%d", k);
    st = tern_deploy_from_model(d, &m, &meta);
    tern_model_free(&m);
    return st;
}

/* (a) GEMV 4096 x 4096, a third of the weights zero as after TWN, on path:
 * one row with the packed weights in cache (one copy, 4 MB), one with them
 * streamed from DRAM (64 copies rotated, 256 MB, beyond the L3 a core
 * reaches on any current x86 or Arm server).
 * OpenBLAS's fp32 weights are 64 MB either way. 1 after a one-line error. */
static int bench_gemv(int repeats, tern_rng *r, tern_kernel path) {
    enum { M = 4096, K = 4096, COPIES = 64 };
    int8_t *T = malloc((size_t)M * K);
    float *wf = malloc(sizeof(float) * (size_t)M * K), *x = malloc(sizeof(float) * K), *y = malloc(sizeof(float) * M);
    float *alpha = malloc(sizeof(float) * M);
    tern_packed *pw = calloc(COPIES, sizeof *pw);
    gemv_job g = {.w = pw, .x = x, .wf = wf, .y = y, .M = M, .K = K, .path = path};
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
    for (int i = 0; i < K; i++) x[i] = tern_rng_normal(r);
    if (tern_packed_init(&pw[0], M, K) || tern_packed_set(&pw[0], T, alpha, NULL)) {
        rc = cli_fail("bench kernels");
        goto done;
    }
    for (int c = 1; c < COPIES; c++) {
        if (tern_packed_init(&pw[c], M, K)) {
            rc = cli_fail("bench kernels");
            goto done;
        }
        memcpy(pw[c].qs, pw[0].qs, (size_t)M * pw[0].row_bytes);
        memcpy(pw[c].wp, pw[0].wp, sizeof(float) * M);
        memcpy(pw[c].wn, pw[0].wn, sizeof(float) * M);
        pw[c].symmetric = pw[0].symmetric;
    }
    g.scratch_bytes = tern_kernel_gemm_scratch_bytes(&pw[0], 1, TERN_KACT_I8);
    if (!(g.scratch = malloc(g.scratch_bytes))) {
        fprintf(stderr, "tern bench kernels: out of memory\n");
        goto done;
    }
    const double bytes_t = (double)M * pw[0].row_bytes + 8.0 * M;
    static const char *const names[2] = {"(a) GEMV 4096x4096 b=1 (int8 act)", "(a) same, weights from DRAM"};
    for (int d = 0; d < 2; d++) {
        double tt, tf;
        g.n_w = d ? COPIES : 1;
        g.next = 0;
        if (!cli_interleave(tern_clock_now_s, run_tern_gemv, &g, run_blas_gemv, &g, repeats, &tt, &tf)) {
            rc = cli_fail("bench kernels");
            goto done;
        }
        row(names[d], tt, tf, (double)M * K, bytes_t, 4.0 * M * K, "", 1.0, d ? "" : ">= 10x");
    }
    rc = 0;
done:
    for (int c = 0; pw && c < COPIES; c++) tern_packed_free(&pw[c]);
    free(pw);
    free(T);
    free(wf);
    free(x);
    free(y);
    free(alpha);
    free(g.scratch);
    return rc;
}

int cmd_bench_kernels(int argc, char **argv) {
    int repeats = 31;
    const char *model = NULL;
    const cli_opt options[] = {
        CLI_INT_OPT("--repeats", &repeats, "N", 1, 100000, "repeats, of which the median is quoted (31)"),
        CLI_STR_OPT("--model", &model, "MODEL.h5", "a deploy checkpoint for (b) and (c) instead of the MLP"),
        CLI_END_OPT,
    };
    const cli_spec spec = {
        .cmd = "bench kernels",
        .usage = "usage: tern bench kernels [--repeats N] [--model MODEL.h5]\n"
                 "\n"
                 "Packed ternary kernels against OpenBLAS fp32, side by side in one process,\n"
                 "interleaved, medians of N repeats (31):\n"
                 "  (a) GEMV 4096x4096 at batch 1: tern_kernel_gemm (int8 path) vs cblas_sgemv,\n"
                 "      with the packed weights in cache, then streamed from DRAM (64 copies in turn)\n"
                 "  (b) MNIST MLP 784-256-256-10 at batch 1: the runtime on the deploy model vs\n"
                 "      the same network with fp32 weights through OpenBLAS (sgemv)\n"
                 "  (c) the same at batch 256: throughput vs sgemm\n"
                 "Both sides single-threaded (OpenBLAS set to 1 thread). The MLP is the shipped\n"
                 "configs/mnist_mlp.yaml architecture with random weights, or --model's network.\n"
                 "GB/s counts the weight bytes read per call.\n",
        .opts = options,
    };
    int rc;
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    /* The model first: a bad --model fails at once, with nothing to free. */
    tern_deploy d, f;
    if (model ? tern_deploy_load(&d, model) : mlp_deploy(&d)) return cli_fail("bench kernels");
    if (tern_deploy_to_fp32(&d, &f)) {
        tern_deploy_free(&d);
        return cli_fail("bench kernels");
    }
    tern_kernel path;
    if (cli_kernel_from_env(&path)) {
        tern_deploy_free(&f);
        tern_deploy_free(&d);
        return cli_fail("bench kernels");
    }
    openblas_set_num_threads(1);
    tern_rng r;
    tern_rng_seed(&r, 1);
    printf("tern bench kernels: kernel path %s, tern and OpenBLAS each on 1 thread, %d interleaved repeats, medians\n",
           tern_kernel_name(path), repeats);
    printf("%-40s %10s %10s %9s %9s %9s %8s %8s %10s %10s  %s\n", "case", "tern ms", "fp32 ms", "speedup", "tGMAC/s",
           "fGMAC/s", "tGB/s", "fGB/s", "tern /s", "fp32 /s", "target");

    if (bench_gemv(repeats, &r, path)) return 1;

    /* (b), (c): the MLP (or --model), deployed and as its fp32 twin, through the runtime. */
    double macs = 0, wbytes_t = 0, wbytes_f = 0;
    for (int i = 0; i < d.n_layers; i++) {
        const tern_dlayer *L = &d.layers[i];
        if (L->type != TERN_DLAYER_LINEAR && L->type != TERN_DLAYER_CONV2D) continue;
        double per = (double)L->out_shape[0] * L->in_features;
        double pos = L->type == TERN_DLAYER_CONV2D ? (double)L->out_shape[1] * L->out_shape[2] : 1.0;
        macs += per * pos;
        wbytes_t += L->ternary ? (double)L->packed.rows * L->packed.row_bytes + 8.0 * L->out_shape[0] : 4.0 * per;
        wbytes_f += 4.0 * per;
    }
    size_t per_in = (size_t)d.in_shape[0] * d.in_shape[1] * d.in_shape[2];
    static const int batches[2] = {1, 256};
    static const tern_runtime_act acts[2] = {TERN_RUNTIME_ACT_AUTO, TERN_RUNTIME_ACT_F32};
    double tt, tf;
    for (int b = 0; b < 2; b++) {
        int n = batches[b];
        float *xb = malloc(sizeof(float) * per_in * (size_t)n);
        if (!xb) return cli_fail("bench kernels");
        for (size_t i = 0; i < per_in * (size_t)n; i++) xb[i] = tern_rng_normal(&r);
        int shape[4] = {n, d.in_shape[0], d.in_shape[1], d.in_shape[2]};
        for (int a = 0; a < 2; a++) {
            tern_runtime rt, rf;
            if (cli_runtime_init(&rt, &d, n, acts[a]) || tern_runtime_init(&rf, &f, n, TERN_RUNTIME_ACT_AUTO))
                return cli_fail("bench kernels");
            net_job jt = {&rt, tern_tensor_view(xb, NULL, 4, shape)}, jf = {&rf, tern_tensor_view(xb, NULL, 4, shape)};
            if (!cli_interleave(tern_clock_now_s, run_net, &jt, run_net, &jf, repeats, &tt, &tf))
                return cli_fail("bench kernels");
            char name[64];
            snprintf(name, sizeof name, "(%c) %s b=%d (%s act)", b ? 'c' : 'b', model ? "model" : "MLP 784-256-256-10",
                     n, a ? "fp32" : (model ? "auto" : "int8"));
            row(name, tt, tf, macs * n, wbytes_t, wbytes_f, "", (double)n, a ? "" : (b ? ">= 1.5x" : ">= 3x"));
            tern_runtime_free(&rt);
            tern_runtime_free(&rf);
        }
        free(xb);
    }
    printf("tern /s and fp32 /s: calls per second (a) or samples per second (b, c)\n");
    tern_deploy_free(&f);
    tern_deploy_free(&d);
    return 0;
}
