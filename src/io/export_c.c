/* export_c.c — a deploy model as model.h/model.c over the portable runtime
 * (tern/export_c.h). Planning maps deploy layers to the runtime's layers
 * (tern_run.h), fusing epilogues and maxpools, and gives every buffer an
 * arena offset; writing prints the tables and copies the embedded sources. */
#include "tern/export_c.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/dlayer.h"
#include "io/fsutil.h"
#include "portable/tern_portable_files.h"
#include "portable/tern_run.h"

/* The direct fp32 conv serves convs of at most this many input channels in
 * tern's runtime (kernels/dconv.h); the export picks the same order. */
#include "kernels/dconv.h"

#define ALIGN 4   /* floats: 16 bytes */

/* One runtime layer being planned: the table row, which deploy layers it
 * covers, and its buffers in floats. */
typedef struct plan_layer {
    tern_run_layer L;        /* pointers unset; offsets set by assign() */
    int dl, last;            /* deploy layers [dl, last] it computes */
    int affine, pool;        /* deploy index of the fused affine / maxpool, or -1 */
    int in_buf, from_buf;    /* the run layer whose output it reads (-1: the input) */
    size_t out_n, tq_n, tcol_n, trows_n;   /* floats */
    int last_use;            /* the last run layer that reads its output */
} plan_layer;

typedef struct plan {
    plan_layer *p;
    int n;
    size_t arena;            /* floats */
    size_t flash;
} plan;

/* DIR's files: the model's two, then the runtime's sources as libtern
 * embedded them (src/portable/, the one list: CMakeLists.txt). */
static const char *const MODEL_FILES[2] = {"model.h", "model.c"};

const char *tern_cexport_file_name(int i) {
    if (i >= 0 && i < 2) return MODEL_FILES[i];
    return i >= 2 && i < 2 + tern_portable_n_files ? tern_portable_files[i - 2].name : NULL;
}

static size_t up(size_t n) { return (n + ALIGN - 1) / ALIGN * ALIGN; }

/* Deploy layer i's input shape as (C,H,W) (a vector is (K,1,1)). */
static void in_chw(const tern_deploy *m, int i, int *c, int *h, int *w) {
    const int nd = i ? m->layers[i - 1].out_ndim : 3;
    const int *s = i ? m->layers[i - 1].out_shape : m->in_shape;
    *c = s[0], *h = nd == 3 ? s[1] : 1, *w = nd == 3 ? s[2] : 1;
    if (nd == 3 && i && m->layers[i].type == TERN_DLAYER_LINEAR) *c = s[0] * s[1] * s[2], *h = *w = 1;
}

/* The epilogue chain after a linear/conv at i, as tern's runtime fuses it:
 * an affine while no activation precedes it, a relu or hardtanh; then, for
 * a conv, a maxpool without an activation. Returns the last layer taken. */
static int fuse(const tern_deploy *m, int i, plan_layer *q) {
    tern_act act = m->layers[i].act;
    int last = i;
    for (int j = i + 1; j < m->n_layers && !tern_dlayer_read_by_add(m, last); last = j++) {
        const tern_dlayer *F = &m->layers[j];
        const tern_act fa = F->type == TERN_DLAYER_RELU ? TERN_ACT_RELU : TERN_ACT_HARDTANH;
        if (F->type == TERN_DLAYER_AFFINE && act == TERN_ACT_NONE && q->affine < 0) {
            q->affine = j;
            act = F->act;
        } else if ((F->type == TERN_DLAYER_RELU || F->type == TERN_DLAYER_HARDTANH) && F->act == TERN_ACT_NONE &&
                   (act == TERN_ACT_NONE || act == fa)) {
            act = fa;
        } else if (F->type == TERN_DLAYER_MAXPOOL && m->layers[i].type == TERN_DLAYER_CONV2D &&
                   F->act == TERN_ACT_NONE && q->pool < 0) {
            q->pool = j;
            last = j;
            break;
        } else {
            break;
        }
    }
    q->L.epi.act = tern_dlayer_epi_act(act);
    return last;
}

