/*
 * backends/cpu/q8_vnni.c: the int8 GEMM on AVX-512 VNNI (vpdpbusd: four
 * u8 x s8 products summed into each int32 lane). Blocks of 4 rows x 64
 * columns, 16 accumulators; the epilogue (q8.h) is applied in registers.
 * Only called after q8.c checked the CPU has AVX-512 VNNI.
 */
#include "q8.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma")
#endif

#define MR 4

/* Dequantize, bias, activation and store of one vector of row m (cnt columns). */
static inline void store_vec(const vgc_q8_gemm *g, int m, int col, __m512i acc, int cnt)
{
    __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc, _mm512_set1_epi32(g->comp[m]))),
                               _mm512_set1_ps(g->scale[m]), _mm512_set1_ps(g->bias[m]));
    float *c = g->c + (size_t)m * g->ldc + col;
    __mmask16 mask = cnt >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cnt) - 1u);

    if (g->act == VGC_ACT_LEAKY) {
        y = _mm512_max_ps(y, _mm512_mul_ps(y, _mm512_set1_ps(0.1f)));
    } else if (g->act != VGC_ACT_LINEAR) {
        float t[16];

        _mm512_storeu_ps(t, y);
        for (int i = 0; i < cnt; i++)
            c[i] = vgc_act_scalar(t[i], g->act);
        return;
    }
    _mm512_mask_storeu_ps(c, mask, y);
}


static inline __attribute__((always_inline)) void block(const vgc_q8_gemm *g, int m0, int n0, const int nv)
{
    __m512i acc[MR][4];
    const uint8_t *b = g->b + (size_t)n0 * 4;
    const size_t bs = (size_t)g->ldb * 4;
    const int8_t *a = g->a + (size_t)m0 * g->kp;
    const int groups = g->kp / 4;

    for (int r = 0; r < MR; r++)
        for (int v = 0; v < nv; v++)
            acc[r][v] = _mm512_setzero_si512();
    for (int kg = 0; kg < groups; kg++, b += bs) {
        __m512i bv[4];

        for (int v = 0; v < nv; v++)
            bv[v] = _mm512_loadu_si512(b + v * 64);
        for (int r = 0; r < MR; r++) {
            int32_t w4;
            __m512i av;

            __builtin_memcpy(&w4, a + (size_t)r * g->kp + (size_t)kg * 4, 4);
            av = _mm512_set1_epi32(w4);
            for (int v = 0; v < nv; v++)
                acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], bv[v], av);
        }
    }
    for (int r = 0; r < MR && m0 + r < g->m; r++)
        for (int v = 0; v < nv && n0 + 16 * v < g->n; v++)
            store_vec(g, m0 + r, n0 + 16 * v, acc[r][v], g->n - n0 - 16 * v);
}


static void gemm_vnni(const vgc_q8_gemm *g)
{
    for (int n0 = 0; n0 < g->n; n0 += 64) {
        int nv = (g->n - n0 + 15) / 16;

        for (int m0 = 0; m0 < g->m; m0 += MR) {
            switch (nv) {
            case 1: block(g, m0, n0, 1); break;
            case 2: block(g, m0, n0, 2); break;
            case 3: block(g, m0, n0, 3); break;
            default: block(g, m0, n0, 4); break;
            }
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif

const vgc_q8_kernels vgc_q8_vnni = { VGC_Q8_VNNI, "vnni", 127, gemm_vnni };
#else
const vgc_q8_kernels vgc_q8_vnni = { VGC_Q8_VNNI, "vnni", 127, NULL };
#endif
