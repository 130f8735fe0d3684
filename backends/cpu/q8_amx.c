/*
 * backends/cpu/q8_amx.c: the int8 GEMM on AMX (tdpbsud: a 16 x 64 s8 tile
 * of weights times a 16 x 64 u8 tile of activations, 16 groups of 4 k by
 * 16 columns, into a 16 x 16 int32 tile). Blocks of 32 rows x 32 columns
 * in four accumulator tiles; the accumulators go through a 4 KiB buffer
 * on the stack for the epilogue (AVX-512). Only called after q8.c checked
 * the CPU has AMX-INT8 and Linux granted this process the tile state.
 */
#include "q8.h"

#if defined(__x86_64__) && (defined(__clang__) || __GNUC__ >= 11)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512dq,avx512vl,avx2,fma"))), apply_to = function)
#else
#pragma GCC target("amx-tile,amx-int8,avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")
#endif

/* The tile configuration (palette 1): tiles 0-3 accumulators, 4-5 weights, 6-7 activations. */
typedef struct tile_cfg {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_cfg;


static void epilogue(const vgc_q8_gemm *g, const int32_t acc[32][32], int m0, int n0)
{
    for (int r = 0; r < 32 && m0 + r < g->m; r++) {
        const int m = m0 + r;
        const __m512i comp = _mm512_set1_epi32(g->comp[m]);
        const __m512 scale = _mm512_set1_ps(g->scale[m]), bias = _mm512_set1_ps(g->bias[m]);
        float *c = g->c + (size_t)m * g->ldc;

        for (int v = 0; v < 2 && n0 + 16 * v < g->n; v++) {
            const int col = n0 + 16 * v, cnt = g->n - col;
            __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_loadu_si512(&acc[r][16 * v]), comp)),
                                       scale, bias);

            if (g->act == VGC_ACT_LEAKY) {
                y = _mm512_max_ps(y, _mm512_mul_ps(y, _mm512_set1_ps(0.1f)));
            } else if (g->act != VGC_ACT_LINEAR) {
                float t[16];

                _mm512_storeu_ps(t, y);
                for (int i = 0; i < cnt && i < 16; i++)
                    c[col + i] = vgc_act_scalar(t[i], g->act);
                continue;
            }
            _mm512_mask_storeu_ps(c + col, cnt >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cnt) - 1u), y);
        }
    }
}


static void gemm_amx(const vgc_q8_gemm *g)
{
    tile_cfg cfg;
    int32_t acc[32][32] __attribute__((aligned(64)));
    const size_t bs = (size_t)g->ldb * 4;

    __builtin_memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    _tile_loadconfig(&cfg);
    for (int n0 = 0; n0 < g->n; n0 += 32) {
        const uint8_t *b = g->b + (size_t)n0 * 4;

        for (int m0 = 0; m0 < g->m; m0 += 32) {
            const int8_t *a = g->a + (size_t)m0 * g->kp;

            _tile_zero(0);
            _tile_zero(1);
            _tile_zero(2);
            _tile_zero(3);
            for (int k0 = 0; k0 < g->kp; k0 += 64) {
                const uint8_t *bk = b + (size_t)(k0 / 4) * bs;

                _tile_loadd(4, a + k0, g->kp);
                _tile_loadd(5, a + (size_t)16 * g->kp + k0, g->kp);
                _tile_loadd(6, bk, bs);
                _tile_loadd(7, bk + 64, bs);
                _tile_dpbsud(0, 4, 6);
                _tile_dpbsud(1, 4, 7);
                _tile_dpbsud(2, 5, 6);
                _tile_dpbsud(3, 5, 7);
            }
            _tile_stored(0, &acc[0][0], 128);
            _tile_stored(1, &acc[0][16], 128);
            _tile_stored(2, &acc[16][0], 128);
            _tile_stored(3, &acc[16][16], 128);
            epilogue(g, (const int32_t(*)[32])acc, m0, n0);
        }
    }
    _tile_release();
}

#if defined(__clang__)
#pragma clang attribute pop
#endif

const vgc_q8_kernels vgc_q8_amx = { VGC_Q8_AMX, "amx", 127, gemm_amx };
#else
const vgc_q8_kernels vgc_q8_amx = { VGC_Q8_AMX, "amx", 127, NULL };
#endif
