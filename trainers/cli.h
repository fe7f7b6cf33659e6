/* cli.h — the tern program's subcommands and argument helpers. */
#ifndef TERN_CLI_H
#define TERN_CLI_H

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

/* Parse a whole decimal integer in [lo, hi] into *out; 1 on success. */
int tern_cli_int(const char *s, int lo, int hi, int *out);

#endif
