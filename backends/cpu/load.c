/*
 * backends/cpu/load.c: opening a network: cfg -> layers (net.c), the
 * weights file (every header version, exact size check, batch norm folded
 * into the weights), the activation arena plan, and the accessors.
 *
 * The weights file is darknet's: int32 major, minor, revision, then `seen`
 * (int64 when major*10+minor >= 2 and both are below 1000, else int32),
 * then for every convolutional layer in cfg order: biases[filters], and
 * when batch_normalize scales, rolling means and rolling variances
 * [filters] each, then weights[filters][c/groups][size][size], all float32
 * little-endian. A file that is not exactly that long is refused before
 * anything is read, so a hostile file cannot make us allocate.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cblas.h>

#include "internal.h"
#include "q8.h"
#include "q16.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the weights reader assumes a little-endian host, as darknet does"
#endif

/* Planning helpers defined in forward.c. */
size_t vgc_layer_plan(vgc_net *net, vgc_layer *l);

/* ---- reading from memory or a file ---------------------------------------------- */

typedef struct wsrc {
    const unsigned char *mem; /* memory source, or NULL */
    FILE *fp;                 /* file source, or NULL */
    size_t len;               /* total bytes */
    size_t pos;               /* bytes consumed */
} wsrc;

static int wsrc_read(wsrc *s, void *dst, size_t n)
{
    if (n > s->len - s->pos)
        return -1;
    if (s->mem)
        memcpy(dst, s->mem + s->pos, n);
    else if (fread(dst, 1, n, s->fp) != n)
        return -1;
    s->pos += n;
    return 0;
}


static size_t align16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}


/*
 * n floats from their own anonymous mapping (page-aligned), for the big
 * blocks: weights, arena, scratch. Unmapped on close, so that a worker's
 * resident memory goes back down when a model is unloaded, whatever
 * malloc's heap looks like; large blocks ask for transparent huge pages
 * (fewer TLB misses in the GEMM and Winograd loops). NULL on failure.
 */
static float *alloc_floats(size_t n)
{
    size_t bytes = align16(n ? n : 1) * sizeof(float);
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (bytes >= ((size_t)2 << 20))
        madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}


static void free_floats(float *p, size_t n)
{
    if (p)
        munmap(p, align16(n ? n : 1) * sizeof(float));
}


static int all_finite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}


/* Header size for a file starting with major/minor, as darknet decides it. */
static size_t header_bytes(int32_t major, int32_t minor)
{
    return ((int64_t)major * 10 + minor >= 2 && major < 1000 && minor < 1000) ? 20 : 16;
}


/*
 * Floats a convolution's weights take in memory: GEMM layouts keep, per
 * group, the filters in panels of mr rows (zero rows pad the last panel).
 */
static size_t packed_floats(const vgc_layer *l, int mr)
{
    size_t fg = (size_t)(l->filters / l->groups), k = l->nweights / (size_t)l->filters;

    if (l->kind == VGC_CONV_DW)
        return l->nweights;
    if (l->kind == VGC_CONV_WINO)
        return (size_t)((l->wino_m + 2) * (l->wino_m + 2)) * ((fg + (size_t)mr - 1) / (size_t)mr) * (size_t)mr *
               (size_t)l->c;
    return (size_t)l->groups * ((fg + (size_t)mr - 1) / (size_t)mr) * (size_t)mr * k;
}


/* Where weight k of filter f lives in the layer's layout. */
static size_t weight_index(const vgc_layer *l, int mr, int f, size_t k)
{
    size_t fg = (size_t)(l->filters / l->groups), kk = l->nweights / (size_t)l->filters;
    size_t g = (size_t)f / fg, m = (size_t)f % fg;
    size_t group = ((fg + (size_t)mr - 1) / (size_t)mr) * (size_t)mr * kk;

    if (l->kind == VGC_CONV_DW)
        return (size_t)f * kk + k;
    return g * group + (m / (size_t)mr) * kk * (size_t)mr + k * (size_t)mr + m % (size_t)mr;
}


/* Where Winograd weight xi (of 16) of filter f, channel c lives: 16 GEMM A matrices (K x C). */
static size_t wino_index(const vgc_layer *l, int mr, int xi, int f, int c)
{
    size_t panels = ((size_t)l->filters + (size_t)mr - 1) / (size_t)mr;

    return (size_t)xi * panels * (size_t)mr * (size_t)l->c + (size_t)(f / mr) * (size_t)l->c * (size_t)mr +
           (size_t)c * (size_t)mr + (size_t)(f % mr);
}


/*
 * U = G g G^T for F(4x4, 3x3), G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
 * 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1] (Lavin and Gray), in double.
 */
static void wino4_weights(const float *g, float u[36])
{
    static const double G[6][3] = {
        { 1.0 / 4, 0, 0 }, { -1.0 / 6, -1.0 / 6, -1.0 / 6 }, { -1.0 / 6, 1.0 / 6, -1.0 / 6 },
        { 1.0 / 24, 1.0 / 12, 1.0 / 6 }, { 1.0 / 24, -1.0 / 12, 1.0 / 6 }, { 0, 0, 1 },
    };
    double t[6][3];

    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++)
            t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            u[i * 6 + j] = (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
}


