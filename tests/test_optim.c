/* test_optim.c — optimizers, schedules and clipping against independent values.
 *
 * Two kinds of reference, neither taken from the library's own output:
 *  - numbers derived by hand in the comments (single scalars, three steps);
 *  - a per-scalar double-precision re-implementation of torch.optim's
 *    documented algorithms (ref_step below), run on a small parameter table
 *    with odd sizes, a one-element parameter with lr_scale, a no-DECAY bias
 *    and a buffer without TRAIN. */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tern.h"
#include "fixture_text.h"

/* |got - want| <= atol + rtol |want|, with a message naming what differs. */
/* Declare a parameter that must be accepted; its index. */
static int add_ok(tern_params *p, const char *name, int ndim, const int *shape, int flags) {
    int idx = -1;
    assert_int_equal(tern_params_add(p, name, ndim, shape, flags, &idx), TERN_OK);
    return idx;
}

static void expect_close(double got, double want, double atol, double rtol, const char *what, int i) {
    if (!(fabs(got - want) <= atol + rtol * fabs(want))) fail_msg("%s[%d]: got %.9g, want %.9g", what, i, got, want);
}

static void expect_msg(const char *needle) {
    const char *msg = tern_errmsg();
    if (!strstr(msg, needle)) fail_msg("error message '%s' does not mention '%s'", msg, needle);
}

/* ---- a single scalar parameter, for the hand-derived cases ---------------- */

typedef struct {
    tern_params p;
    tern_param *w;
} scalar_fixture;

static void scalar_init(scalar_fixture *f, float w0, int flags) {
    tern_params_init(&f->p);
    int shape[1] = {1};
    assert_int_equal(add_ok(&f->p, "w", 1, shape, flags), 0);
    assert_int_equal(tern_params_alloc(&f->p), TERN_OK);
    f->w = &f->p.items[0];
    f->w->t.data[0] = w0;
}

/* Run three steps with grads g[0..3) at learning rate lr, checking w after each. */
static void scalar_run(const tern_optim_config *cfg, int flags, float lr, const float g[3], const double want[3]) {
    scalar_fixture f;
    scalar_init(&f, 1.0f, flags);
    tern_optim o;
    assert_int_equal(tern_optim_init(&o, &f.p, cfg), TERN_OK);
    for (int s = 0; s < 3; s++) {
        f.w->t.grad[0] = g[s];
        assert_int_equal(tern_optim_step(&o, lr), TERN_OK);
        expect_close(f.w->t.data[0], want[s], 1e-6, 1e-6, "w after step", s + 1);
    }
    assert_int_equal(o.step, 3);
    tern_optim_free(&o);
    tern_params_free(&f.p);
}

static void test_sgd_plain_by_hand(void **state) {
    (void)state;
    /* lr 0.1, w0 1, grads 1, 2, 3: w = 1 - 0.1 = 0.9; 0.9 - 0.2 = 0.7; 0.7 - 0.3 = 0.4. */
    tern_optim_config cfg = tern_optim_default(TERN_OPTIM_SGD);
    const float g[3] = {1, 2, 3};
    const double want[3] = {0.9, 0.7, 0.4};
    scalar_run(&cfg, TERN_PARAM_TRAIN | TERN_PARAM_DECAY, 0.1f, g, want);
}

static void test_sgd_momentum_by_hand(void **state) {
    (void)state;
    /* mu 0.9, lr 0.1, grads 1, 2, 3:
     *   buf = 1                    w = 1    - 0.1*1    = 0.9
     *   buf = 0.9*1 + 2   = 2.9    w = 0.9  - 0.1*2.9  = 0.61
     *   buf = 0.9*2.9 + 3 = 5.61   w = 0.61 - 0.1*5.61 = 0.049 */
    tern_optim_config cfg = tern_optim_default(TERN_OPTIM_SGD);
    cfg.momentum = 0.9f;
    const float g[3] = {1, 2, 3};
    const double want[3] = {0.9, 0.61, 0.049};
    scalar_run(&cfg, TERN_PARAM_TRAIN, 0.1f, g, want);
}

static void test_sgd_nesterov_by_hand(void **state) {
    (void)state;
    /* As above with nesterov: the step uses g + mu buf.
     *   buf = 1,    d = 1 + 0.9*1    = 1.9     w = 1     - 0.19   = 0.81
     *   buf = 2.9,  d = 2 + 0.9*2.9  = 4.61    w = 0.81  - 0.461  = 0.349
     *   buf = 5.61, d = 3 + 0.9*5.61 = 8.049   w = 0.349 - 0.8049 = -0.4559 */
    tern_optim_config cfg = tern_optim_default(TERN_OPTIM_SGD);
    cfg.momentum = 0.9f;
    cfg.nesterov = 1;
    const float g[3] = {1, 2, 3};
    const double want[3] = {0.81, 0.349, -0.4559};
    scalar_run(&cfg, TERN_PARAM_TRAIN, 0.1f, g, want);
}

