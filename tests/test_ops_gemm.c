/* test_ops_gemm.c — linear and conv2d: forward against direct loops written
 * here (not im2col, not BLAS), gradients by central finite differences,
 * accumulation, memory that does not grow with the batch, and bad shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "kernels/fp32.h"
#include "ops/ops_impl.h"

/* ---- helpers -------------------------------------------------------------- */

static tern_tensor *rand_tensor(tern_rng *r, int ndim, const int *shape, int with_grad) {
    tern_tensor *t = gc_tensor(ndim, shape, with_grad);
    gc_fill(t, r, -1.0f, 1.0f);
    return t;
}

/* |got - want| <= atol + rtol |want| everywhere; prints the first misses. */
static int count_mismatch(const char *what, const float *got, const double *want, size_t n, double atol,
                          double rtol) {
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= atol + rtol * fabs(want[i]))) {
            if (bad < 5) fprintf(stderr, "%s [%zu]: got %.7g want %.7g\n", what, i, (double)got[i], want[i]);
            bad++;
        }
    }
    return bad;
}

/* y[i,o] = b[o] + sum_k x[i,k] w[o,k], in double. */
static double *naive_linear(const tern_tensor *x, const tern_tensor *w, const tern_tensor *b) {
    int N = x->shape[0], I = x->shape[1], O = w->shape[0];
    double *y = malloc((size_t)N * O * sizeof *y);
    for (int i = 0; i < N; i++)
        for (int o = 0; o < O; o++) {
            double s = b ? b->data[o] : 0.0;
            for (int k = 0; k < I; k++) s += (double)x->data[i * I + k] * w->data[o * I + k];
            y[i * O + o] = s;
        }
    return y;
}

/* The definition of cross-correlation with zero padding, one output at a time:
 * y[n,o,oh,ow] = b[o] + sum_{c,kh,kw} w[o,c,kh,kw] x[n,c,oh s - p + kh, ow s - p + kw]. */
static double *naive_conv(const tern_tensor *x, const tern_tensor *w, const tern_tensor *b, int s, int p, int *OH,
                          int *OW) {
    int N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int O = w->shape[0], KH = w->shape[2], KW = w->shape[3];
    int oh_n = (H + 2 * p - KH) / s + 1, ow_n = (W + 2 * p - KW) / s + 1;
    double *y = malloc((size_t)N * O * oh_n * ow_n * sizeof *y);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++)
            for (int oh = 0; oh < oh_n; oh++)
                for (int ow = 0; ow < ow_n; ow++) {
                    double acc = b ? b->data[o] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int kh = 0; kh < KH; kh++)
                            for (int kw = 0; kw < KW; kw++) {
                                int ih = oh * s - p + kh, iw = ow * s - p + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                acc += (double)w->data[((o * C + c) * KH + kh) * KW + kw] *
                                       x->data[((n * C + c) * H + ih) * W + iw];
                            }
                    y[((n * O + o) * oh_n + oh) * ow_n + ow] = acc;
                }
    *OH = oh_n;
    *OW = ow_n;
    return y;
}

/* ---- linear ---------------------------------------------------------------- */

typedef struct {
    int N, I, O, bias;
    int x_grad, w_grad; /* which inputs carry a grad buffer */
} lin_case;

static const lin_case lin_cases[] = {
    {3, 7, 5, 1, 1, 1},   /* odd sizes */
    {1, 7, 5, 1, 1, 1},   /* batch 1 */
    {3, 7, 5, 0, 1, 1},   /* no bias */
    {1, 1, 1, 1, 1, 1},   /* scalar everything */
    {4, 13, 1, 1, 0, 1},  /* first layer: x has no grad */
    {2, 9, 6, 1, 1, 0},   /* frozen weight: only x and b */
    {17, 33, 19, 1, 1, 1} /* past the GEMM kernels' small blocks */
};

static tern_tensor *lin_fwd(tern_ctx *c, tern_tensor **in, void *arg) {
    (void)arg;
    return tern_linear(c, in[0], in[1], in[2]);
}

