/* test_init_from.c — a fine-tune's start (tern_restore_init_from,
 * tern_train_opts.init_from): a model of the checkpoint's config gets its
 * parameters bit for bit, buffers included; a layer whose precision
 * changed keeps its weights and gains (closed-form) or drops its learned
 * scales; a checkpoint of other layers is refused naming the file and the
 * parameter, leaving the model as it was; a run with init_from starts at
 * the checkpoint's loss with a fresh optimizer, and a resume ignores it.
 * Runs on the small synthetic MNIST-format dataset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern.h"
#include "synth_idx.h"
#include "tmpdir.h"

static char ckpt[TERN_CONFIG_PATH_LEN + 16]; /* the trained base run's last.h5 */
static float fresh_loss, base_loss;          /* the base's first step's loss; its last epoch's mean */

/* The first STEP's loss and step, the epoch and step START gave. */
typedef struct seen {
    int steps, start_epoch;
    long start_step, first_step;
    float first_loss;
} seen;

static void on_event(const tern_train_event *ev, void *user) {
    seen *s = user;
    if (ev->kind == TERN_TRAIN_EV_START) {
        s->start_epoch = ev->epoch;
        s->start_step = ev->step;
    } else if (ev->kind == TERN_TRAIN_EV_STEP && s->steps++ == 0) {
        s->first_loss = ev->step_loss;
        s->first_step = ev->step;
    }
}

/* The base: fc1 ternary with ttq's learned scales (fc1.alpha, fc1.alpha_neg),
 * batchnorm, fc2 fp32; run directory tmpdir/<run>, then the overrides. */
static void load_config(tern_config *cfg, const char *run, int n, const char *const *sets) {
    char data[300], text[1024], dir[400];
    snprintf(data, sizeof data, "%s/data", tmpdir);
    synth_mlp_yaml(text, sizeof text, data);
    snprintf(dir, sizeof dir, "output: {dir: %s/%s}\nquant: {method: ttq}\n", tmpdir, run);
    strncat(text, dir, sizeof text - strlen(text) - 1);
    assert_int_equal(tern_config_load_text(cfg, text, strlen(text), "base.yaml"), TERN_OK);
    assert_int_equal(tern_config_set_all(cfg, n, sets), TERN_OK);
}

static void build(tern_model *m, const tern_config *cfg) {
    const int in[3] = {1, 12, 12};
    assert_int_equal(tern_model_init(m, cfg->model.layers, cfg->model.n_layers, 3, in, cfg->model.init,
                                     cfg->training.seed + 1),
                     TERN_OK);
}

/* The checkpoint's model, as the trainer saved it. */
static void load_base(tern_model *b) {
    tern_config cfg;
    assert_int_equal(tern_restore_config(&cfg, ckpt), TERN_OK);
    const int in[3] = {1, 12, 12};
    assert_int_equal(tern_restore_model(b, NULL, &cfg, in, ckpt), TERN_OK);
    tern_config_free(&cfg);
}

static void assert_same_param(tern_model *m, tern_model *b, const char *name) {
    tern_param *p = tern_params_find(&m->params, name), *q = tern_params_find(&b->params, name);
    assert_non_null(p);
    assert_non_null(q);
    assert_true(tern_tensor_same_shape(&p->t, &q->t));
    assert_memory_equal(p->t.data, q->t.data, sizeof(float) * p->t.n);
}

static int setup(void **state) {
    (void)state;
    if (tmpdir_make("init_from")) return -1;
    char data[300];
    snprintf(data, sizeof data, "%s/data", tmpdir);
    synth_idx_dataset(data);
    tern_config cfg;
    const char *sets[] = {"training.epochs=3"};
    load_config(&cfg, "base", 1, sets);
    seen s = {0};
    tern_train_opts o = {.cb = on_event, .user = &s};
    tern_train_result res;
    tern_status st = tern_train(&cfg, &o, &res);
    tern_config_free(&cfg);
    if (st) return -1;
    snprintf(ckpt, sizeof ckpt, "%s", res.checkpoint);
    fresh_loss = s.first_loss;
    char csv[400];
    snprintf(csv, sizeof csv, "%s/base/metrics.csv", tmpdir);
    FILE *f = fopen(csv, "r");
    char line[4096];
    int epoch = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "%d,%f", &epoch, &base_loss) != 2) base_loss = NAN;
    if (f) fclose(f);
    return epoch == 3 && base_loss > 0.0f ? 0 : -1;
}

