/* detect_api: see detect_api.h. */
#include "api/detect_api.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <jansson.h>

#include "auth/auth.h"
#include "base/base64.h"
#include "base/error.h"
#include "api/detect_opts.h"
#include "api/render.h"
#include "api/history_api.h"
#include "http/http.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "base/metrics.h"
#include "pipeline/model.h"
#include "http/multipart.h"
#include "pool/pool.h"
#include "net/server.h"

#define DEEPSTACK_DEFAULT_CONFIDENCE 0.4f

struct vg_detect_api {
    vg_server *srv;
    vg_pool *pool;
    int inflight;                /* HTTP calls waiting for the pool */
    vg_history *history;         /* stores every detection; NULL: none */
};

enum call_kind { CALL_DETECT, CALL_BATCH, CALL_DEEPSTACK };

/* The request body, shared by the images cut out of it. */
typedef struct body_ref {
    char *data;
    int refs;
} body_ref;

typedef struct item {
    struct call *call;
    body_ref *ref;               /* holds the memory `image` points into */
    vg_pool_req *preq;           /* while pending */
    int pending;
    int status;                  /* 0 or a VG_E_* code */
    char *message;               /* status != 0: the pool's message ("" for none) */
    vg_pool_result res;          /* status == 0: the result, kept for the answer (its strings, detections
                                    and JPEG are the item's) */
    void *res_mem;               /* what res's strings and detections point into */
    const void *image;
    size_t image_len;
    char id[33];                 /* the detection's id */
    int storing;                 /* waiting for the store's commit */
    int unstored;                /* the record was not stored: the answer says "stored": false */
} item;

typedef vg_detect_opts options;

typedef struct call {
    vg_detect_api *api;
    vg_req *req;
    enum call_kind kind;
    options opt;
    body_ref *body;
    item *items;
    int nitems, pending;
    char id[33];
    int store;                   /* record in the history (history.store, or store=) */
    char source[129];            /* recorded source: a camera name, or the route's */
    uint64_t uid;                /* the caller, for the history */
    char user[72];
    int want_jpeg;               /* Accept: image/jpeg: the annotated image is the answer */
} call;

static void items_release(struct call *c);

/* ------------------------------------------------------------------ */
/* small helpers */

static void
body_unref(void *ctx)
{
    body_ref *b = ctx;
    if (--b->refs == 0) {
        free(b->data);
        free(b);
    }
}


static void
new_id(char out[33])
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        static uint64_t seq;
        memset(r, 0, sizeof r);
        uint64_t v = ++seq;
        memcpy(r, &v, sizeof v);
    }
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
}


static int
options_from_query(vg_req *r, options *o, char *err, size_t errlen)
{
    static const char *const names[] = { "model", "min_confidence", "threshold", "nms", "classes", "annotate" };
    vg_buf v;
    vg_buf_init(&v);
    int rc = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && rc == 0; i++)
        if (vg_req_query_get(r, names[i], &v) == 0)
            rc = vg_detect_opts_set(o, names[i], v.data, err, errlen) < 0 ? -1 : 0;
    vg_buf_release(&v);
    return rc;
}


/* The history's options ("store", "source"), then the detection options. */
static int
call_option(struct call *c, const char *name, const char *value, char *err, size_t errlen)
{
    if (strcmp(name, "store") == 0) {
        if (!strcasecmp(value, "true") || !strcmp(value, "1") || !strcasecmp(value, "yes"))
            c->store = 1;
        else if (!strcasecmp(value, "false") || !strcmp(value, "0") || !strcasecmp(value, "no"))
            c->store = 0;
        else {
            snprintf(err, errlen, "store must be true or false, not '%.32s'", value);
            return -1;
        }
        return 0;
    }
    if (strcmp(name, "source") == 0) {
        if (strlen(value) >= sizeof c->source) {
            snprintf(err, errlen, "source is longer than %zu bytes", sizeof c->source - 1);
            return -1;
        }
        snprintf(c->source, sizeof c->source, "%s", value);
        return 0;
    }
    return vg_detect_opts_set(&c->opt, name, value, err, errlen);
}


