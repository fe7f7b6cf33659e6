/* tern/rng.h — seeded deterministic random numbers and weight initialisation.
 *
 * xoshiro256** seeded through splitmix64. The whole state is four words, so a
 * checkpoint can save and restore it exactly. Every random draw in tern
 * (init, dropout, shuffling, augmentation) goes through a tern_rng, so the
 * same seed and thread count give bit-identical runs. */
#ifndef TERN_RNG_H
#define TERN_RNG_H

#include <stdint.h>
#include "tern/api.h"
#include "tern/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tern_rng {
    uint64_t s[4];
} tern_rng;

/* State from a 64-bit seed (splitmix64 expansion). */
TERN_API void tern_rng_seed(tern_rng *r, uint64_t seed);

TERN_API uint64_t tern_rng_u64(tern_rng *r);
/* Uniform in [0, 1), 24 random bits. */
TERN_API float tern_rng_uniform(tern_rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
TERN_API uint32_t tern_rng_below(tern_rng *r, uint32_t n);
/* Standard normal (Box-Muller, no cached second value: state stays 4 words). */
TERN_API float tern_rng_normal(tern_rng *r);
/* Fisher-Yates shuffle of idx[0..n). */
TERN_API void tern_rng_shuffle(tern_rng *r, int *idx, int n);

/* He (Kaiming) normal: w ~ N(0, 2 / fan_in). */
TERN_API void tern_init_he(tern_tensor *w, int fan_in, tern_rng *r);
/* Xavier (Glorot) uniform: w ~ U(-a, a), a = sqrt(6 / (fan_in + fan_out)). */
TERN_API void tern_init_xavier(tern_tensor *w, int fan_in, int fan_out, tern_rng *r);
/* w = value everywhere. */
TERN_API void tern_init_const(tern_tensor *w, float value);

#ifdef __cplusplus
}
#endif

#endif
