/* tern/kernels.h — packed ternary inference kernels: GEMV, GEMM and conv2d.
 *
 * A deployed layer holds weights w in {-1, 0, +1} packed 2 bits each
 * (tern_packed), one row per output channel, and per-row scales. For an
 * input row x (K values) the output of row r is
 *
 *     y[r] = wp[r] * sum(x[k] where w[r,k] = +1)
 *          - wn[r] * sum(x[k] where w[r,k] = -1)  + bias[r]
 *
 * wp == wn is the symmetric case (TWN, BitNet b1.58: one alpha per row, or
 * per tensor when all rows are equal); wp != wn is TTQ. When wn equals wp on
 * every row (tern_packed.symmetric) the kernels form one signed sum
 * D = sum(w*x) and y = alpha*D + bias; otherwise they form P and N separately
 * (every path supports both; TTQ costs one more integer dot per output).
 *
 * Two activation modes (tern_kact, "kernel activations"):
 *   TERN_KACT_I8, the fast path: each input row ("sample") is quantized with
 *     its own absmax (BitNet b1.58's 8-bit absmax),
 *         amax = max|x|,  q = clamp(rint(x * (127 / amax)), -127, 127),
 *         sx   = amax / 127      (rint: round half to even),
 *     the integer sums P, N, D are exact in int32, and
 *         symmetric:  y = fmaf(D, wp*sx, bias)
 *         asymmetric: y = fmaf(P, wp*sx, fmaf(-N, wn*sx, bias))
 *     in float, with the products wp*sx, wn*sx rounded once. Every path
 *     (scalar, AVX2, AVX-512, NEON) returns bit-identical y in this mode.
 *     A row whose amax is below TERN_KQ_AMAX_MIN = 127 FLT_MIN quantizes to
 *     q = 0, sx = 0 (127/amax would not be finite); training's 8-bit
 *     fake-quant (tern/quant.h) zeroes the same rows. A NaN or
 *     Inf activation is an error (TERN_ERR_NUMERIC).
 *   TERN_KACT_F32: the fp32 activations are added where w = +1 and
 *     subtracted where w = -1 (no multiplies; the scalar reference literally
 *     adds and subtracts in k order), then y = fmaf(alpha, D, bias), or
 *     fmaf(wp, P, fmaf(-wn, N, bias)). SIMD paths sum in another order; they
 *     agree with the scalar reference within
 *         |y_simd - y_ref| <= 2 * K * 2^-24 * max(|wp|,|wn|) * sum_k |x[k]|
 *     (twice the worst-case bound of recursive float summation), and exactly
 *     when every partial sum is exact (e.g. small integer activations).
 *
 * Packed layout, format "t2" (TERN_WFMT_T2), for readers with h5py:
 *   - A block is 32 bytes: the codes of 128 weights k = 128*b .. 128*b + 127
 *     of one row; kblocks = ceil(K / 128) blocks per row.
 *   - Blocks are laid out in tile order: rows in groups of TERN_T2_GROUP = 8
 *     (rows 8g .. 8g + h - 1, h = 8, or M % 8 in a last, short group), and
 *     within a group block b of each of its h rows one after another:
 *     [ceil(M/8)][kblocks][h][32]. Group g starts at byte 8g * 32 * kblocks,
 *     and block b of row r (r = 8g + i) at 8g*32*kblocks + (b*h + i) * 32
 *     (tern_packed_block). So a kernel tile of up to 8 rows reads one
 *     sequential run of memory, not 8 streams a row apart.
 *   - Each weight is a 2-bit code c = w + 1: 0b00 = -1, 0b01 = 0, 0b10 = +1;
 *     0b11 never occurs (unpacking rejects it).
 *   - Within a block, weight e (0..127) lives in byte (e % 32), at bits
 *     2*(e / 32) .. 2*(e / 32) + 1 (bit 0 = least significant). So byte j
 *     holds weights j, j+32, j+64, j+96 in bits 1:0, 3:2, 5:4, 7:6.
 *   - Padding: weights k >= K of the last block are zero (code 0b01); an
 *     all-padding byte is 0x55. Unpacking rejects other padding.
 *   Decoding in numpy (blk: the 32 bytes of row r's block k//128):
 *   c = (blk[k%32] >> (2*((k%128)//32))) & 3, w = c.astype(int8) - 1;
 *   docs/deploy-format.md re-lays a whole matrix to (M, kblocks, 32).
 *   Why this order: one 32-byte load and four shift-and-masks give the codes
 *   of 32 consecutive weights each, which line up with 32 consecutive int8
 *   activations (AVX2), or with 16 (NEON) or, two blocks at once, with 64
 *   (AVX-512), so no shuffles are needed in the inner loop.
 *
 * Paths: scalar (the reference; defines the behaviour), AVX2, AVX-512 with
 * VNNI (vpdpbusd), NEON (aarch64). Every GEMM and conv takes its path from
 * the caller: a path by name, or TERN_KERNEL_AUTO, the best this CPU runs
 * (from CPUID). The library keeps no current path and reads no environment
 * variable (the `tern` program takes TERN_KERNEL as its default).
 *
 * The hot calls never allocate: they take caller scratch whose size the
 * *_scratch_bytes functions give. Each call is single-threaded and touches
 * only its arguments, so calls with their own outputs and scratch may run
 * at once on any threads. */
