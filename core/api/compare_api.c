/* compare_api: see compare_api.h. The jobs are api/call's; this file has the comparison's own parts. */
#include "api/compare_api.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "auth/auth.h"
#include "api/call.h"
#include "base/error.h"
#include "api/detect_opts.h"
#include "api/render.h"
#include "http/http.h"
#include "http/reply.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "pipeline/model.h"
#include "base/mpk.h"
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

/* What a comparison asks for; its image and its models are the call's. Lives until the answer. */
typedef struct comparison {
    vg_call *call;
    vg_detect_opts opt;
    double iou;
    int max_models;
} comparison;


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
/* the comparison's answer */

static double
mean_confidence(const vg_call_item *it)
{
    double sum = 0;
    for (size_t i = 0; i < it->res.count; i++)
        sum += it->res.detections[i].confidence;
    return it->res.count ? sum / (double)it->res.count : 0;
}


/* A failed model's reason, cut at 255 bytes as comparisons have always had it. */
static const char *
reason(const vg_call_item *it, size_t *len)
{
    const char *m = vg_call_item_message(it);
    *len = strnlen(m, 255);
    return m;
}


/* One model's part: its error, or what it found and how fast. */
static void
model_json(vg_jsonw *w, const vg_call_item *it, int annotate)
{
    vg_jsonw_obj(w);
    vg_jsonw_kstr(w, "model", it->model);
    if (it->status != 0) {
        size_t n;
        const char *m = reason(it, &n);
        vg_jsonw_kobj(w, "error");
        vg_jsonw_kstr(w, "code", vg_err_code(it->status));
        vg_jsonw_kint(w, "status", vg_err_http_status(it->status));
        vg_jsonw_key(w, "message");
        vg_jsonw_str(w, m, n);
        vg_jsonw_obj_end(w);
        vg_jsonw_obj_end(w);
        return;
    }
    const vg_pool_result *res = &it->res;
    vg_jsonw_kstr(w, "backend", res->backend);
    vg_jsonw_kuint(w, "count", res->count);
    vg_jsonw_kobj(w, "confidence");
    vg_jsonw_kdouble(w, "max", res->count ? res->detections[0].confidence : 0, 4);
    vg_jsonw_kdouble(w, "mean", mean_confidence(it), 4);
    vg_jsonw_obj_end(w);
    vg_render o;
    vg_render_text(&o, w);
    vg_render_timings(&o, "latency_ms", res);
    vg_render_found(&o, res, VG_DETJ_CLASS_ID | VG_DETJ_BOX);
    if (annotate && res->jpeg)
        vg_render_jpeg(&o, "annotated_jpeg", res->jpeg, res->jpeg_len);
    vg_jsonw_obj_end(w);
}


/* "key": {"model": ..., "<what>": value}, or null when no model stands out. */
static void
standout_json(vg_jsonw *w, const char *key, const vg_call_item *it, const char *what, double value, int digits)
{
    if (!it) {
        vg_jsonw_key(w, key);
        vg_jsonw_null(w);
        return;
    }
    vg_jsonw_kobj(w, key);
    vg_jsonw_kstr(w, "model", it->model);
    if (digits)
        vg_jsonw_kdouble(w, what, value, digits);
    else
        vg_jsonw_kuint(w, what, (uint64_t)value);
    vg_jsonw_obj_end(w);
}


