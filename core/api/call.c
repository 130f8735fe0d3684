/* call: see call.h. */
#include "api/call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <jansson.h>

#include "auth/auth.h"
#include "base/base64.h"
#include "base/log.h"
#include "http/http.h"
#include "http/multipart.h"
#include "net/server.h"

/* Memory that images point into (the request body, a decoded image), freed with its last reader. */
struct vg_call_buf {
    void *data;
    int refs;
};

struct vg_call {
    vg_pool *pool;
    vg_req *req;                        /* NULL: not an HTTP call */
    int *inflight;                      /* counts this call while it lives; may be NULL */
    char id[33];
    vg_call_buf *body;                  /* the request body, once taken */
    vg_call_item *items;
    int nitems, pending;                /* pending: items not in yet, plus holds */
    char (*models)[VG_MODEL_NAME_MAX + 1];
    int nmodels;
    vg_call_done_fn done;
    void *ud;
    int lane;                           /* VG_POOL_LANE_*: where its jobs wait */
    int task;                           /* VG_POOL_TASK_* every result must be; -1: any */
    vg_history *history;                /* records the results; NULL: none */
    char source[129];
    uint64_t uid;                       /* the caller, for the records */
    char user[VG_DB_NAME_MAX + 1];
};

static void
buf_unref(void *ctx)
{
    vg_call_buf *b = ctx;
    if (--b->refs == 0) {
        free(b->data);
        free(b);
    }
}


static vg_call_buf *
buf_new(void *data)
{
    vg_call_buf *b = vg_xmalloc(sizeof *b);
    b->data = data;
    b->refs = 1;
    return b;
}


/* 32 random hex digits (a counter when the kernel has no randomness to give). */
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


vg_call *
vg_call_create(vg_pool *pool, vg_req *r, int *inflight)
{
    vg_call *c = vg_xcalloc(1, sizeof *c);
    c->pool = pool;
    c->req = r;
    c->inflight = inflight;
    c->task = -1;
    if (inflight)
        (*inflight)++;
    new_id(c->id);
    return c;
}


static int
hook_busy(vg_server *s, void *ud)
{
    (void)s;
    return *(int *)ud;
}


void
vg_call_count_busy(vg_server *srv, int *inflight)
{
    vg_server_hooks h;
    memset(&h, 0, sizeof h);
    h.busy = hook_busy;
    h.ud = inflight;
    vg_server_add_hooks(srv, &h);
}


void
vg_call_destroy(vg_call *c)
{
    for (int i = 0; i < c->nitems; i++) {
        vg_call_item *it = &c->items[i];
        free(it->res.jpeg);
        free(it->_mem);
        buf_unref(it->_buf);
    }
    free(c->items);
    free(c->models);
    if (c->body)
        buf_unref(c->body);
    if (c->inflight)
        (*c->inflight)--;
    free(c);
}

/* ------------------------------------------------------------------ */
/* intake */

int
vg_call_query(vg_req *r, const char *const *names,
              int (*option)(void *ud, const char *name, const char *value, char *err, size_t errlen), void *ud,
              char *err, size_t errlen)
{
    vg_buf v;
    vg_buf_init(&v);
    int rc = 0;
    for (size_t i = 0; names[i] && rc == 0; i++)
        if (vg_req_query_get(r, names[i], &v) == 0 && option(ud, names[i], v.data, err, errlen) < 0)
            rc = -1;
    vg_buf_release(&v);
    return rc;
}


char *
vg_call_take_body(vg_call *c, size_t *len)
{
    c->body = buf_new(vg_req_take_body(c->req, len));
    return c->body->data;
}


static void
add_item(vg_call *c, vg_call_buf *b, const void *image, size_t len)
{
    c->items = vg_xrealloc(c->items, (size_t)(c->nitems + 1) * sizeof *c->items);
    vg_call_item *it = &c->items[c->nitems++];
    memset(it, 0, sizeof *it);
    it->image = image;
    it->image_len = len;
    it->_buf = b;
    b->refs++;
    if (c->nitems == 1)
        memcpy(it->id, c->id, sizeof it->id);
    else
        new_id(it->id);
}


