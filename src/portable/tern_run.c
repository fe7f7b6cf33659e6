/* tern_run.c — the interpreter of an exported model (tern_run.h). */
#include "tern_run.h"

#include <math.h>
#include <string.h>

/* The buffer at offset off: the arena, or the model's input (-1). */
static float *at(float *arena, const float *input, long off) { return off < 0 ? (float *)input : arena + off; }

/* Output r of a ternary row over q (int8) or x (fp32). */
static float t2_out(const tern_run_layer *L, int M, int r, const int8_t *q, float sx, const float *x, int K) {
    size_t bs;
    const uint8_t *row = tern_pt_t2_row(L->qs, M, L->kblocks, r, &bs);
    float y;
    if (L->wmode == TERN_RUN_W_T2_I8) {
        int32_t P, N;
        tern_pt_row_i8(row, bs, L->kblocks, q, &P, &N);
        y = tern_pt_kq_out(L->symmetric, L->wp[r], L->wn[r], P - N, P, sx, L->bias[r]);
    } else if (L->symmetric) {
        y = tern_pt_kf_out_sym(L->wp[r], tern_pt_row_f32_d(row, bs, K, x), L->bias[r]);
    } else {
        float P, N;
        tern_pt_row_f32_pn(row, bs, K, x, &P, &N);
        y = tern_pt_kf_out_asym(L->wp[r], L->wn[r], P, N, L->bias[r]);
    }
    return tern_pt_epi_apply(&L->epi, r, y);
}

/* y (M) = the linear layer of x (K). */
static int run_linear(const tern_run_layer *L, float *arena, const float *x, float *y) {
    const int K = L->in_c * L->in_h * L->in_w, M = L->out_c;
    int8_t *q = (int8_t *)(arena + L->tq);
    float sx = 0.0f;
    if (L->wmode == TERN_RUN_W_T2_I8) {
        int32_t qsum;
        memset(q + K, 0, (size_t)L->kblocks * TERN_PT_BLOCK - (size_t)K);
        if (tern_pt_quantize(x, K, q, &sx, &qsum)) return -1;
    }
    for (int r = 0; r < M; r++) {
        if (L->wmode == TERN_RUN_W_FP32)
            y[r] = tern_pt_epi_apply(&L->epi, r, tern_pt_dot(x, L->weight + (size_t)r * K, K, L->bias[r]));
        else
            y[r] = t2_out(L, M, r, q, sx, x, K);
    }
    return 0;
}

/* Conv output rows [oh0, oh1) of every channel: channel r's row oh at
 * y + r cs + (oh - oh0) conv_w. qimg: the quantized image (int8 mode). */
static void conv_rows(const tern_run_layer *L, float *arena, const float *x, const int8_t *qimg, float sx, int oh0,
                      int oh1, float *y, size_t cs) {
    const int C = L->in_c, H = L->in_h, W = L->in_w, k = L->k, s = L->stride, p = L->pad;
    const int M = L->out_c, OW = L->conv_w, K = C * k * k;
    if (L->wmode == TERN_RUN_W_FP32_DIRECT) {
        for (int r = 0; r < M; r++)
            for (int oh = oh0; oh < oh1; oh++)
                tern_pt_dconv_row(x, C, H, W, k, k, s, p, L->weight + (size_t)r * K, L->bias[r], &L->epi, r, oh, OW,
                                  y + (size_t)r * cs + (size_t)(oh - oh0) * OW);
        return;
    }
    int8_t *qc = (int8_t *)(arena + L->tcol);   /* (Kp) the receptive field, int8 mode */
    float *xc = arena + L->tcol;                /* (K) the receptive field, fp32 modes */
    for (int oh = oh0; oh < oh1; oh++)
        for (int ow = 0; ow < OW; ow++) {
            /* Gather position (oh, ow)'s receptive field in (c, kh, kw) order, zero padding. */
            int j = 0;
            for (int c = 0; c < C; c++)
                for (int kh = 0; kh < k; kh++)
                    for (int kw = 0; kw < k; kw++, j++) {
                        const int ih = oh * s - p + kh, iw = ow * s - p + kw;
                        const int in = ih >= 0 && ih < H && iw >= 0 && iw < W;
                        const size_t off = ((size_t)c * H + (in ? ih : 0)) * W + (in ? iw : 0);
                        if (L->wmode == TERN_RUN_W_T2_I8) qc[j] = in ? qimg[off] : 0;
                        else xc[j] = in ? x[off] : 0.0f;
                    }
            if (L->wmode == TERN_RUN_W_T2_I8) memset(qc + K, 0, (size_t)L->kblocks * TERN_PT_BLOCK - (size_t)K);
            float *yp = y + (size_t)(oh - oh0) * OW + ow;
            for (int r = 0; r < M; r++) {
                float v;
                if (L->wmode == TERN_RUN_W_FP32) {
                    /* tern_sgemm_ref: a product, then a sum, k in order (padding adds nothing); then + bias. */
                    const float *w = L->weight + (size_t)r * K;
                    float acc = 0.0f;
                    for (int e = 0; e < K; e++) {
                        const float t = w[e] * xc[e];
                        acc += t;
                    }
                    v = tern_pt_epi_apply(&L->epi, r, acc + L->bias[r]);
                } else {
                    v = t2_out(L, M, r, qc, sx, xc, K);
                }
                yp[(size_t)r * cs] = v;
            }
        }
}

