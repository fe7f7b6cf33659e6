/* ternary.c — twn / absmean / ttq weight quantizers: the op (forward beside
 * backward), the closed-form scales and the per-layer statistics. All three
 * share the two group passes below, so the statistics a user reads are the
 * quantization the forward computes. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/lanes.h"
#include "quant_impl.h"

/* ---- the two passes over one scale group w[0..K) ------------------------- */

/* Both passes sum in TERN_LANES fixed lanes of doubles (core/lanes.h):
 * vectorised, and the same bits whatever the target's vector width. */

/* Pass 1: the threshold delta and gamma = mean|w|. Returns 0 when the group
 * holds NaN or Inf (the sum then is not finite; a double sum of finite
 * floats cannot overflow). */
/* One chunk of pass 1: sum |w| in double lanes, max |w| in float lanes
 * (the zero padding of a last chunk adds nothing and is no max). */
static inline void threshold_chunk(tern_f4 w, tern_d4 *sum, tern_f4 *mx) {
    tern_f4 a = (tern_f4)((tern_i4)w & 0x7fffffff);  /* |w| */
    tern_i4 gt = a > *mx;
    *sum += tern_f4_to_d4(a);
    *mx = (tern_f4)(((tern_i4)a & gt) | ((tern_i4)*mx & ~gt));
}

static int group_threshold(const float *restrict w, size_t K, const tern_quant_cfg *cfg, float *delta,
                           float *gamma) {
    tern_d4 sum4 = {0};
    tern_f4 mx4 = {0};
    size_t k = 0;
    for (; k + TERN_LANES <= K; k += TERN_LANES) threshold_chunk(tern_f4_load(w + k), &sum4, &mx4);
    if (k < K) threshold_chunk(tern_f4_load_tail(w + k, K - k), &sum4, &mx4);
    double sum = tern_d4_sum(sum4);
    float lanes[TERN_LANES], mx = 0.0f;
    memcpy(lanes, &mx4, sizeof lanes);
    for (int l = 0; l < TERN_LANES; l++) mx = lanes[l] > mx ? lanes[l] : mx;
    if (!isfinite(sum)) return 0;
    double mean = sum / (double)K;
    switch (cfg->method) {
    case TERN_QUANT_TWN: *delta = (float)((double)cfg->t * mean); break;
    /* round-half-even(x) clipped to [-1,1] is sign(x) exactly where |x| > 1/2,
     * x = w / (gamma + eps); comparing |w| with (gamma + eps) / 2 avoids the
     * division and its rounding. */
    case TERN_QUANT_ABSMEAN: *delta = (float)(0.5 * (mean + (double)cfg->eps)); break;
    default: *delta = cfg->t * mx; break;
    }
    *gamma = (float)mean;
    return 1;
}

/* What pass 2 learns about the kept weights of a group. */
typedef struct {
    size_t n_pos, n_neg;      /* |P|, |N|: T = +1, -1 */
    double sum_pos, sum_neg;  /* sum of w over P, sum of -w over N */
} group_acc;

/* Pass 2a: count and sum the kept weights, |w| > delta (a reduction). */
/* One chunk of pass 2a. The zero padding of a last chunk is never kept
 * (delta >= 0). Counts in int32 lanes: K < 2^33. */
static inline void count_chunk(tern_f4 x, float delta, tern_i4 n[2], tern_d4 sum[2]) {
    tern_i4 p = x > delta, q = x < -delta;  /* -1 where kept */
    n[0] -= p;
    n[1] -= q;
    sum[0] += tern_f4_to_d4(tern_f4_select(x, p));
    sum[1] -= tern_f4_to_d4(tern_f4_select(x, q));
}

static group_acc group_count(const float *restrict w, size_t K, float delta) {
    tern_i4 n[2] = {{0}, {0}};      /* |P|, |N| */
    tern_d4 sum[2] = {{0}, {0}};    /* sum over P of w, over N of -w */
    size_t k = 0;
    for (; k + TERN_LANES <= K; k += TERN_LANES) count_chunk(tern_f4_load(w + k), delta, n, sum);
    if (k < K) count_chunk(tern_f4_load_tail(w + k, K - k), delta, n, sum);
    group_acc acc = {(size_t)tern_i4_sum(n[0]), (size_t)tern_i4_sum(n[1]), tern_d4_sum(sum[0]), tern_d4_sum(sum[1])};
    return acc;
}