void
vg_call_add(vg_call *c, const void *image, size_t len)
{
    add_item(c, c->body, image, len);
}


void
vg_call_add_owned(vg_call *c, void *buf, size_t len)
{
    vg_call_buf *b = buf_new(buf);
    add_item(c, b, buf, len);
    buf_unref(b);   /* the item holds it */
}


ssize_t
vg_call_add_base64(vg_call *c, const char *s, size_t n, char *err, size_t errlen)
{
    /* tolerate data URLs: "data:image/jpeg;base64,...." */
    if (vg_base64_strip_data_url(&s, &n) < 0) {
        snprintf(err, errlen, "malformed data URL");
        return -1;
    }
    uint8_t *data;
    ssize_t len = vg_base64_decode_new(s, n, &data, VG_BASE64_STD);
    if (len < 0)
        snprintf(err, errlen, "the image is not valid base64");
    else
        vg_call_add_owned(c, data, (size_t)len);
    return len;
}


int
vg_call_count(const vg_call *c)
{
    return c->nitems;
}


vg_call_item *
vg_call_item_at(vg_call *c, int i)
{
    return &c->items[i];
}


static int
is_image_field(const vg_call_form *f, const char *name)
{
    for (int i = 0; f->image_fields[i]; i++)
        if (strcmp(name, f->image_fields[i]) == 0)
            return 1;
    return 0;
}


static int
read_form(vg_call *c, const vg_call_form *f, char *body, size_t len, const char *boundary, char *err, size_t errlen)
{
    vg_multipart *mp = vg_xmalloc(sizeof *mp);
    int status = 0;
    if (vg_multipart_parse(body, len, boundary, mp, err, errlen) < 0) {
        free(mp);
        return 400;
    }
    for (int i = 0; i < mp->count && !status; i++) {
        const vg_part *p = &mp->parts[i];
        if (is_image_field(f, p->name)) {
            if (c->nitems == f->max_images) {
                if (f->too_many)
                    snprintf(err, errlen, "%s", f->too_many);
                else
                    snprintf(err, errlen, "more than %d images", f->max_images);
                status = f->too_many_status ? f->too_many_status : 413;
                break;
            }
            vg_call_add(c, p->data, p->len);
        } else if (p->len < 1024) {
            char v[1024];
            memcpy(v, p->data, p->len);
            v[p->len] = '\0';
            if (f->option(f->ud, p->name, v, err, errlen) < 0)
                status = 400;
        }
    }
    free(mp);
    return status;
}


int
vg_call_read(vg_call *c, const vg_call_form *f, int *kind, char *err, size_t errlen)
{
    vg_str ct = vg_req_header(c->req, "content-type");
    size_t len;
    char *body = vg_call_take_body(c, &len);
    char boundary[VG_MULTIPART_MAX_BOUNDARY + 1];
    if (ct.p && vg_multipart_boundary(ct, boundary) == 0) {
        *kind = VG_CALL_MULTIPART;
        return read_form(c, f, body, len, boundary, err, errlen);
    }
    if (ct.p && ct.n >= 16 && strncasecmp(ct.p, "application/json", 16) == 0) {
        *kind = VG_CALL_JSON;
        json_error_t je;
        json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
        int status;
        if (!root || !json_is_object(root)) {
            snprintf(err, errlen, "malformed JSON body: %s", root ? "not an object" : je.text);
            status = 400;
        } else {
            status = f->json(f->ud, c, root, err, errlen);
        }
        json_decref(root);
        /* its images are decoded into buffers of their own: the text can go now */
        buf_unref(c->body);
        c->body = NULL;
        return status;
    }
    *kind = VG_CALL_RAW;
    if (len)
        vg_call_add(c, body, len);
    return 0;
}

/* ------------------------------------------------------------------ */
/* fan-out, records, the finish */

