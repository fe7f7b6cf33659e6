/* test_core.c — status messages, tensor shapes, arena, RNG, parameter blocks, tape errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tern.h"

static void test_status_message(void **state) {
    (void)state;
    assert_int_equal(tern_error(TERN_ERR_SHAPE, "op: %s vs %d", "a", 3), TERN_ERR_SHAPE);
    assert_string_equal(tern_errmsg(), "op: a vs 3");
    /* Wrapping the current message in context, as callers do, keeps the cause. */
    assert_int_equal(tern_error(TERN_ERR_IO, "load m.h5: %s", tern_errmsg()), TERN_ERR_IO);
    assert_string_equal(tern_errmsg(), "load m.h5: op: a vs 3");
    assert_string_equal(tern_status_name(TERN_ERR_IO), "io");
    assert_string_equal(tern_status_name(TERN_OK), "ok");
    assert_string_equal(tern_status_name(TERN_ERR_ARG), "arg");
    assert_string_equal(tern_status_name(TERN_ERR_NOMEM), "nomem");
    for (int s = 0; s < TERN_STATUS_COUNT; s++) assert_null(strchr(tern_status_name((tern_status)s), ' '));
    assert_string_equal(tern_status_name((tern_status)999), "unknown");
    /* User text with control characters stays on one line, as C escapes; a
     * wrapped message is not escaped twice. */
    tern_error(TERN_ERR_CONFIG, "layer '%s': bad", "a\nb\tc\x01");
    assert_string_equal(tern_errmsg(), "layer 'a\\nb\\tc\\x01': bad");
    tern_error(TERN_ERR_CONFIG, "x.yaml: %s", tern_errmsg());
    assert_string_equal(tern_errmsg(), "x.yaml: layer 'a\\nb\\tc\\x01': bad");
    /* An escape that no longer fits is cut whole, never half written. */
    char longname[600];
    memset(longname, 'n', sizeof longname);
    longname[sizeof longname - 1] = '\0';
    longname[508] = '\x02';
    tern_error(TERN_ERR_CONFIG, "%s", longname);
    assert_int_equal(strlen(tern_errmsg()), 508);
    assert_null(strchr(tern_errmsg(), '\\'));
    tern_error_clear();
    assert_string_equal(tern_errmsg(), "");
    /* Name tables: the index, or a message listing every valid name. */
    const char *const names[] = {"a", "bb", "c"};
    int i = -1;
    assert_int_equal(tern_name_parse(TERN_ERR_CONFIG, "letter", names, 3, "bb", &i), TERN_OK);
    assert_int_equal(i, 1);
    assert_int_equal(tern_name_parse(TERN_ERR_CONFIG, "letter", names, 3, "d", &i), TERN_ERR_CONFIG);
    assert_string_equal(tern_errmsg(), "unknown letter 'd' (a, bb, c)");
    assert_int_equal(i, 1);
    assert_int_equal(tern_name_parse(TERN_ERR_ARG, "letter", names, 3, NULL, &i), TERN_ERR_ARG);
}

static void test_tensor_shapes(void **state) {
    (void)state;
    int s4[4] = {8, 3, 32, 32};
    assert_int_equal(tern_shape_numel(4, s4), 8 * 3 * 32 * 32);
    int bad[2] = {3, 0};
    assert_int_equal(tern_shape_numel(2, bad), 0);
    assert_int_equal(tern_shape_numel(5, s4), 0);
    tern_tensor t = tern_tensor_view(NULL, NULL, 4, s4);
    char buf[TERN_SHAPE_STR_LEN];
    assert_string_equal(tern_shape_str(&t, buf, sizeof buf), "(8,3,32,32)");
    tern_tensor u = tern_tensor_view(NULL, NULL, 3, s4);
    assert_false(tern_tensor_same_shape(&t, &u));
    assert_true(tern_tensor_same_shape(&t, &t));
    assert_string_equal(tern_dims_str(1, s4 + 3, buf, sizeof buf), "(32)");
    assert_string_equal(tern_dims_str(3, s4 + 1, buf, sizeof buf), "(3,32,32)");
    /* A product beyond size_t saturates instead of wrapping to a small size. */
    int huge[4] = {2147483647, 2147483647, 2147483647, 4};
    assert_true(tern_shape_numel(4, huge) == SIZE_MAX);
    assert_true(tern_shape_numel(2, huge) == (size_t)2147483647 * 2147483647);
}

