/* history_api: see history_api.h. */
#include "api/history_api.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "http/reply.h"
#include "api/render.h"
#include "auth/auth.h"
#include "http/http.h"
#include "base/hex.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "base/mpk.h"
#include "pool/pool.h"
#include "net/server.h"
#include "store/store_client.h"
#include "store/store_read.h"
#include "store/store_write.h"

#define MAX_LIMIT 1000
#define DEFAULT_LIMIT 50
#define MAX_BUCKETS 2000

struct vg_history {
    vg_server *srv;
    vg_store *store;
    uint64_t last_us;                  /* keeps ids increasing within this process */
};


int
vg_history_images(const vg_history *h)
{
    const char *s = vg_server_config(h->srv)->history_images;
    return strcmp(s, "annotated") == 0 ? VG_HIST_IMG_ANNOTATED : strcmp(s, "original") == 0 ? VG_HIST_IMG_ORIGINAL
                                                                                            : VG_HIST_IMG_NONE;
}


int
vg_history_enabled(const vg_history *h)
{
    return vg_server_config(h->srv)->history_store;
}


/* A time for a new record key: the wall clock in microseconds, increasing within this process. */
static uint64_t
key_time(vg_history *h)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    if (now <= h->last_us)
        now = h->last_us + 1;
    h->last_us = now;
    return now;
}

/* ---- recording --------------------------------------------------------------- */

typedef struct rec_call {
    void (*cb)(int status, void *ud);
    void *ud;
} rec_call;


static void
recorded(int status, vg_mpr *rest, void *ud)
{
    rec_call *c = ud;
    (void)rest;
    if (status != 0)
        vg_warn("history", "a detection was not stored: %s", vg_err_str(status));
    if (c->cb)
        c->cb(status, c->ud);
    free(c);
}


static size_t
clip(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    return n > max ? max : n;
}


/* What the store indexes and sums of a record: its distinct labels with their counts, and more. */
static void
record_meta(vg_det_meta *m, const uint8_t key[16], const vg_history_rec *rec, const char *src, const char *model)
{
    memset(m, 0, sizeof *m);
    memcpy(m->key, key, 16);
    m->uid = rec->uid;
    m->total_us = rec->total_us;
    m->source = (vg_str){ src, clip(src, VG_DB_SOURCE_MAX) };
    m->model = (vg_str){ model, clip(model, VG_DB_LABEL_MAX) };
    for (size_t i = 0; i < rec->count; i++) {
        const char *l = rec->dets[i].label ? rec->dets[i].label : "";
        size_t ln = clip(l, VG_DB_LABEL_MAX);
        uint32_t j;
        for (j = 0; j < m->nlabels; j++)
            if (m->labels[j].n == ln && memcmp(m->labels[j].p, l, ln) == 0)
                break;
        if (j == m->nlabels) {
            if (m->nlabels == 256)
                continue;
            m->labels[m->nlabels].p = l;
            m->labels[m->nlabels].n = ln;
            m->counts[m->nlabels++] = 0;
        }
        m->counts[j]++;
    }
}


/* The record as the store keeps it; its "img" entry comes last (the store fills in the hash). */
static void
record_encode(vg_buf *out, const vg_history_rec *rec, const char *src, const char *model, int kind)
{
    const uint64_t timings[6] = { rec->queue_us, rec->decode_us, rec->infer_us, rec->post_us, rec->annotate_us,
                                  rec->total_us };
    vg_mpw w;
    vg_mpw_init(&w, out);
    int classify = rec->task == VG_POOL_TASK_CLASSIFY;
    vg_mpw_map(&w, 11 + (uint32_t)classify);
    if (classify) {   /* absent: a detection (and every record written before classifiers) */
        vg_mpw_cstr(&w, "tk");
        vg_mpw_i64(&w, VG_POOL_TASK_CLASSIFY);
    }
    vg_mpw_cstr(&w, "u"); vg_mpw_u64(&w, rec->uid);
    vg_mpw_cstr(&w, "un"); vg_mpw_str(&w, rec->user ? rec->user : "", clip(rec->user, VG_DB_NAME_MAX));
    vg_mpw_cstr(&w, "src"); vg_mpw_str(&w, src, clip(src, VG_DB_SOURCE_MAX));
    vg_mpw_cstr(&w, "m"); vg_mpw_str(&w, model, clip(model, VG_DB_LABEL_MAX));
    vg_mpw_cstr(&w, "b"); vg_mpw_cstr(&w, rec->backend ? rec->backend : "");
    vg_mpw_cstr(&w, "w"); vg_mpw_i64(&w, rec->width);
    vg_mpw_cstr(&w, "h"); vg_mpw_i64(&w, rec->height);
    vg_mpw_cstr(&w, "d");
    vg_mpw_array(&w, (uint32_t)rec->count);
    for (size_t i = 0; i < rec->count; i++) {
        const vg_detection *d = &rec->dets[i];
        const char *l = d->label ? d->label : "";
        vg_mpw_array(&w, 7);
        vg_mpw_str(&w, l, clip(l, VG_DB_LABEL_MAX));
        vg_mpw_i64(&w, d->class_id);
        vg_mpw_f64(&w, d->confidence);
        vg_mpw_i64(&w, d->x_min);
        vg_mpw_i64(&w, d->y_min);
        vg_mpw_i64(&w, d->x_max);
        vg_mpw_i64(&w, d->y_max);
    }
    vg_mpw_cstr(&w, "t");
    vg_mpw_array(&w, 6);
    for (int i = 0; i < 6; i++)
        vg_mpw_u64(&w, timings[i]);
    vg_mpw_cstr(&w, "ik");
    vg_mpw_cstr(&w, kind == VG_HIST_IMG_ANNOTATED ? "annotated" : kind == VG_HIST_IMG_ORIGINAL ? "original" : "none");
    vg_mpw_cstr(&w, "img");
    if (kind != VG_HIST_IMG_NONE) {
        static const uint8_t zero[32];
        vg_mpw_bin(&w, zero, 32);
    } else {
        vg_mpw_nil(&w);
    }
}


