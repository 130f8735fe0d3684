/*
 * backends/cpu/q8.h: int8 convolutions of the CPU engine.
 *
 * A convolution runs in int8 as one GEMM per band of output positions:
 *   acc[m][n] = sum_k a[m][k] * b[k][n]            (int32)
 *   y[m][n]   = act((acc[m][n] - comp[m]) * scale[m] + bias[m])   (float)
 * with a the layer's weights quantized per output channel (symmetric, s8,
 * done once at load: w = a * wscale[m]) and b the input activations
 * quantized per tensor (asymmetric, u8: x = (b - zp) * xscale; zp makes the
 * zero padding exact). Then comp[m] = zp * sum_k a[m][k] and
 * scale[m] = xscale * wscale[m]: dequantization, bias and activation are
 * one pass over the accumulators, while they are in registers.
 *
 * Layouts (the same for every kernel, so that one packing serves all):
 *   a: s8, mp x kp row-major (row m at a + m*kp), kp a multiple of 64
 *      for AMX (a tile row), of 4 for the others, and mp of 32; padding
 *      rows and columns are zero.
 *   b: u8, kp/4 groups of 4 consecutive k, each group ldb columns of 4
 *      bytes: b[k][n] at b[((k/4)*ldb + n)*4 + k%4]; ldb a multiple of 32
 *      and every byte of the kp/4 x ldb x 4 block readable.
 * That is the VNNI operand layout (vpdpbusd takes 4 u8 x 4 s8 per int32
 * lane) and the AMX one (a B tile is 16 such rows of 16 columns). A direct
 * convolution (vgc_q8_gemm's taps) reads b in that layout straight from
 * the layer's input planes instead of a packed band.
 *
 * Kernels: a scalar reference (every machine), AVX2 (vpmaddubsw, which
 * saturates pairs at int16: weights are then limited to +-63, "7-bit", as
 * oneDNN does without VNNI), AVX-512 VNNI (vpdpbusd) and AMX (tdpbsud on
 * 16x64 tiles). The choice is made at load, after the worker asked the
 * kernel for the AMX tile state (arch_prctl), which Linux refuses unless
 * asked.
 */
#ifndef VGC_Q8_H
#define VGC_Q8_H

#include <stddef.h>
#include <stdint.h>

#include "internal.h"

enum vgc_q8_kind {
    VGC_Q8_REF = 0,           /* int8: scalar C */
    VGC_Q8_AVX2 = 1,          /* int8: vpmaddubsw + vpmaddwd, 7-bit weights */
    VGC_Q8_VNNI = 2,          /* int8: AVX-512 VNNI vpdpbusd */
    VGC_Q8_AMX = 3,           /* int8: AMX-INT8 tiles */
    VGC_BF16_REF = 4,         /* bf16: scalar C (tests; never chosen to run a model) */
    VGC_BF16_AVX512 = 5,      /* bf16: AVX-512 BF16 vdpbf16ps */
    VGC_BF16_AMX = 6,         /* bf16: AMX-BF16 tiles */
    VGC_Q8_KINDS
};

