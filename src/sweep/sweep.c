/* sweep.c — accuracy against sparsity sweeps (tern/sweep.h): the spec,
 * its points, results.csv and summary.csv, latency on the runtime, and
 * the resumable loop around tern_train.
 *
 * The spec goes through the config module's machinery (io/config_doc.h):
 * libyaml tree with positions, checked against the libcyaml schema below,
 * loaded by libcyaml, then checked for meaning with errors pointing at the
 * offending key or value. */
#include "tern/sweep.h"

#include <cblas.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cyaml/cyaml.h>

#include "io/config_doc.h"
#include "core/unique.h"
#include "io/fsutil.h"
#include "sweep/csv.h"
#include "tern/deploy.h"
#include "tern/export.h"
#include "tern/clock.h"
#include "tern/runtime.h"
#include "tern/train.h"

/* ---- the spec ----------------------------------------------------------- */

typedef struct raw_method {
    char *quantizer;
    float *t;
    unsigned t_count;
} raw_method;

typedef struct raw_latency {
    int *batch, *repeats;
} raw_latency;

typedef struct raw_spec {
    char *base, *out;
    char **set;
    unsigned set_count;
    raw_method *methods;
    unsigned methods_count;
    uint64_t *seeds;
    unsigned seeds_count;
    bool *baseline;
    raw_latency *latency;
} raw_spec;

#define OPT (CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL)
#define REQ CYAML_FLAG_POINTER

static const cyaml_schema_value_t float_entry = {CYAML_VALUE_FLOAT(CYAML_FLAG_DEFAULT, float)};
static const cyaml_schema_value_t seed_entry = {CYAML_VALUE_UINT(CYAML_FLAG_DEFAULT, uint64_t)};
static const cyaml_schema_value_t set_entry = {CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 1, 255)};

static const cyaml_schema_field_t method_fields[] = {
    CYAML_FIELD_STRING_PTR("quantizer", REQ, raw_method, quantizer, 1, TERN_SWEEP_NAME_LEN - 1),
    CYAML_FIELD_SEQUENCE("t", REQ, raw_method, t, &float_entry, 1, CYAML_UNLIMITED),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t method_entry = {CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, raw_method, method_fields)};

static const cyaml_schema_field_t latency_fields[] = {
    CYAML_FIELD_INT_PTR("batch", OPT, raw_latency, batch),
    CYAML_FIELD_INT_PTR("repeats", OPT, raw_latency, repeats),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t spec_fields[] = {
    CYAML_FIELD_STRING_PTR("base", REQ, raw_spec, base, 1, TERN_CONFIG_PATH_LEN - 1),
    CYAML_FIELD_SEQUENCE("set", OPT, raw_spec, set, &set_entry, 0, TERN_SWEEP_MAX_SETS),
    CYAML_FIELD_SEQUENCE("methods", REQ, raw_spec, methods, &method_entry, 1, CYAML_UNLIMITED),
    CYAML_FIELD_SEQUENCE("seeds", REQ, raw_spec, seeds, &seed_entry, 1, CYAML_UNLIMITED),
    CYAML_FIELD_BOOL_PTR("baseline", OPT, raw_spec, baseline),
    CYAML_FIELD_STRING_PTR("out", REQ, raw_spec, out, 1, TERN_CONFIG_PATH_LEN - 1),
    CYAML_FIELD_MAPPING_PTR("latency", OPT, raw_spec, latency, latency_fields),
    CYAML_FIELD_END,
};
static const cyaml_schema_value_t spec_schema = {CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, raw_spec, spec_fields)};

/* rel joined to the directory of `source` unless absolute. */
static tern_status join_spec_dir(const char *source, const char *rel, char *out, size_t size) {
    const char *slash = strrchr(source, '/');
    int n = rel[0] == '/' || !slash ? snprintf(out, size, "%s", rel)
                                    : snprintf(out, size, "%.*s/%s", (int)(slash - source), source, rel);
    if (n < 0 || (size_t)n >= size) return tern_error(TERN_ERR_ARG, "%s: path '%s' is too long", source, rel);
    return TERN_OK;
}

void tern_sweep_spec_free(tern_sweep_spec *s) {
    if (!s) return;
    for (int i = 0; i < s->n_sets; i++) free(s->sets[i]);
    free(s->sets);
    for (int i = 0; i < s->n_methods; i++) free(s->methods[i].t);
    free(s->methods);
    free(s->seeds);
    memset(s, 0, sizeof *s);
}

/* The base config with the spec's overrides applied. */
static tern_status load_base(const tern_sweep_spec *s, tern_config *cfg) {
    tern_status st = tern_config_load(cfg, s->base);
    if (!st) st = tern_config_set_all(cfg, s->n_sets, (const char *const *)s->sets);
    if (st) {
        st = tern_error(st, "%s: base: %s", s->source, tern_errmsg());
        tern_config_free(cfg);
    }
    return st;
}

static int cmp_seed(const void *a, const void *b) {
    uint64_t x = **(const uint64_t *const *)a, y = **(const uint64_t *const *)b;
    return (x > y) - (x < y);
}

