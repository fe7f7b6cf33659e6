/* tern/monitor.h — what ternarization buys and costs, per layer: memory,
 * operations, time and energy of a deploy model (tern/deploy.h).
 *
 * Counts (tern_monitor_count) are exact functions of the deploy model. Every
 * operation count is PER SAMPLE (one inference of one input), as the runtime
 * executes the layer (tern/runtime.h); P is a layer's output positions
 * (conv2d: OH*OW; linear: 1), M its output channels, K its inputs per output.
 *   macs          dense-equivalent multiply-accumulates: M*K*P (linear/conv)
 *   t_adds        ternary: additions of an activation, one per +1 weight per
 *                 position: n_pos*P
 *   t_subs        ternary: subtractions, one per -1 weight per position: n_neg*P
 *   t_skipped     ternary: MACs a zero weight makes unnecessary: n_zero*P
 *                 (t_adds + t_subs + t_skipped = macs; what the dense packed
 *                 kernel executes is SIMD lanes, not this: see tern profile)
 *   scale_muls    ternary: fp32 multiplies by the per-row scales, per output:
 *                 1 (symmetric, y = alpha D + b) or 2 (y = wp P - wn N + b)
 *   adds          other fp32 additions/subtractions: the bias add of every
 *                 linear/conv output (and the P - N combine of asymmetric
 *                 rows), affine (x - center) and + shift, avgpool window sums
 *                 (k*k - 1 per output), global_avgpool (H*W - 1 per output),
 *                 residual add (1 per element)
 *   muls          other fp32 multiplies: affine scale, the pools' 1/(k*k) or
 *                 1/(H*W) (1 per output)
 *   cmps          compares: maxpool (k*k - 1 per output), relu (1 per
 *                 element), hardtanh (2 per element), whether a layer or a
 *                 fused activation
 *   act_quant     int8 layers (act_bits 8): input activations quantized per
 *                 sample (absmax compare, one multiply, one round each); conv
 *                 quantizes its C*H*W input once, before im2col
 * Memory is of the model as the runtime holds it: bytes_deploy counts packed
 * codes with K padded to a multiple of 128 plus wp, wn and bias as floats;
 * bytes_fp32 counts the same layer with every weight an fp32 (a ternary row
 * has M*K weights + M biases there; its scales vanish into the weights).
 *
 * Energy (tern_monitor_energy) is an estimate from a per-operation table,
 * default tern_energy_45nm: M. Horowitz, "Computing's energy problem (and
 * what we can do about it)", ISSCC 2014, 45 nm, 0.9 V: fp32 mul 3.7 pJ,
 * fp32 add 0.9 pJ, int8 add 0.03 pJ, int32 add 0.1 pJ, int8 mul 0.2 pJ,
 * int32 mul 3.1 pJ, 32-bit DRAM read 640 pJ, 64-bit SRAM read 10 pJ (8 KB),
 * 20 pJ (32 KB), 100 pJ (1 MB). The model of one inference at batch 1:
 *   ternary model (the deploy model as it runs):
 *     - each nonzero weight per position (t_adds + t_subs) is one accumulate:
 *       an int32 add of an int8 activation on int8 layers, an fp32 add on
 *       float-activation layers; zero weights cost nothing;
 *     - scale_muls are fp32 muls; adds and cmps fp32 adds (a compare costs an
 *       add); muls fp32 muls; act_quant one fp32 mul + one fp32 add each;
 *     - fp32 layers: every MAC is an fp32 mul + an fp32 add;
 *     - weights (bytes_deploy of all layers, W bytes) are read once: from
 *       SRAM when W fits the largest SRAM of the table (1 MB), at the
 *       smallest SRAM size holding W per 64-bit read (W/8 reads), else from
 *       DRAM, W/4 32-bit reads at 640 pJ;
 *     - activations: each layer reads its input and writes its output once,
 *       4 bytes an element, from SRAM sized by the layer's working set
 *       (input + output bytes), per 64-bit access (larger than 1 MB: DRAM).
 *   fp32-equivalent model: the same network with every weight fp32: every
 *   MAC an fp32 mul + add, no scale_muls, no act_quant, the other ops as
 *   above, bytes_fp32 read once by the same rule, the same activations.
 * The ratio fp32 / ternary is what ternarization saves under this model. It
 * leaves out instruction overheads, caches and SIMD lane waste; measured
 * energy (RAPL, below) includes everything on the package.
 *
 * RAPL (tern_rapl_*): the package energy counters of Linux powercap,
 * ROOT/intel-rapl:N/energy_uj (µJ, wrapping at max_energy_range_uj), summed
 * over package domains (a domain whose `name` starts with "package", or has
 * no name file). Often readable only by root; the status then says why. */
#ifndef TERN_MONITOR_H
#define TERN_MONITOR_H

#include <stddef.h>
#include <stdint.h>

#include "tern/api.h"
#include "tern/config.h"
#include "tern/deploy.h"
#include "tern/nn.h"
#include "tern/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- counts ----------------------------------------------------------------- */

/* One layer's (or the total's) memory and per-sample operation counts, as
 * defined in the overview. Scale fields are for ternary layers only. */
