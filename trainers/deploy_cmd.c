/* deploy_cmd.c — `tern export`, `tern infer`, `tern eval` of a deploy file
 * `tern bench kernels`, `tern bench zskip` and `tern bench gemm`: thin shells
 * around tern/deploy.h, tern/runtime.h and tern/kernels.h. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "kernels/sgemm.h"   /* bench gemm times the training GEMM, internal to libtern */
#include "tern.h"
#include "tern/deploy.h"
#include "tern/runtime.h"

static int fail(const char *cmd) {
    fprintf(stderr, "tern %s: %s\n", cmd, tern_errmsg());
    return 1;
}

static long long file_bytes(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static int parse_act(const char *cmd, const char *v, tern_runtime_act *act) {
    if (!strcmp(v, "auto")) *act = TERN_RUNTIME_ACT_AUTO;
    else if (!strcmp(v, "int8")) *act = TERN_RUNTIME_ACT_I8;
    else if (!strcmp(v, "fp32")) *act = TERN_RUNTIME_ACT_F32;
    else {
        fprintf(stderr, "tern %s: --act must be auto, int8 or fp32, got '%s'\n", cmd, v);
        return 0;
    }
    return 1;
}

static const char *act_label(tern_runtime_act a) {
    return a == TERN_RUNTIME_ACT_I8 ? "int8" : a == TERN_RUNTIME_ACT_F32 ? "fp32" : "auto (as trained)";
}

/* ---- tern export ------------------------------------------------------------ */

/* 1 when a and b both exist and are one file (symlinks and hard links followed). */
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Whether export may write `path` without --force: it does not exist, or it
 * is a deploy checkpoint (an earlier export). A training checkpoint, or any
 * other file, is somebody's work: one line and 0. */
static int replaceable(const char *cmd, const char *path, const char *ckpt) {
    struct stat sb;
    /* The input itself: tern_deploy_export refuses it, --force or not. */
    if (stat(path, &sb) != 0 || tern_deploy_probe(path) || same_file(path, ckpt)) return 1;
    tern_ckpt_info info;
    fprintf(stderr, "tern %s: %s exists and is %s; pass --force to replace it\n", cmd, path,
            tern_ckpt_read_info(path, &info) == TERN_OK ? "a training checkpoint" : "not a deploy checkpoint");
    return 0;
}

static int export_usage(FILE *f) {
    fprintf(f,
            "usage: tern export TRAIN_CKPT -o MODEL.h5 [--data DIR] [--fp32-out PATH] [--force]\n"
            "\n"
            "Write a deploy checkpoint: ternary layers packed at 2 bits per weight in the\n"
            "kernels' t2 layout with per-row scales, batchnorm folded, fp32 layers as fp32,\n"
            "topology, input normalisation and class names (docs/deploy-format.md).\n"
            "The model and its normalisation come from the training checkpoint and its\n"
            "dataset's test split.\n"
            "  -o PATH          the deploy file (written atomically)\n"
            "  --data DIR       read the dataset from DIR instead of the config's path\n"
            "  --fp32-out PATH  also write the same model with fp32 weights, uncompressed:\n"
            "                   the fp32 checkpoint the size ratio is measured against\n"
            "  --force          replace an output that exists and is not a deploy checkpoint\n"
            "                   (a training checkpoint, say); the input itself never\n");
    return f == stderr ? 2 : 0;
}

int tern_cmd_export(int argc, char **argv) {
    const char *ckpt = NULL, *out = NULL, *data = NULL, *fp32_out = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return export_usage(stdout);
        if (!strcmp(a, "--force")) {
            force = 1;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--data") || !strcmp(a, "--fp32-out")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tern export: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "-o")) out = v;
            else if (!strcmp(a, "--data")) data = v;
            else fp32_out = v;
        } else if (a[0] == '-') {
            fprintf(stderr, "tern export: unknown option '%s' (try 'tern export --help')\n", a);
            return 2;
        } else if (!ckpt) {
            ckpt = a;
        } else {
            fprintf(stderr, "tern export: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!ckpt || !out) return export_usage(stderr);
    if (fp32_out && (!strcmp(fp32_out, out) || same_file(fp32_out, out) || same_file(fp32_out, ckpt))) {
        fprintf(stderr, "tern export: --fp32-out %s is the training checkpoint or the deploy file; give it a file of "
                "its own\n", fp32_out);
        return 1;
    }
    if (!force && (!replaceable("export", out, ckpt) || (fp32_out && !replaceable("export", fp32_out, ckpt)))) return 1;
    tern_deploy_sizes z;
    tern_config cfg;
    tern_model m;
    tern_dataset test;
    if (tern_dataset_load_checkpoint(ckpt, data, &cfg, &m, &test)) return fail("export");
    tern_status xst = tern_deploy_export(&m, &test, ckpt, out, &z);
    tern_model_free(&m);
    tern_dataset_free(&test);
    tern_config_free(&cfg);
    if (xst) return fail("export");
    /* The fp32 reference: the same model, every weight fp32, no compression. */
    tern_deploy d, f;
    tern_deploy_sizes zf;
    tern_deploy_init(&f);
    if (tern_deploy_load(&d, out) || tern_deploy_to_fp32(&d, &f) || tern_deploy_save(&f, fp32_out, 0, &zf)) {
        int rc = fail("export");
        tern_deploy_free(&f);
        tern_deploy_free(&d);
        return rc;
    }
    int n_tern = 0;
    for (int i = 0; i < d.n_layers; i++) n_tern += d.layers[i].ternary;
    printf("%s: %d layers (%d ternary), %zu bytes\n", out, d.n_layers, n_tern, z.file_bytes);
    if (z.ternary_weights)
        printf("  ternary weights  %zu: %.3f bits/weight in memory (t2, K padded to 128), %.3f on disk (deflate)\n",
               z.ternary_weights, 8.0 * (double)z.packed_bytes / (double)z.ternary_weights,
               8.0 * (double)z.packed_disk_bytes / (double)z.ternary_weights);
    printf("  other parameters %zu floats (scales, biases, fp32 layers)\n", z.other_params);
    printf("  fp32 checkpoint of the same model: %zu bytes%s%s -> deploy is 1/%.1f of it\n", zf.file_bytes,
           fp32_out ? ", written to " : " (not written; --fp32-out PATH)", fp32_out ? fp32_out : "",
           (double)zf.file_bytes / (double)z.file_bytes);
    long long tb = file_bytes(ckpt);
    if (tb > 0) printf("  training checkpoint %s: %lld bytes (latent weights and optimizer state)\n", ckpt, tb);
    tern_deploy_free(&f);
    tern_deploy_free(&d);
    return 0;
}

/* ---- tern infer ---------------------------------------------------------------- */

static int infer_usage(FILE *f) {
    fprintf(f,
            "usage: tern infer MODEL.h5 INPUT [--data DIR] [--act auto|int8|fp32]\n"
            "\n"
            "Classify one input with a deploy checkpoint; prints the class and the\n"
            "probability of every class. INPUT is one of:\n"
            "  image.pgm / image.ppm   binary P5 (1 channel) or P6 (3 channels), maxval 255,\n"
            "                          of the model's height and width\n"
            "  image.raw               exactly C*H*W bytes, pixels in (C,H,W) order\n"
            "  DATASET:SPLIT:INDEX     an image of a dataset, e.g. mnist:test:123 (its label\n"
            "                          is printed too); read from --data DIR or\n"
            "                          datasets/data/DATASET\n"
            "Pixels p become (p/255 - mean) / std with the model's stored normalisation.\n"
            "  --act  ternary layers' activations: auto (as trained, default), int8, fp32\n");
    return f == stderr ? 2 : 0;
}

/* "name:split:index" into its parts; 0 when INPUT is not of that form. */
static int parse_ref(const char *s, char *name, size_t nn, char *split, size_t sn, int *index) {
    const char *a = strchr(s, ':'), *b = a ? strchr(a + 1, ':') : NULL;
    if (!a || !b || (size_t)(a - s) >= nn || (size_t)(b - a - 1) >= sn) return 0;
    if (!tern_cli_int(b + 1, 0, 1 << 30, index)) return 0;
    snprintf(name, nn, "%.*s", (int)(a - s), s);
    snprintf(split, sn, "%.*s", (int)(b - a - 1), a + 1);
    return 1;
}

tern_status tern_cli_load_split(const tern_deploy *d, const char *model, const char *name, const char *dir,
                                const char *split, tern_dataset *ds) {
    char def[600];
    snprintf(def, sizeof def, "datasets/data/%s", name);
    tern_norm norm = {.mode = TERN_NORM_GIVEN};
    memcpy(norm.mean, d->mean, sizeof norm.mean);
    memcpy(norm.std, d->std, sizeof norm.std);
    tern_dataset_init(ds);
    tern_status st = tern_dataset_load(ds, name, dir ? dir : def, split, &norm);
    /* The dataset is the one the file names: say so, and (without --data) how to point elsewhere. */
    if (st) st = tern_error(st, "%s: its dataset: %s%s", model, tern_errmsg(), dir ? "" : "; give its directory with --data DIR");
    return st;
}

int tern_cmd_infer(int argc, char **argv) {
    const char *model = NULL, *input = NULL, *data = NULL;
    tern_runtime_act act = TERN_RUNTIME_ACT_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return infer_usage(stdout);
        if (!strcmp(a, "--data") || !strcmp(a, "--act")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tern infer: %s needs a value\n", a);
                return 2;
            }
            if (!strcmp(a, "--data")) data = argv[++i];
            else if (!parse_act("infer", argv[++i], &act)) return 2;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "tern infer: unknown option '%s' (try 'tern infer --help')\n", a);
            return 2;
        } else if (!model) {
            model = a;
        } else if (!input) {
            input = a;
        } else {
            fprintf(stderr, "tern infer: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!model || !input) return infer_usage(stderr);
    tern_deploy d;
    if (tern_deploy_load(&d, model)) return fail("infer");
    size_t per = (size_t)d.in_shape[0] * d.in_shape[1] * d.in_shape[2];
    float *x = malloc(sizeof(float) * per);
    char name[TERN_DATA_NAME_LEN], split[16];
    int index = -1, label = -1, rc = 0;
    tern_status st = x ? TERN_OK : tern_error(TERN_ERR_NOMEM, "out of memory");
    struct stat sb;
    if (!st && stat(input, &sb) != 0 && parse_ref(input, name, sizeof name, split, sizeof split, &index)) {
        tern_dataset ds;
        st = tern_cli_load_split(&d, model, name, data, split, &ds);
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
    if (!st) st = tern_cli_runtime_init(&rt, &d, 1, act);
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
    if (st) rc = fail("infer");
    free(x);
    tern_deploy_free(&d);
    return rc;
}

/* ---- tern eval MODEL.h5 (called by tern_cmd_eval for deploy files) -------------- */

int tern_cmd_eval_deploy(int argc, char **argv) {
    const char *model = NULL, *data = NULL;
    tern_runtime_act act = TERN_RUNTIME_ACT_AUTO;
    int batch = 256;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--data") || !strcmp(a, "--act") || !strcmp(a, "--batch")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tern eval: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(a, "--data")) data = v;
            else if (!strcmp(a, "--act")) {
                if (!parse_act("eval", v, &act)) return 2;
            } else if (!tern_cli_int(v, 1, 65536, &batch)) {
                fprintf(stderr, "tern eval: --batch: '%s' is not in 1..65536\n", v);
                return 2;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "tern eval: unknown option '%s' (try 'tern eval --help')\n", a);
            return 2;
        } else if (!model) {
            model = a;
        } else {
            fprintf(stderr, "tern eval: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    tern_deploy d;
    if (tern_deploy_load(&d, model)) return fail("eval");
    tern_dataset test;
    tern_runtime rt;
    tern_status st = tern_cli_load_split(&d, model, d.dataset, data, "test", &test);
    if (st) {
        tern_deploy_free(&d);
        return fail("eval");
    }
    int *pred = malloc(sizeof(int) * (size_t)test.n);
    tern_runtime_eval r = {.pred = pred};
    st = pred ? tern_cli_runtime_init(&rt, &d, batch, act) : tern_error(TERN_ERR_NOMEM, "out of memory");
    if (!st) {
        st = tern_runtime_evaluate(&rt, &test, &r);
        if (!st) {
            printf("%s (deploy, kernel path %s, ternary activations %s) on %s test (%d images)\n", model,
                   tern_cli_kernel_name(), act_label(act), d.dataset, r.n);
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
    return st ? fail("eval") : 0;
}

/* ---- tern bench kernels ------------------------------------------------------------ */

/* The clock the benchmarks read: wall time, or (tern bench zskip) the
 * calling thread's on-CPU time, which time slices given to other processes
 * on a shared machine do not inflate. */
static double (*bench_now)(void) = tern_clock_now_s;

typedef int (*bench_fn)(void *ctx);

/* Seconds per call of each of two functions, interleaved: every repeat times
 * `inner` calls of a, then of b (inner chosen so a repeat of a takes about
 * 2 ms); the medians over repeats. Returns 0 when a call fails. */
static int interleave(bench_fn a, void *ca, bench_fn b, void *cb, int repeats, double *ta, double *tb) {
    double *va = malloc(sizeof(double) * (size_t)repeats), *vb = malloc(sizeof(double) * (size_t)repeats);
    int ok = va && vb;
    for (int w = 0; ok && w < 3; w++) ok = !a(ca) && !b(cb);  /* warm caches and pages */
    double t0 = bench_now();
    ok = ok && !a(ca);
    int inner = ok ? (int)(2e-3 / (bench_now() - t0 + 1e-9)) : 1;
    inner = inner < 1 ? 1 : (inner > 10000 ? 10000 : inner);
    for (int r = 0; ok && r < repeats; r++) {
        t0 = bench_now();
        for (int k = 0; ok && k < inner; k++) ok = !a(ca);
        double t1 = bench_now();
        for (int k = 0; ok && k < inner; k++) ok = !b(cb);
        double t2 = bench_now();
        va[r] = (t1 - t0) / inner;
        vb[r] = (t2 - t1) / inner;
    }
    if (ok) {
        *ta = tern_clock_median(va, repeats);
        *tb = tern_clock_median(vb, repeats);
    }
    free(va);
    free(vb);
    return ok;
}

typedef struct gemv_job {
    tern_packed *w;
    const float *x, *wf;
    float *y;
    int M, K;
    void *scratch;
    size_t scratch_bytes;
    tern_kernel path;
} gemv_job;

static int run_tern_gemv(void *p) {
    gemv_job *j = p;
    return tern_kernel_gemm(j->path, j->w, j->x, 1, NULL, j->y, TERN_KACT_I8, j->scratch, j->scratch_bytes) != TERN_OK;
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

static int bench_kernels_usage(FILE *f) {
    fprintf(f,
            "usage: tern bench kernels [--repeats N] [--model MODEL.h5]\n"
            "\n"
            "Packed ternary kernels against OpenBLAS fp32, side by side in one process,\n"
            "interleaved, medians of N repeats (31):\n"
            "  (a) GEMV 4096x4096 at batch 1: tern_kernel_gemm (int8 path) vs cblas_sgemv\n"
            "  (b) MNIST MLP 784-256-256-10 at batch 1: the runtime on the deploy model vs\n"
            "      the same network with fp32 weights through OpenBLAS (sgemv)\n"
            "  (c) the same at batch 256: throughput vs sgemm\n"
            "Both sides single-threaded (OpenBLAS set to 1 thread). The MLP is the shipped\n"
            "configs/mnist_mlp.yaml architecture with random weights, or --model's network.\n"
            "GB/s counts the weight bytes read per call.\n");
    return f == stderr ? 2 : 0;
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

int tern_cmd_bench_kernels(int argc, char **argv) {
    int repeats = 31;
    const char *model = NULL;
    for (int i = argc > 1 && !strcmp(argv[1], "kernels") ? 2 : 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return bench_kernels_usage(stdout);
        if (i + 1 >= argc) {
            fprintf(stderr, "tern bench kernels: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *k = argv[i], *v = argv[++i];
        if (!strcmp(k, "--repeats")) {
            if (!tern_cli_int(v, 1, 100000, &repeats)) {
                fprintf(stderr, "tern bench kernels: --repeats: '%s' is not a valid value\n", v);
                return 2;
            }
        } else if (!strcmp(k, "--model")) {
            model = v;
        } else {
            fprintf(stderr, "tern bench kernels: unknown option '%s'\n", k);
            return 2;
        }
    }
    /* The model first: a bad --model fails at once, with nothing to free. */
    tern_deploy d, f;
    if (model ? tern_deploy_load(&d, model) : mlp_deploy(&d)) return fail("bench kernels");
    if (tern_deploy_to_fp32(&d, &f)) {
        tern_deploy_free(&d);
        return fail("bench kernels");
    }
    openblas_set_num_threads(1);
    tern_rng r;
    tern_rng_seed(&r, 1);
    printf("tern bench kernels: kernel path %s, tern and OpenBLAS each on 1 thread, %d interleaved repeats, medians\n",
           tern_cli_kernel_name(), repeats);
    printf("%-40s %10s %10s %9s %9s %9s %8s %8s %10s %10s  %s\n", "case", "tern ms", "fp32 ms", "speedup", "tGMAC/s",
           "fGMAC/s", "tGB/s", "fGB/s", "tern /s", "fp32 /s", "target");

    /* (a) GEMV 4096 x 4096: a third of the weights zero, as after TWN. */
    enum { M = 4096, K = 4096 };
    int8_t *T = malloc((size_t)M * K);
    float *wf = malloc(sizeof(float) * (size_t)M * K), *x = malloc(sizeof(float) * K), *y = malloc(sizeof(float) * M);
    float *alpha = malloc(sizeof(float) * M);
    tern_packed pw = {0};
    if (!T || !wf || !x || !y || !alpha) {
        fprintf(stderr, "tern bench kernels: out of memory\n");
        return 1;
    }
    for (int i = 0; i < M; i++) alpha[i] = 0.05f + 0.01f * tern_rng_uniform(&r);
    for (size_t i = 0; i < (size_t)M * K; i++) {
        T[i] = (int8_t)((int)tern_rng_below(&r, 3) - 1);
        wf[i] = (float)T[i] * alpha[i / K];
    }
    for (int i = 0; i < K; i++) x[i] = tern_rng_normal(&r);
    if (tern_packed_init(&pw, M, K) || tern_packed_set(&pw, T, alpha, NULL)) return fail("bench kernels");
    gemv_job g = {.w = &pw, .x = x, .wf = wf, .y = y, .M = M, .K = K};
    if (tern_cli_kernel(&g.path)) return fail("bench kernels");
    g.scratch_bytes = tern_kernel_gemm_scratch_bytes(&pw, 1, TERN_KACT_I8);
    g.scratch = malloc(g.scratch_bytes);
    double tt, tf;
    if (!g.scratch || !interleave(run_tern_gemv, &g, run_blas_gemv, &g, repeats, &tt, &tf)) return fail("bench kernels");
    row("(a) GEMV 4096x4096 b=1 (int8 act)", tt, tf, (double)M * K, (double)M * pw.row_bytes + 8.0 * M,
        4.0 * M * K, "", 1.0, ">= 10x");
    free(T);
    free(wf);
    free(g.scratch);
    tern_packed_free(&pw);

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
    for (int b = 0; b < 2; b++) {
        int n = batches[b];
        float *xb = malloc(sizeof(float) * per_in * (size_t)n);
        if (!xb) return fail("bench kernels");
        for (size_t i = 0; i < per_in * (size_t)n; i++) xb[i] = tern_rng_normal(&r);
        int shape[4] = {n, d.in_shape[0], d.in_shape[1], d.in_shape[2]};
        for (int a = 0; a < 2; a++) {
            tern_runtime rt, rf;
            if (tern_cli_runtime_init(&rt, &d, n, acts[a]) || tern_runtime_init(&rf, &f, n, TERN_RUNTIME_ACT_AUTO))
                return fail("bench kernels");
            net_job jt = {&rt, tern_tensor_view(xb, NULL, 4, shape)}, jf = {&rf, tern_tensor_view(xb, NULL, 4, shape)};
            if (!interleave(run_net, &jt, run_net, &jf, repeats, &tt, &tf)) return fail("bench kernels");
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
    free(x);
    free(y);
    free(alpha);
    return 0;
}

/* ---- tern bench gemm ------------------------------------------------------------------ */

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

static int bench_gemm_usage(FILE *f) {
    fprintf(f,
            "usage: tern bench gemm [--repeats N]\n"
            "\n"
            "tern_sgemm (tern's AVX-512 GEMM, or OpenBLAS where the CPU lacks the\n"
            "avx512 path) against cblas_sgemm on the training step's GEMM shapes and their\n"
            "halves, both on 1 thread, side by side in one process, interleaved; medians\n"
            "of N repeats (31) of the wall clock. OpenBLAS runs the kernel its own\n"
            "dispatch (or OPENBLAS_CORETYPE) picks.\n");
    return f == stderr ? 2 : 0;
}

int tern_cmd_bench_gemm(int argc, char **argv) {
    int repeats = 31;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return bench_gemm_usage(stdout);
        if (strcmp(argv[i], "--repeats")) {
            fprintf(stderr, "tern bench gemm: unknown option '%s' (try --help)\n", argv[i]);
            return 2;
        }
        if (i + 1 >= argc || !tern_cli_int(argv[i + 1], 1, 100000, &repeats)) {
            fprintf(stderr, "tern bench gemm: --repeats needs a whole number from 1 to 100000\n");
            return 2;
        }
        i++;
    }
    openblas_set_num_threads(1);
    bench_now = tern_clock_now_s;
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
        double tt, tb;
        if (!interleave(run_tern_sgemm, &j, run_cblas_sgemm, &j, repeats, &tt, &tb)) return fail("bench gemm");
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

/* ---- tern bench zskip ---------------------------------------------------------------- */

static int bench_zskip_usage(FILE *f) {
    fprintf(f,
            "usage: tern bench zskip [--repeats N] [--act i8|f32|both] [--batch N]\n"
            "\n"
            "Dense packed kernels against the zero-skipping ones (tern/kernels.h) on random\n"
            "ternary layers with 0, 10, ..., 90, 95, 99%% zero weights, interleaved, medians\n"
            "of N repeats (11), 1 thread, on the current kernel path (TERN_KERNEL):\n"
            "  GEMM (M,K) = (256,784), (256,256), (512,1024) and a conv of 64 outputs over\n"
            "  32x5x5 inputs at 8x8 positions (a 12x12 image), at batch 1 and N (--batch,\n"
            "  128; images for the conv), for each activation mode. ratio = dense / zero-skipping time\n"
            "  (> 1: zero-skipping wins). The crossover is the lowest sparsity from which\n"
            "  zero-skipping wins at every sparsity measured above it.\n"
            "Times are the thread's on-CPU time (CLOCK_THREAD_CPUTIME_ID): on a shared\n"
            "machine, time slices of other processes do not count.\n");
    return f == stderr ? 2 : 0;
}

typedef struct zskip_job {
    const tern_packed *p;
    const tern_sparse *s;
    const tern_conv2d_geom *g; /* NULL: GEMM */
    const float *x;
    float *y;
    int n;
    tern_kact act;
    void *scratch;
    size_t scratch_bytes;
    tern_kernel path;
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

int tern_cmd_bench_zskip(int argc, char **argv) {
    int repeats = 11, act_lo = 0, act_hi = TERN_KACT_COUNT - 1, big = 128;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return bench_zskip_usage(stdout);
        if (i + 1 >= argc) {
            fprintf(stderr, "tern bench zskip: %s needs a value\n", argv[i]);
            return 2;
        }
        const char *k = argv[i], *v = argv[++i];
        if (!strcmp(k, "--repeats") && tern_cli_int(v, 1, 100000, &repeats)) continue;
        if (!strcmp(k, "--batch") && tern_cli_int(v, 1, 4096, &big)) continue;
        if (!strcmp(k, "--act") && (!strcmp(v, "i8") || !strcmp(v, "f32") || !strcmp(v, "both"))) {
            act_lo = !strcmp(v, "f32") ? TERN_KACT_F32 : TERN_KACT_I8;
            act_hi = !strcmp(v, "i8") ? TERN_KACT_I8 : TERN_KACT_F32;
            continue;
        }
        fprintf(stderr, "tern bench zskip: %s '%s' is not a valid option and value\n", k, v);
        return 2;
    }
    bench_now = tern_clock_cpu_s;
    tern_kernel path;
    if (tern_cli_kernel(&path)) return fail("bench zskip");
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
           tern_cli_kernel_name(), repeats);
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
                        return fail("bench zskip");
                    zskip_job d = {.p = &p, .s = &s, .g = shapes[sh].conv ? &g : NULL, .x = x, .y = y, .n = n,
                                   .act = (tern_kact)act, .path = path};
                    zskip_job q = d;
                    d.scratch_bytes = d.g ? tern_kernel_conv2d_scratch_bytes(&p, &g, d.act)
                                          : tern_kernel_gemm_scratch_bytes(&p, n, d.act);
                    q.scratch_bytes = q.g ? tern_sparse_conv2d_scratch_bytes(&s, &g, q.act)
                                          : tern_sparse_gemm_scratch_bytes(&s, n, q.act);
                    d.scratch = malloc(d.scratch_bytes);
                    q.scratch = malloc(q.scratch_bytes);
                    double td, tq;
                    if (!d.scratch || !q.scratch || !interleave(run_dense, &d, run_sparse, &q, repeats, &td, &tq))
                        return fail("bench zskip");
                    ratio[z] = td / tq;
                    printf("%-24s %5d %4s %5.1f%% %11.4f %11.4f %6.2fx\n", shapes[sh].name, n, act ? "f32" : "i8",
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
                         act ? "f32" : "i8", cross);
                free(w), free(x), free(y), free(alpha);
            }
    printf("\ncrossover: lowest sparsity from which zero-skipping is faster at every sparsity above\n");
    for (int i = 0; i < n_summary; i++) printf("%s\n", summary[i]);
    return 0;
}