int
vg_call_add_model(vg_call *c, const char *name, int max)
{
    for (int i = 0; i < c->nmodels; i++)
        if (strcmp(c->models[i], name) == 0)
            return 0;
    if (c->nmodels >= max)
        return -1;
    c->models = vg_xrealloc(c->models, (size_t)(c->nmodels + 1) * sizeof *c->models);
    snprintf(c->models[c->nmodels++], sizeof c->models[0], "%s", name);
    return 1;
}


int
vg_call_model_count(const vg_call *c)
{
    return c->nmodels;
}


void
vg_call_record(vg_call *c, vg_history *h, const char *source)
{
    c->history = h;
    snprintf(c->source, sizeof c->source, "%s", source);
    vg_principal who;
    if (c->req && vg_auth_principal(c->req, &who)) {
        c->uid = who.uid;
        snprintf(c->user, sizeof c->user, "%s", who.name);
    }
}


vg_req *
vg_call_req(vg_call *c)
{
    return c->req;
}


const char *
vg_call_id(const vg_call *c)
{
    return c->id;
}


const char *
vg_call_item_message(const vg_call_item *it)
{
    return it->message && it->message[0] ? it->message : vg_err_str(it->status);
}


int
vg_call_error_status(vg_call *c, const vg_call_item *it)
{
    if (it->status == VG_E_QUEUEFULL && c->req)
        vg_req_add_header(c->req, "Retry-After", "%u", vg_pool_retry_after(c->pool, it->model));
    int st = vg_err_http_status(it->status);
    return st == 499 ? 400 : st;
}


static void
finish(vg_call *c)
{
    c->done(c, c->ud);
    vg_call_destroy(c);
}


/* The store committed (or refused) an item's record. */
static void
on_stored(int status, void *ud)
{
    vg_call_item *it = ud;
    vg_call *c = it->_call;
    it->_storing = 0;
    if (status != 0)
        it->unstored = 1;
    if (--c->pending == 0)
        finish(c);
}


static void
record(vg_call *c, vg_call_item *it)
{
    vg_history_rec rec = { .uid = c->uid, .user = c->user, .source = c->source };
    vg_call_history_rec(&rec, c->history, &it->res, it->image, it->image_len);
    if (vg_history_record(c->history, &rec, it->id, on_stored, it) == 0) {
        it->_storing = 1;
    } else {
        it->unstored = 1;
        vg_warn("history", "a detection was not stored: the store is busy or down");
    }
}


/*
 * Keeps a result until the answer: the labels belong to the model, which
 * may be unloaded before every item is in; the JPEG is taken from the pool.
 */
static void
keep_result(vg_call_item *it, vg_pool_result *res)
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
    it->_mem = mem;
    res->jpeg = NULL;   /* ours now */
}


static void
on_answer(int status, vg_pool_result *res, void *ud)
{
    vg_call_item *it = ud;
    vg_call *c = it->_call;
    it->_pending = 0;
    it->_preq = NULL;
    it->status = status;
    if (status == 0 && c->task >= 0 && res->task != c->task) {
        /* the model answered, but not what the route asks: refused, and never recorded */
        char msg[VG_MODEL_NAME_MAX + 96];
        snprintf(msg, sizeof msg, "model '%s' is a %s model: use POST %s", res->model ? res->model : "",
                 res->task == VG_POOL_TASK_CLASSIFY ? "classification" : "detection",
                 res->task == VG_POOL_TASK_CLASSIFY ? "/v1/classify" : "/v1/detect");
        it->status = VG_E_WRONGTASK;
        it->message = it->_mem = vg_xstrdup(msg);
    } else if (status == 0) {
        keep_result(it, res);
        if (c->history)
            record(c, it);
    } else {
        it->message = it->_mem = vg_xstrdup(res->message ? res->message : "");
    }
    if (it->_storing)
        return;   /* on_stored counts it once the record is durable */
    if (--c->pending == 0)
        finish(c);
}


