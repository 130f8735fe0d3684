/*
 * compare_api: which model is faster, which is more accurate.
 *
 *   POST /v1/compare?models=a,b,c   one image (multipart field "image", a raw
 *                                   image body, or JSON {"image": base64,
 *                                   "models": [...]}) through several models at
 *                                   once, each on its own workers; per model:
 *                                   detections, confidence, latency; a summary:
 *                                   fastest, most confident, and how far the
 *                                   models agree (same label, IoU >= iou)
 *   GET  /v1/models/{name}/stats    latency percentiles and histogram, answer
 *                                   rate, batching, and precision estimated
 *                                   from the users' feedback on the model's
 *                                   stored detections
 *
 * Nothing here decodes an image: the bytes go to the pool, shared by every
 * model's job. The feedback scan reads LMDB with one short read
 * transaction over at most compare.feedback_window records, newest first.
 * docs/api.md ("Model comparison") has the formats.
 */
#ifndef VG_COMPARE_API_H
#define VG_COMPARE_API_H

#include <stddef.h>

#include "http/http.h"
#include "pool/pool.h"
#include "store/store_client.h"

typedef struct vg_compare_api vg_compare_api;

/* Registers the routes. `store` may be NULL (no precision then). */
vg_compare_api *vg_compare_api_create(vg_http *http, vg_pool *pool, vg_store *store);
void vg_compare_api_destroy(vg_compare_api *api);

/*
 * The agreement of two detection sets (exposed for tests): detections of
 * the same label are matched greedily, most confident first, when their
 * IoU is at least `iou`. Returns the number of matches; *iou_sum gets the
 * sum of the matched IoUs.
 */
struct vg_detection;
size_t vg_compare_match(const struct vg_detection *a, size_t na, const struct vg_detection *b, size_t nb,
                        double iou, double *iou_sum);
/* IoU of two pixel boxes (inclusive corners). */
double vg_compare_iou(const struct vg_detection *a, const struct vg_detection *b);

#endif