int
vg_history_record(vg_history *h, const vg_history_rec *rec, char id[33], void (*cb)(int status, void *ud), void *ud)
{
    uint8_t key[16];
    vg_db_key_new(key, key_time(h));
    vg_db_key_hex(key, id);
    const char *src = rec->source ? rec->source : "";
    const char *model = rec->model ? rec->model : "";
    int kind = rec->image ? vg_history_images(h) : VG_HIST_IMG_NONE;
    vg_det_meta m;
    record_meta(&m, key, rec, src, model);
    vg_buf val;
    vg_buf_init(&val);
    record_encode(&val, rec, src, model, kind);
    rec_call *c = vg_xmalloc(sizeof *c);
    c->cb = cb;
    c->ud = ud;
    int rc = vg_store_detection_add(h->store, &m, val.data, val.len, kind != VG_HIST_IMG_NONE ? rec->image : NULL,
                                    rec->image_len, recorded, c);
    vg_buf_release(&val);
    if (rc != 0)
        free(c);
    return rc;
}

/* ---- rendering ------------------------------------------------------------------- */

/* A counted string member; null when p is NULL. */
static void
str_member(vg_jsonw *w, const char *key, const char *p, size_t n)
{
    vg_jsonw_key(w, key);
    if (p)
        vg_jsonw_str(w, p, n);
    else
        vg_jsonw_null(w);
}


/* Opens the JSON object of a stored record: its id and time come from its key. */
static void
record_open(vg_jsonw *w, const uint8_t key[16])
{
    char id[33];
    vg_db_key_hex(key, id);
    vg_jsonw_obj(w);
    vg_jsonw_kstr(w, "id", id);
    vg_jsonw_kdouble(w, "time", (double)vg_db_key_time(key) / 1e6, 16);
}


/* The detections of a stored record as a JSON array, counted. */
typedef struct entry_list {
    vg_render out;
    int flags;                     /* VG_DETJ_*: a classification's entries have no box */
    vg_buf label;                  /* the current entry's label with its NUL */
    uint32_t n;
} entry_list;


/* Writes one detection of a stored record (a vg_det_record_walk fn) as the detect answer has it. */
static void
entry_json(const vg_det_entry *e, void *ud)
{
    entry_list *l = ud;
    l->label.len = 0;
    vg_buf_append(&l->label, e->label.p, e->label.n);
    vg_detection d = {
        .class_id = (int)e->class_id, .label = vg_buf_cstr(&l->label), .confidence = (float)e->confidence,
        .x_min = (int)e->box[0], .y_min = (int)e->box[1], .x_max = (int)e->box[2], .y_max = (int)e->box[3],
    };
    vg_render_detection(&l->out, &d, l->flags);
    l->n++;
}


