/*
 * backends/cpu/forward.c: running the layers, and turning the yolo heads'
 * tensors into candidate boxes.
 *
 * Every layer splits its work into tasks for the pool: convolutions by
 * (image, group, band of output rows or columns), depthwise convolutions
 * and pooling by (image, band of channels). Bias and activation are applied
 * to each band right after its GEMM, while it is still in cache. Nothing is
 * allocated here: the arena and per-thread scratch were sized at load
 * (vgc_layer_plan()).
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "q8.h"
#include "q8_first.h"
#include "q16.h"

/* im2col scratch a GEMM task may use, in floats (a band of output rows). */
#define COL_TARGET_FLOATS ((size_t)1 << 19)
/* output columns per 1x1 task, at most */
#define COLS_1X1_MAX 4096
/* a fused 1x1 -> depthwise task's planes of the 1x1's output, about */
#define EXPAND_BYTES ((size_t)256 << 10)

size_t vgc_layer_plan(vgc_net *net, vgc_layer *l);

static int div_up(int a, int b)
{
    return (a + b - 1) / b;
}


/*
 * Run a layer's tasks on the pool, or on the calling thread alone when the
 * layer is too small for waking the other threads to pay (about 250k
 * multiply-adds or memory moves for the whole batch).
 */
static void run_tasks(vgc_net *net, const vgc_layer *l, int batch, int ntasks, vgc_task_fn fn, void *ctx)
{
    double work = l->type == VGC_L_CONV ? (double)l->nweights * l->out_w * l->out_h
                                        : (double)l->out_size * (l->size > 1 ? l->size * l->size : 1);

    if (work * batch < 262144.0)
        vgc_pool_run_serial(net->pool, ntasks, fn, ctx);
    else
        vgc_pool_run(net->pool, ntasks, fn, ctx);
}


/* Where an expand_fused layer's planes start in a thread's scratch (after the depthwise kernel's own). */
static size_t expand_offset(const vgc_layer *l)
{
    return (vgc_dw_scratch_floats(l->w, l->pad, l->stride, l->size) + 15) & ~(size_t)15;
}


/* A pool_fused convolution l that conv_pool2 runs: stride 1, even output, a 2x2 stride-2 pool. */
static int pool2(const vgc_net *net, const vgc_layer *l)
{
    return net->k->conv_pool2 && l->stride == 1 && l->groups == 1 && l[1].size == 2 && l[1].stride == 2 &&
           l->out_w % 2 == 0 && l->out_h % 2 == 0 && l[1].out_w == l->out_w / 2 && l[1].out_h == l->out_h / 2;
}


/* An expand_fused layer's group of channels: a multiple of mr, its planes about EXPAND_BYTES. */
static int expand_group(const vgc_layer *l, int mr, int t)
{
    int g = (int)((size_t)EXPAND_BYTES / sizeof(float) / ((size_t)l->w * l->h)) / mr * mr;

    g = g < mr ? mr : g;
    if (t > 1 && g > div_up(div_up(l->c, 2 * t), mr) * mr)
        g = div_up(div_up(l->c, 2 * t), mr) * mr;
    return g;
}


/*
 * Decide how layer l splits into tasks (l->chunk) and return the per-thread
 * scratch it needs, in floats.
 */
