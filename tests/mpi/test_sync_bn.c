/* test_sync_bn.c — synchronised batchnorm (tern_ctx.sync_bn) on the ranks
 * of `mpiexec -n 2` (or more).
 *
 * A global batch is cut into uneven shares (rank r has 3 + 2r rows, so a
 * mean of the ranks' means would be wrong); every rank runs the op on its
 * share with sync, and the one-process op on the whole batch. A fixed
 * upstream grad G over the whole batch is scaled by 1 / B as the trainer's
 * loss (tern_xent_cfg.mean_over) scales it, so the ranks' parameter grads
 * add up to the batch's. Compared: y and dx rows, the running statistics,
 * the summed dgamma and dbeta; the same bits on a rerun with worker
 * threads; eval and sync_bn = 0 exactly the one-process op on the rows. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gradcheck.h"

static tern_comm *comm;

typedef struct {
    int ndim, C, H, W; /* (N,C) when ndim is 2 */
    int relu;          /* tern_batchnorm_relu */
} bn_layout;

/* The whole batch and the op's parameters, the same on every rank. */
typedef struct {
    int B, per;                /* rows; floats per row */
    float *x, *g;              /* (B, per) input; upstream grad already / B */
    float *gamma, *beta;       /* (C) */
    float *rmean, *rvar;       /* (C) running statistics before the step */
} bn_batch;

/* What one step gives back: y and dx of the rows, the parameter grads and the running statistics. */
typedef struct {
    float *y, *dx;             /* (n, per) */
    float *dgamma, *dbeta;     /* (C) */
    float *rmean, *rvar;       /* (C) after the step */
} bn_out;

static bn_batch batch_make(const bn_layout *L, int B) {
    bn_batch b = {.B = B, .per = L->C * (L->ndim == 4 ? L->H * L->W : 1)};
    size_t n = (size_t)B * b.per;
    b.x = malloc(n * sizeof(float));
    b.g = malloc(n * sizeof(float));
    b.gamma = malloc(4 * (size_t)L->C * sizeof(float));
    b.beta = b.gamma + L->C, b.rmean = b.beta + L->C, b.rvar = b.rmean + L->C;
    tern_rng r;
    tern_rng_seed(&r, 77 + (uint64_t)L->C);
    /* Per-channel offsets and scales, so each channel has its own statistics. */
    for (size_t i = 0; i < n; i++) {
        int ch = (int)(i % (size_t)b.per) / (b.per / L->C);
        b.x[i] = (tern_rng_uniform(&r) - 0.5f) * (0.5f + 0.3f * (float)(ch % 7)) + 0.25f * (float)(ch % 5) - 0.4f;
        b.g[i] = (tern_rng_uniform(&r) - 0.5f) / (float)B;
    }
    for (int ch = 0; ch < L->C; ch++) {
        b.gamma[ch] = 0.5f + tern_rng_uniform(&r);
        b.beta[ch] = tern_rng_uniform(&r) - 0.5f;
        b.rmean[ch] = 0.6f * tern_rng_uniform(&r) - 0.3f;
        b.rvar[ch] = 0.5f + 1.5f * tern_rng_uniform(&r);
    }
    return b;
}

static void batch_free(bn_batch *b) {
    free(b->x), free(b->g), free(b->gamma);
}

static void out_free(bn_out *o) {
    free(o->y), free(o->dx), free(o->dgamma);
}

/* One forward and backward of the op on rows [row, row + n) of the batch,
 * in a ctx with this comm, sync_bn, mode and pool. */
static bn_out run(const bn_layout *L, const bn_batch *b, int row, int n, const tern_comm *cm, int sync,
                  int training, tern_pool *pool) {
    int C = L->C, shape[4] = {n, C, L->H, L->W};
    size_t len = (size_t)n * b->per;
    tern_tensor *x = gc_tensor(L->ndim, shape, 1), *gamma = gc_tensor(1, &C, 1), *beta = gc_tensor(1, &C, 1);
    tern_tensor *rmean = gc_tensor(1, &C, 0), *rvar = gc_tensor(1, &C, 0);
    memcpy(x->data, b->x + (size_t)row * b->per, len * sizeof(float));
    memcpy(gamma->data, b->gamma, C * sizeof(float));
    memcpy(beta->data, b->beta, C * sizeof(float));
    memcpy(rmean->data, b->rmean, C * sizeof(float));
    memcpy(rvar->data, b->rvar, C * sizeof(float));
    tern_ctx c;
    assert_int_equal(tern_ctx_init(&c, 0), TERN_OK);
    c.comm = cm;
    c.sync_bn = sync;
    c.pool = pool;
    tern_ctx_mode(&c, training, 1);
    tern_tensor *y = (L->relu ? tern_batchnorm_relu : tern_batchnorm)(&c, x, gamma, beta, rmean, rvar, 0.1f, 1e-5f);
    if (!y) fail_msg("%s", tern_errmsg());
    if (tern_backward_seeded(&c, y, b->g + (size_t)row * b->per)) fail_msg("%s", tern_errmsg());
    bn_out o = {.y = malloc(len * sizeof(float)), .dx = malloc(len * sizeof(float)),
                .dgamma = malloc(4 * (size_t)C * sizeof(float))};
    o.dbeta = o.dgamma + C, o.rmean = o.dbeta + C, o.rvar = o.rmean + C;
    memcpy(o.y, y->data, len * sizeof(float));
    memcpy(o.dx, x->grad, len * sizeof(float));
    memcpy(o.dgamma, gamma->grad, C * sizeof(float));
    memcpy(o.dbeta, beta->grad, C * sizeof(float));
    memcpy(o.rmean, rmean->data, C * sizeof(float));
    memcpy(o.rvar, rvar->data, C * sizeof(float));
    tern_ctx_free(&c);
    gc_free(x), gc_free(gamma), gc_free(beta), gc_free(rmean), gc_free(rvar);
    return o;
}

