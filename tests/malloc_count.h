/* malloc_count.h — count every heap allocation in the process, or make the
 * Nth allocation made by tern's own code fail.
 *
 * Include in exactly one test program. It defines malloc, calloc, realloc,
 * aligned_alloc, posix_memalign, memalign and free, forwarding to glibc's
 * __libc_* entry points.
 *
 * Counting (malloc_count_start/stop): allocations by tern, OpenBLAS, HDF5
 * and libc itself are all counted while counting is on.
 *
 * Failure injection (malloc_fail_start/hit/stop), as SQLite's fault tests do
 * it: while armed, allocations made *from tern's code* are numbered 1, 2, ...
 * and the Nth returns NULL (posix_memalign: ENOMEM); later ones succeed, as a
 * transient failure would. "From tern's code" means the caller's return
 * address (__builtin_return_address(0)) lies in the test program's own text,
 * between the linker's __executable_start and etext: libtern is linked
 * statically into the test program, while HDF5, libcyaml, zlib, OpenBLAS,
 * cmocka and libc are shared libraries whose internal failures tern cannot
 * control (an allocator a library is given, such as libcyaml's mem_fn
 * pointing at a tern function, counts as tern's). The test's own code is in
 * that text too, so a test allocates nothing of its own while armed.
 * While armed, every pointer tern's code got is recorded, and forgotten when
 * freed (by anyone) or realloc'ed away; malloc_fail_stop returns how many
 * are still live: after a failed call returned and the caller freed what it
 * owns, that is the number of leaked blocks. One warm-up call before arming
 * lets lazily made, process-lifetime allocations happen outside the window.
 * Not thread-safe beyond a spin lock around the table; tests arm it around
 * single-threaded calls.
 *
 * Under AddressSanitizer the interposition would fight ASan's own allocator,
 * so it is compiled out and MALLOC_COUNT_AVAILABLE is 0 (tests then skip).
 * GCC says so with __SANITIZE_ADDRESS__, clang with
 * __has_feature(address_sanitizer). */
#ifndef TERN_TEST_MALLOC_COUNT_H
#define TERN_TEST_MALLOC_COUNT_H

#include <stddef.h>
#include <stdint.h>

#if defined(__SANITIZE_ADDRESS__)
#define MALLOC_COUNT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MALLOC_COUNT_ASAN 1
#endif
#endif

#ifdef MALLOC_COUNT_ASAN
#define MALLOC_COUNT_AVAILABLE 0
static inline void malloc_count_start(void) {}
static inline long malloc_count_stop(void) { return 0; }
static inline void malloc_fail_start(long n) { (void)n; }
static inline int malloc_fail_hit(void) { return 0; }
static inline long malloc_fail_stop(void) { return 0; }
#else
#define MALLOC_COUNT_AVAILABLE 1
#include <errno.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);
extern char __executable_start[], etext[];

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

/* ---- failure injection ---------------------------------------------------- */

/* Live pointers from tern's code while armed: open addressing, linear
 * probing, deletion by backward shift (no tombstones). */
#define MALLOC_FAIL_SLOTS (1 << 16)
static void *malloc_fail_table[MALLOC_FAIL_SLOTS];
static long malloc_fail_live;
static volatile int malloc_fail_armed;
static long malloc_fail_n, malloc_fail_seen;
static int malloc_fail_failed;
static int malloc_fail_lock;

