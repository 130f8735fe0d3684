/*
 * bench/engines/bench_engines.c: ms per frame of vigia's CPU engine and of
 * libdarknet on the same cfg, weights and input, plus the machine's sgemm
 * peak (OpenBLAS) to express the engine's speed as a fraction of it.
 * bench/engines/run drives it (and the OpenCV DNN peer) and prints the
 * table; see bench/engines/README.md.
 *
 *   bench_engines vgc     CFG WEIGHTS WIDTH HEIGHT THREADS ITERS [BATCH]
 *   bench_engines darknet CFG WEIGHTS WIDTH HEIGHT ITERS
 *   bench_engines sgemm   THREADS
 *   bench_engines random-weights CFG OUT
 *   bench_engines dump-input WIDTH HEIGHT IMAGE OUT.f32
 *   bench_engines onnx    GRAPH.onnx ITERS     (the ONNX path: read, rewrite, run; one thread;
 *                                              dog.jpg for [1, 3, H, W], a fixed pattern for other C)
 *   bench_engines ab      CFG WEIGHTS WIDTH HEIGHT FRAMES SPEC...
 *                         (one thread; each SPEC a comma-separated list of the VGC_ settings below,
 *                         e.g. VGC_PRECISION=int8,VGC_Q16_FEED=-1, or "-" for none: the nets load
 *                         side by side and take turns frame by frame, so that a machine whose speed
 *                         drifts slows them alike; one line each: min, p25, median ms; with
 *                         VGC_PROFILE, each layer's ms in every variant)
 *
 * Each timing prints one line of key=value pairs: ms (median per frame),
 * min, gflops (achieved), rss_mb (peak resident set). Environment:
 * VGC_PROFILE=1 prints every layer's time and form (int8, s16, fp32; "fused": the 1x1 layer before
 * it runs inside it), VGC_HEADROOM_MB the engine's memory headroom (see docs/engine.md).
 */
#include "vg_build.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cblas.h>

#include "engine.h"
#include "cpu_util.h"
#include "onnx_exec.h"
#include "onnx_read.h"
#include "onnx_rewrite.h"
#include "q8_calib.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}


static double peak_rss_mb(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}


/* The input: dog.jpg letterboxed, or 0.5 when images are not available. */
static float *make_input(int w, int h, int batch)
{
    size_t n = (size_t)3 * w * h;
    float *x = malloc(n * (size_t)batch * sizeof(float));

    if (!x)
        return NULL;
    if (cu_images_init("bench_engines") < 0 ||
        cu_letterbox_file(cu_shared_path("images", "dog.jpg"), w, h, x, NULL) < 0)
        for (size_t i = 0; i < n; i++)
            x[i] = 0.5f;
    for (int b = 1; b < batch; b++)
        memcpy(x + (size_t)b * n, x, n * sizeof(float));
    return x;
}


static void report(const char *engine, double *ms, int iters, double flops, int threads, int batch)
{
    qsort(ms, (size_t)iters, sizeof *ms, cmp_double);
    printf("%s ms=%.3f min=%.3f gflops=%.1f threads=%d batch=%d rss_mb=%.1f\n", engine,
           ms[iters / 2] / batch, ms[0] / batch, flops * batch / (ms[iters / 2] * 1e6), threads, batch,
           peak_rss_mb());
}



/*
 * VGC_PRECISION=fp32|bf16|int8, VGC_Q8_KERNEL=ref|avx2|vnni|amx (int8), bf16_ref|avx512_bf16|amx_bf16
 * (bf16): at most that kernel; VGC_Q8_MIN_CHANNELS=N; VGC_Q8_FUSE=0: float tensors between int8
 * layers even with static ranges (q8.h's vgc_q8_plan); VGC_Q8_DIRECT=0: every int8 GEMM on a
 * packed band, 1: direct convolutions with every kernel that has them (q8.h's vgc_q8_gemm taps;
 * unset: vgc_options.q8_direct's default); VGC_Q8_DW_STATIC=1: calibration gives the
 * depthwise layers static per-channel ranges; VGC_Q8_BLOCKS=0-3: the 1x1 layers around them in
 * int8 too with static ranges (vgc_options.q8_blocks); VGC_Q8_FIRST=-1: the first layer fp32
 * (vgc_options.q8_first); VGC_Q8_PX4=-1: no layer in the px4 form (vgc_options.q8_px4); VGC_Q16=-1: the 1x1 layers int8 leaves out
 * stay fp32 instead of s16 (vgc_options.q16; 1: s16 with the scalar kernels where VNNI is missing);
 * VGC_Q16_FEED=-1: depthwise layers write float for their s16 1x1 layer, 1: they feed it wherever
 * they can (vgc_options.q16_feed; unset: where it measured faster).
 */
