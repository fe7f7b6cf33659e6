/* test_monitor.c — the monitor's counters, energy model, training-checkpoint
 * loading, RAPL reader and the runtime's per-layer timing.
 *
 * What is compared, and against what:
 *   - A hand-built six-layer model (ternary conv with known codes, maxpool,
 *     flatten, ternary linear, relu, fp32 linear): every counter against a
 *     count done by hand in the comments below.
 *   - The energy of that model under tern_energy_45nm, ternary and fp32,
 *     against pJ summed by hand; the memory tiers at their boundaries.
 *   - A training checkpoint of an MNIST-shaped MLP, loaded with no dataset
 *     anywhere: the same deploy codes as tern_deploy_from_model, the latent
 *     and Adam state sizes.
 *   - RAPL on a fake sysfs tree: package domains only, a plain delta, a
 *     wraparound, and unreadable trees giving TERN_ERR_UNSUPPORTED.
 *   - Per-layer timing: a time for every computing layer, none for the
 *     flatten view, and logits bit-identical with timing on and off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tern.h"
#include "tmpdir.h"

static int setup(void **state) {
    (void)state;
    return tmpdir_make("monitor");
}

/* ---- a model built by hand ------------------------------------------------------ */

/* input (1,4,4)
 *   0 conv2d ternary 1->2, k3, int8 acts, relu   -> (2,2,2)  K = 9, P = 4
 *       row 0: + + 0 - 0 0 + - 0  (3 pos, 2 neg, 4 zero), wp 0.5, wn 0.25
 *       row 1: 0 0 0 0 + 0 0 0 0  (1 pos, 8 zero),        wp = wn = 2
 *   1 maxpool k2 s2                              -> (2,1,1)
 *   2 flatten (a view)                           -> (2)
 *   3 linear ternary 2->4, float acts, symmetric -> (4)
 *       rows: (+ -) (0 0) (+ +) (- 0): 3 pos, 2 neg, 3 zero; alpha 1,2,3,4
 *   4 relu                                       -> (4)
 *   5 linear fp32 4->3                           -> (3) */
static const int8_t CONV_W[18] = {1, 1, 0, -1, 0, 0, 1, -1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
static const int8_t FC_W[8] = {1, -1, 0, 0, 1, 1, -1, 0};

static float *floats(int n, float v0, float step) {
    float *v = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) v[i] = v0 + step * (float)i;
    return v;
}

static void set_layer(tern_dlayer *L, tern_dlayer_type t, const char *name, int ndim, int c, int h, int w) {
    L->type = t;
    snprintf(L->name, sizeof L->name, "%s", name);
    L->out_ndim = ndim;
    L->out_shape[0] = c, L->out_shape[1] = h, L->out_shape[2] = w;
}

static void hand_model(tern_deploy *d) {
    tern_deploy_init(d);
    d->n_layers = 6;
    d->layers = calloc(6, sizeof *d->layers);
    d->in_shape[0] = 1, d->in_shape[1] = 4, d->in_shape[2] = 4;
    d->n_classes = 3;
    d->std[0] = 1.0f;
    snprintf(d->dataset, sizeof d->dataset, "synthetic");
    tern_dlayer *L = d->layers;
    set_layer(&L[0], TERN_DLAYER_CONV2D, "c1", 3, 2, 2, 2);
    L[0].kernel = 3, L[0].stride = 1, L[0].in_channels = 1, L[0].in_features = 9;
    L[0].ternary = 1, L[0].act_bits = 8, L[0].act = TERN_ACT_RELU;
    const float wp0[2] = {0.5f, 2.0f}, wn0[2] = {0.25f, 2.0f};
    assert_int_equal(tern_packed_init(&L[0].packed, 2, 9), TERN_OK);
    assert_int_equal(tern_packed_set(&L[0].packed, CONV_W, wp0, wn0), TERN_OK);
    L[0].bias = floats(2, 0.1f, 0.1f);
    set_layer(&L[1], TERN_DLAYER_MAXPOOL, "pool", 3, 2, 1, 1);
    L[1].kernel = 2, L[1].stride = 2;
    set_layer(&L[2], TERN_DLAYER_FLATTEN, "flat", 1, 2, 0, 0);
    set_layer(&L[3], TERN_DLAYER_LINEAR, "fc1", 1, 4, 0, 0);
    L[3].in_features = 2, L[3].ternary = 1;
    const float a3[4] = {1, 2, 3, 4};
    assert_int_equal(tern_packed_init(&L[3].packed, 4, 2), TERN_OK);
    assert_int_equal(tern_packed_set(&L[3].packed, FC_W, a3, NULL), TERN_OK);
    L[3].bias = floats(4, -0.2f, 0.1f);
    set_layer(&L[4], TERN_DLAYER_RELU, "relu", 1, 4, 0, 0);
    set_layer(&L[5], TERN_DLAYER_LINEAR, "fc2", 1, 3, 0, 0);
    L[5].in_features = 4;
    L[5].weight = floats(12, -0.5f, 0.09f);
    L[5].bias = floats(3, 0.0f, 0.05f);
}

