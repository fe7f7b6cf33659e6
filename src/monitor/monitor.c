/* monitor.c — per-layer counts, the energy model, training-checkpoint
 * loading without the dataset, and RAPL readings (tern/monitor.h). */
#include "tern/monitor.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/checkpoint.h"
#include "tern/config.h"
#include "tern/data.h"
#include "tern/export.h"
#include "tern/optim.h"
#include "tern/restore.h"

/* ---- counts ----------------------------------------------------------------- */

/* Row scales of a ternary layer: mean, min, max over its M rows. */
static void scale_stats(const float *v, int M, float *mean, float *mn, float *mx) {
    double sum = 0.0;
    *mn = *mx = v[0];
    for (int r = 0; r < M; r++) {
        sum += v[r];
        *mn = v[r] < *mn ? v[r] : *mn;
        *mx = v[r] > *mx ? v[r] : *mx;
    }
    *mean = (float)(sum / M);
}

/* Counts of a linear/conv2d layer (c's shapes already set). */
static tern_status count_weighted(const tern_dlayer *L, tern_layer_count *c) {
    const size_t M = (size_t)L->out_shape[0], K = (size_t)L->in_features;
    const size_t P = L->type == TERN_DLAYER_CONV2D ? (size_t)L->out_shape[1] * L->out_shape[2] : 1;
    c->positions = P;
    c->weights = M * K;
    c->macs = (uint64_t)M * K * P;
    c->bytes_fp32 = sizeof(float) * (M * K + M);
    if (!L->ternary) {
        c->params = M * K + M;
        c->bytes_deploy = c->bytes_fp32;
        c->bits_per_weight = 32.0;
        c->adds = M * P;  /* bias */
        return TERN_OK;
    }
    const tern_packed *p = &L->packed;
    int8_t *w = malloc(M * K);  /* (M, K) */
    if (!w) return tern_error(TERN_ERR_NOMEM, "monitor: out of memory unpacking %s (%zu x %zu)", L->name, M, K);
    tern_status st = tern_packed_get(p, w);
    if (st) {
        free(w);
        return tern_error(st, "monitor: layer %s: %s", L->name, tern_errmsg());
    }
    for (size_t j = 0; j < M * K; j++) {
        c->n_pos += w[j] > 0;
        c->n_neg += w[j] < 0;
    }
    free(w);
    c->n_zero = M * K - c->n_pos - c->n_neg;
    c->ternary = 1;
    c->int8 = L->act_bits == 8;
    c->params = M * K + 3 * M;  /* codes, wp, wn, bias */
    c->bytes_deploy = M * p->row_bytes + 3 * M * sizeof(float);
    c->bits_per_weight = 8.0 * (double)(M * p->row_bytes + 2 * M * sizeof(float)) / (double)(M * K);
    c->t_adds = (uint64_t)c->n_pos * P;
    c->t_subs = (uint64_t)c->n_neg * P;
    c->t_skipped = (uint64_t)c->n_zero * P;
    /* symmetric: y = alpha D + b; asymmetric: y = wp P - wn N + b. */
    const uint64_t per_out = p->symmetric ? 1 : 2;
    c->scale_muls = per_out * M * P;
    c->adds = per_out * M * P;
    c->act_quant = c->int8 ? c->in_numel : 0;
    scale_stats(p->wp, (int)M, &c->wp_mean, &c->wp_min, &c->wp_max);
    scale_stats(p->wn, (int)M, &c->wn_mean, &c->wn_min, &c->wn_max);
    return TERN_OK;
}

