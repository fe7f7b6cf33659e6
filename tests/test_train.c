/* test_train.c — whole training steps: a tiny MLP learns a synthetic task,
 * the same seed and thread count give bit-identical losses, and a
 * steady-state step calls malloc zero times; the validation split is
 * stratified, exact in size, disjoint and seeded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "malloc_count.h"
#include "tern.h"

/* A synthetic task with a margin: x ~ U(-1,1)^D, label = argmax(A x) of a
 * fixed random teacher A (K,D), keeping only points whose top two teacher
 * scores differ by more than 0.5, so 100% accuracy is reachable. */
typedef struct {
    int n, d, k;
    float *x; /* (n,d) */
    int *y;   /* (n) */
} toyset;

static toyset toy_make(int n, int d, int k, uint64_t seed, uint64_t teacher_seed) {
    toyset s = {n, d, k, malloc(sizeof(float) * (size_t)n * d), malloc(sizeof(int) * (size_t)n)};
    tern_rng tr, r;
    tern_rng_seed(&tr, teacher_seed);
    tern_rng_seed(&r, seed);
    float *A = malloc(sizeof(float) * (size_t)k * d);
    for (int i = 0; i < k * d; i++) A[i] = tern_rng_normal(&tr);
    for (int i = 0; i < n;) {
        float *xi = s.x + (size_t)i * d, best = -1e30f, second = -1e30f;
        int arg = 0;
        for (int j = 0; j < d; j++) xi[j] = 2.0f * tern_rng_uniform(&r) - 1.0f;
        for (int c = 0; c < k; c++) {
            float z = 0;
            for (int j = 0; j < d; j++) z += A[c * d + j] * xi[j];
            if (z > best) second = best, best = z, arg = c;
            else if (z > second) second = z;
        }
        if (best - second > 0.5f) s.y[i++] = arg;
    }
    free(A);
    return s;
}

static void toy_free(toyset *s) {
    free(s->x);
    free(s->y);
}

static const tern_layer_spec mlp_spec[] = {
    {.type = TERN_LAYER_LINEAR, .name = "fc1", .out = 32, .act = TERN_ACT_RELU},
    {.type = TERN_LAYER_LINEAR, .name = "fc2", .out = 4},
};

/* The worker threads of train_toy's steps; NULL: the caller's alone. */
static tern_pool *toy_pool;

/* Train on `tr` for `epochs` (batches of `bs` in order), record every loss. */
static void train_toy(tern_model *m, const toyset *tr, int epochs, int bs, float lr, float *losses) {
    tern_ctx c;
    tern_optim o;
    tern_optim_config oc = tern_optim_default(TERN_OPTIM_ADAM);
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    c.pool = toy_pool;
    assert_int_equal(tern_optim_init(&o, &m->params, &oc), TERN_OK);
    /* Cosine decay to 0 over the run, 5% linear warm-up. */
    tern_sched sched;
    long total = (long)epochs * (tr->n / bs);
    assert_int_equal(tern_sched_init_cosine(&sched, lr, 0.0f, total / 20, total), TERN_OK);
    int step = 0;
    for (int e = 0; e < epochs; e++)
        for (int b = 0; b + bs <= tr->n; b += bs) {
            int shape[2] = {bs, tr->d};
            tern_tensor x = tern_tensor_view(tr->x + (size_t)b * tr->d, NULL, 2, shape);
            tern_step_result r;
            assert_int_equal(tern_model_train_step(m, &c, &o, &x, tr->y + b, tern_sched_lr(&sched, step), 0.0f, &r),
                             TERN_OK);
            if (losses) losses[step] = r.loss;
            step++;
        }
    tern_optim_free(&o);
    tern_ctx_free(&c);
}

static int eval_toy(tern_model *m, const toyset *te) {
    tern_ctx c;
    tern_ctx_init(&c, 0);
    int shape[2] = {te->n, te->d};
    tern_tensor x = tern_tensor_view(te->x, NULL, 2, shape);
    tern_step_result r;
    assert_int_equal(tern_model_eval_batch(m, &c, &x, te->y, &r), TERN_OK);
    tern_ctx_free(&c);
    return r.correct;
}