size_t vgc_layer_plan(vgc_net *net, vgc_layer *l)
{
    const int t = net->threads;

    switch (l->type) {
    case VGC_L_CONV:
        if (l->q8first)
            return vgc_q8_first_plan(net, l);
        /* (an int8 layer's own pool is in its GEMM's bands, q8.c: its plan as before, below) */
        if (l->pool_fused && !l->q8 && pool2(net, l)) {
            /* pairs of rows, pooled in registers: bands for balance only */
            l->chunk = t == 1 ? l->out_h : div_up(div_up(l->out_h, 2 * t), 2) * 2;
            return vgc_conv_pool2_scratch_floats(l->c, l->w, l->pad, l->size, l->out_c, l->out_w);
        }
        if (l->kind == VGC_CONV_GEMM && net->k->conv_rows && l->pool_fused && !l->q8) {
            /* bands of whole pooling windows, their output (about 256 KiB) in L2 until pooled */
            const int ps = l[1].stride;
            int rows = (int)(((size_t)256 << 10) / sizeof(float) / ((size_t)l->out_c * l->out_w)) / ps * ps;

            rows = rows < ps ? ps : rows;
            if (t > 1 && rows > div_up(l->out_h, 2 * t))
                rows = div_up(div_up(l->out_h, 2 * t), ps) * ps;
            l->chunk = rows;
            return vgc_conv_scratch_floats(l->c, l->w, l->pad, l->stride, l->size) + 16 +
                   (size_t)l->out_c * l->out_w * rows + (size_t)l->out_w + 2 * (size_t)l[1].size;
        }
        if (l->kind == VGC_CONV_GEMM && net->k->conv_rows) {
            /* implicit GEMM: bands of output rows, several per thread for balance */
            l->chunk = t == 1 ? l->out_h : div_up(l->out_h, 2 * t);
            return vgc_conv_scratch_floats(l->c / l->groups, l->w, l->pad, l->stride, l->size);
        }
        if (l->kind == VGC_CONV_GEMM) {
            size_t k = (size_t)(l->c / l->groups) * (size_t)l->size * (size_t)l->size;
            size_t rows = COL_TARGET_FLOATS / (k * (size_t)l->out_w);
            int per = div_up(l->out_h, t);

            if (rows < 1)
                rows = 1;
            if (t > 1 && (size_t)per < rows)
                rows = (size_t)per;
            if (rows > (size_t)l->out_h)
                rows = (size_t)l->out_h;
            l->chunk = (int)rows;
            return k * rows * (size_t)l->out_w;
        }
        if (l->kind == VGC_CONV_WINO && l->wino_m == 4) {
            const int mr = net->k->gemm_mr, panels = div_up(l->filters, mr);
            const int ntx = div_up(l->out_w, 4), nty = div_up(l->out_h, 4);
            int rb = div_up(64, ntx), blocks, mrows;
            size_t tb, pl = (size_t)(l->w + 5) / 4 + 20;

            /* about 64 tiles (1024 outputs) a block, fewer when V and M would pass 8 MiB */
            while (rb > 1 && (size_t)36 * (size_t)(l->c + l->filters) * (size_t)rb * ntx > ((size_t)2 << 20))
                rb--;
            if (rb > nty)
                rb = nty;
            blocks = div_up(nty, rb);
            rb = div_up(nty, blocks);
            l->chunk = rb;
            l->split = blocks >= t ? 1 : div_up(t, blocks);
            if (l->split > panels)
                l->split = panels;
            mrows = div_up(panels, l->split) * mr;
            tb = (size_t)rb * ntx;
            /* V (36 x C x tb), M (36 x mrows x tb), a ring of 6 rows and a zero row of 4 phases, a dummy row */
            return 36 * (size_t)l->c * tb + 36 * (size_t)mrows * tb + 7 * 4 * pl + (size_t)(4 * ntx + 64);
        }
        if (l->kind == VGC_CONV_WINO) {
            const int mr = net->k->gemm_mr, panels = div_up(l->filters, mr);
            const int ntx = div_up(l->out_w, 2), nty = div_up(l->out_h, 2);
            int rb = div_up(128, ntx), blocks, mrows;
            size_t tb;

            /* about 128 tiles a block, fewer when V and M would pass 8 MiB */
            while (rb > 1 && (size_t)16 * (size_t)(l->c + l->filters) * (size_t)rb * ntx > ((size_t)2 << 20))
                rb--;
            if (rb > nty)
                rb = nty;
            blocks = div_up(nty, rb);
            rb = div_up(nty, blocks);   /* the same number of tile rows in every block */
            l->chunk = rb;
            l->split = blocks >= t ? 1 : div_up(t, blocks);
            if (l->split > panels)
                l->split = panels;
            mrows = div_up(panels, l->split) * mr;
            tb = (size_t)rb * ntx;
            /* V (16 x C x tb), M (16 x mrows x tb), 5 padded rows, 2 output rows */
            return 16 * (size_t)l->c * tb + 16 * (size_t)mrows * tb + 5 * (size_t)(2 * ntx + 40) +
                   2 * (size_t)(2 * ntx + 40);
        }
        if (l->kind == VGC_CONV_1X1) {
            int hw = l->out_w * l->out_h;
            int cols = div_up(hw, t);

            if (cols > COLS_1X1_MAX)
                cols = div_up(hw, div_up(hw, COLS_1X1_MAX));
            cols = (cols + 15) & ~15;
            l->chunk = cols < hw ? cols : hw;
            return 0;
        }
        if (l->expand_fused) {
            /* groups of whole GEMM panels of the 1x1's filters, their planes (about EXPAND_BYTES) in L2 */
            const size_t ihw = (size_t)l->w * l->h;
            int g = expand_group(l, net->k->gemm_mr, t);

            /*
             * an s16 1x1's rows go 8 at a time (q16.h): where the fp32 GEMM's panels made the group
             * larger (xl's 160x160 layers: 16 channels, 1.6 MB of planes past L2), groups of 8 (800
             * KB; VGC_PROFILE, `bench_engines ab`: layers 2 and 5 -0.01 to -0.03 ms). Planned again
             * once the 1x1 is s16 (q16.c), never larger than planned first: the scratch stays.
             */
            if (l[-1].q16) {
                const int g8 = expand_group(l, 8, t);

                g = g8 < g ? g8 : g;
            }
            l->chunk = g < l->c ? g : l->c;
            return expand_offset(l) + (size_t)l->chunk * (ihw + VGC_Q8_RANGE);
        }
        l->chunk = div_up(l->c, 4 * t);
        return vgc_dw_scratch_floats(l->w, l->pad, l->stride, l->size);
    case VGC_L_MAXPOOL:
        l->chunk = div_up(l->out_c, 4 * t);
        return (size_t)l->w + 2 * (size_t)l->size;
    case VGC_L_UPSAMPLE:
        l->chunk = div_up(l->out_c, 4 * t);
        return 0;
    default:
        l->chunk = 1;
        return 0;
    }
}

/* ---- convolution ------------------------------------------------------------------- */

typedef struct conv_job {
    vgc_net *net;
    const vgc_layer *l;
    const float *in;          /* image 0 input */
    int tasks_per_image;
    int rows;                 /* conv_rows_task's band of output rows: l->chunk, or packs_band() */
    vgc_conv_quant quant;     /* conv_pool2 quantizing into an int8 layer's planes (q8.h), or q NULL */
} conv_job;


/* Rows [y0, y1) of the output, as im2col columns: col[k][(y - y0) * ow + x]. */
static void im2col_rows(const float *in, int c, int h, int w, int size, int stride, int pad,
                        int y0, int y1, int ow, float *col)
{
    const size_t nc = (size_t)(y1 - y0) * (size_t)ow;

    for (int ci = 0; ci < c; ci++) {
        const float *plane = in + (size_t)ci * h * w;

        for (int ky = 0; ky < size; ky++) {
            for (int kx = 0; kx < size; kx++) {
                float *dst = col + ((size_t)(ci * size + ky) * size + kx) * nc;
                /* output x whose input column ix = x*stride - pad + kx is inside */
                int x_lo = kx >= pad ? 0 : div_up(pad - kx, stride);
                int x_hi = (w - 1 + pad - kx) < 0 ? 0 : (w - 1 + pad - kx) / stride + 1;

                if (x_hi > ow)
                    x_hi = ow;
                if (x_lo > x_hi)
                    x_lo = x_hi;
                for (int y = y0; y < y1; y++, dst += ow) {
                    int iy = y * stride - pad + ky;
                    const float *src;

                    if (iy < 0 || iy >= h) {
                        memset(dst, 0, (size_t)ow * sizeof(float));
                        continue;
                    }
                    src = plane + (size_t)iy * w - pad + kx;
                    for (int x = 0; x < x_lo; x++)
                        dst[x] = 0;
                    if (stride == 1) {
                        memcpy(dst + x_lo, src + x_lo, (size_t)(x_hi - x_lo) * sizeof(float));
                    } else {
                        for (int x = x_lo; x < x_hi; x++)
                            dst[x] = src[x * stride];
                    }
                    for (int x = x_hi; x < ow; x++)
                        dst[x] = 0;
                }
            }
        }
    }
}


