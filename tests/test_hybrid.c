/* test_hybrid.c — the precision search (tern/hybrid.h): predicted accuracy
 * and cost, the Pareto front and the budget flags against a hand-worked
 * model, the greedy path above the exhaustive limit, and whole searches on a
 * tiny synthetic dataset: the files, bytes predicted exactly, deltas from the
 * fine-tunes, a rerun that trains nothing, an interrupted search finished by
 * a rerun, and the one-line errors (impossible budget, no quantizable layer,
 * a checkpoint of another architecture). */
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

#include "synth_idx.h"
#include "tern/hybrid.h"
#include "tmpdir.h"

static const char *tpath(const char *name) {
    static char p[2][512];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

/* Three linear layers, fc1 and fc2 ternary, fc3 fp32 (base TTF); a
 * validation split of 60 of the 300 training images. */
static const char *mlp3 =
    "dataset: {name: mnist, path: %s, normalize: compute, validation: 60}\n"
    "model:\n"
    "  layers:\n"
    "    - {type: flatten}\n"
    "    - {type: linear, name: fc1, out: 32, bias: false}\n"
    "    - {type: batchnorm, name: bn1, act: relu}\n"
    "    - {type: linear, name: fc2, out: 16, bias: false}\n"
    "    - {type: batchnorm, name: bn2, act: relu}\n"
    "    - {type: linear, name: fc3, out: 10, ternary: false}\n"
    "optimizer: {name: adam, lr: 0.01}\n"
    "training: {epochs: 1, batch_size: 32, seed: 7, threads: 1}\n";

static int setup(void **state) {
    (void)state;
    if (tmpdir_make("hybrid")) return -1;
    synth_idx_dataset(tpath("data"));
    char text[2048];
    snprintf(text, sizeof text, mlp3, tpath("data"));
    return tmpdir_write_text(tpath("mlp3.yaml"), text);
}

/* ---- the search, by hand ------------------------------------------------------ */

/* fixed 100 bytes; layers (T, F) bytes (10, 50), (20, 200), (5, 45); base
 * all-ternary at 0.80, deltas +0.05, +0.01, +0.03. By hand (bit i = layer i
 * fp32): a=0 0.80 @135, 1 0.85 @175, 4 0.83 @175, 5 0.88 @215, 2 0.81 @315,
 * 3 0.86 @355, 6 0.84 @355, 7 0.89 @395. Front: 0, 1, 5, 7. */
static void hand_model(tern_hybrid_model *m) {
    memset(m, 0, sizeof *m);
    m->n_layers = 3;
    m->fixed[TERN_HYBRID_BYTES] = 100;
    const double t[3] = {10, 20, 5}, f[3] = {50, 200, 45}, d[3] = {0.05, 0.01, 0.03};
    for (int i = 0; i < 3; i++) {
        m->layers[i].cost_t[TERN_HYBRID_BYTES] = t[i];
        m->layers[i].cost_f[TERN_HYBRID_BYTES] = f[i];
        m->layers[i].cost_t[TERN_HYBRID_LATENCY] = 1 + i;
        m->layers[i].cost_f[TERN_HYBRID_LATENCY] = 2 + i;
        m->layers[i].delta = d[i];
    }
    m->base_acc = 0.80;
}

static void test_search_by_hand(void **state) {
    (void)state;
    tern_hybrid_model m;
    hand_model(&m);
    assert_float_equal(tern_hybrid_cost_of(&m, 5, TERN_HYBRID_BYTES), 215, 1e-9);
    assert_float_equal(tern_hybrid_cost_of(&m, 0, TERN_HYBRID_LATENCY), 6, 1e-9);
    assert_float_equal(tern_hybrid_cost_of(&m, 7, TERN_HYBRID_LATENCY), 9, 1e-9);
    assert_float_equal(tern_hybrid_acc_of(&m, 5), 0.88, 1e-12);
    char t[8];
    tern_hybrid_assign_text(5, 3, t);
    assert_string_equal(t, "FTF");

    tern_hybrid_spec s;
    tern_hybrid_spec_init(&s);
    s.max_cost = 300;
    tern_hybrid_cand *c;
    int n;
    assert_int_equal(tern_hybrid_search(&m, &s, &c, &n), TERN_OK);
    assert_int_equal(n, 8);
    const uint32_t order[8] = {0, 1, 4, 5, 2, 3, 6, 7};
    const int front[8] = {1, 1, 0, 1, 0, 0, 0, 1}, within[8] = {1, 1, 1, 1, 0, 0, 0, 0};
    for (int i = 0; i < 8; i++) {
        assert_int_equal(c[i].fp32, order[i]);
        assert_int_equal(c[i].front, front[i]);
        assert_int_equal(c[i].within, within[i]);
    }
    free(c);

    /* A base with fc1 fp32: the deltas are measured from it, so flipping
     * fc1 (to ternary) subtracts its delta. */
    m.base = 1;
    m.base_acc = 0.85;
    m.layers[0].delta = -0.05;
    assert_float_equal(tern_hybrid_acc_of(&m, 0), 0.80, 1e-12);
    assert_float_equal(tern_hybrid_acc_of(&m, 5), 0.88, 1e-12);

    /* min_acc: within only where the predicted accuracy reaches it. */
    s.max_cost = 0;
    s.min_acc = 0.86;
    assert_int_equal(tern_hybrid_search(&m, &s, &c, &n), TERN_OK);
    for (int i = 0; i < n; i++) assert_int_equal(c[i].within, c[i].acc >= 0.86);
    free(c);
}

/* Above TERN_HYBRID_EXHAUSTIVE layers: the greedy path adds the layers with
 * a positive gain in order of gain per byte, then the base and all-fp32. */
static void test_search_greedy(void **state) {
    (void)state;
    tern_hybrid_model m;
    memset(&m, 0, sizeof m);
    m.n_layers = TERN_HYBRID_EXHAUSTIVE + 2;
    m.base_acc = 0.5;
    for (int i = 0; i < m.n_layers; i++) {
        m.layers[i].cost_t[TERN_HYBRID_BYTES] = 10;
        m.layers[i].cost_f[TERN_HYBRID_BYTES] = 10 + 10 * (i + 1);   /* layer i adds 10 (i + 1) bytes */
        m.layers[i].delta = i % 3 == 0 ? -0.01 : 0.001 * (i + 1) * (i % 3); /* gain per byte 1e-4 * (i % 3) */
    }
    m.base = 0;
    tern_hybrid_spec s;
    tern_hybrid_spec_init(&s);
    tern_hybrid_cand *c;
    int n;
    assert_int_equal(tern_hybrid_search(&m, &s, &c, &n), TERN_OK);
    /* positive gains: i % 3 != 0; ratio 2e-4 (i % 3 == 2) before 1e-4 */
    int positive = 0;
    for (int i = 0; i < m.n_layers; i++) positive += i % 3 != 0;
    const uint32_t all = (1u << m.n_layers) - 1;
    assert_int_equal(n, positive + 2); /* all-ternary (= the base) once, the path, all-fp32 */
    uint32_t want = 0;
    assert_int_equal(c[0].fp32, 0);
    for (int r = 2; r >= 1; r--)
        for (int i = 0; i < m.n_layers; i++)
            if (i % 3 == r) {
                want |= 1u << i;
                int seen = 0;
                for (int q = 0; q < n; q++) seen |= c[q].fp32 == want;
                assert_true(seen);
            }
    int has_all = 0;
    for (int q = 0; q < n; q++) has_all |= c[q].fp32 == all;
    assert_true(has_all);
    /* sorted by bytes; the front is every path point (gains positive), not all-fp32 */
    for (int q = 1; q < n; q++) assert_true(c[q].cost[TERN_HYBRID_BYTES] >= c[q - 1].cost[TERN_HYBRID_BYTES]);
    for (int q = 0; q < n; q++) assert_int_equal(c[q].front, c[q].fp32 != all);
    free(c);
}

/* ---- whole searches ------------------------------------------------------------ */

static void spec_for(tern_hybrid_spec *s, const char *out) {
    tern_hybrid_spec_init(s);
    snprintf(s->config, sizeof s->config, "%s", tpath("mlp3.yaml"));
    snprintf(s->out, sizeof s->out, "%s", tpath(out));
    s->n_seeds = 3;
    s->seeds[0] = 1, s->seeds[1] = 2, s->seeds[2] = 3;
    s->confirm = 1;
    s->lat_repeats = 3;
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    for (int ch; (ch = fgetc(f)) != EOF;) n += ch == '\n';
    fclose(f);
    return n;
}

static void test_run_whole(void **state) {
    (void)state;
    tern_hybrid_spec s;
    spec_for(&s, "whole");
    tern_hybrid_opts o = {0};
    tern_hybrid_result r;
    assert_int_equal(tern_hybrid_run(&s, &o, &r), TERN_OK);
    const tern_hybrid_model *m = &r.model;
    assert_int_equal(m->n_layers, 3);
    assert_int_equal(m->base, 4); /* TTF */
    assert_string_equal(m->layers[1].name, "fc2");
    assert_int_equal(m->layers[1].index, 3);
    assert_false(r.stopped);
    /* references TTT, FFF, FTF x 3 seeds, the base TTF, 4 fine-tunes, one candidate x 3 at most */
    assert_true(r.trained >= 9 + 1 + 4 && r.trained <= 9 + 1 + 4 + 3);
    assert_int_equal(r.skipped, 0);
    for (int i = 0; i < 3; i++) assert_false(isnan(m->layers[i].delta));
    /* fp32 weights take more bytes than ternary ones */
    for (int i = 0; i < 3; i++)
        assert_true(m->layers[i].cost_f[TERN_HYBRID_BYTES] > m->layers[i].cost_t[TERN_HYBRID_BYTES]);
    assert_int_equal(count_lines(tpath("whole/layers.csv")), 1 + 3 + 1);
    assert_int_equal(count_lines(tpath("whole/search.csv")), 1 + 8);
    assert_int_equal(count_lines(tpath("whole/runs.csv")), 1 + r.trained);
    assert_true(count_lines(tpath("whole/summary.csv")) >= 1 + 3);
    /* the chosen config trains what was chosen */
    tern_config cfg;
    assert_int_equal(tern_config_load(&cfg, r.config_out), TERN_OK);
    const int idx[3] = {1, 3, 5};
    for (int i = 0; i < 3; i++) assert_int_equal(!cfg.model.layers[idx[i]].ternary, (int)(r.chosen >> i) & 1);
    tern_config_free(&cfg);

    /* Rerun: nothing trains again, the same choice. */
    tern_hybrid_result r2;
    assert_int_equal(tern_hybrid_run(&s, &o, &r2), TERN_OK);
    assert_int_equal(r2.trained, 0);
    assert_int_equal(r2.skipped, r.trained);
    assert_int_equal(r2.chosen, r.chosen);
    for (int i = 0; i < 3; i++) assert_true(r2.model.layers[i].delta == m->layers[i].delta);

    /* A tighter budget on the same directory: the costs and runs are reused,
     * and the summary still has every assignment trained before. */
    const int summary_lines = count_lines(tpath("whole/summary.csv"));
    s.max_cost = tern_hybrid_cost_of(m, 0, TERN_HYBRID_BYTES) + 1;
    assert_int_equal(tern_hybrid_run(&s, &o, &r2), TERN_OK);
    assert_int_equal(r2.trained, 0);
    assert_int_equal(r2.chosen, 0); /* only all-ternary fits */
    assert_true(r2.met);
    assert_int_equal(count_lines(tpath("whole/summary.csv")), summary_lines);
    assert_int_equal(count_lines(tpath("whole/runs.csv")), 1 + r.trained);

    /* Below the smallest: refused with the smallest, before any training. */
    s.max_cost = tern_hybrid_cost_of(m, 0, TERN_HYBRID_BYTES) - 1;
    assert_int_equal(tern_hybrid_run(&s, &o, &r2), TERN_ERR_ARG);
    char want[128];
    snprintf(want, sizeof want, "the smallest this model can be: %.6g bytes (TTT, every layer ternary)",
             tern_hybrid_cost_of(m, 0, TERN_HYBRID_BYTES));
    assert_non_null(strstr(tern_errmsg(), want));
}

/* Every trained run's deploy bytes are the predicted bytes of its
 * assignment, exactly: bytes add up per layer. */
static void test_bytes_exact(void **state) {
    (void)state;
    tern_hybrid_spec s;
    spec_for(&s, "whole");
    tern_hybrid_opts o = {0};
    tern_hybrid_result r;
    assert_int_equal(tern_hybrid_run(&s, &o, &r), TERN_OK);
    FILE *f = fopen(tpath("whole/runs.csv"), "r");
    assert_non_null(f);
    char line[512];
    assert_non_null(fgets(line, sizeof line, f));
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        char name[64], role[16], a[8];
        unsigned long long seed;
        double val, test, bytes;
        assert_int_equal(sscanf(line, "%63[^,],%15[^,],%7[^,],%llu,%lf,%lf,%lf", name, role, a, &seed, &val, &test,
                                &bytes), 7);
        uint32_t mask = 0;
        for (int i = 0; i < 3; i++) mask |= (uint32_t)(a[i] == 'F') << i;
        assert_float_equal(bytes, tern_hybrid_cost_of(&r.model, mask, TERN_HYBRID_BYTES), 0.5);
        rows++;
    }
    fclose(f);
    assert_true(rows >= 14);
}

