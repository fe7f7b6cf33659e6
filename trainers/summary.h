/* summary.h — a model before (or after) training: its deploy layers, output
 * shapes, parameters, MACs per sample and deploy bytes against fp32, as
 * `tern summary` prints them and, compact, `tern train` at a run's start.
 * The counts are the monitor's (tern/monitor.h): what export would write. */
#ifndef SUMMARY_H
#define SUMMARY_H

#include <stdio.h>

#include "tern.h"

typedef struct summary {
    tern_deploy d;              /* the deploy view: batchnorm folded ("conv1+bn1"), dropout gone */
    tern_layer_count *c;        /* (d.n_layers) counts of each layer */
    tern_layer_count total;
    size_t *params;             /* (d.n_layers) trainable parameters of the layers folded into each */
    size_t params_total;        /* all trainable parameters (a deploy file: the numbers it stores) */
    int trained;                /* the weights are a checkpoint's: sparsity means something */
    int from_deploy;            /* a deploy file: params are its stored numbers */
} summary;

/* *s of m, a model built from cfg; trained: m holds a checkpoint's weights. */
tern_status summary_of_model(summary *s, const tern_config *cfg, const tern_model *m, int trained);

/* *s of a config file (its model built for the dataset's published input
 * shape, before any training), a training or a deploy checkpoint. sets
 * (nsets) override a config's fields as `tern train --set` does. */
tern_status summary_of_path(summary *s, const char *path, const char *const *sets, int nsets);

void summary_free(summary *s);

/* The table: one row per deploy layer and the total. */
void summary_print(FILE *f, const summary *s, const char *title);

/* Two lines (wrapped to width when > 0): the layers with their output
 * shapes, and the totals. */
void summary_print_compact(FILE *f, const summary *s, int width);

#endif
