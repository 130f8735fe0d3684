/*
 * backends/cpu/q8_first.c: the first layer in int8 (q8_first.h): which
 * layer qualifies, its weights, the rows of a task, and the scalar
 * kernels every other kernel is tested against.
 */
#include "q8_first.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}


/* dwords of a converted row: the left pad, w pixels, the right pad and the slack, in whole vectors */
static size_t row_dwords(int w)
{
    return round_up((size_t)w + 2 + VGC_Q8_FIRST_SLACK, 16);
}


/* The 2x2 stride-2 maxpool after l, over an even output (what the kernels pool). */
static int pools2(const vgc_layer *l)
{
    const vgc_layer *p = l + 1;

    return l->stride == 1 && p->size == 2 && p->stride == 2 && l->out_w % 2 == 0 && l->out_h % 2 == 0 &&
           p->out_w == l->out_w / 2 && p->out_h == l->out_h / 2;
}


int vgc_q8_first_make(const vgc_net *net, vgc_layer *l, const vgc_q8_first_kernels *k)
{
    vgc_q8_first *f;

    if (l != net->layers || l->type != VGC_L_CONV || l->groups != 1 || l->c < 1 || l->c > 4 || l->size != 3 ||
        l->pad != 1 || (l->stride != 1 && l->stride != 2) || l->filters < 1 ||
        (l->act != VGC_ACT_LEAKY && l->act != VGC_ACT_RELU && l->act != VGC_ACT_LINEAR) ||
        (l->pool_fused && !pools2(l)))
        return 0;
    if (!(f = calloc(1, sizeof *f)))
        return -1;
    f->k = k;
    f->m = l->filters;
    f->mp = (int)round_up((size_t)f->m, 16);
    f->w = aligned_alloc(64, round_up(vgc_q8_first_words(f->m, 2) * sizeof *f->w, 64));
    f->scale = aligned_alloc(64, round_up((size_t)f->mp * sizeof(float), 64));
    f->bias = aligned_alloc(64, round_up((size_t)f->mp * sizeof(float), 64));
    if (!f->w || !f->scale || !f->bias) {
        vgc_q8_first_free(f);
        return -1;
    }
    memset(f->w, 0, vgc_q8_first_words(f->m, 2) * sizeof *f->w);
    memset(f->scale, 0, (size_t)f->mp * sizeof(float));
    memset(f->bias, 0, (size_t)f->mp * sizeof(float));
    for (int m = 0; m < f->m; m++) {
        float amax = 0, ws, inv;

        for (int i = 0; i < l->c * 9; i++) {
            const float a = fabsf(vgc_layer_weight(net, l, m, i));

            amax = a > amax ? a : amax;
        }
        ws = amax > 0 ? amax / (float)VGC_Q8_FIRST_WMAX : 1.0f;
        inv = 1.0f / ws;
        for (int c = 0; c < l->c; c++)
            for (int t = 0; t < 9; t++) {
                long v = lrintf(vgc_layer_weight(net, l, m, c * 9 + t) * inv), hi;

                v = v > VGC_Q8_FIRST_WMAX ? VGC_Q8_FIRST_WMAX : v < -VGC_Q8_FIRST_WMAX ? -VGC_Q8_FIRST_WMAX : v;
                /* v = 128 hi + lo, |hi| <= 127, |lo| <= 64 */
                hi = v >= 0 ? (v + 64) / 128 : -((-v + 64) / 128);
                f->w[vgc_q8_first_at(m, 2, 0, t)] |= (int32_t)((uint32_t)(uint8_t)(int8_t)hi << (8 * c));
                f->w[vgc_q8_first_at(m, 2, 1, t)] |= (int32_t)((uint32_t)(uint8_t)(int8_t)(v - 128 * hi) << (8 * c));
            }
        f->scale[m] = ws / 255.0f;
        f->bias[m] = l->biases[m];
    }
    l->q8first = f;
    return 1;
}


void vgc_q8_first_free(vgc_q8_first *f)
{
    if (!f)
        return;
    free(f->w);
    free(f->scale);
    free(f->bias);
    free(f);
}


static size_t acc_stride(const vgc_layer *l)
{
    return round_up((size_t)l->out_w, 32);
}


size_t vgc_q8_first_plan(const vgc_net *net, vgc_layer *l)
{
    const int t = net->threads, pool = l->pool_fused;
    const size_t outw = pool ? (size_t)l->out_w / 2 : (size_t)l->out_w;

    /* bands for balance only: a band converts its rows' inputs once and 2 rows of halo */
    if (pool)
        l->chunk = t == 1 ? l->out_h : (l->out_h + 4 * t - 1) / (4 * t) * 2;
    else
        l->chunk = t == 1 ? l->out_h : (l->out_h + 2 * t - 1) / (2 * t);
    /* 4 converted rows and a zero row, the pool's accumulators, a row of floats a filter (quant) */
    return 5 * row_dwords(l->w) + 16 * acc_stride(l) + round_up((size_t)l->q8first->mp * outw, 16) + 16;
}