/* One GEMM with its fused epilogue (see the top of this file). */
typedef struct vgc_q8_gemm {
    const int8_t *a;          /* mp x kp weights */
    int m;                    /* rows computed and written, <= mp */
    int kp;                   /* multiple of 64 (AMX) or 4 */
    const uint8_t *b;         /* kp/4 x ldb x 4 activations */
    int ldb;                  /* multiple of 32 */
    int n;                    /* columns computed and written, <= ldb */
    float *c;                 /* output: row m at c + m*ldc */
    size_t ldc;
    const float *scale;       /* m: xscale * wscale[m] */
    const int32_t *comp;      /* m: zp * sum_k a[m][k] */
    const float *bias;        /* m */
    enum vgc_act act;         /* linear or leaky here; others through vgc_act_scalar */
    /*
     * Feeding the next int8 layer, with a kernel that has u8out: y is not
     * written to c but quantized into q (row m at q + m*ldq) with that
     * layer's scale, as q8.c's quantize pass does it (u8 = clamp(trunc(
     * y * qinv[m] + qzp[m]), 0, 255), a rounded product then a rounded sum,
     * never an fma: the same bytes). NULL: float into c.
     */
    uint8_t *q;
    size_t ldq;
    const float *qinv;        /* m */
    const float *qzp;         /* m: the zero point + 0.5 */
    /*
     * A direct convolution (taps > 0, kernels with `direct`): b is not a
     * packed band but the layer's input in channel-blocked planes (q8.c's
     * "c4" form: the padded planes of 4 channels interleaved, group g at
     * b + g*gs, a column's 4 bytes at + n*4), and k runs tap-major over
     * taps of cp = kp / taps channels, k = t*cp + c: row k's group is at
     * b + vgc_q8_toff(t) + (c/4)*gs, tap t (row t / tw, column t % tw of
     * the kernel) being the input shifted by that many bytes, trow bytes a
     * row of taps. cp is a multiple of 4 (AMX: of 64, or below 64). taps =
     * 0: the packed b above (one tap, cp = kp, gs = ldb*4).
     */
    int taps;
    int tw;
    size_t trow;
    size_t gs;
    /*
     * Or NULL: each output row's values (after the activation) folded into
     * its running minimum and maximum, row m's 16 lanes of each at range +
     * m*VGC_Q8_RANGE and + 16 (any lane may hold any column: the caller
     * takes the least and the largest of the 16). The s16 GEMM's (q16.h):
     * an expansion's output is its depthwise layer's input, whose per
     * channel range then needs no pass of its own.
     */
    float *range;
} vgc_q8_gemm;

/* Floats of a row's running range in vgc_q8_gemm.range: 16 minima, then 16 maxima. */
#define VGC_Q8_RANGE 32

/* The least and the largest of a row's running range (VGC_Q8_RANGE floats at r). */
VGC_HIDDEN void vgc_q8_range_of(const float *r, float *lo, float *hi);

/* The walk over b's groups of 4 k of the kernels with the direct form: taps of cp k, gs bytes a group. */
static inline void vgc_q8_walk(const vgc_q8_gemm *g, int *taps, int *cp, size_t *gs)
{
    *taps = g->taps ? g->taps : 1;
    *cp = g->kp / *taps;
    *gs = g->taps ? g->gs : (size_t)g->ldb * 4;
}

/* The byte offset of tap t in b (0 for the packed form). */
static inline size_t vgc_q8_toff(const vgc_q8_gemm *g, int t)
{
    return g->taps ? (size_t)(t / g->tw) * g->trow + (size_t)(t % g->tw) * 4 : 0;
}

/*
 * One channel of an int8 depthwise convolution (q8_ref.c, q8_dw512.c):
 *   acc[oy][ox] = sum_{ky,kx} k[ky*size + kx] * in[(oy*stride + ky)*ldi + ox*stride + kx]
 *   y = act((acc - comp) * scale + bias)
 * in is the channel's zero-point padded plane (the padding is part of it),
 * k its weights as s16 (VGC_Q8_DW_WMAX: with 9 or 25 taps, s8 weights
 * were the error that mattered: yolo-fastest-1.1's recall fell to 0.94
 * from them alone; u8 x s16 products are what vpdpwssd sums), and y goes
 * to out (float) or, feeding the next int8
 * layer (u8 between int8 layers), to qout quantized as q8.c's quantize
 * pass does: u8 = clamp(trunc(y * qinv + qzp), 0, 255), qzp = zp + 0.5.
 */
