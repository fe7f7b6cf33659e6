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
 * also hides the add latency; I8 sums are exact int32 (int8 widened on
 * load). At n = 1 there is no vector of samples to fill: the scalar twin
 * runs. Lanes past n read finite scratch the caller reserved and are
 * dropped. Internal to src/kernels/x86. */
#include <string.h>

#include "kernels/kernels_impl.h"

#define SP_L (SP_VB / 4) /* lanes: samples per vector */
#define SP_CAT2(a, b) a##b
#define SP_CAT(a, b) SP_CAT2(a, b)
#define SP_NAME(n) SP_CAT(SP_PREFIX, n)
#define SP_AI static inline __attribute__((always_inline))

typedef float SP_NAME(vf) __attribute__((vector_size(SP_VB)));
typedef int32_t SP_NAME(vi) __attribute__((vector_size(SP_VB)));
typedef int8_t SP_NAME(vq) __attribute__((vector_size(SP_VB / 4)));

SP_AI SP_NAME(vf) SP_NAME(loadf)(const float *p) {
    SP_NAME(vf) v;
    memcpy(&v, p, sizeof v);
    return v;
}

SP_AI SP_NAME(vi) SP_NAME(loadq)(const int8_t *p) {
    SP_NAME(vq) v;
    memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, SP_NAME(vi));
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
    for (int t = 0; t < m; t++) {
        float *y = &j->y[(size_t)(i0 + t) * j->ys + (size_t)r * j->yr];
        *y = s->w->symmetric ? tern_kf_out_sym(s->w, r, out[0][t] - out[1][t], j->bias)
                             : tern_kf_out_asym(s->w, r, out[0][t], out[1][t], j->bias);
    }
}

SP_AI void SP_NAME(q_tile)(const tern_sq_job *j, int r, int i0, const int nv) {
    const tern_sparse *s = j->s;
    const int8_t *qt = j->qt + i0;
    const size_t ld = j->ldt;
    int32_t out[2][SP_V * SP_L];
    for (int h = 0; h < 2; h++) {
        const uint32_t *idx = s->idx + s->seg[2 * r + h];
        const size_t cnt = s->seg[2 * r + h + 1] - s->seg[2 * r + h];
        SP_NAME(vi) a[2][SP_V];
        for (int u = 0; u < 2; u++)
            for (int v = 0; v < nv; v++) a[u][v] = (SP_NAME(vi)){0};
        size_t e = 0;
        for (; e + 2 <= cnt; e += 2)
            for (int u = 0; u < 2; u++) {
                const int8_t *px = qt + (size_t)idx[e + u] * ld;
                for (int v = 0; v < nv; v++) a[u][v] += SP_NAME(loadq)(px + v * SP_L);
            }
        if (e < cnt) {
            const int8_t *px = qt + (size_t)idx[e] * ld;
            for (int v = 0; v < nv; v++) a[0][v] += SP_NAME(loadq)(px + v * SP_L);
        }
        for (int v = 0; v < nv; v++) {
            SP_NAME(vi) t = a[0][v] + a[1][v];
            memcpy(&out[h][v * SP_L], &t, sizeof t);
        }
    }
    const int m = j->n - i0 < nv * SP_L ? j->n - i0 : nv * SP_L;
    for (int t = 0; t < m; t++) {
        int i = i0 + t;
        j->y[(size_t)i * j->ys + (size_t)r * j->yr] =
            tern_kq_out(s->w, r, out[0][t] - out[1][t], out[0][t], j->sx[i], j->bias);
    }
}

/* Full tiles of SP_V vectors, then one tile of the 1 .. SP_V-1 vectors left
 * (the clamps only keep never-taken cases in bounds for small SP_V). */
#define SP_DRIVER(job, tile)                                                   \
    do {                                                                       \
        const int n_ = (job)->n, T_ = SP_V * SP_L;                             \
        for (int r_ = 0; r_ < (job)->s->rows; r_++) {                          \
            int i_ = 0;                                                        \
            for (; i_ + T_ <= n_; i_ += T_) tile((job), r_, i_, SP_V);         \
            switch ((n_ - i_ + SP_L - 1) / SP_L) {                             \
            case 1: tile((job), r_, i_, 1); break;                             \
            case 2: tile((job), r_, i_, 2 < SP_V ? 2 : SP_V); break;           \
            case 3: tile((job), r_, i_, 3 < SP_V ? 3 : SP_V); break;           \
            default: break;                                                    \
            }                                                                  \
        }                                                                      \
    } while (0)

static void SP_NAME(sparse_f32)(const tern_sf_job *j) {
    if (j->n == 1) {
        tern_sparse_f32_ref(j);
        return;
    }
    SP_DRIVER(j, SP_NAME(f_tile));
}

static void SP_NAME(sparse_i8)(const tern_sq_job *j) {
    if (j->n == 1) {
        tern_sparse_i8_ref(j);
        return;
    }
    SP_DRIVER(j, SP_NAME(q_tile));
}
