/* test_checkpoint.c — HDF5 training checkpoints.
 *
 * References are independent of the checkpoint code: the state of the run
 * that was saved (kept in memory and compared byte for byte), the losses of
 * a run that never stopped, and files damaged or forged here with plain
 * POSIX calls or the HDF5 API directly. Every failure case also checks that
 * the target model, optimizer, RNGs and counters are byte-identical to
 * before, that the message is one line naming the file, and that nothing
 * was printed to stderr (HDF5 prints its error stack unless told not to). */
#include <dirent.h>
#include <fcntl.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cmocka.h>

#include "tern.h"
#include "tmpdir.h"

/* ---- files ---------------------------------------------------------------- */

static int group_setup(void **state) {
    (void)state;
    return tmpdir_make("ckpt");
}

/* A fresh, empty subdirectory of the scratch dir for one test. */
static const char *subdir(const char *name, char *buf, size_t len) {
    snprintf(buf, len, "%s/%s", tmpdir, name);
    tmpdir_remove_tree(buf);
    assert_int_equal(mkdir(buf, 0755), 0);
    return buf;
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void write_all(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Number of entries in dir other than . and .., and whether one contains
 * ".tmp." (a leftover temporary file). */
static int count_entries(const char *dir, int *tmp_left) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    *tmp_left = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        n++;
        if (strstr(e->d_name, ".tmp.")) *tmp_left = 1;
    }
    closedir(d);
    return n;
}

/* ---- stderr must stay silent ---------------------------------------------- */

static int g_saved_stderr = -1;
static char g_stderr_path[600];

static void stderr_capture_begin(void) {
    fflush(stderr);
    snprintf(g_stderr_path, sizeof g_stderr_path, "%s/stderr.txt", tmpdir);
    int fd = open(g_stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    g_saved_stderr = dup(2);
    dup2(fd, 2);
    close(fd);
}

static void stderr_capture_end(void) {
    fflush(stderr);
    dup2(g_saved_stderr, 2);
    close(g_saved_stderr);
    struct stat sb;
    assert_int_equal(stat(g_stderr_path, &sb), 0);
    if (sb.st_size != 0) {
        size_t n;
        unsigned char *b = read_all(g_stderr_path, &n);
        b[n < 300 ? n : 300] = 0;
        fail_msg("the library printed %lld bytes to stderr: %s", (long long)sb.st_size, (char *)b);
    }
    unlink(g_stderr_path);
}

/* ---- a small run: dense + batchnorm + dropout + ternary (ttq) layer ------- */

#define D 9       /* input features: odd */
#define K 5       /* classes */
#define NDATA 61  /* samples */
#define BATCH 7   /* odd batch */

static float g_x[NDATA * D];
static int g_y[NDATA];

static void make_data(void) {
    tern_rng r;
    tern_rng_seed(&r, 4242);
    for (int i = 0; i < NDATA * D; i++) g_x[i] = 2.0f * tern_rng_uniform(&r) - 1.0f;
    for (int i = 0; i < NDATA; i++) g_y[i] = (int)tern_rng_below(&r, K);
}

/* fc1 (D→h1) · bn1 · relu · dropout · fc2 (ternary ttq, →K) [· fc3 (K→K)] */
static int make_spec(tern_layer_spec *spec, int h1, int with_fc3) {
    memset(spec, 0, sizeof(tern_layer_spec) * 5);
    spec[0] = (tern_layer_spec){.type = TERN_LAYER_LINEAR, .name = "fc1", .out = h1};
    spec[1] = (tern_layer_spec){.type = TERN_LAYER_BATCHNORM, .name = "bn1", .act = TERN_ACT_RELU};
    spec[2] = (tern_layer_spec){.type = TERN_LAYER_DROPOUT, .name = "drop", .p = 0.25f};
    spec[3] = (tern_layer_spec){.type = TERN_LAYER_LINEAR, .name = "fc2", .out = K, .ternary = 1};
    spec[3].quant = tern_quant_cfg_default(TERN_QUANT_TTQ);
    spec[4] = (tern_layer_spec){.type = TERN_LAYER_LINEAR, .name = "fc3", .out = K};
    return with_fc3 ? 5 : 4;
}

typedef struct run {
    tern_model m;
    tern_optim o;
    tern_ctx c;
    tern_rng model_rng, data_rng;
    tern_ckpt_state s;
} run;

static tern_optim_config optim_cfg(tern_optim_kind kind, float momentum) {
    tern_optim_config oc = tern_optim_default(kind);
    oc.momentum = kind == TERN_OPTIM_SGD ? momentum : 0.0f;
    oc.weight_decay = 1e-3f;
    return oc;
}

static void run_init_arch(run *r, uint64_t seed, int h1, int with_fc3, tern_optim_kind kind, float momentum) {
    tern_layer_spec spec[5];
    int n = make_spec(spec, h1, with_fc3);
    int in[1] = {D};
    assert_int_equal(tern_model_init(&r->m, spec, n, 1, in, TERN_INIT_HE, seed), TERN_OK);
    tern_optim_config oc = optim_cfg(kind, momentum);
    assert_int_equal(tern_optim_init(&r->o, &r->m.params, &oc), TERN_OK);
    assert_int_equal(tern_ctx_init(&r->c, 0), TERN_OK);
    tern_rng_seed(&r->model_rng, seed * 7 + 1);
    tern_rng_seed(&r->data_rng, seed * 13 + 2);
    r->c.rng = &r->model_rng;
    tern_ckpt_state_init(&r->s, &r->m.params, &r->o);
    assert_int_equal(tern_ckpt_add_rng(&r->s, "model", &r->model_rng), TERN_OK);
    assert_int_equal(tern_ckpt_add_rng(&r->s, "loader", &r->data_rng), TERN_OK);
}

static void run_init(run *r, uint64_t seed, tern_optim_kind kind) { run_init_arch(r, seed, 12, 0, kind, 0.9f); }

static void run_free(run *r) {
    tern_ctx_free(&r->c);
    tern_optim_free(&r->o);
    tern_model_free(&r->m);
}

/* n training steps on batches drawn with the loader RNG; losses[i] if given. */
static void run_steps(run *r, int n, float *losses) {
    float xb[BATCH * D];
    int yb[BATCH], shape[2] = {BATCH, D};
    for (int i = 0; i < n; i++) {
        for (int b = 0; b < BATCH; b++) {
            int k = (int)tern_rng_below(&r->data_rng, NDATA);
            memcpy(xb + b * D, g_x + k * D, sizeof(float) * D);
            yb[b] = g_y[k];
        }
        tern_tensor x = tern_tensor_view(xb, NULL, 2, shape);
        tern_step_result res;
        assert_int_equal(tern_model_train_step(&r->m, &r->c, &r->o, &x, yb, 1e-2f, 1.0f, &res), TERN_OK);
        if (losses) losses[i] = res.loss;
        r->s.step++;
    }
}

/* Everything a load may change, copied. */
typedef struct snapshot {
    float *data, *state[TERN_OPTIM_MAX_STATE];
    size_t total;
    long ostep, epoch, step;
    tern_rng rng[2];
    int n_meta;
    tern_ckpt_meta meta[TERN_CKPT_MAX_META];
} snapshot;

static void snap_take(snapshot *sn, const run *r) {
    memset(sn, 0, sizeof *sn);
    sn->total = r->m.params.total;
    sn->data = malloc(sizeof(float) * sn->total);
    memcpy(sn->data, r->m.params.data, sizeof(float) * sn->total);
    for (int i = 0; i < r->o.n_state; i++) {
        sn->state[i] = malloc(sizeof(float) * sn->total);
        memcpy(sn->state[i], r->o.state[i], sizeof(float) * sn->total);
    }
    sn->ostep = r->o.step;
    sn->epoch = r->s.epoch;
    sn->step = r->s.step;
    sn->rng[0] = r->model_rng;
    sn->rng[1] = r->data_rng;
    sn->n_meta = r->s.n_meta;
    memcpy(sn->meta, r->s.meta, sizeof sn->meta);
}

static void snap_check_unchanged(const snapshot *sn, const run *r) {
    assert_memory_equal(sn->data, r->m.params.data, sizeof(float) * sn->total);
    for (int i = 0; i < r->o.n_state; i++) assert_memory_equal(sn->state[i], r->o.state[i], sizeof(float) * sn->total);
    assert_int_equal(sn->ostep, r->o.step);
    assert_int_equal(sn->epoch, r->s.epoch);
    assert_int_equal(sn->step, r->s.step);
    assert_memory_equal(&sn->rng[0], &r->model_rng, sizeof(tern_rng));
    assert_memory_equal(&sn->rng[1], &r->data_rng, sizeof(tern_rng));
    assert_int_equal(sn->n_meta, r->s.n_meta);
    assert_memory_equal(sn->meta, r->s.meta, sizeof sn->meta);
}

static void snap_free(snapshot *sn) {
    free(sn->data);
    for (int i = 0; i < TERN_OPTIM_MAX_STATE; i++) free(sn->state[i]);
}

/* The last error is one line, starts with `path` and mentions `needle`. */
static void expect_msg(const char *path, const char *needle) {
    const char *msg = tern_errmsg();
    if (path && strncmp(msg, path, strlen(path)) != 0) fail_msg("message '%s' does not start with '%s'", msg, path);
    if (strchr(msg, '\n')) fail_msg("message '%s' spans lines", msg);
    if (needle && !strstr(msg, needle)) fail_msg("message '%s' does not mention '%s'", msg, needle);
}

/* Load `path` into r expecting failure `want`, with the message naming the
 * file and `needle`, nothing printed, and r untouched. */
static void expect_load_fails(run *r, const char *path, tern_status want, const char *needle) {
    snapshot sn;
    snap_take(&sn, r);
    stderr_capture_begin();
    tern_status st = tern_ckpt_load(path, &r->s);
    stderr_capture_end();
    ssize_t open_ids = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open_ids != 0) fail_msg("load %s left %zd HDF5 objects open", path, open_ids);
    if (st != want)
        fail_msg("load %s: status %s, want %s (%s)", path, tern_status_name(st), tern_status_name(want), tern_errmsg());
    expect_msg(path, needle);
    snap_check_unchanged(&sn, r);
    snap_free(&sn);
}

