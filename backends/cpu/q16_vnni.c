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


/* Four independent maxima (one chain of vmaxps measured the same: the pass waits on memory, not on it). */
static float amax_512(const float *x, size_t ldx, int k, int n)
{
    __m512 m0 = _mm512_setzero_ps(), m1 = m0, m2 = m0, m3 = m0;

    for (int r = 0; r < k; r++, x += ldx) {
        int j = 0;

        for (; j + 64 <= n; j += 64) {
            m0 = _mm512_max_ps(m0, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
            m1 = _mm512_max_ps(m1, _mm512_abs_ps(_mm512_loadu_ps(x + j + 16)));
            m2 = _mm512_max_ps(m2, _mm512_abs_ps(_mm512_loadu_ps(x + j + 32)));
            m3 = _mm512_max_ps(m3, _mm512_abs_ps(_mm512_loadu_ps(x + j + 48)));
        }
        for (; j + 16 <= n; j += 16)
            m1 = _mm512_max_ps(m1, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
        if (j < n)
            m2 = _mm512_max_ps(m2, _mm512_abs_ps(_mm512_maskz_loadu_ps((__mmask16)((1u << (n - j)) - 1u), x + j)));
    }
    return _mm512_reduce_max_ps(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
}


/*
 * 16 columns of a row: round(x * inv) (nearest even, cvtps2dq). Not
 * clamped: inv is xmax over the largest |x| of these very numbers (q16.c),
 * so |x * inv| < xmax + 0.5 with its roundings, and it rounds to at most
 * xmax, as the reference's clamp leaves it.
 */
static inline __m512i quant16(const float *x, __mmask16 mask, __m512 inv)
{
    return _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(mask, x), inv));
}


static void pack_512(const float *x, size_t ldx, int k, int n, float inv, int xmax, uint8_t *b, int ldb)
{
    const __m512 vi = _mm512_set1_ps(inv);
    const __m512i low16 = _mm512_set1_epi32(0xffff);

    (void)xmax;
    for (int r = 0; r < k; r += 2) {
        const float *r0 = x + (size_t)r * ldx, *r1 = r0 + ldx;
        int32_t *d = (int32_t *)(void *)(b + (size_t)(r / 2) * ldb * 4);
        int j = 0;

        /* a pair of rows: row r's s16 in the low half of each column's 4 bytes, row r + 1's in the high */
        for (; r + 1 < k && j + 16 <= n; j += 16)
            _mm512_storeu_si512(d + j, _mm512_or_si512(_mm512_and_si512(quant16(r0 + j, 0xffff, vi), low16),
                                                       _mm512_slli_epi32(quant16(r1 + j, 0xffff, vi), 16)));
        for (; j < n; j += 16) {
            const __mmask16 m = n - j >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - j)) - 1u);
            const __m512i v0 = quant16(r0 + j, m, vi);
            const __m512i v1 = r + 1 < k ? quant16(r1 + j, m, vi) : _mm512_setzero_si512();

            _mm512_mask_storeu_epi32(d + j, m, _mm512_or_si512(_mm512_and_si512(v0, low16), _mm512_slli_epi32(v1, 16)));
        }
    }
}

/* The first `left` of 16 lanes. */
static inline __mmask16 tail16(int left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
}


/* One row into the low (hi 0) or high s16 of each column: 16-bit masked stores leave the other half. */
static void half_512(const float *x, int n, float inv, uint8_t *b, int hi)
{
    const __m512 vi = _mm512_set1_ps(inv);
    const __mmask32 lanes = hi ? 0xaaaaaaaau : 0x55555555u;

    for (int j = 0; j < n; j += 16) {
        const __mmask16 m = tail16(n - j);
        const __mmask32 m2 = n - j >= 16 ? 0xffffffffu : (__mmask32)((1ull << (2 * (n - j))) - 1u);
        __m512i v = quant16(x + j, m, vi);

        if (hi)
            v = _mm512_slli_epi32(v, 16);
        _mm512_mask_storeu_epi16(b + (size_t)j * 4, lanes & m2, v);
    }
}


/* Two rows, each its own inv, into whole columns: one full store a line (the halves were two masked ones). */
static void pair_512(const float *x0, const float *x1, int n, float inv0, float inv1, uint8_t *b)
{
    const __m512 v0 = _mm512_set1_ps(inv0), v1 = _mm512_set1_ps(inv1);
    const __m512i low16 = _mm512_set1_epi32(0xffff);
    int32_t *d = (int32_t *)(void *)b;

    for (int j = 0; j < n; j += 16) {
        const __mmask16 m = tail16(n - j);

        _mm512_mask_storeu_epi32(d + j, m, _mm512_or_si512(_mm512_and_si512(quant16(x0 + j, m, v0), low16),
                                                           _mm512_slli_epi32(quant16(x1 + j, m, v1), 16)));
    }
}


static float rowmax_512(const float *w, const float *s, int k)
{
    __m512 m = _mm512_setzero_ps();

    for (int j = 0; j < k; j += 16) {
        const __mmask16 t = tail16(k - j);
        const __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(t, w + j), _mm512_maskz_loadu_ps(t, s + j));

        m = _mm512_max_ps(m, _mm512_abs_ps(p));
    }
    return _mm512_reduce_max_ps(m);
}


static long long rowq_512(const float *w, const float *s, int k, float inv, int16_t *d)
{
    const __m512 vi = _mm512_set1_ps(inv);
    __m512i sum = _mm512_setzero_si512();

    for (int j = 0; j < k; j += 16) {
        const __mmask16 t = tail16(k - j);
        /* the product rounded, then times inv rounded, as the scalar form: no fma */
        const __m512 p = _mm512_mul_ps(_mm512_maskz_loadu_ps(t, w + j), _mm512_maskz_loadu_ps(t, s + j));
        const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(p, vi));

        _mm256_mask_storeu_epi16(d + j, t, _mm512_cvtepi32_epi16(v));
        sum = _mm512_add_epi32(sum, _mm512_abs_epi32(v));
    }
    /* at most VGC_Q16_FED_WMAX a lane a step: int32 lanes hold k up to 2^20 */
    return _mm512_reduce_add_epi32(sum);
}

#if defined(__clang__)
#pragma clang attribute pop
#endif

const vgc_q16_kernels vgc_q16_vnni = { "vnni", gemm_s16, pack_512, amax_512, half_512, pair_512, rowmax_512, rowq_512 };
#else
const vgc_q16_kernels vgc_q16_vnni = { "vnni", NULL, NULL, NULL, NULL, NULL, NULL, NULL };
#endif