/* Run layer for the linear/conv deploy layer i. */
static int plan_gemm(const tern_deploy *m, int i, plan_layer *q) {
    const tern_dlayer *D = &m->layers[i];
    tern_run_layer *L = &q->L;
    in_chw(m, i, &L->in_c, &L->in_h, &L->in_w);
    const int conv = D->type == TERN_DLAYER_CONV2D, K = D->in_features, M = D->out_shape[0];
    L->type = conv ? TERN_RUN_CONV2D : TERN_RUN_LINEAR;
    L->wmode = D->ternary ? (D->act_bits == 8 ? TERN_RUN_W_T2_I8 : TERN_RUN_W_T2_F32)
               : conv && L->in_c <= TERN_DCONV_MAX_CIN ? TERN_RUN_W_FP32_DIRECT : TERN_RUN_W_FP32;
    L->symmetric = D->ternary && D->packed.symmetric;
    L->kblocks = D->ternary ? D->packed.kblocks : 0;
    L->out_c = M, L->out_h = L->out_w = 1;
    const size_t Kp = (size_t)(K + 127) / 128 * 128;
    const int i8 = L->wmode == TERN_RUN_W_T2_I8;
    int last = fuse(m, i, q);
    if (conv) {
        L->k = D->kernel, L->stride = D->stride, L->pad = D->pad;
        L->conv_h = D->out_shape[1], L->conv_w = D->out_shape[2];
        L->out_h = L->conv_h, L->out_w = L->conv_w;
        if (q->pool >= 0) {
            const tern_dlayer *P = &m->layers[q->pool];
            L->pool_k = P->kernel, L->pool_stride = P->stride, L->pool_pad = P->pad;
            L->out_h = P->out_shape[1], L->out_w = P->out_shape[2];
            q->trows_n = up((size_t)M * P->kernel * L->conv_w);
        }
        q->tq_n = i8 ? up(((size_t)L->in_c * L->in_h * L->in_w + 3) / 4) : 0;
        q->tcol_n = L->wmode == TERN_RUN_W_FP32_DIRECT ? 0 : up(i8 ? (Kp + 3) / 4 : (size_t)K);
    } else {
        q->tq_n = i8 ? up(Kp / 4) : 0;
    }
    q->out_n = up((size_t)M * L->out_h * L->out_w);
    return last;
}

/* The runtime's layers of m into pl (n_layers entries at most); *n their count. */
static void plan_layers(const tern_deploy *m, plan_layer *pl, int *n, int *dbuf) {
    int t = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const tern_dlayer *D = &m->layers[i];
        const int in = i ? dbuf[i - 1] : -1;
        if (D->type == TERN_DLAYER_FLATTEN && D->act == TERN_ACT_NONE) {
            dbuf[i] = in;   /* a view */
            continue;
        }
        plan_layer *q = &pl[t];
        memset(q, 0, sizeof *q);
        q->dl = i, q->affine = q->pool = -1, q->in_buf = in, q->from_buf = -1;
        tern_run_layer *L = &q->L;
        int last = i;
        if (D->type == TERN_DLAYER_LINEAR || D->type == TERN_DLAYER_CONV2D) {
            last = plan_gemm(m, i, q);
        } else {
            in_chw(m, i, &L->in_c, &L->in_h, &L->in_w);
            L->out_c = D->out_shape[0];
            L->out_h = D->out_ndim == 3 ? D->out_shape[1] : 1;
            L->out_w = D->out_ndim == 3 ? D->out_shape[2] : 1;
            L->k = D->kernel, L->stride = D->stride, L->pad = D->pad;
            L->epi.act = tern_dlayer_epi_act(D->act);
            switch (D->type) {
            case TERN_DLAYER_AFFINE: L->type = TERN_RUN_AFFINE, q->affine = i; break;
            case TERN_DLAYER_MAXPOOL: L->type = TERN_RUN_MAXPOOL; break;
            case TERN_DLAYER_AVGPOOL: L->type = TERN_RUN_AVGPOOL; break;
            case TERN_DLAYER_GLOBAL_AVGPOOL: L->type = TERN_RUN_GAVGPOOL; break;
            case TERN_DLAYER_ADD: L->type = TERN_RUN_ADD, q->from_buf = dbuf[D->from]; break;
            default:   /* relu, hardtanh, flatten with an activation */
                L->type = TERN_RUN_ACT;
                if (D->type != TERN_DLAYER_FLATTEN)
                    L->epi.act = D->type == TERN_DLAYER_RELU ? TERN_EPI_RELU : TERN_EPI_HARDTANH;
                break;
            }
            q->out_n = up((size_t)L->out_c * L->out_h * L->out_w);
        }
        q->last = last;
        for (int j = i; j <= last; j++) dbuf[j] = t;
        i = last;
        t++;
    }
    *n = t;
}

