/* compare_api: see compare_api.h. */
#include "api/compare_api.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "auth/auth.h"
#include "base/base64.h"
#include "base/error.h"
#include "api/detect_opts.h"
#include "api/render.h"
#include "http/http.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "pipeline/model.h"
#include "base/mpk.h"
#include "http/multipart.h"
#include "pool/pool.h"
#include "net/server.h"
#include "store/store_client.h"
#include "store/store_read.h"

#define MAX_MODELS 64                 /* hard cap; compare.max_models is the configured one */

struct vg_compare_api {
    vg_server *srv;
    vg_pool *pool;
    vg_store *store;              /* NULL: no precision */
    int inflight;                 /* comparisons waiting for the pool */
};

/* The request body, shared by every model's job. */
typedef struct shared {
    char *data;
    int refs;
} shared;

/* One model's part of a comparison. */
typedef struct slot {
    struct ccall *call;
    char model[VG_MODEL_NAME_MAX + 1];
    char backend[32];
    vg_pool_req *preq;
    int pending;
    int status;                   /* 0 or a VG_E_* code */
    char message[256];
    vg_detection *dets;           /* labels point into `labels` */
    char *labels;                 /* the labels, NUL-separated */
    size_t n;
    int width, height;
    uint64_t queue_us, decode_us, infer_us, post_us, annotate_us, total_us;
    uint8_t *jpeg;
    size_t jpeg_len;
} slot;

typedef struct ccall {
    vg_compare_api *api;
    vg_req *req;
    shared *body;
    const char *image;            /* into body */
    size_t image_len;
    vg_detect_opts opt;
    double iou;
    int nslots, pending;
    slot slots[MAX_MODELS];
} ccall;


/* ------------------------------------------------------------------ */
/* geometry */

double
vg_compare_iou(const vg_detection *a, const vg_detection *b)
{
    double ix = fmin(a->x_max, b->x_max) - fmax(a->x_min, b->x_min) + 1;
    double iy = fmin(a->y_max, b->y_max) - fmax(a->y_min, b->y_min) + 1;
    if (ix <= 0 || iy <= 0)
        return 0;
    double inter = ix * iy;
    double aa = (double)(a->x_max - a->x_min + 1) * (a->y_max - a->y_min + 1);
    double ab = (double)(b->x_max - b->x_min + 1) * (b->y_max - b->y_min + 1);
    double uni = aa + ab - inter;
    return uni > 0 ? inter / uni : 0;
}


size_t
vg_compare_match(const vg_detection *a, size_t na, const vg_detection *b, size_t nb, double iou, double *iou_sum)
{
    /* both lists come sorted by confidence, highest first: a's best find their partner first */
    unsigned char used[VG_POST_MAX_DETECTIONS];
    size_t matched = 0;
    double sum = 0;
    if (nb > VG_POST_MAX_DETECTIONS)
        nb = VG_POST_MAX_DETECTIONS;
    memset(used, 0, nb);
    for (size_t i = 0; i < na; i++) {
        size_t best = nb;
        double best_iou = iou;
        for (size_t j = 0; j < nb; j++) {
            if (used[j] || strcmp(a[i].label, b[j].label) != 0)
                continue;
            double v = vg_compare_iou(&a[i], &b[j]);
            if (v >= best_iou) {
                best_iou = v;
                best = j;
            }
        }
        if (best < nb) {
            used[best] = 1;
            matched++;
            sum += best_iou;
        }
    }
    if (iou_sum)
        *iou_sum = sum;
    return matched;
}


/* ------------------------------------------------------------------ */
/* the comparison */

static void
shared_unref(void *p)
{
    shared *s = p;
    if (--s->refs == 0) {
        free(s->data);
        free(s);
    }
}


static void
call_free(ccall *c)
{
    for (int i = 0; i < c->nslots; i++) {
        free(c->slots[i].dets);
        free(c->slots[i].labels);
        free(c->slots[i].jpeg);
    }
    if (c->body)
        shared_unref(c->body);
    free(c);
}


static void
put_ms(vg_jsonw *w, const char *key, uint64_t us)
{
    vg_jsonw_key(w, key);
    vg_jsonw_double_prec(w, (double)us / 1000.0, 4);
}


static double
mean_confidence(const slot *s)
{
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->dets[i].confidence;
    return s->n ? sum / (double)s->n : 0;
}


