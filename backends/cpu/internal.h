/*
 * backends/cpu/internal.h: what the engine's own files share (cfg reader,
 * thread pool, kernel table, the network struct). Not used outside
 * backends/cpu.
 */
#ifndef VGC_INTERNAL_H
#define VGC_INTERNAL_H

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/* ---- errors --------------------------------------------------------------- */

/* Format a message into err and return code. */
VGC_HIDDEN int vgc_fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- cfg reader (cfg.c) ------------------------------------------------------ */

/* One `key=value` line. */
typedef struct vgc_kv {
    const char *key;          /* NUL-terminated, whitespace removed */
    const char *val;          /* NUL-terminated, whitespace removed */
    int line;                 /* 1-based line number */
    int used;                 /* set when a layer parser consumed it */
} vgc_kv;

/* One `[type]` section and its options. */
typedef struct vgc_section {
    const char *type;         /* the name between the brackets */
    int line;                 /* line of the header */
    vgc_kv *kv;               /* options, in file order */
    int nkv;
} vgc_section;

/* A parsed cfg: all strings live in buf. */
typedef struct vgc_cfg {
    char *buf;                /* copy of the text, split in place */
    vgc_section *sec;         /* sections in file order */
    int nsec;
    vgc_kv *kvs;              /* storage for every option */
} vgc_cfg;

/* Parse cfg text (not NUL-terminated). On failure nothing needs releasing. */
VGC_HIDDEN int vgc_cfg_parse(vgc_cfg *cfg, const char *text, size_t len,
                             char *err, size_t errlen);
VGC_HIDDEN void vgc_cfg_release(vgc_cfg *cfg);

/* ---- thread pool (pool.c) ------------------------------------------------------ */

typedef struct vgc_pool vgc_pool;

/* A task: ctx is the caller's, task in [0, ntasks), thread in [0, threads). */
typedef void (*vgc_task_fn)(void *ctx, int task, int thread);

/* threads >= 1; with 1 no thread is started and run() calls fn inline. */
VGC_HIDDEN int vgc_pool_create(vgc_pool **out, int threads);
/* Run fn for every task and return when all are done. Not reentrant. */
VGC_HIDDEN void vgc_pool_run(vgc_pool *pool, int ntasks, vgc_task_fn fn, void *ctx);
/* The same on the calling thread only (jobs too small to be worth waking anyone). */
VGC_HIDDEN void vgc_pool_run_serial(vgc_pool *pool, int ntasks, vgc_task_fn fn, void *ctx);
VGC_HIDDEN int vgc_pool_threads(const vgc_pool *pool);
VGC_HIDDEN void vgc_pool_destroy(vgc_pool *pool);

/* ---- kernels (kern_*.c) ---------------------------------------------------------- */

/* Parameters of one depthwise channel. */
typedef struct vgc_dw_args {
    const float *in;          /* h x w input plane */
    int w, h;
    const float *k;           /* size x size kernel */
    int size, stride, pad;
    float bias;
    enum vgc_act act;
    float *out;               /* oh x ow output plane, or NULL: */
    int16_t *out16;           /* or as s16, output i at out16[2 * i] (q8.h's vgc_q8_dw.out16) */
    float inv16;
    int max16;
    int ow, oh;
    float *scratch;           /* vgc_dw_scratch_floats() floats */
} vgc_dw_args;

/* Floats in one phase of a padded input row of a depthwise kernel (with slack for vector reads). */
static inline size_t vgc_dw_phase_len(int w, int pad, int stride, int size)
{
    return (size_t)((w + 2 * pad + stride - 1) / stride + 2 * 16 + size + 16);
}

/* Scratch one depthwise channel needs: a zero row and a ring of `size` padded rows. */
static inline size_t vgc_dw_scratch_floats(int w, int pad, int stride, int size)
{
    return vgc_dw_phase_len(w, pad, stride, size) * (size_t)stride * (size_t)(size + 1);
}

/*
 * conv_pool2's pooled rows quantized into an int8 layer's input planes
 * (q8.h's vgc_q8_pool_feed): channel m's row y at q + m*plane + y*ld, by
 * run (q8.c's quantize pass) with inv[m] and zp[m].
 */
