/* restore.c — a model rebuilt from a training checkpoint, and the trainer's
 * position in it (tern/restore.h). */
#include "tern/restore.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

tern_status tern_restore_config(tern_config *cfg, const char *ckpt) {
    memset(cfg, 0, sizeof *cfg);
    char *text = NULL;
    tern_status st = tern_ckpt_read_config(ckpt, &text);
    if (st) return st;
    st = tern_config_load_text(cfg, text, strlen(text), ckpt);
    free(text);
    return st;
}

tern_status tern_restore_model(tern_model *m, tern_optim *optim, const tern_config *cfg, const int in_shape[3],
                               const char *ckpt) {
    tern_optim own;
    tern_optim *o = optim ? optim : &own;
    memset(o, 0, sizeof *o);
    tern_status st = tern_model_init(m, cfg->model.layers, cfg->model.n_layers, 3, in_shape, cfg->model.init,
                                     cfg->training.seed);
    if (!st) st = tern_optim_init(o, &m->params, &cfg->optimizer.cfg);
    if (!st) {
        tern_ckpt_state ck;
        tern_ckpt_state_init(&ck, &m->params, o);
        st = tern_ckpt_load(ckpt, &ck);
    }
    if (st || !optim) tern_optim_free(o);
    if (st) tern_model_free(m);
    return st;
}

tern_status tern_restore_set_position(tern_ckpt_state *ck, const tern_restore_position *p) {
    ck->epoch = p->epoch;
    ck->step = p->step;
    tern_status st = tern_ckpt_set_meta(ck, "batch", p->batch);
    if (!st) st = tern_ckpt_set_meta(ck, "epoch_loss_sum", p->loss_sum);
    if (!st) st = tern_ckpt_set_meta(ck, "epoch_correct", (double)p->correct);
    if (!st) st = tern_ckpt_set_meta(ck, "epoch_seen", (double)p->seen);
    return st;
}

/* A /meta number that must be an integer in [0, max] (checked before the
 * cast); absent: 0. */
static tern_status meta_count(const tern_ckpt_state *ck, const char *path, const char *name, double max, long *out) {
    double v = 0.0;
    if (tern_ckpt_get_meta(ck, name, &v) && !(v >= 0.0 && v <= max && v == floor(v)))
        return tern_error(TERN_ERR_FORMAT, "%s: /meta attribute '%s' is %g, not an integer in 0..%.0f for this "
                          "config; the checkpoint was altered or comes from another run", path, name, v, max);
    *out = (long)v;
    return TERN_OK;
}

tern_status tern_restore_resume(tern_ckpt_state *ck, const char *ckpt, int batches, int batch_size,
                                tern_restore_position *p) {
    tern_status st = tern_ckpt_load(ckpt, ck);
    if (st) return st;
    memset(p, 0, sizeof *p);
    long b0 = 0;
    p->epoch = ck->epoch; /* 0..INT_MAX, and step 0..TERN_OPTIM_MAX_STEP: checked by the loader */
    p->step = ck->step;
    if ((st = meta_count(ck, ckpt, "batch", batches - 1, &b0))) return st;
    if ((st = meta_count(ck, ckpt, "epoch_seen", (double)b0 * batch_size, &p->seen))) return st;
    if ((st = meta_count(ck, ckpt, "epoch_correct", (double)p->seen, &p->correct))) return st;
    double v = 0.0;
    if (tern_ckpt_get_meta(ck, "epoch_loss_sum", &v) && !(v >= 0.0))
        return tern_error(TERN_ERR_FORMAT, "%s: /meta attribute 'epoch_loss_sum' is %g, not >= 0; the checkpoint "
                          "was altered or comes from another run", ckpt, v);
    p->loss_sum = v;
    p->batch = (int)b0;
    return TERN_OK;
}

tern_status tern_restore_set_selection(tern_ckpt_state *ck, const tern_restore_selection *s) {
    if (s->best_epoch <= 0) return TERN_OK;
    tern_status st = tern_ckpt_set_meta(ck, "best_epoch", (double)s->best_epoch);
    if (!st) st = tern_ckpt_set_meta(ck, "best_val_loss", s->best_val_loss);
    if (!st) st = tern_ckpt_set_meta(ck, "best_val_acc", s->best_val_acc);
    if (!st) st = tern_ckpt_set_meta(ck, "early_stopping_ref", s->ref);
    if (!st) st = tern_ckpt_set_meta(ck, "early_stopping_stale", (double)s->stale);
    return st;
}

tern_status tern_restore_get_selection(const tern_ckpt_state *ck, const char *ckpt, tern_restore_selection *s) {
    memset(s, 0, sizeof *s);
    tern_status st = meta_count(ck, ckpt, "best_epoch", (double)ck->epoch, &s->best_epoch);
    if (!st) st = meta_count(ck, ckpt, "early_stopping_stale", (double)ck->epoch, &s->stale);
    if (st || !s->best_epoch) return st;
    double loss = NAN, acc = NAN;
    tern_ckpt_get_meta(ck, "best_val_loss", &loss);
    tern_ckpt_get_meta(ck, "best_val_acc", &acc);
    tern_ckpt_get_meta(ck, "early_stopping_ref", &s->ref);  /* finite, when present: checked by the loader */
    if (!(loss >= 0.0) || !(acc >= 0.0 && acc <= 1.0))
        return tern_error(TERN_ERR_FORMAT, "%s: /meta holds best_epoch %ld without a valid best_val_loss and "
                          "best_val_acc; the checkpoint was altered or comes from another run", ckpt, s->best_epoch);
    s->best_val_loss = (float)loss;
    s->best_val_acc = (float)acc;
    return TERN_OK;
}
