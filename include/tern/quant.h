/* tern/quant.h — ternary weight quantizers and activation fake-quant, with
 * straight-through estimators (STE), as ops on the tape.
 *
 * The optimizer owns latent fp32 weights W. Every forward quantizes them,
 *     W_q = alpha * T,   T in {-1, 0, +1},
 * and the layer feeds W_q to the ordinary linear/conv op. T is a step
 * function of W, so its true gradient is zero almost everywhere; the
 * quantizer op therefore has its own backward that passes dL/dW_q through to
 * W (the STE) and gives the scales their exact gradient.
 *
 * Methods (delta is the threshold, T = sign(W) where |W| > delta, else 0):
 *   twn      delta = t mean|W| (t = 0.7); alpha = mean of |W| over the kept
 *            weights (0 when none is kept), or learned.        Li & Liu 2016
 *   absmean  gamma = mean|W|; T = clip(round(W / (gamma + eps)), -1, 1),
 *            round half to even (torch.round), which is delta = (gamma+eps)/2
 *            with ties to 0; scale gamma, or learned.     BitNet b1.58, 2024
 *   ttq      delta = t max|W| (t = 0.05); two learned scales: W_q = Wp where
 *            W > delta, -Wn where W < -delta, 0 else.        Zhu et al. 2017
 *
 * Granularity: one scale (and one threshold) per tensor, or per output
 * channel = per index of dim 0 of W: rows of a linear (O,I) weight, output
 * channels of a conv (O,C,KH,KW) weight. A scale tensor is (1) or (O).
 *
 * Backward (g = dL/dW_q, i runs over one scale group):
 *   dL/dW_i   = g_i                      twn, absmean (identity STE: the
 *               pass-through of TWN and BitNet, not scaled by alpha)
 *             = Wp g_i | g_i | Wn g_i    ttq, on T_i = +1 | 0 | -1 (the
 *               paper's scaled gradients)
 *             and, with the clipped STE, 0 where |W_i| > clip (absolute
 *             bound, as hardtanh's STE).
 *   dL/dalpha = sum_i g_i T_i            learned alpha (T does not depend on
 *                                         alpha, so this is exact)
 *   dL/dWp    = sum_{T_i = +1} g_i       ttq
 *   dL/dWn    = -sum_{T_i = -1} g_i      ttq. Wn is stored positive, W_q =
 *               -Wn there; the paper's eq. 7 prints this sum without the
 *               minus, which is the same step only if Wn is read as the
 *               signed value -Wn. tern follows the chain rule.
 * A closed-form alpha is treated as a constant of W (no gradient flows
 * through mean|W|), as in TWN and BitNet training code.
 *
 * Cost: one pass over W for the thresholds, one pass that emits T and W_q;
 * twn's closed-form alpha needs the kept set first, so it adds a counting
 * pass. Every pass is a branch-free SIMD loop (reductions summed in double);
 * what that costs in training throughput is in docs/performance.md. */
#ifndef TERN_QUANT_H
#define TERN_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include "tern/api.h"
#include "tern/tape.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tern_quant_method {
    TERN_QUANT_TWN,
    TERN_QUANT_ABSMEAN,
    TERN_QUANT_TTQ,
    TERN_QUANT_METHOD_COUNT
} tern_quant_method;

typedef enum tern_quant_granularity {
    TERN_QUANT_PER_TENSOR,
    TERN_QUANT_PER_CHANNEL,
    TERN_QUANT_GRANULARITY_COUNT
} tern_quant_granularity;

typedef enum tern_ste {
    TERN_STE_IDENTITY,  /* dL/dW = dL/dW_q (ttq: scaled by Wp / 1 / Wn) */
    TERN_STE_CLIPPED,   /* the same, but 0 where |W| > clip */
    TERN_STE_COUNT
} tern_ste;

/* Names for configs, indexed by the enums: "twn" "absmean" "ttq";
 * "per_tensor" "per_channel"; "identity" "clipped". */
TERN_API extern const char *const tern_quant_method_names[TERN_QUANT_METHOD_COUNT];
TERN_API extern const char *const tern_quant_granularity_names[TERN_QUANT_GRANULARITY_COUNT];
TERN_API extern const char *const tern_ste_names[TERN_STE_COUNT];

/* One layer's quantizer settings. */
typedef struct tern_quant_cfg {
    tern_quant_method method;
    float t;                            /* threshold factor, >= 0; twn 0.7, ttq 0.05; absmean ignores it */
    tern_quant_granularity granularity; /* PER_TENSOR */
    tern_ste ste;                       /* IDENTITY */
    float clip;                         /* bound of the clipped STE, > 0; 1.0 */
    int learned_alpha;                  /* 1: scales are parameters passed to the op; ttq requires 1 */
    int act_bits;                       /* 0: float input; 8: absmax fake-quant of the input */
    float eps;                          /* absmean's gamma + eps, >= 0; 1e-5 */
} tern_quant_cfg;

