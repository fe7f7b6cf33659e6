/* cmd_hybrid.c — `tern hybrid CONFIG`: argument parsing, progress lines,
 * tables, signals and plots around the library's resumable precision
 * search (tern/hybrid.h). Under `mpirun -np N` the ranks share the
 * trainings; rank 0 speaks for all, as in tern sweep. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "io/fsutil.h" /* the plots are written as every tern result is: whole or not at all */
#include "tern/hybrid.h"

/* experiments/plot_hybrid.gp, built into the program (cmake/embed_text.cmake). */
extern const char cli_plot_hybrid_gp[];

static const char *const cost_flags[TERN_HYBRID_NCOST] = {"--max-bytes", "--max-latency-us", "--max-energy-nj"};
static const cli_choice cost_choices[] = {{"bytes", TERN_HYBRID_BYTES}, {"latency", TERN_HYBRID_LATENCY},
                                          {"energy", TERN_HYBRID_ENERGY}, {NULL, 0}};

/* ---- arguments ---------------------------------------------------------------- */

/* A positive finite number of option opt into *out; 0 after the one-line error. */
static int positive(const char *opt, const char *s, double *out) {
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE || !isfinite(v)) {
        fprintf(stderr, "tern hybrid: %s %s: not a number\n", opt, s);
        return 0;
    }
    if (v <= 0) {
        fprintf(stderr, "tern hybrid: %s %s: not a positive number\n", opt, s);
        return 0;
    }
    *out = v;
    return 1;
}

/* "1,2,3" into s->seeds: distinct whole numbers >= 1; 0 after the error. */
static int parse_seeds(const char *text, tern_hybrid_spec *s) {
    const char *c = text;
    for (s->n_seeds = 0;; c++) {
        char *end = NULL;
        errno = 0;
        const unsigned long long v = *c >= '0' && *c <= '9' ? strtoull(c, &end, 10) : 0;
        int ok = v && !errno && (*end == ',' || !*end) && s->n_seeds < TERN_HYBRID_MAX_SEEDS;
        for (int i = 0; ok && i < s->n_seeds; i++) ok = s->seeds[i] != v;
        if (!ok) {
            fprintf(stderr, "tern hybrid: --seeds %s: not a list of up to %d distinct whole numbers >= 1, "
                    "such as 1,2,3\n", text, TERN_HYBRID_MAX_SEEDS);
            return 0;
        }
        s->seeds[s->n_seeds++] = v;
        if (!*end) return 1;
        c = end;
    }
}

/* OUT's default: runs/hybrid-<config file name without .yaml/.yml>. */
static void default_out(const char *config, char *out, size_t n) {
    const char *base = strrchr(config, '/') ? strrchr(config, '/') + 1 : config;
    size_t len = strlen(base);
    if (len > 5 && !strcmp(base + len - 5, ".yaml")) len -= 5;
    else if (len > 4 && !strcmp(base + len - 4, ".yml")) len -= 4;
    snprintf(out, n, "runs/hybrid-%.*s", (int)len, base);
}

/* ---- progress ----------------------------------------------------------------- */

static void print_costs(const tern_hybrid_model *m) {
    printf("%-16s %10s %12s %11s %11s %9s %9s %10s %10s\n", "layer", "weights", "MACs", "bytes T", "bytes F", "us T",
           "us F", "nJ T", "nJ F");
    for (int i = 0; i < m->n_layers; i++) {
        const tern_hybrid_layer *L = &m->layers[i];
        printf("%-16s %10llu %12llu %11.0f %11.0f %9.2f %9.2f %10.1f %10.1f\n", L->name,
               (unsigned long long)L->weights, (unsigned long long)L->macs, L->cost_t[0], L->cost_f[0], L->cost_t[1],
               L->cost_f[1], L->cost_t[2], L->cost_f[2]);
    }
    printf("%-16s %10s %12s %11.0f %11s %9.2f %9s %10.1f\n", "(other layers)", "", "", m->fixed[0], "", m->fixed[1],
           "", m->fixed[2]);
}

