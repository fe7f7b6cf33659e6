/* export.c — a trained model as the kernels run it: quantize and pack the
 * ternary layers, fold batchnorm, keep fp32 layers; the fp32 twin of a
 * deploy model; and export, which saves the deploy model of a training
 * checkpoint (tern/export.h). The file format is deploy.c's. */
#include "tern/export.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tern/quant.h"

/* ---- one layer at a time ------------------------------------------------- */

static float *fdup(const float *src, size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    if (p && src) memcpy(p, src, n * sizeof(float));
    return p;
}

/* The per-channel eval-mode batchnorm, y = (x - mean) scale + beta, with the
 * scale computed exactly as the op does (tern_batchnorm_forward). */
static tern_status bn_affine(const tern_model *m, const tern_layer *L, int C, float *center, float *scale,
                             float *beta) {
    const tern_param *P = m->params.items;
    for (int c = 0; c < C; c++) {
        const float var = P[L->var].t.data[c];
        if (!(var >= 0.0f) || !isfinite(var))
            return tern_error(TERN_ERR_NUMERIC, "deploy: layer %s: running variance[%d] = %g is not a variance (a "
                              "finite value >= 0); the training checkpoint is damaged", L->spec.name, c, var);
        float invstd = (float)(1.0 / sqrt((double)P[L->var].t.data[c] + (double)L->spec.eps));
        center[c] = P[L->mean].t.data[c];
        scale[c] = P[L->w].t.data[c] * invstd;
        beta[c] = P[L->b].t.data[c];
    }
    return TERN_OK;
}

static tern_status emit_weighted(tern_dlayer *D, const tern_model *m, const tern_layer *L) {
    const tern_param *P = m->params.items;
    const tern_tensor *w = &P[L->w].t;
    int M = w->shape[0], K = (int)(w->n / (size_t)M);
    D->type = L->spec.type == TERN_LAYER_LINEAR ? TERN_DLAYER_LINEAR : TERN_DLAYER_CONV2D;
    D->kernel = L->spec.kernel;
    D->stride = L->spec.stride;
    D->pad = L->spec.pad;
    D->in_channels = D->type == TERN_DLAYER_CONV2D ? L->in_shape[0] : 0;
    D->in_features = K;
    D->bias = fdup(L->b >= 0 ? P[L->b].t.data : NULL, (size_t)M);
    if (!D->bias) return tern_error(TERN_ERR_NOMEM, "deploy: layer %s: out of memory", L->spec.name);
    if (L->b < 0) memset(D->bias, 0, sizeof(float) * (size_t)M);
    if (!L->spec.ternary) {
        D->weight = fdup(w->data, w->n);
        return D->weight ? TERN_OK : tern_error(TERN_ERR_NOMEM, "deploy: layer %s: out of memory", L->spec.name);
    }
    D->ternary = 1;
    D->act_bits = L->spec.quant.act_bits;
    snprintf(D->quantizer, sizeof D->quantizer, "%s", tern_quant_method_name(L->spec.quant.method));
    int G = tern_quant_groups(w, &L->spec.quant);
    int8_t *T = malloc(w->n);
    float *sp = malloc(sizeof(float) * (size_t)G * 2 + sizeof(float) * (size_t)M * 2);
    tern_status st = (!T || !sp) ? tern_error(TERN_ERR_NOMEM, "deploy: layer %s: out of memory", L->spec.name) : TERN_OK;
    if (!st)
        st = tern_quant_ternary_codes(w, L->alpha >= 0 ? &P[L->alpha].t : NULL,
                                      L->alpha_neg >= 0 ? &P[L->alpha_neg].t : NULL, &L->spec.quant, T, sp, sp + G);
    if (!st) {
        /* One scale per row, whether the quantizer had one per tensor or per channel. */
        float *wp = sp + 2 * G, *wn = wp + M;
        for (int r = 0; r < M; r++) {
            wp[r] = sp[G == 1 ? 0 : r];
            wn[r] = sp[G + (G == 1 ? 0 : r)];
        }
        st = tern_packed_init(&D->packed, M, K);
        if (!st) st = tern_packed_set(&D->packed, T, wp, wn);
    }
    if (st && st != TERN_ERR_NOMEM) st = tern_error(st, "deploy: layer %s: %s", L->spec.name, tern_errmsg());
    free(T);
    free(sp);
    return st;
}