static void
error_json(vg_jsonw *w, int status, const char *message)
{
    vg_jsonw_key(w, "error");
    vg_jsonw_obj(w);
    vg_jsonw_key(w, "code");
    vg_jsonw_cstr(w, vg_err_code(status));
    vg_jsonw_key(w, "message");
    vg_jsonw_cstr(w, message && *message ? message : vg_err_str(status));
    vg_jsonw_obj_end(w);
}

/* ------------------------------------------------------------------ */
/* answers */

static void
render_detect(vg_jsonw *w, const item *it, int annotate)
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


static void
render_deepstack(vg_jsonw *w, const item *it)
{
    const vg_pool_result *res = &it->res;
    vg_render o;
    vg_render_text(&o, w);
    vg_jsonw_obj(w);
    vg_jsonw_kbool(w, "success", 1);
    vg_render_detections(&o, "predictions", res->detections, res->count, 0);
    vg_jsonw_kuint(w, "count", res->count);
    vg_jsonw_kuint(w, "inferenceMs", res->infer_us / 1000);
    vg_jsonw_kuint(w, "processMs", res->total_us / 1000);
    vg_jsonw_kuint(w, "duration", res->total_us / 1000);
    vg_jsonw_kstr(w, "moduleId", "vigia");
    vg_jsonw_kstr(w, "command", "detect");
    vg_jsonw_kint(w, "code", 200);
    if (it->unstored)
        vg_jsonw_kbool(w, "stored", 0);
    vg_jsonw_obj_end(w);
}


/* An item's answer as JSON: its detections, or its error (in a batch, in DeepStack's shape). */
static void
render_item(vg_buf *out, const call *c, const item *it)
{
    vg_jsonw w;
    vg_jsonw_init(&w, out);
    if (it->status == 0 && c->kind == CALL_DEEPSTACK) {
        render_deepstack(&w, it);
    } else if (it->status == 0) {
        render_detect(&w, it, c->opt.annotate);
    } else {
        vg_jsonw_obj(&w);
        if (c->kind == CALL_DEEPSTACK)
            vg_jsonw_kbool(&w, "success", 0);
        error_json(&w, it->status, it->message);
        vg_jsonw_obj_end(&w);
    }
}


/* Answers the HTTP request once every item is in (and stored): the one place answers are rendered; frees the call. */
static void
finish(call *c)
{
    vg_req *r = c->req;
    vg_detect_api *api = c->api;
    vg_buf out;
    vg_buf_init(&out);
    item *it = &c->items[0];
    if (c->kind == CALL_BATCH) {
        vg_buf_printf(&out, "{\"id\":\"%s\",\"count\":%d,\"results\":[", c->id, c->nitems);
        for (int i = 0; i < c->nitems; i++) {
            if (i)
                vg_buf_putc(&out, ',');
            render_item(&out, c, &c->items[i]);
        }
        vg_buf_puts(&out, "]}\n");
        vg_req_respond_buf(r, 200, "application/json", &out);
    } else if (it->status == 0 && c->want_jpeg && it->res.jpeg) {
        /* the image is the answer; what was found rides in headers */
        vg_req_add_header(r, "X-Detection-Id", "%s", it->id);
        vg_req_add_header(r, "X-Detection-Count", "%zu", it->res.count);
        vg_req_respond(r, 200, "image/jpeg", it->res.jpeg, it->res.jpeg_len);
    } else if (it->status == 0) {
        render_item(&out, c, it);
        vg_buf_putc(&out, '\n');
        vg_req_respond_buf(r, 200, "application/json", &out);
    } else {
        int st = vg_err_http_status(it->status);
        if (it->status == VG_E_QUEUEFULL)
            vg_req_add_header(r, "Retry-After", "%u", vg_pool_retry_after(api->pool, c->opt.model));
        if (c->kind == CALL_DEEPSTACK) {
            render_item(&out, c, it);
            vg_buf_putc(&out, '\n');
            vg_req_log_error(r, vg_err_code(it->status), "%s", vg_err_str(it->status));
            vg_req_respond_buf(r, st == 499 ? 400 : st, "application/json", &out);
        } else {
            vg_req_error(r, st == 499 ? 400 : st, vg_err_code(it->status), "%s",
                         it->message[0] ? it->message : vg_err_str(it->status));
        }
    }
    vg_buf_release(&out);
    items_release(c);
    if (c->body)
        body_unref(c->body);
    free(c);
    api->inflight--;
}


