/*
 * backends/cpu/q8_dw512.c: the int8 depthwise channel (q8.h's vgc_q8_dw) on
 * AVX-512 VBMI + VNNI. 16 outputs of a row at a time: for each kernel row,
 * one masked load of the input bytes those outputs read, one vpermb that
 * puts output i's taps (bytes stride*i + 0..3) in int32 lane i, and one
 * vpdpbusd against the row's weights broadcast (4 s8, zero past the kernel's
 * width); kernels wider than 4 take a second group of 4 taps. The epilogue
 * (dequantize, bias, activation, and the float store or the quantized u8
 * one) runs on the accumulators in registers. Only called after q8.c
 * checked the CPU has AVX-512 VBMI and VNNI.
 */
#include "q8.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512vbmi,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512vbmi,avx2,fma")
#endif

#define DW_MAX_SIZE 8
#define DW_GROUPS 2           /* of 4 taps: DW_MAX_SIZE / 4 */


/* The mask of the input bytes cnt outputs read from group g's first tap (at most 64). */
static __mmask64 load_mask(const vgc_q8_dw *d, int g, int cnt)
{
    const int taps = d->size - 4 * g < 4 ? d->size - 4 * g : 4;
    const int need = d->stride * (cnt - 1) + taps;

    return need >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << need) - 1);
}


/* The epilogue's constants, in registers for a whole channel (nothing reloaded after each store). */
typedef struct dw_epi {
    __m512i comp;
    __m512 scale, bias, qinv, qzp;
    enum vgc_act act;
    float *out;
    uint8_t *qout;
    size_t ldo, ldq;
} dw_epi;


static dw_epi epi_make(const vgc_q8_dw *d)
{
    dw_epi e = {
        .comp = _mm512_set1_epi32(d->comp), .scale = _mm512_set1_ps(d->scale), .bias = _mm512_set1_ps(d->bias),
        .qinv = _mm512_set1_ps(d->qinv), .qzp = _mm512_set1_ps(d->qzp), .act = d->act,
        .out = d->out, .qout = d->qout, .ldo = d->ldo, .ldq = d->ldq,
    };

    return e;
}


/* Dequantize, bias, activation, and store cnt outputs at column ox of row oy. */
static inline void dw_store(const dw_epi *e, __m512i acc, int oy, int ox, int cnt)
{
    const __mmask16 mask = cnt >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cnt) - 1u);
    __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc, e->comp)), e->scale, e->bias);

    if (e->act == VGC_ACT_LEAKY) {
        y = _mm512_max_ps(y, _mm512_mul_ps(y, _mm512_set1_ps(0.1f)));
    } else if (e->act != VGC_ACT_LINEAR) {
        float t[16];

        _mm512_storeu_ps(t, y);
        for (int i = 0; i < cnt; i++)
            t[i] = vgc_act_scalar(t[i], e->act);
        y = _mm512_loadu_ps(t);
    }
    if (e->qout) {
        /* q8.c's quantize arithmetic exactly: a rounded product, then a rounded sum (never an fma) */
        __m512 t = _mm512_mul_round_ps(y, e->qinv, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);

        t = _mm512_add_round_ps(t, e->qzp, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        t = _mm512_min_ps(_mm512_max_ps(t, _mm512_setzero_ps()), _mm512_set1_ps(255.0f));
        _mm512_mask_cvtusepi32_storeu_epi8(e->qout + (size_t)oy * e->ldq + ox, mask, _mm512_cvttps_epi32(t));
    } else {
        _mm512_mask_storeu_ps(e->out + (size_t)oy * e->ldo + ox, mask, y);
    }
}


/*
 * Output rows of a kernel of width <= 4 (one group of taps: 3x3, the
 * common case), 32 outputs an iteration in two independent accumulators.
 */
