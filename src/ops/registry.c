/* registry.c — the op table: one row per op, name + forward + backward. */
#include "ops_impl.h"

#define OP(id, fn) [id] = {#fn, tern_##fn##_forward, tern_##fn##_backward}

const tern_op_def tern_op_table[TERN_OP_COUNT] = {
    OP(TERN_OP_LINEAR, linear),
    OP(TERN_OP_CONV2D, conv2d),
    OP(TERN_OP_MAXPOOL2D, maxpool2d),
    OP(TERN_OP_AVGPOOL2D, avgpool2d),
    OP(TERN_OP_GLOBAL_AVGPOOL, global_avgpool),
    OP(TERN_OP_BATCHNORM, batchnorm),
    OP(TERN_OP_RELU, relu),
    OP(TERN_OP_HARDTANH, hardtanh),
    OP(TERN_OP_DROPOUT, dropout),
    OP(TERN_OP_ADD, add),
    OP(TERN_OP_SOFTMAX_XENT, softmax_xent),
    OP(TERN_OP_QUANT_TERNARY, quant_ternary),
    OP(TERN_OP_QUANT_ACT, quant_act),
};
