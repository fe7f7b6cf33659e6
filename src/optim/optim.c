/* optim.c — SGD (momentum, Nesterov, L2), Adam and AdamW, PyTorch's arithmetic.
 *
 * Each optimizer is one plain loop over a parameter's contiguous slice of the
 * data, grad and state blocks (restrict pointers, no calls but sqrtf), run
 * once per TRAIN parameter with that parameter's lr and weight decay. GCC
 * vectorises the SGD loops as they are; the Adam loop only when built with
 * -fno-math-errno, since sqrtf may set errno (tern never reads errno). */
#include "tern/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[TERN_OPTIM_COUNT] = {
    [TERN_OPTIM_SGD] = "sgd",
    [TERN_OPTIM_ADAM] = "adam",
    [TERN_OPTIM_ADAMW] = "adamw",
};

const char *tern_optim_kind_name(tern_optim_kind kind) {
    if ((unsigned)kind >= TERN_OPTIM_COUNT) return "unknown";
    return kind_names[kind];
}

tern_status tern_optim_kind_parse(const char *name, tern_optim_kind *kind) {
    int k;
    tern_status st = tern_name_parse(TERN_ERR_CONFIG, "optimizer", kind_names, TERN_OPTIM_COUNT, name, &k);
    if (!st) *kind = (tern_optim_kind)k;
    return st;
}