/* A live buffer: [off, off + n) until run layer `until`. */
typedef struct live {
    size_t off, n;
    int until;
} live;

/* First fit: the lowest offset (0 or the end of a live buffer) where n floats overlap no live one. */
static size_t first_fit(const live *lv, int nl, size_t n) {
    size_t best = (size_t)-1;
    for (int c = -1; c < nl; c++) {
        const size_t at = c < 0 ? 0 : lv[c].off + lv[c].n;
        int ok = 1;
        for (int k = 0; k < nl && ok; k++) ok = at + n <= lv[k].off || lv[k].off + lv[k].n <= at;
        if (ok && at < best) best = at;
    }
    return best;
}

/* Offsets for every buffer; the arena's floats into P->arena. */
static tern_status assign(plan *P, live *lv) {
    int nl = 0;
    for (int t = 0; t < P->n; t++) {
        plan_layer *q = &P->p[t];
        q->last_use = t + 1 < P->n ? t + 1 : t;   /* the next layer reads it; the last one's is the logits */
    }
    for (int t = 0; t < P->n; t++) {
        const plan_layer *q = &P->p[t];
        if (q->in_buf >= 0 && P->p[q->in_buf].last_use < t) P->p[q->in_buf].last_use = t;
        if (q->from_buf >= 0 && P->p[q->from_buf].last_use < t) P->p[q->from_buf].last_use = t;
    }
    P->arena = 0;
    for (int t = 0; t < P->n; t++) {
        plan_layer *q = &P->p[t];
        int k = 0;
        for (int j = 0; j < nl; j++)
            if (lv[j].until >= t) lv[k++] = lv[j];
        nl = k;
        const size_t need[4] = {q->out_n, q->tq_n, q->tcol_n, q->trows_n};
        long *off[4] = {&q->L.out, &q->L.tq, &q->L.tcol, &q->L.trows};
        for (int b = 0; b < 4; b++) {
            if (!need[b]) {
                *off[b] = 0;
                continue;
            }
            const size_t at = first_fit(lv, nl, need[b]);
            *off[b] = (long)at;
            lv[nl++] = (live){at, need[b], b == 0 ? q->last_use : t};
            if (at + need[b] > P->arena) P->arena = at + need[b];
        }
        if (P->arena * sizeof(float) > TERN_CEXPORT_MAX_RAM)
            return tern_error(TERN_ERR_NOMEM, "cexport: layer %d needs an arena beyond %zu bytes, the most the "
                              "runtime's offsets address on a 32-bit target", q->dl, TERN_CEXPORT_MAX_RAM);
    }
    for (int t = 0; t < P->n; t++) {
        plan_layer *q = &P->p[t];
        q->L.in = q->in_buf < 0 ? -1 : P->p[q->in_buf].L.out;
        q->L.from = q->from_buf < 0 ? -1 : P->p[q->from_buf].L.out;
    }
    return TERN_OK;
}

/* Bytes of const data layer q carries into model.c. */
static size_t layer_flash(const tern_deploy *m, const plan_layer *q) {
    const tern_dlayer *D = &m->layers[q->dl];
    size_t b = sizeof(tern_run_layer);
    if (D->type == TERN_DLAYER_LINEAR || D->type == TERN_DLAYER_CONV2D) {
        const size_t M = (size_t)D->out_shape[0];
        b += M * sizeof(float) * (D->ternary ? (D->packed.symmetric ? 2 : 3) : 1);
        b += D->ternary ? M * D->packed.row_bytes : M * (size_t)D->in_features * sizeof(float);
    }
    if (q->affine >= 0) b += 3 * sizeof(float) * (size_t)m->layers[q->affine].in_channels;
    return b;
}

