/* cli.c — what the tern program's commands share (cli.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

/* ---- commands --------------------------------------------------------------- */

static struct tern_comm *comm;

struct tern_comm *cli_comm(void) { return comm; }

void cli_comm_set(struct tern_comm *c) { comm = c; }

const cli_command *cli_find(const cli_command *table, const char *name) {
    for (const cli_command *c = table; c->name; c++)
        if (!strcmp(c->name, name)) return c;
    return NULL;
}

void cli_print_commands(FILE *f, const cli_command *table, int width) {
    for (const cli_command *c = table; c->name; c++) {
        if (!c->sub) fprintf(f, "  %-*s %s\n", width, c->name, c->summary);
        for (const cli_command *s = c->sub; s && s->name; s++)
            fprintf(f, "  %s %-*s %s\n", c->name, width - (int)strlen(c->name) - 1, s->name, s->summary);
    }
}

/* ---- arguments and errors --------------------------------------------------- */

int cli_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return 0;
    *out = (int)v;
    return 1;
}

int cli_fail(const char *cmd) {
    fprintf(stderr, "tern %s: %s\n", cmd, tern_errmsg());
    return 1;
}

const cli_choice cli_acts[] = {
    {"auto", TERN_RUNTIME_ACT_AUTO},
    {"int8", TERN_RUNTIME_ACT_I8},
    {"fp32", TERN_RUNTIME_ACT_F32},
    {NULL, 0},
};

static const cli_opt *find_opt(const cli_opt *o, const char *name) {
    for (; o->name; o++)
        if (!strcmp(o->name, name)) return o;
    return NULL;
}

/* "a, b or c" (or "a|b|c" when bar) into buf. */
static const char *choice_names(const cli_choice *c, int bar, char *buf, size_t n) {
    size_t k = 0;
    buf[0] = '\0';
    for (int i = 0; c[i].name && k < n; i++) {
        const char *sep = !i ? "" : bar ? "|" : c[i + 1].name ? ", " : " or ";
        k += (size_t)snprintf(buf + k, n - k, "%s%s", sep, c[i].name);
    }
    return buf;
}

/* Store value v of option o; 0 after a one-line error. */
static int set_opt(const cli_spec *s, const cli_opt *o, const char *v) {
    char names[128];
    switch (o->kind) {
    case CLI_FLAG: *(int *)o->out = 1; return 1;
    case CLI_STR: *(const char **)o->out = v; return 1;
    case CLI_INT:
        if (cli_int(v, o->lo, o->hi, o->out)) return 1;
        fprintf(stderr, "tern %s: %s: '%s' is not a whole number in %d..%d\n", s->cmd, o->name, v, o->lo, o->hi);
        return 0;
    case CLI_CHOICE:
        for (const cli_choice *c = o->choices; c->name; c++)
            if (!strcmp(c->name, v)) {
                *(int *)o->out = c->value;
                return 1;
            }
        fprintf(stderr, "tern %s: %s must be %s, got '%s'\n", s->cmd, o->name,
                choice_names(o->choices, 0, names, sizeof names), v);
        return 0;
    case CLI_LIST: {
        cli_list *l = o->out;
        if (l->n < CLI_LIST_MAX) {
            l->v[l->n++] = v;
            return 1;
        }
        fprintf(stderr, "tern %s: too many %s options (at most %d)\n", s->cmd, o->name, CLI_LIST_MAX);
        return 0;
    }
    }
    return 0;
}

int cli_parse(const cli_spec *s, int argc, char **argv, int *rc) {
    int n_args = 0;
    for (int i = 0; i < s->max_args; i++) s->args[i] = NULL;
    *rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *rc = cli_usage(s, stdout);
            return 0;
        }
        if (a[0] != '-' || (s->dash_arg && !a[1])) {
            if (n_args == s->max_args) {
                fprintf(stderr, "tern %s: unexpected argument '%s'\n", s->cmd, a);
                return 0;
            }
            s->args[n_args++] = a;
            continue;
        }
        const cli_opt *o = find_opt(s->opts, a);
        if (!o) {
            fprintf(stderr, "tern %s: unknown option '%s' (try 'tern %s --help')\n", s->cmd, a, s->cmd);
            return 0;
        }
        if (o->kind != CLI_FLAG && i + 1 >= argc) {
            fprintf(stderr, "tern %s: %s needs a value\n", s->cmd, a);
            return 0;
        }
        if (!set_opt(s, o, o->kind == CLI_FLAG ? NULL : argv[++i])) return 0;
    }
    return 1;
}

