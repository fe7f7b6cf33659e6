/* test_ops_elementwise.c — relu, hardtanh, dropout, add, reshape, softmax cross-entropy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "gradcheck.h"

/* Values kept away from the kinks (0 for relu, ±1 for hardtanh) so that
 * central differences with h = 1e-2 never straddle one. */
static void fill_away_from(tern_tensor *t, tern_rng *r, const float *kinks, int nk) {
    for (size_t i = 0; i < t->n; i++) {
        float v;
        int near;
        do {
            v = -2.0f + 4.0f * tern_rng_uniform(r);
            near = 0;
            for (int k = 0; k < nk; k++) near |= fabsf(v - kinks[k]) < 0.05f;
        } while (near);
        t->data[i] = v;
    }
}

static tern_tensor *f_relu(tern_ctx *c, tern_tensor **in, void *arg) {
    (void)arg;
    return tern_relu(c, in[0]);
}
static tern_tensor *f_hardtanh(tern_ctx *c, tern_tensor **in, void *arg) {
    (void)arg;
    return tern_hardtanh(c, in[0], -1.0f, 1.0f);
}
static tern_tensor *f_dropout(tern_ctx *c, tern_tensor **in, void *arg) {
    return tern_dropout(c, in[0], *(float *)arg);
}
static tern_tensor *f_add(tern_ctx *c, tern_tensor **in, void *arg) {
    (void)arg;
    return tern_add(c, in[0], in[1]);
}
static tern_tensor *f_xent(tern_ctx *c, tern_tensor **in, void *arg) {
    return tern_softmax_xent(c, in[0], (const int *)arg);
}
/* Reshape then relu: the view must carry the gradient back to x. */
static tern_tensor *f_reshape_relu(tern_ctx *c, tern_tensor **in, void *arg) {
    (void)arg;
    return tern_relu(c, tern_flatten(c, in[0]));
}

static void test_relu_hardtanh_grad(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 3);
    int shapes[][4] = {{1, 1, 1, 1}, {3, 5, 7, 1}, {2, 3, 5, 7}};
    int nd[] = {1, 3, 4};
    float kinks[] = {0.0f, -1.0f, 1.0f};
    for (int s = 0; s < 3; s++) {
        tern_tensor *x = gc_tensor(nd[s], shapes[s], 1);
        fill_away_from(x, &r, kinks, 3);
        assert_int_equal(gradcheck(f_relu, &x, 1, NULL, gc_default_opts()), 0);
        assert_int_equal(gradcheck(f_hardtanh, &x, 1, NULL, gc_default_opts()), 0);
        gc_free(x);
    }
}

static void test_relu_hardtanh_values(void **state) {
    (void)state;
    tern_ctx c;
    tern_ctx_init(&c, 0);
    int s[1] = {5};
    tern_tensor *x = tern_ctx_tensor(&c, 1, s, 0);
    float v[5] = {-2.0f, -0.5f, 0.0f, 0.5f, 3.0f};
    memcpy(x->data, v, sizeof v);
    tern_tensor *y = tern_relu(&c, x), *h = tern_hardtanh(&c, x, -1.0f, 1.0f);
    float ry[5] = {0, 0, 0, 0.5f, 3.0f}, rh[5] = {-1.0f, -0.5f, 0, 0.5f, 1.0f};
    for (int i = 0; i < 5; i++) {
        assert_true(y->data[i] == ry[i]);
        assert_true(h->data[i] == rh[i]);
    }
    tern_ctx_free(&c);
}

static void test_dropout(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 9);
    int shape[2] = {4, 33};
    tern_tensor *x = gc_tensor(2, shape, 1);
    gc_fill(x, &r, -1.0f, 1.0f);
    float p = 0.3f;
    /* gradcheck reseeds ctx->rng before every forward, so the mask is fixed. */
    assert_int_equal(gradcheck(f_dropout, &x, 1, &p, gc_default_opts()), 0);

    /* Values: each output is 0 or x / (1 - p); the kept fraction is near 1 - p. */
    tern_ctx c;
    tern_ctx_init(&c, 0);
    c.rng = &r;
    int big[1] = {20000};
    tern_tensor *z = tern_ctx_tensor(&c, 1, big, 1);
    for (size_t i = 0; i < z->n; i++) z->data[i] = 1.0f + (float)(i % 7);
    tern_tensor *y = tern_dropout(&c, z, p);
    int kept = 0;
    for (size_t i = 0; i < z->n; i++) {
        if (y->data[i] != 0.0f) {
            kept++;
            assert_float_equal(y->data[i], z->data[i] / (1.0f - p), 1e-6);
        }
    }
    assert_true(fabs((double)kept / z->n - (1.0 - p)) < 0.02);
    /* Eval mode is the identity, without a copy. */
    tern_ctx_mode(&c, 0, 0);
    assert_ptr_equal(tern_dropout(&c, z, p), z);
    assert_null(tern_dropout(&c, z, 1.0f));
    assert_int_equal(c.status, TERN_ERR_ARG);
    assert_non_null(strstr(tern_errmsg(), "dropout"));
    tern_ctx_free(&c);
    gc_free(x);
}

