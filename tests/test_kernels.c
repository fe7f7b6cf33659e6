/* test_kernels.c — packed ternary kernels: the t2 layout, the scalar
 * reference against naive loops written here from the documented math, every
 * SIMD path on this CPU against the scalar reference, dispatch errors, conv.
 *
 * Naive references unpack nothing from the library: they use the original
 * int8 weights, quantize with their own loop and accumulate in int64/double. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/fp32.h"
#include "kernels/kernels_impl.h"
#include "tern.h"
#if defined(__x86_64__)
#include "kernels/x86/fp32_avx512.h"
#endif

/* ---- helpers ------------------------------------------------------------- */

static void fill_ternary(int8_t *w, size_t n, tern_rng *r) {
    for (size_t i = 0; i < n; i++) w[i] = (int8_t)((int)tern_rng_below(r, 3) - 1);
}

static void fill_uniform(float *x, size_t n, tern_rng *r, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * tern_rng_uniform(r);
}

/* Small integers: every partial sum is exact in float, so all paths must agree bit for bit. */
static void fill_small_ints(float *x, size_t n, tern_rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = (float)((int)tern_rng_below(r, 7) - 3);
}

/* The documented absmax quantizer, written independently. */
static void naive_quantize(const float *x, int k, int *q, float *sx) {
    float amax = 0.0f;
    for (int i = 0; i < k; i++) amax = fmaxf(amax, fabsf(x[i]));
    if (amax < TERN_KQ_AMAX_MIN) {
        for (int i = 0; i < k; i++) q[i] = 0;
        *sx = 0.0f;
        return;
    }
    float inv = 127.0f / amax;
    for (int i = 0; i < k; i++) {
        long v = lrintf(x[i] * inv);
        q[i] = (int)(v > 127 ? 127 : (v < -127 ? -127 : v));
    }
    *sx = amax / 127.0f;
}

/* The documented int8 epilogue from exact P and N. */
static float naive_i8_out(long long P, long long N, float wp, float wn, int symmetric, float sx, float b) {
    if (symmetric) return fmaf((float)(P - N), wp * sx, b);
    return fmaf((float)P, wp * sx, fmaf(-(float)N, wn * sx, b));
}

/* y (n, M) of the int8 mode, naively. */
static void naive_gemm_i8(const int8_t *w, const float *wp, const float *wn, int symmetric, int M, int K,
                          const float *x, int n, const float *bias, float *y) {
    int *q = malloc((size_t)K * sizeof *q);
    for (int i = 0; i < n; i++) {
        float sx;
        naive_quantize(x + (size_t)i * K, K, q, &sx);
        for (int r = 0; r < M; r++) {
            long long P = 0, N = 0;
            for (int k = 0; k < K; k++) {
                int v = w[(size_t)r * K + k];
                if (v > 0) P += q[k];
                if (v < 0) N += q[k];
            }
            y[(size_t)i * M + r] = naive_i8_out(P, N, wp[r], wn[r], symmetric, sx, bias ? bias[r] : 0.0f);
        }
    }
    free(q);
}

/* y (n, M) of the fp32 mode in double, and the error scale sum_k |w x| * max scale. */
static void naive_gemm_f64(const int8_t *w, const float *wp, const float *wn, int M, int K, const float *x, int n,
                           const float *bias, double *y, double *mag) {
    for (int i = 0; i < n; i++)
        for (int r = 0; r < M; r++) {
            double P = 0, N = 0, a = 0;
            for (int k = 0; k < K; k++) {
                int v = w[(size_t)r * K + k];
                double xv = x[(size_t)i * K + k];
                if (v > 0) P += xv;
                if (v < 0) N += xv;
                if (v) a += fabs(xv);
            }
            y[(size_t)i * M + r] = wp[r] * P - wn[r] * N + (bias ? bias[r] : 0.0);
            mag[(size_t)i * M + r] = a * fmax(fabs(wp[r]), fabs(wn[r]));
        }
}

typedef struct layer {
    int M, K;
    int8_t *w;        /* (M, K) */
    float *wp, *wn;   /* (M) */
    float *bias;      /* (M) */
    tern_packed p;
} layer;

static void layer_make(layer *L, int M, int K, int asym, tern_rng *r) {
    L->M = M;
    L->K = K;
    L->w = malloc((size_t)M * K);
    L->wp = malloc((size_t)M * sizeof(float));
    L->wn = malloc((size_t)M * sizeof(float));
    L->bias = malloc((size_t)M * sizeof(float));
    fill_ternary(L->w, (size_t)M * K, r);
    fill_uniform(L->wp, (size_t)M, r, 0.25f, 1.5f);
    if (asym) fill_uniform(L->wn, (size_t)M, r, 0.25f, 1.5f);
    else memcpy(L->wn, L->wp, (size_t)M * sizeof(float));
    fill_uniform(L->bias, (size_t)M, r, -1.0f, 1.0f);
    assert_int_equal(tern_packed_init(&L->p, M, K), TERN_OK);
    assert_int_equal(tern_packed_set(&L->p, L->w, L->wp, asym ? L->wn : NULL), TERN_OK);
    assert_int_equal(L->p.symmetric, !asym);
}

static void layer_free(layer *L) {
    tern_packed_free(&L->p);
    free(L->w);
    free(L->wp);
    free(L->wn);
    free(L->bias);
}

/* Run tern_kernel_gemm on path k with a NaN-filled y, so unwritten outputs show. */
static void run_gemm(tern_kernel k, const layer *L, const float *x, int n, tern_kact act, float *y) {
    size_t bytes = tern_kernel_gemm_scratch_bytes(&L->p, n, act);
    void *scratch = malloc(bytes);
    for (size_t i = 0; i < (size_t)n * L->M; i++) y[i] = NAN;
    tern_status s = tern_kernel_gemm(k, &L->p, x, n, L->bias, y, act, scratch, bytes);
    if (s) fail_msg("gemm on %s: %s", tern_kernel_name(k), tern_errmsg());
    free(scratch);
}

