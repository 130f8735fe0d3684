/*
 * tests/cpu/test_q8_dw.c: the int8 depthwise convolutions of the cpu
 * engine (q8.h's vgc_q8_dw).
 *
 * - the scalar reference against a plain convolution of the dequantized
 *   planes (padding as the zero point), every activation;
 * - every SIMD depthwise kernel the CPU has (AVX-512 VBMI, AVX-512 VNNI on
 *   s16 input, AVX2) and the reference on s16 input against the reference: sizes
 *   1, 3, 5 and 7, strides 1, 2 and 3, odd widths and heights (1 to 37:
 *   the last partial vector; 8, 10, 20, 40 and 54: the rows the VBMI
 *   kernel's vectors run across, or pair their last outputs), every
 *   activation, float and u8 outputs, rows with a stride wider than the
 *   output (nothing written past a row); a
 *   kernel the CPU lacks is a TAP SKIP with the reason;
 * - a network of depthwise and pointwise layers in int8 against fp32 and
 *   against the reference kernel, which layers run int8;
 * - static ranges, a depthwise layer's per channel: the u8 path between
 *   int8 layers (1x1 -> depthwise -> 1x1, into and out of depthwise layers
 *   through u8 maxpools) against the float path between them, and the
 *   static per-channel ranges against each image's own;
 * - calibration: each depthwise input channel's range is the union over the
 *   folder's tensors, cached (version 2) and read back; a version 1 cache is
 *   refused and redone;
 * - the AVX-512 quantize passes over a depthwise layer's input (a run, a
 *   padded plane, as u8 and as s16) against the scalar arithmetic they must
 *   match byte for byte (a rounded product, a rounded sum, clamped, truncated).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.h"
#include "internal.h"
#include "q8.h"
#include "q16.h"
#include "q8_calib.h"
#include "q8_util.h"

static uint32_t rng = 4321;

static uint32_t next(void)
{
    return q8u_next(&rng);
}

#define NACTS 7

/* One channel: a padded u8 plane with room past it, weights, an epilogue. */
typedef struct plane {
    int w, h, size, stride, pad, ow, oh;
    size_t ldi;
    uint8_t *in;
    int16_t k[64];
    int zp;
    float xs, ws, bias;
} plane;


static void plane_make(plane *p, int w, int h, int size, int stride, int pad)
{
    const int wp = w + 2 * pad, hp = h + 2 * pad;

    p->w = w, p->h = h, p->size = size, p->stride = stride, p->pad = pad;
    p->ow = (wp - size) / stride + 1;
    p->oh = (hp - size) / stride + 1;
    p->ldi = (size_t)wp;
    p->zp = (int)(next() % 256);
    p->xs = 0.01f + (float)(next() % 100) / 1000.0f;
    p->ws = (0.005f + (float)(next() % 100) / 5000.0f) / 256.0f;
    p->bias = (float)((int)(next() % 200) - 100) / 50.0f;
    /* the plane the forward builds: zero point around, one spare row, and (q8.h) 32 bytes more */
    p->in = malloc((size_t)wp * (size_t)(hp + 1) + 32);
    assert_non_null(p->in);
    memset(p->in, p->zp, (size_t)wp * (size_t)(hp + 1) + 32);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            p->in[(size_t)(y + pad) * p->ldi + (size_t)(x + pad)] = (uint8_t)next();
    for (int i = 0; i < size * size; i++)
        p->k[i] = (int16_t)(i % 7 == 3 ? (i % 2 ? -VGC_Q8_DW_WMAX : VGC_Q8_DW_WMAX) : (int)(next() % 65535) - VGC_Q8_DW_WMAX);
}


static vgc_q8_dw dw_args(const plane *p, enum vgc_act act)
{
    int32_t sum = 0;

    for (int i = 0; i < p->size * p->size; i++)
        sum += p->k[i];
    return (vgc_q8_dw){ .in = p->in, .ldi = p->ldi, .k = p->k, .size = p->size, .stride = p->stride,
                        .ow = p->ow, .oh = p->oh, .comp = p->zp * sum, .scale = p->xs * p->ws,
                        .bias = p->bias, .act = (enum vgc_act)act };
}


/* The reference against the convolution of the dequantized input and weights (zero padding). */
static void test_reference(void **state)
{
    (void)state;
    for (int t = 0; t < 40; t++) {
        const int size = 1 + 2 * (int)(next() % 4), stride = 1 + (int)(next() % 3);
        const int w = size + (int)(next() % 20), h = size + (int)(next() % 20), pad = (int)(next() % (size / 2 + 1));
        const enum vgc_act act = (enum vgc_act)(t % NACTS);
        plane p;
        vgc_q8_dw d;
        float *out;

        plane_make(&p, w, h, size, stride, pad);
        d = dw_args(&p, act);
        out = malloc((size_t)p.ow * p.oh * sizeof *out);
        assert_non_null(out);
        d.out = out;
        d.ldo = (size_t)p.ow;
        vgc_q8_dw_ref(&d);
        for (int oy = 0; oy < p.oh; oy++)
            for (int ox = 0; ox < p.ow; ox++) {
                double s = 0;
                float want;

                for (int ky = 0; ky < size; ky++)
                    for (int kx = 0; kx < size; kx++) {
                        const int iy = oy * stride + ky - pad, ix = ox * stride + kx - pad;
                        const double x = iy < 0 || iy >= h || ix < 0 || ix >= w ? 0.0 :
                            ((double)p.in[(size_t)(iy + pad) * p.ldi + (size_t)(ix + pad)] - p.zp) * p.xs;

                        s += x * (double)p.k[ky * size + kx] * p.ws;
                    }
                want = vgc_act_scalar((float)(s + p.bias), act);
                if (fabsf(want - out[(size_t)oy * p.ow + ox]) > 1e-4f * (1.0f + fabsf(want)))
                    fail_msg("size %d stride %d pad %d on %dx%d act %d: (%d, %d) = %.7g, direct %.7g", size, stride,
                             pad, w, h, (int)act, ox, oy, out[(size_t)oy * p.ow + ox], want);
            }
        free(out);
        free(p.in);
    }
}


