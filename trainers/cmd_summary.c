/* cmd_summary.c — `tern summary CONFIG|CKPT`: a model's layers, output
 * shapes, parameters, MACs and deploy bytes against fp32 before any
 * training (summary.h), and what `tern train` prints at the start. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "progress.h"
#include "summary.h"

/* 1 when deploy layer name ("conv1+bn1") holds training layer `layer` (len bytes). */
static int holds_layer(const char *name, const char *layer, size_t len) {
    for (const char *t = name;; t += strcspn(t, "+") + 1) {
        const size_t n = strcspn(t, "+");
        if (n == len && !strncmp(t, layer, len)) return 1;
        if (!t[n]) return 0;
    }
}

/* Add each trainable parameter ("bn1.weight") to the deploy layer its layer
 * was folded into. */
static void attribute_params(summary *s, const tern_model *m) {
    for (int i = 0; i < m->params.count; i++) {
        const tern_param *p = &m->params.items[i];
        if (!(p->flags & TERN_PARAM_TRAIN)) continue;
        s->params_total += p->t.n;
        const size_t len = strcspn(p->name, ".");
        for (int j = 0; j < s->d.n_layers; j++) {
            if (holds_layer(s->d.layers[j].name, p->name, len)) {
                s->params[j] += p->t.n;
                break;
            }
        }
    }
}

static tern_status count(summary *s) {
    s->c = calloc((size_t)s->d.n_layers, sizeof *s->c);
    s->params = calloc((size_t)s->d.n_layers, sizeof *s->params);
    if (!s->c || !s->params) return tern_error(TERN_ERR_NOMEM, "summary: out of memory");
    return tern_monitor_count(&s->d, s->c, &s->total);
}

tern_status summary_of_model(summary *s, const tern_config *cfg, const tern_model *m, int trained) {
    memset(s, 0, sizeof *s);
    tern_deploy_init(&s->d);
    s->trained = trained;
    tern_status st = tern_monitor_deploy_view(cfg, m, &s->d);
    if (!st) st = count(s);
    if (!st) attribute_params(s, m);
    return st;
}

/* cfg's model at the dataset's published input shape, initialised from the seed. */
static tern_status of_config(summary *s, const tern_config *cfg, int trained) {
    int in[3];
    tern_config_input_shape(cfg, in);
    tern_model m;
    tern_status st = tern_model_init(&m, cfg->model.layers, cfg->model.n_layers, 3, in, cfg->model.init,
                                     cfg->training.seed);
    if (st) return tern_error(st, "%s: %s", cfg->source, tern_errmsg());
    st = summary_of_model(s, cfg, &m, trained);
    tern_model_free(&m);
    return st;
}

tern_status summary_of_path(summary *s, const char *path, const char *const *sets, int nsets) {
    memset(s, 0, sizeof *s);
    tern_deploy_init(&s->d);
    tern_config cfg;
    tern_ckpt_info ci;
    tern_status st;
    /* A checkpoint is an HDF5 file of either kind; a name ending in .h5
     * that is neither gets the checkpoint reader's error, not YAML's. */
    const size_t n = strlen(path);
    if (tern_deploy_probe(path) || !tern_ckpt_read_info(path, &ci) || (n > 3 && !strcmp(path + n - 3, ".h5"))) {
        /* A checkpoint: the monitor's deploy view with its trained weights. */
        int is_train = 0;
        if ((st = tern_monitor_load(path, &s->d, &is_train, NULL))) return st;
        s->trained = 1;
        s->from_deploy = !is_train;
        if ((st = count(s))) return st;
        if (!is_train) {
            for (int j = 0; j < s->d.n_layers; j++) s->params_total += s->params[j] = s->c[j].params;
            return TERN_OK;
        }
        /* Its trainable parameters: the stored config's model (weights unread). */
        if ((st = tern_restore_config(&cfg, path))) return st;
        int in[3] = {s->d.in_shape[0], s->d.in_shape[1], s->d.in_shape[2]};
        tern_model m;
        st = tern_model_init(&m, cfg.model.layers, cfg.model.n_layers, 3, in, cfg.model.init, 0);
        if (!st) {
            attribute_params(s, &m);
            tern_model_free(&m);
        }
        tern_config_free(&cfg);
        return st;
    }
    if ((st = tern_config_load(&cfg, path))) return st;
    for (int i = 0; !st && i < nsets; i++) st = tern_config_set(&cfg, sets[i]);
    if (!st) st = of_config(s, &cfg, 0);
    tern_config_free(&cfg);
    return st;
}

