/*
 * backends/cpu/kern_avx2.c: the kernels for AVX2 + FMA (8 floats a vector).
 * Only called after cpu.c checked that the CPU has both.
 */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <string.h>

#include "internal.h"

/* every function below is compiled for this instruction set */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx2,fma")
#endif

#define VW 8
typedef __m256 vf;

static inline __m256i vgc_mask8(size_t n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#define VSET1(x) _mm256_set1_ps(x)
#define VZERO _mm256_setzero_ps()
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VLOADN(p, n) _mm256_maskload_ps((p), vgc_mask8(n))
#define VSTOREN(p, v, n) _mm256_maskstore_ps((p), vgc_mask8(n), (v))
#define VADD _mm256_add_ps
#define VSUB _mm256_sub_ps

static inline void vgc_deint8(__m256 lo, __m256 hi, __m256 *ev, __m256 *od)
{
    __m256 e = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    __m256 o = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));

    *ev = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
    *od = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

static inline void vgc_inter8(__m256 a, __m256 b, __m256 *lo, __m256 *hi)
{
    __m256 u0 = _mm256_unpacklo_ps(a, b), u1 = _mm256_unpackhi_ps(a, b);

    *lo = _mm256_permute2f128_ps(u0, u1, 0x20);
    *hi = _mm256_permute2f128_ps(u0, u1, 0x31);
}
/* exp(x), Cephes' polynomial on [-ln2/2, ln2/2] and 2^n from the exponent bits (~2 ulp). */
static inline __m256 vgc_exp8(__m256 x)
{
    __m256 n, r, p;
    __m256i e;

    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}
#define VEXP vgc_exp8
#define VDIV _mm256_div_ps
#define VDEINT vgc_deint8
#define VINTER vgc_inter8
#define VMUL _mm256_mul_ps
#define VMAX _mm256_max_ps
#define VMIN _mm256_min_ps
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define GEMM_MR 6
#define GEMM_NV 2
#define GEMM_KC 256
#define KLEVEL VGC_SIMD_AVX2
#define KNAME(x) x##_avx2

#include "kern_tmpl.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif

#else
#include "internal.h"
/* not x86: the table exists but is never chosen */
const vgc_kernels vgc_kernels_avx2 = { 0 };
#endif
