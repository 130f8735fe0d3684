/* cameras_api: see cameras_api.h and docs/events.md. */
#include "api/cameras_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "analytics/scene.h"
#include "auth/auth.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/config.h"
#include "base/log.h"
#include "net/server.h"
#include "store/store_read.h"
#include "store/store_write.h"

#define CAMERA_BODY_MAX (64 * 1024)     /* a PUT body: 16 zones of 32 points and 16 lines fit many times */

struct vg_cameras_api {
    vg_store *store;
    vg_stream_api *streams;
    json_t *file;               /* stream.cameras_file: id -> shapes; NULL when none */
};

/* A PUT waiting for the store. */
typedef struct put_call {
    vg_req *r;
    vg_cameras_api *c;
    char id[VG_STREAM_ID_MAX + 1];
    json_t *shapes;             /* what was stored, normalised */
} put_call;


/* Camera id's shapes (a new reference): those PUT in the store, else the cameras file's; NULL when none. */
static json_t *
load(vg_cameras_api *c, const char *id, int *rc)
{
    vg_buf b;
    vg_buf_init(&b);
    *rc = vg_store_camera_get(c->store, id, &b);
    json_t *j = *rc == 0 ? json_loadb(b.data, b.len, 0, NULL) : NULL;
    vg_buf_release(&b);
    if (*rc == VG_E_NOTFOUND && c->file && json_object_get(c->file, id)) {
        j = json_incref(json_object_get(c->file, id));
        *rc = 0;
    }
    return j;
}


/* The shapes of one camera, checked by vg_scene_set: normalised (a new reference), or NULL with err. */
static json_t *
shapes_check(json_t *j, char *err, size_t errlen)
{
    const char *k;
    json_t *v;
    if (!json_is_object(j)) {
        snprintf(err, errlen, "a camera is an object with zones and lines");
        return NULL;
    }
    json_object_foreach(j, k, v)
        if (strcmp(k, "zones") != 0 && strcmp(k, "lines") != 0) {
            snprintf(err, errlen, "unknown field '%.32s' (zones, lines)", k);
            return NULL;
        }
    /* a member left out means none */
    vg_scene *s = vg_scene_create();
    json_t *none = json_array();
    json_t *zones = json_object_get(j, "zones"), *lines = json_object_get(j, "lines");
    int rc = vg_scene_set(s, zones ? zones : none, lines ? lines : none, err, errlen);
    json_decref(none);
    json_t *out = rc == 0 ? vg_scene_config_json(s) : NULL;
    vg_scene_destroy(s);
    return out;
}


int
vg_cameras_file_parse(const char *text, size_t len, json_t **cameras, char *err, size_t errlen)
{
    json_error_t je;
    *cameras = NULL;
    if (len > VG_CAMERAS_FILE_MAX) {
        snprintf(err, errlen, "larger than %u bytes", VG_CAMERAS_FILE_MAX);
        return -1;
    }
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "line %d: %s", je.line, je.text);
        return -1;
    }
    if (!json_is_object(root) || json_object_size(root) > VG_CAMERAS_MAX) {
        snprintf(err, errlen, "an object of at most %d cameras, {\"ID\": {\"zones\": [...], \"lines\": [...]}}",
                 VG_CAMERAS_MAX);
        json_decref(root);
        return -1;
    }
    json_t *out = json_object();
    const char *id;
    json_t *v;
    char e[256];
    json_object_foreach(root, id, v) {
        json_t *shapes = NULL;
        if (!vg_stream_id_valid(id, strlen(id)))
            snprintf(e, sizeof e, "camera ids are stream ids: 1-64 characters of A-Z a-z 0-9 . _ -");
        else
            shapes = shapes_check(v, e, sizeof e);
        if (!shapes) {
            snprintf(err, errlen, "camera '%.64s': %s", id, e);
            json_decref(out);
            json_decref(root);
            return -1;
        }
        json_object_set_new(out, id, shapes);
    }
    json_decref(root);
    *cameras = out;
    return 0;
}


/* The streams' source of zones and lines (vg_stream_shapes_fn). */
static json_t *
shapes_of(const char *id, void *ud)
{
    int rc;
    return load(ud, id, &rc);
}


/* The {id} of the path, checked; NULL after answering 400. */
static const char *
camera_id(vg_req *r, char out[VG_STREAM_ID_MAX + 1])
{
    vg_str p = vg_req_param(r, 0);
    if (!vg_stream_id_valid(p.p, p.n)) {
        vg_req_error(r, 400, "bad_request", "camera ids are stream ids: 1-64 characters of A-Z a-z 0-9 . _ -");
        return NULL;
    }
    memcpy(out, p.p, p.n);
    out[p.n] = '\0';
    return out;
}


static void
answer(vg_req *r, int status, const char *id, json_t *shapes)
{
    json_t *o = json_pack("{s:s, s:O, s:O}", "id", id, "zones", json_object_get(shapes, "zones"), "lines",
                          json_object_get(shapes, "lines"));
    char *s = json_dumps(o, JSON_COMPACT);
    vg_req_respond(r, status, "application/json", s, strlen(s));
    free(s);
    json_decref(o);
}


static void
route_get(vg_req *r, void *ud)
{
    vg_cameras_api *c = ud;
    char id[VG_STREAM_ID_MAX + 1];
    if (!camera_id(r, id))
        return;
    int rc;
    json_t *j = load(c, id, &rc);
    if (rc == VG_E_NOTFOUND)
        vg_req_error(r, 404, "not_found", "camera '%s' has no zones or lines", id);
    else if (rc != 0 || !j)
        vg_auth_store_error(r, rc ? rc : VG_E_STORE_IO, "cannot read the camera");
    else
        answer(r, 200, id, j);
    json_decref(j);
}


