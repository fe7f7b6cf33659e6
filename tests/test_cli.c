/* test_cli.c — the tern program's option parser (trainers/cli.c): values
 * into their variables, positional arguments in order, and for each kind of
 * mistake one line on stderr that names the option and the value, with exit
 * status 2; --help lists every option. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int n, flag, act;
static const char *str, *args[2];
static cli_list list;

static const cli_opt options[] = {
    CLI_INT_OPT("--n", &n, "N", 1, 10, "a number (3)"),
    CLI_FLAG_OPT("--flag", &flag, "a flag"),
    CLI_STR_OPT("--s", &str, "TEXT", "a string\nover two lines"),
    CLI_CHOICE_OPT("--act", &act, cli_acts, "an activation mode"),
    CLI_LIST_OPT("--set", &list, "K=V", "repeatable"),
    CLI_END_OPT,
};

static const cli_spec spec = {.cmd = "t", .usage = "usage: tern t [ARG [ARG]]\n", .opts = options, .args = args,
                              .max_args = 2};

/* cli_parse on the words of line (argv[0] "t"); *err gets its stderr. */
static int parse(const cli_spec *s, const char *line, int *rc, char *err, size_t err_size) {
    static char buf[8192];
    char *argv[200] = {"t"};
    int argc = 1;
    snprintf(buf, sizeof buf, "%s", line);
    for (char *w = strtok(buf, " "); w && argc < 200; w = strtok(NULL, " ")) argv[argc++] = w;
    n = 3, flag = 0, act = -1, str = NULL, list.n = 0;
    fflush(stderr);
    int saved = dup(2);
    FILE *f = tmpfile();
    assert_non_null(f);
    dup2(fileno(f), 2);
    int ok = cli_parse(s, argc, argv, rc);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    size_t k = fread(err, 1, err_size - 1, f);
    err[k] = '\0';
    fclose(f);
    return ok;
}

static void test_values_and_args(void **state) {
    (void)state;
    char err[512];
    int rc = -1;
    assert_int_equal(parse(&spec, "a --n 10 --flag --s x b --act int8 --set p=1 --set q=2", &rc, err, sizeof err), 1);
    assert_string_equal(err, "");
    assert_int_equal(n, 10);
    assert_int_equal(flag, 1);
    assert_string_equal(str, "x");
    assert_int_equal(act, TERN_RUNTIME_ACT_I8);
    assert_int_equal(list.n, 2);
    assert_string_equal(list.v[1], "q=2");
    assert_string_equal(args[0], "a");
    assert_string_equal(args[1], "b");
    /* Absent arguments are NULL; a value may start with a dash. */
    assert_int_equal(parse(&spec, "--s --flag", &rc, err, sizeof err), 1);
    assert_string_equal(str, "--flag");
    assert_int_equal(flag, 0);
    assert_null(args[0]);
}

