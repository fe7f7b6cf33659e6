/* test_trainer.c — the training loop: a resumed run reproduces an
 * uninterrupted one bit for bit (from mid-epoch and from an epoch boundary),
 * metrics and checkpoints land in the run directory, a NaN loss stops the
 * run and keeps the last good checkpoint, and an existing run is not
 * replaced by accident. Runs on a small synthetic MNIST-format dataset. */
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
#include "tern/checkpoint.h"
#include "tern/config.h"
#include "tern/train.h"
#include "synth_idx.h"


static int setup(void **state) {
    (void)state;
    if (tmpdir_make("trainer")) return -1;
    char data[300];
    snprintf(data, sizeof data, "%s/data", tmpdir);
    synth_idx_dataset(data);
    return 0;
}

/* The run's config: dropout, augmentation (both RNGs matter), ternary layers
 * with batchnorm, Adam with cosine warm-up; 300/32 = 10 batches per epoch,
 * the last one short. `dataset` and `training` are more keys of those
 * sections (", key: value"). */
static void make_config_with(tern_config *cfg, const char *run, const char *dataset, const char *training) {
    char text[2048];
    snprintf(text, sizeof text,
             "dataset: {name: mnist, path: %s/data, normalize: compute, augment: {hflip: true}%s}\n"
             "model:\n"
             "  layers:\n"
             "    - {type: flatten}\n"
             "    - {type: linear, name: fc1, out: 32, bias: false}\n"
             "    - {type: batchnorm, name: bn1, act: relu}\n"
             "    - {type: dropout, p: 0.2}\n"
             "    - {type: linear, name: fc2, out: 10, ternary: false}\n"
             "quant: {method: twn}\n"
             "optimizer: {name: adam, lr: 0.01}\n"
             "schedule: {name: cosine, warmup_epochs: 1}\n"
             "training: {epochs: 3, batch_size: 32, seed: 7, threads: 1%s}\n"
             "output: {dir: %s/%s}\n",
             tmpdir, dataset, training, tmpdir, run);
    if (tern_config_load_text(cfg, text, strlen(text), "test.yaml")) fail_msg("%s", tern_errmsg());
}

static void make_config(tern_config *cfg, const char *run) { make_config_with(cfg, run, "", ""); }

typedef struct {
    float loss[64];
    long step[64];
    int n;
} trace;

static void record(const tern_train_event *ev, void *user) {
    trace *t = user;
    if (ev->kind == TERN_TRAIN_EV_STEP && t->n < 64) {
        t->loss[t->n] = ev->loss;
        t->step[t->n++] = ev->step;
    }
}

/* The params block of a checkpoint, loaded into a model of the config. */
static float *ckpt_params(const tern_config *cfg, const char *path, size_t *n) {
    tern_model m;
    int in[3] = {1, 12, 12};
    assert_int_equal(tern_model_init(&m, cfg->model.layers, cfg->model.n_layers, 3, in, cfg->model.init, 99), 0);
    tern_ckpt_state s;
    tern_ckpt_state_init(&s, &m.params, NULL);
    assert_int_equal(tern_ckpt_load(path, &s), TERN_OK);
    *n = m.params.total;
    float *copy = malloc(sizeof(float) * *n);
    memcpy(copy, m.params.data, sizeof(float) * *n);
    tern_model_free(&m);
    return copy;
}

static void run_resumed(long stop_at, trace *t, tern_train_result *res) {
    char run[32], ckpt[512];
    snprintf(run, sizeof run, "run_stop%ld", stop_at);
    tern_config cfg;
    make_config(&cfg, run);
    tern_train_opts o = {.stop_after_steps = stop_at, .cb = record, .user = t};
    assert_int_equal(tern_train(&cfg, &o, res), TERN_OK);
    assert_true(res->stopped);
    assert_int_equal(res->steps, stop_at);
    snprintf(ckpt, sizeof ckpt, "%s/%s/last.h5", tmpdir, run);
    assert_string_equal(res->checkpoint, ckpt);
    tern_train_opts o2 = {.resume = ckpt, .cb = record, .user = t};
    assert_int_equal(tern_train(&cfg, &o2, res), TERN_OK);
    assert_false(res->stopped);
    tern_config_free(&cfg);
}

