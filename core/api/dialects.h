/*
 * dialects: the protocols other clients already speak, created together
 * from serve() (issue 8):
 *
 *   compare_api    POST /v1/compare, GET /v1/models/{name}/stats
 *   kserve_api     KServe v2 / Open Inference Protocol REST (/v2/...)
 *   zmq_detector   Frigate's zmq detector (zmq.endpoint; built with libzmq)
 *   mjpeg_api      GET /v1/streams/{id}/mjpeg
 *
 * Each module has its own header; this one only wires them to the server,
 * the pool, the store and the live streams.
 */
#ifndef VG_DIALECTS_H
#define VG_DIALECTS_H

#include <stddef.h>

struct vg_http;
struct vg_pool;
struct vg_store;
struct vg_stream_api;
typedef struct vg_dialects vg_dialects;

/*
 * Registers every module's routes (after the pool exists, before the
 * listeners). `store` and `streams` may be NULL (no precision from
 * feedback; no MJPEG). Returns NULL with a message when a configured
 * endpoint cannot be served (zmq.endpoint that cannot be bound).
 */
vg_dialects *vg_dialects_create(struct vg_http *http, struct vg_pool *pool, struct vg_store *store,
                                struct vg_stream_api *streams, char *err, size_t errlen);
void vg_dialects_destroy(vg_dialects *d);

#endif
