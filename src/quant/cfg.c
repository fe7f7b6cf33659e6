/* cfg.c — quantizer settings: defaults, validation, and the name tables
 * that configs use. */
#include <math.h>
#include <string.h>

#include "quant_impl.h"

const char *const tern_quant_method_names[TERN_QUANT_METHOD_COUNT] = {
    [TERN_QUANT_TWN] = "twn",
    [TERN_QUANT_ABSMEAN] = "absmean",
    [TERN_QUANT_TTQ] = "ttq",
};

const char *const tern_quant_granularity_names[TERN_QUANT_GRANULARITY_COUNT] = {
    [TERN_QUANT_PER_TENSOR] = "per_tensor",
    [TERN_QUANT_PER_CHANNEL] = "per_channel",
};

const char *const tern_ste_names[TERN_STE_COUNT] = {
    [TERN_STE_IDENTITY] = "identity",
    [TERN_STE_CLIPPED] = "clipped",
};

tern_quant_cfg tern_quant_cfg_default(tern_quant_method method) {
    tern_quant_cfg cfg = {
        .method = method,
        .t = method == TERN_QUANT_TTQ ? 0.05f : 0.7f,  /* TTQ's t; TWN's 0.7 E|W| approximates its optimal threshold */
        .granularity = TERN_QUANT_PER_TENSOR,
        .ste = TERN_STE_IDENTITY,
        .clip = 1.0f,
        .learned_alpha = method == TERN_QUANT_TTQ,
        .act_bits = 0,
        .eps = 1e-5f,
    };
    return cfg;
}

tern_status tern_quant_cfg_check_as(const char *who, const tern_quant_cfg *cfg) {
    if (!cfg) return tern_error(TERN_ERR_ARG, "%s: settings are NULL", who);
    if ((unsigned)cfg->method >= TERN_QUANT_METHOD_COUNT)
        return tern_error(TERN_ERR_ARG, "%s: unknown method %d (twn, absmean, ttq)", who, (int)cfg->method);
    if ((unsigned)cfg->granularity >= TERN_QUANT_GRANULARITY_COUNT)
        return tern_error(TERN_ERR_ARG, "%s: unknown granularity %d (per_tensor, per_channel)", who,
                          (int)cfg->granularity);
    if ((unsigned)cfg->ste >= TERN_STE_COUNT)
        return tern_error(TERN_ERR_ARG, "%s: unknown ste %d (identity, clipped)", who, (int)cfg->ste);
    if (!(cfg->t >= 0.0f && isfinite(cfg->t)))
        return tern_error(TERN_ERR_ARG, "%s: threshold factor t = %g must be finite and >= 0", who, cfg->t);
    if (cfg->ste == TERN_STE_CLIPPED && !(cfg->clip > 0.0f))
        return tern_error(TERN_ERR_ARG, "%s: clipped ste needs a bound clip > 0, got %g", who, cfg->clip);
    if (!(cfg->eps >= 0.0f && isfinite(cfg->eps)))
        return tern_error(TERN_ERR_ARG, "%s: eps = %g must be finite and >= 0", who, cfg->eps);
    if (cfg->act_bits != 0 && cfg->act_bits != 8)
        return tern_error(TERN_ERR_ARG, "%s: act_bits = %d, must be 0 (off) or 8", who, cfg->act_bits);
    if (cfg->method == TERN_QUANT_TTQ && !cfg->learned_alpha)
        return tern_error(TERN_ERR_ARG, "%s: ttq's scales Wp and Wn are always learned; set learned_alpha", who);
    return TERN_OK;
}

tern_status tern_quant_cfg_check(const tern_quant_cfg *cfg) { return tern_quant_cfg_check_as("quant", cfg); }

tern_status tern_quant_method_parse(const char *name, tern_quant_method *out) {
    int i;
    tern_status st = tern_name_parse(TERN_ERR_ARG, "method", tern_quant_method_names, TERN_QUANT_METHOD_COUNT, name, &i);
    if (!st) *out = (tern_quant_method)i;
    return st;
}

tern_status tern_quant_granularity_parse(const char *name, tern_quant_granularity *out) {
    int i;
    tern_status st = tern_name_parse(TERN_ERR_ARG, "granularity", tern_quant_granularity_names,
                                     TERN_QUANT_GRANULARITY_COUNT, name, &i);
    if (!st) *out = (tern_quant_granularity)i;
    return st;
}

tern_status tern_ste_parse(const char *name, tern_ste *out) {
    int i;
    tern_status st = tern_name_parse(TERN_ERR_ARG, "ste", tern_ste_names, TERN_STE_COUNT, name, &i);
    if (!st) *out = (tern_ste)i;
    return st;
}

const char *tern_quant_method_name(tern_quant_method m) {
    return (unsigned)m < TERN_QUANT_METHOD_COUNT ? tern_quant_method_names[m] : "unknown";
}

const char *tern_quant_granularity_name(tern_quant_granularity g) {
    return (unsigned)g < TERN_QUANT_GRANULARITY_COUNT ? tern_quant_granularity_names[g] : "unknown";
}

const char *tern_ste_name(tern_ste s) { return (unsigned)s < TERN_STE_COUNT ? tern_ste_names[s] : "unknown"; }