static void test_sgd_weight_decay_by_hand(void **state) {
    (void)state;
    /* wd 0.1, lr 0.1, grads 1, 2, 3 on a DECAY param (d = g + 0.1 w):
     *   d = 1 + 0.1          = 1.1       w = 1      - 0.11      = 0.89
     *   d = 2 + 0.089        = 2.089     w = 0.89   - 0.2089    = 0.6811
     *   d = 3 + 0.06811      = 3.06811   w = 0.6811 - 0.306811  = 0.374289
     * Without DECAY the same config gives the plain 0.9, 0.7, 0.4. */
    tern_optim_config cfg = tern_optim_default(TERN_OPTIM_SGD);
    cfg.weight_decay = 0.1f;
    const float g[3] = {1, 2, 3};
    const double want_decay[3] = {0.89, 0.6811, 0.374289};
    const double want_plain[3] = {0.9, 0.7, 0.4};
    scalar_run(&cfg, TERN_PARAM_TRAIN | TERN_PARAM_DECAY, 0.1f, g, want_decay);
    scalar_run(&cfg, TERN_PARAM_TRAIN, 0.1f, g, want_plain);
}

static void test_adam_bias_correction_by_hand(void **state) {
    (void)state;
    /* Adam, lr 0.1, default betas, w0 1.
     * A constant grad 2: m_t = 2 (1 - 0.9^t) and v_t = 4 (1 - 0.999^t), so the
     * corrected m_hat = 2, v_hat = 4 and every step moves w by 0.1 * 2 / 2 = 0.1:
     * 0.9, 0.8, 0.7. Without the correction step 1 would move it by
     * 0.1 * 0.2 / sqrt(0.004) = 0.316. */
    tern_optim_config cfg = tern_optim_default(TERN_OPTIM_ADAM);
    const float gc[3] = {2, 2, 2};
    const double want_c[3] = {0.9, 0.8, 0.7};
    scalar_run(&cfg, TERN_PARAM_TRAIN, 0.1f, gc, want_c);

    /* Grads 1 then 3, where the two corrections no longer cancel:
     *   t=1: m = 0.1, v = 0.001, m_hat = 1, v_hat = 1        w = 1 - 0.1 = 0.9
     *   t=2: m = 0.09 + 0.3 = 0.39,  v = 0.000999 + 0.009 = 0.009999
     *        m_hat = 0.39 / (1 - 0.81) = 2.05263158
     *        v_hat = 0.009999 / (1 - 0.998001) = 5.00200100, sqrt = 2.23651537
     *        w = 0.9 - 0.1 * 2.05263158 / 2.23651537 = 0.80822189
     * Third grad 0: m = 0.351, v = 0.009989001; 1-0.9^3 = 0.271,
     *   1-0.999^3 = 0.002997001: m_hat = 1.29520295, v_hat = 3.33299889,
     *   sqrt = 1.82565026; w = 0.80822189 - 0.1 * 0.70944746 = 0.73727714 */
    const float g2[3] = {1, 3, 0};
    const double want2[3] = {0.9, 0.80822189, 0.73727714};
    scalar_run(&cfg, TERN_PARAM_TRAIN, 0.1f, g2, want2);
}

static void test_adamw_decoupled_by_hand(void **state) {
    (void)state;
    /* AdamW, lr 0.1, wd 0.1, constant grad 1, DECAY: w *= 1 - 0.01, then the
     * corrected step moves it by 0.1 (as in the Adam case above):
     *   0.99 - 0.1 = 0.89;  0.8811 - 0.1 = 0.7811;  0.773289 - 0.1 = 0.673289.
     * Without DECAY: 0.9, 0.8, 0.7 (the decay never enters the grad). */
    tern_optim_config cfg = tern_optim_default(TERN_OPTIM_ADAMW);
    cfg.weight_decay = 0.1f;
    const float g[3] = {1, 1, 1};
    const double want_decay[3] = {0.89, 0.7811, 0.673289};
    const double want_plain[3] = {0.9, 0.8, 0.7};
    scalar_run(&cfg, TERN_PARAM_TRAIN | TERN_PARAM_DECAY, 0.1f, g, want_decay);
    scalar_run(&cfg, TERN_PARAM_TRAIN, 0.1f, g, want_plain);
}

/* ---- a small table against a per-scalar double reference ------------------ */

/* One scalar's optimizer state in double: torch.optim's algorithm boxes. */
typedef struct {
    double w, buf, m, v;
} ref_scalar;

/* Step t (1-based) of torch.optim.{SGD,Adam,AdamW} for one scalar. */
static void ref_step(ref_scalar *s, double grad, const tern_optim_config *cfg, double lr, double wd, int t) {
    if (cfg->kind == TERN_OPTIM_SGD) {
        double d = grad + wd * s->w;
        if (cfg->momentum != 0.0f) {
            s->buf = (t == 1) ? d : cfg->momentum * s->buf + d;
            d = cfg->nesterov ? d + cfg->momentum * s->buf : s->buf;
        }
        s->w = s->w - lr * d;
        return;
    }
    double d = grad;
    if (cfg->kind == TERN_OPTIM_ADAMW)
        s->w = s->w * (1.0 - lr * wd);
    else
        d = d + wd * s->w;
    s->m = cfg->beta1 * s->m + (1.0 - cfg->beta1) * d;
    s->v = cfg->beta2 * s->v + (1.0 - cfg->beta2) * d * d;
    double m_hat = s->m / (1.0 - pow(cfg->beta1, t));
    double v_hat = s->v / (1.0 - pow(cfg->beta2, t));
    s->w = s->w - lr * m_hat / (sqrt(v_hat) + cfg->eps);
}

enum { N_PARAM = 4 };

typedef struct {
    tern_params p;
    int idx[N_PARAM];
} table_fixture;

/* fc.weight (3,5) TRAIN|DECAY; fc.bias (3) TRAIN; bn.running_mean (3) a
 * buffer; q.alpha (1) TRAIN with lr_scale 0.25. */
