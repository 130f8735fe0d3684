/*
 * models_api: the models of the worker pool over HTTP, and the pool's part
 * in the server's life.
 *
 *   GET  /v1/models                 every model with state and statistics
 *   GET  /v1/models/{name}          one model, with labels and workers
 *   POST /v1/models/{name}/load     start a model's workers (admin)
 *   POST /v1/models/{name}/unload   stop them (admin)
 *
 * Its server hooks answer /ready from the models' states, drain the pool on
 * SIGTERM and restart every loaded model's workers on SIGHUP; it exports the
 * per-model metrics. The pool itself is serve()'s (cli/serve.h).
 * docs/api.md has the formats.
 */
#ifndef VG_MODELS_API_H
#define VG_MODELS_API_H

#include "http/http.h"
#include "pool/pool.h"

typedef struct vg_models_api vg_models_api;

vg_models_api *vg_models_api_create(vg_http *http, vg_pool *pool);
void vg_models_api_destroy(vg_models_api *api);

#endif
