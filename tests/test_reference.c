/* test_reference.c — tern's ternary training step against PyTorch.
 *
 * tests/reference/gen_fixtures.py (run by hand with torch) writes, for a tiny
 * ternary MLP and a tiny ternary CNN under each quantizer setting, the inputs,
 * every parameter, and what one training-mode step computes: logits, loss,
 * every parameter gradient, the batchnorm running statistics after the step.
 * The torch side implements the contract of include/tern/quant.h on its own.
 * Here tern builds the same model from layer specs with the fixture's
 * quantizer settings, takes every parameter from the fixture by name, runs
 * tern_model_forward → tern_softmax_xent → tern_backward and compares
 * every tensor. The fixtures are committed; CI needs no torch.
 *
 * Tolerance, per tensor b (torch) against a (tern):
 *     |a - b| <= 1e-5 * max(|b|, 0.5 * max_j |b_j|).
 * The floor is there because gradients are sums with cancellation: an
 * element's rounding error scales with the size of its terms, not of its
 * value. Example: grad.conv2.bias[0] of cnn_twn_pc_learned is 1.9e-4, a sum
 * of 576 terms in a tensor whose largest element is 0.073; torch's own
 * float32 and float64 steps differ there by 1.6e-4 relative. Measured on
 * all fixtures (the generator records it per tensor):
 *   torch float32 vs float64:  1.8e-4 elementwise relative; 1.3e-6 by the
 *                              rule above; with a floor of 0.1 max, 4.6e-6.
 *   tern vs torch float32:     2.1e-6 by the rule above (OpenBLAS core types
 *                              SkylakeX, Haswell, Sandybridge, Prescott);
 *                              with a floor of 0.1 max, 9.5e-6 — too close to
 *                              1e-5 to be a stable test, hence 0.5.
 *   tern vs torch float64:     1.7e-6 by the rule above (gen_fixtures.py
 *                              --float64): tern is as close to the exact
 *                              answer as torch's float32 is.
 * So 1e-5 sits about 5x above float32 noise, while a wrong ternary code, STE
 * factor, clip or scale moves elements by percents (and absmean scaled by
 * gamma + eps instead of gamma, 3e-5 relative, already fails). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern.h"

#define REL_TOL 1e-5
#define FLOOR_FRAC 0.5  /* of the tensor's largest |value|: see above */

/* ---- the fixture format (documented in tests/reference/README.md) -------- */

typedef struct {
    char name[96];
    int ndim, shape[TERN_MAX_DIMS];
    size_t n;
    double *v;  /* (n) */
} fx_tensor;

typedef struct {
    char arch[16], setting[64];
    tern_quant_cfg quant;
    fx_tensor *t;
    int count;
} fixture;

static void fixture_free(fixture *f) {
    for (int i = 0; i < f->count; i++) free(f->t[i].v);
    free(f->t);
    memset(f, 0, sizeof *f);
}

