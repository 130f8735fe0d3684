/*
 * backends/cpu/q8_dw16.c: the int8 depthwise channel (q8.h's vgc_q8_dw)
 * on AVX-512 VNNI with its input held as s16 (in16: the same u8 values,
 * 2 bytes each), stride 1. Two adjacent s16 of a row are one int32 lane of
 * a plain load, so a step of 32 outputs needs no byte gather: output 2j
 * reads words 2j .., so dword j + d holds its taps 2d and 2d + 1; output
 * 2j + 1 reads words 2j + 1 .., so dword j + d holds its taps 2d - 1 and
 * 2d. A kernel row is two loads (its 32 words and the few after them) and
 * the dwords further on by valignd, each against the even outputs' and
 * the odd outputs' pair of weights (vpdpwssd); the even and odd outputs,
 * in two vectors, are interleaved by two vpermt2ps after the epilogue's
 * arithmetic. The u8 kernel (q8_dw512.c) needs a vpermb for each pair of
 * taps: on 5x5 (3 pairs a row) this form took about half its time
 * (q8_peak: 20x20 5x5, 1.15 against 2.2 ns an output), on 3x3 and on
 * 10x10 planes it was slower, so q8.c runs it on 5x5 and wider, and only
 * there (its planes quantized as s16). Other strides and sizes past 8:
 * the reference. Only called after q8.c checked the CPU has AVX-512 VNNI
 * (and BW).
 */
#include "q8.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,bmi2"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,bmi2")
#endif

#include "q8_store512.h"
#include "q8_dw512.h"

#define DW_MAX_SIZE 8


#define DW_DWORDS 5           /* dword offsets a row's taps reach: 0 .. DW_MAX_SIZE / 2 */

/* 32 words at x, the first `need` of them (the rest zero and not read). */
static inline __m512i load_words(const int16_t *x, int need)
{
    if (need >= 32)
        return _mm512_loadu_si512(x);
    return need <= 0 ? _mm512_setzero_si512() : _mm512_maskz_loadu_epi16((__mmask32)((1u << need) - 1u), x);
}


/* Dword lanes d .. d + 15 of the 32 dwords (v0, v1): the row read d dwords (2d words) further on. */
static inline __attribute__((always_inline)) __m512i at_dword(__m512i v0, __m512i v1, int d)
{
    switch (d) {
    case 0: return v0;
    case 1: return _mm512_alignr_epi32(v1, v0, 1);
    case 2: return _mm512_alignr_epi32(v1, v0, 2);
    case 3: return _mm512_alignr_epi32(v1, v0, 3);
    default: return _mm512_alignr_epi32(v1, v0, 4);
    }
}


/*
 * A kernel row's 32 words at x and the few after them that its taps reach
 * (dwords: size / 2 more), need as the callers': < 0 a whole step, else
 * the words the step's outputs read (the rest not read).
 */
static inline __attribute__((always_inline)) void load_row(const int16_t *x, int size, int need, __m512i *v0,
                                                           __m512i *v1)
{
    const int more = 2 * (size / 2);

    *v0 = need < 0 ? _mm512_loadu_si512(x) : load_words(x, need);
    *v1 = load_words(x + 32, need < 0 ? more : (need - 32 < more ? need - 32 : more));
}


/*
 * The sums of one step of stride 1: outputs ox + 2j (e) and ox + 2j + 1
 * (o), each over the even and the odd kernel rows apart (half the chain of
 * dependent vpdpwssd, as q8_dw512.c). Output 2j reads words 2j .. 2j +
 * size - 1: dword j + d holds its taps 2d, 2d + 1 (we); output 2j + 1
 * reads 2j + 1 ..: dword j + d holds its taps 2d - 1, 2d (wo, tap -1 a
 * zero weight). Two loads a kernel row (the row, and the few words past
 * it), the dwords further on by valignd.
 */
static inline __attribute__((always_inline)) void sums_s1(const int16_t *x, size_t ldi, const __m512i *we,
                                                          const __m512i *wo, int size, int need, __m512i *e,
                                                          __m512i *o)
{
    const int dwords = size / 2 + 1;
    __m512i ae = _mm512_setzero_si512(), ao = ae, be = ae, bo = ae;

#pragma GCC unroll 8
    for (int ky = 0; ky < size; ky++, x += ldi) {
        __m512i v0, v1;

        load_row(x, size, need, &v0, &v1);
#pragma GCC unroll 5
        for (int d = 0; d < dwords; d++) {
            const __m512i v = at_dword(v0, v1, d);

            /* the even outputs' last dword holds a tap only for an even size */
            if (ky & 1) {
                if (2 * d < size)
                    be = _mm512_dpwssd_epi32(be, v, we[ky * DW_DWORDS + d]);
                bo = _mm512_dpwssd_epi32(bo, v, wo[ky * DW_DWORDS + d]);
            } else {
                if (2 * d < size)
                    ae = _mm512_dpwssd_epi32(ae, v, we[ky * DW_DWORDS + d]);
                ao = _mm512_dpwssd_epi32(ao, v, wo[ky * DW_DWORDS + d]);
            }
        }
    }
    *e = _mm512_add_epi32(ae, be);
    *o = _mm512_add_epi32(ao, bo);
}


