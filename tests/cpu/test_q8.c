/*
 * tests/cpu/test_q8.c: the int8 convolutions of the cpu engine (q8.h).
 *
 * - every int8 GEMM kernel the CPU has against the scalar reference, on
 *   sizes that are not multiples of any block (M, K, N odd), with every
 *   epilogue (bias, scale, compensation, leaky and linear); a kernel the
 *   CPU (or the kernel: AMX) lacks is a TAP SKIP with the reason;
 * - the scalar reference against a plain dot product on unpacked data;
 * - whole networks (1x1, 3x3 stride 1 and 2, padding, odd sizes, 1 and 3
 *   threads) in int8 against the same network in fp32: within the error
 *   quantization explains, and every kernel the same as the reference's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine.h"
#include "internal.h"
#include "q8.h"
#include "q8_first.h"
#include "q8_util.h"
#include "q8_calib.h"
#include "onnx_exec.h"
#include "onnx_rewrite.h"

static const vgc_q8_kernels *const kernels[VGC_Q8_KINDS] = { &vgc_q8_ref, &vgc_q8_avx2, &vgc_q8_vnni, &vgc_q8_amx,
                                                             &vgc_bf16_ref, &vgc_bf16_avx512, &vgc_bf16_amx };

static uint32_t rng = 12345;

static uint32_t next(void)
{
    return q8u_next(&rng);
}


/* A random problem packed both ways: a (mp x kp), b as unpacked K x N rows and packed. */
#define PROBLEM_MAX_M 160     /* rows (filters) a problem may have */

typedef struct problem {
    int m, k, n, kp, mp, ldb;
    int8_t *a;
    uint8_t *rows;            /* k x n */
    uint8_t *b;               /* packed */
    float scale[PROBLEM_MAX_M], bias[PROBLEM_MAX_M];
    int32_t comp[PROBLEM_MAX_M];
} problem;


/* The bf16 form of a problem: a and b as bf16 of values in [-1, 1), comp 0, scale 1. */
static void problem_make_bf16(problem *p, int m, int k, int n)
{
    uint16_t *a, *b;

    memset(p, 0, sizeof *p);
    p->m = m, p->k = k, p->n = n;
    p->kp = (k + 63) / 64 * 64;
    p->mp = (m + 31) / 32 * 32;
    p->ldb = (n + 31) / 32 * 32;
    p->a = aligned_alloc(64, (size_t)p->mp * p->kp * 2);
    p->b = aligned_alloc(64, (size_t)p->kp * p->ldb * 2 + 64);
    assert_non_null(p->a);
    assert_non_null(p->b);
    memset(p->a, 0, (size_t)p->mp * p->kp * 2);
    memset(p->b, 0, (size_t)p->kp * p->ldb * 2 + 64);
    a = (uint16_t *)(void *)p->a;
    b = (uint16_t *)(void *)p->b;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < k; j++)
            a[(size_t)i * p->kp + j] = vgc_bf16_from((float)(int)(next() % 2000) / 1000.0f - 1.0f);
    for (int j = 0; j < k; j++)
        for (int c = 0; c < n; c++)
            b[((size_t)(j / 2) * p->ldb + c) * 2 + j % 2] = vgc_bf16_from((float)(int)(next() % 2000) / 1000.0f - 1.0f);
    assert_true(m <= PROBLEM_MAX_M);
    for (int i = 0; i < m; i++) {
        p->scale[i] = 1.0f;
        p->bias[i] = (float)((int)(next() % 200) - 100) * 0.01f;
    }
}


static void problem_make(problem *p, int m, int k, int n, int wmax)
{
    const uint8_t **rp;

    memset(p, 0, sizeof *p);
    p->m = m, p->k = k, p->n = n;
    p->kp = (k + 63) / 64 * 64;
    p->mp = (m + 31) / 32 * 32;
    p->ldb = (n + 31) / 32 * 32;
    p->a = aligned_alloc(64, (size_t)p->mp * p->kp);
    p->rows = malloc((size_t)k * n);
    p->b = aligned_alloc(64, (size_t)p->kp * p->ldb + 64);
    rp = malloc((size_t)k * sizeof *rp);
    assert_non_null(p->a);
    assert_non_null(p->rows);
    assert_non_null(p->b);
    assert_non_null(rp);
    memset(p->a, 0, (size_t)p->mp * p->kp);
    memset(p->b, 0, (size_t)p->kp * p->ldb + 64);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < k; j++)
            p->a[(size_t)i * p->kp + j] = (int8_t)((int)(next() % (2 * wmax + 1)) - wmax);
    for (size_t i = 0; i < (size_t)k * n; i++)
        p->rows[i] = (uint8_t)next();
    for (int j = 0; j < k; j++)
        rp[j] = p->rows + (size_t)j * n;
    vgc_q8_pack_rows(rp, k, p->kp, n, p->ldb, 0, p->b);
    assert_true(m <= PROBLEM_MAX_M);
    for (int i = 0; i < m; i++) {
        p->scale[i] = 1e-4f * (float)(1 + next() % 100);
        p->bias[i] = (float)((int)(next() % 200) - 100) * 0.01f;
        p->comp[i] = (int32_t)(next() % 100000) - 50000;
    }
    free(rp);
}


static void problem_free(problem *p)
{
    free(p->a);
    free(p->rows);
    free(p->b);
}


static void run(const vgc_q8_kernels *k, const problem *p, enum vgc_act act, float *c, size_t ldc)
{
    vgc_q8_gemm g = { .a = p->a, .m = p->m, .kp = p->kp, .b = p->b, .ldb = p->ldb, .n = p->n, .c = c,
                      .ldc = ldc, .scale = p->scale, .comp = p->comp, .bias = p->bias, .act = act };

    k->gemm(&g);
}


/* The reference on packed data against a dot product on the unpacked rows. */
static void test_reference(void **state)
{
    static const int sizes[][3] = { { 1, 1, 1 }, { 3, 5, 7 }, { 17, 70, 33 }, { 40, 130, 65 } };

    (void)state;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        problem p;
        const size_t ldc = (size_t)sizes[s][2] + 3;
        float *c = calloc((size_t)sizes[s][0] * ldc, sizeof *c);

        assert_non_null(c);
        problem_make(&p, sizes[s][0], sizes[s][1], sizes[s][2], 127);
        run(&vgc_q8_ref, &p, VGC_ACT_LINEAR, c, ldc);
        for (int i = 0; i < p.m; i++)
            for (int j = 0; j < p.n; j++) {
                int32_t acc = 0;
                float want;

                for (int q = 0; q < p.k; q++)
                    acc += (int32_t)p.a[(size_t)i * p.kp + q] * (int32_t)p.rows[(size_t)q * p.n + j];
                want = (float)(acc - p.comp[i]) * p.scale[i] + p.bias[i];
                if (fabsf(c[(size_t)i * ldc + j] - want) > 1e-5f * (1.0f + fabsf(want)))
                    fail_msg("%dx%dx%d: [%d][%d] = %g, want %g", p.m, p.k, p.n, i, j, c[(size_t)i * ldc + j],
                             want);
            }
        problem_free(&p);
        free(c);
    }
}


/* Kernel `kind` against the reference on odd sizes; the columns past n and rows past m untouched. */
static void test_kernel(void **state)
{
    const int kind = (int)(intptr_t)*state;
    const vgc_q8_kernels *k = kernels[kind];
    static const int sizes[][3] = { { 1, 1, 1 },   { 5, 3, 7 },    { 7, 27, 45 },  { 33, 70, 17 },
                                    { 50, 200, 100 }, { 31, 129, 64 }, { 64, 576, 97 }, { 45, 1000, 130 },
                                    /* more rows than columns: the kernels walk rows outer */
                                    { 100, 300, 40 }, { 70, 64, 20 }, { 129, 260, 80 } };

    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int act = 0; act < 3; act++) {
            const enum vgc_act a = act == 0 ? VGC_ACT_LINEAR : act == 1 ? VGC_ACT_LEAKY : VGC_ACT_LOGISTIC;
            problem p;
            const size_t ldc = (size_t)sizes[s][2] + 5;
            const size_t rows = (size_t)sizes[s][0] + 1;
            float *want = malloc(rows * ldc * sizeof *want), *got = malloc(rows * ldc * sizeof *got);

            assert_non_null(want);
            assert_non_null(got);
            for (size_t i = 0; i < rows * ldc; i++)
                want[i] = got[i] = -7.0f;
            if (k->bf16)
                problem_make_bf16(&p, sizes[s][0], sizes[s][1], sizes[s][2]);
            else
                problem_make(&p, sizes[s][0], sizes[s][1], sizes[s][2], k->wmax);
            run(k->bf16 ? &vgc_bf16_ref : &vgc_q8_ref, &p, a, want, ldc);
            run(k, &p, a, got, ldc);
            for (size_t i = 0; i < rows; i++)
                for (size_t j = 0; j < ldc; j++) {
                    float x = want[i * ldc + j], y = got[i * ldc + j];
                    /* bf16: float sums in another order (terms of magnitude <= 1, k of them) */
                    const float tol = k->bf16 ? 1e-5f * (float)sizes[s][1] : 1e-5f * (1.0f + fabsf(x));

                    if (fabsf(x - y) > tol)
                        fail_msg("%s %dx%dx%d act %d: [%zu][%zu] = %.9g, reference %.9g", k->name, p.m, p.k, p.n,
                                 act, i, j, y, x);
                }
            problem_free(&p);
            free(want);
            free(got);
        }
}


