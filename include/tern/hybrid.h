/* tern/hybrid.h — which layers stay fp32: a search over per-layer precision
 * under a size, latency or energy budget (`tern hybrid CONFIG`).
 *
 * The quantizable layers of a config are its linear and conv2d layers, in
 * order; an assignment says for each whether it is ternary (T) or fp32 (F),
 * written as a string such as "FTTTTF" (first and last fp32) and held as a
 * bit mask, bit i set = layer i fp32. The config with assignment a is the
 * base config, the overrides, quant.enabled=true and
 * model.layers.<index>.ternary=<true|false> for every quantizable layer.
 *
 * The search, in four phases (each a list of trainings, every one in its own
 * run directory OUT/runs/NAME/ with a result.csv row when finished):
 *   1. costs: each quantizable layer's deploy bytes, MACs, latency and
 *      estimated energy, ternary and fp32, from the deploy view of the
 *      untrained all-ternary and all-fp32 models (tern/monitor.h:
 *      bytes_deploy and tern_monitor_energy; latency: the runtime's
 *      per-layer times at batch 1 on one thread, as tern profile times
 *      them, the two models interleaved, median of lat_repeats forwards).
 *      An assignment's predicted cost is the fixed part (the rest of the
 *      all-ternary model: other layers, and for latency the forward's own
 *      overhead) plus its layers' costs. The table is measured once and
 *      kept in OUT/layers.csv: a rerun decides on the same numbers.
 *      Bytes are exact; latency and energy are additive estimates (the
 *      trained candidates are measured whole). No training is needed, so a
 *      budget below the cheapest assignment is refused before any.
 *   2. base and references, trained fully (the config's training settings,
 *      from scratch) once per seed: all-ternary, all-fp32 and the rule of
 *      thumb (first and last quantizable layer fp32, the rest ternary), and
 *      the base: the config's own assignment at the first seed, unless a
 *      trained checkpoint is given (spec->from). NAME = <assignment>_s<seed>;
 *      an assignment trained under two roles is trained once.
 *   3. sensitivity: from the base checkpoint, the base assignment and each
 *      single-layer flip of it, fine-tuned finetune_epochs epochs (no
 *      warm-up, the config's optimizer and schedule otherwise, first seed),
 *      warm-started with the base's weights (tern_train_opts.init_from);
 *      NAME = ft_<assignment>. delta_i = validation accuracy of the flip of
 *      layer i minus that of the fine-tuned base.
 *   4. confirmation: the predicted accuracy of an assignment is the
 *      fine-tuned base's plus the deltas of the layers where it differs
 *      from the base (sensitivities assumed additive). For up to
 *      TERN_HYBRID_EXHAUSTIVE layers every assignment is predicted, above
 *      that a greedy path (from all-ternary, add fp32 layers by predicted
 *      gain per unit of cost, best first). The Pareto front of predicted
 *      accuracy against the chosen cost is kept; its `confirm` most accurate
 *      assignments within the budget are trained fully per seed (as the
 *      references), and the chosen one is the confirmed or reference
 *      assignment with the best mean validation accuracy within the budget
 *      (with min_acc: the cheapest whose mean validation accuracy reaches it,
 *      else the most accurate, with met = 0).
 * Budgets compare predicted costs (bytes exactly; latency from the phase-1
 * table, so the choice does not depend on timing noise later); the files
 * also carry each trained run's measured latency.
 *
 * Files in OUT:
 *   hybrid_base.yaml  the resolved config with the overrides and the search
 *                     settings that decide what a run means (seeds,
 *                     finetune epochs, from); a rerun that differs is
 *                     refused (force: start over), a rerun with another
 *                     budget or cost reuses every finished run
 *   layers.csv        per quantizable layer: name, index, base precision,
 *                     weights, macs, bytes_t, bytes_f, latency_us_t,
 *                     latency_us_f, energy_nj_t, energy_nj_f, delta
 *   runs.csv          one row per finished run: name, role, assignment,
 *                     seed, val_acc, test_acc, bytes, latency_us (measured
 *                     right after training, while other ranks may train:
 *                     noisy), energy_nj, seconds
 *   search.csv        every predicted assignment: assignment, pred_acc,
 *                     bytes, latency_us, energy_nj (predicted), front (0/1),
 *                     within (the budget, 0/1)
 *   summary.csv       per assignment trained on every seed (references,
 *                     candidates): assignment, role (all-ternary, all-fp32,
 *                     first+last-fp32, base, candidate), n, mean and sample
 *                     std of val_acc and test_acc, bytes, latency_us (the
 *                     first seed's model; all of them timed interleaved at
 *                     the end, by rank 0 alone), energy_nj, the predicted
 *                     pred_bytes, pred_latency_us, pred_energy_nj, chosen
 *   hybrid.yaml       the chosen assignment's config, ready for tern train
 *                     (output.dir runs/hybrid)
 * All written atomically.
 *
 * Distributed (opts->comm of N ranks, `mpirun -np N tern hybrid`): each
 * phase's pending trainings are dealt round-robin, each a one-process run
 * on its rank; phases are separated by a barrier and every rank reads the
 * result rows from OUT (which must be on a file system all ranks see).
 * Rank 0 alone writes the CSV files and hybrid.yaml. The library prints
 * nothing; progress reaches the caller as events. */