/* U = G g G^T for F(2x2, 3x3), G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]. */
static void wino_weights(const float *g, float u[16])
{
    float t[4][3];

    for (int j = 0; j < 3; j++) {
        t[0][j] = g[j];
        t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        t[3][j] = g[6 + j];
    }
    for (int i = 0; i < 4; i++) {
        u[i * 4 + 0] = t[i][0];
        u[i * 4 + 1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
        u[i * 4 + 2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
        u[i * 4 + 3] = t[i][2];
    }
}


float vgc_layer_weight(const vgc_net *net, const vgc_layer *l, int f, int k)
{
    if (l->q8 && l->q8->dw) /* depthwise: s16 weights */
        return (float)((const int16_t *)(const void *)l->q8->a)[(size_t)f * l->q8->kp + (size_t)k] * l->q8->wscale[f];
    if (l->q8 && l->q8->kern->bf16)
        return vgc_bf16_to(((const uint16_t *)(const void *)l->q8->a)[(size_t)f * l->q8->kp + (size_t)k]);
    if (l->q8) /* the float weights were given back after quantization: what the layer computes with */
        return (float)l->q8->a[(size_t)f * l->q8->kp + vgc_q8_col(l->q8, k)] * l->q8->wscale[f];
    return vgc_layer_float_weight(net, l, f, k);
}


float vgc_layer_float_weight(const vgc_net *net, const vgc_layer *l, int f, int k)
{
    const int mr = net->k->gemm_mr;

    if (l->kind == VGC_CONV_WINO && l->wino_m == 2) {
        /* invert the embedding: x0 = y0, x1 = y1 - y2, x2 = y3, on rows then columns */
        static const float P[3][4] = { { 1, 0, 0, 0 }, { 0, 1, -1, 0 }, { 0, 0, 0, 1 } };
        const int c = k / 9, ky = k % 9 / 3, kx = k % 3;
        float g = 0;

        for (int a = 0; a < 4; a++)
            for (int b = 0; b < 4; b++)
                g += P[ky][a] * P[kx][b] * l->weights[wino_index(l, mr, a * 4 + b, f, c)];
        return g;
    }
    if (l->kind == VGC_CONV_WINO) {
        /* F(4x4): x0 = 4 y0, x1 = -4 y0 - 6 y1 - y5, x2 = y5 */
        static const double P[3][6] = { { 4, 0, 0, 0, 0, 0 }, { -4, -6, 0, 0, 0, -1 }, { 0, 0, 0, 0, 0, 1 } };
        const int c = k / 9, ky = k % 9 / 3, kx = k % 3;
        double g = 0;

        for (int a = 0; a < 6; a++)
            for (int b = 0; b < 6; b++)
                if (P[ky][a] != 0 && P[kx][b] != 0)
                    g += P[ky][a] * P[kx][b] * l->weights[wino_index(l, mr, a * 6 + b, f, c)];
        return (float)g;
    }
    return l->weights[weight_index(l, mr, f, (size_t)k)];
}


/* The floats of l's weights in the layout of l->kind (a convolution built outside a cfg network). */
size_t vgc_conv_packed_floats(const vgc_layer *l, int mr)
{
    return packed_floats(l, mr);
}


/* Filter f's (c/groups)*size*size weights (batch norm folded) into l->weights, in the layout of l->kind. */
void vgc_conv_pack_filter(const vgc_net *net, vgc_layer *l, int f, const float *w)
{
    const int mr = net->k->gemm_mr;

    if (l->kind != VGC_CONV_WINO) {
        for (size_t k = 0; k < l->nweights / (size_t)l->filters; k++)
            l->weights[weight_index(l, mr, f, k)] = w[k];
        return;
    }
    for (int c = 0; c < l->c; c++) {
        float u[36];

        if (l->wino_m == 4)
            wino4_weights(w + 9 * c, u);
        else
            wino_weights(w + 9 * c, u);
        for (int xi = 0; xi < (l->wino_m + 2) * (l->wino_m + 2); xi++)
            l->weights[wino_index(l, mr, xi, f, c)] = u[xi];
    }
}


/*
 * Read the convolution weights, one filter at a time, folding batch norm
 * and writing each filter straight into the layout the kernels use, so
 * that loading needs no second copy of the weights.
 */
static int load_weights(vgc_net *net, wsrc *src, const char *wname, char *err, size_t errlen)
{
    size_t params = vgc_net_param_count(net), need, total = 0, hdr, maxk = 1;
    const int mr = net->k->gemm_mr;
    int32_t head[3];
    float *bn = NULL, *row = NULL, *scale = NULL;
    int rc = 0, maxf = 1;

    if (params > VGC_MAX_PARAMS || params * 4 > net->max_bytes)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "the cfg describes %zu parameters, more than allowed", params);
    if (src->len < sizeof head)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "%s is %zu bytes, shorter than its header",
                        wname, src->len);
    if (wsrc_read(src, head, sizeof head) < 0)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "%s: cannot read its header", wname);
    hdr = header_bytes(head[0], head[1]);
    need = hdr + 4 * params;
    if (src->len != need)
        return vgc_fail(err, errlen, VIGIA_EINVAL,
                        "%s is %zu bytes but the cfg needs %zu (a %zu-byte header and %zu floats): "
                        "it is %s or belongs to another cfg",
                        wname, src->len, need, hdr, params, src->len < need ? "truncated" : "too long");
    if (src->mem)
        src->pos = hdr;
    else if (fseek(src->fp, (long)hdr, SEEK_SET) != 0)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "%s: cannot seek past its header", wname);
    else
        src->pos = hdr;

    for (int i = 0; i < net->n; i++) {
        const vgc_layer *l = &net->layers[i];

        if (l->type != VGC_L_CONV)
            continue;
        total += align16((size_t)l->filters) + align16(packed_floats(l, mr));
        if (l->filters > maxf)
            maxf = l->filters;
        if (l->nweights / (size_t)l->filters > maxk)
            maxk = l->nweights / (size_t)l->filters;
    }
    net->params = alloc_floats(total);
    net->params_floats = total;
    bn = malloc((size_t)maxf * 3 * sizeof(float));
    scale = malloc((size_t)maxf * sizeof(float));
    row = malloc(maxk * sizeof(float));
    if (!net->params || !bn || !scale || !row) {
        rc = vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory for %zu weights", total);
        goto out;
    }
    memset(net->params, 0, total * sizeof(float));
    total = 0;
    for (int i = 0; i < net->n; i++) {
        vgc_layer *l = &net->layers[i];
        size_t nf = (size_t)l->filters, per;

        if (l->type != VGC_L_CONV)
            continue;
        per = l->nweights / nf;
        l->biases = net->params + total;
        l->weights = l->biases + align16(nf);
        total += align16(nf) + align16(packed_floats(l, mr));
        if (wsrc_read(src, l->biases, nf * 4) < 0 ||
            (l->batch_normalize && wsrc_read(src, bn, nf * 3 * 4) < 0)) {
            rc = vgc_fail(err, errlen, VIGIA_EINVAL, "%s: read error at layer %d", wname, i);
            goto out;
        }
        if (!all_finite(l->biases, nf) || (l->batch_normalize && !all_finite(bn, nf * 3))) {
            rc = vgc_fail(err, errlen, VIGIA_EINVAL,
                          "%s: layer %d (cfg line %d) holds a value that is not a finite number",
                          wname, i, l->line);
            goto out;
        }
        for (size_t f = 0; f < nf; f++) {
            scale[f] = 1.0f;
            if (!l->batch_normalize)
                continue;
            /* darknet (test mode): y = (x - mean) / (sqrt(var) + .000001) * scale + bias */
            if (bn[2 * nf + f] < 0) {
                rc = vgc_fail(err, errlen, VIGIA_EINVAL,
                              "%s: layer %d (cfg line %d) has a negative batch-norm variance",
                              wname, i, l->line);
                goto out;
            }
            scale[f] = bn[f] / (sqrtf(bn[2 * nf + f]) + .000001f);
            l->biases[f] -= bn[nf + f] * scale[f];
        }
        for (size_t f = 0; f < nf; f++) {
            if (wsrc_read(src, row, per * 4) < 0) {
                rc = vgc_fail(err, errlen, VIGIA_EINVAL, "%s: read error at layer %d", wname, i);
                goto out;
            }
            for (size_t k = 0; k < per; k++) {
                float v = row[k] * scale[f];

                if (!isfinite(row[k]) || !isfinite(v)) {
                    rc = vgc_fail(err, errlen, VIGIA_EINVAL,
                                  "%s: layer %d (cfg line %d) holds a value that is not a finite number%s",
                                  wname, i, l->line, isfinite(row[k]) ? " once batch norm is folded" : "");
                    goto out;
                }
                row[k] = v;
                if (l->kind != VGC_CONV_WINO)
                    l->weights[weight_index(l, mr, (int)f, k)] = v;
            }
            if (l->kind == VGC_CONV_WINO) {
                for (int c = 0; c < l->c; c++) {
                    float u[36];
                    const int np = (l->wino_m + 2) * (l->wino_m + 2);

                    if (l->wino_m == 4)
                        wino4_weights(row + 9 * c, u);
                    else
                        wino_weights(row + 9 * c, u);
                    for (int xi = 0; xi < np; xi++)
                        l->weights[wino_index(l, mr, xi, (int)f, c)] = u[xi];
                }
            }
        }
        if (!all_finite(l->biases, nf)) {
            rc = vgc_fail(err, errlen, VIGIA_EINVAL,
                          "%s: layer %d (cfg line %d) overflows once batch norm is folded",
                          wname, i, l->line);
            goto out;
        }
    }
