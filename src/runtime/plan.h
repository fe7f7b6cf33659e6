/* plan.h — internal to the runtime: the buffer-slot planner.
 *
 * A pure function of the layer sequence: which layer's output lives in
 * which slot of the runtime's arena. Layer i's output is written when
 * layer i runs and read until the last layer that reads it: layer i+1, an
 * add layer naming it as `from`, or (for the last layer) the caller. A view
 * (flatten without an activation) writes nothing and stands for its input's
 * memory, so it extends that memory's life. Two outputs share a slot only
 * when one is no longer read when the other is written. */
#ifndef TERN_RUNTIME_PLAN_H
#define TERN_RUNTIME_PLAN_H

#include <stddef.h>

#include "tern/status.h"

typedef struct tern_plan_layer {
    size_t floats;  /* the output's size (ignored for a view) */
    int view;       /* 1: the output is the input's memory; no slot */
    int from;       /* an add layer's earlier input (0 <= from < i), else -1 */
} tern_plan_layer;

/* Slots for layers[0..n): slot_of[i] = the slot holding layer i's output
 * (a view: the slot of the memory it stands for; -1 for the caller's
 * input), slot_floats[k] = the largest output mapped to slot k, *n_slots
 * slots used (at most n; both arrays have n entries). Slots are handed out
 * greedily in layer order: a free slot that is big enough (the smallest
 * such), else the largest free one, grown, else a new one. TERN_ERR_ARG for
 * a bad `from`, TERN_ERR_NOMEM. */
tern_status tern_runtime_plan_slots(const tern_plan_layer *layers, int n, int *slot_of, size_t *slot_floats,
                                    int *n_slots);

#endif
