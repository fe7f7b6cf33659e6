/* tern/arena.h — the step arena: a bump allocator reset every step.
 *
 * Activations, their gradients and tape state come from here. The arena is
 * sized by use: while a step needs more than it has, it chains extra chunks;
 * the next reset folds them into one block of the high-water size. From the
 * second identical step on, a training step calls malloc zero times. */
#ifndef TERN_ARENA_H
#define TERN_ARENA_H

#include <stddef.h>
#include "tern/api.h"
#include "tern/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_ARENA_ALIGN 64

typedef struct tern_arena_chunk tern_arena_chunk;

typedef struct tern_arena {
    tern_arena_chunk *head;  /* current chunk; older chunks follow ->next */
    size_t used;             /* bytes handed out since the last reset */
    size_t high_water;       /* the most bytes any step has used */
    size_t mallocs;          /* chunk allocations made, for tests and stats */
} tern_arena;

/* Prepare with an initial capacity (may be 0: the first step sizes it). */
TERN_API tern_status tern_arena_init(tern_arena *a, size_t bytes);

/* `bytes` of 64-byte-aligned memory, or NULL with an error recorded. */
TERN_API void *tern_arena_alloc(tern_arena *a, size_t bytes);

/* n floats, zeroed. */
TERN_API float *tern_arena_zeros(tern_arena *a, size_t n);

/* Forget everything handed out; folds chained chunks into one block. */
TERN_API void tern_arena_reset(tern_arena *a);

/* Total capacity in bytes. */
TERN_API size_t tern_arena_capacity(const tern_arena *a);

TERN_API void tern_arena_free(tern_arena *a);

#ifdef __cplusplus
}
#endif

#endif
