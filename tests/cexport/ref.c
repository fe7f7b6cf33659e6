/* ref.c — cexport_ref, the library's side of tests/cexport/host.sh.
 *   cexport_ref gen N SIZE SEED > PIXELS   N images of SIZE pixel bytes: even ones
 *                                          uniform noise, odd ones mostly zero
 *                                          (as MNIST digits)
 *   cexport_ref run MODEL.h5 PIXELS KERNEL  logits of tern's runtime, one line
 *                                          per image "i pred h0 h1 ..." (hj the
 *                                          bits of logit j in hex), on path KERNEL
 *                                          ("auto", "scalar", ...) without
 *                                          zero-skipping, batches of 64. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern.h"

static int gen(long n, long size, unsigned long seed) {
    unsigned long s = seed * 2654435761ul + 1;
    for (long i = 0; i < n; i++)
        for (long j = 0; j < size; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            const unsigned v = (unsigned)(s >> 56);
            putchar(i % 2 == 0 ? (int)v : (v & 3) == 0 ? (int)(255 - (v >> 2)) : 0);
        }
    return 0;
}

static int run(const char *model, const char *pixels, const char *kernel) {
    tern_deploy d;
    tern_runtime rt;
    tern_kernel k;
    FILE *f = fopen(pixels, "rb");
    if (!f || tern_kernel_parse(kernel, &k) || tern_deploy_load(&d, model)) {
        fprintf(stderr, "cexport_ref: %s\n", f ? tern_errmsg() : "cannot open the pixels");
        return 1;
    }
    const tern_runtime_opts o = {.max_batch = 64, .zskip = TERN_RUNTIME_ZSKIP_OFF, .kernel = k};
    if (tern_runtime_init_opts(&rt, &d, &o)) {
        fprintf(stderr, "cexport_ref: %s\n", tern_errmsg());
        return 1;
    }
    const int C = d.in_shape[0], H = d.in_shape[1], W = d.in_shape[2], K = d.n_classes;
    const size_t per = (size_t)C * H * W;
    unsigned char *px = malloc(per * 64);
    float *x = malloc(sizeof(float) * per * 64);
    long i = 0;
    size_t got;
    while ((got = fread(px, per, 64, f)) > 0) {
        for (size_t b = 0; b < got; b++) tern_runtime_normalize(&d, px + b * per, x + b * per);
        const int shape[4] = {(int)got, C, H, W};
        tern_tensor t = tern_tensor_view(x, NULL, 4, shape);
        const float *z;
        if (tern_runtime_forward(&rt, &t, &z)) {
            fprintf(stderr, "cexport_ref: %s\n", tern_errmsg());
            return 1;
        }
        for (size_t b = 0; b < got; b++, i++) {
            const float *zb = z + b * (size_t)K;
            int best = 0;
            for (int c = 1; c < K; c++)
                if (zb[c] > zb[best]) best = c;
            printf("%ld %d", i, best);
            for (int c = 0; c < K; c++) {
                uint32_t u;
                memcpy(&u, &zb[c], sizeof u);
                printf(" %08lx", (unsigned long)u);
            }
            printf("\n");
        }
    }
    free(px);
    free(x);
    fclose(f);
    tern_runtime_free(&rt);
    tern_deploy_free(&d);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "gen")) return gen(atol(argv[2]), atol(argv[3]), strtoul(argv[4], NULL, 10));
    if (argc == 5 && !strcmp(argv[1], "run")) return run(argv[2], argv[3], argv[4]);
    fprintf(stderr, "usage: cexport_ref gen N SIZE SEED | run MODEL.h5 PIXELS KERNEL\n");
    return 2;
}
