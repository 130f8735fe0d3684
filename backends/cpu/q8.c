/*
 * backends/cpu/q8.c: int8 convolutions (q8.h): which kernel runs here, the
 * weights' quantization at load, and the forward pass of an int8 layer
 * (input quantized to u8 once per layer, packed a band of output positions
 * at a time, one GEMM with the fused epilogue per band).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "q8.h"
#include "q8_first.h"
#include "q16.h"

/*
 * Bytes of packed activations a task aims for (a band of output positions):
 * about half an L2, so that a layer with many weights and few positions
 * (13x13) reads its weights once, not once per small band.
 */
#define BAND_TARGET_BYTES ((size_t)1 << 20)
/* A pooled layer's band of floats (pools_in_band). */
#define POOL_BAND_BYTES ((size_t)256 << 10)
/* Linux: ask for a dynamically enabled state component (asm/prctl.h), and AMX's (XTILEDATA). */
#define VGC_ARCH_REQ_XCOMP_PERM 0x1023
#define VGC_XFEATURE_XTILEDATA 18

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

/* ---- which kernel ---------------------------------------------------------------- */

#if defined(__x86_64__)
static int cpuid_bit(unsigned leaf, unsigned sub, int reg, int bit)
{
    unsigned r[4] = { 0 };

    if (!__get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3]))
        return 0;
    return (int)(r[reg] >> bit) & 1;
}


/* XCR0: which register states the OS saves (bit 17/18: AMX tile config/data). */
static unsigned long long xcr0(void)
{
    unsigned lo, hi;

    if (!cpuid_bit(1, 0, 2, 27))      /* OSXSAVE */
        return 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (unsigned long long)hi << 32 | lo;
}
#endif


int vgc_q8_usable(int kind, char *why, size_t whylen)
{
#if defined(__x86_64__) && defined(__GNUC__)
    static int amx_state = 0;         /* 0 not asked, 1 granted, -1 refused */

    __builtin_cpu_init();
    switch (kind) {
    case VGC_Q8_REF:
        return 1;
    case VGC_Q8_AVX2:
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            return 1;
        snprintf(why, whylen, "the cpu has no avx2");
        return 0;
    case VGC_Q8_VNNI:
        if (vgc_simd_detect() >= VGC_SIMD_AVX512 && cpuid_bit(7, 0, 2, 11))
            return 1;
        snprintf(why, whylen, "the cpu has no avx512_vnni");
        return 0;
    case VGC_Q8_AMX:
        if (!cpuid_bit(7, 0, 3, 24) || !cpuid_bit(7, 0, 3, 25) || vgc_simd_detect() < VGC_SIMD_AVX512) {
            snprintf(why, whylen, "the cpu has no amx_int8");
            return 0;
        }
        if ((xcr0() & (3ull << 17)) != (3ull << 17)) {
            snprintf(why, whylen, "the os does not enable the amx tile state (xcr0)");
            return 0;
        }
        if (amx_state == 0)
            amx_state = syscall(SYS_arch_prctl, VGC_ARCH_REQ_XCOMP_PERM, VGC_XFEATURE_XTILEDATA) == 0 ? 1 : -1;
        if (amx_state > 0)
            return 1;
        snprintf(why, whylen, "linux refused the amx tile state (arch_prctl ARCH_REQ_XCOMP_PERM)");
        return 0;
    case VGC_BF16_REF:
        return 1;
    case VGC_BF16_AVX512:
        if (vgc_simd_detect() >= VGC_SIMD_AVX512 && cpuid_bit(7, 1, 0, 5))
            return 1;
        snprintf(why, whylen, "the cpu has no avx512_bf16");
        return 0;
    case VGC_BF16_AMX:
        if (!cpuid_bit(7, 0, 3, 22)) {
            snprintf(why, whylen, "the cpu has no amx_bf16");
            return 0;
        }
        return vgc_q8_usable(VGC_Q8_AMX, why, whylen);   /* the tiles, and Linux's leave */
    }
#endif
    if (kind == VGC_Q8_REF || kind == VGC_BF16_REF)
        return 1;
    snprintf(why, whylen, "not an x86-64 build");
    return 0;
}


const vgc_q8_kernels *vgc_q8_pick(int kind, int lowest, char *why, size_t whylen)
{
    static const vgc_q8_kernels *const all[VGC_Q8_KINDS] = {
        &vgc_q8_ref, &vgc_q8_avx2, &vgc_q8_vnni, &vgc_q8_amx, &vgc_bf16_ref, &vgc_bf16_avx512, &vgc_bf16_amx,
    };
    int first = 1;

    if (why && whylen)
        why[0] = '\0';
    if (kind < 0 || kind >= VGC_Q8_KINDS || lowest < 0 || lowest > kind)
        return NULL;
    for (; kind >= lowest; kind--) {
        char r[128];

        if (all[kind]->gemm && vgc_q8_usable(kind, r, sizeof r))
            return all[kind];
        /* the first refusal is the one worth telling */
        if (first && why && whylen)
            snprintf(why, whylen, "no %s: %s", all[kind]->name, all[kind]->gemm ? r : "not built");
        first = 0;
    }
    return NULL;
}

vgc_q8_dw_fn vgc_q8_dw_pick(const vgc_q8_kernels *k, char *why, size_t whylen)
{
    if (why && whylen)
        why[0] = '\0';
    if (!k || k->bf16)
        return NULL;
    if (k->kind == VGC_Q8_REF)
        return vgc_q8_dw_ref;
#if defined(__x86_64__) && defined(__GNUC__)
    if ((k->kind == VGC_Q8_VNNI || k->kind == VGC_Q8_AMX) && cpuid_bit(7, 0, 2, 1) && cpuid_bit(7, 0, 1, 8))
        return vgc_q8_dw_vbmi;        /* AVX512_VBMI (vpermb) and BMI2 (pdep); VNNI: the GEMM kernel needs it */
    if (k->kind >= VGC_Q8_AVX2 && k->kind <= VGC_Q8_AMX)
        return vgc_q8_dw_avx2;        /* the GEMM kernel's own checks imply AVX2 */
#endif
    if (why && whylen)
        snprintf(why, whylen, "no int8 depthwise kernel for %s", k->name);
    return NULL;
}

/*
 * The s16-input form of the depthwise kernel that goes with GEMM kernels k
 * (q8_dw16.c: AVX-512 VNNI, which the vnni and amx kernels imply), or NULL.
 */
static vgc_q8_dw_fn dw16_pick(const vgc_q8_kernels *k)
{
    return k && (k->kind == VGC_Q8_VNNI || k->kind == VGC_Q8_AMX) && cpuid_bit(7, 0, 1, 8) ? vgc_q8_dw16_512 : NULL;
}

/*
 * Whether depthwise layer l's input goes to the s16-input kernel (planes
 * quantized as s16) rather than the u8 one: stride 1, 5x5 and larger, 16
 * outputs wide or more (q8_dw16.c: where it measured faster), rows the
 * s16 quantize pass takes (4096).
 */
static int dw16_runs(const vgc_q8_net *qn, const vgc_layer *l)
{
    return qn->dw16 && l->stride == 1 && l->size >= 5 && l->out_w >= 16 && l->w <= 4096;
}

/* ---- load ---------------------------------------------------------------------------- */

/*
 * The quantize and range passes on AVX-512 (q8_quant512.c) where the CPU
 * has it: set at every prepare and begin (the same value each time).
 */
static int use512;

static void passes_pick(void)
{
    use512 = vgc_simd_detect() >= VGC_SIMD_AVX512;
}


/*
 * Whether layer i runs in int8. Measured on the shipped models
 * (tests/cpu/test_int8_accuracy.py, docs/engine.md), these stay fp32:
 * - the first layer (3 input channels: little work, the image itself);
 * - the heads: the convolution whose output a [yolo] layer reads (its
 *   outputs are the boxes and scores; keeping the whole chain of
 *   convolutions before it fp32 too changed nothing measurable);
 * - linear convolutions (the projections of inverted residual blocks:
 *   their error goes straight into a shortcut sum and accumulates);
 * - convolutions of fewer than 64 terms per output (q8_min_channels: input channels
 *   times the kernel's area; few terms per output: the relative error is largest, the
 *   work smallest; on the shipped models the 1x1 layers of 16-48 channels).
 * Depthwise convolutions (groups == channels == filters) run int8 with
 * their own kernel (vgc_q8_dw) where one exists for the GEMM kernels
 * (net->q8_dw), under the same rules but the channel count (each output
 * sums size x size taps of one channel, whatever the count); other grouped
 * convolutions stay fp32.
 */
/*
 * The rules a convolution's own shape decides (for a graph's convolutions,
 * vgc_q8_attach, all of them): int8 needs groups 1, an activation and
 * q8_min_channels terms per output, or a depthwise layer with an activation
 * and a depthwise kernel here; bf16 keeps float's range and takes every
 * plain convolution but one reading the image itself (3 channels).
 */
/*
 * The largest input plane of an int8 depthwise layer. Its int8 form makes
 * three passes over each input channel (range, quantize, the kernel, whose
 * vpdpwssd takes 2 taps where an FMA takes 1): on yolo-fastest-1.1-xl's
 * 160x160 planes that was slower than the fp32 kernel (1.67 against 1.45
 * ms for its three layers, VGC_PROFILE on the Xeon), on 80x80 even, on
 * 40x40 and smaller faster (10x10: 0.5 against 1.0 ms). With the faster
 * quantize pass and fed 1x1 layers (q16.h) its two stride-1 160x160 layers
 * took 0.10-0.14 ms less each in int8, but int8 there cost
 * test_int8_accuracy.py a detection beyond its 0.05 rule (xl, both int8 runs)
 * and the ONNX graph's recall fell to 0.976: they stay fp32. Measured again
 * with their ranges from the expansion's GEMM: u8 as fast and as far off;
 * s16 planes of 12 bits through the s16-plane kernel as accurate as fp32
 * but no faster (docs/engine.md).
 */
#define Q8_DW_MAX_PLANE ((size_t)80 * 80)

static int is_dw(const vgc_layer *l)
{
    return l->groups > 1 && l->groups == l->c && l->filters == l->c;
}


static int layer_eligible(const vgc_net *net, const vgc_layer *l)
{
    if (l->type == VGC_L_CONV && is_dw(l))
        return net->precision == VGC_PREC_INT8 && net->q8_dw && l->act != VGC_ACT_LINEAR &&
               (size_t)l->w * l->h <= Q8_DW_MAX_PLANE;
    if (l->type != VGC_L_CONV || l->groups != 1)
        return 0;
    if (net->precision == VGC_PREC_BF16)
        return l->c > 3;
    return l->act != VGC_ACT_LINEAR && l->c * l->size * l->size >= net->q8_min_channels;
}


/*
 * A 1x1 convolution of a depthwise block that the rules above leave fp32
 * (fewer input channels, or linear): the expansion, read by an int8
 * depthwise layer next (net->q8_blocks & 1), the projection, reading one
 * (& 2). In int8 only with a static range (needstatic): then u8 goes
 * expansion -> depthwise -> projection where nothing else reads the
 * tensors between them (vgc_q8_plan).
 */
static int block_layer(const vgc_net *net, int i)
{
    const vgc_layer *l = &net->layers[i], *nx = i + 1 < net->n ? l + 1 : NULL, *pv = i > 0 ? l - 1 : NULL;

    if (net->precision != VGC_PREC_INT8 || !net->q8_blocks || l->type != VGC_L_CONV || l->groups != 1 ||
        l->size != 1 || l->stride != 1 || l->c <= 3)
        return 0;
    if ((net->q8_blocks & 1) && l->act != VGC_ACT_LINEAR && nx && nx->type == VGC_L_CONV && is_dw(nx) &&
        layer_eligible(net, nx))
        return 1;
    return (net->q8_blocks & 2) && pv && pv->type == VGC_L_CONV && is_dw(pv) && layer_eligible(net, pv);
}


