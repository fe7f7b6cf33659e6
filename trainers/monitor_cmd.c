/* monitor_cmd.c — `tern inspect` and `tern profile`: what a ternary model
 * costs per layer in memory, operations, time and energy (tern/monitor.h),
 * as a table or as one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tern.h"

static int fail(const char *cmd) {
    fprintf(stderr, "tern %s: %s\n", cmd, tern_errmsg());
    return 1;
}

/* s as a JSON string, escaped. */
static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static const char *precision(const tern_dlayer *L, const tern_layer_count *c) {
    if (c->ternary) return c->int8 ? "ternary/i8" : "ternary/f32";
    return L->type == TERN_DLAYER_LINEAR || L->type == TERN_DLAYER_CONV2D ? "fp32" : "-";
}

static double frac(size_t a, size_t b) { return b ? (double)a / (double)b : 0.0; }

/* The counts of one layer (or the total, L NULL) as JSON members. */
static void json_count(FILE *f, const tern_layer_count *c) {
    fprintf(f,
            "\"params\":%zu,\"weights\":%zu,\"bytes_fp32\":%zu,\"bytes_deploy\":%zu,\"bits_per_weight\":%.4f,"
            "\"n_pos\":%zu,\"n_neg\":%zu,\"n_zero\":%zu,\"sparsity\":%.6f,\"frac_pos\":%.6f,\"frac_neg\":%.6f,"
            "\"macs\":%llu,\"ternary_adds\":%llu,\"ternary_subs\":%llu,\"skipped\":%llu,\"scale_muls\":%llu,"
            "\"fp_adds\":%llu,\"fp_muls\":%llu,\"compares\":%llu,\"act_quant\":%llu,\"act_bytes\":%zu",
            c->params, c->weights, c->bytes_fp32, c->bytes_deploy, c->bits_per_weight, c->n_pos, c->n_neg, c->n_zero,
            frac(c->n_zero, c->n_pos + c->n_neg + c->n_zero), frac(c->n_pos, c->n_pos + c->n_neg + c->n_zero),
            frac(c->n_neg, c->n_pos + c->n_neg + c->n_zero), (unsigned long long)c->macs,
            (unsigned long long)c->t_adds, (unsigned long long)c->t_subs, (unsigned long long)c->t_skipped,
            (unsigned long long)c->scale_muls, (unsigned long long)c->adds, (unsigned long long)c->muls,
            (unsigned long long)c->cmps, (unsigned long long)c->act_quant, c->act_bytes);
}

/* The layer's identity, shapes and scales as JSON members. */
static void json_layer_head(FILE *f, const tern_deploy *d, int i, const tern_layer_count *c) {
    const tern_dlayer *L = &d->layers[i];
    char a[64], b[64];
    fprintf(f, "\"index\":%d,\"name\":", i);
    json_str(f, L->name);
    fprintf(f, ",\"type\":");
    json_str(f, tern_dlayer_type_name(L->type));
    fprintf(f, ",\"precision\":");
    json_str(f, precision(L, c));
    fprintf(f, ",\"in_shape\":\"%s\",\"out_shape\":\"%s\",", tern_dims_str(c->in_ndim, c->in_shape, a, sizeof a),
            tern_dims_str(L->out_ndim, L->out_shape, b, sizeof b));
    if (c->ternary)
        fprintf(f, "\"wp\":{\"mean\":%.6g,\"min\":%.6g,\"max\":%.6g},\"wn\":{\"mean\":%.6g,\"min\":%.6g,\"max\":%.6g},",
                c->wp_mean, c->wp_min, c->wp_max, c->wn_mean, c->wn_min, c->wn_max);
}

static void json_model_head(FILE *f, const char *path, const tern_deploy *d, int is_train) {
    char a[64];
    fprintf(f, "{\"file\":");
    json_str(f, path);
    fprintf(f, ",\"kind\":\"%s\",\"dataset\":", is_train ? "training" : "deploy");
    json_str(f, d->dataset);
    fprintf(f, ",\"input_shape\":\"%s\",\"n_classes\":%d,\"n_layers\":%d", tern_dims_str(3, d->in_shape, a, sizeof a),
            d->n_classes, d->n_layers);
}

