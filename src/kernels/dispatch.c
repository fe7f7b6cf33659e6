/* dispatch.c — kernel paths: names, what this CPU runs, the caller's choice
 * resolved to a path; and the GEMM driver: argument checks, activation
 * staging into scratch, the path call. */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "kernels_impl.h"

#if defined(__aarch64__) && defined(__ARM_NEON) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)   /* Linux's bit for the dot-product extension (C libraries older than it) */
#endif
#endif

static const char *const kernel_names[TERN_KERNEL_COUNT] = {
    [TERN_KERNEL_AUTO] = "auto",
    [TERN_KERNEL_SCALAR] = "scalar",
    [TERN_KERNEL_AVX2] = "avx2",
    [TERN_KERNEL_AVX512] = "avx512",
    [TERN_KERNEL_NEON] = "neon",
};

/* The ops of each path that is compiled in; NULL where it is not. */
static const tern_kernel_ops *const kernel_ops[TERN_KERNEL_COUNT] = {
    [TERN_KERNEL_SCALAR] = &tern_kernel_ops_scalar,
#if defined(__x86_64__)
    [TERN_KERNEL_AVX2] = &tern_kernel_ops_avx2,
    [TERN_KERNEL_AVX512] = &tern_kernel_ops_avx512,
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
    [TERN_KERNEL_NEON] = &tern_kernel_ops_neon,
#endif
};

const char *tern_kernel_name(tern_kernel k) {
    if ((unsigned)k >= TERN_KERNEL_COUNT) return "unknown";
    return kernel_names[k];
}

tern_status tern_kernel_parse(const char *name, tern_kernel *k) {
    if (!name || !k) return tern_error(TERN_ERR_ARG, "kernel_parse: NULL name or result");
    for (int i = 0; i < TERN_KERNEL_COUNT; i++)
        if (!strcasecmp(name, kernel_names[i])) {
            *k = (tern_kernel)i;
            return TERN_OK;
        }
    return tern_error(TERN_ERR_ARG, "kernel_parse: unknown kernel path '%s' (scalar, avx2, avx512, neon or auto)",
                      name);
}

int tern_kernel_available(tern_kernel k) {
    if ((unsigned)k >= TERN_KERNEL_COUNT || k == TERN_KERNEL_AUTO || !kernel_ops[k]) return 0;
    switch (k) {
    case TERN_KERNEL_SCALAR: return 1;
#if defined(__x86_64__)
    /* libgcc's cpu model also checks XCR0, i.e. that the OS saves the
     * ymm/zmm state; CPUID bits alone would not be enough. */
    case TERN_KERNEL_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case TERN_KERNEL_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vnni");
#endif
#if defined(__aarch64__) && defined(__ARM_NEON)
    case TERN_KERNEL_NEON: return 1;   /* Advanced SIMD is mandatory on aarch64 */
#endif
    default: return 0;
    }
}

tern_kernel tern_kernel_best(void) {
    static const tern_kernel order[] = {TERN_KERNEL_AVX512, TERN_KERNEL_AVX2, TERN_KERNEL_NEON};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        if (tern_kernel_available(order[i])) return order[i];
    return TERN_KERNEL_SCALAR;
}

tern_status tern_kernel_resolve(tern_kernel k, tern_kernel *path) {
    if ((unsigned)k >= TERN_KERNEL_COUNT) return tern_error(TERN_ERR_ARG, "kernel: path %d is out of range", (int)k);
    if (k == TERN_KERNEL_AUTO) k = tern_kernel_best();
    if (!tern_kernel_available(k))
        return tern_error(TERN_ERR_UNSUPPORTED, "kernel: the %s path is not %s", kernel_names[k],
                          kernel_ops[k] ? "supported by this CPU" : "built for this architecture");
    *path = k;
    return TERN_OK;
}

#if defined(__aarch64__) && defined(__ARM_NEON)
int tern_neon_has_dotprod(void) {
#if defined(__ARM_FEATURE_DOTPROD)
    return 1;   /* the whole library is built for it */
#elif defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
    return 0;
#endif
}
#endif