static int bits_equal(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* ---- packing ---------------------------------------------------------------- */

static void test_pack_layout_by_hand(void **state) {
    (void)state;
    /* K = 130: two blocks, the second holding k = 128, 129 and padding. */
    int8_t w[130] = {0};
    w[0] = 1;     /* block 0, byte 0, bits 1:0 -> code 10 */
    w[1] = -1;    /* block 0, byte 1, bits 1:0 -> code 00 */
    w[32] = 1;    /* block 0, byte 0, bits 3:2 -> code 10 */
    w[127] = -1;  /* block 0, byte 31, bits 7:6 -> code 00 */
    w[129] = 1;   /* block 1, byte 1, bits 1:0 -> code 10 */
    uint8_t want[64];
    memset(want, 0x55, sizeof want);   /* 01 01 01 01: four zero weights */
    want[0] = 0x5A;                    /* 01 01 10 10 */
    want[1] = 0x54;                    /* 01 01 01 00 */
    want[31] = 0x15;                   /* 00 01 01 01 */
    want[32 + 1] = 0x56;               /* 01 01 01 10 */

    const tern_wfmt_def *f = &tern_wfmt_table[TERN_WFMT_T2];
    assert_string_equal(f->name, "t2");
    assert_int_equal(f->block, 128);
    assert_int_equal(f->block_bytes, 32);
    uint8_t got[64];
    assert_int_equal(f->pack(w, 130, got), TERN_OK);
    assert_memory_equal(got, want, sizeof want);

    int8_t back[130];
    assert_int_equal(f->unpack(got, 130, back), TERN_OK);
    assert_memory_equal(back, w, sizeof w);

    /* The same through tern_packed, row 1 all zero: two rows form one short
     * group, so block 0 of rows 0 and 1, then block 1 of rows 0 and 1. */
    int8_t w2[2 * 130] = {0};
    memcpy(w2, w, 130);
    tern_packed p;
    float one[2] = {1.0f, 1.0f};
    assert_int_equal(tern_packed_init(&p, 2, 130), TERN_OK);
    assert_int_equal(p.kblocks, 2);
    assert_int_equal((int)p.row_bytes, 64);
    assert_int_equal(tern_packed_set(&p, w2, one, NULL), TERN_OK);
    uint8_t zero[32];
    memset(zero, 0x55, sizeof zero);
    assert_memory_equal(p.qs, want, 32);
    assert_memory_equal(p.qs + 32, zero, 32);
    assert_memory_equal(p.qs + 64, want + 32, 32);
    assert_memory_equal(p.qs + 96, zero, 32);
    tern_packed_free(&p);
}

/* The tile order of the overview, written out once more here: rows in
 * groups of 8 (the last one short), block b of a group's h rows in turn. */
static void test_pack_tile_order(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 5);
    const int Ms[] = {1, 7, 8, 9, 17, 30};
    for (size_t t = 0; t < sizeof Ms / sizeof Ms[0]; t++) {
        const int M = Ms[t], K = 300, kb = 3;
        int8_t *w = malloc((size_t)M * K);
        float *wp = malloc(sizeof(float) * M);
        fill_ternary(w, (size_t)M * K, &r);
        for (int i = 0; i < M; i++) wp[i] = 1.0f;
        tern_packed p;
        assert_int_equal(tern_packed_init(&p, M, K), TERN_OK);
        assert_int_equal(tern_packed_set(&p, w, wp, NULL), TERN_OK);
        for (int row = 0; row < M; row++)
            for (int b = 0; b < kb; b++) {
                const int g0 = row / 8 * 8, h = M - g0 < 8 ? M - g0 : 8;
                const uint8_t *blk = p.qs + (size_t)g0 * 32 * kb + ((size_t)b * h + (size_t)(row - g0)) * 32;
                assert_ptr_equal(tern_packed_block(&p, row, b), blk);
                uint8_t want[32];
                assert_int_equal(tern_wfmt_table[TERN_WFMT_T2].pack(w + (size_t)row * K + 128 * b,
                                                                    b < 2 ? 128 : K - 256, want),
                                 TERN_OK);
                assert_memory_equal(blk, want, 32);
            }
        tern_packed_free(&p);
        free(w);
        free(wp);
    }
}

static void test_pack_roundtrip(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 11);
    const int Ks[] = {1, 2, 31, 127, 128, 129, 255, 784, 1000};
    for (size_t t = 0; t < sizeof Ks / sizeof Ks[0]; t++) {
        int M = 3, K = Ks[t];
        int8_t *w = malloc((size_t)M * K), *back = malloc((size_t)M * K);
        fill_ternary(w, (size_t)M * K, &r);
        w[0] = -1;
        if (K > 1) w[1] = 0;
        if (K > 2) w[2] = 1;
        float wp[3] = {1, 2, 3};
        tern_packed p;
        assert_int_equal(tern_packed_init(&p, M, K), TERN_OK);
        assert_int_equal(tern_packed_set(&p, w, wp, NULL), TERN_OK);
        assert_int_equal(tern_packed_get(&p, back), TERN_OK);
        assert_memory_equal(back, w, (size_t)M * K);
        /* Padding: every code from K to the block end is 01. */
        for (int row = 0; row < M; row++)
            for (int k = K; k < p.kblocks * 128; k++) {
                const uint8_t *blk = tern_packed_block(&p, row, k / 128);
                int c = (blk[k % 32] >> (2 * ((k % 128) / 32))) & 3;
                assert_int_equal(c, 1);
            }
        tern_packed_free(&p);
        free(w);
        free(back);
    }
}

static void test_pack_rejects_bad_values(void **state) {
    (void)state;
    tern_packed p;
    assert_int_equal(tern_packed_init(&p, 0, 5), TERN_ERR_SHAPE);
    assert_int_equal(tern_packed_init(&p, 2, 0), TERN_ERR_SHAPE);
    assert_int_equal(tern_packed_init(&p, 2, TERN_KERNEL_MAX_COLS + 1), TERN_ERR_SHAPE);

    assert_int_equal(tern_packed_init(&p, 2, 3), TERN_OK);
    int8_t good[6] = {1, 0, -1, -1, 0, 1}, bad[6] = {1, 0, -1, -1, 2, 1}, back[6];
    float wp[2] = {1, 1}, inf[2] = {1, INFINITY};
    assert_int_equal(tern_packed_set(&p, good, wp, NULL), TERN_OK);
    assert_int_equal(tern_packed_set(&p, bad, wp, NULL), TERN_ERR_ARG);
    assert_non_null(strstr(tern_errmsg(), "(1,1) is 2"));
    assert_int_equal(tern_packed_set(&p, good, wp, inf), TERN_ERR_ARG);
    assert_non_null(strstr(tern_errmsg(), "non-finite"));
    /* The failed calls left the matrix as it was. */
    assert_int_equal(tern_packed_get(&p, back), TERN_OK);
    assert_memory_equal(back, good, 6);
    assert_int_equal(p.symmetric, 1);

    /* A code 11 and nonzero padding are format errors. */
    p.qs[0] |= 0x03;
    assert_int_equal(tern_packed_get(&p, back), TERN_ERR_FORMAT);
    assert_non_null(strstr(tern_errmsg(), "0b11"));
    p.qs[0] = 0x56;   /* weight 0 = +1, weights 32, 64, 96 zero */
    p.qs[5] = 0x56;   /* k = 5 >= K = 3: padding set to +1 */
    assert_int_equal(tern_packed_get(&p, back), TERN_ERR_FORMAT);
    assert_non_null(strstr(tern_errmsg(), "padding"));
    tern_packed_free(&p);
}

/* ---- activation quantization ------------------------------------------------ */

