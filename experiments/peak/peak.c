/* peak.c — the ceiling of this CPU for the two instructions tern's conv
 * kernels live on: AVX-512 fp32 FMA (the direct fp32 conv) and VNNI
 * vpdpbusd (the direct int8 conv), each as 12 independent chains so that
 * throughput, not latency, bounds them. docs/performance.md compares the
 * kernels' GMAC/s with these.
 *
 *   gcc -O2 -march=native experiments/peak/peak.c -o /tmp/peak && /tmp/peak
 *
 * x86-64 with AVX-512 F and VNNI only; prints the best of five rounds. */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

#define R12(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

int main(void) {
    const long n = 50000000;
#define DECL(i) __m512 f##i = _mm512_set1_ps((float)i * 1e-9f); __m512i q##i = _mm512_set1_epi32(i);
    R12(DECL)
    __m512 a = _mm512_set1_ps(1.0000001f), b = _mm512_set1_ps(0.9999999f);
    __m512i u = _mm512_set1_epi8(1), s = _mm512_set1_epi8(1);
    __asm__ volatile("" : "+v"(a), "+v"(b), "+v"(u), "+v"(s)); /* not constants to the compiler */
    double best_f = 0, best_q = 0;
    for (int round = 0; round < 5; round++) {
        double t0 = now();
#define FMA(i) f##i = _mm512_fmadd_ps(f##i, a, b);
        for (long k = 0; k < n; k++) { R12(FMA) }
        double t1 = now();
#define DOT(i) q##i = _mm512_dpbusd_epi32(q##i, u, s);
        for (long k = 0; k < n; k++) { R12(DOT) }
        double t2 = now();
        double gf = 12.0 * n * 16 / (t1 - t0) / 1e9, gq = 12.0 * n * 64 / (t2 - t1) / 1e9;
        best_f = gf > best_f ? gf : best_f;
        best_q = gq > best_q ? gq : best_q;
    }
    float sink = 0;
    int isink = 0;
#define SINK(i) sink += _mm512_reduce_add_ps(f##i); isink += _mm512_reduce_add_epi32(q##i);
    R12(SINK)
    printf("fp32 FMA (zmm):      %6.1f GMAC/s\nvpdpbusd (zmm, u8*s8): %6.1f GMAC/s\n(sink %g %d)\n", best_f, best_q,
           (double)sink, isink);
    return 0;
}