static void conv_gemm_task(void *ctx, int task, int thread)
{
    const conv_job *j = ctx;
    const vgc_layer *l = j->l;
    const int bands = div_up(l->out_h, l->chunk);
    const int b = task / j->tasks_per_image;
    const int g = (task % j->tasks_per_image) / bands;
    const int band = task % bands;
    const int cg = l->c / l->groups, fg = l->filters / l->groups;
    const int k = cg * l->size * l->size;
    const int y0 = band * l->chunk;
    const int y1 = y0 + l->chunk < l->out_h ? y0 + l->chunk : l->out_h;
    const int nc = (y1 - y0) * l->out_w;
    const size_t ohw = (size_t)l->out_w * l->out_h;
    const float *in = j->in + (size_t)b * l->c * l->h * l->w + (size_t)g * cg * l->h * l->w;
    float *out = l->out + (size_t)b * l->out_size + (size_t)g * fg * ohw + (size_t)y0 * l->out_w;
    float *col = j->net->work + (size_t)thread * j->net->work_floats;

    const int mr = j->net->k->gemm_mr;
    const size_t group = (size_t)((fg + mr - 1) / mr) * mr * k;

    im2col_rows(in, cg, l->h, l->w, l->size, l->stride, l->pad, y0, y1, l->out_w, col);
    j->net->k->gemm(l->weights + (size_t)g * group, fg, k, col, (size_t)nc, nc, out, ohw,
                    l->biases + g * fg, l->act);
}


static void conv_rows_task(void *ctx, int task, int thread)
{
    const conv_job *j = ctx;
    const vgc_layer *l = j->l;
    const int bands = div_up(l->out_h, j->rows);
    const int b = task / j->tasks_per_image;
    const int g = (task % j->tasks_per_image) / bands;
    const int band = task % bands;
    const int cg = l->c / l->groups, fg = l->filters / l->groups;
    const int mr = j->net->k->gemm_mr;
    const size_t group = (size_t)((fg + mr - 1) / mr) * mr * (size_t)cg * l->size * l->size;
    vgc_conv_args a = {
        .in = j->in + (size_t)b * l->c * l->h * l->w + (size_t)g * cg * l->h * l->w,
        .c = cg, .w = l->w, .h = l->h, .size = l->size, .stride = l->stride, .pad = l->pad,
        .a = l->weights + (size_t)g * group, .m = fg, .bias = l->biases + g * fg, .act = l->act,
        .out = l->out + (size_t)b * l->out_size + (size_t)g * fg * l->out_w * l->out_h,
        .ow = l->out_w, .oh = l->out_h,
        .y0 = band * j->rows,
        .y1 = band * j->rows + j->rows < l->out_h ? band * j->rows + j->rows : l->out_h,
        .scratch = j->net->work + (size_t)thread * j->net->work_floats,
    };

    j->net->k->conv_rows(&a);
    if (l->packs_next)
        vgc_q16_pack_span(j->net, l + 1, a.out, b, a.y0 * l->out_w, a.y1 * l->out_w);
}


/*
 * The band of a packs_next convolution: whole blocks of the s16 layer's
 * packed input (q16.h's Q16_BLOCK columns; then no block spans two bands,
 * which may run at once), about PACK_BAND_BYTES of output, or the whole
 * output where a row count that makes whole blocks reaches past it.
 */
#define PACK_BAND_BYTES ((size_t)512 << 10)

static int packs_band(const vgc_layer *l)
{
    int g = Q16_BLOCK, w = l->out_w, r0, r;

    while (w) {     /* gcd(out_w, Q16_BLOCK) */
        const int t = g % w;

        g = w;
        w = t;
    }
    r0 = Q16_BLOCK / g;
    r = (int)(PACK_BAND_BYTES / ((size_t)r0 * l->out_w * l->out_c * sizeof(float))) * r0;
    r = r < r0 ? r0 : r;
    return r < l->out_h ? r : l->out_h;
}


/*
 * Whether cfg layer i (a convolution) and the maxpool after it run fused:
 * an fp32 implicit-GEMM convolution of one group, read by nothing but a
 * maxpool whose windows tile rows exactly (size = stride, window at 0), so
 * that a band of whole windows' rows pools on its own. yolov3-tiny's first
 * layer writes 11 MB of floats that the maxpool reads back; fused, each
 * band stays in L2.
 */
int vgc_pool_fusable(const vgc_net *net, int i)
{
    const vgc_layer *l = &net->layers[i], *p = i + 1 < net->n ? l + 1 : NULL;

    /* an int8 layer's GEMM pools in its own bands (q8.c's pools_in_band) */
    if (l->q8 && l->q8->pool2)
        return 1;
    return p && l->type == VGC_L_CONV && l->kind == VGC_CONV_GEMM && net->k->conv_rows && l->groups == 1 &&
           !l->q8 && l->last_use == i + 1 && p->type == VGC_L_MAXPOOL && p->alias < 0 && p->size == p->stride &&
           -p->pad / 2 == 0 && p->c == l->out_c && p->w == l->out_w && p->h == l->out_h;
}


/* ... and conv_pool2 runs the pair (its pooled rows can go to an int8 layer's planes: q8.h) */
int vgc_pool2_fusable(const vgc_net *net, int i)
{
    return vgc_pool_fusable(net, i) && pool2(net, &net->layers[i]);
}


/* A band of output rows of an int8 first layer (q8_first.h). */
static void first_task(void *ctx, int task, int thread)
{
    const conv_job *j = ctx;
    const vgc_layer *l = j->l;
    const int bands = div_up(l->out_h, j->rows);
    const int b = task / bands, y0 = task % bands * j->rows;
    const int y1 = y0 + j->rows < l->out_h ? y0 + j->rows : l->out_h;
    float range[2] = { 0, 0 };

    vgc_q8_first_rows(l, j->in, b, y0, y1, &j->quant, j->net->work + (size_t)thread * j->net->work_floats, range);
    vgc_q8_part_add(j->net, thread, b, range[0], range[1]);
    if (l->packs_next)
        vgc_q16_pack_span(j->net, l + 1, l->out + (size_t)b * l->out_size, b, y0 * l->out_w, y1 * l->out_w);
}