/* The store committed (or refused) an item's record: answer once every item is in. */
static void
on_stored(int status, void *ud)
{
    item *it = ud;
    call *c = it->call;
    it->storing = 0;
    if (status != 0)
        it->unstored = 1;
    if (--c->pending == 0)
        finish(c);
}


/* Sends an item's result to the history; its id becomes the stored record's. */
static void
record(item *it)
{
    call *c = it->call;
    const vg_pool_result *res = &it->res;
    vg_history *h = c->api->history;
    int keep = vg_history_images(h);
    vg_history_rec rec = {
        .uid = c->uid,
        .user = c->user,
        .source = c->source[0] ? c->source : c->kind == CALL_DEEPSTACK ? "deepstack" : "http",
        .model = res->model,
        .backend = res->backend,
        .width = res->width,
        .height = res->height,
        .dets = res->detections,
        .count = res->count,
        .queue_us = res->queue_us, .decode_us = res->decode_us, .infer_us = res->infer_us,
        .post_us = res->post_us, .annotate_us = res->annotate_us, .total_us = res->total_us,
    };
    if (keep == VG_HIST_IMG_ANNOTATED && res->jpeg && res->jpeg_len) {
        rec.image = res->jpeg;
        rec.image_len = res->jpeg_len;
    } else if (keep == VG_HIST_IMG_ORIGINAL) {
        rec.image = it->image;
        rec.image_len = it->image_len;
    }
    if (vg_history_record(h, &rec, it->id, on_stored, it) == 0) {
        it->storing = 1;
    } else {
        it->unstored = 1;
        vg_warn("history", "a detection was not stored: the store is busy or down");
    }
}


/*
 * Keeps a result until the answer: the labels belong to the model, which may
 * be unloaded while the record is stored; the JPEG is taken from the pool.
 */
static void
keep_result(item *it, vg_pool_result *res)
{
    const char *model = res->model ? res->model : "", *backend = res->backend ? res->backend : "";
    size_t ml = strlen(model) + 1, bl = strlen(backend) + 1, size = res->count * sizeof(vg_detection) + ml + bl;
    for (size_t i = 0; i < res->count; i++)
        size += strlen(res->detections[i].label) + 1;
    char *mem = vg_xmalloc(size);
    vg_detection *d = (vg_detection *)(void *)mem;
    char *p = mem + res->count * sizeof *d;
    it->res = *res;
    it->res.model = memcpy(p, model, ml);
    p += ml;
    it->res.backend = memcpy(p, backend, bl);
    p += bl;
    for (size_t i = 0; i < res->count; i++) {
        size_t l = strlen(res->detections[i].label) + 1;
        d[i] = res->detections[i];
        d[i].label = memcpy(p, res->detections[i].label, l);
        p += l;
    }
    it->res.detections = d;
    it->res.message = "";
    it->res_mem = mem;
    res->jpeg = NULL;   /* ours now */
}


static void
on_answer(int status, vg_pool_result *res, void *ud)
{
    item *it = ud;
    call *c = it->call;
    it->pending = 0;
    it->preq = NULL;
    it->status = status;
    if (status == 0) {
        keep_result(it, res);
        if (c->store && c->api->history)
            record(it);
    } else {
        it->message = vg_xstrdup(res->message ? res->message : "");
    }
    if (it->storing)
        return;   /* on_stored finishes once the record is durable */
    if (--c->pending == 0)
        finish(c);
}


