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
#include "tern/clock.h"
#include "tern/ops.h"
#include "tern/pool.h"
#include "tern/restore.h"
#include "teacher.h"

/* ---- evaluation ---------------------------------------------------------- */

static void emit(const tern_train_opts *o, tern_train_event *ev) {
    if (o && o->cb) o->cb(ev, o->user);
}

/* Who hears of an evaluation's batches: ev (kind EVAL, epoch, split) gets
 * batch, batches and elapsed_s (since t0) filled in before each emit. */
typedef struct eval_progress {
    const tern_train_opts *opts;
    tern_train_event ev;
    double t0;
} eval_progress;

/* The figures of r summed over comm's ranks (the same on every rank); with
 * loss_sum, the rows' loss, r->loss and r->acc become the means. */
static tern_status eval_sum(const tern_comm *comm, tern_eval_result *r, double loss_sum) {
    enum { K = TERN_DATA_MAX_CLASSES };
    double v[3 + 2 * K] = {loss_sum, r->n, r->correct};
    for (int k = 0; k < K; k++) {
        v[3 + k] = r->class_n[k];
        v[3 + K + k] = r->class_correct[k];
    }
    tern_status st = tern_comm_size(comm) > 1 ? tern_comm_sum_f64(comm, v, sizeof v / sizeof v[0]) : TERN_OK;
    if (st) return st;
    r->n = (int)v[1];
    r->correct = (int)v[2];
    for (int k = 0; k < K; k++) {
        r->class_n[k] = (int)v[3 + k];
        r->class_correct[k] = (int)v[3 + K + k];
    }
    r->loss = r->n ? (float)(v[0] / r->n) : NAN;
    r->acc = r->n ? (float)r->correct / (float)r->n : NAN;
    return TERN_OK;
}

/* tern_evaluate on comm's ranks, reporting each batch to pr (NULL: to no
 * one): each rank evaluates its contiguous slice of ds, and the figures are
 * summed over the ranks. Every rank must call it. */
static tern_status evaluate(tern_model *m, const tern_dataset *ds, int batch, tern_pool *pool, tern_eval_result *r,
                            eval_progress *pr, const tern_comm *comm) {
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
    c.pool = pool;
    size_t per = (size_t)ds->c * ds->h * ds->w;
    double loss_sum = 0.0;
    const int R = tern_comm_rank(comm), N = tern_comm_size(comm);
    const int lo = (int)((long)ds->n * R / N), hi = (int)((long)ds->n * (R + 1) / N);  /* this rank's slice */
    for (int i = lo; i < hi && !st; i += batch) {
        int n = hi - i < batch ? hi - i : batch;
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
        if (pr) {
            pr->ev.batch = (i - lo) / batch + 1;
            pr->ev.batches = (hi - lo + batch - 1) / batch;
            pr->ev.elapsed_s = tern_clock_now_s() - pr->t0;
            emit(pr->opts, &pr->ev);
        }
    }
    tern_ctx_free(&c);
    st = tern_comm_agree(comm, st); /* a rank that failed stops them all */
    return st ? st : eval_sum(comm, r, loss_sum);
}

tern_status tern_evaluate(tern_model *m, const tern_dataset *ds, int batch, tern_pool *pool, tern_eval_result *r) {
    return evaluate(m, ds, batch, pool, r, NULL, NULL);
}

/* ---- the run ------------------------------------------------------------- */

typedef struct run {
    const tern_config *cfg;
    const tern_train_opts *opts;
    char dir[TERN_CONFIG_PATH_LEN];         /* the run directory (output.dir) */
    char stage[TERN_CONFIG_PATH_LEN + 48];  /* a new run's directory until its first checkpoint; "" after */
    char from_csv[TERN_CONFIG_PATH_LEN + 16];/* resuming: the metrics.csv whose rows continue */
    char from_best[TERN_CONFIG_PATH_LEN + 16];/* resuming: the best.h5 beside the checkpoint */
    char ckpt_path[TERN_CONFIG_PATH_LEN + 64];
    char csv_path[TERN_CONFIG_PATH_LEN + 64];
    char best_path[TERN_CONFIG_PATH_LEN + 64];
    int in_place;              /* resuming in the checkpoint's own directory */
    tern_dataset train, val, test;  /* val: held out of the training split; n = 0 when none */
    tern_model model;
    tern_optim optim;
    tern_sched sched;
    tern_ctx ctx;
    tern_pool *pool;           /* the step's worker threads: the caller's, or own_pool */
    tern_pool *own_pool;       /* made from training.threads when the caller gave none */
    tern_loader loader;
    tern_rng model_rng;        /* dropout */
    tern_rng loader_epoch_rng; /* the loader's RNG when the epoch in progress began */
    tern_rng aug_epoch_rng;    /* N > 1: this rank's augmentation RNG when the epoch began */
    const tern_comm *comm;     /* the run's processes; NULL: one */
    int rank, size;            /* of comm */
    tern_rng *peer_rngs;       /* N > 1: (N, 2) every rank's model and augmentation RNGs, gathered to save */
    int stop_all;              /* N > 1: a stop request seen by any rank, agreed after the last step */
    tern_ckpt_state ck;
    char *config_text;
    float *xb;
    int *yb;
    int have_ckpt;             /* a checkpoint of this run exists on disk */
    tern_restore_selection sel;/* best.h5 and early stopping so far */
    double t0;                 /* when the run began, for the events' elapsed_s */
    tern_teacher teacher;      /* distillation (config teacher:), and the step's loss */
} run;

