/* tern/sweep.h — accuracy against sparsity: train one config at many
 * ternary thresholds and seeds, and record accuracy, sparsity and latency.
 *
 * A sweep spec is a YAML file (experiments/sweeps/ has examples):
 *
 *   base:     PATH        the config every point trains (relative to the spec file)
 *   set:      [K=V, ...]  overrides applied to every point, as `tern train --set` [none]
 *   methods:  a list of {quantizer: twn | absmean | ttq, t: [numbers, ...]}
 *   seeds:    [integers]  at least 3 distinct ones (a mean and a spread over seeds)
 *   baseline: true|false  also train the fp32 twin (quant.enabled=false) per seed [false]
 *   out:      PATH        the results directory (relative to the spec file)
 *   latency:  {batch [1], repeats [50]}  inference timing per point
 *
 * A spec has at most TERN_SWEEP_MAX_POINTS points and TERN_SWEEP_MAX_SETS
 * overrides; seeds and a method's t values (as "%g" text; -0 is 0) are
 * distinct.
 *
 * Points are enumerated seed by seed (so an interrupted sweep has whole
 * curves for its first seeds): for each seed, the baseline (when asked),
 * then each method's t values in order. Point (method, t, seed) is the base
 * config with the overrides, then quant.enabled=true, quant.method, quant.t
 * and training.seed set; it trains into OUT/runs/<method>_t<t>_s<seed>/
 * (the baseline: OUT/runs/fp32_s<seed>/). Layers that set their own quant
 * method or t in the base config keep them.
 *
 * After training, the final checkpoint is loaded, exported to a deploy
 * model in memory, and timed on the runtime with dense kernels and with
 * zero-skipping kernels (TERN_RUNTIME_ZSKIP_OFF / _ON), one thread,
 * `latency.batch` test images per forward, the two modes interleaved for
 * `latency.repeats` rounds after a warm-up; each latency is the median
 * forward time divided by the batch, in microseconds per sample. A mode
 * the runtime does not support (TERN_ERR_UNSUPPORTED) is recorded as an
 * empty field.
 *
 * Files in OUT:
 *   sweep_base.yaml  the resolved base config with the overrides, and the
 *                    latency settings: what every point means. A rerun whose
 *                    spec resolves differently is refused (force: start over)
 *   results.csv      one row per finished point, in point order (rows of
 *                    points no longer in the spec follow, as they were),
 *                    rewritten atomically: method, t, seed, test_acc, sparsity, dense_us,
 *                    zskip_us, seconds, then sparsity_<layer> per ternary
 *                    layer of the base config (fractions; empty = not
 *                    applicable or not measured; t empty for fp32)
 *   summary.csv      per (method, t) in order of first appearance: n, then
 *                    mean and sample standard deviation (n - 1; 0 when n = 1)
 *                    over seeds of test_acc, sparsity, dense_us, zskip_us
 *   runs/NAME/       each point's run directory (tern/train.h), and in it
 *                    result.csv: the point's row (results.csv's header and
 *                    one row), written atomically by the process that
 *                    finished the point, before results.csv
 *
 * Resuming: a rerun skips points already in results.csv or with a
 * runs/NAME/result.csv (merged into results.csv first), resumes a point
 * whose run directory holds a checkpoint (tern_train's resume: bit for bit
 * the run it would have been), and starts over a point whose run directory
 * has no checkpoint. To train a finished point again, delete its run
 * directory and its row. The library prints nothing: progress reaches the
 * caller as events.
 *
 * Distributed sweeps (opts->comm of N > 1 ranks, `mpirun -np N tern sweep`):
 * every point is still a one-process training (tern_train without a comm,
 * on training.threads threads of its rank). Rank 0 checks OUT and merges
 * what an earlier run left, and every rank starts from its answer (a
 * failure there stops all ranks before any training). The points left to
 * train are dealt round-robin in point order, pending point j to rank
 * j mod N, with no messages while they train: the points of a sweep cost
 * about the same, so a static deal keeps every rank busy without a
 * coordinator that would idle or a protocol that could hang; the price is
 * an uneven last round (up to N - 1 ranks idle at the end) and no
 * rebalancing when points differ in cost. OUT must be on a file system
 * every rank sees (checked). Each rank writes its points' result.csv;
 * rank 0 alone writes results.csv and summary.csv, merging the result
 * files of other ranks' finished points after each point of its own and
 * once at the end, when all ranks are done, so 1 and N ranks leave the same
 * files (bar the timing columns). An error on one rank stops that rank's
 * later points; the others finish theirs, then every rank returns the
 * lowest failing rank's error. *opts->stop on one rank stops the point it
 * trains (checkpointed) and its later points; mpirun sends a signal to
 * every rank, so all stop. A rerun with any number of ranks continues.
 * Latency is measured while other ranks may be training on the same
 * machine: dense_us and zskip_us of a distributed sweep are noisy; measure
 * latency on an otherwise idle machine (one process) when it matters. */
