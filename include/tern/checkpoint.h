/* tern/checkpoint.h — training checkpoints in HDF5: everything to resume a run.
 *
 * A checkpoint holds the latent fp32 weights, the learned scales (alpha) and
 * the batchnorm statistics (the whole tern_params table, buffers included),
 * the optimizer's state and step, named RNG states, the trainer's epoch and
 * step, the config text it was started from, and a few named numbers
 * (e.g. "best_acc"). Loaded into a model and optimizer built from the same
 * config, training continues bit for bit as if it had never stopped.
 *
 * On-disk layout (format "tern-train", version 1): an HDF5 file (1.10 object
 * formats) behind a 512-byte HDF5 user block holding a NUL-padded text
 * header, as `head -c 80 ckpt.h5` shows it:
 *
 *   tern-train checkpoint
 *   version 1
 *   bytes 17078                 the file's size
 *   crc32 1e213f87              zlib's CRC-32 of every byte after the 512
 *
 * Load checks the version, the size (truncation) and the CRC before
 * HDF5 reads anything, so a damaged file never reaches HDF5's parser. Inside,
 * every dataset is also chunked with the fletcher32 filter, checked by HDF5
 * on every read (by tern and by h5py or h5dump alike), and the 1.10 formats
 * checksum the metadata. Editing a checkpoint with HDF5 tools breaks its CRC.
 *
 *   /                         attributes:
 *     format    string        "tern-train"
 *     version   int32         1
 *     epoch     int64         the trainer's epoch counter, stored as given
 *     step      int64         the trainer's step counter, stored as given
 *   /config                   string[1]: the config text (YAML) of the run
 *   /params/<name>            float32 with the parameter's shape, e.g.
 *                             /params/fc1.weight (256,784); one per entry of
 *                             the table, buffers included
 *     trainable int32         1 for TERN_PARAM_TRAIN, 0 for buffers
 *   /optim                    present when an optimizer was saved; attributes:
 *     kind      string        "sgd", "adam", "adamw"
 *     step      int64         tern_optim.step (Adam's t is step + 1)
 *     weight_decay, momentum, beta1, beta2, eps  float64;  nesterov int32
 *                             (for reading; the config text is authoritative)
 *   /optim/<state>/<name>     float32, the parameter's shape: state block
 *                             tern_optim_state_name(o, i) ("momentum",
 *                             "adam_m", "adam_v") of every TRAIN parameter
 *   /rng/<name>               uint64 (4): a tern_rng state, e.g. /rng/model; a run
 *                             on N processes adds model.r<R> (R >= 1) and aug.r<R>
 *   /meta                     group; one float64 attribute per named number
 *                             (a run on N > 1 processes: ranks = N)
 *
 * Saving is atomic: the file is built in memory, written as
 * "<path>.tmp.<pid>.<n>" in the same directory, fsync'ed, renamed over
 * <path>, and the directory is fsync'ed. On any failure the temporary file
 * is removed and an existing <path> is left as it was. (A crash can leave a
 * *.tmp.* file behind; it is never read and can be deleted.) Memory: one
 * in-memory copy of the file while saving.
 *
 * Loading is all-or-nothing: the header's size and CRC, the format, version,
 * every parameter's name and shape (both ways: none missing, none extra),
 * the optimizer's kind and state, the RNG names and every dataset's checksum
 * are verified, and so are the values: epoch in 0..INT_MAX, step in
 * 0..TERN_OPTIM_MAX_STEP, /optim's step below it, every float (parameters,
 * optimizer state, /meta) finite, Adam's second moment >= 0, and at most
 * TERN_CKPT_MAX_RNG streams in /rng (the one rule of load and read_info),
 * before the first float reaches the caller's blocks; a failed
 * load leaves the model, optimizer, RNGs and counters untouched. Errors are one line naming the file,
 * what is wrong and what to do, e.g.
 *   "run/last.h5: parameter 'fc1.weight' is (256,784) in the checkpoint but
 *    (128,784) in the model; the checkpoint comes from another architecture:
 *    build the model from the config stored in it (/config) or start a new run"
 * HDF5's own error printing is switched off during these calls (and restored
 * after); its error stack is summarised in the message instead. */
#ifndef TERN_CHECKPOINT_H
#define TERN_CHECKPOINT_H

