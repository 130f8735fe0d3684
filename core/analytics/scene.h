/*
 * scene: zones and directed lines over one live stream's tracks, and the
 * events of those tracks (docs/events.md).
 *
 * A zone is a polygon and a line a directed segment, both in the image's
 * pixels. Each confirmed track stands at one point: the bottom centre of
 * its box (where an object meets the ground, for persons and vehicles
 * alike; a box's centre would put a walking person's point at the hips,
 * and a person in front of a zone's edge inside it). A track is inside
 * a zone while its point is (even-odd rule); it crosses a line when the
 * segment from its last point off the line to its new point meets the
 * line's segment: "forward" when it goes from the left of the line to its
 * right, looking from `from` to `to` on the image (y down), "backward"
 * the other way. A track that coasts (no detection in a frame) keeps its
 * point. Zones and lines may name the labels they count (none: all).
 *
 * Per zone: the tracks inside now, how many entered, and the time spent
 * inside (visits ended, plus the running ones up to the latest frame).
 * Per line: crossings by direction and label.
 *
 * Events: `new` when a track is first seen confirmed, `update` when it
 * entered or left a zone or crossed a line, `end` when the tracker has
 * dropped it (it leaves its zones then). Each event carries the track's
 * state before and after, Frigate's way.
 *
 * Pure computation: no I/O, no clock (times are the frames' times, ms).
 * Memory: the scene and its tracks' states belong to whoever created it;
 * at most VG_SCENE_MAX_TRACKS tracks are followed (more get no events).
 */
#ifndef VG_ANALYTICS_SCENE_H
#define VG_ANALYTICS_SCENE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define VG_SCENE_MAX_ZONES 16       /* zones per scene */
#define VG_SCENE_MAX_LINES 16       /* lines per scene */
#define VG_SCENE_MAX_POINTS 32      /* points of a zone's polygon */
#define VG_SCENE_MAX_FILTER 8       /* labels a zone or line may name */
#define VG_SCENE_NAME_MAX 32        /* bytes of a zone's, line's or label's name, with the NUL */
#define VG_SCENE_MAX_LABELS 32      /* labels a line counts apart; later ones count in the totals only */
#define VG_SCENE_MAX_TRACKS 4096    /* tracks followed at once */
#define VG_SCENE_COORD_MAX 100000   /* largest coordinate accepted, pixels */

typedef struct vg_scene vg_scene;

/* One confirmed track as the tracker has it after a frame. */
typedef struct vg_scene_obj {
    uint64_t id;                /* the track's id (> 0) */
    const char *label;          /* its label by vote; read during the call */
    float score;                /* its latest confidence */
    float top_score;            /* its best */
    float box[4];               /* its latest box: x_min, y_min, x_max, y_max */
    double first_seen, last_seen; /* frame times, ms */
    int matched;                /* detected in this frame (else coasting: its point stays) */
} vg_scene_obj;

typedef enum { VG_SCENE_NEW, VG_SCENE_UPDATE, VG_SCENE_END } vg_scene_event_type;

/* A track's state as events show it. */
typedef struct vg_scene_state {
    uint64_t id;
    char label[VG_SCENE_NAME_MAX];
    float score, top_score;
    float box[4];
    double first_seen, last_seen;   /* ms */
    double end;                     /* ms; 0 until it ended */
    uint32_t zones;                 /* bit i: inside zone i now */
    uint32_t entered;               /* bit i: entered zone i at some time */
    uint32_t crossed_forward;       /* bit i: crossed line i forward, at some time */
    uint32_t crossed_backward;
    uint32_t changes;               /* events of the track so far (new, updates, end) */
} vg_scene_state;

/* One event: `after` is the state now, `before` the state the previous event showed (NULL for `new`). */
typedef struct vg_scene_event {
    vg_scene_event_type type;
    const vg_scene_state *before;
    const vg_scene_state *after;
    double ts;                      /* the frame's time, ms */
    uint32_t zones_entered;         /* bit i: entered zone i in this frame */
    uint32_t zones_left;
    uint32_t lines_forward;         /* bit i: crossed line i forward in this frame */
    uint32_t lines_backward;
} vg_scene_event;

/* Called once per event, in the frame's order; the pointers are valid during the call only. */
typedef void (*vg_scene_event_cb)(void *ud, const vg_scene_event *ev);

/* An empty scene (no zones, no lines); aborts on out of memory like vg_xmalloc. */
vg_scene *vg_scene_create(void);

/* Frees the scene; NULL is fine. */
void vg_scene_destroy(vg_scene *s);

/*
 * Replaces the zones and lines from JSON (docs/protocol.md, "Zones and
 * lines"): `zones` an array of {"name", "points": [[x, y], ...], "labels"?}
 * and `lines` an array of {"name", "from": [x, y], "to": [x, y],
 * "labels"?}; NULL leaves that kind as it is, an empty array removes them.
 * Counts start again; the tracks' zones are forgotten (they enter anew).
 * Returns 0, or -1 with a message in err and the scene unchanged.
 */
int vg_scene_set(vg_scene *s, const json_t *zones, const json_t *lines, char *err, size_t errlen);

/* The zones and lines as vg_scene_set takes them (a new reference). */
json_t *vg_scene_config_json(const vg_scene *s);

/* Whether the scene has any zone or line. */
int vg_scene_has_shapes(const vg_scene *s);

/*
 * One frame at ts_ms: `objs` are the tracker's confirmed tracks alive
 * now (coasting ones with matched = 0). Moves the tracks, counts zones
 * and lines, and calls cb for every event (new tracks, zone and line
 * changes, then tracks absent from objs: ended). cb may be NULL.
 */
void vg_scene_update(vg_scene *s, double ts_ms, const vg_scene_obj *objs, size_t n, vg_scene_event_cb cb, void *ud);

/*
 * Ends every track (the stream is over): `end` events at ts_ms, zones
 * left. The scene stays usable.
 */
void vg_scene_end_all(vg_scene *s, double ts_ms, vg_scene_event_cb cb, void *ud);

/*
 * The counts (a new reference): {"zones": [{"name", "inside", "entered",
 * "time_ms"}], "lines": [{"name", "forward": {label: n}, "backward":
 * {label: n}, "forward_total", "backward_total"}]}; time_ms counts the
 * running visits up to ts_ms.
 */
json_t *vg_scene_counts_json(const vg_scene *s, double ts_ms);

/* Zone i's or line i's name ("" out of range). */
const char *vg_scene_zone_name(const vg_scene *s, int i);
const char *vg_scene_line_name(const vg_scene *s, int i);

/* Zones and lines set. */
int vg_scene_zone_count(const vg_scene *s);
int vg_scene_line_count(const vg_scene *s);

/* The counts of zone i: inside now, entered so far (-1: no such zone). */
int vg_scene_zone_inside(const vg_scene *s, int i);
long vg_scene_zone_entered(const vg_scene *s, int i);

/* Crossings of line i by direction (1 forward, 0 backward) and label (NULL: all labels); -1: no such line. */
long vg_scene_line_crossings(const vg_scene *s, int i, int forward, const char *label);

/* Zone i's points (at most max, into out): their count, -1 when no such zone. For drawing (MJPEG). */
int vg_scene_zone_points(const vg_scene *s, int i, double (*out)[2], int max);
/* Line i's from (a) and to (b): 0, or -1 when no such line. */
int vg_scene_line_points(const vg_scene *s, int i, double a[2], double b[2]);

#endif
