/*
 * backends/cpu/q16.c: 1x1 convolutions in 16-bit integers beside int8
 * (q16.h): which layers, their weights, their buffers, and their runs:
 * a block of Q16_BLOCK columns at a time (its input quantized while it is
 * in L1/L2, then its GEMM), or, for an expansion fused with the depthwise
 * layer after it (forward.c's expand_fused), its input packed once and
 * its filters computed a group at a time.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "q16.h"

/* ---- the scalar kernels: the reference (tests) ---------------------------------------------- */

static void gemm_ref(const vgc_q8_gemm *g)
{
    const int16_t *a0 = (const int16_t *)(const void *)g->a;
    const int16_t *b = (const int16_t *)(const void *)g->b;

    for (int m = 0; m < g->m; m++) {
        const int16_t *a = a0 + (size_t)m * g->kp;
        float *c = g->c + (size_t)m * g->ldc;

        for (int n = 0; n < g->n; n++) {
            int32_t acc = 0;

            for (int k = 0; k < g->kp; k++)
                acc += (int32_t)a[k] * (int32_t)b[((size_t)(k >> 1) * g->ldb + n) * 2 + (k & 1)];
            /* an fma, as the AVX-512 epilogue: the same float */
            c[n] = vgc_act_scalar(fmaf((float)acc, g->scale[m], g->bias[m]), g->act);
            if (g->range) {
                float *r = g->range + (size_t)m * VGC_Q8_RANGE;

                r[0] = c[n] < r[0] ? c[n] : r[0];
                r[16] = c[n] > r[16] ? c[n] : r[16];
            }
        }
    }
}


static int16_t quant_ref(float x, float inv, int xmax)
{
    long v = lrintf(x * inv);

    return (int16_t)(v > xmax ? xmax : v < -xmax ? -xmax : v);
}


static void pack_ref(const float *x, size_t ldx, int k, int n, float inv, int xmax, uint8_t *b, int ldb)
{
    for (int r = 0; r < k; r += 2) {
        int16_t *d = (int16_t *)(void *)(b + (size_t)(r / 2) * ldb * 4);

        for (int j = 0; j < n; j++) {
            d[2 * j] = quant_ref(x[(size_t)r * ldx + j], inv, xmax);
            d[2 * j + 1] = r + 1 < k ? quant_ref(x[(size_t)(r + 1) * ldx + j], inv, xmax) : 0;
        }
    }
}


static float amax_ref(const float *x, size_t ldx, int k, int n)
{
    float m = 0;

    for (int r = 0; r < k; r++)
        for (int j = 0; j < n; j++)
            m = fabsf(x[(size_t)r * ldx + j]) > m ? fabsf(x[(size_t)r * ldx + j]) : m;
    return m;
}

static void half_ref(const float *x, int n, float inv, uint8_t *b, int hi)
{
    int16_t *d = (int16_t *)(void *)b + hi;

    for (int j = 0; j < n; j++)
        d[2 * j] = quant_ref(x[j], inv, 32767);
}


static float rowmax_ref(const float *w, const float *s, int k)
{
    float m = 0;

    for (int j = 0; j < k; j++)
        m = fabsf(w[j] * s[j]) > m ? fabsf(w[j] * s[j]) : m;
    return m;
}


static long long rowq_ref(const float *w, const float *s, int k, float inv, int16_t *d)
{
    long long sum = 0;

    for (int j = 0; j < k; j++) {
        const float p = w[j] * s[j];

        d[j] = (int16_t)lrintf(p * inv);
        sum += d[j] < 0 ? -d[j] : d[j];
    }
    return sum;
}

static void pair_ref(const float *x0, const float *x1, int n, float inv0, float inv1, uint8_t *b)
{
    half_ref(x0, n, inv0, b, 0);
    half_ref(x1, n, inv1, b, 1);
}

const vgc_q16_kernels vgc_q16_ref = { "ref", gemm_ref, pack_ref, amax_ref, half_ref, pair_ref, rowmax_ref, rowq_ref };

/* ---- layers -------------------------------------------------------------------------------- */

static size_t round_up(size_t v, size_t to)
{
    return (v + to - 1) / to * to;
}


static int blocks(const vgc_layer *l);

/* The columns of a packed input of n columns: whole 32-column steps, and 48 more for a block's reach. */
static int pitch(int n)
{
    return (int)round_up((size_t)n, 32) + 48;
}