static void test_conv_out_size(void **state) {
    (void)state;
    assert_int_equal(tern_conv_out_size(28, 3, 1, 0), 26);
    assert_int_equal(tern_conv_out_size(28, 3, 1, 1), 28);
    assert_int_equal(tern_conv_out_size(28, 2, 2, 0), 14);
    assert_int_equal(tern_conv_out_size(7, 3, 2, 1), 4);   /* floor((7 + 2 - 3) / 2) + 1 */
    assert_int_equal(tern_conv_out_size(5, 5, 3, 0), 1);   /* the window fits exactly once */
    assert_int_equal(tern_conv_out_size(4, 7, 1, 1), -1);  /* 4 + 2 < 7: it does not fit */
    /* In 64 bits: 2 pad near INT_MAX does not wrap. */
    assert_true(tern_conv_out_size(28, 1, 1, 2147483642) == 28 + 2 * 2147483642LL);
}

static void test_arena_alignment_and_fold(void **state) {
    (void)state;
    tern_arena a;
    assert_int_equal(tern_arena_init(&a, 1024), TERN_OK);
    /* Outgrow the first chunk several times within one "step". */
    for (int i = 0; i < 5; i++) {
        unsigned char *p = tern_arena_alloc(&a, (size_t)700 << 10);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % TERN_ARENA_ALIGN, 0);
        memset(p, i, (size_t)700 << 10);
    }
    size_t hw = a.high_water;
    assert_true(hw >= (size_t)5 * (700 << 10));
    tern_arena_reset(&a);
    /* The chunks were folded into one block that holds the whole step. */
    size_t before = a.mallocs;
    for (int step = 0; step < 3; step++) {
        for (int i = 0; i < 5; i++) assert_non_null(tern_arena_alloc(&a, (size_t)700 << 10));
        tern_arena_reset(&a);
    }
    assert_int_equal(a.mallocs, before);
    assert_true(tern_arena_capacity(&a) >= hw);
    float *z = tern_arena_zeros(&a, 100);
    for (int i = 0; i < 100; i++) assert_true(z[i] == 0.0f);
    tern_arena_free(&a);
}

static void test_rng_determinism_and_range(void **state) {
    (void)state;
    tern_rng a, b;
    tern_rng_seed(&a, 42);
    tern_rng_seed(&b, 42);
    for (int i = 0; i < 1000; i++) assert_true(tern_rng_u64(&a) == tern_rng_u64(&b));
    tern_rng_seed(&b, 43);
    assert_true(tern_rng_u64(&a) != tern_rng_u64(&b));
    /* Moments of 100k draws: uniform mean 1/2, var 1/12; normal mean 0, var 1. */
    double su = 0, su2 = 0, sn = 0, sn2 = 0;
    int n = 100000, hist[7] = {0};
    for (int i = 0; i < n; i++) {
        float u = tern_rng_uniform(&a);
        assert_true(u >= 0.0f && u < 1.0f);
        su += u;
        su2 += (double)u * u;
        float g = tern_rng_normal(&a);
        assert_true(isfinite(g));
        sn += g;
        sn2 += (double)g * g;
        uint32_t k = tern_rng_below(&a, 7);
        assert_true(k < 7);
        hist[k]++;
    }
    assert_true(fabs(su / n - 0.5) < 0.01);
    assert_true(fabs(su2 / n - su / n * su / n - 1.0 / 12) < 0.005);
    assert_true(fabs(sn / n) < 0.02);
    assert_true(fabs(sn2 / n - 1.0) < 0.03);
    for (int k = 0; k < 7; k++) assert_true(abs(hist[k] - n / 7) < n / 70);
}

static void test_shuffle_is_permutation(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 1);
    int idx[257], seen[257] = {0};
    for (int i = 0; i < 257; i++) idx[i] = i;
    tern_rng_shuffle(&r, idx, 257);
    int moved = 0;
    for (int i = 0; i < 257; i++) {
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 257; i++) assert_int_equal(seen[i], 1);
    assert_true(moved > 200);
}

static void test_init_statistics(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 5);
    int shape[2] = {256, 784};
    size_t n = 256 * 784;
    float *w = malloc(n * sizeof(float));
    tern_tensor t = tern_tensor_view(w, NULL, 2, shape);
    tern_init_he(&t, 784, &r);
    double s2 = 0;
    for (size_t i = 0; i < n; i++) s2 += (double)w[i] * w[i];
    assert_true(fabs(s2 / n - 2.0 / 784) < 0.02 * (2.0 / 784));
    tern_init_xavier(&t, 784, 256, &r);
    float a = sqrtf(6.0f / (784 + 256));
    s2 = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(fabsf(w[i]) <= a);
        s2 += (double)w[i] * w[i];
    }
    assert_true(fabs(s2 / n - a * a / 3.0) < 0.02 * (a * a / 3.0)); /* var of U(-a,a) */
    free(w);
}

