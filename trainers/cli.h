/* cli.h — what the tern program's commands share: argument parsing, one-line
 * errors, signals, the dataset of a deploy model, the benchmarks' timer and
 * the per-layer reports of inspect and profile. Only the program (trainers/)
 * uses these; the library's symbols carry the tern_ prefix, these do not. */
#ifndef CLI_H
#define CLI_H

#include <signal.h>
#include <stdio.h>

#include "tern.h"

/* ---- commands --------------------------------------------------------------- */

/* A command: argv from its own name on; returns the exit status. */
typedef int (*cli_fn)(int argc, char **argv);

/* One row of a command table: it both dispatches and prints the usage. */
typedef struct cli_command {
    const char *name;
    cli_fn run;
    const char *summary;           /* one line for the usage */
    const struct cli_command *sub; /* subcommands listed under it (bench), or NULL */
    int ranks;                     /* 1: runs as the N processes of `mpirun -np N` (tern/comm.h) */
} cli_command;

/* The processes mpirun (or srun) started this one among, for a command
 * whose row has `ranks` (main.c joins them before it runs); NULL when this
 * is the only one. Rank 0 speaks for the run: progress and results are
 * printed there; another rank prints only an error of its own. */
struct tern_comm *cli_comm(void);
/* main.c's: the comm cli_comm gives (it lives here, not in main.c, so the
 * commands that ask for it do not use main.c, which uses them). */
void cli_comm_set(struct tern_comm *c);

/* The row of `table` (ended by a row of NULL name) named `name`, or NULL. */
const cli_command *cli_find(const cli_command *table, const char *name);

/* One "  NAME  summary" line per row, NAME padded to width; a row with
 * subcommands gives one "  NAME SUB  summary" line per subcommand instead. */
void cli_print_commands(FILE *f, const cli_command *table, int width);

/* ---- arguments and errors --------------------------------------------------- */

/* Parse a whole decimal integer in [lo, hi] into *out; 1 on success. */
int cli_int(const char *s, int lo, int hi, int *out);

/* Print "tern CMD: <the library's last message>" on stderr; returns 1. */
int cli_fail(const char *cmd);

/* A command's options, as a table: cli_parse reads argv by it, cli_usage
 * prints it under the command's usage. */
typedef enum cli_kind {
    CLI_FLAG,   /* no value: *(int *)out = 1 */
    CLI_INT,    /* *(int *)out = a whole number in [lo, hi] */
    CLI_STR,    /* *(const char **)out = the value */
    CLI_CHOICE, /* *(int *)out = the value of the choice named */
    CLI_LIST,   /* appended to *(cli_list *)out; may be given CLI_LIST_MAX times */
} cli_kind;

/* One accepted value of a CLI_CHOICE option; tables end with {NULL, 0}. */
typedef struct cli_choice {
    const char *name;
    int value;
} cli_choice;

/* The activation modes of the ternary layers, as every command spells them. */
extern const cli_choice cli_acts[];

#define CLI_LIST_MAX 64
typedef struct cli_list {
    const char *v[CLI_LIST_MAX];
    int n;
} cli_list;

typedef struct cli_opt {
    const char *name;          /* "--batch", "-o" */
    cli_kind kind;
    void *out;
    const char *arg;           /* the value in --help ("N", "DIR"); CLI_CHOICE lists its names */
    const char *help;          /* for --help; each '\n' starts an indented line */
    int lo, hi;                /* CLI_INT: the accepted range */
    const cli_choice *choices; /* CLI_CHOICE */
} cli_opt;

/* The rows of an option table, as git's parse-options spells them. */
#define CLI_FLAG_OPT(name, out, help) {name, CLI_FLAG, out, NULL, help, 0, 0, NULL}
#define CLI_INT_OPT(name, out, arg, lo, hi, help) {name, CLI_INT, out, arg, help, lo, hi, NULL}
#define CLI_STR_OPT(name, out, arg, help) {name, CLI_STR, out, arg, help, 0, 0, NULL}
#define CLI_CHOICE_OPT(name, out, choices, help) {name, CLI_CHOICE, out, NULL, help, 0, 0, choices}
#define CLI_LIST_OPT(name, out, arg, help) {name, CLI_LIST, out, arg, help, 0, 0, NULL}
#define CLI_END_OPT {NULL, CLI_FLAG, NULL, NULL, NULL, 0, 0, NULL}

typedef struct cli_spec {
    const char *cmd;     /* "eval", "bench train": every message starts "tern CMD: " */
    const char *usage;   /* the usage lines and what the command does, before the options */
    const char *after;   /* text after the options, or NULL */
    const cli_opt *opts; /* ended by a row of NULL name */
    const char **args;   /* (max_args) positional arguments in order, NULL when not given */
    int max_args;
    int dash_arg;        /* a lone "-" is an argument (a file name), not an option */
} cli_spec;

