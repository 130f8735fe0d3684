/*
 * backends/cpu/q8_dw512.c: the int8 depthwise channel (q8.h's vgc_q8_dw) on
 * AVX-512 VBMI + VNNI. 16 outputs of a row at a time: for each kernel row,
 * one masked load of the input bytes those outputs read, then per pair of
 * taps one vpermb that puts output i's two bytes (stride*i + 2p, + 1) in
 * int32 lane i as two s16 (the high bytes zeroed by the mask), and one
 * vpdpwssd against the pair's s16 weights broadcast (q8.h: depthwise
 * weights are s16, 0 past the kernel's width). The epilogue
 * (dequantize, bias, activation, and the float store or the quantized u8
 * one) runs on the accumulators in registers. Only called after q8.c
 * checked the CPU has AVX-512 VBMI and VNNI.
 */
#include "q8.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512vbmi,avx2,fma,bmi2"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512vbmi,avx2,fma,bmi2")
#endif

#include "q8_store512.h"
#include "q8_dw512.h"

#define DW_MAX_SIZE 8
#define DW_PAIRS 4            /* of taps: DW_MAX_SIZE / 2 */


/* The mask of the input bytes cnt outputs read from a row (all the kernel's taps; at most 64). */
static __mmask64 load_mask(const vgc_q8_dw *d, int cnt)
{
    const int need = d->stride * (cnt - 1) + d->size;

    return need >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << need) - 1);
}


/*
 * One vector's sums: `size` kernel rows from x, ldi bytes apart, each one
 * masked load (`load`) whose pairs of taps the indices ix gather
 * (vpermb) against the pairs' weights (vpdpwssd), the even kernel rows
 * and the odd ones in two chains.
 */
static inline __attribute__((always_inline)) __m512i dw_sum(const uint8_t *x, size_t ldi, __mmask64 load,
                                                            const __m512i *ix, const __m512i *w, int pairs, int size)
{
    const __mmask64 even = 0x5555555555555555ull;   /* the low byte of each s16 */
    __m512i a = _mm512_setzero_si512(), b = a;

    for (int ky = 0; ky < size; ky++, x += ldi) {
        const __m512i v = _mm512_maskz_loadu_epi8(load, x);

        for (int p = 0; p < pairs; p++) {
            if (ky & 1)
                b = _mm512_dpwssd_epi32(b, _mm512_maskz_permutexvar_epi8(even, ix[p], v), w[ky * pairs + p]);
            else
                a = _mm512_dpwssd_epi32(a, _mm512_maskz_permutexvar_epi8(even, ix[p], v), w[ky * pairs + p]);
        }
    }
    return _mm512_add_epi32(a, b);
}


/*
 * Output rows, `size` kernel rows of `pairs` pairs of taps (3 x 2: 3x3,
 * the common case, unrolled by the compiler), 32 outputs an iteration,
 * then 16 and a masked last vector; each vector's sum in two accumulators,
 * the even kernel rows' and the odd ones' (q8_peak's dw lines, best of 3
 * interleaved runs: the split and the size a constant took 2-13 % off
 * every shape of yolo-fastest-1.1-xl's, 0.376 -> 0.354 ns an output on
 * 80x80 3x3).
 */