out:
    free(bn);
    free(scale);
    free(row);
    return rc;
}

/* ---- deterministic random weights -------------------------------------------------- */

static float rnd_uniform(uint32_t *state, float lo, float hi)
{
    uint32_t x = *state;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return lo + (hi - lo) * (float)(x >> 8) * (1.0f / 16777216.0f);
}


/* A complete weights file image (version 0.2.5) for net's cfg. */
static int random_image(const vgc_net *net, uint32_t seed, unsigned char **out, size_t *len,
                        char *err, size_t errlen)
{
    size_t params = vgc_net_param_count(net);
    int32_t head[3] = { 0, 2, 5 };
    uint64_t seen = 0;
    uint32_t st = seed ? seed : 0x9e3779b9u;
    unsigned char *img;
    float *p;

    if (params > VGC_MAX_PARAMS || params * 4 > net->max_bytes)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "the cfg describes %zu parameters, more than allowed", params);
    *len = 20 + 4 * params;
    img = malloc(*len);
    if (!img)
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory for random weights");
    memcpy(img, head, sizeof head);
    memcpy(img + 12, &seen, sizeof seen);
    p = (float *)(void *)(img + 20);
    for (int i = 0; i < net->n; i++) {
        const vgc_layer *l = &net->layers[i];
        float a;

        if (l->type != VGC_L_CONV)
            continue;
        a = sqrtf(1.5f / (float)(l->nweights / (size_t)l->filters));
        for (int f = 0; f < l->filters; f++)
            *p++ = rnd_uniform(&st, -0.1f, 0.1f);              /* biases */
        if (l->batch_normalize) {
            for (int f = 0; f < l->filters; f++)
                *p++ = rnd_uniform(&st, 0.5f, 1.5f);           /* scales */
            for (int f = 0; f < l->filters; f++)
                *p++ = rnd_uniform(&st, -0.1f, 0.1f);          /* means */
            for (int f = 0; f < l->filters; f++)
                *p++ = rnd_uniform(&st, 0.5f, 1.5f);           /* variances */
        }
        for (size_t k = 0; k < l->nweights; k++)
            *p++ = rnd_uniform(&st, -a, a);
    }
    *out = img;
    return 0;
}