/*
 * An int8 network's yolo head input convolution, which runs bf16 where
 * net->q8_wide is set (AMX-BF16 beside AMX): in int8 it lost detections (recall
 * 0.907 on yolo-fastest-1.1), in bf16 the accuracy test's figures are
 * those of fp32 heads (docs/engine.md), and it is most of the work that
 * int8 left fp32 (yolov3-tiny: 1 ms).
 */
static int wide_layer(const vgc_net *net, int i)
{
    const vgc_layer *l = &net->layers[i];

    return net->precision == VGC_PREC_INT8 && net->q8_wide && i > 0 && i + 1 < net->n &&
           net->layers[i + 1].type == VGC_L_YOLO && l->type == VGC_L_CONV && l->groups == 1 && l->c > 3;
}


/* A cfg network's layer i: those rules, and never the first layer nor (in int8) a yolo head's input. */
int vgc_q8_eligible(const vgc_net *net, int i)
{
    const vgc_layer *l = &net->layers[i];

    if (wide_layer(net, i))
        return 1;
    if (i == 0 || (i + 1 < net->n && net->layers[i + 1].type == VGC_L_YOLO))
        return 0;
    return layer_eligible(net, l) || block_layer(net, i);
}


static void free_layer(vgc_q8_layer *q)
{
    if (!q)
        return;
    free(q->a);
    free(q->wscale);
    free(q->wsum);
    free(q->cr);
    free(q->fcomp);
    free(q->px4w);
    free(q);
}


static int is_padded(const vgc_layer *l);

/*
 * Whether layer l runs as a direct convolution with kernels kern (q8.h's
 * vgc_q8_gemm taps): a padded int8 layer (stride 1, "same" padding) whose
 * channels come in groups of 4, its GEMM reading the channel-blocked input
 * planes in place where the packed form copies each input byte once per
 * tap into the band (9 times for 3x3). AMX steps through a tap's channels
 * a tile (64) at a time, or all of them in one smaller tile.
 *
 * AMX and the reference (tests) have the form; by default only AMX runs
 * it: there it gained on every layer of yolov3-tiny (VGC_PROFILE, two
 * runs: 6.6 -> 5.7 and 7.0 -> 6.2 ms a frame). With VNNI the frame took
 * the same time (13.4-13.8 ms either way: the larger layers a little
 * faster, the 13x13 ones slower by the columns computed past each row, 195
 * for 169), and the tap walk in the AVX-512 kernels cost their packed GEMM
 * 1-3 % (bench/engines/q8_peak), so VNNI and AVX2 have no direct form.
 */
static int direct_layer(const vgc_net *net, const vgc_layer *l, const vgc_q8_kernels *kern)
{
    if (net->q8_direct < 0 || (net->q8_direct == 0 && kern->kind != VGC_Q8_AMX))
        return 0;
    if (!kern->direct || kern->bf16 || is_dw(l) || l->groups != 1 || !is_padded(l) || l->c % 4 != 0)
        return 0;
    return kern->kind != VGC_Q8_AMX || l->c % 64 == 0 || l->c < 64;
}


static int quantize_layer(const vgc_net *net, vgc_layer *l, const vgc_q8_kernels *kern, vgc_q8_layer **out)
{
    vgc_q8_layer *q = calloc(1, sizeof *q);
    const int k = (int)(l->nweights / (size_t)l->filters), dw = is_dw(l);
    const int wmax = dw ? VGC_Q8_DW_WMAX : kern->wmax;
    const size_t e = kern->bf16 || dw ? 2 : 1;     /* bf16, or a depthwise layer's s16 */

    *out = NULL;
    if (!q)
        return -1;
    q->kern = kern;
    q->m = l->filters;
    q->k = k;
    q->dw = dw;
    /* AMX steps through k 64 bytes a tile; the others 4 bytes a group (yolov3-tiny's k = 144: 144, not 192) */
    q->kp = q->dw ? k : (int)round_up((size_t)k, kern->kind == VGC_Q8_AMX || kern->kind == VGC_BF16_AMX ? 64 : 4);
    if (direct_layer(net, l, kern)) {
        q->taps = l->size * l->size;
        q->kp = q->taps * l->c;
    }
    q->mp = q->dw ? q->m : (int)round_up((size_t)q->m, 32);
    q->a = aligned_alloc(64, round_up((size_t)q->mp * q->kp * e, 64));
    q->wscale = malloc((size_t)q->m * sizeof *q->wscale);
    q->wsum = malloc((size_t)q->m * sizeof *q->wsum);
    q->ncr = dw ? q->m : 0;
    q->cr = dw ? calloc(2 * (size_t)q->m, sizeof *q->cr) : NULL;
    if (!q->a || !q->wscale || !q->wsum || (dw && !q->cr)) {
        free_layer(q);
        return -1;
    }
    memset(q->a, 0, (size_t)q->mp * q->kp * e);
    for (int f = 0; kern->bf16 && f < q->m; f++) {
        uint16_t *row = (uint16_t *)(void *)q->a + (size_t)f * q->kp;

        for (int i = 0; i < k; i++)
            row[i] = vgc_bf16_from(vgc_layer_weight(net, l, f, i));
        q->wscale[f] = 1.0f;
        q->wsum[f] = 0;
    }
    for (int f = 0; !kern->bf16 && f < q->m; f++) {
        float amax = 0;
        int32_t sum = 0;
        float inv;

        for (int i = 0; i < k; i++) {
            float w = fabsf(vgc_layer_weight(net, l, f, i));

            amax = w > amax ? w : amax;
        }
        q->wscale[f] = amax > 0 ? amax / (float)wmax : 1.0f;
        inv = 1.0f / q->wscale[f];
        for (int i = 0; i < k; i++) {
            long v = lrintf(vgc_layer_weight(net, l, f, i) * inv);

            v = v > wmax ? wmax : v < -wmax ? -wmax : v;
            if (dw)
                ((int16_t *)(void *)q->a)[(size_t)f * q->kp + i] = (int16_t)v;
            else
                q->a[(size_t)f * q->kp + vgc_q8_col(q, i)] = (int8_t)v;
            sum += (int32_t)v;
        }
        q->wsum[f] = sum;
    }
    *out = q;
    return 0;
}


/*
 * Stride 1 with "same" padding: the input is quantized into zero-point
 * padded planes (an extra row below), and the GEMM runs over the padded
 * width: output position (y, x) is column y*wp + x, and the im2col row of
 * tap (ky, kx) is the padded plane itself shifted by ky*wp + kx, so packing
 * copies nothing but the interleave. The wp - ow columns past each output
 * row are computed and dropped. A depthwise layer's input is padded the
 * same way whatever its stride (its kernel reads the padded plane).
 */
static int is_padded(const vgc_layer *l)
{
    return is_dw(l) || (l->stride == 1 && l->size > 1 && 2 * l->pad == l->size - 1);
}


/* Bytes of one quantized input plane of layer l, and the GEMM's columns. */
static size_t plane_bytes(const vgc_layer *l)
{
    return is_padded(l) ? (size_t)(l->w + 2 * l->pad) * (size_t)(l->h + 2 * l->pad + 1) : (size_t)l->w * l->h;
}


/* Bytes of one element of the layer's reduced form: 1 (int8) or 2 (bf16). */
static size_t esize(const vgc_q8_layer *q)
{
    return q->kern->bf16 ? 2 : 1;
}


/* The columns of a row of the GEMM's output: out_w, or a direct layer's padded width (is_padded). */
static size_t gemm_pitch(const vgc_layer *l)
{
    return l->q8 && l->q8->taps ? (size_t)l->w + 2 * (size_t)l->pad : (size_t)l->out_w;
}


/* The GEMM's columns: the output positions, or a direct layer's over the padded width. */
static size_t gemm_cols(const vgc_layer *l)
{
    return (size_t)l->out_h * gemm_pitch(l);
}


/*
 * Columns of one band of layer l's output positions: a multiple of 32, or
 * with the maxpool in its bands (q->pool2) of two output rows.
 */
static int band_cols(const vgc_net *net, const vgc_layer *l, const vgc_q8_layer *q)
{
    const size_t hw = gemm_cols(l), pair = 2 * (size_t)l->out_w;
    size_t cols = BAND_TARGET_BYTES / ((size_t)q->kp * esize(q));
    size_t per = (hw + (size_t)net->threads - 1) / (size_t)net->threads;

    if (net->threads > 1 && per < cols)
        cols = per;
    if (q->pool2) {
        /* and the band's floats, which the pool reads back, within POOL_BAND_BYTES (L2) */
        if (cols > POOL_BAND_BYTES / sizeof(float) / (size_t)q->m)
            cols = POOL_BAND_BYTES / sizeof(float) / (size_t)q->m;
        cols = cols < pair ? pair : cols / pair * pair;
        return (int)(cols < hw ? cols : hw);
    }
    cols = round_up(cols < 32 ? 32 : cols, 32);
    if (cols > round_up(hw, 32))
        cols = round_up(hw, 32);
    return (int)cols;
}


/*
 * Whether int8 layer i runs the maxpool after it in its bands when its
 * output is float (dynamic ranges; static ones feed a u8 maxpool instead,
 * vgc_q8_plan): a 2x2 stride-2 pool of an even output, the only reader.
 * The GEMM writes a band of whole pairs of rows into the band's buffer
 * (in L2) and the pool reads it there: yolov3-tiny's 208x208 layer wrote
 * 5.5 MB of floats that the maxpool read back.
 */
static int pools_in_band(const vgc_net *net, int i)
{
    const vgc_layer *l = &net->layers[i], *p = i + 1 < net->n ? l + 1 : NULL;
    const vgc_q8_layer *q = l->q8;

    return p && q && !q->dw && !q->taps && !q->needstatic && q->kern == net->q8->k && !q->kern->bf16 &&
           l->last_use == i + 1 && p->type == VGC_L_MAXPOOL && p->alias < 0 && p->size == 2 && p->stride == 2 &&
           -p->pad / 2 == 0 && l->out_w % 2 == 0 && l->out_h % 2 == 0 && p->out_w == l->out_w / 2 &&
           p->out_h == l->out_h / 2 && p->c == l->out_c;
}


/*
 * The px4 form (dynamic ranges, a float input and output): a 3x3 stride-1
 * layer of 4k input channels on planes at least PX4_MIN_WIDTH wide runs
 * without packing: each input row quantized (the quantize pass's bytes)
 * and interleaved into rows of 4-channel pixels, a group of 4 channels a
 * row, zero-point padded, and q8_first.h's row kernel takes a pass a
 * group, a tap of 16 outputs one read of a row, the weights broadcast from
 * memory, the pool (pools_in_band) on the sums: the sums, the epilogue and
 * the pool are the GEMM's, so are the floats. yolov3-tiny's 208x208 layer
 * (16 channels, K = 144) spent more on its packing, quantize pass and
 * pool than on its GEMM.
 */
#define PX4_MIN_WIDTH 48

static size_t px4_row_dwords(int w)
{
    return round_up((size_t)w + 2 + VGC_Q8_FIRST_SLACK, 16);
}


