/* cmd_profile.c — `tern profile`: per-layer time of a deploy checkpoint on
 * the runtime, its peak memory and its energy, estimated (tern/monitor.h) and
 * measured (RAPL), as tables or as one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

/* What one batch size measured. */
typedef struct prof_run {
    int batch;
    double s_per_sample;         /* median over repeats */
    double *ns;                  /* (n_layers) median ns per sample of each layer */
    size_t planned;
    unsigned char *zskip;        /* (n_layers) copied from the runtime */
    char (*path)[32];            /* (n_layers) tern_runtime_layer_path */
    tern_kernel kernel;          /* the path the runtime ran its packed kernels on */
    double rapl_uj;              /* per inference; < 0 when not measured */
} prof_run;

/* Run x (n samples) through the runtime at `batch`, repeats times, timing
 * every layer; RAPL (when r is not NULL) over the timed repeats. */
static tern_status profile_batch(const tern_deploy *d, const float *x, int n, int batch, int repeats,
                                 tern_runtime_act act, tern_pool *pool, tern_rapl *rapl, prof_run *out) {
    const int L = d->n_layers;
    const size_t per = (size_t)d->in_shape[0] * d->in_shape[1] * d->in_shape[2];
    tern_runtime rt;
    tern_runtime_opts o = {.max_batch = batch, .act = act, .zskip = TERN_RUNTIME_ZSKIP_AUTO, .time_layers = 1,
                           .pool = pool};
    tern_status st = cli_kernel_from_env(&o.kernel);
    if (!st) st = tern_runtime_init_opts(&rt, d, &o);
    if (st) return st;
    double *tot = malloc(sizeof(double) * (size_t)repeats), *lay = malloc(sizeof(double) * (size_t)repeats * L);
    out->batch = batch;
    out->ns = calloc((size_t)L, sizeof(double));
    out->zskip = malloc((size_t)L);
    out->path = malloc(sizeof *out->path * (size_t)L);
    out->planned = tern_runtime_planned_bytes(&rt);
    out->rapl_uj = -1.0;
    if (!tot || !lay || !out->ns || !out->zskip || !out->path) st = tern_error(TERN_ERR_NOMEM, "profile: out of memory");
    if (!st) {
        memcpy(out->zskip, rt.zskip, (size_t)L);
        for (int l = 0; l < L; l++) tern_runtime_layer_path(&rt, l, out->path[l], sizeof out->path[l]);
        out->kernel = rt.kernel;
    }
    /* Repeat -1 warms caches and pages and is not kept. */
    for (int r = -1; !st && r < repeats; r++) {
        if (r == 0 && rapl && tern_rapl_start(rapl)) rapl = NULL;
        memset(rt.layer_ns, 0, sizeof(double) * (size_t)L);
        double t0 = tern_clock_now_s();
        for (int i = 0; !st && i < n; i += batch) {
            int b = n - i < batch ? n - i : batch;
            int shape[4] = {b, d->in_shape[0], d->in_shape[1], d->in_shape[2]};
            tern_tensor xt = tern_tensor_view((float *)x + per * (size_t)i, NULL, 4, shape);
            const float *z;
            st = tern_runtime_forward(&rt, &xt, &z);
        }
        if (r < 0) continue;
        tot[r] = (tern_clock_now_s() - t0) / n;
        for (int l = 0; l < L; l++) lay[(size_t)l * repeats + r] = rt.layer_ns[l] / n;
    }
    double uj;
    if (!st && rapl && !tern_rapl_stop(rapl, &uj)) out->rapl_uj = uj / ((double)repeats * n);
    if (!st) {
        out->s_per_sample = tern_clock_median(tot, repeats);
        for (int l = 0; l < L; l++) out->ns[l] = tern_clock_median(lay + (size_t)l * repeats, repeats);
    }
    free(tot);
    free(lay);
    tern_runtime_free(&rt);
    return st;
}

static void prof_run_free(prof_run *p) {
    free(p->ns);
    free(p->zskip);
    free(p->path);
    memset(p, 0, sizeof *p);
}

static double layer_sum(const prof_run *p, int L) {
    double s = 0.0;
    for (int l = 0; l < L; l++) s += p->ns[l];
    return s;
}

/* Everything profile measured and counted of one model, for the report. */
typedef struct profile {
    const char *model;
    tern_deploy d;
    tern_layer_count *c, t;        /* (n_layers) counts, and their total */
    tern_energy *et, *ef, Et, Ef;  /* (n_layers) estimated energy, ternary and fp32, and the totals */
    char source[128];              /* where the inputs came from */
    int n, repeats;                /* inputs per repeat, repeats */
    int threads;                   /* the runtime's threads (--threads) */
    tern_pool *pool;               /* their pool; NULL for 1 */
    prof_run runs[2];              /* batch 1, then the larger batch (when above 1) */
    int n_runs;
    double rss_kib;                /* peak RSS of the process */
    int have_rapl;                 /* runs[n_runs - 1].rapl_uj holds a measurement */
    char rapl_why[300];            /* why not, when not */
} profile;