#define NWIDTHS 11

/*
 * fn's s16 output (q8.h's out16) against the reference's: within 1 (an
 * fma), every other s16 alone written (the odd ones and the rest keep
 * their sentinel), clamped at max16 (300 or VGC_Q16_FED_XMAX).
 */
static void check_s16(vgc_q8_dw d, vgc_q8_dw_fn fn, const char *what)
{
    const size_t n = 2 * (size_t)d.ow * d.oh + 33;
    int16_t *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);

    assert_true(want && got);
    for (size_t i = 0; i < n; i++)
        want[i] = got[i] = (int16_t)0x5a5a;
    d.out = NULL;
    d.qout = NULL;
    d.inv16 = 1.0f / (0.002f + (float)(next() % 50) / 5000.0f);
    d.max16 = (int)(next() % 2) ? VGC_Q16_FED_XMAX : 300;
    d.out16 = want;
    vgc_q8_dw_ref(&d);
    d.out16 = got;
    fn(&d);
    for (size_t i = 0; i < n; i++) {
        const int inside = i < 2 * (size_t)d.ow * d.oh && i % 2 == 0;

        if (!inside && got[i] != (int16_t)0x5a5a)
            fail_msg("s16 %s: [%zu] written (%d) past the outputs or in the other channel's half", what, i, got[i]);
        if (inside && (abs(want[i] - got[i]) > 1 || abs(got[i]) > d.max16))
            fail_msg("s16 %s: [%zu] = %d, reference %d (max %d)", what, i, got[i], want[i], d.max16);
    }
    free(want), free(got);
}


/* Kernel fn against the reference: float, u8 and s16 outputs, rows wider than the output left alone. */
static void test_kernel(void **state)
{
    vgc_q8_dw_fn fn = (vgc_q8_dw_fn)*state;
    static const int sizes[] = { 1, 3, 5, 7 };
    int checked = 0;

    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int stride = 1; stride <= 3; stride++)
            for (int wi = 0; wi < NWIDTHS; wi++)
                for (int act = 0; act < NACTS; act++) {
                    /* 8 to 54 on stride 1: the VBMI kernel's vectors run on across rows or pair the last
                       outputs of two (q8_dw512.c; 54 unpadded, 3x3: its pairs read all 64 bytes of a load) */
                    static const int widths[NWIDTHS] = { 1, 5, 16, 17, 33, 37, 8, 10, 20, 40, 54 };
                    const int size = sizes[si], w = widths[wi] + size - 1, h = size + (int)(next() % 9);
                    const int pad = (size / 2) * (int)((act + wi) % 2);
                    plane p;
                    vgc_q8_dw d;
                    float *want, *got;
                    uint8_t *qwant, *qgot;
                    size_t ldo, n;

                    plane_make(&p, w, h, size, stride, pad);
                    ldo = (size_t)p.ow + 5;
                    n = ldo * (size_t)p.oh;
                    want = malloc(n * sizeof *want), got = malloc(n * sizeof *got);
                    qwant = malloc(n), qgot = malloc(n);
                    assert_true(want && got && qwant && qgot);
                    for (size_t i = 0; i < n; i++)
                        want[i] = got[i] = -7.0f, qwant[i] = qgot[i] = 0xa5;
                    d = dw_args(&p, (enum vgc_act)act);
                    d.ldo = d.ldq = ldo;
                    d.out = want;
                    vgc_q8_dw_ref(&d);
                    d.out = got;
                    fn(&d);
                    d.out = NULL;
                    d.qinv = 1.0f / (0.02f + (float)(next() % 50) / 500.0f);
                    d.qzp = (float)(next() % 256) + 0.5f;
                    d.qout = qwant;
                    vgc_q8_dw_ref(&d);
                    d.qout = qgot;
                    fn(&d);
                    for (size_t i = 0; i < n; i++) {
                        /* the same integer sums; the epilogue may round once more or less (an fma) */
                        if (fabsf(want[i] - got[i]) > 1e-5f * (1.0f + fabsf(want[i])))
                            fail_msg("size %d stride %d pad %d on %dx%d act %d: [%zu] = %.9g, reference %.9g", size,
                                     stride, pad, w, h, act, i, got[i], want[i]);
                        if (abs((int)qwant[i] - (int)qgot[i]) > 1)
                            fail_msg("u8: size %d stride %d pad %d on %dx%d act %d: [%zu] = %d, reference %d", size,
                                     stride, pad, w, h, act, i, qgot[i], qwant[i]);
                    }
                    {
                        char what[96];

                        snprintf(what, sizeof what, "size %d stride %d pad %d on %dx%d act %d", size, stride, pad,
                                 w, h, act);
                        check_s16(d, fn, what);
                    }
                    checked++;
                    free(want), free(got), free(qwant), free(qgot), free(p.in);
                }
    assert_int_equal(checked, 4 * 3 * NWIDTHS * NACTS);
}


