/* detect_api: see detect_api.h. What is not this dialect's lives in call.c and render.c. */
#include "api/detect_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "api/call.h"
#include "api/deepstack_api.h"
#include "api/detect_opts.h"
#include "api/history_api.h"
#include "api/render.h"
#include "auth/auth.h"
#include "base/error.h"
#include "base/jsonw.h"
#include "http/http.h"
#include "http/reply.h"
#include "net/server.h"
#include "pipeline/model.h"
#include "pool/pool.h"

#define DEEPSTACK_DEFAULT_CONFIDENCE 0.4f

struct vg_detect_api {
    vg_server *srv;
    vg_pool *pool;
    int inflight;                /* HTTP calls waiting for the pool */
    vg_history *history;         /* stores every detection; NULL: none */
};

enum kind { DETECT, BATCH, DEEPSTACK, DEEPSTACK_FACE, CLASSIFY, SCENE };
#define IS_DEEPSTACK(k) ((k) == DEEPSTACK || (k) == DEEPSTACK_FACE || (k) == SCENE)
#define IS_CLASSIFY(k) ((k) == CLASSIFY || (k) == SCENE)

/* What a detection request asks for; its images are the call's. Lives until the answer. */
typedef struct request {
    enum kind kind;
    vg_detect_opts opt;
    int max_images;
    int store;                   /* record in the history (history.store, or store=) */
    char source[129];            /* recorded source: a camera name, or the route's */
    int want_jpeg;               /* Accept: image/jpeg: the annotated image is the answer */
} request;

/* ------------------------------------------------------------------ */
/* the request */

