/* step.c — one training step (forward, loss, backward; then clip, update) and one
 * evaluation batch, shared by the training loop, the benchmarks and the tests. */
#include <math.h>
#include <string.h>

#include "tern/comm.h"
#include "tern/nn.h"
#include "tern/ops.h"
#include "tern/optim.h"

tern_status tern_model_train_step(tern_model *m, tern_ctx *c, tern_optim *o, tern_tensor *x, const int *labels,
                                  float lr, float clip, tern_step_result *r) {
    return tern_model_train_step_loss(m, c, o, x, labels, NULL, lr, clip, r);
}

tern_status tern_model_train_step_loss(tern_model *m, tern_ctx *c, tern_optim *o, tern_tensor *x, const int *labels,
                                       const tern_xent_cfg *loss_cfg, float lr, float clip, tern_step_result *r) {
    tern_status st = tern_model_step_grad(m, c, x, labels, loss_cfg, r);
    return st ? st : tern_model_step_update(m, o, lr, clip, r);
}

tern_status tern_model_step_grad(tern_model *m, tern_ctx *c, tern_tensor *x, const int *labels,
                                 const tern_xent_cfg *loss_cfg, tern_step_result *r) {
    memset(r, 0, sizeof *r);
    tern_ctx_reset(c);
    tern_ctx_mode(c, 1, 1);
    tern_params_zero_grad(&m->params);
    tern_tensor *logits = tern_model_forward(m, c, x);
    tern_tensor *loss = tern_xent_loss(c, logits, labels, loss_cfg);
    if (!loss) return c->status ? c->status : tern_error(TERN_ERR_ARG, "train step: no loss");
    r->loss = loss->data[0];
    r->correct = tern_count_correct(logits, labels);
    int bad = !isfinite(r->loss);
    if (c->sync_bn && tern_comm_size(c->comm) > 1) {
        /* Synchronised batchnorm sums over the ranks in its backward too:
         * every rank goes on to it, or none does. */
        int mine = bad;
        tern_status st = tern_comm_any(c->comm, mine, &bad);
        if (st) return st;
        if (bad && !mine)
            return tern_error(TERN_ERR_NUMERIC, "train step: another rank's loss is not finite (this rank's: %g)",
                              r->loss);
    }
    if (bad) return tern_error(TERN_ERR_NUMERIC, "train step: loss is %g", r->loss);
    return tern_backward(c, loss);
}

tern_status tern_model_step_update(tern_model *m, tern_optim *o, float lr, float clip, tern_step_result *r) {
    tern_status st = tern_clip_grad_norm(&m->params, clip > 0.0f ? clip : INFINITY, &r->grad_norm);
    if (st == TERN_ERR_NUMERIC)
        return tern_error(TERN_ERR_NUMERIC, "train step: gradient norm is %g (loss %g)", r->grad_norm, r->loss);
    if (st) return st;
    return tern_optim_step(o, lr);
}

tern_status tern_model_eval_batch(tern_model *m, tern_ctx *c, tern_tensor *x, const int *labels,
                                  tern_step_result *r) {
    memset(r, 0, sizeof *r);
    tern_ctx_reset(c);
    tern_ctx_mode(c, 0, 0);
    tern_tensor *logits = tern_model_forward(m, c, x);
    tern_tensor *loss = tern_softmax_xent(c, logits, labels);
    if (!loss) return c->status ? c->status : tern_error(TERN_ERR_ARG, "eval: no loss");
    r->loss = loss->data[0];
    r->correct = tern_count_correct(logits, labels);
    return TERN_OK;
}