static void run_free(run *r) {
    tern_dataset_free(&r->train);
    tern_dataset_free(&r->val);
    tern_dataset_free(&r->test);
    tern_model_free(&r->model);
    tern_optim_free(&r->optim);
    tern_ctx_free(&r->ctx);
    tern_pool_free(r->own_pool);
    tern_loader_free(&r->loader);
    free(r->config_text);
    free(r->xb);
    free(r->yb);
    free(r->peer_rngs);
    tern_teacher_free(&r->teacher);
}

/* Rank 0's batchnorm running statistics (the parameters without a
 * gradient) on every rank, as PyTorch DDP's broadcast_buffers: each rank's
 * own statistics drift apart, and the model evaluated and saved is rank 0's. */
static tern_status share_buffers(run *r) {
    const tern_params *P = &r->model.params;
    tern_status st = TERN_OK;
    for (int i = 0; i < P->count && !st && r->size > 1; i++)
        if (!P->items[i].t.grad) st = tern_comm_bcast(r->comm, P->items[i].t.data, P->items[i].t.n * sizeof(float), 0);
    return st;
}

static tern_status build(run *r, const tern_config *cfg) {
    tern_status st = tern_dataset_load_for_config(cfg, NULL, &r->train, &r->val, &r->test);
    if (st) return st;
    if (cfg->training.patience > 0 && !r->val.n)
        return tern_config_fail(cfg, "training.early_stopping.patience", TERN_ERR_CONFIG, "early stopping watches "
                                "the validation split: set dataset.validation (a fraction or a count), or patience 0");
    const tern_dataset *ds = &r->test;
    int in[3] = {ds->c, ds->h, ds->w};
    st = tern_model_init(&r->model, cfg->model.layers, cfg->model.n_layers, 3, in, cfg->model.init,
                         cfg->training.seed);
    if (st) return st;
    if (r->model.n_classes != ds->n_classes)
        return tern_error(TERN_ERR_CONFIG, "%s: the model has %d outputs but %s has %d classes", cfg->source,
                          r->model.n_classes, cfg->dataset.name, ds->n_classes);
    /* A fine-tune: every rank reads the file, so all start from the same bits. */
    if (r->opts->init_from && !r->opts->resume) return tern_restore_init_from(&r->model, r->opts->init_from);
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
    const int share = (cfg->training.batch_size + r->size - 1) / r->size; /* this rank's part of a batch */
    double need = 4.0 * (3.0 * act * share + (2.0 + r->optim.n_state) * (double)m->params.total);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double have = pages > 0 && page > 0 ? (double)pages * (double)page : 0.0;
    if (have > 0.0 && need > have)
        return tern_error(TERN_ERR_NOMEM, "%s: a step with batch_size %d needs about %.1f GiB but this machine has "
                          "%.1f GiB; lower training.batch_size or make the model smaller", cfg->source,
                          cfg->training.batch_size, need / 1073741824.0, have / 1073741824.0);
    return TERN_OK;
}

