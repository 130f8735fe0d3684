/*
 * tests/cpu/q8_util.c: static ranges measured on a dynamic int8 run, and two
 * forms of a network compared (q8_util.h).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "internal.h"
#include "q8.h"
#include "q8_util.h"

void q8u_write_tensor(const char *dir, const char *name, int which, float *x, size_t n)
{
    float *own = x ? NULL : malloc(n * sizeof *own);
    char path[512];
    FILE *fp;

    x = x ? x : own;
    assert_non_null(x);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((i * (7919 + 104729 * (size_t)which)) % 1000) / (1000.0f + 500.0f * (float)which);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_non_null(fp = fopen(path, "wb"));
    assert_int_equal(fwrite(x, sizeof *x, n, fp), n);
    fclose(fp);
    free(own);
}


uint32_t q8u_next(uint32_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return *state;
}


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
        for (int c = 0; chan && l->q8->ncr && c < l->c; c++, chan += 2) {
            chan[0] = chan[1] = 0;
            span(in + (size_t)c * hw, hw, &chan[0], &chan[1]);
            chan[1] *= widen;
        }
    }
}


double q8u_max_diff(vgc_net *a, vgc_net *b, const float *x, int layer, double *maxv)
{
    const vgc_layer *l = vgc_net_layer(b, layer);
    char err[VIGIA_ERRLEN];
    double maxd = 0;

    *maxv = 0;
    for (int batch = 1; batch <= 2; batch++) {
        const float *ya, *yb;

        if (vgc_net_forward(a, x, batch, err, sizeof err) < 0 || vgc_net_forward(b, x, batch, err, sizeof err) < 0)
            fail_msg("%s", err);
        ya = vgc_net_output(a, layer, 0);
        yb = vgc_net_output(b, layer, 0);
        for (size_t i = 0; i < l->out_size; i++) {
            const double dv = fabs((double)ya[i] - yb[i]);

            maxd = dv > maxd ? dv : maxd;
            *maxv = fabs(yb[i]) > *maxv ? fabs(yb[i]) : *maxv;
        }
    }
    return maxd;
}
