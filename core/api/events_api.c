/* events_api: see events_api.h and docs/events.md. */
#include "api/events_api.h"

#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "base/buf.h"
#include "base/error.h"
#include "base/log.h"
#include "base/metrics.h"
#include "http/reply.h"
#include "net/server.h"
#include "store/records.h"
#include "store/store_read.h"
#include "store/store_write.h"

#define EVENT_MAX (16 * 1024)       /* an event's JSON kept at most (they are about 1.5 KiB) */
#define FILTER_MAX 128

struct vg_events_api {
    vg_server *srv;
    vg_store *store;
    vg_history *history;
    vg_series *m_stored, *m_dropped;
};

/* A page's filters beyond vg_history_page_open's: camera, label, type. */
typedef struct filter {
    vg_jsonw *w;
    const char *camera, *label, *type;
} filter;


static void
on_stored(int status, vg_mpr *rest, void *ud)
{
    (void)rest;
    vg_events_api *e = ud;
    if (status == 0) {
        vg_series_add(e->m_stored, 1);
        return;
    }
    vg_series_add(e->m_dropped, 1);
    vg_debug("events", "an event was not stored: %s", vg_err_str(status));
}


void
vg_events_api_on_event(const char *stream_id, json_t *ev, void *ud)
{
    (void)stream_id;
    vg_events_api *e = ud;
    if (!e->history || !vg_history_enabled(e->history))
        return;
    char *s = json_dumps(ev, JSON_COMPACT);
    size_t n = s ? strlen(s) : 0;
    uint8_t key[VG_DB_DETKEY];
    vg_db_key_new(key, (uint64_t)(ev_now(vg_server_loop(e->srv)) * 1e6));
    if (!s || n > EVENT_MAX || vg_store_event_add(e->store, key, s, n, on_stored, e) != 0)
        vg_series_add(e->m_dropped, 1);   /* the store is busy or down: on_stored never fires */
    free(s);
}


static int
str_is(json_t *v, const char *want)
{
    const char *s = json_string_value(v);
    return s && strcmp(s, want) == 0;
}


/* One stored event into the page when it passes the filter (a vg_store_record_fn). */
static int
render_event(const uint8_t key[VG_DB_DETKEY], const void *p, size_t n, void *ud)
{
    filter *f = ud;
    json_t *ev = json_loadb(p, n, 0, NULL);
    int rc = 1;
    if (ev && (!f->camera || str_is(json_object_get(ev, "camera"), f->camera)) &&
        (!f->label || str_is(json_object_get(json_object_get(ev, "after"), "label"), f->label)) &&
        (!f->type || str_is(json_object_get(ev, "type"), f->type))) {
        char hx[33];
        vg_db_key_hex(key, hx);
        vg_jsonw_obj(f->w);
        vg_jsonw_kstr(f->w, "key", hx);
        vg_jsonw_kint(f->w, "stored", (int64_t)(vg_db_key_time(key) / 1000));
        vg_jsonw_key(f->w, "event");
        vg_jsonw_raw(f->w, p, n);
        vg_jsonw_obj_end(f->w);
        rc = 0;
    }
    json_decref(ev);
    return rc;
}


/* A query parameter into out (NULL when absent); -1 after answering 422 when too long or empty. */
static int
param(vg_req *r, const char *name, char *out, size_t cap, const char **val)
{
    vg_buf v;
    vg_buf_init(&v);
    int rc = 0;
    *val = NULL;
    if (vg_req_query_get(r, name, &v) == 0) {
        if (v.len == 0 || v.len >= cap) {
            vg_req_error(r, 422, "invalid", "%s must be 1 to %zu bytes", name, cap - 1);
            rc = -1;
        } else {
            memcpy(out, v.data, v.len + 1);
            *val = out;
        }
    }
    vg_buf_release(&v);
    return rc;
}


static void
route_events(vg_req *r, void *ud)
{
    vg_events_api *e = ud;
    vg_det_filter df;
    vg_reply a;
    vg_store_page page;
    char camera[FILTER_MAX], type[16];
    filter f = { 0 };
    if (param(r, "camera", camera, sizeof camera, &f.camera) < 0 || param(r, "type", type, sizeof type, &f.type) < 0)
        return;
    if (f.type && strcmp(f.type, "new") != 0 && strcmp(f.type, "update") != 0 && strcmp(f.type, "end") != 0) {
        vg_req_error(r, 422, "invalid", "type is new, update or end");
        return;
    }
    if (vg_history_page_open(r, &df, &a, "events") < 0)
        return;
    if (df.has_source || df.has_model || df.has_user) {
        vg_reply_release(&a);
        vg_req_error(r, 422, "invalid", "events are filtered by camera, label, type, since and until");
        return;
    }
    f.w = &a.w;
    f.label = df.has_label ? df.label : NULL;
    int rc = vg_store_events_page(e->store, &df, render_event, &f, &page);
    vg_history_page_send(&a, r, rc, &page, "cannot read events");
}


vg_events_api *
vg_events_api_create(vg_http *http, vg_store *store, vg_history *history)
{
    vg_events_api *e = vg_xcalloc(1, sizeof *e);
    e->srv = vg_http_server(http);
    e->store = store;
    e->history = history;
    vg_metric *m = vg_metrics_register("vigia_events_stored_total",
                                       "track events kept in the history, or dropped (the store was busy or down)",
                                       VG_COUNTER, "result", NULL, 0);
    const char *ok[] = { "stored" }, *no[] = { "dropped" };
    e->m_stored = vg_metrics_series(m, ok);
    e->m_dropped = vg_metrics_series(m, no);
    vg_http_route(http, VG_M_GET, "/v1/events", route_events, e, 0, VG_ACCESS_VIEWER);
    return e;
}


void
vg_events_api_destroy(vg_events_api *e)
{
    free(e);
}