/* The median every benchmark quotes, and the clocks moving forward. */
static void test_median_and_clocks(void **state) {
    (void)state;
    double odd[] = {5, 1, 4, 2, 3}, even[] = {10, 40, 20, 30}, one[] = {7};
    assert_true(tern_clock_median(odd, 5) == 3.0);
    assert_true(odd[0] == 1.0 && odd[4] == 5.0); /* sorted in place */
    assert_true(tern_clock_median(even, 4) == 25.0);
    assert_true(tern_clock_median(one, 1) == 7.0);
    assert_true(tern_clock_median(one, 0) == 0.0);
    double w0 = tern_clock_now_s(), c0 = tern_clock_cpu_s();
    volatile double x = 0;
    for (int i = 0; i < 2000000; i++) x += i * 1e-9;
    (void)x;
    assert_true(tern_clock_now_s() > w0 && tern_clock_cpu_s() > c0);
    assert_true(tern_clock_peak_rss_bytes() > 1e6);
}

static void test_counts_by_hand(void **state) {
    (void)state;
    tern_deploy d;
    hand_model(&d);
    tern_layer_count c[6], t;
    assert_int_equal(tern_monitor_count(&d, c, &t), TERN_OK);
    /* conv: M*K*P = 2*9*4 MACs; +1s 4*4, -1s 2*4, zeros 12*4; asymmetric rows
     * (row 0 has wn != wp): 2 scale muls and 2 adds (bias, P - N) per output. */
    assert_true(c[0].ternary && c[0].int8);
    assert_int_equal(c[0].positions, 4);
    assert_int_equal(c[0].macs, 72);
    assert_int_equal(c[0].t_adds, 16);
    assert_int_equal(c[0].t_subs, 8);
    assert_int_equal(c[0].t_skipped, 48);
    assert_int_equal(c[0].scale_muls, 16);
    assert_int_equal(c[0].adds, 16);
    assert_int_equal(c[0].cmps, 8);       /* the fused relu */
    assert_int_equal(c[0].act_quant, 16); /* the (1,4,4) input, once */
    assert_int_equal(c[0].n_pos, 4);
    assert_int_equal(c[0].n_neg, 2);
    assert_int_equal(c[0].n_zero, 12);
    assert_int_equal(c[0].params, 24);         /* 18 codes + wp, wn, bias of 2 rows */
    assert_int_equal(c[0].bytes_deploy, 88);   /* 2 rows x 32 bytes + 6 floats */
    assert_int_equal(c[0].bytes_fp32, 80);     /* (18 + 2) floats */
    assert_float_equal(c[0].bits_per_weight, 8.0 * (64 + 16) / 18.0, 1e-12);
    assert_int_equal(c[0].act_bytes, 4 * (16 + 8));
    assert_float_equal(c[0].wp_mean, 1.25f, 1e-6);
    assert_float_equal(c[0].wp_min, 0.5f, 0);
    assert_float_equal(c[0].wn_max, 2.0f, 0);
    assert_float_equal(c[0].wn_min, 0.25f, 0);
    /* maxpool: 3 compares for each of 2 outputs. */
    assert_int_equal(c[1].cmps, 6);
    assert_int_equal(c[1].macs, 0);
    assert_int_equal(c[1].act_bytes, 40);
    /* flatten: a view, nothing. */
    assert_int_equal(c[2].cmps + c[2].adds + c[2].muls + c[2].act_bytes + c[2].params, 0);
    /* linear ternary symmetric, float activations. */
    assert_true(c[3].ternary && !c[3].int8);
    assert_int_equal(c[3].macs, 8);
    assert_int_equal(c[3].t_adds, 3);
    assert_int_equal(c[3].t_subs, 2);
    assert_int_equal(c[3].t_skipped, 3);
    assert_int_equal(c[3].scale_muls, 4);
    assert_int_equal(c[3].adds, 4);
    assert_int_equal(c[3].act_quant, 0);
    assert_int_equal(c[3].bytes_deploy, 4 * 32 + 12 * 4);
    assert_float_equal(c[3].bits_per_weight, 8.0 * (128 + 32) / 8.0, 1e-12);
    assert_float_equal(c[3].wp_mean, 2.5f, 1e-6);
    assert_float_equal(c[3].wn_max, 4.0f, 0);
    /* relu layer, fp32 linear. */
    assert_int_equal(c[4].cmps, 4);
    assert_false(c[5].ternary);
    assert_int_equal(c[5].macs, 12);
    assert_int_equal(c[5].adds, 3);
    assert_int_equal(c[5].params, 15);
    assert_int_equal(c[5].bytes_deploy, 60);
    assert_float_equal(c[5].bits_per_weight, 32.0, 0);
    /* totals */
    assert_int_equal(t.macs, 92);
    assert_int_equal(t.t_adds + t.t_subs + t.t_skipped, 80);  /* the ternary layers' MACs */
    assert_int_equal(t.cmps, 18);
    assert_int_equal(t.bytes_deploy, 324);
    assert_int_equal(t.bytes_fp32, 188);
    assert_int_equal(t.n_zero, 15);
    assert_float_equal(t.bits_per_weight, 8.0 * (80 + 160) / 26.0, 1e-12);
    /* A damaged code (0b11) is an error naming the layer, not a count. */
    d.layers[3].packed.qs[0] |= 3;
    assert_int_equal(tern_monitor_count(&d, c, &t), TERN_ERR_FORMAT);
    assert_non_null(strstr(tern_errmsg(), "fc1"));
    tern_deploy_free(&d);
}

