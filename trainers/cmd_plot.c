/* cmd_plot.c — `tern plot RUN_DIR`: the curves of a run from its
 * metrics.csv as PNGs drawn by gnuplot, and one HTML page that shows them
 * with the run's config and final numbers, all in the run directory. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "io/fsutil.h" /* the PNGs and the page are written as every tern result is: whole or not at all */

#define NAME_LEN 64

/* metrics.csv: a header of column names and one row of numbers per epoch. */
typedef struct metrics {
    int ncol, nrow;
    char (*names)[NAME_LEN]; /* (ncol) */
    double *v;               /* (nrow, ncol) */
} metrics;

static void metrics_free(metrics *m) {
    free(m->names);
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* The column called name, or -1. */
static int col(const metrics *m, const char *name) {
    for (int j = 0; j < m->ncol; j++)
        if (!strcmp(m->names[j], name)) return j;
    return -1;
}

/* Split the header line into m->names. */
static tern_status read_header(const char *path, char *line, metrics *m) {
    line[strcspn(line, "\r\n")] = '\0';
    if (!*line) return tern_error(TERN_ERR_FORMAT, "%s:1: empty header line", path);
    m->ncol = 1;
    for (const char *c = line; *c; c++) m->ncol += *c == ',';
    if (!(m->names = calloc((size_t)m->ncol, sizeof *m->names))) return tern_error(TERN_ERR_NOMEM, "out of memory");
    char *save = NULL;
    int j = 0;
    for (char *t = strtok_r(line, ",", &save); t && j < m->ncol; t = strtok_r(NULL, ",", &save)) {
        if (strlen(t) >= NAME_LEN)
            return tern_error(TERN_ERR_FORMAT, "%s:1: column %d's name is longer than %d bytes", path, j + 1,
                              NAME_LEN - 1);
        snprintf(m->names[j++], NAME_LEN, "%s", t);
    }
    if (j != m->ncol || col(m, "epoch") != 0)
        return tern_error(TERN_ERR_FORMAT, "%s:1: not a tern metrics header (it starts with \"epoch,\" and has no "
                          "empty column name)", path);
    return TERN_OK;
}

/* One row of numbers (line `ln` of the file) into v[0..ncol). */
static tern_status read_row(const char *path, int ln, char *line, const metrics *m, double *v) {
    line[strcspn(line, "\r\n")] = '\0';
    char *c = line;
    for (int j = 0; j < m->ncol; j++) {
        char *end;
        errno = 0;
        v[j] = *c == ',' || !*c ? NAN : strtod(c, &end);  /* an empty cell: not measured */
        if (*c && *c != ',') {
            if (end == c || (*end && *end != ','))
                return tern_error(TERN_ERR_FORMAT, "%s:%d: column %s: '%.*s' is not a number", path, ln, m->names[j],
                                  (int)strcspn(c, ","), c);
            c = end;
        }
        if (j + 1 < m->ncol && *c++ != ',')
            return tern_error(TERN_ERR_FORMAT, "%s:%d: %d cells, the header has %d", path, ln, j + 1, m->ncol);
    }
    if (*c) return tern_error(TERN_ERR_FORMAT, "%s:%d: more cells than the header's %d", path, ln, m->ncol);
    return TERN_OK;
}

static tern_status metrics_read(const char *path, metrics *m) {
    memset(m, 0, sizeof *m);
    FILE *f;
    tern_status st = tern_fs_fopen_regular(path, "r", &f, NULL);
    if (st) return st;
    char *line = NULL;
    size_t cap = 0;
    int ln = 0, rows_cap = 0;
    while (!st && getline(&line, &cap, f) > 0) {
        ln++;
        if (ln == 1) {
            st = read_header(path, line, m);
            continue;
        }
        if (line[strspn(line, " \t\r\n")] == '\0') continue;
        if (m->nrow == rows_cap) {
            rows_cap = rows_cap ? 2 * rows_cap : 64;
            double *v = realloc(m->v, sizeof *v * (size_t)rows_cap * (size_t)m->ncol);
            if (!v) st = tern_error(TERN_ERR_NOMEM, "%s: out of memory", path);
            else m->v = v;
        }
        if (!st) st = read_row(path, ln, line, m, m->v + (size_t)m->nrow * (size_t)m->ncol);
        if (!st) m->nrow++;
    }
    if (!st && ferror(f)) st = tern_error(TERN_ERR_IO, "%s: read error: %s", path, strerror(errno));
    free(line);
    fclose(f);
    if (!st && ln == 0) st = tern_error(TERN_ERR_FORMAT, "%s: empty file (no header)", path);
    if (!st && m->nrow == 0)
        st = tern_error(TERN_ERR_FORMAT, "%s: no epoch rows yet (the run has not finished an epoch)", path);
    if (st) metrics_free(m);
    return st;
}

/* ---- the charts ------------------------------------------------------------- */

/* One PNG: the columns named (or starting with `prefix`), each a curve. */
typedef struct chart {
    const char *file, *title, *ylabel;
    double scale;                    /* 100: a fraction shown in % */
    const char *cols[4], *labels[4]; /* named columns and their legends */
    const char *prefix;              /* or every column "<prefix><layer>", legend <layer> */
} chart;

static const chart charts[] = {
    {"loss.png", "Loss (mean softmax cross-entropy)", "loss", 1.0,
     {"train_loss", "val_loss", "test_loss"}, {"train", "validation", "test"}, NULL},
    {"accuracy.png", "Accuracy", "accuracy (%)", 100.0,
     {"train_acc", "val_acc", "test_acc"}, {"train", "validation", "test"}, NULL},
    {"lr.png", "Learning rate at the end of each epoch", "learning rate", 1.0, {"lr"}, {"lr"}, NULL},
    {"sparsity.png", "Sparsity of the ternary weights (zeros), per layer and overall", "sparsity (%)", 100.0,
     {"sparsity"}, {"all ternary layers"}, "sparsity_"},
    {"alpha.png", "Scale alpha of the ternary weights, per layer", "alpha", 1.0, {NULL}, {NULL}, "alpha_"},
};
#define N_CHARTS (int)(sizeof charts / sizeof charts[0])

/* Chart c's plot command on f, drawing into out; 0 curves: nothing written. */
static int chart_script(FILE *f, const chart *c, const metrics *m, const char *out) {
    int curves = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass) {
            fputs("set output ", f);
            cli_gp_str(f, out);
            fputs("\nset title ", f);
            cli_gp_str(f, c->title);
            fputs("\nset ylabel ", f);
            cli_gp_str(f, c->ylabel);
            fputs("\nplot ", f);
        }
        /* A named column keeps its colour whichever others exist (test is
         * the same colour with or without a validation split). */
        int k = 0, named = 0, next = 0;
        while (named < 4 && c->cols[named]) named++;
        for (int j = 0; j < m->ncol; j++) {
            const char *label = NULL;
            int colour = 0;
            for (int i = 0; i < named; i++)
                if (!strcmp(m->names[j], c->cols[i])) label = c->labels[i], colour = i + 1;
            if (!label && c->prefix && !strncmp(m->names[j], c->prefix, strlen(c->prefix)) &&
                m->names[j][strlen(c->prefix)])
                label = m->names[j] + strlen(c->prefix), colour = named + ++next;
            if (!label) continue;
            if (pass) {
                fprintf(f, "%s$M using 1:($%d*%g) with linespoints lc %d lw 2 pt 7 ps 0.7 title ",
                        k ? ", \\\n     " : "", j + 1, c->scale, colour);
                cli_gp_str(f, label);
            }
            k++;
        }
        if (!pass && !(curves = k)) return 0;
    }
    fputc('\n', f);
    return curves;
}

