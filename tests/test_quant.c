/* test_quant.c — ternary quantizers (twn, absmean, ttq), their STE and scale
 * gradients, 8-bit activation fake-quant, statistics, and bad input.
 *
 * Expected values come from hand arithmetic (shown in comments), from a naive
 * reference quantizer written here from the spec, and from central finite
 * differences of the surrogate function each STE defines (T held fixed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gradcheck.h"
#include "tern.h"

/* ---- helpers -------------------------------------------------------------- */

static tern_tensor *mk(int ndim, const int *shape, int with_grad, const float *values) {
    tern_tensor *t = gc_tensor(ndim, shape, with_grad);
    if (values) memcpy(t->data, values, t->n * sizeof(float));
    return t;
}

static tern_tensor *mk1(int n, int with_grad, const float *values) { return mk(1, &n, with_grad, values); }

static void fill_normal(tern_tensor *t, tern_rng *r, float std) {
    for (size_t i = 0; i < t->n; i++) t->data[i] = std * tern_rng_normal(r);
}

static void expect_close(const float *got, const double *want, size_t n, double tol, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)got[i] - want[i]) <= tol * (1.0 + fabs(want[i])))) {
            print_error("%s[%zu]: got %.9g, want %.9g\n", what, i, (double)got[i], want[i]);
            fail();
        }
}

static void expect_msg(const char *part) {
    if (!strstr(tern_errmsg(), part)) {
        print_error("message \"%s\" lacks \"%s\"\n", tern_errmsg(), part);
        fail();
    }
}

static tern_ctx *ctx_new(void) {
    tern_ctx *c = malloc(sizeof *c);
    assert_int_equal(tern_ctx_init(c, 0), TERN_OK);
    return c;
}

static void ctx_del(tern_ctx *c) {
    tern_ctx_free(c);
    free(c);
}

/* A naive reference quantizer, written from the spec and independent of the
 * library's code paths: absmean divides and rounds half to even literally,
 * thresholds are in double. ap/an: learned scales, or NULL for the closed
 * form. Writes T (n), W_q (n) and the positive scale per group (G). */
static void ref_quant(const tern_tensor *w, const tern_quant_cfg *cfg, const float *ap, const float *an, int8_t *T,
                      double *wq, double *scale) {
    int G = cfg->granularity == TERN_QUANT_PER_CHANNEL ? w->shape[0] : 1;
    size_t K = w->n / (size_t)G;
    for (int g = 0; g < G; g++) {
        const float *x = w->data + (size_t)g * K;
        double sum = 0.0, mx = 0.0;
        for (size_t i = 0; i < K; i++) {
            sum += fabs(x[i]);
            if (fabs(x[i]) > mx) mx = fabs(x[i]);
        }
        double mean = sum / (double)K;
        int8_t *t = T + (size_t)g * K;
        double kept = 0.0;
        int nk = 0;
        for (size_t i = 0; i < K; i++) {
            if (cfg->method == TERN_QUANT_ABSMEAN) {
                double r = nearbyint((double)x[i] / (mean + cfg->eps));
                t[i] = (int8_t)(r > 1.0 ? 1 : (r < -1.0 ? -1 : (int)r));
            } else {
                double delta = cfg->method == TERN_QUANT_TWN ? cfg->t * mean : cfg->t * mx;
                t[i] = (int8_t)(x[i] > delta ? 1 : (x[i] < -delta ? -1 : 0));
            }
            if (t[i]) {
                kept += fabs(x[i]);
                nk++;
            }
        }
        double sp, sn;
        if (ap) {
            sp = ap[g];
            sn = an ? an[g] : ap[g];
        } else {
            sp = sn = cfg->method == TERN_QUANT_ABSMEAN ? mean : (nk ? kept / nk : 0.0);
        }
        scale[g] = sp;
        for (size_t i = 0; i < K; i++) wq[(size_t)g * K + i] = t[i] > 0 ? sp : (t[i] < 0 ? -sn : 0.0);
    }
}

/* Run the op once (recording), return W_q copied to a heap array. */
static float *run_quant(tern_tensor *w, tern_tensor *a, tern_tensor *an, const tern_quant_cfg *cfg) {
    tern_ctx *c = ctx_new();
    tern_tensor *y = tern_quant_ternary(c, w, a, an, cfg);
    if (!y) {
        print_error("quant_ternary failed: %s\n", tern_errmsg());
        ctx_del(c);
        fail();
    }
    float *out = malloc(w->n * sizeof(float));
    memcpy(out, y->data, w->n * sizeof(float));
    ctx_del(c);
    return out;
}

/* The hand example used by several tests: W (2,3). */
static const float W6[6] = {0.9f, -0.2f, 0.05f, -0.6f, 0.3f, -1.0f};
static const int S23[2] = {2, 3};

/* ---- forwards against hand arithmetic ------------------------------------ */

static void test_twn_hand(void **st) {
    (void)st;
    tern_tensor *w = mk(2, S23, 0, W6);
    tern_quant_cfg cfg = tern_quant_cfg_default(TERN_QUANT_TWN);

    /* Per tensor: mean|W| = (0.9+0.2+0.05+0.6+0.3+1.0)/6 = 3.05/6 = 0.508333,
     * delta = 0.7 * 0.508333 = 0.355833: kept 0.9 (+), -0.6 (-), -1.0 (-);
     * 0.3 < delta is dropped. T = [1,0,0,-1,0,-1], alpha = (0.9+0.6+1.0)/3. */
    double a = 2.5 / 3.0;
    double want_t[6] = {a, 0, 0, -a, 0, -a};
    float *y = run_quant(w, NULL, NULL, &cfg);
    expect_close(y, want_t, 6, 1e-6, "twn per tensor");
    free(y);

    /* Per channel on the same W:
     * row 0 [0.9,-0.2,0.05]: mean 1.15/3 = 0.383333, delta 0.268333 → T [1,0,0], alpha 0.9;
     * row 1 [-0.6,0.3,-1.0]: mean 1.9/3 = 0.633333, delta 0.443333 → T [-1,0,-1], alpha 0.8. */
    cfg.granularity = TERN_QUANT_PER_CHANNEL;
    double want_c[6] = {0.9, 0, 0, -0.8, 0, -0.8};
    y = run_quant(w, NULL, NULL, &cfg);
    expect_close(y, want_c, 6, 1e-6, "twn per channel");
    free(y);

    /* alpha_init gives the same closed forms, per channel and per tensor. */
    tern_tensor *al = mk1(2, 0, NULL);
    assert_int_equal(tern_quant_alpha_init(w, &cfg, al, NULL), TERN_OK);
    double want_al[2] = {0.9, 0.8};
    expect_close(al->data, want_al, 2, 1e-6, "twn alpha_init per channel");
    cfg.granularity = TERN_QUANT_PER_TENSOR;
    tern_tensor *a1 = mk1(1, 0, NULL);
    assert_int_equal(tern_quant_alpha_init(w, &cfg, a1, NULL), TERN_OK);
    expect_close(a1->data, &a, 1, 1e-6, "twn alpha_init per tensor");
    gc_free(al);
    gc_free(a1);
    gc_free(w);
}