/*
 * A network exercising every int8 path (3x3 stride 1 and 2 with padding,
 * 5x5, 1x1, odd sizes) and every rule that keeps a layer fp32 (q8.c).
 */
static const char net_cfg[] =
    "[net]\nwidth=37\nheight=29\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=6\nsize=3\nstride=1\npad=1\nactivation=leaky\n"   /* 0 FIRST_INT8 */
    "[convolutional]\nbatch_normalize=1\nfilters=64\nsize=3\nstride=2\npad=1\nactivation=leaky\n"  /* 1 fp32: 6 x 3 x 3 < 64 terms */
    "[convolutional]\nbatch_normalize=1\nfilters=65\nsize=1\nstride=1\npad=1\nactivation=leaky\n"  /* 2 int8 */
    "[convolutional]\nbatch_normalize=1\nfilters=70\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 3 int8 */
    "[convolutional]\nfilters=66\nsize=5\nstride=2\npad=1\nactivation=leaky\n"                      /* 4 int8 */
    "[convolutional]\nfilters=20\nsize=1\nstride=1\npad=1\nactivation=linear\n"                     /* 5 fp32: linear */
    "[route]\nlayers=-1\n"                                                                          /* 6 */
    "[convolutional]\nfilters=40\nsize=3\nstride=1\npad=1\nactivation=leaky\n"                      /* 7 int8: 20 x 3 x 3 terms */
    "[convolutional]\nfilters=14\nsize=1\nstride=1\npad=1\nactivation=linear\n"                     /* 8 fp32: a head */
    "[yolo]\nmask=0,1\nanchors=4,5, 8,9\nclasses=2\nnum=2\n";                                       /* 9 */

/* which layers run int8 (the first: in its own form, with the kernels that have it, q8_first.h) */
#define IS_INT8(i) ((i) == 2 || (i) == 3 || (i) == 4 || (i) == 7)
#define LAST_CONV 8
#define FIRST_INT8(kind) ((kind) == VGC_Q8_REF || (kind) == VGC_Q8_VNNI || (kind) == VGC_Q8_AMX)


static vgc_net *load(int precision, int q8_kernel, int threads)
{
    /* q16 1: the scalar 16-bit kernels beside the scalar int8 ones, so that the reference computes what
       the SIMD kernels do */
    vgc_options opt = { .no_weights = 1, .seed = 11, .keep_outputs = 1, .threads = threads,
                        .precision = precision, .q8_kernel = q8_kernel, .q16 = 1 };
    char err[VIGIA_ERRLEN];
    vgc_net *net = NULL;

    if (vgc_net_load_mem(&net, net_cfg, sizeof net_cfg - 1, NULL, 0, &opt, err, sizeof err) < 0)
        fail_msg("%s", err);
    return net;
}


static void test_network(void **state)
{
    const int kind = (int)(intptr_t)*state;
    const int bf16 = kernels[kind]->bf16;
    const int prec = bf16 ? VGC_PREC_BF16 : VGC_PREC_INT8;
    float *x = malloc(3 * 37 * 29 * sizeof *x);
    vgc_net *f32 = load(VGC_PREC_FP32, 0, 1);
    char err[VIGIA_ERRLEN];

    assert_non_null(x);
    for (int i = 0; i < 3 * 37 * 29; i++)
        x[i] = (float)((i * 7919) % 1000) / 1000.0f;
    assert_int_equal(vgc_net_forward(f32, x, 1, err, sizeof err), 0);
    for (int threads = 1; threads <= 3; threads += 2) {
        vgc_net *q = load(prec, kind + 1, threads), *ref = load(prec, (bf16 ? VGC_BF16_REF : VGC_Q8_REF) + 1, threads);
        const char *note;
        char why[160];
        int wide;

        assert_int_equal(vgc_net_precision(q, &note), prec);
        assert_non_null(strstr(note, kernels[kind]->name));
        /* bf16: every convolution but the first and the head */
        assert_non_null(strstr(note, bf16 ? "6 of 8 convolutions" : FIRST_INT8(kind) ? "5 of 8 convolutions"
                                                                                     : "4 of 8 convolutions"));
        assert_int_equal(vgc_net_layer(q, 0)->q8first != NULL, !bf16 && FIRST_INT8(kind));
        /* int8: the head in bf16 beside AMX (with AMX-BF16) and the scalar kernels, else fp32 */
        wide = !bf16 && vgc_net_layer(q, LAST_CONV)->q8 != NULL;
        assert_int_equal(wide, !bf16 && (kind == VGC_Q8_REF || (kind == VGC_Q8_AMX && vgc_q8_usable(VGC_BF16_AMX, why,
                                                                                                   sizeof why))));
        assert_int_equal(wide, strstr(note, "and 1 bf16 ") != NULL);
        assert_int_equal(vgc_net_forward(q, x, 1, err, sizeof err), 0);
        assert_int_equal(vgc_net_forward(ref, x, 1, err, sizeof err), 0);
        for (int li = 0; li <= LAST_CONV; li++) {
            const vgc_layer *l = vgc_net_layer(q, li);
            const float *y = vgc_net_output(q, li, 0), *y32 = vgc_net_output(f32, li, 0),
                        *yr = vgc_net_output(ref, li, 0);
            double num = 0, den = 0;

            if (l->type != VGC_L_CONV)
                continue;
            assert_int_equal(l->q8 != NULL, li > 0 && (bf16 ? li != LAST_CONV : IS_INT8(li) || (li == LAST_CONV && wide)));
            for (size_t i = 0; i < l->out_size; i++) {
                /* the reference's head is bf16 (its scalar kernel): the same as this one's only when wide */
                const int head = !bf16 && li == LAST_CONV, bftol = bf16 || head;

                num += ((double)y[i] - y32[i]) * ((double)y[i] - y32[i]);
                den += (double)y32[i] * y32[i];
                /* the same quantization as the reference (avx2's 7-bit weights are its own) */
                if (kind != VGC_Q8_AVX2 && (!head || wide) &&
                    fabsf(y[i] - yr[i]) > (bftol ? 1e-3f : 1e-4f) * (1.0f + fabsf(yr[i])))
                    fail_msg("%s layer %d [%zu]: %g, reference kernel %g", kernels[kind]->name, li, i, y[i], yr[i]);
            }
            /* relative RMS error against fp32: a few % after 4 quantized layers */
            if (sqrt(num / den) > (bf16 ? 0.01 : kind == VGC_Q8_AVX2 ? 0.08 : 0.05))
                fail_msg("%s, %d threads: layer %d is %.3f%% (rms) off fp32", kernels[kind]->name, threads, li,
                         100 * sqrt(num / den));
            printf("# %s, %d thread%s: layer %d: %.3f%% rms off fp32\n", kernels[kind]->name, threads,
                   threads > 1 ? "s" : "", li, 100 * sqrt(num / den));
        }
        vgc_net_destroy(q);
        vgc_net_destroy(ref);
    }
    vgc_net_destroy(f32);
    free(x);
}


/*
 * bf16 asked: what runs is said. AMX-BF16 runs it; AVX-512 BF16 alone only
 * where vdpbf16ps outruns the float FMA (vgc_bf16_avx512_pays), unless its
 * kernel is asked for by name (bench_engines' VGC_Q8_KERNEL); otherwise,
 * and on a CPU with neither unit, fp32 with the reason.
 */