static void set_paths(run *r, const char *base) {
    snprintf(r->ckpt_path, sizeof r->ckpt_path, "%s/last.h5", base);
    snprintf(r->csv_path, sizeof r->csv_path, "%s/metrics.csv", base);
    snprintf(r->best_path, sizeof r->best_path, "%s/best.h5", base);
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

/* Save the run at position p, with its selection state, to path: every
 * rank's RNGs gathered and rank 0's batchnorm statistics shared, then rank
 * 0 writes (the other ranks' status is OK; agree on it after). */
static tern_status save_state(run *r, const tern_restore_position *p, const char *path) {
    tern_status st = share_buffers(r);
    if (!st && r->size > 1) {
        tern_rng mine[2] = {r->model_rng, r->aug_epoch_rng};
        st = tern_comm_allgather(r->comm, mine, r->peer_rngs, sizeof mine);
    }
    if (st || r->rank) return st;
    st = tern_restore_set_position(&r->ck, p);
    if (!st) st = tern_restore_set_selection(&r->ck, &r->sel);
    if (!st && r->size > 1) st = tern_ckpt_set_meta(&r->ck, "ranks", r->size);
    return st ? st : tern_ckpt_save(path, &r->ck);
}

static tern_status save_ckpt(run *r, const tern_restore_position *p) {
    tern_status st = save_state(r, p, r->ckpt_path);
    if (!st && r->stage[0]) st = publish(r); /* only rank 0 has a stage */
    st = tern_comm_agree(r->comm, st);
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
        fprintf(out, "epoch,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,sparsity,samples_per_s,seconds,"
                     "lr,step_ms,peak_rss_mb,comm_ms");
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < r->model.n_layers; i++)
                if (r->model.layers[i].spec.ternary)
                    fprintf(out, ",%s_%s", k ? "alpha" : "sparsity", r->model.layers[i].spec.name);
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
    fprintf(f, "%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.1f,%.3f,%.6g,%.3f,%.1f,%.3f", ev->epoch, ev->loss, ev->acc,
            ev->val_loss, ev->val_acc, ev->test_loss, ev->test_acc, ev->sparsity, ev->samples_per_s, ev->seconds, ev->lr,
            ev->step_ms, ev->peak_rss_mb, ev->comm_ms);
    /* Per ternary layer: the fraction of zeros, then the scale (per channel: the mean over channels). */
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < r->model.n_layers; i++) {
            tern_quant_layer_stats qs;
            if (r->model.layers[i].spec.ternary && !tern_model_layer_stats(&r->model, i, &qs))
                fprintf(f, k ? ",%.6g" : ",%.6f", k ? (double)qs.alpha_mean : qs.frac_zero);
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
static const char *const run_files[] = {"last.h5", "best.h5", "metrics.csv", "config.yaml"};

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
        snprintf(r->from_best, sizeof r->from_best, "%s/best.h5", ckdir);
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

/* 1 when a last batch of `left` samples (0: none) leaves a rank of `size`
 * fewer than 2 (tern_loader_next's shares); for one process, left == 1. */
static int short_share(int left, int size) {
    for (int k = 0; k < size && left > 0; k++)
        if ((long)left * (k + 1) / size - (long)left * k / size < 2) return 1;
    return 0;
}

/* The RNGs a checkpoint keeps: "model" (dropout) and "loader" (the shuffle,
 * the same on every rank, and one process's augmentation); on N > 1
 * processes each rank's augmentation "aug.r<R>" and the other ranks'
 * dropout "model.r<R>". Rank 0 saves them all (gathered into peer_rngs);
 * each rank loads its own. */
static tern_status add_rngs(run *r) {
    char name[TERN_CKPT_NAME_LEN];
    snprintf(name, sizeof name, r->rank ? "model.r%d" : "model", r->rank);
    tern_status st = tern_ckpt_add_rng(&r->ck, name, &r->model_rng);
    if (!st) st = tern_ckpt_add_rng(&r->ck, "loader", &r->loader_epoch_rng);
    if (st || r->size == 1) return st;
    snprintf(name, sizeof name, "aug.r%d", r->rank);
    st = tern_ckpt_add_rng(&r->ck, name, &r->aug_epoch_rng);
    r->peer_rngs = calloc(2 * (size_t)r->size, sizeof *r->peer_rngs);
    if (!st && !r->peer_rngs) st = tern_error(TERN_ERR_NOMEM, "train: out of memory");
    for (int k = 1; k < r->size && !st && !r->rank; k++) {
        snprintf(name, sizeof name, "model.r%d", k);
        st = tern_ckpt_add_rng(&r->ck, name, &r->peer_rngs[2 * k]);
        snprintf(name, sizeof name, "aug.r%d", k);
        if (!st) st = tern_ckpt_add_rng(&r->ck, name, &r->peer_rngs[2 * k + 1]);
    }
    return st;
}

/* Data, model, optimizer, loader, schedule, buffers and the checkpoint
 * state: everything that can fail before the first step, checked before
 * anything is written. */
static tern_status setup(run *r, const tern_config *cfg, tern_pool *pool, int *batches) {
    const tern_config_training *T = &cfg->training;
    tern_status st;
    if (T->batch_size < 2 * r->size)
        return tern_config_fail(cfg, "training.batch_size", TERN_ERR_CONFIG, "%d is the global batch of the %d "
                                "processes, and each needs at least 2 samples: use >= %d, or fewer processes",
                                T->batch_size, r->size, 2 * r->size);
    if ((st = build(r, cfg))) return st;
    if (!pool) {
        int threads = T->threads > 0 ? T->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
        if (threads < 1) threads = 1;
        if (threads > TERN_POOL_MAX_THREADS) threads = TERN_POOL_MAX_THREADS; /* "all cores" of a big machine */
        if ((st = tern_pool_init(&r->own_pool, threads))) return st;
        pool = r->own_pool;
    }
    r->pool = pool;
    if ((st = tern_teacher_load(&r->teacher, cfg, &r->model, r->pool))) return st;
    /* tern's workers split every op of the step; OpenBLAS runs inside them,
     * one thread each, so the two never compete for the cores. */
    openblas_set_num_threads(1);
    if ((st = tern_optim_init(&r->optim, &r->model.params, &cfg->optimizer.cfg))) return st;
    if ((st = check_memory(r, cfg))) return st;
    if ((st = tern_ctx_init(&r->ctx, 0))) return st;
    r->ctx.pool = r->pool;
    /* Per rank: dropout masks and augmentation draws (rank 0's dropout as one process's). */
    const uint64_t rank_mix = (uint64_t)r->rank * 0x9e3779b97f4a7c15ULL;
    tern_rng_seed(&r->model_rng, T->seed ^ 0x6d6f64656cULL ^ rank_mix); /* "model": dropout */
    r->ctx.rng = &r->model_rng;
    r->ctx.comm = r->comm;
    r->ctx.sync_bn = T->sync_batchnorm && r->size > 1;
    tern_augment aug = cfg->dataset.augment;
    /* A last batch of one sample would give batchnorm a single value per
     * channel (an error) after a whole epoch: drop a last batch that leaves
     * any rank fewer than 2; the reshuffle leaves out others each epoch. */
    int flags = TERN_LOADER_SHUFFLE | (short_share(r->train.n % T->batch_size, r->size) ? TERN_LOADER_DROP_LAST : 0);
    if ((st = tern_loader_init(&r->loader, &r->train, T->batch_size, flags, &aug,
                               T->seed ^ 0x6c6f61646572ULL))) /* "loader" */
        return st;
    const uint64_t aug_seed = T->seed ^ 0x6175676d656e74ULL ^ rank_mix; /* "augment" */
    if ((st = tern_loader_shard(&r->loader, r->rank, r->size, aug_seed))) return st;
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
    r->aug_epoch_rng = r->loader.aug_rng;
    return add_rngs(r);
}

/* A checkpoint continues on as many processes as wrote it: each rank's
 * share of every batch, its augmentation and dropout streams depend on N. */
static tern_status check_ranks(const run *r, const char *path) {
    tern_ckpt_info *info = malloc(sizeof *info);
    if (!info) return tern_error(TERN_ERR_NOMEM, "train: out of memory");
    tern_status st = tern_ckpt_read_info(path, info);
    double v = 1.0;
    for (int i = 0; !st && i < info->n_meta; i++)
        if (!strcmp(info->meta[i].name, "ranks")) v = info->meta[i].value;
    free(info);
    if (!st && !(v >= 1.0 && v <= TERN_COMM_MAX_RANKS && v == floor(v)))
        return tern_error(TERN_ERR_FORMAT, "%s: /meta attribute 'ranks' is %g, not a process count in 1..%d; the "
                          "checkpoint was altered or comes from another program", path, v, TERN_COMM_MAX_RANKS);
    const int n = (int)v;
    if (st || n == r->size) return st;
    if (n == 1)
        return tern_error(TERN_ERR_CONFIG, "%s: the checkpoint of a run on 1 process cannot continue on %d: resume it "
                          "without mpirun (tern train --resume %s)", path, r->size, path);
    return tern_error(TERN_ERR_CONFIG, "%s: the checkpoint of a run on %d processes cannot continue on %d: resume it "
                      "with mpirun -np %d tern train --resume %s", path, n, r->size, n, path);
}

/* Load the checkpoint (all or nothing; every rank reads it) and check its
 * position against this config before it is used; the loader's RNGs are
 * the ones its epoch began with. */
static tern_status resume_from(run *r, const char *path, int batches, tern_restore_position *s) {
    tern_status st = check_ranks(r, path);
    if (!st) st = tern_restore_resume(&r->ck, path, batches, r->cfg->training.batch_size, s);
    if (!st) st = tern_restore_get_selection(&r->ck, path, &r->sel);
    if (!st) {
        r->loader.rng = r->loader_epoch_rng;
        r->loader.aug_rng = r->aug_epoch_rng;
    }
    return st;
}

/* ---- the epochs ----------------------------------------------------------------- */

/* Whether the caller asked the run to stop: a signal (on N > 1 processes:
 * on any rank, as agreed at the last step or epoch's end), or (tests) a step budget. */
static int stop_requested(const run *r, long step) {
    const tern_train_opts *o = r->opts;
    const int sig = r->size > 1 ? r->stop_all : o->stop && *o->stop;
    return sig || (o->stop_after_steps > 0 && step >= o->stop_after_steps);
}

/* Save the checkpoint at position p and say so (epoch: 1-based, as reported). */
static tern_status checkpoint(run *r, const tern_restore_position *p, long epoch) {
    tern_status st = save_ckpt(r, p);
    if (st) return st;
    tern_train_event ev = {.kind = TERN_TRAIN_EV_CHECKPOINT, .epoch = (int)epoch, .step = p->step,
                           .path = r->ckpt_path};
    emit(r->opts, &ev);
    return TERN_OK;
}

/* The epoch in progress: its position (epoch, step, batches done, running
 * sums: what a checkpoint inside it stores) and what this call measured. */
typedef struct epoch {
    tern_restore_position at;
    int first_batch;          /* batches done before this call (resumed inside the epoch) */
    long seen_here;           /* samples trained by this call */
    double seconds;           /* their training time */
    double comm_seconds;      /* of it, in the gradient all-reduce */
    float lr;                 /* of the last step */
    float step_loss;          /* of the last step */
} epoch;

/* Begin epoch ep->at.epoch: the loader reshuffles (its RNG as the epoch
 * begins is what a checkpoint inside the epoch stores), and the batches a
 * resumed epoch had done are drawn again, augmentation included, so the
 * RNG stands where it stood. */
static tern_status begin_epoch(run *r, epoch *ep) {
    r->loader_epoch_rng = r->loader.rng;
    r->aug_epoch_rng = r->loader.aug_rng;
    tern_loader_begin_epoch(&r->loader);
    ep->first_batch = ep->at.batch;
    for (int b = 0; b < ep->at.batch; b++) {
        int count;
        tern_status st = tern_loader_next(&r->loader, r->xb, r->yb, &count);
        if (st) return st;
    }
    return TERN_OK;
}

/* On N > 1 processes, between the two halves of a step: one small sum of
 * v = [failed, loss x samples, correct, samples, stop] (a failure on any
 * rank becomes every rank's, with its message), then one sum of the whole
 * gradient block, timed into ep. One process: nothing. */
static tern_status sum_step(run *r, epoch *ep, tern_status st, double v[5]) {
    if (r->size == 1) return st;
    v[0] = st != TERN_OK;
    v[4] = r->opts->stop && *r->opts->stop;
    tern_status cs = tern_comm_sum_f64(r->comm, v, 5);
    if (cs) return cs;
    if (v[0] > 0) return tern_comm_agree(r->comm, st);
    r->stop_all = v[4] > 0;
    const double t0 = tern_clock_now_s();
    cs = tern_comm_sum_f32(r->comm, r->model.params.grad, r->model.params.total);
    ep->comm_seconds += tern_clock_now_s() - t0;
    return cs;
}

/* One optimizer step on the loader's next batch (this rank's share of it),
 * timed, added to ep: the gradients of every rank's share summed, so every
 * rank makes the same update. */
static tern_status train_step(run *r, epoch *ep) {
    int count = 0;
    tern_status st = tern_loader_next(&r->loader, r->xb, r->yb, &count);
    if (st) return st;
    int shape[4] = {count, r->train.c, r->train.h, r->train.w};
    tern_tensor x = tern_tensor_view(r->xb, NULL, 4, shape); /* (count, C, H, W) */
    tern_restore_position *p = &ep->at;
    ep->lr = tern_sched_lr(&r->sched, p->step);
    tern_step_result sr = {0};
    double t0 = tern_clock_now_s();
    const tern_xent_cfg *loss; /* the teacher's logits of x, when distilling */
    st = tern_teacher_loss(&r->teacher, &x, &loss);
    tern_xent_cfg share; /* N > 1: this rank's rows over the global batch's count */
    if (!st && r->size > 1) {
        share = *loss;
        share.mean_over = r->loader.global_count;
        loss = &share;
    }
    if (!st) st = tern_model_step_grad(&r->model, &r->ctx, &x, r->yb, loss, &sr);
    const double rows = r->size > 1 ? r->loader.global_count : count; /* the loss's denominator */
    double v[5] = {0, (double)sr.loss * rows, sr.correct, count, 0};
    st = sum_step(r, ep, st, v);
    if (!st) st = tern_model_step_update(&r->model, &r->optim, ep->lr, r->cfg->optimizer.clip, &sr);
    ep->seconds += tern_clock_now_s() - t0;
    if (st == TERN_ERR_NUMERIC) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", tern_errmsg());
        return tern_error(TERN_ERR_NUMERIC, "train: epoch %ld, step %ld: %s; stopped, %s%s", p->epoch + 1, p->step + 1,
                          msg, r->have_ckpt ? "the last good checkpoint is kept" : "no checkpoint was written",
                          r->stage[0] ? " and the run directory is as it was" : "");
    }
    if (st) return st;
    ep->step_loss = (float)(v[1] / v[3]);
    p->loss_sum += v[1];
    p->correct += (long)v[2];
    p->seen += (long)v[3];
    ep->seen_here += (long)v[3];
    p->step++;
    p->batch++;
    return TERN_OK;
}

