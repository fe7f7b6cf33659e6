/* kernels_impl.h — what every kernel path implements, and the shared epilogue.
 * Internal to src/kernels. */
#ifndef TERN_KERNELS_IMPL_H
#define TERN_KERNELS_IMPL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/epilogue.h"
#include "tern/kernels.h"

/* An int8 GEMM over activations already quantized (tern_kernel_quantize):
 *   y[i*ys + r*yr] for sample i < n and row r < w->rows.
 * Row i of q starts at q + i*ldq and holds Kp = 128*kblocks values, zero
 * from K on, so kernels never need a K tail. */
typedef struct tern_kq_job {
    const tern_packed *w;
    int n;
    const int8_t *q;       /* (n, ldq) */
    size_t ldq;            /* >= Kp */
    const float *sx;       /* (n) dequantization scale per sample */
    const int32_t *qsum;   /* (n) sum of q over the sample */
    const float *bias;     /* (M) or NULL */
    const tern_epilogue *epi;   /* applied to each y as it is stored, or NULL */
    float *y;
    size_t ys, yr;         /* strides of y per sample and per row */
} tern_kq_job;

/* An fp32 GEMM: row i of x starts at x + i*ldx and is zero from K to Kp. */
typedef struct tern_kf_job {
    const tern_packed *w;
    int n;
    const float *x;        /* (n, ldx) */
    size_t ldx;            /* >= Kp */
    const float *bias;
    const tern_epilogue *epi;   /* or NULL */
    float *y;
    size_t ys, yr;
} tern_kf_job;

/* A zero-skipping GEMM over transposed activations (tern/kernels.h):
 * sample i's value of column k is at xt[k*ldt + i] (ldt = n, so at n = 1 it
 * is the input row), and y is transposed the same way: row r's output for
 * sample i at y[r*ldy + i], so the epilogue stores runs of samples. The SIMD paths read up to 63
 * bytes past the last sample of the last column (ignored lanes): callers
 * leave 64 bytes of readable scratch after it. I8 activations are staged
 * as int16 so the paths add them without widening. */
typedef struct tern_sq_job {
    const tern_sparse *s;
    int n;
    const int16_t *qt;     /* (K, ldt) the int8 activations, widened */
    size_t ldt;
    const float *sx;       /* (n) */
    const float *bias;
    float *y;              /* (M, ldy) */
    size_t ldy;
} tern_sq_job;

typedef struct tern_sf_job {
    const tern_sparse *s;
    int n;
    const float *xt;       /* (K, ldt) */
    size_t ldt;
    const float *bias;
    float *y;              /* (M, ldy) */
    size_t ldy;
} tern_sf_job;

/* The scalar twins: the order of summation every sparse path follows. */
void tern_sparse_i8_ref(const tern_sq_job *j);
void tern_sparse_f32_ref(const tern_sf_job *j);

/* One path: its name, its activation quantizer, its two GEMMs and its two
 * zero-skipping GEMMs.
 * quantize computes exactly what tern_kernel_quantize documents (bit for bit
 * the scalar tern_kq_quantize_ref) for k >= 1 and returns 0, or -1 without
 * a message on a NaN or Inf. */
typedef struct tern_kernel_ops {
    const char *name;
    int (*quantize)(const float *x, int k, int8_t *q, float *sx, int32_t *qsum);
    void (*gemm_i8)(const tern_kq_job *job);
    void (*gemm_f32)(const tern_kf_job *job);
    void (*sparse_i8)(const tern_sq_job *job);
    void (*sparse_f32)(const tern_sf_job *job);
} tern_kernel_ops;

/* The scalar quantizer: the definition the SIMD ones must match. */
int tern_kq_quantize_ref(const float *x, int k, int8_t *q, float *sx, int32_t *qsum);

extern const tern_kernel_ops tern_kernel_ops_scalar;
#if defined(__x86_64__)
extern const tern_kernel_ops tern_kernel_ops_avx2;
extern const tern_kernel_ops tern_kernel_ops_avx512;
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
extern const tern_kernel_ops tern_kernel_ops_neon;
#endif

/* The ops of path k (TERN_KERNEL_AUTO: the best available); the error of
 * tern_kernel_resolve when k is not available. */
tern_status tern_kernel_ops_get(tern_kernel k, const tern_kernel_ops **ops);

/* ---- register tiling, shared by the SIMD paths ---------------------------
 * A tile computes R rows x S samples over all of K; a tiling is the R x S
 * tile, then (1,S) tiles for leftover rows and (R,1), (1,1) tiles for
 * leftover samples. */
typedef void (*tern_q_tile_fn)(const tern_kq_job *j, int r0, int i0);
typedef void (*tern_f_tile_fn)(const tern_kf_job *j, int r0, int i0);

typedef struct tern_q_tiles {
    int R, S;
    tern_q_tile_fn full, rows1, samp1, one;
} tern_q_tiles;

typedef struct tern_f_tiles {
    int R, S;
    tern_f_tile_fn full, rows1, samp1, one;
} tern_f_tiles;

/* Cover (M rows, n samples) with the tiles of t (a tern_q_tiles or tern_f_tiles). */
#define TERN_TILE_LOOP(job, M, n, t)                                              \
    do {                                                                          \
        int i_ = 0;                                                               \
        for (; i_ + (t).S <= (n); i_ += (t).S) {                                  \
            int r_ = 0;                                                           \
            for (; r_ + (t).R <= (M); r_ += (t).R) (t).full((job), r_, i_);       \
            for (; r_ < (M); r_++) (t).rows1((job), r_, i_);                      \
        }                                                                         \
        for (; i_ < (n); i_++) {                                                  \
            int r_ = 0;                                                           \
            for (; r_ + (t).R <= (M); r_ += (t).R) (t).samp1((job), r_, i_);      \
            for (; r_ < (M); r_++) (t).one((job), r_, i_);                        \
        }                                                                         \
    } while (0)