/* Stride 1: 32 outputs a step, the even and odd ones interleaved after the epilogue's arithmetic. */
static inline __attribute__((always_inline)) void dw16_s1(const vgc_q8_dw *d, const __m512i *we, const __m512i *wo,
                                                          int size, int fold)
{
    const size_t ldi = d->ldi;
    const dw_epi ep = epi_make(d, fold);
    /* outputs 0..15 and 16..31 from the even (0..15) and odd (16..31) lanes */
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);

    for (int oy = 0; oy < d->oh; oy++) {
        const int16_t *row = d->in16 + (size_t)oy * ldi;
        int ox = 0;
        __m512i e, o;

        for (; ox + 32 <= d->ow; ox += 32) {
            sums_s1(row + ox, ldi, we, wo, size, -1, &e, &o);
            {
                const __m512 ye = dw_value(&ep, e, 16), yo = dw_value(&ep, o, 16);

                dw_put(&ep, _mm512_permutex2var_ps(ye, lo, yo), oy, ox, 16);
                dw_put(&ep, _mm512_permutex2var_ps(ye, hi, yo), oy, ox + 16, 16);
            }
        }
        if (ox < d->ow) {
            const int cnt = d->ow - ox;
            __m512 ye, yo;

            sums_s1(row + ox, ldi, we, wo, size, cnt - 1 + size, &e, &o);
            ye = dw_value(&ep, e, (cnt + 1) / 2);
            yo = dw_value(&ep, o, cnt / 2);
            dw_put(&ep, _mm512_permutex2var_ps(ye, lo, yo), oy, ox, cnt < 16 ? cnt : 16);
            if (cnt > 16)
                dw_put(&ep, _mm512_permutex2var_ps(ye, hi, yo), oy, ox + 16, cnt - 16);
        }
    }
}


/* 3x3 and 5x5: the size a constant, the loops over rows and dwords unrolled; copies with the s16 epilogue folded */
static void dw16_s1_3(const vgc_q8_dw *d, const __m512i *we, const __m512i *wo) { dw16_s1(d, we, wo, 3, 0); }
static void dw16_s1_3f(const vgc_q8_dw *d, const __m512i *we, const __m512i *wo) { dw16_s1(d, we, wo, 3, 1); }
static void dw16_s1_5(const vgc_q8_dw *d, const __m512i *we, const __m512i *wo) { dw16_s1(d, we, wo, 5, 0); }
static void dw16_s1_5f(const vgc_q8_dw *d, const __m512i *we, const __m512i *wo) { dw16_s1(d, we, wo, 5, 1); }


/* Two s16 weights in a dword, broadcast (a tap outside the kernel's row: 0). */
static __m512i wpair(const vgc_q8_dw *d, int ky, int t0, int t1)
{
    const int16_t a = t0 >= 0 && t0 < d->size ? d->k[ky * d->size + t0] : 0;
    const int16_t b = t1 >= 0 && t1 < d->size ? d->k[ky * d->size + t1] : 0;

    return _mm512_set1_epi32((int32_t)((uint32_t)(uint16_t)a | (uint32_t)(uint16_t)b << 16));
}


void vgc_q8_dw16_512(const vgc_q8_dw *d)
{
    __m512i we[DW_MAX_SIZE * DW_DWORDS], wo[DW_MAX_SIZE * DW_DWORDS];

    if (d->size > DW_MAX_SIZE || d->stride != 1) {
        vgc_q8_dw_ref(d);
        return;
    }
    for (int ky = 0; ky < d->size; ky++)
        for (int dd = 0; dd < DW_DWORDS; dd++) {
            we[ky * DW_DWORDS + dd] = wpair(d, ky, 2 * dd, 2 * dd + 1);
            wo[ky * DW_DWORDS + dd] = wpair(d, ky, 2 * dd - 1, 2 * dd);
        }
    if (d->size == 3)
        (epi_folds(d) ? dw16_s1_3f : dw16_s1_3)(d, we, wo);
    else if (d->size == 5)
        (epi_folds(d) ? dw16_s1_5f : dw16_s1_5)(d, we, wo);
    else
        dw16_s1(d, we, wo, d->size, epi_folds(d));
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
#else
void vgc_q8_dw16_512(const vgc_q8_dw *d)
{
    vgc_q8_dw_ref(d);
}
#endif