/* Writes one stored detection as JSON. Returns 0, or VG_E_CORRUPT. */
static int
detection_json(vg_jsonw *w, const uint8_t key[16], const void *p, size_t n)
{
    vg_det_record d;
    char sha[65];
    if (vg_det_record_decode(p, n, &d) != 0)
        return VG_E_CORRUPT;
    if (d.image)
        vg_hex_encode(d.image, 32, sha);
    record_open(w, key);
    vg_jsonw_kobj(w, "user");
    vg_jsonw_kuint(w, "id", d.uid);
    str_member(w, "name", d.uid ? d.user.p : NULL, d.user.n);
    vg_jsonw_obj_end(w);
    str_member(w, "source", d.source.p, d.source.n);
    str_member(w, "model", d.model.p, d.model.n);
    str_member(w, "backend", d.backend.p, d.backend.n);
    vg_jsonw_kobj(w, "image");
    vg_jsonw_kint(w, "width", d.width);
    vg_jsonw_kint(w, "height", d.height);
    str_member(w, "kept", d.image ? d.image_kind.p : NULL, d.image_kind.n);
    vg_jsonw_kstr(w, "sha256", d.image ? sha : NULL);
    vg_jsonw_obj_end(w);
    int classify = d.task == VG_POOL_TASK_CLASSIFY;
    if (classify)
        vg_jsonw_kstr(w, "task", "classify");
    vg_jsonw_karr(w, classify ? "classifications" : "detections");
    entry_list list = { .n = 0, .flags = VG_DETJ_CLASS_ID | (classify ? VG_DETJ_NO_BOX : VG_DETJ_BOX) };
    vg_render_text(&list.out, w);
    vg_buf_init(&list.label);
    vg_det_record_walk(&d, entry_json, &list);   /* a damaged entry ends the list */
    vg_buf_release(&list.label);
    vg_jsonw_arr_end(w);
    vg_jsonw_kuint(w, "count", list.n);
    vg_render_timings_us(&list.out, "timings_ms", d.timings_us);
    vg_jsonw_obj_end(w);
    return 0;
}

/* ---- queries ------------------------------------------------------------------------ */

/* A query parameter as a number of unix seconds; -1 absent, -2 malformed. */
static int
query_time(vg_req *r, const char *name, uint64_t *us)
{
    vg_buf v;
    vg_buf_init(&v);
    int rc = -1;
    if (vg_req_query_get(r, name, &v) == 0) {
        char *end;
        errno = 0;
        double s = strtod(v.data, &end);
        rc = -2;
        if (end != v.data && !*end && !errno && isfinite(s) && s >= 0 && s < 1e11) {
            *us = (uint64_t)(s * 1e6);
            rc = 0;
        }
    }
    vg_buf_release(&v);
    return rc;
}


/* A string query parameter into out; 0 present, -1 absent, -2 too long. */
static int
query_str(vg_req *r, const char *name, char *out, size_t cap)
{
    vg_buf v;
    vg_buf_init(&v);
    int rc = -1;
    if (vg_req_query_get(r, name, &v) == 0) {
        rc = v.len < cap && v.len > 0 ? 0 : v.len == 0 ? -1 : -2;
        if (rc == 0)
            memcpy(out, v.data, v.len + 1);
    }
    vg_buf_release(&v);
    return rc;
}


/* Parses the filters; -1 after answering 422. */
static int
parse_filter(vg_req *r, vg_det_filter *f)
{
    memset(f, 0, sizeof *f);
    f->until = UINT64_MAX;
    f->limit = DEFAULT_LIMIT;
    int rc;
    char buf[64];
    if ((rc = query_time(r, "since", &f->since)) == -2 || (rc = query_time(r, "until", &f->until)) == -2) {
        vg_req_error(r, 422, "invalid", "since and until are unix times in seconds");
        return -1;
    }
    if ((rc = query_str(r, "label", f->label, sizeof f->label)) == -2 ||
        (rc == 0 && (f->has_label = 1) && 0) ||
        (rc = query_str(r, "source", f->source, sizeof f->source)) == -2 ||
        (rc == 0 && (f->has_source = 1) && 0) ||
        (rc = query_str(r, "model", f->model, sizeof f->model)) == -2 ||
        (rc == 0 && (f->has_model = 1) && 0)) {
        vg_req_error(r, 422, "invalid", "a filter value is too long");
        return -1;
    }
    if ((rc = query_str(r, "user", buf, sizeof buf)) == 0) {
        char *end;
        errno = 0;
        f->user = strtoull(buf, &end, 10);
        if (*end || errno || !isdigit((unsigned char)buf[0])) {
            vg_req_error(r, 422, "invalid", "user must be a user id");
            return -1;
        }
        f->has_user = 1;
    }
    if ((rc = query_str(r, "limit", buf, sizeof buf)) == 0) {
        char *end;
        long v = strtol(buf, &end, 10);
        if (*end || v < 1 || v > MAX_LIMIT) {
            vg_req_error(r, 422, "invalid", "limit must be 1..%d", MAX_LIMIT);
            return -1;
        }
        f->limit = (int)v;
    }
    if ((rc = query_str(r, "cursor", buf, sizeof buf)) == 0) {
        if (vg_db_key_parse(buf, strlen(buf), f->cursor) != 0) {
            vg_req_error(r, 422, "invalid", "malformed cursor");
            return -1;
        }
        f->has_cursor = 1;
    } else if (rc == -2) {
        vg_req_error(r, 422, "invalid", "malformed cursor");
        return -1;
    }
    return 0;
}


