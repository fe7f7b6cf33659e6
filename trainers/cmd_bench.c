/* cmd_bench.c — `tern bench`: the table of benchmarks, and `tern bench train`,
 * training throughput of a model on random data.
 *
 * bench train times each step of the shared training step
 * (tern_model_train_step) after a warm-up and prints the median, min and max
 * samples/s on one line, so a script can interleave tern and its PyTorch peer
 * run by run. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

static const tern_layer_spec mlp_784_256_256_10[] = {
    {.type = TERN_LAYER_LINEAR, .name = "fc1", .out = 256, .act = TERN_ACT_RELU},
    {.type = TERN_LAYER_LINEAR, .name = "fc2", .out = 256, .act = TERN_ACT_RELU},
    {.type = TERN_LAYER_LINEAR, .name = "fc3", .out = 10},
};

static const tern_layer_spec lenet5[] = {
    {.type = TERN_LAYER_CONV2D, .name = "conv1", .out = 32, .kernel = 5, .act = TERN_ACT_RELU},
    {.type = TERN_LAYER_MAXPOOL, .kernel = 2},
    {.type = TERN_LAYER_CONV2D, .name = "conv2", .out = 64, .kernel = 5, .act = TERN_ACT_RELU},
    {.type = TERN_LAYER_MAXPOOL, .kernel = 2},
    {.type = TERN_LAYER_FLATTEN},
    {.type = TERN_LAYER_LINEAR, .name = "fc1", .out = 512, .act = TERN_ACT_RELU},
    {.type = TERN_LAYER_LINEAR, .name = "fc2", .out = 10},
};

/* The network bench train runs, and its names on the output line. */
typedef struct bench_net {
    tern_layer_spec specs[64];
    int n_layers, in_ndim, in_shape[3];
    const char *model, *quant;
} bench_net;

/* The network of --config, or of --model with --quant on every linear/conv
 * layer (the quantizer's defaults); *batch 0 becomes the config's or 128.
 * 0, or the exit status after a one-line error. */
static int bench_net_pick(bench_net *net, tern_config *cfg, const char *config, const char *model,
                          const char *quant, int *batch) {
    const tern_layer_spec *spec;
    net->model = model, net->quant = quant;
    net->in_ndim = 3;
    if (config) {
        if (tern_config_load(cfg, config)) {
            fprintf(stderr, "tern bench train: %s\n", tern_errmsg());
            return 2;
        }
        if (strcmp(quant, "none")) {
            fprintf(stderr, "tern bench train: --quant and --config exclude each other (the config has its "
                            "quantizers)\n");
            return 2;
        }
        spec = cfg->model.layers, net->n_layers = cfg->model.n_layers;
        tern_config_input_shape(cfg, net->in_shape);
        net->model = config, net->quant = cfg->quant.enabled ? "config" : "none";
        if (!*batch) *batch = cfg->training.batch_size;
    } else if (!strcmp(model, "mlp")) {
        spec = mlp_784_256_256_10, net->n_layers = 3, net->in_ndim = 1;
        net->in_shape[0] = 784, net->in_shape[1] = net->in_shape[2] = 0;
    } else if (!strcmp(model, "lenet5")) {
        spec = lenet5, net->n_layers = 7;
        net->in_shape[0] = 1, net->in_shape[1] = net->in_shape[2] = 28;
    } else {
        fprintf(stderr, "tern bench train: unknown model '%s' (mlp or lenet5)\n", model);
        return 2;
    }
    if (!*batch) *batch = 128;
    if (net->n_layers > 64) {
        fprintf(stderr, "tern bench train: %s has %d layers; the benchmark takes at most 64\n", net->model,
                net->n_layers);
        return 2;
    }
    memcpy(net->specs, spec, sizeof *spec * (size_t)net->n_layers);
    if (config || !strcmp(quant, "none")) return 0;
    tern_quant_method method;
    if (tern_quant_method_parse(quant, &method)) {
        fprintf(stderr, "tern bench train: --quant: %s\n", tern_errmsg());
        return 2;
    }
    for (int i = 0; i < net->n_layers; i++)
        if (net->specs[i].type == TERN_LAYER_LINEAR || net->specs[i].type == TERN_LAYER_CONV2D) {
            net->specs[i].ternary = 1;
            net->specs[i].quant = tern_quant_cfg_default(method);
        }
    return 0;
}

/* Time `steps` training steps of net after `warmup` untimed ones and print
 * the line; the exit status. */