/*
 * Layer l of an int8 network that int8 leaves fp32 (or runs int8 only
 * with a static range: q8.c's block layers, which without one run as
 * here) and that runs as a plain 1x1 GEMM (forward.c's VGC_CONV_1X1), but
 * the first layer (the image). A yolo head's input qualifies where it is
 * fp32 (beside VNNI without AMX-BF16): int8 lost detections there, bf16
 * did not, and 16 bits keep more than bf16's 8.
 */
static int eligible(const vgc_net *net, const vgc_layer *l)
{
    return l != net->layers && l->type == VGC_L_CONV && (!l->q8 || l->q8->needstatic) && l->groups == 1 &&
           l->size == 1 && l->stride == 1 && l->pad == 0 && l->kind == VGC_CONV_1X1 && !l->pool_fused && l->c > 3;
}


/*
 * Too narrow to pay by default (vgc_q16_prepare's want 0): a layer of
 * fewer than Q16_MIN_FILTERS filters that reads a float input past L2
 * (Q16_NARROW_BYTES) itself, neither fed nor a depthwise layer's
 * expansion (packed whole for it where the two run fused). Its two
 * passes over that input (largest |x|, pack) cost more than the GEMM they
 * spare, where the fp32 GEMM reads it once for its 8 or 16 filters (xl's
 * projections at 160x160 and 80x80, VGC_PROFILE: 0.77 ms s16, 0.72
 * fp32). Smaller inputs stay s16: there the two were even, and
 * yoloface-50k's 56x56 network lost a detection past
 * test_int8_accuracy.py's 0.05 rule with its narrow layers fp32.
 */
#define Q16_MIN_FILTERS 32
#define Q16_NARROW_BYTES ((size_t)1 << 20)

/*
 * Whether cfg layer i is a depthwise layer's expansion, fused with it or
 * not (every output kept): the same precision either way, the same sums.
 */
static int expansion(const vgc_net *net, int i)
{
    const vgc_layer *d = i + 1 < net->n ? &net->layers[i + 1] : NULL;

    return d && d->type == VGC_L_CONV && d->groups > 1 && d->groups == d->c && d->filters == d->c &&
           d->c == net->layers[i].out_c;
}


static int narrow(const vgc_layer *l)
{
    return l->filters < Q16_MIN_FILTERS && (size_t)l->c * l->w * l->h * sizeof(float) >= Q16_NARROW_BYTES;
}


static void free_layer(vgc_q16_layer *q)
{
    if (!q)
        return;
    free(q->a);
    free(q->wscale);
    free(q->wf);
    free(q);
}


/* Weights per output channel, symmetric, |a| <= VGC_Q16_WMAX; xmax from the rows' sums of |a|. */
static vgc_q16_layer *quantize_layer(const vgc_net *net, const vgc_layer *l)
{
    vgc_q16_layer *q = calloc(1, sizeof *q);
    long long rowmax = 1;

    if (!q)
        return NULL;
    q->m = l->filters;
    q->k = l->c;
    q->kp = (int)round_up((size_t)q->k, 2);
    /* the GEMM computes whole blocks of 8 rows from any first row it is given (vgc_q16_rows) */
    q->mp = (int)round_up((size_t)q->m, 8) + 8;
    q->a = aligned_alloc(64, round_up((size_t)q->mp * q->kp * sizeof *q->a, 64));
    q->wscale = malloc((size_t)q->m * sizeof *q->wscale);
    if (!q->a || !q->wscale) {
        free_layer(q);
        return NULL;
    }
    memset(q->a, 0, (size_t)q->mp * q->kp * sizeof *q->a);
    for (int f = 0; f < q->m; f++) {
        float amax = 0, inv;
        long long sum = 0;

        for (int i = 0; i < q->k; i++) {
            float w = fabsf(vgc_layer_float_weight(net, l, f, i));

            amax = w > amax ? w : amax;
        }
        q->wscale[f] = amax > 0 ? amax / (float)VGC_Q16_WMAX : 1.0f;
        inv = 1.0f / q->wscale[f];
        for (int i = 0; i < q->k; i++) {
            long v = lrintf(vgc_layer_float_weight(net, l, f, i) * inv);

            v = v > VGC_Q16_WMAX ? VGC_Q16_WMAX : v < -VGC_Q16_WMAX ? -VGC_Q16_WMAX : v;
            q->a[(size_t)f * q->kp + i] = (int16_t)v;
            sum += v < 0 ? -v : v;
        }
        rowmax = sum > rowmax ? sum : rowmax;
    }
    /* no int32 sum can overflow: sum_k |a| * |b| <= rowmax * xmax <= INT_MAX */
    q->xmax = (int)(INT_MAX / rowmax < 32767 ? INT_MAX / rowmax : 32767);
    q->xmax = q->xmax < 1 ? 1 : q->xmax;
    return q;
}