static void lin_make(const lin_case *k, tern_rng *r, tern_tensor **in) {
    int xs[2] = {k->N, k->I}, ws[2] = {k->O, k->I}, bs[1] = {k->O};
    in[0] = rand_tensor(r, 2, xs, k->x_grad);
    in[1] = rand_tensor(r, 2, ws, k->w_grad);
    in[2] = k->bias ? rand_tensor(r, 1, bs, 1) : NULL;
}

static void lin_free(tern_tensor **in) {
    for (int i = 0; i < 3; i++) gc_free(in[i]);
}

static void test_linear_forward_matches_naive(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 1);
    for (size_t t = 0; t < sizeof lin_cases / sizeof *lin_cases; t++) {
        const lin_case *k = &lin_cases[t];
        tern_tensor *in[3];
        lin_make(k, &r, in);
        tern_ctx c;
        assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
        tern_tensor *y = tern_linear(&c, in[0], in[1], in[2]);
        assert_non_null(y);
        assert_int_equal(y->ndim, 2);
        assert_int_equal(y->shape[0], k->N);
        assert_int_equal(y->shape[1], k->O);
        double *want = naive_linear(in[0], in[1], in[2]);
        assert_int_equal(count_mismatch("linear y", y->data, want, y->n, 1e-5, 1e-5), 0);
        free(want);
        tern_ctx_free(&c);
        lin_free(in);
    }
}

static void test_linear_gradcheck(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 2);
    gc_opts o = gc_default_opts();
    o.max_per_input = 0; /* every coordinate: the cases are small */
    for (size_t t = 0; t < sizeof lin_cases / sizeof *lin_cases; t++) {
        const lin_case *k = &lin_cases[t];
        tern_tensor *in[3];
        lin_make(k, &r, in);
        int bad = gradcheck(lin_fwd, in, 3, NULL, o);
        if (bad) fprintf(stderr, "linear case %zu (N=%d I=%d O=%d bias=%d)\n", t, k->N, k->I, k->O, k->bias);
        assert_int_equal(bad, 0);
        lin_free(in);
    }
}

/* ---- conv2d ---------------------------------------------------------------- */

typedef struct {
    int N, C, H, W, O, KH, KW, stride, pad, bias;
    int x_grad, w_grad;
} conv_case;

static const conv_case conv_cases[] = {
    /*N  C  H  W  O KH KW  s  p  b  dx dW */
    {2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 1},   /* the common 3x3 "same" conv, odd sizes */
    {1, 1, 5, 5, 1, 3, 3, 1, 0, 1, 1, 1},   /* batch 1, one channel in and out */
    {2, 2, 9, 7, 3, 3, 3, 2, 1, 1, 1, 1},   /* stride 2 downsampling */
    {1, 3, 11, 8, 2, 5, 5, 3, 2, 1, 1, 1},  /* 5x5, stride 3, pad 2 */
    {2, 3, 5, 6, 4, 1, 1, 1, 0, 1, 1, 1},   /* 1x1 stride 1: no columns at all */
    {2, 3, 7, 7, 2, 1, 1, 2, 0, 1, 1, 1},   /* 1x1 stride 2: columns again */
    {1, 2, 3, 4, 2, 1, 1, 1, 1, 1, 1, 1},   /* 1x1 with pad: a border of bias only */
    {1, 2, 6, 7, 3, 2, 3, 1, 0, 1, 1, 1},   /* rectangular 2x3 kernel */
    {2, 2, 7, 9, 2, 2, 3, 2, 2, 0, 1, 1},   /* rectangular, stride 2, pad 2, no bias */
    {3, 1, 3, 3, 2, 5, 5, 1, 1, 1, 1, 1},   /* kernel exactly the padded input: 1x1 output */
    {1, 2, 5, 5, 3, 3, 3, 3, 2, 1, 1, 1},   /* stride 3 with pad 2 */
    {2, 2, 4, 3, 3, 3, 3, 1, 2, 1, 1, 1},   /* pad 2 on a 3x3: corners see only padding */
    {2, 3, 6, 5, 2, 3, 3, 1, 1, 1, 0, 1},   /* first layer: x has no grad */
    {1, 2, 5, 7, 3, 3, 3, 2, 1, 1, 1, 0},   /* frozen weight: only x and b */
    {37, 1, 4, 4, 2, 3, 3, 1, 1, 1, 1, 1},  /* several chunks of samples and a short last one */
    {18, 2, 3, 3, 2, 1, 1, 1, 0, 1, 1, 1},  /* 1x1 without columns: a sample a chunk */
};