/* The same config: every parameter, buffers included, bit for bit. */
static void test_same_config_copies_every_parameter(void **state) {
    (void)state;
    tern_config cfg;
    load_config(&cfg, "x", 0, NULL);
    tern_model m, b;
    build(&m, &cfg);
    load_base(&b);
    assert_int_equal(tern_restore_init_from(&m, ckpt), TERN_OK);
    assert_int_equal(m.params.count, b.params.count);
    assert_int_equal(m.params.count, 9); /* fc1 weight, alpha, alpha_neg; bn1 four; fc2 weight, bias */
    for (int i = 0; i < m.params.count; i++) assert_same_param(&m, &b, m.params.items[i].name);
    assert_non_null(tern_params_find(&m.params, "bn1.running_var"));
    tern_model_free(&m);
    tern_model_free(&b);
    tern_config_free(&cfg);
}

/* fc1 ternary -> fp32: its weights, no scales; fc2 fp32 -> ternary (ttq):
 * its weights, and the scales the closed form gives for them. */
static void test_precision_flips(void **state) {
    (void)state;
    tern_config cfg;
    const char *sets[] = {"model.layers.fc1.ternary=false", "model.layers.fc2.ternary=true"};
    load_config(&cfg, "x", 2, sets);
    tern_model m, b;
    build(&m, &cfg);
    load_base(&b);
    assert_int_equal(tern_restore_init_from(&m, ckpt), TERN_OK);
    assert_null(tern_params_find(&m.params, "fc1.alpha"));
    assert_null(tern_params_find(&m.params, "fc1.alpha_neg"));
    const char *same[] = {"fc1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
                          "fc2.weight", "fc2.bias"};
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) assert_same_param(&m, &b, same[i]);

    const tern_layer *L = &m.layers[3];
    assert_string_equal(L->spec.name, "fc2");
    assert_int_equal(L->spec.quant.method, TERN_QUANT_TTQ);
    assert_true(L->alpha >= 0 && L->alpha_neg >= 0);
    float wp = 0.0f, wn = 0.0f;
    tern_tensor tp = tern_tensor_view(&wp, NULL, 1, (int[]){1}), tn = tern_tensor_view(&wn, NULL, 1, (int[]){1});
    assert_int_equal(tern_quant_alpha_init(&tern_params_find(&b.params, "fc2.weight")->t, &L->spec.quant, &tp, &tn),
                     TERN_OK);
    assert_true(wp > 0.0f && wn > 0.0f);
    assert_memory_equal(m.params.items[L->alpha].t.data, &wp, sizeof wp);
    assert_memory_equal(m.params.items[L->alpha_neg].t.data, &wn, sizeof wn);
    tern_model_free(&m);
    tern_model_free(&b);
    tern_config_free(&cfg);
}

/* Another architecture: TERN_ERR_FORMAT naming the file and the parameter,
 * and the model as it was. */
static void refused(const char *set, const char *param) {
    tern_config cfg;
    load_config(&cfg, "x", 1, &set);
    tern_model m;
    build(&m, &cfg);
    size_t bytes = sizeof(float) * m.params.total;
    float *before = malloc(bytes);
    memcpy(before, m.params.data, bytes);
    assert_int_equal(tern_restore_init_from(&m, ckpt), TERN_ERR_FORMAT);
    const char *msg = tern_errmsg();
    assert_non_null(strstr(msg, ckpt));
    assert_non_null(strstr(msg, param));
    assert_non_null(strstr(msg, "another architecture"));
    assert_null(strchr(msg, '\n'));
    assert_memory_equal(m.params.data, before, bytes);
    free(before);
    tern_model_free(&m);
    tern_config_free(&cfg);
}

