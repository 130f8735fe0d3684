/* stream_api: see stream_api.h and docs/protocol.md. */
#include "api/stream_api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "analytics/events.h"
#include "analytics/scene.h"
#include "analytics/tracker.h"
#include "base/base64.h"
#include "base/error.h"
#include "base/list.h"
#include "api/call.h"
#include "api/detect_opts.h"
#include "api/render.h"
#include "api/track_stats.h"
#include "api/stream_overlay.h"
#include "pipeline/colors.h"
#include "auth/auth.h"
#include "api/history_api.h"
#include "http/http.h"
#include "base/log.h"
#include "base/metrics.h"
#include "pool/pool.h"
#include "net/server.h"
#include "http/wire.h"
#include "http/ws.h"

#define CONTROL_MAX (64 * 1024)    /* largest text control message */
#define RING 64                     /* answers kept for fps and latency */
#define MAX_FILTER_STREAMS 16
#define MAX_FILTER_LABELS 32
#define TS_MAX 256                  /* a message's ts as compact JSON: it is echoed to every observer */
#define OWNED_PER_USER 64           /* stream ids remembered per user (the least recently used go first) */
#define MAX_SINKS 4                 /* event sinks (MQTT, webhooks) */

static const char *const subprotocols[] = { "vigia.json", "vigia.msgpack", NULL };

typedef struct frame {
    char *data;
    size_t len;
    uint64_t seq;
    json_t *ts;                 /* the client's timestamp, echoed; NULL if none */
    vg_detect_opts opt;
    ev_tstamp arrived;
    int overlay;                /* an MJPEG viewer watches: data stays ours for the overlay job */
} frame;

typedef struct stream {
    struct vg_stream_api *api;
    vg_ws *ws;                  /* NULL once the connection is gone */
    int msgpack;
    char id[VG_STREAM_ID_MAX + 1];
    vg_detect_opts opt;         /* the stream's settings */
    json_t *next_ts;            /* from a "frame" envelope, for the next binary frame */
    vg_detect_opts next_opt;
    int has_next;
    frame *running;             /* in the pool */
    vg_pool_req *preq;
    vg_pool_req *ov_req;        /* its overlay job in the pool (at most one), or NULL */
    frame *pending;             /* the latest frame waiting for the running one */
    uint64_t received, processed, skipped, dropped, failed;
    uint32_t skipped_since, dropped_since;
    vg_buf held;                /* an answer kept back from a congested reader */
    vg_buf held_jpeg;
    int has_held;
    ev_timer held_timer;        /* looks again whether the reader caught up */
    double lat_ms[RING], done_at[RING];
    int ring_n, ring_i;
    char model_used[128];
    vg_track_stats *tstats;     /* its tracks' colours and unique counts; NULL until its first tracks */
    uint64_t uid;               /* who connected, for the history */
    char user[VG_DB_NAME_MAX + 1];
    ev_tstamp stored_at;        /* last answer kept in the history */
    char stored_labels[512];    /* its labels, sorted and joined */
    uint64_t stored;
    vg_tracker *tracker;        /* its tracks ([stream] track); NULL until its first answer */
    vg_scene *scene;            /* its zones, lines and track events; NULL until tracks or shapes */
    double ev_tokens;           /* events it may still send now (stream.events_per_second, a bucket) */
    double ev_at;               /* when the bucket was filled last (ev_now, s) */
    double last_ts;             /* the latest answered frame's time (ms), for the end events at close */
    json_t *events;             /* scratch: this answer's events, while the scene runs */
    vg_link link;               /* in api->streams */
} stream;

typedef struct observer {
    struct vg_stream_api *api;
    vg_ws *ws;
    int msgpack;
    char streams_buf[1024];
    const char *streams[MAX_FILTER_STREAMS];
    int nstreams;
    char labels_buf[1024];
    const char *labels[MAX_FILTER_LABELS];
    int nlabels;
    float min_confidence;
    uint64_t dropped;
    vg_link link;               /* in api->observers */
} observer;

/*
 * Who a stream id belongs to: the first signed-in user who streamed with
 * it, for as long as the server runs, so that no other user (an admin
 * aside) can stream under that name while its camera is away.
 */
typedef struct owner {
    char id[VG_STREAM_ID_MAX + 1];
    uint64_t uid;
    vg_link link;               /* in api->owners, most recently used first */
} owner;

struct vg_stream_api {
    vg_server *srv;
    vg_pool *pool;
    vg_history *history;        /* NULL: answers are not stored */
    vg_list streams;            /* the /v1/stream clients, newest first */
    vg_list observers;          /* the /v1/live clients, newest first */
    vg_list owners;             /* owner records, most recently used first */
    ev_timer tick;
    uint64_t model_ok_prev[64];
    char model_names[64][64];
    int nmodel_prev;
    vg_series *m_received, *m_processed, *m_skipped, *m_dropped, *m_failed;
    uint64_t next_anon;
    vg_stream_tap tap;          /* annotated frames for MJPEG viewers */
    vg_series *m_overlays, *m_overlays_dropped;  /* MJPEG overlay jobs submitted, and those not (one in flight,
                                                    load): vigia_mjpeg_overlays_total */
    vg_stream_event_sink sinks[MAX_SINKS];  /* who else gets the streams' events */
    int nsinks;
    vg_series *m_events, *m_events_dropped;
    vg_stream_shapes_fn shapes;  /* a named camera's zones and lines, at connect */
    void *shapes_ud;
};

/* ------------------------------------------------------------------ */
/* helpers */

static json_int_t
unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


int
vg_stream_id_valid(const char *s, size_t n)
{
    if (n == 0 || n > VG_STREAM_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == '.'))
            return 0;
    }
    return 1;
}


/* Sends a message object in the connection's encoding, with an optional JPEG. */
static int
append_text(const char *p, size_t n, void *ud)
{
    vg_buf_append(ud, p, n);
    return 0;
}


/* msg in a client's encoding (docs/protocol.md) into out; in msgpack with jpeg as its annotated_jpeg. */
static void
encode(json_t *msg, int msgpack, const void *jpeg, size_t jpeg_len, vg_buf *out)
{
    if (msgpack)
        vg_wire_pack(msg, "annotated_jpeg", jpeg, jpeg_len, out);
    else
        json_dump_callback(msg, append_text, out, JSON_COMPACT | JSON_REAL_PRECISION(7));
}


static int
send_obj(vg_ws *ws, int msgpack, json_t *msg, const void *jpeg, size_t jpeg_len)
{
    vg_buf b;
    vg_buf_init(&b);
    encode(msg, msgpack, jpeg, jpeg_len, &b);
    int rc = vg_ws_send(ws, msgpack, b.data, b.len);
    if (rc == 0 && !msgpack && jpeg)
        rc = vg_ws_send(ws, 1, jpeg, jpeg_len);   /* in JSON the image follows as a binary message */
    vg_buf_release(&b);
    return rc;
}


/*
 * One message for many observers: each encoding is made once, when the
 * first observer speaking it needs it, and the same bytes go to all.
 */