static void table_init(table_fixture *f) {
    tern_params_init(&f->p);
    int s35[2] = {3, 5}, s3[1] = {3}, s1[1] = {1};
    f->idx[0] = add_ok(&f->p, "fc.weight", 2, s35, TERN_PARAM_TRAIN | TERN_PARAM_DECAY);
    f->idx[1] = add_ok(&f->p, "fc.bias", 1, s3, TERN_PARAM_TRAIN);
    f->idx[2] = add_ok(&f->p, "bn.running_mean", 1, s3, 0);
    f->idx[3] = add_ok(&f->p, "q.alpha", 1, s1, TERN_PARAM_TRAIN);
    for (int k = 0; k < N_PARAM; k++) assert_int_equal(f->idx[k], k);
    assert_int_equal(tern_params_alloc(&f->p), TERN_OK);
    f->p.items[3].lr_scale = 0.25f;
    for (int k = 0; k < N_PARAM; k++) {
        tern_param *q = &f->p.items[k];
        for (size_t i = 0; i < q->t.n; i++) q->t.data[i] = (float)(0.8 * sin(1.3 * (double)(k * 7 + (int)i) + 0.4));
    }
}

/* Grads for step s; the buffer's slot of the grad block gets a huge value
 * that would show up anywhere it was read. */
static void table_grads(table_fixture *f, int s) {
    for (int k = 0; k < N_PARAM; k++) {
        tern_param *q = &f->p.items[k];
        float *g = f->p.grad + q->offset;
        for (size_t i = 0; i < q->t.n; i++)
            g[i] = (q->flags & TERN_PARAM_TRAIN) ? (float)(cos(0.9 * (double)(k * 5 + (int)i) + 1.7 * s) + 0.3)
                                                 : 1e30f;
    }
}

static void table_run(const tern_optim_config *cfg) {
    static const float lrs[3] = {0.1f, 0.05f, 0.2f};  /* a schedule's worth of change */
    table_fixture f;
    table_init(&f);
    float buffer0[3];
    memcpy(buffer0, f.p.items[2].t.data, sizeof buffer0);

    ref_scalar ref[N_PARAM][15];
    memset(ref, 0, sizeof ref);
    for (int k = 0; k < N_PARAM; k++)
        for (size_t i = 0; i < f.p.items[k].t.n; i++) ref[k][i].w = f.p.items[k].t.data[i];

    tern_optim o;
    assert_int_equal(tern_optim_init(&o, &f.p, cfg), TERN_OK);
    for (int s = 0; s < 3; s++) {
        table_grads(&f, s);
        assert_int_equal(tern_optim_step(&o, lrs[s]), TERN_OK);
        for (int k = 0; k < N_PARAM; k++) {
            tern_param *q = &f.p.items[k];
            if (!(q->flags & TERN_PARAM_TRAIN)) continue;
            double lr = (double)lrs[s] * q->lr_scale;
            double wd = (q->flags & TERN_PARAM_DECAY) ? cfg->weight_decay : 0.0;
            for (size_t i = 0; i < q->t.n; i++) {
                ref_step(&ref[k][i], f.p.grad[q->offset + i], cfg, lr, wd, s + 1);
                expect_close(q->t.data[i], ref[k][i].w, 1e-6, 1e-5, q->name, (int)i);
                if (o.n_state >= 1 && cfg->kind == TERN_OPTIM_SGD)
                    expect_close(tern_optim_state_view(&o, 0, q)[i], ref[k][i].buf, 1e-6, 1e-5, "momentum", (int)i);
                if (o.n_state == 2) {
                    expect_close(tern_optim_state_view(&o, 0, q)[i], ref[k][i].m, 1e-7, 1e-5, "adam_m", (int)i);
                    expect_close(tern_optim_state_view(&o, 1, q)[i], ref[k][i].v, 1e-8, 1e-5, "adam_v", (int)i);
                }
            }
        }
        /* The buffer: neither its data nor its state slots are touched. */
        assert_memory_equal(f.p.items[2].t.data, buffer0, sizeof buffer0);
        for (int b = 0; b < o.n_state; b++)
            for (size_t i = 0; i < 3; i++) assert_true(tern_optim_state_view(&o, b, &f.p.items[2])[i] == 0.0f);
    }
    assert_int_equal(o.step, 3);
    tern_optim_free(&o);
    tern_params_free(&f.p);
}

static void test_table_sgd_plain(void **state) {
    (void)state;
    tern_optim_config cfg = tern_optim_default(TERN_OPTIM_SGD);
    table_run(&cfg);
}

static void test_table_sgd_momentum_decay(void **state) {
    (void)state;
    tern_optim_config cfg = tern_optim_default(TERN_OPTIM_SGD);
    cfg.momentum = 0.9f;
    cfg.weight_decay = 0.05f;
    table_run(&cfg);
}

static void test_table_sgd_nesterov_decay(void **state) {
    (void)state;
    tern_optim_config cfg = tern_optim_default(TERN_OPTIM_SGD);
    cfg.momentum = 0.8f;
    cfg.nesterov = 1;
    cfg.weight_decay = 0.1f;
    table_run(&cfg);
}

static void test_table_adam_l2(void **state) {
    (void)state;
    tern_optim_config cfg = tern_optim_default(TERN_OPTIM_ADAM);
    cfg.weight_decay = 0.1f;
    cfg.beta1 = 0.8f;
    cfg.beta2 = 0.95f;
    cfg.eps = 1e-3f;  /* large enough to matter, so its placement is tested */
    table_run(&cfg);
}

