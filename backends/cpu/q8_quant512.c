/*
 * backends/cpu/q8_quant512.c: the two passes of q8.c over an int8 layer's
 * float input on AVX-512: its range (min and max with 0) and its
 * quantization to u8, 16 floats a vector instead of SSE2's 4. The
 * arithmetic is q8.c's exactly (a rounded product, then a rounded sum,
 * clamped to [0, 255], truncated), so either path gives the same bytes.
 * Only called after q8.c checked the CPU has AVX-512 (F, BW).
 */
#include "q8.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#endif

void vgc_q8_quantize512(const float *x, size_t n, float inv, float zp, uint8_t *q)
{
    const __m512 vi = _mm512_set1_ps(inv), vz = _mm512_set1_ps(zp);
    const __m512 lo = _mm512_setzero_ps(), hi = _mm512_set1_ps(255.0f);
    size_t i = 0;

    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);
        /* never an fma: the product is rounded, as q8.c's SSE2 and scalar forms round it */
        __m512 t = _mm512_mul_round_ps(_mm512_maskz_loadu_ps(m, x + i), vi, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);

        t = _mm512_add_round_ps(t, vz, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        t = _mm512_min_ps(_mm512_max_ps(t, lo), hi);
        _mm512_mask_cvtusepi32_storeu_epi8(q + i, m, _mm512_cvttps_epi32(t));
    }
}


void vgc_q8_span512(const float *x, size_t n, float *lo, float *hi)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, b0 = a0, b1 = a0;
    size_t i = 0;

    for (; i + 32 <= n; i += 32) {
        const __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);

        a0 = _mm512_min_ps(a0, v0);
        b0 = _mm512_max_ps(b0, v0);
        a1 = _mm512_min_ps(a1, v1);
        b1 = _mm512_max_ps(b1, v1);
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);   /* the lanes past n read 0: inside [min, max] with 0 */

        a0 = _mm512_min_ps(a0, v);
        b0 = _mm512_max_ps(b0, v);
    }
    *lo = _mm512_reduce_min_ps(_mm512_min_ps(a0, a1));
    *hi = _mm512_reduce_max_ps(_mm512_max_ps(b0, b1));
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
#else
void vgc_q8_quantize512(const float *x, size_t n, float inv, float zp, uint8_t *q)
{
    (void)x, (void)n, (void)inv, (void)zp, (void)q;
}

void vgc_q8_span512(const float *x, size_t n, float *lo, float *hi)
{
    (void)x, (void)n;
    *lo = *hi = 0;
}
#endif
