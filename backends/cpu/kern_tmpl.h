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
 *   VADD VMUL VMAX VMIN VFMA(a, b, c) (a*b + c)
 *   KNAME(x)           x with the level's suffix
 */

/* act(v) for the activations that have a vector form; others return 0. */
static inline int KNAME(act_vec)(vf *v, enum vgc_act act)
{
    switch (act) {
    case VGC_ACT_LINEAR:
        return 1;
    case VGC_ACT_LEAKY:
        *v = VMAX(*v, VMUL(*v, VSET1(0.1f)));
        return 1;
    case VGC_ACT_RELU:
        *v = VMAX(*v, VZERO);
        return 1;
    case VGC_ACT_RELU6:
        *v = VMIN(VMAX(*v, VZERO), VSET1(6.0f));
        return 1;
    default:
        return 0;
    }
}


static void KNAME(bias_act)(float *y, size_t n, float bias, enum vgc_act act)
{
    vf b = VSET1(bias);
    size_t i = 0;

    if (act <= VGC_ACT_RELU6) {
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
        return;
    }
    for (; i < n; i++)
        y[i] = vgc_act_scalar(y[i] + bias, act);
}


static void KNAME(axpby_act)(float *y, const float *x, size_t n, float alpha, float beta,
                             enum vgc_act act)
{
    size_t i = 0;

    if (alpha == 1.0f && beta == 1.0f && act <= VGC_ACT_RELU6) {
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
 * Depthwise convolution of one channel. The input plane is first copied
 * into a zero-padded plane split into stride x stride phases, so that the
 * inner loop reads contiguous vectors with no bounds checks:
 *   out[oy][ox] = sum w[ky][kx] * phase[ky % s][kx % s][oy + ky/s][ox + kx/s]
 * The scratch the padded plane lives in follows the plane's args in the
 * caller's buffer (see vgc_dw_scratch_floats in forward.c).
 */
static void KNAME(dw_conv)(const vgc_dw_args *a)
{
    const int s = a->stride, ks = a->size;
    const int pw = (a->w + 2 * a->pad + s - 1) / s + VW;    /* phase row length */
    const int ph = (a->h + 2 * a->pad + s - 1) / s + 1;     /* phase rows */
    const size_t psz = (size_t)pw * (size_t)ph;
    float *pad = a->scratch;
    const int vec = a->act <= VGC_ACT_RELU6;

    /* padded, phase-split copy of the input plane */
    memset(pad, 0, psz * (size_t)(s * s) * sizeof(float));
    for (int y = 0; y < a->h; y++) {
        const int py = y + a->pad;
        const float *src = a->in + (size_t)y * a->w;
        float *row = pad + (size_t)((py % s) * s) * psz + (size_t)(py / s) * pw;

        if (s == 1) {
            memcpy(row + a->pad, src, (size_t)a->w * sizeof(float));
            continue;
        }
        for (int q = 0; q < s; q++) {
            /* the x whose padded column px = x + pad falls in phase q */
            int x0 = ((q - a->pad) % s + s) % s;
            float *dst = row + (size_t)q * psz;

            for (int x = x0; x < a->w; x += s)
                dst[(x + a->pad) / s] = src[x];
        }
    }

    for (int oy = 0; oy < a->oh; oy++) {
        float *o = a->out + (size_t)oy * a->ow;
        int ox = 0;

        for (; ox + 2 * VW <= a->ow; ox += 2 * VW) {
            vf acc0 = VSET1(a->bias), acc1 = acc0;

            for (int ky = 0; ky < ks; ky++) {
                for (int kx = 0; kx < ks; kx++) {
                    const float *p = pad + (size_t)((ky % s) * s + kx % s) * psz +
                                     (size_t)(oy + ky / s) * pw + ox + kx / s;
                    vf wv = VSET1(a->k[ky * ks + kx]);

                    acc0 = VFMA(wv, VLOAD(p), acc0);
                    acc1 = VFMA(wv, VLOAD(p + VW), acc1);
                }
            }
            if (vec) {
                KNAME(act_vec)(&acc0, a->act);
                KNAME(act_vec)(&acc1, a->act);
            }
            VSTORE(o + ox, acc0);
            VSTORE(o + ox + VW, acc1);
        }
        for (; ox < a->ow; ox += VW) {
            vf acc = VSET1(a->bias);
            int n = a->ow - ox < VW ? a->ow - ox : VW;

            for (int ky = 0; ky < ks; ky++) {
                for (int kx = 0; kx < ks; kx++) {
                    const float *p = pad + (size_t)((ky % s) * s + kx % s) * psz +
                                     (size_t)(oy + ky / s) * pw + ox + kx / s;

                    acc = VFMA(VSET1(a->k[ky * ks + kx]), VLOAD(p), acc);
                }
            }
            if (vec)
                KNAME(act_vec)(&acc, a->act);
            if (n == VW)
                VSTORE(o + ox, acc);
            else
                VSTOREN(o + ox, acc, n);
        }
        if (!vec)
            for (int x = 0; x < a->ow; x++)
                o[x] = vgc_act_scalar(o[x], a->act);
    }
}


const vgc_kernels KNAME(vgc_kernels) = {
    .simd = KLEVEL,
    .bias_act = KNAME(bias_act),
    .dw_conv = KNAME(dw_conv),
    .axpby_act = KNAME(axpby_act),
};
