/* test_pool.c — the worker pool, and the promise the ops build on it:
 * a training step gives the same bits on 1 thread as on 2.
 *
 * The second part runs a small CNN with every parallel op (conv2d with a
 * tail chunk and several dW partials, batchnorm over planes, relu, maxpool,
 * a linear big enough to be cut into tasks) for three Adam steps on each
 * thread count and compares losses, gradients and weights bit for bit; then
 * two host threads run it at once, each with its own pool and context. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tern.h"

/* Ranges: contiguous, in order, covering [0, n), sizes within one. */
static void test_range_partitions(void **state) {
    (void)state;
    const size_t ns[] = {0, 1, 7, 8, 100, 1001};
    const int ts[] = {1, 3, 8, 13};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof ts / sizeof ts[0]; b++) {
            size_t next = 0, smallest = SIZE_MAX, largest = 0;
            for (int t = 0; t < ts[b]; t++) {
                size_t lo, hi;
                tern_pool_range(ns[a], ts[b], t, &lo, &hi);
                assert_int_equal(lo, next);
                assert_true(hi >= lo);
                next = hi;
                if (hi - lo < smallest) smallest = hi - lo;
                if (hi - lo > largest) largest = hi - lo;
            }
            assert_int_equal(next, ns[a]);
            assert_true(largest - smallest <= 1);
        }
}

enum { TASKS = 1000 };

typedef struct {
    tern_pool *pool;
    _Atomic int runs[TASKS];
    _Atomic int by_thread[TERN_POOL_MAX_THREADS];
    _Atomic int bad_thread;
    int nested;  /* run a job from inside each task */
} count_job;

/* A job run from inside a task: inline, on the task's thread index, so it
 * may use that thread's scratch. */
typedef struct {
    count_job *j;
    int outer;  /* the enclosing task's thread */
    int runs;
} nested_job;

static void count_inner(void *arg, int task, int thread) {
    (void)task;
    nested_job *n = arg;
    if (thread != n->outer) atomic_store(&n->j->bad_thread, 1);
    n->runs++; /* inline: never two at once */
}

static void count_task(void *arg, int task, int thread) {
    count_job *j = arg;
    if (thread < 0 || thread >= tern_pool_threads(j->pool)) atomic_store(&j->bad_thread, 1);
    atomic_fetch_add(&j->runs[task], 1);
    atomic_fetch_add(&j->by_thread[thread], 1);
    if (j->nested) {
        nested_job n = {j, thread, 0};
        tern_pool_for(j->pool, 4, 0, count_inner, &n); /* must not deadlock */
        if (n.runs != 4) atomic_store(&j->bad_thread, 1);
    }
}

static void run_counted(tern_pool *p, int max_threads, int nested, count_job *j) {
    memset(j, 0, sizeof *j);
    j->pool = p;
    j->nested = nested;
    tern_pool_for(p, TASKS, max_threads, count_task, j);
    assert_int_equal(atomic_load(&j->bad_thread), 0);
    for (int t = 0; t < TASKS; t++) assert_int_equal(atomic_load(&j->runs[t]), 1);
}

/* Every task runs exactly once, on a thread in range, with no pool and on
 * pools of 1, 2 and 3 threads, with a thread limit and with nested jobs;
 * many jobs back to back. */
static void test_every_task_once(void **state) {
    (void)state;
    static count_job j;
    assert_int_equal(tern_pool_threads(NULL), 1);
    run_counted(NULL, 0, 1, &j);
    assert_int_equal(atomic_load(&j.by_thread[0]), TASKS);
    tern_pool *p;
    assert_int_equal(tern_pool_init(&p, 2), TERN_OK);
    assert_int_equal(tern_pool_threads(p), 2);
    for (int rep = 0; rep < 200; rep++) run_counted(p, 0, rep % 2, &j);
    run_counted(p, 1, 0, &j);
    assert_int_equal(atomic_load(&j.by_thread[0]), TASKS); /* max_threads 1: the caller alone */
    tern_pool_free(p);
    assert_int_equal(tern_pool_init(&p, 1), TERN_OK);
    run_counted(p, 0, 0, &j);
    assert_int_equal(atomic_load(&j.by_thread[0]), TASKS);
    tern_pool_free(p);
    assert_int_equal(tern_pool_init(&p, 3), TERN_OK);
    assert_int_equal(tern_pool_threads(p), 3);
    run_counted(p, 0, 1, &j);
    tern_pool_free(p);
    tern_pool_free(NULL);
}

