/* tern/parallel.h — the worker threads of a training step.
 *
 * One process-wide pool, as OpenBLAS has one: tern_parallel_set_threads(n)
 * starts n - 1 workers, and the caller of tern_parallel_for is the n-th.
 * An op splits its work into tasks whose number and bounds depend only on
 * the shapes, never on the thread count; each task writes its own part of
 * the output, and anything summed across tasks is summed afterwards in task
 * order. So a step gives the same bits on 1 thread as on 2. The `thread`
 * argument only says whose scratch buffer a task may use.
 *
 * Between jobs the workers spin for a fraction of a millisecond, so the
 * many short jobs of one step start without a wake-up, then sleep.
 * OpenBLAS should run single-threaded meanwhile (openblas_set_num_threads(1)):
 * its threads and these would share two cores. */
#ifndef TERN_PARALLEL_H
#define TERN_PARALLEL_H

#include <stddef.h>

#include "tern/status.h"

#define TERN_PARALLEL_MAX_THREADS 64

/* fn(arg, task, thread): task in [0, ntasks), thread in [0, threads used). */
typedef void (*tern_task_fn)(void *arg, int task, int thread);

/* Use n threads (1..TERN_PARALLEL_MAX_THREADS; 1: no workers). Not while a
 * job runs. Fails with a message when a worker cannot be started (the pool
 * then keeps the workers it has). */
tern_status tern_parallel_set_threads(int n);

/* Threads a job may use now (1 with no workers). */
int tern_parallel_threads(void);

/* Run fn for every task on at most max_threads threads (0: all) and return
 * when all are done. Tasks are handed out in order, one at a time. Called
 * from inside a task, it runs the tasks inline on that thread, passing them
 * that task's thread index. */
void tern_parallel_for(int ntasks, int max_threads, tern_task_fn fn, void *arg);

/* The part [*lo, *hi) of n items that task t of ntasks owns: contiguous,
 * sizes differing by at most one, in task order. */
void tern_parallel_range(size_t n, int ntasks, int t, size_t *lo, size_t *hi);

#endif