/* The inputs: n samples of the model's test set (*n becomes at most its
 * size), or n of random pixels when data is "random"; *x allocated. */
static tern_status load_inputs(const tern_deploy *d, const char *model, const char *data, int *n, float **x,
                               char *source, size_t source_size) {
    const size_t per = (size_t)d->in_shape[0] * d->in_shape[1] * d->in_shape[2];
    tern_status st = TERN_OK;
    if (data && !strcmp(data, "random")) {
        unsigned char *px = malloc(per);
        *x = malloc(sizeof(float) * per * (size_t)*n);
        tern_rng rng;
        tern_rng_seed(&rng, 1);
        for (int i = 0; px && *x && i < *n; i++) {
            for (size_t j = 0; j < per; j++) px[j] = (unsigned char)tern_rng_below(&rng, 256);
            tern_runtime_normalize(d, px, *x + per * (size_t)i);
        }
        if (!px || !*x) st = tern_error(TERN_ERR_NOMEM, "profile: out of memory for %d inputs", *n);
        free(px);
        snprintf(source, source_size, "random pixels");
        return st;
    }
    tern_dataset ds;
    st = cli_load_split(d, model, d->dataset, data, "test", &ds);
    if (!st && (ds.c != d->in_shape[0] || ds.h != d->in_shape[1] || ds.w != d->in_shape[2]))
        st = tern_error(TERN_ERR_SHAPE, "%s test images are (%d,%d,%d) but the model takes (%d,%d,%d)", d->dataset,
                        ds.c, ds.h, ds.w, d->in_shape[0], d->in_shape[1], d->in_shape[2]);
    if (!st) {
        *n = *n < ds.n ? *n : ds.n;
        *x = malloc(sizeof(float) * per * (size_t)*n);
        if (*x) memcpy(*x, ds.images, sizeof(float) * per * (size_t)*n);
        else st = tern_error(TERN_ERR_NOMEM, "profile: out of memory for %d inputs", *n);
    }
    tern_dataset_free(&ds);
    snprintf(source, source_size, "%s test", d->dataset);
    return st;
}

/* Count, estimate and time p->d (loaded; p->n and p->repeats set) on the
 * inputs `data` names, at batch 1 and `batch`; RAPL over the last run. */
static tern_status measure(profile *p, const char *data, int batch, tern_runtime_act act) {
    const int L = p->d.n_layers;
    p->c = cli_count_all(&p->d, &p->t);
    p->et = malloc(sizeof *p->et * (size_t)L);
    p->ef = malloc(sizeof *p->ef * (size_t)L);
    tern_status st = p->c ? TERN_OK : TERN_ERR_NOMEM;
    if (!st && (!p->et || !p->ef)) st = tern_error(TERN_ERR_NOMEM, "profile: out of memory");
    if (!st) st = tern_monitor_energy(p->c, L, &tern_energy_45nm, 0, p->et, &p->Et);
    if (!st) st = tern_monitor_energy(p->c, L, &tern_energy_45nm, 1, p->ef, &p->Ef);
    float *x = NULL;
    if (!st) st = load_inputs(&p->d, p->model, data, &p->n, &x, p->source, sizeof p->source);
    /* RAPL over the large batch's timed loop; the reason when unreadable. */
    tern_rapl rapl;
    p->have_rapl = !st && tern_rapl_open(&rapl, NULL) == TERN_OK;
    if (!st && !p->have_rapl) snprintf(p->rapl_why, sizeof p->rapl_why, "%s", tern_errmsg());
    p->n_runs = batch > 1 ? 2 : 1;
    for (int k = 0; !st && k < p->n_runs; k++)
        st = profile_batch(&p->d, x, p->n, k ? batch : 1, p->repeats, act, p->pool,
                           p->have_rapl && k == p->n_runs - 1 ? &rapl : NULL, &p->runs[k]);
    if (!st && p->have_rapl && p->runs[p->n_runs - 1].rapl_uj < 0) {
        p->have_rapl = 0;
        snprintf(p->rapl_why, sizeof p->rapl_why, "reading failed: %s", tern_errmsg());
    }
    p->rss_kib = tern_clock_peak_rss_bytes() / 1024.0;
    free(x);
    return st;
}

