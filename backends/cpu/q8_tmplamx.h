/*
 * backends/cpu/q8_tmplamx.h: the AMX GEMM of the reduced forms (q8.h),
 * written once and compiled by q8_amx.c (int8, tdpbsud: int32
 * accumulators) and bf16_amx.c (bf16, tdpbf16ps: float accumulators).
 * Blocks of 32 rows x 32 columns in four accumulator tiles, 64 bytes of k
 * a step (a 16 x 64-byte tile of a, 16 rows of 4-byte groups of b), or a
 * direct convolution's tap of fewer channels in one narrower step (the
 * tile configuration is set per call); the accumulators go through a
 * 4 KiB buffer on the stack for the epilogue (AVX-512).
 *
 * The including file turns on its instruction sets and defines:
 *   QT_CELL             the accumulator element type (int32_t, float)
 *   QT_TDP(c, a, b)     the tile multiply-add
 *   QT_TOF(g, m, p)     16 accumulators at p of row m as float, dequantized, plus bias
 *   QT_E                bytes of an element of a (1, 2)
 *   QT_NAME(x)          x with the variant's suffix
 */

/* The tile configuration (palette 1): tiles 0-3 accumulators, 4-5 weights, 6-7 activations. */
typedef struct tile_cfg {
    uint8_t palette;
    uint8_t start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_cfg;


#include "q8_store512.h"

static void QT_NAME(epilogue)(const vgc_q8_gemm *gp, const QT_CELL acc[32][32], int m0, int n0)
{
    const vgc_q8_gemm g = *gp;   /* a local copy: q8_store512_full */
    const int rows = g.m - m0 < 32 ? g.m - m0 : 32;

    if (g.n - n0 >= 32 && q8_store512_fast(&g)) {
        for (int r = 0; r < rows; r++) {
            const __m512 y[2] = { QT_TOF(&g, m0 + r, &acc[r][0]), QT_TOF(&g, m0 + r, &acc[r][16]) };

            q8_store512_full(&g, m0 + r, n0, y, 2);
        }
        return;
    }
    for (int r = 0; r < rows; r++)
        for (int v = 0; v < 2 && n0 + 16 * v < g.n; v++)
            q8_store512(&g, m0 + r, n0 + 16 * v, QT_TOF(&g, m0 + r, &acc[r][16 * v]), g.n - n0 - 16 * v);
}


/*
 * The blocks of c one after the other, each 32 x 32 over the whole of k,
 * its accumulators stored into one of two buffers; the epilogue of the
 * block before runs after this block's tile multiplies are issued, so
 * that the AVX-512 epilogue executes while the AMX unit works (a block's
 * multiplies take 16 cycles each, 36 of them for k = 576: the epilogue of
 * 64 vectors is no longer added to them).
 */
typedef struct QT_NAME(walk) {
    const vgc_q8_gemm *g;
    size_t kb, bs;
    int taps;
    size_t tb, ks;            /* bytes of a tap's k in a row of a, and of a step (a tile's width) */
    int pm, pn;               /* the block whose epilogue is pending, pm < 0: none */
    int cur;                  /* the buffer the next block's accumulators go to */
    QT_CELL acc[2][32][32] __attribute__((aligned(64)));
} QT_NAME(walk);


static void QT_NAME(block)(QT_NAME(walk) *w, int m0, int n0)
{
    const vgc_q8_gemm *g = w->g;
    const size_t kb = w->kb, bs = w->bs, tb = w->tb, ks = w->ks;
    const int8_t *a = g->a + (size_t)m0 * kb;
    QT_CELL(*acc)[32] = w->acc[w->cur];

    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    /* ks bytes of k a step (64, or a direct tap's fewer): ks / 4 groups of 4 bytes, the rows of a b tile */
    for (int t = 0; t < w->taps; t++) {
        const uint8_t *b = g->b + vgc_q8_toff(g, t) + (size_t)n0 * 4;

        for (size_t k0 = 0; k0 < tb; k0 += ks) {
            const uint8_t *bk = b + (k0 / 4) * bs;

            _tile_loadd(4, a + k0, kb);
            _tile_loadd(5, a + 16 * kb + k0, kb);
            _tile_loadd(6, bk, bs);
            _tile_loadd(7, bk + 64, bs);
            QT_TDP(0, 4, 6);
            QT_TDP(1, 4, 7);
            QT_TDP(2, 5, 6);
            QT_TDP(3, 5, 7);
        }
        a += tb;
    }
    if (w->pm >= 0)
        QT_NAME(epilogue)(g, (const QT_CELL(*)[32])w->acc[!w->cur], w->pm, w->pn);
    _tile_stored(0, &acc[0][0], 128);
    _tile_stored(1, &acc[0][16], 128);
    _tile_stored(2, &acc[16][0], 128);
    _tile_stored(3, &acc[16][16], 128);
    w->pm = m0;
    w->pn = n0;
    w->cur = !w->cur;
}


static void QT_NAME(gemm)(const vgc_q8_gemm *g)
{
    tile_cfg cfg;
    QT_NAME(walk) w;
    int cp;

    w.g = g;
    w.kb = (size_t)g->kp * QT_E;   /* bytes of a row of a */
    vgc_q8_walk(g, &w.taps, &cp, &w.bs);
    w.tb = (size_t)cp * QT_E;
    w.ks = w.tb < 64 ? w.tb : 64;
    w.pm = -1;
    w.pn = 0;
    w.cur = 0;
    __builtin_memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.rows[t] = 16;
        cfg.colsb[t] = 64;
    }
    /* a step of ks bytes: the a tiles that wide, the b tiles ks / 4 groups high */
    cfg.colsb[4] = cfg.colsb[5] = (uint16_t)w.ks;
    cfg.rows[6] = cfg.rows[7] = (uint8_t)(w.ks / 4);
    /* the compiler does not see ldtilecfg read cfg: without this it drops the stores above */
    __asm__ volatile("" : : "r"(&cfg) : "memory");
    _tile_loadconfig(&cfg);
    /*
     * Which operand stays in the caches: a band's b fits the L2 (q8.c sizes
     * it so), a's rows may not (13x13 layers of 512-1024 filters: megabytes
     * of weights for a few hundred columns). Rows outer when a is the
     * larger, so that each row block of a is read from memory once per band
     * rather than once per 32 columns; columns outer otherwise (a small a
     * stays in the caches and each column block of b in L1).
     */
    if (g->m > g->ldb) {
        for (int m0 = 0; m0 < g->m; m0 += 32)
            for (int n0 = 0; n0 < g->n; n0 += 32)
                QT_NAME(block)(&w, m0, n0);
    } else {
        for (int n0 = 0; n0 < g->n; n0 += 32)
            for (int m0 = 0; m0 < g->m; m0 += 32)
                QT_NAME(block)(&w, m0, n0);
    }
    if (w.pm >= 0)
        QT_NAME(epilogue)(g, (const QT_CELL(*)[32])w.acc[!w.cur], w.pm, w.pn);
    _tile_release();
}