/* The kernels for an int8 network here (want as vgc_q16_prepare's), or NULL. */
static const vgc_q16_kernels *pick(const vgc_net *net, int want)
{
    char why[160];

    if (want < 0 || net->precision != VGC_PREC_INT8 || !net->q8)
        return NULL;
    if ((net->q8->k->kind == VGC_Q8_VNNI || net->q8->k->kind == VGC_Q8_AMX) &&
        vgc_q8_usable(VGC_Q8_VNNI, why, sizeof why))
        return &vgc_q16_vnni;
    return want > 0 ? &vgc_q16_ref : NULL;
}


static int begin(vgc_net *net, const vgc_q16_kernels *k, char *err, size_t errlen)
{
    if (!(net->q16 = calloc(1, sizeof *net->q16)))
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    net->q16->k = k;
    return 0;
}


/* Quantize l and count its buffers: its whole input (fused with the layer after it) or a block of Q16_BLOCK columns. */
static int add(vgc_net *net, vgc_layer *l, int fused, char *err, size_t errlen)
{
    vgc_q16_net *qn = net->q16;
    size_t bytes;

    if (!(l->q16 = quantize_layer(net, l)))
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory for s16 weights");
    qn->layers++;
    qn->max_m = l->filters > qn->max_m ? l->filters : qn->max_m;
    bytes = (size_t)l->q16->kp / 2 * (size_t)pitch(fused ? l->out_w * l->out_h : Q16_BLOCK) * 4;
    if (fused) {
        qn->fb_bytes = bytes > qn->fb_bytes ? bytes : qn->fb_bytes;
        qn->max_blocks = blocks(l) > qn->max_blocks ? blocks(l) : qn->max_blocks;
    } else {
        qn->tb_bytes = bytes > qn->tb_bytes ? bytes : qn->tb_bytes;
    }
    return 0;
}


/* The buffers for the largest layer added. */
static int allocate(vgc_net *net, char *err, size_t errlen)
{
    vgc_q16_net *qn = net->q16;

    qn->fb_bytes = round_up(qn->fb_bytes, 64);
    qn->tb_bytes = round_up(qn->tb_bytes, 64);
    /* fused layers are a cfg network's, whose max_batch is set */
    qn->fb = qn->fb_bytes ? aligned_alloc(64, qn->fb_bytes * (size_t)net->max_batch) : NULL;
    qn->tb = qn->tb_bytes ? aligned_alloc(64, qn->tb_bytes * (size_t)net->threads) : NULL;
    qn->fscale = calloc((size_t)net->max_batch * (size_t)qn->max_blocks * (size_t)qn->max_m + 1, sizeof *qn->fscale);
    qn->tscale = calloc((size_t)net->threads * (size_t)qn->max_m + 1, sizeof *qn->tscale);
    qn->zero = calloc((size_t)qn->max_m + 1, sizeof *qn->zero);
    if ((qn->fb_bytes && !qn->fb) || (qn->tb_bytes && !qn->tb) || !qn->fscale || !qn->tscale || !qn->zero)
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory for s16 buffers");
    /* defined bytes past each packed input's columns: the GEMM reads (and drops) them */
    if (qn->fb)
        memset(qn->fb, 0, qn->fb_bytes * (size_t)net->max_batch);
    if (qn->tb)
        memset(qn->tb, 0, qn->tb_bytes * (size_t)net->threads);
    return 0;
}