static void
slot_json(vg_jsonw *w, const slot *s, int annotate)
{
    vg_jsonw_obj(w);
    vg_jsonw_key(w, "model");
    vg_jsonw_cstr(w, s->model);
    if (s->status != 0) {
        vg_jsonw_key(w, "error");
        vg_jsonw_obj(w);
        vg_jsonw_key(w, "code");
        vg_jsonw_cstr(w, vg_err_code(s->status));
        vg_jsonw_key(w, "status");
        vg_jsonw_int(w, vg_err_http_status(s->status));
        vg_jsonw_key(w, "message");
        vg_jsonw_cstr(w, s->message[0] ? s->message : vg_err_str(s->status));
        vg_jsonw_obj_end(w);
        vg_jsonw_obj_end(w);
        return;
    }
    vg_jsonw_key(w, "backend");
    vg_jsonw_cstr(w, s->backend);
    vg_jsonw_key(w, "count");
    vg_jsonw_uint(w, s->n);
    vg_jsonw_key(w, "confidence");
    vg_jsonw_obj(w);
    vg_jsonw_key(w, "max");
    vg_jsonw_double_prec(w, s->n ? s->dets[0].confidence : 0, 4);
    vg_jsonw_key(w, "mean");
    vg_jsonw_double_prec(w, mean_confidence(s), 4);
    vg_jsonw_obj_end(w);
    vg_render o;
    vg_render_text(&o, w);
    vg_pool_result t = { .queue_us = s->queue_us, .decode_us = s->decode_us, .infer_us = s->infer_us,
                         .post_us = s->post_us, .annotate_us = s->annotate_us, .total_us = s->total_us };
    vg_render_timings(&o, "latency_ms", &t);
    vg_render_detections(&o, "detections", s->dets, s->n, VG_DETJ_CLASS_ID | VG_DETJ_BOX);
    if (annotate && s->jpeg)
        vg_render_jpeg(&o, "annotated_jpeg", s->jpeg, s->jpeg_len);
    vg_jsonw_obj_end(w);
}


/* fastest, most confident, agreement by label and IoU */
static void
summary_json(vg_jsonw *w, const ccall *c)
{
    const slot *fastest = NULL, *fastest_infer = NULL, *confident = NULL, *most = NULL;
    int ok = 0;
    for (int i = 0; i < c->nslots; i++) {
        const slot *s = &c->slots[i];
        if (s->status != 0)
            continue;
        ok++;
        if (!fastest || s->total_us < fastest->total_us)
            fastest = s;
        if (!fastest_infer || s->infer_us < fastest_infer->infer_us)
            fastest_infer = s;
        if (s->n && (!confident || mean_confidence(s) > mean_confidence(confident)))
            confident = s;
        if (!most || s->n > most->n)
            most = s;
    }
    vg_jsonw_obj(w);
    vg_jsonw_key(w, "models_ok");
    vg_jsonw_int(w, ok);
    vg_jsonw_key(w, "fastest");
    if (fastest) {
        vg_jsonw_obj(w);
        vg_jsonw_key(w, "model");
        vg_jsonw_cstr(w, fastest->model);
        put_ms(w, "total_ms", fastest->total_us);
        vg_jsonw_obj_end(w);
    } else {
        vg_jsonw_null(w);
    }
    vg_jsonw_key(w, "fastest_inference");
    if (fastest_infer) {
        vg_jsonw_obj(w);
        vg_jsonw_key(w, "model");
        vg_jsonw_cstr(w, fastest_infer->model);
        put_ms(w, "infer_ms", fastest_infer->infer_us);
        vg_jsonw_obj_end(w);
    } else {
        vg_jsonw_null(w);
    }
    vg_jsonw_key(w, "most_confident");
    if (confident) {
        vg_jsonw_obj(w);
        vg_jsonw_key(w, "model");
        vg_jsonw_cstr(w, confident->model);
        vg_jsonw_key(w, "mean_confidence");
        vg_jsonw_double_prec(w, mean_confidence(confident), 4);
        vg_jsonw_obj_end(w);
    } else {
        vg_jsonw_null(w);
    }
    vg_jsonw_key(w, "most_detections");
    if (most) {
        vg_jsonw_obj(w);
        vg_jsonw_key(w, "model");
        vg_jsonw_cstr(w, most->model);
        vg_jsonw_key(w, "count");
        vg_jsonw_uint(w, most->n);
        vg_jsonw_obj_end(w);
    } else {
        vg_jsonw_null(w);
    }

    /* pairwise agreement: matched objects over the objects of both (Dice), mean IoU of the matches */
    vg_jsonw_key(w, "agreement");
    vg_jsonw_obj(w);
    vg_jsonw_key(w, "iou");
    vg_jsonw_double_prec(w, c->iou, 4);
    vg_jsonw_key(w, "pairs");
    vg_jsonw_arr(w);
    double score_sum = 0;
    int npairs = 0;
    for (int i = 0; i < c->nslots; i++)
        for (int j = i + 1; j < c->nslots; j++) {
            const slot *a = &c->slots[i], *b = &c->slots[j];
            if (a->status != 0 || b->status != 0)
                continue;
            double isum = 0;
            size_t m = vg_compare_match(a->dets, a->n, b->dets, b->n, c->iou, &isum);
            double score = a->n + b->n ? 2.0 * (double)m / (double)(a->n + b->n) : 1.0;
            score_sum += score;
            npairs++;
            vg_jsonw_obj(w);
            vg_jsonw_key(w, "models");
            vg_jsonw_arr(w);
            vg_jsonw_cstr(w, a->model);
            vg_jsonw_cstr(w, b->model);
            vg_jsonw_arr_end(w);
            vg_jsonw_key(w, "matched");
            vg_jsonw_uint(w, m);
            vg_jsonw_key(w, "only_first");
            vg_jsonw_uint(w, a->n - m);
            vg_jsonw_key(w, "only_second");
            vg_jsonw_uint(w, b->n - m);
            vg_jsonw_key(w, "score");
            vg_jsonw_double_prec(w, score, 4);
            vg_jsonw_key(w, "mean_iou");
            if (m)
                vg_jsonw_double_prec(w, isum / (double)m, 4);
            else
                vg_jsonw_null(w);
            vg_jsonw_obj_end(w);
        }
    vg_jsonw_arr_end(w);
    vg_jsonw_key(w, "mean_score");
    if (npairs)
        vg_jsonw_double_prec(w, score_sum / npairs, 4);
    else
        vg_jsonw_null(w);

    /* by label: how many objects each model saw, and which models agree that it is there */
    vg_jsonw_key(w, "labels");
    vg_jsonw_obj(w);
    const char *seen[512];
    int nseen = 0;
    for (int i = 0; i < c->nslots; i++)
        for (size_t k = 0; k < c->slots[i].n && c->slots[i].status == 0; k++) {
            const char *l = c->slots[i].dets[k].label;
            int dup = 0;
            for (int x = 0; x < nseen && !dup; x++)
                dup = strcmp(seen[x], l) == 0;
            if (!dup && nseen < 512)
                seen[nseen++] = l;
        }
    for (int x = 0; x < nseen; x++) {
        vg_jsonw_key(w, seen[x]);
        vg_jsonw_obj(w);
        int models_with = 0;
        for (int i = 0; i < c->nslots; i++) {
            const slot *s = &c->slots[i];
            if (s->status != 0)
                continue;
            unsigned cnt = 0;
            for (size_t k = 0; k < s->n; k++)
                cnt += strcmp(s->dets[k].label, seen[x]) == 0;
            models_with += cnt > 0;
            vg_jsonw_key(w, s->model);
            vg_jsonw_uint(w, cnt);
        }
        vg_jsonw_key(w, "models_agreeing");
        vg_jsonw_int(w, models_with);
        vg_jsonw_obj_end(w);
    }
    vg_jsonw_obj_end(w);
    vg_jsonw_obj_end(w);
    vg_jsonw_obj_end(w);
}


