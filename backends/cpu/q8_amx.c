/*
 * backends/cpu/q8_amx.c: the int8 GEMM on AMX (tdpbsud: a 16 x 64 s8 tile
 * of weights times a 16 x 64 u8 tile of activations, 16 groups of 4 k by
 * 16 columns, into a 16 x 16 int32 tile), from q8_tmplamx.h. Only called
 * after q8.c checked the CPU has AMX-INT8 and Linux granted this process
 * the tile state.
 */
#include "q8.h"

#if defined(__x86_64__) && (defined(__clang__) || __GNUC__ >= 11)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("amx-tile,amx-int8,avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#endif

#define QT_CELL int32_t
#define QT_TDP(c, a, b) _tile_dpbsud(c, a, b)
#define QT_TOF(g, m, p)                                                                                    \
    _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_loadu_si512(p), _mm512_set1_epi32((g)->comp[m]))), \
                    _mm512_set1_ps((g)->scale[m]), _mm512_set1_ps((g)->bias[m]))
#define QT_E 1
#define QT_NAME(x) x##_amx

#include "q8_tmplamx.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif

const vgc_q8_kernels vgc_q8_amx = { VGC_Q8_AMX, "amx", 127, 0, gemm_amx, 1, 1 };
#else
const vgc_q8_kernels vgc_q8_amx = { VGC_Q8_AMX, "amx", 127, 0, NULL, 0, 0 };
#endif