static int px4_layer(const vgc_net *net, const vgc_layer *l, const vgc_q8_layer *q)
{
    return net->q8_px4 >= 0 && (q->kern->kind == VGC_Q8_VNNI || q->kern->kind == VGC_Q8_REF) &&
           q->kern == net->q8->k && !q->dw && !q->taps && !q->needstatic && l->size == 3 && l->stride == 1 &&
           l->pad == 1 && l->groups == 1 && l->c % 4 == 0 && l->out_w >= PX4_MIN_WIDTH && l->out_w == l->w &&
           (l->act == VGC_ACT_LEAKY || l->act == VGC_ACT_LINEAR);
}


/* Bytes of a thread's scratch for the px4 form: 4 rows and a padding row of the groups, the pool's sums, the
   quantized channel rows of one input row. */
static size_t px4_scratch(const vgc_layer *l)
{
    return (5 * (size_t)(l->c / 4) * px4_row_dwords(l->w) + 16 * round_up((size_t)l->out_w, 32)) * 4 +
           (size_t)l->c * (size_t)l->w + 64;
}


/* The px4 form's weights from the layer's s8 ones: [m / 16][group][tap][m % 16], 4 channels' bytes. */
static int px4_make(vgc_q8_layer *q, const vgc_layer *l)
{
    const int groups = l->c / 4;
    const size_t n = vgc_q8_first_words(q->m, groups);

    if (!(q->px4w = calloc(n, sizeof *q->px4w)))
        return -1;
    for (int m = 0; m < q->m; m++)
        for (int g = 0; g < groups; g++)
            for (int t = 0; t < 9; t++) {
                uint32_t v = 0;

                for (int i = 0; i < 4; i++)
                    v |= (uint32_t)(uint8_t)q->a[(size_t)m * q->kp + vgc_q8_col(q, (4 * g + i) * 9 + t)] << (8 * i);
                q->px4w[vgc_q8_first_at(m, groups, g, t)] = (int32_t)v;
            }
    return 0;
}


/*
 * Give the pages wholly inside a layer's float weights back to the kernel
 * (they read as zeros afterwards; nothing reads them: vgc_layer_weight()
 * answers from the int8 form), so that int8 weights cost their own size.
 */
static void release_floats(float *p, size_t n)
{
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)(p + n)) & ~(page - 1);

    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}


/* Account for int8 layer l (quantized into q): the net-wide sizes its run needs. */
static void account(vgc_net *net, const vgc_layer *l, const vgc_q8_layer *q)
{
    vgc_q8_net *qn = net->q8;
    const int cols = q->dw ? 0 : (int)round_up((size_t)band_cols(net, l, q), 32);     /* ldb, gemm_task's */
    /* the band, 4 rows of `cols` for packing, and (padded layers) the band's output as floats (depthwise: none) */
    const size_t band = q->dw ? 0 : ((size_t)q->kp * cols + 4 * (size_t)cols) * esize(q) + 64 + (size_t)q->m * cols * sizeof(float);
    /* one image at a time (a depthwise layer's planes as s16 for the s16-input kernel) */
    const size_t xq = (size_t)l->c * plane_bytes(l) * (q->dw && dw16_runs(qn, l) ? 2 : esize(q));
    /* a direct layer's planes channel-blocked, and a tile's reach past the last of them: the last
       tap's shift and 64 columns */
    const size_t c4 = q->taps ? xq + 4 * ((size_t)(l->size - 1) * (gemm_pitch(l) + 1) + 64) : 0;

    qn->layers++;
    qn->wide += q->kern != qn->k;
    qn->weight_bytes += (size_t)q->m * q->k * (q->dw ? 2 : esize(q)) + (size_t)q->m * (sizeof(float) + sizeof(int32_t));
    qn->max_m = q->m > qn->max_m ? q->m : qn->max_m;
    qn->max_m = l->c > qn->max_m ? l->c : qn->max_m;     /* vgc_q8_pool_feed: per input channel */
    qn->xq_bytes = xq > qn->xq_bytes ? xq : qn->xq_bytes;
    qn->c4_bytes = c4 > qn->c4_bytes ? c4 : qn->c4_bytes;
    qn->pool8_bytes = l->out_size > qn->pool8_bytes ? l->out_size : qn->pool8_bytes;
    if (q->taps)    /* a direct layer's u8 planes before a maxpool are over its padded width */
        qn->pool8_bytes = (size_t)q->m * gemm_cols(l) > qn->pool8_bytes ? (size_t)q->m * gemm_cols(l) : qn->pool8_bytes;
    qn->band_bytes = band > qn->band_bytes ? band : qn->band_bytes;
    if (q->px4w && px4_scratch(l) > qn->band_bytes)
        qn->band_bytes = px4_scratch(l);
}


/* The buffers for the largest layer accounted for. */
static int allocate_buffers(vgc_net *net, char *err, size_t errlen)
{
    vgc_q8_net *qn = net->q8;

    qn->xq_bytes = round_up(qn->xq_bytes + 64, 64);
    qn->band_bytes = round_up(qn->band_bytes + 64, 64);
    qn->pool8_bytes = round_up(qn->pool8_bytes + 64, 64);
    qn->c4_bytes = round_up(qn->c4_bytes, 64);
    qn->xq = aligned_alloc(64, qn->xq_bytes);
    qn->c4 = qn->c4_bytes ? aligned_alloc(64, qn->c4_bytes) : NULL;
    qn->band = aligned_alloc(64, qn->band_bytes * (size_t)net->threads);
    qn->scale = malloc(((size_t)qn->max_m + 1) * sizeof *qn->scale);
    qn->comp = malloc(((size_t)qn->max_m + 1) * sizeof *qn->comp);
    qn->qinv = malloc(((size_t)qn->max_m + 1) * sizeof *qn->qinv);
    qn->qzp = malloc(((size_t)qn->max_m + 1) * sizeof *qn->qzp);
    qn->known = calloc(2 * (size_t)net->n * (size_t)net->max_batch, sizeof *qn->known);
    qn->has = calloc((size_t)net->n * (size_t)net->max_batch, 1);
    qn->part = calloc(2 * (size_t)net->threads * (size_t)net->max_batch, sizeof *qn->part);
    if (!qn->k->bf16) {     /* the feeding path's (vgc_q8_plan) */
        qn->xq2 = aligned_alloc(64, qn->xq_bytes);
        qn->pool8 = aligned_alloc(64, qn->pool8_bytes);
    }
    if (!qn->xq || !qn->band || !qn->scale || !qn->comp || !qn->qinv || !qn->qzp || (!qn->k->bf16 && (!qn->xq2 || !qn->pool8)) ||
        (net->n && (!qn->known || !qn->has || !qn->part)) ||
        (qn->c4_bytes && !qn->c4))
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory for int8 buffers");
    /* touch them now (and give padding a defined value) */
    memset(qn->xq, 0, qn->xq_bytes);
    if (qn->xq2) {
        memset(qn->xq2, 0, qn->xq_bytes);
        memset(qn->pool8, 0, qn->pool8_bytes);
    }
    memset(qn->band, 0, qn->band_bytes * (size_t)net->threads);
    if (qn->c4)
        memset(qn->c4, 0, qn->c4_bytes);
    return 0;
}


/*
 * The first layer in int8 (q8_first.h) where the GEMM kernels are VNNI's or
 * AMX's (both on AVX-512 VNNI) or the reference; with AVX2's it stays fp32.
 */
static int first_layer(vgc_net *net)
{
    vgc_q8_net *qn = net->q8;
    const vgc_q8_first_kernels *fk = qn->k->kind == VGC_Q8_VNNI || qn->k->kind == VGC_Q8_AMX ? &vgc_q8_first_vnni
                                     : qn->k->kind == VGC_Q8_REF                           ? &vgc_q8_first_ref
                                                                                           : NULL;
    int rc;

    if (!fk || net->precision != VGC_PREC_INT8 || net->q8_first < 0 || net->n < 1)
        return 0;
    if ((rc = vgc_q8_first_make(net, &net->layers[0], fk)) <= 0)
        return rc;
    qn->layers++;
    qn->weight_bytes += (size_t)net->layers[0].q8first->mp * (9 * sizeof(int32_t) + 2 * sizeof(float));
    return 1;
}


int vgc_q8_prepare(vgc_net *net, const vgc_q8_kernels *k, const float *ranges, const float *chan_ranges,
                   char *err, size_t errlen)
{
    vgc_q8_net *qn = calloc(1, sizeof *qn);
    size_t chan = 0;          /* the next depthwise layer's first channel in chan_ranges */
    int rc;

    if (!qn)
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    net->q8 = qn;
    qn->k = k;
    qn->dw = net->q8_dw ? vgc_q8_dw_pick(k, NULL, 0) : NULL;
    qn->dw16 = qn->dw ? dw16_pick(k) : NULL;
    qn->px4k = k->kind == VGC_Q8_VNNI ? &vgc_q8_first_vnni : k->kind == VGC_Q8_REF ? &vgc_q8_first_ref : NULL;
    passes_pick();
    for (int i = 0; i < net->n; i++) {
        vgc_layer *l = &net->layers[i];
        vgc_q8_layer *q;

        const int wide = wide_layer(net, i);

        if (!vgc_q8_eligible(net, i))
            continue;
        if (quantize_layer(net, l, wide ? net->q8_wide : k, &q) < 0)
            return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory for %s weights", k->bf16 ? "bf16" : "int8");
        l->q8 = q;
        q->slot = i;
        if (wide) {     /* bf16: no ranges */
            release_floats(l->weights, l->nweights);
            account(net, l, q);
            continue;
        }
        q->needstatic = !layer_eligible(net, l);
        q->pool2 = pools_in_band(net, i);
        if (px4_layer(net, l, q) && px4_make(q, l) < 0)
            return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory for int8 weights");
        if (!q->needstatic)
            release_floats(l->weights, l->nweights);
        else if (!(q->cr = calloc(2 * (size_t)l->c, sizeof *q->cr)))
            return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        else
            q->ncr = l->c;
        if (ranges && ranges[2 * i] < ranges[2 * i + 1]) {
            q->xmin = ranges[2 * i];
            q->xmax = ranges[2 * i + 1];
            if (q->ncr && chan_ranges) {
                memcpy(q->cr, chan_ranges + 2 * chan, 2 * (size_t)q->ncr * sizeof *q->cr);
                q->crs = 1;
                if (!q->dw && vgc_q8_fold(net, i) < 0)
                    return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
            }
        }
        chan += (size_t)q->ncr;
        account(net, l, q);
    }
    if ((rc = first_layer(net)) < 0)
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory for int8 weights");
    if ((rc = allocate_buffers(net, err, errlen)) < 0)
        return rc;
    vgc_q8_plan(net);
    return 0;
}


int vgc_q8_begin(vgc_net *ctx, const vgc_options *opt, char *err, size_t errlen)
{
    const vgc_q8_kernels *k;
    int rc;

    if ((rc = vgc_precision_choose(ctx, opt, &k, err, errlen)) < 0 || !k)
        return rc;
    if (!(ctx->q8 = calloc(1, sizeof *ctx->q8)))
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    ctx->q8->k = k;
    ctx->q8->dw = ctx->q8_dw ? vgc_q8_dw_pick(k, NULL, 0) : NULL;
    ctx->q8->dw16 = ctx->q8->dw ? dw16_pick(k) : NULL;
    passes_pick();
    return 0;
}


int vgc_q8_attach(vgc_net *ctx, vgc_layer *l, char *err, size_t errlen)
{
    vgc_q8_net *qn = ctx->q8;
    vgc_q8_layer *q, **own;

    if (!qn || !layer_eligible(ctx, l))
        return 0;
    if (!(own = realloc(qn->own, ((size_t)qn->nown + 1) * sizeof *own)))
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    qn->own = own;
    if (quantize_layer(ctx, l, qn->k, &q) < 0)
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory for %s weights", qn->k->bf16 ? "bf16" : "int8");
    q->slot = ctx->n + qn->nown;
    own[qn->nown++] = q;
    l->q8 = q;
    account(ctx, l, q);
    return 1;
}