static void test_bad_thread_counts(void **state) {
    (void)state;
    tern_pool *p = (tern_pool *)&p;
    assert_int_equal(tern_pool_init(&p, 0), TERN_ERR_ARG);
    assert_non_null(strstr(tern_errmsg(), "0 threads"));
    assert_null(p);
    assert_int_equal(tern_pool_init(&p, TERN_POOL_MAX_THREADS + 1), TERN_ERR_ARG);
    assert_null(p);
}

/* Scratch: one aligned block per thread, kept when a smaller one is asked
 * for, and no thread writes into another's. */
typedef struct {
    tern_pool *pool;
    _Atomic int bad;
} scratch_job;

static void scratch_task(void *arg, int task, int thread) {
    (void)task;
    scratch_job *j = arg;
    volatile unsigned char *s = tern_pool_scratch(j->pool, thread);
    if (!s || (uintptr_t)s % 64) {
        atomic_store(&j->bad, 1);
        return;
    }
    for (int i = 0; i < 4096; i++) s[i] = (unsigned char)(thread + 1);
    for (int i = 0; i < 4096; i++)
        if (s[i] != thread + 1) atomic_store(&j->bad, 1);
}

static void test_scratch_per_thread(void **state) {
    (void)state;
    tern_pool *p;
    assert_int_equal(tern_pool_init(&p, 2), TERN_OK);
    assert_null(tern_pool_scratch(p, 0));
    assert_int_equal(tern_pool_reserve(p, 4096), TERN_OK);
    void *s0 = tern_pool_scratch(p, 0), *s1 = tern_pool_scratch(p, 1);
    assert_non_null(s0);
    assert_non_null(s1);
    assert_ptr_not_equal(s0, s1);
    assert_int_equal(tern_pool_reserve(p, 100), TERN_OK);
    assert_ptr_equal(tern_pool_scratch(p, 0), s0); /* big enough already */
    scratch_job j = {.pool = p};
    for (int rep = 0; rep < 50; rep++) tern_pool_for(p, 64, 0, scratch_task, &j);
    assert_int_equal(atomic_load(&j.bad), 0);
    assert_int_equal(tern_pool_reserve(NULL, 1 << 20), TERN_OK);
    assert_null(tern_pool_scratch(NULL, 0));
    tern_pool_free(p);
}

/* ---- a training step on 1 and 2 threads ------------------------------------ */

static const tern_layer_spec small_cnn[] = {
    {.type = TERN_LAYER_CONV2D, .name = "conv1", .out = 8, .kernel = 3, .pad = 1, .no_bias = 1},
    {.type = TERN_LAYER_BATCHNORM, .name = "bn1", .act = TERN_ACT_RELU},
    {.type = TERN_LAYER_MAXPOOL, .kernel = 2},
    {.type = TERN_LAYER_CONV2D, .name = "conv2", .out = 16, .kernel = 3, .act = TERN_ACT_RELU, .ternary = 1},
    {.type = TERN_LAYER_FLATTEN},
    {.type = TERN_LAYER_LINEAR, .name = "fc1", .out = 256, .no_bias = 1, .ternary = 1},
    {.type = TERN_LAYER_BATCHNORM, .name = "bn2", .act = TERN_ACT_RELU},
    {.type = TERN_LAYER_LINEAR, .name = "fc2", .out = 10},
};

enum { BATCH = 40, STEPS = 3, NX = BATCH * 2 * 16 * 16 }; /* 40 = two chunks of 16 and a tail of 8 */

typedef struct {
    float loss[STEPS];
    float *data, *grad; /* copies of the parameter blocks after the last step */
    size_t total;
} step_trace;

/* STEPS Adam steps of small_cnn on pool's threads into *tr; 0, or -1 on
 * any failure. No cmocka assertion: host threads run it too. */
