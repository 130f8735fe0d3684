/*
 * tests/cpu/test_q16.c: the 16-bit 1x1 convolutions beside int8 (q16.h).
 *
 * - the scalar reference (pack, largest |x|, GEMM with every activation)
 *   against plain arithmetic on the unpacked numbers, and int32 sums at
 *   the bound q16.c sets (every weight and input at its largest) exact;
 * - the AVX-512 VNNI kernels against the reference, the same bytes and
 *   the same floats, on sizes that are not multiples of any block (a
 *   missing instruction is a TAP SKIP with the reason);
 * - a fed layer's passes (vgc_q16_feeds): one row into half of the pair
 *   layout, the fold of each channel's scale into the weights, its bound
 *   (no int32 sum past INT_MAX, the step made coarser only where the sum
 *   of a row needs it), the VNNI forms the same as the reference;
 * - an int8 network of inverted residual blocks: which layers run s16
 *   (expansions fused with their depthwise layer, projections in bands,
 *   or fed by their depthwise layer), the first one within 0.05 % (rms) of
 *   fp32 on the same input, every layer the same with the VNNI and the
 *   scalar kernels, with 1 and 3 threads (scales per block of an image or
 *   per channel: no dependence on the split), fed projections close to
 *   the unfed ones, and image 1 of a batch of 2 as it is alone;
 * - on a larger image: the first layer packing the expansion's input band
 *   by band as it writes it (the same head as packed after it), and a
 *   narrow projection on an input past L2 left fp32 unless s16 is asked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <limits.h>

#include <cmocka.h>

#include "engine.h"
#include "internal.h"
#include "q8.h"
#include "q16.h"

static uint32_t rng = 2718;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}


/* A uniform float in [-r, r]. */
static float uni(float r)
{
    return ((float)(next() % 20001) / 10000.0f - 1.0f) * r;
}

#define NACTS 4
static const enum vgc_act acts[NACTS] = { VGC_ACT_LINEAR, VGC_ACT_LEAKY, VGC_ACT_RELU, VGC_ACT_LOGISTIC };

/* One GEMM: weights, a float input (k x n, row stride n), its packed form, scales, biases. */
typedef struct problem {
    int m, k, n, kp, ldb, xmax;
    int16_t *a;
    float *x, *scale, *bias, inv;
    uint8_t *b;
    int32_t *zero;
} problem;


static void problem_make(problem *p, int m, int k, int n, int amax, int xmax)
{
    p->m = m;
    p->k = k;
    p->n = n;
    p->kp = (k + 1) & ~1;
    p->ldb = (n + 31) / 32 * 32 + 48;
    p->xmax = xmax;
    /* rows for whole blocks of 8 past m, as q16.c allocates them */
    p->a = calloc((size_t)((m + 7) / 8 * 8 + 8) * p->kp, sizeof *p->a);
    p->x = malloc((size_t)k * n * sizeof *p->x);
    p->b = calloc((size_t)p->kp / 2 * p->ldb * 4 + 64, 1);
    p->scale = malloc((size_t)m * sizeof *p->scale);
    p->bias = malloc((size_t)m * sizeof *p->bias);
    p->zero = calloc((size_t)m, sizeof *p->zero);
    assert_true(p->a && p->x && p->b && p->scale && p->bias && p->zero);
    for (int r = 0; r < m; r++) {
        for (int i = 0; i < k; i++)
            p->a[(size_t)r * p->kp + i] = (int16_t)((int)(next() % (2u * (unsigned)amax + 1)) - amax);
        p->scale[r] = 1e-7f * (float)(1 + next() % 100);
        p->bias[r] = uni(0.5f);
    }
    for (size_t i = 0; i < (size_t)k * n; i++)
        p->x[i] = uni(3.0f);
    p->inv = (float)xmax / 3.0f;
}


static void problem_free(problem *p)
{
    free(p->a);
    free(p->x);
    free(p->b);
    free(p->scale);
    free(p->bias);
    free(p->zero);
}


static vgc_q8_gemm gemm_of(const problem *p, enum vgc_act act, float *c)
{
    vgc_q8_gemm g = {
        .a = (const int8_t *)(const void *)p->a, .m = p->m, .kp = p->kp, .b = p->b, .ldb = p->ldb, .n = p->n,
        .c = c, .ldc = (size_t)p->n, .scale = p->scale, .comp = p->zero, .bias = p->bias, .act = act,
    };

    return g;
}


