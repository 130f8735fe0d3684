/*
 * backends/cpu/kern_tmpl.h: the element-wise and depthwise kernels, written
 * once over a small vector vocabulary and compiled once per SIMD level by
 * kern_generic.c (scalar C), kern_avx2.c and kern_avx512.c (each of which
 * turns on its instruction set with a target pragma before including this).
 *
 * The including file defines:
 *   VW                 floats per vector
 *   vf                 the vector type
 *   VSET1(x) VZERO     broadcast, zero
 *   VLOAD(p) VSTORE(p, v)             unaligned load/store of VW floats
 *   VLOADN(p, n) VSTOREN(p, v, n)     the first n (< VW) floats only
 *   VADD VSUB VMUL VMAX VMIN VFMA(a, b, c) (a*b + c)
 *   VDIV VEXP(x)                      division, exp (a few ulp)
 *   VDEINT(lo, hi, &even, &odd)       even/odd elements of the 2*VW floats lo:hi
 *   VINTER(a, b, &lo, &hi)            a0 b0 a1 b1 ... (2*VW floats) as lo:hi
 *   KNAME(x)           x with the level's suffix
 */

/* v = act(v) for the exp-based activations (out of line: see act_vec). */
static __attribute__((noinline)) void KNAME(act_vec_exp)(vf *v, enum vgc_act act)
{
    switch (act) {
    case VGC_ACT_LOGISTIC:
        *v = VDIV(VSET1(1.0f), VADD(VSET1(1.0f), VEXP(VSUB(VZERO, *v))));
        return;
    case VGC_ACT_SWISH:
        *v = VDIV(*v, VADD(VSET1(1.0f), VEXP(VSUB(VZERO, *v))));
        return;
    case VGC_ACT_MISH: {
        /* x tanh(softplus(x)) = x n / (n + 2), n = e^x (2 + e^x); x above 20 gives x, as AlexeyAB */
        vf e = VEXP(VMIN(*v, VSET1(20.0f)));
        vf n = VMUL(e, VADD(e, VSET1(2.0f)));

        *v = VMUL(*v, VDIV(n, VADD(n, VSET1(2.0f))));
        return;
    }
    default:
        return;
    }
}


/*
 * v = act(v), a vector at a time (exp-based ones to a few ulp of expf).
 * The cheap ones always inline: GCC had kept the whole switch out of line,
 * and a call per vector in a GEMM tile's epilogue spills every accumulator
 * (all vector registers are caller-saved).
 */
static inline __attribute__((always_inline)) void KNAME(act_vec)(vf *v, enum vgc_act act)
{
    switch (act) {
    case VGC_ACT_LINEAR:
        return;
    case VGC_ACT_LEAKY:
        *v = VMAX(*v, VMUL(*v, VSET1(0.1f)));
        return;
    case VGC_ACT_RELU:
        *v = VMAX(*v, VZERO);
        return;
    case VGC_ACT_RELU6:
        *v = VMIN(VMAX(*v, VZERO), VSET1(6.0f));
        return;
    default:
        KNAME(act_vec_exp)(v, act);
        return;
    }
}


static void KNAME(bias_act)(float *y, size_t n, float bias, enum vgc_act act)
{
    vf b = VSET1(bias);
    size_t i = 0;

    for (; i + VW <= n; i += VW) {
        vf v = VADD(VLOAD(y + i), b);

        KNAME(act_vec)(&v, act);
        VSTORE(y + i, v);
    }
    if (i < n) {
        vf v = VADD(VLOADN(y + i, n - i), b);

        KNAME(act_vec)(&v, act);
        VSTOREN(y + i, v, n - i);
    }
}


static void KNAME(axpby_act)(float *y, const float *x, size_t n, float alpha, float beta,
                             enum vgc_act act)
{
    size_t i = 0;

    if (alpha == 1.0f && beta == 1.0f) {
        for (; i + VW <= n; i += VW) {
            vf v = VADD(VLOAD(y + i), VLOAD(x + i));

            KNAME(act_vec)(&v, act);
            VSTORE(y + i, v);
        }
    }
    for (; i < n; i++)
        y[i] = vgc_act_scalar(alpha * y[i] + beta * x[i], act);
}


/*
 * Depthwise convolution of one channel.
 *
 * Input rows are copied, zero-padded and split into `stride` phases
 * (phase q holds padded columns q, q+s, q+2s, ...), into a ring of `size`
 * rows in the caller's scratch, each input row once. Then every output
 * row is a sum of contiguous vector loads from those rows:
 *   out[oy][ox] = bias + sum w[ky][kx] * row(oy*s - pad + ky).phase[kx % s][ox + kx / s]
 * with rows outside the input reading a row of zeros. Two vectors are
 * accumulated at a time (two independent FMA chains).
 */
/* A row of w floats into its two stride-2 phases: even[j] = src[2j], odd[j] = src[2j + 1]. */
static inline void KNAME(split2)(const float *restrict src, int w, float *restrict even, float *restrict odd)
{
    int j = 0;

    for (; 2 * j + 2 * VW <= w; j += VW) {
        vf e, o;

        VDEINT(VLOAD(src + 2 * j), VLOAD(src + 2 * j + VW), &e, &o);
        VSTORE(even + j, e);
        VSTORE(odd + j, o);
    }
    for (int x = 2 * j; x < w; x++)
        (x & 1 ? odd : even)[x >> 1] = src[x];
}


/* n outputs v as s16, one every other element of d (vgc_dw_args.out16). */
static inline void KNAME(put16)(int16_t *d, vf v, int n, float inv, int max)
{
#if defined(VPUT16)
    VPUT16(d, v, n, inv, max);
#else
    float t[VW];

    VSTORE(t, v);
    for (int i = 0; i < n; i++)
        d[2 * i] = vgc_s16_round(t[i], inv, max);
#endif
}


/* n outputs v at column ox of output row oy: float, or s16. */
static inline void KNAME(dw_put)(const vgc_dw_args *a, int oy, int ox, vf v, int n)
{
    if (a->out16)
        KNAME(put16)(a->out16 + 2 * ((size_t)oy * a->ow + (size_t)ox), v, n, a->inv16, a->max16);
    else if (n == VW)
        VSTORE(a->out + (size_t)oy * a->ow + ox, v);
    else
        VSTOREN(a->out + (size_t)oy * a->ow + ox, v, n);
}


