/* tern/train.h — the training loop behind `tern train`, and evaluation.
 *
 * tern_train() runs a resolved config end to end: it loads the dataset,
 * builds the model, trains for training.epochs with evaluation and
 * checkpoints, and leaves in the run directory (output.dir):
 *   config.yaml   the resolved config, written before the first step
 *   metrics.csv   one row per epoch: epoch, train_loss, train_acc, val_loss,
 *                 val_acc, test_loss, test_acc, sparsity, samples_per_s,
 *                 seconds, lr, step_ms, peak_rss_mb, comm_ms, then sparsity_<layer>
 *                 per ternary layer, then alpha_<layer> per ternary layer (its
 *                 scale; per channel, the mean over channels). Figures not
 *                 evaluated that epoch (or without a validation split) are nan.
 *   last.h5       the latest training checkpoint (tern/checkpoint.h), written
 *                 atomically every training.checkpoint_every epochs, at the
 *                 end, and when *opts->stop becomes non-zero (SIGINT/SIGTERM)
 *   best.h5       with a validation split only: the training checkpoint of
 *                 the epoch with the best training.best_metric so far (val_acc
 *                 highest, or val_loss lowest), written atomically when an
 *                 evaluation improves on it; as resumable and exportable as
 *                 last.h5. Without a validation split there is no best.h5
 *                 (the START event says so: val_n 0): the test split never
 *                 selects a model.
 *
 * Validation: dataset.validation holds a stratified, seeded part of the
 * training split out of training (tern_dataset_hold_out, tern/data.h); it is
 * evaluated in eval mode every training.eval_every epochs and after the last,
 * before the test split. Early stopping (training.early_stopping.patience >
 * 0) ends the run when that many validation evaluations in a row have not
 * beaten the reference by more than min_delta (the reference is the value
 * of the last evaluation that did, as Keras's EarlyStopping): that epoch is
 * tested and checkpointed as a last one would be, and result.early_stopped
 * says so. The best value, its epoch and early stopping's count live in
 * every checkpoint, so a resumed run selects and stops exactly where an
 * uninterrupted one does; resuming a run early stopping ended is `complete`.
 * At the end, the test split is evaluated with best.h5's parameters too.
 *
 * Where a run goes, decided before anything is written:
 *   - opts->resume from a checkpoint inside output.dir: the run continues
 *     there (metrics.csv keeps the rows up to the checkpoint's epoch);
 *   - anything else, a new run or a resume into another output.dir (a fork,
 *     which copies the checkpoint's metrics.csv rows up to its epoch), is
 *     built in a sibling directory "<output.dir>.tmp.<pid>.<n>" and takes
 *     output.dir's place whole when it writes its first checkpoint (at the
 *     first checkpoint_every epoch, or on a stop): from then on the run can
 *     be resumed, and until then an earlier run there is untouched. A run
 *     that fails before its first checkpoint leaves nothing (a crash may
 *     leave the sibling, which can be deleted). An existing run in
 *     output.dir is replaced only with opts->force; a directory holding
 *     files that are not a run's (last.h5, metrics.csv, config.yaml), never.
 * Everything that can be checked is checked before that: the dataset (both
 * splits of one image size), every layer's shapes (tern_model_init), the
 * memory a step needs against the machine's, and a resumed checkpoint.
 *
 * Resuming reproduces an uninterrupted run bit for bit, also from the middle
 * of an epoch: the checkpoint keeps the data loader's RNG as it was when the
 * epoch began and the number of batches done, so the resumed run reshuffles
 * the same order, replays the same augmentation draws for the batches it
 * skips, and continues with the model's RNG (dropout) exactly where it was.
 *
 * A fine-tune (opts->init_from, a new run) starts from a checkpoint's
 * parameters instead of the config's init: tern_restore_init_from (see
 * tern/restore.h) copies them by name after the model is built, and a
 * layer's precision may differ from the checkpoint's. The optimizer's state,
 * the step and the epochs start afresh. Errors name the checkpoint. With
 * opts->resume, init_from is ignored: a fine-tune resumes from its own.
 *
 * A NaN or Inf loss stops the run with TERN_ERR_NUMERIC before the
 * optimizer step; the last checkpoint written stays as it was.
 *
 * When the training split leaves a last batch of one sample, that batch is
 * dropped (batchnorm cannot normalise a single value per channel); the
 * reshuffle leaves out another sample each epoch.
 *
 * Several processes (opts->comm, `mpirun -np N tern train`): every rank
 * calls tern_train with the same config. training.batch_size stays the
 * global batch (>= 2N): every rank shuffles alike and takes its contiguous
 * share of each batch, with its own augmentation and dropout streams;
 * its loss is its rows' sum over the global batch's count, and one
 * deterministic all-reduce per step sums the gradient block, so every rank
 * makes the same update, the same bits run after run. A failure or a stop
 * request on any rank stops every rank after the same step. Batchnorm uses
 * each rank's batch (training.sync_batchnorm: all ranks'), and rank 0's
 * running statistics are given to all before every evaluation and
 * checkpoint. Evaluation splits each split among the ranks. Every rank
 * loads the dataset; only rank 0 writes the run directory; every rank reads
 * a resumed checkpoint (so --resume needs it where all ranks see it), which
 * must come from a run on N processes too. The events' figures are global
 * (all ranks' samples) and the same on every rank.
 *
 * The library prints nothing: progress reaches the caller as events. */
