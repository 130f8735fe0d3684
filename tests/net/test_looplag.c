/*
 * looplag: a loop kept busy by a callback that sleeps is seen as late by at
 * least that long (a lower bound: the sleep guarantees it), the histogram
 * counts the ticks, the max gauge resets at each scrape, and stopping
 * leaves no watcher behind (the loop then ends by itself).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/metrics.h"
#include "net/looplag.h"

#define STALL_S 0.12

static void
stall(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    struct timespec ts = { 0, (long)(STALL_S * 1e9) };
    while (nanosleep(&ts, &ts) != 0)
        ;
}


static void
done(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}


/* The value of the first line of the /metrics text that starts with `name`. */
static double
metric(const char *name)
{
    vg_buf out;
    vg_buf_init(&out);
    vg_metrics_render(&out);
    vg_buf_putc(&out, '\0');
    double v = -1;
    for (const char *p = out.data; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, name, strlen(name)) == 0 && p[strlen(name)] == ' ') {
            v = strtod(p + strlen(name) + 1, NULL);
            break;
        }
    vg_buf_release(&out);
    return v;
}


static void
stall_is_measured(void **state)
{
    (void)state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    vg_looplag *l = vg_looplag_start(loop, 0.02);
    ev_timer t_stall, t_done;
    ev_timer_init(&t_stall, stall, 0.05, 0.);
    ev_timer_init(&t_done, done, 0.4, 0.);
    ev_timer_start(loop, &t_stall);
    ev_timer_start(loop, &t_done);
    ev_run(loop, 0);

    /* the tick due during the sleep ran after it: late by the rest of the sleep at least */
    assert_true(vg_looplag_worst(l) >= STALL_S - 0.02 - 0.005);
    double max = metric("vigia_event_loop_lag_max_seconds");   /* this scrape resets it */
    assert_true(max >= STALL_S - 0.025);
    assert_true(metric("vigia_event_loop_lag_max_seconds") < max);
    double ticks = metric("vigia_event_loop_lag_seconds_count");
    assert_true(ticks >= 3);
    assert_true(metric("vigia_event_loop_lag_seconds_bucket{le=\"+Inf\"}") == ticks);

    vg_looplag_stop(l);
    ev_run(loop, 0);   /* returns: nothing left active */
    ev_loop_destroy(loop);
    vg_metrics_reset();
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stall_is_measured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
