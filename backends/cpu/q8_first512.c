/*
 * backends/cpu/q8_first512.c: the first layer's kernels (q8_first.h) on
 * AVX-512 VNNI. A vector is 16 output positions of one filter; the 9 taps
 * of 16 positions are 9 reads of the converted rows (stride 2: two reads
 * a row split into even and odd dwords by vpermt2d), and each filter's
 * tap one vpdpbusd with its 4 weight bytes broadcast from memory: 144
 * vpdpbusd for 16 positions of 16 filters, nothing packed. Only called
 * after q8.c checked the CPU has AVX-512 VNNI.
 */
#include "q8_first.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma")
#endif

#define INLINE static inline __attribute__((always_inline))

/*
 * acc += the u8 x s8 products of t and the 4 weight bytes at p, broadcast
 * from memory by the instruction itself. Written out: with the intrinsic
 * GCC loaded the 288 weights of a step (loop invariants) into registers
 * up front, spilled them to the stack and broadcast them from there, and
 * the stride-2 layer ran no faster than fp32 (VGC_PROFILE, xl).
 */
#define DPBUSD_BCST(acc_, tap_, p_)                                                                          \
    __asm__("vpdpbusd %[m]%{1to16%}, %[t], %[a]" : [a] "+v"(acc_) : [t] "v"(tap_), [m] "m"(*(p_)))

static void convert_512(const float *x, size_t plane, int c, int w, uint32_t *dst)
{
    const __m512 k255 = _mm512_set1_ps(255.0f), zero = _mm512_setzero_ps();
    int i = 0;

    dst[0] = 0;
    for (; i < w; i += 16) {
        const __mmask16 k = i + 16 <= w ? (__mmask16)0xffff : (__mmask16)((1u << (w - i)) - 1u);
        __m512i px = _mm512_setzero_si512();

        for (int ch = 0; ch < c; ch++) {
            __m512 v = _mm512_maskz_loadu_ps(k, x + (size_t)ch * plane + (size_t)i);

            /* maxps first: a NaN becomes 0 (q8_first.c's reference does the same) */
            v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v, k255), zero), k255);
            px = _mm512_or_si512(px, _mm512_sll_epi32(_mm512_cvtps_epi32(v), _mm_cvtsi32_si128(8 * ch)));
        }
        _mm512_mask_storeu_epi32(dst + 1 + i, k, px);
    }
    /* the right pad and the slack */
    for (i = 0; i < VGC_Q8_FIRST_SLACK; i += 16)
        _mm512_storeu_si512(dst + w + 1 + i, _mm512_setzero_si512());
    dst[w + 1 + VGC_Q8_FIRST_SLACK] = 0;
}


/* Row r's 3 taps of 16 output positions from x (stride 2: even and odd dwords by vpermt2d). */
INLINE void row_taps(const uint32_t *r, int stride, int x, __m512i t[3])
{
    if (stride == 1) {
        const uint32_t *p = r + x;

        t[0] = _mm512_loadu_si512(p);
        t[1] = _mm512_loadu_si512(p + 1);
        t[2] = _mm512_loadu_si512(p + 2);
    } else {
        const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
        const uint32_t *p = r + 2 * (size_t)x;
        const __m512i a = _mm512_loadu_si512(p), b = _mm512_loadu_si512(p + 16);

        t[0] = _mm512_permutex2var_epi32(a, ev, b);
        t[1] = _mm512_permutex2var_epi32(a, od, b);
        t[2] = _mm512_permutex2var_epi32(_mm512_loadu_si512(p + 2), ev, _mm512_loadu_si512(p + 18));
    }
}


/*
 * 8 filters (their weights at w, q8_first.h's block layout) of two
 * vectors of 16 output positions, A (rows ra, from xa) and B (rows rb,
 * from xb): each broadcast weight feeds both. The high halves' 9 taps, the
 * sums shifted by 7, then the low halves': 16 accumulators, a row's 3 taps
 * of each vector and the weight are the registers it needs.
 */
INLINE void accumulate(const vgc_q8_first_row *a, const uint32_t *const *ra, const uint32_t *const *rb, int stride,
                       int xa, int xb, const int32_t *w, __m512i acc0[8], __m512i acc1[8])
{
#pragma GCC unroll 8
    for (int f = 0; f < 8; f++)
        acc0[f] = acc1[f] = _mm512_setzero_si512();
    for (int h = 0; h < a->passes; h++) {
        const size_t g = (size_t)h * a->rg;

        if (h && a->shift)
#pragma GCC unroll 8
            for (int f = 0; f < 8; f++) {
                acc0[f] = _mm512_slli_epi32(acc0[f], 7);
                acc1[f] = _mm512_slli_epi32(acc1[f], 7);
            }
#pragma GCC unroll 3
        for (int ky = 0; ky < 3; ky++) {
            const int32_t *wk = w + (h * 9 + ky * 3) * 16;
            __m512i t0[3], t1[3];

            __asm__("" : "+r"(wk));     /* else GCC keeps each weight's address, loop invariants, on the stack */
            row_taps(ra[ky] + g, stride, xa, t0);
            row_taps(rb[ky] + g, stride, xb, t1);
#pragma GCC unroll 3
            for (int kx = 0; kx < 3; kx++)
#pragma GCC unroll 8
                for (int f = 0; f < 8; f++) {
                    DPBUSD_BCST(acc0[f], t0[kx], wk + kx * 16 + f);
                    DPBUSD_BCST(acc1[f], t1[kx], wk + kx * 16 + f);
                }
        }
    }
}


