/* test_sweep.c — sweep specs (good ones and one-line positioned errors),
 * results.csv round trips, the summary's mean and std against hand-computed
 * values, and resuming: a sweep stopped after two points and again in the
 * middle of a point's training, then rerun, retrains nothing it finished,
 * resumes the interrupted point from its checkpoint, and ends with the same
 * rows as an uninterrupted sweep. Trains on a tiny synthetic dataset. */
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
#include "tern/sweep.h"
#include "tmpdir.h"

static const char *tpath(const char *name) {
    static char p[2][512];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

static void write_file(const char *path, const char *text) { assert_int_equal(tmpdir_write_text(path, text), 0); }

static int setup(void **state) {
    (void)state;
    if (tmpdir_make("sweep")) return -1;
    mkdir(tpath("data"), 0777);
    synth_idx_write(tpath("data"), "train", 300, 1);
    synth_idx_write(tpath("data"), "t10k", 100, 2);
    char text[1024];
    synth_mlp_yaml(text, sizeof text, tpath("data"));
    write_file(tpath("base.yaml"), text);
    return 0;
}

/* A spec in the temp dir; its base and out are relative to it. */
static const char *spec_file(const char *name, const char *text) {
    const char *p = tpath(name);
    write_file(p, text);
    return p;
}

static void test_spec_good(void **state) {
    (void)state;
    const char *p = spec_file("good.yaml",
                              "# a comment\n"
                              "base: base.yaml\n"
                              "set: [training.epochs=2]\n"
                              "methods:\n"
                              "  - {quantizer: twn, t: [0, 0.7, 1.5]}\n"
                              "  - {quantizer: ttq, t: [0.05]}\n"
                              "seeds: [1, 2, 3]\n"
                              "baseline: true\n"
                              "out: res\n"
                              "latency: {batch: 4}\n");
    tern_sweep_spec s;
    assert_int_equal(tern_sweep_spec_load(&s, p), TERN_OK);
    assert_string_equal(s.base, tpath("base.yaml"));
    assert_string_equal(s.out, tpath("res"));
    assert_int_equal(s.n_sets, 1);
    assert_string_equal(s.sets[0], "training.epochs=2");
    assert_int_equal(s.n_methods, 2);
    assert_string_equal(s.methods[1].name, "ttq");
    assert_int_equal(s.methods[0].n_t, 3);
    assert_true(s.methods[0].t[1] == 0.7f);
    assert_int_equal(s.n_seeds, 3);
    assert_int_equal(s.baseline, 1);
    assert_int_equal(s.lat_batch, 4);
    assert_int_equal(s.lat_repeats, 50);

    /* Seed by seed: fp32, twn x3, ttq x1. */
    int n = tern_sweep_points(&s, NULL);
    assert_int_equal(n, 3 * (1 + 3 + 1));
    tern_sweep_point pts[15];
    tern_sweep_points(&s, pts);
    assert_string_equal(pts[0].name, "fp32_s1");
    assert_string_equal(pts[0].t, "");
    assert_string_equal(pts[2].name, "twn_t0.7_s1");
    assert_string_equal(pts[4].name, "ttq_t0.05_s1");
    assert_string_equal(pts[5].name, "fp32_s2");
    assert_int_equal(pts[14].seed, 3);

    /* A point's config: overrides, then quantizer, t and seed. */
    tern_config cfg;
    assert_int_equal(tern_sweep_point_config(&s, &pts[4], &cfg), TERN_OK);
    assert_int_equal(cfg.training.epochs, 2);
    assert_int_equal(cfg.quant.enabled, 1);
    assert_int_equal(cfg.quant.defaults.method, TERN_QUANT_TTQ);
    assert_true(cfg.quant.defaults.t == 0.05f);
    assert_true(cfg.model.layers[1].quant.t == 0.05f);
    assert_int_equal(cfg.training.seed, 1);
    char want[512];
    snprintf(want, sizeof want, "%s/runs/ttq_t0.05_s1", tpath("res"));
    assert_string_equal(cfg.output_dir, want);
    tern_config_free(&cfg);
    assert_int_equal(tern_sweep_point_config(&s, &pts[5], &cfg), TERN_OK);
    assert_int_equal(cfg.quant.enabled, 0);
    assert_int_equal(cfg.model.layers[1].ternary, 0);
    assert_int_equal(cfg.training.seed, 2);
    tern_config_free(&cfg);
    tern_sweep_spec_free(&s);
}

/* The spec fails to load with a one-line message naming the file and
 * containing `want`. */
static void expect_bad(const char *name, const char *text, const char *want) {
    const char *p = spec_file(name, text);
    tern_sweep_spec s;
    tern_status st = tern_sweep_spec_load(&s, p);
    const char *msg = tern_errmsg();
    if (st == TERN_OK || !strstr(msg, want) || !strstr(msg, name) || strchr(msg, '\n'))
        fail_msg("%s: status %d, message '%s' (wanted one line naming the file with '%s')", name, (int)st, msg,
                 want);
    assert_int_equal(s.n_methods, 0); /* left empty */
}

/* A spec's overrides apply together, as --set does: min_lr before the
 * schedule that takes it is no error, at load or at a point. */
static void test_spec_sets_together(void **state) {
    (void)state;
    const char *p = spec_file("together.yaml", "base: base.yaml\n"
                                               "set: [schedule.min_lr=0.005, schedule.name=cosine]\n"
                                               "methods: [{quantizer: twn, t: [0.7]}]\nseeds: [1, 2, 3]\nout: o\n");
    tern_config alone;
    assert_int_equal(tern_config_load(&alone, tpath("base.yaml")), TERN_OK);
    assert_int_not_equal(tern_config_set(&alone, "schedule.min_lr=0.005"), TERN_OK); /* one at a time it fails */
    tern_config_free(&alone);
    tern_sweep_spec s;
    if (tern_sweep_spec_load(&s, p)) fail_msg("%s", tern_errmsg());
    tern_sweep_point pt;
    assert_int_equal(tern_sweep_points(&s, NULL), 3);
    tern_sweep_point pts[3];
    tern_sweep_points(&s, pts);
    pt = pts[1];
    tern_config cfg;
    if (tern_sweep_point_config(&s, &pt, &cfg)) fail_msg("%s", tern_errmsg());
    assert_int_equal(cfg.schedule.kind, TERN_SCHED_COSINE);
    assert_true(cfg.schedule.min_lr == 0.005f);
    assert_int_equal((int)cfg.training.seed, 2);
    tern_config_free(&cfg);
    tern_sweep_spec_free(&s);
}

static void test_spec_errors(void **state) {
    (void)state;
    expect_bad("unknown.yaml", "base: base.yaml\nmethods: [{quantizer: twn, t: [0.7]}]\nseeds: [1, 2, 3]\nout: o\n"
                               "sedes: [4]\n",
               "unknown.yaml:5:1: sedes: unknown key");
    expect_bad("seeds.yaml", "base: base.yaml\nmethods: [{quantizer: twn, t: [0.7]}]\nseeds: [1, 2]\nout: o\n",
               "seeds.yaml:3:8: seeds: 2 seeds given; at least 3");
    expect_bad("dupseed.yaml", "base: base.yaml\nmethods: [{quantizer: twn, t: [0.7]}]\nseeds: [1, 2, 1]\nout: o\n",
               "seeds.2: seed 1 is given twice");
    expect_bad("nobase.yaml", "base: missing.yaml\nmethods: [{quantizer: twn, t: [0.7]}]\nseeds: [1, 2, 3]\nout: o\n",
               "nobase.yaml:1:7: base: no config file");
    expect_bad("quant.yaml", "base: base.yaml\nmethods: [{quantizer: twm, t: [0.7]}]\nseeds: [1, 2, 3]\nout: o\n",
               "methods.0.quantizer: unknown quantizer 'twm'");
    expect_bad("negt.yaml", "base: base.yaml\nmethods: [{quantizer: twn, t: [0.7, -1]}]\nseeds: [1, 2, 3]\nout: o\n",
               "methods.0.t.1: threshold -1 must be");
    expect_bad("type.yaml", "base: base.yaml\nmethods: [{quantizer: twn, t: [0.7]}]\nseeds: [1, 2, 3]\nout: o\n"
                            "baseline: yes please\n",
               "baseline: expected true or false");
    expect_bad("set.yaml", "base: base.yaml\nset: [training.epochz=3]\nmethods: [{quantizer: twn, t: [0.7]}]\n"
                           "seeds: [1, 2, 3]\nout: o\n",
               "training.epochz");
    expect_bad("noout.yaml", "base: base.yaml\nmethods: [{quantizer: twn, t: [0.7]}]\nseeds: [1, 2, 3]\n", "out");
}

static tern_sweep_row row(const char *method, const char *t, uint64_t seed, double acc, double sp, double dense,
                          double zskip) {
    tern_sweep_row w;
    memset(&w, 0, sizeof w);
    snprintf(w.method, sizeof w.method, "%s", method);
    snprintf(w.t, sizeof w.t, "%s", t);
    w.seed = seed;
    w.test_acc = acc;
    w.sparsity = sp;
    w.dense_us = dense;
    w.zskip_us = zskip;
    w.seconds = 1.5;
    w.layer_sparsity[0] = sp;
    w.layer_sparsity[1] = NAN;
    return w;
}

static void test_summary(void **state) {
    (void)state;
    tern_sweep_results r;
    tern_sweep_results_init(&r);
    r.n_layers = 2;
    snprintf(r.layers[0], sizeof r.layers[0], "fc1");
    snprintf(r.layers[1], sizeof r.layers[1], "fc2");
    /* Groups interleaved as a seed-major sweep writes them. */
    tern_sweep_row rows[] = {
        row("fp32", "", 1, 0.95, 0.0, 10.0, NAN), row("twn", "0.7", 1, 0.90, 0.40, 8.0, NAN),
        row("ttq", "0.1", 1, 0.80, 0.75, 6.0, 3.0), row("fp32", "", 2, 0.97, 0.0, 12.0, NAN),
        row("twn", "0.7", 2, 0.92, 0.44, NAN, NAN), row("twn", "0.7", 3, 0.97, 0.42, 10.0, NAN),
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) assert_int_equal(tern_sweep_results_add(&r, &rows[i]), 0);

    tern_sweep_stat *S;
    int n;
    assert_int_equal(tern_sweep_summarize(&r, &S, &n), TERN_OK);
    assert_int_equal(n, 3);
    assert_string_equal(S[0].method, "fp32");
    assert_string_equal(S[1].method, "twn");
    assert_string_equal(S[2].method, "ttq");
    /* fp32: acc 0.95, 0.97 -> mean 0.96, std sqrt(2 * 0.01^2 / 1) = 0.0141421. */
    assert_int_equal(S[0].n, 2);
    assert_true(fabs(S[0].mean[0] - 0.96) < 1e-12);
    assert_true(fabs(S[0].std[0] - 0.014142135623730951) < 1e-12);
    assert_true(isnan(S[0].mean[3]) && isnan(S[0].std[3]));  /* no zskip at all */
    /* twn 0.7: acc 0.90, 0.92, 0.97 -> mean 0.93, deviations -.03 -.01 .04,
     * ss 0.0026, std sqrt(0.0013) = 0.0360555; sparsity .40 .44 .42 -> .42, std .02;
     * dense 8, -, 10 -> mean 9 over the two measured, std sqrt(2) = 1.41421. */
    assert_int_equal(S[1].n, 3);
    assert_true(fabs(S[1].mean[0] - 0.93) < 1e-12);
    assert_true(fabs(S[1].std[0] - 0.036055512754639890) < 1e-12);
    assert_true(fabs(S[1].mean[1] - 0.42) < 1e-12);
    assert_true(fabs(S[1].std[1] - 0.02) < 1e-12);
    assert_true(fabs(S[1].mean[2] - 9.0) < 1e-12);
    assert_true(fabs(S[1].std[2] - 1.4142135623730951) < 1e-12);
    /* ttq: one seed: std 0. */
    assert_int_equal(S[2].n, 1);
    assert_true(S[2].mean[3] == 3.0 && S[2].std[0] == 0.0);
    free(S);

    /* results.csv round trip; the summary file has the values above. */
    assert_int_equal(tern_sweep_results_write(&r, tpath("r.csv")), TERN_OK);
    tern_sweep_results back;
    tern_sweep_results_init(&back);
    assert_int_equal(tern_sweep_results_read(&back, tpath("r.csv")), TERN_OK);
    assert_int_equal(back.n, r.n);
    assert_int_equal(back.n_layers, 2);
    assert_string_equal(back.layers[1], "fc2");
    for (int i = 0; i < r.n; i++) {
        assert_string_equal(back.rows[i].method, r.rows[i].method);
        assert_string_equal(back.rows[i].t, r.rows[i].t);
        assert_true(back.rows[i].seed == r.rows[i].seed);
        assert_true(back.rows[i].test_acc == r.rows[i].test_acc);
        assert_true(isnan(back.rows[i].zskip_us) == isnan(r.rows[i].zskip_us));
        assert_true(isnan(back.rows[i].layer_sparsity[1]));
    }
    tern_sweep_results_free(&back);
    assert_int_equal(tern_sweep_summary_write(&r, tpath("s.csv")), TERN_OK);
    FILE *f = fopen(tpath("s.csv"), "r");
    assert_non_null(f);
    char line[512];
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "fp32,,2,0.960000,0.014142,0.000000,0.000000,11.000,1.414,,\n");
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "twn,0.7,3,0.930000,0.036056,0.420000,0.020000,9.000,1.414,,\n");
    fclose(f);

    /* A malformed row is an error naming the file and line. */
    write_file(tpath("bad.csv"), "method,t,seed,test_acc,sparsity,dense_us,zskip_us,seconds\ntwn,0.7,1,x,0,1,,2\n");
    tern_sweep_results_init(&back);
    assert_int_equal(tern_sweep_results_read(&back, tpath("bad.csv")), TERN_ERR_FORMAT);
    assert_non_null(strstr(tern_errmsg(), "bad.csv:2: malformed row"));
    tern_sweep_results_free(&back);
    tern_sweep_results_free(&r);
}

