/* cmd_infer.c — `tern infer`: inputs (image files, folders of them, raw
 * files, dataset references) through a deploy checkpoint on the runtime
 * (tern/runtime.h): the class of each, and for one input every class's
 * probability. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "commands.h"

/* Byte order (strcmp), the same whatever the locale. */
static int alphasort_bytes(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

/* "name:split:index" into its parts; 0 when INPUT is not of that form. */
static int parse_ref(const char *s, char *name, size_t nn, char *split, size_t sn, int *index) {
    const char *a = strchr(s, ':'), *b = a ? strchr(a + 1, ':') : NULL;
    if (!a || !b || (size_t)(a - s) >= nn || (size_t)(b - a - 1) >= sn) return 0;
    if (!cli_int(b + 1, 0, 1 << 30, index)) return 0;
    snprintf(name, nn, "%.*s", (int)(a - s), s);
    snprintf(split, sn, "%.*s", (int)(b - a - 1), a + 1);
    return 1;
}

/* The images of directory dir (.png, .jpg, .jpeg, .pgm, .ppm; hidden
 * entries skipped), sorted by name, appended to *list as malloc'd paths. */
static tern_status list_images(const char *dir, char ***list, int *n, int *cap) {
    struct dirent **e;
    int k = scandir(dir, &e, NULL, alphasort_bytes);
    if (k < 0) return tern_error(TERN_ERR_IO, "%s: cannot read the directory", dir);
    tern_status st = TERN_OK;
    for (int i = 0; i < k; i++) {
        const char *dot = strrchr(e[i]->d_name, '.');
        int image = e[i]->d_name[0] != '.' && dot &&
                    (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") ||
                     !strcasecmp(dot, ".pgm") || !strcasecmp(dot, ".ppm"));
        if (!st && image) {
            if (*n == *cap) {
                char **v = realloc(*list, sizeof *v * (size_t)(*cap = *cap ? 2 * *cap : 64));
                if (!v) st = tern_error(TERN_ERR_NOMEM, "out of memory");
                else *list = v;
            }
            size_t len = strlen(dir) + strlen(e[i]->d_name) + 2;
            char *p = st ? NULL : malloc(len);
            if (p) snprintf(p, len, "%s/%s", dir, e[i]->d_name), (*list)[(*n)++] = p;
            else if (!st) st = tern_error(TERN_ERR_NOMEM, "out of memory");
        }
        free(e[i]);
    }
    free(e);
    if (!st && *n == 0) st = tern_error(TERN_ERR_IO, "%s: no .png, .jpg, .jpeg, .pgm or .ppm image", dir);
    return st;
}

/* x (C,H,W) = one input: a DATASET:SPLIT:INDEX reference (*label its
 * label), else a file. */
static tern_status read_one(const tern_deploy *d, const char *model, const char *data, const char *input, float *x,
                            int *label) {
    size_t per = (size_t)d->in_shape[0] * d->in_shape[1] * d->in_shape[2];
    char name[TERN_DATA_NAME_LEN], split[16];
    int index = -1;
    struct stat sb;
    *label = -1;
    if (stat(input, &sb) == 0 || !parse_ref(input, name, sizeof name, split, sizeof split, &index))
        return tern_runtime_read_input(d, input, x);
    tern_dataset ds;
    tern_status st = cli_load_split(d, model, name, data, split, &ds);
    if (!st && (ds.c != d->in_shape[0] || ds.h != d->in_shape[1] || ds.w != d->in_shape[2]))
        st = tern_error(TERN_ERR_SHAPE, "%s: images are (%d,%d,%d) but the model takes (%d,%d,%d)", input, ds.c, ds.h,
                        ds.w, d->in_shape[0], d->in_shape[1], d->in_shape[2]);
    if (!st && index >= ds.n)
        st = tern_error(TERN_ERR_ARG, "%s: index %d is past the %d images of %s %s", input, index, ds.n, name, split);
    if (!st) {
        memcpy(x, ds.images + per * (size_t)index, sizeof(float) * per);
        *label = ds.labels[index];
    }
    tern_dataset_free(&ds);
    return st;
}

/* Classify input; the line "input: class K 'name' (p = P)", then with
 * `table` every class's probability. */
static tern_status infer_one(tern_runtime *rt, const tern_deploy *d, const char *model, const char *data,
                             const char *input, float *x, int table) {
    int label, shape[4] = {1, d->in_shape[0], d->in_shape[1], d->in_shape[2]};
    tern_status st = read_one(d, model, data, input, x, &label);
    tern_tensor xt = tern_tensor_view(x, NULL, 4, shape);
    const float *z = NULL;
    if (!st) st = tern_runtime_forward(rt, &xt, &z);
    if (st) return st;
    float p[TERN_DATA_MAX_CLASSES];
    tern_runtime_softmax(z, d->n_classes, p);
    int best = 0;
    for (int k = 1; k < d->n_classes; k++)
        if (p[k] > p[best]) best = k;
    printf("%s: class %d '%s' (p = %.4f)", input, best, d->class_names[best], p[best]);
    if (label >= 0) printf("; label %d '%s'", label, d->class_names[label]);
    printf("\n");
    for (int k = 0; table && k < d->n_classes; k++)
        printf("  %2d %-12s %.4f%s\n", k, d->class_names[k], p[k], k == best ? "  <" : "");
    return TERN_OK;
}

#define INFER_MAX_ARGS 1024

int cmd_infer(int argc, char **argv) {
    static const char *args[1 + INFER_MAX_ARGS];
    const char *data = NULL;
    int act = TERN_RUNTIME_ACT_AUTO, threads = 1;
    const cli_opt options[] = {
        CLI_STR_OPT("--data", &data, "DIR", "read DATASET:SPLIT:INDEX's dataset from DIR"),
        CLI_CHOICE_OPT("--act", &act, cli_acts, "ternary layers' activations: auto (as trained, default), int8, fp32"),
        CLI_THREADS_OPT(&threads),
        CLI_END_OPT,
    };
    const cli_spec spec = {
        .cmd = "infer",
        .usage = "usage: tern infer MODEL.h5 INPUT... [--data DIR] [--act auto|int8|fp32] [--threads N]\n"
                 "\n"
                 "Classify inputs with a deploy checkpoint. One INPUT: its class and the\n"
                 "probability of every class; several (or a folder): one line per input,\n"
                 "  INPUT: class K 'NAME' (p = P)\n"
                 "INPUT is one of:\n"
                 "  image.png / .jpg / .jpeg  gray or RGB (PNG: any depth, alpha dropped)\n"
                 "  image.pgm / .ppm          P2, P5 (1 channel) or P3, P6 (3 channels)\n"
                 "  DIR                       every such image in DIR, in name order\n"
                 "  image.raw                 exactly C*H*W bytes, pixels in (C,H,W) order\n"
                 "  DATASET:SPLIT:INDEX       an image of a dataset, e.g. mnist:test:123 (its label\n"
                 "                            is printed too); read from --data DIR or\n"
                 "                            datasets/data/DATASET\n"
                 "An image must have the model's height and width; gray and RGB are\n"
                 "converted to the model's channels as the folder dataset converts them.\n"
                 "Pixels p become (p/255 - mean) / std with the model's stored normalisation.\n",
        .opts = options, .args = args, .max_args = 1 + INFER_MAX_ARGS, .dash_arg = 1,
    };
    int rc;
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    const char *model = args[0];
    if (!model || !args[1]) return cli_usage(&spec, stderr);
    /* The inputs, folders expanded. */
    char **inputs = NULL;
    int n = 0, cap = 0;
    tern_status st = TERN_OK;
    for (int i = 1; i <= INFER_MAX_ARGS && args[i] && !st; i++) {
        struct stat sb;
        if (stat(args[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
            st = list_images(args[i], &inputs, &n, &cap);
            continue;
        }
        char **v = n < cap ? inputs : realloc(inputs, sizeof *v * (size_t)(cap = cap ? 2 * cap : 64));
        char *p = v ? strdup(args[i]) : NULL;
        if (v) inputs = v;
        if (p) inputs[n++] = p;
        else st = tern_error(TERN_ERR_NOMEM, "out of memory");
    }
    tern_deploy d;
    tern_pool *pool = NULL;
    tern_runtime rt;
    float *x = NULL;
    int loaded = 0, planned = 0, failed = 0;
    if (!st) st = cli_pool_init(&pool, threads);
    if (!st && !(st = tern_deploy_load(&d, model))) loaded = 1;
    if (!st && !(x = malloc(sizeof(float) * (size_t)d.in_shape[0] * d.in_shape[1] * d.in_shape[2])))
        st = tern_error(TERN_ERR_NOMEM, "out of memory");
    if (!st && !(st = cli_runtime_init_pool(&rt, &d, 1, (tern_runtime_act)act, pool))) planned = 1;
    /* A bad input is reported and skipped: the others' lines still come. */
    for (int i = 0; !st && i < n; i++) {
        fflush(stdout);
        if (infer_one(&rt, &d, model, data, inputs[i], x, n == 1)) failed = cli_fail("infer");
    }
    rc = st ? cli_fail("infer") : failed;
    if (planned) tern_runtime_free(&rt);
    if (loaded) tern_deploy_free(&d);
    tern_pool_free(pool);
    free(x);
    for (int i = 0; i < n; i++) free(inputs[i]);
    free(inputs);
    return rc;
}