/* The gnuplot program for every chart with a curve into f; tmp[i] (or "")
 * the temporary PNG of chart i. */
static void write_script(FILE *f, const metrics *m, const char *dir, char tmp[][4200]) {
    fputs("set terminal pngcairo size 900,520 noenhanced font ',11'\nset grid\nset key outside right top\n"
          "set xlabel 'epoch'\n", f);
    const double e0 = m->v[0], e1 = m->v[(size_t)(m->nrow - 1) * (size_t)m->ncol];
    fprintf(f, "set xrange [%g:%g]\n", e0 - 0.5, e1 + 0.5);
    if (e1 - e0 < 20) fputs("set xtics 1\n", f);
    fputs("$M << EOD\n", f);
    for (int r = 0; r < m->nrow; r++)
        for (int j = 0; j < m->ncol; j++) {
            const double x = m->v[(size_t)r * (size_t)m->ncol + (size_t)j];
            if (x == x) fprintf(f, "%.9g%c", x, j + 1 < m->ncol ? ' ' : '\n');
            else fprintf(f, "NaN%c", j + 1 < m->ncol ? ' ' : '\n');
        }
    fputs("EOD\n", f);
    for (int i = 0; i < N_CHARTS; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, charts[i].file);
        tern_fs_tmp_name(tmp[i], sizeof tmp[i], path);
        fputs(!strcmp(charts[i].file, "lr.png") ? "set format y '%.1e'\n" : "set format y '%g'\n", f);
        if (!chart_script(f, &charts[i], m, tmp[i])) tmp[i][0] = '\0';
    }
}

