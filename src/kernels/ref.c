/* ref.c — the scalar reference that defines the kernels' behaviour, the t2
 * packer/unpacker and the activation quantizer. Plain loops, k in order:
 * a SIMD path is right when it matches this file. */
#include <assert.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_impl.h"

static_assert(sizeof(tern_block_t2) == TERN_T2_BLOCK_BYTES, "t2 block: 128 weights x 2 bits = 32 bytes");
static_assert(TERN_T2_BLOCK == 4 * TERN_T2_BLOCK_BYTES, "t2: four 2-bit codes per byte");
static_assert(TERN_T2_BLOCK == TERN_PT_BLOCK && TERN_T2_BLOCK_BYTES == TERN_PT_BLOCK_BYTES &&
                  TERN_T2_GROUP == TERN_PT_GROUP,
              "the portable math (src/portable) reads the same t2 layout");

/* ---- t2: byte e%32 of a block, bits 2*(e/32), code w+1 ------------------ */

static inline int t2_code(const uint8_t *blocks, int k) {
    return tern_pt_code(blocks + (size_t)(k / TERN_T2_BLOCK) * TERN_T2_BLOCK_BYTES, k % TERN_T2_BLOCK);
}

static tern_status t2_pack(const int8_t *w, int n, void *dst) {
    int nb = (n + TERN_T2_BLOCK - 1) / TERN_T2_BLOCK;
    tern_block_t2 *b = dst;
    /* Code 0b01 (zero) everywhere first: that is also the padding. */
    memset(b, 0x55, (size_t)nb * sizeof *b);
    for (int k = 0; k < n; k++) {
        if (w[k] < -1 || w[k] > 1)
            return tern_error(TERN_ERR_ARG, "pack t2: weight %d is %d, not -1, 0 or +1", k, w[k]);
        int e = k % TERN_T2_BLOCK, sh = 2 * (e / TERN_T2_BLOCK_BYTES);
        uint8_t *byte = &b[k / TERN_T2_BLOCK].qs[e % TERN_T2_BLOCK_BYTES];
        *byte = (uint8_t)((*byte & ~(3u << sh)) | (unsigned)(w[k] + 1) << sh);
    }
    return TERN_OK;
}

static tern_status t2_unpack(const void *src, int n, int8_t *w) {
    const uint8_t *qs = src;
    int nb = (n + TERN_T2_BLOCK - 1) / TERN_T2_BLOCK;
    for (int k = 0; k < nb * TERN_T2_BLOCK; k++) {
        int c = t2_code(qs, k);
        if (c == 3) return tern_error(TERN_ERR_FORMAT, "unpack t2: weight %d has the unused code 0b11", k);
        if (k >= n && c != 1)
            return tern_error(TERN_ERR_FORMAT, "unpack t2: padding weight %d (of %d) is %d, not 0", k, n, c - 1);
        if (k < n) w[k] = (int8_t)(c - 1);
    }
    return TERN_OK;
}

const tern_wfmt_def tern_wfmt_table[TERN_WFMT_COUNT] = {
    [TERN_WFMT_T2] = {.name = "t2",
                      .block = TERN_T2_BLOCK,
                      .block_bytes = TERN_T2_BLOCK_BYTES,
                      .pack = t2_pack,
                      .unpack = t2_unpack},
};

/* ---- the packed matrix ---------------------------------------------------- */

tern_status tern_packed_init(tern_packed *p, int rows, int cols) {
    if (!p) return tern_error(TERN_ERR_ARG, "packed_init: NULL matrix");
    memset(p, 0, sizeof *p);
    if (rows < 1 || cols < 1 || cols > TERN_KERNEL_MAX_COLS)
        return tern_error(TERN_ERR_SHAPE, "packed_init: (%d,%d) needs rows >= 1 and 1 <= cols <= %d", rows, cols,
                          TERN_KERNEL_MAX_COLS);
    const tern_wfmt_def *f = &tern_wfmt_table[TERN_WFMT_T2];
    p->fmt = TERN_WFMT_T2;
    p->rows = rows;
    p->cols = cols;
    p->kblocks = (cols + f->block - 1) / f->block;
    p->row_bytes = (size_t)p->kblocks * (size_t)f->block_bytes;
    size_t bytes = p->row_bytes * (size_t)rows;
    bytes = (bytes + 63) & ~(size_t)63;   /* aligned_alloc wants a multiple of the alignment */
    p->qs = aligned_alloc(64, bytes);
    p->wp = malloc((size_t)rows * sizeof(float));
    p->wn = malloc((size_t)rows * sizeof(float));
    if (!p->qs || !p->wp || !p->wn) {
        tern_packed_free(p);
        return tern_error(TERN_ERR_NOMEM, "packed_init: cannot allocate a (%d,%d) matrix", rows, cols);
    }
    memset(p->qs, 0x55, bytes);
    for (int r = 0; r < rows; r++) p->wp[r] = p->wn[r] = 1.0f;
    p->symmetric = 1;
    return TERN_OK;
}

