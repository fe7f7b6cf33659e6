/* model.c — build a model from layer specs, initialise it, run it forward. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/nn.h"

#include "core/unique.h"
#include "tern/ops.h"

const char *const tern_layer_type_names[TERN_LAYER_TYPE_COUNT] = {
    [TERN_LAYER_LINEAR] = "linear",       [TERN_LAYER_CONV2D] = "conv2d",
    [TERN_LAYER_MAXPOOL] = "maxpool",     [TERN_LAYER_AVGPOOL] = "avgpool",
    [TERN_LAYER_GLOBAL_AVGPOOL] = "global_avgpool",
    [TERN_LAYER_BATCHNORM] = "batchnorm", [TERN_LAYER_RELU] = "relu",
    [TERN_LAYER_HARDTANH] = "hardtanh",   [TERN_LAYER_DROPOUT] = "dropout",
    [TERN_LAYER_FLATTEN] = "flatten",     [TERN_LAYER_ADD] = "add",
};

const char *const tern_act_names[TERN_ACT_COUNT] = {
    [TERN_ACT_NONE] = "none", [TERN_ACT_RELU] = "relu", [TERN_ACT_HARDTANH] = "hardtanh",
};

const char *tern_layer_type_name(tern_layer_type t) {
    return (unsigned)t < TERN_LAYER_TYPE_COUNT ? tern_layer_type_names[t] : "unknown";
}

const char *tern_act_name(tern_act a) { return (unsigned)a < TERN_ACT_COUNT ? tern_act_names[a] : "unknown"; }

tern_status tern_layer_type_parse(const char *name, tern_layer_type *out) {
    int i;
    tern_status st = tern_name_parse(TERN_ERR_ARG, "layer type", tern_layer_type_names, TERN_LAYER_TYPE_COUNT, name, &i);
    if (!st) *out = (tern_layer_type)i;
    return st;
}

tern_status tern_act_parse(const char *name, tern_act *out) {
    int i;
    tern_status st = tern_name_parse(TERN_ERR_ARG, "activation", tern_act_names, TERN_ACT_COUNT, name, &i);
    if (!st) *out = (tern_act)i;
    return st;
}

static int cmp_layer_name(const void *a, const void *b) {
    const tern_layer *x = *(const tern_layer *const *)a, *y = *(const tern_layer *const *)b;
    return strcmp(x->spec.name, y->spec.name);
}

#define FAIL(...) return tern_error(TERN_ERR_CONFIG, __VA_ARGS__)

/* A weight of shape dims[0..n) holds at most INT_MAX values (the kernels
 * index a weight's rows in int): the product in 64 bits, with overflow
 * checks, since a kernel size is only bounded by the padded input. */
static tern_status check_weight(int i, const char *tn, int n, const int *dims) {
    int64_t v = 1;
    for (int k = 0; k < n; k++)
        if (__builtin_mul_overflow(v, (int64_t)dims[k], &v) || v > INT_MAX)
            FAIL("model: layer %d (%s) would have a weight of more than %d values", i, tn, INT_MAX);
    return TERN_OK;
}

/* A conv's or pool's output sides into out[1], out[2]. */
static tern_status window_shape(const tern_layer_spec *s, int i, const int *in, const char *sb, int *out) {
    const char *tn = tern_layer_type_name(s->type);
    int64_t oh = tern_conv_out_size(in[1], s->kernel, s->stride, s->pad);
    int64_t ow = tern_conv_out_size(in[2], s->kernel, s->stride, s->pad);
    if (oh < 0 || ow < 0) {
        if (s->type == TERN_LAYER_CONV2D)
            FAIL("layer %d (conv2d) kernel %d is larger than its padded input %s", i, s->kernel, sb);
        FAIL("layer %d (%s) window %d is larger than its input %s", i, tn, s->kernel, sb);
    }
    /* Pools have pad <= kernel / 2: their output is never larger than the input. */
    if (oh > INT_MAX || ow > INT_MAX)
        FAIL("layer %d (%s) pad %d gives a %lldx%lld output, beyond tern's limit of %d", i, tn, s->pad,
             (long long)oh, (long long)ow, INT_MAX);
    out[1] = (int)oh;
    out[2] = (int)ow;
    return TERN_OK;
}