static void
on_abort(vg_req *r, void *ud)
{
    (void)r;
    vg_call *c = ud;
    /* each cancel answers its item at once: hold the call until the loop is done */
    c->pending++;
    for (int i = 0; i < c->nitems; i++)
        if (c->items[i]._pending && c->items[i]._preq)
            vg_pool_cancel(c->items[i]._preq);
    if (--c->pending == 0)
        finish(c);
}


/* Every image once per model: image-major, models in the order added. */
static void
cross_models(vg_call *c)
{
    vg_call_item *old = c->items;
    int n = c->nitems;
    c->items = vg_xcalloc((size_t)(n * c->nmodels), sizeof *c->items);
    c->nitems = 0;
    for (int i = 0; i < n; i++)
        for (int m = 0; m < c->nmodels; m++) {
            vg_call_item *it = &c->items[c->nitems++];
            *it = old[i];
            old[i]._buf->refs++;
            snprintf(it->model, sizeof it->model, "%s", c->models[m]);
            if (c->nitems > 1)
                new_id(it->id);
        }
    for (int i = 0; i < n; i++)
        buf_unref(old[i]._buf);
    free(old);
}


void
vg_call_set_lane(vg_call *c, int lane)
{
    c->lane = lane;
}


void
vg_call_set_task(vg_call *c, int task)
{
    c->task = task;
}


void
vg_call_submit(vg_call *c, const char *model, const vg_detect_opts *opt, vg_call_done_fn done, void *ud)
{
    if (c->nmodels)
        cross_models(c);
    c->done = done;
    c->ud = ud;
    if (c->req)
        vg_req_on_abort(c->req, on_abort, c);
    /* one extra hold so that items answered during the loop cannot finish the call early */
    c->pending = c->nitems + 1;
    int annotate = c->history && vg_history_images(c->history) == VG_HIST_IMG_ANNOTATED;
    for (int i = 0; i < c->nitems; i++) {
        vg_call_item *it = &c->items[i];
        it->_call = c;
        if (!c->nmodels && model)
            snprintf(it->model, sizeof it->model, "%s", model);
        vg_pool_job job;
        vg_call_job_init(&job, opt, it->image, it->image_len, buf_unref, it->_buf);
        if (annotate)
            job.annotate = 1;   /* kept in the history; the answer has it only if asked */
        job.lane = c->lane;
        it->_buf->refs++;
        it->_pending = 1;
        char err[256] = "";
        int rc = vg_pool_submit(c->pool, it->model, &job, on_answer, it, &it->_preq, err, sizeof err);
        if (rc != 0) {
            it->_buf->refs--;   /* the pool did not take it */
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
/* one image, outside a call */

void
vg_call_job_init(vg_pool_job *job, const vg_detect_opts *opt, const void *image, size_t len,
                 void (*release)(void *ctx), void *ctx)
{
    memset(job, 0, sizeof *job);
    job->image = image;
    job->image_len = len;
    job->image_free = release;
    job->image_ctx = ctx;
    if (opt) {
        vg_detect_opts_apply(opt, job);
    } else {
        job->min_confidence = -1;
        job->nms = -1;
    }
}


void
vg_call_history_rec(vg_history_rec *rec, const vg_history *h, const vg_pool_result *res, const void *image,
                    size_t image_len)
{
    int keep = vg_history_images(h);
    int annotated = keep == VG_HIST_IMG_ANNOTATED && res->jpeg && res->jpeg_len;
    int original = keep == VG_HIST_IMG_ORIGINAL && image;
    *rec = (vg_history_rec){
        .uid = rec->uid, .user = rec->user, .source = rec->source,
        .model = res->model, .backend = res->backend, .width = res->width, .height = res->height,
        .dets = res->detections, .count = res->count, .task = res->task,
        .queue_us = res->queue_us, .decode_us = res->decode_us, .infer_us = res->infer_us,
        .post_us = res->post_us, .annotate_us = res->annotate_us, .total_us = res->total_us,
        .image = annotated ? res->jpeg : original ? image : NULL,
        .image_len = annotated ? res->jpeg_len : original ? image_len : 0,
    };
}
