/*
 * backends/cpu/q8_dw512.h: the epilogue of the AVX-512 int8 depthwise
 * kernels (q8_dw512.c: u8 input, q8_dw16.c: s16 input): dequantize, bias,
 * activation, then the float store or the quantized u8 one, on
 * accumulators in registers. Included after the including file turned on
 * AVX-512 (F, BW) and included q8_store512.h.
 */

/* The epilogue's constants, in registers for a whole channel (nothing reloaded after each store). */
typedef struct dw_epi {
    __m512i comp, max16, min16;
    __m512 scale, bias, qinv, qzp, inv16, lim16;
    enum vgc_act act;
    int fold;                 /* epi_folds: the s16 output's steps folded into scale and bias */
    float *out;
    uint8_t *qout;
    int16_t *out16;
    size_t ldo, ldq, ow;
} dw_epi;


/*
 * Whether d's epilogue folds the s16 output's step into its scale and bias:
 * an s16 output (out16) after leaky or linear, for which y * inv16 =
 * act(acc * scale * inv16 + (bias - comp * scale) * inv16) (inv16 > 0),
 * so the vector epilogue loses the subtraction of comp and the multiply
 * by inv16, and clamps with one vrangeps instead of a max and a min: 3 of
 * the 21 vector instructions of a 3x3 vector of 16 outputs (6 vpermb, 6
 * vpdpwssd, 9 of epilogue), on ports 0 and 5 that both units share. The
 * rounding moves by an ulp or so before the conversion: within 1 of the
 * reference, as an fma was (tests/cpu/test_q8_dw's check_s16).
 */
static inline int epi_folds(const vgc_q8_dw *d)
{
    return d->out16 && (d->act == VGC_ACT_LEAKY || d->act == VGC_ACT_LINEAR);
}


/* fold: epi_folds(d), a constant in each kernel's copy of its loops (q8_dw512.c, q8_dw16.c) */
static inline __attribute__((always_inline)) dw_epi epi_make(const vgc_q8_dw *d, int fold)
{
    dw_epi e = {
        .comp = _mm512_set1_epi32(d->comp), .scale = _mm512_set1_ps(d->scale), .bias = _mm512_set1_ps(d->bias),
        .qinv = _mm512_set1_ps(d->qinv), .qzp = _mm512_set1_ps(d->qzp), .act = d->act,
        .out = d->out, .qout = d->qout, .ldo = d->ldo, .ldq = d->ldq,
        .out16 = d->out16, .inv16 = _mm512_set1_ps(d->inv16), .max16 = _mm512_set1_epi32(d->max16),
        .min16 = _mm512_set1_epi32(-d->max16), .lim16 = _mm512_set1_ps((float)d->max16), .ow = (size_t)d->ow,
        .fold = fold,
    };

    if (fold) {
        e.scale = _mm512_set1_ps(d->scale * d->inv16);
        e.bias = _mm512_set1_ps((float)(((double)d->bias - (double)d->comp * (double)d->scale) * (double)d->inv16));
    }
    return e;
}


/* Dequantize, bias and activation (the first cnt lanes through a scalar one). */
static inline __attribute__((always_inline)) __m512 dw_value(const dw_epi *e, __m512i acc, int cnt)
{
    __m512 y = _mm512_fmadd_ps(_mm512_cvtepi32_ps(e->fold ? acc : _mm512_sub_epi32(acc, e->comp)), e->scale, e->bias);

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


/* y as s16 (q8.h's out16), one in the low half of each int32 lane. */
static inline __attribute__((always_inline)) __m512i dw_s16(const dw_epi *e, __m512 y)
{
    /*
     * cvtps rounds to nearest even, as lrintf; folded, y is in steps already and vrangeps (imm 2: the one of
     * y and max16 nearer 0, with y's sign) clamps it; else NaN gives INT_MIN, clamped to -max as the
     * reference's (folded: +-max)
     */
    if (e->fold)
        return _mm512_cvtps_epi32(_mm512_range_ps(y, e->lim16, 0x02));
    return _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(y, e->inv16)), e->min16), e->max16);
}


/* The s16 lanes of a 16-lane mask: the low half of each int32 (the high one is the other channel's). */
static inline __mmask32 dw_low_halves(__mmask16 m)
{
    /* bit i to bit 2i: one pdep (q8.c gives these kernels only where the CPU has BMI2); the shifts and
       masks that spread bits without it took as long as the old feed's passes on 20x20 layers */
    return (__mmask32)_pdep_u32(m, 0x55555555u);
}


/* Store cnt outputs y at column ox of row oy: float, or quantized to u8 or s16. */
static inline __attribute__((always_inline)) void dw_put(const dw_epi *e, __m512 y, int oy, int ox, int cnt)
{
    const __mmask16 mask = cnt >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cnt) - 1u);

    if (e->out16) {
        _mm512_mask_storeu_epi16(e->out16 + 2 * ((size_t)oy * e->ow + (size_t)ox), dw_low_halves(mask), dw_s16(e, y));
    } else if (e->qout) {
        /* q8.c's quantize arithmetic exactly: a rounded product, then a rounded sum (never an fma) */
        _mm512_mask_cvtusepi32_storeu_epi8(e->qout + (size_t)oy * e->ldq + ox, mask, q8_quant512(y, e->qinv, e->qzp));
    } else {
        _mm512_mask_storeu_ps(e->out + (size_t)oy * e->ldo + ox, mask, y);
    }
}


/* Dequantize, bias, activation, and store cnt outputs at column ox of row oy. */
static inline __attribute__((always_inline)) void dw_store(const dw_epi *e, __m512i acc, int oy, int ox, int cnt)
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
static inline __attribute__((always_inline)) void dw_put_rows(const dw_epi *e, __m512 y, int oy, int ox, int shift,
                                                              __mmask16 all, __mmask16 m1, __mmask16 m2)
{
    const __mmask16 row[3] = { (__mmask16)(all & ~m1), (__mmask16)(all & m1 & ~m2), (__mmask16)(all & m2) };

    if (e->out16) {
        const __m512i q = dw_s16(e, y);

        /* lane i of row r at column ox + i - r * shift: 2 * (i - r * shift) s16 from the row's column ox */
        for (int r = 0; r < 3 && row[r]; r++)
            _mm512_mask_storeu_epi16(e->out16 + 2 * ((size_t)(oy + r) * e->ow + (size_t)ox - (size_t)r * shift),
                                     dw_low_halves(row[r]), q);
    } else if (e->qout) {
        const __m512i q = q8_quant512(y, e->qinv, e->qzp);

        for (int r = 0; r < 3 && row[r]; r++)
            _mm512_mask_cvtusepi32_storeu_epi8(e->qout + (size_t)(oy + r) * e->ldq + ox - (size_t)r * shift, row[r], q);
    } else {
        for (int r = 0; r < 3 && row[r]; r++)
            _mm512_mask_storeu_ps(e->out + (size_t)(oy + r) * e->ldo + ox - (size_t)r * shift, row[r], y);
    }
}