static void test_bf16_fallback(void **state)
{
    vgc_net *net = load(VGC_PREC_BF16, 0, 1);
    char why[160];
    const char *note;
    const int amx = vgc_q8_usable(VGC_BF16_AMX, why, sizeof why);
    const int avx512 = vgc_q8_usable(VGC_BF16_AVX512, why, sizeof why);
    const int pays = avx512 && vgc_bf16_avx512_pays(why, sizeof why);
    int p = vgc_net_precision(net, &note);

    (void)state;
    printf("# bf16 asked: %s %s\n", p == VGC_PREC_BF16 ? "bf16" : "fp32", note);
    if (amx || pays) {
        assert_int_equal(p, VGC_PREC_BF16);
        assert_non_null(strstr(note, "6 of 8 convolutions"));
    } else {
        assert_int_equal(p, VGC_PREC_FP32);
        assert_non_null(strstr(note, avx512 ? "bf16 asked: avx512_bf16 slower than fp32 here" : "bf16 asked: no "));
        for (int i = 0; i < vgc_net_layers(net); i++)
            assert_null(vgc_net_layer(net, i)->q8);
    }
    vgc_net_destroy(net);
    if (avx512) {
        /* asked for by name, it runs whatever its speed */
        net = load(VGC_PREC_BF16, VGC_BF16_AVX512 + 1, 1);
        p = vgc_net_precision(net, &note);
        printf("# avx512_bf16 asked: %s %s\n", p == VGC_PREC_BF16 ? "bf16" : "fp32", note);
        assert_int_equal(p, VGC_PREC_BF16);
        assert_non_null(strstr(note, "avx512_bf16"));
        vgc_net_destroy(net);
    }
}



/* ---- calibration ---------------------------------------------------------------------- */

#define CAL_N (3 * 37 * 29)

static void read_tensor(const char *dir, const char *name, float *x)
{
    char path[512];
    FILE *fp;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_non_null(fp = fopen(path, "rb"));
    assert_int_equal(fread(x, sizeof *x, CAL_N, fp), CAL_N);
    fclose(fp);
}


static int calibrate(vgc_net *net, const char *dir, const char *cache, char *note, char *err)
{
    return vgc_q8_calibrate(net, dir, cache, NULL, NULL, note, VIGIA_ERRLEN + 256, err, VIGIA_ERRLEN);
}


/*
 * Static ranges: the union over the folder's tensors of each int8 layer's
 * input range (checked against the dynamic network's own inputs), used by
 * the forward pass, cached, read back, redone when the set changes or the
 * cache is damaged; a bad folder is refused.
 */