typedef struct shared_msg {
    json_t *msg;
    vg_buf enc[2];              /* [0] JSON text, [1] msgpack */
    int have[2];
} shared_msg;


static void
send_shared(vg_ws *ws, int msgpack, shared_msg *m)
{
    int k = msgpack ? 1 : 0;
    if (!m->have[k]) {
        encode(m->msg, k, NULL, 0, &m->enc[k]);
        m->have[k] = 1;
    }
    vg_ws_send(ws, k, m->enc[k].data, m->enc[k].len);
}


static void
shared_release(shared_msg *m)
{
    vg_buf_release(&m->enc[0]);
    vg_buf_release(&m->enc[1]);
}


static void
send_error(vg_ws *ws, int msgpack, json_t *frame_seq, const char *code, const char *message)
{
    json_t *m = json_pack("{s:s, s:s, s:s}", "type", "error", "code", code, "message", message);
    if (frame_seq)
        json_object_set(m, "frame", frame_seq);
    send_obj(ws, msgpack, m, NULL, 0);
    json_decref(m);
}


static json_t *
opts_json(const vg_detect_opts *o)
{
    json_t *classes = json_array();
    for (size_t i = 0; i < o->nclasses; i++)
        json_array_append_new(classes, json_string(o->classes[i]));
    json_t *j = json_object();
    json_object_set_new(j, "model", o->model[0] ? json_string(o->model) : json_null());
    json_object_set_new(j, "min_confidence", o->min_confidence < 0 ? json_null() : json_real(o->min_confidence));
    json_object_set_new(j, "nms", o->nms < 0 ? json_null() : json_real(o->nms));
    json_object_set_new(j, "classes", classes);
    json_object_set_new(j, "annotate", json_boolean(o->annotate));
    json_object_set_new(j, "k", json_integer(o->top_k > 0 ? o->top_k : VG_DETECT_TOP_K));   /* a classifier's */
    json_object_set_new(j, "attributes", json_string(o->attributes & VG_ATTR_COLORS ? "colors" : "none"));
    return j;
}


/* The stream's settings as hello and config acknowledgements show them: its options, and its zones and lines. */
static json_t *
settings_json(const stream *s)
{
    json_t *settings = opts_json(&s->opt);
    if (s->scene) {
        json_t *shapes = vg_scene_config_json(s->scene);
        json_object_update(settings, shapes);
        json_decref(shapes);
    }
    return settings;
}


static void
frame_free(frame *f)
{
    if (!f)
        return;
    free(f->data);
    json_decref(f->ts);
    free(f);
}

/* ------------------------------------------------------------------ */
/* stats */

static void
ring_add(stream *s, double lat_ms, double now)
{
    s->lat_ms[s->ring_i] = lat_ms;
    s->done_at[s->ring_i] = now;
    s->ring_i = (s->ring_i + 1) % RING;
    if (s->ring_n < RING)
        s->ring_n++;
}


static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}


/* fps over the last 5 s and latency percentiles over the ring */
static void
ring_stats(const stream *s, double now, double *fps, double *p50, double *p99)
{
    double sorted[RING];
    int n = 0, recent = 0;
    for (int i = 0; i < s->ring_n; i++) {
        sorted[n++] = s->lat_ms[i];
        if (now - s->done_at[i] <= 5.0)
            recent++;
    }
    *fps = recent / 5.0;
    if (n == 0) {
        *p50 = *p99 = 0;
        return;
    }
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_double);
    *p50 = sorted[(n - 1) / 2];
    *p99 = sorted[(int)ceil(0.99 * n) - 1];
}

/* ------------------------------------------------------------------ */
/* observers */

static int
in_list(const char *const *list, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}


/* Sends a stream's answer to every observer whose filter it passes. */
static void
broadcast(vg_stream_api *api, const char *stream_id, json_t *answer)
{
    const char *found = json_object_get(answer, "classifications") ? "classifications" : "detections";
    json_t *dets = json_object_get(answer, found);   /* a classifier's answer filters its classes */
    shared_msg all = { .msg = answer };
    vg_list_each(o, &api->observers, observer, link) {
        if (o->nstreams && !in_list(o->streams, o->nstreams, stream_id))
            continue;
        json_t *msg = answer;
        json_t *filtered = NULL;
        if (o->nlabels || o->min_confidence > 0) {
            filtered = json_array();
            size_t i;
            json_t *d;
            json_array_foreach(dets, i, d) {
                const char *label = json_string_value(json_object_get(d, "label"));
                double conf = json_number_value(json_object_get(d, "confidence"));
                if ((o->nlabels && !in_list(o->labels, o->nlabels, label)) || conf < o->min_confidence)
                    continue;
                json_array_append(filtered, d);
            }
            if (json_array_size(filtered) == 0) {
                json_decref(filtered);
                continue;   /* nothing this observer asked for */
            }
            msg = json_copy(answer);
            json_object_set_new(msg, found, filtered);
            json_object_set_new(msg, "count", json_integer((json_int_t)json_array_size(filtered)));
        }
        if (vg_ws_congested(o->ws))
            o->dropped++;
        else if (filtered)
            send_obj(o->ws, o->msgpack, msg, NULL, 0);   /* this observer's own message */
        else
            send_shared(o->ws, o->msgpack, &all);
        if (filtered)
            json_decref(msg);
    }
    shared_release(&all);
}


static json_t *
metrics_message(vg_stream_api *api)
{
    double now = ev_now(vg_server_loop(api->srv));
    json_t *streams = json_array();
    vg_list_each(s, &api->streams, stream, link) {
        double fps, p50, p99;
        ring_stats(s, now, &fps, &p50, &p99);
        json_array_append_new(streams, json_pack("{s:s, s:s, s:f, s:{s:f, s:f}, s:I, s:I, s:I, s:I, s:I, s:b}",
            "stream", s->id, "model", s->model_used, "fps", fps, "latency_ms", "p50", p50, "p99", p99,
            "frames", (json_int_t)s->received, "processed", (json_int_t)s->processed,
            "skipped", (json_int_t)s->skipped, "dropped", (json_int_t)s->dropped, "failed", (json_int_t)s->failed,
            "waiting", s->pending != NULL));
        json_object_set_new(json_array_get(streams, json_array_size(streams) - 1), "stored", json_integer((json_int_t)s->stored));
    }
    json_t *models = json_array();
    size_t n = vg_pool_model_count(api->pool);
    for (size_t i = 0; i < n; i++) {
        vg_pool_model_stats m;
        if (vg_pool_model_stats_at(api->pool, i, &m) != 0 || strcmp(m.state, "unloaded") == 0 ||
            strcmp(m.state, "invalid") == 0)
            continue;
        /* fps from the change in answered jobs since the last tick */
        double fps = 0;
        int k;
        for (k = 0; k < api->nmodel_prev; k++)
            if (strcmp(api->model_names[k], m.name) == 0)
                break;
        if (k == api->nmodel_prev && k < 64) {
            snprintf(api->model_names[k], sizeof api->model_names[k], "%s", m.name);
            api->model_ok_prev[k] = m.jobs_ok;
            api->nmodel_prev++;
        } else if (k < 64) {
            fps = (double)(m.jobs_ok - api->model_ok_prev[k]);
            api->model_ok_prev[k] = m.jobs_ok;
        }
        json_array_append_new(models, json_pack("{s:s, s:s, s:s, s:f, s:{s:f, s:f}, s:i, s:i, s:i, s:i, s:I}",
            "name", m.name, "state", m.state, "backend", m.backend, "fps", fps,
            "latency_ms", "p50", m.p50_ms, "p99", m.p99_ms, "queue", (int)m.queue_depth,
            "workers", (int)m.workers, "workers_ready", (int)m.workers_ready, "workers_busy", (int)m.workers_busy,
            "restarts", (json_int_t)m.restarts));
    }
    return json_pack("{s:s, s:I, s:i, s:i, s:i, s:o, s:o}", "type", "metrics", "ts", unix_ms(),
                     "connections", vg_server_connection_count(api->srv), "streams_open", (int)api->streams.n,
                     "observers", (int)api->observers.n, "streams", streams, "models", models);
}