typedef struct vgc_conv_quant {
    uint8_t *q;
    size_t plane, ld;
    const float *inv, *zp;
    void (*run)(const float *x, size_t n, float inv, float zp, uint8_t *q);
} vgc_conv_quant;

/* A band of output rows of a convolution (one group), computed as an implicit GEMM. */
typedef struct vgc_conv_args {
    const float *in;          /* the group's first input plane */
    int c, w, h;              /* the group's input channels, input size */
    int size, stride, pad;
    const float *a;           /* the group's weights, GEMM panels, k = (c*size + ky)*size + kx */
    int m;                    /* the group's filters */
    const float *bias;        /* m biases */
    enum vgc_act act;
    float *out;               /* the group's first output plane */
    int ow, oh;
    int y0, y1;               /* output rows [y0, y1) */
    float *scratch;           /* vgc_conv_scratch_floats() floats */
    vgc_conv_quant quant;     /* conv_pool2 only: quant.q NULL, the pooled rows go to out as floats */
} vgc_conv_args;

/* Scratch of vgc_kernels.conv_rows: a ring of `size` padded rows of every channel, a zero row, pointers. */
static inline size_t vgc_conv_scratch_floats(int c, int w, int pad, int stride, int size)
{
    size_t slot = vgc_dw_phase_len(w, pad, stride, size) * (size_t)stride;

    return slot * ((size_t)c * (size_t)size + 1) + 2 * (size_t)c * (size_t)size + 16;
}

/*
 * Scratch of vgc_kernels.conv_pool2: a ring of size + 1 padded rows of
 * every channel, a zero row, pointers, and m pooled rows of ow / 2 (for q).
 */
static inline size_t vgc_conv_pool2_ring_floats(int c, int w, int pad, int size)
{
    return (vgc_conv_scratch_floats(c, w, pad, 1, size + 1) + 15) & ~(size_t)15;
}

static inline size_t vgc_conv_pool2_scratch_floats(int c, int w, int pad, int size, int m, int ow)
{
    return vgc_conv_pool2_ring_floats(c, w, pad, size) + (size_t)m * (size_t)(ow / 2) + 16;
}

/* Kernels that exist in one variant per SIMD level. */
typedef struct vgc_kernels {
    int simd;                 /* enum vgc_simd of this table */
    /* y[i] = act(y[i] + bias) for i < n */
    void (*bias_act)(float *y, size_t n, float bias, enum vgc_act act);
    /* one depthwise channel */
    void (*dw_conv)(const vgc_dw_args *a);
    /* y[i] = exp(y[i]) for i < n (a few ulp; arguments clamped to [-87, 88]) */
    void (*exp_inplace)(float *y, size_t n);
    /* y[i] = act(alpha*y[i] + beta*x[i]) for i < n */
    void (*axpby_act)(float *y, const float *x, size_t n, float alpha, float beta,
                      enum vgc_act act);
    /*
     * C = act(A B + bias) for M x N, A packed in panels of gemm_mr rows
     * (k-major within a panel: a[p*K*mr + k*mr + r]), B K x N with row
     * stride ldb, C with row stride ldc; bias has M entries.
     */
    int gemm_mr;
    void (*gemm)(const float *a, int m, int k, const float *b, size_t ldb, int n,
                 float *c, size_t ldc, const float *bias, enum vgc_act act);
    /*
     * Winograd F(2x2, 3x3). wino_in: the 16 transformed values of ntx tiles
     * of one channel, from 4 zero-padded input rows (r[k][0] is input
     * column -1), into v[xi*vs + i]. wino_out: from m[xi*ms + i] the 2x2
     * outputs of ntx tiles of one output channel, plus bias and
     * activation, into rows y0 and y1 (their first `width` floats, at most
     * 2*ntx: the output rows themselves).
     */
    void (*wino_in)(const float *const r[4], int ntx, float *v, size_t vs);
    void (*wino_out)(const float *m, size_t ms, int ntx, int width, float bias, enum vgc_act act,
                     float *y0, float *y1);
    /*
     * Winograd F(4x4, 3x3): the same with 6 input rows, each split into 4
     * phases pl floats apart (phase q holds padded columns q, q+4, ...),
     * 36 transformed values per tile, and 4 output rows of 4*ntx floats.
     */
    void (*wino4_in)(const float *const r[6], size_t pl, int ntx, float *v, size_t vs);
    void (*wino4_out)(const float *m, size_t ms, int ntx, int width, float bias, enum vgc_act act,
                      float *const y[4]);
    /* a row of w floats into 4 phases pl floats apart, as padded columns p = x + 1 (p % 4, p / 4) */
    void (*split4)(const float *src, int w, float *dst, size_t pl);
    /* a band of output rows of a convolution, without im2col (NULL: no such kernel) */
    void (*conv_rows)(const vgc_conv_args *a);
    /*
     * conv_rows of a stride-1 convolution with even ow and oh, two rows at a
     * time, then the 2x2 stride-2 maxpool of them in registers: a->out is
     * the pool's output (planes of ow/2 x oh/2), y0 and y1 even; the same
     * floats as conv_rows then maxpool (NULL: no such kernel)
     */
    void (*conv_pool2)(const vgc_conv_args *a);
    /* one channel of a max pool; tmp holds w + 2*size floats */
    void (*maxpool)(const float *in, int w, int h, int size, int stride, int pad,
                    float *out, int ow, int oh, float *tmp);
} vgc_kernels;

