/* test_progress.c — the progress line of `tern train` (trainers/progress.c):
 * at every width from 30 to 220 columns the line leaves the last column
 * free, fields leave from the right (lr first), the bar shrinks only when no
 * field is left, the evaluation line names its split, and long field lists
 * wrap at field boundaries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"

static const progress_state train = {.epoch = 3, .epochs = 12, .batch = 123, .batches = 469, .elapsed_s = 12.4,
                                     .eta_s = 30.0, .run_eta_s = 3725.0, .rate = 23456.0, .loss = 0.1234f,
                                     .acc = 0.9712f, .lr = 1e-3f};

/* The bar's width: the characters between '[' and ']', or 0 without one. */
static int bar_width(const char *line) {
    const char *a = strchr(line, '['), *b = strchr(line, ']');
    return a && b ? (int)(b - a - 1) : 0;
}

static void test_every_width_fits(void **state) {
    (void)state;
    char line[PROGRESS_MAX_WIDTH + 1];
    progress_state big = train;
    big.epoch = 123456789, big.epochs = 987654321, big.batch = 1234567, big.batches = 7654321;
    big.rate = 1e12, big.loss = 1e30f;
    const progress_state *cases[] = {&train, &big};
    for (int c = 0; c < 2; c++) {
        for (int w = 30; w <= 220; w++) {
            int len = progress_fit(cases[c], w, line, sizeof line);
            const int lim = (w < PROGRESS_MIN_WIDTH ? PROGRESS_MIN_WIDTH : w > PROGRESS_MAX_WIDTH ? PROGRESS_MAX_WIDTH : w) - 1;
            assert_int_equal(len, (int)strlen(line));
            assert_true(len <= lim);
            assert_int_equal(strncmp(line, "epoch ", 6), 0);
        }
    }
}

static void test_fields_drop_from_the_right(void **state) {
    (void)state;
    const char *order[] = {" eta ", "  loss ", "  acc ", "/s", "  run eta ", "  lr "};
    char line[PROGRESS_MAX_WIDTH + 1];
    int prev_present = 0, prev_bar = 0;
    for (int w = PROGRESS_MIN_WIDTH; w <= PROGRESS_MAX_WIDTH; w++) {
        progress_fit(&train, w, line, sizeof line);
        int present = 0;
        while (present < 6 && strstr(line, order[present])) present++;
        for (int k = present; k < 6; k++) assert_null(strstr(line, order[k]));  /* a prefix of the fields */
        assert_true(present >= prev_present);  /* a wider terminal never shows less */
        const int bar = bar_width(line);
        if (present > 0) assert_in_range(bar, 10, 30);
        if (present == prev_present) assert_true(bar >= prev_bar);
        prev_present = present, prev_bar = bar;
    }
    assert_int_equal(prev_present, 6);
    /* 80 columns: the bar, the count, elapsed and ETA, loss, acc (79 columns). */
    progress_fit(&train, 80, line, sizeof line);
    assert_string_equal(line, "epoch 3/12 [####..............] 123/469  0:12 eta 0:30  loss 0.1234  acc 97.12%");
    progress_fit(&train, 200, line, sizeof line);
    assert_non_null(strstr(line, "run eta 1:02:05  lr 1.00e-03"));
    assert_int_equal(bar_width(line), 30);
    /* 40 columns: no field fits beside a bar of 10, so the bar takes the rest. */
    progress_fit(&train, 40, line, sizeof line);
    assert_string_equal(line, "epoch 3/12 [####..............] 123/469");
}

static void test_eval_and_last_epoch(void **state) {
    (void)state;
    char line[PROGRESS_MAX_WIDTH + 1];
    progress_state ev = {.split = "validation", .epoch = 12, .epochs = 12, .batch = 7, .batches = 40,
                         .elapsed_s = 1.0, .eta_s = -1.0};
    progress_fit(&ev, 80, line, sizeof line);
    assert_string_equal(line, "epoch 12/12 eval validation [#####.........................]  7/40  0:01 eta ?");
    progress_fit(&ev, 40, line, sizeof line);  /* the bar shrinks below 10 before the count goes */
    assert_string_equal(line, "epoch 12/12 eval validation [...]  7/40");
    progress_state last = train;
    last.epoch = 12;  /* no run ETA on the last epoch: the epoch's is the run's */
    progress_fit(&last, 200, line, sizeof line);
    assert_null(strstr(line, "run eta"));
}

static void test_print_fields_wraps(void **state) {
    (void)state;
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    const char *fields[] = {"epoch 1/2", "train loss 0.2197 acc 93.39%", "test loss 0.1048 acc 96.99%",
                            "sparsity 42.4%", "19981 samples/s"};
    progress_print_fields(f, fields, 5, "  ", 60);
    progress_print_fields(f, fields, 5, "  ", 0);
    fclose(f);
    assert_string_equal(buf, "epoch 1/2  train loss 0.2197 acc 93.39%\n"
                             "  test loss 0.1048 acc 96.99%  sparsity 42.4%\n"
                             "  19981 samples/s\n"
                             "epoch 1/2  train loss 0.2197 acc 93.39%  test loss 0.1048 acc 96.99%  sparsity 42.4%"
                             "  19981 samples/s\n");
    free(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_width_fits),
        cmocka_unit_test(test_fields_drop_from_the_right),
        cmocka_unit_test(test_eval_and_last_epoch),
        cmocka_unit_test(test_print_fields_wraps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