static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    vg_stream_api *api = w->data;
    if (vg_list_empty(&api->observers))
        return;
    shared_msg m = { .msg = metrics_message(api) };
    vg_list_each(o, &api->observers, observer, link)
        if (!vg_ws_congested(o->ws))
            send_shared(o->ws, o->msgpack, &m);
    shared_release(&m);
    json_decref(m.msg);
}

/* ------------------------------------------------------------------ */
/* frames through the pool */

static void submit(stream *s, frame *f);

static void
stream_free(stream *s)
{
    ev_timer_stop(vg_server_loop(s->api->srv), &s->held_timer);
    frame_free(s->pending);
    json_decref(s->next_ts);
    vg_track_stats_close(s->tstats, s->api->history);
    vg_buf_release(&s->held);
    vg_buf_release(&s->held_jpeg);
    vg_tracker_destroy(s->tracker);
    vg_scene_destroy(s->scene);
    json_decref(s->events);
    free(s);
}


/* Delivers now, or keeps the newest answer back while the reader is slow. */
static void
deliver(stream *s, json_t *msg, const void *jpeg, size_t jpeg_len)
{
    if (!vg_ws_congested(s->ws)) {
        send_obj(s->ws, s->msgpack, msg, jpeg, jpeg_len);
        return;
    }
    if (s->has_held) {
        s->dropped++;
        s->dropped_since++;
        vg_series_add(s->api->m_dropped, 1);
    }
    s->held.len = 0;
    s->held_jpeg.len = 0;
    char *text = json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(7));
    vg_buf_puts(&s->held, text);
    free(text);
    if (jpeg)
        vg_buf_append(&s->held_jpeg, jpeg, jpeg_len);
    s->has_held = 1;
    /* bytes leave the kernel without an event for us: look again shortly */
    if (!ev_is_active(&s->held_timer))
        ev_timer_again(vg_server_loop(s->api->srv), &s->held_timer);
}


static void
on_ws_writable(vg_ws *ws, void *ud)
{
    (void)ws;
    stream *s = ud;
    if (!s->has_held || vg_ws_congested(s->ws))
        return;
    s->has_held = 0;
    ev_timer_stop(vg_server_loop(s->api->srv), &s->held_timer);
    json_t *msg = json_loads(vg_buf_cstr(&s->held), 0, NULL);
    if (msg) {
        /* the count of dropped answers is up to date when it leaves */
        json_object_set_new(msg, "dropped", json_integer(s->dropped_since));
        s->dropped_since = 0;
        send_obj(s->ws, s->msgpack, msg, s->held_jpeg.len ? s->held_jpeg.data : NULL, s->held_jpeg.len);
        json_decref(msg);
    }
}


static void
on_held_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    stream *s = w->data;
    if (s->ws)
        on_ws_writable(s->ws, s);
}


static json_t *
answer_json(stream *s, frame *f, const vg_pool_result *res)
{
    double server_ms = (ev_time() - f->arrived) * 1000.0;
    json_t *m = json_pack("{s:s, s:s, s:I}", "type", "detections", "stream", s->id, "frame", (json_int_t)f->seq);
    vg_render o;
    vg_render_tree(&o, m);
    vg_pool_result cut = *res;
    vg_detect_opts_cut(&f->opt, &cut);   /* a classifier's k best */
    vg_render_result(&o, &cut, VG_DETJ_CLASS_ID | VG_DETJ_BOX | VG_DETJ_FLAT_SIZE);
    json_object_set_new(json_object_get(m, "timings_ms"), "server", json_real(server_ms));
    json_object_set_new(m, "skipped", json_integer((int)s->skipped_since));
    json_object_set_new(m, "dropped", json_integer((int)s->dropped_since));
    json_object_set_new(m, "annotated", json_boolean(res->jpeg != NULL && f->opt.annotate));
    json_object_set(m, "ts", f->ts ? f->ts : json_null());
    json_object_set_new(m, "server_ts", json_integer(unix_ms()));
    return m;
}


/*
 * A track event to the observers whose filter it passes (their streams,
 * and their labels against the track's): {"type": "event", "stream",
 * "event"}.
 */
static void
broadcast_event(vg_stream_api *api, const char *stream_id, json_t *ev)
{
    if (!api->observers.n)
        return;
    const char *label = json_string_value(json_object_get(json_object_get(ev, "after"), "label"));
    json_t *msg = json_pack("{s:s, s:s, s:O}", "type", "event", "stream", stream_id, "event", ev);
    shared_msg all = { .msg = msg };
    vg_list_each(o, &api->observers, observer, link) {
        if ((o->nstreams && !in_list(o->streams, o->nstreams, stream_id)) ||
            (o->nlabels && !in_list(o->labels, o->nlabels, label ? label : "")))
            continue;
        if (vg_ws_congested(o->ws))
            o->dropped++;
        else
            send_shared(o->ws, o->msgpack, &all);
    }
    shared_release(&all);
    json_decref(msg);
}


/* One event of the stream's scene: counted against the bucket, kept for the answer and the sinks. */
static void
on_scene_event(void *ud, const vg_scene_event *ev)
{
    stream *s = ud;
    vg_stream_api *api = s->api;
    /* an end always goes (its track's count must come down): it takes from the next second's share */
    if (s->ev_tokens < 1 && ev->type != VG_SCENE_END) {
        vg_series_add(api->m_events_dropped, 1);
        return;
    }
    s->ev_tokens -= 1;
    vg_series_add(api->m_events, 1);
    json_t *j = vg_event_json(s->scene, s->id, ev);
    broadcast_event(api, s->id, j);
    for (int i = 0; i < api->nsinks; i++)
        api->sinks[i].event(s->id, j, api->sinks[i].ud);
    if (s->events)
        json_array_append(s->events, j);
    json_decref(j);
}


