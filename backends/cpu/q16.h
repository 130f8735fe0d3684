/*
 * backends/cpu/q16.h: 1x1 convolutions in 16-bit integers beside int8.
 *
 * In an int8 network, the 1x1 convolutions the int8 rules keep fp32 for
 * accuracy (q8.c: linear projections, layers of fewer than 64 input
 * channels; on yolo-fastest's inverted residual blocks the expansions and
 * projections around every depthwise layer) run as a GEMM of s16 x s16
 * products summed in int32 (AVX-512 VNNI vpdpwssd: 32 products a zmm
 * where an FMA makes 16):
 *   acc[m][n] = sum_k a[m][k] * b[k][n]
 *   y[m][n]   = act(acc[m][n] * xscale * wscale[m] + bias[m])
 * a: the weights per output channel, symmetric, |a| <= VGC_Q16_WMAX
 * (12 bits and a sign, at load); b: the input, symmetric, one scale per
 * block of Q16_BLOCK columns (positions) of an image (blocks fixed by the
 * image, not by the threads: the result does not depend on how many run
 * it), |b| <= the layer's xmax, chosen at load so that no sum can leave
 * int32 (sum_k |a[m][k]| * xmax < 2^31 for every m). A block's passes
 * (its largest |x|, the pack) run while it is in L1/L2: one scale for a
 * whole 160x160 input read it twice from L3, and the passes cost more than
 * the GEMM saved on layers of 8 or 16 filters. 8-bit activations lost detections in
 * those layers (docs/engine.md, "Static depthwise ranges and int8
 * blocks"); at these widths the rounding is a few parts in 10^4.
 *
 * Layouts: q8.h's vgc_q8_gemm with 2-byte elements, as its bf16 form:
 * a is s16 mp x kp (kp even, mp past m by 8 to 15 rows, zero padded), b holds
 * kp/2 groups of 2 s16 per column (4 bytes; the vpdpwssd operand layout),
 * comp is 0. A 1x1 layer's input needs no im2col: b is the input itself,
 * two rows interleaved, quantized in the same pass (the kernels' pack).
 */
#ifndef VGC_Q16_H
#define VGC_Q16_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "q8.h"

/* The largest |weight|: 12 bits and a sign, so that activations keep about as many (q16.c's xmax:
   3252 to 32767 on the shipped models' layers). */
#define VGC_Q16_WMAX 4095

/*
 * A fed layer's (below) bits the other way round: its input has a scale
 * per channel, so 12 bits and a sign keep each channel as well as
 * VGC_Q16_WMAX keeps a weight, while its folded weights span the channels'
 * ranges (a channel of small numbers next to one of large ones): 15 bits.
 */
#define VGC_Q16_FED_XMAX 4095
#define VGC_Q16_FED_WMAX 32767

/* Columns (output positions) that share an input scale. */
#define Q16_BLOCK 1024

/* One layer's 16-bit form (owned by the layer). */
typedef struct vgc_q16_layer {
    int16_t *a;               /* mp x kp, 64-byte aligned */
    int m, k, kp, mp;
    float *wscale;            /* m */
    int xmax;                 /* the largest |b| (see above) */
    /*
     * Fed by the depthwise layer before it (vgc_q16_feeds): that layer
     * quantizes each output channel k while it is in L1/L2, with its own
     * scale s[k] (its largest |x| over VGC_Q16_FED_XMAX), straight into this layer's
     * packed input; the run folds s into the weights (w[m][k] * s[k],
     * quantized again per output channel, vgc_q16_fold) instead of
     * two passes over a float input (its largest |x|, the pack).
     */
    int fed;
    float *wf;                /* fed: the float weights, m x k row-major */
} vgc_q16_layer;

/*
 * Quantize b: k rows of n floats (row r at x + r*ldx) into kp/2 groups of
 * ldb columns (4 bytes a column: rows 2g and 2g + 1; a missing last row
 * 0): round(x * inv) clamped to +-xmax (round to nearest even, as
 * cvtps2dq does). q16.c gives inv = xmax / the largest |x| of the same
 * numbers, so nothing reaches past xmax: the AVX-512 pack leaves out the
 * clamp.
 */
typedef void (*vgc_q16_pack_fn)(const float *x, size_t ldx, int k, int n, float inv, int xmax, uint8_t *b,
                                int ldb);