/*
 * A kernel of the s16-input form on the same plane held as s16: exactly the
 * rows its outputs read and the one after them (q8.h), so that ASan sees a
 * read past that.
 */
static void on_s16(const vgc_q8_dw *d, vgc_q8_dw_fn fn)
{
    const size_t n = ((size_t)(d->oh - 1) * d->stride + d->size + 1) * d->ldi;
    int16_t *in16 = malloc(n * sizeof *in16);
    vgc_q8_dw e = *d;

    assert_non_null(in16);
    for (size_t i = 0; i < n; i++)
        in16[i] = d->in[i];
    e.in = NULL;
    e.in16 = in16;
    fn(&e);
    free(in16);
}


static void dw16_on_u8(const vgc_q8_dw *d)
{
    on_s16(d, vgc_q8_dw16_512);
}


static void ref16_on_u8(const vgc_q8_dw *d)
{
    on_s16(d, vgc_q8_dw_ref);
}


/*
 * Depthwise-separable blocks as yolo-fastest has them: 1x1 expand (leaky),
 * depthwise 3x3 stride 1 and 2 (leaky), 1x1 project (linear), a linear
 * depthwise (fp32), a 5x5 depthwise; q8_min_channels 16 so that the 1x1
 * layers run int8 too.
 */
static const char net_cfg[] =
    "[net]\nwidth=45\nheight=31\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=2\npad=1\nactivation=leaky\n"  /* 0 fp32: first */
    "[convolutional]\nbatch_normalize=1\nfilters=24\nsize=1\nstride=1\npad=1\nactivation=leaky\n"  /* 1 int8 */
    "[convolutional]\nbatch_normalize=1\nfilters=24\nsize=3\ngroups=24\nstride=1\npad=1\nactivation=leaky\n" /* 2 dw */
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=1\nstride=1\npad=1\nactivation=linear\n" /* 3 fp32: linear */
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=1\nstride=1\npad=1\nactivation=leaky\n"  /* 4 int8 */
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=3\ngroups=32\nstride=2\npad=1\nactivation=leaky\n" /* 5 dw */
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=3\ngroups=32\nstride=1\npad=1\nactivation=linear\n" /* 6 fp32 */
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=5\ngroups=32\nstride=1\npad=2\nactivation=leaky\n" /* 7 dw */
    "[convolutional]\nbatch_normalize=1\nfilters=20\nsize=1\nstride=1\npad=1\nactivation=leaky\n"  /* 8 int8 */
    "[convolutional]\nfilters=14\nsize=1\nstride=1\npad=1\nactivation=linear\n"                     /* 9 fp32: head */
    "[yolo]\nmask=0,1\nanchors=4,5, 8,9\nclasses=2\nnum=2\n";                                       /* 10 */
#define IS_INT8(i) ((i) == 1 || (i) == 2 || (i) == 4 || (i) == 5 || (i) == 7 || (i) == 8)
#define LAST_CONV 9


/* compute threads of the networks load() makes, and its int8 options beyond the arguments */
static int load_threads = 1, load_min_channels = 16, load_dw_static, load_blocks;


static vgc_net *load_ch(const char *cfg, int precision, int q8_kernel, int keep, int no_fuse, const float *ranges,
                       const float *chan)
{
    vgc_options opt = { .no_weights = 1, .seed = 7, .keep_outputs = keep, .max_batch = 2, .precision = precision,
                        .threads = load_threads, .q8_kernel = q8_kernel, .q8_min_channels = load_min_channels,
                        .q8_ranges = ranges, .q8_chan_ranges = chan, .q8_no_fuse = no_fuse,
                        .q8_dw_static = load_dw_static, .q8_blocks = load_blocks, .q16 = 1,
                        .q8_first = -1 };      /* these count and measure the depthwise and block layers: the
                                                  first layer's int8 form is test_q8's */
    char err[VIGIA_ERRLEN];
    vgc_net *net = NULL;

    if (vgc_net_load_mem(&net, cfg, strlen(cfg), NULL, 0, &opt, err, sizeof err) < 0)
        fail_msg("%s", err);
    return net;
}


static vgc_net *load(const char *cfg, int precision, int q8_kernel, int keep, int no_fuse, const float *ranges)
{
    return load_ch(cfg, precision, q8_kernel, keep, no_fuse, ranges, NULL);
}


static void fill(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((i * 7919) % 1000) / 1000.0f;
}