static void test_another_architecture_is_refused(void **state) {
    (void)state;
    refused("model.layers.fc1.out=24", "'fc1.weight' is (16,144) in the checkpoint but (24,144)");
    refused("model.layers.fc1.bias=true", "'fc1.bias' of the model is not in the checkpoint");
    refused("model.layers.fc1.quant.granularity=per_channel", "'fc1.alpha' is (1) in the checkpoint but (16)");
    /* Not a checkpoint at all: the loader's error, naming the file. */
    tern_config cfg;
    load_config(&cfg, "x", 0, NULL);
    tern_model m;
    build(&m, &cfg);
    char missing[400];
    snprintf(missing, sizeof missing, "%s/none.h5", tmpdir);
    assert_int_not_equal(tern_restore_init_from(&m, missing), TERN_OK);
    assert_non_null(strstr(tern_errmsg(), missing));
    tern_model_free(&m);
    tern_config_free(&cfg);
}

/* A run with init_from and a tiny lr starts at the checkpoint's loss, far
 * below a fresh start's, from step 0 with a fresh optimizer; with a layer
 * flipped too. A resume with init_from set ignores it. */
static void test_train_starts_from_checkpoint(void **state) {
    (void)state;
    const char *flips[] = {NULL, "model.layers.fc1.ternary=false"};
    for (int k = 0; k < 2; k++) {
        tern_config cfg;
        const char *sets[] = {"optimizer.lr=1e-9", flips[k]};
        load_config(&cfg, k ? "ft_flip" : "ft", k ? 2 : 1, sets);
        seen s = {0};
        tern_train_opts o = {.init_from = ckpt, .stop_after_steps = 1, .cb = on_event, .user = &s};
        tern_train_result res;
        assert_int_equal(tern_train(&cfg, &o, &res), TERN_OK);
        print_message("fine-tune %d: first loss %.4f, base's last epoch %.4f, fresh start %.4f\n", k, s.first_loss,
                      base_loss, fresh_loss);
        assert_int_equal(s.start_epoch, 1);
        assert_int_equal(s.start_step, 0);
        assert_int_equal(s.first_step, 1);
        assert_true(s.first_loss < 0.5f * fresh_loss);
        assert_true(s.first_loss < 1.5f * base_loss);
        tern_ckpt_info info;
        assert_int_equal(tern_ckpt_read_info(res.checkpoint, &info), TERN_OK);
        assert_int_equal(info.step, 1);
        assert_int_equal(info.optim_step, 1); /* Adam's state from step 0, not the base's */
        tern_config_free(&cfg);
    }
    /* Resumed, init_from (here a file that does not exist) plays no part. */
    char ft[400], none[400];
    snprintf(ft, sizeof ft, "%s/ft/last.h5", tmpdir);
    snprintf(none, sizeof none, "%s/none.h5", tmpdir);
    tern_config cfg;
    const char *sets[] = {"optimizer.lr=1e-9"};
    load_config(&cfg, "ft", 1, sets);
    seen s = {0};
    tern_train_opts o = {.resume = ft, .init_from = none, .stop_after_steps = 2, .cb = on_event, .user = &s};
    tern_train_result res;
    assert_int_equal(tern_train(&cfg, &o, &res), TERN_OK);
    assert_int_equal(s.start_step, 1);
    assert_int_equal(s.first_step, 2);
    assert_int_equal(res.steps, 2);
    tern_config_free(&cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_config_copies_every_parameter),
        cmocka_unit_test(test_precision_flips),
        cmocka_unit_test(test_another_architecture_is_refused),
        cmocka_unit_test(test_train_starts_from_checkpoint),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