/* Pass 2b: T = sign(w) where |w| > delta, else 0; W_q = sp on T = +1, -sn on
 * T = -1, 0 else (a map). Branch-free, so it vectorises and the random sign
 * pattern of trained weights costs no mispredictions. */
static void group_emit(const float *restrict w, size_t K, float delta, int8_t *restrict T, float *restrict out,
                       float sp, float sn) {
#pragma omp simd
    for (size_t i = 0; i < K; i++) {
        int pos = w[i] > delta, neg = w[i] < -delta;
        T[i] = (int8_t)(pos - neg);
        out[i] = (float)pos * sp - (float)neg * sn;
    }
}

/* TWN's closed form: mean |w| over the kept set; 0 when nothing is kept. */
static float twn_alpha(const group_acc *a) {
    size_t kept = a->n_pos + a->n_neg;
    return kept ? (float)((a->sum_pos + a->sum_neg) / (double)kept) : 0.0f;
}

/* ---- argument checks, shared by the op, alpha_init and stats ------------- */

enum { NEED_IF_LEARNED, NEED_ALWAYS };

int tern_quant_groups(const tern_tensor *w, const tern_quant_cfg *cfg) {
    if (!w || !cfg || w->ndim < 1) return 0;
    return cfg->granularity == TERN_QUANT_PER_CHANNEL ? w->shape[0] : 1;
}

static tern_status check_scale(const char *who, const char *name, const tern_tensor *a, const tern_tensor *w,
                               const tern_quant_cfg *cfg, int read) {
    char sa[TERN_SHAPE_STR_LEN], sw[TERN_SHAPE_STR_LEN];
    int G = tern_quant_groups(w, cfg);
    const char *per = cfg->granularity == TERN_QUANT_PER_CHANNEL ? "per output channel" : "per tensor";
    if (a->ndim != 1 || a->shape[0] != G || !a->data)
        return tern_error(TERN_ERR_SHAPE, "%s: %s %s must be (%d): one scale %s of weight %s", who, name,
                          SHAPE(a, sa), G, per, SHAPE(w, sw));
    if (read)
        for (int g = 0; g < G; g++)
            if (!isfinite(a->data[g]))
                return tern_error(TERN_ERR_NUMERIC, "%s: %s[%d] = %g is not finite", who, name, g, a->data[g]);
    return TERN_OK;
}

/* need: whether alpha must be given only with learned_alpha (the op, stats)
 * or always (alpha_init writes it). Scales are read when need is
 * NEED_IF_LEARNED, written otherwise. */
static tern_status check_args(const char *who, const tern_tensor *w, const tern_tensor *alpha,
                              const tern_tensor *alpha_neg, const tern_quant_cfg *cfg, int need) {
    tern_status st = tern_quant_cfg_check_as(who, cfg);
    if (st) return st;
    if (!w || !w->data || tern_shape_numel(w->ndim, w->shape) == 0)
        return tern_error(TERN_ERR_ARG, "%s: weight is NULL or has an invalid shape", who);
    const char *m = tern_quant_method_name(cfg->method);
    int want_alpha = need == NEED_ALWAYS || cfg->learned_alpha;
    if (want_alpha && !alpha)
        return tern_error(TERN_ERR_ARG,
                          need == NEED_ALWAYS ? "%s: alpha is NULL: nowhere to write the scales"
                                              : "%s: learned_alpha is set but alpha is NULL",
                          who);
    if (!want_alpha && alpha)
        return tern_error(TERN_ERR_ARG, "%s: alpha is given but learned_alpha is 0 (%s uses its closed-form scale)",
                          who, m);
    if (cfg->method == TERN_QUANT_TTQ && !alpha_neg)
        return tern_error(TERN_ERR_ARG, "%s: ttq needs alpha_neg (its negative scale Wn)", who);
    if (cfg->method != TERN_QUANT_TTQ && alpha_neg)
        return tern_error(TERN_ERR_ARG, "%s: alpha_neg is ttq's Wn, but the method is %s", who, m);
    int read = need == NEED_IF_LEARNED;
    if (alpha && (st = check_scale(who, "alpha", alpha, w, cfg, read))) return st;
    if (alpha_neg && (st = check_scale(who, "alpha_neg", alpha_neg, w, cfg, read))) return st;
    return TERN_OK;
}

/* ---- the op: W_q = alpha T ----------------------------------------------- */