static void network_once(int kind)
{
    const size_t n = 3 * 45 * 31;
    float *x = malloc(n * sizeof *x);
    vgc_net *f32 = load(net_cfg, VGC_PREC_FP32, 0, 1, 0, NULL);
    vgc_net *q = load(net_cfg, VGC_PREC_INT8, kind + 1, 1, 0, NULL), *ref = load(net_cfg, VGC_PREC_INT8, 1, 1, 0, NULL);
    char err[VIGIA_ERRLEN];
    const char *note;
    int wide;

    assert_non_null(x);
    fill(x, n);
    assert_int_equal(vgc_net_precision(q, &note), VGC_PREC_INT8);
    printf("# %s\n", note);
    assert_non_null(strstr(note, "6 of 10 convolutions"));
    /* the head in bf16 beside AMX and the scalar kernels (as the reference's), else fp32 */
    wide = vgc_net_layer(q, LAST_CONV)->q8 != NULL;
    assert_int_equal(wide, strstr(note, "and 1 bf16 ") != NULL);
    assert_int_equal(vgc_net_forward(f32, x, 1, err, sizeof err), 0);
    assert_int_equal(vgc_net_forward(q, x, 1, err, sizeof err), 0);
    assert_int_equal(vgc_net_forward(ref, x, 1, err, sizeof err), 0);
    for (int li = 1; li <= LAST_CONV; li++) {
        const vgc_layer *l = vgc_net_layer(q, li);
        const float *y = vgc_net_output(q, li, 0), *y32 = vgc_net_output(f32, li, 0), *yr = vgc_net_output(ref, li, 0);
        double num = 0, den = 0;

        assert_int_equal(l->q8 != NULL, IS_INT8(li) || (li == LAST_CONV && wide));
        if (IS_INT8(li))
            assert_int_equal(l->q8->dw, l->groups > 1);
        for (size_t i = 0; i < l->out_size; i++) {
            num += ((double)y[i] - y32[i]) * ((double)y[i] - y32[i]);
            den += (double)y32[i] * y32[i];
            /* the same quantization as the reference (avx2's 7-bit GEMM weights are its own; a head
               in fp32 against the reference's bf16 one is checked against fp32 alone) */
            if (kind != VGC_Q8_AVX2 && (li != LAST_CONV || wide) &&
                fabsf(y[i] - yr[i]) > (li == LAST_CONV ? 1e-3f : 1e-4f) * (1.0f + fabsf(yr[i])))
                fail_msg("layer %d [%zu]: %g, reference kernels %g", li, i, y[i], yr[i]);
        }
        if (sqrt(num / den) > (kind == VGC_Q8_AVX2 ? 0.08 : 0.05))
            fail_msg("layer %d is %.3f%% (rms) off fp32", li, 100 * sqrt(num / den));
        printf("# layer %d (%s): %.3f%% rms off fp32\n", li, !l->q8 ? "fp32" : l->q8->dw ? "int8 dw" : "int8",
               100 * sqrt(num / den));
    }
    vgc_net_destroy(f32);
    vgc_net_destroy(q);
    vgc_net_destroy(ref);
    free(x);
}


static void test_network(void **state)
{
    /* with 1 and 3 threads (the depthwise tasks split the channels among them) */
    for (load_threads = 1; load_threads <= 3; load_threads += 2)
        network_once((int)(intptr_t)*state);
    load_threads = 1;
}


/*
 * u8 between int8 layers with depthwise ones, every range static (a
 * depthwise layer's per input channel): 1 -> 2 (1x1 into a depthwise
 * layer's planes, each channel its own range and padding), 2 -> 3, 3 ->
 * maxpool 4 -> 5 (u8 maxpool into a depthwise layer), 5 -> 6, 6 -> 7, and
 * 7 -> maxpool 8 -> 9 (into a padded 3x3 plane).
 */
static const char fuse_cfg[] =
    "[net]\nwidth=41\nheight=35\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 0 fp32 */
    "[convolutional]\nbatch_normalize=1\nfilters=24\nsize=1\nstride=1\npad=1\nactivation=leaky\n"  /* 1 */
    "[convolutional]\nbatch_normalize=1\nfilters=24\nsize=3\ngroups=24\nstride=1\npad=1\nactivation=leaky\n" /* 2 -> 3 */
    "[convolutional]\nbatch_normalize=1\nfilters=40\nsize=1\nstride=1\npad=1\nactivation=leaky\n"  /* 3 */
    "[maxpool]\nsize=2\nstride=2\n"                                                                 /* 4 u8 */
    "[convolutional]\nbatch_normalize=1\nfilters=40\nsize=3\ngroups=40\nstride=2\npad=1\nactivation=leaky\n" /* 5 -> 6 */
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=1\nstride=1\npad=1\nactivation=leaky\n"  /* 6 */
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=3\ngroups=32\nstride=1\npad=1\nactivation=leaky\n" /* 7 -> pool -> 9 */
    "[maxpool]\nsize=2\nstride=2\n"                                                                 /* 8 u8 */
    "[convolutional]\nbatch_normalize=1\nfilters=24\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 9 */
    "[convolutional]\nfilters=14\nsize=1\nstride=1\npad=1\nactivation=linear\n"                     /* 10 head */
    "[yolo]\nmask=0,1\nanchors=4,5, 8,9\nclasses=2\nnum=2\n";                                       /* 11 */
#define FUSE_LAYERS 12


