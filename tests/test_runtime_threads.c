/* test_runtime_threads.c — the runtime on a worker pool gives the same
 * logits, bit for bit, with no pool and with pools of 1, 2 and 3 threads, at
 * batches 1 (ternary linear rows split across threads), 2, 5 (parts of
 * parts of unequal size) and 64, in
 * int8 and fp32 activation modes, dense and zero-skipping. The model has a
 * layer on every runtime path a split touches: an fp32 first conv on 3
 * channels (the direct conv), a pool, ternary convs, a residual add, an
 * affine, an fp32 1x1 conv on 8 channels (im2col + GEMM), a ternary linear
 * large enough to have its rows split, an fp32 linear on the GEMM and one
 * small enough for dot products. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "tern.h"

enum { C = 3, H = 14, W = 14, CLASSES = 10, MAXB = 64 };

static void build(tern_model *m, tern_deploy *d) {
    tern_quant_cfg twn = tern_quant_cfg_default(TERN_QUANT_TWN);
    twn.act_bits = 8;
    tern_layer_spec s[10];
    memset(s, 0, sizeof s);
    s[0] = (tern_layer_spec){.type = TERN_LAYER_CONV2D, .name = "c1", .out = 8, .kernel = 5, .pad = 2,
                             .act = TERN_ACT_RELU};                                     /* fp32, (8,14,14) */
    s[1] = (tern_layer_spec){.type = TERN_LAYER_MAXPOOL, .kernel = 2};                  /* (8,7,7) */
    s[2] = (tern_layer_spec){.type = TERN_LAYER_CONV2D, .name = "c2", .out = 8, .kernel = 3, .pad = 1,
                             .act = TERN_ACT_RELU, .ternary = 1, .quant = twn};
    s[3] = (tern_layer_spec){.type = TERN_LAYER_ADD, .from = 1};
    s[4] = (tern_layer_spec){.type = TERN_LAYER_BATCHNORM, .name = "bn", .act = TERN_ACT_HARDTANH};
    s[5] = (tern_layer_spec){.type = TERN_LAYER_CONV2D, .name = "c3", .out = 16, .kernel = 1};  /* fp32, (16,7,7) */
    s[6] = (tern_layer_spec){.type = TERN_LAYER_FLATTEN};                                       /* (784) */
    s[7] = (tern_layer_spec){.type = TERN_LAYER_LINEAR, .name = "fc1", .out = 1340, .act = TERN_ACT_RELU,
                             .ternary = 1, .quant = twn};  /* 1340 x 784 >= 2^20 weights: rows split at batch 1 */
    s[8] = (tern_layer_spec){.type = TERN_LAYER_LINEAR, .name = "fc2", .out = 64};  /* fp32 GEMM: 64 x 1340 */
    s[9] = (tern_layer_spec){.type = TERN_LAYER_LINEAR, .name = "fc3", .out = CLASSES};  /* fp32 dot products */
    int in[3] = {C, H, W};
    assert_int_equal(tern_model_init(m, s, 10, 3, in, TERN_INIT_HE, 5), TERN_OK);
    /* batchnorm statistics away from the identity, so the affine does something */
    for (int i = 0; i < m->params.count; i++) {
        tern_param *p = &m->params.items[i];
        if (strstr(p->name, "running_var"))
            for (size_t k = 0; k < p->t.n; k++) p->t.data[k] = 0.5f + 0.01f * (float)k;
        if (strstr(p->name, "running_mean"))
            for (size_t k = 0; k < p->t.n; k++) p->t.data[k] = 0.1f * (float)k - 0.3f;
    }
    tern_dataset meta;
    tern_dataset_init(&meta);
    meta.c = C, meta.h = H, meta.w = W, meta.n_classes = CLASSES, meta.normalized = 1;
    for (int c = 0; c < C; c++) meta.mean[c] = 0.0f, meta.std[c] = 1.0f;
    assert_int_equal(tern_deploy_from_model(d, m, &meta), TERN_OK);
}

/* logits (n, CLASSES) of x through a runtime on `pool`, in passes of
 * `chunk` samples (0: the runtime's own choice). */
