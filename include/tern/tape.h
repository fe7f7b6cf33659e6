/* tern/tape.h — reverse-mode autograd on a tape.
 *
 * A tern_ctx holds one step's world: the arena its activations come from, the
 * tape of nodes recorded by the forward pass, the mode (training or eval) and
 * the RNG for dropout. Ops (tern/ops.h) take a ctx and tensors and return a
 * new tensor from the arena; while ctx->grad is set, each op also appends a
 * node: (op id, inputs, output, the op's saved state; src/core/tape_impl.h).
 * tern_backward walks the tape in reverse and calls each op's backward, which
 * accumulates (+=) into the grads of its inputs.
 *
 * Errors are sticky, ggml style: an op that fails records a message, sets
 * ctx->status and returns NULL; every op given a NULL input returns NULL, so
 * a whole forward pass can be written without checks and checked once.
 *
 * One step:  tern_ctx_reset(c) → forward ops → tern_backward(c, loss)
 *            → optimizer step. */
#ifndef TERN_TAPE_H
#define TERN_TAPE_H

#include "tern/api.h"
#include "tern/arena.h"
#include "tern/pool.h"
#include "tern/rng.h"
#include "tern/status.h"
#include "tern/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Which fp32 GEMM the training ops run (tern_ctx.sgemm). Chosen apart from
 * the packed inference kernels' path (tern/kernels.h), so forcing one of
 * those never changes training numerics. */
typedef enum tern_sgemm_path {
    TERN_SGEMM_AUTO = 0,    /* AVX-512 where this CPU runs it, else OpenBLAS */
    TERN_SGEMM_OPENBLAS,    /* cblas_sgemm */
    TERN_SGEMM_AVX512,      /* tern's own AVX-512 GEMM (OpenBLAS where the CPU lacks AVX-512) */
    TERN_SGEMM_COUNT
} tern_sgemm_path;

typedef struct tern_ctx {
    tern_arena arena;
    struct tern_node *nodes;  /* the tape (src/core/tape_impl.h) */
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
    /* A data-parallel run (tern/comm.h): with sync_bn, a training batchnorm
     * normalises with the statistics of all ranks' batches together, summed
     * over comm, and its backward sums its reductions likewise (every rank
     * must run the same ops). comm NULL or sync_bn 0: this process's batch. */
    const struct tern_comm *comm;
    int sync_bn;
} tern_ctx;

/* A context with `arena_bytes` of initial arena (0: sized by the first step),
 * no pool, no RNG and the AUTO GEMM (set c->pool, c->rng, c->sgemm; the
 * caller keeps the pool and the RNG alive). */
TERN_API tern_status tern_ctx_init(tern_ctx *c, size_t arena_bytes);
TERN_API void tern_ctx_free(tern_ctx *c);

/* Start a step: rewind the arena and the tape, clear the status. */
TERN_API void tern_ctx_reset(tern_ctx *c);

/* Set mode: training (1) or eval (0); and whether to record for backward. */
TERN_API void tern_ctx_mode(tern_ctx *c, int training, int grad);

/* ---- for op and model implementations ------------------------------------ */

/* A new arena tensor of this shape. Its grad is arena memory when the ctx
 * records and `with_grad` is set, else NULL; the grad reads as zeros from
 * the start of tern_backward on (it is cleared there, with every other
 * activation grad, by the worker threads). NULL on failure (status set). */
TERN_API tern_tensor *tern_ctx_tensor(tern_ctx *c, int ndim, const int *shape, int with_grad);

/* Arena memory for an op's saved state; NULL on failure (status set). */
TERN_API void *tern_ctx_alloc(tern_ctx *c, size_t bytes);

/* Record an error for this step; returns NULL so ops can `return tern_ctx_fail(...)`. */
TERN_API void *tern_ctx_fail(tern_ctx *c, tern_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1 when gradients must flow through an op with these inputs. */
TERN_API int tern_ctx_wants_grad(const tern_ctx *c, const tern_tensor *a, const tern_tensor *b, const tern_tensor *d,
                                 const tern_tensor *e);

/* ---- backward ------------------------------------------------------------ */

/* Seed d(loss)/d(loss) = 1 (loss must be a 1-element tensor with a grad) and
 * run every recorded node's backward in reverse order. Parameter grads
 * accumulate, so zero them (tern_params_zero_grad) before the forward pass. */
TERN_API tern_status tern_backward(tern_ctx *c, tern_tensor *loss);

/* The same from any recorded output: out->grad += seed (out->n floats), then
 * the reverse walk. Used by gradient checks of non-scalar ops. */
TERN_API tern_status tern_backward_seeded(tern_ctx *c, tern_tensor *out, const float *seed);

#ifdef __cplusplus
}
#endif

#endif
