/* tern_portable_dsp.h — the Cortex-M DSP twin of tern_pt_row_i8_c
 * (tern_portable.h), included there when __ARM_FEATURE_DSP is defined.
 * Placeholder: it runs the portable C until the SMLAD kernel lands. */
#ifndef TERN_PORTABLE_DSP_H
#define TERN_PORTABLE_DSP_H

static inline void tern_pt_row_i8_dsp(const uint8_t *row, size_t bstride, int kblocks, const int8_t *q, int32_t *P,
                                      int32_t *N) {
    tern_pt_row_i8_c(row, bstride, kblocks, q, P, N);
}

#endif