static void test_energy_by_hand(void **state) {
    (void)state;
    const tern_energy_table *T = &tern_energy_45nm;
    /* Memory tiers: the smallest SRAM holding the bytes, per 64-bit read; DRAM past 1 MB. */
    assert_float_equal(tern_monitor_mem_pj(T, 0), 0.0, 0);
    assert_float_equal(tern_monitor_mem_pj(T, 8192), 1024 * 10.0, 1e-9);
    assert_float_equal(tern_monitor_mem_pj(T, 8193), 1025 * 20.0, 1e-9);
    assert_float_equal(tern_monitor_mem_pj(T, 1 << 20), (1 << 17) * 100.0, 1e-9);
    assert_float_equal(tern_monitor_mem_pj(T, (1 << 20) + 4), ((1 << 18) + 1) * 640.0, 1e-6);
    tern_deploy d;
    hand_model(&d);
    tern_layer_count c[6], t;
    assert_int_equal(tern_monitor_count(&d, c, &t), TERN_OK);
    tern_energy e[6], E, f[6], F;
    assert_int_equal(tern_monitor_energy(c, 6, T, 0, e, &E), TERN_OK);
    /* Ternary compute, pJ:
     *   conv: 16 adds 0.9 + 8 relu cmps 0.9 + 24 int32 adds 0.1 + 16 scale muls 3.7
     *         + 16 quantized inputs (3.7 + 0.9)                  = 156.8
     *   pool 6 cmps 0.9 = 5.4;  fc1: 4 adds 0.9 + 5 fp32 adds 0.9 + 4 muls 3.7 = 22.9
     *   relu 4 x 0.9 = 3.6;     fc2: 3 bias adds 0.9 + 12 MACs (3.7 + 0.9) = 57.9 */
    assert_float_equal(e[0].compute_pj, 156.8, 1e-9);
    assert_float_equal(e[3].compute_pj, 22.9, 1e-9);
    assert_float_equal(E.compute_pj, 156.8 + 5.4 + 22.9 + 3.6 + 57.9, 1e-9);
    /* Weights: 324 bytes fit 8 KB: 41 reads x 10 pJ, shared by bytes. */
    assert_float_equal(E.weight_pj, 410.0, 1e-9);
    assert_float_equal(e[3].weight_pj, 410.0 * 176.0 / 324.0, 1e-9);
    /* Activations: 96, 40, 0, 24, 32, 28 bytes: 12 + 5 + 0 + 3 + 4 + 4 reads x 10 pJ. */
    assert_float_equal(E.act_pj, 280.0, 1e-9);
    assert_float_equal(E.total_pj, 246.6 + 410.0 + 280.0, 1e-9);
    /* fp32 twin: conv 72 MACs x 4.6 + 8 bias adds + 8 cmps = 345.6; fc1 8 x 4.6 + 4 x 0.9 = 40.4;
     * weights 188 bytes: 24 reads x 10 pJ. */
    assert_int_equal(tern_monitor_energy(c, 6, T, 1, f, &F), TERN_OK);
    assert_float_equal(f[0].compute_pj, 345.6, 1e-9);
    assert_float_equal(f[3].compute_pj, 40.4, 1e-9);
    assert_float_equal(F.compute_pj, 345.6 + 5.4 + 40.4 + 3.6 + 57.9, 1e-9);
    assert_float_equal(F.weight_pj, 240.0, 1e-9);
    assert_float_equal(F.total_pj, 452.9 + 240.0 + 280.0, 1e-9);
    assert_int_equal(tern_monitor_energy(c, 0, T, 0, NULL, &E), TERN_ERR_ARG);
    tern_deploy_free(&d);
}

