/*
 * backends/cpu/bf16_amx.c: the bf16 GEMM on AMX (tdpbf16ps: a 16 x 32 bf16
 * tile of weights times 16 pairs-of-rows x 16 columns of bf16 activations
 * into a 16 x 16 float tile), from q8_tmplamx.h. Only called after q8.c
 * checked the CPU has AMX-BF16 and Linux granted this process the tile
 * state.
 */
#include "q8.h"

#if defined(__x86_64__) && (defined(__clang__) || __GNUC__ >= 11)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("amx-tile,amx-bf16,avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#endif

#define QT_CELL float
#define QT_TDP(c, a, b) _tile_dpbf16ps(c, a, b)
#define QT_TOF(g, m, p) _mm512_add_ps(_mm512_loadu_ps(p), _mm512_set1_ps((g)->bias[m]))
#define QT_E 2
#define QT_NAME(x) x##_bf16amx

#include "q8_tmplamx.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif

const vgc_q8_kernels vgc_bf16_amx = { VGC_BF16_AMX, "amx_bf16", 0, 1, gemm_bf16amx, 0, 0 };
#else
const vgc_q8_kernels vgc_bf16_amx = { VGC_BF16_AMX, "amx_bf16", 0, 1, NULL, 0, 0 };
#endif