static tern_status count_layer(const tern_deploy *m, int i, tern_layer_count *c) {
    const tern_dlayer *L = &m->layers[i];
    memset(c, 0, sizeof *c);
    c->in_ndim = i ? m->layers[i - 1].out_ndim : 3;
    memcpy(c->in_shape, i ? m->layers[i - 1].out_shape : m->in_shape, sizeof c->in_shape);
    c->in_numel = tern_shape_numel(c->in_ndim, c->in_shape);
    c->out_numel = tern_shape_numel(L->out_ndim, L->out_shape);
    const uint64_t out = c->out_numel, kk = (uint64_t)L->kernel * L->kernel;
    /* The runtime reads every input and writes every output once; a flatten
     * with no activation is a view of its input and moves nothing. */
    c->act_bytes = L->type == TERN_DLAYER_FLATTEN && L->act == TERN_ACT_NONE
                       ? 0 : sizeof(float) * (c->in_numel + c->out_numel);
    tern_status st = TERN_OK;
    switch (L->type) {
    case TERN_DLAYER_LINEAR:
    case TERN_DLAYER_CONV2D: st = count_weighted(L, c); break;
    case TERN_DLAYER_AFFINE:
        c->params = 3 * (size_t)L->in_channels;  /* center, scale, shift */
        c->bytes_deploy = c->bytes_fp32 = sizeof(float) * c->params;
        c->adds = 2 * out;
        c->muls = out;
        break;
    case TERN_DLAYER_MAXPOOL: c->cmps = out * (kk - 1); break;
    case TERN_DLAYER_AVGPOOL:
        c->adds = out * (kk - 1);
        c->muls = out;
        break;
    case TERN_DLAYER_GLOBAL_AVGPOOL:
        c->adds = out * ((uint64_t)c->in_shape[1] * c->in_shape[2] - 1);
        c->muls = out;
        break;
    case TERN_DLAYER_ADD: c->adds = out; break;
    case TERN_DLAYER_RELU: c->cmps = out; break;
    case TERN_DLAYER_HARDTANH: c->cmps = 2 * out; break;
    case TERN_DLAYER_FLATTEN: break;
    default: return tern_error(TERN_ERR_ARG, "monitor: layer %d has unknown type %d", i, (int)L->type);
    }
    c->cmps += L->act == TERN_ACT_RELU ? out : L->act == TERN_ACT_HARDTANH ? 2 * out : 0;
    return st;
}

static void add_into(tern_layer_count *t, const tern_layer_count *c) {
    t->in_numel += c->in_numel;
    t->out_numel += c->out_numel;
    t->act_bytes += c->act_bytes;
    t->weights += c->weights;
    t->n_pos += c->n_pos;
    t->n_neg += c->n_neg;
    t->n_zero += c->n_zero;
    t->params += c->params;
    t->bytes_deploy += c->bytes_deploy;
    t->bytes_fp32 += c->bytes_fp32;
    t->positions += c->positions;
    t->macs += c->macs;
    t->t_adds += c->t_adds;
    t->t_subs += c->t_subs;
    t->t_skipped += c->t_skipped;
    t->scale_muls += c->scale_muls;
    t->adds += c->adds;
    t->muls += c->muls;
    t->cmps += c->cmps;
    t->act_quant += c->act_quant;
}

tern_status tern_monitor_count(const tern_deploy *m, tern_layer_count *per_layer, tern_layer_count *total) {
    if (!m || !m->layers || m->n_layers < 1) return tern_error(TERN_ERR_ARG, "monitor: empty model");
    tern_layer_count t, c;
    memset(&t, 0, sizeof t);
    double tern_bits = 0.0;
    size_t tern_weights = 0;
    for (int i = 0; i < m->n_layers; i++) {
        tern_status st = count_layer(m, i, &c);
        if (st) return st;
        add_into(&t, &c);
        if (c.ternary) {
            tern_bits += c.bits_per_weight * (double)c.weights;
            tern_weights += c.weights;
        }
        if (per_layer) per_layer[i] = c;
    }
    t.bits_per_weight = tern_weights ? tern_bits / (double)tern_weights : 0.0;
    if (total) *total = t;
    return TERN_OK;
}

/* ---- energy ----------------------------------------------------------------- */

const tern_energy_table tern_energy_45nm = {
    .fp32_mul = 3.7, .fp32_add = 0.9, .int8_add = 0.03, .int32_add = 0.1, .int8_mul = 0.2, .int32_mul = 3.1,
    .dram_read32 = 640.0,
    .n_sram = 3,
    .sram_bytes = {8 << 10, 32 << 10, 1 << 20},
    .sram_read64 = {10.0, 20.0, 100.0},
};

double tern_monitor_mem_pj(const tern_energy_table *t, size_t bytes) {
    for (int s = 0; s < t->n_sram; s++)
        if (bytes <= t->sram_bytes[s]) return (double)((bytes + 7) / 8) * t->sram_read64[s];
    return (double)((bytes + 3) / 4) * t->dram_read32;
}

