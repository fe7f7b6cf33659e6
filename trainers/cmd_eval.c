/* cmd_eval.c — `tern eval`: a checkpoint on its dataset's test split. A
 * training checkpoint is rebuilt and evaluated as training does (tern/train.h);
 * a deploy checkpoint runs on the packed kernels through the runtime. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "tern/train.h"

static const char *act_label(tern_runtime_act a) {
    return a == TERN_RUNTIME_ACT_I8 ? "int8" : a == TERN_RUNTIME_ACT_F32 ? "fp32" : "auto (as trained)";
}

/* Loss, accuracy, per-class accuracy and sparsity of a training checkpoint. */
static int eval_training(const char *ckpt, const char *data) {
    tern_config cfg;
    tern_model m;
    tern_dataset test;
    tern_status st = tern_dataset_load_checkpoint(ckpt, data, &cfg, &m, &test);
    if (st) return cli_fail("eval"); /* nothing is left allocated */
    tern_eval_result r;
    if ((st = tern_evaluate(&m, &test, cfg.training.batch_size, NULL, &r))) {
        cli_fail("eval");
        tern_model_free(&m);
        tern_dataset_free(&test);
        tern_config_free(&cfg);
        return 1;
    }
    printf("%s on %s test (%d images)\n", ckpt, cfg.dataset.name, r.n);
    printf("test loss %.4f  accuracy %.2f%%  sparsity %.1f%%\n", r.loss, 100.0 * r.acc,
           100.0 * tern_model_sparsity(&m));
    printf("per class:\n");
    for (int k = 0; k < test.n_classes; k++)
        printf("  %-12s %6.2f%%  (%d/%d)\n", test.class_names[k],
               r.class_n[k] ? 100.0 * r.class_correct[k] / r.class_n[k] : 0.0, r.class_correct[k], r.class_n[k]);
    for (int i = 0; i < m.n_layers; i++) {
        tern_quant_layer_stats qs;
        if (!m.layers[i].spec.ternary || tern_model_layer_stats(&m, i, &qs)) continue;
        printf("  layer %-10s sparsity %5.1f%%  +1 %5.1f%%  -1 %5.1f%%  alpha %.4g\n", m.layers[i].spec.name,
               100.0 * qs.frac_zero, 100.0 * qs.frac_pos, 100.0 * qs.frac_neg, qs.alpha_mean);
    }
    tern_model_free(&m);
    tern_dataset_free(&test);
    tern_config_free(&cfg);
    return 0;
}

/* Accuracy and per-class accuracy of a deploy checkpoint on the runtime. */
static int eval_deploy(const char *model, const char *data, tern_runtime_act act, int batch, int threads) {
    tern_deploy d;
    tern_pool *pool;
    if (cli_pool_init(&pool, threads)) return cli_fail("eval");
    if (tern_deploy_load(&d, model)) {
        tern_pool_free(pool);
        return cli_fail("eval");
    }
    tern_dataset test;
    tern_runtime rt;
    tern_status st = cli_load_split(&d, model, d.dataset, data, "test", &test);
    if (st) {
        tern_deploy_free(&d);
        tern_pool_free(pool);
        return cli_fail("eval");
    }
    int *pred = malloc(sizeof(int) * (size_t)test.n);
    tern_runtime_eval r = {.pred = pred};
    st = pred ? cli_runtime_init_pool(&rt, &d, batch, act, pool) : tern_error(TERN_ERR_NOMEM, "out of memory");
    if (!st) {
        st = tern_runtime_evaluate(&rt, &test, &r);
        if (!st) {
            printf("%s (deploy, kernel path %s, ternary activations %s, %d thread%s) on %s test (%d images)\n", model,
                   tern_kernel_name(rt.kernel), act_label(act), threads, threads > 1 ? "s" : "", d.dataset, r.n);
            printf("accuracy %.2f%%  planned buffers %.1f KiB\n", 100.0 * r.acc,
                   (double)tern_runtime_planned_bytes(&rt) / 1024.0);
            printf("per class:\n");
            for (int k = 0; k < d.n_classes; k++) {
                int n = 0, c = 0;
                for (int i = 0; i < test.n; i++)
                    if (test.labels[i] == k) n++, c += pred[i] == k;
                printf("  %-12s %6.2f%%  (%d/%d)\n", d.class_names[k], n ? 100.0 * c / n : 0.0, c, n);
            }
        }
        tern_runtime_free(&rt);
    }
    free(pred);
    tern_dataset_free(&test);
    tern_deploy_free(&d);
    tern_pool_free(pool);
    return st ? cli_fail("eval") : 0;
}

int cmd_eval(int argc, char **argv) {
    const char *ckpt, *data = NULL;
    int act = -1, batch = 0, threads = 0; /* not given */
    const cli_opt options[] = {
        CLI_STR_OPT("--data", &data, "DIR", "read the dataset from DIR instead of the config's path"),
        CLI_CHOICE_OPT("--act", &act, cli_acts,
                       "deploy checkpoints: the ternary layers' activations (auto: as trained)"),
        CLI_INT_OPT("--batch", &batch, "N", 1, 65536, "deploy checkpoints: the batch (256)"),
        CLI_THREADS_OPT(&threads),
        CLI_END_OPT,
    };
    const cli_spec spec = {
        .cmd = "eval",
        .usage = "usage: tern eval CKPT [--data DIR]\n"
                 "       tern eval MODEL.h5 [--data DIR] [--act auto|int8|fp32] [--batch N] [--threads N]\n"
                 "\n"
                 "Evaluate a training checkpoint on its dataset's test split: loss,\n"
                 "accuracy, per-class accuracy and sparsity. The model is rebuilt from the\n"
                 "config stored in the checkpoint.\n"
                 "A deploy checkpoint (tern export) runs on the packed kernels instead; its\n"
                 "dataset is read from --data DIR or datasets/data/<dataset>.\n",
        .opts = options, .args = &ckpt, .max_args = 1,
    };
    int rc;
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    if (!ckpt) return cli_usage(&spec, stderr);
    if (tern_deploy_probe(ckpt))
        return eval_deploy(ckpt, data, act < 0 ? TERN_RUNTIME_ACT_AUTO : (tern_runtime_act)act, batch ? batch : 256,
                           threads ? threads : 1);
    if (act >= 0 || batch || threads) {
        fprintf(stderr, "tern eval: %s applies to deploy checkpoints; %s is not one\n",
                act >= 0 ? "--act" : batch ? "--batch" : "--threads", ckpt);
        return 2;
    }
    return eval_training(ckpt, data);
}