static void test_resume_is_bit_exact(void **state) {
    (void)state;
    tern_config cfg;
    make_config(&cfg, "run_full");
    trace full = {0};
    tern_train_opts o = {.cb = record, .user = &full};
    tern_train_result rf;
    assert_int_equal(tern_train(&cfg, &o, &rf), TERN_OK);
    assert_int_equal(full.n, 30);
    assert_int_equal(rf.epochs_done, 3);
    print_message("uninterrupted: test acc %.3f after %ld steps\n", rf.test_acc, rf.steps);
    assert_true(rf.test_acc > 0.5f); /* it learns: chance is 0.1 */

    /* Stop mid-epoch 2 (step 13 of 30) and at the end of epoch 1 (step 10). */
    long stops[2] = {13, 10};
    for (int k = 0; k < 2; k++) {
        trace t = {0};
        tern_train_result rr;
        run_resumed(stops[k], &t, &rr);
        assert_int_equal(t.n, 30);
        for (int i = 0; i < 30; i++) assert_int_equal(t.step[i], full.step[i]);
        assert_memory_equal(t.loss, full.loss, sizeof(float) * 30);
        assert_memory_equal(&rr.test_acc, &rf.test_acc, sizeof(float));
        assert_memory_equal(&rr.test_loss, &rf.test_loss, sizeof(float));
        /* The final weights, batchnorm statistics and scales agree to the bit. */
        char a[512], b[512];
        snprintf(a, sizeof a, "%s/run_full/last.h5", tmpdir);
        snprintf(b, sizeof b, "%s/run_stop%ld/last.h5", tmpdir, stops[k]);
        size_t na, nb;
        float *pa = ckpt_params(&cfg, a, &na), *pb = ckpt_params(&cfg, b, &nb);
        assert_int_equal(na, nb);
        assert_memory_equal(pa, pb, sizeof(float) * na);
        free(pa);
        free(pb);
    }

    /* metrics.csv: a header and one row per epoch, with per-layer sparsity. */
    char path[512], line[1024];
    snprintf(path, sizeof path, "%s/run_stop13/metrics.csv", tmpdir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(
        strstr(line, "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,sparsity,samples_per_s,seconds,lr"));
    assert_non_null(strstr(line, ",sparsity_fc1,alpha_fc1\n")); /* fc2 is not ternary */
    assert_non_null(strstr(line, ",step_ms,peak_rss_mb,"));
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        assert_int_equal(atoi(line), ++rows);
        /* The monitor columns: samples/s times the mean step time is the
         * samples per step, at most one batch of 32; the peak RSS is real. */
        double sps, step_ms, rss;
        char val[16];
        assert_int_equal(sscanf(line, "%*d,%*f,%*f,%15[^,],%*f,%*f,%*f,%*f,%lf,%*f,%*f,%lf,%lf", val, &sps, &step_ms,
                                &rss), 4);
        assert_string_equal(val, "nan"); /* no validation split */
        assert_true(sps > 0 && step_ms > 0);
        assert_true(sps * step_ms / 1e3 > 16.0 && sps * step_ms / 1e3 <= 32.0 * 1.001);
        assert_true(rss > 1.0 && rss < 1e6);
    }
    fclose(f);
    assert_int_equal(rows, 3);
    snprintf(path, sizeof path, "%s/run_stop13/config.yaml", tmpdir);
    assert_int_equal(access(path, R_OK), 0);
    tern_config_free(&cfg);
}

/* The whole file into buf; -1 when it is missing or larger than cap. */
static int read_file(const char *path, char *buf, size_t cap, size_t *len) {
    struct stat sb;
    if (stat(path, &sb) || (size_t)sb.st_size > cap) return -1;
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    *len = fread(buf, 1, cap, f);
    fclose(f);
    return *len == (size_t)sb.st_size ? 0 : -1;
}

