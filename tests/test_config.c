/* test_config.c — YAML run configs: the shipped configs, the resolved YAML
 * round trip, --set overrides and every kind of bad input.
 *
 * Expected values come from the YAML files and from hand counts (parameter
 * totals of the shipped models, line:column of each error in the small
 * documents below), never from the module's own output. */
#define _DEFAULT_SOURCE    /* mkdtemp */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tern.h"
#include "tmpdir.h"


/* ---- helpers ------------------------------------------------------------ */

static const char *config_path(const char *name) {
    static char buf[4][1024];
    static int next;
    char *p = buf[next++ % 4];
    const char *src = getenv("TERN_SOURCE_DIR");
    snprintf(p, 1024, "%s/configs/%s", src ? src : "..", name);
    return p;
}

static const char *tpath(const char *name) {
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static void write_text(const char *path, const char *text) { assert_int_equal(tmpdir_write_text(path, text), 0); }

static void load_ok(tern_config *c, const char *path) {
    tern_status st = tern_config_load(c, path);
    if (st) fail_msg("%s: %s", path, tern_errmsg());
}

static void set_ok(tern_config *c, const char *assignment) {
    tern_status st = tern_config_set(c, assignment);
    if (st) fail_msg("--set %s: %s", assignment, tern_errmsg());
}

static void expect_prefix(const char *prefix) {
    if (strncmp(tern_errmsg(), prefix, strlen(prefix)))
        fail_msg("message '%s' does not start with '%s'", tern_errmsg(), prefix);
}

static void expect_contains(const char *part) {
    if (!strstr(tern_errmsg(), part)) fail_msg("message '%s' does not contain '%s'", tern_errmsg(), part);
    if (strchr(tern_errmsg(), '\n')) fail_msg("message '%s' is not one line", tern_errmsg());
}

/* Parameters (weights, biases, scales, batchnorm statistics) of the model the
 * config describes, built on input (C, H, W). */
static size_t model_params(const tern_config *c, int ch, int hw, int *n_classes, int *n_ternary) {
    tern_model m;
    int shape[3] = {ch, hw, hw};
    tern_status st = tern_model_init(&m, c->model.layers, c->model.n_layers, 3, shape, c->model.init, 1);
    if (st) fail_msg("%s: model: %s", c->source, tern_errmsg());
    size_t n = 0;
    for (int i = 0; i < m.params.count; i++) n += m.params.items[i].t.n;
    *n_classes = m.n_classes;
    *n_ternary = 0;
    for (int i = 0; i < m.n_layers; i++) *n_ternary += m.layers[i].spec.ternary;
    tern_model_free(&m);
    return n;
}

/* The first line whose text starts with `start`, 1-based; found in the file
 * independently of the config module. */
static int line_of(const char *path, const char *start) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    int n = 0, found = 0;
    while (fgets(line, sizeof line, f)) {
        n++;
        if (!strncmp(line, start, strlen(start))) {
            found = n;
            break;
        }
    }
    fclose(f);
    assert_true(found > 0);
    return found;
}

static void assert_same_resolved(const tern_config *a, const tern_config *b) {
    assert_string_equal(a->dataset.name, b->dataset.name);
    assert_string_equal(a->dataset.path, b->dataset.path);
    assert_int_equal(a->dataset.channels, b->dataset.channels);
    assert_memory_equal(&a->dataset.norm, &b->dataset.norm, sizeof a->dataset.norm);
    assert_memory_equal(&a->dataset.augment, &b->dataset.augment, sizeof a->dataset.augment);
    assert_int_equal(a->model.init, b->model.init);
    assert_int_equal(a->model.n_layers, b->model.n_layers);
    for (int i = 0; i < a->model.n_layers; i++) {
        const tern_layer_spec *x = &a->model.layers[i], *y = &b->model.layers[i];
        assert_string_equal(x->name, y->name);
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->ternary, y->ternary);
        assert_int_equal(x->quant.method, y->quant.method);
        assert_true(x->quant.t == y->quant.t);
        assert_memory_equal(x, y, sizeof *x);
    }
    assert_int_equal(a->quant.enabled, b->quant.enabled);
    assert_memory_equal(&a->quant.defaults, &b->quant.defaults, sizeof a->quant.defaults);
    assert_true(a->quant.alpha_lr == b->quant.alpha_lr);
    assert_memory_equal(&a->optimizer, &b->optimizer, sizeof a->optimizer);
    assert_memory_equal(&a->schedule, &b->schedule, sizeof a->schedule);
    assert_memory_equal(&a->training, &b->training, sizeof a->training);
    assert_string_equal(a->output_dir, b->output_dir);
}

/* to_yaml → load_text → the same resolved values, and the same YAML again. */
static void round_trip(const tern_config *c) {
    char *text, *again;
    size_t len, len2;
    assert_int_equal(tern_config_to_yaml(c, &text, &len), TERN_OK);
    assert_int_equal(strlen(text), len);
    tern_config d;
    tern_status st = tern_config_load_text(&d, text, len, c->source);
    if (st) fail_msg("reloading the resolved YAML: %s\n%s", tern_errmsg(), text);
    assert_same_resolved(c, &d);
    assert_int_equal(tern_config_to_yaml(&d, &again, &len2), TERN_OK);
    assert_string_equal(text, again);
    free(text);
    free(again);
    tern_config_free(&d);
}

/* The shipped configs train W1.58A8: every ternary layer on 8-bit inputs, so
 * the exported model runs the int8 kernels exactly as trained. Returns the
 * number of ternary layers (at least one). */