/* Renders a stored detection (a vg_store_record_fn). */
static int
render_detection(const uint8_t key[16], const void *p, size_t n, void *ud)
{
    return detection_json(ud, key, p, n);
}


int
vg_history_page_open(vg_req *r, vg_det_filter *f, vg_reply *a, const char *key)
{
    if (parse_filter(r, f) < 0)
        return -1;
    vg_reply_init(a);
    vg_reply_list(a, key);
    return 0;
}


void
vg_history_page_send(vg_reply *a, vg_req *r, int rc, const vg_store_page *page, const char *what)
{
    vg_jsonw *w = &a->w;
    if (rc != 0) {
        vg_reply_release(a);
        vg_auth_store_error(r, rc, what);
        return;
    }
    vg_jsonw_arr_end(w);
    vg_jsonw_kint(w, "count", (int64_t)page->count);
    vg_jsonw_key(w, "next_cursor");
    if (page->has_next) {
        char hx[33];
        vg_db_key_hex(page->next, hx);
        vg_jsonw_cstr(w, hx);
    } else {
        vg_jsonw_null(w);
    }
    vg_jsonw_obj_end(w);
    vg_reply_send(a, r, 200);
}


static void
route_list(vg_req *r, void *ud)
{
    vg_history *h = ud;
    vg_det_filter f;
    vg_reply a;
    vg_store_page page;
    if (vg_history_page_open(r, &f, &a, "detections") < 0)
        return;
    int rc = vg_store_detections_page(h->store, &f, render_detection, &a.w, &page);
    vg_history_page_send(&a, r, rc, &page, "cannot read detections");
}


/* The {id} of a detection; -1 after answering 404. */
static int
param_key(vg_req *r, uint8_t key[16])
{
    vg_str s = vg_req_param(r, 0);
    if (vg_db_key_parse(s.p, s.n, key) != 0) {
        vg_req_error(r, 404, "not_found", "no detection '%.*s'", (int)(s.n > 40 ? 40 : s.n), s.p);
        return -1;
    }
    return 0;
}


static void
route_get(vg_req *r, void *ud)
{
    vg_history *h = ud;
    uint8_t key[16];
    if (param_key(r, key) < 0)
        return;
    vg_reply a;
    vg_reply_init(&a);
    int rc = vg_store_detection_get(h->store, key, render_detection, &a.w);
    if (rc == 0) {
        vg_reply_send(&a, r, 200);
        return;
    }
    vg_reply_release(&a);
    if (rc == VG_E_NOTFOUND)
        vg_req_error(r, 404, "not_found", "no detection %.32s", vg_req_param(r, 0).p);
    else
        vg_auth_store_error(r, rc, "cannot read the detection");
}


static void
route_image(vg_req *r, void *ud)
{
    vg_history *h = ud;
    uint8_t key[16], sha[32];
    int has = 0;
    if (param_key(r, key) < 0)
        return;
    int rc = vg_store_detection_image(h->store, key, sha, &has);
    if (rc != 0 && rc != VG_E_NOTFOUND) {
        vg_auth_store_error(r, rc, "cannot read detections");
        return;
    }
    if (rc != 0 || !has) {
        vg_req_error(r, 404, "not_found", rc != 0 ? "no such detection" : "no image is kept for this detection");
        return;
    }
    char path[1200];
    vg_db_image_path(vg_store_data_dir(h->store), sha, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        vg_req_error(r, 404, "not_found", "the image has expired");
        return;
    }
    char hx[65];
    vg_hex_encode(sha, 32, hx);
    vg_req_add_header(r, "ETag", "\"%s\"", hx);
    vg_req_add_header(r, "Cache-Control", "private, max-age=86400, immutable");
    /* the bytes decide: originals may be PNG or WebP */
    uint8_t magic[4] = { 0 };
    const char *ct = "image/jpeg";
    if (pread(fd, magic, 4, 0) == 4) {
        if (magic[0] == 0x89 && magic[1] == 'P')
            ct = "image/png";
        else if (magic[0] == 'R' && magic[1] == 'I')
            ct = "image/webp";
    }
    vg_req_respond_file(r, 200, ct, fd, 0, (size_t)st.st_size);
}