typedef struct vgc_q8_dw {
    const uint8_t *in;        /* row r at in + r*ldi; ldi >= (ow-1)*stride + size; 32 bytes readable
                                 past the last byte the last row needs (avx2 reads whole 16-byte runs) */
    const int16_t *in16;      /* or (vgc_q8_dw16_512, and the reference when it is set) the same values
                                 as s16, row r at in16 + r*ldi; a row of ldi readable after the last */
    size_t ldi;
    const int16_t *k;         /* size x size, |k| <= VGC_Q8_DW_WMAX */
    int size, stride;         /* size <= 8 and stride <= 3 for the SIMD kernels */
    int ow, oh;
    int32_t comp;             /* zp * sum(k) */
    float scale, bias;        /* xscale * wscale, bias */
    enum vgc_act act;
    float *out;               /* float output: row oy at out + oy*ldo; NULL when qout */
    size_t ldo;
    uint8_t *qout;            /* u8 output: row oy at qout + oy*ldq */
    size_t ldq;
    float qinv, qzp;
    /*
     * Or s16 output, NULL when out or qout is set: an s16 layer's packed
     * input (q16.h), output (oy, ox) at out16[2 * (oy*ow + ox)], every
     * other s16 (the column's other channel between them, left alone):
     * lrintf(y * inv16) clamped to +-max16.
     */
    int16_t *out16;
    float inv16;
    int max16;
} vgc_q8_dw;

typedef void (*vgc_q8_dw_fn)(const vgc_q8_dw *d);

/* The largest |weight| of a depthwise layer: 255 x 32767 x 64 taps stays within int32. */
#define VGC_Q8_DW_WMAX 32767

typedef struct vgc_q8_kernels {
    int kind;                 /* enum vgc_q8_kind */
    const char *name;         /* "ref", "avx2", "vnni", "amx", "bf16_ref", "avx512_bf16", "amx_bf16" */
    int wmax;                 /* int8: largest |weight| the kernel takes exactly: 127, or 63 (avx2) */
    int bf16;                 /* 1: the bf16 form (below) */
    void (*gemm)(const vgc_q8_gemm *g);
    int u8out;                /* 1: gemm writes u8 into g->q when it is set (else q must be NULL) */
    int direct;               /* 1: gemm takes a direct convolution (vgc_q8_gemm's taps: ref, amx) */
} vgc_q8_kernels;

/* The scalar depthwise channel (q8_ref.c): the reference, and what REF runs. */
VGC_HIDDEN void vgc_q8_dw_ref(const vgc_q8_dw *d);
/* AVX-512 VBMI + VNNI (q8_dw512.c): vpermb gathers each output's taps in pairs, vpdpwssd sums them. */
VGC_HIDDEN void vgc_q8_dw_vbmi(const vgc_q8_dw *d);
/* AVX-512 VNNI on s16 input (q8_dw16.c): no byte gathers; stride 1 (others: the reference). */
VGC_HIDDEN void vgc_q8_dw16_512(const vgc_q8_dw *d);
/* AVX2 (q8_dw256.c): vpmaddwd on pairs of taps; strides 1 and 2 (others: the reference). */
VGC_HIDDEN void vgc_q8_dw_avx2(const vgc_q8_dw *d);
/*
 * AVX-512 forms of q8.c's passes over a float input (q8_quant512.c): u8 =
 * clamp(trunc(x * inv + zp), 0, 255) with zp the zero point + 0.5, the same
 * bytes as the SSE2 form; and min(0, x) and max(0, x).
 */
VGC_HIDDEN void vgc_q8_quantize512(const float *x, size_t n, float inv, float zp, uint8_t *q);
/* A plane of h rows of w floats into its padded form (w + 2 pad <= 64; row r at q + r * (w + 2 pad), zpb around). */
VGC_HIDDEN void vgc_q8_quantize_plane512(const float *x, int w, int h, int pad, float inv, float zp, uint8_t zpb,
                                         uint8_t *q);
/* The same with the u8 values held as s16 (the s16-input depthwise kernel's), rows of w <= 4096 floats. */
VGC_HIDDEN void vgc_q8_quantize_plane16_512(const float *x, int w, int h, int pad, float inv, float zp, int16_t zpw,
                                            int16_t *q);