/* ---- memory plan ---------------------------------------------------------------------- */

/* The layer whose buffer layer i's output really lives in. */
static int root_of(const vgc_net *net, int i)
{
    while (net->layers[i].alias >= 0)
        i = net->layers[i].alias;
    return i;
}


static void mark_use(vgc_net *net, int src, int user)
{
    int r = root_of(net, src);

    if (net->layers[r].last_use < user)
        net->layers[r].last_use = user;
}


typedef struct block {
    size_t off, size;         /* in floats */
    int owner;                /* layer */
} block;

/*
 * Give every layer that owns a buffer an arena offset: a buffer is freed
 * after its last reader, and a new one takes the lowest gap that fits.
 */
static int plan_memory(vgc_net *net, int keep, char *err, size_t errlen)
{
    block *live = calloc((size_t)net->n + 1, sizeof *live);
    int *hold = calloc((size_t)net->n + 1, sizeof *hold);   /* the last layer during which a buffer is read */
    int nlive = 0, rc = 0;
    size_t top = 0, work = 0;

    if (!live || !hold) {
        free(live);
        free(hold);
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    }
    for (int i = 0; i < net->n; i++) {
        vgc_layer *l = &net->layers[i];

        l->last_use = i;
        if (i > 0 && ((l->type == VGC_L_DROPOUT) ||
                      (l->type == VGC_L_ROUTE && l->nsrc == 1 && l->groups == 1)))
            l->alias = l->type == VGC_L_ROUTE ? l->src[0] : i - 1;
        if (i > 0 && l->type != VGC_L_ROUTE)
            mark_use(net, i - 1, i);
        if (l->type == VGC_L_ROUTE || l->type == VGC_L_SHORTCUT)
            for (int k = 0; k < l->nsrc; k++)
                mark_use(net, l->src[k], i);
    }
    for (int i = 0; i < net->n; i++) {
        vgc_layer *l = &net->layers[i];

        if (keep || l->type == VGC_L_YOLO || i == net->n - 1)
            mark_use(net, i, net->n);
    }
    for (int i = 0; i < net->n; i++) {
        net->layers[i].pool_fused = vgc_pool_fusable(net, i);
        net->layers[i].expand_fused = vgc_expand_fusable(net, i);
    }
    /*
     * a fused pair reads the first one's input until the second one's output
     * is written: that buffer is held a layer longer (last_use stays the last
     * reader: vgc_q8_plan reads it)
     */
    for (int i = 0; i < net->n; i++)
        hold[i] = net->layers[i].last_use;
    for (int i = 0; i < net->n; i++) {
        int r = -1, until = i;

        if (net->layers[i].pool_fused && i > 0) {
            r = root_of(net, i - 1);
            until = i + 1;      /* the maxpool's output is written while it is read */
        } else if (net->layers[i].expand_fused && i > 1) {
            r = root_of(net, i - 2);
        }
        if (r >= 0 && hold[r] < until)
            hold[r] = until;
    }
    for (int i = 0; i < net->n; i++) {
        vgc_layer *l = &net->layers[i];
        size_t size, off = 0, w;
        int at;

        w = vgc_layer_plan(net, l);
        if (w > work)
            work = w;
        if (l->alias >= 0)
            continue;
        /* a 1x1 run fused with the depthwise layer after it writes no output */
        if (i + 1 < net->n && net->layers[i + 1].expand_fused) {
            l->off = 0;
            continue;
        }
        /* free what nobody reads any more */
        for (int k = 0; k < nlive;) {
            if (hold[live[k].owner] < i) {
                memmove(&live[k], &live[k + 1], (size_t)(nlive - k - 1) * sizeof *live);
                nlive--;
            } else {
                k++;
            }
        }
        size = align16(l->out_size * (size_t)net->max_batch);
        for (at = 0; at < nlive; at++) {
            if (live[at].off - off >= size)
                break;
            off = live[at].off + live[at].size;
        }
        memmove(&live[at + 1], &live[at], (size_t)(nlive - at) * sizeof *live);
        live[at] = (block){ off, size, i };
        nlive++;
        l->off = off;
        if (off + size > top)
            top = off + size;
        if (top > net->max_bytes / sizeof(float)) {
            rc = vgc_fail(err, errlen, VIGIA_EINVAL,
                          "the network needs more than %zu MiB of activations at batch %d",
                          net->max_bytes >> 20, net->max_batch);
            goto out;
        }
    }
    net->arena_floats = top;
    net->work_floats = align16(work);
    if (work > net->max_bytes / sizeof(float) / (size_t)net->threads ||
        top + work * (size_t)net->threads > net->max_bytes / sizeof(float))
        rc = vgc_fail(err, errlen, VIGIA_EINVAL, "the network needs more than %zu MiB of memory",
                      net->max_bytes >> 20);
out:
    free(live);
    free(hold);
    return rc;
}


