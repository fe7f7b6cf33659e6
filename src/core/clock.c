/* clock.c — the clocks, the median and the peak RSS every tern measurement reads (tern/clock.h). */
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "tern/clock.h"

static double seconds_of(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double tern_clock_now_s(void) { return seconds_of(CLOCK_MONOTONIC); }

double tern_clock_cpu_s(void) { return seconds_of(CLOCK_THREAD_CPUTIME_ID); }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double tern_clock_median(double *v, int n) {
    if (n < 1) return 0.0;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double tern_clock_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return 0.0;
    return 1024.0 * (double)ru.ru_maxrss; /* Linux reports KiB */
}
