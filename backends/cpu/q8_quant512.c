/*
 * backends/cpu/q8_quant512.c: the passes of q8.c over an int8 layer's
 * input on AVX-512: its range (min and max with 0), its quantization to
 * u8 (16 floats a vector instead of SSE2's 4) and the packing of u8 rows
 * into 4-byte groups. The
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

/* 16 floats (mask m) to their u8 values in int32 lanes. */
static inline __m512i quant_u8(const float *x, __mmask16 m, __m512 vi, __m512 vz)
{
    /* never an fma: the product is rounded, as q8.c's SSE2 and scalar forms round it */
    __m512 t = _mm512_mul_round_ps(_mm512_maskz_loadu_ps(m, x), vi, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);

    t = _mm512_add_round_ps(t, vz, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(t, _mm512_setzero_ps()), _mm512_set1_ps(255.0f)));
}


/*
 * 64 floats a step, packed (values in [0, 255]: the saturating packs keep
 * them) into one store; the packs work within 128-bit lanes, a vpermd puts
 * the 16 groups of 4 back in order. A masked narrowing store
 * (vpmovusdb to memory) a vector was the pass's bottleneck.
 */
void vgc_q8_quantize512(const float *x, size_t n, float inv, float zp, uint8_t *q)
{
    const __m512 vi = _mm512_set1_ps(inv), vz = _mm512_set1_ps(zp);
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    size_t i = 0;

    for (; i + 64 <= n; i += 64) {
        const __m512i a = quant_u8(x + i, 0xffff, vi, vz), b = quant_u8(x + i + 16, 0xffff, vi, vz);
        const __m512i c = quant_u8(x + i + 32, 0xffff, vi, vz), d = quant_u8(x + i + 48, 0xffff, vi, vz);
        const __m512i ab = _mm512_packus_epi32(a, b), cd = _mm512_packus_epi32(c, d);

        _mm512_storeu_si512(q + i, _mm512_permutexvar_epi32(order, _mm512_packus_epi16(ab, cd)));
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);

        _mm_mask_storeu_epi8(q + i, m, _mm512_cvtepi32_epi8(quant_u8(x + i, m, vi, vz)));
    }
}


/*
 * A plane of rows of w <= 62 floats (w + 2 pad <= 64): rows of up to 4096
 * floats in all quantized as one run into a buffer on the stack, then each
 * padded row written with one masked load (its zero points around it) and
 * one masked store. Row by row, a plane of short rows spent more on each
 * row's start than on its floats (40 wide: twice the time).
 */
void vgc_q8_quantize_plane512(const float *x, int w, int h, int pad, float inv, float zp, uint8_t zpb, uint8_t *q)
{
    uint8_t run[4096];
    const size_t wp = (size_t)w + 2 * (size_t)pad;
    const int rows = 4096 / w;
    const __m512i z = _mm512_set1_epi8((char)zpb);
    const __mmask64 line = wp >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << wp) - 1);
    const __mmask64 inner = (((__mmask64)1 << w) - 1) << pad;

    for (int y = 0; y < pad; y++) {
        _mm512_mask_storeu_epi8(q + (size_t)y * wp, line, z);
        _mm512_mask_storeu_epi8(q + (size_t)(h + pad + y) * wp, line, z);
    }
    for (int y0 = 0; y0 < h; y0 += rows) {
        const int n = h - y0 < rows ? h - y0 : rows;

        vgc_q8_quantize512(x + (size_t)y0 * w, (size_t)n * w, inv, zp, run);
        /* row y's bytes at run + y*w, loaded from pad bytes before them (the masked-off bytes are not read) */
        for (int y = 0; y < n; y++)
            _mm512_mask_storeu_epi8(q + (size_t)(y0 + y + pad) * wp, line,
                                    _mm512_mask_loadu_epi8(z, inner, run + (size_t)y * w - pad));
    }
}


/*
 * 4 rows of n bytes into n groups of 4 (dst[4j + r] = row r [j]), 64
 * columns a step: the byte and word unpacks work within 128-bit lanes, so
 * their 4 results hold lane L's columns of each quarter; a 4 x 4 transpose
 * of the lanes (two rounds of vshufi32x4) puts the columns in order.
 * The last n % 64 columns with masked loads and stores: every column done.
 */
