/*
 * cpai_api: the routes CodeProject.AI Server's clients (Blue Iris, Agent
 * DVR, CPAI's SDKs and demo clients) call besides detection, answered in
 * CodeProject.AI's shapes (its server's ServerStatusController and the
 * object detection modules' "list-custom" command):
 *
 *   GET  /v1/server/status/ping            (and the legacy /v1/status/ping)
 *   GET  /v1/server/status/version         (and /v1/status/version)
 *        {"success":true,"message":VERSION,"version":{major,minor,patch,...},
 *         "code":200,"hostname":HOST}
 *   GET  /v1/server/status/updateavailable (and /v1/status/updateavailable:
 *        Blue Iris asks) the same with current/latest/updateAvailable:false;
 *        vigia never looks for updates, and says so in "message"
 *   POST /v1/vision/custom/list            the names a client may put in
 *        /v1/vision/custom/{model}: loaded models and the aliases of loaded
 *        models, {"success":true,"models":[...],"moduleId",...,"timestampUTC"}
 *
 * Detection itself (/v1/vision/detection, /v1/vision/custom/{model}) is
 * detect_api's. The status routes are open, as CodeProject.AI's are; the
 * list has the detection routes' access.
 */
#ifndef VG_CPAI_API_H
#define VG_CPAI_API_H

#include "http/http.h"
#include "pool/pool.h"

typedef struct vg_cpai_api vg_cpai_api;

/* Registers the routes on http; the pool must outlive the result. */
vg_cpai_api *vg_cpai_api_create(vg_http *http, vg_pool *pool);
void vg_cpai_api_destroy(vg_cpai_api *api);

#endif