/* The sensitivities and the predicted front after phase 3. */
static void print_search(const tern_hybrid_event *ev, const tern_hybrid_spec *s) {
    const tern_hybrid_model *m = ev->model;
    char a[TERN_HYBRID_MAX_LAYERS + 1];
    tern_hybrid_assign_text(m->base, m->n_layers, a);
    printf("sensitivity: the fine-tuned base %s at %.2f%% validation accuracy; each layer flipped:\n", a,
           100.0 * m->base_acc);
    for (int i = 0; i < m->n_layers; i++) {
        const tern_hybrid_layer *L = &m->layers[i];
        const int fp32 = (m->base >> i & 1) == 0;
        if (isnan(L->delta)) printf("  %-16s to %-7s  unknown\n", L->name, fp32 ? "fp32" : "ternary");
        else printf("  %-16s to %-7s  %+6.2f points\n", L->name, fp32 ? "fp32" : "ternary", 100.0 * L->delta);
    }
    const char *cost = tern_hybrid_cost_name(s->cost);
    printf("predicted front (validation accuracy against %s; %d assignments predicted):\n", cost, ev->n_cands);
    for (int i = 0; i < ev->n_cands; i++) {
        const tern_hybrid_cand *c = &ev->cands[i];
        if (!c->front) continue;
        tern_hybrid_assign_text(c->fp32, m->n_layers, a);
        printf("  %s  %6.2f%%  %12.0f bytes %10.2f us %10.1f nJ%s\n", a, 100.0 * c->acc, c->cost[0], c->cost[1],
               c->cost[2], c->within ? "" : "  (outside the budget)");
    }
}

/* Rank 0's lines; user: the spec. */
static void on_hybrid(const tern_hybrid_event *ev, void *user) {
    const tern_hybrid_spec *s = user;
    char label[160];
    if (ev->name) snprintf(label, sizeof label, "%s %d/%d %s", ev->phase, ev->index, ev->total, ev->name);
    switch (ev->kind) {
    case TERN_HYBRID_EV_COSTS:
        print_costs(ev->model);
        break;
    case TERN_HYBRID_EV_SKIP:
        printf("%s: done before, skipped\n", label);
        break;
    case TERN_HYBRID_EV_START:
        fprintf(stderr, "%s: %s\n", label, ev->resumed ? "resuming from its checkpoint" : "training");
        break;
    case TERN_HYBRID_EV_DONE: {
        const tern_hybrid_row *w = ev->row;
        char val[32] = "-";
        if (!isnan(w->val_acc)) snprintf(val, sizeof val, "%.2f%%", 100.0 * w->val_acc);
        printf("%s: val %s test %.2f%% (%.1f s)\n", label, val, 100.0 * w->test_acc, w->seconds);
        break;
    }
    case TERN_HYBRID_EV_SEARCH:
        print_search(ev, s);
        break;
    }
    fflush(stdout);
}

/* Each training's epochs, briefly, on stderr. */
static void on_train(const tern_train_event *ev, void *user) {
    (void)user;
    if (ev->kind != TERN_TRAIN_EV_EPOCH) return;
    fprintf(stderr, "  epoch %d/%d  train acc %.2f%%", ev->epoch, ev->epochs, 100.0 * ev->acc);
    if (!isnan(ev->test_acc)) fprintf(stderr, "  test acc %.2f%%", 100.0 * ev->test_acc);
    fprintf(stderr, "  %.0f samples/s\n", ev->samples_per_s);
}

/* ---- the summary table ---------------------------------------------------------- */

#define SUMMARY_COLS 11
static const char *const summary_names[SUMMARY_COLS] = {"assignment", "role", "n", "val_acc_mean",
                                                        "val_acc_std", "test_acc_mean", "test_acc_std", "bytes",
                                                        "latency_us", "energy_nj", "chosen"};

/* line's cells into cell[] by the header's order in idx (-1: absent). */
static void split_cells(char *line, const int *idx, const char **cell) {
    const char *all[64];
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *c = line, *t; n < 64 && (t = strsep(&c, ","));) all[n++] = t;
    for (int j = 0; j < SUMMARY_COLS; j++) cell[j] = idx[j] >= 0 && idx[j] < n ? all[idx[j]] : "";
}

static double num(const char *s) { return *s ? strtod(s, NULL) : NAN; }

/* "85.20 ± 0.31" or "-" for fractions m, sd. */
static const char *pct_pm(double m, double sd, char *buf, size_t n) {
    if (isnan(m)) snprintf(buf, n, "-");
    else snprintf(buf, n, "%.2f ± %.2f", 100.0 * m, isnan(sd) ? 0.0 : 100.0 * sd);
    return buf;
}

