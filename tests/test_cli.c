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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_args),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_list_limit_and_dash),
        cmocka_unit_test(test_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
