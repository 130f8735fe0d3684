/*
 * backends/cpu/q8_tmpl512.h: the AVX-512 GEMM of the reduced forms (q8.h),
 * written once and compiled by q8_vnni.c (int8, vpdpbusd: int32
 * accumulators) and bf16_avx512.c (bf16, vdpbf16ps: float accumulators).
 * Blocks of 8 rows x 48 columns (24 accumulators, written out: compilers
 * spill arrays of vectors), then 8 x 32 and 8 x 16 for the last columns; every 4-byte
 * group of a (4 int8 or 2 bf16 weights) is broadcast against 16 columns
 * of b; the epilogue is applied in registers.
 *
 * The including file turns on its instruction set and defines:
 *   QT_ACC             the accumulator vector type
 *   QT_ZERO            a zero accumulator
 *   QT_DOT(c, b, a)    c + the products of the 4-byte groups of b and a
 *   QT_TOF(g, m, acc)  row m's accumulator vector as float, dequantized, plus bias
 *   QT_ROW(g, m)       declares row m's constants (QT_TOF's), QT_TOF_ROW(acc) then does the same with them
 *   QT_PER             k per 4-byte group (4 int8, 2 bf16)
 *   QT_E               bytes of an element of a (1, 2)
 *   QT_NAME(x)         x with the variant's suffix
 */



#include "q8_store512.h"

/* Dequantize and bias one vector of row m (cnt columns), then q8_store512. */
static inline void store_vec(const vgc_q8_gemm *g, int m, int col, QT_ACC acc, int cnt)
{
    q8_store512(g, m, col, QT_TOF(g, m, acc), cnt);
}


/* X(r, its 3 accumulators) for each of block8x3's 8 rows */
#define VGC_ROWS8X3(X)                                                                                \
    X(0, c00, c01, c02) X(1, c10, c11, c12) X(2, c20, c21, c22) X(3, c30, c31, c32)                  \
    X(4, c40, c41, c42) X(5, c50, c51, c52) X(6, c60, c61, c62) X(7, c70, c71, c72)


/*
 * 8 rows x 48 columns: 24 accumulators, 3 vectors of b and 8 broadcasts of
 * a for 24 products a 4-byte group. A vector of b serves 8 rows (4 in
 * the 4 x 64 block this replaced): b comes from L2 for long k, and half the bytes of b per
 * product is what takes this kernel from about half of vpdpbusd's peak
 * towards it (bench/engines/q8_peak).
 */