/* ---- feedback ----------------------------------------------------------------------------- */

typedef struct fb_call {
    vg_req *r;
    char id[33];
} fb_call;


static void
fb_done(int status, vg_mpr *rest, void *ud)
{
    fb_call *c = ud;
    (void)rest;
    if (status == VG_E_NOTFOUND)
        vg_req_error(c->r, 404, "not_found", "no such detection");
    else if (status != 0)
        vg_auth_store_error(c->r, status, "cannot store the feedback");
    else {
        vg_buf b;
        vg_buf_init(&b);
        vg_buf_printf(&b, "{\"id\":\"%s\"}\n", c->id);
        vg_req_add_header(c->r, "Location", "/v1/feedback?id=%s", c->id);
        vg_req_respond_buf(c->r, 201, "application/json", &b);
        vg_buf_release(&b);
    }
    free(c);
}


/* The members of a feedback request, checked; they point into its JSON body. */
typedef struct feedback_in {
    uint8_t det[16];                   /* the detection it is about */
    json_t *ok, *label, *text;         /* "correct", "label", "text", or NULL */
} feedback_in;


/* Reads and checks a feedback request; its body (to json_decref), or NULL after answering 400/422. */
static json_t *
feedback_read(vg_req *r, feedback_in *in)
{
    json_t *j = vg_auth_json_body(r);
    if (!j)
        return NULL;
    json_t *det = json_object_get(j, "detection_id");
    if (!det)
        det = json_object_get(j, "detection");
    json_t *ok = json_object_get(j, "correct"), *label = json_object_get(j, "label"),
           *text = json_object_get(j, "text");
    const char *msg = NULL;
    if (!json_is_string(det) || vg_db_key_parse(json_string_value(det), json_string_length(det), in->det) != 0)
        msg = "\"detection_id\" must be a detection id";
    else if (ok && !json_is_boolean(ok) && !json_is_null(ok))
        msg = "\"correct\" must be true or false";
    else if (label && !json_is_null(label) && (!json_is_string(label) || json_string_length(label) == 0 ||
                                               json_string_length(label) > VG_DB_LABEL_MAX))
        msg = "\"label\" must be a class name";
    else if (text && !json_is_null(text) && (!json_is_string(text) || json_string_length(text) > VG_DB_TEXT_MAX))
        msg = "\"text\" must be a string of at most 2000 bytes";
    else if (!json_is_boolean(ok) && !json_is_string(label) && !json_is_string(text))
        msg = "feedback needs \"correct\", \"label\" or \"text\"";
    if (msg) {
        vg_req_error(r, 422, "invalid", "%s", msg);
        json_decref(j);
        return NULL;
    }
    in->ok = ok;
    in->label = label;
    in->text = text;
    return j;
}


/* The feedback record as the store keeps it. */
static void
feedback_encode(vg_buf *out, const feedback_in *in, const vg_principal *who)
{
    vg_mpw w;
    vg_mpw_init(&w, out);
    vg_mpw_map(&w, 6);
    vg_mpw_cstr(&w, "det"); vg_mpw_bin(&w, in->det, 16);
    vg_mpw_cstr(&w, "u"); vg_mpw_u64(&w, who->uid);
    vg_mpw_cstr(&w, "un"); vg_mpw_cstr(&w, who->name);
    vg_mpw_cstr(&w, "ok");
    if (json_is_boolean(in->ok))
        vg_mpw_bool(&w, json_is_true(in->ok));
    else
        vg_mpw_nil(&w);
    vg_mpw_cstr(&w, "label"); vg_mpw_cstr(&w, json_is_string(in->label) ? json_string_value(in->label) : NULL);
    vg_mpw_cstr(&w, "text"); vg_mpw_cstr(&w, json_is_string(in->text) ? json_string_value(in->text) : NULL);
}


static void
route_feedback_add(vg_req *r, void *ud)
{
    vg_history *h = ud;
    feedback_in in;
    json_t *j = feedback_read(r, &in);
    if (!j)
        return;
    vg_principal who;
    vg_auth_principal(r, &who);
    fb_call *c = vg_xcalloc(1, sizeof *c);
    c->r = r;
    uint8_t key[16];
    vg_db_key_new(key, key_time(h));
    vg_db_key_hex(key, c->id);
    vg_buf val;
    vg_buf_init(&val);
    feedback_encode(&val, &in, &who);
    json_decref(j);
    int rc = vg_store_feedback_add(h->store, key, in.det, who.uid, val.data, val.len, fb_done, c);
    vg_buf_release(&val);
    if (rc != 0) {
        free(c);
        vg_auth_store_error(r, rc, "cannot store the feedback");
    }
}