static void
finish(ccall *c)
{
    vg_req *r = c->req;
    vg_compare_api *api = c->api;
    int ok = 0;
    const slot *first_err = NULL;
    for (int i = 0; i < c->nslots; i++) {
        if (c->slots[i].status == 0)
            ok++;
        else if (!first_err)
            first_err = &c->slots[i];
    }
    if (!ok && first_err) {
        /* nothing to compare: the request fails as the first model did (a bad image fails them all) */
        int st = vg_err_http_status(first_err->status);
        if (first_err->status == VG_E_QUEUEFULL)
            vg_req_add_header(r, "Retry-After", "%u", vg_pool_retry_after(api->pool, first_err->model));
        vg_req_error(r, st == 499 ? 400 : st, vg_err_code(first_err->status), "%s: %s", first_err->model,
                     first_err->message[0] ? first_err->message : vg_err_str(first_err->status));
    } else {
        vg_buf b;
        vg_buf_init(&b);
        vg_jsonw w;
        vg_jsonw_init(&w, &b);
        vg_jsonw_obj(&w);
        int width = 0, height = 0;
        for (int i = 0; i < c->nslots && !width; i++)
            if (c->slots[i].status == 0) {
                width = c->slots[i].width;
                height = c->slots[i].height;
            }
        vg_jsonw_key(&w, "image");
        vg_jsonw_obj(&w);
        vg_jsonw_key(&w, "width");
        vg_jsonw_int(&w, width);
        vg_jsonw_key(&w, "height");
        vg_jsonw_int(&w, height);
        vg_jsonw_obj_end(&w);
        vg_jsonw_key(&w, "results");
        vg_jsonw_arr(&w);
        for (int i = 0; i < c->nslots; i++)
            slot_json(&w, &c->slots[i], c->opt.annotate);
        vg_jsonw_arr_end(&w);
        vg_jsonw_key(&w, "summary");
        summary_json(&w, c);
        vg_jsonw_obj_end(&w);
        vg_buf_putc(&b, '\n');
        vg_req_respond_buf(r, 200, "application/json", &b);
        vg_buf_release(&b);
    }
    call_free(c);
    api->inflight--;
}