tern_optim_config tern_optim_default(tern_optim_kind kind) {
    tern_optim_config c = {.kind = kind, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    if (kind == TERN_OPTIM_ADAMW) c.weight_decay = 0.01f;
    return c;
}

/* 1 when lo <= x < hi; NaN fails every comparison and so is rejected. */
static int in_range(float x, float lo, float hi) { return x >= lo && x < hi; }

tern_status tern_optim_check(const tern_optim_config *cfg) {
    if (!cfg) return tern_error(TERN_ERR_ARG, "optim: config is NULL");
    const char *name = tern_optim_kind_name(cfg->kind);
    if ((unsigned)cfg->kind >= TERN_OPTIM_COUNT)
        return tern_error(TERN_ERR_CONFIG, "optim: unknown optimizer kind %d", (int)cfg->kind);
    if (!in_range(cfg->weight_decay, 0.0f, INFINITY))
        return tern_error(TERN_ERR_CONFIG, "%s: weight_decay = %g must be finite and >= 0", name, cfg->weight_decay);
    if (cfg->kind == TERN_OPTIM_SGD) {
        if (!in_range(cfg->momentum, 0.0f, 1.0f))
            return tern_error(TERN_ERR_CONFIG, "sgd: momentum = %g must be in [0, 1)", cfg->momentum);
        if (cfg->nesterov && cfg->momentum == 0.0f)
            return tern_error(TERN_ERR_CONFIG, "sgd: nesterov needs momentum > 0");
        return TERN_OK;
    }
    if (!in_range(cfg->beta1, 0.0f, 1.0f))
        return tern_error(TERN_ERR_CONFIG, "%s: beta1 = %g must be in [0, 1)", name, cfg->beta1);
    if (!in_range(cfg->beta2, 0.0f, 1.0f))
        return tern_error(TERN_ERR_CONFIG, "%s: beta2 = %g must be in [0, 1)", name, cfg->beta2);
    if (!in_range(cfg->eps, 0.0f, INFINITY))
        return tern_error(TERN_ERR_CONFIG, "%s: eps = %g must be finite and >= 0", name, cfg->eps);
    return TERN_OK;
}

/* State blocks each kind keeps, and their checkpoint names. */
static int state_count(const tern_optim_config *cfg) {
    switch (cfg->kind) {
    case TERN_OPTIM_SGD: return cfg->momentum > 0.0f ? 1 : 0;
    case TERN_OPTIM_ADAM:
    case TERN_OPTIM_ADAMW: return 2;
    default: return 0;
    }
}

const char *tern_optim_state_name(const tern_optim *o, int i) {
    if (!o || i < 0 || i >= o->n_state) return NULL;
    if (o->cfg.kind == TERN_OPTIM_SGD) return "momentum";
    return i == 0 ? "adam_m" : "adam_v";
}

int tern_optim_state_nonneg(const tern_optim *o, int i) {
    return o && o->cfg.kind != TERN_OPTIM_SGD && i == 1 && i < o->n_state;
}

float *tern_optim_state_view(const tern_optim *o, int i, const tern_param *q) {
    if (!o || !q || i < 0 || i >= o->n_state || !o->state[i]) return NULL;
    return o->state[i] + q->offset;
}

tern_status tern_optim_init(tern_optim *o, tern_params *params, const tern_optim_config *cfg) {
    if (!o) return tern_error(TERN_ERR_ARG, "optim: init given a NULL optimizer");
    memset(o, 0, sizeof *o);
    tern_status st = tern_optim_check(cfg);
    if (st) return st;
    if (!params || !params->data || !params->grad)
        return tern_error(TERN_ERR_ARG, "%s: parameters are NULL or not allocated (call tern_params_alloc first)",
                          tern_optim_kind_name(cfg->kind));
    o->cfg = *cfg;
    o->params = params;
    o->total = params->total;
    o->n_state = state_count(cfg);
    /* Same 64-byte alignment and padded size as the parameter blocks, so
     * every view starts on a cache line and the loops see aligned data. */
    size_t bytes = (o->total ? o->total : 16) * sizeof(float);
    for (int i = 0; i < o->n_state; i++) {
        o->state[i] = aligned_alloc(64, bytes);
        if (!o->state[i]) {
            tern_optim_free(o);
            return tern_error(TERN_ERR_NOMEM, "%s: cannot allocate %zu floats of optimizer state",
                              tern_optim_kind_name(cfg->kind), params->total);
        }
        memset(o->state[i], 0, bytes);
    }
    return TERN_OK;
}

void tern_optim_free(tern_optim *o) {
    if (!o) return;
    for (int i = 0; i < TERN_OPTIM_MAX_STATE; i++) free(o->state[i]);
    memset(o, 0, sizeof *o);
}

/* ---- SGD: d = g + wd w; buf = mu buf + d (= d at step 1);
 *           d = nesterov ? d + mu buf : buf; w -= lr d ------------------------ */

static void sgd_plain(float *restrict w, const float *restrict g, size_t n, float lr, float wd) {
    for (size_t i = 0; i < n; i++) w[i] -= lr * (g[i] + wd * w[i]);
}

static void sgd_momentum_first(float *restrict w, const float *restrict g, float *restrict buf, size_t n, float lr,
                               float wd, float mu, int nesterov) {
    /* torch starts the buffer as a copy of d, not mu * 0 + d: equal here,
     * but a copy stays exact whatever the block held before. */
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        buf[i] = d;
        w[i] -= lr * (nesterov ? d + mu * d : d);
    }
}

static void sgd_momentum(float *restrict w, const float *restrict g, float *restrict buf, size_t n, float lr,
                         float wd, float mu, int nesterov) {
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * w[i];
        float b = mu * buf[i] + d;
        buf[i] = b;
        w[i] -= lr * (nesterov ? d + mu * b : b);
    }
}

/* ---- Adam / AdamW ----------------------------------------------------------
 * w = decay w  (AdamW: decay = 1 - lr wd; Adam: 1)
 * d = g + l2 w (Adam: l2 = wd; AdamW: 0)
 * m = b1 m + (1-b1) d;  v = b2 v + (1-b2) d^2
 * w -= step_size m / (sqrt(v) / bc2_sqrt + eps),
 *   step_size = lr / (1 - b1^t), bc2_sqrt = sqrt(1 - b2^t): torch's order. */