/* The rest of the epoch's batches, each reported; a stop request inside the
 * epoch checkpoints there and sets *stopped. */
static tern_status train_batches(run *r, int batches, epoch *ep, int *stopped) {
    const tern_restore_position *p = &ep->at;
    while (p->batch < batches) {
        tern_status st = train_step(r, ep);
        if (st) return st;
        tern_train_event ev = {.kind = TERN_TRAIN_EV_STEP, .epoch = (int)p->epoch + 1,
                               .epochs = r->cfg->training.epochs, .batch = p->batch, .batches = batches,
                               .step = p->step, .seen = p->seen, .elapsed_s = tern_clock_now_s() - r->t0,
                               .loss = (float)(p->loss_sum / (double)p->seen),
                               .acc = (float)p->correct / (float)p->seen, .step_loss = ep->step_loss,
                               .lr = ep->lr};
        emit(r->opts, &ev);
        if (stop_requested(r, p->step) && p->batch < batches) {
            *stopped = 1;
            return checkpoint(r, p, p->epoch + 1);
        }
    }
    return TERN_OK;
}

/* The epoch's report: its training figures; the validation and test ones NaN until evaluated. */
static tern_train_event epoch_event(const run *r, int batches, const epoch *ep) {
    const tern_restore_position *p = &ep->at;
    const int steps = batches - ep->first_batch;
    return (tern_train_event){.kind = TERN_TRAIN_EV_EPOCH, .epoch = (int)p->epoch + 1,
                              .epochs = r->cfg->training.epochs, .batches = batches, .step = p->step,
                              .loss = (float)(p->loss_sum / (double)p->seen), .acc = (float)p->correct / (float)p->seen,
                              .val_loss = NAN, .val_acc = NAN, .test_loss = NAN, .test_acc = NAN,
                              .sparsity = tern_model_sparsity(&r->model),
                              .samples_per_s = ep->seconds > 0 ? (double)ep->seen_here / ep->seconds : 0.0,
                              .seconds = ep->seconds, .step_ms = steps > 0 ? 1e3 * ep->seconds / steps : 0.0,
                              .comm_ms = steps > 0 ? 1e3 * ep->comm_seconds / steps : 0.0,
                              .peak_rss_mb = tern_clock_peak_rss_bytes() / (1024.0 * 1024.0), .lr = ep->lr,
                              .model = &r->model};
}

