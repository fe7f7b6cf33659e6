/* main.c — the tern program: one table of commands, which dispatches and
 * prints the usage. Only trainers/ may exit. */
#include <stdio.h>
#include <string.h>

#include <hdf5.h>

#include "commands.h"

static int cmd_help(int argc, char **argv);

static const cli_command commands[] = {
    {"train", cmd_train, "train a model from a YAML config (configs/), on N processes under mpirun", NULL, 1},
    {"eval", cmd_eval, "evaluate a training or deploy checkpoint on its test set", NULL, 0},
    {"export", cmd_export, "write a packed ternary deploy checkpoint from a training one", NULL, 0},
    {"infer", cmd_infer, "classify one image with a deploy checkpoint", NULL, 0},
    {"sweep", cmd_sweep, "accuracy, sparsity and latency over quantizer thresholds and seeds", NULL, 1},
    {"hybrid", cmd_hybrid, "choose which layers stay fp32 under a size, latency or energy budget", NULL, 1},
    {"bench", cmd_bench, "benchmarks", bench_commands, 0},
    {"inspect", cmd_inspect, "per-layer memory, bits/weight and operation counts of a model", NULL, 0},
    {"summary", cmd_summary, "layers, output shapes, parameters, MACs and deploy bytes of a config or checkpoint", NULL, 0},
    {"plot", cmd_plot, "a run's curves as PNGs and one HTML page (gnuplot)", NULL, 0},
    {"profile", cmd_profile, "per-layer time, peak memory and energy of a deploy model", NULL, 0},
    {"help", cmd_help, "show this help", NULL, 0},
    {NULL, NULL, NULL, NULL, 0},
};

static int usage(FILE *f) {
    fprintf(f, "usage: tern <command> [options]\n\ncommands:\n");
    cli_print_commands(f, commands, 13);
    fprintf(f, "\nRun 'tern <command> --help' for a command's options.\n");
    return f == stderr ? 2 : 0;
}

/* Run command c as one of the `launched` processes a launcher started: they
 * join one tern_comm (MPI), or, in a build without MPI or for a command
 * that does not share its work, the start is refused rather than running
 * N independent copies that would write the same files. */
static int run_ranks(const cli_command *c, int argc, char **argv, int launched) {
    if (!c->ranks) {
        fprintf(stderr, "tern %s: started as one of %d processes (mpirun or srun), but only 'tern train', 'tern sweep'"
                " and 'tern hybrid' share their work between processes; run it as one process\n", c->name, launched);
        return 2;
    }
    if (!tern_comm_has_mpi()) {
        fprintf(stderr, "tern %s: started as one of %d processes (mpirun or srun), but this tern was built without "
                "MPI and would run %d independent copies; rebuild with Open MPI (cmake -DTERN_MPI=ON; Debian: "
                "libopenmpi-dev openmpi-bin), or run one process\n", c->name, launched, launched);
        return 2;
    }
    struct tern_comm *comm = NULL;
    if (tern_comm_world(&argc, &argv, &comm)) {
        fprintf(stderr, "tern %s: %s\n", c->name, tern_errmsg());
        tern_comm_finalize(comm);
        return 1;
    }
    cli_comm_set(comm);
    int rc = c->run(argc - 1, argv + 1);
    cli_comm_set(NULL);
    tern_comm_finalize(comm);
    return rc;
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
    int launched = tern_comm_launched_size();
    if (c && launched > 1) return run_ranks(c, argc, argv, launched);
    if (c) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "tern: unknown command '%s' (try 'tern --help')\n", name);
    return 2;
}
