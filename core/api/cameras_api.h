/*
 * cameras_api: a named camera's zones and lines, kept in the store so
 * that a restart keeps them (docs/events.md, "Cameras"):
 *   GET /v1/cameras/{id}   its zones and lines (viewer)
 *   PUT /v1/cameras/{id}   replaces them (admin); a stream connected
 *                          under that id takes them at once
 * A stream that connects with stream=ID takes camera ID's zones and lines
 * (its config message may change them for the connection).
 */
#ifndef VG_CAMERAS_API_H
#define VG_CAMERAS_API_H

#include "api/stream_api.h"
#include "http/http.h"
#include "store/store_client.h"

typedef struct vg_cameras_api vg_cameras_api;

/* Registers the routes and becomes the streams' source of zones and lines. */
vg_cameras_api *vg_cameras_api_create(vg_http *http, vg_store *store, vg_stream_api *streams);
void vg_cameras_api_destroy(vg_cameras_api *c);

#endif