/* y = the conv of x, with its fused maxpool when pool_k > 0. */
static int run_conv(const tern_run_layer *L, float *arena, const float *x, float *y) {
    const int M = L->out_c, CH = L->conv_h, CW = L->conv_w;
    int8_t *qimg = (int8_t *)(arena + L->tq);
    float sx = 0.0f;
    if (L->wmode == TERN_RUN_W_T2_I8) {
        /* One absmax per image, as the library's convs. */
        int32_t qsum;
        if (tern_pt_quantize(x, L->in_c * L->in_h * L->in_w, qimg, &sx, &qsum)) return -1;
    }
    if (!L->pool_k) {
        conv_rows(L, arena, x, qimg, sx, 0, CH, y, (size_t)CH * CW);
        return 0;
    }
    /* Pooled row ph from the conv rows its windows cover, computed into rows (M, pool_k, CW). */
    float *rows = arena + L->trows;
    const size_t cs = (size_t)L->pool_k * CW;
    for (int ph = 0; ph < L->out_h; ph++) {
        int h0, h1;
        tern_pt_clip(ph * L->pool_stride - L->pool_pad, L->pool_k, CH, &h0, &h1);
        conv_rows(L, arena, x, qimg, sx, h0, h1, rows, cs);
        for (int r = 0; r < M; r++)
            for (int pw = 0; pw < L->out_w; pw++) {
                int w0, w1;
                int32_t best;
                tern_pt_clip(pw * L->pool_stride - L->pool_pad, L->pool_k, CW, &w0, &w1);
                y[((size_t)r * L->out_h + ph) * L->out_w + pw] =
                    tern_pt_window_max(rows + (size_t)r * cs, CW, 0, h1 - h0, w0, w1, &best);
            }
    }
    return 0;
}

/* Pools and the per-element layers. */
static void run_plain(const tern_run_layer *L, const float *x, const float *from, float *y) {
    const int C = L->in_c, H = L->in_h, W = L->in_w;
    const size_t HW = (size_t)H * W, n = (size_t)L->out_c * L->out_h * L->out_w;
    if (L->type == TERN_RUN_MAXPOOL || L->type == TERN_RUN_AVGPOOL) {
        const float inv = 1.0f / (float)(L->k * L->k);
        for (int c = 0; c < C; c++)
            for (int oh = 0; oh < L->out_h; oh++)
                for (int ow = 0; ow < L->out_w; ow++) {
                    int h0, h1, w0, w1;
                    int32_t best;
                    tern_pt_clip(oh * L->stride - L->pad, L->k, H, &h0, &h1);
                    tern_pt_clip(ow * L->stride - L->pad, L->k, W, &w0, &w1);
                    const float *xp = x + (size_t)c * HW;
                    float v = L->type == TERN_RUN_MAXPOOL ? tern_pt_window_max(xp, W, h0, h1, w0, w1, &best)
                                                          : tern_pt_window_avg(xp, W, h0, h1, w0, w1, inv);
                    y[((size_t)c * L->out_h + oh) * L->out_w + ow] = tern_pt_epi_apply(&L->epi, c, v);
                }
    } else if (L->type == TERN_RUN_GAVGPOOL) {
        for (int c = 0; c < C; c++) {
            double sum = 0.0;   /* in double, as the training op */
            for (size_t j = 0; j < HW; j++) sum += x[(size_t)c * HW + j];
            y[c] = tern_pt_epi_apply(&L->epi, c, (float)(sum / (double)HW));
        }
    } else {
        /* affine (per channel of HW values), activation, add. */
        const size_t per = n / (size_t)L->out_c;
        for (size_t j = 0; j < n; j++) {
            const float v = L->type == TERN_RUN_ADD ? x[j] + from[j] : x[j];
            y[j] = tern_pt_epi_apply(&L->epi, (int)(j / per), v);
        }
    }
}

int tern_run_predict(const tern_run_model *m, float *arena, const float *input, float *logits) {
    for (long j = 0; j < m->in_numel; j++)
        if (!(fabsf(input[j]) <= FLT_MAX)) return -1;   /* NaN or Inf */
    for (int i = 0; i < m->n_layers; i++) {
        const tern_run_layer *L = &m->layers[i];
        const float *x = at(arena, input, L->in);
        float *y = at(arena, input, L->out);
        int st = 0;
        if (L->type == TERN_RUN_LINEAR) st = run_linear(L, arena, x, y);
        else if (L->type == TERN_RUN_CONV2D) st = run_conv(L, arena, x, y);
        else run_plain(L, x, L->type == TERN_RUN_ADD ? at(arena, input, L->from) : NULL, y);
        if (st) return -1;
    }
    const float *z = at(arena, input, m->logits);
    int best = 0;
    for (int k = 0; k < m->n_classes; k++) {
        logits[k] = z[k];
        if (z[k] > z[best]) best = k;
    }
    return best;
}