static void
on_answer(int status, vg_pool_result *res, void *ud)
{
    slot *s = ud;
    ccall *c = s->call;
    s->pending = 0;
    s->preq = NULL;
    s->status = status;
    snprintf(s->message, sizeof s->message, "%s", res->message ? res->message : "");
    snprintf(s->backend, sizeof s->backend, "%s", res->backend ? res->backend : "");
    s->width = res->width;
    s->height = res->height;
    s->queue_us = res->queue_us;
    s->decode_us = res->decode_us;
    s->infer_us = res->infer_us;
    s->post_us = res->post_us;
    s->annotate_us = res->annotate_us;
    s->total_us = res->total_us;
    if (status == 0 && res->count) {
        /* the labels belong to the model, which may be unloaded before we answer: copy them */
        size_t lsize = 0;
        for (size_t i = 0; i < res->count; i++)
            lsize += strlen(res->detections[i].label) + 1;
        s->dets = vg_xmalloc(res->count * sizeof *s->dets);
        s->labels = vg_xmalloc(lsize);
        char *p = s->labels;
        for (size_t i = 0; i < res->count; i++) {
            s->dets[i] = res->detections[i];
            size_t l = strlen(res->detections[i].label) + 1;
            memcpy(p, res->detections[i].label, l);
            s->dets[i].label = p;
            p += l;
        }
        s->n = res->count;
    }
    if (status == 0 && res->jpeg) {
        s->jpeg = res->jpeg;
        s->jpeg_len = res->jpeg_len;
        res->jpeg = NULL;
    }
    if (--c->pending == 0)
        finish(c);
}


static void
on_abort(vg_req *r, void *ud)
{
    (void)r;
    ccall *c = ud;
    c->pending++;   /* each cancel answers at once: keep the call until the loop is done */
    for (int i = 0; i < c->nslots; i++)
        if (c->slots[i].pending && c->slots[i].preq)
            vg_pool_cancel(c->slots[i].preq);
    if (--c->pending == 0)
        finish(c);
}


static void
submit_all(ccall *c)
{
    vg_compare_api *api = c->api;
    api->inflight++;
    vg_req_on_abort(c->req, on_abort, c);
    c->pending = c->nslots + 1;   /* one hold while submitting */
    for (int i = 0; i < c->nslots; i++) {
        slot *s = &c->slots[i];
        s->call = c;
        vg_pool_job job;
        memset(&job, 0, sizeof job);
        job.image = c->image;
        job.image_len = c->image_len;
        job.image_free = shared_unref;
        job.image_ctx = c->body;
        vg_detect_opts_apply(&c->opt, &job);
        c->body->refs++;
        s->pending = 1;
        char err[256] = "";
        int rc = vg_pool_submit(api->pool, s->model, &job, on_answer, s, &s->preq, err, sizeof err);
        if (rc != 0) {
            c->body->refs--;
            vg_pool_result res;
            memset(&res, 0, sizeof res);
            res.message = err;
            on_answer(rc, &res, s);
        }
    }
    if (--c->pending == 0)
        finish(c);
}


/* Adds the comma-separated names of `list` to the call; -1 with err on a bad name or too many. */
static int
add_models(ccall *c, const char *list, int max, char *err, size_t errlen)
{
    const char *p = list;
    while (*p) {
        while (*p == ',' || *p == ' ')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        size_t n = (size_t)(e - p);
        char name[VG_MODEL_NAME_MAX + 1];
        if (n > VG_MODEL_NAME_MAX) {
            snprintf(err, errlen, "model name '%.*s...' is too long", 32, p);
            return -1;
        }
        memcpy(name, p, n);
        name[n] = '\0';
        if (!vg_model_name_valid(name)) {
            snprintf(err, errlen, "malformed model name '%s'", name);
            return -1;
        }
        int dup = 0;
        for (int i = 0; i < c->nslots && !dup; i++)
            dup = strcmp(c->slots[i].model, name) == 0;
        if (!dup) {
            if (c->nslots >= max) {
                snprintf(err, errlen, "at most %d models can be compared at once", max);
                return -1;
            }
            snprintf(c->slots[c->nslots++].model, sizeof c->slots[0].model, "%s", name);
        }
        p = e;
    }
    return 0;
}


/* One option (iou, or a detection option); -1 with err when bad. Unknown names are ignored. */
static int
set_option(ccall *c, const char *name, const char *value, char *err, size_t errlen)
{
    if (strcmp(name, "iou") == 0) {
        char *end;
        double v = strtod(value, &end);
        if (end == value || *end || !(v > 0 && v <= 1)) {
            snprintf(err, errlen, "iou must be in (0, 1], not '%.32s'", value);
            return -1;
        }
        c->iou = v;
        return 0;
    }
    if (strcmp(name, "model") == 0)
        return 0;   /* a comparison names models= */
    return vg_detect_opts_set(&c->opt, name, value, err, errlen) < 0 ? -1 : 0;
}


static int
base64_image(ccall *c, const char *b64, size_t n, char *err, size_t errlen)
{
    if (vg_base64_strip_data_url(&b64, &n) < 0) {
        snprintf(err, errlen, "malformed data URL");
        return -1;
    }
    uint8_t *data;
    ssize_t len = vg_base64_decode_new(b64, n, &data, VG_BASE64_STD);
    if (len < 0) {
        snprintf(err, errlen, "the image is not valid base64");
        return -1;
    }
    free(c->body->data);
    c->body->data = (char *)data;
    c->image = (char *)data;
    c->image_len = (size_t)len;
    return 0;
}