static const char *g_config =
    "# tern run config — résumé test\n"
    "model:\n  - {linear: 12}\n  - {batchnorm: {}}\n  - {dropout: 0.25}\n  - {linear: 5, ternary: ttq}\n"
    "optim: {kind: adam, lr: 0.01}\n";

/* A trained run saved to `path` (epoch 3, two metadata values). */
static void save_trained(run *r, const char *path, uint64_t seed, tern_optim_kind kind) {
    run_init(r, seed, kind);
    run_steps(r, 5, NULL);
    r->s.epoch = 3;
    r->s.config_text = g_config;
    assert_int_equal(tern_ckpt_set_meta(&r->s, "best_acc", 0.8125), TERN_OK);
    assert_int_equal(tern_ckpt_set_meta(&r->s, "lr", 1e-2), TERN_OK);
    stderr_capture_begin();
    tern_status st = tern_ckpt_save(path, &r->s);
    stderr_capture_end();
    if (st) fail_msg("save %s: %s", path, tern_errmsg());
}

/* ---- round trip ----------------------------------------------------------- */

/* Save, then load into a model, optimizer and RNGs built from other seeds:
 * every byte of the parameters (weights, biases, alpha, batchnorm running
 * statistics), of the optimizer state, the optimizer step, both RNGs, the
 * counters, the metadata and the config text come back. */
