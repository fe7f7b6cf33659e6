/* test_dist_train.c — tern_train on the ranks of `mpiexec -n 2`: against
 * one process with the same global batch, rerun bit for bit, resumed bit
 * for bit, the parameters the same on every rank, and the refusals (a
 * one-process checkpoint, a batch too small to share). Every rank runs
 * every test; rank 0 makes the scratch directory, which all ranks see. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "synth_idx.h"
#include "tern/checkpoint.h"
#include "tern/comm.h"
#include "tern/config.h"
#include "tern/train.h"
#include "tmpdir.h"

static tern_comm *comm;
static int rank;

/* A small MLP on the synthetic 12x12 data: 300 / 16 = 19 batches an epoch,
 * the last of 12 (6 a rank). `plain` 1: no batchnorm, dropout or
 * augmentation (the math of one process); 2: the same with a synchronised
 * batchnorm (one process's math too); 0: batchnorm with per-rank
 * statistics, dropout and augmentation, whose per-rank streams a resume
 * must restore. */
static void make_config(tern_config *cfg, const char *run, int plain, int batch) {
    char text[2048];
    snprintf(text, sizeof text,
             "dataset: {name: mnist, path: %s/data, normalize: compute%s}\n"
             "model:\n"
             "  layers:\n"
             "    - {type: flatten}\n"
             "    - {type: linear, name: fc1, out: 32, bias: false}\n"
             "%s"
             "    - {type: linear, name: fc2, out: 10, ternary: false}\n"
             "quant: {method: twn}\n"
             "optimizer: {name: adam, lr: 0.01}\n"
             "training: {epochs: 3, batch_size: %d, seed: 7, threads: 1, sync_batchnorm: %s}\n"
             "output: {dir: %s/%s}\n",
             tmpdir, plain ? "" : ", augment: {hflip: true, crop_pad: 1}",
             plain == 1   ? "    - {type: relu}\n"
             : plain == 2 ? "    - {type: batchnorm, name: bn1, act: relu}\n"
                          : "    - {type: batchnorm, name: bn1, act: relu}\n    - {type: dropout, p: 0.2}\n",
             batch, plain == 2 ? "true" : "false", tmpdir, run);
    if (tern_config_load_text(cfg, text, strlen(text), "dist.yaml")) fail_msg("%s", tern_errmsg());
}

typedef struct trace {
    float loss[64];  /* per step */
    int n;
    uint64_t sum;    /* checksum of the parameters' bits at the last EPOCH */
} trace;