/* The history's options ("store", "source"), then the detection options. */
static int
request_option(void *ud, const char *name, const char *value, char *err, size_t errlen)
{
    request *q = ud;
    if (strcmp(name, "store") == 0) {
        if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes"))
            q->store = 1;
        else if (!strcasecmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no"))
            q->store = 0;
        else {
            snprintf(err, errlen, "store must be true or false, not '%.32s'", value);
            return -1;
        }
        return 0;
    }
    if (strcmp(name, "source") == 0) {
        if (strlen(value) >= sizeof q->source) {
            snprintf(err, errlen, "source is longer than %zu bytes", sizeof q->source - 1);
            return -1;
        }
        snprintf(q->source, sizeof q->source, "%s", value);
        return 0;
    }
    return vg_detect_opts_set(&q->opt, name, value, err, errlen);
}


/* {"image": base64} or {"images": [base64, ...]}, with options as members. */
static int
request_json(void *ud, vg_call *c, json_t *root, char *err, size_t errlen)
{
    request *q = ud;
    if (vg_detect_opts_from_json(&q->opt, root, err, errlen) < 0)
        return 400;
    static const char *const hist[] = { "store", "source" };
    for (int k = 0; k < 2; k++) {
        json_t *member = json_object_get(root, hist[k]);
        char sv[256];
        if (!member)
            continue;
        if (json_is_boolean(member))
            snprintf(sv, sizeof sv, "%s", json_is_true(member) ? "true" : "false");
        else if (json_is_string(member) && json_string_length(member) < sizeof sv)
            snprintf(sv, sizeof sv, "%s", json_string_value(member));
        else
            snprintf(sv, sizeof sv, "%s", "?");
        if (request_option(q, hist[k], sv, err, errlen) < 0)
            return 400;
    }
    json_t *one = json_object_get(root, "image"), *many = json_object_get(root, "images");
    if (one && json_is_string(one))
        return vg_call_add_base64(c, json_string_value(one), json_string_length(one), err, errlen) < 0 ? 400 : 0;
    if (many && json_is_array(many)) {
        size_t i;
        json_t *e;
        json_array_foreach(many, i, e) {
            if ((int)i == q->max_images) {
                snprintf(err, errlen, "more than %d images", q->max_images);
                return 413;
            }
            if (!json_is_string(e)) {
                snprintf(err, errlen, "images[%zu] is not a base64 string", i);
                return 400;
            }
            if (vg_call_add_base64(c, json_string_value(e), json_string_length(e), err, errlen) < 0)
                return 400;
        }
        if (q->kind == BATCH || vg_call_count(c))
            return 0;   /* a batch may be empty; one image must be there */
    }
    snprintf(err, errlen, "the JSON body needs \"image\": base64 string%s",
             q->max_images > 1 ? " or \"images\": [...]" : "");
    return 400;
}


/* Reads the query, then the body, into q and the call. 0, or an HTTP status with err. */
static int
request_read(request *q, vg_call *c, char *err, size_t errlen)
{
    static const char *const query[] = { "store", "source", "model", "min_confidence", "threshold", "nms",
                                         "classes", "annotate", "k", "attributes", NULL };
    static const char *const fields[] = { "image", "images", "file", "image1", NULL };   /* image1: CPAI's demo clients */
    if (vg_call_query(vg_call_req(c), query, request_option, q, err, errlen) < 0)
        return 400;
    vg_call_form f = { .image_fields = fields, .max_images = q->max_images, .option = request_option,
                       .json = request_json, .ud = q };
    int kind, status = vg_call_read(c, &f, &kind, err, errlen);
    if (!status && vg_call_count(c) == 0 && kind == VG_CALL_MULTIPART) {
        snprintf(err, errlen, "%s", IS_DEEPSTACK(q->kind) ? "No valid image file found" : "no 'image' field in the form");
        status = 400;
    } else if (!status && vg_call_count(c) == 0 && kind == VG_CALL_RAW) {
        snprintf(err, errlen, "empty body: send the image as multipart field 'image', raw bytes or JSON");
        status = 400;
    }
    return status;
}

/* ------------------------------------------------------------------ */
/* answers, rendered once every item is in and stored */

/* "error": {"code", "message"} */
static void
error_json(vg_jsonw *w, const char *code, const char *message)
{
    vg_jsonw_kobj(w, "error");
    vg_jsonw_kstr(w, "code", code);
    vg_jsonw_kstr(w, "message", message);
    vg_jsonw_obj_end(w);
}


static void
render_detect(vg_jsonw *w, const vg_call_item *it, int annotate)
{
    const vg_pool_result *res = &it->res;
    vg_render o;
    vg_render_text(&o, w);
    vg_jsonw_obj(w);
    vg_jsonw_kstr(w, "id", it->id);
    vg_render_result(&o, res, VG_DETJ_CLASS_ID | VG_DETJ_BOX);
    if (res->jpeg && res->jpeg_len && annotate)
        vg_render_jpeg(&o, "annotated_jpeg", res->jpeg, res->jpeg_len);
    if (it->unstored)
        vg_jsonw_kbool(w, "stored", 0);   /* the detections stand, but their id will not be found */
    vg_jsonw_obj_end(w);
}


/* Answers the request once every item is in (and stored): the one place its answer is rendered. */
static void
on_done(vg_call *c, void *ud)
{
    request *q = ud;
    vg_req *r = vg_call_req(c);
    vg_call_item *it = vg_call_count(c) ? vg_call_item_at(c, 0) : NULL;   /* a batch may have none */
    vg_reply a;
    for (int i = 0; i < vg_call_count(c); i++)
        vg_detect_opts_cut(&q->opt, &vg_call_item_at(c, i)->res);   /* a classification's k best */
    if (q->kind == BATCH) {
        vg_reply_init(&a);
        vg_jsonw_obj(&a.w);
        vg_jsonw_kstr(&a.w, "id", vg_call_id(c));
        vg_jsonw_kint(&a.w, "count", vg_call_count(c));
        vg_jsonw_karr(&a.w, "results");
        for (int i = 0; i < vg_call_count(c); i++) {
            it = vg_call_item_at(c, i);
            if (it->status == 0) {
                render_detect(&a.w, it, q->opt.annotate);
            } else {
                vg_jsonw_obj(&a.w);
                error_json(&a.w, vg_err_code(it->status), vg_call_item_message(it));
                vg_jsonw_obj_end(&a.w);
            }
        }
        vg_jsonw_arr_end(&a.w);
        vg_jsonw_obj_end(&a.w);
        vg_reply_send(&a, r, 200);
    } else if (it->status == 0 && q->want_jpeg && it->res.jpeg) {
        /* the image is the answer; what was found rides in headers */
        vg_req_add_header(r, "X-Detection-Id", "%s", it->id);
        vg_req_add_header(r, "X-Detection-Count", "%zu", it->res.count);
        vg_req_respond(r, 200, "image/jpeg", it->res.jpeg, it->res.jpeg_len);
    } else if (it->status == 0) {
        vg_reply_init(&a);
        if (q->kind == SCENE)
            vg_render_scene(&a.w, &it->res, it->unstored);
        else if (IS_DEEPSTACK(q->kind))
            vg_render_deepstack(&a.w, &it->res, q->kind == DEEPSTACK_FACE, it->unstored);
        else
            render_detect(&a.w, it, q->opt.annotate);
        vg_reply_send(&a, r, 200);
    } else if (IS_DEEPSTACK(q->kind) && (it->status == VG_E_NOTIMAGE || it->status == VG_E_DECODE)) {
        /* DeepStack answers any image it cannot read 400, and its SDK reads only 400 as "Invalid image" */
        vg_req_error(r, 400, vg_err_code(it->status), "%s", q->kind == DEEPSTACK_FACE ? "invalid image"
                                                                                        : "invalid image file");
    } else {
        int st = vg_call_error_status(c, it);
        vg_req_error(r, st, vg_err_code(it->status), "%s", vg_call_item_message(it));
    }
    free(q);
}

/* ------------------------------------------------------------------ */
/* detection routes */

/*
 * The model a classification names none of: the default model when it
 * classifies, else the first ready classifier (in the models' order);
 * else the default, whose answer then says it does not classify.
 */
static void
pick_classifier(vg_pool *pool, char *model, size_t cap)
{
    vg_pool_model_stats s;
    const char *def = vg_pool_default_model(pool);
    if (def && vg_pool_model_stats_by_name(pool, def, &s) == 0 && s.task == VG_POOL_TASK_CLASSIFY)
        return;
    for (size_t i = 0; i < vg_pool_model_count(pool); i++)
        if (vg_pool_model_stats_at(pool, i, &s) == 0 && s.task == VG_POOL_TASK_CLASSIFY && !s.alias &&
            s.workers_ready > 0) {
            snprintf(model, cap, "%s", s.name);
            return;
        }
}


/* `model`: the route names the model (it wins over any model option), or NULL. */
static void
detect_common(vg_req *r, vg_detect_api *api, enum kind kind, const char *model)
{
    request *q = vg_xcalloc(1, sizeof *q);
    q->kind = kind;
    vg_detect_opts_init(&q->opt);
    if (IS_DEEPSTACK(kind))
        q->opt.min_confidence = DEEPSTACK_DEFAULT_CONFIDENCE;
    if (IS_CLASSIFY(kind))
        q->opt.min_confidence = 1e-6f;   /* a classification answers its k best, however unsure */
    q->max_images = kind == BATCH ? vg_server_config(api->srv)->max_batch : 1;
    /* an NVR calls DeepStack's routes for every motion: stored only when deepstack.store_history says so */
    q->store = api->history && vg_history_enabled(api->history) &&
               (!IS_DEEPSTACK(kind) || vg_server_config(api->srv)->deepstack_store_history);
    vg_str accept = vg_req_header(r, "accept");
    q->want_jpeg = (kind == DETECT || kind == CLASSIFY) && accept.p && memmem(accept.p, accept.n, "image/jpeg", 10) &&
                   !memmem(accept.p, accept.n, "application/json", 16);
    vg_call *c = vg_call_create(api->pool, r, &api->inflight);
    vg_call_set_lane(c, IS_DEEPSTACK(kind) ? VG_POOL_LANE_NVR : VG_POOL_LANE_BULK);
    vg_call_set_task(c, IS_CLASSIFY(kind) ? VG_POOL_TASK_CLASSIFY : VG_POOL_TASK_DETECT);
    char err[512] = "";
    int status = request_read(q, c, err, sizeof err);
    if (q->want_jpeg)
        q->opt.annotate = 1;
    if (model)
        snprintf(q->opt.model, sizeof q->opt.model, "%s", model);
    else if (IS_CLASSIFY(kind) && !q->opt.model[0])
        pick_classifier(api->pool, q->opt.model, sizeof q->opt.model);
    if (status) {
        vg_call_destroy(c);
        const char *code = status == 413 ? "payload_too_large" : "bad_request";
        vg_req_error(r, status, code, "%s", err);
        free(q);
        return;
    }
    if (q->store && api->history)
        vg_call_record(c, api->history, q->source[0] ? q->source : IS_DEEPSTACK(kind) ? "deepstack" : "http");
    vg_call_submit(c, q->opt.model, &q->opt, on_done, q);
}


static void
route_detect(vg_req *r, void *ud)
{
    detect_common(r, ud, DETECT, NULL);
}


static void
route_batch(vg_req *r, void *ud)
{
    detect_common(r, ud, BATCH, NULL);
}


static void
route_deepstack(vg_req *r, void *ud)
{
    detect_common(r, ud, DEEPSTACK, NULL);
}


/* A DeepStack feature on the model a config key names: off (403 `off`, as DeepStack's) while it names none. */
static void
deepstack_feature(vg_req *r, vg_detect_api *api, enum kind kind, const char *model, const char *off)
{
    if (!model || !model[0]) {
        vg_req_error(r, 403, "not_activated", "%s", off);
        return;
    }
    detect_common(r, api, kind, model);
}


/* DeepStack's face detection (no recognition), with deepstack.face_model. */
static void
route_deepstack_face(vg_req *r, void *ud)
{
    vg_detect_api *api = ud;
    deepstack_feature(r, api, DEEPSTACK_FACE, vg_server_config(api->srv)->deepstack_face_model, VG_DEEPSTACK_FACE_OFF);
}


static void
route_classify(vg_req *r, void *ud)
{
    detect_common(r, ud, CLASSIFY, NULL);
}


/* DeepStack's scene recognition: the classifier deepstack.scene_model. */
static void
route_scene(vg_req *r, void *ud)
{
    vg_detect_api *api = ud;
    deepstack_feature(r, api, SCENE, vg_server_config(api->srv)->deepstack_scene_model, VG_DEEPSTACK_SCENE_OFF);
}


/* DeepStack's custom models: /v1/vision/custom/{model} is /v1/vision/detection?model={model}. */
static void
route_deepstack_custom(vg_req *r, void *ud)
{
    vg_detect_api *api = ud;
    vg_str raw = vg_req_param(r, 0);
    vg_buf name;
    vg_buf_init(&name);
    if (vg_url_decode(raw.p, raw.n, &name, 0) < 0 || !vg_model_name_valid(vg_buf_cstr(&name))) {
        vg_buf_release(&name);
        vg_req_error(r, 400, "bad_request", "malformed model name");
        return;
    }
    detect_common(r, api, DEEPSTACK, name.data);
    vg_buf_release(&name);
}


vg_detect_api *
vg_detect_api_create(vg_http *http, vg_pool *pool, vg_history *history)
{
    vg_detect_api *api = vg_xcalloc(1, sizeof *api);
    api->srv = vg_http_server(http);
    api->pool = pool;
    api->history = history;
    const vg_config *cfg = vg_server_config(api->srv);
    /* the upload limit plus base64 and multipart overhead */
    size_t body_max = cfg->max_upload / 3 * 4 + 64 * 1024;
    size_t batch_max = body_max * (size_t)cfg->max_batch;
    vg_http_route(http, VG_M_POST, "/v1/detect", route_detect, api, body_max, VG_ACCESS_DETECT);
    vg_http_route(http, VG_M_POST, "/v1/detect/batch", route_batch, api, batch_max, VG_ACCESS_DETECT);
    /* DeepStack's clients send their key as the form field api_key */
    int ds = VG_ACCESS_DETECT | VG_ACCESS_FORM_KEY;
    vg_http_route(http, VG_M_POST, "/v1/vision/detection", route_deepstack, api, body_max, ds);
    vg_http_route(http, VG_M_POST, "/v1/vision/custom/{model}", route_deepstack_custom, api, body_max, ds);
    vg_http_route(http, VG_M_POST, "/v1/vision/face", route_deepstack_face, api, body_max, ds);
    /* classification: POST /v1/classify, and DeepStack's scene */
    vg_http_route(http, VG_M_POST, "/v1/classify", route_classify, api, body_max, VG_ACCESS_DETECT);
    vg_http_route(http, VG_M_POST, "/v1/vision/scene", route_scene, api, body_max, ds);
    vg_deepstack_api_register(http, body_max);
    vg_call_count_busy(api->srv, &api->inflight);
    return api;
}


void
vg_detect_api_destroy(vg_detect_api *api)
{
    free(api);
}
