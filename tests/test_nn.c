/* test_nn.c — model building from layer specs, shape inference, errors, and an
 * end-to-end gradient check through a whole small CNN with its loss. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gradcheck.h"
#include "tern/nn.h"

/* TWN's LeNet-5 variant, 32C5-MP2-64C5-MP2-512FC-10, on (1,28,28). */
static const tern_layer_spec lenet[] = {
    {.type = TERN_LAYER_CONV2D, .name = "conv1", .out = 32, .kernel = 5, .act = TERN_ACT_RELU},
    {.type = TERN_LAYER_MAXPOOL, .kernel = 2},
    {.type = TERN_LAYER_CONV2D, .name = "conv2", .out = 64, .kernel = 5, .act = TERN_ACT_RELU},
    {.type = TERN_LAYER_MAXPOOL, .kernel = 2},
    {.type = TERN_LAYER_FLATTEN},
    {.type = TERN_LAYER_LINEAR, .name = "fc1", .out = 512, .act = TERN_ACT_RELU},
    {.type = TERN_LAYER_LINEAR, .name = "fc2", .out = 10},
};

static void test_lenet_shapes_and_params(void **state) {
    (void)state;
    tern_model m;
    int in[3] = {1, 28, 28};
    assert_int_equal(tern_model_init(&m, lenet, 7, 3, in, TERN_INIT_HE, 1), TERN_OK);
    /* 28 -5+1 = 24, /2 = 12, -5+1 = 8, /2 = 4: 64*4*4 = 1024 features. */
    assert_int_equal(m.layers[4].out_shape[0], 1024);
    assert_int_equal(m.n_classes, 10);
    tern_param *w = tern_params_find(&m.params, "fc1.weight");
    assert_non_null(w);
    assert_int_equal(w->t.shape[0], 512);
    assert_int_equal(w->t.shape[1], 1024);
    assert_non_null(tern_params_find(&m.params, "conv2.bias"));
    /* Hand count: conv1 32*25+32, conv2 64*32*25+64, fc1 512*1024+512, fc2 10*512+10. */
    size_t expect = 32 * 25 + 32 + 64 * 32 * 25 + 64 + 512 * 1024 + 512 + 10 * 512 + 10;
    assert_int_equal(tern_params_count_trainable(&m.params), expect);
    /* He init: fc1.weight variance near 2/1024, biases zero. */
    double s2 = 0;
    for (size_t i = 0; i < w->t.n; i++) s2 += (double)w->t.data[i] * w->t.data[i];
    assert_true(fabs(s2 / w->t.n - 2.0 / 1024) < 0.05 * 2.0 / 1024);
    tern_param *b = tern_params_find(&m.params, "fc1.bias");
    for (size_t i = 0; i < b->t.n; i++) assert_true(b->t.data[i] == 0.0f);

    /* Forward of a batch of 3 gives (3,10); a wrong input shape is refused. */
    tern_ctx c;
    tern_ctx_init(&c, 0);
    tern_ctx_mode(&c, 0, 0);
    int xs[4] = {3, 1, 28, 28};
    tern_tensor *x = tern_ctx_tensor(&c, 4, xs, 0);
    for (size_t i = 0; i < x->n; i++) x->data[i] = (float)(i % 13) / 13.0f;
    tern_tensor *y = tern_model_forward(&m, &c, x);
    assert_non_null(y);
    assert_int_equal(y->shape[0], 3);
    assert_int_equal(y->shape[1], 10);
    int bad[4] = {3, 1, 28, 27};
    tern_tensor *xb = tern_ctx_tensor(&c, 4, bad, 0);
    assert_null(tern_model_forward(&m, &c, xb));
    assert_string_equal(tern_errmsg(), "model: input (3,1,28,27) does not match the model's (N,1,28,28)");
    tern_ctx_free(&c);
    tern_model_free(&m);
}

