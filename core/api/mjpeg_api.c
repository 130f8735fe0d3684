/* mjpeg_api: see mjpeg_api.h. */
#include "api/mjpeg_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "base/buf.h"
#include "base/list.h"
#include "net/conn.h"
#include "http/http.h"
#include "base/log.h"
#include "base/metrics.h"
#include "net/server.h"
#include "api/stream_api.h"

struct vg_mjpeg_api {
    vg_server *srv;
    vg_stream_api *streams;
    vg_list viewers;              /* newest first */
    vg_series *m_frames, *m_skipped;
};

/* One multipart part (boundary, headers, JPEG, CRLF), shared by the viewers it goes to. */
typedef struct part {
    int refs;
    size_t len;
    char data[];
} part;

typedef struct viewer {
    vg_mjpeg_api *api;            /* NULL once the api is gone */
    vg_conn *conn;
    char stream[VG_STREAM_ID_MAX + 1];
    part *next_part;              /* the newest frame, waiting for the connection to drain */
    uint64_t sent, skipped;
    vg_link link;                 /* in api->viewers, while the api lives */
} viewer;


static void
part_unref(void *p)
{
    part *x = p;
    if (x && --x->refs == 0)
        free(x);
}


static void
viewer_send(viewer *v, part *p)
{
    p->refs++;
    if (vg_conn_write(v->conn, p->data, p->len, part_unref, p) == 0) {
        vg_conn_flush(v->conn);
        v->sent++;
        if (v->api)
            vg_series_add(v->api->m_frames, 1);
    }
}


/* ---- the tap on the streams ------------------------------------------------ */

static int
tap_wants(const char *stream_id, void *ud)
{
    vg_mjpeg_api *api = ud;
    vg_list_each(v, &api->viewers, viewer, link)
        if (strcmp(v->stream, stream_id) == 0)
            return 1;
    return 0;
}


static void
tap_frame(const char *stream_id, const void *jpeg, size_t len, void *ud)
{
    vg_mjpeg_api *api = ud;
    part *p = NULL;
    vg_list_each(v, &api->viewers, viewer, link) {
        if (strcmp(v->stream, stream_id) != 0 || !v->conn)
            continue;
        if (!p) {
            char head[160];
            int hn = snprintf(head, sizeof head,
                              "--" VG_MJPEG_BOUNDARY "\r\nContent-Type: image/jpeg\r\nContent-Length: %zu\r\n\r\n", len);
            p = vg_xmalloc(sizeof *p + (size_t)hn + len + 2);
            p->refs = 1;
            memcpy(p->data, head, (size_t)hn);
            memcpy(p->data + hn, jpeg, len);
            memcpy(p->data + hn + len, "\r\n", 2);
            p->len = (size_t)hn + len + 2;
        }
        if (vg_conn_has_output(v->conn)) {
            /* still writing the last one: this frame replaces any other waiting */
            if (v->next_part) {
                v->skipped++;
                vg_series_add(api->m_skipped, 1);
                part_unref(v->next_part);
            }
            p->refs++;
            v->next_part = p;
        } else {
            viewer_send(v, p);
        }
    }
    part_unref(p);
}


/* ---- the viewer's connection -------------------------------------------------- */

static void
mj_on_read(vg_conn *c, const char *p, size_t n)
{
    (void)c;
    (void)p;
    (void)n;   /* a viewer has nothing to say; pipelined bytes are dropped */
}


static void
mj_on_eof(vg_conn *c)
{
    vg_conn_close(c, "the MJPEG viewer left");
}


static void
mj_on_drained(vg_conn *c)
{
    viewer *v = vg_conn_proto_ctx(c);
    if (v->next_part) {
        part *p = v->next_part;
        v->next_part = NULL;
        viewer_send(v, p);
        part_unref(p);
    }
}


static void
mj_on_timeout(vg_conn *c)
{
    (void)c;
}


static void
mj_on_close(vg_conn *c)
{
    viewer *v = vg_conn_proto_ctx(c);
    vg_mjpeg_api *api = v->api;
    if (api)
        vg_list_remove(&api->viewers, &v->link);
    vg_debug("mjpeg", "%s: viewer of '%s' gone after %llu frames (%llu skipped)", vg_conn_peer(c), v->stream,
             (unsigned long long)v->sent, (unsigned long long)v->skipped);
    part_unref(v->next_part);
    free(v);
}


static void
mj_on_shutdown(vg_conn *c)
{
    static const char end[] = "--" VG_MJPEG_BOUNDARY "--\r\n";
    vg_conn_write(c, end, sizeof end - 1, NULL, NULL);
    vg_conn_flush(c);
    vg_conn_close_after_flush(c);
}


static const vg_proto mjpeg_proto = {
    "mjpeg", mj_on_read, mj_on_eof, mj_on_drained, mj_on_timeout, mj_on_close, mj_on_shutdown, NULL
};


