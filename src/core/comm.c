/* comm.c — tern/comm.h: deterministic collectives over MPI, or one process.
 *
 * With TERN_WITH_MPI (CMake: TERN_MPI) a tern_comm holds a duplicate of
 * MPI_COMM_WORLD, so tern's messages never meet a host program's. Without
 * it, only the NULL comm exists and every collective is the one-process
 * case. */
#include "tern/comm.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TERN_WITH_MPI
#include <mpi.h>
#endif

/* The launchers' variables for "processes started together", in the order
 * they are believed: Open MPI, PMIx, MPICH's PMI, Slurm. */
int tern_comm_launched_size(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "SLURM_NTASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        char *end;
        long n = v ? strtol(v, &end, 10) : 0;
        if (v && *v && !*end && n >= 1 && n <= 1 << 24) return (int)n;
    }
    return 1;
}

#ifndef TERN_WITH_MPI

struct tern_comm {
    int unused;
};

int tern_comm_has_mpi(void) { return 0; }

tern_status tern_comm_world(int *argc, char ***argv, tern_comm **c) {
    (void)argc, (void)argv;
    *c = NULL;
    return tern_error(TERN_ERR_UNSUPPORTED, "comm: this tern was built without MPI (configure with -DTERN_MPI=ON "
                      "and Open MPI installed; Debian: libopenmpi-dev openmpi-bin)");
}

void tern_comm_finalize(tern_comm *c) { (void)c; }
int tern_comm_rank(const tern_comm *c) { return (void)c, 0; }
int tern_comm_size(const tern_comm *c) { return (void)c, 1; }
tern_status tern_comm_sum_f32(const tern_comm *c, float *buf, size_t n) { return (void)c, (void)buf, (void)n, TERN_OK; }
tern_status tern_comm_sum_f64(const tern_comm *c, double *buf, size_t n) { return (void)c, (void)buf, (void)n, TERN_OK; }
tern_status tern_comm_bcast(const tern_comm *c, void *buf, size_t bytes, int root) {
    return (void)c, (void)buf, (void)bytes, (void)root, TERN_OK;
}
tern_status tern_comm_allgather(const tern_comm *c, const void *mine, void *all, size_t bytes) {
    (void)c;
    if (bytes) memmove(all, mine, bytes);
    return TERN_OK;
}
tern_status tern_comm_agree(const tern_comm *c, tern_status mine) { return (void)c, mine; }
tern_status tern_comm_any(const tern_comm *c, int flag, int *any) {
    (void)c;
    *any = flag != 0;
    return TERN_OK;
}
tern_status tern_comm_barrier(const tern_comm *c) { return (void)c, TERN_OK; }

#else

struct tern_comm {
    MPI_Comm comm;
    int rank, size;
    int owns_mpi; /* tern_comm_world initialised MPI: finalize it too */
};

int tern_comm_has_mpi(void) { return 1; }

/* A failed MPI call as a status naming what tern was doing. */
static tern_status mpi_fail(const char *what, int rc) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "error %d", rc);
    return tern_error(TERN_ERR_IO, "comm: %s failed: %s", what, text);
}

#define MPI_TRY(what, call)                            \
    do {                                               \
        int rc_ = (call);                              \
        if (rc_ != MPI_SUCCESS) return mpi_fail(what, rc_); \
    } while (0)