static tern_status plan_make(const tern_deploy *m, const tern_cexport_opts *o, plan *P, int **dbuf) {
    memset(P, 0, sizeof *P);
    if (!m || !m->layers || m->n_layers < 1) return tern_error(TERN_ERR_ARG, "cexport: empty model");
    P->p = calloc((size_t)m->n_layers, sizeof *P->p);
    *dbuf = malloc(sizeof(int) * (size_t)m->n_layers);
    live *lv = calloc(4 * (size_t)m->n_layers, sizeof *lv);
    if (!P->p || !*dbuf || !lv) {
        free(lv);
        return tern_error(TERN_ERR_NOMEM, "cexport: out of memory planning %d layers", m->n_layers);
    }
    plan_layers(m, P->p, &P->n, *dbuf);
    tern_status st = P->n ? assign(P, lv) : tern_error(TERN_ERR_ARG, "cexport: the model has no layer to run");
    free(lv);
    if (st) return st;
    for (int t = 0; t < P->n; t++) P->flash += layer_flash(m, &P->p[t]);
    const size_t ram = P->arena * sizeof(float);
    if (o && o->max_ram && ram > o->max_ram)
        return tern_error(TERN_ERR_NOMEM, "cexport: the model needs %zu bytes of RAM (its arena), more than the "
                          "budget of %zu", ram, o->max_ram);
    return TERN_OK;
}

static void report_of(const tern_deploy *m, const plan *P, tern_cexport_report *r) {
    if (!r) return;
    r->flash_bytes = P->flash;
    r->ram_bytes = P->arena * sizeof(float);
    r->run_layers = P->n;
    int views = 0;
    for (int i = 0; i < m->n_layers; i++)
        views += m->layers[i].type == TERN_DLAYER_FLATTEN && m->layers[i].act == TERN_ACT_NONE;
    r->fused_layers = m->n_layers - P->n - views;
}

tern_status tern_cexport_plan(const tern_deploy *m, const tern_cexport_opts *o, tern_cexport_report *r) {
    plan P;
    int *dbuf = NULL;
    tern_status st = plan_make(m, o, &P, &dbuf);
    if (!st) report_of(m, &P, r);
    free(P.p);
    free(dbuf);
    return st;
}

/* ---- writing ----------------------------------------------------------------- */

/* A growing text buffer; oom sticks. */
typedef struct text {
    char *s;
    size_t n, cap;
    int oom;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
    if (t->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            t->oom = 1;
            return;
        }
        if (t->s && t->n + (size_t)k < t->cap) {
            t->n += (size_t)k;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 1 << 16) + (size_t)k;
        char *s = realloc(t->s, cap);
        if (!s) {
            t->oom = 1;
            return;
        }
        t->s = s, t->cap = cap;
    }
}

static void put_floats(text *t, const char *name, const float *v, size_t n) {
    put(t, "static const float %s[%zu] = {", name, n);
    for (size_t j = 0; j < n; j++) put(t, "%s%af,", j % 8 ? " " : "\n    ", (double)v[j]);
    put(t, "\n};\n");
}

static void put_bytes(text *t, const char *name, const uint8_t *v, size_t n) {
    put(t, "static const uint8_t %s[%zu] = {", name, n);
    for (size_t j = 0; j < n; j++) put(t, "%s0x%02x,", j % 16 ? "" : "\n    ", v[j]);
    put(t, "\n};\n");
}

/* s for a C comment: "?" when it would end the comment or open another. */
static const char *safe(const char *s) { return strstr(s, "*/") || strstr(s, "/*") ? "?" : s; }

static const char *type_name(int type) {
    static const char *const names[] = {"TERN_RUN_LINEAR", "TERN_RUN_CONV2D", "TERN_RUN_AFFINE", "TERN_RUN_MAXPOOL",
                                        "TERN_RUN_AVGPOOL", "TERN_RUN_GAVGPOOL", "TERN_RUN_ACT", "TERN_RUN_ADD"};
    return names[type];
}