static void QT_NAME(block8x3)(const vgc_q8_gemm *g, int m0, int n0)
{
    const uint8_t *b = g->b + (size_t)n0 * 4;
    const size_t bs = (size_t)g->ldb * 4, kp = (size_t)g->kp * QT_E;   /* kp: bytes of a row of a */
    const int8_t *a = g->a + (size_t)m0 * kp;
    const int groups = g->kp / QT_PER;
    QT_ACC c00 = QT_ZERO, c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
    QT_ACC c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    QT_ACC c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00;
    QT_ACC c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;

    for (int kg = 0; kg < groups; kg++, b += bs, a += 4) {
        const __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 64), b2 = _mm512_loadu_si512(b + 128);

        /* b's rows are ldb * 4 bytes apart: ask for the group 8 ahead (about 2 % on yolov3-tiny) */
        _mm_prefetch((const char *)(b + 8 * bs), _MM_HINT_T0);
        _mm_prefetch((const char *)(b + 8 * bs + 64), _MM_HINT_T0);
        _mm_prefetch((const char *)(b + 8 * bs + 128), _MM_HINT_T0);
        __m512i av;

#define VGC_ROW(r, x0, x1, x2)                                                   \
        av = _mm512_set1_epi32(*(const int32_t *)(const void *)(a + (r) * kp)); \
        x0 = QT_DOT(x0, b0, av);                                                 \
        x1 = QT_DOT(x1, b1, av);                                                 \
        x2 = QT_DOT(x2, b2, av);
        VGC_ROWS8X3(VGC_ROW)
#undef VGC_ROW
    }
    if (m0 + 8 <= g->m && n0 + 48 <= g->n && q8_store512_fast(g)) {
        /*
         * A whole block, leaky or linear: each row's constants read once and
         * its 3 vectors stored straight from the accumulators (the loop below
         * takes them through memory, builds a mask and tests the activation
         * and the destination per vector: about 40 instructions a vector).
         */
        const __m512 slope = _mm512_set1_ps(g->act == VGC_ACT_LEAKY ? 0.1f : 1.0f);
        float *const c = g->c + (size_t)m0 * g->ldc + n0;
        uint8_t *const q = g->q ? g->q + (size_t)m0 * g->ldq + n0 : NULL;
        const size_t ldc = g->ldc, ldq = g->ldq;
        const float *const qinv = q ? g->qinv + m0 : NULL, *const qzp = q ? g->qzp + m0 : NULL;
        float *const range = g->range ? g->range + (size_t)m0 * VGC_Q8_RANGE : NULL;

#define VGC_EPI(r, x0, x1, x2)                                                                        \
        {                                                                                             \
            QT_ROW(g, m0 + (r));                                                                      \
            __m512 y0 = QT_TOF_ROW(x0), y1 = QT_TOF_ROW(x1), y2 = QT_TOF_ROW(x2);                     \
                                                                                                      \
            y0 = _mm512_max_ps(y0, _mm512_mul_ps(y0, slope));                                         \
            y1 = _mm512_max_ps(y1, _mm512_mul_ps(y1, slope));                                         \
            y2 = _mm512_max_ps(y2, _mm512_mul_ps(y2, slope));                                         \
            if (range) {                                                                              \
                float *const rr = range + (r) * VGC_Q8_RANGE;                                         \
                                                                                                      \
                _mm512_storeu_ps(rr, _mm512_min_ps(_mm512_min_ps(_mm512_loadu_ps(rr), y0),            \
                                                   _mm512_min_ps(y1, y2)));                           \
                _mm512_storeu_ps(rr + 16, _mm512_max_ps(_mm512_max_ps(_mm512_loadu_ps(rr + 16), y0),  \
                                                        _mm512_max_ps(y1, y2)));                      \
            }                                                                                         \
            if (q) {                                                                                  \
                const __m512 qi = _mm512_set1_ps(qinv[r]), qz = _mm512_set1_ps(qzp[r]);               \
                                                                                                      \
                q8_store512_u8(q + (r) * ldq, y0, qi, qz);                                            \
                q8_store512_u8(q + (r) * ldq + 16, y1, qi, qz);                                       \
                q8_store512_u8(q + (r) * ldq + 32, y2, qi, qz);                                       \
            } else {                                                                                  \
                _mm512_storeu_ps(c + (r) * ldc, y0);                                                  \
                _mm512_storeu_ps(c + (r) * ldc + 16, y1);                                             \
                _mm512_storeu_ps(c + (r) * ldc + 32, y2);                                             \
            }                                                                                         \
        }
        VGC_ROWS8X3(VGC_EPI)
#undef VGC_EPI
        return;
    }
    {
        const QT_ACC acc[8][3] = { { c00, c01, c02 }, { c10, c11, c12 }, { c20, c21, c22 }, { c30, c31, c32 },
                                   { c40, c41, c42 }, { c50, c51, c52 }, { c60, c61, c62 }, { c70, c71, c72 } };

        for (int r = 0; r < 8 && m0 + r < g->m; r++)
            for (int v = 0; v < 3 && n0 + 16 * v < g->n; v++)
                store_vec(g, m0 + r, n0 + 16 * v, acc[r][v], g->n - n0 - 16 * v);
    }
}


#undef VGC_ROWS8X3


