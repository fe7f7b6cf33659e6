/* cmd_inspect.c — `tern inspect`: what a ternary model costs per layer in
 * memory and operations (tern/monitor.h), as tables or as one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

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
        printf("%3d %-10s %-14s %-11s %-26s %9zu ", i, L->name, tern_dlayer_type_name(L->type), cli_precision(L, x), sh,
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
    cli_json_model_head(stdout, path, d, is_train);
    printf(",\"layers\":[");
    for (int i = 0; i < d->n_layers; i++) {
        printf("%s{", i ? "," : "");
        cli_json_layer_head(stdout, d, i, &c[i]);
        json_count(stdout, &c[i]);
        printf("}");
    }
    printf("],\"total\":{");
    json_count(stdout, t);
    printf("},\"compression\":%.4f", (double)t->bytes_fp32 / (double)t->bytes_deploy);
    if (is_train) {
        printf(",\"training\":{\"latent_floats\":%zu,\"latent_bytes\":%zu,\"optimizer\":", ti->latent_floats,
               4 * ti->latent_floats);
        cli_json_str(stdout, ti->optim);
        printf(",\"optim_floats\":%zu,\"optim_bytes\":%zu,\"epoch\":%ld,\"step\":%ld}", ti->optim_floats,
               4 * ti->optim_floats, ti->epoch, ti->step);
    }
    printf("}\n");
}

int cmd_inspect(int argc, char **argv) {
    const char *model;
    int json = 0;
    const cli_opt options[] = {
        CLI_FLAG_OPT("--json", &json, "one JSON object instead of the tables"),
        CLI_END_OPT,
    };
    const cli_spec spec = {
        .cmd = "inspect",
        .usage = "usage: tern inspect MODEL.h5 [--json]\n"
                 "\n"
                 "Per-layer memory and operation counts of a deploy checkpoint, or of a training\n"
                 "checkpoint as export would deploy it (batchnorm folded; the dataset is not read\n"
                 "unless the model was trained on images of another size). Operations are per\n"
                 "sample (include/tern/monitor.h defines each counter):\n"
                 "  MACs      dense-equivalent multiply-accumulates\n"
                 "  adds/subs ternary additions (+1 weights) and subtractions (-1 weights)\n"
                 "  skipped   MACs a zero weight makes unnecessary\n"
                 "  scale*    fp32 multiplies by the per-row scales\n"
                 "  fp+ fp* cmp  other fp32 adds, multiplies and compares (bias, pools, relu...)\n",
        .opts = options, .args = &model, .max_args = 1,
    };
    int rc;
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    if (!model) return cli_usage(&spec, stderr);
    tern_deploy d;
    tern_deploy_init(&d);
    int is_train = 0;
    tern_monitor_train_info ti;
    if (tern_monitor_load(model, &d, &is_train, &ti)) return cli_fail("inspect");
    tern_layer_count t, *c = cli_count_all(&d, &t);
    if (c) {
        if (json) inspect_json(model, &d, c, &t, is_train, &ti);
        else inspect_text(model, &d, c, &t, is_train, &ti);
    }
    free(c);
    tern_deploy_free(&d);
    return c ? 0 : cli_fail("inspect");
}
