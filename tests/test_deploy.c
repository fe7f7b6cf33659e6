/* test_deploy.c — deploy checkpoints and the runtime that runs them.
 *
 * What is compared, and against what:
 *   - A small CNN using every layer type (ternary ttq/twn/absmean, per-tensor
 *     and per-channel, fp32 conv and linear, batchnorm folded and unfolded,
 *     max/avg/global pools, residual add, dropout, relu, hardtanh; odd sizes)
 *     is exported in memory and run by the runtime; its logits are compared
 *     with the training graph's eval forward (tern_model_forward), which
 *     shares no code with the runtime but the input data.
 *   - The file: saved and loaded back, the model runs bit for bit the same;
 *     the packed codes read from the file with HDF5 and decoded with the bit
 *     order docs/deploy-format.md states equal the quantizer's codes.
 *   - MNIST (when datasets/data/mnist exists; else skipped): an MLP trained
 *     for 150 steps with 8-bit activations gives, deployed, the same
 *     prediction as training-time evaluation on every test image; trained
 *     without activation quantization, accuracy within 0.1 point. The deploy
 *     file is at most 1/12 of the fp32 file of the same model.
 *   - Bad input: truncated, corrupted, other version, missing dataset,
 *     mismatched shapes, wrong input sizes: each a clear error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "tern.h"
#include "tmpdir.h"
#include "tern/deploy.h"
#include "tern/runtime.h"
#include "tern/train.h"

static int setup(void **state) {
    (void)state;
    return tmpdir_make("deploy");
}

static void expect_error(tern_status got, tern_status want, const char *needle) {
    const char *msg = tern_errmsg();
    if (got != want) fail_msg("status %s, expected %s (%s)", tern_status_name(got), tern_status_name(want), msg);
    if (needle && !strstr(msg, needle)) fail_msg("message '%s' does not mention '%s'", msg, needle);
}

/* ---- a CNN with every layer type ------------------------------------------- */

enum { CNN_C = 3, CNN_H = 9, CNN_W = 9, CNN_CLASSES = 3 };

static int cnn_specs(tern_layer_spec *s, int act_bits) {
    memset(s, 0, sizeof(tern_layer_spec) * 13);
    tern_quant_cfg ttq = tern_quant_cfg_default(TERN_QUANT_TTQ);
    ttq.granularity = TERN_QUANT_PER_CHANNEL;
    tern_quant_cfg twn = tern_quant_cfg_default(TERN_QUANT_TWN);
    tern_quant_cfg absm = tern_quant_cfg_default(TERN_QUANT_ABSMEAN);
    absm.granularity = TERN_QUANT_PER_CHANNEL;
    ttq.act_bits = twn.act_bits = absm.act_bits = act_bits;
    s[0] = (tern_layer_spec){.type = TERN_LAYER_CONV2D, .name = "c1", .out = 5, .kernel = 3, .pad = 1, .no_bias = 1,
                             .ternary = 1, .quant = ttq};
    s[1] = (tern_layer_spec){.type = TERN_LAYER_BATCHNORM, .name = "bn1", .act = TERN_ACT_RELU};
    s[2] = (tern_layer_spec){.type = TERN_LAYER_MAXPOOL, .kernel = 2};                          /* (5,4,4) */
    s[3] = (tern_layer_spec){.type = TERN_LAYER_CONV2D, .name = "c2", .out = 5, .kernel = 3, .pad = 1,
                             .act = TERN_ACT_RELU, .ternary = 1, .quant = twn};
    s[4] = (tern_layer_spec){.type = TERN_LAYER_ADD, .from = 2};
    s[5] = (tern_layer_spec){.type = TERN_LAYER_BATCHNORM, .name = "bn2", .act = TERN_ACT_HARDTANH};  /* affine */
    s[6] = (tern_layer_spec){.type = TERN_LAYER_AVGPOOL, .kernel = 2, .stride = 1};              /* (5,3,3) */
    s[7] = (tern_layer_spec){.type = TERN_LAYER_DROPOUT, .p = 0.2f, .act = TERN_ACT_RELU};
    s[8] = (tern_layer_spec){.type = TERN_LAYER_CONV2D, .name = "c3", .out = 6, .kernel = 1};    /* fp32 */
    s[9] = (tern_layer_spec){.type = TERN_LAYER_BATCHNORM, .name = "bn3"};
    s[10] = (tern_layer_spec){.type = TERN_LAYER_GLOBAL_AVGPOOL};
    s[11] = (tern_layer_spec){.type = TERN_LAYER_LINEAR, .name = "fc1", .out = 7, .act = TERN_ACT_HARDTANH,
                              .ternary = 1, .quant = absm};
    s[12] = (tern_layer_spec){.type = TERN_LAYER_LINEAR, .name = "fc2", .out = CNN_CLASSES};
    return 13;
}

/* Random batchnorm statistics and affine parameters (one negative gamma),
 * and learned scales moved off their initial values. */
static void perturb(tern_model *m, uint64_t seed) {
    tern_rng r;
    tern_rng_seed(&r, seed);
    for (int i = 0; i < m->params.count; i++) {
        tern_param *p = &m->params.items[i];
        const char *dot = strrchr(p->name, '.');
        for (size_t k = 0; k < p->t.n; k++) {
            float u = tern_rng_uniform(&r);
            if (!strncmp(p->name, "bn", 2) && !strcmp(dot, ".weight")) p->t.data[k] = k == 1 ? -0.7f : 0.5f + u;
            else if (!strcmp(dot, ".bias") || !strcmp(dot, ".running_mean")) p->t.data[k] = u - 0.5f;
            else if (!strcmp(dot, ".running_var")) p->t.data[k] = 0.5f + 1.5f * u;
            else if (strstr(dot, "alpha")) p->t.data[k] *= 0.8f + 0.4f * u;
        }
    }
}

static void cnn_meta(tern_dataset *ds) {
    tern_dataset_init(ds);
    snprintf(ds->name, sizeof ds->name, "synthetic");
    ds->c = CNN_C, ds->h = CNN_H, ds->w = CNN_W, ds->n_classes = CNN_CLASSES;
    for (int k = 0; k < CNN_CLASSES; k++) snprintf(ds->class_names[k], sizeof ds->class_names[k], "class-%c", 'a' + k);
    ds->normalized = 1;
    for (int c = 0; c < CNN_C; c++) ds->mean[c] = 0.1f * (float)(c + 1), ds->std[c] = 0.3f + 0.1f * (float)c;
}

static void cnn_build(tern_model *m, int act_bits) {
    tern_layer_spec s[13];
    int n = cnn_specs(s, act_bits), in[3] = {CNN_C, CNN_H, CNN_W};
    assert_int_equal(tern_model_init(m, s, n, 3, in, TERN_INIT_HE, 11), TERN_OK);
    perturb(m, 12);
}

/* *d = the deploy view of m, with the synthetic dataset's metadata. */
static void deploy_of(tern_deploy *d, const tern_model *m) {
    tern_dataset meta;
    cnn_meta(&meta);
    assert_int_equal(tern_deploy_from_model(d, m, &meta), TERN_OK);
}

/* The test CNN (cnn_build) and its deploy view. */
static void cnn_deploy(tern_model *m, tern_deploy *d, int act_bits) {
    cnn_build(m, act_bits);
    deploy_of(d, m);
}

/* Training-graph eval logits (n, K) of x (n, C,H,W), in batches of 64. */
static void model_logits(tern_model *m, const float *x, int n, float *out) {
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    size_t per = tern_shape_numel(m->in_ndim, m->in_shape);
    for (int i = 0; i < n; i += 64) {
        int b = n - i < 64 ? n - i : 64;
        int shape[4] = {b, m->in_shape[0], m->in_shape[1], m->in_shape[2]};
        tern_tensor xt = tern_tensor_view((float *)x + per * (size_t)i, NULL, 4, shape);
        tern_ctx_reset(&c);
        tern_ctx_mode(&c, 0, 0);
        tern_tensor *z = tern_model_forward(m, &c, &xt);
        if (!z) fail_msg("model forward: %s", tern_errmsg());
        memcpy(out + (size_t)i * m->n_classes, z->data, sizeof(float) * z->n);
    }
    tern_ctx_free(&c);
}

