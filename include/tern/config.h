/* tern/config.h — run configurations: YAML files (libcyaml), --set overrides,
 * and the resolved values the trainer needs.
 *
 * A config has eight sections; only dataset.name, model.layers and
 * optimizer.lr are required, everything else has a default (in brackets):
 *
 *   dataset:   name (mnist | fashion-mnist | cifar10 | folder | npy | csv), path ["datasets/data/<name>"],
 *              normalize (none | compute | given) [none], mean, std (given: one per channel),
 *              augment: {crop_pad [0], hflip [false]},
 *              validation [0]: a fraction in (0,1) or a count >= 1 held out of the training split;
 *              a user's data (tern/data.h): name folder | npy | csv, path [as above];
 *              folder: channels (1 | 3) [the first image's], size: [H, W] [the first
 *              image's], resize [false]; csv: label_column ["label"];
 *              found_at [the absolute directory the data is found in at load; kept
 *              in the config a run writes, and looked in last]
 *   model:     init (he | xavier) [he], layers: a list of
 *              {type, name, out, kernel, stride, pad, bias, act, p, momentum, eps, from,
 *               ternary, quant: {...}}; each type takes only the keys it uses
 *   quant:     enabled [true], method (twn | absmean | ttq) [twn], t, granularity
 *              (per_tensor | per_channel), ste (identity | clipped), clip, learned_alpha,
 *              act_bits (0 | 8), eps, alpha_lr [1]; unset keys take tern_quant_cfg_default(method)
 *   optimizer: name (sgd | adam | adamw) [adam], lr, weight_decay, momentum, nesterov,
 *              beta1, beta2, eps (PyTorch's defaults), clip (grad-norm bound) [0: off]
 *   schedule:  name (constant | step | cosine | one_cycle) [constant]; cosine: warmup_epochs [0],
 *              min_lr [0]; step: step_epochs, gamma [0.1]; one_cycle (torch's OneCycleLR,
 *              max_lr = optimizer.lr): pct_start [0.3], div_factor [25], final_div_factor [1e4]
 *   training:  epochs [10], batch_size [128], seed [1], threads [0: all cores],
 *              eval_every [1], checkpoint_every [1] (epochs; 0: only at the end),
 *              best_metric (val_acc | val_loss) [val_acc],
 *              early_stopping: {patience [0: off], min_delta [0]}
 *              label_smoothing [0] (in [0, 1), torch's CrossEntropyLoss(label_smoothing)),
 *              sync_batchnorm [false] (on N processes: all ranks' batch statistics)
 *   output:    dir ["runs/<config file name without .yaml>"]
 *   teacher:   (optional: knowledge distillation) checkpoint (a tern training
 *              checkpoint, required), temperature [4], weight [0.5]; the loss is
 *              (1 - w) CE + w T^2 KL(teacher || student) at temperature T (tern_xent_loss)
 *
 * Cross-field rules hold for the config as a whole, after every --set: a
 * cosine warm-up may be as long as the run or longer (tern_config_sched
 * clamps it to all but the last step), so `--set training.epochs=1` works on
 * any config in any order; tern_config_set_all checks once, after all.
 *
 * Quantization of a layer. linear and conv2d layers are ternary unless they
 * say `ternary: false` (hybrids keep e.g. the first conv and the classifier in
 * fp32). `quant.enabled: false` makes every layer full precision: that one
 * flag (`--set quant.enabled=false`) turns any config into its fp32 twin. A
 * ternary layer's quantizer is the global quant section overridden by the
 * layer's own quant keys; when the layer picks another method than the global
 * one, its unset t and learned_alpha are that method's defaults (a twn
 * threshold factor means nothing to ttq).
 *
 * Errors are one line, "FILE:LINE:COL: PATH: what is wrong", e.g.
 *   "mlp.yaml:14:13: training.epochs: expected an integer, got 'ten'"
 *   "mlp.yaml:3:3: dataset.nmae: unknown key (name, path, normalize, mean, std, augment)"
 * and for overrides "--set ASSIGNMENT: [FILE:LINE:COL: ]PATH: what is wrong".
 * Malformed YAML, unknown keys, wrong types (numbers and booleans must be
 * unquoted), duplicate keys, unknown names and out-of-range values are all
 * rejected with the position of the offending key or value. A number is
 * checked against its type's range before any conversion ("1e39 is out of
 * range (a float holds ...)", NaN and infinity are refused), then against
 * its meaning: kernel, stride and pad at most 65535, batch_size at most
 * TERN_DATA_MAX_N. A file that is not a regular one (a directory, a FIFO) is
 * refused, never waited on.
 *
 * How: libyaml parses the document into a tree that keeps every node's
 * position; that tree is checked against the same libcyaml schema tables that
 * libcyaml then loads it with (libcyaml 1.3 points unknown keys at the
 * previous value and accepts 3.0 for an int and 2 for a bool, so the check
 * comes first and libcyaml only ever sees canonical values). Overrides edit
 * the tree and go through the whole path again. */