/*
 * Where feeding pays (vgc_options.q16_feed 0). The depthwise layer makes
 * the same passes (largest |x|, quantize) that the 1x1 layer no longer
 * makes, on a plane in L1 instead of a tensor that may be in L2 or L3: it
 * pays where the float tensor would not stay in L2 (FEED_MIN_BYTES: xl's
 * 40x40 layers of 96 and 192 channels, VGC_PROFILE: the 192-channel
 * projections -0.09 ms each, their depthwise layers +0.05), not at 20x20
 * (272 channels, 435 KB: +0.01 ms a pair). Where the depthwise layer's two
 * planes in flight stay in L1 (FEED_MAX_PLANE positions, 2 x 16 KiB): at
 * 160x160 the passes cost more than the projection saved (layers 2 and 5
 * +0.08 ms each, 3 and 6 -0.02 to -0.05), at 80x80 as much. And where the
 * fold (m x k products an image) costs well under the passes (k x
 * positions, twice): positions >= FEED_RATIO x m.
 *
 * Those rules are for a depthwise layer that learns its outputs' range by
 * a pass. One that knows its input's range before it runs (an int8 one,
 * which quantizes with it; an fp32 one fused with an s16 expansion, whose
 * GEMM keeps each row's range) knows a bound on each output channel (its
 * weights' positive and negative sums over that range, the bias, a
 * monotonic activation), and writes the s16 input itself with the
 * bound's scale (vgc_q16_feed_direct: no plane through scratch, no pass):
 * fed wherever positions >= FEED_RATIO x m, the narrow layers included
 * (2026-12-07, VGC_PROFILE, the same build with a switch, 3-4 runs in
 * turns: xl's 80x80 projections of 16 filters -0.06 to -0.085 ms each,
 * their depthwise layers +0.015 to +0.03; the 40x40 pairs -0.01 to -0.05;
 * the 20x20 ones about 0; the 160x160 projections of 8 filters -0.03 to
 * -0.045; `bench_engines ab`, a frame: 9.78-9.93 ms against 10.32-10.42).
 */
#define FEED_MIN_BYTES ((size_t)512 << 10)
#define FEED_MAX_PLANE 4096
#define FEED_RATIO 4

/*
 * Whether cfg layer i, an s16 layer (or one that qualifies), can be fed
 * by the depthwise layer before it: that layer's output read by i alone
 * (not kept), i's output written (not an expansion packed whole for the
 * depthwise layer after it); with feed 0, only where it pays (above).
 */
static int feedable(const vgc_net *net, int i, int feed)
{
    const vgc_layer *p = &net->layers[i], *d = i > 0 ? p - 1 : NULL;
    const size_t hw = (size_t)p->w * p->h;

    /* vgc_q16_fold's bound needs INT_MAX / VGC_Q16_FED_XMAX > 2k */
    if (!d || d->type != VGC_L_CONV || d->groups <= 1 || d->groups != d->c || d->filters != d->c ||
        d->last_use != i || d->out_c != p->c || d->out_w != p->w || d->out_h != p->h ||
        (i + 1 < net->n && net->layers[i + 1].expand_fused) || p->c >= INT_MAX / VGC_Q16_FED_XMAX / 2)
        return 0;
    if (feed > 0)
        return 1;
    /*
     * a depthwise layer that knows its input's range writes the packed input itself (vgc_q16_feed_direct):
     * an int8 one, or an fp32 one fused with an s16 expansion (whose GEMM gives it the ranges)
     */
    if (((d->q8 && d->q8->dw && !d->q8->needstatic) || (d->expand_fused && d[-1].q16)) &&
        vgc_act_bound(0.0f, 0.0f, d->act) >= 0)
        return hw >= (size_t)FEED_RATIO * p->filters;
    return (size_t)p->c * hw * sizeof(float) >= FEED_MIN_BYTES && hw <= FEED_MAX_PLANE &&
           hw >= (size_t)FEED_RATIO * p->filters;
}


/* Give cfg layer i's s16 form its float weights and count the fed buffers. 0, or -1 (memory). */
static int add_fed(vgc_net *net, int i)
{
    vgc_layer *p = &net->layers[i];
    vgc_q16_layer *q = p->q16;
    vgc_q16_net *qn = net->q16;
    const size_t hw = (size_t)p->w * p->h;
    size_t bytes = (size_t)q->kp / 2 * (size_t)pitch((int)hw) * 4;

    if (!(q->wf = malloc((size_t)q->m * q->k * sizeof *q->wf)))
        return -1;
    for (int f = 0; f < q->m; f++)
        for (int c = 0; c < q->k; c++)
            q->wf[(size_t)f * q->k + c] = vgc_layer_float_weight(net, p, f, c);
    q->fed = 1;
    p[-1].q16_feeds = 1;
    qn->pb_bytes = bytes > qn->pb_bytes ? bytes : qn->pb_bytes;
    qn->max_k = q->k > qn->max_k ? q->k : qn->max_k;
    qn->fa_elems = (size_t)q->mp * q->kp > qn->fa_elems ? (size_t)q->mp * q->kp : qn->fa_elems;
    qn->tp_floats = round_up(hw, 16) > qn->tp_floats ? round_up(hw, 16) : qn->tp_floats;
    return 0;
}