/* Renders a stored feedback record (a vg_store_record_fn; an unreadable one is counted, not shown). */
static int
feedback_json(const uint8_t key[16], const void *p, size_t n, void *ud)
{
    vg_jsonw *w = ud;
    vg_feedback_view f;
    char det[33] = "";
    if (vg_feedback_view_decode(p, n, &f) != 0)
        return 0;
    if (f.has_det)
        vg_db_key_hex(f.det, det);
    record_open(w, key);
    vg_jsonw_kstr(w, "detection_id", det);
    vg_jsonw_kobj(w, "user");
    vg_jsonw_kuint(w, "id", f.uid);
    str_member(w, "name", f.user.p, f.user.n);
    vg_jsonw_obj_end(w);
    vg_jsonw_key(w, "correct");
    if (f.correct < 0)
        vg_jsonw_null(w);
    else
        vg_jsonw_bool(w, f.correct);
    str_member(w, "label", f.label.p, f.label.n);
    str_member(w, "text", f.text.p, f.text.n);
    vg_jsonw_obj_end(w);
    return 0;
}


static void
route_feedback_list(vg_req *r, void *ud)
{
    vg_history *h = ud;
    char det[64];
    uint8_t dk[16];
    int by_det = query_str(r, "detection_id", det, sizeof det) == 0;
    if (by_det && vg_db_key_parse(det, strlen(det), dk) != 0) {
        vg_req_error(r, 422, "invalid", "malformed detection_id");
        return;
    }
    vg_det_filter f;
    vg_reply a;
    vg_store_page page;
    if (vg_history_page_open(r, &f, &a, "feedback") < 0)
        return;
    int rc = vg_store_feedback_page(h->store, by_det ? dk : NULL, f.has_cursor ? f.cursor : NULL, f.limit,
                                    feedback_json, &a.w, &page);
    vg_history_page_send(&a, r, rc, &page, "cannot read feedback");
}

/* ---- stats ---------------------------------------------------------------------------------- */

static void
latency_json(vg_jsonw *w, const uint64_t hist[VG_DB_LAT_BUCKETS], uint64_t n, uint64_t sum_us)
{
    vg_jsonw_kobj(w, "latency_ms");
    vg_jsonw_kdouble(w, "mean", n ? (double)sum_us / 1000.0 / (double)n : 0, 4);
    vg_jsonw_kdouble(w, "p50", vg_agg_percentile(hist, 0.5), 4);
    vg_jsonw_kdouble(w, "p90", vg_agg_percentile(hist, 0.9), 4);
    vg_jsonw_kdouble(w, "p99", vg_agg_percentile(hist, 0.99), 4);
    vg_jsonw_obj_end(w);
}


/* {name: count, ...} of a bucket's tracked-object counts. */
static void
counts_json(vg_jsonw *w, const char *key, const vg_agg_named *arr, int n)
{
    vg_jsonw_kobj(w, key);
    for (int i = 0; i < n; i++) {
        vg_jsonw_key(w, arr[i].name);
        vg_jsonw_uint(w, arr[i].objects);
    }
    vg_jsonw_obj_end(w);
}


/* The most counted name (the first of equals), or NULL when none. */
static const char *
predominant(const vg_agg_named *arr, int n)
{
    const vg_agg_named *best = NULL;
    for (int i = 0; i < n; i++)
        if (!best || arr[i].objects > best->objects)
            best = &arr[i];
    return best ? best->name : NULL;
}


/*
 * The tracked objects of a bucket (docs/api.md, /v1/stats): "unique" per
 * label, and person tracks' "colors" (upper and lower counts, and the
 * predominant of each).
 */
static void
tracked_json(vg_jsonw *w, const vg_agg_bucket *b)
{
    counts_json(w, "unique", b->unique, b->nunique);
    vg_jsonw_kobj(w, "colors");
    counts_json(w, "upper", b->upper, b->nupper);
    counts_json(w, "lower", b->lower, b->nlower);
    vg_jsonw_kobj(w, "predominant");
    const char *up = predominant(b->upper, b->nupper), *lo = predominant(b->lower, b->nlower);
    vg_jsonw_key(w, "upper");
    vg_jsonw_cstr(w, up);   /* null when none */
    vg_jsonw_key(w, "lower");
    vg_jsonw_cstr(w, lo);
    vg_jsonw_obj_end(w);
    vg_jsonw_obj_end(w);
}


