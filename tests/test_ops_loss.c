/* test_ops_loss.c — the training loss tern_xent_loss: label smoothing and
 * distillation against PyTorch fixtures (gen_fixtures.py) and finite
 * differences; plain cross-entropy unchanged; bad arguments refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture_text.h"
#include "gradcheck.h"

typedef struct loss_arg {
    const int *labels;
    tern_xent_cfg cfg;
} loss_arg;

static tern_tensor *f_loss(tern_ctx *c, tern_tensor **in, void *arg) {
    loss_arg *a = arg;
    return tern_xent_loss(c, in[0], a->labels, &a->cfg);
}

/* The fixture's logits, labels and teacher logits into z, y, t and a. */
static void load_case(const fxt *f, tern_tensor **z, int *y, float *t, loss_arg *a) {
    int n = 0, nl = 0, nt = 0;
    const double *zv = fxt_get(f, "logits", &n), *yv = fxt_get(f, "labels", &nl), *tv = fxt_get(f, "teacher", &nt);
    assert_non_null(zv);
    assert_non_null(yv);
    assert_non_null(tv);
    assert_int_equal(n, nt);
    int shape[2] = {nl, n / nl};
    *z = gc_tensor(2, shape, 1);
    for (int i = 0; i < n; i++) (*z)->data[i] = (float)zv[i], t[i] = (float)tv[i];
    for (int i = 0; i < nl; i++) y[i] = (int)yv[i];
    a->labels = y;
    a->cfg = (tern_xent_cfg){.label_smoothing = (float)fxt_get(f, "label_smoothing", NULL)[0],
                             .temperature = (float)fxt_get(f, "temperature", NULL)[0],
                             .weight = (float)fxt_get(f, "weight", NULL)[0]};
    if (a->cfg.weight > 0.0f) a->cfg.teacher = t;
}

static void check_fixture(const char *file) {
    fxt f;
    if (fxt_load(file, &f)) fail_msg("%s: cannot read the fixture", file);
    tern_tensor *z;
    int y[64];
    float t[640];
    loss_arg a;
    load_case(&f, &z, y, t, &a);
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    tern_ctx_mode(&c, 1, 1);
    tern_tensor *loss = tern_xent_loss(&c, z, y, &a.cfg);
    assert_non_null(loss);
    assert_int_equal(tern_backward(&c, loss), TERN_OK);
    int n = 0;
    const double *want = fxt_get(&f, "loss", NULL), *grad = fxt_get(&f, "grad", &n);
    if (fabs(loss->data[0] - want[0]) > 1e-5 * fabs(want[0]) + 1e-6)
        fail_msg("%s: loss %.9g, torch %.9g", file, loss->data[0], want[0]);
    for (int i = 0; i < n; i++)
        if (fabs(z->grad[i] - grad[i]) > 1e-5 * fabs(grad[i]) + 1e-7)
            fail_msg("%s: dloss/dz[%d] = %.9g, torch %.9g", file, i, z->grad[i], grad[i]);
    /* and finite differences through the same op */
    memset(z->grad, 0, z->n * sizeof(float));
    assert_int_equal(gradcheck(f_loss, &z, 1, &a, gc_default_opts()), 0);
    tern_ctx_free(&c);
    gc_free(z);
    fxt_free(&f);
}

static void test_label_smoothing_matches_torch(void **state) {
    (void)state;
    check_fixture("loss_smooth.txt");
}

static void test_distillation_matches_torch(void **state) {
    (void)state;
    check_fixture("loss_kd.txt");
    check_fixture("loss_smooth_kd.txt");
}

/* A zero cfg is tern_softmax_xent, bit for bit; weight 0 with a teacher too. */
static void test_plain_is_unchanged(void **state) {
    (void)state;
    fxt f;
    assert_int_equal(fxt_load("loss_kd.txt", &f), 0);
    tern_tensor *z;
    int y[64];
    float t[640];
    loss_arg a;
    load_case(&f, &z, y, t, &a);
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    float g[3][64], l[3];
    tern_xent_cfg zero = {0}, w0 = {.teacher = t, .temperature = 3.0f, .weight = 0.0f};
    for (int k = 0; k < 3; k++) {
        tern_ctx_reset(&c);
        tern_ctx_mode(&c, 1, 1);
        memset(z->grad, 0, z->n * sizeof(float));
        tern_tensor *loss = k == 0 ? tern_softmax_xent(&c, z, y) : tern_xent_loss(&c, z, y, k == 1 ? &zero : &w0);
        assert_int_equal(tern_backward(&c, loss), TERN_OK);
        l[k] = loss->data[0];
        memcpy(g[k], z->grad, z->n * sizeof(float));
    }
    assert_memory_equal(&l[0], &l[1], sizeof(float));
    assert_memory_equal(g[0], g[1], z->n * sizeof(float));
    assert_memory_equal(g[0], g[2], z->n * sizeof(float));
    assert_true(fabsf(l[0] - l[2]) <= 1e-6f * fabsf(l[0]));
    tern_ctx_free(&c);
    gc_free(z);
    fxt_free(&f);
}

static void expect_fail(tern_ctx *c, tern_tensor *z, const int *y, tern_xent_cfg cfg, const char *part) {
    tern_ctx_reset(c);
    c->status = TERN_OK;
    assert_null(tern_xent_loss(c, z, y, &cfg));
    if (!strstr(tern_errmsg(), part)) fail_msg("message '%s' lacks '%s'", tern_errmsg(), part);
}

static void test_bad_arguments(void **state) {
    (void)state;
    int shape[2] = {2, 3}, y[2] = {0, 2};
    float t[6] = {0};
    tern_tensor *z = gc_tensor(2, shape, 1);
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    expect_fail(&c, z, y, (tern_xent_cfg){.label_smoothing = 1.0f}, "label_smoothing 1 is outside [0, 1)");
    expect_fail(&c, z, y, (tern_xent_cfg){.label_smoothing = NAN}, "label_smoothing");
    expect_fail(&c, z, y, (tern_xent_cfg){.teacher = t, .temperature = 0.0f, .weight = 0.5f}, "temperature 0");
    expect_fail(&c, z, y, (tern_xent_cfg){.teacher = t, .temperature = 2.0f, .weight = 1.5f}, "weight 1.5");
    tern_ctx_free(&c);
    gc_free(z);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_smoothing_matches_torch),
        cmocka_unit_test(test_distillation_matches_torch),
        cmocka_unit_test(test_plain_is_unchanged),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