/* Runtime logits of x in batches of `batch`. */
static void runtime_logits(const tern_deploy *d, tern_runtime_act act, const float *x, int n, int batch, float *out) {
    tern_runtime rt;
    assert_int_equal(tern_runtime_init(&rt, d, batch, act), TERN_OK);
    size_t per = (size_t)d->in_shape[0] * d->in_shape[1] * d->in_shape[2];
    for (int i = 0; i < n; i += batch) {
        int b = n - i < batch ? n - i : batch;
        int shape[4] = {b, d->in_shape[0], d->in_shape[1], d->in_shape[2]};
        tern_tensor xt = tern_tensor_view((float *)x + per * (size_t)i, NULL, 4, shape);
        const float *z;
        tern_status st = tern_runtime_forward(&rt, &xt, &z);
        if (st) fail_msg("runtime forward: %s", tern_errmsg());
        memcpy(out + (size_t)i * d->n_classes, z, sizeof(float) * (size_t)b * d->n_classes);
    }
    tern_runtime_free(&rt);
}

static float *random_inputs(int n, size_t per, uint64_t seed) {
    float *x = malloc(sizeof(float) * per * (size_t)n);
    tern_rng r;
    tern_rng_seed(&r, seed);
    for (size_t i = 0; i < per * (size_t)n; i++) x[i] = tern_rng_normal(&r);
    return x;
}

/* max |a - b| / (1 + max |a|) */
static double rel_diff(const float *a, const float *b, size_t n) {
    double d = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        m = fmax(m, fabs((double)a[i]));
    }
    return d / (1.0 + m);
}

/* Export keeps the ternary layers packed, folds bn1 into c1 and bn3 into the
 * fp32 c3, keeps bn2 (after an add) as an affine, and turns the dropout with
 * relu into a relu layer; the add's source index follows the removals. */
static void test_cnn_structure(void **state) {
    (void)state;
    tern_model m;
    tern_deploy d;
    cnn_deploy(&m, &d, 0);
    static const tern_dlayer_type want[] = {TERN_DLAYER_CONV2D, TERN_DLAYER_MAXPOOL, TERN_DLAYER_CONV2D,
                                            TERN_DLAYER_ADD,    TERN_DLAYER_AFFINE,  TERN_DLAYER_AVGPOOL,
                                            TERN_DLAYER_RELU,   TERN_DLAYER_CONV2D,  TERN_DLAYER_GLOBAL_AVGPOOL,
                                            TERN_DLAYER_LINEAR, TERN_DLAYER_LINEAR};
    assert_int_equal(d.n_layers, 11);
    for (int i = 0; i < 11; i++) assert_int_equal(d.layers[i].type, want[i]);
    assert_int_equal(d.layers[3].from, 1);            /* the maxpool */
    assert_int_equal(d.layers[0].act, TERN_ACT_RELU);  /* bn1's act moved onto c1 */
    assert_true(d.layers[0].ternary && !d.layers[0].packed.symmetric);  /* ttq: wp != wn */
    assert_true(d.layers[2].ternary && d.layers[2].packed.symmetric);
    assert_false(d.layers[7].ternary);
    assert_non_null(d.layers[7].weight);
    /* c1's row 1 went through gamma = -0.7: its scales turned negative. */
    assert_true(d.layers[0].packed.wp[1] < 0.0f && d.layers[0].packed.wn[1] < 0.0f);
    tern_deploy_free(&d);
    tern_model_free(&m);
}

static void check_cnn(int act_bits, tern_runtime_act act, double tol) {
    tern_model m;
    tern_deploy d;
    cnn_deploy(&m, &d, act_bits);
    enum { N = 7 };
    size_t per = CNN_C * CNN_H * CNN_W;
    float *x = random_inputs(N, per, 5 + (uint64_t)act_bits);
    float want[N * CNN_CLASSES], got[N * CNN_CLASSES], got1[N * CNN_CLASSES];
    model_logits(&m, x, N, want);
    runtime_logits(&d, act, x, N, 4, got);   /* batches of 4 and 3 */
    runtime_logits(&d, act, x, N, 1, got1);  /* batch 1 */
    double e = rel_diff(want, got, N * CNN_CLASSES), e1 = rel_diff(want, got1, N * CNN_CLASSES);
    if (e > tol || e1 > tol) fail_msg("act_bits %d: runtime differs from training eval by %g / %g (> %g)", act_bits, e, e1, tol);
    free(x);
    tern_deploy_free(&d);
    tern_model_free(&m);
}

/* fp32 activations: the kernels add and subtract exactly what sgemm
 * multiplies by alpha T; only the summation order and the BN fold round
 * differently, a few ulps per layer. */
static void test_cnn_f32_matches_training(void **state) {
    (void)state;
    check_cnn(0, TERN_RUNTIME_ACT_AUTO, 1e-4);
}

/* 8-bit activations: the kernels quantize each sample as the fake-quant
 * does and sum exactly in integers; training sums q/127*amax*alpha in float.
 * Rounding can move a later layer's activation across a quantization step
 * (1/127 of its range), hence a looser bound. */
static void test_cnn_i8_matches_training(void **state) {
    (void)state;
    check_cnn(8, TERN_RUNTIME_ACT_AUTO, 5e-3);
}

/* ---- the file ----------------------------------------------------------------- */

static void path_in_tmp(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", tmpdir, name); }

static void save_cnn(const char *path, tern_deploy *d, tern_model *m) {
    cnn_deploy(m, d, 8);
    snprintf(d->source, sizeof d->source, "synthetic.h5");
    assert_int_equal(tern_deploy_save(d, path, TERN_DEPLOY_DEFLATE, NULL), TERN_OK);
}

/* Only the file of save_cnn. */
static void save_cnn_file(const char *path) {
    tern_deploy d;
    tern_model m;
    save_cnn(path, &d, &m);
    tern_deploy_free(&d);
    tern_model_free(&m);
}

/* Codes by the documented formula, from qs re-laid to rows end to end
 * (relay_doc; a layer of one block per row is that already):
 *   c = (qs[r, k//128, k%32] >> (2*((k%128)//32))) & 3,  w = c - 1. */
static void decode_doc(const uint8_t *qs, int M, int K, int8_t *w) {
    int kb = (K + 127) / 128;
    for (int r = 0; r < M; r++)
        for (int k = 0; k < K; k++) {
            int c = (qs[((size_t)r * kb + k / 128) * 32 + k % 32] >> (2 * ((k % 128) / 32))) & 3;
            w[(size_t)r * K + k] = (int8_t)(c - 1);
        }
}

/* docs/deploy-format.md's numpy re-lay, in C: a qs dataset (M*kblocks
 * blocks in tile order) to (M, kblocks, 32), rows end to end. */
static void relay_doc(const uint8_t *qs, int M, int kb, uint8_t *rows) {
    const uint8_t *src = qs;
    for (int g0 = 0; g0 < M; g0 += 8) {
        const int h = M - g0 < 8 ? M - g0 : 8;
        for (int b = 0; b < kb; b++)
            for (int i = 0; i < h; i++, src += 32) memcpy(rows + ((size_t)(g0 + i) * kb + b) * 32, src, 32);
    }
}

/* A layer of 13 rows (a group of 8 and one of 5) by 243 inputs (2 blocks):
 * the file's qs, re-laid and decoded as the format doc says, gives the
 * weights tern_packed_get gives. */
static void test_qs_tile_order_in_file(void **state) {
    (void)state;
    tern_layer_spec s[3];
    memset(s, 0, sizeof s);
    s[0] = (tern_layer_spec){.type = TERN_LAYER_FLATTEN};
    s[1] = (tern_layer_spec){.type = TERN_LAYER_LINEAR, .name = "fc1", .out = 13, .ternary = 1,
                             .quant = tern_quant_cfg_default(TERN_QUANT_TWN)};
    s[2] = (tern_layer_spec){.type = TERN_LAYER_LINEAR, .name = "fc2", .out = 3};
    int in[3] = {CNN_C, CNN_H, CNN_W};
    tern_model m;
    tern_deploy d;
    assert_int_equal(tern_model_init(&m, s, 3, 3, in, TERN_INIT_HE, 7), TERN_OK);
    deploy_of(&d, &m);
    char path[512];
    path_in_tmp(path, sizeof path, "tile.h5");
    assert_int_equal(tern_deploy_save(&d, path, TERN_DEPLOY_DEFLATE, NULL), TERN_OK);
    const tern_packed *p = &d.layers[1].packed;
    const int M = 13, K = CNN_C * CNN_H * CNN_W, kb = 2;
    assert_int_equal(p->rows, M);
    assert_int_equal(p->cols, K);
    uint8_t *qs = malloc((size_t)M * kb * 32), *rows = malloc((size_t)M * kb * 32);
    int8_t *want = malloc((size_t)M * K), *got = malloc((size_t)M * K);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "/layers/001/qs", H5P_DEFAULT);
    assert_true(ds >= 0);
    assert_true(H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, qs) >= 0);
    H5Dclose(ds);
    H5Fclose(f);
    relay_doc(qs, M, kb, rows);
    decode_doc(rows, M, K, got);
    assert_int_equal(tern_packed_get(p, want), TERN_OK);
    assert_memory_equal(got, want, (size_t)M * K);
    assert_true(memcmp(qs, rows, (size_t)M * kb * 32) != 0);  /* the two orders differ here */
    free(qs);
    free(rows);
    free(want);
    free(got);
    tern_deploy_free(&d);
    tern_model_free(&m);
}

