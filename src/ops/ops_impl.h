/* ops_impl.h — the ops of src/ops, one line each (see TERN_OP_DECLARE in
 * src/core/tape_impl.h). Internal. */
#ifndef TERN_OPS_IMPL_H
#define TERN_OPS_IMPL_H

#include "core/tape_impl.h"
#include "tern/ops.h"

TERN_OP_DECLARE(linear)
TERN_OP_DECLARE(conv2d)
TERN_OP_DECLARE(maxpool2d)
TERN_OP_DECLARE(avgpool2d)
TERN_OP_DECLARE(global_avgpool)
TERN_OP_DECLARE(batchnorm)
TERN_OP_DECLARE(relu)
TERN_OP_DECLARE(hardtanh)
TERN_OP_DECLARE(dropout)
TERN_OP_DECLARE(add)
TERN_OP_DECLARE(softmax_xent)

#endif