static void
bucket_json(vg_jsonw *w, const char *name, int64_t start, int64_t end, const vg_agg_bucket *b)
{
    vg_jsonw_obj(w);
    if (name) {
        vg_jsonw_kstr(w, "shift", name);
    }
    vg_jsonw_kint(w, "start", start);
    vg_jsonw_kint(w, "end", end);
    vg_jsonw_kuint(w, "detections", b->n);
    vg_jsonw_kuint(w, "objects", b->objects);
    vg_jsonw_kobj(w, "labels");
    for (int i = 0; i < b->nlabels; i++) {
        vg_jsonw_key(w, b->labels[i].name);
        vg_jsonw_uint(w, b->labels[i].objects);
    }
    vg_jsonw_obj_end(w);
    vg_jsonw_kobj(w, "models");
    for (int i = 0; i < b->nmodels; i++) {
        const vg_agg_named *m = &b->models[i];
        vg_jsonw_key(w, m->name);
        vg_jsonw_obj(w);
        vg_jsonw_kuint(w, "detections", m->n);
        vg_jsonw_kuint(w, "objects", m->objects);
        latency_json(w, m->hist, m->n, m->lat_sum_us);
        vg_jsonw_obj_end(w);
    }
    vg_jsonw_obj_end(w);
    latency_json(w, b->hist, b->n, b->lat_sum_us);
    tracked_json(w, b);
    vg_jsonw_obj_end(w);
}


/* The buckets a stats answer lists: what the store sums for each, and how it is shown. */
typedef struct stats_plan {
    vg_agg_span *spans;
    struct { const char *name; int64_t start, end; } *shown;   /* name: the shift's, or NULL */
    size_t n, cap;
    vg_jsonw *w;
    vg_agg_bucket total;
} stats_plan;


/* Adds a bucket: `count` hours (or days) of kind from start, shown as [start, end). */
static void
plan_add(stats_plan *p, char kind, int64_t start, int count, const char *name, int64_t end)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->spans = vg_xrealloc(p->spans, p->cap * sizeof *p->spans);
        p->shown = vg_xrealloc(p->shown, p->cap * sizeof *p->shown);
    }
    p->spans[p->n] = (vg_agg_span){ kind, start, count };
    p->shown[p->n].name = name;
    p->shown[p->n].start = start;
    p->shown[p->n].end = end;
    p->n++;
}


/* Writes one summed bucket (when it counted anything) and adds it to the total. */
static void
plan_bucket(size_t i, const vg_agg_bucket *b, void *ud)
{
    stats_plan *p = ud;
    if (b->n || b->nunique || b->nupper || b->nlower)
        bucket_json(p->w, p->shown[i].name, p->shown[i].start, p->shown[i].end, b);
    vg_agg_bucket_merge(&p->total, b);
}


typedef struct shift {
    char name[32];
    int start, end;                    /* local hours, end exclusive; end <= start wraps midnight */
} shift;


static int
parse_shifts(const char *s, shift *out, int max)
{
    int n = 0;
    const char *p = s;
    while (*p && n < max) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *eq = strchr(p, '=');
        const char *comma = strchr(p, ',');
        if (!eq || (comma && comma < eq))
            return -1;
        size_t nl = (size_t)(eq - p);
        if (nl == 0 || nl >= sizeof out[n].name)
            return -1;
        memcpy(out[n].name, p, nl);
        out[n].name[nl] = '\0';
        int a, b, used = 0;
        if (sscanf(eq + 1, "%d-%d%n", &a, &b, &used) != 2 || a < 0 || a > 23 || b < 0 || b > 24)
            return -1;
        out[n].start = a;
        out[n].end = b;
        n++;
        p = eq + 1 + used;
    }
    return n;
}