static void test_save_load_roundtrip(void **state) {
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "cnn.h5");
    tern_deploy d, e;
    tern_model m;
    save_cnn(path, &d, &m);
    assert_true(tern_deploy_probe(path));
    assert_int_equal(tern_deploy_load(&e, path), TERN_OK);
    assert_int_equal(e.n_layers, d.n_layers);
    assert_int_equal(e.n_classes, CNN_CLASSES);
    assert_string_equal(e.class_names[2], "class-c");
    assert_string_equal(e.dataset, "synthetic");
    assert_string_equal(e.source, "synthetic.h5");
    assert_memory_equal(e.mean, d.mean, sizeof d.mean);
    for (int i = 0; i < d.n_layers; i++) {
        assert_string_equal(e.layers[i].name, d.layers[i].name);
        assert_int_equal(e.layers[i].act_bits, d.layers[i].act_bits);
    }
    size_t per = CNN_C * CNN_H * CNN_W;
    float *x = random_inputs(6, per, 9);
    float a[6 * CNN_CLASSES], b[6 * CNN_CLASSES];
    runtime_logits(&d, TERN_RUNTIME_ACT_AUTO, x, 6, 6, a);
    runtime_logits(&e, TERN_RUNTIME_ACT_AUTO, x, 6, 6, b);
    assert_memory_equal(a, b, sizeof a);  /* the file holds the model exactly */

    /* c2 (layer 2, twn, not folded): the file's qs decoded by the documented
     * bit order equals the quantizer's own codes of the latent weights. */
    tern_param *w = tern_params_find(&m.params, "c2.weight");
    int M = w->t.shape[0], K = (int)(w->t.n / (size_t)M), kb = (K + 127) / 128;
    int8_t *T = malloc(w->t.n), *F = malloc(w->t.n);
    float sp[1], sn[1];
    assert_int_equal(tern_quant_ternary_codes(&w->t, NULL, NULL, &m.layers[3].spec.quant, T, sp, sn), TERN_OK);
    uint8_t *qs = malloc((size_t)M * kb * 32);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "/layers/002/qs", H5P_DEFAULT);
    assert_true(ds >= 0);
    assert_true(H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, qs) >= 0);
    float wp[5];
    hid_t dw = H5Dopen2(f, "/layers/002/wp", H5P_DEFAULT);
    assert_true(H5Dread(dw, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, wp) >= 0);
    H5Dclose(dw);
    H5Dclose(ds);
    H5Fclose(f);
    decode_doc(qs, M, K, F);
    assert_memory_equal(F, T, w->t.n);
    for (int r = 0; r < M; r++) assert_true(wp[r] == sp[0]);  /* twn per tensor: one alpha on every row */
    int zeros = 0;
    for (size_t i = 0; i < w->t.n; i++) zeros += T[i] == 0;
    assert_true(zeros > 0 && zeros < (int)w->t.n);  /* a real ternary pattern */
    free(qs);
    free(T);
    free(F);
    free(x);
    tern_deploy_free(&e);
    tern_deploy_free(&d);
    tern_model_free(&m);
}

/* The fp32 twin (dequantized weights through OpenBLAS) computes the same
 * function as the packed model in fp32 activation mode. */
static void test_fp32_twin(void **state) {
    (void)state;
    tern_model m;
    tern_deploy d, f;
    cnn_deploy(&m, &d, 0);
    assert_int_equal(tern_deploy_to_fp32(&d, &f), TERN_OK);
    for (int i = 0; i < f.n_layers; i++) assert_false(f.layers[i].ternary);
    size_t per = CNN_C * CNN_H * CNN_W;
    float *x = random_inputs(5, per, 21);
    float a[5 * CNN_CLASSES], b[5 * CNN_CLASSES];
    runtime_logits(&d, TERN_RUNTIME_ACT_F32, x, 5, 5, a);
    runtime_logits(&f, TERN_RUNTIME_ACT_AUTO, x, 5, 5, b);
    assert_true(rel_diff(a, b, sizeof a / sizeof *a) < 1e-5);
    free(x);
    tern_deploy_free(&f);
    tern_deploy_free(&d);
    tern_model_free(&m);
}

/* A chain of layers ping-pongs between two slots: the planned activations
 * are at most two of the largest output (plus alignment), not the sum of all. */
static void test_runtime_plan(void **state) {
    (void)state;
    tern_layer_spec s[8];
    memset(s, 0, sizeof s);
    s[0] = (tern_layer_spec){.type = TERN_LAYER_FLATTEN};
    for (int i = 1; i < 7; i++)
        s[i] = (tern_layer_spec){.type = TERN_LAYER_LINEAR, .out = 40 + i, .act = TERN_ACT_RELU, .ternary = 1,
                                 .quant = tern_quant_cfg_default(TERN_QUANT_TWN)};
    s[7] = (tern_layer_spec){.type = TERN_LAYER_LINEAR, .out = 3};
    int in[3] = {CNN_C, CNN_H, CNN_W};
    tern_model m;
    tern_deploy d;
    assert_int_equal(tern_model_init(&m, s, 8, 3, in, TERN_INIT_HE, 3), TERN_OK);
    deploy_of(&d, &m);
    tern_runtime rt;
    const int B = 10;
    assert_int_equal(tern_runtime_init(&rt, &d, B, TERN_RUNTIME_ACT_AUTO), TERN_OK);
    size_t acts = tern_runtime_planned_bytes(&rt) - rt.scratch_bytes;
    size_t sum = 0;
    for (int i = 1; i < 8; i++) sum += sizeof(float) * B * (size_t)d.layers[i].out_shape[0];
    assert_true(acts <= 2 * sizeof(float) * ((size_t)B * 46 + 16));
    assert_true(acts < sum);
    assert_null(rt.slot[0]);  /* flatten reads the caller's input in place */
    /* Every output matches a naive recomputation of the last layer from the
     * previous one's output: the slots never overwrite what is still read. */
    float *x = random_inputs(B, CNN_C * CNN_H * CNN_W, 4);
    float want[B * 3], got[B * 3];
    model_logits(&m, x, B, want);
    runtime_logits(&d, TERN_RUNTIME_ACT_AUTO, x, B, B, got);
    assert_true(rel_diff(want, got, B * 3) < 1e-4);
    free(x);
    tern_runtime_free(&rt);
    tern_deploy_free(&d);
    tern_model_free(&m);
}

