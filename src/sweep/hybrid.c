/* hybrid.c — which layers stay fp32 (tern/hybrid.h): the cost model, the
 * resumable trainings of the four phases, the search over assignments and
 * the result files.
 *
 * Every training is a run directory OUT/runs/NAME with a one-row
 * result.csv once measured; what is finished is what those files say, so a
 * rerun, or another rank, knows it from the file system alone. */
#include "tern/hybrid.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/config_doc.h"
#include "io/fsutil.h"
#include "sweep/csv.h"
#include "tern/clock.h"
#include "tern/data.h"
#include "tern/deploy.h"
#include "tern/export.h"
#include "tern/monitor.h"
#include "tern/restore.h"
#include "tern/runtime.h"

static const char *const cost_names[TERN_HYBRID_NCOST] = {"bytes", "latency_us", "energy_nj"};

const char *tern_hybrid_cost_name(tern_hybrid_cost c) {
    return c >= 0 && c < TERN_HYBRID_NCOST ? cost_names[c] : "?";
}

void tern_hybrid_spec_init(tern_hybrid_spec *s) {
    memset(s, 0, sizeof *s);
    s->finetune_epochs = 1;
    s->confirm = 2;
    s->cost = TERN_HYBRID_BYTES;
    s->lat_repeats = 30;
}

/* ---- assignments and the search -------------------------------------------- */

static int is_fp32(uint32_t a, int i) { return (int)(a >> i) & 1; }

double tern_hybrid_cost_of(const tern_hybrid_model *m, uint32_t a, tern_hybrid_cost c) {
    double v = m->fixed[c];
    for (int i = 0; i < m->n_layers; i++) v += is_fp32(a, i) ? m->layers[i].cost_f[c] : m->layers[i].cost_t[c];
    return v;
}

double tern_hybrid_acc_of(const tern_hybrid_model *m, uint32_t a) {
    double v = m->base_acc;
    for (int i = 0; i < m->n_layers; i++)
        if (is_fp32(a, i) != is_fp32(m->base, i)) v += m->layers[i].delta;
    return v;
}

void tern_hybrid_assign_text(uint32_t a, int n, char *buf) {
    for (int i = 0; i < n; i++) buf[i] = is_fp32(a, i) ? 'F' : 'T';
    buf[n] = '\0';
}

/* 1: a is within s's budget at predicted accuracy acc and cost c. */
static int within_budget(const tern_hybrid_spec *s, double acc, const double *c) {
    return (s->max_cost <= 0 || c[s->cost] <= s->max_cost * (1 + 1e-12)) && (s->min_acc <= 0 || acc >= s->min_acc);
}

static const tern_hybrid_cost *sort_cost; /* qsort has no context argument */

static int cmp_cand(const void *pa, const void *pb) {
    const tern_hybrid_cand *a = pa, *b = pb;
    double ca = a->cost[*sort_cost], cb = b->cost[*sort_cost];
    if (ca != cb) return ca < cb ? -1 : 1;
    if (a->acc != b->acc) return a->acc > b->acc ? -1 : 1;
    return a->fp32 < b->fp32 ? -1 : a->fp32 > b->fp32;
}

/* The greedy path: from all-ternary, layers made fp32 one at a time in
 * order of predicted gain per unit of added cost (free gains first), while
 * the gain is positive; plus the base and all-fp32. */
