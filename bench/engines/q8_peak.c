/*
 * bench/engines/q8_peak.c: the int8 peaks of one core, and what the
 * engine's int8 GEMM kernels (backends/cpu/q8.h) reach against them.
 *
 *   q8_peak [SECONDS]
 *
 * Peaks: a loop of independent instructions on registers only (no memory):
 * vpdpbusd on 16 zmm accumulators (AVX-512 VNNI: 64 multiply-adds each),
 * vpmaddubsw + vpmaddwd + vpaddd on 8 ymm accumulators (AVX2: 32 each), tdpbsud on 4
 * accumulator tiles (AMX: 16 x 16 x 64 = 16384 each); the bf16 ones
 * (vdpbf16ps: 32, tdpbf16ps: 8192 each) as GFLOP/s; for comparison,
 * vpdpwssd (s16 pairs: 32) and the float FMA (vfmadd231ps: 16), what a
 * 16-bit GEMM and the fp32 one could reach. GOP/s counts a
 * multiply-add as 2 operations, as GFLOP/s does. Then each kernel on the
 * GEMM shapes of yolov3-tiny's int8 layers, the int8 kernels that take
 * direct convolutions on its 3x3 layers in that form, and the int8
 * depthwise kernels on yolo-fastest-1.1-xl's depthwise shapes. A unit the
 * CPU (or Linux) does not give is reported as skipped, with the reason.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "q8.h"
#include "q16.h"
#include "peak.h"

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

#if defined(__x86_64__)
/* int8: vpdpbusd, 64 products a zmm (u8 1 x s8 2) */
static VGC_PEAK_LOOP(vnni_loop, "avx512f,avx512bw,avx512vnni", "vpdpbusd", 0x01010101, 0x02020202)
/* what a 16-bit GEMM could reach: vpdpwssd (32 s16 products) */
static VGC_PEAK_LOOP(s16_loop, "avx512f,avx512bw,avx512vnni", "vpdpwssd", 0x00010001, 0x00020002)
/* vfmadd231ps and bf16's vdpbf16ps: the engine's (bf16_avx512.c), which it times for its bf16 choice */