static int cmp_text(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* A method's thresholds: finite, >= 0 (-0 is 0), and distinct as the "%g"
 * text that names their points; duplicates found by sorting, not pairwise. */
static tern_status check_thresholds(const cdoc_ctx *x, const cnode *root, unsigned m, raw_method *rm) {
    char path[64];
    typedef char t_text[TERN_SWEEP_NAME_LEN];
    t_text *text = malloc(sizeof *text * (rm->t_count ? rm->t_count : 1));
    if (!text) return tern_error(TERN_ERR_NOMEM, "%s: out of memory for %u thresholds", x->file, rm->t_count);
    for (unsigned i = 0; i < rm->t_count; i++) {
        snprintf(path, sizeof path, "methods.%u.t.%u", m, i);
        if (!(rm->t[i] >= 0.0f) || !isfinite(rm->t[i])) {
            free(text);
            return tern_cdoc_fail(x, root, path, 0, TERN_ERR_CONFIG, "threshold %g must be a finite number >= 0",
                             (double)rm->t[i]);
        }
        rm->t[i] += 0.0f; /* -0 is the point t0, not a second one named t-0 */
        snprintf(text[i], sizeof text[i], "%g", (double)rm->t[i]);
    }
    int first = -1, dup = tern_first_duplicate(text, (int)rm->t_count, sizeof *text, cmp_text, &first);
    tern_status st = TERN_OK;
    if (dup == -2) st = tern_error(TERN_ERR_NOMEM, "%s: out of memory for %u thresholds", x->file, rm->t_count);
    else if (dup >= 0) {
        snprintf(path, sizeof path, "methods.%u.t.%d", m, dup);
        st = tern_cdoc_fail(x, root, path, 0, TERN_ERR_CONFIG, "threshold %s is given twice (as item %d)", text[dup], first);
    }
    free(text);
    return st;
}

/* Meaning checks of a loaded spec, positioned at the offending node. */
static tern_status spec_resolve(const cdoc_ctx *x, const cnode *root, raw_spec *raw, tern_sweep_spec *s) {
    char path[64];
    if (raw->seeds_count < TERN_SWEEP_MIN_SEEDS)
        return tern_cdoc_fail(x, root, "seeds", 0, TERN_ERR_CONFIG,
                         "%u seed%s given; at least %d are needed for a mean and spread over seeds", raw->seeds_count,
                         raw->seeds_count == 1 ? "" : "s", TERN_SWEEP_MIN_SEEDS);
    /* The number of points first, in 64 bits: huge lists stop here. */
    uint64_t per_seed = raw->baseline && *raw->baseline;
    for (unsigned m = 0; m < raw->methods_count; m++) per_seed += raw->methods[m].t_count;
    if (per_seed * raw->seeds_count > TERN_SWEEP_MAX_POINTS)
        return tern_cdoc_fail(x, root, "", 0, TERN_ERR_CONFIG, "%" PRIu64 " points (%u seeds of %" PRIu64 "); a sweep has at most %d",
                         per_seed * raw->seeds_count, raw->seeds_count, per_seed, TERN_SWEEP_MAX_POINTS);
    int first = -1, dup = tern_first_duplicate(raw->seeds, (int)raw->seeds_count, sizeof *raw->seeds, cmp_seed, &first);
    if (dup == -2) return tern_error(TERN_ERR_NOMEM, "%s: out of memory for %u seeds", x->file, raw->seeds_count);
    if (dup >= 0) {
        snprintf(path, sizeof path, "seeds.%d", dup);
        return tern_cdoc_fail(x, root, path, 0, TERN_ERR_CONFIG, "seed %" PRIu64 " is given twice (as item %d)",
                         raw->seeds[dup], first);
    }
    for (unsigned m = 0; m < raw->methods_count; m++) {
        raw_method *rm = &raw->methods[m];
        int known = 0;
        for (int k = 0; k < TERN_QUANT_METHOD_COUNT; k++) known |= !strcmp(rm->quantizer, tern_quant_method_names[k]);
        if (!known) {
            snprintf(path, sizeof path, "methods.%u.quantizer", m);
            return tern_cdoc_fail(x, root, path, 0, TERN_ERR_CONFIG, "unknown quantizer '%s' (twn, absmean, ttq)",
                             rm->quantizer);
        }
        tern_status st = check_thresholds(x, root, m, rm);
        if (st) return st;
        for (unsigned j = 0; j < m; j++)
            if (!strcmp(raw->methods[j].quantizer, rm->quantizer)) {
                snprintf(path, sizeof path, "methods.%u.quantizer", m);
                return tern_cdoc_fail(x, root, path, 0, TERN_ERR_CONFIG,
                                 "quantizer '%s' is listed twice; give all its t values in one entry", rm->quantizer);
            }
    }
    s->lat_batch = raw->latency && raw->latency->batch ? *raw->latency->batch : 1;
    s->lat_repeats = raw->latency && raw->latency->repeats ? *raw->latency->repeats : 50;
    if (s->lat_batch < 1 || s->lat_batch > 4096)
        return tern_cdoc_fail(x, root, "latency.batch", 0, TERN_ERR_CONFIG, "%d must be in 1..4096", s->lat_batch);
    if (s->lat_repeats < 1 || s->lat_repeats > 1000000)
        return tern_cdoc_fail(x, root, "latency.repeats", 0, TERN_ERR_CONFIG, "%d must be in 1..1000000", s->lat_repeats);
    s->baseline = raw->baseline ? *raw->baseline : 0;

    tern_status st = join_spec_dir(s->source, raw->base, s->base, sizeof s->base);
    if (!st) st = join_spec_dir(s->source, raw->out, s->out, sizeof s->out);
    if (st) return st;
    struct stat sb;
    if (stat(s->base, &sb) != 0 && errno == ENOENT)
        return tern_cdoc_fail(x, root, "base", 0, TERN_ERR_CONFIG, "no config file '%s' (paths are relative to the spec file)",
                         s->base);

    s->sets = calloc(raw->set_count ? raw->set_count : 1, sizeof *s->sets);
    s->methods = calloc(raw->methods_count, sizeof *s->methods);
    s->seeds = malloc(sizeof *s->seeds * raw->seeds_count);
    if (!s->sets || !s->methods || !s->seeds) return tern_error(TERN_ERR_NOMEM, "%s: out of memory", s->source);
    for (unsigned i = 0; i < raw->set_count; i++) {
        if (!(s->sets[i] = strdup(raw->set[i]))) return tern_error(TERN_ERR_NOMEM, "%s: out of memory", s->source);
        s->n_sets = (int)i + 1;
    }
    for (unsigned m = 0; m < raw->methods_count; m++) {
        tern_sweep_method *sm = &s->methods[m];
        snprintf(sm->name, sizeof sm->name, "%s", raw->methods[m].quantizer);
        if (!(sm->t = malloc(sizeof *sm->t * raw->methods[m].t_count)))
            return tern_error(TERN_ERR_NOMEM, "%s: out of memory", s->source);
        memcpy(sm->t, raw->methods[m].t, sizeof *sm->t * raw->methods[m].t_count);
        sm->n_t = (int)raw->methods[m].t_count;
        s->n_methods = (int)m + 1;
    }
    memcpy(s->seeds, raw->seeds, sizeof *s->seeds * raw->seeds_count);
    s->n_seeds = (int)raw->seeds_count;

    /* The base and its overrides must load now, not at the first point;
     * errors point at the spec's key as well as into the base. */
    tern_config cfg;
    if ((st = tern_config_load(&cfg, s->base)))
        return tern_cdoc_fail(x, root, "base", 0, st, "%s", tern_errmsg());
    /* Applied together, as a point applies them (their order never
     * matters); when that fails, one by one, to point at the culprit. */
    if (tern_config_set_all(&cfg, s->n_sets, (const char *const *)s->sets)) {
        for (int i = 0; !st && i < s->n_sets; i++)
            if ((st = tern_config_set(&cfg, s->sets[i]))) {
                snprintf(path, sizeof path, "set.%d", i);
                st = tern_cdoc_fail(x, root, path, 0, st, "%s", tern_errmsg());
            }
        if (!st) st = tern_cdoc_fail(x, root, "set", 0, TERN_ERR_CONFIG, "the overrides together: %s", tern_errmsg());
    }
    tern_config_free(&cfg);
    return st;
}

tern_status tern_sweep_spec_load(tern_sweep_spec *s, const char *path) {
    if (!s) return tern_error(TERN_ERR_ARG, "sweep: spec is NULL");
    memset(s, 0, sizeof *s);
    if (!path) return tern_error(TERN_ERR_ARG, "sweep: path is NULL");
    if (snprintf(s->source, sizeof s->source, "%s", path) >= (int)sizeof s->source)
        return tern_error(TERN_ERR_ARG, "sweep: path '%s' is too long", path);
    cbuf b;
    tern_status st = tern_cdoc_read_file(path, &b);
    if (st) return st;
    cdoc_ctx x = {.file = path, .set = NULL};
    cnode *root = NULL;
    st = tern_cdoc_parse(b.p, b.n, &x, NULL, &root);
    free(b.p);
    raw_spec *raw = NULL;
    if (!st) st = tern_cdoc_load(&x, root, &spec_schema, (void **)&raw);
    if (!st) st = spec_resolve(&x, root, raw, s);
    tern_cdoc_unload(&spec_schema, raw);
    tern_cdoc_node_free(root);
    if (st) tern_sweep_spec_free(s);
    return st;
}

/* ---- points ------------------------------------------------------------- */

static void point_set(tern_sweep_point *p, const char *method, float t, int fp32, uint64_t seed) {
    memset(p, 0, sizeof *p);
    snprintf(p->method, sizeof p->method, "%s", method);
    if (!fp32) snprintf(p->t, sizeof p->t, "%g", (double)t);
    p->tv = t;
    p->seed = seed;
    if (fp32) snprintf(p->name, sizeof p->name, "%s_s%" PRIu64, method, seed);
    else snprintf(p->name, sizeof p->name, "%s_t%s_s%" PRIu64, method, p->t, seed);
}

int tern_sweep_points(const tern_sweep_spec *s, tern_sweep_point *pts) {
    int n = 0;
    for (int k = 0; k < s->n_seeds; k++) {
        if (s->baseline) {
            if (pts) point_set(&pts[n], "fp32", 0.0f, 1, s->seeds[k]);
            n++;
        }
        for (int m = 0; m < s->n_methods; m++)
            for (int i = 0; i < s->methods[m].n_t; i++, n++)
                if (pts) point_set(&pts[n], s->methods[m].name, s->methods[m].t[i], 0, s->seeds[k]);
    }
    return n;
}

static int is_fp32(const char *method) { return !strcmp(method, "fp32"); }

tern_status tern_sweep_point_config(const tern_sweep_spec *s, const tern_sweep_point *p, tern_config *cfg) {
    tern_status st = load_base(s, cfg);
    if (st) return st;
    char a[4][96];
    int n = 0;
    if (is_fp32(p->method)) {
        snprintf(a[n++], sizeof a[0], "quant.enabled=false");
    } else {
        snprintf(a[n++], sizeof a[0], "quant.enabled=true");
        snprintf(a[n++], sizeof a[0], "quant.method=%s", p->method);
        snprintf(a[n++], sizeof a[0], "quant.t=%.9g", (double)p->tv);
    }
    snprintf(a[n++], sizeof a[0], "training.seed=%" PRIu64, p->seed);
    const char *sets[4] = {a[0], a[1], a[2], a[3]};
    st = tern_config_set_all(cfg, n, sets);
    if (!st && snprintf(cfg->output_dir, sizeof cfg->output_dir, "%s/runs/%s", s->out, p->name) >=
                   (int)sizeof cfg->output_dir)
        st = tern_error(TERN_ERR_ARG, "%s: out '%s' is too long", s->source, s->out);
    if (st) {
        st = tern_error(st, "%s: point %s: %s", s->source, p->name, tern_errmsg());
        tern_config_free(cfg);
    }
    return st;
}

/* ---- results.csv -------------------------------------------------------- */

#define RESULTS_HEADER "method,t,seed,test_acc,sparsity,dense_us,zskip_us,seconds"
#define RESULTS_FIXED 8  /* columns before sparsity_<layer> */

void tern_sweep_results_init(tern_sweep_results *r) { memset(r, 0, sizeof *r); }

void tern_sweep_results_free(tern_sweep_results *r) {
    if (!r) return;
    free(r->rows);
    memset(r, 0, sizeof *r);
}

tern_status tern_sweep_results_add(tern_sweep_results *r, const tern_sweep_row *row) {
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 64;
        tern_sweep_row *p = realloc(r->rows, sizeof *p * (size_t)cap);
        if (!p) return tern_error(TERN_ERR_NOMEM, "sweep: out of memory for %d results", cap);
        r->rows = p;
        r->cap = cap;
    }
    r->rows[r->n++] = *row;
    return TERN_OK;
}