static inline size_t malloc_fail_slot(const void *p) {
    return (size_t)(((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull >> 48) & (MALLOC_FAIL_SLOTS - 1);
}
static inline void malloc_fail_add(void *p) {
    size_t i = malloc_fail_slot(p);
    while (malloc_fail_table[i]) i = (i + 1) & (MALLOC_FAIL_SLOTS - 1);
    malloc_fail_table[i] = p;
    malloc_fail_live++;
}
static inline void malloc_fail_remove(void *p) {
    size_t i = malloc_fail_slot(p);
    while (malloc_fail_table[i] && malloc_fail_table[i] != p) i = (i + 1) & (MALLOC_FAIL_SLOTS - 1);
    if (!malloc_fail_table[i]) return;
    malloc_fail_table[i] = NULL;
    malloc_fail_live--;
    /* Move later entries of the run back into the hole when their home allows. */
    for (size_t j = (i + 1) & (MALLOC_FAIL_SLOTS - 1); malloc_fail_table[j]; j = (j + 1) & (MALLOC_FAIL_SLOTS - 1)) {
        size_t home = malloc_fail_slot(malloc_fail_table[j]);
        if (((j - home) & (MALLOC_FAIL_SLOTS - 1)) >= ((j - i) & (MALLOC_FAIL_SLOTS - 1))) {
            malloc_fail_table[i] = malloc_fail_table[j];
            malloc_fail_table[j] = NULL;
            i = j;
        }
    }
}
static inline void malloc_fail_enter(void) {
    while (__atomic_exchange_n(&malloc_fail_lock, 1, __ATOMIC_ACQUIRE)) {
    }
}
static inline void malloc_fail_leave(void) { __atomic_store_n(&malloc_fail_lock, 0, __ATOMIC_RELEASE); }

/* Arm: the n-th allocation from tern's code (n >= 1) fails; forget earlier records. */
static inline void malloc_fail_start(long n) {
    malloc_fail_enter();
    for (size_t i = 0; i < MALLOC_FAIL_SLOTS; i++) malloc_fail_table[i] = NULL;
    malloc_fail_live = 0;
    malloc_fail_n = n, malloc_fail_seen = 0, malloc_fail_failed = 0;
    malloc_fail_leave();
    __atomic_store_n(&malloc_fail_armed, 1, __ATOMIC_SEQ_CST);
}
/* 1 once the n-th allocation has been made to fail. */
static inline int malloc_fail_hit(void) { return malloc_fail_failed; }
/* Disarm; returns how many blocks tern's code allocated while armed are still live. */
static inline long malloc_fail_stop(void) {
    __atomic_store_n(&malloc_fail_armed, 0, __ATOMIC_SEQ_CST);
    return malloc_fail_live;
}

static inline int malloc_fail_from_tern(const void *ret) {
    return (const char *)ret >= __executable_start && (const char *)ret < etext;
}
/* Before an allocation for a caller at `ret`: 1 if it must fail. */
static inline int malloc_fail_now(const void *ret) {
    if (!__atomic_load_n(&malloc_fail_armed, __ATOMIC_RELAXED) || !malloc_fail_from_tern(ret)) return 0;
    malloc_fail_enter();
    int fail = ++malloc_fail_seen == malloc_fail_n;
    if (fail) malloc_fail_failed = 1;
    malloc_fail_leave();
    return fail;
}
/* After an allocation for a caller at `ret` returned p (and freed old, for realloc). */
static inline void malloc_fail_note(const void *ret, void *old, void *p) {
    if (!__atomic_load_n(&malloc_fail_armed, __ATOMIC_RELAXED)) return;
    malloc_fail_enter();
    if (old) malloc_fail_remove(old);
    if (p && malloc_fail_from_tern(ret)) malloc_fail_add(p);
    malloc_fail_leave();
}

void *malloc(size_t n) {
    const void *ret = __builtin_return_address(0);
    malloc_count_hit();
    if (malloc_fail_now(ret)) return NULL;
    void *p = __libc_malloc(n);
    malloc_fail_note(ret, NULL, p);
    return p;
}
void *calloc(size_t a, size_t b) {
    const void *ret = __builtin_return_address(0);
    malloc_count_hit();
    if (malloc_fail_now(ret)) return NULL;
    void *p = __libc_calloc(a, b);
    malloc_fail_note(ret, NULL, p);
    return p;
}
void *realloc(void *old, size_t n) {
    const void *ret = __builtin_return_address(0);
    malloc_count_hit();
    if (malloc_fail_now(ret)) return NULL; /* old is untouched, as on a real failure */
    void *p = __libc_realloc(old, n);
    /* Success, or realloc(old, 0), frees old. */
    malloc_fail_note(ret, (p || !n) ? old : NULL, p);
    return p;
}
void *memalign(size_t al, size_t n) {
    const void *ret = __builtin_return_address(0);
    malloc_count_hit();
    if (malloc_fail_now(ret)) return NULL;
    void *p = __libc_memalign(al, n);
    malloc_fail_note(ret, NULL, p);
    return p;
}
void *aligned_alloc(size_t al, size_t n) {
    const void *ret = __builtin_return_address(0);
    malloc_count_hit();
    if (malloc_fail_now(ret)) return NULL;
    void *p = __libc_memalign(al, n);
    malloc_fail_note(ret, NULL, p);
    return p;
}
int posix_memalign(void **out, size_t al, size_t n) {
    const void *ret = __builtin_return_address(0);
    malloc_count_hit();
    if (malloc_fail_now(ret)) return ENOMEM;
    void *p = __libc_memalign(al, n);
    if (!p) return ENOMEM;
    malloc_fail_note(ret, NULL, p);
    *out = p;
    return 0;
}
void free(void *p) {
    if (p) malloc_fail_note(NULL, p, NULL);
    __libc_free(p);
}
#endif

#endif