static void test_calibration(void **state)
{
    static const char *const names[3] = { "a.f32", "b.f32", "c.f32" };
    char dir[] = "/tmp/vgc-q8cal-XXXXXX", cache[64], note[VIGIA_ERRLEN + 256], err[VIGIA_ERRLEN], path[128];
    float *x = malloc(CAL_N * sizeof *x), want[2 * 16] = { 0 }, got[2 * 16], again[2 * 16];
    vgc_net *dyn = load(VGC_PREC_INT8, VGC_Q8_REF + 1, 1), *f32 = load(VGC_PREC_FP32, 0, 1), *net;
    FILE *fp;

    (void)state;
    assert_non_null(x);
    assert_non_null(mkdtemp(dir));
    assert_true(vgc_net_layers(dyn) <= 16);
    for (int t = 0; t < 3; t++)
        q8u_write_tensor(dir, names[t], t, NULL, CAL_N);
    snprintf(path, sizeof path, "%s/notes.txt", dir);           /* not a tensor: ignored */
    assert_non_null(fp = fopen(path, "w"));
    fputs("not a tensor\n", fp);
    fclose(fp);
    snprintf(cache, sizeof cache, "%s.int8cal", dir);
    unlink(cache);
    /* what the ranges must be: each int8 layer's input in the dynamic network, over the three */
    for (int t = 0; t < 3; t++) {
        read_tensor(dir, names[t], x);
        assert_int_equal(vgc_net_forward(dyn, x, 1, err, sizeof err), 0);
        for (int i = 0; i < vgc_net_layers(dyn); i++) {
            if (!IS_INT8(i))
                continue;
            const vgc_layer *l = vgc_net_layer(dyn, i);
            const float *in = vgc_net_output(dyn, i == 7 ? 6 : i - 1, 0);   /* (layer 0 is no int8 layer) */
            for (size_t k = 0; k < (size_t)l->c * l->w * l->h; k++) {
                want[2 * i] = in[k] < want[2 * i] ? in[k] : want[2 * i];
                want[2 * i + 1] = in[k] > want[2 * i + 1] ? in[k] : want[2 * i + 1];
            }
        }
    }
    net = load(VGC_PREC_INT8, VGC_Q8_REF + 1, 1);
    assert_int_equal(calibrate(net, dir, cache, note, err), 0);
    printf("# %s\n", note);
    assert_non_null(strstr(note, "int8 calibrated on 3 tensors"));
    assert_non_null(strstr(note, "cache written"));
    vgc_q8_ranges(net, got);
    for (int i = 0; i < vgc_net_layers(net); i++) {
        if (IS_INT8(i))
            assert_true(want[2 * i] < want[2 * i + 1]);
        if (got[2 * i] != want[2 * i] || got[2 * i + 1] != want[2 * i + 1])
            fail_msg("layer %d: range [%g, %g], its inputs span [%g, %g]", i, got[2 * i], got[2 * i + 1],
                     want[2 * i], want[2 * i + 1]);
    }
    /* the static ranges run: close to fp32, and not the dynamic network's numbers */
    read_tensor(dir, names[1], x);
    assert_int_equal(vgc_net_forward(net, x, 1, err, sizeof err), 0);
    assert_int_equal(vgc_net_forward(f32, x, 1, err, sizeof err), 0);
    assert_int_equal(vgc_net_forward(dyn, x, 1, err, sizeof err), 0);
    {
        const vgc_layer *l = vgc_net_layer(net, 7);
        const float *y = vgc_net_output(net, 7, 0), *y32 = vgc_net_output(f32, 7, 0), *yd = vgc_net_output(dyn, 7, 0);
        double num = 0, den = 0;
        int same = 1;

        for (size_t i = 0; i < l->out_size; i++) {
            num += ((double)y[i] - y32[i]) * ((double)y[i] - y32[i]);
            den += (double)y32[i] * y32[i];
            same = same && y[i] == yd[i];
        }
        printf("# static ranges: layer 7 is %.3f%% (rms) off fp32\n", 100 * sqrt(num / den));
        assert_true(sqrt(num / den) < 0.05);
        assert_false(same);
    }
    vgc_net_destroy(net);
    /* a restart reads the cache */
    net = load(VGC_PREC_INT8, 0, 1);
    assert_int_equal(calibrate(net, dir, cache, note, err), 0);
    printf("# %s\n", note);
    assert_string_equal(note, "int8 ranges from the cache (3 tensors)");
    vgc_q8_ranges(net, again);
    assert_memory_equal(again, got, sizeof(float) * 2 * (size_t)vgc_net_layers(net));
    vgc_net_destroy(net);
    /* another set (a tensor rewritten: its time changes) makes it stale */
    q8u_write_tensor(dir, names[1], 7, NULL, CAL_N);
    {
        const struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

        snprintf(path, sizeof path, "%s/%s", dir, names[1]);
        assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
    }
    net = load(VGC_PREC_INT8, 0, 1);
    assert_int_equal(calibrate(net, dir, cache, note, err), 0);
    printf("# %s\n", note);
    assert_non_null(strstr(note, "calibrated on 3 tensors"));
    assert_non_null(strstr(note, "stale"));
    vgc_net_destroy(net);
    /* a damaged cache is not used */
    {
        int fd = open(cache, O_RDWR);
        unsigned char b;

        assert_true(fd >= 0);
        assert_int_equal(pread(fd, &b, 1, 40), 1);
        b ^= 0x10;
        assert_int_equal(pwrite(fd, &b, 1, 40), 1);
        close(fd);
    }
    net = load(VGC_PREC_INT8, 0, 1);
    assert_int_equal(calibrate(net, dir, cache, note, err), 0);
    printf("# %s\n", note);
    assert_non_null(strstr(note, "bad checksum"));
    /* a network not in int8 is left alone */
    assert_int_equal(calibrate(f32, dir, cache, note, err), 0);
    assert_string_equal(note, "");
    /* refused: a tensor of another size, no tensor, no folder */
    q8u_write_tensor(dir, "d.f32", 0, NULL, CAL_N - 1);
    assert_int_equal(calibrate(net, dir, NULL, note, err), VIGIA_EINVAL);
    printf("# %s\n", err);
    assert_non_null(strstr(err, "d.f32 is 12872 bytes; the network's input needs 12876"));
    for (int t = 0; t < 3; t++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[t]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/d.f32", dir);
    unlink(path);
    assert_int_equal(calibrate(net, dir, NULL, note, err), VIGIA_EINVAL);
    assert_non_null(strstr(err, "has no .f32 tensor"));
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    unlink(path);
    rmdir(dir);
    assert_int_equal(calibrate(net, dir, NULL, note, err), VIGIA_ENOENT);
    unlink(cache);
    vgc_net_destroy(net);
    vgc_net_destroy(dyn);
    vgc_net_destroy(f32);
    free(x);
}


/*
 * The cache's reader: a formatted cache reads back (slot ranges, then the
 * depthwise channels'); any damage, another network, channel count or key,
 * and a cache of version 1 (no channel ranges) are refused, saying why.
 */
static void test_cache_parse(void **state)
{
    enum { L = 5, C = 3 };
    float r[2 * (L + C)] = { 0, 0, -1.5f, 7.25f, 0, 3, -2, 0, 0, 0, -0.5f, 2, 0, 0.25f, 0, 0 },
          out[2 * (L + C)];
    uint8_t buf[40 + 8 * (L + C)], bad[sizeof buf];
    char err[VIGIA_ERRLEN];
    unsigned images = 0;

    (void)state;
    assert_int_equal(vgc_q8_cache_size(L, C), sizeof buf);
    vgc_q8_cache_format(buf, L, C, 42, r, 9);
    assert_int_equal(vgc_q8_cache_parse(buf, sizeof buf, L, C, 42, out, &images, err, sizeof err), 0);
    assert_memory_equal(out, r, sizeof r);
    assert_int_equal(images, 9);
    assert_int_equal(vgc_q8_cache_parse(buf, sizeof buf, L, C, 43, out, &images, err, sizeof err), VIGIA_EINVAL);
    assert_non_null(strstr(err, "stale"));
    assert_int_equal(vgc_q8_cache_parse(buf, sizeof buf, L + 1, C, 42, out, &images, err, sizeof err), VIGIA_EINVAL);
    assert_int_equal(vgc_q8_cache_parse(buf, sizeof buf, L, C - 1, 42, out, &images, err, sizeof err), VIGIA_EINVAL);
    assert_non_null(strstr(err, "channels"));
    for (size_t n = 0; n < sizeof buf; n++)
        assert_int_equal(vgc_q8_cache_parse(buf, n, L, C, 42, out, &images, err, sizeof err), VIGIA_EINVAL);
    for (size_t i = 0; i < sizeof buf; i++) {
        memcpy(bad, buf, sizeof buf);
        bad[i] ^= 0x01;
        assert_int_equal(vgc_q8_cache_parse(bad, sizeof bad, L, C, 42, out, &images, err, sizeof err), VIGIA_EINVAL);
    }
    /* a version 1 cache (before channel ranges): refused by its version, whatever else it holds */
    memcpy(bad, buf, sizeof buf);
    bad[8] = 1;
    assert_int_equal(vgc_q8_cache_parse(bad, sizeof bad, L, C, 42, out, &images, err, sizeof err), VIGIA_EINVAL);
    assert_non_null(strstr(err, "version 1"));
    assert_non_null(strstr(err, "per-channel"));
    /* well formed, checksum right, values wrong: NaN, min above 0, min > max */
    r[2] = NAN;
    vgc_q8_cache_format(bad, L, C, 42, r, 9);
    assert_int_equal(vgc_q8_cache_parse(bad, sizeof bad, L, C, 42, out, &images, err, sizeof err), VIGIA_EINVAL);
    assert_non_null(strstr(err, "bad range of layer 1"));
    r[2] = 0.5f;
    vgc_q8_cache_format(bad, L, C, 42, r, 9);
    assert_int_equal(vgc_q8_cache_parse(bad, sizeof bad, L, C, 42, out, &images, err, sizeof err), VIGIA_EINVAL);
    r[2] = -1.5f;
    r[4] = 1;
    r[5] = -1;
    vgc_q8_cache_format(bad, L, C, 42, r, 9);
    assert_int_equal(vgc_q8_cache_parse(bad, sizeof bad, L, C, 42, out, &images, err, sizeof err), VIGIA_EINVAL);
    r[4] = 0;
    r[5] = 3;
    r[2 * L + 3] = -1;       /* a channel's max under 0 */
    vgc_q8_cache_format(bad, L, C, 42, r, 9);
    assert_int_equal(vgc_q8_cache_parse(bad, sizeof bad, L, C, 42, out, &images, err, sizeof err), VIGIA_EINVAL);
    assert_non_null(strstr(err, "bad range of channel 1"));
    r[2 * L + 3] = 0.25f;
    vgc_q8_cache_format(bad, L, C, 42, r, 0);
    assert_int_equal(vgc_q8_cache_parse(bad, sizeof bad, L, C, 42, out, &images, err, sizeof err), VIGIA_EINVAL);
}


/*
 * An ONNX graph (torchvision's resnet18 at 96x96, tests/cpu/classify) with
 * its convolutions in int8 or bf16 through the executor: how many qualify
 * is said, and the logits stay close to fp32's on both reference inputs.
 */
static void test_onnx(void **state)
{
    const int kind = (int)(intptr_t)*state;
    const int bf16 = kernels[kind]->bf16;
    const size_t in = (size_t)3 * 96 * 96, out = 10;
    char path[1024], err[VIGIA_ERRLEN];
    vgc_onnx_options gopt = { 0 };
    vgc_options opt = { .precision = bf16 ? VGC_PREC_BF16 : VGC_PREC_INT8, .q8_kernel = kind + 1 };
    vgc_onnx_graph *g = NULL;
    vgc_onnx_exec *f32 = NULL, *q = NULL;
    float *ref;
    const char *note;
    FILE *fp;

    snprintf(path, sizeof path, "%s/tests/cpu/classify/resnet18.ref", VGC_TEST_SRCDIR);
    assert_non_null(ref = malloc(2 * (in + out) * sizeof *ref));
    assert_non_null(fp = fopen(path, "rb"));
    assert_int_equal(fread(ref, sizeof *ref, 2 * (in + out), fp), 2 * (in + out));
    fclose(fp);
    snprintf(path, sizeof path, "%s/tests/cpu/classify/resnet18.onnx", VGC_TEST_SRCDIR);
    if (vgc_onnx_load(&g, path, &gopt, err, sizeof err) || vgc_onnx_rewrite(g, err, sizeof err) ||
        vgc_onnx_exec_create(&f32, g, err, sizeof err) || vgc_onnx_exec_create(&q, g, err, sizeof err) ||
        vgc_onnx_exec_precision(q, &opt, &note, err, sizeof err))
        fail_msg("resnet18: %s", err);
    printf("# resnet18 onnx: %s\n", note);
    assert_non_null(strstr(note, kernels[kind]->name));
    /* int8: the 3x3 and 1x1 convolutions with a relu and 64 channels in; bf16: all but the first */
    {
        int ran = -1, of = -1;

        assert_non_null(strstr(note, " of "));
        assert_int_equal(sscanf(strchr(note, ',') + 1, "%d of %d", &ran, &of), 2);
        assert_true(ran > 0 && ran < of);
    }
    for (int i = 0; i < 2; i++) {
        const float *x = ref + i * (in + out), *y, *y32;
        double num = 0, den = 0;

        assert_int_equal(vgc_onnx_exec_run(f32, &x, err, sizeof err), 0);
        assert_int_equal(vgc_onnx_exec_run(q, &x, err, sizeof err), 0);
        y = vgc_onnx_exec_output(q, 0);
        y32 = vgc_onnx_exec_output(f32, 0);
        for (size_t j = 0; j < out; j++) {
            num += ((double)y[j] - y32[j]) * ((double)y[j] - y32[j]);
            den += (double)y32[j] * y32[j];
        }
        printf("# resnet18 %s input %d: logits %.3f%% (rms) off fp32\n", kernels[kind]->name, i,
               100 * sqrt(num / den));
        assert_true(num > 0);                   /* it did run reduced */
        assert_true(sqrt(num / den) < (bf16 ? 0.01 : 0.05));
    }
    /* int8: static ranges over the two inputs as a calibration folder, then from the cache */
    for (int pass = 0; !bf16 && pass < 2; pass++) {
        char dir[] = "/tmp/vgc-q8onnx-XXXXXX", cache[64], cnote[VIGIA_ERRLEN + 256];
        vgc_onnx_exec *c = NULL;
        const float *x = ref, *y, *y32;
        double num = 0, den = 0;
        int same;

        assert_non_null(mkdtemp(dir));
        for (int i = 0; i < 2; i++) {
            snprintf(path, sizeof path, "%s/in%d.f32", dir, i);
            assert_non_null(fp = fopen(path, "wb"));
            assert_int_equal(fwrite(ref + i * (in + out), sizeof *ref, in, fp), in);
            fclose(fp);
            {   /* the same listing both passes (the cache's key has the files' times) */
                const struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 0 } };

                assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
            }
        }
        snprintf(cache, sizeof cache, "/tmp/vgc-q8onnx-%d.int8cal", (int)getpid());
        if (pass == 0)
            unlink(cache);
        snprintf(path, sizeof path, "%s/tests/cpu/classify/resnet18.onnx", VGC_TEST_SRCDIR);
        if (vgc_onnx_exec_create(&c, g, err, sizeof err) || vgc_onnx_exec_precision(c, &opt, &note, err, sizeof err) ||
            vgc_onnx_exec_calibrate(c, dir, cache, path, cnote, sizeof cnote, err, sizeof err))
            fail_msg("resnet18 calibration: %s", err);
        printf("# resnet18 %s: %s\n", kernels[kind]->name, cnote);
        assert_non_null(strstr(cnote, pass ? "from the cache (2 tensors)" : "calibrated on 2 tensors"));
        assert_int_equal(vgc_onnx_exec_run(c, &x, err, sizeof err), 0);
        assert_int_equal(vgc_onnx_exec_run(f32, &x, err, sizeof err), 0);
        assert_int_equal(vgc_onnx_exec_run(q, &x, err, sizeof err), 0);
        y = vgc_onnx_exec_output(c, 0);
        y32 = vgc_onnx_exec_output(f32, 0);
        same = 1;
        for (size_t j = 0; j < out; j++) {
            num += ((double)y[j] - y32[j]) * ((double)y[j] - y32[j]);
            den += (double)y32[j] * y32[j];
            same = same && y[j] == vgc_onnx_exec_output(q, 0)[j];
        }
        assert_false(same);                     /* not the dynamic ranges' numbers */
        printf("# resnet18 %s, static ranges: logits %.3f%% (rms) off fp32\n", kernels[kind]->name,
               100 * sqrt(num / den));
        assert_true(sqrt(num / den) < 0.05);
        vgc_onnx_exec_destroy(c);
        for (int i = 0; i < 2; i++) {
            snprintf(path, sizeof path, "%s/in%d.f32", dir, i);
            unlink(path);
        }
        rmdir(dir);
        if (pass == 1)
            unlink(cache);
    }
    vgc_onnx_exec_destroy(q);
    vgc_onnx_exec_destroy(f32);
    vgc_onnx_destroy(g);
    free(ref);
}