#ifndef TERN_KERNELS_H
#define TERN_KERNELS_H

#include <stddef.h>
#include <float.h>
#include <stdint.h>

/* Rows of activations whose absmax is below this quantize to 0: from here
 * down, 127 / amax overflows float. Shared by every kernel path and by
 * training's fake-quant, so they agree on every row. */
#define TERN_KQ_AMAX_MIN (127.0f * FLT_MIN)

#include "tern/api.h"
#include "tern/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- packed formats ----------------------------------------------------- */

#define TERN_T2_BLOCK 128        /* weights per t2 block */
#define TERN_T2_BLOCK_BYTES 32   /* bytes per t2 block: 128 weights x 2 bits */
#define TERN_T2_GROUP 8          /* rows whose blocks interleave: the widest kernel tile */
#define TERN_KERNEL_MAX_COLS (1 << 22)   /* K limit: keeps 254*K below 2^31 */

/* One t2 block: codes of 128 weights, bit order as in the overview. */
typedef struct tern_block_t2 {
    uint8_t qs[TERN_T2_BLOCK_BYTES];
} tern_block_t2;

typedef enum tern_wfmt {
    TERN_WFMT_T2 = 0,   /* 2 bits per weight, blocks of 128 along K */
    TERN_WFMT_COUNT
} tern_wfmt;

typedef struct tern_wfmt_def {
    const char *name;   /* "t2": the name stored in deploy checkpoints */
    int block;          /* weights per block */
    int block_bytes;    /* bytes per block */
    /* Pack n values in {-1,0,1} into ceil(n/block) blocks at dst, padding
     * with zeros; TERN_ERR_ARG names the first value outside {-1,0,1}. */
    tern_status (*pack)(const int8_t *w, int n, void *dst);
    /* Unpack n values from ceil(n/block) blocks; TERN_ERR_FORMAT on a code
     * 0b11 or on nonzero padding. */
    tern_status (*unpack)(const void *src, int n, int8_t *w);
} tern_wfmt_def;

/* The format table, indexed by tern_wfmt. */
TERN_API extern const tern_wfmt_def tern_wfmt_table[TERN_WFMT_COUNT];

