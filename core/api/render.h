/*
 * render: the one writer of detections and detection results, for every
 * dialect that answers them as JSON: /v1/detect and its batch, DeepStack
 * and CodeProject.AI (vg_render_deepstack),
 * /v1/compare, the live streams, the history and `vigia detect`.
 *
 * A detection is {"label", "class_id" (with VG_DETJ_CLASS_ID),
 * "confidence", x_min, y_min, x_max, y_max}: the corners inside "box" with
 * VG_DETJ_BOX, flat without (DeepStack's way), and "attributes" {upper_color,
 * lower_color, "estimate": true} when the worker estimated colours. A result is the members
 * "model", "backend", the image's size ("image": {"width", "height"}, or
 * "width" and "height" themselves with VG_DETJ_FLAT_SIZE), "count",
 * "detections" and "timings_ms" {queue, decode, infer, post, annotate,
 * total}, written into an object the caller opened (its own members go
 * before and after). A classifier's result has "task": "classify" and
 * "classifications" [{"label", "class_id", "confidence"}, best first]
 * instead of "detections".
 *
 * A vg_render writes either JSON text through a jsonw (numbers at 4
 * significant digits, as the REST answers have them) or members of a
 * jansson object (the WebSocket messages, which are filtered per observer
 * and packed as msgpack: confidences rounded to 4 decimals, milliseconds
 * as they are).
 *
 * The history writes its stored detections with the same functions.
 */
#ifndef VG_RENDER_H
#define VG_RENDER_H

#include <stddef.h>
#include <stdint.h>

struct vg_jsonw;
struct vg_detection;
struct vg_pool_result;
struct json_t;

#define VG_RENDER_DEPTH 8

/* Where a renderer writes. Set up with vg_render_text() or vg_render_tree(); the fields are the renderer's. */
typedef struct vg_render {
    struct vg_jsonw *w;                     /* JSON text; NULL: a jansson tree */
    struct json_t *open[VG_RENDER_DEPTH];   /* the tree's open objects and arrays, [0] the caller's */
    int depth;                              /* entries of open[] in use */
    int failed;                             /* a jansson value could not be made (a string not UTF-8) */
} vg_render;

/* Writes through w, at w's place (inside an object the caller opened, for a result's members). */
void vg_render_text(vg_render *o, struct vg_jsonw *w);
/* Adds members to the jansson object obj (borrowed). */
void vg_render_tree(vg_render *o, struct json_t *obj);

/* How a dialect has its detections and results. */
enum {
    VG_DETJ_CLASS_ID = 1,     /* a detection has "class_id" */
    VG_DETJ_BOX = 2,          /* its corners inside "box" (else flat) */
    VG_DETJ_FLAT_SIZE = 4,    /* a result's "width" and "height" as its own members (else in "image") */
    VG_DETJ_NO_LABEL = 8,     /* no "label" (DeepStack's faces) */
    VG_DETJ_NO_BOX = 16       /* no corners: a classification */
};

/*
 * One detection, as an element of the array being written. In a tree, a
 * detection whose label is not UTF-8 is left out (as json_pack did).
 */
void vg_render_detection(vg_render *o, const struct vg_detection *d, int flags);
/* "key": [the n detections]. */
void vg_render_detections(vg_render *o, const char *key, const struct vg_detection *d, size_t n, int flags);
/* "key": {queue, decode, infer, post, annotate, total} in milliseconds, from res's *_us. */
void vg_render_timings(vg_render *o, const char *key, const struct vg_pool_result *res);
/* The same from the six times in microseconds, in that order (a stored record's). */
#define VG_RENDER_TIMINGS 6
void vg_render_timings_us(vg_render *o, const char *key, const uint64_t us[VG_RENDER_TIMINGS]);
/* "detections" with flags, or a classifier's "task": "classify" and "classifications". */
void vg_render_found(vg_render *o, const struct vg_pool_result *res, int flags);
/* A result's members (above), from a successful pool answer. */
void vg_render_result(vg_render *o, const struct vg_pool_result *res, int flags);
/* "key": the JPEG in base64. */
void vg_render_jpeg(vg_render *o, const char *key, const void *jpeg, size_t len);

/*
 * A DeepStack / CodeProject.AI answer from a successful pool answer:
 * {"success": true, "predictions": [flat detections, or without "label"
 * for a face], "count", "inferenceMs", "processMs", "duration", and CPAI's
 * "message" ("Found dog, car" or "No objects found"), "moduleId",
 * "moduleName", "command", "processedBy", "inferenceDevice" (CPU or GPU),
 * "timestampUTC" (an HTTP date), "code": 200}; "stored": false when it was
 * to be stored and was not.
 */
void vg_render_deepstack(struct vg_jsonw *w, const struct vg_pool_result *res, int face, int unstored);

/*
 * DeepStack's scene answer from a classifier's result: {"success": true,
 * "label": the best class ("" when none passed), "confidence",
 * "duration" (ms)}; "stored": false as above.
 */
void vg_render_scene(struct vg_jsonw *w, const struct vg_pool_result *res, int unstored);

/* One detection as JSON text: vg_render_detection() through w. */
void vg_detection_json(struct vg_jsonw *w, const struct vg_detection *d, int flags);

#endif
