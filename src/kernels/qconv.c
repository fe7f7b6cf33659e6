/* qconv.c — the direct int8 ternary conv (qconv.h): weight re-layout, the
 * per-image input staging (quantize, HWC with a zero border, patch sums),
 * the scalar twin and the dispatch to a path's kernel. */
#include "kernels/qconv.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/kernels_impl.h"
#include "tern/tensor.h"

/* The kernel of each path that is compiled in; NULL where it is not. */
static void (*const qconv_kernels[TERN_KERNEL_COUNT])(const tern_qconv_job *) = {
    [TERN_KERNEL_SCALAR] = tern_qconv_ref,
#if defined(__x86_64__)
    [TERN_KERNEL_AVX2] = tern_qconv_avx2,
    [TERN_KERNEL_AVX512] = tern_qconv_avx512,
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
    [TERN_KERNEL_NEON] = tern_qconv_neon,
#endif
};

tern_status tern_qconv_init(tern_qconv *c, const tern_packed *w, const tern_conv2d_geom *g) {
    if (!c) return tern_error(TERN_ERR_ARG, "qconv: NULL conv");
    memset(c, 0, sizeof *c);
    if (!w || !w->qs || !g) return tern_error(TERN_ERR_ARG, "qconv: NULL weights or geometry");
    /* The im2col conv's scratch size is 0 exactly for the geometries it refuses. */
    if (tern_kernel_conv2d_scratch_bytes(w, g, TERN_KACT_I8) == 0 || (long)g->cin * g->kh * g->kw != w->cols)
        return tern_error(TERN_ERR_SHAPE, "qconv: weight (%d,%d) does not fit input (%d,%d,%d), kernel %dx%d, pad %d",
                          w->rows, w->cols, g->cin, g->h, g->w, g->kh, g->kw, g->pad);
    if (!w->symmetric)
        return tern_error(TERN_ERR_UNSUPPORTED, "qconv: weights with separate +1 and -1 scales (TTQ) are not supported");
    const int M = w->rows, K = w->cols, kk = g->kh * g->kw;
    c->w = w;
    c->g = *g;
    c->m = M;
    c->groups = (M + TERN_QCONV_LANES - 1) / TERN_QCONV_LANES;
    c->cq = (g->cin + 3) / 4;
    c->oh = (int)tern_conv_out_size(g->h, g->kh, g->stride, g->pad);
    c->ow = (int)tern_conv_out_size(g->w, g->kw, g->stride, g->pad);
    c->hp = g->h + 2 * g->pad;
    c->wpad = g->w + 2 * g->pad;
    c->gstride = (size_t)kk * c->cq * 64;
    int8_t *wt = malloc((size_t)M * K);
    c->wc = aligned_alloc(64, c->gstride * c->groups);
    tern_status st = wt && c->wc ? tern_packed_get(w, wt)
                                 : tern_error(TERN_ERR_NOMEM, "qconv: out of memory for %dx%d weights", M, K);
    if (!st) {
        memset(c->wc, 1, c->gstride * c->groups);   /* code 1: w = 0 for padding rows and channels */
        for (int r = 0; r < M; r++)
            for (int ci = 0; ci < g->cin; ci++)
                for (int t = 0; t < kk; t++) {
                    size_t at = (size_t)(r / 16) * c->gstride + ((size_t)(t * c->cq + ci / 4) * 16 + r % 16) * 4 + ci % 4;
                    c->wc[at] = (uint8_t)(wt[(size_t)r * K + (size_t)ci * kk + t] + 1);
                }
    }
    free(wt);
    if (st) tern_qconv_free(c);
    return st;
}

void tern_qconv_free(tern_qconv *c) {
    if (!c) return;
    free(c->wc);
    memset(c, 0, sizeof *c);
}

static size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

size_t tern_qconv_scratch_bytes(const tern_qconv *c) {
    if (!c || !c->wc) return 0;
    const size_t in_n = (size_t)c->g.cin * c->g.h * c->g.w, pix = (size_t)c->hp * c->wpad;
    return up64(in_n) + up64(pix * 4 * c->cq) + up64(pix * 4) + up64((size_t)c->oh * c->ow * 4) + 64;
}

/* v[i] = the 4 bytes of pixel i of channels c .. c+3 (planes hw apart). */
static void quad_words(const int8_t *restrict s, size_t hw, int n, uint32_t *restrict v) {
    for (int i = 0; i < n; i++)
        v[i] = (uint32_t)(uint8_t)s[i] | (uint32_t)(uint8_t)s[i + hw] << 8 | (uint32_t)(uint8_t)s[i + 2 * hw] << 16 |
               (uint32_t)(uint8_t)s[i + 3 * hw] << 24;
}