/* An interrupted search (each training stopped after 2 steps) finishes on
 * reruns without retraining what was finished. */
static void test_interrupted(void **state) {
    (void)state;
    tern_hybrid_spec s;
    spec_for(&s, "stopped");
    s.n_seeds = 1;
    tern_hybrid_opts o = {.stop_after_steps = 2};
    tern_hybrid_result r;
    assert_int_equal(tern_hybrid_run(&s, &o, &r), TERN_OK);
    assert_true(r.stopped);
    assert_int_equal(r.trained, 0);
    /* One rerun finishes it all, resuming the stopped run from its checkpoint. */
    o.stop_after_steps = 0;
    assert_int_equal(tern_hybrid_run(&s, &o, &r), TERN_OK);
    assert_false(r.stopped);
    assert_int_equal(r.skipped, 0);
    assert_int_equal(count_lines(tpath("stopped/runs.csv")), 1 + r.trained);
    /* ...bit for bit the run it would have been: the same accuracies as the
     * uninterrupted TTT_s1 of test_run_whole. */
    char a[256], b[256];
    FILE *fa = fopen(tpath("stopped/runs/TTT_s1/result.csv"), "r"), *fb = fopen(tpath("whole/runs/TTT_s1/result.csv"), "r");
    assert_non_null(fa);
    assert_non_null(fb);
    for (int k = 0; k < 2; k++) {
        assert_non_null(fgets(a, sizeof a, fa));
        assert_non_null(fgets(b, sizeof b, fb));
    }
    fclose(fa);
    fclose(fb);
    char *va = strchr(strchr(strchr(strchr(a, ',') + 1, ',') + 1, ',') + 1, ',') + 1;
    char *vb = strchr(strchr(strchr(strchr(b, ',') + 1, ',') + 1, ',') + 1, ',') + 1;
    *strchr(strchr(va, ',') + 1, ',') = '\0'; /* val_acc,test_acc */
    *strchr(strchr(vb, ',') + 1, ',') = '\0';
    assert_string_equal(va, vb);
}