static inline __attribute__((always_inline)) void dw_rows(const vgc_q8_dw *d, const __m512i *w, const __m512i *idx,
                                                          int pairs, int size, int ow, int fold)
{
    const int s = d->stride, oh = d->oh;
    const size_t ldi = d->ldi;
    const __mmask64 full = load_mask(d, 16), even = 0x5555555555555555ull;   /* the low byte of each s16 */
    const dw_epi e = epi_make(d, fold);

    for (int oy = 0; oy < oh; oy++) {
        const uint8_t *r0 = d->in + (size_t)oy * s * ldi;
        int ox = 0;

        for (; ox + 32 <= ow; ox += 32) {
            const uint8_t *x = r0 + (size_t)ox * s;
            __m512i a0 = _mm512_setzero_si512(), a1 = a0, b0 = a0, b1 = a0;

            /* the kernel rows alternate between two sums per vector: half the chain of dependent vpdpwssd */
            for (int ky = 0; ky < size; ky++, x += ldi) {
                const __m512i v0 = _mm512_maskz_loadu_epi8(full, x), v1 = _mm512_maskz_loadu_epi8(full, x + 16 * s);

                for (int p = 0; p < pairs; p++) {
                    if (ky & 1) {
                        b0 = _mm512_dpwssd_epi32(b0, _mm512_maskz_permutexvar_epi8(even, idx[p], v0), w[ky * pairs + p]);
                        b1 = _mm512_dpwssd_epi32(b1, _mm512_maskz_permutexvar_epi8(even, idx[p], v1), w[ky * pairs + p]);
                    } else {
                        a0 = _mm512_dpwssd_epi32(a0, _mm512_maskz_permutexvar_epi8(even, idx[p], v0), w[ky * pairs + p]);
                        a1 = _mm512_dpwssd_epi32(a1, _mm512_maskz_permutexvar_epi8(even, idx[p], v1), w[ky * pairs + p]);
                    }
                }
            }
            dw_store(&e, _mm512_add_epi32(a0, b0), oy, ox, 16);
            dw_store(&e, _mm512_add_epi32(a1, b1), oy, ox + 16, 16);
        }
        for (; ox < ow; ox += 16) {
            const int cnt = ow - ox < 16 ? ow - ox : 16;

            dw_store(&e, dw_sum(r0 + (size_t)ox * s, ldi, cnt == 16 ? full : load_mask(d, cnt), idx, w, pairs, size),
                     oy, ox, cnt);
        }
    }
}


/*
 * Stride 1 on rows of 32 or more whose last vector would hold 8 outputs
 * or fewer (xl's 40x40 layers: a 32-wide step, then 8 of 16 lanes): the
 * rows without those last t outputs (dw_rows), then the last t of two rows
 * in one vector, lanes 0 .. t-1 the upper row's and 8 .. 7+t the lower
 * one's. A kernel row is still one load (the lower row's bytes are ldi
 * further on, within 64 bytes: ldi + t + size - 1 <= 64), the lower lanes'
 * indices shifted by ldi - 8 once a channel, and the vector stored as two
 * masked stores: 5 vectors for two 40-wide rows, not 6 (q8_peak's 40x40
 * 3x3 line 0.43-0.46 against 0.51-0.52 ns an output; VGC_PROFILE, the
 * same build with a switch, in turns: xl's seven 40x40 layers 0.02-0.055
 * ms less each).
 */
static int tails_fit(const vgc_q8_dw *d)
{
    const int t = d->ow % 16;

    return d->stride == 1 && d->ow >= 32 && t >= 1 && t <= 8 && d->ldi + (size_t)t + (size_t)d->size - 1 <= 64;
}


static inline __attribute__((always_inline)) void dw_tails(const vgc_q8_dw *d, const __m512i *w, const __m512i *idx,
                                                           int pairs, int size, int fold)
{
    const int t = d->ow % 16, ox = d->ow - t, oh = d->oh;
    const size_t ldi = d->ldi;
    const size_t reach = ldi + (size_t)t + (size_t)size - 1;      /* <= 64 (tails_fit) */
    const __mmask64 load = reach >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << reach) - 1);
    const __mmask16 upper = (__mmask16)((1u << t) - 1u), lower = (__mmask16)(upper << 8);
    const __m512i shift = _mm512_maskz_mov_epi32(0xff00, _mm512_set1_epi32((int)((ldi - 8) * 0x10001u)));
    const dw_epi e = epi_make(d, fold);
    __m512i ix[DW_PAIRS];
    int oy = 0;

    for (int p = 0; p < pairs; p++)
        ix[p] = _mm512_add_epi32(idx[p], shift);
    dw_rows(d, w, idx, pairs, size, ox, fold);
    /* lane i of the lower half is column ox + i - 8 of row oy + 1 */
    for (; oy + 1 < oh; oy += 2)
        dw_put_rows(&e, dw_value(&e, dw_sum(d->in + (size_t)oy * ldi + (size_t)ox, ldi, load, ix, w, pairs, size), 16),
                    oy, ox, 8, (__mmask16)(upper | lower), 0xff00, 0);
    if (oy < oh)        /* an odd last row's alone: the upper lanes */
        dw_store(&e, dw_sum(d->in + (size_t)oy * ldi + (size_t)ox, ldi, load, idx, w, pairs, size), oy, ox, t);
}


