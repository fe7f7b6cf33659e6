/* dlayer.h — what libtern's runtime and the C export (export_c.c) read
 * alike off a deploy model when they fuse a layer's successors into its
 * epilogue. Internal to libtern. */
#ifndef TERN_IO_DLAYER_H
#define TERN_IO_DLAYER_H

#include "kernels/epilogue.h"
#include "tern/deploy.h"

/* The epilogue's activation for a layer's act. */
static inline tern_epi_act tern_dlayer_epi_act(tern_act a) {
    return a == TERN_ACT_RELU ? TERN_EPI_RELU : a == TERN_ACT_HARDTANH ? TERN_EPI_HARDTANH : TERN_EPI_NONE;
}

/* 1 when a residual add of m reads layer j's output (then nothing after j
 * may be fused into it). */
static inline int tern_dlayer_read_by_add(const tern_deploy *m, int j) {
    for (int k = j + 1; k < m->n_layers; k++)
        if (m->layers[k].type == TERN_DLAYER_ADD && m->layers[k].from == j) return 1;
    return 0;
}

#endif
