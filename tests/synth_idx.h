/* synth_idx.h — a tiny learnable MNIST-format dataset for tests that train.
 * Header-only, for tests. */
#ifndef TERN_TEST_SYNTH_IDX_H
#define TERN_TEST_SYNTH_IDX_H

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "tern/rng.h"

static void synth_put_be32(FILE *f, uint32_t v) {
    unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};
    fwrite(b, 1, 4, f);
}

/* n images of 12x12: class k is a bright horizontal bar on row k + 1, plus
 * noise; a horizontal flip keeps the class. */
static void synth_idx_write(const char *dir, const char *prefix, int n, uint64_t seed) {
    char path[512];
    tern_rng r;
    tern_rng_seed(&r, seed);
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte", dir, prefix);
    FILE *fi = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte", dir, prefix);
    FILE *fl = fopen(path, "wb");
    synth_put_be32(fi, 0x803);
    synth_put_be32(fi, (uint32_t)n);
    synth_put_be32(fi, 12);
    synth_put_be32(fi, 12);
    synth_put_be32(fl, 0x801);
    synth_put_be32(fl, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        int k = (int)tern_rng_below(&r, 10);
        unsigned char img[144];
        for (int p = 0; p < 144; p++) img[p] = (unsigned char)tern_rng_below(&r, 60);
        for (int x = 2; x < 10; x++) img[(k + 1) * 12 + x] = 255;
        fwrite(img, 1, 144, fi);
        unsigned char lb = (unsigned char)k;
        fwrite(&lb, 1, 1, fl);
    }
    fclose(fi);
    fclose(fl);
}

/* dir/ with the 300-image training and 100-image test split most training
 * tests read (seeds 1 and 2). */
static inline void synth_idx_dataset(const char *dir) {
    mkdir(dir, 0777);
    synth_idx_write(dir, "train", 300, 1);
    synth_idx_write(dir, "t10k", 100, 2);
}

/* A tiny hybrid MLP config on the synthetic data in data_dir: fc1 ternary,
 * batchnorm, the classifier fp32; one epoch of batch 32 (the sweep tests'
 * base config). */
static inline void synth_mlp_yaml(char *text, size_t cap, const char *data_dir) {
    snprintf(text, cap,
             "dataset: {name: mnist, path: %s, normalize: compute}\n"
             "model:\n"
             "  layers:\n"
             "    - {type: flatten}\n"
             "    - {type: linear, name: fc1, out: 16, bias: false}\n"
             "    - {type: batchnorm, name: bn1, act: relu}\n"
             "    - {type: linear, name: fc2, out: 10, ternary: false}\n"
             "optimizer: {name: adam, lr: 0.01}\n"
             "training: {epochs: 1, batch_size: 32, seed: 7, threads: 1}\n",
             data_dir);
}

#endif