static void test_absmean_hand(void **st) {
    (void)st;
    tern_tensor *w = mk(2, S23, 0, W6);
    tern_quant_cfg cfg = tern_quant_cfg_default(TERN_QUANT_ABSMEAN);

    /* gamma = 0.508333; W / (gamma + 1e-5) = [1.77, -0.39, 0.098, -1.18, 0.59, -1.97]
     * → round, clip: T = [1,0,0,-1,1,-1]; W_q = gamma T. */
    double g = 3.05 / 6.0;
    double want_t[6] = {g, 0, 0, -g, g, -g};
    float *y = run_quant(w, NULL, NULL, &cfg);
    expect_close(y, want_t, 6, 1e-6, "absmean per tensor");
    free(y);

    /* Per channel: row 0 gamma 0.383333: [2.35, -0.52, 0.13] → [1,-1,0];
     * row 1 gamma 0.633333: [-0.95, 0.47, -1.58] → [-1,0,-1]. */
    cfg.granularity = TERN_QUANT_PER_CHANNEL;
    double g0 = 1.15 / 3.0, g1 = 1.9 / 3.0;
    double want_c[6] = {g0, -g0, 0, -g1, 0, -g1};
    y = run_quant(w, NULL, NULL, &cfg);
    expect_close(y, want_c, 6, 1e-6, "absmean per channel");
    free(y);
    gc_free(w);

    /* Ties, eps = 0: W = [0.5,-0.5,1.5,-1.5], gamma = 1, W/gamma is exact.
     * round-half-even: 0.5 → 0, -0.5 → -0, 1.5 → 2 → clip 1, -1.5 → -2 → -1. */
    const float wt[4] = {0.5f, -0.5f, 1.5f, -1.5f};
    int s4 = 4;
    tern_tensor *w4 = mk(1, &s4, 0, wt);
    cfg = tern_quant_cfg_default(TERN_QUANT_ABSMEAN);
    cfg.eps = 0.0f;
    double want_tie[4] = {0, 0, 1, -1};
    y = run_quant(w4, NULL, NULL, &cfg);
    expect_close(y, want_tie, 4, 1e-7, "absmean ties");
    free(y);

    /* eps matters: W = [1,-0.6,0.2,0.3], gamma = 2.1/4 = 0.525, eps = 0.5:
     * W / 1.025 = [0.976, -0.585, 0.195, 0.293] → T = [1,-1,0,0] (without
     * eps 0.3/0.525 = 0.571 would round to 1); W_q = gamma T. */
    const float we[4] = {1.0f, -0.6f, 0.2f, 0.3f};
    memcpy(w4->data, we, sizeof we);
    cfg.eps = 0.5f;
    double want_eps[4] = {0.525, -0.525, 0, 0};
    y = run_quant(w4, NULL, NULL, &cfg);
    expect_close(y, want_eps, 4, 1e-6, "absmean eps");
    free(y);
    gc_free(w4);
}

static void test_ttq_hand(void **st) {
    (void)st;
    tern_tensor *w = mk(2, S23, 0, W6);
    tern_quant_cfg cfg = tern_quant_cfg_default(TERN_QUANT_TTQ);
    const float two = 2.0f, three = 3.0f;
    tern_tensor *wp = mk1(1, 0, &two), *wn = mk1(1, 0, &three);

    /* Default t = 0.05: delta = 0.05 max|W| = 0.05; 0.05 is not > 0.05.
     * T = [1,-1,0,-1,1,-1] → W_q = [2,-3,0,-3,2,-3]. */
    double want_d[6] = {2, -3, 0, -3, 2, -3};
    float *y = run_quant(w, wp, wn, &cfg);
    expect_close(y, want_d, 6, 1e-7, "ttq t=0.05");
    free(y);

    /* t = 0.25: delta = 0.25 → T = [1,0,0,-1,1,-1] → [2,0,0,-3,2,-3]. */
    cfg.t = 0.25f;
    double want_q[6] = {2, 0, 0, -3, 2, -3};
    y = run_quant(w, wp, wn, &cfg);
    expect_close(y, want_q, 6, 1e-7, "ttq t=0.25");
    free(y);

    /* alpha_init: Wp = mean(0.9, 0.3) = 0.6, Wn = mean(0.6, 1.0) = 0.8. */
    assert_int_equal(tern_quant_alpha_init(w, &cfg, wp, wn), TERN_OK);
    assert_float_equal(wp->data[0], 0.6f, 1e-6f);
    assert_float_equal(wn->data[0], 0.8f, 1e-6f);

    /* Per channel, t = 0.25: row 0 delta 0.225 → T [1,0,0]: Wp 0.9, no
     * negatives so Wn takes Wp's 0.9; row 1 delta 0.25 → T [-1,1,-1]:
     * Wp 0.3, Wn (0.6+1.0)/2 = 0.8. */
    cfg.granularity = TERN_QUANT_PER_CHANNEL;
    tern_tensor *wp2 = mk1(2, 0, NULL), *wn2 = mk1(2, 0, NULL);
    assert_int_equal(tern_quant_alpha_init(w, &cfg, wp2, wn2), TERN_OK);
    double want_p[2] = {0.9, 0.3}, want_n[2] = {0.9, 0.8};
    expect_close(wp2->data, want_p, 2, 1e-6, "ttq Wp init per channel");
    expect_close(wn2->data, want_n, 2, 1e-6, "ttq Wn init per channel");
    /* ... and the forward with those scales: [0.9,0,0,-0.8,0.3,-0.8]. */
    double want_c[6] = {0.9, 0, 0, -0.8, 0.3, -0.8};
    y = run_quant(w, wp2, wn2, &cfg);
    expect_close(y, want_c, 6, 1e-6, "ttq per channel");
    free(y);
    gc_free(wp);
    gc_free(wn);
    gc_free(wp2);
    gc_free(wn2);
    gc_free(w);
}

/* ---- forwards against the reference on random weights -------------------- */

