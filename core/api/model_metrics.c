/* model_metrics: see model_metrics.h. */
#include "api/model_metrics.h"

#include <math.h>
#include <stdlib.h>

#include "base/buf.h"
#include "base/metrics.h"

struct vg_model_metrics {
    vg_pool *pool;
    vg_metric *jobs, *latency, *queue, *workers, *restarts;
};


static void
collect(vg_metric *m, void *ud)
{
    (void)m;
    vg_model_metrics *mm = ud;
    size_t n = vg_pool_model_count(mm->pool);
    for (size_t i = 0; i < n; i++) {
        vg_pool_model_stats st;
        if (vg_pool_model_stats_at(mm->pool, i, &st) != 0)
            continue;
        const char *results[] = { "ok", "failed", "rejected", "timed_out", "retried" };
        uint64_t counts[] = { st.jobs_ok, st.jobs_failed, st.jobs_rejected, st.jobs_timedout, st.jobs_retried };
        for (int k = 0; k < 5; k++) {
            const char *v[] = { st.name, results[k] };
            vg_series_set(vg_metrics_series(mm->jobs, v), (double)counts[k]);
        }
        const char *v1[] = { st.name };
        vg_series_set(vg_metrics_series(mm->queue, v1), st.queue_depth);
        vg_series_set(vg_metrics_series(mm->workers, v1), st.workers_ready);
        vg_series_set(vg_metrics_series(mm->restarts, v1), (double)st.restarts);
        uint64_t total = 0;
        for (int k = 0; k < VG_POOL_HIST_BUCKETS; k++)
            total += st.hist[k];
        vg_series_set_histogram(vg_metrics_series(mm->latency, v1), st.hist, VG_POOL_HIST_BUCKETS,
                                st.hist_sum_ms / 1000.0, total);
    }
}


vg_model_metrics *
vg_model_metrics_create(vg_pool *pool)
{
    vg_model_metrics *mm = vg_xcalloc(1, sizeof *mm);
    double bounds[VG_POOL_HIST_BUCKETS];
    int nb = 0;
    mm->pool = pool;
    for (int k = 0; k < VG_POOL_HIST_BUCKETS; k++)
        if (isfinite(vg_pool_hist_bounds_ms[k]))
            bounds[nb++] = vg_pool_hist_bounds_ms[k] / 1000.0;
    mm->jobs = vg_metrics_register("vigia_model_jobs_total", "detection jobs by model and result",
                                   VG_COUNTER, "model,result", NULL, 0);
    vg_metrics_set_collect(mm->jobs, collect, mm);
    mm->latency = vg_metrics_register("vigia_model_latency_seconds", "time from a job's arrival to its answer, by model",
                                      VG_HISTOGRAM, "model", bounds, nb);
    mm->queue = vg_metrics_register("vigia_model_queue_depth", "jobs waiting per model", VG_GAUGE, "model", NULL, 0);
    mm->workers = vg_metrics_register("vigia_model_workers_ready", "worker processes ready per model", VG_GAUGE,
                                      "model", NULL, 0);
    mm->restarts = vg_metrics_register("vigia_worker_restarts_total", "worker processes respawned", VG_COUNTER,
                                       "model", NULL, 0);
    return mm;
}


void
vg_model_metrics_destroy(vg_model_metrics *mm)
{
    if (!mm)
        return;
    vg_metrics_set_collect(mm->jobs, NULL, NULL);
    free(mm);
}