/* The reference against plain arithmetic: the packed numbers, their sums, the epilogue. */
static void test_reference(void **state)
{
    static const int shapes[][3] = { { 1, 1, 1 }, { 9, 7, 17 }, { 8, 48, 49 }, { 33, 272, 20 }, { 5, 3, 100 } };

    (void)state;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        problem p;
        float *c = malloc((size_t)shapes[s][0] * shapes[s][2] * sizeof *c);

        assert_non_null(c);
        problem_make(&p, shapes[s][0], shapes[s][1], shapes[s][2], VGC_Q16_WMAX, 2000);
        {
            float mx = 0;

            for (size_t i = 0; i < (size_t)p.k * p.n; i++)
                mx = fabsf(p.x[i]) > mx ? fabsf(p.x[i]) : mx;
            assert_true(vgc_q16_ref.amax(p.x, (size_t)p.n, p.k, p.n) == mx);
        }
        vgc_q16_ref.pack(p.x, (size_t)p.n, p.k, p.n, p.inv, p.xmax, p.b, p.ldb);
        for (int r = 0; r < p.kp; r++)
            for (int j = 0; j < p.n; j++) {
                const int16_t got = ((const int16_t *)(const void *)p.b)[((size_t)(r / 2) * p.ldb + j) * 2 + r % 2];
                const long want = r < p.k ? lrintf(p.x[(size_t)r * p.n + j] * p.inv) : 0;

                if (got != want)
                    fail_msg("packed [%d][%d] %d, want %ld", r, j, got, want);
            }
        for (int t = 0; t < NACTS; t++) {
            vgc_q8_gemm g = gemm_of(&p, acts[t], c);

            vgc_q16_ref.gemm(&g);
            for (int r = 0; r < p.m; r++)
                for (int j = 0; j < p.n; j++) {
                    double acc = 0;
                    float want;

                    for (int i = 0; i < p.k; i++)
                        acc += (double)p.a[(size_t)r * p.kp + i] * (double)lrintf(p.x[(size_t)i * p.n + j] * p.inv);
                    want = vgc_act_scalar((float)(acc * p.scale[r] + p.bias[r]), acts[t]);
                    if (fabsf(c[(size_t)r * p.n + j] - want) > 1e-5f * (1.0f + fabsf(want)))
                        fail_msg("act %d [%d][%d]: %g, want %g", t, r, j, c[(size_t)r * p.n + j], want);
                }
        }
        problem_free(&p);
        free(c);
    }
}


/* The bound: every weight +-VGC_Q16_WMAX and every input +-xmax, xmax as q16.c sets it; the sums exact. */
static void test_bound(void **state)
{
    const int k = 448, n = 16, m = 8;
    const int xmax = INT_MAX / (k * VGC_Q16_WMAX);
    const vgc_q16_kernels *ks[2] = { &vgc_q16_ref, *state ? &vgc_q16_vnni : NULL };
    problem p;
    float *c = malloc((size_t)m * n * sizeof *c);

    assert_non_null(c);
    problem_make(&p, m, k, n, 1, xmax);
    for (int r = 0; r < m; r++) {
        for (int i = 0; i < k; i++)
            p.a[(size_t)r * p.kp + i] = (int16_t)(r % 2 ? -VGC_Q16_WMAX : VGC_Q16_WMAX);
        p.scale[r] = 1.0f;
        p.bias[r] = 0;
    }
    for (size_t i = 0; i < (size_t)k * n; i++)
        p.x[i] = 3.0f;
    for (int v = 0; v < 2 && ks[v]; v++) {
        vgc_q8_gemm g = gemm_of(&p, VGC_ACT_LINEAR, c);

        ks[v]->pack(p.x, (size_t)n, k, n, p.inv, xmax, p.b, p.ldb);
        ks[v]->gemm(&g);
        for (int r = 0; r < m; r++)
            assert_float_equal(c[(size_t)r * n], (r % 2 ? -1.0 : 1.0) * k * (double)VGC_Q16_WMAX * xmax, 256.0);
    }
    problem_free(&p);
    free(c);
}


/*
 * The VNNI kernels against the reference: the same packed bytes, the same
 * largest |x|, the same floats; and each one's row ranges against its floats.
 */