static void
on_abort(vg_req *r, void *ud)
{
    (void)r;
    call *c = ud;
    /* each cancel fires on_answer now; hold the call open until the loop is done */
    c->pending++;
    for (int i = 0; i < c->nitems; i++)
        if (c->items[i].pending && c->items[i].preq)
            vg_pool_cancel(c->items[i].preq);
    if (--c->pending == 0)
        finish(c);
}


/* Queues every item; items refused at submit are answered at once. */
static void
submit_all(call *c)
{
    vg_detect_api *api = c->api;
    api->inflight++;
    c->pending = c->nitems;
    vg_req_on_abort(c->req, on_abort, c);
    /* one extra hold so that items answered during the loop cannot finish the call early */
    c->pending++;
    for (int i = 0; i < c->nitems; i++) {
        item *it = &c->items[i];
        it->call = c;
        vg_pool_job job;
        memset(&job, 0, sizeof job);
        job.image = it->image;
        job.image_len = it->image_len;
        job.image_free = body_unref;
        job.image_ctx = it->ref;
        it->ref->refs++;
        vg_detect_opts_apply(&c->opt, &job);
        if (c->store && api->history && vg_history_images(api->history) == VG_HIST_IMG_ANNOTATED)
            job.annotate = 1;   /* kept in the history; the answer has it only if asked */
        char err[256] = "";
        it->pending = 1;
        int rc = vg_pool_submit(api->pool, c->opt.model[0] ? c->opt.model : NULL, &job, on_answer, it,
                                &it->preq, err, sizeof err);
        if (rc != 0) {
            it->ref->refs--;   /* the pool did not take it */
            vg_pool_result res;
            memset(&res, 0, sizeof res);
            res.message = err;
            on_answer(rc, &res, it);
        }
    }
    if (--c->pending == 0)
        finish(c);
}

/* ------------------------------------------------------------------ */
/* request bodies */

static call *
call_new(vg_detect_api *api, vg_req *r, enum call_kind kind)
{
    call *c = vg_xcalloc(1, sizeof *c);
    c->api = api;
    c->req = r;
    c->kind = kind;
    vg_detect_opts_init(&c->opt);
    new_id(c->id);
    if (api->history) {
        vg_principal who;
        c->store = vg_history_enabled(api->history);
        if (vg_auth_principal(r, &who)) {
            c->uid = who.uid;
            snprintf(c->user, sizeof c->user, "%s", who.name);
        }
    }
    return c;
}


static void
call_free(call *c)
{
    items_release(c);
    if (c->body)
        body_unref(c->body);
    free(c);
}


static void
add_item(call *c, body_ref *ref, const void *image, size_t len)
{
    c->items = vg_xrealloc(c->items, (size_t)(c->nitems + 1) * sizeof *c->items);
    item *it = &c->items[c->nitems++];
    memset(it, 0, sizeof *it);
    it->ref = ref;
    ref->refs++;
    if (c->nitems == 1)
        memcpy(it->id, c->id, sizeof it->id);
    else
        new_id(it->id);
    it->image = image;
    it->image_len = len;
}


static void
items_release(call *c)
{
    for (int i = 0; i < c->nitems; i++) {
        free(c->items[i].res.jpeg);
        free(c->items[i].res_mem);
        free(c->items[i].message);
        if (c->items[i].ref)
            body_unref(c->items[i].ref);
    }
    free(c->items);
    c->items = NULL;
    c->nitems = 0;
}


static int
base64_item(call *c, const char *b64, size_t n, char *err, size_t errlen)
{
    /* tolerate data URLs: "data:image/jpeg;base64,...." */
    if (vg_base64_strip_data_url(&b64, &n) < 0) {
        snprintf(err, errlen, "malformed data URL");
        return -1;
    }
    uint8_t *data;
    ssize_t len = vg_base64_decode_new(b64, n, &data, VG_BASE64_STD);
    body_ref *ref = vg_xmalloc(sizeof *ref);
    ref->data = (char *)data;
    ref->refs = 1;
    if (len >= 0)
        add_item(c, ref, ref->data, (size_t)len);
    else
        snprintf(err, errlen, "the image is not valid base64");
    body_unref(ref);   /* the item holds it now, if it was added */
    return len >= 0 ? 0 : -1;
}


