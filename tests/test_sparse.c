/* test_sparse.c — zero-skipping kernels: the column lists by hand, every
 * path's sparse GEMM and conv against the sparse scalar twin (bit for bit in
 * both modes: they share one order of summation) and against the dense
 * scalar reference (I8 bit for bit, F32 within the documented bound, F32 on
 * small integers bit for bit), at sparsities 0..100%, rows without
 * nonzeros, K not a multiple of 128, batch 1 and odd batches; bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern.h"

static int bits_equal(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Weights with the given fraction of zeros (+1/-1 equally likely otherwise);
 * row `empty` (if in range) all zero. */
static void fill_sparse(int8_t *w, int M, int K, double zero, int empty, tern_rng *r) {
    for (size_t i = 0; i < (size_t)M * K; i++)
        w[i] = tern_rng_uniform(r) < zero ? 0 : (tern_rng_below(r, 2) ? 1 : -1);
    if (empty >= 0 && empty < M) memset(w + (size_t)empty * K, 0, (size_t)K);
}

typedef struct layer {
    int M, K;
    int8_t *w;
    float *wp, *wn, *bias;
    tern_packed p;
    tern_sparse s;
} layer;

static void layer_make(layer *L, int M, int K, double zero, int asym, tern_rng *r) {
    L->M = M, L->K = K;
    L->w = malloc((size_t)M * K);
    L->wp = malloc(sizeof(float) * M), L->wn = malloc(sizeof(float) * M), L->bias = malloc(sizeof(float) * M);
    fill_sparse(L->w, M, K, zero, M / 2, r);
    for (int i = 0; i < M; i++) {
        L->wp[i] = 0.25f + tern_rng_uniform(r);
        L->wn[i] = asym ? 0.25f + tern_rng_uniform(r) : L->wp[i];
        L->bias[i] = tern_rng_uniform(r) - 0.5f;
    }
    assert_int_equal(tern_packed_init(&L->p, M, K), TERN_OK);
    assert_int_equal(tern_packed_set(&L->p, L->w, L->wp, asym ? L->wn : NULL), TERN_OK);
    assert_int_equal(tern_sparse_init(&L->s, &L->p), TERN_OK);
}

static void layer_free(layer *L) {
    tern_sparse_free(&L->s);
    tern_packed_free(&L->p);
    free(L->w), free(L->wp), free(L->wn), free(L->bias);
}

/* y from the dense (sparse = 0) or sparse GEMM on path k; NaN-filled first
 * so an unwritten output shows. */
static void run(tern_kernel k, int sparse, const layer *L, const float *x, int n, tern_kact act, float *y) {
    size_t bytes = sparse ? tern_sparse_gemm_scratch_bytes(&L->s, n, act) : tern_kernel_gemm_scratch_bytes(&L->p, n, act);
    void *scratch = malloc(bytes);
    /* The scratch too: the kernels stage outputs there before the transpose
     * into y, so an output never computed must not hide behind stale bytes
     * (0xff bytes are NaN as floats). */
    memset(scratch, 0xff, bytes);
    for (size_t i = 0; i < (size_t)n * L->M; i++) y[i] = NAN;
    tern_status s = sparse ? tern_sparse_gemm(k, &L->s, x, n, L->bias, y, act, scratch, bytes)
                           : tern_kernel_gemm(k, &L->p, x, n, L->bias, y, act, scratch, bytes);
    if (s) fail_msg("%s gemm on %s: %s", sparse ? "sparse" : "dense", tern_kernel_name(k), tern_errmsg());
    free(scratch);
}

/* ---- the lists ----------------------------------------------------------------- */