INLINE __m512 epilogue(__m512i acc, int32_t comp, float scale, float bias, enum vgc_act act)
{
    __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc, _mm512_set1_epi32(comp))),
                               _mm512_set1_ps(scale), _mm512_set1_ps(bias));

    if (act == VGC_ACT_LEAKY)
        y = _mm512_max_ps(y, _mm512_mul_ps(y, _mm512_set1_ps(0.1f)));
    else if (act == VGC_ACT_RELU)
        y = _mm512_max_ps(y, _mm512_setzero_ps());
    return y;
}


static __mmask16 tail(int n)
{
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1u);
}


/* y stored under mask k, and the range widened by its stored lanes */
INLINE void put(float *o, __mmask16 k, __m512 y, __m512 *lo, __m512 *hi)
{
    _mm512_mask_storeu_ps(o, k, y);
    *lo = _mm512_mask_min_ps(*lo, k, y, *lo);
    *hi = _mm512_mask_max_ps(*hi, k, y, *hi);
}


/* a->range widened by the lanes of lo and hi */
static void widen(const vgc_q8_first_row *a, __m512 lo, __m512 hi)
{
    const float l = _mm512_reduce_min_ps(lo), h = _mm512_reduce_max_ps(hi);

    a->range[0] = l < a->range[0] ? l : a->range[0];
    a->range[1] = h > a->range[1] ? h : a->range[1];
}


/* One output row of the first `keep` of 8 filters from m0, 32 positions a step. */
INLINE void plain_block(const vgc_q8_first_row *a, const int32_t *w, int m0, int keep, enum vgc_act act,
                        int stride)
{
    __m512 lo = _mm512_setzero_ps(), hi = lo;

    for (int x = 0; x < a->ow; x += 32) {
        const __mmask16 k0 = tail(a->ow - x), k1 = tail(a->ow - x - 16);
        __m512i acc0[8], acc1[8];

        accumulate(a, a->r, a->r, stride, x, x + 16, w, acc0, acc1);
#pragma GCC unroll 8
        for (int f = 0; f < 8; f++)
            if (f < keep) {
                float *o = a->out + (size_t)(m0 + f) * a->plane + x;

                const int32_t c = a->comp ? a->comp[m0 + f] : 0;

                put(o, k0, epilogue(acc0[f], c, a->scale[m0 + f], a->bias[m0 + f], act), &lo, &hi);
                put(o + 16, k1, epilogue(acc1[f], c, a->scale[m0 + f], a->bias[m0 + f], act), &lo, &hi);
            }
    }
    widen(a, lo, hi);
}


/*
 * Rows y and y + 1 of the first `keep` of 8 filters from m0, 16 positions
 * a step, the larger of each pair of rows' accumulators to the scratch;
 * then each window's pair of columns, its larger one through the
 * epilogue: the pooled row.
 */
INLINE void pool_block(const vgc_q8_first_row *a, const int32_t *w, int m0, int keep, enum vgc_act act)
{
    const int ldc = (a->ow + 31) & ~31;
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    const int pw = a->ow / 2;
    __m512 lo = _mm512_setzero_ps(), hi = lo;

    for (int x = 0; x < ldc; x += 16) {
        __m512i acc0[8], acc1[8];

        accumulate(a, a->r, a->r + 1, 1, x, x, w, acc0, acc1);
#pragma GCC unroll 8
        for (int f = 0; f < 8; f++)
            _mm512_storeu_si512(a->acc + (size_t)f * ldc + x, _mm512_max_epi32(acc0[f], acc1[f]));
    }
    for (int f = 0; f < keep; f++) {
        const int32_t *p = a->acc + (size_t)f * ldc;
        float *o = a->out + (size_t)(m0 + f) * a->plane;

        const int32_t c = a->comp ? a->comp[m0 + f] : 0;

        for (int x = 0; x < pw; x += 16) {
            const __m512i c0 = _mm512_loadu_si512(p + 2 * x), c1 = _mm512_loadu_si512(p + 2 * x + 16);
            const __m512i mx = _mm512_max_epi32(_mm512_permutex2var_epi32(c0, ev, c1),
                                                _mm512_permutex2var_epi32(c0, od, c1));

            put(o + x, tail(pw - x), epilogue(mx, c, a->scale[m0 + f], a->bias[m0 + f], act), &lo, &hi);
        }
    }
    widen(a, lo, hi);
}


/* The filters 8 at a time (yolo-fastest-1.1's first layer has 8): the weights past m are 0. */
INLINE void row_act(const vgc_q8_first_row *a, enum vgc_act act)
{
    for (int m0 = 0; m0 < a->m; m0 += 8) {
        const int keep = a->m - m0 < 8 ? a->m - m0 : 8;
        const int32_t *w = a->w + vgc_q8_first_at(m0, a->passes, 0, 0);

        if (a->pool)
            pool_block(a, w, m0, keep, act);
        else if (a->stride == 1)
            plain_block(a, w, m0, keep, act, 1);
        else
            plain_block(a, w, m0, keep, act, 2);
    }
}


static void row_512(const vgc_q8_first_row *a)
{
    if (a->act == VGC_ACT_LEAKY)
        row_act(a, VGC_ACT_LEAKY);
    else if (a->act == VGC_ACT_RELU)
        row_act(a, VGC_ACT_RELU);
    else
        row_act(a, VGC_ACT_LINEAR);
}

#if defined(__clang__)
#pragma clang attribute pop
#endif

const vgc_q8_first_kernels vgc_q8_first_vnni = { "vnni", convert_512, row_512 };

#else
const vgc_q8_first_kernels vgc_q8_first_vnni = { "vnni", NULL, NULL };
#endif