static void test_params_blocks(void **state) {
    (void)state;
    tern_params p;
    tern_params_init(&p);
    int w[2] = {5, 3}, b[1] = {5}, s[1] = {5};
    int idx = -1;
    assert_int_equal(tern_params_add(&p, "fc.weight", 2, w, TERN_PARAM_TRAIN | TERN_PARAM_DECAY, &idx), TERN_OK);
    assert_int_equal(idx, 0);
    assert_int_equal(tern_params_add(&p, "fc.bias", 1, b, TERN_PARAM_TRAIN, &idx), TERN_OK);
    assert_int_equal(idx, 1);
    assert_int_equal(tern_params_add(&p, "bn.running_mean", 1, s, 0, &idx), TERN_OK);
    assert_int_equal(idx, 2);
    assert_int_equal(tern_params_add(&p, "fc.bias", 1, b, TERN_PARAM_TRAIN, &idx), TERN_ERR_ARG);
    assert_non_null(strstr(tern_errmsg(), "duplicate name 'fc.bias'"));
    int zero[1] = {0};
    assert_int_equal(tern_params_add(&p, "bad", 1, zero, 0, &idx), TERN_ERR_SHAPE);
    assert_int_equal(idx, 2); /* untouched on failure */
    assert_int_equal(p.count, 3);
    assert_int_equal(tern_params_alloc(&p), TERN_OK);
    assert_int_equal(tern_params_add(&p, "late", 1, b, 0, NULL), TERN_ERR_ARG);
    /* Views are 64-byte aligned, disjoint and in one block. */
    for (int i = 0; i < p.count; i++) {
        assert_int_equal((uintptr_t)p.items[i].t.data % 64, 0);
        assert_true(p.items[i].t.data >= p.data && p.items[i].t.data + p.items[i].t.n <= p.data + p.total);
        if (i) assert_true(p.items[i].offset >= p.items[i - 1].offset + p.items[i - 1].t.n);
    }
    assert_null(tern_params_find(&p, "bn.running_mean")->t.grad);
    assert_non_null(tern_params_find(&p, "fc.weight")->t.grad);
    assert_null(tern_params_find(&p, "nope"));
    assert_int_equal(tern_params_count_trainable(&p), 20);
    for (size_t i = 0; i < p.total; i++) p.grad[i] = 1.0f;
    tern_params_zero_grad(&p);
    for (size_t i = 0; i < p.total; i++) assert_true(p.grad[i] == 0.0f);
    tern_params_free(&p);
}

static void test_sticky_errors(void **state) {
    (void)state;
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    int s1[2] = {2, 3}, s2[2] = {3, 2};
    tern_tensor *a = tern_ctx_tensor(&c, 2, s1, 1), *b = tern_ctx_tensor(&c, 2, s2, 1);
    assert_non_null(a);
    tern_tensor *y = tern_add(&c, a, b);
    assert_null(y);
    assert_int_equal(c.status, TERN_ERR_SHAPE);
    assert_string_equal(tern_errmsg(), "add: (2,3) does not match (3,2)");
    /* Later ops on NULL propagate NULL and keep the first message. */
    assert_null(tern_relu(&c, y));
    assert_null(tern_hardtanh(&c, a, 1.0f, -1.0f));
    assert_string_equal(tern_errmsg(), "add: (2,3) does not match (3,2)");
    assert_int_equal(tern_backward(&c, a), TERN_ERR_SHAPE);
    tern_ctx_reset(&c);
    assert_int_equal(c.status, TERN_OK);
    /* A non-scalar loss is rejected. */
    a = tern_ctx_tensor(&c, 2, s1, 1);
    assert_int_equal(tern_backward(&c, a), TERN_ERR_ARG);
    tern_ctx_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_message),      cmocka_unit_test(test_tensor_shapes),
        cmocka_unit_test(test_conv_out_size),
        cmocka_unit_test(test_arena_alignment_and_fold), cmocka_unit_test(test_rng_determinism_and_range),
        cmocka_unit_test(test_shuffle_is_permutation), cmocka_unit_test(test_init_statistics),
        cmocka_unit_test(test_params_blocks),       cmocka_unit_test(test_sticky_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
