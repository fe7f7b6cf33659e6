/* runtime.c — forward pass of a deploy model over planned buffers.
 *
 * Planning (once, in init; the slot planner is plan.c): layer i's output
 * needs max_batch * numel floats from when layer i runs until the last layer
 * that reads it (layer i+1, or a residual add naming it). Slots are handed
 * out greedily in layer order: a layer takes a free slot (one whose tenant
 * nobody reads any more) that is big enough, else the largest free one,
 * grown, else a new one. A chain of layers therefore ping-pongs between two
 * slots, and a residual's skip input holds a third only as long as it must.
 * flatten without an activation is a view of its input and takes no slot.
 *
 * Forward (tern/runtime.h on threads): run_layers is the loop body, layers
 * [l0, l1) on a range of samples on one thread; tern_runtime_forward only
 * splits the batch (or, at batch 1, a large layer's rows) and dispatches.
 *
 * The math of every layer is tern's training ops' eval semantics; ternary
 * layers are the shared kernels (tern/kernels.h), nothing else. */
#include "tern/runtime.h"

#include "io/dlayer.h"
#include "io/fsutil.h"
#include "kernels/dconv.h"
#include "kernels/dot.h"
#include "kernels/epilogue.h"
#include "kernels/fp32.h"
#include "kernels/kernels_impl.h"
#include "kernels/qconv.h"
#include "kernels/sgemm.h"
#include "runtime/plan.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/clock.h"
#include "tern/data.h"
#include "tern/pool.h"

#define ALIGN_FLOATS 16  /* 64 bytes */

/* At batch 1 a dense ternary linear layer of at least this many weights
 * (M K) has its rows split across the pool's threads; smaller ones cost
 * less than handing work to a worker. LeNet-5's fc1 (2^19 weights) takes
 * about 4 us on one thread, about what a hand-off can cost, so the bar is
 * 2^20 (measured on a busy machine, where a hand-off cost far more). */
#define ROW_SPLIT_MIN_WEIGHTS ((size_t)1 << 20)

/* Layer i's input shape: the previous layer's output, or the model's input. */
static void in_shape_of(const tern_deploy *m, int i, int *ndim, const int **shape) {
    if (i == 0) {
        *ndim = 3;
        *shape = m->in_shape;
    } else {
        *ndim = m->layers[i - 1].out_ndim;
        *shape = m->layers[i - 1].out_shape;
    }
}

/* flatten without an activation re-reads its input's memory. */
static int is_view(const tern_dlayer *L) { return L->type == TERN_DLAYER_FLATTEN && L->act == TERN_ACT_NONE; }

/* Layer i writes nothing: a view, or a layer a direct conv's epilogue computed. */
static int no_pass(const tern_runtime *rt, int i) { return is_view(&rt->model->layers[i]) || rt->fused_into[i] >= 0; }

/* A ternary conv that runs the direct int8 kernel (kernels/qconv.h): I8
 * mode, symmetric scales, and not zero-skipping. */
static int is_direct_conv(const tern_dlayer *L, tern_kact kact) {
    return L->ternary && L->type == TERN_DLAYER_CONV2D && kact == TERN_KACT_I8 && L->packed.symmetric;
}

/* Zero-skipping or dense, per layer (ZSKIP_AUTO): the zero fraction from
 * which `tern bench zskip` measured the zero-skipping kernel faster, by
 * activation mode and by samples per kernel call (the batch for linear,
 * OH*OW for conv); see tern/runtime.h. Above 1: never. */
static double zskip_threshold(tern_kact kact, int conv, int direct, int rows, size_t samples) {
    if (conv && direct) return rows >= 64 ? 2.0 : rows >= 32 ? 0.70 : 0.30;
    if (conv) return kact == TERN_KACT_I8 ? 0.30 : 0.0;
    if (kact == TERN_KACT_I8) return samples >= 32 ? 0.80 : 2.0;
    return samples >= 32 ? 0.20 : samples >= 8 ? 0.70 : 0.90;
}

static int is_ternary_gemm(const tern_dlayer *L) {
    return L->ternary && (L->type == TERN_DLAYER_LINEAR || L->type == TERN_DLAYER_CONV2D);
}

/* An fp32 conv's im2col columns (K, OH*OW) in bytes, rounded up to 64. */
static size_t col_bytes(const tern_dlayer *L) {
    const size_t b = sizeof(float) * (size_t)L->in_features * (size_t)L->out_shape[1] * (size_t)L->out_shape[2];
    return (b + 63) / 64 * 64;
}

/* Scratch bytes layer i needs on one thread for max_batch samples. */
static size_t layer_scratch(const tern_runtime *rt, int i, int max_batch) {
    const tern_dlayer *L = &rt->model->layers[i];
    const tern_kact kact = rt->kact[i];
    const tern_sparse *sp = rt->zskip[i] ? &rt->sparse[i] : NULL;
    int in_ndim;
    const int *in;
    in_shape_of(rt->model, i, &in_ndim, &in);
    if (L->type == TERN_DLAYER_LINEAR) {
        if (!L->ternary) return 0;  /* tern_kernel_linear_f32 needs none */
        return sp ? tern_sparse_gemm_scratch_bytes(sp, max_batch, kact)
                  : tern_kernel_gemm_scratch_bytes(&L->packed, max_batch, kact);
    }
    if (L->type != TERN_DLAYER_CONV2D) return 0;
    if (rt->qconv[i].wc) return tern_qconv_scratch_bytes(&rt->qconv[i]);
    if (L->ternary) {
        tern_conv2d_geom g = {in[0], in[1], in[2], L->kernel, L->kernel, L->stride, L->pad};
        return sp ? tern_sparse_conv2d_scratch_bytes(sp, &g, kact) : tern_kernel_conv2d_scratch_bytes(&L->packed, &g, kact);
    }
    /* fp32 conv: direct for few channels; else one image's im2col columns
     * (K, OH*OW), 64-byte aligned, then the GEMM's packing blocks. */
    if (in[0] <= TERN_DCONV_MAX_CIN) return 0;
    return col_bytes(L) + TERN_SGEMM_SCRATCH_BYTES;
}

