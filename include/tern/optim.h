/* tern/optim.h — optimizers, learning-rate schedules, gradient clipping.
 *
 * Optimizers update a tern_params table in place from its grad block, with
 * exactly PyTorch's arithmetic (torch.optim.SGD with dampening 0, Adam and
 * AdamW with amsgrad off), so a tern run and a PyTorch run from the same
 * start take the same steps up to float rounding:
 *
 *   SGD    g = grad + wd w  (DECAY params)      buf = mu buf + g  (buf = g at step 1)
 *          nesterov: g = g + mu buf, else g = buf;            w -= lr g
 *   Adam   g = grad + wd w  (DECAY params, L2)  m = b1 m + (1-b1) g,  v = b2 v + (1-b2) g^2
 *          w -= lr/(1-b1^t) m / (sqrt(v)/sqrt(1-b2^t) + eps)
 *   AdamW  w -= lr wd w  (DECAY params, decoupled), then Adam without the L2 term
 *
 * Per parameter, lr is multiplied by its lr_scale, and parameters without
 * TERN_PARAM_TRAIN (buffers) are neither read nor written.
 *
 * Optimizer state (the momentum buffer; Adam's m and v) lives in blocks of
 * the same layout as params->data, one allocation each, made at init: the
 * view of parameter q in state block i starts at q->offset, so a checkpoint
 * saves it under the parameter's name and tern_optim_state_name(o, i).
 * Together with `step` that is the whole state. A step allocates nothing.
 *
 * Schedules map a step index (0-based, the number of optimizer steps already
 * taken) to a learning rate; the trainer passes it to tern_optim_step:
 *
 *   for (long s = 0; s < total; s++) { ...backward...;
 *       tern_clip_grad_norm(&params, 1.0f, &norm);
 *       tern_optim_step(&opt, tern_sched_lr(&sched, s)); } */
#ifndef TERN_OPTIM_H
#define TERN_OPTIM_H

#include "tern/api.h"
#include "tern/params.h"
#include "tern/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- optimizers ---------------------------------------------------------- */

typedef enum tern_optim_kind {
    TERN_OPTIM_SGD,
    TERN_OPTIM_ADAM,
    TERN_OPTIM_ADAMW,
    TERN_OPTIM_COUNT
} tern_optim_kind;

typedef struct tern_optim_config {
    tern_optim_kind kind;
    float weight_decay;  /* >= 0; SGD/Adam: L2 added to the grad, AdamW: decoupled */
    float momentum;      /* SGD: mu in [0, 1); 0 keeps no buffer */
    int nesterov;        /* SGD: 1 for Nesterov momentum (needs momentum > 0) */
    float beta1, beta2;  /* Adam/AdamW: in [0, 1) */
    float eps;           /* Adam/AdamW: >= 0, added to sqrt(v_hat) */
} tern_optim_config;

#define TERN_OPTIM_MAX_STATE 2
/* The most steps an optimizer takes: 2^53, where step + 1 (Adam's t, in
 * double) is still exact; a checkpoint's step beyond it is refused. */
#define TERN_OPTIM_MAX_STEP (1L << 53)

typedef struct tern_optim {
    tern_optim_config cfg;
    tern_params *params;                    /* not owned */
    size_t total;                           /* params->total at init, floats per block */
    int n_state;                            /* state blocks in use: SGD 0 or 1, Adam 2 */
    float *state[TERN_OPTIM_MAX_STATE];     /* (total) each, params->data's layout */
    long step;                              /* optimizer steps taken; Adam's t is step + 1 */
} tern_optim;

/* PyTorch's defaults for `kind`: SGD momentum 0, wd 0; Adam b=(0.9, 0.999),
 * eps 1e-8, wd 0; AdamW the same with wd 0.01. */
TERN_API tern_optim_config tern_optim_default(tern_optim_kind kind);

/* TERN_OK when cfg is usable, else TERN_ERR_CONFIG naming the field, e.g.
 * "adam: beta2 = 1 must be in [0, 1)". */
TERN_API tern_status tern_optim_check(const tern_optim_config *cfg);

/* Validate cfg, bind to allocated params and allocate the zeroed state
 * blocks; step = 0. On failure *o is left freeable. */
TERN_API tern_status tern_optim_init(tern_optim *o, tern_params *params, const tern_optim_config *cfg);

/* Release the state blocks; the params are not touched. */
TERN_API void tern_optim_free(tern_optim *o);

/* One update of every TRAIN parameter at learning rate lr (>= 0, finite)
 * times its lr_scale (>= 0, finite), from params->grad; then step += 1.
 * TERN_ERR_ARG when step is outside [0, TERN_OPTIM_MAX_STEP). On an error
 * nothing has been updated. */
TERN_API tern_status tern_optim_step(tern_optim *o, float lr);

/* Name of state block i for checkpoints: "momentum", "adam_m", "adam_v";
 * NULL when i is not in [0, n_state). */
TERN_API const char *tern_optim_state_name(const tern_optim *o, int i);

/* 1 when every value of state block i is >= 0 by construction (Adam's
 * second moment, "adam_v"), so a negative one can only be damage. */
