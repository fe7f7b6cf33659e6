/* teacher.c — the teacher of knowledge distillation (teacher.h). */
#include "teacher.h"

#include <stdio.h>
#include <string.h>

#include "tern/restore.h"

/* "none", "given (mean 0.1307, std 0.3081)"-like text of a normalisation, for messages. */
static void norm_text(const tern_norm *n, int channels, char *out, size_t size) {
    static const char *const modes[] = {[TERN_NORM_NONE] = "none", [TERN_NORM_GIVEN] = "given",
                                        [TERN_NORM_COMPUTE] = "compute"};
    size_t k = (size_t)snprintf(out, size, "%s", (unsigned)n->mode < 3 ? modes[n->mode] : "unknown");
    for (int c = 0; n->mode == TERN_NORM_GIVEN && c < channels && k < size; c++)
        k += (size_t)snprintf(out + k, size - k, "%s%g/%g", c ? ", " : " mean/std ", n->mean[c], n->std[c]);
}

static int same_norm(const tern_norm *a, const tern_norm *b, int channels) {
    if (a->mode != b->mode) return 0;
    for (int c = 0; a->mode == TERN_NORM_GIVEN && c < channels; c++)
        if (a->mean[c] != b->mean[c] || a->std[c] != b->std[c]) return 0;
    return 1;
}

/* The checkpoint's config and model, checked against the student's. */
static tern_status load_checked(tern_teacher *t, const tern_config *cfg, const tern_model *student, const char *path) {
    tern_config tc;
    tern_status st = tern_restore_config(&tc, path);
    if (st) return tern_error(st, "teacher.checkpoint: %s", tern_errmsg());
    int ch = cfg->dataset.channels;
    if (tc.dataset.channels != ch || !same_norm(&tc.dataset.norm, &cfg->dataset.norm, ch)) {
        char a[128], b[128];
        norm_text(&tc.dataset.norm, tc.dataset.channels, a, sizeof a);
        norm_text(&cfg->dataset.norm, ch, b, sizeof b);
        st = tern_error(TERN_ERR_CONFIG, "teacher.checkpoint: %s was trained on %s with normalize %s, but %s "
                        "normalizes %s with %s; the teacher would see other inputs", path, tc.dataset.name, a,
                        cfg->source, cfg->dataset.name, b);
    }
    if (!st) {
        st = tern_restore_model(&t->model, NULL, &tc, student->in_shape, path);
        if (st) st = tern_error(st, "teacher.checkpoint: %s (for the student's input (%d,%d,%d))", tern_errmsg(),
                                student->in_shape[0], student->in_shape[1], student->in_shape[2]);
    }
    if (!st && t->model.n_classes != student->n_classes)
        st = tern_error(TERN_ERR_CONFIG, "teacher.checkpoint: %s has %d classes, the student %d", path,
                        t->model.n_classes, student->n_classes);
    tern_config_free(&tc);
    return st;
}

tern_status tern_teacher_load(tern_teacher *t, const tern_config *cfg, const tern_model *student, tern_pool *pool) {
    memset(t, 0, sizeof *t);
    t->loss.label_smoothing = cfg->training.label_smoothing;
    if (!cfg->teacher.checkpoint[0]) return TERN_OK;
    t->on = 1;
    t->loss.temperature = cfg->teacher.temperature;
    t->loss.weight = cfg->teacher.weight;
    char path[2 * TERN_CONFIG_PATH_LEN + 8];
    tern_status st = tern_config_teacher_path(cfg, path, sizeof path);
    if (!st) st = load_checked(t, cfg, student, path);
    if (!st) st = tern_ctx_init(&t->ctx, 0);
    t->ctx.pool = pool;
    return st;
}

tern_status tern_teacher_loss(tern_teacher *t, tern_tensor *x, const tern_xent_cfg **loss) {
    *loss = &t->loss;
    if (!t->on) return TERN_OK;
    tern_ctx_reset(&t->ctx);
    tern_ctx_mode(&t->ctx, 0, 0);
    tern_tensor *logits = tern_model_forward(&t->model, &t->ctx, x);
    if (!logits) return t->ctx.status ? tern_error(t->ctx.status, "teacher: %s", tern_errmsg())
                                      : tern_error(TERN_ERR_ARG, "teacher: no logits");
    t->loss.teacher = logits->data;
    return TERN_OK;
}

void tern_teacher_free(tern_teacher *t) {
    if (t->on) {
        tern_model_free(&t->model);
        tern_ctx_free(&t->ctx);
    }
    memset(t, 0, sizeof *t);
}