static void skipped(void **state)
{
    (void)state;
}


/*
 * The u8 maxpool the int8 path runs between two int8 convolutions equals
 * the float maxpool followed by the quantization (which is monotonic), on
 * darknet's geometries (2/2 with its default padding, 2/1 "same", 3/2 with
 * no padding) and odd sizes, inputs outside the range included.
 */
static void test_maxpool_u8(void **state)
{
    static const int geo[][3] = { { 2, 2, 1 }, { 2, 1, 1 }, { 3, 2, 0 }, { 3, 1, 2 }, { 2, 2, 0 } };
    static const int dims[][2] = { { 13, 13 }, { 26, 17 }, { 7, 4 }, { 1, 1 }, { 2, 3 }, { 70, 9 } };
    const vgc_kernels *fk = vgc_kernels_pick(VGC_SIMD_AUTO);
    const float lo = -1.5f, hi = 6.0f, xs = (hi - lo) / 255.0f, inv = 1.0f / xs;
    const int zp = (int)lrintf(-lo / xs);
    int checked = 0;

    (void)state;
    for (size_t g = 0; g < sizeof geo / sizeof geo[0]; g++)
        for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
            const int size = geo[g][0], stride = geo[g][1], pad = geo[g][2], w = dims[d][0], h = dims[d][1];
            const int ow = (w + pad - size) / stride + 1, oh = (h + pad - size) / stride + 1;
            float *x, *y, *tmp;
            uint8_t *xq, *want, *got;

            if (ow < 1 || oh < 1)
                continue;
            x = malloc((size_t)w * h * sizeof *x);
            y = malloc((size_t)ow * oh * sizeof *y);
            tmp = malloc(((size_t)w + 2 * (size_t)size) * sizeof *tmp);
            xq = malloc((size_t)(w + 2) * h);     /* rows w + 2 apart, 255 between them: never read */
            want = malloc((size_t)ow * oh);
            got = malloc((size_t)(ow + 3) * oh);
            assert_true(x && y && tmp && xq && want && got);
            for (int i = 0; i < w * h; i++)
                x[i] = lo - 1.0f + (hi - lo + 2.0f) * (float)((i * 7919 + (int)g * 31) % 1009) / 1009.0f;
            fk->maxpool(x, w, h, size, stride, pad, y, ow, oh, tmp);
            memset(xq, 255, (size_t)(w + 2) * h);
            for (int i = 0; i < w * h; i++) {
                float t = x[i] * inv + (float)zp + 0.5f;

                xq[(size_t)(i / w) * (w + 2) + i % w] = (uint8_t)(int)(t < 0 ? 0 : t > 255 ? 255 : t);
            }
            for (int i = 0; i < ow * oh; i++) {
                float t = y[i] * inv + (float)zp + 0.5f;

                want[i] = (uint8_t)(int)(t < 0 ? 0 : t > 255 ? 255 : t);
            }
            memset(got, 0xAB, (size_t)(ow + 3) * oh);
            vgc_q8_maxpool_u8(xq, w, h, (size_t)w + 2, size, stride, pad, got, (size_t)ow + 3, ow, oh);
            for (int oy = 0; oy < oh; oy++) {
                for (int ox = 0; ox < ow; ox++)
                    if (got[(size_t)oy * (ow + 3) + ox] != want[oy * ow + ox])
                        fail_msg("maxpool %d/%d pad %d on %dx%d: (%d, %d) is %d, float then quantized %d", size,
                                 stride, pad, w, h, ox, oy, got[(size_t)oy * (ow + 3) + ox], want[oy * ow + ox]);
                for (int ox = ow; ox < ow + 3; ox++)     /* nothing written past the row */
                    assert_int_equal(got[(size_t)oy * (ow + 3) + ox], 0xAB);
            }
            checked++;
            free(x);
            free(y);
            free(tmp);
            free(xq);
            free(want);
            free(got);
        }
    assert_true(checked >= 20);
}


/*
 * yolov3-tiny's pattern: the fp32 first layer and its 2x2 pool quantizing
 * into an int8 layer (where conv_pool2 runs), int8 convolutions feeding
 * each other directly and through maxpools (2/2 and the 2/1 "same" one), a
 * route that keeps a float output, fp32 layers around them.
 */
static const char fuse_cfg[] =
    "[net]\nwidth=80\nheight=72\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 0 fp32 */
    "[maxpool]\nsize=2\nstride=2\n"                                                                 /* 1 -> 2 */
    "[convolutional]\nbatch_normalize=1\nfilters=64\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 2 -> 3 */
    "[convolutional]\nbatch_normalize=1\nfilters=72\nsize=1\nstride=1\npad=1\nactivation=leaky\n"  /* 3 -> pool -> 5 */
    "[maxpool]\nsize=2\nstride=2\n"                                                                 /* 4 u8 */
    "[convolutional]\nbatch_normalize=1\nfilters=80\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 5 -> pool -> 7 */
    "[maxpool]\nsize=2\nstride=1\n"                                                                 /* 6 u8 */
    "[convolutional]\nbatch_normalize=1\nfilters=64\nsize=3\nstride=2\npad=1\nactivation=leaky\n"  /* 7 -> 8 */
    "[convolutional]\nbatch_normalize=1\nfilters=96\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 8: route reads it */
    "[convolutional]\nbatch_normalize=1\nfilters=64\nsize=1\nstride=1\npad=1\nactivation=leaky\n"  /* 9 */
    "[route]\nlayers=-1,-2\n"                                                                       /* 10 */
    "[convolutional]\nfilters=14\nsize=1\nstride=1\npad=1\nactivation=linear\n"                     /* 11 head */
    "[yolo]\nmask=0,1\nanchors=4,5, 8,9\nclasses=2\nnum=2\n";                                       /* 12 */