void summary_free(summary *s) {
    tern_deploy_free(&s->d);
    free(s->c);
    free(s->params);
    memset(s, 0, sizeof *s);
    tern_deploy_init(&s->d);
}

/* A layer's type, with its fused activation: "conv2d+relu". */
static const char *type_str(const tern_dlayer *L, char *buf, size_t cap) {
    if (L->act == TERN_ACT_NONE) return tern_dlayer_type_name(L->type);
    snprintf(buf, cap, "%s+%s", tern_dlayer_type_name(L->type), tern_act_name(L->act));
    return buf;
}

void summary_print(FILE *f, const summary *s, const char *title) {
    char a[64], b[48];
    const tern_layer_count *t = &s->total;
    fprintf(f, "%s: %s %s -> %d classes, %d layers as deployed (batchnorm folded, dropout gone)\n", title,
            s->d.dataset, tern_dims_str(3, s->d.in_shape, a, sizeof a), s->d.n_classes, s->d.n_layers);
    fprintf(f, "%3s %-14s %-12s %-7s %-11s %8s %9s %9s %9s %6s%s\n", "#", "layer", "type", "weights", "output",
            s->from_deploy ? "stored" : "params", "MACs", "fp32 B", "deploy B", "ratio", s->trained ? "  sparsity" : "");
    for (int i = 0; i < s->d.n_layers; i++) {
        const tern_dlayer *L = &s->d.layers[i];
        const tern_layer_count *c = &s->c[i];
        fprintf(f, "%3d %-14s %-12s %-7s %-11s %8zu %9llu %9zu %9zu ", i, L->name, type_str(L, b, sizeof b),
                c->ternary ? (c->int8 ? "tern/i8" : "ternary") : c->weights ? "fp32" : "-",
                tern_dims_str(L->out_ndim, L->out_shape, a, sizeof a), s->params[i], (unsigned long long)c->macs,
                c->bytes_fp32, c->bytes_deploy);
        if (c->bytes_deploy) fprintf(f, "%5.1fx", (double)c->bytes_fp32 / (double)c->bytes_deploy);
        else fprintf(f, "%6s", "-");
        if (s->trained && c->ternary) fprintf(f, "  %7.1f%%", 100.0 * (double)c->n_zero / (double)c->weights);
        fputc('\n', f);
    }
    fprintf(f, "%3s %-14s %-12s %-7s %-11s %8zu %9llu %9zu %9zu %5.1fx", "", "total", "", "", "", s->params_total,
            (unsigned long long)t->macs, t->bytes_fp32, t->bytes_deploy,
            t->bytes_deploy ? (double)t->bytes_fp32 / (double)t->bytes_deploy : 0.0);
    const size_t tw = t->n_pos + t->n_neg + t->n_zero;
    if (s->trained && tw) fprintf(f, "  %7.1f%%", 100.0 * (double)t->n_zero / (double)tw);
    fputc('\n', f);
    fprintf(f, "%zu of %zu weights ternary (%.1f%%). MACs: per sample. deploy B: in memory, packed 2-bit\n"
            "codes (rows padded to 128) with fp32 scales and biases; fp32 B: the same layers in fp32.\n%s",
            tw, t->weights, t->weights ? 100.0 * (double)tw / (double)t->weights : 0.0,
            s->from_deploy ? "stored: the numbers the deploy file holds (codes, scales, biases).\n" : "");
}

