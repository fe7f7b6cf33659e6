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

/* ---- a fine-tune's start ----------------------------------------------------- */

/* A checkpoint of other layers than the model's: what to do about it. */
#define INIT_ARCH_HINT                                                                                      \
    "the checkpoint comes from another architecture: fine-tune from a checkpoint of the same layers (only " \
    "their precision, ternary or fp32, may differ)"

/* The layer whose learned scale (alpha or alpha_neg) parameter p is, or -1. */
static int scale_layer(const tern_model *m, int p) {
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].alpha == p || m->layers[i].alpha_neg == p) return i;
    return -1;
}

/* Every parameter of m is in src with its shape, or is the learned scale of
 * a layer src has none of (that layer: fresh[i] = 1). */
static tern_status check_init_from(const tern_model *m, tern_params *src, const char *ckpt, unsigned char *fresh) {
    for (int i = 0; i < m->params.count; i++) {
        const tern_param *q = &m->params.items[i];
        const tern_param *s = tern_params_find(src, q->name);
        const int layer = scale_layer(m, i);
        if (!s && layer >= 0) {
            fresh[layer] = 1;
        } else if (!s) {
            return tern_error(TERN_ERR_FORMAT, "%s: parameter '%s' of the model is not in the checkpoint; %s", ckpt,
                              q->name, INIT_ARCH_HINT);
        } else if (!tern_tensor_same_shape(&s->t, &q->t)) {
            char a[TERN_SHAPE_STR_LEN], b[TERN_SHAPE_STR_LEN];
            return tern_error(TERN_ERR_FORMAT, "%s: parameter '%s' is %s in the checkpoint but %s in the model; %s",
                              ckpt, q->name, tern_shape_str(&s->t, a, sizeof a), tern_shape_str(&q->t, b, sizeof b),
                              INIT_ARCH_HINT);
        }
    }
    return TERN_OK;
}

/* Copy src's values into m (checked by check_init_from), then the fresh
 * layers' scales; m's block is kept to put back should that fail. */
static tern_status copy_init_from(tern_model *m, tern_params *src, const unsigned char *fresh) {
    float *keep = malloc(sizeof(float) * m->params.total);
    if (!keep) return tern_error(TERN_ERR_NOMEM, "restore: out of memory");
    memcpy(keep, m->params.data, sizeof(float) * m->params.total);
    for (int i = 0; i < m->params.count; i++) {
        tern_tensor *d = &m->params.items[i].t;
        const tern_param *s = tern_params_find(src, m->params.items[i].name);
        if (s) memcpy(d->data, s->t.data, sizeof(float) * d->n);
    }
    tern_status st = TERN_OK;
    for (int i = 0; i < m->n_layers && !st; i++)
        if (fresh[i]) st = tern_model_init_alpha(m, i);
    if (st) memcpy(m->params.data, keep, sizeof(float) * m->params.total);
    free(keep);
    return st;
}

tern_status tern_restore_init_from(tern_model *m, const char *ckpt) {
    if (m->in_ndim != 3)
        return tern_error(TERN_ERR_ARG, "%s: only a model of (C,H,W) inputs starts from a checkpoint; this one "
                          "takes (F)", ckpt);
    tern_config cfg;
    tern_status st = tern_restore_config(&cfg, ckpt);
    if (st) return st;
    tern_model src;
    st = tern_restore_model(&src, NULL, &cfg, m->in_shape, ckpt);
    tern_config_free(&cfg);
    if (st == TERN_ERR_CONFIG) { /* e.g. its pools shrink these inputs to nothing */
        char in[TERN_SHAPE_STR_LEN];
        return tern_error(TERN_ERR_FORMAT, "%s: cannot build the model stored in it for inputs %s: %s; %s", ckpt,
                          tern_dims_str(3, m->in_shape, in, sizeof in), tern_errmsg(), INIT_ARCH_HINT);
    }
    if (st) return st;
    unsigned char *fresh = calloc((size_t)m->n_layers, 1);
    st = fresh ? check_init_from(m, &src.params, ckpt, fresh) : tern_error(TERN_ERR_NOMEM, "restore: out of memory");
    if (!st) st = copy_init_from(m, &src.params, fresh);
    free(fresh);
    tern_model_free(&src);
    return st;
}