static uint64_t checksum(const tern_params *p) {
    uint64_t h = 1469598103934665603ULL;  /* FNV-1a over the bytes */
    const unsigned char *b = (const unsigned char *)p->data;
    for (size_t i = 0; i < p->total * sizeof(float); i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static void record(const tern_train_event *ev, void *user) {
    trace *t = user;
    if (ev->kind == TERN_TRAIN_EV_STEP && t->n < 64) t->loss[t->n++] = ev->step_loss;
    if (ev->kind == TERN_TRAIN_EV_EPOCH) t->sum = checksum(&ev->model->params);
}

static tern_status train(const char *run, int plain, long stop_at, const char *resume, const tern_comm *c,
                         trace *t, tern_train_result *res) {
    tern_config cfg;
    make_config(&cfg, run, plain, 16);
    tern_train_opts o = {.comm = c, .stop_after_steps = stop_at, .resume = resume, .cb = record, .user = t};
    tern_status st = tern_train(&cfg, &o, res);
    tern_config_free(&cfg);
    return st;
}

/* The parameters stored in a checkpoint (a model of the config's shape). */
static float *ckpt_params(const char *path, size_t *n) {
    tern_config cfg;
    make_config(&cfg, "unused", 0, 16);
    tern_model m;
    int in[3] = {1, 12, 12};
    assert_int_equal(tern_model_init(&m, cfg.model.layers, cfg.model.n_layers, 3, in, cfg.model.init, 99), 0);
    tern_ckpt_state s;
    tern_ckpt_state_init(&s, &m.params, NULL);
    if (tern_ckpt_load(path, &s)) fail_msg("%s", tern_errmsg());
    *n = m.params.total;
    float *copy = malloc(sizeof(float) * *n);
    memcpy(copy, m.params.data, sizeof(float) * *n);
    tern_model_free(&m);
    tern_config_free(&cfg);
    return copy;
}

/* metrics.csv without its timing columns (samples_per_s .. comm_ms). */
static void training_columns(const char *run, char *out, size_t cap) {
    char path[512], line[1024];
    snprintf(path, sizeof path, "%s/%s/metrics.csv", tmpdir, run);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    out[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        int col = 0;
        for (char *tok = strtok(line, ","); tok; tok = strtok(NULL, ","), col++)
            if (col < 8 || col == 10 || col > 13) strncat(out, tok, cap - strlen(out) - 2), strcat(out, ",");
    }
    fclose(f);
}

/* A failure rank 0 alone found (err non-empty) fails every rank, so that
 * none is left waiting in a collective of the next test. */
static void fail_on_all_ranks(const char *err) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s", err);
    assert_int_equal(tern_comm_bcast(comm, msg, sizeof msg, 0), TERN_OK);
    if (msg[0]) fail_msg("%s", msg);
}

/* Rank 0's checksum on every rank, against this rank's. */
static void assert_same_on_all_ranks(uint64_t mine) {
    uint64_t all[TERN_COMM_MAX_RANKS];
    assert_int_equal(tern_comm_allgather(comm, &mine, all, sizeof mine), TERN_OK);
    for (int k = 1; k < tern_comm_size(comm); k++) assert_true(all[k] == all[0]);
}

/* (a) The first 50 steps' losses of 2 ranks agree with one process's, and
 * (f) the parameters are the same bits on every rank: without batchnorm
 * (plain 1), and with a synchronised one (plain 2). */
static void against_one_process(int plain) {
    trace d = {.n = 0}, one = {.n = 0};
    tern_train_result res;
    assert_int_equal(train(plain == 1 ? "plain_dist" : "sync_dist", plain, 0, NULL, comm, &d, &res), TERN_OK);
    assert_true(d.n >= 50);
    assert_same_on_all_ranks(d.sum);
    char err[256] = "";
    if (rank == 0 && train(plain == 1 ? "plain_one" : "sync_one", plain, 0, NULL, NULL, &one, &res))
        snprintf(err, sizeof err, "one process: %s", tern_errmsg());
    for (int i = 0; rank == 0 && !err[0] && i < 50; i++)
        if (!(fabsf(d.loss[i] - one.loss[i]) <= 1e-4f * fabsf(one.loss[i])))
            snprintf(err, sizeof err, "step %d: loss %.8g on 2 ranks, %.8g on one process", i + 1, d.loss[i],
                     one.loss[i]);
    fail_on_all_ranks(err);
}

static void test_against_one_process(void **state) {
    (void)state;
    against_one_process(1);
}

static void test_sync_batchnorm_against_one_process(void **state) {
    (void)state;
    against_one_process(2);
}

/* (b) Two runs with batchnorm, dropout and augmentation give the same
 * metrics and parameters; (c) stopped after 25 steps (mid-epoch) and
 * resumed on 2 ranks, the same again. */
static void test_rerun_and_resume(void **state) {
    (void)state;
    trace t = {.n = 0};
    tern_train_result res;
    assert_int_equal(train("full_a", 0, 0, NULL, comm, &t, &res), TERN_OK);
    assert_same_on_all_ranks(t.sum);
    assert_int_equal(train("full_b", 0, 0, NULL, comm, &t, &res), TERN_OK);
    assert_int_equal(train("full_c", 0, 25, NULL, comm, &t, &res), TERN_OK);
    assert_true(res.stopped);
    char ckpt[512];
    snprintf(ckpt, sizeof ckpt, "%s/full_c/last.h5", tmpdir);
    assert_int_equal(train("full_c", 0, 0, ckpt, comm, &t, &res), TERN_OK);
    assert_false(res.stopped);
    assert_same_on_all_ranks(t.sum);
    char err[256] = "";
    if (rank == 0) {
        static char a[8192], b[8192];
        const char *runs[2] = {"full_b", "full_c"};
        char path[512];
        snprintf(path, sizeof path, "%s/full_a/last.h5", tmpdir);
        size_t n, m;
        float *pa = ckpt_params(path, &n);
        training_columns("full_a", a, sizeof a);
        for (int k = 0; k < 2; k++) {
            training_columns(runs[k], b, sizeof b);
            if (strcmp(a, b)) snprintf(err, sizeof err, "%s/metrics.csv differs from full_a's", runs[k]);
            snprintf(path, sizeof path, "%s/%s/last.h5", tmpdir, runs[k]);
            float *pb = ckpt_params(path, &m);
            if (n != m || memcmp(pa, pb, sizeof(float) * n))
                snprintf(err, sizeof err, "%s/last.h5's parameters differ from full_a's", runs[k]);
            free(pb);
        }
        free(pa);
    }
    fail_on_all_ranks(err);
}

/* (d) A one-process checkpoint does not continue on 2 ranks: every rank
 * says so, naming the checkpoint and how to resume it. */
static void test_one_process_checkpoint_refused(void **state) {
    (void)state;
    trace t = {.n = 0};
    tern_train_result res;
    char err[256] = "";
    if (rank == 0 && train("solo", 1, 5, NULL, NULL, &t, &res)) snprintf(err, sizeof err, "%s", tern_errmsg());
    fail_on_all_ranks(err);
    char ckpt[512];
    snprintf(ckpt, sizeof ckpt, "%s/solo/last.h5", tmpdir);
    assert_int_equal(train("solo", 1, 0, ckpt, comm, &t, &res), TERN_ERR_CONFIG);
    const char *msg = tern_errmsg();
    assert_non_null(strstr(msg, ckpt));
    assert_non_null(strstr(msg, "1 process cannot continue on 2"));
    assert_null(strchr(msg, '\n'));
}

/* (e) A global batch of 3 cannot give each of 2 ranks 2 samples: refused
 * naming the key, and nothing written. */
static void test_small_batch_refused(void **state) {
    (void)state;
    tern_config cfg;
    make_config(&cfg, "tiny", 1, 3);
    tern_train_opts o = {.comm = comm};
    tern_train_result res;
    assert_int_equal(tern_train(&cfg, &o, &res), TERN_ERR_CONFIG);
    tern_config_free(&cfg);
    assert_non_null(strstr(tern_errmsg(), "training.batch_size"));
    char path[512];
    snprintf(path, sizeof path, "%s/tiny", tmpdir);
    assert_int_equal(access(path, F_OK), -1);
}

int main(int argc, char **argv) {
    if (tern_comm_world(&argc, &argv, &comm)) {
        print_message("%s\n", tern_errmsg());
        return 1;
    }
    rank = tern_comm_rank(comm);
    int ok = rank || !tmpdir_make("dist_train");
    if (ok && rank == 0) {
        char data[300];
        snprintf(data, sizeof data, "%s/data", tmpdir);
        synth_idx_dataset(data);
    }
    tern_comm_bcast(comm, &ok, sizeof ok, 0);
    tern_comm_bcast(comm, tmpdir, sizeof tmpdir, 0);
    if (!ok) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_one_process),
        cmocka_unit_test(test_sync_batchnorm_against_one_process),
        cmocka_unit_test(test_rerun_and_resume),
        cmocka_unit_test(test_one_process_checkpoint_refused),
        cmocka_unit_test(test_small_batch_refused),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tern_comm_barrier(comm);
    if (rank == 0) tmpdir_teardown(NULL);
    tern_comm_finalize(comm);
    return failed ? 1 : 0;
}