int vgc_q8_finish(vgc_net *ctx, int convs, char *err, size_t errlen)
{
    if (!ctx->q8)
        return 0;
    vgc_q8_note(ctx, convs);
    return allocate_buffers(ctx, err, errlen);
}


void vgc_q8_note(vgc_net *net, int convs)
{
    vgc_q8_net *qn = net->q8;
    int n, runs = qn->layers;

    if (convs >= 0) {
        qn->convs = convs;
        memcpy(qn->why, net->prec_note, sizeof qn->why);
        qn->why[sizeof qn->why - 1] = '\0';
    }
    for (int i = 0; i < net->n; i++)
        runs -= net->layers[i].q8 && !vgc_q8_runs(net, &net->layers[i]);
    n = snprintf(net->prec_note, sizeof net->prec_note, "%s %s, %d of %d convolutions",
                 qn->k->bf16 ? "bf16" : "int8", qn->k->name, runs - qn->wide, qn->convs);
    if (qn->wide && n > 0 && (size_t)n < sizeof net->prec_note)
        n += snprintf(net->prec_note + n, sizeof net->prec_note - (size_t)n, " and %d bf16 %s", qn->wide,
                      net->q8_wide->name);
    if (net->q16 && n > 0 && (size_t)n < sizeof net->prec_note) {
        int s16 = net->q16->layers;     /* a block layer runs int8 once it has a static range, else s16 */

        for (int i = 0; i < net->n; i++)
            s16 -= net->layers[i].q16 && vgc_q8_runs(net, &net->layers[i]);
        n += snprintf(net->prec_note + n, sizeof net->prec_note - (size_t)n, " and %d s16 %s", s16,
                      net->q16->k->name);
    }
    if (qn->why[0] && n > 0 && (size_t)n < sizeof net->prec_note)
        snprintf(net->prec_note + n, sizeof net->prec_note - (size_t)n, " (%.*s)",
                 (int)(sizeof net->prec_note - (size_t)n - 4), qn->why);
}


void vgc_q8_release(vgc_net *net)
{
    if (!net->q8)
        return;
    for (int i = 0; i < net->n; i++) {
        free_layer(net->layers[i].q8);
        net->layers[i].q8 = NULL;
        vgc_q8_first_free(net->layers[i].q8first);
        net->layers[i].q8first = NULL;
    }
    for (int i = 0; i < net->q8->nown; i++)
        free_layer(net->q8->own[i]);
    free(net->q8->own);
    free(net->q8->xq);
    free(net->q8->xq2);
    free(net->q8->pool8);
    free(net->q8->band);
    free(net->q8->c4);
    free(net->q8->scale);
    free(net->q8->comp);
    free(net->q8->qinv);
    free(net->q8->qzp);
    free(net->q8->known);
    free(net->q8->has);
    free(net->q8->part);
    free(net->q8);
    net->q8 = NULL;
}

/* ---- int8 between int8 layers (static ranges) ----------------------------------------------- */

/*
 * Whether a layer's input has a static range. A depthwise layer's only per
 * channel (crs): one range over all its channels is too coarse for a sum
 * of size x size taps of one channel (yolo-fastest-1.1-xl's recall fell to
 * 0.78 with calibrated per-tensor ranges); without static channel ranges
 * each channel is quantized with its own range of the image (dw_task).
 */
static int is_static(const vgc_q8_layer *q)
{
    return q && !q->kern->bf16 && (q->dw ? q->crs : q->xmin < q->xmax);
}


/* The scale (returned) and zero point of layer q's input channel c: its own range when per channel. */
static float range_scale(float lo, float hi, int *zp);
static void span(const float *x, size_t n, float *lo, float *hi);
static void quantize_run(const float *x, size_t n, float inv, float zp, uint8_t *q, int bf16);

static float input_scale(const vgc_q8_layer *q, int c, int *zp)
{
    return q->crs ? range_scale(q->cr[2 * c], q->cr[2 * c + 1], zp) : range_scale(q->xmin, q->xmax, zp);
}


/*
 * An input channel whose range is empty (only zeros seen: range_scale gives
 * it a scale of 1): its weight is 0. Times that scale it had set the row's
 * weight scale and rounded every other weight of the row to 0 or 1 (a
 * model with such channels, MobileNetV2-YOLOv3-Nano-coco, lost most of its
 * detections through the folded layers).
 */
static int empty_channel(const vgc_q8_layer *q, int c)
{
    return q->crs && !(q->cr[2 * c + 1] > q->cr[2 * c]);
}


int vgc_q8_fold(vgc_net *net, int i)
{
    const vgc_layer *l = &net->layers[i];
    vgc_q8_layer *q = l->q8;
    vgc_layer f = *l;         /* the float weights (kept for needstatic layers) */
    const int wmax = net->q8->k->wmax;

    f.q8 = NULL;
    if (!q->fcomp && !(q->fcomp = malloc((size_t)q->m * sizeof *q->fcomp)))
        return -1;
    for (int m = 0; m < q->m; m++) {
        float amax = 0;
        int32_t comp = 0;

        for (int k = 0; k < q->k; k++) {
            int zp;
            const float w = fabsf(vgc_layer_weight(net, &f, m, k) * input_scale(q, k, &zp));

            if (!empty_channel(q, k))
                amax = w > amax ? w : amax;
        }
        q->wscale[m] = amax > 0 ? amax / (float)wmax : 1.0f;
        for (int k = 0; k < q->k; k++) {
            int zp;
            const float xs = input_scale(q, k, &zp);
            long v = empty_channel(q, k) ? 0 : lrintf(vgc_layer_weight(net, &f, m, k) * xs / q->wscale[m]);

            v = v > wmax ? wmax : v < -wmax ? -wmax : v;
            q->a[(size_t)m * q->kp + vgc_q8_col(q, k)] = (int8_t)v;
            comp += (int32_t)v * zp;
        }
        q->fcomp[m] = comp;
    }
    return 0;
}


void vgc_q8_plan(vgc_net *net)
{
    vgc_q8_net *qn = net->q8;

    if (!qn || qn->k->bf16)
        return;
    qn->fused = 0;
    for (int i = 0; i < net->n; i++)
        if (net->layers[i].q8)
            net->layers[i].q8->feed = net->layers[i].q8->fed = 0;
    for (int i = 0; i + 1 < net->n; i++) {
        const vgc_layer *l = &net->layers[i], *nx = &net->layers[i + 1];
        vgc_q8_layer *to = NULL;

        /* only the next layer reads the output (no route, no shortcut, no kept output); a depthwise
           feeder's own input is per channel, its output can still take the next layer's static range */
        if (!l->q8 || !(is_static(l->q8) || l->q8->dw) || l->last_use != i + 1)
            continue;
        if (nx->type == VGC_L_CONV && is_static(nx->q8)) {
            l->q8->feed = 1;
            to = nx->q8;
        } else if (nx->type == VGC_L_MAXPOOL && nx->alias < 0 && nx->last_use == i + 2 && i + 2 < net->n &&
                   net->layers[i + 2].type == VGC_L_CONV && is_static(net->layers[i + 2].q8)) {
            l->q8->feed = 2;
            to = net->layers[i + 2].q8;
        }
        if (to) {
            to->fed = 1;
            qn->fused++;
        }
    }
    /* an fp32 convolution and its pool into an int8 layer (vgc_q8_pool_feed) */
    for (int i = 0; i + 2 < net->n; i++) {
        vgc_q8_layer *to = net->layers[i + 2].q8;

        if (!net->layers[i].q8 && vgc_pool2_fusable(net, i) && net->layers[i + 1].last_use == i + 2 &&
            net->layers[i + 2].type == VGC_L_CONV && is_static(to)) {
            to->fed = 1;
            qn->fused++;
        }
    }
}


/* quantize_run as the conv_pool2 kernel calls it (int8) */
static void quantize_u8(const float *x, size_t n, float inv, float zp, uint8_t *q)
{
    quantize_run(x, n, inv, zp, q, 0);
}


void vgc_q8_pool_feed(vgc_net *net, int i, int batch, vgc_conv_quant *qa)
{
    vgc_q8_net *qn = net->q8;
    const vgc_layer *to = i + 2 < net->n ? &net->layers[i + 2] : NULL;
    const size_t pb = to ? plane_bytes(to) : 0;
    const int pad = to && is_padded(to) ? to->pad : 0;

    /* the fed layer's own condition (vgc_q8_conv_forward) */
    if (!qn || !to || !to->q8 || !to->q8->fed || net->layers[i].q8 || qn->nofuse || qn->calib || batch != 1)
        return;
    qn->cur = 0;
    for (int c = 0; c < to->c; c++) {
        int zp;
        const float xs = input_scale(to->q8, c, &zp);

        /* each plane padded with its own zero point, the interior the pool's */
        memset(qn->xq + (size_t)c * pb, zp, pb);
        qn->qinv[c] = 1.0f / xs;
        qn->qzp[c] = (float)zp + 0.5f;
    }
    qa->ld = (size_t)to->w + 2 * (size_t)pad;
    qa->q = qn->xq + (size_t)pad * qa->ld + (size_t)pad;
    qa->plane = pb;
    qa->inv = qn->qinv;
    qa->zp = qn->qzp;
    qa->run = quantize_u8;
}


int vgc_q8_runs(const vgc_net *net, const vgc_layer *l)
{
    /* a calibration run measures a needstatic layer's range by running it on dynamic ranges */
    return l->q8 && (!l->q8->needstatic || is_static(l->q8) || net->q8->calib);
}


int vgc_q8_feeds(const vgc_net *net, const vgc_layer *l, int batch)
{
    const vgc_q8_net *qn = net->q8;

    if (!l->q8 || !l->q8->feed || !qn || qn->nofuse || qn->calib || batch != 1)
        return 0;
    return l->q8->feed;
}