/* The fed layers' buffers. */
static int allocate_fed(vgc_net *net, char *err, size_t errlen)
{
    vgc_q16_net *qn = net->q16;

    if (!qn->pb_bytes)
        return 0;
    qn->pb_bytes = round_up(qn->pb_bytes, 64);
    qn->pb = aligned_alloc(64, qn->pb_bytes * (size_t)net->max_batch);
    qn->ps = calloc((size_t)net->max_batch * (size_t)qn->max_k, sizeof *qn->ps);
    qn->fa = aligned_alloc(64, round_up(qn->fa_elems * sizeof *qn->fa, 64));
    qn->fws = calloc((size_t)qn->max_m + 1, sizeof *qn->fws);
    qn->tp = aligned_alloc(64, 2 * qn->tp_floats * sizeof *qn->tp * (size_t)net->threads);
    if (!qn->pb || !qn->ps || !qn->fa || !qn->fws || !qn->tp)
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory for s16 buffers");
    /* a missing last row of a pair, the columns past a layer's, the rows past its m: zeros, read by the GEMM */
    memset(qn->pb, 0, qn->pb_bytes * (size_t)net->max_batch);
    memset(qn->fa, 0, qn->fa_elems * sizeof *qn->fa);
    return 0;
}


/*
 * Whether cfg layer i packs the s16 layer after it (vgc_layer.packs_next):
 * an fp32 convolution that conv_rows runs (its output written as ever,
 * for any other reader), before an s16 1x1 packed whole for its
 * depthwise layer (on yolo-fastest the first layer, 160x160 of 16
 * channels: packed after it from memory in a pass of its own, 0.16 ms).
 */
static int packs_next(const vgc_net *net, int i)
{
    const vgc_layer *p = &net->layers[i], *e = p + 1;

    return net->k->conv_rows && p->type == VGC_L_CONV && p->kind == VGC_CONV_GEMM && p->groups == 1 && !p->q8 &&
           !p->q16 && !p->pool_fused && p->alias < 0 && e->q16 && e[1].expand_fused &&
           e->c == p->out_c && e->w == p->out_w && e->h == p->out_h;
}


int vgc_q16_prepare(vgc_net *net, int want, int feed, char *err, size_t errlen)
{
    const vgc_q16_kernels *k = pick(net, want);
    int rc;

    if (!k)
        return 0;
    if ((rc = begin(net, k, err, errlen)) < 0)
        return rc;
    for (int i = 0; i < net->n; i++) {
        const int fused = i + 1 < net->n && net->layers[i + 1].expand_fused;

        if (!eligible(net, &net->layers[i]) ||
            (want == 0 && !expansion(net, i) && narrow(&net->layers[i]) && !(feed >= 0 && feedable(net, i, feed))))
            continue;
        if ((rc = add(net, &net->layers[i], fused, err, errlen)) < 0)
            return rc;
    }
    for (int i = 0; i < net->n && feed >= 0; i++)
        if (net->layers[i].q16 && feedable(net, i, feed) && add_fed(net, i) < 0)
            return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory for s16 weights");
    if ((rc = allocate(net, err, errlen)) < 0)
        return rc;
    for (int i = 0; i + 2 < net->n; i++)
        net->layers[i].packs_next = packs_next(net, i);
    /* an s16 expansion's depthwise layer in groups of its rows (forward.c): its scratch needs no more */
    for (int i = 1; i < net->n; i++)
        if (net->layers[i].expand_fused && net->layers[i - 1].q16 &&
            vgc_layer_plan(net, &net->layers[i]) > net->work_floats)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "internal: layer %d's scratch grew", i);
    return allocate_fed(net, err, errlen);
}