static void print_json(const profile *p) {
    const tern_deploy *d = &p->d;
    const prof_run *runs = p->runs;
    const int n_runs = p->n_runs, L = d->n_layers;
    cli_json_model_head(stdout, p->model, d, 0);
    printf(",\"kernel_path\":\"%s\",\"data\":", tern_kernel_name(runs[0].kernel));
    cli_json_str(stdout, p->source);
    printf(",\"samples\":%d,\"repeats\":%d,\"runs\":[", p->n, p->repeats);
    for (int k = 0; k < n_runs; k++)
        printf("%s{\"batch\":%d,\"us_per_sample\":%.4f,\"samples_per_s\":%.1f,\"planned_bytes\":%zu}", k ? "," : "",
               runs[k].batch, 1e6 * runs[k].s_per_sample, 1.0 / runs[k].s_per_sample, runs[k].planned);
    printf("],\"layers\":[");
    for (int i = 0; i < L; i++) {
        const char *path = runs[0].path[i];
        printf("%s{", i ? "," : "");
        cli_json_layer_head(stdout, d, i, &p->c[i]);
        printf("\"path\":\"%s\",\"zskip\":[", path);
        for (int k = 0; k < n_runs; k++) printf("%s%d", k ? "," : "", runs[k].zskip[i]);
        printf("],\"ns_per_sample\":[");
        for (int k = 0; k < n_runs; k++) printf("%s%.2f", k ? "," : "", runs[k].ns[i]);
        printf("],\"energy_pj\":{\"ternary\":%.2f,\"fp32\":%.2f}}", p->et[i].total_pj, p->ef[i].total_pj);
    }
    printf("],\"memory\":{\"peak_rss_bytes\":%.0f,\"weight_bytes_deploy\":%zu,\"weight_bytes_fp32\":%zu},",
           1024.0 * p->rss_kib, p->t.bytes_deploy, p->t.bytes_fp32);
    const tern_energy *E[2] = {&p->Et, &p->Ef};
    printf("\"energy_estimate_pj\":{");
    for (int k = 0; k < 2; k++)
        printf("%s\"%s\":{\"compute\":%.2f,\"weights\":%.2f,\"activations\":%.2f,\"total\":%.2f}", k ? "," : "",
               k ? "fp32" : "ternary", E[k]->compute_pj, E[k]->weight_pj, E[k]->act_pj, E[k]->total_pj);
    printf(",\"ratio\":%.4f,\"compute_ratio\":%.4f},\"rapl\":", p->Ef.total_pj / p->Et.total_pj,
           p->Ef.compute_pj / p->Et.compute_pj);
    if (p->have_rapl) {
        printf("{\"batch\":%d,\"uj_per_inference\":%.4f}", runs[n_runs - 1].batch, runs[n_runs - 1].rapl_uj);
    } else {
        printf("{\"available\":false,\"reason\":");
        cli_json_str(stdout, p->rapl_why);
        printf("}");
    }
    printf("}\n");
}

static void print_text(const profile *p) {
    const tern_deploy *d = &p->d;
    const prof_run *runs = p->runs;
    const int n_runs = p->n_runs, L = d->n_layers;
    printf("%s: kernel path %s, %d thread%s, %s, %d samples, median of %d repeats\n", p->model,
           tern_kernel_name(runs[0].kernel), p->threads, p->threads > 1 ? "s" : "", p->source, p->n, p->repeats);
    for (int k = 0; k < n_runs; k++)
        printf("  batch %-4d %10.1f samples/s  %9.2f us/sample  (layers sum to %.2f us)\n", runs[k].batch,
               1.0 / runs[k].s_per_sample, 1e6 * runs[k].s_per_sample, 1e-3 * layer_sum(&runs[k], L));
    printf("\n%3s %-10s %-10s %-10s", "#", "name", "type", "path");
    for (int k = 0; k < n_runs; k++) printf("  %9s%-4d  %6s", "us @b", runs[k].batch, "%");
    printf("  %11s %11s\n", "est. nJ", "fp32 nJ");
    for (int i = 0; i < L; i++) {
        const char *path = runs[0].path[i];
        printf("%3d %-10s %-10s %-10s", i, d->layers[i].name, tern_dlayer_type_name(d->layers[i].type), path);
        for (int k = 0; k < n_runs; k++)
            printf("  %13.3f%c %5.1f%%", 1e-3 * runs[k].ns[i], runs[k].zskip[i] ? 'z' : ' ',
                   100.0 * runs[k].ns[i] / layer_sum(&runs[k], L));
        printf("  %11.3f %11.3f\n", 1e-3 * p->et[i].total_pj, 1e-3 * p->ef[i].total_pj);
    }
    printf("(z: the layer ran the zero-skipping kernel at that batch; the runtime picks it per layer where it\n"
           "measured faster, include/tern/runtime.h)\n");
    printf("\nmemory: peak RSS %.1f MiB (the process, with the inputs it loaded); planned buffers",
           p->rss_kib / 1024.0);
    for (int k = 0; k < n_runs; k++) printf(" %.1f KiB at batch %d%s", runs[k].planned / 1024.0, runs[k].batch,
                                            k + 1 < n_runs ? "," : ";");
    printf(" weights %.1f KiB (fp32 %.1f KiB)\n", p->t.bytes_deploy / 1024.0, p->t.bytes_fp32 / 1024.0);
    printf("energy per inference, estimated (Horowitz ISSCC 2014, 45 nm; model in include/tern/monitor.h):\n");
    printf("  ternary %10.2f nJ  (compute %.2f, weights %.2f, activations %.2f)\n", 1e-3 * p->Et.total_pj,
           1e-3 * p->Et.compute_pj, 1e-3 * p->Et.weight_pj, 1e-3 * p->Et.act_pj);
    printf("  fp32    %10.2f nJ  (compute %.2f, weights %.2f, activations %.2f)  -> %.1fx the ternary model"
           " (compute alone %.1fx)\n",
           1e-3 * p->Ef.total_pj, 1e-3 * p->Ef.compute_pj, 1e-3 * p->Ef.weight_pj, 1e-3 * p->Ef.act_pj,
           p->Ef.total_pj / p->Et.total_pj, p->Ef.compute_pj / p->Et.compute_pj);
    if (p->have_rapl)
        printf("energy per inference, measured (RAPL package, whole machine, batch %d): %.2f uJ\n",
               runs[n_runs - 1].batch, runs[n_runs - 1].rapl_uj);
    else
        printf("energy per inference, measured (RAPL): not available: %s\n", p->rapl_why);
}

