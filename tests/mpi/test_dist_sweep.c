/* test_dist_sweep.c — a sweep shared by the ranks of `mpiexec -n 2` against
 * the same sweep on one process: the same results.csv (bar the timing
 * columns) and summary.csv; an interrupted distributed sweep, its merge
 * lost as when rank 0 is killed, continued on one process without
 * retraining a finished point; and errors on one rank reaching all ranks
 * without a hang. Tiny synthetic data (synth_idx.h), as test_sweep.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "synth_idx.h"
#include "tern/comm.h"
#include "tern/sweep.h"
#include "tmpdir.h"

static tern_comm *comm;
static int rank;

static const char *tpath(const char *name) {
    static char p[2][512];
    static int k;
    k ^= 1;
    snprintf(p[k], sizeof p[k], "%s/%s", tmpdir, name);
    return p[k];
}

/* Rank 0 makes the directory, the data and the base config; every rank gets its path. */
static int setup(void **state) {
    (void)state;
    int bad = 0;
    if (rank == 0) {
        bad = tmpdir_make("dist_sweep") != 0;
        if (!bad) {
            mkdir(tpath("data"), 0777);
            synth_idx_write(tpath("data"), "train", 300, 1);
            synth_idx_write(tpath("data"), "t10k", 100, 2);
            char text[1024];
            synth_mlp_yaml(text, sizeof text, tpath("data"));
            bad = tmpdir_write_text(tpath("base.yaml"), text) != 0;
        }
    }
    if (tern_comm_bcast(comm, &bad, sizeof bad, 0) || tern_comm_bcast(comm, tmpdir, sizeof tmpdir, 0)) return -1;
    return bad ? -1 : 0;
}

static int teardown(void **state) {
    tern_comm_barrier(comm);
    return rank == 0 ? tmpdir_teardown(state) : 0;
}

static int test_passed;

static int test_begin(void **state) {
    (void)state;
    test_passed = 0;
    return 0;
}

/* A test that failed on this rank leaves the other waiting in a collective:
 * end the job now (mpiexec stops every rank when one exits unfinalised). */
static int test_end(void **state) {
    (void)state;
    if (test_passed) return 0;
    print_message("rank %d: the test failed; ending the job\n", rank);
    fflush(stdout);
    _exit(1);
}

/* The spec FILE.yaml of 6 points (3 seeds) or 8 (4), its out OUT; written by rank 0. */
static void spec_write(const char *file, const char *out, const char *seeds) {
    char text[512];
    if (rank == 0) {
        snprintf(text, sizeof text,
                 "base: base.yaml\nset: [training.eval_every=1]\nmethods: [{quantizer: twn, t: [0.5, 1.2]}]\n"
                 "seeds: [%s]\nout: %s\nlatency: {batch: 2, repeats: 3}\n",
                 seeds, out);
        assert_int_equal(tmpdir_write_text(tpath(file), text), 0);
    }
    assert_int_equal(tern_comm_barrier(comm), TERN_OK);
}

/* The spec NAME.yaml with out NAME, seeds 1, 2, 3, loaded by every rank. */
static void spec_load(const char *name, tern_sweep_spec *s) {
    char file[64];
    snprintf(file, sizeof file, "%s.yaml", name);
    spec_write(file, name, "1, 2, 3");
    if (tern_sweep_spec_load(s, tpath(file))) fail_msg("%s", tern_errmsg());
}

typedef struct {
    int skip, start, resumed_starts, done, done_by[2];
} counter;

static void count(const tern_sweep_event *ev, void *user) {
    counter *c = user;
    c->skip += ev->kind == TERN_SWEEP_EV_SKIP;
    c->start += ev->kind == TERN_SWEEP_EV_START;
    c->resumed_starts += ev->kind == TERN_SWEEP_EV_START && ev->resumed;
    if (ev->kind == TERN_SWEEP_EV_DONE) {
        c->done++;
        assert_true(ev->rank >= 0 && ev->rank < 2);
        c->done_by[ev->rank]++;
        assert_non_null(ev->row);
        assert_string_equal(ev->row->method, ev->point->method);
    }
}

