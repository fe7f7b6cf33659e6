/* test_qconv.c — the direct int8 ternary conv (src/kernels/qconv.h): the
 * scalar twin bit for bit against tern_kernel_conv2d in I8 mode followed by
 * tern_epi_apply, and every available path bit for bit against the twin, on
 * edge shapes (batch 1 and 3, cin 1/3/5/32, M 1..64, kernels 1/3/5, stride
 * 1/2, pad 0..2, non-square inputs, an all-zero image) with each epilogue;
 * TTQ weights refused; a NaN image, bad geometry and short scratch; the
 * runtime's fusion of the layers after a direct conv into its epilogue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/qconv.h"
#include "tern.h"

static const tern_kernel paths[] = {TERN_KERNEL_SCALAR, TERN_KERNEL_AVX2, TERN_KERNEL_AVX512, TERN_KERNEL_NEON};

typedef struct shape {
    int n, cin, h, w, M, k, stride, pad;
} shape;

typedef struct convcase {
    shape s;
    tern_conv2d_geom g;
    int K, P;
    int8_t *w;
    float *wp, *bias, *x, *center, *scale, *shift;
    tern_packed p;
    tern_qconv q;
} convcase;

/* Random weights (about a third zero), scales, bias, per-channel affine and
 * images whose magnitudes differ per image; image `zero` (if in range) all 0. */
static void case_make(convcase *c, shape s, int zero, tern_rng *r) {
    memset(c, 0, sizeof *c);
    c->s = s;
    c->g = (tern_conv2d_geom){s.cin, s.h, s.w, s.k, s.k, s.stride, s.pad};
    c->K = s.cin * s.k * s.k;
    c->P = (int)(tern_conv_out_size(s.h, s.k, s.stride, s.pad) * tern_conv_out_size(s.w, s.k, s.stride, s.pad));
    c->w = malloc((size_t)s.M * c->K);
    c->wp = malloc(sizeof(float) * s.M), c->bias = malloc(sizeof(float) * s.M);
    c->center = malloc(sizeof(float) * s.M), c->scale = malloc(sizeof(float) * s.M), c->shift = malloc(sizeof(float) * s.M);
    for (size_t i = 0; i < (size_t)s.M * c->K; i++) c->w[i] = (int8_t)tern_rng_below(r, 3) - 1;
    for (int i = 0; i < s.M; i++) {
        c->wp[i] = 0.01f + 0.1f * tern_rng_uniform(r);
        c->bias[i] = tern_rng_uniform(r) - 0.5f;
        c->center[i] = tern_rng_uniform(r) - 0.5f;
        c->scale[i] = 0.2f + 2.0f * tern_rng_uniform(r);
        c->shift[i] = tern_rng_uniform(r) - 0.5f;
    }
    const size_t in_n = (size_t)s.cin * s.h * s.w;
    c->x = malloc(sizeof(float) * in_n * s.n);
    for (int b = 0; b < s.n; b++)
        for (size_t i = 0; i < in_n; i++)
            c->x[b * in_n + i] = b == zero ? 0.0f : (float)(b + 1) * (2.0f * tern_rng_uniform(r) - 1.0f);
    assert_int_equal(tern_packed_init(&c->p, s.M, c->K), TERN_OK);
    assert_int_equal(tern_packed_set(&c->p, c->w, c->wp, NULL), TERN_OK);
    if (tern_qconv_init(&c->q, &c->p, &c->g)) fail_msg("qconv_init: %s", tern_errmsg());
}

static void case_free(convcase *c) {
    tern_qconv_free(&c->q);
    tern_packed_free(&c->p);
    free(c->w), free(c->wp), free(c->bias), free(c->x), free(c->center), free(c->scale), free(c->shift);
}

/* y (n, M, P) from tern_qconv_run on path k; NaN-filled first so an output
 * never written shows, and the scratch filled with junk. */
