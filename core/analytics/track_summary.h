/*
 * track_summary: what a stream's tracks add up to beyond one frame
 * (docs/protocol.md, "Tracks"; docs/api.md, /v1/stats): which reported
 * tracks are new (confirmed in this frame: each is counted once), the
 * clothing colours of each track voted over its frames (the colour most
 * of its frames had; equal votes go to the lower palette index), and
 * which tracks ended (not reported for more than max_missed frames, as
 * the tracker drops them).
 *
 * Colours are small integers (1 .. VG_TRACK_COLORS - 1; 0 is none): the
 * palette and its names belong to the pipeline (pipeline/colors.h), this
 * module only counts them. Pure computation: no I/O, no clock; times are
 * the caller's. Memory: at most VG_TRACK_SUMMARY_MAX tracks, owned by the
 * summary. Not thread-safe; one summary per tracker.
 */
#ifndef VG_ANALYTICS_TRACK_SUMMARY_H
#define VG_ANALYTICS_TRACK_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "analytics/tracker.h"

#define VG_TRACK_COLORS 16              /* colour values counted: 0 (none) .. 15 */
#define VG_TRACK_SUMMARY_MAX 4096       /* tracks followed at most (the tracker keeps 4096 at most) */

/* A track as it ended, for the callback: valid during the call only. */
typedef struct vg_track_end {
    uint64_t id;
    const char *label;                  /* its label when last reported */
    double confirmed_at;                /* the caller's time of the frame it was confirmed in */
    int upper, lower;                   /* its voted colours (0: none voted) */
} vg_track_end;

typedef struct vg_track_summary_cb {
    void (*confirmed)(const vg_track *t, double now, void *ud);   /* once per track, in its first reported frame */
    void (*ended)(const vg_track_end *e, void *ud);              /* once per followed track */
    void *ud;
} vg_track_summary_cb;

typedef struct vg_track_summary vg_track_summary;

/* An empty summary; aborts on out of memory like vg_xmalloc. */
vg_track_summary *vg_track_summary_create(void);
/* Frees it without calling anything (end the tracks first with vg_track_summary_end_all); NULL is fine. */
void vg_track_summary_destroy(vg_track_summary *s);

/*
 * One frame, right after vg_tracker_update: tracks[i] is out[i] of that
 * call (NULL: no reported track), upper[i] and lower[i] its detection's
 * colours (0: none; values >= VG_TRACK_COLORS count as none), n entries.
 * `now` is the caller's time (kept as confirmed_at). Calls cb->confirmed
 * for each track reported for the first time (ids above every id seen),
 * then cb->ended for each followed track not reported for more than
 * max_missed frames. A track confirmed while VG_TRACK_SUMMARY_MAX are
 * followed is still confirmed, but gets no colours and no end.
 */
void vg_track_summary_update(vg_track_summary *s, double now, int max_missed, const vg_track *const *tracks,
                             const uint8_t *upper, const uint8_t *lower, size_t n, const vg_track_summary_cb *cb);

/* The voted colours of track id into *upper and *lower (0 when none, or not followed). */
void vg_track_summary_colors(const vg_track_summary *s, uint64_t id, int *upper, int *lower);

/* Ends every followed track (the stream closed): cb->ended for each, in id order. */
void vg_track_summary_end_all(vg_track_summary *s, const vg_track_summary_cb *cb);

/* Tracks followed now. */
size_t vg_track_summary_count(const vg_track_summary *s);

#endif