/* Fold the eval batchnorm y = (x - center) scale + beta into D's output
 * rows: D's y = a row's dot scaled by wp/wn (or an fp32 row) + bias, so the
 * row's scales (fp32: its weights) take `scale` and the bias becomes
 * (bias - center) scale + beta, the op's own formula applied to the bias. */
static void fold_bn(tern_dlayer *D, const float *center, const float *scale, const float *beta) {
    const int M = D->out_shape[0], K = D->in_features;
    int sym = 1;
    for (int r = 0; r < M; r++) {
        if (D->ternary) {
            D->packed.wp[r] *= scale[r];
            D->packed.wn[r] *= scale[r];
            sym &= D->packed.wp[r] == D->packed.wn[r];
        } else {
            for (int k = 0; k < K; k++) D->weight[(size_t)r * K + k] *= scale[r];
        }
        D->bias[r] = (D->bias[r] - center[r]) * scale[r] + beta[r];
    }
    if (D->ternary) D->packed.symmetric = sym;
}

/* ---- a whole model ----------------------------------------------------------- */

/* A conversion in progress: the deploy layers emitted so far, and for each
 * model layer the deploy layer that holds its output. */
typedef struct exporter {
    tern_deploy *d;
    const tern_model *m;
    int nd;            /* deploy layers emitted */
    int *map;          /* (n_layers) model layer -> deploy layer of its output; -1: the model's input */
    char *referenced;  /* (n_layers) 1: an add layer reads this model layer's output */
} exporter;

static tern_status check_data(const tern_model *m, const tern_dataset *data) {
    if (!m || !data || !m->layers) return tern_error(TERN_ERR_ARG, "deploy: NULL model or dataset");
    if (m->in_ndim != 3 || m->in_shape[0] != data->c || m->in_shape[1] != data->h || m->in_shape[2] != data->w)
        return tern_error(TERN_ERR_SHAPE, "deploy: the model's input does not match the dataset's images (%d,%d,%d)",
                          data->c, data->h, data->w);
    if (m->n_classes != data->n_classes || data->n_classes > TERN_DATA_MAX_CLASSES)
        return tern_error(TERN_ERR_SHAPE, "deploy: the model has %d outputs but the dataset %d classes", m->n_classes,
                          data->n_classes);
    return TERN_OK;
}

/* The model's inputs as data describes them: shape, classes, normalisation. */
static void describe_inputs(tern_deploy *d, const tern_model *m, const tern_dataset *data) {
    memcpy(d->in_shape, m->in_shape, sizeof d->in_shape);
    d->n_classes = data->n_classes;
    memcpy(d->class_names, data->class_names, sizeof d->class_names);
    snprintf(d->dataset, sizeof d->dataset, "%s", data->name);
    for (int c = 0; c < TERN_DATA_MAX_CHANNELS; c++) {
        d->mean[c] = c < data->c && data->normalized ? data->mean[c] : 0.0f;
        d->std[c] = c < data->c && data->normalized ? data->std[c] : 1.0f;
    }
}

/* Model layer i, a batchnorm: folded into the deploy layer before it when
 * it reads a linear/conv output directly (no act between them, and no add
 * needs the unnormalised output; *emit = 0), else the affine layer D. */
static tern_status emit_batchnorm(exporter *x, int i, tern_dlayer *D, int *emit) {
    const tern_layer *L = &x->m->layers[i], *prev = i > 0 ? &x->m->layers[i - 1] : NULL;
    const int C = L->in_shape[0];
    float *buf = malloc(sizeof(float) * 3 * (size_t)C); /* center (C), scale (C), beta (C) */
    if (!buf) return tern_error(TERN_ERR_NOMEM, "deploy: out of memory");
    tern_status st = bn_affine(x->m, L, C, buf, buf + C, buf + 2 * C);
    if (st) {
        free(buf);
        return st;
    }
    int fold = prev && (prev->spec.type == TERN_LAYER_LINEAR || prev->spec.type == TERN_LAYER_CONV2D) &&
               prev->spec.act == TERN_ACT_NONE && !x->referenced[i - 1] && x->nd > 0 && x->map[i - 1] == x->nd - 1;
    if (fold) {
        tern_dlayer *W = &x->d->layers[x->nd - 1];
        fold_bn(W, buf, buf + C, buf + 2 * C);
        W->act = L->spec.act;
        snprintf(W->name + strlen(W->name), sizeof W->name - strlen(W->name), "+%s", L->spec.name);
        free(buf);
        *emit = 0;
        return TERN_OK;
    }
    D->type = TERN_DLAYER_AFFINE;
    D->in_channels = C;
    D->center = buf;
    D->scale = fdup(buf + C, (size_t)C);
    D->bias = fdup(buf + 2 * C, (size_t)C);
    return D->scale && D->bias ? TERN_OK : tern_error(TERN_ERR_NOMEM, "deploy: out of memory");
}

