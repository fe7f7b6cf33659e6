/* tern/comm.h — the processes of a data-parallel run, and the few ways they talk.
 *
 * A tern_comm is a group of processes (ranks 0..size-1) that run the same
 * program on different data: `mpirun -np N tern train CONFIG`. It wraps an
 * MPI communicator in builds with MPI (CMake option TERN_MPI); other builds
 * have none, and tern_comm_world says so. A NULL comm everywhere means one
 * process: rank 0 of 1, and every collective is a copy or nothing.
 *
 * Every collective here is deterministic: the same inputs give the same
 * bits on every rank, run after run, however the messages are timed. MPI's
 * own reductions do not promise that for every algorithm, so the sums are
 * tern's: tern_comm_sum_f32 is a ring all-reduce (a reduce-scatter, then an
 * all-gather, over MPI_Sendrecv) whose additions happen in an order fixed by
 * the ranks alone; tern_comm_sum_f64 (small vectors) gathers every rank's
 * values and adds them in rank order. Either way every rank ends with the
 * same bits.
 *
 * Collectives must be called by every rank of the comm, in the same order,
 * from the thread that created it. Errors (a failed MPI call) return a
 * status with a message naming the operation; they are fatal to the run,
 * since the other ranks cannot tell. The library never calls MPI_Abort. */
#ifndef TERN_COMM_H
#define TERN_COMM_H

#include <stddef.h>

#include "tern/api.h"
#include "tern/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_COMM_MAX_RANKS 256  /* the checkpoint keeps two RNGs per rank; its state and info structs, often on
                                     the stack, grow with it (about 40 bytes a rank) */

typedef struct tern_comm tern_comm;

/* 1 when this build has MPI (tern_comm_world can work), else 0. */
TERN_API int tern_comm_has_mpi(void);

/* The number of processes a launcher (mpirun, srun) started this one among,
 * read from its environment (Open MPI, PMI, PMIx, Slurm); 1 when none did. A
 * build without MPI uses it to refuse to train N independent copies. */
TERN_API int tern_comm_launched_size(void);

/* Initialise MPI (MPI_Init_thread, funneled: only the creating thread
 * talks) and *c = all of its processes (MPI_COMM_WORLD's ranks, in a
 * communicator of tern's own). TERN_ERR_UNSUPPORTED in a build without MPI.
 * More than TERN_COMM_MAX_RANKS processes is TERN_ERR_ARG. */
TERN_API tern_status tern_comm_world(int *argc, char ***argv, tern_comm **c);

/* Free c and finalise MPI (when tern_comm_world initialised it). NULL: nothing. */
TERN_API void tern_comm_finalize(tern_comm *c);

TERN_API int tern_comm_rank(const tern_comm *c); /* NULL: 0 */
TERN_API int tern_comm_size(const tern_comm *c); /* NULL: 1 */

/* buf[0..n) = the sum over ranks of every rank's buf, the same bits on every
 * rank: a ring all-reduce, for the gradient block (2(N-1)/N x 4n bytes sent
 * per rank). Chunk k of the N is summed around the ring from rank k:
 * ((x_k + x_k+1) + ...) + x_k-1. */
TERN_API tern_status tern_comm_sum_f32(const tern_comm *c, float *buf, size_t n);

/* The same for a few doubles (statistics, counts): every rank's values
 * gathered, then added in rank order 0..N-1. n <= 4096. */
TERN_API tern_status tern_comm_sum_f64(const tern_comm *c, double *buf, size_t n);

/* buf[0..bytes) on every rank = root's. */
TERN_API tern_status tern_comm_bcast(const tern_comm *c, void *buf, size_t bytes, int root);

/* all[r * bytes ..] = rank r's mine[0..bytes), on every rank (all holds size x bytes). */
TERN_API tern_status tern_comm_allgather(const tern_comm *c, const void *mine, void *all, size_t bytes);

/* Every rank passes its own status (and its message, tern_errmsg, when not
 * OK); every rank gets back TERN_OK when all were OK, else the status of
 * the lowest failing rank, with its message, prefixed "rank R: " on the
 * other ranks. The point where ranks agree to go on or to stop together. */
TERN_API tern_status tern_comm_agree(const tern_comm *c, tern_status mine);

/* 1 on every rank when flag is non-zero on any rank. *any = 0 on failure. */
TERN_API tern_status tern_comm_any(const tern_comm *c, int flag, int *any);

TERN_API tern_status tern_comm_barrier(const tern_comm *c);

#ifdef __cplusplus
}
#endif

#endif