typedef struct {
    int stride, pad;
} conv_arg;

static tern_tensor *conv_fwd(tern_ctx *c, tern_tensor **in, void *arg) {
    const conv_arg *a = arg;
    return tern_conv2d(c, in[0], in[1], in[2], a->stride, a->pad);
}

static void conv_make(const conv_case *k, tern_rng *r, tern_tensor **in) {
    int xs[4] = {k->N, k->C, k->H, k->W}, ws[4] = {k->O, k->C, k->KH, k->KW}, bs[1] = {k->O};
    in[0] = rand_tensor(r, 4, xs, k->x_grad);
    in[1] = rand_tensor(r, 4, ws, k->w_grad);
    in[2] = k->bias ? rand_tensor(r, 1, bs, 1) : NULL;
}

static void conv_check_forward(const conv_case *k, tern_rng *r) {
    tern_tensor *in[3];
    conv_make(k, r, in);
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    tern_tensor *y = tern_conv2d(&c, in[0], in[1], in[2], k->stride, k->pad);
    assert_non_null(y);
    int OH, OW;
    double *want = naive_conv(in[0], in[1], in[2], k->stride, k->pad, &OH, &OW);
    assert_int_equal(y->ndim, 4);
    assert_int_equal(y->shape[0], k->N);
    assert_int_equal(y->shape[1], k->O);
    assert_int_equal(y->shape[2], OH);
    assert_int_equal(y->shape[3], OW);
    assert_int_equal(count_mismatch("conv2d y", y->data, want, y->n, 1e-5, 1e-5), 0);
    free(want);
    tern_ctx_free(&c);
    lin_free(in);
}

static void test_conv2d_forward_matches_naive(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 3);
    for (size_t t = 0; t < sizeof conv_cases / sizeof *conv_cases; t++) conv_check_forward(&conv_cases[t], &r);
    /* Wider channels, so the GEMMs leave their edge cases. */
    const conv_case big[] = {
        {3, 16, 12, 12, 24, 3, 3, 1, 1, 1, 1, 1},
        {2, 8, 15, 13, 16, 3, 3, 2, 1, 1, 1, 1},
        {2, 20, 6, 6, 12, 1, 1, 1, 0, 1, 1, 1},
    };
    for (size_t t = 0; t < sizeof big / sizeof *big; t++) conv_check_forward(&big[t], &r);
}

static void test_conv2d_gradcheck(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 4);
    gc_opts o = gc_default_opts();
    o.max_per_input = 0; /* every coordinate */
    for (size_t t = 0; t < sizeof conv_cases / sizeof *conv_cases; t++) {
        const conv_case *k = &conv_cases[t];
        tern_tensor *in[3];
        conv_make(k, &r, in);
        conv_arg a = {k->stride, k->pad};
        int bad = gradcheck(conv_fwd, in, 3, &a, o);
        if (bad)
            fprintf(stderr, "conv2d case %zu: x (%d,%d,%d,%d) w (%d,%d,%d,%d) stride %d pad %d bias %d\n", t, k->N,
                    k->C, k->H, k->W, k->O, k->C, k->KH, k->KW, k->stride, k->pad, k->bias);
        assert_int_equal(bad, 0);
        lin_free(in);
    }
}

/* ---- backward accumulates -------------------------------------------------- */

/* Record the op once, seed out->grad, call its backward twice through its
 * definition: every input grad must be exactly twice what one call gave. */
