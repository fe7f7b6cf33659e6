/* pool.c — a pool of spinning-then-sleeping workers, one job at a time.
 *
 * A job is (fn, arg, ntasks). The caller publishes it and bumps `gen`;
 * workers that see the new generation take task indices from `next` until
 * none is left, then report through `busy`. The caller takes tasks too and
 * then waits for `busy` to reach zero. A worker that sees no new job for
 * SPIN_ROUNDS pauses goes to sleep on the condition variable; `gen` is
 * bumped under the mutex, so a sleeper cannot miss a job.
 *
 * A job started from inside a task runs inline. The pool knows it is inside
 * a job (`running`, set by the caller) and finds the calling thread's index
 * by its pthread id, so the nested tasks get the enclosing task's index
 * (and so its scratch). */
#include "tern/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
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

/* What a worker is started with: its pool and its index. */
typedef struct worker {
    struct tern_pool *pool;
    int id;
} worker;

struct tern_pool {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    int nthreads;         /* workers + the caller */
    _Atomic int quit;     /* set under mu: workers return */
    pthread_t thread[TERN_POOL_MAX_THREADS];  /* the workers, from [1]; [0] is the caller */
    worker arg[TERN_POOL_MAX_THREADS];
    _Atomic unsigned gen; /* bumped per job (and to quit), under mu */
    _Atomic int next;     /* next task to hand out */
    _Atomic int busy;     /* workers still inside the current job */
    _Atomic int running;  /* a job is out: a tern_pool_for from a task runs inline */
    tern_task_fn fn;
    void *job_arg;
    int ntasks, used;     /* the job; threads with index < used take part */
    void *scratch[TERN_POOL_MAX_THREADS];  /* per thread, 64-byte aligned */
    size_t scratch_bytes;
};

static void take_tasks(tern_pool *p, int thread) {
    for (int t; (t = atomic_fetch_add(&p->next, 1)) < p->ntasks;) p->fn(p->job_arg, t, thread);
}

static void *worker_main(void *a) {
    const worker *w = a;
    tern_pool *p = w->pool;
    unsigned seen = 0; /* the pool starts at gen 0, before any job */
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load(&p->gen)) == seen) {
            if (++spins < SPIN_ROUNDS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->wake, &p->mu);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        seen = g;
        if (atomic_load(&p->quit)) return NULL;
        if (w->id < p->used) take_tasks(p, w->id);
        atomic_fetch_sub(&p->busy, 1);
    }
}

/* Stop and join the workers 1 .. nthreads-1, free the scratch and p. */
static void pool_destroy(tern_pool *p) {
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->nthreads; i++) pthread_join(p->thread[i], NULL);
    for (int i = 0; i < TERN_POOL_MAX_THREADS; i++) free(p->scratch[i]);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

tern_status tern_pool_init(tern_pool **out, int threads) {
    *out = NULL;
    if (threads < 1 || threads > TERN_POOL_MAX_THREADS)
        return tern_error(TERN_ERR_ARG, "pool: %d threads is outside 1..%d", threads, TERN_POOL_MAX_THREADS);
    tern_pool *p = calloc(1, sizeof *p);
    if (!p) return tern_error(TERN_ERR_NOMEM, "pool: cannot allocate a pool of %d threads", threads);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->nthreads = 1;
    for (int i = 1; i < threads; i++) {
        p->arg[i] = (worker){p, i};
        int rc = pthread_create(&p->thread[i], NULL, worker_main, &p->arg[i]);
        if (rc) {
            pool_destroy(p);
            return tern_error(TERN_ERR_NOMEM, "pool: cannot start worker %d of %d: %s", i, threads - 1, strerror(rc));
        }
        p->nthreads = i + 1;
    }
    *out = p;
    return TERN_OK;
}

void tern_pool_free(tern_pool *p) {
    if (p) pool_destroy(p);
}

int tern_pool_threads(const tern_pool *p) { return p ? p->nthreads : 1; }

/* The index of the calling thread in p's running job; 0 when it is not one
 * of p's threads. */
static int self_index(const tern_pool *p) {
    pthread_t self = pthread_self();
    for (int i = 1; i < p->nthreads; i++)
        if (pthread_equal(p->thread[i], self)) return i;
    return 0;
}

void tern_pool_for(tern_pool *p, int ntasks, int max_threads, tern_task_fn fn, void *arg) {
    if (ntasks <= 0) return;
    int inside = p && atomic_load(&p->running);
    int used = tern_pool_threads(p);
    if (max_threads > 0 && max_threads < used) used = max_threads;
    if (used > ntasks) used = ntasks;
    if (used <= 1 || inside) {
        int thread = inside ? self_index(p) : 0;
        for (int t = 0; t < ntasks; t++) fn(arg, t, thread);
        return;
    }
    p->fn = fn;
    p->job_arg = arg;
    p->ntasks = ntasks;
    p->used = used;
    atomic_store(&p->next, 0);
    atomic_store(&p->busy, p->nthreads - 1);
    atomic_store(&p->running, 1);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    take_tasks(p, 0);
    /* A worker may be descheduled (more threads than free cores): after a
     * spin, give the core away rather than burn its time slice. */
    for (int spins = 0; atomic_load(&p->busy) > 0;)
        if (++spins < SPIN_ROUNDS) cpu_relax();
        else sched_yield();
    atomic_store(&p->running, 0);
}

tern_status tern_pool_reserve(tern_pool *p, size_t bytes) {
    if (!p || bytes <= p->scratch_bytes) return TERN_OK;
    bytes = (bytes + 63) & ~(size_t)63;
    for (int i = 0; i < p->nthreads; i++) {
        void *s = aligned_alloc(64, bytes);
        if (!s) return tern_error(TERN_ERR_NOMEM, "pool: cannot allocate %zu bytes of scratch per thread", bytes);
        free(p->scratch[i]);
        p->scratch[i] = s;
    }
    p->scratch_bytes = bytes;
    return TERN_OK;
}

void *tern_pool_scratch(const tern_pool *p, int thread) { return p ? p->scratch[thread] : NULL; }

void tern_pool_range(size_t n, int ntasks, int t, size_t *lo, size_t *hi) {
    size_t q = n / (size_t)ntasks, r = n % (size_t)ntasks, ut = (size_t)t;
    *lo = ut * q + (ut < r ? ut : r);
    *hi = *lo + q + (ut < r ? 1 : 0);
}