/* The largest |x| of k rows of n floats (row r at x + r*ldx). */
typedef float (*vgc_q16_amax_fn)(const float *x, size_t ldx, int k, int n);

/*
 * One row of n floats into half of n columns of a packed input (4 bytes a
 * column: the low s16 for hi 0, the high for hi 1; the other half left as
 * it is), round(x * inv) as pack, unclamped (inv from the row's own |x|);
 * and two rows, each with its own inv, into whole columns (pair).
 */
typedef void (*vgc_q16_half_fn)(const float *x, int n, float inv, uint8_t *b, int hi);
typedef void (*vgc_q16_pair_fn)(const float *x0, const float *x1, int n, float inv0, float inv1, uint8_t *b);
/*
 * A fed layer's weights for one image, a row at a time (vgc_q16_fold): the
 * largest |w[j] * s[j]| of k, and round(w[j] * s[j] * inv) (nearest even;
 * |w[j] * s[j] * inv| <= VGC_Q16_FED_WMAX + 0.5 by inv, so unclamped) into d,
 * returning the sum of the |d[j]|. Each product and each rounding as the
 * scalar form does it: the same weights from every kernel.
 */
typedef float (*vgc_q16_rowmax_fn)(const float *w, const float *s, int k);
typedef long long (*vgc_q16_rowq_fn)(const float *w, const float *s, int k, float inv, int16_t *d);

typedef struct vgc_q16_kernels {
    const char *name;         /* "vnni", "ref" */
    void (*gemm)(const vgc_q8_gemm *g);
    vgc_q16_pack_fn pack;
    vgc_q16_amax_fn amax;
    vgc_q16_half_fn half;
    vgc_q16_pair_fn pair;
    vgc_q16_rowmax_fn rowmax;
    vgc_q16_rowq_fn rowq;
} vgc_q16_kernels;

/* Scalar (every machine: the reference, tests) and AVX-512 VNNI (q16_vnni.c). */
VGC_HIDDEN extern const vgc_q16_kernels vgc_q16_ref;
VGC_HIDDEN extern const vgc_q16_kernels vgc_q16_vnni;

/* The net-wide state: kernels and buffers. */
typedef struct vgc_q16_net {
    const vgc_q16_kernels *k;
    int layers;               /* convolutions in s16 */
    int max_m;
    uint8_t *fb;              /* a fused expansion's packed input, max_batch images of fb_bytes */
    size_t fb_bytes;
    float *fscale;            /* its blocks' scales of each filter (max_batch x max_blocks x max_m) */
    int max_blocks;
    uint8_t *tb;              /* per thread: a block's packed input (tb_bytes) */
    size_t tb_bytes;
    float *tscale;            /* per thread: its scales (max_m) */
    int32_t *zero;            /* max_m zeros: comp */
    vgc_q16_layer **own;      /* layers of convolutions outside net->layers (vgc_q16_attach) */
    int nown;
    /* fed layers (vgc_q16_layer.fed) */
    uint8_t *pb;              /* a fed layer's packed input, max_batch images of pb_bytes */
    size_t pb_bytes;
    float *ps;                /* its input channels' scales, max_batch images of max_k */
    int max_k;
    int16_t *fa;              /* its folded weights (fa_elems) */
    size_t fa_elems;
    float *fws;               /* their scales (max_m) */
    float *tp;                /* per thread: two depthwise output planes on their way in (tp_floats each) */
    size_t tp_floats;
} vgc_q16_net;

/*
 * After vgc_q8_prepare: give the 1x1 convolutions that int8 leaves fp32 a
 * 16-bit form (an int8 network whose kernels are VNNI or AMX: the CPU has
 * AVX-512 VNNI; want < 0: none; want > 0: also with the scalar kernels,
 * for tests) and size the buffers; feed: which are fed (vgc_options.q16_feed).
 * 0, or VIGIA_ENOMEM.
 */
VGC_HIDDEN int vgc_q16_prepare(vgc_net *net, int want, int feed, char *err, size_t errlen);

/*
 * Convolutions built outside a cfg network (the ONNX executor's, on its
 * context net): after vgc_q8_attach left convolution l fp32, give it the
 * 16-bit form when it qualifies (1: it now runs s16 through
 * vgc_conv_forward; 0: fp32); vgc_q16_finish sizes the buffers. The
 * layers' forms belong to ctx: vgc_q16_release frees them.
 */
