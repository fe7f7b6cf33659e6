/* add.c — residual add, and the reshape/flatten views that need no node. */
#include "ops_impl.h"

tern_tensor *tern_add(tern_ctx *c, tern_tensor *a, tern_tensor *b) {
    if (!a || !b || c->status) return NULL;
    if (!tern_tensor_same_shape(a, b)) {
        char sa[TERN_SHAPE_STR_LEN], sb[TERN_SHAPE_STR_LEN];
        return tern_ctx_fail(c, TERN_ERR_SHAPE, "add: %s does not match %s", SHAPE(a, sa), SHAPE(b, sb));
    }
    tern_tensor *y = tern_ctx_tensor(c, a->ndim, a->shape, tern_ctx_wants_grad(c, a, b, NULL, NULL));
    return tern_ctx_apply(c, &tern_op_add, y, NULL, a, b, NULL, NULL);
}

void tern_add_forward(tern_node *n) {
    const float *a = n->in[0]->data, *b = n->in[1]->data;
    float *y = n->out->data;
    for (size_t i = 0; i < n->out->n; i++) y[i] = a[i] + b[i];
}

void tern_add_backward(tern_node *n) {
    const float *dy = n->out->grad;
    for (int k = 0; k < 2; k++) {
        tern_tensor *x = n->in[k];
        if (x->grad)
            for (size_t i = 0; i < x->n; i++) x->grad[i] += dy[i];
    }
}

TERN_OP_DEFINE(add);

tern_tensor *tern_reshape(tern_ctx *c, tern_tensor *x, int ndim, const int *shape) {
    if (!x || c->status) return NULL;
    size_t n = tern_shape_numel(ndim, shape);
    if (n != x->n) {
        char sx[TERN_SHAPE_STR_LEN];
        return tern_ctx_fail(c, TERN_ERR_SHAPE, "reshape: %s has %zu elements, the new shape (%d dims) %zu",
                             SHAPE(x, sx), x->n, ndim, n);
    }
    tern_tensor *y = tern_ctx_alloc(c, sizeof *y);
    if (!y) return NULL;
    /* Same data, same grad: the gradient of a view is the gradient of x. */
    *y = tern_tensor_view(x->data, x->grad, ndim, shape);
    return y;
}

tern_tensor *tern_flatten(tern_ctx *c, tern_tensor *x) {
    if (!x || c->status) return NULL;
    int shape[2] = {x->shape[0], (int)(x->n / (size_t)x->shape[0])};
    return tern_reshape(c, x, 2, shape);
}