int cmd_profile(int argc, char **argv) {
    const char *model, *data = NULL;
    int batch = 64, n = 512, repeats = 5, json = 0, act = TERN_RUNTIME_ACT_AUTO, threads = 1;
    const cli_opt options[] = {
        CLI_STR_OPT("--data", &data, "random|DIR", "the inputs: the test set from DIR, or random pixels"),
        CLI_INT_OPT("--batch", &batch, "N", 1, 65536, "the larger batch (64)"),
        CLI_INT_OPT("--n", &n, "SAMPLES", 1, 1 << 20, "inputs per repeat (512)"),
        CLI_INT_OPT("--repeats", &repeats, "R", 1, 1000, "repeats, of which the median is quoted (5)"),
        CLI_CHOICE_OPT("--act", &act, cli_acts, "ternary layers' activations: auto (as trained, default), int8, fp32"),
        CLI_THREADS_OPT(&threads),
        CLI_FLAG_OPT("--json", &json, "one JSON object instead of the tables"),
        CLI_END_OPT,
    };
    const cli_spec spec = {
        .cmd = "profile",
        .usage = "usage: tern profile MODEL.h5 [--data random|DIR] [--batch N] [--n SAMPLES] [--repeats R]\n"
                 "                    [--act auto|int8|fp32] [--threads N] [--json]\n"
                 "\n"
                 "Per-layer inference time of a deploy checkpoint through the runtime (the kernels\n"
                 "eval and bench run), at batch 1 and at batch N (64), medians of R repeats (5) of\n"
                 "SAMPLES inputs (512): the model's test set (datasets/data/DATASET, or --data DIR)\n"
                 "or --data random (uniform random pixels, normalised). Also: peak RSS, planned\n"
                 "buffers, weight bytes, estimated energy per inference (include/tern/monitor.h:\n"
                 "Horowitz ISSCC 2014, 45 nm) beside the fp32-equivalent model, and measured\n"
                 "package energy from RAPL (/sys/class/powercap) where readable.\n",
        .opts = options, .args = &model, .max_args = 1,
    };
    int rc;
    if (!cli_parse(&spec, argc, argv, &rc)) return rc;
    if (!model) return cli_usage(&spec, stderr);
    if (!tern_deploy_probe(model)) {
        tern_error(TERN_ERR_FORMAT, "%s: not a deploy checkpoint; profile runs what the runtime runs: "
                                    "'tern export %s -o MODEL.h5' first ('tern inspect' reads both)", model, model);
        return cli_fail("profile");
    }
    profile p = {.model = model, .n = n, .repeats = repeats, .threads = threads};
    if (cli_pool_init(&p.pool, threads)) return cli_fail("profile");
    if (tern_deploy_load(&p.d, model)) {
        tern_pool_free(p.pool);
        return cli_fail("profile");
    }
    tern_status st = measure(&p, data, batch, (tern_runtime_act)act);
    if (!st && json) print_json(&p);
    else if (!st) print_text(&p);
    for (int k = 0; k < 2; k++) prof_run_free(&p.runs[k]);
    free(p.c);
    free(p.et);
    free(p.ef);
    tern_deploy_free(&p.d);
    tern_pool_free(p.pool);
    return st ? cli_fail("profile") : 0;
}