int cli_usage(const cli_spec *s, FILE *f) {
    char left[160], names[128];
    int width = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass) fputs(s->usage, f);
        for (const cli_opt *o = s->opts; o->name; o++) {
            const char *arg = o->arg;
            if (o->kind == CLI_CHOICE && !arg) arg = choice_names(o->choices, 1, names, sizeof names);
            int n = snprintf(left, sizeof left, "%s%s%s", o->name, arg ? " " : "", arg ? arg : "");
            if (!pass) {
                width = n > width ? n : width;
                continue;
            }
            /* The help, one indented line per '\n'. */
            const char *h = o->help;
            int len = (int)strcspn(h, "\n");
            fprintf(f, "  %-*s  %.*s\n", width, left, len, h);
            for (h += len; *h; h += len) {
                len = (int)strcspn(++h, "\n");
                fprintf(f, "  %-*s  %.*s\n", width, "", len, h);
            }
        }
    }
    if (s->after) fputs(s->after, f);
    return f == stdout ? 0 : 2;
}

tern_status cli_kernel_from_env(tern_kernel *k) {
    const char *env = getenv("TERN_KERNEL");
    *k = TERN_KERNEL_AUTO;
    if (env && *env && tern_kernel_parse(env, k))
        return tern_error(TERN_ERR_ARG, "TERN_KERNEL='%s' is not scalar, avx2, avx512, neon or auto", env);
    if (tern_kernel_resolve(*k, k))
        return tern_error(TERN_ERR_UNSUPPORTED, "TERN_KERNEL=%s, but this CPU or build lacks that path", env);
    return TERN_OK;
}

tern_status cli_runtime_init(tern_runtime *rt, const tern_deploy *d, int max_batch, tern_runtime_act act) {
    return cli_runtime_init_pool(rt, d, max_batch, act, NULL);
}

tern_status cli_runtime_init_pool(tern_runtime *rt, const tern_deploy *d, int max_batch, tern_runtime_act act,
                                  tern_pool *pool) {
    tern_runtime_opts o = {.max_batch = max_batch, .act = act, .zskip = TERN_RUNTIME_ZSKIP_AUTO, .pool = pool};
    tern_status st = cli_kernel_from_env(&o.kernel);
    return st ? st : tern_runtime_init_opts(rt, d, &o);
}

tern_status cli_pool_init(tern_pool **pool, int threads) {
    *pool = NULL;
    return threads > 1 ? tern_pool_init(pool, threads) : TERN_OK;
}

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

volatile sig_atomic_t *cli_stop_on_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    /* The flag is polled between steps: a write to a slow terminal that the
     * signal interrupts restarts instead of losing the progress line's bytes. */
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* Closing the terminal or the ssh session: checkpoint, as on SIGTERM. */
    sigaction(SIGHUP, &sa, NULL);
    return &stop_signal;
}

/* datasets/data/NAME from here, else in the model file's folder or one of
 * the 3 above it (a run's folder inside the repository); found[] is the
 * first that is a directory. */
static tern_status find_dataset_dir(const char *model, const char *name, char *found, size_t size) {
    const char *slash = strrchr(model, '/');
    int mlen = slash ? (int)(slash - model) : 1;
    const char *mdir = slash ? model : ".";
    for (int up = -1; up <= 3; up++) {
        int n = up < 0 ? snprintf(found, size, "datasets/data/%s", name)
                       : snprintf(found, size, "%.*s/%.*sdatasets/data/%s", mlen, mdir, 3 * up, "../../../", name);
        struct stat sb;
        if (n > 0 && (size_t)n < size && stat(found, &sb) == 0 && S_ISDIR(sb.st_mode)) return TERN_OK;
    }
    return tern_error(TERN_ERR_IO, "%s: its dataset: no directory datasets/data/%s here nor in %.*s or the 3 "
                      "folders above it; give its directory with --data DIR", model, name, mlen, mdir);
}

