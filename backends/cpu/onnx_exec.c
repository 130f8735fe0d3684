/*
 * backends/cpu/onnx_exec.c: plans and runs an ONNX graph on the engine's
 * kernels (see onnx_exec.h). Convolutions are the darknet path's own
 * convolution layers (internal.h: packing, Winograd, depthwise, 1x1 GEMM,
 * the task pool) where their geometry is one, and the GEMM kernel on
 * im2col bands otherwise (dilations, asymmetric pads or strides); the other
 * operators are written here for static shapes, broadcasting as numpy does.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "onnx_exec.h"
#include "q8.h"
#include "q16.h"
#include "q8_calib.h"

#define COL_FLOATS ((size_t)1 << 20)  /* im2col band, floats */
#define SMALL_OUT_PIXELS 1024         /* a plain convolution this small or smaller: im2col + GEMM */
#define R VGC_ONNX_MAX_RANK

typedef struct conv_plan conv_plan;

struct vgc_onnx_exec {
    const vgc_onnx_graph *g;
    const vgc_kernels *k;
    vgc_net *ctx;             /* the engine's context for its convolutions: kernels, pool, scratch */
    float **buf;              /* per value: its floats (arena, constant or input) */
    size_t *off;              /* per value: arena offset, or SIZE_MAX */
    float *arena;
    size_t arena_floats;
    conv_plan **conv;         /* per node: the plan of a Conv, else NULL */
    float **fc;               /* per node: a Gemm's constant B as GEMM panels (alpha folded), then
                                 its bias (beta C) after fc_panel floats; else NULL */
    int *slab_of;             /* per value: the Concat output it is written into in place, or -1 */
    size_t *slab_at;          /* per value: its offset in that output, in floats */
    char *in_place;           /* per node: a Concat whose inputs are written in place, or a Split whose
                                 outputs are views of its input (nothing to copy) */
    double *prof;             /* per node: seconds over the runs profiled, or NULL */
    int prof_runs;
};


static int fail_node(const vgc_onnx_node *n, char *err, size_t errlen, int code, const char *why)
{
    return vgc_fail(err, errlen, code, "node '%.64s' (%s): %s", n->name, vgc_onnx_op_name(n->op), why);
}


static const vgc_onnx_value *in_v(const vgc_onnx_exec *ex, const vgc_onnx_node *n, int k)
{
    return n->nin > k && n->in[k] >= 0 ? &ex->g->val[n->in[k]] : NULL;
}


static int64_t attr_i(const vgc_onnx_node *n, const char *name, int64_t def)
{
    const vgc_onnx_attr *a = vgc_onnx_attr_get(n, name);

    return a && a->type == VGC_AT_INT ? a->i : def;
}


static float attr_f(const vgc_onnx_node *n, const char *name, float def)
{
    const vgc_onnx_attr *a = vgc_onnx_attr_get(n, name);

    return a && a->type == VGC_AT_FLOAT ? a->f : def;
}


static const char *attr_s(const vgc_onnx_node *n, const char *name, const char *def)
{
    const vgc_onnx_attr *a = vgc_onnx_attr_get(n, name);

    return a && a->type == VGC_AT_STRING ? a->s : def;
}


static void attr_ints(const vgc_onnx_node *n, const char *name, int want, int64_t *dst, int64_t def)
{
    const vgc_onnx_attr *a = vgc_onnx_attr_get(n, name);

    for (int i = 0; i < want; i++)
        dst[i] = a && a->type == VGC_AT_INTS && a->n == want ? a->ints[i] : def;
}


static int64_t prod(const int64_t *d, int lo, int hi)
{
    int64_t p = 1;

    for (int i = lo; i < hi; i++)
        p *= d[i];
    return p;
}


/* Row-major strides of dims. */
static void strides_of(const int64_t *dims, int r, int64_t *st)
{
    int64_t s = 1;

    for (int i = r - 1; i >= 0; i--) {
        st[i] = s;
        s *= dims[i];
    }
}


/*
 * dst[o] = src[base + sum(idx[i] * st[i])] over every index of dims (rank r),
 * in row-major order: transposes, slices and broadcasts are all this.
 */
static void gather_strided(float *dst, const float *src, int64_t base, const int64_t *dims, const int64_t *st, int r)
{
    int64_t idx[R] = { 0 }, count = prod(dims, 0, r);

    if (r > 1 && st[r - 1] == 1 && dims[r - 1] >= 8) {
        /* the last axis is contiguous in src too (YOLOv8's DFL Transpose, most Slices): whole runs */
        const int64_t run = dims[r - 1];
        for (int64_t o = 0; o < count; o += run) {
            int64_t off = base;
            for (int i = 0; i < r - 1; i++)
                off += idx[i] * st[i];
            memcpy(dst + o, src + off, (size_t)run * sizeof(float));
            for (int i = r - 2; i >= 0 && ++idx[i] == dims[i]; i--)
                idx[i] = 0;
        }
        return;
    }
    for (int64_t o = 0; o < count; o++) {
        int64_t off = base;
        for (int i = 0; i < r; i++)
            off += idx[i] * st[i];
        dst[o] = src[off];
        for (int i = r - 1; i >= 0 && ++idx[i] == dims[i]; i--)
            idx[i] = 0;
    }
}


/* Strides reading x (rank xr) broadcast to dims (rank r): 0 along broadcast axes. */
static void broadcast_strides(const vgc_onnx_value *x, int r, int64_t *st)
{
    int64_t xs[R];

    strides_of(x->dims, x->rank, xs);
    for (int i = 0; i < r; i++) {
        int j = i - (r - x->rank);
        st[i] = j < 0 || x->dims[j] == 1 ? 0 : xs[j];
    }
}

/* ---- activations -------------------------------------------------------------------------- */

/* The kernel activation equal to a fused one, or -1. */
static int kernel_act(int act, float a, float b)
{
    switch (act) {
    case VGC_OA_NONE: return VGC_ACT_LINEAR;
    case VGC_OA_RELU: return VGC_ACT_RELU;
    case VGC_OA_SIGMOID: return VGC_ACT_LOGISTIC;
    case VGC_OA_SILU: return VGC_ACT_SWISH;
    case VGC_OA_LEAKY: return a == 0.1f ? VGC_ACT_LEAKY : -1;
    case VGC_OA_CLIP: return a == 0.0f && b == 6.0f ? VGC_ACT_RELU6 : -1;
    default: return -1;
    }
}


static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;   /* compare-and-select: vectorised, unlike fminf/fmaxf */
}


/*
 * y = act(x) for n floats (y may be x). The engine's kernels take the
 * activations they have (vgc_kernels.bias_act); the others are loops of one
 * operation each, which the compiler vectorises.
 */
static void act_run(const vgc_kernels *k, float *y, const float *x, int64_t n, int act, float a, float b)
{
    const int ka = kernel_act(act, a, b);

    if (ka >= 0) {
        if (y != x)
            memcpy(y, x, (size_t)n * sizeof(float));
        if (ka != VGC_ACT_LINEAR)
            k->bias_act(y, (size_t)n, 0.0f, (enum vgc_act)ka);
        return;
    }
    switch (act) {
    case VGC_OA_LEAKY:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] >= 0 ? x[i] : a * x[i];
        break;
    case VGC_OA_HARD_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            y[i] = clampf(a * x[i] + b, 0.0f, 1.0f);
        break;
    case VGC_OA_HARD_SWISH:
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * clampf(x[i] * (1.0f / 6.0f) + 0.5f, 0.0f, 1.0f);
        break;
    case VGC_OA_CLIP:
        for (int64_t i = 0; i < n; i++)
            y[i] = clampf(x[i], a, b);
        break;
    default:
        if (y != x)
            memcpy(y, x, (size_t)n * sizeof(float));
        break;
    }
}

/* ---- convolution ------------------------------------------------------------------------- */

/*
 * A convolution's plan. Every geometry the darknet path has (square kernel,
 * one stride, the same pad on every side, no dilation) is one of its layers
 * and runs through it: packed weights, Winograd F(2x2)/F(4x4) for 3x3
 * stride 1, the depthwise kernel, 1x1 as a GEMM on the input, the implicit-
 * GEMM rows kernel, the task pool, activation fused into the output pass.
 * The rest (dilations, uneven pads, strides or sides) and the small outputs
 * of the implicit-GEMM kind run here as im2col bands and the same GEMM
 * kernel on the same packed weights.
 */
typedef struct conv_plan {
    vgc_layer l;              /* the engine's layer: geometry, kind, packed weights, biases */
    int direct;               /* a geometry the engine lacks, or a small output: im2col here */
    int small;                /* direct only for its small output: the engine's own path can run it
                                 (int8 and bf16 do: vgc_onnx_exec_precision) */
    int kh, kw, sh, sw, dh, dw, pt, pl;
    int post;                 /* enum vgc_onnx_act left to apply after the kernel's */
} conv_plan;


/* Pads of one spatial axis: explicit, or resolved from auto_pad and the shapes. */
static void pads_of(const vgc_onnx_node *n, int axis, int64_t in, int64_t out, int64_t k, int64_t s, int64_t d,
                    int *pb, int *pe)
{
    const char *ap = attr_s(n, "auto_pad", "NOTSET");
    int64_t pads[4];

    attr_ints(n, "pads", 4, pads, 0);
    *pb = (int)pads[axis];
    *pe = (int)pads[axis + 2];
    if (strcmp(ap, "VALID") == 0) {
        *pb = *pe = 0;
    } else if (strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0) {
        int64_t total = (out - 1) * s + (k - 1) * d + 1 - in;
        if (total < 0)
            total = 0;
        *pb = (int)(ap[5] == 'U' ? total / 2 : total - total / 2);
        *pe = (int)total - *pb;
    }
}


