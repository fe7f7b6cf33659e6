/* lanes.h — sums in a fixed number of lanes, the same bits on every target.
 * Internal.
 *
 * `#pragma omp simd reduction` lets the compiler split a sum across as many
 * lanes as the target's vectors hold (2 doubles with SSE2, 4 with AVX2, 8
 * with AVX-512), so a -march=native build would add in another order than
 * the portable one. Instead element i of a sum adds into lane
 * i mod TERN_LANES, in order, and the lanes are added by one fixed tree,
 * (l0 + l2) + (l1 + l3): C then fixes the order, and the lanes being
 * independent, the compiler still vectorises. Four lanes keep a loop's
 * accumulators within SSE2's registers. A loop writes this in one of two
 * ways, whichever the compiler vectorises better (check with perf):
 *
 *   - plain C, which GCC's SLP pass vectorises where the body is simple:
 *         double a[TERN_LANES] = {0};
 *         size_t i = 0;
 *         for (; i + TERN_LANES <= n; i += TERN_LANES)
 *             for (int l = 0; l < TERN_LANES; l++) a[l] += x[i + l];
 *         for (int l = 0; i < n; i++, l++) a[l] += x[i];
 *         double sum = tern_lanes_sum(a);
 *   - GCC vector extensions (the types below; one SSE2 or NEON register of
 *     floats, two of doubles; the same lane-wise arithmetic on every
 *     target), for bodies with compares and mixed types: whole chunks with
 *     the _load functions, the last partial one with _load_tail, which
 *     zero-pads (the body must make the padding add +0: a lane, started at
 *     +0, is never -0, so +0 leaves it unchanged). */
#ifndef TERN_CORE_LANES_H
#define TERN_CORE_LANES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TERN_LANES 4

/* (a0 + a2) + (a1 + a3): the lanes' fixed tree. */
static inline double tern_lanes_sum(const double a[TERN_LANES]) { return (a[0] + a[2]) + (a[1] + a[3]); }
static inline float tern_lanes_sumf(const float a[TERN_LANES]) { return (a[0] + a[2]) + (a[1] + a[3]); }

typedef float tern_f4 __attribute__((vector_size(16)));
typedef double tern_d4 __attribute__((vector_size(32)));
typedef int32_t tern_i4 __attribute__((vector_size(16)));  /* masks of tern_f4 comparisons (-1, 0), counts */
typedef int8_t tern_b4 __attribute__((vector_size(4)));

/* The 4 floats at p. */
static inline tern_f4 tern_f4_load(const float *p) {
    tern_f4 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The r < 4 floats at p, then zeros (a variable-sized copy: keep it out of
 * the loop, or the accumulators leave the registers). */
static inline tern_f4 tern_f4_load_tail(const float *p, size_t r) {
    tern_f4 v = {0};
    memcpy(&v, p, r * sizeof(float));
    return v;
}

/* The 4 int8 at p as int32 lanes. */
static inline tern_i4 tern_b4_load(const int8_t *p) {
    tern_b4 v;
    memcpy(&v, p, sizeof v);
    return __builtin_convertvector(v, tern_i4);
}

/* The r < 4 int8 at p, then zeros, as int32 lanes. */
static inline tern_i4 tern_b4_load_tail(const int8_t *p, size_t r) {
    tern_b4 v = {0};
    memcpy(&v, p, r);
    return __builtin_convertvector(v, tern_i4);
}

/* v as doubles (exact). */
static inline tern_d4 tern_f4_to_d4(tern_f4 v) { return __builtin_convertvector(v, tern_d4); }

/* v where keep is -1, +0 where it is 0 (keep: a comparison's mask). */
static inline tern_f4 tern_f4_select(tern_f4 v, tern_i4 keep) { return (tern_f4)((tern_i4)v & keep); }

/* The lanes summed by the fixed tree. */
static inline double tern_d4_sum(tern_d4 v) {
    double a[TERN_LANES];
    memcpy(a, &v, sizeof a);
    return tern_lanes_sum(a);
}

static inline float tern_f4_sum(tern_f4 v) {
    float a[TERN_LANES];
    memcpy(a, &v, sizeof a);
    return tern_lanes_sumf(a);
}

static inline int64_t tern_i4_sum(tern_i4 v) { return (int64_t)v[0] + v[1] + v[2] + v[3]; }

#endif
