/* neon.c — aarch64 Advanced SIMD ternary GEMMs, one t2 block per step.
 *
 * A block's 32 bytes are two q registers; a shift by 2*sh and a mask give
 * the codes of weights 32*sh .. 32*sh+15 (low register) and +16 .. +31
 * (high), which line up with 16-byte loads of the activations.
 *
 * Int8: NEON multiplies signed by signed, so the codes become w = c - 1 in
 * {-1,0,1} and D = sum(w*q) directly (no qsum correction). With the dot
 * product extension (__ARM_FEATURE_DOTPROD, e.g. -march=armv8.2-a+dotprod)
 * sdot adds 16 products per instruction; without it smull/smlal form pairs
 * of products in int16 (at most 2*127) and sadalp widens them into int32.
 * For TTQ scales the "is +1" bit (c >> 1) gives P the same way; N = P - D.
 *
 * Fp32: cmeq gives byte masks of the +1 and -1 weights, widened to 32-bit
 * lanes; x is and-ed with them and added or subtracted, never multiplied,
 * so a zero weight never touches its activation (as in the reference).
 *
 * The file is built twice: for Armv8.0 (tern_kernel_ops_neon, "neon") and,
 * as neon_dotprod.c, with the extension (tern_kernel_ops_neon_dotprod,
 * "neon-dotprod"); the NEON path runs the second where the CPU has sdot
 * (dispatch.c, tern_neon_has_dotprod). */
#if defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>

#include "kernels/kernels_impl.h"

#if defined(TERN_NEON_DOTPROD)   /* neon_dotprod.c: the second build, under its own names */
#if !defined(__ARM_FEATURE_DOTPROD)
#error "neon_dotprod.c needs the dot-product extension (-march=armv8.2-a+dotprod)"
#endif
#define tern_kernel_ops_neon tern_kernel_ops_neon_dotprod
#define NEON_NAME "neon-dotprod"
#else
#define NEON_NAME "neon"
#endif

#define AI static inline __attribute__((always_inline))

/* ---- int8 ------------------------------------------------------------------ */

/* acc += sum of w*x over 16 lanes, 4 lanes of int32. */
AI int32x4_t dot16(int32x4_t acc, int8x16_t w, int8x16_t x) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, w, x);
#else
    int16x8_t p = vmull_s8(vget_low_s8(w), vget_low_s8(x));
    p = vmlal_high_s8(p, w, x);
    return vpadalq_s16(acc, p);
#endif
}

AI void q_tile(const tern_kq_job *j, int r0, int i0, const int R, const int S, const int asym) {
    const tern_packed *w = j->w;
    const int nb = w->kblocks;
    const uint8x16_t m3 = vdupq_n_u8(3), one = vdupq_n_u8(1);
    int32x4_t acc[4][2], accp[4][2];
    const uint8_t *wr[4];
    const int8_t *xs[2];
    const size_t bs = tern_t2_tile(w, r0, R, wr); /* block b of row r0 + r at wr[r] + b*bs */
    for (int s = 0; s < S; s++) xs[s] = j->q + (size_t)(i0 + s) * j->ldq;
    for (int r = 0; r < R; r++)
        for (int s = 0; s < S; s++) acc[r][s] = accp[r][s] = vdupq_n_s32(0);

    for (int b = 0; b < nb; b++) {
        uint8x16_t wv[4][2];
        for (int r = 0; r < R; r++) {
            const uint8_t *p = wr[r] + (size_t)b * bs;
            wv[r][0] = vld1q_u8(p);
            wv[r][1] = vld1q_u8(p + 16);
        }
        for (int sh = 0; sh < 4; sh++) {
            const int8x16_t right = vdupq_n_s8((int8_t)(-2 * sh));   /* ushl by a negative count shifts right */
            int8x16_t xv[2][2];
            for (int s = 0; s < S; s++) {
                const int8_t *p = xs[s] + (size_t)b * TERN_T2_BLOCK + 32 * sh;
                xv[s][0] = vld1q_s8(p);
                xv[s][1] = vld1q_s8(p + 16);
            }
            for (int r = 0; r < R; r++)
                for (int h = 0; h < 2; h++) {
                    uint8x16_t c = vandq_u8(vshlq_u8(wv[r][h], right), m3);
                    int8x16_t wt = vreinterpretq_s8_u8(vsubq_u8(c, one));
                    for (int s = 0; s < S; s++) acc[r][s] = dot16(acc[r][s], wt, xv[s][h]);
                    if (asym) {
                        int8x16_t pc = vreinterpretq_s8_u8(vshrq_n_u8(c, 1));
                        for (int s = 0; s < S; s++) accp[r][s] = dot16(accp[r][s], pc, xv[s][h]);
                    }
                }
        }
    }
    for (int r = 0; r < R; r++)
        for (int s = 0; s < S; s++) {
            int i = i0 + s;
            int32_t d = vaddvq_s32(acc[r][s]);
            int32_t p = asym ? vaddvq_s32(accp[r][s]) : 0;
            tern_kq_store(j, r0 + r, i, d, p);
        }
}