/* Layer i's output slot in floats for max_batch samples, rounded up to the
 * alignment, into *need: in 64 bits with overflow checks, and with the
 * layer's kernel scratch (scratch bytes) within TERN_RUNTIME_MAX_BYTES, so a
 * model built or loaded with outlandish shapes is refused, naming the layer,
 * before anything is allocated. */
static tern_status slot_floats_of(const tern_deploy *m, int i, int max_batch, size_t scratch, size_t *need) {
    const tern_dlayer *L = &m->layers[i];
    unsigned long long n = (unsigned long long)max_batch;
    int over = 0;
    for (int k = 0; k < L->out_ndim; k++) {
        if (L->out_shape[k] < 1)
            return tern_error(TERN_ERR_SHAPE, "runtime: layer %d (%s) has an output dimension of %d", i, L->name,
                              L->out_shape[k]);
        over |= __builtin_mul_overflow(n, (unsigned long long)L->out_shape[k], &n);
    }
    const unsigned long long lim = TERN_RUNTIME_MAX_BYTES / sizeof(float);
    if (over || n > lim || scratch > TERN_RUNTIME_MAX_BYTES)
        return tern_error(TERN_ERR_NOMEM, "runtime: layer %d (%s) needs more than the runtime's bound of %.0f GiB of "
                          "buffers at batch %d; use a smaller batch", i, L->name,
                          (double)TERN_RUNTIME_MAX_BYTES / (1 << 30), max_batch);
    *need = (size_t)((n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS);
    return TERN_OK;
}

void tern_runtime_free(tern_runtime *rt) {
    if (!rt) return;
    free(rt->kact);
    if (rt->sparse && rt->model)
        for (int i = 0; i < rt->model->n_layers; i++) tern_sparse_free(&rt->sparse[i]);
    free(rt->sparse);
    if (rt->qconv && rt->model)
        for (int i = 0; i < rt->model->n_layers; i++) tern_qconv_free(&rt->qconv[i]);
    free(rt->qconv);
    free(rt->epi);
    free(rt->fused_into);
    free(rt->zskip);
    free(rt->slot);
    free(rt->stride);
    free((void *)rt->outp);
    free(rt->arena);
    free(rt->scratch);
    free(rt->layer_ns);
    memset(rt, 0, sizeof *rt);
}

tern_status tern_runtime_init(tern_runtime *rt, const tern_deploy *m, int max_batch, tern_runtime_act act) {
    const tern_runtime_opts o = {.max_batch = max_batch, .act = act, .zskip = TERN_RUNTIME_ZSKIP_AUTO};
    return tern_runtime_init_opts(rt, m, &o);
}

/* Layer i's kernel activation mode: forced by `act`, or (AUTO) 8-bit where
 * a ternary layer was trained with 8-bit activations. */
static tern_kact layer_kact(const tern_dlayer *L, tern_runtime_act act) {
    if (act == TERN_RUNTIME_ACT_I8) return TERN_KACT_I8;
    if (act == TERN_RUNTIME_ACT_F32) return TERN_KACT_F32;
    return L->ternary && L->act_bits == 8 ? TERN_KACT_I8 : TERN_KACT_F32;
}

/* Zero-skipping: the column lists of every ternary layer that may use
 * them, kept where the mode (or the measured rule) says so; *bytes their size. */
static tern_status choose_zskip(tern_runtime *rt, tern_runtime_zskip mode, size_t *bytes) {
    const tern_deploy *m = rt->model;
    *bytes = 0;
    for (int i = 0; mode != TERN_RUNTIME_ZSKIP_OFF && i < m->n_layers; i++) {
        const tern_dlayer *L = &m->layers[i];
        if (!is_ternary_gemm(L)) continue;
        tern_status st = tern_sparse_init(&rt->sparse[i], &L->packed);
        if (st) return tern_error(st, "runtime: layer %d (%s): %s", i, L->name, tern_errmsg());
        const int conv = L->type == TERN_DLAYER_CONV2D;
        const size_t samples = conv ? (size_t)L->out_shape[1] * L->out_shape[2] : (size_t)rt->max_batch;
        rt->zskip[i] = mode == TERN_RUNTIME_ZSKIP_ON ||
                       tern_sparse_zero_fraction(&rt->sparse[i]) >=
                           zskip_threshold(rt->kact[i], conv, is_direct_conv(L, rt->kact[i]), L->packed.rows, samples);
        if (rt->zskip[i]) *bytes += tern_sparse_bytes(&rt->sparse[i]);
        else tern_sparse_free(&rt->sparse[i]);
    }
    return TERN_OK;
}

/* The epilogue of layer i (one whose kernel fuses one: fuses()): its own activation, then while nothing
 * else reads the output they replace, an affine (when no activation comes
 * before it; its own activation follows) and a relu or hardtanh (when no
 * other activation comes before it), each marked as fused into i. */
static void plan_fusion(tern_runtime *rt, int i) {
    const tern_deploy *m = rt->model;
    tern_epilogue *e = &rt->epi[i];
    tern_act act = m->layers[i].act;
    for (int j = i + 1, last = i; j < m->n_layers && !tern_dlayer_read_by_add(m, last); last = j++) {
        const tern_dlayer *F = &m->layers[j];
        const tern_act fa = F->type == TERN_DLAYER_RELU ? TERN_ACT_RELU : TERN_ACT_HARDTANH;
        if (F->type == TERN_DLAYER_AFFINE && act == TERN_ACT_NONE && !e->center) {
            e->center = F->center, e->scale = F->scale, e->shift = F->bias;
            act = F->act;
        } else if ((F->type == TERN_DLAYER_RELU || F->type == TERN_DLAYER_HARDTANH) && F->act == TERN_ACT_NONE &&
                   (act == TERN_ACT_NONE || act == fa)) {
            act = fa;
        } else {
            break;
        }
        rt->fused_into[j] = i;
    }
    e->act = tern_dlayer_epi_act(act);
}

/* 1 when layer i's kernel applies rt->epi[i] in its store: the direct
 * int8 conv, the direct fp32 conv (few input channels), a dense ternary
 * linear layer, an fp32 linear layer. */
static int fuses(const tern_runtime *rt, int i) {
    const tern_dlayer *L = &rt->model->layers[i];
    int in_ndim;
    const int *in;
    in_shape_of(rt->model, i, &in_ndim, &in);
    if (rt->qconv[i].wc) return 1;
    if (L->type == TERN_DLAYER_LINEAR) return !L->ternary || !rt->zskip[i];
    return L->type == TERN_DLAYER_CONV2D && !L->ternary && in[0] <= TERN_DCONV_MAX_CIN;
}

/* The direct int8 convs' weights, re-laid once, and the epilogue of every
 * layer whose kernel fuses one. */
static tern_status plan_kernels(tern_runtime *rt) {
    const tern_deploy *m = rt->model;
    for (int i = 0; i < m->n_layers; i++) rt->fused_into[i] = -1;
    for (int i = 0; i < m->n_layers; i++) {
        const tern_dlayer *L = &m->layers[i];
        if (is_direct_conv(L, rt->kact[i]) && !rt->zskip[i]) {
            int in_ndim;
            const int *in;
            in_shape_of(m, i, &in_ndim, &in);
            const tern_conv2d_geom g = {in[0], in[1], in[2], L->kernel, L->kernel, L->stride, L->pad};
            tern_status st = tern_qconv_init(&rt->qconv[i], &L->packed, &g);
            if (st) return tern_error(st, "runtime: layer %d (%s): %s", i, L->name, tern_errmsg());
        }
        if (fuses(rt, i)) plan_fusion(rt, i);
    }
    return TERN_OK;
}

/* Every layer's output size and kernel scratch (bounded, naming the layer),
 * the slots that hold the outputs (plan.c), one arena for them and one
 * scratch buffer; *bytes the two together. */
static tern_status alloc_buffers(tern_runtime *rt, size_t *bytes) {
    const tern_deploy *m = rt->model;
    const int n = m->n_layers;
    tern_plan_layer *pl = malloc(sizeof *pl * (size_t)n);
    int *slot_of = malloc(sizeof(int) * (size_t)n);
    size_t *slot_floats = malloc(sizeof(size_t) * (size_t)n), scratch = 0, total = 0;
    int n_slots = 0;
    tern_status st = pl && slot_of && slot_floats ? TERN_OK
                     : tern_error(TERN_ERR_NOMEM, "runtime: out of memory planning %d layers", n);
    /* A thread runs at most this many samples per call (forward's split). */
    const int chunk = (rt->max_batch + rt->threads - 1) / rt->threads;
    for (int i = 0; !st && i < n; i++) {
        const tern_dlayer *L = &m->layers[i];
        size_t s = layer_scratch(rt, i, chunk);
        if (s > scratch) scratch = s;
        pl[i] = (tern_plan_layer){.view = no_pass(rt, i), .from = L->type == TERN_DLAYER_ADD ? L->from : -1};
        st = slot_floats_of(m, i, rt->max_batch, s, &pl[i].floats);
    }
    if (!st) st = tern_runtime_plan_slots(pl, n, slot_of, slot_floats, &n_slots);
    for (int k = 0; !st && k < n_slots; k++) total += slot_floats[k];  /* each <= the bound / 4: no wrap */
    scratch = (scratch + 63) / 64 * 64;
    const size_t per_thread = scratch;
    scratch *= (size_t)rt->threads;  /* one block per thread: each <= the bound, and at most 64 of them */
    if (!st && (total > TERN_RUNTIME_MAX_BYTES / sizeof(float) ||
                scratch + total * sizeof(float) > TERN_RUNTIME_MAX_BYTES))
        st = tern_error(TERN_ERR_NOMEM, "runtime: batch %d needs %.1f GiB of buffers, more than the runtime's bound of "
                        "%.0f GiB; use a smaller batch", rt->max_batch,
                        ((double)total * sizeof(float) + (double)scratch) / (1 << 30),
                        (double)TERN_RUNTIME_MAX_BYTES / (1 << 30));
    if (!st) {
        rt->arena = aligned_alloc(64, (total ? total : ALIGN_FLOATS) * sizeof(float));
        rt->scratch_bytes = per_thread;
        rt->scratch = scratch ? aligned_alloc(64, scratch) : NULL;
        if (!rt->arena || (scratch && !rt->scratch))
            st = tern_error(TERN_ERR_NOMEM, "runtime: cannot allocate %zu bytes of buffers", total * sizeof(float) + scratch);
    }
    /* Slot k starts after slots 0..k-1 (slot_floats becomes the offsets);
     * a view has no buffer of its own. */
    size_t off = 0;
    for (int k = 0; !st && k < n_slots; k++) {
        size_t size = slot_floats[k];
        slot_floats[k] = off;
        off += size;
    }
    for (int i = 0; !st && i < n; i++) rt->slot[i] = pl[i].view ? NULL : rt->arena + slot_floats[slot_of[i]];
    /* A batch split runs its parts out of step, so a part must never write
     * where another reads, whichever tenants of a slot they are at: part
     * [b0, b1) of every tenant of slot k starts at b0 S_k, with S_k the
     * largest tenant's floats per sample (the slot holds max_batch S_k). */
    size_t widest = 1;
    for (int i = 0; !st && i < n; i++) {
        if (pl[i].view) {
            rt->stride[i] = i ? rt->stride[i - 1] : rt->in_numel;
            continue;
        }
        size_t big = 0;
        for (int k = 0; k < n; k++)
            if (!pl[k].view && slot_of[k] == slot_of[i]) {
                size_t e = tern_shape_numel(m->layers[k].out_ndim, m->layers[k].out_shape);
                big = e > big ? e : big;
            }
        rt->stride[i] = big;
        widest = big > widest ? big : widest;
    }
    /* Samples per pass through the layers: as many as keep a layer's input
     * and output, at most 2 widest S_k floats a sample, within
     * TERN_RUNTIME_PASS_BYTES, so they stay in L2 from one layer to the
     * next (each sample is computed alone, so any pass size gives the same
     * bits). */
    const size_t per = 2 * sizeof(float) * widest;
    rt->chunk = per >= TERN_RUNTIME_PASS_BYTES ? 1 : (int)(TERN_RUNTIME_PASS_BYTES / per);
    *bytes = st ? 0 : total * sizeof(float) + scratch;
    free(pl);
    free(slot_of);
    free(slot_floats);
    return st;
}

tern_status tern_runtime_init_opts(tern_runtime *rt, const tern_deploy *m, const tern_runtime_opts *o) {
    memset(rt, 0, sizeof *rt);
    if (!o) return tern_error(TERN_ERR_ARG, "runtime: no options");
    if (!m || !m->layers || m->n_layers < 1) return tern_error(TERN_ERR_ARG, "runtime: empty model");
    if (o->max_batch < 1) return tern_error(TERN_ERR_ARG, "runtime: max_batch %d must be >= 1", o->max_batch);
    if (o->act < TERN_RUNTIME_ACT_AUTO || o->act > TERN_RUNTIME_ACT_F32)
        return tern_error(TERN_ERR_ARG, "runtime: unknown activation mode %d", (int)o->act);
    if (o->zskip < TERN_RUNTIME_ZSKIP_AUTO || o->zskip > TERN_RUNTIME_ZSKIP_ON)
        return tern_error(TERN_ERR_ARG, "runtime: unknown zero-skipping mode %d", (int)o->zskip);
    tern_status kst = tern_kernel_resolve(o->kernel, &rt->kernel);
    if (kst) return kst;
    const int n = m->n_layers;
    rt->model = m;
    rt->max_batch = o->max_batch;
    rt->act = o->act;
    rt->pool = o->pool;
    rt->threads = tern_pool_threads(o->pool);
    /* tern's GEMM on the avx512 path, else its plain loops (the scalar
     * path's reference, which the C export follows): never OpenBLAS, which
     * must not run on several threads at once. The choice depends on the
     * path only, so any thread count gives the same bits. */
    rt->sgemm_fast = rt->kernel == TERN_KERNEL_AVX512 && tern_sgemm_resolve(TERN_SGEMM_AUTO) == TERN_SGEMM_AVX512;
    rt->in_numel = tern_shape_numel(3, m->in_shape);
    rt->kact = calloc((size_t)n, sizeof *rt->kact);
    rt->zskip = calloc((size_t)n, 1);
    rt->sparse = calloc((size_t)n, sizeof *rt->sparse);
    rt->slot = calloc((size_t)n, sizeof *rt->slot);
    rt->stride = calloc((size_t)n, sizeof *rt->stride);
    rt->outp = calloc((size_t)n, sizeof *rt->outp);
    rt->layer_ns = o->time_layers ? calloc((size_t)n, sizeof *rt->layer_ns) : NULL;
    rt->qconv = calloc((size_t)n, sizeof *rt->qconv);
    rt->epi = calloc((size_t)n, sizeof *rt->epi);
    rt->fused_into = malloc(sizeof(int) * (size_t)n);
    if (!rt->kact || !rt->zskip || !rt->sparse || !rt->slot || !rt->stride || !rt->outp ||
        (o->time_layers && !rt->layer_ns) || !rt->qconv || !rt->epi || !rt->fused_into) {
        tern_runtime_free(rt);
        return tern_error(TERN_ERR_NOMEM, "runtime: out of memory planning %d layers", n);
    }
    for (int i = 0; i < n; i++) rt->kact[i] = layer_kact(&m->layers[i], o->act);
    size_t sparse_bytes = 0, buffer_bytes = 0;
    tern_status st = choose_zskip(rt, o->zskip, &sparse_bytes);
    if (!st) st = plan_kernels(rt);
    if (!st) st = alloc_buffers(rt, &buffer_bytes);
    if (st) {
        tern_runtime_free(rt);
        return st;
    }
    rt->planned_bytes = buffer_bytes + sparse_bytes;
    return TERN_OK;
}

void tern_runtime_layer_path(const tern_runtime *rt, int i, char *buf, size_t n) {
    const tern_dlayer *L = &rt->model->layers[i];
    int in_ndim;
    const int *in;
    in_shape_of(rt->model, i, &in_ndim, &in);
    if (rt->fused_into[i] >= 0)
        snprintf(buf, n, "fused");
    else if (L->ternary)
        snprintf(buf, n, "%s/%s", tern_kernel_name(rt->kernel), rt->kact[i] == TERN_KACT_I8 ? "i8" : "f32");
    else if (L->type == TERN_DLAYER_LINEAR)
        snprintf(buf, n, "dot");
    else if (L->type == TERN_DLAYER_CONV2D)
        snprintf(buf, n, in[0] <= TERN_DCONV_MAX_CIN ? "dconv" : "sgemm");
    else
        snprintf(buf, n, "loop");
}

size_t tern_runtime_planned_bytes(const tern_runtime *rt) { return rt ? rt->planned_bytes : 0; }

/* ---- layers on plain loops --------------------------------------------------- */

/* y = act(x), one pass; y may be x. */
static void act_into(tern_act act, float *y, const float *x, size_t n) {
    /* x < 0 ? 0 : x lets a NaN through, as the training op does. */
    const tern_epilogue e = {.act = tern_dlayer_epi_act(act)};
    if (act != TERN_ACT_NONE)
        for (size_t i = 0; i < n; i++) y[i] = tern_epi_apply(&e, 0, x[i]);
    else if (y != x)
        memcpy(y, x, sizeof(float) * n);
}

static void apply_act(tern_act act, float *y, size_t n) { act_into(act, y, y, n); }

/* Max or average pooling of planes (H,W) -> (OH,OW): the same kernels the
 * training ops run (src/kernels/fp32.c). */
static void pool(const tern_dlayer *L, const float *x, size_t planes, int H, int W, float *y) {
    if (L->type == TERN_DLAYER_MAXPOOL)
        tern_kernel_maxpool2d_f32(x, planes, H, W, L->kernel, L->stride, L->pad, L->out_shape[1], L->out_shape[2], y,
                                  NULL);
    else
        tern_kernel_avgpool2d_f32(x, planes, H, W, L->kernel, L->stride, L->pad, L->out_shape[1], L->out_shape[2], y);
}

/* C (M, N) = A B + C on tern's own GEMM (see init): row-major, B stored
 * (N, K) when transB. scratch: TERN_SGEMM_SCRATCH_BYTES. */
static void sgemm_acc(const tern_runtime *rt, void *scratch, int transB, int M, int N, int K, const float *A,
                      const float *B, float *C) {
    const int ldb = transB ? K : N;
    if (rt->sgemm_fast)
        tern_sgemm(TERN_SGEMM_AVX512, scratch, 0, transB, M, N, K, A, K, B, ldb, 1.0f, C, N);
    else
        tern_sgemm_ref(0, transB, M, N, K, A, K, B, ldb, 1.0f, C, N);
}

/* y (n, M, OH, OW) = conv(x (n, C, H, W)): with few input channels the
 * direct conv with epilogue e fused (*fused = 1); else im2col + GEMM per
 * image. */
static void conv_fp32(const tern_runtime *rt, const tern_dlayer *L, const int *in, const float *x, int n, float *y,
                      void *scratch, const tern_epilogue *e, int *fused) {
    const int C = in[0], H = in[1], W = in[2], k = L->kernel, s = L->stride, p = L->pad;
    const int M = L->out_shape[0], OH = L->out_shape[1], OW = L->out_shape[2], K = L->in_features;
    const size_t P = (size_t)OH * OW;
    if (C <= TERN_DCONV_MAX_CIN) {
        const tern_conv2d_geom g = {C, H, W, k, k, s, p};
        tern_dconv_f32(rt->kernel, &g, M, L->weight, L->bias, e, x, n, y);
        *fused = 1;
        return;
    }
    float *col = scratch;  /* (K, P) */
    void *gemm_scratch = (char *)scratch + col_bytes(L);
    for (int b = 0; b < n; b++) {
        tern_kernel_im2col_f32(x + (size_t)b * C * H * W, C, H, W, k, k, s, p, OH, OW, col);
        float *yb = y + (size_t)b * M * P;  /* (M, P) */
        for (int r = 0; r < M; r++)
            for (size_t q = 0; q < P; q++) yb[(size_t)r * P + q] = L->bias[r];
        sgemm_acc(rt, gemm_scratch, 0, M, (int)P, K, L->weight, col, yb);
    }
}

/* Layer i on n samples: xi (n, in) -> y (n, out) with the scratch block of
 * one thread; the layer's activation applied unless its kernel fused it. */
static tern_status run_layer(const tern_runtime *rt, int i, const float *xi, int n, float *y, const float *from,
                             void *scratch) {
    const tern_deploy *m = rt->model;
    const tern_dlayer *L = &m->layers[i];
    int in_ndim, fused = 0;
    const int *ish;
    in_shape_of(m, i, &in_ndim, &ish);
    const size_t out_n = tern_shape_numel(L->out_ndim, L->out_shape), in_n = tern_shape_numel(in_ndim, ish);
    const size_t sb = rt->scratch_bytes;
    tern_status st = TERN_OK;
    switch (L->type) {
    case TERN_DLAYER_LINEAR:
        if (L->ternary && rt->zskip[i])
            st = tern_sparse_gemm(rt->kernel, &rt->sparse[i], xi, n, L->bias, y, rt->kact[i], scratch, sb);
        else if (L->ternary)
            st = tern_kernel_gemm_epi(rt->kernel, &L->packed, xi, n, L->bias, &rt->epi[i], y, rt->kact[i], scratch, sb),
            fused = 1;
        else
            tern_kernel_linear_f32(xi, n, L->weight, L->bias, L->out_shape[0], L->in_features, &rt->epi[i], y),
            fused = 1;
        break;
    case TERN_DLAYER_CONV2D:
        if (rt->qconv[i].wc) {
            st = tern_qconv_run(rt->kernel, &rt->qconv[i], xi, n, L->bias, &rt->epi[i], y, scratch, sb);
            fused = 1;  /* its epilogue applied the activation */
        } else if (L->ternary) {
            tern_conv2d_geom g = {ish[0], ish[1], ish[2], L->kernel, L->kernel, L->stride, L->pad};
            st = rt->zskip[i]
                     ? tern_sparse_conv2d(rt->kernel, &rt->sparse[i], &g, xi, n, L->bias, y, rt->kact[i], scratch, sb)
                     : tern_kernel_conv2d(rt->kernel, &L->packed, &g, xi, n, L->bias, y, rt->kact[i], scratch, sb);
        } else {
            conv_fp32(rt, L, ish, xi, n, y, scratch, &rt->epi[i], &fused);
        }
        break;
    case TERN_DLAYER_AFFINE: {
        const int C = L->in_channels;
        const size_t HW = in_n / (size_t)C;
        for (int b = 0; b < n; b++)
            for (int c = 0; c < C; c++) {
                const size_t off = ((size_t)b * C + c) * HW;
                const tern_epilogue e = {L->center, L->scale, L->bias, TERN_EPI_NONE};
                for (size_t j = 0; j < HW; j++) y[off + j] = tern_epi_apply(&e, c, xi[off + j]);
            }
        break;
    }
    case TERN_DLAYER_MAXPOOL:
    case TERN_DLAYER_AVGPOOL: pool(L, xi, (size_t)n * ish[0], ish[1], ish[2], y); break;
    case TERN_DLAYER_GLOBAL_AVGPOOL: {
        const size_t HW = (size_t)ish[1] * ish[2];
        /* Summed in double, as the training op does. */
        for (size_t q = 0; q < (size_t)n * ish[0]; q++) {
            double sum = 0.0;
            for (size_t j = 0; j < HW; j++) sum += xi[q * HW + j];
            y[q] = (float)(sum / (double)HW);
        }
        break;
    }
    case TERN_DLAYER_ADD:
        for (size_t j = 0; j < (size_t)n * out_n; j++) y[j] = xi[j] + from[j];
        break;
    case TERN_DLAYER_RELU:
    case TERN_DLAYER_HARDTANH:
    case TERN_DLAYER_FLATTEN:
        act_into(L->type == TERN_DLAYER_RELU       ? TERN_ACT_RELU
                 : L->type == TERN_DLAYER_HARDTANH ? TERN_ACT_HARDTANH
                                                   : TERN_ACT_NONE,
                 y, xi, (size_t)n * out_n);
        break;
    default: return tern_error(TERN_ERR_ARG, "runtime: layer %d has unknown type %d", i, (int)L->type);
    }
    if (st) return st == TERN_ERR_NOMEM ? st : tern_error(st, "runtime: layer %d (%s): %s", i, L->name, tern_errmsg());
    if (!fused) apply_act(L->act, y, (size_t)n * out_n);
    return TERN_OK;
}

/* Layers [l0, l1) on samples [b0, b1) of the batch, on one thread with
 * that thread's scratch: the loop body of forward. rt->outp holds each
 * layer's buffer (views: their input's); this range of samples reads and
 * writes its own part of them, b0 rt->stride[i] floats in. Times the layers into
 * rt->layer_ns when `timed` (one thread only). */
static tern_status run_layers(tern_runtime *rt, const float *x, int l0, int l1, int b0, int b1, int thread,
                              int timed) {
    const tern_deploy *m = rt->model;
    void *scratch = rt->scratch ? (char *)rt->scratch + (size_t)thread * rt->scratch_bytes : NULL;
    for (int i = l0; i < l1; i++) {
        const tern_dlayer *L = &m->layers[i];
        if (no_pass(rt, i)) continue;
        const double t0 = timed && rt->layer_ns ? tern_clock_now_s() : 0.0;
        const float *xi = i ? rt->outp[i - 1] + (size_t)b0 * rt->stride[i - 1] : x + (size_t)b0 * rt->in_numel;
        const float *from = L->type == TERN_DLAYER_ADD ? rt->outp[L->from] + (size_t)b0 * rt->stride[L->from] : NULL;
        tern_status st = run_layer(rt, i, xi, b1 - b0, rt->slot[i] + (size_t)b0 * rt->stride[i], from, scratch);
        if (st) return st;
        if (timed && rt->layer_ns) rt->layer_ns[i] += 1e9 * (tern_clock_now_s() - t0);
    }
    return TERN_OK;
}

/* One forward's work for the pool: tasks and what each returned. A task's
 * error message lives on its thread; msg carries it back to the caller. */
typedef struct fwd_job {
    tern_runtime *rt;
    const float *x;
    int n, tasks, layer;       /* layer: the row-split layer (batch 1), else -1 */
    tern_status st[TERN_POOL_MAX_THREADS];
    char msg[TERN_POOL_MAX_THREADS][256];
} fwd_job;

static void fwd_record(fwd_job *j, int task, tern_status st) {
    j->st[task] = st;
    if (st) snprintf(j->msg[task], sizeof j->msg[task], "%s", tern_errmsg());
}

/* Samples [b0, b1) through every layer on one thread, in passes of at
 * most rt->chunk samples, so a layer reads its input from cache. */
static tern_status run_chunks(tern_runtime *rt, const float *x, int b0, int b1, int thread, int timed) {
    for (int c = b0; c < b1; c += rt->chunk) {
        const int c1 = b1 - c < rt->chunk ? b1 : c + rt->chunk;
        tern_status st = run_layers(rt, x, 0, rt->model->n_layers, c, c1, thread, timed);
        if (st) return st;
    }
    return TERN_OK;
}

/* Task t of a batch split: every layer on its contiguous part of the samples. */
static void fwd_samples_task(void *arg, int task, int thread) {
    fwd_job *j = arg;
    size_t lo, hi;
    tern_pool_range((size_t)j->n, j->tasks, task, &lo, &hi);
    fwd_record(j, task, run_chunks(j->rt, j->x, (int)lo, (int)hi, thread, task == 0));
}

/* The logits of every pass side by side, (n, K), for the caller: pass
 * [c, c1) left them at z + c stride, packed by K; moved down in order, no
 * pass overwrites one still to move. */
static void pack_logits(const tern_runtime *rt, const float *x, int n, int tasks) {
    const int last = rt->model->n_layers - 1;
    const size_t K = tern_shape_numel(rt->model->layers[last].out_ndim, rt->model->layers[last].out_shape);
    float *z = (float *)rt->outp[last];  /* a slot, unless the model is a view of its input */
    if (rt->stride[last] == K || z == x) return;
    for (int t = 0; t < tasks; t++) {
        size_t lo, hi;
        tern_pool_range((size_t)n, tasks, t, &lo, &hi);
        for (size_t c = lo; c < hi; c += (size_t)rt->chunk) {
            const size_t c1 = hi - c < (size_t)rt->chunk ? hi : c + (size_t)rt->chunk;
            if (c) memmove(z + c * K, z + c * rt->stride[last], sizeof(float) * (c1 - c) * K);
        }
    }
}

/* Task t of a row split (batch 1): the dense ternary linear layer j->layer
 * on its part of the output rows, in blocks of 8 so each part is tiled as
 * the whole matrix would be. The view keeps the matrix's symmetric flag,
 * hence its epilogue: the bits do not depend on the split. */
static void fwd_rows_task(void *arg, int task, int thread) {
    fwd_job *j = arg;
    const tern_runtime *rt = j->rt;
    const tern_dlayer *L = &rt->model->layers[j->layer];
    const int M = L->out_shape[0];
    size_t lo, hi;
    tern_pool_range((size_t)(M + 7) / 8, j->tasks, task, &lo, &hi);
    const int r0 = 8 * (int)lo, r1 = 8 * (int)hi < M ? 8 * (int)hi : M;
    if (r0 >= r1) {
        j->st[task] = TERN_OK;
        return;
    }
    tern_packed v = L->packed;
    v.rows = r1 - r0;
    v.qs += (size_t)r0 * v.row_bytes;
    v.wp += r0;
    v.wn += r0;
    const float *xi = j->layer ? rt->outp[j->layer - 1] : j->x;
    float *y = rt->slot[j->layer] + r0;
    const tern_epilogue *E = &rt->epi[j->layer];  /* its rows r0.. */
    const tern_epilogue e = {E->center ? E->center + r0 : NULL, E->center ? E->scale + r0 : NULL,
                             E->center ? E->shift + r0 : NULL, E->act};
    tern_status st = tern_kernel_gemm_epi(rt->kernel, &v, xi, 1, L->bias + r0, &e, y, rt->kact[j->layer],
                                          (char *)rt->scratch + (size_t)thread * rt->scratch_bytes, rt->scratch_bytes);
    if (st && st != TERN_ERR_NOMEM) st = tern_error(st, "runtime: layer %d (%s): %s", j->layer, L->name, tern_errmsg());
    fwd_record(j, task, st);
}

/* 1 when layer i runs with its rows split at batch 1. */
static int row_split(const tern_runtime *rt, int i) {
    const tern_dlayer *L = &rt->model->layers[i];
    return rt->threads > 1 && L->type == TERN_DLAYER_LINEAR && L->ternary && !rt->zskip[i] &&
           (size_t)L->out_shape[0] * L->in_features >= ROW_SPLIT_MIN_WEIGHTS;
}

/* The first failed task's status, its message raised again on this thread. */
static tern_status fwd_status(const fwd_job *j) {
    for (int t = 0; t < j->tasks; t++)
        if (j->st[t]) return tern_error(j->st[t], "%s", j->msg[t]);
    return TERN_OK;
}

/* Batch 1: the layers in order on this thread, except the row-split ones,
 * which the pool's threads share. */
static tern_status forward_one(tern_runtime *rt, const float *x, fwd_job *j) {
    const int n = rt->model->n_layers;
    int l0 = 0;
    for (int i = 0; i <= n; i++) {
        if (i < n && !row_split(rt, i)) continue;
        tern_status st = run_layers(rt, x, l0, i, 0, 1, 0, 1);
        if (st || i == n) return st;
        const double t0 = rt->layer_ns ? tern_clock_now_s() : 0.0;
        j->layer = i;
        j->tasks = rt->threads;
        tern_pool_for(rt->pool, j->tasks, 0, fwd_rows_task, j);
        if ((st = fwd_status(j))) return st;
        if (rt->layer_ns) rt->layer_ns[i] += 1e9 * (tern_clock_now_s() - t0);
        l0 = i + 1;
    }
    return TERN_OK;
}

tern_status tern_runtime_forward(tern_runtime *rt, const tern_tensor *x, const float **logits) {
    if (!rt || !rt->model || !x || !x->data || !logits) return tern_error(TERN_ERR_ARG, "runtime: NULL argument");
    const tern_deploy *m = rt->model;
    char sx[TERN_SHAPE_STR_LEN];
    if (x->ndim != 4 || x->shape[1] != m->in_shape[0] || x->shape[2] != m->in_shape[1] ||
        x->shape[3] != m->in_shape[2])
        return tern_error(TERN_ERR_SHAPE, "runtime: input %s does not match the model's (N,%d,%d,%d)",
                          tern_shape_str(x, sx, sizeof sx), m->in_shape[0], m->in_shape[1], m->in_shape[2]);
    const int n = x->shape[0];
    if (n < 1 || n > rt->max_batch)
        return tern_error(TERN_ERR_SHAPE, "runtime: batch %d is outside 1..%d, the batch the runtime was planned for", n,
                          rt->max_batch);
    /* Where each layer's whole-batch output is: its slot, or for a view its input's. */
    for (int i = 0; i < m->n_layers; i++)
        rt->outp[i] = no_pass(rt, i) ? (i ? rt->outp[i - 1] : x->data) : rt->slot[i];
    fwd_job j = {.rt = rt, .x = x->data, .n = n, .layer = -1};
    tern_status st;
    if (n == 1) {
        st = forward_one(rt, x->data, &j);
    } else {
        j.tasks = n < rt->threads ? n : rt->threads;
        if (j.tasks == 1) st = run_chunks(rt, x->data, 0, n, 0, 1);
        else tern_pool_for(rt->pool, j.tasks, 0, fwd_samples_task, &j), st = fwd_status(&j);
        if (!st) pack_logits(rt, x->data, n, j.tasks);
    }
    if (!st) *logits = rt->outp[m->n_layers - 1];
    return st;
}

/* ---- inputs and outputs ------------------------------------------------------- */

void tern_runtime_normalize(const tern_deploy *m, const unsigned char *pixels, float *x) {
    const int C = m->in_shape[0];
    const size_t HW = (size_t)m->in_shape[1] * m->in_shape[2];
    for (int c = 0; c < C; c++)
        for (size_t j = 0; j < HW; j++)
            x[(size_t)c * HW + j] = tern_pt_normalize(pixels[(size_t)c * HW + j], m->mean[c], m->std[c]);
}

tern_status tern_runtime_read_input(const tern_deploy *m, const char *path, float *x) {
    if (!m || !path || !x) return tern_error(TERN_ERR_ARG, "runtime: read_input given NULL");
    const int C = m->in_shape[0], H = m->in_shape[1], W = m->in_shape[2];
    const size_t need = (size_t)C * H * W, HW = (size_t)H * W;
    /* An image (PNG, JPEG, PNM) through the datasets' reader, converted to
     * the model's channels as the folder dataset converts; else raw bytes. */
    tern_image img;
    tern_status st = tern_image_read(path, &img);
    if (st == TERN_OK) {
        if (img.h != H || img.w != W)
            st = tern_error(TERN_ERR_SHAPE, "%s: image is %dx%d with %d channel(s) but the model takes %dx%d with %d",
                            path, img.w, img.h, img.c, W, H, C);
        else if (C != 1 && C != 3)
            st = tern_error(TERN_ERR_SHAPE, "%s: the model takes %d channels; only a raw input can give them", path, C);
        else if (!(st = tern_image_convert(&img, path, C, H, W, 0, x)))
            for (int c = 0; c < C; c++)
                for (size_t j = 0; j < HW; j++) x[c * HW + j] = (x[c * HW + j] - m->mean[c]) / m->std[c];
        tern_image_free(&img);
        return st;
    }
    if (st != TERN_ERR_UNSUPPORTED) return st;
    st = TERN_OK;
    FILE *f = NULL;
    tern_status opened = tern_fs_fopen_regular(path, "rb", &f, NULL);
    if (opened) return opened;
    unsigned char *px = malloc(need + 1);
    if (!px) {
        fclose(f);
        return tern_error(TERN_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t k = fread(px, 1, need + 1, f);
    fclose(f);
    if (k != need)
        st = tern_error(TERN_ERR_SHAPE, "%s: a raw input must be C*H*W = %d*%d*%d = %zu bytes, this one is %s%zu; "
                        "or give a PNG, JPEG or PGM/PPM image of %dx%d", path, C, H, W, need, k > need ? "longer than " : "",
                        k > need ? need : k, W, H);
    if (!st) tern_runtime_normalize(m, px, x);
    free(px);
    return st;
}

void tern_runtime_softmax(const float *z, int k, float *p) {
    float mx = z[0];
    for (int j = 1; j < k; j++) mx = z[j] > mx ? z[j] : mx;
    double sum = 0.0;
    for (int j = 0; j < k; j++) sum += exp((double)z[j] - mx);
    for (int j = 0; j < k; j++) p[j] = (float)(exp((double)z[j] - mx) / sum);
}

tern_status tern_runtime_evaluate(tern_runtime *rt, const tern_dataset *ds, tern_runtime_eval *r) {
    if (!rt || !rt->model || !ds || !r) return tern_error(TERN_ERR_ARG, "runtime: evaluate given NULL");
    int *pred = r->pred;
    float *logits = r->logits;
    memset(r, 0, sizeof *r);
    r->pred = pred;
    r->logits = logits;
    const tern_deploy *m = rt->model;
    if (ds->c != m->in_shape[0] || ds->h != m->in_shape[1] || ds->w != m->in_shape[2])
        return tern_error(TERN_ERR_SHAPE, "runtime: dataset images (%d,%d,%d) do not match the model's input (%d,%d,%d)",
                          ds->c, ds->h, ds->w, m->in_shape[0], m->in_shape[1], m->in_shape[2]);
    const size_t per = (size_t)ds->c * ds->h * ds->w;
    const int K = m->n_classes;
    for (int i = 0; i < ds->n; i += rt->max_batch) {
        int n = ds->n - i < rt->max_batch ? ds->n - i : rt->max_batch;
        int shape[4] = {n, ds->c, ds->h, ds->w};
        tern_tensor x = tern_tensor_view(ds->images + per * (size_t)i, NULL, 4, shape);
        const float *z;
        tern_status st = tern_runtime_forward(rt, &x, &z);
        if (st) return st;
        if (logits) memcpy(logits + (size_t)i * K, z, sizeof(float) * (size_t)n * K);
        for (int j = 0; j < n; j++) {
            const float *zj = z + (size_t)j * K;
            int best = 0;
            for (int k = 1; k < K; k++)
                if (zj[k] > zj[best]) best = k;
            if (pred) pred[i + j] = best;
            r->correct += best == ds->labels[i + j];
        }
        r->n += n;
    }
    r->acc = r->n ? (float)r->correct / (float)r->n : NAN;
    return TERN_OK;
}
