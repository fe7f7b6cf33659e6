/* test_teacher.c — knowledge distillation in the training loop: a teacher
 * checkpoint changes the student's training, a run with a teacher resumes
 * bit for bit, and a teacher that does not fit the student (missing, not a
 * checkpoint, other normalisation, other class count) is refused with one
 * line naming the file, before anything is written. Runs on a small
 * synthetic MNIST-format dataset (synth_idx.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"
#include "tern/checkpoint.h"
#include "tern/config.h"
#include "tern/restore.h"
#include "tern/train.h"
#include "synth_idx.h"

static int setup(void **state) {
    (void)state;
    if (tmpdir_make("teacher")) return -1;
    char data[300];
    snprintf(data, sizeof data, "%s/data", tmpdir);
    synth_idx_dataset(data);
    return 0;
}

/* A 12x12 synthetic-MNIST MLP; `extra` is appended (teacher:, quant:, ...). */
static void make_config(tern_config *cfg, const char *run, const char *norm, int classes, const char *extra) {
    char text[2048];
    snprintf(text, sizeof text,
             "dataset: {name: mnist, path: %s/data, normalize: %s, augment: {hflip: true}}\n"
             "model:\n"
             "  layers:\n"
             "    - {type: flatten}\n"
             "    - {type: linear, name: fc1, out: 32, bias: false}\n"
             "    - {type: batchnorm, name: bn1, act: relu}\n"
             "    - {type: dropout, p: 0.2}\n"
             "    - {type: linear, name: fc2, out: %d, ternary: false}\n"
             "optimizer: {name: adam, lr: 0.01}\n"
             "schedule: {name: one_cycle}\n"
             "training: {epochs: 3, batch_size: 32, seed: 7, threads: 1}\n"
             "output: {dir: %s/%s}\n%s",
             tmpdir, norm, classes, tmpdir, run, extra);
    if (tern_config_load_text(cfg, text, strlen(text), "test.yaml")) fail_msg("%s", tern_errmsg());
}

/* The fp32 teacher, trained once: <tmpdir>/teacher/last.h5. */
static void train_teacher(void) {
    tern_config cfg;
    make_config(&cfg, "teacher", "compute", 10, "quant: {enabled: false}\n");
    tern_train_result r;
    assert_int_equal(tern_train(&cfg, NULL, &r), TERN_OK);
    tern_config_free(&cfg);
}

typedef struct {
    float loss[64];
    int n;
} trace;

static void record(const tern_train_event *ev, void *user) {
    trace *t = user;
    if (ev->kind == TERN_TRAIN_EV_STEP && t->n < 64) t->loss[t->n++] = ev->loss;
}

static float *ckpt_params(const tern_config *cfg, const char *path, size_t *n) {
    tern_model m;
    int in[3] = {1, 12, 12};
    assert_int_equal(tern_restore_model(&m, NULL, cfg, in, path), TERN_OK);
    *n = m.params.total;
    float *copy = malloc(sizeof(float) * *n);
    memcpy(copy, m.params.data, sizeof(float) * *n);
    tern_model_free(&m);
    return copy;
}

static void student_config(tern_config *cfg, const char *run) {
    make_config(cfg, run, "compute", 10, "");
    char set[640];
    snprintf(set, sizeof set, "teacher={checkpoint: %s/teacher/last.h5, temperature: 3, weight: 0.6}", tmpdir);
    const char *sets[] = {set, "training.label_smoothing=0.1"};
    if (tern_config_set_all(cfg, 2, sets)) fail_msg("%s", tern_errmsg());
}