/* The geometry and kind of Conv node n (weights are packed once Winograd is chosen). */
static int conv_plan_make(vgc_onnx_exec *ex, const vgc_onnx_node *n, conv_plan **out)
{
    const vgc_onnx_value *x = in_v(ex, n, 0), *w = in_v(ex, n, 1), *b = in_v(ex, n, 2);
    const vgc_onnx_value *y = &ex->g->val[n->out[0]];
    conv_plan *p = calloc(1, sizeof(*p));
    vgc_layer *l;
    int64_t st[2], dl[2];
    int pb, pr, ka;

    if (!p)
        return VIGIA_ENOMEM;
    l = &p->l;
    attr_ints(n, "strides", 2, st, 1);
    attr_ints(n, "dilations", 2, dl, 1);
    p->kh = (int)w->dims[2];
    p->kw = (int)w->dims[3];
    p->sh = (int)st[0];
    p->sw = (int)st[1];
    p->dh = (int)dl[0];
    p->dw = (int)dl[1];
    pads_of(n, 0, x->dims[2], y->dims[2], p->kh, p->sh, p->dh, &p->pt, &pb);
    pads_of(n, 1, x->dims[3], y->dims[3], p->kw, p->sw, p->dw, &p->pl, &pr);
    l->type = VGC_L_CONV;
    l->groups = (int)attr_i(n, "group", 1);
    l->c = (int)x->dims[1];
    l->h = (int)x->dims[2];
    l->w = (int)x->dims[3];
    l->filters = l->out_c = (int)w->dims[0];
    l->out_h = (int)y->dims[2];
    l->out_w = (int)y->dims[3];
    l->out_size = (size_t)l->out_c * l->out_h * l->out_w;
    l->size = p->kh;
    l->stride = p->sh;
    l->pad = p->pt;
    l->nweights = (size_t)w->count;
    l->alias = -1;
    p->direct = !(p->kh == p->kw && p->sh == p->sw && p->dh == 1 && p->dw == 1 && p->pt == pb && p->pl == pr &&
                  p->pt == p->pl && p->pt < p->kh && l->out_w == (l->w + 2 * l->pad - l->size) / l->stride + 1 &&
                  l->out_h == (l->h + 2 * l->pad - l->size) / l->stride + 1);
    if (!p->direct && l->groups == l->c && l->filters == l->c && l->groups > 1)
        l->kind = VGC_CONV_DW;
    else if (!p->direct && l->size == 3 && l->stride == 1 && l->pad == 1 && l->groups == 1 &&
             l->c >= 16 && l->filters >= 16 && l->w >= 8 && l->h >= 8)
        l->kind = VGC_CONV_WINO;   /* a candidate: choose_winograd() decides */
    else if (!p->direct && l->size == 1 && l->stride == 1 && l->pad == 0 && l->groups == 1)
        l->kind = VGC_CONV_1X1;
    else
        l->kind = VGC_CONV_GEMM;
    /*
     * A small output (resnet's 14x14 and 7x7 stages) as one im2col band and
     * the GEMM kernel: the implicit GEMM's tiles span an output row and are
     * mostly empty on short rows (resnet18 at 224: 52 ms -> 27 ms).
     */
    if (l->kind == VGC_CONV_GEMM && (size_t)l->out_w * l->out_h <= SMALL_OUT_PIXELS)
        p->direct = p->small = 1;
    ka = kernel_act(n->act, n->act_a, n->act_b);
    l->act = ka < 0 ? VGC_ACT_LINEAR : (enum vgc_act)ka;
    p->post = ka < 0 ? n->act : VGC_OA_NONE;
    l->biases = calloc((size_t)l->filters, sizeof(float));
    if (!l->biases) {
        free(p);
        return VIGIA_ENOMEM;
    }
    if (b)
        memcpy(l->biases, b->data, (size_t)l->filters * sizeof(float));
    *out = p;
    return 0;
}


/* Pack the weights in the layout of the plan's kind and say the per-thread scratch it needs, in floats. */
static int conv_plan_pack(vgc_onnx_exec *ex, const vgc_onnx_node *n, conv_plan *p, size_t *scratch)
{
    vgc_layer *l = &p->l;
    const size_t per = l->nweights / (size_t)l->filters;
    const size_t bytes = ((vgc_conv_packed_floats(l, ex->k->gemm_mr) + 16) * sizeof(float) + 63) & ~(size_t)63;

    l->weights = aligned_alloc(64, bytes);
    if (!l->weights)
        return VIGIA_ENOMEM;
    memset(l->weights, 0, bytes);
    for (int f = 0; f < l->filters; f++)
        vgc_conv_pack_filter(ex->ctx, l, f, (const float *)in_v(ex, n, 1)->data + (size_t)f * per);
    if (p->direct) {          /* im2col bands of about COL_FLOATS, at least one output row */
        size_t row = per * (size_t)l->out_w, rows = COL_FLOATS / row;
        *scratch = row * (rows < 1 ? 1 : rows > (size_t)l->out_h ? (size_t)l->out_h : rows);
        if (p->small) {       /* planned for the engine's path too, which int8 or bf16 may switch it to */
            size_t engine = vgc_layer_plan(ex->ctx, l);
            *scratch = engine > *scratch ? engine : *scratch;
        }
        return 0;
    }
    *scratch = vgc_layer_plan(ex->ctx, l);
    return 0;
}


/*
 * Which Winograd candidates run as Winograd, as the darknet path decides:
 * its weights take 16/9 (F(2x2)) or 4 (F(4x4)) times their size and its
 * scratch is larger, so it goes to the largest outputs first while the
 * activations, the extra weights and the scratch fit in the headroom.
 */
static void choose_winograd(vgc_onnx_exec *ex)
{
    const int mr = ex->k->gemm_mr, nn = ex->g->nnode;
    size_t used = ex->arena_floats * sizeof(float), work = 0;

    for (;;) {
        conv_plan *best = NULL;
        for (int i = 0; i < nn; i++) {
            conv_plan *p = ex->conv[i];
            if (p && p->l.kind == VGC_CONV_WINO && !p->l.wino_m &&
                (!best || (size_t)p->l.out_w * p->l.out_h > (size_t)best->l.out_w * best->l.out_h))
                best = p;
        }
        if (!best)
            return;
        for (int m = best->l.out_w >= 24 && best->l.out_h >= 24 ? 4 : 2; m >= 2; m -= 2) {
            size_t gemm, more, w;
            best->l.kind = VGC_CONV_GEMM;
            gemm = vgc_conv_packed_floats(&best->l, mr);
            best->l.kind = VGC_CONV_WINO;
            best->l.wino_m = m;
            more = (vgc_conv_packed_floats(&best->l, mr) - gemm) * sizeof(float);
            w = vgc_layer_plan(ex->ctx, &best->l) * sizeof(float) * (size_t)ex->ctx->threads;
            if (used + more + (w > work ? w : work) <= VGC_HEADROOM_BYTES) {
                used += more;
                work = w > work ? w : work;
                break;
            }
            best->l.wino_m = 0;
        }
        if (!best->l.wino_m)     /* no room: the implicit GEMM */
            best->l.kind = VGC_CONV_GEMM;
    }
}


static void conv_plan_free(conv_plan *p)
{
    if (p) {
        free(p->l.weights);
        free(p->l.biases);
        free(p);
    }
}


/* Output rows [y0, y1) of one group of one image as im2col columns. */
static void im2col(const conv_plan *p, const float *in, int y0, int y1, float *col)
{
    const int cg = p->l.c / p->l.groups, h = p->l.h, w = p->l.w, ow = p->l.out_w;
    const size_t nc = (size_t)(y1 - y0) * (size_t)ow;

    for (int c = 0; c < cg; c++)
        for (int ky = 0; ky < p->kh; ky++)
            for (int kx = 0; kx < p->kw; kx++) {
                float *dst = col + ((size_t)(c * p->kh + ky) * p->kw + kx) * nc;
                /* the outputs [x0, x1) of a row read inside the input row; the rest are padding */
                const int off = kx * p->dw - p->pl;
                int x0 = off < 0 ? (-off + p->sw - 1) / p->sw : 0, x1 = w - off <= 0 ? 0 : (w - off + p->sw - 1) / p->sw;

                x1 = x1 > ow ? ow : x1;
                x0 = x0 > x1 ? x1 : x0;
                for (int y = y0; y < y1; y++, dst += ow) {
                    const int iy = y * p->sh - p->pt + ky * p->dh;
                    const float *row = in + ((size_t)c * h + (iy < 0 ? 0 : iy)) * w;
                    if (iy < 0 || iy >= h) {
                        memset(dst, 0, (size_t)ow * sizeof(float));
                        continue;
                    }
                    memset(dst, 0, (size_t)x0 * sizeof(float));
                    if (p->sw == 1)
                        memcpy(dst + x0, row + x0 + off, (size_t)(x1 - x0) * sizeof(float));
                    else
                        for (int x = x0; x < x1; x++)
                            dst[x] = row[x * p->sw + off];
                    memset(dst + x1, 0, (size_t)(ow - x1) * sizeof(float));
                }
            }
}