static void KNAME(dw_conv)(const vgc_dw_args *a)
{
    const int ks = a->size, s = a->stride, pad = a->pad;
    const size_t pp = vgc_dw_phase_len(a->w, pad, s, ks);   /* floats per phase row */
    const size_t slot = pp * (size_t)s;                      /* floats per ring row */
    float *zero = a->scratch;                                /* a row of zeros */
    float *ring = a->scratch + slot;
    int held[VGC_MAX_KERNEL];                                /* input row in each slot */
    const float *rows[VGC_MAX_KERNEL];
    size_t tap[VGC_MAX_KERNEL];                              /* where column kx of a window starts in its row */

    for (int kx = 0; kx < ks; kx++)   /* once: an integer division per FMA made small planes 3x slower */
        tap[kx] = (size_t)(kx % s) * pp + (size_t)(kx / s);

    memset(a->scratch, 0, slot * (size_t)(ks + 1) * sizeof(float));
    for (int k = 0; k < ks; k++)
        held[k] = -1;

    for (int oy = 0; oy < a->oh; oy++) {
        int ox = 0;

        for (int ky = 0; ky < ks; ky++) {
            const int iy = oy * s - pad + ky;
            int k;
            float *r;
            const float *src;

            if (iy < 0 || iy >= a->h) {
                rows[ky] = zero;
                continue;
            }
            k = iy % ks;
            r = ring + (size_t)k * slot;
            rows[ky] = r;
            if (held[k] == iy)
                continue;
            held[k] = iy;
            src = a->in + (size_t)iy * a->w;
            if (s == 1) {
                memcpy(r + pad, src, (size_t)a->w * sizeof(float));
            } else if (s == 2) {
                /* padded column px = x + pad goes to phase px & 1, index px >> 1 */
                KNAME(split2)(src, a->w, r + (size_t)(pad & 1) * pp + pad / 2,
                              r + (size_t)(1 - (pad & 1)) * pp + (pad + 1) / 2);
            } else {
                for (int x = 0; x < a->w; x++)
                    r[(size_t)((x + pad) % s) * pp + (size_t)((x + pad) / s)] = src[x];
            }
        }
        for (; ox + 2 * VW <= a->ow; ox += 2 * VW) {
            vf acc0 = VSET1(a->bias), acc1 = acc0;

            for (int ky = 0; ky < ks; ky++) {
                const float *r = rows[ky] + ox;

                for (int kx = 0; kx < ks; kx++) {
                    const float *p = r + tap[kx];
                    vf wv = VSET1(a->k[ky * ks + kx]);

                    acc0 = VFMA(wv, VLOAD(p), acc0);
                    acc1 = VFMA(wv, VLOAD(p + VW), acc1);
                }
            }
            KNAME(act_vec)(&acc0, a->act);
            KNAME(act_vec)(&acc1, a->act);
            KNAME(dw_put)(a, oy, ox, acc0, VW);
            KNAME(dw_put)(a, oy, ox + VW, acc1, VW);
        }
        for (; ox < a->ow; ox += VW) {
            const int n = a->ow - ox < VW ? a->ow - ox : VW;
            vf acc = VSET1(a->bias);

            for (int ky = 0; ky < ks; ky++) {
                const float *r = rows[ky] + ox;

                for (int kx = 0; kx < ks; kx++)
                    acc = VFMA(VSET1(a->k[ky * ks + kx]), VLOAD(r + tap[kx]), acc);
            }
            KNAME(act_vec)(&acc, a->act);
            KNAME(dw_put)(a, oy, ox, acc, n);
        }
    }
}


/*
 * Max pooling of one channel, darknet's way (window at -pad/2, cells
 * outside the input ignored, -FLT_MAX when none is inside), separably: the
 * rows of the window are reduced into tmp, which has `size` cells of
 * -FLT_MAX on both sides, then the columns. tmp holds w + 2*size floats.
 */
static void KNAME(maxpool)(const float *in, int w, int h, int size, int stride, int pad,
                           float *out, int ow, int oh, float *tmp)
{
    const int off = -pad / 2;
    float *restrict t = tmp + size;

    for (int i = 0; i < size; i++) {
        tmp[i] = -3.402823466e+38f;
        t[w + i] = -3.402823466e+38f;
    }
    if (stride == 1 && size == 2 && off == 0 && ow == w && oh == h) {
        /*
         * the 2/1 "same" pool (yolov3-tiny's, 13x13 x 512: 0.34 ms through the general loops below):
         * each row's maxima with the row under it (the last row alone) into t, whose t[w] is the
         * -FLT_MAX past the last column, then each with its right neighbour; the same comparisons
         */
        for (int oy = 0; oy < oh; oy++) {
            const float *r0 = in + (size_t)oy * w, *r1 = oy + 1 < h ? r0 + w : r0;
            float *restrict o = out + (size_t)oy * ow;
            int x = 0;

            for (; x + VW <= w; x += VW)
                VSTORE(t + x, VMAX(VLOAD(r1 + x), VLOAD(r0 + x)));
            if (x < w)
                VSTOREN(t + x, VMAX(VLOADN(r1 + x, w - x), VLOADN(r0 + x, w - x)), w - x);
            for (x = 0; x + VW <= ow; x += VW)
                VSTORE(o + x, VMAX(VLOAD(t + x + 1), VLOAD(t + x)));
            if (x < ow)
                VSTOREN(o + x, VMAX(VLOADN(t + x + 1, ow - x), VLOADN(t + x, ow - x)), ow - x);
        }
        return;
    }
    for (int oy = 0; oy < oh; oy++) {
        float *restrict o = out + (size_t)oy * ow;
        int first = 1;

        if (stride == 2 && size == 2 && off == 0 && 2 * oy + 1 < h && 2 * ow <= w) {
            /* both rows inside (yolov3-tiny's 2/2 pools): one pass, a vector of outputs a step */
            const float *r0 = in + (size_t)(2 * oy) * w, *r1 = r0 + w;
            int ox = 0;

            for (; ox + VW <= ow; ox += VW) {
                vf e, d;

                VDEINT(VMAX(VLOAD(r0 + 2 * ox), VLOAD(r1 + 2 * ox)),
                       VMAX(VLOAD(r0 + 2 * ox + VW), VLOAD(r1 + 2 * ox + VW)), &e, &d);
                VSTORE(o + ox, VMAX(e, d));
            }
            for (; ox < ow; ox++) {
                const float a = r0[2 * ox] > r0[2 * ox + 1] ? r0[2 * ox] : r0[2 * ox + 1];
                const float b = r1[2 * ox] > r1[2 * ox + 1] ? r1[2 * ox] : r1[2 * ox + 1];

                o[ox] = a > b ? a : b;
            }
            continue;
        }
        for (int ky = 0; ky < size; ky++) {
            const int iy = off + oy * stride + ky;
            const float *restrict r;

            if (iy < 0 || iy >= h)
                continue;
            r = in + (size_t)iy * w;
            if (first) {
                memcpy(t, r, (size_t)w * sizeof(float));
                first = 0;
                continue;
            }
            for (int x = 0; x < w; x++)
                t[x] = r[x] > t[x] ? r[x] : t[x];
        }
        if (first)
            for (int x = 0; x < w; x++)
                t[x] = -3.402823466e+38f;
        if (stride == 2 && size == 2 && off == 0) {
            for (int ox = 0; ox < ow; ox++) {
                float a0 = t[2 * ox], a1 = t[2 * ox + 1];

                o[ox] = a1 > a0 ? a1 : a0;
            }
            continue;
        }
        for (int ox = 0; ox < ow; ox++)
            o[ox] = t[ox * stride + off];
        for (int kx = 1; kx < size; kx++) {
            const float *restrict c = t + off + kx;

            if (stride == 1) {
                for (int ox = 0; ox < ow; ox++)
                    o[ox] = c[ox] > o[ox] ? c[ox] : o[ox];
            } else {
                for (int ox = 0; ox < ow; ox++)
                    o[ox] = c[ox * stride] > o[ox] ? c[ox * stride] : o[ox];
            }
        }
    }
}