static void check_backward_doubles(const tern_op_def *op, tern_tensor **in, const conv_arg *a) {
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    tern_tensor *y = op == &tern_op_linear ? tern_linear(&c, in[0], in[1], in[2])
                                          : tern_conv2d(&c, in[0], in[1], in[2], a->stride, a->pad);
    assert_non_null(y);
    assert_non_null(y->grad);
    assert_int_equal(c.n_nodes, 1);
    assert_ptr_equal(c.nodes[0].op, op);
    tern_rng r;
    tern_rng_seed(&r, 99);
    for (size_t i = 0; i < y->n; i++) y->grad[i] = 2.0f * tern_rng_uniform(&r) - 1.0f;
    for (int k = 0; k < 3; k++)
        if (in[k]) memset(in[k]->grad, 0, in[k]->n * sizeof(float));

    op->backward(&c.nodes[0]);
    double *once[3];
    for (int k = 0; k < 3; k++) {
        if (!in[k]) continue;
        once[k] = malloc(in[k]->n * sizeof(double));
        double mag = 0.0;
        for (size_t i = 0; i < in[k]->n; i++) {
            once[k][i] = 2.0 * in[k]->grad[i];
            mag += fabs(once[k][i]);
        }
        assert_true(mag > 0.0); /* a zero gradient would double trivially */
    }
    op->backward(&c.nodes[0]);
    for (int k = 0; k < 3; k++) {
        if (!in[k]) continue;
        assert_int_equal(count_mismatch("twice", in[k]->grad, once[k], in[k]->n, 1e-5, 1e-5), 0);
        free(once[k]);
    }
    tern_ctx_free(&c);
}

static void test_backward_accumulates(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 5);
    tern_tensor *in[3];
    lin_case lk = {3, 7, 5, 1, 1, 1};
    lin_make(&lk, &r, in);
    check_backward_doubles(&tern_op_linear, in, NULL);
    lin_free(in);

    conv_case cases[] = {
        {2, 3, 7, 5, 4, 3, 3, 2, 1, 1, 1, 1}, /* through the column buffer */
        {2, 3, 5, 6, 4, 1, 1, 1, 0, 1, 1, 1}, /* 1x1: dx accumulated by sgemm */
    };
    for (int t = 0; t < 2; t++) {
        conv_make(&cases[t], &r, in);
        conv_arg a = {cases[t].stride, cases[t].pad};
        check_backward_doubles(&tern_op_conv2d, in, &a);
        lin_free(in);
    }
}

/* ---- memory and modes ------------------------------------------------------ */

static size_t aligned(size_t bytes) { return (bytes + TERN_ARENA_ALIGN - 1) / TERN_ARENA_ALIGN * TERN_ARENA_ALIGN; }

/* Arena bytes one training conv2d takes beyond nothing. */
static size_t conv_arena_bytes(int N, size_t *out_floats) {
    tern_rng r;
    tern_rng_seed(&r, 6);
    conv_case k = {N, 16, 16, 16, 8, 3, 3, 1, 1, 1, 1, 1};
    tern_tensor *in[3];
    conv_make(&k, &r, in);
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    size_t before = c.arena.used;
    tern_tensor *y = tern_conv2d(&c, in[0], in[1], in[2], 1, 1);
    assert_non_null(y);
    size_t used = c.arena.used - before;
    *out_floats = y->n;
    tern_ctx_free(&c);
    lin_free(in);
    return used;
}

/* The saved state is bounded whatever the batch: the columns of one chunk
 * of samples per thread, never of the batch, and at most 8 dW partial sums
 * (one per chunk below that). A chunk here is 7 samples: the most whose
 * (K,P) = (144,256) columns fit conv2d's 256K floats. Past 8 chunks, going
 * from N=128 to N=256 may cost only the bigger output and its grad; below,
 * the partials grow by one (O,K) per chunk. */
