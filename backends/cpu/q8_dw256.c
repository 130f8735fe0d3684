/*
 * backends/cpu/q8_dw256.c: the int8 depthwise channel (q8.h's vgc_q8_dw) on
 * AVX2, for CPUs without AVX512_VBMI. Taps go in pairs through vpmaddwd
 * (u8 widened to s16 x the pair's s16 weights, summed into int32 lanes);
 * a pair of output i must be two adjacent s16, which widening 16 input
 * bytes gives for free at stride 2 (lane i holds bytes 2i, 2i + 1); at
 * stride 1 the even outputs take the bytes from x and the odd ones from
 * x + 1, and the two halves are interleaved after the epilogue. Other
 * strides and sizes past 8 go to the reference. Loads are 16 bytes whole:
 * up to 16 bytes past the last tap a row needs are read (q8.h: the planes
 * have room), never used. Only called after q8.c checked the CPU has AVX2.
 */
#include "q8.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif

#define DW_MAX_SIZE 8
#define DW_PAIRS 4


/* Dequantize, bias and activation of 8 accumulators. */
static inline __m256 dw_float(const vgc_q8_dw *d, __m256i acc)
{
    __m256 y = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc, _mm256_set1_epi32(d->comp))),
                               _mm256_set1_ps(d->scale), _mm256_set1_ps(d->bias));

    if (d->act == VGC_ACT_LEAKY) {
        y = _mm256_max_ps(y, _mm256_mul_ps(y, _mm256_set1_ps(0.1f)));
    } else if (d->act != VGC_ACT_LINEAR) {
        float t[8];

        _mm256_storeu_ps(t, y);
        for (int i = 0; i < 8; i++)
            t[i] = vgc_act_scalar(t[i], d->act);
        y = _mm256_loadu_ps(t);
    }
    return y;
}


/* Store cnt (<= 8) outputs at column ox of row oy: floats, or u8 quantized as q8.c does, or s16 (q8.h). */
static inline void dw_store8(const vgc_q8_dw *d, __m256 y, int oy, int ox, int cnt)
{
    if (d->out16) {
        /* rounded to nearest even as lrintf; NaN gives INT_MIN, clamped to -max as the reference's */
        const __m256i q = _mm256_min_epi32(
            _mm256_max_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(y, _mm256_set1_ps(d->inv16))),
                             _mm256_set1_epi32(-d->max16)),
            _mm256_set1_epi32(d->max16));
        int32_t t[8];
        int16_t *o = d->out16 + 2 * ((size_t)oy * d->ow + (size_t)ox);

        _mm256_storeu_si256((__m256i *)(void *)t, q);
        for (int i = 0; i < cnt && i < 8; i++)
            o[2 * i] = (int16_t)t[i];
        return;
    }
    if (d->qout) {
        __m256 t = _mm256_mul_ps(y, _mm256_set1_ps(d->qinv));
        __m128i q;
        uint8_t b[16];

        /* a rounded product, then a rounded sum, as q8.c's pass: the barrier keeps them apart (no fma) */
        __asm__("" : "+x"(t));
        t = _mm256_add_ps(t, _mm256_set1_ps(d->qzp));
        t = _mm256_min_ps(_mm256_max_ps(t, _mm256_setzero_ps()), _mm256_set1_ps(255.0f));
        {
            const __m256i i32 = _mm256_cvttps_epi32(t);
            const __m128i w16 = _mm_packus_epi32(_mm256_castsi256_si128(i32), _mm256_extracti128_si256(i32, 1));

            q = _mm_packus_epi16(w16, w16);
        }
        if (cnt >= 8) {
            _mm_storel_epi64((__m128i *)(void *)(d->qout + (size_t)oy * d->ldq + ox), q);
            return;
        }
        _mm_storeu_si128((__m128i *)(void *)b, q);
        for (int i = 0; i < cnt; i++)
            d->qout[(size_t)oy * d->ldq + ox + i] = b[i];
        return;
    }
    if (cnt >= 8) {
        _mm256_storeu_ps(d->out + (size_t)oy * d->ldo + ox, y);
    } else {
        float t[8];

        _mm256_storeu_ps(t, y);
        for (int i = 0; i < cnt; i++)
            d->out[(size_t)oy * d->ldo + ox + i] = t[i];
    }
}


static inline __m256i widen(const uint8_t *x)
{
    return _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)x));
}