static void precision_env(vgc_options *opt)
{
    if (getenv("VGC_PRECISION"))
        opt->precision = strcmp(getenv("VGC_PRECISION"), "int8") == 0   ? VGC_PREC_INT8
                       : strcmp(getenv("VGC_PRECISION"), "bf16") == 0 ? VGC_PREC_BF16 : VGC_PREC_FP32;
    if (getenv("VGC_Q8_MIN_CHANNELS"))
        opt->q8_min_channels = atoi(getenv("VGC_Q8_MIN_CHANNELS"));
    if (getenv("VGC_Q8_FUSE") && strcmp(getenv("VGC_Q8_FUSE"), "0") == 0)
        opt->q8_no_fuse = 1;
    if (getenv("VGC_Q8_DIRECT"))
        opt->q8_direct = strcmp(getenv("VGC_Q8_DIRECT"), "0") == 0 ? -1 : 1;
    if (getenv("VGC_Q8_FIRST"))
        opt->q8_first = atoi(getenv("VGC_Q8_FIRST"));
    if (getenv("VGC_Q8_PX4"))
        opt->q8_px4 = atoi(getenv("VGC_Q8_PX4"));
    if (getenv("VGC_Q16"))
        opt->q16 = atoi(getenv("VGC_Q16"));
    if (getenv("VGC_Q16_FEED"))
        opt->q16_feed = atoi(getenv("VGC_Q16_FEED"));
    if (getenv("VGC_Q8_DW_STATIC"))
        opt->q8_dw_static = atoi(getenv("VGC_Q8_DW_STATIC"));
    if (getenv("VGC_Q8_BLOCKS"))
        opt->q8_blocks = atoi(getenv("VGC_Q8_BLOCKS"));
    if (getenv("VGC_Q8_KERNEL")) {
        static const char *const names[] = { "ref", "avx2", "vnni", "amx", "bf16_ref", "avx512_bf16", "amx_bf16" };

        for (int k = 0; k < 7; k++)
            if (strcmp(getenv("VGC_Q8_KERNEL"), names[k]) == 0)
                opt->q8_kernel = k + 1;
    }
}

/* VGC_Q8_CALIB=DIR: static int8 ranges from DIR's tensors (q8_calib.h), cached in VGC_Q8_CACHE if set. */
static int calibrate_env(vgc_net *net, const char *cfg, const char *weights)
{
    char note[VIGIA_ERRLEN + 256], err[VIGIA_ERRLEN];

    if (!getenv("VGC_Q8_CALIB") || !getenv("VGC_Q8_CALIB")[0])
        return 0;
    if (vgc_q8_calibrate(net, getenv("VGC_Q8_CALIB"), getenv("VGC_Q8_CACHE"), cfg, weights, note, sizeof note, err,
                         sizeof err) < 0) {
        fprintf(stderr, "vgc: %s\n", err);
        return -1;
    }
    fprintf(stderr, "vgc: %s\n", note);
    return 0;
}