/* Evaluate `split` ("validation" or "test") of the epoch that ev reports,
 * in eval mode, each batch reported as an EVAL event; on N > 1 processes
 * each rank its slice, with rank 0's batchnorm statistics. */
static tern_status evaluate_split(run *r, const tern_dataset *ds, const char *split, const tern_train_event *ev,
                                  tern_eval_result *er) {
    eval_progress pr = {.opts = r->opts, .t0 = r->t0,
                        .ev = {.kind = TERN_TRAIN_EV_EVAL, .epoch = ev->epoch, .epochs = ev->epochs, .split = split,
                               .step = ev->step, .lr = ev->lr}};
    tern_status st = share_buffers(r);
    return st ? st : evaluate(&r->model, ds, r->cfg->training.batch_size, r->pool, er, &pr, r->comm);
}

/* Model selection after validation figures (loss, acc) at `done` epochs:
 * 1 when they are the best so far by training.best_metric (best.h5 is then
 * due); early stopping's reference moves only on a gain > min_delta, as
 * Keras's EarlyStopping does, and counts the evaluations without one. */
static int select_best(run *r, float loss, float acc, long done) {
    const tern_config_training *T = &r->cfg->training;
    tern_restore_selection *s = &r->sel;
    const int by_loss = T->best_metric == TERN_BEST_VAL_LOSS;
    const double v = by_loss ? -(double)loss : (double)acc; /* higher is better */
    if (!isfinite(v)) {
        s->stale++;
        return 0;
    }
    const double best = by_loss ? -(double)s->best_val_loss : (double)s->best_val_acc;
    const int first = s->best_epoch == 0;
    if (first || v - s->ref > T->min_delta) {
        s->ref = v;
        s->stale = 0;
    } else {
        s->stale++;
    }
    if (!first && !(v > best)) return 0;
    s->best_epoch = done;
    s->best_val_loss = loss;
    s->best_val_acc = acc;
    return 1;
}