/* Counts of every layer and the total, allocated; NULL on failure (error set). */
static tern_layer_count *count_all(const tern_deploy *d, tern_layer_count *total) {
    tern_layer_count *c = malloc(sizeof *c * (size_t)d->n_layers);
    if (!c) tern_error(TERN_ERR_NOMEM, "out of memory");
    if (c && tern_monitor_count(d, c, total)) {
        free(c);
        c = NULL;
    }
    return c;
}

/* ---- tern inspect ------------------------------------------------------------- */

static int inspect_usage(FILE *f) {
    fprintf(f,
            "usage: tern inspect MODEL.h5 [--json]\n"
            "\n"
            "Per-layer memory and operation counts of a deploy checkpoint, or of a training\n"
            "checkpoint as export would deploy it (batchnorm folded; the dataset is not read\n"
            "unless the model was trained on images of another size). Operations are per\n"
            "sample (include/tern/monitor.h defines each counter):\n"
            "  MACs      dense-equivalent multiply-accumulates\n"
            "  adds/subs ternary additions (+1 weights) and subtractions (-1 weights)\n"
            "  skipped   MACs a zero weight makes unnecessary\n"
            "  scale*    fp32 multiplies by the per-row scales\n"
            "  fp+ fp* cmp  other fp32 adds, multiplies and compares (bias, pools, relu...)\n"
            "  --json    one JSON object instead of the tables\n");
    return f == stderr ? 2 : 0;
}

/* "mean [min..max]", or one number when every row has the same scale. */
static void print_scale(float mean, float mn, float mx) {
    if (mn == mx) printf("%.4g", mean);
    else printf("%.4g [%.4g..%.4g]", mean, mn, mx);
}

static void inspect_text(const char *path, const tern_deploy *d, const tern_layer_count *c,
                         const tern_layer_count *t, int is_train, const tern_monitor_train_info *ti) {
    char a[64], b[64], sh[140];
    printf("%s: %s checkpoint, %d layers, input %s, %d classes (%s)\n", path, is_train ? "training" : "deploy",
           d->n_layers, tern_dims_str(3, d->in_shape, a, sizeof a), d->n_classes, d->dataset);
    printf("\nweights and memory\n");
    printf("%3s %-10s %-14s %-11s %-26s %9s %7s %10s %10s %7s %6s %6s  %s\n", "#", "name", "type", "precision",
           "in -> out", "params", "bits/w", "fp32 B", "deploy B", "sparse", "+1", "-1", "alpha wp (wn) mean [min..max]");
    for (int i = 0; i < d->n_layers; i++) {
        const tern_dlayer *L = &d->layers[i];
        const tern_layer_count *x = &c[i];
        snprintf(sh, sizeof sh, "%s -> %s", tern_dims_str(x->in_ndim, x->in_shape, a, sizeof a),
                 tern_dims_str(L->out_ndim, L->out_shape, b, sizeof b));
        printf("%3d %-10s %-14s %-11s %-26s %9zu ", i, L->name, tern_dlayer_type_name(L->type), precision(L, x), sh,
               x->params);
        if (x->bits_per_weight > 0) printf("%7.3f ", x->bits_per_weight);
        else printf("%7s ", "-");
        printf("%10zu %10zu ", x->bytes_fp32, x->bytes_deploy);
        if (x->ternary) {
            const double n = (double)x->weights;
            printf("%6.1f%% %6.3f %6.3f  ", 100.0 * (double)x->n_zero / n, (double)x->n_pos / n, (double)x->n_neg / n);
            print_scale(x->wp_mean, x->wp_min, x->wp_max);
            if (x->wn_mean != x->wp_mean || x->wn_min != x->wp_min || x->wn_max != x->wp_max) {
                printf(" (");
                print_scale(x->wn_mean, x->wn_min, x->wn_max);
                printf(")");
            }
        } else {
            printf("%7s %6s %6s  -", "-", "-", "-");
        }
        printf("\n");
    }
    const double tw = (double)(t->n_pos + t->n_neg + t->n_zero);
    printf("%3s %-10s %-14s %-11s %-26s %9zu %7.3f %10zu %10zu ", "", "total", "", "", "", t->params,
           t->bits_per_weight, t->bytes_fp32, t->bytes_deploy);
    if (tw > 0) printf("%6.1f%% %6.3f %6.3f", 100.0 * (double)t->n_zero / tw, (double)t->n_pos / tw, (double)t->n_neg / tw);
    printf("\n");
    printf("\noperations per sample\n");
    printf("%3s %-10s %12s %12s %12s %12s %10s %10s %10s %10s %10s\n", "#", "name", "MACs", "adds", "subs", "skipped",
           "scale*", "fp+", "fp*", "cmp", "quant");
    for (int i = 0; i <= d->n_layers; i++) {
        const tern_layer_count *x = i < d->n_layers ? &c[i] : t;
        if (i < d->n_layers) printf("%3d %-10s", i, d->layers[i].name);
        else printf("%3s %-10s", "", "total");
        printf(" %12llu %12llu %12llu %12llu %10llu %10llu %10llu %10llu %10llu\n", (unsigned long long)x->macs,
               (unsigned long long)x->t_adds, (unsigned long long)x->t_subs, (unsigned long long)x->t_skipped,
               (unsigned long long)x->scale_muls, (unsigned long long)x->adds, (unsigned long long)x->muls,
               (unsigned long long)x->cmps, (unsigned long long)x->act_quant);
    }
    printf("\nfp32 weights %zu bytes, deploy %zu bytes in memory: compression %.2fx", t->bytes_fp32, t->bytes_deploy,
           (double)t->bytes_fp32 / (double)t->bytes_deploy);
    printf(" (bits/w of the ternary weights: %.3f)\n", t->bits_per_weight);
    if (t->macs) {
        const double m = (double)t->macs, tern = (double)(t->t_adds + t->t_subs + t->t_skipped);
        printf("%llu MACs per sample: %.1f%% ternary adds/subs, %.1f%% skipped on zero weights, %.1f%% fp32 MACs\n",
               (unsigned long long)t->macs, 100.0 * (double)(t->t_adds + t->t_subs) / m,
               100.0 * (double)t->t_skipped / m, 100.0 * (m - tern) / m);
    }
    if (is_train)
        printf("training checkpoint: %zu latent fp32 values (%zu bytes), optimizer %s state %zu values (%zu bytes), "
               "epoch %ld, step %ld\n",
               ti->latent_floats, 4 * ti->latent_floats, ti->optim[0] ? ti->optim : "(none)", ti->optim_floats,
               4 * ti->optim_floats, ti->epoch, ti->step);
}

