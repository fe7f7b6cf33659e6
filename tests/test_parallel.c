/* test_parallel.c — the worker pool, and the promise the ops build on it:
 * a training step gives the same bits on 1 thread as on 2.
 *
 * The second part runs a small CNN with every parallel op (conv2d with a
 * tail chunk and several dW partials, batchnorm over planes, relu, maxpool,
 * a linear big enough to be cut into tasks) for three Adam steps on each
 * thread count and compares losses, gradients and weights bit for bit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tern.h"

static int teardown_threads(void **state) {
    (void)state;
    return tern_parallel_set_threads(1) == TERN_OK ? 0 : -1;
}

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
                tern_parallel_range(ns[a], ts[b], t, &lo, &hi);
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
    _Atomic int runs[TASKS];
    _Atomic int by_thread[TERN_PARALLEL_MAX_THREADS];
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
    if (thread < 0 || thread >= tern_parallel_threads()) atomic_store(&j->bad_thread, 1);
    atomic_fetch_add(&j->runs[task], 1);
    atomic_fetch_add(&j->by_thread[thread], 1);
    if (j->nested) {
        nested_job n = {j, thread, 0};
        tern_parallel_for(4, 0, count_inner, &n); /* must not deadlock */
        if (n.runs != 4) atomic_store(&j->bad_thread, 1);
    }
}

static void run_counted(int max_threads, int nested, count_job *j) {
    memset(j, 0, sizeof *j);
    j->nested = nested;
    tern_parallel_for(TASKS, max_threads, count_task, j);
    assert_int_equal(atomic_load(&j->bad_thread), 0);
    for (int t = 0; t < TASKS; t++) assert_int_equal(atomic_load(&j->runs[t]), 1);
}

/* Every task runs exactly once, on a thread in range, on 1 and 2 threads,
 * with a thread limit and with nested jobs; many jobs back to back. */
static void test_every_task_once(void **state) {
    (void)state;
    static count_job j;
    assert_int_equal(tern_parallel_threads(), 1);
    run_counted(0, 0, &j);
    assert_int_equal(atomic_load(&j.by_thread[0]), TASKS);
    assert_int_equal(tern_parallel_set_threads(2), TERN_OK);
    assert_int_equal(tern_parallel_threads(), 2);
    for (int rep = 0; rep < 200; rep++) run_counted(0, rep % 2, &j);
    run_counted(1, 0, &j);
    assert_int_equal(atomic_load(&j.by_thread[0]), TASKS); /* max_threads 1: the caller alone */
    /* shrink and grow again */
    assert_int_equal(tern_parallel_set_threads(1), TERN_OK);
    run_counted(0, 0, &j);
    assert_int_equal(tern_parallel_set_threads(3), TERN_OK);
    run_counted(0, 1, &j);
}

static void test_bad_thread_counts(void **state) {
    (void)state;
    assert_int_equal(tern_parallel_set_threads(0), TERN_ERR_ARG);
    assert_non_null(strstr(tern_errmsg(), "0 threads"));
    assert_int_equal(tern_parallel_set_threads(TERN_PARALLEL_MAX_THREADS + 1), TERN_ERR_ARG);
    assert_int_equal(tern_parallel_threads(), 1);
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

enum { BATCH = 40, STEPS = 3 }; /* 40 = two chunks of 16 and a tail of 8 */

typedef struct {
    float loss[STEPS];
    float *data, *grad; /* copies of the parameter blocks after the last step */
    size_t total;
} step_trace;

static void train_trace(int threads, step_trace *tr) {
    assert_int_equal(tern_parallel_set_threads(threads), TERN_OK);
    tern_layer_spec specs[sizeof small_cnn / sizeof small_cnn[0]];
    memcpy(specs, small_cnn, sizeof specs);
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (specs[i].ternary) specs[i].quant = tern_quant_cfg_default(TERN_QUANT_TWN);
    int in_shape[3] = {2, 16, 16};
    tern_model m;
    tern_ctx c;
    tern_optim o;
    tern_optim_config oc = tern_optim_default(TERN_OPTIM_ADAM);
    assert_int_equal(tern_model_init(&m, specs, (int)(sizeof specs / sizeof specs[0]), 3, in_shape, TERN_INIT_HE, 7),
                     TERN_OK);
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    assert_int_equal(tern_optim_init(&o, &m.params, &oc), TERN_OK);
    tern_rng r;
    tern_rng_seed(&r, 11);
    c.rng = &r;
    static float xs[BATCH * 2 * 16 * 16];
    int ys[BATCH];
    for (size_t i = 0; i < sizeof xs / sizeof xs[0]; i++) xs[i] = tern_rng_normal(&r);
    for (int i = 0; i < BATCH; i++) ys[i] = (int)tern_rng_below(&r, 10);
    int shape[4] = {BATCH, 2, 16, 16};
    tern_tensor x = tern_tensor_view(xs, NULL, 4, shape);
    for (int s = 0; s < STEPS; s++) {
        tern_step_result res;
        assert_int_equal(tern_model_train_step(&m, &c, &o, &x, ys, 1e-2f, 0.0f, &res), TERN_OK);
        tr->loss[s] = res.loss;
    }
    tr->total = m.params.total;
    tr->data = malloc(sizeof(float) * tr->total);
    tr->grad = malloc(sizeof(float) * tr->total);
    assert_non_null(tr->data);
    assert_non_null(tr->grad);
    memcpy(tr->data, m.params.data, sizeof(float) * tr->total);
    memcpy(tr->grad, m.params.grad, sizeof(float) * tr->total);
    tern_optim_free(&o);
    tern_ctx_free(&c);
    tern_model_free(&m);
}

static void test_step_same_bits_on_1_and_2_threads(void **state) {
    (void)state;
    step_trace one, two;
    train_trace(1, &one);
    train_trace(2, &two);
    assert_int_equal(one.total, two.total);
    for (int s = 0; s < STEPS; s++) assert_memory_equal(&one.loss[s], &two.loss[s], sizeof(float));
    assert_memory_equal(one.grad, two.grad, sizeof(float) * one.total);
    assert_memory_equal(one.data, two.data, sizeof(float) * one.total);
    /* and the step did something: the loss moved and the grads are not all zero */
    assert_true(one.loss[0] != one.loss[STEPS - 1]);
    size_t nonzero = 0;
    for (size_t i = 0; i < one.total; i++) nonzero += one.grad[i] != 0.0f;
    assert_true(nonzero > one.total / 2);
    free(one.data), free(one.grad), free(two.data), free(two.grad);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_partitions),
        cmocka_unit_test_teardown(test_every_task_once, teardown_threads),
        cmocka_unit_test(test_bad_thread_counts),
        cmocka_unit_test_teardown(test_step_same_bits_on_1_and_2_threads, teardown_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