static void test_errors(void **state) {
    (void)state;
    char text[2048];
    snprintf(text, sizeof text,
             "dataset: {name: mnist, path: %s, normalize: compute, validation: 60}\n"
             "model:\n  layers:\n    - {type: flatten}\n    - {type: relu}\n"
             "optimizer: {name: adam, lr: 0.01}\ntraining: {epochs: 1, batch_size: 32}\n",
             tpath("data"));
    assert_int_equal(tmpdir_write_text(tpath("nolin.yaml"), text), 0);
    tern_hybrid_spec s;
    spec_for(&s, "err");
    snprintf(s.config, sizeof s.config, "%s", tpath("nolin.yaml"));
    tern_hybrid_opts o = {0};
    tern_hybrid_result r;
    tern_status st = tern_hybrid_run(&s, &o, &r);
    assert_int_not_equal(st, TERN_OK);
    assert_non_null(strstr(tern_errmsg(), "no linear or conv2d layer"));
    assert_null(strchr(tern_errmsg(), '\n'));

    /* A checkpoint of another architecture (fc1 of 32 against 16). */
    spec_for(&s, "err");
    snprintf(s.from, sizeof s.from, "%s", tpath("whole/runs/TTT_s1/last.h5"));
    snprintf(text, sizeof text, mlp3, tpath("data"));
    char *p = strstr(text, "out: 32");
    memcpy(p, "out: 16", 7);
    assert_int_equal(tmpdir_write_text(tpath("narrow.yaml"), text), 0);
    snprintf(s.config, sizeof s.config, "%s", tpath("narrow.yaml"));
    st = tern_hybrid_run(&s, &o, &r);
    assert_int_equal(st, TERN_ERR_FORMAT);
    assert_non_null(strstr(tern_errmsg(), "TTT_s1/last.h5"));
    assert_non_null(strstr(tern_errmsg(), "fc1.weight"));

    /* No validation split. */
    snprintf(text, sizeof text, mlp3, tpath("data"));
    p = strstr(text, ", validation: 60");
    memmove(p, p + 16, strlen(p + 16) + 1);
    assert_int_equal(tmpdir_write_text(tpath("noval.yaml"), text), 0);
    spec_for(&s, "err2");
    snprintf(s.config, sizeof s.config, "%s", tpath("noval.yaml"));
    s.n_seeds = 0;
    assert_int_equal(tern_hybrid_run(&s, &o, &r), TERN_ERR_CONFIG);
    assert_non_null(strstr(tern_errmsg(), "dataset.validation"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_search_by_hand), cmocka_unit_test(test_search_greedy),
        cmocka_unit_test(test_run_whole),      cmocka_unit_test(test_bytes_exact),
        cmocka_unit_test(test_interrupted),    cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