VGC_HIDDEN extern const vgc_kernels vgc_kernels_generic;
VGC_HIDDEN extern const vgc_kernels vgc_kernels_avx2;
VGC_HIDDEN extern const vgc_kernels vgc_kernels_avx512;

/* The table for SIMD level want (enum vgc_simd, 0 = best), at most what the machine has. */
VGC_HIDDEN const vgc_kernels *vgc_kernels_pick(int want);

/* Scalar activation, the reference every kernel variant matches. */
VGC_HIDDEN float vgc_act_scalar(float x, enum vgc_act act);

/*
 * The largest |act(x)| for x in [lo, hi], for the monotonic activations
 * (linear, leaky, relu, relu6, logistic: at lo or at hi); -1 for the
 * others (mish, swish).
 */
VGC_HIDDEN float vgc_act_bound(float lo, float hi, enum vgc_act act);

/*
 * y as an s16 of an s16 layer's packed input (vgc_dw_args.out16, q8.h's
 * vgc_q8_dw.out16): y * inv rounded to nearest (even), clamped to +-max, NaN
 * to -max: what cvtps and a clamp give.
 */
static inline int16_t vgc_s16_round(float y, float inv, int max)
{
    const float t = y * inv;

    if (!(t > (float)-max))
        return (int16_t)-max;
    return (int16_t)(t >= (float)max ? max : lrintf(t));
}

/* ---- the network ---------------------------------------------------------------- */

struct vgc_net {
    vgc_layer *layers;        /* n layers, [net] excluded */
    int n;
    int w, h, c;              /* input shape */
    int max_batch;
    int threads;
    int classes;              /* of the yolo heads (all equal) */
    int max_cand;             /* sum over heads of w*h*n */
    int ignore_scale_x_y;     /* Debian-darknet decoding */
    size_t max_bytes;         /* memory bound for weights, activations, scratch */
    double flops;             /* per image */
    const vgc_kernels *k;     /* kernel table for this machine */
    vgc_pool *pool;           /* compute threads */
    float *arena;             /* every activation, 64-byte aligned */
    size_t arena_floats;
    float *work;              /* im2col scratch: threads x work_floats */
    size_t work_floats;       /* per thread */
    float *scratch;           /* max_cand floats for candidate selection */
    float *params;            /* one block holding all weights and biases */
    size_t params_floats;
    const float *input;       /* input of the forward in progress */
    int batch;                /* images in the last forward */
    char device[96];          /* describe() string */
    double *prof;             /* seconds per layer when profiling, else NULL */
    int prof_runs;            /* forwards profiled */
    int precision;            /* enum vgc_precision in effect */
    int q8_min_channels;      /* int8: fewest terms per output (channels x size^2) of an int8 convolution */
    int q8_dw;                /* int8: depthwise convolutions may run int8 (a kernel for them here) */
    int q8_dw_static;         /* int8: calibration gives depthwise layers static per-channel ranges */
    const struct vgc_q8_kernels *q8_wide; /* int8: the bf16 kernels the heads' input convolutions run
                                 with (the int8 rules keep them out; bf16 keeps the detections,
                                 docs/engine.md), NULL: they stay fp32 */
    int q8_blocks;            /* int8: the 1x1 layers around depthwise ones too, static ranges only
                                 (q8.c's block_layer: 1 expansions, 2 projections, 3 both) */
    int q8_direct;            /* int8: which kernels run direct convolutions (vgc_options.q8_direct) */
    int q8_first;             /* int8: -1 the first layer stays fp32 (vgc_options.q8_first) */
    int q8_px4;               /* int8: -1 no layer in the px4 form (vgc_options.q8_px4) */
    char prec_note[192];      /* vgc_net_precision()'s note */
    struct vgc_q8_net *q8;    /* int8 state (q8.h), or NULL */
    struct vgc_q16_net *q16;  /* int8: the 16-bit 1x1 layers' state (q16.h), or NULL */
};

