/*
 * model_metrics: the worker pool's per-model figures on /metrics, read from
 * the pool when scraped: vigia_model_jobs_total{model,result},
 * vigia_model_latency_seconds{model} (histogram), vigia_model_queue_depth,
 * vigia_model_workers_ready and vigia_worker_restarts_total. A front end's
 * (models_api) and a worker node's (`vigia worker --cluster-node-listen`).
 */
#ifndef VG_MODEL_METRICS_H
#define VG_MODEL_METRICS_H

#include "pool/pool.h"

typedef struct vg_model_metrics vg_model_metrics;

/* Registers the families (once per process: a second call reads the same pool). */
vg_model_metrics *vg_model_metrics_create(vg_pool *pool);
/* Stops reading the pool (the families stay, with their last figures). NULL: nothing. */
void vg_model_metrics_destroy(vg_model_metrics *mm);

#endif
