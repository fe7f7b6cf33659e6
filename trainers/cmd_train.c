/* cmd_train.c — `tern train`: argument parsing, progress display and
 * signals around the library's training loop (tern/train.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "progress.h"
#include "summary.h"
#include "tern/clock.h"
#include "tern/comm.h"
#include "tern/train.h"

typedef struct progress {
    int tty;            /* a live line on stderr, redrawn in place */
    int next_tick;      /* when not a tty: the next 10% mark (in batches) to report */
    int drawn;          /* the live line is on the terminal now */
    int batch_size;     /* training.batch_size: samples a batch when the event does not count them */
    int in_epoch;       /* a STEP of this epoch was seen */
    const tern_config *cfg;
    double last;        /* clock at the last event */
    double last_draw;   /* clock at the last redraw */
    double epoch_t0;    /* this epoch's training began */
    double train_end;   /* this epoch's training ended (its last STEP) */
    double eval_t0;     /* this evaluation began */
    const char *split;  /* the split being evaluated, or NULL */
    double rate;        /* samples/s, exponential moving average over ~2 s; < 0: none yet */
    long rate_seen;     /* samples seen this epoch at the last STEP */
    double epoch_wall;  /* wall seconds of the last whole epoch (training and evaluation); < 0: none yet */
    double eval_wall;   /* of its evaluation */
    progress_state s;   /* what the line shows */
} progress;

/* Redraw at most 10 times a second, and always the end of a phase. */
static void draw(progress *p, double now, int force) {
    if (!force && p->drawn && now - p->last_draw < 0.1) return;
    char line[PROGRESS_MAX_WIDTH + 1];
    progress_fit(&p->s, progress_width(STDERR_FILENO), line, sizeof line);
    /* Back to column 0, the line, and clear what a longer line left. */
    fprintf(stderr, "\r%s\033[K", line);
    p->drawn = 1;
    p->last_draw = now;
}

/* Clear the live line, so that the next message starts at column 0. */
static void end_line(progress *p) {
    if (p->drawn) fputs("\r\033[K", stderr);
    p->drawn = 0;
}

static void on_step(progress *p, const tern_train_event *ev, double now) {
    const long seen = ev->seen > 0 ? ev->seen : (long)ev->batch * p->batch_size;
    if (!p->in_epoch) {
        p->in_epoch = 1;
        p->epoch_t0 = p->last;
        p->rate_seen = seen - (long)p->batch_size;  /* a resumed epoch starts mid-way */
        p->split = NULL;
    }
    const double dt = now - p->last;
    if (dt > 0.0 && seen > p->rate_seen) {
        const double inst = (double)(seen - p->rate_seen) / dt;
        /* Over the epoch so far until 2 s have passed, then over ~2 s. */
        const double tau = fmin(2.0, now - p->epoch_t0);
        p->rate = p->rate < 0.0 ? inst : p->rate + (1.0 - exp(-dt / tau)) * (inst - p->rate);
    }
    p->rate_seen = seen;
    const double per_batch = (double)seen / ev->batch;
    const double eta = p->rate > 0.0 ? (ev->batches - ev->batch) * per_batch / p->rate : -1.0;
    const double epoch_est = p->epoch_wall >= 0.0 ? p->epoch_wall : p->rate > 0.0 ? ev->batches * per_batch / p->rate : -1.0;
    p->s = (progress_state){.epoch = ev->epoch, .epochs = ev->epochs, .batch = ev->batch, .batches = ev->batches,
                            .elapsed_s = now - p->epoch_t0, .eta_s = eta, .rate = p->rate, .loss = ev->loss,
                            .acc = ev->acc, .lr = ev->lr,
                            .run_eta_s = eta < 0.0 || epoch_est < 0.0 ? -1.0
                                         : eta + (p->eval_wall > 0.0 ? p->eval_wall : 0.0) +
                                               (ev->epochs - ev->epoch) * epoch_est};
    if (ev->batch == ev->batches) p->train_end = now;
    draw(p, now, ev->batch == ev->batches);
}

static void on_eval(progress *p, const tern_train_event *ev, double now) {
    if (!p->split || strcmp(p->split, ev->split) || ev->batch == 1) p->eval_t0 = p->last;
    p->split = ev->split;
    const double el = now - p->eval_t0;
    p->s = (progress_state){.split = ev->split, .epoch = ev->epoch, .epochs = ev->epochs, .batch = ev->batch,
                            .batches = ev->batches, .elapsed_s = el,
                            .eta_s = ev->batch > 0 ? el / ev->batch * (ev->batches - ev->batch) : -1.0};
    draw(p, now, ev->batch == ev->batches || ev->batch == 1);
}

/* The width to fit a message on f to: its terminal's, 0 (one line) when
 * f is no terminal. */