tern_status tern_layer_out_shape(const tern_layer_spec *s, int i, int in_ndim, const int *in, int *out_ndim,
                                 int *out) {
    const char *tn = tern_layer_type_name(s->type);
    char sb[TERN_SHAPE_STR_LEN];
    tern_dims_str(in_ndim, in, sb, sizeof sb);
    if (in_ndim != 1 && in_ndim != 3) FAIL("layer %d (%s) input %s is neither (F) nor (C,H,W)", i, tn, sb);
    *out_ndim = in_ndim;
    memcpy(out, in, sizeof(int) * (size_t)in_ndim);
    tern_status st = TERN_OK;
    switch (s->type) {
    case TERN_LAYER_LINEAR:
        if (in_ndim != 1) FAIL("layer %d (linear) needs (F) input, got %s; add a flatten layer", i, sb);
        if (s->out < 1) FAIL("layer %d (linear) needs out >= 1, got %d", i, s->out);
        out[0] = s->out;
        break;
    case TERN_LAYER_CONV2D:
        if (in_ndim != 3) FAIL("layer %d (conv2d) needs (C,H,W) input, got %s", i, sb);
        if (s->out < 1 || s->kernel < 1 || s->stride < 1 || s->pad < 0)
            FAIL("layer %d (conv2d) needs out, kernel, stride >= 1 and pad >= 0", i);
        out[0] = s->out;
        st = window_shape(s, i, in, sb, out);
        break;
    case TERN_LAYER_MAXPOOL:
    case TERN_LAYER_AVGPOOL:
        if (in_ndim != 3) FAIL("layer %d (%s) needs (C,H,W) input, got %s", i, tn, sb);
        if (s->kernel < 1 || s->stride < 1 || s->pad < 0 || 2 * (int64_t)s->pad > s->kernel)
            FAIL("layer %d (%s) needs kernel, stride >= 1 and 0 <= pad <= kernel/2", i, tn);
        st = window_shape(s, i, in, sb, out);
        break;
    case TERN_LAYER_GLOBAL_AVGPOOL:
        if (in_ndim != 3) FAIL("layer %d (global_avgpool) needs (C,H,W) input, got %s", i, sb);
        *out_ndim = 1;
        break;
    case TERN_LAYER_FLATTEN:
        *out_ndim = 1;
        out[0] = 1;
        for (int k = 0; k < in_ndim; k++) {
            if ((int64_t)out[0] * in[k] > INT_MAX)
                FAIL("layer %d (flatten) input %s has more than %d values per sample", i, sb, INT_MAX);
            out[0] *= in[k];
        }
        break;
    case TERN_LAYER_BATCHNORM:
    case TERN_LAYER_DROPOUT:
    case TERN_LAYER_ADD:
    case TERN_LAYER_RELU:
    case TERN_LAYER_HARDTANH:
        break;
    default:
        FAIL("layer %d has unknown type %d", i, (int)s->type);
    }
    if (st) return st;
    /* Tensors index a sample's values in int. */
    size_t n = tern_shape_numel(*out_ndim, out);
    if (n == 0) FAIL("layer %d (%s) output size is empty", i, tn);
    if (n > INT_MAX) {
        char ob[TERN_SHAPE_STR_LEN];
        FAIL("layer %d (%s) output %s has %s%zu values per sample, beyond tern's limit of %d", i, tn,
             tern_dims_str(*out_ndim, out, ob, sizeof ob), n == SIZE_MAX ? "over " : "", n, INT_MAX);
    }
    return TERN_OK;
}

/* Declare "<layer>.<what>" and store its index; the params table records
 * why when it cannot. */
