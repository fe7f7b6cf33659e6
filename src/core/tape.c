/* tape.c — the step context: arena, tape, sticky status, backward walk. */
#include "core/tape_impl.h"


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

tern_status tern_ctx_init(tern_ctx *c, size_t arena_bytes) {
    memset(c, 0, sizeof *c);
    tern_status st = tern_arena_init(&c->arena, arena_bytes);
    if (st) return st;
    c->cap_nodes = 256;
    c->nodes = malloc((size_t)c->cap_nodes * sizeof *c->nodes);
    if (!c->nodes) {
        tern_arena_free(&c->arena);
        return tern_error(TERN_ERR_NOMEM, "tape: cannot allocate %d nodes", c->cap_nodes);
    }
    c->training = 1;
    c->grad = 1;
    return TERN_OK;
}

void tern_ctx_free(tern_ctx *c) {
    tern_arena_free(&c->arena);
    free(c->nodes);
    free(c->zero_p);
    free(c->zero_n);
    free(c->scratch);
    memset(c, 0, sizeof *c);
}

void tern_ctx_reset(tern_ctx *c) {
    tern_arena_reset(&c->arena);
    c->n_nodes = 0;
    c->n_zero = 0;
    c->status = TERN_OK;
}

void tern_ctx_mode(tern_ctx *c, int training, int grad) {
    c->training = training;
    c->grad = grad;
}

void *tern_ctx_fail(tern_ctx *c, tern_status code, const char *fmt, ...) {
    if (c->status == TERN_OK) { /* keep the first error: it is the cause */
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        c->status = tern_error(code, "%s", msg);
    }
    return NULL;
}

void *tern_ctx_alloc(tern_ctx *c, size_t bytes) {
    void *p = tern_arena_alloc(&c->arena, bytes);
    if (!p) tern_ctx_fail(c, TERN_ERR_NOMEM, "%s", tern_errmsg());
    return p;
}

tern_status tern_ctx_reserve_scratch(tern_ctx *c, size_t bytes) {
    if (c->pool) {
        if (tern_pool_reserve(c->pool, bytes)) tern_ctx_fail(c, TERN_ERR_NOMEM, "%s", tern_errmsg());
        return c->status;
    }
    if (bytes <= c->scratch_bytes) return c->status;
    bytes = (bytes + 63) & ~(size_t)63;
    void *s = aligned_alloc(64, bytes);
    if (!s) {
        tern_ctx_fail(c, TERN_ERR_NOMEM, "tape: cannot allocate %zu bytes of kernel scratch", bytes);
        return c->status;
    }
    free(c->scratch);
    c->scratch = s;
    c->scratch_bytes = bytes;
    return c->status;
}

void *tern_ctx_scratch(const tern_ctx *c, int thread) {
    return c->pool ? tern_pool_scratch(c->pool, thread) : c->scratch;
}

tern_tensor *tern_ctx_tensor(tern_ctx *c, int ndim, const int *shape, int with_grad) {
    size_t n = tern_shape_numel(ndim, shape);
    if (n == 0) return tern_ctx_fail(c, TERN_ERR_SHAPE, "tensor: invalid shape with %d dims", ndim);
    tern_tensor *t = tern_ctx_alloc(c, sizeof *t);
    if (!t) return NULL;
    float *data = tern_ctx_alloc(c, n * sizeof(float));
    if (!data) return NULL;
    float *grad = NULL;
    if (with_grad && c->grad) {
        grad = tern_ctx_alloc(c, n * sizeof(float));
        if (!grad) return NULL;
        if (c->n_zero == c->cap_zero) {
            /* Grows only while the first steps discover the graph size. */
            int cap = c->cap_zero ? 2 * c->cap_zero : 64;
            float **p = realloc(c->zero_p, (size_t)cap * sizeof *p);
            if (p) c->zero_p = p;
            size_t *z = realloc(c->zero_n, (size_t)cap * sizeof *z);
            if (z) c->zero_n = z;
            if (!p || !z) return tern_ctx_fail(c, TERN_ERR_NOMEM, "tape: cannot grow the grad list to %d", cap);
            c->cap_zero = cap;
        }
        c->zero_p[c->n_zero] = grad;
        c->zero_n[c->n_zero++] = n;
    }
    *t = tern_tensor_view(data, grad, ndim, shape);
    return t;
}