/*
 * Fills the stream's event bucket up to now: stream.events_per_second, a
 * second's worth at most. The server's clock, not the frames' ts: a
 * client cannot refill it by sending times that go back.
 */
static void
events_refill(stream *s)
{
    double rate = vg_server_config(s->api->srv)->stream_events_per_second;
    double now = ev_now(vg_server_loop(s->api->srv));
    if (s->ev_at == 0)
        s->ev_tokens = rate;
    else if (now > s->ev_at)
        s->ev_tokens = fmin(rate, s->ev_tokens + (now - s->ev_at) * rate);
    s->ev_at = now;
}


/*
 * The stream's confirmed tracks through its scene (zones, lines, events):
 * the answer gets this frame's "events" (when any) and "counts" (when the
 * stream has zones or lines); the sinks get every event.
 */
static void
scene_answer(stream *s, double ts, json_t *m)
{
    if (!s->scene)
        s->scene = vg_scene_create();
    s->last_ts = ts;
    size_t n = vg_tracker_count(s->tracker), k = 0;
    vg_scene_obj *objs = vg_xmalloc((n ? n : 1) * sizeof *objs);
    for (size_t i = 0; i < n; i++) {
        const vg_track *t = vg_tracker_at(s->tracker, i);
        if (!t->id)
            continue;
        objs[k++] = (vg_scene_obj){ t->id, t->label, t->confidence, t->best_confidence,
                                    { t->box[0], t->box[1], t->box[2], t->box[3] }, t->first_seen, t->last_seen,
                                    t->missed == 0 };
    }
    events_refill(s);
    s->events = json_array();
    vg_scene_update(s->scene, ts, objs, k, on_scene_event, s);
    if (json_array_size(s->events))
        json_object_set(m, "events", s->events);
    json_decref(s->events);
    s->events = NULL;
    if (vg_scene_has_shapes(s->scene))
        json_object_set_new(m, "counts", vg_scene_counts_json(s->scene, ts));
    free(objs);
}


/*
 * Tracks the answer's detections ([stream] track): each detection of a
 * confirmed track gets its "track_id", and the answer a "tracks" array with
 * those tracks (docs/protocol.md). The frame's time is its ts when that is
 * a number (ms), else when it arrived (Unix ms).
 */
static void
track_answer(stream *s, const frame *f, const vg_pool_result *res, json_t *m)
{
    const vg_config *cfg = vg_server_config(s->api->srv);
    if (!cfg->stream_track)
        return;
    if (!s->tracker)
        s->tracker = vg_tracker_create();
    vg_track_params p;
    vg_track_params_default(&p);
    p.max_missed = cfg->stream_track_max_missed;
    p.min_hits = cfg->stream_track_min_hits;
    p.max_tracks = cfg->stream_track_max;
    p.high = (float)cfg->stream_track_high;
    size_t n = res->count < VG_TRACK_MAX_DETS ? res->count : VG_TRACK_MAX_DETS;
    vg_track_det *d = vg_xmalloc((n ? n : 1) * sizeof *d);
    const vg_track **out = vg_xmalloc((n ? n : 1) * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        const vg_detection *x = &res->detections[i];
        d[i] = (vg_track_det){ (float)x->x_min, (float)x->y_min, (float)x->x_max, (float)x->y_max, x->confidence,
                               x->label };
    }
    double ts = json_is_number(f->ts) ? json_number_value(f->ts) : f->arrived * 1000.0;
    vg_tracker_update(s->tracker, &p, ts, d, n, out);
    json_t *dets = json_object_get(m, "detections");
    json_t *tracks = json_array();
    for (size_t i = 0; i < n; i++) {
        const vg_track *t = out[i];
        if (!t)
            continue;
        json_object_set_new(json_array_get(dets, i), "track_id", json_integer((json_int_t)t->id));
        json_array_append_new(tracks, json_pack("{s:I, s:s, s:I, s:I, s:I, s:f, s:{s:f, s:f}}",
            "id", (json_int_t)t->id, "label", t->label, "first_seen", (json_int_t)llround(t->first_seen),
            "last_seen", (json_int_t)llround(t->last_seen), "frames", (json_int_t)t->frames,
            "best_confidence", round(t->best_confidence * 10000) / 10000,
            "velocity", "x", round(t->vx * 10) / 10, "y", round(t->vy * 10) / 10));
    }
    vg_track_stats_frame(&s->tstats, s->api->history, p.max_missed, res->detections, out, n, tracks);
    json_object_set_new(m, "tracks", tracks);
    free(d);
    free(out);
    scene_answer(s, ts, m);
}


static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}


/* The answer's distinct labels, sorted and comma-joined. */
static void
label_set(const vg_pool_result *res, char *out, size_t cap)
{
    const char *l[256];
    size_t n = 0;
    for (size_t i = 0; i < res->count && n < 256; i++)
        l[n++] = res->detections[i].label;
    qsort(l, n, sizeof *l, cmp_str);
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if ((i == 0 || strcmp(l[i], l[i - 1]) != 0) && o < cap)
            o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "," : "", l[i]);
}


/*
 * The sampling policy for live streams (history.stream_interval and
 * history.stream_on_change): a camera at 10 fps would otherwise write
 * 864,000 records a day.
 */
static void
maybe_store(stream *s, const vg_pool_result *res)
{
    vg_stream_api *api = s->api;
    if (!api->history || !vg_history_enabled(api->history))
        return;
    const vg_config *cfg = vg_server_config(api->srv);
    ev_tstamp now = ev_now(vg_server_loop(api->srv));
    char labels[sizeof s->stored_labels];
    label_set(res, labels, sizeof labels);
    int due = s->stored == 0 || now - s->stored_at >= cfg->history_stream_interval;
    int changed = cfg->history_stream_on_change && strcmp(labels, s->stored_labels) != 0;
    if (!due && !changed)
        return;
    vg_history_rec rec = { .uid = s->uid, .user = s->user[0] ? s->user : NULL, .source = s->id };
    /* the frame's own bytes belong to the pool by now: only an annotated frame can be kept */
    vg_call_history_rec(&rec, api->history, res, NULL, 0);
    char id[33];
    if (vg_history_record(api->history, &rec, id, NULL, NULL) != 0) {
        vg_debug("stream", "%s: an answer was not stored: the store is busy or down", s->id);
        return;
    }
    s->stored_at = now;
    s->stored++;
    snprintf(s->stored_labels, sizeof s->stored_labels, "%s", labels);
}


/* An overlay job's answer: its JPEG to the MJPEG viewers. */
static void
on_overlay(int status, vg_pool_result *res, void *ud)
{
    stream *s = ud;
    s->ov_req = NULL;
    vg_stream_tap *tap = &s->api->tap;
    if (status == 0 && res->jpeg && tap->frame)
        tap->frame(s->id, res->jpeg, res->jpeg_len, tap->ud);
    else if (status != 0 && status != VG_E_CANCELED)
        vg_debug("stream", "%s: an MJPEG overlay failed: %s", s->id, res->message && *res->message ? res->message
                                                                                         : vg_err_str(status));
    if (!s->ws && !s->running)
        stream_free(s);                 /* its client left while the overlay was drawn */
}