int tern_sweep_results_find(const tern_sweep_results *r, const tern_sweep_point *p) {
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->rows[i].method, p->method) && !strcmp(r->rows[i].t, p->t) && r->rows[i].seed == p->seed)
            return i;
    return -1;
}

tern_status tern_sweep_results_write(const tern_sweep_results *r, const char *path) {
    cbuf b = {0};
    tern_cdoc_buf_puts(&b, RESULTS_HEADER);
    for (int l = 0; l < r->n_layers; l++) tern_cdoc_buf_printf(&b, ",sparsity_%s", r->layers[l]);
    tern_cdoc_buf_puts(&b, "\n");
    for (int i = 0; i < r->n; i++) {
        const tern_sweep_row *w = &r->rows[i];
        tern_cdoc_buf_printf(&b, "%s,%s,%" PRIu64, w->method, w->t, w->seed);
        tern_csv_put_num(&b, "%.6f", w->test_acc);
        tern_csv_put_num(&b, "%.6f", w->sparsity);
        tern_csv_put_num(&b, "%.3f", w->dense_us);
        tern_csv_put_num(&b, "%.3f", w->zskip_us);
        tern_csv_put_num(&b, "%.2f", w->seconds);
        for (int l = 0; l < r->n_layers; l++) tern_csv_put_num(&b, "%.6f", w->layer_sparsity[l]);
        tern_cdoc_buf_puts(&b, "\n");
    }
    tern_status st = b.oom ? tern_error(TERN_ERR_NOMEM, "%s: out of memory", path) : tern_fs_write_atomic(path, b.p, b.n);
    free(b.p);
    return st;
}

