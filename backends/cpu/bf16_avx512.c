/*
 * backends/cpu/bf16_avx512.c: the bf16 GEMM on AVX-512 BF16 (vdpbf16ps:
 * two bf16 products summed into each float lane), from q8_tmpl512.h. Only
 * called after q8.c checked the CPU has AVX-512 BF16.
 */
#include "q8.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512bf16,avx2,fma")
#endif

#define QT_ACC __m512
#define QT_ZERO _mm512_setzero_ps()
#define QT_DOT(c, b, a) _mm512_dpbf16_ps((c), (__m512bh)(b), (__m512bh)(a))
#define QT_TOF(g, m, acc) _mm512_add_ps((acc), _mm512_set1_ps((g)->bias[m]))
#define QT_ROW(g, m) const __m512 rk_bias = _mm512_set1_ps((g)->bias[m])
#define QT_TOF_ROW(acc) _mm512_add_ps((acc), rk_bias)
#define QT_PER 2
#define QT_E 2
#define QT_NAME(x) x##_bf16

#include "q8_tmpl512.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif

const vgc_q8_kernels vgc_bf16_avx512 = { VGC_BF16_AVX512, "avx512_bf16", 0, 1, gemm_bf16, 0, 0 };
#else
const vgc_q8_kernels vgc_bf16_avx512 = { VGC_BF16_AVX512, "avx512_bf16", 0, 1, NULL, 0, 0 };
#endif
