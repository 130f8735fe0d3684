/*
 * bench/engines/bench_cuda.c: the CUDA engine's latency and throughput on
 * one GPU, for bench/engines/run-cuda (which measures the PyTorch peer,
 * torch_peer.py, in the same run; see bench/engines/README-cuda.md).
 *
 *   bench_cuda latency    CFG WEIGHTS W H INPUT.f32 ITERS [OPTIONS]
 *   bench_cuda throughput CFG WEIGHTS W H INPUT.f32 MAXBATCH SECONDS [OPTIONS]
 *   bench_cuda heads      CFG WEIGHTS W H INPUT.f32 OUT.f32 [OPTIONS]
 *   bench_cuda probe      (exit 3 and the reason when there is no usable GPU)
 *
 * INPUT.f32 is one letterboxed image (bench_engines dump-input), repeated
 * for every image of a batch. OPTIONS: --tf32, --no-graphs, --heuristic,
 * --no-fusion.
 *
 * latency: batch 1, ITERS runs after 20 warm-up runs; one line of
 *   key=value: e2e_ms (median of infer(): host tensor in, candidate sets
 *   out, the plugin's own path), e2e_p90, fwd_ms (median of the forward
 *   alone from the input already on the device), load_s, device.
 * throughput: for batch 1, 2, 4, ... MAXBATCH: images per second of infer()
 *   over about SECONDS each (after warm-up); one line per batch.
 * heads: writes every yolo head's output for INPUT (in cfg order), to
 *   check the peer computes the same network.
 *
 * The candidate threshold is 0.25 (a server's default range).
 */
#include "vg_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "plan.h"
#include "gpu.h"
#include "cpu_util.h"

#define THRESH 0.25f

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}


static float *read_input(const char *path, size_t n, int batch)
{
    float *x = malloc(n * (size_t)batch * sizeof(float));
    FILE *fp = fopen(path, "rb");

    if (!x || !fp || fread(x, sizeof(float), n, fp) != n) {
        fprintf(stderr, "bench_cuda: cannot read %zu floats from %s\n", n, path);
        exit(1);
    }
    fclose(fp);
    for (int b = 1; b < batch; b++)
        memcpy(x + (size_t)b * n, x, n * sizeof(float));
    return x;
}


static vgcu_gpu *load(const char *cfg, const char *weights, int w, int h, int max_batch, int keep,
                      const vgcu_gpu_options *go, double *secs)
{
    char err[VIGIA_ERRLEN];
    vgcu_options po = { .input_w = w, .input_h = h, .max_batch = max_batch, .keep_outputs = keep };
    vgcu_plan *p = NULL;
    vgcu_gpu *g = NULL;
    double t0 = cu_now();

    if (vgcu_plan_create(&p, cfg, weights, &po, err, sizeof err) < 0 || vgcu_gpu_create(&g, p, go, err, sizeof err) < 0) {
        fprintf(stderr, "bench_cuda: %s\n", err);
        exit(1);
    }
    *secs = cu_now() - t0;
    fprintf(stderr, "bench_cuda: %s: %s\n", vgcu_gpu_device(g), vgcu_gpu_summary(g));
    return g;
}


typedef struct cands {
    vigia_candidates *c;
    int batch;
} cands;

static cands cands_make(const vgcu_plan *p, int batch)
{
    cands k = { calloc((size_t)batch, sizeof(vigia_candidates)), batch };

    for (int b = 0; b < batch; b++) {
        k.c[b].capacity = 4096;
        k.c[b].box = malloc(4096 * 4 * sizeof(float));
        k.c[b].objectness = malloc(4096 * sizeof(float));
        k.c[b].prob = malloc(4096 * (size_t)p->classes * sizeof(float));
    }
    return k;
}


static void cands_free(cands *k)
{
    for (int b = 0; b < k->batch; b++) {
        free(k->c[b].box);
        free(k->c[b].objectness);
        free(k->c[b].prob);
    }
    free(k->c);
}


static void infer_or_die(vgcu_gpu *g, const float *x, int batch, cands *k)
{
    char err[VIGIA_ERRLEN];

    if (vgcu_gpu_infer(g, x, batch, THRESH, k->c, err, sizeof err) < 0) {
        fprintf(stderr, "bench_cuda: infer: %s\n", err);
        exit(1);
    }
}


static int latency(const char *cfg, const char *weights, int w, int h, const char *input, int iters,
                   const vgcu_gpu_options *go)
{
    char err[VIGIA_ERRLEN];
    double load_s, *e2e = malloc((size_t)iters * sizeof(double)), *fwd = malloc((size_t)iters * sizeof(double));
    vgcu_gpu *g = load(cfg, weights, w, h, 1, 0, go, &load_s);
    const vgcu_plan *p = vgcu_gpu_plan(g);
    float *x = read_input(input, p->in_size, 1);
    cands k = cands_make(p, 1);

    if (!e2e || !fwd)
        return 1;
    for (int i = 0; i < 20; i++)
        infer_or_die(g, x, 1, &k);
    for (int i = 0; i < iters; i++) {
        double t0 = cu_now();

        infer_or_die(g, x, 1, &k);
        e2e[i] = (cu_now() - t0) * 1e3;
    }
    for (int i = 0; i < iters; i++) {
        double t0 = cu_now();

        if (vgcu_gpu_forward_only(g, 1, err, sizeof err) < 0) {
            fprintf(stderr, "bench_cuda: %s\n", err);
            return 1;
        }
        fwd[i] = (cu_now() - t0) * 1e3;
    }
    qsort(e2e, (size_t)iters, sizeof *e2e, cmp_double);
    qsort(fwd, (size_t)iters, sizeof *fwd, cmp_double);
    printf("cuda latency batch=1 e2e_ms=%.4f e2e_p90=%.4f fwd_ms=%.4f candidates=%u load_s=%.2f gflops=%.3f "
           "device=\"%s\"\n", e2e[iters / 2], e2e[iters * 9 / 10], fwd[iters / 2], k.c[0].count, load_s,
           p->flops / 1e9, vgcu_gpu_device(g));
    cands_free(&k);
    free(x);
    free(e2e);
    free(fwd);
    vgcu_gpu_destroy(g);
    return 0;
}