static void test_vnni(void **state)
{
    static const int ms[] = { 1, 7, 8, 9, 17, 33 }, ks[] = { 1, 2, 3, 16, 33, 48, 96 };
    static const int ns[] = { 1, 15, 16, 17, 31, 47, 48, 49, 95, 100, 401 };

    (void)state;
    for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                problem p;
                const size_t cn = (size_t)ms[mi] * ns[ni];
                float *c0 = malloc(cn * sizeof *c0), *c1 = malloc(cn * sizeof *c1);
                float r0[33 * VGC_Q8_RANGE], r1[33 * VGC_Q8_RANGE];
                uint8_t *b1;

                assert_true(c0 && c1);
                problem_make(&p, ms[mi], ks[ki], ns[ni], VGC_Q16_WMAX, 30000);
                b1 = calloc((size_t)p.kp / 2 * p.ldb * 4 + 64, 1);
                assert_non_null(b1);
                assert_true(vgc_q16_vnni.amax(p.x, (size_t)p.n, p.k, p.n) ==
                            vgc_q16_ref.amax(p.x, (size_t)p.n, p.k, p.n));
                vgc_q16_ref.pack(p.x, (size_t)p.n, p.k, p.n, p.inv, p.xmax, p.b, p.ldb);
                vgc_q16_vnni.pack(p.x, (size_t)p.n, p.k, p.n, p.inv, p.xmax, b1, p.ldb);
                assert_memory_equal(p.b, b1, (size_t)p.kp / 2 * p.ldb * 4);
                for (int t = 0; t < NACTS; t++) {
                    vgc_q8_gemm g0 = gemm_of(&p, acts[t], c0), g1 = gemm_of(&p, acts[t], c1);

                    /* each row's range taken in passing (vgc_q8_gemm.range): every kernel, its own outputs */
                    g0.range = r0;
                    g1.range = r1;
                    for (size_t i = 0; i < (size_t)ms[mi] * VGC_Q8_RANGE; i++)
                        r0[i] = r1[i] = 0.0f;
                    vgc_q16_ref.gemm(&g0);
                    vgc_q16_vnni.gemm(&g1);
                    for (size_t i = 0; i < cn; i++)
                        if (c0[i] != c1[i] && fabsf(c0[i] - c1[i]) > 1e-6f * (1.0f + fabsf(c0[i])))
                            fail_msg("m %d k %d n %d act %d [%zu]: vnni %g, reference %g", p.m, p.k, p.n, t, i,
                                     c1[i], c0[i]);
                    for (int m = 0; m < p.m; m++) {
                        const float *c[2] = { c0 + (size_t)m * p.n, c1 + (size_t)m * p.n };
                        const float *r[2] = { r0 + (size_t)m * VGC_Q8_RANGE, r1 + (size_t)m * VGC_Q8_RANGE };

                        for (int v = 0; v < 2; v++) {
                            float lo = 0, hi = 0, rlo = r[v][0], rhi = r[v][16];

                            for (int i = 0; i < p.n; i++) {
                                lo = c[v][i] < lo ? c[v][i] : lo;
                                hi = c[v][i] > hi ? c[v][i] : hi;
                            }
                            for (int i = 1; i < 16; i++) {
                                rlo = r[v][i] < rlo ? r[v][i] : rlo;
                                rhi = r[v][16 + i] > rhi ? r[v][16 + i] : rhi;
                            }
                            if (lo != rlo || hi != rhi)
                                fail_msg("m %d k %d n %d act %d row %d (%s): range [%g, %g], outputs [%g, %g]", p.m,
                                         p.k, p.n, t, m, v ? "vnni" : "reference", rlo, rhi, lo, hi);
                        }
                    }
                }
                problem_free(&p);
                free(b1);
                free(c0);
                free(c1);
            }
}


/* A fed layer's passes, VNNI against the reference: the same halves, the same folded weights and steps. */
static void test_feed_vnni(void **state)
{
    static const int ks[] = { 1, 2, 15, 16, 17, 48, 272, 449 }, ns[] = { 1, 15, 16, 17, 100, 401 };

    (void)state;
    for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
        const int n = ns[ni];
        float *x = malloc((size_t)n * sizeof *x);
        uint8_t *b0 = malloc((size_t)n * 4), *b1 = malloc((size_t)n * 4);

        assert_true(x && b0 && b1);
        for (int j = 0; j < n; j++)
            x[j] = uni(2.0f);
        for (int hi = 0; hi < 2; hi++) {
            /* the other half untouched: both buffers start with the same bytes */
            for (int j = 0; j < 4 * n; j++)
                b0[j] = b1[j] = (uint8_t)next();
            vgc_q16_ref.half(x, n, 16000.0f, b0, hi);
            vgc_q16_vnni.half(x, n, 16000.0f, b1, hi);
            assert_memory_equal(b0, b1, (size_t)n * 4);
            for (int j = 0; j < n; j++) {
                int16_t v;

                memcpy(&v, b0 + 4 * j + 2 * hi, 2);
                assert_int_equal(v, (int)lrintf(x[j] * 16000.0f));
            }
        }
        free(x);
        free(b0);
        free(b1);
    }
    for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
        const int k = ks[ki], m = 9, kp = (k + 1) & ~1;
        float *w = malloc((size_t)m * k * sizeof *w), *sc = malloc((size_t)k * sizeof *sc);
        float ws0[9], ws1[9];
        int16_t *a0 = calloc((size_t)m * kp, sizeof *a0), *a1 = calloc((size_t)m * kp, sizeof *a1);

        assert_true(w && sc && a0 && a1);
        for (int i = 0; i < m * k; i++)
            w[i] = uni(0.3f);
        for (int j = 0; j < k; j++)
            sc[j] = j % 7 == 3 ? 0.0f : 1e-4f * (float)(1 + next() % 1000);
        for (int xmax = 4095; xmax <= 32767; xmax += 28672) {
            vgc_q16_fold(&vgc_q16_ref, w, sc, m, k, kp, xmax, a0, ws0);
            vgc_q16_fold(&vgc_q16_vnni, w, sc, m, k, kp, xmax, a1, ws1);
            assert_memory_equal(a0, a1, (size_t)m * kp * sizeof *a0);
            assert_memory_equal(ws0, ws1, sizeof ws0);
        }
        free(w);
        free(sc);
        free(a0);
        free(a1);
    }
}