static void test_nan_stops_and_keeps_checkpoint(void **state) {
    (void)state;
    tern_config cfg;
    make_config(&cfg, "run_nan");
    assert_int_equal(tern_config_set(&cfg, "training.epochs=2"), TERN_OK);
    tern_train_result res;
    assert_int_equal(tern_train(&cfg, NULL, &res), TERN_OK);
    static char before[1 << 20], after[1 << 20];
    size_t nb, na;
    assert_int_equal(read_file(res.checkpoint, before, sizeof before, &nb), 0);
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s", res.checkpoint);
    /* Continue with an absurd learning rate: the loss blows up to Inf/NaN. */
    assert_int_equal(tern_config_set(&cfg, "training.epochs=4"), TERN_OK);
    assert_int_equal(tern_config_set(&cfg, "optimizer.lr=1.0e+30"), TERN_OK);
    assert_int_equal(tern_config_set(&cfg, "model.layers.fc2.ternary=false"), TERN_OK);
    tern_train_opts o = {.resume = ckpt};
    tern_status st = tern_train(&cfg, &o, &res);
    print_message("%s\n", tern_errmsg());
    assert_int_equal(st, TERN_ERR_NUMERIC);
    assert_non_null(strstr(tern_errmsg(), "the last good checkpoint is kept"));
    assert_int_equal(read_file(ckpt, after, sizeof after, &na), 0);
    assert_int_equal(na, nb);
    assert_memory_equal(before, after, nb);
    tern_config_free(&cfg);
}

static void test_existing_run_is_not_replaced(void **state) {
    (void)state;
    tern_config cfg;
    make_config(&cfg, "run_full"); /* written by the resume test */
    char path[512];
    snprintf(path, sizeof path, "%s/run_full/metrics.csv", tmpdir);
    static char before[1 << 16], after[1 << 16];
    size_t nb, na;
    assert_int_equal(read_file(path, before, sizeof before, &nb), 0);
    tern_train_result res;
    assert_int_equal(tern_train(&cfg, NULL, &res), TERN_ERR_IO);
    assert_non_null(strstr(tern_errmsg(), "already holds a run"));
    assert_int_equal(read_file(path, after, sizeof after, &na), 0);
    assert_memory_equal(before, after, nb);
    /* A run directory that cannot be created: its parent is a regular file. */
    assert_int_equal(tern_config_set(&cfg, "output.dir=/dev/null/run"), TERN_OK);
    assert_int_equal(tern_train(&cfg, NULL, &res), TERN_ERR_IO);
    assert_non_null(strstr(tern_errmsg(), "/dev/null"));
    tern_config_free(&cfg);
}

/* 300 images in batches of 13 leave a last batch of one sample, which a
 * 1-D batchnorm cannot normalise: the trainer drops it instead of failing
 * after a whole epoch. */
static void test_one_sample_tail_is_dropped(void **state) {
    (void)state;
    tern_config cfg;
    make_config(&cfg, "run_tail");
    assert_int_equal(tern_config_set(&cfg, "training.batch_size=13"), TERN_OK);
    assert_int_equal(tern_config_set(&cfg, "training.epochs=2"), TERN_OK);
    trace t = {0};
    tern_train_opts o = {.cb = record, .user = &t};
    tern_train_result res;
    assert_int_equal(tern_train(&cfg, &o, &res), TERN_OK);
    assert_int_equal(res.steps, 2 * 23); /* 23 full batches per epoch, the single sample dropped */
    tern_config_free(&cfg);
}

/* A finished run resumed: nothing to train. The library says so (the CLI
 * turns it into an error saying how to extend the run) and writes nothing;
 * it used to rewrite metrics.csv and report "epoch 4 of 3". */
static void test_finished_run_is_complete(void **state) {
    (void)state;
    tern_config cfg;
    make_config(&cfg, "run_full"); /* written by the resume test: 3 of 3 epochs */
    char ckpt[512], csv[512];
    snprintf(ckpt, sizeof ckpt, "%s/run_full/last.h5", tmpdir);
    snprintf(csv, sizeof csv, "%s/run_full/metrics.csv", tmpdir);
    static char before[1 << 16], after[1 << 16];
    size_t nb, na;
    assert_int_equal(read_file(csv, before, sizeof before, &nb), 0);
    trace t = {0};
    tern_train_opts o = {.resume = ckpt, .cb = record, .user = &t};
    tern_train_result res;
    assert_int_equal(tern_train(&cfg, &o, &res), TERN_OK);
    assert_true(res.complete);
    assert_false(res.stopped);
    assert_int_equal(res.epochs_done, 3);
    assert_int_equal(res.steps, 30);
    assert_int_equal(t.n, 0);
    assert_int_equal(read_file(csv, after, sizeof after, &na), 0);
    assert_int_equal(na, nb);
    assert_memory_equal(before, after, nb);
    tern_config_free(&cfg);
}

