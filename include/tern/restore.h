/* tern/restore.h — a model rebuilt from a training checkpoint.
 *
 * A training checkpoint (tern/checkpoint.h) carries the resolved config it
 * was trained with, the parameters, the optimizer's state, the RNGs and the
 * trainer's position. Restoring reads the config, builds its model for one
 * input size (C,H,W) and loads the parameters into it; the optimizer's state
 * is read and checked too, every float of the file, also when only the
 * weights are wanted. The input size is the caller's to give: the test
 * split's images (tern_dataset_load_checkpoint in tern/data.h reads the
 * dataset, which this layer does not), or the published size of the
 * config's dataset (tern_config_input_shape).
 *
 * The position of the trainer inside training is stored in the
 * checkpoint's counters and metadata: epochs done, optimizer steps, and for
 * a run stopped inside an epoch, that epoch's batches done and running sums.
 * tern_restore_set_position writes it; tern_restore_resume reads it back,
 * checked against the config, so a resumed run continues bit for bit.
 *
 * A fine-tune starts a new model from a checkpoint's parameters
 * (tern_restore_init_from): copied by name, buffers included, while a
 * layer's precision may differ: a layer fp32 in the checkpoint and ternary
 * now gets its learned scales from the closed form of the copied weights; a
 * layer ternary there and fp32 now drops them. Nothing else is copied (no
 * optimizer state, RNG or position). */
#ifndef TERN_RESTORE_H
#define TERN_RESTORE_H

#include "tern/api.h"
#include "tern/checkpoint.h"
#include "tern/config.h"
#include "tern/nn.h"
#include "tern/optim.h"
#include "tern/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where training stands in a checkpoint. */
typedef struct tern_restore_position {
    long epoch;               /* epochs done: the 0-based epoch in progress */
    long step;                /* optimizer steps so far */
    int batch;                /* batches of that epoch done (0: it has not begun) */
    double loss_sum;          /* that epoch's running sums: loss x samples, */
    long correct, seen;       /* correct predictions, samples */
} tern_restore_position;

/* Model selection on the validation split, as of a checkpoint: what best.h5
 * holds and where early stopping stands. */
typedef struct tern_restore_selection {
    long best_epoch;          /* epochs done when the best validation metric was reached; 0: none yet */
    float best_val_loss, best_val_acc;  /* the validation figures of that epoch */
    double ref;               /* early stopping: the value the next evaluation must beat by min_delta */
    long stale;               /* evaluations since ref was last beaten */
} tern_restore_selection;

/* *cfg = the config stored in ckpt (free with tern_config_free); left empty
 * on failure. */
TERN_API tern_status tern_restore_config(tern_config *cfg, const char *ckpt);

/* *m = cfg's model built for (C,H,W) inputs in_shape, with ckpt's
 * parameters. optim: initialised by cfg and given ckpt's optimizer state;
 * NULL: the state is read, checked and dropped. TERN_ERR_FORMAT when the
 * checkpoint is of another architecture or input size (tern_ckpt_load).
 * *m (and *optim) are left empty on failure. */
TERN_API tern_status tern_restore_model(tern_model *m, tern_optim *optim, const tern_config *cfg, const int in_shape[3],
                                        const char *ckpt);

/* m's parameters (m built and allocated, (C,H,W) inputs) = those of the
 * model stored in ckpt (its config, built for m's input size), by name:
 * every parameter of m must be there with its shape, except the learned
 * scales of a layer that was fp32 there (set by tern_model_init_alpha from
 * the copied weights); the checkpoint's others (scales of a layer fp32 now)
 * are ignored. TERN_ERR_FORMAT naming ckpt and the parameter when the
 * checkpoint is of another architecture; on any failure m is untouched. */
TERN_API tern_status tern_restore_init_from(tern_model *m, const char *ckpt);

/* ck's counters and metadata = p, for tern_ckpt_save. */
TERN_API tern_status tern_restore_set_position(tern_ckpt_state *ck, const tern_restore_position *p);

/* ck's metadata = s (nothing when s->best_epoch is 0), for tern_ckpt_save. */
TERN_API tern_status tern_restore_set_selection(tern_ckpt_state *ck, const tern_restore_selection *s);

/* *s = the selection in ck as tern_ckpt_load left it (all zero when absent),
 * checked: best_epoch in 0..epoch, stale >= 0, finite values. ckpt names
 * the file in errors. */
TERN_API tern_status tern_restore_get_selection(const tern_ckpt_state *ck, const char *ckpt,
                                                tern_restore_selection *s);

/* Load ckpt into ck (all or nothing, tern_ckpt_load) and *p = its position,
 * checked against the config it resumes under: batch < batches (per epoch),
 * seen <= batch x batch_size, correct <= seen, loss_sum >= 0; a checkpoint
 * without the epoch's metadata resumes at the start of an epoch. */
TERN_API tern_status tern_restore_resume(tern_ckpt_state *ck, const char *ckpt, int batches, int batch_size,
                                         tern_restore_position *p);

#ifdef __cplusplus
}
#endif
#endif
