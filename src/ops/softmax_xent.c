/* softmax_xent.c — fused, stable softmax cross-entropy (mean over the batch),
 * with label smoothing and knowledge distillation from a teacher's logits
 * as options of the same op (tern_xent_loss in tern/ops.h). */
#include <math.h>

#include "ops_impl.h"

typedef struct {
    const int *labels;  /* (N) */
    tern_xent_cfg cfg;  /* a copy; cfg.teacher (N,K) is the caller's */
    float *dz;          /* (N,K) d(loss of row n)/dz, saved for backward (the mean's 1/N comes there) */
    float *ps, *pt;     /* (K) each, distillation only: softmax(z/T) and softmax(t/T) of a row */
} xent_state;

static const tern_xent_cfg plain_ce;

/* Into p (K): softmax(z / T); *max = max z; returns log sum_k exp((z[k] - max) / T),
 * so that lse(z / T) = that + max / T. */
static double softmax_row(const float *z, int K, float T, float *p, float *max) {
    float m = z[0];
    for (int k = 1; k < K; k++) m = z[k] > m ? z[k] : m;
    float sum = 0.0f;
    if (T == 1.0f)
        for (int k = 0; k < K; k++) sum += p[k] = expf(z[k] - m);
    else
        for (int k = 0; k < K; k++) sum += p[k] = expf((z[k] - m) / T);
    float inv = 1.0f / sum;
    for (int k = 0; k < K; k++) p[k] *= inv;
    *max = m;
    return (double)logf(sum);
}

tern_tensor *tern_xent_loss(tern_ctx *c, tern_tensor *logits, const int *labels, const tern_xent_cfg *cfg) {
    if (!logits || c->status) return NULL;
    if (!cfg) cfg = &plain_ce;
    char sz[TERN_SHAPE_STR_LEN];
    if (logits->ndim != 2)
        return tern_ctx_fail(c, TERN_ERR_SHAPE, "softmax_xent: logits %s must be (N,K)", SHAPE(logits, sz));
    if (!labels) return tern_ctx_fail(c, TERN_ERR_ARG, "softmax_xent: labels are NULL");
    if (!(cfg->label_smoothing >= 0.0f && cfg->label_smoothing < 1.0f))
        return tern_ctx_fail(c, TERN_ERR_ARG, "softmax_xent: label_smoothing %g is outside [0, 1)",
                             cfg->label_smoothing);
    if (cfg->teacher && !(cfg->temperature > 0.0f && cfg->temperature < INFINITY))
        return tern_ctx_fail(c, TERN_ERR_ARG, "softmax_xent: distillation temperature %g must be finite and > 0",
                             cfg->temperature);
    if (cfg->teacher && !(cfg->weight >= 0.0f && cfg->weight <= 1.0f))
        return tern_ctx_fail(c, TERN_ERR_ARG, "softmax_xent: distillation weight %g is outside [0, 1]", cfg->weight);
    int N = logits->shape[0], K = logits->shape[1];
    if (cfg->mean_over != 0 && cfg->mean_over < N)
        return tern_ctx_fail(c, TERN_ERR_ARG, "softmax_xent: mean_over %d is less than the batch's %d rows",
                             cfg->mean_over, N);
    for (int i = 0; i < N; i++)
        if (labels[i] < 0 || labels[i] >= K)
            return tern_ctx_fail(c, TERN_ERR_ARG, "softmax_xent: label %d of row %d is outside [0,%d)", labels[i],
                                 i, K);
    xent_state *s = tern_ctx_alloc(c, sizeof *s);
    if (!s) return NULL;
    s->labels = labels;
    s->cfg = *cfg;
    s->dz = tern_ctx_alloc(c, logits->n * sizeof(float));
    if (!s->dz) return NULL;
    s->ps = s->pt = NULL;
    if (cfg->teacher) {
        s->ps = tern_ctx_alloc(c, 2 * (size_t)K * sizeof(float));
        if (!s->ps) return NULL;
        s->pt = s->ps + K;
    }
    int one = 1;
    tern_tensor *loss = tern_ctx_tensor(c, 1, &one, tern_ctx_wants_grad(c, logits, NULL, NULL, NULL));
    return tern_ctx_apply(c, &tern_op_softmax_xent, loss, s, logits, NULL, NULL, NULL);
}

tern_tensor *tern_softmax_xent(tern_ctx *c, tern_tensor *logits, const int *labels) {
    return tern_xent_loss(c, logits, labels, NULL);
}

/* Row i's distillation term w T^2 KL(pt || ps) into the return value, and
 * dz = (1 - w) dz + w T (ps - pt). 0 log 0 counts as 0 (torch's xlogy). */
static double distill_row(xent_state *s, const float *z, const float *t, int K, float *dz) {
    const float T = s->cfg.temperature, w = s->cfg.weight;
    float ms, mt;
    double lse_s = softmax_row(z, K, T, s->ps, &ms), lse_t = softmax_row(t, K, T, s->pt, &mt);
    lse_s += (double)ms / T;
    lse_t += (double)mt / T;
    double kl = 0.0;
    for (int k = 0; k < K; k++) {
        if (s->pt[k] > 0.0f)
            kl += (double)s->pt[k] * (((double)t[k] / T - lse_t) - ((double)z[k] / T - lse_s));
        dz[k] = (1.0f - w) * dz[k] + w * T * (s->ps[k] - s->pt[k]);
    }
    return (double)w * T * T * kl;
}

void tern_softmax_xent_forward(tern_node *n) {
    xent_state *s = n->state;
    const tern_tensor *z = n->in[0];
    int N = z->shape[0], K = z->shape[1];
    const float eps = s->cfg.label_smoothing, w = s->cfg.weight;
    double total = 0.0;
    for (int i = 0; i < N; i++) {
        const float *zi = z->data + (size_t)i * K;
        float *dz = s->dz + (size_t)i * K;
        const int y = s->labels[i];
        float m;
        double log_sum = softmax_row(zi, K, 1.0f, dz, &m);
        /* logsumexp(z) - z[y] = log(sum) + m - z[y]; dz = softmax(z) - onehot */
        double ce = log_sum + (double)(m - zi[y]);
        dz[y] -= 1.0f;
        if (eps > 0.0f) {
            /* target (1 - eps) onehot + eps/K: ce = (1 - eps)(lse - z[y]) + eps (lse - mean z) */
            double zsum = 0.0;
            for (int k = 0; k < K; k++) {
                zsum += zi[k];
                dz[k] -= eps / (float)K;
            }
            dz[y] += eps;
            ce = (1.0 - eps) * ce + eps * (log_sum + (double)m - zsum / K);
        }
        if (s->cfg.teacher) ce = (1.0 - w) * ce + distill_row(s, zi, s->cfg.teacher + (size_t)i * K, K, dz);
        total += ce;
    }
    n->out->data[0] = (float)(total / (s->cfg.mean_over ? s->cfg.mean_over : N));
}

void tern_softmax_xent_backward(tern_node *n) {
    const xent_state *s = n->state;
    tern_tensor *z = n->in[0];
    if (!z->grad) return;
    float g = n->out->grad[0] / (float)(s->cfg.mean_over ? s->cfg.mean_over : z->shape[0]);
    for (size_t j = 0; j < z->n; j++) z->grad[j] += g * s->dz[j];
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
