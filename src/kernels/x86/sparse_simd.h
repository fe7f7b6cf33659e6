/* sparse_simd.h — the zero-skipping GEMMs over transposed activations
 * (K, n), written once with GCC vector extensions and compiled by each x86
 * path with its own target flags (avx2.c: 8 lanes, avx512.c: 16 lanes).
 *
 * Include after defining SP_VB (vector bytes: 32 or 64), SP_V (vectors per
 * sample tile) and SP_PREFIX (a name prefix). For each row r and tile of
 * up to SP_V vectors of samples, every +1 column k adds the contiguous
 * activations xt[k*ldt + i0 ..] into P accumulators, every -1 column into
 * N: one load and one add per nonzero per vector of samples, no decode, no
 * mask, no multiply. F32 keeps 4 partial sums per vector in the order of
 * tern_sparse_f32_ref (entry t into partial t % 4, (s0+s1)+(s2+s3)), which
 * also hides the add latency; I8 sums are exact (int16 runs, int32 totals). At n = 1 there is no vector of samples to fill: the scalar twin
 * runs. Lanes past n read finite scratch the caller reserved and are
 * dropped. Internal to src/kernels/x86. */
#include <string.h>

#include "kernels/kernels_impl.h"

#define SP_L (SP_VB / 4) /* fp32 lanes: samples per vector */
#define SP_H (SP_VB / 2) /* int16 lanes */
#define SP_CAT2(a, b) a##b
#define SP_CAT(a, b) SP_CAT2(a, b)
#define SP_NAME(n) SP_CAT(SP_PREFIX, n)
#define SP_AI static inline __attribute__((always_inline))

typedef float SP_NAME(vf) __attribute__((vector_size(SP_VB)));
typedef int16_t SP_NAME(vh) __attribute__((vector_size(SP_VB)));

SP_AI SP_NAME(vf) SP_NAME(loadf)(const float *p) {
    SP_NAME(vf) v;
    memcpy(&v, p, sizeof v);
    return v;
}