static int assert_w158a8(const tern_config *c) {
    int n = 0;
    assert_int_equal(c->quant.defaults.act_bits, 8);
    for (int i = 0; i < c->model.n_layers; i++) {
        const tern_layer_spec *L = &c->model.layers[i];
        if (!L->ternary) continue;
        if (L->quant.act_bits != 8) fail_msg("%s: layer %s: act_bits %d, not 8", c->source, L->name, L->quant.act_bits);
        n++;
    }
    assert_true(n > 0);
    return n;
}

/* ---- shipped configs ---------------------------------------------------- */

static void test_mnist_mlp(void **state) {
    (void)state;
    tern_config c;
    load_ok(&c, config_path("mnist_mlp.yaml"));
    assert_string_equal(c.dataset.name, "mnist");
    assert_string_equal(c.dataset.path, "datasets/data/mnist");
    assert_int_equal(c.dataset.channels, 1);
    assert_int_equal(c.dataset.norm.mode, TERN_NORM_GIVEN);
    assert_true(c.dataset.norm.mean[0] == 0.1307f && c.dataset.norm.std[0] == 0.3081f);
    assert_int_equal(c.model.n_layers, 6);
    const tern_layer_spec *L = c.model.layers;
    assert_int_equal(L[0].type, TERN_LAYER_FLATTEN);
    assert_string_equal(L[0].name, "flatten0");  /* tern_model_init's default name rule */
    assert_int_equal(L[1].type, TERN_LAYER_LINEAR);
    assert_string_equal(L[1].name, "fc1");
    assert_int_equal(L[1].out, 256);
    assert_int_equal(L[1].no_bias, 1);
    assert_int_equal(L[1].ternary, 1);
    assert_int_equal(L[1].quant.method, TERN_QUANT_TWN);
    assert_true(L[1].quant.t == 0.7f);
    assert_int_equal(assert_w158a8(&c), 2);
    assert_int_equal(L[2].type, TERN_LAYER_BATCHNORM);
    assert_int_equal(L[2].act, TERN_ACT_RELU);
    assert_true(L[2].momentum == 0.1f && L[2].eps == 1e-5f);
    assert_int_equal(L[3].ternary, 1);
    assert_int_equal(L[5].out, 10);
    assert_int_equal(L[5].ternary, 0);
    assert_int_equal(L[5].no_bias, 0);
    assert_int_equal(c.optimizer.cfg.kind, TERN_OPTIM_ADAM);
    assert_true(c.optimizer.lr == 3e-3f);
    assert_true(c.optimizer.cfg.beta2 == 0.999f);  /* PyTorch's default, not written in the file */
    assert_int_equal(c.schedule.kind, TERN_SCHED_ONE_CYCLE);
    assert_int_equal(c.training.epochs, 10);
    assert_int_equal(c.training.batch_size, 128);
    assert_string_equal(c.output_dir, "runs/mnist_mlp");

    /* 784-256-256-10: fc1 784*256, fc2 256*256 (no biases), fc3 256*10+10,
     * two batchnorms with weight, bias, running mean and var of 256 each. */
    int classes, ternary;
    assert_int_equal(model_params(&c, 1, 28, &classes, &ternary), 784 * 256 + 256 * 256 + (256 * 10 + 10) + 2 * 4 * 256);
    assert_int_equal(classes, 10);
    assert_int_equal(ternary, 2);
    round_trip(&c);

    set_ok(&c, "quant.act_bits=0");  /* ternary on float activations */
    for (int i = 0; i < c.model.n_layers; i++) assert_int_equal(c.model.layers[i].quant.act_bits, 0);
    round_trip(&c);
    set_ok(&c, "quant.enabled=false");  /* the fp32 twin */
    for (int i = 0; i < c.model.n_layers; i++) assert_int_equal(c.model.layers[i].ternary, 0);
    model_params(&c, 1, 28, &classes, &ternary);
    assert_int_equal(ternary, 0);
    round_trip(&c);
    tern_config_free(&c);
}

static void test_mnist_lenet5(void **state) {
    (void)state;
    tern_config c;
    load_ok(&c, config_path("mnist_lenet5.yaml"));
    assert_int_equal(assert_w158a8(&c), 2);
    assert_int_equal(c.model.n_layers, 10);
    const tern_layer_spec *L = c.model.layers;
    assert_int_equal(L[0].type, TERN_LAYER_CONV2D);
    assert_int_equal(L[0].kernel, 5);
    assert_int_equal(L[0].stride, 1);
    assert_int_equal(L[0].ternary, 0);  /* hybrid: first conv fp32 */
    assert_int_equal(L[2].type, TERN_LAYER_MAXPOOL);
    assert_int_equal(L[2].stride, 2);   /* a pool's stride defaults to its kernel */
    assert_int_equal(L[3].ternary, 1);
    assert_int_equal(L[7].ternary, 1);
    assert_int_equal(L[9].ternary, 0);  /* and the classifier */
    /* 28 -conv5-> 24 -pool-> 12 -conv5-> 8 -pool-> 4: 64*4*4 = 1024 features. */
    int classes, ternary;
    size_t want = 32 * 1 * 25 + 4 * 32 + 64 * 32 * 25 + 4 * 64 + 1024 * 512 + 4 * 512 + 512 * 10 + 10;
    assert_int_equal(model_params(&c, 1, 28, &classes, &ternary), want);
    assert_int_equal(classes, 10);
    assert_int_equal(ternary, 2);
    round_trip(&c);
    tern_config_free(&c);
}

