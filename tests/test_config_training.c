/* test_config_training.c — the config keys of better training (teacher:,
 * training.label_smoothing, schedule one_cycle) and the --set rule: every
 * shipped config takes --set training.epochs=1 with its other overrides in
 * any order, and tern_config_set_all checks cross-field rules once. */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tern.h"
#include "tmpdir.h"

static const char *src_path(const char *rel) {
    static char buf[1024];
    const char *src = getenv("TERN_SOURCE_DIR");
    snprintf(buf, sizeof buf, "%s/%s", src ? src : "..", rel);
    return buf;
}

static void expect_contains(const char *part) {
    if (!strstr(tern_errmsg(), part)) fail_msg("message '%s' does not contain '%s'", tern_errmsg(), part);
    if (strchr(tern_errmsg(), '\n')) fail_msg("message '%s' is not one line", tern_errmsg());
}

/* Load, apply sets[0..n) one by one (each checked), and make the schedule
 * of a 469-batch epoch (MNIST's at batch 128). */
static void load_set_sched(const char *path, const char *const *sets, int n) {
    tern_config c;
    if (tern_config_load(&c, path)) fail_msg("%s: %s", path, tern_errmsg());
    for (int i = 0; i < n; i++)
        if (tern_config_set(&c, sets[i])) fail_msg("%s --set %s: %s", path, sets[i], tern_errmsg());
    assert_int_equal(c.training.epochs, 1);
    tern_sched s;
    if (tern_config_sched(&c, 469, &s)) fail_msg("%s: schedule: %s", path, tern_errmsg());
    assert_true(tern_sched_lr(&s, 468) >= 0.0f);
    tern_config_free(&c);
}

static void test_epochs_1_any_order_every_config(void **state) {
    (void)state;
    glob_t g;
    assert_int_equal(glob(src_path("configs/*.yaml"), 0, NULL, &g), 0);
    assert_true(g.gl_pathc >= 4);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        tern_config c;
        if (tern_config_load(&c, g.gl_pathv[i])) fail_msg("%s: %s", g.gl_pathv[i], tern_errmsg());
        const char *other = c.schedule.kind == TERN_SCHED_COSINE ? "schedule.warmup_epochs=0.5"
                            : c.schedule.kind == TERN_SCHED_ONE_CYCLE ? "schedule.pct_start=0.2"
                                                                      : "training.batch_size=64";
        tern_config_free(&c);
        const char *alone[] = {"training.epochs=1"};
        const char *first[] = {"training.epochs=1", other}, *last[] = {other, "training.epochs=1"};
        load_set_sched(g.gl_pathv[i], alone, 1);
        load_set_sched(g.gl_pathv[i], first, 2);
        load_set_sched(g.gl_pathv[i], last, 2);
    }
    globfree(&g);
}

#define HEAD "dataset: {name: mnist}\nmodel:\n  layers:\n    - {type: linear, out: 10}\n"

static void load_text_ok(tern_config *c, const char *text) {
    if (tern_config_load_text(c, text, strlen(text), "t.yaml")) fail_msg("%s", tern_errmsg());
}

/* A warm-up longer than the run is all of it but the last step. */
static void test_long_warmup_is_clamped(void **state) {
    (void)state;
    tern_config c;
    load_text_ok(&c, HEAD "optimizer: {lr: 0.1}\nschedule: {name: cosine, warmup_epochs: 5}\ntraining: {epochs: 2}\n");
    tern_sched s;
    assert_int_equal(tern_config_sched(&c, 10, &s), TERN_OK);
    assert_int_equal(s.warmup_steps, 19);
    assert_true(tern_sched_lr(&s, 17) < tern_sched_lr(&s, 18) && tern_sched_lr(&s, 18) == 0.1f);
    tern_config_free(&c);
}

