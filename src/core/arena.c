/* arena.c — chained bump allocator that settles into one block. */
#include "tern/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct tern_arena_chunk {
    tern_arena_chunk *next;
    size_t cap;   /* usable bytes after the header */
    size_t off;   /* bytes used in this chunk */
    /* data follows, aligned to TERN_ARENA_ALIGN */
};

#define CHUNK_HDR (((sizeof(tern_arena_chunk) + TERN_ARENA_ALIGN - 1) / TERN_ARENA_ALIGN) * TERN_ARENA_ALIGN)

static tern_arena_chunk *chunk_new(tern_arena *a, size_t cap) {
    cap = (cap + TERN_ARENA_ALIGN - 1) & ~(size_t)(TERN_ARENA_ALIGN - 1);
    tern_arena_chunk *c = aligned_alloc(TERN_ARENA_ALIGN, CHUNK_HDR + cap);
    if (!c) return NULL;
    c->next = NULL;
    c->cap = cap;
    c->off = 0;
    a->mallocs++;
    return c;
}

static unsigned char *chunk_data(tern_arena_chunk *c) { return (unsigned char *)c + CHUNK_HDR; }

tern_status tern_arena_init(tern_arena *a, size_t bytes) {
    memset(a, 0, sizeof *a);
    if (bytes == 0) return TERN_OK;
    a->head = chunk_new(a, bytes);
    if (!a->head) return tern_error(TERN_ERR_NOMEM, "arena: cannot allocate %zu bytes", bytes);
    return TERN_OK;
}

void *tern_arena_alloc(tern_arena *a, size_t bytes) {
    size_t need = (bytes + TERN_ARENA_ALIGN - 1) & ~(size_t)(TERN_ARENA_ALIGN - 1);
    if (need == 0) need = TERN_ARENA_ALIGN;
    tern_arena_chunk *c = a->head;
    if (!c || c->off + need > c->cap) {
        /* Chain a chunk at least as large as everything so far, so a
         * growing step needs few chunks; reset folds them into one. */
        size_t cap = need;
        size_t total = tern_arena_capacity(a);
        if (cap < total) cap = total;
        if (cap < ((size_t)1 << 20)) cap = (size_t)1 << 20;
        tern_arena_chunk *n = chunk_new(a, cap);
        if (!n) {
            tern_error(TERN_ERR_NOMEM, "arena: cannot allocate %zu bytes (in use %zu)", cap, a->used);
            return NULL;
        }
        n->next = c;
        a->head = c = n;
    }
    void *p = chunk_data(c) + c->off;
    c->off += need;
    a->used += need;
    if (a->used > a->high_water) a->high_water = a->used;
    return p;
}


float *tern_arena_zeros(tern_arena *a, size_t n) {
    float *p = tern_arena_alloc(a, n * sizeof(float));
    if (p) memset(p, 0, n * sizeof(float));
    return p;
}

size_t tern_arena_capacity(const tern_arena *a) {
    size_t total = 0;
    for (const tern_arena_chunk *c = a->head; c; c = c->next) total += c->cap;
    return total;
}

void tern_arena_reset(tern_arena *a) {
    if (a->head && a->head->next) {
        /* Several chunks: fold them into one block of the high-water size.
         * If that allocation fails, keep the chunks: the head is rewound
         * and the step chains again. */
        tern_arena_chunk *blk = chunk_new(a, a->high_water);
        if (blk) {
            for (tern_arena_chunk *c = a->head, *n; c; c = n) {
                n = c->next;
                free(c);
            }
            a->head = blk;
        }
    }
    for (tern_arena_chunk *c = a->head; c; c = c->next) c->off = 0;
    a->used = 0;
}

void tern_arena_free(tern_arena *a) {
    for (tern_arena_chunk *c = a->head, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    memset(a, 0, sizeof *a);
}