static int greedy_path(const tern_hybrid_model *m, tern_hybrid_cost c, uint32_t *out) {
    const int L = m->n_layers;
    double key[TERN_HYBRID_MAX_LAYERS];
    int order[TERN_HYBRID_MAX_LAYERS], n = 0;
    const double a0 = tern_hybrid_acc_of(m, 0);
    for (int i = 0; i < L; i++) {
        double gain = tern_hybrid_acc_of(m, 1u << i) - a0, dc = m->layers[i].cost_f[c] - m->layers[i].cost_t[c];
        key[i] = dc <= 0 ? INFINITY : gain / dc;
        if (gain > 0) order[n++] = i;
    }
    for (int i = 1; i < n; i++) /* insertion sort, best first */
        for (int j = i; j > 0 && key[order[j]] > key[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    int k = 0;
    uint32_t a = 0;
    out[k++] = a;
    for (int i = 0; i < n; i++) out[k++] = a |= 1u << order[i];
    out[k++] = m->base;
    out[k++] = L == 32 ? UINT32_MAX : (1u << L) - 1;
    return k;
}

tern_status tern_hybrid_search(const tern_hybrid_model *m, const tern_hybrid_spec *s, tern_hybrid_cand **cands,
                               int *n) {
    const int L = m->n_layers;
    *cands = NULL;
    *n = 0;
    if (L < 1 || L > TERN_HYBRID_MAX_LAYERS) return tern_error(TERN_ERR_ARG, "hybrid: %d layers to search", L);
    uint32_t path[TERN_HYBRID_MAX_LAYERS + 3];
    const int exhaustive = L <= TERN_HYBRID_EXHAUSTIVE;
    const int count = exhaustive ? 1 << L : greedy_path(m, s->cost, path);
    tern_hybrid_cand *c = calloc((size_t)count, sizeof *c);
    if (!c) return tern_error(TERN_ERR_NOMEM, "hybrid: out of memory for %d assignments", count);
    int k = 0;
    for (int j = 0; j < count; j++) {
        uint32_t a = exhaustive ? (uint32_t)j : path[j];
        int dup = 0;
        for (int q = 0; !exhaustive && q < k; q++) dup |= c[q].fp32 == a;
        if (dup) continue;
        c[k].fp32 = a;
        c[k].acc = tern_hybrid_acc_of(m, a);
        for (int t = 0; t < TERN_HYBRID_NCOST; t++) c[k].cost[t] = tern_hybrid_cost_of(m, a, (tern_hybrid_cost)t);
        c[k].within = within_budget(s, c[k].acc, c[k].cost);
        k++;
    }
    sort_cost = &s->cost;
    qsort(c, (size_t)k, sizeof *c, cmp_cand);
    double best = -INFINITY; /* the front: more accurate than everything cheaper */
    for (int j = 0; j < k; j++)
        if (c[j].acc > best) {
            c[j].front = 1;
            best = c[j].acc;
        }
    *cands = c;
    *n = k;
    return TERN_OK;
}

/* ---- the search's state ------------------------------------------------------ */

#define RUNS_HEADER "name,role,assignment,seed,val_acc,test_acc,bytes,latency_us,energy_nj,seconds"
#define RUNS_FIELDS 10
#define LAYERS_HEADER \
    "name,index,base,weights,macs,bytes_t,bytes_f,latency_us_t,latency_us_f,energy_nj_t,energy_nj_f,delta"
#define LAYERS_FIELDS 12
#define OTHER_LAYERS "(other)" /* layers.csv's row of the fixed costs */

/* One training of a phase. */
typedef struct job {
    char name[64];            /* OUT/runs/NAME */
    const char *role;         /* "base", "reference", "finetune", "candidate" */
    uint32_t a;
    uint64_t seed;
    int finetune;             /* 1: warm-started from the base, finetune_epochs long */
} job;

typedef struct hyb {
    const tern_hybrid_spec *s;
    const tern_hybrid_opts *o;
    tern_hybrid_result *res;
    tern_hybrid_model *m;     /* res->model */
    int rank, size;
    uint32_t all_f, rule;     /* all-fp32, first and last fp32 */
    char base_ckpt[TERN_CONFIG_PATH_LEN + 96];
    int cosine;               /* the config's schedule is cosine (its warm-up is dropped for fine-tunes) */
    int shape[3];             /* (C,H,W) of the dataset's images, read once */
    tern_hybrid_row *rows;    /* finished runs, in the order they became known */
    int n_rows, cap;
} hyb;

static int find_row(const hyb *h, const char *name) {
    for (int i = 0; i < h->n_rows; i++)
        if (!strcmp(h->rows[i].name, name)) return i;
    return -1;
}

static tern_status add_row(hyb *h, const tern_hybrid_row *r) {
    if (h->n_rows == h->cap) {
        int cap = h->cap ? 2 * h->cap : 32;
        tern_hybrid_row *p = realloc(h->rows, sizeof *p * (size_t)cap);
        if (!p) return tern_error(TERN_ERR_NOMEM, "hybrid: out of memory");
        h->rows = p;
        h->cap = cap;
    }
    h->rows[h->n_rows++] = *r;
    return TERN_OK;
}

static void job_set(job *j, const char *role, uint32_t a, int L, uint64_t seed, int finetune) {
    char t[TERN_HYBRID_MAX_LAYERS + 1];
    tern_hybrid_assign_text(a, L, t);
    if (finetune) snprintf(j->name, sizeof j->name, "ft_%s", t);
    else snprintf(j->name, sizeof j->name, "%s_s%" PRIu64, t, seed);
    j->role = role;
    j->a = a;
    j->seed = seed;
    j->finetune = finetune;
}

/* ---- configs ------------------------------------------------------------------ */

/* The config file with the overrides; with j, its assignment, seed, length
 * and run directory too (j NULL: as written, plus quant.enabled=true when
 * `enable`). */
static tern_status job_config(const hyb *h, const job *j, int enable, tern_config *cfg) {
    const tern_hybrid_spec *s = h->s;
    tern_status st = tern_config_load(cfg, s->config);
    if (st) return st;
    enum { MAX = TERN_HYBRID_MAX_SETS + TERN_HYBRID_MAX_LAYERS + 5 };
    char a[TERN_HYBRID_MAX_LAYERS + 5][64];
    const char *sets[MAX];
    int n = 0, k = 0;
    for (int i = 0; i < s->n_sets; i++) sets[n++] = s->sets[i];
    if (j || enable) snprintf(a[k], sizeof a[k], "quant.enabled=true"), sets[n++] = a[k++];
    for (int i = 0; j && i < h->m->n_layers; i++) {
        snprintf(a[k], sizeof a[k], "model.layers.%d.ternary=%s", h->m->layers[i].index,
                 is_fp32(j->a, i) ? "false" : "true");
        sets[n++] = a[k++];
    }
    if (j) {
        snprintf(a[k], sizeof a[k], "training.seed=%" PRIu64, j->seed), sets[n++] = a[k++];
        if (j->finetune) {
            snprintf(a[k], sizeof a[k], "training.epochs=%d", s->finetune_epochs), sets[n++] = a[k++];
            if (h->cosine) snprintf(a[k], sizeof a[k], "schedule.warmup_epochs=0"), sets[n++] = a[k++];
        }
    }
    st = tern_config_set_all(cfg, n, sets);
    if (!st && j && snprintf(cfg->output_dir, sizeof cfg->output_dir, "%s/runs/%s", s->out, j->name) >=
                        (int)sizeof cfg->output_dir)
        st = tern_error(TERN_ERR_ARG, "hybrid: out '%s' is too long", s->out);
    if (st) tern_config_free(cfg);
    return st;
}

/* The assignment cfg trains: bit i set where quantizable layer i is fp32. */
static uint32_t config_assignment(const tern_config *cfg) {
    uint32_t a = 0;
    int i = 0;
    for (int l = 0; l < cfg->model.n_layers && i < TERN_HYBRID_MAX_LAYERS; l++) {
        const tern_layer_spec *sp = &cfg->model.layers[l];
        if (sp->type != TERN_LAYER_LINEAR && sp->type != TERN_LAYER_CONV2D) continue;
        if (!cfg->quant.enabled || !sp->ternary) a |= 1u << i;
        i++;
    }
    return a;
}

/* The (C,H,W) of cfg's images: its test split's (the published size of a
 * dataset is not always what is on disk). */
static tern_status data_shape(const tern_config *cfg, int shape[3]) {
    tern_dataset test;
    tern_dataset_init(&test);
    tern_status st = tern_dataset_load_for_config(cfg, NULL, NULL, NULL, &test);
    shape[0] = test.c, shape[1] = test.h, shape[2] = test.w;
    tern_dataset_free(&test);
    return st;
}

/* The quantizable layers of the config, its base assignment (or the given
 * checkpoint's, which must be of this architecture) and the references. */
static tern_status find_layers(hyb *h) {
    tern_config cfg;
    tern_status st = job_config(h, NULL, 0, &cfg);
    if (st) return st;
    tern_hybrid_model *m = h->m;
    for (int l = 0; !st && l < cfg.model.n_layers; l++) {
        const tern_layer_spec *sp = &cfg.model.layers[l];
        if (sp->type != TERN_LAYER_LINEAR && sp->type != TERN_LAYER_CONV2D) continue;
        if (m->n_layers == TERN_HYBRID_MAX_LAYERS) {
            st = tern_error(TERN_ERR_UNSUPPORTED, "%s: more than %d linear and conv2d layers; tern hybrid searches "
                            "at most %d", h->s->config, TERN_HYBRID_MAX_LAYERS, TERN_HYBRID_MAX_LAYERS);
            break;
        }
        tern_hybrid_layer *L = &m->layers[m->n_layers++];
        snprintf(L->name, sizeof L->name, "%s", sp->name);
        L->index = l;
        L->delta = NAN;
    }
    if (!st && m->n_layers == 0)
        st = tern_error(TERN_ERR_CONFIG, "%s: no linear or conv2d layer: nothing to choose a precision for",
                        h->s->config);
    h->cosine = cfg.schedule.kind == TERN_SCHED_COSINE;
    m->base = config_assignment(&cfg);
    if (!st) st = data_shape(&cfg, h->shape);
    tern_config_free(&cfg);
    if (st) return st;
    const int L = m->n_layers;
    h->all_f = L == 32 ? UINT32_MAX : (1u << L) - 1;
    h->rule = (1u << 0) | (1u << (L - 1));
    if (!h->s->from[0]) return TERN_OK;
    /* The checkpoint's assignment is the base; its architecture must be the
     * config's, which loading its parameters into the config's model checks. */
    tern_config ck;
    if ((st = tern_restore_config(&ck, h->s->from))) return st;
    m->base = config_assignment(&ck);
    tern_config_free(&ck);
    job j;
    job_set(&j, "base", m->base, L, h->s->n_seeds ? h->s->seeds[0] : 1, 0);
    if ((st = job_config(h, &j, 1, &cfg))) return st;
    tern_model mm;
    st = tern_model_init(&mm, cfg.model.layers, cfg.model.n_layers, 3, h->shape, cfg.model.init, 1);
    if (!st) {
        st = tern_restore_init_from(&mm, h->s->from);
        tern_model_free(&mm);
    }
    tern_config_free(&cfg);
    return st;
}

/* ---- costs ---------------------------------------------------------------------- */

/* Time n deploy models of one input size at batch 1 on one thread,
 * interleaved: after a warm-up round, each of `repeats` rounds runs every
 * model once on the same fixed pseudo-random input. total[k] = model k's
 * median forward in µs; with layer_us, layer_us[k][l] the median of its
 * layer l (the runtime's per-layer times, as tern profile reports them). */
static tern_status time_deploys(const tern_deploy *const *d, int n, int repeats, double *total,
                                double *const *layer_us) {
    const size_t per = (size_t)d[0]->in_shape[0] * d[0]->in_shape[1] * d[0]->in_shape[2];
    int maxl = 0;
    for (int k = 0; k < n; k++) maxl = d[k]->n_layers > maxl ? d[k]->n_layers : maxl;
    const size_t stride = (size_t)repeats * (size_t)(maxl + 1); /* one model's times */
    tern_runtime *rt = calloc((size_t)n, sizeof *rt);
    float *x = malloc(sizeof *x * per);
    double *t = malloc(sizeof *t * stride * (size_t)n);
    tern_status st = rt && x && t ? TERN_OK : tern_error(TERN_ERR_NOMEM, "hybrid: out of memory");
    int ready = 0;
    for (; !st && ready < n; ready++) {
        const tern_runtime_opts ro = {.max_batch = 1, .act = TERN_RUNTIME_ACT_AUTO,
                                      .zskip = TERN_RUNTIME_ZSKIP_AUTO, .time_layers = layer_us != NULL};
        if ((st = tern_runtime_init_opts(&rt[ready], d[ready], &ro))) break;
    }
    tern_rng rng;
    tern_rng_seed(&rng, 1);
    for (size_t i = 0; x && i < per; i++) x[i] = 2.0f * tern_rng_uniform(&rng) - 1.0f;
    int shape[4] = {1, d[0]->in_shape[0], d[0]->in_shape[1], d[0]->in_shape[2]};
    tern_tensor xt = tern_tensor_view(x, NULL, 4, shape);
    const float *z;
    const int blas_threads = openblas_get_num_threads(); /* restored below: the caller's setting */
    openblas_set_num_threads(1);
    for (int r = -1; !st && r < repeats; r++)
        for (int k = 0; !st && k < n; k++) {
            const int L = d[k]->n_layers;
            if (layer_us) memset(rt[k].layer_ns, 0, sizeof(double) * (size_t)L);
            double t0 = tern_clock_now_s();
            st = tern_runtime_forward(&rt[k], &xt, &z);
            if (r < 0) continue;
            double *tk = t + stride * (size_t)k;
            tk[r] = 1e6 * (tern_clock_now_s() - t0);
            for (int l = 0; layer_us && l < L; l++) tk[(size_t)(l + 1) * repeats + r] = 1e-3 * rt[k].layer_ns[l];
        }
    openblas_set_num_threads(blas_threads);
    for (int k = 0; !st && k < n; k++) {
        double *tk = t + stride * (size_t)k;
        total[k] = tern_clock_median(tk, repeats);
        for (int l = 0; layer_us && l < d[k]->n_layers; l++)
            layer_us[k][l] = tern_clock_median(tk + (size_t)(l + 1) * repeats, repeats);
    }
    for (int k = 0; k < ready; k++) tern_runtime_free(&rt[k]);
    free(rt);
    free(x);
    free(t);
    return st;
}

/* Deploy layer of quantizable layer i: the one named after it, or after it
 * and what was folded into it ("fc1+bn1"); -1 when none. */
static int deploy_layer(const hyb *h, const tern_deploy *d, int i) {
    const char *nm = h->m->layers[i].name;
    const size_t nl = strlen(nm);
    for (int k = 0; k < d->n_layers; k++)
        if (!strncmp(d->layers[k].name, nm, nl) && (!d->layers[k].name[nl] || d->layers[k].name[nl] == '+'))
            return k;
    return -1;
}

/* Bytes and estimated energy of deploy model d: total[] and, per
 * quantizable layer of h, layer[i][] (NULL: totals only; then the weights
 * and MACs of h's layers are set too). */
static tern_status count_costs(const hyb *h, const tern_deploy *d, double total[TERN_HYBRID_NCOST],
                               double (*layer)[TERN_HYBRID_NCOST]) {
    const int L = d->n_layers;
    tern_layer_count *c = calloc((size_t)L, sizeof *c), tot;
    tern_energy *e = calloc((size_t)L, sizeof *e), et;
    tern_status st = c && e ? tern_monitor_count(d, c, &tot) : tern_error(TERN_ERR_NOMEM, "hybrid: out of memory");
    if (!st) st = tern_monitor_energy(c, L, &tern_energy_45nm, 0, e, &et);
    if (!st) {
        total[TERN_HYBRID_BYTES] = (double)tot.bytes_deploy;
        total[TERN_HYBRID_ENERGY] = 1e-3 * et.total_pj;
    }
    for (int i = 0; !st && layer && i < h->m->n_layers; i++) {
        const int k = deploy_layer(h, d, i);
        if (k < 0) {
            st = tern_error(TERN_ERR_FORMAT, "hybrid: layer %s is not in its deploy model", h->m->layers[i].name);
            break;
        }
        layer[i][TERN_HYBRID_BYTES] = (double)c[k].bytes_deploy;
        layer[i][TERN_HYBRID_ENERGY] = 1e-3 * e[k].total_pj;
        h->m->layers[i].weights = c[k].weights;
        h->m->layers[i].macs = c[k].macs;
    }
    free(c);
    free(e);
    return st;
}

/* *d = the deploy view of assignment j->a: with ckpt, the trained model
 * there; else the config's untrained one. */
static tern_status deploy_of(const hyb *h, const job *j, const char *ckpt, tern_deploy *d) {
    tern_config cfg;
    tern_status st = job_config(h, j, 1, &cfg);
    if (st) return st;
    tern_model mm;
    if (ckpt) st = tern_restore_model(&mm, NULL, &cfg, h->shape, ckpt);
    else st = tern_model_init(&mm, cfg.model.layers, cfg.model.n_layers, 3, h->shape, cfg.model.init, 1);
    if (!st) {
        tern_deploy_init(d);
        st = tern_monitor_deploy_view(&cfg, &mm, d);
        tern_model_free(&mm);
    }
    tern_config_free(&cfg);
    return st;
}

/* The cost table from the untrained all-ternary and all-fp32 models, timed
 * side by side. */
static tern_status measure_costs(hyb *h) {
    tern_hybrid_model *m = h->m;
    double tot[2][TERN_HYBRID_NCOST], lay[2][TERN_HYBRID_MAX_LAYERS][TERN_HYBRID_NCOST];
    tern_deploy d[2];
    const tern_deploy *dp[2] = {&d[0], &d[1]};
    double *us[2] = {NULL, NULL};
    int built = 0;
    tern_status st = TERN_OK;
    for (; !st && built < 2; built++) {
        job j;
        job_set(&j, "cost", built ? h->all_f : 0, m->n_layers, 1, 0);
        if ((st = deploy_of(h, &j, NULL, &d[built]))) break;
        us[built] = calloc((size_t)d[built].n_layers, sizeof *us[built]);
        if (!us[built]) st = tern_error(TERN_ERR_NOMEM, "hybrid: out of memory");
        if (!st) st = count_costs(h, &d[built], tot[built], lay[built]);
    }
    double wall[2];
    if (!st) st = time_deploys(dp, 2, h->s->lat_repeats, wall, us);
    for (int k = 0; !st && k < 2; k++) { /* count_costs found every layer */
        tot[k][TERN_HYBRID_LATENCY] = wall[k];
        for (int i = 0; i < m->n_layers; i++) lay[k][i][TERN_HYBRID_LATENCY] = us[k][deploy_layer(h, &d[k], i)];
    }
    for (int k = 0; k < built; k++) tern_deploy_free(&d[k]);
    free(us[0]);
    free(us[1]);
    if (st) return tern_error(st, "%s: the cost of its layers: %s", h->s->config, tern_errmsg());
    for (int c = 0; c < TERN_HYBRID_NCOST; c++) {
        m->fixed[c] = tot[0][c];
        for (int i = 0; i < m->n_layers; i++) {
            m->layers[i].cost_t[c] = lay[0][i][c];
            m->layers[i].cost_f[c] = lay[1][i][c];
            m->fixed[c] -= lay[0][i][c];
        }
    }
    return TERN_OK;
}

/* ---- layers.csv -------------------------------------------------------------------- */

static tern_status layers_write(const hyb *h) {
    const tern_hybrid_model *m = h->m;
    cbuf b = {0};
    tern_cdoc_buf_puts(&b, LAYERS_HEADER "\n");
    for (int i = 0; i <= m->n_layers; i++) {
        const int other = i == m->n_layers;
        const tern_hybrid_layer *L = other ? NULL : &m->layers[i];
        if (other) tern_cdoc_buf_printf(&b, "%s,-1,,0,0", OTHER_LAYERS);
        else tern_cdoc_buf_printf(&b, "%s,%d,%c,%" PRIu64 ",%" PRIu64, L->name, L->index, is_fp32(m->base, i) ? 'F' : 'T',
                                  L->weights, L->macs);
        for (int c = 0; c < TERN_HYBRID_NCOST; c++) {
            static const char *const fmt[] = {"%.0f", "%.3f", "%.3f"};
            tern_csv_put_num(&b, fmt[c], other ? m->fixed[c] : L->cost_t[c]);
            tern_csv_put_num(&b, fmt[c], other ? m->fixed[c] : L->cost_f[c]);
        }
        tern_csv_put_num(&b, "%.6f", other ? NAN : L->delta);
        tern_cdoc_buf_puts(&b, "\n");
    }
    char path[TERN_CONFIG_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/layers.csv", h->s->out);
    tern_status st = b.oom ? tern_error(TERN_ERR_NOMEM, "%s: out of memory", path) : tern_fs_write_atomic(path, b.p, b.n);
    free(b.p);
    return st;
}

/* The costs of an earlier call from OUT/layers.csv, so every decision of a
 * rerun is made on the same numbers; *found = 0 when there is no file. */
static tern_status layers_read(hyb *h, int *found) {
    char path[TERN_CONFIG_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/layers.csv", h->s->out);
    *found = 0;
    if (!tern_fs_exists(path)) return TERN_OK;
    cbuf text;
    tern_status st = tern_cdoc_read_file(path, &text);
    if (st) return st;
    tern_hybrid_model *m = h->m;
    int line = 0, ok = 1;
    char *save = NULL;
    for (char *p = strtok_r(text.p, "\n", &save); ok && p; p = strtok_r(NULL, "\n", &save), line++) {
        char *f[LAYERS_FIELDS + 1];
        if (line == 0) {
            ok = !strcmp(p, LAYERS_HEADER);
            continue;
        }
        const int i = line - 1, other = i == m->n_layers;
        ok = i <= m->n_layers && tern_csv_split(p, f, LAYERS_FIELDS) == LAYERS_FIELDS &&
             !strcmp(f[0], other ? OTHER_LAYERS : m->layers[i].name);
        double v[6];
        for (int c = 0; ok && c < 6; c++) ok = tern_csv_num(f[5 + c], &v[c]) && isfinite(v[c]) && (other || v[c] >= 0);
        for (int c = 0; ok && c < TERN_HYBRID_NCOST; c++) {
            if (other) m->fixed[c] = v[2 * c];
            else m->layers[i].cost_t[c] = v[2 * c], m->layers[i].cost_f[c] = v[2 * c + 1];
        }
        double w[2];
        if (ok && !other) {
            ok = tern_csv_num(f[3], &w[0]) && tern_csv_num(f[4], &w[1]) && w[0] >= 0 && w[1] >= 0;
            m->layers[i].weights = (uint64_t)w[0];
            m->layers[i].macs = (uint64_t)w[1];
        }
    }
    free(text.p);
    if (!ok || line != m->n_layers + 2)
        return tern_error(TERN_ERR_FORMAT, "%s:%d: not the layer table of %s (expected '%s' and a row per linear and "
                          "conv2d layer, then '%s'); delete it to measure the costs again", path, line > 0 ? line : 1,
                          h->s->config, LAYERS_HEADER, OTHER_LAYERS);
    *found = 1;
    return TERN_OK;
}

/* ---- runs and their rows --------------------------------------------------------- */

static void row_put(cbuf *b, const tern_hybrid_row *r, int L) {
    char t[TERN_HYBRID_MAX_LAYERS + 1];
    tern_hybrid_assign_text(r->fp32, L, t);
    tern_cdoc_buf_printf(b, "%s,%s,%s,%" PRIu64, r->name, r->role, t, r->seed);
    tern_csv_put_num(b, "%.6f", r->val_acc);
    tern_csv_put_num(b, "%.6f", r->test_acc);
    tern_csv_put_num(b, "%.0f", r->bytes);
    tern_csv_put_num(b, "%.3f", r->latency_us);
    tern_csv_put_num(b, "%.3f", r->energy_nj);
    tern_csv_put_num(b, "%.2f", r->seconds);
    tern_cdoc_buf_puts(b, "\n");
}

static tern_status write_text(const char *path, cbuf *b) {
    tern_status st = b->oom ? tern_error(TERN_ERR_NOMEM, "%s: out of memory", path)
                            : tern_fs_write_atomic(path, b->p, b->n);
    free(b->p);
    memset(b, 0, sizeof *b);
    return st;
}

static void row_path(const hyb *h, const char *name, char *path, size_t cap) {
    snprintf(path, cap, "%s/runs/%s/result.csv", h->s->out, name);
}

/* Run j's result.csv into *r: *found = 0 when it has none. Everything in
 * it is checked against j: a file that is not j's row is an error. */
static tern_status row_read(const hyb *h, const job *j, tern_hybrid_row *r, int *found) {
    char path[TERN_CONFIG_PATH_LEN + 96];
    row_path(h, j->name, path, sizeof path);
    *found = 0;
    if (!tern_fs_exists(path)) return TERN_OK;
    cbuf text;
    tern_status st = tern_cdoc_read_file(path, &text);
    if (st) return st;
    char *nl = strchr(text.p, '\n'), *f[RUNS_FIELDS + 1];
    int ok = nl && !strncmp(text.p, RUNS_HEADER "\n", strlen(RUNS_HEADER) + 1);
    char *line = ok ? nl + 1 : NULL;
    if (ok) {
        size_t n = strcspn(line, "\n");
        ok = line[n] == '\n' ? line[n + 1] == '\0' : 1; /* one row */
        ok = ok && tern_csv_split(line, f, RUNS_FIELDS) == RUNS_FIELDS;
    }
    memset(r, 0, sizeof *r);
    char t[TERN_HYBRID_MAX_LAYERS + 1];
    tern_hybrid_assign_text(j->a, h->m->n_layers, t);
    char seed[24];
    snprintf(seed, sizeof seed, "%" PRIu64, j->seed);
    ok = ok && !strcmp(f[0], j->name) && strlen(f[1]) < sizeof r->role && !strcmp(f[2], t) && !strcmp(f[3], seed);
    double *num[] = {&r->val_acc, &r->test_acc, &r->bytes, &r->latency_us, &r->energy_nj, &r->seconds};
    for (int k = 0; ok && k < 6; k++)
        ok = tern_csv_num(f[4 + k], num[k]) && (k == 0 || isfinite(*num[k])) && !(*num[k] < 0) &&
             (k > 1 || !(*num[k] > 1));
    if (ok) {
        snprintf(r->name, sizeof r->name, "%s", j->name);
        snprintf(r->role, sizeof r->role, "%s", f[1]);
        r->fp32 = j->a;
        r->seed = j->seed;
    }
    free(text.p);
    if (!ok)
        return tern_error(TERN_ERR_FORMAT, "%s: not the result of run %s (expected '%s' and one row: %s,<role>,%s,%s,"
                          "then accuracies in [0,1] and non-negative costs); delete it to measure the run again",
                          path, j->name, RUNS_HEADER, j->name, t, seed);
    *found = 1;
    return TERN_OK;
}

/* Accuracy of m on ds (NaN when ds is empty). */
static tern_status accuracy(tern_model *m, const tern_dataset *ds, int batch, double *acc) {
    *acc = NAN;
    if (ds->n == 0) return TERN_OK;
    tern_eval_result er;
    tern_status st = tern_evaluate(m, ds, batch, NULL, &er);
    if (!st) *acc = er.acc;
    return st;
}

/* Run j's last checkpoint, measured into *r: accuracy on the validation
 * and test splits (tr's when its training just evaluated them), bytes,
 * energy and latency of its deploy model. */
static tern_status measure_run(const hyb *h, const job *j, const tern_config *cfg, const char *ckpt,
                               const tern_train_result *tr, tern_hybrid_row *r) {
    tern_dataset val, test;
    tern_dataset_init(&val);
    tern_dataset_init(&test);
    tern_model m;
    memset(&m, 0, sizeof m);
    r->val_acc = tr->val_acc;
    r->test_acc = tr->test_acc;
    const int eval = isnan(r->test_acc) || (cfg->dataset.validation > 0 && isnan(r->val_acc));
    /* The splits are read only when its training did not just evaluate them. */
    tern_status st = eval ? tern_dataset_load_for_config(cfg, NULL, NULL, &val, &test) : TERN_OK;
    int built = 0;
    if (!st) built = !(st = tern_restore_model(&m, NULL, cfg, h->shape, ckpt));
    if (!st && eval) st = accuracy(&m, &val, cfg->training.batch_size, &r->val_acc);
    if (!st && eval) st = accuracy(&m, &test, cfg->training.batch_size, &r->test_acc);
    double c[TERN_HYBRID_NCOST];
    tern_deploy d;
    tern_deploy_init(&d);
    if (!st) st = tern_monitor_deploy_view(cfg, &m, &d);
    if (!st) st = count_costs(h, &d, c, NULL);
    const tern_deploy *dp = &d;
    if (!st) st = time_deploys(&dp, 1, h->s->lat_repeats, &c[TERN_HYBRID_LATENCY], NULL);
    tern_deploy_free(&d);
    if (!st) {
        r->bytes = c[TERN_HYBRID_BYTES];
        r->latency_us = c[TERN_HYBRID_LATENCY];
        r->energy_nj = c[TERN_HYBRID_ENERGY];
        snprintf(r->name, sizeof r->name, "%s", j->name);
        snprintf(r->role, sizeof r->role, "%s", j->role);
        r->fp32 = j->a;
        r->seed = j->seed;
    }
    if (built) tern_model_free(&m);
    tern_dataset_free(&val);
    tern_dataset_free(&test);
    return st;
}

/* Train (or resume) j, measure it and write its result.csv. */
static tern_status run_job(const hyb *h, const job *j, const tern_hybrid_event *start, tern_hybrid_row *r,
                           int *stopped) {
    tern_config cfg;
    tern_status st = job_config(h, j, 1, &cfg);
    if (st) return tern_error(st, "hybrid: run %s: %s", j->name, tern_errmsg());
    char ckpt[TERN_CONFIG_PATH_LEN + 16];
    snprintf(ckpt, sizeof ckpt, "%s/last.h5", cfg.output_dir);
    const int resumed = tern_fs_exists(ckpt);
    tern_hybrid_event ev = *start;
    ev.resumed = resumed;
    if (h->o->cb) h->o->cb(&ev, h->o->user);
    double t0 = tern_clock_now_s();
    /* No checkpoint: a fresh start, replacing what a run that died before
     * its first checkpoint left. */
    tern_train_opts to = {.resume = resumed ? ckpt : NULL, .init_from = j->finetune ? h->base_ckpt : NULL,
                          .force = !resumed, .stop = h->o->stop, .stop_after_steps = h->o->stop_after_steps,
                          .cb = h->o->train_cb, .user = h->o->user};
    tern_train_result tr;
    st = tern_train(&cfg, &to, &tr);
    *stopped = !st && tr.stopped;
    if (!st && !*stopped) st = measure_run(h, j, &cfg, ckpt, &tr, r);
    r->seconds = tern_clock_now_s() - t0;
    tern_config_free(&cfg);
    if (!st && !*stopped) {
        char path[TERN_CONFIG_PATH_LEN + 96];
        row_path(h, j->name, path, sizeof path);
        cbuf b = {0};
        tern_cdoc_buf_puts(&b, RUNS_HEADER "\n");
        row_put(&b, r, h->m->n_layers);
        st = write_text(path, &b);
    }
    if (st) return tern_error(st, "hybrid: run %s: %s", j->name, tern_errmsg());
    return TERN_OK;
}

/* ---- phases -------------------------------------------------------------------- */

/* Take in the rows of jobs that have a result.csv and no row yet, each
 * reported as `kind` (rank 0); *found counts them. */
static tern_status collect(hyb *h, const char *phase, const job *jobs, int n, tern_hybrid_event_kind kind,
                           int *found) {
    tern_status st = TERN_OK;
    for (int i = 0; !st && i < n; i++) {
        if (find_row(h, jobs[i].name) >= 0) continue;
        tern_hybrid_row r;
        int have;
        if ((st = row_read(h, &jobs[i], &r, &have)) || !have) continue;
        if ((st = add_row(h, &r))) break;
        if (found) ++*found;
        tern_hybrid_event ev = {.kind = kind, .phase = phase, .index = i + 1, .total = n, .name = jobs[i].name,
                                .row = &h->rows[h->n_rows - 1]};
        if (h->rank == 0 && h->o->cb) h->o->cb(&ev, h->o->user);
    }
    return st;
}

/* One phase: the jobs without a row are dealt round-robin over the ranks
 * and trained; then every rank takes in every rank's rows. */
static tern_status run_phase(hyb *h, const char *phase, const job *jobs, int n) {
    int skipped = 0, done = 0, k = 0, stopped = 0;
    tern_status st = tern_comm_agree(h->o->comm, collect(h, phase, jobs, n, TERN_HYBRID_EV_SKIP, &skipped));
    if (st) return st;
    h->res->skipped += skipped;
    int *todo = malloc(sizeof *todo * (size_t)(n ? n : 1));
    if (!todo) st = tern_error(TERN_ERR_NOMEM, "hybrid: out of memory");
    for (int i = 0; !st && i < n; i++)
        if (find_row(h, jobs[i].name) < 0) todo[k++] = i;
    for (int q = h->rank; !st && !stopped && q < k; q += h->size) {
        const job *j = &jobs[todo[q]];
        tern_hybrid_event ev = {.kind = TERN_HYBRID_EV_START, .phase = phase, .index = todo[q] + 1, .total = n,
                                .name = j->name};
        tern_hybrid_row r;
        memset(&r, 0, sizeof r);
        if ((st = run_job(h, j, &ev, &r, &stopped)) || stopped) break;
        /* The row as its file has it, as every other rank and a rerun will
         * read it: every decision is made on the same digits. */
        int have;
        if ((st = row_read(h, j, &r, &have)) || (st = add_row(h, &r))) break;
        done++;
        ev.kind = TERN_HYBRID_EV_DONE;
        ev.row = &r;
        if (h->o->cb) h->o->cb(&ev, h->o->user);
    }
    free(todo);
    int any = 0;
    st = tern_comm_agree(h->o->comm, st);
    if (!st) st = tern_comm_any(h->o->comm, stopped, &any);
    h->res->stopped |= any;
    int others = 0; /* the other ranks' rows */
    if (!st) st = tern_comm_agree(h->o->comm, collect(h, phase, jobs, n, TERN_HYBRID_EV_DONE, &others));
    h->res->trained += done + others;
    return st;
}

/* Append job (role, a, seed) to list unless a job of that name is there. */
static void job_add(job *list, int *n, const char *role, uint32_t a, int L, uint64_t seed, int finetune) {
    job j;
    job_set(&j, role, a, L, seed, finetune);
    for (int i = 0; i < *n; i++)
        if (!strcmp(list[i].name, j.name)) return;
    list[(*n)++] = j;
}

/* ---- the choice and the files --------------------------------------------------- */

/* Over the fully trained runs of assignment a: their count and the mean and
 * sample standard deviation of val_acc and test_acc; the deploy bytes and
 * energy (the same for every seed) and the latency of the first seed's
 * model, timed side by side with the others' at the end. */
typedef struct group {
    uint32_t a;
    int n;
    double mean[2], std[2];
    double bytes, energy_nj, latency_us;
} group;

static void group_of(const hyb *h, uint32_t a, group *g) {
    memset(g, 0, sizeof *g);
    g->a = a;
    g->latency_us = NAN;
    double sum[2] = {0, 0}, sq[2] = {0, 0};
    for (int i = 0; i < h->n_rows; i++) {
        const tern_hybrid_row *r = &h->rows[i];
        if (r->fp32 != a || !strncmp(r->name, "ft_", 3)) continue;
        const double v[2] = {r->val_acc, r->test_acc};
        g->n++;
        for (int k = 0; k < 2; k++) sum[k] += v[k], sq[k] += v[k] * v[k];
        g->bytes = r->bytes;
        g->energy_nj = r->energy_nj;
    }
    for (int k = 0; g->n && k < 2; k++) {
        g->mean[k] = sum[k] / g->n;
        double var = g->n > 1 ? (sq[k] - g->n * g->mean[k] * g->mean[k]) / (g->n - 1) : 0.0;
        g->std[k] = var > 0 ? sqrt(var) : 0.0;
    }
}

/* The latency of each group's first-seed model, all timed side by side
 * (interleaved) now that no training runs: the figures to compare. */
static tern_status remeasure(const hyb *h, group *g, int n) {
    tern_deploy *d = calloc((size_t)n, sizeof *d);
    const tern_deploy **dp = calloc((size_t)n, sizeof *dp);
    double *us = calloc((size_t)n, sizeof *us);
    tern_status st = d && dp && us ? TERN_OK : tern_error(TERN_ERR_NOMEM, "hybrid: out of memory");
    int built = 0;
    for (; !st && built < n; built++) {
        job j;
        job_set(&j, "summary", g[built].a, h->m->n_layers, h->s->seeds[0], 0);
        char ckpt[TERN_CONFIG_PATH_LEN + 96];
        snprintf(ckpt, sizeof ckpt, "%s/runs/%s/last.h5", h->s->out, j.name);
        if ((st = deploy_of(h, &j, ckpt, &d[built]))) break;
        dp[built] = &d[built];
    }
    if (!st) st = time_deploys(dp, n, h->s->lat_repeats, us, NULL);
    for (int k = 0; !st && k < n; k++) g[k].latency_us = us[k];
    for (int k = 0; k < built; k++) tern_deploy_free(&d[k]);
    free(d);
    free(dp);
    free(us);
    return st;
}

/* What assignment a is to a reader of summary.csv. */
static const char *role_of(const hyb *h, uint32_t a) {
    if (a == 0) return "all-ternary";
    if (a == h->all_f) return "all-fp32";
    if (a == h->rule) return "first+last-fp32";
    if (a == h->m->base) return "base";
    return "candidate";
}

/* The trained assignments (every seed done), in the order first trained. */
static int trained_groups(const hyb *h, group *g, int cap) {
    int n = 0;
    for (int i = 0; i < h->n_rows && n < cap; i++) {
        const tern_hybrid_row *r = &h->rows[i];
        int seen = !strncmp(r->name, "ft_", 3);
        for (int k = 0; !seen && k < n; k++) seen = g[k].a == r->fp32;
        if (seen) continue;
        group_of(h, r->fp32, &g[n]);
        if (g[n].n >= h->s->n_seeds) n++;
    }
    return n;
}

/* The chosen one of the trained groups (index into g): within the cost
 * budget (predicted), the best mean validation accuracy; with min_acc, the
 * cheapest reaching it. *met = 0 when none qualifies: then the cheapest
 * (max_cost) or the most accurate within the cost budget (min_acc). */
static int choose(const hyb *h, const group *g, int n, int *met) {
    const tern_hybrid_spec *s = h->s;
    int best = -1, fb = -1;
    for (int i = 0; i < n; i++) {
        const double c = tern_hybrid_cost_of(h->m, g[i].a, s->cost), acc = g[i].mean[0];
        const int in = s->max_cost <= 0 || c <= s->max_cost * (1 + 1e-12);
        const double cb = best >= 0 ? tern_hybrid_cost_of(h->m, g[best].a, s->cost) : 0;
        const double cf = fb >= 0 ? tern_hybrid_cost_of(h->m, g[fb].a, s->cost) : 0;
        if (s->min_acc > 0) {
            if (in && acc >= s->min_acc && (best < 0 || c < cb || (c == cb && acc > g[best].mean[0]))) best = i;
            if (in && (fb < 0 || acc > g[fb].mean[0])) fb = i;
        } else {
            if (in && (best < 0 || acc > g[best].mean[0] || (acc == g[best].mean[0] && c < cb))) best = i;
            if (fb < 0 || c < cf) fb = i;
        }
    }
    *met = best >= 0;
    return best >= 0 ? best : fb;
}

static tern_status out_path(const hyb *h, const char *file, char *path, size_t cap) {
    if (snprintf(path, cap, "%s/%s", h->s->out, file) >= (int)cap)
        return tern_error(TERN_ERR_ARG, "hybrid: out '%s' is too long", h->s->out);
    return TERN_OK;
}

static tern_status write_runs(const hyb *h) {
    char path[TERN_CONFIG_PATH_LEN + 32];
    tern_status st = out_path(h, "runs.csv", path, sizeof path);
    cbuf b = {0};
    tern_cdoc_buf_puts(&b, RUNS_HEADER "\n");
    for (int i = 0; i < h->n_rows; i++) row_put(&b, &h->rows[i], h->m->n_layers);
    if (st) free(b.p);
    return st ? st : write_text(path, &b);
}

static tern_status write_search(const hyb *h, const tern_hybrid_cand *c, int n) {
    char path[TERN_CONFIG_PATH_LEN + 32], t[TERN_HYBRID_MAX_LAYERS + 1];
    tern_status st = out_path(h, "search.csv", path, sizeof path);
    if (st) return st;
    cbuf b = {0};
    tern_cdoc_buf_puts(&b, "assignment,pred_acc,bytes,latency_us,energy_nj,front,within\n");
    for (int i = 0; i < n; i++) {
        tern_hybrid_assign_text(c[i].fp32, h->m->n_layers, t);
        tern_cdoc_buf_printf(&b, "%s,%.6f,%.0f,%.3f,%.3f,%d,%d\n", t, c[i].acc, c[i].cost[0], c[i].cost[1],
                             c[i].cost[2], c[i].front, c[i].within);
    }
    return write_text(path, &b);
}

static tern_status write_summary(const hyb *h, const group *g, int n, int chosen) {
    char path[TERN_CONFIG_PATH_LEN + 32], t[TERN_HYBRID_MAX_LAYERS + 1];
    tern_status st = out_path(h, "summary.csv", path, sizeof path);
    if (st) return st;
    cbuf b = {0};
    tern_cdoc_buf_puts(&b, "assignment,role,n,val_acc_mean,val_acc_std,test_acc_mean,test_acc_std,bytes,"
                           "latency_us,energy_nj,pred_bytes,pred_latency_us,pred_energy_nj,chosen\n");
    for (int i = 0; i < n; i++) {
        tern_hybrid_assign_text(g[i].a, h->m->n_layers, t);
        tern_cdoc_buf_printf(&b, "%s,%s,%d", t, role_of(h, g[i].a), g[i].n);
        tern_csv_put_num(&b, "%.6f", g[i].mean[0]);
        tern_csv_put_num(&b, "%.6f", g[i].std[0]);
        tern_csv_put_num(&b, "%.6f", g[i].mean[1]);
        tern_csv_put_num(&b, "%.6f", g[i].std[1]);
        tern_csv_put_num(&b, "%.0f", g[i].bytes);
        tern_csv_put_num(&b, "%.3f", g[i].latency_us);
        tern_csv_put_num(&b, "%.3f", g[i].energy_nj);
        for (int c = 0; c < TERN_HYBRID_NCOST; c++)
            tern_csv_put_num(&b, c ? "%.3f" : "%.0f", tern_hybrid_cost_of(h->m, g[i].a, (tern_hybrid_cost)c));
        tern_cdoc_buf_printf(&b, ",%d\n", i == chosen);
    }
    return write_text(path, &b);
}

/* OUT/hybrid.yaml: the config of assignment a, ready for tern train. */
static tern_status write_chosen(const hyb *h, uint32_t a) {
    job j;
    job_set(&j, "chosen", a, h->m->n_layers, h->s->seeds[0], 0);
    tern_config cfg;
    tern_status st = job_config(h, &j, 1, &cfg);
    if (st) return st;
    snprintf(cfg.output_dir, sizeof cfg.output_dir, "runs/hybrid");
    cfg.dataset.found_at[0] = '\0'; /* the data is found again where the user trains it */
    st = out_path(h, "hybrid.yaml", h->res->config_out, sizeof h->res->config_out);
    if (!st) st = tern_config_write(&cfg, h->res->config_out);
    tern_config_free(&cfg);
    return st;
}

/* ---- OUT ------------------------------------------------------------------------- */

/* What every run of OUT means: the resolved config with the overrides
 * (output dir and comments left out) and the settings of the sensitivity. */
static tern_status base_text(const hyb *h, char **text) {
    tern_config cfg;
    tern_status st = job_config(h, NULL, 1, &cfg);
    if (st) return st;
    /* Where the data was found goes too: a search moved with its data, or
     * run from another directory, is the same search. */
    cfg.dataset.found_at[0] = '\0';
    cbuf b = {0};
    st = tern_csv_config_text(&cfg, "# tern hybrid: the resolved config (with the overrides) every run of this "
                              "directory\n# starts from, and what its fine-tunes mean; a search that differs is "
                              "refused here.\n", &b);
    tern_config_free(&cfg);
    if (st) {
        free(b.p);
        return st;
    }
    tern_cdoc_buf_printf(&b, "# sensitivity: {from: \"%s\", finetune_epochs: %d, seed: %" PRIu64 "}\n", h->s->from,
                         h->s->finetune_epochs, h->s->seeds[0]);
    if (b.oom) {
        free(b.p);
        return tern_error(TERN_ERR_NOMEM, "hybrid: out of memory");
    }
    *text = b.p;
    return TERN_OK;
}

/* 1: name is a run directory tern hybrid makes for L layers. */
static int our_run(const char *name, int L) {
    const char *p = strncmp(name, "ft_", 3) ? name : name + 3;
    for (int i = 0; i < L; i++)
        if (p[i] != 'T' && p[i] != 'F') return 0;
    p += L;
    if (name[0] == 'f') return *p == '\0';
    if (strncmp(p, "_s", 2) || !p[2]) return 0;
    for (p += 2; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    return 1;
}

/* Forget OUT's earlier search: its run directories' files and its tables,
 * nothing else. */
static tern_status clear_out(const hyb *h) {
    char dir[TERN_CONFIG_PATH_LEN + 16], f[TERN_CONFIG_PATH_LEN + 16 + 300];
    snprintf(dir, sizeof dir, "%s/runs", h->s->out);
    DIR *d = opendir(dir);
    tern_status st = TERN_OK;
    for (struct dirent *e; d && !st && (e = readdir(d));) {
        if (!our_run(e->d_name, h->m->n_layers)) continue;
        static const char *const files[] = {"last.h5", "best.h5", "metrics.csv", "config.yaml", "result.csv"};
        for (int k = 0; !st && k < 5; k++) {
            snprintf(f, sizeof f, "%s/%s/%s", dir, e->d_name, files[k]);
            if (unlink(f) && errno != ENOENT) st = tern_error(TERN_ERR_IO, "%s: cannot remove: %s", f, strerror(errno));
        }
        snprintf(f, sizeof f, "%s/%s", dir, e->d_name);
        (void)rmdir(f); /* left when it holds other files */
    }
    if (d) closedir(d);
    static const char *const tables[] = {"layers.csv", "runs.csv", "search.csv", "summary.csv", "hybrid.yaml"};
    for (int k = 0; !st && k < 5; k++) {
        snprintf(f, sizeof f, "%s/%s", h->s->out, tables[k]);
        if (unlink(f) && errno != ENOENT) st = tern_error(TERN_ERR_IO, "%s: cannot remove: %s", f, strerror(errno));
    }
    return st;
}

/* Check OUT against this search (or, forced, start it over); rank 0. */
static tern_status prepare_out(const hyb *h) {
    char path[TERN_CONFIG_PATH_LEN + 32];
    tern_status st = out_path(h, "hybrid_base.yaml", path, sizeof path);
    char *want = NULL, *have = NULL;
    if (!st) st = base_text(h, &want);
    if (!st && tern_fs_exists(path)) {
        cbuf hb;
        if (!(st = tern_cdoc_read_file(path, &hb))) have = hb.p;
    }
    const int line = have ? tern_csv_first_diff_line(have, want) : 1;
    if (!st && have && line && !h->o->force)
        st = tern_error(TERN_ERR_CONFIG, "%s: holds a search of another config, overrides or sensitivity settings "
                        "(%s differs at line %d); pass --force to discard its runs, or choose another --out",
                        h->s->out, path, line);
    if (!st) st = tern_fs_mkdirs(h->s->out, "hybrid directory");
    if (!st && have && line) st = clear_out(h);
    if (!st && (!have || line)) st = tern_fs_write_atomic(path, want, strlen(want));
    free(want);
    free(have);
    return st;
}

/* ---- the search ------------------------------------------------------------------ */

static tern_status check_spec(const tern_hybrid_spec *s) {
    if (!s->config[0] || !s->out[0]) return tern_error(TERN_ERR_ARG, "hybrid: a config and an out directory are needed");
    if (s->finetune_epochs < 1) return tern_error(TERN_ERR_ARG, "hybrid: finetune epochs %d must be >= 1", s->finetune_epochs);
    if (s->confirm < 0 || s->confirm > TERN_HYBRID_MAX_CONFIRM || s->lat_repeats < 1 || s->lat_repeats > 100000)
        return tern_error(TERN_ERR_ARG, "hybrid: confirm %d must be in 0..%d, repeats %d in 1..100000", s->confirm,
                          TERN_HYBRID_MAX_CONFIRM, s->lat_repeats);
    if (s->cost < 0 || s->cost >= TERN_HYBRID_NCOST) return tern_error(TERN_ERR_ARG, "hybrid: no cost %d", (int)s->cost);
    if (!(s->max_cost >= 0) || !isfinite(s->max_cost)) return tern_error(TERN_ERR_ARG, "hybrid: budget %g must be >= 0", s->max_cost);
    if (!(s->min_acc >= 0 && s->min_acc <= 1)) return tern_error(TERN_ERR_ARG, "hybrid: minimum accuracy %g is not in [0, 1]", s->min_acc);
    if (s->n_seeds < 0 || s->n_seeds > TERN_HYBRID_MAX_SEEDS || s->n_sets < 0 || s->n_sets > TERN_HYBRID_MAX_SETS)
        return tern_error(TERN_ERR_ARG, "hybrid: %d seeds (at most %d), %d overrides (at most %d)", s->n_seeds,
                          TERN_HYBRID_MAX_SEEDS, s->n_sets, TERN_HYBRID_MAX_SETS);
    for (int i = 0; i < s->n_seeds; i++)
        for (int k = 0; k < i; k++)
            if (s->seeds[i] == s->seeds[k]) return tern_error(TERN_ERR_ARG, "hybrid: seed %" PRIu64 " given twice", s->seeds[i]);
    return TERN_OK;
}

/* The cost table on rank 0 (read back from OUT, or measured and written),
 * the same on every rank; then the budget is checked against it. */
static tern_status costs(hyb *h) {
    tern_status st = TERN_OK;
    if (h->rank == 0) {
        int found = 0;
        st = prepare_out(h);
        if (!st) st = layers_read(h, &found);
        if (!st && !found && !(st = measure_costs(h))) st = layers_write(h);
    }
    st = tern_comm_agree(h->o->comm, st);
    if (!st) st = tern_comm_bcast(h->o->comm, h->m, sizeof *h->m, 0);
    if (st) return st;
    const tern_hybrid_spec *s = h->s;
    double lo = h->m->fixed[s->cost];
    uint32_t cheapest = 0;
    for (int i = 0; i < h->m->n_layers; i++) {
        const tern_hybrid_layer *L = &h->m->layers[i];
        lo += L->cost_f[s->cost] < L->cost_t[s->cost] ? L->cost_f[s->cost] : L->cost_t[s->cost];
        if (L->cost_f[s->cost] < L->cost_t[s->cost]) cheapest |= 1u << i;
    }
    if (s->max_cost > 0 && s->max_cost < lo * (1 - 1e-12)) {
        char t[TERN_HYBRID_MAX_LAYERS + 1];
        tern_hybrid_assign_text(cheapest, h->m->n_layers, t);
        return tern_error(TERN_ERR_ARG, "%s: a budget of %.6g %s is below the smallest this model can be: %.6g %s (%s%s)",
                          s->config, s->max_cost, cost_names[s->cost], lo, cost_names[s->cost], t,
                          cheapest ? "" : ", every layer ternary");
    }
    tern_hybrid_event ev = {.kind = TERN_HYBRID_EV_COSTS, .phase = "costs", .model = h->m};
    if (h->rank == 0 && h->o->cb) h->o->cb(&ev, h->o->user);
    return TERN_OK;
}

/* Phase 3's deltas from the fine-tunes' rows. */
static tern_status sensitivities(hyb *h, const job *ft, int n) {
    tern_hybrid_model *m = h->m;
    int b = find_row(h, ft[0].name);
    if (b < 0) return tern_error(TERN_ERR_IO, "hybrid: run %s has no result", ft[0].name);
    m->base_acc = h->rows[b].val_acc;
    for (int i = 1; i < n; i++) {
        int r = find_row(h, ft[i].name);
        if (r < 0) return tern_error(TERN_ERR_IO, "hybrid: run %s has no result", ft[i].name);
        for (int l = 0; l < m->n_layers; l++)
            if ((ft[i].a ^ m->base) == 1u << l) m->layers[l].delta = h->rows[r].val_acc - m->base_acc;
    }
    return TERN_OK;
}

/* The front's assignments to train, best first: within the budget, not yet
 * trained as a reference, the most accurate (with min_acc: the cheapest). */
static int pick(const hyb *h, const tern_hybrid_cand *c, int n, const job *refs, int n_refs, uint32_t *out) {
    int k = 0;
    while (k < h->s->confirm && k < n) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            int taken = !c[i].front || !c[i].within;
            for (int q = 0; !taken && q < n_refs; q++) taken = refs[q].a == c[i].fp32;
            for (int q = 0; !taken && q < k; q++) taken = out[q] == c[i].fp32;
            if (taken) continue;
            if (best < 0 || (h->s->min_acc > 0 ? c[i].cost[h->s->cost] < c[best].cost[h->s->cost]
                                               : c[i].acc > c[best].acc))
                best = i;
        }
        if (best < 0) break;
        out[k++] = c[best].fp32;
    }
    return k;
}

/* The rows of every assignment trained on this search's seeds, also by an
 * earlier call with another budget: OUT/runs/<assignment>_s<seed>/. */
static tern_status collect_trained(hyb *h) {
    const int L = h->m->n_layers;
    char dir[TERN_CONFIG_PATH_LEN + 16];
    snprintf(dir, sizeof dir, "%s/runs", h->s->out);
    DIR *d = opendir(dir);
    if (!d) return tern_error(TERN_ERR_IO, "%s: cannot list: %s", dir, strerror(errno));
    tern_status st = TERN_OK;
    for (struct dirent *e; !st && (e = readdir(d));) {
        if (!our_run(e->d_name, L) || !strncmp(e->d_name, "ft_", 3)) continue;
        const uint64_t seed = strtoull(e->d_name + L + 2, NULL, 10);
        int known = 0;
        for (int k = 0; k < h->s->n_seeds; k++) known |= h->s->seeds[k] == seed;
        if (!known || find_row(h, e->d_name) >= 0) continue;
        uint32_t a = 0;
        for (int i = 0; i < L; i++) a |= (uint32_t)(e->d_name[i] == 'F') << i;
        job j;
        job_set(&j, "candidate", a, L, seed, 0);
        tern_hybrid_row r;
        int have;
        if (!(st = row_read(h, &j, &r, &have)) && have) st = add_row(h, &r);
    }
    closedir(d);
    return st;
}

/* The end: choose, write the tables and the chosen config (rank 0). */
static tern_status finish(hyb *h, const tern_hybrid_cand *c, int nc) {
    group *g = malloc(sizeof *g * (size_t)(h->n_rows ? h->n_rows : 1));
    if (!g) return tern_error(TERN_ERR_NOMEM, "hybrid: out of memory");
    const int n = trained_groups(h, g, h->n_rows);
    tern_status st = n ? TERN_OK : tern_error(TERN_ERR_IO, "hybrid: no assignment trained on every seed");
    int chosen = -1;
    if (!st) {
        chosen = choose(h, g, n, &h->res->met);
        h->res->chosen = g[chosen].a;
        h->res->chosen_val = g[chosen].mean[0];
        h->res->chosen_test = g[chosen].mean[1];
        for (int k = 0; k < TERN_HYBRID_NCOST; k++)
            h->res->chosen_cost[k] = tern_hybrid_cost_of(h->m, g[chosen].a, (tern_hybrid_cost)k);
    }
    if (h->rank == 0) {
        if (!st) st = remeasure(h, g, n);
        if (!st) st = write_runs(h);
        if (!st) st = write_search(h, c, nc);
        if (!st) st = write_summary(h, g, n, chosen);
        if (!st) st = write_chosen(h, h->res->chosen);
    }
    free(g);
    return st;
}

/* Phases 2 to 4 after the costs. */
static tern_status search(hyb *h) {
    const tern_hybrid_spec *s = h->s;
    const int L = h->m->n_layers;
    job *jobs = calloc((size_t)(3 * s->n_seeds + 1 + L + 1 + s->confirm * s->n_seeds + 1), sizeof *jobs);
    if (!jobs) return tern_error(TERN_ERR_NOMEM, "hybrid: out of memory");
    int n = 0;
    for (int k = 0; k < s->n_seeds; k++) {
        job_add(jobs, &n, "reference", 0, L, s->seeds[k], 0);
        job_add(jobs, &n, "reference", h->all_f, L, s->seeds[k], 0);
        job_add(jobs, &n, "reference", h->rule, L, s->seeds[k], 0);
    }
    const int n_refs = n;
    if (!s->from[0]) job_add(jobs, &n, "base", h->m->base, L, s->seeds[0], 0);
    tern_status st = run_phase(h, "references", jobs, n);
    if (!st && h->rank == 0) st = write_runs(h);
    st = tern_comm_agree(h->o->comm, st);
    if (st || h->res->stopped) goto out;

    job *ft = jobs + n; /* the fine-tunes: the base, then each flip */
    int nf = 0;
    job_add(ft, &nf, "finetune", h->m->base, L, s->seeds[0], 1);
    for (int i = 0; i < L; i++) job_add(ft, &nf, "finetune", h->m->base ^ (1u << i), L, s->seeds[0], 1);
    st = run_phase(h, "sensitivity", ft, nf);
    if (!st && h->rank == 0) st = write_runs(h);
    st = tern_comm_agree(h->o->comm, st);
    if (st || h->res->stopped) goto out;
    if ((st = sensitivities(h, ft, nf))) goto out;
    if (h->rank == 0) st = layers_write(h);
    tern_hybrid_cand *c = NULL;
    int nc = 0;
    if (!(st = tern_comm_agree(h->o->comm, st))) st = tern_hybrid_search(h->m, s, &c, &nc);
    if (st) goto out;
    tern_hybrid_event ev = {.kind = TERN_HYBRID_EV_SEARCH, .phase = "search", .model = h->m, .cands = c, .n_cands = nc};
    if (h->rank == 0 && h->o->cb) h->o->cb(&ev, h->o->user);

    uint32_t *pickd = malloc(sizeof *pickd * (size_t)(nc ? nc : 1));
    if (!pickd) {
        free(c);
        st = tern_error(TERN_ERR_NOMEM, "hybrid: out of memory");
        goto out;
    }
    const int np = pick(h, c, nc, jobs, n_refs, pickd);
    job *cj = ft + nf;
    int ncj = 0;
    for (int i = 0; i < np; i++)
        for (int k = 0; k < s->n_seeds; k++) job_add(cj, &ncj, "candidate", pickd[i], L, s->seeds[k], 0);
    free(pickd);
    st = run_phase(h, "candidates", cj, ncj);
    if (!st && h->rank == 0) st = write_runs(h);
    if (!st && !h->res->stopped && !(st = collect_trained(h))) st = finish(h, c, nc);
    st = tern_comm_agree(h->o->comm, st);
    free(c);
out:
    free(jobs);
    return st;
}

tern_status tern_hybrid_run(const tern_hybrid_spec *spec, const tern_hybrid_opts *opts, tern_hybrid_result *res) {
    memset(res, 0, sizeof *res);
    tern_hybrid_spec s = *spec;
    hyb h = {.s = &s, .o = opts, .res = res, .m = &res->model, .rank = tern_comm_rank(opts->comm),
             .size = tern_comm_size(opts->comm)};
    tern_status st = check_spec(&s);
    if (!st) st = find_layers(&h);
    if (!st) {
        tern_config cfg;
        if (!(st = job_config(&h, NULL, 0, &cfg))) {
            if (s.n_seeds == 0) s.seeds[s.n_seeds++] = cfg.training.seed; /* the config's own */
            if (cfg.dataset.validation <= 0)
                st = tern_error(TERN_ERR_CONFIG, "%s: dataset.validation is 0: the search measures accuracy on a "
                                "validation split; set one (e.g. --set dataset.validation=0.1)", s.config);
            tern_config_free(&cfg);
        }
    }
    st = tern_comm_agree(opts->comm, st);
    if (!st) st = costs(&h);
    if (!st) {
        snprintf(h.base_ckpt, sizeof h.base_ckpt, "%s", s.from);
        if (!s.from[0]) {
            job b;
            job_set(&b, "base", res->model.base, res->model.n_layers, s.seeds[0], 0);
            snprintf(h.base_ckpt, sizeof h.base_ckpt, "%s/runs/%s/last.h5", s.out, b.name);
        }
        st = search(&h);
    }
    free(h.rows);
    return st;
}