static void test_quantize_by_hand(void **state) {
    (void)state;
    /* amax 4: 127/4 = 31.75 exactly; 1 -> 31.75 -> 32, -2 -> -63.5 -> -64 (ties
     * to even), 0.5 -> 15.875 -> 16, 4 -> 127. */
    float x[4] = {1.0f, -2.0f, 0.5f, 4.0f};
    int8_t q[4];
    float sx;
    int32_t qsum;
    assert_int_equal(tern_kernel_quantize(x, 4, q, &sx, &qsum), TERN_OK);
    assert_int_equal(q[0], 32);
    assert_int_equal(q[1], -64);
    assert_int_equal(q[2], 16);
    assert_int_equal(q[3], 127);
    assert_int_equal(qsum, 32 - 64 + 16 + 127);
    assert_true(sx == 4.0f / 127.0f);

    /* amax 127: q = rint(x); 2.5 -> 2 (half to even, where roundf gives 3). */
    float x2[3] = {2.5f, -127.0f, 3.5f};
    assert_int_equal(tern_kernel_quantize(x2, 3, q, &sx, &qsum), TERN_OK);
    assert_int_equal(q[0], 2);
    assert_int_equal(q[1], -127);
    assert_int_equal(q[2], 4);
    assert_true(sx == 1.0f);

    /* amax below TERN_KQ_AMAX_MIN, subnormal and in the band [FLT_MIN,
     * 127 FLT_MIN) where 127 / amax is not finite: all zero. */
    float z[2][3] = {{0.0f, -0.0f, 1e-40f}, {1e-37f, -5e-38f, 0.0f}};
    for (int r = 0; r < 2; r++) {
        assert_int_equal(tern_kernel_quantize(z[r], 3, q, &sx, &qsum), TERN_OK);
        assert_int_equal(q[0] | q[1] | q[2], 0);
        assert_true(sx == 0.0f && qsum == 0);
    }
    /* Just above it, a normal row: 127 at the max. */
    float t[3] = {4e-36f, -1e-36f, 0.0f};
    assert_int_equal(tern_kernel_quantize(t, 3, q, &sx, &qsum), TERN_OK);
    assert_int_equal(q[0], 127);
    assert_int_equal(q[1], -32);

    float bad[3] = {1.0f, NAN, 2.0f};
    assert_int_equal(tern_kernel_quantize(bad, 3, q, &sx, &qsum), TERN_ERR_NUMERIC);
    bad[1] = -INFINITY;
    assert_int_equal(tern_kernel_quantize(bad, 3, q, &sx, &qsum), TERN_ERR_NUMERIC);
    assert_int_equal(tern_kernel_quantize(x, 0, q, &sx, &qsum), TERN_ERR_ARG);
}

/* ---- the scalar reference against naive loops ------------------------------- */

typedef struct shape {
    int M, K, n;
} shape;

static const shape shapes[] = {
    {1, 1, 1},   {3, 784, 1},  {17, 784, 5}, {255, 784, 1}, {255, 130, 5}, {16, 128, 1}, {33, 256, 3},
    {5, 383, 2}, {8, 257, 7},  {64, 1000, 9}, {1, 129, 4},  {12, 64, 4},  {9, 384, 8},  {2, 2, 6},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static void test_scalar_i8_exact(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 21);
    for (size_t t = 0; t < N_SHAPES; t++)
        for (int asym = 0; asym < 2; asym++) {
            shape s = shapes[t];
            layer L;
            layer_make(&L, s.M, s.K, asym, &r);
            float *x = malloc((size_t)s.n * s.K * sizeof(float));
            float *y = malloc((size_t)s.n * s.M * sizeof(float)), *yn = malloc((size_t)s.n * s.M * sizeof(float));
            double *yf = malloc((size_t)s.n * s.M * sizeof(double)), *mag = malloc((size_t)s.n * s.M * sizeof(double));
            fill_uniform(x, (size_t)s.n * s.K, &r, -2.0f, 2.0f);
            run_gemm(TERN_KERNEL_SCALAR, &L, x, s.n, TERN_KACT_I8, y);
            naive_gemm_i8(L.w, L.wp, L.wn, !asym, s.M, s.K, x, s.n, L.bias, yn);
            naive_gemm_f64(L.w, L.wp, L.wn, s.M, s.K, x, s.n, L.bias, yf, mag);
            for (int i = 0; i < s.n; i++) {
                float amax = 0;
                for (int k = 0; k < s.K; k++) amax = fmaxf(amax, fabsf(x[(size_t)i * s.K + k]));
                for (int o = 0; o < s.M; o++) {
                    size_t at = (size_t)i * s.M + o;
                    if (!bits_equal(y[at], yn[at]))
                        fail_msg("(M %d, K %d, n %d, %s) y[%d,%d] = %.9g, naive %.9g", s.M, s.K, s.n,
                                 asym ? "ttq" : "sym", i, o, y[at], yn[at]);
                    /* And it approximates the float product: each q*sx is within
                     * sx/2 of x, so |y - yf| <= max scale * nnz * sx/2 (+ rounding). */
                    int nnz = 0;
                    for (int k = 0; k < s.K; k++) nnz += L.w[(size_t)o * s.K + k] != 0;
                    double sc = fmax(L.wp[o], L.wn[o]);
                    double tol = sc * nnz * (amax / 127.0) * 0.5 * (1 + 1e-3) + 1e-5 * (fabs(yf[at]) + mag[at]);
                    if (fabs(y[at] - yf[at]) > tol)
                        fail_msg("(M %d, K %d) y = %.9g is %.3g from the float product %.9g (bound %.3g)", s.M, s.K,
                                 y[at], fabs(y[at] - yf[at]), yf[at], tol);
                }
            }
            free(x), free(y), free(yn), free(yf), free(mag);
            layer_free(&L);
        }
}

static void test_scalar_f32_vs_naive(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 22);
    for (size_t t = 0; t < N_SHAPES; t++)
        for (int asym = 0; asym < 2; asym++) {
            shape s = shapes[t];
            layer L;
            layer_make(&L, s.M, s.K, asym, &r);
            size_t nx = (size_t)s.n * s.K, ny = (size_t)s.n * s.M;
            float *x = malloc(nx * sizeof(float)), *y = malloc(ny * sizeof(float));
            double *yd = malloc(ny * sizeof(double)), *mag = malloc(ny * sizeof(double));
            fill_uniform(x, nx, &r, -3.0f, 3.0f);
            run_gemm(TERN_KERNEL_SCALAR, &L, x, s.n, TERN_KACT_F32, y);
            naive_gemm_f64(L.w, L.wp, L.wn, s.M, s.K, x, s.n, L.bias, yd, mag);
            for (size_t a = 0; a < ny; a++) {
                /* Recursive float summation: error <= (K + 2) u sum|x| per sum, u = 2^-24. */
                double tol = (s.K + 2) * 0x1p-24 * mag[a] * 2 + 0x1p-24 * fabs(yd[a]) * 4 + 1e-7;
                if (fabs(y[a] - yd[a]) > tol)
                    fail_msg("(M %d, K %d, n %d) y[%zu] = %.9g, double %.9g", s.M, s.K, s.n, a, y[a], yd[a]);
            }
            /* Small integer activations: every partial sum is exact, so y is the
             * documented epilogue of the exact sums, bit for bit. */
            fill_small_ints(x, nx, &r);
            run_gemm(TERN_KERNEL_SCALAR, &L, x, s.n, TERN_KACT_F32, y);
            for (int i = 0; i < s.n; i++)
                for (int o = 0; o < s.M; o++) {
                    long P = 0, N = 0;
                    for (int k = 0; k < s.K; k++) {
                        int v = L.w[(size_t)o * s.K + k], xv = (int)x[(size_t)i * s.K + k];
                        if (v > 0) P += xv;
                        if (v < 0) N += xv;
                    }
                    float want = asym ? fmaf(L.wp[o], (float)P, fmaf(-L.wn[o], (float)N, L.bias[o]))
                                      : fmaf(L.wp[o], (float)(P - N), L.bias[o]);
                    assert_true(bits_equal(y[(size_t)i * s.M + o], want));
                }
            free(x), free(y), free(yd), free(mag);
            layer_free(&L);
        }
}

/* ---- the fused epilogue ------------------------------------------------------ */