/* Reads image, models and options. 0, or an HTTP status with err set. */
static int
parse_request(ccall *c, vg_req *r, char *err, size_t errlen)
{
    int max = vg_server_config(c->api->srv)->compare_max_models;
    if (max > MAX_MODELS)
        max = MAX_MODELS;
    vg_buf v;
    vg_buf_init(&v);
    static const char *const names[] = { "iou", "min_confidence", "threshold", "nms", "classes", "annotate" };
    int status = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !status; i++)
        if (vg_req_query_get(r, names[i], &v) == 0 && set_option(c, names[i], v.data, err, errlen) < 0)
            status = 400;
    if (!status && vg_req_query_get(r, "models", &v) == 0 && add_models(c, v.data, max, err, errlen) < 0)
        status = 400;
    vg_buf_release(&v);
    if (status)
        return status;

    size_t len;
    c->body = vg_xcalloc(1, sizeof *c->body);
    c->body->refs = 1;
    c->body->data = vg_req_take_body(r, &len);
    vg_str ct = vg_req_header(r, "content-type");
    char boundary[VG_MULTIPART_MAX_BOUNDARY + 1];
    if (ct.p && vg_multipart_boundary(ct, boundary) == 0) {
        vg_multipart *mp = vg_xmalloc(sizeof *mp);
        if (vg_multipart_parse(c->body->data, len, boundary, mp, err, errlen) < 0) {
            free(mp);
            return 400;
        }
        for (int i = 0; i < mp->count && !status; i++) {
            const vg_part *p = &mp->parts[i];
            if (!strcmp(p->name, "image") || !strcmp(p->name, "file")) {
                if (c->image) {
                    snprintf(err, errlen, "a comparison takes one image");
                    status = 400;
                }
                c->image = p->data;
                c->image_len = p->len;
            } else if (p->len < 1024) {
                char val[1024];
                memcpy(val, p->data, p->len);
                val[p->len] = '\0';
                if (!strcmp(p->name, "models") ? add_models(c, val, max, err, errlen) < 0
                                               : set_option(c, p->name, val, err, errlen) < 0)
                    status = 400;
            }
        }
        free(mp);
    } else if (ct.p && ct.n >= 16 && strncasecmp(ct.p, "application/json", 16) == 0) {
        json_error_t je;
        json_t *root = json_loadb(c->body->data, len, JSON_REJECT_DUPLICATES, &je);
        if (!root || !json_is_object(root)) {
            snprintf(err, errlen, "malformed JSON body: %s", root ? "not an object" : je.text);
            json_decref(root);
            return 400;
        }
        const char *key;
        json_t *jv;
        json_object_foreach(root, key, jv) {
            char sv[1024];
            if (status)
                break;
            if (!strcmp(key, "image")) {
                if (!json_is_string(jv)) {
                    snprintf(err, errlen, "\"image\" must be a base64 string");
                    status = 400;
                }
                continue;   /* decoded below, once the other members are read */
            }
            if (!strcmp(key, "models") || !strcmp(key, "classes")) {
                if (json_is_array(jv)) {
                    size_t o = 0, i;
                    json_t *e;
                    sv[0] = '\0';
                    json_array_foreach(jv, i, e) {
                        if (!json_is_string(e) || o + json_string_length(e) + 2 > sizeof sv) {
                            snprintf(err, errlen, "\"%s\" must be a short list of names", key);
                            status = 400;
                            break;
                        }
                        o += (size_t)snprintf(sv + o, sizeof sv - o, "%s%s", o ? "," : "", json_string_value(e));
                    }
                    if (status)
                        break;
                } else if (json_is_string(jv) && json_string_length(jv) < sizeof sv) {
                    snprintf(sv, sizeof sv, "%s", json_string_value(jv));
                } else {
                    snprintf(err, errlen, "\"%s\" must be a list of names", key);
                    status = 400;
                    break;
                }
            } else if (json_is_string(jv) && json_string_length(jv) < sizeof sv) {
                snprintf(sv, sizeof sv, "%s", json_string_value(jv));
            } else if (json_is_number(jv)) {
                snprintf(sv, sizeof sv, "%.9g", json_number_value(jv));
            } else if (json_is_boolean(jv)) {
                snprintf(sv, sizeof sv, "%s", json_is_true(jv) ? "true" : "false");
            } else {
                continue;
            }
            if (!strcmp(key, "models") ? add_models(c, sv, max, err, errlen) < 0
                                       : set_option(c, key, sv, err, errlen) < 0)
                status = 400;
        }
        json_t *img = json_object_get(root, "image");
        if (!status && json_is_string(img) &&
            base64_image(c, json_string_value(img), json_string_length(img), err, errlen) < 0)
            status = 400;
        json_decref(root);
    } else if (len) {
        c->image = c->body->data;   /* a raw image body */
        c->image_len = len;
    }
    if (status)
        return status;
    if (!c->image || !c->image_len) {
        snprintf(err, errlen, "no image: send a multipart field 'image', JSON {\"image\": base64}, or the image as the body");
        return 400;
    }
    if (c->nslots == 0) {
        /* every loaded model */
        size_t n = vg_pool_model_count(c->api->pool);
        for (size_t i = 0; i < n && c->nslots < max; i++) {
            vg_pool_model_stats st;
            if (vg_pool_model_stats_at(c->api->pool, i, &st) == 0 && strcmp(st.state, "unloaded") != 0 &&
                strcmp(st.state, "invalid") != 0 && strcmp(st.state, "unloading") != 0)
                snprintf(c->slots[c->nslots++].model, sizeof c->slots[0].model, "%s", st.name);
        }
        if (c->nslots == 0) {
            snprintf(err, errlen, "no model is loaded");
            return 503;
        }
    }
    return 0;
}