static void test_fused(void **state)
{
    const int kind = (int)(intptr_t)*state;
    const size_t n = 3 * 41 * 35;
    float *x = malloc(2 * n * sizeof *x), ranges[2 * FUSE_LAYERS] = { 0 }, chan[2 * (24 + 40 + 32)];
    vgc_net *dyn = load(fuse_cfg, VGC_PREC_INT8, kind + 1, 1, 0, NULL), *fused, *plain;
    char err[VIGIA_ERRLEN];
    const vgc_layer *head;
    double maxd = 0, maxv = 0, num = 0, den = 0;
    static const int feed[FUSE_LAYERS] = { 0, 1, 1, 2, 0, 1, 1, 2, 0, 0, 0, 0 };
    static const int fed[FUSE_LAYERS] = { 0, 0, 1, 1, 0, 1, 1, 1, 0, 1, 0, 0 };

    assert_non_null(x);
    fill(x, 2 * n);
    assert_int_equal(vgc_net_forward(dyn, x, 1, err, sizeof err), 0);
    q8u_ranges_measure(dyn, ranges, chan, 1.1f);
    fused = load_ch(fuse_cfg, VGC_PREC_INT8, kind + 1, 0, 0, ranges, chan);
    plain = load_ch(fuse_cfg, VGC_PREC_INT8, kind + 1, 0, 1, ranges, chan);
    for (int i = 0; i < FUSE_LAYERS; i++) {
        const vgc_q8_layer *q = vgc_net_layer(fused, i)->q8;

        if (q && (q->feed != feed[i] || q->fed != fed[i]))
            fail_msg("layer %d: feed %d fed %d, planned %d %d", i, q->feed, q->fed, feed[i], fed[i]);
        if (q && q->dw)
            assert_true(q->crs);
    }
    /* static per-channel ranges of this very image (widened) against its own: close */
    head = vgc_net_layer(plain, FUSE_LAYERS - 1);
    assert_int_equal(vgc_net_forward(plain, x, 1, err, sizeof err), 0);
    {
        const float *ys = vgc_net_output(plain, FUSE_LAYERS - 1, 0), *yd = vgc_net_output(dyn, FUSE_LAYERS - 1, 0);

        for (size_t i = 0; i < head->out_size; i++) {
            num += ((double)ys[i] - yd[i]) * ((double)ys[i] - yd[i]);
            den += (double)yd[i] * yd[i];
        }
    }
    printf("# kind %d: static per-channel ranges vs dynamic: %.3f%% rms\n", kind, 100 * sqrt(num / den));
    assert_true(sqrt(num / den) < 0.005);
    vgc_net_destroy(dyn);
    maxd = q8u_max_diff(fused, plain, x, FUSE_LAYERS - 1, &maxv);
    printf("# kind %d: fed int8 path vs float between layers: max |diff| %g (outputs up to %g)\n", kind, maxd, maxv);
    /* the same sums quantized with the same arithmetic: equal */
    assert_true(maxd == 0);
    assert_true(maxv > 0);
    vgc_net_destroy(fused);
    vgc_net_destroy(plain);
    free(x);
}


/*
 * Calibration with depthwise layers: each one's channel ranges are the
 * union of that channel's ranges over the tensors (measured here on the
 * dynamic network), the layers then run static and fed (q8_dw_static); a
 * restart reads them from the cache; a version 1 cache is refused by its
 * version and the network calibrates again; without q8_dw_static the same
 * cache leaves the depthwise layers dynamic (and unfed).
 */