static void test_forward_matches_reference(void **st) {
    (void)st;
    /* A conv weight, a linear weight with odd sizes, a single output row,
     * and a vector. */
    const int shapes[4][4] = {{7, 3, 3, 3}, {5, 11, 0, 0}, {1, 13, 0, 0}, {9, 0, 0, 0}};
    const int ndims[4] = {4, 2, 2, 1};
    tern_rng r;
    tern_rng_seed(&r, 42);
    for (int s = 0; s < 4; s++)
        for (int m = 0; m < TERN_QUANT_METHOD_COUNT; m++)
            for (int gr = 0; gr < TERN_QUANT_GRANULARITY_COUNT; gr++)
                for (int learned = 0; learned < 2; learned++) {
                    if (m == TERN_QUANT_TTQ && !learned) continue;
                    tern_tensor *w = mk(ndims[s], shapes[s], 0, NULL);
                    fill_normal(w, &r, 0.1f);
                    tern_quant_cfg cfg = tern_quant_cfg_default((tern_quant_method)m);
                    cfg.granularity = (tern_quant_granularity)gr;
                    cfg.learned_alpha = learned;
                    if (m == TERN_QUANT_TTQ) cfg.t = 0.3f; /* 0.05 zeroes almost nothing in 11 weights */
                    int G = tern_quant_groups(w, &cfg);
                    assert_int_equal(G, gr ? shapes[s][0] : 1);
                    tern_tensor *a = learned ? mk1(G, 0, NULL) : NULL;
                    tern_tensor *an = m == TERN_QUANT_TTQ ? mk1(G, 0, NULL) : NULL;
                    for (int g = 0; g < G && a; g++) a->data[g] = 0.5f + 0.1f * (float)g;
                    for (int g = 0; g < G && an; g++) an->data[g] = 0.7f + 0.05f * (float)g;

                    int8_t *T = malloc(w->n);
                    double *wq = malloc(w->n * sizeof(double)), *sc = malloc((size_t)G * sizeof(double));
                    ref_quant(w, &cfg, a ? a->data : NULL, an ? an->data : NULL, T, wq, sc);
                    float *y = run_quant(w, a, an, &cfg);
                    size_t zeros = 0;
                    for (size_t i = 0; i < w->n; i++) zeros += T[i] == 0;
                    /* Not degenerate: some zeros, some kept; except that a
                     * group of one weight always keeps it (|w| > t|w|). */
                    if (w->n / (size_t)G == 1)
                        assert_int_equal(zeros, 0);
                    else if (!(zeros > 0 && zeros < w->n))
                        fail_msg("%s %s shape %d: %zu of %zu zeros", tern_quant_method_name(cfg.method),
                                 tern_quant_granularity_name(cfg.granularity), s, zeros, w->n);
                    expect_close(y, wq, w->n, 1e-6, "forward vs reference");

                    /* The closed forms from alpha_init equal the reference's. */
                    if (!learned) {
                        tern_tensor *ai = mk1(G, 0, NULL);
                        assert_int_equal(tern_quant_alpha_init(w, &cfg, ai, NULL), TERN_OK);
                        expect_close(ai->data, sc, (size_t)G, 1e-6, "alpha_init vs reference");
                        gc_free(ai);
                    }
                    free(y);
                    free(T);
                    free(wq);
                    free(sc);
                    gc_free(a);
                    gc_free(an);
                    gc_free(w);
                }
}

/* ---- gradients: the op's backward against finite differences of the
 *      surrogate each STE defines -------------------------------------------
 *
 * With T0 the codes at W0, and f_i the STE's slope at W0 (1; ttq Wp0 | 1 |
 * Wn0 by T0; times 0 past the clip), the surrogate is
 *     S_i(W, alpha, Wn) = scale(T0_i) + f_i (W_i - W0_i),
 *     scale = alpha_g T0_i                (twn, absmean; alpha fixed at the
 *                                          closed form when not learned)
 *           = Wp_g [T0=1] - Wn_g [T0=-1]  (ttq),
 * and L = sum_i R_i S_i. Its central differences are what the op's backward
 * must return for dL/dW, dL/dalpha, dL/dWn. */

typedef struct {
    const tern_quant_cfg *cfg;
    size_t n, K;
    const float *W0, *R;
    const int8_t *T0;
    const double *closed;  /* (G) closed-form scale at W0, when not learned */
    const float *ap0, *an0;  /* (G) learned scales at the base point */
    const float *W, *ap, *an;  /* the point being evaluated */
} surrogate;

static double surrogate_loss(const surrogate *s) {
    double L = 0.0;
    int ttq = s->cfg->method == TERN_QUANT_TTQ;
    for (size_t i = 0; i < s->n; i++) {
        size_t g = i / s->K;
        int t = s->T0[i];
        double f = 1.0;
        if (ttq) f = t > 0 ? s->ap0[g] : (t < 0 ? s->an0[g] : 1.0);
        if (s->cfg->ste == TERN_STE_CLIPPED && fabs(s->W0[i]) > s->cfg->clip) f = 0.0;
        double scale;
        if (ttq)
            scale = t > 0 ? s->ap[g] : (t < 0 ? -(double)s->an[g] : 0.0);
        else
            scale = (s->ap ? (double)s->ap[g] : s->closed[g]) * t;
        L += (double)s->R[i] * (scale + f * ((double)s->W[i] - (double)s->W0[i]));
    }
    return L;
}

/* Central difference of the surrogate in coordinate p. */
static double surrogate_fd(surrogate *s, float *p) {
    const double h = 1e-2;
    float o = *p;
    *p = (float)(o + h);
    double Lp = surrogate_loss(s);
    double hp = (double)*p - o;
    *p = (float)(o - h);
    double Lm = surrogate_loss(s);
    double hm = o - (double)*p;
    *p = o;
    return (Lp - Lm) / (hp + hm);
}

static void expect_grad(double analytic, double numeric, const char *what, size_t i) {
    if (!(fabs(analytic - numeric) <= 1e-4 + 1e-4 * fabs(numeric))) {
        print_error("%s[%zu]: backward %.7g, surrogate FD %.7g\n", what, i, analytic, numeric);
        fail();
    }
}

/* Check all gradients of one configuration on a random W of this shape;
 * returns how many weights the clipped STE cut off. */
