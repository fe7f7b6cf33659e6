/* cmd_train.c — `tern train`: argument parsing, progress display and
 * signals around the library's training loop (tern/train.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "tern/train.h"

typedef struct progress {
    int tty;        /* draw a bar on stderr */
    int next_tick;  /* when not a tty: the next 10% mark (in batches) to report */
} progress;

static void on_event(const tern_train_event *ev, void *user) {
    progress *p = user;
    switch (ev->kind) {
    case TERN_TRAIN_EV_START:
        fprintf(stderr, "tern train: run directory %s, epoch %d of %d, %d batches per epoch\n", ev->path, ev->epoch,
                ev->epochs, ev->batches);
        p->next_tick = 1;
        break;
    case TERN_TRAIN_EV_STEP:
        if (p->tty) {
            int width = 30, done = (int)((long)width * ev->batch / ev->batches);
            char bar[31];
            for (int i = 0; i < width; i++) bar[i] = i < done ? '#' : '.';
            bar[width] = '\0';
            fprintf(stderr, "\repoch %d/%d [%s] %3d%%  loss %.4f  acc %6.2f%%  lr %.2e", ev->epoch, ev->epochs, bar,
                    100 * ev->batch / ev->batches, ev->loss, 100.0 * ev->acc, ev->lr);
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
        if (p->tty) fputc('\n', stderr);
        p->next_tick = 1;
        printf("epoch %d/%d  train loss %.4f acc %.2f%%", ev->epoch, ev->epochs, ev->loss, 100.0 * ev->acc);
        if (ev->test_acc == ev->test_acc) printf("  test loss %.4f acc %.2f%%", ev->test_loss, 100.0 * ev->test_acc);
        printf("  sparsity %.1f%%  %.0f samples/s  %.2f ms/step  peak RSS %.0f MiB  %.1f s\n", 100.0 * ev->sparsity,
               ev->samples_per_s, ev->step_ms, ev->peak_rss_mb, ev->seconds);
        fflush(stdout);
        break;
    case TERN_TRAIN_EV_CHECKPOINT:
        fprintf(stderr, "checkpoint: %s (epoch %d, step %ld)\n", ev->path, ev->epoch, ev->step);
        break;
    case TERN_TRAIN_EV_EVAL:
        break;
    }
}

int cmd_train(int argc, char **argv) {
    const char *config_path, *resume = NULL;
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
        CLI_FLAG_OPT("--force", &force, "replace an existing run in the run directory"),
        CLI_END_OPT,
    };
    const cli_spec spec = {
        .cmd = "train",
        .usage = "usage: tern train CONFIG [--set section.key=value ...] [--resume CKPT] [--force]\n"
                 "       tern train --resume CKPT [--set ...]\n"
                 "\n"
                 "Train the model a YAML config describes (see configs/). Writes config.yaml,\n"
                 "metrics.csv and last.h5 into the run directory (output.dir).\n",
        .after = "A new run replaces the run directory whole at its first checkpoint.\n"
                 "SIGINT, SIGTERM or SIGHUP writes a checkpoint before exiting.\n",
        .opts = options, .args = &config_path, .max_args = 1,
    };
    int rc;
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    if (!config_path && !resume) return cli_usage(&spec, stderr);

    tern_config cfg;
    tern_status st;
    if (config_path) {
        st = tern_config_load(&cfg, config_path);
    } else {
        char *text = NULL;
        st = tern_ckpt_read_config(resume, &text);
        if (!st) st = tern_config_load_text(&cfg, text, strlen(text), resume);
        free(text);
    }
    int cfg_loaded = !st; /* a failed --set leaves cfg as it was, to free */
    int sets_dir = 0;
    if (!st) st = tern_config_set_all(&cfg, sets.n, sets.v); /* checked once, in any order */
    for (int i = 0; !st && i < sets.n; i++) sets_dir |= !strncmp(sets.v[i] + strspn(sets.v[i], " \t"), "output", 6);
    /* Resuming without CONFIG: the stored output.dir was relative to
     * wherever the run started, and may name the original of a copy. The
     * run is where its checkpoint is; --set output.dir=DIR forks it. */
    char *abs = !st && !config_path && !sets_dir ? realpath(resume, NULL) : NULL;
    if (abs) {
        char *slash = strrchr(abs, '/');
        slash[slash == abs ? 1 : 0] = '\0';
        if (strlen(abs) < sizeof cfg.output_dir) snprintf(cfg.output_dir, sizeof cfg.output_dir, "%s", abs);
        else st = tern_error(TERN_ERR_ARG, "%s: the run directory's path is longer than %d", abs,
                             (int)sizeof cfg.output_dir - 1);
        free(abs);
    }
    if (st) {
        fprintf(stderr, "tern train: %s\n", tern_errmsg());
        if (cfg_loaded) tern_config_free(&cfg);
        return 1;
    }

    volatile sig_atomic_t *stop = cli_stop_on_signals();
    progress p = {.tty = isatty(STDERR_FILENO)};
    tern_train_opts opts = {.resume = resume, .force = force, .stop = stop, .cb = on_event, .user = &p};
    tern_train_result res;
    st = tern_train(&cfg, &opts, &res);
    int epochs = cfg.training.epochs;
    tern_config_free(&cfg);
    if (st) {
        if (p.tty) fputc('\n', stderr);
        fprintf(stderr, "tern train: %s\n", tern_errmsg());
        return 1;
    }
    if (res.complete) {
        fprintf(stderr, "tern train: %s: the run is complete (epoch %d of training.epochs %d); to train further, "
                "resume with --set training.epochs=N, N > %d\n", resume, res.epochs_done, epochs, res.epochs_done);
        return 1;
    }
    if (res.stopped) {
        fprintf(stderr, "tern train: stopped by signal %d after %ld steps; resume with --resume %s\n",
                (int)*stop, res.steps, res.checkpoint);
        return *stop ? 128 + (int)*stop : 0;
    }
    printf("done: %d epochs%s, %ld steps, test accuracy %.2f%%, sparsity %.1f%%, checkpoint %s\n", res.epochs_done,
           res.early_stopped ? " (early stopping)" : "", res.steps, 100.0 * res.test_acc, 100.0 * res.sparsity,
           res.checkpoint);
    if (res.best_epoch)
        printf("best: epoch %d, validation accuracy %.2f%% loss %.4f, test accuracy %.2f%% loss %.4f, checkpoint %s\n",
               res.best_epoch, 100.0 * res.best_val_acc, res.best_val_loss, 100.0 * res.best_test_acc,
               res.best_test_loss, res.best_checkpoint);
    return 0;
}