/* ---- zero-skipping ---------------------------------------------------------------- */

/* Logits (n, K) of x through a runtime planned with opts o. */
static void runtime_logits_opts(const tern_deploy *d, const tern_runtime_opts *o, const float *x, int n, float *out) {
    tern_runtime rt;
    assert_int_equal(tern_runtime_init_opts(&rt, d, o), TERN_OK);
    int shape[4] = {n, d->in_shape[0], d->in_shape[1], d->in_shape[2]};
    tern_tensor xt = tern_tensor_view((float *)x, NULL, 4, shape);
    const float *z;
    if (tern_runtime_forward(&rt, &xt, &z)) fail_msg("runtime forward: %s", tern_errmsg());
    memcpy(out, z, sizeof(float) * (size_t)n * d->n_classes);
    tern_runtime_free(&rt);
}

/* The CNN (ternary convs and a linear, TTQ, TWN and absmean) with every
 * ternary layer dense (OFF) and zero-skipping (ON): I8 logits bit-identical,
 * F32 within the kernels' bound (summation order only). */
static void test_runtime_zskip_on_off(void **state) {
    (void)state;
    tern_model m;
    tern_deploy d;
    cnn_deploy(&m, &d, 8);
    enum { B = 5 };
    float *x = random_inputs(B, CNN_C * CNN_H * CNN_W, 21);
    const tern_runtime_act acts[3] = {TERN_RUNTIME_ACT_AUTO, TERN_RUNTIME_ACT_I8, TERN_RUNTIME_ACT_F32};
    for (int a = 0; a < 3; a++)
        for (int batch = 1; batch <= B; batch += B - 1) {
            float off[B * CNN_CLASSES], on[B * CNN_CLASSES];
            tern_runtime_opts o = {.max_batch = B, .act = acts[a], .zskip = TERN_RUNTIME_ZSKIP_OFF};
            runtime_logits_opts(&d, &o, x, batch, off);
            o.zskip = TERN_RUNTIME_ZSKIP_ON;
            runtime_logits_opts(&d, &o, x, batch, on);
            if (acts[a] != TERN_RUNTIME_ACT_F32) {
                if (memcmp(off, on, sizeof(float) * batch * CNN_CLASSES))
                    fail_msg("zskip ON and OFF differ in int8 mode (act %d, batch %d)", a, batch);
            } else {
                assert_true(rel_diff(off, on, (size_t)batch * CNN_CLASSES) < 1e-5);
            }
        }
    /* ON planned every ternary layer sparse, and counts their lists. */
    tern_runtime rt;
    tern_runtime_opts o = {.max_batch = B, .act = TERN_RUNTIME_ACT_AUTO, .zskip = TERN_RUNTIME_ZSKIP_ON};
    assert_int_equal(tern_runtime_init_opts(&rt, &d, &o), TERN_OK);
    size_t lists = 0;
    for (int i = 0; i < d.n_layers; i++) {
        const tern_dlayer *L = &d.layers[i];
        int tern_gemm = L->ternary && (L->type == TERN_DLAYER_LINEAR || L->type == TERN_DLAYER_CONV2D);
        assert_int_equal(rt.zskip[i], tern_gemm);
        lists += tern_sparse_bytes(&rt.sparse[i]);
    }
    assert_true(lists > 0);
    /* The forward really reads the lists: emptied, the logits change. */
    int shape[4] = {B, CNN_C, CNN_H, CNN_W};
    tern_tensor xt = tern_tensor_view(x, NULL, 4, shape);
    const float *z;
    float before[B * CNN_CLASSES];
    assert_int_equal(tern_runtime_forward(&rt, &xt, &z), TERN_OK);
    memcpy(before, z, sizeof before);
    for (int i = 0; i < d.n_layers; i++)
        if (rt.zskip[i]) memset(rt.sparse[i].seg, 0, (2 * (size_t)rt.sparse[i].rows + 1) * sizeof(size_t));
    assert_int_equal(tern_runtime_forward(&rt, &xt, &z), TERN_OK);
    assert_true(memcmp(before, z, sizeof before) != 0);
    tern_runtime off;
    o.zskip = TERN_RUNTIME_ZSKIP_OFF;
    assert_int_equal(tern_runtime_init_opts(&off, &d, &o), TERN_OK);
    assert_int_equal(tern_runtime_planned_bytes(&rt) - rt.scratch_bytes - lists,
                     tern_runtime_planned_bytes(&off) - off.scratch_bytes);
    tern_runtime_free(&off);
    tern_runtime_free(&rt);
    o.zskip = (tern_runtime_zskip)9;
    expect_error(tern_runtime_init_opts(&rt, &d, &o), TERN_ERR_ARG, "zero-skipping mode");
    free(x);
    tern_deploy_free(&d);
    tern_model_free(&m);
}

/* Ternary weights of layer L with a fraction `zero` of zeros, exactly. */
static void set_sparsity(tern_dlayer *L, double zero, tern_rng *r) {
    const int M = L->packed.rows, K = L->packed.cols;
    int8_t *w = malloc((size_t)M * K);
    const size_t nz = (size_t)(zero * M * K + 0.5);
    for (size_t i = 0; i < (size_t)M * K; i++) w[i] = i < nz ? 0 : (tern_rng_below(r, 2) ? 1 : -1);
    for (size_t i = (size_t)M * K - 1; i > 0; i--) { /* shuffle */
        size_t j = tern_rng_below(r, (uint32_t)(i + 1));
        int8_t t = w[i];
        w[i] = w[j], w[j] = t;
    }
    assert_int_equal(tern_packed_set(&L->packed, w, L->packed.wp, NULL), TERN_OK);
    free(w);
}

/* AUTO follows the measured rule (tern/runtime.h): at batch 64 a 95%-sparse
 * linear layer runs zero-skipping in both modes and a 30%-sparse one dense
 * in I8 (VNNI wins there) but zero-skipping in F32; at batch 1 I8 runs dense
 * at any sparsity, F32 zero-skips the 95% layer only. */
static void test_runtime_zskip_auto(void **state) {
    (void)state;
    tern_layer_spec s[4];
    memset(s, 0, sizeof s);
    tern_quant_cfg q = tern_quant_cfg_default(TERN_QUANT_TWN);
    q.act_bits = 8;
    s[0] = (tern_layer_spec){.type = TERN_LAYER_FLATTEN};
    s[1] = (tern_layer_spec){.type = TERN_LAYER_LINEAR, .name = "a", .out = 64, .ternary = 1, .quant = q};
    s[2] = (tern_layer_spec){.type = TERN_LAYER_LINEAR, .name = "b", .out = 32, .ternary = 1, .quant = q};
    s[3] = (tern_layer_spec){.type = TERN_LAYER_LINEAR, .out = 3};
    int in[3] = {CNN_C, CNN_H, CNN_W};
    tern_model m;
    tern_deploy d;
    assert_int_equal(tern_model_init(&m, s, 4, 3, in, TERN_INIT_HE, 5), TERN_OK);
    deploy_of(&d, &m);
    tern_rng r;
    tern_rng_seed(&r, 6);
    int ia = -1, ib = -1;
    for (int i = 0; i < d.n_layers; i++) {
        if (d.layers[i].ternary && ia < 0) ia = i;
        else if (d.layers[i].ternary) ib = i;
    }
    assert_true(ia >= 0 && ib > ia);
    set_sparsity(&d.layers[ia], 0.95, &r);
    set_sparsity(&d.layers[ib], 0.30, &r);
    const struct {
        int batch;
        tern_runtime_act act;
        int za, zb; /* the expected choice for the 95% and the 30% layer */
    } cases[] = {{64, TERN_RUNTIME_ACT_I8, 1, 0},
                 {64, TERN_RUNTIME_ACT_F32, 1, 1},
                 {1, TERN_RUNTIME_ACT_I8, 0, 0},
                 {1, TERN_RUNTIME_ACT_F32, 1, 0}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tern_runtime rt;
        assert_int_equal(tern_runtime_init(&rt, &d, cases[c].batch, cases[c].act), TERN_OK);
        if (rt.zskip[ia] != cases[c].za || rt.zskip[ib] != cases[c].zb)
            fail_msg("AUTO at batch %d, act %d chose %d, %d for the 95%% and 30%% layers, want %d, %d", cases[c].batch,
                     (int)cases[c].act, rt.zskip[ia], rt.zskip[ib], cases[c].za, cases[c].zb);
        if (rt.zskip[ia]) assert_true(fabs(tern_sparse_zero_fraction(&rt.sparse[ia]) - 0.95) < 1e-3);
        if (!rt.zskip[ib]) assert_null(rt.sparse[ib].seg); /* a dense layer keeps no lists */
        tern_runtime_free(&rt);
    }
    tern_deploy_free(&d);
    tern_model_free(&m);
}