static int fit_width(FILE *f) {
    return isatty(fileno(f)) ? progress_width(fileno(f)) : 0;
}

static void print_start(const progress *p, const tern_train_event *ev) {
    char f[3][TERN_CONFIG_PATH_LEN + 32];
    snprintf(f[0], sizeof f[0], "%s,", ev->path);
    snprintf(f[1], sizeof f[1], "epoch %d of %d,", ev->epoch, ev->epochs);
    snprintf(f[2], sizeof f[2], "%d batches per epoch", ev->batches);
    const char *fields[4] = {"tern train: run directory", f[0], f[1], f[2]};
    progress_print_fields(stderr, fields, 4, " ", p->tty ? fit_width(stderr) : 0);
}

static void print_checkpoint(const progress *p, const tern_train_event *ev) {
    char f[2][TERN_CONFIG_PATH_LEN + 32];
    snprintf(f[0], sizeof f[0], "checkpoint: %s", ev->path);
    snprintf(f[1], sizeof f[1], "(epoch %d, step %ld)", ev->epoch, ev->step);
    const char *fields[2] = {f[0], f[1]};
    progress_print_fields(stderr, fields, 2, " ", p->tty ? fit_width(stderr) : 0);
}

/* The model in two lines on stdout (tern summary's compact form); a resumed
 * run's with its sparsity. A model that cannot be summarised is not an
 * error of the run: the run says it at its first step if it matters. */
static void print_model(const progress *p, const tern_train_event *ev) {
    summary s;
    if (!summary_of_model(&s, p->cfg, ev->model, ev->epoch > 1 || ev->step > 0))
        summary_print_compact(stdout, &s, fit_width(stdout));
    summary_free(&s);
    fflush(stdout);
}

/* The epoch's summary on stdout, one line, or fitted to a terminal. */
static void print_epoch(const tern_train_event *ev) {
    char f[9][80];
    const char *fields[9];
    int n = 0;
    snprintf(f[n++], 80, "epoch %d/%d", ev->epoch, ev->epochs);
    snprintf(f[n++], 80, "train loss %.4f acc %.2f%%", ev->loss, 100.0 * ev->acc);
    if (ev->val_acc == ev->val_acc) snprintf(f[n++], 80, "val loss %.4f acc %.2f%%", ev->val_loss, 100.0 * ev->val_acc);
    if (ev->test_acc == ev->test_acc) snprintf(f[n++], 80, "test loss %.4f acc %.2f%%", ev->test_loss, 100.0 * ev->test_acc);
    snprintf(f[n++], 80, "sparsity %.1f%%", 100.0 * ev->sparsity);
    snprintf(f[n++], 80, "%.0f samples/s", ev->samples_per_s);
    snprintf(f[n++], 80, "%.2f ms/step", ev->step_ms);
    snprintf(f[n++], 80, "peak RSS %.0f MiB", ev->peak_rss_mb);
    snprintf(f[n++], 80, "%.1f s", ev->seconds);
    for (int i = 0; i < n; i++) fields[i] = f[i];
    progress_print_fields(stdout, fields, n, "  ", fit_width(stdout));
}

static void on_event(const tern_train_event *ev, void *user) {
    progress *p = user;
    const double now = tern_clock_now_s();
    switch (ev->kind) {
    case TERN_TRAIN_EV_START:
        print_start(p, ev);
        print_model(p, ev);
        p->next_tick = 1;
        break;
    case TERN_TRAIN_EV_STEP:
        if (p->tty) {
            on_step(p, ev, now);
        } else {
            /* About every 10% of the epoch, as a plain line. */
            int tick = 10 * ev->batch / ev->batches;
            if (tick >= p->next_tick || ev->batch == ev->batches) {
                fprintf(stderr, "epoch %d/%d %3d%%  step %ld  loss %.4f  acc %.2f%%\n", ev->epoch, ev->epochs,
                        100 * ev->batch / ev->batches, ev->step, ev->loss, 100.0 * ev->acc);
                p->next_tick = tick + 1;
            }
        }
        break;
    case TERN_TRAIN_EV_EPOCH:
        end_line(p);
        if (p->in_epoch) {
            p->epoch_wall = now - p->epoch_t0;
            p->eval_wall = now - p->train_end;
        }
        p->in_epoch = 0;
        p->split = NULL;
        p->next_tick = 1;
        print_epoch(ev);
        fflush(stdout);
        break;
    case TERN_TRAIN_EV_CHECKPOINT:
        end_line(p);
        print_checkpoint(p, ev);
        break;
    case TERN_TRAIN_EV_EVAL:
        if (p->tty) on_eval(p, ev, now);
        break;
    }
    p->last = now;
}

/* The run's last lines: the last checkpoint, and the best one when a
 * validation split chose it. */
