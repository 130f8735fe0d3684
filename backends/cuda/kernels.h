/*
 * backends/cuda/kernels.h: what every non-convolution layer of the CUDA
 * engine computes, one output element at a time.
 *
 * Each function here is the body of one CUDA kernel (kernels.cu runs it
 * once per element, in a grid-stride loop) and, compiled as plain C, of
 * the host emulation of the same plan (emul.c, used by tests/cuda on
 * machines without a GPU). So the arithmetic the GPU does is checked
 * against the CPU engine here too; only the launch itself and cuDNN's
 * convolutions are left to the GPU tests.
 *
 * Semantics are the CPU engine's (backends/cpu/forward.c, kern_tmpl.h),
 * which follow darknet: see docs/engine.md. Indexes are size_t: an index
 * runs over the whole batch (image b, channel, row, column).
 *
 * No allocation, no globals, no library calls beyond <math.h>.
 */
#ifndef VGK_KERNELS_H
#define VGK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define VGK_HD static __host__ __device__ __forceinline__
#else
#include <math.h>
#define VGK_HD static inline
#endif

#define VGK_MAX_SOURCES 16           /* = VGC_MAX_SOURCES */
#define VGK_FLT_LOWEST (-3.402823466e+38f)

/* Activations, numbered as enum vgc_act (backends/cpu/engine.h). */
enum vgk_act {
    VGK_ACT_LINEAR, VGK_ACT_LEAKY, VGK_ACT_RELU, VGK_ACT_RELU6,
    VGK_ACT_LOGISTIC, VGK_ACT_MISH, VGK_ACT_SWISH
};

/* vgc_act_scalar() of the CPU engine. */
VGK_HD float vgk_act(float x, int act)
{
    switch (act) {
    case VGK_ACT_LEAKY:
        return x > 0 ? x : 0.1f * x;
    case VGK_ACT_RELU:
        return x > 0 ? x : 0;
    case VGK_ACT_RELU6:
        return x < 0 ? 0 : (x > 6 ? 6 : x);
    case VGK_ACT_LOGISTIC:
        return 1.0f / (1.0f + expf(-x));
    case VGK_ACT_MISH: {
        /* AlexeyAB: x * tanh(softplus(x)), softplus thresholded at 20 */
        float sp = x > 20 ? x : (x < -20 ? expf(x) : log1pf(expf(x)));

        return x * tanhf(sp);
    }
    case VGK_ACT_SWISH:
        return x / (1.0f + expf(-x));
    default:
        return x;
    }
}


/* A convolution's epilogue when cuDNN cannot fuse it: y[i] = act(y[i] + bias[channel]). */
VGK_HD void vgk_bias_act(float *y, const float *bias, size_t hw, int c, int act, size_t i)
{
    y[i] = vgk_act(y[i] + bias[(i / hw) % (size_t)c], act);
}


/* Shapes of a layer's input and output (one image). */
typedef struct vgk_shape {
    int w, h, c;              /* input */
    int ow, oh, oc;           /* output */
} vgk_shape;

/*
 * [maxpool]: the window of output (y, x) starts at (y*stride - pad/2,
 * x*stride - pad/2) (pad is the total padding, darknet's); cells outside
 * the input are ignored; a window with none gives the lowest float.
 * i runs over batch x c x oh x ow.
 */
VGK_HD float vgk_maxpool(const float *in, vgk_shape s, int size, int stride, int pad, size_t i)
{
    const size_t ohw = (size_t)s.ow * (size_t)s.oh;
    const size_t plane = i / ohw, r = i % ohw;
    const int oy = (int)(r / (size_t)s.ow), ox = (int)(r % (size_t)s.ow);
    const int off = -pad / 2;
    const float *p = in + plane * (size_t)s.w * (size_t)s.h;
    float m = VGK_FLT_LOWEST;

    for (int ky = 0; ky < size; ky++) {
        const int iy = off + oy * stride + ky;

        if (iy < 0 || iy >= s.h)
            continue;
        for (int kx = 0; kx < size; kx++) {
            const int ix = off + ox * stride + kx;
            float v;

            if (ix < 0 || ix >= s.w)
                continue;
            v = p[(size_t)iy * (size_t)s.w + (size_t)ix];
            m = v > m ? v : m;
        }
    }
    return m;
}


/* [upsample]: nearest neighbour times `scale`. i runs over batch x c x oh x ow. */
VGK_HD float vgk_upsample(const float *in, vgk_shape s, int stride, float scale, size_t i)
{
    const size_t ohw = (size_t)s.ow * (size_t)s.oh;
    const size_t plane = i / ohw, r = i % ohw;
    const int oy = (int)(r / (size_t)s.ow), ox = (int)(r % (size_t)s.ow);

    return scale * in[plane * (size_t)s.w * (size_t)s.h + (size_t)(oy / stride) * (size_t)s.w +
                      (size_t)(ox / stride)];
}


/* A [shortcut]: its input x, its sources, and what to do with them. */
typedef struct vgk_shortcut_args {
    const float *x;                      /* the previous layer's output (image 0) */
    int w, h, c;                         /* output shape (= x's) */
    size_t size;                         /* w*h*c */
    int nsrc;
    const float *src[VGK_MAX_SOURCES];   /* each source's output (image 0) */
    int sw[VGK_MAX_SOURCES], sh[VGK_MAX_SOURCES], sc[VGK_MAX_SOURCES];
    size_t ssize[VGK_MAX_SOURCES];       /* floats per image of each source */
    float alpha, beta;
    int act;
} vgk_shortcut_args;