static void test_calibration(void **state)
{
    enum { CH = 24 + 40 + 32 };
    const size_t n = 3 * 41 * 35;
    char dir[] = "/tmp/vgc-q8dwcal-XXXXXX", cache[64], note[VIGIA_ERRLEN + 256], err[VIGIA_ERRLEN];
    float *x = malloc(n * sizeof *x), r[2 * FUSE_LAYERS], ch[2 * CH], want[2 * CH] = { 0 }, got[2 * CH];
    vgc_net *dyn = load(fuse_cfg, VGC_PREC_INT8, VGC_Q8_REF + 1, 1, 0, NULL), *net;
    uint8_t *buf;
    FILE *fp;
    long size;

    (void)state;
    assert_non_null(x);
    assert_non_null(mkdtemp(dir));
    snprintf(cache, sizeof cache, "%s.int8cal", dir);
    unlink(cache);
    for (int t = 0; t < 3; t++) {
        char name[16];

        snprintf(name, sizeof name, "%c.f32", 'a' + t);
        q8u_write_tensor(dir, name, t, x, n);
        assert_int_equal(vgc_net_forward(dyn, x, 1, err, sizeof err), 0);
        q8u_ranges_measure(dyn, r, ch, 1.0f);
        for (int c = 0; c < CH; c++) {
            want[2 * c] = ch[2 * c] < want[2 * c] ? ch[2 * c] : want[2 * c];
            want[2 * c + 1] = ch[2 * c + 1] > want[2 * c + 1] ? ch[2 * c + 1] : want[2 * c + 1];
        }
    }
    assert_int_equal(vgc_q8_chans(dyn), CH);
    load_dw_static = 1;
    net = load(fuse_cfg, VGC_PREC_INT8, VGC_Q8_REF + 1, 0, 0, NULL);
    assert_int_equal(vgc_q8_calibrate(net, dir, cache, NULL, NULL, note, sizeof note, err, sizeof err), 0);
    printf("# %s\n", note);
    assert_non_null(strstr(note, "cache written"));
    vgc_q8_chan_ranges(net, got);
    for (int c = 0; c < CH; c++)
        if (got[2 * c] != want[2 * c] || got[2 * c + 1] != want[2 * c + 1] || !(want[2 * c] < want[2 * c + 1]))
            fail_msg("channel %d: range [%g, %g], its inputs span [%g, %g]", c, got[2 * c], got[2 * c + 1],
                     want[2 * c], want[2 * c + 1]);
    assert_true(vgc_net_layer(net, 2)->q8->crs && vgc_net_layer(net, 2)->q8->fed);
    assert_true(vgc_net_layer(net, 5)->q8->fed && vgc_net_layer(net, 7)->q8->fed);
    vgc_net_destroy(net);
    /* a restart reads the cache */
    net = load(fuse_cfg, VGC_PREC_INT8, VGC_Q8_REF + 1, 0, 0, NULL);
    assert_int_equal(vgc_q8_calibrate(net, dir, cache, NULL, NULL, note, sizeof note, err, sizeof err), 0);
    printf("# %s\n", note);
    assert_string_equal(note, "int8 ranges from the cache (3 tensors)");
    vgc_q8_chan_ranges(net, ch);
    assert_memory_equal(ch, got, sizeof got);
    assert_true(vgc_net_layer(net, 2)->q8->fed);
    vgc_net_destroy(net);
    /* the same cache made version 1 (as an older build wrote it): refused by its version, redone */
    assert_non_null(fp = fopen(cache, "r+b"));
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    size = ftell(fp);
    assert_non_null(buf = malloc((size_t)size));
    rewind(fp);
    assert_int_equal(fread(buf, 1, (size_t)size, fp), (size_t)size);
    buf[8] = 1;
    rewind(fp);
    assert_int_equal(fwrite(buf, 1, (size_t)size, fp), (size_t)size);
    fclose(fp);
    free(buf);
    net = load(fuse_cfg, VGC_PREC_INT8, VGC_Q8_REF + 1, 0, 0, NULL);
    assert_int_equal(vgc_q8_calibrate(net, dir, cache, NULL, NULL, note, sizeof note, err, sizeof err), 0);
    printf("# %s\n", note);
    assert_non_null(strstr(note, "calibrated on 3 tensors"));
    assert_non_null(strstr(note, "version 1"));
    assert_non_null(strstr(note, "cache written"));
    vgc_q8_chan_ranges(net, ch);
    assert_memory_equal(ch, got, sizeof got);
    vgc_net_destroy(net);
    load_dw_static = 0;
    net = load(fuse_cfg, VGC_PREC_INT8, VGC_Q8_REF + 1, 0, 0, NULL);
    assert_int_equal(vgc_q8_calibrate(net, dir, cache, NULL, NULL, note, sizeof note, err, sizeof err), 0);
    assert_string_equal(note, "int8 ranges from the cache (3 tensors)");
    assert_false(vgc_net_layer(net, 2)->q8->crs || vgc_net_layer(net, 2)->q8->fed || vgc_net_layer(net, 1)->q8->feed);
    assert_true(vgc_net_layer(net, 2)->q8->feed);       /* its output still takes layer 3's static range */
    vgc_net_destroy(net);
    vgc_net_destroy(dyn);
    for (int t = 0; t < 3; t++) {
        char path[512];

        snprintf(path, sizeof path, "%s/%c.f32", dir, 'a' + t);
        unlink(path);
    }
    unlink(cache);
    rmdir(dir);
    free(x);
}


/*
 * Depthwise blocks (q8_blocks = 3): expansion 1x1 (16 channels, under the
 * 64 of int8_min_channels) -> depthwise -> linear projection, twice, the
 * first one inside a shortcut. The 1x1 layers are quantized but run int8
 * only with static ranges: dynamic, the network computes what it computes
 * without the rule (fp32 there, bit for bit); static (each input channel
 * its own range, folded into the 1x1 layers' weights: vgc_q8_fold), the
 * u8 path runs expansion -> depthwise -> projection and equals the float
 * path between them, and stays within 0.5 % (rms) of fp32 (1 % with the
 * 7-bit avx2 weights).
 */
static const char block_cfg[] =
    "[net]\nwidth=37\nheight=33\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 0 fp32 */
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=1\nstride=1\npad=1\nactivation=leaky\n"  /* 1 expand */
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=3\ngroups=32\nstride=1\npad=1\nactivation=leaky\n" /* 2 */
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=1\nstride=1\npad=1\nactivation=linear\n"  /* 3 project */
    "[shortcut]\nfrom=-4\nactivation=linear\n"                                                       /* 4 */
    "[convolutional]\nbatch_normalize=1\nfilters=48\nsize=1\nstride=1\npad=1\nactivation=leaky\n"  /* 5 expand */
    "[convolutional]\nbatch_normalize=1\nfilters=48\nsize=5\ngroups=48\nstride=2\npad=2\nactivation=leaky\n" /* 6 */
    "[convolutional]\nbatch_normalize=1\nfilters=24\nsize=1\nstride=1\npad=1\nactivation=linear\n"  /* 7 project */
    "[convolutional]\nfilters=14\nsize=1\nstride=1\npad=1\nactivation=linear\n"                     /* 8 head */
    "[yolo]\nmask=0,1\nanchors=4,5, 8,9\nclasses=2\nnum=2\n";                                       /* 9 */
#define BLOCK_LAYERS 10