/* A packed ternary weight matrix with per-row scales. Owns its memory. */
typedef struct tern_packed {
    tern_wfmt fmt;      /* TERN_WFMT_T2 */
    int rows;           /* M: output channels */
    int cols;           /* K: inputs per output */
    int kblocks;        /* ceil(K / 128) */
    size_t row_bytes;   /* 32 * kblocks: a row's bytes (not contiguous, see the layout) */
    uint8_t *qs;        /* M * kblocks blocks in tile order (overview), 64-byte aligned */
    float *wp;          /* (M) scale of the +1 weights */
    float *wn;          /* (M) scale of the -1 weights */
    int symmetric;      /* 1 when wn[r] == wp[r] for every r */
} tern_packed;

/* Allocate an (rows, cols) matrix of zero weights with unit scales. */
TERN_API tern_status tern_packed_init(tern_packed *p, int rows, int cols);

/* Release what tern_packed_init allocated; p becomes all zero. */
TERN_API void tern_packed_free(tern_packed *p);

/* Pack w (rows, cols) in {-1,0,1} and set scales wp (rows) and wn (rows;
 * NULL: wn = wp). Scales must be finite. Sets p->symmetric. */
TERN_API tern_status tern_packed_set(tern_packed *p, const int8_t *w, const float *wp, const float *wn);

/* Unpack into w (rows, cols) in {-1,0,1}; checks codes and padding. */
TERN_API tern_status tern_packed_get(const tern_packed *p, int8_t *w);

/* Address of block b (0 <= b < kblocks) of row r (0 <= r < rows) in p->qs:
 * the 32 bytes of weights 128b .. 128b + 127, tile order as above. */
TERN_API uint8_t *tern_packed_block(const tern_packed *p, int r, int b);

/* ---- paths and dispatch --------------------------------------------------- */

typedef enum tern_kernel {
    TERN_KERNEL_AUTO = 0,     /* the best available path (tern_kernel_best) */
    TERN_KERNEL_SCALAR,       /* portable C; the reference */
    TERN_KERNEL_AVX2,         /* x86-64 AVX2 + FMA */
    TERN_KERNEL_AVX512,       /* x86-64 AVX-512 F/BW/VL/DQ + VNNI */
    TERN_KERNEL_NEON,         /* aarch64 Advanced SIMD */
    TERN_KERNEL_COUNT
} tern_kernel;

/* "auto", "scalar", "avx2", "avx512", "neon"; "unknown" out of range. */
TERN_API const char *tern_kernel_name(tern_kernel k);

/* Parse a path name ("auto" gives TERN_KERNEL_AUTO) into *k. */
TERN_API tern_status tern_kernel_parse(const char *name, tern_kernel *k);

/* 1 when path k is built into this library and this CPU (and OS) runs it
 * (0 for TERN_KERNEL_AUTO, which is no path of its own). */
TERN_API int tern_kernel_available(tern_kernel k);

/* The fastest available path: avx512 > avx2 > scalar, or neon > scalar. */
TERN_API tern_kernel tern_kernel_best(void);

/* *path = the path k runs on: tern_kernel_best() for TERN_KERNEL_AUTO, else
 * k itself; TERN_ERR_UNSUPPORTED when k is not available, TERN_ERR_ARG out
 * of range. Every GEMM and conv below resolves its path this way. */
TERN_API tern_status tern_kernel_resolve(tern_kernel k, tern_kernel *path);

/* ---- activations, GEMM, conv ---------------------------------------------- */

typedef enum tern_kact {
    TERN_KACT_I8 = 0,   /* int8 absmax per sample: the fast path */
    TERN_KACT_F32,      /* fp32 activations: add +1, subtract -1 */
    TERN_KACT_COUNT
} tern_kact;

/* amax = max|x|; q = clamp(rint(x * (127/amax)), -127, 127); *sx = amax/127;
 * *qsum = sum(q). k >= 1. q = 0, sx = 0 when amax < TERN_KQ_AMAX_MIN.
 * TERN_ERR_NUMERIC on NaN or Inf. This is the scalar reference; the GEMM and
 * conv use their path's SIMD quantizer, which matches it bit for bit. */