static void test_fashion_cnn(void **state) {
    (void)state;
    tern_config c;
    load_ok(&c, config_path("fashion_cnn.yaml"));
    assert_int_equal(assert_w158a8(&c), 4);
    assert_string_equal(c.dataset.name, "fashion-mnist");
    assert_int_equal(c.dataset.augment.crop_pad, 2);
    assert_int_equal(c.dataset.augment.hflip, 1);
    assert_true(c.schedule.warmup_epochs == 1.0f);
    int classes, ternary;
    /* 28 -pool-> 14 -pool-> 7: 64*7*7 = 3136 features into fc1. */
    size_t want = 32 * 1 * 9 + 32 * 32 * 9 + 64 * 32 * 9 + 64 * 64 * 9 + 3136 * 256 + 256 * 10 + 10 +
                  4 * (32 + 32 + 64 + 64 + 256);
    assert_int_equal(model_params(&c, 1, 28, &classes, &ternary), want);
    assert_int_equal(classes, 10);
    assert_int_equal(ternary, 4);
    round_trip(&c);
    tern_config_free(&c);
}

static void test_cifar10_vgg_small(void **state) {
    (void)state;
    tern_config c;
    load_ok(&c, config_path("cifar10_vgg_small.yaml"));
    assert_int_equal(assert_w158a8(&c), 6);
    assert_string_equal(c.dataset.name, "cifar10");
    assert_int_equal(c.dataset.channels, 3);
    assert_true(c.dataset.norm.mean[2] == 0.4465f && c.dataset.norm.std[1] == 0.2435f);
    assert_int_equal(c.dataset.augment.crop_pad, 4);
    int classes, ternary;
    /* 32 -pool-> 16 -pool-> 8 -pool-> 4: 128*4*4 = 2048 features into fc1. */
    size_t want = 32 * 3 * 9 + 32 * 32 * 9 + 64 * 32 * 9 + 64 * 64 * 9 + 128 * 64 * 9 + 128 * 128 * 9 + 2048 * 256 +
                  256 * 10 + 10 + 4 * (32 + 32 + 64 + 64 + 128 + 128 + 256);
    assert_int_equal(model_params(&c, 3, 32, &classes, &ternary), want);
    assert_int_equal(classes, 10);
    assert_int_equal(ternary, 6);
    round_trip(&c);
    tern_config_free(&c);
}

/* ---- overrides ----------------------------------------------------------- */