VGC_HIDDEN void vgc_q8_span512(const float *x, size_t n, float *lo, float *hi);
/* Packing on AVX-512: 4 rows of n bytes into n groups of 4 bytes, 64 columns a step (the last masked). */
VGC_HIDDEN void vgc_q8_interleave4_512(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, const uint8_t *r3,
                                       int n, uint8_t *dst);
/*
 * The depthwise kernel that goes with GEMM kernels k on this CPU, or NULL
 * (depthwise layers then stay fp32; the reason in why): the reference with
 * the reference, AVX-512 VBMI + VNNI with vnni and amx (AVX2 where the CPU
 * lacks VBMI), AVX2 with avx2, none with bf16.
 */
VGC_HIDDEN vgc_q8_dw_fn vgc_q8_dw_pick(const vgc_q8_kernels *k, char *why, size_t whylen);

/*
 * The bf16 form uses the same layouts and the same vgc_q8_gemm with 2-byte
 * elements: a is bf16 (uint16) mp x kp, b holds kp/2 groups of 2 bf16 per
 * column (4 bytes, as int8's 4 u8: the AVX-512 BF16 and AMX-BF16 operand
 * layout), the accumulators are float, comp is unused and scale is 1:
 * y = act(acc + bias).
 */
VGC_HIDDEN extern const vgc_q8_kernels vgc_q8_ref;
VGC_HIDDEN extern const vgc_q8_kernels vgc_q8_avx2;
VGC_HIDDEN extern const vgc_q8_kernels vgc_q8_vnni;
VGC_HIDDEN extern const vgc_q8_kernels vgc_q8_amx;
VGC_HIDDEN extern const vgc_q8_kernels vgc_bf16_ref;
VGC_HIDDEN extern const vgc_q8_kernels vgc_bf16_avx512;
VGC_HIDDEN extern const vgc_q8_kernels vgc_bf16_amx;

/*
 * Whether the AVX-512 BF16 GEMM can be faster than fp32 here: vdpbf16ps
 * (32 products a zmm) timed against the float FMA (16) on registers alone,
 * once a process (about 0.6 ms). On an Emerald Rapids Xeon it makes 0.50x
 * the FMA's products a second (its issue rate is half the FMA's), so bf16
 * there took 1.43x to 2.63x fp32's time; where it makes more (a unit that
 * issues it at the FMA's rate), bf16 runs. 1, or 0 and why (for the
 * precision note).
 */
VGC_HIDDEN int vgc_bf16_avx512_pays(char *why, size_t whylen);
#if defined(__x86_64__)
/* the timed loops (peak.h), also bench/engines/q8_peak's: iters x 16 instructions */
VGC_HIDDEN void vgc_peak_fma(long iters, int32_t *sink);
VGC_HIDDEN void vgc_peak_bf16(long iters, int32_t *sink);
#endif

