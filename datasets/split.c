/* split.c — the validation split: a seeded hold-out of the training split,
 * stratified by class (tern/data.h). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_impl.h"
#include "tern/config.h"
#include "tern/data.h"
#include "tern/rng.h"

/* quota[k] = class k's share of n_val, n_val * count[k] / n, rounded by
 * largest remainder (ties to the lower class) so that the quotas sum to
 * n_val exactly. */
static void class_quotas(const int *count, int n_classes, int n, int n_val, int *quota) {
    int64_t rem[TERN_DATA_MAX_CLASSES];
    int left = n_val;
    for (int k = 0; k < n_classes; k++) {
        int64_t share = (int64_t)n_val * count[k];
        quota[k] = (int)(share / n);
        rem[k] = share % n;
        left -= quota[k];
    }
    for (; left > 0; left--) {
        int best = -1;
        for (int k = 0; k < n_classes; k++)
            if (count[k] && (best < 0 || rem[k] > rem[best])) best = k;
        quota[best]++;
        rem[best] = -1;
    }
}

/* Copy sample i of src to slot j of dst (same image size). */
static void copy_sample(tern_dataset *dst, int j, const tern_dataset *src, int i) {
    size_t per = (size_t)src->c * src->h * src->w;
    memmove(dst->images + per * (size_t)j, src->images + per * (size_t)i, per * sizeof(float));
    dst->labels[j] = src->labels[i];
}

tern_status tern_dataset_split(tern_dataset *ds, int n_val, uint64_t seed, tern_dataset *val) {
    if (n_val < 1 || n_val >= ds->n)
        return tern_error(TERN_ERR_ARG, "split: %d validation samples must be in 1..%d (%s holds %d)", n_val,
                          ds->n - 1, ds->name, ds->n);
    int K = ds->n_classes, count[TERN_DATA_MAX_CLASSES] = {0}, quota[TERN_DATA_MAX_CLASSES];
    for (int i = 0; i < ds->n; i++) count[ds->labels[i]]++;
    class_quotas(count, K, ds->n, n_val, quota);
    for (int k = 0; k < K; k++)
        if (count[k] && (quota[k] < 1 || quota[k] >= count[k]))
            return tern_error(TERN_ERR_ARG, "split: class '%s' has %d of %s's %d samples: too few to give %s of "
                              "%d validation samples and keep one for training", ds->class_names[k], count[k],
                              ds->name, ds->n, quota[k] < 1 ? "one" : "its share", n_val);
    unsigned char *held = calloc((size_t)ds->n, 1);
    int *idx = malloc(sizeof(int) * (size_t)ds->n);
    tern_status st = held && idx ? tern__dataset_alloc(val, "split", n_val, ds->c, ds->h, ds->w)
                                 : tern_error(TERN_ERR_NOMEM, "split: out of memory for %d samples", ds->n);
    if (st) {
        free(held);
        free(idx);
        return st;
    }
    /* Per class, in class order: its samples in file order, shuffled by
     * one RNG stream; the first quota[k] are held out. */
    tern_rng rng;
    tern_rng_seed(&rng, seed);
    for (int k = 0; k < K; k++) {
        int m = 0;
        for (int i = 0; i < ds->n; i++)
            if (ds->labels[i] == k) idx[m++] = i;
        tern_rng_shuffle(&rng, idx, m);
        for (int j = 0; j < quota[k]; j++) held[idx[j]] = 1;
    }
    /* Both parts keep the file's order; the training part is compacted in place. */
    int nv = 0, nt = 0;
    for (int i = 0; i < ds->n; i++) {
        if (held[i]) copy_sample(val, nv++, ds, i);
        else copy_sample(ds, nt++, ds, i);
    }
    free(held);
    free(idx);
    snprintf(val->name, sizeof val->name, "%s", ds->name);
    val->n_classes = K;
    memcpy(val->class_names, ds->class_names, sizeof val->class_names);
    val->normalized = ds->normalized;
    memcpy(val->mean, ds->mean, sizeof val->mean);
    memcpy(val->std, ds->std, sizeof val->std);
    ds->n = nt;
    return TERN_OK;
}

int tern_dataset_validation_count(double validation, int n) {
    return validation < 1.0 ? (int)llround(validation * n) : (int)validation;
}

tern_status tern_dataset_hold_out(const tern_config *cfg, tern_dataset *train, tern_dataset *val, tern_norm *norm) {
    tern_dataset scratch;
    tern_dataset_init(&scratch);
    tern_dataset *v = val ? val : &scratch;
    tern_status st = TERN_OK;
    double want = cfg->dataset.validation;
    if (want > 0.0) {
        int n_val = tern_dataset_validation_count(want, train->n);
        if (n_val < 1 || n_val >= train->n)
            return tern_config_fail(cfg, "dataset.validation", TERN_ERR_CONFIG, "%g %s %d validation samples of the "
                                    "%d in %s's training split; hold out at least one and leave at least one", want,
                                    want < 1.0 ? "makes" : "asks for", n_val, train->n, train->name);
        /* Its own RNG stream ("valid"): the split does not move with the model's init or the shuffle. */
        st = tern_dataset_split(train, n_val, cfg->training.seed ^ 0x76616c6964ULL, v);
        if (st) return tern_config_fail(cfg, "dataset.validation", st, "%s", tern_errmsg());
    }
    /* Statistics come from the part trained on; the other splits get them as given. */
    st = tern_dataset_normalize(train, norm);
    if (!st && norm->mode == TERN_NORM_COMPUTE) {
        norm->mode = TERN_NORM_GIVEN;
        memcpy(norm->mean, train->mean, sizeof norm->mean);
        memcpy(norm->std, train->std, sizeof norm->std);
    }
    if (!st && v->n) st = tern_dataset_normalize(v, norm);
    tern_dataset_free(&scratch);
    return st;
}
