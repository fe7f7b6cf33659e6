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

static int eval_usage(FILE *f) {
    fprintf(f,
            "usage: tern eval CKPT [--data DIR]\n"
            "       tern eval MODEL.h5 [--data DIR] [--act auto|int8|fp32] [--batch N]\n"
            "\n"
            "Evaluate a training checkpoint on its dataset's test split: loss,\n"
            "accuracy, per-class accuracy and sparsity. The model is rebuilt from the\n"
            "config stored in the checkpoint.\n"
            "A deploy checkpoint (tern export) runs on the packed kernels instead; its\n"
            "dataset is read from --data DIR or datasets/data/<dataset>; --act picks the\n"
            "ternary layers' activations (auto: as trained), --batch the batch (256).\n"
            "  --data DIR  read the dataset from DIR instead of the config's path\n");
    return f == stderr ? 2 : 0;
}

/* Loss, accuracy, per-class accuracy and sparsity of a training checkpoint. */
static int eval_training(const char *ckpt, const char *data) {
    tern_config cfg;
    tern_model m;
    tern_dataset test;
    tern_status st = tern_train_load_for_eval(ckpt, data, &cfg, &m, &test);
    if (st) return cli_fail("eval"); /* nothing is left allocated */
    tern_eval_result r;
    if ((st = tern_evaluate(&m, &test, cfg.training.batch_size, &r))) {
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
static int eval_deploy(const char *model, const char *data, tern_runtime_act act, int batch) {
    tern_deploy d;
    if (tern_deploy_load(&d, model)) return cli_fail("eval");
    tern_dataset test;
    tern_runtime rt;
    tern_status st = cli_load_split(&d, model, d.dataset, data, "test", &test);
    if (st) {
        tern_deploy_free(&d);
        return cli_fail("eval");
    }
    int *pred = malloc(sizeof(int) * (size_t)test.n);
    tern_runtime_eval r = {.pred = pred};
    st = pred ? tern_runtime_init(&rt, &d, batch, act) : tern_error(TERN_ERR_NOMEM, "out of memory");
    if (!st) {
        st = tern_runtime_evaluate(&rt, &test, &r);
        if (!st) {
            printf("%s (deploy, kernel path %s, ternary activations %s) on %s test (%d images)\n", model,
                   tern_kernel_name(tern_kernel_current()), act_label(act), d.dataset, r.n);
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
    return st ? cli_fail("eval") : 0;
}

int cmd_eval(int argc, char **argv) {
    const char *ckpt = NULL, *data = NULL, *deploy_opt = NULL;
    tern_runtime_act act = TERN_RUNTIME_ACT_AUTO;
    int batch = 256;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return eval_usage(stdout);
        if (!strcmp(a, "--data") || !strcmp(a, "--act") || !strcmp(a, "--batch")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tern eval: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--data")) {
                data = v;
                continue;
            }
            deploy_opt = a; /* deploy-file options */
            if (!strcmp(a, "--act")) {
                if (!cli_parse_act("eval", v, &act)) return 2;
            } else if (!cli_int(v, 1, 65536, &batch)) {
                fprintf(stderr, "tern eval: --batch: '%s' is not in 1..65536\n", v);
                return 2;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "tern eval: unknown option '%s' (try 'tern eval --help')\n", a);
            return 2;
        } else if (!ckpt) {
            ckpt = a;
        } else {
            fprintf(stderr, "tern eval: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!ckpt) return eval_usage(stderr);
    if (tern_deploy_probe(ckpt)) return eval_deploy(ckpt, data, act, batch);
    if (deploy_opt) {
        fprintf(stderr, "tern eval: %s applies to deploy checkpoints; %s is not one\n", deploy_opt, ckpt);
        return 2;
    }
    return eval_training(ckpt, data);
}
