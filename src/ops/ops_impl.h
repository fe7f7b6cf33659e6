/* ops_impl.h — forward/backward pairs registered in registry.c. Internal. */
#ifndef TERN_OPS_IMPL_H
#define TERN_OPS_IMPL_H

#include "core/tape_impl.h"
#include "tern/ops.h"

#define TERN_DECLARE_OP(name)                  \
    void tern_##name##_forward(tern_node *n);  \
    void tern_##name##_backward(tern_node *n);

TERN_DECLARE_OP(linear)
TERN_DECLARE_OP(conv2d)
TERN_DECLARE_OP(maxpool2d)
TERN_DECLARE_OP(avgpool2d)
TERN_DECLARE_OP(global_avgpool)
TERN_DECLARE_OP(batchnorm)
TERN_DECLARE_OP(relu)
TERN_DECLARE_OP(hardtanh)
TERN_DECLARE_OP(dropout)
TERN_DECLARE_OP(add)
TERN_DECLARE_OP(softmax_xent)
TERN_DECLARE_OP(quant_ternary)
TERN_DECLARE_OP(quant_act)

/* Shape string into a local buffer, for error messages:
 *   char sx[TERN_SHAPE_STR_LEN]; ... SHAPE(x, sx) */
#define SHAPE(t, buf) tern_shape_str((t), (buf), sizeof(buf))

#endif
