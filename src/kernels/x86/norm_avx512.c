/* norm_avx512.c — the AVX-512 twins of batchnorm's loops (norm.h), the same
 * bits as the scalar twins in src/kernels/norm.c.
 *
 * Sums. A plane's four lanes are four dependent chains of double adds, so
 * one plane at a time waits on the add's latency however wide the vector.
 * The planes are independent until their sums are added in order, so the
 * twin runs four planes at once: 16 floats hold elements j..j+3 of planes
 * q..q+3 (plane q + p in 128-bit lane p), widened into two vectors of 8
 * doubles, each lane the same chain as the scalar twin's lane. A plane
 * tail of r < 4 elements adds under a mask, so the other lanes are left as
 * they are. The last group repeats its last plane in the slots it lacks and
 * drops their sums. Each plane's lanes then add by the fixed tree and the
 * planes in order, as in the scalar twin.
 *
 * Maps: 16 floats per step, each operation rounded as the scalar twin
 * writes it (the file is built without FMA contraction); the tail under a
 * mask, whose loads touch no masked-off address. */
#include <immintrin.h>
#include <stdint.h>

#include "core/lanes.h"
#include "kernels/x86/norm_avx512.h"

#define AI static inline __attribute__((always_inline))

/* Lanes 0..r-1 of each 4 (r = 4: all 16). */
AI __mmask16 quad_mask(size_t r) { return (__mmask16)(((1u << r) - 1) * 0x1111u); }

/* Floats j..j+3 of the planes p[0..3] (the first r, the rest 0), plane k in 128-bit lane k. */
AI __m512 load_quads(const float *const p[4], size_t j, size_t r) {
    const __mmask8 m = (__mmask8)((1u << r) - 1);
    __m512 v = _mm512_castps128_ps512(_mm_maskz_loadu_ps(m, p[0] + j));
    v = _mm512_insertf32x4(v, _mm_maskz_loadu_ps(m, p[1] + j), 1);
    v = _mm512_insertf32x4(v, _mm_maskz_loadu_ps(m, p[2] + j), 2);
    return _mm512_insertf32x4(v, _mm_maskz_loadu_ps(m, p[3] + j), 3);
}

AI __m512d widen_lo(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
AI __m512d widen_hi(__m512 v) { return _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)); }

/* The planes q .. q+3 of n (the missing ones repeat plane n-1). */
AI void group_planes(const float *x, size_t stride, size_t n, size_t q, const float *p[4]) {
    for (size_t k = 0; k < 4; k++) p[k] = x + (q + k < n ? q + k : n - 1) * stride;
}

/* total += the fixed-tree sums of the valid planes of a group, in order. */
AI double add_planes(double total, __m512d lo, __m512d hi, size_t valid) {
    double a[16];
    _mm512_storeu_pd(a, lo);
    _mm512_storeu_pd(a + 8, hi);
    for (size_t k = 0; k < valid; k++) total += tern_lanes_sum(a + 4 * k);
    return total;
}

/* One step of the sums over a group: v's lanes into lo (planes 0, 1) and hi
 * (planes 2, 3) under the lane mask m (8 bits per half). */
AI void add_sq(__m512d *lo, __m512d *hi, __m512 v, __m512d shift, int power, __mmask16 m) {
    __m512d a = widen_lo(v), b = widen_hi(v);
    if (power != 1) {
        a = _mm512_sub_pd(a, shift), b = _mm512_sub_pd(b, shift);
        a = _mm512_mul_pd(a, a), b = _mm512_mul_pd(b, b);
    }
    *lo = _mm512_mask_add_pd(*lo, (__mmask8)m, *lo, a);
    *hi = _mm512_mask_add_pd(*hi, (__mmask8)(m >> 8), *hi, b);
}

double tern_kernel_bn_sum_f32_avx512(const float *x, size_t stride, size_t n, size_t hw, double shift, int power) {
    const __m512d vs = _mm512_set1_pd(shift);
    double total = 0.0;
    for (size_t q = 0; q < n; q += 4) {
        const float *p[4];
        group_planes(x, stride, n, q, p);
        __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
        size_t j = 0;
        for (; j + 4 <= hw; j += 4) add_sq(&lo, &hi, load_quads(p, j, 4), vs, power, 0xffff);
        if (j < hw) add_sq(&lo, &hi, load_quads(p, j, hw - j), vs, power, quad_mask(hw - j));
        total = add_planes(total, lo, hi, n - q < 4 ? n - q : 4);
    }
    return total;
}