/*
 * Which 3x3 layers run as Winograd: its weights take 16/9 of their size and
 * its scratch is larger, so it is kept for the layers with the largest
 * outputs (the most work per extra byte) while activations, scratch and
 * the extra weights fit in the headroom. Call after a first plan_memory().
 */
static void choose_winograd(vgc_net *net, size_t headroom)
{
    const int mr = net->k->gemm_mr;
    size_t arena = net->arena_floats * sizeof(float), extra = 0;
    int *order = malloc((size_t)net->n * sizeof *order), ncand = 0;

    for (int i = 0; i < net->n; i++) {
        vgc_layer *l = &net->layers[i];

        if (l->type == VGC_L_CONV && l->kind == VGC_CONV_WINO) {
            l->kind = VGC_CONV_GEMM;
            if (order && !(net->precision != VGC_PREC_FP32 && vgc_q8_eligible(net, i)))
                order[ncand++] = i;
        }
    }
    /* largest output first (insertion sort: a handful of layers) */
    for (int a = 1; a < ncand; a++)
        for (int b = a; b > 0; b--) {
            const vgc_layer *x = &net->layers[order[b]], *y = &net->layers[order[b - 1]];

            if ((size_t)x->out_w * x->out_h <= (size_t)y->out_w * y->out_h)
                break;
            int t = order[b];

            order[b] = order[b - 1];
            order[b - 1] = t;
        }
    for (int c = 0; c < ncand; c++) {
        vgc_layer *l = &net->layers[order[c]];
        size_t gemm = packed_floats(l, mr);

        /* F(4x4) for large outputs (at least 32x32: enough tiles for full GEMM strips), else F(2x2) */
        for (int m = l->out_w >= 24 && l->out_h >= 24 ? 4 : 2; m >= 2; m -= 2) {
            size_t work = 0, more;

            l->kind = VGC_CONV_WINO;
            l->wino_m = m;
            more = (packed_floats(l, mr) - gemm) * sizeof(float);
            for (int i = 0; i < net->n; i++) {
                size_t w = vgc_layer_plan(net, &net->layers[i]);

                if (w > work)
                    work = w;
            }
            if (arena + extra + more + work * sizeof(float) * (size_t)net->threads <= headroom) {
                extra += more;
                break;
            }
            l->kind = VGC_CONV_GEMM;
        }
    }
    free(order);
}


static int allocate(vgc_net *net, char *err, size_t errlen)
{
    size_t work = net->work_floats * (size_t)net->threads;

    net->arena = alloc_floats(net->arena_floats);
    net->work = alloc_floats(work);
    net->scratch = malloc(((size_t)net->max_cand + 1) * sizeof(float));
    if (!net->arena || !net->work || !net->scratch)
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory for %zu MiB of activations",
                        (net->arena_floats + work) * sizeof(float) >> 20);
    /* touch everything now so that the first frame does not page-fault */
    memset(net->arena, 0, net->arena_floats * sizeof(float));
    memset(net->work, 0, work * sizeof(float));
    for (int i = 0; i < net->n; i++) {
        vgc_layer *l = &net->layers[i];

        l->out = net->arena + net->layers[root_of(net, i)].off;
    }
    return 0;
}

/* ---- open / close ------------------------------------------------------------------------ */

const vgc_kernels *vgc_kernels_pick(int want)
{
    int have = vgc_simd_detect();

    if (want == VGC_SIMD_AUTO || want > have)
        want = have;
    if (want >= VGC_SIMD_AVX512)
        return &vgc_kernels_avx512;
    if (want == VGC_SIMD_AVX2)
        return &vgc_kernels_avx2;
    return &vgc_kernels_generic;
}


static int count_convs(const vgc_net *net)
{
    int n = 0;

    for (int i = 0; i < net->n; i++)
        n += net->layers[i].type == VGC_L_CONV;
    return n;
}


/*
 * The precision the network will run in and, for int8, its kernels; the
 * reason for any fallback goes in net->prec_note (a machine that lacks an
 * instruction runs the next best, down to fp32; it is not an error).
 */
