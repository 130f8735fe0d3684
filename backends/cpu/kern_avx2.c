/*
 * backends/cpu/kern_avx2.c: the kernels for AVX2 + FMA (8 floats a vector).
 * Only called after cpu.c checked that the CPU has both.
 */
#if defined(__x86_64__) || defined(__i386__)
#pragma GCC target("avx2,fma")
#include <immintrin.h>
#include <string.h>

#include "internal.h"

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

#else
#include "internal.h"
/* not x86: the table exists but is never chosen */
const vgc_kernels vgc_kernels_avx2 = { 0 };
#endif