static int run_trace(tern_pool *pool, step_trace *tr) {
    memset(tr, 0, sizeof *tr);
    tern_layer_spec specs[sizeof small_cnn / sizeof small_cnn[0]];
    memcpy(specs, small_cnn, sizeof specs);
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (specs[i].ternary) specs[i].quant = tern_quant_cfg_default(TERN_QUANT_TWN);
    int in_shape[3] = {2, 16, 16};
    tern_model m;
    tern_ctx c;
    tern_optim o;
    tern_optim_config oc = tern_optim_default(TERN_OPTIM_ADAM);
    if (tern_model_init(&m, specs, (int)(sizeof specs / sizeof specs[0]), 3, in_shape, TERN_INIT_HE, 7)) return -1;
    if (tern_ctx_init(&c, 0)) {
        tern_model_free(&m);
        return -1;
    }
    const int optim_ok = tern_optim_init(&o, &m.params, &oc) == TERN_OK;
    int bad = !optim_ok;
    tern_rng r;
    tern_rng_seed(&r, 11);
    c.rng = &r;
    c.pool = pool;
    float *xs = malloc(sizeof(float) * NX);
    int ys[BATCH];
    bad |= !xs;
    for (size_t i = 0; !bad && i < NX; i++) xs[i] = tern_rng_normal(&r);
    for (int i = 0; i < BATCH; i++) ys[i] = (int)tern_rng_below(&r, 10);
    int shape[4] = {BATCH, 2, 16, 16};
    tern_tensor x = tern_tensor_view(xs, NULL, 4, shape);
    for (int s = 0; !bad && s < STEPS; s++) {
        tern_step_result res;
        bad = tern_model_train_step(&m, &c, &o, &x, ys, 1e-2f, 0.0f, &res) != TERN_OK;
        tr->loss[s] = res.loss;
    }
    tr->total = m.params.total;
    tr->data = malloc(sizeof(float) * tr->total);
    tr->grad = malloc(sizeof(float) * tr->total);
    bad |= !tr->data || !tr->grad;
    if (!bad) {
        memcpy(tr->data, m.params.data, sizeof(float) * tr->total);
        memcpy(tr->grad, m.params.grad, sizeof(float) * tr->total);
    }
    free(xs);
    if (optim_ok) tern_optim_free(&o);
    tern_ctx_free(&c);
    tern_model_free(&m);
    return bad ? -1 : 0;
}

/* The trace on `threads` threads (1: no pool at all, every task inline). */
static void train_trace(int threads, step_trace *tr) {
    tern_pool *p = NULL;
    if (threads > 1) assert_int_equal(tern_pool_init(&p, threads), TERN_OK);
    assert_int_equal(run_trace(p, tr), 0);
    tern_pool_free(p);
}

static void trace_free(step_trace *tr) {
    free(tr->data);
    free(tr->grad);
}

static void assert_same_trace(const step_trace *a, const step_trace *b) {
    assert_int_equal(a->total, b->total);
    for (int s = 0; s < STEPS; s++) assert_memory_equal(&a->loss[s], &b->loss[s], sizeof(float));
    assert_memory_equal(a->grad, b->grad, sizeof(float) * a->total);
    assert_memory_equal(a->data, b->data, sizeof(float) * a->total);
}

static void test_step_same_bits_on_1_and_2_threads(void **state) {
    (void)state;
    step_trace one, two;
    train_trace(1, &one);
    train_trace(2, &two);
    assert_same_trace(&one, &two);
    /* and the step did something: the loss moved and the grads are not all zero */
    assert_true(one.loss[0] != one.loss[STEPS - 1]);
    size_t nonzero = 0;
    for (size_t i = 0; i < one.total; i++) nonzero += one.grad[i] != 0.0f;
    assert_true(nonzero > one.total / 2);
    trace_free(&one);
    trace_free(&two);
}

/* ---- two host threads at once ------------------------------------------------ */

enum { ROUNDS = 4 };

typedef struct {
    tern_pool *pool;
    step_trace tr[ROUNDS];
    int rc;
} host_job;

static void *host_main(void *arg) {
    host_job *h = arg;
    for (int i = 0; i < ROUNDS && !h->rc; i++) h->rc = run_trace(h->pool, &h->tr[i]);
    return NULL;
}

/* Two host threads, each with its own pool of 2 and its own context, train
 * at the same time, ROUNDS times each; every trace is the single-threaded
 * one, bit for bit. With one process-wide pool (or kernel buffers shared
 * between callers) the two would race. */
static void test_two_host_threads_with_own_pools(void **state) {
    (void)state;
    step_trace ref;
    train_trace(1, &ref);
    host_job h[2];
    memset(h, 0, sizeof h);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(tern_pool_init(&h[i].pool, 2), TERN_OK);
        assert_int_equal(pthread_create(&t[i], NULL, host_main, &h[i]), 0);
    }
    for (int i = 0; i < 2; i++) assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(h[i].rc, 0);
        for (int k = 0; k < ROUNDS; k++) {
            assert_same_trace(&ref, &h[i].tr[k]);
            trace_free(&h[i].tr[k]);
        }
        tern_pool_free(h[i].pool);
    }
    trace_free(&ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_partitions),
        cmocka_unit_test(test_every_task_once),
        cmocka_unit_test(test_bad_thread_counts),
        cmocka_unit_test(test_scratch_per_thread),
        cmocka_unit_test(test_step_same_bits_on_1_and_2_threads),
        cmocka_unit_test(test_two_host_threads_with_own_pools),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