static int bench_net_run(const bench_net *net, int batch, int steps, int warmup, int threads) {
    tern_pool *pool;
    if (tern_pool_init(&pool, threads)) {
        fprintf(stderr, "tern bench train: %s\n", tern_errmsg());
        return 1;
    }
    openblas_set_num_threads(1);
    tern_model m;
    tern_ctx c;
    tern_optim o;
    tern_optim_config oc = tern_optim_default(TERN_OPTIM_ADAM);
    if (tern_model_init(&m, net->specs, net->n_layers, net->in_ndim, net->in_shape, TERN_INIT_HE, 1) ||
        tern_ctx_init(&c, 0) || tern_optim_init(&o, &m.params, &oc)) {
        fprintf(stderr, "tern bench train: %s\n", tern_errmsg());
        return 1;
    }
    /* A fixed pool of random batches, cycled, as the PyTorch peer does. */
    enum { POOL = 16 };
    size_t per = tern_shape_numel(net->in_ndim, net->in_shape);
    float *xs = malloc(sizeof(float) * per * (size_t)batch * POOL);
    int *ys = malloc(sizeof(int) * (size_t)batch * POOL);
    double *t = malloc(sizeof(double) * (size_t)steps);
    if (!xs || !ys || !t) {
        fprintf(stderr, "tern bench train: out of memory\n");
        return 1;
    }
    tern_rng r;
    tern_rng_seed(&r, 1);
    c.rng = &r;
    c.pool = pool;
    for (size_t i = 0; i < per * (size_t)batch * POOL; i++) xs[i] = tern_rng_normal(&r);
    for (int i = 0; i < batch * POOL; i++) ys[i] = (int)tern_rng_below(&r, 10);
    int shape[4] = {batch, net->in_shape[0], net->in_shape[1], net->in_shape[2]};
    tern_step_result res = {0};
    for (int s = 0; s < warmup + steps; s++) {
        int k = s % POOL;
        tern_tensor x = tern_tensor_view(xs + per * (size_t)batch * k, NULL, net->in_ndim + 1, shape);
        double t0 = tern_clock_now_s();
        tern_status st = tern_model_train_step(&m, &c, &o, &x, ys + batch * k, 1e-3f, 0.0f, &res);
        double t1 = tern_clock_now_s();
        if (st) {
            fprintf(stderr, "tern bench train: step %d: %s\n", s, tern_errmsg());
            return 1;
        }
        if (s >= warmup) t[s - warmup] = t1 - t0;
    }
    double med = tern_clock_median(t, steps); /* sorts t: t[0] is the fastest step */
    printf("tern model=%s quant=%s batch=%d threads=%d samples_per_s=%.1f min=%.1f max=%.1f step_ms=%.3f loss=%.4f\n",
           net->model, net->quant, batch, threads, batch / med, batch / t[steps - 1], batch / t[0], med * 1e3,
           res.loss);
    free(xs);
    free(ys);
    free(t);
    tern_optim_free(&o);
    tern_ctx_free(&c);
    tern_model_free(&m);
    tern_pool_free(pool);
    return 0;
}

static int bench_train(int argc, char **argv) {
    const char *model = "mlp", *quant = "none", *config = NULL;
    int batch = 0, steps = 200, warmup = 20, threads = 1;
    const cli_opt options[] = {
        CLI_STR_OPT("--model", &model, "NAME",
                    "mlp (784-256-256-10, default) or lenet5 (32C5-MP2-64C5-MP2-512FC-10)"),
        CLI_STR_OPT("--quant", &quant, "NAME",
                    "none (fp32, default) or the quantizer of every linear/conv layer"),
        CLI_STR_OPT("--config", &config, "FILE",
                    "the model of a training config instead (its layers, batchnorms,\n"
                    "hybrid quantizers and batch size), e.g. configs/mnist_lenet5.yaml;\n"
                    "the step profiled by callgrind without loading the dataset"),
        CLI_INT_OPT("--batch", &batch, "N", 1, 65536, "batch size (128)"),
        CLI_INT_OPT("--steps", &steps, "N", 1, 1000000, "timed steps (200)"),
        CLI_INT_OPT("--warmup", &warmup, "N", 0, 1000000, "untimed steps first (20)"),
        CLI_INT_OPT("--threads", &threads, "N", 1, 256, "worker threads of the step (1); OpenBLAS runs one in each"),
        CLI_END_OPT,
    };
    const cli_spec cs = {
        .cmd = "bench train",
        .usage = "usage: tern bench train [--model mlp|lenet5] [--quant none|twn|absmean|ttq] [--batch N]\n"
                 "                        [--steps N] [--warmup N] [--threads N]\n"
                 "       tern bench train --config FILE [--batch N] [--steps N] [--warmup N] [--threads N]\n"
                 "\n"
                 "Training throughput on random data (Adam, lr 1e-3): one line with the\n"
                 "median, min and max samples/s over the timed steps.\n",
        .opts = options,
    };
    int rc;
    if (!cli_parse(&cs, argc, argv, &rc)) return rc;
    bench_net net;
    tern_config cfg = {0};
    rc = bench_net_pick(&net, &cfg, config, model, quant, &batch);
    if (!rc) rc = bench_net_run(&net, batch, steps, warmup, threads);
    tern_config_free(&cfg);
    return rc;
}

const cli_command bench_commands[] = {
    {"train", bench_train, "training throughput of a model on random data", NULL, 0},
    {"kernels", cmd_bench_kernels, "packed ternary kernels and runtime against OpenBLAS fp32", NULL, 0},
    {"zskip", cmd_bench_zskip, "dense against zero-skipping ternary kernels by sparsity", NULL, 0},
    {"gemm", cmd_bench_gemm, "tern's fp32 GEMM against OpenBLAS on the training step's shapes", NULL, 0},
    {NULL, NULL, NULL, NULL, 0},
};

static int bench_usage(FILE *f) {
    fprintf(f, "usage: tern bench [BENCHMARK] [options]\n\nbenchmarks (kernels when none is named):\n");
    cli_print_commands(f, bench_commands, 8);
    fprintf(f, "\nRun 'tern bench BENCHMARK --help' for a benchmark's options.\n");
    return f == stderr ? 2 : 0;
}

int cmd_bench(int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) return bench_usage(stdout);
    /* `tern bench [options]` without a name runs the kernel benchmarks. */
    if (argc < 2 || argv[1][0] == '-') return cmd_bench_kernels(argc, argv);
    const cli_command *c = cli_find(bench_commands, argv[1]);
    if (c) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "tern bench: unknown benchmark '%s' (try 'tern bench --help')\n", argv[1]);
    return 2;
}