void vgc_q8_interleave4_512(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, const uint8_t *r3, int n,
                            uint8_t *dst)
{
    for (int j = 0; j < n; j += 64) {
        const int left = n - j;
        const __mmask64 m = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
        const __m512i a = _mm512_maskz_loadu_epi8(m, r0 + j), b = _mm512_maskz_loadu_epi8(m, r1 + j);
        const __m512i c = _mm512_maskz_loadu_epi8(m, r2 + j), d = _mm512_maskz_loadu_epi8(m, r3 + j);
        const __m512i ab0 = _mm512_unpacklo_epi8(a, b), ab1 = _mm512_unpackhi_epi8(a, b);
        const __m512i cd0 = _mm512_unpacklo_epi8(c, d), cd1 = _mm512_unpackhi_epi8(c, d);
        /* o_i, lane L: columns 16L + 4i .. 16L + 4i + 3 */
        const __m512i o0 = _mm512_unpacklo_epi16(ab0, cd0), o1 = _mm512_unpackhi_epi16(ab0, cd0);
        const __m512i o2 = _mm512_unpacklo_epi16(ab1, cd1), o3 = _mm512_unpackhi_epi16(ab1, cd1);
        const __m512i t0 = _mm512_shuffle_i32x4(o0, o1, 0x44), t1 = _mm512_shuffle_i32x4(o0, o1, 0xee);
        const __m512i t2 = _mm512_shuffle_i32x4(o2, o3, 0x44), t3 = _mm512_shuffle_i32x4(o2, o3, 0xee);

        const __m512i out[4] = { _mm512_shuffle_i32x4(t0, t2, 0x88), _mm512_shuffle_i32x4(t0, t2, 0xdd),
                                 _mm512_shuffle_i32x4(t1, t3, 0x88), _mm512_shuffle_i32x4(t1, t3, 0xdd) };

        if (left >= 64) {
            for (int q = 0; q < 4; q++)
                _mm512_storeu_si512(dst + 4 * j + 64 * q, out[q]);
            continue;
        }
        for (int q = 0; q < 4 && 16 * q < left; q++) {
            const int cols = left - 16 * q >= 16 ? 16 : left - 16 * q;   /* 4 bytes each */

            _mm512_mask_storeu_epi8(dst + 4 * j + 64 * q, cols >= 16 ? ~(__mmask64)0 : (((__mmask64)1 << (4 * cols)) - 1),
                                    out[q]);
        }
    }
}


/* A run of n floats to their u8 values held as s16, 32 a store (the packs work within 128-bit lanes). */
static void quantize16_run(const float *x, size_t n, __m512 vi, __m512 vz, int16_t *q)
{
    const __m512i order = _mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7);
    size_t i = 0;

    for (; i + 32 <= n; i += 32) {
        const __m512i a = quant_u8(x + i, 0xffff, vi, vz), b = quant_u8(x + i + 16, 0xffff, vi, vz);

        _mm512_storeu_si512(q + i, _mm512_permutexvar_epi64(order, _mm512_packs_epi32(a, b)));
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);

        _mm256_mask_storeu_epi16(q + i, m, _mm512_cvtepi32_epi16(quant_u8(x + i, m, vi, vz)));
    }
}


/*
 * vgc_q8_quantize_plane512 with s16 elements, any width: rows of up to
 * 4096 floats in all quantized as one run, then each padded row written
 * 32 words at a time, its zero points around it (a masked load over zp).
 */
void vgc_q8_quantize_plane16_512(const float *x, int w, int h, int pad, float inv, float zp, int16_t zpw, int16_t *q)
{
    int16_t run[4096];
    const int wp = w + 2 * pad, rows = w <= 4096 ? 4096 / w : 0;
    const __m512 vi = _mm512_set1_ps(inv), vz = _mm512_set1_ps(zp);
    const __m512i z = _mm512_set1_epi16(zpw);

    for (int y = 0; y < pad; y++)
        for (int c = 0; c < wp; c += 32) {
            const __mmask32 m = wp - c >= 32 ? ~(__mmask32)0 : (__mmask32)((1u << (wp - c)) - 1u);

            _mm512_mask_storeu_epi16(q + (size_t)y * wp + c, m, z);
            _mm512_mask_storeu_epi16(q + (size_t)(h + pad + y) * wp + c, m, z);
        }
    for (int y0 = 0; y0 < h; y0 += rows) {
        const int n = h - y0 < rows ? h - y0 : rows;

        quantize16_run(x + (size_t)y0 * w, (size_t)n * w, vi, vz, run);
        for (int y = 0; y < n; y++) {
            int16_t *dst = q + (size_t)(y0 + y + pad) * wp;
            const int16_t *src = run + (size_t)y * w - pad;     /* word c of the padded row at src + c */

            for (int c = 0; c < wp; c += 32) {
                /* the row's words among these 32: [pad - c, pad + w - c), within [0, 32) */
                const int a = pad - c > 0 ? pad - c : 0, b = pad + w - c < 32 ? pad + w - c : 32;
                const __mmask32 in = b > a ? (__mmask32)((((uint64_t)1 << b) - 1) & ~(((uint64_t)1 << a) - 1)) : 0;
                const __mmask32 m = wp - c >= 32 ? ~(__mmask32)0 : (__mmask32)((1u << (wp - c)) - 1u);

                _mm512_mask_storeu_epi16(dst + c, m, _mm512_mask_loadu_epi16(z, in, src + c));
            }
        }
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
void vgc_q8_interleave4_512(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, const uint8_t *r3, int n,
                            uint8_t *dst)
{
    (void)r0, (void)r1, (void)r2, (void)r3, (void)n, (void)dst;
}

void vgc_q8_quantize512(const float *x, size_t n, float inv, float zp, uint8_t *q)
{
    (void)x, (void)n, (void)inv, (void)zp, (void)q;
}

void vgc_q8_quantize_plane512(const float *x, int w, int h, int pad, float inv, float zp, uint8_t zpb, uint8_t *q)
{
    (void)x, (void)w, (void)h, (void)pad, (void)inv, (void)zp, (void)zpb, (void)q;
}

void vgc_q8_quantize_plane16_512(const float *x, int w, int h, int pad, float inv, float zp, int16_t zpw, int16_t *q)
{
    (void)x, (void)w, (void)h, (void)pad, (void)inv, (void)zp, (void)zpw, (void)q;
}

void vgc_q8_span512(const float *x, size_t n, float *lo, float *hi)
{
    (void)x, (void)n;
    *lo = *hi = 0;
}
#endif