tern_status tern_sweep_results_read(tern_sweep_results *r, const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0 && errno == ENOENT) return TERN_OK;
    int fd;
    long long size;
    tern_status st = tern_fs_open_regular(path, &fd, &size);  /* never waits on a FIFO */
    if (st) return st;
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return tern_error(TERN_ERR_NOMEM, "%s: cannot open: %s", path, strerror(errno));
    }
    enum { MAXF = RESULTS_FIXED + TERN_SWEEP_MAX_LAYERS };
    char line[4096], *fl[MAXF + 1];
    int lineno = 1, nf = 0;
    if (!fgets(line, sizeof line, f) || strncmp(line, RESULTS_HEADER, strlen(RESULTS_HEADER)) ||
        (nf = tern_csv_split(line, fl, MAXF)) > MAXF) {
        fclose(f);
        return tern_error(TERN_ERR_FORMAT, "%s:1: not a tern sweep results file (expected the header '%s,...')", path,
                          RESULTS_HEADER);
    }
    r->n_layers = nf - RESULTS_FIXED;
    for (int l = 0; l < r->n_layers; l++) {
        if (strncmp(fl[RESULTS_FIXED + l], "sparsity_", 9)) {
            fclose(f);
            return tern_error(TERN_ERR_FORMAT, "%s:1: column %d '%s' should be sparsity_<layer>", path,
                              RESULTS_FIXED + l + 1, fl[RESULTS_FIXED + l]);
        }
        snprintf(r->layers[l], sizeof r->layers[l], "%s", fl[RESULTS_FIXED + l] + 9);
    }
    while (!st && fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '\n') continue;
        char *fd[MAXF + 1];
        int n = tern_csv_split(line, fd, MAXF);
        tern_sweep_row w;
        memset(&w, 0, sizeof w);
        char *end;
        errno = 0;
        w.seed = strtoull(fd[n > 2 ? 2 : 0], &end, 10);
        int ok = n == nf && strlen(fd[0]) < sizeof w.method && fd[0][0] && strlen(fd[1]) < sizeof w.t && !errno &&
                 fd[2][0] && !*end;
        double *num[] = {&w.test_acc, &w.sparsity, &w.dense_us, &w.zskip_us, &w.seconds};
        for (int k = 0; ok && k < 5; k++) ok = tern_csv_num(fd[3 + k], num[k]);
        for (int l = 0; ok && l < r->n_layers; l++) ok = tern_csv_num(fd[RESULTS_FIXED + l], &w.layer_sparsity[l]);
        if (!ok) {
            st = tern_error(TERN_ERR_FORMAT, "%s:%d: malformed row (expected %d comma-separated fields: %s,...)", path,
                            lineno, nf, RESULTS_HEADER);
            break;
        }
        snprintf(w.method, sizeof w.method, "%s", fd[0]);
        snprintf(w.t, sizeof w.t, "%s", fd[1]);
        st = tern_sweep_results_add(r, &w);
    }
    fclose(f);
    return st;
}

/* ---- summary.csv -------------------------------------------------------- */

/* Rows by (method, t), then by their place in results.csv. */
static int cmp_row_group(const void *a, const void *b) {
    const tern_sweep_row *x = *(const tern_sweep_row *const *)a, *y = *(const tern_sweep_row *const *)b;
    int c = strcmp(x->method, y->method);
    if (!c) c = strcmp(x->t, y->t);
    return c ? c : (x > y) - (x < y);
}

/* Groups by the place of their first row. */
static int cmp_first_row(const void *a, const void *b) {
    int x = ((const int *)a)[0], y = ((const int *)b)[0];
    return (x > y) - (x < y);
}

/* Mean and sample std of each measure over rows[0..m), NaN values left out. */
static void group_stat(const tern_sweep_row *const *rows, int m, tern_sweep_stat *S) {
    snprintf(S->method, sizeof S->method, "%s", rows[0]->method);
    snprintf(S->t, sizeof S->t, "%s", rows[0]->t);
    S->n = m;
    for (int k = 0; k < 4; k++) {
        double sum = 0.0, ss = 0.0;
        int c = 0;
        for (int j = 0; j < m; j++) {
            const double x[4] = {rows[j]->test_acc, rows[j]->sparsity, rows[j]->dense_us, rows[j]->zskip_us};
            if (!isnan(x[k])) sum += x[k], c++;
        }
        double mean = c ? sum / c : NAN;
        for (int j = 0; c && j < m; j++) {
            const double x[4] = {rows[j]->test_acc, rows[j]->sparsity, rows[j]->dense_us, rows[j]->zskip_us};
            if (!isnan(x[k])) ss += (x[k] - mean) * (x[k] - mean);
        }
        S->mean[k] = mean;
        S->std[k] = c > 1 ? sqrt(ss / (c - 1)) : c ? 0.0 : NAN;
    }
}

/* One sort brings each group's rows together (in file order, so the sums
 * add in the same order as before): O(n log n) for any results.csv. */
tern_status tern_sweep_summarize(const tern_sweep_results *r, tern_sweep_stat **stats, int *n) {
    size_t cap = r->n ? (size_t)r->n : 1;
    const tern_sweep_row **by = malloc(cap * sizeof *by);
    int (*order)[2] = malloc(cap * sizeof *order); /* (first row, group) */
    tern_sweep_stat *groups = calloc(cap, sizeof *groups);
    *stats = calloc(cap, sizeof **stats);
    *n = 0;
    if (!by || !order || !groups || !*stats) {
        free(by), free(order), free(groups), free(*stats);
        *stats = NULL;
        return tern_error(TERN_ERR_NOMEM, "sweep: out of memory");
    }
    for (int i = 0; i < r->n; i++) by[i] = &r->rows[i];
    qsort(by, (size_t)r->n, sizeof *by, cmp_row_group);
    int g = 0;
    for (int i = 0, e; i < r->n; i = e, g++) {
        for (e = i + 1; e < r->n && !strcmp(by[e]->method, by[i]->method) && !strcmp(by[e]->t, by[i]->t); e++) {}
        group_stat(by + i, e - i, &groups[g]);
        order[g][0] = (int)(by[i] - r->rows);
        order[g][1] = g;
    }
    qsort(order, (size_t)g, sizeof *order, cmp_first_row);
    for (int k = 0; k < g; k++) (*stats)[k] = groups[order[k][1]];
    *n = g;
    free(by), free(order), free(groups);
    return TERN_OK;
}

tern_status tern_sweep_summary_write(const tern_sweep_results *r, const char *path) {
    tern_sweep_stat *S;
    int n;
    tern_status st = tern_sweep_summarize(r, &S, &n);
    if (st) return st;
    static const char *const fmt[4] = {"%.6f", "%.6f", "%.3f", "%.3f"};
    cbuf b = {0};
    tern_cdoc_buf_puts(&b, "method,t,n,acc_mean,acc_std,sparsity_mean,sparsity_std,dense_us_mean,dense_us_std,zskip_us_mean,"
                  "zskip_us_std\n");
    for (int g = 0; g < n; g++) {
        tern_cdoc_buf_printf(&b, "%s,%s,%d", S[g].method, S[g].t, S[g].n);
        for (int k = 0; k < 4; k++) {
            tern_csv_put_num(&b, fmt[k], S[g].mean[k]);
            tern_csv_put_num(&b, fmt[k], S[g].std[k]);
        }
        tern_cdoc_buf_puts(&b, "\n");
    }
    free(S);
    st = b.oom ? tern_error(TERN_ERR_NOMEM, "%s: out of memory", path) : tern_fs_write_atomic(path, b.p, b.n);
    free(b.p);
    return st;
}