static void test_overrides(void **state) {
    (void)state;
    tern_config c;
    load_ok(&c, config_path("mnist_mlp.yaml"));

    set_ok(&c, "training.epochs=3");
    assert_int_equal(c.training.epochs, 3);
    set_ok(&c, " training.seed = 1099511627776");  /* 2^40: a 64-bit seed; spaces around the key */
    assert_true(c.training.seed == 1099511627776ULL);
    set_ok(&c, "optimizer.lr=5e-4");
    assert_true(c.optimizer.lr == 5e-4f);

    /* A layer by name and by index; the layer list itself is untouched. */
    set_ok(&c, "model.layers.fc2.out=128");
    assert_int_equal(c.model.layers[3].out, 128);
    set_ok(&c, "model.layers.3.bias=true");
    assert_int_equal(c.model.layers[3].no_bias, 0);

    /* The global method reaches layers that do not set their own; a layer's
     * own method keeps its own defaults for t and learned_alpha. */
    set_ok(&c, "model.layers.fc1.quant.method=absmean");  /* creates the layer's quant mapping */
    set_ok(&c, "quant.method=ttq");
    assert_int_equal(c.quant.defaults.method, TERN_QUANT_TTQ);
    assert_true(c.quant.defaults.t == 0.05f);
    assert_int_equal(c.quant.defaults.learned_alpha, 1);
    assert_int_equal(c.model.layers[3].quant.method, TERN_QUANT_TTQ);
    assert_int_equal(c.model.layers[1].quant.method, TERN_QUANT_ABSMEAN);
    assert_true(c.model.layers[1].quant.t == 0.7f);
    assert_int_equal(c.model.layers[1].quant.learned_alpha, 0);
    set_ok(&c, "quant.granularity=per_channel");
    assert_int_equal(c.model.layers[1].quant.granularity, TERN_QUANT_PER_CHANNEL);  /* method-independent: inherited */
    set_ok(&c, "model.layers.fc1.quant={method: twn, t: 0.5, act_bits: 8, alpha_lr: 0.1}");
    assert_true(c.model.layers[1].quant.t == 0.5f);
    assert_int_equal(c.model.layers[1].quant.act_bits, 8);
    assert_true(c.model.layers[1].alpha_lr == 0.1f);
    set_ok(&c, "dataset.augment.hflip=true");  /* creates dataset.augment */
    assert_int_equal(c.dataset.augment.hflip, 1);
    set_ok(&c, "optimizer={name: sgd, lr: 0.1, momentum: 0.9, nesterov: true}");
    assert_int_equal(c.optimizer.cfg.kind, TERN_OPTIM_SGD);
    assert_int_equal(c.optimizer.cfg.nesterov, 1);
    set_ok(&c, "schedule={name: step, step_epochs: 2.5, gamma: 0.5}");
    round_trip(&c);  /* the resolved YAML carries all of it */

    /* Failures name the override and leave the config as it was. */
    assert_int_equal(tern_config_set(&c, "training.epochs=abc"), TERN_ERR_CONFIG);
    assert_string_equal(tern_errmsg(), "--set training.epochs=abc: training.epochs: expected an integer, got 'abc'");
    assert_int_equal(c.training.epochs, 3);
    assert_int_equal(tern_config_set(&c, "training.epochs=2.5"), TERN_ERR_CONFIG);
    expect_prefix("--set training.epochs=2.5: training.epochs: expected an integer");
    assert_int_equal(tern_config_set(&c, "training.epochs=\"4\""), TERN_ERR_CONFIG);
    expect_contains("quoted");
    assert_int_equal(tern_config_set(&c, "training.epoch=4"), TERN_ERR_CONFIG);
    expect_prefix("--set training.epoch=4: training.epoch: unknown key (epochs, batch_size");
    assert_int_equal(tern_config_set(&c, "model.layers.fc1.out=-3"), TERN_ERR_CONFIG);
    expect_prefix("--set model.layers.fc1.out=-3: model.layers.1.out: -3 must be >= 1");
    assert_int_equal(c.model.layers[1].out, 256);
    assert_int_equal(tern_config_set(&c, "model.layers.7.out=3"), TERN_ERR_CONFIG);
    expect_prefix("--set model.layers.7.out=3: model.layers: no item '7'");
    assert_int_equal(tern_config_set(&c, "model.layers.fc9.out=3"), TERN_ERR_CONFIG);
    expect_contains("no item 'fc9'");
    assert_int_equal(tern_config_set(&c, "model.layers.0.quant.method=ttq"), TERN_ERR_CONFIG);
    expect_contains("a flatten layer takes no 'quant'");
    assert_int_equal(tern_config_set(&c, "training.epochs.max=3"), TERN_ERR_CONFIG);
    expect_contains("training.epochs: is a single value");
    assert_int_equal(tern_config_set(&c, "training.epochs"), TERN_ERR_CONFIG);
    expect_contains("expected section.key=value");
    assert_int_equal(tern_config_set(&c, "=3"), TERN_ERR_CONFIG);
    assert_int_equal(tern_config_set(&c, "training..epochs=3"), TERN_ERR_CONFIG);
    assert_int_equal(tern_config_set(&c, "training.epochs=[3"), TERN_ERR_CONFIG);
    expect_prefix("--set training.epochs=[3: malformed value:");
    assert_int_equal(tern_config_set(&c, "training.epochs="), TERN_ERR_CONFIG);
    expect_contains("expected an integer, got nothing");
    assert_int_equal(tern_config_set(&c, "quant.method=tnw"), TERN_ERR_CONFIG);
    expect_contains("unknown method 'tnw' (twn, absmean, ttq)");
    assert_int_equal(c.training.epochs, 3);
    assert_int_equal(c.quant.defaults.method, TERN_QUANT_TTQ);
    round_trip(&c);
    tern_config_free(&c);

    /* An override that breaks a value written in the file points at the file. */
    const char *path = config_path("mnist_mlp.yaml");
    load_ok(&c, path);
    assert_int_equal(tern_config_set(&c, "dataset.name=cifar10"), TERN_ERR_CONFIG);
    char want[1200];
    snprintf(want, sizeof want, "--set dataset.name=cifar10: %s:%d:9: dataset.mean: 1 values for cifar10's 3 channels",
             path, line_of(path, "  mean:"));
    assert_string_equal(tern_errmsg(), want);
    assert_string_equal(c.dataset.name, "mnist");
    tern_config_free(&c);

    tern_config empty;
    memset(&empty, 0, sizeof empty);
    assert_int_equal(tern_config_set(&empty, "training.epochs=3"), TERN_ERR_ARG);
}

/* ---- bad input ------------------------------------------------------------ */

#define HEAD "dataset: {name: mnist}\nmodel:\n  layers:\n    - {type: linear, out: 10}\noptimizer: {lr: 0.1}\n"
#define ONE "dataset: {name: mnist}\nmodel:\n  layers:\n"  /* then the layers */

/* A bad document, where its error must point and what it must say. `at` is
 * "@LINE:COL", or text in the document: the error points at its first
 * character ("before|text": at `text` after `before`), found by the test. */