/* One task of an im2col band's GEMM: a range of the filter panels. */
typedef struct direct_job {
    const vgc_onnx_exec *ex;
    const float *a, *bias;    /* the group's packed weights and biases */
    int fg, k, nc, per;       /* filters, depth, columns, panels per task */
    float *out;               /* the band's first output */
    size_t ldc;
    enum vgc_act act;
} direct_job;


static void direct_task(void *ctx, int task, int thread)
{
    const direct_job *j = ctx;
    const int mr = j->ex->k->gemm_mr, f0 = task * j->per * mr, f1 = f0 + j->per * mr < j->fg ? f0 + j->per * mr : j->fg;

    (void)thread;
    j->ex->k->gemm(j->a + (size_t)f0 * j->k, f1 - f0, j->k, j->ex->ctx->work, (size_t)j->nc, j->nc,
                   j->out + (size_t)f0 * j->ldc, j->ldc, j->bias + f0, j->act);
}


/*
 * A geometry the engine lacks, or a small output: im2col bands and the GEMM
 * kernel, group by group, the filters of a band split among the threads.
 */
static void run_conv_direct(const vgc_onnx_exec *ex, const conv_plan *p, const float *xin, float *y, int64_t batch)
{
    const vgc_layer *l = &p->l;
    const int mr = ex->k->gemm_mr, cg = l->c / l->groups, fg = l->filters / l->groups, oh = l->out_h, ow = l->out_w;
    const int k = cg * p->kh * p->kw, panels = (fg + mr - 1) / mr;
    const size_t ohw = (size_t)oh * ow, group = (size_t)panels * (size_t)mr * (size_t)k;
    const int threads = vgc_pool_threads(ex->ctx->pool);
    int rows = (int)(ex->ctx->work_floats / ((size_t)k * ow));

    if (rows > oh)
        rows = oh;
    if (rows < 1)
        rows = 1;
    for (int64_t b = 0; b < batch; b++)
        for (int g = 0; g < l->groups; g++) {
            const float *in = xin + ((size_t)b * l->c + (size_t)g * cg) * l->h * l->w;
            float *out = y + ((size_t)b * l->filters + (size_t)g * fg) * ohw;
            for (int y0 = 0; y0 < oh; y0 += rows) {
                const int y1 = y0 + rows < oh ? y0 + rows : oh, nc = (y1 - y0) * ow;
                direct_job j = { ex, l->weights + (size_t)g * group, l->biases + (size_t)g * fg, fg, k, nc,
                                 (panels + threads - 1) / threads, out + (size_t)y0 * ow, ohw, l->act };
                im2col(p, in, y0, y1, ex->ctx->work);
                if (threads > 1 && (double)fg * k * nc >= 262144.0)   /* as the engine: worth waking the others */
                    vgc_pool_run(ex->ctx->pool, (panels + j.per - 1) / j.per, direct_task, &j);
                else
                    ex->k->gemm(j.a, fg, k, ex->ctx->work, (size_t)nc, nc, j.out, ohw, j.bias, l->act);
            }
        }
}


static void run_conv(const vgc_onnx_exec *ex, const vgc_onnx_node *n, conv_plan *p)
{
    const vgc_onnx_value *x = in_v(ex, n, 0), *yv = &ex->g->val[n->out[0]];
    float *y = ex->buf[n->out[0]];

    if (p->direct) {
        run_conv_direct(ex, p, ex->buf[n->in[0]], y, x->dims[0]);
    } else {
        p->l.out = y;
        vgc_conv_forward(ex->ctx, &p->l, ex->buf[n->in[0]], (int)x->dims[0]);
    }
    if (p->post != VGC_OA_NONE)
        act_run(ex->k, y, y, yv->count, p->post, n->act_a, n->act_b);
}


static void run_conv_transpose(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    const vgc_onnx_value *x = in_v(ex, n, 0), *wv = in_v(ex, n, 1), *bv = in_v(ex, n, 2);
    const vgc_onnx_value *yv = &ex->g->val[n->out[0]];
    const int groups = (int)attr_i(n, "group", 1), cg = (int)(x->dims[1] / groups), og = (int)wv->dims[1];
    const int h = (int)x->dims[2], w = (int)x->dims[3], oh = (int)yv->dims[2], ow = (int)yv->dims[3];
    const int kh = (int)wv->dims[2], kw = (int)wv->dims[3];
    const float *xin = ex->buf[n->in[0]], *wt = wv->data;
    float *y = ex->buf[n->out[0]];
    int64_t st[2], dl[2], pads[4];

    attr_ints(n, "strides", 2, st, 1);
    attr_ints(n, "dilations", 2, dl, 1);
    attr_ints(n, "pads", 4, pads, 0);
    for (int64_t i = 0; i < yv->count; i++)
        y[i] = bv ? ((const float *)bv->data)[(i / ((int64_t)oh * ow)) % yv->dims[1]] : 0.0f;
    for (int64_t b = 0; b < x->dims[0]; b++)
        for (int g = 0; g < groups; g++)
            for (int c = 0; c < cg; c++)
                for (int iy = 0; iy < h; iy++)
                    for (int ix = 0; ix < w; ix++) {
                        const float v = xin[(((size_t)b * x->dims[1] + g * cg + c) * h + iy) * w + ix];
                        for (int o = 0; o < og; o++)
                            for (int ky = 0; ky < kh; ky++) {
                                const int oy = (int)(iy * st[0] - pads[0] + ky * dl[0]);
                                if (oy < 0 || oy >= oh)
                                    continue;
                                for (int kx = 0; kx < kw; kx++) {
                                    const int ox = (int)(ix * st[1] - pads[1] + kx * dl[1]);
                                    if (ox < 0 || ox >= ow)
                                        continue;
                                    y[(((size_t)b * yv->dims[1] + g * og + o) * oh + oy) * ow + ox] +=
                                        v * wt[(((size_t)(g * cg + c) * og + o) * kh + ky) * kw + kx];
                                }
                            }
                    }
}

/* ---- pooling ------------------------------------------------------------------------------- */

/* Whether a max pool has the darknet path's geometry: square, one stride, even pads below the window. */
static int pool_is_engine(const int64_t *k, const int64_t *st, const int64_t *dl, int pt, int pb, int pl, int pr,
                          int h, int w, int oh, int ow)
{
    return k[0] == k[1] && st[0] == st[1] && dl[0] == 1 && dl[1] == 1 && pt == pb && pt == pl && pt == pr &&
           pt < k[0] && oh == (h + 2 * pt - k[0]) / st[0] + 1 && ow == (w + 2 * pt - k[1]) / st[1] + 1;
}


static void run_pool(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    const vgc_onnx_value *x = in_v(ex, n, 0), *yv = &ex->g->val[n->out[0]];
    const int h = (int)x->dims[2], w = (int)x->dims[3], oh = (int)yv->dims[2], ow = (int)yv->dims[3];
    const int is_max = n->op == VGC_OP_MAX_POOL, incl = (int)attr_i(n, "count_include_pad", 0);
    const float *in = ex->buf[n->in[0]];
    float *y = ex->buf[n->out[0]];
    int64_t k[2], st[2], dl[2];
    int pt, pb, pl, pr;

    attr_ints(n, "kernel_shape", 2, k, 1);
    attr_ints(n, "strides", 2, st, 1);
    attr_ints(n, "dilations", 2, dl, 1);
    pads_of(n, 0, h, oh, k[0], st[0], dl[0], &pt, &pb);
    pads_of(n, 1, w, ow, k[1], st[1], dl[1], &pl, &pr);
    if (is_max && pool_is_engine(k, st, dl, pt, pb, pl, pr, h, w, oh, ow)) {   /* the engine's kernel */
        for (int64_t c = 0; c < x->dims[0] * x->dims[1]; c++)
            ex->k->maxpool(in + (size_t)c * h * w, w, h, (int)k[0], (int)st[0], 2 * pt, y + (size_t)c * oh * ow,
                           ow, oh, ex->ctx->work);
        return;
    }
    for (int64_t c = 0; c < x->dims[0] * x->dims[1]; c++) {
        const float *plane = in + (size_t)c * h * w;
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float acc = is_max ? -INFINITY : 0.0f;
                int cnt = 0;
                for (int ky = 0; ky < k[0]; ky++)
                    for (int kx = 0; kx < k[1]; kx++) {
                        const int iy = (int)(oy * st[0] - pt + ky * dl[0]), ix = (int)(ox * st[1] - pl + kx * dl[1]);
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
                            cnt += incl && iy < h + pb && ix < w + pr;
                            continue;
                        }
                        acc = is_max ? fmaxf(acc, plane[(size_t)iy * w + ix]) : acc + plane[(size_t)iy * w + ix];
                        cnt++;
                    }
                *y++ = is_max ? acc : acc / (float)(cnt ? cnt : 1);
            }
    }
}


static void run_global_avg(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    const vgc_onnx_value *x = in_v(ex, n, 0);
    const int64_t hw = prod(x->dims, 2, x->rank);
    const float *in = ex->buf[n->in[0]];
    float *y = ex->buf[n->out[0]];

    for (int64_t c = 0; c < x->dims[0] * x->dims[1]; c++, in += hw) {
        float part[16] = { 0 };   /* 16 running sums: one vector's lanes, summed at the end */
        double s = 0;
        int64_t i = 0;
        for (; i + 16 <= hw; i += 16)
            for (int j = 0; j < 16; j++)
                part[j] += in[i + j];
        for (; i < hw; i++)
            s += in[i];
        for (int j = 0; j < 16; j++)
            s += part[j];
        y[c] = (float)(s / (double)hw);
    }
}