/* OUT/summary.csv as a table on stdout, the chosen row marked. */
static tern_status print_summary(const char *out) {
    char path[TERN_CONFIG_PATH_LEN + 16];
    snprintf(path, sizeof path, "%s/summary.csv", out);
    FILE *f;
    tern_status st = tern_fs_fopen_regular(path, "r", &f, NULL);
    if (st) return st;
    char *line = NULL;
    size_t cap = 0;
    int idx[SUMMARY_COLS];
    for (int j = 0; j < SUMMARY_COLS; j++) idx[j] = -1;
    if (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\r\n")] = '\0';
        int k = 0;
        for (char *c = line, *t; (t = strsep(&c, ",")); k++)
            for (int j = 0; j < SUMMARY_COLS; j++)
                if (!strcmp(t, summary_names[j])) idx[j] = k;
    }
    printf("\n  %-*s %-15s %5s %16s %16s %12s %10s %10s\n", 12, "assignment", "role", "seeds", "val acc %",
           "test acc %", "bytes", "us", "nJ");
    while (getline(&line, &cap, f) > 0) {
        const char *c[SUMMARY_COLS];
        char v[40], t[40];
        split_cells(line, idx, c);
        printf("%s %-*s %-15s %5s %17s %17s %12.0f %10.2f %10.1f\n", num(c[10]) == 1 ? "*" : " ", 12, c[0], c[1],
               c[2], pct_pm(num(c[3]), num(c[4]), v, sizeof v), pct_pm(num(c[5]), num(c[6]), t, sizeof t),
               num(c[7]), num(c[8]), num(c[9]));
    }
    free(line);
    fclose(f);
    printf("  (* the chosen assignment; accuracy: mean ± std over the seeds; bytes, us (measured) and nJ of the trained models)\n");
    return TERN_OK;
}

/* ---- plots ---------------------------------------------------------------------- */

/* OUT/accuracy_vs_bytes.png and accuracy_vs_latency.png, each whole or not at all. */
static tern_status plot(const tern_hybrid_spec *s) {
    static const char *const files[2] = {"accuracy_vs_bytes.png", "accuracy_vs_latency.png"};
    char path[2][TERN_CONFIG_PATH_LEN + 32], tmp[2][TERN_CONFIG_PATH_LEN + 64];
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (!f) return tern_error(TERN_ERR_NOMEM, "out of memory");
    fputs("dir = ", f);
    cli_gp_str(f, s->out);
    for (int i = 0; i < 2; i++) {
        snprintf(path[i], sizeof path[i], "%s/%s", s->out, files[i]);
        tern_fs_tmp_name(tmp[i], sizeof tmp[i], path[i]);
        fputs(i ? "\nout_latency = " : "\nout_bytes = ", f);
        cli_gp_str(f, tmp[i]);
    }
    fprintf(f, "\ncost = '%s'\nmax_cost = %.17g\nmin_acc = %.17g\ninfo = ", tern_hybrid_cost_name(s->cost),
            s->max_cost, 100.0 * s->min_acc);
    char info[TERN_CONFIG_PATH_LEN + 64], seeds[32] = "the config's";
    if (s->n_seeds) snprintf(seeds, sizeof seeds, "%d", s->n_seeds);
    snprintf(info, sizeof info, "%s, %s seed%s, fine-tune %d epoch%s", s->config, seeds, s->n_seeds > 1 ? "s" : "",
             s->finetune_epochs, s->finetune_epochs == 1 ? "" : "s");
    cli_gp_str(f, info);
    fprintf(f, "\n%s", cli_plot_hybrid_gp);
    fclose(f);
    tern_status st = cli_run_gnuplot(text, n);
    free(text);
    for (int i = 0; i < 2; i++) {
        if (st) remove(tmp[i]);
        else if (rename(tmp[i], path[i]))
            st = tern_error(TERN_ERR_IO, "%s: cannot rename into place: %s", path[i], strerror(errno));
    }
    if (!st) printf("plots: %s %s\n", path[0], path[1]);
    return st;
}

/* ---- the command ------------------------------------------------------------------ */