void vgc_q8_maxpool_u8(const uint8_t *in, int w, int h, size_t ldi, int size, int stride, int pad, uint8_t *out,
                       size_t ldo, int ow, int oh)
{
    const int off = -pad / 2;

    for (int oy = 0; oy < oh; oy++) {
        uint8_t *o = out + (size_t)oy * ldo;
        const int y0 = off + oy * stride;

        if (size == 2 && stride == 2 && off == 0 && y0 + 1 < h && 2 * ow <= w) {
            const uint8_t *r0 = in + (size_t)y0 * ldi, *r1 = r0 + ldi;
            int ox = 0;

#if defined(__SSE2__)
            /* 16 outputs a step: the rows' max, then each pair's (even and odd bytes as 16-bit lanes) */
            const __m128i lo = _mm_set1_epi16(0xff);

            for (; ox + 16 <= ow; ox += 16) {
                const __m128i m0 = _mm_max_epu8(_mm_loadu_si128((const __m128i *)(const void *)(r0 + 2 * ox)),
                                                _mm_loadu_si128((const __m128i *)(const void *)(r1 + 2 * ox)));
                const __m128i m1 = _mm_max_epu8(_mm_loadu_si128((const __m128i *)(const void *)(r0 + 2 * ox + 16)),
                                                _mm_loadu_si128((const __m128i *)(const void *)(r1 + 2 * ox + 16)));
                const __m128i p0 = _mm_max_epi16(_mm_and_si128(m0, lo), _mm_srli_epi16(m0, 8));
                const __m128i p1 = _mm_max_epi16(_mm_and_si128(m1, lo), _mm_srli_epi16(m1, 8));

                _mm_storeu_si128((__m128i *)(void *)(o + ox), _mm_packus_epi16(p0, p1));
            }
#endif
            for (; ox < ow; ox++) {
                const uint8_t a = r0[2 * ox] > r0[2 * ox + 1] ? r0[2 * ox] : r0[2 * ox + 1];
                const uint8_t b = r1[2 * ox] > r1[2 * ox + 1] ? r1[2 * ox] : r1[2 * ox + 1];

                o[ox] = a > b ? a : b;
            }
            continue;
        }
        int ox = 0;

        if (size == 2 && stride == 1 && off == 0 && y0 >= 0 && y0 + 1 < h) {
            /* yolov3-tiny's 2/1 maxpool: the columns with both taps inside, no bounds to check */
            const uint8_t *r0 = in + (size_t)y0 * ldi, *r1 = r0 + ldi;

            for (; ox < ow && ox + 1 < w; ox++) {
                const uint8_t a = r0[ox] > r0[ox + 1] ? r0[ox] : r0[ox + 1];
                const uint8_t b = r1[ox] > r1[ox + 1] ? r1[ox] : r1[ox + 1];

                o[ox] = a > b ? a : b;
            }
        }
        for (; ox < ow; ox++) {
            const int x0 = off + ox * stride;
            uint8_t m = 0;

            for (int ky = 0; ky < size; ky++) {
                const int iy = y0 + ky;

                if (iy < 0 || iy >= h)
                    continue;
                for (int kx = 0; kx < size; kx++) {
                    const int ix = x0 + kx;

                    if (ix >= 0 && ix < w && in[(size_t)iy * ldi + ix] > m)
                        m = in[(size_t)iy * ldi + ix];
                }
            }
            o[ox] = m;
        }
    }
}

/* ---- packing --------------------------------------------------------------------------- */

/* 4 rows of n bytes into n groups of 4 (dst[4j + r] = row r [j]). */
static void interleave4(const uint8_t *r0, const uint8_t *r1, const uint8_t *r2, const uint8_t *r3, int n,
                        uint8_t *dst)
{
    int j = 0;

    if (use512) {
        vgc_q8_interleave4_512(r0, r1, r2, r3, n, dst);
        return;
    }

#if defined(__SSE2__)
    for (; j + 16 <= n; j += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(r0 + j)), b = _mm_loadu_si128((const __m128i *)(r1 + j));
        __m128i c = _mm_loadu_si128((const __m128i *)(r2 + j)), d = _mm_loadu_si128((const __m128i *)(r3 + j));
        __m128i ab0 = _mm_unpacklo_epi8(a, b), ab1 = _mm_unpackhi_epi8(a, b);
        __m128i cd0 = _mm_unpacklo_epi8(c, d), cd1 = _mm_unpackhi_epi8(c, d);

        _mm_storeu_si128((__m128i *)(dst + 4 * j), _mm_unpacklo_epi16(ab0, cd0));
        _mm_storeu_si128((__m128i *)(dst + 4 * j + 16), _mm_unpackhi_epi16(ab0, cd0));
        _mm_storeu_si128((__m128i *)(dst + 4 * j + 32), _mm_unpacklo_epi16(ab1, cd1));
        _mm_storeu_si128((__m128i *)(dst + 4 * j + 48), _mm_unpackhi_epi16(ab1, cd1));
    }
#endif
    for (; j < n; j++) {
        dst[4 * j] = r0[j];
        dst[4 * j + 1] = r1[j];
        dst[4 * j + 2] = r2[j];
        dst[4 * j + 3] = r3[j];
    }
}


void vgc_q8_pack_rows(const uint8_t *const *rows, int k, int kp, int n, int ldb, uint8_t zp, uint8_t *b)
{
    uint8_t zero[256];

    memset(zero, zp, sizeof zero);
    for (int k0 = 0; k0 < kp; k0 += 4) {
        uint8_t *dst = b + (size_t)(k0 / 4) * ldb * 4;

        for (int j0 = 0; j0 < n; j0 += 256) {
            const int cnt = n - j0 < 256 ? n - j0 : 256;
            const uint8_t *r[4];

            for (int q = 0; q < 4; q++)
                r[q] = k0 + q < k && rows[k0 + q] ? rows[k0 + q] + j0 : zero;
            interleave4(r[0], r[1], r[2], r[3], cnt, dst + (size_t)j0 * 4);
        }
    }
}

/* ---- forward ------------------------------------------------------------------------------ */

typedef struct q8_job {
    vgc_net *net;
    const vgc_layer *l;
    const float *in;          /* image 0 (quantize) */
    int image;                /* the image being run */
    float inv;                /* 1 / xscale */
    int zp;                   /* int8's zero point; the padding byte (bf16: 0) */
    int chunk;                /* channels per quantize task, columns per gemm task */
    uint8_t *xin;             /* the layer's quantized input planes (xq or xq2) */
    int fed;                  /* xin was written by the feeding layer */
    int perchan;              /* depthwise: each channel quantized with its own range (dw_task) */
    int fold;                 /* a GEMM layer whose input channels each have a static range (vgc_q8_fold) */
    uint8_t *qout;            /* feeding: the output quantized here instead of l->out, else NULL */
    const vgc_layer *to;      /* feeding: whose input planes qout holds (NULL: an unpadded u8 output) */
    float qinv;               /* feeding: 1 / the destination's xscale */
    int qzp;                  /* feeding: its zero point */
    const vgc_q8_layer *toq;  /* feeding a depthwise layer: its channel ranges (each output row its own) */
} q8_job;


/* Feeding: 1 / the destination's scale for output channel m, and its zero point + 0.5 in *qzp. */
static float dest_inv(const q8_job *j, int m, float *qzp)
{
    int zp;
    float xs;

    if (!j->toq) {
        *qzp = (float)j->qzp + 0.5f;
        return j->qinv;
    }
    xs = input_scale(j->toq, m, &zp);
    *qzp = (float)zp + 0.5f;
    return 1.0f / xs;
}


/* x[i] to u8 with the job's scale and zero point (round half up, clamped), or to bf16. */
static void quantize_run(const float *x, size_t n, float inv, float zp, uint8_t *q, int bf16)
{
    if (!bf16 && use512) {
        vgc_q8_quantize512(x, n, inv, zp, q);
        return;
    }
    if (bf16) {
        uint16_t *h = (uint16_t *)(void *)q;

        for (size_t i = 0; i < n; i++)
            h[i] = vgc_bf16_from(x[i]);
        return;
    }
    size_t i = 0;

#if defined(__SSE2__)
    /* the scalar loop below is not vectorized either (the clamp): 16 at a time, the same arithmetic */
    const __m128 vi = _mm_set1_ps(inv), vz = _mm_set1_ps(zp), lo = _mm_setzero_ps(), hi = _mm_set1_ps(255.0f);

    for (; i + 16 <= n; i += 16) {
        __m128i r[4];

        for (int k = 0; k < 4; k++) {
            __m128 t = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(x + i + 4 * k), vi), vz);

            r[k] = _mm_cvttps_epi32(_mm_min_ps(_mm_max_ps(t, lo), hi));
        }
        _mm_storeu_si128((__m128i *)(void *)(q + i),
                         _mm_packus_epi16(_mm_packs_epi32(r[0], r[1]), _mm_packs_epi32(r[2], r[3])));
    }
#endif
    for (; i < n; i++) {
        float t = x[i] * inv + zp;

        t = t < 0.0f ? 0.0f : t > 255.0f ? 255.0f : t;
        q[i] = (uint8_t)(int)t;
    }
}


/* One input plane into its zero-point padded form (is_padded layers). */
static void quantize_plane(const vgc_layer *l, const float *x, float inv, int zp, uint8_t *q, int bf16)
{
    const size_t e = bf16 ? 2 : 1, wp = (size_t)l->w + 2 * (size_t)l->pad;

    if (!bf16 && use512 && wp <= 64) {
        const size_t rows = (size_t)l->h + 2 * (size_t)l->pad;

        vgc_q8_quantize_plane512(x, l->w, l->h, l->pad, inv, (float)zp + 0.5f, (uint8_t)zp, q);
        memset(q + rows * wp, zp, plane_bytes(l) - rows * wp);     /* the row of slack after them */
        return;
    }
    memset(q, zp, plane_bytes(l) * e);
    for (int y = 0; y < l->h; y++)
        quantize_run(x + (size_t)y * l->w, (size_t)l->w, inv, (float)zp + 0.5f,
                     q + ((size_t)(y + l->pad) * wp + l->pad) * e, bf16);
}


/* One input plane of a depthwise layer into its zero-point padded s16 form (the s16-input kernel's). */
static void quantize_plane16(const vgc_layer *l, const float *x, float inv, int zp, int16_t *q)
{
    const size_t rows = (size_t)l->h + 2 * (size_t)l->pad, wp = (size_t)l->w + 2 * (size_t)l->pad;

    vgc_q8_quantize_plane16_512(x, l->w, l->h, l->pad, inv, (float)zp + 0.5f, (int16_t)zp, q);
    for (size_t i = rows * wp; i < plane_bytes(l); i++)     /* the row of slack after them */
        q[i] = (int16_t)zp;
}


static void quantize_task(void *ctx, int task, int thread)
{
    const q8_job *j = ctx;
    const vgc_layer *l = j->l;
    const size_t e = esize(l->q8), hw = (size_t)l->w * l->h, pb = plane_bytes(l) * e;
    const int c0 = task * j->chunk, c1 = c0 + j->chunk < l->c ? c0 + j->chunk : l->c;
    const float *x = j->in + (size_t)j->image * l->c * hw + (size_t)c0 * hw;
    uint8_t *q = j->xin + (size_t)c0 * pb;
    const float inv = j->inv, zp = (float)j->zp + 0.5f;
    const int bf16 = l->q8->kern->bf16;

    (void)thread;
    if (j->fold) {
        /* each input channel with its own static range (its scale is in the weights) */
        for (int c = c0; c < c1; c++, x += hw, q += pb) {
            int czp;
            const float xs = input_scale(l->q8, c, &czp);

            if (is_padded(l))
                quantize_plane(l, x, 1.0f / xs, czp, q, 0);
            else
                quantize_run(x, hw, 1.0f / xs, (float)czp + 0.5f, q, 0);
        }
        return;
    }
    if (!is_padded(l)) {
        quantize_run(x, (size_t)(c1 - c0) * hw, inv, zp, q, bf16);
        return;
    }
    for (int c = c0; c < c1; c++, x += hw, q += pb)
        quantize_plane(l, x, inv, j->zp, q, bf16);
}


/*
 * One row of im2col over output positions [n0, n0 + cnt) for kernel tap
 * (ci, ky, kx), from the planes of e-byte elements, the padding byte pad
 * outside the input.
 */