/* 8 rows x 32 columns (the last columns of a row of blocks): 16 accumulators, 2 vectors of b a group. */
static void QT_NAME(block8x2)(const vgc_q8_gemm *g, int m0, int n0)
{
    const uint8_t *b = g->b + (size_t)n0 * 4;
    const size_t bs = (size_t)g->ldb * 4, kp = (size_t)g->kp * QT_E;   /* kp: bytes of a row of a */
    const int8_t *a = g->a + (size_t)m0 * kp;
    const int groups = g->kp / QT_PER;
    QT_ACC c00 = QT_ZERO, c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    QT_ACC c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;

    for (int kg = 0; kg < groups; kg++, b += bs, a += 4) {
        const __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 64);
        __m512i av;

#define VGC_ROW(r, x0, x1)                                                       \
        av = _mm512_set1_epi32(*(const int32_t *)(const void *)(a + (r) * kp)); \
        x0 = QT_DOT(x0, b0, av);                                                 \
        x1 = QT_DOT(x1, b1, av);
        VGC_ROW(0, c00, c01)
        VGC_ROW(1, c10, c11)
        VGC_ROW(2, c20, c21)
        VGC_ROW(3, c30, c31)
        VGC_ROW(4, c40, c41)
        VGC_ROW(5, c50, c51)
        VGC_ROW(6, c60, c61)
        VGC_ROW(7, c70, c71)
#undef VGC_ROW
    }
    {
        const QT_ACC acc[8][2] = { { c00, c01 }, { c10, c11 }, { c20, c21 }, { c30, c31 },
                                   { c40, c41 }, { c50, c51 }, { c60, c61 }, { c70, c71 } };

        for (int r = 0; r < 8 && m0 + r < g->m; r++)
            for (int v = 0; v < 2 && n0 + 16 * v < g->n; v++)
                store_vec(g, m0 + r, n0 + 16 * v, acc[r][v], g->n - n0 - 16 * v);
    }
}


/* 8 rows x 16 columns (the last columns of a row of blocks). */
static void QT_NAME(block8x1)(const vgc_q8_gemm *g, int m0, int n0)
{
    const uint8_t *b = g->b + (size_t)n0 * 4;
    const size_t bs = (size_t)g->ldb * 4, kp = (size_t)g->kp * QT_E;   /* kp: bytes of a row of a */
    const int8_t *a = g->a + (size_t)m0 * kp;
    const int groups = g->kp / QT_PER;
    QT_ACC c0 = QT_ZERO, c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;

    for (int kg = 0; kg < groups; kg++, b += bs, a += 4) {
        const __m512i b0 = _mm512_loadu_si512(b);

#define VGC_ROW(r, x) x = QT_DOT(x, b0, _mm512_set1_epi32(*(const int32_t *)(const void *)(a + (r) * kp)));
        VGC_ROW(0, c0)
        VGC_ROW(1, c1)
        VGC_ROW(2, c2)
        VGC_ROW(3, c3)
        VGC_ROW(4, c4)
        VGC_ROW(5, c5)
        VGC_ROW(6, c6)
        VGC_ROW(7, c7)
#undef VGC_ROW
    }
    {
        const QT_ACC acc[8] = { c0, c1, c2, c3, c4, c5, c6, c7 };

        for (int r = 0; r < 8 && m0 + r < g->m; r++)
            store_vec(g, m0 + r, n0, acc[r], g->n - n0);
    }
}


/* Rows m0 to m0 + 7 from column n0 on: 8 x 48 blocks while they stay inside ldb, then 8 x 32, 8 x 16. */
static void QT_NAME(rows8)(const vgc_q8_gemm *g, int m0, int n0)
{
    for (; n0 + 32 < g->n && n0 + 48 <= g->ldb; n0 += 48)
        QT_NAME(block8x3)(g, m0, n0);
    for (; n0 + 16 < g->n && n0 + 32 <= g->ldb; n0 += 32)
        QT_NAME(block8x2)(g, m0, n0);
    for (; n0 < g->n; n0 += 16)
        QT_NAME(block8x1)(g, m0, n0);
}


static void QT_NAME(gemm)(const vgc_q8_gemm *g)
{
    /*
     * Rows outer when a outweighs the band (q8_tmplamx.h says why): each
     * block of 8 rows of a stays in L1 while the band's b streams from L2;
     * else column blocks outer, a block of b reused by every row of a. (mp
     * is a multiple of 32: the rows past m are zeros, computed, not stored.)
     */
    if (g->m > g->ldb) {
        for (int m0 = 0; m0 < g->m; m0 += 8)
            QT_NAME(rows8)(g, m0, 0);
        return;
    }
    for (int n0 = 0; n0 < g->n; n0 += 48) {
        if (n0 + 32 < g->n && n0 + 48 <= g->ldb) {
            for (int m0 = 0; m0 < g->m; m0 += 8)
                QT_NAME(block8x3)(g, m0, n0);
            continue;
        }
        for (int m0 = 0; m0 < g->m; m0 += 8)
            QT_NAME(rows8)(g, m0, n0);
        return;
    }
}