/* a[i] within 1e-5 of want[i], relative to want's largest magnitude (NaN fails). */
static void check_close(const char *what, const float *a, const float *want, size_t n) {
    double big = 0.0;
    for (size_t i = 0; i < n; i++) big = fmax(big, fabs((double)want[i]));
    for (size_t i = 0; i < n; i++)
        if (!(fabs((double)a[i] - want[i]) <= 1e-5 * big))
            fail_msg("rank %d: %s[%zu] = %.9g, want %.9g (largest %g)", tern_comm_rank(comm), what, i, a[i], want[i],
                     big);
}

/* Rank r holds rows [off, off + n) of a batch where rank k has base + step k rows. */
static void check_sync(const bn_layout *L, int base, int step) {
    const int N = tern_comm_size(comm), r = tern_comm_rank(comm), C = L->C;
    int B = 0, off = 0;
    for (int k = 0; k < N; k++) B += base + step * k;
    for (int k = 0; k < r; k++) off += base + step * k;
    const int n = base + step * r;
    bn_batch b = batch_make(L, B);
    const size_t len = (size_t)n * b.per, rows0 = (size_t)off * b.per, csz = C * sizeof(float);

    bn_out whole = run(L, &b, 0, B, NULL, 0, 1, NULL);
    bn_out mine = run(L, &b, off, n, comm, 1, 1, NULL);
    check_close("y", mine.y, whole.y + rows0, len);
    check_close("dx", mine.dx, whole.dx + rows0, len);
    check_close("running_mean", mine.rmean, whole.rmean, C);
    check_close("running_var", mine.rvar, whole.rvar, C);
    /* The running statistics: rank 0's bits on every rank. */
    float *r0 = malloc(2 * csz);
    memcpy(r0, mine.rmean, 2 * csz);
    assert_int_equal(tern_comm_bcast(comm, r0, 2 * csz, 0), TERN_OK);
    assert_memory_equal(r0, mine.rmean, 2 * csz);
    free(r0);

    /* Rerun on three worker threads: the same bits. */
    tern_pool *pool;
    assert_int_equal(tern_pool_init(&pool, 3), TERN_OK);
    bn_out again = run(L, &b, off, n, comm, 1, 1, pool);
    assert_memory_equal(again.y, mine.y, len * sizeof(float));
    assert_memory_equal(again.dx, mine.dx, len * sizeof(float));
    assert_memory_equal(again.dgamma, mine.dgamma, 4 * csz);
    tern_pool_free(pool);

    /* Each rank's dgamma and dbeta are its rows' share: summed, the batch's. */
    assert_int_equal(tern_comm_sum_f32(comm, mine.dgamma, 2 * (size_t)C), TERN_OK);
    check_close("dgamma", mine.dgamma, whole.dgamma, C);
    check_close("dbeta", mine.dbeta, whole.dbeta, C);

    /* Eval, and training with sync_bn = 0 (per-rank statistics, PyTorch DDP's
     * default): exactly the one-process op on this rank's rows. */
    for (int training = 0; training < 2; training++) {
        if (training && (size_t)n * (b.per / C) < 2) continue; /* alone, no variance */
        bn_out alone = run(L, &b, off, n, NULL, 0, training, NULL);
        bn_out with = run(L, &b, off, n, comm, !training, training, NULL);
        assert_memory_equal(with.y, alone.y, len * sizeof(float));
        assert_memory_equal(with.dx, alone.dx, len * sizeof(float));
        assert_memory_equal(with.dgamma, alone.dgamma, 4 * csz);
        if (!training) assert_memory_equal(with.rmean, b.rmean, 2 * csz);
        out_free(&alone), out_free(&with);
    }
    out_free(&whole), out_free(&mine), out_free(&again);
    batch_free(&b);
}

/* (N,C), more channels than one sum over the ranks takes (4096). */
static void test_rows(void **state) {
    (void)state;
    for (int relu = 0; relu < 2; relu++) check_sync(&(bn_layout){2, 4100, 1, 1, relu}, 3, 2);
}

/* (N,C,H,W), several channels per worker task. */
static void test_planes(void **state) {
    (void)state;
    for (int relu = 0; relu < 2; relu++) check_sync(&(bn_layout){4, 19, 5, 4, relu}, 3, 2);
}

/* One row per rank: a single rank's values have no variance, the ranks' together do. */
static void test_one_row_each(void **state) {
    (void)state;
    if (tern_comm_size(comm) < 2) skip(); /* one process, one row: nothing to normalise */
    check_sync(&(bn_layout){2, 6, 1, 1, 0}, 1, 0);
}

int main(int argc, char **argv) {
    if (tern_comm_world(&argc, &argv, &comm)) {
        print_message("%s\n", tern_errmsg());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_planes),
        cmocka_unit_test(test_one_row_each),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tern_comm_finalize(comm);
    return failed ? 1 : 0;
}
