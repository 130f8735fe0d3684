/*
 * backends/cpu/q8_store512.h: the end of the AVX-512 GEMM kernels' fused
 * epilogue (q8_tmpl512.h, q8_tmplamx.h): 16 dequantized outputs of row m
 * through the activation, then stored as float into c, or (g->q set:
 * feeding the next int8 layer) quantized into q with that layer's scale,
 * with vgc_q8_quantize512's arithmetic (a rounded product, a rounded sum,
 * clamped, truncated: never an fma, so the bytes equal the float path's
 * quantize pass). Included after the including file turned on AVX-512.
 */

/* 16 outputs quantized: a rounded product, a rounded sum, clamped to [0, 255], truncated (int32 lanes). */
static inline __m512i q8_quant512(__m512 y, __m512 qinv, __m512 qzp)
{
    __m512 u = _mm512_mul_round_ps(y, qinv, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);

    u = _mm512_add_round_ps(u, qzp, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(u, _mm512_setzero_ps()), _mm512_set1_ps(255.0f)));
}


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
    if (g->range) {     /* the row's running range: its stored lanes alone */
        float *r = g->range + (size_t)m * VGC_Q8_RANGE;
        const __m512 lo = _mm512_loadu_ps(r), hi = _mm512_loadu_ps(r + 16);

        _mm512_storeu_ps(r, _mm512_mask_min_ps(lo, mask, lo, y));
        _mm512_storeu_ps(r + 16, _mm512_mask_max_ps(hi, mask, hi, y));
    }
    if (!g->q) {
        _mm512_mask_storeu_ps(g->c + (size_t)m * g->ldc + col, mask, y);
        return;
    }
    _mm512_mask_cvtusepi32_storeu_epi8(g->q + (size_t)m * g->ldq + col, mask,
                                       q8_quant512(y, _mm512_set1_ps(g->qinv[m]), _mm512_set1_ps(g->qzp[m])));
}


/* 16 whole outputs quantized into q: q8_store512's arithmetic and bytes, unmasked. */
static inline void q8_store512_u8(uint8_t *q, __m512 y, __m512 qinv, __m512 qzp)
{
    /* in [0, 255]: truncated to bytes, what the saturating store writes */
    _mm_storeu_si128((__m128i *)(void *)q, _mm512_cvtepi32_epi8(q8_quant512(y, qinv, qzp)));
}


/*
 * Whether q8_store512_full takes a GEMM's epilogue: leaky or linear (the
 * others go through vgc_act_scalar, q8_store512).
 */
static inline int q8_store512_fast(const vgc_q8_gemm *g)
{
    return g->act == VGC_ACT_LEAKY || g->act == VGC_ACT_LINEAR;
}


/*
 * q8_store512 for nv whole vectors of row m from column col (all inside
 * n), leaky or linear, with its arithmetic and bytes (linear as leaky of
 * slope 1: max(y, y) = y). g should be the caller's local copy of the
 * GEMM: the stores here cannot change a local, so nothing is read again
 * after them. Per vector q8_store512 did about 50 instructions, most of
 * them reading g's fields and the row's constants again after each store
 * and building the mask: the epilogue took half of a small-k layer's time
 * (bench/engines/q8_peak's direct shapes, AMX, 16 and 32 channels). The
 * AMX epilogue only: in the VNNI blocks (q8_tmpl512.h) this function made
 * them slower (q8_peak: direct 32 x 16 x 208^2 382-403 -> 327-335 GOP/s);
 * their whole 8 x 48 blocks have an epilogue of their own in registers.
 */
static inline void q8_store512_full(const vgc_q8_gemm *g, int m, int col, const __m512 *y, int nv)
{
    const __m512 slope = _mm512_set1_ps(g->act == VGC_ACT_LEAKY ? 0.1f : 1.0f);
    __m512 t[3];

    for (int v = 0; v < nv; v++)
        t[v] = _mm512_max_ps(y[v], _mm512_mul_ps(y[v], slope));
    if (!g->q) {
        float *c = g->c + (size_t)m * g->ldc + col;

        for (int v = 0; v < nv; v++)
            _mm512_storeu_ps(c + 16 * v, t[v]);
        return;
    }
    {
        const __m512 qinv = _mm512_set1_ps(g->qinv[m]), qzp = _mm512_set1_ps(g->qzp[m]);
        uint8_t *q = g->q + (size_t)m * g->ldq + col;

        for (int v = 0; v < nv; v++)
            q8_store512_u8(q + 16 * v, t[v], qinv, qzp);
    }
}


