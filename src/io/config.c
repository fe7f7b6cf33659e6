/* config.c — run configurations: the libcyaml schema, loading, --set
 * overrides, resolution into what the trainer needs, and the resolved YAML.
 *
 * Pipeline (config_doc.h has the tree): text → libyaml tree with positions →
 * checked against `config_schema` and written canonically → libcyaml loads it
 * into the raw structs below (every optional value a pointer, NULL when
 * absent) → resolve() fills defaults, checks meanings and builds the public
 * tern_config, pointing errors at the tree's positions. */
#include "tern/config.h"
#include "tern/pool.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cyaml/cyaml.h>

#include "config_doc.h"
#include "core/unique.h"

/* ---- raw structs, as libcyaml fills them --------------------------------- */

typedef struct raw_augment {
    int *crop_pad;
    bool *hflip;
} raw_augment;

typedef struct raw_dataset {
    char *name, *path, *normalize;
    float *mean;
    unsigned mean_count;
    float *std;
    unsigned std_count;
    raw_augment *augment;
    double *validation;
    int *channels;       /* folder */
    int *size;           /* folder: (H, W) */
    unsigned size_count;
    bool *resize;        /* folder */
    char *label_column;  /* csv */
    char *found_at;      /* written by to_yaml: where the run found its data */
} raw_dataset;

typedef struct raw_quant {
    bool *enabled;  /* the global section only */
    char *method, *granularity, *ste;
    float *t, *clip, *eps, *alpha_lr;
    bool *learned_alpha;
    int *act_bits;
} raw_quant;

typedef struct raw_layer {
    char *type, *name, *act;
    int *out, *kernel, *stride, *pad, *from;
    bool *bias, *ternary;
    float *p, *momentum, *eps;
    raw_quant *quant;
} raw_layer;

typedef struct raw_model {
    char *init;
    raw_layer *layers;
    unsigned layers_count;
} raw_model;

typedef struct raw_optimizer {
    char *name;
    float *lr, *weight_decay, *momentum, *beta1, *beta2, *eps, *clip;
    bool *nesterov;
} raw_optimizer;

typedef struct raw_schedule {
    char *name;
    float *warmup_epochs, *min_lr, *step_epochs, *gamma;
    float *pct_start, *div_factor, *final_div_factor;  /* one_cycle */
} raw_schedule;

typedef struct raw_early_stopping {
    int *patience;
    float *min_delta;
} raw_early_stopping;

typedef struct raw_training {
    int *epochs, *batch_size, *threads, *eval_every, *checkpoint_every;
    uint64_t *seed;
    char *best_metric;
    raw_early_stopping *early_stopping;
    float *label_smoothing;
    bool *sync_batchnorm;
} raw_training;

typedef struct raw_teacher {
    char *checkpoint;
    float *temperature, *weight;
} raw_teacher;

typedef struct raw_output {
    char *dir;
} raw_output;

typedef struct raw_config {
    raw_dataset *dataset;
    raw_model *model;
    raw_quant *quant;
    raw_optimizer *optimizer;
    raw_schedule *schedule;
    raw_training *training;
    raw_output *output;
    raw_teacher *teacher;
} raw_config;

/* ---- the schema ------------------------------------------------------------ */

#define OPT (CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL)
#define REQ CYAML_FLAG_POINTER
#define STR(key, flags, type, member, max) CYAML_FIELD_STRING_PTR(key, flags, type, member, 0, max)