static void test_errors(void **state) {
    (void)state;
    static const struct {
        const char *line, *message;
    } cases[] = {
        {"--n 0", "tern t: --n: '0' is not a whole number in 1..10\n"},
        {"--n 11", "tern t: --n: '11' is not a whole number in 1..10\n"},
        {"--n 5x", "tern t: --n: '5x' is not a whole number in 1..10\n"},
        {"--n 99999999999", "tern t: --n: '99999999999' is not a whole number in 1..10\n"},
        {"a --n", "tern t: --n needs a value\n"},
        {"--bogus 1", "tern t: unknown option '--bogus' (try 'tern t --help')\n"},
        {"-", "tern t: unknown option '-' (try 'tern t --help')\n"},
        {"a b c", "tern t: unexpected argument 'c'\n"},
        {"--act i8", "tern t: --act must be auto, int8 or fp32, got 'i8'\n"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = -1;
        assert_int_equal(parse(&spec, cases[i].line, &rc, err, sizeof err), 0);
        assert_int_equal(rc, 2);
        assert_string_equal(err, cases[i].message);
    }
}

static void test_list_limit_and_dash(void **state) {
    (void)state;
    char line[2048] = "", err[512];
    int rc = -1;
    for (int i = 0; i < CLI_LIST_MAX; i++) strcat(line, "--set k=v ");
    assert_int_equal(parse(&spec, line, &rc, err, sizeof err), 1);
    assert_int_equal(list.n, CLI_LIST_MAX);
    strcat(line, "--set k=v");
    assert_int_equal(parse(&spec, line, &rc, err, sizeof err), 0);
    assert_string_equal(err, "tern t: too many --set options (at most 64)\n");
    /* A command whose arguments are files takes a lone '-' as one. */
    cli_spec dash = spec;
    dash.dash_arg = 1;
    assert_int_equal(parse(&dash, "- x", &rc, err, sizeof err), 1);
    assert_string_equal(args[0], "-");
}

static void test_help(void **state) {
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(cli_usage(&spec, f), 2);
    rewind(f);
    char out[2048];
    out[fread(out, 1, sizeof out - 1, f)] = '\0';
    fclose(f);
    assert_string_equal(out, "usage: tern t [ARG [ARG]]\n"
                             "  --n N                 a number (3)\n"
                             "  --flag                a flag\n"
                             "  --s TEXT              a string\n"
                             "                        over two lines\n"
                             "  --act auto|int8|fp32  an activation mode\n"
                             "  --set K=V             repeatable\n");
}

/* ---- the benchmarks' timer ---------------------------------------------------- */

/* A clock that advances 0.1 ms per reading, and two cases that log their calls. */
static double fake_t;
static double fake_now(void) { return fake_t += 1e-4; }
static char calls[100000];
static int n_calls, fail_at = -1;
static double jitter; /* seconds every 7th call adds to the fake clock */
static int case_call(void *c) {
    if (n_calls == fail_at) return 1;
    if (n_calls % 7 == 0) fake_t += jitter;
    if (n_calls < (int)sizeof calls) calls[n_calls] = *(const char *)c;
    n_calls++;
    return 0;
}

/* Runs of one case's calls in calls[from..to). */
static int runs(int from, int to) {
    int k = 0;
    for (int i = from; i < to; i++) k += i == from || calls[i] != calls[i - 1];
    return k;
}

/* Both cases are timed in blocks of their own, each warmed right before,
 * and the order changes between repeats: with a fixed order (a, b, a, b, ...)
 * every repeat would add exactly two runs. */
static void test_interleave_order_and_warmup(void **state) {
    (void)state;
    const char a = 'a', b = 'b';
    const int repeats = 40;
    cli_time ta = {0, 0}, tb = {0, 0};
    n_calls = 0;
    assert_int_equal(cli_interleave(fake_now, case_call, (void *)&a, case_call, (void *)&b, repeats, &ta, &tb), 1);
    assert_true(ta.median > 0 && tb.median > 0);
    /* Every block took the same, up to the fake clock's rounding. */
    assert_true(ta.min <= ta.median && ta.median - ta.min < 1e-9 * ta.median);
    assert_true(tb.min <= tb.median && tb.median - tb.min < 1e-9 * tb.median);
    const int timed_from = 3 * 2 + 2; /* three warm pairs, one calibration call of each */
    const int r = runs(timed_from, n_calls);
    assert_true(r < 2 * repeats);     /* the order is not fixed */
    assert_true(r > repeats);         /* nor always the same */
    /* Every block is at least the warm-up (1 ms = about 5 readings of the
     * fake clock per call) plus its timed calls: no run is a single call. */
    for (int i = timed_from + 1; i < n_calls - 1; i++)
        assert_false(calls[i] != calls[i - 1] && calls[i] != calls[i + 1]);
    /* A failing call ends the timing with 0. */
    n_calls = 0;
    fail_at = 50;
    assert_int_equal(cli_interleave(fake_now, case_call, (void *)&a, case_call, (void *)&b, repeats, &ta, &tb), 0);
    fail_at = -1;
}

/* The min is the fastest repeat and the median the middle one: with some
 * blocks slowed by a jittery call, min < median. */
static void test_interleave_min_median(void **state) {
    (void)state;
    const char a = 'a', b = 'b';
    cli_time ta = {0, 0}, tb = {0, 0};
    n_calls = 0;
    jitter = 3e-4;
    assert_int_equal(cli_interleave(fake_now, case_call, (void *)&a, case_call, (void *)&b, 41, &ta, &tb), 1);
    jitter = 0;
    assert_true(ta.min > 0 && ta.min < ta.median);
    assert_true(tb.min > 0 && tb.min < tb.median);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_args),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_list_limit_and_dash),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_interleave_order_and_warmup),
        cmocka_unit_test(test_interleave_min_median),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
