/*
 * kserve_api: the KServe v2 / Open Inference Protocol over HTTP/REST, with
 * the binary tensor data extension, so that Triton and KServe clients
 * (tritonclient, kserve's InferenceRESTClient, plain curl) can call vigia's
 * detection models.
 *
 *   GET  /v2                                     server metadata
 *   GET  /v2/health/live, /v2/health/ready       200, or 400 when not ready
 *   GET  /v2/models/{name}[/versions/{version}]  model metadata (inputs, outputs)
 *   GET  /v2/models/{name}[/versions/{version}]/ready
 *   POST /v2/models/{name}[/versions/{version}]/infer
 *
 * A detection model takes one of three inputs: "image" (BYTES [B]: encoded
 * JPEG/PNG/WebP, base64 in JSON), "pixels" (UINT8 [B,H,W,3] RGB) or
 * "tensor" (FP32 [B,3,H,W], RGB in [0,1]), and answers "boxes" (FP32
 * [B,N,4], x_min y_min x_max y_max in pixels), "scores" (FP32 [B,N]),
 * "classes" (INT32 [B,N]), "labels" (BYTES [B,N]) and "num_detections"
 * (INT32 [B]); rows past an image's count are padded. Every model has one
 * version, "1". docs/kserve.md has the mapping and examples.
 *
 * Errors answer {"error": "message"} as the protocol says, with a 4xx/5xx
 * status. Tensors are parsed in the master within kserve.max_tensor and
 * kserve.max_elements; pixels are never converted here: the tensor's bytes
 * travel to a worker behind a rawimg header (rawimg.h).
 */
#ifndef VG_KSERVE_API_H
#define VG_KSERVE_API_H

#include "http/http.h"
#include "pool/pool.h"

typedef struct vg_kserve_api vg_kserve_api;

vg_kserve_api *vg_kserve_api_create(vg_http *http, vg_pool *pool);
void vg_kserve_api_destroy(vg_kserve_api *api);

#endif
