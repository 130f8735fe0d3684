/*
 * deepstack_api: what DeepStack's and CodeProject.AI's clients (Blue Iris,
 * Home Assistant's deepstack library, Frigate's deepstack detector, Agent
 * DVR, both DeepStack SDKs) read besides detections; the detection routes
 * themselves (/v1/vision/detection, /v1/vision/custom/{model},
 * /v1/vision/face) are detect_api's.
 *
 *   - every error under /v1/vision/ and /v1/image/ (401 from auth, 404 for
 *     no route, 405, 413, 429, 503 and the handlers' own) is DeepStack's
 *     {"success": false, "error": "<message>", "code": status,
 *     "duration": 0}, a 401 always "Incorrect api key";
 *   - the features vigia has no model for answer as DeepStack does when
 *     they are off: 403 "Face endpoints not activated" on
 *     /v1/vision/face/{recognize,register,match,delete,list} (face
 *     detection itself is /v1/vision/face), "Enhance endpoint not activated" on
 *     /v1/vision/enhance, and "ALPR endpoint not activated" on CPAI's
 *     /v1/image/alpr, after the caller's api_key is checked as on the
 *     detection routes.
 */
#ifndef VG_DEEPSTACK_API_H
#define VG_DEEPSTACK_API_H

#include <stddef.h>

#include "http/http.h"

/* DeepStack's answer (403) on its face routes while face detection is off. */
#define VG_DEEPSTACK_FACE_OFF "Face endpoints not activated"
/* ... and on /v1/vision/scene (detect_api) while deepstack.scene_model is empty. */
#define VG_DEEPSTACK_SCENE_OFF "Scene endpoint not activated"

/* Adds the error dialect and the routes above; body_max: the detection routes' body limit. */
void vg_deepstack_api_register(vg_http *http, size_t body_max);

#endif