static size_t check_ste(const tern_quant_cfg *cfg, int ndim, const int *shape, float std, uint64_t seed) {
    tern_rng r;
    tern_rng_seed(&r, seed);
    tern_tensor *w = mk(ndim, shape, 1, NULL);
    fill_normal(w, &r, std);
    int G = tern_quant_groups(w, cfg);
    size_t n = w->n, K = n / (size_t)G;
    int ttq = cfg->method == TERN_QUANT_TTQ;
    tern_tensor *a = cfg->learned_alpha ? mk1(G, 1, NULL) : NULL;
    tern_tensor *an = ttq ? mk1(G, 1, NULL) : NULL;
    for (int g = 0; g < G && a; g++) a->data[g] = 0.3f + 0.07f * (float)g;
    for (int g = 0; g < G && an; g++) an->data[g] = 0.45f - 0.03f * (float)g;

    /* The op's backward for L = sum R W_q. */
    float *R = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) R[i] = 2.0f * tern_rng_uniform(&r) - 1.0f;
    tern_ctx *c = ctx_new();
    tern_tensor *y = tern_quant_ternary(c, w, a, an, cfg);
    assert_non_null(y);
    assert_non_null(y->grad);
    assert_int_equal(tern_backward_seeded(c, y, R), TERN_OK);

    /* The surrogate at W0, from the reference quantizer. */
    int8_t *T0 = malloc(n);
    double *wq = malloc(n * sizeof(double)), *closed = malloc((size_t)G * sizeof(double));
    ref_quant(w, cfg, a ? a->data : NULL, an ? an->data : NULL, T0, wq, closed);
    float *W0 = malloc(n * sizeof(float));
    memcpy(W0, w->data, n * sizeof(float));
    float *ap0 = a ? malloc((size_t)G * sizeof(float)) : NULL, *an0 = an ? malloc((size_t)G * sizeof(float)) : NULL;
    if (a) memcpy(ap0, a->data, (size_t)G * sizeof(float));
    if (an) memcpy(an0, an->data, (size_t)G * sizeof(float));
    surrogate s = {.cfg = cfg, .n = n, .K = K, .W0 = W0, .R = R, .T0 = T0, .closed = closed,
                   .ap0 = ap0, .an0 = an0, .W = w->data, .ap = a ? a->data : NULL, .an = an ? an->data : NULL};

    size_t cut = 0;
    for (size_t i = 0; i < n; i++) {
        expect_grad(w->grad[i], surrogate_fd(&s, &w->data[i]), "dL/dW", i);
        if (cfg->ste == TERN_STE_CLIPPED && fabsf(W0[i]) > cfg->clip) {
            assert_true(w->grad[i] == 0.0f);
            cut++;
        }
    }
    for (int g = 0; g < G && a; g++) expect_grad(a->grad[g], surrogate_fd(&s, &a->data[g]), "dL/dalpha", (size_t)g);
    for (int g = 0; g < G && an; g++) expect_grad(an->grad[g], surrogate_fd(&s, &an->data[g]), "dL/dWn", (size_t)g);

    ctx_del(c);
    free(R);
    free(T0);
    free(wq);
    free(closed);
    free(W0);
    free(ap0);
    free(an0);
    gc_free(a);
    gc_free(an);
    gc_free(w);
    return cut;
}

static void test_ste_identity_grads(void **st) {
    (void)st;
    const int conv[4] = {5, 3, 3, 3}, lin[2] = {7, 9}, row[2] = {1, 11};
    for (int m = 0; m < 2; m++) /* twn, absmean */
        for (int gr = 0; gr < 2; gr++)
            for (int learned = 0; learned < 2; learned++) {
                tern_quant_cfg cfg = tern_quant_cfg_default((tern_quant_method)m);
                cfg.granularity = (tern_quant_granularity)gr;
                cfg.learned_alpha = learned;
                check_ste(&cfg, 4, conv, 0.2f, 1 + (uint64_t)m);
                check_ste(&cfg, 2, lin, 0.2f, 3 + (uint64_t)m);
                check_ste(&cfg, 2, row, 0.2f, 5 + (uint64_t)m);
            }
}

static void test_ttq_grads(void **st) {
    (void)st;
    /* Wp0 != Wn0 != 1, so swapped or missing STE factors and a missing sign
     * on dL/dWn all show up. */
    const int conv[4] = {4, 3, 3, 3}, lin[2] = {3, 17};
    for (int gr = 0; gr < 2; gr++) {
        tern_quant_cfg cfg = tern_quant_cfg_default(TERN_QUANT_TTQ);
        cfg.granularity = (tern_quant_granularity)gr;
        check_ste(&cfg, 4, conv, 0.5f, 11);
        cfg.t = 0.3f;
        check_ste(&cfg, 2, lin, 0.5f, 12);
    }
}

static void test_clipped_ste(void **st) {
    (void)st;
    /* Weights of std 1 against a bound of 1: about a third lie outside. */
    const int lin[2] = {6, 13};
    for (int m = 0; m < TERN_QUANT_METHOD_COUNT; m++) {
        tern_quant_cfg cfg = tern_quant_cfg_default((tern_quant_method)m);
        cfg.ste = TERN_STE_CLIPPED;
        cfg.clip = 1.0f;
        cfg.granularity = TERN_QUANT_PER_CHANNEL;
        size_t cut = check_ste(&cfg, 2, lin, 1.0f, 21 + (uint64_t)m);
        assert_true(cut > 5);
        cfg.clip = 0.5f;
        assert_true(check_ste(&cfg, 2, lin, 1.0f, 31 + (uint64_t)m) > cut);
    }
}

/* The op is linear in its scales (T does not depend on them), so plain finite
 * differences through the op itself must match the scale gradients. */
static tern_tensor *fwd_scales(tern_ctx *c, tern_tensor **in, void *arg) {
    return tern_quant_ternary(c, in[0], in[1], in[2], arg);
}

static void test_scale_grads_gradcheck(void **st) {
    (void)st;
    const int conv[4] = {3, 2, 3, 3};
    tern_rng r;
    tern_rng_seed(&r, 5);
    for (int m = 0; m < TERN_QUANT_METHOD_COUNT; m++)
        for (int gr = 0; gr < 2; gr++) {
            tern_quant_cfg cfg = tern_quant_cfg_default((tern_quant_method)m);
            cfg.granularity = (tern_quant_granularity)gr;
            cfg.learned_alpha = 1;
            tern_tensor *w = mk(4, conv, 0, NULL); /* no grad: only the scales are checked */
            fill_normal(w, &r, 0.3f);
            int G = tern_quant_groups(w, &cfg);
            tern_tensor *a = mk1(G, 1, NULL), *an = m == TERN_QUANT_TTQ ? mk1(G, 1, NULL) : NULL;
            gc_fill(a, &r, 0.2f, 1.0f);
            if (an) gc_fill(an, &r, 0.2f, 1.0f);
            tern_tensor *in[3] = {w, a, an};
            gc_opts o = gc_default_opts();
            o.max_per_input = 0;
            assert_int_equal(gradcheck(fwd_scales, in, 3, &cfg, o), 0);
            gc_free(w);
            gc_free(a);
            gc_free(an);
        }
}