static void test_mlp_learns_synthetic_task(void **state) {
    (void)state;
    toyset tr = toy_make(1024, 16, 4, 1, 99), te = toy_make(512, 16, 4, 2, 99);
    tern_model m;
    int in[1] = {16};
    assert_int_equal(tern_model_init(&m, mlp_spec, 2, 1, in, TERN_INIT_HE, 5), TERN_OK);
    int before = eval_toy(&m, &te);
    train_toy(&m, &tr, 60, 32, 1e-2f, NULL);
    int after = eval_toy(&m, &te), train_acc = eval_toy(&m, &tr);
    print_message("toy task: held-out accuracy %d/512 before, %d/512 after; train %d/1024\n", before, after,
                  train_acc);
    assert_true(before < 400);
    assert_int_equal(train_acc, tr.n); /* 100% on the training points */
    assert_true(after >= te.n * 98 / 100); /* and generalises: >= 98% held out */
    tern_model_free(&m);
    toy_free(&tr);
    toy_free(&te);
}

/* Two runs from the same seed give the same loss bits, on 1 and on 2
 * threads, and the 2-thread run gives the 1-thread run's bits. */
static void test_determinism(void **state) {
    (void)state;
    toyset tr = toy_make(256, 16, 4, 3, 7);
    int steps = 3 * (256 / 16);
    float *a = malloc(sizeof(float) * steps), *b = malloc(sizeof(float) * steps), *d = malloc(sizeof(float) * steps);
    float *a1 = malloc(sizeof(float) * steps);
    for (int threads = 1; threads <= 2; threads++) {
        assert_int_equal(tern_pool_init(&toy_pool, threads), TERN_OK);
        tern_model m1, m2, m3;
        int in[1] = {16};
        tern_model_init(&m1, mlp_spec, 2, 1, in, TERN_INIT_HE, 11);
        tern_model_init(&m2, mlp_spec, 2, 1, in, TERN_INIT_HE, 11);
        tern_model_init(&m3, mlp_spec, 2, 1, in, TERN_INIT_HE, 12);
        train_toy(&m1, &tr, 3, 16, 1e-2f, a);
        train_toy(&m2, &tr, 3, 16, 1e-2f, b);
        train_toy(&m3, &tr, 3, 16, 1e-2f, d);
        assert_memory_equal(a, b, sizeof(float) * steps);
        assert_memory_equal(m1.params.data, m2.params.data, sizeof(float) * m1.params.total);
        assert_true(memcmp(a, d, sizeof(float) * steps) != 0); /* another seed, another run */
        if (threads == 1) memcpy(a1, a, sizeof(float) * steps);
        else assert_memory_equal(a1, a, sizeof(float) * steps);
        tern_model_free(&m1);
        tern_model_free(&m2);
        tern_model_free(&m3);
        tern_pool_free(toy_pool);
        toy_pool = NULL;
    }
    free(a1);
    free(a);
    free(b);
    free(d);
    toy_free(&tr);
}

/* Steady state: after the first steps size the arena and the tape, a step
 * of the MNIST MLP and of a CNN with batchnorm and dropout calls malloc
 * zero times (counted for the whole process, OpenBLAS included). */
static void check_no_malloc(const tern_layer_spec *spec, int n_layers, int in_ndim, const int *in_shape, int batch) {
    tern_model m;
    assert_int_equal(tern_model_init(&m, spec, n_layers, in_ndim, in_shape, TERN_INIT_HE, 1), TERN_OK);
    size_t per = tern_shape_numel(in_ndim, in_shape);
    float *xb = malloc(sizeof(float) * per * batch);
    int *yb = malloc(sizeof(int) * batch);
    tern_rng r;
    tern_rng_seed(&r, 2);
    for (size_t i = 0; i < per * batch; i++) xb[i] = tern_rng_uniform(&r);
    for (int i = 0; i < batch; i++) yb[i] = (int)tern_rng_below(&r, (uint32_t)m.n_classes);
    int shape[4] = {batch, in_shape[0], in_shape[1], in_shape[2]};
    tern_tensor x = tern_tensor_view(xb, NULL, in_ndim + 1, shape);
    tern_ctx c;
    tern_optim o;
    tern_optim_config oc = tern_optim_default(TERN_OPTIM_ADAMW);
    tern_ctx_init(&c, 0);
    c.rng = &r;
    tern_optim_init(&o, &m.params, &oc);
    tern_step_result res;
    for (int i = 0; i < 3; i++) assert_int_equal(tern_model_train_step(&m, &c, &o, &x, yb, 1e-3f, 1.0f, &res), 0);
    malloc_count_start();
    tern_status st[5];
    for (int i = 0; i < 5; i++) st[i] = tern_model_train_step(&m, &c, &o, &x, yb, 1e-3f, 1.0f, &res);
    long calls = malloc_count_stop();
    for (int i = 0; i < 5; i++) assert_int_equal(st[i], TERN_OK); /* a failed step would allocate nothing */
    assert_true(isfinite(res.loss));
    print_message("%d-layer model: %ld mallocs in 5 steady-state steps, arena %zu KiB\n", n_layers, calls,
                  tern_arena_capacity(&c.arena) >> 10);
    assert_int_equal(calls, 0);
    tern_optim_free(&o);
    tern_ctx_free(&c);
    tern_model_free(&m);
    free(xb);
    free(yb);
}