#ifdef GEMM_MR
/*
 * The GEMM micro-kernel: a GEMM_MR x (GEMM_NV*VW) tile of C kept in
 * registers over the whole K loop; A comes packed (GEMM_MR floats per k,
 * broadcast), B is read in place (two vectors per k). Bias and activation
 * are applied before the tile is stored. rows <= GEMM_MR, cols <= NR.
 * pf: the block of A the next tile will read (K x MR floats), fetched into
 * L2 one line per k while this one computes: a panel's block is a few KiB
 * 100+ KiB from the last, which the hardware prefetcher does not foresee,
 * and a 512x4608 layer's A comes from memory every frame.
 */
#define GEMM_NR (GEMM_NV * VW)

/* A whole GEMM_MR x nv tile through act (a constant where inlined) into c. */
static inline __attribute__((always_inline)) void
KNAME(tile_out)(vf acc[GEMM_MR][GEMM_NV], const int nv, float *restrict c, size_t ldc, enum vgc_act act)
{
#pragma GCC unroll 16
    for (int r = 0; r < GEMM_MR; r++)
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) {
            KNAME(act_vec)(&acc[r][v], act);
            VSTORE(c + (size_t)r * ldc + v * VW, acc[r][v]);
        }
}


static inline __attribute__((always_inline)) void
KNAME(gemm_tile_nv)(const int nv, int K, const float *restrict a, const float *restrict b, size_t ldb,
                    float *restrict c, size_t ldc, const float *bias, int rows, int cols,
                    enum vgc_act act, int first, int last, const float *pf)
{
    vf acc[GEMM_MR][GEMM_NV];
    const int full = cols == nv * VW;
    int n[GEMM_NV];

#pragma GCC unroll 8
    for (int v = 0; v < nv; v++)
        n[v] = cols - v * VW < 0 ? 0 : (cols - v * VW > VW ? VW : cols - v * VW);
#pragma GCC unroll 16
    for (int r = 0; r < GEMM_MR; r++) {
        vf br = VSET1(bias && r < rows ? bias[r] : 0.0f);

#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            acc[r][v] = br;
    }
    if (!first) {
        /* a later block of K: continue from what the earlier blocks stored */
        for (int r = 0; r < rows; r++)
            for (int v = 0; v < nv; v++)
                acc[r][v] = n[v] == VW ? VLOAD(c + (size_t)r * ldc + v * VW)
                                       : (n[v] ? VLOADN(c + (size_t)r * ldc + v * VW, n[v]) : VZERO);
    }
    /* b: ldb floats per k (a packed strip, zero beyond cols, or B itself when cols is whole) */
    for (int k = 0; k < K; k++, a += GEMM_MR, b += ldb, pf += GEMM_MR) {
        vf bv[GEMM_NV];

        __builtin_prefetch(pf, 0, 2);
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            bv[v] = VLOAD(b + v * VW);
#pragma GCC unroll 16
        for (int r = 0; r < GEMM_MR; r++) {
            vf ar = VSET1(a[r]);

#pragma GCC unroll 8
            for (int v = 0; v < nv; v++)
                acc[r][v] = VFMA(ar, bv[v], acc[r][v]);
        }
    }
    if (rows == GEMM_MR && full) {
        /* a whole tile, the activation a constant in each copy: straight-line stores from registers */
        switch (last ? act : VGC_ACT_LINEAR) {
        case VGC_ACT_LINEAR:
            KNAME(tile_out)(acc, nv, c, ldc, VGC_ACT_LINEAR);
            return;
        case VGC_ACT_LEAKY:
            KNAME(tile_out)(acc, nv, c, ldc, VGC_ACT_LEAKY);
            return;
        case VGC_ACT_RELU:
            KNAME(tile_out)(acc, nv, c, ldc, VGC_ACT_RELU);
            return;
        default:
            break;
        }
    }
    for (int r = 0; r < rows; r++) {
        float *cr = c + (size_t)r * ldc;

        for (int v = 0; v < nv; v++) {
            if (last)
                KNAME(act_vec)(&acc[r][v], act);
            if (full || n[v] == VW)
                VSTORE(cr + v * VW, acc[r][v]);
            else if (n[v])
                VSTOREN(cr + v * VW, acc[r][v], n[v]);
        }
    }
}


/* The tile with GEMM_NV vectors of columns (NR), and with one (for a last narrow strip). */
static void KNAME(gemm_tile)(int K, const float *restrict a, const float *restrict b, size_t ldb,
                             float *restrict c, size_t ldc, const float *bias, int rows, int cols,
                             enum vgc_act act, int first, int last, const float *pf)
{
    KNAME(gemm_tile_nv)(GEMM_NV, K, a, b, ldb, c, ldc, bias, rows, cols, act, first, last, pf);
}


static void KNAME(gemm_tile1)(int K, const float *restrict a, const float *restrict b, size_t ldb,
                              float *restrict c, size_t ldc, const float *bias, int rows, int cols,
                              enum vgc_act act, int first, int last, const float *pf)
{
    KNAME(gemm_tile_nv)(1, K, a, b, ldb, c, ldc, bias, rows, cols, act, first, last, pf);
}


/*
 * The last few (<= 4) columns of one panel: matrix-vector products over the
 * panel's MR rows, the columns contiguous in col (K floats each), summed in
 * four interleaved partial sums so that the FMA latency is not the bound
 * (one chain over K ran at a tenth of a tile's rate). gemm() calls it for
 * each panel right after the panel's tiles, while that block of A is in L1:
 * a separate pass would read all of A again (9 MB on a 512x4608 layer).
 * With no tiles (N <= 4: a fully connected layer's matrix-vector product)
 * it reads A itself, and fetches the next panel's block (pf) as it goes.
 */