/* tern_kernel_gemm_epi on every path, every shape of the table, both
 * activation modes and both scale kinds, each epilogue: bit for bit the plain
 * GEMM followed by tern_epi_apply. Outputs straddle 0, -1 and 1, so relu and
 * hardtanh clip some and pass others. */
static void test_gemm_epilogue(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 77);
    for (int kk = TERN_KERNEL_SCALAR; kk < TERN_KERNEL_COUNT; kk++) {
        tern_kernel k = (tern_kernel)kk;
        if (!tern_kernel_available(k)) continue;
        for (size_t t = 0; t < N_SHAPES; t++)
            for (int asym = 0; asym < 2; asym++) {
                const shape sh = shapes[t];
                layer L;
                layer_make(&L, sh.M, sh.K, asym, &r);
                size_t nx = (size_t)sh.n * sh.K, ny = (size_t)sh.n * sh.M;
                float *x = malloc(nx * sizeof(float)), *y0 = malloc(ny * sizeof(float)),
                      *y1 = malloc(ny * sizeof(float)), *aff = malloc(3 * (size_t)sh.M * sizeof(float));
                fill_uniform(x, nx, &r, -1.0f, 1.0f);
                fill_uniform(aff, (size_t)sh.M, &r, -2.0f, 2.0f);                  /* center */
                fill_uniform(aff + sh.M, (size_t)sh.M, &r, -0.3f, 0.3f);           /* scale */
                fill_uniform(aff + 2 * (size_t)sh.M, (size_t)sh.M, &r, -1.0f, 1.0f); /* shift */
                const tern_epilogue epis[4] = {
                    {.act = TERN_EPI_RELU},
                    {.center = aff, .scale = aff + sh.M, .shift = aff + 2 * sh.M, .act = TERN_EPI_NONE},
                    {.center = aff, .scale = aff + sh.M, .shift = aff + 2 * sh.M, .act = TERN_EPI_RELU},
                    {.center = aff, .scale = aff + sh.M, .shift = aff + 2 * sh.M, .act = TERN_EPI_HARDTANH},
                };
                for (int act = 0; act < TERN_KACT_COUNT; act++)
                    for (int e = 0; e < 4; e++) {
                        size_t bytes = tern_kernel_gemm_scratch_bytes(&L.p, sh.n, (tern_kact)act);
                        void *scratch = malloc(bytes);
                        run_gemm(k, &L, x, sh.n, (tern_kact)act, y0);
                        for (size_t a = 0; a < ny; a++) y0[a] = tern_epi_apply(&epis[e], (int)(a % sh.M), y0[a]);
                        assert_int_equal(tern_kernel_gemm_epi(k, &L.p, x, sh.n, L.bias, &epis[e], y1, (tern_kact)act,
                                                              scratch, bytes),
                                         TERN_OK);
                        for (size_t a = 0; a < ny; a++)
                            if (!bits_equal(y0[a], y1[a]))
                                fail_msg("%s %s epilogue %d (M %d, K %d, n %d, %s): y[%zu] = %.9g, plain + epilogue %.9g",
                                         tern_kernel_name(k), act ? "f32" : "i8", e, sh.M, sh.K, sh.n,
                                         asym ? "ttq" : "sym", a, y1[a], y0[a]);
                        free(scratch);
                    }
                free(x), free(y0), free(y1), free(aff);
                layer_free(&L);
            }
    }
}

/* ---- every SIMD path on this CPU against the scalar reference ---------------- */

static shape shapes_random_last; /* the random shape of the symmetric pass, reused by the ttq pass */

static void test_paths_vs_scalar(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 31);
    int tested = 0;
    for (int kk = 0; kk < TERN_KERNEL_COUNT; kk++) {
        tern_kernel k = (tern_kernel)kk;
        if (k == TERN_KERNEL_SCALAR || !tern_kernel_available(k)) continue;
        tested++;
        /* The fixed table's edge cases, then 24 random shapes (seeded). */
        tern_rng rs;
        tern_rng_seed(&rs, 1234);
        for (size_t t = 0; t < N_SHAPES + 24; t++)
            for (int asym = 0; asym < 2; asym++) {
                shape s = shapes[t < N_SHAPES ? t : 0];
                if (t >= N_SHAPES && asym == 0) {
                    s.M = 1 + (int)tern_rng_below(&rs, 300);
                    s.K = 1 + (int)tern_rng_below(&rs, 1100);
                    s.n = 1 + (int)tern_rng_below(&rs, 9);
                    shapes_random_last = s;
                } else if (t >= N_SHAPES) {
                    s = shapes_random_last;
                }
                layer L;
                layer_make(&L, s.M, s.K, asym, &r);
                size_t nx = (size_t)s.n * s.K, ny = (size_t)s.n * s.M;
                float *x = malloc(nx * sizeof(float)), *y0 = malloc(ny * sizeof(float)),
                      *y1 = malloc(ny * sizeof(float));
                /* Activations of mixed scale per sample, some rows all zero. */
                fill_uniform(x, nx, &r, -1.0f, 1.0f);
                for (int i = 0; i < s.n; i++) {
                    float scale = (i % 4 == 3) ? 0.0f : 0.01f + 10.0f * tern_rng_uniform(&r);
                    for (int kx = 0; kx < s.K; kx++) x[(size_t)i * s.K + kx] *= scale;
                }

                /* Int8: bit-identical. */
                run_gemm(TERN_KERNEL_SCALAR, &L, x, s.n, TERN_KACT_I8, y0);
                run_gemm(k, &L, x, s.n, TERN_KACT_I8, y1);
                for (size_t a = 0; a < ny; a++)
                    if (!bits_equal(y0[a], y1[a]))
                        fail_msg("%s i8 (M %d, K %d, n %d, %s): y[%zu] = %.9g, scalar %.9g", tern_kernel_name(k), s.M,
                                 s.K, s.n, asym ? "ttq" : "sym", a, y1[a], y0[a]);

                /* Fp32: within the documented 2 K 2^-24 max|w-scale| sum|x|. */
                run_gemm(TERN_KERNEL_SCALAR, &L, x, s.n, TERN_KACT_F32, y0);
                run_gemm(k, &L, x, s.n, TERN_KACT_F32, y1);
                for (int i = 0; i < s.n; i++)
                    for (int o = 0; o < s.M; o++) {
                        double sumx = 0;
                        for (int kx = 0; kx < s.K; kx++) sumx += fabs(x[(size_t)i * s.K + kx]);
                        double tol = 2.0 * s.K * 0x1p-24 * fmax(L.wp[o], L.wn[o]) * sumx;
                        size_t a = (size_t)i * s.M + o;
                        if (!(fabs(y0[a] - y1[a]) <= tol))
                            fail_msg("%s f32 (M %d, K %d, n %d, %s): y[%zu] = %.9g, scalar %.9g, tol %.3g",
                                     tern_kernel_name(k), s.M, s.K, s.n, asym ? "ttq" : "sym", a, y1[a], y0[a], tol);
                    }

                /* Fp32 with exact partial sums: bit-identical. */
                fill_small_ints(x, nx, &r);
                run_gemm(TERN_KERNEL_SCALAR, &L, x, s.n, TERN_KACT_F32, y0);
                run_gemm(k, &L, x, s.n, TERN_KACT_F32, y1);
                for (size_t a = 0; a < ny; a++)
                    if (!bits_equal(y0[a], y1[a]))
                        fail_msg("%s f32 exact (M %d, K %d, n %d, %s): y[%zu] = %.9g, scalar %.9g",
                                 tern_kernel_name(k), s.M, s.K, s.n, asym ? "ttq" : "sym", a, y1[a], y0[a]);
                free(x), free(y0), free(y1);
                layer_free(&L);
            }
    }
