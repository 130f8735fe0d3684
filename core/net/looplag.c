/* looplag: see looplag.h. The timer is one-shot and re-armed from real time, so a stall is measured once,
 * not folded into the next period as a repeating timer would. */
#include "net/looplag.h"

#include <stdlib.h>

#include "base/buf.h"
#include "base/metrics.h"

struct vg_looplag {
    struct ev_loop *loop;
    ev_timer tick;
    double interval;
    double due;          /* ev_time() when the tick should run */
    double worst;        /* since start */
    double scrape_max;   /* since the last scrape */
    vg_series *hist;
    vg_metric *max;      /* gauge family, read at scrape time */
};

static const double lag_buckets[] = { 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };


static void
arm(vg_looplag *l)
{
    l->due = ev_time() + l->interval;
    ev_timer_set(&l->tick, l->interval, 0.);
    ev_timer_start(l->loop, &l->tick);
}


static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    vg_looplag *l = w->data;
    double lag = ev_time() - l->due;
    if (lag < 0)
        lag = 0;   /* libev may run a timer a hair early against the wall clock */
    vg_series_observe(l->hist, lag);
    if (lag > l->worst)
        l->worst = lag;
    if (lag > l->scrape_max)
        l->scrape_max = lag;
    arm(l);
}


static void
collect_max(vg_metric *m, void *ud)
{
    vg_looplag *l = ud;
    vg_series_set(vg_metrics_single(m), l->scrape_max);
    l->scrape_max = 0;
}


vg_looplag *
vg_looplag_start(struct ev_loop *loop, double interval)
{
    vg_looplag *l = vg_xcalloc(1, sizeof *l);
    l->loop = loop;
    l->interval = interval;
    l->hist = vg_metrics_single(vg_metrics_register(
        "vigia_event_loop_lag_seconds", "how late the master's event loop ran a timer (time busy with other work)",
        VG_HISTOGRAM, "", lag_buckets, (int)(sizeof lag_buckets / sizeof lag_buckets[0])));
    vg_metric *m = vg_metrics_register("vigia_event_loop_lag_max_seconds",
                                       "the worst event-loop lag since the previous scrape", VG_GAUGE, "", NULL, 0);
    vg_metrics_set_collect(m, collect_max, l);
    l->max = m;
    ev_init(&l->tick, on_tick);
    l->tick.data = l;
    arm(l);
    return l;
}


void
vg_looplag_stop(vg_looplag *l)
{
    if (!l)
        return;
    ev_timer_stop(l->loop, &l->tick);
    vg_metrics_set_collect(l->max, NULL, NULL);
    free(l);
}


double
vg_looplag_worst(const vg_looplag *l)
{
    return l->worst;
}