/* Fills the call's items and options from the request. 0, or an HTTP status with err set. */
static int
parse_request(call *c, vg_req *r, int max_items, char *err, size_t errlen)
{
    vg_str ct = vg_req_header(r, "content-type");
    vg_buf hv;
    vg_buf_init(&hv);
    int bad = (vg_req_query_get(r, "store", &hv) == 0 && call_option(c, "store", hv.data, err, errlen) < 0) ||
              (vg_req_query_get(r, "source", &hv) == 0 && call_option(c, "source", hv.data, err, errlen) < 0);
    vg_buf_release(&hv);
    if (bad || options_from_query(r, &c->opt, err, errlen) < 0)
        return 400;
    size_t len;
    char *body = vg_req_take_body(r, &len);
    c->body = vg_xmalloc(sizeof *c->body);
    c->body->data = body;
    c->body->refs = 1;
    char boundary[VG_MULTIPART_MAX_BOUNDARY + 1];

    if (ct.p && vg_multipart_boundary(ct, boundary) == 0) {
        vg_multipart *mp = vg_xmalloc(sizeof *mp);
        int status = 0;
        if (vg_multipart_parse(body, len, boundary, mp, err, errlen) < 0) {
            free(mp);
            return 400;
        }
        for (int i = 0; i < mp->count && !status; i++) {
            const vg_part *p = &mp->parts[i];
            if (strcmp(p->name, "image") == 0 || strcmp(p->name, "images") == 0 || strcmp(p->name, "file") == 0) {
                if (c->nitems == max_items) {
                    snprintf(err, errlen, "more than %d images", max_items);
                    status = 413;
                    break;
                }
                add_item(c, c->body, p->data, p->len);
            } else if (p->len < 1024) {
                char v[1024];
                memcpy(v, p->data, p->len);
                v[p->len] = '\0';
                if (call_option(c, p->name, v, err, errlen) < 0)
                    status = 400;
            }
        }
        free(mp);
        if (!status && c->nitems == 0) {
            snprintf(err, errlen, "no 'image' field in the form");
            status = 400;
        }
        return status;
    }
    if (ct.p && ct.n >= 16 && strncasecmp(ct.p, "application/json", 16) == 0) {
        json_error_t je;
        json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
        if (!root || !json_is_object(root)) {
            snprintf(err, errlen, "malformed JSON body: %s", root ? "not an object" : je.text);
            json_decref(root);
            return 400;
        }
        int status = vg_detect_opts_from_json(&c->opt, root, err, errlen) < 0 ? 400 : 0;
        static const char *const hist[] = { "store", "source" };
        for (int k = 0; k < 2 && !status; k++) {
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
            if (call_option(c, hist[k], sv, err, errlen) < 0)
                status = 400;
        }
        json_t *one = json_object_get(root, "image");
        json_t *many = json_object_get(root, "images");
        if (!status && one && json_is_string(one)) {
            status = base64_item(c, json_string_value(one), json_string_length(one), err, errlen) < 0 ? 400 : 0;
        } else if (!status && many && json_is_array(many)) {
            size_t i;
            json_t *e;
            json_array_foreach(many, i, e) {
                if ((int)i == max_items) {
                    snprintf(err, errlen, "more than %d images", max_items);
                    status = 413;
                    break;
                }
                if (!json_is_string(e) ||
                    base64_item(c, json_string_value(e), json_string_length(e), err, errlen) < 0) {
                    if (!json_is_string(e))
                        snprintf(err, errlen, "images[%zu] is not a base64 string", i);
                    status = 400;
                    break;
                }
            }
        }
        /* a batch may be empty; one image must be there ({"images": []} was answered with a crash) */
        if (!status && (c->kind == CALL_BATCH ? !(one && json_is_string(one)) && !(many && json_is_array(many))
                                              : c->nitems == 0)) {
            snprintf(err, errlen, "the JSON body needs \"image\": base64 string%s",
                     max_items > 1 ? " or \"images\": [...]" : "");
            status = 400;
        }
        json_decref(root);
        return status;
    }
    /* a raw image body */
    if (len == 0) {
        snprintf(err, errlen, "empty body: send the image as multipart field 'image', raw bytes or JSON");
        return 400;
    }
    add_item(c, c->body, body, len);
    return 0;
}

