/* quant_impl.h — checks shared by the quantizer ops, alpha_init and stats. Internal. */
#ifndef TERN_QUANT_IMPL_H
#define TERN_QUANT_IMPL_H

#include "core/tape_impl.h"
#include "tern/quant.h"

/* The quantizers are ops with their own backward, the straight-through estimators. */
TERN_OP_DECLARE(quant_ternary)
TERN_OP_DECLARE(quant_act)

/* tern_quant_cfg_check with `who` ("quant_ternary", "quant_stats", ...) as
 * the message prefix. */
tern_status tern_quant_cfg_check_as(const char *who, const tern_quant_cfg *cfg);

#endif
