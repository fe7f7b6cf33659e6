/* registry.c — the op table: one row per op, name + forward + backward. */
#include "ops_impl.h"

#define OP(id, fn) [id] = {#fn, tern_##fn##_forward, tern_##fn##_backward}

const tern_op_def tern_op_table[TERN_OP_COUNT] = {
    OP(TERN_OP_RELU, relu),
    OP(TERN_OP_HARDTANH, hardtanh),
    OP(TERN_OP_DROPOUT, dropout),
    OP(TERN_OP_ADD, add),
    OP(TERN_OP_SOFTMAX_XENT, softmax_xent),
    OP(TERN_OP_QUANT_TERNARY, quant_ternary),
    OP(TERN_OP_QUANT_ACT, quant_act),
};
