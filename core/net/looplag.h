/*
 * looplag: how late the reactor runs. A timer asks to fire every
 * `interval` seconds; the time between when it was due and when its
 * callback ran is how long the loop was busy with other work (a stall).
 * Exported as the histogram vigia_event_loop_lag_seconds and the gauge
 * vigia_event_loop_lag_max_seconds (the worst since the last scrape).
 */
#ifndef VG_LOOPLAG_H
#define VG_LOOPLAG_H

#include <ev.h>

typedef struct vg_looplag vg_looplag;

/* Starts measuring on `loop` (master process; registers the metrics). */
vg_looplag *vg_looplag_start(struct ev_loop *loop, double interval);
void vg_looplag_stop(vg_looplag *l);
/* The worst lag seen since start, in seconds (tests). */
double vg_looplag_worst(const vg_looplag *l);

#endif
