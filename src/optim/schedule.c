/* schedule.c — learning rate as a function of the step: constant, step decay,
 * cosine with linear warm-up, one-cycle. Computed in double, returned as float. */
#include "tern/optim.h"

#include <math.h>
#include <string.h>

#define PI 3.14159265358979323846

static const char *const kind_names[TERN_SCHED_COUNT] = {
    [TERN_SCHED_CONSTANT] = "constant",
    [TERN_SCHED_STEP] = "step",
    [TERN_SCHED_COSINE] = "cosine",
    [TERN_SCHED_ONE_CYCLE] = "one_cycle",
};

const char *tern_sched_kind_name(tern_sched_kind kind) {
    if ((unsigned)kind >= TERN_SCHED_COUNT) return "unknown";
    return kind_names[kind];
}

tern_status tern_sched_kind_parse(const char *name, tern_sched_kind *kind) {
    int k;
    tern_status st = tern_name_parse(TERN_ERR_CONFIG, "schedule", kind_names, TERN_SCHED_COUNT, name, &k);
    if (!st) *kind = (tern_sched_kind)k;
    return st;
}

tern_status tern_sched_check(const tern_sched *s) {
    if (!s) return tern_error(TERN_ERR_ARG, "sched: schedule is NULL");
    if ((unsigned)s->kind >= TERN_SCHED_COUNT)
        return tern_error(TERN_ERR_CONFIG, "sched: unknown schedule kind %d", (int)s->kind);
    const char *name = kind_names[s->kind];
    /* Written so that NaN fails: !(x > 0) rather than x <= 0. */
    if (!(s->base_lr > 0.0f && s->base_lr < INFINITY))
        return tern_error(TERN_ERR_CONFIG, "sched %s: base_lr = %g must be finite and > 0", name, s->base_lr);
    if (s->kind != TERN_SCHED_COSINE && s->warmup_steps != 0)
        return tern_error(TERN_ERR_CONFIG, "sched %s: warmup_steps = %ld is only used by the cosine schedule", name,
                          s->warmup_steps);
    switch (s->kind) {
    case TERN_SCHED_CONSTANT: break;
    case TERN_SCHED_STEP:
        if (s->step_size < 1)
            return tern_error(TERN_ERR_CONFIG, "sched step: step_size = %ld must be >= 1", s->step_size);
        if (!(s->gamma > 0.0f && s->gamma < INFINITY))
            return tern_error(TERN_ERR_CONFIG, "sched step: gamma = %g must be finite and > 0", s->gamma);
        break;
    case TERN_SCHED_COSINE:
        if (s->warmup_steps < 0)
            return tern_error(TERN_ERR_CONFIG, "sched cosine: warmup_steps = %ld must be >= 0", s->warmup_steps);
        if (s->total_steps <= s->warmup_steps)
            return tern_error(TERN_ERR_CONFIG, "sched cosine: total_steps %ld must exceed warmup_steps %ld",
                              s->total_steps, s->warmup_steps);
        if (!(s->min_lr >= 0.0f && s->min_lr <= s->base_lr))
            return tern_error(TERN_ERR_CONFIG, "sched cosine: min_lr = %g must be in [0, base_lr = %g]", s->min_lr,
                              s->base_lr);
        break;
    case TERN_SCHED_ONE_CYCLE: {
        double rise = (double)s->pct_start * (double)s->total_steps;
        if (!(s->pct_start > 0.0f && s->pct_start < 1.0f))
            return tern_error(TERN_ERR_CONFIG, "sched one_cycle: pct_start = %g must be in (0, 1)", s->pct_start);
        if (!(rise > 1.0 && rise < (double)s->total_steps))
            return tern_error(TERN_ERR_CONFIG,
                              "sched one_cycle: pct_start %g of %ld steps leaves no room to rise and fall "
                              "(pct_start x total_steps must be in (1, total_steps))",
                              s->pct_start, s->total_steps);
        if (!(s->div_factor > 0.0f && s->div_factor < INFINITY))
            return tern_error(TERN_ERR_CONFIG, "sched one_cycle: div_factor = %g must be finite and > 0",
                              s->div_factor);
        if (!(s->final_div_factor > 0.0f && s->final_div_factor < INFINITY))
            return tern_error(TERN_ERR_CONFIG, "sched one_cycle: final_div_factor = %g must be finite and > 0",
                              s->final_div_factor);
        break;
    }
    default: break;
    }
    return TERN_OK;
}