void tern_packed_free(tern_packed *p) {
    if (!p) return;
    free(p->qs);
    free(p->wp);
    free(p->wn);
    memset(p, 0, sizeof *p);
}

tern_status tern_packed_set(tern_packed *p, const int8_t *w, const float *wp, const float *wn) {
    if (!p || !p->qs || !w || !wp) return tern_error(TERN_ERR_ARG, "packed_set: NULL matrix, weights or scales");
    const tern_wfmt_def *f = &tern_wfmt_table[p->fmt];
    for (int r = 0; r < p->rows; r++) {
        float n = wn ? wn[r] : wp[r];
        if (!isfinite(wp[r]) || !isfinite(n))
            return tern_error(TERN_ERR_ARG, "packed_set: row %d has a non-finite scale (wp %g, wn %g)", r, wp[r], n);
    }
    /* Check every value before packing, so a bad matrix leaves p unchanged. */
    for (int r = 0; r < p->rows; r++)
        for (int k = 0; k < p->cols; k++) {
            int8_t v = w[(size_t)r * (size_t)p->cols + (size_t)k];
            if (v < -1 || v > 1)
                return tern_error(TERN_ERR_ARG, "packed_set: weight (%d,%d) is %d, not -1, 0 or +1", r, k, v);
        }
    for (int r = 0; r < p->rows; r++)
        for (int b = 0; b < p->kblocks; b++) {
            const int k0 = b * f->block, n = p->cols - k0 < f->block ? p->cols - k0 : f->block;
            tern_status s = f->pack(w + (size_t)r * (size_t)p->cols + (size_t)k0, n, tern_t2_block(p, r, b));
            assert(s == TERN_OK);
            (void)s;
        }
    p->symmetric = 1;
    for (int r = 0; r < p->rows; r++) {
        p->wp[r] = wp[r];
        p->wn[r] = wn ? wn[r] : wp[r];
        if (p->wn[r] != p->wp[r]) p->symmetric = 0;
    }
    return TERN_OK;
}

tern_status tern_packed_get(const tern_packed *p, int8_t *w) {
    if (!p || !p->qs || !w) return tern_error(TERN_ERR_ARG, "packed_get: NULL matrix or output");
    const tern_wfmt_def *f = &tern_wfmt_table[p->fmt];
    for (int r = 0; r < p->rows; r++)
        for (int b = 0; b < p->kblocks; b++) {
            const int k0 = b * f->block, n = p->cols - k0 < f->block ? p->cols - k0 : f->block;
            tern_status s = f->unpack(tern_t2_block(p, r, b), n, w + (size_t)r * (size_t)p->cols + (size_t)k0);
            if (s) {
                char why[256];
                snprintf(why, sizeof why, "%s", tern_errmsg());
                return tern_error(s, "packed_get: row %d, block %d: %s", r, b, why);
            }
        }
    return TERN_OK;
}

uint8_t *tern_packed_block(const tern_packed *p, int r, int b) { return tern_t2_block(p, r, b); }

/* ---- activation quantization (shared by every path) ----------------------- */

int tern_kq_quantize_ref(const float *x, int k, int8_t *q, float *sx, int32_t *qsum) {
    return tern_pt_quantize(x, k, q, sx, qsum);
}

tern_status tern_kernel_quantize(const float *x, int k, int8_t *q, float *sx, int32_t *qsum) {
    if (!x || !q || !sx || !qsum || k < 1) return tern_error(TERN_ERR_ARG, "kernel_quantize: NULL buffer or k < 1");
    if (tern_kq_quantize_ref(x, k, q, sx, qsum))
        return tern_error(TERN_ERR_NUMERIC, "kernel_quantize: a NaN or Inf among %d activations", k);
    return TERN_OK;
}

/* ---- the scalar GEMMs: literally add where +1, subtract where -1 ---------- */

/* Block 0 of row r and the stride between its blocks, for the portable row sums. */
static inline const uint8_t *w_row(const tern_packed *w, int r, size_t *bstride) {
    return tern_pt_t2_row(w->qs, w->rows, w->kblocks, r, bstride);
}