static void
route_stats(vg_req *r, void *ud)
{
    vg_history *h = ud;
    const vg_config *cfg = vg_server_config(h->srv);
    char period[16] = "hour";
    if (query_str(r, "period", period, sizeof period) == -2 ||
        (strcmp(period, "hour") && strcmp(period, "day") && strcmp(period, "shift"))) {
        vg_req_error(r, 422, "invalid", "period must be hour, day or shift");
        return;
    }
    int64_t now = (int64_t)ev_now(vg_server_loop(h->srv));
    uint64_t since_us = 0, until_us = 0;
    int hs = query_time(r, "since", &since_us), hu = query_time(r, "until", &until_us);
    if (hs == -2 || hu == -2) {
        vg_req_error(r, 422, "invalid", "since and until are unix times in seconds");
        return;
    }
    int64_t until = hu == 0 ? (int64_t)(until_us / 1000000) : now + 1;
    int64_t since = hs == 0 ? (int64_t)(since_us / 1000000) : until - (strcmp(period, "hour") == 0 ? 86400 : 30 * 86400);
    if (since >= until) {
        vg_req_error(r, 422, "invalid", "since must be before until");
        return;
    }
    int64_t off = (int64_t)cfg->stats_utc_offset * 60;
    shift shifts[16];
    int nshifts = 0;
    if (strcmp(period, "shift") == 0 && (nshifts = parse_shifts(cfg->stats_shifts, shifts, 16)) <= 0) {
        vg_req_error(r, 500, "bad_config", "stats.shifts is malformed (want NAME=HH-HH,...)");
        return;
    }
    int64_t span = strcmp(period, "hour") == 0 ? 3600 : 86400;
    if ((until - since) / span > MAX_BUCKETS) {
        vg_req_error(r, 422, "invalid", "at most %d %ss per request", MAX_BUCKETS, period);
        return;
    }
    stats_plan plan;
    memset(&plan, 0, sizeof plan);
    if (span == 3600) {
        for (int64_t t = since - since % 3600; t < until; t += 3600)
            plan_add(&plan, 'h', t, 1, NULL, t + 3600);
    } else {
        /* local days: from the hourly buckets when the offset is not 0 (UTC days are stored as such) */
        int64_t first = (since + off) - ((since + off) % 86400 + 86400) % 86400 - off;
        for (int64_t d = first; d < until; d += 86400) {
            if (nshifts == 0) {
                plan_add(&plan, off == 0 ? 'd' : 'h', d, off == 0 ? 1 : 24, NULL, d + 86400);
                continue;
            }
            for (int s = 0; s < nshifts; s++) {
                int hours = shifts[s].end > shifts[s].start ? shifts[s].end - shifts[s].start
                                                           : 24 - shifts[s].start + shifts[s].end;
                int64_t st = d + shifts[s].start * 3600;
                plan_add(&plan, 'h', st, hours, shifts[s].name, st + hours * 3600);
            }
        }
    }
    vg_buf b;
    vg_buf_init(&b);
    vg_jsonw w;
    vg_jsonw_init(&w, &b);
    vg_jsonw_obj(&w);
    vg_jsonw_kstr(&w, "period", period);
    vg_jsonw_kint(&w, "utc_offset_minutes", cfg->stats_utc_offset);
    vg_jsonw_karr(&w, "buckets");
    plan.w = &w;
    vg_agg_bucket_init(&plan.total);
    int rc = vg_store_stats(h->store, plan.spans, plan.n, plan_bucket, &plan);
    free(plan.spans);
    free(plan.shown);
    if (rc != 0) {
        vg_agg_bucket_release(&plan.total);
        vg_buf_release(&b);
        vg_auth_store_error(r, rc, "cannot read statistics");
        return;
    }
    vg_jsonw_arr_end(&w);
    vg_jsonw_key(&w, "total");
    bucket_json(&w, NULL, since, until, &plan.total);
    vg_agg_bucket_release(&plan.total);
    vg_jsonw_obj_end(&w);
    vg_buf_putc(&b, '\n');
    vg_req_respond_buf(r, 200, "application/json", &b);
    vg_buf_release(&b);
}


static void
on_unique_stored(int status, vg_mpr *rest, void *ud)
{
    (void)rest;
    (void)ud;
    if (status != 0)
        vg_debug("history", "a unique object was not counted: %s", vg_err_str(status));
}


int
vg_history_unique(vg_history *h, uint64_t t_ms, const char *label, const char *upper, const char *lower)
{
    if (!h || !h->store || !vg_history_enabled(h))
        return 1;
    return vg_store_unique_add(h->store, t_ms, label, upper, lower, on_unique_stored, NULL);
}


vg_history *
vg_history_create(vg_http *http, vg_store *store)
{
    vg_history *h = vg_xcalloc(1, sizeof *h);
    h->srv = vg_http_server(http);
    h->store = store;
    vg_http_route(http, VG_M_GET, "/v1/detections", route_list, h, 0, VG_ACCESS_VIEWER);
    vg_http_route(http, VG_M_GET, "/v1/detections/{id}", route_get, h, 0, VG_ACCESS_VIEWER);
    vg_http_route(http, VG_M_GET, "/v1/detections/{id}/image", route_image, h, 0, VG_ACCESS_VIEWER);
    vg_http_route(http, VG_M_POST, "/v1/feedback", route_feedback_add, h, 16384, VG_ACCESS_OPERATOR);
    vg_http_route(http, VG_M_GET, "/v1/feedback", route_feedback_list, h, 0, VG_ACCESS_ADMIN);
    vg_http_route(http, VG_M_GET, "/v1/stats", route_stats, h, 0, VG_ACCESS_VIEWER);
    return h;
}


void
vg_history_destroy(vg_history *h)
{
    free(h);
}