static void KNAME(gemm_narrow)(int K, const float *restrict ap, int rows, const float *restrict col, int cols,
                               float *restrict c, size_t ldc, const float *bias, enum vgc_act act, int first,
                               int last, const float *pf)
{
    for (int j = 0; j < cols; j++, col += K) {
        float s0[GEMM_MR], s1[GEMM_MR], s2[GEMM_MR], s3[GEMM_MR];
        int k = 0;

        for (int r = 0; r < GEMM_MR; r++) {
            s0[r] = first ? (bias && r < rows ? bias[r] : 0.0f) : (r < rows ? c[(size_t)r * ldc + j] : 0.0f);
            s1[r] = s2[r] = s3[r] = 0.0f;
        }
        for (; k + 4 <= K; k += 4) {
            const float *a4 = ap + (size_t)k * GEMM_MR;

            if (j == 0) {   /* the next panel's block (gemm_tile_nv), 4 x MR floats per step */
                __builtin_prefetch(pf + (size_t)k * GEMM_MR, 0, 2);
                __builtin_prefetch(pf + (size_t)(k + 2) * GEMM_MR, 0, 2);
            }

            for (int r = 0; r < GEMM_MR; r++) {
                s0[r] += a4[r] * col[k];
                s1[r] += a4[GEMM_MR + r] * col[k + 1];
                s2[r] += a4[2 * GEMM_MR + r] * col[k + 2];
                s3[r] += a4[3 * GEMM_MR + r] * col[k + 3];
            }
        }
        for (; k < K; k++)
            for (int r = 0; r < GEMM_MR; r++)
                s0[r] += ap[(size_t)k * GEMM_MR + r] * col[k];
        for (int r = 0; r < rows; r++) {
            const float v = (s0[r] + s1[r]) + (s2[r] + s3[r]);
            c[(size_t)r * ldc + j] = last ? vgc_act_scalar(v, act) : v;
        }
    }
}

/*
 * A band of output rows of a convolution as an implicit GEMM: the input
 * rows a band needs are copied once, zero-padded and split into stride
 * phases (as for depthwise), into a ring of `size` rows per channel; the
 * B operand of the micro-kernel is then read straight from those rows:
 * for k = (c, ky, kx), the NR outputs at ox need
 *   row(c, oy*s - pad + ky).phase[kx % s][ox + kx/s ...]
 * so no im2col buffer is written or read. The tile is the GEMM's
 * (GEMM_MR filters x NR columns of one output row).
 */
static void KNAME(conv_rows)(const vgc_conv_args *x)
{
    const int ks = x->size, s = x->stride, pad = x->pad, C = x->c;
    const size_t pp = vgc_dw_phase_len(x->w, pad, s, ks), slot = pp * (size_t)s;
    const size_t ihw = (size_t)x->w * x->h, ohw = (size_t)x->ow * x->oh;
    const int panels = (x->m + GEMM_MR - 1) / GEMM_MR, K = C * ks * ks;
    float *ring = x->scratch;                                   /* [ks][C] slots */
    float *zero = ring + slot * (size_t)C * (size_t)ks;
    /* [C][ks] row pointers, after the rows, 64-byte aligned like the scratch itself */
    const float **rowp = (const float **)(void *)(ring + ((slot * ((size_t)C * ks + 1) + 15) & ~(size_t)15));
    int held[VGC_MAX_KERNEL];
    size_t tap[VGC_MAX_KERNEL];   /* where column kx of a window starts in its row (no division per k) */

    for (int kx = 0; kx < ks; kx++)
        tap[kx] = (size_t)(kx % s) * pp + (size_t)(kx / s);
    memset(ring, 0, slot * ((size_t)C * (size_t)ks + 1) * sizeof(float));
    for (int k = 0; k < ks; k++)
        held[k] = -1;
    for (int oy = x->y0; oy < x->y1; oy++) {
        for (int ky = 0; ky < ks; ky++) {
            const int iy = oy * s - pad + ky, k = iy >= 0 ? iy % ks : 0;

            if (iy < 0 || iy >= x->h) {
                for (int c = 0; c < C; c++)
                    rowp[c * ks + ky] = zero;
                continue;
            }
            if (held[k] != iy) {
                held[k] = iy;
                for (int c = 0; c < C; c++) {
                    float *r = ring + ((size_t)k * C + c) * slot;
                    const float *src = x->in + (size_t)c * ihw + (size_t)iy * x->w;

                    if (s == 1) {
                        memcpy(r + pad, src, (size_t)x->w * sizeof(float));
                    } else if (s == 2) {
                        /* padded column x + pad: phase (x + pad) & 1, index (x + pad) >> 1 */
                        KNAME(split2)(src, x->w, r + (size_t)(pad & 1) * pp + pad / 2,
                                      r + (size_t)(1 - (pad & 1)) * pp + (pad + 1) / 2);
                    } else {
                        for (int q = 0; q < s; q++) {
                            int x0 = ((q - pad) % s + s) % s;
                            float *dst = r + (size_t)q * pp + (x0 + pad) / s;

                            for (int xx = x0; xx < x->w; xx += s)
                                *dst++ = src[xx];
                        }
                    }
                }
            }
            for (int c = 0; c < C; c++)
                rowp[c * ks + ky] = ring + ((size_t)k * C + c) * slot;
        }
        for (int ox = 0; ox < x->ow; ox += GEMM_NR) {
            const int cols = x->ow - ox < GEMM_NR ? x->ow - ox : GEMM_NR;
            int n[GEMM_NV];

            for (int v = 0; v < GEMM_NV; v++)
                n[v] = cols - v * VW < 0 ? 0 : (cols - v * VW > VW ? VW : cols - v * VW);
            for (int p = 0; p < panels; p++) {
                const int rows = x->m - p * GEMM_MR < GEMM_MR ? x->m - p * GEMM_MR : GEMM_MR;
                const float *a = x->a + (size_t)p * K * GEMM_MR;
                vf acc[GEMM_MR][GEMM_NV];

#pragma GCC unroll 16
                for (int r = 0; r < GEMM_MR; r++) {
                    vf br = VSET1(r < rows ? x->bias[p * GEMM_MR + r] : 0.0f);

#pragma GCC unroll 8
                    for (int v = 0; v < GEMM_NV; v++)
                        acc[r][v] = br;
                }
                for (int ck = 0; ck < C * ks; ck++) {
                    const float *row = rowp[ck] + ox;

                    for (int kx = 0; kx < ks; kx++, a += GEMM_MR) {
                        const float *bp = row + tap[kx];
                        vf bv[GEMM_NV];

#pragma GCC unroll 8
                        for (int v = 0; v < GEMM_NV; v++)
                            bv[v] = VLOAD(bp + v * VW);
#pragma GCC unroll 16
                        for (int r = 0; r < GEMM_MR; r++) {
                            vf ar = VSET1(a[r]);

#pragma GCC unroll 8
                            for (int v = 0; v < GEMM_NV; v++)
                                acc[r][v] = VFMA(ar, bv[v], acc[r][v]);
                        }
                    }
                }
                for (int r = 0; r < rows; r++) {
                    float *o = x->out + (size_t)(p * GEMM_MR + r) * ohw + (size_t)oy * x->ow + ox;

                    for (int v = 0; v < GEMM_NV; v++) {
                        KNAME(act_vec)(&acc[r][v], x->act);
                        if (n[v] == VW)
                            VSTORE(o + v * VW, acc[r][v]);
                        else if (n[v])
                            VSTOREN(o + v * VW, acc[r][v], n[v]);
                    }
                }
            }
        }
    }
}


