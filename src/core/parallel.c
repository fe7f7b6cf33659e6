/* parallel.c — a pool of spinning-then-sleeping workers, one job at a time.
 *
 * A job is (fn, arg, ntasks). The caller publishes it and bumps `gen`;
 * workers that see the new generation take task indices from `next` until
 * none is left, then report through `busy`. The caller takes tasks too and
 * then waits for `busy` to reach zero. A worker that sees no new job for
 * SPIN_ROUNDS pauses goes to sleep on the condition variable; `gen` is
 * bumped under the mutex, so a sleeper cannot miss a job. */
#include "tern/parallel.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* About 0.2-0.5 ms of pauses: longer than the gaps inside a step, shorter
 * than anything a user would see as a busy idle core. */
#define SPIN_ROUNDS 20000

static struct {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    int nthreads;        /* workers + the caller */
    _Atomic int quit;    /* set under mu: workers return */
    pthread_t worker[TERN_PARALLEL_MAX_THREADS];
    _Atomic unsigned gen; /* bumped per job (and to quit), under mu */
    _Atomic int next;     /* next task to hand out */
    _Atomic int busy;     /* workers still inside the current job */
    tern_task_fn fn;
    void *arg;
    int ntasks, used;     /* the job; threads with index < used take part */
    unsigned start_gen;   /* gen when the workers were started: no job seen yet */
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .nthreads = 1};

/* The index of the pool thread running a task on this thread, -1 outside
 * tasks: a nested job runs inline, under the same index (and so with the
 * same scratch) as the task it runs in. */
static _Thread_local int task_thread = -1;

static void take_tasks(int thread) {
    task_thread = thread;
    for (int t; (t = atomic_fetch_add(&P.next, 1)) < P.ntasks;) P.fn(P.arg, t, thread);
    task_thread = -1;
}

static void *worker_main(void *p) {
    int id = (int)(intptr_t)p;
    unsigned seen = P.start_gen; /* not gen now: a job may already be out */
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load(&P.gen)) == seen) {
            if (++spins < SPIN_ROUNDS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&P.mu);
            while (atomic_load(&P.gen) == seen && !atomic_load(&P.quit)) pthread_cond_wait(&P.wake, &P.mu);
            pthread_mutex_unlock(&P.mu);
            spins = 0;
        }
        seen = g;
        if (atomic_load(&P.quit)) return NULL;
        if (id < P.used) take_tasks(id);
        atomic_fetch_sub(&P.busy, 1);
    }
}

static void stop_workers(void) {
    pthread_mutex_lock(&P.mu);
    atomic_store(&P.quit, 1);
    atomic_fetch_add(&P.gen, 1);
    pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.mu);
    for (int i = 1; i < P.nthreads; i++) pthread_join(P.worker[i], NULL);
    atomic_store(&P.quit, 0);
    P.nthreads = 1;
}

tern_status tern_parallel_set_threads(int n) {
    if (n < 1 || n > TERN_PARALLEL_MAX_THREADS)
        return tern_error(TERN_ERR_ARG, "parallel: %d threads is outside 1..%d", n, TERN_PARALLEL_MAX_THREADS);
    if (n == P.nthreads) return TERN_OK;
    stop_workers();
    P.start_gen = atomic_load(&P.gen);
    for (int i = 1; i < n; i++) {
        int rc = pthread_create(&P.worker[i], NULL, worker_main, (void *)(intptr_t)i);
        if (rc) {
            int started = i;
            P.nthreads = started;
            return tern_error(TERN_ERR_NOMEM, "parallel: cannot start worker %d of %d: %s (running on %d threads)",
                              i, n - 1, strerror(rc), started);
        }
        P.nthreads = i + 1;
    }
    return TERN_OK;
}

int tern_parallel_threads(void) { return P.nthreads; }

void tern_parallel_for(int ntasks, int max_threads, tern_task_fn fn, void *arg) {
    if (ntasks <= 0) return;
    int used = P.nthreads;
    if (max_threads > 0 && max_threads < used) used = max_threads;
    if (used > ntasks) used = ntasks;
    if (used <= 1 || task_thread >= 0) {
        int thread = task_thread >= 0 ? task_thread : 0;
        for (int t = 0; t < ntasks; t++) fn(arg, t, thread);
        return;
    }
    P.fn = fn;
    P.arg = arg;
    P.ntasks = ntasks;
    P.used = used;
    atomic_store(&P.next, 0);
    atomic_store(&P.busy, P.nthreads - 1);
    pthread_mutex_lock(&P.mu);
    atomic_fetch_add(&P.gen, 1);
    pthread_cond_broadcast(&P.wake);
    pthread_mutex_unlock(&P.mu);
    take_tasks(0);
    /* A worker may be descheduled (more threads than free cores): after a
     * spin, give the core away rather than burn its time slice. */
    for (int spins = 0; atomic_load(&P.busy) > 0;)
        if (++spins < SPIN_ROUNDS) cpu_relax();
        else sched_yield();
}

void tern_parallel_range(size_t n, int ntasks, int t, size_t *lo, size_t *hi) {
    size_t q = n / (size_t)ntasks, r = n % (size_t)ntasks, ut = (size_t)t;
    *lo = ut * q + (ut < r ? ut : r);
    *hi = *lo + q + (ut < r ? 1 : 0);
}