static void test_distilled_run_resumes_bit_exact(void **state) {
    (void)state;
    train_teacher();
    tern_config cfg;
    student_config(&cfg, "full");
    trace full = {0};
    tern_train_opts o = {.cb = record, .user = &full};
    tern_train_result rf;
    assert_int_equal(tern_train(&cfg, &o, &rf), TERN_OK);
    assert_int_equal(full.n, 30);
    assert_true(rf.test_acc > 0.5f);

    /* the teacher changes the training: not the plain run's losses */
    tern_config plain;
    make_config(&plain, "plain", "compute", 10, "");
    trace tp = {0};
    tern_train_opts op = {.cb = record, .user = &tp};
    tern_train_result rp;
    assert_int_equal(tern_train(&plain, &op, &rp), TERN_OK);
    assert_true(memcmp(tp.loss, full.loss, sizeof(float) * 30) != 0);
    tern_config_free(&plain);

    /* stopped at step 13 (inside epoch 2) and resumed: the same bits */
    tern_config cs;
    student_config(&cs, "stop");
    trace ts = {0};
    tern_train_opts o1 = {.stop_after_steps = 13, .cb = record, .user = &ts};
    tern_train_result rs;
    assert_int_equal(tern_train(&cs, &o1, &rs), TERN_OK);
    assert_true(rs.stopped);
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/stop/last.h5", tmpdir);
    tern_train_opts o2 = {.resume = ckpt, .cb = record, .user = &ts};
    assert_int_equal(tern_train(&cs, &o2, &rs), TERN_OK);
    assert_int_equal(ts.n, 30);
    assert_memory_equal(ts.loss, full.loss, sizeof(float) * 30);
    assert_memory_equal(&rs.test_acc, &rf.test_acc, sizeof(float));
    char a[600];
    snprintf(a, sizeof a, "%s/full/last.h5", tmpdir);
    size_t na, nb;
    float *pa = ckpt_params(&cfg, a, &na), *pb = ckpt_params(&cfg, ckpt, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(pa, pb, sizeof(float) * na);
    free(pa);
    free(pb);
    tern_config_free(&cs);
    tern_config_free(&cfg);
}

/* A refused teacher: a one-line message containing `part`, and no run directory. */
static void expect_refused(tern_config *cfg, const char *part) {
    tern_train_result r;
    assert_int_not_equal(tern_train(cfg, NULL, &r), TERN_OK);
    if (!strstr(tern_errmsg(), part)) fail_msg("message '%s' lacks '%s'", tern_errmsg(), part);
    if (strchr(tern_errmsg(), '\n')) fail_msg("message '%s' is not one line", tern_errmsg());
    assert_int_not_equal(access(cfg->output_dir, F_OK), 0);
    tern_config_free(cfg);
}

static void with_teacher(tern_config *cfg, const char *norm, const char *path) {
    make_config(cfg, "refused", norm, 10, "");
    char set[700];
    snprintf(set, sizeof set, "teacher.checkpoint=%s", path);
    if (tern_config_set(cfg, set)) fail_msg("%s", tern_errmsg());
}

static void test_bad_teachers(void **state) {
    (void)state;
    char path[600];
    tern_config cfg;
    snprintf(path, sizeof path, "%s/none.h5", tmpdir);
    with_teacher(&cfg, "compute", path);
    expect_refused(&cfg, "teacher.checkpoint: ");
    assert_non_null(strstr(tern_errmsg(), "none.h5: cannot open"));

    snprintf(path, sizeof path, "%s/junk.h5", tmpdir);
    assert_int_equal(tmpdir_write_text(path, "not hdf5"), 0);
    with_teacher(&cfg, "compute", path);
    expect_refused(&cfg, "junk.h5: not a tern checkpoint");

    snprintf(path, sizeof path, "%s/teacher/last.h5", tmpdir); /* trained with normalize: compute */
    with_teacher(&cfg, "none", path);
    expect_refused(&cfg, "with normalize compute, but test.yaml normalizes mnist with none");

    /* a 12-class teacher: a checkpoint of its untrained model is enough */
    tern_config tc;
    make_config(&tc, "t12", "compute", 12, "");
    tern_model m;
    tern_optim o;
    int in[3] = {1, 12, 12};
    assert_int_equal(tern_model_init(&m, tc.model.layers, tc.model.n_layers, 3, in, tc.model.init, 1), TERN_OK);
    assert_int_equal(tern_optim_init(&o, &m.params, &tc.optimizer.cfg), TERN_OK);
    tern_ckpt_state ck;
    tern_ckpt_state_init(&ck, &m.params, &o);
    char *text;
    assert_int_equal(tern_config_to_yaml(&tc, &text, NULL), TERN_OK);
    ck.config_text = text;
    snprintf(path, sizeof path, "%s/t12.h5", tmpdir);
    assert_int_equal(tern_ckpt_save(path, &ck), TERN_OK);
    free(text);
    tern_optim_free(&o);
    tern_model_free(&m);
    tern_config_free(&tc);
    with_teacher(&cfg, "compute", path);
    expect_refused(&cfg, "t12.h5 has 12 classes, the student 10");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distilled_run_resumes_bit_exact),
        cmocka_unit_test(test_bad_teachers),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