static void
route_compare(vg_req *r, void *ud)
{
    vg_compare_api *api = ud;
    ccall *c = vg_xcalloc(1, sizeof *c);
    c->api = api;
    c->req = r;
    c->iou = vg_server_config(api->srv)->compare_iou;
    vg_detect_opts_init(&c->opt);
    char err[512] = "";
    int status = parse_request(c, r, err, sizeof err);
    if (status) {
        vg_req_error(r, status, status == 503 ? "model_unavailable" : "bad_request", "%s", err);
        call_free(c);
        return;
    }
    submit_all(c);
}


/* ------------------------------------------------------------------ */
/* GET /v1/models/{name}/stats */

typedef struct label_prec {
    char label[VG_DB_LABEL_MAX + 1];
    uint64_t correct, incorrect;
} label_prec;

typedef struct precision {
    uint64_t scanned;              /* feedback records read */
    uint64_t correct, incorrect;   /* on this model's detections, latest verdict per detection */
    uint64_t corrected;            /* incorrect ones that named the right label */
    int nlabels;
    label_prec labels[64];
    int available;                 /* the store could be read */
} precision;


/* A small open-addressing set of detection keys: the newest verdict per detection counts. */
typedef struct keyset {
    uint8_t (*keys)[16];
    unsigned char *used;
    size_t cap;
} keyset;


static int
keyset_add(keyset *s, const uint8_t k[16])
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ k[i]) * 1099511628211ull;
    for (size_t i = h % s->cap;; i = (i + 1) % s->cap) {
        if (!s->used[i]) {
            s->used[i] = 1;
            memcpy(s->keys[i], k, 16);
            return 1;
        }
        if (memcmp(s->keys[i], k, 16) == 0)
            return 0;
    }
}


/* The state of one precision scan. */
typedef struct prec_scan {
    precision *pr;
    const char *model;
    size_t mlen;
    keyset seen;
    int verdict, has_label;        /* of the feedback whose detection is being read */
} prec_scan;


/*
 * A feedback record, newest first: 1 to read its detection when it gives a
 * verdict and is the newest one on that detection. A corrected label
 * without a verdict says the detection was wrong.
 */
static int
scan_feedback(const vg_feedback_view *f, void *ud)
{
    prec_scan *sc = ud;
    sc->has_label = f->label.p && f->label.n;
    sc->verdict = f->correct >= 0 ? f->correct : sc->has_label ? 0 : -1;
    return sc->verdict >= 0 && keyset_add(&sc->seen, f->det);
}


/* The detection of a counted verdict: counts it when it is this model's. */
static void
scan_detection(const vg_det_view *view, void *ud)
{
    prec_scan *sc = ud;
    precision *pr = sc->pr;
    int verdict = sc->verdict;
    if (view->model.n != sc->mlen || memcmp(view->model.p, sc->model, sc->mlen) != 0)
        return;
    if (verdict)
        pr->correct++;
    else
        pr->incorrect++;
    pr->corrected += !verdict && sc->has_label;
    for (uint32_t l = 0; l < view->nlabels; l++) {
        int at = -1;
        for (int x = 0; x < pr->nlabels && at < 0; x++)
            if (strlen(pr->labels[x].label) == view->labels[l].n &&
                memcmp(pr->labels[x].label, view->labels[l].p, view->labels[l].n) == 0)
                at = x;
        if (at < 0 && pr->nlabels < (int)(sizeof pr->labels / sizeof pr->labels[0]) &&
            view->labels[l].n <= VG_DB_LABEL_MAX) {
            at = pr->nlabels++;
            memcpy(pr->labels[at].label, view->labels[l].p, view->labels[l].n);
            pr->labels[at].label[view->labels[l].n] = '\0';
        }
        if (at >= 0) {
            if (verdict)
                pr->labels[at].correct++;
            else
                pr->labels[at].incorrect++;
        }
    }
}