typedef struct {
    tern_quant_cfg cfg;  /* method, t, eps for the thresholds; ste and clip for the backward */
    int groups;          /* G: 1 or O */
    size_t K;            /* weights per group: n / G */
    int8_t *T;           /* (n) the ternary codes, for the backward */
    float *sp;           /* (G) the scale used: alpha, the closed form, or ttq's Wp */
    float *sn;           /* (G) ttq's Wn; NULL for twn, absmean */
    int bad_group;       /* first group with NaN or Inf in W, or -1 */
} ternary_state;

tern_tensor *tern_quant_ternary(tern_ctx *c, tern_tensor *w, tern_tensor *alpha, tern_tensor *alpha_neg,
                                const tern_quant_cfg *cfg) {
    if (!w || c->status) return NULL;
    tern_status st = check_args("quant_ternary", w, alpha, alpha_neg, cfg, NEED_IF_LEARNED);
    if (st) return tern_ctx_fail(c, st, "%s", tern_errmsg());
    ternary_state *s = tern_ctx_alloc(c, sizeof *s);
    if (!s) return NULL;
    s->cfg = *cfg;
    s->groups = tern_quant_groups(w, cfg);
    s->K = w->n / (size_t)s->groups;
    s->T = tern_ctx_alloc(c, w->n);
    s->sp = tern_ctx_alloc(c, (size_t)s->groups * sizeof(float));
    s->sn = NULL;
    if (cfg->method == TERN_QUANT_TTQ && !(s->sn = tern_ctx_alloc(c, (size_t)s->groups * sizeof(float)))) return NULL;
    if (!s->T || !s->sp) return NULL;
    s->bad_group = -1;
    tern_tensor *y = tern_ctx_tensor(c, w->ndim, w->shape, tern_ctx_wants_grad(c, w, alpha, alpha_neg, NULL));
    y = tern_ctx_apply(c, &tern_op_quant_ternary, y, s, w, alpha, alpha_neg, NULL);
    if (y && s->bad_group >= 0) {
        char sw[TERN_SHAPE_STR_LEN];
        return tern_ctx_fail(c, TERN_ERR_NUMERIC, "quant_ternary: weight %s holds NaN or Inf (scale group %d of %d)",
                             SHAPE(w, sw), s->bad_group, s->groups);
    }
    return y;
}

void tern_quant_ternary_forward(tern_node *n) {
    ternary_state *s = n->state;
    const tern_tensor *w = n->in[0], *alpha = n->in[1], *alpha_neg = n->in[2];
    const size_t K = s->K;
    float *y = n->out->data;  /* (n), the layout of W */
    s->bad_group = -1;
    for (int g = 0; g < s->groups; g++) {
        const size_t off = (size_t)g * K;
        const float *wg = w->data + off;
        int8_t *T = s->T + off;
        float delta, gamma;
        if (!group_threshold(wg, K, &s->cfg, &delta, &gamma)) {
            /* The builder fails the step; leave defined values behind. */
            if (s->bad_group < 0) s->bad_group = g;
            memset(T, 0, K);
            memset(y + off, 0, K * sizeof(float));
            s->sp[g] = 0.0f;
            if (s->sn) s->sn[g] = 0.0f;
            continue;
        }
        if (alpha) {
            /* Learned scales: one pass emits T and W_q. */
            s->sp[g] = alpha->data[g];
            if (s->sn) s->sn[g] = alpha_neg->data[g];
            group_emit(wg, K, delta, T, y + off, s->sp[g], s->sn ? s->sn[g] : s->sp[g]);
        } else if (s->cfg.method == TERN_QUANT_ABSMEAN) {
            s->sp[g] = gamma;
            group_emit(wg, K, delta, T, y + off, gamma, gamma);
        } else {
            /* twn's closed form needs the kept set before it can scale. */
            group_acc acc = group_count(wg, K, delta);
            float a = s->sp[g] = twn_alpha(&acc);
            group_emit(wg, K, delta, T, y + off, a, a);
        }
    }
}