#define Q_TILE(R, S, A) \
    static void q_tile_##R##_##S##_##A(const tern_kq_job *j, int r0, int i0) { q_tile(j, r0, i0, R, S, A); }
Q_TILE(4, 1, 0)
Q_TILE(2, 2, 0)
Q_TILE(1, 2, 0)
Q_TILE(2, 1, 0)
Q_TILE(1, 1, 0)
Q_TILE(2, 1, 1)
Q_TILE(1, 1, 1)

static void neon_gemm_i8(const tern_kq_job *j) {
    tern_q_tiles t;
    if (j->w->symmetric) {
        if (j->n < 2) t = (tern_q_tiles){4, 1, q_tile_4_1_0, q_tile_1_1_0, q_tile_4_1_0, q_tile_1_1_0};
        else t = (tern_q_tiles){2, 2, q_tile_2_2_0, q_tile_1_2_0, q_tile_2_1_0, q_tile_1_1_0};
    } else {
        t = (tern_q_tiles){2, 1, q_tile_2_1_1, q_tile_1_1_1, q_tile_2_1_1, q_tile_1_1_1};
    }
    TERN_TILE_LOOP(j, j->w->rows, j->n, t);
}

/* ---- fp32 ------------------------------------------------------------------ */

/* Byte masks (0x00/0xFF) of 16 lanes spread to four 4-lane 32-bit masks. */
AI void widen_mask(uint8x16_t m, uint32x4_t out[4]) {
    int8x16_t s = vreinterpretq_s8_u8(m);
    int16x8_t lo = vmovl_s8(vget_low_s8(s)), hi = vmovl_high_s8(s);
    out[0] = vreinterpretq_u32_s32(vmovl_s16(vget_low_s16(lo)));
    out[1] = vreinterpretq_u32_s32(vmovl_high_s16(lo));
    out[2] = vreinterpretq_u32_s32(vmovl_s16(vget_low_s16(hi)));
    out[3] = vreinterpretq_u32_s32(vmovl_high_s16(hi));
}

AI float32x4_t and_ps(uint32x4_t m, float32x4_t x) {
    return vreinterpretq_f32_u32(vandq_u32(m, vreinterpretq_u32_f32(x)));
}