/* ---- the epilogue, shared so every path rounds the same way -------------
 * fmaf is one rounding whatever the compiler flags, so paths built with and
 * without -mfma agree bit for bit; wp*sx is one rounded product. */

/* Int8: d = P - N (symmetric) or p = P with N = p - d (asymmetric). */
static inline float tern_kq_out(const tern_packed *w, int r, int32_t d, int32_t p, float sx, const float *bias) {
    return tern_pt_kq_out(w->symmetric, w->wp[r], w->wn[r], d, p, sx, bias ? bias[r] : 0.0f);
}

/* The store of every dense path: output (sample i, row r) of an int8 job
 * from d = P - N and p = P (tern_kq_out), then the job's epilogue. */
static inline void tern_kq_store(const tern_kq_job *j, int r, int i, int32_t d, int32_t p) {
    float v = tern_kq_out(j->w, r, d, p, j->sx[i], j->bias);
    if (j->epi) v = tern_epi_apply(j->epi, r, v);
    j->y[(size_t)i * j->ys + (size_t)r * j->yr] = v;
}

/* Fp32: symmetric takes d = P - N; asymmetric takes P and N. */
static inline float tern_kf_out_sym(const tern_packed *w, int r, float d, const float *bias) {
    return tern_pt_kf_out_sym(w->wp[r], d, bias ? bias[r] : 0.0f);
}
static inline float tern_kf_out_asym(const tern_packed *w, int r, float p, float n, const float *bias) {
    return tern_pt_kf_out_asym(w->wp[r], w->wn[r], p, n, bias ? bias[r] : 0.0f);
}

/* The store of an fp32 job: v from tern_kf_out_*, then the epilogue. */
static inline void tern_kf_store(const tern_kf_job *j, int r, int i, float v) {
    j->y[(size_t)i * j->ys + (size_t)r * j->yr] = j->epi ? tern_epi_apply(j->epi, r, v) : v;
}

/* tern_kernel_gemm with an epilogue (kernels/epilogue.h; NULL: none) fused
 * into the kernels' store: y bit for bit tern_kernel_gemm's y with
 * tern_epi_apply(epi, r, y) applied to each output of row r, in one pass.
 * Same arguments, checks and scratch as tern_kernel_gemm. */
tern_status tern_kernel_gemm_epi(tern_kernel path, const tern_packed *w, const float *x, int n, const float *bias,
                                 const tern_epilogue *epi, float *y, tern_kact act, void *scratch,
                                 size_t scratch_bytes);

/* dst[c*ldd + r] = src[r*lds + c] for r < rows, c < cols: a transpose, 16
 * columns at a time so the 16 destination rows being filled stay in L1. */
#define TERN_TRANSPOSE(dst, ldd, src, lds, rows, cols)                                          \
    for (size_t c0_ = 0; c0_ < (size_t)(cols); c0_ += 16) {                                    \
        const size_t c1_ = (size_t)(cols) - c0_ < 16 ? (size_t)(cols) : c0_ + 16;               \
        for (size_t r_ = 0; r_ < (size_t)(rows); r_++)                                          \
            for (size_t c_ = c0_; c_ < c1_; c_++) (dst)[c_ * (ldd) + r_] = (src)[r_ * (lds) + c_]; \
    }

/* ---- the t2 tile order (tern/kernels.h), the one place that computes it --
 * Rows in groups of TERN_T2_GROUP; a group of h rows stores block b of its
 * rows one after another, [kblocks][h][32]. A kernel tile of R rows, R
 * dividing TERN_T2_GROUP and r0 a multiple of R, lies in one group: its
 * rows' block b are R consecutive 32-byte runs, and block b+1 of each row
 * is tern_t2_bstride bytes further. */

/* Bytes from block b to block b + 1 of row r: 32 * (rows in r's group). */
static inline size_t tern_t2_bstride(const tern_packed *w, int r) {
    const int g0 = r - r % TERN_T2_GROUP, h = w->rows - g0 < TERN_T2_GROUP ? w->rows - g0 : TERN_T2_GROUP;
    return (size_t)h * TERN_T2_BLOCK_BYTES;
}

/* Block b of row r. */
static inline uint8_t *tern_t2_block(const tern_packed *w, int r, int b) {
    const int g0 = r - r % TERN_T2_GROUP;
    return w->qs + (size_t)g0 * w->row_bytes + (size_t)b * tern_t2_bstride(w, r) +
           (size_t)(r - g0) * TERN_T2_BLOCK_BYTES;
}

/* A tile's rows r0 .. r0+R-1 (in one group, as above): wr[r] = block 0 of
 * row r0 + r; returns the stride from block b to b + 1. */
static inline size_t tern_t2_tile(const tern_packed *w, int r0, int R, const uint8_t **wr) {
    const uint8_t *b0 = tern_t2_block(w, r0, 0);
    for (int r = 0; r < R; r++) wr[r] = b0 + (size_t)r * TERN_T2_BLOCK_BYTES;
    return tern_t2_bstride(w, r0);
}

/* Kp: the padded row length of activations. */
static inline size_t tern_kp(const tern_packed *w) { return (size_t)w->kblocks * TERN_T2_BLOCK; }

#endif
