/* train.c — the training loop: data → steps → evaluation → metrics → checkpoints. */
#include "tern/train.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/fsutil.h"
#include "tern/checkpoint.h"
#include "tern/monitor.h"
#include "tern/ops.h"
#include "tern/parallel.h"

/* ---- evaluation ---------------------------------------------------------- */

tern_status tern_evaluate(tern_model *m, const tern_dataset *ds, int batch, tern_eval_result *r) {
    memset(r, 0, sizeof *r);
    int shape[4] = {0, ds->c, ds->h, ds->w};
    int ok = m->in_ndim == 3 && m->in_shape[0] == ds->c && m->in_shape[1] == ds->h && m->in_shape[2] == ds->w;
    if (!ok)
        return tern_error(TERN_ERR_SHAPE, "evaluate: dataset images (%d,%d,%d) do not match the model's input",
                          ds->c, ds->h, ds->w);
    if (batch < 1) return tern_error(TERN_ERR_ARG, "evaluate: batch %d must be >= 1", batch);
    tern_ctx c;
    tern_status st = tern_ctx_init(&c, 0);
    if (st) return st;
    size_t per = (size_t)ds->c * ds->h * ds->w;
    double loss_sum = 0.0;
    for (int i = 0; i < ds->n && !st; i += batch) {
        int n = ds->n - i < batch ? ds->n - i : batch;
        shape[0] = n;
        tern_tensor x = tern_tensor_view(ds->images + per * (size_t)i, NULL, 4, shape);
        tern_ctx_reset(&c);
        tern_ctx_mode(&c, 0, 0);
        tern_tensor *logits = tern_model_forward(m, &c, &x);
        tern_tensor *loss = tern_softmax_xent(&c, logits, ds->labels + i);
        if (!loss) {
            st = c.status ? c.status : TERN_ERR_ARG;
            break;
        }
        loss_sum += (double)loss->data[0] * n;
        int K = logits->shape[1];
        for (int j = 0; j < n; j++) {
            const float *z = logits->data + (size_t)j * K;
            int best = 0, y = ds->labels[i + j];
            for (int k = 1; k < K; k++)
                if (z[k] > z[best]) best = k;
            if (y < TERN_DATA_MAX_CLASSES) {
                r->class_n[y]++;
                r->class_correct[y] += best == y;
            }
            r->correct += best == y;
        }
        r->n += n;
    }
    tern_ctx_free(&c);
    if (st) return st;
    r->loss = r->n ? (float)(loss_sum / r->n) : NAN;
    r->acc = r->n ? (float)r->correct / (float)r->n : NAN;
    return TERN_OK;
}

/* ---- the run ------------------------------------------------------------- */

typedef struct run {
    const tern_config *cfg;
    char dir[TERN_CONFIG_PATH_LEN];         /* the run directory (output.dir) */
    char stage[TERN_CONFIG_PATH_LEN + 48];  /* a new run's directory until its first checkpoint; "" after */
    char from_csv[TERN_CONFIG_PATH_LEN + 16];/* resuming: the metrics.csv whose rows continue */
    char ckpt_path[TERN_CONFIG_PATH_LEN + 64];
    char csv_path[TERN_CONFIG_PATH_LEN + 64];
    int in_place;              /* resuming in the checkpoint's own directory */
    tern_dataset train, test;
    tern_model model;
    tern_optim optim;
    tern_sched sched;
    tern_ctx ctx;
    tern_loader loader;
    tern_rng model_rng;        /* dropout */
    tern_rng loader_epoch_rng; /* the loader's RNG when the epoch in progress began */
    tern_ckpt_state ck;
    char *config_text;
    float *xb;
    int *yb;
    int have_ckpt;             /* a checkpoint of this run exists on disk */
} run;

static void run_free(run *r) {
    tern_dataset_free(&r->train);
    tern_dataset_free(&r->test);
    tern_model_free(&r->model);
    tern_optim_free(&r->optim);
    tern_ctx_free(&r->ctx);
    tern_loader_free(&r->loader);
    free(r->config_text);
    free(r->xb);
    free(r->yb);
}

/* Both splits, normalised alike: statistics computed on the training split
 * are applied to the test split as given values. */
