/* tern/export.h — a trained model as the kernels run it (tern/deploy.h).
 *
 * Export turns a trained model into a deploy model: every ternary
 * layer's latent weights are quantized exactly as the training forward does
 * (tern_quant_ternary_codes) and packed 2 bits a weight in the kernels' "t2"
 * layout (tern/kernels.h), with per-row scales wp, wn; batchnorm is folded
 * into the preceding linear/conv layer's output channels where it directly
 * follows one, and kept as a per-channel affine layer elsewhere; dropout
 * disappears; fp32 layers stay fp32. No latent weights are kept.
 *
 * A folded ternary row r computes (s = gamma / sqrt(var + eps) of the BN)
 *     y[r] = (s wp)[r] P - (s wn)[r] N + ((b - mean) s + beta)[r]
 * so the kernels' per-row scales absorb the batchnorm for free.
 *
 * The fp32 twin of a deploy model (tern_deploy_to_fp32) runs the same
 * function with every weight an fp32: the baseline ternarization is
 * measured against.
 *
 * Export of a training checkpoint: the caller restores its model and test
 * split (tern_dataset_load_checkpoint in tern/data.h; restore in
 * tern/restore.h), and tern_deploy_export converts and saves them. */
#ifndef TERN_EXPORT_H
#define TERN_EXPORT_H

#include "tern/api.h"
#include "tern/data_types.h"
#include "tern/deploy.h"
#include "tern/nn.h"
#include "tern/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Build *d from a trained model in eval semantics (running BN statistics,
 * no dropout): quantize and pack ternary layers, fold batchnorm, keep fp32
 * layers. `data` gives the input shape (c,h,w), normalisation, class names
 * and dataset name (its images are not read). TERN_ERR_NUMERIC for a
 * batchnorm running variance that is negative or not finite. *d must be
 * empty; on failure it is left empty. */
TERN_API tern_status tern_deploy_from_model(tern_deploy *d, const tern_model *m, const tern_dataset *data);

/* Export m, the model of training checkpoint train_ckpt with its data (both
 * as tern_dataset_load_checkpoint gives them): tern_deploy_from_model, the
 * checkpoint's path recorded as the source, saved to out_path.
 * TERN_ERR_ARG when out_path is train_ckpt itself (by device and inode:
 * symlinks, hard links). sizes may be NULL. */
TERN_API tern_status tern_deploy_export(const tern_model *m, const tern_dataset *data, const char *train_ckpt,
                                        const char *out_path, tern_deploy_sizes *sizes);

/* *dst = src with every ternary layer dequantized to fp32 weights
 * (w = wp where T = +1, -wn where T = -1): the same function, run on the
 * runtime's fp32 kernels. For baselines and for the size of an fp32 checkpoint of the
 * same model. dst must be empty. */
TERN_API tern_status tern_deploy_to_fp32(const tern_deploy *src, tern_deploy *dst);

#ifdef __cplusplus
}
#endif
#endif
