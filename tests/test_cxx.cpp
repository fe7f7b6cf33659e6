// test_cxx.cpp — libtern from C++: a host program that includes tern.h
// compiles as C++, links against libtern without extern "C" of its own, and
// gets the same answers as from C.
#include <cstdarg>
#include <cstddef>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

extern "C" {
#include <cmocka.h>
}

#include "tern.h"

static void test_version_matches_header(void **) {
    std::string want = std::to_string(TERN_VERSION_MAJOR) + "." + std::to_string(TERN_VERSION_MINOR) + "." +
                       std::to_string(TERN_VERSION_PATCH);
    assert_string_equal(tern_version(), want.c_str());
}

static void test_status_and_message(void **) {
    tern_status st = tern_error(TERN_ERR_SHAPE, "cxx: shape %d", 7);
    assert_int_equal(st, TERN_ERR_SHAPE);
    assert_string_equal(tern_errmsg(), "cxx: shape 7");
    assert_string_equal(tern_status_name(TERN_ERR_SHAPE), "shape");
    tern_error_clear();
    assert_string_equal(tern_errmsg(), "");
}

static void test_tensor_and_rng(void **) {
    int shape[4] = {8, 3, 32, 32};
    assert_int_equal(tern_shape_numel(4, shape), 8 * 3 * 32 * 32);
    tern_rng a, b;
    tern_rng_seed(&a, 42);
    tern_rng_seed(&b, 42);
    for (int i = 0; i < 16; i++) assert_true(tern_rng_u64(&a) == tern_rng_u64(&b));
}

static void test_ctx_lifecycle(void **) {
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 1 << 16), TERN_OK);
    tern_ctx_reset(&c);
    tern_ctx_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_matches_header),
        cmocka_unit_test(test_status_and_message),
        cmocka_unit_test(test_tensor_and_rng),
        cmocka_unit_test(test_ctx_lifecycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