/* ---- elementwise --------------------------------------------------------------------------- */

static float binop(int op, float a, float b)
{
    switch (op) {
    case VGC_OP_ADD: return a + b;
    case VGC_OP_SUB: return a - b;
    case VGC_OP_MUL: return a * b;
    case VGC_OP_DIV: return a / b;
    default: return powf(a, b);
    }
}


static void run_binary(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    const vgc_onnx_value *a = in_v(ex, n, 0), *b = in_v(ex, n, 1), *yv = &ex->g->val[n->out[0]];
    const float *pa = ex->buf[n->in[0]], *pb = ex->buf[n->in[1]];
    float *y = ex->buf[n->out[0]];
    int64_t sa[R], sb[R], idx[R] = { 0 };

    if (a->count == yv->count && b->count == yv->count) {   /* one loop per operation: vectorised */
        const int64_t c = yv->count;
        switch (n->op) {
        case VGC_OP_ADD:
            if (n->act == VGC_OA_RELU) {     /* a fused Relu (onnx_rewrite.c) in the same pass */
                for (int64_t i = 0; i < c; i++) {
                    const float v = pa[i] + pb[i];
                    y[i] = v > 0.0f ? v : 0.0f;
                }
                return;
            }
            for (int64_t i = 0; i < c; i++)
                y[i] = pa[i] + pb[i];
            if (n->act != VGC_OA_NONE)       /* another fused activation: its own pass */
                act_run(ex->k, y, y, c, n->act, n->act_a, n->act_b);
            break;
        case VGC_OP_SUB: for (int64_t i = 0; i < c; i++) y[i] = pa[i] - pb[i]; break;
        case VGC_OP_MUL: for (int64_t i = 0; i < c; i++) y[i] = pa[i] * pb[i]; break;
        default: for (int64_t i = 0; i < c; i++) y[i] = binop(n->op, pa[i], pb[i]); break;
        }
        return;
    }
    broadcast_strides(a, yv->rank, sa);
    broadcast_strides(b, yv->rank, sb);
    {   /* the innermost axis as one run (a per-channel scale or bias: a constant run) */
        const int r = yv->rank, last = r - 1;
        const int64_t len = r ? yv->dims[last] : 1, ia = r ? sa[last] : 0, ib = r ? sb[last] : 0;
        for (int64_t o = 0; o < yv->count; o += len) {
            int64_t oa = 0, ob = 0;
            for (int i = 0; i < last; i++) {
                oa += idx[i] * sa[i];
                ob += idx[i] * sb[i];
            }
            for (int64_t j = 0; j < len; j++)
                y[o + j] = binop(n->op, pa[oa + j * ia], pb[ob + j * ib]);
            for (int i = last - 1; i >= 0 && ++idx[i] == yv->dims[i]; i--)
                idx[i] = 0;
        }
    }
}


static void run_unary(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    const vgc_onnx_value *yv = &ex->g->val[n->out[0]];
    const float *x = ex->buf[n->in[0]];
    float *y = ex->buf[n->out[0]];
    int act = VGC_OA_NONE;
    float a = 0, b = 0;

    switch (n->op) {
    case VGC_OP_RELU: act = VGC_OA_RELU; break;
    case VGC_OP_LEAKY_RELU: act = VGC_OA_LEAKY; a = attr_f(n, "alpha", 0.01f); break;
    case VGC_OP_SIGMOID: act = VGC_OA_SIGMOID; break;
    case VGC_OP_HARD_SIGMOID: act = VGC_OA_HARD_SIGMOID; a = attr_f(n, "alpha", 0.2f); b = attr_f(n, "beta", 0.5f); break;
    case VGC_OP_HARD_SWISH: act = VGC_OA_HARD_SWISH; break;
    case VGC_OP_CLIP:
        act = VGC_OA_CLIP;
        a = in_v(ex, n, 1) ? *(const float *)in_v(ex, n, 1)->data : -INFINITY;
        b = in_v(ex, n, 2) ? *(const float *)in_v(ex, n, 2)->data : INFINITY;
        break;
    case VGC_OP_SQRT:
        for (int64_t i = 0; i < yv->count; i++)
            y[i] = sqrtf(x[i]);
        return;
    case VGC_OP_EXP:
        for (int64_t i = 0; i < yv->count; i++)
            y[i] = expf(x[i]);
        return;
    default:                      /* Identity and the reshapes: a copy, unless a view of x (plan_views) */
        if (y != x)
            memcpy(y, x, (size_t)yv->count * sizeof(float));
        return;
    }
    act_run(ex->k, y, x, yv->count, act, a, b);
}


static void run_batch_norm(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    const vgc_onnx_value *x = in_v(ex, n, 0);
    const float *s = in_v(ex, n, 1)->data, *bb = in_v(ex, n, 2)->data;
    const float *m = in_v(ex, n, 3)->data, *v = in_v(ex, n, 4)->data;
    const float eps = attr_f(n, "epsilon", 1e-5f), *in = ex->buf[n->in[0]];
    const int64_t hw = prod(x->dims, 2, x->rank);
    float *y = ex->buf[n->out[0]];

    for (int64_t b = 0; b < x->dims[0]; b++)
        for (int64_t c = 0; c < x->dims[1]; c++) {
            const float k = s[c] / sqrtf(v[c] + eps);
            for (int64_t i = 0; i < hw; i++, in++, y++)
                *y = (*in - m[c]) * k + bb[c];
        }
}

/* ---- layout --------------------------------------------------------------------------------- */

static int norm_axis(int64_t a, int r)
{
    return (int)(a < 0 ? a + r : a);
}


static void run_concat(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    const vgc_onnx_value *yv = &ex->g->val[n->out[0]];
    const int ax = norm_axis(attr_i(n, "axis", 0), yv->rank);
    const int64_t outer = prod(yv->dims, 0, ax), inner = prod(yv->dims, ax + 1, yv->rank);
    float *y = ex->buf[n->out[0]];
    int64_t at = 0;

    for (int k = 0; k < n->nin; k++) {
        const vgc_onnx_value *x = in_v(ex, n, k);
        const int64_t len = x->dims[ax] * inner;
        for (int64_t o = 0; o < outer; o++)
            memcpy(y + o * yv->dims[ax] * inner + at, ex->buf[n->in[k]] + o * len, (size_t)len * sizeof(float));
        at += len;
    }
}


static void run_split(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    const vgc_onnx_value *x = in_v(ex, n, 0);
    const int ax = norm_axis(attr_i(n, "axis", 0), x->rank);
    const int64_t outer = prod(x->dims, 0, ax), inner = prod(x->dims, ax + 1, x->rank);
    int64_t at = 0;

    for (int k = 0; k < n->nout; k++) {
        const int64_t len = ex->g->val[n->out[k]].dims[ax] * inner;
        for (int64_t o = 0; o < outer; o++)
            memcpy(ex->buf[n->out[k]] + o * len, ex->buf[n->in[0]] + o * x->dims[ax] * inner + at,
                   (size_t)len * sizeof(float));
        at += len;
    }
}


static void run_transpose(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    const vgc_onnx_value *x = in_v(ex, n, 0), *yv = &ex->g->val[n->out[0]];
    const vgc_onnx_attr *p = vgc_onnx_attr_get(n, "perm");
    int64_t xs[R], st[R];

    strides_of(x->dims, x->rank, xs);
    for (int i = 0; i < x->rank; i++)
        st[i] = xs[p && p->n == x->rank ? p->ints[i] : x->rank - 1 - i];
    gather_strided(ex->buf[n->out[0]], ex->buf[n->in[0]], 0, yv->dims, st, yv->rank);
}


static void run_slice(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    const vgc_onnx_value *x = in_v(ex, n, 0), *yv = &ex->g->val[n->out[0]];
    const vgc_onnx_value *sv = in_v(ex, n, 1), *av = in_v(ex, n, 3), *pv = in_v(ex, n, 4);
    int64_t xs[R], st[R], base = 0;

    strides_of(x->dims, x->rank, xs);
    memcpy(st, xs, sizeof(st));
    for (int64_t i = 0; i < sv->count; i++) {
        const int ax = norm_axis(av ? ((const int64_t *)av->data)[i] : i, x->rank);
        const int64_t step = pv ? ((const int64_t *)pv->data)[i] : 1, d = x->dims[ax];
        int64_t s = ((const int64_t *)sv->data)[i];
        if (s < 0)
            s += d;
        if (step > 0)
            s = s < 0 ? 0 : (s > d ? d : s);
        else
            s = s < 0 ? 0 : (s > d - 1 ? d - 1 : s);
        base += s * xs[ax];
        st[ax] = step * xs[ax];
    }
    gather_strided(ex->buf[n->out[0]], ex->buf[n->in[0]], base, yv->dims, st, yv->rank);
}


