/*
 * tracker: multi-object tracking for one live stream (docs/protocol.md, "Tracks").
 *
 * Frames go in as detections (boxes, confidences, labels) with the frame's
 * time; each detection comes back with the track it belongs to, or none.
 * A track predicts its box with a constant-velocity Kalman filter on the
 * box's centre and size (one two-state filter per coordinate), and is
 * matched by IoU against the predicted boxes, ByteTrack's way: confident
 * detections first against every track, then the less confident ones
 * against the confirmed tracks left, so a partly hidden object whose
 * confidence dips keeps its track. Matching is greedy by best IoU: with
 * the IoU gate the greedy and the optimal (Hungarian) assignment differ
 * only when two boxes compete for two tracks with near-equal overlaps,
 * and greedy costs O(P log P) in the P candidate pairs above the gate,
 * with no matrix. A track lives `max_missed` frames without a match (a
 * skipped frame or a short occlusion keeps it) and is reported once it
 * has `min_hits` matches; its id is given then, so reported ids count
 * 1, 2, 3... per tracker.
 *
 * Pure computation: no I/O, no clock. Memory: the tracker and its tracks
 * (at most max_tracks) belong to whoever created it; nothing is shared.
 * Not thread-safe; one tracker per stream.
 */
#ifndef VG_ANALYTICS_TRACKER_H
#define VG_ANALYTICS_TRACKER_H

#include <stddef.h>
#include <stdint.h>

#define VG_TRACK_LABEL_MAX 48       /* a label kept by a track (longer ones are cut) */
#define VG_TRACK_MAX_DETS 1024      /* detections of a frame the tracker looks at; the rest get no track */

typedef struct vg_track_params {
    int max_missed;             /* frames a track lives without a match (>= 0) */
    int min_hits;               /* matches before a track is reported (>= 1) */
    int max_tracks;             /* tracks kept at most; new objects beyond get none */
    float high;                 /* a detection at least this confident is matched first and may start a track */
    float match_iou;            /* least IoU of a confident detection and a predicted box */
    float low_iou;              /* least IoU of a less confident detection and a predicted box */
} vg_track_params;

/* One detection handed to vg_tracker_update: pixels, inclusive or not, as long as it is the same every frame. */
typedef struct vg_track_det {
    float x_min, y_min, x_max, y_max;
    float confidence;
    const char *label;          /* read during the call only */
} vg_track_det;

/* What a client sees of a track: valid until the next update or destroy. */
typedef struct vg_track {
    uint64_t id;                /* 1, 2, ... per tracker, given when the track is confirmed; 0 before */
    double first_seen;          /* time (the caller's unit, ms) of its first detection */
    double last_seen;           /* ...and of its latest */
    uint32_t frames;            /* frames it was matched in */
    uint32_t missed;            /* frames since its last match (0: matched in this frame) */
    float best_confidence;      /* highest confidence it was seen with */
    const char *label;          /* the label it was seen with most often */
    float vx, vy;               /* velocity of the box's centre, pixels per second (from the times given) */
    float box[4];               /* its latest detection's box: x_min, y_min, x_max, y_max */
    float confidence;           /* ...and that detection's confidence */
} vg_track;

typedef struct vg_tracker vg_tracker;

/* The defaults: max_missed 30, min_hits 2, max_tracks 256, high 0.5, match_iou 0.2, low_iou 0.4. */
void vg_track_params_default(vg_track_params *p);

/* A tracker with no tracks; aborts on out of memory like vg_xmalloc. */
vg_tracker *vg_tracker_create(void);

/* Frees the tracker and its tracks; NULL is fine. */
void vg_tracker_destroy(vg_tracker *t);

/*
 * One frame: n detections at time ts_ms (milliseconds; a time not after
 * the previous frame's counts as no time passing). out[i] becomes the
 * reported track of dets[i], or NULL (not yet confirmed, or no track: a
 * low-confidence detection that matched none, a frame's detections
 * beyond VG_TRACK_MAX_DETS, tracks beyond max_tracks). Tracks unmatched
 * for more than p->max_missed frames end here. Returns how many
 * detections got a reported track.
 */
size_t vg_tracker_update(vg_tracker *t, const vg_track_params *p, double ts_ms, const vg_track_det *dets, size_t n,
                         const vg_track **out);

/* Tracks alive now (confirmed or not, matched or coasting). */
size_t vg_tracker_count(const vg_tracker *t);

/* Track i (i < vg_tracker_count) as the last update left it (id 0: not confirmed); valid until the next update. */
const vg_track *vg_tracker_at(const vg_tracker *t, size_t i);

#endif