/* fastest, most confident, agreement by label and IoU */
static void
summary_json(vg_jsonw *w, vg_call *c, double iou)
{
    const vg_call_item *fastest = NULL, *fastest_infer = NULL, *confident = NULL, *most = NULL;
    int ok = 0, n = vg_call_count(c);
    for (int i = 0; i < n; i++) {
        const vg_call_item *s = vg_call_item_at(c, i);
        if (s->status != 0)
            continue;
        ok++;
        if (!fastest || s->res.total_us < fastest->res.total_us)
            fastest = s;
        if (!fastest_infer || s->res.infer_us < fastest_infer->res.infer_us)
            fastest_infer = s;
        if (s->res.count && (!confident || mean_confidence(s) > mean_confidence(confident)))
            confident = s;
        if (!most || s->res.count > most->res.count)
            most = s;
    }
    vg_jsonw_obj(w);
    vg_jsonw_kint(w, "models_ok", ok);
    standout_json(w, "fastest", fastest, "total_ms", fastest ? fastest->res.total_us / 1000.0 : 0, 4);
    standout_json(w, "fastest_inference", fastest_infer, "infer_ms",
                  fastest_infer ? fastest_infer->res.infer_us / 1000.0 : 0, 4);
    standout_json(w, "most_confident", confident, "mean_confidence", confident ? mean_confidence(confident) : 0, 4);
    standout_json(w, "most_detections", most, "count", most ? (double)most->res.count : 0, 0);

    /* pairwise agreement: matched objects over the objects of both (Dice), mean IoU of the matches */
    vg_jsonw_kobj(w, "agreement");
    vg_jsonw_kdouble(w, "iou", iou, 4);
    vg_jsonw_karr(w, "pairs");
    double score_sum = 0;
    int npairs = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            const vg_call_item *a = vg_call_item_at(c, i), *b = vg_call_item_at(c, j);
            if (a->status != 0 || b->status != 0)
                continue;
            size_t na = a->res.count, nb = b->res.count;
            double isum = 0;
            size_t m = vg_compare_match(a->res.detections, na, b->res.detections, nb, iou, &isum);
            double score = na + nb ? 2.0 * (double)m / (double)(na + nb) : 1.0;
            score_sum += score;
            npairs++;
            vg_jsonw_obj(w);
            vg_jsonw_karr(w, "models");
            vg_jsonw_cstr(w, a->model);
            vg_jsonw_cstr(w, b->model);
            vg_jsonw_arr_end(w);
            vg_jsonw_kuint(w, "matched", m);
            vg_jsonw_kuint(w, "only_first", na - m);
            vg_jsonw_kuint(w, "only_second", nb - m);
            vg_jsonw_kdouble(w, "score", score, 4);
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
    vg_jsonw_kobj(w, "labels");
    const char *seen[512];
    int nseen = 0;
    for (int i = 0; i < n; i++) {
        const vg_call_item *s = vg_call_item_at(c, i);
        for (size_t k = 0; k < s->res.count && s->status == 0; k++) {
            const char *l = s->res.detections[k].label;
            int dup = 0;
            for (int x = 0; x < nseen && !dup; x++)
                dup = strcmp(seen[x], l) == 0;
            if (!dup && nseen < 512)
                seen[nseen++] = l;
        }
    }
    for (int x = 0; x < nseen; x++) {
        vg_jsonw_kobj(w, seen[x]);
        int models_with = 0;
        for (int i = 0; i < n; i++) {
            const vg_call_item *s = vg_call_item_at(c, i);
            if (s->status != 0)
                continue;
            unsigned cnt = 0;
            for (size_t k = 0; k < s->res.count; k++)
                cnt += strcmp(s->res.detections[k].label, seen[x]) == 0;
            models_with += cnt > 0;
            vg_jsonw_kuint(w, s->model, cnt);
        }
        vg_jsonw_kint(w, "models_agreeing", models_with);
        vg_jsonw_obj_end(w);
    }
    vg_jsonw_obj_end(w);
    vg_jsonw_obj_end(w);
    vg_jsonw_obj_end(w);
}


static void
on_done(vg_call *c, void *ud)
{
    comparison *q = ud;
    vg_req *r = vg_call_req(c);
    int ok = 0, n = vg_call_count(c), width = 0, height = 0;
    const vg_call_item *first_err = NULL;
    for (int i = 0; i < n; i++)
        vg_detect_opts_cut(&q->opt, &vg_call_item_at(c, i)->res);   /* a classifier's k best */
    for (int i = 0; i < n; i++) {
        const vg_call_item *it = vg_call_item_at(c, i);
        if (it->status != 0) {
            first_err = first_err ? first_err : it;
        } else if (!ok++ || !width) {
            width = it->res.width;   /* the first model that knew the size */
            height = it->res.height;
        }
    }
    if (!ok) {
        /* nothing to compare: the request fails as the first model did (a bad image fails them all) */
        size_t len;
        const char *m = reason(first_err, &len);
        vg_req_error(r, vg_call_error_status(c, first_err), vg_err_code(first_err->status), "%s: %.*s",
                     first_err->model, (int)len, m);
    } else {
        vg_reply a;
        vg_reply_init(&a);
        vg_jsonw_obj(&a.w);
        vg_jsonw_kobj(&a.w, "image");
        vg_jsonw_kint(&a.w, "width", width);
        vg_jsonw_kint(&a.w, "height", height);
        vg_jsonw_obj_end(&a.w);
        vg_jsonw_karr(&a.w, "results");
        for (int i = 0; i < n; i++)
            model_json(&a.w, vg_call_item_at(c, i), q->opt.annotate);
        vg_jsonw_arr_end(&a.w);
        vg_jsonw_key(&a.w, "summary");
        summary_json(&a.w, c, q->iou);
        vg_jsonw_obj_end(&a.w);
        vg_reply_send(&a, r, 200);
    }
    free(q);
}

/* ------------------------------------------------------------------ */
/* the request */

/* Adds the comma-separated names of `list` to the comparison; -1 with err on a bad name or too many. */
static int
add_models(comparison *q, const char *list, char *err, size_t errlen)
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
        if (vg_call_add_model(q->call, name, q->max_models) < 0) {
            snprintf(err, errlen, "at most %d models can be compared at once", q->max_models);
            return -1;
        }
        p = e;
    }
    return 0;
}