static tern_status run(tern_kernel k, const convcase *c, const float *bias, const tern_epilogue *e, float *y) {
    const size_t bytes = tern_qconv_scratch_bytes(&c->q), out = (size_t)c->s.n * c->s.M * c->P;
    void *scratch = malloc(bytes);
    memset(scratch, 0x5a, bytes);
    for (size_t i = 0; i < out; i++) y[i] = NAN;
    tern_status st = tern_qconv_run(k, &c->q, c->x, c->s.n, bias, e, y, scratch, bytes);
    free(scratch);
    return st;
}

static int bits_equal(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Every epilogue, with and without bias: the twin against the im2col conv
 * and tern_epi_apply, every available path against the twin. */
static void check_case(const convcase *c) {
    const shape s = c->s;
    const size_t out = (size_t)s.n * s.M * c->P;
    float *ref = malloc(sizeof(float) * out), *twin = malloc(sizeof(float) * out), *y = malloc(sizeof(float) * out);
    const tern_epilogue epis[] = {
        {NULL, NULL, NULL, TERN_EPI_NONE},
        {NULL, NULL, NULL, TERN_EPI_RELU},
        {NULL, NULL, NULL, TERN_EPI_HARDTANH},
        {c->center, c->scale, c->shift, TERN_EPI_NONE},
        {c->center, c->scale, c->shift, TERN_EPI_RELU},
    };
    const size_t sb = tern_kernel_conv2d_scratch_bytes(&c->p, &c->g, TERN_KACT_I8);
    void *scratch = malloc(sb);
    for (int withb = 0; withb < 2; withb++) {
        const float *bias = withb ? c->bias : NULL;
        assert_int_equal(tern_kernel_conv2d(TERN_KERNEL_SCALAR, &c->p, &c->g, c->x, s.n, bias, ref, TERN_KACT_I8,
                                            scratch, sb), TERN_OK);
        for (size_t e = 0; e < sizeof epis / sizeof epis[0]; e++) {
            const tern_epilogue *ep = &epis[e];
            assert_int_equal(run(TERN_KERNEL_SCALAR, c, bias, e == 0 ? NULL : ep, twin), TERN_OK);
            for (size_t i = 0; i < out; i++) {
                const int r = (int)(i / c->P % s.M);
                const float want = tern_epi_apply(ep, r, ref[i]);
                if (!bits_equal(twin[i], want))
                    fail_msg("twin vs im2col conv: n %d cin %d %dx%d M %d k %d s %d p %d, epilogue %zu bias %d, "
                             "output %zu: %.9g vs %.9g", s.n, s.cin, s.h, s.w, s.M, s.k, s.stride, s.pad, e, withb, i,
                             twin[i], want);
            }
            for (size_t k = 1; k < sizeof paths / sizeof paths[0]; k++) {
                if (!tern_kernel_available(paths[k])) continue;
                assert_int_equal(run(paths[k], c, bias, ep, y), TERN_OK);
                for (size_t i = 0; i < out; i++)
                    if (!bits_equal(y[i], twin[i]))
                        fail_msg("%s vs twin: n %d cin %d %dx%d M %d k %d s %d p %d, epilogue %zu bias %d, output "
                                 "%zu: %.9g vs %.9g", tern_kernel_name(paths[k]), s.n, s.cin, s.h, s.w, s.M, s.k,
                                 s.stride, s.pad, e, withb, i, y[i], twin[i]);
            }
        }
    }
    free(scratch), free(ref), free(twin), free(y);
}

static void test_shapes(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 14);
    static const shape shapes[] = {
        /* n cin  h   w   M  k s p */
        {1, 1, 28, 28, 6, 5, 1, 0},    {1, 32, 12, 12, 64, 5, 1, 0}, {3, 32, 12, 12, 64, 5, 1, 0},
        {3, 3, 9, 7, 10, 3, 1, 1},     {1, 5, 8, 11, 17, 3, 2, 1},   {3, 5, 6, 5, 16, 1, 1, 0},
        {1, 3, 7, 10, 1, 5, 2, 2},     {3, 1, 5, 9, 17, 1, 2, 2},    {1, 32, 6, 7, 64, 3, 2, 0},
        {3, 5, 4, 4, 33, 5, 1, 2},     {1, 3, 13, 3, 16, 3, 1, 0},   {1, 1, 1, 1, 1, 1, 1, 0},
        {3, 32, 5, 5, 10, 5, 1, 0},    {1, 3, 11, 11, 49, 3, 2, 1},
    };
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        convcase c;
        case_make(&c, shapes[t], shapes[t].n == 3 ? 1 : -1, &r);
        check_case(&c);
        case_free(&c);
    }
}