/* ---- bad input ------------------------------------------------------------------ */

static size_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

static unsigned char *slurp(const char *path, size_t *n) {
    *n = file_size(path);
    unsigned char *b = malloc(*n);
    FILE *f = fopen(path, "rb");
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* After an edit with HDF5 itself, write a header that matches the new bytes,
 * so the load gets past the CRC to the check under test. */
static void reseal(const char *path, int version) {
    size_t n;
    unsigned char *b = slurp(path, &n);
    unsigned long crc = crc32(crc32(0L, Z_NULL, 0), b + 512, (uInt)(n - 512));
    memset(b, 0, 512);
    snprintf((char *)b, 512, "tern-deploy model\nversion %d\nbytes %zu\ncrc32 %08lx\n", version, n, crc);
    spit(path, b, n);
    free(b);
}

static void copy_file(const char *from, const char *to) {
    size_t n;
    unsigned char *b = slurp(from, &n);
    spit(to, b, n);
    free(b);
}

static void expect_load_error(const char *path, const char *needle) {
    tern_deploy e;
    expect_error(tern_deploy_load(&e, path), TERN_ERR_FORMAT, needle);
    assert_int_equal(e.n_layers, 0);
    assert_null(e.layers);
    assert_non_null(strstr(tern_errmsg(), path));  /* names the file */
}

static void test_bad_files(void **state) {
    (void)state;
    char good[512], bad[512];
    path_in_tmp(good, sizeof good, "good.h5");
    path_in_tmp(bad, sizeof bad, "bad.h5");
    save_cnn_file(good);
    size_t n;
    unsigned char *b = slurp(good, &n);

    spit(bad, b, n / 2);
    expect_load_error(bad, "truncated");
    b[n - 100] ^= 0x10;
    spit(bad, b, n);
    expect_load_error(bad, "CRC-32");
    b[n - 100] ^= 0x10;

    /* Another version in the header, then in the attribute. */
    copy_file(good, bad);
    reseal(bad, 3);
    expect_load_error(bad, "version 3, but this tern reads version 2");
    /* A version-1 file (rows end to end) is refused with what to do. */
    copy_file(good, bad);
    reseal(bad, 1);
    expect_load_error(bad, "format version 1, but this tern reads version 2; re-export it from its training checkpoint "
                           "with `tern export`");
    copy_file(good, bad);
    hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    int three = 3;
    hid_t a = H5Aopen(f, "version", H5P_DEFAULT);
    assert_true(H5Awrite(a, H5T_NATIVE_INT, &three) >= 0);
    H5Aclose(a);
    H5Fclose(f);
    reseal(bad, TERN_DEPLOY_VERSION);
    expect_load_error(bad, "version 3");

    /* A missing dataset. */
    copy_file(good, bad);
    f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Ldelete(f, "/layers/002/wp", H5P_DEFAULT) >= 0);
    H5Fclose(f);
    reseal(bad, TERN_DEPLOY_VERSION);
    expect_load_error(bad, "/layers/002/wp is missing");

    /* A packed weight dataset of the wrong size. */
    copy_file(good, bad);
    f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Ldelete(f, "/layers/009/qs", H5P_DEFAULT) >= 0);
    hsize_t dims[3] = {7, 2, 32};
    hid_t sp = H5Screate_simple(3, dims, NULL);
    hid_t ds = H5Dcreate2(f, "/layers/009/qs", H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    uint8_t zeros[7 * 2 * 32];
    memset(zeros, 0x55, sizeof zeros);
    H5Dwrite(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(f);
    reseal(bad, TERN_DEPLOY_VERSION);
    expect_load_error(bad, "/layers/009/qs is (7,2,32) but layer 9 (fc1, 6 -> 7) needs (7,1,32)");

    /* A layer whose recorded output shape is not what its input gives. */
    copy_file(good, bad);
    f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, "/layers/001", H5P_DEFAULT);
    int k3 = 3;
    a = H5Aopen(g, "stride", H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT, &k3);
    H5Aclose(a);
    H5Gclose(g);
    H5Fclose(f);
    reseal(bad, TERN_DEPLOY_VERSION);
    expect_load_error(bad, "says its output is (5,4,4) but its input and parameters give (5,3,3)");

    /* Shape attributes crafted so that int arithmetic would wrap to a
     * plausible size (kernel 65537 with pad 32768): refused, never read. */
    copy_file(good, bad);
    f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    g = H5Gopen2(f, "/layers/000", H5P_DEFAULT);
    int huge_k = 65537, huge_p = 32768;
    a = H5Aopen(g, "kernel", H5P_DEFAULT);
    assert_true(H5Awrite(a, H5T_NATIVE_INT, &huge_k) >= 0);
    H5Aclose(a);
    a = H5Aopen(g, "pad", H5P_DEFAULT);
    assert_true(H5Awrite(a, H5T_NATIVE_INT, &huge_p) >= 0);
    H5Aclose(a);
    H5Gclose(g);
    H5Fclose(f);
    reseal(bad, TERN_DEPLOY_VERSION);
    expect_load_error(bad, "out of range");

    /* A code 0b11 in the packed weights. */
    copy_file(good, bad);
    f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    ds = H5Dopen2(f, "/layers/002/qs", H5P_DEFAULT);
    uint8_t q[5 * 1 * 32];
    H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, q);
    q[3] |= 0x03;
    H5Dwrite(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, q);
    H5Dclose(ds);
    H5Fclose(f);
    reseal(bad, TERN_DEPLOY_VERSION);
    expect_load_error(bad, "/layers/002/qs");

    /* Not a deploy file at all; a missing file. */
    spit(bad, (const unsigned char *)"hello", 5);
    expect_load_error(bad, "not a tern deploy checkpoint");
    assert_false(tern_deploy_probe(bad));
    tern_deploy e;
    path_in_tmp(bad, sizeof bad, "nonexistent.h5");
    expect_error(tern_deploy_load(&e, bad), TERN_ERR_IO, "nonexistent.h5");
    free(b);
}

/* Header lines of our own choosing (a version string, a first line), the
 * size and CRC matching the file's bytes. */
static void reseal_text(const char *path, const char *magic, const char *version) {
    size_t n;
    unsigned char *b = slurp(path, &n);
    unsigned long crc = crc32(crc32(0L, Z_NULL, 0), b + 512, (uInt)(n - 512));
    memset(b, 0, 512);
    snprintf((char *)b, 512, "%sversion %s\nbytes %zu\ncrc32 %08lx\n", magic, version, n, crc);
    spit(path, b, n);
    free(b);
}