#ifndef TERN_SWEEP_H
#define TERN_SWEEP_H

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

#define TERN_SWEEP_MIN_SEEDS 3
#define TERN_SWEEP_MAX_POINTS 10000  /* seeds x (baseline + t values): each point trains a model */
#define TERN_SWEEP_MAX_SETS 64      /* overrides, as tern train's --set */
#define TERN_SWEEP_MAX_LAYERS 32  /* ternary layers recorded per point */
#define TERN_SWEEP_NAME_LEN 16    /* a method name ("twn", "fp32") or a t as text ("0.7") */

typedef struct tern_sweep_method {
    char name[TERN_SWEEP_NAME_LEN];  /* "twn", "absmean", "ttq" */
    int n_t;
    float *t;                        /* (n_t) thresholds, owned */
} tern_sweep_method;

typedef struct tern_sweep_spec {
    char source[TERN_CONFIG_PATH_LEN];  /* the spec file */
    char base[TERN_CONFIG_PATH_LEN];    /* the base config, joined to the spec's directory */
    char out[TERN_CONFIG_PATH_LEN];     /* the results directory, joined likewise */
    int n_sets;
    char **sets;                        /* (n_sets) "section.key=value", owned */
    int n_methods;
    tern_sweep_method *methods;         /* (n_methods), owned */
    int n_seeds;
    uint64_t *seeds;                    /* (n_seeds), owned */
    int baseline;                       /* 1: train the fp32 twin per seed */
    int lat_batch, lat_repeats;         /* >= 1 */
} tern_sweep_spec;

/* One point of the sweep. */
typedef struct tern_sweep_point {
    char method[TERN_SWEEP_NAME_LEN];   /* a quantizer name, or "fp32" for the baseline */
    char t[TERN_SWEEP_NAME_LEN];        /* the threshold as "%g" text; "" for fp32 */
    float tv;                           /* the threshold */
    uint64_t seed;
    char name[64];                      /* "twn_t0.7_s1", "fp32_s1": its run directory */
} tern_sweep_point;

/* Read and check the spec at path (the base config must exist and load with
 * the overrides). Errors are one line, "FILE:LINE:COL: KEY: what is wrong",
 * e.g. "s.yaml:7:8: seeds: 2 seeds given; at least 3 are needed for a mean
 * and spread". *s need not be initialised; on failure it is left empty. */
TERN_API tern_status tern_sweep_spec_load(tern_sweep_spec *s, const char *path);
TERN_API void tern_sweep_spec_free(tern_sweep_spec *s);

/* The points in order into pts (may be NULL to count); returns their number. */
TERN_API int tern_sweep_points(const tern_sweep_spec *s, tern_sweep_point *pts);

/* The config point p trains: base + overrides + quant/seed settings, output
 * dir OUT/runs/<p->name>. Free with tern_config_free. */
TERN_API tern_status tern_sweep_point_config(const tern_sweep_spec *s, const tern_sweep_point *p, tern_config *cfg);

/* ---- results ------------------------------------------------------------- */

/* One finished point: a row of results.csv. NaN where empty. */
typedef struct tern_sweep_row {
    char method[TERN_SWEEP_NAME_LEN], t[TERN_SWEEP_NAME_LEN];
    uint64_t seed;
    double test_acc, sparsity;                  /* fractions */
    double dense_us, zskip_us;                  /* per sample */
    double seconds;                             /* training and measuring, in the process that finished it */
    double layer_sparsity[TERN_SWEEP_MAX_LAYERS];
} tern_sweep_row;

typedef struct tern_sweep_results {
    int n_layers;
    char layers[TERN_SWEEP_MAX_LAYERS][TERN_LAYER_NAME_LEN];  /* the sparsity_<layer> columns */
    int n, cap;
    tern_sweep_row *rows;                       /* (n), owned */
} tern_sweep_results;

