/* qconv.h — the int8 ternary convolution without im2col, with a fused
 * epilogue. Internal to libtern (the runtime's I8 path for ternary convs).
 *
 * The same y as tern_kernel_conv2d in TERN_KACT_I8 mode, bit for bit (then
 * the epilogue, epilogue.h), computed directly on the image:
 *   - each image (cin, h, w) is quantized as tern_kernel_quantize does (one
 *     absmax per image) and laid out HWC in a zero-bordered int8 buffer
 *     (h + 2 pad, w + 2 pad, Cp), Cp = cin rounded up to 4, padding zero;
 *   - the weights are re-laid once (tern_qconv_init) as codes c = w + 1 in
 *     {0,1,2}, the unsigned operand of vpdpbusd, in groups of 16 output
 *     channels: (groups, kh, kw, Cp/4, 16, 4) bytes, so 64 bytes hold 16
 *     channels x 4 input channels of one tap; padding channels and rows
 *     hold code 1 (w = 0);
 *   - sum(c*q) = sum(w*q) + sum(q), so with the patch sum S[p] (the sum of q
 *     over output position p's receptive field, a box sum of per-pixel
 *     channel sums, formed once per image) D = sum(c*q) - S[p] exactly;
 *   - per output (channel r, position p):
 *         y = fmaf((float)D, wp[r] * sx, bias ? bias[r] : 0)
 *     then tern_epi_apply, stored as (M, OH, OW) per image (NCHW).
 * Every path (scalar twin, AVX2, AVX-512 VNNI, NEON) gives bit-identical y.
 * Symmetric weights only (wp == wn, tern_packed.symmetric): TTQ weights are
 * refused with TERN_ERR_UNSUPPORTED at init, and their callers run
 * tern_kernel_conv2d. */
#ifndef TERN_KERNELS_QCONV_H
#define TERN_KERNELS_QCONV_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/qconv_impl.h"

/* Re-lay w (M, cin*kh*kw, columns in (cin, kh, kw) order) for geometry g.
 * TERN_ERR_SHAPE on a geometry that does not match w, TERN_ERR_UNSUPPORTED
 * for asymmetric (TTQ) scales. */
tern_status tern_qconv_init(tern_qconv *c, const tern_packed *w, const tern_conv2d_geom *g);

/* Release what tern_qconv_init allocated; c becomes all zero. */
void tern_qconv_free(tern_qconv *c);

/* Scratch bytes tern_qconv_run needs (reused for every image):
 * cin h w + hp wpad (Cp + 4) + 4 oh ow, each part rounded up to 64 bytes,
 * + 64. */
size_t tern_qconv_scratch_bytes(const tern_qconv *c);

/* y (n, M, OH, OW) = epi(conv2d(x (n, cin, h, w)) + bias) on `path`, as in
 * the overview; e may be NULL (no epilogue). TERN_ERR_NUMERIC naming the
 * image when it holds a NaN or Inf. */
tern_status tern_qconv_run(tern_kernel path, const tern_qconv *c, const float *x, int n, const float *bias,
                           const tern_epilogue *e, float *y, void *scratch, size_t scratch_bytes);

#endif