#ifdef CONV_POOL2
/*
 * A band of row pairs of a stride-1 convolution and their 2x2 stride-2
 * maxpool (yolov3-tiny's first layer and pool: 11 MB of floats the pool
 * read back). Half a GEMM panel (MR/2 filters) x 2 output rows x 2 vectors
 * in 16 accumulators; the input rows oy - pad .. oy - pad + size of every
 * channel are held in a ring of size + 1, row j of the window serving
 * output row oy at tap ky = j and row oy + 1 at ky = j - 1. The FMAs run
 * in conv_rows' order and the activation comes before the max, so the
 * result is bit for bit conv_rows then maxpool.
 */
#define POOL2_HR (GEMM_MR / 2)

static inline __attribute__((always_inline)) void KNAME(conv_pool2_ks)(const vgc_conv_args *x, const int ks)
{
    const int pad = x->pad, C = x->c, R = ks + 1;
    const size_t slot = vgc_dw_phase_len(x->w, pad, 1, R), ihw = (size_t)x->w * x->h;
    const int pw = x->ow / 2, ph = x->oh / 2, K = C * ks * ks;
    const size_t pplane = (size_t)pw * ph;
    float *ring = x->scratch;                                   /* [R][C] slots */
    float *prow = x->scratch + vgc_conv_pool2_ring_floats(C, x->w, pad, ks);  /* quant: m pooled rows */
    const vgc_conv_quant *qa = &x->quant;
    float *zero = ring + slot * (size_t)C * (size_t)R;
    const float **rowp = (const float **)(void *)(ring + ((slot * ((size_t)C * R + 1) + 15) & ~(size_t)15));
    int held[VGC_MAX_KERNEL + 1];

    memset(ring, 0, slot * ((size_t)C * (size_t)R + 1) * sizeof(float));
    for (int k = 0; k < R; k++)
        held[k] = -1;
    for (int oy = x->y0; oy < x->y1; oy += 2) {
        for (int j = 0; j < R; j++) {
            const int iy = oy - pad + j, k = iy >= 0 ? iy % R : 0;

            for (int c = 0; c < C; c++) {
                float *r = ring + ((size_t)k * C + c) * slot;

                if (iy < 0 || iy >= x->h) {
                    rowp[c * R + j] = zero;
                    continue;
                }
                if (held[k] != iy)
                    memcpy(r + pad, x->in + (size_t)c * ihw + (size_t)iy * x->w, (size_t)x->w * sizeof(float));
                rowp[c * R + j] = r;
            }
            if (iy >= 0 && iy < x->h)
                held[k] = iy;
        }
        for (int ox = 0; ox < x->ow; ox += 2 * VW) {
            const int pcols = (x->ow - ox) / 2 < VW ? (x->ow - ox) / 2 : VW;

            for (int f0 = 0; f0 < x->m; f0 += POOL2_HR) {
                const int rows = x->m - f0 < POOL2_HR ? x->m - f0 : POOL2_HR;
                const float *a = x->a + (size_t)(f0 / GEMM_MR) * K * GEMM_MR + f0 % GEMM_MR;
                vf acc[POOL2_HR][2][2];

#pragma GCC unroll 8
                for (int r = 0; r < POOL2_HR; r++) {
                    const vf br = VSET1(r < rows ? x->bias[f0 + r] : 0.0f);

                    acc[r][0][0] = acc[r][0][1] = acc[r][1][0] = acc[r][1][1] = br;
                }
                for (int c = 0; c < C; c++)
                    for (int ky = 0; ky < ks; ky++) {
                        const float *r0 = rowp[c * R + ky] + ox, *r1 = rowp[c * R + ky + 1] + ox;

                        for (int kx = 0; kx < ks; kx++, a += GEMM_MR) {
                            const vf b00 = VLOAD(r0 + kx), b01 = VLOAD(r0 + kx + VW);
                            const vf b10 = VLOAD(r1 + kx), b11 = VLOAD(r1 + kx + VW);

#pragma GCC unroll 8
                            for (int r = 0; r < POOL2_HR; r++) {
                                const vf ar = VSET1(a[r]);

                                acc[r][0][0] = VFMA(ar, b00, acc[r][0][0]);
                                acc[r][0][1] = VFMA(ar, b01, acc[r][0][1]);
                                acc[r][1][0] = VFMA(ar, b10, acc[r][1][0]);
                                acc[r][1][1] = VFMA(ar, b11, acc[r][1][1]);
                            }
                        }
                    }
                for (int r = 0; r < rows; r++) {
                    float *o = qa->q ? prow + (size_t)(f0 + r) * pw + ox / 2
                                     : x->out + (size_t)(f0 + r) * pplane + (size_t)(oy / 2) * pw + ox / 2;
                    vf e, d;

                    /* leaky (the tiny yolos') inline: a call per vector cost 7 % of the layer (1.66 -> 1.55 ms) */
                    for (int y = 0; y < 2; y++)
                        for (int v = 0; v < 2; v++) {
                            if (x->act == VGC_ACT_LEAKY)
                                acc[r][y][v] = VMAX(acc[r][y][v], VMUL(acc[r][y][v], VSET1(0.1f)));
                            else
                                KNAME(act_vec)(&acc[r][y][v], x->act);
                        }
                    VDEINT(VMAX(acc[r][0][0], acc[r][1][0]), VMAX(acc[r][0][1], acc[r][1][1]), &e, &d);
                    if (pcols == VW)
                        VSTORE(o, VMAX(e, d));
                    else
                        VSTOREN(o, VMAX(e, d), pcols);
                }
            }
        }
        /* quantized: the pooled row of each channel while in L1 */
        for (int f = 0; qa->q && f < x->m; f++)
            qa->run(prow + (size_t)f * pw, (size_t)pw, qa->inv[f], qa->zp[f],
                    qa->q + (size_t)f * qa->plane + (size_t)(oy / 2) * qa->ld);
    }
}


