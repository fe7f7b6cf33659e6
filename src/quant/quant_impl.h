/* quant_impl.h — checks shared by the quantizer ops, alpha_init and stats. Internal. */
#ifndef TERN_QUANT_IMPL_H
#define TERN_QUANT_IMPL_H

#include "tern/quant.h"

/* tern_quant_cfg_check with `who` ("quant_ternary", "quant_stats", ...) as
 * the message prefix. */
tern_status tern_quant_cfg_check_as(const char *who, const tern_quant_cfg *cfg);

#endif