static int bench_vgc(char **argv, int argc)
{
    vgc_options opt = { .input_w = atoi(argv[3]), .input_h = atoi(argv[4]), .threads = atoi(argv[5]) };
    int iters = atoi(argv[6]), batch = argc > 7 ? atoi(argv[7]) : 1;
    char err[VIGIA_ERRLEN];
    vgc_net *net = NULL;
    double *ms = calloc((size_t)iters, sizeof *ms);
    float *x;

    opt.max_batch = batch;
    opt.profile = getenv("VGC_PROFILE") != NULL;
    if (getenv("VGC_HEADROOM_MB"))
        opt.headroom = (size_t)atol(getenv("VGC_HEADROOM_MB")) << 20;
    precision_env(&opt);
    if (!ms || iters < 1 || vgc_net_load(&net, argv[1], argv[2], &opt, err, sizeof err) < 0) {
        fprintf(stderr, "vgc: %s\n", err);
        return 1;
    }
    {
        int c;

        vgc_net_input_size(net, &opt.input_w, &opt.input_h, &c);
    }
    if (calibrate_env(net, argv[1], argv[2]) < 0)
        return 1;
    x = make_input(opt.input_w, opt.input_h, batch);
    for (int i = 0; i < 3; i++)
        vgc_net_forward(net, x, batch, err, sizeof err);
    for (int i = 0; i < iters; i++) {
        double t0 = cu_now();

        vgc_net_forward(net, x, batch, err, sizeof err);
        ms[i] = (cu_now() - t0) * 1e3;
    }
    report("vgc", ms, iters, vgc_net_flops(net), opt.threads, batch);
    if (opt.profile) {
        int nl = vgc_net_layers(net);
        double *sec = calloc((size_t)nl, sizeof *sec);
        int runs = sec ? vgc_net_profile(net, sec) : 0;

        for (int i = 0; sec && i < nl; i++) {
            const vgc_layer *l = vgc_net_layer(net, i);
            double ms_l = sec[i] * 1e3 / runs;
            double fl = l->type == VGC_L_CONV ? 2.0 * l->nweights * l->out_w * l->out_h : 0;
            /* what a convolution has (int8: its q8 form, which a block layer without a static range leaves) */
            const char *form = l->type != VGC_L_CONV ? "" : l->q8 ? "int8" : l->q16 ? "s16" : "fp32";

            fprintf(stderr,
                    "layer %3d type %d kind %d %4dx%-4d c %4d -> %4d size %d/%d g %4d %-4s%-6s: %7.3f ms %6.1f gflops\n",
                    i, l->type, l->kind, l->w, l->h, l->c, l->out_c, l->size, l->stride, l->groups, form,
                    l->expand_fused ? " fused" : "", ms_l,
                    ms_l > 0 ? fl * batch / (ms_l * 1e6) : 0);
        }
        free(sec);
    }
    {
        const char *note;
        int prec = vgc_net_precision(net, &note);

        fprintf(stderr, "vgc: %s, arena %.1f MiB, precision %s%s%s, weights %.2f MiB\n", vgc_net_device(net),
                vgc_net_arena_bytes(net) / 1048576.0, prec == VGC_PREC_INT8 ? "int8" : prec == VGC_PREC_BF16 ? "bf16" : "fp32",
                note[0] ? ": " : "", note, vgc_net_weight_bytes(net) / 1048576.0);
    }
    vgc_net_destroy(net);
    free(x);
    free(ms);
    return 0;
}