static void test_table_adamw(void **state) {
    (void)state;
    tern_optim_config cfg = tern_optim_default(TERN_OPTIM_ADAMW);
    cfg.weight_decay = 0.3f;
    cfg.eps = 1e-3f;
    table_run(&cfg);
}

/* The state blocks plus `step` are everything: an optimizer rebuilt from
 * them (as a checkpoint load would) takes bit-identical steps. */
static void test_state_restores_exactly(void **state) {
    (void)state;
    const tern_optim_kind kinds[2] = {TERN_OPTIM_SGD, TERN_OPTIM_ADAMW};
    for (int c = 0; c < 2; c++) {
        tern_optim_config cfg = tern_optim_default(kinds[c]);
        cfg.momentum = 0.9f;  /* ignored by AdamW */
        table_fixture a, b;
        table_init(&a);
        table_init(&b);
        tern_optim oa, ob;
        assert_int_equal(tern_optim_init(&oa, &a.p, &cfg), TERN_OK);
        for (int s = 0; s < 2; s++) {
            table_grads(&a, s);
            assert_int_equal(tern_optim_step(&oa, 0.1f), TERN_OK);
        }
        /* "Save" a and "load" into b through the named views. */
        assert_int_equal(tern_optim_init(&ob, &b.p, &cfg), TERN_OK);
        assert_int_equal(ob.n_state, oa.n_state);
        for (int k = 0; k < N_PARAM; k++) {
            tern_param *qa = &a.p.items[k], *qb = tern_params_find(&b.p, qa->name);
            assert_non_null(qb);
            memcpy(qb->t.data, qa->t.data, qa->t.n * sizeof(float));
            for (int i = 0; i < oa.n_state; i++) {
                assert_string_equal(tern_optim_state_name(&oa, i), tern_optim_state_name(&ob, i));
                memcpy(tern_optim_state_view(&ob, i, qb), tern_optim_state_view(&oa, i, qa), qa->t.n * sizeof(float));
            }
        }
        ob.step = oa.step;
        table_grads(&a, 2);
        table_grads(&b, 2);
        assert_int_equal(tern_optim_step(&oa, 0.1f), TERN_OK);
        assert_int_equal(tern_optim_step(&ob, 0.1f), TERN_OK);
        for (int k = 0; k < N_PARAM; k++)
            assert_memory_equal(a.p.items[k].t.data, b.p.items[k].t.data, a.p.items[k].t.n * sizeof(float));
        tern_optim_free(&oa);
        tern_optim_free(&ob);
        tern_params_free(&a.p);
        tern_params_free(&b.p);
    }
}

static void test_state_names(void **state) {
    (void)state;
    table_fixture f;
    table_init(&f);
    tern_optim o;
    tern_optim_config cfg = tern_optim_default(TERN_OPTIM_SGD);
    assert_int_equal(tern_optim_init(&o, &f.p, &cfg), TERN_OK);
    assert_int_equal(o.n_state, 0); /* no momentum, no buffer, as torch */
    assert_null(tern_optim_state_name(&o, 0));
    assert_null(tern_optim_state_view(&o, 0, &f.p.items[0]));
    tern_optim_free(&o);

    cfg.momentum = 0.5f;
    assert_int_equal(tern_optim_init(&o, &f.p, &cfg), TERN_OK);
    assert_int_equal(o.n_state, 1);
    assert_string_equal(tern_optim_state_name(&o, 0), "momentum");
    assert_null(tern_optim_state_name(&o, 1));
    assert_ptr_equal(tern_optim_state_view(&o, 0, &f.p.items[3]), o.state[0] + f.p.items[3].offset);
    tern_optim_free(&o);

    cfg = tern_optim_default(TERN_OPTIM_ADAM);
    assert_int_equal(tern_optim_init(&o, &f.p, &cfg), TERN_OK);
    assert_int_equal(o.n_state, 2);
    assert_string_equal(tern_optim_state_name(&o, 0), "adam_m");
    assert_string_equal(tern_optim_state_name(&o, 1), "adam_v");
    assert_null(tern_optim_state_name(&o, -1));
    assert_ptr_equal(tern_optim_state_view(&o, 1, &f.p.items[1]), o.state[1] + f.p.items[1].offset);
    tern_optim_free(&o);
    tern_params_free(&f.p);

    for (int k = 0; k < TERN_OPTIM_COUNT; k++) {
        tern_optim_kind got;
        assert_int_equal(tern_optim_kind_parse(tern_optim_kind_name((tern_optim_kind)k), &got), TERN_OK);
        assert_int_equal(got, k);
    }
    tern_optim_kind got;
    assert_int_equal(tern_optim_kind_parse("lamb", &got), TERN_ERR_CONFIG);
    expect_msg("lamb");
}

/* ---- bad input ------------------------------------------------------------ */

