/*
 * backends/cpu/q8_dw512.h: the epilogue of the AVX-512 int8 depthwise
 * kernels (q8_dw512.c: u8 input, q8_dw16.c: s16 input): dequantize, bias,
 * activation, then the float store or the quantized u8 one, on
 * accumulators in registers. Included after the including file turned on
 * AVX-512 (F, BW) and included q8_store512.h.
 */

/* The epilogue's constants, in registers for a whole channel (nothing reloaded after each store). */
typedef struct dw_epi {
    __m512i comp;
    __m512 scale, bias, qinv, qzp;
    enum vgc_act act;
    float *out;
    uint8_t *qout;
    size_t ldo, ldq;
} dw_epi;


static dw_epi epi_make(const vgc_q8_dw *d)
{
    dw_epi e = {
        .comp = _mm512_set1_epi32(d->comp), .scale = _mm512_set1_ps(d->scale), .bias = _mm512_set1_ps(d->bias),
        .qinv = _mm512_set1_ps(d->qinv), .qzp = _mm512_set1_ps(d->qzp), .act = d->act,
        .out = d->out, .qout = d->qout, .ldo = d->ldo, .ldq = d->ldq,
    };

    return e;
}


/* Dequantize, bias and activation (the first cnt lanes through a scalar one). */
static inline __m512 dw_value(const dw_epi *e, __m512i acc, int cnt)
{
    __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc, e->comp)), e->scale, e->bias);

    if (e->act == VGC_ACT_LEAKY) {
        y = _mm512_max_ps(y, _mm512_mul_ps(y, _mm512_set1_ps(0.1f)));
    } else if (e->act != VGC_ACT_LINEAR) {
        float t[16];

        _mm512_storeu_ps(t, y);
        for (int i = 0; i < cnt; i++)
            t[i] = vgc_act_scalar(t[i], e->act);
        y = _mm512_loadu_ps(t);
    }
    return y;
}


/* Store cnt outputs y at column ox of row oy: float, or quantized to u8. */
static inline void dw_put(const dw_epi *e, __m512 y, int oy, int ox, int cnt)
{
    const __mmask16 mask = cnt >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cnt) - 1u);

    if (e->qout) {
        /* q8.c's quantize arithmetic exactly: a rounded product, then a rounded sum (never an fma) */
        _mm512_mask_cvtusepi32_storeu_epi8(e->qout + (size_t)oy * e->ldq + ox, mask, q8_quant512(y, e->qinv, e->qzp));
    } else {
        _mm512_mask_storeu_ps(e->out + (size_t)oy * e->ldo + ox, mask, y);
    }
}


/* Dequantize, bias, activation, and store cnt outputs at column ox of row oy. */
static inline void dw_store(const dw_epi *e, __m512i acc, int oy, int ox, int cnt)
{
    dw_put(e, dw_value(e, acc, cnt), oy, ox, cnt);
}


/*
 * Store the lanes `all` of y, a vector that spans rows (q8_dw512.c's dense
 * and paired-tail loops): lane i of row r (r 0 for lane 0's, 1 for the
 * lanes of m1, 2 for those of m2) is output (oy + r, ox + i - r * shift),
 * so a row's lanes are one masked store from (oy + r) * ld + ox - r * shift
 * (never before the buffer: the first lane of a later row is at column >= 0).
 */
static inline void dw_put_rows(const dw_epi *e, __m512 y, int oy, int ox, int shift, __mmask16 all, __mmask16 m1,
                               __mmask16 m2)
{
    const __mmask16 row[3] = { (__mmask16)(all & ~m1), (__mmask16)(all & m1 & ~m2), (__mmask16)(all & m2) };

    if (e->qout) {
        const __m512i q = q8_quant512(y, e->qinv, e->qzp);

        for (int r = 0; r < 3 && row[r]; r++)
            _mm512_mask_cvtusepi32_storeu_epi8(e->qout + (size_t)(oy + r) * e->ldq + ox - (size_t)r * shift, row[r], q);
    } else {
        for (int r = 0; r < 3 && row[r]; r++)
            _mm512_mask_storeu_ps(e->out + (size_t)(oy + r) * e->ldo + ox - (size_t)r * shift, row[r], y);
    }
}
