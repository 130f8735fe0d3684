/*
 * backends/cpu/q8_store512.h: the end of the AVX-512 GEMM kernels' fused
 * epilogue (q8_tmpl512.h, q8_tmplamx.h): 16 dequantized outputs of row m
 * through the activation, then stored as float into c, or (g->q set:
 * feeding the next int8 layer) quantized into q with that layer's scale,
 * with vgc_q8_quantize512's arithmetic (a rounded product, a rounded sum,
 * clamped, truncated: never an fma, so the bytes equal the float path's
 * quantize pass). Included after the including file turned on AVX-512.
 */

static inline void q8_store512(const vgc_q8_gemm *g, int m, int col, __m512 y, int cnt)
{
    const __mmask16 mask = cnt >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cnt) - 1u);

    if (g->act == VGC_ACT_LEAKY) {
        y = _mm512_max_ps(y, _mm512_mul_ps(y, _mm512_set1_ps(0.1f)));
    } else if (g->act != VGC_ACT_LINEAR) {
        float t[16];

        _mm512_storeu_ps(t, y);
        for (int i = 0; i < 16; i++)
            t[i] = vgc_act_scalar(t[i], g->act);
        y = _mm512_loadu_ps(t);
    }
    if (!g->q) {
        _mm512_mask_storeu_ps(g->c + (size_t)m * g->ldc + col, mask, y);
        return;
    }
    y = _mm512_mul_round_ps(y, _mm512_set1_ps(g->qinv[m]), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    y = _mm512_add_round_ps(y, _mm512_set1_ps(g->qzp[m]), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    y = _mm512_min_ps(_mm512_max_ps(y, _mm512_setzero_ps()), _mm512_set1_ps(255.0f));
    _mm512_mask_cvtusepi32_storeu_epi8(g->q + (size_t)m * g->ldq + col, mask, _mm512_cvttps_epi32(y));
}