tern_status cli_load_split(const tern_deploy *d, const char *model, const char *name, const char *dir,
                           const char *split, tern_dataset *ds) {
    char found[4096];
    tern_dataset_init(ds);
    if (!dir) {
        tern_status st = find_dataset_dir(model, name, found, sizeof found);
        if (st) return st;
        dir = found;
    }
    tern_norm norm = {.mode = TERN_NORM_GIVEN};
    memcpy(norm.mean, d->mean, sizeof norm.mean);
    memcpy(norm.std, d->std, sizeof norm.std);
    /* A folder of the model's image size; the deploy file keeps no resize
     * or label_column, so their defaults hold. */
    tern_data_opts opts = {.channels = d->in_shape[0], .size = {d->in_shape[1], d->in_shape[2]}};
    if (strcmp(name, "folder")) memset(&opts, 0, sizeof opts);
    tern_status st = tern_dataset_load_opts(ds, name, dir, split, &norm, &opts);
    /* The dataset is the one the file names: say so, and how to point elsewhere. */
    if (st) st = tern_error(st, "%s: its dataset: %s%s", model, tern_errmsg(), dir != found ? "" : "; give its directory with --data DIR");
    return st;
}

/* ---- benchmarks ------------------------------------------------------------- */

/* Calls of f that take about 2 ms by clock `now` (1..10000); 0 when f fails. */
static int calls_per_block(double (*now)(void), cli_bench_fn f, void *c) {
    double t0 = now();
    if (f(c)) return 0;
    int inner = (int)(2e-3 / (now() - t0 + 1e-9));
    return inner < 1 ? 1 : (inner > 10000 ? 10000 : inner);
}

/* Seconds per call of f over `inner` calls, right after at least 1 ms of
 * untimed calls: whatever ran before (the other case, another process) has
 * left the caches, the branch predictors and the clock speed to this case. */
static int time_block(double (*now)(void), cli_bench_fn f, void *c, int inner, double *t) {
    int ok = 1;
    const double w0 = now();
    do ok = !f(c); while (ok && now() - w0 < 1e-3);
    const double t0 = now();
    for (int k = 0; ok && k < inner; k++) ok = !f(c);
    *t = (now() - t0) / inner;
    return ok;
}

int cli_interleave(double (*now)(void), cli_bench_fn a, void *ca, cli_bench_fn b, void *cb, int repeats, cli_time *ta,
                   cli_time *tb) {
    double *va = malloc(sizeof(double) * (size_t)repeats), *vb = malloc(sizeof(double) * (size_t)repeats);
    int ok = va && vb;
    for (int w = 0; ok && w < 3; w++) ok = !a(ca) && !b(cb); /* touch every page and buffer once */
    const int na = ok ? calls_per_block(now, a, ca) : 0, nb = ok ? calls_per_block(now, b, cb) : 0;
    ok = ok && na && nb;
    tern_rng r; /* which case goes first in each repeat: a fair coin, the same every run */
    tern_rng_seed(&r, 0x7465726eULL);
    for (int i = 0; ok && i < repeats; i++) {
        if (tern_rng_below(&r, 2)) ok = time_block(now, a, ca, na, &va[i]) && time_block(now, b, cb, nb, &vb[i]);
        else ok = time_block(now, b, cb, nb, &vb[i]) && time_block(now, a, ca, na, &va[i]);
    }
    if (ok) {
        ta->median = tern_clock_median(va, repeats); /* sorts: v[0] is the fastest repeat */
        tb->median = tern_clock_median(vb, repeats);
        ta->min = va[0];
        tb->min = vb[0];
    }
    free(va);
    free(vb);
    return ok;
}

/* ---- per-layer reports (inspect, profile) ------------------------------------ */

void cli_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

const char *cli_precision(const tern_dlayer *L, const tern_layer_count *c) {
    if (c->ternary) return c->int8 ? "ternary/i8" : "ternary/f32";
    return L->type == TERN_DLAYER_LINEAR || L->type == TERN_DLAYER_CONV2D ? "fp32" : "-";
}