static tern_status load_data(const tern_config *cfg, const char *dir, tern_dataset *train, tern_dataset *test,
                             int want_train) {
    tern_status st = TERN_OK;
    tern_norm norm = cfg->dataset.norm;
    if (want_train || norm.mode == TERN_NORM_COMPUTE) {
        st = tern_dataset_load(train, cfg->dataset.name, dir, "train", &norm);
        if (st) return st;
        if (norm.mode == TERN_NORM_COMPUTE) {
            norm.mode = TERN_NORM_GIVEN;
            memcpy(norm.mean, train->mean, sizeof norm.mean);
            memcpy(norm.std, train->std, sizeof norm.std);
        }
    }
    if ((st = tern_dataset_load(test, cfg->dataset.name, dir, "test", &norm))) return st;
    /* The model is built for one image size: a split of another size would
     * fail only at its first forward, after the run directory is written. */
    if (want_train && (train->c != test->c || train->h != test->h || train->w != test->w))
        return tern_error(TERN_ERR_SHAPE, "%s: the training images are (%d,%d,%d) but the test images are (%d,%d,%d); "
                          "both splits of a dataset must have one size", dir, train->c, train->h, train->w, test->c,
                          test->h, test->w);
    return TERN_OK;
}

static tern_status build(run *r, const tern_config *cfg, int want_train, const char *data_dir) {
    char dir[TERN_CONFIG_PATH_LEN];
    tern_status st;
    if (data_dir) snprintf(dir, sizeof dir, "%s", data_dir);
    else if ((st = tern_config_dataset_dir(cfg, dir, sizeof dir))) return st;
    if ((st = load_data(cfg, dir, &r->train, &r->test, want_train))) return st;
    const tern_dataset *ds = &r->test;
    int in[3] = {ds->c, ds->h, ds->w};
    st = tern_model_init(&r->model, cfg->model.layers, cfg->model.n_layers, 3, in, cfg->model.init,
                         cfg->training.seed);
    if (st) return st;
    if (r->model.n_classes != ds->n_classes)
        return tern_error(TERN_ERR_CONFIG, "%s: the model has %d outputs but %s has %d classes", cfg->source,
                          r->model.n_classes, cfg->dataset.name, ds->n_classes);
    return TERN_OK;
}

/* What a step needs, roughly, against the machine's memory, so a model too
 * big for it is refused before anything is written rather than killed at
 * its first step: each layer's output and its gradient for the whole batch
 * (with a third copy for the quantized inputs and im2col buffers), the
 * parameters, their gradients and the optimizer state. In double: no
 * overflow, and an estimate is all this is. */
static tern_status check_memory(const run *r, const tern_config *cfg) {
    const tern_model *m = &r->model;
    double act = 0.0;
    for (int i = 0; i < m->n_layers; i++) {
        double n = 1.0;
        for (int k = 0; k < m->layers[i].out_ndim; k++) n *= m->layers[i].out_shape[k];
        act += n;
    }
    double need = 4.0 * (3.0 * act * cfg->training.batch_size + (2.0 + r->optim.n_state) * (double)m->params.total);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double have = pages > 0 && page > 0 ? (double)pages * (double)page : 0.0;
    if (have > 0.0 && need > have)
        return tern_error(TERN_ERR_NOMEM, "%s: a step with batch_size %d needs about %.1f GiB but this machine has "
                          "%.1f GiB; lower training.batch_size or make the model smaller", cfg->source,
                          cfg->training.batch_size, need / 1073741824.0, have / 1073741824.0);
    return TERN_OK;
}

static void emit(const tern_train_opts *o, tern_train_event *ev) {
    if (o && o->cb) o->cb(ev, o->user);
}

static void set_paths(run *r, const char *base) {
    snprintf(r->ckpt_path, sizeof r->ckpt_path, "%s/last.h5", base);
    snprintf(r->csv_path, sizeof r->csv_path, "%s/metrics.csv", base);
}

/* A new run (or a fork) lives in r->stage until its first checkpoint: then,
 * resumable, it takes the run directory's place whole. */
static tern_status publish(run *r) {
    tern_status st = tern_fs_replace_dir(r->stage, r->dir);
    if (st) return st;
    r->stage[0] = '\0';
    set_paths(r, r->dir);
    return TERN_OK;
}