/* ---- resuming ---------------------------------------------------------- */

typedef struct {
    int started, resumed_starts;
} counter;

static void count_events(const tern_sweep_event *ev, void *user) {
    counter *c = user;
    if (ev->kind == TERN_SWEEP_EV_START) {
        c->started++;
        c->resumed_starts += ev->resumed;
    }
}

static void load_results(const char *out, tern_sweep_results *r) {
    char p[600];
    snprintf(p, sizeof p, "%s/results.csv", out);
    tern_sweep_results_init(r);
    assert_int_equal(tern_sweep_results_read(r, p), TERN_OK);
}

static const char *sweep_text(const char *out, const char *extra_set) {
    static char text[512];
    snprintf(text, sizeof text,
             "base: base.yaml\nset: [training.eval_every=1%s]\nmethods: [{quantizer: twn, t: [0.5, 1.2]}]\n"
             "seeds: [1, 2, 3]\nout: %s\nlatency: {batch: 2, repeats: 3}\n",
             extra_set, out);
    return text;
}

static void test_resume(void **state) {
    (void)state;
    tern_sweep_spec full, cut;
    assert_int_equal(tern_sweep_spec_load(&full, spec_file("full.yaml", sweep_text("full", ""))), TERN_OK);
    assert_int_equal(tern_sweep_spec_load(&cut, spec_file("cut.yaml", sweep_text("cut", ""))), TERN_OK);

    /* The reference: uninterrupted. */
    tern_sweep_result res;
    counter c = {0, 0};
    tern_sweep_opts o = {.cb = count_events, .user = &c};
    assert_int_equal(tern_sweep_run(&full, &o, &res), TERN_OK);
    assert_int_equal(res.total, 6);
    assert_int_equal(res.trained, 6);
    assert_int_equal(res.stopped, 0);

    /* Stopped after two points. */
    o.stop_after_points = 2;
    assert_int_equal(tern_sweep_run(&cut, &o, &res), TERN_OK);
    assert_int_equal(res.trained, 2);
    assert_int_equal(res.stopped, 1);
    tern_sweep_results first;
    load_results(cut.out, &first);
    assert_int_equal(first.n, 2);

    /* Stopped again in the middle of point 3's training (3 of its 10 steps). */
    o.stop_after_points = 0;
    o.stop_after_steps = 3;
    c = (counter){0, 0};
    assert_int_equal(tern_sweep_run(&cut, &o, &res), TERN_OK);
    assert_int_equal(res.skipped, 2);
    assert_int_equal(res.trained, 0);
    assert_int_equal(res.stopped, 1);
    assert_int_equal(c.started, 1);
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/runs/twn_t0.5_s2/last.h5", cut.out);
    assert_int_equal(access(ckpt, F_OK), 0);

    /* Rerun to the end: the two finished points are skipped, point 3
     * resumes from its checkpoint, the other three train. */
    o.stop_after_steps = 0;
    c = (counter){0, 0};
    assert_int_equal(tern_sweep_run(&cut, &o, &res), TERN_OK);
    assert_int_equal(res.skipped, 2);
    assert_int_equal(res.trained, 4);
    assert_int_equal(res.resumed, 1);
    assert_int_equal(res.stopped, 0);
    assert_int_equal(c.started, 4);
    assert_int_equal(c.resumed_starts, 1);

    tern_sweep_results a, b;
    load_results(cut.out, &a);
    load_results(full.out, &b);
    assert_int_equal(a.n, 6);
    assert_int_equal(b.n, 6);
    tern_sweep_point pts[6];
    tern_sweep_points(&cut, pts);
    for (int i = 0; i < 6; i++) {
        /* Every point exactly once. */
        int k = tern_sweep_results_find(&a, &pts[i]), j = tern_sweep_results_find(&b, &pts[i]);
        assert_true(k >= 0 && j >= 0);
        for (int m = k + 1; m < a.n; m++)
            assert_false(!strcmp(a.rows[m].method, pts[i].method) && !strcmp(a.rows[m].t, pts[i].t) &&
                         a.rows[m].seed == pts[i].seed);
        /* Training is deterministic and resuming is bit for bit: the same
         * accuracy and sparsities as the uninterrupted sweep (latency and
         * seconds are measurements and differ). */
        assert_true(a.rows[k].test_acc == b.rows[j].test_acc);
        assert_true(a.rows[k].sparsity == b.rows[j].sparsity);
        assert_true(a.rows[k].layer_sparsity[0] == b.rows[j].layer_sparsity[0]);
        assert_true(a.rows[k].dense_us > 0.0);
    }
    /* The points finished before the interruptions were not measured again:
     * their rows, timings included, are those written the first time. */
    for (int i = 0; i < 2; i++)
        assert_memory_equal(&a.rows[i], &first.rows[i], sizeof a.rows[i]);
    /* Different thresholds really give different sparsities. */
    assert_true(a.rows[1].sparsity > a.rows[0].sparsity + 0.1);

    /* A rerun with the same spec trains nothing. */
    c = (counter){0, 0};
    assert_int_equal(tern_sweep_run(&cut, &o, &res), TERN_OK);
    assert_int_equal(res.skipped, 6);
    assert_int_equal(c.started, 0);

    /* Another base meaning in the same out dir is refused, and --force starts over. */
    tern_sweep_spec other;
    assert_int_equal(tern_sweep_spec_load(&other, spec_file("cut2.yaml", sweep_text("cut", ", training.batch_size=16"))),
                     TERN_OK);
    assert_int_equal(tern_sweep_run(&other, &o, &res), TERN_ERR_CONFIG);
    assert_non_null(strstr(tern_errmsg(), "--force"));
    tern_sweep_results still;
    load_results(cut.out, &still);
    assert_int_equal(still.n, 6); /* refused before touching anything */
    tern_sweep_results_free(&still);
    o.force = 1;
    o.stop_after_points = 1;
    assert_int_equal(tern_sweep_run(&other, &o, &res), TERN_OK);
    assert_int_equal(res.trained, 1);
    assert_int_equal(res.resumed, 0);
    load_results(cut.out, &still);
    assert_int_equal(still.n, 1);
    tern_sweep_results_free(&still);

    tern_sweep_results_free(&first);
    tern_sweep_results_free(&a);
    tern_sweep_results_free(&b);
    tern_sweep_spec_free(&full);
    tern_sweep_spec_free(&cut);
    tern_sweep_spec_free(&other);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_good),
        cmocka_unit_test(test_spec_sets_together),
        cmocka_unit_test(test_spec_errors),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_resume),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
