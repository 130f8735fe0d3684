/*
 * track_stats: a live stream's tracked-object statistics, between its
 * tracker and the history (docs/protocol.md, "Tracks"; docs/api.md,
 * /v1/stats). Each person track's clothing colours, voted over its frames
 * (analytics/track_summary), go into the answer's "tracks" as
 * "attributes"; each track is counted once as a unique object of its label
 * in the frame it is confirmed; a track's voted colours are counted when
 * it ends, in the hour it was confirmed in. Counts go to the store
 * asynchronously (vg_history_unique) and only while history.store is on.
 *
 * Master only, on the loop. One per stream, owned by the stream.
 */
#ifndef VG_TRACK_STATS_H
#define VG_TRACK_STATS_H

#include <stddef.h>

#include <jansson.h>

#include "analytics/tracker.h"
#include "api/history_api.h"
#include "pipeline/postprocess.h"

typedef struct vg_track_stats vg_track_stats;

/*
 * One answer, right after vg_tracker_update(): dets[i] was out[i]'s
 * detection, n of them; `tracks` is the answer's "tracks" array, one
 * object per non-NULL out[i] in that order. *ts is created on first use.
 * h may be NULL (nothing is counted).
 */
void vg_track_stats_frame(vg_track_stats **ts, vg_history *h, int max_missed, const vg_detection *dets,
                          const vg_track *const *out, size_t n, json_t *tracks);

/* The stream ended: its tracks end (their colours are counted), then ts is freed. NULL is fine. */
void vg_track_stats_close(vg_track_stats *ts, vg_history *h);

#endif