static tern_status save_ckpt(run *r, long epoch, long step, int batch, double loss_sum, long correct, long seen) {
    r->ck.epoch = epoch;
    r->ck.step = step;
    tern_status st = TERN_OK;
    st = st ? st : tern_ckpt_set_meta(&r->ck, "batch", batch);
    st = st ? st : tern_ckpt_set_meta(&r->ck, "epoch_loss_sum", loss_sum);
    st = st ? st : tern_ckpt_set_meta(&r->ck, "epoch_correct", (double)correct);
    st = st ? st : tern_ckpt_set_meta(&r->ck, "epoch_seen", (double)seen);
    st = st ? st : tern_ckpt_save(r->ckpt_path, &r->ck);
    if (!st && r->stage[0]) st = publish(r);
    if (!st) r->have_ckpt = 1;
    return st;
}

/* metrics.csv: a new file with the header, or (resuming) the header and the
 * rows of the epochs already done from r->from_csv, written atomically. */
static tern_status metrics_prepare(run *r, int epochs_done) {
    char tmp[sizeof r->csv_path + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", r->csv_path);
    FILE *out = fopen(tmp, "w");
    if (!out) return tern_error(TERN_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    FILE *in = epochs_done > 0 && r->from_csv[0] ? fopen(r->from_csv, "r") : NULL;
    char line[4096];
    int wrote_header = 0;
    if (in) {
        while (fgets(line, sizeof line, in)) {
            if (!wrote_header) {
                fputs(line, out);
                wrote_header = 1;
                continue;
            }
            if (atoi(line) <= epochs_done) fputs(line, out);
        }
        fclose(in);
    }
    if (!wrote_header) {
        fprintf(out, "epoch,train_loss,train_acc,test_loss,test_acc,sparsity,samples_per_s,seconds,lr,step_ms,"
                     "peak_rss_mb");
        for (int i = 0; i < r->model.n_layers; i++)
            if (r->model.layers[i].spec.ternary) fprintf(out, ",sparsity_%s", r->model.layers[i].spec.name);
        fputc('\n', out);
    }
    if (fflush(out) || fsync(fileno(out)) || fclose(out)) {
        unlink(tmp);
        return tern_error(TERN_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    }
    if (rename(tmp, r->csv_path)) {
        unlink(tmp);
        return tern_error(TERN_ERR_IO, "%s: cannot rename into place: %s", r->csv_path, strerror(errno));
    }
    return TERN_OK;
}

static tern_status metrics_append(run *r, const tern_train_event *ev) {
    FILE *f = fopen(r->csv_path, "a");
    if (!f) return tern_error(TERN_ERR_IO, "%s: cannot append: %s", r->csv_path, strerror(errno));
    fprintf(f, "%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.1f,%.3f,%.6g,%.3f,%.1f", ev->epoch, ev->loss, ev->acc, ev->test_loss,
            ev->test_acc, ev->sparsity, ev->samples_per_s, ev->seconds, ev->lr, ev->step_ms, ev->peak_rss_mb);
    for (int i = 0; i < r->model.n_layers; i++) {
        tern_quant_layer_stats qs;
        if (r->model.layers[i].spec.ternary && !tern_model_layer_stats(&r->model, i, &qs))
            fprintf(f, ",%.6f", qs.frac_zero);
    }
    fputc('\n', f);
    if (fclose(f)) return tern_error(TERN_ERR_IO, "%s: cannot append: %s", r->csv_path, strerror(errno));
    return TERN_OK;
}

/* ---- where the run goes ---------------------------------------------------- */

static int same_dir(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && S_ISDIR(sa.st_mode) && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* The files of a run directory; anything else in it goes with the run. */
static const char *const run_files[] = {"last.h5", "metrics.csv", "config.yaml"};

/* Of an existing directory: the first run file in it (*is_run = 1), or the
 * first other entry (*is_run = 0); NULL when empty or absent. */
static const char *dir_holds(const char *dir, char *other, size_t cap, int *is_run) {
    char path[TERN_CONFIG_PATH_LEN + 16];
    *is_run = 0;
    for (size_t i = 0; i < sizeof run_files / sizeof run_files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, run_files[i]);
        if (tern_fs_exists(path)) {
            *is_run = 1;
            return run_files[i];
        }
    }
    DIR *d = opendir(dir);
    if (!d) return NULL;
    const char *found = NULL;
    for (struct dirent *e; !found && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(other, cap, "%s", e->d_name);
            found = other;
        }
    closedir(d);
    return found;
}

/* Decide where the run goes, before anything is read or written:
 *  - resuming from a checkpoint inside output.dir continues there;
 *  - anything else (a new run, or a resume into another directory: a fork)
 *    is built in a sibling "<dir>.tmp.<pid>.<n>" and replaces output.dir
 *    whole at its first checkpoint; an existing run there is replaced only
 *    with opts->force, and a directory of other files never. */
static tern_status place_run(run *r, const tern_train_opts *opts) {
    size_t n = strlen(r->dir);
    while (n > 1 && r->dir[n - 1] == '/') r->dir[--n] = '\0';
    const char *base = strrchr(r->dir, '/') ? strrchr(r->dir, '/') + 1 : r->dir;
    if (!*base || !strcmp(base, ".") || !strcmp(base, "..") || !strcmp(r->dir, "/"))
        return tern_error(TERN_ERR_CONFIG, "%s: output.dir must name a run directory, not '%s'",
                          r->cfg->source, r->dir);
    char ckdir[TERN_CONFIG_PATH_LEN + 16];
    if (opts->resume) {
        snprintf(ckdir, sizeof ckdir, "%s", opts->resume);
        char *slash = strrchr(ckdir, '/');
        if (slash) *(slash == ckdir ? slash + 1 : slash) = '\0';
        else strcpy(ckdir, ".");
        snprintf(r->from_csv, sizeof r->from_csv, "%s/metrics.csv", ckdir);
        r->in_place = same_dir(ckdir, r->dir);
    }
    struct stat sb;
    int there = stat(r->dir, &sb) == 0;
    if (there && !S_ISDIR(sb.st_mode))
        return tern_error(TERN_ERR_IO, "%s: output.dir exists and is not a directory", r->dir);
    if (!there && errno != ENOENT)
        return tern_error(TERN_ERR_IO, "%s: output.dir cannot be used: %s", r->dir, strerror(errno));
    set_paths(r, r->dir);
    if (r->in_place) return TERN_OK;
    char other[256];
    int is_run;
    const char *held = dir_holds(r->dir, other, sizeof other, &is_run);
    if (held && is_run && !opts->force) {
        if (opts->resume)
            return tern_error(TERN_ERR_IO, "%s: already holds a run (%s); resuming %s into it would replace it: "
                              "resume in the checkpoint's own directory (tern train --resume %s), choose another "
                              "output.dir, or pass --force to replace it", r->dir, held, opts->resume, opts->resume);
        return tern_error(TERN_ERR_IO, "%s: already holds a run (%s); resume it with --resume %s, choose another "
                          "output.dir, or pass --force to replace it", r->dir, held, r->ckpt_path);
    }
    if (held && !is_run)
        return tern_error(TERN_ERR_IO, "%s: exists and holds '%s', which is not part of a tern run; choose another "
                          "output.dir or empty it", r->dir, held);
    return TERN_OK;
}

/* Create the directory the run writes into: the run directory itself when
 * resuming in place, else a fresh sibling of it (see place_run). */
static tern_status open_run_dir(run *r) {
    if (r->in_place) return tern_fs_mkdirs(r->dir, "run directory");
    char parent[TERN_CONFIG_PATH_LEN];
    snprintf(parent, sizeof parent, "%s", r->dir);
    char *slash = strrchr(parent, '/');
    if (slash) *(slash == parent ? slash + 1 : slash) = '\0';
    else strcpy(parent, ".");
    tern_status st = tern_fs_mkdirs(parent, "run directory's parent");
    if (st) return st;
    for (int tries = 0; tries < 64; tries++) {
        tern_fs_tmp_name(r->stage, sizeof r->stage, r->dir);
        if (mkdir(r->stage, 0777) == 0) {
            set_paths(r, r->stage);
            return TERN_OK;
        }
        if (errno != EEXIST) break;
    }
    st = tern_error(TERN_ERR_IO, "%s: cannot create the run directory %s: %s", r->dir, r->stage, strerror(errno));
    r->stage[0] = '\0';
    return st;
}

/* ---- setting up --------------------------------------------------------------- */

/* Data, model, optimizer, loader, schedule, buffers and the checkpoint
 * state: everything that can fail before the first step, checked before
 * anything is written. */
static tern_status setup(run *r, const tern_config *cfg, int *batches) {
    const tern_config_training *T = &cfg->training;
    tern_status st;
    if ((st = build(r, cfg, 1, NULL))) return st;
    int threads = T->threads > 0 ? T->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if (threads > TERN_PARALLEL_MAX_THREADS) threads = TERN_PARALLEL_MAX_THREADS; /* "all cores" of a big machine */
    /* tern's workers split every op of the step; OpenBLAS runs inside them,
     * one thread each, so the two never compete for the cores. */
    if ((st = tern_parallel_set_threads(threads))) return st;
    openblas_set_num_threads(1);
    if ((st = tern_optim_init(&r->optim, &r->model.params, &cfg->optimizer.cfg))) return st;
    if ((st = check_memory(r, cfg))) return st;
    if ((st = tern_ctx_init(&r->ctx, 0))) return st;
    tern_rng_seed(&r->model_rng, T->seed ^ 0x6d6f64656cULL); /* "model": dropout */
    r->ctx.rng = &r->model_rng;
    tern_augment aug = cfg->dataset.augment;
    /* A last batch of one sample would give batchnorm a single value per
     * channel (an error) after a whole epoch: drop it; the reshuffle
     * leaves out another sample each epoch. */
    int flags = TERN_LOADER_SHUFFLE | (r->train.n % T->batch_size == 1 ? TERN_LOADER_DROP_LAST : 0);
    if ((st = tern_loader_init(&r->loader, &r->train, T->batch_size, flags, &aug,
                               T->seed ^ 0x6c6f61646572ULL))) /* "loader" */
        return st;
    *batches = tern_loader_num_batches(&r->loader);
    if ((st = tern_config_sched(cfg, *batches, &r->sched))) return st;
    size_t per = (size_t)r->train.c * r->train.h * r->train.w;
    r->xb = malloc(sizeof(float) * per * (size_t)T->batch_size);
    r->yb = malloc(sizeof(int) * (size_t)T->batch_size);
    if (!r->xb || !r->yb) return tern_error(TERN_ERR_NOMEM, "train: cannot allocate a batch of %d", T->batch_size);
    if ((st = tern_config_to_yaml(cfg, &r->config_text, NULL))) return st;
    tern_ckpt_state_init(&r->ck, &r->model.params, &r->optim);
    r->ck.config_text = r->config_text;
    r->loader_epoch_rng = r->loader.rng;
    if ((st = tern_ckpt_add_rng(&r->ck, "model", &r->model_rng))) return st;
    return tern_ckpt_add_rng(&r->ck, "loader", &r->loader_epoch_rng);
}

/* Where training starts: epoch e0 (0-based) with b0 of its batches done,
 * and that epoch's running sums. */
typedef struct start {
    long e0, step;
    int b0;
    double loss_sum;
    long correct, seen;
} start;

/* A /meta number of the checkpoint that must be an integer in [0, max]
 * (checked before the cast); absent: 0. */
static tern_status meta_count(const run *r, const char *path, const char *name, double max, long *out) {
    double v = 0.0;
    if (tern_ckpt_get_meta(&r->ck, name, &v) && !(v >= 0.0 && v <= max && v == floor(v)))
        return tern_error(TERN_ERR_FORMAT, "%s: /meta attribute '%s' is %g, not an integer in 0..%.0f for this "
                          "config; the checkpoint was altered or comes from another run", path, name, v, max);
    *out = (long)v;
    return TERN_OK;
}

/* Load the checkpoint (all or nothing) and check its counters against this
 * config before they are used. */
static tern_status resume_from(run *r, const char *path, int batches, start *s) {
    tern_status st = tern_ckpt_load(path, &r->ck);
    if (st) return st;
    long b0 = 0;
    double bs = r->cfg->training.batch_size;
    s->e0 = r->ck.epoch; /* 0..INT_MAX, and step 0..TERN_OPTIM_MAX_STEP: checked by the loader */
    s->step = r->ck.step;
    if ((st = meta_count(r, path, "batch", batches - 1, &b0))) return st;
    if ((st = meta_count(r, path, "epoch_seen", (double)b0 * bs, &s->seen))) return st;
    if ((st = meta_count(r, path, "epoch_correct", (double)s->seen, &s->correct))) return st;
    double v = 0.0;
    if (tern_ckpt_get_meta(&r->ck, "epoch_loss_sum", &v) && !(v >= 0.0))
        return tern_error(TERN_ERR_FORMAT, "%s: /meta attribute 'epoch_loss_sum' is %g, not >= 0; the checkpoint "
                          "was altered or comes from another run", path, v);
    s->loss_sum = v;
    s->b0 = (int)b0;
    r->loader.rng = r->loader_epoch_rng;
    return TERN_OK;
}

static tern_status train_loop(run *r, const tern_train_opts *opts, int batches, start *s, tern_train_result *res);

tern_status tern_train(const tern_config *cfg, const tern_train_opts *opts, tern_train_result *res) {
    static const tern_train_opts no_opts = {0};
    if (!opts) opts = &no_opts;
    memset(res, 0, sizeof *res);
    res->test_loss = res->test_acc = NAN;
    run *r = calloc(1, sizeof *r);
    if (!r) return tern_error(TERN_ERR_NOMEM, "train: out of memory");
    r->cfg = cfg;
    snprintf(r->dir, sizeof r->dir, "%s", cfg->output_dir);
    int batches = 0;
    start s = {0};
    tern_status st = place_run(r, opts);
    if (!st) st = setup(r, cfg, &batches);
    if (!st && opts->resume) st = resume_from(r, opts->resume, batches, &s);
    if (!st && s.e0 >= cfg->training.epochs) {
        /* Nothing to train: say so and touch nothing. */
        res->complete = 1;
        res->epochs_done = (int)s.e0;
        res->steps = s.step;
        res->sparsity = tern_model_sparsity(&r->model);
        snprintf(res->checkpoint, sizeof res->checkpoint, "%s", opts->resume);
        goto done;
    }
    /* Everything is checked: only now write. */
    if (!st) st = open_run_dir(r);
    if (!st) {
        char path[sizeof r->ckpt_path];
        snprintf(path, sizeof path, "%s/config.yaml", r->stage[0] ? r->stage : r->dir);
        st = tern_config_write(cfg, path);
    }
    if (!st) st = metrics_prepare(r, (int)s.e0);
    r->have_ckpt = r->in_place && tern_fs_exists(r->ckpt_path);
    if (!st) st = train_loop(r, opts, batches, &s, res);
done:
    if (r->stage[0]) tern_fs_remove_tree(r->stage); /* a new run that never checkpointed */
    run_free(r);
    free(r);
    return st;
}

static tern_status train_loop(run *r, const tern_train_opts *opts, int batches, start *s, tern_train_result *res) {
    const tern_config *cfg = r->cfg;
    const tern_config_training *T = &cfg->training;
    long e0 = s->e0, step = s->step;
    int b0 = s->b0;
    double loss_sum = s->loss_sum;
    long correct = s->correct, seen = s->seen;
    tern_status st = TERN_OK;
    tern_train_event ev = {.kind = TERN_TRAIN_EV_START, .epoch = (int)e0 + 1, .epochs = T->epochs,
                           .batches = batches, .step = step, .path = r->dir, .model = &r->model};
    emit(opts, &ev);
    for (long e = e0; e < T->epochs; e++) {
        /* The loader's RNG as this epoch begins: a checkpoint taken during
         * the epoch stores it, so a resume reshuffles the same order. */
        r->loader_epoch_rng = r->loader.rng;
        tern_loader_begin_epoch(&r->loader);
        int count = 0;
        int b = 0;
        if (e == e0 && b0 > 0) {
            /* Skip the batches done before the interruption, drawing their
             * augmentation so the RNG stands where it stood. */
            for (; b < b0; b++)
                if ((st = tern_loader_next(&r->loader, r->xb, r->yb, &count))) return st;
        } else {
            loss_sum = 0.0;
            correct = seen = 0;
        }
        double t_epoch = 0.0;
        long seen_here = 0; /* samples trained by this process in this epoch */
        float lr = 0.0f;
        for (; b < batches; b++) {
            if ((st = tern_loader_next(&r->loader, r->xb, r->yb, &count))) return st;
            int shape[4] = {count, r->train.c, r->train.h, r->train.w};
            tern_tensor x = tern_tensor_view(r->xb, NULL, 4, shape);
            lr = tern_sched_lr(&r->sched, step);
            tern_step_result sr;
            double t0 = tern_monitor_now_s();
            st = tern_model_train_step(&r->model, &r->ctx, &r->optim, &x, r->yb, lr, cfg->optimizer.clip, &sr);
            t_epoch += tern_monitor_now_s() - t0;
            if (st == TERN_ERR_NUMERIC) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s", tern_errmsg());
                st = tern_error(TERN_ERR_NUMERIC, "train: epoch %ld, step %ld: %s; stopped, %s%s", e + 1, step + 1,
                                msg, r->have_ckpt ? "the last good checkpoint is kept" : "no checkpoint was written",
                                r->stage[0] ? " and the run directory is as it was" : "");
                return st;
            }
            if (st) return st;
            loss_sum += (double)sr.loss * count;
            correct += sr.correct;
            seen += count;
            seen_here += count;
            step++;
            ev = (tern_train_event){.kind = TERN_TRAIN_EV_STEP, .epoch = (int)e + 1, .epochs = T->epochs,
                                    .batch = b + 1, .batches = batches, .step = step,
                                    .loss = (float)(loss_sum / (double)seen),
                                    .acc = (float)correct / (float)seen, .lr = lr};
            emit(opts, &ev);
            int stop = (opts->stop && *opts->stop) || (opts->stop_after_steps > 0 && step >= opts->stop_after_steps);
            if (stop && b + 1 < batches) {
                if ((st = save_ckpt(r, e, step, b + 1, loss_sum, correct, seen))) return st;
                res->stopped = 1;
                ev = (tern_train_event){.kind = TERN_TRAIN_EV_CHECKPOINT, .epoch = (int)e + 1, .step = step,
                                        .path = r->ckpt_path};
                emit(opts, &ev);
                goto finish;
            }
        }
        /* End of epoch: evaluate, log, checkpoint. */
        const int steps_here = batches - (e == e0 ? b0 : 0);
        ev = (tern_train_event){.kind = TERN_TRAIN_EV_EPOCH, .epoch = (int)e + 1, .epochs = T->epochs,
                                .batches = batches, .step = step, .loss = (float)(loss_sum / (double)seen),
                                .acc = (float)correct / (float)seen, .test_loss = NAN, .test_acc = NAN,
                                .sparsity = tern_model_sparsity(&r->model),
                                .samples_per_s = t_epoch > 0 ? (double)seen_here / t_epoch : 0.0, .seconds = t_epoch,
                                .step_ms = steps_here > 0 ? 1e3 * t_epoch / steps_here : 0.0,
                                .peak_rss_mb = tern_monitor_peak_rss_bytes() / (1024.0 * 1024.0), .lr = lr, .model = &r->model};
        int last = e + 1 == T->epochs;
        if (last || (T->eval_every > 0 && (e + 1) % T->eval_every == 0)) {
            tern_eval_result er;
            if ((st = tern_evaluate(&r->model, &r->test, T->batch_size, &er))) return st;
            ev.test_loss = er.loss;
            ev.test_acc = er.acc;
            res->test_loss = er.loss;
            res->test_acc = er.acc;
        }
        if ((st = metrics_append(r, &ev))) return st;
        emit(opts, &ev);
        res->epochs_done = (int)e + 1;
        int stop = (opts->stop && *opts->stop) || (opts->stop_after_steps > 0 && step >= opts->stop_after_steps);
        if (last || stop || (T->checkpoint_every > 0 && (e + 1) % T->checkpoint_every == 0)) {
            r->loader_epoch_rng = r->loader.rng; /* the next epoch begins from here */
            if ((st = save_ckpt(r, e + 1, step, 0, 0.0, 0, 0))) return st;
            ev = (tern_train_event){.kind = TERN_TRAIN_EV_CHECKPOINT, .epoch = (int)e + 1, .step = step,
                                    .path = r->ckpt_path};
            emit(opts, &ev);
        }
        if (stop && !last) {
            res->stopped = 1;
            goto finish;
        }
    }
finish:
    res->steps = step;
    res->sparsity = tern_model_sparsity(&r->model);
    /* A checkpoint written by this call has been published into r->dir. */
    if (r->have_ckpt) snprintf(res->checkpoint, sizeof res->checkpoint, "%s/last.h5", r->dir);
    return TERN_OK;
}

/* The (C,H,W) the checkpoint's model was trained on, when it is not the
 * test split's r->test (eval --data on other images): the config's own
 * dataset's size, or the published one, whichever the checkpoint loads
 * into. 1 and shape when found. */
static int trained_shape(const tern_config *cfg, const char *ckpt, const tern_dataset *data, int shape[3]) {
    int cand[2][3];
    int n = 0;
    char dir[TERN_CONFIG_PATH_LEN];
    run *r = calloc(1, sizeof *r);
    if (r && !tern_config_dataset_dir(cfg, dir, sizeof dir) && !load_data(cfg, dir, &r->train, &r->test, 0)) {
        cand[n][0] = r->test.c, cand[n][1] = r->test.h, cand[n][2] = r->test.w;
        n++;
    }
    tern_config_input_shape(cfg, cand[n++]);
    int found = 0;
    for (int i = 0; r && i < n && !found; i++) {
        if (cand[i][0] == data->c && cand[i][1] == data->h && cand[i][2] == data->w) continue;
        tern_model m;
        tern_ckpt_state ck;
        if (tern_model_init(&m, cfg->model.layers, cfg->model.n_layers, 3, cand[i], cfg->model.init, 0)) continue;
        tern_ckpt_state_init(&ck, &m.params, NULL);
        found = tern_ckpt_load(ckpt, &ck) == TERN_OK;
        if (found) memcpy(shape, cand[i], sizeof cand[i]);
        tern_model_free(&m);
    }
    if (r) run_free(r);
    free(r);
    return found;
}

tern_status tern_train_load_for_eval(const char *ckpt, const char *data_dir, tern_config *cfg, tern_model *m,
                                     tern_dataset *test) {
    memset(cfg, 0, sizeof *cfg);
    tern_dataset_init(test);
    memset(m, 0, sizeof *m);
    char *text = NULL;
    tern_status st = tern_ckpt_read_config(ckpt, &text);
    if (st) return st;
    st = tern_config_load_text(cfg, text, strlen(text), ckpt);
    free(text);
    if (st) return st;
    run *r = calloc(1, sizeof *r);
    if (!r) {
        tern_config_free(cfg);
        return tern_error(TERN_ERR_NOMEM, "eval: out of memory");
    }
    st = build(r, cfg, 0, data_dir);
    tern_ckpt_state ck;
    if (!st) {
        /* The optimizer's state too: every float of the file is checked, also when only the weights are used. */
        st = tern_optim_init(&r->optim, &r->model.params, &cfg->optimizer.cfg);
        if (!st) tern_ckpt_state_init(&ck, &r->model.params, &r->optim);
        if (!st) st = tern_ckpt_load(ckpt, &ck);
    }
    if (st == TERN_ERR_FORMAT && data_dir) {
        /* Another architecture, or images of another size in --data? */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", tern_errmsg()); /* the probe records its own errors */
        int shape[3];
        if (trained_shape(cfg, ckpt, &r->test, shape))
            st = tern_error(TERN_ERR_SHAPE, "%s: --data %s holds (%d,%d,%d) images but the checkpoint's model was "
                            "trained on (%d,%d,%d); point --data at images of that size", ckpt, data_dir, r->test.c,
                            r->test.h, r->test.w, shape[0], shape[1], shape[2]);
        else
            st = tern_error(st, "%s", msg);
    }
    if (!st) {
        *m = r->model;
        *test = r->test;
        memset(&r->model, 0, sizeof r->model);
        tern_dataset_init(&r->test);
    }
    run_free(r);
    free(r);
    if (st) tern_config_free(cfg);
    return st;
}