#ifndef TERN_HYBRID_H
#define TERN_HYBRID_H

#include <signal.h>
#include <stdint.h>

#include "tern/api.h"
#include "tern/comm.h"
#include "tern/config.h"
#include "tern/status.h"
#include "tern/train.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_HYBRID_MAX_LAYERS 32   /* quantizable layers: an assignment is a uint32_t */
#define TERN_HYBRID_EXHAUSTIVE 14   /* up to this many, all 2^L assignments are predicted */
#define TERN_HYBRID_MAX_SEEDS 16
#define TERN_HYBRID_MAX_SETS 64
#define TERN_HYBRID_MAX_CONFIRM 64  /* front candidates trained fully */

typedef enum tern_hybrid_cost {
    TERN_HYBRID_BYTES,              /* deploy bytes */
    TERN_HYBRID_LATENCY,            /* µs per sample, batch 1, one thread */
    TERN_HYBRID_ENERGY,             /* nJ per inference, estimated (tern/monitor.h) */
    TERN_HYBRID_NCOST
} tern_hybrid_cost;

/* "bytes", "latency_us", "energy_nj". */
TERN_API const char *tern_hybrid_cost_name(tern_hybrid_cost c);

typedef struct tern_hybrid_spec {
    char config[TERN_CONFIG_PATH_LEN];  /* the base config file */
    int n_sets;
    const char *sets[TERN_HYBRID_MAX_SETS];  /* overrides for every run, as tern train --set (not owned) */
    char from[TERN_CONFIG_PATH_LEN];    /* a trained checkpoint of this architecture; "": train the base */
    char out[TERN_CONFIG_PATH_LEN];     /* the results directory */
    int finetune_epochs;                /* sensitivity fine-tune, >= 1 */
    int n_seeds;
    uint64_t seeds[TERN_HYBRID_MAX_SEEDS];  /* full trainings; distinct; >= 1 */
    int confirm;                        /* front candidates trained fully, 0..TERN_HYBRID_MAX_CONFIRM */
    tern_hybrid_cost cost;              /* the front's and the budget's cost */
    double max_cost;                    /* budget in cost's unit; 0: none */
    double min_acc;                     /* fraction in (0,1]: the cheapest reaching it; 0: none */
    int lat_repeats;                    /* timed forwards per latency, >= 1 */
} tern_hybrid_spec;

/* A spec with the defaults: finetune_epochs 1, confirm 2, cost bytes,
 * lat_repeats 30, no budget, no seeds (tern_hybrid_run then uses the
 * config's training.seed). */
TERN_API void tern_hybrid_spec_init(tern_hybrid_spec *s);

/* One quantizable layer. */
typedef struct tern_hybrid_layer {
    char name[TERN_LAYER_NAME_LEN];
    int index;                          /* in model.layers */
    int base_fp32;                      /* its precision in the base */
    uint64_t weights, macs;             /* per sample */
    double cost_t[TERN_HYBRID_NCOST];   /* ternary: bytes, µs, nJ */
    double cost_f[TERN_HYBRID_NCOST];   /* fp32 */
    double delta;                       /* validation accuracy, flipped minus base (fractions); NaN: unknown */
} tern_hybrid_layer;

/* The cost model and the sensitivities: what the search needs. */
typedef struct tern_hybrid_model {
    int n_layers;
    tern_hybrid_layer layers[TERN_HYBRID_MAX_LAYERS];
    double fixed[TERN_HYBRID_NCOST];    /* every other layer, from the all-ternary model */
    uint32_t base;                      /* the base assignment */
    double base_acc;                    /* the fine-tuned base's validation accuracy */
} tern_hybrid_model;

/* One predicted assignment. */
typedef struct tern_hybrid_cand {
    uint32_t fp32;                      /* bit i: layer i fp32 */
    double acc;                         /* predicted validation accuracy */
    double cost[TERN_HYBRID_NCOST];     /* predicted */
    int front;                          /* on the Pareto front of acc against spec->cost */
    int within;                         /* within the budget (max_cost; with min_acc, acc >= it) */
} tern_hybrid_cand;

