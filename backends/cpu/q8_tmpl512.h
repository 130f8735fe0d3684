/*
 * backends/cpu/q8_tmpl512.h: the AVX-512 GEMM of the reduced forms (q8.h),
 * written once and compiled by q8_vnni.c (int8, vpdpbusd: int32
 * accumulators) and bf16_avx512.c (bf16, vdpbf16ps: float accumulators).
 * Blocks of 4 rows x 64 columns (16 accumulators, written out: compilers
 * spill arrays of vectors), then 4 x 16 for the last columns; every 4-byte
 * group of a (4 int8 or 2 bf16 weights) is broadcast against 16 columns
 * of b; the epilogue is applied in registers.
 *
 * The including file turns on its instruction set and defines:
 *   QT_ACC             the accumulator vector type
 *   QT_ZERO            a zero accumulator
 *   QT_DOT(c, b, a)    c + the products of the 4-byte groups of b and a
 *   QT_TOF(g, m, acc)  row m's accumulator vector as float, dequantized, plus bias
 *   QT_PER             k per 4-byte group (4 int8, 2 bf16)
 *   QT_E               bytes of an element of a (1, 2)
 *   QT_NAME(x)         x with the variant's suffix
 */

#define MR 4


/* Dequantize, bias, activation and store of one vector of row m (cnt columns). */
static inline void store_vec(const vgc_q8_gemm *g, int m, int col, QT_ACC acc, int cnt)
{
    __m512 y = QT_TOF(g, m, acc);
    float *c = g->c + (size_t)m * g->ldc + col;
    __mmask16 mask = cnt >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << cnt) - 1u);

    if (g->act == VGC_ACT_LEAKY) {
        y = _mm512_max_ps(y, _mm512_mul_ps(y, _mm512_set1_ps(0.1f)));
    } else if (g->act != VGC_ACT_LINEAR) {
        float t[16];

        _mm512_storeu_ps(t, y);
        for (int i = 0; i < cnt && i < 16; i++)
            c[i] = vgc_act_scalar(t[i], g->act);
        return;
    }
    _mm512_mask_storeu_ps(c, mask, y);
}


/* 4 rows x 64 columns: 16 accumulators in registers (written out: compilers spill arrays of vectors). */
static void QT_NAME(block4x4)(const vgc_q8_gemm *g, int m0, int n0)
{
    const uint8_t *b = g->b + (size_t)n0 * 4;
    const size_t bs = (size_t)g->ldb * 4, kp = (size_t)g->kp * QT_E;   /* kp: bytes of a row of a */
    const int8_t *a = g->a + (size_t)m0 * kp;
    const int groups = g->kp / QT_PER;
    QT_ACC c00 = QT_ZERO, c01 = c00, c02 = c00, c03 = c00;
    QT_ACC c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    QT_ACC c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    QT_ACC c30 = c00, c31 = c00, c32 = c00, c33 = c00;

    for (int kg = 0; kg < groups; kg++, b += bs, a += 4) {
        const __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 64);
        const __m512i b2 = _mm512_loadu_si512(b + 128), b3 = _mm512_loadu_si512(b + 192);
        __m512i av;

#define VGC_ROW(r, x0, x1, x2, x3)                                  \
        av = _mm512_set1_epi32(*(const int32_t *)(const void *)(a + (r) * kp)); \
        x0 = QT_DOT(x0, b0, av);                       \
        x1 = QT_DOT(x1, b1, av);                       \
        x2 = QT_DOT(x2, b2, av);                       \
        x3 = QT_DOT(x3, b3, av);
        VGC_ROW(0, c00, c01, c02, c03)
        VGC_ROW(1, c10, c11, c12, c13)
        VGC_ROW(2, c20, c21, c22, c23)
        VGC_ROW(3, c30, c31, c32, c33)
#undef VGC_ROW
    }
    {
        const QT_ACC acc[MR][4] = { { c00, c01, c02, c03 }, { c10, c11, c12, c13 },
                                     { c20, c21, c22, c23 }, { c30, c31, c32, c33 } };

        for (int r = 0; r < MR && m0 + r < g->m; r++)
            for (int v = 0; v < 4 && n0 + 16 * v < g->n; v++)
                store_vec(g, m0 + r, n0 + 16 * v, acc[r][v], g->n - n0 - 16 * v);
    }
}


/* 4 rows x 16 columns (the last columns of a row of blocks). */
static void QT_NAME(block4x1)(const vgc_q8_gemm *g, int m0, int n0)
{
    const uint8_t *b = g->b + (size_t)n0 * 4;
    const size_t bs = (size_t)g->ldb * 4, kp = (size_t)g->kp * QT_E;   /* kp: bytes of a row of a */
    const int8_t *a = g->a + (size_t)m0 * kp;
    const int groups = g->kp / QT_PER;
    QT_ACC c0 = QT_ZERO, c1 = c0, c2 = c0, c3 = c0;

    for (int kg = 0; kg < groups; kg++, b += bs, a += 4) {
        const __m512i b0 = _mm512_loadu_si512(b);

        c0 = QT_DOT(c0, b0, _mm512_set1_epi32(*(const int32_t *)(const void *)a));
        c1 = QT_DOT(c1, b0, _mm512_set1_epi32(*(const int32_t *)(const void *)(a + kp)));
        c2 = QT_DOT(c2, b0, _mm512_set1_epi32(*(const int32_t *)(const void *)(a + 2 * kp)));
        c3 = QT_DOT(c3, b0, _mm512_set1_epi32(*(const int32_t *)(const void *)(a + 3 * kp)));
    }
    {
        const QT_ACC acc[MR] = { c0, c1, c2, c3 };

        for (int r = 0; r < MR && m0 + r < g->m; r++)
            store_vec(g, m0 + r, n0, acc[r], g->n - n0);
    }
}


static void QT_NAME(gemm)(const vgc_q8_gemm *g)
{
    int n0 = 0;

    for (; n0 + 48 < g->n; n0 += 64)
        for (int m0 = 0; m0 < g->m; m0 += MR)
            QT_NAME(block4x4)(g, m0, n0);
    for (; n0 < g->n; n0 += 16)
        for (int m0 = 0; m0 < g->m; m0 += MR)
            QT_NAME(block4x1)(g, m0, n0);
}

#undef MR