static void im2col_row(const vgc_layer *l, const uint8_t *xq, size_t e, int ci, int ky, int kx, int n0, int cnt,
                       uint8_t pad, uint8_t *dst)
{
    const uint8_t *plane = xq + (size_t)ci * l->w * l->h * e;
    const int s = l->stride, ow = l->out_w;
    int n = n0;

    while (n < n0 + cnt) {
        const int oy = n / ow, ox0 = n % ow;
        const int run = ow - ox0 < n0 + cnt - n ? ow - ox0 : n0 + cnt - n;
        const int iy = oy * s - l->pad + ky;
        uint8_t *d = dst + (size_t)(n - n0) * e;

        if (iy < 0 || iy >= l->h) {
            memset(d, pad, (size_t)run * e);
        } else {
            const uint8_t *src = plane + (size_t)iy * l->w * e;
            /* x in [ox0, ox0 + run) with ix = x*s - pad + kx inside [0, w) */
            int xa = ox0, xb = ox0 + run;
            int lo = kx >= l->pad ? 0 : (l->pad - kx + s - 1) / s;
            int hi = (l->w - 1 + l->pad - kx) < 0 ? 0 : (l->w - 1 + l->pad - kx) / s + 1;

            if (lo > xa)
                xa = lo < xb ? lo : xb;
            if (hi < xb)
                xb = hi > xa ? hi : xa;
            memset(d, pad, (size_t)(xa - ox0) * e);
            if (s == 1) {
                memcpy(d + (size_t)(xa - ox0) * e, src + (size_t)(xa - l->pad + kx) * e, (size_t)(xb - xa) * e);
            } else {
                for (int x = xa; x < xb; x++)
                    memcpy(d + (size_t)(x - ox0) * e, src + (size_t)(x * s - l->pad + kx) * e, e);
            }
            memset(d + (size_t)(xb - ox0) * e, pad, (size_t)(ox0 + run - xb) * e);
        }
        n += run;
    }
}


/* 2 rows of n bf16 into n groups of 2 (dst[2j + r] = row r [j]). */
static void interleave2(const uint16_t *r0, const uint16_t *r1, int n, uint16_t *dst)
{
    int j = 0;

#if defined(__SSE2__)
    for (; j + 8 <= n; j += 8) {
        __m128i a = _mm_loadu_si128((const __m128i *)(r0 + j)), b = _mm_loadu_si128((const __m128i *)(r1 + j));

        _mm_storeu_si128((__m128i *)(dst + 2 * j), _mm_unpacklo_epi16(a, b));
        _mm_storeu_si128((__m128i *)(dst + 2 * j + 8), _mm_unpackhi_epi16(a, b));
    }
#endif
    for (; j < n; j++) {
        dst[2 * j] = r0[j];
        dst[2 * j + 1] = r1[j];
    }
}


/* One group of 4 bytes per column (4 int8 rows, or 2 bf16 rows) into the band. */
static void pack_group(const uint8_t *const r[4], int bf16, int cnt, uint8_t *dst)
{
    if (bf16)
        interleave2((const uint16_t *)(const void *)r[0], (const uint16_t *)(const void *)r[1], cnt,
                    (uint16_t *)(void *)dst);
    else
        interleave4(r[0], r[1], r[2], r[3], cnt, dst);
}


/*
 * A direct layer's band of columns [n0, n0 + cnt) over the padded width
 * (gemm_cols), computed into src (ldb a row: floats, or u8 where the
 * kernel quantized them: src8), to the layer's float output or, feeding,
 * the destination's planes; the wp - ow columns past each output row are
 * dropped. (Before a u8 maxpool the planes keep the padded width: gemm_task
 * has the kernel write them in place, or here the floats quantized.)
 */
static void direct_store(const q8_job *j, const float *src, const uint8_t *src8, int ldb, int n0, int cnt)
{
    const vgc_layer *l = j->l;
    const vgc_q8_net *qn = j->net->q8;
    const int wp = (int)gemm_pitch(l), ow = l->out_w, hw = l->out_w * l->out_h;
    const size_t tpb = j->to ? plane_bytes(j->to) : (size_t)hw;
    const int tpad = j->to && is_padded(j->to) ? j->to->pad : 0;
    const size_t twp = (size_t)ow + 2 * (size_t)tpad;

    for (int m = 0; m < l->q8->m; m++) {
        const size_t r = (size_t)m * ldb;

        if (j->qout && !j->to) {
            quantize_run(src + r, (size_t)cnt, qn->qinv[m], qn->qzp[m], j->qout + (size_t)m * gemm_cols(l) + n0, 0);
            continue;
        }
        for (int v = n0; v < n0 + cnt;) {
            const int oy = v / wp, ox = v % wp;
            const int len = wp - ox < n0 + cnt - v ? wp - ox : n0 + cnt - v;
            const int run = ox >= ow ? 0 : ow - ox < len ? ow - ox : len;

            if (run && !j->qout)
                memcpy(l->out + (size_t)j->image * l->out_size + (size_t)m * hw + (size_t)oy * ow + ox,
                       src + r + (v - n0), (size_t)run * sizeof *src);
            else if (run) {
                uint8_t *dst = j->qout + (size_t)m * tpb + (size_t)(oy + tpad) * twp + (size_t)(ox + tpad);

                if (src8)
                    memcpy(dst, src8 + r + (v - n0), (size_t)run);
                else
                    quantize_run(src + r + (v - n0), (size_t)run, qn->qinv[m], qn->qzp[m], dst, 0);
            }
            v += len;
        }
    }
}


/* A direct layer's input planes, 4 channels at a time, into the channel-blocked form (q8.h). */
static void c4_task(void *ctx, int task, int thread)
{
    const q8_job *j = ctx;
    const vgc_layer *l = j->l;
    const size_t pb = plane_bytes(l);
    const int g0 = task * j->chunk, g1 = g0 + j->chunk < l->c / 4 ? g0 + j->chunk : l->c / 4;

    (void)thread;
    for (int g = g0; g < g1; g++) {
        const uint8_t *p = j->xin + (size_t)g * 4 * pb;

        interleave4(p, p + pb, p + 2 * pb, p + 3 * pb, (int)pb, j->net->q8->c4 + (size_t)g * 4 * pb);
    }
}


static void gemm_task(void *ctx, int task, int thread)
{
    const q8_job *j = ctx;
    const vgc_layer *l = j->l;
    const vgc_q8_layer *q = l->q8;
    vgc_q8_net *qn = j->net->q8;
    const vgc_q8_kernels *kern = q->kern;
    const int bf16 = kern->bf16, per = bf16 ? 2 : 4;         /* k per 4-byte group */
    const size_t e = esize(q);
    const int hw = l->out_w * l->out_h, cols = (int)gemm_cols(l);
    const int n0 = task * j->chunk, cnt = n0 + j->chunk < cols ? j->chunk : cols - n0;
    const int ldb = (int)round_up((size_t)cnt, 32);
    uint8_t *band = qn->band + (size_t)thread * qn->band_bytes;
    uint8_t *rows = band + (size_t)q->kp * ldb * e;
    float *tmp = (float *)(void *)(rows + round_up(4 * (size_t)ldb * e, 64));
    const uint8_t padb = (uint8_t)j->zp;
    const size_t rl = (size_t)ldb * e;                      /* bytes of one scratch row */
    const int ss = l->size * l->size;
    const size_t wp = (size_t)l->w + 2 * (size_t)l->pad, pb = plane_bytes(l) * e;
    vgc_q8_gemm g = {
        .a = q->a, .m = q->m, .kp = q->kp, .b = band, .ldb = ldb, .n = cnt,
        .c = l->out + (size_t)j->image * l->out_size + n0, .ldc = (size_t)hw,
        .scale = qn->scale, .comp = qn->comp, .bias = l->biases, .act = l->act,
    };

    if (q->taps) {
        /* direct: b is the channel-blocked input itself, the band's output through tmp */
        g.b = qn->c4 + (size_t)n0 * 4;
        g.taps = q->taps;
        g.tw = l->size;
        g.trow = gemm_pitch(l) * 4;
        g.gs = plane_bytes(l) * 4;
        g.c = tmp;
        g.ldc = (size_t)ldb;
        if (j->qout && kern->u8out) {
            /* before a u8 maxpool, into its planes as they are; else through the band's buffer */
            g.q = j->to ? (uint8_t *)tmp : j->qout + n0;
            g.ldq = j->to ? (size_t)ldb : gemm_cols(l);
            g.qinv = qn->qinv;
            g.qzp = qn->qzp;
        }
        kern->gemm(&g);
        if (!g.q || j->to)
            direct_store(j, tmp, g.q, ldb, n0, cnt);
        return;
    }
    for (int k0 = 0; k0 < q->kp; k0 += per) {
        const uint8_t *r[4] = { NULL, NULL, NULL, NULL };
        int inplane[4] = { 0, 0, 0, 0 }, any = 0;

        for (int t = 0; t < per; t++) {
            const int kk = k0 + t;
            uint8_t *own = rows + (size_t)t * rl;

            if (kk >= q->k) {
                memset(own, padb, (size_t)cnt * e);
                r[t] = own;
            } else if (is_padded(l)) {
                /* the padded plane itself, shifted by the tap (its output rows are wp apart: below) */
                r[t] = j->xin + (size_t)(kk / ss) * pb + ((size_t)(kk % ss / l->size) * wp + (size_t)(kk % l->size)) * e;
                inplane[t] = any = 1;
            } else if (l->size == 1 && l->stride == 1 && l->pad == 0) {
                /* 1x1: the input plane */
                r[t] = j->xin + ((size_t)kk * hw + (size_t)n0) * e;
            } else {
                im2col_row(l, j->xin, e, kk / ss, kk % ss / l->size, kk % l->size, n0, cnt, padb, own);
                r[t] = own;
            }
        }
        if (!any) {
            pack_group(r, bf16, cnt, band + (size_t)(k0 / per) * ldb * 4);
            continue;
        }
        /*
         * a padded layer: the columns are the output positions, each output
         * row a run of out_w in the shifted planes (the 2*pad columns between
         * two rows are not computed)
         */
        for (int v = n0; v < n0 + cnt;) {
            const int oy = v / l->out_w, ox = v % l->out_w;
            const int len = l->out_w - ox < n0 + cnt - v ? l->out_w - ox : n0 + cnt - v;
            const uint8_t *rs[4];

            for (int t = 0; t < per; t++)
                rs[t] = inplane[t] ? r[t] + ((size_t)oy * wp + (size_t)ox) * e : r[t] + (size_t)(v - n0) * e;
            pack_group(rs, bf16, len, band + ((size_t)(k0 / per) * ldb + (size_t)(v - n0)) * 4);
            v += len;
        }
    }
    if (!j->qout && l->pool_fused) {
        /* the band's pairs of rows, then the maxpool after it from there (pools_in_band) */
        const vgc_layer *p = l + 1;
        const int y0 = n0 / l->out_w, nrows = cnt / l->out_w;

        g.c = tmp;
        g.ldc = (size_t)ldb;
        kern->gemm(&g);
        for (int m = 0; m < q->m; m++) {
            float *o = p->out + (size_t)j->image * p->out_size + ((size_t)m * p->out_h + (size_t)(y0 / 2)) * p->out_w;
            float lo, hi;

            j->net->k->maxpool(tmp + (size_t)m * ldb, l->out_w, nrows, p->size, p->stride, p->pad, o, p->out_w,
                               nrows / 2, (float *)(void *)band);
            /* the pooled rows' range while they are in L1, for the int8 layer after the pool */
            span(o, (size_t)p->out_w * (size_t)(nrows / 2), &lo, &hi);
            vgc_q8_part_add(j->net, thread, j->image, lo, hi);
        }
        return;
    }
    if (!j->qout) {
        kern->gemm(&g);
        return;
    }
    /*
     * feeding: the destination's planes are unpadded (a u8 plane before a
     * maxpool, or a layer read without padding), so the output positions
     * are its own: a kernel that quantizes in its epilogue writes them there;
     * else into the band's own buffer (u8, ldb bytes a row, or floats), then
     * each output row's run into the destination's padded planes
     */
    {
        const size_t tpb = j->to ? plane_bytes(j->to) : (size_t)hw;  /* the destination's planes */
        const int tpad = j->to && is_padded(j->to) ? j->to->pad : 0;
        const size_t twp = (size_t)l->out_w + 2 * (size_t)tpad;

        g.c = tmp;
        g.ldc = (size_t)ldb;
        if (kern->u8out) {
            g.q = tpad ? (uint8_t *)tmp : j->qout + n0;
            g.ldq = tpad ? (size_t)ldb : tpb;
            g.qinv = qn->qinv;
            g.qzp = qn->qzp;
        }
        kern->gemm(&g);
        if (g.q && !tpad)
            return;
        for (int m = 0; m < q->m; m++) {
            const float *src = tmp + (size_t)m * ldb;
            const uint8_t *src8 = g.q ? g.q + (size_t)m * ldb : NULL;
            uint8_t *const q8 = j->qout + (size_t)m * tpb;

            for (int v = n0; v < n0 + cnt;) {
                const int oy = v / l->out_w, ox = v % l->out_w;
                const int len = l->out_w - ox < n0 + cnt - v ? l->out_w - ox : n0 + cnt - v;
                uint8_t *dst = q8 + (size_t)(oy + tpad) * twp + (size_t)(ox + tpad);

                if (src8)
                    memcpy(dst, src8 + (v - n0), (size_t)len);
                else
                    quantize_run(src + (v - n0), (size_t)len, qn->qinv[m], qn->qzp[m], dst, 0);
                v += len;
            }
        }
    }
}


