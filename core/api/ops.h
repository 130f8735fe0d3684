/*
 * ops: GET /health (the process answers), GET /ready (every module says it
 * is ready), GET /metrics (Prometheus text), plus process metrics.
 */
#ifndef VG_OPS_H
#define VG_OPS_H

struct vg_http;

void vg_ops_register(struct vg_http *http);

#endif