static void test_conv2d_memory_independent_of_batch(void **state) {
    (void)state;
    size_t y1, y32, y96, y128, y256;
    size_t m1 = conv_arena_bytes(1, &y1);
    size_t m32 = conv_arena_bytes(32, &y32);
    size_t m96 = conv_arena_bytes(96, &y96);
    size_t m128 = conv_arena_bytes(128, &y128);
    size_t m256 = conv_arena_bytes(256, &y256);
    size_t ok = 8 * 144 * sizeof(float); /* one (O,K) partial */
    assert_int_equal(m256 - m128, 2 * (aligned(y256 * sizeof(float)) - aligned(y128 * sizeof(float))));
    /* 5 chunks of 7 -> 14 chunks, capped at 8 partials */
    assert_int_equal(m96 - m32, 2 * (aligned(y96 * sizeof(float)) - aligned(y32 * sizeof(float))) + aligned(8 * ok) -
                                    aligned(5 * ok));
    /* one chunk's columns and outputs: 7 samples of (K,P) = (144,256) and (8,256), and 8 partials */
    size_t state128 = m128 - 2 * aligned(y128 * sizeof(float));
    assert_true(state128 <= 7 * (144 + 8) * 256 * sizeof(float) + 8 * ok + 4096);
    assert_true(state128 > m1 - 2 * aligned(y1 * sizeof(float)));
}

/* Eval without grad: nothing on the tape, no grad buffers, same numbers. */
static void test_eval_mode_records_nothing(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 8);
    conv_case k = {2, 3, 7, 5, 4, 3, 3, 1, 1, 1, 1, 1};
    tern_tensor *in[3];
    conv_make(&k, &r, in);
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    tern_ctx_mode(&c, 0, 0);
    tern_tensor *y = tern_conv2d(&c, in[0], in[1], in[2], 1, 1);
    assert_non_null(y);
    assert_null(y->grad);
    int OH, OW;
    double *want = naive_conv(in[0], in[1], in[2], 1, 1, &OH, &OW);
    assert_int_equal(count_mismatch("conv2d eval", y->data, want, y->n, 1e-5, 1e-5), 0);
    free(want);
    int flat[2] = {2, 4 * OH * OW};
    tern_tensor *yf = tern_reshape(&c, y, 2, flat);
    int ws[2] = {3, flat[1]};
    tern_tensor *w2 = rand_tensor(&r, 2, ws, 1);
    tern_tensor *z = tern_linear(&c, yf, w2, NULL);
    assert_non_null(z);
    assert_null(z->grad);
    assert_int_equal(c.n_nodes, 0);
    assert_int_equal(c.status, TERN_OK);
    gc_free(w2);
    tern_ctx_free(&c);
    lin_free(in);
}

/* ---- bad input --------------------------------------------------------------- */

/* The call failed with `code`, and the message names every `want` substring. */
static void expect_fail(tern_ctx *c, tern_tensor *y, tern_status code, const char *w1, const char *w2,
                        const char *w3) {
    assert_null(y);
    assert_int_equal(c->status, code);
    const char *msg = tern_errmsg();
    const char *want[3] = {w1, w2, w3};
    for (int i = 0; i < 3; i++)
        if (want[i] && !strstr(msg, want[i])) fail_msg("message \"%s\" lacks \"%s\"", msg, want[i]);
    tern_ctx_reset(c);
}

