/*
 * backends/cpu/bf16_avx512.c: the bf16 GEMM on AVX-512 BF16 (vdpbf16ps:
 * two bf16 products summed into each float lane), from q8_tmpl512.h. Only
 * called after q8.c checked the CPU has AVX-512 BF16.
 */
#include "q8.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>

#include "peak.h"

/* vfmadd231ps: 16 products a zmm (1.0 x 1e-9); vdpbf16ps: 32 (1.0 x 1.0) */
VGC_PEAK_LOOP(vgc_peak_fma, "avx512f", "vfmadd231ps", 0x3f800000, 0x3089705f)
VGC_PEAK_LOOP(vgc_peak_bf16, "avx512f,avx512bw,avx512bf16", "vdpbf16ps", 0x3f803f80, 0x3f803f80)


static double seconds(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}


/* The fastest of `runs` timings of fn(iters). */
static double fastest(void (*fn)(long, int32_t *), long iters, int runs)
{
    double best = 1e30;
    int32_t sink;

    for (int r = 0; r < runs; r++) {
        const double t0 = seconds();
        double t;

        fn(iters, &sink);
        /* the sum is used: else GCC, which sees fn write nothing else, drops the call (it did) */
        __asm__ volatile("" : : "r"(sink) : "memory");
        t = seconds() - t0;
        best = t < best ? t : best;
    }
    return best;
}


/* vdpbf16ps's products a second over the FMA's, measured once a process (measure_once) */
static double ratio;
static pthread_once_t ratio_once = PTHREAD_ONCE_INIT;

static void measure_once(void)
{
    double tf = 1e30, tb = 1e30;

    /* in turns (here 6 us an fma run, 24 a vdpbf16ps one); the first runs wake the zmm units (dropped) */
    (void)fastest(vgc_peak_fma, 2048, 4);
    (void)fastest(vgc_peak_bf16, 2048, 4);
    for (int r = 0; r < 8; r++) {
        const double f = fastest(vgc_peak_fma, 2048, 2), b = fastest(vgc_peak_bf16, 2048, 2);

        tf = f < tf ? f : tf;
        tb = b < tb ? b : tb;
    }
    /* products a second: 32 an instruction against 16 */
    ratio = tb > 0 ? 2.0 * tf / tb : 0;
}


int vgc_bf16_avx512_pays(char *why, size_t whylen)
{
    pthread_once(&ratio_once, measure_once);
    if (ratio > 1.0)
        return 1;
    /* short, and without " of " (the device strings read that as "N of M convolutions"): /v1/models keeps 127 */
    snprintf(why, whylen, "avx512_bf16 slower than fp32 here (vdpbf16ps %.2fx the fma's rate; no amx_bf16)", ratio);
    return 0;
}

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma")
#endif

#define QT_ACC __m512
#define QT_ZERO _mm512_setzero_ps()
#define QT_DOT(c, b, a) _mm512_dpbf16_ps((c), (__m512bh)(b), (__m512bh)(a))
#define QT_TOF(g, m, acc) _mm512_add_ps((acc), _mm512_set1_ps((g)->bias[m]))
#define QT_ROW(g, m) const __m512 rk_bias = _mm512_set1_ps((g)->bias[m])
#define QT_TOF_ROW(acc) _mm512_add_ps((acc), rk_bias)
#define QT_PER 2
#define QT_E 2
#define QT_NAME(x) x##_bf16

#include "q8_tmpl512.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif

const vgc_q8_kernels vgc_bf16_avx512 = { VGC_BF16_AVX512, "avx512_bf16", 0, 1, gemm_bf16, 0, 0 };
#else
const vgc_q8_kernels vgc_bf16_avx512 = { VGC_BF16_AVX512, "avx512_bf16", 0, 1, NULL, 0, 0 };

int vgc_bf16_avx512_pays(char *why, size_t whylen)
{
    snprintf(why, whylen, "not an x86-64 build");
    return 0;
}
#endif