/* The budget options into s: at most one --max-*, --min-accuracy, --cost; 0 after the error. */
static int read_budget(const char *const max[TERN_HYBRID_NCOST], const char *min_acc, int cost, tern_hybrid_spec *s) {
    int given = -1;
    for (int c = 0; c < TERN_HYBRID_NCOST; c++) {
        if (!max[c]) continue;
        if (given >= 0) {
            fprintf(stderr, "tern hybrid: %s and %s: give at most one budget\n", cost_flags[given], cost_flags[c]);
            return 0;
        }
        if (!positive(cost_flags[c], max[c], &s->max_cost)) return 0;
        given = c;
    }
    if (given >= 0 && cost >= 0 && cost != given) {
        fprintf(stderr, "tern hybrid: --cost %s and %s: the budget names another cost\n", cost_choices[cost].name,
                cost_flags[given]);
        return 0;
    }
    s->cost = (tern_hybrid_cost)(given >= 0 ? given : cost >= 0 ? cost : TERN_HYBRID_BYTES);
    if (min_acc) {
        char *end;
        const double pct = strtod(min_acc, &end);
        if (end == min_acc || *end || !(pct > 0 && pct <= 100)) {
            fprintf(stderr, "tern hybrid: --min-accuracy %s: not a percentage in (0, 100]\n", min_acc);
            return 0;
        }
        s->min_acc = pct / 100.0;
    }
    return 1;
}

/* What the finished search says: the summary, the budget, the config, the plots. */
static int report(const tern_hybrid_spec *s, const tern_hybrid_result *r) {
    if (print_summary(s->out)) return cli_fail("hybrid");
    char a[TERN_HYBRID_MAX_LAYERS + 1];
    tern_hybrid_assign_text(r->chosen, r->model.n_layers, a);
    const char *cost = tern_hybrid_cost_name(s->cost);
    printf("chosen: %s  val %.2f%% test %.2f%%  %s %.6g (predicted)\n", a, 100.0 * r->chosen_val,
           100.0 * r->chosen_test, cost, r->chosen_cost[s->cost]);
    if (s->max_cost > 0 || s->min_acc > 0)
        printf("budget: %s\n", r->met ? "met" : "not met (the chosen assignment is the closest)");
    printf("runs: %d trained, %d done before\nconfig: %s\ntrain it: tern train %s\n", r->trained, r->skipped,
           r->config_out, r->config_out);
    fflush(stdout);
    if (!cli_on_path("gnuplot")) {
        printf("plots skipped: gnuplot not found on PATH; install gnuplot-nox (bash trainers/setup.sh --package "
               "gnuplot-nox) and rerun the same command: nothing is trained again\n");
        return 0;
    }
    return plot(s) ? cli_fail("hybrid") : 0;
}

