/*
 * backends/cpu/kern_avx512.c: the kernels for AVX-512 F/BW/DQ/VL (16 floats
 * a vector). Only called after cpu.c checked that the CPU has them.
 */
#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "internal.h"

/* every function below is compiled for this instruction set */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#endif

#define VW 16
typedef __m512 vf;

#define VMASK(n) ((__mmask16)((1u << (n)) - 1u))
#define VSET1(x) _mm512_set1_ps(x)
#define VZERO _mm512_setzero_ps()
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VLOADN(p, n) _mm512_maskz_loadu_ps(VMASK(n), (p))
#define VSTOREN(p, v, n) _mm512_mask_storeu_ps((p), VMASK(n), (v))
#define VADD _mm512_add_ps
#define VSUB _mm512_sub_ps

static inline void vgc_deint16(__m512 lo, __m512 hi, __m512 *ev, __m512 *od)
{
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);

    *ev = _mm512_permutex2var_ps(lo, ie, hi);
    *od = _mm512_permutex2var_ps(lo, io, hi);
}

static inline void vgc_inter16(__m512 a, __m512 b, __m512 *lo, __m512 *hi)
{
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);

    *lo = _mm512_permutex2var_ps(a, il, b);
    *hi = _mm512_permutex2var_ps(a, ih, b);
}
/* exp(x), Cephes' polynomial on [-ln2/2, ln2/2] and 2^n from the exponent bits (~2 ulp). */
static inline __m512 vgc_exp16(__m512 x)
{
    __m512 n, r, p;
    __m512i e;

    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
    return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}
#define VEXP vgc_exp16
#define VDIV _mm512_div_ps
#define VDEINT vgc_deint16
#define VINTER vgc_inter16
#define VMUL _mm512_mul_ps
#define VMAX _mm512_max_ps
#define VMIN _mm512_min_ps
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
/* n outputs as s16 in the low half of n int32 (internal.h's vgc_s16_round: cvtps rounds to nearest even) */
static inline void vgc_put16_512(int16_t *d, __m512 v, int n, float inv, int max)
{
    const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(v, _mm512_set1_ps(inv)));

    _mm512_mask_storeu_epi16(d, (__mmask32)(n >= 16 ? 0x55555555u : ((1u << 2 * n) - 1u) & 0x55555555u),
                             _mm512_min_epi32(_mm512_max_epi32(q, _mm512_set1_epi32(-max)), _mm512_set1_epi32(max)));
}
#define VPUT16 vgc_put16_512
#define GEMM_MR 8
#define GEMM_NV 2
#define GEMM_KC 256
#define CONV_POOL2            /* 32 registers: 16 accumulators of conv_pool2 and its operands */
#define KLEVEL VGC_SIMD_AVX512
#define KNAME(x) x##_avx512

#include "kern_tmpl.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else
#include "internal.h"
const vgc_kernels vgc_kernels_avx512 = { 0 };
#endif