/* lr below min_lr is wrong one override at a time in one order, right all at once. */
static void test_set_all_checks_once(void **state) {
    (void)state;
    tern_config c;
    load_text_ok(&c, HEAD "optimizer: {lr: 0.1}\nschedule: {name: cosine, min_lr: 0.01}\n");
    const char *a[] = {"optimizer.lr=0.001", "schedule.min_lr=0"}, *b[] = {"schedule.min_lr=0", "optimizer.lr=0.001"};
    assert_int_equal(tern_config_set(&c, a[0]), TERN_ERR_CONFIG);
    expect_contains("--set optimizer.lr=0.001: t.yaml:");
    expect_contains("schedule.min_lr: 0.01 must be in [0, optimizer.lr = 0.001]");
    assert_int_equal(tern_config_set_all(&c, 2, a), TERN_OK);
    assert_true(c.optimizer.lr == 0.001f && c.schedule.min_lr == 0.0f);
    tern_config_free(&c);
    load_text_ok(&c, HEAD "optimizer: {lr: 0.1}\nschedule: {name: cosine, min_lr: 0.01}\n");
    assert_int_equal(tern_config_set_all(&c, 2, b), TERN_OK);
    assert_true(c.optimizer.lr == 0.001f && c.schedule.min_lr == 0.0f);
    /* an error in a later override names it; cfg stays as it was */
    const char *bad[] = {"training.epochs=2", "schedule.min_lr=1"};
    assert_int_equal(tern_config_set_all(&c, 2, bad), TERN_ERR_CONFIG);
    expect_contains("--set schedule.min_lr=1: schedule.min_lr: 1 must be in [0, optimizer.lr = 0.001]");
    assert_int_equal(c.training.epochs, 10);
    const char *malformed[] = {"training.epochs=2", "nonsense"};
    assert_int_equal(tern_config_set_all(&c, 2, malformed), TERN_ERR_CONFIG);
    expect_contains("--set nonsense: expected section.key=value");
    tern_config_free(&c);
}

static void test_new_keys_and_defaults(void **state) {
    (void)state;
    tern_config c;
    load_text_ok(&c, HEAD "optimizer: {lr: 0.1}\nschedule: {name: one_cycle}\ntraining: {label_smoothing: 0.1}\n"
                      "teacher: {checkpoint: runs/t/last.h5}\n");
    assert_int_equal(c.schedule.kind, TERN_SCHED_ONE_CYCLE);
    assert_true(c.schedule.pct_start == 0.3f && c.schedule.div_factor == 25.0f && c.schedule.final_div_factor == 1e4f);
    assert_true(c.training.label_smoothing == 0.1f);
    assert_string_equal(c.teacher.checkpoint, "runs/t/last.h5");
    assert_true(c.teacher.temperature == 4.0f && c.teacher.weight == 0.5f);
    tern_sched s;
    assert_int_equal(tern_config_sched(&c, 100, &s), TERN_OK);
    assert_int_equal(s.kind, TERN_SCHED_ONE_CYCLE);
    assert_int_equal(s.total_steps, 1000);
    /* the resolved YAML loads back to the same values */
    char *text;
    size_t len;
    assert_int_equal(tern_config_to_yaml(&c, &text, &len), TERN_OK);
    tern_config d;
    if (tern_config_load_text(&d, text, len, "resolved.yaml")) fail_msg("%s\n%s", tern_errmsg(), text);
    assert_true(d.schedule.kind == TERN_SCHED_ONE_CYCLE && d.schedule.pct_start == 0.3f);
    assert_true(d.training.label_smoothing == 0.1f && d.teacher.weight == 0.5f && d.teacher.temperature == 4.0f);
    assert_string_equal(d.teacher.checkpoint, "runs/t/last.h5");
    free(text);
    tern_config_free(&d);
    assert_int_equal(tern_config_set(&c, "teacher.temperature=2"), TERN_OK);
    assert_true(c.teacher.temperature == 2.0f);
    tern_config_free(&c);
    /* no teacher: section, no distillation */
    load_text_ok(&c, HEAD "optimizer: {lr: 0.1}\n");
    assert_string_equal(c.teacher.checkpoint, "");
    assert_true(c.training.label_smoothing == 0.0f);
    tern_config_free(&c);
}