static void rows_g1(const vgc_q8_dw *d, const __m512i *w, __m512i idx)
{
    const int s = d->stride, size = d->size, ow = d->ow, oh = d->oh;
    const size_t ldi = d->ldi;
    const __mmask64 full = load_mask(d, 0, 16);
    const dw_epi e = epi_make(d);

    for (int oy = 0; oy < oh; oy++) {
        const uint8_t *r0 = d->in + (size_t)oy * s * ldi;
        int ox = 0;

        for (; ox + 32 <= ow; ox += 32) {
            const uint8_t *x = r0 + (size_t)ox * s;
            __m512i a0 = _mm512_setzero_si512(), a1 = a0;

            for (int ky = 0; ky < size; ky++, x += ldi) {
                a0 = _mm512_dpbusd_epi32(a0, _mm512_permutexvar_epi8(idx, _mm512_maskz_loadu_epi8(full, x)), w[ky]);
                a1 = _mm512_dpbusd_epi32(a1, _mm512_permutexvar_epi8(idx, _mm512_maskz_loadu_epi8(full, x + 16 * s)),
                                         w[ky]);
            }
            dw_store(&e, a0, oy, ox, 16);
            dw_store(&e, a1, oy, ox + 16, 16);
        }
        for (; ox < ow; ox += 16) {
            const int cnt = ow - ox < 16 ? ow - ox : 16;
            const __mmask64 m = cnt == 16 ? full : load_mask(d, 0, cnt);
            const uint8_t *x = r0 + (size_t)ox * s;
            __m512i acc = _mm512_setzero_si512();

            for (int ky = 0; ky < size; ky++, x += ldi)
                acc = _mm512_dpbusd_epi32(acc, _mm512_permutexvar_epi8(idx, _mm512_maskz_loadu_epi8(m, x)), w[ky]);
            dw_store(&e, acc, oy, ox, cnt);
        }
    }
}


void vgc_q8_dw_vbmi(const vgc_q8_dw *d)
{
    const int s = d->stride, groups = (d->size + 3) / 4;
    __m512i w[DW_GROUPS][DW_MAX_SIZE], idx;
    int8_t ib[64];

    if (d->size > DW_MAX_SIZE || s > 3 || s < 1) {
        vgc_q8_dw_ref(d);
        return;
    }
    /* lane i, byte t: input byte stride*i + t of the group */
    for (int i = 0; i < 16; i++)
        for (int t = 0; t < 4; t++)
            ib[4 * i + t] = (int8_t)(s * i + t);
    idx = _mm512_loadu_si512(ib);
    for (int g = 0; g < groups; g++)
        for (int ky = 0; ky < d->size; ky++) {
            uint8_t b[4] = { 0, 0, 0, 0 };
            int32_t v;

            for (int t = 0; t < 4 && 4 * g + t < d->size; t++)
                b[t] = (uint8_t)d->k[ky * d->size + 4 * g + t];
            __builtin_memcpy(&v, b, 4);
            w[g][ky] = _mm512_set1_epi32(v);
        }
    if (groups == 1) {
        rows_g1(d, w[0], idx);
        return;
    }
    const dw_epi e = epi_make(d);

    for (int oy = 0; oy < d->oh; oy++) {
        const uint8_t *r0 = d->in + (size_t)oy * s * d->ldi;

        for (int ox = 0; ox < d->ow; ox += 16) {
            const int cnt = d->ow - ox < 16 ? d->ow - ox : 16;
            __m512i acc = _mm512_setzero_si512();

            for (int g = 0; g < groups; g++) {
                const __mmask64 m = load_mask(d, g, cnt);
                const uint8_t *x = r0 + (size_t)ox * s + 4 * g;

                for (int ky = 0; ky < d->size; ky++, x += d->ldi)
                    acc = _mm512_dpbusd_epi32(acc, _mm512_permutexvar_epi8(idx, _mm512_maskz_loadu_epi8(m, x)),
                                              w[g][ky]);
            }
            dw_store(&e, acc, oy, ox, cnt);
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
#else
void vgc_q8_dw_vbmi(const vgc_q8_dw *d)
{
    vgc_q8_dw_ref(d);
}
#endif