static void
scan_precision(vg_compare_api *api, const char *model, precision *pr)
{
    memset(pr, 0, sizeof *pr);
    int window = vg_server_config(api->srv)->compare_feedback_window;
    if (!api->store || window <= 0)
        return;
    prec_scan sc = { pr, model, strlen(model),
                     { vg_xcalloc((size_t)window * 2, 16), vg_xcalloc((size_t)window * 2, 1), (size_t)window * 2 },
                     0, 0 };
    size_t walked;
    if (vg_store_feedback_scan(api->store, (size_t)window, scan_feedback, scan_detection, &sc, &walked) == 0) {
        pr->available = 1;
        pr->scanned = walked;
    }
    free(sc.seen.keys);
    free(sc.seen.used);
}


/* The Wilson score interval at 95 % for k successes in n trials. */
static void
wilson(uint64_t k, uint64_t n, double *lo, double *hi)
{
    const double z = 1.959964;
    double p = (double)k / (double)n, nn = (double)n;
    double den = 1 + z * z / nn;
    double mid = (p + z * z / (2 * nn)) / den;
    double half = z * sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / den;
    *lo = fmax(0, mid - half);
    *hi = fmin(1, mid + half);
}


static void
precision_json(vg_jsonw *w, uint64_t correct, uint64_t incorrect)
{
    uint64_t n = correct + incorrect;
    vg_jsonw_key(w, "correct");
    vg_jsonw_uint(w, correct);
    vg_jsonw_key(w, "incorrect");
    vg_jsonw_uint(w, incorrect);
    vg_jsonw_key(w, "precision");
    if (n)
        vg_jsonw_double_prec(w, (double)correct / (double)n, 4);
    else
        vg_jsonw_null(w);
    vg_jsonw_key(w, "ci95");
    if (n) {
        double lo, hi;
        wilson(correct, n, &lo, &hi);
        vg_jsonw_arr(w);
        vg_jsonw_double_prec(w, lo, 4);
        vg_jsonw_double_prec(w, hi, 4);
        vg_jsonw_arr_end(w);
    } else {
        vg_jsonw_null(w);
    }
}