/* Model layer i as the next deploy layer; *emit = 0 when it leaves none
 * (a folded batchnorm, a dropout without an activation). */
static tern_status emit_layer(exporter *x, int i, int *emit) {
    const tern_layer *L = &x->m->layers[i];
    const tern_layer_spec *s = &L->spec;
    tern_dlayer *D = &x->d->layers[x->nd];
    memset(D, 0, sizeof *D);
    snprintf(D->name, sizeof D->name, "%s", s->name);
    D->act = s->act;
    D->out_ndim = L->out_ndim;
    memcpy(D->out_shape, L->out_shape, sizeof D->out_shape);
    *emit = 1;
    switch (s->type) {
    case TERN_LAYER_LINEAR:
    case TERN_LAYER_CONV2D: return emit_weighted(D, x->m, L);
    case TERN_LAYER_BATCHNORM: return emit_batchnorm(x, i, D, emit);
    case TERN_LAYER_DROPOUT:
        /* Identity at eval; only its activation, if any, remains. */
        if (s->act == TERN_ACT_NONE) *emit = 0;
        else {
            D->type = s->act == TERN_ACT_RELU ? TERN_DLAYER_RELU : TERN_DLAYER_HARDTANH;
            D->act = TERN_ACT_NONE;
        }
        return TERN_OK;
    case TERN_LAYER_MAXPOOL:
    case TERN_LAYER_AVGPOOL:
        D->type = s->type == TERN_LAYER_MAXPOOL ? TERN_DLAYER_MAXPOOL : TERN_DLAYER_AVGPOOL;
        D->kernel = s->kernel;
        D->stride = s->stride;
        D->pad = s->pad;
        return TERN_OK;
    case TERN_LAYER_GLOBAL_AVGPOOL: D->type = TERN_DLAYER_GLOBAL_AVGPOOL; return TERN_OK;
    case TERN_LAYER_RELU: D->type = TERN_DLAYER_RELU; return TERN_OK;
    case TERN_LAYER_HARDTANH: D->type = TERN_DLAYER_HARDTANH; return TERN_OK;
    case TERN_LAYER_FLATTEN: D->type = TERN_DLAYER_FLATTEN; return TERN_OK;
    case TERN_LAYER_ADD:
        D->type = TERN_DLAYER_ADD;
        D->from = x->map[s->from];
        if (D->from < 0)
            return tern_error(TERN_ERR_UNSUPPORTED, "deploy: layer %d (%s) adds the model's input, which deploy "
                              "models cannot express", i, s->name);
        return TERN_OK;
    default: return tern_error(TERN_ERR_CONFIG, "deploy: layer %d has unknown type %d", i, (int)s->type);
    }
}

tern_status tern_deploy_from_model(tern_deploy *d, const tern_model *m, const tern_dataset *data) {
    tern_deploy_init(d);
    tern_status st = check_data(m, data);
    if (st) return st;
    const int n = m->n_layers;
    exporter x = {.d = d, .m = m, .map = malloc(sizeof(int) * (size_t)n), .referenced = calloc((size_t)n, 1)};
    d->layers = calloc((size_t)n, sizeof *d->layers);
    if (!d->layers || !x.map || !x.referenced) st = tern_error(TERN_ERR_NOMEM, "deploy: out of memory");
    for (int i = 0; !st && i < n; i++)
        if (m->layers[i].spec.type == TERN_LAYER_ADD) x.referenced[m->layers[i].spec.from] = 1;
    if (!st) describe_inputs(d, m, data);
    for (int i = 0; i < n && !st; i++) {
        int emit;
        st = emit_layer(&x, i, &emit);
        x.nd += emit;
        /* The deploy layer whose output is this layer's: the one just
         * emitted, the one a batchnorm folded into, or (dropout) the last
         * one; -1 for the model's input. */
        x.map[i] = x.nd - 1;
    }
    d->n_layers = x.nd;
    free(x.map);
    free(x.referenced);
    if (st) tern_deploy_free(d);
    return st;
}