static void test_round_trip_is_bit_exact(void **state) {
    (void)state;
    char dir[600], path[700];
    subdir("roundtrip", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/last.h5", dir);
    run a, b;
    save_trained(&a, path, 1, TERN_OPTIM_ADAM);
    run_init(&b, 2, TERN_OPTIM_ADAM);
    /* Not vacuous: before the load, b differs from a everywhere that matters. */
    assert_true(memcmp(a.m.params.data, b.m.params.data, sizeof(float) * a.m.params.total) != 0);
    assert_true(b.o.step == 0 && a.o.step == 5);
    assert_true(memcmp(&a.model_rng, &b.model_rng, sizeof(tern_rng)) != 0);
    b.s.epoch = 99;
    assert_int_equal(tern_ckpt_set_meta(&b.s, "stale", 1.0), TERN_OK);

    stderr_capture_begin();
    tern_status st = tern_ckpt_load(path, &b.s);
    stderr_capture_end();
    if (st) fail_msg("load: %s", tern_errmsg());

    assert_int_equal(a.m.params.count, b.m.params.count);
    int buffers = 0, alphas = 0;
    for (int i = 0; i < a.m.params.count; i++) {
        const tern_param *qa = &a.m.params.items[i];
        const tern_param *qb = tern_params_find(&b.m.params, qa->name);
        assert_non_null(qb);
        assert_memory_equal(qa->t.data, qb->t.data, sizeof(float) * qa->t.n);
        buffers += !(qa->flags & TERN_PARAM_TRAIN);
        alphas += strstr(qa->name, "alpha") != NULL;
        for (int k = 0; k < a.o.n_state && (qa->flags & TERN_PARAM_TRAIN); k++)
            assert_memory_equal(tern_optim_state_view(&a.o, k, qa), tern_optim_state_view(&b.o, k, qb),
                                sizeof(float) * qa->t.n);
    }
    assert_int_equal(buffers, 2); /* bn1.running_mean, bn1.running_var */
    assert_int_equal(alphas, 2);  /* fc2.alpha, fc2.alpha_neg (ttq) */
    /* The running statistics really moved in training, so the check saw data. */
    const tern_param *rv = tern_params_find(&a.m.params, "bn1.running_var");
    assert_true(rv->t.data[0] != 1.0f);
    assert_int_equal(b.o.step, 5);
    assert_memory_equal(&a.model_rng, &b.model_rng, sizeof(tern_rng));
    assert_memory_equal(&a.data_rng, &b.data_rng, sizeof(tern_rng));
    assert_int_equal(b.s.epoch, 3);
    assert_int_equal(b.s.step, 5);
    double v = 0;
    assert_int_equal(b.s.n_meta, 2);
    assert_true(tern_ckpt_get_meta(&b.s, "best_acc", &v) && v == 0.8125);
    assert_true(tern_ckpt_get_meta(&b.s, "lr", &v) && v == 1e-2);
    assert_false(tern_ckpt_get_meta(&b.s, "stale", &v));

    char *text = NULL;
    assert_int_equal(tern_ckpt_read_config(path, &text), TERN_OK);
    assert_string_equal(text, g_config);
    free(text);

    tern_ckpt_info info;
    assert_int_equal(tern_ckpt_read_info(path, &info), TERN_OK);
    size_t scalars = 0;
    for (int i = 0; i < a.m.params.count; i++) scalars += a.m.params.items[i].t.n;
    assert_int_equal(info.version, 1);
    assert_int_equal(info.epoch, 3);
    assert_int_equal(info.step, 5);
    assert_int_equal(info.n_params, a.m.params.count);
    assert_int_equal(info.n_scalars, scalars);
    assert_string_equal(info.optim, "adam");
    assert_int_equal(info.optim_step, 5);
    assert_int_equal(info.n_rng, 2);
    assert_string_equal(info.rng_names[0], "loader"); /* listed by name */
    assert_string_equal(info.rng_names[1], "model");
    assert_int_equal(info.n_meta, 2);

    /* Saving over an existing checkpoint replaces it, and an empty config
     * (NULL) comes back as "". */
    a.s.config_text = NULL;
    a.s.epoch = 4;
    assert_int_equal(tern_ckpt_save(path, &a.s), TERN_OK);
    assert_int_equal(tern_ckpt_read_config(path, &text), TERN_OK);
    assert_string_equal(text, "");
    free(text);
    assert_int_equal(tern_ckpt_read_info(path, &info), TERN_OK);
    assert_int_equal(info.epoch, 4);
    int tmp_left;
    assert_int_equal(count_entries(dir, &tmp_left), 1);
    assert_false(tmp_left);
    run_free(&a);
    run_free(&b);
}

/* The file is plain HDF5 with the documented schema: read here with the
 * HDF5 API alone, not through tern. */
static void test_schema_is_as_documented(void **state) {
    (void)state;
    char dir[600], path[700];
    subdir("schema", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ckpt.h5", dir);
    run a;
    save_trained(&a, path, 3, TERN_OPTIM_ADAMW);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    int version = 0;
    assert_true(H5LTget_attribute_int(f, "/", "version", &version) >= 0);
    assert_int_equal(version, 1);
    char fmt[32] = "";
    assert_true(H5LTget_attribute_string(f, "/", "format", fmt) >= 0);
    assert_string_equal(fmt, "tern-train");
    const tern_param *w = tern_params_find(&a.m.params, "fc1.weight");
    float *buf = malloc(sizeof(float) * w->t.n);
    hsize_t dims[4] = {0};
    int rank = 0;
    assert_true(H5LTget_dataset_ndims(f, "/params/fc1.weight", &rank) >= 0);
    assert_int_equal(rank, 2);
    assert_true(H5LTget_dataset_info(f, "/params/fc1.weight", dims, NULL, NULL) >= 0);
    assert_true(dims[0] == 12 && dims[1] == D);
    assert_true(H5LTread_dataset_float(f, "/params/fc1.weight", buf) >= 0);
    assert_memory_equal(buf, w->t.data, sizeof(float) * w->t.n);
    assert_true(H5LTread_dataset_float(f, "/optim/adam_v/fc1.weight", buf) >= 0);
    assert_memory_equal(buf, tern_optim_state_view(&a.o, 1, w), sizeof(float) * w->t.n);
    char kind[16] = "";
    assert_true(H5LTget_attribute_string(f, "/optim", "kind", kind) >= 0);
    assert_string_equal(kind, "adamw");
    unsigned long long rng[4];
    assert_true(H5LTread_dataset(f, "/rng/model", H5T_NATIVE_ULLONG, rng) >= 0);
    for (int i = 0; i < 4; i++) assert_true(rng[i] == a.model_rng.s[i]);
    int trainable = -1;
    assert_true(H5LTget_attribute_int(f, "/params/bn1.running_mean", "trainable", &trainable) >= 0);
    assert_int_equal(trainable, 0);
    /* Buffers have no optimizer state; trainable entries do. */
    assert_true(H5Lexists(f, "/optim/adam_m/bn1.weight", H5P_DEFAULT) > 0);
    assert_true(H5Lexists(f, "/optim/adam_m/bn1.running_mean", H5P_DEFAULT) == 0);
    /* Every dataset carries the fletcher32 checksum. */
    hid_t d = H5Dopen2(f, "/params/fc2.alpha", H5P_DEFAULT);
    hid_t dcpl = H5Dget_create_plist(d);
    assert_true(H5Pget_filter_by_id2(dcpl, H5Z_FILTER_FLETCHER32, NULL, NULL, NULL, 0, NULL, NULL) >= 0);
    H5Pclose(dcpl);
    H5Dclose(d);
    double best = 0;
    assert_true(H5LTget_attribute_double(f, "/meta", "best_acc", &best) >= 0);
    assert_true(best == 0.8125);
    H5Fclose(f);
    free(buf);
    run_free(&a);
}

/* ---- resuming continues the run exactly ----------------------------------- */

/* Train 4 steps, save, train 4 more; a second run from other seeds loads the
 * checkpoint and trains 4 steps: its losses and final state have the same
 * bits (dropout masks, batches, batchnorm statistics, Adam moments / SGD
 * momentum all restored). A run that does not load differs. */
static void test_resume_continues_exactly(void **state) {
    (void)state;
    char dir[600], path[700];
    subdir("resume", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ckpt.h5", dir);
    const tern_optim_kind kinds[3] = {TERN_OPTIM_ADAM, TERN_OPTIM_SGD, TERN_OPTIM_ADAMW};
    for (int k = 0; k < 3; k++) {
        run a, b, c;
        float la[4], lb[4], lc[4];
        run_init(&a, 10 + k, kinds[k]);
        run_steps(&a, 4, NULL);
        a.s.epoch = 1;
        assert_int_equal(tern_ckpt_save(path, &a.s), TERN_OK);
        run_steps(&a, 4, la);

        run_init(&b, 20 + k, kinds[k]);
        assert_int_equal(tern_ckpt_load(path, &b.s), TERN_OK);
        assert_int_equal(b.s.step, 4);
        run_steps(&b, 4, lb);
        assert_memory_equal(la, lb, sizeof la);
        assert_memory_equal(a.m.params.data, b.m.params.data, sizeof(float) * a.m.params.total);
        for (int i = 0; i < a.o.n_state; i++)
            assert_memory_equal(a.o.state[i], b.o.state[i], sizeof(float) * a.o.total);
        assert_int_equal(a.o.step, b.o.step);
        assert_int_equal(a.s.step, b.s.step);

        /* Loading the weights but not the RNGs: different batches and masks. */
        run_init(&c, 30 + k, kinds[k]);
        c.s.n_rng = 0;
        assert_int_equal(tern_ckpt_load(path, &c.s), TERN_OK);
        run_steps(&c, 4, lc);
        assert_true(memcmp(la, lc, sizeof la) != 0);
        run_free(&a);
        run_free(&b);
        run_free(&c);
    }
}

/* ---- atomic saves --------------------------------------------------------- */

/* A save that cannot complete leaves an existing checkpoint byte-identical
 * and no temporary file behind: parent path is a regular file, a missing
 * directory, a write cut short by the file-size limit (EFBIG mid-write, so
 * HDF5 itself fails), and a state that cannot be stored. */
static void test_failed_save_keeps_old_checkpoint(void **state) {
    (void)state;
    char dir[600], path[700], bad[800];
    subdir("atomic", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/keep.h5", dir);
    run a;
    save_trained(&a, path, 4, TERN_OPTIM_ADAM);
    size_t n0;
    unsigned char *orig = read_all(path, &n0);
    int tmp_left;

    /* The parent "directory" is the checkpoint file itself. */
    snprintf(bad, sizeof bad, "%s/ckpt.h5", path);
    stderr_capture_begin();
    assert_int_equal(tern_ckpt_save(bad, &a.s), TERN_ERR_IO);
    stderr_capture_end();
    expect_msg(bad, "Not a directory");
    snprintf(bad, sizeof bad, "%s/missing/ckpt.h5", dir);
    stderr_capture_begin();
    assert_int_equal(tern_ckpt_save(bad, &a.s), TERN_ERR_IO);
    stderr_capture_end();
    expect_msg(bad, "No such file");

    /* Over the existing file, with writes past 4 KiB refused by the kernel. */
    run_steps(&a, 2, NULL);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 4096;
    assert_true(n0 > lim.rlim_cur);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    stderr_capture_begin();
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    tern_status st = tern_ckpt_save(path, &a.s);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    stderr_capture_end();
    signal(SIGXFSZ, prev);
    assert_int_equal(st, TERN_ERR_IO);
    expect_msg(path, "File too large");

    /* A parameter name HDF5 would read as a path: refused before any file. */
    tern_params p;
    tern_params_init(&p);
    int shape[1] = {3};
    assert_int_equal(tern_params_add(&p, "bad/name", 1, shape, TERN_PARAM_TRAIN, NULL), TERN_OK);
    assert_int_equal(tern_params_alloc(&p), TERN_OK);
    tern_ckpt_state s;
    tern_ckpt_state_init(&s, &p, NULL);
    assert_int_equal(tern_ckpt_save(path, &s), TERN_ERR_ARG);
    expect_msg(path, "'bad/name'");
    tern_params_free(&p);

    size_t n1;
    unsigned char *now = read_all(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(orig, now, n0);
    assert_int_equal(count_entries(dir, &tmp_left), 1);
    assert_false(tmp_left);
    /* And the old checkpoint still loads. */
    run b;
    run_init(&b, 5, TERN_OPTIM_ADAM);
    assert_int_equal(tern_ckpt_load(path, &b.s), TERN_OK);
    assert_int_equal(b.s.step, 5);
    free(orig);
    free(now);
    run_free(&a);
    run_free(&b);
}

/* ---- damaged and foreign files -------------------------------------------- */

/* Cut a real checkpoint at offsets from 0 to size-1, and try garbage bytes,
 * a text file, an HDF5 signature followed by garbage, a missing file and a
 * directory: each is refused with a clear status and the model untouched. */
static void test_truncated_and_garbage_files(void **state) {
    (void)state;
    char dir[600], path[700], bad[800];
    subdir("corrupt", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/good.h5", dir);
    run a, b;
    save_trained(&a, path, 6, TERN_OPTIM_ADAM);
    run_init(&b, 7, TERN_OPTIM_ADAM);
    size_t n;
    unsigned char *img = read_all(path, &n);
    snprintf(bad, sizeof bad, "%s/cut.h5", dir);
    /* Inside the magic line: not recognisable. Inside the header: damaged.
     * Past it: the size the header records tells exactly what is missing. */
    const size_t cuts[] = {0, 1, 8, 30, 47, 100, 511, 512, 2048, n / 3, n / 2, n - 200, n - 8, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char want[96];
        write_all(bad, img, cuts[i]);
        if (cuts[i] < strlen("tern-train checkpoint\n"))
            snprintf(want, sizeof want, "not a tern checkpoint");
        else if (cuts[i] < 512)
            snprintf(want, sizeof want, "damaged checkpoint");
        else
            snprintf(want, sizeof want, "damaged checkpoint: truncated to %zu of %zu bytes", cuts[i], n);
        expect_load_fails(&b, bad, TERN_ERR_FORMAT, want);
    }
    /* One byte too many is damage too. */
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, img, n);
    longer[n] = 0;
    write_all(bad, longer, n + 1);
    free(longer);
    expect_load_fails(&b, bad, TERN_ERR_FORMAT, "where its header says");
    /* The same bytes, whole, load: the cut was what failed. */
    write_all(bad, img, n);
    assert_int_equal(tern_ckpt_load(bad, &b.s), TERN_OK);
    run_free(&b);
    run_init(&b, 7, TERN_OPTIM_ADAM);

    unsigned char junk[4096];
    tern_rng r;
    tern_rng_seed(&r, 77);
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)tern_rng_below(&r, 256);
    snprintf(bad, sizeof bad, "%s/junk.h5", dir);
    write_all(bad, junk, sizeof junk);
    expect_load_fails(&b, bad, TERN_ERR_FORMAT, "not a tern checkpoint (HDF5:");
    memcpy(junk, img, 8); /* "\211HDF\r\n\032\n" and then garbage */
    write_all(bad, junk, sizeof junk);
    expect_load_fails(&b, bad, TERN_ERR_FORMAT, "not a tern checkpoint");
    snprintf(bad, sizeof bad, "%s/notes.txt", dir);
    const char *txt = "epoch 3: loss 0.25\n";
    write_all(bad, txt, strlen(txt));
    expect_load_fails(&b, bad, TERN_ERR_FORMAT, "not a tern checkpoint");

    snprintf(bad, sizeof bad, "%s/absent.h5", dir);
    expect_load_fails(&b, bad, TERN_ERR_IO, "No such file");
    expect_load_fails(&b, dir, TERN_ERR_IO, "not a regular file");

    /* read_config and read_info refuse the same way. */
    char *text = (char *)"x";
    snprintf(bad, sizeof bad, "%s/junk.h5", dir);
    assert_int_equal(tern_ckpt_read_config(bad, &text), TERN_ERR_FORMAT);
    assert_null(text);
    expect_msg(bad, "not a tern checkpoint");
    tern_ckpt_info info;
    assert_int_equal(tern_ckpt_read_info(bad, &info), TERN_ERR_FORMAT);
    expect_msg(bad, "not a tern checkpoint");
    free(img);
    run_free(&a);
    run_free(&b);
}

/* Rewrite the documented 512-byte header of `path` with `version` and the
 * file's real size and zlib CRC-32, as a tool that edits a checkpoint and
 * knows the format would. */
static void reseal(const char *path, int version) {
    size_t n;
    unsigned char *b = read_all(path, &n);
    assert_true(n > 512);
    unsigned long crc = crc32(crc32(0L, Z_NULL, 0), b + 512, (uInt)(n - 512));
    memset(b, 0, 512);
    snprintf((char *)b, 512, "tern-train checkpoint\nversion %d\nbytes %zu\ncrc32 %08lx\n", version, n, crc);
    write_all(path, b, n);
    free(b);
}

/* File offset and size of the (first) chunk of dataset `name`, via HDF5
 * (whose addresses count from the end of the 512-byte user block). */
static void chunk_location(const char *path, const char *name, haddr_t *addr, hsize_t *size) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(d >= 0);
    hsize_t origin[4] = {0, 0, 0, 0};
    unsigned mask = 0;
    assert_true(H5Dget_chunk_info_by_coord(d, origin, &mask, addr, size) >= 0);
    *addr += 512;
    H5Dclose(d);
    H5Fclose(f);
}

static void flip_byte(const char *path, size_t off) {
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, (off_t)off), 1);
    c ^= 0x10;
    assert_int_equal(pwrite(fd, &c, 1, (off_t)off), 1);
    close(fd);
}

/* One flipped bit inside a weight, a batchnorm statistic, an Adam moment or
 * an RNG state is caught by the header's CRC-32, and, with the CRC forged to
 * match, by the dataset's fletcher32 checksum. Flipping bytes all over the
 * file never crashes nor loads wrong numbers: a load either fails cleanly
 * with the model untouched, or (a byte of the header's padding) yields
 * exactly the saved state. */
static void test_bit_flips_are_detected(void **state) {
    (void)state;
    char dir[600], path[700], bad[800];
    subdir("bitflip", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/good.h5", dir);
    snprintf(bad, sizeof bad, "%s/flipped.h5", dir);
    run a, b;
    save_trained(&a, path, 8, TERN_OPTIM_ADAM);
    run_init(&b, 9, TERN_OPTIM_ADAM);
    size_t n;
    unsigned char *img = read_all(path, &n);
    const char *targets[] = {"/params/fc1.weight", "/params/bn1.running_var", "/optim/adam_v/fc2.weight",
                             "/rng/loader"};
    for (int t = 0; t < 4; t++) {
        haddr_t addr;
        hsize_t size;
        chunk_location(path, targets[t], &addr, &size);
        assert_true(addr + size <= n);
        write_all(bad, img, n);
        flip_byte(bad, (size_t)addr + (size_t)size / 2);
        expect_load_fails(&b, bad, TERN_ERR_FORMAT, "damaged checkpoint: CRC-32 is ");
        /* With the header's CRC recomputed over the damage, HDF5's per-dataset
         * fletcher32 still refuses it, naming the dataset. */
        reseal(bad, 1);
        expect_load_fails(&b, bad, TERN_ERR_FORMAT, targets[t]);
        expect_msg(bad, "damaged checkpoint: cannot read");
    }

    /* Sweep: every 13th byte of the file. */
    int refused = 0, harmless = 0;
    for (size_t off = 0; off < n; off += 13) {
        write_all(bad, img, n);
        flip_byte(bad, off);
        snapshot sn;
        snap_take(&sn, &b);
        stderr_capture_begin();
        tern_status st = tern_ckpt_load(bad, &b.s);
        stderr_capture_end();
        ssize_t open_ids = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
        if (open_ids != 0) fail_msg("flip at %zu: %zd HDF5 objects left open (%s)", off, open_ids, tern_errmsg());
        if (st == TERN_OK) {
            harmless++;
            int same = memcmp(a.m.params.data, b.m.params.data, sizeof(float) * a.m.params.total) == 0 &&
                       memcmp(&a.model_rng, &b.model_rng, sizeof(tern_rng)) == 0 &&
                       memcmp(&a.data_rng, &b.data_rng, sizeof(tern_rng)) == 0 && b.s.step == a.s.step &&
                       b.s.epoch == a.s.epoch && b.o.step == a.o.step;
            for (int i = 0; i < a.o.n_state; i++)
                same = same && memcmp(a.o.state[i], b.o.state[i], sizeof(float) * a.o.total) == 0;
            double best = 0;
            same = same && b.s.n_meta == 2 && tern_ckpt_get_meta(&b.s, "best_acc", &best) && best == 0.8125;
            char *text = NULL;
            if (tern_ckpt_read_config(bad, &text) == TERN_OK) same = same && strcmp(text, g_config) == 0;
            free(text);
            if (!same) fail_msg("a flipped byte at offset %zu of %zu loaded without error but changed the state", off,
                                n);
            run_free(&b);
            run_init(&b, 9, TERN_OPTIM_ADAM);
        } else {
            refused++;
            if (st != TERN_ERR_FORMAT)
                fail_msg("flip at %zu: status %s (%s)", off, tern_status_name(st), tern_errmsg());
            expect_msg(bad, NULL);
            snap_check_unchanged(&sn, &b);
        }
        snap_free(&sn);
    }
    print_message("byte flips over %zu bytes: %d refused, %d harmless (header padding)\n", n, refused, harmless);
    assert_true(refused > 0);
    free(img);
    run_free(&a);
    run_free(&b);
}

/* Files written here with HDF5 directly: no format attribute, a non-string
 * format, another format, and a real checkpoint whose version is rewritten. */
static void test_foreign_format_and_version(void **state) {
    (void)state;
    char dir[600], path[700];
    subdir("foreign", dir, sizeof dir);
    run b;
    run_init(&b, 11, TERN_OPTIM_ADAM);

    snprintf(path, sizeof path, "%s/plain.h5", dir);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    float w[3] = {1, 2, 3};
    hsize_t three = 3;
    assert_true(H5LTmake_dataset_float(f, "weights", 1, &three, w) >= 0);
    H5Fclose(f);
    expect_load_fails(&b, path, TERN_ERR_FORMAT, "without a 'format' attribute");

    snprintf(path, sizeof path, "%s/intformat.h5", dir);
    f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    int one = 1;
    assert_true(H5LTset_attribute_int(f, "/", "format", &one, 1) >= 0);
    H5Fclose(f);
    expect_load_fails(&b, path, TERN_ERR_FORMAT, "'format' attribute is not a short string");

    snprintf(path, sizeof path, "%s/deploy.h5", dir);
    f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5LTset_attribute_string(f, "/", "format", "tern-deploy") >= 0);
    assert_true(H5LTset_attribute_int(f, "/", "version", &one, 1) >= 0);
    H5Fclose(f);
    expect_load_fails(&b, path, TERN_ERR_FORMAT, "format 'tern-deploy', expected 'tern-train'");

    /* Written with HDF5 alone: tern-train, version 2, no tern header. */
    snprintf(path, sizeof path, "%s/v2plain.h5", dir);
    f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    int two = 2;
    assert_true(H5LTset_attribute_string(f, "/", "format", "tern-train") >= 0);
    assert_true(H5LTset_attribute_int(f, "/", "version", &two, 1) >= 0);
    H5Fclose(f);
    expect_load_fails(&b, path, TERN_ERR_FORMAT, "version 2, but this tern reads version 1");
    expect_msg(path, "start a new run");
    /* The same with version 1: a tern-train file without the tern header. */
    snprintf(path, sizeof path, "%s/v1plain.h5", dir);
    f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5LTset_attribute_string(f, "/", "format", "tern-train") >= 0);
    assert_true(H5LTset_attribute_int(f, "/", "version", &one, 1) >= 0);
    H5Fclose(f);
    expect_load_fails(&b, path, TERN_ERR_FORMAT, "header (the first 512 bytes) is missing");

    /* A real checkpoint whose header says version 2. */
    snprintf(path, sizeof path, "%s/v2.h5", dir);
    run a;
    save_trained(&a, path, 12, TERN_OPTIM_ADAM);
    size_t n;
    unsigned char *img = read_all(path, &n);
    reseal(path, 2);
    expect_load_fails(&b, path, TERN_ERR_FORMAT, "version 2, but this tern reads version 1");
    /* Its version attribute rewritten with HDF5: the CRC notices the edit;
     * resealed, the attribute itself is refused. */
    write_all(path, img, n);
    f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t at = H5Aopen(f, "version", H5P_DEFAULT);
    assert_true(H5Awrite(at, H5T_NATIVE_INT, &two) >= 0);
    H5Aclose(at);
    H5Fclose(f);
    expect_load_fails(&b, path, TERN_ERR_FORMAT, "damaged checkpoint");
    reseal(path, 1);
    expect_load_fails(&b, path, TERN_ERR_FORMAT, "version 2, but this tern reads version 1");
    /* The pristine bytes load: the edits were what failed. */
    write_all(path, img, n);
    assert_int_equal(tern_ckpt_load(path, &b.s), TERN_OK);
    free(img);
    run_free(&a);
    run_free(&b);
}