int vgc_q16_attach(vgc_net *ctx, int want, vgc_layer *l, char *err, size_t errlen)
{
    const vgc_q16_kernels *k = pick(ctx, want);
    vgc_q16_layer **own;
    int rc;

    if (!k || !eligible(ctx, l) || (want == 0 && narrow(l)))
        return 0;
    if (!ctx->q16 && (rc = begin(ctx, k, err, errlen)) < 0)
        return rc;
    if (!(own = realloc(ctx->q16->own, ((size_t)ctx->q16->nown + 1) * sizeof *own)))
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    ctx->q16->own = own;
    if ((rc = add(ctx, l, 0, err, errlen)) < 0)
        return rc;
    own[ctx->q16->nown++] = l->q16;
    return 1;
}


int vgc_q16_finish(vgc_net *ctx, char *err, size_t errlen)
{
    return ctx->q16 ? allocate(ctx, err, errlen) : 0;
}


void vgc_q16_release(vgc_net *net)
{
    vgc_q16_net *qn = net->q16;

    for (int i = 0; i < net->n; i++) {
        free_layer(net->layers[i].q16);
        net->layers[i].q16 = NULL;
    }
    if (!qn)
        return;
    for (int i = 0; i < qn->nown; i++)
        free_layer(qn->own[i]);
    free(qn->own);
    free(qn->fb);
    free(qn->tb);
    free(qn->fscale);
    free(qn->tscale);
    free(qn->zero);
    free(qn->pb);
    free(qn->ps);
    free(qn->fa);
    free(qn->fws);
    free(qn->tp);
    free(qn);
    net->q16 = NULL;
}

/* ---- runs ---------------------------------------------------------------------------------- */

/* The input's scale from its largest |x|: xmax steps up to it (1 for an all-zero input). */
static float input_scale(float amax, int xmax)
{
    return amax > 0 && isfinite(amax) ? amax / (float)xmax : 1.0f;
}


/* Blocks of Q16_BLOCK columns in a layer's output. */
static int blocks(const vgc_layer *l)
{
    return (l->out_w * l->out_h + Q16_BLOCK - 1) / Q16_BLOCK;
}


/*
 * Block blk of an image's input x (row stride hw): its scale from its own
 * largest |x|, each filter's into scale, then packed into b (ldb columns).
 */
static void pack_block(const vgc_q16_net *qn, const vgc_layer *l, const float *x, int blk, float *scale, uint8_t *b,
                       int ldb)
{
    const vgc_q16_layer *q = l->q16;
    const int hw = l->out_w * l->out_h, n0 = blk * Q16_BLOCK, nc = hw - n0 < Q16_BLOCK ? hw - n0 : Q16_BLOCK;
    const float xs = input_scale(qn->k->amax(x + n0, (size_t)hw, q->k, nc), q->xmax);

    for (int m = 0; m < q->m; m++)
        scale[m] = xs * q->wscale[m];
    qn->k->pack(x + n0, (size_t)hw, q->k, nc, 1.0f / xs, q->xmax, b, ldb);
}


typedef struct q16_job {
    vgc_net *net;
    const vgc_layer *l;
    const float *in;
    int blocks;               /* per image */
    int image;                /* a fed layer's, its tasks the blocks of one image */
} q16_job;


/* One block of one image: packed while it is in L1/L2, then its GEMM into l->out. */
static void block_task(void *ctx, int task, int thread)
{
    const q16_job *j = ctx;
    const vgc_layer *l = j->l;
    const vgc_q16_layer *q = l->q16;
    const vgc_q16_net *qn = j->net->q16;
    const int hw = l->out_w * l->out_h, b = task / j->blocks, blk = task % j->blocks, n0 = blk * Q16_BLOCK;
    uint8_t *band = qn->tb + (size_t)thread * qn->tb_bytes;
    float *scale = qn->tscale + (size_t)thread * qn->max_m;
    const vgc_q8_gemm g = {
        .a = (const int8_t *)(const void *)q->a, .m = q->m, .kp = q->kp, .b = band, .ldb = pitch(Q16_BLOCK),
        .n = hw - n0 < Q16_BLOCK ? hw - n0 : Q16_BLOCK, .c = l->out + (size_t)b * l->out_size + n0,
        .ldc = (size_t)hw, .scale = scale, .comp = qn->zero, .bias = l->biases, .act = l->act,
    };

    pack_block(qn, l, j->in + (size_t)b * l->c * hw, blk, scale, band, g.ldb);
    qn->k->gemm(&g);
}


