/* cli.h — the tern program's subcommands and argument helpers. */
#ifndef TERN_CLI_H
#define TERN_CLI_H

#include <signal.h>

#include "tern/deploy.h"
#include "tern/runtime.h"

/* Each subcommand gets argv from its own name on and returns the exit status. */
int tern_cmd_bench(int argc, char **argv);
int tern_cmd_train(int argc, char **argv);
int tern_cmd_eval(int argc, char **argv);
int tern_cmd_export(int argc, char **argv);
int tern_cmd_infer(int argc, char **argv);
/* `tern eval MODEL.h5` when MODEL.h5 is a deploy checkpoint (deploy_cmd.c). */
int tern_cmd_eval_deploy(int argc, char **argv);
/* `tern bench [kernels] [options]` (deploy_cmd.c); argv[1] may be "kernels". */
int tern_cmd_bench_kernels(int argc, char **argv);
/* `tern bench zskip [options]` (deploy_cmd.c): dense vs zero-skipping kernels. */
int tern_cmd_bench_zskip(int argc, char **argv);
/* `tern bench gemm [options]` (deploy_cmd.c): tern_sgemm against cblas_sgemm. */
int tern_cmd_bench_gemm(int argc, char **argv);

/* `tern inspect` and `tern profile` (monitor_cmd.c). */
int tern_cmd_inspect(int argc, char **argv);
int tern_cmd_profile(int argc, char **argv);

/* Split `split` of dataset `name` (from dir, or datasets/data/NAME when dir
 * is NULL) normalised as deploy model d (read from file `model`) expects
 * (deploy_cmd.c). */
tern_status tern_cli_load_split(const tern_deploy *d, const char *model, const char *name, const char *dir, const char *split,
                                tern_dataset *ds);

int tern_cmd_sweep(int argc, char **argv);

/* SIGINT and SIGTERM set the returned flag (to the signal's number) instead
 * of killing the program, so training can checkpoint and return. */
volatile sig_atomic_t *tern_cli_stop_on_signals(void);

/* Parse a whole decimal integer in [lo, hi] into *out; 1 on success. */
int tern_cli_int(const char *s, int lo, int hi, int *out);

/* The packed kernels' path of this run: the environment variable
 * TERN_KERNEL (scalar, avx2, avx512, neon, auto), or TERN_KERNEL_AUTO when
 * it is unset or empty. The library reads no environment; this is the
 * program's default. */
tern_status tern_cli_kernel(tern_kernel *k);

/* The name of the path tern_cli_kernel resolves to on this CPU ("unknown"
 * when TERN_KERNEL names no available path). */
const char *tern_cli_kernel_name(void);

/* tern_runtime_init on the path tern_cli_kernel gives. */
tern_status tern_cli_runtime_init(tern_runtime *rt, const tern_deploy *d, int max_batch, tern_runtime_act act);

#endif
