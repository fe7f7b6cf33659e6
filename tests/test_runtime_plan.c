/* test_runtime_plan.c — the runtime's buffer-slot planner (src/runtime/plan.h):
 * outputs share a slot only when their lifetimes do not overlap, an add
 * keeps its `from` input alive, a view keeps its memory alive, and a slot is
 * as large as the largest output mapped to it. Lifetimes are recomputed
 * here from the layer list, independently of the planner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "runtime/plan.h"
#include "tern/rng.h"

#define MAX_N 16

/* The layer whose output memory layer i's output is (-1: the caller's input). */
static int memory_of(const tern_plan_layer *L, int i) {
    while (i >= 0 && L[i].view) i--;
    return i;
}

/* The last time layer i's memory is read: by layer j when j reads it as its
 * input (the previous layer's memory) or as an add's `from`; n when it is
 * the model's output, which the caller reads. */
static int last_read(const tern_plan_layer *L, int n, int i) {
    int last = i;
    for (int j = 1; j < n; j++) {
        if (memory_of(L, j - 1) == i && j > last) last = j;
        if (L[j].from >= 0 && memory_of(L, L[j].from) == i && j > last) last = j;
    }
    if (memory_of(L, n - 1) == i) last = n;
    return last;
}

/* Every property of a plan of L[0..n). */
static void check_plan(const tern_plan_layer *L, int n, const int *slot_of, const size_t *slot_floats, int n_slots) {
    assert_true(n_slots >= 0 && n_slots <= n);
    size_t biggest[MAX_N] = {0};
    for (int i = 0; i < n; i++) {
        int m = memory_of(L, i);
        if (L[i].view) {
            assert_int_equal(slot_of[i], m >= 0 ? slot_of[m] : -1);
            continue;
        }
        assert_true(slot_of[i] >= 0 && slot_of[i] < n_slots);
        if (L[i].floats > biggest[slot_of[i]]) biggest[slot_of[i]] = L[i].floats;
        /* Never aliased: an earlier tenant of the slot is read no later than before layer i writes. */
        for (int j = 0; j < i; j++)
            if (!L[j].view && slot_of[j] == slot_of[i] && last_read(L, n, j) >= i)
                fail_msg("layers %d and %d share slot %d, but layer %d is still read at layer %d", j, i, slot_of[i],
                         j, last_read(L, n, j));
    }
    for (int k = 0; k < n_slots; k++) {
        assert_true(biggest[k] > 0); /* every slot holds some output */
        assert_int_equal(slot_floats[k], biggest[k]);
    }
}

static int plan(const tern_plan_layer *L, int n, int *slot_of, size_t *slot_floats) {
    int n_slots = -1;
    assert_int_equal(tern_runtime_plan_slots(L, n, slot_of, slot_floats, &n_slots), TERN_OK);
    check_plan(L, n, slot_of, slot_floats, n_slots);
    return n_slots;
}

static void test_chain_reuses_two_slots(void **state) {
    (void)state;
    const tern_plan_layer L[5] = {{10, 0, -1}, {20, 0, -1}, {30, 0, -1}, {5, 0, -1}, {7, 0, -1}};
    int slot_of[5];
    size_t sizes[5];
    assert_int_equal(plan(L, 5, slot_of, sizes), 2);
    const int want[5] = {0, 1, 0, 1, 0};
    for (int i = 0; i < 5; i++) assert_int_equal(slot_of[i], want[i]);
    assert_int_equal(sizes[0], 30); /* layers 0, 2, 4: the largest */
    assert_int_equal(sizes[1], 20); /* layers 1, 3 */
}

static void test_add_keeps_from_alive(void **state) {
    (void)state;
    /* 0 → 1 → 2 → 3 = add(2, from 0) → 4: layer 0 is read at layer 3. */
    const tern_plan_layer L[5] = {{8, 0, -1}, {8, 0, -1}, {8, 0, -1}, {8, 0, 0}, {4, 0, -1}};
    int slot_of[5];
    size_t sizes[5];
    assert_int_equal(plan(L, 5, slot_of, sizes), 3);
    assert_true(slot_of[0] != slot_of[1] && slot_of[0] != slot_of[2] && slot_of[0] != slot_of[3]);
    assert_int_equal(slot_of[4], slot_of[0]); /* free again after the add */
}

static void test_view_keeps_its_memory_alive(void **state) {
    (void)state;
    /* 0 → 1 → flatten view → 3 reads 1's memory → 4 = add(3, from the view). */
    const tern_plan_layer L[5] = {{6, 0, -1}, {6, 0, -1}, {0, 1, -1}, {6, 0, -1}, {6, 0, 2}};
    int slot_of[5];
    size_t sizes[5];
    plan(L, 5, slot_of, sizes);
    assert_int_equal(slot_of[2], slot_of[1]);
    assert_true(slot_of[3] != slot_of[1] && slot_of[4] != slot_of[1]);
    /* A view of the caller's input has no slot. */
    const tern_plan_layer V[2] = {{0, 1, -1}, {3, 0, -1}};
    plan(V, 2, slot_of, sizes);
    assert_int_equal(slot_of[0], -1);
}

static void test_random_models(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 7);
    int reused = 0;
    for (int t = 0; t < 2000; t++) {
        int n = 1 + (int)(tern_rng_u64(&r) % MAX_N);
        tern_plan_layer L[MAX_N];
        for (int i = 0; i < n; i++) {
            L[i] = (tern_plan_layer){.floats = 1 + tern_rng_u64(&r) % 100, .view = tern_rng_u64(&r) % 5 == 0,
                                     .from = -1};
            if (i > 0 && tern_rng_u64(&r) % 4 == 0) L[i].from = (int)(tern_rng_u64(&r) % (uint64_t)i);
        }
        int slot_of[MAX_N];
        size_t sizes[MAX_N];
        int n_slots = plan(L, n, slot_of, sizes);
        int outputs = 0;
        for (int i = 0; i < n; i++) outputs += !L[i].view;
        reused += n_slots < outputs;
    }
    assert_true(reused > 1000); /* most models share slots */
}

static void test_bad_from(void **state) {
    (void)state;
    const tern_plan_layer L[2] = {{4, 0, -1}, {4, 0, 1}};
    int slot_of[2], n_slots;
    size_t sizes[2];
    assert_int_equal(tern_runtime_plan_slots(L, 2, slot_of, sizes, &n_slots), TERN_ERR_ARG);
    assert_non_null(strstr(tern_errmsg(), "layer 1 adds layer 1"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_reuses_two_slots),  cmocka_unit_test(test_add_keeps_from_alive),
        cmocka_unit_test(test_view_keeps_its_memory_alive), cmocka_unit_test(test_random_models),
        cmocka_unit_test(test_bad_from),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
