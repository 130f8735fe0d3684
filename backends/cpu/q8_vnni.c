/*
 * backends/cpu/q8_vnni.c: the int8 GEMM on AVX-512 VNNI (vpdpbusd: four
 * u8 x s8 products summed into each int32 lane), from q8_tmpl512.h. Only
 * called after q8.c checked the CPU has AVX-512 VNNI.
 */
#include "q8.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma")
#endif

#define QT_ACC __m512i
#define QT_ZERO _mm512_setzero_si512()
#define QT_DOT(c, b, a) _mm512_dpbusd_epi32((c), (b), (a))
#define QT_TOF(g, m, acc)                                                                                  \
    _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32((acc), _mm512_set1_epi32((g)->comp[m]))),          \
                    _mm512_set1_ps((g)->scale[m]), _mm512_set1_ps((g)->bias[m]))
#define QT_ROW(g, m)                                                                                       \
    const __m512i rk_comp = _mm512_set1_epi32((g)->comp[m]);                                               \
    const __m512 rk_scale = _mm512_set1_ps((g)->scale[m]), rk_bias = _mm512_set1_ps((g)->bias[m])
#define QT_TOF_ROW(acc) _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32((acc), rk_comp)), rk_scale, rk_bias)
#define QT_PER 4
#define QT_E 1
#define QT_NAME(x) x##_vnni

#include "q8_tmpl512.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif

const vgc_q8_kernels vgc_q8_vnni = { VGC_Q8_VNNI, "vnni", 127, 0, gemm_vnni, 1, 0 };
#else
const vgc_q8_kernels vgc_q8_vnni = { VGC_Q8_VNNI, "vnni", 127, 0, NULL, 0, 0 };
#endif
