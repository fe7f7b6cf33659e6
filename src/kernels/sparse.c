/* sparse.c — zero-skipping ternary GEMM and conv2d (tern/kernels.h): the
 * column lists built from the packed codes, and the drivers that stage
 * activations transposed (K, n) into caller scratch and call the chosen path.
 * The scalar twins that define the order of summation are in ref.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fp32.h"
#include "kernels_impl.h"
#include "tern/tensor.h"

/* ---- the column lists ------------------------------------------------------ */

tern_status tern_sparse_init(tern_sparse *s, const tern_packed *w) {
    if (!s) return tern_error(TERN_ERR_ARG, "sparse_init: NULL lists");
    memset(s, 0, sizeof *s);
    if (!w || !w->qs) return tern_error(TERN_ERR_ARG, "sparse_init: NULL packed matrix");
    const size_t M = (size_t)w->rows, K = (size_t)w->cols;
    int8_t *t = malloc(M * K); /* (M, K) the unpacked weights */
    if (!t) return tern_error(TERN_ERR_NOMEM, "sparse_init: cannot unpack a (%d,%d) matrix", w->rows, w->cols);
    tern_status st = tern_packed_get(w, t);
    size_t nnz = 0;
    for (size_t i = 0; !st && i < M * K; i++) nnz += t[i] != 0;
    if (!st) {
        s->seg = malloc((2 * M + 1) * sizeof *s->seg);
        s->idx = malloc((nnz ? nnz : 1) * sizeof *s->idx);
        if (!s->seg || !s->idx)
            st = tern_error(TERN_ERR_NOMEM, "sparse_init: cannot allocate lists of %zu nonzeros", nnz);
    }
    if (!st) {
        size_t e = 0;
        for (size_t r = 0; r < M; r++) {
            const int8_t *tr = t + r * K;
            s->seg[2 * r] = e;
            for (size_t k = 0; k < K; k++)
                if (tr[k] > 0) s->idx[e++] = (uint32_t)k;
            s->seg[2 * r + 1] = e;
            for (size_t k = 0; k < K; k++)
                if (tr[k] < 0) s->idx[e++] = (uint32_t)k;
        }
        s->seg[2 * M] = e;
        s->w = w;
        s->rows = w->rows;
        s->cols = w->cols;
        s->nnz = nnz;
    }
    free(t);
    if (st) tern_sparse_free(s);
    return st;
}

void tern_sparse_free(tern_sparse *s) {
    if (!s) return;
    free(s->seg);
    free(s->idx);
    memset(s, 0, sizeof *s);
}

size_t tern_sparse_bytes(const tern_sparse *s) {
    if (!s || !s->seg) return 0;
    return (2 * (size_t)s->rows + 1) * sizeof *s->seg + s->nnz * sizeof *s->idx;
}

double tern_sparse_zero_fraction(const tern_sparse *s) {
    if (!s || !s->seg) return 0.0;
    return 1.0 - (double)s->nnz / ((double)s->rows * (double)s->cols);
}

/* ---- the drivers ----------------------------------------------------------- */

/* Readable bytes the SIMD paths may touch after the staged activations. */
#define SLACK 64

