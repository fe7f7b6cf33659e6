/* malloc_count.h — count every heap allocation in the process.
 *
 * Include in exactly one test program. It defines malloc, calloc, realloc,
 * aligned_alloc, posix_memalign and memalign, forwarding to glibc's __libc_*
 * entry points, so allocations by tern, OpenBLAS, HDF5 and libc itself are all
 * counted while counting is on. Under AddressSanitizer the interposition would
 * fight ASan's own allocator, so it is compiled out and
 * MALLOC_COUNT_AVAILABLE is 0 (tests then skip). */
#ifndef TERN_TEST_MALLOC_COUNT_H
#define TERN_TEST_MALLOC_COUNT_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define MALLOC_COUNT_AVAILABLE 0
static inline void malloc_count_start(void) {}
static inline long malloc_count_stop(void) { return 0; }
#else
#define MALLOC_COUNT_AVAILABLE 1
#include <errno.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static volatile int malloc_counting;
static volatile long malloc_calls;

static inline void malloc_count_start(void) {
    malloc_calls = 0;
    __atomic_store_n(&malloc_counting, 1, __ATOMIC_SEQ_CST);
}
/* Stops counting; returns the allocations made since malloc_count_start. */
static inline long malloc_count_stop(void) {
    __atomic_store_n(&malloc_counting, 0, __ATOMIC_SEQ_CST);
    return malloc_calls;
}
static inline void malloc_count_hit(void) {
    if (__atomic_load_n(&malloc_counting, __ATOMIC_RELAXED)) __atomic_add_fetch(&malloc_calls, 1, __ATOMIC_RELAXED);
}

void *malloc(size_t n) {
    malloc_count_hit();
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    malloc_count_hit();
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    malloc_count_hit();
    return __libc_realloc(p, n);
}
void *memalign(size_t al, size_t n) {
    malloc_count_hit();
    return __libc_memalign(al, n);
}
void *aligned_alloc(size_t al, size_t n) {
    malloc_count_hit();
    return __libc_memalign(al, n);
}
int posix_memalign(void **out, size_t al, size_t n) {
    malloc_count_hit();
    void *p = __libc_memalign(al, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
void free(void *p) { __libc_free(p); }
#endif

#endif