/*
 * After the tracker and the scene ran on f's answer: the overlay job that
 * draws the final boxes, track ids, zones, lines and counts on f's image
 * for the MJPEG viewers (docs/events.md). The image goes to the pool. At
 * most one per stream in flight, and the pool drops it first under load:
 * a frame without its overlay is only a frame the viewers skip.
 */
static void
submit_overlay(stream *s, frame *f, const vg_pool_result *res, const json_t *dets)
{
    vg_stream_api *api = s->api;
    if (s->ov_req || !f->data) {
        vg_series_add(api->m_overlays_dropped, 1);
        return;
    }
    vg_overlay *o = vg_xmalloc(sizeof *o);
    vg_stream_overlay_fill(o, res, dets, s->scene);
    vg_pool_job job;
    memset(&job, 0, sizeof job);
    job.image = f->data;
    job.image_len = f->len;
    job.image_free = free;
    job.image_ctx = f->data;
    job.min_confidence = -1;
    job.nms = -1;
    job.jpeg_quality = api->tap.quality;
    job.live = 1;
    job.overlay = o;
    char err[256] = "";
    int rc = vg_pool_submit(api->pool, res->model, &job, on_overlay, s, &s->ov_req, err, sizeof err);
    free(o);
    if (rc == 0) {
        f->data = NULL;   /* the pool's now */
        vg_series_add(api->m_overlays, 1);
    } else {
        s->ov_req = NULL;
        vg_series_add(api->m_overlays_dropped, 1);
        vg_debug("stream", "%s: an MJPEG overlay was dropped: %s", s->id, err[0] ? err : vg_err_str(rc));
    }
}


static void
on_answer(int status, vg_pool_result *res, void *ud)
{
    stream *s = ud;
    frame *f = s->running;
    s->running = NULL;
    s->preq = NULL;
    if (!s->ws) {                       /* the client left; this was the cancel */
        frame_free(f);
        if (!s->ov_req)
            stream_free(s);             /* else on_overlay does */
        return;
    }
    vg_stream_api *api = s->api;
    json_t *seq = json_integer((json_int_t)f->seq);
    if (status == 0) {
        s->processed++;
        vg_series_add(api->m_processed, 1);
        snprintf(s->model_used, sizeof s->model_used, "%s", res->model);
        ring_add(s, res->total_us / 1000.0, ev_now(vg_server_loop(api->srv)));
        maybe_store(s, res);
        json_t *m = answer_json(s, f, res);
        track_answer(s, f, res, m);
        s->skipped_since = 0;
        if (!vg_ws_congested(s->ws))
            s->dropped_since = 0;
        if (f->overlay)
            submit_overlay(s, f, res, json_object_get(m, "detections"));
        deliver(s, m, f->opt.annotate ? res->jpeg : NULL, f->opt.annotate ? res->jpeg_len : 0);
        json_object_del(m, "annotated");
        broadcast(api, s->id, m);
        json_decref(m);
    } else {
        s->failed++;
        vg_series_add(api->m_failed, 1);
        send_error(s->ws, s->msgpack, seq, vg_err_code(status), res->message && *res->message ? res->message
                                                                                               : vg_err_str(status));
    }
    json_decref(seq);
    frame_free(f);
    if (s->pending) {
        frame *next = s->pending;
        s->pending = NULL;
        submit(s, next);
    }
}


/* The pool's release of a frame's bytes that stay the frame's (for its overlay job). */
static void
keep_bytes(void *ctx)
{
    (void)ctx;
}


static void
submit(stream *s, frame *f)
{
    vg_pool_job job;
    /* the pool may release the bytes after our callback: they are not tied to f */
    vg_stream_tap *tap = &s->api->tap;
    /* an MJPEG viewer watches: the bytes stay f's until the answer, for the overlay job */
    f->overlay = tap->wants && tap->wants(s->id, tap->ud);
    vg_call_job_init(&job, &f->opt, f->data, f->len, f->overlay ? keep_bytes : free, f->data);
    job.live = 1;   /* another node drops it when late (cluster) */
    char err[256] = "";
    s->running = f;
    int rc = vg_pool_submit(s->api->pool, f->opt.model[0] ? f->opt.model : NULL, &job, on_answer, s, &s->preq,
                            err, sizeof err);
    if (rc == 0 && !f->overlay)
        f->data = NULL;   /* the pool's now */
    if (rc != 0) {
        s->running = NULL;
        s->failed++;
        vg_series_add(s->api->m_failed, 1);
        json_t *seq = json_integer((json_int_t)f->seq);
        send_error(s->ws, s->msgpack, seq, vg_err_code(rc), err[0] ? err : vg_err_str(rc));
        json_decref(seq);
        frame_free(f);
    }
}


/* A frame arrived: run it now, or make it the one waiting (latest wins). */
static void
new_frame(stream *s, const void *data, size_t len, const vg_detect_opts *opt, json_t *ts)
{
    frame *f = vg_xcalloc(1, sizeof *f);
    f->data = vg_xmalloc(len ? len : 1);
    memcpy(f->data, data, len);
    f->len = len;
    f->seq = ++s->received;
    f->ts = ts ? json_incref(ts) : NULL;
    f->arrived = ev_time();
    vg_detect_opts_copy(&f->opt, opt);
    vg_series_add(s->api->m_received, 1);
    if (!s->running) {
        submit(s, f);
        return;
    }
    if (s->pending) {
        frame_free(s->pending);
        s->skipped++;
        s->skipped_since++;
        vg_series_add(s->api->m_skipped, 1);
    }
    s->pending = f;
}

/* ------------------------------------------------------------------ */
/* /v1/stream messages */

/*
 * Whether a message's ts (NULL: none) may be echoed: at most TS_MAX bytes
 * as compact JSON, since it goes back in every answer and to every
 * observer. Answers an error when not.
 */
static int
ts_fits(stream *s, json_t *ts)
{
    if (!ts || json_dumpb(ts, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY) <= TS_MAX)
        return 1;
    send_error(s->ws, s->msgpack, NULL, "bad_request", "ts may be at most 256 bytes (as JSON)");
    return 0;
}