/*
 * Stride 1 on rows of 8 to 31 outputs that are not a whole number of
 * vectors (10, 20): a vector of 16 outputs runs on into the next rows, in the
 * output's order (o = oy * ow + ox), so a 10x10 channel is 7 vectors, not
 * 10 of 10 lanes. A kernel row is still one load: the lanes of a later
 * output row read ldi - ow bytes further on than their place in the
 * vector, which each pair's indices add (the lanes past a row's end: m1,
 * past the next one's: m2; with ow >= 8 a vector touches at most 3 rows).
 */
typedef struct dw_vec {
    int oy, ox;               /* lane 0's output */
    __mmask16 m1, m2;
    __mmask64 load;           /* the bytes its lanes read from a kernel row */
    __m512i shift;            /* per lane, ldi - ow for each row past lane 0's, as two s16 */
    const uint8_t *x;         /* kernel row 0's bytes of lane 0 */
} dw_vec;


static inline __attribute__((always_inline)) dw_vec dw_vec_at(const vgc_q8_dw *d, int oy, int ox, int cnt,
                                                              __m512i extra)
{
    const int ow = d->ow, r1 = ow - ox, r2 = r1 + ow, skip = (int)d->ldi - ow;
    const int reach = (cnt - 1) + skip * ((cnt - 1 >= r1) + (cnt - 1 >= r2)) + d->size;
    dw_vec v = {
        .oy = oy, .ox = ox,
        .m1 = r1 < 16 ? (__mmask16)(0xffffu << r1) : 0, .m2 = r2 < 16 ? (__mmask16)(0xffffu << r2) : 0,
        .load = reach >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << reach) - 1),
        .x = d->in + (size_t)oy * d->ldi + (size_t)ox,
    };

    v.shift = _mm512_maskz_mov_epi32(v.m1, extra);
    v.shift = _mm512_mask_add_epi32(v.shift, v.m2, v.shift, extra);
    return v;
}


static inline __attribute__((always_inline)) __m512i dw_vec_sum(const vgc_q8_dw *d, const dw_vec *v,
                                                                 const __m512i *w, const __m512i *idx, int pairs,
                                                                 int size)
{
    __m512i ix[DW_PAIRS];

    for (int p = 0; p < pairs; p++)
        ix[p] = _mm512_add_epi32(idx[p], v->shift);
    return dw_sum(v->x, d->ldi, v->load, ix, w, pairs, size);
}


/*
 * Whether the dense loop takes d: stride 1, rows of 8 to 31 outputs that
 * vectors do not fill, its reach. Rows of 40 (a 32-wide step and a half
 * vector) were slower dense: +0.01-0.02 ms on each of xl's 40x40 layers
 * (VGC_PROFILE), its indices and per-row stores costing more than the
 * sixth of the vectors it saves there.
 */
static int dense_fits(const vgc_q8_dw *d)
{
    const size_t skip = d->ldi - (size_t)d->ow;

    return d->stride == 1 && d->ow >= 8 && d->ow < 32 && d->ow % 16 != 0 && 15 + 2 * skip + (size_t)d->size <= 64;
}


static inline __attribute__((always_inline)) void dw_dense(const vgc_q8_dw *d, const __m512i *w, const __m512i *idx,
                                                           int pairs, int size, int fold)
{
    const int ow = d->ow, n = ow * d->oh;
    const __m512i extra = _mm512_set1_epi32((int)((d->ldi - (size_t)ow) * 0x10001u));
    const dw_epi e = epi_make(d, fold);
    int o = 0, oy = 0, ox = 0;

    /* two vectors an iteration: their chains interleave */
    for (; o + 32 <= n; o += 32) {
        const dw_vec v0 = dw_vec_at(d, oy, ox, 16, extra);
        dw_vec v1;

        for (ox += 16; ox >= ow; ox -= ow)
            oy++;
        v1 = dw_vec_at(d, oy, ox, 16, extra);
        for (ox += 16; ox >= ow; ox -= ow)
            oy++;
        {
            const __m512i s0 = dw_vec_sum(d, &v0, w, idx, pairs, size), s1 = dw_vec_sum(d, &v1, w, idx, pairs, size);

            dw_put_rows(&e, dw_value(&e, s0, 16), v0.oy, v0.ox, ow, 0xffff, v0.m1, v0.m2);
            dw_put_rows(&e, dw_value(&e, s1, 16), v1.oy, v1.ox, ow, 0xffff, v1.m1, v1.m2);
        }
    }
    for (; o < n; o += 16) {
        const int cnt = n - o < 16 ? n - o : 16;
        const dw_vec v = dw_vec_at(d, oy, ox, cnt, extra);

        dw_put_rows(&e, dw_value(&e, dw_vec_sum(d, &v, w, idx, pairs, size), cnt), v.oy, v.ox, ow,
                    (__mmask16)((1u << cnt) - 1u), v.m1, v.m2);
        for (ox += 16; ox >= ow; ox -= ow)
            oy++;
    }
}