static void run_gather(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    const vgc_onnx_value *x = in_v(ex, n, 0), *iv = in_v(ex, n, 1);
    const int ax = norm_axis(attr_i(n, "axis", 0), x->rank);
    const int64_t outer = prod(x->dims, 0, ax), inner = prod(x->dims, ax + 1, x->rank);
    const int64_t *idx = iv->data;
    float *y = ex->buf[n->out[0]];

    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < iv->count; j++) {
            const int64_t i = idx[j] < 0 ? idx[j] + x->dims[ax] : idx[j];
            memcpy(y, ex->buf[n->in[0]] + (o * x->dims[ax] + i) * inner, (size_t)inner * sizeof(float));
            y += inner;
        }
}


/* A Softmax's input as [outer, len, inner], len the axis. */
static void softmax_shape(const vgc_onnx_exec *ex, const vgc_onnx_node *n, int64_t *outer, int64_t *len,
                          int64_t *inner)
{
    const vgc_onnx_value *x = in_v(ex, n, 0);
    const int ax = norm_axis(attr_i(n, "axis", ex->g->opset >= 13 ? -1 : 1), x->rank);
    const int old = ex->g->opset < 13;   /* before opset 13: the input as 2-D, [outer, the rest] */

    *outer = prod(x->dims, 0, ax);
    *len = old ? prod(x->dims, ax, x->rank) : x->dims[ax];
    *inner = old ? 1 : prod(x->dims, ax + 1, x->rank);
}


/*
 * Softmax along an axis: with values after it (YOLOv8's DFL: 16 bins of
 * [1, 16, 4, 8400]) the axis is strided, so each step runs over the
 * contiguous inner values of every position at once (running max, exp by
 * the kernel, sums, scale), in the thread-0 scratch (2 x inner floats).
 */
static void run_softmax(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    int64_t outer, len, inner;
    const float *in = ex->buf[n->in[0]];
    float *y = ex->buf[n->out[0]];

    softmax_shape(ex, n, &outer, &len, &inner);
    for (int64_t o = 0; o < outer; o++) {
        const float *xo = in + o * len * inner;
        float *yo = y + o * len * inner;
        if (inner == 1) {
            float mx = -INFINITY, s = 0;
            for (int64_t j = 0; j < len; j++)
                mx = xo[j] > mx ? xo[j] : mx;
            for (int64_t j = 0; j < len; j++)
                yo[j] = xo[j] - mx;
            ex->k->exp_inplace(yo, (size_t)len);
            for (int64_t j = 0; j < len; j++)
                s += yo[j];
            for (int64_t j = 0; j < len; j++)
                yo[j] /= s;
            continue;
        }
        float *mx = ex->ctx->work, *s = ex->ctx->work + inner;
        for (int64_t i = 0; i < inner; i++) {
            mx[i] = xo[i];
            s[i] = 0;
        }
        for (int64_t j = 1; j < len; j++)
            for (int64_t i = 0; i < inner; i++)
                mx[i] = xo[j * inner + i] > mx[i] ? xo[j * inner + i] : mx[i];
        for (int64_t j = 0; j < len; j++) {
            float *yj = yo + j * inner;
            for (int64_t i = 0; i < inner; i++)
                yj[i] = xo[j * inner + i] - mx[i];
            ex->k->exp_inplace(yj, (size_t)inner);
            for (int64_t i = 0; i < inner; i++)
                s[i] += yj[i];
        }
        for (int64_t i = 0; i < inner; i++)
            s[i] = 1.0f / s[i];
        for (int64_t j = 0; j < len; j++)
            for (int64_t i = 0; i < inner; i++)
                yo[j * inner + i] *= s[i];
    }
}


/* Resize's coordinate transformations and nearest roundings, parsed once per run. */
enum { CT_HALF_PIXEL, CT_ASYMMETRIC, CT_ALIGN_CORNERS, CT_PYTORCH_HALF_PIXEL };
enum { NM_ROUND_PREFER_FLOOR, NM_FLOOR, NM_CEIL, NM_ROUND_PREFER_CEIL };


static int word_index(const char *s, const char *const *words, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, words[i]) == 0)
            return i;
    return 0;
}


/* Source coordinate of output coordinate o along an axis of in -> out at scale. */
static float resize_coord(int ct, int64_t o, int64_t in, int64_t out, float scale)
{
    switch (ct) {
    case CT_ASYMMETRIC: return (float)o / scale;
    case CT_ALIGN_CORNERS: return out == 1 ? 0.0f : (float)o * (float)(in - 1) / (float)(out - 1);
    case CT_PYTORCH_HALF_PIXEL: return out > 1 ? ((float)o + 0.5f) / scale - 0.5f : 0.0f;
    default: return ((float)o + 0.5f) / scale - 0.5f;
    }
}


static int64_t nearest_index(int nm, float x, int64_t in)
{
    int64_t i;

    switch (nm) {
    case NM_FLOOR: i = (int64_t)floorf(x); break;
    case NM_CEIL: i = (int64_t)ceilf(x); break;
    case NM_ROUND_PREFER_CEIL: i = (int64_t)floorf(x + 0.5f); break;
    default: i = x == floorf(x) + 0.5f ? (int64_t)floorf(x) : (int64_t)roundf(x); break;
    }
    return i < 0 ? 0 : (i >= in ? in - 1 : i);
}


/* Whether nearest along an axis maps output o to input o / f for every o (an integer factor f). */
static int nearest_is_repeat(int ct, int nm, int64_t in, int64_t out, float scale)
{
    const int64_t f = out / in;

    if (f < 1 || f * in != out)
        return 0;
    for (int64_t o = 0; o < out; o++)
        if (nearest_index(nm, resize_coord(ct, o, in, out, scale), in) != o / f)
            return 0;
    return 1;
}


/* Nearest by integer factors (the 2x upsampling of the YOLO necks): each row widened once, then copied. */
static void resize_repeat(const float *in, int64_t planes, int64_t h, int64_t w, int64_t fy, int64_t fx, float *y)
{
    const int64_t ow = w * fx;

    for (int64_t c = 0; c < planes; c++)
        for (int64_t iy = 0; iy < h; iy++, in += w) {
            float *row = y;
            for (int64_t ix = 0; ix < w; ix++)
                for (int64_t k = 0; k < fx; k++)
                    *y++ = in[ix];
            for (int64_t k = 1; k < fy; k++, y += ow)
                memcpy(y, row, (size_t)ow * sizeof(float));
        }
}


static void run_resize(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    static const char *const cts[] = { "half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel" };
    static const char *const nms[] = { "round_prefer_floor", "floor", "ceil", "round_prefer_ceil" };
    const vgc_onnx_value *x = in_v(ex, n, 0), *yv = &ex->g->val[n->out[0]];
    const int up = n->op == VGC_OP_UPSAMPLE;
    const vgc_onnx_value *sc = in_v(ex, n, up ? 1 : 2);
    const int linear = strcmp(attr_s(n, "mode", "nearest"), "linear") == 0;
    const int ct = up ? CT_ASYMMETRIC : word_index(attr_s(n, "coordinate_transformation_mode", "half_pixel"), cts, 4);
    const int nm = up ? NM_FLOOR : word_index(attr_s(n, "nearest_mode", "round_prefer_floor"), nms, 4);
    const int64_t h = x->dims[2], w = x->dims[3], oh = yv->dims[2], ow = yv->dims[3];
    const float *in = ex->buf[n->in[0]];
    float *y = ex->buf[n->out[0]];
    float s[2];

    for (int i = 0; i < 2; i++)
        s[i] = sc && sc->count == 4 ? ((const float *)sc->data)[2 + i] : (float)yv->dims[2 + i] / (float)x->dims[2 + i];
    if (!linear && nearest_is_repeat(ct, nm, h, oh, s[0]) && nearest_is_repeat(ct, nm, w, ow, s[1])) {
        resize_repeat(in, x->dims[0] * x->dims[1], h, w, oh / h, ow / w, y);
        return;
    }
    for (int64_t c = 0; c < x->dims[0] * x->dims[1]; c++) {
        const float *p = in + c * h * w;
        for (int64_t oy = 0; oy < oh; oy++) {
            float fy = resize_coord(ct, oy, h, oh, s[0]);
            for (int64_t ox = 0; ox < ow; ox++) {
                float fx = resize_coord(ct, ox, w, ow, s[1]);
                if (!linear) {
                    *y++ = p[nearest_index(nm, fy, h) * w + nearest_index(nm, fx, w)];
                    continue;
                }
                {
                    const float cy = fminf(fmaxf(fy, 0.0f), (float)(h - 1)), cx = fminf(fmaxf(fx, 0.0f), (float)(w - 1));
                    const int64_t y0 = (int64_t)cy, x0 = (int64_t)cx;
                    const int64_t y1 = y0 + 1 < h ? y0 + 1 : y0, x1 = x0 + 1 < w ? x0 + 1 : x0;
                    const float ay = cy - (float)y0, ax = cx - (float)x0;
                    *y++ = (1 - ay) * ((1 - ax) * p[y0 * w + x0] + ax * p[y0 * w + x1]) +
                           ay * ((1 - ax) * p[y1 * w + x0] + ax * p[y1 * w + x1]);
                }
            }
        }
    }
}

/* ---- matrix products ------------------------------------------------------------------------ */