SP_AI SP_NAME(vh) SP_NAME(loadh)(const int16_t *p) {
    SP_NAME(vh) v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Row r, samples i0 .. i0 + nv*SP_L - 1 (those < n are stored). */
SP_AI void SP_NAME(f_tile)(const tern_sf_job *j, int r, int i0, const int nv) {
    const tern_sparse *s = j->s;
    const float *xt = j->xt + i0;
    const size_t ld = j->ldt;
    float out[2][SP_V * SP_L]; /* P, N per sample of the tile */
    for (int h = 0; h < 2; h++) {
        const uint32_t *idx = s->idx + s->seg[2 * r + h];
        const size_t cnt = s->seg[2 * r + h + 1] - s->seg[2 * r + h];
        SP_NAME(vf) a[4][SP_V];
        for (int u = 0; u < 4; u++)
            for (int v = 0; v < nv; v++) a[u][v] = (SP_NAME(vf)){0};
        size_t e = 0;
        for (; e + 4 <= cnt; e += 4)
            for (int u = 0; u < 4; u++) {
                const float *px = xt + (size_t)idx[e + u] * ld;
                for (int v = 0; v < nv; v++) a[u][v] += SP_NAME(loadf)(px + v * SP_L);
            }
        for (int u = 0; e < cnt; e++, u++) {
            const float *px = xt + (size_t)idx[e] * ld;
            for (int v = 0; v < nv; v++) a[u][v] += SP_NAME(loadf)(px + v * SP_L);
        }
        for (int v = 0; v < nv; v++) {
            SP_NAME(vf) t = (a[0][v] + a[1][v]) + (a[2][v] + a[3][v]);
            memcpy(&out[h][v * SP_L], &t, sizeof t);
        }
    }
    const int m = j->n - i0 < nv * SP_L ? j->n - i0 : nv * SP_L;
    float *y = j->y + (size_t)r * j->ldy + i0;
    if (s->w->symmetric)
        for (int t = 0; t < m; t++) y[t] = tern_kf_out_sym(s->w, r, out[0][t] - out[1][t], j->bias);
    else
        for (int t = 0; t < m; t++) y[t] = tern_kf_out_asym(s->w, r, out[0][t], out[1][t], j->bias);
}

/* Int8 activations staged as int16: SP_H samples per vector, added with
 * int16 lanes. A run of at most SP_FLUSH entries sums to at most
 * 256 * 127 = 32512 in magnitude, so the int16 partials are exact; they are
 * widened into int32 totals after each run. */
#define SP_FLUSH 256

SP_AI void SP_NAME(q_tile)(const tern_sq_job *j, int r, int i0, const int nv) {
    const tern_sparse *s = j->s;
    const int16_t *qt = j->qt + i0;
    const size_t ld = j->ldt;
    int32_t out[2][SP_V * SP_H];
    for (int h = 0; h < 2; h++) {
        const uint32_t *idx = s->idx + s->seg[2 * r + h];
        const size_t cnt = s->seg[2 * r + h + 1] - s->seg[2 * r + h];
        for (int t = 0; t < nv * SP_H; t++) out[h][t] = 0;
        for (size_t e0 = 0; e0 < cnt; e0 += SP_FLUSH) {
            const size_t e1 = cnt - e0 < SP_FLUSH ? cnt : e0 + SP_FLUSH;
            SP_NAME(vh) a[2][SP_V];
            for (int u = 0; u < 2; u++)
                for (int v = 0; v < nv; v++) a[u][v] = (SP_NAME(vh)){0};
            size_t e = e0;
            for (; e + 2 <= e1; e += 2)
                for (int u = 0; u < 2; u++) {
                    const int16_t *px = qt + (size_t)idx[e + u] * ld;
                    for (int v = 0; v < nv; v++) a[u][v] += SP_NAME(loadh)(px + v * SP_H);
                }
            if (e < e1) {
                const int16_t *px = qt + (size_t)idx[e] * ld;
                for (int v = 0; v < nv; v++) a[0][v] += SP_NAME(loadh)(px + v * SP_H);
            }
            int16_t part[SP_V * SP_H];
            for (int v = 0; v < nv; v++) {
                SP_NAME(vh) t = a[0][v] + a[1][v]; /* |t| <= 32512 */
                memcpy(&part[v * SP_H], &t, sizeof t);
            }
            for (int t = 0; t < nv * SP_H; t++) out[h][t] += part[t];
        }
    }
    const int m = j->n - i0 < nv * SP_H ? j->n - i0 : nv * SP_H;
    float *y = j->y + (size_t)r * j->ldy + i0;
    for (int t = 0; t < m; t++) y[t] = tern_kq_out(s->w, r, out[0][t] - out[1][t], out[0][t], j->sx[i0 + t], j->bias);
}

/* Full tiles of SP_V vectors, then one tile of the 1 .. SP_V vectors the
 * rest needs (a rest of more than (SP_V-1) lanes takes SP_V vectors, one of
 * them partial); the clamps only keep never-taken cases in bounds for small
 * SP_V. */
_Static_assert(SP_V >= 1 && SP_V <= 4, "SP_DRIVER dispatches remainders of 1 to 4 vectors");
#define SP_DRIVER(job, tile, lanes)                                            \
    do {                                                                       \
        const int n_ = (job)->n, T_ = SP_V * (lanes);                          \
        for (int r_ = 0; r_ < (job)->s->rows; r_++) {                          \
            int i_ = 0;                                                        \
            for (; i_ + T_ <= n_; i_ += T_) tile((job), r_, i_, SP_V);         \
            switch ((n_ - i_ + (lanes) - 1) / (lanes)) {                       \
            case 1: tile((job), r_, i_, 1); break;                             \
            case 2: tile((job), r_, i_, 2 < SP_V ? 2 : SP_V); break;           \
            case 3: tile((job), r_, i_, 3 < SP_V ? 3 : SP_V); break;           \
            case 4: tile((job), r_, i_, 4 < SP_V ? 4 : SP_V); break;           \
            default: break;                                                    \
            }                                                                  \
        }                                                                      \
    } while (0)

static void SP_NAME(sparse_f32)(const tern_sf_job *j) {
    if (j->n == 1) {
        tern_sparse_f32_ref(j);
        return;
    }
    SP_DRIVER(j, SP_NAME(f_tile), SP_L);
}

static void SP_NAME(sparse_i8)(const tern_sq_job *j) {
    if (j->n == 1) {
        tern_sparse_i8_ref(j);
        return;
    }
    SP_DRIVER(j, SP_NAME(q_tile), SP_H);
}