static tern_status add_param(tern_model *m, const tern_layer_spec *s, const char *what, int ndim,
                             const int *shape, int flags, int *idx) {
    char name[TERN_PARAM_NAME_LEN + TERN_LAYER_NAME_LEN];
    snprintf(name, sizeof name, "%s.%s", s->name, what);
    return tern_params_add(&m->params, name, ndim, shape, flags, idx) ? TERN_ERR_CONFIG : TERN_OK;
}

/* A ternary layer's learned scales: (1) or (O) by granularity. */
static tern_status plan_ternary(tern_model *m, int i) {
    tern_layer *L = &m->layers[i];
    tern_layer_spec *s = &L->spec;
    if (s->type != TERN_LAYER_LINEAR && s->type != TERN_LAYER_CONV2D)
        FAIL("model: layer %d (%s) cannot be ternary; only linear and conv2d layers can", i,
             tern_layer_type_name(s->type));
    if (tern_quant_cfg_check(&s->quant)) FAIL("model: layer %d (%s): %s", i, s->name, tern_errmsg());
    if (s->alpha_lr == 0.0f) s->alpha_lr = 1.0f;
    if (!(s->alpha_lr > 0.0f)) FAIL("model: layer %d (%s): alpha_lr %g must be > 0", i, s->name, s->alpha_lr);
    if (!s->quant.learned_alpha) return TERN_OK;
    int groups = s->quant.granularity == TERN_QUANT_PER_CHANNEL ? s->out : 1;
    tern_status st = add_param(m, s, "alpha", 1, &groups, TERN_PARAM_TRAIN, &L->alpha);
    if (!st && s->quant.method == TERN_QUANT_TTQ)
        st = add_param(m, s, "alpha_neg", 1, &groups, TERN_PARAM_TRAIN, &L->alpha_neg);
    return st;
}

/* Layer i's output shape (tern_layer_out_shape), its `add` input, and its
 * params. */
static tern_status plan_layer(tern_model *m, int i) {
    tern_layer *L = &m->layers[i];
    tern_layer_spec *s = &L->spec;
    const char *tn = tern_layer_type_name(s->type);
    L->w = L->b = L->mean = L->var = L->alpha = L->alpha_neg = -1;
    memset(L->out_shape, 0, sizeof L->out_shape);
    if (tern_layer_out_shape(s, i, L->in_ndim, L->in_shape, &L->out_ndim, L->out_shape))
        FAIL("model: %s", tern_errmsg());

    tern_status st = TERN_OK;
    switch (s->type) {
    case TERN_LAYER_LINEAR: {
        int ws[2] = {s->out, L->in_shape[0]};
        if ((st = check_weight(i, tn, 2, ws))) return st;
        st = add_param(m, s, "weight", 2, ws, TERN_PARAM_TRAIN | TERN_PARAM_DECAY, &L->w);
        if (!st && !s->no_bias) st = add_param(m, s, "bias", 1, &s->out, TERN_PARAM_TRAIN, &L->b);
        break;
    }
    case TERN_LAYER_CONV2D: {
        int ws[4] = {s->out, L->in_shape[0], s->kernel, s->kernel};
        if ((st = check_weight(i, tn, 4, ws))) return st;
        st = add_param(m, s, "weight", 4, ws, TERN_PARAM_TRAIN | TERN_PARAM_DECAY, &L->w);
        if (!st && !s->no_bias) st = add_param(m, s, "bias", 1, &s->out, TERN_PARAM_TRAIN, &L->b);
        break;
    }
    case TERN_LAYER_BATCHNORM: {
        /* gamma and beta train; the running statistics are buffers. */
        int C = L->in_shape[0];
        st = add_param(m, s, "weight", 1, &C, TERN_PARAM_TRAIN, &L->w);
        if (!st) st = add_param(m, s, "bias", 1, &C, TERN_PARAM_TRAIN, &L->b);
        if (!st) st = add_param(m, s, "running_mean", 1, &C, 0, &L->mean);
        if (!st) st = add_param(m, s, "running_var", 1, &C, 0, &L->var);
        break;
    }
    case TERN_LAYER_DROPOUT:
        if (!(s->p >= 0.0f && s->p < 1.0f)) FAIL("model: layer %d (dropout) p = %g is outside [0, 1)", i, s->p);
        break;
    case TERN_LAYER_ADD: {
        if (s->from < 0 || s->from >= i)
            FAIL("model: layer %d (add) 'from' must name an earlier layer (0..%d), got %d", i, i - 1, s->from);
        const tern_layer *F = &m->layers[s->from];
        if (F->out_ndim != L->in_ndim || memcmp(F->out_shape, L->in_shape, sizeof(int) * (size_t)L->in_ndim)) {
            char fb[TERN_SHAPE_STR_LEN], sb[TERN_SHAPE_STR_LEN];
            FAIL("model: layer %d (add) input %s does not match layer %d's output %s", i,
                 tern_dims_str(L->in_ndim, L->in_shape, sb, sizeof sb), s->from,
                 tern_dims_str(F->out_ndim, F->out_shape, fb, sizeof fb));
        }
        break;
    }
    default:
        break;
    }
    if (!st && s->ternary) st = plan_ternary(m, i);
    return st;
}