void cli_json_model_head(FILE *f, const char *path, const tern_deploy *d, int is_train) {
    char a[64];
    fprintf(f, "{\"file\":");
    cli_json_str(f, path);
    fprintf(f, ",\"kind\":\"%s\",\"dataset\":", is_train ? "training" : "deploy");
    cli_json_str(f, d->dataset);
    fprintf(f, ",\"input_shape\":\"%s\",\"n_classes\":%d,\"n_layers\":%d", tern_dims_str(3, d->in_shape, a, sizeof a),
            d->n_classes, d->n_layers);
}

void cli_json_layer_head(FILE *f, const tern_deploy *d, int i, const tern_layer_count *c) {
    const tern_dlayer *L = &d->layers[i];
    char a[64], b[64];
    fprintf(f, "\"index\":%d,\"name\":", i);
    cli_json_str(f, L->name);
    fprintf(f, ",\"type\":");
    cli_json_str(f, tern_dlayer_type_name(L->type));
    fprintf(f, ",\"precision\":");
    cli_json_str(f, cli_precision(L, c));
    fprintf(f, ",\"in_shape\":\"%s\",\"out_shape\":\"%s\",", tern_dims_str(c->in_ndim, c->in_shape, a, sizeof a),
            tern_dims_str(L->out_ndim, L->out_shape, b, sizeof b));
    if (c->ternary)
        fprintf(f, "\"wp\":{\"mean\":%.6g,\"min\":%.6g,\"max\":%.6g},\"wn\":{\"mean\":%.6g,\"min\":%.6g,\"max\":%.6g},",
                c->wp_mean, c->wp_min, c->wp_max, c->wn_mean, c->wn_min, c->wn_max);
}

tern_layer_count *cli_count_all(const tern_deploy *d, tern_layer_count *total) {
    tern_layer_count *c = malloc(sizeof *c * (size_t)d->n_layers);
    if (!c) tern_error(TERN_ERR_NOMEM, "out of memory");
    if (c && tern_monitor_count(d, c, total)) {
        free(c);
        c = NULL;
    }
    return c;
}

/* ---- gnuplot (plot, hybrid) --------------------------------------------------- */

void cli_gp_str(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) fputs(*s == '\'' ? "''" : (char[]){*s, 0}, f);
    fputc('\'', f);
}

int cli_on_path(const char *name) {
    const char *p = getenv("PATH");
    char buf[4096];
    for (; p && *p; p += strcspn(p, ":") + (p[strcspn(p, ":")] == ':')) {
        snprintf(buf, sizeof buf, "%.*s/%s", (int)strcspn(p, ":"), p, name);
        if (access(buf, X_OK) == 0) return 1;
    }
    return 0;
}

tern_status cli_run_gnuplot(const char *text, size_t n) {
    char err[] = "/tmp/tern_plot.XXXXXX", cmd[64];
    int fd = mkstemp(err);
    if (fd < 0) return tern_error(TERN_ERR_IO, "cannot create a temporary file: %s", strerror(errno));
    close(fd);
    snprintf(cmd, sizeof cmd, "gnuplot 2>%s", err);
    FILE *p = popen(cmd, "w");
    tern_status st = TERN_OK;
    if (!p) {
        st = tern_error(TERN_ERR_IO, "cannot run gnuplot: %s", strerror(errno));
    } else {
        fwrite(text, 1, n, p);
        const int rc = pclose(p);
        if (rc != 0) {
            char line[512] = "";
            FILE *e = fopen(err, "r");
            /* The first line that says something (gnuplot echoes the command first). */
            while (e && fgets(line, sizeof line, e) && !strstr(line, "rror") && !strstr(line, "not found")) {}
            if (e) fclose(e);
            line[strcspn(line, "\n")] = '\0';
            st = tern_error(TERN_ERR_IO, "gnuplot failed (exit status %d): %s", WIFEXITED(rc) ? WEXITSTATUS(rc) : rc,
                            line[0] ? line : "no message");
        }
    }
    remove(err);
    return st;
}
