/*
 * tests/cpu/q8_util.c: static ranges measured on a dynamic int8 run (q8_util.h).
 */
#include <stddef.h>

#include "internal.h"
#include "q8.h"
#include "q8_util.h"

/* min(0, lo, x[0..n)) into *lo and max(0, hi, x[0..n)) into *hi */
static void span(const float *x, size_t n, float *lo, float *hi)
{
    for (size_t k = 0; k < n; k++) {
        *lo = x[k] < *lo ? x[k] : *lo;
        *hi = x[k] > *hi ? x[k] : *hi;
    }
}


void q8u_ranges_measure(const vgc_net *dyn, float *ranges, float *chan, float widen)
{
    ranges[0] = ranges[1] = 0;
    for (int i = 1; i < vgc_net_layers(dyn); i++) {
        const vgc_layer *l = vgc_net_layer(dyn, i);
        const float *in = vgc_net_output(dyn, i - 1, 0);
        const size_t hw = (size_t)l->w * l->h;

        ranges[2 * i] = ranges[2 * i + 1] = 0;
        if (!l->q8)
            continue;
        span(in, (size_t)l->c * hw, &ranges[2 * i], &ranges[2 * i + 1]);
        ranges[2 * i + 1] *= widen;
        for (int c = 0; chan && l->q8->dw && c < l->c; c++, chan += 2) {
            chan[0] = chan[1] = 0;
            span(in + (size_t)c * hw, hw, &chan[0], &chan[1]);
            chan[1] *= widen;
        }
    }
}