static void
route_stats(vg_req *r, void *ud)
{
    vg_compare_api *api = ud;
    vg_str raw = vg_req_param(r, 0);
    vg_buf nb;
    vg_buf_init(&nb);
    char name[VG_MODEL_NAME_MAX + 1];
    int ok = vg_url_decode(raw.p, raw.n, &nb, 0) == 0 && nb.len < sizeof name && vg_model_name_valid(vg_buf_cstr(&nb));
    if (ok)
        memcpy(name, nb.data, nb.len + 1);
    vg_buf_release(&nb);
    if (!ok) {
        vg_req_error(r, 400, "bad_request", "malformed model name");
        return;
    }
    vg_pool_model_stats *m = vg_xmalloc(sizeof *m);
    if (vg_pool_model_stats_by_name(api->pool, name, m) != 0) {
        free(m);
        vg_req_error(r, 404, "no_such_model", "no model named '%s'", name);
        return;
    }
    precision *pr = vg_xmalloc(sizeof *pr);
    scan_precision(api, name, pr);

    vg_buf b;
    vg_buf_init(&b);
    vg_jsonw w;
    vg_jsonw_init(&w, &b);
    vg_jsonw_obj(&w);
    vg_jsonw_key(&w, "model");
    vg_jsonw_cstr(&w, m->name);
    vg_jsonw_key(&w, "state");
    vg_jsonw_cstr(&w, m->state);
    vg_jsonw_key(&w, "backend");
    vg_jsonw_cstr(&w, m->backend);
    vg_jsonw_key(&w, "device");
    vg_jsonw_cstr(&w, m->device);

    vg_jsonw_key(&w, "latency_ms");
    vg_jsonw_obj(&w);
    const char *ln[] = { "p50", "p90", "p99", "infer_p50", "infer_p90", "infer_p99" };
    double lv[] = { m->p50_ms, m->p90_ms, m->p99_ms, m->infer_p50_ms, m->infer_p90_ms, m->infer_p99_ms };
    for (int i = 0; i < 6; i++) {
        vg_jsonw_key(&w, ln[i]);
        vg_jsonw_double_prec(&w, lv[i], 4);
    }
    vg_jsonw_key(&w, "histogram");
    vg_jsonw_arr(&w);
    uint64_t answered = 0;
    for (int i = 0; i < VG_POOL_HIST_BUCKETS; i++) {
        answered += m->hist[i];
        vg_jsonw_obj(&w);
        vg_jsonw_key(&w, "le");
        if (isfinite(vg_pool_hist_bounds_ms[i]))
            vg_jsonw_double(&w, vg_pool_hist_bounds_ms[i]);
        else
            vg_jsonw_cstr(&w, "+Inf");
        vg_jsonw_key(&w, "count");
        vg_jsonw_uint(&w, m->hist[i]);
        vg_jsonw_obj_end(&w);
    }
    vg_jsonw_arr_end(&w);
    vg_jsonw_key(&w, "mean");
    vg_jsonw_double_prec(&w, answered ? m->hist_sum_ms / (double)answered : 0, 4);
    vg_jsonw_obj_end(&w);

    vg_jsonw_key(&w, "throughput");
    vg_jsonw_obj(&w);
    vg_jsonw_key(&w, "answers_per_s");
    vg_jsonw_double_prec(&w, m->answers_per_s, 4);
    vg_jsonw_key(&w, "capacity_per_s");
    /* what the ready workers could do at the median inference time, batches aside */
    if (m->infer_p50_ms > 0)
        vg_jsonw_double_prec(&w, m->workers_ready * 1000.0 / m->infer_p50_ms, 4);
    else
        vg_jsonw_null(&w);
    vg_jsonw_key(&w, "workers_ready");
    vg_jsonw_uint(&w, m->workers_ready);
    vg_jsonw_key(&w, "queue_depth");
    vg_jsonw_uint(&w, m->queue_depth);
    vg_jsonw_key(&w, "jobs");
    vg_jsonw_obj(&w);
    const char *jn[] = { "ok", "failed", "rejected", "timed_out", "retried" };
    uint64_t jv[] = { m->jobs_ok, m->jobs_failed, m->jobs_rejected, m->jobs_timedout, m->jobs_retried };
    for (int i = 0; i < 5; i++) {
        vg_jsonw_key(&w, jn[i]);
        vg_jsonw_uint(&w, jv[i]);
    }
    vg_jsonw_obj_end(&w);
    vg_jsonw_obj_end(&w);

    vg_jsonw_key(&w, "batching");
    vg_jsonw_obj(&w);
    vg_jsonw_key(&w, "max_batch");
    vg_jsonw_uint(&w, m->max_batch);
    vg_jsonw_key(&w, "backend_batch");
    vg_jsonw_uint(&w, m->backend_batch);
    vg_jsonw_key(&w, "max_queue_delay_us");
    vg_jsonw_uint(&w, m->max_queue_delay_us);
    vg_jsonw_key(&w, "batches");
    vg_jsonw_uint(&w, m->batches);
    vg_jsonw_key(&w, "mean_size");
    vg_jsonw_double_prec(&w, m->batches ? (double)m->batched_jobs / (double)m->batches : 0, 4);
    vg_jsonw_key(&w, "sizes");
    vg_jsonw_obj(&w);
    for (int i = 1; i <= VG_POOL_MAX_BATCH; i++)
        if (m->batch_sizes[i]) {
            char k[8];
            snprintf(k, sizeof k, "%d", i);
            vg_jsonw_key(&w, k);
            vg_jsonw_uint(&w, m->batch_sizes[i]);
        }
    vg_jsonw_obj_end(&w);
    vg_jsonw_obj_end(&w);

    vg_jsonw_key(&w, "accuracy");
    vg_jsonw_obj(&w);
    vg_jsonw_key(&w, "source");
    vg_jsonw_cstr(&w, pr->available ? "feedback" : "unavailable");
    vg_jsonw_key(&w, "feedback_scanned");
    vg_jsonw_uint(&w, pr->scanned);
    vg_jsonw_key(&w, "rated_detections");
    vg_jsonw_uint(&w, pr->correct + pr->incorrect);
    precision_json(&w, pr->correct, pr->incorrect);
    vg_jsonw_key(&w, "relabelled");
    vg_jsonw_uint(&w, pr->corrected);
    vg_jsonw_key(&w, "by_label");
    vg_jsonw_obj(&w);
    for (int i = 0; i < pr->nlabels; i++) {
        vg_jsonw_key(&w, pr->labels[i].label);
        vg_jsonw_obj(&w);
        precision_json(&w, pr->labels[i].correct, pr->labels[i].incorrect);
        vg_jsonw_obj_end(&w);
    }
    vg_jsonw_obj_end(&w);
    vg_jsonw_obj_end(&w);
    vg_jsonw_obj_end(&w);
    vg_buf_putc(&b, '\n');
    vg_req_respond_buf(r, 200, "application/json", &b);
    vg_buf_release(&b);
    free(pr);
    free(m);
}


/* ------------------------------------------------------------------ */

static int
hook_busy(vg_server *s, void *ud)
{
    (void)s;
    return ((vg_compare_api *)ud)->inflight;
}


vg_compare_api *
vg_compare_api_create(vg_http *http, vg_pool *pool, vg_store *store)
{
    vg_compare_api *api = vg_xcalloc(1, sizeof *api);
    vg_server *srv = vg_http_server(http);
    api->srv = srv;
    api->pool = pool;
    api->store = store;
    size_t body_max = vg_server_config(srv)->max_upload / 3 * 4 + 64 * 1024;
    vg_http_route(http, VG_M_POST, "/v1/compare", route_compare, api, body_max, VG_ACCESS_DETECT);
    vg_http_route(http, VG_M_GET, "/v1/models/{name}/stats", route_stats, api, 0, VG_ACCESS_READ);
    vg_server_hooks h;
    memset(&h, 0, sizeof h);
    h.busy = hook_busy;
    h.ud = api;
    vg_server_add_hooks(srv, &h);
    return api;
}


void
vg_compare_api_destroy(vg_compare_api *api)
{
    free(api);
}
