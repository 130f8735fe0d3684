/*
 * stream_api: live detection over WebSocket (docs/protocol.md).
 *
 *   GET /v1/stream   a camera or app streams frames; each processed frame is
 *                    answered with its detections (and the annotated frame
 *                    when asked). Latest frame wins: at most one frame waits
 *                    per stream, the answer says how many were skipped. A slow
 *                    reader has its oldest undelivered results dropped.
 *   GET /v1/live     observers get every stream's detections (filtered) and
 *                    a metrics message every second.
 */
#ifndef VG_STREAM_API_H
#define VG_STREAM_API_H

struct vg_server;
struct vg_pool;
typedef struct vg_stream_api vg_stream_api;

vg_stream_api *vg_stream_api_create(struct vg_server *srv, struct vg_pool *pool);
struct vg_history;
struct vg_auth;
/* Answers are then kept in the history, sampled (history.stream_interval, history.stream_on_change). */
void vg_stream_api_set_history(vg_stream_api *api, struct vg_history *history, struct vg_auth *auth);
void vg_stream_api_destroy(vg_stream_api *api);

#endif