/* ---- the fp32 twin ------------------------------------------------------------ */

tern_status tern_deploy_to_fp32(const tern_deploy *src, tern_deploy *dst) {
    tern_deploy_init(dst);
    if (!src || !src->layers) return tern_error(TERN_ERR_ARG, "deploy: to_fp32 of an empty model");
    *dst = *src;
    dst->layers = calloc((size_t)src->n_layers, sizeof *dst->layers);
    if (!dst->layers) {
        tern_deploy_init(dst);
        return tern_error(TERN_ERR_NOMEM, "deploy: out of memory");
    }
    tern_status st = TERN_OK;
    for (int i = 0; i < src->n_layers && !st; i++) {
        const tern_dlayer *S = &src->layers[i];
        tern_dlayer *D = &dst->layers[i];
        *D = *S;
        memset(&D->packed, 0, sizeof D->packed);
        D->weight = D->bias = D->scale = D->center = NULL;
        int M = S->out_shape[0], C = S->in_channels;
        if (S->type == TERN_DLAYER_LINEAR || S->type == TERN_DLAYER_CONV2D) {
            int K = S->in_features;
            D->bias = fdup(S->bias, (size_t)M);
            D->weight = S->ternary ? malloc(sizeof(float) * (size_t)M * K) : fdup(S->weight, (size_t)M * K);
            D->ternary = 0;
            D->act_bits = 0;
            D->quantizer[0] = '\0';
            if (!D->bias || !D->weight) st = tern_error(TERN_ERR_NOMEM, "deploy: out of memory");
            if (!st && S->ternary) {
                int8_t *T = malloc((size_t)M * K);
                st = T ? tern_packed_get(&S->packed, T) : tern_error(TERN_ERR_NOMEM, "deploy: out of memory");
                for (size_t k = 0; !st && k < (size_t)M * K; k++) {
                    size_t r = k / (size_t)K;
                    D->weight[k] = T[k] > 0 ? S->packed.wp[r] : (T[k] < 0 ? -S->packed.wn[r] : 0.0f);
                }
                free(T);
            }
        } else if (S->type == TERN_DLAYER_AFFINE) {
            D->center = fdup(S->center, (size_t)C);
            D->scale = fdup(S->scale, (size_t)C);
            D->bias = fdup(S->bias, (size_t)C);
            if (!D->center || !D->scale || !D->bias) st = tern_error(TERN_ERR_NOMEM, "deploy: out of memory");
        }
    }
    if (st) tern_deploy_free(dst);
    return st;
}

/* ---- export ------------------------------------------------------------------ */

tern_status tern_deploy_export(const tern_model *m, const tern_dataset *data, const char *train_ckpt,
                               const char *out_path, tern_deploy_sizes *sizes) {
    if (!m || !data || !train_ckpt || !out_path)
        return tern_error(TERN_ERR_ARG, "deploy: export needs a model, its data, its checkpoint and an output path");
    /* The same file under another name (a symlink, a hard link, ./x): the
     * deploy model would replace the checkpoint it comes from. */
    struct stat si, so;
    if (stat(train_ckpt, &si) == 0 && stat(out_path, &so) == 0 && si.st_dev == so.st_dev && si.st_ino == so.st_ino)
        return tern_error(TERN_ERR_ARG, "%s: is the training checkpoint being exported (%s); write the deploy model to "
                          "another file", out_path, train_ckpt);
    tern_deploy d;
    tern_status st = tern_deploy_from_model(&d, m, data);
    if (!st) {
        /* The path, cut (where it must be) at a character boundary: the
         * attribute is UTF-8. */
        size_t k = strlen(train_ckpt);
        if (k >= sizeof d.source) {
            k = sizeof d.source - 1;
            while (k > 0 && ((unsigned char)train_ckpt[k] & 0xC0) == 0x80) k--;
        }
        snprintf(d.source, sizeof d.source, "%.*s", (int)k, train_ckpt);
        st = tern_deploy_save(&d, out_path, TERN_DEPLOY_DEFLATE, sizes);
    }
    tern_deploy_free(&d);
    return st;
}