tern_status tern_comm_world(int *argc, char ***argv, tern_comm **out) {
    *out = NULL;
    int inited = 0, provided = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return tern_error(TERN_ERR_IO, "comm: MPI_Init_thread failed");
    tern_comm *c = calloc(1, sizeof *c);
    if (!c) return tern_error(TERN_ERR_NOMEM, "comm: out of memory");
    c->owns_mpi = !inited;
    /* Errors come back as codes, to be reported, not as an abort inside MPI. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &c->comm);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(c->comm, &c->rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(c->comm, &c->size);
    if (rc != MPI_SUCCESS) {
        tern_status st = mpi_fail("joining MPI_COMM_WORLD", rc);
        free(c);
        return st;
    }
    *out = c;
    if (c->size > TERN_COMM_MAX_RANKS)
        return tern_error(TERN_ERR_ARG, "comm: %d processes; tern runs on at most %d", c->size, TERN_COMM_MAX_RANKS);
    return TERN_OK;
}

void tern_comm_finalize(tern_comm *c) {
    if (!c) return;
    int owns = c->owns_mpi, finalized = 0;
    MPI_Comm_free(&c->comm);
    free(c);
    MPI_Finalized(&finalized);
    if (owns && !finalized) MPI_Finalize();
}

int tern_comm_rank(const tern_comm *c) { return c ? c->rank : 0; }
int tern_comm_size(const tern_comm *c) { return c ? c->size : 1; }

/* Chunk k of a ring over n floats in N parts: [*lo, *hi). */
static void chunk(size_t n, int N, int k, size_t *lo, size_t *hi) {
    *lo = n * (size_t)k / (size_t)N;
    *hi = n * (size_t)(k + 1) / (size_t)N;
}

/* MPI counts are ints: send [p, p + n) in pieces of at most 2^30 floats. */
#define RING_PIECE ((size_t)1 << 30)

/* Ring all-reduce. Reduce-scatter: at step s (0..N-2) rank r sends chunk
 * (r - s) mod N to rank r+1 and adds the chunk (r - s - 1) mod N it gets
 * from rank r-1 into its own; after N-1 steps rank r holds chunk (r + 1)
 * mod N summed over all ranks, in the fixed ring order from rank r+1
 * (whose values start the sum) round to rank r.
 * All-gather: N-1 more steps pass the finished chunks around unchanged. */
tern_status tern_comm_sum_f32(const tern_comm *c, float *buf, size_t n) {
    if (!c || c->size == 1 || n == 0) return TERN_OK;
    const int N = c->size, r = c->rank, next = (r + 1) % N, prev = (r + N - 1) % N;
    size_t max_chunk = n / (size_t)N + 1;
    float *tmp = malloc(sizeof(float) * (max_chunk < RING_PIECE ? max_chunk : RING_PIECE));
    if (!tmp) return tern_error(TERN_ERR_NOMEM, "comm: sum of %zu floats: out of memory", n);
    tern_status st = TERN_OK;
    for (int phase = 0; phase < 2 && !st; phase++)
        for (int s = 0; s < N - 1 && !st; s++) {
            /* phase 0: send (r - s), receive (r - s - 1) and add; phase 1:
             * send the finished (r + 1 - s), receive (r - s) as it is. */
            int send_k = ((r - s + phase) % N + N) % N, recv_k = ((r - s - 1 + phase) % N + N) % N;
            size_t slo, shi, rlo, rhi;
            chunk(n, N, send_k, &slo, &shi);
            chunk(n, N, recv_k, &rlo, &rhi);
            for (size_t off = 0; !st && (off < shi - slo || off < rhi - rlo); off += RING_PIECE) {
                size_t sn = shi - slo > off ? shi - slo - off : 0, rn = rhi - rlo > off ? rhi - rlo - off : 0;
                sn = sn < RING_PIECE ? sn : RING_PIECE;
                rn = rn < RING_PIECE ? rn : RING_PIECE;
                float *dst = phase ? buf + rlo + off : tmp;
                int rc = MPI_Sendrecv(buf + slo + off, (int)sn, MPI_FLOAT, next, 7100 + phase, dst, (int)rn, MPI_FLOAT,
                                      prev, 7100 + phase, c->comm, MPI_STATUS_IGNORE);
                if (rc != MPI_SUCCESS) {
                    st = mpi_fail("ring all-reduce", rc);
                    break;
                }
                if (!phase)
                    for (size_t j = 0; j < rn; j++) buf[rlo + off + j] += tmp[j];
            }
        }
    free(tmp);
    return st;
}

#define SUM_F64_MAX 4096

tern_status tern_comm_sum_f64(const tern_comm *c, double *buf, size_t n) {
    if (!c || c->size == 1 || n == 0) return TERN_OK;
    if (n > SUM_F64_MAX) return tern_error(TERN_ERR_ARG, "comm: sum_f64 of %zu values; at most %d", n, SUM_F64_MAX);
    double *all = malloc(sizeof(double) * n * (size_t)c->size);
    if (!all) return tern_error(TERN_ERR_NOMEM, "comm: sum of %zu doubles: out of memory", n);
    int rc = MPI_Allgather(buf, (int)n, MPI_DOUBLE, all, (int)n, MPI_DOUBLE, c->comm);
    if (rc != MPI_SUCCESS) {
        free(all);
        return mpi_fail("gathering sums", rc);
    }
    for (size_t j = 0; j < n; j++) {
        double s = all[j];
        for (int k = 1; k < c->size; k++) s += all[(size_t)k * n + j];
        buf[j] = s;
    }
    free(all);
    return TERN_OK;
}

tern_status tern_comm_bcast(const tern_comm *c, void *buf, size_t bytes, int root) {
    if (!c || c->size == 1) return TERN_OK;
    for (size_t off = 0; off < bytes; off += RING_PIECE) {
        size_t k = bytes - off < RING_PIECE ? bytes - off : RING_PIECE;
        MPI_TRY("broadcast", MPI_Bcast((char *)buf + off, (int)k, MPI_BYTE, root, c->comm));
    }
    return TERN_OK;
}

tern_status tern_comm_allgather(const tern_comm *c, const void *mine, void *all, size_t bytes) {
    if (!c || c->size == 1) {
        if (bytes) memmove(all, mine, bytes);
        return TERN_OK;
    }
    if (bytes > (size_t)INT32_MAX) return tern_error(TERN_ERR_ARG, "comm: all-gather of %zu bytes per rank", bytes);
    MPI_TRY("all-gather", MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, c->comm));
    return TERN_OK;
}

