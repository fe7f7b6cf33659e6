/* for_config.c — the data of a config and of a training checkpoint: both
 * splits normalised as training normalises them, and a checkpoint's model
 * with its test split (tern/data.h). Rebuilding the model is restore's
 * (tern/restore.h); reading the images is this layer's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern/config.h"
#include "tern/data.h"
#include "tern/restore.h"

tern_status tern_dataset_load_for_config(const tern_config *cfg, const char *dir, tern_dataset *train,
                                         tern_dataset *val, tern_dataset *test) {
    char own[TERN_CONFIG_PATH_LEN];
    tern_status st = TERN_OK;
    if (!dir) {
        if ((st = tern_config_dataset_dir(cfg, own, sizeof own))) return st;
        dir = own;
    }
    /* Statistics computed on the training split are applied to the test
     * split as given values. */
    tern_norm norm = cfg->dataset.norm;
    tern_dataset scratch;
    tern_dataset *tr = train ? train : &scratch;
    tern_dataset_init(&scratch);
    if (train || val || norm.mode == TERN_NORM_COMPUTE) {
        st = tern_dataset_load_opts(tr, cfg->dataset.name, dir, "train", NULL, &cfg->dataset.opts);
        if (!st) st = tern_dataset_hold_out(cfg, tr, val, &norm);
    }
    tern_dataset_free(&scratch);
    if (st) return st;
    if ((st = tern_dataset_load_opts(test, cfg->dataset.name, dir, "test", &norm, &cfg->dataset.opts))) return st;
    /* The model is built for one image size: a split of another size would
     * fail only at its first forward, after the run directory is written. */
    if (train && (train->c != test->c || train->h != test->h || train->w != test->w))
        return tern_error(TERN_ERR_SHAPE, "%s: the training images are (%d,%d,%d) but the test images are (%d,%d,%d); "
                          "both splits of a dataset must have one size", dir, train->c, train->h, train->w, test->c,
                          test->h, test->w);
    return TERN_OK;
}

/* The (C,H,W) the checkpoint's model was trained on, when it is not that of
 * `data` (eval --data on other images): the config's own dataset's size, or
 * the published one, whichever the checkpoint loads into. 1 and shape when
 * found. */
static int trained_shape(const tern_config *cfg, const char *ckpt, const tern_dataset *data, int shape[3]) {
    int cand[2][3];
    int n = 0;
    char dir[TERN_CONFIG_PATH_LEN];
    tern_dataset own;
    tern_dataset_init(&own);
    if (!tern_config_dataset_dir(cfg, dir, sizeof dir) && !tern_dataset_load_opts(&own, cfg->dataset.name, dir, "test", NULL, &cfg->dataset.opts)) {
        cand[n][0] = own.c, cand[n][1] = own.h, cand[n][2] = own.w;
        n++;
    }
    tern_dataset_free(&own);
    tern_config_input_shape(cfg, cand[n++]);
    for (int i = 0; i < n; i++) {
        if (cand[i][0] == data->c && cand[i][1] == data->h && cand[i][2] == data->w) continue;
        tern_model m;
        if (tern_restore_model(&m, NULL, cfg, cand[i], ckpt)) continue;
        tern_model_free(&m);
        memcpy(shape, cand[i], sizeof cand[i]);
        return 1;
    }
    return 0;
}

tern_status tern_dataset_load_checkpoint(const char *ckpt, const char *dir, tern_config *cfg, tern_model *m,
                                         tern_dataset *test) {
    tern_dataset_init(test);
    memset(m, 0, sizeof *m);
    tern_status st = tern_restore_config(cfg, ckpt);
    if (st) return st;
    st = tern_dataset_load_for_config(cfg, dir, NULL, NULL, test);
    if (st == TERN_ERR_IO && !dir && !strstr(tern_errmsg(), "--data"))
        st = tern_error(st, "%s; give its directory with --data DIR", tern_errmsg());
    if (!st) st = tern_restore_model(m, NULL, cfg, (const int[3]){test->c, test->h, test->w}, ckpt);
    if (!st && m->n_classes != test->n_classes)
        st = tern_error(TERN_ERR_CONFIG, "%s: the model has %d outputs but %s has %d classes", cfg->source,
                        m->n_classes, cfg->dataset.name, test->n_classes);
    if (st == TERN_ERR_FORMAT && dir) {
        /* Another architecture, or images of another size in dir? */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", tern_errmsg()); /* the probe records its own errors */
        int shape[3];
        if (trained_shape(cfg, ckpt, test, shape))
            st = tern_error(TERN_ERR_SHAPE, "%s: --data %s holds (%d,%d,%d) images but the checkpoint's model was "
                            "trained on (%d,%d,%d); point --data at images of that size", ckpt, dir, test->c, test->h,
                            test->w, shape[0], shape[1], shape[2]);
        else
            st = tern_error(st, "%s", msg);
    }
    if (st) {
        tern_model_free(m);
        tern_dataset_free(test);
        tern_config_free(cfg);
    }
    return st;
}
