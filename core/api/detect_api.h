/*
 * detect_api: the HTTP face of the detection pipeline.
 *
 *   POST /v1/detect                 one image: multipart field "image", a raw
 *                                   image/jpeg|png|webp body, or JSON {"image": base64}
 *   POST /v1/detect/batch           several images (multipart "image" fields or
 *                                   JSON {"images": [...]}); answers in order
 *   POST /v1/vision/detection       DeepStack / CodeProject.AI compatible
 *   POST /v1/vision/custom/{model}  the same with the model in the path
 *   POST /v1/classify               a classifier's k best classes (k=, min_confidence=),
 *                                   the image as /v1/detect takes it; no model named:
 *                                   the default model if it classifies, else the first
 *                                   ready classifier
 *   POST /v1/vision/scene           DeepStack's scene recognition (deepstack.scene_model)
 *
 * Each route serves one task: a detection model on a classification route
 * (or the reverse) answers 400 wrong_task naming the route to use.
 *
 * Jobs go to the worker pool serve() owns; every successful detection is
 * stored in the history (when one is given), recording the caller the auth
 * filter put on the request; the answer's "id" is then the stored record's
 * and the answer waits for the store's commit. Requests may say store=false
 * and name a source= (a camera). docs/api.md has the formats.
 */
#ifndef VG_DETECT_API_H
#define VG_DETECT_API_H

#include "api/history_api.h"
#include "http/http.h"
#include "pool/pool.h"

typedef struct vg_detect_api vg_detect_api;

/* Registers the routes on http. `history` may be NULL (nothing stored). */
vg_detect_api *vg_detect_api_create(vg_http *http, vg_pool *pool, vg_history *history);
void vg_detect_api_destroy(vg_detect_api *api);

#endif