static void test_steady_state_step_does_not_malloc(void **state) {
    (void)state;
    if (!MALLOC_COUNT_AVAILABLE) skip();
    static const tern_layer_spec mnist_mlp[] = {
        {.type = TERN_LAYER_LINEAR, .out = 256, .act = TERN_ACT_RELU},
        {.type = TERN_LAYER_LINEAR, .out = 256, .act = TERN_ACT_RELU},
        {.type = TERN_LAYER_LINEAR, .out = 10},
    };
    int in1[1] = {784};
    check_no_malloc(mnist_mlp, 3, 1, in1, 128);
    static const tern_layer_spec cnn[] = {
        {.type = TERN_LAYER_CONV2D, .out = 8, .kernel = 3, .pad = 1},
        {.type = TERN_LAYER_BATCHNORM, .act = TERN_ACT_RELU},
        {.type = TERN_LAYER_MAXPOOL, .kernel = 2},
        {.type = TERN_LAYER_CONV2D, .out = 8, .kernel = 3, .pad = 1, .act = TERN_ACT_RELU},
        {.type = TERN_LAYER_ADD, .from = 2},
        {.type = TERN_LAYER_GLOBAL_AVGPOOL},
        {.type = TERN_LAYER_DROPOUT, .p = 0.2f},
        {.type = TERN_LAYER_LINEAR, .out = 10},
    };
    int in3[3] = {3, 16, 16};
    check_no_malloc(cnn, 8, 3, in3, 16);
    /* Ternary layers with learned per-channel scales and 8-bit activations. */
    tern_layer_spec tern_mlp[3] = {
        {.type = TERN_LAYER_LINEAR, .out = 256, .act = TERN_ACT_RELU, .ternary = 1},
        {.type = TERN_LAYER_LINEAR, .out = 256, .act = TERN_ACT_RELU, .ternary = 1},
        {.type = TERN_LAYER_LINEAR, .out = 10},
    };
    for (int i = 0; i < 2; i++) {
        tern_mlp[i].quant = tern_quant_cfg_default(i ? TERN_QUANT_TTQ : TERN_QUANT_TWN);
        tern_mlp[i].quant.granularity = TERN_QUANT_PER_CHANNEL;
        tern_mlp[i].quant.learned_alpha = 1;
        tern_mlp[i].quant.act_bits = 8;
    }
    check_no_malloc(tern_mlp, 3, 1, in1, 128);
}

/* A NaN in the data stops the step with TERN_ERR_NUMERIC and leaves the
 * parameters as they were. */
static void test_nan_loss_is_refused(void **state) {
    (void)state;
    tern_model m;
    int in[1] = {16};
    tern_model_init(&m, mlp_spec, 2, 1, in, TERN_INIT_HE, 1);
    float *copy = malloc(sizeof(float) * m.params.total);
    memcpy(copy, m.params.data, sizeof(float) * m.params.total);
    float xb[2 * 16] = {0};
    xb[5] = NAN;
    int yb[2] = {0, 1}, shape[2] = {2, 16};
    tern_tensor x = tern_tensor_view(xb, NULL, 2, shape);
    tern_ctx c;
    tern_optim o;
    tern_optim_config oc = tern_optim_default(TERN_OPTIM_SGD);
    tern_ctx_init(&c, 0);
    tern_optim_init(&o, &m.params, &oc);
    tern_step_result r;
    assert_int_equal(tern_model_train_step(&m, &c, &o, &x, yb, 0.1f, 0.0f, &r), TERN_ERR_NUMERIC);
    assert_non_null(strstr(tern_errmsg(), "loss is nan"));
    assert_memory_equal(copy, m.params.data, sizeof(float) * m.params.total);
    free(copy);
    tern_optim_free(&o);
    tern_ctx_free(&c);
    tern_model_free(&m);
}

