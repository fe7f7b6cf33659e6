/* test_restore.c — a model rebuilt from a training checkpoint: the restored
 * model evaluates exactly as training's last evaluation did, a checkpoint
 * refuses a model of another input size, the trainer's position survives a
 * save and a resume, both splits of a config are normalised by the
 * training split's statistics, and training leaves OpenBLAS's thread count
 * as it found it. Runs on a small synthetic MNIST-format dataset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tern.h"
#include "tmpdir.h"
#include "synth_idx.h"

static tern_train_result trained; /* the run every test restores */
static char ckpt[sizeof trained.checkpoint];

static void make_config(tern_config *cfg, const char *run) {
    char text[1024];
    snprintf(text, sizeof text,
             "dataset: {name: mnist, path: %s/data, normalize: compute}\n"
             "model:\n"
             "  layers:\n"
             "    - {type: flatten}\n"
             "    - {type: linear, name: fc1, out: 16, bias: false}\n"
             "    - {type: batchnorm, name: bn1, act: relu}\n"
             "    - {type: linear, name: fc2, out: 10, ternary: false}\n"
             "quant: {method: twn}\n"
             "optimizer: {name: adam, lr: 0.01}\n"
             "training: {epochs: 1, batch_size: 32, seed: 3, threads: 1}\n"
             "output: {dir: %s/%s}\n",
             tmpdir, tmpdir, run);
    assert_int_equal(tern_config_load_text(cfg, text, strlen(text), "test.yaml"), TERN_OK);
}

/* Train once, with OpenBLAS at 2 threads: tern_train sets 1 for its steps
 * and must give the caller's 2 back. */
static int setup(void **state) {
    (void)state;
    if (tmpdir_make("restore")) return -1;
    char data[300];
    snprintf(data, sizeof data, "%s/data", tmpdir);
    mkdir(data, 0777);
    synth_idx_write(data, "train", 200, 1);
    synth_idx_write(data, "t10k", 60, 2);
    return 0;
}

static void test_train_restores_blas_threads(void **state) {
    (void)state;
    openblas_set_num_threads(2);
    if (openblas_get_num_threads() != 2) skip(); /* a single-threaded OpenBLAS */
    tern_config cfg;
    make_config(&cfg, "run");
    assert_int_equal(tern_train(&cfg, NULL, &trained), TERN_OK);
    tern_config_free(&cfg);
    assert_int_equal(openblas_get_num_threads(), 2);
    openblas_set_num_threads(1);
}

/* The restored model with its test split evaluates as training's last evaluation did. */
static void test_restored_model_evaluates_as_trained(void **state) {
    (void)state;
    if (!trained.checkpoint[0]) {
        tern_config cfg;
        make_config(&cfg, "run");
        assert_int_equal(tern_train(&cfg, NULL, &trained), TERN_OK);
        tern_config_free(&cfg);
    }
    snprintf(ckpt, sizeof ckpt, "%s", trained.checkpoint);
    tern_config cfg;
    tern_model m;
    tern_dataset test;
    assert_int_equal(tern_dataset_load_checkpoint(ckpt, NULL, &cfg, &m, &test), TERN_OK);
    assert_string_equal(cfg.dataset.name, "mnist");
    assert_int_equal(test.n, 60);
    tern_eval_result er;
    assert_int_equal(tern_evaluate(&m, &test, cfg.training.batch_size, NULL, &er), TERN_OK);
    assert_true(er.acc == trained.test_acc);
    assert_true(er.loss == trained.test_loss);
    tern_model_free(&m);
    tern_dataset_free(&test);
    tern_config_free(&cfg);
}

/* The trained run's config, model and optimizer, restored for (1,12,12) inputs. */
static void restore_trained(tern_config *cfg, tern_model *m, tern_optim *o) {
    assert_int_equal(tern_restore_config(cfg, ckpt), TERN_OK);
    assert_int_equal(tern_restore_model(m, o, cfg, (const int[3]){1, 12, 12}, ckpt), TERN_OK);
}

/* A model built for another input size does not take the checkpoint's weights. */
static void test_restore_refuses_another_size(void **state) {
    (void)state;
    tern_config cfg;
    tern_model m;
    tern_optim o;
    restore_trained(&cfg, &m, &o);
    assert_true(o.n_state > 0 && o.step > 0); /* Adam's state, as saved */
    tern_optim_free(&o);
    tern_model_free(&m);
    assert_int_equal(tern_restore_model(&m, NULL, &cfg, (const int[3]){1, 13, 12}, ckpt), TERN_ERR_FORMAT);
    assert_null(m.layers);
    tern_config_free(&cfg);
}

/* The position written by tern_restore_set_position is what tern_restore_resume reads. */
static void test_position_round_trip(void **state) {
    (void)state;
    tern_config cfg;
    tern_model m;
    tern_optim o;
    restore_trained(&cfg, &m, &o);
    tern_ckpt_state ck;
    tern_ckpt_state_init(&ck, &m.params, &o);
    const tern_restore_position want = {.epoch = 3, .step = 41, .batch = 5, .loss_sum = 12.5, .correct = 90, .seen = 160};
    assert_int_equal(tern_restore_set_position(&ck, &want), TERN_OK);
    char path[600];
    snprintf(path, sizeof path, "%s/position.h5", tmpdir);
    assert_int_equal(tern_ckpt_save(path, &ck), TERN_OK);
    tern_restore_position got;
    assert_int_equal(tern_restore_resume(&ck, path, 7, 32, &got), TERN_OK);
    assert_int_equal(got.epoch, 3);
    assert_int_equal(got.step, 41);
    assert_int_equal(got.batch, 5);
    assert_true(got.loss_sum == 12.5);
    assert_int_equal(got.correct, 90);
    assert_int_equal(got.seen, 160);
    /* 5 batches done do not fit an epoch of 5 batches under another config. */
    assert_int_equal(tern_restore_resume(&ck, path, 5, 32, &got), TERN_ERR_FORMAT);
    assert_non_null(strstr(tern_errmsg(), "/meta attribute 'batch' is 5"));
    tern_optim_free(&o);
    tern_model_free(&m);
    tern_config_free(&cfg);
}

/* normalize: compute: both splits by the training split's statistics, also
 * when only the test split is asked for. */
static void test_splits_normalised_as_in_training(void **state) {
    (void)state;
    tern_config cfg;
    make_config(&cfg, "unused");
    tern_dataset train, test, alone;
    tern_dataset_init(&train);
    tern_dataset_init(&test);
    tern_dataset_init(&alone);
    assert_int_equal(tern_dataset_load_for_config(&cfg, NULL, &train, NULL, &test), TERN_OK);
    assert_int_equal(tern_dataset_load_for_config(&cfg, NULL, NULL, NULL, &alone), TERN_OK);
    assert_true(train.normalized && test.normalized && alone.normalized);
    assert_true(train.mean[0] > 0.0f && train.std[0] > 0.0f);
    assert_true(test.mean[0] == train.mean[0] && test.std[0] == train.std[0]);
    assert_int_equal(memcmp(test.images, alone.images, sizeof(float) * 60 * 144), 0);
    tern_dataset_free(&train);
    tern_dataset_free(&test);
    tern_dataset_free(&alone);
    tern_config_free(&cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_restores_blas_threads),
        cmocka_unit_test(test_restored_model_evaluates_as_trained),
        cmocka_unit_test(test_restore_refuses_another_size),
        cmocka_unit_test(test_position_round_trip),
        cmocka_unit_test(test_splits_normalised_as_in_training),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