/* A fed layer's block of image j->image: the GEMM alone (the input packed, the weights folded). */
static void fed_task(void *ctx, int task, int thread)
{
    const q16_job *j = ctx;
    const vgc_layer *l = j->l;
    const vgc_q16_layer *q = l->q16;
    const vgc_q16_net *qn = j->net->q16;
    const int hw = l->out_w * l->out_h, n0 = task * Q16_BLOCK;
    const vgc_q8_gemm g = {
        .a = (const int8_t *)(const void *)qn->fa, .m = q->m, .kp = q->kp,
        .b = qn->pb + (size_t)j->image * qn->pb_bytes + (size_t)n0 * 4, .ldb = pitch(hw),
        .n = hw - n0 < Q16_BLOCK ? hw - n0 : Q16_BLOCK, .c = l->out + (size_t)j->image * l->out_size + n0,
        .ldc = (size_t)hw, .scale = qn->fws, .comp = qn->zero, .bias = l->biases, .act = l->act,
    };

    (void)thread;
    qn->k->gemm(&g);
}


/*
 * Each row's step from its largest |w * s|; where the sum of its |a| could
 * take an int32 sum past INT_MAX with inputs up to xmax, made coarser once,
 * by enough that the rounded sum stays within the bound (each |a| rounds
 * up by at most 1/2: (sum + k) / (bound - k)).
 */
void vgc_q16_fold(const vgc_q16_kernels *kern, const float *wf, const float *s, int m, int k, int kp, int xmax,
                  int16_t *a, float *wscale)
{
    const long long bound = INT_MAX / xmax;

    for (int r = 0; r < m; r++) {
        const float *w = wf + (size_t)r * k;
        int16_t *d = a + (size_t)r * kp;
        const float amax = kern->rowmax(w, s, k);
        float ws = amax > 0 && isfinite(amax) ? amax / (float)VGC_Q16_FED_WMAX : 1.0f;
        const long long sum = kern->rowq(w, s, k, 1.0f / ws, d);

        if (sum > bound) {
            ws *= (float)(sum + k) / (float)(bound - k);
            (void)kern->rowq(w, s, k, 1.0f / ws, d);
        }
        if (kp > k)
            d[k] = 0;
        wscale[r] = ws;
    }
}


void vgc_q16_conv_forward(vgc_net *net, const vgc_layer *l, const float *in, int batch)
{
    q16_job j = { .net = net, .l = l, .in = in, .blocks = blocks(l) };
    const int ntasks = batch * j.blocks;

    if (l->q16->fed && vgc_q16_feeds(net, l - 1) == l) {
        const vgc_q16_layer *q = l->q16;
        vgc_q16_net *qn = net->q16;

        for (j.image = 0; j.image < batch; j.image++) {
            vgc_q16_fold(qn->k, q->wf, qn->ps + (size_t)j.image * qn->max_k, q->m, q->k, q->kp, VGC_Q16_FED_XMAX,
                         qn->fa, qn->fws);
            if (net->threads > 1 && j.blocks > 1)
                vgc_pool_run(net->pool, j.blocks, fed_task, &j);
            else
                vgc_pool_run_serial(net->pool, j.blocks, fed_task, &j);
        }
        return;
    }
    if (net->threads > 1 && ntasks > 1)
        vgc_pool_run(net->pool, ntasks, block_task, &j);
    else
        vgc_pool_run_serial(net->pool, ntasks, block_task, &j);
}


const vgc_layer *vgc_q16_feeds(const vgc_net *net, const vgc_layer *d)
{
    const vgc_layer *p = d + 1;

    /* q16_feeds is only set on a cfg network's layer with its fed layer after it */
    if (!d->q16_feeds || (net->q8 && net->q8->calib) || vgc_q8_runs(net, p))
        return NULL;
    return p;
}


float *vgc_q16_feed_plane(const vgc_net *net, int thread, int c)
{
    return net->q16->tp + (2 * (size_t)thread + (size_t)(c & 1)) * net->q16->tp_floats;
}


/* Channel c's scale for the fold (image b) and the inverse its numbers are quantized with. */
static float feed_scale(const vgc_net *net, const vgc_layer *p, int b, int c, const float *x)
{
    const vgc_q16_net *qn = net->q16;
    const int hw = p->w * p->h;
    const float amax = qn->k->amax(x, (size_t)hw, 1, hw);
    /* a channel of zeros (or of non-finite numbers) weighs nothing in the fold */
    const float s = amax > 0 && isfinite(amax) ? amax / (float)VGC_Q16_FED_XMAX : 0.0f;

    qn->ps[(size_t)b * qn->max_k + c] = s;
    return s > 0 ? 1.0f / s : 0.0f;
}


