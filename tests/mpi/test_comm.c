/* test_comm.c — tern/comm.h's collectives on the ranks of `mpiexec -n 2`
 * (or more): every rank runs every test, and each checks what it can see. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tern/comm.h"
#include "tern/rng.h"

static tern_comm *comm;

/* Rank r's input of n floats: seeded by r, of mixed magnitudes so the order of additions shows in the bits. */
static void fill(float *x, size_t n, int r) {
    tern_rng g;
    tern_rng_seed(&g, 1000 + (uint64_t)r);
    for (size_t j = 0; j < n; j++) x[j] = (tern_rng_uniform(&g) - 0.5f) * (j % 7 ? 1.0f : 1e4f);
}

/* The ring's sum is every rank's inputs added (within rounding), the same
 * bits on every rank and on a second run, for sizes that do not divide by
 * the ranks, smaller than them, and empty. */
static void test_sum_f32(void **state) {
    (void)state;
    const int N = tern_comm_size(comm), r = tern_comm_rank(comm);
    const size_t sizes[] = {0, 1, 3, 1000, 100003};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        float *a = malloc(sizeof(float) * (n + 1)), *b = malloc(sizeof(float) * (n + 1));
        float *x = malloc(sizeof(float) * (n + 1));
        fill(a, n, r);
        memcpy(b, a, sizeof(float) * n);
        assert_int_equal(tern_comm_sum_f32(comm, a, n), TERN_OK);
        assert_int_equal(tern_comm_sum_f32(comm, b, n), TERN_OK);
        assert_memory_equal(a, b, sizeof(float) * n); /* rerun: the same bits */
        for (size_t j = 0; j < n; j++) b[j] = 0.0f;
        for (int k = 0; k < N; k++) {
            fill(x, n, k);
            for (size_t j = 0; j < n; j++) b[j] += x[j];
        }
        for (size_t j = 0; j < n; j++) assert_true(fabsf(a[j] - b[j]) <= 1e-5f * (fabsf(b[j]) + 1.0f));
        /* every rank holds rank 0's bits */
        memcpy(x, a, sizeof(float) * n);
        assert_int_equal(tern_comm_bcast(comm, x, sizeof(float) * n, 0), TERN_OK);
        assert_memory_equal(a, x, sizeof(float) * n);
        free(a), free(b), free(x);
    }
}

/* The small sums add in rank order: exactly what a loop over the gathered values gives. */
static void test_sum_f64_and_gather(void **state) {
    (void)state;
    const int N = tern_comm_size(comm), r = tern_comm_rank(comm);
    double v[3] = {0.1 * (r + 1), 1e16 * (r % 2 ? -1 : 1), (double)r};
    double *all = malloc(sizeof v * (size_t)N);
    assert_int_equal(tern_comm_allgather(comm, v, all, sizeof v), TERN_OK);
    double want[3] = {0, 0, 0};
    for (int k = 0; k < N; k++)
        for (int j = 0; j < 3; j++) want[j] = k ? want[j] + all[k * 3 + j] : all[j];
    assert_int_equal(tern_comm_sum_f64(comm, v, 3), TERN_OK);
    assert_memory_equal(v, want, sizeof want);
    free(all);
}

/* A failure on one rank reaches all, with its message; a flag on one is seen by all. */
static void test_agree_any(void **state) {
    (void)state;
    const int N = tern_comm_size(comm), r = tern_comm_rank(comm);
    assert_int_equal(tern_comm_agree(comm, TERN_OK), TERN_OK);
    int bad = N - 1;
    tern_status mine = r == bad ? tern_error(TERN_ERR_IO, "data.bin: cannot read") : TERN_OK;
    assert_int_equal(tern_comm_agree(comm, mine), N > 1 || r == bad ? TERN_ERR_IO : TERN_OK);
    assert_non_null(strstr(tern_errmsg(), "data.bin: cannot read"));
    if (r != bad) assert_non_null(strstr(tern_errmsg(), "rank "));
    int any = -1;
    assert_int_equal(tern_comm_any(comm, r == bad, &any), TERN_OK);
    assert_int_equal(any, 1);
    assert_int_equal(tern_comm_any(comm, 0, &any), TERN_OK);
    assert_int_equal(any, 0);
    assert_int_equal(tern_comm_barrier(comm), TERN_OK);
}

int main(int argc, char **argv) {
    if (tern_comm_world(&argc, &argv, &comm)) {
        print_message("%s\n", tern_errmsg());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sum_f32),
        cmocka_unit_test(test_sum_f64_and_gather),
        cmocka_unit_test(test_agree_any),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tern_comm_finalize(comm);
    return failed ? 1 : 0;
}