int vgc_precision_choose(vgc_net *net, const vgc_options *opt, const vgc_q8_kernels **q8k, char *err,
                         size_t errlen)
{
    char why[160];

    *q8k = NULL;
    net->precision = VGC_PREC_FP32;
    net->q8_dw = 0;
    net->q8_wide = NULL;
    net->prec_note[0] = '\0';
    switch (opt->precision) {
    case VGC_PREC_FP32:
        return 0;
    case VGC_PREC_INT8:
        if (opt->q8_min_channels < 0 || opt->q8_min_channels > VGC_MAX_CHANNELS)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "bad int8 minimum of channels %d", opt->q8_min_channels);
        net->q8_min_channels = opt->q8_min_channels ? opt->q8_min_channels : 64;
        if (opt->q8_kernel < 0 || opt->q8_kernel > VGC_Q8_AMX + 1)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "bad int8 kernel %d", opt->q8_kernel);
        /* the best usable at most the one asked; a step down is told in the note */
        *q8k = vgc_q8_pick(opt->q8_kernel ? opt->q8_kernel - 1 : VGC_Q8_AMX, VGC_Q8_REF, why, sizeof why);
        net->precision = VGC_PREC_INT8;
        snprintf(net->prec_note, sizeof net->prec_note, "%s", why);
        /* depthwise layers in int8 where their kernel exists here (else fp32, said when nothing else is) */
        net->q8_dw = vgc_q8_dw_pick(*q8k, why, sizeof why) != NULL;
        /*
         * the heads' input convolutions in bf16 beside AMX (its BF16 tiles), and the scalar form
         * beside the scalar int8 one (tests); else fp32: AVX-512 BF16 ran yolov3-tiny's heads
         * slower than fp32 (1.7 against 1.0 ms on a Xeon with both), AMX-BF16 3x faster
         */
        if ((*q8k)->kind == VGC_Q8_AMX)
            net->q8_wide = vgc_q8_pick(VGC_BF16_AMX, VGC_BF16_AMX, NULL, 0);
        else if ((*q8k)->kind == VGC_Q8_REF)
            net->q8_wide = vgc_q8_pick(VGC_BF16_REF, VGC_BF16_REF, NULL, 0);
        if (opt->q8_blocks < 0 || opt->q8_blocks > 3)
            return vgc_fail(err, errlen, VIGIA_EINVAL, "bad int8 block rule %d", opt->q8_blocks);
        net->q8_blocks = opt->q8_blocks;
        net->q8_dw_static = opt->q8_dw_static;
        net->q8_direct = opt->q8_direct;
        net->q8_first = opt->q8_first;
        net->q8_px4 = opt->q8_px4;
        if (!net->prec_note[0])
            snprintf(net->prec_note, sizeof net->prec_note, "%s", why);
        return 0;
    case VGC_PREC_BF16:
        if (opt->q8_kernel && (opt->q8_kernel < VGC_BF16_REF + 1 || opt->q8_kernel > VGC_BF16_AMX + 1))
            return vgc_fail(err, errlen, VIGIA_EINVAL, "bad bf16 kernel %d", opt->q8_kernel);
        /* AMX-BF16, else AVX-512 BF16; without either, fp32 (the scalar one only when asked: tests) */
        *q8k = vgc_q8_pick(opt->q8_kernel ? opt->q8_kernel - 1 : VGC_BF16_AMX,
                           opt->q8_kernel == VGC_BF16_REF + 1 ? VGC_BF16_REF : VGC_BF16_AVX512, why, sizeof why);
        /* AVX-512 BF16 alone, chosen (not asked for by kernel): only where it can beat fp32 */
        if (*q8k && (*q8k)->kind == VGC_BF16_AVX512 && !opt->q8_kernel && !vgc_bf16_avx512_pays(why, sizeof why))
            *q8k = NULL;
        if (!*q8k) {
            snprintf(net->prec_note, sizeof net->prec_note, "bf16 asked: %s", why);
            return 0;
        }
        net->precision = VGC_PREC_BF16;
        snprintf(net->prec_note, sizeof net->prec_note, "%s", why);
        return 0;
    }
    return vgc_fail(err, errlen, VIGIA_EINVAL, "bad precision %d", opt->precision);
}


