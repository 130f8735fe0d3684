/*
 * backends/cpu/q16_vnni.c: the 16-bit GEMM (q16.h) on AVX-512 VNNI
 * (vpdpwssd: two s16 x s16 products summed into each int32 lane), from
 * q8_tmpl512.h, and its passes over the float input: the largest |x| and
 * the quantize-and-interleave into the pair layout. Only called after
 * q16.c checked the CPU has AVX-512 VNNI.
 */
#include "q16.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma")
#endif

/* symmetric on both sides: no compensation, y = acc * scale + bias (an fma, as q16.c's reference) */
#define QT_ACC __m512i
#define QT_ZERO _mm512_setzero_si512()
#define QT_DOT(c, b, a) _mm512_dpwssd_epi32((c), (b), (a))
#define QT_TOF(g, m, acc)                                                                                  \
    _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps((g)->scale[m]), _mm512_set1_ps((g)->bias[m]))
#define QT_ROW(g, m) const __m512 rk_scale = _mm512_set1_ps((g)->scale[m]), rk_bias = _mm512_set1_ps((g)->bias[m])
#define QT_TOF_ROW(acc) _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), rk_scale, rk_bias)
#define QT_PER 2
#define QT_E 2
#define QT_NAME(x) x##_s16

#include "q8_tmpl512.h"


static float amax_512(const float *x, size_t ldx, int k, int n)
{
    __m512 m = _mm512_setzero_ps();

    for (int r = 0; r < k; r++, x += ldx) {
        int j = 0;

        for (; j + 16 <= n; j += 16)
            m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
        if (j < n)
            m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_maskz_loadu_ps((__mmask16)((1u << (n - j)) - 1u), x + j)));
    }
    return _mm512_reduce_max_ps(m);
}


/* 16 columns of a row: round(x * inv) (nearest even, cvtps2dq), clamped to +-xmax */
static inline __m512i quant16(const float *x, __mmask16 mask, __m512 inv, __m512i lo, __m512i hi)
{
    __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(mask, x), inv));

    return _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
}


static void pack_512(const float *x, size_t ldx, int k, int n, float inv, int xmax, uint8_t *b, int ldb)
{
    const __m512 vi = _mm512_set1_ps(inv);
    const __m512i lo = _mm512_set1_epi32(-xmax), hi = _mm512_set1_epi32(xmax), low16 = _mm512_set1_epi32(0xffff);

    for (int r = 0; r < k; r += 2) {
        const float *r0 = x + (size_t)r * ldx, *r1 = r0 + ldx;
        int32_t *d = (int32_t *)(void *)(b + (size_t)(r / 2) * ldb * 4);

        for (int j = 0; j < n; j += 16) {
            const __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1u);
            const __m512i v0 = quant16(r0 + j, m, vi, lo, hi);
            const __m512i v1 = r + 1 < k ? quant16(r1 + j, m, vi, lo, hi) : _mm512_setzero_si512();

            _mm512_mask_storeu_epi32(d + j, m, _mm512_or_si512(_mm512_and_si512(v0, low16), _mm512_slli_epi32(v1, 16)));
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif

const vgc_q16_kernels vgc_q16_vnni = { "vnni", gemm_s16, pack_512, amax_512 };
#else
const vgc_q16_kernels vgc_q16_vnni = { "vnni", NULL, NULL, NULL };
#endif