/* One option: models, iou, or a detection option; -1 with err when bad. Unknown names are ignored. */
static int
compare_option(void *ud, const char *name, const char *value, char *err, size_t errlen)
{
    comparison *q = ud;
    if (strcmp(name, "models") == 0)
        return add_models(q, value, err, errlen);
    if (strcmp(name, "iou") == 0) {
        char *end;
        double v = strtod(value, &end);
        if (end == value || *end || !(v > 0 && v <= 1)) {
            snprintf(err, errlen, "iou must be in (0, 1], not '%.32s'", value);
            return -1;
        }
        q->iou = v;
        return 0;
    }
    if (strcmp(name, "model") == 0)
        return 0;   /* a comparison names models= */
    return vg_detect_opts_set(&q->opt, name, value, err, errlen) < 0 ? -1 : 0;
}


/* {"image": base64, "models": [...] or "a,b", options...} */
static int
compare_json(void *ud, vg_call *c, json_t *root, char *err, size_t errlen)
{
    comparison *q = ud;
    const char *key;
    json_t *jv;
    json_object_foreach(root, key, jv) {
        char sv[1024];
        if (!strcmp(key, "image")) {
            if (!json_is_string(jv)) {
                snprintf(err, errlen, "\"image\" must be a base64 string");
                return 400;
            }
            continue;   /* decoded below, once the other members are read */
        }
        if (!strcmp(key, "models") || !strcmp(key, "classes")) {
            if (json_is_array(jv)) {
                if (vg_detect_opts_json_list(jv, sv, sizeof sv) < 0) {
                    snprintf(err, errlen, "\"%s\" must be a short list of names", key);
                    return 400;
                }
            } else if (!json_is_string(jv) || vg_detect_opts_json_text(jv, sv, sizeof sv) < 0) {
                snprintf(err, errlen, "\"%s\" must be a list of names", key);
                return 400;
            }
        } else if (vg_detect_opts_json_text(jv, sv, sizeof sv) < 0) {
            continue;
        }
        if (compare_option(q, key, sv, err, errlen) < 0)
            return 400;
    }
    json_t *img = json_object_get(root, "image");
    if (json_is_string(img) && vg_call_add_base64(c, json_string_value(img), json_string_length(img), err, errlen) < 0)
        return 400;
    return 0;
}


/* Reads image, models and options. 0, or an HTTP status with err set. */
static int
compare_read(comparison *q, vg_compare_api *api, char *err, size_t errlen)
{
    static const char *const query[] = { "iou", "min_confidence", "threshold", "nms", "classes", "annotate",
                                         "models", "k", NULL };
    static const char *const fields[] = { "image", "file", NULL };
    vg_call *c = q->call;
    if (vg_call_query(vg_call_req(c), query, compare_option, q, err, errlen) < 0)
        return 400;
    vg_call_form f = { .image_fields = fields, .max_images = 1, .too_many_status = 400,
                       .too_many = "a comparison takes one image", .option = compare_option,
                       .json = compare_json, .ud = q };
    int kind, status = vg_call_read(c, &f, &kind, err, errlen);
    if (status)
        return status;
    if (vg_call_count(c) == 0 || vg_call_item_at(c, 0)->image_len == 0) {
        snprintf(err, errlen, "no image: send a multipart field 'image', JSON {\"image\": base64}, or the image as the body");
        return 400;
    }
    if (vg_call_model_count(c) == 0) {
        /* every loaded model */
        size_t n = vg_pool_model_count(api->pool);
        for (size_t i = 0; i < n && vg_call_model_count(c) < q->max_models; i++) {
            vg_pool_model_stats st;
            if (vg_pool_model_stats_at(api->pool, i, &st) == 0 && strcmp(st.state, "unloaded") != 0 &&
                strcmp(st.state, "invalid") != 0 && strcmp(st.state, "unloading") != 0)
                vg_call_add_model(c, st.name, q->max_models);
        }
        if (vg_call_model_count(c) == 0) {
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
    const vg_config *cfg = vg_server_config(api->srv);
    comparison *q = vg_xcalloc(1, sizeof *q);
    q->call = vg_call_create(api->pool, r, &api->inflight);
    q->iou = cfg->compare_iou;
    q->max_models = cfg->compare_max_models < MAX_MODELS ? cfg->compare_max_models : MAX_MODELS;
    vg_detect_opts_init(&q->opt);
    char err[512] = "";
    int status = compare_read(q, api, err, sizeof err);
    if (status) {
        vg_req_error(r, status, status == 503 ? "model_unavailable" : "bad_request", "%s", err);
        vg_call_destroy(q->call);
        free(q);
        return;
    }
    vg_call_submit(q->call, NULL, &q->opt, on_done, q);
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
    vg_call_count_busy(srv, &api->inflight);
    return api;
}


void
vg_compare_api_destroy(vg_compare_api *api)
{
    free(api);
}