static void test_build_errors(void **state) {
    (void)state;
    tern_model m;
    int in[3] = {1, 28, 28};
    tern_layer_spec no_flatten[] = {
        {.type = TERN_LAYER_CONV2D, .out = 4, .kernel = 3},
        {.type = TERN_LAYER_LINEAR, .out = 10},
    };
    assert_int_equal(tern_model_init(&m, no_flatten, 2, 3, in, TERN_INIT_HE, 1), TERN_ERR_CONFIG);
    assert_string_equal(tern_errmsg(), "model: layer 1 (linear) needs (F) input, got (4,26,26); add a flatten layer");
    tern_layer_spec big_kernel[] = {{.type = TERN_LAYER_CONV2D, .out = 4, .kernel = 31}};
    assert_int_equal(tern_model_init(&m, big_kernel, 1, 3, in, TERN_INIT_HE, 1), TERN_ERR_CONFIG);
    assert_non_null(strstr(tern_errmsg(), "kernel 31 is larger than its padded input (1,28,28)"));
    tern_layer_spec bad_add[] = {
        {.type = TERN_LAYER_FLATTEN},
        {.type = TERN_LAYER_LINEAR, .out = 16},
        {.type = TERN_LAYER_ADD, .from = 0},
    };
    assert_int_equal(tern_model_init(&m, bad_add, 3, 3, in, TERN_INIT_HE, 1), TERN_ERR_CONFIG);
    assert_non_null(strstr(tern_errmsg(), "layer 2 (add) input (16) does not match layer 0's output (784)"));
    tern_layer_spec dup[] = {
        {.type = TERN_LAYER_FLATTEN, .name = "a"},
        {.type = TERN_LAYER_LINEAR, .name = "a", .out = 10},
    };
    assert_int_equal(tern_model_init(&m, dup, 2, 3, in, TERN_INIT_HE, 1), TERN_ERR_CONFIG);
    assert_non_null(strstr(tern_errmsg(), "both named 'a'"));
    tern_layer_spec not_flat_end[] = {{.type = TERN_LAYER_RELU}};
    assert_int_equal(tern_model_init(&m, not_flat_end, 1, 3, in, TERN_INIT_HE, 1), TERN_ERR_CONFIG);
    assert_int_equal(tern_model_init(&m, lenet, 0, 3, in, TERN_INIT_HE, 1), TERN_ERR_CONFIG);
    /* Sizes that overflow int are refused at build, not at the first
     * forward: a pad that makes a 2,000,028-square output (4e12 values per
     * sample, which flatten wrapped around int), a pad near INT_MAX (the
     * padded size itself overflowed), a kernel whose weight overflows. */
    tern_layer_spec huge_pad[] = {
        {.type = TERN_LAYER_CONV2D, .out = 1, .kernel = 1, .pad = 1000000},
        {.type = TERN_LAYER_FLATTEN},
        {.type = TERN_LAYER_LINEAR, .out = 10},
    };
    assert_int_equal(tern_model_init(&m, huge_pad, 3, 3, in, TERN_INIT_HE, 1), TERN_ERR_CONFIG);
    assert_string_equal(tern_errmsg(), "model: layer 0 (conv2d) output (1,2000028,2000028) has 4000112000784 values "
                                       "per sample, beyond tern's limit of 2147483647");
    huge_pad[0].pad = INT_MAX - 5;
    assert_int_equal(tern_model_init(&m, huge_pad, 3, 3, in, TERN_INIT_HE, 1), TERN_ERR_CONFIG);
    assert_non_null(strstr(tern_errmsg(), "layer 0 (conv2d) pad 2147483642 gives a 4294967312x4294967312 output"));
    huge_pad[0].pad = 50000;
    huge_pad[0].kernel = 70000;
    assert_int_equal(tern_model_init(&m, huge_pad, 3, 3, in, TERN_INIT_HE, 1), TERN_ERR_CONFIG);
    assert_non_null(strstr(tern_errmsg(), "layer 0 (conv2d) would have a weight of more than 2147483647 values"));
    int big_in[3] = {3, 30000, 30000};
    assert_int_equal(tern_model_init(&m, huge_pad + 1, 2, 3, big_in, TERN_INIT_HE, 1), TERN_ERR_CONFIG);
    assert_non_null(strstr(tern_errmsg(), "the input has 2700000000 values per sample"));
    tern_layer_type t = TERN_LAYER_ADD;
    assert_int_equal(tern_layer_type_parse("conv2d", &t), TERN_OK);
    assert_int_equal(t, TERN_LAYER_CONV2D);
    assert_int_equal(tern_layer_type_parse("conv3d", &t), TERN_ERR_ARG);
    assert_int_equal(t, TERN_LAYER_CONV2D); /* untouched on failure */
    assert_non_null(strstr(tern_errmsg(), "unknown layer type 'conv3d' (linear, conv2d, maxpool"));
    tern_act a = TERN_ACT_NONE;
    assert_int_equal(tern_act_parse("hardtanh", &a), TERN_OK);
    assert_int_equal(a, TERN_ACT_HARDTANH);
    assert_string_equal(tern_act_name(a), "hardtanh");
    assert_int_equal(tern_act_parse("gelu", &a), TERN_ERR_ARG);
    assert_string_equal(tern_errmsg(), "unknown activation 'gelu' (none, relu, hardtanh)");
    assert_string_equal(tern_act_name(TERN_ACT_COUNT), "unknown");
}

