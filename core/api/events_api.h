/*
 * events_api: the streams' track events kept in the history and read
 * back (docs/events.md, "History"):
 *   GET /v1/events   the stored events, newest first, by camera, label,
 *                    type and time, a page at a time with a cursor.
 * Events are stored as the history stores detections: while the history
 * is on (history.store), pruned with the detections (history.retention);
 * an event the store cannot take now (busy, down) is dropped and counted
 * (vigia_events_stored_total{result}).
 */
#ifndef VG_EVENTS_API_H
#define VG_EVENTS_API_H

#include <jansson.h>

#include "api/history_api.h"
#include "http/http.h"
#include "store/store_client.h"

typedef struct vg_events_api vg_events_api;

/* Registers the route; events are stored while `history` is enabled. */
vg_events_api *vg_events_api_create(vg_http *http, vg_store *store, vg_history *history);
void vg_events_api_destroy(vg_events_api *e);

/* A stream's event (vg_stream_event_sink's shape): stored under the time it arrived. */
void vg_events_api_on_event(const char *stream_id, json_t *ev, void *ud);

#endif