void tern_quant_ternary_backward(tern_node *n) {
    const ternary_state *s = n->state;
    tern_tensor *w = n->in[0], *alpha = n->in[1], *alpha_neg = n->in[2];
    const int ttq = s->cfg.method == TERN_QUANT_TTQ, clipped = s->cfg.ste == TERN_STE_CLIPPED;
    const float clip = s->cfg.clip;
    const size_t K = s->K;
    for (int g = 0; g < s->groups; g++) {
        const size_t off = (size_t)g * K;
        const int8_t *T = s->T + off;
        const float *dy = n->out->grad + off;  /* (K) dL/dW_q */
        if (w->grad) {
            /* STE: dL/dW = f dL/dW_q, f = 1, or ttq's Wp | 1 | Wn by T; 0 past the clip. */
            float *dw = w->grad + off;
            const float *wg = w->data + off;
            const float fp = ttq ? s->sp[g] : 1.0f, fn = ttq ? s->sn[g] : 1.0f;
            if (!ttq && !clipped) {
#pragma omp simd
                for (size_t i = 0; i < K; i++) dw[i] += dy[i];
            } else {
                /* f = fp on T = +1, fn on T = -1, 1 on T = 0, as 0/1 mask
                 * arithmetic so the loop vectorises. */
#pragma omp simd
                for (size_t i = 0; i < K; i++) {
                    float p = (float)(T[i] > 0), q = (float)(T[i] < 0);
                    float f = p * fp + q * fn + (1.0f - p - q);
                    if (clipped) f *= (float)(fabsf(wg[i]) <= clip);
                    dw[i] += f * dy[i];
                }
            }
        }
        if ((alpha && alpha->grad) || (alpha_neg && alpha_neg->grad)) {
            /* dL/dalpha = sum g T = sum_P g - sum_N g; ttq splits the two sums. */
            /* Float lane sums (core/lanes.h) over blocks of 1024, flushed
             * into double: a lane then adds at most 256 floats. */
            double gp = 0.0, gn = 0.0;
            for (size_t b = 0; b < K; b += 1024) {
                size_t e = K - b > 1024 ? b + 1024 : K;
                tern_f4 bp = {0}, bn = {0};
                size_t i = b;
                for (; i + TERN_LANES <= e; i += TERN_LANES) {
                    tern_i4 t = tern_b4_load(T + i);
                    tern_f4 g = tern_f4_load(dy + i);
                    bp += tern_f4_select(g, t > 0);
                    bn += tern_f4_select(g, t < 0);
                }
                if (i < e) { /* the padding has T = 0: in neither sum */
                    tern_i4 t = tern_b4_load_tail(T + i, e - i);
                    tern_f4 g = tern_f4_load_tail(dy + i, e - i);
                    bp += tern_f4_select(g, t > 0);
                    bn += tern_f4_select(g, t < 0);
                }
                gp += tern_f4_sum(bp);
                gn += tern_f4_sum(bn);
            }
            if (ttq) {
                if (alpha->grad) alpha->grad[g] += (float)gp;
                if (alpha_neg->grad) alpha_neg->grad[g] += (float)-gn;
            } else {
                alpha->grad[g] += (float)(gp - gn);
            }
        }
    }
}

TERN_OP_DEFINE(quant_ternary);

/* ---- closed-form scales and statistics, without the tape ----------------- */

tern_status tern_quant_alpha_init(const tern_tensor *w, const tern_quant_cfg *cfg, tern_tensor *alpha,
                                  tern_tensor *alpha_neg) {
    tern_status st = check_args("quant_alpha_init", w, alpha, alpha_neg, cfg, NEED_ALWAYS);
    if (st) return st;
    const int G = tern_quant_groups(w, cfg);
    const size_t K = w->n / (size_t)G;
    for (int g = 0; g < G; g++) {
        const float *wg = w->data + (size_t)g * K;
        float delta, gamma;
        if (!group_threshold(wg, K, cfg, &delta, &gamma)) {
            char sw[TERN_SHAPE_STR_LEN];
            return tern_error(TERN_ERR_NUMERIC, "quant_alpha_init: weight %s holds NaN or Inf (scale group %d of %d)",
                              SHAPE(w, sw), g, G);
        }
        if (cfg->method == TERN_QUANT_ABSMEAN) {
            alpha->data[g] = gamma;
            continue;
        }
        group_acc a = group_count(wg, K, delta);
        if (cfg->method == TERN_QUANT_TWN) {
            alpha->data[g] = twn_alpha(&a);
        } else {
            /* A side with no weights starts at the other side's scale, so its
             * first weights to cross the threshold get a sensible value. */
            double wp = a.n_pos ? a.sum_pos / (double)a.n_pos : 0.0;
            double wn = a.n_neg ? a.sum_neg / (double)a.n_neg : 0.0;
            alpha->data[g] = (float)(a.n_pos ? wp : wn);
            alpha_neg->data[g] = (float)(a.n_neg ? wn : wp);
        }
    }
    return TERN_OK;
}