int16_t *vgc_q16_feed_direct(const vgc_net *net, const vgc_layer *p, int b, int c, float bound, float *inv)
{
    const vgc_q16_net *qn = net->q16;
    const int hw = p->w * p->h;
    /* a channel that can only be 0 (or whose bound is not finite) weighs nothing in the fold */
    const float s = bound > 0 && isfinite(bound) ? bound / (float)VGC_Q16_FED_XMAX : 0.0f;

    qn->ps[(size_t)b * qn->max_k + c] = s;
    *inv = s > 0 ? 1.0f / s : 0.0f;
    return (int16_t *)(void *)(qn->pb + (size_t)b * qn->pb_bytes + (size_t)(c / 2) * pitch(hw) * 4) + (c & 1);
}


void vgc_q16_feed(const vgc_net *net, const vgc_layer *p, int b, int c, int c0, int c1, int thread)
{
    const vgc_q16_net *qn = net->q16;
    const int hw = p->w * p->h;
    uint8_t *dst = qn->pb + (size_t)b * qn->pb_bytes + (size_t)(c / 2) * pitch(hw) * 4;
    const float *x = vgc_q16_feed_plane(net, thread, c);

    if (!(c & 1) && c + 1 < c1)
        return;         /* its odd partner next */
    if ((c & 1) && c - 1 >= c0) {
        const float *x0 = vgc_q16_feed_plane(net, thread, c - 1);
        const float inv0 = feed_scale(net, p, b, c - 1, x0), inv1 = feed_scale(net, p, b, c, x);

        qn->k->pair(x0, x, hw, inv0, inv1, dst);
        return;
    }
    qn->k->half(x, hw, feed_scale(net, p, b, c, x), dst, c & 1);
}


void vgc_q16_pack_span(const vgc_net *net, const vgc_layer *e, const float *in, int b, int n0, int n1)
{
    const vgc_q16_net *qn = net->q16;
    const int hw = e->out_w * e->out_h, nb = blocks(e);

    for (int blk = (n0 + Q16_BLOCK - 1) / Q16_BLOCK; blk < nb; blk++) {
        if ((blk + 1) * Q16_BLOCK < hw ? (blk + 1) * Q16_BLOCK > n1 : hw > n1)
            break;
        pack_block(qn, e, in, blk, qn->fscale + ((size_t)b * nb + blk) * qn->max_m,
                   qn->fb + (size_t)b * qn->fb_bytes + (size_t)blk * Q16_BLOCK * 4, pitch(hw));
    }
}


void vgc_q16_pack_fused(vgc_net *net, const vgc_layer *e, const float *in, int batch)
{
    const int hw = e->out_w * e->out_h;

    /* on this thread: the depthwise layer's tasks read every block of every image */
    for (int b = 0; b < batch; b++)
        vgc_q16_pack_span(net, e, in + (size_t)b * e->c * hw, b, 0, hw);
}


void vgc_q16_rows(const vgc_net *net, const vgc_layer *e, int b, int c0, int c1, float *dst, float *range)
{
    const vgc_q16_layer *q = e->q16;
    const vgc_q16_net *qn = net->q16;
    const int hw = e->out_w * e->out_h, nb = blocks(e);

    if (range)      /* 0 always inside, as q8.c's range pass has it */
        memset(range, 0, (size_t)(c1 - c0) * VGC_Q8_RANGE * sizeof *range);

    for (int blk = 0; blk < nb; blk++) {
        const int n0 = blk * Q16_BLOCK;
        /* a block's columns of the packed image (the GEMM's reach past them: the next block's, or the pitch) */
        const vgc_q8_gemm g = {
            .a = (const int8_t *)(const void *)(q->a + (size_t)c0 * q->kp), .m = c1 - c0, .kp = q->kp,
            .b = qn->fb + (size_t)b * qn->fb_bytes + (size_t)n0 * 4, .ldb = pitch(hw),
            .n = hw - n0 < Q16_BLOCK ? hw - n0 : Q16_BLOCK, .c = dst + n0, .ldc = (size_t)hw,
            .scale = qn->fscale + ((size_t)b * nb + blk) * qn->max_m + c0, .comp = qn->zero, .bias = e->biases + c0,
            .act = e->act, .range = range,
        };

        qn->k->gemm(&g);
    }
}