static void init_layer(tern_model *m, tern_layer *L, tern_init init, tern_rng *r) {
    tern_param *P = m->params.items;
    if (L->spec.type == TERN_LAYER_LINEAR || L->spec.type == TERN_LAYER_CONV2D) {
        tern_tensor *w = &P[L->w].t;
        int fan_in = (int)(w->n / (size_t)w->shape[0]);
        int fan_out = (int)(w->n / (size_t)w->shape[1]);
        if (init == TERN_INIT_XAVIER) tern_init_xavier(w, fan_in, fan_out, r);
        else tern_init_he(w, fan_in, r);
        if (L->b >= 0) tern_init_const(&P[L->b].t, 0.0f);
        /* Learned scales start at the closed form of the initial weights. */
        if (L->alpha >= 0) {
            P[L->alpha].lr_scale = L->spec.alpha_lr;
            if (L->alpha_neg >= 0) P[L->alpha_neg].lr_scale = L->spec.alpha_lr;
            tern_model_init_alpha(m, (int)(L - m->layers));
        }
    } else if (L->spec.type == TERN_LAYER_BATCHNORM) {
        tern_init_const(&P[L->w].t, 1.0f);
        tern_init_const(&P[L->b].t, 0.0f);
        tern_init_const(&P[L->mean].t, 0.0f);
        tern_init_const(&P[L->var].t, 1.0f);
    }
}

