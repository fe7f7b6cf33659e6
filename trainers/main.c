/* main.c — the tern program: subcommand dispatch. Only trainers/ may exit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "cli.h"

int tern_cli_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

static int usage(FILE *f) {
    fprintf(f,
            "usage: tern <command> [options]\n"
            "\n"
            "commands:\n"
            "  train         train a model from a YAML config (configs/)\n"
            "  eval          evaluate a training or deploy checkpoint on its test set\n"
            "  export        write a packed ternary deploy checkpoint from a training one\n"
            "  infer         classify one image with a deploy checkpoint\n"
            "  sweep         accuracy, sparsity and latency over quantizer thresholds and seeds\n"
            "  bench train   training throughput of a model on random data\n"
            "  bench kernels packed ternary kernels and runtime against OpenBLAS fp32\n"
            "  bench zskip   dense against zero-skipping ternary kernels by sparsity\n"
            "  bench gemm    tern's fp32 GEMM against OpenBLAS on the training step's shapes\n"
            "  inspect       per-layer memory, bits/weight and operation counts of a model\n"
            "  profile       per-layer time, peak memory and energy of a deploy model\n"
            "  help          show this help\n"
            "\n"
            "Run 'tern <command> --help' for a command's options.\n");
    return f == stderr ? 2 : 0;
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
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) return usage(stdout);
    if (!strcmp(cmd, "train")) return tern_cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return tern_cmd_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return tern_cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "export")) return tern_cmd_export(argc - 1, argv + 1);
    if (!strcmp(cmd, "sweep")) return tern_cmd_sweep(argc - 1, argv + 1);
    if (!strcmp(cmd, "infer")) return tern_cmd_infer(argc - 1, argv + 1);
    if (!strcmp(cmd, "inspect")) return tern_cmd_inspect(argc - 1, argv + 1);
    if (!strcmp(cmd, "profile")) return tern_cmd_profile(argc - 1, argv + 1);
    fprintf(stderr, "tern: unknown command '%s' (try 'tern --help')\n", cmd);
    return 2;
}