/* Empty results, no layer columns. */
TERN_API void tern_sweep_results_init(tern_sweep_results *r);
TERN_API void tern_sweep_results_free(tern_sweep_results *r);
/* Append a copy of row. */
TERN_API tern_status tern_sweep_results_add(tern_sweep_results *r, const tern_sweep_row *row);
/* Index of the row of point p, or -1. */
TERN_API int tern_sweep_results_find(const tern_sweep_results *r, const tern_sweep_point *p);
/* Read results.csv into *r (empty on entry); a missing file gives no rows
 * and its layer columns unchanged. TERN_ERR_FORMAT naming the file and
 * line on a malformed row. */
TERN_API tern_status tern_sweep_results_read(tern_sweep_results *r, const char *path);
/* OUT/results.csv of s, with the rows of s's points missing from it taken
 * from their runs/NAME/result.csv, in point order (other rows after): what a
 * rerun starts from. *r empty on entry; no file gives no rows and the spec's
 * columns. Nothing is written. */
TERN_API tern_status tern_sweep_results_collect(const tern_sweep_spec *s, tern_sweep_results *r);
/* Write *r as results.csv atomically (temporary file, fsync, rename). */
TERN_API tern_status tern_sweep_results_write(const tern_sweep_results *r, const char *path);

/* Mean and spread over seeds of one (method, t). */
typedef struct tern_sweep_stat {
    char method[TERN_SWEEP_NAME_LEN], t[TERN_SWEEP_NAME_LEN];
    int n;                                      /* rows (seeds) */
    double mean[4], std[4];                     /* test_acc, sparsity, dense_us, zskip_us; NaN when none */
} tern_sweep_stat;

/* Group rows by (method, t) in order of first appearance: mean and sample
 * std (n - 1; 0 for one value) of each measure over its non-empty values.
 * *stats is malloc'd (free it); *n its length. */
TERN_API tern_status tern_sweep_summarize(const tern_sweep_results *r, tern_sweep_stat **stats, int *n);
/* tern_sweep_summarize written as summary.csv atomically. */
TERN_API tern_status tern_sweep_summary_write(const tern_sweep_results *r, const char *path);

/* ---- running ------------------------------------------------------------- */

typedef enum tern_sweep_event_kind {
    TERN_SWEEP_EV_SKIP,   /* the point was finished before this call (rank 0 only) */
    TERN_SWEEP_EV_START,  /* training begins on this rank (resumed: from its checkpoint) */
    TERN_SWEEP_EV_DONE,   /* trained, measured and recorded: row; on rank 0 also each
                             point another rank finished, when rank 0 merges it */
} tern_sweep_event_kind;

typedef struct tern_sweep_event {
    tern_sweep_event_kind kind;
    int index, total;                 /* 1-based point index, of total */
    const tern_sweep_point *point;
    int resumed;                      /* START: 1 when continuing from a checkpoint */
    const tern_sweep_row *row;        /* DONE */
    int rank;                         /* DONE: the rank that trained the point (0 in one process) */
} tern_sweep_event;

typedef void (*tern_sweep_cb)(const tern_sweep_event *ev, void *user);

typedef struct tern_sweep_opts {
    int force;                        /* 1: OUT holds another spec's results: discard them */
    volatile sig_atomic_t *stop;      /* when non-zero: the point in training checkpoints, the sweep returns */
    int stop_after_points;            /* > 0: stop after training this many points, per rank (tests) */
    long stop_after_steps;            /* > 0: each point's training stops after this many steps (tests) */
    tern_sweep_cb cb;                 /* may be NULL */
    tern_train_cb train_cb;           /* each point's training events; may be NULL */
    void *user;                       /* for both callbacks */
    const tern_comm *comm;            /* the ranks sharing the points (tern/comm.h); NULL: one process */
} tern_sweep_opts;

/* The whole sweep's figures, the same on every rank. */
typedef struct tern_sweep_result {
    int total;                        /* points in the spec */
    int skipped;                      /* finished before this call */
    int trained;                      /* finished by this call, on all ranks */
    int resumed;                      /* of those, continued from a checkpoint */
    int stopped;                      /* 1: interrupted (on any rank); rerun to continue */
} tern_sweep_result;

/* Run the sweep as described above, on every rank of opts->comm; results.csv
 * and summary.csv are rewritten after each point (of rank 0's) and at the
 * end. Errors name the point or file, and the rank when another's. */
TERN_API tern_status tern_sweep_run(const tern_sweep_spec *s, const tern_sweep_opts *opts, tern_sweep_result *res);

/* Rewrite OUT/summary.csv from OUT/results.csv (no training). */
TERN_API tern_status tern_sweep_summary_update(const tern_sweep_spec *s);

#ifdef __cplusplus
}
#endif
#endif