tern_status tern_monitor_energy(const tern_layer_count *c, int n, const tern_energy_table *t, int fp32,
                                tern_energy *per_layer, tern_energy *total) {
    if (!c || n < 1 || !t || !total) return tern_error(TERN_ERR_ARG, "monitor energy: NULL argument or no layers");
    size_t wbytes = 0;
    for (int i = 0; i < n; i++) wbytes += fp32 ? c[i].bytes_fp32 : c[i].bytes_deploy;
    const double wpj = tern_monitor_mem_pj(t, wbytes);
    memset(total, 0, sizeof *total);
    for (int i = 0; i < n; i++) {
        const tern_layer_count *L = &c[i];
        tern_energy e = {0};
        /* An asymmetric ternary row's second scale multiply comes with the
         * add combining wp P and wn N; the fp32 twin has neither. */
        uint64_t adds = L->adds;
        if (L->ternary && fp32) adds -= L->scale_muls - L->out_numel;
        e.compute_pj = (double)adds * t->fp32_add + (double)L->cmps * t->fp32_add + (double)L->muls * t->fp32_mul;
        if (L->ternary && !fp32)
            e.compute_pj += (double)(L->t_adds + L->t_subs) * (L->int8 ? t->int32_add : t->fp32_add) +
                            (double)L->scale_muls * t->fp32_mul + (double)L->act_quant * (t->fp32_mul + t->fp32_add);
        else
            e.compute_pj += (double)L->macs * (t->fp32_mul + t->fp32_add);
        const size_t b = fp32 ? L->bytes_fp32 : L->bytes_deploy;
        e.weight_pj = wbytes ? wpj * (double)b / (double)wbytes : 0.0;
        e.act_pj = tern_monitor_mem_pj(t, L->act_bytes);
        e.total_pj = e.compute_pj + e.weight_pj + e.act_pj;
        if (per_layer) per_layer[i] = e;
        total->compute_pj += e.compute_pj;
        total->weight_pj += e.weight_pj;
        total->act_pj += e.act_pj;
        total->total_pj += e.total_pj;
    }
    return TERN_OK;
}

/* ---- training checkpoints ---------------------------------------------------- */

tern_status tern_monitor_deploy_view(const tern_config *cfg, const tern_model *m, tern_deploy *d) {
    if (!cfg || !m || !d) return tern_error(TERN_ERR_ARG, "monitor deploy_view: NULL argument");
    tern_dataset ds;
    tern_dataset_init(&ds);
    snprintf(ds.name, sizeof ds.name, "%s", cfg->dataset.name);
    ds.c = m->in_shape[0];
    ds.h = m->in_shape[1];
    ds.w = m->in_shape[2];
    ds.n_classes = m->n_classes;
    for (int k = 0; k < m->n_classes && k < TERN_DATA_MAX_CLASSES; k++)
        snprintf(ds.class_names[k], sizeof ds.class_names[k], "%d", k);
    ds.normalized = cfg->dataset.norm.mode == TERN_NORM_GIVEN;
    for (int c = 0; c < TERN_DATA_MAX_CHANNELS; c++) {
        ds.mean[c] = ds.normalized ? cfg->dataset.norm.mean[c] : 0.0f;
        ds.std[c] = ds.normalized ? cfg->dataset.norm.std[c] : 1.0f;
    }
    return tern_deploy_from_model(d, m, &ds);
}

/* The deploy view of a model built from cfg, with the checkpoint's weights;
 * test: the real test split, or NULL to describe the dataset from cfg alone. */
static tern_status deploy_of(const tern_config *cfg, const tern_model *m, const tern_dataset *test, tern_deploy *d) {
    return test ? tern_deploy_from_model(d, m, test) : tern_monitor_deploy_view(cfg, m, d);
}

/* Optimizer state floats: state blocks (as the optimizer of cfg keeps them)
 * times the trainable floats, which is what a checkpoint stores. */
static size_t optim_floats(const tern_config *cfg, tern_model *m) {
    tern_optim o;
    if (tern_optim_init(&o, &m->params, &cfg->optimizer.cfg)) return 0;
    size_t n = 0;
    for (int i = 0; i < m->params.count; i++)
        if (m->params.items[i].flags & TERN_PARAM_TRAIN) n += m->params.items[i].t.n;
    n *= (size_t)o.n_state;
    tern_optim_free(&o);
    return n;
}

tern_status tern_monitor_load(const char *path, tern_deploy *d, int *is_train, tern_monitor_train_info *info) {
    if (!path || !d || !is_train) return tern_error(TERN_ERR_ARG, "monitor load: NULL argument");
    *is_train = 0;
    if (tern_deploy_probe(path)) return tern_deploy_load(d, path);
    tern_ckpt_info ci;
    tern_status st = tern_ckpt_read_info(path, &ci);
    if (st) return st;
    tern_config cfg;
    if ((st = tern_restore_config(&cfg, path))) return st;
    /* First without the dataset: the published image size. */
    tern_model m;
    int in[3];
    tern_config_input_shape(&cfg, in);
    st = tern_restore_model(&m, NULL, &cfg, in, path);
    if (!st) st = deploy_of(&cfg, &m, NULL, d);
    if (st) {
        /* Trained on images of another size: learn it from the dataset. */
        tern_model_free(&m);
        tern_config c2;
        tern_dataset test;
        st = tern_dataset_load_checkpoint(path, NULL, &c2, &m, &test);
        if (!st) {
            st = deploy_of(&c2, &m, &test, d);
        } else {
            st = tern_error(st, "%s: the model does not fit %s's (%d,%d,%d) images, so rebuilding it needs its dataset: %s",
                            path, cfg.dataset.name, in[0], in[1], in[2], tern_errmsg());
        }
        tern_dataset_free(&test);
        tern_config_free(&c2);
    }
    if (!st) {
        *is_train = 1;
        if (info) {
            memset(info, 0, sizeof *info);
            info->latent_floats = ci.n_scalars;
            info->optim_floats = ci.optim[0] ? optim_floats(&cfg, &m) : 0;
            snprintf(info->optim, sizeof info->optim, "%s", ci.optim);
            info->epoch = ci.epoch;
            info->step = ci.step;
        }
    }
    tern_model_free(&m);
    tern_config_free(&cfg);
    return st;
}