/* 3x3 with the size a constant (the tap loops unrolled: 1.65 -> 1.55 ms on yolov3-tiny's first layer), or any size */
static void KNAME(conv_pool2)(const vgc_conv_args *x)
{
    if (x->size == 3)
        KNAME(conv_pool2_ks)(x, 3);
    else
        KNAME(conv_pool2_ks)(x, x->size);
}
#endif


/* Copy a strip of B (kc x cols, row stride ldb) into dst (kc x width, zero beyond cols). */
static inline void KNAME(pack_strip)(float *restrict dst, const float *restrict src, size_t ldb, int kc,
                                     int cols, int width)
{
    if (cols == width) {
        for (int kk = 0; kk < kc; kk++, src += ldb)
            for (int v = 0; v < width / VW; v++)
                VSTORE(dst + kk * width + v * VW, VLOAD(src + v * VW));
    } else {
        for (int kk = 0; kk < kc; kk++, src += ldb)
            for (int x = 0; x < width; x++)
                dst[kk * width + x] = x < cols ? src[x] : 0.0f;
    }
}


/* Up to this many columns, a whole block of B is packed and A streamed once. */
#define GEMM_NSMALL 256

static void KNAME(gemm)(const float *a, int m, int k, const float *b, size_t ldb, int n,
                        float *c, size_t ldc, const float *bias, enum vgc_act act)
{
    /* per thread: a block of B, packed (GEMM_KC x GEMM_NSMALL floats, 256 KiB), and the narrow columns */
    static __thread float bp[GEMM_KC * GEMM_NSMALL] __attribute__((aligned(64)));
    static __thread float tail[GEMM_KC * 4] __attribute__((aligned(64)));
    const int panels = (m + GEMM_MR - 1) / GEMM_MR;
    /*
     * the last <= 4 columns past a whole vector by matrix-vector products (N = 49: 48 in tiles, not 64),
     * and N <= 4 wholly (a matrix-vector product: a one-vector tile would compute VW columns for it)
     */
    const int nmain = (n > VW || n <= 4) && n % VW != 0 && n % VW <= 4 ? n - n % VW : n, ntail = n - nmain;

    /*
     * K in blocks of GEMM_KC; B is copied into bp (contiguous, aligned,
     * zero-padded: B's rows may be far apart, one page each) in strips of NR
     * columns; a last strip of at most VW columns uses the one-vector tile,
     * and the last few columns past it (ntail) gemm_narrow, so that N = 49
     * costs about 49 columns of work, not 64. C carries the partial sums
     * between blocks of K; the activation is applied after the last.
     *
     * Small N (the Winograd products, 13x13 layers): the whole block of B is
     * packed once and each panel of A (GEMM_KC x MR) passes over all of it,
     * so that A, the big operand there, is read once. Large N: a strip of B
     * at a time (packed, or in place when K is short) stays in L1 while
     * every panel of A passes over it.
     */
    for (int kb = 0; kb < k; kb += GEMM_KC) {
        const int kc = k - kb < GEMM_KC ? k - kb : GEMM_KC;
        const int first = kb == 0, last = kb + kc == k;

        for (int j = 0; j < ntail; j++)
            for (int kk = 0; kk < kc; kk++)
                tail[j * kc + kk] = b[(size_t)(kb + kk) * ldb + nmain + j];
        if (nmain <= GEMM_NSMALL) {
            size_t off = 0;

            for (int j = 0; j < nmain;) {
                const int rem = nmain - j, width = rem > VW ? GEMM_NR : VW, cols = rem < width ? rem : width;

                KNAME(pack_strip)(bp + off, b + (size_t)kb * ldb + j, ldb, kc, cols, width);
                off += (size_t)kc * width;
                j += cols;
            }
            for (int p = 0; p < panels; p++) {
                const int rows = m - p * GEMM_MR < GEMM_MR ? m - p * GEMM_MR : GEMM_MR;
                const float *ap = a + (size_t)p * k * GEMM_MR + (size_t)kb * GEMM_MR;
                const float *bb = bias ? bias + p * GEMM_MR : NULL;

                /* the next panel's block while this one's first strip computes (the others read ap again) */
                const float *next = p + 1 < panels ? ap + (size_t)k * GEMM_MR : ap;

                off = 0;
                for (int j = 0; j < nmain;) {
                    const int rem = nmain - j, width = rem > VW ? GEMM_NR : VW, cols = rem < width ? rem : width;
                    float *cp = c + (size_t)p * GEMM_MR * ldc + j;

                    if (width == GEMM_NR)
                        KNAME(gemm_tile)(kc, ap, bp + off, GEMM_NR, cp, ldc, bb, rows, cols, act, first, last,
                                         j ? ap : next);
                    else
                        KNAME(gemm_tile1)(kc, ap, bp + off, VW, cp, ldc, bb, rows, cols, act, first, last,
                                          j ? ap : next);
                    off += (size_t)kc * width;
                    j += cols;
                }
                if (ntail)
                    KNAME(gemm_narrow)(kc, ap, rows, tail, ntail, c + (size_t)p * GEMM_MR * ldc + nmain, ldc, bb,
                                       act, first, last, nmain ? ap : next);
            }
            continue;
        }
        for (int p = 0; ntail && p < panels; p++) {
            const int rows = m - p * GEMM_MR < GEMM_MR ? m - p * GEMM_MR : GEMM_MR;

            KNAME(gemm_narrow)(kc, a + (size_t)p * k * GEMM_MR + (size_t)kb * GEMM_MR, rows, tail, ntail,
                               c + (size_t)p * GEMM_MR * ldc + nmain, ldc, bias ? bias + p * GEMM_MR : NULL, act,
                               first, last, a + (size_t)(p + 1 < panels ? p + 1 : p) * k * GEMM_MR + (size_t)kb * GEMM_MR);
        }
        for (int j = 0; j < nmain;) {
            const int rem = nmain - j, width = rem > VW ? GEMM_NR : VW, cols = rem < width ? rem : width;
            /*
             * a whole strip of short K is read in place: packing it cost as
             * much as it saved (yolo-fastest-1.1-xl's 1x1 layers of K = 8-48);
             * not when its rows would share L1 sets (a stride of 4 KiB
             * multiples); K up to 256 in place measured the same as 64, so
             * long K keeps the packed strip it was tuned with
             */
            const int direct = cols == GEMM_NR && kc <= 64 && (ldb % 1024 != 0 || kc <= 8);
            const float *bs = direct ? b + (size_t)kb * ldb + j : bp;
            const size_t bl = direct ? ldb : (size_t)width;

            if (!direct)
                KNAME(pack_strip)(bp, b + (size_t)kb * ldb + j, ldb, kc, cols, width);
            for (int p = 0; p < panels; p++) {
                const int rows = m - p * GEMM_MR < GEMM_MR ? m - p * GEMM_MR : GEMM_MR;
                const float *ap = a + (size_t)p * k * GEMM_MR + (size_t)kb * GEMM_MR;
                float *cp = c + (size_t)p * GEMM_MR * ldc + j;
                const float *bb = bias ? bias + p * GEMM_MR : NULL;

                const float *next = a + (size_t)(p + 1 < panels ? p + 1 : 0) * k * GEMM_MR + (size_t)kb * GEMM_MR;

                if (width == GEMM_NR)
                    KNAME(gemm_tile)(kc, ap, bs, bl, cp, ldc, bb, rows, cols, act, first, last, next);
                else
                    KNAME(gemm_tile1)(kc, ap, bs, bl, cp, ldc, bb, rows, cols, act, first, last, next);
            }
            j += cols;
        }
    }
}
#endif


