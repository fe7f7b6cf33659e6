/* tern/runtime.h — the inference engine: runs a deploy model (tern/deploy.h)
 * forward, with no autograd and no allocation after init.
 *
 * tern_runtime_init plans once for a batch capacity: every layer's output
 * gets a slot in a few shared buffers (a slot is reused once no later layer
 * or residual add reads its tenant; flatten is a view), and one scratch
 * block per thread serves that thread's kernel calls. tern_runtime_planned_bytes reports the
 * total (activations, scratch and the zero-skipping column lists), for the
 * profiler.
 *
 * Layers run on:
 *   - ternary linear/conv2d: the packed kernels (tern/kernels.h) only,
 *     never OpenBLAS. A layer trained with 8-bit activations (act_bits 8)
 *     runs TERN_KACT_I8, which is the training fake-quant bit for bit
 *     (per-sample absmax, round half to even) with an exact integer sum; a
 *     layer trained on float inputs runs TERN_KACT_F32 (exact adds and
 *     subtracts of the fp32 activations). The `act` option forces one mode
 *     on every ternary layer. A ternary conv in I8 mode with symmetric
 *     scales runs the direct int8 conv (no im2col; weights re-laid at init,
 *     the batch's images one after another on the same weights); TTQ convs
 *     and F32 mode run tern_kernel_conv2d (im2col).
 *   - fp32 conv2d with at most 4 input channels (a first conv on grey or
 *     RGB images): the direct conv (src/kernels/dconv.h). fp32 linear
 *     layers: 16-lane dot products in tiles of 4 samples x 4 rows
 *     (src/kernels/dot.h), one order of summation per output at any batch.
 *     Other fp32 conv2d: im2col per image and tern's own GEMM
 *     (src/kernels/sgemm.h: AVX-512 on the avx512 path, plain loops on the others).
 *     Never OpenBLAS, which must not run on several threads at once.
 *   - Fused epilogues: the direct convs and the dense ternary and fp32
 *     linear layers apply in their store their own activation and then the affine, relu
 *     and hardtanh layers right after them (when no residual add reads what
 *     those replace): such layers take no slot and no pass (fused_into).
 *   - affine, pools, relu, hardtanh, add: plain loops, with PyTorch's
 *     semantics as tern's training ops have them (avgpool counts padding).
 *
 * Threads: opts.pool (tern/pool.h), borrowed, lends its threads. A batch
 * of n >= 2 is split into min(n, threads) contiguous parts of samples, and
 * each thread runs every layer on its part (in passes of rt->chunk samples,
 * TERN_RUNTIME_PASS_BYTES) with its own kernel scratch,
 * writing its rows of the shared buffers (every layer works per sample:
 * int8 scales are per sample, there are no batch statistics). At batch 1
 * the layers run on the caller's thread, except dense ternary linear
 * layers of at least 2^20 weights (M K), whose output rows are split across
 * the threads in blocks of 8 (smaller layers cost less than the wake-up).
 * Every output is computed by the same operations whatever the split, so
 * the logits are the same bits with no pool and with a pool of any size.
 * With opts.time_layers each forward adds every layer's wall time to
 * rt->layer_ns (tern profile; with a batch split, the first part's
 * thread's times); without it, forward reads no clock. */
#ifndef TERN_RUNTIME_H
#define TERN_RUNTIME_H

#include <stddef.h>

#include "tern/api.h"
#include "tern/deploy.h"
#include "tern/kernels.h"
#include "tern/pool.h"
#include "tern/status.h"
#include "tern/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most bytes tern_runtime_init plans (activations for the whole batch,
 * plus the kernels' scratch): 16 GiB. A plan beyond it is refused, naming
 * the layer, before anything is allocated; a smaller batch needs less. Sizes
 * are computed in 64 bits with overflow checks. */
#define TERN_RUNTIME_MAX_BYTES ((size_t)16 << 30)

/* A batch runs through the layers in passes of as many samples as keep
 * one layer's input and output within this many bytes (L2-sized), so every
 * layer reads what the one before wrote from cache; 1 sample at least. */
#define TERN_RUNTIME_PASS_BYTES ((size_t)512 << 10)

