/* test_ops_pool.c — maxpool2d, avgpool2d, global_avgpool.
 *
 * Forwards are compared with references that materialise the padded input
 * (-inf or 0) and scan every window in double: a formulation independent of
 * the op's clipped windows. Backwards are checked by central differences
 * (gradcheck.h); maxpool inputs are distinct values spaced well beyond the
 * finite-difference step so no window's argmax flips during the check. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gradcheck.h"

/* |a - b| <= tol, failing on NaN too (cmocka's assert_float_equal lets a NaN through). */
#define assert_near(a, b, tol)                                                                   \
    do {                                                                                         \
        double a_ = (double)(a), b_ = (double)(b);                                               \
        if (!(fabs(a_ - b_) <= (double)(tol)))                                                   \
            fail_msg("%s = %.9g, want %.9g (tol %g)", #a, a_, b_, (double)(tol));               \
    } while (0)

typedef struct {
    int N, C, H, W, k, stride, pad;
} pool_cfg;

/* Stride/pad combinations the networks use, odd and non-divisible sizes, batch 1. */
static const pool_cfg CFGS[] = {
    {2, 3, 6, 6, 2, 2, 0},  /* k=2 s=2 */
    {1, 2, 7, 5, 3, 1, 1},  /* k=3 s=1 p=1, batch 1, odd sizes */
    {3, 2, 7, 9, 3, 2, 1},  /* k=3 s=2 p=1 */
    {2, 1, 5, 7, 2, 2, 0},  /* non-divisible: last row/column dropped */
    {1, 3, 5, 4, 3, 2, 2},  /* pad = k - 1: corner windows hold one real value */
    {2, 2, 4, 3, 3, 3, 0},  /* stride = k, window fits once across W */
    {1, 1, 1, 1, 1, 1, 0},  /* the degenerate 1x1 identity */
    /* Unpadded planes wide enough for the vectorised fast paths (pad 0; k 2
     * stride 2 has its own): odd widths leave a tail row/column unread. */
    {2, 3, 24, 24, 2, 2, 0},
    {1, 2, 19, 37, 2, 2, 0},
    {1, 2, 17, 21, 3, 2, 0},
};
#define N_CFGS ((int)(sizeof CFGS / sizeof CFGS[0]))

static int out_dim(int in, int k, int s, int p) { return (in + 2 * p - k) / s + 1; }

/* x[i] = a permutation of 0..n-1 times `spacing`, centred: distinct values. */
static void fill_distinct(tern_tensor *x, tern_rng *r, float spacing) {
    int *idx = malloc(x->n * sizeof(int));
    for (size_t i = 0; i < x->n; i++) idx[i] = (int)i;
    tern_rng_shuffle(r, idx, (int)x->n);
    for (size_t i = 0; i < x->n; i++) x->data[i] = spacing * ((float)idx[i] - 0.5f * (float)x->n);
    free(idx);
}

/* Reference pool: copy into a (H+2p, W+2p) buffer filled with `padval`, then
 * take max (is_max) or sum / (k*k) of every k×k window at stride s. */
static void ref_pool(const tern_tensor *x, int k, int s, int p, int is_max, double *y) {
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int PH = H + 2 * p, PW = W + 2 * p, OH = out_dim(H, k, s, p), OW = out_dim(W, k, s, p);
    double *pad = malloc((size_t)PH * PW * sizeof(double));
    for (int nc = 0; nc < N * C; nc++) {
        for (int i = 0; i < PH * PW; i++) pad[i] = is_max ? -INFINITY : 0.0;
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++) pad[(h + p) * PW + (w + p)] = x->data[((size_t)nc * H + h) * W + w];
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                double acc = is_max ? -INFINITY : 0.0;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        double v = pad[(oh * s + i) * PW + (ow * s + j)];
                        acc = is_max ? fmax(acc, v) : acc + v;
                    }
                y[((size_t)nc * OH + oh) * OW + ow] = is_max ? acc : acc / (k * k);
            }
    }
    free(pad);
}

static tern_tensor *fwd_maxpool(tern_ctx *c, tern_tensor **in, void *arg) {
    const pool_cfg *g = arg;
    return tern_maxpool2d(c, in[0], g->k, g->stride, g->pad);
}

static tern_tensor *fwd_avgpool(tern_ctx *c, tern_tensor **in, void *arg) {
    const pool_cfg *g = arg;
    return tern_avgpool2d(c, in[0], g->k, g->stride, g->pad);
}