tern_status tern_kernel_ops_get(tern_kernel k, const tern_kernel_ops **ops) {
    tern_status st = tern_kernel_resolve(k, &k);
    if (!st) *ops = kernel_ops[k];
#if defined(__aarch64__) && defined(__ARM_NEON)
    /* NEON: the build of its kernels with sdot where the CPU has it. */
    if (!st && *ops == &tern_kernel_ops_neon && tern_neon_has_dotprod()) *ops = &tern_kernel_ops_neon_dotprod;
#endif
    return st;
}

/* ---- the GEMM driver ------------------------------------------------------ */

static void *align64(void *p) { return (void *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

size_t tern_kernel_gemm_scratch_bytes(const tern_packed *w, int n, tern_kact act) {
    if (!w || n < 1) return 0;
    size_t kp = tern_kp(w);
    if (act == TERN_KACT_I8) return (size_t)n * (kp + 8) + 64;
    return (size_t)n * kp * sizeof(float) + 64;
}

tern_status tern_kernel_gemm(tern_kernel path, const tern_packed *w, const float *x, int n, const float *bias, float *y,
                             tern_kact act, void *scratch, size_t scratch_bytes) {
    return tern_kernel_gemm_epi(path, w, x, n, bias, NULL, y, act, scratch, scratch_bytes);
}

tern_status tern_kernel_gemm_epi(tern_kernel path, const tern_packed *w, const float *x, int n, const float *bias,
                                 const tern_epilogue *epi, float *y, tern_kact act, void *scratch,
                                 size_t scratch_bytes) {
    if (!w || !w->qs || !x || !y || !scratch)
        return tern_error(TERN_ERR_ARG, "kernel_gemm: NULL weights, input, output or scratch");
    if (n < 1) return tern_error(TERN_ERR_SHAPE, "kernel_gemm: batch %d, needs at least 1", n);
    if ((unsigned)act >= TERN_KACT_COUNT) return tern_error(TERN_ERR_ARG, "kernel_gemm: unknown activation mode %d", act);
    size_t need = tern_kernel_gemm_scratch_bytes(w, n, act);
    if (scratch_bytes < need)
        return tern_error(TERN_ERR_ARG, "kernel_gemm: scratch has %zu bytes, (%d,%d) x batch %d needs %zu", scratch_bytes,
                          w->rows, w->cols, n, need);
    const tern_kernel_ops *ops;
    tern_status st = tern_kernel_ops_get(path, &ops);
    if (st) return st;

    const size_t K = (size_t)w->cols, kp = tern_kp(w);
    unsigned char *s = align64(scratch);
    if (act == TERN_KACT_I8) {
        /* (n, Kp) int8 rows, then sx (n) and qsum (n). */
        int8_t *q = (int8_t *)s;
        float *sx = (float *)(s + (size_t)n * kp);
        int32_t *qsum = (int32_t *)(sx + n);
        for (int i = 0; i < n; i++) {
            int8_t *qi = q + (size_t)i * kp;
            if (ops->quantize(x + (size_t)i * K, w->cols, qi, &sx[i], &qsum[i]))
                return tern_error(TERN_ERR_NUMERIC, "kernel_gemm: sample %d has a NaN or Inf activation", i);
            memset(qi + K, 0, kp - K);
        }
        tern_kq_job job = {.w = w, .n = n, .q = q, .ldq = kp, .sx = sx, .qsum = qsum, .bias = bias, .epi = epi, .y = y,
                           .ys = (size_t)w->rows, .yr = 1};
        ops->gemm_i8(&job);
    } else {
        /* (n, Kp) float rows, zero padded so no path needs a K tail. */
        float *xs = (float *)s;
        for (int i = 0; i < n; i++) {
            memcpy(xs + (size_t)i * kp, x + (size_t)i * K, K * sizeof(float));
            memset(xs + (size_t)i * kp + K, 0, (kp - K) * sizeof(float));
        }
        tern_kf_job job = {.w = w, .n = n, .x = xs, .ldx = kp, .bias = bias, .epi = epi, .y = y, .ys = (size_t)w->rows, .yr = 1};
        ops->gemm_f32(&job);
    }
    return TERN_OK;
}