tern_status tern_quant_ternary_codes(const tern_tensor *w, const tern_tensor *alpha, const tern_tensor *alpha_neg,
                                     const tern_quant_cfg *cfg, int8_t *T, float *sp, float *sn) {
    tern_status rc = check_args("quant_ternary_codes", w, alpha, alpha_neg, cfg, NEED_IF_LEARNED);
    if (rc) return rc;
    if (!T || !sp || !sn) return tern_error(TERN_ERR_ARG, "quant_ternary_codes: an output is NULL");
    const int G = tern_quant_groups(w, cfg);
    const size_t K = w->n / (size_t)G;
    /* One group's W_q, thrown away: group_emit is the forward's own pass, so
     * the codes are the forward's by construction. */
    float *scratch = malloc(K * sizeof(float));
    if (!scratch) return tern_error(TERN_ERR_NOMEM, "quant_ternary_codes: cannot allocate %zu floats", K);
    for (int g = 0; g < G; g++) {
        const size_t off = (size_t)g * K;
        const float *wg = w->data + off;
        float delta, gamma;
        if (!group_threshold(wg, K, cfg, &delta, &gamma)) {
            char sw[TERN_SHAPE_STR_LEN];
            free(scratch);
            return tern_error(TERN_ERR_NUMERIC, "quant_ternary_codes: weight %s holds NaN or Inf (scale group %d of %d)",
                              SHAPE(w, sw), g, G);
        }
        /* The scales exactly as tern_quant_ternary_forward picks them. */
        if (alpha) {
            sp[g] = alpha->data[g];
            sn[g] = alpha_neg ? alpha_neg->data[g] : sp[g];
        } else if (cfg->method == TERN_QUANT_ABSMEAN) {
            sp[g] = sn[g] = gamma;
        } else {
            group_acc acc = group_count(wg, K, delta);
            sp[g] = sn[g] = twn_alpha(&acc);
        }
        group_emit(wg, K, delta, T + off, scratch, sp[g], sn[g]);
    }
    free(scratch);
    return TERN_OK;
}

tern_status tern_quant_stats(const tern_tensor *w, const tern_tensor *alpha, const tern_tensor *alpha_neg,
                             const tern_quant_cfg *cfg, tern_quant_layer_stats *st) {
    tern_status rc = check_args("quant_stats", w, alpha, alpha_neg, cfg, NEED_IF_LEARNED);
    if (rc) return rc;
    if (!st) return tern_error(TERN_ERR_ARG, "quant_stats: output is NULL");
    memset(st, 0, sizeof *st);
    const int G = tern_quant_groups(w, cfg);
    const size_t K = w->n / (size_t)G;
    size_t n_pos = 0, n_neg = 0;
    double sum_p = 0.0, sum_n = 0.0;
    for (int g = 0; g < G; g++) {
        const float *wg = w->data + (size_t)g * K;
        float delta, gamma;
        if (!group_threshold(wg, K, cfg, &delta, &gamma)) {
            char sw[TERN_SHAPE_STR_LEN];
            return tern_error(TERN_ERR_NUMERIC, "quant_stats: weight %s holds NaN or Inf (scale group %d of %d)",
                              SHAPE(w, sw), g, G);
        }
        group_acc a = group_count(wg, K, delta);
        n_pos += a.n_pos;
        n_neg += a.n_neg;
        /* The scales the op would use at this step. */
        float ap = alpha ? alpha->data[g] : (cfg->method == TERN_QUANT_ABSMEAN ? gamma : twn_alpha(&a));
        float an = alpha_neg ? alpha_neg->data[g] : ap;
        if (g == 0 || ap < st->alpha_min) st->alpha_min = ap;
        if (g == 0 || ap > st->alpha_max) st->alpha_max = ap;
        if (g == 0 || an < st->neg_min) st->neg_min = an;
        if (g == 0 || an > st->neg_max) st->neg_max = an;
        sum_p += ap;
        sum_n += an;
    }
    st->n = w->n;
    st->groups = G;
    st->frac_pos = (double)n_pos / (double)w->n;
    st->frac_neg = (double)n_neg / (double)w->n;
    st->frac_zero = (double)(w->n - n_pos - n_neg) / (double)w->n;
    st->alpha_mean = (float)(sum_p / G);
    st->neg_mean = (float)(sum_n / G);
    return TERN_OK;
}