static void print_done(const tern_train_result *res) {
    char f[4][TERN_CONFIG_PATH_LEN + 32];
    snprintf(f[0], sizeof f[0], "done: %d epochs%s, %ld steps,", res->epochs_done,
             res->early_stopped ? " (early stopping)" : "", res->steps);
    snprintf(f[1], sizeof f[1], "test accuracy %.2f%%,", 100.0 * res->test_acc);
    snprintf(f[2], sizeof f[2], "sparsity %.1f%%,", 100.0 * res->sparsity);
    snprintf(f[3], sizeof f[3], "checkpoint %s", res->checkpoint);
    const char *fields[4] = {f[0], f[1], f[2], f[3]};
    progress_print_fields(stdout, fields, 4, " ", fit_width(stdout));
    if (res->best_epoch) {
        snprintf(f[0], sizeof f[0], "best: epoch %d,", res->best_epoch);
        snprintf(f[1], sizeof f[1], "validation accuracy %.2f%% loss %.4f,", 100.0 * res->best_val_acc,
                 res->best_val_loss);
        snprintf(f[2], sizeof f[2], "test accuracy %.2f%% loss %.4f,", 100.0 * res->best_test_acc, res->best_test_loss);
        snprintf(f[3], sizeof f[3], "checkpoint %s", res->best_checkpoint);
        progress_print_fields(stdout, fields, 4, " ", fit_width(stdout));
    }
}

/* A stopped run's exit status, the same on every rank: 128 + the signal
 * (the highest any rank caught; stop_after_steps stops with none: 0). */
static int stop_status(const tern_comm *comm, int sig) {
    int all[TERN_COMM_MAX_RANKS];
    if (tern_comm_allgather(comm, &sig, all, sizeof sig)) return 1;
    for (int k = 0; k < tern_comm_size(comm); k++) sig = all[k] > sig ? all[k] : sig;
    return sig ? 128 + sig : 0;
}

/* *cfg = the config to train: CONFIG, or the one stored in the --resume
 * checkpoint, with the --set overrides. Resuming without CONFIG, the stored
 * output.dir was relative to wherever the run started and may name the
 * original of a copy: the run is where its checkpoint is, unless --set
 * output.dir=DIR forks it. On failure *cfg is freed. */
static tern_status load_config(tern_config *cfg, const char *config_path, const char *resume, const cli_list *sets) {
    tern_status st;
    if (config_path) {
        st = tern_config_load(cfg, config_path);
    } else {
        char *text = NULL;
        st = tern_ckpt_read_config(resume, &text);
        if (!st) st = tern_config_load_text(cfg, text, strlen(text), resume);
        free(text);
    }
    if (st) return st; /* nothing to free */
    int sets_dir = 0;
    st = tern_config_set_all(cfg, sets->n, sets->v); /* checked once, in any order */
    for (int i = 0; !st && i < sets->n; i++) sets_dir |= !strncmp(sets->v[i] + strspn(sets->v[i], " \t"), "output", 6);
    char *abs = !st && !config_path && !sets_dir ? realpath(resume, NULL) : NULL;
    if (abs) {
        char *slash = strrchr(abs, '/');
        slash[slash == abs ? 1 : 0] = '\0';
        if (strlen(abs) < sizeof cfg->output_dir) snprintf(cfg->output_dir, sizeof cfg->output_dir, "%s", abs);
        else st = tern_error(TERN_ERR_ARG, "%s: the run directory's path is longer than %d", abs,
                             (int)sizeof cfg->output_dir - 1);
        free(abs);
    }
    if (st) tern_config_free(cfg); /* a failed --set leaves cfg as it was, to free */
    return st;
}