static void test_optim_bad_config(void **state) {
    (void)state;
    struct {
        tern_optim_kind kind;
        float wd, mom;
        int nesterov;
        float b1, b2, eps;
        const char *needle;
    } bad[] = {
        {TERN_OPTIM_SGD, -0.1f, 0.0f, 0, 0.9f, 0.999f, 1e-8f, "weight_decay"},
        {TERN_OPTIM_SGD, NAN, 0.0f, 0, 0.9f, 0.999f, 1e-8f, "weight_decay"},
        {TERN_OPTIM_SGD, 0.0f, -0.5f, 0, 0.9f, 0.999f, 1e-8f, "momentum"},
        {TERN_OPTIM_SGD, 0.0f, 1.0f, 0, 0.9f, 0.999f, 1e-8f, "momentum"},
        {TERN_OPTIM_SGD, 0.0f, 0.0f, 1, 0.9f, 0.999f, 1e-8f, "nesterov"},
        {TERN_OPTIM_ADAM, 0.0f, 0.0f, 0, 1.0f, 0.999f, 1e-8f, "beta1"},
        {TERN_OPTIM_ADAM, 0.0f, 0.0f, 0, -0.1f, 0.999f, 1e-8f, "beta1"},
        {TERN_OPTIM_ADAMW, 0.0f, 0.0f, 0, 0.9f, 1.0f, 1e-8f, "beta2"},
        {TERN_OPTIM_ADAMW, 0.0f, 0.0f, 0, 0.9f, NAN, 1e-8f, "beta2"},
        {TERN_OPTIM_ADAMW, 0.0f, 0.0f, 0, 0.9f, 0.999f, -1e-8f, "eps"},
        {TERN_OPTIM_ADAM, INFINITY, 0.0f, 0, 0.9f, 0.999f, 1e-8f, "weight_decay"},
        {(tern_optim_kind)7, 0.0f, 0.0f, 0, 0.9f, 0.999f, 1e-8f, "kind"},
    };
    table_fixture f;
    table_init(&f);
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        tern_optim_config cfg = {.kind = bad[c].kind, .weight_decay = bad[c].wd, .momentum = bad[c].mom,
                                 .nesterov = bad[c].nesterov, .beta1 = bad[c].b1, .beta2 = bad[c].b2, .eps = bad[c].eps};
        tern_optim o;
        tern_error_clear();
        if (tern_optim_init(&o, &f.p, &cfg) != TERN_ERR_CONFIG) fail_msg("case %zu (%s) was accepted", c, bad[c].needle);
        expect_msg(bad[c].needle);
        tern_optim_free(&o); /* init leaves it freeable */
    }
    tern_params_free(&f.p);
}

static void test_optim_bad_use(void **state) {
    (void)state;
    tern_optim_config cfg = tern_optim_default(TERN_OPTIM_SGD);
    tern_optim o;

    /* Parameters not yet allocated. */
    tern_params p;
    tern_params_init(&p);
    int s3[1] = {3};
    assert_int_equal(add_ok(&p, "w", 1, s3, TERN_PARAM_TRAIN), 0);
    assert_int_equal(tern_optim_init(&o, &p, &cfg), TERN_ERR_ARG);
    expect_msg("tern_params_alloc");
    assert_int_equal(tern_optim_init(&o, NULL, &cfg), TERN_ERR_ARG);
    tern_params_free(&p);

    /* A bad lr is refused before anything changes. */
    table_fixture f;
    table_init(&f);
    table_grads(&f, 0);
    float w0 = f.p.items[0].t.data[0];
    assert_int_equal(tern_optim_init(&o, &f.p, &cfg), TERN_OK);
    const float bad_lr[3] = {-0.1f, NAN, INFINITY};
    for (int i = 0; i < 3; i++) {
        tern_error_clear();
        assert_int_equal(tern_optim_step(&o, bad_lr[i]), TERN_ERR_ARG);
        expect_msg("sgd: lr");
    }
    /* So is a bad lr_scale, and no parameter is stepped before it is found
     * (q.alpha is the last one). */
    f.p.items[3].lr_scale = NAN;
    assert_int_equal(tern_optim_step(&o, 0.1f), TERN_ERR_ARG);
    expect_msg("'q.alpha' has lr_scale");
    f.p.items[3].lr_scale = -1.0f;
    assert_int_equal(tern_optim_step(&o, 0.1f), TERN_ERR_ARG);
    f.p.items[3].lr_scale = 0.25f;
    assert_true(f.p.items[0].t.data[0] == w0);
    assert_int_equal(o.step, 0);
    /* A step counter no run reaches (a hand-edited checkpoint's): step + 1
     * would overflow (undefined) or lose exactness as Adam's t. */
    const long bad_step[3] = {LONG_MAX, TERN_OPTIM_MAX_STEP, -1};
    for (int i = 0; i < 3; i++) {
        o.step = bad_step[i];
        assert_int_equal(tern_optim_step(&o, 0.1f), TERN_ERR_ARG);
        expect_msg("sgd: step");
        assert_int_equal(o.step, bad_step[i]);
    }
    assert_true(f.p.items[0].t.data[0] == w0);
    o.step = TERN_OPTIM_MAX_STEP - 1;
    assert_int_equal(tern_optim_step(&o, 0.0f), TERN_OK);
    o.step = 0;

    /* Momentum switched on after init, with no buffer allocated: an error,
     * not a write through NULL. */
    o.cfg.momentum = 0.9f;
    assert_int_equal(tern_optim_step(&o, 0.1f), TERN_ERR_CONFIG);
    expect_msg("state");
    tern_optim_free(&o);

    /* A step on a freed optimizer. */
    assert_int_equal(tern_optim_step(&o, 0.1f), TERN_ERR_ARG);
    tern_params_free(&f.p);
}

/* ---- schedules ------------------------------------------------------------ */

static void test_sched_constant(void **state) {
    (void)state;
    tern_sched s;
    assert_int_equal(tern_sched_init_constant(&s, 0.05f), TERN_OK);
    const long steps[4] = {0, 1, 1000, -3};
    for (int i = 0; i < 4; i++) expect_close(tern_sched_lr(&s, steps[i]), 0.05, 0, 1e-7, "constant", i);
}