static const cyaml_schema_field_t augment_fields[] = {
    CYAML_FIELD_INT_PTR("crop_pad", OPT, raw_augment, crop_pad),
    CYAML_FIELD_BOOL_PTR("hflip", OPT, raw_augment, hflip),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t float_entry = {CYAML_VALUE_FLOAT(CYAML_FLAG_DEFAULT, float)};
static const cyaml_schema_value_t size_entry = {CYAML_VALUE_INT(CYAML_FLAG_DEFAULT, int)};

static const cyaml_schema_field_t dataset_fields[] = {
    STR("name", REQ, raw_dataset, name, TERN_DATA_NAME_LEN - 1),
    STR("path", OPT, raw_dataset, path, TERN_CONFIG_PATH_LEN - 1),
    STR("normalize", OPT, raw_dataset, normalize, 32),
    CYAML_FIELD_SEQUENCE("mean", OPT, raw_dataset, mean, &float_entry, 1, TERN_DATA_MAX_CHANNELS),
    CYAML_FIELD_SEQUENCE("std", OPT, raw_dataset, std, &float_entry, 1, TERN_DATA_MAX_CHANNELS),
    CYAML_FIELD_MAPPING_PTR("augment", OPT, raw_dataset, augment, augment_fields),
    CYAML_FIELD_FLOAT_PTR("validation", OPT, raw_dataset, validation),
    CYAML_FIELD_INT_PTR("channels", OPT, raw_dataset, channels),
    CYAML_FIELD_SEQUENCE("size", OPT, raw_dataset, size, &size_entry, 2, 2),
    CYAML_FIELD_BOOL_PTR("resize", OPT, raw_dataset, resize),
    STR("label_column", OPT, raw_dataset, label_column, TERN_DATA_NAME_LEN - 1),
    STR("found_at", OPT, raw_dataset, found_at, TERN_CONFIG_PATH_LEN - 1),
    CYAML_FIELD_END,
};

/* A layer's quant keys: the global ones without `enabled`. */
#define QUANT_FIELDS                                                    \
    STR("method", OPT, raw_quant, method, 32),                          \
    CYAML_FIELD_FLOAT_PTR("t", OPT, raw_quant, t),                      \
    STR("granularity", OPT, raw_quant, granularity, 32),                \
    STR("ste", OPT, raw_quant, ste, 32),                                \
    CYAML_FIELD_FLOAT_PTR("clip", OPT, raw_quant, clip),                \
    CYAML_FIELD_BOOL_PTR("learned_alpha", OPT, raw_quant, learned_alpha), \
    CYAML_FIELD_INT_PTR("act_bits", OPT, raw_quant, act_bits),          \
    CYAML_FIELD_FLOAT_PTR("eps", OPT, raw_quant, eps),                  \
    CYAML_FIELD_FLOAT_PTR("alpha_lr", OPT, raw_quant, alpha_lr)

static const cyaml_schema_field_t quant_fields[] = {
    CYAML_FIELD_BOOL_PTR("enabled", OPT, raw_quant, enabled),
    QUANT_FIELDS,
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t layer_quant_fields[] = {
    QUANT_FIELDS,
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t layer_fields[] = {
    STR("type", REQ, raw_layer, type, 32),
    STR("name", OPT, raw_layer, name, TERN_LAYER_NAME_LEN - 1),
    CYAML_FIELD_INT_PTR("out", OPT, raw_layer, out),
    CYAML_FIELD_INT_PTR("kernel", OPT, raw_layer, kernel),
    CYAML_FIELD_INT_PTR("stride", OPT, raw_layer, stride),
    CYAML_FIELD_INT_PTR("pad", OPT, raw_layer, pad),
    CYAML_FIELD_BOOL_PTR("bias", OPT, raw_layer, bias),
    STR("act", OPT, raw_layer, act, 32),
    CYAML_FIELD_FLOAT_PTR("p", OPT, raw_layer, p),
    CYAML_FIELD_FLOAT_PTR("momentum", OPT, raw_layer, momentum),
    CYAML_FIELD_FLOAT_PTR("eps", OPT, raw_layer, eps),
    CYAML_FIELD_INT_PTR("from", OPT, raw_layer, from),
    CYAML_FIELD_BOOL_PTR("ternary", OPT, raw_layer, ternary),
    CYAML_FIELD_MAPPING_PTR("quant", OPT, raw_layer, quant, layer_quant_fields),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t layer_entry = {CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, raw_layer, layer_fields)};

static const cyaml_schema_field_t model_fields[] = {
    STR("init", OPT, raw_model, init, 32),
    CYAML_FIELD_SEQUENCE("layers", REQ, raw_model, layers, &layer_entry, 1, CYAML_UNLIMITED),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t optimizer_fields[] = {
    STR("name", OPT, raw_optimizer, name, 32),
    CYAML_FIELD_FLOAT_PTR("lr", REQ, raw_optimizer, lr),
    CYAML_FIELD_FLOAT_PTR("weight_decay", OPT, raw_optimizer, weight_decay),
    CYAML_FIELD_FLOAT_PTR("momentum", OPT, raw_optimizer, momentum),
    CYAML_FIELD_BOOL_PTR("nesterov", OPT, raw_optimizer, nesterov),
    CYAML_FIELD_FLOAT_PTR("beta1", OPT, raw_optimizer, beta1),
    CYAML_FIELD_FLOAT_PTR("beta2", OPT, raw_optimizer, beta2),
    CYAML_FIELD_FLOAT_PTR("eps", OPT, raw_optimizer, eps),
    CYAML_FIELD_FLOAT_PTR("clip", OPT, raw_optimizer, clip),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t schedule_fields[] = {
    STR("name", OPT, raw_schedule, name, 32),
    CYAML_FIELD_FLOAT_PTR("warmup_epochs", OPT, raw_schedule, warmup_epochs),
    CYAML_FIELD_FLOAT_PTR("min_lr", OPT, raw_schedule, min_lr),
    CYAML_FIELD_FLOAT_PTR("step_epochs", OPT, raw_schedule, step_epochs),
    CYAML_FIELD_FLOAT_PTR("gamma", OPT, raw_schedule, gamma),
    CYAML_FIELD_FLOAT_PTR("pct_start", OPT, raw_schedule, pct_start),
    CYAML_FIELD_FLOAT_PTR("div_factor", OPT, raw_schedule, div_factor),
    CYAML_FIELD_FLOAT_PTR("final_div_factor", OPT, raw_schedule, final_div_factor),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t early_stopping_fields[] = {
    CYAML_FIELD_INT_PTR("patience", OPT, raw_early_stopping, patience),
    CYAML_FIELD_FLOAT_PTR("min_delta", OPT, raw_early_stopping, min_delta),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t training_fields[] = {
    CYAML_FIELD_INT_PTR("epochs", OPT, raw_training, epochs),
    CYAML_FIELD_INT_PTR("batch_size", OPT, raw_training, batch_size),
    CYAML_FIELD_UINT_PTR("seed", OPT, raw_training, seed),
    CYAML_FIELD_INT_PTR("threads", OPT, raw_training, threads),
    CYAML_FIELD_INT_PTR("eval_every", OPT, raw_training, eval_every),
    CYAML_FIELD_INT_PTR("checkpoint_every", OPT, raw_training, checkpoint_every),
    STR("best_metric", OPT, raw_training, best_metric, 32),
    CYAML_FIELD_MAPPING_PTR("early_stopping", OPT, raw_training, early_stopping, early_stopping_fields),
    CYAML_FIELD_FLOAT_PTR("label_smoothing", OPT, raw_training, label_smoothing),
    CYAML_FIELD_BOOL_PTR("sync_batchnorm", OPT, raw_training, sync_batchnorm),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t teacher_fields[] = {
    STR("checkpoint", REQ, raw_teacher, checkpoint, TERN_CONFIG_PATH_LEN - 1),
    CYAML_FIELD_FLOAT_PTR("temperature", OPT, raw_teacher, temperature),
    CYAML_FIELD_FLOAT_PTR("weight", OPT, raw_teacher, weight),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t output_fields[] = {
    STR("dir", OPT, raw_output, dir, TERN_CONFIG_PATH_LEN - 1),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t config_fields[] = {
    CYAML_FIELD_MAPPING_PTR("dataset", REQ, raw_config, dataset, dataset_fields),
    CYAML_FIELD_MAPPING_PTR("model", REQ, raw_config, model, model_fields),
    CYAML_FIELD_MAPPING_PTR("quant", OPT, raw_config, quant, quant_fields),
    CYAML_FIELD_MAPPING_PTR("optimizer", REQ, raw_config, optimizer, optimizer_fields),
    CYAML_FIELD_MAPPING_PTR("schedule", OPT, raw_config, schedule, schedule_fields),
    CYAML_FIELD_MAPPING_PTR("training", OPT, raw_config, training, training_fields),
    CYAML_FIELD_MAPPING_PTR("output", OPT, raw_config, output, output_fields),
    CYAML_FIELD_MAPPING_PTR("teacher", OPT, raw_config, teacher, teacher_fields),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t config_schema = {CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, raw_config, config_fields)};

/* ---- name tables ------------------------------------------------------------ */

static const char *const dataset_names[] = {"mnist", "fashion-mnist", "cifar10", "folder", "npy", "csv"};
static const int dataset_channels[] = {1, 1, 3, 0, 0, 1};  /* 0: the data's (folder: dataset.channels) */
static const int dataset_size[] = {28, 28, 32, 0, 0, 0};   /* H = W; 0: the data's (folder: dataset.size) */

static const char *const norm_names[] = {[TERN_NORM_NONE] = "none", [TERN_NORM_GIVEN] = "given",
                                         [TERN_NORM_COMPUTE] = "compute"};
static const char *const init_names[] = {[TERN_INIT_HE] = "he", [TERN_INIT_XAVIER] = "xavier"};
static const char *const best_metric_names[] = {[TERN_BEST_VAL_ACC] = "val_acc", [TERN_BEST_VAL_LOSS] = "val_loss"};
/* Layer types, activations, quantizers, optimizers and schedules name
 * themselves: their modules' tables and *_parse functions. */

#define COUNT(a) ((int)(sizeof(a) / sizeof *(a)))

/* ---- resolution ------------------------------------------------------------- */

/* Largest kernel, stride and pad: the largest image side a dataset reader accepts. */
#define MAX_SIDE 65535

/* Which keys each layer type takes, and which it needs. */
enum {
    K_OUT = 1 << 0, K_KERNEL = 1 << 1, K_STRIDE = 1 << 2, K_PAD = 1 << 3, K_BIAS = 1 << 4, K_ACT = 1 << 5,
    K_P = 1 << 6, K_MOMENTUM = 1 << 7, K_EPS = 1 << 8, K_FROM = 1 << 9, K_TERNARY = 1 << 10, K_QUANT = 1 << 11,
};
static const char *const layer_key_names[] = {"out", "kernel", "stride", "pad", "bias", "act",
                                              "p", "momentum", "eps", "from", "ternary", "quant"};
#define K_WEIGHTED (K_OUT | K_BIAS | K_ACT | K_TERNARY | K_QUANT)
#define K_POOL (K_KERNEL | K_STRIDE | K_PAD)
static const struct { int takes, needs; } layer_keys[TERN_LAYER_TYPE_COUNT] = {
    [TERN_LAYER_LINEAR] = {K_WEIGHTED, K_OUT},
    [TERN_LAYER_CONV2D] = {K_WEIGHTED | K_POOL, K_OUT | K_KERNEL},
    [TERN_LAYER_MAXPOOL] = {K_POOL, K_KERNEL},
    [TERN_LAYER_AVGPOOL] = {K_POOL, K_KERNEL},
    [TERN_LAYER_GLOBAL_AVGPOOL] = {0, 0},
    [TERN_LAYER_BATCHNORM] = {K_MOMENTUM | K_EPS | K_ACT, 0},
    [TERN_LAYER_RELU] = {0, 0},
    [TERN_LAYER_HARDTANH] = {0, 0},
    [TERN_LAYER_DROPOUT] = {K_P, K_P},
    [TERN_LAYER_FLATTEN] = {0, 0},
    [TERN_LAYER_ADD] = {K_FROM | K_ACT, K_FROM},
};

/* Which quant keys a layer sets itself (for the resolved YAML). */
enum {
    Q_METHOD = 1 << 0, Q_T = 1 << 1, Q_GRANULARITY = 1 << 2, Q_STE = 1 << 3, Q_CLIP = 1 << 4,
    Q_LEARNED = 1 << 5, Q_ACT_BITS = 1 << 6, Q_EPS = 1 << 7, Q_ALPHA_LR = 1 << 8,
};

struct tern_config_doc {
    cnode *root;                /* the document, with the overrides applied */
    unsigned char *own_ternary; /* (n_layers) the layer's ternary flag before quant.enabled */
    unsigned *quant_keys;       /* (n_layers) Q_* bits the layer sets */
};

typedef struct rctx {
    const cdoc_ctx *x;
    const cnode *root;
    char path[128];
} rctx;

/* Fail at the value of "<prefix>.<key>" (or its nearest ancestor), or at the
 * key itself when at_key: a key that does not belong where it is. */
static tern_status vrfail(rctx *R, int at_key, const char *prefix, const char *key, const char *fmt, va_list ap) {
    char msg[320];
    vsnprintf(msg, sizeof msg, fmt, ap);
    snprintf(R->path, sizeof R->path, "%s%s%s", prefix, key && *key ? "." : "", key ? key : "");
    return tern_cdoc_fail(R->x, R->root, R->path, at_key, TERN_ERR_CONFIG, "%s", msg);
}

static tern_status rfail(rctx *R, const char *prefix, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static tern_status rfail(rctx *R, const char *prefix, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tern_status st = vrfail(R, 0, prefix, key, fmt, ap);
    va_end(ap);
    return st;
}

static tern_status rfail_key(rctx *R, const char *prefix, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static tern_status rfail_key(rctx *R, const char *prefix, const char *key, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tern_status st = vrfail(R, 1, prefix, key, fmt, ap);
    va_end(ap);
    return st;
}

/* A name parsed by its module's *_parse (status st): its message, which
 * lists the valid names, at the key. */
static tern_status rparsed(rctx *R, const char *prefix, const char *key, tern_status st) {
    return st ? rfail(R, prefix, key, "%s", tern_errmsg()) : TERN_OK;
}

/* A name from one of this file's tables: *out = its index. */
static tern_status rname(rctx *R, const char *prefix, const char *key, const char *s, const char *const *names,
                         int n, const char *what, int *out) {
    return rparsed(R, prefix, key, tern_name_parse(TERN_ERR_CONFIG, what, names, n, s, out));
}

#define TRY(expr)                          \
    do {                                   \
        tern_status st_ = (expr);          \
        if (st_) return st_;               \
    } while (0)

/* A quantizer from `q` (may be NULL) over `parent`: unset keys inherit, except
 * that t and learned_alpha restart from the defaults of a different method. */
static tern_status resolve_quant(rctx *R, const char *prefix, const raw_quant *q, const tern_quant_cfg *parent,
                                 float parent_alpha_lr, tern_quant_cfg *out, float *alpha_lr, unsigned *keys) {
    tern_quant_cfg c = *parent;
    *alpha_lr = parent_alpha_lr;
    *keys = 0;
    if (q) {
        if (q->method) {
            TRY(rparsed(R, prefix, "method", tern_quant_method_parse(q->method, &c.method)));
            *keys |= Q_METHOD;
        }
        if (c.method != parent->method) {
            tern_quant_cfg d = tern_quant_cfg_default(c.method);
            c.t = d.t;
            c.learned_alpha = d.learned_alpha;
        }
        if (q->granularity) {
            TRY(rparsed(R, prefix, "granularity", tern_quant_granularity_parse(q->granularity, &c.granularity)));
            *keys |= Q_GRANULARITY;
        }
        if (q->ste) {
            TRY(rparsed(R, prefix, "ste", tern_ste_parse(q->ste, &c.ste)));
            *keys |= Q_STE;
        }
        if (q->t) c.t = *q->t, *keys |= Q_T;
        if (q->clip) c.clip = *q->clip, *keys |= Q_CLIP;
        if (q->eps) c.eps = *q->eps, *keys |= Q_EPS;
        if (q->learned_alpha) c.learned_alpha = *q->learned_alpha, *keys |= Q_LEARNED;
        if (q->act_bits) c.act_bits = *q->act_bits, *keys |= Q_ACT_BITS;
        if (q->alpha_lr) *alpha_lr = *q->alpha_lr, *keys |= Q_ALPHA_LR;
    }
    if (!(c.t >= 0.0f)) return rfail(R, prefix, "t", "threshold factor %g must be >= 0", c.t);
    if (!(c.clip > 0.0f)) return rfail(R, prefix, "clip", "STE clip bound %g must be > 0", c.clip);
    if (!(c.eps >= 0.0f)) return rfail(R, prefix, "eps", "eps %g must be >= 0", c.eps);
    if (c.act_bits != 0 && c.act_bits != 8)
        return rfail(R, prefix, "act_bits", "%d activation bits; tern supports 0 (float) or 8", c.act_bits);
    if (!(*alpha_lr > 0.0f)) return rfail(R, prefix, "alpha_lr", "lr multiplier %g must be > 0", *alpha_lr);
    if (c.method == TERN_QUANT_TTQ && !c.learned_alpha)
        return rfail(R, prefix, q && q->learned_alpha ? "learned_alpha" : "method",
                     "ttq's scales Wp and Wn are always learned; learned_alpha cannot be false");
    if (tern_quant_cfg_check(&c)) return rfail(R, prefix, NULL, "%s", tern_errmsg());
    *out = c;
    return TERN_OK;
}

/* dataset.validation: 0, a fraction in (0,1), or a whole count >= 1 (checked
 * against the training split's size when it is read). */
static tern_status resolve_validation(rctx *R, const raw_dataset *d, tern_config_dataset *out) {
    double v = d->validation ? *d->validation : 0.0;
    if (!(v >= 0.0))
        return rfail(R, "dataset", "validation", "%g must be >= 0: a fraction in (0,1) or a count >= 1 of the "
                     "training split (0: none)", v);
    if (v >= 1.0 && (v != floor(v) || v >= TERN_DATA_MAX_N))
        return rfail(R, "dataset", "validation", "%g is neither a fraction in (0,1) nor a whole count in 1..%d of "
                     "the training split", v, TERN_DATA_MAX_N - 1);
    out->validation = v;
    return TERN_OK;
}

/* The keys of a user's dataset (folder: channels, size, resize; csv:
 * label_column) into out->opts; *size = the smaller side when known. */
static tern_status resolve_user_data(rctx *R, const raw_dataset *d, tern_config_dataset *out, int *size) {
    int folder = !strcmp(d->name, "folder");
    const char *key = d->channels ? "channels" : d->size ? "size" : d->resize ? "resize" : NULL;
    if (key && !folder) return rfail(R, "dataset", key, "is only used with name: folder");
    if (d->label_column && strcmp(d->name, "csv")) return rfail(R, "dataset", "label_column", "is only used with name: csv");
    if (d->channels) {
        if (*d->channels != 1 && *d->channels != 3) return rfail(R, "dataset", "channels", "%d must be 1 or 3", *d->channels);
        out->channels = out->opts.channels = *d->channels;
    }
    for (unsigned k = 0; d->size && k < 2; k++) {
        char at[16];
        snprintf(at, sizeof at, "size.%u", k);
        if (d->size[k] < 1 || d->size[k] > TERN_IMAGE_MAX_SIDE)
            return rfail(R, "dataset", at, "%d must be in 1..%d", d->size[k], TERN_IMAGE_MAX_SIDE);
        out->opts.size[k] = d->size[k];
    }
    if (d->size) *size = d->size[0] < d->size[1] ? d->size[0] : d->size[1];
    if (d->resize) out->opts.resize = *d->resize;
    if (d->label_column) {
        if (!d->label_column[0]) return rfail(R, "dataset", "label_column", "is empty");
        snprintf(out->opts.label_column, sizeof out->opts.label_column, "%s", d->label_column);
    }
    return TERN_OK;
}

static tern_status resolve_dataset(rctx *R, const raw_dataset *d, tern_config_dataset *out) {
    int i = 0;
    TRY(rname(R, "dataset", "name", d->name, dataset_names, COUNT(dataset_names), "dataset", &i));
    snprintf(out->name, sizeof out->name, "%s", d->name);
    out->channels = dataset_channels[i];
    int size = dataset_size[i];
    TRY(resolve_user_data(R, d, out, &size));
    if (d->path && !d->path[0]) return rfail(R, "dataset", "path", "is empty; leave it out for datasets/data/%s", d->name);
    if (d->path) snprintf(out->path, sizeof out->path, "%s", d->path);
    else snprintf(out->path, sizeof out->path, "datasets/data/%s", d->name);

    int mode = TERN_NORM_NONE;
    if (d->normalize) TRY(rname(R, "dataset", "normalize", d->normalize, norm_names, COUNT(norm_names), "normalization", &mode));
    out->norm.mode = (tern_norm_mode)mode;
    if (mode != TERN_NORM_GIVEN) {
        if (d->mean) return rfail(R, "dataset", "mean", "is only used with normalize: given");
        if (d->std) return rfail(R, "dataset", "std", "is only used with normalize: given");
    } else {
        if (!d->mean) return rfail(R, "dataset", NULL, "normalize: given needs mean (one per channel)");
        if (!d->std) return rfail(R, "dataset", NULL, "normalize: given needs std (one per channel)");
        if (!out->channels) return rfail(R, "dataset", NULL, "normalize: given needs the number of channels: set "
                                         "dataset.channels (folder) or use normalize: compute");
        if ((int)d->mean_count != out->channels)
            return rfail(R, "dataset", "mean", "%u values for %s's %d channel%s", d->mean_count, d->name,
                         out->channels, out->channels > 1 ? "s" : "");
        if ((int)d->std_count != out->channels)
            return rfail(R, "dataset", "std", "%u values for %s's %d channel%s", d->std_count, d->name,
                         out->channels, out->channels > 1 ? "s" : "");
        for (int c = 0; c < out->channels; c++) {
            char key[16];
            snprintf(key, sizeof key, "std.%d", c);
            if (!(d->std[c] > 0.0f)) return rfail(R, "dataset", key, "std %g must be > 0", d->std[c]);
            out->norm.mean[c] = d->mean[c];
            out->norm.std[c] = d->std[c];
        }
    }
    if (d->augment) {
        if (d->augment->crop_pad) {
            int p = *d->augment->crop_pad;
            if (p < 0 || (size && p > size))
                return rfail(R, "dataset.augment", "crop_pad", "%d must be in 0..%d for %s", p, size, d->name);
            out->augment.crop_pad = p;
        }
        if (d->augment->hflip) out->augment.hflip = *d->augment->hflip;
    }
    return resolve_validation(R, d, out);
}

static int present(const raw_layer *l, int k) {
    switch (k) {
    case K_OUT: return !!l->out;
    case K_KERNEL: return !!l->kernel;
    case K_STRIDE: return !!l->stride;
    case K_PAD: return !!l->pad;
    case K_BIAS: return !!l->bias;
    case K_ACT: return !!l->act;
    case K_P: return !!l->p;
    case K_MOMENTUM: return !!l->momentum;
    case K_EPS: return !!l->eps;
    case K_FROM: return !!l->from;
    case K_TERNARY: return !!l->ternary;
    case K_QUANT: return !!l->quant;
    default: return 0;
    }
}

static tern_status resolve_layer(rctx *R, const raw_layer *l, int i, const tern_config *cfg, tern_layer_spec *s,
                                 unsigned char *own_ternary, unsigned *quant_keys) {
    char lp[48];
    snprintf(lp, sizeof lp, "model.layers.%d", i);
    const char *const *types = tern_layer_type_names;
    memset(s, 0, sizeof *s);
    TRY(rparsed(R, lp, "type", tern_layer_type_parse(l->type, &s->type)));
    const int type = s->type;

    int takes = layer_keys[type].takes, needs = layer_keys[type].needs;
    for (int k = 0; k < COUNT(layer_key_names); k++) {
        int bit = 1 << k;
        if (present(l, bit) && !(takes & bit)) {
            char keys[160] = "type, name";
            for (int j = 0; j < COUNT(layer_key_names); j++)
                if (takes & (1 << j)) snprintf(keys + strlen(keys), sizeof keys - strlen(keys), ", %s", layer_key_names[j]);
            return rfail_key(R, lp, layer_key_names[k], "a %s layer takes no '%s' (its keys: %s)", types[type],
                             layer_key_names[k], keys);
        }
        if (!present(l, bit) && (needs & bit))
            return rfail(R, lp, NULL, "a %s layer needs '%s'", types[type], layer_key_names[k]);
    }

    if (l->name) {
        if (!l->name[0]) return rfail(R, lp, "name", "is empty");
        for (const char *c = l->name; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_'))
                return rfail(R, lp, "name", "'%s': use letters, digits and _ (it names parameters, e.g. %s.weight)",
                             l->name, "fc1");
        snprintf(s->name, sizeof s->name, "%s", l->name);
    } else {
        snprintf(s->name, sizeof s->name, "%s%d", types[type], i);  /* tern_model_init's rule */
    }

    if (l->out) {
        if (*l->out < 1) return rfail(R, lp, "out", "%d must be >= 1", *l->out);
        s->out = *l->out;
    }
    /* Windows are bounded by the largest image side, so that the model's
     * (h + 2 pad - kernel) / stride + 1 stays far inside an int. */
    if (l->kernel) {
        if (*l->kernel < 1 || *l->kernel > MAX_SIDE)
            return rfail(R, lp, "kernel", "%d is outside 1..%d", *l->kernel, MAX_SIDE);
        s->kernel = *l->kernel;
    }
    int is_pool = type == TERN_LAYER_MAXPOOL || type == TERN_LAYER_AVGPOOL;
    if (takes & K_STRIDE) {
        s->stride = l->stride ? *l->stride : is_pool ? s->kernel : 1;
        if (s->stride < 1 || s->stride > MAX_SIDE) return rfail(R, lp, "stride", "%d is outside 1..%d", s->stride, MAX_SIDE);
    }
    if (l->pad) {
        if (*l->pad < 0 || *l->pad > MAX_SIDE) return rfail(R, lp, "pad", "%d is outside 0..%d", *l->pad, MAX_SIDE);
        if (is_pool && *l->pad > s->kernel / 2)
            return rfail(R, lp, "pad", "%d exceeds half the %d-wide window", *l->pad, s->kernel);
        s->pad = *l->pad;
    }
    s->no_bias = l->bias ? !*l->bias : 0;
    if (l->act) TRY(rparsed(R, lp, "act", tern_act_parse(l->act, &s->act)));
    if (l->p) {
        if (!(*l->p >= 0.0f && *l->p < 1.0f)) return rfail(R, lp, "p", "dropout probability %g is outside [0, 1)", *l->p);
        s->p = *l->p;
    }
    if (type == TERN_LAYER_BATCHNORM) {
        s->momentum = l->momentum ? *l->momentum : TERN_BN_MOMENTUM;
        s->eps = l->eps ? *l->eps : TERN_BN_EPS;
        if (!(s->momentum > 0.0f && s->momentum <= 1.0f))
            return rfail(R, lp, "momentum", "%g is outside (0, 1]", s->momentum);
        if (!(s->eps > 0.0f)) return rfail(R, lp, "eps", "%g must be > 0", s->eps);
    }
    if (l->from) {
        if (*l->from < 0 || *l->from >= i)
            return rfail(R, lp, "from", "%d must name an earlier layer (0..%d)", *l->from, i - 1);
        s->from = *l->from;
    }

    /* Quantization: linear and conv2d are ternary unless they say otherwise. */
    *own_ternary = 0;
    *quant_keys = 0;
    s->quant = cfg->quant.defaults;
    s->alpha_lr = cfg->quant.alpha_lr;
    if (takes & K_TERNARY) {
        *own_ternary = l->ternary ? *l->ternary : 1;
        if (!*own_ternary && l->quant)
            return rfail(R, lp, "quant", "the layer says ternary: false, so these settings would be ignored");
        if (*own_ternary) {
            char qp[64];
            snprintf(qp, sizeof qp, "%s.quant", lp);
            TRY(resolve_quant(R, qp, l->quant, &cfg->quant.defaults, cfg->quant.alpha_lr, &s->quant, &s->alpha_lr,
                              quant_keys));
        }
        s->ternary = *own_ternary && cfg->quant.enabled;
    }
    return TERN_OK;
}

static int cmp_layer_name(const void *a, const void *b) {
    return strcmp((*(const tern_layer_spec *const *)a)->name, (*(const tern_layer_spec *const *)b)->name);
}

/* Fail at the first layer of layers[0..n) whose name an earlier layer has:
 * sorted once, so a model of a million layers is checked in a second, not
 * compared pairwise for hours. */
static tern_status check_names(rctx *R, const raw_layer *raw, const tern_layer_spec *layers, int n) {
    int first = -1, dup = tern_first_duplicate(layers, n, sizeof *layers, cmp_layer_name, &first);
    if (dup == -2) return tern_error(TERN_ERR_NOMEM, "config: cannot allocate the name check of %d layers", n);
    if (dup < 0) return TERN_OK;
    char lp[48];
    snprintf(lp, sizeof lp, "model.layers.%d", dup);
    return rfail(R, lp, raw[dup].name ? "name" : NULL, "layer name '%s' is taken by layer %d", layers[dup].name, first);
}

static tern_status resolve_optimizer(rctx *R, const raw_optimizer *o, tern_config_optimizer *out) {
    tern_optim_kind kind = TERN_OPTIM_ADAM;
    if (o->name) TRY(rparsed(R, "optimizer", "name", tern_optim_kind_parse(o->name, &kind)));
    tern_optim_config c = tern_optim_default(kind);
    int sgd = kind == TERN_OPTIM_SGD;
    const char *keys = sgd ? "name, lr, weight_decay, momentum, nesterov, clip"
                           : "name, lr, weight_decay, beta1, beta2, eps, clip";
    struct { const void *p; const char *key; int ok; } only[] = {
        {o->momentum, "momentum", sgd}, {o->nesterov, "nesterov", sgd}, {o->beta1, "beta1", !sgd},
        {o->beta2, "beta2", !sgd},      {o->eps, "eps", !sgd},
    };
    for (int k = 0; k < COUNT(only); k++)
        if (only[k].p && !only[k].ok)
            return rfail_key(R, "optimizer", only[k].key, "%s takes no '%s' (its keys: %s)", tern_optim_kind_name(kind),
                             only[k].key, keys);
    if (!(*o->lr > 0.0f)) return rfail(R, "optimizer", "lr", "learning rate %g must be > 0", *o->lr);
    out->lr = *o->lr;
    if (o->weight_decay) c.weight_decay = *o->weight_decay;
    if (!(c.weight_decay >= 0.0f)) return rfail(R, "optimizer", "weight_decay", "%g must be >= 0", c.weight_decay);
    if (o->momentum) c.momentum = *o->momentum;
    if (!(c.momentum >= 0.0f && c.momentum < 1.0f))
        return rfail(R, "optimizer", "momentum", "%g is outside [0, 1)", c.momentum);
    if (o->nesterov) c.nesterov = *o->nesterov;
    if (c.nesterov && !(c.momentum > 0.0f))
        return rfail(R, "optimizer", "nesterov", "Nesterov momentum needs momentum > 0");
    if (o->beta1) c.beta1 = *o->beta1;
    if (o->beta2) c.beta2 = *o->beta2;
    if (!(c.beta1 >= 0.0f && c.beta1 < 1.0f)) return rfail(R, "optimizer", "beta1", "%g is outside [0, 1)", c.beta1);
    if (!(c.beta2 >= 0.0f && c.beta2 < 1.0f)) return rfail(R, "optimizer", "beta2", "%g is outside [0, 1)", c.beta2);
    if (o->eps) c.eps = *o->eps;
    if (!(c.eps >= 0.0f)) return rfail(R, "optimizer", "eps", "%g must be >= 0", c.eps);
    out->clip = o->clip ? *o->clip : 0.0f;
    if (!(out->clip >= 0.0f)) return rfail(R, "optimizer", "clip", "grad-norm bound %g must be >= 0 (0: off)", out->clip);
    if (tern_optim_check(&c)) return rfail(R, "optimizer", NULL, "%s", tern_errmsg());
    out->cfg = c;
    return TERN_OK;
}

static tern_status resolve_schedule(rctx *R, const raw_schedule *s, const tern_config *cfg, tern_config_schedule *out) {
    tern_sched_kind kind = TERN_SCHED_CONSTANT;
    raw_schedule none = {0};
    if (!s) s = &none;
    if (s->name) TRY(rparsed(R, "schedule", "name", tern_sched_kind_parse(s->name, &kind)));
    out->kind = kind;
    int cos = kind == TERN_SCHED_COSINE, step = kind == TERN_SCHED_STEP, one = kind == TERN_SCHED_ONE_CYCLE;
    const char *keys = cos    ? "name, warmup_epochs, min_lr"
                       : step ? "name, step_epochs, gamma"
                       : one  ? "name, pct_start, div_factor, final_div_factor"
                              : "name";
    struct { const void *p; const char *key; int ok; } only[] = {
        {s->warmup_epochs, "warmup_epochs", cos}, {s->min_lr, "min_lr", cos},
        {s->step_epochs, "step_epochs", step},    {s->gamma, "gamma", step},
        {s->pct_start, "pct_start", one},         {s->div_factor, "div_factor", one},
        {s->final_div_factor, "final_div_factor", one},
    };
    for (int k = 0; k < COUNT(only); k++)
        if (only[k].p && !only[k].ok)
            return rfail_key(R, "schedule", only[k].key, "%s takes no '%s' (its keys: %s)", tern_sched_kind_name(kind),
                             only[k].key, keys);
    out->warmup_epochs = s->warmup_epochs ? *s->warmup_epochs : 0.0f;
    out->min_lr = s->min_lr ? *s->min_lr : 0.0f;
    out->step_epochs = s->step_epochs ? *s->step_epochs : 0.0f;
    out->gamma = s->gamma ? *s->gamma : step ? 0.1f : 0.0f;
    out->pct_start = s->pct_start ? *s->pct_start : one ? 0.3f : 0.0f;
    out->div_factor = s->div_factor ? *s->div_factor : one ? 25.0f : 0.0f;
    out->final_div_factor = s->final_div_factor ? *s->final_div_factor : one ? 1e4f : 0.0f;
    if (cos) {
        /* Not bounded by training.epochs: a warm-up as long as the run is
         * clamped to it (tern_config_sched), so --set training.epochs=1
         * works whatever the order of the overrides. */
        if (!(out->warmup_epochs >= 0.0f && out->warmup_epochs < INFINITY))
            return rfail(R, "schedule", "warmup_epochs", "%g must be finite and >= 0", out->warmup_epochs);
        if (!(out->min_lr >= 0.0f && out->min_lr <= cfg->optimizer.lr))
            return rfail(R, "schedule", "min_lr", "%g must be in [0, optimizer.lr = %g]", out->min_lr, cfg->optimizer.lr);
    }
    if (step) {
        if (!s->step_epochs) return rfail(R, "schedule", NULL, "step needs step_epochs (decay every that many epochs)");
        if (!(out->step_epochs > 0.0f)) return rfail(R, "schedule", "step_epochs", "%g must be > 0", out->step_epochs);
        if (!(out->gamma > 0.0f)) return rfail(R, "schedule", "gamma", "%g must be > 0", out->gamma);
    }
    if (one) {
        if (!(out->pct_start > 0.0f && out->pct_start < 1.0f))
            return rfail(R, "schedule", "pct_start", "%g must be in (0, 1)", out->pct_start);
        if (!(out->div_factor > 0.0f)) return rfail(R, "schedule", "div_factor", "%g must be > 0", out->div_factor);
        if (!(out->final_div_factor > 0.0f))
            return rfail(R, "schedule", "final_div_factor", "%g must be > 0", out->final_div_factor);
    }
    return TERN_OK;
}

/* training.best_metric and training.early_stopping: model selection on the
 * validation split. */
static tern_status resolve_selection(rctx *R, const raw_training *t, tern_config_training *out) {
    int metric = TERN_BEST_VAL_ACC;
    if (t->best_metric)
        TRY(rname(R, "training", "best_metric", t->best_metric, best_metric_names, COUNT(best_metric_names),
                  "best_metric", &metric));
    out->best_metric = (tern_best_metric)metric;
    const raw_early_stopping *es = t->early_stopping;
    out->patience = es && es->patience ? *es->patience : 0;
    out->min_delta = es && es->min_delta ? *es->min_delta : 0.0f;
    if (out->patience < 0)
        return rfail(R, "training.early_stopping", "patience", "%d must be >= 0 (evaluations without an "
                     "improvement; 0: off)", out->patience);
    if (!(out->min_delta >= 0.0f))
        return rfail(R, "training.early_stopping", "min_delta", "%g must be >= 0", out->min_delta);
    return TERN_OK;
}

static tern_status resolve_training(rctx *R, const raw_training *t, tern_config_training *out) {
    raw_training none = {0};
    if (!t) t = &none;
    out->epochs = t->epochs ? *t->epochs : 10;
    out->batch_size = t->batch_size ? *t->batch_size : 128;
    out->seed = t->seed ? *t->seed : 1;
    out->threads = t->threads ? *t->threads : 0;
    out->eval_every = t->eval_every ? *t->eval_every : 1;
    out->checkpoint_every = t->checkpoint_every ? *t->checkpoint_every : 1;
    out->label_smoothing = t->label_smoothing ? *t->label_smoothing : 0.0f;
    out->sync_batchnorm = t->sync_batchnorm ? *t->sync_batchnorm : 0;
    if (!(out->label_smoothing >= 0.0f && out->label_smoothing < 1.0f))
        return rfail(R, "training", "label_smoothing", "%g is outside [0, 1)", out->label_smoothing);
    if (out->epochs < 1) return rfail(R, "training", "epochs", "%d must be >= 1", out->epochs);
    if (out->batch_size < 1 || out->batch_size > TERN_DATA_MAX_N)
        return rfail(R, "training", "batch_size", "%d is outside 1..%d (the most samples a dataset holds)",
                     out->batch_size, TERN_DATA_MAX_N);
    if (out->threads < 0 || out->threads > TERN_POOL_MAX_THREADS)
        return rfail(R, "training", "threads", "%d is outside 0..%d (0: all cores)", out->threads,
                     TERN_POOL_MAX_THREADS);
    if (out->eval_every < 0) return rfail(R, "training", "eval_every", "%d must be >= 0 (0: at the end)", out->eval_every);
    if (out->checkpoint_every < 0)
        return rfail(R, "training", "checkpoint_every", "%d must be >= 0 (0: at the end)", out->checkpoint_every);
    return resolve_selection(R, t, out);
}

static tern_status resolve_teacher(rctx *R, const raw_teacher *t, tern_config_teacher *out) {
    if (!t) return TERN_OK;
    if (!t->checkpoint[0]) return rfail(R, "teacher", "checkpoint", "is empty; leave teacher out for no distillation");
    snprintf(out->checkpoint, sizeof out->checkpoint, "%s", t->checkpoint);
    out->temperature = t->temperature ? *t->temperature : 4.0f;
    out->weight = t->weight ? *t->weight : 0.5f;
    if (!(out->temperature > 0.0f && out->temperature < INFINITY))
        return rfail(R, "teacher", "temperature", "%g must be finite and > 0", out->temperature);
    if (!(out->weight >= 0.0f && out->weight <= 1.0f))
        return rfail(R, "teacher", "weight", "%g is outside [0, 1]", out->weight);
    return TERN_OK;
}

/* "runs/<file name without .yaml or .yml>". */
static void default_output_dir(const char *source, char *out, size_t size) {
    const char *base = strrchr(source, '/');
    base = base ? base + 1 : source;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".yaml")) n -= 5;
    else if (n > 4 && !strcmp(base + n - 4, ".yml")) n -= 4;
    if (!n) snprintf(out, size, "runs/run");
    else snprintf(out, size, "runs/%.*s", (int)n, base);
}

/* dataset.found_at: as the config gives it (the copy inside a checkpoint),
 * else the absolute directory the lookup finds now, else empty. */
static void record_dataset_dir(tern_config *cfg, const char *given) {
    char dir[TERN_CONFIG_PATH_LEN], abs[PATH_MAX];
    char *out = cfg->dataset.found_at;
    out[0] = '\0';
    if (given) snprintf(out, sizeof cfg->dataset.found_at, "%s", given);
    else if (!tern_config_dataset_dir(cfg, dir, sizeof dir) && realpath(dir, abs) && strlen(abs) < sizeof cfg->dataset.found_at)
        memcpy(out, abs, strlen(abs) + 1);
    tern_error_clear();
}

static tern_status resolve(rctx *R, const raw_config *raw, tern_config *cfg) {
    TRY(resolve_dataset(R, raw->dataset, &cfg->dataset));
    record_dataset_dir(cfg, raw->dataset->found_at);

    int init = TERN_INIT_HE;
    if (raw->model->init) TRY(rname(R, "model", "init", raw->model->init, init_names, COUNT(init_names), "init", &init));
    cfg->model.init = (tern_init)init;

    /* Global quant: over the defaults of its method (twn unless it says). */
    tern_quant_cfg twn = tern_quant_cfg_default(TERN_QUANT_TWN);
    unsigned keys;
    TRY(resolve_quant(R, "quant", raw->quant, &twn, 1.0f, &cfg->quant.defaults, &cfg->quant.alpha_lr, &keys));
    cfg->quant.enabled = raw->quant && raw->quant->enabled ? *raw->quant->enabled : 1;

    TRY(resolve_optimizer(R, raw->optimizer, &cfg->optimizer));
    TRY(resolve_training(R, raw->training, &cfg->training));
    TRY(resolve_schedule(R, raw->schedule, cfg, &cfg->schedule));
    TRY(resolve_teacher(R, raw->teacher, &cfg->teacher));

    if (raw->output && raw->output->dir) {
        if (!raw->output->dir[0]) return rfail(R, "output", "dir", "is empty");
        snprintf(cfg->output_dir, sizeof cfg->output_dir, "%s", raw->output->dir);
    } else {
        default_output_dir(cfg->source, cfg->output_dir, sizeof cfg->output_dir);
    }

    int n = (int)raw->model->layers_count;
    cfg->model.layers = calloc((size_t)n, sizeof *cfg->model.layers);
    cfg->doc->own_ternary = calloc((size_t)n, 1);
    cfg->doc->quant_keys = calloc((size_t)n, sizeof *cfg->doc->quant_keys);
    if (!cfg->model.layers || !cfg->doc->own_ternary || !cfg->doc->quant_keys)
        return tern_error(TERN_ERR_NOMEM, "config: cannot allocate %d layers", n);
    int i = 0;
    tern_status st = TERN_OK;
    for (; i < n; i++) {
        if ((st = resolve_layer(R, &raw->model->layers[i], i, cfg, &cfg->model.layers[i], &cfg->doc->own_ternary[i],
                                &cfg->doc->quant_keys[i])))
            break;
        cfg->model.n_layers = i + 1;
    }
    /* Names are checked once, over all of them, yet reported in layer order:
     * a name taken by an earlier layer before any error of a later layer,
     * and before layer i's own errors that come after its name was set. */
    int named = i < n && cfg->model.layers[i].name[0] ? i + 1 : i;
    tern_status dup = check_names(R, raw->model->layers, cfg->model.layers, named);
    return dup ? dup : st;
}

/* ---- loading ---------------------------------------------------------------- */

static void doc_free(struct tern_config_doc *d) {
    if (!d) return;
    tern_cdoc_node_free(d->root);
    free(d->own_ternary);
    free(d->quant_keys);
    free(d);
}

void tern_config_free(tern_config *cfg) {
    if (!cfg) return;
    free(cfg->model.layers);
    doc_free(cfg->doc);
    memset(cfg, 0, sizeof *cfg);
}

/* Check, load through libcyaml and resolve the tree `root` (taken) into
 * *cfg, which must be zeroed; `set` is the assignment being applied, if any. */
static tern_status build(tern_config *cfg, const char *source, cnode *root, const char *set) {
    snprintf(cfg->source, sizeof cfg->source, "%s", source);
    cfg->doc = calloc(1, sizeof *cfg->doc);
    if (!cfg->doc) {
        tern_cdoc_node_free(root);
        return tern_error(TERN_ERR_NOMEM, "config: out of memory");
    }
    cfg->doc->root = root;
    cdoc_ctx x = {.file = source, .set = set};
    raw_config *raw = NULL;
    tern_status st = tern_cdoc_load(&x, root, &config_schema, (void **)&raw);
    if (!st) {
        rctx R = {.x = &x, .root = root};
        st = resolve(&R, raw, cfg);
    }
    tern_cdoc_unload(&config_schema, raw);
    if (st) tern_config_free(cfg);
    return st;
}

tern_status tern_config_load_text(tern_config *cfg, const char *text, size_t len, const char *name) {
    if (!cfg) return tern_error(TERN_ERR_ARG, "config: cfg is NULL");
    memset(cfg, 0, sizeof *cfg);
    if (!text) return tern_error(TERN_ERR_ARG, "config: text is NULL");
    if (!name) name = "config";
    cdoc_ctx x = {.file = name, .set = NULL};
    cnode *root;
    tern_status st = tern_cdoc_parse(text, len, &x, NULL, &root);
    if (st) return st;
    return build(cfg, name, root, NULL);
}

tern_status tern_config_load(tern_config *cfg, const char *path) {
    if (!cfg) return tern_error(TERN_ERR_ARG, "config: cfg is NULL");
    memset(cfg, 0, sizeof *cfg);
    if (!path) return tern_error(TERN_ERR_ARG, "config: path is NULL");
    cbuf b;
    tern_status st = tern_cdoc_read_file(path, &b);
    if (st) return st;
    st = tern_config_load_text(cfg, b.p, b.n, path);
    free(b.p);
    return st;
}

/* Apply one assignment to the tree root (the value parsed, the node set). */
static tern_status set_one(const char *source, cnode *root, const char *assignment) {
    if (!assignment) return tern_error(TERN_ERR_ARG, "config set: assignment is NULL");
    cdoc_ctx x = {.file = source, .set = assignment};
    const char *eq = strchr(assignment, '=');
    char path[256];
    size_t a = 0, b = eq ? (size_t)(eq - assignment) : 0;
    while (a < b && (assignment[a] == ' ' || assignment[a] == '\t')) a++;
    while (b > a && (assignment[b - 1] == ' ' || assignment[b - 1] == '\t')) b--;
    if (!eq || b == a || b - a >= sizeof path)
        return tern_error(TERN_ERR_CONFIG, "--set %s: expected section.key=value, e.g. training.epochs=3", assignment);
    memcpy(path, assignment + a, b - a);
    path[b - a] = '\0';
    cnode *value = NULL;
    tern_status st = tern_cdoc_parse(eq + 1, strlen(eq + 1), &x, assignment, &value);
    if (st) return st;
    return tern_cdoc_set(&x, root, path, value);
}

tern_status tern_config_set_all(tern_config *cfg, int n, const char *const *assignments) {
    if (!cfg || !cfg->doc) return tern_error(TERN_ERR_ARG, "config set: no config loaded");
    if (n < 0 || (n > 0 && !assignments)) return tern_error(TERN_ERR_ARG, "config set: no assignments");
    cnode *root = tern_cdoc_node_clone(cfg->doc->root);
    if (!root) return tern_error(TERN_ERR_NOMEM, "config: out of memory");
    for (int i = 0; i < n; i++) {
        tern_status st = set_one(cfg->source, root, assignments[i]);
        if (st) {
            tern_cdoc_node_free(root);
            return st;
        }
    }
    /* Checked once, with every override in place: an error at a node an
     * override wrote names that override (its origin). */
    tern_config next;
    memset(&next, 0, sizeof next);
    tern_status st = build(&next, cfg->source, root, n == 1 ? assignments[0] : NULL);
    if (st) return st;
    tern_config_free(cfg);
    *cfg = next;
    return TERN_OK;
}

tern_status tern_config_fail(const tern_config *cfg, const char *path, tern_status code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cdoc_ctx x = {.file = cfg->source, .set = NULL};
    return tern_cdoc_fail(&x, cfg->doc ? cfg->doc->root : NULL, path, 0, code, "%s", msg);
}

tern_status tern_config_set(tern_config *cfg, const char *assignment) {
    if (!assignment) return tern_error(TERN_ERR_ARG, "config set: assignment is NULL");
    return tern_config_set_all(cfg, 1, &assignment);
}

/* ---- the resolved YAML ------------------------------------------------------ */

/* The shortest decimal that reads back as exactly v. */
static void put_float(cbuf *b, float v) {
    char s[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(s, sizeof s, "%.*g", prec, (double)v);
        if (strtof(s, NULL) == v) break;
    }
    tern_cdoc_buf_puts(b, s);
}

static void put_key_float(cbuf *b, const char *sep, const char *key, float v) {
    tern_cdoc_buf_printf(b, "%s%s: ", sep, key);
    put_float(b, v);
}

static const char *tf(int v) { return v ? "true" : "false"; }

/* A layer's quant keys: those it set itself and those that differ from the global ones. */
static void put_layer_quant(cbuf *b, const tern_layer_spec *s, unsigned set, const tern_config *cfg) {
    const tern_quant_cfg *g = &cfg->quant.defaults, *q = &s->quant;
    const char *sep = "";
    tern_cdoc_buf_puts(b, ", quant: {");
    if ((set & Q_METHOD) || q->method != g->method)
        tern_cdoc_buf_printf(b, "%smethod: %s", sep, tern_quant_method_name(q->method)), sep = ", ";
    if ((set & Q_T) || q->t != g->t) put_key_float(b, sep, "t", q->t), sep = ", ";
    if ((set & Q_GRANULARITY) || q->granularity != g->granularity)
        tern_cdoc_buf_printf(b, "%sgranularity: %s", sep, tern_quant_granularity_name(q->granularity)), sep = ", ";
    if ((set & Q_STE) || q->ste != g->ste) tern_cdoc_buf_printf(b, "%sste: %s", sep, tern_ste_name(q->ste)), sep = ", ";
    if ((set & Q_CLIP) || q->clip != g->clip) put_key_float(b, sep, "clip", q->clip), sep = ", ";
    if ((set & Q_LEARNED) || q->learned_alpha != g->learned_alpha)
        tern_cdoc_buf_printf(b, "%slearned_alpha: %s", sep, tf(q->learned_alpha)), sep = ", ";
    if ((set & Q_ACT_BITS) || q->act_bits != g->act_bits) tern_cdoc_buf_printf(b, "%sact_bits: %d", sep, q->act_bits), sep = ", ";
    if ((set & Q_EPS) || q->eps != g->eps) put_key_float(b, sep, "eps", q->eps), sep = ", ";
    if ((set & Q_ALPHA_LR) || s->alpha_lr != cfg->quant.alpha_lr) put_key_float(b, sep, "alpha_lr", s->alpha_lr);
    tern_cdoc_buf_puts(b, "}");
}

static void put_layer(cbuf *b, const tern_layer_spec *s, int own_ternary, unsigned quant_keys, const tern_config *cfg) {
    int takes = layer_keys[s->type].takes;
    tern_cdoc_buf_printf(b, "    - {type: %s, name: ", tern_layer_type_name(s->type));
    tern_cdoc_buf_putq(b, s->name);
    if (takes & K_OUT) tern_cdoc_buf_printf(b, ", out: %d", s->out);
    if (takes & K_KERNEL) tern_cdoc_buf_printf(b, ", kernel: %d, stride: %d, pad: %d", s->kernel, s->stride, s->pad);
    if (takes & K_BIAS) tern_cdoc_buf_printf(b, ", bias: %s", tf(!s->no_bias));
    if (takes & K_ACT) tern_cdoc_buf_printf(b, ", act: %s", tern_act_name(s->act));
    if (takes & K_P) put_key_float(b, ", ", "p", s->p);
    if (takes & K_MOMENTUM) {
        put_key_float(b, ", ", "momentum", s->momentum);
        put_key_float(b, ", ", "eps", s->eps);
    }
    if (takes & K_FROM) tern_cdoc_buf_printf(b, ", from: %d", s->from);
    if (takes & K_TERNARY) {
        tern_cdoc_buf_printf(b, ", ternary: %s", tf(own_ternary));
        if (own_ternary && (quant_keys || memcmp(&s->quant, &cfg->quant.defaults, sizeof s->quant) ||
                            s->alpha_lr != cfg->quant.alpha_lr))
            put_layer_quant(b, s, quant_keys, cfg);
    }
    tern_cdoc_buf_puts(b, "}\n");
}

tern_status tern_config_to_yaml(const tern_config *cfg, char **text, size_t *len) {
    if (!cfg || !cfg->doc || !text) return tern_error(TERN_ERR_ARG, "config to_yaml: no config loaded");
    cbuf b = {0};
    tern_cdoc_buf_puts(&b, "# tern config, resolved: every default written out. Loads back to the same run.\n# from: ");
    for (const char *c = cfg->source; *c; c++) tern_cdoc_buf_printf(&b, "%c", (unsigned char)*c < 0x20 ? '?' : *c);
    tern_cdoc_buf_puts(&b, "\n");

    const tern_config_dataset *d = &cfg->dataset;
    tern_cdoc_buf_puts(&b, "dataset:\n  name: ");
    tern_cdoc_buf_putq(&b, d->name);
    tern_cdoc_buf_puts(&b, "\n  path: ");
    tern_cdoc_buf_putq(&b, d->path);
    tern_cdoc_buf_printf(&b, "\n  normalize: %s\n", norm_names[d->norm.mode]);
    if (d->norm.mode == TERN_NORM_GIVEN) {
        const float *v[2] = {d->norm.mean, d->norm.std};
        for (int k = 0; k < 2; k++) {
            tern_cdoc_buf_printf(&b, "  %s: [", k ? "std" : "mean");
            for (int c = 0; c < d->channels; c++) {
                tern_cdoc_buf_puts(&b, c ? ", " : "");
                put_float(&b, v[k][c]);
            }
            tern_cdoc_buf_puts(&b, "]\n");
        }
    }
    tern_cdoc_buf_printf(&b, "  augment: {crop_pad: %d, hflip: %s}\n", d->augment.crop_pad, tf(d->augment.hflip));
    tern_cdoc_buf_printf(&b, "  validation: %.17g\n", d->validation);
    if (d->opts.channels) tern_cdoc_buf_printf(&b, "  channels: %d\n", d->opts.channels);
    if (d->opts.size[0]) tern_cdoc_buf_printf(&b, "  size: [%d, %d]\n", d->opts.size[0], d->opts.size[1]);
    if (!strcmp(d->name, "folder")) tern_cdoc_buf_printf(&b, "  resize: %s\n", tf(d->opts.resize));
    if (d->opts.label_column[0]) {
        tern_cdoc_buf_puts(&b, "  label_column: ");
        tern_cdoc_buf_putq(&b, d->opts.label_column);
        tern_cdoc_buf_puts(&b, "\n");
    }
    if (d->found_at[0]) {
        tern_cdoc_buf_puts(&b, "  found_at: ");
        tern_cdoc_buf_putq(&b, d->found_at);
        tern_cdoc_buf_puts(&b, "\n");
    }

    tern_cdoc_buf_printf(&b, "model:\n  init: %s\n  layers:\n", init_names[cfg->model.init]);
    for (int i = 0; i < cfg->model.n_layers; i++)
        put_layer(&b, &cfg->model.layers[i], cfg->doc->own_ternary[i], cfg->doc->quant_keys[i], cfg);

    const tern_quant_cfg *q = &cfg->quant.defaults;
    tern_cdoc_buf_printf(&b, "quant:\n  enabled: %s\n  method: %s\n", tf(cfg->quant.enabled), tern_quant_method_name(q->method));
    put_key_float(&b, "  ", "t", q->t);
    tern_cdoc_buf_printf(&b, "\n  granularity: %s\n  ste: %s\n", tern_quant_granularity_name(q->granularity), tern_ste_name(q->ste));
    put_key_float(&b, "  ", "clip", q->clip);
    tern_cdoc_buf_printf(&b, "\n  learned_alpha: %s\n  act_bits: %d\n", tf(q->learned_alpha), q->act_bits);
    put_key_float(&b, "  ", "eps", q->eps);
    put_key_float(&b, "\n  ", "alpha_lr", cfg->quant.alpha_lr);

    const tern_config_optimizer *o = &cfg->optimizer;
    tern_cdoc_buf_printf(&b, "\noptimizer:\n  name: %s", tern_optim_kind_name(o->cfg.kind));
    put_key_float(&b, "\n  ", "lr", o->lr);
    put_key_float(&b, "\n  ", "weight_decay", o->cfg.weight_decay);
    if (o->cfg.kind == TERN_OPTIM_SGD) {
        put_key_float(&b, "\n  ", "momentum", o->cfg.momentum);
        tern_cdoc_buf_printf(&b, "\n  nesterov: %s", tf(o->cfg.nesterov));
    } else {
        put_key_float(&b, "\n  ", "beta1", o->cfg.beta1);
        put_key_float(&b, "\n  ", "beta2", o->cfg.beta2);
        put_key_float(&b, "\n  ", "eps", o->cfg.eps);
    }
    put_key_float(&b, "\n  ", "clip", o->clip);

    const tern_config_schedule *s = &cfg->schedule;
    tern_cdoc_buf_printf(&b, "\nschedule:\n  name: %s", tern_sched_kind_name(s->kind));
    if (s->kind == TERN_SCHED_COSINE) {
        put_key_float(&b, "\n  ", "warmup_epochs", s->warmup_epochs);
        put_key_float(&b, "\n  ", "min_lr", s->min_lr);
    } else if (s->kind == TERN_SCHED_STEP) {
        put_key_float(&b, "\n  ", "step_epochs", s->step_epochs);
        put_key_float(&b, "\n  ", "gamma", s->gamma);
    } else if (s->kind == TERN_SCHED_ONE_CYCLE) {
        put_key_float(&b, "\n  ", "pct_start", s->pct_start);
        put_key_float(&b, "\n  ", "div_factor", s->div_factor);
        put_key_float(&b, "\n  ", "final_div_factor", s->final_div_factor);
    }
    const tern_config_training *t = &cfg->training;
    tern_cdoc_buf_printf(&b,
                "\ntraining:\n  epochs: %d\n  batch_size: %d\n  seed: %" PRIu64
                "\n  threads: %d\n  eval_every: %d\n  checkpoint_every: %d",
                t->epochs, t->batch_size, t->seed, t->threads, t->eval_every, t->checkpoint_every);
    tern_cdoc_buf_printf(&b, "\n  best_metric: %s\n  early_stopping: {patience: %d, min_delta: ",
                         best_metric_names[t->best_metric], t->patience);
    put_float(&b, t->min_delta);
    tern_cdoc_buf_puts(&b, "}");
    put_key_float(&b, "\n  ", "label_smoothing", t->label_smoothing);
    if (t->sync_batchnorm) tern_cdoc_buf_puts(&b, "\n  sync_batchnorm: true"); /* older configs' text unchanged */
    tern_cdoc_buf_puts(&b, "\noutput:\n  dir: ");
    tern_cdoc_buf_putq(&b, cfg->output_dir);
    tern_cdoc_buf_puts(&b, "\n");
    if (cfg->teacher.checkpoint[0]) {
        tern_cdoc_buf_puts(&b, "teacher:\n  checkpoint: ");
        tern_cdoc_buf_putq(&b, cfg->teacher.checkpoint);
        put_key_float(&b, "\n  ", "temperature", cfg->teacher.temperature);
        put_key_float(&b, "\n  ", "weight", cfg->teacher.weight);
        tern_cdoc_buf_puts(&b, "\n");
    }
    if (b.oom) {
        free(b.p);
        return tern_error(TERN_ERR_NOMEM, "config: out of memory");
    }
    *text = b.p;
    if (len) *len = b.n;
    return TERN_OK;
}

tern_status tern_config_write(const tern_config *cfg, const char *path) {
    if (!path) return tern_error(TERN_ERR_ARG, "config write: path is NULL");
    char *text;
    size_t len;
    tern_status st = tern_config_to_yaml(cfg, &text, &len);
    if (st) return st;
    char tmp[TERN_CONFIG_PATH_LEN + 8];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        free(text);
        return tern_error(TERN_ERR_ARG, "config write: path '%s' is too long", path);
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(text);
        return tern_error(TERN_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    int ok = fwrite(text, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int saved = errno;
    ok = (fclose(f) == 0) && ok;
    free(text);
    if (!ok || rename(tmp, path) != 0) {
        if (ok) saved = errno;
        remove(tmp);
        return tern_error(TERN_ERR_IO, "%s: cannot write: %s", path, strerror(saved));
    }
    return TERN_OK;
}

/* ---- for the trainer -------------------------------------------------------- */

tern_status tern_config_sched(const tern_config *cfg, long steps_per_epoch, tern_sched *sched) {
    if (!cfg || !sched) return tern_error(TERN_ERR_ARG, "config sched: NULL argument");
    if (steps_per_epoch < 1) return tern_error(TERN_ERR_ARG, "config sched: steps_per_epoch %ld must be >= 1", steps_per_epoch);
    const tern_config_schedule *s = &cfg->schedule;
    if (cfg->training.epochs < 1 || steps_per_epoch > LONG_MAX / cfg->training.epochs)
        return tern_error(TERN_ERR_ARG, "config sched: %d epochs of %ld steps do not fit a step counter",
                          cfg->training.epochs, steps_per_epoch);
    long total = (long)cfg->training.epochs * steps_per_epoch;
    switch (s->kind) {
    case TERN_SCHED_CONSTANT:
        return tern_sched_init_constant(sched, cfg->optimizer.lr);
    case TERN_SCHED_STEP: {
        /* A decay interval past the run's end never decays: the run's length
         * stands for it, so a huge step_epochs is never rounded out of a long. */
        double steps = (double)s->step_epochs * (double)steps_per_epoch;
        long size = steps >= (double)total ? total : lround(steps);
        return tern_sched_init_step(sched, cfg->optimizer.lr, size < 1 ? 1 : size, s->gamma);
    }
    case TERN_SCHED_COSINE: {
        long warm = lround((double)s->warmup_epochs * (double)steps_per_epoch);
        if (warm >= total) warm = total - 1;  /* a warm-up as long as the run, or longer: all but its last step */
        return tern_sched_init_cosine(sched, cfg->optimizer.lr, s->min_lr, warm, total);
    }
    case TERN_SCHED_ONE_CYCLE:
        return tern_sched_init_one_cycle(sched, cfg->optimizer.lr, total, s->pct_start, s->div_factor,
                                         s->final_div_factor);
    default:
        return tern_error(TERN_ERR_CONFIG, "config sched: unknown schedule %d", (int)s->kind);
    }
}

void tern_config_input_shape(const tern_config *cfg, int shape[3]) {
    int i = 0;
    while (i + 1 < COUNT(dataset_names) && strcmp(dataset_names[i], cfg->dataset.name)) i++;
    shape[0] = dataset_channels[i];
    shape[1] = shape[2] = dataset_size[i];
    if (cfg->dataset.opts.size[0] && cfg->dataset.channels) {  /* a folder of the size the config gives */
        shape[0] = cfg->dataset.channels;
        shape[1] = cfg->dataset.opts.size[0], shape[2] = cfg->dataset.opts.size[1];
    }
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* out = p when absolute or when exists(p) from here, else <config dir>/../p
 * when that exists; *alt = that second place, for the caller's message. */
static int find_path(const tern_config *cfg, const char *p, int (*exists)(const char *), char *alt, size_t alt_size,
                     const char **found) {
    *found = NULL;
    if (p[0] == '/' || exists(p)) {
        *found = p;
        return 1;
    }
    /* <config dir>/../<path>: the repository root for configs/x.yaml. */
    const char *slash = strrchr(cfg->source, '/');
    if (slash) snprintf(alt, alt_size, "%.*s/../%s", (int)(slash - cfg->source), cfg->source, p);
    else snprintf(alt, alt_size, "../%s", p);
    if (exists(alt)) *found = alt;
    return *found != NULL;
}

static tern_status copy_out(const char *what, const char *p, char *out, size_t size) {
    if ((size_t)snprintf(out, size, "%s", p) >= size)
        return tern_error(TERN_ERR_ARG, "config %s: '%s' does not fit %zu bytes", what, p, size);
    return TERN_OK;
}

tern_status tern_config_dataset_dir(const tern_config *cfg, char *out, size_t size) {
    if (!cfg || !out || !size) return tern_error(TERN_ERR_ARG, "config dataset_dir: NULL argument");
    const char *p = cfg->dataset.path, *found;
    char alt[2 * TERN_CONFIG_PATH_LEN + 8] = "";
    if (find_path(cfg, p, is_dir, alt, sizeof alt, &found)) return copy_out("dataset_dir", found, out, size);
    /* Last, where the run that wrote this config found its data. */
    const char *at = cfg->dataset.found_at;
    if (at[0] && is_dir(at)) return copy_out("dataset_dir", at, out, size);
    return tern_error(TERN_ERR_IO, "dataset: no directory '%s' here nor at '%s'%s%s%s; give its directory with --data DIR, "
                      "set dataset.path or run datasets/fetch.sh", p, alt, at[0] ? " nor at '" : "", at,
                      at[0] ? "' (where it was found in training)" : "");
}

tern_status tern_config_teacher_path(const tern_config *cfg, char *out, size_t size) {
    if (!cfg || !out || !size) return tern_error(TERN_ERR_ARG, "config teacher_path: NULL argument");
    const char *p = cfg->teacher.checkpoint, *found;
    if (!p[0]) return tern_error(TERN_ERR_ARG, "config teacher_path: the config has no teacher");
    char alt[2 * TERN_CONFIG_PATH_LEN + 8] = "";
    if (find_path(cfg, p, is_file, alt, sizeof alt, &found)) return copy_out("teacher_path", found, out, size);
    return tern_error(TERN_ERR_IO, "%s: teacher.checkpoint: no file '%s' here nor at '%s'; train the teacher first "
                      "(the config's comments say how)", cfg->source, p, alt);
}