/*
 * The fold against plain arithmetic: a * wscale within half a step of w * s,
 * |a| <= VGC_Q16_FED_WMAX, and rows whose |a| would sum past INT_MAX / xmax
 * (every weight alike: k x 32767) made coarser to fit, the others not.
 */
static void test_fold(void **state)
{
    const int k = 300, kp = 300, m = 3, xmax = VGC_Q16_FED_XMAX;
    const long long bound = INT_MAX / xmax;
    float *w = malloc((size_t)m * k * sizeof *w), *sc = malloc((size_t)k * sizeof *sc), ws[3];
    int16_t *a = calloc((size_t)m * kp, sizeof *a);

    (void)state;
    assert_true(w && sc && a);
    for (int j = 0; j < k; j++) {
        sc[j] = 0.5f + 0.001f * (float)j;
        w[j] = 0.25f / sc[j];                               /* row 0: every w * s 0.25: sum 300 x 32767 */
        w[k + j] = j == 7 ? 2.0f : uni(0.01f);              /* row 1: one large product, the rest small */
        w[2 * k + j] = 0.0f;                                /* row 2: zeros */
    }
    vgc_q16_fold(&vgc_q16_ref, w, sc, m, k, kp, xmax, a, ws);
    for (int r = 0; r < m; r++) {
        long long sum = 0;
        int amax = 0;

        for (int j = 0; j < k; j++) {
            const int v = a[(size_t)r * kp + j];
            const double want = (double)w[(size_t)r * k + j] * sc[j];

            sum += v < 0 ? -v : v;
            amax = abs(v) > amax ? abs(v) : amax;
            if (fabs(v * (double)ws[r] - want) > 0.5001 * ws[r])
                fail_msg("row %d [%d]: %d x %g, want %g", r, j, v, ws[r], want);
        }
        printf("# row %d: step %g, largest |a| %d, sum %lld (bound %lld)\n", r, ws[r], amax, sum, bound);
        assert_true(sum <= bound && amax <= VGC_Q16_FED_WMAX);
        if (r == 0)
            assert_true(amax < VGC_Q16_FED_WMAX && sum > bound * 9 / 10);   /* coarser, and no more than needed */
        if (r == 1)
            assert_int_equal(amax, VGC_Q16_FED_WMAX);                       /* the plain step */
        if (r == 2)
            assert_true(sum == 0 && ws[r] == 1.0f);
    }
    free(w);
    free(sc);
    free(a);
}


/*
 * Inverted residual blocks (yolo-fastest's pattern) in an int8 network
 * (48 x 34 positions after the first layer: two blocks of scales):
 * 1 and 5 expansions of 16 channels (fewer than 64: s16, fused with the
 * depthwise layer after them), 3 and 7 linear projections (s16, in bands),
 * the depthwise layers int8, the head s16 (bf16 beside AMX-BF16).
 */
static const char net_cfg[] =
    "[net]\nwidth=95\nheight=67\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=2\npad=1\nactivation=leaky\n"  /* 0 int8 but with load_first -1 */
    "[convolutional]\nbatch_normalize=1\nfilters=48\nsize=1\nstride=1\npad=1\nactivation=leaky\n"  /* 1 s16 */
    "[convolutional]\nbatch_normalize=1\nfilters=48\nsize=3\ngroups=48\nstride=1\npad=1\nactivation=leaky\n" /* 2 */
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=1\nstride=1\npad=1\nactivation=linear\n" /* 3 s16 */
    "[shortcut]\nfrom=-4\nactivation=linear\n"                                                      /* 4 */
    "[convolutional]\nbatch_normalize=1\nfilters=96\nsize=1\nstride=1\npad=1\nactivation=leaky\n"  /* 5 s16 */
    "[convolutional]\nbatch_normalize=1\nfilters=96\nsize=3\ngroups=96\nstride=2\npad=1\nactivation=leaky\n" /* 6 */
    "[convolutional]\nbatch_normalize=1\nfilters=24\nsize=1\nstride=1\npad=1\nactivation=linear\n" /* 7 s16 */
    "[convolutional]\nfilters=14\nsize=1\nstride=1\npad=1\nactivation=linear\n"                    /* 8 head */
    "[yolo]\nmask=0,1\nanchors=4,5, 8,9\nclasses=2\nnum=2\n";                                      /* 9 */