#if defined(__x86_64__)
    /* On x86-64 the AVX2 path must have run wherever the CPU has AVX2. */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) assert_true(tested >= 1);
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) assert_true(tested >= 2);
#endif
    if (!tested) print_message("no SIMD path on this CPU: only the scalar reference was tested\n");
}

/* Each path's own activation quantizer: ties (x*inv exactly k + 0.5) must
 * round half to even, ragged ends must be handled, NaN/Inf anywhere caught.
 * With every weight +1, y = sx * sum(q): a q off by one shows. */
static void test_paths_quantize(void **state) {
    (void)state;
    const int Ks[] = {1, 7, 8, 15, 16, 17, 31, 32, 33, 300};
    for (size_t t = 0; t < sizeof Ks / sizeof Ks[0]; t++) {
        int K = Ks[t], M = 2, n = 3;
        int8_t *w = malloc((size_t)M * K);
        memset(w, 1, (size_t)M * K);
        float wp[2] = {1.0f, 1.0f};
        tern_packed p;
        assert_int_equal(tern_packed_init(&p, M, K), TERN_OK);
        assert_int_equal(tern_packed_set(&p, w, wp, NULL), TERN_OK);
        float *x = malloc((size_t)n * K * sizeof(float)), y0[2 * 3], y1[2 * 3];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < K; k++)   /* amax = 127 -> inv = 1: q = rint(x) */
                x[(size_t)i * K + k] = k == i % K ? (i == 1 ? -127.0f : 127.0f) : (float)(k % 50 - 25) + 0.5f;
        long want[3] = {0, 0, 0};
        for (int i = 0; i < n; i++)
            for (int k = 0; k < K; k++) want[i] += lrintf(x[(size_t)i * K + k]);
        size_t bytes = tern_kernel_gemm_scratch_bytes(&p, n, TERN_KACT_I8);
        void *scratch = malloc(bytes);
        for (int kk = 0; kk < TERN_KERNEL_COUNT; kk++) {
            tern_kernel k = (tern_kernel)kk;
            if (!tern_kernel_available(k)) continue;
            assert_int_equal(tern_kernel_gemm(k, &p, x, n, NULL, y1, TERN_KACT_I8, scratch, bytes), TERN_OK);
            for (int i = 0; i < n; i++) {
                float expect = (float)want[i];   /* wp = 1, sx = 127/127 = 1, no bias */
                if (!bits_equal(y1[i * M], expect) || !bits_equal(y1[i * M + 1], expect))
                    fail_msg("%s K %d sample %d: y %.9g, want sum(rint(x)) = %ld", tern_kernel_name(k), K, i,
                             y1[i * M], want[i]);
            }
            if (k == TERN_KERNEL_SCALAR) memcpy(y0, y1, sizeof y0);
            assert_memory_equal(y0, y1, sizeof y0);
            /* NaN first, Inf last: each caught by every path. */
            float keep0 = x[0], keep1 = x[(size_t)n * K - 1];
            x[0] = NAN;
            assert_int_equal(tern_kernel_gemm(k, &p, x, n, NULL, y1, TERN_KACT_I8, scratch, bytes), TERN_ERR_NUMERIC);
            x[0] = keep0;
            x[(size_t)n * K - 1] = -INFINITY;
            assert_int_equal(tern_kernel_gemm(k, &p, x, n, NULL, y1, TERN_KACT_I8, scratch, bytes), TERN_ERR_NUMERIC);
            x[(size_t)n * K - 1] = keep1;
            /* Tiny rows: amax 1e-37 lies below TERN_KQ_AMAX_MIN, where
             * 127 / amax is not finite: every path gives exactly 0. At
             * amax 4e-36 every path agrees with the scalar path to the bit. */
            const float scales[2] = {1e-37f / 127.0f, 4e-36f / 127.0f};
            for (int sc = 0; sc < 2; sc++) {
                float *xs = malloc((size_t)n * K * sizeof(float)), yt[2 * 3], ys[2 * 3];
                for (int i = 0; i < n * K; i++) xs[i] = x[i] * scales[sc];
                assert_int_equal(tern_kernel_gemm(k, &p, xs, n, NULL, yt, TERN_KACT_I8, scratch, bytes), TERN_OK);
                assert_int_equal(tern_kernel_gemm(TERN_KERNEL_SCALAR, &p, xs, n, NULL, ys, TERN_KACT_I8, scratch,
                                                  bytes), TERN_OK);
                for (int i = 0; i < M * n; i++) {
                    assert_true(isfinite(yt[i]));
                    if (sc == 0) assert_true(yt[i] == 0.0f);
                }
                assert_memory_equal(yt, ys, sizeof yt);
                free(xs);
            }
        }
        free(scratch);
        free(x);
        free(w);
        tern_packed_free(&p);
    }
}

/* ---- dispatch ----------------------------------------------------------------- */

static void test_dispatch(void **state) {
    (void)state;
    tern_kernel k;
    assert_int_equal(tern_kernel_parse("scalar", &k), TERN_OK);
    assert_int_equal(k, TERN_KERNEL_SCALAR);
    assert_int_equal(tern_kernel_parse("AVX512", &k), TERN_OK);
    assert_int_equal(k, TERN_KERNEL_AVX512);
    assert_int_equal(tern_kernel_parse("auto", &k), TERN_OK);
    assert_int_equal(k, TERN_KERNEL_AUTO);
    assert_int_equal(tern_kernel_parse("sse9", &k), TERN_ERR_ARG);
    assert_non_null(strstr(tern_errmsg(), "sse9"));
    assert_string_equal(tern_kernel_name(TERN_KERNEL_NEON), "neon");
    assert_string_equal(tern_kernel_name(TERN_KERNEL_AUTO), "auto");
    assert_string_equal(tern_kernel_name(TERN_KERNEL_COUNT), "unknown");
    assert_true(tern_kernel_available(TERN_KERNEL_SCALAR));
    assert_true(tern_kernel_available(tern_kernel_best()));
    assert_false(tern_kernel_available(TERN_KERNEL_AUTO));

    /* Resolving: AUTO is the best path, a named path itself. */
    assert_int_equal(tern_kernel_resolve(TERN_KERNEL_AUTO, &k), TERN_OK);
    assert_int_equal(k, tern_kernel_best());
    assert_int_equal(tern_kernel_resolve(TERN_KERNEL_SCALAR, &k), TERN_OK);
    assert_int_equal(k, TERN_KERNEL_SCALAR);
    assert_int_equal(tern_kernel_resolve(TERN_KERNEL_COUNT, &k), TERN_ERR_ARG);

    /* A path this machine cannot run: an error status, from every call. */
#if defined(__aarch64__)
    tern_kernel missing = TERN_KERNEL_AVX512;
#else
    tern_kernel missing = TERN_KERNEL_NEON;
#endif
    assert_false(tern_kernel_available(missing));
    assert_int_equal(tern_kernel_resolve(missing, &k), TERN_ERR_UNSUPPORTED);
    assert_non_null(strstr(tern_errmsg(), tern_kernel_name(missing)));
    tern_rng r;
    tern_rng_seed(&r, 43);
    layer L;
    layer_make(&L, 4, 10, 0, &r);
    float x[10], y[4];
    fill_uniform(x, 10, &r, -1, 1);
    size_t bytes = tern_kernel_gemm_scratch_bytes(&L.p, 1, TERN_KACT_I8);
    void *scratch = malloc(bytes);
    tern_status st = tern_kernel_gemm(missing, &L.p, x, 1, NULL, y, TERN_KACT_I8, scratch, bytes);
    assert_int_equal(st, TERN_ERR_UNSUPPORTED);

    /* The library reads no environment: TERN_KERNEL naming a missing path
     * changes nothing (the `tern` program reads it, not libtern). */
    setenv("TERN_KERNEL", tern_kernel_name(missing), 1);
    assert_int_equal(tern_kernel_resolve(TERN_KERNEL_AUTO, &k), TERN_OK);
    assert_int_equal(k, tern_kernel_best());
    assert_int_equal(tern_kernel_gemm(TERN_KERNEL_AUTO, &L.p, x, 1, NULL, y, TERN_KACT_I8, scratch, bytes), TERN_OK);
    unsetenv("TERN_KERNEL");
    free(scratch);
    layer_free(&L);
}

