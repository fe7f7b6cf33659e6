/* softmax_xent.c — fused, stable softmax cross-entropy (mean over the batch). */
#include <math.h>

#include "ops_impl.h"

typedef struct {
    const int *labels;  /* (N) */
    float *prob;        /* (N,K) softmax, saved for backward */
} xent_state;

tern_tensor *tern_softmax_xent(tern_ctx *c, tern_tensor *logits, const int *labels) {
    if (!logits || c->status) return NULL;
    char sz[TERN_SHAPE_STR_LEN];
    if (logits->ndim != 2)
        return tern_ctx_fail(c, TERN_ERR_SHAPE, "softmax_xent: logits %s must be (N,K)", SHAPE(logits, sz));
    if (!labels) return tern_ctx_fail(c, TERN_ERR_ARG, "softmax_xent: labels are NULL");
    int N = logits->shape[0], K = logits->shape[1];
    for (int i = 0; i < N; i++)
        if (labels[i] < 0 || labels[i] >= K)
            return tern_ctx_fail(c, TERN_ERR_ARG, "softmax_xent: label %d of row %d is outside [0,%d)", labels[i],
                                 i, K);
    xent_state *s = tern_ctx_alloc(c, sizeof *s);
    if (!s) return NULL;
    s->labels = labels;
    s->prob = tern_ctx_alloc(c, logits->n * sizeof(float));
    if (!s->prob) return NULL;
    int one = 1;
    tern_tensor *loss = tern_ctx_tensor(c, 1, &one, tern_ctx_wants_grad(c, logits, NULL, NULL, NULL));
    return tern_ctx_apply(c, &tern_op_softmax_xent, loss, s, logits, NULL, NULL, NULL);
}

void tern_softmax_xent_forward(tern_node *n) {
    xent_state *s = n->state;
    const tern_tensor *z = n->in[0];
    int N = z->shape[0], K = z->shape[1];
    double total = 0.0;
    for (int i = 0; i < N; i++) {
        const float *zi = z->data + (size_t)i * K;
        float *pi = s->prob + (size_t)i * K;
        float m = zi[0];
        for (int k = 1; k < K; k++) m = zi[k] > m ? zi[k] : m;
        float sum = 0.0f;
        for (int k = 0; k < K; k++) sum += pi[k] = expf(zi[k] - m);
        float inv = 1.0f / sum;
        for (int k = 0; k < K; k++) pi[k] *= inv;
        /* logsumexp(z) - z[y] = log(sum) + m - z[y] */
        total += (double)logf(sum) + (double)(m - zi[s->labels[i]]);
    }
    n->out->data[0] = (float)(total / N);
}

void tern_softmax_xent_backward(tern_node *n) {
    const xent_state *s = n->state;
    tern_tensor *z = n->in[0];
    if (!z->grad) return;
    int N = z->shape[0], K = z->shape[1];
    float g = n->out->grad[0] / (float)N;
    for (int i = 0; i < N; i++) {
        const float *pi = s->prob + (size_t)i * K;
        float *dz = z->grad + (size_t)i * K;
        for (int k = 0; k < K; k++) dz[k] += g * (pi[k] - (k == s->labels[i] ? 1.0f : 0.0f));
    }
}

TERN_OP_DEFINE(softmax_xent);

int tern_count_correct(const tern_tensor *logits, const int *labels) {
    int N = logits->shape[0], K = logits->shape[1], correct = 0;
    for (int i = 0; i < N; i++) {
        const float *zi = logits->data + (size_t)i * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (zi[k] > zi[best]) best = k;
        correct += best == labels[i];
    }
    return correct;
}