static void test_linear_errors(void **state) {
    (void)state;
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    int xs[2] = {3, 7}, ws[2] = {5, 6}, wok[2] = {5, 7}, bs[1] = {4}, x4[4] = {2, 3, 4, 4};
    tern_tensor *x = gc_tensor(2, xs, 1), *w = gc_tensor(2, ws, 1), *wg = gc_tensor(2, wok, 1);
    tern_tensor *b = gc_tensor(1, bs, 1), *x_img = gc_tensor(4, x4, 1);

    expect_fail(&c, tern_linear(&c, x, w, NULL), TERN_ERR_SHAPE, "linear", "(3,7)", "(5,6)");
    expect_fail(&c, tern_linear(&c, x, wg, b), TERN_ERR_SHAPE, "linear", "bias (4)", "(5,7)");
    expect_fail(&c, tern_linear(&c, x_img, wg, NULL), TERN_ERR_SHAPE, "linear", "(2,3,4,4)", NULL);
    expect_fail(&c, tern_linear(&c, x, x_img, NULL), TERN_ERR_SHAPE, "linear", "weight (2,3,4,4)", NULL);

    /* A NULL input (an earlier op failed) gives NULL without a new error. */
    assert_null(tern_linear(&c, NULL, wg, NULL));
    assert_int_equal(c.status, TERN_OK);
    /* Errors are sticky: after one, even valid calls return NULL and the
     * first message stays. */
    assert_null(tern_linear(&c, x, w, NULL));
    assert_null(tern_linear(&c, x, wg, NULL));
    assert_int_equal(c.status, TERN_ERR_SHAPE);
    assert_non_null(strstr(tern_errmsg(), "(5,6)"));
    tern_ctx_reset(&c);
    assert_non_null(tern_linear(&c, x, wg, NULL));

    gc_free(x);
    gc_free(w);
    gc_free(wg);
    gc_free(b);
    gc_free(x_img);
    tern_ctx_free(&c);
}

static void test_conv2d_errors(void **state) {
    (void)state;
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    int xs[4] = {8, 3, 32, 32}, ws[4] = {16, 1, 3, 3}, wok[4] = {16, 3, 3, 3}, bs[1] = {15};
    int small[4] = {1, 3, 2, 2}, w5[4] = {4, 3, 5, 5}, w14[4] = {4, 3, 1, 4}, x2[2] = {8, 3};
    tern_tensor *x = gc_tensor(4, xs, 1), *w = gc_tensor(4, ws, 1), *wg = gc_tensor(4, wok, 1);
    tern_tensor *b = gc_tensor(1, bs, 1), *xs_t = gc_tensor(4, small, 1), *wbig = gc_tensor(4, w5, 1);
    tern_tensor *wwide = gc_tensor(4, w14, 1), *xflat = gc_tensor(2, x2, 1);

    expect_fail(&c, tern_conv2d(&c, x, w, NULL, 1, 1), TERN_ERR_SHAPE, "conv2d", "(8,3,32,32)", "(16,1,3,3)");
    expect_fail(&c, tern_conv2d(&c, x, wg, b, 1, 1), TERN_ERR_SHAPE, "conv2d", "bias (15)", "(16,3,3,3)");
    /* 5x5 on 2x2 padded by 1 is 4x4: too small. */
    expect_fail(&c, tern_conv2d(&c, xs_t, wbig, NULL, 1, 1), TERN_ERR_SHAPE, "conv2d", "(1,3,2,2)", "(4,3,5,5)");
    /* Only the width is too small: 1x4 on 2x2 without padding. */
    expect_fail(&c, tern_conv2d(&c, xs_t, wwide, NULL, 1, 0), TERN_ERR_SHAPE, "conv2d", "(1,3,2,2)", "(4,3,1,4)");
    expect_fail(&c, tern_conv2d(&c, xflat, wg, NULL, 1, 0), TERN_ERR_SHAPE, "conv2d", "(8,3)", NULL);
    expect_fail(&c, tern_conv2d(&c, x, xflat, NULL, 1, 0), TERN_ERR_SHAPE, "conv2d", "weight (8,3)", NULL);
    expect_fail(&c, tern_conv2d(&c, x, wg, NULL, 0, 1), TERN_ERR_ARG, "conv2d", "stride 0", NULL);
    expect_fail(&c, tern_conv2d(&c, x, wg, NULL, 1, -1), TERN_ERR_ARG, "conv2d", "pad -1", NULL);
    /* A pad so large that OH OW overflows sgemm's int: refused, not allocated. */
    expect_fail(&c, tern_conv2d(&c, xs_t, wwide, NULL, 1, 1 << 29), TERN_ERR_SHAPE, "conv2d", "(1,3,2,2)",
                "too large");

    /* The same 1x4 kernel fits once padding widens the input to 4. */
    tern_tensor *y = tern_conv2d(&c, xs_t, wwide, NULL, 1, 1);
    assert_non_null(y);
    assert_int_equal(y->shape[2], 4);
    assert_int_equal(y->shape[3], 1);
    assert_null(tern_conv2d(&c, NULL, wg, NULL, 1, 1));
    assert_int_equal(c.status, TERN_OK);

    gc_free(x);
    gc_free(w);
    gc_free(wg);
    gc_free(b);
    gc_free(xs_t);
    gc_free(wbig);
    gc_free(wwide);
    gc_free(xflat);
    tern_ctx_free(&c);
}

