/* tern/pool.h — a pool of worker threads, created and passed by its caller.
 *
 * tern_pool_init(&p, n) starts n - 1 workers, and the caller of
 * tern_pool_for is the n-th. A training step's ops get the pool from their
 * context (tern_ctx.pool); a NULL pool runs every task inline on the
 * caller's thread. Pools are independent: two host threads, each with its
 * own pool and context, run at once without sharing anything. One pool
 * serves one host thread at a time.
 *
 * An op splits its work into tasks whose number and bounds depend only on
 * the shapes, never on the thread count; each task writes its own part of
 * the output, and anything summed across tasks is summed afterwards in task
 * order. So a step gives the same bits on 1 thread as on 2, or on a NULL
 * pool. The `thread` argument only says whose scratch a task may use.
 *
 * Between jobs the workers spin for a fraction of a millisecond, so the
 * many short jobs of one step start without a wake-up, then sleep.
 * OpenBLAS should run single-threaded meanwhile (openblas_set_num_threads(1)):
 * its threads and these would share the cores. */
#ifndef TERN_POOL_H
#define TERN_POOL_H

#include <stddef.h>

#include "tern/api.h"
#include "tern/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_POOL_MAX_THREADS 64

typedef struct tern_pool tern_pool;

/* fn(arg, task, thread): task in [0, ntasks), thread in [0, threads used). */
typedef void (*tern_task_fn)(void *arg, int task, int thread);

/* *p = a pool of `threads` threads (1..TERN_POOL_MAX_THREADS; 1: no
 * workers, the caller alone). Fails with a message, and *p NULL, when a
 * worker cannot be started. */
TERN_API tern_status tern_pool_init(tern_pool **p, int threads);

/* Stop the workers and release everything; NULL is a no-op. Not while a job runs. */
TERN_API void tern_pool_free(tern_pool *p);

/* Threads a job may use: 1 for a NULL pool. */
TERN_API int tern_pool_threads(const tern_pool *p);

/* Run fn for every task on at most max_threads threads (0: all) and return
 * when all are done. Tasks are handed out in order, one at a time. Called
 * from inside one of this pool's tasks, it runs the tasks inline on that
 * thread, passing them that task's thread index. NULL pool: inline, thread 0. */
TERN_API void tern_pool_for(tern_pool *p, int ntasks, int max_threads, tern_task_fn fn, void *arg);

/* Give every thread of p a 64-byte aligned scratch block of at least
 * `bytes` (blocks only grow). Not while a job runs. */
TERN_API tern_status tern_pool_reserve(tern_pool *p, size_t bytes);

/* Thread `thread`'s scratch block (tern_pool_reserve), NULL before any;
 * a task may use its own thread's block for the length of a call. */
TERN_API void *tern_pool_scratch(const tern_pool *p, int thread);

/* The part [*lo, *hi) of n items that task t of ntasks owns: contiguous,
 * sizes differing by at most one, in task order. */
TERN_API void tern_pool_range(size_t n, int ntasks, int t, size_t *lo, size_t *hi);

#ifdef __cplusplus
}
#endif

#endif