#define HEAD 8
#define IS_S16(i) ((i) == 1 || (i) == 3 || (i) == 5 || (i) == 7)


/* vgc_options.q8_first of the networks load_cfg makes: -1 where a test measures the s16 layers against fp32 */
static int load_first;


static vgc_net *load_cfg(const char *cfg, int precision, int q8_kernel, int q16, int threads, int keep, int feed)
{
    vgc_options opt = { .no_weights = 1, .seed = 17, .keep_outputs = keep, .max_batch = 2, .threads = threads,
                        .precision = precision, .q8_kernel = q8_kernel, .q16 = q16, .q16_feed = feed,
                        .q8_first = load_first };
    char err[VIGIA_ERRLEN];
    vgc_net *net = NULL;

    if (vgc_net_load_mem(&net, cfg, strlen(cfg), NULL, 0, &opt, err, sizeof err) < 0)
        fail_msg("%s", err);
    return net;
}


static vgc_net *load(int precision, int q8_kernel, int q16, int threads, int keep, int feed)
{
    return load_cfg(net_cfg, precision, q8_kernel, q16, threads, keep, feed);
}


static double rms_off(const vgc_net *a, const vgc_net *b, int li)
{
    const float *y = vgc_net_output(a, li, 0), *r = vgc_net_output(b, li, 0);
    double num = 0, den = 0;

    for (size_t i = 0; i < vgc_net_layer(a, li)->out_size; i++) {
        num += ((double)y[i] - r[i]) * ((double)y[i] - r[i]);
        den += (double)r[i] * r[i];
    }
    return sqrt(num / den);
}