/* col2im, which conv2d's backward calls, against its scalar twin bit for
 * bit: valid stride-1 convs on images of W <= 16 (the AVX-512 twin's, LeNet-5's
 * 12x12 among them) and a few it leaves to the scalar one, columns rows ld
 * apart with a gap, added onto a dx that is not zero, with +0 and -0 among
 * the entries so that an add in another order or an unmasked lane shows. */
static void test_col2im_matches_scalar_twin(void **state) {
    (void)state;
    const int geo[][6] = {
        /* C, H, W, KH, KW, stride */
        {32, 12, 12, 5, 5, 1}, {1, 1, 1, 1, 1, 1}, {3, 5, 16, 2, 3, 1}, {2, 16, 16, 16, 16, 1},
        {4, 7, 9, 3, 1, 1},    {2, 9, 17, 3, 3, 1}, {3, 10, 10, 3, 3, 2}, {1, 4, 6, 4, 6, 1},
    };
    enum { MAXF = 32 * 25 * 64 + 64 };
    static float dcol[MAXF * 2], dx0[32 * 16 * 17], dx1[32 * 16 * 17];
    tern_rng r;
    tern_rng_seed(&r, 5);
    for (size_t i = 0; i < sizeof dcol / sizeof dcol[0]; i++)
        dcol[i] = i % 7 == 0 ? (i % 2 ? -0.0f : 0.0f) : tern_rng_normal(&r);
    for (size_t g = 0; g < sizeof geo / sizeof geo[0]; g++) {
        const int C = geo[g][0], H = geo[g][1], W = geo[g][2], KH = geo[g][3], KW = geo[g][4], st = geo[g][5];
        const int OH = (H - KH) / st + 1, OW = (W - KW) / st + 1;
        const size_t ld = (size_t)OH * OW + 3, n = (size_t)C * H * W;
        assert_true((size_t)C * KH * KW * ld <= sizeof dcol / sizeof dcol[0] && n <= sizeof dx0 / sizeof dx0[0]);
        for (size_t i = 0; i < n; i++) dx0[i] = dx1[i] = i % 5 == 0 ? -0.0f : tern_rng_normal(&r);
        tern_kernel_col2im_add_ld_f32(dcol, ld, C, H, W, KH, KW, st, 0, OH, OW, dx0);
        tern_kernel_col2im_add_ld_f32_ref(dcol, ld, C, H, W, KH, KW, st, 0, OH, OW, dx1);
        if (memcmp(dx0, dx1, n * sizeof(float)))
            fail_msg("col2im C=%d %dx%d kernel %dx%d stride %d: not the scalar twin's bits", C, H, W, KH, KW, st);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_forward_matches_naive),
        cmocka_unit_test(test_linear_gradcheck),
        cmocka_unit_test(test_conv2d_forward_matches_naive),
        cmocka_unit_test(test_conv2d_gradcheck),
        cmocka_unit_test(test_backward_accumulates),
        cmocka_unit_test(test_conv2d_memory_independent_of_batch),
        cmocka_unit_test(test_eval_mode_records_nothing),
        cmocka_unit_test(test_linear_errors),
        cmocka_unit_test(test_conv2d_errors),
        cmocka_unit_test(test_col2im_matches_scalar_twin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