static void test_backward_accumulates(void **st) {
    (void)st;
    /* twn, learned per tensor, on the hand W: T = [1,0,0,-1,0,-1];
     * seed dL/dW_q = [1,2,3,4,5,6]: dL/dW = seed, dL/dalpha = 1 - 4 - 6 = -9;
     * on top of grads pre-filled with 0.5. */
    tern_tensor *w = mk(2, S23, 1, W6);
    const float one = 1.0f;
    tern_tensor *a = mk1(1, 1, &one);
    for (int i = 0; i < 6; i++) w->grad[i] = 0.5f;
    a->grad[0] = 0.5f;
    tern_quant_cfg cfg = tern_quant_cfg_default(TERN_QUANT_TWN);
    cfg.learned_alpha = 1;
    tern_ctx *c = ctx_new();
    tern_tensor *y = tern_quant_ternary(c, w, a, NULL, &cfg);
    assert_non_null(y);
    const float seed[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(tern_backward_seeded(c, y, seed), TERN_OK);
    double want[6] = {1.5, 2.5, 3.5, 4.5, 5.5, 6.5};
    expect_close(w->grad, want, 6, 1e-7, "accumulated dW");
    assert_float_equal(a->grad[0], -8.5f, 1e-6f);
    ctx_del(c);
    gc_free(w);
    gc_free(a);
}

static void test_eval_mode_no_tape(void **st) {
    (void)st;
    tern_tensor *w = mk(2, S23, 1, W6);
    tern_quant_cfg cfg = tern_quant_cfg_default(TERN_QUANT_TWN);
    tern_ctx *c = ctx_new();
    tern_ctx_mode(c, 0, 0);
    tern_tensor *y = tern_quant_ternary(c, w, NULL, NULL, &cfg);
    assert_non_null(y);
    assert_null(y->grad);
    assert_int_equal(c->n_nodes, 0);
    assert_float_equal(y->data[0], 2.5f / 3.0f, 1e-6f);
    /* And with grad: exactly one node. */
    tern_ctx_reset(c);
    tern_ctx_mode(c, 1, 1);
    y = tern_quant_ternary(c, w, NULL, NULL, &cfg);
    assert_non_null(y);
    assert_int_equal(c->n_nodes, 1);
    ctx_del(c);
    gc_free(w);
}

/* The export entry point: codes and scales that rebuild the op's W_q bit for
 * bit, for every method and granularity (odd shape, 7 rows of 13). */
static void test_codes_match_op(void **st) {
    (void)st;
    tern_rng r;
    tern_rng_seed(&r, 77);
    int shape[2] = {7, 13};
    for (int m = 0; m < TERN_QUANT_METHOD_COUNT; m++)
        for (int g = 0; g < TERN_QUANT_GRANULARITY_COUNT; g++) {
            tern_quant_cfg cfg = tern_quant_cfg_default((tern_quant_method)m);
            cfg.granularity = (tern_quant_granularity)g;
            tern_tensor *w = mk(2, shape, 0, NULL);
            fill_normal(w, &r, 0.3f);
            int G = tern_quant_groups(w, &cfg);
            tern_tensor *a = cfg.learned_alpha ? mk1(G, 0, NULL) : NULL, *an = m == TERN_QUANT_TTQ ? mk1(G, 0, NULL) : NULL;
            if (a) fill_normal(a, &r, 1.0f);
            if (an) fill_normal(an, &r, 1.0f);
            tern_ctx *c = ctx_new();
            tern_ctx_mode(c, 0, 0);
            tern_tensor *y = tern_quant_ternary(c, w, a, an, &cfg);
            assert_non_null(y);
            int8_t T[91];
            float sp[7], sn[7];
            assert_int_equal(tern_quant_ternary_codes(w, a, an, &cfg, T, sp, sn), TERN_OK);
            for (int i = 0; i < 91; i++) {
                int k = G == 1 ? 0 : i / 13;
                float want = T[i] > 0 ? sp[k] : (T[i] < 0 ? -sn[k] : 0.0f);
                assert_true(T[i] >= -1 && T[i] <= 1);
                assert_memory_equal(&y->data[i], &want, sizeof want);
            }
            assert_int_equal(tern_quant_ternary_codes(w, a, an, &cfg, NULL, sp, sn), TERN_ERR_ARG);
            ctx_del(c);
            if (an) gc_free(an);
            if (a) gc_free(a);
            gc_free(w);
        }
}

/* ---- zero weights, statistics --------------------------------------------- */

static void test_zero_weights(void **st) {
    (void)st;
    const int shape[2] = {3, 4};
    for (int m = 0; m < TERN_QUANT_METHOD_COUNT; m++)
        for (int gr = 0; gr < 2; gr++) {
            tern_tensor *w = mk(2, shape, 1, NULL); /* zeros */
            tern_quant_cfg cfg = tern_quant_cfg_default((tern_quant_method)m);
            cfg.granularity = (tern_quant_granularity)gr;
            int G = tern_quant_groups(w, &cfg);
            tern_tensor *a = mk1(G, 0, NULL), *an = m == TERN_QUANT_TTQ ? mk1(G, 0, NULL) : NULL;
            for (int g = 0; g < G; g++) a->data[g] = NAN;
            if (an)
                for (int g = 0; g < G; g++) an->data[g] = NAN;
            /* Closed forms of a zero tensor: 0, not NaN. */
            assert_int_equal(tern_quant_alpha_init(w, &cfg, a, an), TERN_OK);
            for (int g = 0; g < G; g++) assert_true(a->data[g] == 0.0f && (!an || an->data[g] == 0.0f));
            /* The forward: all zeros, finite; the backward still passes g through. */
            tern_ctx *c = ctx_new();
            tern_tensor *y = tern_quant_ternary(c, w, cfg.learned_alpha ? a : NULL, an, &cfg);
            assert_non_null(y);
            for (size_t i = 0; i < y->n; i++) assert_true(y->data[i] == 0.0f);
            float seed[12];
            for (int i = 0; i < 12; i++) seed[i] = 1.0f;
            assert_int_equal(tern_backward_seeded(c, y, seed), TERN_OK);
            for (size_t i = 0; i < w->n; i++) assert_true(isfinite(w->grad[i]));
            tern_quant_layer_stats s;
            assert_int_equal(tern_quant_stats(w, cfg.learned_alpha ? a : NULL, an, &cfg, &s), TERN_OK);
            assert_true(s.frac_zero == 1.0 && s.frac_pos == 0.0 && s.frac_neg == 0.0);
            assert_true(s.alpha_mean == 0.0f && isfinite(s.neg_mean));
            ctx_del(c);
            gc_free(w);
            gc_free(a);
            gc_free(an);
        }
}

static void test_stats(void **st) {
    (void)st;
    tern_tensor *w = mk(2, S23, 0, W6);
    tern_quant_cfg cfg = tern_quant_cfg_default(TERN_QUANT_TWN);
    tern_quant_layer_stats s;
    /* Per tensor (test_twn_hand): T = [1,0,0,-1,0,-1], alpha 2.5/3. */
    assert_int_equal(tern_quant_stats(w, NULL, NULL, &cfg, &s), TERN_OK);
    assert_int_equal((int)s.n, 6);
    assert_int_equal(s.groups, 1);
    assert_float_equal(s.frac_zero, 3.0 / 6, 1e-12);
    assert_float_equal(s.frac_pos, 1.0 / 6, 1e-12);
    assert_float_equal(s.frac_neg, 2.0 / 6, 1e-12);
    assert_float_equal(s.alpha_mean, 2.5f / 3.0f, 1e-6f);
    assert_float_equal(s.alpha_min, s.alpha_max, 0.0f);

    /* Per channel: alphas 0.9 and 0.8; T = [1,0,0,-1,0,-1] again. */
    cfg.granularity = TERN_QUANT_PER_CHANNEL;
    assert_int_equal(tern_quant_stats(w, NULL, NULL, &cfg, &s), TERN_OK);
    assert_int_equal(s.groups, 2);
    assert_float_equal(s.alpha_min, 0.8f, 1e-6f);
    assert_float_equal(s.alpha_max, 0.9f, 1e-6f);
    assert_float_equal(s.alpha_mean, 0.85f, 1e-6f);

    /* ttq, learned Wp = [1,3], Wn = [2,6], t = 0.25 per channel:
     * T = [1,0,0,-1,1,-1] (test_ttq_hand) → zero 2/6, pos 2/6, neg 2/6. */
    cfg = tern_quant_cfg_default(TERN_QUANT_TTQ);
    cfg.t = 0.25f;
    cfg.granularity = TERN_QUANT_PER_CHANNEL;
    const float p[2] = {1, 3}, q[2] = {2, 6};
    tern_tensor *wp = mk1(2, 0, p), *wn = mk1(2, 0, q);
    assert_int_equal(tern_quant_stats(w, wp, wn, &cfg, &s), TERN_OK);
    assert_float_equal(s.frac_zero, 2.0 / 6, 1e-12);
    assert_float_equal(s.frac_pos, 2.0 / 6, 1e-12);
    assert_float_equal(s.frac_neg, 2.0 / 6, 1e-12);
    assert_float_equal(s.alpha_mean, 2.0f, 1e-6f);
    assert_float_equal(s.neg_min, 2.0f, 0.0f);
    assert_float_equal(s.neg_max, 6.0f, 0.0f);
    gc_free(wp);
    gc_free(wn);
    gc_free(w);

    /* On random weights the statistics count what the forward emits. */
    const int conv[4] = {8, 5, 3, 3};
    tern_rng r;
    tern_rng_seed(&r, 9);
    for (int m = 0; m < 2; m++) {
        tern_tensor *wr = mk(4, conv, 0, NULL);
        fill_normal(wr, &r, 0.1f);
        cfg = tern_quant_cfg_default((tern_quant_method)m);
        cfg.granularity = TERN_QUANT_PER_CHANNEL;
        float *y = run_quant(wr, NULL, NULL, &cfg);
        size_t z = 0, pos = 0;
        for (size_t i = 0; i < wr->n; i++) {
            z += y[i] == 0.0f;
            pos += y[i] > 0.0f;
        }
        assert_int_equal(tern_quant_stats(wr, NULL, NULL, &cfg, &s), TERN_OK);
        assert_float_equal(s.frac_zero, (double)z / (double)wr->n, 1e-12);
        assert_float_equal(s.frac_pos, (double)pos / (double)wr->n, 1e-12);
        assert_float_equal(s.frac_zero + s.frac_pos + s.frac_neg, 1.0, 1e-12);
        free(y);
        gc_free(wr);
    }
}

/* ---- activation fake-quant ------------------------------------------------ */

static void test_act_hand(void **st) {
    (void)st;
    /* Row 0: max 1, s = 127: [63.5, -127, 31.75, 12.7] → round half even
     *        [64, -127, 32, 13] → y = q / 127.
     * Row 1: max 127, s = 1: [127, 62.5, -0.5, 3.5] → [127, 62, -0, 4].
     * Row 2: zeros → zeros. */
    const float xv[12] = {0.5f, -1.0f, 0.25f, 0.1f, 127.0f, 62.5f, -0.5f, 3.5f, 0, 0, 0, 0};
    const int shape[2] = {3, 4};
    tern_tensor *x = mk(2, shape, 1, xv);
    tern_ctx *c = ctx_new();
    tern_tensor *y = tern_quant_act(c, x, 8);
    assert_non_null(y);
    double want[12] = {64 / 127.0, -1, 32 / 127.0, 13 / 127.0, 127, 62, 0, 4, 0, 0, 0, 0};
    expect_close(y->data, want, 12, 1e-6, "act fake-quant");

    /* Identity STE: dL/dx = dL/dy, accumulated onto what x->grad held. */
    float seed[12];
    for (int i = 0; i < 12; i++) {
        seed[i] = (float)i - 5.5f;
        x->grad[i] = 1.0f;
    }
    assert_int_equal(tern_backward_seeded(c, y, seed), TERN_OK);
    for (int i = 0; i < 12; i++) assert_float_equal(x->grad[i], seed[i] + 1.0f, 0.0f);

    /* bits = 0 is the identity, without a node. */
    int nodes = c->n_nodes;
    assert_ptr_equal(tern_quant_act(c, x, 0), x);
    assert_int_equal(c->n_nodes, nodes);
    ctx_del(c);
    gc_free(x);
}

static void test_act_random_and_tiny(void **st) {
    (void)st;
    /* Batch 1 and odd (N,C,H,W): every y is a multiple of m/127 within half
     * a step of x, the per-sample max maps to itself, rows are independent. */
    const int shapes[2][4] = {{1, 3, 5, 7}, {3, 2, 3, 1}};
    tern_rng r;
    tern_rng_seed(&r, 77);
    for (int s = 0; s < 2; s++) {
        tern_tensor *x = mk(4, shapes[s], 0, NULL);
        fill_normal(x, &r, 2.0f);
        for (size_t i = 0; i < x->n; i += 5) x->data[i] *= 30.0f; /* a wide range within a row */
        tern_ctx *c = ctx_new();
        tern_tensor *y = tern_quant_act(c, x, 8);
        assert_non_null(y);
        size_t D = x->n / (size_t)x->shape[0];
        for (int n = 0; n < x->shape[0]; n++) {
            double m = 0.0;
            for (size_t i = 0; i < D; i++) m = fmax(m, fabs(x->data[n * D + i]));
            double step = m / 127.0;
            for (size_t i = 0; i < D; i++) {
                double xi = x->data[n * D + i], yi = y->data[n * D + i];
                double q = yi / step;
                assert_true(fabs(q - nearbyint(q)) < 1e-3);
                assert_true(fabs(yi - xi) <= 0.5 * step * (1 + 1e-5));
                if (fabs(xi) == m) assert_true(fabs(yi - xi) <= 1e-6 * m);
            }
        }
        ctx_del(c);
        gc_free(x);
    }

    /* Tiny maxima. Below TERN_KQ_AMAX_MIN = 127 FLT_MIN, 127 / max is not
     * finite: the row is 0, exactly as the int8 kernels quantize it. Just
     * above it, the row quantizes normally, within half a step. */
    const float tv[2][3] = {{1e-37f, -5e-38f, 0.0f}, {4e-36f, -1e-36f, 0.0f}};
    const int row[2] = {1, 3};
    for (int k = 0; k < 2; k++) {
        tern_tensor *x = mk(2, row, 0, tv[k]);
        tern_ctx *c = ctx_new();
        tern_tensor *y = tern_quant_act(c, x, 8);
        assert_non_null(y);
        for (int i = 0; i < 3; i++) {
            assert_true(isfinite(y->data[i]));
            if (k == 0) assert_true(y->data[i] == 0.0f);
            else assert_true(fabs((double)y->data[i] - tv[k][i]) <= 0.5 * 4e-36 / 127 * 1.0001);
        }
        assert_true(k == 0 || y->data[0] == tv[1][0]); /* the max maps to q = 127 exactly */
        ctx_del(c);
        gc_free(x);
    }
}

/* ---- bad input ------------------------------------------------------------ */

/* Run the op with these arguments; it must fail with `code` and a message
 * naming the op and containing `part`; the ctx stays failed. */
static void expect_op_fail(tern_tensor *w, tern_tensor *a, tern_tensor *an, const tern_quant_cfg *cfg,
                           tern_status code, const char *part) {
    tern_ctx *c = ctx_new();
    tern_error_clear();
    tern_tensor *y = tern_quant_ternary(c, w, a, an, cfg);
    assert_null(y);
    assert_int_equal(c->status, code);
    expect_msg("quant_ternary: ");
    expect_msg(part);
    /* Sticky: later ops return NULL, backward reports the status. */
    assert_null(tern_quant_act(c, w, 8));
    assert_int_equal(tern_backward(c, w), code);
    ctx_del(c);
}

static void test_bad_args(void **st) {
    (void)st;
    const int shape[2] = {4, 5};
    tern_tensor *w = mk(2, shape, 1, NULL);
    tern_rng r;
    tern_rng_seed(&r, 3);
    fill_normal(w, &r, 1.0f);
    tern_tensor *a1 = mk1(1, 1, NULL), *a2 = mk1(2, 1, NULL), *a3 = mk1(3, 1, NULL), *a4 = mk1(4, 1, NULL);
    const int s41[2] = {4, 1};
    tern_tensor *a41 = mk(2, s41, 1, NULL);
    tern_init_const(a1, 1.0f);
    tern_init_const(a4, 1.0f);

    tern_quant_cfg cfg = tern_quant_cfg_default(TERN_QUANT_TWN);
    cfg.learned_alpha = 1;
    expect_op_fail(w, a2, NULL, &cfg, TERN_ERR_SHAPE, "alpha (2) must be (1)");
    cfg.granularity = TERN_QUANT_PER_CHANNEL;
    expect_op_fail(w, a3, NULL, &cfg, TERN_ERR_SHAPE, "alpha (3) must be (4)");
    expect_op_fail(w, a41, NULL, &cfg, TERN_ERR_SHAPE, "alpha (4,1) must be (4)");
    expect_op_fail(w, NULL, NULL, &cfg, TERN_ERR_ARG, "learned_alpha is set but alpha is NULL");
    cfg.learned_alpha = 0;
    expect_op_fail(w, a4, NULL, &cfg, TERN_ERR_ARG, "learned_alpha is 0");
    expect_op_fail(w, NULL, a4, &cfg, TERN_ERR_ARG, "alpha_neg is ttq's Wn");

    cfg = tern_quant_cfg_default(TERN_QUANT_TWN);
    cfg.t = -0.1f;
    expect_op_fail(w, NULL, NULL, &cfg, TERN_ERR_ARG, "t = -0.1");
    cfg.t = NAN;
    expect_op_fail(w, NULL, NULL, &cfg, TERN_ERR_ARG, "threshold factor");
    cfg = tern_quant_cfg_default(TERN_QUANT_TWN);
    cfg.method = (tern_quant_method)7;
    expect_op_fail(w, NULL, NULL, &cfg, TERN_ERR_ARG, "unknown method 7");
    cfg = tern_quant_cfg_default(TERN_QUANT_TWN);
    cfg.granularity = (tern_quant_granularity)-1;
    expect_op_fail(w, NULL, NULL, &cfg, TERN_ERR_ARG, "unknown granularity");
    cfg = tern_quant_cfg_default(TERN_QUANT_TWN);
    cfg.ste = (tern_ste)9;
    expect_op_fail(w, NULL, NULL, &cfg, TERN_ERR_ARG, "unknown ste 9");
    cfg = tern_quant_cfg_default(TERN_QUANT_TWN);
    cfg.ste = TERN_STE_CLIPPED;
    cfg.clip = 0.0f;
    expect_op_fail(w, NULL, NULL, &cfg, TERN_ERR_ARG, "clip > 0");
    cfg = tern_quant_cfg_default(TERN_QUANT_ABSMEAN);
    cfg.eps = -1e-5f;
    expect_op_fail(w, NULL, NULL, &cfg, TERN_ERR_ARG, "eps");
    cfg = tern_quant_cfg_default(TERN_QUANT_ABSMEAN);
    cfg.act_bits = 4;
    expect_op_fail(w, NULL, NULL, &cfg, TERN_ERR_ARG, "act_bits = 4");
    expect_op_fail(w, NULL, NULL, NULL, TERN_ERR_ARG, "settings are NULL");

    cfg = tern_quant_cfg_default(TERN_QUANT_TTQ);
    expect_op_fail(w, a1, NULL, &cfg, TERN_ERR_ARG, "ttq needs alpha_neg");
    expect_op_fail(w, a1, a4, &cfg, TERN_ERR_SHAPE, "alpha_neg (4) must be (1)");
    cfg.learned_alpha = 0;
    expect_op_fail(w, NULL, NULL, &cfg, TERN_ERR_ARG, "always learned");

    /* Non-finite values. */
    cfg = tern_quant_cfg_default(TERN_QUANT_TWN);
    cfg.learned_alpha = 1;
    a1->data[0] = INFINITY;
    expect_op_fail(w, a1, NULL, &cfg, TERN_ERR_NUMERIC, "alpha[0] = inf is not finite");
    a1->data[0] = 1.0f;
    w->data[13] = NAN;
    cfg.granularity = TERN_QUANT_PER_CHANNEL;
    expect_op_fail(w, a4, NULL, &cfg, TERN_ERR_NUMERIC, "weight (4,5) holds NaN or Inf (scale group 2 of 4)");
    tern_quant_layer_stats s;
    assert_int_equal(tern_quant_stats(w, a4, NULL, &cfg, &s), TERN_ERR_NUMERIC);
    expect_msg("quant_stats: ");
    cfg.learned_alpha = 0;
    assert_int_equal(tern_quant_alpha_init(w, &cfg, a4, NULL), TERN_ERR_NUMERIC);
    expect_msg("quant_alpha_init: ");
    w->data[13] = 0.0f;

    /* alpha_init and stats check their arguments too. */
    assert_int_equal(tern_quant_alpha_init(w, &cfg, NULL, NULL), TERN_ERR_ARG);
    expect_msg("quant_alpha_init: alpha is NULL");
    assert_int_equal(tern_quant_alpha_init(w, &cfg, a1, NULL), TERN_ERR_SHAPE);
    expect_msg("alpha (1) must be (4)");
    assert_int_equal(tern_quant_stats(w, NULL, NULL, &cfg, NULL), TERN_ERR_ARG);
    expect_msg("quant_stats: output is NULL");
    assert_int_equal(tern_quant_stats(NULL, NULL, NULL, &cfg, &s), TERN_ERR_ARG);
    expect_msg("quant_stats: weight is NULL");

    /* Activation quant: bits, NaN, and a NULL input (sticky NULL, no error). */
    tern_ctx *c = ctx_new();
    assert_null(tern_quant_act(c, w, 4));
    assert_int_equal(c->status, TERN_ERR_ARG);
    expect_msg("quant_act: bits = 4");
    tern_ctx_reset(c);
    w->data[7] = -INFINITY;
    assert_null(tern_quant_act(c, w, 8));
    assert_int_equal(c->status, TERN_ERR_NUMERIC);
    expect_msg("quant_act: row 1 of input (4,5) holds NaN or Inf");
    tern_ctx_reset(c);
    assert_null(tern_quant_act(c, NULL, 8));
    assert_null(tern_quant_ternary(c, NULL, NULL, NULL, &cfg));
    assert_int_equal(c->status, TERN_OK);
    ctx_del(c);

    gc_free(w);
    gc_free(a1);
    gc_free(a2);
    gc_free(a3);
    gc_free(a4);
    gc_free(a41);
}

/* ---- settings and names --------------------------------------------------- */

static void test_cfg_and_names(void **st) {
    (void)st;
    tern_quant_cfg t = tern_quant_cfg_default(TERN_QUANT_TWN);
    assert_float_equal(t.t, 0.7f, 0.0f);
    assert_int_equal(t.granularity, TERN_QUANT_PER_TENSOR);
    assert_int_equal(t.ste, TERN_STE_IDENTITY);
    assert_float_equal(t.clip, 1.0f, 0.0f);
    assert_int_equal(t.learned_alpha, 0);
    assert_int_equal(t.act_bits, 0);
    assert_int_equal(tern_quant_cfg_check(&t), TERN_OK);
    tern_quant_cfg q = tern_quant_cfg_default(TERN_QUANT_TTQ);
    assert_float_equal(q.t, 0.05f, 0.0f);
    assert_int_equal(q.learned_alpha, 1);
    assert_int_equal(tern_quant_cfg_check(&q), TERN_OK);
    tern_quant_cfg b = tern_quant_cfg_default(TERN_QUANT_ABSMEAN);
    assert_float_equal(b.eps, 1e-5f, 0.0f);
    b.act_bits = 8;
    assert_int_equal(tern_quant_cfg_check(&b), TERN_OK);
    b.act_bits = 16;
    assert_int_equal(tern_quant_cfg_check(&b), TERN_ERR_ARG);
    expect_msg("quant: act_bits = 16");

    const char *methods[3] = {"twn", "absmean", "ttq"};
    for (int i = 0; i < 3; i++) {
        tern_quant_method m;
        assert_int_equal(tern_quant_method_parse(methods[i], &m), TERN_OK);
        assert_int_equal(m, i);
        assert_string_equal(tern_quant_method_name(m), methods[i]);
    }
    tern_quant_granularity g;
    assert_int_equal(tern_quant_granularity_parse("per_channel", &g), TERN_OK);
    assert_int_equal(g, TERN_QUANT_PER_CHANNEL);
    assert_int_equal(tern_quant_granularity_parse("per_tensor", &g), TERN_OK);
    assert_int_equal(g, TERN_QUANT_PER_TENSOR);
    tern_ste s;
    assert_int_equal(tern_ste_parse("clipped", &s), TERN_OK);
    assert_int_equal(s, TERN_STE_CLIPPED);
    assert_int_equal(tern_ste_parse("identity", &s), TERN_OK);
    assert_int_equal(s, TERN_STE_IDENTITY);
    assert_string_equal(tern_quant_granularity_name(TERN_QUANT_PER_CHANNEL), "per_channel");
    assert_string_equal(tern_ste_name(TERN_STE_CLIPPED), "clipped");

    tern_quant_method m = TERN_QUANT_TTQ;
    assert_int_equal(tern_quant_method_parse("twm", &m), TERN_ERR_ARG);
    expect_msg("unknown method 'twm'");
    assert_int_equal(m, TERN_QUANT_TTQ); /* untouched on failure */
    assert_int_equal(tern_quant_method_parse(NULL, &m), TERN_ERR_ARG);
    assert_int_equal(tern_quant_granularity_parse("channel", &g), TERN_ERR_ARG);
    expect_msg("per_tensor, per_channel");
    assert_int_equal(tern_ste_parse("hardtanh", &s), TERN_ERR_ARG);
    expect_msg("unknown ste 'hardtanh'");
    assert_string_equal(tern_quant_method_name((tern_quant_method)42), "unknown");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_twn_hand),
        cmocka_unit_test(test_absmean_hand),
        cmocka_unit_test(test_ttq_hand),
        cmocka_unit_test(test_forward_matches_reference),
        cmocka_unit_test(test_ste_identity_grads),
        cmocka_unit_test(test_ttq_grads),
        cmocka_unit_test(test_clipped_ste),
        cmocka_unit_test(test_scale_grads_gradcheck),
        cmocka_unit_test(test_backward_accumulates),
        cmocka_unit_test(test_eval_mode_no_tape),
        cmocka_unit_test(test_codes_match_op),
        cmocka_unit_test(test_zero_weights),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_act_hand),
        cmocka_unit_test(test_act_random_and_tiny),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_cfg_and_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
