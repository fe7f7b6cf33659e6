/* test_neon.c — on aarch64 the NEON path is the one the kernel tests ran:
 * it is built in, the CPU runs it, AUTO resolves to it, its ops are NEON's
 * own (not the scalar twins), and GEMMs and a conv called with
 * TERN_KERNEL_NEON by name give the scalar reference's int8 outputs bit for
 * bit. The library holds NEON twice, for Armv8.0 ("neon") and with the
 * dot-product extension ("neon-dotprod", sdot); the NEON path runs the one
 * the CPU can. Run as `test_neon NAME` it also asserts that NAME ran:
 * neon-dotprod under qemu-aarch64 -cpu max, neon under -cpu cortex-a53
 * (Armv8.0, where sdot is an illegal instruction). Built only by
 * tests/aarch64, whose aarch64_* ctest cases run it under qemu-aarch64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "kernels/kernels_impl.h"
#include "tern.h"

#if !defined(__aarch64__) || !defined(__ARM_NEON)
#error "test_neon.c is built for aarch64 with Advanced SIMD (tests/aarch64)"
#endif

/* The ops name the NEON path must run (argv[1]), or NULL: either. */
static const char *expect;

static void test_neon_is_the_path(void **state) {
    (void)state;
    tern_kernel k = TERN_KERNEL_SCALAR;
    assert_true(tern_kernel_available(TERN_KERNEL_NEON));
    assert_int_equal(tern_kernel_best(), TERN_KERNEL_NEON);
    assert_int_equal(tern_kernel_resolve(TERN_KERNEL_AUTO, &k), TERN_OK);
    assert_int_equal(k, TERN_KERNEL_NEON);
    assert_string_equal(tern_kernel_name(k), "neon");
    const tern_kernel_ops *ops = NULL, *named = NULL;
    assert_int_equal(tern_kernel_ops_get(TERN_KERNEL_AUTO, &ops), TERN_OK);
    assert_int_equal(tern_kernel_ops_get(TERN_KERNEL_NEON, &named), TERN_OK);
    assert_ptr_equal(ops, named);
    /* The dense GEMMs are NEON's own code, not the scalar twins. */
    assert_true(ops->gemm_i8 != tern_kernel_ops_scalar.gemm_i8);
    assert_true(ops->gemm_f32 != tern_kernel_ops_scalar.gemm_f32);
    /* x86 paths are not built for this architecture. */
    assert_false(tern_kernel_available(TERN_KERNEL_AVX2));
    assert_int_equal(tern_kernel_resolve(TERN_KERNEL_AVX512, &k), TERN_ERR_UNSUPPORTED);
}

/* The two builds are distinct code, and the CPU's dot-product bit alone
 * picks between them (sdot on Armv8.0 would be SIGILL). */
static void test_neon_dotprod_choice(void **state) {
    (void)state;
    const int dp = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
    assert_int_equal(tern_neon_has_dotprod(), dp);
    assert_string_equal(tern_kernel_ops_neon.name, "neon");
    assert_string_equal(tern_kernel_ops_neon_dotprod.name, "neon-dotprod");
    assert_true(tern_kernel_ops_neon.gemm_i8 != tern_kernel_ops_neon_dotprod.gemm_i8);
    const tern_kernel_ops *ops = NULL;
    assert_int_equal(tern_kernel_ops_get(TERN_KERNEL_NEON, &ops), TERN_OK);
    assert_ptr_equal(ops, dp ? &tern_kernel_ops_neon_dotprod : &tern_kernel_ops_neon);
    if (expect) assert_string_equal(ops->name, expect);
    print_message("the NEON path runs %s (the CPU %s the dot-product extension)\n", ops->name, dp ? "has" : "lacks");
}

/* Symmetric and TTQ GEMMs (every NEON tile: n 1 and 5, M 11) and a conv,
 * each called with TERN_KERNEL_NEON and TERN_KERNEL_SCALAR: same bits. */
static void test_neon_by_name(void **state) {
    (void)state;
    enum { M = 11, K = 300, N = 5 };
    tern_rng r;
    tern_rng_seed(&r, 5);
    int8_t w[M * K];
    float wp[M], wn[M], bias[M], x[N * K], y0[N * M], y1[N * M];
    for (int i = 0; i < M * K; i++) w[i] = (int8_t)((int)tern_rng_below(&r, 3) - 1);
    for (int i = 0; i < M; i++) wp[i] = 0.5f + tern_rng_uniform(&r), wn[i] = 0.5f + tern_rng_uniform(&r);
    for (int i = 0; i < M; i++) bias[i] = tern_rng_uniform(&r) - 0.5f;
    for (int i = 0; i < N * K; i++) x[i] = 4.0f * tern_rng_uniform(&r) - 2.0f;
    for (int asym = 0; asym < 2; asym++) {
        tern_packed p;
        assert_int_equal(tern_packed_init(&p, M, K), TERN_OK);
        assert_int_equal(tern_packed_set(&p, w, wp, asym ? wn : NULL), TERN_OK);
        const size_t bytes = tern_kernel_gemm_scratch_bytes(&p, N, TERN_KACT_I8);
        void *scratch = malloc(bytes);
        for (int n = 1; n <= N; n += N - 1) {
            memset(y0, 0, sizeof y0), memset(y1, 0xff, sizeof y1);
            assert_int_equal(tern_kernel_gemm(TERN_KERNEL_SCALAR, &p, x, n, bias, y0, TERN_KACT_I8, scratch, bytes),
                             TERN_OK);
            assert_int_equal(tern_kernel_gemm(TERN_KERNEL_NEON, &p, x, n, bias, y1, TERN_KACT_I8, scratch, bytes),
                             TERN_OK);
            assert_memory_equal(y0, y1, sizeof(float) * (size_t)n * M);
        }
        free(scratch);
        tern_packed_free(&p);
    }
    /* A 3x3 conv, stride 2, pad 1, over (3, 10, 10): K = 27, 25 positions. */
    const tern_conv2d_geom g = {3, 10, 10, 3, 3, 2, 1};
    tern_packed p;
    assert_int_equal(tern_packed_init(&p, M, 27), TERN_OK);
    assert_int_equal(tern_packed_set(&p, w, wp, NULL), TERN_OK);
    const size_t bytes = tern_kernel_conv2d_scratch_bytes(&p, &g, TERN_KACT_I8);
    void *scratch = malloc(bytes);
    float c0[M * 25], c1[M * 25];
    assert_int_equal(tern_kernel_conv2d(TERN_KERNEL_SCALAR, &p, &g, x, 1, bias, c0, TERN_KACT_I8, scratch, bytes),
                     TERN_OK);
    assert_int_equal(tern_kernel_conv2d(TERN_KERNEL_NEON, &p, &g, x, 1, bias, c1, TERN_KACT_I8, scratch, bytes),
                     TERN_OK);
    assert_memory_equal(c0, c1, sizeof c0);
    free(scratch);
    tern_packed_free(&p);
}

int main(int argc, char **argv) {
    expect = argc > 1 ? argv[1] : NULL;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_neon_is_the_path),
        cmocka_unit_test(test_neon_dotprod_choice),
        cmocka_unit_test(test_neon_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