static int load_common(vgc_net **out, const char *cfg_text, size_t cfg_len, wsrc *weights,
                       const char *wname, const vgc_options *opt_in, char *err, size_t errlen)
{
    vgc_options opt = opt_in ? *opt_in : (vgc_options){ 0 };
    vgc_cfg cfg;
    vgc_net *net;
    unsigned char *img = NULL;
    const vgc_q8_kernels *q8k = NULL;
    int rc;

    *out = NULL;
    if (opt.max_batch < 0 || opt.max_batch > VGC_MAX_BATCH || opt.threads < 0 ||
        opt.threads > VGC_MAX_THREADS || opt.input_w < 0 || opt.input_h < 0 ||
        opt.input_w > VGC_MAX_DIM || opt.input_h > VGC_MAX_DIM)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "bad engine options (batch %d, threads %d, input %dx%d)",
                        opt.max_batch, opt.threads, opt.input_w, opt.input_h);
    if (!weights && !opt.no_weights)
        return vgc_fail(err, errlen, VIGIA_EINVAL, "no weights given");
    rc = vgc_cfg_parse(&cfg, cfg_text, cfg_len, err, errlen);
    if (rc < 0)
        return rc;
    net = calloc(1, sizeof *net);
    if (!net) {
        vgc_cfg_release(&cfg);
        return vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
    }
    net->max_batch = opt.max_batch ? opt.max_batch : 1;
    net->threads = opt.threads ? opt.threads : 1;
    net->ignore_scale_x_y = opt.ignore_scale_x_y;
    net->max_bytes = opt.max_bytes && opt.max_bytes < VGC_MAX_ARENA_BYTES ? opt.max_bytes : VGC_MAX_ARENA_BYTES;
    net->k = vgc_kernels_pick(opt.simd);
    rc = vgc_net_build(net, &cfg, &opt, err, errlen);
    vgc_cfg_release(&cfg);
    if (rc < 0)
        goto fail;
    if ((rc = vgc_precision_choose(net, &opt, &q8k, err, errlen)) < 0)
        goto fail;
    /* a first plan sizes the activations; Winograd gets what is left of the headroom */
    if ((rc = plan_memory(net, opt.keep_outputs, err, errlen)) < 0)
        goto fail;
    choose_winograd(net, opt.headroom ? opt.headroom : VGC_HEADROOM_BYTES);
    if (opt.no_weights) {
        wsrc mem = { 0 };
        size_t len;

        if ((rc = random_image(net, opt.seed, &img, &len, err, errlen)) < 0)
            goto fail;
        mem.mem = img;
        mem.len = len;
        rc = load_weights(net, &mem, "random weights", err, errlen);
    } else {
        rc = load_weights(net, weights, wname, err, errlen);
    }
    if (rc < 0)
        goto fail;
    if (q8k && (rc = vgc_q8_prepare(net, q8k, opt.q8_ranges, opt.q8_chan_ranges, err, errlen)) < 0)
        goto fail;
    if (net->q8)
        net->q8->nofuse = opt.q8_no_fuse;
    if ((rc = plan_memory(net, opt.keep_outputs, err, errlen)) < 0 ||
        (rc = allocate(net, err, errlen)) < 0)
        goto fail;
    /* after the plan: which 1x1 layers their depthwise layer runs (expand_fused) is settled */
    if ((rc = vgc_q16_prepare(net, opt.q16, opt.q16_feed, err, errlen)) < 0)
        goto fail;
    if (opt.profile && !(net->prof = calloc((size_t)net->n, sizeof *net->prof))) {
        rc = vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        goto fail;
    }
    if (vgc_pool_create(&net->pool, net->threads) < 0) {
        rc = vgc_fail(err, errlen, VIGIA_ENOMEM, "cannot start %d compute threads", net->threads);
        goto fail;
    }
    /* our own threads split the work; OpenBLAS must not add its own */
    openblas_set_num_threads(1);
    if (net->k->simd == VGC_SIMD_GENERIC)
        snprintf(net->device, sizeof net->device, "cpu generic (openblas %s gemm), %d thread%s",
                 openblas_get_corename(), net->threads, net->threads == 1 ? "" : "s");
    else
        snprintf(net->device, sizeof net->device, "cpu %s, %d thread%s", vgc_simd_name(net->k->simd),
                 net->threads, net->threads == 1 ? "" : "s");
    if (net->q8)
        vgc_q8_note(net, count_convs(net));
    free(img);
    *out = net;
    return 0;

fail:
    free(img);
    vgc_net_destroy(net);
    return rc;
}


int vgc_net_load_mem(vgc_net **out, const char *cfg, size_t cfg_len, const void *weights,
                     size_t weights_len, const vgc_options *opt, char *err, size_t errlen)
{
    wsrc src = { weights, NULL, weights_len, 0 };

    return load_common(out, cfg, cfg_len, weights ? &src : NULL, "weights file", opt, err, errlen);
}


/* Read a whole (small) file. */
static int read_small_file(const char *path, size_t max, char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    struct stat st;
    int rc = 0;

    *buf = NULL;
    if (!fp)
        return vgc_fail(err, errlen, errno == ENOENT ? VIGIA_ENOENT : VIGIA_EINVAL, "cannot open %s: %s",
                        path, strerror(errno));
    if (fstat(fileno(fp), &st) < 0 || !S_ISREG(st.st_mode)) {
        rc = vgc_fail(err, errlen, VIGIA_EINVAL, "%s is not a regular file", path);
        goto out;
    }
    if ((uintmax_t)st.st_size > max) {
        rc = vgc_fail(err, errlen, VIGIA_EINVAL, "%s is %jd bytes, more than the %zu allowed", path,
                      (intmax_t)st.st_size, max);
        goto out;
    }
    *len = (size_t)st.st_size;
    *buf = malloc(*len + 1);
    if (!*buf) {
        rc = vgc_fail(err, errlen, VIGIA_ENOMEM, "out of memory");
        goto out;
    }
    if (fread(*buf, 1, *len, fp) != *len) {
        rc = vgc_fail(err, errlen, VIGIA_EINVAL, "cannot read %s", path);
        free(*buf);
        *buf = NULL;
    }
out:
    fclose(fp);
    return rc;
}


int vgc_net_load(vgc_net **out, const char *cfg_path, const char *weights_path,
                 const vgc_options *opt, char *err, size_t errlen)
{
    char *cfg = NULL;
    size_t cfg_len = 0;
    wsrc src = { 0 };
    struct stat st;
    int rc;

    *out = NULL;
    rc = read_small_file(cfg_path, VGC_CFG_MAX_BYTES, &cfg, &cfg_len, err, errlen);
    if (rc < 0)
        return rc;
    if (weights_path && !(opt && opt->no_weights)) {
        src.fp = fopen(weights_path, "rb");
        if (!src.fp) {
            rc = vgc_fail(err, errlen, errno == ENOENT ? VIGIA_ENOENT : VIGIA_EINVAL, "cannot open %s: %s",
                          weights_path, strerror(errno));
            goto out;
        }
        if (fstat(fileno(src.fp), &st) < 0 || !S_ISREG(st.st_mode)) {
            rc = vgc_fail(err, errlen, VIGIA_EINVAL, "%s is not a regular file", weights_path);
            goto out;
        }
        src.len = (size_t)st.st_size;
    }
    rc = load_common(out, cfg, cfg_len, src.fp ? &src : NULL, weights_path, opt, err, errlen);
out:
    if (src.fp)
        fclose(src.fp);
    free(cfg);
    return rc;
}


