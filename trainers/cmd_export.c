/* cmd_export.c — `tern export`: a training checkpoint into a packed ternary
 * deploy checkpoint (tern/deploy.h), and its fp32 twin; or a training or
 * deploy checkpoint into a self-contained C program (tern/export_c.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "tern/export_c.h"

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

enum { FORMAT_H5, FORMAT_C };
static const cli_choice formats[] = {{"h5", FORMAT_H5}, {"c", FORMAT_C}, {NULL, 0}};

/* "--max-ram BYTES": a whole number of bytes, or of KiB / MiB with a K or M
 * suffix, into *out; 0 after a one-line error. */
static int parse_ram(const char *s, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
    int shift = 0;
    if (s[0] >= '0' && s[0] <= '9' && !errno) {
        if ((*end == 'K' || *end == 'k') && !end[1]) shift = 10, end++;
        else if (*end == 'M' && !end[1]) shift = 20, end++;
    }
    if (!(s[0] >= '0' && s[0] <= '9') || errno || *end || v == 0 || v > (SIZE_MAX >> 20)) {
        fprintf(stderr, "tern export: --max-ram: '%s' is not a number of bytes (e.g. 65536 or 64K)\n", s);
        return 0;
    }
    *out = (size_t)v << shift;
    return 1;
}

/* The deploy model of ckpt: loaded, or exported in memory from a training checkpoint. */
static tern_status deploy_of(const char *ckpt, const char *data, tern_deploy *d) {
    tern_deploy_init(d);
    if (tern_deploy_probe(ckpt)) return tern_deploy_load(d, ckpt);
    tern_config cfg;
    tern_model m;
    tern_dataset test;
    tern_status st = tern_dataset_load_checkpoint(ckpt, data, &cfg, &m, &test);
    if (st) return st;
    st = tern_deploy_from_model(d, &m, &test);
    if (!st) snprintf(d->source, sizeof d->source, "%.*s", (int)sizeof d->source - 1, ckpt);
    tern_model_free(&m);
    tern_dataset_free(&test);
    tern_config_free(&cfg);
    return st;
}

/* --format c: the model as DIR/model.{h,c} over the portable runtime. */
static int export_c(const char *ckpt, const char *dir, const char *data, int force, const char *max_ram) {
    tern_cexport_opts o = {.force = force};
    if (max_ram && !parse_ram(max_ram, &o.max_ram)) return 2;
    struct stat sb;
    if (!force && lstat(dir, &sb) == 0) {
        fprintf(stderr, "tern export: %s exists; pass --force to replace it\n", dir);
        return 1;
    }
    tern_deploy d;
    tern_cexport_report r;
    if (deploy_of(ckpt, data, &d)) return cli_fail("export");
    tern_status st = tern_cexport_write(&d, dir, &o, &r);
    if (st) {
        tern_deploy_free(&d);
        return cli_fail("export");
    }
    int n_tern = 0;
    for (int i = 0; i < d.n_layers; i++) n_tern += d.layers[i].ternary;
    printf("%s: C export of %s: %d layers (%d ternary), %d run by the portable runtime (%d fused into another)\n", dir,
           ckpt, d.n_layers, n_tern, r.run_layers, r.fused_layers);
    printf("  flash %zu bytes of const data (weights, scales, biases, layer table), plus code\n", r.flash_bytes);
    printf("  RAM   %zu bytes (the arena, TERN_MODEL_RAM_BYTES), plus input, logits and stack\n", r.ram_bytes);
    printf("  files");
    for (int i = 0; tern_cexport_file_name(i); i++) printf(" %s/%s", dir, tern_cexport_file_name(i));
    printf("\n");
    tern_deploy_free(&d);
    return 0;
}

int cmd_export(int argc, char **argv) {
    const char *ckpt, *out = NULL, *data = NULL, *fp32_out = NULL, *max_ram = NULL;
    int force = 0, format = FORMAT_H5;
    const cli_opt options[] = {
        CLI_STR_OPT("-o", &out, "PATH", "the deploy file, or with --format c the directory (written atomically)"),
        CLI_CHOICE_OPT("--format", &format, formats,
                       "h5: a deploy checkpoint (default); c: a C99 program, DIR/model.{h,c}\n"
                       "and the portable runtime, no heap, no file I/O (runs on microcontrollers)"),
        CLI_STR_OPT("--max-ram", &max_ram, "BYTES",
                    "--format c: refuse a model whose buffers need more RAM (e.g. 65536, 64K)"),
        CLI_STR_OPT("--data", &data, "DIR", "read the dataset from DIR instead of the config's path"),
        CLI_STR_OPT("--fp32-out", &fp32_out, "PATH",
                    "also write the same model with fp32 weights, uncompressed:\n"
                    "the fp32 checkpoint the size ratio is measured against"),
        CLI_FLAG_OPT("--force", &force,
                     "replace an output that exists and is not a deploy checkpoint\n"
                     "(a training checkpoint, say), or with --format c an earlier C export\n"
                     "in DIR (a directory of its six files and nothing else);\n"
                     "the input itself never"),
        CLI_END_OPT,
    };
    const cli_spec spec = {
        .cmd = "export",
        .usage = "usage: tern export TRAIN_CKPT -o MODEL.h5 [--data DIR] [--fp32-out PATH] [--force]\n"
                 "       tern export CKPT --format c -o DIR [--force] [--max-ram BYTES]\n"
                 "\n"
                 "Write a deploy checkpoint: ternary layers packed at 2 bits per weight in the\n"
                 "kernels' t2 layout with per-row scales, batchnorm folded, fp32 layers as fp32,\n"
                 "topology, input normalisation and class names (docs/deploy-format.md).\n"
                 "The model and its normalisation come from the training checkpoint and its\n"
                 "dataset's test split.\n"
                 "With --format c, CKPT (a training or a deploy checkpoint) becomes DIR/model.h,\n"
                 "model.c and the portable runtime's four files: C99 that any compiler builds,\n"
                 "with the flash and RAM it needs reported (tern/export_c.h).\n",
        .opts = options, .args = &ckpt, .max_args = 1,
    };
    int rc;
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    if (!ckpt || !out) return cli_usage(&spec, stderr);
    if (format == FORMAT_C && fp32_out) {
        fprintf(stderr, "tern export: --fp32-out is for --format h5; a C export writes only DIR\n");
        return 2;
    }
    if (format == FORMAT_C) return export_c(ckpt, out, data, force, max_ram);
    if (max_ram) {
        fprintf(stderr, "tern export: --max-ram is for --format c\n");
        return 2;
    }
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
