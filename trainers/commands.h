/* commands.h — the tern program's commands, one file each (cmd_NAME.c).
 * Each gets argv from its own name on and returns the exit status; main.c's
 * table dispatches to them, and cmd_bench.c's to the benchmarks. */
#ifndef COMMANDS_H
#define COMMANDS_H

#include "cli.h"

int cmd_train(int argc, char **argv);   /* cmd_train.c */
int cmd_eval(int argc, char **argv);    /* cmd_eval.c: training and deploy checkpoints */
int cmd_export(int argc, char **argv);  /* cmd_export.c */
int cmd_infer(int argc, char **argv);   /* cmd_infer.c */
int cmd_sweep(int argc, char **argv);   /* cmd_sweep.c */
int cmd_hybrid(int argc, char **argv);  /* cmd_hybrid.c */
int cmd_inspect(int argc, char **argv); /* cmd_inspect.c */
int cmd_profile(int argc, char **argv); /* cmd_profile.c */
int cmd_summary(int argc, char **argv); /* cmd_summary.c */
int cmd_plot(int argc, char **argv);    /* cmd_plot.c */
int cmd_bench(int argc, char **argv);   /* cmd_bench.c: the benchmarks' dispatcher and `bench train` */

/* The benchmarks (cmd_bench.c's table, listed under `bench` in the usage). */
extern const cli_command bench_commands[];
int cmd_bench_kernels(int argc, char **argv); /* cmd_bench_kernels.c */
int cmd_bench_zskip(int argc, char **argv);   /* cmd_bench_zskip.c */
int cmd_bench_gemm(int argc, char **argv);    /* cmd_bench_gemm.c */

#endif