static void test_gemm_bad_input(void **state) {
    (void)state;
    const tern_kernel path = TERN_KERNEL_AUTO;
    tern_rng r;
    tern_rng_seed(&r, 41);
    layer L;
    layer_make(&L, 4, 10, 0, &r);
    float x[2 * 10], y[2 * 4];
    fill_uniform(x, 20, &r, -1, 1);
    size_t bytes = tern_kernel_gemm_scratch_bytes(&L.p, 2, TERN_KACT_I8);
    assert_true(bytes >= 2 * (128 + 8));
    void *scratch = malloc(bytes);
    assert_int_equal(tern_kernel_gemm(path, NULL, x, 2, NULL, y, TERN_KACT_I8, scratch, bytes), TERN_ERR_ARG);
    assert_int_equal(tern_kernel_gemm(path, &L.p, NULL, 2, NULL, y, TERN_KACT_I8, scratch, bytes), TERN_ERR_ARG);
    assert_int_equal(tern_kernel_gemm(path, &L.p, x, 0, NULL, y, TERN_KACT_I8, scratch, bytes), TERN_ERR_SHAPE);
    assert_int_equal(tern_kernel_gemm(path, &L.p, x, 2, NULL, y, TERN_KACT_COUNT, scratch, bytes), TERN_ERR_ARG);
    assert_int_equal(tern_kernel_gemm(path, &L.p, x, 2, NULL, y, TERN_KACT_I8, scratch, bytes - 1), TERN_ERR_ARG);
    assert_non_null(strstr(tern_errmsg(), "scratch"));
    assert_int_equal(tern_kernel_gemm(path, &L.p, x, 2, NULL, y, TERN_KACT_F32, scratch, bytes), TERN_ERR_ARG);
    x[13] = NAN;
    assert_int_equal(tern_kernel_gemm(path, &L.p, x, 2, NULL, y, TERN_KACT_I8, scratch, bytes), TERN_ERR_NUMERIC);
    assert_non_null(strstr(tern_errmsg(), "sample 1"));
    assert_int_equal(tern_kernel_gemm_scratch_bytes(&L.p, 0, TERN_KACT_I8), 0);
    free(scratch);
    layer_free(&L);
}

/* ---- conv over packed weights --------------------------------------------------- */

typedef struct conv_case {
    int n, cout;
    tern_conv2d_geom g;
} conv_case;

static int out_size(int s, int k, int st, int pad) { return (s + 2 * pad - k) / st + 1; }

/* Naive direct conv: fp32 in double (into yd, with the error scale in mag),
 * and int8 on an independently quantized image (into yq). */
static void naive_conv(const layer *L, const conv_case *c, const float *x, double *yd, double *mag, float *yq) {
    const tern_conv2d_geom *g = &c->g;
    int OH = out_size(g->h, g->kh, g->stride, g->pad), OW = out_size(g->w, g->kw, g->stride, g->pad);
    size_t in_n = (size_t)g->cin * g->h * g->w;
    int *q = malloc(in_n * sizeof *q);
    for (int b = 0; b < c->n; b++) {
        const float *img = x + b * in_n;
        float sx;
        naive_quantize(img, (int)in_n, q, &sx);
        for (int o = 0; o < c->cout; o++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double P = 0, N = 0, a = 0;
                    long long Pq = 0, Nq = 0;
                    for (int ci = 0; ci < g->cin; ci++)
                        for (int i = 0; i < g->kh; i++)
                            for (int j = 0; j < g->kw; j++) {
                                int ih = oh * g->stride - g->pad + i, iw = ow * g->stride - g->pad + j;
                                if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w) continue;
                                int v = L->w[(size_t)o * L->K + ((size_t)ci * g->kh + i) * g->kw + j];
                                size_t at = ((size_t)ci * g->h + ih) * g->w + iw;
                                if (v > 0) P += img[at], Pq += q[at];
                                if (v < 0) N += img[at], Nq += q[at];
                                if (v) a += fabs(img[at]);
                            }
                    size_t yo = (((size_t)b * c->cout + o) * OH + oh) * OW + ow;
                    yd[yo] = L->wp[o] * P - L->wn[o] * N + L->bias[o];
                    mag[yo] = a * fmax(L->wp[o], L->wn[o]);
                    yq[yo] = naive_i8_out(Pq, Nq, L->wp[o], L->wn[o], L->p.symmetric, sx, L->bias[o]);
                }
    }
    free(q);
}