/* VGC_PROFILE: each node's milliseconds per run, slowest first, then each operator's total. */
static void onnx_profile(const vgc_onnx_exec *ex, const vgc_onnx_graph *g)
{
    double *s = calloc((size_t)g->nnode + 1, sizeof *s), op[VGC_OP_COUNT] = { 0 }, total = 0;
    int *order = calloc((size_t)g->nnode + 1, sizeof *order), runs;

    if (!s || !order || !(runs = vgc_onnx_exec_profile(ex, s))) {
        free(s);
        free(order);
        return;
    }
    for (int i = 0; i < g->nnode; i++) {
        order[i] = i;
        op[g->node[i].op] += s[i];
        total += s[i];
    }
    for (int i = 1; i < g->nnode; i++)       /* insertion sort, slowest first */
        for (int j = i; j > 0 && s[order[j]] > s[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    fprintf(stderr, "profile: %.3f ms per run over %d runs\n", total * 1e3 / runs, runs);
    for (int k = 0; k < g->nnode && s[order[k]] > 0; k++) {
        const vgc_onnx_node *n = &g->node[order[k]];
        const vgc_onnx_value *y = &g->val[n->out[0]];
        fprintf(stderr, "  %8.3f ms %5.1f%%  %-12s %-40.40s out %lldx%lldx%lld\n", s[order[k]] * 1e3 / runs,
                100 * s[order[k]] / total, vgc_onnx_op_name(n->op), n->name, y->rank > 1 ? (long long)y->dims[1] : 0,
                y->rank > 2 ? (long long)y->dims[2] : 0, y->rank > 3 ? (long long)y->dims[3] : 0);
    }
    for (int o = 0; o < VGC_OP_COUNT; o++)
        if (op[o] > 0)
            fprintf(stderr, "  op %-12s %8.3f ms %5.1f%%\n", vgc_onnx_op_name((enum vgc_onnx_op)o), op[o] * 1e3 / runs,
                    100 * op[o] / total);
    free(s);
    free(order);
}


/* An ONNX graph with one [1, 3, H, W] input, on dog.jpg letterboxed: the graph's time, no head decode. */
static int bench_onnx(char **argv)
{
    vgc_onnx_options opt = { .batch = 1 };
    int iters = atoi(argv[2]);
    char err[VIGIA_ERRLEN];
    vgc_onnx_graph *g = NULL;
    vgc_onnx_exec *ex = NULL;
    double *ms = calloc((size_t)(iters > 0 ? iters : 1), sizeof *ms);
    const float *x;
    float *in;

    if (!ms || iters < 1 || vgc_onnx_load(&g, argv[1], &opt, err, sizeof err) < 0 ||
        vgc_onnx_rewrite(g, err, sizeof err) < 0 || vgc_onnx_exec_create(&ex, g, err, sizeof err) < 0) {
        fprintf(stderr, "onnx: %s\n", iters < 1 ? "ITERS must be at least 1" : err);
        return 1;
    }
    {   /* VGC_PRECISION etc. as for vgc */
        vgc_options popt = { 0 };
        const char *note = "";

        precision_env(&popt);
        if (popt.precision != VGC_PREC_FP32 && vgc_onnx_exec_precision(ex, &popt, &note, err, sizeof err) < 0) {
            fprintf(stderr, "onnx: %s\n", err);
            return 1;
        }
        fprintf(stderr, "onnx: precision %s\n", note[0] ? note : "fp32");
    }
    const vgc_onnx_value *v = &g->val[g->in[0]];
    if (v->rank == 4 && v->dims[1] != 3 && (in = malloc((size_t)v->count * sizeof *in))) {
        /* one layer's graph (any [1, C, H, W]): a fixed pattern in [-1, 1) */
        for (int64_t i = 0; i < v->count; i++)
            in[i] = (float)((i * 2654435761u) % 2048) / 1024.0f - 1.0f;
    } else if (v->rank != 4 || !(in = make_input((int)v->dims[3], (int)v->dims[2], 1))) {
        fprintf(stderr, "onnx: the input is not [1, C, H, W]\n");
        return 1;
    }
    x = in;
    for (int i = 0; i < 3; i++)
        vgc_onnx_exec_run(ex, &x, err, sizeof err);
    if (getenv("VGC_PROFILE") && vgc_onnx_exec_profile_on(ex) < 0)
        return 1;
    for (int i = 0; i < iters; i++) {
        double t0 = cu_now();

        if (vgc_onnx_exec_run(ex, &x, err, sizeof err) < 0) {
            fprintf(stderr, "onnx: %s\n", err);
            return 1;
        }
        ms[i] = (cu_now() - t0) * 1e3;
    }
    report("onnx", ms, iters, 0, 1, 1);
    onnx_profile(ex, g);
    fprintf(stderr, "onnx: %dx%d, arena %.1f MiB\n", (int)v->dims[3], (int)v->dims[2],
            vgc_onnx_exec_arena_floats(ex) * 4 / 1048576.0);
    vgc_onnx_exec_destroy(ex);
    vgc_onnx_destroy(g);
    free(in);
    free(ms);
    return 0;
}


static int bench_darknet(char **argv)
{
#ifdef HAVE_DARKNET
    int w = atoi(argv[3]), h = atoi(argv[4]), iters = atoi(argv[5]);
    char cfg[4096];
    const char *tmp = cu_tmpdir();
    struct network *dn;
    double *ms = calloc((size_t)iters, sizeof *ms);
    float *x = make_input(w, h, 1);
    vgc_options opt = { .input_w = w, .input_h = h, .no_weights = 1 };
    vgc_net *shape = NULL;
    char err[VIGIA_ERRLEN];

    snprintf(cfg, sizeof cfg, "%s/net.cfg", tmp ? tmp : "/tmp");
    if (!tmp || !ms || !x || cu_write_cfg_variant(argv[1], cfg, w, h) < 0)
        return 1;
    dn = cu_dn_load(cfg, argv[2]);
    if (!dn)
        return 1;
    if (vgc_net_load(&shape, cfg, NULL, &opt, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    cu_dn_predict(dn, x);
    for (int i = 0; i < iters; i++) {
        double t0 = cu_now();

        cu_dn_predict(dn, x);
        ms[i] = (cu_now() - t0) * 1e3;
    }
    report("darknet", ms, iters, vgc_net_flops(shape), 1, 1);
    vgc_net_destroy(shape);
    cu_dn_free(dn);
    cu_rmtree(tmp);
    free(x);
    free(ms);
    return 0;
#else
    (void)argv;
    fprintf(stderr, "built without libdarknet\n");
    return 3;
#endif
}


#define AB_MAX 8

/* The settings a SPEC of `ab` may name (precision_env's and calibrate_env's). */
static const char *const ab_vars[] = { "VGC_PRECISION", "VGC_Q8_KERNEL", "VGC_Q8_MIN_CHANNELS", "VGC_Q8_FUSE",
                                       "VGC_Q8_DIRECT", "VGC_Q16", "VGC_Q16_FEED", "VGC_Q8_DW_STATIC",
                                       "VGC_Q8_BLOCKS", "VGC_Q8_CALIB", "VGC_Q8_CACHE", "VGC_Q8_FIRST", "VGC_Q8_PX4", NULL };


/* Set the environment to spec's settings alone. -1: a name ab does not take, or no '='. */
static int ab_env(const char *spec)
{
    char buf[1024], *save = NULL;

    for (int i = 0; ab_vars[i]; i++)
        unsetenv(ab_vars[i]);
    if (strcmp(spec, "-") == 0)
        return 0;
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        int known = 0;

        if (!eq)
            return -1;
        *eq = '\0';
        for (int i = 0; ab_vars[i]; i++)
            known |= strcmp(kv, ab_vars[i]) == 0;
        if (!known)
            return -1;
        setenv(kv, eq + 1, 1);
    }
    return 0;
}


static int bench_ab(char **argv, int argc)
{
    const int frames = atoi(argv[5]), nv = argc - 6;
    vgc_net *nets[AB_MAX] = { 0 };
    double *ms[AB_MAX] = { 0 }, *sec[AB_MAX] = { 0 };
    int runs[AB_MAX] = { 0 };
    char err[VIGIA_ERRLEN] = "out of memory";
    float *x;
    int w = atoi(argv[3]), h = atoi(argv[4]), c, rc = 1;

    if (nv < 1 || nv > AB_MAX || frames < 1) {
        fprintf(stderr, "ab: 1 to %d variants, and frames\n", AB_MAX);
        return 2;
    }
    for (int v = 0; v < nv; v++) {
        vgc_options opt = { .input_w = w, .input_h = h, .threads = 1, .max_batch = 1,
                            .profile = getenv("VGC_PROFILE") != NULL };

        if (ab_env(argv[6 + v]) < 0) {
            fprintf(stderr, "ab: %s: NAME=VALUE,... of %s and the other VGC_ settings of vgc\n", argv[6 + v],
                    ab_vars[0]);
            goto out;
        }
        precision_env(&opt);
        if (!(ms[v] = calloc((size_t)frames, sizeof *ms[v])) ||
            vgc_net_load(&nets[v], argv[1], argv[2], &opt, err, sizeof err) < 0) {
            fprintf(stderr, "ab: %s: %s\n", argv[6 + v], err);
            goto out;
        }
        if (calibrate_env(nets[v], argv[1], argv[2]) < 0)
            goto out;
    }
    ab_env("-");
    vgc_net_input_size(nets[0], &w, &h, &c);
    if (!(x = make_input(w, h, 1)))
        goto out;
    for (int v = 0; v < nv; v++)
        for (int i = 0; i < 3; i++)
            if (vgc_net_forward(nets[v], x, 1, err, sizeof err) < 0) {
                fprintf(stderr, "ab: %s: %s\n", argv[6 + v], err);
                free(x);
                goto out;
            }
    for (int f = 0; f < frames; f++)
        for (int v = 0; v < nv; v++) {
            double t0 = cu_now();

            vgc_net_forward(nets[v], x, 1, err, sizeof err);
            ms[v][f] = (cu_now() - t0) * 1e3;
        }
    for (int v = 0; v < nv; v++) {
        qsort(ms[v], (size_t)frames, sizeof *ms[v], cmp_double);
        printf("ab v=%s min=%.3f p25=%.3f ms=%.3f frames=%d\n", argv[6 + v], ms[v][0], ms[v][frames / 4],
               ms[v][frames / 2], frames);
    }
    if (getenv("VGC_PROFILE")) {
        /* the same cfg: every variant has the same layers */
        const int nl = vgc_net_layers(nets[0]);

        for (int v = 0; v < nv; v++)
            if ((sec[v] = calloc((size_t)nl, sizeof *sec[v])))
                runs[v] = vgc_net_profile(nets[v], sec[v]);
        for (int i = 0; i < nl; i++) {
            const vgc_layer *l = vgc_net_layer(nets[0], i);

            printf("layer %3d type %d %4dx%-4d c %4d -> %4d size %d/%d:", i, l->type, l->w, l->h, l->c, l->out_c,
                   l->size, l->stride);
            for (int v = 0; v < nv; v++)
                printf(" %8.4f", runs[v] > 0 ? sec[v][i] * 1e3 / runs[v] : 0.0);
            printf("\n");
        }
    }
    free(x);
    rc = 0;
out:
    for (int v = 0; v < nv; v++) {
        vgc_net_destroy(nets[v]);
        free(ms[v]);
        free(sec[v]);
    }
    return rc;
}


/* OpenBLAS sgemm on a large square problem: the machine's practical peak. */
static int bench_sgemm(int threads)
{
    const int n = 1536;
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
          *c = malloc(sizeof(float) * n * n);
    double best = 1e30;

    if (!a || !b || !c)
        return 1;
    for (int i = 0; i < n * n; i++) {
        a[i] = (float)(i % 13) / 13.0f;
        b[i] = (float)(i % 7) / 7.0f;
    }
    openblas_set_num_threads(threads);
    for (int r = 0; r < 6; r++) {
        double t0 = cu_now();

        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        if (cu_now() - t0 < best)
            best = cu_now() - t0;
    }
    printf("sgemm n=%d threads=%d gflops=%.1f core=%s\n", n, threads, 2.0 * n * n * n / best / 1e9,
           openblas_get_corename());
    free(a);
    free(b);
    free(c);
    return 0;
}


int main(int argc, char **argv)
{
    char err[VIGIA_ERRLEN];

    if (argc >= 8 && strcmp(argv[1], "vgc") == 0)
        return bench_vgc(argv + 1, argc - 1);
    if (argc >= 7 && strcmp(argv[1], "darknet") == 0)
        return bench_darknet(argv + 1);
    if (argc >= 4 && strcmp(argv[1], "onnx") == 0)
        return bench_onnx(argv + 1);
    if (argc >= 3 && strcmp(argv[1], "sgemm") == 0)
        return bench_sgemm(atoi(argv[2]));
    if (argc >= 8 && strcmp(argv[1], "ab") == 0)
        return bench_ab(argv + 1, argc - 1);
    if (argc >= 4 && strcmp(argv[1], "random-weights") == 0) {
        if (vgc_weights_write_random(argv[2], argv[3], 12345, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        return 0;
    }
    if (argc >= 6 && strcmp(argv[1], "dump-input") == 0) {
        int w = atoi(argv[2]), h = atoi(argv[3]);
        float *x = malloc(sizeof(float) * 3 * (size_t)w * h);
        FILE *fp;

        if (!x || cu_images_init(argv[0]) < 0 || cu_letterbox_file(argv[4], w, h, x, NULL) < 0 ||
            !(fp = fopen(argv[5], "wb")))
            return 1;
        fwrite(x, sizeof(float), (size_t)3 * w * h, fp);
        fclose(fp);
        free(x);
        return 0;
    }
    fprintf(stderr,
            "usage: %s vgc CFG WEIGHTS W H THREADS ITERS [BATCH]\n"
            "       %s darknet CFG WEIGHTS W H ITERS\n"
            "       %s sgemm THREADS\n"
            "       %s random-weights CFG OUT\n"
            "       %s dump-input W H IMAGE OUT.f32\n"
            "       %s onnx GRAPH.onnx ITERS\n"
            "       %s ab CFG WEIGHTS W H FRAMES SPEC...\n",
            argv[0], argv[0], argv[0], argv[0], argv[0], argv[0], argv[0]);
    return 2;
}