#define FUSE_LAYERS 13


/*
 * Network text cfg in int8 with kernel `kind`, random weights (seed), up
 * to 2 images; keep: every output kept; no_fuse, direct: vgc_options'
 * q8_no_fuse, q8_direct (the direct form on 3 threads: the channel-blocked
 * planes and the bands split between them); ranges: static, or NULL.
 */
static vgc_net *load_q8(const char *cfg, size_t len, uint32_t seed, int kind, int keep, int no_fuse, int direct,
                        const float *ranges)
{
    vgc_options opt = { .no_weights = 1, .seed = seed, .keep_outputs = keep, .max_batch = 2,
                        .precision = VGC_PREC_INT8, .q8_kernel = kind + 1, .q8_ranges = ranges,
                        .q8_no_fuse = no_fuse, .q8_direct = direct, .threads = direct > 0 ? 3 : 1 };
    char err[VIGIA_ERRLEN];
    vgc_net *net = NULL;

    if (vgc_net_load_mem(&net, cfg, len, NULL, 0, &opt, err, sizeof err) < 0)
        fail_msg("%s", err);
    return net;
}


static vgc_net *load_fuse(int kind, int keep, int no_fuse, const float *ranges)
{
    return load_q8(fuse_cfg, sizeof fuse_cfg - 1, 5, kind, keep, no_fuse, 0, ranges);
}


/*
 * Static ranges: the network with int8 tensors between its int8 layers
 * gives the float path's detections output (the same quantization of the
 * same GEMM results, so within a step of it, here equal), the fused layers
 * are the ones planned, and a batch of 2 (not fed) still agrees.
 */
static void test_fused(void **state)
{
    const int kind = (int)(intptr_t)*state;
    const size_t n = 3 * 80 * 72;
    float *x = malloc(2 * n * sizeof *x), ranges[2 * FUSE_LAYERS] = { 0 };
    vgc_net *dyn = load_fuse(kind, 1, 0, NULL), *fused, *plain;
    char err[VIGIA_ERRLEN];
    double maxd = 0, maxv = 0;

    assert_non_null(x);
    for (size_t i = 0; i < 2 * n; i++)
        x[i] = (float)((i * 7919) % 1000) / 1000.0f;
    /* the ranges: each int8 layer's input in a dynamic run, widened a little */
    assert_int_equal(vgc_net_forward(dyn, x, 1, err, sizeof err), 0);
    q8u_ranges_measure(dyn, ranges, NULL, 1.1f);
    vgc_net_destroy(dyn);
    fused = load_fuse(kind, 0, 0, ranges);
    plain = load_fuse(kind, 0, 1, ranges);
    /* fed: 2 (by the fp32 layer 0 and its pool, where conv_pool2 runs: AVX-512), 3 (from 2), 5 (through the
       maxpool 4), 7 (through 6), 8 (from 7); 8's output has a second reader */
    assert_int_equal(vgc_net_layer(fused, 2)->q8->fed, vgc_net_layer(fused, 0)->pool_fused &&
                                                           fused->k->conv_pool2 != NULL);
    assert_int_equal(vgc_net_layer(fused, 2)->q8->feed, 1);
    assert_int_equal(vgc_net_layer(fused, 3)->q8->feed, 2);
    assert_int_equal(vgc_net_layer(fused, 5)->q8->feed, 2);
    assert_int_equal(vgc_net_layer(fused, 7)->q8->feed, 1);
    assert_int_equal(vgc_net_layer(fused, 8)->q8->feed, 0);
    assert_int_equal(vgc_net_layer(fused, 8)->q8->fed, 1);
    assert_int_equal(vgc_net_layer(fused, 9)->q8->fed, 0);
    maxd = q8u_max_diff(fused, plain, x, FUSE_LAYERS - 1, &maxv);
    printf("# %s: fed int8 path vs float between layers: max |diff| %g (outputs up to %g)\n", kernels[kind]->name,
           maxd, maxv);
    /* the same GEMM results quantized the same way: any difference is a rounding step, far under this */
    assert_true(maxd <= 1e-4 * (1.0 + maxv));
    assert_true(maxv > 0);
    vgc_net_destroy(fused);
    vgc_net_destroy(plain);
    free(x);
}


/*
 * Direct convolutions (q8.h's vgc_q8_gemm taps): 3x3 layers of 20 input
 * channels (AMX: one 20-byte tile a tap), 24, 72 (AMX: packed, not a
 * multiple of 64; the others direct), 64 and 48, feeding each other and
 * through maxpools, beside a 1x1 and a route.
 */
static const char direct_cfg[] =
    "[net]\nwidth=40\nheight=36\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=20\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 0 fp32 */
    "[convolutional]\nbatch_normalize=1\nfilters=24\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 1: c 20 */
    "[maxpool]\nsize=2\nstride=2\n"                                                                 /* 2 */
    "[convolutional]\nbatch_normalize=1\nfilters=72\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 3: c 24 */
    "[convolutional]\nbatch_normalize=1\nfilters=64\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 4: c 72 */
    "[maxpool]\nsize=2\nstride=1\n"                                                                 /* 5 */
    "[convolutional]\nbatch_normalize=1\nfilters=128\nsize=3\nstride=1\npad=1\nactivation=leaky\n" /* 6: c 64 */
    "[convolutional]\nbatch_normalize=1\nfilters=48\nsize=1\nstride=1\npad=1\nactivation=leaky\n"  /* 7 */
    "[convolutional]\nbatch_normalize=1\nfilters=96\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 8: c 48 */
    "[route]\nlayers=-1,-3\n"                                                                       /* 9 */
    "[convolutional]\nfilters=14\nsize=1\nstride=1\npad=1\nactivation=linear\n"                     /* 10 head */
    "[yolo]\nmask=0,1\nanchors=4,5, 8,9\nclasses=2\nnum=2\n";                                       /* 11 */
#define DIRECT_LAYERS 12


static vgc_net *load_direct(int kind, int keep, int direct, const float *ranges)
{
    return load_q8(direct_cfg, sizeof direct_cfg - 1, 9, kind, keep, 0, direct, ranges);
}


/*
 * The direct form computes the packed form's sums (int32, exact) through
 * the same epilogue: every layer's output equals it to the bit, with
 * dynamic ranges (float between layers) and with static ones (fed), on 3
 * threads against 1.
 */
static void test_direct(void **state)
{
    const int kind = (int)(intptr_t)*state;
    const size_t n = 3 * 40 * 36;
    float *x = malloc(2 * n * sizeof *x), ranges[2 * DIRECT_LAYERS] = { 0 };
    vgc_net *direct = load_direct(kind, 1, 1, NULL), *packed = load_direct(kind, 1, -1, NULL), *deflt;
    const int amx = kind == VGC_Q8_AMX;
    static const int conv3[] = { 1, 3, 4, 6, 8 };
    double maxd, maxv;

    assert_non_null(x);
    for (size_t i = 0; i < 2 * n; i++)
        x[i] = (float)((i * 7919) % 1000) / 1000.0f;
    for (size_t i = 0; i < sizeof conv3 / sizeof conv3[0]; i++) {
        const vgc_layer *l = vgc_net_layer(direct, conv3[i]);

        assert_non_null(l->q8);
        assert_int_equal(vgc_net_layer(packed, conv3[i])->q8->taps, 0);
        /* 72 channels: AMX steps 64 at a time, and 72 is no multiple (packed); direct everywhere else */
        assert_int_equal(l->q8->taps, amx && l->c == 72 ? 0 : 9);
    }
    assert_int_equal(vgc_net_layer(direct, 7)->q8->taps, 0);
    /* by default only AMX runs them (the reference takes them when asked: tests) */
    deflt = load_direct(kind, 1, 0, NULL);
    assert_int_equal(vgc_net_layer(deflt, 3)->q8->taps, amx ? 9 : 0);
    vgc_net_destroy(deflt);
    for (int i = 1; i < DIRECT_LAYERS; i++) {
        if (vgc_net_layer(direct, i)->type != VGC_L_CONV)
            continue;
        maxd = q8u_max_diff(direct, packed, x, i, &maxv);
        if (maxd != 0)
            fail_msg("%s: layer %d direct vs packed: max |diff| %g", kernels[kind]->name, i, maxd);
        assert_true(maxv > 0);
    }
    q8u_ranges_measure(direct, ranges, NULL, 1.1f);
    vgc_net_destroy(direct);
    vgc_net_destroy(packed);
    direct = load_direct(kind, 0, 1, ranges);
    packed = load_direct(kind, 0, -1, ranges);
    assert_int_equal(vgc_net_layer(direct, 3)->q8->fed, 1);
    maxd = q8u_max_diff(direct, packed, x, DIRECT_LAYERS - 1, &maxv);
    printf("# %s: direct vs packed, static ranges: max |diff| %g (outputs up to %g)\n", kernels[kind]->name, maxd,
           maxv);
    assert_true(maxd == 0 && maxv > 0);
    vgc_net_destroy(direct);
    vgc_net_destroy(packed);
    free(x);
}