/* Cost c of assignment a under m. */
TERN_API double tern_hybrid_cost_of(const tern_hybrid_model *m, uint32_t a, tern_hybrid_cost c);
/* Predicted accuracy of a under m (base_acc and the deltas). */
TERN_API double tern_hybrid_acc_of(const tern_hybrid_model *m, uint32_t a);
/* "FTTTTF" of a for n layers into buf (n + 1 bytes). */
TERN_API void tern_hybrid_assign_text(uint32_t a, int n, char *buf);

/* The candidates of m (exhaustive or greedy, above), their front and
 * budget flags under s (cost, max_cost, min_acc), sorted by cost then
 * accuracy descending; *cands malloc'd (free it), *n its length. */
TERN_API tern_status tern_hybrid_search(const tern_hybrid_model *m, const tern_hybrid_spec *s,
                                        tern_hybrid_cand **cands, int *n);

/* ---- running --------------------------------------------------------------- */

typedef enum tern_hybrid_event_kind {
    TERN_HYBRID_EV_COSTS,   /* phase 1 done: model (costs, no deltas yet) */
    TERN_HYBRID_EV_SKIP,    /* a run finished before this call (rank 0 only) */
    TERN_HYBRID_EV_START,   /* a training begins on this rank */
    TERN_HYBRID_EV_DONE,    /* a run trained and measured: row */
    TERN_HYBRID_EV_SEARCH,  /* phase 3 done: model with deltas, and the candidates */
} tern_hybrid_event_kind;

/* One trained run: a row of runs.csv. */
typedef struct tern_hybrid_row {
    char name[64];                      /* its run directory under OUT/runs */
    char role[16];                      /* "base", "finetune", "reference", "candidate" */
    uint32_t fp32;
    uint64_t seed;
    double val_acc, test_acc;           /* fractions; val NaN without a validation split */
    double bytes, latency_us, energy_nj;/* measured on the trained model */
    double seconds;
} tern_hybrid_row;

typedef struct tern_hybrid_event {
    tern_hybrid_event_kind kind;
    const char *phase;                  /* "base", "references", "sensitivity", "candidates" */
    int index, total;                   /* 1-based run of the phase */
    const char *name;                   /* START, SKIP, DONE: the run */
    int resumed;                        /* START: continuing from a checkpoint */
    const tern_hybrid_row *row;         /* DONE */
    const tern_hybrid_model *model;     /* COSTS, SEARCH */
    const tern_hybrid_cand *cands;      /* SEARCH */
    int n_cands;
} tern_hybrid_event;

typedef void (*tern_hybrid_cb)(const tern_hybrid_event *ev, void *user);

typedef struct tern_hybrid_opts {
    int force;                          /* OUT holds another search's runs: discard them */
    volatile sig_atomic_t *stop;        /* non-zero: the run in training checkpoints, the search returns */
    long stop_after_steps;              /* > 0: each training stops after this many steps (tests) */
    tern_hybrid_cb cb;                  /* may be NULL */
    tern_train_cb train_cb;             /* each training's events; may be NULL */
    void *user;
    const tern_comm *comm;              /* NULL: one process */
} tern_hybrid_opts;

typedef struct tern_hybrid_result {
    tern_hybrid_model model;
    uint32_t chosen;                    /* the chosen assignment */
    int met;                            /* 1: it meets the budget */
    double chosen_val, chosen_test;     /* its mean accuracies over seeds */
    double chosen_cost[TERN_HYBRID_NCOST]; /* predicted */
    int trained, skipped;               /* runs, over all ranks */
    int stopped;                        /* 1: interrupted; rerun to continue */
    char config_out[TERN_CONFIG_PATH_LEN + 16];  /* OUT/hybrid.yaml */
} tern_hybrid_result;

/* Run the search of s. Errors are one line naming the file or run:
 * "CONFIG: no linear or conv2d layer: nothing to choose a precision for",
 * "CKPT: parameter 'fc1.weight' is (8,16) in the checkpoint but (12,16) in
 * the model; the checkpoint comes from another architecture: ...",
 * "CONFIG: a budget of 1000 bytes is below the smallest this model can be:
 * 231288 bytes (FTTTTT)", "hybrid: run TT_s1: <the trainer's error>". */
TERN_API tern_status tern_hybrid_run(const tern_hybrid_spec *s, const tern_hybrid_opts *opts,
                                     tern_hybrid_result *res);

#ifdef __cplusplus
}
#endif
#endif
