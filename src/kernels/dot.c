/* dot.c — the fp32 linear layer (dot.h): 16-lane partial sums per output
 * in GCC vector extensions, which compile to one AVX-512 register, two AVX2
 * ones or four SSE/NEON ones with the same lane-wise arithmetic, so every
 * target gives the same bits. */
#include <string.h>

#include "kernels/dot.h"

typedef float v16 __attribute__((vector_size(64)));

static inline v16 load16(const float *p) {
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The lanes of acc finished as dot.h says (tern_pt_dot_finish: the tail,
 * the fixed tree, the bias), then the epilogue. */
static inline float finish(v16 acc, const float *x, const float *w, int k0, int K, float bias,
                           const tern_epilogue *e, int r) {
    float a[16];
    memcpy(a, &acc, sizeof a);
    const float y = tern_pt_dot_finish(a, x, w, k0, K, bias);
    return e ? tern_epi_apply(e, r, y) : y;
}

/* An S x R tile (S samples from i, R rows from r) over the full chunks. */
#define LINEAR_TILE(S, R)                                                                          \
    static void tile_##S##x##R(const float *x, int K, const float *W, const float *bias, int M,    \
                               const tern_epilogue *e, float *y, int i, int r) {                   \
        v16 acc[S][R];                                                                             \
        memset(acc, 0, sizeof acc);                                                                \
        const int kf = K / 16 * 16;                                                                \
        for (int k = 0; k < kf; k += 16) {                                                         \
            v16 xs[S], ws[R];                                                                      \
            for (int s = 0; s < S; s++) xs[s] = load16(x + (size_t)(i + s) * K + k);               \
            for (int q = 0; q < R; q++) ws[q] = load16(W + (size_t)(r + q) * K + k);               \
            for (int s = 0; s < S; s++)                                                            \
                for (int q = 0; q < R; q++) acc[s][q] += xs[s] * ws[q];                            \
        }                                                                                          \
        for (int s = 0; s < S; s++)                                                                \
            for (int q = 0; q < R; q++)                                                            \
                y[(size_t)(i + s) * M + r + q] = finish(acc[s][q], x + (size_t)(i + s) * K,        \
                                                        W + (size_t)(r + q) * K, kf, K, bias[r + q], e, r + q); \
    }

LINEAR_TILE(4, 4)
LINEAR_TILE(4, 1)
LINEAR_TILE(1, 4)
LINEAR_TILE(1, 1)

/* Rows in blocks of about 64 KB of weights, which stay in L2 while every
 * sample passes over them (the order of each output does not change). */
void tern_kernel_linear_f32(const float *x, int n, const float *W, const float *bias, int M, int K,
                            const tern_epilogue *e, float *y) {
    int rb = (int)(((size_t)64 << 10) / (sizeof(float) * (size_t)(K > 0 ? K : 1))) / 4 * 4;
    rb = rb < 4 ? 4 : rb;
    for (int r0 = 0; r0 < M; r0 += rb) {
        const int r1 = M - r0 < rb ? M : r0 + rb;
        int i = 0;
        for (; i + 4 <= n; i += 4) {
            int r = r0;
            for (; r + 4 <= r1; r += 4) tile_4x4(x, K, W, bias, M, e, y, i, r);
            for (; r < r1; r++) tile_4x1(x, K, W, bias, M, e, y, i, r);
        }
        for (; i < n; i++) {
            int r = r0;
            for (; r + 4 <= r1; r += 4) tile_1x4(x, K, W, bias, M, e, y, i, r);
            for (; r < r1; r++) tile_1x1(x, K, W, bias, M, e, y, i, r);
        }
    }
}
