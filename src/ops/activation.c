/* activation.c — relu, hardtanh, dropout: elementwise, forward beside backward. */
#include <string.h>

#include "ops_impl.h"
#include "tern/pool.h"

/* relu runs as up to 8 tasks of at least ELEM_TASK_MIN floats each (below
 * that a task costs more than it saves); elementwise, so any cut gives the
 * same bits. */
#define ELEM_TASK_MIN 16384
#define ELEM_TASKS_MAX 8

static int elem_tasks(size_t n) {
    size_t t = n / ELEM_TASK_MIN;
    return t < 1 ? 1 : t > ELEM_TASKS_MAX ? ELEM_TASKS_MAX : (int)t;
}

static tern_tensor *like(tern_ctx *c, tern_tensor *x) {
    return tern_ctx_tensor(c, x->ndim, x->shape, tern_ctx_wants_grad(c, x, NULL, NULL, NULL));
}

/* ---- relu: y = max(x, 0) ------------------------------------------------- */

tern_tensor *tern_relu(tern_ctx *c, tern_tensor *x) {
    if (!x || c->status) return NULL;
    return tern_ctx_apply(c, &tern_op_relu, like(c, x), NULL, x, NULL, NULL, NULL);
}

static void relu_forward_part(void *arg, int task, int thread) {
    (void)thread;
    tern_node *n = arg;
    const float *x = n->in[0]->data;
    float *y = n->out->data;
    size_t lo, hi;
    tern_pool_range(n->out->n, elem_tasks(n->out->n), task, &lo, &hi);
    /* x < 0 ? 0 : x lets a NaN through, as PyTorch does: a NaN must reach
     * the loss, where the trainer stops, not vanish here. */
    for (size_t i = lo; i < hi; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

void tern_relu_forward(tern_node *n) { tern_pool_for(n->ctx->pool, elem_tasks(n->out->n), 0, relu_forward_part, n); }

static void relu_backward_part(void *arg, int task, int thread) {
    (void)thread;
    tern_node *n = arg;
    float *dx = n->in[0]->grad;
    size_t lo, hi;
    tern_pool_range(n->out->n, elem_tasks(n->out->n), task, &lo, &hi);
    /* dL/dx = dL/dy where y > 0; the forward output says where. */
    const float *y = n->out->data, *dy = n->out->grad;
    for (size_t i = lo; i < hi; i++) dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
}

void tern_relu_backward(tern_node *n) {
    if (n->in[0]->grad) tern_pool_for(n->ctx->pool, elem_tasks(n->out->n), 0, relu_backward_part, n);
}

TERN_OP_DEFINE(relu);

/* ---- hardtanh: y = clamp(x, lo, hi) -------------------------------------- */

typedef struct {
    float lo, hi;
} hardtanh_state;

tern_tensor *tern_hardtanh(tern_ctx *c, tern_tensor *x, float lo, float hi) {
    if (!x || c->status) return NULL;
    if (!(lo < hi)) return tern_ctx_fail(c, TERN_ERR_ARG, "hardtanh: lo %g must be below hi %g", lo, hi);
    hardtanh_state *s = tern_ctx_alloc(c, sizeof *s);
    if (!s) return NULL;
    s->lo = lo;
    s->hi = hi;
    return tern_ctx_apply(c, &tern_op_hardtanh, like(c, x), s, x, NULL, NULL, NULL);
}

void tern_hardtanh_forward(tern_node *n) {
    const hardtanh_state *s = n->state;
    const float *x = n->in[0]->data;
    float *y = n->out->data;
    for (size_t i = 0; i < n->out->n; i++) y[i] = x[i] < s->lo ? s->lo : (x[i] > s->hi ? s->hi : x[i]);
}

void tern_hardtanh_backward(tern_node *n) {
    const hardtanh_state *s = n->state;
    tern_tensor *x = n->in[0];
    if (!x->grad) return;
    const float *dy = n->out->grad;
    for (size_t i = 0; i < x->n; i++)
        if (x->data[i] > s->lo && x->data[i] < s->hi) x->grad[i] += dy[i];
}

TERN_OP_DEFINE(hardtanh);

/* ---- dropout: y = x m / (1 - p) ------------------------------------------ */

typedef struct {
    float scale;   /* 1 / (1 - p) */
    float *mask;   /* (n): 0 or scale, drawn at forward */
} dropout_state;

tern_tensor *tern_dropout(tern_ctx *c, tern_tensor *x, float p) {
    if (!x || c->status) return NULL;
    if (!(p >= 0.0f && p < 1.0f)) return tern_ctx_fail(c, TERN_ERR_ARG, "dropout: p = %g is outside [0, 1)", p);
    if (!c->training || p == 0.0f) return x;
    if (!c->rng) return tern_ctx_fail(c, TERN_ERR_ARG, "dropout: training needs ctx->rng");
    dropout_state *s = tern_ctx_alloc(c, sizeof *s);
    if (!s) return NULL;
    s->scale = 1.0f / (1.0f - p);
    s->mask = tern_ctx_alloc(c, x->n * sizeof(float));
    if (!s->mask) return NULL;
    for (size_t i = 0; i < x->n; i++) s->mask[i] = tern_rng_uniform(c->rng) < p ? 0.0f : s->scale;
    return tern_ctx_apply(c, &tern_op_dropout, like(c, x), s, x, NULL, NULL, NULL);
}

void tern_dropout_forward(tern_node *n) {
    const dropout_state *s = n->state;
    const float *x = n->in[0]->data;
    float *y = n->out->data;
    for (size_t i = 0; i < n->out->n; i++) y[i] = x[i] * s->mask[i];
}

void tern_dropout_backward(tern_node *n) {
    const dropout_state *s = n->state;
    tern_tensor *x = n->in[0];
    if (!x->grad) return;
    for (size_t i = 0; i < x->n; i++) x->grad[i] += n->out->grad[i] * s->mask[i];
}

TERN_OP_DEFINE(dropout);