tern_status tern_model_init(tern_model *m, const tern_layer_spec *specs, int n_layers, int in_ndim,
                            const int *in_shape, tern_init init, uint64_t seed) {
    memset(m, 0, sizeof *m);
    tern_params_init(&m->params);
    if (n_layers < 1) return tern_error(TERN_ERR_CONFIG, "model: no layers");
    if (in_ndim != 1 && in_ndim != 3)
        return tern_error(TERN_ERR_CONFIG, "model: input must be (F) or (C,H,W), got %d dims", in_ndim);
    for (int k = 0; k < in_ndim; k++)
        if (in_shape[k] < 1) return tern_error(TERN_ERR_CONFIG, "model: input dim %d is %d", k, in_shape[k]);
    size_t in_n = tern_shape_numel(in_ndim, in_shape);
    if (in_n > INT_MAX)
        return tern_error(TERN_ERR_CONFIG, "model: the input has %zu values per sample, beyond tern's limit of %d", in_n,
                          INT_MAX);
    m->layers = calloc((size_t)n_layers, sizeof *m->layers);
    if (!m->layers) return tern_error(TERN_ERR_NOMEM, "model: cannot allocate %d layers", n_layers);
    m->n_layers = n_layers;
    m->in_ndim = in_ndim;
    memcpy(m->in_shape, in_shape, sizeof(int) * (size_t)in_ndim);

    int nd = in_ndim, shape[3] = {0};
    memcpy(shape, in_shape, sizeof(int) * (size_t)in_ndim);
    for (int i = 0; i < n_layers; i++) {
        tern_layer *L = &m->layers[i];
        L->spec = specs[i];
        tern_layer_spec *s = &L->spec;
        if (!s->name[0]) snprintf(s->name, sizeof s->name, "%s%d", tern_layer_type_name(s->type), i);
        if (s->stride == 0)
            s->stride = (s->type == TERN_LAYER_MAXPOOL || s->type == TERN_LAYER_AVGPOOL) ? s->kernel : 1;
        if (s->type == TERN_LAYER_BATCHNORM) {
            if (s->momentum == 0.0f) s->momentum = TERN_BN_MOMENTUM;
            if (s->eps == 0.0f) s->eps = TERN_BN_EPS;
        }
        L->in_ndim = nd;
        memcpy(L->in_shape, shape, sizeof shape);
        tern_status st = plan_layer(m, i);
        if (st) {
            tern_model_free(m);
            return st;
        }
        nd = L->out_ndim;
        memcpy(shape, L->out_shape, sizeof shape);
    }
    /* Names are unique (a config checks its own; generated names can meet given ones). */
    int first = -1, dup = tern_first_duplicate(m->layers, n_layers, sizeof *m->layers, cmp_layer_name, &first);
    if (dup != -1) {
        /* The message reads the name, which lives in m->layers: record it before the free. */
        tern_status st = dup == -2 ? tern_error(TERN_ERR_NOMEM, "model: out of memory")
                                   : tern_error(TERN_ERR_CONFIG, "model: layers %d and %d are both named '%s'", first,
                                                dup, m->layers[dup].spec.name);
        tern_model_free(m);
        return st;
    }
    if (nd != 1) {
        tern_model_free(m);
        return tern_error(TERN_ERR_CONFIG, "model: the last layer must give (classes), not (%d,%d,%d)", shape[0],
                          shape[1], shape[2]);
    }
    m->n_classes = shape[0];
    tern_status st = tern_params_alloc(&m->params);
    if (st) {
        tern_model_free(m);
        return st;
    }
    tern_rng r;
    tern_rng_seed(&r, seed);
    for (int i = 0; i < n_layers; i++) init_layer(m, &m->layers[i], init, &r);
    return TERN_OK;
}

tern_status tern_model_init_alpha(tern_model *m, int i) {
    if (i < 0 || i >= m->n_layers) return tern_error(TERN_ERR_ARG, "model: no layer %d (of %d)", i, m->n_layers);
    const tern_layer *L = &m->layers[i];
    if (L->alpha < 0) return TERN_OK;
    tern_param *P = m->params.items;
    return tern_quant_alpha_init(&P[L->w].t, &L->spec.quant, &P[L->alpha].t,
                                 L->alpha_neg >= 0 ? &P[L->alpha_neg].t : NULL);
}

void tern_model_free(tern_model *m) {
    free(m->layers);
    tern_params_free(&m->params);
    memset(m, 0, sizeof *m);
}

static tern_tensor *param(tern_model *m, int idx) { return idx >= 0 ? &m->params.items[idx].t : NULL; }

static tern_tensor *activate(tern_ctx *c, tern_tensor *h, tern_act act) {
    switch (act) {
    case TERN_ACT_RELU: return tern_relu(c, h);
    case TERN_ACT_HARDTANH: return tern_hardtanh(c, h, -1.0f, 1.0f);
    default: return h;
    }
}