#ifndef TERN_TRAIN_H
#define TERN_TRAIN_H

#include <signal.h>

#include "tern/api.h"
#include "tern/comm.h"
#include "tern/config.h"
#include "tern/data.h"
#include "tern/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tern_train_event_kind {
    TERN_TRAIN_EV_START,       /* the model is built; epoch = the first epoch to run */
    TERN_TRAIN_EV_STEP,        /* after each batch */
    TERN_TRAIN_EV_EPOCH,       /* after each epoch's training and evaluation */
    TERN_TRAIN_EV_CHECKPOINT,  /* a checkpoint was written to path: last.h5, or best.h5 (epoch: of it) */
    TERN_TRAIN_EV_EVAL,        /* after each evaluation batch: batch of batches of split */
} tern_train_event_kind;

typedef struct tern_train_event {
    tern_train_event_kind kind;
    int epoch, epochs;        /* 1-based epoch in progress, of epochs */
    int batch, batches;       /* STEP: batches done this epoch, of batches; EVAL: of the split */
    long seen;                /* STEP: training samples seen this epoch (by all processes) */
    double elapsed_s;         /* STEP, EVAL, EPOCH: wall seconds since the run started (this process) */
    const char *split;        /* EVAL: "validation" or "test" */
    int val_n;                /* START: samples in the validation split; 0: none, so no best.h5 */
    long step;                /* optimizer steps so far */
    float loss, acc;          /* STEP: running means of this epoch; EPOCH: the epoch's */
    float step_loss;          /* STEP: this step's loss, the mean over its global batch */
    float val_loss, val_acc;  /* EPOCH: on the validation split; NaN when none or not evaluated */
    float test_loss, test_acc;/* EPOCH: on the test split; NaN when not evaluated */
    double sparsity;          /* fraction of zero ternary weights */
    double samples_per_s;     /* EPOCH: training samples (of all processes) / training seconds */
    double seconds;           /* EPOCH: training seconds of the epoch */
    double step_ms;           /* EPOCH: mean milliseconds per optimizer step this epoch */
    double peak_rss_mb;       /* EPOCH: the process's peak resident set so far, MiB */
    double comm_ms;           /* EPOCH: mean ms per step in the gradient all-reduce (0: one process) */
    float lr;
    const char *path;         /* CHECKPOINT: the file; START: the run directory */
    const tern_model *model;  /* START, EPOCH: for per-layer statistics */
} tern_train_event;

typedef void (*tern_train_cb)(const tern_train_event *ev, void *user);

typedef struct tern_train_opts {
    const char *resume;                  /* checkpoint to continue from, or NULL */
    const char *init_from;               /* a new run starts from this checkpoint's parameters (a
                                            fine-tune; see above); NULL: the config's init. Ignored
                                            with resume */
    int force;                           /* 1: a new run may replace an existing run directory's files */
    volatile sig_atomic_t *stop;         /* when it becomes non-zero: checkpoint and return */
    long stop_after_steps;               /* > 0: behave as if stopped after this many steps (tests) */
    tern_train_cb cb;                    /* may be NULL */
    void *user;
    tern_pool *pool;                     /* the step's worker threads; NULL: the run makes its own
                                            from training.threads and frees it at the end */
    const tern_comm *comm;               /* the processes training together; NULL: this one alone */
} tern_train_opts;

typedef struct tern_train_result {
    int stopped;              /* 1: interrupted (checkpoint written), 0: ran to the end */
    int early_stopped;        /* 1: early stopping ended the run after epochs_done (also when complete) */
    int complete;             /* 1: the resumed checkpoint had done training.epochs already;
                                 nothing was trained or written (epochs_done: its epoch) */
    int epochs_done;
    long steps;
    float test_loss, test_acc;/* of the last evaluation; NaN when none */
    float val_loss, val_acc;  /* of the last validation; NaN when none */
    double sparsity;
    char checkpoint[TERN_CONFIG_PATH_LEN + 16];  /* the last checkpoint written */
    /* best.h5, when the run ended (last epoch or early stopping) with one; else epoch 0 and NaN: */
    int best_epoch;           /* the epochs done when it was written */
    float best_val_loss, best_val_acc;    /* its validation figures */
    float best_test_loss, best_test_acc;  /* its parameters on the test split */
    char best_checkpoint[TERN_CONFIG_PATH_LEN + 16];
} tern_train_result;

/* Train as described above. Errors name the file or step, e.g.
 * "runs/x: cannot create the run directory: Permission denied". */
TERN_API tern_status tern_train(const tern_config *cfg, const tern_train_opts *opts, tern_train_result *res);

typedef struct tern_eval_result {
    int n, correct;
    float loss, acc;                              /* mean loss; correct / n */
    int class_n[TERN_DATA_MAX_CLASSES], class_correct[TERN_DATA_MAX_CLASSES];
} tern_eval_result;

/* Evaluate m on all of ds in eval mode (batch statistics frozen, no dropout)
 * in batches of `batch`, on pool's threads (NULL: the caller's alone). ds
 * must match the model's input shape. */
TERN_API tern_status tern_evaluate(tern_model *m, const tern_dataset *ds, int batch, tern_pool *pool,
                                   tern_eval_result *r);

#ifdef __cplusplus
}
#endif

#endif