static void test_lists_by_hand(void **state) {
    (void)state;
    /* Row 0: + at 1, 4; - at 0. Row 1: all zero. Row 2: - at 2, 3; + at 3? no: + at 0. */
    const int8_t w[3 * 5] = {-1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, -1, -1, 0};
    const float a[3] = {1, 1, 1};
    tern_packed p;
    tern_sparse s;
    assert_int_equal(tern_packed_init(&p, 3, 5), TERN_OK);
    assert_int_equal(tern_packed_set(&p, w, a, NULL), TERN_OK);
    assert_int_equal(tern_sparse_init(&s, &p), TERN_OK);
    const size_t seg[7] = {0, 2, 3, 3, 3, 4, 6};
    const uint32_t idx[6] = {1, 4, 0, 0, 2, 3};
    assert_int_equal(s.nnz, 6);
    for (int i = 0; i < 7; i++) assert_int_equal(s.seg[i], seg[i]);
    for (int i = 0; i < 6; i++) assert_int_equal(s.idx[i], idx[i]);
    assert_true(fabs(tern_sparse_zero_fraction(&s) - 9.0 / 15.0) < 1e-12);
    assert_int_equal(tern_sparse_bytes(&s), 7 * sizeof(size_t) + 6 * sizeof(uint32_t));
    tern_sparse_free(&s);
    assert_null(s.seg);
    /* A corrupt code (0b11) is refused, naming the row. */
    p.qs[0] = 0xff;
    assert_int_equal(tern_sparse_init(&s, &p), TERN_ERR_FORMAT);
    assert_non_null(strstr(tern_errmsg(), "row 0"));
    assert_null(s.seg);
    tern_packed_free(&p);
}

/* ---- GEMM ---------------------------------------------------------------------- */

static void test_gemm_vs_dense_and_twin(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 77);
    static const double zeros[] = {0.0, 0.5, 0.9, 0.99, 1.0};
    /* Batches that leave every remainder of sample vectors after the full
     * tiles: 60 and 127 need 4 vectors of 16 floats (AVX-512 F32) past the
     * 64-sample tiles, 100 and 127 four of 32 int16 past the 128s. */
    static const int batches[] = {1, 2, 3, 17, 60, 69, 100, 127, 130};
    int cases = 0;
    for (int t = 0; t < 18; t++) {
        /* K: 1, 128, and others not multiples of 128; M small and odd. */
        int K = t == 0 ? 1 : t == 1 ? 128 : 1 + (int)tern_rng_below(&r, 700);
        int M = 1 + (int)tern_rng_below(&r, 40);
        double zero = zeros[t % 5];
        int n = batches[t % 9];
        for (int asym = 0; asym < 2; asym++) {
            layer L;
            layer_make(&L, M, K, zero, asym, &r);
            size_t nx = (size_t)n * K, ny = (size_t)n * M;
            float *x = malloc(sizeof(float) * nx), *y0 = malloc(sizeof(float) * ny), *yt = malloc(sizeof(float) * ny),
                  *y1 = malloc(sizeof(float) * ny);
            for (int pass = 0; pass < 2; pass++) {
                /* pass 0: mixed scales, one all-zero sample; pass 1: small integers (exact sums). */
                for (size_t i = 0; i < nx; i++)
                    x[i] = pass ? (float)((int)tern_rng_below(&r, 7) - 3) : 2.0f * tern_rng_uniform(&r) - 1.0f;
                if (!pass)
                    for (int i = 0; i < n; i++) {
                        float sc = i % 4 == 3 ? 0.0f : 0.01f + 10.0f * tern_rng_uniform(&r);
                        for (int k = 0; k < K; k++) x[(size_t)i * K + k] *= sc;
                    }
                for (int act = 0; act < TERN_KACT_COUNT; act++) {
                    run(TERN_KERNEL_SCALAR, 0, &L, x, n, (tern_kact)act, y0);
                    run(TERN_KERNEL_SCALAR, 1, &L, x, n, (tern_kact)act, yt);
                    for (int kk = 0; kk < TERN_KERNEL_COUNT; kk++) {
                        tern_kernel k = (tern_kernel)kk;
                        if (!tern_kernel_available(k)) continue;
                        run(k, 1, &L, x, n, (tern_kact)act, y1);
                        cases++;
                        for (int i = 0; i < n; i++)
                            for (int o = 0; o < M; o++) {
                                size_t a = (size_t)i * M + o;
                                const char *what = NULL;
                                double tol = 0;
                                if (!bits_equal(y1[a], yt[a])) what = "sparse scalar twin";
                                else if ((act == TERN_KACT_I8 || pass) && !bits_equal(y1[a], y0[a])) what = "dense reference";
                                else if (act == TERN_KACT_F32) {
                                    double sumx = 0;
                                    for (int k2 = 0; k2 < K; k2++) sumx += fabs(x[(size_t)i * K + k2]);
                                    tol = 2.0 * K * 0x1p-24 * fmax(L.wp[o], L.wn[o]) * sumx;
                                    if (!(fabs(y1[a] - y0[a]) <= tol)) what = "dense reference (bound)";
                                }
                                if (what)
                                    fail_msg("sparse %s %s (M %d, K %d, n %d, zeros %.2f, %s, pass %d): y[%d,%d] = "
                                             "%.9g, twin %.9g, dense %.9g, tol %.3g: differs from the %s",
                                             tern_kernel_name(k), act ? "f32" : "i8", M, K, n, zero,
                                             asym ? "ttq" : "sym", pass, i, o, y1[a], yt[a], y0[a], tol, what);
                            }
                    }
                }
            }
            free(x), free(y0), free(yt), free(y1);
            layer_free(&L);
        }
    }
    assert_true(cases >= 80);
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) assert_true(cases >= 240);
#endif
}