/* The trainer's own /meta numbers are checked against the config before
 * any cast: a batch of 1e300 (valid CRC, written through the API) was cast
 * to int, which is undefined. */
static void test_resume_meta_out_of_range(void **state) {
    (void)state;
    tern_config cfg;
    make_config(&cfg, "run_meta");
    char src[512], dir[512], ckpt[600];
    snprintf(src, sizeof src, "%s/run_stop13/last.h5", tmpdir); /* mid-epoch 2: batch 3 */
    snprintf(dir, sizeof dir, "%s/run_meta", tmpdir);
    snprintf(ckpt, sizeof ckpt, "%s/last.h5", dir);
    mkdir(dir, 0777);
    tern_model m;
    int in[3] = {1, 12, 12};
    assert_int_equal(tern_model_init(&m, cfg.model.layers, cfg.model.n_layers, 3, in, cfg.model.init, 1), TERN_OK);
    tern_optim opt;
    assert_int_equal(tern_optim_init(&opt, &m.params, &cfg.optimizer.cfg), TERN_OK);
    tern_rng r1, r2;
    tern_ckpt_state s;
    tern_ckpt_state_init(&s, &m.params, &opt);
    assert_int_equal(tern_ckpt_add_rng(&s, "model", &r1), TERN_OK);
    assert_int_equal(tern_ckpt_add_rng(&s, "loader", &r2), TERN_OK);
    assert_int_equal(tern_ckpt_load(src, &s), TERN_OK);
    const char *names[5] = {"batch", "epoch_seen", "epoch_correct", "best_epoch", "early_stopping_stale"};
    const double bad[5] = {1e300, 1e9, 2.5, 4, -1}; /* best_epoch 4 of the 3 epochs done */
    for (int i = 0; i < 5; i++) {
        tern_ckpt_state e = s;
        assert_int_equal(tern_ckpt_set_meta(&e, names[i], bad[i]), TERN_OK);
        assert_int_equal(tern_ckpt_save(ckpt, &e), TERN_OK);
        tern_train_opts o = {.resume = ckpt};
        tern_train_result res;
        assert_int_equal(tern_train(&cfg, &o, &res), TERN_ERR_FORMAT);
        char want[64];
        snprintf(want, sizeof want, "/meta attribute '%s' is %g", names[i], bad[i]);
        if (!strstr(tern_errmsg(), want)) fail_msg("'%s' lacks '%s'", tern_errmsg(), want);
        assert_non_null(strstr(tern_errmsg(), ckpt));
        char csv[700];
        snprintf(csv, sizeof csv, "%s/metrics.csv", dir);
        assert_int_equal(access(csv, F_OK), -1); /* nothing written */
    }
    tern_optim_free(&opt);
    tern_model_free(&m);
    tern_config_free(&cfg);
}

/* A host program may hand the run its own worker pool: the run uses it, gives
 * the same bits as on the pool it makes itself (1 thread, from the config),
 * and leaves it to its owner, who can use it again. */
static void test_caller_pool_same_bits(void **state) {
    (void)state;
    tern_config cfg;
    trace own = {0}, given = {0};
    tern_train_result r1, r2;
    make_config(&cfg, "run_own_pool");
    tern_train_opts o = {.cb = record, .user = &own};
    assert_int_equal(tern_train(&cfg, &o, &r1), TERN_OK);
    tern_config_free(&cfg);

    tern_pool *pool;
    assert_int_equal(tern_pool_init(&pool, 2), TERN_OK);
    assert_null(tern_pool_scratch(pool, 1));
    make_config(&cfg, "run_given_pool");
    tern_train_opts o2 = {.cb = record, .user = &given, .pool = pool};
    assert_int_equal(tern_train(&cfg, &o2, &r2), TERN_OK);
    assert_non_null(tern_pool_scratch(pool, 1)); /* the steps ran on it */
    assert_int_equal(tern_pool_threads(pool), 2);  /* and it is still the caller's */
    tern_config_free(&cfg);
    tern_pool_free(pool);

    assert_int_equal(own.n, given.n);
    assert_memory_equal(own.loss, given.loss, sizeof(float) * (size_t)own.n);
    assert_true(r1.test_acc == r2.test_acc);
    assert_true(r1.test_loss == r2.test_loss);
}

/* ---- the validation split, best.h5, early stopping ------------------------ */