/* A band of output rows of convolution l into the scratch, then pooled by layer l + 1 into its output. */
static void conv_pool_task(void *ctx, int task, int thread)
{
    const conv_job *j = ctx;
    const vgc_layer *l = j->l, *p = l + 1;
    const int bands = div_up(l->out_h, l->chunk);
    const int b = task / bands, y0 = task % bands * l->chunk;
    const int y1 = y0 + l->chunk < l->out_h ? y0 + l->chunk : l->out_h;
    const int oy0 = y0 / p->stride, oy1 = y1 == l->out_h ? p->out_h : y1 / p->stride;
    float *scratch = j->net->work + (size_t)thread * j->net->work_floats;
    float *band = scratch + ((vgc_conv_scratch_floats(l->c, l->w, l->pad, l->stride, l->size) + 15) & ~(size_t)15);
    float *tmp = band + (size_t)l->out_c * l->out_w * l->chunk;
    const size_t plane = (size_t)l->out_w * l->chunk;
    /* out and oh as conv_rows sees them: row y of channel m at band + m*plane + (y - y0)*out_w */
    vgc_conv_args a = {
        .in = j->in + (size_t)b * l->c * l->h * l->w, .c = l->c, .w = l->w, .h = l->h, .size = l->size,
        .stride = l->stride, .pad = l->pad, .a = l->weights, .m = l->filters, .bias = l->biases, .act = l->act,
        .out = band - (size_t)y0 * l->out_w, .ow = l->out_w, .oh = l->chunk, .y0 = y0, .y1 = y1,
        .scratch = scratch,
    };

    if (pool2(j->net, l)) {
        a.out = p->out + (size_t)b * p->out_size;
        a.oh = l->out_h;
        a.quant = j->quant;
        j->net->k->conv_pool2(&a);
        return;
    }
    j->net->k->conv_rows(&a);
    for (int ch = 0; ch < l->out_c; ch++)
        j->net->k->maxpool(band + (size_t)ch * plane, l->out_w, y1 - y0, p->size, p->stride, p->pad,
                           p->out + (size_t)b * p->out_size + ((size_t)ch * p->out_h + oy0) * p->out_w, p->out_w,
                           oy1 - oy0, tmp);
}


/*
 * Whether cfg layer i, a depthwise convolution, runs fused with the 1x1
 * convolution before it: an fp32 1x1 read by nothing else (an inverted
 * residual block's expansion). Unfused, yolo-fastest-1.1-xl's 8 -> 48
 * expansion at 160x160 writes 4.9 MB, past L2, that the depthwise layer
 * reads back: 1.5 ms for 20 MFLOP. Fused, each task computes a group of the
 * 1x1's output channels into its scratch and convolves them while in L2.
 * A depthwise output channel reads one input plane, so a group needs no
 * halo, and an int8 depthwise layer's per-channel ranges (q8.c's dw_task)
 * are those of the whole plane, as unfused: the results are the same.
 */
int vgc_expand_fusable(const vgc_net *net, int i)
{
    const vgc_layer *l = &net->layers[i], *e = i > 0 ? l - 1 : NULL;

    return e && l->type == VGC_L_CONV && l->kind == VGC_CONV_DW && e->type == VGC_L_CONV &&
           e->kind == VGC_CONV_1X1 && !e->q8 && e->last_use == i && e->out_c == l->c && e->out_w == l->w &&
           e->out_h == l->h;
}


const float *vgc_expand_planes(const vgc_net *net, const vgc_layer *l, int b, int c0, int c1, int thread,
                               const float **range)
{
    const vgc_layer *e = l - 1;
    const size_t hw = (size_t)l->w * l->h;
    const float *x = vgc_layer_input(net, (int)(e - net->layers)) + (size_t)b * e->c * hw;
    float *dst = net->work + (size_t)thread * net->work_floats + expand_offset(l);
    /* after the planes: their ranges (the thread's scratch has room for l->chunk of each) */
    float *rg = dst + (size_t)l->chunk * hw;

    if (range)
        *range = NULL;
    if (e->q16) {      /* its input packed by vgc_net_forward */
        vgc_q16_rows(net, e, b, c0, c1, dst, range ? rg : NULL);
        if (range)
            *range = rg;
        return dst;
    }
    /* the weights are packed in panels of gemm_mr filters, and c0 starts one */
    net->k->gemm(e->weights + (size_t)c0 * e->c, c1 - c0, e->c, x, hw, (int)hw, dst, hw, e->biases + c0, e->act);
    return dst;
}


static void conv_1x1_task(void *ctx, int task, int thread)
{
    const conv_job *j = ctx;
    const vgc_layer *l = j->l;
    const int hw = l->out_w * l->out_h;
    const int b = task / j->tasks_per_image;
    const int n0 = (task % j->tasks_per_image) * l->chunk;
    const int nc = n0 + l->chunk < hw ? l->chunk : hw - n0;
    const float *in = j->in + (size_t)b * l->c * hw + n0;
    float *out = l->out + (size_t)b * l->out_size + n0;

    (void)thread;
    j->net->k->gemm(l->weights, l->filters, l->c, in, (size_t)hw, nc, out, (size_t)hw, l->biases, l->act);
}


/*
 * The largest |output| of depthwise channel ch of l on an input plane
 * within the running range r (vgc_q8_range_of; 0 inside it, so the
 * padding too): the sum's extremes from the positive and the negative
 * weights, the bias, the activation (vgc_act_bound: -1 where it is not
 * monotonic).
 */
static float dw_bound(const vgc_layer *l, int ch, const float *r)
{
    const float *k = l->weights + (size_t)ch * l->size * l->size;
    float lo, hi, top = l->biases[ch], bottom = l->biases[ch];

    vgc_q8_range_of(r, &lo, &hi);
    for (int t = 0; t < l->size * l->size; t++) {
        top += k[t] * (k[t] > 0 ? hi : lo);
        bottom += k[t] * (k[t] > 0 ? lo : hi);
    }
    return vgc_act_bound(bottom, top, l->act);
}


static void conv_dw_task(void *ctx, int task, int thread)
{
    const conv_job *j = ctx;
    const vgc_layer *l = j->l;
    const int b = task / j->tasks_per_image;
    const int c0 = (task % j->tasks_per_image) * l->chunk;
    const int c1 = c0 + l->chunk < l->c ? c0 + l->chunk : l->c;
    const size_t ihw = (size_t)l->w * l->h, ohw = (size_t)l->out_w * l->out_h;
    vgc_dw_args a = {
        .w = l->w, .h = l->h, .size = l->size, .stride = l->stride, .pad = l->pad,
        .act = l->act, .ow = l->out_w, .oh = l->out_h,
        .scratch = j->net->work + (size_t)thread * j->net->work_floats,
    };
    /* feeding the s16 layer after it (q16.h) */
    const vgc_layer *to16 = vgc_q16_feeds(j->net, l);
    /* channel c0's plane: fused, the 1x1's output in this task's scratch (an s16 one's with its ranges) */
    const float *rg = NULL;
    const float *in = l->expand_fused ? vgc_expand_planes(j->net, l, b, c0, c1, thread, to16 ? &rg : NULL)
                                      : j->in + (size_t)b * l->c * ihw + (size_t)c0 * ihw;

    for (int ch = c0; ch < c1; ch++) {
        const float bound = to16 && rg ? dw_bound(l, ch, rg + (size_t)(ch - c0) * VGC_Q8_RANGE) : -1.0f;

        a.in = in + (size_t)(ch - c0) * ihw;
        a.k = l->weights + (size_t)ch * l->size * l->size;
        a.bias = l->biases[ch];
        a.out16 = NULL;
        if (bound >= 0) {
            /* its outputs' bound known: straight into the s16 layer's packed input */
            a.out = NULL;
            a.out16 = vgc_q16_feed_direct(j->net, to16, b, ch, bound, &a.inv16);
            a.max16 = VGC_Q16_FED_XMAX;
        } else {
            /* else each channel's plane through this thread's scratch */
            a.out = to16 ? vgc_q16_feed_plane(j->net, thread, ch) : l->out + (size_t)b * l->out_size + (size_t)ch * ohw;
        }
        j->net->k->dw_conv(&a);
        if (to16 && !a.out16)
            vgc_q16_feed(j->net, to16, b, ch, c0, c1, thread);
    }
}


