/*
 * bench_tracker: the stream tracker's cost per frame (not part of make check).
 *
 *   make bench/stream/bench_tracker && bench/stream/bench_tracker [OBJECTS] [FRAMES]
 *
 * OBJECTS (default 20) boxes move on straight lines with jitter, 10 fps by
 * their timestamps, a few detections missed; prints microseconds per frame
 * (CPU time of vg_tracker_update alone, median of 5 runs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "analytics/tracker.h"

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
    int nobj = argc > 1 ? atoi(argv[1]) : 20, frames = argc > 2 ? atoi(argv[2]) : 20000;
    if (nobj < 1 || nobj > VG_TRACK_MAX_DETS || frames < 1)
        return 2;
    vg_track_det *d = malloc((size_t)nobj * sizeof *d);
    const vg_track **out = malloc((size_t)nobj * sizeof *out);
    vg_track_params p;
    vg_track_params_default(&p);
    double runs[5];
    size_t reported = 0;
    for (int r = 0; r < 5; r++) {
        vg_tracker *t = vg_tracker_create();
        srand(7);
        double used = 0;
        for (int f = 0; f < frames; f++) {
            int n = 0;
            for (int i = 0; i < nobj; i++) {
                if (rand() % 20 == 0)
                    continue;   /* missed now and then */
                double x = 20 + (i % 8) * 200 + ((f * (i % 5 + 1)) % 400), y = 30 + (i / 8) * 150 + (f % 50);
                double j = (rand() % 5) - 2;
                d[n++] = (vg_track_det){ (float)(x + j), (float)(y - j), (float)(x + 60 + j), (float)(y + 120),
                                         0.3f + (rand() % 70) / 100.0f, "person" };
            }
            double t0 = cpu_us();
            reported += vg_tracker_update(t, &p, f * 100.0, d, (size_t)n, out);
            used += cpu_us() - t0;
        }
        runs[r] = used / frames;
        vg_tracker_destroy(t);
    }
    qsort(runs, 5, sizeof *runs, cmp);
    printf("tracker: %d objects, %d frames x 5 runs: %.2f us per frame (median; min %.2f, max %.2f); "
           "%.1f tracked per frame\n", nobj, frames, runs[2], runs[0], runs[4], (double)reported / (5.0 * frames));
    free(d);
    free(out);
    return 0;
}