int tern_ctx_wants_grad(const tern_ctx *c, const tern_tensor *a, const tern_tensor *b,
                        const tern_tensor *d, const tern_tensor *e) {
    if (!c->grad) return 0;
    return (a && a->grad) || (b && b->grad) || (d && d->grad) || (e && e->grad);
}

tern_tensor *tern_ctx_apply(tern_ctx *c, const tern_op_def *op, tern_tensor *out, void *state,
                            tern_tensor *in0, tern_tensor *in1, tern_tensor *in2, tern_tensor *in3) {
    if (!out || c->status) return NULL;
    tern_node n = {.op = op, .ctx = c, .in = {in0, in1, in2, in3}, .out = out, .state = state};
    op->forward(&n);
    if (c->grad && out->grad) {
        if (c->n_nodes == c->cap_nodes) {
            /* Grows only while the first steps discover the graph size. */
            int cap = c->cap_nodes * 2;
            tern_node *nodes = realloc(c->nodes, (size_t)cap * sizeof *nodes);
            if (!nodes) return tern_ctx_fail(c, TERN_ERR_NOMEM, "tape: cannot grow to %d nodes", cap);
            c->nodes = nodes;
            c->cap_nodes = cap;
        }
        c->nodes[c->n_nodes++] = n;
    }
    return out;
}

tern_status tern_backward(tern_ctx *c, tern_tensor *loss) {
    if (c->status) return c->status;
    if (!loss) return tern_error(TERN_ERR_ARG, "backward: loss is NULL");
    if (loss->n != 1 || !loss->grad)
        return tern_error(TERN_ERR_ARG, "backward: loss must be a scalar that requires grad (n=%zu, grad=%s)",
                          loss->n, loss->grad ? "yes" : "no");
    const float one = 1.0f;
    return tern_backward_seeded(c, loss, &one);
}

/* Clearing the step's activation grads: task t zeroes its share of all
 * their floats, taken as one sequence. */
#define ZERO_TASKS 8
static void zero_grads_part(void *arg, int task, int thread) {
    (void)thread;
    const tern_ctx *c = arg;
    size_t total = 0, lo, hi, at = 0;
    for (int i = 0; i < c->n_zero; i++) total += c->zero_n[i];
    tern_pool_range(total, ZERO_TASKS, task, &lo, &hi);
    for (int i = 0; i < c->n_zero && at < hi; at += c->zero_n[i++]) {
        size_t a = lo > at ? lo - at : 0, b = hi - at < c->zero_n[i] ? hi - at : c->zero_n[i];
        if (a < b) memset(c->zero_p[i] + a, 0, (b - a) * sizeof(float));
    }
}

tern_status tern_backward_seeded(tern_ctx *c, tern_tensor *out, const float *seed) {
    if (c->status) return c->status;
    if (!out || !out->grad || !seed) return tern_error(TERN_ERR_ARG, "backward: output has no grad to seed");
    if (c->n_zero) {
        tern_pool_for(c->pool, ZERO_TASKS, 0, zero_grads_part, c);
        c->n_zero = 0; /* a second backward on the same tape accumulates, as ops do */
    }
    for (size_t i = 0; i < out->n; i++) out->grad[i] += seed[i];
    for (int i = c->n_nodes - 1; i >= 0 && !c->status; i--) { /* a backward may fail (batchnorm's sum over ranks) */
        tern_node *n = &c->nodes[i];
        n->op->backward(n);
    }
    return c->status;
}
