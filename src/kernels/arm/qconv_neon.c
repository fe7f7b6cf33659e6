/* qconv_neon.c — the direct int8 ternary conv (kernels/qconv.h) on NEON.
 *
 * A 16-channel group's 64 weight bytes are four q registers of 4 channels x
 * 4 input channels. With the dot-product extension (__ARM_FEATURE_DOTPROD)
 * sdot adds the four products of each channel into its int32 lane; without
 * it vmull_s8 forms the products (codes 0..2 fit int8), vpaddq_s16 adds
 * pairs (at most 508 in magnitude) and vpadalq_s16 adds the pairs of pairs
 * into the lanes. A tile is one group x NP (up to 4) positions: 16
 * accumulators sharing four weight loads. The epilogue is qconv_ref's,
 * lane-wise, in the same operations and order (vcvtq rounds to nearest as
 * (float) does, vfmaq is one rounding as fmaf), so y is bit-identical.
 * The file is built twice: for Armv8.0, and as qconv_neon_dotprod.c with
 * the extension (tern_qconv_neon_dotprod); tern_qconv_neon, the NEON
 * path's kernel, runs the second where the CPU has sdot. */
#include <arm_neon.h>
#include <string.h>

#include "kernels/kernels_impl.h"
#include "kernels/qconv_impl.h"

#if defined(TERN_NEON_DOTPROD) && !defined(__ARM_FEATURE_DOTPROD)
#error "qconv_neon_dotprod.c needs the dot-product extension (-march=armv8.2-a+dotprod)"
#endif

#define AI static inline __attribute__((always_inline))

AI int32x4_t dot4(int32x4_t acc, int8x16_t w, int8x16_t a) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, w, a);
#else
    const int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(a));
    const int16x8_t hi = vmull_s8(vget_high_s8(w), vget_high_s8(a));
    return vpadalq_s16(acc, vpaddq_s16(lo, hi));
#endif
}

/* 4 floats of v from r0 (0 past `live` lanes, or all 0 when v is NULL). */
AI float32x4_t ld4(const float *v, int r0, int live) {
    float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    if (v) memcpy(t, v + r0, sizeof(float) * (size_t)(live < 4 ? live : 4));
    return vld1q_f32(t);
}

/* y of channels r0 .. r0+3 (those below M) at position p, from acc. */
AI void store_out(const tern_qconv_job *j, int r0, int p, int32x4_t acc) {
    const tern_qconv *c = j->c;
    const tern_epilogue *e = j->e;
    const int live = c->m - r0;
    if (live <= 0) return;
    const int32x4_t d = vsubq_s32(acc, vdupq_n_s32(j->psum[p]));
    const float32x4_t s = vmulq_f32(ld4(c->w->wp, r0, live), vdupq_n_f32(j->sx));
    float32x4_t y = vfmaq_f32(ld4(j->bias, r0, live), vcvtq_f32_s32(d), s);
    if (e->center) {
        y = vsubq_f32(y, ld4(e->center, r0, live));
        y = vmulq_f32(y, ld4(e->scale, r0, live));
        y = vaddq_f32(y, ld4(e->shift, r0, live));
    }
    if (e->act == TERN_EPI_RELU) {
        const float32x4_t z = vdupq_n_f32(0.0f);
        y = vbslq_f32(vcltq_f32(y, z), z, y);
    } else if (e->act == TERN_EPI_HARDTANH) {
        const float32x4_t lo = vdupq_n_f32(-1.0f), hi = vdupq_n_f32(1.0f);
        y = vbslq_f32(vcltq_f32(y, lo), lo, y);
        y = vbslq_f32(vcgtq_f32(y, hi), hi, y);
    }
    float out[4];
    vst1q_f32(out, y);
    const size_t P = (size_t)c->oh * c->ow;
    for (int l = 0; l < 4 && l < live; l++) j->y[(size_t)(r0 + l) * P + p] = out[l];
}

/* Group g at positions p0 .. p0+NP-1 over every tap and quad. */
AI void tile(const tern_qconv_job *j, int g, int p0, const int NP) {
    const tern_qconv *c = j->c;
    const tern_conv2d_geom *gm = &c->g;
    const size_t Cp = 4 * (size_t)c->cq, rowb = (size_t)c->wpad * Cp;
    const int8_t *base[4];
    for (int i = 0; i < NP; i++) base[i] = tern_qconv_at(j, p0 + i);
    int32x4_t acc[4][4];
    for (int h = 0; h < 4; h++)
        for (int i = 0; i < NP; i++) acc[h][i] = vdupq_n_s32(0);
    const uint8_t *wt = c->wc + (size_t)g * c->gstride;
    for (int ky = 0; ky < gm->kh; ky++)
        for (int kx = 0; kx < gm->kw; kx++) {
            const size_t off = ky * rowb + kx * Cp;
            for (int qd = 0; qd < c->cq; qd++, wt += 64) {
                int8x16_t w[4];
                for (int h = 0; h < 4; h++) w[h] = vreinterpretq_s8_u8(vld1q_u8(wt + 16 * h));
                for (int i = 0; i < NP; i++) {
                    int32_t a4;
                    memcpy(&a4, base[i] + off + 4 * (size_t)qd, 4);
                    const int8x16_t a = vreinterpretq_s8_s32(vdupq_n_s32(a4));
                    for (int h = 0; h < 4; h++) acc[h][i] = dot4(acc[h][i], w[h], a);
                }
            }
        }
    for (int h = 0; h < 4; h++)
        for (int i = 0; i < NP; i++) store_out(j, g * TERN_QCONV_LANES + 4 * h, p0 + i, acc[h][i]);
}

static void tile_4(const tern_qconv_job *j, int g, int p0) { tile(j, g, p0, 4); }
static void tile_3(const tern_qconv_job *j, int g, int p0) { tile(j, g, p0, 3); }
static void tile_2(const tern_qconv_job *j, int g, int p0) { tile(j, g, p0, 2); }
static void tile_1(const tern_qconv_job *j, int g, int p0) { tile(j, g, p0, 1); }
static void (*const tiles[4])(const tern_qconv_job *, int, int) = {tile_1, tile_2, tile_3, tile_4};

static void qconv_neon(const tern_qconv_job *j) {
    const tern_qconv *c = j->c;
    const int P = c->oh * c->ow;
    for (int p0 = 0; p0 < P; p0 += 4) {
        const int np = P - p0 < 4 ? P - p0 : 4;
        for (int g = 0; g < c->groups; g++) tiles[np - 1](j, g, p0);
    }
}

/* This file's kernel built with the dot-product extension (sdot). */
void tern_qconv_neon_dotprod(const tern_qconv_job *j);

#if defined(TERN_NEON_DOTPROD)
void tern_qconv_neon_dotprod(const tern_qconv_job *j) { qconv_neon(j); }
#else
void tern_qconv_neon(const tern_qconv_job *j) {
    if (tern_neon_has_dotprod()) tern_qconv_neon_dotprod(j);
    else qconv_neon(j);
}
#endif