static const struct bad_case {
    const char *text, *at, *path, *what;
} bad_cases[] = {
    /* malformed YAML: libyaml reports where it gave up, and what it was in */
    {"dataset:\n  name: \"mnist\n", "@3:1", "",
     "malformed YAML: found unexpected end of stream (while scanning a quoted scalar at line 2, column 9)"},
    {"dataset: {name: mnist\n", "@2:1", "", "malformed YAML"},
    {"a: 1\n---\nb: 2\n", "---", "", "a config is one YAML document"},
    {"dataset: &d {name: mnist}\nmodel: *d\n", "*d", "", "aliases"},
    /* unknown and duplicate keys: the key */
    {"dataset:\n  name: mnist\n  nmae: x\n", "nmae", "dataset.nmae", "unknown key (name, path, normalize, mean, std, augment"},
    {HEAD "trainig: {epochs: 3}\n", "trainig", "trainig", "unknown key (dataset, model, quant, optimizer"},
    {HEAD "training:\n  epochs: 3\n  epochs: 4\n", "epochs: 4", "training.epochs", "duplicate key (first at line 7)"},
    {ONE "    - {type: linear, out: 3, kernel: 3}\noptimizer: {lr: 1}\n", "kernel", "model.layers.0.kernel",
     "a linear layer takes no 'kernel' (its keys: type, name, out, bias, act, ternary, quant)"},
    {ONE "    - {type: relu, ternary: true}\n    - {type: linear, out: 3}\noptimizer: {lr: 1}\n", "ternary",
     "model.layers.0.ternary", "a relu layer takes no 'ternary'"},
    {ONE "    - {type: linear, out: 3}\noptimizer: {lr: 1, momentum: 0.9}\n", "momentum", "optimizer.momentum",
     "adam takes no 'momentum'"},
    /* wrong types: the value */
    {HEAD "training:\n  epochs: ten\n", "ten", "training.epochs", "expected an integer, got 'ten'"},
    {HEAD "training:\n  epochs: 3.0\n", "3.0", "training.epochs", "expected an integer, got '3.0'"},
    {HEAD "training:\n  epochs: \"3\"\n", "\"3\"", "training.epochs", "expected an integer, got the quoted string \"3\""},
    {HEAD "training:\n  epochs: 99999999999\n", "99999999999", "training.epochs", "out of range"},
    {HEAD "training:\n  seed: -1\n", "-1", "training.seed", "out of range"},
    {HEAD "quant: {learned_alpha: 2}\n", "learned_alpha: |2", "quant.learned_alpha", "expected true or false, got '2'"},
    {ONE "    - {type: linear, out: 10}\noptimizer: {lr: fast}\n", "fast", "optimizer.lr", "expected a number, got 'fast'"},
    {ONE "    - {type: linear, out: 10}\noptimizer: {lr: .inf}\n", ".inf", "optimizer.lr", "expected a finite number, got '.inf'"},
    /* numbers out of the range of their type: rejected before any cast, naming the range */
    {ONE "    - {type: linear, out: 10}\noptimizer: {lr: .nan}\n", ".nan", "optimizer.lr", "expected a finite number, got '.nan'"},
    {ONE "    - {type: linear, out: 10}\noptimizer: {lr: -nan}\n", "-nan", "optimizer.lr", "expected a finite number"},
    {ONE "    - {type: linear, out: 10}\noptimizer: {lr: 1e39}\n", "1e39", "optimizer.lr",
     "1e39 is out of range (a float holds 0 and magnitudes 1.4e-45 to 3.4e+38)"},
    {ONE "    - {type: linear, out: 10}\noptimizer: {lr: 1e-50}\n", "1e-50", "optimizer.lr", "1e-50 is out of range"},
    {HEAD "quant: {t: 1e400}\n", "1e400", "quant.t", "1e400 is out of range"},
    {HEAD "training: {batch_size: 1e300}\n", "1e300", "training.batch_size", "expected an integer, got '1e300'"},
    {HEAD "training: {epochs: 4611686018427387904}\n", "4611686018427387904", "training.epochs",
     "4611686018427387904 is out of range (-2147483648..2147483647)"},
    {HEAD "training: {seed: 18446744073709551615}\n", "18446744073709551615", "training.seed",
     "is out of range (0..9223372036854775807)"},
    {HEAD "training: {batch_size: 2000000000}\n", "2000000000", "training.batch_size", "2000000000 is outside 1..1073741824"},
    {ONE "    - {type: conv2d, out: 4, kernel: 100000}\n    - {type: flatten}\noptimizer: {lr: 1}\n", "100000",
     "model.layers.0.kernel", "100000 is outside 1..65535"},
    {ONE "    - {type: conv2d, out: 4, kernel: 3, stride: 2147483647}\n    - {type: flatten}\noptimizer: {lr: 1}\n",
     "2147483647", "model.layers.0.stride", "2147483647 is outside 1..65535"},
    /* 2 * pad overflowed an int here before the window check */
    {ONE "    - {type: maxpool, kernel: 2, pad: 1500000000}\n    - {type: flatten}\noptimizer: {lr: 1}\n", "1500000000",
     "model.layers.0.pad", "1500000000 is outside 0..65535"},
    {"dataset: mnist\n", "mnist", "dataset", "expected a mapping (name, path"},
    {"dataset: {name: mnist}\nmodel:\n  layers: {type: linear}\n", "{type", "model.layers", "expected a list, got a mapping"},
    {"dataset: {name: mnist}\nmodel:\n  layers: []\noptimizer: {lr: 1}\n", "[]", "model.layers", "expected at least 1 items, got 0"},
    {"dataset: {name: [mnist]}\n", "[mnist]", "dataset.name", "expected a string, got a list"},
    {HEAD "training:\n  epochs:\n", "@7:10", /* an empty value sits right after its colon */ "training.epochs", "expected an integer, got nothing"},
    /* missing required keys: the mapping that lacks them */
    {"dataset: {path: x}\n", "{path", "dataset", "missing 'name'"},
    {ONE "    - {out: 10}\noptimizer: {lr: 1}\n", "{out", "model.layers.0", "missing 'type'"},
    {ONE "    - {type: linear, out: 10}\n", "@1:1", "", "missing 'optimizer'"},
    {"", "@1:1", "", "expected a mapping (dataset, model"},
    /* meanings: the value */
    {ONE "    - {type: linaer, out: 10}\noptimizer: {lr: 1}\n", "linaer", "model.layers.0.type",
     "unknown layer type 'linaer' (linear, conv2d, maxpool, avgpool, global_avgpool, batchnorm, relu, hardtanh, dropout, "
     "flatten, add)"},
    {ONE "    - {type: linear, out: -5}\noptimizer: {lr: 1}\n", "-5", "model.layers.0.out", "-5 must be >= 1"},
    {ONE "    - {type: linear}\noptimizer: {lr: 1}\n", "{type", "model.layers.0", "a linear layer needs 'out'"},
    {ONE "    - {type: conv2d, out: 4, kernel: 0}\n    - {type: flatten}\noptimizer: {lr: 1}\n", "kernel: |0",
     "model.layers.0.kernel", "0 is outside 1..65535"},
    {ONE "    - {type: linear, out: 3, ternary: false, quant: {t: 0.5}}\noptimizer: {lr: 1}\n", "{t:", "model.layers.0.quant",
     "ternary: false"},
    {ONE "    - {type: linear, out: 3, name: fc}\n    - {type: linear, out: 4, name: fc}\noptimizer: {lr: 1}\n",
     "out: 4, name: |fc", "model.layers.1.name", "layer name 'fc' is taken by layer 0"},
    /* a taken name is reported in layer order: before a later layer's error, and before the layer's own
     * errors that come after its name */
    {ONE "    - {type: linear, out: 3, name: fc}\n    - {type: linear, out: 4, name: fc}\n    - {type: linear, out: -1}\n"
         "optimizer: {lr: 1}\n",
     "out: 4, name: |fc", "model.layers.1.name", "layer name 'fc' is taken by layer 0"},
    {ONE "    - {type: linear, out: 3, name: fc}\n    - {type: linear, name: fc, out: -4}\noptimizer: {lr: 1}\n",
     "linear, name: |fc", "model.layers.1.name", "layer name 'fc' is taken by layer 0"},
    {ONE "    - {type: linear, out: 3, name: a}\n    - {type: linear, out: 3, name: b}\n    - {type: linear, out: 5, name: b}\n"
         "    - {type: linear, out: 3, name: a}\noptimizer: {lr: 1}\n",
     "out: 5, name: |b", "model.layers.2.name", "layer name 'b' is taken by layer 1"},
    {ONE "    - {type: relu}\n    - {type: linear, out: 3, name: relu0}\noptimizer: {lr: 1}\n", "relu0",
     "model.layers.1.name", "layer name 'relu0' is taken by layer 0"},
    {ONE "    - {type: linear, out: 3, name: relu1}\n    - {type: relu}\noptimizer: {lr: 1}\n", "{type: relu}",
     "model.layers.1", "layer name 'relu1' is taken by layer 0"},
    {ONE "    - {type: linear, out: 3, name: fc.1}\noptimizer: {lr: 1}\n", "fc.1", "model.layers.0.name", "letters, digits and _"},
    {ONE "    - {type: add, from: 0}\noptimizer: {lr: 1}\n", "from: |0", "model.layers.0.from", "must name an earlier layer"},
    {ONE "    - {type: maxpool, kernel: 2, pad: 2}\n    - {type: flatten}\noptimizer: {lr: 1}\n", "pad: |2", "model.layers.0.pad",
     "exceeds half"},
    {ONE "    - {type: dropout, p: 1.0}\noptimizer: {lr: 1}\n", "1.0", "model.layers.0.p", "outside [0, 1)"},
    {ONE "    - {type: batchnorm, act: gelu}\noptimizer: {lr: 1}\n", "gelu", "model.layers.0.act",
     "unknown activation 'gelu' (none, relu, hardtanh)"},
    {HEAD "quant: {method: tnw}\n", "tnw", "quant.method", "unknown method 'tnw' (twn, absmean, ttq)"},
    {HEAD "quant: {t: -0.5}\n", "-0.5", "quant.t", "threshold factor -0.5 must be >= 0"},
    {HEAD "quant: {act_bits: 4}\n", "act_bits: |4", "quant.act_bits", "0 (float) or 8"},
    {HEAD "quant: {granularity: per_row}\n", "per_row", "quant.granularity", "(per_tensor, per_channel)"},
    {HEAD "quant: {method: ttq, learned_alpha: false}\n", "false", "quant.learned_alpha", "always learned"},
    {ONE "    - {type: linear, out: 3, quant: {ste: straight}}\noptimizer: {lr: 1}\n", "straight", "model.layers.0.quant.ste",
     "unknown ste 'straight' (identity, clipped)"},
    {ONE "    - {type: linear, out: 3}\noptimizer: {name: lamb, lr: 1}\n", "lamb", "optimizer.name",
     "unknown optimizer 'lamb' (sgd, adam, adamw)"},
    {ONE "    - {type: linear, out: 3}\noptimizer: {lr: 0}\n", "lr: |0", "optimizer.lr", "must be > 0"},
    {ONE "    - {type: linear, out: 3}\noptimizer: {lr: 1, beta2: 1}\n", "beta2: |1", "optimizer.beta2", "outside [0, 1)"},
    {HEAD "schedule: {name: linear}\n", "schedule: {name: |linear", "schedule.name", "unknown schedule 'linear' (constant, step, cosine, one_cycle)"},
    {HEAD "schedule: {name: cosine, warmup_epochs: -1}\n", "warmup_epochs: |-1", "schedule.warmup_epochs",
     "must be finite and >= 0"},
    {HEAD "schedule: {name: step}\n", "{name: step}", "schedule", "step needs step_epochs"},
    {HEAD "training: {batch_size: 0}\n", "batch_size: |0", "training.batch_size", "0 is outside 1..1073741824"},
    {HEAD "training: {epochs: -2}\n", "-2", "training.epochs", "-2 must be >= 1"},
    {HEAD "training: {threads: 65}\n", "65", "training.threads", "65 is outside 0..64"},
    {"dataset: {name: svhn}\nmodel: {layers: [{type: flatten}]}\noptimizer: {lr: 1}\n", "svhn", "dataset.name", "unknown dataset 'svhn' (mnist, fashion-mnist, cifar10, folder, npy, csv)"},
    {"dataset: {name: mnist, normalize: zscore}\nmodel: {layers: [{type: flatten}]}\noptimizer: {lr: 1}\n", "zscore", "dataset.normalize", "(none, given, compute)"},
    {"dataset: {name: cifar10, normalize: given, mean: [0.5], std: [1, 1, 1]}\nmodel: {layers: [{type: flatten}]}\noptimizer: {lr: 1}\n",
     "[0.5]", "dataset.mean", "1 values for cifar10's 3 channels"},
    {"dataset: {name: mnist, normalize: given, mean: [0.5], std: [0]}\nmodel: {layers: [{type: flatten}]}\noptimizer: {lr: 1}\n",
     "std: [|0", "dataset.std.0", "std 0 must be > 0"},
    {"dataset: {name: mnist, mean: [0.5]}\nmodel: {layers: [{type: flatten}]}\noptimizer: {lr: 1}\n", "[0.5]", "dataset.mean",
     "only used with normalize: given"},
    {"dataset: {name: mnist, augment: {crop_pad: 40}}\nmodel: {layers: [{type: flatten}]}\noptimizer: {lr: 1}\n", "40",
     "dataset.augment.crop_pad", "must be in 0..28"},
};