tern_status tern_comm_agree(const tern_comm *c, tern_status mine) {
    if (!c || c->size == 1) return mine;
    char msg[512];
    snprintf(msg, sizeof msg, "%s", mine ? tern_errmsg() : "");
    int *all = malloc(sizeof(int) * (size_t)c->size);
    if (!all) return tern_error(TERN_ERR_NOMEM, "comm: out of memory");
    int code = (int)mine, rc = MPI_Allgather(&code, 1, MPI_INT, all, 1, MPI_INT, c->comm);
    int first = -1;
    for (int k = 0; rc == MPI_SUCCESS && k < c->size && first < 0; k++)
        if (all[k]) first = k;
    tern_status st = first < 0 ? TERN_OK : (tern_status)all[first];
    free(all);
    if (rc != MPI_SUCCESS) return mpi_fail("agreeing on a status", rc);
    if (first < 0) return TERN_OK;
    rc = MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, c->comm);
    if (rc != MPI_SUCCESS) return mpi_fail("sharing an error", rc);
    msg[sizeof msg - 1] = '\0';
    if (first == c->rank) return tern_error(st, "%s", msg);
    return tern_error(st, "rank %d: %s", first, msg);
}

tern_status tern_comm_any(const tern_comm *c, int flag, int *any) {
    *any = flag != 0;
    if (!c || c->size == 1) return TERN_OK;
    int in = flag != 0, out = 0;
    int rc = MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LOR, c->comm);
    if (rc != MPI_SUCCESS) {
        *any = 0;
        return mpi_fail("agreeing on a flag", rc);
    }
    *any = out;
    return TERN_OK;
}

tern_status tern_comm_barrier(const tern_comm *c) {
    if (!c || c->size == 1) return TERN_OK;
    MPI_TRY("barrier", MPI_Barrier(c->comm));
    return TERN_OK;
}

#endif
