/* test_dconv.c — the direct fp32 conv (src/kernels/dconv.h): the scalar
 * twin against a plain loop written here from the documented math, and
 * every SIMD twin this CPU runs against the scalar one, bit for bit, on
 * edge shapes: cin 1/3/4, M 1/7/16/33 (tiles of 8 and a tail), kernel
 * 1/3/5, stride 1/2, pad 0/2, batch 1/3, rows narrower and wider than 16
 * lanes, with and without an affine and an activation in the epilogue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dconv.h"
#include "tern.h"

/* The contract, one output at a time. */
static void plain_dconv(const tern_conv2d_geom *g, int M, const float *w, const float *bias, const tern_epilogue *e,
                        const float *x, int n, float *y) {
    const int C = g->cin, H = g->h, W = g->w, k = g->kh, s = g->stride, p = g->pad;
    const int OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
    for (int b = 0; b < n; b++)
        for (int r = 0; r < M; r++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    float acc = 0.0f;
                    for (int c = 0; c < C; c++)
                        for (int kh = 0; kh < k; kh++)
                            for (int kw = 0; kw < k; kw++) {
                                int ih = oh * s - p + kh, iw = ow * s - p + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                acc = fmaf(w[((r * C + c) * k + kh) * k + kw],
                                           x[(((size_t)b * C + c) * H + ih) * W + iw], acc);
                            }
                    float v = acc + bias[r];
                    if (e->center) v = (v - e->center[r]) * e->scale[r] + e->shift[r];
                    if (e->act == TERN_EPI_RELU && v < 0.0f) v = 0.0f;
                    if (e->act == TERN_EPI_HARDTANH) v = v < -1.0f ? -1.0f : v > 1.0f ? 1.0f : v;
                    y[(((size_t)b * M + r) * OH + oh) * OW + ow] = v;
                }
}

static void test_dconv_paths(void **state) {
    (void)state;
    const int cins[] = {1, 3, 4}, Ms[] = {1, 7, 16, 33}, ks[] = {1, 3, 5}, strides[] = {1, 2}, pads[] = {0, 2};
    const int sizes[][2] = {{5, 7}, {28, 28}, {9, 37}};  /* H, W */
    tern_rng r;
    tern_rng_seed(&r, 11);
    int cases = 0, simd_cases = 0;
    for (int ci = 0; ci < 3; ci++)
        for (int mi = 0; mi < 4; mi++)
            for (int ki = 0; ki < 3; ki++)
                for (int si = 0; si < 2; si++)
                    for (int pi = 0; pi < 2; pi++)
                        for (int hw = 0; hw < 3; hw++) {
                            const int C = cins[ci], M = Ms[mi], k = ks[ki], s = strides[si], p = pads[pi];
                            const int H = sizes[hw][0], W = sizes[hw][1], n = 1 + 2 * ((ci + mi + hw) % 2);
                            if (H + 2 * p < k || W + 2 * p < k) continue;
                            const tern_conv2d_geom g = {C, H, W, k, k, s, p};
                            const int OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
                            const size_t nx = (size_t)n * C * H * W, ny = (size_t)n * M * OH * OW;
                            float *x = malloc(4 * nx), *w = malloc(4 * (size_t)M * C * k * k), *aff = malloc(4 * 4 * M);
                            float *y0 = malloc(4 * ny), *y1 = malloc(4 * ny), *y2 = malloc(4 * ny);
                            for (size_t i = 0; i < nx; i++) x[i] = tern_rng_normal(&r);
                            for (int i = 0; i < M * C * k * k; i++) w[i] = tern_rng_normal(&r);
                            for (int i = 0; i < 4 * M; i++) aff[i] = tern_rng_normal(&r);
                            const int variant = (ki + si + pi + hw) % 3;
                            tern_epilogue e = {0};
                            if (variant == 1) e = (tern_epilogue){aff + M, aff + 2 * M, aff + 3 * M, TERN_EPI_RELU};
                            if (variant == 2) e.act = TERN_EPI_HARDTANH;
                            plain_dconv(&g, M, w, aff, &e, x, n, y0);
                            tern_dconv_f32_ref(&g, M, w, aff, &e, x, n, y1);
                            if (memcmp(y0, y1, 4 * ny))
                                fail_msg("scalar dconv differs from the contract: C%d M%d k%d s%d p%d %dx%d n%d", C, M, k,
                                         s, p, H, W, n);
                            for (int path = TERN_KERNEL_AVX2; path < TERN_KERNEL_COUNT; path++) {
                                if (!tern_kernel_available((tern_kernel)path)) continue;
                                memset(y2, 0xff, 4 * ny);
                                tern_dconv_f32((tern_kernel)path, &g, M, w, aff, &e, x, n, y2);
                                if (memcmp(y1, y2, 4 * ny))
                                    fail_msg("%s dconv differs from scalar: C%d M%d k%d s%d p%d %dx%d n%d",
                                             tern_kernel_name((tern_kernel)path), C, M, k, s, p, H, W, n);
                                simd_cases++;
                            }
                            cases++;
                            free(x), free(w), free(aff), free(y0), free(y1), free(y2);
                        }
    assert_true(cases > 100);
    (void)simd_cases;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dconv_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