static void load(const char *out, const char *file, tern_sweep_results *r) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", out, file);
    tern_sweep_results_init(r);
    if (tern_sweep_results_read(r, p)) fail_msg("%s", tern_errmsg());
}

/* The same points in the same order with the same training outcomes;
 * latency and seconds are measurements and may differ. */
static void assert_same_outcomes(const tern_sweep_results *a, const tern_sweep_results *b) {
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->n_layers, b->n_layers);
    for (int i = 0; i < a->n; i++) {
        const tern_sweep_row *x = &a->rows[i], *y = &b->rows[i];
        assert_string_equal(x->method, y->method);
        assert_string_equal(x->t, y->t);
        assert_true(x->seed == y->seed);
        assert_true(x->test_acc == y->test_acc);
        assert_true(x->sparsity == y->sparsity);
        for (int l = 0; l < a->n_layers; l++) assert_true(x->layer_sparsity[l] == y->layer_sparsity[l]);
        assert_true(x->dense_us > 0.0 && y->dense_us > 0.0);
    }
}

static void assert_same_summary(const tern_sweep_results *a, const tern_sweep_results *b) {
    tern_sweep_stat *S, *T;
    int n, m;
    assert_int_equal(tern_sweep_summarize(a, &S, &n), TERN_OK);
    assert_int_equal(tern_sweep_summarize(b, &T, &m), TERN_OK);
    assert_int_equal(n, m);
    for (int g = 0; g < n; g++) {
        assert_string_equal(S[g].t, T[g].t);
        assert_int_equal(S[g].n, T[g].n);
        for (int k = 0; k < 2; k++) { /* acc and sparsity: the same bits */
            assert_true(S[g].mean[k] == T[g].mean[k]);
            assert_true(S[g].std[k] == T[g].std[k]);
        }
    }
    free(S), free(T);
}

/* The summary.csv files of a and b: the same lines up to the latency
 * columns (method, t, n, acc and sparsity mean and std). */
static void assert_same_files_summary(const char *a, const char *b) {
    char p[600], q[600], x[1024], y[1024];
    snprintf(p, sizeof p, "%s/summary.csv", a);
    snprintf(q, sizeof q, "%s/summary.csv", b);
    FILE *f = fopen(p, "r"), *g = fopen(q, "r");
    assert_true(f && g);
    int lines = 0;
    for (; fgets(x, sizeof x, f); lines++) {
        assert_non_null(fgets(y, sizeof y, g));
        char *cx = x, *cy = y;
        for (int k = 0; k < 7 && cx && cy; k++) cx = strchr(cx + 1, ','), cy = strchr(cy + 1, ',');
        assert_true(cx && cy && cx - x == cy - y);
        assert_memory_equal(x, y, (size_t)(cx - x));
    }
    assert_null(fgets(y, sizeof y, g));
    assert_int_equal(lines, 3); /* the header and the two thresholds */
    fclose(f), fclose(g);
}

/* (a) Two ranks give what one process gives; each rank's figures are the whole sweep's. */
static void test_two_ranks_equal_one(void **state) {
    (void)state;
    tern_sweep_spec one, two;
    spec_load("one", &one);
    spec_load("two", &two);
    tern_sweep_result res;
    counter c = {0};
    tern_sweep_opts o = {.cb = count, .user = &c};
    if (rank == 0) {
        assert_int_equal(tern_sweep_run(&one, &o, &res), TERN_OK);
        assert_int_equal(res.trained, 6);
    }
    c = (counter){0};
    o.comm = comm;
    assert_int_equal(tern_comm_barrier(comm), TERN_OK);
    assert_int_equal(tern_sweep_run(&two, &o, &res), TERN_OK);
    assert_int_equal(res.total, 6);
    assert_int_equal(res.trained, 6);
    assert_int_equal(res.skipped, 0);
    assert_int_equal(res.stopped, 0);
    /* Points dealt in turn: each rank started three; rank 0 heard of all six. */
    assert_int_equal(c.start, 3);
    assert_int_equal(c.done, rank == 0 ? 6 : 3);
    assert_int_equal(c.done_by[rank], 3);
    if (rank == 0) {
        assert_int_equal(c.done_by[1], 3);
        tern_sweep_results a, b, sa;
        load(one.out, "results.csv", &a);
        load(two.out, "results.csv", &b);
        assert_same_outcomes(&a, &b);
        assert_same_summary(&a, &b);
        assert_same_files_summary(one.out, two.out);
        /* every point's own row file, also of the points rank 1 trained */
        load(two.out, "runs/twn_t1.2_s3/result.csv", &sa);
        assert_int_equal(sa.n, 1);
        assert_memory_equal(&sa.rows[0], &b.rows[5], sizeof sa.rows[0]);
        tern_sweep_results_free(&sa);
        tern_sweep_results_free(&a), tern_sweep_results_free(&b);
    }
    /* A rerun on two ranks trains nothing. */
    c = (counter){0};
    assert_int_equal(tern_sweep_run(&two, &o, &res), TERN_OK);
    assert_int_equal(res.skipped, 6);
    assert_int_equal(res.trained, 0);
    assert_int_equal(c.start, 0);
    assert_int_equal(c.skip, rank == 0 ? 6 : 0);
    tern_sweep_spec_free(&one);
    tern_sweep_spec_free(&two);
    test_passed = 1;
}