/*
 * One Winograd task's share (conv_wino_task, conv_wino4_task; tiles of m x m
 * outputs, nm transformed matrices): its image's input and output, its
 * block of tile rows, its range of filter panels, and in the thread's
 * scratch the transformed input v (nm x C x tb), the products mm (nm x
 * mrows x tb) and what follows them (rest).
 */
typedef struct wino_part {
    int ntx, ty0, ty1;        /* tiles a row; the block's tile rows */
    int p0, p1, m0, mrows;    /* filter panels [p0, p1): filters m0 .. m0 + mrows - 1 */
    size_t tb;                /* tiles in the block */
    const float *in;
    float *out, *v, *mm, *rest;
} wino_part;


static wino_part wino_part_of(const conv_job *j, int task, int thread, int m, int nm)
{
    const vgc_layer *l = j->l;
    const int mr = j->net->k->gemm_mr, panels = div_up(l->filters, mr), per = div_up(panels, l->split);
    const int nty = div_up(l->out_h, m), b = task / j->tasks_per_image;
    const int block = task % j->tasks_per_image / l->split, sub = task % l->split;
    wino_part p = { .ntx = div_up(l->out_w, m), .ty0 = block * l->chunk, .p0 = sub * per };
    const size_t tbmax = (size_t)l->chunk * p.ntx;

    p.ty1 = p.ty0 + l->chunk < nty ? p.ty0 + l->chunk : nty;
    p.p1 = p.p0 + per < panels ? p.p0 + per : panels;
    p.m0 = p.p0 * mr;
    p.mrows = (p.p1 * mr < l->filters ? p.p1 * mr : l->filters) - p.m0;
    p.tb = (size_t)(p.ty1 - p.ty0) * p.ntx;
    p.in = j->in + (size_t)b * l->c * l->w * l->h;
    p.out = l->out + (size_t)b * l->out_size;
    p.v = j->net->work + (size_t)thread * j->net->work_floats;
    p.mm = p.v + (size_t)nm * l->c * tbmax;
    p.rest = p.mm + (size_t)nm * per * mr * tbmax;
    return p;
}


/* The nm products of a share: each transformed matrix of v by its transformed weights (K x C) into mm. */
static void wino_products(const conv_job *j, const wino_part *p, int nm)
{
    const vgc_layer *l = j->l;
    const int mr = j->net->k->gemm_mr;
    const size_t wsize = (size_t)div_up(l->filters, mr) * mr * l->c;    /* one of the nm A matrices */

    for (int xi = 0; xi < nm; xi++)
        j->net->k->gemm(l->weights + (size_t)xi * wsize + (size_t)p->p0 * l->c * mr, p->mrows, l->c,
                        p->v + (size_t)xi * l->c * p->tb, p->tb, (int)p->tb, p->mm + (size_t)xi * p->mrows * p->tb,
                        p->tb, NULL, VGC_ACT_LINEAR);
}


/*
 * Winograd F(2x2, 3x3) for a block of tile rows and a range of filters:
 * input transform (16 matrices C x tb), 16 GEMMs with the transformed
 * weights (K x C each), output transform with bias and activation.
 */
static void conv_wino_task(void *ctx, int task, int thread)
{
    const conv_job *j = ctx;
    const vgc_layer *l = j->l;
    const vgc_kernels *k = j->net->k;
    const wino_part p = wino_part_of(j, task, thread, 2, 16);
    const int ntx = p.ntx, ty0 = p.ty0, ty1 = p.ty1, m0 = p.m0, mrows = p.mrows;
    const size_t tb = p.tb;
    const size_t rowlen = (size_t)(2 * ntx + 40);     /* 2*ntx+2 columns, slack for vector reads */
    int held[4];
    const size_t ihw = (size_t)l->w * l->h, ohw = (size_t)l->out_w * l->out_h;
    float *v = p.v, *mm = p.mm, *rowbuf = p.rest;
    float *zero = rowbuf + 4 * rowlen;
    float *dummy = zero + rowlen;                     /* output rows past the last */
    const float *in = p.in;
    float *out = p.out;

    if (p.p0 >= p.p1)
        return;
    memset(rowbuf, 0, 5 * rowlen * sizeof(float));
    /* input transform; each input row is padded once into a ring of 4 */
    for (int c = 0; c < l->c; c++) {
        const float *plane = in + (size_t)c * ihw;

        for (int q = 0; q < 4; q++)
            held[q] = -1;
        for (int ty = ty0; ty < ty1; ty++) {
            const float *r[4];

            for (int q = 0; q < 4; q++) {
                const int iy = 2 * ty - 1 + q, slot = (iy + 4) % 4;

                if (iy < 0 || iy >= l->h) {
                    r[q] = zero;
                    continue;
                }
                if (held[slot] != iy) {
                    memcpy(rowbuf + slot * rowlen + 1, plane + (size_t)iy * l->w, (size_t)l->w * sizeof(float));
                    held[slot] = iy;
                }
                r[q] = rowbuf + slot * rowlen;
            }
            k->wino_in(r, ntx, v + (size_t)c * tb + (size_t)(ty - ty0) * ntx, (size_t)l->c * tb);
        }
    }
    wino_products(j, &p, 16);
    /* output transform */
    for (int f = 0; f < mrows; f++) {
        float *plane = out + (size_t)(m0 + f) * ohw;

        for (int ty = ty0; ty < ty1; ty++)
            k->wino_out(mm + (size_t)f * tb + (size_t)(ty - ty0) * ntx, (size_t)mrows * tb, ntx, l->out_w,
                        l->biases[m0 + f], l->act, plane + (size_t)(2 * ty) * l->out_w,
                        2 * ty + 1 < l->out_h ? plane + (size_t)(2 * ty + 1) * l->out_w : dummy);
    }
}