static void *align64(void *p) { return (void *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

size_t tern_sparse_gemm_scratch_bytes(const tern_sparse *s, int n, tern_kact act) {
    if (!s || n < 1) return 0;
    const size_t K = (size_t)s->cols, N = (size_t)n;
    const size_t yt = N > 1 ? 4 * (size_t)s->rows * N + 64 : 0; /* (M, n) outputs before their transpose */
    /* I8: qt (K, n) int16 + slack, the quantized rows (n, K), sx (n), yt. */
    if (act == TERN_KACT_I8) return 2 * K * N + SLACK + K * N + 4 * N + 2 * 64 + yt;
    return 4 * K * N + SLACK + 64 + yt; /* F32: xt (K, n) + slack, yt */
}

static tern_status check(const tern_sparse *s, const void *x, const void *y, const void *scratch, int n, tern_kact act,
                         const char *who) {
    if (!s || !s->seg || !s->w || !x || !y || !scratch)
        return tern_error(TERN_ERR_ARG, "%s: NULL lists, input, output or scratch", who);
    if (n < 1) return tern_error(TERN_ERR_SHAPE, "%s: batch %d, needs at least 1", who, n);
    if ((unsigned)act >= TERN_KACT_COUNT) return tern_error(TERN_ERR_ARG, "%s: unknown activation mode %d", who, act);
    return TERN_OK;
}

tern_status tern_sparse_gemm(tern_kernel path, const tern_sparse *s, const float *x, int n, const float *bias, float *y,
                             tern_kact act, void *scratch, size_t scratch_bytes) {
    tern_status st = check(s, x, y, scratch, n, act, "sparse_gemm");
    if (st) return st;
    size_t need = tern_sparse_gemm_scratch_bytes(s, n, act);
    if (scratch_bytes < need)
        return tern_error(TERN_ERR_ARG, "sparse_gemm: scratch has %zu bytes, (%d,%d) x batch %d needs %zu", scratch_bytes,
                          s->rows, s->cols, n, need);
    const tern_kernel_ops *ops;
    if ((st = tern_kernel_ops_get(path, &ops))) return st;

    const size_t K = (size_t)s->cols, N = (size_t)n, M = (size_t)s->rows;
    unsigned char *b = align64(scratch);
    float *yt = y; /* the kernels write y (M, n): at n = 1 that is y itself, else scratch */
    if (act == TERN_KACT_I8) {
        int16_t *qt = (int16_t *)b;                                 /* (K, n) */
        int8_t *q = (int8_t *)(qt + K * N) + SLACK;                 /* (n, K) */
        float *sx = (float *)align64(q + K * N);                    /* (n) */
        if (n > 1) yt = align64(sx + N);                            /* (M, n) */
        memset(qt + K * N, 0, SLACK);
        for (int i = 0; i < n; i++) {
            int32_t qsum;
            if (ops->quantize(x + (size_t)i * K, s->cols, q + (size_t)i * K, &sx[i], &qsum))
                return tern_error(TERN_ERR_NUMERIC, "sparse_gemm: sample %d has a NaN or Inf activation", i);
        }
        TERN_TRANSPOSE(qt, N, q, K, N, K)
        tern_sq_job job = {.s = s, .n = n, .qt = qt, .ldt = N, .sx = sx, .bias = bias, .y = yt, .ldy = N};
        ops->sparse_i8(&job);
    } else {
        /* At n = 1 the input row is already (K, 1); the paths run scalar there. */
        float *xt = (float *)b; /* (K, n) */
        if (n > 1) {
            yt = align64(xt + K * N + SLACK / sizeof(float)); /* (M, n) */
            memset(xt + K * N, 0, SLACK);
            TERN_TRANSPOSE(xt, N, x, K, N, K)
        }
        tern_sf_job job = {.s = s, .n = n, .xt = n > 1 ? xt : x, .ldt = N, .bias = bias, .y = yt, .ldy = N};
        ops->sparse_f32(&job);
    }
    if (n > 1) TERN_TRANSPOSE(y, M, yt, N, M, N)
    return TERN_OK;
}

size_t tern_sparse_conv2d_scratch_bytes(const tern_sparse *s, const tern_conv2d_geom *g, tern_kact act) {
    if (!s || !g || g->cin < 1 || g->h < 1 || g->w < 1 || g->kh < 1 || g->kw < 1 || g->stride < 1 || g->pad < 0)
        return 0;
    if (g->h + 2 * g->pad < g->kh || g->w + 2 * g->pad < g->kw) return 0;
    const size_t P = (size_t)tern_conv_out_size(g->h, g->kh, g->stride, g->pad) *
                     (size_t)tern_conv_out_size(g->w, g->kw, g->stride, g->pad);
    const size_t K = (size_t)s->cols;
    /* I8: col (K, P) int16 + slack, the quantized image int8 and int16, sx (P). */
    if (act == TERN_KACT_I8) return 2 * K * P + SLACK + 3 * (size_t)g->cin * g->h * g->w + 4 * P + 4 * 64;
    return 4 * K * P + SLACK + 64; /* F32: col (K, P) + slack */
}

tern_status tern_sparse_conv2d(tern_kernel path, const tern_sparse *s, const tern_conv2d_geom *g, const float *x,
                               int n, const float *bias, float *y, tern_kact act, void *scratch, size_t scratch_bytes) {
    tern_status st = check(s, x, y, scratch, n, act, "sparse_conv2d");
    if (st) return st;
    if (!g) return tern_error(TERN_ERR_ARG, "sparse_conv2d: NULL geometry");
    if (g->cin < 1 || g->h < 1 || g->w < 1 || g->kh < 1 || g->kw < 1 || g->stride < 1 || g->pad < 0 ||
        (long)g->cin * g->kh * g->kw != s->cols || g->h + 2 * g->pad < g->kh || g->w + 2 * g->pad < g->kw ||
        (long long)g->cin * g->h * g->w > INT32_MAX)
        return tern_error(TERN_ERR_SHAPE,
                          "sparse_conv2d: input (%d,%d,%d), kernel %dx%d, stride %d, pad %d does not fit weight (%d,%d)",
                          g->cin, g->h, g->w, g->kh, g->kw, g->stride, g->pad, s->rows, s->cols);
    size_t need = tern_sparse_conv2d_scratch_bytes(s, g, act);
    if (scratch_bytes < need)
        return tern_error(TERN_ERR_ARG, "sparse_conv2d: scratch has %zu bytes, needs %zu", scratch_bytes, need);
    const tern_kernel_ops *ops;
    if ((st = tern_kernel_ops_get(path, &ops))) return st;

    const int oh_n = (int)tern_conv_out_size(g->h, g->kh, g->stride, g->pad);
    const int ow_n = (int)tern_conv_out_size(g->w, g->kw, g->stride, g->pad);
    const size_t P = (size_t)oh_n * (size_t)ow_n, K = (size_t)s->cols;
    const size_t in_n = (size_t)g->cin * g->h * g->w, out_n = (size_t)s->rows * P;
    unsigned char *b = align64(scratch);
    for (int im = 0; im < n; im++) {
        const float *img = x + (size_t)im * in_n; /* (cin, h, w) */
        float *yb = y + (size_t)im * out_n;        /* (M, P) */
        if (act == TERN_KACT_I8) {
            int16_t *col = (int16_t *)b;                                /* (K, P) */
            int8_t *qimg = (int8_t *)(col + K * P) + SLACK;             /* (cin, h, w) */
            int16_t *wimg = (int16_t *)align64(qimg + in_n);            /* (cin, h, w) widened */
            float *sx = (float *)align64(wimg + in_n);                  /* (P) */
            float sxi;
            int32_t total;
            if (ops->quantize(img, (int)in_n, qimg, &sxi, &total))
                return tern_error(TERN_ERR_NUMERIC, "sparse_conv2d: image %d has a NaN or Inf activation", im);
            for (size_t t = 0; t < in_n; t++) wimg[t] = qimg[t];
            tern_kernel_im2col_i16(wimg, g->cin, g->h, g->w, g->kh, g->kw, g->stride, g->pad, oh_n, ow_n, col);
            memset(col + K * P, 0, SLACK);
            for (size_t p = 0; p < P; p++) sx[p] = sxi;
            tern_sq_job job = {.s = s, .n = (int)P, .qt = col, .ldt = P, .sx = sx, .bias = bias, .y = yb, .ldy = P};
            ops->sparse_i8(&job);
        } else {
            float *col = (float *)b; /* (K, P) */
            tern_kernel_im2col_f32(img, g->cin, g->h, g->w, g->kh, g->kw, g->stride, g->pad, oh_n, ow_n, col);
            memset(col + K * P, 0, SLACK);
            tern_sf_job job = {.s = s, .n = (int)P, .xt = col, .ldt = P, .bias = bias, .y = yb, .ldy = P};
            ops->sparse_f32(&job);
        }
    }
    return TERN_OK;
}