/* Replace attribute loc/name (group path g) by one of file type t holding v. */
static void set_attr(const char *file, const char *g, const char *name, hid_t t, const void *v) {
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t o = H5Oopen(f, g, H5P_DEFAULT);
    assert_true(o >= 0);
    if (H5Aexists(o, name) > 0) assert_true(H5Adelete(o, name) >= 0);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(o, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Awrite(a, t, v) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Oclose(o);
    H5Fclose(f);
}

/* A crafted file's attribute, then the load's message. */
static void expect_attr_error(const char *good, const char *bad, const char *g, const char *name, hid_t t,
                              const void *v, const char *needle) {
    copy_file(good, bad);
    set_attr(bad, g, name, t, v);
    reseal(bad, TERN_DEPLOY_VERSION);
    expect_load_error(bad, needle);
}

/* Values tern refuses say what is wrong with them; files h5py would write
 * (variable-length UTF-8 strings) load. */
static void test_attribute_values(void **state) {
    (void)state;
    char good[512], bad[512];
    path_in_tmp(good, sizeof good, "attr_good.h5");
    path_in_tmp(bad, sizeof bad, "attr_bad.h5");
    save_cnn_file(good);

    long long big = 5000000000LL;
    expect_attr_error(good, bad, "/layers/001", "kernel", H5T_NATIVE_LLONG, &big,
                      "/layers/001 attribute 'kernel' is 5000000000, outside -2147483648..2147483647");
    unsigned long long huge = ULLONG_MAX;
    expect_attr_error(good, bad, "/", "version", H5T_NATIVE_ULLONG, &huge,
                      "attribute 'version' is 18446744073709551615, outside 2..2");
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 41);
    expect_attr_error(good, bad, "/layers/000", "type", t, "conv2d_with_a_name_longer_than_the_field",
                      "/layers/000 attribute 'type' is longer than 31 bytes");
    H5Tclose(t);
    /* The header's version line, beyond any integer type. */
    copy_file(good, bad);
    reseal_text(bad, "tern-deploy model\n", "99999999999999999999");
    expect_load_error(bad, "format version 99999999999999999999, but this tern reads version 2");

    /* h5py's default string: variable length, UTF-8; the format attribute
     * and a layer name of 31 bytes (the field's whole room) written so. */
    copy_file(good, bad);
    hid_t vs = H5Tcopy(H5T_C_S1);
    H5Tset_size(vs, H5T_VARIABLE);
    H5Tset_cset(vs, H5T_CSET_UTF8);
    const char *fmt = "tern-deploy", *name = "c1+bn1-\xc3\xa9" "dited-with-h5py-xyzwuv";
    assert_int_equal(strlen(name), 31);
    set_attr(bad, "/", "format", vs, &fmt);
    set_attr(bad, "/layers/000", "name", vs, &name);
    /* ... and the class names as h5py writes a list of str. */
    hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(H5Ldelete(f, "classes", H5P_DEFAULT) >= 0);
    hsize_t nc = CNN_CLASSES;
    hid_t sp = H5Screate_simple(1, &nc, NULL);
    hid_t ds = H5Dcreate2(f, "classes", vs, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    const char *classes[CNN_CLASSES] = {"z\xc3\xa9ro", "one", "a-class-name-of-31-bytes-xxxxxx"};
    assert_true(H5Dwrite(ds, vs, H5S_ALL, H5S_ALL, H5P_DEFAULT, classes) >= 0);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Fclose(f);
    H5Tclose(vs);
    reseal(bad, TERN_DEPLOY_VERSION);
    tern_deploy e;
    assert_int_equal(tern_deploy_load(&e, bad), TERN_OK);
    assert_string_equal(e.layers[0].name, name);
    for (int k = 0; k < CNN_CLASSES; k++) assert_string_equal(e.class_names[k], classes[k]);
    tern_deploy_free(&e);
}

/* The caller's HDF5 error handler: counts what reaches it. */
static int h5_errors_seen;
static herr_t count_h5_errors(hid_t estack, void *data) {
    (void)estack;
    (void)data;
    h5_errors_seen++;
    return 0;
}

/* Crafted shapes and values are refused at load, naming the layer, before
 * any large allocation; a damaged first header line gets the CRC check. */
static void test_crafted_files(void **state) {
    (void)state;
    char good[512], bad[512];
    path_in_tmp(good, sizeof good, "craft_good.h5");
    path_in_tmp(bad, sizeof bad, "craft_bad.h5");
    save_cnn_file(good);

    /* conv pad 3000 on a 9x9 input: (5,6007,6007) per sample, its recorded
     * output shape to match. */
    int pad = 3000, out[3] = {5, 6007, 6007};
    copy_file(good, bad);
    set_attr(bad, "/layers/000", "pad", H5T_NATIVE_INT, &pad);
    hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t g = H5Gopen2(f, "/layers/000", H5P_DEFAULT);
    hid_t a = H5Aopen(g, "out_shape", H5P_DEFAULT);
    assert_true(a >= 0);
    assert_true(H5Awrite(a, H5T_NATIVE_INT, out) >= 0);
    H5Aclose(a);
    H5Gclose(g);
    H5Fclose(f);
    reseal(bad, TERN_DEPLOY_VERSION);
    expect_load_error(bad, "/layers/000 (c1+bn1): its output has 180420245 values per sample, more than tern's bound");
    /* A 1x1 conv's columns padded to 128 inputs: 128 x 1007 x 1007 > 2^26. */
    pad = 499;
    expect_attr_error(good, bad, "/layers/007", "pad", H5T_NATIVE_INT, &pad,
                      "/layers/007 (c3+bn3): its 1001 x 1001 output positions of 5 inputs each need 128256128 values");

    /* NaN in an affine layer's center (layer 4: bn2, not folded). */
    copy_file(good, bad);
    f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "/layers/004/center", H5P_DEFAULT);
    float c[5];
    assert_true(H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, c) >= 0);
    c[2] = NAN;
    assert_true(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, c) >= 0);
    H5Dclose(ds);
    H5Fclose(f);
    reseal(bad, TERN_DEPLOY_VERSION);
    expect_load_error(bad, "/layers/004/center[2] = nan is not finite");

    /* A damaged first line and a damaged body: the CRC speaks, not HDF5;
     * the caller's HDF5 error handler is neither called nor replaced. */
    H5E_auto2_t func0;
    void *data0;
    H5Eget_auto2(H5E_DEFAULT, &func0, &data0);
    H5Eset_auto2(H5E_DEFAULT, count_h5_errors, NULL);
    h5_errors_seen = 0;
    size_t n;
    unsigned char *b = slurp(good, &n);
    b[3] ^= 0x20;
    b[n / 2] ^= 0x01;
    spit(bad, b, n);
    expect_load_error(bad, "CRC-32");
    assert_false(tern_deploy_probe(bad));
    /* ... and with the body intact, the header is what is damaged. */
    b[n / 2] ^= 0x01;
    spit(bad, b, n);
    expect_load_error(bad, "header (the first 512 bytes) is missing or corrupt");
    free(b);
    H5E_auto2_t func;
    void *data;
    H5Eget_auto2(H5E_DEFAULT, &func, &data);
    assert_true(func == count_h5_errors);
    assert_int_equal(h5_errors_seen, 0);
    H5Eset_auto2(H5E_DEFAULT, func0, data0);

    /* The runtime plans in 64 bits: a batch no machine holds is refused
     * before anything is allocated. */
    tern_deploy e;
    assert_int_equal(tern_deploy_load(&e, good), TERN_OK);
    tern_runtime rt;
    expect_error(tern_runtime_init(&rt, &e, 1 << 30, TERN_RUNTIME_ACT_AUTO), TERN_ERR_NOMEM, "runtime's bound");
    tern_deploy_free(&e);
}

/* A model tern could not load back is never written: an existing good file
 * stays as it was. A 31-character layer name and a 255-character source
 * path are not such models: they fit, are written and load. */