static void adam_update(float *restrict w, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                        float decay, float l2, float b1, float b2, float step_size, float bc2_sqrt, float eps) {
    const float c1 = 1.0f - b1, c2 = 1.0f - b2;
    for (size_t i = 0; i < n; i++) {
        float wi = w[i] * decay;
        float d = g[i] + l2 * wi;
        float mi = b1 * m[i] + c1 * d;
        float vi = b2 * v[i] + c2 * d * d;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
}

tern_status tern_optim_step(tern_optim *o, float lr) {
    if (!o || !o->params) return tern_error(TERN_ERR_ARG, "optim: step on an optimizer that was not initialised");
    const tern_optim_config *cfg = &o->cfg;
    const char *name = tern_optim_kind_name(cfg->kind);
    /* The config is a public field: check it again (a few compares) so an
     * edit between steps cannot reach the loops unvalidated. */
    tern_status st = tern_optim_check(cfg);
    if (st) return st;
    if (state_count(cfg) > o->n_state)
        return tern_error(TERN_ERR_CONFIG, "%s: config now needs %d state blocks but init allocated %d", name,
                          state_count(cfg), o->n_state);
    tern_params *p = o->params;
    if (!p->data || !p->grad || p->total != o->total)
        return tern_error(TERN_ERR_ARG, "%s: the parameter blocks changed since init (%zu floats then, %zu now)", name,
                          o->total, p->total);
    if (!(lr >= 0.0f && lr < INFINITY)) return tern_error(TERN_ERR_ARG, "%s: lr = %g must be finite and >= 0", name, lr);
    /* step is a public field (and comes from checkpoints): step + 1 must
     * neither overflow nor lose exactness as Adam's t. */
    if (o->step < 0 || o->step >= TERN_OPTIM_MAX_STEP)
        return tern_error(TERN_ERR_ARG, "%s: step %ld is outside 0..%ld", name, o->step, TERN_OPTIM_MAX_STEP - 1);
    /* Checked before any update, so a bad multiplier cannot leave the
     * model half-stepped. */
    for (int k = 0; k < p->count; k++) {
        const tern_param *q = &p->items[k];
        if ((q->flags & TERN_PARAM_TRAIN) && !(q->lr_scale >= 0.0f && q->lr_scale < INFINITY))
            return tern_error(TERN_ERR_ARG, "%s: parameter '%s' has lr_scale = %g, not finite and >= 0", name, q->name,
                              q->lr_scale);
    }

    /* Adam's bias corrections for t = step + 1, in double as torch does. */
    double t = (double)o->step + 1.0;
    double bc1 = 1.0 - pow((double)cfg->beta1, t);
    float bc2_sqrt = (float)sqrt(1.0 - pow((double)cfg->beta2, t));

    for (int k = 0; k < p->count; k++) {
        const tern_param *q = &p->items[k];
        if (!(q->flags & TERN_PARAM_TRAIN)) continue;
        size_t off = q->offset, n = q->t.n;
        float *w = p->data + off;
        const float *g = p->grad + off;
        float plr = lr * q->lr_scale;
        float wd = (q->flags & TERN_PARAM_DECAY) ? cfg->weight_decay : 0.0f;
        switch (cfg->kind) {
        case TERN_OPTIM_SGD:
            if (cfg->momentum == 0.0f)
                sgd_plain(w, g, n, plr, wd);
            else if (o->step == 0)
                sgd_momentum_first(w, g, o->state[0] + off, n, plr, wd, cfg->momentum, cfg->nesterov);
            else
                sgd_momentum(w, g, o->state[0] + off, n, plr, wd, cfg->momentum, cfg->nesterov);
            break;
        case TERN_OPTIM_ADAM:
            adam_update(w, g, o->state[0] + off, o->state[1] + off, n, 1.0f, wd, cfg->beta1, cfg->beta2,
                        (float)(plr / bc1), bc2_sqrt, cfg->eps);
            break;
        case TERN_OPTIM_ADAMW:
            adam_update(w, g, o->state[0] + off, o->state[1] + off, n, (float)(1.0 - (double)plr * wd), 0.0f,
                        cfg->beta1, cfg->beta2, (float)(plr / bc1), bc2_sqrt, cfg->eps);
            break;
        default: break; /* rejected by tern_optim_check */
        }
    }
    o->step++;
    return TERN_OK;
}