tern_status tern_sched_init_constant(tern_sched *s, float base_lr) {
    if (!s) return tern_error(TERN_ERR_ARG, "sched: schedule is NULL");
    *s = (tern_sched){.kind = TERN_SCHED_CONSTANT, .base_lr = base_lr};
    return tern_sched_check(s);
}

tern_status tern_sched_init_step(tern_sched *s, float base_lr, long step_size, float gamma) {
    if (!s) return tern_error(TERN_ERR_ARG, "sched: schedule is NULL");
    *s = (tern_sched){.kind = TERN_SCHED_STEP, .base_lr = base_lr, .step_size = step_size, .gamma = gamma};
    return tern_sched_check(s);
}

tern_status tern_sched_init_cosine(tern_sched *s, float base_lr, float min_lr, long warmup_steps, long total_steps) {
    if (!s) return tern_error(TERN_ERR_ARG, "sched: schedule is NULL");
    *s = (tern_sched){.kind = TERN_SCHED_COSINE,
                      .base_lr = base_lr,
                      .min_lr = min_lr,
                      .warmup_steps = warmup_steps,
                      .total_steps = total_steps};
    return tern_sched_check(s);
}

tern_status tern_sched_init_one_cycle(tern_sched *s, float base_lr, long total_steps, float pct_start,
                                      float div_factor, float final_div_factor) {
    if (!s) return tern_error(TERN_ERR_ARG, "sched: schedule is NULL");
    *s = (tern_sched){.kind = TERN_SCHED_ONE_CYCLE,
                      .base_lr = base_lr,
                      .total_steps = total_steps,
                      .pct_start = pct_start,
                      .div_factor = div_factor,
                      .final_div_factor = final_div_factor};
    return tern_sched_check(s);
}

/* b + (a - b) (1 + cos(pi p)) / 2: from a at p = 0 to b at p = 1 (torch's _annealing_cos). */
static double cos_anneal(double a, double b, double p) { return b + (a - b) / 2.0 * (cos(PI * p) + 1.0); }

float tern_sched_lr(const tern_sched *s, long step) {
    /* The check is a handful of compares; it keeps an invalid schedule from
     * turning into a NaN lr deep inside a run. Its message stays recorded. */
    if (tern_sched_check(s) != TERN_OK) return 0.0f;
    if (step < 0) step = 0;
    double base = s->base_lr;
    switch (s->kind) {
    case TERN_SCHED_CONSTANT: return s->base_lr;
    case TERN_SCHED_STEP: return (float)(base * pow((double)s->gamma, (double)(step / s->step_size)));
    case TERN_SCHED_COSINE: {
        long W = s->warmup_steps, T = s->total_steps;
        /* Warm-up reaches base at step W-1, so no step runs at lr 0. */
        if (step < W) return (float)(base * (double)(step + 1) / (double)W);
        double p = (double)(step - W) / (double)(T - W);
        if (p > 1.0) p = 1.0;
        double lo = s->min_lr;
        return (float)(lo + (base - lo) * 0.5 * (1.0 + cos(PI * p)));
    }
    case TERN_SCHED_ONE_CYCLE: {
        /* torch's phase ends: (pct_start T - 1) and (T - 1), in float steps. */
        double lo = base / (double)s->div_factor, end = lo / (double)s->final_div_factor;
        double E = (double)s->pct_start * (double)s->total_steps - 1.0, last = (double)s->total_steps - 1.0;
        if ((double)step <= E) return (float)cos_anneal(lo, base, (double)step / E);
        double p = ((double)step - E) / (last - E);
        return (float)cos_anneal(base, end, p > 1.0 ? 1.0 : p);
    }
    default: return 0.0f;
    }
}
