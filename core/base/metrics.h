/*
 * metrics: a registry of counters, gauges and histograms with labels,
 * rendered in the Prometheus text format for GET /metrics.
 *
 * Families are registered once (at start-up) and live until
 * vg_metrics_reset(). A series is one combination of label values; look
 * it up with vg_metrics_series() once and keep the pointer on hot paths.
 * Master process only: no locking.
 */
#ifndef VG_METRICS_H
#define VG_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define VG_METRICS_MAX_LABELS 4
#define VG_METRICS_MAX_BUCKETS 20

enum vg_metric_type { VG_COUNTER, VG_GAUGE, VG_HISTOGRAM };

typedef struct vg_metric vg_metric;   /* a family: name, help, label names */
typedef struct vg_series vg_series;   /* one set of label values */

/* Gauges read at scrape time; may add series to `m` with vg_metrics_series. */
typedef void (*vg_metric_collect_fn)(vg_metric *m, void *ud);

/*
 * Registers a family. `labels` is a comma-separated list of label names
 * ("route,method,status") or "" for none. `buckets` are the upper bounds
 * of a histogram (ascending, +Inf implied), NULL for other types.
 * Returns the existing family when the name is already registered.
 */
vg_metric *vg_metrics_register(const char *name, const char *help, enum vg_metric_type type,
                               const char *labels, const double *buckets, int nbuckets);
void vg_metrics_set_collect(vg_metric *m, vg_metric_collect_fn fn, void *ud);

/* Finds or creates the series with these values (as many as the family has labels). */
vg_series *vg_metrics_series(vg_metric *m, const char *const *values);
/* The family's only series, for families without labels. */
vg_series *vg_metrics_single(vg_metric *m);

void vg_series_add(vg_series *s, double v);      /* counters, gauges */
void vg_series_set(vg_series *s, double v);      /* gauges */
void vg_series_observe(vg_series *s, double v);  /* histograms */
double vg_series_value(const vg_series *s);
/* Replaces a histogram's state: counts per bucket (not cumulative; the last may be +Inf), sum, count. */
void vg_series_set_histogram(vg_series *s, const uint64_t *counts, int n, double sum, uint64_t count);

/* Appends the text exposition of every family to out. */
void vg_metrics_render(vg_buf *out);
/* Frees every family (tests, exit). */
void vg_metrics_reset(void);

/* Latency buckets in seconds shared by request and job histograms. */
extern const double vg_latency_buckets[];
extern const int vg_latency_nbuckets;

#endif