static void scalar_gemm_i8(const tern_kq_job *j) {
    const tern_packed *w = j->w;
    for (int i = 0; i < j->n; i++) {
        const int8_t *q = j->q + (size_t)i * j->ldq;
        for (int r = 0; r < w->rows; r++) {
            size_t bs;
            const uint8_t *row = w_row(w, r, &bs);
            int32_t P, N;
            tern_pt_row_i8_c(row, bs, w->kblocks, q, &P, &N);
            tern_kq_store(j, r, i, P - N, P);
        }
    }
}

static void scalar_gemm_f32(const tern_kf_job *j) {
    const tern_packed *w = j->w;
    for (int i = 0; i < j->n; i++) {
        const float *x = j->x + (size_t)i * j->ldx;
        for (int r = 0; r < w->rows; r++) {
            size_t bs;
            const uint8_t *row = w_row(w, r, &bs);
            if (w->symmetric) {
                tern_kf_store(j, r, i, tern_kf_out_sym(w, r, tern_pt_row_f32_d(row, bs, w->cols, x), j->bias));
            } else {
                float P, N;
                tern_pt_row_f32_pn(row, bs, w->cols, x, &P, &N);
                tern_kf_store(j, r, i, tern_kf_out_asym(w, r, P, N, j->bias));
            }
        }
    }
}

/* ---- zero-skipping: the scalar twins of the column-list kernels ------------ */

/* Sum of q[idx[e] * ld] over e < n; exact, so any order: four independent
 * chains keep the loads in flight (this is also every path's batch-1 loop). */
static int32_t isum4(const int16_t *q, size_t ld, const uint32_t *idx, size_t n) {
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t e = 0;
    for (; e + 4 <= n; e += 4) {
        a0 += q[(size_t)idx[e] * ld];
        a1 += q[(size_t)idx[e + 1] * ld];
        a2 += q[(size_t)idx[e + 2] * ld];
        a3 += q[(size_t)idx[e + 3] * ld];
    }
    for (; e < n; e++) a0 += q[(size_t)idx[e] * ld];
    return (a0 + a1) + (a2 + a3);
}

void tern_sparse_i8_ref(const tern_sq_job *j) {
    const tern_sparse *s = j->s;
    for (int r = 0; r < s->rows; r++) {
        const uint32_t *p = s->idx + s->seg[2 * r], *m = s->idx + s->seg[2 * r + 1];
        const size_t np = s->seg[2 * r + 1] - s->seg[2 * r], nm = s->seg[2 * r + 2] - s->seg[2 * r + 1];
        for (int i = 0; i < j->n; i++) {
            const int16_t *q = j->qt + i;
            int32_t P = isum4(q, j->ldt, p, np), N = isum4(q, j->ldt, m, nm);
            j->y[(size_t)r * j->ldy + (size_t)i] = tern_kq_out(s->w, r, P - N, P, j->sx[i], j->bias);
        }
    }
}

/* Sum of x[idx[e] * ld] over e < n in 4 interleaved partials (entry e into
 * partial e % 4), combined (s0 + s1) + (s2 + s3): the F32 order of every
 * sparse path. */
static float sum4(const float *x, size_t ld, const uint32_t *idx, size_t n) {
    float a[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    size_t e = 0;
    for (; e + 4 <= n; e += 4)
        for (int u = 0; u < 4; u++) a[u] += x[(size_t)idx[e + u] * ld];
    for (int u = 0; e < n; e++, u++) a[u] += x[(size_t)idx[e] * ld];
    return (a[0] + a[1]) + (a[2] + a[3]);
}

void tern_sparse_f32_ref(const tern_sf_job *j) {
    const tern_sparse *s = j->s;
    for (int r = 0; r < s->rows; r++) {
        const uint32_t *p = s->idx + s->seg[2 * r], *m = s->idx + s->seg[2 * r + 1];
        const size_t np = s->seg[2 * r + 1] - s->seg[2 * r], nm = s->seg[2 * r + 2] - s->seg[2 * r + 1];
        for (int i = 0; i < j->n; i++) {
            float P = sum4(j->xt + i, j->ldt, p, np), N = sum4(j->xt + i, j->ldt, m, nm);
            float *y = &j->y[(size_t)r * j->ldy + (size_t)i];
            *y = s->w->symmetric ? tern_kf_out_sym(s->w, r, P - N, j->bias) : tern_kf_out_asym(s->w, r, P, N, j->bias);
        }
    }
}

const tern_kernel_ops tern_kernel_ops_scalar = {
    .name = "scalar",
    .quantize = tern_kq_quantize_ref,
    .gemm_i8 = scalar_gemm_i8,
    .gemm_f32 = scalar_gemm_f32,
    .sparse_i8 = tern_sparse_i8_ref,
    .sparse_f32 = tern_sparse_f32_ref,
};