/* ------------------------------------------------------------------ */
/* detection routes */

/* `model`: the route names the model (it wins over any model option), or NULL. */
static void
detect_common(vg_req *r, vg_detect_api *api, enum call_kind kind, const char *model)
{
    call *c = call_new(api, r, kind);
    if (kind == CALL_DEEPSTACK)
        c->opt.min_confidence = DEEPSTACK_DEFAULT_CONFIDENCE;
    vg_str accept = vg_req_header(r, "accept");
    c->want_jpeg = kind == CALL_DETECT && accept.p && memmem(accept.p, accept.n, "image/jpeg", 10) &&
                   !memmem(accept.p, accept.n, "application/json", 16);
    char err[512] = "";
    int max = kind == CALL_BATCH ? vg_server_config(api->srv)->max_batch : 1;
    int status = parse_request(c, r, max, err, sizeof err);
    if (c->want_jpeg)
        c->opt.annotate = 1;
    if (model)
        snprintf(c->opt.model, sizeof c->opt.model, "%s", model);
    if (status) {
        call_free(c);
        const char *code = status == 413 ? "payload_too_large" : "bad_request";
        if (kind == CALL_DEEPSTACK) {
            vg_buf b;
            vg_buf_init(&b);
            vg_jsonw w;
            vg_jsonw_init(&w, &b);
            vg_jsonw_obj(&w);
            vg_jsonw_key(&w, "success");
            vg_jsonw_bool(&w, 0);
            vg_jsonw_key(&w, "error");
            vg_jsonw_obj(&w);
            vg_jsonw_key(&w, "code");
            vg_jsonw_cstr(&w, code);
            vg_jsonw_key(&w, "message");
            vg_jsonw_cstr(&w, err);
            vg_jsonw_obj_end(&w);
            vg_jsonw_obj_end(&w);
            vg_buf_putc(&b, '\n');
            vg_req_log_error(r, code, "%s", err);
            vg_req_respond_buf(r, status, "application/json", &b);
            vg_buf_release(&b);
            return;
        }
        vg_req_error(r, status, code, "%s", err);
        return;
    }
    submit_all(c);
}


static void
route_detect(vg_req *r, void *ud)
{
    detect_common(r, ud, CALL_DETECT, NULL);
}


static void
route_batch(vg_req *r, void *ud)
{
    detect_common(r, ud, CALL_BATCH, NULL);
}


static void
route_deepstack(vg_req *r, void *ud)
{
    detect_common(r, ud, CALL_DEEPSTACK, NULL);
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
    detect_common(r, api, CALL_DEEPSTACK, name.data);
    vg_buf_release(&name);
}

static int
hook_busy(vg_server *s, void *ud)
{
    (void)s;
    vg_detect_api *api = ud;
    return api->inflight;
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
    vg_http_route(http, VG_M_POST, "/v1/vision/detection", route_deepstack, api, body_max, VG_ACCESS_DETECT);
    vg_http_route(http, VG_M_POST, "/v1/vision/custom/{model}", route_deepstack_custom, api, body_max,
                  VG_ACCESS_DETECT);
    vg_server_hooks h;
    memset(&h, 0, sizeof h);
    h.busy = hook_busy;
    h.ud = api;
    vg_server_add_hooks(api->srv, &h);
    return api;
}


void
vg_detect_api_destroy(vg_detect_api *api)
{
    free(api);
}