/* The shape rule the builder and the deploy loader share, on its own. */
static void test_layer_out_shape(void **state) {
    (void)state;
    int chw[3] = {3, 32, 32}, f[1] = {784}, nd = 0, out[3] = {0};
    tern_layer_spec conv = {.type = TERN_LAYER_CONV2D, .out = 8, .kernel = 3, .stride = 2, .pad = 1};
    assert_int_equal(tern_layer_out_shape(&conv, 0, 3, chw, &nd, out), TERN_OK);
    assert_int_equal(nd, 3);
    assert_int_equal(out[0], 8);
    assert_int_equal(out[1], 16);
    assert_int_equal(out[2], 16);
    tern_layer_spec pool = {.type = TERN_LAYER_MAXPOOL, .kernel = 3, .stride = 2};
    assert_int_equal(tern_layer_out_shape(&pool, 1, 3, chw, &nd, out), TERN_OK);
    assert_int_equal(out[0], 3);
    assert_int_equal(out[1], 15);
    tern_layer_spec flat = {.type = TERN_LAYER_FLATTEN};
    assert_int_equal(tern_layer_out_shape(&flat, 2, 3, chw, &nd, out), TERN_OK);
    assert_int_equal(nd, 1);
    assert_int_equal(out[0], 3 * 32 * 32);
    tern_layer_spec gap = {.type = TERN_LAYER_GLOBAL_AVGPOOL};
    assert_int_equal(tern_layer_out_shape(&gap, 3, 3, chw, &nd, out), TERN_OK);
    assert_int_equal(nd, 1);
    assert_int_equal(out[0], 3);
    tern_layer_spec fc = {.type = TERN_LAYER_LINEAR, .out = 10};
    assert_int_equal(tern_layer_out_shape(&fc, 4, 1, f, &nd, out), TERN_OK);
    assert_int_equal(out[0], 10);
    assert_int_equal(tern_layer_out_shape(&fc, 4, 3, chw, &nd, out), TERN_ERR_CONFIG);
    assert_string_equal(tern_errmsg(), "layer 4 (linear) needs (F) input, got (3,32,32); add a flatten layer");
    conv.kernel = 40;
    assert_int_equal(tern_layer_out_shape(&conv, 0, 3, chw, &nd, out), TERN_ERR_CONFIG);
    assert_string_equal(tern_errmsg(), "layer 0 (conv2d) kernel 40 is larger than its padded input (3,32,32)");
    pool.pad = 2;
    assert_int_equal(tern_layer_out_shape(&pool, 1, 3, chw, &nd, out), TERN_ERR_CONFIG);
    assert_non_null(strstr(tern_errmsg(), "0 <= pad <= kernel/2"));
    int wide[3] = {65536, 65536, 1};
    assert_int_equal(tern_layer_out_shape(&flat, 2, 3, wide, &nd, out), TERN_ERR_CONFIG);
    assert_non_null(strstr(tern_errmsg(), "layer 2 (flatten) input (65536,65536,1) has more than 2147483647 values"));
}

/* A residual CNN with every layer type, small enough to check end to end. */
static const tern_layer_spec tiny[] = {
    {.type = TERN_LAYER_CONV2D, .name = "c1", .out = 3, .kernel = 3, .pad = 1},
    {.type = TERN_LAYER_BATCHNORM, .name = "bn1", .act = TERN_ACT_RELU},
    {.type = TERN_LAYER_CONV2D, .name = "c2", .out = 3, .kernel = 3, .pad = 1, .no_bias = 1},
    {.type = TERN_LAYER_ADD, .from = 1},
    {.type = TERN_LAYER_AVGPOOL, .kernel = 2},
    {.type = TERN_LAYER_HARDTANH},
    {.type = TERN_LAYER_MAXPOOL, .kernel = 2, .stride = 1},
    {.type = TERN_LAYER_DROPOUT, .p = 0.25f},
    {.type = TERN_LAYER_FLATTEN},
    {.type = TERN_LAYER_LINEAR, .name = "fc", .out = 4},
};

typedef struct {
    tern_model *m;
    int *labels;
} tiny_arg;

static tern_tensor *f_model_loss(tern_ctx *c, tern_tensor **in, void *arg) {
    tiny_arg *a = arg;
    return tern_softmax_xent(c, tern_model_forward(a->m, c, in[0]), a->labels);
}

static void test_model_gradcheck(void **state) {
    (void)state;
    tern_model m;
    int in[3] = {2, 6, 6};
    assert_int_equal(tern_model_init(&m, tiny, 10, 3, in, TERN_INIT_XAVIER, 3), TERN_OK);
    tern_rng r;
    tern_rng_seed(&r, 8);
    int xs[4] = {3, 2, 6, 6};
    tern_tensor *x = gc_tensor(4, xs, 1);
    gc_fill(x, &r, -1, 1);
    int labels[3] = {0, 3, 2};
    tiny_arg a = {&m, labels};
    /* The inputs checked: x and every trainable parameter (views into the model). */
    tern_tensor *inputs[16] = {x};
    int n_in = 1;
    for (int i = 0; i < m.params.count; i++)
        if (m.params.items[i].flags & TERN_PARAM_TRAIN) inputs[n_in++] = &m.params.items[i].t;
    gc_opts o = gc_default_opts();
    o.h = 1e-3; /* maxpool and relu kinks: small steps, checked in double sums */
    o.max_per_input = 24;
    o.rtol = 2e-2;
    o.atol = 2e-3;
    assert_int_equal(gradcheck(f_model_loss, inputs, n_in, &a, o), 0);
    gc_free(x);
    tern_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lenet_shapes_and_params),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_layer_out_shape),
        cmocka_unit_test(test_model_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