TERN_API tern_status tern_kernel_quantize(const float *x, int k, int8_t *q, float *sx, int32_t *qsum);

/* Scratch bytes tern_kernel_gemm needs for n samples:
 *   I8:  n * (Kp + 8) + 64,   F32: n * Kp * 4 + 64,   Kp = 128 * kblocks.
 * Any alignment will do; 0 when w is NULL or n < 1. */
TERN_API size_t tern_kernel_gemm_scratch_bytes(const tern_packed *w, int n, tern_kact act);

/* y (n, M) = W (M, K) applied to x (n, K), per the overview, + bias (M or
 * NULL), on `path`. n = 1 is the GEMV. */
TERN_API tern_status tern_kernel_gemm(tern_kernel path, const tern_packed *w, const float *x, int n, const float *bias,
                                      float *y, tern_kact act, void *scratch, size_t scratch_bytes);

/* Geometry of a conv2d over packed weights (cross-correlation, zero pad). */
typedef struct tern_conv2d_geom {
    int cin, h, w;      /* input channels and spatial size */
    int kh, kw;         /* kernel size */
    int stride, pad;    /* same in both spatial dims */
} tern_conv2d_geom;

/* Scratch bytes tern_kernel_conv2d needs (reused for every image), with
 * P = OH*OW and Kp as above:
 *   I8:  cin*h*w + K P + P * (Kp + 8) + 192,   F32: (K + Kp) * P * 4 + 128. */
TERN_API size_t tern_kernel_conv2d_scratch_bytes(const tern_packed *w, const tern_conv2d_geom *g, tern_kact act);

/* y (n, M, OH, OW) = conv2d(x (n, cin, h, w), W (M, cin*kh*kw)) + bias (M or
 * NULL), OH = (h + 2 pad - kh) / stride + 1. W's columns are in (cin, kh, kw)
 * order, as PyTorch's (O, C, KH, KW) weights flattened. im2col into the
 * scratch, then the GEMM with the output positions as samples. In I8 mode
 * each image is quantized with its own absmax (one sx per image). */
TERN_API tern_status tern_kernel_conv2d(tern_kernel path, const tern_packed *w, const tern_conv2d_geom *g,
                                        const float *x, int n, const float *bias, float *y, tern_kact act,
                                        void *scratch, size_t scratch_bytes);

/* ---- zero-skipping (sparse) ternary kernels -------------------------------
 * The same y as tern_kernel_gemm / tern_kernel_conv2d, with work only for the
 * nonzero weights. tern_sparse_init reads a tern_packed once (the deploy
 * format does not change) into per-row column lists, CSR-like:
 *     seg (2M + 1) size_t, idx (nnz) uint32:
 *     row r's +1 columns are idx[seg[2r]   .. seg[2r+1]), ascending,
 *     row r's -1 columns are idx[seg[2r+1] .. seg[2r+2]), ascending,
 * so P and N are two runs of plain adds with no sign logic in the loop.
 * 32-bit indices: K goes up to 2^22, and a list costs 4 bytes per nonzero
 * (the packed row 0.25 byte per weight; the lists are smaller only above
 * about 94% zeros, they are kept for speed, not size).
 *
 * Activations are staged transposed, (K, n) with row stride n ("samples
 * minor"): each nonzero w[r,k] then adds one contiguous run of n activations
 * into n accumulators, which the SIMD paths do 16 (AVX-512) or 8 (AVX2)
 * fp32 samples per instruction, with no multiply, no decode and no mask; I8
 * activations are staged as int16, so one vpaddw adds 32 (AVX-512) or 16
 * (AVX2) samples, exactly in runs of at most 256 nonzeros (256 * 127 fits
 * int16), widened to int32 between runs. Outputs are staged (M, n) and
 * transposed once, so the epilogue stores contiguous runs. At n = 1 that
 * layout is the input row itself and every path runs the scalar loop (four
 * independent sums per list). The conv stages im2col's (K, OH*OW) columns
 * the same way, output positions as samples. The x86 paths share one source
 * (GCC vector extensions, src/kernels/x86/sparse_simd.h); NEON runs the
 * scalar twins for now.
 *
 * Order of summation: I8 sums are exact int32 (P, N; D = P - N), so every
 * path is bit-identical to the dense kernels' y in I8 mode. F32: P and N
 * are each summed over their list in 4 interleaved partial sums (entry t of
 * a list goes to partial t % 4), combined as (s0 + s1) + (s2 + s3); then
 * symmetric y = fmaf(alpha, P - N, bias), asymmetric as the dense kernels.
 * Every sparse path (scalar, AVX2, AVX-512) uses exactly this order per
 * sample, so they agree bit for bit; against the dense scalar reference the
 * F32 bound of the overview holds (each of P and N errs by at most
 * (K-1) 2^-24 of its absolute sum, the subtraction by 2^-24 of both).
 *
 * Which of the two is faster depends on the sparsity, the batch and the
 * path; the rule the runtime applies is in tern/runtime.h, measurements in
 * docs/performance.md (`tern bench zskip`). */

