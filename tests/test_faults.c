/* test_faults.c — allocation failures in tern's loaders, as SQLite's fault
 * tests do it.
 *
 * Each case runs a loader with the Nth allocation made by tern's own code
 * failing (malloc_count.h), for N = 1, 2, ... until a run completes without
 * reaching N. Every N must give a clean error: a non-OK status with a
 * message, no crash, and once the caller has freed what it owns, no block
 * allocated by tern during the call left live. The run that completes must
 * succeed, and leak nothing either. Loaders that promise to leave their
 * output untouched on failure (the training checkpoint) are checked for it.
 * Skipped under AddressSanitizer (MALLOC_COUNT_AVAILABLE is 0 there): the
 * program exits 77, which ctest reports as skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "malloc_count.h"
#include "synth_idx.h"
#include "tern.h"
#include "tmpdir.h"

/* One loader under test: setup (not armed) makes a fresh input state, run
 * (armed) is the call, teardown (armed, frees only) releases what the caller
 * owns after it, check (not armed) looks at the outcome. */
typedef struct fault_case {
    const char *name;
    void (*setup)(void *ctx);
    tern_status (*run)(void *ctx);
    void (*teardown)(void *ctx);
    void (*check)(void *ctx, tern_status st);
    void *ctx;
} fault_case;

static void nothing(void *ctx) { (void)ctx; }

static void fault_loop(const fault_case *c) {
    /* Warm-up: lazily made, process-lifetime allocations happen here. */
    c->setup(c->ctx);
    tern_status st = c->run(c->ctx);
    if (st) fail_msg("%s: fails without injected faults: %s", c->name, tern_errmsg());
    c->teardown(c->ctx);
    for (long n = 1;; n++) {
        c->setup(c->ctx);
        tern_error_clear();
        malloc_fail_start(n);
        st = c->run(c->ctx);
        int hit = malloc_fail_hit();
        char msg[512]; /* the call's own message, before teardown can touch it */
        snprintf(msg, sizeof msg, "%s", tern_errmsg());
        c->teardown(c->ctx);
        long live = malloc_fail_stop();
        if (c->check) c->check(c->ctx, st);
        if (live) fail_msg("%s: allocation %ld failing: %ld block(s) leaked (status %s: %s)", c->name, n, live,
                           tern_status_name(st), msg);
        if (!hit) {
            if (st) fail_msg("%s: fails with no fault left to inject: %s", c->name, msg);
            print_message("%s: %ld allocations, each failing cleanly\n", c->name, n - 1);
            return;
        }
        if (st == TERN_OK) fail_msg("%s: allocation %ld failing: TERN_OK", c->name, n);
        if (!msg[0]) fail_msg("%s: allocation %ld failing: status %s with no message", c->name, n, tern_status_name(st));
    }
}

/* ---- config ------------------------------------------------------------------ */

typedef struct config_ctx {
    char path[512];
    tern_config cfg;
} config_ctx;

static tern_status config_load(void *ctx) {
    config_ctx *x = ctx;
    return tern_config_load(&x->cfg, x->path);
}
static void config_free(void *ctx) { tern_config_free(&((config_ctx *)ctx)->cfg); }

static void config_path(config_ctx *x) {
    const char *src = getenv("TERN_SOURCE_DIR");
    snprintf(x->path, sizeof x->path, "%s/configs/mnist_lenet5.yaml", src ? src : ".");
}

static void test_config_load(void **state) {
    (void)state;
    config_ctx x;
    config_path(&x);
    fault_case c = {"tern_config_load", nothing, config_load, config_free, NULL, &x};
    fault_loop(&c);
}

static void config_setup_loaded(void *ctx) {
    config_ctx *x = ctx;
    assert_int_equal(tern_config_load(&x->cfg, x->path), TERN_OK);
}
static tern_status config_set(void *ctx) {
    return tern_config_set(&((config_ctx *)ctx)->cfg, "model.layers.fc1.quant={method: ttq, act_bits: 8}");
}