/* ---- RAPL ------------------------------------------------------------------- */

/* One unsigned decimal from a sysfs file; 0 with errno-style reason on failure. */
static tern_status read_u64(const char *path, uint64_t *v) {
    FILE *f = fopen(path, "r");
    if (!f) return tern_error(TERN_ERR_UNSUPPORTED, "%s: %s", path, strerror(errno));
    unsigned long long x = 0;
    int ok = fscanf(f, "%llu", &x) == 1;
    int err = errno;
    fclose(f);
    if (!ok) return tern_error(TERN_ERR_UNSUPPORTED, "%s: not a number%s%s", path, err ? ": " : "", err ? strerror(err) : "");
    *v = x;
    return TERN_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

tern_status tern_rapl_open(tern_rapl *r, const char *root) {
    if (!r) return tern_error(TERN_ERR_ARG, "rapl: NULL argument");
    memset(r, 0, sizeof *r);
    if (!root) root = "/sys/class/powercap";
    DIR *dir = opendir(root);
    if (!dir) return tern_error(TERN_ERR_UNSUPPORTED, "%s: %s", root, strerror(errno));
    char names[TERN_RAPL_MAX_DOMAINS][64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) && n < TERN_RAPL_MAX_DOMAINS) {
        int k, len = 0;
        /* Package domains are intel-rapl:N; intel-rapl:N:M are their parts. */
        if (sscanf(e->d_name, "intel-rapl:%d%n", &k, &len) != 1 || e->d_name[len] || strlen(e->d_name) >= 64) continue;
        snprintf(names[n++], 64, "%.63s", e->d_name);
    }
    closedir(dir);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    for (int i = 0; i < n; i++) {
        char p[600], label[64] = "";
        snprintf(p, sizeof p, "%s/%s/name", root, names[i]);
        FILE *f = fopen(p, "r");
        if (f) {
            if (!fgets(label, sizeof label, f)) label[0] = '\0';
            fclose(f);
            if (strncmp(label, "package", 7)) continue;  /* psys, dram, ...: not a package */
        }
        int d = r->n;
        if ((size_t)snprintf(r->path[d], sizeof r->path[d], "%s/%s/energy_uj", root, names[i]) >= sizeof r->path[d])
            return tern_error(TERN_ERR_ARG, "rapl: the path %s is too long", root);
        snprintf(p, sizeof p, "%s/%s/max_energy_range_uj", root, names[i]);
        tern_status st = read_u64(p, &r->range[d]);
        if (!st) st = read_u64(r->path[d], &r->start[d]);
        if (st) return st;
        r->n++;
    }
    if (!r->n) return tern_error(TERN_ERR_UNSUPPORTED, "%s: no intel-rapl package domain", root);
    return TERN_OK;
}

tern_status tern_rapl_start(tern_rapl *r) {
    for (int d = 0; d < r->n; d++) {
        tern_status st = read_u64(r->path[d], &r->start[d]);
        if (st) return st;
    }
    return TERN_OK;
}

tern_status tern_rapl_stop(tern_rapl *r, double *uj) {
    double sum = 0.0;
    for (int d = 0; d < r->n; d++) {
        uint64_t now = 0;
        tern_status st = read_u64(r->path[d], &now);
        if (st) return st;
        if (now >= r->start[d]) sum += (double)(now - r->start[d]);
        else if (r->start[d] <= r->range[d]) sum += (double)(r->range[d] - r->start[d]) + (double)now;
        else return tern_error(TERN_ERR_FORMAT, "%s: reading %llu went back from %llu beyond the range %llu", r->path[d],
                               (unsigned long long)now, (unsigned long long)r->start[d], (unsigned long long)r->range[d]);
    }
    *uj = sum;
    return TERN_OK;
}