/* best.h5 at position p, reported as a CHECKPOINT event with the path it
 * has once the run directory is in place. */
static tern_status save_best(run *r, const tern_restore_position *p) {
    tern_status st = tern_comm_agree(r->comm, save_state(r, p, r->best_path));
    if (st) return st;
    char path[sizeof r->best_path];
    snprintf(path, sizeof path, "%s/best.h5", r->dir);
    tern_train_event ev = {.kind = TERN_TRAIN_EV_CHECKPOINT, .epoch = (int)p->epoch, .step = p->step, .path = path};
    emit(r->opts, &ev);
    return TERN_OK;
}

/* The end of an epoch: validate when due (and after the last), keep best.h5
 * on an improvement, test when due and when the run ends (the last epoch, or
 * early stopping), append to metrics.csv, report, checkpoint when due; a
 * stop request ends the run here (*stopped). */
static tern_status end_epoch(run *r, int batches, const epoch *ep, tern_train_result *res, int *stopped) {
    const tern_config_training *T = &r->cfg->training;
    const long done = ep->at.epoch + 1, step = ep->at.step;
    const int due = T->eval_every > 0 && done % T->eval_every == 0;
    const tern_restore_position at = {.epoch = done, .step = step};
    tern_train_event ev = epoch_event(r, batches, ep);
    tern_eval_result er;
    tern_status st = TERN_OK;
    r->loader_epoch_rng = r->loader.rng; /* the next epoch begins from here */
    r->aug_epoch_rng = r->loader.aug_rng;
    if (r->val.n && (due || done == T->epochs)) {
        if ((st = evaluate_split(r, &r->val, "validation", &ev, &er))) return st;
        ev.val_loss = res->val_loss = er.loss;
        ev.val_acc = res->val_acc = er.acc;
        if (select_best(r, er.loss, er.acc, done) && (st = save_best(r, &at))) return st;
    }
    res->early_stopped = T->patience > 0 && r->sel.stale >= T->patience;
    const int last = done == T->epochs || res->early_stopped;
    if (last || due) {
        if ((st = evaluate_split(r, &r->test, "test", &ev, &er))) return st;
        ev.test_loss = res->test_loss = er.loss;
        ev.test_acc = res->test_acc = er.acc;
    }
    ev.elapsed_s = tern_clock_now_s() - r->t0;
    if ((st = tern_comm_agree(r->comm, r->rank ? TERN_OK : metrics_append(r, &ev)))) return st;
    emit(r->opts, &ev);
    res->epochs_done = (int)done;
    /* A signal during the evaluation, on any rank, stops every rank here. */
    if (r->size > 1 && (st = tern_comm_any(r->comm, r->opts->stop && *r->opts->stop, &r->stop_all))) return st;
    const int stop = stop_requested(r, step);
    if (last || stop || (T->checkpoint_every > 0 && done % T->checkpoint_every == 0))
        if ((st = checkpoint(r, &at, done))) return st;
    *stopped = stop && !last;
    return TERN_OK;
}