static void test_network(void **state)
{
    const int kind = (int)(intptr_t)*state;
    const size_t n = 3 * 95 * 67;
    float *x = malloc(2 * n * sizeof *x);
    vgc_net *f32, *off, *ref;
    char err[VIGIA_ERRLEN];

    load_first = -1;    /* layer 0 fp32: layer 1's error against fp32 is then its own (q8_first.h: test_q8) */
    f32 = load(VGC_PREC_FP32, 0, 0, 1, 1, 0);
    off = load(VGC_PREC_INT8, kind + 1, -1, 1, 1, 0);
    ref = load(VGC_PREC_INT8, VGC_Q8_REF + 1, 1, 1, 1, 0);

    assert_non_null(x);
    for (size_t i = 0; i < 2 * n; i++)
        x[i] = (float)((i * 7919) % 1000) / 1000.0f;
    assert_int_equal(vgc_net_forward(f32, x, 1, err, sizeof err), 0);
    assert_int_equal(vgc_net_forward(off, x, 1, err, sizeof err), 0);
    assert_int_equal(vgc_net_forward(ref, x, 1, err, sizeof err), 0);
    /* the first s16 layer reads what fp32 computed: only its own rounding */
    printf("# layer 1: s16 %.4f%% (rms) off fp32\n", 100 * rms_off(ref, f32, 1));
    assert_true(rms_off(ref, f32, 1) < 5e-4);
    for (int threads = 1; threads <= 3; threads += 2) {
        /*
         * every output kept: no layer fused, each s16 layer in bands; else the expansions fused, and the
         * projections fed by their depthwise layer (fe; fu without: the same sums as q)
         */
        vgc_net *q = load(VGC_PREC_INT8, kind + 1, 0, threads, 1, 0);
        vgc_net *fu = load(VGC_PREC_INT8, kind + 1, 0, threads, 0, -1);
        vgc_net *fe = load(VGC_PREC_INT8, kind + 1, 0, threads, 0, 1), *fa = load(VGC_PREC_INT8, kind + 1, 0, threads, 0, 0);
        vgc_net *fr = load(VGC_PREC_INT8, VGC_Q8_REF + 1, 1, threads, 0, 1);
        const char *note;

        assert_int_equal(vgc_net_precision(q, &note), VGC_PREC_INT8);
        printf("# %s\n", note);
        /* the head too where int8 leaves it fp32 (not beside AMX-BF16) */
        assert_int_equal(vgc_net_layer(q, HEAD)->q16 != NULL, vgc_net_layer(q, HEAD)->q8 == NULL);
        assert_non_null(strstr(note, vgc_net_layer(q, HEAD)->q16 ? "and 5 s16 vnni" : "and 4 s16 vnni"));
        assert_int_equal(vgc_net_forward(q, x, 1, err, sizeof err), 0);
        for (int li = 1; li < HEAD; li++) {
            const vgc_layer *l = vgc_net_layer(q, li);
            const float *y = vgc_net_output(q, li, 0), *yr = vgc_net_output(ref, li, 0);

            if (l->type != VGC_L_CONV)
                continue;
            assert_int_equal(l->q16 != NULL, IS_S16(li));
            assert_int_equal(vgc_net_layer(off, li)->q16 != NULL, 0);
            /* the same sums as the scalar kernels (the int8 layers between within their own test's bound) */
            for (size_t i = 0; i < l->out_size; i++)
                if (fabsf(y[i] - yr[i]) > (li == 1 ? 0.0f : 1e-4f) * (1.0f + fabsf(yr[i])))
                    fail_msg("%d threads, layer %d [%zu]: %g, scalar kernels %g", threads, li, i, y[i], yr[i]);
            printf("# %d thread%s, layer %d (%s): %.3f%% (rms) off fp32, %.3f%% without s16\n", threads,
                   threads > 1 ? "s" : "", li, l->q16 ? "s16" : l->q8 ? "int8" : "fp32", 100 * rms_off(q, f32, li),
                   100 * rms_off(off, f32, li));
            assert_true(rms_off(q, f32, li) < 0.05);
        }
        /* fused: the same sums, the same head */
        assert_true(vgc_net_layer(fu, 2)->expand_fused && vgc_net_layer(fu, 6)->expand_fused);
        assert_int_equal(vgc_net_forward(fu, x, 1, err, sizeof err), 0);
        assert_memory_equal(vgc_net_output(fu, HEAD, 0), vgc_net_output(q, HEAD, 0),
                            vgc_net_layer(q, HEAD)->out_size * sizeof(float));
        /* fed: the projections (3, 7), near the unfed ones; the same with the VNNI and the scalar kernels */
        for (int li = 3; li <= 7; li += 4) {
            assert_true(vgc_net_layer(fe, li)->q16->fed && vgc_net_layer(fe, li - 1)->q16_feeds);
            assert_false(vgc_net_layer(fu, li)->q16->fed || vgc_net_layer(q, li)->q16->fed);
            /* by default too: an int8 depthwise layer writes them straight (q16.c: positions >= 4 x filters) */
            assert_true(vgc_net_layer(fa, li)->q16->fed);
        }
        assert_int_equal(vgc_net_forward(fe, x, 1, err, sizeof err), 0);
        assert_int_equal(vgc_net_forward(fr, x, 1, err, sizeof err), 0);
        printf("# %d thread%s, head: fed %.4f%% (rms) off unfed, %.3f%% off fp32 (unfed %.3f%%); layers 3, 7 with "
               "the scalar kernels %.5f%%, %.5f%% off\n", threads, threads > 1 ? "s" : "", 100 * rms_off(fe, q, HEAD),
               100 * rms_off(fe, f32, HEAD), 100 * rms_off(q, f32, HEAD), 100 * rms_off(fe, fr, 3),
               100 * rms_off(fe, fr, 7));
        /* the head is bf16 with the scalar kernels (q8_wide): layers 3 and 7 (read by 4 and the head) compared */
        assert_true(rms_off(fe, q, HEAD) < 2e-3 && rms_off(fe, fr, 3) < 1e-4 && rms_off(fe, fr, 7) < 1e-3);
        /* a batch of 2: image 1 (scaled on its own) as it is alone, fused and not, fed */
        for (int v = 0; v < 3; v++) {
            vgc_net *net = v == 2 ? fe : v ? fu : q;
            const size_t out = vgc_net_layer(net, HEAD)->out_size;
            float *alone = malloc(out * sizeof *alone);

            assert_non_null(alone);
            assert_int_equal(vgc_net_forward(net, x + n, 1, err, sizeof err), 0);
            memcpy(alone, vgc_net_output(net, HEAD, 0), out * sizeof *alone);
            assert_int_equal(vgc_net_forward(net, x, 2, err, sizeof err), 0);
            assert_memory_equal(vgc_net_output(net, HEAD, 1), alone, out * sizeof *alone);
            free(alone);
        }
        vgc_net_destroy(q);
        vgc_net_destroy(fu);
        vgc_net_destroy(fe);
        vgc_net_destroy(fr);
        vgc_net_destroy(fa);
    }
    vgc_net_destroy(f32);
    vgc_net_destroy(off);
    vgc_net_destroy(ref);
    free(x);
    load_first = 0;
}