#ifndef TERN_CONFIG_H
#define TERN_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "tern/api.h"
#include "tern/data_types.h"
#include "tern/nn.h"
#include "tern/optim.h"
#include "tern/quant.h"
#include "tern/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_CONFIG_PATH_LEN 512

typedef struct tern_config_dataset {
    char name[TERN_DATA_NAME_LEN];    /* "mnist", "fashion-mnist", "cifar10", "folder", "npy", "csv" */
    char path[TERN_CONFIG_PATH_LEN];  /* as written, or "datasets/data/<name>"; see tern_config_dataset_dir */
    int channels;                     /* of the dataset: 1 (mnist, fashion-mnist, csv), 3 (cifar10), the
                                         folder's dataset.channels; 0: known only from the data */
    tern_norm norm;                   /* GIVEN: mean/std[0..channels) */
    tern_augment augment;
    double validation;                /* held out of the training split: a fraction in (0,1) or a
                                         count >= 1; 0: none (tern_dataset_hold_out, tern/data.h) */
    tern_data_opts opts;              /* folder: channels, size, resize; csv: label_column */
    char found_at[TERN_CONFIG_PATH_LEN];  /* the absolute directory the data was found in when the
                                             config was first loaded ("" if none): the last place
                                             tern_config_dataset_dir looks */
} tern_config_dataset;

typedef struct tern_config_model {
    tern_init init;
    int n_layers;
    tern_layer_spec *layers;  /* (n_layers), owned; fully resolved: names, strides, batchnorm
                                 momentum/eps filled in; ternary = the layer's flag and
                                 quant.enabled; quant = global defaults + the layer's keys */
} tern_config_model;

typedef struct tern_config_quant {
    int enabled;              /* 0: every layer is full precision (the fp32 twin) */
    tern_quant_cfg defaults;  /* what a ternary layer gets unless it says otherwise */
    float alpha_lr;           /* learned scales' lr multiplier, > 0 */
} tern_config_quant;

typedef struct tern_config_optimizer {
    tern_optim_config cfg;  /* kind and hyper-parameters, PyTorch's defaults filled in */
    float lr;               /* base learning rate, > 0 */
    float clip;             /* global grad-norm bound for tern_clip_grad_norm; 0: no clipping */
} tern_config_optimizer;

typedef struct tern_config_schedule {
    tern_sched_kind kind;
    float warmup_epochs;  /* cosine: linear warm-up, in [0, training.epochs) */
    float min_lr;         /* cosine: final lr, in [0, optimizer.lr] */
    float step_epochs;    /* step: decay every step_epochs epochs, > 0 */
    float gamma;          /* step: decay factor, > 0 */
    float pct_start;      /* one_cycle: rising fraction of the run, in (0, 1) */
    float div_factor;     /* one_cycle: first lr = optimizer.lr / div_factor, > 0 */
    float final_div_factor; /* one_cycle: last lr = first lr / final_div_factor, > 0 */
} tern_config_schedule;

typedef enum tern_best_metric {
    TERN_BEST_VAL_ACC = 0,  /* higher is better */
    TERN_BEST_VAL_LOSS,     /* lower is better */
} tern_best_metric;

typedef struct tern_config_training {
    int epochs;            /* >= 1 */
    int batch_size;        /* >= 1 */
    uint64_t seed;         /* model init, shuffling, augmentation, dropout */
    int threads;           /* worker threads of a step (tern/pool.h); 0: all cores */
    int eval_every;        /* evaluate (validation, then test) every this many epochs; 0: at the end */
    int checkpoint_every;  /* write a checkpoint every this many epochs; 0: at the end */
    tern_best_metric best_metric; /* what selects best.h5 and drives early stopping */
    int patience;          /* early stopping: evaluations without an improvement > min_delta; 0: off */
    float min_delta;       /* early stopping: the least change that counts as an improvement, >= 0 */
    float label_smoothing; /* eps in [0, 1) of the training loss (tern_xent_cfg) */
    int sync_batchnorm;    /* on N processes: batchnorm normalises with all ranks' batch statistics */
} tern_config_training;