/* ---- latency ------------------------------------------------------------ */

/* Median microseconds per sample of the runtime forward, dense (us[0]) and
 * zero-skipping (us[1]; NaN when the runtime does not support it), on the
 * first `batch` test images, modes interleaved for `repeats` rounds after
 * one warm-up forward each; one BLAS thread. */
static tern_status measure_latency(const tern_model *m, const tern_dataset *test, int batch, int repeats,
                                   double us[2]) {
    us[0] = us[1] = NAN;
    if (batch > test->n) batch = test->n;
    tern_deploy d;
    tern_deploy_init(&d);
    tern_runtime rt[2];
    memset(rt, 0, sizeof rt);
    int ok[2] = {0, 0};
    double *t = malloc(sizeof *t * 2 * (size_t)repeats);
    tern_status st = t ? tern_deploy_from_model(&d, m, test) : tern_error(TERN_ERR_NOMEM, "sweep: out of memory");
    const tern_runtime_zskip mode[2] = {TERN_RUNTIME_ZSKIP_OFF, TERN_RUNTIME_ZSKIP_ON};
    int any_ternary = 0; /* zero-skipping means nothing to a model without ternary layers */
    for (int i = 0; !st && i < d.n_layers; i++) any_ternary |= d.layers[i].ternary;
    for (int k = 0; !st && k < 1 + any_ternary; k++) {
        const tern_runtime_opts o = {.max_batch = batch, .act = TERN_RUNTIME_ACT_AUTO, .zskip = mode[k]};
        st = tern_runtime_init_opts(&rt[k], &d, &o);
        if (st == TERN_ERR_UNSUPPORTED && k == 1) st = TERN_OK; /* not in this build: an empty field */
        else ok[k] = !st;
    }
    int shape[4] = {batch, test->c, test->h, test->w};
    tern_tensor x = tern_tensor_view(test->images, NULL, 4, shape);
    const float *logits;
    const int blas_threads = openblas_get_num_threads(); /* restored below: the caller's setting */
    if (!st) openblas_set_num_threads(1);
    for (int k = 0; !st && k < 2; k++)
        if (ok[k]) st = tern_runtime_forward(&rt[k], &x, &logits);
    for (int r = 0; !st && r < repeats; r++)
        for (int k = 0; !st && k < 2; k++) {
            if (!ok[k]) continue;
            double t0 = tern_clock_now_s();
            st = tern_runtime_forward(&rt[k], &x, &logits);
            t[k * repeats + r] = tern_clock_now_s() - t0;
        }
    for (int k = 0; !st && k < 2; k++) {
        if (!ok[k]) continue;
        us[k] = 1e6 * tern_clock_median(t + k * repeats, repeats) / batch;
    }
    openblas_set_num_threads(blas_threads);
    for (int k = 0; k < 2; k++) tern_runtime_free(&rt[k]);
    tern_deploy_free(&d);
    free(t);
    return st;
}

/* ---- the loop ----------------------------------------------------------- */

/* What every point means: the resolved base config with the overrides
 * (output dir and source comment left out) and the latency settings. */
static tern_status base_text(const tern_sweep_spec *s, char **text) {
    tern_config cfg;
    tern_status st = load_base(s, &cfg);
    if (st) return st;
    cbuf b = {0};
    st = tern_csv_config_text(&cfg, "# tern sweep: the resolved base config (with the spec's overrides) every point of "
                              "this\n# directory starts from; a sweep whose spec resolves differently is refused "
                              "here.\n", &b);
    tern_config_free(&cfg);
    if (st) {
        free(b.p);
        return st;
    }
    tern_cdoc_buf_printf(&b, "# latency: {batch: %d, repeats: %d}\n", s->lat_batch, s->lat_repeats);
    if (b.oom) {
        free(b.p);
        return tern_error(TERN_ERR_NOMEM, "sweep: out of memory");
    }
    *text = b.p;
    return TERN_OK;
}


/* The ternary layers of the base config: the per-layer sparsity columns. */
static tern_status layer_columns(const tern_sweep_spec *s, tern_sweep_results *r) {
    tern_config cfg;
    tern_status st = load_base(s, &cfg);
    if (!st) st = tern_config_set(&cfg, "quant.enabled=true");
    if (st) {
        tern_config_free(&cfg); /* empty after a failed load, whole after a failed set */
        return st;
    }
    r->n_layers = 0;
    for (int i = 0; i < cfg.model.n_layers && !st; i++) {
        if (!cfg.model.layers[i].ternary) continue;
        if (r->n_layers == TERN_SWEEP_MAX_LAYERS)
            st = tern_error(TERN_ERR_UNSUPPORTED, "%s: more than %d ternary layers", s->base, TERN_SWEEP_MAX_LAYERS);
        else
            snprintf(r->layers[r->n_layers++], sizeof r->layers[0], "%s", cfg.model.layers[i].name);
    }
    tern_config_free(&cfg);
    return st;
}

