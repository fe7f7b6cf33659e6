/* cmd_sweep.c — `tern sweep SPEC`: argument parsing, progress lines and
 * signals around the library's resumable sweep (tern/sweep.h). Under
 * `mpirun -np N` the ranks share the points; rank 0 speaks for all: its
 * own points' progress, a line per point any rank finished, and the
 * sweep's error, which names the rank it happened on. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "commands.h"
#include "tern/sweep.h"

/* "12.3" or "-" for a latency not measured. */
static const char *us_text(double v, char *buf, size_t n) {
    if (isnan(v)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.1f", v);
    return buf;
}

static void point_label(const tern_sweep_event *ev, char *buf, size_t n) {
    const tern_sweep_point *p = ev->point;
    if (p->t[0]) snprintf(buf, n, "point %d/%d %s t=%s seed %llu", ev->index, ev->total, p->method, p->t,
                          (unsigned long long)p->seed);
    else snprintf(buf, n, "point %d/%d %s seed %llu", ev->index, ev->total, p->method, (unsigned long long)p->seed);
}

/* Rank 0's lines; user: the number of ranks. */
static void on_sweep(const tern_sweep_event *ev, void *user) {
    const int ranks = *(const int *)user;
    char label[128], a[16], b[16], where[32] = "";
    point_label(ev, label, sizeof label);
    if (ranks > 1) snprintf(where, sizeof where, " on rank %d", ev->rank);
    switch (ev->kind) {
    case TERN_SWEEP_EV_SKIP:
        break;
    case TERN_SWEEP_EV_START:
        fprintf(stderr, "%s: %s%s\n", label, ev->resumed ? "resuming from its checkpoint" : "training", where);
        break;
    case TERN_SWEEP_EV_DONE: {
        const tern_sweep_row *w = ev->row;
        printf("%s: acc %.2f%% sparsity %.1f%%  dense %s us  zskip %s us per sample (%.1f s%s)\n", label,
               100.0 * w->test_acc, 100.0 * w->sparsity, us_text(w->dense_us, a, sizeof a),
               us_text(w->zskip_us, b, sizeof b), w->seconds, where);
        fflush(stdout);
        break;
    }
    }
}

/* Each point's epochs, briefly, on stderr. */
static void on_train(const tern_train_event *ev, void *user) {
    (void)user;
    if (ev->kind != TERN_TRAIN_EV_EPOCH) return;
    fprintf(stderr, "  epoch %d/%d  train acc %.2f%%", ev->epoch, ev->epochs, 100.0 * ev->acc);
    if (!isnan(ev->test_acc)) fprintf(stderr, "  test acc %.2f%%", 100.0 * ev->test_acc);
    fprintf(stderr, "  sparsity %.1f%%  %.0f samples/s\n", 100.0 * ev->sparsity, ev->samples_per_s);
}

/* --dry-run: every point's config is built (so a bad override shows now)
 * and its state reported: done, resume (a checkpoint) or new. */
static int dry_run(const tern_sweep_spec *s) {
    int n = tern_sweep_points(s, NULL);
    tern_sweep_point *pts = malloc(sizeof *pts * (size_t)(n ? n : 1));
    if (!pts) return 1;
    tern_sweep_points(s, pts);
    tern_sweep_results r;
    tern_status st = tern_sweep_results_collect(s, &r);
    int count[3] = {0, 0, 0};
    for (int i = 0; !st && i < n; i++) {
        tern_config cfg;
        if ((st = tern_sweep_point_config(s, &pts[i], &cfg))) break;
        char ckpt[TERN_CONFIG_PATH_LEN + 16];
        snprintf(ckpt, sizeof ckpt, "%s/last.h5", cfg.output_dir);
        struct stat sb;
        int state = tern_sweep_results_find(&r, &pts[i]) >= 0 ? 0 : stat(ckpt, &sb) == 0 ? 1 : 2;
        static const char *const names[3] = {"done", "resume", "new"};
        count[state]++;
        printf("%4d  %-24s %-6s  epochs %d  -> %s\n", i + 1, pts[i].name, names[state], cfg.training.epochs,
               cfg.output_dir);
        tern_config_free(&cfg);
    }
    tern_sweep_results_free(&r);
    free(pts);
    if (st) {
        fprintf(stderr, "tern sweep: %s\n", tern_errmsg());
        return 1;
    }
    printf("%d points: %d done, %d to resume, %d new\n", n, count[0], count[1], count[2]);
    return 0;
}

int cmd_sweep(int argc, char **argv) {
    const char *spec_path;
    int dry = 0, only_plot = 0, force = 0;
    const cli_opt options[] = {
        CLI_FLAG_OPT("--dry-run", &dry, "list the points and what a run would do with each; train nothing"),
        CLI_FLAG_OPT("--only-plot", &only_plot, "rewrite OUT/summary.csv from OUT/results.csv; train nothing"),
        CLI_FLAG_OPT("--force", &force, "OUT holds a sweep of another base config: discard its results"),
        CLI_END_OPT,
    };
    const cli_spec cs = {
        .cmd = "sweep",
        .usage = "usage: tern sweep SPEC [--dry-run] [--only-plot] [--force]\n"
                 "       mpirun -np N tern sweep SPEC [--force]\n"
                 "\n"
                 "Train a config at every (quantizer, t, seed) of a sweep spec (experiments/sweeps/)\n"
                 "and record test accuracy, sparsity and dense / zero-skipping latency per point in\n"
                 "OUT/results.csv, with mean and std over seeds in OUT/summary.csv. Rerunning\n"
                 "skips finished points and resumes an interrupted one from its checkpoint.\n"
                 "Under mpirun the N ranks share the points (each point trains on one rank, with\n"
                 "training.threads threads); OUT must be on a file system every rank sees.\n",
        .after = "SIGINT or SIGTERM checkpoints the point in training and exits; rerun to continue,\n"
                 "with any number of ranks. The first line of output is 'out: OUT'.\n"
                 "Latency is timed while the other ranks may train on the same machine: the\n"
                 "dense and zskip figures of a sweep on N > 1 ranks are noisy.\n",
        .opts = options, .args = &spec_path, .max_args = 1,
    };
    int rc;
    if (!cli_parse(&cs, argc, argv, &rc)) return rc;
    if (!spec_path) return cli_usage(&cs, stderr);
    if (dry + only_plot + force > 1) {
        fprintf(stderr, "tern sweep: --dry-run, --only-plot and --force do not combine\n");
        return 2;
    }
    const tern_comm *comm = cli_comm();
    const int rank = tern_comm_rank(comm);
    int ranks = tern_comm_size(comm);
    tern_sweep_spec spec;
    /* Every rank reads the spec; all go on, or all stop (rank 0 says why). */
    if (tern_comm_agree(comm, tern_sweep_spec_load(&spec, spec_path))) {
        if (!rank) fprintf(stderr, "tern sweep: %s\n", tern_errmsg());
        tern_sweep_spec_free(&spec);
        return 1;
    }
    if (!rank) printf("out: %s\n", spec.out);
    fflush(stdout);
    rc = 0;
    if ((dry || only_plot) && rank) {
        /* rank 0 alone reads and reports */
    } else if (dry) {
        rc = dry_run(&spec);
    } else if (only_plot) {
        if (tern_sweep_summary_update(&spec)) {
            fprintf(stderr, "tern sweep: %s\n", tern_errmsg());
            rc = 1;
        } else {
            printf("summary: %s/summary.csv\n", spec.out);
        }
    } else {
        volatile sig_atomic_t *stop = cli_stop_on_signals();
        tern_sweep_opts o = {.force = force, .stop = stop, .cb = rank ? NULL : on_sweep,
                             .train_cb = rank ? NULL : on_train, .user = &ranks, .comm = comm};
        tern_sweep_result res;
        if (tern_sweep_run(&spec, &o, &res)) {
            if (!rank) fprintf(stderr, "tern sweep: %s\n", tern_errmsg());
            rc = 1;
        } else if (res.stopped) {
            if (!rank && *stop)
                fprintf(stderr, "tern sweep: stopped by signal %d after %d of %d points; rerun to continue\n",
                        (int)*stop, res.skipped + res.trained, res.total);
            else if (!rank)
                fprintf(stderr, "tern sweep: another rank was stopped; %d of %d points done; rerun to continue\n",
                        res.skipped + res.trained, res.total);
            rc = *stop ? 128 + (int)*stop : 0;
        } else if (!rank) {
            printf("done: %d points trained (%d resumed), %d already done; %s/results.csv, %s/summary.csv\n",
                   res.trained, res.resumed, res.skipped, spec.out, spec.out);
        }
    }
    tern_sweep_spec_free(&spec);
    return rc;
}
