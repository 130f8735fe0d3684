/*
 * backends/cpu/q8_first.h: an int8 network's first convolution, the one
 * that reads the image, in u8 x s8 (AVX-512 VNNI vpdpbusd).
 *
 * The image arrives as darknet gives it, floats in [0, 1] that are 8-bit
 * pixels / 255 (or a bilinear mix of them: the letterbox), so u8 = round(x
 * * 255) keeps it to within the 8 bits it came in with, zero point 0, and
 * the zero padding stays exact. Each pixel's channels (up to 4) are one
 * 4-byte group, the operand layout of vpdpbusd: a tap of 16 output
 * positions is one 64-byte read of a converted row, with no im2col, and
 * its weights one broadcast 4-byte group per filter:
 *   acc[m][x] = sum_{ky,kx} sum_c u8[y*s + ky][x*s + kx][c] * w[m][c][ky][kx]
 *   y[m][x]   = act(acc[m][x] * wscale[m] / 255 + bias[m])
 * with w the weights quantized per filter (symmetric, at load) to 15 bits,
 * |w| <= VGC_Q8_FIRST_WMAX, as two s8 halves w = 128 hi + lo: each tap
 * runs twice, the high halves' sum shifted by 7 before the low halves are
 * added (the same int32). 8-bit weights alone put 0.9 % (rms) of error on
 * the layer's outputs (27 terms an output): yoloface-50k's output error
 * went from 0.40 % to 0.73 % and a detection of
 * tests/cpu/test_int8_accuracy.py moved past its 0.05 rule; with 15 bits
 * the layer is 0.007 % off fp32 on pixels / 255 and 0.3 % on uniformly
 * random floats (the input's rounding, at most half a step), and that
 * output error 0.42 % (0.40 % with the layer fp32).
 *
 * With the 2x2 stride-2 maxpool after it (yolov3-tiny's first pair), the
 * pool takes the largest accumulator of each window before the one
 * epilogue of it: the epilogue is non-decreasing in acc (wscale >= 0;
 * leaky, relu or linear), so that is the same float as pooling the outputs.
 *
 * Which layer: the first of a cfg network, 1 to 4 input channels, 3x3 with
 * pad 1, stride 1 or 2, one group, leaky, relu or linear (every shipped
 * model's, and yolov3-tiny's). In fp32 it was yolov3-tiny's largest layer
 * in an int8 frame (1.5 ms, 11 %): 27 terms an output, too few for the
 * packed GEMM's im2col to pay (q8.c's q8_min_channels).
 */
#ifndef VGC_Q8_FIRST_H
#define VGC_Q8_FIRST_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* The largest |weight| (15 bits: 128 x 127 for the high half, the low half within +-64). */
#define VGC_Q8_FIRST_WMAX (128 * 127)
/*
 * The row kernels' weights (vgc_q8_first_row.w): blocks of 16 filters, in
 * a block each pass's 9 taps of 16 int32, filter m's 4 bytes of pass p at
 * tap t at index vgc_q8_first_at; vgc_q8_first_words of them for m filters.
 */
static inline size_t vgc_q8_first_at(int m, int passes, int p, int t)
{
    return ((size_t)m / 16 * (size_t)passes + (size_t)p) * 144 + (size_t)t * 16 + (size_t)m % 16;
}

static inline size_t vgc_q8_first_words(int m, int passes)
{
    return ((size_t)m + 15) / 16 * (size_t)passes * 144;
}

/* Zero dwords a converted row has past its right pad (the kernels' vector reads past ow end in them). */
#define VGC_Q8_FIRST_SLACK 64

/*
 * One output row (or one pooled row) of the first layer, what a kernel
 * computes. r[i] is padded input row y*stride - 1 + i (pool: rows of
 * output rows y and y + 1, 4 of them), each a converted row: dword p the
 * pixel of padded column p (0 and w + 1: the padding, 0), then
 * VGC_Q8_FIRST_SLACK zero dwords.
 */
typedef struct vgc_q8_first_row {
    const uint32_t *r[4];
    /*
     * Passes over the taps: the first layer's 2, the weights' high and
     * low halves over the same rows (shift 1: the sums shifted by 7
     * between them, rg 0); an int8 layer's (q8.c's px4 form) one a group of 4
     * input channels, group g's rows at r[i] + g*rg (shift 0).
     */
    int passes, shift;
    size_t rg;
    const int32_t *w;         /* vgc_q8_first_at's layout (the first layer's passes: its weights' high,
                                 low halves) */
    const int32_t *comp;      /* one a filter, subtracted from its sums (the input's zero point), or NULL */
    const float *scale;       /* one a filter: wscale / 255 for the first layer */
    const float *bias;        /* one a filter */
    enum vgc_act act;         /* leaky, relu or linear */
    int m;                    /* filters (the weights past m in their block of 16 are 0) */
    int ow;                   /* output columns (pool: before the pool, even) */
    int stride;               /* 1 or 2 */
    int pool;                 /* 1: the 2x2 stride-2 maxpool of rows y and y + 1 (stride 1) */
    float *out;               /* filter m's row at out + m*plane: ow floats, or ow/2 with pool */
    size_t plane;
    int32_t *acc;             /* pool: 16 x round_up(ow, 32) int32 of scratch */
    float *range;             /* widened to the outputs' least and largest (q8.h's vgc_q8_net.known) */
} vgc_q8_first_row;

typedef struct vgc_q8_first_kernels {
    const char *name;
    /* One image row: c planes of w floats (channel i's at x + i*plane) into a converted row at dst. */
    void (*convert)(const float *x, size_t plane, int c, int w, uint32_t *dst);
    void (*row)(const vgc_q8_first_row *a);
} vgc_q8_first_kernels;

/* Scalar C (the reference; what a "ref" int8 network runs) and AVX-512 VNNI (q8_first512.c). */
VGC_HIDDEN extern const vgc_q8_first_kernels vgc_q8_first_ref;
VGC_HIDDEN extern const vgc_q8_first_kernels vgc_q8_first_vnni;

/* A first layer's int8 form (owned by the layer). */
typedef struct vgc_q8_first {
    const vgc_q8_first_kernels *k;
    int32_t *w;               /* 9 x mp */
    float *scale, *bias;      /* mp each */
    int m, mp;
} vgc_q8_first;

/*
 * Whether cfg layer l (the first) qualifies (above), and its int8 form
 * from its float weights with kernels k (0: it does not qualify, l stays
 * fp32; -1: out of memory). l->pool_fused says whether the maxpool after
 * it runs inside it: then only a 2x2 stride-2 pool of an even output
 * qualifies.
 */
VGC_HIDDEN int vgc_q8_first_make(const vgc_net *net, vgc_layer *l, const vgc_q8_first_kernels *k);
VGC_HIDDEN void vgc_q8_first_free(vgc_q8_first *f);

/* Rows a task takes (l->chunk) and the floats of per-thread scratch it needs (vgc_layer_plan). */
VGC_HIDDEN size_t vgc_q8_first_plan(const vgc_net *net, vgc_layer *l);

/*
 * Output rows [y0, y1) of image b (pool: the rows before the pool, y0
 * even) from `in` into l->out, or with l->pool_fused into the pool's
 * output, or with quant->q set into an int8 layer's u8 planes
 * (vgc_conv_quant, as conv_pool2 writes them). scratch: the thread's
 * vgc_q8_first_plan floats. range[0..1] widened to the outputs' least and
 * largest.
 */
VGC_HIDDEN void vgc_q8_first_rows(const vgc_layer *l, const float *in, int b, int y0, int y1,
                                  const vgc_conv_quant *quant, float *scratch, float range[2]);

#endif