/* 1 when path is a checkpoint of `epoch` epochs (the header alone is read). */
static int ckpt_of_epoch(const char *path, long epoch) {
    tern_ckpt_info info;
    return tern_fs_exists(path) && !tern_ckpt_read_info(path, &info) && info.epoch == epoch;
}

/* A fork takes the best.h5 beside its checkpoint along when that is the one
 * the checkpoint's selection names; else its best.h5 comes with its first
 * improvement. */
static tern_status fork_best(run *r) {
    if (r->in_place || !r->sel.best_epoch || !r->from_best[0] || !ckpt_of_epoch(r->from_best, r->sel.best_epoch))
        return TERN_OK;
    FILE *f;
    long long size;
    tern_status st = tern_fs_fopen_regular(r->from_best, "rb", &f, &size);
    if (st) return st;
    char *buf = malloc(size > 0 ? (size_t)size : 1);
    size_t got = buf ? fread(buf, 1, (size_t)size, f) : 0;
    fclose(f);
    st = got == (size_t)size ? tern_fs_write_atomic(r->best_path, buf, got)
                             : tern_error(TERN_ERR_IO, "%s: cannot read it whole to carry it into the fork",
                                          r->from_best);
    free(buf);
    return st;
}

/* The test figures of best.h5: its parameters loaded into the model, which
 * the run is done with (rank 0 reads it and gives them to the other ranks).
 * Left NaN when the run directory's best.h5 is not the run's best (a fork
 * from a checkpoint whose best.h5 was gone): then the result has no best
 * (epoch 0). */
static tern_status test_best(run *r, tern_train_result *res) {
    const tern_restore_selection *s = &r->sel;
    char path[sizeof res->best_checkpoint];
    snprintf(path, sizeof path, "%s/best.h5", r->dir);
    int have = r->rank || ckpt_of_epoch(path, s->best_epoch);
    tern_status st = tern_comm_bcast(r->comm, &have, sizeof have, 0);
    if (st || !have) return st;
    res->best_epoch = (int)s->best_epoch;
    res->best_val_loss = s->best_val_loss;
    res->best_val_acc = s->best_val_acc;
    memcpy(res->best_checkpoint, path, sizeof path);
    if (!r->rank) {
        tern_ckpt_state ck;
        tern_ckpt_state_init(&ck, &r->model.params, NULL);
        st = tern_ckpt_load(res->best_checkpoint, &ck);
    }
    st = tern_comm_agree(r->comm, st);
    tern_params *P = &r->model.params;
    if (!st && r->size > 1) st = tern_comm_bcast(r->comm, P->data, P->total * sizeof(float), 0);
    tern_eval_result er;
    tern_train_event ev = {.epoch = res->epochs_done, .epochs = r->cfg->training.epochs, .step = res->steps};
    if (!st) st = evaluate_split(r, &r->test, "test", &ev, &er);
    if (st) return st;
    res->best_test_loss = er.loss;
    res->best_test_acc = er.acc;
    return TERN_OK;
}