void vgc_net_destroy(vgc_net *net)
{
    if (!net)
        return;
    if (net->pool)
        vgc_pool_destroy(net->pool);
    vgc_q8_release(net);
    vgc_q16_release(net);
    for (int i = 0; i < net->n; i++)
        free(net->layers[i].packed);
    free(net->layers);
    free_floats(net->params, net->params_floats);
    free_floats(net->arena, net->arena_floats);
    free_floats(net->work, net->work_floats * (size_t)net->threads);
    free(net->scratch);
    free(net->prof);
    free(net);
}

/* ---- cfg-only helpers ---------------------------------------------------------------------- */

int vgc_cfg_param_count(const char *text, size_t len, size_t *count, char *err, size_t errlen)
{
    vgc_options opt = { 0 };
    vgc_net net = { 0 };
    vgc_cfg cfg;
    int rc = vgc_cfg_parse(&cfg, text, len, err, errlen);

    if (rc < 0)
        return rc;
    rc = vgc_net_build(&net, &cfg, &opt, err, errlen);
    if (rc == 0)
        *count = vgc_net_param_count(&net);
    free(net.layers);
    vgc_cfg_release(&cfg);
    return rc;
}


int vgc_weights_write_random(const char *cfg_path, const char *weights_path, uint32_t seed,
                             char *err, size_t errlen)
{
    vgc_options opt = { 0 };
    vgc_net net = { 0 };
    unsigned char *img = NULL;
    char *text = NULL;
    size_t len = 0, ilen = 0;
    FILE *fp = NULL;
    vgc_cfg cfg;
    int rc;

    rc = read_small_file(cfg_path, VGC_CFG_MAX_BYTES, &text, &len, err, errlen);
    if (rc < 0)
        return rc;
    rc = vgc_cfg_parse(&cfg, text, len, err, errlen);
    if (rc < 0)
        goto out;
    net.max_bytes = VGC_MAX_ARENA_BYTES;
    rc = vgc_net_build(&net, &cfg, &opt, err, errlen);
    vgc_cfg_release(&cfg);
    if (rc < 0 || (rc = random_image(&net, seed, &img, &ilen, err, errlen)) < 0)
        goto out;
    fp = fopen(weights_path, "wb");
    if (!fp || fwrite(img, 1, ilen, fp) != ilen) {
        rc = vgc_fail(err, errlen, VIGIA_EINVAL, "cannot write %s: %s", weights_path, strerror(errno));
        goto out;
    }
out:
    if (fp && fclose(fp) != 0 && rc == 0)
        rc = vgc_fail(err, errlen, VIGIA_EINVAL, "cannot write %s: %s", weights_path, strerror(errno));
    free(img);
    free(text);
    free(net.layers);
    return rc;
}

/* ---- accessors ------------------------------------------------------------------------------ */

int vgc_net_layers(const vgc_net *net) { return net->n; }
const vgc_layer *vgc_net_layer(const vgc_net *net, int i) { return &net->layers[i]; }
int vgc_net_classes(const vgc_net *net) { return net->classes; }
int vgc_net_max_batch(const vgc_net *net) { return net->max_batch; }
double vgc_net_flops(const vgc_net *net) { return net->flops; }
const char *vgc_net_device(const vgc_net *net) { return net->device; }

int vgc_net_precision(const vgc_net *net, const char **note)
{
    if (note)
        *note = net->prec_note;
    return net->precision;
}


size_t vgc_net_weight_bytes(const vgc_net *net)
{
    size_t bytes = 0;

    for (int i = 0; i < net->n; i++) {
        const vgc_layer *l = &net->layers[i];

        if (l->type != VGC_L_CONV)
            continue;
        if (l->q8)
            bytes += (size_t)l->q8->m * l->q8->k * (l->q8->dw || l->q8->kern->bf16 ? 2 : 1) +
                     (size_t)l->q8->m * (sizeof(float) + sizeof(int32_t)) + (size_t)l->filters * sizeof(float);
        else
            bytes += (l->nweights + (size_t)l->filters) * sizeof(float);
        if (l->q16)     /* beside the float weights, which it keeps (a fed layer twice: row-major for its fold) */
            bytes += (size_t)l->q16->m * l->q16->k * (sizeof *l->q16->a + (l->q16->wf ? sizeof(float) : 0)) +
                     (size_t)l->q16->m * sizeof(float);
    }
    return bytes;
}
int vgc_net_max_candidates(const vgc_net *net) { return net->max_cand; }

size_t vgc_net_arena_bytes(const vgc_net *net)
{
    return (net->arena_floats + net->work_floats * (size_t)net->threads) * sizeof(float);
}


int vgc_net_profile(const vgc_net *net, double *seconds)
{
    for (int i = 0; i < net->n; i++)
        seconds[i] = net->prof ? net->prof[i] : 0;
    return net->prof_runs;
}


void vgc_net_input_size(const vgc_net *net, int *w, int *h, int *c)
{
    *w = net->w;
    *h = net->h;
    *c = net->c;
}


const float *vgc_net_output(const vgc_net *net, int i, int b)
{
    return net->layers[i].out + (size_t)b * net->layers[i].out_size;
}
