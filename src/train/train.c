/* train.c — the training loop: data → steps → evaluation → metrics → checkpoints. */
#include "tern/train.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/fsutil.h"
#include "tern/checkpoint.h"
#include "tern/monitor.h"
#include "tern/ops.h"
#include "tern/parallel.h"

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

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
    char dir[TERN_CONFIG_PATH_LEN];
    char ckpt_path[TERN_CONFIG_PATH_LEN + 16];
    char csv_path[TERN_CONFIG_PATH_LEN + 16];
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
    return tern_dataset_load(test, cfg->dataset.name, dir, "test", &norm);
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

static void emit(const tern_train_opts *o, tern_train_event *ev) {
    if (o && o->cb) o->cb(ev, o->user);
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
    if (!st) r->have_ckpt = 1;
    return st;
}

/* metrics.csv: a new file with the header, or (resuming) the rows of the
 * epochs already done, rewritten atomically. */
static tern_status metrics_prepare(run *r, int epochs_done) {
    char tmp[sizeof r->csv_path + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", r->csv_path);
    FILE *out = fopen(tmp, "w");
    if (!out) return tern_error(TERN_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    FILE *in = epochs_done > 0 ? fopen(r->csv_path, "r") : NULL;
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

tern_status tern_train(const tern_config *cfg, const tern_train_opts *opts, tern_train_result *res) {
    static const tern_train_opts no_opts = {0};
    if (!opts) opts = &no_opts;
    memset(res, 0, sizeof *res);
    res->test_loss = res->test_acc = NAN;
    run *r = calloc(1, sizeof *r);
    if (!r) return tern_error(TERN_ERR_NOMEM, "train: out of memory");
    r->cfg = cfg;
    tern_status st = TERN_OK;
    const tern_config_training *T = &cfg->training;

    snprintf(r->dir, sizeof r->dir, "%s", cfg->output_dir);
    snprintf(r->ckpt_path, sizeof r->ckpt_path, "%s/last.h5", r->dir);
    snprintf(r->csv_path, sizeof r->csv_path, "%s/metrics.csv", r->dir);
    /* A new run never replaces an earlier run's results unless asked to. */
    if (!opts->resume && !opts->force && (file_exists(r->ckpt_path) || file_exists(r->csv_path))) {
        st = tern_error(TERN_ERR_IO,
                        "%s: already holds a run (%s); resume it with --resume %s, choose another output.dir, "
                        "or pass --force to replace it",
                        r->dir, file_exists(r->ckpt_path) ? "last.h5" : "metrics.csv", r->ckpt_path);
        goto done;
    }

    if ((st = build(r, cfg, 1, NULL))) goto done;
    int threads = T->threads > 0 ? T->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if (threads > TERN_PARALLEL_MAX_THREADS) threads = TERN_PARALLEL_MAX_THREADS; /* "all cores" of a big machine */
    /* tern's workers split every op of the step; OpenBLAS runs inside them,
     * one thread each, so the two never compete for the cores. */
    if ((st = tern_parallel_set_threads(threads))) goto done;
    openblas_set_num_threads(1);
    if ((st = tern_optim_init(&r->optim, &r->model.params, &cfg->optimizer.cfg))) goto done;
    if ((st = tern_ctx_init(&r->ctx, 0))) goto done;
    tern_rng_seed(&r->model_rng, T->seed ^ 0x6d6f64656cULL); /* "model": dropout */
    r->ctx.rng = &r->model_rng;
    tern_augment aug = cfg->dataset.augment;
    /* A last batch of one sample would give batchnorm a single value per
     * channel (an error) after a whole epoch: drop it; the reshuffle
     * leaves out another sample each epoch. */
    int flags = TERN_LOADER_SHUFFLE | (r->train.n % T->batch_size == 1 ? TERN_LOADER_DROP_LAST : 0);
    if ((st = tern_loader_init(&r->loader, &r->train, T->batch_size, flags, &aug,
                               T->seed ^ 0x6c6f61646572ULL))) /* "loader" */
        goto done;
    int batches = tern_loader_num_batches(&r->loader);
    if ((st = tern_config_sched(cfg, batches, &r->sched))) goto done;
    size_t per = (size_t)r->train.c * r->train.h * r->train.w;
    r->xb = malloc(sizeof(float) * per * (size_t)T->batch_size);
    r->yb = malloc(sizeof(int) * (size_t)T->batch_size);
    if (!r->xb || !r->yb) {
        st = tern_error(TERN_ERR_NOMEM, "train: cannot allocate a batch of %d", T->batch_size);
        goto done;
    }
    if ((st = tern_config_to_yaml(cfg, &r->config_text, NULL))) goto done;

    tern_ckpt_state_init(&r->ck, &r->model.params, &r->optim);
    r->ck.config_text = r->config_text;
    r->loader_epoch_rng = r->loader.rng;
    if ((st = tern_ckpt_add_rng(&r->ck, "model", &r->model_rng)) ||
        (st = tern_ckpt_add_rng(&r->ck, "loader", &r->loader_epoch_rng)))
        goto done;

    /* Where to start: epoch e0 (0-based), with b0 of its batches done. */
    long e0 = 0, step = 0;
    int b0 = 0;
    double loss_sum = 0.0;
    long correct = 0, seen = 0;
    if (opts->resume) {
        /* Verified all-or-nothing before anything is written. */
        if ((st = tern_ckpt_load(opts->resume, &r->ck))) goto done;
        double v;
        e0 = r->ck.epoch;
        step = r->ck.step;
        b0 = tern_ckpt_get_meta(&r->ck, "batch", &v) ? (int)v : 0;
        if (tern_ckpt_get_meta(&r->ck, "epoch_loss_sum", &v)) loss_sum = v;
        if (tern_ckpt_get_meta(&r->ck, "epoch_correct", &v)) correct = (long)v;
        if (tern_ckpt_get_meta(&r->ck, "epoch_seen", &v)) seen = (long)v;
        if (e0 < 0 || b0 < 0 || b0 > batches) {
            st = tern_error(TERN_ERR_FORMAT, "%s: epoch %ld, batch %d do not fit this config (%d batches/epoch)",
                            opts->resume, e0, b0, batches);
            goto done;
        }
        r->loader.rng = r->loader_epoch_rng;
        r->have_ckpt = 1;
    }

    if ((st = tern_fs_mkdirs(r->dir, "run directory"))) goto done;
    {
        char path[sizeof r->dir + 16];
        snprintf(path, sizeof path, "%s/config.yaml", r->dir);
        if ((st = tern_config_write(cfg, path))) goto done;
    }
    if ((st = metrics_prepare(r, (int)e0))) goto done;
    if (opts->resume && strcmp(opts->resume, r->ckpt_path)) r->have_ckpt = 0;

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
                if ((st = tern_loader_next(&r->loader, r->xb, r->yb, &count))) goto done;
        } else {
            loss_sum = 0.0;
            correct = seen = 0;
        }
        double t_epoch = 0.0;
        long seen_here = 0; /* samples trained by this process in this epoch */
        float lr = 0.0f;
        for (; b < batches; b++) {
            if ((st = tern_loader_next(&r->loader, r->xb, r->yb, &count))) goto done;
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
                st = tern_error(TERN_ERR_NUMERIC, "train: epoch %ld, step %ld: %s; stopped, %s", e + 1, step + 1,
                                msg, r->have_ckpt ? "the last good checkpoint is kept" : "no checkpoint was written");
                goto done;
            }
            if (st) goto done;
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
                if ((st = save_ckpt(r, e, step, b + 1, loss_sum, correct, seen))) goto done;
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
            if ((st = tern_evaluate(&r->model, &r->test, T->batch_size, &er))) goto done;
            ev.test_loss = er.loss;
            ev.test_acc = er.acc;
            res->test_loss = er.loss;
            res->test_acc = er.acc;
        }
        if ((st = metrics_append(r, &ev))) goto done;
        emit(opts, &ev);
        res->epochs_done = (int)e + 1;
        int stop = (opts->stop && *opts->stop) || (opts->stop_after_steps > 0 && step >= opts->stop_after_steps);
        if (last || stop || (T->checkpoint_every > 0 && (e + 1) % T->checkpoint_every == 0)) {
            r->loader_epoch_rng = r->loader.rng; /* the next epoch begins from here */
            if ((st = save_ckpt(r, e + 1, step, 0, 0.0, 0, 0))) goto done;
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
    if (r->have_ckpt) snprintf(res->checkpoint, sizeof res->checkpoint, "%s", r->ckpt_path);
done:
    run_free(r);
    free(r);
    return st;
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
    if (!r) return tern_error(TERN_ERR_NOMEM, "eval: out of memory");
    st = build(r, cfg, 0, data_dir);
    tern_ckpt_state ck;
    if (!st) {
        tern_ckpt_state_init(&ck, &r->model.params, NULL);
        st = tern_ckpt_load(ckpt, &ck);
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