static void run_matmul(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    const vgc_onnx_value *a = in_v(ex, n, 0), *b = in_v(ex, n, 1), *yv = &ex->g->val[n->out[0]];
    const int r = yv->rank;
    const int64_t M = a->dims[a->rank - 2], K = a->dims[a->rank - 1], N = b->dims[b->rank - 1];
    const int64_t batches = prod(yv->dims, 0, r - 2);
    int64_t sa[R], sb[R], idx[R] = { 0 };
    vgc_onnx_value ab = *a, bb = *b;
    float *y = ex->buf[n->out[0]];

    /* batch strides: broadcast over the leading axes, in units of whole matrices */
    ab.rank = a->rank - 2;
    bb.rank = b->rank - 2;
    broadcast_strides(&ab, r - 2, sa);
    broadcast_strides(&bb, r - 2, sb);
    for (int64_t t = 0; t < batches; t++) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < r - 2; i++) {
            oa += idx[i] * sa[i];
            ob += idx[i] * sb[i];
        }
        {
            const float *pa = ex->buf[n->in[0]] + oa * M * K, *pb = ex->buf[n->in[1]] + ob * K * N;
            for (int64_t m = 0; m < M; m++, y += N) {
                for (int64_t j = 0; j < N; j++)
                    y[j] = 0;
                for (int64_t k = 0; k < K; k++)
                    for (int64_t j = 0; j < N; j++)
                        y[j] += pa[m * K + k] * pb[k * N + j];
            }
        }
        for (int i = r - 3; i >= 0 && ++idx[i] == yv->dims[i]; i--)
            idx[i] = 0;
    }
}


/*
 * Whether Gemm node n runs on the engine's GEMM: B a constant (the weights of
 * a fully connected layer) and C absent, a scalar or one value per output
 * column, a constant. Then y^T = (alpha B^T) x^T + beta C, row by row.
 */
static int gemm_is_engine(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    const vgc_onnx_value *b = in_v(ex, n, 1), *c = in_v(ex, n, 2), *yv = &ex->g->val[n->out[0]];

    return b->data && (!c || (c->data && (c->count == 1 || (c->count == yv->dims[1] && c->dims[c->rank - 1] ==
                                                                                          yv->dims[1]))));
}


/* Floats of node n's packed B: N rows in panels of mr, K each. */
static size_t fc_panel(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    const int64_t N = ex->g->val[n->out[0]].dims[1], mr = ex->k->gemm_mr;

    return (size_t)((N + mr - 1) / mr * mr) * (size_t)in_v(ex, n, 1)->count / (size_t)N;
}


/* Pack Gemm node n's B^T (alpha folded) as the GEMM kernel's A panels, then its bias. */
static int fc_plan_make(vgc_onnx_exec *ex, const vgc_onnx_node *n, float **out)
{
    const vgc_onnx_value *c = in_v(ex, n, 2);
    const int tb = (int)attr_i(n, "transB", 0), mr = ex->k->gemm_mr;
    const float alpha = attr_f(n, "alpha", 1.0f), beta = attr_f(n, "beta", 1.0f), *B = in_v(ex, n, 1)->data;
    const int64_t N = ex->g->val[n->out[0]].dims[1], K = in_v(ex, n, 1)->count / N;
    const size_t panel = fc_panel(ex, n);
    float *a = aligned_alloc(64, ((panel + (size_t)N + 16) * sizeof(float) + 63) & ~(size_t)63);

    if (!a)
        return VIGIA_ENOMEM;
    memset(a, 0, (panel + (size_t)N) * sizeof(float));
    for (int64_t j = 0; j < N; j++)      /* row j of B^T: a[p*K*mr + k*mr + r], j = p*mr + r */
        for (int64_t k = 0; k < K; k++)
            a[(size_t)(j / mr) * (size_t)K * mr + (size_t)k * mr + (size_t)(j % mr)] =
                alpha * B[tb ? j * K + k : k * N + j];
    for (int64_t j = 0; j < N; j++)
        a[panel + (size_t)j] = c ? beta * ((const float *)c->data)[c->count == 1 ? 0 : j] : 0.0f;
    *out = a;
    return 0;
}


static void run_gemm(const vgc_onnx_exec *ex, const vgc_onnx_node *n, const float *fc)
{
    const vgc_onnx_value *cv = in_v(ex, n, 2), *yv = &ex->g->val[n->out[0]];
    const int ta = (int)attr_i(n, "transA", 0), tb = (int)attr_i(n, "transB", 0);
    const float alpha = attr_f(n, "alpha", 1.0f), beta = attr_f(n, "beta", 1.0f);
    const int64_t M = yv->dims[0], N = yv->dims[1], K = in_v(ex, n, 0)->dims[ta ? 0 : 1];
    const float *A = ex->buf[n->in[0]], *B = ex->buf[n->in[1]];
    float *y = ex->buf[n->out[0]];
    int64_t sc[2] = { 0, 0 };

    if (fc) {                 /* the engine's GEMM: one matrix-vector product per row of A */
        for (int64_t m = 0; m < M; m++) {
            const float *x = A + m * K;
            if (ta) {         /* a column of A, gathered */
                for (int64_t k = 0; k < K; k++)
                    ex->ctx->work[k] = A[k * M + m];
                x = ex->ctx->work;
            }
            ex->k->gemm(fc, (int)N, (int)K, x, 1, 1, y + m * N, 1, fc + fc_panel(ex, n), VGC_ACT_LINEAR);
        }
        return;
    }
    if (cv)
        broadcast_strides(cv, 2, sc);
    for (int64_t m = 0; m < M; m++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (double)A[ta ? k * M + m : m * K + k] * B[tb ? j * K + k : k * N + j];
            y[m * N + j] = alpha * (float)s + (cv ? beta * ex->buf[n->in[2]][m * sc[0] + j * sc[1]] : 0.0f);
        }
}

/* ---- planning -------------------------------------------------------------------------------- */

static int live(const vgc_onnx_node *n)
{
    return !n->removed && !n->folded;
}


/* Why node n cannot run, or NULL. */
static const char *cannot_run(const vgc_onnx_exec *ex, const vgc_onnx_node *n)
{
    for (int k = 0; k < n->nout; k++)
        if (ex->g->val[n->out[k]].dtype != VGC_DT_FLOAT)
            return "an int64 output not known at load";
    for (int k = 0; k < n->nin; k++) {
        const vgc_onnx_value *v = in_v(ex, n, k);
        if (v && v->dtype != VGC_DT_FLOAT && !v->data)
            return "an int64 input not known at load";
    }
    switch (n->op) {
    case VGC_OP_CONV:
        return in_v(ex, n, 0)->rank == 4 ? NULL : "not 2-D";
    case VGC_OP_CLIP:
        for (int k = 1; k < n->nin && k < 3; k++)
            if (in_v(ex, n, k) && (!in_v(ex, n, k)->data || in_v(ex, n, k)->count != 1))
                return "min and max must be scalar constants";
        return NULL;
    case VGC_OP_MATMUL:
        return in_v(ex, n, 0)->rank >= 2 && in_v(ex, n, 1)->rank >= 2 ? NULL : "a 1-D operand";
    case VGC_OP_GEMM:
        return in_v(ex, n, 0)->rank == 2 && in_v(ex, n, 1)->rank == 2 ? NULL : "operands must be 2-D";
    case VGC_OP_SLICE:
        return n->nin >= 3 && in_v(ex, n, 1) && in_v(ex, n, 1)->data ? NULL : "starts not known at load";
    case VGC_OP_SHAPE: case VGC_OP_CONSTANT: case VGC_OP_CONSTANT_OF_SHAPE:
        return "not computed at load";
    default:
        return NULL;
    }
}


/*
 * Concats without copies: where every input of a Concat is one contiguous
 * slab of its output (the axes before the concatenated one are all 1: a
 * channel Concat of one image) and a value computed here, used as no other
 * Concat's slab, a multiple of 16 floats long (so slabs stay 64-byte
 * aligned and a kernel's vector tail never reaches the next), each input's
 * producer writes straight into the output at its offset. The output then
 * lives from its first producer to its last reader or any input's.
 */
static void plan_concat(vgc_onnx_exec *ex, int *first, int *last)
{
    const vgc_onnx_graph *g = ex->g;

    for (int i = 0; i < g->nnode; i++) {
        const vgc_onnx_node *n = &g->node[i];
        const vgc_onnx_value *yv;
        int ok, ax;

        if (!live(n) || n->op != VGC_OP_CONCAT || n->nin < 1 || ex->slab_of[n->out[0]] >= 0)
            continue;
        yv = &g->val[n->out[0]];
        ax = norm_axis(attr_i(n, "axis", 0), yv->rank);
        ok = first[n->out[0]] >= 0 && prod(yv->dims, 0, ax) == 1;
        for (int k = 0; ok && k < n->nin; k++) {
            const int u = n->in[k];
            ok = u >= 0 && first[u] >= 0 && ex->slab_of[u] < 0 && g->val[u].count % 16 == 0;
            for (int j = 0; ok && j < g->nnode; j++)   /* not itself a Concat's output written in place */
                ok = !(g->node[j].op == VGC_OP_CONCAT && g->node[j].nout > 0 && g->node[j].out[0] == u &&
                       ex->in_place[j]);
            for (int j = 0; ok && j < k; j++)          /* not twice in this one */
                ok = n->in[j] != u;
        }
        if (!ok)
            continue;
        {
            size_t at = 0;
            const int y = n->out[0];
            for (int k = 0; k < n->nin; k++) {
                const int u = n->in[k];
                ex->slab_of[u] = y;
                ex->slab_at[u] = at;
                at += (size_t)g->val[u].count;
                if (first[u] < first[y])
                    first[y] = first[u];
                if (last[u] > last[y])
                    last[y] = last[u];
            }
            ex->in_place[i] = 1;
        }
    }
}