static void
stream_control(stream *s, json_t *msg, const void *image, size_t image_len)
{
    const char *type = json_string_value(json_object_get(msg, "type"));
    char err[256] = "";
    if (!type) {
        send_error(s->ws, s->msgpack, NULL, "bad_request", "a message needs a \"type\"");
        return;
    }
    if (strcmp(type, "config") == 0) {
        vg_detect_opts o;
        vg_detect_opts_copy(&o, &s->opt);
        if (vg_detect_opts_from_json(&o, msg, err, sizeof err) < 0) {
            send_error(s->ws, s->msgpack, NULL, "bad_request", err);
            return;
        }
        /* a model nobody has is refused here, on the config message, not on every frame after it */
        vg_pool_model_stats st;
        if (o.model[0] && vg_pool_model_stats_by_name(s->api->pool, o.model, &st) != 0) {
            snprintf(err, sizeof err, "no model '%.64s' (the settings are unchanged)", o.model);
            send_error(s->ws, s->msgpack, NULL, "no_such_model", err);
            return;
        }
        json_t *zones = json_object_get(msg, "zones"), *lines = json_object_get(msg, "lines");
        if (zones || lines) {
            if (!s->scene)
                s->scene = vg_scene_create();
            if (vg_scene_set(s->scene, zones, lines, err, sizeof err) < 0) {
                send_error(s->ws, s->msgpack, NULL, "bad_request", err);
                return;
            }
        }
        vg_detect_opts_copy(&s->opt, &o);
        json_t *settings = settings_json(s);
        json_t *ack = json_pack("{s:s, s:b, s:s, s:o}", "type", "config", "ok", 1, "stream", s->id,
                                "settings", settings);
        send_obj(s->ws, s->msgpack, ack, NULL, 0);
        json_decref(ack);
        return;
    }
    if (strcmp(type, "frame") == 0) {
        vg_detect_opts o;
        vg_detect_opts_copy(&o, &s->opt);
        if (vg_detect_opts_from_json(&o, msg, err, sizeof err) < 0) {
            send_error(s->ws, s->msgpack, NULL, "bad_request", err);
            return;
        }
        json_t *ts = json_object_get(msg, "ts");
        if (!ts_fits(s, ts))
            return;
        json_t *b64 = json_object_get(msg, "image");
        if (image) {
            new_frame(s, image, image_len, &o, ts);
        } else if (json_is_string(b64)) {
            uint8_t *raw;
            ssize_t len = vg_base64_decode_new(json_string_value(b64), json_string_length(b64), &raw, VG_BASE64_STD);
            if (len < 0)
                send_error(s->ws, s->msgpack, NULL, "bad_request", "the image is not valid base64");
            else
                new_frame(s, raw, (size_t)len, &o, ts);
            free(raw);
        } else if (!s->msgpack) {
            /* an envelope: these settings and ts go with the next binary frame */
            json_decref(s->next_ts);
            s->next_ts = ts ? json_incref(ts) : NULL;
            vg_detect_opts_copy(&s->next_opt, &o);
            s->has_next = 1;
        } else {
            send_error(s->ws, s->msgpack, NULL, "bad_request", "a frame message needs \"image\" bytes");
        }
        return;
    }
    if (strcmp(type, "ping") == 0) {
        if (!ts_fits(s, json_object_get(msg, "ts")))
            return;
        json_t *pong = json_pack("{s:s, s:I}", "type", "pong", "server_ts", unix_ms());
        json_object_set(pong, "ts", json_object_get(msg, "ts") ? json_object_get(msg, "ts") : json_null());
        send_obj(s->ws, s->msgpack, pong, NULL, 0);
        json_decref(pong);
        return;
    }
    snprintf(err, sizeof err, "unknown message type '%.32s'", type);
    send_error(s->ws, s->msgpack, NULL, "bad_request", err);
}


static void
stream_on_message(vg_ws *ws, int binary, const uint8_t *data, size_t len, void *ud)
{
    (void)ws;
    stream *s = ud;
    char err[256];
    if (s->msgpack) {
        if (!binary) {
            send_error(s->ws, 1, NULL, "bad_request", "vigia.msgpack takes binary msgpack messages only");
            return;
        }
        const void *image;
        size_t image_len;
        json_t *msg = vg_wire_unpack((const char *)data, len, "image", &image, &image_len, err, sizeof err);
        if (!msg) {
            send_error(s->ws, 1, NULL, "bad_request", err);
            return;
        }
        stream_control(s, msg, image, image_len);
        json_decref(msg);
        return;
    }
    if (binary) {
        if (s->has_next) {
            new_frame(s, data, len, &s->next_opt, s->next_ts);
            json_decref(s->next_ts);
            s->next_ts = NULL;
            s->has_next = 0;
        } else {
            new_frame(s, data, len, &s->opt, NULL);
        }
        return;
    }
    /* text may carry a base64 frame: bounded by ws.max_message like any message */
    json_error_t je;
    json_t *msg = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &je);
    if (!msg || !json_is_object(msg)) {
        snprintf(err, sizeof err, "malformed JSON: %s", msg ? "not an object" : je.text);
        send_error(s->ws, 0, NULL, "bad_request", err);
        json_decref(msg);
        return;
    }
    stream_control(s, msg, NULL, 0);
    json_decref(msg);
}


static void
stream_on_close(vg_ws *ws, uint16_t code, void *ud)
{
    (void)ws;
    (void)code;
    stream *s = ud;
    vg_stream_api *api = s->api;
    vg_list_remove(&api->streams, &s->link);
    s->ws = NULL;
    if (s->scene)   /* its tracks end with it, at its last frame's time: the sinks hear so */
        vg_scene_end_all(s->scene, s->last_ts, on_scene_event, s);
    /* an overlay job in flight still reaches the viewers (they stay through a reconnection) */
    if (s->running && s->preq)
        vg_pool_cancel(s->preq);   /* on_answer sees ws == NULL and frees s, or on_overlay does */
    else if (!s->ov_req)
        stream_free(s);
}


static const vg_ws_handler stream_handler = { stream_on_message, on_ws_writable, stream_on_close };


static stream *
find_stream(vg_stream_api *api, const char *id)
{
    vg_list_each(s, &api->streams, stream, link)
        if (strcmp(s->id, id) == 0)
            return s;
    return NULL;
}


static owner *
find_owner(vg_stream_api *api, const char *id)
{
    vg_list_each(o, &api->owners, owner, link)
        if (strcmp(o->id, id) == 0)
            return o;
    return NULL;
}


/* May `who` (NULL: anonymous) stream as `id`? Its owner and admins may; anyone may use an id nobody owns. */
static int
may_use_id(vg_stream_api *api, const char *id, const vg_principal *who)
{
    owner *o = find_owner(api, id);
    return !o || (who && (who->uid == o->uid || who->role == VG_ROLE_ADMIN));
}


/*
 * A signed-in user streams as `id`: the id is theirs from now on (unless
 * someone else owns it: an admin using it does not take it). A user's
 * ids beyond OWNED_PER_USER are forgotten, least recently used first,
 * unless connected, so the records stay bounded by the users.
 */
static void
note_owner(vg_stream_api *api, const char *id, uint64_t uid)
{
    owner *o = find_owner(api, id);
    if (o && o->uid != uid)
        return;
    if (o) {
        vg_list_remove(&api->owners, &o->link);
    } else {
        o = vg_xcalloc(1, sizeof *o);
        snprintf(o->id, sizeof o->id, "%s", id);
        o->uid = uid;
    }
    vg_list_push_front(&api->owners, &o->link);
    size_t mine = 0;
    vg_list_each_safe(x, nx, &api->owners, owner, link) {
        if (x->uid != uid || ++mine <= OWNED_PER_USER || find_stream(api, x->id))
            continue;
        vg_list_remove(&api->owners, &x->link);
        free(x);
    }
}