/*
 * min(0, x[0..n)) and max(0, x[0..n)). The compiler does not vectorize the
 * scalar form (float min/max are not associative for it without
 * -ffinite-math-only), and this pass reads every input of a dynamic int8
 * layer: SSE2, 16 floats an iteration in 4 pairs of accumulators.
 */
static void span(const float *x, size_t n, float *lo, float *hi)
{
    float mn = 0, mx = 0;
    size_t i = 0;

    if (use512) {
        vgc_q8_span512(x, n, lo, hi);
        return;
    }
#if defined(__SSE2__)
    __m128 a[4], b[4];
    float t[8];

    for (int r = 0; r < 4; r++)
        a[r] = b[r] = _mm_setzero_ps();
    for (; i + 16 <= n; i += 16)
        for (int r = 0; r < 4; r++) {
            const __m128 v = _mm_loadu_ps(x + i + 4 * r);

            a[r] = _mm_min_ps(a[r], v);
            b[r] = _mm_max_ps(b[r], v);
        }
    _mm_storeu_ps(t, _mm_min_ps(_mm_min_ps(a[0], a[1]), _mm_min_ps(a[2], a[3])));
    _mm_storeu_ps(t + 4, _mm_max_ps(_mm_max_ps(b[0], b[1]), _mm_max_ps(b[2], b[3])));
    for (int r = 0; r < 4; r++) {
        mn = t[r] < mn ? t[r] : mn;
        mx = t[4 + r] > mx ? t[4 + r] : mx;
    }
#endif
    for (; i < n; i++) {
        mn = x[i] < mn ? x[i] : mn;
        mx = x[i] > mx ? x[i] : mx;
    }
    *lo = mn;
    *hi = mx;
}


/*
 * The input range of image b: the calibrated one, or the tensor's own (0
 * always inside). While calibrating, the tensor's own, added to the union.
 */
static void input_range(const vgc_net *net, const vgc_layer *l, int b, const float *x, float *lo, float *hi)
{
    const size_t n = (size_t)l->c * l->w * l->h;
    const vgc_q8_net *qn = net->q8;
    const int slot = l->q8->slot;
    float *cal = qn->calib ? qn->calib + 2 * slot : NULL;
    float mn = 0, mx = 0;

    if (!cal && is_static(l->q8)) {
        *lo = l->q8->xmin;
        *hi = l->q8->xmax;
        return;
    }
    /* a cfg layer reads the layer before it: that tensor's range where its producer found it */
    if (slot > 0 && slot < net->n && qn->has[(size_t)(slot - 1) * (size_t)net->max_batch + (size_t)b]) {
        const size_t at = (size_t)(slot - 1) * (size_t)net->max_batch + (size_t)b;

        mn = qn->known[2 * at];
        mx = qn->known[2 * at + 1];
    } else {
        span(x, n, &mn, &mx);
    }
    *lo = mn;
    *hi = mx;
    if (cal) {
        cal[0] = mn < cal[0] ? mn : cal[0];
        cal[1] = mx > cal[1] ? mx : cal[1];
    }
}


/* Calibrating a block 1x1 layer: each input channel's range of this image, added to its union in cr. */
static void channel_ranges(const vgc_layer *l, const float *x)
{
    const size_t hw = (size_t)l->w * l->h;

    for (int c = 0; c < l->c; c++) {
        float lo, hi;

        span(x + (size_t)c * hw, hw, &lo, &hi);
        l->q8->cr[2 * c] = lo < l->q8->cr[2 * c] ? lo : l->q8->cr[2 * c];
        l->q8->cr[2 * c + 1] = hi > l->q8->cr[2 * c + 1] ? hi : l->q8->cr[2 * c + 1];
    }
}


/* The least and the largest of a vgc_q8_gemm.range row (16 minima, 16 maxima; 0 among them). */
void vgc_q8_range_of(const float *r, float *lo, float *hi)
{
    float mn = r[0], mx = r[16];

    for (int i = 1; i < 16; i++) {
        mn = r[i] < mn ? r[i] : mn;
        mx = r[16 + i] > mx ? r[16 + i] : mx;
    }
    *lo = mn;
    *hi = mx;
}


void vgc_q8_known_reset(vgc_net *net)
{
    if (net->q8 && net->q8->has)
        memset(net->q8->has, 0, (size_t)net->n * (size_t)net->max_batch);
}


void vgc_q8_part_start(vgc_net *net)
{
    memset(net->q8->part, 0, 2 * (size_t)net->threads * (size_t)net->max_batch * sizeof *net->q8->part);
}


void vgc_q8_part_add(vgc_net *net, int thread, int image, float lo, float hi)
{
    float *p = net->q8->part + 2 * ((size_t)thread * (size_t)net->max_batch + (size_t)image);

    p[0] = lo < p[0] ? lo : p[0];
    p[1] = hi > p[1] ? hi : p[1];
}


void vgc_q8_part_end(vgc_net *net, int i, int image)
{
    vgc_q8_net *qn = net->q8;
    const size_t at = (size_t)i * (size_t)net->max_batch + (size_t)image;
    float lo = 0, hi = 0;

    for (int t = 0; t < net->threads; t++) {
        const float *p = qn->part + 2 * ((size_t)t * (size_t)net->max_batch + (size_t)image);

        lo = p[0] < lo ? p[0] : lo;
        hi = p[1] > hi ? p[1] : hi;
    }
    qn->known[2 * at] = lo;
    qn->known[2 * at + 1] = hi;
    qn->has[at] = 1;
}


/* The scale and zero point of a range [lo, hi] (0 inside). */
static float range_scale(float lo, float hi, int *zp)
{
    const float xs = hi > lo ? (hi - lo) / 255.0f : 1.0f;

    *zp = (int)lrintf(-lo / xs);
    *zp = *zp < 0 ? 0 : *zp > 255 ? 255 : *zp;
    return xs;
}


static void pool8_task(void *ctx, int task, int thread)
{
    const q8_job *j = ctx;
    const vgc_layer *p = j->l + 1, *to = j->to;     /* the maxpool, the layer it feeds */
    const int c0 = task * j->chunk, c1 = c0 + j->chunk < p->c ? c0 + j->chunk : p->c;
    const size_t tpb = plane_bytes(to), twp = (size_t)to->w + 2 * (size_t)(is_padded(to) ? to->pad : 0);
    const size_t toff = is_padded(to) ? (size_t)to->pad * twp + (size_t)to->pad : 0;
    /* the feeder's u8 planes, rows gemm_pitch apart (a direct feeder's padded width) */
    const size_t ldi = gemm_pitch(j->l);

    (void)thread;
    for (int c = c0; c < c1; c++)
        vgc_q8_maxpool_u8(j->net->q8->pool8 + (size_t)c * ldi * p->h, p->w, p->h, ldi, p->size, p->stride, p->pad,
                          j->qout + (size_t)c * tpb + toff, twp, p->out_w, p->out_h);
}


/*
 * The largest |output| depthwise channel d can give: each tap's byte
 * anywhere in 0 .. 255 (its input's range; the padding is its zero point),
 * the sum's extremes from the positive and the negative weights, then the
 * bias and the activation (vgc_act_bound: -1 where it is not monotonic).
 * On yolo-fastest-1.1-xl over the shared images a channel's largest
 * output was 0.38-0.67 of this bound (the median, by layer; a tenth of
 * the channels under 0.14-0.50, the least 0.03).
 */
static float dw_bound(const vgc_q8_dw *d)
{
    long long pos = 0, neg = 0;

    for (int t = 0; t < d->size * d->size; t++) {
        if (d->k[t] > 0)
            pos += d->k[t];
        else
            neg += d->k[t];
    }
    return vgc_act_bound(d->scale * (float)(255 * neg - d->comp) + d->bias,
                         d->scale * (float)(255 * pos - d->comp) + d->bias, d->act);
}


/* Depthwise channels [c0, c1) of one image, from the padded u8 planes to float or (feeding) u8 planes. */
static void dw_task(void *ctx, int task, int thread)
{
    const q8_job *j = ctx;
    const vgc_layer *l = j->l;
    vgc_q8_layer *q = l->q8;
    const vgc_q8_net *qn = j->net->q8;
    const int c0 = task * j->chunk, c1 = c0 + j->chunk < l->c ? c0 + j->chunk : l->c;
    const size_t pb = plane_bytes(l), ohw = (size_t)l->out_w * l->out_h;
    /* calibrating: each channel's range of this image, added to its union in q->cr */
    const int static_ = q->crs && !qn->calib;
    /* feeding: the destination's planes (padded when it is), or the u8 plane before a maxpool */
    const size_t tpb = j->to ? plane_bytes(j->to) : ohw;
    const int tpad = j->to && is_padded(j->to) ? j->to->pad : 0;
    const size_t twp = (size_t)l->out_w + 2 * (size_t)tpad, ihw = (size_t)l->w * l->h;
    /* channel c0's float plane: fused, the 1x1 before l computes the chunk's into this thread's scratch */
    /* and their ranges, where an s16 expansion's GEMM took them in passing (then no range pass here) */
    const float *rg = NULL;
    const float *x0 = !j->perchan ? NULL
                      : l->expand_fused ? vgc_expand_planes(j->net, l, j->image, c0, c1, thread, static_ ? NULL : &rg)
                                        : j->in + (size_t)j->image * l->c * ihw + (size_t)c0 * ihw;
    vgc_q8_dw d = {
        .ldi = (size_t)l->w + 2 * (size_t)l->pad, .size = l->size, .stride = l->stride,
        .ow = l->out_w, .oh = l->out_h, .act = l->act, .ldo = (size_t)l->out_w,
        .ldq = twp,
    };
    /* feeding the s16 layer after it (q16.h): each channel's plane through this thread's scratch */
    const vgc_layer *to16 = j->qout ? NULL : vgc_q16_feeds(j->net, l);
    /* the input quantized here as s16 for the s16-input kernel; arriving u8 (fed), the u8 one */
    const int in16 = dw16_runs(qn, l) && !j->fed;

    for (int c = c0; c < c1; c++) {
        int16_t *plane16 = in16 ? (int16_t *)(void *)j->xin + (size_t)c * pb : NULL;
        float bound;

        d.in = in16 ? NULL : j->xin + (size_t)c * pb;
        d.in16 = plane16;
        d.k = (const int16_t *)(const void *)q->a + (size_t)c * q->kp;
        d.comp = qn->comp[c];
        d.scale = qn->scale[c];
        if (j->perchan) {
            /* the channel's own range (static, or this image's): its plane is quantized here (unless
               fed: its feeder wrote it with that range), and read back while in L1/L2 */
            const float *x = x0 + (size_t)(c - c0) * ihw;
            float lo, hi, xs;
            int zp;

            if (static_) {
                xs = input_scale(q, c, &zp);
            } else {
                if (rg)
                    vgc_q8_range_of(rg + (size_t)(c - c0) * VGC_Q8_RANGE, &lo, &hi);
                else
                    span(x, ihw, &lo, &hi);
                if (qn->calib) {
                    q->cr[2 * c] = lo < q->cr[2 * c] ? lo : q->cr[2 * c];
                    q->cr[2 * c + 1] = hi > q->cr[2 * c + 1] ? hi : q->cr[2 * c + 1];
                }
                xs = range_scale(lo, hi, &zp);
            }
            if (in16)
                quantize_plane16(l, x, 1.0f / xs, zp, plane16);
            else if (!j->fed)
                quantize_plane(l, x, 1.0f / xs, zp, j->xin + (size_t)c * pb, 0);
            d.comp = zp * q->wsum[c];
            d.scale = xs * q->wscale[c];
        }
        if (j->qout)
            d.qinv = dest_inv(j, c, &d.qzp);
        d.bias = l->biases[c];
        d.qout = j->qout ? j->qout + (size_t)c * tpb + (size_t)tpad * twp + (size_t)tpad : NULL;
        d.out = j->qout || to16 ? NULL : l->out + (size_t)j->image * l->out_size + (size_t)c * ohw;
        d.out16 = NULL;
        /* feeding the s16 layer: straight into its packed input where its outputs' bound is known, else
           through this thread's scratch */
        if (to16 && (bound = dw_bound(&d)) >= 0) {
            d.out16 = vgc_q16_feed_direct(j->net, to16, j->image, c, bound, &d.inv16);
            d.max16 = VGC_Q16_FED_XMAX;
        } else if (to16) {
            d.out = vgc_q16_feed_plane(j->net, thread, c);
        }
        (in16 ? qn->dw16 : qn->dw)(&d);
        if (to16 && !d.out16)
            vgc_q16_feed(j->net, to16, j->image, c, c0, c1, thread);
    }
}