/*
 * Weight k of filter f from l's float weights themselves (vgc_layer_weight
 * answers from an int8 form where there is one): for a layer that keeps
 * them (q8.h's needstatic, and every layer without a reduced form).
 */
VGC_HIDDEN float vgc_layer_float_weight(const vgc_net *net, const vgc_layer *l, int f, int k);

/* Build layers from a parsed cfg (net.c). */
VGC_HIDDEN int vgc_net_build(vgc_net *net, vgc_cfg *cfg, const vgc_options *opt,
                             char *err, size_t errlen);

/* Floats the weights file holds for this network (after its header). */
VGC_HIDDEN size_t vgc_net_param_count(const vgc_net *net);

/* Where layer i reads its input (image 0). */
static inline const float *vgc_layer_input(const vgc_net *net, int i)
{
    return i == 0 ? net->input : net->layers[i - 1].out;
}

/*
 * ---- one convolution outside a cfg network (the ONNX executor) -----------------
 * Fill a vgc_layer's geometry, kind (and wino_m), act, nweights; give it
 * vgc_conv_packed_floats() zeroed floats of weights and pack every filter;
 * vgc_layer_plan() sets its split and says its per-thread scratch (a net
 * with k, pool, threads, work and work_floats set is the context); set
 * l->out and run it.
 */
VGC_HIDDEN size_t vgc_conv_packed_floats(const vgc_layer *l, int mr);
VGC_HIDDEN void vgc_conv_pack_filter(const vgc_net *net, vgc_layer *l, int f, const float *w);
VGC_HIDDEN size_t vgc_layer_plan(vgc_net *net, vgc_layer *l);
/* Whether cfg layer i and the maxpool after it can run fused (vgc_layer.pool_fused; needs last_use). */
VGC_HIDDEN int vgc_pool_fusable(const vgc_net *net, int i);
/* ... and run by conv_pool2 (which can quantize its output into an int8 layer's planes: q8.c) */
VGC_HIDDEN int vgc_pool2_fusable(const vgc_net *net, int i);
/* Whether cfg layer i, a depthwise convolution, and the 1x1 before it can (vgc_layer.expand_fused). */
VGC_HIDDEN int vgc_expand_fusable(const vgc_net *net, int i);
/*
 * An expand_fused depthwise layer l: thread's planes for its input channels
 * [c0, c1) (c0 a multiple of l->chunk), computed by the 1x1 layer before it
 * from image b's input; channel c is at the result + (c - c0) * l->w * l->h.
 * With range not NULL, *range is set to their ranges where the 1x1 layer's
 * GEMM found them (an s16 one: q16.h's vgc_q16_rows; channel c's at *range +
 * (c - c0) * VGC_Q8_RANGE), or NULL.
 */
VGC_HIDDEN const float *vgc_expand_planes(const vgc_net *net, const vgc_layer *l, int b, int c0, int c1,
                                          int thread, const float **range);
VGC_HIDDEN void vgc_conv_forward(vgc_net *net, const vgc_layer *l, const float *in, int batch);

#endif /* VGC_INTERNAL_H */
