/* tern_portable_dsp.h — the Cortex-M DSP twin of tern_pt_row_i8_c: the
 * int8 row sums of a ternary layer with the DSP extension's SIMD-within-a-
 * register instructions (ARMv7E-M: Cortex-M4, M7; ARMv8-M Mainline with
 * DSP: M33, M55). tern_portable.h includes it, after tern_pt_row_i8_c,
 * where __ARM_FEATURE_DSP is defined and TERN_PT_NO_DSP is not; the twins
 * give the same P and N for every row and every q (mcu_dsp_twin).
 *
 * How. In a t2 block, byte j holds the codes of weights j, 32 + j, 64 + j
 * and 96 + j (bits 0-1, 2-3, 4-5, 6-7), so one 32-bit load of bytes j..j+3
 * holds the codes of 4 consecutive weights in each of the 4 groups of 32.
 * Shifted left by 6 - 2g, it has group g's code of byte i in that byte's
 * top two bits (the bits below are the next group's, or the byte below's,
 * and do not matter):
 *     code 2 (w = +1)  <=>  byte >= 0x80      code 0 (w = -1)  <=>  byte <= 0x3f
 * (code 3 never occurs: loading a model checks every code). USUB8 sets the
 * 4 GE flags by these byte compares; SEL then takes, per byte, q + 128
 * (q ^ 0x80: 0..255) where the flag is set and 128 where it is not; USADA8
 * adds the 4 bytes into a 32-bit sum. Every 4 weights thus add their
 * selected q plus 4 x 128, whatever the weights are, so P and N are the sums
 * less 512 per 4 weights: 16384 per block. The sums wrap modulo 2^32, which
 * leaves P and N exact (|P|, |N| <= 127 K < 2^31).
 *
 * Per 4 weights and per sum: USUB8, SEL, USADA8; plus one load and one EOR
 * of q, and a shift of the codes, shared by P and N. C99 with the ACLE
 * intrinsics of <arm_acle.h>; no assembly. */
#ifndef TERN_PORTABLE_DSP_H
#define TERN_PORTABLE_DSP_H

#include <arm_acle.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One group's 4 weights (their codes in the top 2 bits of each byte of t)
 * against 4 int8 values q4 (little-endian in a word): adds q + 128 of the
 * +1 weights and 128 for the others to *p, likewise for the -1 weights to *n. */
static inline void tern_pt_dsp_quad(uint32_t t, uint32_t q4, uint32_t *p, uint32_t *n) {
    const uint32_t qu = q4 ^ 0x80808080u; /* q + 128 per byte */
    (void)__usub8(t, 0x80808080u);        /* GE[i]: byte i >= 0x80, w = +1 */
    *p = __usada8(__sel(qu, 0x80808080u), 0, *p);
    (void)__usub8(0x3f3f3f3fu, t);        /* GE[i]: byte i <= 0x3f, w = -1 */
    *n = __usada8(__sel(qu, 0x80808080u), 0, *n);
}

/* *P = sum of q[k] where w[k] = +1, *N = where w[k] = -1, over the kblocks
 * t2 blocks of one row, block b at row + b*bstride; q holds 128*kblocks
 * int8 values, zero from K on. Exact in int32 (tern_pt_row_i8_c's contract). */
static inline void tern_pt_row_i8_dsp(const uint8_t *row, size_t bstride, int kblocks, const int8_t *q, int32_t *P,
                                      int32_t *N) {
    uint32_t p = 0, n = 0;
    for (int b = 0; b < kblocks; b++) {
        const uint8_t *blk = row + (size_t)b * bstride; /* (32) codes */
        const int8_t *qb = q + (size_t)b * 128;         /* (4 groups, 32) */
        for (int j = 0; j < 32; j += 4) {
            uint32_t w, q0, q1, q2, q3;
            memcpy(&w, blk + j, 4);
            memcpy(&q0, qb + j, 4);
            memcpy(&q1, qb + 32 + j, 4);
            memcpy(&q2, qb + 64 + j, 4);
            memcpy(&q3, qb + 96 + j, 4);
            tern_pt_dsp_quad(w << 6, q0, &p, &n);
            tern_pt_dsp_quad(w << 4, q1, &p, &n);
            tern_pt_dsp_quad(w << 2, q2, &p, &n);
            tern_pt_dsp_quad(w, q3, &p, &n);
        }
    }
    const uint32_t bias = 16384u * (uint32_t)kblocks; /* 128 per weight */
    *P = (int32_t)(p - bias);
    *N = (int32_t)(n - bias);
}

#endif