static void expect_bad(const char *tail, const char *part) {
    char text[1024];
    snprintf(text, sizeof text, HEAD "optimizer: {lr: 0.1}\n%s", tail);
    tern_config c;
    assert_int_equal(tern_config_load_text(&c, text, strlen(text), "t.yaml"), TERN_ERR_CONFIG);
    expect_contains(part);
    tern_config_free(&c);
}

static void test_bad_values(void **state) {
    (void)state;
    expect_bad("training: {label_smoothing: 1}\n", "t.yaml:6:29: training.label_smoothing: 1 is outside [0, 1)");
    expect_bad("training: {label_smoothing: -0.1}\n", "training.label_smoothing: -0.1 is outside [0, 1)");
    expect_bad("teacher: {checkpoint: a.h5, temperature: 0}\n", "teacher.temperature: 0 must be finite and > 0");
    expect_bad("teacher: {checkpoint: a.h5, weight: 1.5}\n", "teacher.weight: 1.5 is outside [0, 1]");
    expect_bad("teacher: {checkpoint: ''}\n", "teacher.checkpoint: is empty");
    expect_bad("teacher: {weight: 0.5}\n", "checkpoint");
    expect_bad("teacher: {checkpoint: a.h5, temp: 2}\n", "teacher.temp: unknown key (checkpoint, temperature, weight)");
    expect_bad("schedule: {name: one_cycle, pct_start: 1}\n", "schedule.pct_start: 1 must be in (0, 1)");
    expect_bad("schedule: {name: one_cycle, div_factor: 0}\n", "schedule.div_factor: 0 must be > 0");
    expect_bad("schedule: {name: one_cycle, final_div_factor: -1}\n", "schedule.final_div_factor: -1 must be > 0");
    expect_bad("schedule: {name: cosine, pct_start: 0.3}\n",
               "schedule.pct_start: cosine takes no 'pct_start' (its keys: name, warmup_epochs, min_lr)");
    expect_bad("schedule: {name: one_cycle, warmup_epochs: 1}\n",
               "one_cycle takes no 'warmup_epochs' (its keys: name, pct_start, div_factor, final_div_factor)");
}

/* teacher.checkpoint resolves like dataset.path: here, else from the config's repository root. */
static void test_teacher_path(void **state) {
    (void)state;
    assert_int_equal(tmpdir_make("teacher"), 0);
    char dir[600], file[700], cfgp[700], root_file[700];
    snprintf(dir, sizeof dir, "%s/configs", tmpdir);
    assert_int_equal(mkdir(dir, 0777), 0);
    snprintf(root_file, sizeof root_file, "%s/t.h5", tmpdir);
    assert_int_equal(tmpdir_write_text(root_file, "x"), 0);
    snprintf(cfgp, sizeof cfgp, "%s/c.yaml", dir);
    assert_int_equal(tmpdir_write_text(cfgp, HEAD "optimizer: {lr: 0.1}\nteacher: {checkpoint: t.h5}\n"), 0);
    tern_config c;
    assert_int_equal(tern_config_load(&c, cfgp), TERN_OK);
    char out[1500];
    assert_int_equal(tern_config_teacher_path(&c, out, sizeof out), TERN_OK);
    snprintf(file, sizeof file, "%s/../t.h5", dir);
    assert_string_equal(out, file);
    assert_int_equal(tern_config_set(&c, "teacher.checkpoint=missing.h5"), TERN_OK);
    assert_int_equal(tern_config_teacher_path(&c, out, sizeof out), TERN_ERR_IO);
    expect_contains("teacher.checkpoint: no file 'missing.h5' here nor at");
    tern_config_free(&c);
    tmpdir_teardown(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epochs_1_any_order_every_config),
        cmocka_unit_test(test_long_warmup_is_clamped),
        cmocka_unit_test(test_set_all_checks_once),
        cmocka_unit_test(test_new_keys_and_defaults),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_teacher_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