#include "tern/api.h"
#include "tern/comm.h"
#include "tern/optim.h"
#include "tern/params.h"
#include "tern/rng.h"
#include "tern/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_CKPT_FORMAT "tern-train"
#define TERN_CKPT_VERSION 1
/* A data-parallel run keeps two streams per rank (dropout, augmentation)
 * and the shared shuffle: "model", "loader", "model.r1", "aug.r0", ... */
#define TERN_CKPT_MAX_RNG (2 * TERN_COMM_MAX_RANKS + 2)
#define TERN_CKPT_MAX_META 16
#define TERN_CKPT_NAME_LEN 32  /* RNG and metadata names, NUL included */

typedef struct tern_ckpt_rng {
    char name[TERN_CKPT_NAME_LEN];  /* "model", "loader" */
    tern_rng *rng;                  /* saved from, loaded into */
} tern_ckpt_rng;

typedef struct tern_ckpt_meta {
    char name[TERN_CKPT_NAME_LEN];  /* "best_acc" */
    double value;
} tern_ckpt_meta;

/* What a checkpoint saves, and where a load puts it. The trainer fills one
 * once (tables, optimizer, RNG pointers) and uses it for both directions. */
typedef struct tern_ckpt_state {
    tern_params *params;             /* required, allocated: every entry is saved/loaded */
    tern_optim *optim;               /* bound to params; NULL: no optimizer state */
    int n_rng;
    tern_ckpt_rng rng[TERN_CKPT_MAX_RNG];
    long epoch, step;                /* the trainer's counters, stored as given */
    const char *config_text;         /* save: the run's config (NULL: ""); load: not touched */
    int n_meta;
    tern_ckpt_meta meta[TERN_CKPT_MAX_META];
} tern_ckpt_state;

/* What tern_ckpt_read_info reports without loading the weights. */
typedef struct tern_ckpt_info {
    int version;
    long epoch, step;
    int n_params;                    /* datasets under /params */
    size_t n_scalars;                /* floats in them */
    char optim[16];                  /* optimizer kind, "" when none was saved */
    long optim_step;
    int n_rng;
    char rng_names[TERN_CKPT_MAX_RNG][TERN_CKPT_NAME_LEN];
    int n_meta;
    tern_ckpt_meta meta[TERN_CKPT_MAX_META];
} tern_ckpt_info;

/* *s = {params, optim}, no RNGs, no metadata, counters 0, no config. */
TERN_API void tern_ckpt_state_init(tern_ckpt_state *s, tern_params *params, tern_optim *optim);

/* Append RNG `name` (unique, 1..31 chars, no '/'); TERN_ERR_ARG/NOMEM otherwise. */
TERN_API tern_status tern_ckpt_add_rng(tern_ckpt_state *s, const char *name, tern_rng *rng);

/* meta[name] = value, added or replaced (name as for RNGs; value finite). */
TERN_API tern_status tern_ckpt_set_meta(tern_ckpt_state *s, const char *name, double value);

/* 1 and *value = meta[name] when present, else 0. */
TERN_API int tern_ckpt_get_meta(const tern_ckpt_state *s, const char *name, double *value);

/* Write s to `path` atomically (see the overview). TERN_ERR_ARG for a bad
 * state (e.g. a name with '/', or a NaN or Inf that load would refuse), TERN_ERR_IO when the file cannot be written;
 * either way an existing `path` is untouched and no temporary file remains. */
TERN_API tern_status tern_ckpt_save(const char *path, const tern_ckpt_state *s);

/* Verify `path` against s, then fill s: params (every entry), the optimizer's
 * state blocks and step (when s->optim), each listed RNG (looked up by name;
 * RNGs in the file but not in s are ignored), epoch, step and the metadata
 * (replaced by the file's). TERN_ERR_IO when unreadable, TERN_ERR_FORMAT when
 * not a tern checkpoint, damaged, of another version or architecture, or
 * lacking the optimizer or an RNG; then nothing in s has changed. */
TERN_API tern_status tern_ckpt_load(const char *path, tern_ckpt_state *s);

/* *text = the stored config text, NUL-terminated, malloc'ed (free() it), so
 * a resumed run or an eval can rebuild the model from the checkpoint alone. */
TERN_API tern_status tern_ckpt_read_config(const char *path, char **text);

/* Version, counters, parameter count, optimizer, RNG names and metadata,
 * without reading the weights. */
TERN_API tern_status tern_ckpt_read_info(const char *path, tern_ckpt_info *info);

#ifdef __cplusplus
}
#endif
#endif