/* How ternary layers take their activations. */
typedef enum tern_runtime_act {
    TERN_RUNTIME_ACT_AUTO = 0,  /* per layer: I8 if trained with act_bits 8, else F32 */
    TERN_RUNTIME_ACT_I8,        /* every ternary layer int8 (faster; approximates float-trained layers) */
    TERN_RUNTIME_ACT_F32,       /* every ternary layer fp32 */
} tern_runtime_act;

/* Whether ternary layers run the zero-skipping kernels (tern_sparse_gemm,
 * tern_sparse_conv2d: work only for nonzero weights, from column lists the
 * runtime builds at init and owns) or the dense packed ones. Both give
 * bit-identical y in I8 mode; in F32 they differ within the kernels' bound.
 *
 * The AUTO rule, with z the layer's fraction of zero weights and S its
 * samples per kernel call (the planned max_batch for linear, OH*OW for
 * conv): zero-skipping when
 *     linear, I8:   S >= 32 and z >= 0.80
 *     linear, F32:  z >= 0.20 (S >= 32), 0.70 (8 <= S < 32), 0.90 (S < 8)
 *     conv,   I8, direct (symmetric scales), M output channels:
 *                   M >= 64: never;  32 <= M < 64: z >= 0.70;  M < 32: z >= 0.30
 *     conv,   I8, TTQ:  z >= 0.30;   conv, F32: always
 * The thresholds come from `tern bench zskip`; the measurements behind them
 * are in docs/performance.md. The direct conv's were measured against it at
 * batch 1 (32->64 5x5 on 12x12 and 64->64 3x3 on 16x16: direct 1.3-4x
 * faster at every sparsity up to 98%; 16->32 and 3->16 3x3 on 32x32, where
 * a 16-channel group has few channels or taps to share its loads with:
 * zero-skipping faster from 70% and from 30% zeros). A runtime planned for a large batch but called
 * with a small one keeps its plan. */
typedef enum tern_runtime_zskip {
    TERN_RUNTIME_ZSKIP_AUTO = 0, /* per layer: zero-skipping where it is measured to win */
    TERN_RUNTIME_ZSKIP_OFF,      /* dense packed kernels on every ternary layer */
    TERN_RUNTIME_ZSKIP_ON,       /* zero-skipping kernels on every ternary layer */
} tern_runtime_zskip;

/* What tern_runtime_init_opts plans for. */
typedef struct tern_runtime_opts {
    int max_batch;              /* largest batch tern_runtime_forward will get */
    tern_runtime_act act;
    tern_runtime_zskip zskip;
    int time_layers;            /* 1: accumulate each layer's wall time into layer_ns (for tern profile) */
    tern_kernel kernel;         /* the packed kernels' path (0: TERN_KERNEL_AUTO, the best available) */
    tern_pool *pool;            /* worker threads, borrowed (must outlive the runtime); NULL: the caller's thread only */
} tern_runtime_opts;

typedef struct tern_runtime {
    const tern_deploy *model;   /* borrowed; must outlive the runtime */
    int max_batch;
    tern_runtime_act act;
    tern_kernel kernel;         /* the path the packed kernels run on (never AUTO) */
    tern_kact *kact;            /* (n_layers) the kernel mode of each ternary layer */
    unsigned char *zskip;       /* (n_layers) 1 where a ternary layer runs the zero-skipping kernel */
    tern_sparse *sparse;        /* (n_layers) the column lists of those layers (empty elsewhere) */
    struct tern_qconv *qconv;   /* (n_layers) internal: the direct int8 convs (wc NULL elsewhere) */
    struct tern_epilogue *epi;  /* (n_layers) internal: what each fusing layer applies before it stores */
    int *fused_into;            /* (n_layers) the layer whose epilogue computes layer i, else -1 */
    float **slot;               /* (n_layers) each layer's output buffer; NULL for views */
    size_t *stride;             /* (n_layers) floats per sample between the parts of a batch split in
                                   each layer's buffer (its slot's largest tenant; one thread: unused) */
    const float **outp;         /* (n_layers) where each output is during a forward (views: their input) */
    float *arena;               /* the slots, one allocation */
    void *scratch;              /* kernel, im2col scratch: one block per thread */
    size_t scratch_bytes;       /* of each thread's block (a multiple of 64) */
    tern_pool *pool;            /* borrowed from opts; NULL: one thread */
    int threads;                /* tern_pool_threads(pool) at init */
    int chunk;                  /* samples per pass through the layers (TERN_RUNTIME_PASS_BYTES) */
    int sgemm_fast;             /* 1: fp32 GEMMs on tern's AVX-512 GEMM (avx512 path), 0: its plain loops */
    size_t planned_bytes;       /* arena + scratch */
    size_t in_numel;            /* C*H*W */
    double *layer_ns;           /* (n_layers) when opts.time_layers: nanoseconds each layer ran
                                   (CLOCK_MONOTONIC), summed over forwards; the caller zeroes it.
                                   NULL otherwise: then forward reads no clock */
} tern_runtime;