static void inspect_json(const char *path, const tern_deploy *d, const tern_layer_count *c,
                         const tern_layer_count *t, int is_train, const tern_monitor_train_info *ti) {
    json_model_head(stdout, path, d, is_train);
    printf(",\"layers\":[");
    for (int i = 0; i < d->n_layers; i++) {
        printf("%s{", i ? "," : "");
        json_layer_head(stdout, d, i, &c[i]);
        json_count(stdout, &c[i]);
        printf("}");
    }
    printf("],\"total\":{");
    json_count(stdout, t);
    printf("},\"compression\":%.4f", (double)t->bytes_fp32 / (double)t->bytes_deploy);
    if (is_train) {
        printf(",\"training\":{\"latent_floats\":%zu,\"latent_bytes\":%zu,\"optimizer\":", ti->latent_floats,
               4 * ti->latent_floats);
        json_str(stdout, ti->optim);
        printf(",\"optim_floats\":%zu,\"optim_bytes\":%zu,\"epoch\":%ld,\"step\":%ld}", ti->optim_floats,
               4 * ti->optim_floats, ti->epoch, ti->step);
    }
    printf("}\n");
}

int tern_cmd_inspect(int argc, char **argv) {
    const char *model = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return inspect_usage(stdout);
        if (!strcmp(a, "--json")) json = 1;
        else if (a[0] == '-') {
            fprintf(stderr, "tern inspect: unknown option '%s' (try 'tern inspect --help')\n", a);
            return 2;
        } else if (!model) {
            model = a;
        } else {
            fprintf(stderr, "tern inspect: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!model) return inspect_usage(stderr);
    tern_deploy d;
    tern_deploy_init(&d);
    int is_train = 0;
    tern_monitor_train_info ti;
    if (tern_monitor_load(model, &d, &is_train, &ti)) return fail("inspect");
    tern_layer_count t, *c = count_all(&d, &t);
    if (c) {
        if (json) inspect_json(model, &d, c, &t, is_train, &ti);
        else inspect_text(model, &d, c, &t, is_train, &ti);
    }
    free(c);
    tern_deploy_free(&d);
    return c ? 0 : fail("inspect");
}

/* ---- tern profile --------------------------------------------------------------- */

static int profile_usage(FILE *f) {
    fprintf(f,
            "usage: tern profile MODEL.h5 [--data random|DIR] [--batch N] [--n SAMPLES] [--repeats R]\n"
            "                    [--act auto|int8|fp32] [--json]\n"
            "\n"
            "Per-layer inference time of a deploy checkpoint through the runtime (the kernels\n"
            "eval and bench run), at batch 1 and at batch N (64), medians of R repeats (5) of\n"
            "SAMPLES inputs (512): the model's test set (datasets/data/DATASET, or --data DIR)\n"
            "or --data random (uniform random pixels, normalised). Also: peak RSS, planned\n"
            "buffers, weight bytes, estimated energy per inference (include/tern/monitor.h:\n"
            "Horowitz ISSCC 2014, 45 nm) beside the fp32-equivalent model, and measured\n"
            "package energy from RAPL (/sys/class/powercap) where readable.\n");
    return f == stderr ? 2 : 0;
}

/* What one batch size measured. */
typedef struct prof_run {
    int batch;
    double s_per_sample;         /* median over repeats */
    double *ns;                  /* (n_layers) median ns per sample of each layer */
    size_t planned;
    unsigned char *zskip;        /* (n_layers) copied from the runtime */
    tern_kact *kact;             /* (n_layers) */
    double rapl_uj;              /* per inference; < 0 when not measured */
} prof_run;

/* Run x (n samples) through the runtime at `batch`, repeats times, timing
 * every layer; RAPL (when r is not NULL) over the timed repeats. */
static tern_status profile_batch(const tern_deploy *d, const float *x, int n, int batch, int repeats,
                                 tern_runtime_act act, tern_rapl *rapl, prof_run *out) {
    const int L = d->n_layers;
    const size_t per = (size_t)d->in_shape[0] * d->in_shape[1] * d->in_shape[2];
    tern_runtime rt;
    tern_runtime_opts o = {.max_batch = batch, .act = act, .zskip = TERN_RUNTIME_ZSKIP_AUTO, .time_layers = 1};
    tern_status st = tern_cli_kernel(&o.kernel);
    if (!st) st = tern_runtime_init_opts(&rt, d, &o);
    if (st) return st;
    double *tot = malloc(sizeof(double) * (size_t)repeats), *lay = malloc(sizeof(double) * (size_t)repeats * L);
    out->batch = batch;
    out->ns = calloc((size_t)L, sizeof(double));
    out->zskip = malloc((size_t)L);
    out->kact = malloc(sizeof(tern_kact) * (size_t)L);
    out->planned = tern_runtime_planned_bytes(&rt);
    out->rapl_uj = -1.0;
    if (!tot || !lay || !out->ns || !out->zskip || !out->kact) st = tern_error(TERN_ERR_NOMEM, "profile: out of memory");
    if (!st) {
        memcpy(out->zskip, rt.zskip, (size_t)L);
        memcpy(out->kact, rt.kact, sizeof(tern_kact) * (size_t)L);
    }
    /* Repeat -1 warms caches and pages and is not kept. */
    for (int r = -1; !st && r < repeats; r++) {
        if (r == 0 && rapl && tern_rapl_start(rapl)) rapl = NULL;
        memset(rt.layer_ns, 0, sizeof(double) * (size_t)L);
        double t0 = tern_clock_now_s();
        for (int i = 0; !st && i < n; i += batch) {
            int b = n - i < batch ? n - i : batch;
            int shape[4] = {b, d->in_shape[0], d->in_shape[1], d->in_shape[2]};
            tern_tensor xt = tern_tensor_view((float *)x + per * (size_t)i, NULL, 4, shape);
            const float *z;
            st = tern_runtime_forward(&rt, &xt, &z);
        }
        if (r < 0) continue;
        tot[r] = (tern_clock_now_s() - t0) / n;
        for (int l = 0; l < L; l++) lay[(size_t)l * repeats + r] = rt.layer_ns[l] / n;
    }
    double uj;
    if (!st && rapl && !tern_rapl_stop(rapl, &uj)) out->rapl_uj = uj / ((double)repeats * n);
    if (!st) {
        out->s_per_sample = tern_clock_median(tot, repeats);
        for (int l = 0; l < L; l++) out->ns[l] = tern_clock_median(lay + (size_t)l * repeats, repeats);
    }
    free(tot);
    free(lay);
    tern_runtime_free(&rt);
    return st;
}

static void prof_run_free(prof_run *p) {
    free(p->ns);
    free(p->zskip);
    free(p->kact);
    memset(p, 0, sizeof *p);
}

/* Which code ran layer i: the packed kernels on a path, OpenBLAS, or loops. */
static void path_of(const tern_deploy *d, int i, const prof_run *p, char *buf, size_t n) {
    const tern_dlayer *L = &d->layers[i];
    if (L->ternary)
        snprintf(buf, n, "%s/%s", tern_cli_kernel_name(), p->kact[i] == TERN_KACT_I8 ? "i8" : "f32");
    else if (L->type == TERN_DLAYER_LINEAR || L->type == TERN_DLAYER_CONV2D)
        snprintf(buf, n, "openblas");
    else
        snprintf(buf, n, "loop");
}

static double layer_sum(const prof_run *p, int L) {
    double s = 0.0;
    for (int l = 0; l < L; l++) s += p->ns[l];
    return s;
}

int tern_cmd_profile(int argc, char **argv) {
    const char *model = NULL, *data = NULL;
    int batch = 64, n = 512, repeats = 5, json = 0;
    tern_runtime_act act = TERN_RUNTIME_ACT_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return profile_usage(stdout);
        if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--data") || !strcmp(a, "--batch") || !strcmp(a, "--n") || !strcmp(a, "--repeats") ||
                   !strcmp(a, "--act")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tern profile: %s needs a value\n", a);
                return 2;
            }
            const char *v = argv[++i];
            int ok = 1;
            if (!strcmp(a, "--data")) data = v;
            else if (!strcmp(a, "--batch")) ok = tern_cli_int(v, 1, 65536, &batch);
            else if (!strcmp(a, "--n")) ok = tern_cli_int(v, 1, 1 << 20, &n);
            else if (!strcmp(a, "--repeats")) ok = tern_cli_int(v, 1, 1000, &repeats);
            else if (!strcmp(v, "auto")) act = TERN_RUNTIME_ACT_AUTO;
            else if (!strcmp(v, "int8")) act = TERN_RUNTIME_ACT_I8;
            else if (!strcmp(v, "fp32")) act = TERN_RUNTIME_ACT_F32;
            else ok = 0;
            if (!ok) {
                fprintf(stderr, "tern profile: %s: '%s' is not valid (try 'tern profile --help')\n", a, v);
                return 2;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "tern profile: unknown option '%s' (try 'tern profile --help')\n", a);
            return 2;
        } else if (!model) {
            model = a;
        } else {
            fprintf(stderr, "tern profile: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!model) return profile_usage(stderr);
    if (!tern_deploy_probe(model)) {
        tern_error(TERN_ERR_FORMAT, "%s: not a deploy checkpoint; profile runs what the runtime runs: "
                                    "'tern export %s -o MODEL.h5' first ('tern inspect' reads both)", model, model);
        return fail("profile");
    }
    tern_deploy d;
    if (tern_deploy_load(&d, model)) return fail("profile");
    const int L = d.n_layers;
    const size_t per = (size_t)d.in_shape[0] * d.in_shape[1] * d.in_shape[2];
    tern_layer_count t, *c = count_all(&d, &t);
    tern_energy *et = malloc(sizeof *et * (size_t)L), *ef = malloc(sizeof *ef * (size_t)L), Et, Ef;
    tern_status st = c ? TERN_OK : TERN_ERR_NOMEM;
    if (!st && (!et || !ef)) st = tern_error(TERN_ERR_NOMEM, "profile: out of memory");
    if (!st) st = tern_monitor_energy(c, L, &tern_energy_45nm, 0, et, &Et);
    if (!st) st = tern_monitor_energy(c, L, &tern_energy_45nm, 1, ef, &Ef);
    /* The inputs: n samples of the test set, or random pixels. */
    float *x = NULL;
    char source[128];
    const int random = data && !strcmp(data, "random");
    if (!st && random) {
        unsigned char *px = malloc(per);
        x = malloc(sizeof(float) * per * (size_t)n);
        tern_rng rng;
        tern_rng_seed(&rng, 1);
        for (int i = 0; px && x && i < n; i++) {
            for (size_t j = 0; j < per; j++) px[j] = (unsigned char)tern_rng_below(&rng, 256);
            tern_runtime_normalize(&d, px, x + per * (size_t)i);
        }
        if (!px || !x) st = tern_error(TERN_ERR_NOMEM, "profile: out of memory for %d inputs", n);
        free(px);
        snprintf(source, sizeof source, "random pixels");
    } else if (!st) {
        tern_dataset ds;
        st = tern_cli_load_split(&d, model, d.dataset, data, "test", &ds);
        if (!st && (ds.c != d.in_shape[0] || ds.h != d.in_shape[1] || ds.w != d.in_shape[2]))
            st = tern_error(TERN_ERR_SHAPE, "%s test images are (%d,%d,%d) but the model takes (%d,%d,%d)", d.dataset,
                            ds.c, ds.h, ds.w, d.in_shape[0], d.in_shape[1], d.in_shape[2]);
        if (!st) {
            n = n < ds.n ? n : ds.n;
            x = malloc(sizeof(float) * per * (size_t)n);
            if (x) memcpy(x, ds.images, sizeof(float) * per * (size_t)n);
            else st = tern_error(TERN_ERR_NOMEM, "profile: out of memory for %d inputs", n);
        }
        tern_dataset_free(&ds);
        snprintf(source, sizeof source, "%s test", d.dataset);
    }
    /* RAPL over the large batch's timed loop; the reason when unreadable. */
    tern_rapl rapl;
    char rapl_why[300] = "";
    int have_rapl = !st && tern_rapl_open(&rapl, NULL) == TERN_OK;
    if (!st && !have_rapl) snprintf(rapl_why, sizeof rapl_why, "%s", tern_errmsg());
    prof_run runs[2];
    memset(runs, 0, sizeof runs);
    const int n_runs = batch > 1 ? 2 : 1;
    for (int k = 0; !st && k < n_runs; k++)
        st = profile_batch(&d, x, n, k ? batch : 1, repeats, act, have_rapl && k == n_runs - 1 ? &rapl : NULL, &runs[k]);
    if (!st && have_rapl && runs[n_runs - 1].rapl_uj < 0) {
        have_rapl = 0;
        snprintf(rapl_why, sizeof rapl_why, "reading failed: %s", tern_errmsg());
    }
    const double rss_kib = tern_clock_peak_rss_bytes() / 1024.0;
    if (!st && json) {
        json_model_head(stdout, model, &d, 0);
        printf(",\"kernel_path\":\"%s\",\"data\":", tern_cli_kernel_name());
        json_str(stdout, source);
        printf(",\"samples\":%d,\"repeats\":%d,\"runs\":[", n, repeats);
        for (int k = 0; k < n_runs; k++)
            printf("%s{\"batch\":%d,\"us_per_sample\":%.4f,\"samples_per_s\":%.1f,\"planned_bytes\":%zu}", k ? "," : "",
                   runs[k].batch, 1e6 * runs[k].s_per_sample, 1.0 / runs[k].s_per_sample, runs[k].planned);
        printf("],\"layers\":[");
        for (int i = 0; i < L; i++) {
            char p[48];
            path_of(&d, i, &runs[0], p, sizeof p);
            printf("%s{", i ? "," : "");
            json_layer_head(stdout, &d, i, &c[i]);
            printf("\"path\":\"%s\",\"zskip\":[", p);
            for (int k = 0; k < n_runs; k++) printf("%s%d", k ? "," : "", runs[k].zskip[i]);
            printf("],\"ns_per_sample\":[");
            for (int k = 0; k < n_runs; k++) printf("%s%.2f", k ? "," : "", runs[k].ns[i]);
            printf("],\"energy_pj\":{\"ternary\":%.2f,\"fp32\":%.2f}}", et[i].total_pj, ef[i].total_pj);
        }
        printf("],\"memory\":{\"peak_rss_bytes\":%.0f,\"weight_bytes_deploy\":%zu,\"weight_bytes_fp32\":%zu},",
               1024.0 * rss_kib, t.bytes_deploy, t.bytes_fp32);
        const tern_energy *E[2] = {&Et, &Ef};
        printf("\"energy_estimate_pj\":{");
        for (int k = 0; k < 2; k++)
            printf("%s\"%s\":{\"compute\":%.2f,\"weights\":%.2f,\"activations\":%.2f,\"total\":%.2f}", k ? "," : "",
                   k ? "fp32" : "ternary", E[k]->compute_pj, E[k]->weight_pj, E[k]->act_pj, E[k]->total_pj);
        printf(",\"ratio\":%.4f,\"compute_ratio\":%.4f},\"rapl\":", Ef.total_pj / Et.total_pj,
               Ef.compute_pj / Et.compute_pj);
        if (have_rapl) printf("{\"batch\":%d,\"uj_per_inference\":%.4f}", runs[n_runs - 1].batch, runs[n_runs - 1].rapl_uj);
        else {
            printf("{\"available\":false,\"reason\":");
            json_str(stdout, rapl_why);
            printf("}");
        }
        printf("}\n");
    } else if (!st) {
        printf("%s: kernel path %s, %s, %d samples, median of %d repeats\n", model,
               tern_cli_kernel_name(), source, n, repeats);
        for (int k = 0; k < n_runs; k++)
            printf("  batch %-4d %10.1f samples/s  %9.2f us/sample  (layers sum to %.2f us)\n", runs[k].batch,
                   1.0 / runs[k].s_per_sample, 1e6 * runs[k].s_per_sample, 1e-3 * layer_sum(&runs[k], L));
        printf("\n%3s %-10s %-10s %-10s", "#", "name", "type", "path");
        for (int k = 0; k < n_runs; k++) printf("  %9s%-4d  %6s", "us @b", runs[k].batch, "%");
        printf("  %11s %11s\n", "est. nJ", "fp32 nJ");
        for (int i = 0; i < L; i++) {
            char p[48];
            path_of(&d, i, &runs[0], p, sizeof p);
            printf("%3d %-10s %-10s %-10s", i, d.layers[i].name, tern_dlayer_type_name(d.layers[i].type), p);
            for (int k = 0; k < n_runs; k++)
                printf("  %13.3f%c %5.1f%%", 1e-3 * runs[k].ns[i], runs[k].zskip[i] ? 'z' : ' ',
                       100.0 * runs[k].ns[i] / layer_sum(&runs[k], L));
            printf("  %11.3f %11.3f\n", 1e-3 * et[i].total_pj, 1e-3 * ef[i].total_pj);
        }
        printf("(z: the layer ran the zero-skipping kernel at that batch; the runtime picks it per layer where it\n"
               "measured faster, include/tern/runtime.h)\n");
        printf("\nmemory: peak RSS %.1f MiB (the process, with the inputs it loaded); planned buffers", rss_kib / 1024.0);
        for (int k = 0; k < n_runs; k++) printf(" %.1f KiB at batch %d%s", runs[k].planned / 1024.0, runs[k].batch,
                                                k + 1 < n_runs ? "," : ";");
        printf(" weights %.1f KiB (fp32 %.1f KiB)\n", t.bytes_deploy / 1024.0, t.bytes_fp32 / 1024.0);
        printf("energy per inference, estimated (Horowitz ISSCC 2014, 45 nm; model in include/tern/monitor.h):\n");
        printf("  ternary %10.2f nJ  (compute %.2f, weights %.2f, activations %.2f)\n", 1e-3 * Et.total_pj,
               1e-3 * Et.compute_pj, 1e-3 * Et.weight_pj, 1e-3 * Et.act_pj);
        printf("  fp32    %10.2f nJ  (compute %.2f, weights %.2f, activations %.2f)  -> %.1fx the ternary model"
               " (compute alone %.1fx)\n",
               1e-3 * Ef.total_pj, 1e-3 * Ef.compute_pj, 1e-3 * Ef.weight_pj, 1e-3 * Ef.act_pj,
               Ef.total_pj / Et.total_pj, Ef.compute_pj / Et.compute_pj);
        if (have_rapl)
            printf("energy per inference, measured (RAPL package, whole machine, batch %d): %.2f uJ\n",
                   runs[n_runs - 1].batch, runs[n_runs - 1].rapl_uj);
        else
            printf("energy per inference, measured (RAPL): not available: %s\n", rapl_why);
    }
    for (int k = 0; k < 2; k++) prof_run_free(&runs[k]);
    free(x);
    free(c);
    free(et);
    free(ef);
    tern_deploy_free(&d);
    return st ? fail("profile") : 0;
}