AI void f_tile(const tern_kf_job *j, int r0, int i0, const int R, const int S, const int asym) {
    const tern_packed *w = j->w;
    const int nb = w->kblocks;
    const uint8x16_t m3 = vdupq_n_u8(3), two = vdupq_n_u8(2), zero = vdupq_n_u8(0);
    /* acc: D (symmetric) or P; accn: N; four accumulators per (r, s) to keep
     * the add chains short. */
    float32x4_t acc[2][2][4], accn[2][2][4];
    const uint8_t *wr[2];
    const float *xs[2];
    const size_t bs = tern_t2_tile(w, r0, R, wr); /* block b of row r0 + r at wr[r] + b*bs */
    for (int s = 0; s < S; s++) xs[s] = j->x + (size_t)(i0 + s) * j->ldx;
    for (int r = 0; r < R; r++)
        for (int s = 0; s < S; s++)
            for (int g = 0; g < 4; g++) acc[r][s][g] = accn[r][s][g] = vdupq_n_f32(0.0f);

    for (int b = 0; b < nb; b++)
        for (int h = 0; h < 2; h++) {
            uint8x16_t wv[2];
            for (int r = 0; r < R; r++) wv[r] = vld1q_u8(wr[r] + (size_t)b * bs + 16 * h);
            for (int sh = 0; sh < 4; sh++) {
                const int8x16_t right = vdupq_n_s8((int8_t)(-2 * sh));
                for (int r = 0; r < R; r++) {
                    uint8x16_t c = vandq_u8(vshlq_u8(wv[r], right), m3);
                    uint32x4_t pm[4], nm[4];
                    widen_mask(vceqq_u8(c, two), pm);
                    widen_mask(vceqq_u8(c, zero), nm);
                    for (int s = 0; s < S; s++) {
                        /* Weights 32*sh + 16*h + 4*g .. +3. */
                        const float *p = xs[s] + (size_t)b * TERN_T2_BLOCK + 32 * sh + 16 * h;
                        for (int g = 0; g < 4; g++) {
                            float32x4_t x = vld1q_f32(p + 4 * g);
                            acc[r][s][g] = vaddq_f32(acc[r][s][g], and_ps(pm[g], x));
                            if (asym) accn[r][s][g] = vaddq_f32(accn[r][s][g], and_ps(nm[g], x));
                            else acc[r][s][g] = vsubq_f32(acc[r][s][g], and_ps(nm[g], x));
                        }
                    }
                }
            }
        }
    for (int r = 0; r < R; r++)
        for (int s = 0; s < S; s++) {
            int i = i0 + s;
            float a = vaddvq_f32(vaddq_f32(vaddq_f32(acc[r][s][0], acc[r][s][1]), vaddq_f32(acc[r][s][2], acc[r][s][3])));
            if (asym) {
                float n = vaddvq_f32(
                    vaddq_f32(vaddq_f32(accn[r][s][0], accn[r][s][1]), vaddq_f32(accn[r][s][2], accn[r][s][3])));
                tern_kf_store(j, r0 + r, i, tern_kf_out_asym(w, r0 + r, a, n, j->bias));
            } else {
                tern_kf_store(j, r0 + r, i, tern_kf_out_sym(w, r0 + r, a, j->bias));
            }
        }
}

#define F_TILE(R, S, A) \
    static void f_tile_##R##_##S##_##A(const tern_kf_job *j, int r0, int i0) { f_tile(j, r0, i0, R, S, A); }
F_TILE(2, 1, 0)
F_TILE(1, 1, 0)
F_TILE(2, 1, 1)
F_TILE(1, 1, 1)

static void neon_gemm_f32(const tern_kf_job *j) {
    tern_f_tiles t;
    if (j->w->symmetric) t = (tern_f_tiles){2, 1, f_tile_2_1_0, f_tile_1_1_0, f_tile_2_1_0, f_tile_1_1_0};
    else t = (tern_f_tiles){2, 1, f_tile_2_1_1, f_tile_1_1_1, f_tile_2_1_1, f_tile_1_1_1};
    TERN_TILE_LOOP(j, j->w->rows, j->n, t);
}

const tern_kernel_ops tern_kernel_ops_neon = {
    .name = NEON_NAME,
    .quantize = tern_kq_quantize_ref,
    .gemm_i8 = neon_gemm_i8,
    .gemm_f32 = neon_gemm_f32,
    .sparse_i8 = tern_sparse_i8_ref,
    .sparse_f32 = tern_sparse_f32_ref,
};

#endif /* __ARM_NEON && __aarch64__ */
