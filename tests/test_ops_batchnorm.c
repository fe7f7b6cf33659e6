/* test_ops_batchnorm.c — batch normalisation, (N,C) and (N,C,H,W).
 *
 * The forward is compared with a naive per-channel reference in double (and
 * one case worked by hand); the running statistics after a training step
 * with hand-computed numbers and with the reference; the backward by central
 * differences for x, gamma and beta in training and in eval mode. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "kernels/norm.h"

/* |a - b| <= tol, failing on NaN too (cmocka's assert_float_equal lets a NaN through). */
#define assert_near(a, b, tol)                                                                   \
    do {                                                                                         \
        double a_ = (double)(a), b_ = (double)(b);                                               \
        if (!(fabs(a_ - b_) <= (double)(tol)))                                                   \
            fail_msg("%s = %.9g, want %.9g (tol %g)", #a, a_, b_, (double)(tol));               \
    } while (0)

/* x, gamma, beta with grads; running statistics as grad-less buffers. */
typedef struct {
    tern_tensor *x, *gamma, *beta, *rmean, *rvar;
    int N, C, HW;
} bn_case;

typedef struct {
    tern_tensor *rmean, *rvar;
    float momentum, eps;
} bn_arg;

static bn_case bn_make(int ndim, const int *shape, tern_rng *r) {
    bn_case b;
    b.N = shape[0];
    b.C = shape[1];
    b.HW = ndim == 4 ? shape[2] * shape[3] : 1;
    b.x = gc_tensor(ndim, shape, 1);
    b.gamma = gc_tensor(1, &b.C, 1);
    b.beta = gc_tensor(1, &b.C, 1);
    b.rmean = gc_tensor(1, &b.C, 0);
    b.rvar = gc_tensor(1, &b.C, 0);
    /* An offset and a scale per channel, so the statistics differ by channel. */
    gc_fill(b.x, r, -1.0f, 1.0f);
    for (int n = 0; n < b.N; n++)
        for (int c = 0; c < b.C; c++)
            for (int i = 0; i < b.HW; i++) {
                float *v = &b.x->data[((size_t)n * b.C + c) * b.HW + i];
                *v = *v * (0.5f + 0.4f * (float)c) + 0.3f * (float)c - 0.2f;
            }
    gc_fill(b.gamma, r, 0.5f, 1.5f);
    gc_fill(b.beta, r, -0.5f, 0.5f);
    gc_fill(b.rmean, r, -0.3f, 0.3f);
    gc_fill(b.rvar, r, 0.5f, 2.0f);
    return b;
}

static void bn_free(bn_case *b) {
    gc_free(b->x);
    gc_free(b->gamma);
    gc_free(b->beta);
    gc_free(b->rmean);
    gc_free(b->rvar);
}

static float xat(const bn_case *b, int n, int c, int i) { return b->x->data[((size_t)n * b->C + c) * b->HW + i]; }

/* Reference per channel: mean, biased and unbiased variance, in double. */
static void ref_stats(const bn_case *b, int c, double *mean, double *var_b, double *var_u) {
    double M = (double)b->N * b->HW, s = 0.0, ss = 0.0;
    for (int n = 0; n < b->N; n++)
        for (int i = 0; i < b->HW; i++) s += xat(b, n, c, i);
    *mean = s / M;
    for (int n = 0; n < b->N; n++)
        for (int i = 0; i < b->HW; i++) ss += (xat(b, n, c, i) - *mean) * (xat(b, n, c, i) - *mean);
    *var_b = ss / M;
    *var_u = ss / (M - 1.0);
}

static tern_tensor *fwd_bn(tern_ctx *c, tern_tensor **in, void *arg) {
    bn_arg *a = arg;
    return tern_batchnorm(c, in[0], in[1], in[2], a->rmean, a->rvar, a->momentum, a->eps);
}

/* ---- forward -------------------------------------------------------------- */

/* Training normalises with batch statistics and moves the running ones;
 * eval normalises with the running ones and leaves them alone. */
static void check_forward(int ndim, const int *shape, int training) {
    tern_rng r;
    tern_rng_seed(&r, 100 + (uint64_t)shape[0] * 7 + (uint64_t)ndim);
    bn_case b = bn_make(ndim, shape, &r);
    const float momentum = 0.1f, eps = 1e-5f;
    float *rm0 = malloc(b.C * sizeof(float)), *rv0 = malloc(b.C * sizeof(float));
    memcpy(rm0, b.rmean->data, b.C * sizeof(float));
    memcpy(rv0, b.rvar->data, b.C * sizeof(float));
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    tern_ctx_mode(&c, training, 1);
    tern_tensor *y = tern_batchnorm(&c, b.x, b.gamma, b.beta, b.rmean, b.rvar, momentum, eps);
    assert_non_null(y);
    assert_true(tern_tensor_same_shape(y, b.x));
    for (int ch = 0; ch < b.C; ch++) {
        double mean, var_b, var_u;
        if (training) {
            ref_stats(&b, ch, &mean, &var_b, &var_u);
            assert_near(b.rmean->data[ch], 0.9 * rm0[ch] + 0.1 * mean, 1e-6);
            assert_near(b.rvar->data[ch], 0.9 * rv0[ch] + 0.1 * var_u, 1e-6);
        } else {
            mean = rm0[ch];
            var_b = rv0[ch];
            assert_near(b.rmean->data[ch], rm0[ch], 0.0);
            assert_near(b.rvar->data[ch], rv0[ch], 0.0);
        }
        for (int n = 0; n < b.N; n++)
            for (int i = 0; i < b.HW; i++) {
                double want = b.gamma->data[ch] * (xat(&b, n, ch, i) - mean) / sqrt(var_b + eps) + b.beta->data[ch];
                assert_near(y->data[((size_t)n * b.C + ch) * b.HW + i], want, 2e-6);
            }
    }
    free(rm0);
    free(rv0);
    tern_ctx_free(&c);
    bn_free(&b);
}

static void test_bn_forward_train(void **state) {
    (void)state;
    const int s2[2] = {5, 3}, s2b[2] = {2, 4}, s4[4] = {3, 4, 3, 5}, s4b[4] = {1, 3, 2, 3};
    check_forward(2, s2, 1);
    check_forward(2, s2b, 1);  /* N = 2: the smallest batch training accepts */
    check_forward(4, s4, 1);
    check_forward(4, s4b, 1);  /* batch 1 is fine when H*W > 1 */
}

static void test_bn_forward_eval(void **state) {
    (void)state;
    const int s2[2] = {5, 3}, s2b[2] = {1, 3}, s4[4] = {3, 4, 3, 5}, s4b[4] = {1, 2, 1, 1};
    check_forward(2, s2, 0);
    check_forward(2, s2b, 0);  /* batch 1 is fine in eval */
    check_forward(4, s4, 0);
    check_forward(4, s4b, 0);
}

/* Worked by hand: x = [[1,2],[3,6],[5,10]] (N=3, C=2), momentum 0.1,
 * running (0, 1). Channel 0: mean 3, deviations -2,0,2: biased var 8/3,
 * unbiased 4. Channel 1: mean 6, deviations -4,0,4: biased 32/3, unbiased 16.
 * Both give xhat = (-1, 0, 1) * sqrt(3/2) = (-1.2247449, 0, 1.2247449).
 * running_mean = 0.1 * (3, 6) = (0.3, 0.6);
 * running_var = 0.9 + 0.1 * (4, 16) = (1.3, 2.5).
 * gamma (2, 0.5), beta (0.1, -1): y0 = 2 xhat + 0.1, y1 = 0.5 xhat - 1. */
static void test_bn_by_hand(void **state) {
    (void)state;
    float xd[6] = {1, 2, 3, 6, 5, 10}, gd[2] = {2.0f, 0.5f}, bd[2] = {0.1f, -1.0f};
    float rm[2] = {0, 0}, rv[2] = {1, 1};
    int sx[2] = {3, 2}, sc = 2;
    tern_tensor x = tern_tensor_view(xd, NULL, 2, sx), g = tern_tensor_view(gd, NULL, 1, &sc),
                b = tern_tensor_view(bd, NULL, 1, &sc), m = tern_tensor_view(rm, NULL, 1, &sc),
                v = tern_tensor_view(rv, NULL, 1, &sc);
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    tern_tensor *y = tern_batchnorm(&c, &x, &g, &b, &m, &v, 0.1f, 1e-5f);
    assert_non_null(y);
    const float want[6] = {-2.3494897f, -1.6123724f, 0.1f, -1.0f, 2.5494897f, -0.3876276f};
    for (int i = 0; i < 6; i++) assert_near(y->data[i], want[i], 2e-5); /* eps moves the 6th digit */
    assert_near(rm[0], 0.3, 1e-7);
    assert_near(rm[1], 0.6, 1e-7);
    assert_near(rv[0], 1.3, 1e-6);
    assert_near(rv[1], 2.5, 1e-6);
    /* A second step moves them again from there: 0.9 * 0.3 + 0.1 * 3 = 0.57. */
    tern_ctx_reset(&c);
    assert_non_null(tern_batchnorm(&c, &x, &g, &b, &m, &v, 0.1f, 1e-5f));
    assert_near(rm[0], 0.57, 1e-6);
    assert_near(rv[1], 0.9 * 2.5 + 1.6, 1e-6);
    tern_ctx_free(&c);
}

/* A large common offset must not cancel the variance (two-pass statistics). */
static void test_bn_large_offset(void **state) {
    (void)state;
    int sx[2] = {4, 1}, sc = 1;
    float xd[4] = {1000.0f, 1001.0f, 1002.0f, 1003.0f}, gd = 1.0f, bd = 0.0f, rm = 0.0f, rv = 1.0f;
    tern_tensor x = tern_tensor_view(xd, NULL, 2, sx), g = tern_tensor_view(&gd, NULL, 1, &sc),
                b = tern_tensor_view(&bd, NULL, 1, &sc), m = tern_tensor_view(&rm, NULL, 1, &sc),
                v = tern_tensor_view(&rv, NULL, 1, &sc);
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    tern_tensor *y = tern_batchnorm(&c, &x, &g, &b, &m, &v, 1.0f, 1e-5f);
    assert_non_null(y);
    /* mean 1001.5, biased var 1.25, unbiased 5/3. */
    const double inv = 1.0 / sqrt(1.25 + 1e-5);
    for (int i = 0; i < 4; i++) assert_near(y->data[i], (i - 1.5) * inv, 1e-5);
    assert_near(rm, 1001.5, 1e-4);
    assert_near(rv, 5.0 / 3.0, 1e-6);
    tern_ctx_free(&c);
}

/* ---- backward ------------------------------------------------------------- */

static void check_grad(int ndim, const int *shape, int training) {
    tern_rng r;
    tern_rng_seed(&r, 300 + (uint64_t)shape[0] * 13 + (uint64_t)ndim);
    bn_case b = bn_make(ndim, shape, &r);
    bn_arg a = {b.rmean, b.rvar, 0.1f, 1e-5f};
    tern_tensor *in[3] = {b.x, b.gamma, b.beta};
    gc_opts o = gc_default_opts();
    o.training = training;
    o.max_per_input = 0;
    int bad = gradcheck(fwd_bn, in, 3, &a, o);
    if (bad) fail_msg("batchnorm %s ndim %d N %d: %d gradient mismatches", training ? "train" : "eval", ndim,
                      shape[0], bad);
    bn_free(&b);
}

static void test_bn_gradcheck_train(void **state) {
    (void)state;
    const int s2[2] = {5, 3}, s2b[2] = {3, 1}, s4[4] = {3, 2, 3, 5}, s4b[4] = {1, 3, 2, 3};
    check_grad(2, s2, 1);
    check_grad(2, s2b, 1);
    check_grad(4, s4, 1);
    check_grad(4, s4b, 1);
}

static void test_bn_gradcheck_eval(void **state) {
    (void)state;
    const int s2[2] = {5, 3}, s2b[2] = {1, 4}, s4[4] = {3, 2, 3, 5}, s4b[4] = {1, 3, 2, 3};
    check_grad(2, s2, 0);
    check_grad(2, s2b, 0);
    check_grad(4, s4, 0);
    check_grad(4, s4b, 0);
}

/* Runs forward + backward with a fixed seed; grads land in b's tensors. */
static void run_fb(bn_case *b, int training, int x_grad, int affine_grad) {
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    tern_ctx_mode(&c, training, 1);
    float *xg = b->x->grad, *gg = b->gamma->grad, *bg = b->beta->grad;
    if (!x_grad) b->x->grad = NULL;
    if (!affine_grad) b->gamma->grad = b->beta->grad = NULL;
    tern_tensor *y = tern_batchnorm(&c, b->x, b->gamma, b->beta, b->rmean, b->rvar, 0.1f, 1e-5f);
    assert_non_null(y);
    float *seed = malloc(y->n * sizeof(float));
    for (size_t i = 0; i < y->n; i++) seed[i] = (float)((i * 37) % 11) / 5.0f - 1.0f;
    float *rm = malloc(b->C * sizeof(float)), *rv = malloc(b->C * sizeof(float));
    memcpy(rm, b->rmean->data, b->C * sizeof(float));
    memcpy(rv, b->rvar->data, b->C * sizeof(float));
    assert_int_equal(tern_backward_seeded(&c, y, seed), TERN_OK);
    /* The backward never moves the running statistics. */
    assert_memory_equal(rm, b->rmean->data, b->C * sizeof(float));
    assert_memory_equal(rv, b->rvar->data, b->C * sizeof(float));
    b->x->grad = xg;
    b->gamma->grad = gg;
    b->beta->grad = bg;
    free(rm);
    free(rv);
    free(seed);
    tern_ctx_free(&c);
}

/* One forward + backward of batchnorm then relu, as two ops (fused = 0) or
 * as tern_batchnorm_relu (fused = 1); returns y (caller frees) and leaves the
 * grads in b's tensors, zeroed first. */
static float *run_bn_relu(bn_case *b, int training, int fused) {
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    tern_ctx_mode(&c, training, 1);
    memset(b->x->grad, 0, b->x->n * sizeof(float));
    memset(b->gamma->grad, 0, b->C * sizeof(float));
    memset(b->beta->grad, 0, b->C * sizeof(float));
    float rm[16], rv[16];
    memcpy(rm, b->rmean->data, b->C * sizeof(float));
    memcpy(rv, b->rvar->data, b->C * sizeof(float));
    tern_tensor *y = fused ? tern_batchnorm_relu(&c, b->x, b->gamma, b->beta, b->rmean, b->rvar, 0.1f, 1e-5f)
                           : tern_relu(&c, tern_batchnorm(&c, b->x, b->gamma, b->beta, b->rmean, b->rvar, 0.1f, 1e-5f));
    assert_non_null(y);
    float *seed = malloc(y->n * sizeof(float)), *out = malloc(y->n * sizeof(float));
    for (size_t i = 0; i < y->n; i++) seed[i] = (float)((i * 37) % 11) / 5.0f - 1.0f;
    memcpy(out, y->data, y->n * sizeof(float));
    assert_int_equal(tern_backward_seeded(&c, y, seed), TERN_OK);
    /* both runs start from the same running statistics */
    memcpy(b->rmean->data, rm, b->C * sizeof(float));
    memcpy(b->rvar->data, rv, b->C * sizeof(float));
    free(seed);
    tern_ctx_free(&c);
    return out;
}

/* The fused op gives the two ops' bits: y, dx, dgamma, dbeta; (N,C,H,W) and
 * (N,C), training and eval. About half the outputs are clipped, so the mask
 * matters. */
static void test_bn_relu_fused_equals_two_ops(void **state) {
    (void)state;
    const int s4[4] = {5, 3, 4, 6}, s2[2] = {9, 7};
    for (int layout = 0; layout < 2; layout++)
        for (int training = 0; training < 2; training++) {
            tern_rng r;
            tern_rng_seed(&r, 21);
            bn_case b = layout ? bn_make(2, s2, &r) : bn_make(4, s4, &r);
            size_t nx = b.x->n;
            float *y0 = run_bn_relu(&b, training, 0);
            float *dx0 = malloc(nx * sizeof(float)), dg0[16], db0[16];
            memcpy(dx0, b.x->grad, nx * sizeof(float));
            memcpy(dg0, b.gamma->grad, b.C * sizeof(float));
            memcpy(db0, b.beta->grad, b.C * sizeof(float));
            float *y1 = run_bn_relu(&b, training, 1);
            assert_memory_equal(y0, y1, nx * sizeof(float));
            assert_memory_equal(dx0, b.x->grad, nx * sizeof(float));
            assert_memory_equal(dg0, b.gamma->grad, b.C * sizeof(float));
            assert_memory_equal(db0, b.beta->grad, b.C * sizeof(float));
            size_t zeros = 0;
            for (size_t i = 0; i < nx; i++) zeros += y1[i] == 0.0f;
            assert_true(zeros > nx / 5 && zeros < nx * 4 / 5);
            free(y0), free(y1), free(dx0);
            bn_free(&b);
        }
}

/* Backward accumulates into existing grads, and an input without a grad is
 * skipped without changing what the others receive. */
static void test_bn_backward_accumulates_and_skips(void **state) {
    (void)state;
    const int s4[4] = {2, 3, 2, 3};
    for (int training = 0; training <= 1; training++) {
        tern_rng r;
        tern_rng_seed(&r, 9);
        bn_case b = bn_make(4, s4, &r);
        size_t nx = b.x->n, nc = (size_t)b.C;
        float *dx = malloc(nx * sizeof(float)), *dg = malloc(nc * sizeof(float)), *db = malloc(nc * sizeof(float));
        run_fb(&b, training, 1, 1);
        memcpy(dx, b.x->grad, nx * sizeof(float));
        memcpy(dg, b.gamma->grad, nc * sizeof(float));
        memcpy(db, b.beta->grad, nc * sizeof(float));
        /* Again on top: every grad doubles. */
        run_fb(&b, training, 1, 1);
        for (size_t i = 0; i < nx; i++) assert_near(b.x->grad[i], 2.0f * dx[i], 1e-5);
        for (size_t i = 0; i < nc; i++) assert_near(b.gamma->grad[i], 2.0f * dg[i], 1e-5);
        for (size_t i = 0; i < nc; i++) assert_near(b.beta->grad[i], 2.0f * db[i], 1e-5);
        /* Only x: gamma and beta are frozen. */
        memset(b.x->grad, 0, nx * sizeof(float));
        memset(b.gamma->grad, 0, nc * sizeof(float));
        memset(b.beta->grad, 0, nc * sizeof(float));
        run_fb(&b, training, 1, 0);
        for (size_t i = 0; i < nx; i++) assert_near(b.x->grad[i], dx[i], 1e-6);
        for (size_t i = 0; i < nc; i++) assert_near(b.gamma->grad[i], 0.0, 0.0);
        /* Only gamma and beta: x is an input image. */
        memset(b.x->grad, 0, nx * sizeof(float));
        run_fb(&b, training, 0, 1);
        for (size_t i = 0; i < nx; i++) assert_near(b.x->grad[i], 0.0, 0.0);
        for (size_t i = 0; i < nc; i++) assert_near(b.gamma->grad[i], dg[i], 1e-6);
        for (size_t i = 0; i < nc; i++) assert_near(b.beta->grad[i], db[i], 1e-6);
        free(dx);
        free(dg);
        free(db);
        bn_free(&b);
    }
}

/* In eval the statistics are constants: dx = gamma g / sqrt(running_var + eps). */
static void test_bn_eval_grad_by_formula(void **state) {
    (void)state;
    const int s2[2] = {3, 2};
    tern_rng r;
    tern_rng_seed(&r, 4);
    bn_case b = bn_make(2, s2, &r);
    run_fb(&b, 0, 1, 1);
    for (int n = 0; n < 3; n++)
        for (int ch = 0; ch < 2; ch++) {
            size_t i = (size_t)n * 2 + ch;
            float g = (float)((i * 37) % 11) / 5.0f - 1.0f;
            assert_near(b.x->grad[i], b.gamma->data[ch] * g / sqrt(b.rvar->data[ch] + 1e-5), 1e-6);
        }
    bn_free(&b);
}

/* ---- errors --------------------------------------------------------------- */

static void expect_bn_fail(int training, tern_tensor *x, tern_tensor *g, tern_tensor *be, tern_tensor *rm,
                           tern_tensor *rv, float momentum, float eps, tern_status status, const char *n1,
                           const char *n2) {
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    tern_ctx_mode(&c, training, 1);
    assert_null(tern_batchnorm(&c, x, g, be, rm, rv, momentum, eps));
    assert_int_equal(c.status, status);
    const char *msg = tern_errmsg();
    if (!strstr(msg, "batchnorm") || !strstr(msg, n1) || (n2 && !strstr(msg, n2)))
        fail_msg("message '%s' lacks 'batchnorm' / '%s' / '%s'", msg, n1, n2);
    tern_ctx_free(&c);
}

static void test_bn_errors(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 1);
    const int s2[2] = {5, 3}, s3[3] = {2, 3, 4}, s4[4] = {1, 3, 1, 1}, s1[2] = {1, 3}, c4 = 4;
    bn_case b = bn_make(2, s2, &r);
    float rm0[3], rv0[3];
    memcpy(rm0, b.rmean->data, sizeof rm0);
    memcpy(rv0, b.rvar->data, sizeof rv0);
    tern_tensor *x3 = gc_tensor(3, s3, 0), *x4 = gc_tensor(4, s4, 0), *x1 = gc_tensor(2, s1, 0);
    tern_tensor *v4 = gc_tensor(1, &c4, 0);
    int s13[2] = {1, 3};
    tern_tensor *m13 = gc_tensor(2, s13, 0);
    /* Wrong rank. */
    expect_bn_fail(1, x3, b.gamma, b.beta, b.rmean, b.rvar, 0.1f, 1e-5f, TERN_ERR_SHAPE, "(2,3,4)", "(N,C)");
    /* Parameter sizes that do not match C. */
    expect_bn_fail(1, b.x, v4, b.beta, b.rmean, b.rvar, 0.1f, 1e-5f, TERN_ERR_SHAPE, "gamma (4)", "(5,3)");
    expect_bn_fail(1, b.x, b.gamma, v4, b.rmean, b.rvar, 0.1f, 1e-5f, TERN_ERR_SHAPE, "beta (4)", "(5,3)");
    expect_bn_fail(0, b.x, b.gamma, b.beta, v4, b.rvar, 0.1f, 1e-5f, TERN_ERR_SHAPE, "running_mean (4)", "(5,3)");
    expect_bn_fail(0, b.x, b.gamma, b.beta, b.rmean, v4, 0.1f, 1e-5f, TERN_ERR_SHAPE, "running_var (4)", "(5,3)");
    expect_bn_fail(1, b.x, m13, b.beta, b.rmean, b.rvar, 0.1f, 1e-5f, TERN_ERR_SHAPE, "gamma (1,3)", "need (3)");
    /* Missing buffers. */
    expect_bn_fail(1, b.x, b.gamma, b.beta, NULL, b.rvar, 0.1f, 1e-5f, TERN_ERR_ARG, "running_mean", "NULL");
    /* One value per channel in training: (1,C) and (1,C,1,1). */
    expect_bn_fail(1, x1, b.gamma, b.beta, b.rmean, b.rvar, 0.1f, 1e-5f, TERN_ERR_SHAPE,
                   "training needs more than one value per channel", "(1,3)");
    expect_bn_fail(1, x4, b.gamma, b.beta, b.rmean, b.rvar, 0.1f, 1e-5f, TERN_ERR_SHAPE,
                   "training needs more than one value per channel", "(1,3,1,1)");
    /* Hyperparameters. */
    expect_bn_fail(1, b.x, b.gamma, b.beta, b.rmean, b.rvar, 1.5f, 1e-5f, TERN_ERR_ARG, "momentum", NULL);
    expect_bn_fail(1, b.x, b.gamma, b.beta, b.rmean, b.rvar, -0.1f, 1e-5f, TERN_ERR_ARG, "momentum", NULL);
    expect_bn_fail(1, b.x, b.gamma, b.beta, b.rmean, b.rvar, 0.1f, 0.0f, TERN_ERR_ARG, "eps", NULL);
    expect_bn_fail(1, b.x, b.gamma, b.beta, b.rmean, b.rvar, 0.1f, NAN, TERN_ERR_ARG, "eps", NULL);
    /* A rejected call leaves the running statistics untouched. */
    assert_memory_equal(rm0, b.rmean->data, sizeof rm0);
    assert_memory_equal(rv0, b.rvar->data, sizeof rv0);
    /* Sticky: a NULL input passes through as NULL without a new error. */
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    assert_null(tern_batchnorm(&c, NULL, b.gamma, b.beta, b.rmean, b.rvar, 0.1f, 1e-5f));
    assert_int_equal(c.status, TERN_OK);
    tern_ctx_free(&c);
    gc_free(x3);
    gc_free(x4);
    gc_free(x1);
    gc_free(v4);
    gc_free(m13);
    bn_free(&b);
}

