/* test_dot.c — the runtime's fp32 linear layer (src/kernels/dot.h) against
 * a plain loop written here from its documented order of summation, bit for
 * bit: tiles of 4 samples x 4 rows and every tail (n, M not multiples of 4;
 * K below, at and above multiples of 16), with and without an epilogue; and
 * a sample gets the same bits alone as inside any batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dot.h"
#include "tern.h"

/* The contract, one output at a time. */
static float plain_dot(const float *x, const float *w, int K, float bias) {
    float a[16] = {0};
    int k = 0;
    for (; k + 16 <= K; k += 16)
        for (int l = 0; l < 16; l++) {
            float p = x[k + l] * w[k + l];
            a[l] = a[l] + p;
        }
    for (int l = 0; k < K; k++, l++) {
        float p = x[k] * w[k];
        a[l] = a[l] + p;
    }
    for (int h = 8; h >= 1; h /= 2)
        for (int l = 0; l < h; l++) a[l] = a[l] + a[l + h];
    return a[0] + bias;
}

static void fill(float *v, size_t n, tern_rng *r) {
    for (size_t i = 0; i < n; i++) v[i] = tern_rng_normal(r);
}

static void test_linear_vs_plain(void **state) {
    (void)state;
    static const int Ns[] = {1, 3, 4, 5, 9}, Ms[] = {1, 3, 4, 7, 10}, Ks[] = {1, 15, 16, 17, 33, 100};
    tern_rng r;
    tern_rng_seed(&r, 11);
    for (size_t a = 0; a < sizeof Ns / sizeof *Ns; a++)
        for (size_t b = 0; b < sizeof Ms / sizeof *Ms; b++)
            for (size_t c = 0; c < sizeof Ks / sizeof *Ks; c++)
                for (int withe = 0; withe < 2; withe++) {
                    const int n = Ns[a], M = Ms[b], K = Ks[c];
                    float *x = malloc(sizeof(float) * (size_t)n * K), *w = malloc(sizeof(float) * (size_t)M * K);
                    float *bias = malloc(sizeof(float) * M), *ce = malloc(sizeof(float) * M);
                    float *sc = malloc(sizeof(float) * M), *sh = malloc(sizeof(float) * M);
                    float *y = malloc(sizeof(float) * (size_t)n * M), *y1 = malloc(sizeof(float) * M);
                    fill(x, (size_t)n * K, &r), fill(w, (size_t)M * K, &r), fill(bias, M, &r);
                    fill(ce, M, &r), fill(sc, M, &r), fill(sh, M, &r);
                    const tern_epilogue e = {ce, sc, sh, TERN_EPI_RELU};
                    const tern_epilogue *ep = withe ? &e : NULL;
                    tern_kernel_linear_f32(x, n, w, bias, M, K, ep, y);
                    for (int i = 0; i < n; i++) {
                        tern_kernel_linear_f32(x + (size_t)i * K, 1, w, bias, M, K, ep, y1);
                        for (int q = 0; q < M; q++) {
                            float want = plain_dot(x + (size_t)i * K, w + (size_t)q * K, K, bias[q]);
                            if (ep) want = tern_epi_apply(ep, q, want);
                            const float got = y[(size_t)i * M + q];
                            if (memcmp(&got, &want, sizeof got) || memcmp(&y1[q], &want, sizeof got))
                                fail_msg("n %d M %d K %d epi %d: y[%d,%d] = %.9g (alone %.9g), want %.9g", n, M, K,
                                         withe, i, q, got, y1[q], want);
                        }
                    }
                    free(x), free(w), free(bias), free(ce), free(sc), free(sh), free(y), free(y1);
                }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_vs_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
