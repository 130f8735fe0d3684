/*
 * clock: the monotonic clock, for durations and deadlines (never the wall
 * clock, which jumps). Header-only: two lines each.
 */
#ifndef VG_CLOCK_H
#define VG_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Microseconds on CLOCK_MONOTONIC. */
static inline uint64_t
vg_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Seconds on CLOCK_MONOTONIC. */
static inline double
vg_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
