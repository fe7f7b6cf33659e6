/* params.c — the named parameter table over contiguous blocks. */
#include "tern/params.h"

#include <stdlib.h>
#include <string.h>

#define PARAM_ALIGN 16 /* floats: each view starts on a 64-byte boundary */

void tern_params_init(tern_params *p) { memset(p, 0, sizeof *p); }

void tern_params_free(tern_params *p) {
    free(p->items);
    free(p->data);
    free(p->grad);
    memset(p, 0, sizeof *p);
}

tern_status tern_params_add(tern_params *p, const char *name, int ndim, const int *shape, int flags, int *index) {
    if (p->data) return tern_error(TERN_ERR_ARG, "params: cannot add '%s' after allocation", name);
    if (!name || !*name || strlen(name) >= TERN_PARAM_NAME_LEN)
        return tern_error(TERN_ERR_ARG, "params: name '%s' is empty or longer than %d", name ? name : "(null)",
                          TERN_PARAM_NAME_LEN - 1);
    size_t n = tern_shape_numel(ndim, shape);
    if (n == 0) return tern_error(TERN_ERR_SHAPE, "params: '%s' has an invalid shape", name);
    if (tern_params_find(p, name)) return tern_error(TERN_ERR_ARG, "params: duplicate name '%s'", name);
    if (p->count == p->cap) {
        int cap = p->cap ? p->cap * 2 : 32;
        tern_param *items = realloc(p->items, (size_t)cap * sizeof *items);
        if (!items) return tern_error(TERN_ERR_NOMEM, "params: cannot grow the table to %d", cap);
        p->items = items;
        p->cap = cap;
    }
    tern_param *q = &p->items[p->count];
    memset(q, 0, sizeof *q);
    strcpy(q->name, name);
    q->t = tern_tensor_view(NULL, NULL, ndim, shape);
    q->offset = p->total;
    q->flags = flags;
    q->lr_scale = 1.0f;
    p->total += (n + PARAM_ALIGN - 1) / PARAM_ALIGN * PARAM_ALIGN;
    if (index) *index = p->count;
    p->count++;
    return TERN_OK;
}

tern_status tern_params_alloc(tern_params *p) {
    if (p->data) return tern_error(TERN_ERR_ARG, "params: already allocated");
    size_t bytes = (p->total ? p->total : PARAM_ALIGN) * sizeof(float);
    p->data = aligned_alloc(64, bytes);
    p->grad = aligned_alloc(64, bytes);
    if (!p->data || !p->grad) {
        free(p->data);
        free(p->grad);
        p->data = p->grad = NULL;
        return tern_error(TERN_ERR_NOMEM, "params: cannot allocate %zu floats", p->total);
    }
    memset(p->data, 0, bytes);
    memset(p->grad, 0, bytes);
    for (int i = 0; i < p->count; i++) {
        tern_param *q = &p->items[i];
        q->t.data = p->data + q->offset;
        q->t.grad = (q->flags & TERN_PARAM_TRAIN) ? p->grad + q->offset : NULL;
    }
    return TERN_OK;
}

void tern_params_zero_grad(tern_params *p) {
    if (p->grad) memset(p->grad, 0, p->total * sizeof(float));
}

tern_param *tern_params_find(tern_params *p, const char *name) {
    for (int i = 0; i < p->count; i++)
        if (strcmp(p->items[i].name, name) == 0) return &p->items[i];
    return NULL;
}

size_t tern_params_count_trainable(const tern_params *p) {
    size_t n = 0;
    for (int i = 0; i < p->count; i++)
        if (p->items[i].flags & TERN_PARAM_TRAIN) n += p->items[i].t.n;
    return n;
}