tern_tensor *tern_model_forward(tern_model *m, tern_ctx *c, tern_tensor *x) {
    if (!x || c->status) return NULL;
    /* The input must be (N, in_shape...). */
    int ok = x->ndim == m->in_ndim + 1;
    for (int k = 0; ok && k < m->in_ndim; k++) ok = x->shape[k + 1] == m->in_shape[k];
    if (!ok) {
        char sx[TERN_SHAPE_STR_LEN], si[TERN_SHAPE_STR_LEN];
        return tern_ctx_fail(c, TERN_ERR_SHAPE, "model: input %s does not match the model's (N,%s",
                             tern_shape_str(x, sx, sizeof sx),
                             tern_dims_str(m->in_ndim, m->in_shape, si, sizeof si) + 1);
    }
    tern_tensor **outs = tern_ctx_alloc(c, sizeof(tern_tensor *) * (size_t)m->n_layers);
    if (!outs) return NULL;
    tern_tensor *h = x;
    for (int i = 0; i < m->n_layers && h; i++) {
        tern_layer *L = &m->layers[i];
        const tern_layer_spec *s = &L->spec;
        tern_tensor *w = param(m, L->w);
        if (s->ternary) {
            /* Latent W → alpha T on the tape; the input optionally 8-bit. */
            h = tern_quant_act(c, h, s->quant.act_bits);
            w = tern_quant_ternary(c, w, param(m, L->alpha), param(m, L->alpha_neg), &s->quant);
        }
        switch (s->type) {
        case TERN_LAYER_LINEAR: h = tern_linear(c, h, w, param(m, L->b)); break;
        case TERN_LAYER_CONV2D: h = tern_conv2d(c, h, w, param(m, L->b), s->stride, s->pad); break;
        case TERN_LAYER_MAXPOOL: h = tern_maxpool2d(c, h, s->kernel, s->stride, s->pad); break;
        case TERN_LAYER_AVGPOOL: h = tern_avgpool2d(c, h, s->kernel, s->stride, s->pad); break;
        case TERN_LAYER_GLOBAL_AVGPOOL: h = tern_global_avgpool(c, h); break;
        case TERN_LAYER_BATCHNORM:
            if (s->act == TERN_ACT_RELU) { /* fused: the activation below is then skipped */
                h = tern_batchnorm_relu(c, h, param(m, L->w), param(m, L->b), param(m, L->mean), param(m, L->var),
                                        s->momentum, s->eps);
                outs[i] = h;
                continue;
            }
            h = tern_batchnorm(c, h, param(m, L->w), param(m, L->b), param(m, L->mean), param(m, L->var),
                               s->momentum, s->eps);
            break;
        case TERN_LAYER_RELU: h = tern_relu(c, h); break;
        case TERN_LAYER_HARDTANH: h = tern_hardtanh(c, h, -1.0f, 1.0f); break;
        case TERN_LAYER_DROPOUT: h = tern_dropout(c, h, s->p); break;
        case TERN_LAYER_FLATTEN: h = tern_flatten(c, h); break;
        case TERN_LAYER_ADD: h = tern_add(c, h, outs[s->from]); break;
        default: return tern_ctx_fail(c, TERN_ERR_CONFIG, "model: layer %d has unknown type", i);
        }
        h = activate(c, h, s->act);
        outs[i] = h;
    }
    return h;
}

tern_status tern_model_layer_stats(const tern_model *m, int i, tern_quant_layer_stats *st) {
    if (i < 0 || i >= m->n_layers || !m->layers[i].spec.ternary)
        return tern_error(TERN_ERR_ARG, "model: layer %d is not a ternary layer", i);
    const tern_layer *L = &m->layers[i];
    const tern_param *P = m->params.items;
    return tern_quant_stats(&P[L->w].t, L->alpha >= 0 ? &P[L->alpha].t : NULL,
                            L->alpha_neg >= 0 ? &P[L->alpha_neg].t : NULL, &L->spec.quant, st);
}

double tern_model_sparsity(const tern_model *m) {
    double zeros = 0, total = 0;
    for (int i = 0; i < m->n_layers; i++) {
        tern_quant_layer_stats st;
        if (!m->layers[i].spec.ternary || tern_model_layer_stats(m, i, &st)) continue;
        zeros += st.frac_zero * (double)st.n;
        total += (double)st.n;
    }
    return total > 0 ? zeros / total : 0.0;
}