/* Channels c .. c+3 of the image (src, its planes hw apart, rows w wide)
 * into the HWC buffer's interior at d (row stride rowb), one 4-byte word per
 * pixel, a quarter of the stores that byte by byte takes; the words formed
 * 64 pixels of the flattened plane at a time, vectorized even for short rows. */
static void stage_quad(const int8_t *src, size_t hw, int w, int8_t *d, size_t Cp, size_t rowb) {
    uint32_t v[64];
    int x = 0;
    for (size_t i0 = 0; i0 < hw; i0 += 64) {
        const int n = hw - i0 < 64 ? (int)(hw - i0) : 64;
        if (n == 64)
            quad_words(src + i0, hw, 64, v);
        else
            quad_words(src + i0, hw, n, v);
        for (int i = 0; i < n; i++) {
            memcpy(d + (size_t)x * Cp, &v[i], 4);
            if (++x == w) x = 0, d += rowb;
        }
    }
}

/* ps[i] (+)= src[i] for one channel plane: contiguous, vectorized. */
static void stage_planesum(const int8_t *restrict src, size_t n, int32_t *restrict ps, int first) {
    if (first)
        for (size_t i = 0; i < n; i++) ps[i] = src[i];
    else
        for (size_t i = 0; i < n; i++) ps[i] += src[i];
}

/* d[i] += s[i], two distinct rows. */
static void stage_addrow(int32_t *restrict d, const int32_t *restrict s, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] += s[i];
}

/* The (h, w) pixel sums at the front of pix spread out to the (hp, wpad)
 * layout, rows moved bottom up (a row never lands on one not yet moved),
 * and the border zeroed. */
static void stage_spread(int32_t *pix, int H, int W, int pad, size_t wpad) {
    for (int y = H - 1; y >= 0; y--) memmove(pix + (size_t)(y + pad) * wpad + pad, pix + (size_t)y * W, sizeof(int32_t) * W);
    memset(pix, 0, sizeof(int32_t) * pad * wpad);
    memset(pix + (size_t)(H + pad) * wpad, 0, sizeof(int32_t) * pad * wpad);
    for (int y = pad; y < H + pad; y++) {
        memset(pix + (size_t)y * wpad, 0, sizeof(int32_t) * pad);
        memset(pix + (size_t)y * wpad + pad + W, 0, sizeof(int32_t) * pad);
    }
}

/* The quantized image qchw (cin, h, w) into the HWC buffer's interior (its
 * border and padding channels stay zero), each pixel's channel sum into pix
 * (hp, wpad), then each output position's patch sum, a box sum of pix
 * (which it overwrites: pix is rewritten for every image). */
static void qconv_stage(const tern_qconv *c, const int8_t *qchw, int8_t *hwc, int32_t *pix, int32_t *psum) {
    /* Locals: the int8 stores could alias c's fields, which would be re-read every time. */
    const int cin = c->g.cin, H = c->g.h, W = c->g.w, pad = c->g.pad, st = c->g.stride, kh = c->g.kh, kw = c->g.kw;
    const size_t Cp = 4 * (size_t)c->cq, wpad = (size_t)c->wpad, hw = (size_t)H * W;
    const int oh = c->oh, ow = c->ow;
    /* Four channels at a time, each image row read contiguously; the last
     * channels (cin not a multiple of 4) byte by byte. */
    const int c4 = cin & ~3;
    for (int ch = 0; ch < c4; ch += 4)
        stage_quad(qchw + (size_t)ch * hw, hw, W, hwc + ((size_t)pad * wpad + pad) * Cp + ch, Cp, wpad * Cp);
    for (int ch = c4; ch < cin; ch++)
        for (int y = 0; y < H; y++) {
            const int8_t *src = qchw + ((size_t)ch * H + y) * W;
            int8_t *d = hwc + ((size_t)(y + pad) * wpad + pad) * Cp + ch;
            for (int x = 0; x < W; x++) d[(size_t)x * Cp] = src[x];
        }
    /* Pixel sums over whole planes, then into the padded layout. */
    for (int ch = 0; ch < cin; ch++) stage_planesum(qchw + (size_t)ch * hw, hw, pix, ch == 0);
    if (pad) stage_spread(pix, H, W, pad, wpad);
    /* The box sum in two passes: each output row's kh pixel rows summed
     * into its first one, in place top down (a row is read before it is
     * overwritten), then kw of those column sums per position. */
    for (int oy = 0; oy < oh; oy++) {
        int32_t *r = pix + (size_t)oy * st * wpad;
        for (int ky = 1; ky < kh; ky++) stage_addrow(r, r + (size_t)ky * wpad, wpad);
        for (int ox = 0; ox < ow; ox++) {
            int32_t s = 0;
            for (int kx = 0; kx < kw; kx++) s += r[(size_t)ox * st + kx];
            psum[(size_t)oy * ow + ox] = s;
        }
    }
}