/* The loop that takes d's rows: dense, paired tails, or row by row. */
static inline __attribute__((always_inline)) void dw_loop(const vgc_q8_dw *d, const __m512i *w, const __m512i *idx,
                                                          int pairs, int size, int fold)
{
    if (dense_fits(d))
        dw_dense(d, w, idx, pairs, size, fold);
    else if (tails_fit(d))
        dw_tails(d, w, idx, pairs, size, fold);
    else
        dw_rows(d, w, idx, pairs, size, d->ow, fold);
}


/* 3x3 and 5x5: the size a constant, the loops over rows and pairs unrolled; a copy with the s16 epilogue folded */
static void dw_rows3x3(const vgc_q8_dw *d, const __m512i *w, const __m512i *idx)
{
    dw_loop(d, w, idx, 2, 3, 0);
}


static void dw_rows3x3_folded(const vgc_q8_dw *d, const __m512i *w, const __m512i *idx)
{
    dw_loop(d, w, idx, 2, 3, 1);
}


static void dw_rows5x5(const vgc_q8_dw *d, const __m512i *w, const __m512i *idx)
{
    dw_loop(d, w, idx, 3, 5, 0);
}


static void dw_rows5x5_folded(const vgc_q8_dw *d, const __m512i *w, const __m512i *idx)
{
    dw_loop(d, w, idx, 3, 5, 1);
}


static void dw_rows_any(const vgc_q8_dw *d, const __m512i *w, const __m512i *idx, int pairs)
{
    dw_rows(d, w, idx, pairs, d->size, d->ow, epi_folds(d));
}


void vgc_q8_dw_vbmi(const vgc_q8_dw *d)
{
    const int s = d->stride, pairs = (d->size + 1) / 2;
    __m512i w[DW_MAX_SIZE * DW_PAIRS], idx[DW_PAIRS];

    if (d->size > DW_MAX_SIZE || s > 3 || s < 1) {
        vgc_q8_dw_ref(d);
        return;
    }
    /*
     * pair p, lane i: input bytes stride*i + 2p and + 2p + 1, each the low byte of an s16 (the high ones
     * zeroed by the permute's mask), made in registers: bytes stored one at a time and loaded back cost a
     * 10x10 channel about a quarter of its time (q8_peak's dw lines)
     */
    {
        const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        const __m512i first = _mm512_mullo_epi32(iota, _mm512_set1_epi32(s));

        for (int p = 0; p < pairs; p++) {
            const __m512i lo = _mm512_add_epi32(first, _mm512_set1_epi32(2 * p));

            idx[p] = _mm512_or_si512(lo, _mm512_slli_epi32(_mm512_add_epi32(lo, _mm512_set1_epi32(1)), 16));
        }
    }
    /* the weights of pair p of row ky, broadcast: two s16, the second 0 past the kernel's width */
    for (int ky = 0; ky < d->size; ky++)
        for (int p = 0; p < pairs; p++) {
            const int16_t lo = d->k[ky * d->size + 2 * p];
            const int16_t hi = 2 * p + 1 < d->size ? d->k[ky * d->size + 2 * p + 1] : 0;

            w[ky * pairs + p] = _mm512_set1_epi32((int32_t)((uint32_t)(uint16_t)lo | (uint32_t)(uint16_t)hi << 16));
        }
    if (d->size == 3)
        (epi_folds(d) ? dw_rows3x3_folded : dw_rows3x3)(d, w, idx);
    else if (d->size == 5)
        (epi_folds(d) ? dw_rows5x5_folded : dw_rows5x5)(d, w, idx);
    else
        dw_rows_any(d, w, idx, pairs);
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