static tern_tensor *fwd_global(tern_ctx *c, tern_tensor **in, void *arg) {
    (void)arg;
    return tern_global_avgpool(c, in[0]);
}

/* ---- forward against the references ------------------------------------- */

static void check_pool_forward(int is_max) {
    tern_rng r;
    tern_rng_seed(&r, 11);
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    for (int t = 0; t < N_CFGS; t++) {
        const pool_cfg *g = &CFGS[t];
        int shape[4] = {g->N, g->C, g->H, g->W};
        tern_tensor *x = gc_tensor(4, shape, 0);
        gc_fill(x, &r, -2.0f, 1.0f);  /* mostly negative: a 0 from padding would show */
        tern_ctx_reset(&c);
        tern_tensor *y = is_max ? tern_maxpool2d(&c, x, g->k, g->stride, g->pad)
                                : tern_avgpool2d(&c, x, g->k, g->stride, g->pad);
        assert_non_null(y);
        int OH = out_dim(g->H, g->k, g->stride, g->pad), OW = out_dim(g->W, g->k, g->stride, g->pad);
        assert_int_equal(y->ndim, 4);
        assert_int_equal(y->shape[0], g->N);
        assert_int_equal(y->shape[1], g->C);
        assert_int_equal(y->shape[2], OH);
        assert_int_equal(y->shape[3], OW);
        double *ref = malloc(y->n * sizeof(double));
        ref_pool(x, g->k, g->stride, g->pad, is_max, ref);
        for (size_t i = 0; i < y->n; i++) {
            assert_near(y->data[i], ref[i], 2e-6);
        }
        free(ref);
        gc_free(x);
    }
    tern_ctx_free(&c);
}

static void test_maxpool_forward(void **state) {
    (void)state;
    check_pool_forward(1);
}

static void test_avgpool_forward(void **state) {
    (void)state;
    check_pool_forward(0);
}

/* Worked by hand: x = [[-1,-2],[-3,-4]], k=2 s=1 p=1 → 3x3. Max pads with
 * -inf, so the corners are the lone real values, not 0; avg counts the three
 * padding zeros of each corner window in its divisor of 4. */
static void test_pool_padding_by_hand(void **state) {
    (void)state;
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    float xd[4] = {-1, -2, -3, -4};
    int shape[4] = {1, 1, 2, 2};
    tern_tensor x = tern_tensor_view(xd, NULL, 4, shape);
    tern_tensor *ym = tern_maxpool2d(&c, &x, 2, 1, 1);
    tern_tensor *ya = tern_avgpool2d(&c, &x, 2, 1, 1);
    assert_non_null(ym);
    assert_non_null(ya);
    const float want_max[9] = {-1, -1, -2, -1, -1, -2, -3, -3, -4};
    const float want_avg[9] = {-0.25f, -0.75f, -0.5f, -1.0f, -2.5f, -1.5f, -0.75f, -1.75f, -1.0f};
    for (int i = 0; i < 9; i++) {
        assert_near(ym->data[i], want_max[i], 0.0);
        assert_near(ya->data[i], want_avg[i], 1e-7);
    }
    tern_ctx_free(&c);
}

/* Ties go to the first maximum in row-major order (PyTorch's choice), and a
 * NaN in a window propagates to its output instead of being skipped. */
static void test_maxpool_ties_and_nan(void **state) {
    (void)state;
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    int shape[4] = {1, 1, 2, 4};
    tern_tensor *x = gc_tensor(4, shape, 1);
    const float xd[8] = {3, 3, 1, NAN, 3, 3, 2, 5};
    memcpy(x->data, xd, sizeof xd);
    tern_tensor *y = tern_maxpool2d(&c, x, 2, 2, 0);
    assert_non_null(y);
    assert_near(y->data[0], 3.0f, 0.0);
    assert_true(isnan(y->data[1]));
    const float seed[2] = {1.0f, 1.0f};
    assert_int_equal(tern_backward_seeded(&c, y, seed), TERN_OK);
    /* the first 3 of the first window, and the NaN (not the 5 after it) of the second */
    const float want[8] = {1, 0, 0, 1, 0, 0, 0, 0};
    for (int i = 0; i < 8; i++) assert_near(x->grad[i], want[i], 0.0);
    gc_free(x);
    tern_ctx_free(&c);
}

