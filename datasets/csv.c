/* csv.c — tabular data: DIR/{train,test}.csv, a header row, numeric feature
 * columns and one label column (tern/data.h says what is accepted). Both
 * files are parsed for either split: the classes are those of both. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_impl.h"

#define PATH_LEN 4096

/* One parsed file: features (n, f) and each row's label text. */
typedef struct csv_table {
    char path[PATH_LEN];
    unsigned char *text;  /* the file, cut into NUL-terminated fields in place */
    int n, f;
    float *x;             /* (n, f) */
    char **label;         /* (n) pointers into text */
} csv_table;

static void csv_free(csv_table *t) {
    free(t->text), free(t->x), free(t->label);
    memset(t, 0, sizeof *t);
}

/* Cut line s (NUL-terminated) at commas into cells[0..max); the count, or
 * max + 1 when there are more. Cells are trimmed of spaces. */
static int split_cells(char *s, char **cells, int max) {
    int n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t') s++;
        char *end = s + strcspn(s, ",");
        int last = *end == '\0';
        *end = '\0';
        for (char *e = end; e > s && (e[-1] == ' ' || e[-1] == '\t');) *--e = '\0';
        if (n < max) cells[n] = s;
        n++;
        if (last) return n <= max ? n : max + 1;
        s = end + 1;
    }
}

/* The next line of *s (cut at '\n', '\r' dropped); NULL at the end. */
static char *next_line(char **s) {
    if (!**s) return NULL;
    char *line = *s, *nl = strchr(line, '\n');
    *s = nl ? nl + 1 : line + strlen(line);
    if (nl) *nl = '\0';
    size_t len = strlen(line);
    if (len && line[len - 1] == '\r') line[len - 1] = '\0';
    return line;
}

static tern_status csv_parse(const char *dir, const char *split, const char *label_col, csv_table *t) {
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s/%s.csv", dir, split);
    unsigned char *raw;
    size_t len;
    tern_status st = tern__data_read_file(t->path, &raw, &len);
    if (st) return st;
    if (memchr(raw, '\0', len)) {
        free(raw);
        return tern_error(TERN_ERR_FORMAT, "%s: holds a NUL byte; not a text file", t->path);
    }
    t->text = realloc(raw, len + 1);
    if (!t->text) {
        free(raw);
        return tern_error(TERN_ERR_NOMEM, "%s: out of memory", t->path);
    }
    t->text[len] = '\0';
    int lines = 1;
    for (size_t i = 0; i < len; i++) lines += t->text[i] == '\n';
    char *s = (char *)t->text, *line;
    int lineno = 0, ncol = 0, lab = -1;
    char **head = NULL, **cells = NULL;  /* (ncol) the header's cells, then (ncol) a row's */
    while ((line = next_line(&s)) && (lineno++, line[strspn(line, " \t")] == '\0')) {}
    if (!line) st = tern_error(TERN_ERR_FORMAT, "%s: empty file; expected a header row", t->path);
    if (!st) {
        ncol = 1;
        for (const char *c = line; *c; c++) ncol += *c == ',';
        if (!(head = malloc(sizeof *head * 2 * (size_t)ncol))) st = tern_error(TERN_ERR_NOMEM, "%s: out of memory", t->path);
    }
    if (!st) {
        cells = head + ncol;
        split_cells(line, head, ncol);
        for (int j = 0; j < ncol; j++)
            if (!strcmp(head[j], label_col)) lab = j;
        if (lab < 0) st = tern_error(TERN_ERR_FORMAT, "%s:%d: no column '%s' (set dataset.label_column)", t->path,
                                     lineno, label_col);
        else if (ncol < 2) st = tern_error(TERN_ERR_FORMAT, "%s:%d: no feature column besides '%s'", t->path, lineno,
                                           label_col);
    }
    t->f = ncol - 1;
    if (!st) {
        t->x = malloc(sizeof(float) * (size_t)t->f * (size_t)lines);
        t->label = malloc(sizeof(char *) * (size_t)lines);
        if (!t->x || !t->label) st = tern_error(TERN_ERR_NOMEM, "%s: out of memory for %d rows", t->path, lines);
    }
    while (!st && (line = next_line(&s))) {
        lineno++;
        if (line[strspn(line, " \t")] == '\0') continue;
        int got = split_cells(line, cells, ncol);
        if (got != ncol) {
            st = tern_error(TERN_ERR_FORMAT, "%s:%d: %s%d columns, the header has %d", t->path, lineno,
                            got > ncol ? "more than " : "", got > ncol ? ncol : got, ncol);
            break;
        }
        float *row = t->x + (size_t)t->n * t->f;
        for (int j = 0, k = 0; !st && j < ncol; j++) {
            if (j == lab) continue;
            char *end;
            double v = strtod(cells[j], &end);
            if (end == cells[j] || *end || !isfinite(v) || fabs(v) > 3.4e38)
                st = tern_error(TERN_ERR_FORMAT, "%s:%d: column '%s': '%s' is not a number", t->path, lineno, head[j],
                                cells[j]);
            row[k++] = (float)v;
        }
        if (!st && !*cells[lab]) st = tern_error(TERN_ERR_FORMAT, "%s:%d: empty label", t->path, lineno);
        if (!st) t->label[t->n++] = cells[lab];
    }
    if (!st && t->n == 0) st = tern_error(TERN_ERR_FORMAT, "%s: a header but no rows", t->path);
    free(head);
    if (st) csv_free(t);
    return st;
}

