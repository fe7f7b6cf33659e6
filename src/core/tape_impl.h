/* tape_impl.h — what op implementations see of the tape: the op ids, the
 * node, the op table, tern_ctx_apply and the kernels' per-thread scratch.
 * Internal to libtern: src/core/tape.c, and src/ops and src/quant through
 * src/ops/ops_impl.h. */
#ifndef TERN_TAPE_IMPL_H
#define TERN_TAPE_IMPL_H

#include "tern/tape.h"

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

/* Run the op's forward and, when recording, append it to the tape. Returns
 * out, or NULL on failure. */
tern_tensor *tern_ctx_apply(tern_ctx *c, tern_op_id op, tern_tensor *out, void *state,
                            tern_tensor *in0, tern_tensor *in1, tern_tensor *in2, tern_tensor *in3);

/* Make every thread's scratch (the pool's blocks, or without a pool the
 * ctx's own) at least `bytes`, 64-byte aligned. Outside jobs only (when
 * recording an op); the status, set on failure. */
tern_status tern_ctx_reserve_scratch(tern_ctx *c, size_t bytes);

/* Thread `thread`'s scratch while an op's task runs on it. */
void *tern_ctx_scratch(const tern_ctx *c, int thread);

#endif
