/* tern/clock.h — the clocks, the median and the peak memory every tern
 * measurement reads: training's step times, the runtime's per-layer times,
 * the benchmarks, the sweeps and the monitor. Timings are quoted as medians
 * of repeats: one slow repeat on a shared machine does not move them. */
#ifndef TERN_CLOCK_H
#define TERN_CLOCK_H

#include "tern/api.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds on CLOCK_MONOTONIC: wall time, for every tern timing. */
TERN_API double tern_clock_now_s(void);

/* Seconds of the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID), which
 * time slices given to other processes on a shared machine do not inflate. */
TERN_API double tern_clock_cpu_s(void);

/* The median of v (n values; 0 when n < 1), sorting v in place. */
TERN_API double tern_clock_median(double *v, int n);

/* The process's peak resident set so far, bytes (getrusage ru_maxrss). */
TERN_API double tern_clock_peak_rss_bytes(void);

#ifdef __cplusplus
}
#endif
#endif