static void logits_of(const tern_deploy *d, tern_pool *pool, tern_runtime_act act, tern_runtime_zskip zs,
                      const float *x, int n, float *out, int chunk) {
    tern_runtime rt;
    const tern_runtime_opts o = {.max_batch = MAXB, .act = act, .zskip = zs, .pool = pool};
    assert_int_equal(tern_runtime_init_opts(&rt, d, &o), TERN_OK);
    if (chunk) rt.chunk = chunk;
    int shape[4] = {n, C, H, W};
    tern_tensor xt = tern_tensor_view((float *)x, NULL, 4, shape);
    const float *z;
    /* twice: a second forward on the same buffers gives the same bits */
    for (int rep = 0; rep < 2; rep++) {
        if (tern_runtime_forward(&rt, &xt, &z)) fail_msg("forward: %s", tern_errmsg());
        if (rep && memcmp(out, z, sizeof(float) * (size_t)n * CLASSES))
            fail_msg("batch %d, %d threads: a second forward differs", n, tern_pool_threads(pool));
        memcpy(out, z, sizeof(float) * (size_t)n * CLASSES);
    }
    tern_runtime_free(&rt);
}

static void test_same_bits_any_threads(void **state) {
    (void)state;
    tern_model m;
    tern_deploy d;
    build(&m, &d);
    tern_pool *pools[4] = {NULL, NULL, NULL, NULL};
    for (int t = 1; t <= 3; t++) assert_int_equal(tern_pool_init(&pools[t], t), TERN_OK);
    float *x = malloc(sizeof(float) * MAXB * C * H * W), *ref = malloc(sizeof(float) * MAXB * CLASSES),
          *got = malloc(sizeof(float) * MAXB * CLASSES);
    tern_rng r;
    tern_rng_seed(&r, 3);
    for (int i = 0; i < MAXB * C * H * W; i++) x[i] = tern_rng_normal(&r);
    const int batches[] = {1, 2, 5, 64};
    const tern_runtime_act acts[] = {TERN_RUNTIME_ACT_AUTO, TERN_RUNTIME_ACT_F32};
    const tern_runtime_zskip zss[] = {TERN_RUNTIME_ZSKIP_OFF, TERN_RUNTIME_ZSKIP_ON};
    for (int a = 0; a < 2; a++)
        for (int zi = 0; zi < 2; zi++)
            for (int b = 0; b < 4; b++) {
                const int n = batches[b];
                logits_of(&d, NULL, acts[a], zss[zi], x, n, ref, 0);
                int nonzero = 0;
                for (int k = 0; k < n * CLASSES; k++) nonzero += ref[k] != 0.0f;
                assert_true(nonzero > n * CLASSES / 2);  /* the model computes something */
                for (int t = 1; t <= 3; t++) {
                    memset(got, 0xff, sizeof(float) * MAXB * CLASSES);
                    logits_of(&d, pools[t], acts[a], zss[zi], x, n, got, 0);
                    if (memcmp(ref, got, sizeof(float) * (size_t)n * CLASSES))
                        fail_msg("act %d zskip %d batch %d: %d threads give other logits than no pool", a, zi, n, t);
                }
                /* passes of 1, 3 and 7 samples, alone and on 2 threads; and
                 * each sample alone: the same bits */
                for (int c = 0; c < 3; c++)
                    for (int t = 0; t <= 2; t += 2) {
                        memset(got, 0xff, sizeof(float) * MAXB * CLASSES);
                        logits_of(&d, pools[t], acts[a], zss[zi], x, n, got, (const int[]){1, 3, 7}[c]);
                        if (memcmp(ref, got, sizeof(float) * (size_t)n * CLASSES))
                            fail_msg("act %d zskip %d batch %d: passes of %d samples on %d threads differ", a, zi,
                                     n, (const int[]){1, 3, 7}[c], t);
                    }
                for (int i = 0; i < n; i += 13) {
                    logits_of(&d, NULL, acts[a], zss[zi], x + (size_t)i * C * H * W, 1, got, 0);
                    if (memcmp(ref + (size_t)i * CLASSES, got, sizeof(float) * CLASSES))
                        fail_msg("act %d zskip %d: sample %d alone differs from batch %d", a, zi, i, n);
                }
            }
    free(x), free(ref), free(got);
    for (int t = 1; t <= 3; t++) tern_pool_free(pools[t]);
    tern_deploy_free(&d);
    tern_model_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_bits_any_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