/* ---- conv ------------------------------------------------------------------------ */

static void test_conv_vs_dense(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 91);
    const struct {
        int n, cout;
        double zero;
        tern_conv2d_geom g;
    } cases[] = {
        {2, 5, 0.5, {3, 7, 6, 3, 3, 1, 1}},    /* P = 42: ragged sample tiles */
        {1, 4, 0.0, {2, 8, 8, 3, 3, 2, 0}},    /* stride 2 */
        {1, 3, 0.9, {16, 5, 5, 1, 1, 1, 0}},   /* 1x1 */
        {3, 17, 0.99, {20, 9, 7, 5, 3, 2, 2}}, /* K = 300 */
        {1, 8, 1.0, {16, 6, 6, 3, 3, 1, 1}},   /* all zero: y = bias */
        {1, 6, 0.7, {2, 1, 1, 1, 1, 1, 0}},    /* P = 1 */
        {2, 5, 0.5, {2, 9, 9, 3, 3, 1, 0}},    /* P = 49: 4 float vectors past a 16x4 tile */
        {1, 3, 0.3, {1, 12, 12, 3, 3, 1, 0}},  /* P = 100: 4 int16 vectors past a 32x4 tile */
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++)
        for (int asym = 0; asym < 2; asym++) {
            const tern_conv2d_geom *g = &cases[t].g;
            const int n = cases[t].n;
            layer L;
            layer_make(&L, cases[t].cout, g->cin * g->kh * g->kw, cases[t].zero, asym, &r);
            int OH = (g->h + 2 * g->pad - g->kh) / g->stride + 1, OW = (g->w + 2 * g->pad - g->kw) / g->stride + 1;
            size_t nx = (size_t)n * g->cin * g->h * g->w, ny = (size_t)n * L.M * OH * OW;
            float *x = malloc(sizeof(float) * nx), *y0 = malloc(sizeof(float) * ny), *yt = malloc(sizeof(float) * ny),
                  *y1 = malloc(sizeof(float) * ny);
            for (size_t i = 0; i < nx; i++) x[i] = 3.0f * tern_rng_uniform(&r) - 1.0f;
            for (int act = 0; act < TERN_KACT_COUNT; act++)
                for (int kk = 0; kk < TERN_KERNEL_COUNT; kk++) {
                    tern_kernel k = (tern_kernel)kk;
                    if (!tern_kernel_available(k)) continue;
                    size_t bd = tern_kernel_conv2d_scratch_bytes(&L.p, g, (tern_kact)act),
                           bs = tern_sparse_conv2d_scratch_bytes(&L.s, g, (tern_kact)act);
                    void *sd = malloc(bd), *ss = malloc(bs);
                    memset(ss, 0xff, bs); /* stale scratch must not pass for outputs */
                    for (size_t a = 0; a < ny; a++) y1[a] = NAN;
                    if (k == TERN_KERNEL_SCALAR) {
                        assert_int_equal(tern_kernel_conv2d(k, &L.p, g, x, n, L.bias, y0, (tern_kact)act, sd, bd),
                                         TERN_OK);
                        assert_int_equal(tern_sparse_conv2d(k, &L.s, g, x, n, L.bias, yt, (tern_kact)act, ss, bs),
                                         TERN_OK);
                    }
                    if (tern_sparse_conv2d(k, &L.s, g, x, n, L.bias, y1, (tern_kact)act, ss, bs))
                        fail_msg("sparse conv on %s: %s", tern_kernel_name(k), tern_errmsg());
                    for (size_t a = 0; a < ny; a++) {
                        int o = (int)(a / ((size_t)OH * OW) % (size_t)L.M);
                        /* |x| <= 2, so sum |x| over a window <= 2 K. */
                        double tol = 2.0 * L.K * 0x1p-24 * fmax(L.wp[o], L.wn[o]) * 2.0 * L.K;
                        if (!bits_equal(y1[a], yt[a]) || (act == TERN_KACT_I8 && !bits_equal(y1[a], y0[a])) ||
                            !(fabs(y1[a] - y0[a]) <= tol))
                            fail_msg("sparse conv %zu %s %s %s: y[%zu] = %.9g, twin %.9g, dense %.9g", t,
                                     tern_kernel_name(k), act ? "f32" : "i8", asym ? "ttq" : "sym", a, y1[a], yt[a],
                                     y0[a]);
                    }
                    free(sd), free(ss);
                }
            free(x), free(y0), free(yt), free(y1);
            layer_free(&L);
        }
}