/* The same for AVX2: 8 accumulators, each step vpmaddubsw, vpmaddwd by ones, vpaddd (the GEMM's dot4). */
__attribute__((target("avx2"), noinline)) static void avx2_loop(long iters, int32_t *sink)
{
    const __m256i x = _mm256_set1_epi32(1), b = _mm256_set1_epi32(0x02020202), one = _mm256_set1_epi16(1);
    int32_t t[8];
#define VGC_ACC8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define VGC_DECL(i) __m256i c##i = _mm256_setzero_si256(), t##i;
#define VGC_STEP(i)                                                                                    \
    __asm__("vpmaddubsw %3, %2, %1\n\tvpmaddwd %4, %1, %1\n\tvpaddd %1, %0, %0"                      \
            : "+v"(c##i), "=&v"(t##i) : "v"(x), "v"(b), "v"(one));
#define VGC_SUM(i) s = _mm256_add_epi32(s, c##i);
    VGC_ACC8(VGC_DECL)
    __m256i s = _mm256_setzero_si256();

    for (long it = 0; it < iters; it++) {
        VGC_ACC8(VGC_STEP)
    }
    VGC_ACC8(VGC_SUM)
#undef VGC_ACC8
#undef VGC_DECL
#undef VGC_STEP
#undef VGC_SUM
    _mm256_storeu_si256((__m256i *)t, s);
    *sink = t[0];
}


typedef struct tile_cfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_cfg;

/* Tiles 0-3 zeroed, 4-7 loaded with 1 KiB of `a` (ones of either type). */
__attribute__((target("amx-tile"))) static void amx_setup(const void *a)
{
    tile_cfg cfg __attribute__((aligned(64)));

    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++)
        cfg.rows[t] = 16, cfg.colsb[t] = 64;
    /* the compiler does not see ldtilecfg read cfg: without this it drops the stores above */
    __asm__ volatile("" : : "r"(&cfg) : "memory");
    _tile_loadconfig(&cfg);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    _tile_loadd(4, a, 64);
    _tile_loadd(5, a, 64);
    _tile_loadd(6, a, 64);
    _tile_loadd(7, a, 64);
}


__attribute__((target("amx-tile,amx-int8"), noinline)) static void amx_loop(long iters, int32_t *sink)
{
    static int8_t a[16 * 64] __attribute__((aligned(64)));
    static int32_t c[16 * 16] __attribute__((aligned(64)));

    memset(a, 1, sizeof a);
    amx_setup(a);
    for (long it = 0; it < iters; it++) {
        _tile_dpbsud(0, 4, 6);
        _tile_dpbsud(1, 4, 7);
        _tile_dpbsud(2, 5, 6);
        _tile_dpbsud(3, 5, 7);
    }
    _tile_stored(0, c, 64);
    _tile_release();
    *sink = c[0];
}


__attribute__((target("amx-tile,amx-bf16"), noinline)) static void amxbf16_loop(long iters, int32_t *sink)
{
    static uint16_t a[16 * 32] __attribute__((aligned(64)));
    static float c[16 * 16] __attribute__((aligned(64)));

    for (int i = 0; i < 16 * 32; i++)
        a[i] = 0x3f80;                    /* 1.0 */
    amx_setup(a);
    for (long it = 0; it < iters; it++) {
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, c, 64);
    _tile_release();
    *sink = (int32_t)c[0];
}
#endif


/* Run fn for about `secs` seconds; GOP/s at ops multiply-adds per iteration. */
static double peak(void (*fn)(long, int32_t *), double ops, double secs)
{
    int32_t sink;
    long iters = 1000;
    double t0, t;

    for (;;) {
        t0 = now();
        fn(iters, &sink);
        __asm__ volatile("" : : "r"(sink) : "memory");   /* used: the call stays */
        t = now() - t0;
        if (t > secs)
            break;
        iters *= t < secs / 16 ? 8 : 2;
    }
    return 2 * ops * (double)iters / t / 1e9;
}


/* The best time of g on kernels k over about `secs` seconds (at least 3 runs, after one to warm up). */
static double best_time(const vgc_q8_kernels *k, const vgc_q8_gemm *g, double secs)
{
    double t0, t = 0, best = 1e30;
    int runs = 0;

    k->gemm(g);
    while (t < secs || runs < 3) {
        t0 = now();
        k->gemm(g);
        t0 = now() - t0;
        t += t0;
        best = t0 < best ? t0 : best;
        runs++;
    }
    return best;
}


static double gemm_rate(const vgc_q8_kernels *k, int m, int kk, int n, double secs)
{
    /* k padded as q8.c pads it: to a tile row for AMX, to a 4-byte group for the others */
    const int kq = k->kind == VGC_Q8_AMX || k->kind == VGC_BF16_AMX ? 64 : 4;
    const int kp = (kk + kq - 1) / kq * kq, mp = (m + 31) / 32 * 32, ldb = (n + 31) / 32 * 32;
    int8_t *a = aligned_alloc(64, (size_t)mp * kp * 2);
    uint8_t *b = aligned_alloc(64, (size_t)kp * ldb * 2 + 64);
    float *c = malloc((size_t)m * n * sizeof *c), *scale = malloc((size_t)m * sizeof *scale);
    float *bias = calloc((size_t)m, sizeof *bias);
    int32_t *comp = calloc((size_t)m, sizeof *comp);
    double best;

    if (!a || !b || !c || !scale || !bias || !comp)
        return 0;
    /* values that are small int8 and small, finite bf16 alike */
    for (size_t i = 0; i < (size_t)mp * kp * 2; i++)
        a[i] = (int8_t)((i * 7) % 63 - 31) & 0x3f;
    for (size_t i = 0; i < (size_t)kp * ldb * 2 + 64; i++)
        b[i] = (uint8_t)(i * 13) & 0x3f;
    for (int i = 0; i < m; i++)
        scale[i] = 1e-4f;
    {
        vgc_q8_gemm g = { .a = a, .m = m, .kp = kp, .b = b, .ldb = ldb, .n = n, .c = c, .ldc = (size_t)n,
                          .scale = scale, .comp = comp, .bias = bias, .act = VGC_ACT_LEAKY };

        best = best_time(k, &g, secs);
    }
    free(a);
    free(b);
    free(c);
    free(scale);
    free(bias);
    free(comp);
    return 2.0 * m * (double)kk * n / best / 1e9;
}


/*
 * A direct convolution (q8.h's vgc_q8_gemm taps): m filters, 3x3 over c
 * channels of an hw x hw plane, the input in the channel-blocked form,
 * the columns over the padded width; GOP/s counts the output positions'
 * multiply-adds only (not the 2 columns computed past each row).
 */
static double direct_rate(const vgc_q8_kernels *k, int m, int c, int hw, double secs)
{
    const int wp = hw + 2, cols = hw * wp, ldb = (cols + 31) / 32 * 32, mp = (m + 31) / 32 * 32;
    const size_t pb = (size_t)wp * (hw + 3), c4 = (size_t)c * pb + 4 * ((size_t)2 * wp + 2) + 256;
    int8_t *a = aligned_alloc(64, (size_t)mp * 9 * c);
    uint8_t *b = aligned_alloc(64, (c4 + 63) / 64 * 64);
    float *out = malloc((size_t)m * ldb * sizeof *out), *scale = malloc((size_t)m * sizeof *scale);
    float *bias = calloc((size_t)m, sizeof *bias);
    int32_t *comp = calloc((size_t)m, sizeof *comp);
    double best;

    if (!a || !b || !out || !scale || !bias || !comp)
        return 0;
    for (size_t i = 0; i < (size_t)mp * 9 * c; i++)
        a[i] = (int8_t)((i * 7) % 63 - 31);
    for (size_t i = 0; i < c4; i++)
        b[i] = (uint8_t)(i * 13);
    for (int i = 0; i < m; i++)
        scale[i] = 1e-4f;
    {
        vgc_q8_gemm g = { .a = a, .m = m, .kp = 9 * c, .b = b, .ldb = ldb, .n = cols, .c = out, .ldc = (size_t)ldb,
                          .scale = scale, .comp = comp, .bias = bias, .act = VGC_ACT_LEAKY,
                          .taps = 9, .tw = 3, .trow = (size_t)wp * 4, .gs = pb * 4 };

        best = best_time(k, &g, secs);
    }
    free(a);
    free(b);
    free(out);
    free(scale);
    free(bias);
    free(comp);
    return 2.0 * m * 9.0 * c * hw * hw / best / 1e9;
}


/*
 * A 1x1 layer of k input channels, m filters and n positions (leaky) in
 * fp32 (the engine's GEMM) and in s16 (q16.h: the VNNI GEMM alone on a
 * packed input, and the layer as q16.c runs it: per block of Q16_BLOCK
 * positions the largest |x|, the pack, the GEMM), the best of many runs
 * of each, interleaved: GFLOP/s, GOP/s against s16peak (vpdpwssd), and the
 * whole s16 layer's time against fp32's.
 */
static void s16_line(int k, int m, int n, double s16peak, double secs)
{
    const vgc_kernels *fk = vgc_kernels_pick(0);
    const int mp = (m + 7) / 8 * 8 + 8, kp = (k + 1) & ~1, ldb = (n + 31) / 32 * 32 + 48;   /* >= a block's */
    const int mr = fk->gemm_mr, panels = (m + mr - 1) / mr;
    float *a = calloc((size_t)panels * mr * k, sizeof *a), *x = malloc((size_t)k * n * sizeof *x);
    float *c = malloc((size_t)mp * n * sizeof *c), *bias = calloc((size_t)mp, sizeof *bias);
    float *scale = malloc((size_t)mp * sizeof *scale);
    int16_t *a16 = calloc((size_t)mp * kp, sizeof *a16);
    uint8_t *b16 = calloc((size_t)kp / 2 * ldb * 4 + 64, 1);
    int32_t *zero = calloc((size_t)mp, sizeof *zero);
    double best[3] = { 1e30, 1e30, 1e30 }, spent = 0;

    if (!a || !x || !c || !bias || !scale || !a16 || !b16 || !zero)
        goto out;
    for (size_t i = 0; i < (size_t)panels * mr * k; i++)
        a[i] = (float)((int)(i * 37 % 200) - 100) / 100.0f;
    for (size_t i = 0; i < (size_t)k * n; i++)
        x[i] = (float)((int)(i * 31 % 200) - 100) / 50.0f;
    for (size_t i = 0; i < (size_t)mp * kp; i++)
        a16[i] = (int16_t)((int)(i * 997 % 8191) - 4095);
    for (int i = 0; i < mp; i++)
        scale[i] = 1e-7f;
    for (int runs = 0; spent < secs || runs < 20; runs++) {
        vgc_q8_gemm g = { .a = (const int8_t *)(const void *)a16, .m = m, .kp = kp, .b = b16, .ldb = ldb, .n = n,
                          .c = c, .ldc = (size_t)n, .scale = scale, .comp = zero, .bias = bias, .act = VGC_ACT_LEAKY };
        double t0 = now(), t1, t2, t3;
        float amax;

        fk->gemm(a, m, k, x, (size_t)n, n, c, (size_t)n, bias, VGC_ACT_LEAKY);
        t1 = now();
        /* the GEMM alone on the whole packed input */
        vgc_q16_vnni.gemm(&g);
        t2 = now();
        /* the layer as q16.c runs it: a block of Q16_BLOCK positions at a time, its passes, then its GEMM */
        for (int n0 = 0; n0 < n; n0 += Q16_BLOCK) {
            const int nc = n - n0 < Q16_BLOCK ? n - n0 : Q16_BLOCK;

            amax = vgc_q16_vnni.amax(x + n0, (size_t)n, k, nc);
            vgc_q16_vnni.pack(x + n0, (size_t)n, k, nc, 16383.0f / (amax > 0 ? amax : 1.0f), 16383, b16, ldb);
            g.n = nc;
            g.c = c + n0;
            vgc_q16_vnni.gemm(&g);
        }
        g.n = n;
        g.c = c;
        t3 = now();
        best[0] = t1 - t0 < best[0] ? t1 - t0 : best[0];
        best[2] = t2 - t1 < best[2] ? t2 - t1 : best[2];
        best[1] = t3 - t2 < best[1] ? t3 - t2 : best[1];
        spent += t3 - t0;
    }
    {
        const double o = 2.0 * m * k * n;

        printf("s16 %4d x %3d x %5d  fp32 %6.1f GFLOP/s  s16 %6.1f GOP/s (%4.1f%% of peak), with its passes %6.1f: "
               "%.2fx fp32's time\n", m, k, n, o / best[0] / 1e9, o / best[2] / 1e9,
               s16peak > 0 ? 100 * o / best[2] / 1e9 / s16peak : 0, o / best[1] / 1e9, best[1] / best[0]);
    }
out:
    free(a);
    free(x);
    free(c);
    free(bias);
    free(scale);
    free(a16);
    free(b16);
    free(zero);
}


/*
 * The int8 depthwise kernel fn (q8.h's vgc_q8_dw) on one channel of an hw x hw
 * plane, size x size taps, stride s, "same" padding, leaky, float out (or,
 * s16 set, s16 into a fed layer's packed input, as the network runs most
 * of them: q16.h's vgc_q16_feed_direct): the best of many runs of 8
 * channels (short runs: the best of them is what a noisy machine leaves
 * alone), as nanoseconds per output and GOP/s.
 */
static void dw_line(const char *name, vgc_q8_dw_fn fn, int hw, int size, int s, int s16, double secs)
{
    const int pad = size / 2, wp = hw + 2 * pad, ow = (wp - size) / s + 1;
    const size_t inb = (size_t)wp * (size_t)(wp + 1) + 64;
    uint8_t *in = malloc(inb);
    int16_t *in16 = malloc(inb * sizeof *in16);       /* the s16-input kernel's form of the same plane */
    float *out = malloc((size_t)ow * ow * 2 * sizeof *out);    /* room for the s16 form's every other s16 */
    int16_t k[64];
    double best = 1e30, spent = 0;

    if (!in || !in16 || !out) {
        free(in);
        free(in16);
        free(out);
        return;
    }
    for (size_t i = 0; i < inb; i++)
        in16[i] = in[i] = (uint8_t)(i * 31);
    for (int i = 0; i < size * size; i++)
        k[i] = (int16_t)(i * 997 % 30000 - 15000);
    {
        vgc_q8_dw d = { .in = in, .ldi = (size_t)wp, .k = k, .size = size, .stride = s, .ow = ow, .oh = ow,
                        .scale = 1e-4f, .act = VGC_ACT_LEAKY, .out = out, .ldo = (size_t)ow,
                        .in16 = fn == vgc_q8_dw16_512 ? in16 : NULL };

        if (s16) {
            d.out = NULL;
            d.out16 = (int16_t *)(void *)out;
            d.inv16 = 1e-3f;
            d.max16 = VGC_Q16_FED_XMAX;
        }

        fn(&d);
        for (int runs = 0; spent < secs || runs < 100; runs++) {
            double t = now();

            for (int c = 0; c < 8; c++)
                fn(&d);
            t = now() - t;
            spent += t;
            best = t < best ? t : best;
        }
    }
    best /= 8;
    printf("dw %-5s %-5s %3dx%-3d %dx%d stride %d  %6.3f ns/output  %6.1f GOP/s\n", name, s16 ? "s16" : "float",
           hw, hw, size, size, s,
           best * 1e9 / ((double)ow * ow), 2.0 * size * size * ow * ow / best / 1e9);
    free(in);
    free(in16);
    free(out);
}


/* The end of a line: rate r against the kernel's peak; with sum, added to the totals (o operations). */
static void tally(double r, double o, double peak, double *sum, double *ops)
{
    printf("  %8.1f GOP/s  %5.1f%% of peak\n", r, peak > 0 ? 100 * r / peak : 0);
    if (sum) {
        *sum += o / r;
        *ops += o;
    }
}


int main(int argc, char **argv)
{
    const double secs = argc > 1 ? atof(argv[1]) : 0.3;
    static const vgc_q8_kernels *const all[VGC_Q8_KINDS] = { &vgc_q8_ref, &vgc_q8_avx2, &vgc_q8_vnni, &vgc_q8_amx,
                                                             &vgc_bf16_ref, &vgc_bf16_avx512, &vgc_bf16_amx };
    /* yolov3-tiny 416's int8 layers as GEMMs: filters x (c*size*size) x output positions */
    static const int shapes[][3] = { { 32, 144, 43264 }, { 64, 288, 10816 },
                                     { 128, 576, 2704 }, { 256, 1152, 676 }, { 512, 2304, 169 },
                                     { 1024, 4608, 169 }, { 256, 1024, 169 }, { 512, 2304, 169 },
                                     { 256, 3456, 676 } };
    /* its 3x3 layers: filters, channels, plane (the direct form, vgc_q8_gemm taps) */
    static const int conv3[][3] = { { 32, 16, 208 }, { 64, 32, 104 }, { 128, 64, 52 }, { 256, 128, 26 },
                                    { 512, 256, 13 }, { 1024, 512, 13 }, { 512, 256, 13 }, { 256, 384, 26 } };
    double peaks[VGC_Q8_KINDS] = { 0 }, s16peak = 0;
    char why[160];

#if defined(__x86_64__)
    if (vgc_q8_usable(VGC_Q8_AVX2, why, sizeof why))
        printf("peak avx2 (vpmaddubsw)   %8.1f GOP/s\n", peaks[1] = peak(avx2_loop, 8.0 * 32, secs));
    else
        printf("peak avx2: skipped: %s\n", why);
    if (vgc_q8_usable(VGC_Q8_VNNI, why, sizeof why))
        printf("peak vnni (vpdpbusd zmm) %8.1f GOP/s\n", peaks[2] = peak(vnni_loop, 16.0 * 64, secs));
    else
        printf("peak vnni: skipped: %s\n", why);
    if (vgc_q8_usable(VGC_Q8_VNNI, why, sizeof why)) {
        /* not kernels of ours: what 16-bit activations (vpdpwssd) would have against fp32 FMAs */
        printf("peak s16 (vpdpwssd zmm)  %8.1f GOP/s\n", s16peak = peak(s16_loop, 16.0 * 32, secs));
        printf("peak fp32 (vfmadd231ps zmm) %8.1f GFLOP/s\n", peak(vgc_peak_fma, 16.0 * 16, secs));
    }
    if (vgc_q8_usable(VGC_Q8_AMX, why, sizeof why))
        printf("peak amx (tdpbsud)       %8.1f GOP/s\n", peaks[3] = peak(amx_loop, 4.0 * 16 * 16 * 64, secs));
    else
        printf("peak amx: skipped: %s\n", why);
    if (vgc_q8_usable(VGC_BF16_AVX512, why, sizeof why))
        printf("peak avx512_bf16 (vdpbf16ps zmm) %8.1f GFLOP/s\n", peaks[VGC_BF16_AVX512] = peak(vgc_peak_bf16, 16.0 * 32, secs));
    else
        printf("peak avx512_bf16: skipped: %s\n", why);
    if (vgc_q8_usable(VGC_BF16_AMX, why, sizeof why))
        printf("peak amx_bf16 (tdpbf16ps) %8.1f GFLOP/s\n", peaks[VGC_BF16_AMX] = peak(amxbf16_loop, 4.0 * 16 * 16 * 32, secs));
    else
        printf("peak amx_bf16: skipped: %s\n", why);
#endif
    for (int kind = VGC_Q8_AVX2; kind < VGC_Q8_KINDS; kind++) {
        if (kind == VGC_BF16_REF)
            continue;
        double sum = 0, ops = 0;

        if (!all[kind]->gemm || !vgc_q8_usable(kind, why, sizeof why))
            continue;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            double r = gemm_rate(all[kind], shapes[s][0], shapes[s][1], shapes[s][2], secs / 4);
            double o = 2.0 * shapes[s][0] * shapes[s][1] * shapes[s][2];

            printf("gemm %-4s %5d x %5d x %5d", all[kind]->name, shapes[s][0], shapes[s][1], shapes[s][2]);
            tally(r, o, peaks[kind], &sum, &ops);
        }
        printf("gemm %-4s all shapes     ", all[kind]->name);
        tally(ops / sum, 0, peaks[kind], NULL, NULL);
    }
    /* the same layers' 3x3 convolutions as direct ones (the int8 kernels that have the form) */
    for (int kind = VGC_Q8_AVX2; kind <= VGC_Q8_AMX; kind++) {
        double sum = 0, ops = 0;

        if (!all[kind]->gemm || !all[kind]->direct || !vgc_q8_usable(kind, why, sizeof why))
            continue;
        for (size_t s = 0; s < sizeof conv3 / sizeof conv3[0]; s++) {
            double r, o = 2.0 * conv3[s][0] * 9.0 * conv3[s][1] * conv3[s][2] * conv3[s][2];

            /* AMX steps 64 channels at a time, or all of them below 64 */
            if (kind == VGC_Q8_AMX && conv3[s][1] > 64 && conv3[s][1] % 64)
                continue;
            r = direct_rate(all[kind], conv3[s][0], conv3[s][1], conv3[s][2], secs / 4);
            printf("direct %-4s %5d x %3d ch x %3d^2", all[kind]->name, conv3[s][0], conv3[s][1], conv3[s][2]);
            tally(r, o, peaks[kind], &sum, &ops);
        }
        printf("direct %-4s all shapes        ", all[kind]->name);
        tally(ops / sum, 0, peaks[kind], NULL, NULL);
    }
    /* the int8 depthwise kernels on yolo-fastest-1.1-xl's int8 depthwise layers (planes up to 80x80) */
    {
        static const int dws[][3] = { { 80, 3, 1 }, { 40, 3, 1 }, { 20, 3, 1 }, { 10, 3, 1 }, { 20, 5, 1 },
                                      { 10, 5, 1 }, { 80, 3, 2 }, { 40, 3, 2 }, { 20, 3, 2 } };
        static const int kinds[] = { VGC_Q8_VNNI, VGC_Q8_AVX2 };   /* the AVX-512 one (VBMI), the AVX2 one */
        vgc_q8_dw_fn seen = NULL;

        for (size_t ki = 0; ki < sizeof kinds / sizeof kinds[0]; ki++) {
            vgc_q8_dw_fn fn = all[kinds[ki]]->gemm && vgc_q8_usable(kinds[ki], why, sizeof why)
                                  ? vgc_q8_dw_pick(all[kinds[ki]], why, sizeof why) : NULL;

            if (!fn || fn == seen)
                continue;
            seen = fn;
            /* float out, then s16 out (the fed form) */
            for (int s16 = 0; s16 < 2; s16++)
                for (size_t i = 0; i < sizeof dws / sizeof dws[0]; i++)
                    dw_line(fn == vgc_q8_dw_avx2 ? "avx2" : "vbmi", fn, dws[i][0], dws[i][1], dws[i][2], s16,
                            secs / 8);
        }
        /* the s16-input one (AVX-512 VNNI; stride 1) */
        if (all[VGC_Q8_VNNI]->gemm && vgc_q8_usable(VGC_Q8_VNNI, why, sizeof why))
            for (int s16 = 0; s16 < 2; s16++)
                for (size_t i = 0; i < sizeof dws / sizeof dws[0]; i++)
                    if (dws[i][2] == 1)
                        dw_line("in16", vgc_q8_dw16_512, dws[i][0], dws[i][1], dws[i][2], s16, secs / 8);
    }
    /* yolo-fastest-1.1-xl's 1x1 layers that int8 leaves to s16: filters x channels x positions */
    if (vgc_q8_usable(VGC_Q8_VNNI, why, sizeof why)) {
        static const int s16s[][3] = { { 16, 16, 25600 }, { 8, 16, 25600 }, { 48, 8, 25600 }, { 64, 16, 6400 },
                                       { 16, 64, 6400 }, { 96, 16, 1600 }, { 16, 96, 1600 }, { 192, 32, 1600 },
                                       { 32, 192, 1600 }, { 272, 48, 400 }, { 48, 272, 400 }, { 96, 448, 100 } };

        for (size_t i = 0; i < sizeof s16s / sizeof s16s[0]; i++)
            s16_line(s16s[i][1], s16s[i][0], s16s[i][2], s16peak, secs / 4);
    }
    return 0;
}