/* Zeros of twn's T counted in the test from the latent W: |W| <= 0.7 mean|W|
 * (per tensor). */
static double count_twn_zeros(const tern_tensor *w, float t) {
    double mean = 0;
    for (size_t i = 0; i < w->n; i++) mean += fabsf(w->data[i]);
    mean /= (double)w->n;
    size_t zeros = 0;
    for (size_t i = 0; i < w->n; i++) zeros += fabsf(w->data[i]) <= (float)(t * mean);
    return (double)zeros / (double)w->n;
}

/* A hybrid ternary MLP (ternary hidden layers, fp32 classifier) learns the
 * toy task with each quantizer; the sparsity it reports matches a count
 * made here from the latent weights. */
static void test_ternary_mlp_learns(void **state) {
    (void)state;
    toyset tr = toy_make(1024, 16, 4, 1, 99), te = toy_make(512, 16, 4, 2, 99);
    tern_quant_method methods[3] = {TERN_QUANT_TWN, TERN_QUANT_ABSMEAN, TERN_QUANT_TTQ};
    for (int k = 0; k < 3; k++) {
        tern_layer_spec spec[3] = {
            {.type = TERN_LAYER_LINEAR, .name = "fc1", .out = 64, .act = TERN_ACT_RELU, .ternary = 1},
            {.type = TERN_LAYER_LINEAR, .name = "fc2", .out = 64, .act = TERN_ACT_RELU, .ternary = 1},
            {.type = TERN_LAYER_LINEAR, .name = "fc3", .out = 4},
        };
        spec[0].quant = spec[1].quant = tern_quant_cfg_default(methods[k]);
        tern_model m;
        int in[1] = {16};
        assert_int_equal(tern_model_init(&m, spec, 3, 1, in, TERN_INIT_HE, 5), TERN_OK);
        train_toy(&m, &tr, 60, 32, 1e-2f, NULL);
        int acc = eval_toy(&m, &te);
        tern_quant_layer_stats st;
        assert_int_equal(tern_model_layer_stats(&m, 0, &st), TERN_OK);
        print_message("ternary %s: held-out %d/512, fc1 sparsity %.3f (+1 %.3f, -1 %.3f), total sparsity %.3f\n",
                      tern_quant_method_name(methods[k]), acc, st.frac_zero, st.frac_pos, st.frac_neg,
                      tern_model_sparsity(&m));
        assert_true(acc >= te.n * 95 / 100);
        assert_float_equal(st.frac_zero + st.frac_pos + st.frac_neg, 1.0, 1e-9);
        assert_int_equal(tern_model_layer_stats(&m, 2, &st), TERN_ERR_ARG); /* fc3 is fp32 */
        if (methods[k] == TERN_QUANT_TWN) {
            tern_tensor *w1 = &tern_params_find(&m.params, "fc1.weight")->t;
            tern_tensor *w2 = &tern_params_find(&m.params, "fc2.weight")->t;
            double z1 = count_twn_zeros(w1, 0.7f), z2 = count_twn_zeros(w2, 0.7f);
            tern_model_layer_stats(&m, 0, &st);
            assert_float_equal(st.frac_zero, z1, 1e-12);
            double total = (z1 * w1->n + z2 * w2->n) / (double)(w1->n + w2->n);
            assert_float_equal(tern_model_sparsity(&m), total, 1e-12);
            /* TWN at t = 0.7 on roughly Gaussian weights zeroes about 40-55%. */
            assert_true(z1 > 0.3 && z1 < 0.65);
        }
        tern_model_free(&m);
    }
    toy_free(&tr);
    toy_free(&te);
}

/* ---- the validation split ----------------------------------------------- */

/* n samples of (1,1,1) whose pixel is their index, so where each went can
 * be told; labels 0 for the first n0, 1 for the next n1, 2 for the rest. */