/* ---- bad input ------------------------------------------------------------------- */

static void test_bad_input(void **state) {
    (void)state;
    const tern_kernel path = TERN_KERNEL_AUTO;
    tern_rng r;
    tern_rng_seed(&r, 5);
    layer L;
    layer_make(&L, 4, 9, 0.5, 0, &r);
    float x[2 * 9] = {0}, y[8];
    size_t bytes = tern_sparse_gemm_scratch_bytes(&L.s, 2, TERN_KACT_I8);
    void *scratch = malloc(bytes);
    assert_int_equal(tern_sparse_gemm(path, NULL, x, 2, NULL, y, TERN_KACT_I8, scratch, bytes), TERN_ERR_ARG);
    assert_int_equal(tern_sparse_gemm(path, &L.s, x, 0, NULL, y, TERN_KACT_I8, scratch, bytes), TERN_ERR_SHAPE);
    assert_int_equal(tern_sparse_gemm(path, &L.s, x, 2, NULL, y, TERN_KACT_I8, scratch, bytes - 1), TERN_ERR_ARG);
    assert_non_null(strstr(tern_errmsg(), "scratch"));
    assert_int_equal(tern_sparse_gemm(path, &L.s, x, 2, NULL, y, (tern_kact)7, scratch, bytes), TERN_ERR_ARG);
    x[12] = NAN;
    assert_int_equal(tern_sparse_gemm(path, &L.s, x, 2, NULL, y, TERN_KACT_I8, scratch, bytes), TERN_ERR_NUMERIC);
    assert_non_null(strstr(tern_errmsg(), "sample 1"));
    tern_conv2d_geom g = {1, 3, 3, 3, 3, 1, 1}; /* K = 9 matches */
    size_t cb = tern_sparse_conv2d_scratch_bytes(&L.s, &g, TERN_KACT_F32);
    void *cs = malloc(cb);
    float yc[4 * 9];
    g.cin = 2; /* K = 18 does not */
    assert_int_equal(tern_sparse_conv2d(path, &L.s, &g, x, 1, NULL, yc, TERN_KACT_F32, cs, cb), TERN_ERR_SHAPE);
    g.cin = 1;
    assert_int_equal(tern_sparse_conv2d(path, &L.s, &g, x, 1, NULL, yc, TERN_KACT_F32, cs, cb - 1), TERN_ERR_ARG);
    assert_int_equal(tern_sparse_conv2d(path, &L.s, NULL, x, 1, NULL, yc, TERN_KACT_F32, cs, cb), TERN_ERR_ARG);
    assert_int_equal(tern_sparse_conv2d(path, &L.s, &g, x, 1, NULL, yc, TERN_KACT_F32, cs, cb), TERN_OK);
    assert_int_equal(tern_sparse_init(NULL, &L.p), TERN_ERR_ARG);
    free(scratch), free(cs);
    layer_free(&L);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lists_by_hand),
        cmocka_unit_test(test_gemm_vs_dense_and_twin),
        cmocka_unit_test(test_conv_vs_dense),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
