/*
 * backends/cpu/q8_avx2.c: the int8 GEMM on AVX2 (vpmaddubsw: u8 x s8 pairs
 * summed into int16 with saturation, then vpmaddwd by ones into int32).
 * The pair sum cannot saturate because the weights it is given are within
 * +-63 (wmax below): 2 x 255 x 63 < 32767. Blocks of 4 rows x 16 columns.
 * Only called after q8.c checked the CPU has AVX2.
 */
#include "q8.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif

#define MR 4

static inline void store_vec(const vgc_q8_gemm *g, int m, int col, __m256i acc, int cnt)
{
    __m256 y = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc, _mm256_set1_epi32(g->comp[m]))),
                               _mm256_set1_ps(g->scale[m]), _mm256_set1_ps(g->bias[m]));
    float *c = g->c + (size_t)m * g->ldc + col;
    float t[8];

    if (g->act == VGC_ACT_LEAKY)
        y = _mm256_max_ps(y, _mm256_mul_ps(y, _mm256_set1_ps(0.1f)));
    if (cnt >= 8 && (g->act == VGC_ACT_LEAKY || g->act == VGC_ACT_LINEAR)) {
        _mm256_storeu_ps(c, y);
        return;
    }
    _mm256_storeu_ps(t, y);
    for (int i = 0; i < cnt && i < 8; i++)
        c[i] = g->act == VGC_ACT_LEAKY || g->act == VGC_ACT_LINEAR ? t[i] : vgc_act_scalar(t[i], g->act);
}


/* u8 x s8 groups of 4 into int32 lanes, exact for |s8| <= 63 */
static inline __m256i dot4(__m256i acc, __m256i b, __m256i a, __m256i ones)
{
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(b, a), ones));
}


/* 4 rows x 16 columns: 8 accumulators in registers. */
static void block4x2(const vgc_q8_gemm *g, int m0, int n0)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const uint8_t *b = g->b + (size_t)n0 * 4;
    const size_t bs = (size_t)g->ldb * 4, kp = (size_t)g->kp;
    const int8_t *a = g->a + (size_t)m0 * kp;
    const int groups = g->kp / 4;
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00;
    __m256i c20 = c00, c21 = c00, c30 = c00, c31 = c00;

    for (int kg = 0; kg < groups; kg++, b += bs, a += 4) {
        const __m256i b0 = _mm256_loadu_si256((const __m256i *)b), b1 = _mm256_loadu_si256((const __m256i *)(b + 32));
        __m256i av;

        av = _mm256_set1_epi32(*(const int32_t *)(const void *)a);
        c00 = dot4(c00, b0, av, ones);
        c01 = dot4(c01, b1, av, ones);
        av = _mm256_set1_epi32(*(const int32_t *)(const void *)(a + kp));
        c10 = dot4(c10, b0, av, ones);
        c11 = dot4(c11, b1, av, ones);
        av = _mm256_set1_epi32(*(const int32_t *)(const void *)(a + 2 * kp));
        c20 = dot4(c20, b0, av, ones);
        c21 = dot4(c21, b1, av, ones);
        av = _mm256_set1_epi32(*(const int32_t *)(const void *)(a + 3 * kp));
        c30 = dot4(c30, b0, av, ones);
        c31 = dot4(c31, b1, av, ones);
    }
    {
        const __m256i acc[MR][2] = { { c00, c01 }, { c10, c11 }, { c20, c21 }, { c30, c31 } };

        for (int r = 0; r < MR && m0 + r < g->m; r++)
            for (int v = 0; v < 2 && n0 + 8 * v < g->n; v++)
                store_vec(g, m0 + r, n0 + 8 * v, acc[r][v], g->n - n0 - 8 * v);
    }
}


static void gemm_avx2(const vgc_q8_gemm *g)
{
    /* ldb is a multiple of 32: 16 columns are always readable */
    for (int n0 = 0; n0 < g->n; n0 += 16)
        for (int m0 = 0; m0 < g->m; m0 += MR)
            block4x2(g, m0, n0);
}

#if defined(__clang__)
#pragma clang attribute pop
#endif

const vgc_q8_kernels vgc_q8_avx2 = { VGC_Q8_AVX2, "avx2", 63, 0, gemm_avx2, 0, 0 };
#else
const vgc_q8_kernels vgc_q8_avx2 = { VGC_Q8_AVX2, "avx2", 63, 0, NULL, 0, 0 };
#endif