/* s with &, <, >, " and ' as entities. */
static void html_text(FILE *f, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(s[i], f);
        }
    }
}

/* The best epoch by column name (highest), as a table row. */
static void html_best(FILE *f, const metrics *m, const char *name, const char *what) {
    const int j = col(m, name);
    int best = -1;
    for (int r = 0; j >= 0 && r < m->nrow; r++) {
        const double x = m->v[(size_t)r * (size_t)m->ncol + (size_t)j];
        if (x == x && (best < 0 || x > m->v[(size_t)best * (size_t)m->ncol + (size_t)j])) best = r;
    }
    if (best >= 0)
        fprintf(f, "<tr><th>best %s</th><td>%.2f%% at epoch %g</td></tr>\n", what,
                100.0 * m->v[(size_t)best * (size_t)m->ncol + (size_t)j], m->v[(size_t)best * (size_t)m->ncol]);
}

/* The page: the run's final numbers, the charts drawn, its config. */
static void write_html(FILE *f, const char *dir, const metrics *m, const char tmp[][4200], const char *config,
                       size_t config_n) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tern run ", f);
    html_text(f, dir, strlen(dir));
    fputs("</title>\n<style>body{font-family:sans-serif;max-width:960px;margin:1em auto;padding:0 1em}"
          "table{border-collapse:collapse}th,td{padding:2px 12px;border-bottom:1px solid #ddd;text-align:left}"
          "td{font-family:monospace}img{max-width:100%;display:block;margin:1em 0}"
          "pre{background:#f6f6f6;padding:1em;overflow-x:auto}</style></head><body>\n<h1>tern run ", f);
    html_text(f, dir, strlen(dir));
    const double *last = m->v + (size_t)(m->nrow - 1) * (size_t)m->ncol;
    fprintf(f, "</h1>\n<p>%d epochs in metrics.csv (epoch %g to %g). The numbers of the last:</p>\n<table>\n", m->nrow,
            m->v[0], last[0]);
    for (int j = 1; j < m->ncol; j++) {
        fputs("<tr><th>", f);
        html_text(f, m->names[j], strlen(m->names[j]));
        fprintf(f, "</th><td>%.6g</td></tr>\n", last[j]);
    }
    html_best(f, m, "val_acc", "validation accuracy");
    html_best(f, m, "test_acc", "test accuracy");
    fputs("</table>\n<h2>Curves</h2>\n", f);
    for (int i = 0; i < N_CHARTS; i++) {
        if (!tmp[i][0]) continue;
        fprintf(f, "<img src=\"%s\" alt=\"%s\" width=\"900\" height=\"520\">\n", charts[i].file, charts[i].title);
    }
    fputs("<h2>config.yaml</h2>\n<pre>", f);
    if (config) html_text(f, config, config_n);
    else fputs("(the run directory has no config.yaml)", f);
    fputs("</pre>\n</body></html>\n", f);
}