/* ---- per-layer timing --------------------------------------------------------- */

static void test_layer_timing(void **state) {
    (void)state;
    tern_deploy d;
    hand_model(&d);
    enum { N = 8 };
    float x[N * 16];
    tern_rng r;
    tern_rng_seed(&r, 5);
    for (int i = 0; i < N * 16; i++) x[i] = tern_rng_normal(&r);
    int shape[4] = {N, 1, 4, 4};
    tern_tensor xt = tern_tensor_view(x, NULL, 4, shape);
    float out[2][N * 3];
    for (int timed = 0; timed < 2; timed++) {
        tern_runtime rt;
        tern_runtime_opts o = {.max_batch = N, .time_layers = timed};
        assert_int_equal(tern_runtime_init_opts(&rt, &d, &o), TERN_OK);
        assert_true(timed ? rt.layer_ns != NULL : rt.layer_ns == NULL);
        assert_int_equal(rt.fused_into[4], 3);  /* fc1's store applies the relu */
        const float *z;
        for (int k = 0; k < 3; k++) assert_int_equal(tern_runtime_forward(&rt, &xt, &z), TERN_OK);
        memcpy(out[timed], z, sizeof out[timed]);
        for (int i = 0; timed && i < d.n_layers; i++) {
            /* flatten: a view, and the relu the ternary linear fused: never run */
            if (i == 2 || rt.fused_into[i] >= 0) assert_true(rt.layer_ns[i] == 0.0);
            else if (!(rt.layer_ns[i] > 0.0)) fail_msg("layer %d (%s) has no time: %g", i, d.layers[i].name, rt.layer_ns[i]);
        }
        tern_runtime_free(&rt);
    }
    assert_memory_equal(out[0], out[1], sizeof out[0]);
    tern_deploy_free(&d);
}