/*
 * A Split along an axis with nothing before it (the channels of one image:
 * YOLOv8's C2f blocks) is views too: each output is a run of its input's
 * floats, at offsets kept 16-float aligned as the arena's buffers are.
 */
static void plan_split_view(vgc_onnx_exec *ex, const vgc_onnx_node *n, int *first, int *last)
{
    const vgc_onnx_graph *g = ex->g;
    const int x = n->in[0];
    const vgc_onnx_value *xv = &g->val[x];
    const int ax = norm_axis(attr_i(n, "axis", 0), xv->rank);
    size_t at = 0;
    int ok = first[x] >= 0 && !xv->data && ex->slab_of[x] < 0 && prod(xv->dims, 0, ax) == 1;

    for (int k = 0; ok && k < n->nout; k++) {
        const int y = n->out[k];
        ok = y >= 0 && ex->slab_of[y] < 0 && at % 16 == 0;
        at += y >= 0 ? (size_t)g->val[y].count : 0;
    }
    if (!ok || at != (size_t)xv->count)
        return;
    at = 0;
    for (int k = 0; k < n->nout; k++) {
        const int y = n->out[k];
        ex->slab_of[y] = x;
        ex->slab_at[y] = at;
        at += (size_t)g->val[y].count;
        if (last[y] > last[x])
            last[x] = last[y];
    }
    ex->in_place[n - g->node] = 1;
}


/*
 * A Reshape, Flatten, Squeeze or Unsqueeze of a value in the arena is a view:
 * its output is its input's floats (slab_of, at offset 0), and the input
 * lives as long as the view is read. Not for a Concat's slabs either side.
 */
static void plan_views(vgc_onnx_exec *ex, int *first, int *last)
{
    const vgc_onnx_graph *g = ex->g;

    for (int i = 0; i < g->nnode; i++) {
        const vgc_onnx_node *n = &g->node[i];
        int x, y;
        if (live(n) && n->op == VGC_OP_SPLIT && n->nin >= 1 && n->in[0] >= 0) {
            plan_split_view(ex, n, first, last);
            continue;
        }
        if (!live(n) || n->nin < 1 || n->nout != 1 ||
            (n->op != VGC_OP_RESHAPE && n->op != VGC_OP_FLATTEN && n->op != VGC_OP_SQUEEZE &&
             n->op != VGC_OP_UNSQUEEZE && n->op != VGC_OP_IDENTITY))
            continue;
        x = n->in[0];
        y = n->out[0];
        if (x < 0 || first[x] < 0 || g->val[x].data || ex->slab_of[x] >= 0 || ex->slab_of[y] >= 0 ||
            g->val[x].count != g->val[y].count)
            continue;
        ex->slab_of[y] = x;
        ex->slab_at[y] = 0;
        if (last[y] > last[x])
            last[x] = last[y];
    }
}


/* Place every computed value in the arena: first fit among values alive at the same time. */
static int plan_arena(vgc_onnx_exec *ex)
{
    const vgc_onnx_graph *g = ex->g;
    int *first = malloc((size_t)g->nval * 2 * sizeof(int)), *last = first ? first + g->nval : NULL;
    int rc = 0;

    if (!first)
        return VIGIA_ENOMEM;
    for (int v = 0; v < g->nval; v++) {
        ex->off[v] = SIZE_MAX;
        first[v] = last[v] = -1;
    }
    for (int i = 0; i < g->nnode; i++) {
        const vgc_onnx_node *n = &g->node[i];
        if (!live(n))
            continue;
        for (int k = 0; k < n->nout; k++)
            if (!g->val[n->out[k]].data)
                first[n->out[k]] = last[n->out[k]] = i;
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0)
                last[n->in[k]] = i;
    }
    for (int i = 0; i < g->nout; i++)
        last[g->out[i]] = g->nnode;
    plan_concat(ex, first, last);
    plan_views(ex, first, last);
    for (int v = 0; v < g->nval; v++) {
        size_t size = ((size_t)g->val[v].count + 15) & ~(size_t)15, at = 0;
        int moved = 1;

        if (first[v] < 0 || ex->slab_of[v] >= 0)   /* not computed here, a slab of a Concat's output, or a view */
            continue;
        while (moved) {           /* lowest offset clear of every overlapping placed value */
            moved = 0;
            for (int u = 0; u < v; u++) {
                size_t us = ((size_t)g->val[u].count + 15) & ~(size_t)15;
                if (ex->off[u] == SIZE_MAX || last[u] < first[v] || first[u] > last[v])
                    continue;
                if (at < ex->off[u] + us && ex->off[u] < at + size) {
                    at = ex->off[u] + us;
                    moved = 1;
                }
            }
        }
        ex->off[v] = at;
        if (at + size > ex->arena_floats)
            ex->arena_floats = at + size;
    }
    if (ex->arena_floats * sizeof(float) > VGC_MAX_ARENA_BYTES)
        rc = VIGIA_EINVAL;
    free(first);
    return rc;
}


/* Readers of value v in g: inputs of live nodes, plus one if it is a graph output. */
static int readers(const vgc_onnx_graph *g, int v)
{
    int n = 0;

    for (int i = 0; i < g->nout; i++)
        n += g->out[i] == v;
    for (int i = 0; i < g->nnode; i++)
        for (int k = 0; live(&g->node[i]) && k < g->node[i].nin; k++)
            n += g->node[i].in[k] == v;
    return n;
}


/* Node i's constant B or weights, read by nothing else, once packed: freed (vgc_onnx_exec_create_owner). */
static void shed_node(vgc_onnx_exec *ex, vgc_onnx_graph *g, int i)
{
    const int v = g->node[i].nin > 1 ? g->node[i].in[1] : -1;

    if ((ex->conv[i] || ex->fc[i]) && v >= 0 && g->val[v].data && readers(g, v) == 1) {
        free(g->val[v].data);
        g->val[v].data = NULL;
    }
}


static int exec_create(vgc_onnx_exec **out, const vgc_onnx_graph *g, vgc_onnx_graph *owned, int threads, char *err,
                       size_t errlen);


int vgc_onnx_exec_create_owner(vgc_onnx_exec **out, vgc_onnx_graph *g, int threads, char *err, size_t errlen)
{
    return exec_create(out, g, g, threads, err, errlen);
}


int vgc_onnx_exec_create(vgc_onnx_exec **out, const vgc_onnx_graph *g, char *err, size_t errlen)
{
    return vgc_onnx_exec_create_threads(out, g, 1, err, errlen);
}


int vgc_onnx_exec_create_threads(vgc_onnx_exec **out, const vgc_onnx_graph *g, int threads, char *err,
                                 size_t errlen)
{
    return exec_create(out, g, NULL, threads, err, errlen);
}