static const fx_tensor *fixture_find(const fixture *f, const char *name) {
    for (int i = 0; i < f->count; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

/* Whitespace-separated tokens of `text` with '#' comment lines blanked. */
static char *next_token(char **p) {
    char *s = *p;
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
        if (*s != '#') break;
        while (*s && *s != '\n') s++;
    }
    if (!*s) return *p = s, NULL;
    char *tok = s;
    while (*s && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') s++;
    if (*s) *s++ = '\0';
    *p = s;
    return tok;
}

static int parse_double(const char *tok, double *out) {
    char *end;
    errno = 0;
    *out = strtod(tok, &end);
    return tok && *tok && !*end && !errno;
}

static int parse_int(const char *tok, int *out) {
    double d;
    if (!parse_double(tok, &d) || d != (int)d) return 0;
    *out = (int)d;
    return 1;
}

/* "key=value" tokens of the quant line into cfg. */
static tern_status parse_quant_kv(const char *who, char *kv, tern_quant_cfg *q) {
    char *eq = strchr(kv, '=');
    if (!eq) return tern_error(TERN_ERR_FORMAT, "%s: quant setting '%s' is not key=value", who, kv);
    *eq = '\0';
    const char *k = kv, *v = eq + 1;
    double d = 0;
    int ok = 1;
    if (!strcmp(k, "method")) ok = !tern_quant_method_parse(v, &q->method);
    else if (!strcmp(k, "granularity")) ok = !tern_quant_granularity_parse(v, &q->granularity);
    else if (!strcmp(k, "ste")) ok = !tern_ste_parse(v, &q->ste);
    else if (!strcmp(k, "learned_alpha")) ok = parse_int(v, &q->learned_alpha);
    else if (!strcmp(k, "act_bits")) ok = parse_int(v, &q->act_bits);
    else if (!strcmp(k, "clip") && (ok = parse_double(v, &d))) q->clip = (float)d;
    else if (!strcmp(k, "t") && (ok = parse_double(v, &d))) q->t = (float)d;
    else if (!strcmp(k, "eps") && (ok = parse_double(v, &d))) q->eps = (float)d;
    else if (ok) return tern_error(TERN_ERR_FORMAT, "%s: unknown quant setting '%s'", who, k);
    if (!ok) return tern_error(TERN_ERR_FORMAT, "%s: quant setting %s has a bad value '%s'", who, k, v);
    return TERN_OK;
}

/* Parse a fixture from `text` (modified in place); `who` names it in errors. */
static tern_status fixture_parse(char *text, const char *who, fixture *f) {
    memset(f, 0, sizeof *f);
    char *p = text, *tok = next_token(&p);
    int version = 0, cap = 0, have_quant = 0;
    if (!tok || strcmp(tok, "tern-fixture") || !parse_int(next_token(&p), &version) || version != 1)
        return tern_error(TERN_ERR_FORMAT, "%s: not a tern fixture of version 1 (regenerate with gen_fixtures.py)",
                          who);
    tok = next_token(&p);
    while (tok && strcmp(tok, "tensor") && strcmp(tok, "end")) {
        char *val = next_token(&p);
        if (!val) break;
        if (!strcmp(tok, "arch")) snprintf(f->arch, sizeof f->arch, "%s", val);
        else if (!strcmp(tok, "setting")) snprintf(f->setting, sizeof f->setting, "%s", val);
        else if (!strcmp(tok, "quant")) {
            /* key=value tokens up to the next header word. */
            f->quant = tern_quant_cfg_default(TERN_QUANT_TWN);
            have_quant = 1;
            while (val && strchr(val, '=')) {
                tern_status st = parse_quant_kv(who, val, &f->quant);
                if (st) return st;
                val = next_token(&p);
            }
            tok = val;
            continue;
        } else if (strcmp(tok, "seed")) {
            return tern_error(TERN_ERR_FORMAT, "%s: unknown header line '%s'", who, tok);
        }
        tok = next_token(&p);
    }
    if (!f->arch[0] || !have_quant) return tern_error(TERN_ERR_FORMAT, "%s: header lacks 'arch' or 'quant'", who);
    while (tok && !strcmp(tok, "tensor")) {
        if (f->count == cap) {
            cap = cap ? 2 * cap : 32;
            fx_tensor *t = realloc(f->t, sizeof *t * (size_t)cap);
            if (!t) return fixture_free(f), tern_error(TERN_ERR_NOMEM, "%s: out of memory", who);
            f->t = t;
        }
        fx_tensor *t = &f->t[f->count];
        memset(t, 0, sizeof *t);
        const char *name = next_token(&p);
        if (!name || !parse_int(next_token(&p), &t->ndim) || t->ndim < 1 || t->ndim > TERN_MAX_DIMS)
            return fixture_free(f), tern_error(TERN_ERR_FORMAT, "%s: tensor %d has a bad name or ndim", who, f->count);
        snprintf(t->name, sizeof t->name, "%s", name);
        for (int k = 0; k < t->ndim; k++)
            if (!parse_int(next_token(&p), &t->shape[k]) || t->shape[k] < 1)
                return fixture_free(f), tern_error(TERN_ERR_FORMAT, "%s: tensor %s has a bad dim %d", who, t->name, k);
        t->n = tern_shape_numel(t->ndim, t->shape);
        f->count++;
        if (!(t->v = malloc(sizeof(double) * t->n)))
            return fixture_free(f), tern_error(TERN_ERR_NOMEM, "%s: out of memory", who);
        for (size_t i = 0; i < t->n; i++) {
            const char *v = next_token(&p);
            if (!v || !parse_double(v, &t->v[i])) {
                tern_error(TERN_ERR_FORMAT, "%s: tensor %s needs %zu values, value %zu is '%s'", who, t->name, t->n, i,
                           v ? v : "(end of file)");
                return fixture_free(f), TERN_ERR_FORMAT;
            }
        }
        tok = next_token(&p);
    }
    if (!tok || strcmp(tok, "end"))
        return fixture_free(f), tern_error(TERN_ERR_FORMAT, "%s: expected 'tensor' or 'end', got '%s'", who,
                                           tok ? tok : "(end of file)");
    return TERN_OK;
}

/* $TERN_SOURCE_DIR/tests/reference/fixtures/<name>.txt */
static tern_status fixture_load(const char *name, fixture *f) {
    memset(f, 0, sizeof *f);
    const char *root = getenv("TERN_SOURCE_DIR");
    if (!root)
        return tern_error(TERN_ERR_IO, "reference: TERN_SOURCE_DIR is not set (ctest sets it to the source dir)");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/reference/fixtures/%s.txt", root, name);
    FILE *fp = fopen(path, "rb");
    if (!fp) return tern_error(TERN_ERR_IO, "reference: cannot open %s: %s", path, strerror(errno));
    char *text = NULL;
    long len = -1;
    if (!fseek(fp, 0, SEEK_END) && (len = ftell(fp)) >= 0 && !fseek(fp, 0, SEEK_SET) &&
        (text = malloc((size_t)len + 1)) && fread(text, 1, (size_t)len, fp) == (size_t)len)
        text[len] = '\0';
    else len = -1;
    fclose(fp);
    if (len < 0) {
        free(text);
        return tern_error(TERN_ERR_IO, "reference: cannot read %s", path);
    }
    tern_status st = fixture_parse(text, path, f);
    free(text);
    return st;
}

/* ---- the two architectures, as gen_fixtures.py defines them -------------- */

static const tern_layer_spec mlp_spec[] = {
    {.type = TERN_LAYER_LINEAR, .name = "fc1", .out = 9, .act = TERN_ACT_RELU, .ternary = 1},
    {.type = TERN_LAYER_LINEAR, .name = "fc2", .out = 7, .act = TERN_ACT_RELU, .ternary = 1},
    {.type = TERN_LAYER_LINEAR, .name = "fc3", .out = 4},
};

static const tern_layer_spec cnn_spec[] = {
    {.type = TERN_LAYER_CONV2D, .name = "conv1", .out = 4, .kernel = 3, .pad = 1, .no_bias = 1},        /* (4,8,8) */
    {.type = TERN_LAYER_BATCHNORM, .name = "bn1", .act = TERN_ACT_RELU},
    {.type = TERN_LAYER_CONV2D, .name = "conv2", .out = 6, .kernel = 3, .pad = 1, .act = TERN_ACT_RELU,
     .ternary = 1},                                                                                     /* (6,8,8) */
    {.type = TERN_LAYER_MAXPOOL, .name = "pool1", .kernel = 2},                                         /* (6,4,4) */
    {.type = TERN_LAYER_CONV2D, .name = "conv3", .out = 5, .kernel = 3, .stride = 2, .pad = 1,
     .ternary = 1},                                                                                     /* (5,2,2) */
    {.type = TERN_LAYER_AVGPOOL, .name = "pool2", .kernel = 3, .stride = 1, .pad = 1},                  /* (5,2,2) */
    {.type = TERN_LAYER_FLATTEN, .name = "flat"},                                                       /* (20) */
    {.type = TERN_LAYER_LINEAR, .name = "fc", .out = 4, .ternary = 1},
};

#define MAX_LAYERS 8

/* Build the fixture's architecture with `q` on every ternary layer. */
static tern_status build_model(const char *arch, const tern_quant_cfg *q, tern_model *m) {
    const tern_layer_spec *spec;
    int n, in_ndim, in_shape[3];
    if (!strcmp(arch, "mlp")) {
        spec = mlp_spec, n = 3, in_ndim = 1, in_shape[0] = 12;
    } else if (!strcmp(arch, "cnn")) {
        spec = cnn_spec, n = 8, in_ndim = 3, in_shape[0] = 2, in_shape[1] = in_shape[2] = 8;
    } else {
        return tern_error(TERN_ERR_FORMAT, "reference: unknown arch '%s' (mlp, cnn)", arch);
    }
    tern_layer_spec s[MAX_LAYERS];
    memcpy(s, spec, sizeof *s * (size_t)n);
    for (int i = 0; i < n; i++)
        if (s[i].ternary) s[i].quant = *q;
    return tern_model_init(m, s, n, in_ndim, in_shape, TERN_INIT_HE, 1);
}

static int same_shape(const tern_tensor *t, const fx_tensor *x) {
    if (t->ndim != x->ndim) return 0;
    for (int k = 0; k < t->ndim; k++)
        if (t->shape[k] != x->shape[k]) return 0;
    return 1;
}

/* Every model parameter and buffer from "param.<name>"; every "param.*" of
 * the fixture must be a model parameter, so neither side can silently skip. */
static tern_status load_params(tern_model *m, const fixture *f) {
    char key[128];
    for (int i = 0; i < m->params.count; i++) {
        tern_param *P = &m->params.items[i];
        snprintf(key, sizeof key, "param.%s", P->name);
        const fx_tensor *x = fixture_find(f, key);
        if (!x) return tern_error(TERN_ERR_FORMAT, "reference: the fixture lacks %s, a parameter of the model", key);
        if (!same_shape(&P->t, x)) {
            char sb[TERN_SHAPE_STR_LEN];
            return tern_error(TERN_ERR_SHAPE, "reference: %s has %zu values in the fixture, the model's is %s", key,
                              x->n, tern_shape_str(&P->t, sb, sizeof sb));
        }
        for (size_t j = 0; j < x->n; j++) P->t.data[j] = (float)x->v[j];
    }
    for (int i = 0; i < f->count; i++)
        if (!strncmp(f->t[i].name, "param.", 6) && !tern_params_find(&m->params, f->t[i].name + 6))
            return tern_error(TERN_ERR_FORMAT, "reference: the fixture has %s, which the model does not", f->t[i].name);
    return TERN_OK;
}

/* ---- the comparison ------------------------------------------------------- */

typedef struct {
    int bad;         /* elements outside the tolerance, over all tensors */
    int tensors;     /* tensors compared */
    double worst;    /* max |a-b| / max(|b|, floor) over all elements */
    char worst_at[128];
} cmp_result;

/* Compare n floats with the expected tensor `want` by the rule at the top. */
static void compare(cmp_result *r, const char *what, const float *got, size_t n, const fx_tensor *want) {
    r->tensors++;
    if (!want || want->n != n) {
        print_error("%s: the fixture has %s, tern has %zu values\n", what, want ? "another size" : "no such tensor", n);
        r->bad++;
        return;
    }
    double big = 0.0;
    for (size_t i = 0; i < n; i++) big = fmax(big, fabs(want->v[i]));
    const double floor = FLOOR_FRAC * big;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double b = want->v[i], e = fabs((double)got[i] - b) / fmax(fmax(fabs(b), floor), 1e-30);
        if (!(e <= REL_TOL)) {
            if (bad++ < 3)
                print_error("%s[%zu]: tern %.9g, torch %.9g (error %.3g of max(|torch|, %.3g))\n", what, i,
                            (double)got[i], b, e, floor);
        }
        if (e > r->worst || isnan(e)) {
            r->worst = isnan(e) ? INFINITY : e;
            snprintf(r->worst_at, sizeof r->worst_at, "%s[%zu]", what, i);
        }
    }
    r->bad += bad;
}

/* One training-mode forward and backward of the fixture's model, compared
 * with every expected tensor. Returns the status of building and running;
 * the comparison goes into *r. */
static tern_status run_fixture(const fixture *f, const tern_quant_cfg *q, cmp_result *r) {
    memset(r, 0, sizeof *r);
    tern_model m;
    tern_status st = build_model(f->arch, q, &m);
    if (st) return st;
    if ((st = load_params(&m, f))) {
        tern_model_free(&m);
        return st;
    }
    const fx_tensor *fx = fixture_find(f, "x"), *fl = fixture_find(f, "labels");
    int N = fx ? fx->shape[0] : 0;
    if (!fx || !fl || fl->n != (size_t)N) {
        tern_model_free(&m);
        return tern_error(TERN_ERR_FORMAT, "reference: fixture %s_%s lacks x or labels of its batch", f->arch,
                          f->setting);
    }
    float *xb = malloc(sizeof(float) * fx->n);
    int *labels = malloc(sizeof(int) * (size_t)N);
    for (size_t i = 0; i < fx->n; i++) xb[i] = (float)fx->v[i];
    for (int i = 0; i < N; i++) labels[i] = (int)fl->v[i];
    tern_tensor x = tern_tensor_view(xb, NULL, fx->ndim, fx->shape);

    tern_ctx c;
    tern_ctx_init(&c, 0);
    tern_ctx_reset(&c);
    tern_ctx_mode(&c, 1, 1);
    tern_params_zero_grad(&m.params);
    tern_tensor *logits = tern_model_forward(&m, &c, &x);
    tern_tensor *loss = tern_softmax_xent(&c, logits, labels);
    st = loss ? tern_backward(&c, loss) : c.status;
    if (!st) {
        compare(r, "logits", logits->data, logits->n, fixture_find(f, "logits"));
        compare(r, "loss", loss->data, 1, fixture_find(f, "loss"));
        char key[128];
        for (int i = 0; i < m.params.count; i++) {
            const tern_param *P = &m.params.items[i];
            int train = P->flags & TERN_PARAM_TRAIN;
            snprintf(key, sizeof key, "%s.%s", train ? "grad" : "after", P->name);
            compare(r, key, train ? P->t.grad : P->t.data, P->t.n, fixture_find(f, key));
        }
        /* Every expected tensor was compared: params, grads, after, and x,
         * labels, logits, loss. */
        if (r->tensors + m.params.count + 2 != f->count) {
            print_error("fixture %s_%s holds %d tensors; tern compared %d and loaded %d\n", f->arch, f->setting,
                        f->count, r->tensors, m.params.count + 2);
            r->bad++;
        }
    }
    tern_ctx_free(&c);
    tern_model_free(&m);
    free(xb);
    free(labels);
    return st;
}

/* ---- one test per fixture -------------------------------------------------- */

static const char *const fixtures[] = {
    "mlp_twn_pt",  "mlp_twn_pc_learned",  "mlp_absmean_pt",  "mlp_absmean_pc_learned_act8",  "mlp_ttq_pc",
    "mlp_twn_clip", "cnn_twn_pt",         "cnn_twn_pc_learned", "cnn_absmean_pt", "cnn_absmean_pc_learned_act8",
    "cnn_ttq_pc",  "cnn_twn_clip",
};
#define N_FIXTURES ((int)(sizeof fixtures / sizeof fixtures[0]))

static void check_fixture(const char *name) {
    fixture f;
    tern_status st = fixture_load(name, &f);
    if (st) {
        /* Fixtures are committed: a missing or broken one is a failure. */
        print_error("%s\n", tern_errmsg());
        fail();
    }
    cmp_result r;
    st = run_fixture(&f, &f.quant, &r);
    if (st) {
        print_error("%s: %s\n", name, tern_errmsg());
        fixture_free(&f);
        fail();
    }
    print_message("%-28s %2d tensors, worst |tern - torch| / max(|torch|, floor) = %.2e at %s (tolerance %g)\n", name,
                  r.tensors, r.worst, r.worst_at, REL_TOL);
    fixture_free(&f);
    assert_int_equal(r.bad, 0);
}

static void test_fixture(void **state) { check_fixture((const char *)*state); }

/* ---- the check can fail ---------------------------------------------------- */

/* A wrong quantizer setting or one wrong expected value is caught: run a
 * fixture under a deliberately different setting, and with one expected
 * gradient moved by 3x the tolerance. */
static void test_mismatches_are_caught(void **state) {
    (void)state;
    fixture f;
    cmp_result r;
    assert_int_equal(fixture_load("mlp_twn_clip", &f), TERN_OK);
    assert_int_equal(run_fixture(&f, &f.quant, &r), TERN_OK);
    assert_int_equal(r.bad, 0);

    /* The identity STE instead of the clipped one: weights past the clip
     * now pass gradient. */
    tern_quant_cfg q = f.quant;
    q.ste = TERN_STE_IDENTITY;
    assert_int_equal(run_fixture(&f, &q, &r), TERN_OK);
    assert_true(r.bad > 0);
    /* A threshold factor 10% off flips some ternary codes. */
    q = f.quant;
    q.t *= 1.1f;
    assert_int_equal(run_fixture(&f, &q, &r), TERN_OK);
    assert_true(r.bad > 0);

    /* One expected gradient element of fc2 moved by 3e-5 of its size. */
    fx_tensor *g = (fx_tensor *)fixture_find(&f, "grad.fc2.weight");
    assert_non_null(g);
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++)
        if (fabs(g->v[i]) > fabs(g->v[k])) k = i;
    g->v[k] *= 1.0 + 3e-5;
    assert_int_equal(run_fixture(&f, &f.quant, &r), TERN_OK);
    assert_int_equal(r.bad, 1);
    fixture_free(&f);

    /* ttq with its two scales swapped in the fixture. */
    assert_int_equal(fixture_load("cnn_ttq_pc", &f), TERN_OK);
    fx_tensor *wp = (fx_tensor *)fixture_find(&f, "param.conv2.alpha"), *wn =
        (fx_tensor *)fixture_find(&f, "param.conv2.alpha_neg");
    assert_non_null(wp);
    assert_non_null(wn);
    double *tmp = wp->v;
    wp->v = wn->v;
    wn->v = tmp;
    assert_int_equal(run_fixture(&f, &f.quant, &r), TERN_OK);
    assert_true(r.bad > 0);
    fixture_free(&f);
}

