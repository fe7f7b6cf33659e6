/* cmd_infer.c — `tern infer`: one input through a deploy checkpoint on the
 * runtime (tern/runtime.h): the class and every class's probability. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"

/* "name:split:index" into its parts; 0 when INPUT is not of that form. */
static int parse_ref(const char *s, char *name, size_t nn, char *split, size_t sn, int *index) {
    const char *a = strchr(s, ':'), *b = a ? strchr(a + 1, ':') : NULL;
    if (!a || !b || (size_t)(a - s) >= nn || (size_t)(b - a - 1) >= sn) return 0;
    if (!cli_int(b + 1, 0, 1 << 30, index)) return 0;
    snprintf(name, nn, "%.*s", (int)(a - s), s);
    snprintf(split, sn, "%.*s", (int)(b - a - 1), a + 1);
    return 1;
}

int cmd_infer(int argc, char **argv) {
    const char *args[2], *data = NULL;
    int act = TERN_RUNTIME_ACT_AUTO, threads = 1;
    const cli_opt options[] = {
        CLI_STR_OPT("--data", &data, "DIR", "read DATASET:SPLIT:INDEX's dataset from DIR"),
        CLI_CHOICE_OPT("--act", &act, cli_acts, "ternary layers' activations: auto (as trained, default), int8, fp32"),
        CLI_THREADS_OPT(&threads),
        CLI_END_OPT,
    };
    const cli_spec spec = {
        .cmd = "infer",
        .usage = "usage: tern infer MODEL.h5 INPUT [--data DIR] [--act auto|int8|fp32] [--threads N]\n"
                 "\n"
                 "Classify one input with a deploy checkpoint; prints the class and the\n"
                 "probability of every class. INPUT is one of:\n"
                 "  image.pgm / image.ppm   binary P5 (1 channel) or P6 (3 channels), maxval 255,\n"
                 "                          of the model's height and width\n"
                 "  image.raw               exactly C*H*W bytes, pixels in (C,H,W) order\n"
                 "  DATASET:SPLIT:INDEX     an image of a dataset, e.g. mnist:test:123 (its label\n"
                 "                          is printed too); read from --data DIR or\n"
                 "                          datasets/data/DATASET\n"
                 "Pixels p become (p/255 - mean) / std with the model's stored normalisation.\n",
        .opts = options, .args = args, .max_args = 2, .dash_arg = 1,
    };
    int rc;
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    const char *model = args[0], *input = args[1];
    if (!model || !input) return cli_usage(&spec, stderr);
    tern_deploy d;
    tern_pool *pool;
    if (cli_pool_init(&pool, threads)) return cli_fail("infer");
    if (tern_deploy_load(&d, model)) {
        tern_pool_free(pool);
        return cli_fail("infer");
    }
    size_t per = (size_t)d.in_shape[0] * d.in_shape[1] * d.in_shape[2];
    float *x = malloc(sizeof(float) * per);
    char name[TERN_DATA_NAME_LEN], split[16];
    int index = -1, label = -1;
    tern_status st = x ? TERN_OK : tern_error(TERN_ERR_NOMEM, "out of memory");
    struct stat sb;
    if (!st && stat(input, &sb) != 0 && parse_ref(input, name, sizeof name, split, sizeof split, &index)) {
        tern_dataset ds;
        st = cli_load_split(&d, model, name, data, split, &ds);
        if (!st && (ds.c != d.in_shape[0] || ds.h != d.in_shape[1] || ds.w != d.in_shape[2]))
            st = tern_error(TERN_ERR_SHAPE, "%s: images are (%d,%d,%d) but the model takes (%d,%d,%d)", input, ds.c, ds.h,
                            ds.w, d.in_shape[0], d.in_shape[1], d.in_shape[2]);
        if (!st && index >= ds.n)
            st = tern_error(TERN_ERR_ARG, "%s: index %d is past the %d images of %s %s", input, index, ds.n, name, split);
        if (!st) {
            memcpy(x, ds.images + per * (size_t)index, sizeof(float) * per);
            label = ds.labels[index];
        }
        tern_dataset_free(&ds);
    } else if (!st) {
        st = tern_runtime_read_input(&d, input, x);
    }
    tern_runtime rt;
    int shape[4] = {1, d.in_shape[0], d.in_shape[1], d.in_shape[2]};
    tern_tensor xt = tern_tensor_view(x, NULL, 4, shape);
    const float *z = NULL;
    if (!st) st = cli_runtime_init_pool(&rt, &d, 1, (tern_runtime_act)act, pool);
    if (!st) {
        st = tern_runtime_forward(&rt, &xt, &z);
        if (!st) {
            float p[TERN_DATA_MAX_CLASSES];
            tern_runtime_softmax(z, d.n_classes, p);
            int best = 0;
            for (int k = 1; k < d.n_classes; k++)
                if (p[k] > p[best]) best = k;
            printf("%s: class %d '%s' (p = %.4f)", input, best, d.class_names[best], p[best]);
            if (label >= 0) printf("; label %d '%s'", label, d.class_names[label]);
            printf("\n");
            for (int k = 0; k < d.n_classes; k++)
                printf("  %2d %-12s %.4f%s\n", k, d.class_names[k], p[k], k == best ? "  <" : "");
        }
        tern_runtime_free(&rt);
    }
    rc = st ? cli_fail("infer") : 0;
    free(x);
    tern_deploy_free(&d);
    tern_pool_free(pool);
    return rc;
}
