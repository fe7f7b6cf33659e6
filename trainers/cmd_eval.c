/* cmd_eval.c — `tern eval`: a checkpoint on its dataset's test split. A
 * training checkpoint is rebuilt and evaluated as training does (tern/train.h);
 * a deploy checkpoint runs on the packed kernels through the runtime. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "io/fsutil.h" /* the --logits file is written as every tern result is */
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

/* The --logits file: "i label pred h0 .. h(K-1)" for images i < n, hj the
 * bits of logit j in hex (exact, so another runtime can be compared with
 * cmp), written atomically. */
static tern_status write_logits(const char *path, const tern_dataset *ds, const int *pred, const float *logits, int K,
                                int n) {
    const size_t line = 3 * 12 + 9 * (size_t)K + 1;
    char *buf = malloc(line * (size_t)n + 1), *p = buf;
    if (!buf) return tern_error(TERN_ERR_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        p += sprintf(p, "%d %d %d", i, ds->labels[i], pred[i]);
        for (int j = 0; j < K; j++) {
            uint32_t u;
            memcpy(&u, &logits[(size_t)i * K + j], sizeof u);
            p += sprintf(p, " %08" PRIx32, u);
        }
        *p++ = '\n';
    }
    tern_status st = tern_fs_write_atomic(path, buf, (size_t)(p - buf));
    free(buf);
    return st;
}

/* Accuracy and per-class accuracy of a deploy checkpoint on the runtime;
 * with logits_path, the first `limit` images' logits into that file (limit
 * 0: all). */
static int eval_deploy(const char *model, const char *data, tern_runtime_act act, int batch, int threads,
                       const char *logits_path, int limit) {
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
    float *logits = logits_path ? malloc(sizeof(float) * (size_t)test.n * (size_t)d.n_classes) : NULL;
    tern_runtime_eval r = {.pred = pred, .logits = logits};
    st = pred && (logits || !logits_path) ? cli_runtime_init_pool(&rt, &d, batch, act, pool)
                                          : tern_error(TERN_ERR_NOMEM, "out of memory");
    if (!st) {
        st = tern_runtime_evaluate(&rt, &test, &r);
        if (!st && logits_path)
            st = write_logits(logits_path, &test, pred, logits, d.n_classes, limit && limit < r.n ? limit : r.n);
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
    free(logits);
    tern_dataset_free(&test);
    tern_deploy_free(&d);
    tern_pool_free(pool);
    return st ? cli_fail("eval") : 0;
}

int cmd_eval(int argc, char **argv) {
    const char *ckpt, *data = NULL, *logits = NULL;
    int act = -1, batch = 0, threads = 0, limit = 0; /* not given */
    const cli_opt options[] = {
        CLI_STR_OPT("--data", &data, "DIR", "read the dataset from DIR instead of the config's path"),
        CLI_CHOICE_OPT("--act", &act, cli_acts,
                       "deploy checkpoints: the ternary layers' activations (auto: as trained)"),
        CLI_INT_OPT("--batch", &batch, "N", 1, 65536, "deploy checkpoints: the batch (256)"),
        CLI_THREADS_OPT(&threads),
        CLI_STR_OPT("--logits", &logits, "FILE",
                    "deploy checkpoints: write \"i label pred h0 .. h(K-1)\" per test image,\n"
                    "hj logit j's float bits as 8 hex digits"),
        CLI_INT_OPT("--limit", &limit, "N", 1, 1 << 30, "with --logits: the first N images only (all)"),
        CLI_END_OPT,
    };
    const cli_spec spec = {
        .cmd = "eval",
        .usage = "usage: tern eval CKPT [--data DIR]\n"
                 "       tern eval MODEL.h5 [--data DIR] [--act auto|int8|fp32] [--batch N] [--threads N]\n"
                 "                          [--logits FILE [--limit N]]\n"
                 "\n"
                 "Evaluate a training checkpoint on its dataset's test split: loss,\n"
                 "accuracy, per-class accuracy and sparsity. The model is rebuilt from the\n"
                 "config stored in the checkpoint; its dataset is read from --data DIR, else\n"
                 "the config's path, else the directory training found it in.\n"
                 "A deploy checkpoint (tern export) runs on the packed kernels instead; its\n"
                 "dataset is read from --data DIR, else datasets/data/<dataset> here or in\n"
                 "the model's folder or one of the 3 above it (a folder, npy or csv dataset\n"
                 "needs --data DIR).\n",
        .opts = options, .args = &ckpt, .max_args = 1,
    };
    int rc;
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    if (!ckpt) return cli_usage(&spec, stderr);
    if (limit && !logits) {
        fprintf(stderr, "tern eval: --limit applies with --logits\n");
        return 2;
    }
    if (tern_deploy_probe(ckpt))
        return eval_deploy(ckpt, data, act < 0 ? TERN_RUNTIME_ACT_AUTO : (tern_runtime_act)act, batch ? batch : 256,
                           threads ? threads : 1, logits, limit);
    if (act >= 0 || batch || threads || logits) {
        fprintf(stderr, "tern eval: %s applies to deploy checkpoints; %s is not one\n",
                act >= 0 ? "--act" : batch ? "--batch" : threads ? "--threads" : "--logits", ckpt);
        return 2;
    }
    return eval_training(ckpt, data);
}