/*
 * The same blocks on a larger image (128 x 300: layer 0's output 64 x 150,
 * 9600 positions, 9.4 blocks of Q16_BLOCK). Layer 0 packs layer 1's input
 * as it writes it (vgc_layer.packs_next), in two bands of whole blocks
 * (128 and 22 rows), with 1 and 3 threads: the same head, byte for byte, as
 * with every output kept (layer 1 in bands, packed from memory), a batch of
 * 2 too. Layer 3 (16 filters on 1.8 MB of floats) is narrow: unfed, fp32
 * by default, s16 when asked (q16 1). Fed (the default): its depthwise
 * layer 2, fp32 on a plane past int8's 80x80, takes its input's ranges from
 * its s16 expansion's GEMM and writes layer 3's input as s16 itself
 * (vgc_q16_feed_direct): near the unfed head, the same with the scalar
 * int8 and s16 kernels.
 */
static void test_bands(void **state)
{
    const char *at = strstr(net_cfg, "width=95\nheight=67");
    char *cfg = malloc(sizeof net_cfg + 8);
    const size_t n = 3 * 128 * 300;
    float *x = malloc(2 * n * sizeof *x);
    char err[VIGIA_ERRLEN];

    (void)state;
    load_first = 0;     /* layer 0 in int8 where it can: its bands pack layer 1's input too */
    assert_true(at && cfg && x);
    snprintf(cfg, sizeof net_cfg + 8, "%.*swidth=128\nheight=300%s", (int)(at - net_cfg), net_cfg,
             at + strlen("width=95\nheight=67"));
    for (size_t i = 0; i < 2 * n; i++)
        x[i] = (float)((i * 7919) % 1000) / 1000.0f;
    for (int threads = 1; threads <= 3; threads += 2) {
        vgc_net *kept = load_cfg(cfg, VGC_PREC_INT8, VGC_Q8_VNNI + 1, 0, threads, 1, -1);
        vgc_net *bands = load_cfg(cfg, VGC_PREC_INT8, VGC_Q8_VNNI + 1, 0, threads, 0, -1);
        vgc_net *asked = load_cfg(cfg, VGC_PREC_INT8, VGC_Q8_VNNI + 1, 1, threads, 0, -1);
        vgc_net *fed = load_cfg(cfg, VGC_PREC_INT8, VGC_Q8_VNNI + 1, 0, threads, 0, 0);
        vgc_net *fr = load_cfg(cfg, VGC_PREC_INT8, VGC_Q8_REF + 1, 1, threads, 0, 0);
        const size_t out = vgc_net_layer(bands, HEAD)->out_size;

        assert_true(vgc_net_layer(bands, 0)->packs_next && vgc_net_layer(bands, 2)->expand_fused);
        assert_false(vgc_net_layer(kept, 0)->packs_next);
        assert_true(vgc_net_layer(bands, 1)->q16 && vgc_net_layer(bands, 7)->q16 && vgc_net_layer(asked, 3)->q16);
        assert_null(vgc_net_layer(bands, 3)->q16);
        assert_null(vgc_net_layer(kept, 3)->q16);
        assert_int_equal(vgc_net_forward(kept, x, 2, err, sizeof err), 0);
        assert_int_equal(vgc_net_forward(bands, x, 2, err, sizeof err), 0);
        for (int b = 0; b < 2; b++)
            assert_memory_equal(vgc_net_output(bands, HEAD, b), vgc_net_output(kept, HEAD, b), out * sizeof(float));
        assert_null(vgc_net_layer(fed, 2)->q8);
        assert_true(vgc_net_layer(fed, 3)->q16 && vgc_net_layer(fed, 3)->q16->fed && vgc_net_layer(fed, 2)->q16_feeds);
        assert_int_equal(vgc_net_forward(fed, x, 1, err, sizeof err), 0);
        assert_int_equal(vgc_net_forward(fr, x, 1, err, sizeof err), 0);
        assert_int_equal(vgc_net_forward(kept, x, 1, err, sizeof err), 0);
        printf("# %d thread%s, fed by an fp32 depthwise layer: layer 3 %.4f%% (rms) off unfed, head %.4f%%; "
               "scalar kernels %.5f%% off\n", threads, threads > 1 ? "s" : "", 100 * rms_off(fed, kept, 3),
               100 * rms_off(fed, kept, HEAD), 100 * rms_off(fed, fr, 3));
        assert_true(rms_off(fed, kept, 3) < 1e-3 && rms_off(fed, kept, HEAD) < 2e-3 && rms_off(fed, fr, 3) < 1e-4);
        vgc_net_destroy(fed);
        vgc_net_destroy(fr);
        vgc_net_destroy(kept);
        vgc_net_destroy(bands);
        vgc_net_destroy(asked);
    }
    free(cfg);
    free(x);
}


/*
 * A depthwise layer without a bound on its outputs (swish: not monotonic)
 * feeds its projection the other way, each channel's plane through the
 * thread's scratch and its own largest |x| (vgc_q16_feed): only where
 * asked (q16_feed 1), not by default on these small planes; near the
 * unfed head, the same with the scalar kernels.
 */