static int
stream_option(void *ud, const char *name, const char *value, char *err, size_t errlen)
{
    return vg_detect_opts_set(ud, name, value, err, errlen);
}


static void
route_stream(vg_req *r, void *ud)
{
    vg_stream_api *api = ud;
    stream *s = vg_xcalloc(1, sizeof *s);
    s->api = api;
    ev_init(&s->held_timer, on_held_timer);
    s->held_timer.repeat = 0.02;
    s->held_timer.data = s;
    vg_detect_opts_init(&s->opt);
    vg_buf v;
    vg_buf_init(&v);
    char err[256];
    static const char *const names[] = { "model", "min_confidence", "threshold", "nms", "classes", "annotate", "k",
                                         "attributes", NULL };
    if (vg_call_query(r, names, stream_option, &s->opt, err, sizeof err) < 0) {
        vg_req_error(r, 400, "bad_request", "%s", err);
        goto refuse;
    }
    vg_principal who;   /* before the upgrade, which frees the request */
    int signed_in = vg_auth_principal(r, &who);
    if (vg_req_query_get(r, "stream", &v) == 0) {
        if (!vg_stream_id_valid(v.data, strlen(v.data))) {
            vg_req_error(r, 400, "bad_request", "stream ids are 1-64 characters of A-Z a-z 0-9 . _ -");
            goto refuse;
        }
        if (!may_use_id(api, v.data, signed_in ? &who : NULL)) {
            vg_req_error(r, 403, "forbidden", "stream '%s' belongs to another user", v.data);
            goto refuse;
        }
        if (find_stream(api, v.data)) {
            vg_req_error(r, 409, "stream_in_use", "stream '%s' is already connected", v.data);
            goto refuse;
        }
        snprintf(s->id, sizeof s->id, "%s", v.data);
    } else {
        snprintf(s->id, sizeof s->id, "stream-%llu", (unsigned long long)++api->next_anon);
    }
    vg_buf_release(&v);
    if (signed_in) {
        s->uid = who.uid;
        snprintf(s->user, sizeof s->user, "%s", who.name);
    }
    s->ws = vg_ws_upgrade(r, subprotocols, &stream_handler, s);
    if (!s->ws) {
        free(s);
        return;
    }
    s->msgpack = strcmp(vg_ws_subprotocol(s->ws), "vigia.msgpack") == 0;
    vg_list_push_front(&api->streams, &s->link);
    json_t *shapes = api->shapes ? api->shapes(s->id, api->shapes_ud) : NULL;
    if (shapes && vg_stream_api_set_shapes(api, s->id, shapes, err, sizeof err) < 0)
        vg_warn("stream", "%s: the camera's stored zones and lines are not used: %s", s->id, err);
    json_decref(shapes);
    if (s->uid)
        note_owner(api, s->id, s->uid);
    const char *def = vg_pool_default_model(api->pool);
    snprintf(s->model_used, sizeof s->model_used, "%s", s->opt.model[0] ? s->opt.model : def ? def : "");
    json_t *hello = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o}", "type", "hello",
                              "protocol", s->msgpack ? "vigia.msgpack" : "vigia.json", "stream", s->id,
                              "model", s->model_used, "max_message", (json_int_t)vg_server_config(api->srv)->ws_max_message,
                              "settings", settings_json(s));
    send_obj(s->ws, s->msgpack, hello, NULL, 0);
    json_decref(hello);
    return;
refuse:
    vg_buf_release(&v);
    free(s);
}

/* ------------------------------------------------------------------ */
/* /v1/live */

static int
split_list(char *buf, const char **out, int max)
{
    int n = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t && n < max; t = strtok_r(NULL, ",", &save))
        if (*t)
            out[n++] = t;
    return n;
}


static int
observer_filter(observer *o, const char *streams, const char *labels, const char *min_conf, char *err, size_t errlen)
{
    if (streams) {
        snprintf(o->streams_buf, sizeof o->streams_buf, "%s", streams);
        o->nstreams = split_list(o->streams_buf, o->streams, MAX_FILTER_STREAMS);
    }
    if (labels) {
        snprintf(o->labels_buf, sizeof o->labels_buf, "%s", labels);
        o->nlabels = split_list(o->labels_buf, o->labels, MAX_FILTER_LABELS);
    }
    if (min_conf) {
        char *end;
        double v = strtod(min_conf, &end);
        if (end == min_conf || *end || !(v >= 0 && v <= 1)) {
            snprintf(err, errlen, "min_confidence must be a number in [0, 1]");
            return -1;
        }
        o->min_confidence = (float)v;
    }
    return 0;
}


static void
live_on_message(vg_ws *ws, int binary, const uint8_t *data, size_t len, void *ud)
{
    observer *o = ud;
    char err[256];
    json_t *msg = NULL;
    if (binary && o->msgpack) {
        const void *bin;
        size_t binlen;
        msg = vg_wire_unpack((const char *)data, len, "image", &bin, &binlen, err, sizeof err);
    } else if (!binary && len <= CONTROL_MAX) {
        json_error_t je;
        msg = json_loadb((const char *)data, len, 0, &je);
        snprintf(err, sizeof err, "malformed JSON: %s", je.text);
    } else {
        snprintf(err, sizeof err, "observers send only filter messages");
    }
    const char *type = msg ? json_string_value(json_object_get(msg, "type")) : NULL;
    if (!msg || !type || strcmp(type, "filter") != 0) {
        send_error(ws, o->msgpack, NULL, "bad_request", msg ? "observers send only {\"type\":\"filter\",...}" : err);
        json_decref(msg);
        return;
    }
    /* lists as arrays or comma-separated strings */
    char sbuf[1024] = "", lbuf[1024] = "", cbuf[32] = "";
    const char *sp = NULL, *lp = NULL, *cp = NULL;
    json_t *v;
    const char *keys[] = { "streams", "labels" };
    char *bufs[] = { sbuf, lbuf };
    const char **ptrs[] = { &sp, &lp };
    for (int k = 0; k < 2; k++) {
        if (!(v = json_object_get(msg, keys[k])))
            continue;
        *ptrs[k] = bufs[k];
        if (json_is_string(v)) {
            snprintf(bufs[k], 1024, "%s", json_string_value(v));
        } else if (json_is_array(v)) {
            size_t i, off = 0;
            json_t *e;
            json_array_foreach(v, i, e)
                if (json_is_string(e) && off < 1000)
                    off += (size_t)snprintf(bufs[k] + off, 1024 - off, "%s%s", off ? "," : "", json_string_value(e));
        }
    }
    if ((v = json_object_get(msg, "min_confidence")) && json_is_number(v)) {
        snprintf(cbuf, sizeof cbuf, "%.6g", json_number_value(v));
        cp = cbuf;
    }
    if (observer_filter(o, sp, lp, cp, err, sizeof err) < 0)
        send_error(ws, o->msgpack, NULL, "bad_request", err);
    else {
        json_t *ack = json_pack("{s:s, s:b}", "type", "filter", "ok", 1);
        send_obj(ws, o->msgpack, ack, NULL, 0);
        json_decref(ack);
    }
    json_decref(msg);
}


