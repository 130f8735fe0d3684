/*
 * backends/cpu/kern_avx512.c: the kernels for AVX-512 F/BW/DQ/VL (16 floats
 * a vector). Only called after cpu.c checked that the CPU has them.
 */
#if defined(__x86_64__)
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#include <immintrin.h>
#include <string.h>

#include "internal.h"

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
#define VMUL _mm512_mul_ps
#define VMAX _mm512_max_ps
#define VMIN _mm512_min_ps
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define GEMM_MR 8
#define GEMM_NV 2
#define GEMM_KC 256
#define KLEVEL VGC_SIMD_AVX512
#define KNAME(x) x##_avx512

#include "kern_tmpl.h"

#else
#include "internal.h"
const vgc_kernels vgc_kernels_avx512 = { 0 };
#endif