static void test_feed_scratch(void **state)
{
    static const char dw_leaky[] = "groups=48\nstride=1\npad=1\nactivation=leaky";
    const char *at = strstr(net_cfg, dw_leaky);
    char *cfg = malloc(sizeof net_cfg + 8);
    const size_t n = 3 * 95 * 67;
    float *x = malloc(n * sizeof *x);
    char err[VIGIA_ERRLEN];

    (void)state;
    assert_true(at && cfg && x);
    snprintf(cfg, sizeof net_cfg + 8, "%.*sgroups=48\nstride=1\npad=1\nactivation=swish%s", (int)(at - net_cfg),
             net_cfg, at + strlen(dw_leaky));
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((i * 7919) % 1000) / 1000.0f;
    {
        vgc_net *fe = load_cfg(cfg, VGC_PREC_INT8, VGC_Q8_VNNI + 1, 0, 1, 0, 1);
        vgc_net *fu = load_cfg(cfg, VGC_PREC_INT8, VGC_Q8_VNNI + 1, 0, 1, 0, -1);
        vgc_net *fa = load_cfg(cfg, VGC_PREC_INT8, VGC_Q8_VNNI + 1, 0, 1, 0, 0);
        vgc_net *fr = load_cfg(cfg, VGC_PREC_INT8, VGC_Q8_REF + 1, 1, 1, 0, 1);

        assert_non_null(vgc_net_layer(fe, 2)->q8);
        assert_true(vgc_net_layer(fe, 3)->q16->fed && vgc_net_layer(fr, 3)->q16->fed);
        assert_false(vgc_net_layer(fa, 3)->q16->fed || vgc_net_layer(fu, 3)->q16->fed);
        assert_int_equal(vgc_net_forward(fe, x, 1, err, sizeof err), 0);
        assert_int_equal(vgc_net_forward(fu, x, 1, err, sizeof err), 0);
        assert_int_equal(vgc_net_forward(fr, x, 1, err, sizeof err), 0);
        printf("# swish depthwise layer, fed through scratch: head %.4f%% (rms) off unfed; layer 3 with the "
               "scalar kernels %.5f%% off\n", 100 * rms_off(fe, fu, HEAD), 100 * rms_off(fe, fr, 3));
        assert_true(rms_off(fe, fu, HEAD) < 2e-3 && rms_off(fe, fr, 3) < 1e-4);
        vgc_net_destroy(fe);
        vgc_net_destroy(fu);
        vgc_net_destroy(fa);
        vgc_net_destroy(fr);
    }
    free(cfg);
    free(x);
}


static void skipped(void **state)
{
    (void)state;
    skip();
}


int main(void)
{
    static char names[5][256];
    char why[160] = "";
    const int vnni = vgc_q8_usable(VGC_Q8_VNNI, why, sizeof why);
    struct CMUnitTest tests[8] = {
        { "q16_reference", test_reference, NULL, NULL, NULL },
        { "q16_bound", test_bound, NULL, NULL, (void *)(intptr_t)vnni },
        { "q16_fold", test_fold, NULL, NULL, NULL },
    };
    int n = 3;

    snprintf(names[0], sizeof names[0], "q16_vnni%s%s", vnni ? "" : " # SKIP ", vnni ? "" : why);
    tests[n++] = (struct CMUnitTest){ names[0], vnni ? test_vnni : skipped, NULL, NULL, NULL };
    snprintf(names[2], sizeof names[2], "q16_feed_vnni%s%s", vnni ? "" : " # SKIP ", vnni ? "" : why);
    tests[n++] = (struct CMUnitTest){ names[2], vnni ? test_feed_vnni : skipped, NULL, NULL, NULL };
    snprintf(names[1], sizeof names[1], "q16_network_vnni%s%s", vnni ? "" : " # SKIP ", vnni ? "" : why);
    tests[n++] = (struct CMUnitTest){ names[1], vnni ? test_network : skipped, NULL, NULL,
                                      (void *)(intptr_t)VGC_Q8_VNNI };
    snprintf(names[3], sizeof names[3], "q16_bands_vnni%s%s", vnni ? "" : " # SKIP ", vnni ? "" : why);
    tests[n++] = (struct CMUnitTest){ names[3], vnni ? test_bands : skipped, NULL, NULL, NULL };
    snprintf(names[4], sizeof names[4], "q16_feed_scratch_vnni%s%s", vnni ? "" : " # SKIP ", vnni ? "" : why);
    tests[n++] = (struct CMUnitTest){ names[4], vnni ? test_feed_scratch : skipped, NULL, NULL, NULL };
    return _cmocka_run_group_tests("q16", tests, (size_t)n, NULL, NULL);
}