/* Check OUT against this spec (or, forced, start it over) and load its results. */
static tern_status prepare_out(const tern_sweep_spec *s, int force, const tern_sweep_point *pts, int n,
                               tern_sweep_results *r) {
    char path[TERN_CONFIG_PATH_LEN + 64], results[TERN_CONFIG_PATH_LEN + 64];
    snprintf(path, sizeof path, "%s/sweep_base.yaml", s->out);
    snprintf(results, sizeof results, "%s/results.csv", s->out);
    char *want = NULL;
    tern_status st = base_text(s, &want);
    if (st) return st;
    char *have = NULL;
    if (tern_fs_exists(path)) {
        cbuf hb;
        if ((st = tern_cdoc_read_file(path, &hb))) {
            free(want);
            return st;
        }
        have = hb.p;
    }
    const int had = have != NULL, line = have ? tern_csv_first_diff_line(have, want) : 0;
    free(have);
    if (line && !force) {
        free(want);
        return tern_error(TERN_ERR_CONFIG,
                          "%s: %s holds a sweep of another base config, overrides or latency settings (%s differs "
                          "from this spec's at line %d); pass --force to discard its results, or choose a new out",
                          s->source, s->out, path, line);
    }
    tern_sweep_results want_cols;
    tern_sweep_results_init(&want_cols);
    if ((st = tern_fs_mkdirs(s->out, "sweep directory")) || (st = layer_columns(s, &want_cols))) {
        free(want);
        return st;
    }
    if (force) {
        /* Forget every result and each point's run, so nothing of the old
         * sweep is resumed or skipped later; only then record the new base,
         * so an interruption in between never pairs it with old results. */
        char f[sizeof path + 80];
        for (int i = 0; !st && i < n; i++) {
            static const char *const files[] = {"last.h5", "best.h5", "metrics.csv", "config.yaml", "result.csv"};
            for (int k = 0; !st && k < 5; k++) {
                snprintf(f, sizeof f, "%s/runs/%s/%s", s->out, pts[i].name, files[k]);
                if (unlink(f) && errno != ENOENT) st = tern_error(TERN_ERR_IO, "%s: cannot remove: %s", f, strerror(errno));
            }
        }
        *r = want_cols;
        if (!st) st = tern_sweep_results_write(r, results);
        if (!st) st = tern_fs_write_atomic(path, want, strlen(want));
        free(want);
        return st;
    }
    if (!had || line) st = tern_fs_write_atomic(path, want, strlen(want));
    free(want);
    if (st) return st;
    if ((st = tern_sweep_results_read(r, results))) return st;
    int same = r->n_layers == want_cols.n_layers;
    for (int l = 0; same && l < r->n_layers; l++) same = !strcmp(r->layers[l], want_cols.layers[l]);
    if (r->n == 0) { /* a missing or empty file takes this spec's columns */
        r->n_layers = want_cols.n_layers;
        memcpy(r->layers, want_cols.layers, sizeof r->layers);
        same = 1;
    }
    if (!same)
        return tern_error(TERN_ERR_FORMAT, "%s: its sparsity_<layer> columns are not the ternary layers of %s; pass "
                          "--force to discard it, or choose a new out", results, s->base);
    return TERN_OK;
}

/* Train (or resume) point p, then measure it into *w. */
static tern_status run_point(const tern_sweep_spec *s, const tern_sweep_point *p, const tern_sweep_results *r,
                             const tern_sweep_opts *o, tern_sweep_row *w, int *resumed, int *stopped,
                             const tern_sweep_event *start) {
    tern_config cfg;
    tern_status st = tern_sweep_point_config(s, p, &cfg);
    if (st) return st;
    char ckpt[TERN_CONFIG_PATH_LEN + 16], data[TERN_CONFIG_PATH_LEN];
    snprintf(ckpt, sizeof ckpt, "%s/last.h5", cfg.output_dir);
    *resumed = tern_fs_exists(ckpt);
    st = tern_config_dataset_dir(&cfg, data, sizeof data);
    if (st) {
        tern_config_free(&cfg);
        return st;
    }
    tern_sweep_event ev = *start;
    ev.resumed = *resumed;
    if (o->cb) o->cb(&ev, o->user);

    double t0 = tern_clock_now_s();
    /* No checkpoint: a fresh start, replacing what a run that died before
     * its first checkpoint left. */
    tern_train_opts to = {.resume = *resumed ? ckpt : NULL, .force = !*resumed, .stop = o->stop,
                          .stop_after_steps = o->stop_after_steps, .cb = o->train_cb, .user = o->user};
    tern_train_result tr;
    st = tern_train(&cfg, &to, &tr);
    tern_config_free(&cfg);
    if (st || (*stopped = tr.stopped)) return st;

    tern_config ecfg;
    tern_model m;
    tern_dataset test;
    if ((st = tern_dataset_load_checkpoint(ckpt, data, &ecfg, &m, &test))) return st;
    memset(w, 0, sizeof *w);
    snprintf(w->method, sizeof w->method, "%s", p->method);
    snprintf(w->t, sizeof w->t, "%s", p->t);
    w->seed = p->seed;
    w->test_acc = tr.test_acc;
    if (isnan(w->test_acc)) {
        /* The run had finished before this call (killed while measuring): evaluate its checkpoint. */
        tern_eval_result er;
        if (!(st = tern_evaluate(&m, &test, ecfg.training.batch_size, NULL, &er))) w->test_acc = er.acc;
    }
    w->sparsity = tern_model_sparsity(&m);
    for (int l = 0; l < TERN_SWEEP_MAX_LAYERS; l++) w->layer_sparsity[l] = NAN;
    for (int i = 0; !st && i < m.n_layers; i++) {
        tern_quant_layer_stats qs;
        if (!m.layers[i].spec.ternary || tern_model_layer_stats(&m, i, &qs)) continue;
        for (int l = 0; l < r->n_layers; l++)
            if (!strcmp(r->layers[l], m.layers[i].spec.name)) w->layer_sparsity[l] = qs.frac_zero;
    }
    double us[2] = {NAN, NAN};
    if (!st) st = measure_latency(&m, &test, s->lat_batch, s->lat_repeats, us);
    w->dense_us = us[0];
    w->zskip_us = us[1];
    w->seconds = tern_clock_now_s() - t0;
    tern_model_free(&m);
    tern_dataset_free(&test);
    tern_config_free(&ecfg);
    if (st) return tern_error(st, "%s: point %s: %s", s->source, p->name, tern_errmsg());
    return TERN_OK;
}

/* ---- rows of points, merged --------------------------------------------- */

/* OUT/runs/NAME/result.csv of point p: its row, whichever process trained it. */
static void row_file(const tern_sweep_spec *s, const tern_sweep_point *p, char *path, size_t cap) {
    snprintf(path, cap, "%s/runs/%s/result.csv", s->out, p->name);
}

/* Point p's row w as its result.csv, with r's columns. */
static tern_status row_file_write(const tern_sweep_spec *s, const tern_sweep_point *p, const tern_sweep_results *r,
                                  const tern_sweep_row *w) {
    char path[TERN_CONFIG_PATH_LEN + 96];
    row_file(s, p, path, sizeof path);
    tern_sweep_row copy = *w;
    tern_sweep_results one = *r;
    one.rows = &copy;
    one.n = one.cap = 1;
    return tern_sweep_results_write(&one, path);
}

/* When point p's result.csv exists, its row appended to r and *row = its
 * index; else *row = -1. The file must have r's columns and one row, p's. */
