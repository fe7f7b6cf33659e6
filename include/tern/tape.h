/* tern/tape.h — reverse-mode autograd on a tape.
 *
 * A tern_ctx holds one step's world: the arena its activations come from, the
 * tape of nodes recorded by the forward pass, the mode (training or eval) and
 * the RNG for dropout. Ops (tern/ops.h) take a ctx and tensors and return a
 * new tensor from the arena; while ctx->grad is set, each op also appends a
 * node: (op id, inputs, output, the op's saved state). tern_backward walks the
 * tape in reverse and calls each op's backward, which accumulates (+=) into
 * the grads of its inputs.
 *
 * Errors are sticky, ggml style: an op that fails records a message, sets
 * ctx->status and returns NULL; every op given a NULL input returns NULL, so
 * a whole forward pass can be written without checks and checked once.
 *
 * One step:  tern_ctx_reset(c) → forward ops → tern_backward(c, loss)
 *            → optimizer step. */
#ifndef TERN_TAPE_H
#define TERN_TAPE_H

#include "tern/arena.h"
#include "tern/pool.h"
#include "tern/rng.h"
#include "tern/status.h"
#include "tern/tensor.h"

/* Every op, in one enum; the table in src/ops/registry.c maps each to its
 * name, forward and backward. */
typedef enum tern_op_id {
    TERN_OP_LINEAR,
    TERN_OP_CONV2D,
    TERN_OP_MAXPOOL2D,
    TERN_OP_AVGPOOL2D,
    TERN_OP_GLOBAL_AVGPOOL,
    TERN_OP_BATCHNORM,
    TERN_OP_RELU,
    TERN_OP_HARDTANH,
    TERN_OP_DROPOUT,
    TERN_OP_ADD,
    TERN_OP_SOFTMAX_XENT,
    TERN_OP_QUANT_TERNARY,  /* twn / absmean / ttq weight quantizers (STE) */
    TERN_OP_QUANT_ACT,      /* 8-bit absmax activation fake-quant (STE) */
    TERN_OP_COUNT
} tern_op_id;

/* Which fp32 GEMM the training ops run (tern_ctx.sgemm). Chosen apart from
 * the packed inference kernels' path (tern/kernels.h), so forcing one of
 * those never changes training numerics. */
typedef enum tern_sgemm_path {
    TERN_SGEMM_AUTO = 0,    /* AVX-512 where this CPU runs it, else OpenBLAS */
    TERN_SGEMM_OPENBLAS,    /* cblas_sgemm */
    TERN_SGEMM_AVX512,      /* tern's own AVX-512 GEMM (OpenBLAS where the CPU lacks AVX-512) */
    TERN_SGEMM_COUNT
} tern_sgemm_path;

#define TERN_NODE_MAX_IN 4

typedef struct tern_node {
    tern_op_id op;
    struct tern_ctx *ctx;               /* the step's context: pool, GEMM path */
    tern_tensor *in[TERN_NODE_MAX_IN];  /* unused slots are NULL */
    tern_tensor *out;
    void *state;                        /* op-owned, from the arena */
} tern_node;

typedef struct tern_op_def {
    const char *name;
    void (*forward)(tern_node *n);   /* out->data from in[]->data and state */
    void (*backward)(tern_node *n);  /* in[i]->grad += d(out)/d(in[i])^T out->grad, where in[i]->grad */
} tern_op_def;

/* Indexed by tern_op_id. */
extern const tern_op_def tern_op_table[TERN_OP_COUNT];

typedef struct tern_ctx {
    tern_arena arena;
    tern_node *nodes;      /* the tape */
    int n_nodes, cap_nodes;
    int training;          /* batchnorm uses batch statistics, dropout drops */
    int grad;              /* record the tape and allocate activation grads */
    tern_rng *rng;         /* dropout; may be NULL when nothing random runs */
    tern_pool *pool;       /* the ops' worker threads; NULL: all on the caller's thread */
    tern_sgemm_path sgemm; /* the GEMM of linear and conv2d (0: TERN_SGEMM_AUTO) */
    void *scratch;         /* without a pool: the kernels' scratch (tern_ctx_scratch) */
    size_t scratch_bytes;
    float **zero_p;        /* activation grads handed out but not yet zeroed: */
    size_t *zero_n;        /* tern_backward clears them all at once, on all threads */
    int n_zero, cap_zero;
    tern_status status;    /* first error since the last reset */
} tern_ctx;

/* A context with `arena_bytes` of initial arena (0: sized by the first step),
 * no pool, no RNG and the AUTO GEMM (set c->pool, c->rng, c->sgemm; the
 * caller keeps the pool and the RNG alive). */
tern_status tern_ctx_init(tern_ctx *c, size_t arena_bytes);
void tern_ctx_free(tern_ctx *c);

/* Start a step: rewind the arena and the tape, clear the status. */
void tern_ctx_reset(tern_ctx *c);

/* Set mode: training (1) or eval (0); and whether to record for backward. */
void tern_ctx_mode(tern_ctx *c, int training, int grad);

/* ---- for op implementations -------------------------------------------- */

/* A new arena tensor of this shape. Its grad is arena memory when the ctx
 * records and `with_grad` is set, else NULL; the grad reads as zeros from
 * the start of tern_backward on (it is cleared there, with every other
 * activation grad, by the worker threads). NULL on failure (status set). */
tern_tensor *tern_ctx_tensor(tern_ctx *c, int ndim, const int *shape, int with_grad);

/* Make every thread's scratch (the pool's blocks, or without a pool the
 * ctx's own) at least `bytes`, 64-byte aligned. Outside jobs only (when
 * recording an op); the status, set on failure. */
tern_status tern_ctx_reserve_scratch(tern_ctx *c, size_t bytes);

/* Thread `thread`'s scratch while an op's task runs on it. */
void *tern_ctx_scratch(const tern_ctx *c, int thread);

/* Arena memory for an op's saved state; NULL on failure (status set). */
void *tern_ctx_alloc(tern_ctx *c, size_t bytes);

/* Record an error for this step; returns NULL so ops can `return tern_ctx_fail(...)`. */
void *tern_ctx_fail(tern_ctx *c, tern_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 when gradients must flow through an op with these inputs. */
int tern_ctx_wants_grad(const tern_ctx *c, const tern_tensor *a, const tern_tensor *b,
                        const tern_tensor *d, const tern_tensor *e);

/* Run the op's forward and, when recording, append it to the tape. Returns
 * out, or NULL on failure. */
tern_tensor *tern_ctx_apply(tern_ctx *c, tern_op_id op, tern_tensor *out, void *state,
                            tern_tensor *in0, tern_tensor *in1, tern_tensor *in2, tern_tensor *in3);

/* ---- backward ------------------------------------------------------------ */

/* Seed d(loss)/d(loss) = 1 (loss must be a 1-element tensor with a grad) and
 * run every recorded node's backward in reverse order. Parameter grads
 * accumulate, so zero them (tern_params_zero_grad) before the forward pass. */
tern_status tern_backward(tern_ctx *c, tern_tensor *loss);

/* The same from any recorded output: out->grad += seed (out->n floats), then
 * the reverse walk. Used by gradient checks of non-scalar ops. */
tern_status tern_backward_seeded(tern_ctx *c, tern_tensor *out, const float *seed);

#endif