static void test_save_validates_first(void **state) {
    (void)state;
    char path[512];
    path_in_tmp(path, sizeof path, "keep.h5");
    tern_deploy d, e;
    tern_model m;
    save_cnn(path, &d, &m);
    size_t n0;
    unsigned char *before = slurp(path, &n0);

    memset(d.layers[0].name, 'n', 31);
    d.layers[0].name[31] = '\0';
    memset(d.source, 's', 255);
    d.source[255] = '\0';
    assert_int_equal(tern_deploy_save(&d, path, TERN_DEPLOY_DEFLATE, NULL), TERN_OK);
    assert_int_equal(tern_deploy_load(&e, path), TERN_OK);
    assert_string_equal(e.layers[0].name, d.layers[0].name);
    assert_string_equal(e.source, d.source);
    tern_deploy_free(&e);
    spit(path, before, n0);

    /* Non-finite values: an affine center, an fp32 weight. */
    const float keep = d.layers[4].center[1];
    assert_int_equal(d.layers[4].type, TERN_DLAYER_AFFINE);
    d.layers[4].center[1] = NAN;
    expect_error(tern_deploy_save(&d, path, TERN_DEPLOY_DEFLATE, NULL), TERN_ERR_NUMERIC, "layer 4 (bn2): center[1]");
    d.layers[4].center[1] = keep;
    assert_int_equal(d.layers[7].ternary, 0);
    d.layers[7].weight[3] = INFINITY;
    expect_error(tern_deploy_save(&d, path, TERN_DEPLOY_DEFLATE, NULL), TERN_ERR_NUMERIC, "weight[3] = inf");
    size_t n1;
    unsigned char *after = slurp(path, &n1);
    assert_int_equal(n1, n0);
    assert_memory_equal(after, before, n0);
    free(after);
    tern_deploy_free(&d);

    /* An infinite latent weight of a ternary layer (c2): the quantizer
     * refuses it when building (or, were it let through, the save would),
     * and nothing is written. */
    tern_param *w2 = tern_params_find(&m.params, "c2.weight");
    const float w2keep = w2->t.data[0];
    w2->t.data[0] = INFINITY;
    tern_dataset meta;
    cnn_meta(&meta);
    tern_status bst = tern_deploy_from_model(&d, &m, &meta);
    assert_non_null(strstr(tern_errmsg(), "c2"));
    if (bst == TERN_OK) {
        assert_int_not_equal(tern_deploy_save(&d, path, TERN_DEPLOY_DEFLATE, NULL), TERN_OK);
        tern_deploy_free(&d);
    }
    after = slurp(path, &n1);
    assert_int_equal(n1, n0);
    assert_memory_equal(after, before, n0);
    free(after);
    w2->t.data[0] = w2keep;

    /* A negative running variance is named where it is, not written as NaN. */
    tern_param *var = tern_params_find(&m.params, "bn2.running_var");
    assert_non_null(var);
    var->t.data[0] = -1.0f;
    expect_error(tern_deploy_from_model(&d, &m, &meta), TERN_ERR_NUMERIC, "bn2: running variance[0] = -1");
    assert_null(d.layers);
    tern_model_free(&m);
    free(before);
}

static void test_bad_runtime_input(void **state) {
    (void)state;
    tern_model m;
    tern_deploy d;
    tern_dataset meta; /* the normalisation the decoded pixels must get, independently of the model */
    cnn_meta(&meta);
    cnn_deploy(&m, &d, 0);
    tern_runtime rt;
    expect_error(tern_runtime_init(&rt, &d, 0, TERN_RUNTIME_ACT_AUTO), TERN_ERR_ARG, "max_batch");
    assert_int_equal(tern_runtime_init(&rt, &d, 2, TERN_RUNTIME_ACT_AUTO), TERN_OK);
    float x[3 * CNN_C * CNN_H * CNN_W] = {0};
    const float *z;
    int s_bad[4] = {1, CNN_C, CNN_H, CNN_W + 1}, s_big[4] = {3, CNN_C, CNN_H, CNN_W};
    tern_tensor xt = tern_tensor_view(x, NULL, 4, s_bad);
    expect_error(tern_runtime_forward(&rt, &xt, &z), TERN_ERR_SHAPE, "input (1,3,9,10) does not match the model's (N,3,9,9)");
    xt = tern_tensor_view(x, NULL, 4, s_big);
    expect_error(tern_runtime_forward(&rt, &xt, &z), TERN_ERR_SHAPE, "batch 3 is outside 1..2");

    /* Inputs from files: a PGM of the wrong size, a raw file of the wrong
     * length, a PPM of the right size (values checked by hand). */
    char path[512];
    path_in_tmp(path, sizeof path, "img.pgm");
    FILE *f = fopen(path, "wb");
    fprintf(f, "P5\n# a comment\n8 9\n255\n");
    for (int i = 0; i < 72; i++) fputc(i, f);
    fclose(f);
    float in[CNN_C * CNN_H * CNN_W];
    expect_error(tern_runtime_read_input(&d, path, in), TERN_ERR_SHAPE, "image is 8x9 with 1 channel(s) but the model takes 9x9 with 3");
    path_in_tmp(path, sizeof path, "img.raw");
    f = fopen(path, "wb");
    for (int i = 0; i < 100; i++) fputc(i, f);
    fclose(f);
    expect_error(tern_runtime_read_input(&d, path, in), TERN_ERR_SHAPE, "must be C*H*W = 3*9*9 = 243 bytes, this one is 100");
    path_in_tmp(path, sizeof path, "img.ppm");
    f = fopen(path, "wb");
    fprintf(f, "P6 9 9 255\n");
    for (int i = 0; i < 243; i++) fputc((i * 7) % 256, f);
    fclose(f);
    assert_int_equal(tern_runtime_read_input(&d, path, in), TERN_OK);
    /* Pixel (y, x) channel c is byte 3*(9y+x)+c of the file. */
    for (int c = 0; c < 3; c++)
        for (int j = 0; j < 81; j++) {
            float p = (float)((3 * j + c) * 7 % 256);
            assert_float_equal(in[c * 81 + j], (p / 255.0f - meta.mean[c]) / meta.std[c], 1e-6);
        }
    expect_error(tern_runtime_read_input(&d, "/nonexistent/x.pgm", in), TERN_ERR_IO, "/nonexistent/x.pgm");
    tern_runtime_free(&rt);
    tern_deploy_free(&d);
    tern_model_free(&m);
}

/* ---- MNIST: equivalence with training-time evaluation, and size --------------------- */

static int mnist_dir(char *dir, size_t n) {
    const char *src = getenv("TERN_SOURCE_DIR");
    snprintf(dir, n, "%s/datasets/data/mnist", src ? src : ".");
    char f[600];
    snprintf(f, sizeof f, "%s/t10k-images-idx3-ubyte", dir);
    if (access(f, R_OK) == 0) return 1;
    snprintf(f, sizeof f, "%s/t10k-images-idx3-ubyte.gz", dir);
    return access(f, R_OK) == 0;
}

/* Train the shipped MLP (784-256-256-10, ternary fc1 fc2 with batchnorm,
 * fp32 fc3) for `steps` steps; returns the checkpoint path in ckpt. */
static void train_mlp(const char *data, int act_bits, const char *run, char *ckpt, size_t n) {
    char text[2048];
    snprintf(text, sizeof text,
             "dataset: {name: mnist, path: %s, normalize: given, mean: [0.1307], std: [0.3081]}\n"
             "model:\n"
             "  layers:\n"
             "    - {type: flatten}\n"
             "    - {type: linear, name: fc1, out: 256, bias: false}\n"
             "    - {type: batchnorm, name: bn1, act: relu}\n"
             "    - {type: linear, name: fc2, out: 256, bias: false}\n"
             "    - {type: batchnorm, name: bn2, act: relu}\n"
             "    - {type: linear, name: fc3, out: 10, ternary: false}\n"
             "quant: {method: twn, act_bits: %d}\n"
             "optimizer: {name: adam, lr: 0.002}\n"
             "training: {epochs: 1, batch_size: 128, seed: 3, threads: 1}\n"
             "output: {dir: %s/%s}\n",
             data, act_bits, tmpdir, run);
    tern_config cfg;
    assert_int_equal(tern_config_load_text(&cfg, text, strlen(text), "mlp.yaml"), TERN_OK);
    tern_train_opts o = {.stop_after_steps = 150};
    tern_train_result res;
    if (tern_train(&cfg, &o, &res)) fail_msg("train: %s", tern_errmsg());
    snprintf(ckpt, n, "%s", res.checkpoint);
    tern_config_free(&cfg);
}