/* ---- training checkpoints without the dataset --------------------------------- */

static const char *MLP_YAML = "dataset: {name: mnist, path: /nonexistent/tern-monitor-test}\n"
                              "model:\n"
                              "  layers:\n"
                              "    - {type: flatten}\n"
                              "    - {type: linear, name: fc1, out: 8}\n"
                              "    - {type: batchnorm, name: bn1, act: relu}\n"
                              "    - {type: linear, name: fc2, out: 10, ternary: false}\n"
                              "optimizer: {name: adam, lr: 0.01}\n";

static void test_training_checkpoint(void **state) {
    (void)state;
    tern_config cfg;
    assert_int_equal(tern_config_load_text(&cfg, MLP_YAML, strlen(MLP_YAML), "mlp.yaml"), TERN_OK);
    tern_model m;
    int in[3] = {1, 28, 28};
    assert_int_equal(tern_model_init(&m, cfg.model.layers, cfg.model.n_layers, 3, in, cfg.model.init, 3), TERN_OK);
    tern_optim o;
    assert_int_equal(tern_optim_init(&o, &m.params, &cfg.optimizer.cfg), TERN_OK);
    tern_ckpt_state ck;
    tern_ckpt_state_init(&ck, &m.params, &o);
    ck.config_text = MLP_YAML;
    ck.epoch = 2;
    char path[400];
    snprintf(path, sizeof path, "%s/last.h5", tmpdir);
    assert_int_equal(tern_ckpt_save(path, &ck), TERN_OK);
    size_t all = 0, train = 0;
    for (int i = 0; i < m.params.count; i++) {
        all += m.params.items[i].t.n;
        if (m.params.items[i].flags & TERN_PARAM_TRAIN) train += m.params.items[i].t.n;
    }
    /* What export would build from the same model. */
    tern_dataset meta;
    tern_dataset_init(&meta);
    meta.c = 1, meta.h = meta.w = 28, meta.n_classes = 10;
    tern_deploy want, got;
    tern_deploy_init(&want);
    tern_deploy_init(&got);
    assert_int_equal(tern_deploy_from_model(&want, &m, &meta), TERN_OK);
    int is_train = 0;
    tern_monitor_train_info ti;
    if (tern_monitor_load(path, &got, &is_train, &ti)) fail_msg("%s", tern_errmsg());
    assert_int_equal(is_train, 1);
    assert_int_equal(ti.latent_floats, all);
    assert_int_equal(ti.optim_floats, 2 * train);  /* Adam's m and v */
    assert_string_equal(ti.optim, "adam");
    assert_int_equal(ti.epoch, 2);
    assert_int_equal(got.n_layers, want.n_layers);
    assert_string_equal(got.dataset, "mnist");
    for (int i = 0; i < want.n_layers; i++) {
        const tern_dlayer *a = &want.layers[i], *b = &got.layers[i];
        assert_int_equal(a->type, b->type);
        assert_int_equal(a->ternary, b->ternary);
        if (a->ternary) {
            assert_memory_equal(a->packed.qs, b->packed.qs, a->packed.rows * a->packed.row_bytes);
            assert_memory_equal(a->packed.wp, b->packed.wp, sizeof(float) * (size_t)a->packed.rows);
        }
    }
    /* A deploy file goes through tern_deploy_load. */
    snprintf(path, sizeof path, "%s/model.h5", tmpdir);
    assert_int_equal(tern_deploy_save(&want, path, 1, NULL), TERN_OK);
    tern_deploy_free(&got);
    assert_int_equal(tern_monitor_load(path, &got, &is_train, NULL), TERN_OK);
    assert_int_equal(is_train, 0);
    assert_int_equal(got.n_layers, want.n_layers);
    tern_deploy_free(&got);
    /* Not a checkpoint at all. */
    snprintf(path, sizeof path, "%s/junk.h5", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("not hdf5", f);
    fclose(f);
    assert_int_not_equal(tern_monitor_load(path, &got, &is_train, NULL), TERN_OK);
    assert_non_null(strstr(tern_errmsg(), "junk.h5"));
    assert_int_equal(got.n_layers, 0);
    tern_deploy_free(&want);
    tern_optim_free(&o);
    tern_model_free(&m);
    tern_config_free(&cfg);
}

/* ---- RAPL on a fake sysfs tree -------------------------------------------------- */

static void put(const char *dir, const char *file, const char *text) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void domain(const char *root, const char *name, const char *label, const char *uj, const char *range) {
    char d[500];
    snprintf(d, sizeof d, "%s/%s", root, name);
    assert_int_equal(mkdir(d, 0755), 0);
    if (label) put(d, "name", label);
    put(d, "energy_uj", uj);
    put(d, "max_energy_range_uj", range);
}

static void test_rapl_fake_tree(void **state) {
    (void)state;
    char root[400];
    snprintf(root, sizeof root, "%s/powercap", tmpdir);
    assert_int_equal(mkdir(root, 0755), 0);
    domain(root, "intel-rapl:0", "package-0\n", "1000\n", "5000\n");
    domain(root, "intel-rapl:0:0", "core\n", "77\n", "5000\n");     /* a part of package 0: not summed */
    domain(root, "intel-rapl:1", "package-1\n", "300\n", "9000\n");
    domain(root, "intel-rapl:2", "psys\n", "123\n", "9000\n");      /* platform: not a package */
    tern_rapl r;
    assert_int_equal(tern_rapl_open(&r, root), TERN_OK);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.range[0], 5000);
    assert_int_equal(tern_rapl_start(&r), TERN_OK);
    char d0[500], d1[500];
    snprintf(d0, sizeof d0, "%s/intel-rapl:0", root);
    snprintf(d1, sizeof d1, "%s/intel-rapl:1", root);
    put(d0, "energy_uj", "1500\n");
    put(d1, "energy_uj", "350\n");
    double uj = -1;
    assert_int_equal(tern_rapl_stop(&r, &uj), TERN_OK);
    assert_float_equal(uj, 550.0, 0);
    /* Package 0 wraps: 4900 -> 5000 = 0 -> 100 is 200 uJ. */
    put(d0, "energy_uj", "4900\n");
    assert_int_equal(tern_rapl_start(&r), TERN_OK);
    put(d0, "energy_uj", "100\n");
    put(d1, "energy_uj", "360\n");
    assert_int_equal(tern_rapl_stop(&r, &uj), TERN_OK);
    assert_float_equal(uj, 200.0 + 10.0, 0);
    /* Unreadable: a counter that is not a file, a missing tree, no package. */
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "rm '%s/energy_uj' && mkdir '%s/energy_uj'", d1, d1);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(tern_rapl_open(&r, root), TERN_ERR_UNSUPPORTED);
    assert_non_null(strstr(tern_errmsg(), "intel-rapl:1/energy_uj"));
    snprintf(cmd, sizeof cmd, "%s/nowhere", tmpdir);
    assert_int_equal(tern_rapl_open(&r, cmd), TERN_ERR_UNSUPPORTED);
    assert_non_null(strstr(tern_errmsg(), "No such file"));
    assert_int_equal(tern_rapl_open(&r, tmpdir), TERN_ERR_UNSUPPORTED);
    assert_non_null(strstr(tern_errmsg(), "no intel-rapl package domain"));
    if (geteuid() != 0) {  /* root reads mode-000 files, as sysfs lets it */
        snprintf(cmd, sizeof cmd, "rmdir '%s/energy_uj' && echo 1 > '%s/energy_uj' && chmod 000 '%s/energy_uj'", d1,
                 d1, d1);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(tern_rapl_open(&r, root), TERN_ERR_UNSUPPORTED);
        assert_non_null(strstr(tern_errmsg(), "Permission denied"));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_median_and_clocks),
        cmocka_unit_test(test_counts_by_hand),
        cmocka_unit_test(test_energy_by_hand),
        cmocka_unit_test(test_layer_timing),
        cmocka_unit_test(test_training_checkpoint),
        cmocka_unit_test(test_rapl_fake_tree),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