static long long mtime_ns(const char *path) {
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
}

/* (b) Stopped after a point per rank, then in the middle of a point on
 * each rank, with rank 1's finished row missing from results.csv (rank 0
 * killed before it merged it); one process then finishes the sweep: the
 * two finished points are neither retrained nor measured again, the two
 * interrupted ones resume, and the results are those of (a). */
static void test_interrupted_then_one(void **state) {
    (void)state;
    tern_sweep_spec cut, one;
    spec_load("cut", &cut);
    spec_load("one", &one); /* (a)'s reference, already trained */
    tern_sweep_result res;
    counter c = {0};
    tern_sweep_opts o = {.cb = count, .user = &c, .comm = comm, .stop_after_points = 1};
    assert_int_equal(tern_sweep_run(&cut, &o, &res), TERN_OK);
    assert_int_equal(res.trained, 2);
    assert_int_equal(res.stopped, 1);

    o.stop_after_points = 0;
    o.stop_after_steps = 3; /* of a point's 10 */
    c = (counter){0};
    assert_int_equal(tern_sweep_run(&cut, &o, &res), TERN_OK);
    assert_int_equal(res.skipped, 2);
    assert_int_equal(res.trained, 0);
    assert_int_equal(res.stopped, 1);
    assert_int_equal(c.start, 1); /* each rank its next point */
    assert_int_equal(tern_comm_barrier(comm), TERN_OK);
    if (rank == 0) {
        char ck[3][600];
        const char *names[3] = {"twn_t0.5_s1", "twn_t1.2_s1", "twn_t0.5_s2"};
        for (int k = 0; k < 3; k++) snprintf(ck[k], sizeof ck[k], "%s/runs/%s/last.h5", cut.out, names[k]);
        snprintf(ck[2], sizeof ck[2], "%s/runs/twn_t1.2_s2/last.h5", cut.out); /* rank 1's interrupted point */
        assert_int_equal(access(ck[2], F_OK), 0);
        const long long t0 = mtime_ns(ck[0]), t1 = mtime_ns(ck[1]);
        tern_sweep_results first, kept;
        load(cut.out, "results.csv", &first);
        assert_int_equal(first.n, 2);
        /* results.csv as if rank 0 had died before merging rank 1's point */
        tern_sweep_results_init(&kept);
        kept.n_layers = first.n_layers;
        memcpy(kept.layers, first.layers, sizeof kept.layers);
        assert_int_equal(tern_sweep_results_add(&kept, &first.rows[0]), TERN_OK);
        char p[600];
        snprintf(p, sizeof p, "%s/results.csv", cut.out);
        assert_int_equal(tern_sweep_results_write(&kept, p), TERN_OK);

        /* --dry-run's view already counts it done. */
        tern_sweep_results seen;
        assert_int_equal(tern_sweep_results_collect(&cut, &seen), TERN_OK);
        assert_int_equal(seen.n, 2);
        assert_memory_equal(&seen.rows[1], &first.rows[1], sizeof seen.rows[1]);
        tern_sweep_results_free(&seen);

        tern_sweep_opts solo = {.cb = count, .user = &c};
        c = (counter){0};
        assert_int_equal(tern_sweep_run(&cut, &solo, &res), TERN_OK);
        assert_int_equal(res.skipped, 2);
        assert_int_equal(res.trained, 4);
        assert_int_equal(res.resumed, 2);
        assert_int_equal(c.start, 4);
        assert_int_equal(c.resumed_starts, 2);
        assert_true(mtime_ns(ck[0]) == t0 && mtime_ns(ck[1]) == t1); /* not retrained */

        tern_sweep_results a, b;
        load(cut.out, "results.csv", &a);
        load(one.out, "results.csv", &b);
        assert_same_outcomes(&a, &b);
        assert_same_summary(&a, &b);
        for (int i = 0; i < 2; i++) assert_memory_equal(&a.rows[i], &first.rows[i], sizeof a.rows[i]);
        tern_sweep_results_free(&a), tern_sweep_results_free(&b);
        tern_sweep_results_free(&first), tern_sweep_results_free(&kept);
    }
    assert_int_equal(tern_comm_barrier(comm), TERN_OK);
    tern_sweep_spec_free(&cut);
    tern_sweep_spec_free(&one);
    test_passed = 1;
}