/* Layer t's arrays. */
static void put_arrays(text *t, const tern_deploy *m, const plan_layer *q, int k) {
    const tern_dlayer *D = &m->layers[q->dl];
    char nm[48];
    if (D->type == TERN_DLAYER_LINEAR || D->type == TERN_DLAYER_CONV2D) {
        const size_t M = (size_t)D->out_shape[0];
        put(t, "\n/* layer %d: %s (%s) */\n", k, safe(D->name), tern_dlayer_type_name(D->type));
        if (D->ternary) {
            snprintf(nm, sizeof nm, "l%d_qs", k);
            put_bytes(t, nm, D->packed.qs, M * D->packed.row_bytes);
            snprintf(nm, sizeof nm, "l%d_wp", k);
            put_floats(t, nm, D->packed.wp, M);
            if (!D->packed.symmetric) {
                snprintf(nm, sizeof nm, "l%d_wn", k);
                put_floats(t, nm, D->packed.wn, M);
            }
        } else {
            snprintf(nm, sizeof nm, "l%d_weight", k);
            put_floats(t, nm, D->weight, M * (size_t)D->in_features);
        }
        snprintf(nm, sizeof nm, "l%d_bias", k);
        put_floats(t, nm, D->bias, M);
    }
    if (q->affine >= 0) {
        const tern_dlayer *A = &m->layers[q->affine];
        const size_t C = (size_t)A->in_channels;
        put(t, "/* affine %s */\n", safe(A->name));
        snprintf(nm, sizeof nm, "l%d_center", k);
        put_floats(t, nm, A->center, C);
        snprintf(nm, sizeof nm, "l%d_scale", k);
        put_floats(t, nm, A->scale, C);
        snprintf(nm, sizeof nm, "l%d_shift", k);
        put_floats(t, nm, A->bias, C);
    }
}

/* Layer t's row of the table. */
static void put_row(text *t, const tern_deploy *m, const plan_layer *q, int k) {
    static const char *const wm[] = {"TERN_RUN_W_FP32", "TERN_RUN_W_FP32_DIRECT", "TERN_RUN_W_T2_I8",
                                     "TERN_RUN_W_T2_F32"};
    static const char *const acts[] = {"TERN_EPI_NONE", "TERN_EPI_RELU", "TERN_EPI_HARDTANH"};
    const tern_dlayer *D = &m->layers[q->dl];
    const tern_run_layer *L = &q->L;
    const int gemm = L->type == TERN_RUN_LINEAR || L->type == TERN_RUN_CONV2D;
    put(t, "    /* %d: %s", k, safe(D->name));
    for (int j = q->dl + 1; j <= q->last; j++) put(t, " + %s", safe(m->layers[j].name));
    put(t, " */\n    {.type = %s, .wmode = %s, .symmetric = %d,\n", type_name(L->type), wm[L->wmode], L->symmetric);
    put(t, "     .in_c = %d, .in_h = %d, .in_w = %d, .out_c = %d, .out_h = %d, .out_w = %d,\n", L->in_c, L->in_h,
        L->in_w, L->out_c, L->out_h, L->out_w);
    put(t, "     .k = %d, .stride = %d, .pad = %d, .conv_h = %d, .conv_w = %d,\n", L->k, L->stride, L->pad, L->conv_h,
        L->conv_w);
    put(t, "     .pool_k = %d, .pool_stride = %d, .pool_pad = %d, .kblocks = %d,\n", L->pool_k, L->pool_stride,
        L->pool_pad, L->kblocks);
    if (gemm && D->ternary)
        put(t, "     .qs = l%d_qs, .wp = l%d_wp, .wn = l%d_w%c, .bias = l%d_bias,\n", k, k, k,
            D->packed.symmetric ? 'p' : 'n', k);
    else if (gemm)
        put(t, "     .weight = l%d_weight, .bias = l%d_bias,\n", k, k);
    if (q->affine >= 0)
        put(t, "     .epi = {l%d_center, l%d_scale, l%d_shift, %s},\n", k, k, k, acts[L->epi.act]);
    else
        put(t, "     .epi = {NULL, NULL, NULL, %s},\n", acts[L->epi.act]);
    put(t, "     .in = %ld, .out = %ld, .from = %ld, .tq = %ld, .tcol = %ld, .trows = %ld},\n", L->in, L->out, L->from,
        L->tq, L->tcol, L->trows);
}