/* The epochs from position s (a resume's, or all zero) to training.epochs,
 * or until early stopping ends the run. */
static tern_status train_epochs(run *r, int batches, const tern_restore_position *s, tern_train_result *res) {
    tern_train_event ev = {.kind = TERN_TRAIN_EV_START, .epoch = (int)s->epoch + 1, .epochs = r->cfg->training.epochs,
                           .batches = batches, .step = s->step, .val_n = r->val.n, .path = r->dir,
                           .model = &r->model};
    emit(r->opts, &ev);
    long step = s->step;
    int stopped = 0;
    for (long e = s->epoch; !stopped && !res->early_stopped && e < r->cfg->training.epochs; e++) {
        /* A resumed epoch keeps its running sums; any other starts from zero. */
        epoch ep = {.at = e == s->epoch && s->batch > 0 ? *s : (tern_restore_position){.epoch = e, .step = step}};
        tern_status st = begin_epoch(r, &ep);
        if (!st) st = train_batches(r, batches, &ep, &stopped);
        if (!st && !stopped) st = end_epoch(r, batches, &ep, res, &stopped);
        if (st) return st;
        step = ep.at.step;
    }
    res->stopped = stopped;
    res->steps = step;
    res->sparsity = tern_model_sparsity(&r->model);
    /* A checkpoint written by this call has been published into r->dir. */
    if (r->have_ckpt) snprintf(res->checkpoint, sizeof res->checkpoint, "%s/last.h5", r->dir);
    return !stopped && r->sel.best_epoch > 0 ? test_best(r, res) : TERN_OK;
}

/* ---- the run, end to end ------------------------------------------------------ */

/* Write what a run starts with: its directory, config.yaml and metrics.csv
 * (the rows up to the resumed epoch). */
static tern_status open_run(run *r, long epochs_done) {
    tern_status st = TERN_OK;
    if (!r->rank) { /* the one writer; the others wait for its word */
        st = open_run_dir(r);
        if (!st) {
            char path[sizeof r->ckpt_path];
            snprintf(path, sizeof path, "%s/config.yaml", r->stage[0] ? r->stage : r->dir);
            st = tern_config_write(r->cfg, path);
        }
        if (!st) st = metrics_prepare(r, (int)epochs_done);
        if (!st) st = fork_best(r);
        r->have_ckpt = r->in_place && tern_fs_exists(r->ckpt_path);
    }
    st = tern_comm_agree(r->comm, st);
    return st ? st : tern_comm_bcast(r->comm, &r->have_ckpt, sizeof r->have_ckpt, 0);
}

tern_status tern_train(const tern_config *cfg, const tern_train_opts *opts, tern_train_result *res) {
    static const tern_train_opts no_opts = {0};
    memset(res, 0, sizeof *res);
    res->test_loss = res->test_acc = res->val_loss = res->val_acc = NAN;
    res->best_val_loss = res->best_val_acc = res->best_test_loss = res->best_test_acc = NAN;
    run *r = calloc(1, sizeof *r);
    if (!r) return tern_error(TERN_ERR_NOMEM, "train: out of memory");
    r->cfg = cfg;
    r->opts = opts ? opts : &no_opts;
    r->comm = r->opts->comm;
    r->rank = tern_comm_rank(r->comm);
    r->size = tern_comm_size(r->comm);
    snprintf(r->dir, sizeof r->dir, "%s", cfg->output_dir);
    const int blas_threads = openblas_get_num_threads(); /* given back below: the caller's setting */
    int batches = 0;
    tern_restore_position s = {0};
    r->t0 = tern_clock_now_s();
    /* Every rank checks; a failure on any is every rank's, before anything is written. */
    tern_status st = tern_comm_agree(r->comm, place_run(r, r->opts));
    if (!st) st = tern_comm_agree(r->comm, setup(r, cfg, r->opts->pool, &batches));
    if (!st && r->opts->resume) st = tern_comm_agree(r->comm, resume_from(r, r->opts->resume, batches, &s));
    /* A run that early stopping ended is complete, as one at training.epochs. */
    res->early_stopped = !st && cfg->training.patience > 0 && r->sel.stale >= cfg->training.patience;
    if (!st && (s.epoch >= cfg->training.epochs || res->early_stopped)) {
        /* Nothing to train: say so and touch nothing. */
        res->complete = 1;
        res->epochs_done = (int)s.epoch;
        res->steps = s.step;
        res->sparsity = tern_model_sparsity(&r->model);
        snprintf(res->checkpoint, sizeof res->checkpoint, "%s", r->opts->resume);
    } else if (!st) {
        /* Everything is checked: only now write. */
        st = open_run(r, s.epoch);
        if (!st) st = train_epochs(r, batches, &s, res);
    }
    if (r->stage[0]) tern_fs_remove_tree(r->stage); /* a new run that never checkpointed */
    openblas_set_num_threads(blas_threads);
    run_free(r);
    free(r);
    return st;
}
