/* tern.h — the whole public API of libtern. */
#ifndef TERN_H
#define TERN_H

#include "tern/api.h"
#include "tern/status.h"
#include "tern/comm.h"
#include "tern/tensor.h"
#include "tern/arena.h"
#include "tern/rng.h"
#include "tern/clock.h"
#include "tern/tape.h"
#include "tern/pool.h"
#include "tern/params.h"
#include "tern/ops.h"
#include "tern/optim.h"
#include "tern/nn.h"
#include "tern/quant.h"
#include "tern/data_types.h"
#include "tern/data.h"
#include "tern/kernels.h"
#include "tern/config.h"
#include "tern/checkpoint.h"
#include "tern/restore.h"
#include "tern/deploy.h"
#include "tern/export.h"
#include "tern/export_c.h"
#include "tern/runtime.h"
#include "tern/monitor.h"
#include "tern/sweep.h"
#include "tern/hybrid.h"

#endif