/* 1-based line and column of the case's marker, counted in the text. */
static void marker_position(const struct bad_case *b, int *line, int *col) {
    if (b->at[0] == '@') {
        assert_int_equal(sscanf(b->at + 1, "%d:%d", line, col), 2);
        return;
    }
    const char *bar = strchr(b->at, '|'), *target = bar ? bar + 1 : b->at;
    const char *p = b->text;
    if (bar) {
        char before[64];
        snprintf(before, sizeof before, "%.*s", (int)(bar - b->at), b->at);
        p = strstr(p, before);
        if (!p || strstr(p + 1, before)) fail_msg("marker '%s' is not in the text exactly once", b->at);
    } else if (!strstr(b->text, target) || strstr(strstr(b->text, target) + 1, target)) {
        fail_msg("marker '%s' is not in the text exactly once", b->at);
    }
    p = strstr(p, target);
    assert_non_null(p);
    *line = 1;
    const char *start = b->text;
    for (const char *c = b->text; c < p; c++)
        if (*c == '\n') ++*line, start = c + 1;
    *col = (int)(p - start) + 1;
}

static void test_bad_input(void **state) {
    (void)state;
    const char *path = tpath("bad.yaml");
    for (size_t i = 0; i < sizeof bad_cases / sizeof *bad_cases; i++) {
        const struct bad_case *b = &bad_cases[i];
        write_text(path, b->text);
        tern_config c;
        tern_status st = tern_config_load(&c, path);
        if (st != TERN_ERR_CONFIG)
            fail_msg("case %zu: status %s (%s) for\n%s", i, tern_status_name(st), tern_errmsg(), b->text);
        int line, col;
        marker_position(b, &line, &col);
        char prefix[700];
        snprintf(prefix, sizeof prefix, "%s:%d:%d: %s%s", path, line, col, b->path, b->path[0] ? ": " : "");
        expect_prefix(prefix);
        expect_contains(b->what);
        assert_null(c.doc);  /* left empty */
        assert_null(c.model.layers);
        tern_config_free(&c);
    }
}

