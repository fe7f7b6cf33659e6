/* rng.c — xoshiro256** and the initialisers built on it. */
#include "tern/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void tern_rng_seed(tern_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tern_rng_u64(tern_rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

float tern_rng_uniform(tern_rng *r) { return (float)(tern_rng_u64(r) >> 40) * 0x1.0p-24f; }

uint32_t tern_rng_below(tern_rng *r, uint32_t n) {
    /* Lemire's multiply-shift with rejection of the biased low range. */
    uint64_t m = (uint64_t)(uint32_t)(tern_rng_u64(r) >> 32) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t thresh = (uint32_t)(-n) % n;
        while (lo < thresh) {
            m = (uint64_t)(uint32_t)(tern_rng_u64(r) >> 32) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float tern_rng_normal(tern_rng *r) {
    /* u1 in (0, 1] so log(u1) is finite. */
    double u1 = ((double)(tern_rng_u64(r) >> 11) + 1.0) * 0x1.0p-53;
    double u2 = (double)(tern_rng_u64(r) >> 11) * 0x1.0p-53;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void tern_rng_shuffle(tern_rng *r, int *idx, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)tern_rng_below(r, (uint32_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

void tern_init_he(tern_tensor *w, int fan_in, tern_rng *r) {
    float std = sqrtf(2.0f / (float)fan_in);
    for (size_t i = 0; i < w->n; i++) w->data[i] = std * tern_rng_normal(r);
}

void tern_init_xavier(tern_tensor *w, int fan_in, int fan_out, tern_rng *r) {
    float a = sqrtf(6.0f / (float)(fan_in + fan_out));
    for (size_t i = 0; i < w->n; i++) w->data[i] = a * (2.0f * tern_rng_uniform(r) - 1.0f);
}

void tern_init_const(tern_tensor *w, float value) {
    for (size_t i = 0; i < w->n; i++) w->data[i] = value;
}
