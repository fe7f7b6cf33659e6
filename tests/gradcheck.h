/* gradcheck.h — central finite differences against the tape's backward.
 *
 * For an op y = f(x_1..x_k), take L = sum(R .* y) with a fixed random R.
 * The analytic dL/dx_i comes from tern_backward_seeded(y, R); the numeric one
 * from (L(x + h e_j) - L(x - h e_j)) / 2h in double. Every input that has a
 * grad buffer is checked (up to `max_per_input` coordinates, spread over the
 * tensor). A coordinate passes when |a - n| <= atol + rtol * max(|a|, |n|).
 *
 * Header-only, for tests. */
#ifndef TERN_TEST_GRADCHECK_H
#define TERN_TEST_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern.h"

/* Builds the op under test from inputs in[0..n_in); returns y or NULL. */
typedef tern_tensor *(*gc_forward_fn)(tern_ctx *c, tern_tensor **in, void *arg);

typedef struct gc_opts {
    double h;             /* step; 1e-2 suits float32 ops of O(1) values */
    double rtol, atol;
    int max_per_input;    /* coordinates checked per input (0: all) */
    int training;         /* ctx->training during the check */
    uint64_t rng_seed;    /* ctx->rng is reseeded before every forward */
} gc_opts;

static inline gc_opts gc_default_opts(void) {
    gc_opts o = {.h = 1e-2, .rtol = 1e-2, .atol = 1e-3, .max_per_input = 64, .training = 1, .rng_seed = 7};
    return o;
}

/* Fill with uniform values in [lo, hi). */
static inline void gc_fill(tern_tensor *t, tern_rng *r, float lo, float hi) {
    for (size_t i = 0; i < t->n; i++) t->data[i] = lo + (hi - lo) * tern_rng_uniform(r);
}

/* A heap tensor (data and grad), for test inputs. Free with gc_free. */
static inline tern_tensor *gc_tensor(int ndim, const int *shape, int with_grad) {
    tern_tensor *t = calloc(1, sizeof *t);
    size_t n = tern_shape_numel(ndim, shape);
    *t = tern_tensor_view(calloc(n, sizeof(float)), with_grad ? calloc(n, sizeof(float)) : NULL, ndim, shape);
    return t;
}

static inline void gc_free(tern_tensor *t) {
    if (!t) return;
    free(t->data);
    free(t->grad);
    free(t);
}

static inline double gc_loss(tern_ctx *c, tern_rng *rng, gc_opts *o, gc_forward_fn f, tern_tensor **in, void *arg,
                             const float *R, int *ok) {
    tern_ctx_reset(c);
    tern_ctx_mode(c, o->training, 0);
    tern_rng_seed(rng, o->rng_seed);
    tern_tensor *y = f(c, in, arg);
    if (!y) {
        *ok = 0;
        return 0.0;
    }
    double L = 0.0;
    for (size_t i = 0; i < y->n; i++) L += (double)R[i] * (double)y->data[i];
    return L;
}

/* Returns the number of failing coordinates (0 = pass); -1 when the op
 * itself failed. Prints the first failures to stderr. */
static inline int gradcheck(gc_forward_fn f, tern_tensor **in, int n_in, void *arg, gc_opts o) {
    tern_ctx c;
    tern_rng rng;
    if (tern_ctx_init(&c, 0)) return -1;
    c.rng = &rng;

    /* Analytic pass. */
    tern_ctx_mode(&c, o.training, 1);
    tern_rng_seed(&rng, o.rng_seed);
    for (int k = 0; k < n_in; k++)
        if (in[k] && in[k]->grad) memset(in[k]->grad, 0, in[k]->n * sizeof(float));
    tern_tensor *y = f(&c, in, arg);
    if (!y) {
        fprintf(stderr, "gradcheck: forward failed: %s\n", tern_errmsg());
        tern_ctx_free(&c);
        return -1;
    }
    size_t ny = y->n;
    float *R = malloc(ny * sizeof(float));
    tern_rng rr;
    tern_rng_seed(&rr, 12345);
    for (size_t i = 0; i < ny; i++) R[i] = 2.0f * tern_rng_uniform(&rr) - 1.0f;
    if (tern_backward_seeded(&c, y, R)) {
        fprintf(stderr, "gradcheck: backward failed: %s\n", tern_errmsg());
        free(R);
        tern_ctx_free(&c);
        return -1;
    }
    /* Keep the analytic grads: the numeric passes reuse the ctx. */
    float **ana = calloc((size_t)n_in, sizeof *ana);
    for (int k = 0; k < n_in; k++)
        if (in[k] && in[k]->grad) {
            ana[k] = malloc(in[k]->n * sizeof(float));
            memcpy(ana[k], in[k]->grad, in[k]->n * sizeof(float));
        }

    int bad = 0, ok = 1;
    for (int k = 0; k < n_in && ok; k++) {
        if (!ana[k]) continue;
        tern_tensor *x = in[k];
        size_t count = (o.max_per_input > 0 && x->n > (size_t)o.max_per_input) ? (size_t)o.max_per_input : x->n;
        for (size_t s = 0; s < count && ok; s++) {
            size_t j = count == x->n ? s : (s * x->n) / count + (s * 7919) % (x->n / count);
            float orig = x->data[j];
            x->data[j] = (float)(orig + o.h);
            double Lp = gc_loss(&c, &rng, &o, f, in, arg, R, &ok);
            x->data[j] = (float)(orig - o.h);
            double Lm = gc_loss(&c, &rng, &o, f, in, arg, R, &ok);
            x->data[j] = orig;
            /* The actual step taken in float, not the nominal h. */
            double hp = (double)(float)(orig + o.h) - orig, hm = orig - (double)(float)(orig - o.h);
            double num = (Lp - Lm) / (hp + hm);
            double a = ana[k][j];
            double tol = o.atol + o.rtol * fmax(fabs(a), fabs(num));
            if (!(fabs(a - num) <= tol)) {
                if (bad < 5)
                    fprintf(stderr, "gradcheck: input %d [%zu]: analytic %.6g numeric %.6g (tol %.3g)\n", k, j, a,
                            num, tol);
                bad++;
            }
        }
    }
    if (!ok) fprintf(stderr, "gradcheck: forward failed in a numeric pass: %s\n", tern_errmsg());
    for (int k = 0; k < n_in; k++) free(ana[k]);
    free(ana);
    free(R);
    tern_ctx_free(&c);
    return ok ? bad : -1;
}

#endif