static void test_bad_files(void **state) {
    (void)state;
    tern_config c;
    assert_int_equal(tern_config_load(&c, tpath("missing.yaml")), TERN_ERR_IO);
    expect_contains("missing.yaml: cannot open");
    write_text(tpath("nul.yaml"), "a: 1\n");
    FILE *f = fopen(tpath("nul.yaml"), "ab");
    assert_non_null(f);
    fputc('\0', f);
    fclose(f);
    assert_int_equal(tern_config_load(&c, tpath("nul.yaml")), TERN_ERR_FORMAT);
    expect_contains("NUL byte");
    assert_int_equal(tern_config_load(NULL, "x"), TERN_ERR_ARG);
    assert_int_equal(tern_config_load(&c, NULL), TERN_ERR_ARG);
    /* A tab where YAML wants spaces. */
    write_text(tpath("tab.yaml"), "dataset:\n\tname: mnist\n");
    assert_int_equal(tern_config_load(&c, tpath("tab.yaml")), TERN_ERR_CONFIG);
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s:2:1: malformed YAML", tpath("tab.yaml"));
    expect_prefix(prefix);
}

/* ---- text loading, writing, schedules, data directories ----------------- */

static void test_text_and_write(void **state) {
    (void)state;
    tern_config c, d;
    const char *text = HEAD "training: {epochs: 4}\n";
    assert_int_equal(tern_config_load_text(&c, text, strlen(text), "ckpt.h5:config"), TERN_OK);
    assert_string_equal(c.output_dir, "runs/ckpt.h5:config");
    assert_int_equal(c.model.layers[0].ternary, 1);  /* linear layers are ternary by default */
    assert_int_equal(c.training.epochs, 4);
    assert_int_equal(c.training.batch_size, 128);
    /* Messages name the given source. */
    assert_int_equal(tern_config_load_text(&d, "x: 1\n", 5, "ckpt.h5:config"), TERN_ERR_CONFIG);
    expect_prefix("ckpt.h5:config:1:1: x: unknown key");

    const char *out = tpath("resolved.yaml");
    assert_int_equal(tern_config_write(&c, out), TERN_OK);
    struct stat sb;
    assert_int_equal(stat(tpath("resolved.yaml.tmp"), &sb), -1);  /* renamed into place */
    load_ok(&d, out);
    assert_string_equal(d.output_dir, "runs/ckpt.h5:config");  /* written explicitly, not re-derived */
    assert_int_equal(d.training.epochs, 4);
    assert_same_resolved(&c, &d);
    tern_config_free(&d);
    assert_int_equal(tern_config_write(&c, tpath("no/such/dir/x.yaml")), TERN_ERR_IO);
    tern_config_free(&c);
}