/* A point failing on rank 1 (a corrupt checkpoint) fails the sweep on both
 * ranks, naming rank 1, after rank 0 has finished and recorded its points;
 * ranks reading different specs stop before training. Neither hangs. */
static void test_errors_reach_all(void **state) {
    (void)state;
    tern_sweep_spec bad;
    spec_load("bad", &bad);
    if (rank == 0) {
        const char *dirs[3] = {"bad", "bad/runs", "bad/runs/twn_t1.2_s1"}; /* point 2: rank 1's first */
        for (int k = 0; k < 3; k++) assert_int_equal(mkdir(tpath(dirs[k]), 0777), 0);
        assert_int_equal(tmpdir_write_text(tpath("bad/runs/twn_t1.2_s1/last.h5"), "not a checkpoint\n"), 0);
    }
    assert_int_equal(tern_comm_barrier(comm), TERN_OK);
    tern_sweep_result res;
    counter c = {0};
    tern_sweep_opts o = {.cb = count, .user = &c, .comm = comm};
    assert_int_not_equal(tern_sweep_run(&bad, &o, &res), TERN_OK);
    assert_non_null(strstr(tern_errmsg(), "last.h5"));
    if (rank == 0) {
        assert_non_null(strstr(tern_errmsg(), "rank 1: "));
        assert_int_equal(c.done, 3); /* its own points, finished and recorded */
        tern_sweep_results r;
        load(bad.out, "results.csv", &r);
        assert_int_equal(r.n, 3);
        for (int i = 0; i < 3; i++) assert_string_equal(r.rows[i].t, "0.5");
        tern_sweep_results_free(&r);
    }
    tern_sweep_spec_free(&bad);

    /* Ranks that read different specs (8 points against 6) stop at once. */
    spec_write("mis0.yaml", "mis", "1, 2, 3");
    spec_write("mis1.yaml", "mis", "1, 2, 3, 4");
    tern_sweep_spec mis;
    if (tern_sweep_spec_load(&mis, tpath(rank ? "mis1.yaml" : "mis0.yaml"))) fail_msg("%s", tern_errmsg());
    c = (counter){0};
    assert_int_equal(tern_sweep_run(&mis, &o, &res), TERN_ERR_CONFIG);
    assert_non_null(strstr(tern_errmsg(), "every rank must read the same spec"));
    assert_int_equal(c.start, 0);
    tern_sweep_spec_free(&mis);
    test_passed = 1;
}

int main(int argc, char **argv) {
    if (tern_comm_world(&argc, &argv, &comm)) {
        print_message("%s\n", tern_errmsg());
        return 1;
    }
    rank = tern_comm_rank(comm);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_ranks_equal_one, test_begin, test_end),
        cmocka_unit_test_setup_teardown(test_interrupted_then_one, test_begin, test_end),
        cmocka_unit_test_setup_teardown(test_errors_reach_all, test_begin, test_end),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    tern_comm_finalize(comm);
    return failed ? 1 : 0;
}