/* Column lists of the nonzero weights of a packed matrix. Owns seg and idx;
 * borrows w (its shape and scales), which must outlive it. */
typedef struct tern_sparse {
    const tern_packed *w;
    int rows, cols;     /* M, K as w */
    size_t nnz;         /* nonzero weights */
    size_t *seg;        /* (2M + 1) list boundaries, as above */
    uint32_t *idx;      /* (nnz) column indices */
} tern_sparse;

/* Build the lists of w's nonzero weights (checks codes as tern_packed_get). */
TERN_API tern_status tern_sparse_init(tern_sparse *s, const tern_packed *w);

/* Release what tern_sparse_init allocated; s becomes all zero. */
TERN_API void tern_sparse_free(tern_sparse *s);

/* Bytes s owns (seg + idx). */
TERN_API size_t tern_sparse_bytes(const tern_sparse *s);

/* Fraction of zero weights, 1 - nnz / (M K). */
TERN_API double tern_sparse_zero_fraction(const tern_sparse *s);

/* Scratch bytes tern_sparse_gemm needs for n samples:
 *   I8:  3 K n + 4 n + 192,   F32: 4 K n + 128,   plus 4 M n + 64 when n > 1
 * (outputs staged (M, n), then transposed). 0 when s is NULL or n < 1. */
TERN_API size_t tern_sparse_gemm_scratch_bytes(const tern_sparse *s, int n, tern_kact act);

/* y (n, M) = W applied to x (n, K) + bias (M or NULL), as tern_kernel_gemm,
 * on `path`, skipping the zero weights. */
TERN_API tern_status tern_sparse_gemm(tern_kernel path, const tern_sparse *s, const float *x, int n, const float *bias,
                                      float *y, tern_kact act, void *scratch, size_t scratch_bytes);

/* Scratch bytes tern_sparse_conv2d needs, with P = OH*OW:
 *   I8:  3 cin*h*w + 2 K P + 4 P + 320,   F32: 4 K P + 128. */
TERN_API size_t tern_sparse_conv2d_scratch_bytes(const tern_sparse *s, const tern_conv2d_geom *g, tern_kact act);

/* y (n, M, OH, OW) = conv2d(x (n, cin, h, w)) as tern_kernel_conv2d (one sx
 * per image in I8), skipping the zero weights: im2col (K, P), then the
 * sparse GEMM with the P positions as samples. */
TERN_API tern_status tern_sparse_conv2d(tern_kernel path, const tern_sparse *s, const tern_conv2d_geom *g,
                                        const float *x, int n, const float *bias, float *y, tern_kact act,
                                        void *scratch, size_t scratch_bytes);

#ifdef __cplusplus
}
#endif
#endif