static void
put_done(int status, vg_mpr *rest, void *ud)
{
    (void)rest;
    put_call *p = ud;
    if (status != 0) {
        vg_auth_store_error(p->r, status, "cannot store the camera");
    } else {
        char err[256];
        if (vg_stream_api_set_shapes(p->c->streams, p->id, p->shapes, err, sizeof err) < 0)
            vg_warn("cameras", "%s: %s", p->id, err);   /* checked before storing: not expected */
        answer(p->r, 200, p->id, p->shapes);
    }
    json_decref(p->shapes);
    free(p);
}


static void
route_put(vg_req *r, void *ud)
{
    vg_cameras_api *c = ud;
    char id[VG_STREAM_ID_MAX + 1], err[256];
    if (!camera_id(r, id))
        return;
    json_t *j = vg_auth_json_body(r);
    if (!j)
        return;
    json_t *shapes = shapes_check(j, err, sizeof err);   /* as a stream's config message checks them */
    json_decref(j);
    if (!shapes) {
        vg_req_error(r, 400, "bad_request", "%s", err);
        return;
    }
    put_call *p = vg_xcalloc(1, sizeof *p);
    p->r = r;
    p->c = c;
    snprintf(p->id, sizeof p->id, "%s", id);
    p->shapes = shapes;
    int empty = json_array_size(json_object_get(p->shapes, "zones")) == 0 &&
                json_array_size(json_object_get(p->shapes, "lines")) == 0;
    char *body = json_dumps(p->shapes, JSON_COMPACT);
    int rc = vg_store_camera_put(c->store, id, body, empty ? 0 : strlen(body), put_done, p);
    free(body);
    if (rc != 0) {
        json_decref(p->shapes);
        free(p);
        vg_auth_store_error(r, rc, "cannot store the camera");
    }
}


/* Reads stream.cameras_file into *file (blocking: at start and on SIGHUP, 1 MiB at most). */
static int
read_file(json_t **file, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "stream.cameras_file: cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char *text = vg_xmalloc(VG_CAMERAS_FILE_MAX + 1);
    size_t n = fread(text, 1, VG_CAMERAS_FILE_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    char e[300];
    int rc = bad ? (snprintf(e, sizeof e, "read error"), -1) : vg_cameras_file_parse(text, n, file, e, sizeof e);
    free(text);
    if (rc < 0)
        snprintf(err, errlen, "stream.cameras_file %s: %s", path, e);
    else
        vg_info("cameras", "%zu camera(s) with zones or lines in %s", json_object_size(*file), path);
    return rc;
}


vg_cameras_api *
vg_cameras_api_create(vg_http *http, vg_store *store, vg_stream_api *streams, char *err, size_t errlen)
{
    vg_cameras_api *c = vg_xcalloc(1, sizeof *c);
    c->store = store;
    c->streams = streams;
    const char *path = vg_server_config(vg_http_server(http))->stream_cameras_file;
    if (path && path[0] && read_file(&c->file, path, err, errlen) < 0) {
        free(c);
        return NULL;
    }
    vg_http_route(http, VG_M_GET, "/v1/cameras/{id}", route_get, c, 0, VG_ACCESS_VIEWER);
    vg_http_route(http, VG_M_PUT, "/v1/cameras/{id}", route_put, c, CAMERA_BODY_MAX, VG_ACCESS_ADMIN);
    vg_stream_api_set_shapes_source(streams, shapes_of, c);
    return c;
}


/* A connected stream `id` takes the file's new shapes for it, unless a PUT one is in force. */
static void
file_changed(vg_cameras_api *c, const char *id, json_t *was, json_t *now)
{
    if ((was && now && json_equal(was, now)) || (!was && !now))
        return;
    vg_buf b;
    vg_buf_init(&b);
    int rc = vg_store_camera_get(c->store, id, &b);
    vg_buf_release(&b);
    if (rc != VG_E_NOTFOUND)
        return;   /* a PUT's shapes (or the store cannot say): they stay */
    json_t *none = now ? NULL : json_pack("{s:[],s:[]}", "zones", "lines");
    char err[256];
    if (vg_stream_api_set_shapes(c->streams, id, now ? now : none, err, sizeof err) < 0)
        vg_warn("cameras", "%s: %s", id, err);   /* checked when read: not expected */
    json_decref(none);
}


void
vg_cameras_api_stored_elsewhere(const char *id, const void *shapes, size_t n, void *ud)
{
    vg_cameras_api *c = ud;
    json_error_t je;
    json_t *j = n ? json_loadb(shapes, n, 0, &je) : json_pack("{s:[],s:[]}", "zones", "lines");
    char err[256];
    if (!j || vg_stream_api_set_shapes(c->streams, id, j, err, sizeof err) < 0)
        vg_warn("cameras", "%s: the zones and lines another node stored do not apply: %s", id,
                j ? err : je.text);
    json_decref(j);
}


int
vg_cameras_api_reload(vg_cameras_api *c, const vg_config *next, char *err, size_t errlen)
{
    json_t *file = NULL;
    const char *path = next->stream_cameras_file;
    if (path && path[0] && read_file(&file, path, err, errlen) < 0)
        return -1;   /* the running cameras stay */
    json_t *old = c->file;
    c->file = file;
    const char *id;
    json_t *v;
    json_object_foreach(file, id, v)
        file_changed(c, id, old ? json_object_get(old, id) : NULL, v);
    json_object_foreach(old, id, v)
        if (!file || !json_object_get(file, id))
            file_changed(c, id, v, NULL);
    json_decref(old);
    return 0;
}


void
vg_cameras_api_destroy(vg_cameras_api *c)
{
    if (!c)
        return;
    json_decref(c->file);
    free(c);
}
