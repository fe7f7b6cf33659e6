/* tern_run.h — the runtime of a model exported by `tern export --format c`:
 * an interpreter over a const table of layers (model.c) in one static
 * arena whose offsets the export computed. C99, no heap, no file I/O, only
 * the C standard headers; the math is tern_portable.h, the same functions
 * libtern's scalar kernels run.
 *
 * What it computes, per layer, is what tern's runtime computes:
 *   - ternary linear/conv2d, int8 activations: per-sample (conv: per-image)
 *     absmax quantization, exact int32 sums over the t2 blocks, the output
 *     in float: bit-identical to `tern eval` on any of libtern's paths;
 *   - ternary, fp32 activations: adds and subtracts in k order: identical to
 *     libtern's scalar path without zero-skipping (`tern eval --kernel scalar
 *     --zskip off`; SIMD and zero-skipping paths sum in other orders);
 *   - fp32 linear: the 16-lane order of libtern's dot kernel (every path);
 *   - fp32 conv2d with at most 4 input channels: the direct conv's order
 *     (every path); with more: sum of w*x in (c, kh, kw) order, then + bias,
 *     the order of tern_sgemm_ref, i.e. libtern's plain-loop GEMM (CPUs
 *     without AVX-512; its AVX-512 GEMM sums in blocks);
 *   - affine, pools, global average pool (summed in double), relu,
 *     hardtanh, add: the library's plain loops.
 * A conv (or linear) carries the affine and activation layers after it in
 * its epilogue, and a conv a maxpool after it: pooled outputs are computed
 * from a few conv rows at a time, so the conv's full output never exists.
 *
 * Compile without -ffast-math and with floating-point contraction off
 * (GCC's -std=c99 does that; tern_portable.h sets the pragma for clang). */
#ifndef TERN_RUN_H
#define TERN_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "tern_portable.h"

enum {
    TERN_RUN_LINEAR = 0,   /* x (K) -> y (M) */
    TERN_RUN_CONV2D,       /* x (C,H,W) -> y (M,OH,OW), or pooled when pool_k > 0 */
    TERN_RUN_AFFINE,       /* epi.center/scale/shift per channel */
    TERN_RUN_MAXPOOL,
    TERN_RUN_AVGPOOL,
    TERN_RUN_GAVGPOOL,     /* global average pool: (C,H,W) -> (C) */
    TERN_RUN_ACT,          /* epi.act alone (relu, hardtanh, flatten with an activation) */
    TERN_RUN_ADD           /* y = x + from */
};

enum {
    TERN_RUN_W_FP32 = 0,   /* fp32 weights (M, K): linear dot lanes, conv tern_sgemm_ref order */
    TERN_RUN_W_FP32_DIRECT,/* fp32 conv, direct conv order (few input channels) */
    TERN_RUN_W_T2_I8,      /* ternary t2, int8 activations */
    TERN_RUN_W_T2_F32      /* ternary t2, fp32 activations */
};

/* One layer. Offsets are in floats into the arena; -1 is the model's input. */
typedef struct tern_run_layer {
    int type, wmode, symmetric;
    int in_c, in_h, in_w;        /* input (C,H,W); a vector is (K,1,1) */
    int out_c, out_h, out_w;     /* output, after a fused pool */
    int k, stride, pad;          /* conv2d or pool window */
    int conv_h, conv_w;          /* conv2d output before a fused maxpool */
    int pool_k, pool_stride, pool_pad;   /* fused maxpool; pool_k 0: none */
    int kblocks;                 /* t2 blocks per row: ceil(K / 128) */
    const uint8_t *qs;           /* t2 blocks in tile order (tern/kernels.h) */
    const float *wp, *wn;        /* (M) row scales */
    const float *weight;         /* fp32 (M, K) */
    const float *bias;           /* (M) */
    tern_epilogue epi;           /* affine and activation fused into this layer */
    long in, out, from;          /* arena offsets: input, output, add's other input */
    long tq;                     /* scratch: the quantized input (int8 bytes) */
    long tcol;                   /* scratch: a conv position's receptive field (int8 or fp32) */
    long trows;                  /* scratch: conv rows (M, pool_k, conv_w) of a fused maxpool */
} tern_run_layer;

typedef struct tern_run_model {
    const tern_run_layer *layers;
    int n_layers;
    long in_numel;               /* C*H*W */
    int n_classes;
    long logits;                 /* the last layer's output offset */
} tern_run_model;

/* Run m on input (in_numel floats) with arena (the model's static array):
 * logits (n_classes); returns the class with the largest logit (the first
 * on ties, as tern eval), or -1 when the input holds a NaN or Inf, or an
 * int8 layer meets one. */
int tern_run_predict(const tern_run_model *m, float *arena, const float *input, float *logits);

#endif