static tern_dataset id_set(int n, int n0, int n1) {
    tern_dataset ds;
    tern_dataset_init(&ds);
    ds.images = malloc(sizeof(float) * (size_t)n);
    ds.labels = malloc(sizeof(int) * (size_t)n);
    ds.n = n, ds.c = ds.h = ds.w = 1, ds.n_classes = 3;
    snprintf(ds.name, sizeof ds.name, "ids");
    for (int k = 0; k < 3; k++) snprintf(ds.class_names[k], sizeof ds.class_names[k], "%c", 'a' + k);
    for (int i = 0; i < n; i++) {
        ds.images[i] = (float)i;
        ds.labels[i] = i < n0 ? 0 : i < n0 + n1 ? 1 : 2;
    }
    return ds;
}

/* Split id_set(103: 60/30/13) 20 ways with seed; check it and return val's ids in *ids. */
static void split_checked(uint64_t seed, int ids[20]) {
    tern_dataset ds = id_set(103, 60, 30), val;
    tern_dataset_init(&val);
    assert_int_equal(tern_dataset_split(&ds, 20, seed, &val), TERN_OK);
    assert_int_equal(val.n, 20);
    assert_int_equal(ds.n, 83);
    /* Shares 20 x (60,30,13)/103 = (11.65, 5.83, 2.52): floors 11+5+2 = 18,
     * the two left go to the largest remainders, classes 1 then 0. */
    int per[3] = {0}, seen[103] = {0};
    for (int i = 0; i < val.n; i++) per[val.labels[i]]++;
    assert_int_equal(per[0], 12);
    assert_int_equal(per[1], 6);
    assert_int_equal(per[2], 2);
    const tern_dataset *parts[2] = {&ds, &val};
    for (int p = 0; p < 2; p++)
        for (int i = 0; i < parts[p]->n; i++) {
            int id = (int)parts[p]->images[i];
            assert_true(id >= 0 && id < 103);
            seen[id]++;
            assert_int_equal(parts[p]->labels[i], id < 60 ? 0 : id < 90 ? 1 : 2); /* label went with its image */
            if (i) assert_true(parts[p]->images[i - 1] < parts[p]->images[i]); /* the file's order */
        }
    for (int id = 0; id < 103; id++) assert_int_equal(seen[id], 1); /* disjoint, and nothing lost */
    assert_string_equal(val.class_names[2], "c");
    for (int i = 0; i < 20; i++) ids[i] = (int)val.images[i];
    tern_dataset_free(&ds);
    tern_dataset_free(&val);
}

static void test_split_stratified_exact_disjoint_seeded(void **state) {
    (void)state;
    int a[20], b[20], c[20];
    split_checked(5, a);
    split_checked(5, b);
    split_checked(6, c);
    assert_memory_equal(a, b, sizeof a);                 /* one seed, one split */
    assert_memory_not_equal(a, c, sizeof a);             /* another seed, another split */
    assert_int_equal(tern_dataset_validation_count(0.1, 60000), 6000);
    assert_int_equal(tern_dataset_validation_count(5000, 60000), 5000);
    assert_int_equal(tern_dataset_validation_count(0.00001, 60000), 1);
}

static void test_split_refuses_what_it_cannot_give(void **state) {
    (void)state;
    tern_dataset ds = id_set(61, 40, 20), val; /* class c has one sample */
    tern_dataset_init(&val);
    assert_int_equal(tern_dataset_split(&ds, 10, 1, &val), TERN_ERR_ARG);
    if (!strstr(tern_errmsg(), "class 'c' has 1 of ids's 61 samples")) fail_msg("%s", tern_errmsg());
    assert_int_equal(tern_dataset_split(&ds, 61, 1, &val), TERN_ERR_ARG);
    assert_non_null(strstr(tern_errmsg(), "must be in 1..60"));
    assert_int_equal(tern_dataset_split(&ds, 0, 1, &val), TERN_ERR_ARG);
    assert_int_equal(ds.n, 61); /* untouched */
    assert_null(val.images);
    tern_dataset_free(&ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mlp_learns_synthetic_task),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_steady_state_step_does_not_malloc),
        cmocka_unit_test(test_nan_loss_is_refused),
        cmocka_unit_test(test_ternary_mlp_learns),
        cmocka_unit_test(test_split_stratified_exact_disjoint_seeded),
        cmocka_unit_test(test_split_refuses_what_it_cannot_give),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