/* Knowledge distillation; checkpoint "" (no teacher: section) turns it off. */
typedef struct tern_config_teacher {
    char checkpoint[TERN_CONFIG_PATH_LEN];  /* as written; see tern_config_teacher_path */
    float temperature;                      /* T > 0 */
    float weight;                           /* w in [0, 1] */
} tern_config_teacher;

struct tern_config_doc;

typedef struct tern_config {
    char source[TERN_CONFIG_PATH_LEN];  /* the file (or the name given to load_text) */
    tern_config_dataset dataset;
    tern_config_model model;
    tern_config_quant quant;
    tern_config_optimizer optimizer;
    tern_config_schedule schedule;
    tern_config_training training;
    char output_dir[TERN_CONFIG_PATH_LEN];
    tern_config_teacher teacher;
    struct tern_config_doc *doc;        /* internal: the YAML tree with positions, for --set */
} tern_config;

/* Read, check and resolve the YAML file at path into *cfg (which need not be
 * initialised; on failure it is left empty and freeable). */
TERN_API tern_status tern_config_load(tern_config *cfg, const char *path);

/* The same from text[0..len) (e.g. the copy inside a checkpoint); `name`
 * stands for the file in messages and in the default output dir. */
TERN_API tern_status tern_config_load_text(tern_config *cfg, const char *text, size_t len, const char *name);

/* Apply "section.key=value" (list items by index or by layer name:
 * "model.layers.2.out=128", "model.layers.fc1.quant.method=ttq"); value is
 * YAML ("3", "true", "[0.5, 0.5, 0.5]", "{method: ttq}"); missing mappings are
 * created. The whole config is checked again; on failure *cfg is unchanged. */
TERN_API tern_status tern_config_set(tern_config *cfg, const char *assignment);

/* The assignments[0..n) as tern_config_set, all applied before the config is
 * checked once: cross-field checks see the final values, whatever the order. */
TERN_API tern_status tern_config_set_all(tern_config *cfg, int n, const char *const *assignments);

/* The resolved config (every default written out) as YAML that loads back to
 * the same resolved values; *text is NUL-terminated, malloc'd, freed by the caller. */
TERN_API tern_status tern_config_to_yaml(const tern_config *cfg, char **text, size_t *len);

/* Write tern_config_to_yaml() to path atomically (temporary file, fsync, rename). */
TERN_API tern_status tern_config_write(const tern_config *cfg, const char *path);

/* The lr schedule in optimizer steps: total = epochs * steps_per_epoch,
 * warm-up and step size = round(epochs * steps_per_epoch), at least 1 step;
 * checked with tern_sched_check. */
TERN_API tern_status tern_config_sched(const tern_config *cfg, long steps_per_epoch, tern_sched *sched);

/* The dataset directory: an absolute dataset.path as is; a relative one from
 * the current directory when it exists there, else from the parent of the
 * config file's directory (the repository root for configs/x.yaml), else
 * dataset.found_at (the copy of a config inside a checkpoint keeps where
 * training found the data, so eval works from another directory).
 * TERN_ERR_IO naming every place and --data DIR when none exists. */
TERN_API tern_status tern_config_dataset_dir(const tern_config *cfg, char *out, size_t size);

/* The teacher's checkpoint file: an absolute teacher.checkpoint as is; a
 * relative one from the current directory when it exists there, else from
 * the parent of the config file's directory (tern_config_dataset_dir's
 * rule). TERN_ERR_IO naming both places when neither exists. */
TERN_API tern_status tern_config_teacher_path(const tern_config *cfg, char *out, size_t size);

/* shape (C,H,W) of the images of the config's dataset as published (mnist
 * (1,28,28), cifar10 (3,32,32)); a dataset directory may hold other sizes. */
TERN_API void tern_config_input_shape(const tern_config *cfg, int shape[3]);

/* An error at key `path` (e.g. "dataset.validation") of cfg's document, for
 * what only a later stage can check: "FILE:LINE:COL: PATH: message". */
TERN_API tern_status tern_config_fail(const tern_config *cfg, const char *path, tern_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Release everything load allocated; leaves an empty config. */
TERN_API void tern_config_free(tern_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