/* Inputs large enough that every int32 sum is near its bound: all q = +-127
 * against all w = +-1 (q all equal makes the patch sum the largest it gets). */
static void test_extremes(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 7);
    convcase c;
    case_make(&c, (shape){2, 32, 8, 8, 20, 5, 1, 2}, -1, &r);
    const size_t in_n = (size_t)32 * 8 * 8;
    for (size_t i = 0; i < in_n; i++) c.x[i] = 3.0f, c.x[in_n + i] = i % 2 ? -5.0f : 5.0f;
    check_case(&c);
    case_free(&c);
}

static void test_ttq_refused(void **state) {
    (void)state;
    const int8_t w[2 * 4] = {1, -1, 0, 1, -1, 0, 0, 1};
    const float wp[2] = {0.5f, 1.0f}, wn[2] = {0.25f, 1.0f};
    tern_packed p;
    assert_int_equal(tern_packed_init(&p, 2, 4), TERN_OK);
    assert_int_equal(tern_packed_set(&p, w, wp, wn), TERN_OK);
    tern_qconv q;
    const tern_conv2d_geom g = {1, 3, 3, 2, 2, 1, 0};
    assert_int_equal(tern_qconv_init(&q, &p, &g), TERN_ERR_UNSUPPORTED);
    assert_null(q.wc);
    tern_packed_free(&p);
}

static void test_bad_input(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 3);
    convcase c;
    case_make(&c, (shape){2, 3, 6, 6, 5, 3, 1, 1}, -1, &r);
    float *y = malloc(sizeof(float) * 2 * 5 * 36);
    c.x[3 * 36 + 7] = NAN;   /* image 1 */
    for (size_t k = 0; k < sizeof paths / sizeof paths[0]; k++) {
        if (!tern_kernel_available(paths[k])) continue;
        assert_int_equal(run(paths[k], &c, c.bias, NULL, y), TERN_ERR_NUMERIC);
        assert_non_null(strstr(tern_errmsg(), "image 1"));
    }
    c.x[3 * 36 + 7] = INFINITY;
    assert_int_equal(run(TERN_KERNEL_SCALAR, &c, c.bias, NULL, y), TERN_ERR_NUMERIC);
    char buf[8];
    assert_int_equal(tern_qconv_run(TERN_KERNEL_SCALAR, &c.q, c.x, 1, NULL, NULL, y, buf, sizeof buf), TERN_ERR_ARG);
    assert_int_equal(tern_qconv_run(TERN_KERNEL_SCALAR, &c.q, c.x, 0, NULL, NULL, y, buf, sizeof buf), TERN_ERR_SHAPE);
    /* Geometry that does not match the weights, and a kernel larger than the input. */
    tern_qconv q;
    const tern_conv2d_geom g1 = {4, 6, 6, 3, 3, 1, 1}, g2 = {3, 2, 2, 3, 3, 1, 0};
    assert_int_equal(tern_qconv_init(&q, &c.p, &g1), TERN_ERR_SHAPE);
    assert_non_null(strstr(tern_errmsg(), "qconv"));
    assert_int_equal(tern_qconv_init(&q, &c.p, &g2), TERN_ERR_SHAPE);
    free(y);
    case_free(&c);
}

/* The runtime's fusion: a direct conv computes the affine and relu layers
 * after it (they become views), unless a residual add reads an output they
 * would replace, or an activation comes before the affine; the logits are
 * bit for bit those of the zero-skipping conv followed by the plain loops.
 * TERN_KERNELS_ONLY: built with the kernels alone (tests/aarch64), no runtime. */