/* v with a k (from 10,000) or M (from 1,000,000) suffix, then `unit`: "4.27M MACs/sample". */
static void fmt_si(char *buf, size_t cap, double v, const char *unit) {
    if (v >= 1e6) snprintf(buf, cap, "%.2fM %s", v / 1e6, unit);
    else if (v >= 1e4) snprintf(buf, cap, "%.1fk %s", v / 1e3, unit);
    else snprintf(buf, cap, "%.0f %s", v, unit);
}

/* bytes as B, KiB or MiB. */
static void fmt_bytes(char *buf, size_t cap, size_t b) {
    if (b >= 1 << 20) snprintf(buf, cap, "%.2f MiB", (double)b / 1048576.0);
    else if (b >= 1 << 10) snprintf(buf, cap, "%.1f KiB", (double)b / 1024.0);
    else snprintf(buf, cap, "%zu B", b);
}

void summary_print_compact(FILE *f, const summary *s, int width) {
    char buf[TERN_LAYER_NAME_LEN + 64], a[48];
    const char *fields[2 * 256 + 8];
    char (*cells)[TERN_LAYER_NAME_LEN + 64] = malloc(sizeof *cells * ((size_t)s->d.n_layers + 2));
    if (!cells) return;
    int n = 0;
    fields[n++] = "model:";
    for (int i = 0; i < s->d.n_layers && i < 256; i++) {
        const tern_dlayer *L = &s->d.layers[i];
        snprintf(cells[i], sizeof cells[i], "%s %s%s", L->name, tern_dims_str(L->out_ndim, L->out_shape, a, sizeof a),
                 i + 1 < s->d.n_layers ? " ->" : "");
        fields[n++] = cells[i];
    }
    progress_print_fields(f, fields, n, " ", width);
    const tern_layer_count *t = &s->total;
    const size_t tw = t->n_pos + t->n_neg + t->n_zero;
    fmt_si(buf, sizeof buf, (double)s->params_total, "params,");
    char m[64], w[64], d[96], b1[32], b2[32];
    fmt_si(m, sizeof m, (double)t->macs, "MACs/sample,");
    snprintf(w, sizeof w, "%.1f%% of weights ternary,", t->weights ? 100.0 * (double)tw / (double)t->weights : 0.0);
    fmt_bytes(b1, sizeof b1, t->bytes_deploy);
    fmt_bytes(b2, sizeof b2, t->bytes_fp32);
    snprintf(d, sizeof d, "deploy %s vs fp32 %s (%.1fx)", b1, b2,
             t->bytes_deploy ? (double)t->bytes_fp32 / (double)t->bytes_deploy : 0.0);
    const char *tot[5] = {"model:", buf, m, w, d};
    progress_print_fields(f, tot, 5, " ", width);
    free(cells);
}

int cmd_summary(int argc, char **argv) {
    const char *path;
    cli_list sets = {.n = 0};
    const cli_opt options[] = {
        CLI_LIST_OPT("--set", &sets, "K=V", "override a config field first, as tern train does"),
        CLI_END_OPT,
    };
    const cli_spec spec = {
        .cmd = "summary",
        .usage = "usage: tern summary CONFIG|CKPT [--set section.key=value ...]\n"
                 "\n"
                 "A model's layers as export deploys them (batchnorm folded into the layer\n"
                 "before it), each with its output shape (C,H,W) or (F), trainable parameters,\n"
                 "multiply-accumulates per sample, and bytes in memory deployed (packed 2-bit\n"
                 "ternary codes) against fp32. A CONFIG is built for its dataset's published\n"
                 "image size without reading the data; a training checkpoint adds the\n"
                 "sparsity of its weights; a deploy file gives the numbers it stores.\n",
        .opts = options, .args = &path, .max_args = 1,
    };
    int rc;
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    if (!path) return cli_usage(&spec, stderr);
    summary s;
    tern_status st = summary_of_path(&s, path, sets.v, sets.n);
    if (!st) summary_print(stdout, &s, path);
    summary_free(&s);
    return st ? cli_fail("summary") : 0;
}