typedef struct mnist_cmp {
    int n, train_correct, deploy_correct, same_pred;
    double max_logit_diff, max_logit;
} mnist_cmp;

/* Training-time evaluation (the tape's eval forward) against the deployed
 * file run by the runtime in mode `act`, image by image. */
static void compare_mnist(const char *ckpt, const char *data, const char *out, tern_runtime_act act, mnist_cmp *c,
                          tern_deploy_sizes *sizes) {
    tern_config cfg;
    tern_model m;
    tern_dataset test;
    assert_int_equal(tern_dataset_load_checkpoint(ckpt, data, &cfg, &m, &test), TERN_OK);
    if (out) assert_int_equal(tern_deploy_export(&m, &test, ckpt, out, sizes), TERN_OK);
    tern_deploy d;
    assert_int_equal(tern_deploy_load(&d, out), TERN_OK);
    int N = test.n, K = 10;
    float *zt = malloc(sizeof(float) * (size_t)N * K), *zd = malloc(sizeof(float) * (size_t)N * K);
    model_logits(&m, test.images, N, zt);
    runtime_logits(&d, act, test.images, N, 256, zd);
    memset(c, 0, sizeof *c);
    c->n = N;
    for (int i = 0; i < N; i++) {
        int bt = 0, bd = 0;
        for (int k = 1; k < K; k++) {
            if (zt[i * K + k] > zt[i * K + bt]) bt = k;
            if (zd[i * K + k] > zd[i * K + bd]) bd = k;
        }
        c->train_correct += bt == test.labels[i];
        c->deploy_correct += bd == test.labels[i];
        c->same_pred += bt == bd;
        for (int k = 0; k < K; k++) {
            c->max_logit_diff = fmax(c->max_logit_diff, fabs((double)zt[i * K + k] - zd[i * K + k]));
            c->max_logit = fmax(c->max_logit, fabs((double)zt[i * K + k]));
        }
    }
    free(zt);
    free(zd);
    tern_deploy_free(&d);
    tern_model_free(&m);
    tern_dataset_free(&test);
    tern_config_free(&cfg);
}

/* Trained with 8-bit activations, deployed on the int8 kernel path: every
 * one of the 10000 predictions (argmax) equals training-time evaluation's.
 * Logits agree to 1e-3 of their range: the two differ only in float
 * rounding (training sums q*amax/127*alpha through sgemm, the kernel sums
 * q*T exactly in int32 then scales once; BN folded into the row scales),
 * which can move an activation of the next layer across one int8 step. */
static void test_mnist_int8_equivalence(void **state) {
    (void)state;
    char data[512], ckpt[600], out[600];
    if (!mnist_dir(data, sizeof data)) skip();
    train_mlp(data, 8, "mlp8", ckpt, sizeof ckpt);
    path_in_tmp(out, sizeof out, "mlp8.h5");
    mnist_cmp c;
    compare_mnist(ckpt, data, out, TERN_RUNTIME_ACT_AUTO, &c, NULL);
    print_message("int8-trained MLP: training eval %d/%d, deployed %d/%d, same prediction %d, max |dlogit| %.3g of %.3g\n",
                  c.train_correct, c.n, c.deploy_correct, c.n, c.same_pred, c.max_logit_diff, c.max_logit);
    assert_int_equal(c.n, 10000);
    assert_true(c.train_correct > 9000);  /* it learned something */
    assert_int_equal(c.same_pred, c.n);
    assert_int_equal(c.deploy_correct, c.train_correct);
    assert_true(c.max_logit_diff <= 1e-3 * c.max_logit);
}

/* Trained on float activations, deployed on the fp32-activation kernel path:
 * accuracy within 0.1 point (10 images) of training-time evaluation. The
 * deploy file is at most 1/12 of the fp32 file of the same model (the same
 * schema with every weight fp32, uncompressed, like tern's checkpoints).
 * The int8 option on this float-trained model is reported, not bounded. */
static void test_mnist_f32_equivalence_and_size(void **state) {
    (void)state;
    char data[512], ckpt[600], out[600], fp32[600];
    if (!mnist_dir(data, sizeof data)) skip();
    train_mlp(data, 0, "mlp0", ckpt, sizeof ckpt);
    path_in_tmp(out, sizeof out, "mlp0.h5");
    mnist_cmp c;
    tern_deploy_sizes z;
    compare_mnist(ckpt, data, out, TERN_RUNTIME_ACT_AUTO, &c, &z);
    print_message("float-trained MLP: training eval %d/%d, deployed (fp32 act) %d/%d, same prediction %d\n",
                  c.train_correct, c.n, c.deploy_correct, c.n, c.same_pred);
    assert_true(c.train_correct > 9000);
    assert_true(abs(c.deploy_correct - c.train_correct) <= 10);
    mnist_cmp c8;
    compare_mnist(ckpt, data, out, TERN_RUNTIME_ACT_I8, &c8, NULL);
    print_message("float-trained MLP with --act int8: deployed %d/%d (%+.2f points)\n", c8.deploy_correct, c8.n,
                  100.0 * (c8.deploy_correct - c8.train_correct) / c8.n);

    /* Sizes: 2 bits per ternary weight in memory (plus padding of 784 to 896), less on disk. */
    tern_deploy d, f;
    assert_int_equal(tern_deploy_load(&d, out), TERN_OK);
    assert_int_equal(z.ternary_weights, 784 * 256 + 256 * 256);
    assert_int_equal(z.packed_bytes, 256 * 7 * 32 + 256 * 2 * 32);
    assert_int_equal(z.file_bytes, file_size(out));
    assert_true(z.packed_disk_bytes > 0 && z.packed_disk_bytes < z.packed_bytes);  /* deflate gains on sparse codes */
    assert_int_equal(tern_deploy_to_fp32(&d, &f), TERN_OK);
    path_in_tmp(fp32, sizeof fp32, "mlp0_fp32.h5");
    tern_deploy_sizes zf;
    assert_int_equal(tern_deploy_save(&f, fp32, 0, &zf), TERN_OK);
    /* The fp32 file holds at least 4 bytes for each of the 784*256 + 256*256 + 256*10 weights. */
    assert_true(file_size(fp32) >= 4 * (784 * 256 + 256 * 256 + 2560));
    print_message("sizes: deploy %zu bytes, fp32 %zu bytes (1/%.1f); ternary weights %.3f bits in memory, %.3f on disk\n",
                  file_size(out), file_size(fp32), (double)file_size(fp32) / file_size(out),
                  8.0 * z.packed_bytes / z.ternary_weights, 8.0 * z.packed_disk_bytes / z.ternary_weights);
    assert_true(12 * file_size(out) <= file_size(fp32));
    tern_deploy_free(&f);
    tern_deploy_free(&d);

    /* A training checkpoint handed to the deploy loader says what to do. */
    tern_deploy e;
    expect_error(tern_deploy_load(&e, ckpt), TERN_ERR_FORMAT, "export it first");
    assert_false(tern_deploy_probe(ckpt));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn_structure),
        cmocka_unit_test(test_cnn_f32_matches_training),
        cmocka_unit_test(test_cnn_i8_matches_training),
        cmocka_unit_test(test_save_load_roundtrip),
        cmocka_unit_test(test_qs_tile_order_in_file),
        cmocka_unit_test(test_fp32_twin),
        cmocka_unit_test(test_runtime_plan),
        cmocka_unit_test(test_runtime_zskip_on_off),
        cmocka_unit_test(test_runtime_zskip_auto),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_bad_runtime_input),
        cmocka_unit_test(test_attribute_values),
        cmocka_unit_test(test_crafted_files),
        cmocka_unit_test(test_save_validates_first),
        cmocka_unit_test(test_mnist_int8_equivalence),
        cmocka_unit_test(test_mnist_f32_equivalence_and_size),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