static void test_sched_step(void **state) {
    (void)state;
    /* base 0.1, step_size 3, gamma 0.5: 0.1 on steps 0..2, 0.05 on 3..5,
     * 0.025 on 6..8, 0.0125 from 9. */
    tern_sched s;
    assert_int_equal(tern_sched_init_step(&s, 0.1f, 3, 0.5f), TERN_OK);
    const long steps[7] = {0, 2, 3, 5, 6, 8, 9};
    const double want[7] = {0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125};
    for (int i = 0; i < 7; i++) expect_close(tern_sched_lr(&s, steps[i]), want[i], 0, 1e-6, "step", (int)steps[i]);
}

static void test_sched_cosine(void **state) {
    (void)state;
    /* base 1, min 0.1, warmup 4, total 12:
     *   warm-up (step + 1)/4: 0 → 0.25, 1 → 0.5, 3 → 1
     *   p = (step - 4)/8:     4 → p 0, lr 1
     *                         6 → p 1/4, 0.1 + 0.9 (1 + cos(pi/4))/2 = 0.86819805
     *                         8 → p 1/2, 0.1 + 0.45 = 0.55
     *                        10 → p 3/4, 0.1 + 0.9 (1 - cos(pi/4))/2 = 0.23180195
     *                        12 → p 1, 0.1; after the end it stays at 0.1 */
    tern_sched s;
    assert_int_equal(tern_sched_init_cosine(&s, 1.0f, 0.1f, 4, 12), TERN_OK);
    const long steps[10] = {0, 1, 3, 4, 6, 8, 10, 12, 13, 1000};
    const double want[10] = {0.25, 0.5, 1.0, 1.0, 0.86819805, 0.55, 0.23180195, 0.1, 0.1, 0.1};
    for (int i = 0; i < 10; i++) expect_close(tern_sched_lr(&s, steps[i]), want[i], 1e-7, 1e-6, "cosine", (int)steps[i]);

    /* No warm-up, min 0: starts at base, ends at 0; odd total 7, mid 3.5. */
    assert_int_equal(tern_sched_init_cosine(&s, 0.2f, 0.0f, 0, 7), TERN_OK);
    expect_close(tern_sched_lr(&s, 0), 0.2, 0, 1e-6, "cosine w0", 0);
    expect_close(tern_sched_lr(&s, 7), 0.0, 1e-9, 0, "cosine w0", 7);
    /* step 3: p = 3/7, 0.1 (1 + cos(3 pi / 7)) = 0.1 (1 + 0.22252093) */
    expect_close(tern_sched_lr(&s, 3), 0.122252093, 0, 1e-6, "cosine w0", 3);

    /* Warm-up of 1: step 0 is already at base. */
    assert_int_equal(tern_sched_init_cosine(&s, 0.3f, 0.0f, 1, 2), TERN_OK);
    expect_close(tern_sched_lr(&s, 0), 0.3, 0, 1e-6, "cosine w1", 0);
    expect_close(tern_sched_lr(&s, 1), 0.3, 0, 1e-6, "cosine w1", 1);
    expect_close(tern_sched_lr(&s, 2), 0.0, 1e-9, 0, "cosine w1", 2);
}

/* one_cycle against torch.optim.lr_scheduler.OneCycleLR, every step
 * (tests/reference/fixtures/one_cycle_*.txt from gen_fixtures.py). */
static void check_one_cycle(const char *file) {
    fxt f;
    if (fxt_load(file, &f)) fail_msg("%s: cannot read the fixture", file);
    int n = 0;
    const double *lr = fxt_get(&f, "lr", &n);
    assert_non_null(lr);
    tern_sched s;
    assert_int_equal(tern_sched_init_one_cycle(&s, (float)fxt_get(&f, "max_lr", NULL)[0],
                                               (long)fxt_get(&f, "total_steps", NULL)[0],
                                               (float)fxt_get(&f, "pct_start", NULL)[0],
                                               (float)fxt_get(&f, "div_factor", NULL)[0],
                                               (float)fxt_get(&f, "final_div_factor", NULL)[0]),
                     TERN_OK);
    assert_int_equal(n, s.total_steps);
    for (int i = 0; i < n; i++) expect_close(tern_sched_lr(&s, i), lr[i], 0, 2e-6, file, i);
    /* past the end it stays at the last lr: base / (div final_div) */
    expect_close(tern_sched_lr(&s, n + 5), (double)s.base_lr / s.div_factor / s.final_div_factor, 0, 1e-6, file, n + 5);
    fxt_free(&f);
}

static void test_sched_one_cycle_matches_torch(void **state) {
    (void)state;
    check_one_cycle("one_cycle_default.txt");
    check_one_cycle("one_cycle_odd.txt");
    tern_sched s;
    assert_int_equal(tern_sched_init_one_cycle(&s, 1.0f, 3, 0.3f, 25.0f, 1e4f), TERN_ERR_CONFIG);
    expect_msg("no room to rise and fall");
    assert_int_equal(tern_sched_init_one_cycle(&s, 1.0f, 100, 1.0f, 25.0f, 1e4f), TERN_ERR_CONFIG);
    expect_msg("pct_start = 1");
    assert_int_equal(tern_sched_init_one_cycle(&s, 1.0f, 100, 0.3f, 0.0f, 1e4f), TERN_ERR_CONFIG);
    expect_msg("div_factor = 0");
    assert_int_equal(tern_sched_init_one_cycle(&s, 1.0f, 100, 0.3f, 25.0f, NAN), TERN_ERR_CONFIG);
    expect_msg("final_div_factor");
    assert_string_equal(tern_sched_kind_name(TERN_SCHED_ONE_CYCLE), "one_cycle");
}