/*
 * Winograd F(2x2, 3x3) input transform V = B^T d B,
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], VW tiles at a time: the
 * 4x4 inputs of consecutive tiles are columns 2i..2i+3 of the padded rows,
 * taken apart into even and odd columns with VDEINT.
 */
static void KNAME(wino_in)(const float *const r[4], int ntx, float *v, size_t vs)
{
    for (int i = 0; i < ntx; i += VW) {
        const int n = ntx - i < VW ? ntx - i : VW;
        vf d[4][4], t[4][4];

        for (int k = 0; k < 4; k++) {
            const float *p = r[k] + 2 * i;

            VDEINT(VLOAD(p), VLOAD(p + VW), &d[k][0], &d[k][1]);
            VDEINT(VLOAD(p + 2), VLOAD(p + 2 + VW), &d[k][2], &d[k][3]);
        }
        for (int j = 0; j < 4; j++) {
            t[0][j] = VSUB(d[0][j], d[2][j]);
            t[1][j] = VADD(d[1][j], d[2][j]);
            t[2][j] = VSUB(d[2][j], d[1][j]);
            t[3][j] = VSUB(d[1][j], d[3][j]);
        }
        for (int k = 0; k < 4; k++) {
            vf o[4] = { VSUB(t[k][0], t[k][2]), VADD(t[k][1], t[k][2]), VSUB(t[k][2], t[k][1]),
                        VSUB(t[k][1], t[k][3]) };

            for (int j = 0; j < 4; j++) {
                float *dst = v + (size_t)(k * 4 + j) * vs + i;

                if (n == VW)
                    VSTORE(dst, o[j]);
                else
                    VSTOREN(dst, o[j], n);
            }
        }
    }
}


/* Store the interleave of a and b (a0 b0 a1 b1 ...), the first cnt floats of it. */
static inline void KNAME(store_pairs)(float *dst, vf a, vf b, int cnt)
{
    vf lo, hi;

    VINTER(a, b, &lo, &hi);
    if (cnt >= 2 * VW) {
        VSTORE(dst, lo);
        VSTORE(dst + VW, hi);
    } else if (cnt > VW) {
        VSTORE(dst, lo);
        VSTOREN(dst + VW, hi, cnt - VW);
    } else if (cnt == VW) {
        VSTORE(dst, lo);
    } else {
        VSTOREN(dst, lo, cnt);
    }
}


/* Winograd F(2x2, 3x3) output transform Y = A^T M A + bias, A^T = [1 1 1 0; 0 1 -1 -1]. */
static void KNAME(wino_out)(const float *m, size_t ms, int ntx, int width, float bias, enum vgc_act act,
                            float *y0, float *y1)
{
    const vf bv = VSET1(bias);

    for (int i = 0; i < ntx; i += VW) {
        const int n = ntx - i < VW ? ntx - i : VW;
        vf q[4][4], t[2][4], o00, o01, o10, o11;

        for (int xi = 0; xi < 16; xi++)
            q[xi / 4][xi % 4] = n == VW ? VLOAD(m + (size_t)xi * ms + i) : VLOADN(m + (size_t)xi * ms + i, n);
        for (int j = 0; j < 4; j++) {
            t[0][j] = VADD(VADD(q[0][j], q[1][j]), q[2][j]);
            t[1][j] = VSUB(VSUB(q[1][j], q[2][j]), q[3][j]);
        }
        o00 = VADD(VADD(VADD(t[0][0], t[0][1]), t[0][2]), bv);
        o01 = VADD(VSUB(VSUB(t[0][1], t[0][2]), t[0][3]), bv);
        o10 = VADD(VADD(VADD(t[1][0], t[1][1]), t[1][2]), bv);
        o11 = VADD(VSUB(VSUB(t[1][1], t[1][2]), t[1][3]), bv);
        KNAME(act_vec)(&o00, act);
        KNAME(act_vec)(&o01, act);
        KNAME(act_vec)(&o10, act);
        KNAME(act_vec)(&o11, act);
        KNAME(store_pairs)(y0 + 2 * i, o00, o01, 2 * n < width - 2 * i ? 2 * n : width - 2 * i);
        KNAME(store_pairs)(y1 + 2 * i, o10, o11, 2 * n < width - 2 * i ? 2 * n : width - 2 * i);
    }
}


/*
 * Winograd F(4x4, 3x3) input transform V = B^T d B with
 * B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1]:
 * tile i reads padded columns 4i..4i+5, i.e. phase j%4 at i + j/4, so VW
 * tiles are contiguous loads.
 */
static inline void KNAME(bt6)(const vf d[6], vf t[6])
{
    const vf c2 = VSET1(2.0f), c4 = VSET1(4.0f), c5 = VSET1(5.0f);

    t[0] = VADD(VSUB(VMUL(c4, d[0]), VMUL(c5, d[2])), d[4]);
    t[1] = VSUB(VADD(d[3], d[4]), VMUL(c4, VADD(d[1], d[2])));
    t[2] = VADD(VMUL(c4, VSUB(d[1], d[2])), VSUB(d[4], d[3]));
    t[3] = VADD(VMUL(c2, VSUB(d[3], d[1])), VSUB(d[4], d[2]));
    t[4] = VADD(VMUL(c2, VSUB(d[1], d[3])), VSUB(d[4], d[2]));
    t[5] = VADD(VSUB(VMUL(c4, d[1]), VMUL(c5, d[3])), d[5]);
}


