/* cmd_export.c — `tern export`: a training checkpoint into a packed ternary
 * deploy checkpoint (tern/deploy.h), and its fp32 twin. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"

static long long file_bytes(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* 1 when a and b both exist and are one file (symlinks and hard links followed). */
static int same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Whether export may write `path` without --force: it does not exist, or it
 * is a deploy checkpoint (an earlier export). A training checkpoint, or any
 * other file, is somebody's work: one line and 0. */
static int replaceable(const char *cmd, const char *path, const char *ckpt) {
    struct stat sb;
    /* The input itself: tern_deploy_export refuses it, --force or not. */
    if (stat(path, &sb) != 0 || tern_deploy_probe(path) || same_file(path, ckpt)) return 1;
    tern_ckpt_info info;
    fprintf(stderr, "tern %s: %s exists and is %s; pass --force to replace it\n", cmd, path,
            tern_ckpt_read_info(path, &info) == TERN_OK ? "a training checkpoint" : "not a deploy checkpoint");
    return 0;
}

int cmd_export(int argc, char **argv) {
    const char *ckpt, *out = NULL, *data = NULL, *fp32_out = NULL;
    int force = 0;
    const cli_opt options[] = {
        CLI_STR_OPT("-o", &out, "PATH", "the deploy file (written atomically)"),
        CLI_STR_OPT("--data", &data, "DIR", "read the dataset from DIR instead of the config's path"),
        CLI_STR_OPT("--fp32-out", &fp32_out, "PATH",
                    "also write the same model with fp32 weights, uncompressed:\n"
                    "the fp32 checkpoint the size ratio is measured against"),
        CLI_FLAG_OPT("--force", &force,
                     "replace an output that exists and is not a deploy checkpoint\n"
                     "(a training checkpoint, say); the input itself never"),
        CLI_END_OPT,
    };
    const cli_spec spec = {
        .cmd = "export",
        .usage = "usage: tern export TRAIN_CKPT -o MODEL.h5 [--data DIR] [--fp32-out PATH] [--force]\n"
                 "\n"
                 "Write a deploy checkpoint: ternary layers packed at 2 bits per weight in the\n"
                 "kernels' t2 layout with per-row scales, batchnorm folded, fp32 layers as fp32,\n"
                 "topology, input normalisation and class names (docs/deploy-format.md).\n"
                 "The model and its normalisation come from the training checkpoint and its\n"
                 "dataset's test split.\n",
        .opts = options, .args = &ckpt, .max_args = 1,
    };
    int rc;
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    if (!ckpt || !out) return cli_usage(&spec, stderr);
    if (fp32_out && (!strcmp(fp32_out, out) || same_file(fp32_out, out) || same_file(fp32_out, ckpt))) {
        fprintf(stderr, "tern export: --fp32-out %s is the training checkpoint or the deploy file; give it a file of "
                "its own\n", fp32_out);
        return 1;
    }
    if (!force && (!replaceable("export", out, ckpt) || (fp32_out && !replaceable("export", fp32_out, ckpt)))) return 1;
    tern_deploy_sizes z;
    tern_config cfg;
    tern_model m;
    tern_dataset test;
    if (tern_dataset_load_checkpoint(ckpt, data, &cfg, &m, &test)) return cli_fail("export");
    tern_status xst = tern_deploy_export(&m, &test, ckpt, out, &z);
    tern_model_free(&m);
    tern_dataset_free(&test);
    tern_config_free(&cfg);
    if (xst) return cli_fail("export");
    /* The fp32 reference: the same model, every weight fp32, no compression. */
    tern_deploy d, f;
    tern_deploy_sizes zf;
    tern_deploy_init(&f);
    if (tern_deploy_load(&d, out) || tern_deploy_to_fp32(&d, &f) || tern_deploy_save(&f, fp32_out, 0, &zf)) {
        int rc = cli_fail("export");
        tern_deploy_free(&f);
        tern_deploy_free(&d);
        return rc;
    }
    int n_tern = 0;
    for (int i = 0; i < d.n_layers; i++) n_tern += d.layers[i].ternary;
    printf("%s: %d layers (%d ternary), %zu bytes\n", out, d.n_layers, n_tern, z.file_bytes);
    if (z.ternary_weights)
        printf("  ternary weights  %zu: %.3f bits/weight in memory (t2, K padded to 128), %.3f on disk (deflate)\n",
               z.ternary_weights, 8.0 * (double)z.packed_bytes / (double)z.ternary_weights,
               8.0 * (double)z.packed_disk_bytes / (double)z.ternary_weights);
    printf("  other parameters %zu floats (scales, biases, fp32 layers)\n", z.other_params);
    printf("  fp32 checkpoint of the same model: %zu bytes%s%s -> deploy is 1/%.1f of it\n", zf.file_bytes,
           fp32_out ? ", written to " : " (not written; --fp32-out PATH)", fp32_out ? fp32_out : "",
           (double)zf.file_bytes / (double)z.file_bytes);
    long long tb = file_bytes(ckpt);
    if (tb > 0) printf("  training checkpoint %s: %lld bytes (latent weights and optimizer state)\n", ckpt, tb);
    tern_deploy_free(&f);
    tern_deploy_free(&d);
    return 0;
}