/* The defaults of `method` (values in the comments above); learned_alpha is
 * 1 for ttq, 0 otherwise. */
TERN_API tern_quant_cfg tern_quant_cfg_default(tern_quant_method method);

/* TERN_OK, or TERN_ERR_ARG with a message naming the bad field. */
TERN_API tern_status tern_quant_cfg_check(const tern_quant_cfg *cfg);

/* Name → enum value; TERN_ERR_ARG listing the valid names when unknown. */
TERN_API tern_status tern_quant_method_parse(const char *name, tern_quant_method *out);
TERN_API tern_status tern_quant_granularity_parse(const char *name, tern_quant_granularity *out);
TERN_API tern_status tern_ste_parse(const char *name, tern_ste *out);

/* Enum value → name; "unknown" when out of range. */
TERN_API const char *tern_quant_method_name(tern_quant_method m);
TERN_API const char *tern_quant_granularity_name(tern_quant_granularity g);
TERN_API const char *tern_ste_name(tern_ste s);

/* Number of scale groups for w under cfg: 1 per tensor, shape[0] per channel. */
TERN_API int tern_quant_groups(const tern_tensor *w, const tern_quant_cfg *cfg);

/* W_q = alpha * T, same shape as w, with the STE backward above.
 * alpha: NULL for the closed form (cfg->learned_alpha = 0), or the learned
 * scale, (1) or (O) by granularity; for ttq it is Wp. alpha_neg: ttq's Wn,
 * same shape; NULL for the other methods. Gradients flow to each input that
 * has a grad buffer. */
TERN_API tern_tensor *tern_quant_ternary(tern_ctx *c, tern_tensor *w, tern_tensor *alpha, tern_tensor *alpha_neg,
                                         const tern_quant_cfg *cfg);

/* Per-sample absmax fake-quant of x (N, ...): for each row n,
 * s = Q / max|x_n|, y = round(x s) / s clamped to [-Q, Q] / s, Q = 2^(bits-1) - 1
 * = 127; a row of zeros stays 0. Backward: identity (dL/dx = dL/dy).
 * bits = 0 returns x itself (no node); otherwise bits must be 8. */
TERN_API tern_tensor *tern_quant_act(tern_ctx *c, tern_tensor *x, int bits);

/* Closed-form scales of w, written into alpha ((1) or (O)), for initialising
 * a learned alpha: twn mean|W| over the kept set, absmean mean|W|; ttq
 * Wp = mean of W over W > delta into alpha and Wn = mean of -W over
 * W < -delta into alpha_neg (a side with no weights takes the other side's
 * scale; 0 when both are empty). alpha_neg must be NULL except for ttq. */
TERN_API tern_status tern_quant_alpha_init(const tern_tensor *w, const tern_quant_cfg *cfg, tern_tensor *alpha,
                                           tern_tensor *alpha_neg);

/* The ternary codes and scales the forward would use now, without a ctx or
 * the tape: T (w->n, W's layout) in {-1,0,+1} and per group g, sp[g] = the
 * scale of T = +1 and sn[g] = the scale of T = -1 (ttq: Wp, Wn; otherwise
 * both alpha), so W_q = sp T where T = +1, -sn where T = -1, 0 else, bit for
 * bit tern_quant_ternary's output. For export to packed deploy weights.
 * sp and sn hold tern_quant_groups(w, cfg) floats. */
TERN_API tern_status tern_quant_ternary_codes(const tern_tensor *w, const tern_tensor *alpha,
                                              const tern_tensor *alpha_neg, const tern_quant_cfg *cfg, int8_t *T,
                                              float *sp, float *sn);

/* What a layer's quantizer does at this step. */
typedef struct tern_quant_layer_stats {
    size_t n;                                /* weights */
    int groups;                              /* scale groups: 1 or O */
    double frac_zero, frac_pos, frac_neg;    /* fractions of T = 0, +1, -1 (sparsity = frac_zero) */
    float alpha_mean, alpha_min, alpha_max;  /* over groups: alpha (ttq: Wp) */
    float neg_mean, neg_min, neg_max;        /* ttq: Wn; other methods: as alpha */
} tern_quant_layer_stats;

/* The statistics of quantizing w under cfg, from the latent weights, without
 * a ctx or the tape and without allocating. alpha / alpha_neg are the learned
 * scales exactly as the op takes them (NULL for the closed form). */
TERN_API tern_status tern_quant_stats(const tern_tensor *w, const tern_tensor *alpha, const tern_tensor *alpha_neg,
                                      const tern_quant_cfg *cfg, tern_quant_layer_stats *st);

#ifdef __cplusplus
}
#endif

#endif