int cmd_train(int argc, char **argv) {
    const char *config_path, *resume = NULL, *init_from = NULL;
    cli_list sets = {.n = 0};
    int force = 0;
    const cli_opt options[] = {
        CLI_LIST_OPT("--set", &sets, "K=V",
         "override any config field, e.g. --set training.epochs=3,\n--set quant.enabled=false (the fp32 twin),\n"
         "--set model.layers.fc1.quant.method=ttq"),
        CLI_STR_OPT("--resume", &resume, "CKPT",
         "continue from a training checkpoint, bit for bit, in the\ncheckpoint's own directory; without CONFIG the "
         "config\nstored in it is used. A CONFIG (or --set output.dir=DIR)\nnaming another directory forks the run "
         "there, with its\nmetrics so far"),
        CLI_STR_OPT("--init-from", &init_from, "CKPT",
         "fine-tune: a new run of CONFIG starting from the\ncheckpoint's parameters (its optimizer state, RNGs and\n"
         "position are not taken); a layer may be ternary in one\nand fp32 in the other, the layers must be the same"),
        CLI_FLAG_OPT("--force", &force, "replace an existing run in the run directory"),
        CLI_END_OPT,
    };
    const cli_spec spec = {
        .cmd = "train",
        .usage = "usage: tern train CONFIG [--set section.key=value ...] [--resume CKPT | --init-from CKPT]\n"
                 "                  [--force]\n"
                 "       tern train --resume CKPT [--set ...]\n"
                 "\n"
                 "Train the model a YAML config describes (see configs/). Writes config.yaml,\n"
                 "metrics.csv and last.h5 into the run directory (output.dir).\n",
        .after = "A new run replaces the run directory whole at its first checkpoint.\n"
                 "SIGINT, SIGTERM or SIGHUP writes a checkpoint before exiting.\n"
                 "\n"
                 "Prints the model first (tern summary, compact). On a terminal, stderr shows one\n"
                 "line fitted to its width (TIOCGWINSZ, else $COLUMNS, else 80), fields dropped\n"
                 "from the right: epoch e/E, a bar, batch b/B, elapsed and ETA of the epoch,\n"
                 "loss, acc, N/s (training samples per second over the last ~2 s), run eta (of\n"
                 "the whole run, evaluations included), lr; while evaluating, the split and its\n"
                 "batches. Elsewhere (a pipe, a file, TERM=dumb): a plain line every 10%.\n"
                 "\n"
                 "On N processes (an MPI build): mpirun -np N tern train CONFIG (or srun).\n"
                 "training.batch_size stays the global batch (>= 2N), each process takes its\n"
                 "share; training.threads is per process. Every process reads the dataset and\n"
                 "the checkpoint: --resume continues only on the N that wrote it, --init-from\n"
                 "starts on any N.\n"
                 "Process 0 writes the run directory and prints; a stop on any stops all.\n",
        .opts = options, .args = &config_path, .max_args = 1,
    };
    int rc;
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    if (!config_path && !resume) return cli_usage(&spec, stderr);
    if (resume && init_from) {
        if (tern_comm_rank(cli_comm()) == 0)
            fprintf(stderr, "tern train: --init-from and --resume exclude each other: --resume %s continues that run "
                    "(a fine-tune too) from its own checkpoint, --init-from starts a new one\n", resume);
        return 2;
    }

    /* On N processes, rank 0 speaks for all: every rank sees the same
     * errors (the library agrees on them), so one line is printed. */
    const tern_comm *comm = cli_comm();
    const int speak = tern_comm_rank(comm) == 0;
    tern_config cfg;
    tern_status st = load_config(&cfg, config_path, resume, &sets);
    if (st) {
        if (speak) fprintf(stderr, "tern train: %s\n", tern_errmsg());
        return 1;
    }

    volatile sig_atomic_t *stop = cli_stop_on_signals();
    /* A terminal that cannot move its cursor gets the plain lines. */
    const char *term = getenv("TERM");
    progress p = {.tty = isatty(STDERR_FILENO) && !(term && !strcmp(term, "dumb")), .rate = -1.0,
                  .epoch_wall = -1.0, .eval_wall = -1.0, .batch_size = cfg.training.batch_size, .cfg = &cfg,
                  .last = tern_clock_now_s()};
    tern_train_opts opts = {.resume = resume, .init_from = init_from, .force = force, .stop = stop, .cb = speak ? on_event : NULL,
                            .user = &p, .comm = comm};
    tern_train_result res;
    st = tern_train(&cfg, &opts, &res);
    int epochs = cfg.training.epochs;
    tern_config_free(&cfg);
    end_line(&p);
    if (st) {
        if (speak) fprintf(stderr, "tern train: %s\n", tern_errmsg());
        return 1;
    }
    const int stopped_rc = res.stopped ? stop_status(comm, *stop) : 0; /* every rank takes part */
    if (!speak) return res.stopped ? stopped_rc : res.complete;
    if (res.complete && res.early_stopped) {
        fprintf(stderr, "tern train: %s: early stopping ended the run at epoch %d; to train further, resume with a "
                "larger --set training.early_stopping.patience=N (or 0: off)\n", resume, res.epochs_done);
        return 1;
    }
    if (res.complete) {
        fprintf(stderr, "tern train: %s: the run is complete (epoch %d of training.epochs %d); to train further, "
                "resume with --set training.epochs=N, N > %d\n", resume, res.epochs_done, epochs, res.epochs_done);
        return 1;
    }
    if (res.stopped) {
        char f[2][TERN_CONFIG_PATH_LEN + 64];
        snprintf(f[0], sizeof f[0], "tern train: stopped by signal %d after %ld steps;", stopped_rc ? stopped_rc - 128 : 0,
                 res.steps);
        snprintf(f[1], sizeof f[1], "resume with --resume %s", res.checkpoint);
        const char *fields[2] = {f[0], f[1]};
        progress_print_fields(stderr, fields, 2, " ", p.tty ? fit_width(stderr) : 0);
        return stopped_rc;
    }
    print_done(&res);
    return 0;
}