/*
 * Network text cfg (w x h) in int8 with kernel `kind`, random weights
 * (seed), on `threads` threads, every output kept or not, the px4 form
 * allowed or not (vgc_options.q8_px4), run on a batch of 2 fixed images.
 */
static vgc_net *run_two(const char *cfg, size_t len, int w, int h, uint32_t seed, int kind, int threads, int keep,
                        int px4)
{
    vgc_options opt = { .no_weights = 1, .seed = seed, .keep_outputs = keep, .max_batch = 2,
                        .precision = VGC_PREC_INT8, .q8_kernel = kind + 1, .threads = threads, .q8_px4 = px4 };
    const size_t n = 3 * (size_t)w * h;
    float *x = malloc(2 * n * sizeof *x);
    char err[VIGIA_ERRLEN];
    vgc_net *net = NULL;

    assert_non_null(x);
    for (size_t i = 0; i < 2 * n; i++)
        x[i] = (float)((i * 7919) % 1000) / 1000.0f;
    if (vgc_net_load_mem(&net, cfg, len, NULL, 0, &opt, err, sizeof err) < 0)
        fail_msg("%s", err);
    assert_int_equal(vgc_net_forward(net, x, 2, err, sizeof err), 0);
    free(x);
    return net;
}


/* Layer li's output of both images the same, byte for byte, in a and b. */
static void same_output(const vgc_net *a, const vgc_net *b, int li)
{
    const size_t out = vgc_net_layer(a, li)->out_size;

    for (int i = 0; i < 2; i++)
        assert_memory_equal(vgc_net_output(a, li, i), vgc_net_output(b, li, i), out * sizeof(float));
}


/*
 * Dynamic ranges: an int8 layer whose only reader is a 2x2 stride-2
 * maxpool runs the pool in its GEMM's bands (q8.c's pools_in_band): the
 * same head, byte for byte, as with every output kept (then the layer
 * writes its floats and the maxpool runs on its own), on 1 and 3 threads,
 * a batch of 2. The 2/1 "same" pool stays on its own. Pooled, the next
 * int8 layer takes its input's range from the bands (q8.h's known) where
 * kept it makes the range pass: the same bytes again; and the first
 * layer's range found in passing is the range pass's.
 */
static void test_pool_band(void **state)
{
    const int kind = (int)(intptr_t)*state;

    for (int threads = 1; threads <= 3; threads += 2) {
        vgc_net *net[2];

        for (int keep = 0; keep < 2; keep++)
            net[keep] = run_two(fuse_cfg, sizeof fuse_cfg - 1, 80, 72, 5, kind, threads, keep, 0);
        assert_true(vgc_net_layer(net[0], 3)->q8 && vgc_net_layer(net[0], 3)->pool_fused);
        assert_false(vgc_net_layer(net[1], 3)->pool_fused);
        assert_false(vgc_net_layer(net[0], 5)->pool_fused);
        /* the first layer's range found in passing (kept: unpooled, layer 0's), as the range pass finds it */
        for (int b = 0; b < 2 && FIRST_INT8(kind); b++) {
            const vgc_layer *l = vgc_net_layer(net[1], 0);
            const float *y = vgc_net_output(net[1], 0, b), *known = net[1]->q8->known + 2 * b;
            float lo = 0, hi = 0;

            for (size_t i = 0; i < l->out_size; i++) {
                lo = y[i] < lo ? y[i] : lo;
                hi = y[i] > hi ? y[i] : hi;
            }
            assert_true(net[1]->q8->has[b]);
            assert_true(known[0] == lo && known[1] == hi);
        }
        same_output(net[0], net[1], 11);
        vgc_net_destroy(net[0]);
        vgc_net_destroy(net[1]);
    }
}


/*
 * The px4 form (q8.c's px4_layer: 3x3 layers of 4k channels on planes at
 * least 48 wide read as rows of 4-channel pixels, without packing) computes
 * the GEMM's sums, epilogue and pool: the head byte for byte the same with
 * it and without it (vgc_options.q8_px4 -1), pooled (layer 1) and not
 * (layer 3), 1 and 3 threads, a batch of 2.
 */
static const char px4_cfg[] =
    "[net]\nwidth=112\nheight=100\nchannels=3\n"
    "[convolutional]\nbatch_normalize=1\nfilters=16\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 0 first */
    "[convolutional]\nbatch_normalize=1\nfilters=32\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 1 px4, pooled */
    "[maxpool]\nsize=2\nstride=2\n"                                                                 /* 2 */
    "[convolutional]\nbatch_normalize=1\nfilters=36\nsize=3\nstride=1\npad=1\nactivation=leaky\n"  /* 3 px4 */
    "[convolutional]\nbatch_normalize=1\nfilters=64\nsize=3\nstride=2\npad=1\nactivation=leaky\n"  /* 4 GEMM */
    "[convolutional]\nfilters=14\nsize=1\nstride=1\npad=1\nactivation=linear\n"                     /* 5 head */
    "[yolo]\nmask=0,1\nanchors=4,5, 8,9\nclasses=2\nnum=2\n";                                       /* 6 */


static void test_px4(void **state)
{
    const int kind = (int)(intptr_t)*state;

    for (int threads = 1; threads <= 3; threads += 2) {
        vgc_net *on = run_two(px4_cfg, sizeof px4_cfg - 1, 112, 100, 9, kind, threads, 0, 0);
        vgc_net *off = run_two(px4_cfg, sizeof px4_cfg - 1, 112, 100, 9, kind, threads, 0, -1);

        assert_true(vgc_net_layer(on, 1)->q8->px4w && vgc_net_layer(on, 1)->pool_fused);
        assert_true(vgc_net_layer(on, 3)->q8->px4w && !vgc_net_layer(on, 3)->pool_fused);
        assert_null(vgc_net_layer(on, 4)->q8->px4w);
        assert_true(vgc_net_layer(off, 1)->q8 && !vgc_net_layer(off, 1)->q8->px4w);
        same_output(on, off, 5);
        vgc_net_destroy(on);
        vgc_net_destroy(off);
    }
}


/*
 * The first layer's AVX-512 VNNI kernels (q8_first.h) against the scalar
 * ones: the converted rows dword for dword (values past [0, 1], a NaN),
 * then rows of output of every form (stride 1 and 2, the pool, 1 to 4
 * channels, filters not a multiple of 8 or 16, odd widths), float for
 * float: the accumulators are exact and the epilogue the same operations.
 */
