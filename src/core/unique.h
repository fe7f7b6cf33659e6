/* unique.h — internal: duplicate detection by sorting, shared by the config,
 * the sweep spec and the model builder so that no check is O(n^2). */
#ifndef TERN_CORE_UNIQUE_H
#define TERN_CORE_UNIQUE_H

#include <stddef.h>

/* The first item, in order, of items[0..n) (`size` bytes apart) that equals
 * an earlier one under cmp, and in *first that earlier one; -1 when all
 * differ, -2 when out of memory. cmp is a qsort comparator of pointers to
 * items (it receives `const T *const *`). Sorts once: O(n log n). */
int tern_first_duplicate(const void *items, int n, size_t size, int (*cmp)(const void *, const void *), int *first);

#endif
