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

tern_status tern_cli_kernel(tern_kernel *k) {
    const char *env = getenv("TERN_KERNEL");
    *k = TERN_KERNEL_AUTO;
    if (!env || !*env) return TERN_OK;
    if (tern_kernel_parse(env, k))
        return tern_error(TERN_ERR_ARG, "TERN_KERNEL='%s' is not scalar, avx2, avx512, neon or auto", env);
    return TERN_OK;
}

const char *tern_cli_kernel_name(void) {
    tern_kernel k;
    if (tern_cli_kernel(&k) || tern_kernel_resolve(k, &k)) return "unknown";
    return tern_kernel_name(k);
}

tern_status tern_cli_runtime_init(tern_runtime *rt, const tern_deploy *d, int max_batch, tern_runtime_act act) {
    tern_runtime_opts o = {.max_batch = max_batch, .act = act, .zskip = TERN_RUNTIME_ZSKIP_AUTO};
    tern_status st = tern_cli_kernel(&o.kernel);
    return st ? st : tern_runtime_init_opts(rt, d, &o);
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