static void put_header(text *t, const tern_deploy *m, const plan *P) {
    put(t, "/* model.h — %s, exported by `tern export --format c`%s%s.\n"
           " *\n"
           " * Compile model.c and tern_run.c as C99 (or later), in any mode but\n"
           " * -ffast-math (refused: the files switch floating-point contraction off\n"
           " * for their own code): the math then gives the same bits as tern's\n"
           " * runtime (tern_run.h says on which path). E.g.\n"
           " *     cc -std=c99 -O2 -I DIR DIR/model.c DIR/tern_run.c main.c -lm\n"
           " * (-lm: fmaf, rintf).\n"
           " *\n"
           " * RAM: one static arena of TERN_MODEL_RAM_BYTES (plus your input, logits and\n"
           " * a small stack); flash: about %zu bytes of const data, plus the code.\n"
           " * Not reentrant: one prediction at a time. */\n",
        m->dataset[0] ? safe(m->dataset) : "a tern model", m->source[0] ? " from " : "", safe(m->source), P->flash);
    put(t, "#ifndef TERN_MODEL_H\n#define TERN_MODEL_H\n\n#include <stdint.h>\n\n"
           "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    put(t, "#define TERN_MODEL_IN_C %d\n#define TERN_MODEL_IN_H %d\n#define TERN_MODEL_IN_W %d\n", m->in_shape[0],
        m->in_shape[1], m->in_shape[2]);
    put(t, "#define TERN_MODEL_IN_SIZE %d   /* C*H*W */\n", m->in_shape[0] * m->in_shape[1] * m->in_shape[2]);
    put(t, "#define TERN_MODEL_N_CLASSES %d\n#define TERN_MODEL_RAM_BYTES %zu   /* the arena */\n\n", m->n_classes,
        P->arena * sizeof(float));
    put(t, "/* The class names, by logit index. */\n"
           "extern const char *const tern_model_class_names[TERN_MODEL_N_CLASSES];\n\n"
           "/* pixels (C,H,W) bytes -> input (TERN_MODEL_IN_SIZE): (p/255 - mean[c]) / std[c], as tern does. */\n"
           "void tern_model_normalize(const uint8_t *pixels, float *input);\n\n"
           "/* logits (TERN_MODEL_N_CLASSES) of input; returns the class (the largest\n"
           " * logit, the first on ties, as tern eval), or -1 when the input holds a NaN\n"
           " * or Inf. */\n"
           "int tern_model_predict(const float *input, float *logits);\n\n"
           "#ifdef __cplusplus\n}\n#endif\n#endif\n");
}

static void put_model(text *t, const tern_deploy *m, const plan *P) {
    put(t, "/* model.c — generated by `tern export --format c`: the weights in tern's\n"
           " * deploy layout (t2 blocks in tile order, tern/kernels.h), the layer table\n"
           " * of the portable runtime (tern_run.h) and its arena. */\n"
           "#include <stddef.h>\n\n#include \"model.h\"\n#include \"tern_run.h\"\n");
    for (int k = 0; k < P->n; k++) put_arrays(t, m, &P->p[k], k);
    put(t, "\nstatic const tern_run_layer layers[%d] = {\n", P->n);
    for (int k = 0; k < P->n; k++) put_row(t, m, &P->p[k], k);
    put(t, "};\n\nstatic float arena[%zu];   /* TERN_MODEL_RAM_BYTES */\n\n", P->arena ? P->arena : 1);
    put(t, "static const tern_run_model model = {layers, %d, %d, %d, %ld};\n\n", P->n,
        m->in_shape[0] * m->in_shape[1] * m->in_shape[2], m->n_classes, P->p[P->n - 1].L.out);
    put(t, "const char *const tern_model_class_names[TERN_MODEL_N_CLASSES] = {");
    for (int c = 0; c < m->n_classes; c++) {
        put(t, "%s\"", c % 8 ? " " : "\n    ");
        for (const unsigned char *s = (const unsigned char *)m->class_names[c]; *s; s++)
            put(t, *s == '"' || *s == '\\' ? "\\%c" : *s < 32 || *s > 126 ? "\\%03o" : "%c", *s);
        put(t, "\",");
    }
    put(t, "\n};\n\n");
    put_floats(t, "mean", m->mean, (size_t)m->in_shape[0]);
    put_floats(t, "stdev", m->std, (size_t)m->in_shape[0]);
    put(t, "\nvoid tern_model_normalize(const uint8_t *pixels, float *input) {\n"
           "    const long HW = (long)TERN_MODEL_IN_H * TERN_MODEL_IN_W;\n"
           "    for (int c = 0; c < TERN_MODEL_IN_C; c++)\n"
           "        for (long j = 0; j < HW; j++)\n"
           "            input[c * HW + j] = tern_pt_normalize(pixels[c * HW + j], mean[c], stdev[c]);\n"
           "}\n\n"
           "int tern_model_predict(const float *input, float *logits) {\n"
           "    return tern_run_predict(&model, arena, input, logits);\n}\n");
}