static void
live_on_close(vg_ws *ws, uint16_t code, void *ud)
{
    (void)ws;
    (void)code;
    observer *o = ud;
    vg_stream_api *api = o->api;
    vg_list_remove(&api->observers, &o->link);
    if (vg_list_empty(&api->observers))
        ev_timer_stop(vg_server_loop(api->srv), &api->tick);
    free(o);
}


static const vg_ws_handler live_handler = { live_on_message, NULL, live_on_close };


static void
route_live(vg_req *r, void *ud)
{
    vg_stream_api *api = ud;
    observer *o = vg_xcalloc(1, sizeof *o);
    o->api = api;
    vg_buf sv, lv, cv;
    vg_buf_init(&sv);
    vg_buf_init(&lv);
    vg_buf_init(&cv);
    char err[256];
    int bad = observer_filter(o, vg_req_query_get(r, "stream", &sv) == 0 ? sv.data : NULL,
                              vg_req_query_get(r, "label", &lv) == 0 ? lv.data : NULL,
                              vg_req_query_get(r, "min_confidence", &cv) == 0 ? cv.data : NULL, err, sizeof err);
    vg_buf_release(&sv);
    vg_buf_release(&lv);
    vg_buf_release(&cv);
    if (bad) {
        vg_req_error(r, 400, "bad_request", "%s", err);
        free(o);
        return;
    }
    o->ws = vg_ws_upgrade(r, subprotocols, &live_handler, o);
    if (!o->ws) {
        free(o);
        return;
    }
    o->msgpack = strcmp(vg_ws_subprotocol(o->ws), "vigia.msgpack") == 0;
    vg_list_push_front(&api->observers, &o->link);
    if (!ev_is_active(&api->tick))
        ev_timer_again(vg_server_loop(api->srv), &api->tick);
    json_t *hello = json_pack("{s:s, s:s}", "type", "hello", "protocol", o->msgpack ? "vigia.msgpack" : "vigia.json");
    send_obj(o->ws, o->msgpack, hello, NULL, 0);
    json_decref(hello);
    /* a first metrics message at once, so a dashboard need not wait a second */
    json_t *m = metrics_message(api);
    send_obj(o->ws, o->msgpack, m, NULL, 0);
    json_decref(m);
}

/* ------------------------------------------------------------------ */

static void
collect_gauges(vg_metric *m, void *ud)
{
    vg_stream_api *api = ud;
    vg_series_set(vg_metrics_single(m), (double)api->streams.n);
}


static void
collect_observers(vg_metric *m, void *ud)
{
    vg_stream_api *api = ud;
    vg_series_set(vg_metrics_single(m), (double)api->observers.n);
}


vg_stream_api *
vg_stream_api_create(vg_http *http, vg_pool *pool, vg_history *history)
{
    vg_stream_api *api = vg_xcalloc(1, sizeof *api);
    api->srv = vg_http_server(http);
    api->pool = pool;
    api->history = history;
    ev_init(&api->tick, on_tick);
    api->tick.repeat = 1.0;
    api->tick.data = api;
    vg_ws_refusals_install(http, subprotocols);
    /* browsers cannot set headers on a WebSocket request: ?token= */
    vg_http_route(http, VG_M_GET, "/v1/stream", route_stream, api, 0, VG_ACCESS_DETECT | VG_ACCESS_QUERY_TOKEN);
    vg_http_route(http, VG_M_GET, "/v1/live", route_live, api, 0, VG_ACCESS_READ | VG_ACCESS_QUERY_TOKEN);
    vg_metric *frames = vg_metrics_register("vigia_stream_frames_total", "live stream frames by what became of them",
                                            VG_COUNTER, "result", NULL, 0);
    const char *names[] = { "received", "processed", "skipped", "dropped", "failed" };
    vg_series **slots[] = { &api->m_received, &api->m_processed, &api->m_skipped, &api->m_dropped, &api->m_failed };
    for (int i = 0; i < 5; i++) {
        const char *v[] = { names[i] };
        *slots[i] = vg_metrics_series(frames, v);
    }
    vg_metric *events = vg_metrics_register("vigia_stream_events_total",
                                            "track events of live streams: sent, or dropped over stream.events_per_second",
                                            VG_COUNTER, "result", NULL, 0);
    const char *sent[] = { "sent" }, *dropped[] = { "dropped" };
    api->m_events = vg_metrics_series(events, sent);
    api->m_events_dropped = vg_metrics_series(events, dropped);
    vg_metric *overlays = vg_metrics_register("vigia_mjpeg_overlays_total",
                                              "MJPEG overlay jobs (track ids, zones, lines) submitted, or dropped "
                                              "(one in flight per stream, or the pool busy)", VG_COUNTER, "result", NULL, 0);
    const char *submitted[] = { "submitted" };
    api->m_overlays = vg_metrics_series(overlays, submitted);
    api->m_overlays_dropped = vg_metrics_series(overlays, dropped);
    vg_metrics_set_collect(vg_metrics_register("vigia_streams", "open /v1/stream connections", VG_GAUGE, "", NULL, 0),
                           collect_gauges, api);
    vg_metrics_set_collect(vg_metrics_register("vigia_live_observers", "open /v1/live connections", VG_GAUGE, "", NULL, 0),
                           collect_observers, api);
    return api;
}


void
vg_stream_api_set_shapes_source(vg_stream_api *api, vg_stream_shapes_fn fn, void *ud)
{
    api->shapes = fn;
    api->shapes_ud = ud;
}


int
vg_stream_api_set_shapes(vg_stream_api *api, const char *id, const json_t *shapes, char *err, size_t errlen)
{
    stream *s = find_stream(api, id);
    json_t *zones = json_object_get(shapes, "zones"), *lines = json_object_get(shapes, "lines");
    if (!s)
        return 0;
    if (!s->scene)
        s->scene = vg_scene_create();
    json_t *none = json_array();   /* a member left out: none of that kind */
    int rc = vg_scene_set(s->scene, zones ? zones : none, lines ? lines : none, err, errlen);
    json_decref(none);
    return rc;
}


int
vg_stream_api_add_event_sink(vg_stream_api *api, const vg_stream_event_sink *sink)
{
    if (api->nsinks == MAX_SINKS)
        return -1;
    api->sinks[api->nsinks++] = *sink;
    return 0;
}


void
vg_stream_api_set_tap(vg_stream_api *api, const vg_stream_tap *tap)
{
    api->tap = *tap;
}


int
vg_stream_api_has_stream(vg_stream_api *api, const char *id)
{
    return find_stream(api, id) != NULL;
}


void
vg_stream_api_destroy(vg_stream_api *api)
{
    if (!api)
        return;
    ev_timer_stop(vg_server_loop(api->srv), &api->tick);
    vg_list_each_safe(o, no, &api->owners, owner, link)
        free(o);
    free(api);
}