static void KNAME(wino4_in)(const float *const r[6], size_t pl, int ntx, float *v, size_t vs)
{
    for (int i = 0; i < ntx; i += VW) {
        const int n = ntx - i < VW ? ntx - i : VW;
        vf t[6][6];

        for (int k = 0; k < 6; k++) {
            vf d[6], col[6];

            for (int j = 0; j < 6; j++)
                d[j] = VLOAD(r[k] + (size_t)(j % 4) * pl + i + j / 4);
            KNAME(bt6)(d, col);             /* row k of d B (columns transformed) */
            for (int j = 0; j < 6; j++)
                t[k][j] = col[j];
        }
        for (int j = 0; j < 6; j++) {
            vf d[6], o[6];

            for (int k = 0; k < 6; k++)
                d[k] = t[k][j];
            KNAME(bt6)(d, o);               /* column j of B^T (d B) */
            for (int k = 0; k < 6; k++) {
                float *dst = v + (size_t)(k * 6 + j) * vs + i;

                if (n == VW)
                    VSTORE(dst, o[k]);
                else
                    VSTOREN(dst, o[k], n);
            }
        }
    }
}


/* A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1] */
static inline void KNAME(at6)(const vf m[6], vf y[4])
{
    const vf c2 = VSET1(2.0f), c4 = VSET1(4.0f), c8 = VSET1(8.0f);
    const vf a = VADD(m[1], m[2]), b = VSUB(m[1], m[2]), c = VADD(m[3], m[4]), d = VSUB(m[3], m[4]);

    y[0] = VADD(VADD(m[0], a), c);
    y[1] = VADD(b, VMUL(c2, d));
    y[2] = VADD(a, VMUL(c4, c));
    y[3] = VADD(VADD(b, VMUL(c8, d)), m[5]);
}


/* Winograd F(4x4, 3x3) output transform Y = A^T M A + bias, activation, 4 rows of 4*ntx floats. */
static void KNAME(wino4_out)(const float *m, size_t ms, int ntx, int width, float bias, enum vgc_act act,
                             float *const y[4])
{
    const vf bv = VSET1(bias);

    for (int i = 0; i < ntx; i += VW) {
        const int n = ntx - i < VW ? ntx - i : VW;
        vf t[4][6], q[6], o[4][4];

        for (int j = 0; j < 6; j++) {
            vf col[4];

            for (int k = 0; k < 6; k++)
                q[k] = n == VW ? VLOAD(m + (size_t)(k * 6 + j) * ms + i) : VLOADN(m + (size_t)(k * 6 + j) * ms + i, n);
            KNAME(at6)(q, col);             /* column j of A^T M */
            for (int r = 0; r < 4; r++)
                t[r][j] = col[r];
        }
        for (int r = 0; r < 4; r++) {
            vf p, pp, qq, qh, r0, r1, r2, r3;
            int cnt = 4 * n < width - 4 * i ? 4 * n : width - 4 * i;

            KNAME(at6)(t[r], o[r]);         /* row r of (A^T M) A */
            for (int j = 0; j < 4; j++) {
                o[r][j] = VADD(o[r][j], bv);
                KNAME(act_vec)(&o[r][j], act);
            }
            /* interleave the 4 columns of VW tiles: c0 c1 c2 c3 of tile 0, then tile 1, ... */
            VINTER(o[r][0], o[r][2], &p, &pp);
            VINTER(o[r][1], o[r][3], &qq, &qh);
            VINTER(p, qq, &r0, &r1);
            VINTER(pp, qh, &r2, &r3);
            {
                float *dst = y[r] + 4 * i;
                vf parts[4] = { r0, r1, r2, r3 };

                for (int k = 0; k < 4 && cnt > 0; k++, cnt -= VW, dst += VW) {
                    if (cnt >= VW)
                        VSTORE(dst, parts[k]);
                    else
                        VSTOREN(dst, parts[k], cnt);
                }
            }
        }
    }
}


/* A row into 4 phases for F(4x4): x = 4i + 0, 1, 2, 3 go to phase 1, 2, 3 at i and phase 0 at i + 1. */
static void KNAME(split4)(const float *src, int w, float *dst, size_t pl)
{
    float *p0 = dst, *p1 = dst + pl, *p2 = dst + 2 * pl, *p3 = dst + 3 * pl;

    for (int x = 0; x < w; x += 4 * VW) {
        const int left = w - x;
        vf v[4], e01, o01, e23, o23, a0, a1, a2, a3;

        for (int k = 0; k < 4; k++) {
            const int n = left - k * VW;

            v[k] = n >= VW ? VLOAD(src + x + k * VW) : (n > 0 ? VLOADN(src + x + k * VW, n) : VZERO);
        }
        VDEINT(v[0], v[1], &e01, &o01);
        VDEINT(v[2], v[3], &e23, &o23);
        VDEINT(e01, e23, &a0, &a2);     /* x = 0 mod 4, 2 mod 4 */
        VDEINT(o01, o23, &a1, &a3);     /* x = 1 mod 4, 3 mod 4 */
        VSTORE(p1 + x / 4, a0);
        VSTORE(p2 + x / 4, a1);
        VSTORE(p3 + x / 4, a2);
        VSTORE(p0 + x / 4 + 1, a3);
    }
}


/* y = exp(y), a vector at a time (the ONNX executor's Softmax). */
static void KNAME(exp_inplace)(float *y, size_t n)
{
    size_t i = 0;

    for (; i + VW <= n; i += VW)
        VSTORE(y + i, VEXP(VLOAD(y + i)));
    if (i < n)
        VSTOREN(y + i, VEXP(VLOADN(y + i, (int)(n - i))), (int)(n - i));
}


const vgc_kernels KNAME(vgc_kernels) = {
    .simd = KLEVEL,
    .bias_act = KNAME(bias_act),
    .exp_inplace = KNAME(exp_inplace),
    .dw_conv = KNAME(dw_conv),
    .axpby_act = KNAME(axpby_act),
    .maxpool = KNAME(maxpool),
    .wino_in = KNAME(wino_in),
    .wino_out = KNAME(wino_out),
    .wino4_in = KNAME(wino4_in),
    .wino4_out = KNAME(wino4_out),
    .split4 = KNAME(split4),
#ifdef GEMM_MR
    .gemm_mr = GEMM_MR,
    .gemm = KNAME(gemm),
    .conv_rows = KNAME(conv_rows),
#ifdef CONV_POOL2
    .conv_pool2 = KNAME(conv_pool2),
#endif
#else
    .gemm_mr = 1,
    .gemm = KNAME(gemm_blas),
#endif
};