/* What a validation run reports, epoch by epoch. */
typedef struct {
    int val_n, epochs, best_writes[64], n_best, eval_batches[2];
    float val_loss[64], val_acc[64];
} vtrace;

static void vrecord(const tern_train_event *ev, void *user) {
    vtrace *t = user;
    if (ev->kind == TERN_TRAIN_EV_START) t->val_n = ev->val_n;
    if (ev->kind == TERN_TRAIN_EV_EPOCH && ev->epoch <= 64) {
        t->val_loss[ev->epoch - 1] = ev->val_loss;
        t->val_acc[ev->epoch - 1] = ev->val_acc;
        t->epochs = ev->epoch;
    }
    if (ev->kind == TERN_TRAIN_EV_CHECKPOINT && strstr(ev->path, "/best.h5") && t->n_best < 64)
        t->best_writes[t->n_best++] = ev->epoch;
    if (ev->kind == TERN_TRAIN_EV_EVAL) {
        assert_true(ev->batch >= 1 && ev->batch <= ev->batches);
        t->eval_batches[!strcmp(ev->split, "test")]++;
    }
}

/* The test figures of a checkpoint, evaluated afresh from the file. */
static void eval_ckpt(const char *path, float *loss, float *acc) {
    tern_config cfg;
    tern_model m;
    tern_dataset test;
    assert_int_equal(tern_dataset_load_checkpoint(path, NULL, &cfg, &m, &test), TERN_OK);
    tern_eval_result er;
    assert_int_equal(tern_evaluate(&m, &test, 32, NULL, &er), TERN_OK);
    *loss = er.loss;
    *acc = er.acc;
    tern_model_free(&m);
    tern_dataset_free(&test);
    tern_config_free(&cfg);
}

/* best.h5 is written exactly at the epochs whose validation loss beats
 * every earlier one (training.best_metric val_loss), holds the last of
 * them, and the result's best test figures are that file's. */