int cmd_hybrid(int argc, char **argv) {
    const char *config = NULL, *from = NULL, *out = NULL, *seeds = NULL, *max[TERN_HYBRID_NCOST] = {0}, *min_acc = NULL;
    cli_list sets = {.n = 0};
    int cost = -1, force = 0;
    tern_hybrid_spec s;
    tern_hybrid_spec_init(&s);
    const cli_opt options[] = {
        CLI_LIST_OPT("--set", &sets, "K=V", "override a config field for every run, as tern train --set"),
        CLI_STR_OPT("--from", &from, "CKPT", "a trained checkpoint of CONFIG's model to measure sensitivity from\n"
                    "(default: train the base first)"),
        CLI_STR_OPT("--out", &out, "DIR", "results directory (runs/hybrid-<config name>)"),
        CLI_INT_OPT("--finetune-epochs", &s.finetune_epochs, "N", 1, 1000000, "epochs of each sensitivity fine-tune (1)"),
        CLI_STR_OPT("--seeds", &seeds, "S,S,..", "seeds of the full trainings (the config's training.seed)"),
        CLI_INT_OPT("--confirm", &s.confirm, "K", 0, TERN_HYBRID_MAX_CONFIRM, "front candidates trained fully (2)"),
        CLI_INT_OPT("--repeats", &s.lat_repeats, "N", 1, 100000, "timed forwards per latency, median (30)"),
        CLI_STR_OPT("--max-bytes", &max[TERN_HYBRID_BYTES], "N", "budget: deploy bytes at most N"),
        CLI_STR_OPT("--max-latency-us", &max[TERN_HYBRID_LATENCY], "X", "budget: latency per sample at most X us"),
        CLI_STR_OPT("--max-energy-nj", &max[TERN_HYBRID_ENERGY], "X", "budget: estimated energy at most X nJ"),
        CLI_STR_OPT("--min-accuracy", &min_acc, "PCT", "the cheapest assignment reaching PCT% validation accuracy"),
        CLI_CHOICE_OPT("--cost", &cost, cost_choices, "the front's cost axis (bytes, or the --max-* flag's)"),
        CLI_FLAG_OPT("--force", &force, "OUT holds another search's runs: discard them"),
        CLI_END_OPT,
    };
    const cli_spec cs = {
        .cmd = "hybrid",
        .usage = "usage: tern hybrid CONFIG [--max-bytes N | --max-latency-us X | --max-energy-nj X]\n"
                 "                          [--min-accuracy PCT] [--from CKPT] [--seeds 1,2,3] [options]\n"
                 "       mpirun -np N tern hybrid CONFIG [options]\n"
                 "\n"
                 "Choose which linear and conv2d layers of CONFIG stay fp32 and which are ternary:\n"
                 "measure each layer's cost (deploy bytes, latency, energy) and the validation\n"
                 "accuracy lost or gained by flipping its precision (a short fine-tune from a\n"
                 "trained base), predict every assignment, train the best on the front and the\n"
                 "references (all-ternary, all-fp32, first+last fp32) fully per seed, and write\n"
                 "the chosen one's config to OUT/hybrid.yaml, with CSV tables and two plots\n"
                 "(gnuplot) in OUT. Rerunning skips finished runs, so a second budget on the\n"
                 "same OUT trains only what the first did not. Under mpirun the ranks share the\n"
                 "trainings; OUT must be on a file system every rank sees.\n",
        .after = "SIGINT or SIGTERM checkpoints the training in progress and exits; rerun the same\n"
                 "command to continue. The files, the cost model and its limits: docs/hybrid.md.\n",
        .opts = options, .args = &config, .max_args = 1,
    };
    int rc;
    if (!cli_parse(&cs, argc, argv, &rc)) return rc;
    if (!config) return cli_usage(&cs, stderr);
    if (!read_budget(max, min_acc, cost, &s) || (seeds && !parse_seeds(seeds, &s))) return 2;
    if (snprintf(s.config, sizeof s.config, "%s", config) >= (int)sizeof s.config ||
        snprintf(s.from, sizeof s.from, "%s", from ? from : "") >= (int)sizeof s.from) {
        fprintf(stderr, "tern hybrid: a path longer than %d bytes\n", TERN_CONFIG_PATH_LEN - 1);
        return 2;
    }
    if (out) snprintf(s.out, sizeof s.out, "%s", out);
    else default_out(config, s.out, sizeof s.out);
    _Static_assert(CLI_LIST_MAX <= TERN_HYBRID_MAX_SETS, "every --set fits the spec");
    s.n_sets = sets.n;
    for (int i = 0; i < sets.n; i++) s.sets[i] = sets.v[i];

    const tern_comm *comm = cli_comm();
    const int rank = tern_comm_rank(comm);
    volatile sig_atomic_t *stop = cli_stop_on_signals();
    tern_hybrid_opts o = {.force = force, .stop = stop, .cb = rank ? NULL : on_hybrid,
                          .train_cb = rank ? NULL : on_train, .user = &s, .comm = comm};
    tern_hybrid_result r;
    if (!rank) printf("out: %s\n", s.out);
    fflush(stdout);
    if (tern_hybrid_run(&s, &o, &r)) {
        if (!rank) fprintf(stderr, "tern hybrid: %s\n", tern_errmsg());
        return 1;
    }
    if (r.stopped) {
        if (!rank && *stop)
            fprintf(stderr, "tern hybrid: stopped by signal %d after %d runs (%d trained now); rerun the same "
                    "command to continue\n", (int)*stop, r.trained + r.skipped, r.trained);
        else if (!rank)
            fprintf(stderr, "tern hybrid: another rank was stopped; rerun the same command to continue\n");
        return *stop ? 128 + (int)*stop : 0;
    }
    return rank ? 0 : report(&s, &r);
}