/* Input row iy of image j->image quantized and interleaved into the px4 form's group rows at dst (rd apart). */
static void px4_convert(const q8_job *j, int iy, uint8_t *qrow, uint32_t *dst, size_t rd)
{
    const vgc_layer *l = j->l;
    const size_t plane = (size_t)l->w * l->h;
    const float *x = j->in + (size_t)j->image * l->c * plane + (size_t)iy * l->w;
    const uint32_t zp4 = (uint32_t)j->zp * 0x01010101u;

    for (int c = 0; c < l->c; c++)
        quantize_run(x + (size_t)c * plane, (size_t)l->w, j->inv, (float)j->zp + 0.5f, qrow + (size_t)c * l->w, 0);
    for (int g = 0; g < l->c / 4; g++) {
        uint32_t *d = dst + (size_t)g * rd;
        const uint8_t *r = qrow + (size_t)(4 * g) * l->w;

        d[0] = zp4;
        interleave4(r, r + l->w, r + 2 * (size_t)l->w, r + 3 * (size_t)l->w, l->w, (uint8_t *)(void *)(d + 1));
        for (int i = l->w + 1; i <= l->w + 1 + VGC_Q8_FIRST_SLACK; i++)
            d[i] = zp4;
    }
}


/* A band of output rows of a layer in the c4 form (px4_layer), pooled where its maxpool is in its bands. */
static void px4_task(void *ctx, int task, int thread)
{
    const q8_job *j = ctx;
    const vgc_layer *l = j->l;
    const vgc_q8_net *qn = j->net->q8;
    const int pool = l->pool_fused, groups = l->c / 4, nr = pool ? 4 : 3;
    const size_t rd = px4_row_dwords(l->w), gr = (size_t)groups * rd;
    uint32_t *ring = (uint32_t *)(void *)(qn->band + (size_t)thread * qn->band_bytes), *pad = ring + 4 * gr;
    int32_t *acc = (int32_t *)(void *)(pad + gr);
    uint8_t *qrow = (uint8_t *)(void *)(acc + 16 * round_up((size_t)l->out_w, 32));
    const int y0 = task * j->chunk, y1 = y0 + j->chunk < l->out_h ? y0 + j->chunk : l->out_h;
    int held[4] = { -2, -2, -2, -2 };
    float range[2] = { 0, 0 };
    vgc_q8_first_row a = {
        .passes = groups, .shift = 0, .rg = rd, .w = l->q8->px4w, .comp = qn->comp, .scale = qn->scale,
        .bias = l->biases, .act = l->act, .m = l->q8->m,
        .ow = l->out_w, .stride = 1, .pool = pool, .acc = acc, .range = range,
    };

    for (size_t i = 0; i < gr; i++)
        pad[i] = (uint32_t)j->zp * 0x01010101u;
    for (int y = y0; y < y1; y += pool ? 2 : 1) {
        for (int i = 0; i < nr; i++) {
            const int iy = y - 1 + i, slot = (iy + 1) & 3;

            if (iy < 0 || iy >= l->h) {
                a.r[i] = pad;
                continue;
            }
            if (held[slot] != iy) {
                px4_convert(j, iy, qrow, ring + (size_t)slot * gr, rd);
                held[slot] = iy;
            }
            a.r[i] = ring + (size_t)slot * gr;
        }
        if (pool) {
            const vgc_layer *p = l + 1;

            a.out = p->out + (size_t)j->image * p->out_size + (size_t)(y / 2) * p->out_w;
            a.plane = (size_t)p->out_w * p->out_h;
        } else {
            a.out = l->out + (size_t)j->image * l->out_size + (size_t)y * l->out_w;
            a.plane = (size_t)l->out_w * l->out_h;
        }
        qn->px4k->row(&a);
    }
    vgc_q8_part_add(j->net, thread, j->image, range[0], range[1]);
}


static void run_pool(vgc_net *net, int ntasks, void (*fn)(void *, int, int), void *ctx)
{
    if (net->threads > 1)
        vgc_pool_run(net->pool, ntasks, fn, ctx);
    else
        vgc_pool_run_serial(net->pool, ntasks, fn, ctx);
}


void vgc_q8_conv_forward(vgc_net *net, const vgc_layer *l, const float *in, int batch)
{
    const vgc_q8_layer *q = l->q8;
    vgc_q8_net *qn = net->q8;
    q8_job j = { .net = net, .l = l, .in = in, .xin = qn->xq };
    const int feed = vgc_q8_feeds(net, l, batch);
    /* fed: the input is in the planes its feeder wrote (the same forward: feeder and layer agree) */
    const int fed = q->fed && !qn->nofuse && !qn->calib && batch == 1;
    uint8_t *pool_dst = NULL;

    j.fed = fed;
    if (fed)
        j.xin = qn->cur ? qn->xq2 : qn->xq;
    if (feed) {
        const vgc_layer *to = l + feed;
        const int out = j.xin == qn->xq ? 1 : 0;

        pool_dst = out ? qn->xq2 : qn->xq;
        j.toq = to->q8->crs ? to->q8 : NULL;
        j.qinv = j.toq ? 0 : 1.0f / range_scale(to->q8->xmin, to->q8->xmax, &j.qzp);
        if (j.toq) {
            /* each plane padded with its own channel's zero point */
            for (int c = 0; c < to->c; c++) {
                int zp;

                (void)input_scale(to->q8, c, &zp);
                memset(pool_dst + (size_t)c * plane_bytes(to), zp, plane_bytes(to));
            }
        } else if (is_padded(to)) {
            memset(pool_dst, j.qzp, (size_t)to->c * plane_bytes(to));
        }
        j.to = feed == 1 ? to : NULL;
        j.qout = feed == 1 ? pool_dst : qn->pool8;
        qn->cur = out;
        for (int m = 0; m < q->m; m++)      /* each output channel's destination scale (gemm_task) */
            qn->qinv[m] = dest_inv(&j, m, &qn->qzp[m]);
    }
    /* depthwise: per channel, in dw_task (a calibration run records each channel's range) */
    j.perchan = q->dw;
    j.fold = !q->dw && q->fcomp && q->crs && !qn->calib;
    for (int b = 0; b < batch; b++) {
        float lo = 0, hi = 0, xs = 1;
        int ntasks;

        j.image = b;
        if (!q->kern->bf16) {
            if (j.perchan || j.fold)
                xs = 1.0f;      /* each channel's own, in dw_task or folded into the weights */
            else if (fed)
                xs = range_scale(q->xmin, q->xmax, &j.zp);
            else {
                input_range(net, l, b, in + (size_t)b * l->c * l->w * l->h, &lo, &hi);
                xs = range_scale(lo, hi, &j.zp);
                if (qn->calib && q->ncr)
                    channel_ranges(l, in + (size_t)b * l->c * l->w * l->h);
            }
        }
        j.inv = 1.0f / xs;
        for (int m = 0; m < q->m; m++) {
            qn->scale[m] = xs * q->wscale[m];
            qn->comp[m] = j.fold ? q->fcomp[m] : j.zp * q->wsum[m];
        }
        if (q->px4w && !fed && !j.qout && !j.perchan && !j.fold && qn->px4k) {
            /* bands of output rows (pairs where pooled), a few a thread for balance */
            const int t = net->threads;

            j.chunk = t == 1 ? l->out_h : l->pool_fused ? (l->out_h + 4 * t - 1) / (4 * t) * 2
                                                         : (l->out_h + 2 * t - 1) / (2 * t);
            vgc_q8_part_start(net);
            run_pool(net, (l->out_h + j.chunk - 1) / j.chunk, px4_task, &j);
            if (l->pool_fused)
                vgc_q8_part_end(net, q->slot + 1, b);
            continue;
        }
        /* fused with the 1x1 before it (forward.c), the chunks are its groups of whole panels */
        j.chunk = l->expand_fused ? l->chunk : (l->c + 4 * net->threads - 1) / (4 * net->threads);
        ntasks = (l->c + j.chunk - 1) / j.chunk;
        if (!fed && !j.perchan)
            run_pool(net, ntasks, quantize_task, &j);
        if (q->dw) {
            run_pool(net, ntasks, dw_task, &j);     /* the same channel chunks */
            continue;
        }
        if (q->taps) {
            j.chunk = (l->c / 4 + 4 * net->threads - 1) / (4 * net->threads);
            run_pool(net, (l->c / 4 + j.chunk - 1) / j.chunk, c4_task, &j);
        }
        j.chunk = band_cols(net, l, q);
        ntasks = ((int)gemm_cols(l) + j.chunk - 1) / j.chunk;
        if (l->pool_fused && !j.qout)
            vgc_q8_part_start(net);
        run_pool(net, ntasks, gemm_task, &j);
        if (l->pool_fused && !j.qout)
            vgc_q8_part_end(net, q->slot + 1, b);
    }
    if (feed == 2) {
        /* the u8 maxpool (layer l + 1) from pool8 into the planes of layer l + 2 */
        j.to = l + 2;
        j.qout = pool_dst;
        j.chunk = (l->out_c + 4 * net->threads - 1) / (4 * net->threads);
        run_pool(net, (l->out_c + j.chunk - 1) / j.chunk, pool8_task, &j);
    }
}