/* The text of path (up to 1 MiB) in *text, *n bytes; NULL when it is absent or unreadable. */
static void read_text(const char *path, char **text, size_t *n) {
    FILE *f;
    long long size = 0;
    *text = NULL, *n = 0;
    if (tern_fs_fopen_regular(path, "r", &f, &size)) return;
    if (size >= 0 && size <= (1 << 20) && (*text = malloc((size_t)size + 1))) *n = fread(*text, 1, (size_t)size, f);
    fclose(f);
}

/* Draw the charts into dir, each whole or not at all, and the page. */
static tern_status plot_run(const char *dir, const metrics *m) {
    char tmp[N_CHARTS][4200], path[4200];
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    if (!f) return tern_error(TERN_ERR_NOMEM, "out of memory");
    write_script(f, m, dir, tmp);
    fclose(f);
    tern_status st = cli_run_gnuplot(text, n);
    free(text);
    for (int i = 0; i < N_CHARTS; i++) {
        if (!tmp[i][0]) continue;
        snprintf(path, sizeof path, "%s/%s", dir, charts[i].file);
        if (st) remove(tmp[i]);
        else if (rename(tmp[i], path)) st = tern_error(TERN_ERR_IO, "%s: cannot rename into place: %s", path,
                                                        strerror(errno));
    }
    if (st) return st;
    char *config;
    size_t cn;
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    read_text(path, &config, &cn);
    f = open_memstream(&text, &n);
    if (!f) {
        free(config);
        return tern_error(TERN_ERR_NOMEM, "out of memory");
    }
    write_html(f, dir, m, tmp, config, cn);
    fclose(f);
    free(config);
    snprintf(path, sizeof path, "%s/report.html", dir);
    st = tern_fs_check_replaceable(path);
    if (!st) st = tern_fs_write_atomic(path, text, n);
    free(text);
    if (!st) {
        printf("%s:", dir);
        for (int i = 0; i < N_CHARTS; i++)
            if (tmp[i][0]) printf(" %s", charts[i].file);
        printf(" report.html\n");
    }
    return st;
}

int cmd_plot(int argc, char **argv) {
    const char *dir;
    const cli_opt options[] = {CLI_END_OPT};
    const cli_spec spec = {
        .cmd = "plot",
        .usage = "usage: tern plot RUN_DIR\n"
                 "\n"
                 "Draw a run's curves over its epochs from RUN_DIR/metrics.csv with gnuplot\n"
                 "(Debian: gnuplot-nox), into RUN_DIR: loss.png and accuracy.png (train,\n"
                 "validation, test: the columns the run has), lr.png, sparsity.png (per ternary\n"
                 "layer and overall) and alpha.png (when metrics.csv has alpha_<layer>\n"
                 "columns); and report.html, one page showing them with the final numbers and\n"
                 "the run's config.yaml. Each file is replaced whole or not at all.\n",
        .opts = options, .args = &dir, .max_args = 1,
    };
    int rc;
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    if (!dir) return cli_usage(&spec, stderr);
    char path[4200];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    metrics m;
    if (metrics_read(path, &m)) return cli_fail("plot");
    if (!cli_on_path("gnuplot")) {
        metrics_free(&m);
        fprintf(stderr, "tern plot: gnuplot not found on PATH; install gnuplot-nox "
                "(apt-get install gnuplot-nox, or bash trainers/setup.sh --package gnuplot-nox)\n");
        return 1;
    }
    tern_status st = plot_run(dir, &m);
    metrics_free(&m);
    return st ? cli_fail("plot") : 0;
}