static void test_config_set(void **state) {
    (void)state;
    config_ctx x;
    config_path(&x);
    fault_case c = {"tern_config_set", config_setup_loaded, config_set, config_free, NULL, &x};
    fault_loop(&c);
}

/* ---- datasets ------------------------------------------------------------------ */

typedef struct data_ctx {
    const char *name;
    tern_dataset ds;
} data_ctx;

static tern_status data_load(void *ctx) {
    data_ctx *x = ctx;
    tern_dataset_init(&x->ds);
    tern_norm norm = {.mode = TERN_NORM_COMPUTE};
    return tern_dataset_load(&x->ds, x->name, tmpdir, "train", &norm);
}
static void data_free(void *ctx) { tern_dataset_free(&((data_ctx *)ctx)->ds); }

static void test_idx_load(void **state) {
    (void)state;
    assert_int_equal(tmpdir_make("faults_idx"), 0);
    synth_idx_write(tmpdir, "train", 20, 1);
    data_ctx x = {.name = "mnist"};
    fault_case c = {"tern_dataset_load(mnist)", nothing, data_load, data_free, NULL, &x};
    fault_loop(&c);
    tmpdir_teardown(NULL);
}

static void test_cifar10_load(void **state) {
    (void)state;
    assert_int_equal(tmpdir_make("faults_cifar"), 0);
    char path[512];
    unsigned char rec[3073];
    for (int b = 1; b <= 2; b++) { /* two batch files of 3 records, and the class names */
        snprintf(path, sizeof path, "%s/data_batch_%d.bin", tmpdir, b);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        for (int i = 0; i < 3; i++) {
            rec[0] = (unsigned char)(i + b);
            for (int k = 1; k < 3073; k++) rec[k] = (unsigned char)(k * 7 + i);
            assert_int_equal(fwrite(rec, 1, sizeof rec, f), sizeof rec);
        }
        fclose(f);
    }
    snprintf(path, sizeof path, "%s/batches.meta.txt", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n", f);
    fclose(f);
    data_ctx x = {.name = "cifar10"};
    fault_case c = {"tern_dataset_load(cifar10)", nothing, data_load, data_free, NULL, &x};
    fault_loop(&c);
    tmpdir_teardown(NULL);
}

/* ---- checkpoints ----------------------------------------------------------------- */

static const char model_yaml[] = "dataset: {name: mnist}\n"
                                 "model:\n"
                                 "  layers:\n"
                                 "    - {type: conv2d, name: c1, out: 4, kernel: 3, stride: 2}\n"
                                 "    - {type: batchnorm, name: bn1, act: relu}\n"
                                 "    - {type: flatten}\n"
                                 "    - {type: linear, name: fc1, out: 8, quant: {method: ttq}}\n"
                                 "    - {type: linear, name: fc2, out: 10, ternary: false}\n"
                                 "optimizer: {name: adam, lr: 0.01}\n";

/* A model and optimizer built from model_yaml for (1,12,12) inputs, and a
 * training checkpoint and a deploy checkpoint of them in tmpdir. */
typedef struct ckpt_ctx {
    tern_config cfg;
    tern_model m;
    tern_optim o;
    tern_rng rng;
    tern_ckpt_state ck;
    float *saved;  /* (params.total) the weights the file holds */
    char train_path[512], deploy_path[512];
    tern_deploy d;
    tern_runtime rt;
    char *text;
    tern_ckpt_info info;
} ckpt_ctx;

static void ckpt_fixture(ckpt_ctx *x) {
    memset(x, 0, sizeof *x);
    assert_int_equal(tmpdir_make("faults_ckpt"), 0);
    assert_int_equal(tern_config_load_text(&x->cfg, model_yaml, strlen(model_yaml), "faults.yaml"), TERN_OK);
    int in[3] = {1, 12, 12};
    assert_int_equal(tern_model_init(&x->m, x->cfg.model.layers, x->cfg.model.n_layers, 3, in, x->cfg.model.init, 7),
                     TERN_OK);
    assert_int_equal(tern_optim_init(&x->o, &x->m.params, &x->cfg.optimizer.cfg), TERN_OK);
    tern_rng_seed(&x->rng, 3);
    tern_ckpt_state_init(&x->ck, &x->m.params, &x->o);
    assert_int_equal(tern_ckpt_add_rng(&x->ck, "model", &x->rng), TERN_OK);
    assert_int_equal(tern_ckpt_set_meta(&x->ck, "best_acc", 0.5), TERN_OK);
    x->ck.config_text = model_yaml;
    snprintf(x->train_path, sizeof x->train_path, "%s/last.h5", tmpdir);
    assert_int_equal(tern_ckpt_save(x->train_path, &x->ck), TERN_OK);
    x->saved = malloc(x->m.params.total * sizeof *x->saved);
    assert_non_null(x->saved);
    memcpy(x->saved, x->m.params.data, x->m.params.total * sizeof *x->saved);

    tern_dataset meta;
    tern_dataset_init(&meta);
    snprintf(meta.name, sizeof meta.name, "mnist");
    meta.c = 1, meta.h = 12, meta.w = 12, meta.n_classes = 10;
    for (int k = 0; k < 10; k++) snprintf(meta.class_names[k], sizeof meta.class_names[k], "%d", k);
    meta.std[0] = 1;
    tern_deploy d;
    tern_deploy_init(&d);
    assert_int_equal(tern_deploy_from_model(&d, &x->m, &meta), TERN_OK);
    snprintf(x->deploy_path, sizeof x->deploy_path, "%s/model.h5", tmpdir);
    assert_int_equal(tern_deploy_save(&d, x->deploy_path, 6, NULL), TERN_OK);
    tern_deploy_free(&d);
    tern_deploy_init(&x->d);
}

static void ckpt_fixture_free(ckpt_ctx *x) {
    free(x->saved);
    tern_optim_free(&x->o);
    tern_model_free(&x->m);
    tern_config_free(&x->cfg);
    tmpdir_teardown(NULL);
}

/* Weights zeroed before each load: a failed load must leave them so. */
static void ckpt_clear(void *ctx) {
    ckpt_ctx *x = ctx;
    memset(x->m.params.data, 0, x->m.params.total * sizeof *x->m.params.data);
}
static tern_status ckpt_load(void *ctx) {
    ckpt_ctx *x = ctx;
    return tern_ckpt_load(x->train_path, &x->ck);
}
static void ckpt_check(void *ctx, tern_status st) {
    ckpt_ctx *x = ctx;
    for (size_t i = 0; i < x->m.params.total; i++) {
        float want = st ? 0.0f : x->saved[i];
        if (x->m.params.data[i] != want)
            fail_msg("tern_ckpt_load (%s): weight %zu is %g, not %g", st ? "failed" : "ok", i,
                     (double)x->m.params.data[i], (double)want);
    }
}

static void test_ckpt_load(void **state) {
    (void)state;
    ckpt_ctx x;
    ckpt_fixture(&x);
    fault_case c = {"tern_ckpt_load", ckpt_clear, ckpt_load, nothing, ckpt_check, &x};
    fault_loop(&c);
    ckpt_fixture_free(&x);
}

static tern_status ckpt_read_config(void *ctx) {
    ckpt_ctx *x = ctx;
    x->text = NULL;
    return tern_ckpt_read_config(x->train_path, &x->text);
}
static void text_free(void *ctx) { free(((ckpt_ctx *)ctx)->text); }
static tern_status ckpt_read_info(void *ctx) {
    ckpt_ctx *x = ctx;
    return tern_ckpt_read_info(x->train_path, &x->info);
}

static void test_ckpt_read(void **state) {
    (void)state;
    ckpt_ctx x;
    ckpt_fixture(&x);
    fault_case c = {"tern_ckpt_read_config", nothing, ckpt_read_config, text_free, NULL, &x};
    fault_loop(&c);
    fault_case i = {"tern_ckpt_read_info", nothing, ckpt_read_info, nothing, NULL, &x};
    fault_loop(&i);
    ckpt_fixture_free(&x);
}

static tern_status deploy_load(void *ctx) {
    ckpt_ctx *x = ctx;
    return tern_deploy_load(&x->d, x->deploy_path);
}
static void deploy_free(void *ctx) { tern_deploy_free(&((ckpt_ctx *)ctx)->d); }

static void test_deploy_load(void **state) {
    (void)state;
    ckpt_ctx x;
    ckpt_fixture(&x);
    fault_case c = {"tern_deploy_load", nothing, deploy_load, deploy_free, NULL, &x};
    fault_loop(&c);
    ckpt_fixture_free(&x);
}

/* The runtime's plan for a loaded deploy model. */
static tern_status runtime_init(void *ctx) {
    ckpt_ctx *x = ctx;
    memset(&x->rt, 0, sizeof x->rt);
    return tern_runtime_init(&x->rt, &x->d, 4, TERN_RUNTIME_ACT_AUTO);
}
static void runtime_free(void *ctx) { tern_runtime_free(&((ckpt_ctx *)ctx)->rt); }

static void test_runtime_init(void **state) {
    (void)state;
    ckpt_ctx x;
    ckpt_fixture(&x);
    assert_int_equal(tern_deploy_load(&x.d, x.deploy_path), TERN_OK);
    fault_case c = {"tern_runtime_init", nothing, runtime_init, runtime_free, NULL, &x};
    fault_loop(&c);
    tern_deploy_free(&x.d);
    ckpt_fixture_free(&x);
}

/* ---- sweep specs ---------------------------------------------------------------- */

typedef struct spec_ctx {
    char path[512];
    tern_sweep_spec spec;
} spec_ctx;

static tern_status spec_load(void *ctx) {
    spec_ctx *x = ctx;
    return tern_sweep_spec_load(&x->spec, x->path);
}
static void spec_free(void *ctx) { tern_sweep_spec_free(&((spec_ctx *)ctx)->spec); }

static void write_text(const char *path, const char *text) { assert_int_equal(tmpdir_write_text(path, text), 0); }

static void test_sweep_spec_load(void **state) {
    (void)state;
    assert_int_equal(tmpdir_make("faults_sweep"), 0);
    spec_ctx x;
    memset(&x, 0, sizeof x);
    char base[512];
    snprintf(base, sizeof base, "%s/base.yaml", tmpdir);
    write_text(base, "dataset: {name: mnist}\nmodel:\n  layers:\n    - {type: linear, out: 10}\noptimizer: {lr: 0.1}\n");
    snprintf(x.path, sizeof x.path, "%s/spec.yaml", tmpdir);
    write_text(x.path, "base: base.yaml\nset: [training.epochs=2]\nmethods: [{quantizer: twn, t: [0.5, 0.7]}]\n"
                       "seeds: [1, 2, 3]\nout: sw\n");
    fault_case c = {"tern_sweep_spec_load", nothing, spec_load, spec_free, NULL, &x};
    fault_loop(&c);
    tmpdir_teardown(NULL);
}

int main(void) {
    if (!MALLOC_COUNT_AVAILABLE) {
        printf("test_faults: skipped: the allocator cannot be interposed under AddressSanitizer\n");
        return 77; /* ctest's SKIP_RETURN_CODE */
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_load), cmocka_unit_test(test_config_set),   cmocka_unit_test(test_idx_load),
        cmocka_unit_test(test_cifar10_load), cmocka_unit_test(test_ckpt_load),   cmocka_unit_test(test_ckpt_read),
        cmocka_unit_test(test_deploy_load),  cmocka_unit_test(test_runtime_init), cmocka_unit_test(test_sweep_spec_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