static void test_add_and_reshape(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 4);
    int shape[4] = {2, 3, 4, 5};
    tern_tensor *in[2] = {gc_tensor(4, shape, 1), gc_tensor(4, shape, 1)};
    gc_fill(in[0], &r, -1, 1);
    gc_fill(in[1], &r, -1, 1);
    assert_int_equal(gradcheck(f_add, in, 2, NULL, gc_default_opts()), 0);
    float kinks[] = {0.0f};
    fill_away_from(in[0], &r, kinks, 1);
    assert_int_equal(gradcheck(f_reshape_relu, in, 1, NULL, gc_default_opts()), 0);
    gc_free(in[0]);
    gc_free(in[1]);

    tern_ctx c;
    tern_ctx_init(&c, 0);
    tern_tensor *x = tern_ctx_tensor(&c, 4, shape, 1);
    int bad[2] = {7, 17};
    assert_null(tern_reshape(&c, x, 2, bad));
    assert_int_equal(c.status, TERN_ERR_SHAPE);
    assert_non_null(strstr(tern_errmsg(), "reshape: (2,3,4,5)"));
    tern_ctx_free(&c);
}

static void test_softmax_xent(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 11);
    int shape[2] = {5, 7};
    tern_tensor *z = gc_tensor(2, shape, 1);
    gc_fill(z, &r, -3, 3);
    int labels[5] = {0, 6, 3, 3, 1};
    assert_int_equal(gradcheck(f_xent, &z, 1, labels, gc_default_opts()), 0);
    int s1[2] = {1, 3};
    tern_tensor *z1 = gc_tensor(2, s1, 1);
    gc_fill(z1, &r, -3, 3);
    int l1[1] = {2};
    assert_int_equal(gradcheck(f_xent, &z1, 1, l1, gc_default_opts()), 0);

    /* Value against the textbook formula in double, and stability: logits of
     * 1000 must not overflow. */
    tern_ctx c;
    tern_ctx_init(&c, 0);
    tern_tensor *zz = tern_ctx_tensor(&c, 2, shape, 1);
    memcpy(zz->data, z->data, z->n * sizeof(float));
    tern_tensor *loss = tern_softmax_xent(&c, zz, labels);
    double ref = 0;
    for (int i = 0; i < 5; i++) {
        double s = 0;
        for (int k = 0; k < 7; k++) s += exp(zz->data[i * 7 + k]);
        ref += log(s) - zz->data[i * 7 + labels[i]];
    }
    assert_float_equal(loss->data[0], ref / 5, 1e-5);
    for (size_t i = 0; i < zz->n; i++) zz->data[i] = 1000.0f + (float)(i % 7);
    loss = tern_softmax_xent(&c, zz, labels);
    assert_true(isfinite(loss->data[0]));
    assert_int_equal(tern_count_correct(zz, labels), 1); /* argmax is column 6 in every row; one label is 6 */
    int badl[5] = {0, 7, 0, 0, 0};
    assert_null(tern_softmax_xent(&c, zz, badl));
    assert_non_null(strstr(tern_errmsg(), "label 7 of row 1 is outside [0,7)"));
    tern_ctx_free(&c);
    gc_free(z);
    gc_free(z1);
}

static void test_backward_accumulates(void **state) {
    (void)state;
    tern_ctx c;
    tern_ctx_init(&c, 0);
    int s[1] = {4};
    tern_tensor *x = tern_ctx_tensor(&c, 1, s, 1);
    float v[4] = {-1.0f, 2.0f, 3.0f, -4.0f};
    memcpy(x->data, v, sizeof v);
    tern_tensor *y = tern_relu(&c, x);
    float seed[4] = {1, 1, 1, 1};
    assert_int_equal(tern_backward_seeded(&c, y, seed), TERN_OK);
    float g1[4];
    memcpy(g1, x->grad, sizeof g1);
    memset(y->grad, 0, sizeof seed);
    assert_int_equal(tern_backward_seeded(&c, y, seed), TERN_OK);
    for (int i = 0; i < 4; i++) assert_true(x->grad[i] == 2.0f * g1[i]);
    assert_true(g1[1] == 1.0f && g1[0] == 0.0f);
    tern_ctx_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu_hardtanh_grad), cmocka_unit_test(test_relu_hardtanh_values),
        cmocka_unit_test(test_dropout),            cmocka_unit_test(test_add_and_reshape),
        cmocka_unit_test(test_softmax_xent),       cmocka_unit_test(test_backward_accumulates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
