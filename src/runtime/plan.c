/* plan.c — the runtime's buffer-slot planner (plan.h): lifetimes, then a
 * greedy assignment of outputs to slots. */
#include "runtime/plan.h"

#include <stdlib.h>

tern_status tern_runtime_plan_slots(const tern_plan_layer *layers, int n, int *slot_of, size_t *slot_floats,
                                    int *n_slots) {
    *n_slots = 0;
    for (int i = 0; i < n; i++)
        if (layers[i].from >= i || layers[i].from < -1)
            return tern_error(TERN_ERR_ARG, "runtime plan: layer %d adds layer %d, which is not an earlier one", i,
                              layers[i].from);
    /* storage[i]: the layer whose slot holds i's output (-1: the caller's
     * input); last[j]: the last layer that reads j's memory (n: the caller);
     * busy[k]: the last reader of slot k's current tenant. */
    int *storage = malloc(sizeof(int) * 3 * (size_t)(n ? n : 1));
    if (!storage) return tern_error(TERN_ERR_NOMEM, "runtime plan: out of memory planning %d layers", n);
    int *last = storage + n, *busy = storage + 2 * n;
    for (int i = 0; i < n; i++) {
        storage[i] = layers[i].view ? (i ? storage[i - 1] : -1) : i;
        last[i] = i;
    }
    /* Layer i reads i-1's memory, an add also its `from`'s, and a view
     * stands for its memory until its own readers are done. */
    for (int i = 0; i < n; i++) {
        int reads[3] = {i > 0 ? storage[i - 1] : -1, layers[i].from >= 0 ? storage[layers[i].from] : -1, storage[i]};
        for (int r = 0; r < 3; r++)
            if (reads[r] >= 0 && last[reads[r]] < i) last[reads[r]] = i;
    }
    if (n > 0 && storage[n - 1] >= 0) last[storage[n - 1]] = n;
    for (int i = 0; i < n; i++) {
        if (storage[i] != i) {
            slot_of[i] = storage[i] >= 0 ? slot_of[storage[i]] : -1;
            continue;
        }
        const size_t need = layers[i].floats;
        int best = -1;
        for (int k = 0; k < *n_slots; k++) {
            if (busy[k] >= i) continue;  /* its tenant is still read at or after layer i */
            int fits = slot_floats[k] >= need, bfits = best >= 0 && slot_floats[best] >= need;
            if (best < 0 || (fits && (!bfits || slot_floats[k] < slot_floats[best])) ||
                (!fits && !bfits && slot_floats[k] > slot_floats[best]))
                best = k;
        }
        if (best < 0) {
            best = (*n_slots)++;
            slot_floats[best] = 0;
        }
        if (slot_floats[best] < need) slot_floats[best] = need;
        busy[best] = last[i];
        slot_of[i] = best;
    }
    free(storage);
    return TERN_OK;
}
