/* tape_impl.h — what op implementations see of the tape: the node, an op's
 * definition, tern_ctx_apply and the kernels' per-thread scratch.
 * Internal to libtern: src/core/tape.c, and src/ops and src/quant through
 * src/ops/ops_impl.h and src/quant/quant_impl.h. */
#ifndef TERN_TAPE_IMPL_H
#define TERN_TAPE_IMPL_H

#include "tern/tape.h"

#define TERN_NODE_MAX_IN 4

struct tern_op_def;

typedef struct tern_node {
    const struct tern_op_def *op;       /* what the node computes */
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

/* An op is a forward/backward pair side by side in one file, published as
 * one definition: TERN_OP_DEFINE(relu) after tern_relu_forward and
 * tern_relu_backward makes `tern_op_relu`. The ops of tern are listed, one
 * line each, in src/ops/ops_impl.h and src/quant/quant_impl.h; the tape only
 * follows a node's pointer, so it knows no op by name. */
#define TERN_OP_DECLARE(name)                  \
    void tern_##name##_forward(tern_node *n);  \
    void tern_##name##_backward(tern_node *n); \
    extern const tern_op_def tern_op_##name;
#define TERN_OP_DEFINE(name) \
    const tern_op_def tern_op_##name = {#name, tern_##name##_forward, tern_##name##_backward}

/* Shape string into a local buffer, for error messages:
 *   char sx[TERN_SHAPE_STR_LEN]; ... SHAPE(x, sx) */
#define SHAPE(t, buf) tern_shape_str((t), (buf), sizeof(buf))

/* Run the op's forward and, when recording, append it to the tape. Returns
 * out, or NULL on failure. */
tern_tensor *tern_ctx_apply(tern_ctx *c, const tern_op_def *op, tern_tensor *out, void *state,
                            tern_tensor *in0, tern_tensor *in1, tern_tensor *in2, tern_tensor *in3);

/* Make every thread's scratch (the pool's blocks, or without a pool the
 * ctx's own) at least `bytes`, 64-byte aligned. Outside jobs only (when
 * recording an op); the status, set on failure. */
tern_status tern_ctx_reserve_scratch(tern_ctx *c, size_t bytes);

/* Thread `thread`'s scratch while an op's task runs on it. */
void *tern_ctx_scratch(const tern_ctx *c, int thread);

#endif
