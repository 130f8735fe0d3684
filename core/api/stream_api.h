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

#include <stddef.h>

#include <jansson.h>

#include "api/history_api.h"
#include "http/http.h"
#include "pool/pool.h"

typedef struct vg_stream_api vg_stream_api;

/*
 * Registers the routes. With a history (may be NULL) answers are kept in it,
 * sampled (history.stream_interval, history.stream_on_change).
 */
vg_stream_api *vg_stream_api_create(vg_http *http, vg_pool *pool, vg_history *history);
void vg_stream_api_destroy(vg_stream_api *api);

/*
 * A tap on the streams' annotated frames (MJPEG out, mjpeg_api.h). While
 * wants(id) says 1, the frames of stream `id` are annotated (JPEG quality
 * `quality` unless the client asked for annotated frames itself) and
 * frame() gets each annotated JPEG, valid during the call. The stream's
 * own client still gets annotated frames only when it asked. One tap.
 */
typedef struct vg_stream_tap {
    int (*wants)(const char *stream_id, void *ud);
    void (*frame)(const char *stream_id, const void *jpeg, size_t len, void *ud);
    void *ud;
    int quality;
} vg_stream_tap;
void vg_stream_api_set_tap(vg_stream_api *api, const vg_stream_tap *tap);
/*
 * A sink of the streams' track events (docs/events.md): event() gets each
 * event's JSON (borrowed: json_incref to keep it) with its stream id, on
 * the reactor, and must not block. Up to 4 sinks; -1 when full.
 */
typedef struct vg_stream_event_sink {
    void (*event)(const char *stream_id, json_t *ev, void *ud);
    void *ud;
} vg_stream_event_sink;
int vg_stream_api_add_event_sink(vg_stream_api *api, const vg_stream_event_sink *sink);

/*
 * Where a named camera's zones and lines come from: shapes(id) returns a
 * new reference to {"zones", "lines"} (vg_scene_set's shapes) or NULL.
 * A stream asks when it connects; its config message may change them
 * for the connection. One source.
 */
typedef json_t *(*vg_stream_shapes_fn)(const char *stream_id, void *ud);
void vg_stream_api_set_shapes_source(vg_stream_api *api, vg_stream_shapes_fn fn, void *ud);

/*
 * Applies zones and lines to the connected stream `id`, if any (its
 * counts start again). Returns 0 (also when no stream has that id), or
 * -1 with a message when vg_scene_set refuses them.
 */
int vg_stream_api_set_shapes(vg_stream_api *api, const char *id, const json_t *shapes, char *err, size_t errlen);

/* 1 when a /v1/stream client with that stream id is connected. */
int vg_stream_api_has_stream(vg_stream_api *api, const char *id);

#define VG_STREAM_ID_MAX 64
/* Whether s[0..n) is a stream id: 1 to 64 of A-Z a-z 0-9 . _ - */
int vg_stream_id_valid(const char *s, size_t n);

#endif
