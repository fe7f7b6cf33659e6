/* tern/export_c.h — a deploy model as a self-contained C99 program: the
 * C export behind `tern export CKPT --format c -o DIR`.
 *
 * DIR receives exactly six files:
 *   model.h, model.c   the model: packed t2 blocks in the deploy layout,
 *                      scales, biases, fp32 weights and affine vectors as
 *                      const arrays, the layer table, and the arena (one
 *                      static float array sized here);
 *   tern_portable.h, tern_portable_dsp.h, tern_run.h, tern_run.c
 *                      the portable runtime, verbatim (embedded in libtern):
 *                      the same scalar math as libtern's kernels, no heap,
 *                      no file I/O, only the C standard headers.
 * model.h's API:
 *   void tern_model_normalize(const uint8_t *pixels, float *input);
 *   int  tern_model_predict(const float *input, float *logits);
 * predict gives the class by tern eval's argmax rule, or -1 on a NaN or Inf.
 * int8-activation layers give logits bit-identical to tern's runtime on any
 * path; what else is identical, and to which path, is in tern_run.h.
 *
 * Planning: a conv or linear layer takes the affine and activation layers
 * after it into its epilogue, and a conv the maxpool after it (pooled rows
 * computed from a few conv rows at a time); every buffer (outputs, the
 * quantized input, a receptive field, conv rows) gets an offset in one
 * arena, first fit, freed after its last reader. */
#ifndef TERN_EXPORT_C_H
#define TERN_EXPORT_C_H

#include <stddef.h>

#include "tern/api.h"
#include "tern/deploy.h"
#include "tern/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The largest arena the runtime addresses: its offsets are long, 32 bits on
 * the microcontrollers it is for. */
#define TERN_CEXPORT_MAX_RAM ((size_t)0x7fffffff)

typedef struct tern_cexport_opts {
    int force;          /* replace an existing DIR (only once the new one is complete) */
    size_t max_ram;     /* refuse a model whose arena needs more bytes; 0: no budget */
} tern_cexport_opts;

typedef struct tern_cexport_report {
    size_t flash_bytes;   /* const data: weights, scales, biases, affines, the layer table (this host's sizes) */
    size_t ram_bytes;     /* the arena */
    int run_layers;       /* layers the runtime runs, after fusion */
    int fused_layers;     /* deploy layers computed in another's epilogue or pool */
} tern_cexport_report;

/* Plan m's export: *r (may be NULL) without writing anything.
 * TERN_ERR_NOMEM when the arena exceeds opts->max_ram ("needs N bytes of
 * RAM") or TERN_CEXPORT_MAX_RAM (naming the layer). opts may be NULL. */
TERN_API tern_status tern_cexport_plan(const tern_deploy *m, const tern_cexport_opts *opts, tern_cexport_report *r);

/* Plan, then write the six files into a fresh directory beside dir and move
 * it into place (tern_fs_replace_dir). An existing dir is refused
 * (TERN_ERR_IO "exists") unless opts->force, and then only an earlier C
 * export is replaced: a directory holding nothing but regular files of the
 * six names (not a symbolic link, no other file, no subdirectory). */
TERN_API tern_status tern_cexport_write(const tern_deploy *m, const char *dir, const tern_cexport_opts *opts,
                                        tern_cexport_report *r);

/* The name of file i (0..5) written into DIR, NULL beyond. */
TERN_API const char *tern_cexport_file_name(int i);

#ifdef __cplusplus
}
#endif
#endif