/* Stride 1: 16 outputs a block, the even ones from x, the odd ones from x + 1. */
static inline __attribute__((always_inline)) void rows_s1(const vgc_q8_dw *d, const __m256i *w, int pairs)
{
    for (int oy = 0; oy < d->oh; oy++)
        for (int ox = 0; ox < d->ow; ox += 16) {
            const uint8_t *x = d->in + (size_t)oy * d->ldi + (size_t)ox;
            __m256i e = _mm256_setzero_si256(), o = e;
            __m256 ye, yo, lo, hi;

            for (int ky = 0; ky < d->size; ky++, x += d->ldi)
                for (int p = 0; p < pairs; p++) {
                    e = _mm256_add_epi32(e, _mm256_madd_epi16(widen(x + 2 * p), w[ky * pairs + p]));
                    o = _mm256_add_epi32(o, _mm256_madd_epi16(widen(x + 2 * p + 1), w[ky * pairs + p]));
                }
            ye = dw_float(d, e);
            yo = dw_float(d, o);
            lo = _mm256_unpacklo_ps(ye, yo);            /* 0 1 2 3 | 8 9 10 11 */
            hi = _mm256_unpackhi_ps(ye, yo);            /* 4 5 6 7 | 12 13 14 15 */
            dw_store8(d, _mm256_permute2f128_ps(lo, hi, 0x20), oy, ox, d->ow - ox);
            if (ox + 8 < d->ow)
                dw_store8(d, _mm256_permute2f128_ps(lo, hi, 0x31), oy, ox + 8, d->ow - ox - 8);
        }
}


/* Stride 2: 8 outputs a vector, lane i the bytes 2i + 2p and 2i + 2p + 1. */
static inline __attribute__((always_inline)) void rows_s2(const vgc_q8_dw *d, const __m256i *w, int pairs)
{
    for (int oy = 0; oy < d->oh; oy++)
        for (int ox = 0; ox < d->ow; ox += 8) {
            const uint8_t *x = d->in + (size_t)oy * 2 * d->ldi + (size_t)ox * 2;
            __m256i acc = _mm256_setzero_si256();

            for (int ky = 0; ky < d->size; ky++, x += d->ldi)
                for (int p = 0; p < pairs; p++)
                    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(widen(x + 2 * p), w[ky * pairs + p]));
            dw_store8(d, dw_float(d, acc), oy, ox, d->ow - ox);
        }
}


static void s1_p2(const vgc_q8_dw *d, const __m256i *w) { rows_s1(d, w, 2); }
static void s1_p3(const vgc_q8_dw *d, const __m256i *w) { rows_s1(d, w, 3); }
static void s1_any(const vgc_q8_dw *d, const __m256i *w, int pairs) { rows_s1(d, w, pairs); }
static void s2_p2(const vgc_q8_dw *d, const __m256i *w) { rows_s2(d, w, 2); }
static void s2_any(const vgc_q8_dw *d, const __m256i *w, int pairs) { rows_s2(d, w, pairs); }


void vgc_q8_dw_avx2(const vgc_q8_dw *d)
{
    const int pairs = (d->size + 1) / 2;
    __m256i w[DW_MAX_SIZE * DW_PAIRS];

    if (d->size > DW_MAX_SIZE || d->stride < 1 || d->stride > 2) {
        vgc_q8_dw_ref(d);
        return;
    }
    /* the weights of pair p of row ky, broadcast: two s16, the second 0 past the kernel's width */
    for (int ky = 0; ky < d->size; ky++)
        for (int p = 0; p < pairs; p++) {
            const int16_t lo = d->k[ky * d->size + 2 * p];
            const int16_t hi = 2 * p + 1 < d->size ? d->k[ky * d->size + 2 * p + 1] : 0;

            w[ky * pairs + p] = _mm256_set1_epi32((int32_t)((uint32_t)(uint16_t)lo | (uint32_t)(uint16_t)hi << 16));
        }
    if (d->stride == 1)
        pairs == 2 ? s1_p2(d, w) : pairs == 3 ? s1_p3(d, w) : s1_any(d, w, pairs);
    else
        pairs == 2 ? s2_p2(d, w) : s2_any(d, w, pairs);
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
#else
void vgc_q8_dw_avx2(const vgc_q8_dw *d)
{
    vgc_q8_dw_ref(d);
}
#endif
