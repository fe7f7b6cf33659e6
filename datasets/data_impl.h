/* data_impl.h — the allocation and file helpers the dataset readers share
 * (alloc.c; not public API). */
#ifndef TERN_DATA_IMPL_H
#define TERN_DATA_IMPL_H

#include <stddef.h>
#include "tern/data.h"

/* Allocate ds->images (n,c,h,w) and ds->labels (n) and set the dims; the
 * dataset is reset first. `who` names the file for the error message. */
tern_status tern__dataset_alloc(tern_dataset *ds, const char *who, int n, int c, int h, int w);

/* Copy the n_classes names into ds->class_names (truncated to fit). */
void tern__dataset_set_classes(tern_dataset *ds, const char *const *names, int n_classes);

/* The whole regular file at path into a malloc'd buffer *p of *n bytes. */
tern_status tern__data_read_file(const char *path, unsigned char **p, size_t *n);

/* 1 when ds holds no data (a fresh or freed dataset). */
int tern__dataset_empty(const tern_dataset *ds);

#endif