/* owned: g itself, when the caller lets the executor free what it packs; else NULL. */
static int exec_create(vgc_onnx_exec **out, const vgc_onnx_graph *g, vgc_onnx_graph *owned, int threads, char *err,
                       size_t errlen)
{
    vgc_onnx_exec *ex = calloc(1, sizeof(*ex));
    int rc = 0;

    *out = NULL;
    if (threads < 1 || threads > VGC_MAX_THREADS) {
        free(ex);
        return vgc_fail(err, errlen, VIGIA_EINVAL, "threads %d out of range (1 to %d)", threads, VGC_MAX_THREADS);
    }
    if (!ex)
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    ex->g = g;
    ex->k = vgc_kernels_pick(VGC_SIMD_AUTO);
    ex->buf = calloc((size_t)g->nval, sizeof(float *));
    ex->off = calloc((size_t)g->nval, sizeof(size_t));
    ex->conv = calloc((size_t)g->nnode + 1, sizeof(conv_plan *));
    ex->fc = calloc((size_t)g->nnode + 1, sizeof(float *));
    ex->slab_of = malloc(((size_t)g->nval + 1) * sizeof(int));
    ex->slab_at = calloc((size_t)g->nval + 1, sizeof(size_t));
    ex->in_place = calloc((size_t)g->nnode + 1, 1);
    for (int v = 0; ex->slab_of && v < g->nval; v++)
        ex->slab_of[v] = -1;
    ex->ctx = calloc(1, sizeof(*ex->ctx));
    if (ex->ctx) {
        ex->ctx->k = ex->k;
        ex->ctx->threads = threads;
    }
    if (!ex->buf || !ex->off || !ex->conv || !ex->fc || !ex->slab_of || !ex->slab_at || !ex->in_place || !ex->ctx || vgc_pool_create(&ex->ctx->pool, threads) < 0) {
        rc = vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < g->nnode; i++) {
        const vgc_onnx_node *n = &g->node[i];
        const char *why;
        if (!live(n))
            continue;
        if ((why = cannot_run(ex, n))) {
            rc = fail_node(n, err, errlen, VIGIA_ENOTSUP, why);
            goto fail;
        }
        if ((n->op == VGC_OP_CONV && (rc = conv_plan_make(ex, n, &ex->conv[i]))) ||
            (n->op == VGC_OP_GEMM && gemm_is_engine(ex, n) && (rc = fc_plan_make(ex, n, &ex->fc[i])))) {
            rc = fail_node(n, err, errlen, rc, "out of memory");
            goto fail;
        }
    }
    if ((rc = plan_arena(ex))) {
        rc = vgc_fail(err, errlen, rc, rc == VIGIA_ENOMEM ? "out of memory" : "activations need more than %zu bytes",
                      (size_t)VGC_MAX_ARENA_BYTES);
        goto fail;
    }
    choose_winograd(ex);
    for (int i = 0; i < g->nnode; i++) {
        size_t need = 0;
        if (ex->conv[i] && (rc = conv_plan_pack(ex, &g->node[i], ex->conv[i], &need))) {
            rc = fail_node(&g->node[i], err, errlen, rc, "out of memory");
            goto fail;
        }
        if (owned)
            shed_node(ex, owned, i);
        if (g->node[i].op == VGC_OP_MAX_POOL && live(&g->node[i]))  /* the engine's kernel: a padded row */
            need = (size_t)in_v(ex, &g->node[i], 0)->dims[3] + 2 * (size_t)VGC_MAX_KERNEL;
        if (ex->fc[i])                /* a column of a transposed A */
            need = (size_t)in_v(ex, &g->node[i], 0)->count;
        if (g->node[i].op == VGC_OP_SOFTMAX && live(&g->node[i])) {   /* the inner values' max and sum */
            int64_t outer, len, inner;
            softmax_shape(ex, &g->node[i], &outer, &len, &inner);
            need = 2 * (size_t)inner;
        }
        if ((ex->conv[i] || ex->fc[i] || g->node[i].op == VGC_OP_MAX_POOL || g->node[i].op == VGC_OP_SOFTMAX) &&
            need > ex->ctx->work_floats)
            ex->ctx->work_floats = need;
    }
    ex->arena = aligned_alloc(64, ((ex->arena_floats + 16) * sizeof(float) + 63) & ~(size_t)63);
    /* the engine's layers: thread t's scratch at t * work_floats (64-byte aligned) */
    ex->ctx->work_floats = (ex->ctx->work_floats + 15) & ~(size_t)15;
    if (ex->ctx->work_floats * sizeof(float) > VGC_MAX_ARENA_BYTES / (size_t)threads) {
        rc = vgc_fail(err, errlen, VIGIA_EINVAL, "scratch of %d threads needs more than %zu bytes", threads,
                      (size_t)VGC_MAX_ARENA_BYTES);
        goto fail;
    }
    ex->ctx->work = aligned_alloc(64, ((ex->ctx->work_floats * (size_t)threads + 16) * sizeof(float) + 63) &
                                          ~(size_t)63);
    if (!ex->arena || !ex->ctx->work) {
        rc = vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory for %zu activation floats", ex->arena_floats);
        goto fail;
    }
    for (int v = 0; v < g->nval; v++)
        ex->buf[v] = g->val[v].data ? g->val[v].data : ex->off[v] != SIZE_MAX ? ex->arena + ex->off[v] : NULL;
    for (int v = 0; v < g->nval; v++)
        if (ex->slab_of[v] >= 0)
            ex->buf[v] = ex->buf[ex->slab_of[v]] + ex->slab_at[v];
    *out = ex;
    return 0;
fail:
    vgc_onnx_exec_destroy(ex);
    return rc;
}


int vgc_onnx_exec_run(vgc_onnx_exec *ex, const float *const *inputs, char *err, size_t errlen)
{
    const vgc_onnx_graph *g = ex->g;

    for (int i = 0; i < g->nin; i++)
        ex->buf[g->in[i]] = (float *)inputs[i];  /* read only: no node writes a graph input */
    for (int i = 0; i < g->nout; i++)
        if (!ex->buf[g->out[i]])
            return vgc_fail(err, errlen, VIGIA_EINVAL, "graph output '%s' is never computed", g->val[g->out[i]].name);
    for (int i = 0; i < g->nnode; i++) {
        const vgc_onnx_node *n = &g->node[i];
        struct timespec t0, t1;
        if (!live(n))
            continue;
        if (ex->prof)
            clock_gettime(CLOCK_MONOTONIC, &t0);
        switch (n->op) {
        case VGC_OP_CONV: run_conv(ex, n, ex->conv[i]); break;
        case VGC_OP_CONV_TRANSPOSE: run_conv_transpose(ex, n); break;
        case VGC_OP_BATCH_NORM: run_batch_norm(ex, n); break;
        case VGC_OP_MAX_POOL: case VGC_OP_AVG_POOL: run_pool(ex, n); break;
        case VGC_OP_GLOBAL_AVG_POOL: run_global_avg(ex, n); break;
        case VGC_OP_ADD: case VGC_OP_SUB: case VGC_OP_MUL: case VGC_OP_DIV: case VGC_OP_POW:
            run_binary(ex, n);
            break;
        case VGC_OP_CONCAT:
            if (!ex->in_place[i])    /* else its inputs were written into it */
                run_concat(ex, n);
            break;
        case VGC_OP_SPLIT:
            if (!ex->in_place[i])    /* else its outputs are views of its input */
                run_split(ex, n);
            break;
        case VGC_OP_SLICE: run_slice(ex, n); break;
        case VGC_OP_GATHER: run_gather(ex, n); break;
        case VGC_OP_TRANSPOSE: run_transpose(ex, n); break;
        case VGC_OP_RESIZE: case VGC_OP_UPSAMPLE: run_resize(ex, n); break;
        case VGC_OP_SOFTMAX: run_softmax(ex, n); break;
        case VGC_OP_MATMUL: run_matmul(ex, n); break;
        case VGC_OP_GEMM: run_gemm(ex, n, ex->fc[i]); break;
        default: run_unary(ex, n); break;
        }
        if (ex->prof) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            ex->prof[i] += (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        }
    }
    ex->prof_runs += ex->prof != NULL;
    return 0;
}


int vgc_onnx_exec_profile_on(vgc_onnx_exec *ex)
{
    if (!ex->prof && !(ex->prof = calloc((size_t)ex->g->nnode + 1, sizeof *ex->prof)))
        return VIGIA_ENOMEM;
    return 0;
}


int vgc_onnx_exec_profile(const vgc_onnx_exec *ex, double *seconds)
{
    for (int i = 0; i < ex->g->nnode; i++)
        seconds[i] = ex->prof ? ex->prof[i] : 0;
    return ex->prof_runs;
}


const float *vgc_onnx_exec_output(const vgc_onnx_exec *ex, int i)
{
    return ex->buf[ex->g->out[i]];
}


size_t vgc_onnx_exec_arena_floats(const vgc_onnx_exec *ex)
{
    return ex->arena_floats;
}


/* int8 / bf16 (q8.h): the convolutions the engine runs itself go reduced where they qualify. */
int vgc_onnx_exec_precision(vgc_onnx_exec *ex, const vgc_options *opt, const char **note, char *err, size_t errlen)
{
    int rc = vgc_q8_begin(ex->ctx, opt, err, errlen), convs = 0;

    for (int i = 0; rc >= 0 && i < ex->g->nnode; i++) {
        conv_plan *p = ex->conv[i];
        if (p && (++convs, !p->direct || p->small)) {
            rc = vgc_q8_attach(ex->ctx, &p->l, err, errlen);
            if (rc == 0)    /* left fp32 by int8: a 1x1 layer may run s16 (q16.h) */
                rc = vgc_q16_attach(ex->ctx, opt->q16, &p->l, err, errlen);
            if (rc == 1 && p->small)
                p->direct = 0;   /* reduced: through the engine's path (planned for it at pack time) */
        }
    }
    if (rc >= 0)
        rc = vgc_q16_finish(ex->ctx, err, errlen);
    if (rc >= 0)
        rc = vgc_q8_finish(ex->ctx, convs, err, errlen);
    *note = ex->ctx->prec_note;
    return rc < 0 ? rc : 0;
}



static int run_one(void *ex, const float *x, char *err, size_t errlen)
{
    return vgc_onnx_exec_run(ex, &x, err, errlen);
}


/* int8 with static ranges (q8_calib.h), for a graph of one [1, c, h, w] input. */
int vgc_onnx_exec_calibrate(vgc_onnx_exec *ex, const char *dir, const char *cache_path, const char *model_path,
                            char *note, size_t notelen, char *err, size_t errlen)
{
    const vgc_onnx_value *x = &ex->g->val[ex->g->in[0]];

    if (ex->g->nin != 1 || x->rank != 4 || x->dims[0] != 1)
        return vgc_fail(err, errlen, VIGIA_ENOTSUP, "int8 calibration needs a graph of one [1, c, h, w] input");
    return vgc_q8_calibrate_with(ex->ctx, (int)x->dims[1], (int)x->dims[3], (int)x->dims[2], run_one, ex, dir,
                                 cache_path, model_path, note, notelen, err, errlen);
}


void vgc_onnx_exec_destroy(vgc_onnx_exec *ex)
{
    if (!ex)
        return;
    if (ex->conv)
        for (int i = 0; i < ex->g->nnode; i++)
            conv_plan_free(ex->conv[i]);
    if (ex->fc)
        for (int i = 0; i < ex->g->nnode; i++)
            free(ex->fc[i]);
    free(ex->conv);
    free(ex->fc);
    free(ex->slab_of);
    free(ex->slab_at);
    free(ex->in_place);
    free(ex->prof);
    free(ex->buf);
    free(ex->off);
    free(ex->arena);
    if (ex->ctx) {
        vgc_q8_release(ex->ctx);
        vgc_q16_release(ex->ctx);
        vgc_pool_destroy(ex->ctx->pool);
        free(ex->ctx->work);
        free(ex->ctx);
    }
    free(ex);
}