/* Plan for batches of up to max_batch samples of model m, zero-skipping
 * where the AUTO rule above says it wins. */
TERN_API tern_status tern_runtime_init(tern_runtime *rt, const tern_deploy *m, int max_batch, tern_runtime_act act);

/* Plan with every option spelled out (tern_runtime_init is this with zskip
 * AUTO). */
TERN_API tern_status tern_runtime_init_opts(tern_runtime *rt, const tern_deploy *m, const tern_runtime_opts *o);
TERN_API void tern_runtime_free(tern_runtime *rt);

/* Which code runs layer i, into buf (n bytes): "fused" (the kernel of a
 * layer before it computes it in its store), the packed kernels' path and
 * mode ("avx512/i8"), "dconv" (the direct fp32 conv), "dot" (fp32 linear),
 * "sgemm" (fp32 conv by im2col) or "loop". For profilers. */
TERN_API void tern_runtime_layer_path(const tern_runtime *rt, int i, char *buf, size_t n);

/* Bytes of the planned buffers (activations + scratch) plus the column
 * lists of the zero-skipping layers. */
TERN_API size_t tern_runtime_planned_bytes(const tern_runtime *rt);

/* logits (n, n_classes) of x (n, C, H, W), already normalised as the
 * model's /input says; *logits points into the runtime's buffers and stays
 * valid until the next call. TERN_ERR_SHAPE when x does not match the model
 * or n > max_batch; TERN_ERR_NUMERIC on NaN/Inf input to an int8 layer. */
TERN_API tern_status tern_runtime_forward(tern_runtime *rt, const tern_tensor *x, const float **logits);

/* x (C,H,W) = (p/255 - mean[c]) / std[c] for the model's input. */
TERN_API void tern_runtime_normalize(const tern_deploy *m, const unsigned char *pixels, float *x);

/* Read one input image for m from `path`: a PNG, JPEG or PNM (P2, P3, P5,
 * P6) of the model's height and width, read by tern_image_read and
 * converted to the model's channels as the folder dataset converts
 * (tern/data.h), or else a raw file of exactly C*H*W bytes (pixels in C,H,W
 * order); normalised into x (C*H*W). TERN_ERR_SHAPE naming the file when
 * its size does not match the model's input. */
TERN_API tern_status tern_runtime_read_input(const tern_deploy *m, const char *path, float *x);

/* Softmax of logits (k) into p (k), computed stably (max subtracted). */
TERN_API void tern_runtime_softmax(const float *logits, int k, float *p);

typedef struct tern_runtime_eval {
    int n, correct;
    float acc;                  /* correct / n */
    int *pred;                  /* (n) argmax per image, when the caller gave a buffer */
    float *logits;              /* (n, n_classes) the logits, when the caller gave a buffer */
} tern_runtime_eval;

/* Predict all of ds (normalised as the model expects) in batches of
 * rt->max_batch; r->pred may point at n ints to receive the predictions,
 * r->logits at n * n_classes floats to receive the logits. */
TERN_API tern_status tern_runtime_evaluate(tern_runtime *rt, const tern_dataset *ds, tern_runtime_eval *r);

#ifdef __cplusplus
}
#endif
#endif