/*
 * Output element i (over batch x c x h x w). One source: darknet's
 * shortcut_cpu (alpha*x + beta*from where the two grids meet, sources of
 * another size by its stride/sample rule, x elsewhere). Several sources
 * (AlexeyAB): x plus every source over its channels. Then the activation.
 */
VGK_HD float vgk_shortcut(const vgk_shortcut_args *a, size_t i)
{
    const size_t b = i / a->size, r = i % a->size;
    float v = a->x[i];

    if (a->nsrc > 1) {
        for (int k = 0; k < a->nsrc; k++) {
            size_t n = (size_t)a->w * (size_t)a->h * (size_t)(a->sc[k] < a->c ? a->sc[k] : a->c);

            if (r < n)
                v += a->src[k][b * a->ssize[k] + r];
        }
    } else {
        const size_t hw = (size_t)a->w * (size_t)a->h;
        const int ch = (int)(r / hw), y = (int)(r % hw / (size_t)a->w), x = (int)(r % (size_t)a->w);
        const int w1 = a->sw[0], h1 = a->sh[0], c1 = a->sc[0];
        int stride = w1 / a->w, sample = a->w / w1;
        const int minw = w1 < a->w ? w1 : a->w, minh = h1 < a->h ? h1 : a->h, minc = c1 < a->c ? c1 : a->c;

        if (stride < 1)
            stride = 1;
        if (sample < 1)
            sample = 1;
        if (ch < minc && y % sample == 0 && x % sample == 0 && x / sample < minw && y / sample < minh) {
            size_t at = (size_t)(x / sample) * (size_t)stride +
                        (size_t)w1 * ((size_t)(y / sample) * (size_t)stride + (size_t)h1 * (size_t)ch);

            v = a->alpha * v + a->beta * a->src[0][b * a->ssize[0] + at];
        }
    }
    return vgk_act(v, a->act);
}


/* A [yolo] head. */
typedef struct vgk_yolo_args {
    int w, h;                 /* grid */
    int n;                    /* anchors per cell */
    int classes;
    int new_coords;
    float scale_x_y;          /* 1 when ignored */
    size_t size;              /* floats per image: n*(classes+5)*w*h */
    int net_w, net_h;         /* network input, for box sizes */
    float anchors[2 * 64];    /* the anchors of this head's mask: w, h of anchor k */
    uint32_t ordinal;         /* which head this is (0 = first in the cfg) */
} vgk_yolo_args;

/*
 * The head's output element i (over batch x size) from its input:
 * logistic on x, y, objectness and classes (not with new_coords), then
 * scale_x_y on x and y, as forward_yolo of the CPU engine.
 */
VGK_HD float vgk_yolo(const float *in, const vgk_yolo_args *a, size_t i)
{
    const size_t hw = (size_t)a->w * (size_t)a->h;
    const int entry = (int)((i % a->size) / hw % (size_t)(a->classes + 5));
    float v = in[i];

    if (!a->new_coords && (entry < 2 || entry >= 4))
        v = 1.0f / (1.0f + expf(-v));
    if (entry < 2 && a->scale_x_y != 1.0f)
        v = v * a->scale_x_y - 0.5f * (a->scale_x_y - 1.0f);
    return v;
}


/* Floats of one candidate record: centre x, y, width, height, objectness, then `classes` probabilities. */
#define VGK_REC_FLOATS(classes) (5 + (size_t)(classes))

/*
 * Candidate j of image b of a head's output (j over w*h*n: cell j / n,
 * anchor j % n): is its objectness above thresh?
 */
VGK_HD int vgk_candidate_passes(const float *out, const vgk_yolo_args *a, int b, size_t j, float thresh)
{
    const size_t hw = (size_t)a->w * (size_t)a->h;
    const size_t cell = j / (size_t)a->n, anchor = j % (size_t)a->n;
    const float *e = out + (size_t)b * a->size + anchor * hw * (size_t)(a->classes + 5) + cell;

    return e[4 * hw] > thresh;
}


/*
 * Write candidate j's record (box as fractions of the network input,
 * objectness, objectness*P(class) or 0 where not above thresh) and its
 * key: darknet's order of get_network_boxes (head, cell, anchor) as one
 * sortable number.
 */
VGK_HD void vgk_candidate_write(const float *out, const vgk_yolo_args *a, int b, size_t j, float thresh,
                                uint64_t *key, float *rec)
{
    const size_t hw = (size_t)a->w * (size_t)a->h;
    const size_t cell = j / (size_t)a->n, anchor = j % (size_t)a->n;
    const float *e = out + (size_t)b * a->size + anchor * hw * (size_t)(a->classes + 5) + cell;
    const int row = (int)(cell / (size_t)a->w), col = (int)(cell % (size_t)a->w);
    const float obj = e[4 * hw];
    const float aw = a->anchors[2 * anchor], ah = a->anchors[2 * anchor + 1];

    rec[0] = (col + e[0]) / a->w;
    rec[1] = (row + e[hw]) / a->h;
    if (a->new_coords) {
        rec[2] = e[2 * hw] * e[2 * hw] * 4 * aw / a->net_w;
        rec[3] = e[3 * hw] * e[3 * hw] * 4 * ah / a->net_h;
    } else {
        rec[2] = expf(e[2 * hw]) * aw / a->net_w;
        rec[3] = expf(e[3 * hw]) * ah / a->net_h;
    }
    rec[4] = obj;
    for (int c = 0; c < a->classes; c++) {
        float p = obj * e[(size_t)(5 + c) * hw];

        rec[5 + c] = p > thresh ? p : 0;
    }
    *key = (uint64_t)a->ordinal << 32 | (uint64_t)cell << 6 | (uint64_t)anchor;
}

#endif /* VGK_KERNELS_H */