static void test_global_avgpool_forward(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 5);
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    const int shapes[3][4] = {{2, 3, 5, 7}, {1, 4, 1, 1}, {3, 1, 8, 8}};
    for (int t = 0; t < 3; t++) {
        tern_tensor *x = gc_tensor(4, shapes[t], 0);
        gc_fill(x, &r, -1.0f, 3.0f);
        tern_ctx_reset(&c);
        tern_tensor *y = tern_global_avgpool(&c, x);
        assert_non_null(y);
        assert_int_equal(y->ndim, 2);
        assert_int_equal(y->shape[0], shapes[t][0]);
        assert_int_equal(y->shape[1], shapes[t][1]);
        int HW = shapes[t][2] * shapes[t][3];
        for (int nc = 0; nc < shapes[t][0] * shapes[t][1]; nc++) {
            double s = 0.0;
            for (int i = 0; i < HW; i++) s += x->data[nc * HW + i];
            assert_near(y->data[nc], s / HW, 1e-6);
        }
        gc_free(x);
    }
    tern_ctx_free(&c);
}

/* ---- gradients ------------------------------------------------------------ */

static void test_pool_gradcheck(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 23);
    gc_opts o = gc_default_opts();
    o.max_per_input = 0;
    for (int t = 0; t < N_CFGS; t++) {
        pool_cfg g = CFGS[t];
        int shape[4] = {g.N, g.C, g.H, g.W};
        tern_tensor *x = gc_tensor(4, shape, 1);
        fill_distinct(x, &r, 0.05f);  /* gaps of 0.05 > 2h: argmax stays put */
        assert_int_equal(gradcheck(fwd_maxpool, &x, 1, &g, o), 0);
        gc_fill(x, &r, -1.0f, 1.0f);
        assert_int_equal(gradcheck(fwd_avgpool, &x, 1, &g, o), 0);
        gc_free(x);
    }
    const int shapes[3][4] = {{2, 3, 5, 7}, {1, 4, 1, 1}, {1, 2, 3, 3}};
    for (int t = 0; t < 3; t++) {
        tern_tensor *x = gc_tensor(4, shapes[t], 1);
        gc_fill(x, &r, -1.0f, 1.0f);
        assert_int_equal(gradcheck(fwd_global, &x, 1, NULL, o), 0);
        gc_free(x);
    }
}

/* The backward adds to what is already in x->grad (two consumers of x). */
static void test_pool_backward_accumulates(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 31);
    pool_cfg g = {2, 2, 5, 5, 3, 2, 1};
    int shape[4] = {g.N, g.C, g.H, g.W};
    tern_tensor *x = gc_tensor(4, shape, 1);
    fill_distinct(x, &r, 0.1f);
    gc_forward_fn fns[3] = {fwd_maxpool, fwd_avgpool, fwd_global};
    for (int f = 0; f < 3; f++) {
        float *fresh = NULL;
        for (int pass = 0; pass < 2; pass++) {
            tern_ctx c;
            assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
            for (size_t i = 0; i < x->n; i++) x->grad[i] = pass ? 0.5f : 0.0f;
            tern_tensor *y = fns[f](&c, &x, &g);
            assert_non_null(y);
            float *seed = malloc(y->n * sizeof(float));
            for (size_t i = 0; i < y->n; i++) seed[i] = 1.0f + 0.25f * (float)(i % 5);
            assert_int_equal(tern_backward_seeded(&c, y, seed), TERN_OK);
            if (!pass) {
                fresh = malloc(x->n * sizeof(float));
                memcpy(fresh, x->grad, x->n * sizeof(float));
            } else {
                for (size_t i = 0; i < x->n; i++) assert_near(x->grad[i], fresh[i] + 0.5f, 1e-6);
            }
            free(seed);
            tern_ctx_free(&c);
        }
        free(fresh);
    }
    gc_free(x);
}

/* Without recording (inference) nothing is taped and outputs carry no grad. */
static void test_pool_no_grad(void **state) {
    (void)state;
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    tern_ctx_mode(&c, 0, 0);
    int shape[4] = {1, 2, 4, 4};
    tern_tensor *x = gc_tensor(4, shape, 1);
    tern_tensor *a = tern_maxpool2d(&c, x, 2, 2, 0);
    tern_tensor *b = tern_avgpool2d(&c, x, 2, 2, 0);
    tern_tensor *g = tern_global_avgpool(&c, x);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(g);
    assert_null(a->grad);
    assert_null(b->grad);
    assert_null(g->grad);
    assert_int_equal(c.n_nodes, 0);
    gc_free(x);
    tern_ctx_free(&c);
}