TERN_API int tern_optim_state_nonneg(const tern_optim *o, int i);

/* Parameter q's slice of state block i: state[i] + q->offset, (q->t.n) floats;
 * NULL when i is out of range. */
TERN_API float *tern_optim_state_view(const tern_optim *o, int i, const tern_param *q);

/* "sgd", "adam", "adamw"; "unknown" for anything else. */
TERN_API const char *tern_optim_kind_name(tern_optim_kind kind);

/* The kind named `name` (as tern_optim_kind_name) into *kind, or TERN_ERR_CONFIG. */
TERN_API tern_status tern_optim_kind_parse(const char *name, tern_optim_kind *kind);

/* ---- learning-rate schedules --------------------------------------------- */

typedef enum tern_sched_kind {
    TERN_SCHED_CONSTANT,  /* lr = base */
    TERN_SCHED_STEP,      /* lr = base gamma^floor(step / step_size) */
    TERN_SCHED_COSINE,    /* linear warm-up, then cosine from base to min_lr */
    TERN_SCHED_ONE_CYCLE, /* cosine up from base/div to base, then down to base/(div final_div) */
    TERN_SCHED_COUNT
} tern_sched_kind;

typedef struct tern_sched {
    tern_sched_kind kind;
    float base_lr;      /* > 0 */
    float min_lr;       /* cosine: the lr at total_steps, in [0, base_lr] */
    long warmup_steps;  /* cosine: >= 0, and 0 for the other kinds */
    long total_steps;   /* cosine: > warmup_steps */
    long step_size;     /* step: >= 1 */
    float gamma;        /* step: > 0 */
    float pct_start;    /* one_cycle: the rising fraction of total_steps, 1 < pct_start total_steps < total_steps */
    float div_factor;   /* one_cycle: the first lr is base / div_factor, > 0 */
    float final_div_factor;  /* one_cycle: the last lr is base / (div_factor final_div_factor), > 0 */
} tern_sched;

/* TERN_OK when s is usable, else TERN_ERR_CONFIG naming the field, e.g.
 * "sched cosine: total_steps 100 must exceed warmup_steps 100". */
TERN_API tern_status tern_sched_check(const tern_sched *s);

/* *s = constant base_lr, checked. */
TERN_API tern_status tern_sched_init_constant(tern_sched *s, float base_lr);

/* *s = base_lr gamma^floor(step / step_size) (torch StepLR), checked. */
TERN_API tern_status tern_sched_init_step(tern_sched *s, float base_lr, long step_size, float gamma);

/* *s = cosine with linear warm-up (see tern_sched_lr), checked. */
TERN_API tern_status tern_sched_init_cosine(tern_sched *s, float base_lr, float min_lr, long warmup_steps,
                                            long total_steps);

/* *s = torch.optim.lr_scheduler.OneCycleLR(max_lr = base_lr, total_steps,
 * pct_start, div_factor, final_div_factor, anneal_strategy='cos',
 * cycle_momentum=False, three_phase=False), checked. */
TERN_API tern_status tern_sched_init_one_cycle(tern_sched *s, float base_lr, long total_steps, float pct_start,
                                               float div_factor, float final_div_factor);

/* The lr for 0-based step `step` (negative counts as 0) of a checked s:
 *   constant  base
 *   step      base gamma^floor(step / step_size)
 *   cosine    step < W:  base (step + 1) / W          (base/W at 0, base at W-1)
 *             else:      min + (base - min) (1 + cos(pi p)) / 2,
 *                        p = min(1, (step - W) / (T - W))   (base at W, min from T on)
 *   one_cycle with lo = base/div, end = lo/final_div, E = pct_start T - 1:
 *             step <= E: cos_anneal(lo, base, step / E)
 *             else:      cos_anneal(base, end, min(1, (step - E) / (T - 1 - E)))
 *             cos_anneal(a, b, p) = b + (a - b) (1 + cos(pi p)) / 2  (torch's phases)
 * An unchecked invalid s yields 0 (never NaN). */
TERN_API float tern_sched_lr(const tern_sched *s, long step);

/* "constant", "step", "cosine", "one_cycle"; "unknown" for anything else. */
TERN_API const char *tern_sched_kind_name(tern_sched_kind kind);

/* The kind named `name` (as tern_sched_kind_name) into *kind, or TERN_ERR_CONFIG. */
TERN_API tern_status tern_sched_kind_parse(const char *name, tern_sched_kind *kind);

/* ---- gradient clipping --------------------------------------------------- */

/* *norm = sqrt(sum of grad^2 over TRAIN params), summed in double, as it
 * was before clipping. As torch.nn.utils.clip_grad_norm_: grads *=
 * c = max_norm / (norm + 1e-6) wherever c < 1. A non-finite norm is stored
 * as is with the grads left unchanged (torch would fill them with NaN) and
 * TERN_ERR_NUMERIC returned, so the caller can skip the step. max_norm must
 * be > 0 (+inf: measure only), else TERN_ERR_ARG. */
TERN_API tern_status tern_clip_grad_norm(tern_params *p, float max_norm, float *norm);

#ifdef __cplusplus
}
#endif
#endif
