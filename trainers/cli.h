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
} cli_command;

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

/* "auto", "int8" or "fp32" into *act; otherwise a one-line error and 0. */
int cli_parse_act(const char *cmd, const char *v, tern_runtime_act *act);

/* SIGINT, SIGTERM and SIGHUP set the returned flag (to the signal's number)
 * instead of killing the program, so training can checkpoint and return. */
volatile sig_atomic_t *cli_stop_on_signals(void);

/* Split `split` of dataset `name` (from dir, or datasets/data/NAME when dir
 * is NULL) normalised as deploy model d (read from file `model`) expects. */
tern_status cli_load_split(const tern_deploy *d, const char *model, const char *name, const char *dir,
                           const char *split, tern_dataset *ds);

/* ---- benchmarks ------------------------------------------------------------- */

/* A call being timed: 0 on success. */
typedef int (*cli_bench_fn)(void *ctx);

/* Seconds per call of a and of b, interleaved: every repeat times `inner`
 * calls of a, then of b (inner chosen so a repeat of a takes about 2 ms), by
 * clock `now`; *ta and *tb are the medians over repeats. 0 when a call fails. */
int cli_interleave(double (*now)(void), cli_bench_fn a, void *ca, cli_bench_fn b, void *cb, int repeats, double *ta,
                   double *tb);

/* ---- per-layer reports (inspect, profile) ------------------------------------ */

/* "(784)" or "(16,28,28)" into buf; returns buf. */
const char *cli_shape_str(int ndim, const int *s, char *buf, size_t n);

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

#endif