/* ---- errors ----------------------------------------------------------------- */

/* Runs one pool on a fresh ctx and expects NULL, `status` and every needle in the message. */
static void expect_fail(int which, int ndim, const int *shape, int k, int s, int p, tern_status status,
                        const char *n1, const char *n2) {
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    tern_tensor *x = gc_tensor(ndim, shape, 0);
    tern_tensor *y = which == 0 ? tern_maxpool2d(&c, x, k, s, p)
                     : which == 1 ? tern_avgpool2d(&c, x, k, s, p)
                                  : tern_global_avgpool(&c, x);
    assert_null(y);
    assert_int_equal(c.status, status);
    const char *msg = tern_errmsg();
    if (!strstr(msg, n1) || (n2 && !strstr(msg, n2))) fail_msg("message '%s' lacks '%s' / '%s'", msg, n1, n2);
    gc_free(x);
    tern_ctx_free(&c);
}

static void test_pool_errors(void **state) {
    (void)state;
    const int s3[3] = {2, 3, 4}, s4[4] = {1, 2, 3, 3}, s2[2] = {4, 5};
    /* Wrong rank. */
    expect_fail(0, 3, s3, 2, 2, 0, TERN_ERR_SHAPE, "maxpool2d", "(2,3,4)");
    expect_fail(1, 3, s3, 2, 2, 0, TERN_ERR_SHAPE, "avgpool2d", "(2,3,4)");
    expect_fail(2, 2, s2, 0, 0, 0, TERN_ERR_SHAPE, "global_avgpool", "(4,5)");
    /* Window larger than the padded input: 3 + 2*1 = 5 < 6. */
    expect_fail(0, 4, s4, 6, 1, 1, TERN_ERR_SHAPE, "maxpool2d", "(1,2,3,3)");
    expect_fail(1, 4, s4, 6, 1, 1, TERN_ERR_SHAPE, "avgpool2d", "(1,2,3,3)");
    /* pad >= k. */
    expect_fail(0, 4, s4, 2, 1, 2, TERN_ERR_ARG, "maxpool2d", "pad 2");
    expect_fail(1, 4, s4, 3, 1, 3, TERN_ERR_ARG, "avgpool2d", "pad 3");
    /* Nonsense window parameters. */
    expect_fail(0, 4, s4, 0, 1, 0, TERN_ERR_ARG, "maxpool2d", "k=0");
    expect_fail(1, 4, s4, 2, 0, 0, TERN_ERR_ARG, "avgpool2d", "stride=0");
    expect_fail(0, 4, s4, 2, 1, -1, TERN_ERR_ARG, "maxpool2d", "pad=-1");
}

/* Errors are sticky: after one op fails, later ops return NULL and the
 * first message stays; a NULL input passes through as NULL. */
static void test_pool_sticky(void **state) {
    (void)state;
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    int shape[4] = {1, 1, 3, 3};
    tern_tensor *x = gc_tensor(4, shape, 0);
    assert_null(tern_maxpool2d(&c, NULL, 2, 2, 0));
    assert_int_equal(c.status, TERN_OK);
    assert_null(tern_avgpool2d(&c, x, 5, 1, 0));
    assert_int_equal(c.status, TERN_ERR_SHAPE);
    assert_null(tern_global_avgpool(&c, x));
    assert_int_equal(c.status, TERN_ERR_SHAPE);
    assert_non_null(strstr(tern_errmsg(), "avgpool2d"));
    gc_free(x);
    tern_ctx_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxpool_forward),
        cmocka_unit_test(test_avgpool_forward),
        cmocka_unit_test(test_pool_padding_by_hand),
        cmocka_unit_test(test_maxpool_ties_and_nan),
        cmocka_unit_test(test_global_avgpool_forward),
        cmocka_unit_test(test_pool_gradcheck),
        cmocka_unit_test(test_pool_backward_accumulates),
        cmocka_unit_test(test_pool_no_grad),
        cmocka_unit_test(test_pool_errors),
        cmocka_unit_test(test_pool_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