/* Winograd F(4x4, 3x3): as conv_wino_task, with 6x6 tiles (36 GEMMs) and phase-split rows. */
static void conv_wino4_task(void *ctx, int task, int thread)
{
    const conv_job *j = ctx;
    const vgc_layer *l = j->l;
    const vgc_kernels *k = j->net->k;
    const wino_part p = wino_part_of(j, task, thread, 4, 36);
    const int ntx = p.ntx, ty0 = p.ty0, ty1 = p.ty1, m0 = p.m0, mrows = p.mrows;
    const size_t tb = p.tb;
    const size_t pl = (size_t)(l->w + 5) / 4 + 20;     /* floats per phase of a padded row */
    const size_t ihw = (size_t)l->w * l->h, ohw = (size_t)l->out_w * l->out_h;
    float *v = p.v, *mm = p.mm, *rowbuf = p.rest;     /* ring: 6 rows of 4 phases */
    float *zero = rowbuf + 6 * 4 * pl;
    float *dummy = zero + 4 * pl;                       /* output rows past the last */
    const float *in = p.in;
    float *out = p.out;
    int held[6];

    if (p.p0 >= p.p1)
        return;
    memset(rowbuf, 0, 7 * 4 * pl * sizeof(float));
    /* input transform; each input row is split once into a ring of 6 */
    for (int c = 0; c < l->c; c++) {
        const float *plane = in + (size_t)c * ihw;

        for (int q = 0; q < 6; q++)
            held[q] = -1;
        for (int ty = ty0; ty < ty1; ty++) {
            const float *r[6];

            for (int q = 0; q < 6; q++) {
                const int iy = 4 * ty - 1 + q, slot = (iy + 6) % 6;
                float *row = rowbuf + (size_t)slot * 4 * pl;

                if (iy < 0 || iy >= l->h) {
                    r[q] = zero;
                    continue;
                }
                if (held[slot] != iy) {
                    k->split4(plane + (size_t)iy * l->w, l->w, row, pl);
                    held[slot] = iy;
                }
                r[q] = row;
            }
            k->wino4_in(r, pl, ntx, v + (size_t)c * tb + (size_t)(ty - ty0) * ntx, (size_t)l->c * tb);
        }
    }
    wino_products(j, &p, 36);
    /* output transform */
    for (int f = 0; f < mrows; f++) {
        float *plane = out + (size_t)(m0 + f) * ohw;

        for (int ty = ty0; ty < ty1; ty++) {
            float *const y[4] = {
                plane + (size_t)(4 * ty) * l->out_w,
                4 * ty + 1 < l->out_h ? plane + (size_t)(4 * ty + 1) * l->out_w : dummy,
                4 * ty + 2 < l->out_h ? plane + (size_t)(4 * ty + 2) * l->out_w : dummy,
                4 * ty + 3 < l->out_h ? plane + (size_t)(4 * ty + 3) * l->out_w : dummy,
            };

            k->wino4_out(mm + (size_t)f * tb + (size_t)(ty - ty0) * ntx, (size_t)mrows * tb, ntx, l->out_w,
                         l->biases[m0 + f], l->act, y);
        }
    }
}


static void forward_conv(vgc_net *net, const vgc_layer *l, const float *in, int batch)
{
    conv_job j = { .net = net, .l = l, .in = in };

    if (vgc_q8_runs(net, l)) {
        vgc_q8_conv_forward(net, l, in, batch);
        return;
    }
    if (l->q16) {
        vgc_q16_conv_forward(net, l, in, batch);
        return;
    }
    if (l->q8first) {
        /* pooled: straight into the int8 layer after the pool where it is fed (q8.h) */
        if (l->pool_fused)
            vgc_q8_pool_feed(net, (int)(l - net->layers), batch, &j.quant);
        j.rows = l->packs_next ? packs_band(l) : l->chunk;
        vgc_q8_part_start(net);
        run_tasks(net, l, batch, batch * div_up(l->out_h, j.rows), first_task, &j);
        /* its output's range, found in passing, for the int8 layer reading it (q8.h's known) */
        for (int b = 0; b < batch && !j.quant.q; b++)
            vgc_q8_part_end(net, l->pool_fused ? 1 : 0, b);
        return;
    }
    if (l->pool_fused) {
        /* the pooled output straight into the int8 layer after the pool, quantized (q8.h) */
        if (pool2(net, l))
            vgc_q8_pool_feed(net, (int)(l - net->layers), batch, &j.quant);
        run_tasks(net, l, batch, batch * div_up(l->out_h, l->chunk), conv_pool_task, &j);
        return;
    }
    switch (l->kind) {
    case VGC_CONV_GEMM:
        j.rows = l->packs_next ? packs_band(l) : l->chunk;
        j.tasks_per_image = l->groups * div_up(l->out_h, j.rows);
        run_tasks(net, l, batch, batch * j.tasks_per_image, net->k->conv_rows ? conv_rows_task : conv_gemm_task, &j);
        break;
    case VGC_CONV_1X1:
        j.tasks_per_image = div_up(l->out_w * l->out_h, l->chunk);
        run_tasks(net, l, batch, batch * j.tasks_per_image, conv_1x1_task, &j);
        break;
    case VGC_CONV_DW:
        j.tasks_per_image = div_up(l->c, l->chunk);
        run_tasks(net, l, batch, batch * j.tasks_per_image, conv_dw_task, &j);
        break;
    case VGC_CONV_WINO:
        j.tasks_per_image = div_up(div_up(l->out_h, l->wino_m), l->chunk) * l->split;
        run_tasks(net, l, batch, batch * j.tasks_per_image, l->wino_m == 4 ? conv_wino4_task : conv_wino_task, &j);
        break;
    }
}

/* Convolution l, which may be built outside a cfg network, on batch images at in, into l->out. */
void vgc_conv_forward(vgc_net *net, const vgc_layer *l, const float *in, int batch)
{
    forward_conv(net, l, in, batch);
}

/* ---- pooling, resampling, joins --------------------------------------------------------- */

typedef struct plane_job {
    const vgc_net *net;
    const vgc_layer *l;
    const float *in;
    int tasks_per_image;
} plane_job;