static void test_conv_vs_naive(void **state) {
    (void)state;
    tern_rng r;
    tern_rng_seed(&r, 51);
    const conv_case cases[] = {
        {2, 5, {3, 7, 6, 3, 3, 1, 1}},    /* K = 27 */
        {1, 4, {2, 8, 8, 3, 3, 2, 0}},    /* batch 1, stride 2 */
        {1, 3, {16, 5, 5, 1, 1, 1, 0}},   /* 1x1 */
        {3, 17, {20, 9, 7, 5, 3, 2, 2}},  /* K = 300: three blocks, odd M */
        {1, 8, {16, 6, 6, 3, 3, 1, 1}},   /* K = 144 */
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++)
        for (int asym = 0; asym < 2; asym++) {
            const conv_case *c = &cases[t];
            const tern_conv2d_geom *g = &c->g;
            layer L;
            layer_make(&L, c->cout, g->cin * g->kh * g->kw, asym, &r);
            int OH = out_size(g->h, g->kh, g->stride, g->pad), OW = out_size(g->w, g->kw, g->stride, g->pad);
            size_t nx = (size_t)c->n * g->cin * g->h * g->w, ny = (size_t)c->n * c->cout * OH * OW;
            float *x = malloc(nx * sizeof(float)), *y = malloc(ny * sizeof(float)), *yq = malloc(ny * sizeof(float));
            double *yd = malloc(ny * sizeof(double)), *mag = malloc(ny * sizeof(double));
            fill_uniform(x, nx, &r, -1.0f, 2.0f);
            naive_conv(&L, c, x, yd, mag, yq);
            for (int kk = 0; kk < TERN_KERNEL_COUNT; kk++) {
                tern_kernel k = (tern_kernel)kk;
                if (!tern_kernel_available(k)) continue;
                for (int act = 0; act < TERN_KACT_COUNT; act++) {
                    size_t bytes = tern_kernel_conv2d_scratch_bytes(&L.p, g, (tern_kact)act);
                    void *scratch = malloc(bytes);
                    for (size_t a = 0; a < ny; a++) y[a] = NAN;
                    tern_status s = tern_kernel_conv2d(k, &L.p, g, x, c->n, L.bias, y, (tern_kact)act, scratch, bytes);
                    if (s) fail_msg("conv on %s: %s", tern_kernel_name(k), tern_errmsg());
                    for (size_t a = 0; a < ny; a++) {
                        if (act == TERN_KACT_I8 && !bits_equal(y[a], yq[a]))
                            fail_msg("conv %zu %s i8: y[%zu] = %.9g, naive %.9g", t, tern_kernel_name(k), a, y[a],
                                     yq[a]);
                        double tol = 2.0 * L.K * 0x1p-24 * mag[a] + 4 * 0x1p-24 * fabs(yd[a]) + 1e-7;
                        if (act == TERN_KACT_F32 && !(fabs(y[a] - yd[a]) <= tol))
                            fail_msg("conv %zu %s f32: y[%zu] = %.9g, naive %.9g", t, tern_kernel_name(k), a, y[a],
                                     yd[a]);
                    }
                    free(scratch);
                }
            }
            free(x), free(y), free(yq), free(yd), free(mag);
            layer_free(&L);
        }
}

static void test_conv_bad_input(void **state) {
    (void)state;
    const tern_kernel path = TERN_KERNEL_AUTO;
    tern_rng r;
    tern_rng_seed(&r, 52);
    layer L;
    layer_make(&L, 4, 27, 0, &r);
    tern_conv2d_geom g = {3, 5, 5, 3, 3, 1, 0};
    float x[75], y[4 * 9];
    fill_uniform(x, 75, &r, -1, 1);
    size_t bytes = tern_kernel_conv2d_scratch_bytes(&L.p, &g, TERN_KACT_I8);
    void *scratch = malloc(bytes);
    assert_int_equal(tern_kernel_conv2d(path, &L.p, &g, x, 1, NULL, y, TERN_KACT_I8, scratch, bytes), TERN_OK);
    tern_conv2d_geom g2 = g;
    g2.cin = 2;   /* 2*3*3 = 18 != 27 */
    assert_int_equal(tern_kernel_conv2d(path, &L.p, &g2, x, 1, NULL, y, TERN_KACT_I8, scratch, bytes), TERN_ERR_SHAPE);
    assert_non_null(strstr(tern_errmsg(), "(4,27)"));
    g2 = g;
    g2.stride = 0;
    assert_int_equal(tern_kernel_conv2d(path, &L.p, &g2, x, 1, NULL, y, TERN_KACT_I8, scratch, bytes), TERN_ERR_SHAPE);
    g2 = g;
    g2.h = 1;   /* 3x3 kernel over a 1x5 input without padding */
    assert_int_equal(tern_kernel_conv2d(path, &L.p, &g2, x, 1, NULL, y, TERN_KACT_I8, scratch, bytes), TERN_ERR_SHAPE);
    assert_int_equal(tern_kernel_conv2d(path, &L.p, &g, x, 1, NULL, y, TERN_KACT_I8, scratch, bytes - 1), TERN_ERR_ARG);
    assert_int_equal(tern_kernel_conv2d(path, &L.p, &g, x, 0, NULL, y, TERN_KACT_I8, scratch, bytes), TERN_ERR_SHAPE);
    x[40] = INFINITY;
    assert_int_equal(tern_kernel_conv2d(path, &L.p, &g, x, 1, NULL, y, TERN_KACT_I8, scratch, bytes), TERN_ERR_NUMERIC);
    free(scratch);
    layer_free(&L);
}

/* im2col with rows ld apart against the definition, entry by entry, on the
 * paths it has: padded or strided (the general body) and valid stride 1,
 * with rows of 8 floats (one vector), under 8, 9..15 (overlapping blocks)
 * and 24; the gap between rows (ld > OH OW) is left untouched. And col2im
 * is its adjoint: <im2col(x), d> = <x, col2im(d)>. */
static void test_im2col_vs_definition(void **state) {
    (void)state;
    const int geo[][7] = {
        /* C, H, W, K, stride, pad, (unused) */
        {32, 12, 12, 5, 1, 0, 0}, {1, 28, 28, 5, 1, 0, 0}, {3, 9, 9, 5, 1, 0, 0}, {2, 7, 17, 3, 1, 0, 0},
        {2, 13, 11, 3, 1, 0, 0},  {3, 10, 10, 3, 1, 1, 0}, {2, 11, 9, 3, 2, 1, 0}, {1, 6, 6, 6, 1, 0, 0},
    };
    tern_rng r;
    tern_rng_seed(&r, 99);
    for (size_t g = 0; g < sizeof geo / sizeof geo[0]; g++) {
        int C = geo[g][0], H = geo[g][1], W = geo[g][2], KH = geo[g][3], KW = geo[g][3], st = geo[g][4], pad = geo[g][5];
        int OH = (H + 2 * pad - KH) / st + 1, OW = (W + 2 * pad - KW) / st + 1;
        size_t K = (size_t)C * KH * KW, P = (size_t)OH * OW, ld = P + 5;
        float *x = malloc(sizeof(float) * C * H * W), *col = malloc(sizeof(float) * K * ld);
        float *d = malloc(sizeof(float) * K * ld), *dx = calloc((size_t)C * H * W, sizeof(float));
        for (int i = 0; i < C * H * W; i++) x[i] = tern_rng_normal(&r);
        for (size_t i = 0; i < K * ld; i++) col[i] = -7.0f, d[i] = tern_rng_normal(&r);
        tern_kernel_im2col_ld_f32(x, C, H, W, KH, KW, st, pad, OH, OW, col, ld);
        double lhs = 0.0;
        for (int ch = 0; ch < C; ch++)
            for (int kh = 0; kh < KH; kh++)
                for (int kw = 0; kw < KW; kw++) {
                    size_t row = ((size_t)ch * KH + kh) * KW + kw;
                    for (int oh = 0; oh < OH; oh++)
                        for (int ow = 0; ow < OW; ow++) {
                            int h = oh * st - pad + kh, w = ow * st - pad + kw;
                            float want = h < 0 || h >= H || w < 0 || w >= W ? 0.0f : x[((size_t)ch * H + h) * W + w];
                            float got = col[row * ld + (size_t)oh * OW + ow];
                            if (got != want) fail_msg("im2col geometry %zu: row %zu (%d,%d) = %g, want %g", g, row, oh, ow, got, want);
                            lhs += (double)got * d[row * ld + (size_t)oh * OW + ow];
                        }
                    for (size_t gap = P; gap < ld; gap++) assert_true(col[row * ld + gap] == -7.0f);
                }
        tern_kernel_col2im_add_ld_f32(d, ld, C, H, W, KH, KW, st, pad, OH, OW, dx);
        double rhs = 0.0;
        for (int i = 0; i < C * H * W; i++) rhs += (double)x[i] * dx[i];
        assert_true(fabs(lhs - rhs) <= 1e-4 * (1.0 + fabs(lhs)));
        free(x), free(col), free(d), free(dx);
    }
}

