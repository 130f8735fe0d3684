/*
 * stream_overlay: what a live stream's MJPEG overlay draws (pipeline/
 * overlay.h), filled from its answer after the tracker and the scene ran:
 * the boxes with their labels and track ids, the zones, the lines and
 * their counts. The overlay job that draws it is stream_api's.
 */
#ifndef VG_STREAM_OVERLAY_H
#define VG_STREAM_OVERLAY_H

#include <jansson.h>

#include "analytics/scene.h"
#include "pipeline/overlay.h"
#include "pool/pool.h"

/*
 * Fills o (cleared first) from res's detections, their "track_id" read from
 * `dets` (the answer's "detections" array, may be NULL), and the scene's
 * zones and lines (scene may be NULL). Boxes past the overlay's limits are
 * left out; coordinates are clipped to them.
 */
void vg_stream_overlay_fill(vg_overlay *o, const vg_pool_result *res, const json_t *dets, const vg_scene *scene);

#endif