static void test_sched(void **state) {
    (void)state;
    tern_config c;
    tern_sched s;
    load_ok(&c, config_path("fashion_cnn.yaml"));  /* cosine, 15 epochs, 1 warm-up epoch */
    assert_int_equal(tern_config_sched(&c, 469, &s), TERN_OK);
    assert_int_equal(s.kind, TERN_SCHED_COSINE);
    assert_int_equal(s.total_steps, 15 * 469);
    assert_int_equal(s.warmup_steps, 469);
    assert_true(s.base_lr == 1e-3f && s.min_lr == 0.0f);
    assert_int_equal(tern_config_sched(&c, 0, &s), TERN_ERR_ARG);
    set_ok(&c, "schedule={name: step, step_epochs: 2.5, gamma: 0.5}");
    assert_int_equal(tern_config_sched(&c, 4, &s), TERN_OK);
    assert_int_equal(s.kind, TERN_SCHED_STEP);
    assert_int_equal(s.step_size, 10);  /* 2.5 epochs of 4 steps */
    assert_true(s.gamma == 0.5f);
    /* An interval past the run's end never decays; 3e38 epochs of steps
     * overflowed lround. */
    set_ok(&c, "schedule.step_epochs=3e38");
    assert_int_equal(tern_config_sched(&c, 7500, &s), TERN_OK);
    assert_int_equal(s.step_size, 15 * 7500);
    assert_true(tern_sched_lr(&s, 15 * 7500 - 1) == 1e-3f);
    /* A step count that does not fit a long is refused, not wrapped. */
    assert_int_equal(tern_config_sched(&c, LONG_MAX / 2, &s), TERN_ERR_ARG);
    expect_contains("do not fit a step counter");
    set_ok(&c, "schedule={name: step, step_epochs: 2.5, gamma: 0.5}");
    /* Keys set by an earlier override are named with it. */
    assert_int_equal(tern_config_set(&c, "schedule.name=constant"), TERN_ERR_CONFIG);
    assert_string_equal(tern_errmsg(), "--set schedule.name=constant: --set schedule={name: step, step_epochs: 2.5, gamma: 0.5}: "
                                       "schedule.step_epochs: constant takes no 'step_epochs' (its keys: name)");
    set_ok(&c, "schedule={name: constant}");
    assert_int_equal(c.schedule.kind, TERN_SCHED_CONSTANT);
    assert_int_equal(tern_config_sched(&c, 4, &s), TERN_OK);
    assert_true(tern_sched_lr(&s, 1000) == 1e-3f);
    tern_config_free(&c);
    load_ok(&c, config_path("mnist_mlp.yaml"));
    assert_int_equal(tern_config_set(&c, "schedule.name=step"), TERN_ERR_CONFIG);
    expect_contains("step needs step_epochs");
    tern_config_free(&c);
}

static void test_dataset_dir(void **state) {
    (void)state;
    char root[600], dir[1400], out[1400];
    snprintf(root, sizeof root, "%s/repo", tmpdir);
    assert_int_equal(mkdir(root, 0700), 0);
    snprintf(dir, sizeof dir, "%s/configs", root);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(dir, sizeof dir, "%s/datasets", root);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(dir, sizeof dir, "%s/datasets/data", root);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(dir, sizeof dir, "%s/datasets/data/mnist", root);
    assert_int_equal(mkdir(dir, 0700), 0);
    char cfgpath[700];
    snprintf(cfgpath, sizeof cfgpath, "%s/configs/run.yaml", root);
    write_text(cfgpath, HEAD);
    tern_config c;
    load_ok(&c, cfgpath);
    /* ctest runs in the build tree, which has no datasets/data/mnist of its own. */
    struct stat sb;
    if (stat("datasets/data/mnist", &sb) == 0) skip();
    assert_int_equal(tern_config_dataset_dir(&c, out, sizeof out), TERN_OK);
    char want[1400];
    snprintf(want, sizeof want, "%s/configs/../datasets/data/mnist", root);
    assert_string_equal(out, want);
    set_ok(&c, "dataset.path=/abs/elsewhere");
    assert_int_equal(tern_config_dataset_dir(&c, out, sizeof out), TERN_OK);
    assert_string_equal(out, "/abs/elsewhere");
    set_ok(&c, "dataset.path=nowhere/mnist");
    assert_int_equal(tern_config_dataset_dir(&c, out, sizeof out), TERN_ERR_IO);
    expect_contains("no directory 'nowhere/mnist'");
    tern_config_free(&c);
}

/* ---- main --------------------------------------------------------------- */

static int setup(void **state) {
    (void)state;
    return tmpdir_make("config");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mnist_mlp),      cmocka_unit_test(test_mnist_lenet5),
        cmocka_unit_test(test_fashion_cnn),    cmocka_unit_test(test_cifar10_vgg_small),
        cmocka_unit_test(test_overrides),      cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_bad_files),      cmocka_unit_test(test_text_and_write),
        cmocka_unit_test(test_sched),          cmocka_unit_test(test_dataset_dir),
    };
    return cmocka_run_group_tests(tests, setup, tmpdir_teardown);
}
