/* main.c — the tern program: one table of commands, which dispatches and
 * prints the usage. Only trainers/ may exit. */
#include <stdio.h>
#include <string.h>

#include <hdf5.h>

#include "commands.h"

static int cmd_help(int argc, char **argv);

static const cli_command commands[] = {
    {"train", cmd_train, "train a model from a YAML config (configs/)", NULL},
    {"eval", cmd_eval, "evaluate a training or deploy checkpoint on its test set", NULL},
    {"export", cmd_export, "write a packed ternary deploy checkpoint from a training one", NULL},
    {"infer", cmd_infer, "classify one image with a deploy checkpoint", NULL},
    {"sweep", cmd_sweep, "accuracy, sparsity and latency over quantizer thresholds and seeds", NULL},
    {"bench", cmd_bench, "benchmarks", bench_commands},
    {"inspect", cmd_inspect, "per-layer memory, bits/weight and operation counts of a model", NULL},
    {"summary", cmd_summary, "layers, output shapes, parameters, MACs and deploy bytes of a config or checkpoint", NULL},
    {"plot", cmd_plot, "a run's curves as PNGs and one HTML page (gnuplot)", NULL},
    {"profile", cmd_profile, "per-layer time, peak memory and energy of a deploy model", NULL},
    {"help", cmd_help, "show this help", NULL},
    {NULL, NULL, NULL, NULL},
};

static int usage(FILE *f) {
    fprintf(f, "usage: tern <command> [options]\n\ncommands:\n");
    cli_print_commands(f, commands, 13);
    fprintf(f, "\nRun 'tern <command> --help' for a command's options.\n");
    return f == stderr ? 2 : 0;
}

static int cmd_help(int argc, char **argv) {
    (void)argc, (void)argv;
    return usage(stdout);
}

int main(int argc, char **argv) {
    /* The program speaks to its user in one line per error: HDF5 prints no
     * error stack of its own, and does not shut down at exit, where a file
     * it failed to close (damaged metadata) makes it print a dump. The OS
     * reclaims what HDF5 still holds. The library leaves both settings to
     * its host; this program is the host. */
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (argc < 2) return usage(stderr);
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) return usage(stdout);
    const cli_command *c = cli_find(commands, name);
    if (c) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "tern: unknown command '%s' (try 'tern --help')\n", name);
    return 2;
}