static void maxpool_task(void *ctx, int task, int thread)
{
    const plane_job *j = ctx;
    const vgc_layer *l = j->l;
    const int b = task / j->tasks_per_image;
    const int c0 = (task % j->tasks_per_image) * l->chunk;
    const int c1 = c0 + l->chunk < l->c ? c0 + l->chunk : l->c;
    float *tmp = j->net->work + (size_t)thread * j->net->work_floats;

    for (int ch = c0; ch < c1; ch++)
        j->net->k->maxpool(j->in + (size_t)b * l->c * l->h * l->w + (size_t)ch * l->h * l->w, l->w, l->h,
                           l->size, l->stride, l->pad,
                           l->out + (size_t)b * l->out_size + (size_t)ch * l->out_h * l->out_w,
                           l->out_w, l->out_h, tmp);
}


static void upsample_task(void *ctx, int task, int thread)
{
    const plane_job *j = ctx;
    const vgc_layer *l = j->l;
    const int b = task / j->tasks_per_image;
    const int c0 = (task % j->tasks_per_image) * l->chunk;
    const int c1 = c0 + l->chunk < l->c ? c0 + l->chunk : l->c;
    const int s = l->stride;

    (void)thread;
    for (int ch = c0; ch < c1; ch++) {
        const float *in = j->in + (size_t)b * l->c * l->h * l->w + (size_t)ch * l->h * l->w;
        float *out = l->out + (size_t)b * l->out_size + (size_t)ch * l->out_h * l->out_w;

        for (int y = 0; y < l->out_h; y++) {
            const float *src = in + (size_t)(y / s) * l->w;
            float *dst = out + (size_t)y * l->out_w;

            if (y % s) {
                /* the same as the row above (a division per element made this 2 % of yolov3-tiny's int8 frame) */
                memcpy(dst, dst - l->out_w, (size_t)l->out_w * sizeof(float));
                continue;
            }
            for (int x = 0; x < l->w; x++) {
                const float v = l->scale * src[x];

                for (int k = 0; k < s; k++)
                    dst[x * s + k] = v;
            }
        }
    }
}


static void forward_route(const vgc_net *net, const vgc_layer *l, int batch)
{
    for (int b = 0; b < batch; b++) {
        float *dst = l->out + (size_t)b * l->out_size;

        for (int k = 0; k < l->nsrc; k++) {
            const vgc_layer *src = &net->layers[l->src[k]];
            size_t part = src->out_size / (size_t)l->groups;

            memcpy(dst, src->out + (size_t)b * src->out_size + part * (size_t)l->group_id,
                   part * sizeof(float));
            dst += part;
        }
    }
}


/* darknet's shortcut_cpu: out = alpha*out + beta*add over the common part. */
static void shortcut_general(const vgc_layer *l, const vgc_layer *from, float *out, int b)
{
    const int w1 = from->out_w, h1 = from->out_h, c1 = from->out_c;
    const int w2 = l->out_w, h2 = l->out_h, c2 = l->out_c;
    int stride = w1 / w2, sample = w2 / w1;
    const int minw = w1 < w2 ? w1 : w2, minh = h1 < h2 ? h1 : h2, minc = c1 < c2 ? c1 : c2;
    const float *add = from->out + (size_t)b * from->out_size;

    if (stride < 1)
        stride = 1;
    if (sample < 1)
        sample = 1;
    for (int k = 0; k < minc; k++)
        for (int j = 0; j < minh; j++)
            for (int i = 0; i < minw; i++) {
                size_t o = (size_t)i * sample + (size_t)w2 * ((size_t)j * sample + (size_t)h2 * k);
                size_t a = (size_t)i * stride + (size_t)w1 * ((size_t)j * stride + (size_t)h1 * k);

                out[o] = l->alpha * out[o] + l->beta * add[a];
            }
}


static void forward_shortcut(const vgc_net *net, const vgc_layer *l, const float *in, int batch)
{
    for (int b = 0; b < batch; b++) {
        const float *x = in + (size_t)b * l->out_size;
        float *y = l->out + (size_t)b * l->out_size;
        const vgc_layer *f0 = &net->layers[l->src[0]];

        if (l->nsrc == 1 && f0->out_size == l->out_size && f0->out_w == l->out_w) {
            /* the common case in one pass: y = act(alpha*x + beta*from) */
            memcpy(y, x, l->out_size * sizeof(float));
            net->k->axpby_act(y, f0->out + (size_t)b * f0->out_size, l->out_size, l->alpha,
                              l->beta, l->act);
            continue;
        }
        memcpy(y, x, l->out_size * sizeof(float));
        for (int k = 0; k < l->nsrc; k++) {
            const vgc_layer *f = &net->layers[l->src[k]];

            if (l->nsrc > 1) {
                /* AlexeyAB: sum over the sources, channels up to the smaller count */
                size_t n = (size_t)l->out_w * l->out_h * (size_t)(f->out_c < l->out_c ? f->out_c : l->out_c);
                const float *add = f->out + (size_t)b * f->out_size;

                for (size_t i = 0; i < n; i++)
                    y[i] += add[i];
            } else {
                shortcut_general(l, f, y, b);
            }
        }
        if (l->act != VGC_ACT_LINEAR)
            net->k->bias_act(y, l->out_size, 0.0f, l->act);
    }
}


static void forward_yolo(const vgc_net *net, const vgc_layer *l, const float *in, int batch)
{
    const size_t hw = (size_t)l->w * l->h;
    const float s = net->ignore_scale_x_y ? 1.0f : l->scale_x_y;

    for (int b = 0; b < batch; b++) {
        float *out = l->out + (size_t)b * l->out_size;

        memcpy(out, in + (size_t)b * l->out_size, l->out_size * sizeof(float));
        for (int n = 0; n < l->n; n++) {
            float *p = out + (size_t)n * hw * (size_t)(l->classes + 5);

            if (!l->new_coords) {
                net->k->bias_act(p, 2 * hw, 0.0f, VGC_ACT_LOGISTIC);
                net->k->bias_act(p + 4 * hw, (size_t)(1 + l->classes) * hw, 0.0f, VGC_ACT_LOGISTIC);
            }
            if (s != 1.0f)
                for (size_t i = 0; i < 2 * hw; i++)
                    p[i] = p[i] * s - 0.5f * (s - 1.0f);
        }
    }
}