#if !defined(TERN_KERNELS_ONLY)
static void test_runtime_fusion(void **state) {
    (void)state;
    enum { C = 3, H = 6, W = 6, M = 4, K = C * 9, B = 2 };
    tern_rng r;
    tern_rng_seed(&r, 11);
    int8_t w[M * K];
    float wp[M], bias[M], center[M], scale[M], shift[M], x[B * C * H * W];
    for (int i = 0; i < M * K; i++) w[i] = (int8_t)tern_rng_below(&r, 3) - 1;
    for (int i = 0; i < M; i++) {
        wp[i] = 0.05f + 0.1f * tern_rng_uniform(&r), bias[i] = tern_rng_uniform(&r) - 0.5f;
        center[i] = tern_rng_uniform(&r) - 0.5f, scale[i] = tern_rng_uniform(&r) * 2 - 1, shift[i] = 0.1f * i;
    }
    for (int i = 0; i < B * C * H * W; i++) x[i] = 2.0f * tern_rng_uniform(&r) - 1.0f;
    tern_dlayer L[4];
    memset(L, 0, sizeof L);
    for (int i = 0; i < 4; i++) L[i] = (tern_dlayer){.out_ndim = 3, .out_shape = {M, H, W}, .from = -1};
    L[0].type = TERN_DLAYER_CONV2D, L[0].ternary = 1, L[0].act_bits = 8, L[0].kernel = 3, L[0].stride = 1;
    L[0].pad = 1, L[0].in_features = K, L[0].in_channels = C, L[0].bias = bias;
    assert_int_equal(tern_packed_init(&L[0].packed, M, K), TERN_OK);
    assert_int_equal(tern_packed_set(&L[0].packed, w, wp, NULL), TERN_OK);
    L[1].type = TERN_DLAYER_AFFINE, L[1].in_channels = M, L[1].center = center, L[1].scale = scale, L[1].bias = shift;
    L[2].type = TERN_DLAYER_RELU;
    L[3].type = TERN_DLAYER_ADD, L[3].from = 1;
    const struct {
        int layers;
        tern_act conv_act;
        int fused[4];   /* the expected fused_into */
    } cases[] = {
        {3, TERN_ACT_NONE, {-1, 0, 0}},             /* conv + affine + relu in one pass */
        {4, TERN_ACT_NONE, {-1, 0, -1, -1}},        /* the add reads the affine's output: relu stays */
        {3, TERN_ACT_RELU, {-1, -1, -1}},           /* relu before the affine: nothing fuses */
        {3, TERN_ACT_HARDTANH, {-1, -1, -1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tern_deploy d;
        tern_deploy_init(&d);
        d.n_layers = cases[c].layers, d.layers = L, d.n_classes = M * H * W;
        d.in_shape[0] = C, d.in_shape[1] = H, d.in_shape[2] = W;
        L[0].act = cases[c].conv_act;
        float out[2][B * M * H * W];
        for (int on = 0; on < 2; on++) {
            tern_runtime rt;
            tern_runtime_opts o = {.max_batch = B, .zskip = on ? TERN_RUNTIME_ZSKIP_ON : TERN_RUNTIME_ZSKIP_OFF};
            assert_int_equal(tern_runtime_init_opts(&rt, &d, &o), TERN_OK);
            for (int i = 0; i < d.n_layers; i++)
                if (rt.fused_into[i] != (on ? -1 : cases[c].fused[i]))
                    fail_msg("case %zu, zskip %d: layer %d fused into %d", c, on, i, rt.fused_into[i]);
            int shape[4] = {B, C, H, W};
            tern_tensor xt = tern_tensor_view(x, NULL, 4, shape);
            const float *z;
            assert_int_equal(tern_runtime_forward(&rt, &xt, &z), TERN_OK);
            memcpy(out[on], z, sizeof out[on]);
            tern_runtime_free(&rt);
        }
        if (memcmp(out[0], out[1], sizeof out[0])) fail_msg("case %zu: fused and unfused outputs differ", c);
    }
    tern_packed_free(&L[0].packed);
}
#endif

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_ttq_refused),
        cmocka_unit_test(test_bad_input),
#if !defined(TERN_KERNELS_ONLY)
        cmocka_unit_test(test_runtime_fusion),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
