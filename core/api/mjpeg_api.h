/*
 * mjpeg_api: a live stream's annotated frames as MJPEG, for NVR viewers
 * and plain <img src> tags.
 *
 *   GET /v1/streams/{id}/mjpeg    multipart/x-mixed-replace; boundary=vigiaframe
 *
 * {id} is a /v1/stream client's stream id (it must be connected when the
 * viewer arrives; the viewer stays through the camera's reconnections).
 * While a stream has a viewer its frames are annotated (mjpeg.quality) and
 * each annotated JPEG goes to every viewer as one part. A viewer whose
 * connection is still writing the previous part gets only the newest frame
 * when it is done (latest frame wins), so a slow viewer never builds
 * latency or memory. The response never ends by itself: the viewer leaves,
 * or the server drains (the closing boundary is sent).
 *
 * The HTTP response is taken over with vg_req_upgrade() (status 200, no
 * length, Connection: close); parts are shared between viewers with a
 * reference count.
 */
#ifndef VG_MJPEG_API_H
#define VG_MJPEG_API_H

#include "api/stream_api.h"
#include "http/http.h"

typedef struct vg_mjpeg_api vg_mjpeg_api;

#define VG_MJPEG_BOUNDARY "vigiaframe"

vg_mjpeg_api *vg_mjpeg_api_create(vg_http *http, vg_stream_api *streams);
/* Closes every viewer and takes the tap off the streams. */
void vg_mjpeg_api_destroy(vg_mjpeg_api *api);

#endif