int vgc_net_forward(vgc_net *net, const float *input, int batch, char *err, size_t errlen)
{
    if (!input || batch < 1 || batch > net->max_batch)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "batch %d is not in [1, %d]", batch, net->max_batch);
    net->input = input;
    net->batch = batch;
    vgc_q8_known_reset(net);
    for (int i = 0; i < net->n; i++) {
        const vgc_layer *l = &net->layers[i];
        const float *in = vgc_layer_input(net, i);
        plane_job pj = { net, l, in, 0 };
        struct timespec t0, t1;

        if (net->prof)
            clock_gettime(CLOCK_MONOTONIC, &t0);

        switch (l->type) {
        case VGC_L_CONV:
            /* run a group of channels at a time by the depthwise layer after it */
            if (i + 1 < net->n && net->layers[i + 1].expand_fused) {
                /* packed here, or band by band by the convolution before it */
                if (l->q16 && !(i > 0 && net->layers[i - 1].packs_next))
                    vgc_q16_pack_fused(net, l, in, batch);
                break;
            }
            forward_conv(net, l, in, batch);
            break;
        case VGC_L_MAXPOOL:
            /* run as a u8 maxpool by the int8 layer before it (q8.h's vgc_q8_plan) */
            if (i > 0 && vgc_q8_feeds(net, &net->layers[i - 1], batch) == 2)
                break;
            /* run band by band by the convolution before it */
            if (i > 0 && net->layers[i - 1].pool_fused)
                break;
            pj.tasks_per_image = div_up(l->c, l->chunk);
            run_tasks(net, l, batch, batch * pj.tasks_per_image, maxpool_task, &pj);
            break;
        case VGC_L_UPSAMPLE:
            pj.tasks_per_image = div_up(l->c, l->chunk);
            run_tasks(net, l, batch, batch * pj.tasks_per_image, upsample_task, &pj);
            break;
        case VGC_L_ROUTE:
            if (l->alias < 0)
                forward_route(net, l, batch);
            break;
        case VGC_L_SHORTCUT:
            forward_shortcut(net, l, in, batch);
            break;
        case VGC_L_DROPOUT:
            if (l->alias < 0)
                memcpy(l->out, in, (size_t)batch * l->out_size * sizeof(float));
            break;
        case VGC_L_YOLO:
            forward_yolo(net, l, in, batch);
            break;
        }
        if (net->prof) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            net->prof[i] += (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        }
    }
    if (net->prof)
        net->prof_runs++;
    return 0;
}

/* ---- candidates --------------------------------------------------------------------------- */

/* The k-th largest of v[0..n) (0-based), reordering v (Hoare quickselect). */
static float select_kth_largest(float *v, ptrdiff_t n, ptrdiff_t k)
{
    ptrdiff_t lo = 0, hi = n - 1;

    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        ptrdiff_t i = lo, j = hi;

        while (i <= j) {
            while (v[i] > pivot)
                i++;
            while (v[j] < pivot)
                j--;
            if (i <= j) {
                float t = v[i];

                v[i++] = v[j];
                v[j--] = t;
            }
        }
        /* now v[lo..j] >= pivot >= v[i..hi], and v(j..i) == pivot */
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return v[k];
}


int vgc_net_candidates(vgc_net *net, int image, float thresh, vigia_candidates *out, uint32_t *index)
{
    size_t found = 0, written = 0, ties;
    float cut = -INFINITY;
    int ordinal = 0;

    if (!out || image < 0 || image >= net->batch)
        return VIGIA_EINVAL;
    /* pass 1: how many pass the threshold (and their objectness, to cut if too many) */
    for (int li = 0; li < net->n; li++) {
        const vgc_layer *l = &net->layers[li];
        const size_t hw = (size_t)l->w * l->h;
        const float *p = l->out + (size_t)image * l->out_size;

        if (l->type != VGC_L_YOLO)
            continue;
        for (int n = 0; n < l->n; n++) {
            const float *obj = p + (size_t)n * hw * (size_t)(l->classes + 5) + 4 * hw;

            for (size_t i = 0; i < hw; i++)
                if (obj[i] > thresh)
                    net->scratch[found++] = obj[i];
        }
    }
    out->truncated = found > out->capacity;
    ties = out->capacity;
    if (out->truncated) {
        if (out->capacity == 0) {
            out->count = 0;
            return 0;
        }
        cut = select_kth_largest(net->scratch, (ptrdiff_t)found, (ptrdiff_t)out->capacity - 1);
        /* keep everything above the cut, and as many equal to it as fit */
        ties = 0;
        for (size_t i = 0; i < found; i++)
            if (net->scratch[i] > cut)
                ties++;
        ties = out->capacity - ties;
    }
    /* pass 2: fill in darknet's order (head, cell, anchor) */
    for (int li = 0; li < net->n; li++) {
        const vgc_layer *l = &net->layers[li];
        const size_t hw = (size_t)l->w * l->h;
        const size_t stride = hw * (size_t)(l->classes + 5);
        const float *p = l->out + (size_t)image * l->out_size;

        if (l->type != VGC_L_YOLO)
            continue;
        for (size_t i = 0; i < hw; i++) {
            const int row = (int)(i / (size_t)l->w), col = (int)(i % (size_t)l->w);

            for (int n = 0; n < l->n; n++) {
                const float *e = p + (size_t)n * stride + i;
                const float objectness = e[4 * hw];
                const float aw = l->anchors[2 * l->mask[n]], ah = l->anchors[2 * l->mask[n] + 1];
                float *box, *prob;

                if (!(objectness > thresh))
                    continue;
                if (out->truncated) {
                    if (objectness < cut)
                        continue;
                    if (objectness == cut) {
                        if (ties == 0)
                            continue;
                        ties--;
                    }
                }
                box = out->box + 4 * written;
                prob = out->prob + (size_t)l->classes * written;
                box[0] = (col + e[0]) / l->w;
                box[1] = (row + e[hw]) / l->h;
                if (l->new_coords) {
                    box[2] = e[2 * hw] * e[2 * hw] * 4 * aw / net->w;
                    box[3] = e[3 * hw] * e[3 * hw] * 4 * ah / net->h;
                } else {
                    box[2] = (float)(exp(e[2 * hw]) * aw / net->w);
                    box[3] = (float)(exp(e[3 * hw]) * ah / net->h);
                }
                out->objectness[written] = objectness;
                for (int c = 0; c < l->classes; c++) {
                    float pr = objectness * e[(size_t)(5 + c) * hw];

                    prob[c] = pr > thresh ? pr : 0;
                }
                if (index)
                    index[written] = (uint32_t)ordinal << 24 | (uint32_t)(i * 64 + (size_t)n);
                written++;
            }
        }
        ordinal++;
    }
    out->count = (uint32_t)written;
    return 0;
}