static int throughput(const char *cfg, const char *weights, int w, int h, const char *input, int max_batch,
                      double seconds, const vgcu_gpu_options *go)
{
    double load_s;
    vgcu_gpu *g = load(cfg, weights, w, h, max_batch, 0, go, &load_s);
    const vgcu_plan *p = vgcu_gpu_plan(g);
    float *x = read_input(input, p->in_size, max_batch);
    cands k = cands_make(p, max_batch);

    for (int batch = 1; batch <= max_batch; batch = batch < max_batch && batch * 2 > max_batch ? max_batch : batch * 2) {
        long images = 0;
        double t0, t;

        for (int i = 0; i < 5; i++)
            infer_or_die(g, x, batch, &k);
        t0 = cu_now();
        do {
            infer_or_die(g, x, batch, &k);
            images += batch;
            t = cu_now() - t0;
        } while (t < seconds);
        printf("cuda throughput batch=%d img_s=%.1f ms_per_batch=%.4f load_s=%.2f\n", batch, images / t,
               t * 1e3 * batch / (double)images, load_s);
        fflush(stdout);
        if (batch == max_batch)
            break;
    }
    cands_free(&k);
    free(x);
    vgcu_gpu_destroy(g);
    return 0;
}


static int heads(const char *cfg, const char *weights, int w, int h, const char *input, const char *out,
                 const vgcu_gpu_options *go)
{
    char err[VIGIA_ERRLEN];
    double load_s;
    vgcu_gpu *g = load(cfg, weights, w, h, 1, 0, go, &load_s);
    const vgcu_plan *p = vgcu_gpu_plan(g);
    float *x = read_input(input, p->in_size, 1);
    cands k = cands_make(p, 1);
    FILE *fp = fopen(out, "wb");

    if (!fp)
        return 1;
    infer_or_die(g, x, 1, &k);
    for (int i = 0; i < p->n; i++) {
        const vgcu_layer *L = &p->layers[i];
        float *buf;

        if (L->ordinal < 0)
            continue;
        buf = malloc(L->l.out_size * sizeof(float));
        if (!buf || vgcu_gpu_layer_output(g, i, 0, buf, err, sizeof err) < 0 ||
            fwrite(buf, sizeof(float), L->l.out_size, fp) != L->l.out_size)
            return 1;
        free(buf);
    }
    fclose(fp);
    cands_free(&k);
    free(x);
    vgcu_gpu_destroy(g);
    return 0;
}


int main(int argc, char **argv)
{
    vgcu_gpu_options go = { 0 };
    char err[VIGIA_ERRLEN];
    int nargs = argc;

    for (int i = 2; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) != 0)
            continue;
        if (nargs == argc)
            nargs = i;
        if (strcmp(argv[i], "--tf32") == 0)
            go.tf32 = 1;
        else if (strcmp(argv[i], "--no-graphs") == 0)
            go.no_graphs = 1;
        else if (strcmp(argv[i], "--heuristic") == 0)
            go.heuristic_algos = 1;
        else if (strcmp(argv[i], "--no-fusion") == 0)
            go.no_fusion = 1;
        else {
            fprintf(stderr, "bench_cuda: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (nargs >= 2 && vgcu_probe(0, err, sizeof err) < 0) {
        fprintf(stderr, "bench_cuda: %s\n", err);
        return 3;
    }
    if (nargs == 2 && strcmp(argv[1], "probe") == 0) {
        printf("%s\n", vgcu_gpu_describe_device(0));
        return 0;
    }
    if (nargs == 8 && strcmp(argv[1], "latency") == 0)
        return latency(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), argv[6], atoi(argv[7]), &go);
    if (nargs == 9 && strcmp(argv[1], "throughput") == 0)
        return throughput(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), argv[6], atoi(argv[7]), atof(argv[8]), &go);
    if (nargs == 8 && strcmp(argv[1], "heads") == 0)
        return heads(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]), argv[6], argv[7], &go);
    fprintf(stderr,
            "usage: %s latency CFG WEIGHTS W H INPUT.f32 ITERS [--tf32 --no-graphs --heuristic --no-fusion]\n"
            "       %s throughput CFG WEIGHTS W H INPUT.f32 MAXBATCH SECONDS [options]\n"
            "       %s heads CFG WEIGHTS W H INPUT.f32 OUT.f32 [options]\n"
            "       %s probe\n",
            argv[0], argv[0], argv[0], argv[0]);
    return 2;
}
