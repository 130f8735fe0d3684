/*
 * bench/engines/bench_classify.c: milliseconds per image of an ONNX
 * classifier on vigia's CPU engine (backends/cpu/onnx_classify.h: one
 * thread, batch 1), for bench/engines/run-classify.
 *
 *     bench_classify MODEL.onnx ITERS INPUT.f32
 *
 * INPUT.f32: the graph's input, 3 x H x W little-endian floats (as
 * classify_peers.py writes it). Two warm-up runs, then ITERS timed runs.
 * Prints one line: engine=vigia ms=MEDIAN min=MIN top1=CLASS p=SCORE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "onnx_classify.h"

static double now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}


static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}


int main(int argc, char **argv)
{
    char err[VIGIA_ERRLEN];
    vgc_onnx_classify *c = NULL;
    int other = 0, w, h, k, iters, best = 0, rc = 1;
    float *in = NULL, *scores = NULL;
    double *ms = NULL;
    size_t n;
    FILE *f;

    if (argc != 4 || (iters = atoi(argv[2])) < 1 || iters > 100000) {
        fprintf(stderr, "usage: bench_classify MODEL.onnx ITERS INPUT.f32\n");
        return 2;
    }
    if (vgc_onnx_classify_open(&c, argv[1], 0, 0, &other, err, sizeof err)) {
        fprintf(stderr, "bench_classify: %s: %s\n", argv[1], err);
        return 1;
    }
    vgc_onnx_classify_input_size(c, &w, &h);
    k = vgc_onnx_classify_classes(c);
    n = (size_t)3 * w * h;
    in = malloc(n * sizeof *in);
    scores = malloc((size_t)k * sizeof *scores);
    ms = malloc((size_t)iters * sizeof *ms);
    if (!in || !scores || !ms)
        goto out;
    if (!(f = fopen(argv[3], "rb")) || fread(in, sizeof *in, n, f) != n) {
        fprintf(stderr, "bench_classify: %s: not %zu floats\n", argv[3], n);
        if (f)
            fclose(f);
        goto out;
    }
    fclose(f);
    for (int i = 0; i < 2 + iters; i++) {
        double t0 = now_ms();
        if (vgc_onnx_classify_run(c, in, scores, err, sizeof err)) {
            fprintf(stderr, "bench_classify: %s\n", err);
            goto out;
        }
        if (i >= 2)
            ms[i - 2] = now_ms() - t0;
    }
    for (int i = 1; i < k; i++)
        if (scores[i] > scores[best])
            best = i;
    qsort(ms, (size_t)iters, sizeof *ms, by_value);
    printf("engine=vigia ms=%.3f min=%.3f top1=%d p=%.6f\n", ms[iters / 2], ms[0], best, (double)scores[best]);
    rc = 0;
out:
    free(in);
    free(scores);
    free(ms);
    vgc_onnx_classify_destroy(c);
    return rc;
}