/* The loops of kernels/norm.h against their scalar twins, bit for bit:
 * sums over 1..9 planes (groups of four and a partial one) of 1..37 and
 * LeNet-5's 64 and 576 floats (tails of 0..3), planes interleaved as a
 * channel's are; maps over lengths with every tail of 16, on values among
 * +0, -0, negatives and a NaN, so a twin that rounds, clips or propagates
 * otherwise shows. On a CPU without AVX-512 the dispatch is the scalar twin
 * and the test checks that the two entry points agree. */
static void test_bn_loops_match_scalar_twins(void **state) {
    (void)state;
    if (!tern_kernel_available(TERN_KERNEL_AVX512)) print_message("no AVX-512: the dispatch runs the scalar twins\n");
    const size_t hws[] = {1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 31, 37, 64, 576};
    enum { CH = 3, MAXN = 9, MAXHW = 576 };
    static float x[MAXN * CH * MAXHW], g[MAXN * CH * MAXHW], y0[MAXHW], y1[MAXHW];
    tern_rng r;
    tern_rng_seed(&r, 11);
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++) {
        x[i] = 3.0f * tern_rng_normal(&r) + 0.7f;
        g[i] = tern_rng_normal(&r);
    }
    for (size_t h = 0; h < sizeof hws / sizeof hws[0]; h++)
        for (size_t n = 1; n <= MAXN; n++) {
            const size_t hw = hws[h], stride = CH * hw;
            const float *xc = x + hw; /* channel 1 of CH */
            for (int power = 1; power <= 2; power++) {
                double a = tern_kernel_bn_sum_f32(xc, stride, n, hw, 0.6875, power);
                double b = tern_kernel_bn_sum_f32_ref(xc, stride, n, hw, 0.6875, power);
                if (memcmp(&a, &b, sizeof a))
                    fail_msg("bn_sum power %d, %zu planes of %zu: %.17g, scalar twin %.17g", power, n, hw, a, b);
            }
            double sg[2], sgx[2];
            tern_kernel_bn_grad_sums_f32(xc, g + hw, stride, n, hw, 0.3f, 1.7f, &sg[0], &sgx[0]);
            tern_kernel_bn_grad_sums_f32_ref(xc, g + hw, stride, n, hw, 0.3f, 1.7f, &sg[1], &sgx[1]);
            if (memcmp(&sg[0], &sg[1], sizeof(double)) || memcmp(&sgx[0], &sgx[1], sizeof(double)))
                fail_msg("bn_grad_sums, %zu planes of %zu: %.17g %.17g, scalar twin %.17g %.17g", n, hw, sg[0], sgx[0],
                         sg[1], sgx[1]);
        }
    const float special[] = {0.0f, -0.0f, -1.5f, 0.25f, NAN, 2.0f, -0.0625f};
    for (size_t i = 0; i < MAXHW; i++)
        if (i % 5 == 0) x[i] = special[(i / 5) % 7];
    for (size_t len = 1; len <= MAXHW; len += len < 40 ? 1 : 67)
        for (int relu = 0; relu <= 1; relu++) {
            /* mean 0, scale 1, beta -0 let -0 and NaN through to the relu */
            const float mean = relu ? 0.0f : 0.4f, scale = relu ? 1.0f : 1.3f, beta = relu ? -0.0f : -0.2f;
            memset(y0, 0x55, sizeof y0);
            memset(y1, 0x55, sizeof y1);
            tern_kernel_bn_norm_f32(x, len, mean, scale, beta, relu, y0);
            tern_kernel_bn_norm_f32_ref(x, len, mean, scale, beta, relu, y1);
            if (memcmp(y0, y1, sizeof y0)) fail_msg("bn_norm relu %d, length %zu: not the scalar twin's bits", relu, len);
            for (size_t i = 0; i < MAXHW; i++) y0[i] = y1[i] = g[i];
            tern_kernel_relu_mask_f32(x, y0, len);
            tern_kernel_relu_mask_f32_ref(x, y1, len);
            if (memcmp(y0, y1, sizeof y0)) fail_msg("relu_mask, length %zu: not the scalar twin's bits", len);
            for (size_t i = 0; i < MAXHW; i++) y0[i] = y1[i] = g[MAXHW + i];
            tern_kernel_bn_dx_f32(x, g, len, 0.9f, 0.1f, 1.1f, -0.05f, 0.3f, y0);
            tern_kernel_bn_dx_f32_ref(x, g, len, 0.9f, 0.1f, 1.1f, -0.05f, 0.3f, y1);
            if (memcmp(y0, y1, sizeof y0)) fail_msg("bn_dx, length %zu: not the scalar twin's bits", len);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bn_forward_train),
        cmocka_unit_test(test_bn_forward_eval),
        cmocka_unit_test(test_bn_by_hand),
        cmocka_unit_test(test_bn_large_offset),
        cmocka_unit_test(test_bn_gradcheck_train),
        cmocka_unit_test(test_bn_gradcheck_eval),
        cmocka_unit_test(test_bn_backward_accumulates_and_skips),
        cmocka_unit_test(test_bn_eval_grad_by_formula),
        cmocka_unit_test(test_bn_relu_fused_equals_two_ops),
        cmocka_unit_test(test_bn_errors),
        cmocka_unit_test(test_bn_loops_match_scalar_twins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