/* ---- architecture and optimizer mismatches -------------------------------- */

static void test_architecture_mismatch(void **state) {
    (void)state;
    char dir[600], path[700], path3[700], want[256];
    subdir("arch", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/a.h5", dir);
    snprintf(path3, sizeof path3, "%s/a3.h5", dir);
    run a, a3, b;
    save_trained(&a, path, 13, TERN_OPTIM_ADAM);
    run_init_arch(&a3, 14, 12, 1, TERN_OPTIM_ADAM, 0.0f);
    assert_int_equal(tern_ckpt_save(path3, &a3.s), TERN_OK);

    /* fc1 has 10 units instead of 12. */
    run_init_arch(&b, 15, 10, 0, TERN_OPTIM_ADAM, 0.0f);
    snprintf(want, sizeof want, "parameter 'fc1.weight' is (12,%d) in the checkpoint but (10,%d) in the model", D, D);
    expect_load_fails(&b, path, TERN_ERR_FORMAT, want);
    expect_msg(path, "another architecture");
    expect_msg(path, "/config");
    run_free(&b);

    /* The model has fc3, the checkpoint does not. */
    run_init_arch(&b, 15, 12, 1, TERN_OPTIM_ADAM, 0.0f);
    expect_load_fails(&b, path, TERN_ERR_FORMAT, "parameter 'fc3.weight' is missing from the checkpoint");
    expect_msg(path, "another architecture");
    run_free(&b);

    /* The checkpoint has fc3, the model does not (first by name: fc3.bias). */
    run_init_arch(&b, 15, 12, 0, TERN_OPTIM_ADAM, 0.0f);
    expect_load_fails(&b, path3, TERN_ERR_FORMAT, "/params/fc3.bias, which the model lacks");
    expect_msg(path3, "another architecture");

    /* Another optimizer: refused; without an optimizer the weights load. */
    run_free(&b);
    run_init(&b, 15, TERN_OPTIM_SGD);
    expect_load_fails(&b, path, TERN_ERR_FORMAT, "optimizer is adam but this run's is sgd");
    b.s.optim = NULL;
    assert_int_equal(tern_ckpt_load(path, &b.s), TERN_OK);
    assert_memory_equal(a.m.params.data, b.m.params.data, sizeof(float) * a.m.params.total);
    assert_int_equal(b.o.step, 0); /* the optimizer was not touched */
    b.s.optim = &b.o;

    /* SGD with momentum against SGD without: both directions refused. */
    char ps[700];
    snprintf(ps, sizeof ps, "%s/sgd0.h5", dir);
    assert_int_equal(tern_ckpt_save(ps, &b.s), TERN_OK); /* momentum 0.9 */
    run c;
    run_init_arch(&c, 16, 12, 0, TERN_OPTIM_SGD, 0.0f);
    expect_load_fails(&c, ps, TERN_ERR_FORMAT, "keeps 1 state block(s) but this run's keeps 0");
    snprintf(ps, sizeof ps, "%s/sgd1.h5", dir);
    assert_int_equal(tern_ckpt_save(ps, &c.s), TERN_OK);
    expect_load_fails(&b, ps, TERN_ERR_FORMAT, "keeps no 'momentum' state");

    /* Saved without an optimizer, resumed with one: refused with the way out. */
    snprintf(ps, sizeof ps, "%s/noopt.h5", dir);
    c.s.optim = NULL;
    assert_int_equal(tern_ckpt_save(ps, &c.s), TERN_OK);
    expect_load_fails(&b, ps, TERN_ERR_FORMAT, "holds no optimizer state");
    expect_msg(ps, "without an optimizer");

    /* An RNG the trainer expects but the checkpoint lacks. */
    tern_rng aug;
    tern_rng_seed(&aug, 5);
    assert_int_equal(tern_ckpt_add_rng(&a.s, "augment", &aug), TERN_OK);
    tern_rng aug0 = aug;
    expect_load_fails(&a, path, TERN_ERR_FORMAT, "rng 'augment' is missing from the checkpoint");
    assert_memory_equal(&aug, &aug0, sizeof aug);
    run_free(&a);
    run_free(&a3);
    run_free(&b);
    run_free(&c);
}

/* ---- the config inside the checkpoint ------------------------------------ */

/* What `tern eval CKPT` and `tern train --resume CKPT` do: a checkpoint saved
 * with a shipped config's resolved YAML gives that text back, it parses into
 * the same model (conv weights are 4-D datasets here), and the checkpoint
 * loads into a model built from it alone. */
static void test_stored_config_rebuilds_the_model(void **state) {
    (void)state;
    const char *src = getenv("TERN_SOURCE_DIR");
    if (!src) skip();
    char dir[600], path[700], yaml_path[1024];
    subdir("config", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/lenet.h5", dir);
    snprintf(yaml_path, sizeof yaml_path, "%s/configs/mnist_lenet5.yaml", src);
    tern_config cfg, cfg2;
    assert_int_equal(tern_config_load(&cfg, yaml_path), TERN_OK);
    char *yaml = NULL;
    size_t len = 0;
    assert_int_equal(tern_config_to_yaml(&cfg, &yaml, &len), TERN_OK);
    int in[3] = {cfg.dataset.channels, 28, 28};
    tern_model m, m2;
    tern_optim o, o2;
    assert_int_equal(tern_model_init(&m, cfg.model.layers, cfg.model.n_layers, 3, in, cfg.model.init, 1), TERN_OK);
    assert_int_equal(tern_optim_init(&o, &m.params, &cfg.optimizer.cfg), TERN_OK);
    /* Optimizer state that is not all zero, so its round trip is seen (the
     * optimizer keeps state for trainable entries only). */
    for (int i = 0; i < m.params.count; i++) {
        const tern_param *q = &m.params.items[i];
        float *v = tern_optim_state_view(&o, 0, q);
        for (size_t j = 0; q->flags & TERN_PARAM_TRAIN && j < q->t.n; j++) v[j] = (float)(i + j) * 1e-3f;
    }
    o.step = 3;
    tern_ckpt_state s;
    tern_ckpt_state_init(&s, &m.params, &o);
    s.config_text = yaml;
    assert_int_equal(tern_ckpt_save(path, &s), TERN_OK);

    char *text = NULL;
    assert_int_equal(tern_ckpt_read_config(path, &text), TERN_OK);
    assert_string_equal(text, yaml);
    assert_int_equal(tern_config_load_text(&cfg2, text, strlen(text), path), TERN_OK);
    assert_int_equal(cfg2.model.n_layers, cfg.model.n_layers);
    assert_int_equal(tern_model_init(&m2, cfg2.model.layers, cfg2.model.n_layers, 3, in, cfg2.model.init, 2),
                     TERN_OK);
    assert_int_equal(tern_optim_init(&o2, &m2.params, &cfg2.optimizer.cfg), TERN_OK);
    tern_ckpt_state s2;
    tern_ckpt_state_init(&s2, &m2.params, &o2);
    assert_true(memcmp(m.params.data, m2.params.data, sizeof(float) * m.params.total) != 0);
    assert_int_equal(tern_ckpt_load(path, &s2), TERN_OK);
    assert_int_equal(m.params.total, m2.params.total);
    assert_memory_equal(m.params.data, m2.params.data, sizeof(float) * m.params.total);
    for (int i = 0; i < m.params.count; i++) {
        const tern_param *q = &m.params.items[i];
        if (q->flags & TERN_PARAM_TRAIN)
            assert_memory_equal(tern_optim_state_view(&o, 0, q), tern_optim_state_view(&o2, 0, &m2.params.items[i]),
                                sizeof(float) * q->t.n);
    }
    assert_int_equal(o2.step, 3);
    const tern_param *w = tern_params_find(&m2.params, "conv2.weight");
    assert_non_null(w);
    assert_int_equal(w->t.ndim, 4);
    free(text);
    free(yaml);
    tern_optim_free(&o);
    tern_optim_free(&o2);
    tern_model_free(&m);
    tern_model_free(&m2);
    tern_config_free(&cfg);
    tern_config_free(&cfg2);
}

/* ---- bad arguments -------------------------------------------------------- */

static void test_bad_arguments(void **state) {
    (void)state;
    char dir[600], path[700];
    subdir("args", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/x.h5", dir);
    run a;
    run_init(&a, 17, TERN_OPTIM_ADAM);

    assert_int_equal(tern_ckpt_save(NULL, &a.s), TERN_ERR_ARG);
    assert_int_equal(tern_ckpt_save("", &a.s), TERN_ERR_ARG);
    assert_int_equal(tern_ckpt_save(path, NULL), TERN_ERR_ARG);
    assert_int_equal(tern_ckpt_load(NULL, &a.s), TERN_ERR_ARG);
    assert_int_equal(tern_ckpt_read_config(path, NULL), TERN_ERR_ARG);
    assert_int_equal(tern_ckpt_read_info(path, NULL), TERN_ERR_ARG);

    /* A table that was never allocated. */
    tern_params p;
    tern_params_init(&p);
    tern_ckpt_state s;
    tern_ckpt_state_init(&s, &p, NULL);
    assert_int_equal(tern_ckpt_save(path, &s), TERN_ERR_ARG);
    expect_msg(path, "not allocated");

    /* An optimizer bound to another table. */
    run o;
    run_init(&o, 18, TERN_OPTIM_ADAM);
    tern_ckpt_state_init(&s, &a.m.params, &o.o);
    assert_int_equal(tern_ckpt_save(path, &s), TERN_ERR_ARG);
    expect_msg(path, "another parameter table");
    assert_int_equal(tern_ckpt_load(path, &s), TERN_ERR_ARG);

    /* RNG and metadata names. */
    tern_rng r;
    tern_rng_seed(&r, 1);
    assert_int_equal(tern_ckpt_add_rng(&a.s, "model", &r), TERN_ERR_ARG); /* duplicate */
    expect_msg(NULL, "duplicate rng 'model'");
    assert_int_equal(tern_ckpt_add_rng(&a.s, "", &r), TERN_ERR_ARG);
    assert_int_equal(tern_ckpt_add_rng(&a.s, "a/b", &r), TERN_ERR_ARG);
    assert_int_equal(tern_ckpt_add_rng(&a.s, "this-name-is-thirty-two-chars-xx", &r), TERN_ERR_ARG);
    assert_int_equal(tern_ckpt_add_rng(&a.s, "ok", NULL), TERN_ERR_ARG);
    char name[16];
    for (int i = a.s.n_rng; i < TERN_CKPT_MAX_RNG; i++) {
        snprintf(name, sizeof name, "r%d", i);
        assert_int_equal(tern_ckpt_add_rng(&a.s, name, &r), TERN_OK);
    }
    assert_int_equal(tern_ckpt_add_rng(&a.s, "one_more", &r), TERN_ERR_NOMEM);
    assert_int_equal(tern_ckpt_set_meta(&a.s, "x/y", 1.0), TERN_ERR_ARG);
    assert_int_equal(tern_ckpt_set_meta(&a.s, "acc", 0.5), TERN_OK);
    assert_int_equal(tern_ckpt_set_meta(&a.s, "acc", 0.75), TERN_OK); /* replaced, not added */
    assert_int_equal(a.s.n_meta, 1);
    for (int i = 1; i < TERN_CKPT_MAX_META; i++) {
        snprintf(name, sizeof name, "m%d", i);
        assert_int_equal(tern_ckpt_set_meta(&a.s, name, i), TERN_OK);
    }
    assert_int_equal(tern_ckpt_set_meta(&a.s, "one_more", 1.0), TERN_ERR_NOMEM);
    double v = 0;
    assert_true(tern_ckpt_get_meta(&a.s, "acc", &v) && v == 0.75);
    assert_false(tern_ckpt_get_meta(&a.s, "nope", &v));
    /* A full state (8 RNGs, 16 values) saves and reads back. */
    assert_int_equal(tern_ckpt_save(path, &a.s), TERN_OK);
    tern_ckpt_info info;
    assert_int_equal(tern_ckpt_read_info(path, &info), TERN_OK);
    assert_int_equal(info.n_rng, TERN_CKPT_MAX_RNG);
    assert_int_equal(info.n_meta, TERN_CKPT_MAX_META);
    /* A state edited by hand into nonsense is refused, not trusted. */
    a.s.n_rng = TERN_CKPT_MAX_RNG + 1;
    assert_int_equal(tern_ckpt_save(path, &a.s), TERN_ERR_ARG);
    a.s.n_rng = 2;
    strcpy(a.s.rng[1].name, "model");
    assert_int_equal(tern_ckpt_save(path, &a.s), TERN_ERR_ARG);
    expect_msg(path, "duplicate rng 'model'");
    run_free(&a);
    run_free(&o);
}

/* ---- hostile values behind a valid CRC ------------------------------------ */

/* Open the checkpoint at `path` for editing with HDF5; reseal after close. */
static hid_t edit_open(const char *path, const void *img, size_t n) {
    write_all(path, img, n);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    return f;
}

static void edit_attr_i64(const char *path, const void *img, size_t n, const char *obj, const char *name,
                          long long v) {
    hid_t f = edit_open(path, img, n);
    hid_t o = H5Oopen(f, obj, H5P_DEFAULT);
    hid_t a = H5Aopen(o, name, H5P_DEFAULT);
    assert_true(o >= 0 && a >= 0);
    assert_true(H5Awrite(a, H5T_NATIVE_LLONG, &v) >= 0);
    H5Aclose(a);
    H5Oclose(o);
    H5Fclose(f);
    reseal(path, 1);
}

/* Element `at` of float dataset `dset` set to v. */
static void edit_float(const char *path, const void *img, size_t n, const char *dset, hsize_t at, float v) {
    hid_t f = edit_open(path, img, n);
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
    assert_true(d >= 0);
    hid_t sp = H5Dget_space(d);
    hssize_t npts = H5Sget_simple_extent_npoints(sp);
    float *buf = malloc(sizeof(float) * (size_t)npts);
    assert_true(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    buf[at] = v;
    assert_true(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    free(buf);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    reseal(path, 1);
}

/* A checkpoint edited with HDF5 and resealed (so its CRC is valid) with
 * counters no run can reach, NaN or inf in any float, a negative second
 * moment, a non-finite metadata value or more RNG streams than a checkpoint
 * holds is refused at load, naming the file and the attribute or parameter,
 * and the model is untouched. Before these checks, epoch 2^62 loaded as
 * given (and the trainer cast it to int), a step of INT64_MAX reached the
 * optimizer's step + 1, NaN weights evaluated to a NaN loss, and 9 RNG
 * streams were refused by read_info alone. */
static void test_hostile_values_are_refused(void **state) {
    (void)state;
    char dir[600], path[700], bad[800];
    subdir("hostile", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/last.h5", dir);
    snprintf(bad, sizeof bad, "%s/bad.h5", dir);
    run a, b;
    save_trained(&a, path, 31, TERN_OPTIM_ADAM);
    run_init(&b, 32, TERN_OPTIM_ADAM);
    size_t n;
    unsigned char *img = read_all(path, &n);

    edit_attr_i64(bad, img, n, "/", "epoch", 1LL << 62);
    expect_load_fails(&b, bad, TERN_ERR_FORMAT, "attribute 'epoch' of / is 4611686018427387904, outside 0..");
    tern_ckpt_info info;
    assert_int_equal(tern_ckpt_read_info(bad, &info), TERN_ERR_FORMAT);
    expect_msg(bad, "attribute 'epoch'");
    edit_attr_i64(bad, img, n, "/", "epoch", -1);
    expect_load_fails(&b, bad, TERN_ERR_FORMAT, "attribute 'epoch' of / is -1");
    edit_attr_i64(bad, img, n, "/", "step", INT64_MAX);
    expect_load_fails(&b, bad, TERN_ERR_FORMAT, "attribute 'step' of / is 9223372036854775807");
    edit_attr_i64(bad, img, n, "/optim", "step", INT64_MAX);
    expect_load_fails(&b, bad, TERN_ERR_FORMAT, "attribute 'step' of /optim is 9223372036854775807");
    assert_int_equal(tern_ckpt_read_info(bad, &info), TERN_ERR_FORMAT);

    edit_float(bad, img, n, "/params/fc1.weight", 3, NAN);
    expect_load_fails(&b, bad, TERN_ERR_FORMAT, "parameter 'fc1.weight' holds nan at index 3");
    edit_float(bad, img, n, "/params/bn1.running_var", 0, INFINITY);
    expect_load_fails(&b, bad, TERN_ERR_FORMAT, "parameter 'bn1.running_var' holds inf at index 0");
    edit_float(bad, img, n, "/optim/adam_m/fc2.alpha", 0, -INFINITY);
    expect_load_fails(&b, bad, TERN_ERR_FORMAT, "adam_m state of 'fc2.alpha' holds -inf");
    edit_float(bad, img, n, "/optim/adam_v/fc1.bias", 2, -1e-3f);
    expect_load_fails(&b, bad, TERN_ERR_FORMAT, "adam_v state of 'fc1.bias' holds -0.001 at index 2, which must be finite and >= 0");
    /* A negative first moment is an ordinary value. */
    edit_float(bad, img, n, "/optim/adam_m/fc1.bias", 2, -1e-3f);
    assert_int_equal(tern_ckpt_load(bad, &b.s), TERN_OK);

    hid_t f = edit_open(bad, img, n);
    double inf = INFINITY;
    hid_t mg = H5Gopen2(f, "meta", H5P_DEFAULT);
    hid_t at = H5Aopen(mg, "best_acc", H5P_DEFAULT);
    assert_true(at >= 0 && H5Awrite(at, H5T_NATIVE_DOUBLE, &inf) >= 0);
    H5Aclose(at);
    H5Gclose(mg);
    H5Fclose(f);
    reseal(bad, 1);
    expect_load_fails(&b, bad, TERN_ERR_FORMAT, "/meta attribute 'best_acc' is inf");

    /* One RNG stream too many: one rule for load and read_info (and so for eval,
     * resume and inspect). */
    f = edit_open(bad, img, n);
    uint64_t rs[4] = {1, 2, 3, 4};
    hsize_t four = 4;
    hid_t g = H5Gopen2(f, "rng", H5P_DEFAULT);
    for (int i = 0; i < TERN_CKPT_MAX_RNG - 1; i++) {
        char name[16];
        snprintf(name, sizeof name, "extra%d", i);
        assert_true(H5LTmake_dataset(g, name, 1, &four, H5T_NATIVE_UINT64, rs) >= 0);
    }
    H5Gclose(g);
    H5Fclose(f);
    reseal(bad, 1);
    char want[96];
    snprintf(want, sizeof want, "/rng holds %d random streams, more than the %d", TERN_CKPT_MAX_RNG + 1,
             TERN_CKPT_MAX_RNG);
    expect_load_fails(&b, bad, TERN_ERR_FORMAT, want);
    assert_int_equal(tern_ckpt_read_info(bad, &info), TERN_ERR_FORMAT);
    expect_msg(bad, want);

    /* The writer refuses what the reader would: NaN weights, inf metadata. */
    assert_int_equal(tern_ckpt_set_meta(&a.s, "x", NAN), TERN_ERR_ARG);
    expect_msg(NULL, "'x' = nan is not a finite number");
    a.m.params.data[1] = NAN;
    assert_int_equal(tern_ckpt_save(bad, &a.s), TERN_ERR_ARG);
    expect_msg(bad, "the model's parameter 'fc1.weight' holds nan at index 1");
    /* And the pristine file loads. */
    write_all(bad, img, n);
    assert_int_equal(tern_ckpt_load(bad, &b.s), TERN_OK);
    free(img);
    run_free(&a);
    run_free(&b);
}

int main(void) {
    make_data();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_is_bit_exact),
        cmocka_unit_test(test_schema_is_as_documented),
        cmocka_unit_test(test_resume_continues_exactly),
        cmocka_unit_test(test_failed_save_keeps_old_checkpoint),
        cmocka_unit_test(test_truncated_and_garbage_files),
        cmocka_unit_test(test_bit_flips_are_detected),
        cmocka_unit_test(test_foreign_format_and_version),
        cmocka_unit_test(test_architecture_mismatch),
        cmocka_unit_test(test_stored_config_rebuilds_the_model),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_hostile_values_are_refused),
    };
    return cmocka_run_group_tests(tests, group_setup, tmpdir_teardown);
}