static void
route_mjpeg(vg_req *r, void *ud)
{
    vg_mjpeg_api *api = ud;
    const vg_config *cfg = vg_server_config(api->srv);
    vg_str raw = vg_req_param(r, 0);
    vg_buf b;
    vg_buf_init(&b);
    char id[VG_STREAM_ID_MAX + 1];
    int ok = vg_url_decode(raw.p, raw.n, &b, 0) == 0 && vg_stream_id_valid(b.data, b.len);
    if (ok)
        memcpy(id, b.data, b.len + 1);
    vg_buf_release(&b);
    if (!ok) {
        vg_req_error(r, 400, "bad_request", "stream ids are 1-64 characters of A-Z a-z 0-9 . _ -");
        return;
    }
    if (cfg->mjpeg_max_viewers == 0) {
        vg_req_error(r, 404, "not_found", "MJPEG is off (mjpeg.max_viewers = 0)");
        return;
    }
    if (!vg_stream_api_has_stream(api->streams, id)) {
        vg_req_error(r, 404, "no_such_stream", "no live stream '%s' (a /v1/stream client names it with ?stream=)", id);
        return;
    }
    if ((int)api->viewers.n >= cfg->mjpeg_max_viewers) {
        vg_req_add_header(r, "Retry-After", "5");
        vg_req_error(r, 503, "too_many_viewers", "%d MJPEG viewers already (mjpeg.max_viewers)",
                     (int)api->viewers.n);
        return;
    }
    vg_req_add_header(r, "Cache-Control", "no-cache, no-store, must-revalidate");
    vg_req_add_header(r, "Pragma", "no-cache");
    if (vg_req_method(r) == VG_M_HEAD) {
        vg_req_respond(r, 200, "multipart/x-mixed-replace; boundary=" VG_MJPEG_BOUNDARY, NULL, 0);
        return;
    }
    vg_req_add_header(r, "Content-Type", "multipart/x-mixed-replace; boundary=" VG_MJPEG_BOUNDARY);
    vg_req_add_header(r, "Connection", "close");
    vg_req_add_header(r, "X-Accel-Buffering", "no");
    viewer *v = vg_xcalloc(1, sizeof *v);
    v->api = api;
    snprintf(v->stream, sizeof v->stream, "%s", id);
    vg_conn *c = vg_req_upgrade(r, 200, &mjpeg_proto, v);
    if (!c) {
        free(v);
        return;
    }
    v->conn = c;
    vg_list_push_front(&api->viewers, &v->link);
    vg_info("mjpeg", "%s watches stream '%s'", vg_conn_peer(c), id);
}


static void
collect_viewers(vg_metric *m, void *ud)
{
    vg_mjpeg_api *api = ud;
    vg_series_set(vg_metrics_single(m), (double)api->viewers.n);
}


vg_mjpeg_api *
vg_mjpeg_api_create(vg_http *http, vg_stream_api *streams)
{
    vg_mjpeg_api *api = vg_xcalloc(1, sizeof *api);
    vg_server *srv = vg_http_server(http);
    api->srv = srv;
    api->streams = streams;
    /* <img> tags cannot send headers: ?token= */
    vg_http_route(http, VG_M_GET, "/v1/streams/{id}/mjpeg", route_mjpeg, api, 0, VG_ACCESS_READ | VG_ACCESS_QUERY_TOKEN);
    vg_stream_tap tap = { tap_wants, tap_frame, api, vg_server_config(srv)->mjpeg_quality };
    vg_stream_api_set_tap(streams, &tap);
    vg_metric *frames = vg_metrics_register("vigia_mjpeg_frames_total",
                                            "annotated frames sent to MJPEG viewers, and frames slow viewers skipped",
                                            VG_COUNTER, "result", NULL, 0);
    const char *sent[] = { "sent" }, *skipped[] = { "skipped" };
    api->m_frames = vg_metrics_series(frames, sent);
    api->m_skipped = vg_metrics_series(frames, skipped);
    vg_metrics_set_collect(vg_metrics_register("vigia_mjpeg_viewers", "open MJPEG responses", VG_GAUGE, "", NULL, 0),
                           collect_viewers, api);
    return api;
}


void
vg_mjpeg_api_destroy(vg_mjpeg_api *api)
{
    if (!api)
        return;
    vg_stream_tap none;
    memset(&none, 0, sizeof none);
    vg_stream_api_set_tap(api->streams, &none);
    while (!vg_list_empty(&api->viewers)) {
        viewer *v = vg_list_first(&api->viewers, viewer, link);
        vg_list_remove(&api->viewers, &v->link);
        v->api = NULL;
        vg_conn_close(v->conn, "shutting down");
    }
    free(api);
}