static int all_digits(const char *s) { return *s && s[strspn(s, "0123456789")] == '\0'; }

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The class names of both tables: digits-only labels 0..K-1, else the
 * distinct names in byte order. */
static tern_status csv_classes(const csv_table *t, int nt, char **names, int *k, int *numeric) {
    *numeric = 1;
    for (int i = 0; i < nt; i++)
        for (int r = 0; r < t[i].n; r++) *numeric &= all_digits(t[i].label[r]);
    *k = 0;
    for (int i = 0; i < nt; i++)
        for (int r = 0; r < t[i].n; r++) {
            const char *l = t[i].label[r];
            if (*numeric) {
                long v = strlen(l) > 4 ? TERN_DATA_MAX_CLASSES : strtol(l, NULL, 10);
                if (v >= TERN_DATA_MAX_CLASSES)
                    return tern_error(TERN_ERR_FORMAT, "%s: label %s is outside 0..%d", t[i].path, l,
                                      TERN_DATA_MAX_CLASSES - 1);
                if (v + 1 > *k) *k = (int)v + 1;
                continue;
            }
            int seen = 0;
            for (int j = 0; j < *k && !seen; j++) seen = !strcmp(names[j], l);
            if (seen) continue;
            if (*k == TERN_DATA_MAX_CLASSES)
                return tern_error(TERN_ERR_FORMAT, "%s: more than %d distinct labels", t[i].path, TERN_DATA_MAX_CLASSES);
            if (strlen(l) >= TERN_DATA_NAME_LEN)
                return tern_error(TERN_ERR_FORMAT, "%s: label '%s' is longer than %d characters", t[i].path, l,
                                  TERN_DATA_NAME_LEN - 1);
            names[(*k)++] = (char *)l;
        }
    if (!*numeric && *k > 1) qsort(names, (size_t)*k, sizeof *names, cmp_str);
    return TERN_OK;
}

tern_status tern_csv_load(tern_dataset *ds, const char *dir, const char *split, const tern_data_opts *opts) {
    if (!ds || !dir || !split) return tern_error(TERN_ERR_ARG, "csv: NULL argument");
    if (!tern__dataset_empty(ds))
        return tern_error(TERN_ERR_ARG, "csv: dataset already holds data; tern_dataset_free() it first");
    const char *col = opts && opts->label_column[0] ? opts->label_column : "label";
    csv_table t[2];  /* this split, the other */
    memset(t, 0, sizeof t);
    char *names[TERN_DATA_MAX_CLASSES];
    int k = 0, numeric = 1;
    tern_status st = csv_parse(dir, split, col, &t[0]);
    if (!st) st = csv_parse(dir, strcmp(split, "train") ? "train" : "test", col, &t[1]);
    if (!st && t[1].f != t[0].f)
        st = tern_error(TERN_ERR_FORMAT, "%s: %d feature columns, but %s has %d", t[0].path, t[0].f, t[1].path, t[1].f);
    if (!st) st = csv_classes(t, 2, names, &k, &numeric);
    if (!st) st = tern__dataset_alloc(ds, t[0].path, t[0].n, 1, 1, t[0].f);
    if (!st) {
        memcpy(ds->images, t[0].x, sizeof(float) * (size_t)t[0].n * t[0].f);  /* (n, 1, 1, f) */
        for (int r = 0; r < t[0].n; r++) {
            const char *l = t[0].label[r];
            if (numeric) {
                ds->labels[r] = (int)strtol(l, NULL, 10);
                continue;
            }
            char **hit = bsearch(&l, names, (size_t)k, sizeof *names, cmp_str);
            ds->labels[r] = (int)(hit - names);
        }
        char digits[TERN_DATA_MAX_CLASSES][8];
        for (int j = 0; numeric && j < k; j++) snprintf(digits[j], sizeof digits[j], "%d", j), names[j] = digits[j];
        tern__dataset_set_classes(ds, (const char *const *)names, k);
        snprintf(ds->name, sizeof ds->name, "csv");
    }
    csv_free(&t[0]), csv_free(&t[1]);
    if (st) tern_dataset_free(ds);
    return st;
}
