/* unique.c — the first duplicate of an array, found by sorting (unique.h). */
#include "core/unique.h"

#include <limits.h>
#include <stdlib.h>

int tern_first_duplicate(const void *items, int n, size_t size, int (*cmp)(const void *, const void *), int *first) {
    if (n < 2) return -1;
    const char **p = malloc((size_t)n * sizeof *p);
    if (!p) return -2;
    for (int i = 0; i < n; i++) p[i] = (const char *)items + (size_t)i * size;
    qsort(p, (size_t)n, sizeof *p, cmp);
    int dup = -1;
    for (int k = 0, e; k < n; k = e) {
        /* a run of equal items: its two smallest indices */
        int lo = (int)((p[k] - (const char *)items) / size), lo2 = INT_MAX;
        for (e = k + 1; e < n && !cmp(&p[k], &p[e]); e++) {
            int i = (int)((p[e] - (const char *)items) / size);
            if (i < lo) lo2 = lo, lo = i;
            else if (i < lo2) lo2 = i;
        }
        if (lo2 != INT_MAX && (dup < 0 || lo2 < dup)) dup = lo2, *first = lo;
    }
    free(p);
    return dup;
}
