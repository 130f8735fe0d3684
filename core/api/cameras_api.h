/*
 * cameras_api: a named camera's zones and lines, kept in the store so
 * that a restart keeps them (docs/events.md, "Cameras"):
 *   GET /v1/cameras/{id}   its zones and lines (viewer)
 *   PUT /v1/cameras/{id}   replaces them (admin); a stream connected
 *                          under that id takes them at once (on every
 *                          node sharing state: replicated like users)
 * A stream that connects with stream=ID takes camera ID's zones and lines
 * (its config message may change them for the connection).
 */
#ifndef VG_CAMERAS_API_H
#define VG_CAMERAS_API_H

#include "api/stream_api.h"
#include "base/config.h"
#include "http/http.h"
#include "store/store_client.h"

typedef struct vg_cameras_api vg_cameras_api;

/*
 * Registers the routes and becomes the streams' source of zones and
 * lines; reads stream.cameras_file when set (blocking: before the reactor
 * runs). NULL with a message in err when that file cannot be read or is
 * not valid.
 */
vg_cameras_api *vg_cameras_api_create(vg_http *http, vg_store *store, vg_stream_api *streams, char *err,
                                      size_t errlen);

#define VG_CAMERAS_FILE_MAX (1u << 20)  /* bytes of stream.cameras_file */
#define VG_CAMERAS_MAX 1024             /* cameras in it */

/*
 * Parses a cameras file's text: an object of camera id -> {"zones",
 * "lines"}, each checked as PUT /v1/cameras/ID checks it. Returns 0 with
 * *cameras (a new reference: id -> the shapes as vg_scene_config_json
 * writes them), or -1 with a message in err.
 */
int vg_cameras_file_parse(const char *text, size_t len, json_t **cameras, char *err, size_t errlen);
/*
 * SIGHUP: reads next's stream.cameras_file again (none: no file cameras);
 * a connected stream whose file camera changed takes the new shapes (its
 * counts start again) unless a PUT's are in force. -1 with err, the
 * running cameras kept, when the file cannot be read or is not valid.
 */
int vg_cameras_api_reload(vg_cameras_api *c, const vg_config *next, char *err, size_t errlen);

/*
 * Camera id's zones and lines as another node stored them (shapes: the
 * stored JSON; 0 bytes: removed), once this node's store has them too: a
 * stream connected here under that id takes them at once, as after a PUT
 * here. ud is the vg_cameras_api (a vg_shared_camera_fn).
 */
void vg_cameras_api_stored_elsewhere(const char *id, const void *shapes, size_t n, void *ud);

void vg_cameras_api_destroy(vg_cameras_api *c);

#endif
