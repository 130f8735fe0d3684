/*
 * bench_colors: the cost of the clothing colour estimate in the worker and
 * of the per-track summary in the master (not part of make check).
 *
 *   make bench/stream/bench_colors && bench/stream/bench_colors [PERSONS] [ROUNDS]
 *
 * PERSONS (default 20) boxes of 120 x 300 pixels on a 1920 x 1080 image of
 * noise: prints the CPU time of vg_colors_persons per box, and of
 * vg_track_summary_update per frame with that many tracks, each the median
 * of 5 runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "analytics/track_summary.h"
#include "pipeline/colors.h"

static double
cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}


static int
cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}


int
main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20, rounds = argc > 2 ? atoi(argv[2]) : 20000;
    if (n < 1 || n > VG_COLORS_MAX_BOXES || rounds < 1)
        return 2;
    vg_image im = { .w = 1920, .h = 1080, .full_w = 1920, .full_h = 1080 };
    im.rgb = malloc((size_t)im.w * im.h * 3);
    srand(7);
    for (size_t i = 0; i < (size_t)im.w * im.h * 3; i++)
        im.rgb[i] = (uint8_t)rand();
    vg_detection *d = calloc((size_t)n, sizeof *d);
    vg_track *t = calloc((size_t)n, sizeof *t);
    const vg_track **out = calloc((size_t)n, sizeof *out);
    uint8_t *up = calloc((size_t)n, 1), *lo = calloc((size_t)n, 1);
    for (int i = 0; i < n; i++) {
        int x = 40 + (i % 12) * 150, y = 40 + (i / 12) * 320;
        d[i] = (vg_detection){ .label = "person", .x_min = x, .y_min = y, .x_max = x + 119, .y_max = y + 299 };
        t[i] = (vg_track){ .id = (uint64_t)i + 1, .label = "person" };
        out[i] = &t[i];
    }
    double est[5], sum[5];
    for (int r = 0; r < 5; r++) {
        double t0 = cpu_us();
        for (int k = 0; k < rounds; k++)
            vg_colors_persons(&im, d, (size_t)n);
        est[r] = (cpu_us() - t0) / ((double)rounds * n);
        vg_track_summary *s = vg_track_summary_create();
        t0 = cpu_us();
        for (int k = 0; k < rounds; k++) {
            for (int i = 0; i < n; i++) {
                up[i] = d[i].upper_color;
                lo[i] = (uint8_t)(1 + (k + i) % 11);
            }
            vg_track_summary_update(s, k, 30, out, up, lo, (size_t)n, NULL);
        }
        sum[r] = (cpu_us() - t0) / rounds;
        vg_track_summary_destroy(s);
    }
    qsort(est, 5, sizeof *est, cmp);
    qsort(sum, 5, sizeof *sum, cmp);
    printf("colors: %d person boxes 120x300, %d rounds x 5 runs: %.2f us per box (median; min %.2f, max %.2f)\n", n,
           rounds, est[2], est[0], est[4]);
    printf("track summary: %d tracks, %d frames x 5 runs: %.2f us per frame (median; min %.2f, max %.2f)\n", n,
           rounds, sum[2], sum[0], sum[4]);
    free(im.rgb);
    free(d);
    free(t);
    free(out);
    free(up);
    free(lo);
    return 0;
}