/* Read argv[1..argc) by s: options (in any order, anywhere) into their
 * `out`, other arguments into s->args. Returns 1 when the command should go
 * on; otherwise 0 with *rc the exit status: 0 after --help or -h (the usage
 * on stdout), 2 after a one-line error on stderr. */
int cli_parse(const cli_spec *s, int argc, char **argv, int *rc);

/* s's usage, options and closing text on f; 0 for stdout, 2 otherwise. */
int cli_usage(const cli_spec *s, FILE *f);

/* The kernel path the TERN_KERNEL environment variable names into *k: unset,
 * empty or "auto" is the best path this CPU runs. The variable is the
 * program's default for the kernel path it hands the library; a name that is
 * no path, or a path this CPU or build lacks, is an error naming the variable. */
tern_status cli_kernel_from_env(tern_kernel *k);

/* tern_runtime_init on that path. */
tern_status cli_runtime_init(tern_runtime *rt, const tern_deploy *d, int max_batch, tern_runtime_act act);

/* The same on a worker pool (NULL: the caller's thread only). */
tern_status cli_runtime_init_pool(tern_runtime *rt, const tern_deploy *d, int max_batch, tern_runtime_act act,
                                  tern_pool *pool);

/* The --threads option of the commands that run the runtime. */
#define CLI_THREADS_OPT(out) \
    CLI_INT_OPT("--threads", out, "N", 1, TERN_POOL_MAX_THREADS, "worker threads the runtime splits the batch over (1)")

/* *pool = a pool of `threads` threads, or NULL for 1 (no worker to start). */
tern_status cli_pool_init(tern_pool **pool, int threads);

/* SIGINT, SIGTERM and SIGHUP set the returned flag (to the signal's number)
 * instead of killing the program, so training can checkpoint and return. */
volatile sig_atomic_t *cli_stop_on_signals(void);

/* Split `split` of dataset `name` normalised as deploy model d (read from
 * file `model`) expects, from dir; when dir is NULL, from datasets/data/NAME
 * here, else in the model file's folder or one of the 3 above it. Every
 * error about a missing dataset mentions --data DIR. */
tern_status cli_load_split(const tern_deploy *d, const char *model, const char *name, const char *dir,
                           const char *split, tern_dataset *ds);

/* ---- benchmarks ------------------------------------------------------------- */

/* A call being timed: 0 on success. */
typedef int (*cli_bench_fn)(void *ctx);

/* Seconds per call of one case over the repeats: the median, the figure to
 * quote, and the fastest repeat, what the case costs when nothing disturbs it. */
typedef struct cli_time {
    double median, min;
} cli_time;

/* Seconds per call of a and of b by clock `now`, interleaved: every repeat
 * times a block of calls of each (each case's block about 2 ms), in an order
 * a fixed-seed coin picks anew per repeat, and warms each case for at least
 * 1 ms right before its block. *ta and *tb are over the repeats. 0 when a
 * call fails. */
int cli_interleave(double (*now)(void), cli_bench_fn a, void *ca, cli_bench_fn b, void *cb, int repeats, cli_time *ta,
                   cli_time *tb);

/* ---- per-layer reports (inspect, profile) ------------------------------------ */

/* s as a JSON string, quoted and escaped. */
void cli_json_str(FILE *f, const char *s);

/* "ternary/i8", "ternary/f32", "fp32" or "-" (no weights). */
const char *cli_precision(const tern_dlayer *L, const tern_layer_count *c);

/* The model's file, kind, dataset and shapes as the opening JSON members. */
void cli_json_model_head(FILE *f, const char *path, const tern_deploy *d, int is_train);

/* Layer i's identity, shapes and scales as JSON members, each followed by ','. */
void cli_json_layer_head(FILE *f, const tern_deploy *d, int i, const tern_layer_count *c);

/* Counts of every layer and the total, allocated; NULL on failure (error set). */
tern_layer_count *cli_count_all(const tern_deploy *d, tern_layer_count *total);

/* ---- gnuplot (plot, hybrid) --------------------------------------------------- */

/* s in gnuplot single quotes ('' for a quote) on f. */
void cli_gp_str(FILE *f, const char *s);

/* 1 when an executable `name` is on $PATH. */
int cli_on_path(const char *name);

/* Run gnuplot on script text[0..n); its first error line into the message. */
tern_status cli_run_gnuplot(const char *text, size_t n);

#endif