static void test_blocks(void **state)
{
    const int kind = (int)(intptr_t)*state;
    const size_t n = 3 * 37 * 33;
    float *x = malloc(n * sizeof *x), ranges[2 * BLOCK_LAYERS], chan[2 * (16 + 32 + 32 + 16 + 48 + 48)];
    vgc_net *f32, *plain0, *dyn, *fused, *nofuse;
    char err[VIGIA_ERRLEN];
    const char *note;
    static const int feed[BLOCK_LAYERS] = { 0, 1, 1, 0, 0, 1, 1, 0, 0, 0 };
    const vgc_layer *head;
    double maxd = 0, num = 0, den = 0;

    assert_non_null(x);
    fill(x, n);
    load_min_channels = 64;
    f32 = load(block_cfg, VGC_PREC_FP32, 0, 1, 0, NULL);
    plain0 = load(block_cfg, VGC_PREC_INT8, kind + 1, 1, 0, NULL);
    load_blocks = 3;
    dyn = load(block_cfg, VGC_PREC_INT8, kind + 1, 1, 0, NULL);
    vgc_net_precision(dyn, &note);
    printf("# dynamic: %s\n", note);
    assert_non_null(strstr(note, "2 of 8 convolutions"));
    for (int i = 1; i <= 7; i++)
        if ((vgc_net_layer(dyn, i)->q8 != NULL) != (i != 4))
            fail_msg("layer %d: int8 %d", i, vgc_net_layer(dyn, i)->q8 != NULL);
    assert_int_equal(vgc_net_forward(dyn, x, 1, err, sizeof err), 0);
    assert_int_equal(vgc_net_forward(plain0, x, 1, err, sizeof err), 0);
    assert_memory_equal(vgc_net_output(dyn, BLOCK_LAYERS - 1, 0), vgc_net_output(plain0, BLOCK_LAYERS - 1, 0),
                        vgc_net_layer(dyn, BLOCK_LAYERS - 1)->out_size * sizeof(float));
    q8u_ranges_measure(dyn, ranges, chan, 1.1f);
    fused = load_ch(block_cfg, VGC_PREC_INT8, kind + 1, 0, 0, ranges, chan);
    nofuse = load_ch(block_cfg, VGC_PREC_INT8, kind + 1, 0, 1, ranges, chan);
    vgc_net_precision(fused, &note);
    printf("# static: %s\n", note);
    assert_non_null(strstr(note, "6 of 8 convolutions"));
    for (int i = 0; i < BLOCK_LAYERS; i++) {
        const vgc_q8_layer *q = vgc_net_layer(fused, i)->q8;

        if (q && q->feed != feed[i])
            fail_msg("layer %d: feed %d, planned %d", i, q->feed, feed[i]);
    }
    assert_int_equal(vgc_net_forward(fused, x, 1, err, sizeof err), 0);
    assert_int_equal(vgc_net_forward(nofuse, x, 1, err, sizeof err), 0);
    assert_int_equal(vgc_net_forward(f32, x, 1, err, sizeof err), 0);
    head = vgc_net_layer(fused, BLOCK_LAYERS - 1);
    {
        const float *yf = vgc_net_output(fused, BLOCK_LAYERS - 1, 0), *yp = vgc_net_output(nofuse, BLOCK_LAYERS - 1, 0);
        const float *y32 = vgc_net_output(f32, BLOCK_LAYERS - 1, 0);

        for (size_t i = 0; i < head->out_size; i++) {
            maxd = fabs((double)yf[i] - yp[i]) > maxd ? fabs((double)yf[i] - yp[i]) : maxd;
            num += ((double)yf[i] - y32[i]) * ((double)yf[i] - y32[i]);
            den += (double)y32[i] * y32[i];
        }
    }
    printf("# kind %d: blocks in int8, fed vs float between layers: max |diff| %g; %.3f%% rms off fp32\n", kind, maxd,
           100 * sqrt(num / den));
    assert_true(maxd == 0);
    assert_true(sqrt(num / den) < (kind == VGC_Q8_AVX2 ? 0.01 : 0.005));
    load_min_channels = 16;
    load_blocks = 0;
    vgc_net_destroy(f32);
    vgc_net_destroy(plain0);
    vgc_net_destroy(dyn);
    vgc_net_destroy(fused);
    vgc_net_destroy(nofuse);
    free(x);
}


static void skipped(void **state)
{
    (void)state;
    skip();
}


/* The scalar form of q8.c's quantize pass: the bytes every SIMD form must give. */
static uint8_t quant_scalar(float x, float inv, float zp)
{
    float t = x * inv;

    t = t + zp;
    t = t < 0.0f ? 0.0f : t > 255.0f ? 255.0f : t;
    return (uint8_t)(int)t;
}