/* 1 when dir holds anything but the files of a C export (a subdirectory, a
 * link, a file of another name) or cannot be read, with its name in *what:
 * such a directory is somebody's work, not an earlier export, and --force
 * does not remove it. */
static int foreign_entry(const char *dir, char *what, size_t n) {
    DIR *d = opendir(dir);
    if (!d) return snprintf(what, n, "unreadable entries (%s)", strerror(errno)), 1;
    struct dirent *e;
    int foreign = 0;
    char path[4096];
    while (!foreign && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        struct stat sb;
        int ours = 0;
        for (int i = 0; tern_cexport_file_name(i); i++) ours |= !strcmp(e->d_name, tern_cexport_file_name(i));
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        foreign = !ours || lstat(path, &sb) != 0 || !S_ISREG(sb.st_mode);
        if (foreign) snprintf(what, n, "'%s'", e->d_name);
    }
    closedir(d);
    return foreign;
}

/* DIR's files (tern_cexport_file_name) into the fresh directory tmp. */
static tern_status write_files(const char *tmp, const text *h, const text *c) {
    char path[4096];
    for (int i = 0; tern_cexport_file_name(i); i++) {
        const void *data = i == 0 ? (const void *)h->s : i == 1 ? (const void *)c->s : tern_portable_files[i - 2].data;
        size_t size = i == 0 ? h->n : i == 1 ? c->n : tern_portable_files[i - 2].size;
        if (snprintf(path, sizeof path, "%s/%s", tmp, tern_cexport_file_name(i)) >= (int)sizeof path)
            return tern_error(TERN_ERR_IO, "%s: path too long", tmp);
        tern_status st = tern_fs_write_atomic(path, data, size);
        if (st) return st;
    }
    return TERN_OK;
}

tern_status tern_cexport_write(const tern_deploy *m, const char *dir, const tern_cexport_opts *o,
                               tern_cexport_report *r) {
    if (!dir || !*dir) return tern_error(TERN_ERR_ARG, "cexport: no output directory");
    struct stat sb;
    char what[300];
    if (lstat(dir, &sb) == 0) {
        if (!o || !o->force) return tern_error(TERN_ERR_IO, "%s: exists; pass --force to replace it", dir);
        if (S_ISLNK(sb.st_mode))
            return tern_error(TERN_ERR_IO, "%s: is a symbolic link; give the directory itself", dir);
        if (!S_ISDIR(sb.st_mode)) return tern_error(TERN_ERR_IO, "%s: exists and is not a directory", dir);
        if (foreign_entry(dir, what, sizeof what))
            return tern_error(TERN_ERR_IO, "%s: holds %s, not a file of a C export; not replacing it", dir, what);
    }
    plan P;
    int *dbuf = NULL;
    tern_status st = plan_make(m, o, &P, &dbuf);
    text h = {0}, c = {0};
    if (!st) {
        put_header(&h, m, &P);
        put_model(&c, m, &P);
        if (h.oom || c.oom) st = tern_error(TERN_ERR_NOMEM, "cexport: out of memory writing model.c");
    }
    char tmp[4096];
    int made = 0;
    if (!st) {
        tern_fs_tmp_name(tmp, sizeof tmp, dir);
        if (mkdir(tmp, 0755) != 0) st = tern_error(TERN_ERR_IO, "%s: cannot create it: %s", tmp, strerror(errno));
        else made = 1;
    }
    if (!st) st = write_files(tmp, &h, &c);
    if (!st) st = tern_fs_replace_dir(tmp, dir);
    if (st && made) tern_fs_remove_tree(tmp);
    if (!st) report_of(m, &P, r);
    free(h.s);
    free(c.s);
    free(P.p);
    free(dbuf);
    return st;
}