/* float to bf16, rounding to nearest even (finite inputs), and back */
static inline uint16_t vgc_bf16_from(float x)
{
    uint32_t u;

    __builtin_memcpy(&u, &x, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static inline float vgc_bf16_to(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;

    __builtin_memcpy(&x, &u, 4);
    return x;
}

/*
 * Whether the CPU (and, for AMX, the kernel) lets kernel `kind` run here:
 * 1, or 0 with the reason in why. Asking for AMX makes the arch_prctl
 * request for this process (once).
 */
VGC_HIDDEN int vgc_q8_usable(int kind, char *why, size_t whylen);

/*
 * The kernels of `kind`, or the best usable between `lowest` and `kind`
 * (the reason for the first step down in why); NULL when none is.
 */
VGC_HIDDEN const vgc_q8_kernels *vgc_q8_pick(int kind, int lowest, char *why, size_t whylen);

/* One layer's int8 form (owned by the layer, made by vgc_q8_prepare). */
typedef struct vgc_q8_layer {
    const vgc_q8_kernels *kern; /* the kernels it runs with: the net's, or (an int8 net's heads) q8_wide */
    int8_t *a;                /* mp x kp elements (int8, or bf16 as uint16), 64-byte aligned */
    int m, k, kp, mp;
    float *wscale;            /* m: the weight scale of each filter (bf16: 1) */
    int32_t *wsum;            /* m: sum of each row of a (bf16: 0) */
    float xmin, xmax;         /* calibrated input range; xmin == xmax: dynamic */
    int slot;                 /* its range's index in calibration and the cache: the layer's
                                 index in a cfg network, net->n + k for the k-th attached one */
    int feed;                 /* static ranges (vgc_q8_plan): 0 its output is float; 1 quantized
                                 straight into layer slot+1's input planes; 2 quantized, then a
                                 u8 maxpool (layer slot+1) into layer slot+2's */
    int fed;                  /* its input arrives quantized from a feeding layer (no quantize pass) */
    int pool2;                /* the 2x2 stride-2 maxpool after it runs in its bands where its output
                                 is float (q8.c's pools_in_band; the layer's pool_fused) */
    int dw;                   /* a depthwise layer: a holds m x size*size s16 weights (kp = k), no GEMM */
    int needstatic;           /* runs int8 only with a static input range (else fp32 on its float
                                 weights, kept): a 1x1 layer of a depthwise block (q8.c's block_layer) */
    float *cr;                /* depthwise: 2 floats an input channel (min, max): its static range when
                                 crs; while calibrating, the union of the channel's ranges so far */
    int crs;                  /* depthwise: cr holds static ranges (a depthwise layer's only static form:
                                 one range per tensor is too coarse for it, docs/engine.md) */
    int ncr;                  /* input channels cr has ranges for: a depthwise layer's, a block 1x1
                                 layer's (needstatic); 0: no cr */
    int32_t *fcomp;           /* a block 1x1 layer with crs: each input channel's scale is folded into
                                 a and wscale (vgc_q8_fold), comp[m] = sum_k a[m][k] zp[k]; else NULL */
    int32_t *px4w;            /* the px4 form's weights (q8.c's px4_layer; q8_first.h's row layout, a pass
                                 a group of 4 input channels), or NULL: the GEMM */
    int taps;                 /* a direct convolution (vgc_q8_gemm): size^2 taps of kp / taps
                                 channels, a's rows tap-major (vgc_q8_col); 0: packed */
} vgc_q8_layer;

/* Where weight k (darknet's order: channel-major, then ky, kx) is in a row of q's a. */
static inline size_t vgc_q8_col(const vgc_q8_layer *q, int k)
{
    return q->taps ? (size_t)(k % q->taps) * (size_t)(q->kp / q->taps) + (size_t)(k / q->taps) : (size_t)k;
}

/* The net-wide int8 state: kernels and buffers sized for the largest layer. */
typedef struct vgc_q8_net {
    const vgc_q8_kernels *k;
    vgc_q8_dw_fn dw;          /* the depthwise kernel (vgc_q8_dw_pick), NULL: depthwise stays fp32 */
    vgc_q8_dw_fn dw16;        /* its s16-input form where there is one (vgc_q8_dw16_512), else NULL:
                                 what a 5x5 depthwise layer runs (q8.c's dw16_runs) unless its
                                 input arrives u8 (fed) */
    uint8_t *xq;              /* the quantized input of the layer running (one image) */
    uint8_t *xq2;             /* int8: the other one of the ping-pong pair (a fed layer's input
                                 while its feeder reads xq, and the reverse) */
    size_t xq_bytes;          /* each */
    uint8_t *pool8;           /* int8: a feeder's u8 output before the u8 maxpool (one image) */
    size_t pool8_bytes;
    int cur;                  /* which of xq (0) and xq2 (1) holds the fed layer's input */
    int fused;                /* layers whose input is fed (vgc_q8_plan) */
    int nofuse;               /* never feed (tests and benchmarks: the float path between layers) */
    uint8_t *c4;              /* a direct convolution's input, channel-blocked (one image) */
    size_t c4_bytes;
    uint8_t *band;            /* per thread: a packed b band */
    size_t band_bytes;        /* per thread */
    float *scale;             /* per layer run: m scales */
    int32_t *comp;            /* per layer run: m compensations */
    float *qinv, *qzp;        /* per layer run, feeding: m of the destination's 1 / scale, zero point + 0.5 */
    int max_m;
    size_t weight_bytes;      /* reduced weights + their scales */
    vgc_q8_layer **own;       /* layers of convolutions outside net->layers (vgc_q8_attach) */
    int nown;
    float *calib;             /* while calibrating: 2 floats a layer, the union of the
                                 inputs' own ranges (q8_calib.c); else NULL */
    /*
     * Ranges found in passing (dynamic ranges): the first layer's and a
     * pooling int8 layer's (pools_in_band) output, min(0, min) and max(0,
     * max) as the range pass computes them, so that the int8 layer reading
     * it skips that pass: known[2 * (layer * max_batch + image)], set in
     * this forward where has[layer * max_batch + image]; each thread's
     * part while a layer runs in part[2 * (thread * max_batch + image)].
     */
    float *known, *part;
    unsigned char *has;
    const struct vgc_q8_first_kernels *px4k; /* the px4 form's row kernel (q8_first.h), or NULL */
    int layers;               /* convolutions in int8 (or bf16) */
    int wide;                 /* of those, an int8 net's heads in bf16 (q8_wide) */
    int convs;                /* convolutions in all (vgc_q8_note) */
    char why[192];            /* the reason vgc_q8_note found in prec_note */
} vgc_q8_net;

/*
 * Ranges found in passing (vgc_q8_net.known): forgotten at each forward;
 * a layer's threads' parts set to 0 (0 is always inside); one thread's
 * part widened; the parts of image b made layer i's output range.
 */
VGC_HIDDEN void vgc_q8_known_reset(vgc_net *net);
VGC_HIDDEN void vgc_q8_part_start(vgc_net *net);
VGC_HIDDEN void vgc_q8_part_add(vgc_net *net, int thread, int image, float lo, float hi);
VGC_HIDDEN void vgc_q8_part_end(vgc_net *net, int i, int image);

/*
 * Quantize the eligible convolutions of a loaded network (groups 1, not
 * the first layer, not a yolo head's input) and size the buffers. Layers
 * with a calibrated range in `ranges` (2 floats per layer: min, max;
 * NULL or min == max: dynamic) use it; a depthwise layer takes a static
 * range only per channel, from `chan_ranges` (2 floats per input channel
 * of each depthwise int8 layer, in layer order, as q8_calib.h's cache
 * holds them; NULL: dynamic) when its layer range is set too. Fails only
 * with VIGIA_ENOMEM.
 */
VGC_HIDDEN int vgc_q8_prepare(vgc_net *net, const vgc_q8_kernels *k, const float *ranges,
                              const float *chan_ranges, char *err, size_t errlen);

/*
 * The precision a network will run in (opt->precision, q8_kernel,
 * q8_min_channels) and its kernels (*k NULL: fp32), the reason for any
 * step down in net->prec_note. Fails with VIGIA_EINVAL (bad options).
 */
VGC_HIDDEN int vgc_precision_choose(vgc_net *net, const vgc_options *opt, const vgc_q8_kernels **k, char *err,
                                    size_t errlen);

/*
 * Convolutions built outside a cfg network (the ONNX executor's, on its
 * context net `ctx`): vgc_q8_begin picks the precision as vgc_net_load does;
 * vgc_q8_attach then quantizes convolution l (its weights packed as
 * vgc_conv_pack_filter leaves them) when it qualifies (1: it now runs
 * through vgc_conv_forward in int8 or bf16; 0: fp32); vgc_q8_finish sizes
 * the buffers and writes ctx->prec_note ("int8 amx, 12 of 20
 * convolutions"). The q8 layers belong to ctx: vgc_q8_release frees them.
 */
VGC_HIDDEN int vgc_q8_begin(vgc_net *ctx, const vgc_options *opt, char *err, size_t errlen);
VGC_HIDDEN int vgc_q8_attach(vgc_net *ctx, vgc_layer *l, char *err, size_t errlen);
VGC_HIDDEN int vgc_q8_finish(vgc_net *ctx, int convs, char *err, size_t errlen);

/*
 * net->prec_note: what runs reduced, out of `convs` convolutions (after any
 * reason already there); convs < 0: again, after the ranges changed.
 */
VGC_HIDDEN void vgc_q8_note(vgc_net *net, int convs);

/* Whether layer i of a built network would run in int8 (before weights are loaded). */
VGC_HIDDEN int vgc_q8_eligible(const vgc_net *net, int i);

/*
 * After static channel ranges were given to layer i, a block 1x1 layer
 * (needstatic): quantize its float weights again with each input
 * channel's scale folded in (w[m][k] * xs[k], per output channel), so that
 * each input channel is quantized with its own range. 0, or -1 (memory).
 */
VGC_HIDDEN int vgc_q8_fold(vgc_net *net, int i);

/* Whether convolution l runs int8 now (its q8 form, and a static range where it needs one). */
VGC_HIDDEN int vgc_q8_runs(const vgc_net *net, const vgc_layer *l);

/* Run an int8 convolution for `batch` images (input as forward_conv's). */
VGC_HIDDEN void vgc_q8_conv_forward(vgc_net *net, const vgc_layer *l, const float *in, int batch);

/*
 * With static ranges, between int8 layers: an int8 convolution whose output
 * only the next layer reads, that layer an int8 convolution with a static
 * range too, quantizes its GEMM bands straight into that layer's input
 * planes (feed 1); through a maxpool read by nothing else, into a u8 plane
 * and a u8 maxpool (feed 2: quantization is monotonic, so maxpool commutes
 * with it). Sets feed/fed and q8->fused; called after the ranges change.
 */
VGC_HIDDEN void vgc_q8_plan(vgc_net *net);

/*
 * fp32 into int8: cfg layer i, an fp32 convolution run with the 2x2 maxpool
 * after it in registers (internal.h's conv_pool2), whose pooled output only
 * layer i + 2 reads, an int8 layer with a static range: vgc_q8_plan marks
 * that layer fed, and for a forward of `batch` images this points qa at its
 * input planes (padding written) and their quantization, so that the pool
 * writes u8 and the layer skips its quantize pass (the same bytes). Leaves
 * qa alone when not feeding.
 */
VGC_HIDDEN void vgc_q8_pool_feed(vgc_net *net, int i, int batch, vgc_conv_quant *qa);

/* The feed (q8.h's vgc_q8_layer) convolution l uses in a forward of `batch` images: 0 when none. */
VGC_HIDDEN int vgc_q8_feeds(const vgc_net *net, const vgc_layer *l, int batch);

/*
 * Darknet's maxpool of one u8 plane (row y at in + y*ldi; window at -pad/2,
 * cells outside the input ignored, 0 when none is inside: the quantized
 * -FLT_MAX), output row oy at out + oy*ldo.
 */
VGC_HIDDEN void vgc_q8_maxpool_u8(const uint8_t *in, int w, int h, size_t ldi, int size, int stride, int pad, uint8_t *out,
                                  size_t ldo, int ow, int oh);

/* Free the net's int8 state and every layer's. */
VGC_HIDDEN void vgc_q8_release(vgc_net *net);

/*
 * Pack rows [0, k) of a K x n matrix given as row pointers (one u8 row of
 * n per k, NULL = all zp) into the b layout; for tests and the packers.
 */
VGC_HIDDEN void vgc_q8_pack_rows(const uint8_t *const *rows, int k, int kp, int n, int ldb, uint8_t zp,
                                 uint8_t *b);

#endif /* VGC_Q8_H */