typedef struct tern_layer_count {
    int ternary;                 /* 1: packed ternary weights */
    int int8;                    /* ternary and trained with 8-bit activations (runs TERN_KACT_I8) */
    int in_shape[3], in_ndim;    /* per sample */
    size_t in_numel, out_numel;  /* elements per sample */
    size_t act_bytes;            /* activation bytes moved per sample: 4 (in + out); 0 for a flatten view */
    size_t weights;              /* M*K (linear/conv), else 0 */
    size_t n_pos, n_neg, n_zero; /* ternary: weights at +1, -1, 0 (padding excluded) */
    size_t params;               /* numbers stored: weights, biases, scales, affine vectors */
    size_t bytes_deploy;         /* in memory: packed codes (K padded to 128) + floats */
    size_t bytes_fp32;           /* the same layer with fp32 weights (4 bytes per weight and bias) */
    double bits_per_weight;      /* ternary: 8 (codes + wp + wn bytes) / weights; fp32: 32; else 0 */
    uint64_t positions;          /* P: output positions (conv OH*OW, linear 1) */
    uint64_t macs, t_adds, t_subs, t_skipped, scale_muls, adds, muls, cmps, act_quant;
    float wp_mean, wp_min, wp_max;  /* ternary: scales of +1 weights over rows */
    float wn_mean, wn_min, wn_max;  /* ternary: scales of -1 weights over rows */
} tern_layer_count;

/* per_layer[i] (n_layers entries) = the counts of m's layer i; *total = their
 * sums (ternary/int8/shapes/scales zero; bits_per_weight over all ternary
 * weights). Either output may be NULL. TERN_ERR_FORMAT when a packed layer
 * cannot be unpacked. */
TERN_API tern_status tern_monitor_count(const tern_deploy *m, tern_layer_count *per_layer, tern_layer_count *total);

/* ---- energy ----------------------------------------------------------------- */

/* Energy per operation, pJ. */
typedef struct tern_energy_table {
    double fp32_mul, fp32_add, int8_add, int32_add, int8_mul, int32_mul;
    double dram_read32;          /* one 32-bit DRAM read */
    int n_sram;                  /* SRAM sizes, ascending */
    size_t sram_bytes[4];        /* capacity */
    double sram_read64[4];       /* one 64-bit read of an SRAM of that size */
} tern_energy_table;

/* Horowitz, ISSCC 2014, 45 nm (the overview's numbers). */
TERN_API extern const tern_energy_table tern_energy_45nm;

/* Estimated energy of one inference, pJ, split as the model computes it. */
typedef struct tern_energy {
    double compute_pj;           /* arithmetic */
    double weight_pj;            /* reading the weights once */
    double act_pj;               /* reading inputs and writing outputs */
    double total_pj;             /* their sum */
} tern_energy;

/* pJ of moving `bytes` from the smallest memory of t that holds `bytes`:
 * 64-bit SRAM reads (ceil(bytes/8)), or 32-bit DRAM reads (ceil(bytes/4)). */
TERN_API double tern_monitor_mem_pj(const tern_energy_table *t, size_t bytes);

/* The overview's model over c (n layers, from tern_monitor_count): fp32 = 0
 * the ternary model, 1 the fp32-equivalent. per_layer (n) may be NULL; the
 * weights' energy is charged to each layer in proportion to its bytes, at
 * the memory the whole model's weights fit in. */
TERN_API tern_status tern_monitor_energy(const tern_layer_count *c, int n, const tern_energy_table *t, int fp32,
                                         tern_energy *per_layer, tern_energy *total);

/* ---- training checkpoints ---------------------------------------------------- */

/* What a training checkpoint holds besides the deploy view. */
typedef struct tern_monitor_train_info {
    size_t latent_floats;        /* /params: latent weights, scales, BN statistics */
    size_t optim_floats;         /* optimizer state (momentum, Adam m and v); 0 when none was saved */
    char optim[16];              /* "sgd", "adam", "adamw", "" */
    long epoch, step;
} tern_monitor_train_info;

/* The deploy view of m, a model built from cfg (tern_model_init or
 * tern_restore_model), without the dataset: tern_deploy_from_model with m's
 * input shape, class names "0".."n-1", the dataset name and normalisation
 * of cfg (zero mean, unit std when computed from the training split). What
 * export would write, to count (tern_monitor_count) before any training.
 * *d must be empty; it is left empty on failure. */
TERN_API tern_status tern_monitor_deploy_view(const tern_config *cfg, const tern_model *m, tern_deploy *d);

/* Load `path` as a deploy model: a deploy checkpoint as is, or a training
 * checkpoint rebuilt from its stored config and weights and converted with
 * tern_deploy_from_model (what export writes, BN folded), without reading
 * the dataset: the input shape comes from the config's dataset name, class
 * names are "0".."n-1", and the input normalisation is the config's (zero
 * mean, unit std when it is computed from the training split). *is_train =
 * 1 and *info filled for a training checkpoint (info may be NULL). *d must
 * be empty; it is left empty on failure. */
TERN_API tern_status tern_monitor_load(const char *path, tern_deploy *d, int *is_train, tern_monitor_train_info *info);

/* ---- RAPL ------------------------------------------------------------------- */

#define TERN_RAPL_MAX_DOMAINS 8

typedef struct tern_rapl {
    int n;                                   /* package domains found */
    char path[TERN_RAPL_MAX_DOMAINS][512];   /* their energy_uj files */
    uint64_t range[TERN_RAPL_MAX_DOMAINS];   /* max_energy_range_uj: the counter wraps to 0 there */
    uint64_t start[TERN_RAPL_MAX_DOMAINS];   /* readings at tern_rapl_start */
} tern_rapl;

/* Find the package domains under root (NULL: /sys/class/powercap) and read
 * each once. TERN_ERR_UNSUPPORTED when there is none or one is unreadable;
 * the message says which and why (e.g. "Permission denied"). */
TERN_API tern_status tern_rapl_open(tern_rapl *r, const char *root);

/* Take the starting readings. */
TERN_API tern_status tern_rapl_start(tern_rapl *r);

/* *uj = energy since tern_rapl_start summed over domains, µJ; a counter
 * that reads lower than at the start wrapped once: (range - start) + now. */
TERN_API tern_status tern_rapl_stop(tern_rapl *r, double *uj);

#ifdef __cplusplus
}
#endif
#endif