static void test_sched_bad_config(void **state) {
    (void)state;
    tern_sched s;
    assert_int_equal(tern_sched_init_cosine(&s, 1.0f, 0.0f, 100, 100), TERN_ERR_CONFIG);
    expect_msg("total_steps 100 must exceed warmup_steps 100");
    assert_int_equal(tern_sched_init_cosine(&s, 1.0f, 0.0f, -1, 10), TERN_ERR_CONFIG);
    expect_msg("warmup_steps");
    assert_int_equal(tern_sched_init_cosine(&s, 1.0f, 2.0f, 0, 10), TERN_ERR_CONFIG);
    expect_msg("min_lr");
    assert_int_equal(tern_sched_init_cosine(&s, 1.0f, -0.1f, 0, 10), TERN_ERR_CONFIG);
    expect_msg("min_lr");
    assert_int_equal(tern_sched_init_step(&s, 0.1f, 10, 0.0f), TERN_ERR_CONFIG);
    expect_msg("gamma");
    assert_int_equal(tern_sched_init_step(&s, 0.1f, 10, NAN), TERN_ERR_CONFIG);
    expect_msg("gamma");
    assert_int_equal(tern_sched_init_step(&s, 0.1f, 0, 0.5f), TERN_ERR_CONFIG);
    expect_msg("step_size");
    assert_int_equal(tern_sched_init_constant(&s, 0.0f), TERN_ERR_CONFIG);
    expect_msg("base_lr");
    assert_int_equal(tern_sched_init_constant(&s, NAN), TERN_ERR_CONFIG);
    expect_msg("base_lr");

    /* Warm-up given to a schedule that would silently ignore it. */
    s = (tern_sched){.kind = TERN_SCHED_STEP, .base_lr = 0.1f, .step_size = 5, .gamma = 0.5f, .warmup_steps = 10};
    assert_int_equal(tern_sched_check(&s), TERN_ERR_CONFIG);
    expect_msg("warmup_steps");

    /* An unchecked bad schedule gives lr 0 and a message, never NaN. */
    s = (tern_sched){.kind = TERN_SCHED_COSINE, .base_lr = 1.0f, .warmup_steps = 5, .total_steps = 5};
    tern_error_clear();
    assert_true(tern_sched_lr(&s, 2) == 0.0f);
    expect_msg("sched cosine");
    s.kind = (tern_sched_kind)9;
    assert_true(tern_sched_lr(&s, 0) == 0.0f);
    assert_int_equal(tern_sched_check(NULL), TERN_ERR_ARG);

    tern_sched_kind k;
    assert_int_equal(tern_sched_kind_parse("cosine", &k), TERN_OK);
    assert_int_equal(k, TERN_SCHED_COSINE);
    assert_int_equal(tern_sched_kind_parse("onecycle", &k), TERN_ERR_CONFIG);
    expect_msg("onecycle");
}

/* ---- clipping ------------------------------------------------------------- */

/* a (3) grads (1, 2, 2), b (2) grads (0, 4): norm sqrt(9 + 16) = 5.
 * buf (2): a buffer whose grad-block slot holds 100s, which must not count. */
static void clip_init(tern_params *p) {
    tern_params_init(p);
    int s3[1] = {3}, s2[1] = {2};
    assert_int_equal(add_ok(p, "a", 1, s3, TERN_PARAM_TRAIN | TERN_PARAM_DECAY), 0);
    assert_int_equal(add_ok(p, "buf", 1, s2, 0), 1);
    assert_int_equal(add_ok(p, "b", 1, s2, TERN_PARAM_TRAIN), 2);
    assert_int_equal(tern_params_alloc(p), TERN_OK);
    const float ga[3] = {1, 2, 2}, gb[2] = {0, 4};
    memcpy(p->grad + p->items[0].offset, ga, sizeof ga);
    memcpy(p->grad + p->items[2].offset, gb, sizeof gb);
    p->grad[p->items[1].offset] = 100.0f;
    p->grad[p->items[1].offset + 1] = 100.0f;
}

/* The norm of a clip that must succeed. */
static float clip_ok(tern_params *p, float max_norm) {
    float norm = -1.0f;
    assert_int_equal(tern_clip_grad_norm(p, max_norm, &norm), TERN_OK);
    return norm;
}

static void test_clip_by_hand(void **state) {
    (void)state;
    tern_params p;

    /* max_norm 1: returns 5 and scales by 1 / (5 + 1e-6). */
    clip_init(&p);
    float norm = clip_ok(&p, 1.0f);
    expect_close(norm, 5.0, 0, 1e-7, "norm", 0);
    const double want[5] = {0.2, 0.4, 0.4, 0.0, 0.8};
    const float *ga = p.grad + p.items[0].offset, *gb = p.grad + p.items[2].offset;
    for (int i = 0; i < 3; i++) expect_close(ga[i], want[i] * (5.0 / 5.000001), 1e-9, 1e-7, "a", i);
    for (int i = 0; i < 2; i++) expect_close(gb[i], want[3 + i] * (5.0 / 5.000001), 1e-9, 1e-7, "b", i);
    assert_true(p.grad[p.items[1].offset] == 100.0f);
    /* Clipping again measures the clipped norm, just under 1. */
    expect_close(clip_ok(&p, 1.0f), 1.0, 0, 1e-6, "norm after", 0);
    tern_params_free(&p);

    /* max_norm 10: measured, nothing changes. */
    clip_init(&p);
    norm = clip_ok(&p, 10.0f);
    expect_close(norm, 5.0, 0, 1e-7, "norm", 1);
    assert_true(p.grad[p.items[0].offset + 1] == 2.0f && p.grad[p.items[2].offset + 1] == 4.0f);
    /* +inf: measure only. */
    expect_close(clip_ok(&p, INFINITY), 5.0, 0, 1e-7, "norm", 2);
    assert_true(p.grad[p.items[2].offset + 1] == 4.0f);
    tern_params_free(&p);

    /* max_norm exactly the norm: torch's c = 5 / (5 + 1e-6) < 1 still scales. */
    clip_init(&p);
    clip_ok(&p, 5.0f);
    expect_close(p.grad[p.items[2].offset + 1], 4.0 * 5.0 / 5.000001, 0, 1e-7, "b at max_norm", 1);
    tern_params_free(&p);
}