static tern_status row_file_adopt(const tern_sweep_spec *s, const tern_sweep_point *p, tern_sweep_results *r,
                                  int *row) {
    char path[TERN_CONFIG_PATH_LEN + 96];
    row_file(s, p, path, sizeof path);
    *row = -1;
    struct stat sb;
    if (lstat(path, &sb) != 0 && errno == ENOENT) return TERN_OK;
    tern_sweep_results one;
    tern_sweep_results_init(&one);
    tern_status st = tern_sweep_results_read(&one, path);
    int same = !st && one.n_layers == r->n_layers;
    for (int l = 0; same && l < r->n_layers; l++) same = !strcmp(one.layers[l], r->layers[l]);
    if (!st && !same)
        st = tern_error(TERN_ERR_FORMAT, "%s: its sparsity_<layer> columns are not those of %s/results.csv; delete "
                        "the file to train point %s again", path, s->out, p->name);
    else if (!st && (one.n != 1 || tern_sweep_results_find(&one, p) != 0))
        st = tern_error(TERN_ERR_FORMAT, "%s: should hold one row, of point %s (method %s, t %s, seed %" PRIu64
                        "); delete the file to train the point again", path, p->name, p->method, p->t, p->seed);
    if (!st && !(st = tern_sweep_results_add(r, &one.rows[0]))) *row = r->n - 1;
    tern_sweep_results_free(&one);
    return st;
}

/* *o = r's rows in point order (row_of[i]: point i's row, or -1), then the
 * rows of no point as they were; o owns its rows. */
static tern_status rows_in_order(const tern_sweep_results *r, const int *row_of, int n, tern_sweep_results *o) {
    const size_t cap = r->n ? (size_t)r->n : 1;
    unsigned char *used = calloc(cap, 1);
    *o = *r;
    o->n = 0;
    o->cap = (int)cap;
    o->rows = malloc(sizeof *o->rows * cap);
    if (!used || !o->rows) {
        free(used);
        tern_sweep_results_free(o);
        return tern_error(TERN_ERR_NOMEM, "sweep: out of memory for %d results", r->n);
    }
    for (int i = 0; i < n; i++)
        if (row_of[i] >= 0) {
            o->rows[o->n++] = r->rows[row_of[i]];
            used[row_of[i]] = 1;
        }
    for (int j = 0; j < r->n; j++)
        if (!used[j]) o->rows[o->n++] = r->rows[j];
    free(used);
    return TERN_OK;
}

/* results.csv and summary.csv of r, rows in point order. */
static tern_status publish(const tern_sweep_spec *s, const tern_sweep_results *r, const int *row_of, int n) {
    char results[TERN_CONFIG_PATH_LEN + 64], summary[TERN_CONFIG_PATH_LEN + 64];
    snprintf(results, sizeof results, "%s/results.csv", s->out);
    snprintf(summary, sizeof summary, "%s/summary.csv", s->out);
    tern_sweep_results o;
    tern_status st = rows_in_order(r, row_of, n, &o);
    if (!st) st = tern_sweep_results_write(&o, results);
    if (!st) st = tern_sweep_summary_write(&o, summary);
    tern_sweep_results_free(&o);
    return st;
}

tern_status tern_sweep_results_collect(const tern_sweep_spec *s, tern_sweep_results *r) {
    tern_sweep_results_init(r);
    const int n = tern_sweep_points(s, NULL);
    tern_sweep_point *pts = malloc(sizeof *pts * (size_t)(n ? n : 1));
    int *row_of = malloc(sizeof *row_of * (size_t)(n ? n : 1));
    char results[TERN_CONFIG_PATH_LEN + 64];
    snprintf(results, sizeof results, "%s/results.csv", s->out);
    tern_status st = pts && row_of ? tern_sweep_results_read(r, results)
                                   : tern_error(TERN_ERR_NOMEM, "sweep: out of memory for %d points", n);
    if (!st && r->n == 0) st = layer_columns(s, r);
    if (!st) tern_sweep_points(s, pts);
    for (int i = 0; !st && i < n; i++)
        if ((row_of[i] = tern_sweep_results_find(r, &pts[i])) < 0) st = row_file_adopt(s, &pts[i], r, &row_of[i]);
    tern_sweep_results o;
    if (!st && !(st = rows_in_order(r, row_of, n, &o))) {
        tern_sweep_results_free(r);
        *r = o;
    }
    if (st) tern_sweep_results_free(r);
    free(pts);
    free(row_of);
    return st;
}

/* ---- running, on one rank or many ---------------------------------------- */

/* One call of tern_sweep_run as a rank sees it. */
typedef struct sweep_run {
    const tern_sweep_spec *s;
    const tern_sweep_opts *o;
    tern_sweep_result *res;
    int rank, size, n;
    tern_sweep_point *pts; /* (n) */
    int *owner;            /* (n) the rank that trains point i in this call; -1: finished before */
    int *row_of;           /* (n) point i's row in r, or -1 */
    tern_sweep_results r;  /* rank 0: every row it knows; the others: their own */
} sweep_run;

/* Rank 0: check OUT, take the rows of the points finished before (results.csv,
 * then the result files of points missing from it, which an interrupted
 * distributed sweep leaves), and deal the others round-robin. */
static tern_status sweep_prepare(sweep_run *w) {
    tern_status st = prepare_out(w->s, w->o->force, w->pts, w->n, &w->r);
    int adopted = 0, pending = 0;
    for (int i = 0; !st && i < w->n; i++) {
        if ((w->row_of[i] = tern_sweep_results_find(&w->r, &w->pts[i])) < 0 &&
            !(st = row_file_adopt(w->s, &w->pts[i], &w->r, &w->row_of[i])))
            adopted += w->row_of[i] >= 0;
        w->owner[i] = w->row_of[i] >= 0 ? -1 : pending++ % w->size;
    }
    if (!st && adopted) st = publish(w->s, &w->r, w->row_of, w->n);
    return st;
}

/* Every rank takes rank 0's deal and columns, and checks that it sees OUT. */
static tern_status sweep_share(sweep_run *w) {
    const tern_comm *c = w->o->comm;
    int n0 = w->n;
    tern_status st = tern_comm_bcast(c, &n0, sizeof n0, 0);
    if (!st && n0 != w->n)
        st = tern_error(TERN_ERR_CONFIG, "%s: %d points here, %d on rank 0: every rank must read the same spec",
                        w->s->source, w->n, n0);
    if ((st = tern_comm_agree(c, st))) return st;
    if ((st = tern_comm_bcast(c, w->owner, sizeof *w->owner * (size_t)w->n, 0)) ||
        (st = tern_comm_bcast(c, &w->r.n_layers, sizeof w->r.n_layers, 0)) ||
        (st = tern_comm_bcast(c, w->r.layers, sizeof w->r.layers, 0)))
        return st;
    char base[TERN_CONFIG_PATH_LEN + 64];
    snprintf(base, sizeof base, "%s/sweep_base.yaml", w->s->out);
    if (w->rank && !tern_fs_exists(base))
        st = tern_error(TERN_ERR_IO, "%s: rank 0 wrote it, this rank does not see it: a distributed sweep needs out "
                        "(%s) on a file system every rank sees", base, w->s->out);
    return tern_comm_agree(c, st);
}