VGC_HIDDEN int vgc_q16_attach(vgc_net *ctx, int want, vgc_layer *l, char *err, size_t errlen);
VGC_HIDDEN int vgc_q16_finish(vgc_net *ctx, char *err, size_t errlen);

/* Free the net's and every layer's 16-bit state. */
VGC_HIDDEN void vgc_q16_release(vgc_net *net);

/* Layer l on batch images at in, into l->out: a block of Q16_BLOCK columns a task. */
VGC_HIDDEN void vgc_q16_conv_forward(vgc_net *net, const vgc_layer *l, const float *in, int batch);

/*
 * A 1x1 layer e whose depthwise layer runs it a group of channels at a
 * time (expand_fused): pack its whole input (batch images at in) once,
 * then vgc_q16_rows computes filters [c0, c1) of image b into dst
 * (planes of e's w x h, one after the other), as the fp32 GEMM would,
 * and (range not NULL) each one's least and largest value (and 0) into
 * range (vgc_q8_gemm.range: VGC_Q8_RANGE floats a filter from c0 on).
 */
VGC_HIDDEN void vgc_q16_pack_fused(vgc_net *net, const vgc_layer *e, const float *in, int batch);
VGC_HIDDEN void vgc_q16_rows(const vgc_net *net, const vgc_layer *e, int b, int c0, int c1, float *dst,
                             float *range);
/*
 * The same pack, of the blocks wholly inside columns [n0, n1) of image b
 * (in: that image's input) alone: a convolution that packs the layer
 * after it (vgc_layer.packs_next) packs each band of rows it writes.
 */
VGC_HIDDEN void vgc_q16_pack_span(const vgc_net *net, const vgc_layer *e, const float *in, int b, int n0, int n1);

/*
 * A fed layer's weights for one image: row r's w[r][j] * s[j] (wf m x k, s
 * k), quantized per row to |a| <= VGC_Q16_FED_WMAX and, so that no int32 sum of
 * products with |b| <= xmax can overflow, to sum_j |a[r][j]| <= INT_MAX /
 * xmax (INT_MAX / xmax > 2k: xmax VGC_Q16_FED_XMAX), into a (m rows of kp; column k zero when kp
 * > k) and wscale (m; 1 for a row of zeros). The same from every kernel.
 */
VGC_HIDDEN void vgc_q16_fold(const vgc_q16_kernels *kern, const float *wf, const float *s, int m, int k, int kp,
                             int xmax, int16_t *a, float *wscale);

/*
 * Depthwise layer d of a cfg network, in a forward: the fed layer it
 * writes (the 1x1 layer after it, the only reader of its output, running
 * s16 now: not int8, not calibrating), or NULL. Then a task of d that
 * computes output channels [c0, c1) of image b, in order, writes each
 * channel c into vgc_q16_feed_plane(thread, c) (w x h of its output, one
 * after the other) and hands it to vgc_q16_feed, instead of writing its
 * output: an even channel waits for the odd one after it, and the two go
 * into the packed input as whole columns (one store a line; a channel
 * alone, at either end of a task, is written into its half).
 */
VGC_HIDDEN const vgc_layer *vgc_q16_feeds(const vgc_net *net, const vgc_layer *d);
VGC_HIDDEN float *vgc_q16_feed_plane(const vgc_net *net, int thread, int c);
VGC_HIDDEN void vgc_q16_feed(const vgc_net *net, const vgc_layer *p, int b, int c, int c0, int c1, int thread);

/*
 * Or, where the depthwise layer knows before computing channel c that its
 * outputs lie within +-bound (an int8 one: from its input's range and its
 * weights), it writes them as s16 straight into p's packed input: the
 * column it writes (q8.h's out16: every other s16 from there) and, in
 * *inv, the inverse of the scale (bound over VGC_Q16_FED_XMAX, kept for
 * the fold) it quantizes with.
 */
VGC_HIDDEN int16_t *vgc_q16_feed_direct(const vgc_net *net, const vgc_layer *p, int b, int c, float bound,
                                         float *inv);

#endif /* VGC_Q16_H */