static void test_best_checkpoint_on_improvement(void **state) {
    (void)state;
    tern_config cfg;
    make_config_with(&cfg, "run_val", ", validation: 60", ", best_metric: val_loss");
    assert_int_equal(tern_config_set(&cfg, "training.epochs=6"), TERN_OK);
    vtrace t = {0};
    tern_train_opts o = {.cb = vrecord, .user = &t};
    tern_train_result res;
    assert_int_equal(tern_train(&cfg, &o, &res), TERN_OK);
    assert_int_equal(t.val_n, 60);
    assert_int_equal(t.epochs, 6);
    assert_int_equal(res.steps, 6 * 8); /* 240 training samples: 8 batches of 32 */
    /* Per epoch: 2 validation batches (60) and 4 test batches (100); then best.h5's 4. */
    assert_int_equal(t.eval_batches[0], 6 * 2);
    assert_int_equal(t.eval_batches[1], 6 * 4 + 4);
    int want[64], n = 0;
    float best = INFINITY;
    for (int e = 0; e < 6; e++) {
        assert_true(isfinite(t.val_loss[e]) && t.val_acc[e] >= 0.0f);
        if (t.val_loss[e] < best) best = t.val_loss[e], want[n++] = e + 1;
    }
    print_message("val_loss by epoch: %.4f %.4f %.4f %.4f %.4f %.4f; best.h5 written %d times\n", t.val_loss[0],
                  t.val_loss[1], t.val_loss[2], t.val_loss[3], t.val_loss[4], t.val_loss[5], t.n_best);
    assert_int_equal(t.n_best, n);
    assert_memory_equal(t.best_writes, want, sizeof(int) * (size_t)n);
    assert_int_equal(res.best_epoch, want[n - 1]);
    assert_true(res.best_val_loss == best);
    assert_true(res.best_val_acc == t.val_acc[res.best_epoch - 1]);
    tern_ckpt_info info;
    assert_int_equal(tern_ckpt_read_info(res.best_checkpoint, &info), TERN_OK);
    assert_int_equal(info.epoch, res.best_epoch);
    float loss, acc;
    eval_ckpt(res.best_checkpoint, &loss, &acc);
    assert_true(loss == res.best_test_loss && acc == res.best_test_acc);
    eval_ckpt(res.checkpoint, &loss, &acc);
    assert_true(loss == res.test_loss && acc == res.test_acc);

    /* metrics.csv: the validation figures of every epoch, α of fc1 > 0. */
    char path[512], line[1024];
    snprintf(path, sizeof path, "%s/run_val/metrics.csv", tmpdir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    for (int e = 0; e < 6; e++) {
        assert_non_null(fgets(line, sizeof line, f));
        float vl, va, alpha;
        assert_int_equal(sscanf(line, "%*d,%*f,%*f,%f,%f", &vl, &va), 2);
        assert_true(fabsf(vl - t.val_loss[e]) < 1e-5f && fabsf(va - t.val_acc[e]) < 1e-5f);
        alpha = (float)atof(strrchr(line, ',') + 1);
        assert_true(alpha > 0.0f);
    }
    fclose(f);

    /* A fork (resumed into another directory, two epochs more) carries
     * best.h5 along: the run's best stays selectable and tested. */
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s", res.checkpoint);
    assert_int_equal(tern_config_set(&cfg, "training.epochs=8"), TERN_OK);
    snprintf(path, sizeof path, "output.dir=%s/run_val_fork", tmpdir);
    assert_int_equal(tern_config_set(&cfg, path), TERN_OK);
    tern_train_opts of = {.resume = ckpt};
    tern_train_result fork;
    assert_int_equal(tern_train(&cfg, &of, &fork), TERN_OK);
    assert_true(fork.best_epoch >= res.best_epoch);
    snprintf(path, sizeof path, "%s/run_val_fork/best.h5", tmpdir);
    assert_string_equal(fork.best_checkpoint, path);
    if (fork.best_epoch == res.best_epoch) {
        static char a[1 << 20], b[1 << 20];
        size_t na = 0, nb = 0;
        assert_int_equal(read_file(res.best_checkpoint, a, sizeof a, &na), 0);
        assert_int_equal(read_file(path, b, sizeof b, &nb), 0);
        assert_true(na == nb && !memcmp(a, b, na));
        assert_true(fork.best_test_acc == res.best_test_acc);
    }
    tern_config_free(&cfg);
}

/* The epoch early stopping ends a run at, by its rule, from the validation
 * accuracies the run reported: the reference moves on a gain > min_delta. */
static int expected_stop(const vtrace *t, int patience, float min_delta) {
    double ref = 0.0;
    int stale = 0;
    for (int e = 0; e < t->epochs; e++) {
        if (e == 0 || t->val_acc[e] - ref > min_delta) ref = t->val_acc[e], stale = 0;
        else if (++stale >= patience) return e + 1;
    }
    return 0;
}

/* Early stopping ends the run at the epoch its rule gives; a run stopped
 * before (mid-epoch) and resumed stops at the same epoch with the same bits,
 * best.h5 included; and resuming the finished run is `complete`. */
static void test_early_stopping_resumes_to_same_stop(void **state) {
    (void)state;
    const char *training = ", early_stopping: {patience: 2, min_delta: 0.01}";
    tern_config cfg;
    make_config_with(&cfg, "run_es", ", validation: 0.2", training);
    assert_int_equal(tern_config_set(&cfg, "training.epochs=30"), TERN_OK);
    vtrace t = {0};
    tern_train_opts o = {.cb = vrecord, .user = &t};
    tern_train_result full;
    assert_int_equal(tern_train(&cfg, &o, &full), TERN_OK);
    int stop = expected_stop(&t, 2, 0.01f);
    print_message("early stopping after epoch %d of 30 (best epoch %d)\n", full.epochs_done, full.best_epoch);
    assert_true(stop > 2 && stop < 30);
    assert_true(full.early_stopped);
    assert_int_equal(full.epochs_done, stop);
    assert_int_equal(t.epochs, stop);
    tern_config_free(&cfg);

    make_config_with(&cfg, "run_es_resumed", ", validation: 0.2", training);
    assert_int_equal(tern_config_set(&cfg, "training.epochs=30"), TERN_OK);
    tern_train_opts o1 = {.stop_after_steps = 8L * (stop - 2) + 3};
    tern_train_result part, rest;
    assert_int_equal(tern_train(&cfg, &o1, &part), TERN_OK);
    assert_true(part.stopped && !part.early_stopped);
    tern_train_opts o2 = {.resume = part.checkpoint};
    assert_int_equal(tern_train(&cfg, &o2, &rest), TERN_OK);
    assert_true(rest.early_stopped && !rest.stopped);
    assert_int_equal(rest.epochs_done, stop);
    assert_int_equal(rest.steps, full.steps);
    assert_int_equal(rest.best_epoch, full.best_epoch);
    assert_memory_equal(&rest.best_test_acc, &full.best_test_acc, sizeof(float));
    assert_memory_equal(&rest.test_loss, &full.test_loss, sizeof(float));
    const char *files[2] = {"last.h5", "best.h5"};
    for (int k = 0; k < 2; k++) {
        char a[512], b[512];
        snprintf(a, sizeof a, "%s/run_es/%s", tmpdir, files[k]);
        snprintf(b, sizeof b, "%s/run_es_resumed/%s", tmpdir, files[k]);
        size_t na, nb;
        float *pa = ckpt_params(&cfg, a, &na), *pb = ckpt_params(&cfg, b, &nb);
        assert_int_equal(na, nb);
        assert_memory_equal(pa, pb, sizeof(float) * na);
        free(pa);
        free(pb);
    }
    /* Ended by early stopping: complete, nothing trained or written. */
    trace none = {0};
    tern_train_opts o3 = {.resume = rest.checkpoint, .cb = record, .user = &none};
    tern_train_result again;
    assert_int_equal(tern_train(&cfg, &o3, &again), TERN_OK);
    assert_true(again.complete && again.early_stopped);
    assert_int_equal(again.epochs_done, stop);
    assert_int_equal(none.n, 0);
    tern_config_free(&cfg);
}

/* With normalize: compute, the statistics are those of the part trained
 * on, and every split (validation, test) is normalised by them. */
static void test_validation_statistics_from_training_part(void **state) {
    (void)state;
    tern_config cfg;
    make_config_with(&cfg, "unused", ", validation: 60", "");
    tern_dataset train, val, test, raw, raw_val, raw_test;
    tern_dataset *all[6] = {&train, &val, &test, &raw, &raw_val, &raw_test};
    for (int i = 0; i < 6; i++) tern_dataset_init(all[i]);
    assert_int_equal(tern_dataset_load_for_config(&cfg, NULL, &train, &val, &test), TERN_OK);
    assert_int_equal(train.n, 240);
    assert_int_equal(val.n, 60);
    assert_true(val.normalized && test.normalized);
    assert_true(val.mean[0] == train.mean[0] && test.std[0] == train.std[0]);
    assert_int_equal(tern_config_set(&cfg, "dataset.normalize=none"), TERN_OK);
    assert_int_equal(tern_dataset_load_for_config(&cfg, NULL, &raw, &raw_val, &raw_test), TERN_OK);
    assert_int_equal(memcmp(raw_val.labels, val.labels, sizeof(int) * 60), 0); /* the same split */
    float mean, std;
    assert_int_equal(tern_dataset_stats(&raw, &mean, &std), TERN_OK);
    assert_true(mean == train.mean[0] && std == train.std[0]);
    for (int i = 0; i < 6; i++) tern_dataset_free(all[i]);
    tern_config_free(&cfg);
}

/* Early stopping without a validation split: an error at the key. */
static void test_early_stopping_needs_validation(void **state) {
    (void)state;
    tern_config cfg;
    make_config_with(&cfg, "run_es_noval", "", ", early_stopping: {patience: 3}");
    tern_train_result res;
    assert_int_equal(tern_train(&cfg, NULL, &res), TERN_ERR_CONFIG);
    if (!strstr(tern_errmsg(), "test.yaml:12:") || !strstr(tern_errmsg(), "training.early_stopping.patience: "))
        fail_msg("%s", tern_errmsg());
    tern_config_free(&cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_is_bit_exact),
        cmocka_unit_test(test_nan_stops_and_keeps_checkpoint),
        cmocka_unit_test(test_existing_run_is_not_replaced),
        cmocka_unit_test(test_one_sample_tail_is_dropped),
        cmocka_unit_test(test_finished_run_is_complete),
        cmocka_unit_test(test_resume_meta_out_of_range),
        cmocka_unit_test(test_caller_pool_same_bits),
        cmocka_unit_test(test_best_checkpoint_on_improvement),
        cmocka_unit_test(test_early_stopping_resumes_to_same_stop),
        cmocka_unit_test(test_early_stopping_needs_validation),
        cmocka_unit_test(test_validation_statistics_from_training_part),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