/* ---- bad fixtures give clear errors --------------------------------------- */

static void expect_msg(const char *part) {
    if (!strstr(tern_errmsg(), part)) {
        print_error("message \"%s\" lacks \"%s\"\n", tern_errmsg(), part);
        fail();
    }
}

static tern_status parse_str(const char *s, fixture *f) {
    char *text = strdup(s);
    tern_status st = fixture_parse(text, "bad.txt", f);
    free(text);
    return st;
}

static void test_bad_fixtures(void **state) {
    (void)state;
    fixture f;
    assert_int_equal(fixture_load("no_such_fixture", &f), TERN_ERR_IO);
    expect_msg("no_such_fixture.txt");
    assert_int_equal(parse_str("tern-fixture 2\narch mlp\n", &f), TERN_ERR_FORMAT);
    expect_msg("bad.txt: not a tern fixture of version 1");
    assert_int_equal(parse_str("tern-fixture 1\narch mlp\nquant method=twm\nend\n", &f), TERN_ERR_FORMAT);
    expect_msg("bad.txt: quant setting method has a bad value 'twm'");
    assert_int_equal(parse_str("tern-fixture 1\narch mlp\nquant method=ttq\ntensor x 2 2 2\n1 2 3\nend\n", &f),
                     TERN_ERR_FORMAT);
    expect_msg("bad.txt: tensor x needs 4 values, value 3 is 'end'");
    assert_int_equal(parse_str("tern-fixture 1\narch mlp\nquant method=ttq\ntensor x 1 2\n1 2\n", &f),
                     TERN_ERR_FORMAT);
    expect_msg("expected 'tensor' or 'end', got '(end of file)'");
    /* A well-formed file whose header and tensors are read back. */
    assert_int_equal(parse_str("# c\ntern-fixture 1\narch cnn\nsetting s\nquant method=absmean ste=clipped clip=0.25"
                               " act_bits=8\nseed 3\ntensor y 2 1 3\n# c\n-1.5 0 2e-3\nend\n",
                               &f),
                     TERN_OK);
    assert_string_equal(f.arch, "cnn");
    assert_int_equal(f.quant.method, TERN_QUANT_ABSMEAN);
    assert_int_equal(f.quant.ste, TERN_STE_CLIPPED);
    assert_true(f.quant.clip == 0.25f && f.quant.act_bits == 8);
    assert_int_equal(f.count, 1);
    assert_true(f.t[0].v[0] == -1.5 && f.t[0].v[2] == 2e-3);
    fixture_free(&f);

    /* A parameter present on one side only: a closed-form fixture into a
     * model with learned scales, and the reverse. */
    cmp_result r;
    assert_int_equal(fixture_load("mlp_twn_pt", &f), TERN_OK);
    tern_quant_cfg q = f.quant;
    q.learned_alpha = 1;
    assert_int_equal(run_fixture(&f, &q, &r), TERN_ERR_FORMAT);
    expect_msg("the fixture lacks param.fc1.alpha");
    fixture_free(&f);
    assert_int_equal(fixture_load("mlp_twn_pc_learned", &f), TERN_OK);
    q = f.quant;
    q.learned_alpha = 0;
    assert_int_equal(run_fixture(&f, &q, &r), TERN_ERR_FORMAT);
    expect_msg("the fixture has param.fc1.alpha, which the model does not");
    fixture_free(&f);
}

int main(void) {
    /* One named test per fixture, then the checks of the check. */
    struct CMUnitTest tests[N_FIXTURES + 2];
    for (int i = 0; i < N_FIXTURES; i++)
        tests[i] = (struct CMUnitTest){
            .name = fixtures[i], .test_func = test_fixture, .initial_state = (void *)fixtures[i]};
    tests[N_FIXTURES] = (struct CMUnitTest)cmocka_unit_test(test_mismatches_are_caught);
    tests[N_FIXTURES + 1] = (struct CMUnitTest)cmocka_unit_test(test_bad_fixtures);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