static void test_passes512(void **state)
{
    static const int ws[] = { 1, 3, 10, 16, 20, 40, 61, 62, 80, 161 }, hs[] = { 1, 2, 7, 40, 103 };
    const float inv = 37.3f, zp = 101.5f;
    const size_t most = 161 * 103, most_plane = (161 + 4) * (103 + 4) + 64;
    float *x = malloc(most * sizeof *x);
    uint8_t *q = malloc(most_plane), *want = malloc(most_plane);
    int16_t *q16 = malloc(most_plane * sizeof *q16);

    (void)state;
    assert_true(x && q && want && q16);
    for (size_t i = 0; i < most; i++)   /* past both ends of the range too, and exact halves */
        x[i] = i % 11 == 0 ? (float)((int)(i % 23) - 11) / inv : ((float)(next() % 20001) / 10000.0f - 1.0f) * 5.0f;
    for (size_t n = 1; n <= 300; n += n < 70 ? 1 : 37) {
        memset(q, 0xee, n + 64);
        vgc_q8_quantize512(x, n, inv, zp, q);
        for (size_t i = 0; i < n; i++)
            if (q[i] != quant_scalar(x[i], inv, zp))
                fail_msg("run of %zu [%zu]: %d, scalar %d", n, i, q[i], quant_scalar(x[i], inv, zp));
        assert_int_equal(q[n], 0xee);   /* nothing past the run */
    }
    for (size_t wi = 0; wi < sizeof ws / sizeof ws[0]; wi++)
        for (size_t hi = 0; hi < sizeof hs / sizeof hs[0]; hi++)
            for (int pad = 0; pad <= 2; pad++) {
                const int w = ws[wi], h = hs[hi];
                const size_t wp = (size_t)w + 2 * pad, bytes = wp * (size_t)(h + 2 * pad);

                memset(want, 77, bytes);
                for (int y = 0; y < h; y++)
                    for (int c = 0; c < w; c++)
                        want[(size_t)(y + pad) * wp + pad + c] = quant_scalar(x[(size_t)y * w + c], inv, zp);
                if (wp <= 64) {
                    memset(q, 0xee, bytes + 64);
                    vgc_q8_quantize_plane512(x, w, h, pad, inv, zp, 77, q);
                    assert_memory_equal(q, want, bytes);
                    assert_int_equal(q[bytes], 0xee);
                }
                /* the s16 form: the same values, any width */
                for (size_t i = 0; i < bytes + 32; i++)
                    q16[i] = -1;
                vgc_q8_quantize_plane16_512(x, w, h, pad, inv, zp, 77, q16);
                for (size_t i = 0; i < bytes; i++)
                    if (q16[i] != want[i])
                        fail_msg("s16 plane %dx%d pad %d [%zu]: %d, scalar %d", w, h, pad, i, q16[i], want[i]);
                assert_int_equal(q16[bytes], -1);
            }
    free(q16);
    free(x);
    free(q);
    free(want);
}


int main(void)
{
    static struct CMUnitTest tests[24];
    static char names[24][256];
    static const char *const knames[] = { "ref", "avx2", "vnni", "amx" };
    int n = 0;
    char why[160] = "";
    vgc_q8_dw_fn vbmi;
    const vgc_q8_kernels *vn = vgc_q8_pick(VGC_Q8_VNNI, VGC_Q8_VNNI, why, sizeof why);

    tests[n++] = (struct CMUnitTest){ "dw_reference", test_reference, NULL, NULL, NULL };
    tests[n++] = (struct CMUnitTest){ "dw_calibration", test_calibration, NULL, NULL, NULL };
    snprintf(names[n], sizeof names[0], "dw_passes512%s", vgc_simd_detect() >= VGC_SIMD_AVX512 ? "" :
             " # SKIP the cpu has no avx512 (f, bw)");
    tests[n] = (struct CMUnitTest){ names[n], vgc_simd_detect() >= VGC_SIMD_AVX512 ? test_passes512 : skipped,
                                    NULL, NULL, NULL };
    n++;
    vbmi = vn ? vgc_q8_dw_pick(vn, why, sizeof why) : NULL;
    tests[n++] = (struct CMUnitTest){ "dw_reference_s16", test_kernel, NULL, NULL, (void *)ref16_on_u8 };
    {
        const int s16 = vgc_q8_usable(VGC_Q8_VNNI, why, sizeof why);

        snprintf(names[n], sizeof names[0], "dw_s16_vnni%s%s", s16 ? "" : " # SKIP ", s16 ? "" : why);
        tests[n] = (struct CMUnitTest){ names[n], s16 ? test_kernel : skipped, NULL, NULL, (void *)dw16_on_u8 };
        n++;
    }
    snprintf(names[n], sizeof names[0], "dw_vbmi%s%s", vbmi ? "" : " # SKIP ", vbmi ? "" : why);
    tests[n] = (struct CMUnitTest){ names[n], vbmi ? test_kernel : skipped, NULL, NULL, (void *)vbmi };
    n++;
    {
        const int avx2 = vgc_q8_usable(VGC_Q8_AVX2, why, sizeof why);

        snprintf(names[n], sizeof names[0], "dw_avx2%s%s", avx2 ? "" : " # SKIP ", avx2 ? "" : why);
        tests[n] = (struct CMUnitTest){ names[n], avx2 ? test_kernel : skipped, NULL, NULL, (void *)vgc_q8_dw_avx2 };
        n++;
    }
    /* whole networks with the kernels each int8 kind runs (ref: the scalar depthwise one) */
    for (int kind = VGC_Q8_REF; kind <= VGC_Q8_AMX; kind++) {
        const vgc_q8_kernels *k = vgc_q8_pick(kind, kind, why, sizeof why);
        vgc_q8_dw_fn dw = k ? vgc_q8_dw_pick(k, why, sizeof why) : NULL;

        for (int t = 0; t < 3; t++) {
            static const char *const tn[] = { "network", "fused", "blocks" };
            static void (*const tf[])(void **) = { test_network, test_fused, test_blocks };

            snprintf(names[n], sizeof names[0], "%s_%s%s%s", tn[t], knames[kind], dw ? "" : " # SKIP ", dw ? "" : why);
            tests[n] = (struct CMUnitTest){ names[n], !dw ? skipped : tf[t], NULL, NULL, (void *)(intptr_t)kind };
            n++;
        }
    }
    return _cmocka_run_group_tests("q8_dw", tests, (size_t)n, NULL, NULL);
}
