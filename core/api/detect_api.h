/*
 * detect_api: the HTTP face of the detection pipeline.
 *
 *   POST /v1/detect                 one image: multipart field "image", a raw
 *                                   image/jpeg|png|webp body, or JSON {"image": base64}
 *   POST /v1/detect/batch           several images (multipart "image" fields or
 *                                   JSON {"images": [...]}); answers in order
 *   POST /v1/vision/detection       DeepStack / CodeProject.AI compatible
 *   GET  /v1/models                 every model with state and statistics
 *   GET  /v1/models/{name}          one model, with labels and workers
 *   POST /v1/models/{name}/load     start a model's workers
 *   POST /v1/models/{name}/unload   stop them
 *
 * It owns the worker pool of the master: creates it, loads the configured
 * models, exports per-model metrics, answers /ready, and drains the pool
 * on SIGTERM and reloads models on SIGHUP. docs/api.md has the formats.
 */
#ifndef VG_DETECT_API_H
#define VG_DETECT_API_H

#include <stddef.h>

struct vg_server;
typedef struct vg_detect_api vg_detect_api;

/*
 * Creates the pool (forking no worker yet), registers the routes, hooks and
 * metrics, and starts loading the configured models. Must run in the master
 * before anything initialises libvips. Returns NULL with a message on a
 * setup failure (missing models are not one: they are logged and listed).
 */
vg_detect_api *vg_detect_api_create(struct vg_server *srv, char *err, size_t errlen);
/* The worker pool (for the streaming routes). */
struct vg_pool *vg_detect_api_pool(vg_detect_api *api);
/*
 * Stores every successful detection in `history` (NULL: none), recording
 * the caller `auth` reports; the answer's "id" is then the stored record's
 * and the answer waits for the store's commit. Requests may say store=false
 * and name a source= (a camera).
 */
struct vg_history;
struct vg_auth;
void vg_detect_api_set_history(vg_detect_api *api, struct vg_history *history, struct vg_auth *auth);
/* Kills what is left of the pool and frees everything. */
void vg_detect_api_destroy(vg_detect_api *api);

#endif
