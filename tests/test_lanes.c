/* test_lanes.c — the fixed-lane sums of src/core/lanes.h (batchnorm's
 * statistics, the ternary quantizer's passes) against plain loops written
 * here from the documented order: element k adds into lane k mod 4, then
 * the tree (l0 + l2) + (l1 + l3). Bit for bit, at every length from 1 to 40
 * and a long one, so every tail is crossed, in both ways a loop may be
 * written (plain C lanes, vector extensions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/lanes.h"
#include "tern.h"

static double plain_tree(double *a) { return (a[0] + a[2]) + (a[1] + a[3]); }

/* sum (x - mean)^2 as batchnorm sums it: plain C lanes (the first way of
 * core/lanes.h) against element k into lane k mod 4, written plainly. */
static double plain_ssd(const float *x, size_t n, double mean) {
    double a[4] = {0};
    for (size_t k = 0; k < n; k++) {
        double d = (double)x[k] - mean;
        a[k % 4] += d * d;
    }
    return plain_tree(a);
}

static double lanes_ssd(const float *x, size_t n, double mean) {
    double a[TERN_LANES] = {0};
    size_t j = 0;
    for (; j + TERN_LANES <= n; j += TERN_LANES)
        for (int l = 0; l < TERN_LANES; l++) {
            double d = (double)x[j + l] - mean;
            a[l] += d * d;
        }
    for (int l = 0; j < n; j++, l++) {
        double d = (double)x[j] - mean;
        a[l] += d * d;
    }
    return tern_lanes_sum(a);
}

/* sum |x| in double lanes, the second way (vector extensions). */
static double lanes_abs(const float *x, size_t n) {
    tern_d4 a = {0};
    size_t j = 0;
    for (; j + TERN_LANES <= n; j += TERN_LANES) a += tern_f4_to_d4((tern_f4)((tern_i4)tern_f4_load(x + j) & 0x7fffffff));
    if (j < n) a += tern_f4_to_d4((tern_f4)((tern_i4)tern_f4_load_tail(x + j, n - j) & 0x7fffffff));
    return tern_d4_sum(a);
}

static double plain_abs(const float *x, size_t n) {
    double a[4] = {0};
    for (size_t k = 0; k < n; k++) a[k % 4] += x[k] < 0 ? -(double)x[k] : (double)x[k];
    return plain_tree(a);
}

/* sum over T > 0 of g, float lanes, as the quantizer's backward sums it. */
static float plain_pos(const int8_t *T, const float *g, size_t n) {
    float a[4] = {0};
    for (size_t k = 0; k < n; k++)
        if (T[k] > 0) a[k % 4] += g[k];
    return (a[0] + a[2]) + (a[1] + a[3]);
}

static float lanes_pos(const int8_t *T, const float *g, size_t n) {
    tern_f4 a = {0};
    size_t i = 0;
    for (; i + TERN_LANES <= n; i += TERN_LANES) a += tern_f4_select(tern_f4_load(g + i), tern_b4_load(T + i) > 0);
    if (i < n) a += tern_f4_select(tern_f4_load_tail(g + i, n - i), tern_b4_load_tail(T + i, n - i) > 0);
    return tern_f4_sum(a);
}

static void test_sums_vs_plain(void **state) {
    (void)state;
    enum { MAX = 1003 };
    float x[MAX];
    int8_t T[MAX];
    tern_rng r;
    tern_rng_seed(&r, 5);
    for (size_t k = 0; k < MAX; k++) {
        x[k] = 3.0f + 1e3f * tern_rng_normal(&r);  /* large, so the order shows in the low bits */
        T[k] = (int8_t)(k * 7 % 3) - 1;
    }
    for (size_t n = 1; n <= MAX; n = n < 40 ? n + 1 : MAX) {
        double want = plain_ssd(x, n, 2.5), got = lanes_ssd(x, n, 2.5);
        if (memcmp(&want, &got, sizeof got)) fail_msg("ssd n %zu: %.17g, plain %.17g", n, got, want);
        want = plain_abs(x, n), got = lanes_abs(x, n);
        if (memcmp(&want, &got, sizeof got)) fail_msg("abs n %zu: %.17g, plain %.17g", n, got, want);
        float wp = plain_pos(T, x, n), gp = lanes_pos(T, x, n);
        if (memcmp(&wp, &gp, sizeof gp)) fail_msg("pos n %zu: %.9g, plain %.9g", n, gp, wp);
        if (n == MAX) break;
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sums_vs_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