/* maxpool written from its contract: the scan of each window's valid
 * pixels in row-major order, keeping the first NaN, else the first strict
 * maximum; *at its index h W + w. */
static float naive_window_max(const float *xp, int H, int W, int h0, int w0, int k, int32_t *at) {
    int32_t best = -1;
    for (int h = h0; h < h0 + k; h++)
        for (int w = w0; w < w0 + k; w++) {
            if (h < 0 || h >= H || w < 0 || w >= W) continue;
            const int32_t i = h * W + w;
            if (best < 0 || (xp[best] == xp[best] && (xp[i] != xp[i] || xp[i] > xp[best]))) best = i;
        }
    *at = best;
    return xp[best];
}

/* The 2x2 stride-2 rows of plane by plane, on each twin this CPU has (the
 * scalar one always, the AVX-512 one where the CPU has it), whichever of
 * them tern_kernel_maxpool2d_f32 dispatches to: y (planes, OH, OW). */
static void maxpool2x2_twin(int twin, const float *x, int P, int H, int W, int OH, int OW, float *y) {
    for (int p = 0; p < P; p++) {
        const float *xp = x + (size_t)p * H * W;
        float *yp = y + (size_t)p * OH * OW;
#if defined(__x86_64__)
        if (twin == 1) {
            tern_kernel_maxpool2x2_f32_avx512(xp, W, (size_t)OH, OW, yp);
            continue;
        }
#endif
        (void)twin;
        tern_kernel_maxpool2x2_f32_ref(xp, W, (size_t)OH, OW, yp);
    }
}

/* tern_kernel_maxpool2d_f32, with and without the argmax, and each twin of
 * its 2x2 stride-2 rows, bit for bit against the scan on shapes that reach
 * every path (the 2x2 stride-2 fast path with even and odd H and W, one
 * plane and several, rows of 1..33 outputs: vector tails of 1..15, 16
 * and 32 exactly; other k, stride and padding), on values drawn from a
 * few that tie, +0 and -0 among them, and NaNs of distinct payloads, so a
 * path that picks another tie or another NaN shows in the bits. */
static void test_maxpool_vs_scan(void **state) {
    (void)state;
    const int geo[][6] = {
        /* planes, H, W, k, stride, pad */
        {32, 24, 24, 2, 2, 0}, {64, 8, 8, 2, 2, 0}, {1, 2, 2, 2, 2, 0}, {3, 7, 9, 2, 2, 0}, {5, 6, 35, 2, 2, 0},
        {2, 5, 4, 2, 2, 0},    {4, 16, 34, 2, 2, 0}, {3, 9, 9, 3, 2, 1},  {2, 6, 7, 2, 1, 1},  {2, 10, 10, 3, 3, 0},
        {1, 5, 5, 1, 1, 0},    {3, 8, 8, 2, 2, 1},   {2, 11, 13, 5, 2, 2}, {2, 4, 32, 2, 2, 0},
        {1, 3, 64, 2, 2, 0},   {2, 4, 67, 2, 2, 0},  {3, 2, 47, 2, 2, 0},  {2, 6, 30, 2, 2, 0},
        {2, 6, 8, 2, 2, 0},    {3, 10, 4, 2, 2, 0},  {2, 2, 2, 2, 2, 0},   {1, 6, 16, 2, 2, 0},  {5, 4, 16, 2, 2, 0},
    };
    const int twins = tern_kernel_available(TERN_KERNEL_AVX512) ? 2 : 1;
    const float vals[] = {-0.0f, 0.0f, 1.0f, -1.0f, 2.0f, 1.0f, -3.5f};
    tern_rng r;
    tern_rng_seed(&r, 7);
    for (size_t g = 0; g < sizeof geo / sizeof geo[0]; g++) {
        const int P = geo[g][0], H = geo[g][1], W = geo[g][2], k = geo[g][3], st = geo[g][4], pad = geo[g][5];
        const int OH = (H + 2 * pad - k) / st + 1, OW = (W + 2 * pad - k) / st + 1;
        const size_t nx = (size_t)P * H * W, ny = (size_t)P * OH * OW;
        float *x = malloc(sizeof(float) * nx), *y = malloc(sizeof(float) * ny), *ya = malloc(sizeof(float) * ny);
        float *yt = malloc(sizeof(float) * ny);
        int32_t *am = malloc(sizeof(int32_t) * ny);
        for (int rep = 0; rep < 3; rep++) {
            for (size_t i = 0; i < nx; i++) {
                x[i] = vals[tern_rng_below(&r, sizeof vals / sizeof vals[0])];
                if (rep > 0 && tern_rng_below(&r, 8) == 0) {  /* a NaN whose payload names its place */
                    uint32_t bits = 0x7fc00000u | (uint32_t)(i & 0x3fffff);
                    memcpy(&x[i], &bits, 4);
                }
            }
            tern_kernel_maxpool2d_f32(x, (size_t)P, H, W, k, st, pad, OH, OW, y, NULL);
            tern_kernel_maxpool2d_f32(x, (size_t)P, H, W, k, st, pad, OH, OW, ya, am);
            for (int t = 0; t < twins && k == 2 && st == 2 && pad == 0; t++) {
                maxpool2x2_twin(t, x, P, H, W, OH, OW, yt);
                for (size_t o = 0; o < ny; o++)
                    if (memcmp(&yt[o], &y[o], 4))
                        fail_msg("maxpool geometry %zu rep %d: twin %d output %zu = %g, dispatch %g", g, rep, t, o,
                                 yt[o], y[o]);
            }
            for (int p = 0; p < P; p++)
                for (int oh = 0; oh < OH; oh++)
                    for (int ow = 0; ow < OW; ow++) {
                        const size_t o = ((size_t)p * OH + oh) * OW + ow;
                        int32_t at;
                        const float want = naive_window_max(x + (size_t)p * H * W, H, W, oh * st - pad, ow * st - pad, k, &at);
                        if (memcmp(&y[o], &want, 4) || memcmp(&ya[o], &want, 4) || am[o] != at)
                            fail_msg("maxpool geometry %zu rep %d: plane %d (%d,%d) = %g / %g at %d, want %g at %d", g,
                                     rep, p, oh, ow, y[o], ya[o], am[o], want, at);
                    }
        }
        free(x), free(y), free(ya), free(yt), free(am);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_layout_by_hand),
        cmocka_unit_test(test_pack_tile_order),
        cmocka_unit_test(test_pack_roundtrip),
        cmocka_unit_test(test_pack_rejects_bad_values),
        cmocka_unit_test(test_quantize_by_hand),
        cmocka_unit_test(test_scalar_i8_exact),
        cmocka_unit_test(test_scalar_f32_vs_naive),
        cmocka_unit_test(test_paths_vs_scalar),
        cmocka_unit_test(test_gemm_epilogue),
        cmocka_unit_test(test_paths_quantize),
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_gemm_bad_input),
        cmocka_unit_test(test_conv_vs_naive),
        cmocka_unit_test(test_conv_bad_input),
        cmocka_unit_test(test_im2col_vs_definition),
        cmocka_unit_test(test_maxpool_vs_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