static void test_first(void **state)
{
    /* channels, input width, filters, stride, pool */
    static const int shapes[][5] = { { 3, 416, 16, 1, 1 }, { 3, 37, 6, 1, 0 }, { 3, 38, 20, 1, 1 }, { 1, 35, 8, 2, 0 },
                                     { 4, 320, 16, 2, 0 }, { 2, 17, 33, 2, 0 }, { 3, 50, 5, 1, 1 }, { 3, 2, 9, 1, 1 } };
    const vgc_q8_first_kernels *const k[2] = { &vgc_q8_first_ref, &vgc_q8_first_vnni };

    (void)state;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int c = shapes[s][0], w = shapes[s][1], m = shapes[s][2], stride = shapes[s][3], pool = shapes[s][4];
        const int mp = (m + 15) / 16 * 16, ow = stride == 1 ? w : (w - 1) / 2 + 1, outw = pool ? ow / 2 : ow;
        const size_t rd = ((size_t)w + 2 + VGC_Q8_FIRST_SLACK + 15) / 16 * 16;
        float *img = malloc(4 * (size_t)c * w * sizeof *img), *scale = calloc((size_t)mp, sizeof *scale);
        float *bias = calloc((size_t)mp, sizeof *bias), *out[2];
        int32_t *wt = calloc(vgc_q8_first_words(m, 2), sizeof *wt);
        int32_t *acc = malloc(16 * (((size_t)ow + 31) & ~(size_t)31) * 4);
        uint32_t *rows[2];

        assert_true(img && scale && bias && wt && acc);
        for (int i = 0; i < 4 * c * w; i++)
            img[i] = (float)(next() % 1200) / 1000.0f - 0.1f;
        img[w / 2] = NAN;
        for (int f = 0; f < m; f++) {
            scale[f] = (float)(next() % 1000 + 1) * 1e-5f;
            bias[f] = (float)(next() % 2000) / 1000.0f - 1.0f;
            for (int t = 0; t < 18; t++)     /* the high halves' 9 taps, the low halves' */
                for (int ch = 0; ch < c; ch++)
                    wt[vgc_q8_first_at(f, 2, t / 9, t % 9)] |=
                        (int32_t)((next() % 255) << (8 * ch));
        }
        /* bytes 0..254 as s8: -128 never, -127 .. 127 */
        for (size_t i = 0; i < vgc_q8_first_words(m, 2); i++)
            for (int b = 0; b < 4; b++)
                if ((uint8_t)(wt[i] >> (8 * b)) == 0x80)
                    wt[i] ^= 1 << (8 * b);
        for (int v = 0; v < 2; v++) {
            rows[v] = malloc(4 * rd * sizeof **rows);
            out[v] = malloc((size_t)m * outw * sizeof **out);
            assert_true(rows[v] && out[v]);
            memset(rows[v], 0xee, 4 * rd * sizeof **rows);
            for (int r = 0; r < 4; r++)
                k[v]->convert(img + (size_t)r * w, 4 * (size_t)w, c, w, rows[v] + r * rd);    /* planes of 4 rows */
        }
        for (int r = 0; r < 4; r++)
            for (int i = 0; i < w + 1 + VGC_Q8_FIRST_SLACK + 1; i++)
                if (rows[0][r * rd + i] != rows[1][r * rd + i])
                    fail_msg("convert c %d w %d: row %d dword %d: %08x, reference %08x", c, w, r, i,
                             rows[1][r * rd + i], rows[0][r * rd + i]);
        for (int act = 0; act < 3; act++) {
            static const enum vgc_act acts[3] = { VGC_ACT_LEAKY, VGC_ACT_RELU, VGC_ACT_LINEAR };
            float range[2][2] = { { 0, 0 }, { 0, 0 } }, lo = 0, hi = 0;

            for (int v = 0; v < 2; v++) {
                vgc_q8_first_row a = { .passes = 2, .shift = 1, .w = wt, .scale = scale, .bias = bias,
                                       .act = acts[act], .m = m,
                                       .ow = ow, .stride = stride, .pool = pool, .out = out[v], .plane = (size_t)outw,
                                       .acc = acc, .range = range[v] };

                for (int r = 0; r < 4; r++)
                    a.r[r] = rows[v] + r * rd;
                memset(out[v], 0, (size_t)m * outw * sizeof **out);
                k[v]->row(&a);
            }
            for (size_t i = 0; i < (size_t)m * outw; i++) {
                if (memcmp(&out[0][i], &out[1][i], sizeof(float)) != 0)
                    fail_msg("c %d w %d m %d stride %d pool %d act %d: [%zu] %.9g, reference %.9g", c, w, m, stride,
                             pool, act, i, out[1][i], out[0][i]);
                lo = out[0][i] < lo ? out[0][i] : lo;
                hi = out[0][i] > hi ? out[0][i] : hi;
            }
            /* the outputs' range, found in passing (q8.h's known), 0 inside */
            for (int v = 0; v < 2; v++)
                if (range[v][0] != lo || range[v][1] != hi)
                    fail_msg("c %d w %d m %d act %d: %s range [%g, %g], outputs [%g, %g]", c, w, m, act,
                             k[v]->name, range[v][0], range[v][1], lo, hi);
        }
        for (int v = 0; v < 2; v++) {
            free(rows[v]);
            free(out[v]);
        }
        free(img);
        free(scale);
        free(bias);
        free(wt);
        free(acc);
    }
}


int main(void)
{
    static struct CMUnitTest tests[6 * VGC_Q8_KINDS + 8];
    static char names[6 * VGC_Q8_KINDS + 8][256];
    int n = 0;

    snprintf(names[n], sizeof names[0], "reference");
    tests[n] = (struct CMUnitTest){ names[n], test_reference, NULL, NULL, NULL };
    n++;
    for (int kind = 0; kind < VGC_Q8_KINDS; kind++) {
        char why[160] = "";
        int ok = kernels[kind]->gemm && vgc_q8_usable(kind, why, sizeof why);

        if (!kernels[kind]->gemm)
            snprintf(why, sizeof why, "not built for this architecture");
        for (int t = 0; t < 3; t++) {
            static const char *const what[3] = { "gemm", "network", "onnx" };
            static void (*const fn[3])(void **) = { test_kernel, test_network, test_onnx };

            snprintf(names[n], sizeof names[0], "%s_%s%s%s", what[t], kernels[kind]->name, ok ? "" : " # SKIP ",
                     ok ? "" : why);
            tests[n] = (struct CMUnitTest){ names[n], !ok ? skipped : fn[t], NULL, NULL, (void *)(intptr_t)kind };
            n++;
        }
    }
    snprintf(names[n], sizeof names[0], "bf16_fallback");
    tests[n] = (struct CMUnitTest){ names[n], test_bf16_fallback, NULL, NULL, NULL };
    n++;
    tests[n++] = (struct CMUnitTest){ "calibration", test_calibration, NULL, NULL, NULL };
    tests[n++] = (struct CMUnitTest){ "cache_parse", test_cache_parse, NULL, NULL, NULL };
    tests[n++] = (struct CMUnitTest){ "maxpool_u8", test_maxpool_u8, NULL, NULL, NULL };
    for (int kind = VGC_Q8_REF; kind <= VGC_Q8_VNNI; kind += VGC_Q8_VNNI - VGC_Q8_REF) {
        char why[160] = "";
        const int ok = kernels[kind]->gemm && vgc_q8_usable(kind, why, sizeof why);

        if (!kernels[kind]->gemm)
            snprintf(why, sizeof why, "not built for this architecture");
        snprintf(names[n], sizeof names[0], "px4_%s%s%s", kernels[kind]->name, ok ? "" : " # SKIP ", ok ? "" : why);
        tests[n] = (struct CMUnitTest){ names[n], ok ? test_px4 : skipped, NULL, NULL, (void *)(intptr_t)kind };
        n++;
    }
    {
        char why[160] = "";
        const int ok = vgc_q8_first_vnni.row && vgc_q8_usable(VGC_Q8_VNNI, why, sizeof why);

        if (!vgc_q8_first_vnni.row)
            snprintf(why, sizeof why, "not built for this architecture");
        snprintf(names[n], sizeof names[0], "first_vnni%s%s", ok ? "" : " # SKIP ", ok ? "" : why);
        tests[n] = (struct CMUnitTest){ names[n], ok ? test_first : skipped, NULL, NULL, NULL };
        n++;
    }
    for (int kind = VGC_Q8_REF; kind <= VGC_Q8_AMX; kind++) {
        char why[160] = "";
        int ok = kernels[kind]->gemm && vgc_q8_usable(kind, why, sizeof why);

        if (!kernels[kind]->gemm)
            snprintf(why, sizeof why, "not built for this architecture");
        snprintf(names[n], sizeof names[0], "fused_%s%s%s", kernels[kind]->name, ok ? "" : " # SKIP ", ok ? "" : why);
        tests[n] = (struct CMUnitTest){ names[n], !ok ? skipped : test_fused, NULL, NULL, (void *)(intptr_t)kind };
        n++;
        snprintf(names[n], sizeof names[0], "pool_band_%s%s%s", kernels[kind]->name, ok ? "" : " # SKIP ",
                 ok ? "" : why);
        tests[n] = (struct CMUnitTest){ names[n], !ok ? skipped : test_pool_band, NULL, NULL, (void *)(intptr_t)kind };
        n++;
        /* the kernels without the direct form (avx2, vnni: it cost their packed GEMM, q8.c's direct_layer) */
        if (ok && kernels[kind]->gemm && !kernels[kind]->direct) {
            ok = 0;
            snprintf(why, sizeof why, "%s has no direct form", kernels[kind]->name);
        }
        snprintf(names[n], sizeof names[0], "direct_%s%s%s", kernels[kind]->name, ok ? "" : " # SKIP ", ok ? "" : why);
        tests[n] = (struct CMUnitTest){ names[n], !ok ? skipped : test_direct, NULL, NULL, (void *)(intptr_t)kind };
        n++;
    }
    return _cmocka_run_group_tests("q8", tests, (size_t)n, NULL, NULL);
}
