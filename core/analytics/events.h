/*
 * events: a scene's track events as JSON (docs/events.md), the one shape
 * that /v1/live observers, the MQTT topic `<prefix>/events` and webhooks
 * receive: Frigate's {"type", "before", "after"} (its field names, times
 * in seconds) with vigia's own fields beside them ("camera", "track_id",
 * "time" in ms, and what this event is about: "entered", "left",
 * "crossed").
 *
 * Pure computation: no I/O. Not thread-safe (no state at all).
 */
#ifndef VG_ANALYTICS_EVENTS_H
#define VG_ANALYTICS_EVENTS_H

#include <jansson.h>

#include "analytics/scene.h"

#define VG_EVENT_ID_MAX 96          /* bytes of an event id, with the NUL */

/* "new", "update" or "end". */
const char *vg_event_type_name(vg_scene_event_type t);

/*
 * The event id of a track of `camera`: "<start time, s>-<camera>-<track
 * id>", the same in every event of the track (Frigate's `id`). Writes at
 * most VG_EVENT_ID_MAX bytes into out.
 */
void vg_event_id(char out[VG_EVENT_ID_MAX], const char *camera, const vg_scene_state *st);

/* The event as JSON (a new reference); s names the zones and lines the event's bits point at. */
json_t *vg_event_json(const vg_scene *s, const char *camera, const vg_scene_event *ev);

#endif