/* Rank 0: the rows of points other ranks have finished, from their result
 * files (a DONE event each), then results.csv and summary.csv. */
static tern_status sweep_merge(sweep_run *w) {
    tern_status st = TERN_OK;
    for (int i = 0; !st && i < w->n; i++) {
        if (w->owner[i] <= 0 || w->row_of[i] >= 0) continue;
        if ((st = row_file_adopt(w->s, &w->pts[i], &w->r, &w->row_of[i])) || w->row_of[i] < 0) continue;
        const tern_sweep_event ev = {.kind = TERN_SWEEP_EV_DONE, .index = i + 1, .total = w->n, .point = &w->pts[i],
                                     .row = &w->r.rows[w->row_of[i]], .rank = w->owner[i]};
        if (w->o->cb) w->o->cb(&ev, w->o->user);
    }
    return st ? st : publish(w->s, &w->r, w->row_of, w->n);
}

/* Train this rank's points in order, each recorded in its result file; rank
 * 0 merges after each of its own. */
static tern_status sweep_train(sweep_run *w) {
    const tern_sweep_opts *o = w->o;
    tern_status st = TERN_OK;
    for (int i = 0, mine = 0; !st && i < w->n; i++) {
        tern_sweep_event ev = {.kind = TERN_SWEEP_EV_SKIP, .index = i + 1, .total = w->n, .point = &w->pts[i],
                               .rank = w->rank};
        if (w->owner[i] < 0 && !w->rank && o->cb) o->cb(&ev, o->user);
        if (w->owner[i] != w->rank) continue;
        if ((o->stop && *o->stop) || (o->stop_after_points > 0 && mine >= o->stop_after_points)) {
            w->res->stopped = 1;
            break;
        }
        tern_sweep_row row;
        int resumed = 0, stopped = 0;
        ev.kind = TERN_SWEEP_EV_START;
        if ((st = run_point(w->s, &w->pts[i], &w->r, o, &row, &resumed, &stopped, &ev))) break;
        if (stopped) {
            w->res->stopped = 1;
            break;
        }
        /* Read back: a row in memory is the row its file holds, whichever
         * rank merges it, so one rank and N give the same summary. */
        if ((st = row_file_write(w->s, &w->pts[i], &w->r, &row)) ||
            (st = row_file_adopt(w->s, &w->pts[i], &w->r, &w->row_of[i])))
            break;
        if (w->row_of[i] < 0) {
            st = tern_error(TERN_ERR_IO, "%s: point %s: its result.csv vanished once written", w->s->source,
                            w->pts[i].name);
            break;
        }
        mine++;
        w->res->trained++;
        w->res->resumed += resumed;
        ev.kind = TERN_SWEEP_EV_DONE;
        ev.resumed = resumed;
        ev.row = &w->r.rows[w->row_of[i]];
        if (o->cb) o->cb(&ev, o->user);
        if (!w->rank) st = sweep_merge(w);
    }
    return st;
}

/* After every rank's points (st: agreed): counts summed over the ranks, and
 * rank 0's last merge, which also checks that it sees every point dealt. */
static tern_status sweep_finish(sweep_run *w, tern_status st) {
    double c[3] = {w->res->trained, w->res->resumed, w->res->stopped};
    tern_status cs = tern_comm_sum_f64(w->o->comm, c, 3);
    if (cs && !st) st = cs;
    w->res->trained = (int)c[0];
    w->res->resumed = (int)c[1];
    w->res->stopped = c[2] > 0;
    tern_status ms = TERN_OK;
    if (!w->rank) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", st ? tern_errmsg() : "");
        ms = sweep_merge(w);
        for (int i = 0; !ms && !st && !w->res->stopped && i < w->n; i++)
            if (w->owner[i] > 0 && w->row_of[i] < 0)
                ms = tern_error(TERN_ERR_IO, "%s/runs/%s/result.csv: rank %d finished the point, rank 0 does not see "
                                "its row: out must be on a file system every rank sees", w->s->out, w->pts[i].name,
                                w->owner[i]);
        if (st) tern_error(st, "%s", msg); /* the first error is the one to report */
    }
    return st ? st : tern_comm_agree(w->o->comm, ms);
}

tern_status tern_sweep_run(const tern_sweep_spec *s, const tern_sweep_opts *opts, tern_sweep_result *res) {
    static const tern_sweep_opts no_opts = {0};
    if (!opts) opts = &no_opts;
    memset(res, 0, sizeof *res);
    sweep_run w = {.s = s, .o = opts, .res = res, .rank = tern_comm_rank(opts->comm),
                   .size = tern_comm_size(opts->comm), .n = tern_sweep_points(s, NULL)};
    const size_t cap = (size_t)(w.n ? w.n : 1);
    w.pts = malloc(sizeof *w.pts * cap);
    w.owner = malloc(sizeof *w.owner * cap);
    w.row_of = malloc(sizeof *w.row_of * cap);
    tern_sweep_results_init(&w.r);
    tern_status st = w.pts && w.owner && w.row_of ? TERN_OK
                                                  : tern_error(TERN_ERR_NOMEM, "sweep: out of memory for %d points", w.n);
    if (!st) tern_sweep_points(s, w.pts);
    for (int i = 0; !st && i < w.n; i++) w.row_of[i] = -1;
    res->total = w.n;
    if (!st && !w.rank) st = sweep_prepare(&w);
    if (!(st = tern_comm_agree(opts->comm, st)) && !(st = sweep_share(&w))) {
        for (int i = 0; i < w.n; i++) res->skipped += w.owner[i] < 0;
        st = sweep_finish(&w, tern_comm_agree(opts->comm, sweep_train(&w)));
    }
    tern_sweep_results_free(&w.r);
    free(w.pts);
    free(w.owner);
    free(w.row_of);
    return st;
}

tern_status tern_sweep_summary_update(const tern_sweep_spec *s) {
    char results[TERN_CONFIG_PATH_LEN + 64], summary[TERN_CONFIG_PATH_LEN + 64];
    snprintf(results, sizeof results, "%s/results.csv", s->out);
    snprintf(summary, sizeof summary, "%s/summary.csv", s->out);
    if (!tern_fs_exists(results)) return tern_error(TERN_ERR_IO, "%s: no results yet; run the sweep first", results);
    tern_sweep_results r;
    tern_sweep_results_init(&r);
    tern_status st = tern_sweep_results_read(&r, results);
    if (!st) st = tern_sweep_summary_write(&r, summary);
    tern_sweep_results_free(&r);
    return st;
}
