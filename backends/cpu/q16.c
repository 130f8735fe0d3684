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

const vgc_q16_kernels vgc_q16_ref = { "ref", gemm_ref, pack_ref, amax_ref };

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


static void free_layer(vgc_q16_layer *q)
{
    if (!q)
        return;
    free(q->a);
    free(q->wscale);
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


int vgc_q16_prepare(vgc_net *net, int want, char *err, size_t errlen)
{
    const vgc_q16_kernels *k = pick(net, want);
    int rc;

    if (!k)
        return 0;
    if ((rc = begin(net, k, err, errlen)) < 0)
        return rc;
    for (int i = 0; i < net->n; i++)
        if (eligible(net, &net->layers[i]) &&
            (rc = add(net, &net->layers[i], i + 1 < net->n && net->layers[i + 1].expand_fused, err, errlen)) < 0)
            return rc;
    return allocate(net, err, errlen);
}


int vgc_q16_attach(vgc_net *ctx, int want, vgc_layer *l, char *err, size_t errlen)
{
    const vgc_q16_kernels *k = pick(ctx, want);
    vgc_q16_layer **own;
    int rc;

    if (!k || !eligible(ctx, l))
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


void vgc_q16_conv_forward(vgc_net *net, const vgc_layer *l, const float *in, int batch)
{
    q16_job j = { .net = net, .l = l, .in = in, .blocks = blocks(l) };
    const int ntasks = batch * j.blocks;

    if (net->threads > 1 && ntasks > 1)
        vgc_pool_run(net->pool, ntasks, block_task, &j);
    else
        vgc_pool_run_serial(net->pool, ntasks, block_task, &j);
}


void vgc_q16_pack_fused(vgc_net *net, const vgc_layer *e, const float *in, int batch)
{
    vgc_q16_net *qn = net->q16;
    const int hw = e->out_w * e->out_h, nb = blocks(e);

    /* on this thread: the depthwise layer's tasks read every block of every image */
    for (int b = 0; b < batch; b++)
        for (int blk = 0; blk < nb; blk++)
            pack_block(qn, e, in + (size_t)b * e->c * hw, blk, qn->fscale + ((size_t)b * nb + blk) * qn->max_m,
                       qn->fb + (size_t)b * qn->fb_bytes + (size_t)blk * Q16_BLOCK * 4, pitch(hw));
}


void vgc_q16_rows(const vgc_net *net, const vgc_layer *e, int b, int c0, int c1, float *dst)
{
    const vgc_q16_layer *q = e->q16;
    const vgc_q16_net *qn = net->q16;
    const int hw = e->out_w * e->out_h, nb = blocks(e);

    for (int blk = 0; blk < nb; blk++) {
        const int n0 = blk * Q16_BLOCK;
        /* a block's columns of the packed image (the GEMM's reach past them: the next block's, or the pitch) */
        const vgc_q8_gemm g = {
            .a = (const int8_t *)(const void *)(q->a + (size_t)c0 * q->kp), .m = c1 - c0, .kp = q->kp,
            .b = qn->fb + (size_t)b * qn->fb_bytes + (size_t)n0 * 4, .ldb = pitch(hw),
            .n = hw - n0 < Q16_BLOCK ? hw - n0 : Q16_BLOCK, .c = dst + n0, .ldc = (size_t)hw,
            .scale = qn->fscale + ((size_t)b * nb + blk) * qn->max_m + c0, .comp = qn->zero, .bias = e->biases + c0,
            .act = e->act,
        };

        qn->k->gemm(&g);
    }
}