void vgc_q8_first_rows(const vgc_layer *l, const float *in, int b, int y0, int y1,
                       const vgc_conv_quant *quant, float *scratch, float range[2])
{
    const vgc_q8_first *f = l->q8first;
    const int pool = l->pool_fused, nr = pool ? 4 : 3;
    const size_t rd = row_dwords(l->w), plane = (size_t)l->w * l->h;
    const size_t outw = pool ? (size_t)l->out_w / 2 : (size_t)l->out_w;
    uint32_t *ring = (uint32_t *)(void *)scratch, *zero = ring + 4 * rd;
    int32_t *acc = (int32_t *)(void *)(zero + rd);
    float *fq = (float *)(void *)(acc + 16 * acc_stride(l));
    const float *img = in + (size_t)b * l->c * plane;
    const int q = quant && quant->q;
    int held[4] = { INT_MIN, INT_MIN, INT_MIN, INT_MIN };
    vgc_q8_first_row a = {
        .passes = 2, .shift = 1, .rg = 0,
        .w = f->w, .scale = f->scale, .bias = f->bias, .act = l->act, .m = f->m,
        .ow = l->out_w, .stride = l->stride, .pool = pool, .acc = acc, .range = range,
    };

    memset(zero, 0, rd * sizeof *zero);
    for (int y = y0; y < y1; y += pool ? 2 : 1) {
        for (int i = 0; i < nr; i++) {
            const int iy = y * l->stride - 1 + i, slot = (iy + 1) & 3;

            if (iy < 0 || iy >= l->h) {
                a.r[i] = zero;
                continue;
            }
            if (held[slot] != iy) {
                f->k->convert(img + (size_t)iy * l->w, plane, l->c, l->w, ring + (size_t)slot * rd);
                held[slot] = iy;
            }
            a.r[i] = ring + (size_t)slot * rd;
        }
        if (q) {
            a.out = fq;
            a.plane = outw;
        } else if (pool) {
            const vgc_layer *p = l + 1;

            a.out = p->out + (size_t)b * p->out_size + (size_t)(y / 2) * p->out_w;
            a.plane = (size_t)p->out_w * p->out_h;
        } else {
            a.out = l->out + (size_t)b * l->out_size + (size_t)y * l->out_w;
            a.plane = (size_t)l->out_w * l->out_h;
        }
        f->k->row(&a);
        for (int m = 0; q && m < f->m; m++)
            quant->run(fq + (size_t)m * outw, outw, quant->inv[m], quant->zp[m],
                       quant->q + (size_t)m * quant->plane + (size_t)(y / 2) * quant->ld);
    }
}


/* ---- the scalar kernels ---------------------------------------------------------------- */

static void convert_ref(const float *x, size_t plane, int c, int w, uint32_t *dst)
{
    dst[0] = 0;
    for (int i = 0; i < w; i++) {
        uint32_t px = 0;

        for (int ch = 0; ch < c; ch++) {
            float v = x[(size_t)ch * plane + (size_t)i] * 255.0f;

            /* as maxps / minps take them (a NaN becomes 0), then cvtps2dq (nearest even) */
            v = v > 0 ? v : 0;
            v = v < 255.0f ? v : 255.0f;
            px |= (uint32_t)lrintf(v) << (8 * ch);
        }
        dst[1 + i] = px;
    }
    memset(dst + 1 + w, 0, (VGC_Q8_FIRST_SLACK + 1) * sizeof *dst);
}


static int32_t dot4(uint32_t u, int32_t w)
{
    int32_t s = 0;

    for (int i = 0; i < 4; i++)
        s += (int32_t)(uint8_t)(u >> (8 * i)) * (int32_t)(int8_t)(uint8_t)((uint32_t)w >> (8 * i));
    return s;
}


/*
 * The sum of filter m at output (x) from the 3 rows r: its passes' sums,
 * shifted by 7 between passes with shift (128 x the high halves' + the
 * low's), less comp.
 */
static int32_t acc_at(const vgc_q8_first_row *a, const uint32_t *const r[3], int m, int x)
{
    int32_t s = 0;

    for (int h = 0; h < a->passes; h++) {
        s = a->shift ? s * 128 : s;
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                s += dot4(r[ky][(size_t)h * a->rg + (size_t)(x * a->stride + kx)],
                          a->w[vgc_q8_first_at(m, a->passes, h, ky * 3 + kx)]);
    }
    return s - (a->comp ? a->comp[m] : 0);
}


/* the epilogue as the vector kernels compute it: an fma, then max(y, 0.1y) or max(y, 0) */
static float epilogue(const vgc_q8_first_row *a, int m, int32_t acc)
{
    float y = fmaf((float)acc, a->scale[m], a->bias[m]);

    if (a->act == VGC_ACT_LEAKY) {
        const float t = y * 0.1f;

        y = y > t ? y : t;
    } else if (a->act == VGC_ACT_RELU) {
        y = y > 0 ? y : 0;
    }
    return y;
}


static void widen(float *range, float y)
{
    range[0] = y < range[0] ? y : range[0];
    range[1] = y > range[1] ? y : range[1];
}


static void row_ref(const vgc_q8_first_row *a)
{
    for (int m = 0; m < a->m; m++) {
        float *o = a->out + (size_t)m * a->plane;

        if (!a->pool) {
            for (int x = 0; x < a->ow; x++) {
                o[x] = epilogue(a, m, acc_at(a, a->r, m, x));
                widen(a->range, o[x]);
            }
            continue;
        }
        for (int x = 0; x < a->ow; x += 2) {
            int32_t mx = INT32_MIN;

            for (int dy = 0; dy < 2; dy++)
                for (int dx = 0; dx < 2; dx++) {
                    const int32_t s = acc_at(a, a->r + dy, m, x + dx);

                    mx = s > mx ? s : mx;
                }
            o[x / 2] = epilogue(a, m, mx);
            widen(a->range, o[x / 2]);
        }
    }
}


const vgc_q8_first_kernels vgc_q8_first_ref = { "ref", convert_ref, row_ref };
