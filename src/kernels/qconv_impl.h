/* qconv_impl.h — what the direct int8 conv's path kernels share with its
 * driver (kernels/qconv.h): the re-laid weights, one image's job, and each
 * path's kernel. Internal to src/kernels. */
#ifndef TERN_KERNELS_QCONV_IMPL_H
#define TERN_KERNELS_QCONV_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/epilogue.h"
#include "tern/kernels.h"

#define TERN_QCONV_LANES 16   /* output channels per group */

/* A conv's weights re-laid for the direct int8 kernel. Owns wc; borrows w
 * (its scales), which must outlive it. */
typedef struct tern_qconv {
    const tern_packed *w;
    tern_conv2d_geom g;
    int m;              /* output channels */
    int groups;         /* ceil(m / 16) */
    int cq;             /* Cp / 4: channel quads per tap */
    int oh, ow;         /* output size */
    int hp, wpad;       /* padded input size: h + 2 pad, w + 2 pad */
    size_t gstride;     /* bytes per group: kh * kw * cq * 64 */
    uint8_t *wc;        /* (groups, kh, kw, cq, 16, 4) codes, 64-byte aligned */
} tern_qconv;

/* One image for a path's kernel: its quantized HWC image, patch sums, scale. */
typedef struct tern_qconv_job {
    const tern_qconv *c;
    const int8_t *q;          /* (hp, wpad, 4 cq) quantized image, zero border */
    const int32_t *psum;      /* (oh * ow) sum of q over each receptive field */
    float sx;                 /* the image's dequantization scale */
    const float *bias;        /* (m) or NULL */
    const tern_epilogue *e;   /* never NULL; all NULL / NONE for none */
    float *y;                 /* (m, oh, ow) */
} tern_qconv_job;

/* Where output position p's receptive field starts in job j's image: its
 * top-left tap, channel 0 (taps (ky, kx) then lie ky rows and kx pixels on). */
static inline const int8_t *tern_qconv_at(const tern_qconv_job *j, int p) {
    const tern_qconv *c = j->c;
    const size_t Cp = 4 * (size_t)c->cq, oy = (size_t)(p / c->ow), ox = (size_t)(p % c->ow);
    return j->q + (oy * (size_t)c->wpad + ox) * (size_t)c->g.stride * Cp;
}

/* The paths' kernels: one image each. The scalar one is the twin. */
void tern_qconv_ref(const tern_qconv_job *j);
#if defined(__x86_64__)
void tern_qconv_avx2(const tern_qconv_job *j);
void tern_qconv_avx512(const tern_qconv_job *j);
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
void tern_qconv_neon(const tern_qconv_job *j);
#endif

#endif