/* One step of the backward's sums: a += g, b += g xhat, under the lane mask m. */
AI void add_grad(__m512d s[4], __m512 xv, __m512 gv, __m512 mean, __m512 invstd, __mmask16 m) {
    const __m512 t = _mm512_mul_ps(_mm512_sub_ps(xv, mean), invstd); /* xhat, in float */
    const __m512d g0 = widen_lo(gv), g1 = widen_hi(gv);
    s[0] = _mm512_mask_add_pd(s[0], (__mmask8)m, s[0], g0);
    s[1] = _mm512_mask_add_pd(s[1], (__mmask8)(m >> 8), s[1], g1);
    s[2] = _mm512_mask_add_pd(s[2], (__mmask8)m, s[2], _mm512_mul_pd(g0, widen_lo(t)));
    s[3] = _mm512_mask_add_pd(s[3], (__mmask8)(m >> 8), s[3], _mm512_mul_pd(g1, widen_hi(t)));
}

void tern_kernel_bn_grad_sums_f32_avx512(const float *x, const float *g, size_t stride, size_t n, size_t hw,
                                         float mean, float invstd, double *sg, double *sgx) {
    const __m512 vm = _mm512_set1_ps(mean), vi = _mm512_set1_ps(invstd);
    double tg = 0.0, tgx = 0.0;
    for (size_t q = 0; q < n; q += 4) {
        const float *px[4], *pg[4];
        group_planes(x, stride, n, q, px);
        group_planes(g, stride, n, q, pg);
        __m512d s[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd()};
        size_t j = 0;
        for (; j + 4 <= hw; j += 4) add_grad(s, load_quads(px, j, 4), load_quads(pg, j, 4), vm, vi, 0xffff);
        if (j < hw) add_grad(s, load_quads(px, j, hw - j), load_quads(pg, j, hw - j), vm, vi, quad_mask(hw - j));
        const size_t valid = n - q < 4 ? n - q : 4;
        tg = add_planes(tg, s[0], s[1], valid);
        tgx = add_planes(tgx, s[2], s[3], valid);
    }
    *sg = tg;
    *sgx = tgx;
}

AI __mmask16 tail_mask(size_t r) { return r >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << r) - 1); }

void tern_kernel_bn_norm_f32_avx512(const float *x, size_t len, float mean, float scale, float beta, int relu,
                                    float *y) {
    const __m512 vm = _mm512_set1_ps(mean), vs = _mm512_set1_ps(scale), vb = _mm512_set1_ps(beta);
    const __m512 zero = _mm512_setzero_ps();
    for (size_t j = 0; j < len; j += 16) {
        const __mmask16 m = tail_mask(len - j);
        __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), vm), vs), vb);
        if (relu) v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_LT_OQ), zero);
        _mm512_mask_storeu_ps(y + j, m, v);
    }
}

void tern_kernel_bn_dx_f32_avx512(const float *x, const float *g, size_t len, float k, float mean, float invstd,
                                  float mg, float mgx, float *dx) {
    const __m512 vk = _mm512_set1_ps(k), vm = _mm512_set1_ps(mean), vi = _mm512_set1_ps(invstd);
    const __m512 vmg = _mm512_set1_ps(mg), vmgx = _mm512_set1_ps(mgx);
    for (size_t j = 0; j < len; j += 16) {
        const __mmask16 m = tail_mask(len - j);
        const __m512 xv = _mm512_maskz_loadu_ps(m, x + j), gv = _mm512_maskz_loadu_ps(m, g + j);
        const __m512 t = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(xv, vm), vi), vmgx);
        const __m512 d = _mm512_mul_ps(vk, _mm512_sub_ps(_mm512_sub_ps(gv, vmg), t));
        _mm512_mask_storeu_ps(dx + j, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, dx + j), d));
    }
}

void tern_kernel_relu_mask_f32_avx512(const float *y, float *dy, size_t len) {
    const __m512 zero = _mm512_setzero_ps();
    for (size_t j = 0; j < len; j += 16) {
        const __mmask16 m = tail_mask(len - j);
        const __mmask16 keep = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, y + j), zero, _CMP_GT_OQ);
        _mm512_mask_storeu_ps(dy + j, m, _mm512_maskz_mov_ps(keep, _mm512_maskz_loadu_ps(m, dy + j)));
    }
}