tern_status tern_qconv_run(tern_kernel path, const tern_qconv *c, const float *x, int n, const float *bias,
                           const tern_epilogue *e, float *y, void *scratch, size_t scratch_bytes) {
    if (!c || !c->wc || !x || !y || !scratch)
        return tern_error(TERN_ERR_ARG, "qconv: NULL conv, input, output or scratch");
    if (n < 1) return tern_error(TERN_ERR_SHAPE, "qconv: batch %d, needs at least 1", n);
    const size_t need = tern_qconv_scratch_bytes(c);
    if (scratch_bytes < need) return tern_error(TERN_ERR_ARG, "qconv: scratch has %zu bytes, needs %zu", scratch_bytes, need);
    tern_kernel p;
    const tern_kernel_ops *ops;
    tern_status st = tern_kernel_resolve(path, &p);
    if (st || (st = tern_kernel_ops_get(p, &ops))) return st;
    static const tern_epilogue none = {0};
    const tern_conv2d_geom *g = &c->g;
    const size_t in_n = (size_t)g->cin * g->h * g->w, pix = (size_t)c->hp * c->wpad;
    const size_t out_n = (size_t)c->m * c->oh * c->ow;
    unsigned char *s = (unsigned char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    int8_t *qchw = (int8_t *)s;                                 /* (cin, h, w) */
    int8_t *hwc = qchw + up64(in_n);                            /* (hp, wpad, Cp) */
    int32_t *pixsum = (int32_t *)(hwc + up64(pix * 4 * c->cq)); /* (hp, wpad) */
    int32_t *psum = pixsum + up64(pix * 4) / 4;                 /* (oh, ow) */
    memset(hwc, 0, pix * 4 * c->cq);
    memset(pixsum, 0, pix * 4);
    tern_qconv_job job = {.c = c, .q = hwc, .psum = psum, .bias = bias, .e = e ? e : &none};
    for (int b = 0; b < n; b++) {
        int32_t total;
        if (ops->quantize(x + (size_t)b * in_n, (int)in_n, qchw, &job.sx, &total))
            return tern_error(TERN_ERR_NUMERIC, "qconv: image %d has a NaN or Inf activation", b);
        qconv_stage(c, qchw, hwc, pixsum, psum);
        job.y = y + (size_t)b * out_n;
        qconv_kernels[p](&job);
    }
    return TERN_OK;
}

/* The scalar twin: sum(c*q) per output in tap, then channel order, the same
 * integer as every path; D = sum(c*q) - S[p]; the shared epilogue. */
void tern_qconv_ref(const tern_qconv_job *j) {
    const tern_qconv *c = j->c;
    const tern_conv2d_geom *g = &c->g;
    const size_t P = (size_t)c->oh * c->ow, Cp = 4 * (size_t)c->cq;
    for (int r = 0; r < c->m; r++) {
        const uint8_t *wr = c->wc + (size_t)(r / 16) * c->gstride + (size_t)(r % 16) * 4;
        for (int oy = 0; oy < c->oh; oy++)
            for (int ox = 0; ox < c->ow; ox++) {
                const int8_t *q0 = j->q + ((size_t)oy * g->stride * c->wpad + (size_t)ox * g->stride) * Cp;
                int32_t acc = 0;
                for (int ky = 0; ky < g->kh; ky++)
                    for (int kx = 0; kx < g->kw; kx++) {
                        const int8_t *qt = q0 + ((size_t)ky * c->wpad + kx) * Cp;
                        const uint8_t *wt = wr + (size_t)(ky * g->kw + kx) * c->cq * 64;
                        for (size_t ci = 0; ci < Cp; ci++) acc += wt[ci / 4 * 64 + ci % 4] * qt[ci];
                    }
                const size_t p = (size_t)oy * c->ow + ox;
                const float v = tern_kq_out(c->w, r, acc - j->psum[p], 0, j->sx, j->bias);
                j->y[(size_t)r * P + p] = tern_epi_apply(j->e, r, v);
            }
    }
}