static void test_clip_against_naive(void **state) {
    (void)state;
    /* Odd sizes (1001 crosses the 8-wide blocks with a tail of 1, 13 a tail of 5). */
    tern_params p;
    tern_params_init(&p);
    int s1[1] = {1001}, s2[2] = {13, 1}, s3[1] = {1};
    assert_int_equal(add_ok(&p, "big", 1, s1, TERN_PARAM_TRAIN), 0);
    assert_int_equal(add_ok(&p, "odd", 2, s2, TERN_PARAM_TRAIN | TERN_PARAM_DECAY), 1);
    assert_int_equal(add_ok(&p, "one", 1, s3, TERN_PARAM_TRAIN), 2);
    assert_int_equal(tern_params_alloc(&p), TERN_OK);
    tern_rng rng;
    tern_rng_seed(&rng, 42);
    for (size_t i = 0; i < p.total; i++) p.grad[i] = 2.0f * tern_rng_uniform(&rng) - 1.0f;
    float before[1001 + 13 + 1];
    int nb = 0;
    double ss = 0.0;
    for (int k = 0; k < p.count; k++)
        for (size_t i = 0; i < p.items[k].t.n; i++) {
            float g = p.grad[p.items[k].offset + i];
            before[nb++] = g;
            ss += (double)g * g;
        }
    double norm = sqrt(ss), max_norm = 0.5 * norm;
    float got = clip_ok(&p, (float)max_norm);
    expect_close(got, norm, 0, 1e-6, "norm", 0);
    double c = (double)(float)max_norm / (norm + 1e-6);
    nb = 0;
    for (int k = 0; k < p.count; k++)
        for (size_t i = 0; i < p.items[k].t.n; i++, nb++)
            expect_close(p.grad[p.items[k].offset + i], before[nb] * c, 1e-8, 1e-6, p.items[k].name, (int)i);
    tern_params_free(&p);
}

static void test_clip_nonfinite_and_bad(void **state) {
    (void)state;
    tern_params p;
    clip_init(&p);
    p.grad[p.items[2].offset] = INFINITY;
    float norm = 0.0f;
    assert_int_equal(tern_clip_grad_norm(&p, 1.0f, &norm), TERN_ERR_NUMERIC);
    assert_true(isinf(norm));
    assert_true(p.grad[p.items[0].offset + 1] == 2.0f); /* untouched */
    p.grad[p.items[2].offset] = NAN;
    assert_int_equal(tern_clip_grad_norm(&p, 1.0f, &norm), TERN_ERR_NUMERIC);
    assert_true(isnan(norm));
    assert_true(p.grad[p.items[2].offset + 1] == 4.0f);
    tern_params_free(&p);

    clip_init(&p);
    const float bad[3] = {0.0f, -1.0f, NAN};
    for (int i = 0; i < 3; i++) {
        tern_error_clear();
        assert_int_equal(tern_clip_grad_norm(&p, bad[i], &norm), TERN_ERR_ARG);
        expect_msg("clip_grad_norm: max_norm");
    }
    assert_true(p.grad[p.items[0].offset + 1] == 2.0f);
    tern_params_free(&p);

    tern_params_init(&p);
    assert_int_equal(tern_clip_grad_norm(&p, 1.0f, &norm), TERN_ERR_ARG);
    expect_msg("not allocated");
    assert_int_equal(tern_clip_grad_norm(NULL, 1.0f, &norm), TERN_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_plain_by_hand),
        cmocka_unit_test(test_sgd_momentum_by_hand),
        cmocka_unit_test(test_sgd_nesterov_by_hand),
        cmocka_unit_test(test_sgd_weight_decay_by_hand),
        cmocka_unit_test(test_adam_bias_correction_by_hand),
        cmocka_unit_test(test_adamw_decoupled_by_hand),
        cmocka_unit_test(test_table_sgd_plain),
        cmocka_unit_test(test_table_sgd_momentum_decay),
        cmocka_unit_test(test_table_sgd_nesterov_decay),
        cmocka_unit_test(test_table_adam_l2),
        cmocka_unit_test(test_table_adamw),
        cmocka_unit_test(test_state_restores_exactly),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_optim_bad_config),
        cmocka_unit_test(test_optim_bad_use),
        cmocka_unit_test(test_sched_constant),
        cmocka_unit_test(test_sched_step),
        cmocka_unit_test(test_sched_cosine),
        cmocka_unit_test(test_sched_one_cycle_matches_torch),
        cmocka_unit_test(test_sched_bad_config),
        cmocka_unit_test(test_clip_by_hand),
        cmocka_unit_test(test_clip_against_naive),
        cmocka_unit_test(test_clip_nonfinite_and_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
