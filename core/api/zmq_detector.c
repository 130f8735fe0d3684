/* zmq_detector: see zmq_detector.h and docs/frigate.md. */
#include "api/zmq_detector.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ev.h>
#include <jansson.h>
#include <zmq.h>

#include "api/call.h"
#include "base/buf.h"
#include "base/list.h"
#include "base/error.h"
#include "base/log.h"
#include "pipeline/model.h"
#include "pool/pool.h"
#include "pipeline/rawimg.h"
#include "net/server.h"

#define MAX_PARTS 4                /* identity, delimiter, header, tensor */
#define MAX_HEADER 4096            /* the JSON frame */
#define MAX_PEERS 256              /* clients whose handshake we remember */
#define MAX_IDENTITY 255
#define PUMP_BATCH 64              /* messages per turn of the loop */
#define MAX_HELD 256               /* handshakes waiting for their model to load */
#define HELD_POLL 0.05             /* seconds between looks at a loading model */

/* COCO's 80 training classes -> their ids in the 91-id labelmap Frigate ships (category id - 1). */
static const uint8_t coco91[80] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 26, 27, 30, 31, 32, 33,
    34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62,
    63, 64, 66, 69, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 83, 84, 85, 86, 87, 88, 89,
};

typedef struct peer {
    uint8_t id[MAX_IDENTITY];
    size_t id_len;
    char model[VG_MODEL_NAME_MAX + 1];
    uint64_t used;                 /* for eviction: least recently used goes */
} peer;

typedef struct held {
    uint8_t id[MAX_IDENTITY];      /* the client's routing id */
    size_t id_len;
    char model[VG_MODEL_NAME_MAX + 1];
    ev_tstamp until;               /* answer "not loaded" at this time */
    vg_link link;                  /* in z->held, oldest first */
} held;

typedef struct zreq {
    struct vg_zmq_detector *z;
    uint8_t id[MAX_IDENTITY];      /* the client's routing id */
    size_t id_len;
    int w, h;                      /* the tensor's size, for normalising boxes */
    vg_pool_req *preq;
    vg_link link;                  /* in z->pending */
} zreq;

struct vg_zmq_detector {
    vg_server *srv;
    vg_pool *pool;
    void *ctx, *sock;
    int fd;
    ev_io io;
    ev_idle more;                  /* messages were left after a batch */
    int stopped;                   /* draining or destroyed: no new requests */
    vg_list pending;               /* requests in the pool, newest first */
    vg_list held;                  /* handshakes waiting for a loading model */
    ev_timer recheck;              /* looks at their models while any is held */
    peer peers[MAX_PEERS];
    int npeers;
    uint64_t clock;
    uint64_t requests, answered, refused;
    int warned_coco;
};

static void pump(vg_zmq_detector *z);

/* ------------------------------------------------------------------ */
/* sending */

/* Sends [identity][""][payload] without blocking; a ROUTER drops what it cannot queue. */
static void
send_reply(vg_zmq_detector *z, const uint8_t *id, size_t id_len, const void *p, size_t n)
{
    if (zmq_send(z->sock, id, id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(z->sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 || zmq_send(z->sock, p, n, ZMQ_DONTWAIT) < 0)
        vg_warn("zmq", "a reply was dropped: %s", zmq_strerror(errno));
}


static void
send_json(vg_zmq_detector *z, const uint8_t *id, size_t id_len, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (s) {
        send_reply(z, id, id_len, s, strlen(s));
        free(s);
    }
}


static void
send_error(vg_zmq_detector *z, const uint8_t *id, size_t id_len, const char *msg)
{
    vg_warn("zmq", "request refused: %s", msg);
    send_json(z, id, id_len, json_pack("{s:s}", "error", msg));
}


static void
send_zeros(vg_zmq_detector *z, const uint8_t *id, size_t id_len)
{
    float rows[VG_ZMQ_ROWS * VG_ZMQ_COLS];
    memset(rows, 0, sizeof rows);
    send_reply(z, id, id_len, rows, sizeof rows);
}

/* ------------------------------------------------------------------ */
/* clients and their models */

static peer *
peer_find(vg_zmq_detector *z, const uint8_t *id, size_t n)
{
    for (int i = 0; i < z->npeers; i++)
        if (z->peers[i].id_len == n && memcmp(z->peers[i].id, id, n) == 0) {
            z->peers[i].used = ++z->clock;
            return &z->peers[i];
        }
    return NULL;
}


static peer *
peer_add(vg_zmq_detector *z, const uint8_t *id, size_t n)
{
    peer *p = peer_find(z, id, n);
    if (p)
        return p;
    if (z->npeers < MAX_PEERS) {
        p = &z->peers[z->npeers++];
    } else {
        p = &z->peers[0];
        for (int i = 1; i < z->npeers; i++)
            if (z->peers[i].used < p->used)
                p = &z->peers[i];
    }
    memset(p, 0, sizeof *p);
    memcpy(p->id, id, n);
    p->id_len = n;
    p->used = ++z->clock;
    return p;
}


/* Frigate sends the basename of its model path: "yolo-fastest-1.1-xl.onnx" -> a vigia model name. */
static int
resolve_model(vg_zmq_detector *z, const char *asked, char *out, size_t cap)
{
    const char *base = strrchr(asked, '/');
    base = base ? base + 1 : asked;
    char name[VG_MODEL_NAME_MAX + 1];
    vg_pool_model_stats st;
    for (int pass = 0; pass < 2; pass++) {
        snprintf(name, sizeof name, "%s", base);
        if (pass == 1) {
            char *dot = strrchr(name, '.');
            if (!dot)
                break;
            *dot = '\0';
        }
        if (vg_model_name_valid(name) && vg_pool_model_stats_by_name(z->pool, name, &st) == 0) {
            snprintf(out, cap, "%s", name);
            return 0;
        }
    }
    return -1;
}


/* Whether `model` serves: 1 loaded (a worker is ready), 0 still loading (worth waiting), -1 it will not. */
static int
model_readiness(vg_zmq_detector *z, const char *model, const char **state)
{
    vg_pool_model_stats st;
    *state = "unknown";
    if (vg_pool_model_stats_by_name(z->pool, model, &st) != 0)
        return -1;
    *state = st.state;
    if (st.workers_ready > 0)
        return 1;
    /* "degraded" with no ready worker: its workers are being respawned */
    return strcmp(st.state, "loading") == 0 || strcmp(st.state, "degraded") == 0 ? 0 : -1;
}


static void
answer_handshake(vg_zmq_detector *z, const uint8_t *id, size_t id_len, int available, int loaded)
{
    send_json(z, id, id_len, json_pack("{s:b, s:b}", "model_available", available, "model_loaded", loaded));
}


/* Answers the held handshakes whose model has loaded, failed or outwaited zmq.handshake_wait. */
static void
held_check(vg_zmq_detector *z, int all)
{
    ev_tstamp now = ev_now(vg_server_loop(z->srv));
    vg_list_each_safe(h, nxt, &z->held, held, link) {
        const char *state;
        int r = model_readiness(z, h->model, &state);
        if (r == 0 && now < h->until && !all)
            continue;
        if (r > 0)
            vg_info("zmq", "client handshake: model '%s' has loaded: answered loaded", h->model);
        else if (r < 0)
            vg_warn("zmq", "client handshake: model '%s' did not load (%s): answered not loaded", h->model, state);
        else
            vg_warn("zmq", "client handshake: model '%s' still loading after %s: answered not loaded, so Frigate "
                           "stays without detections until its detector restarts (raise zmq.handshake_wait, "
                           "or start Frigate after vigia's /ready)",
                    h->model, all ? "vigia began to stop" : "zmq.handshake_wait");
        answer_handshake(z, h->id, h->id_len, 1, r > 0);
        vg_list_remove(&z->held, &h->link);
        free(h);
    }
    if (vg_list_empty(&z->held))
        ev_timer_stop(vg_server_loop(z->srv), &z->recheck);
}


static void
on_recheck(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    held_check(w->data, 0);
}


/*
 * Holds the answer to a handshake for a model that is still loading: Frigate
 * asks once, waits up to 30 s, and never asks again after "not loaded". The
 * answer goes when the model loads or fails, or after zmq.handshake_wait.
 * 0 held, -1 not (too many held, or no wait configured).
 */
static int
held_add(vg_zmq_detector *z, const uint8_t *id, size_t id_len, const char *model)
{
    const vg_config *cfg = vg_server_config(z->srv);
    if (cfg->zmq_handshake_wait <= 0 || z->held.n >= MAX_HELD || z->stopped)
        return -1;
    held *h = calloc(1, sizeof *h);
    if (!h)
        return -1;
    memcpy(h->id, id, id_len);
    h->id_len = id_len;
    snprintf(h->model, sizeof h->model, "%s", model);
    h->until = ev_now(vg_server_loop(z->srv)) + cfg->zmq_handshake_wait;
    vg_list_push_back(&z->held, &h->link);
    if (!ev_is_active(&z->recheck))
        ev_timer_again(vg_server_loop(z->srv), &z->recheck);
    return 0;
}


static void
handle_model_request(vg_zmq_detector *z, const uint8_t *id, size_t id_len, json_t *hdr)
{
    const char *asked = json_string_value(json_object_get(hdr, "model_name"));
    const vg_config *cfg = vg_server_config(z->srv);
    char model[VG_MODEL_NAME_MAX + 1] = "";
    if (asked && resolve_model(z, asked, model, sizeof model) != 0 && cfg->zmq_model[0]) {
        vg_info("zmq", "a client asked for model '%.80s', which vigia does not have: serving zmq.model '%s'",
                asked, cfg->zmq_model);
        snprintf(model, sizeof model, "%s", cfg->zmq_model);
    } else if (!asked) {
        snprintf(model, sizeof model, "%s", cfg->zmq_model);
    }
    vg_pool_model_stats st;
    if (!model[0] || vg_pool_model_stats_by_name(z->pool, model, &st) != 0) {
        vg_warn("zmq", "client handshake: no model '%.80s' (set zmq.model to serve another)", asked ? asked : "");
        answer_handshake(z, id, id_len, 0, 0);
        return;
    }
    if (st.task == VG_POOL_TASK_CLASSIFY) {   /* Frigate reads boxes: a classifier has none */
        char msg[VG_MODEL_NAME_MAX + 96];
        snprintf(msg, sizeof msg, "model '%s' is a classification model; Frigate needs a detection model", model);
        vg_warn("zmq", "client handshake: %s: answered not available", msg);
        send_json(z, id, id_len, json_pack("{s:b, s:b, s:s}", "model_available", 0, "model_loaded", 0, "error", msg));
        return;
    }
    peer *p = peer_add(z, id, id_len);
    snprintf(p->model, sizeof p->model, "%s", model);
    const char *state;
    int r = model_readiness(z, model, &state);
    if (r == 0 && held_add(z, id, id_len, model) == 0) {
        vg_info("zmq", "client handshake: model '%s' is loading: the answer waits for it", model);
        return;
    }
    vg_info("zmq", "client handshake: model '%s' (%s)", model, r > 0 ? "loaded" : state);
    answer_handshake(z, id, id_len, 1, r > 0);
}

/* ------------------------------------------------------------------ */
/* detection */

static float
frac(int v, int size)
{
    float f = (float)v / (float)size;
    return f < 0 ? 0 : f > 1 ? 1 : f;
}


static void
on_answer(int status, vg_pool_result *res, void *ud)
{
    zreq *q = ud;
    vg_zmq_detector *z = q->z;
    vg_list_remove(&z->pending, &q->link);
    if (status == VG_E_CANCELED || status == VG_E_STOPPING) {
        free(q);   /* shutting down: no one to answer */
        return;
    }
    if (status == 0 && res->task == VG_POOL_TASK_CLASSIFY) {   /* the model said so once it loaded */
        char msg[VG_MODEL_NAME_MAX + 96];
        snprintf(msg, sizeof msg, "model '%s' is a classification model; Frigate needs a detection model",
                 res->model ? res->model : "");
        vg_warn("zmq", "%s: answered an error", msg);
        if (z->sock)
            send_error(z, q->id, q->id_len, msg);
        free(q);
        pump(z);
        return;
    }
    float rows[VG_ZMQ_ROWS * VG_ZMQ_COLS];
    memset(rows, 0, sizeof rows);
    if (status != 0) {
        vg_warn("zmq", "detection failed (%s): answering no detections", res->message[0] ? res->message : vg_err_str(status));
    } else {
        int map91 = strcmp(vg_server_config(z->srv)->zmq_class_ids, "coco91") == 0;
        vg_pool_model_stats st;
        if (map91 && (vg_pool_model_stats_by_name(z->pool, res->model, &st) != 0 || st.classes != 80 ||
                      !st.labels || strcmp(st.labels[0], "person") != 0)) {
            if (!z->warned_coco++)
                vg_warn("zmq", "zmq.class_ids = coco91 needs a COCO-80 model; %s answers its own class ids", res->model);
            map91 = 0;
        }
        for (size_t i = 0; i < res->count && i < VG_ZMQ_ROWS; i++) {
            const vg_detection *d = &res->detections[i];
            float *r = rows + i * VG_ZMQ_COLS;
            r[0] = (float)(map91 ? coco91[d->class_id] : d->class_id);
            r[1] = d->confidence;
            /* inclusive pixel corners -> fractions of the tensor's edges */
            r[2] = frac(d->y_min, q->h);
            r[3] = frac(d->x_min, q->w);
            r[4] = frac(d->y_max + 1, q->h);
            r[5] = frac(d->x_max + 1, q->w);
        }
        z->answered++;
    }
    if (z->sock)
        send_reply(z, q->id, q->id_len, rows, sizeof rows);
    free(q);
    pump(z);   /* a send may have taken the socket's edge-triggered notice */
}


/* The tensor header: shape and dtype -> a rawimg description. 0, or -1 with err. */
static int
tensor_desc(json_t *hdr, size_t len, vg_rawimg_desc *d, char *err, size_t errlen)
{
    json_t *shape = json_object_get(hdr, "shape");
    const char *dtype = json_string_value(json_object_get(hdr, "dtype"));
    memset(d, 0, sizeof *d);
    if (!json_is_array(shape) || !dtype) {
        snprintf(err, errlen, "a tensor header needs \"shape\" and \"dtype\"");
        return -1;
    }
    if (strcmp(dtype, "uint8") == 0) {
        d->dtype = VG_RAWIMG_U8;
        d->scale = 1;
    } else if (strcmp(dtype, "float32") == 0) {
        d->dtype = VG_RAWIMG_F32;
        d->scale = 0;   /* 0..1 or 0..255: Frigate's "float" and "float_denorm" */
    } else {
        snprintf(err, errlen, "dtype '%.32s' is not supported (uint8, float32)", dtype);
        return -1;
    }
    int64_t s[4];
    size_t rank = json_array_size(shape);
    if (rank < 3 || rank > 4) {
        snprintf(err, errlen, "shape must be [1,H,W,3], [1,3,H,W] or [H,W,3]");
        return -1;
    }
    for (size_t i = 0; i < rank; i++) {
        json_t *v = json_array_get(shape, i);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535) {
            snprintf(err, errlen, "shape dimension %zu must be an integer in 1..65535", i);
            return -1;
        }
        s[i] = json_integer_value(v);
    }
    if (rank == 3 && s[2] == 3) {
        d->layout = VG_RAWIMG_HWC;
        d->h = (uint32_t)s[0];
        d->w = (uint32_t)s[1];
    } else if (rank == 4 && s[0] == 1 && s[3] == 3) {
        d->layout = VG_RAWIMG_HWC;
        d->h = (uint32_t)s[1];
        d->w = (uint32_t)s[2];
    } else if (rank == 4 && s[0] == 1 && s[1] == 3) {
        d->layout = VG_RAWIMG_CHW;
        d->h = (uint32_t)s[2];
        d->w = (uint32_t)s[3];
    } else {
        snprintf(err, errlen, "shape must be [1,H,W,3], [1,3,H,W] or [H,W,3] (one RGB image)");
        return -1;
    }
    size_t need = vg_rawimg_data_size(d);
    if (need == 0 || need != len) {
        snprintf(err, errlen, "a %s tensor of %ux%ux3 is %zu bytes, not %zu", dtype, d->w, d->h, need, len);
        return -1;
    }
    return 0;
}


static void
handle_detect(vg_zmq_detector *z, const uint8_t *id, size_t id_len, json_t *hdr, zmq_msg_t *tensor)
{
    vg_rawimg_desc d;
    char err[256];
    size_t len = zmq_msg_size(tensor);
    if (tensor_desc(hdr, len, &d, err, sizeof err) != 0) {
        send_error(z, id, id_len, err);
        return;
    }
    const vg_config *cfg = vg_server_config(z->srv);
    if ((int)z->pending.n >= cfg->zmq_max_pending) {
        z->refused++;
        if (z->refused == 1 || z->refused % 100 == 0)
            vg_warn("zmq", "%d requests in flight (zmq.max_pending): answering no detections (%llu so far)",
                    (int)z->pending.n, (unsigned long long)z->refused);
        send_zeros(z, id, id_len);
        return;
    }
    uint8_t *buf = malloc(VG_RAWIMG_HEADER + len);
    zreq *q = calloc(1, sizeof *q);
    if (!buf || !q) {
        free(buf);
        free(q);
        send_zeros(z, id, id_len);
        return;
    }
    vg_rawimg_header(&d, buf);
    memcpy(buf + VG_RAWIMG_HEADER, zmq_msg_data(tensor), len);
    q->z = z;
    memcpy(q->id, id, id_len);
    q->id_len = id_len;
    q->w = (int)d.w;
    q->h = (int)d.h;

    const peer *p = peer_find(z, id, id_len);
    const char *model = p ? p->model : cfg->zmq_model[0] ? cfg->zmq_model : NULL;
    vg_pool_model_stats st;
    if (model && vg_pool_model_stats_by_name(z->pool, model, &st) == 0 && st.task == VG_POOL_TASK_CLASSIFY) {
        char msg[VG_MODEL_NAME_MAX + 96];
        snprintf(msg, sizeof msg, "model '%s' is a classification model; Frigate needs a detection model", model);
        free(buf);
        free(q);
        send_error(z, id, id_len, msg);
        return;
    }
    vg_pool_job job;
    vg_call_job_init(&job, NULL, buf, VG_RAWIMG_HEADER + len, free, buf);
    job.lane = VG_POOL_LANE_NVR;   /* Frigate waits on each frame */
    if (cfg->zmq_min_confidence > 0)
        job.min_confidence = (float)cfg->zmq_min_confidence;
    char perr[256] = "";
    int rc = vg_pool_submit(z->pool, model, &job, on_answer, q, &q->preq, perr, sizeof perr);
    if (rc != 0) {
        free(buf);
        free(q);
        vg_warn("zmq", "detection refused (%s): answering no detections", perr[0] ? perr : vg_err_str(rc));
        send_zeros(z, id, id_len);
        return;
    }
    z->requests++;
    vg_list_push_front(&z->pending, &q->link);
}

/* ------------------------------------------------------------------ */
/* receiving */

/* Reads one whole message if one is there: 1 handled, 0 none waiting. */
static int
recv_one(vg_zmq_detector *z)
{
    zmq_msg_t parts[MAX_PARTS];
    int n = 0, more = 1, extra = 0;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, z->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            if (n == 0)
                return 0;   /* EAGAIN: nothing (a message's parts arrive together) */
            break;
        }
        more = zmq_msg_more(&m);
        if (n < MAX_PARTS)
            parts[n++] = m;
        else {
            extra++;
            zmq_msg_close(&m);
        }
    }
    /* [identity][empty][frames...]: what a REQ socket sends through a ROUTER */
    const uint8_t *id = n ? zmq_msg_data(&parts[0]) : NULL;
    size_t id_len = n ? zmq_msg_size(&parts[0]) : 0;
    if (n < 3 || id_len == 0 || id_len > MAX_IDENTITY || zmq_msg_size(&parts[1]) != 0) {
        vg_warn("zmq", "dropped a message that is not a REQ request (%d parts)", n + extra);
        goto out;
    }
    int frames = n - 2 + extra;
    size_t hlen = zmq_msg_size(&parts[2]);
    json_t *hdr = NULL;
    json_error_t je;
    if (hlen > 0 && hlen <= MAX_HEADER)
        hdr = json_loadb(zmq_msg_data(&parts[2]), hlen, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(hdr)) {
        send_error(z, id, id_len, "the first frame must be a JSON object of at most 4096 bytes");
    } else if (json_is_true(json_object_get(hdr, "model_request"))) {
        if (frames != 1)
            send_error(z, id, id_len, "a model request is one frame");
        else
            handle_model_request(z, id, id_len, hdr);
    } else if (json_is_true(json_object_get(hdr, "model_data"))) {
        vg_warn("zmq", "a client offered a model file: vigia loads models from its models directory only");
        send_json(z, id, id_len, json_pack("{s:b, s:b, s:s}", "model_saved", 0, "model_loaded", 0, "error",
                                           "vigia does not take model uploads: put the model in its models directory"));
    } else if (frames != 2) {
        send_error(z, id, id_len, "a detection request is two frames: a JSON header and the tensor");
    } else if (z->stopped) {
        send_zeros(z, id, id_len);
    } else {
        handle_detect(z, id, id_len, hdr, &parts[3]);
    }
    json_decref(hdr);
out:
    for (int i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
    return 1;
}


/* Handles what is waiting; ZMQ_FD only signals edges, so look until ZMQ_EVENTS says none. */
static void
pump(vg_zmq_detector *z)
{
    if (!z->sock)
        return;
    for (int handled = 0; handled < PUMP_BATCH; handled++) {
        int events = 0;
        size_t sz = sizeof events;
        if (zmq_getsockopt(z->sock, ZMQ_EVENTS, &events, &sz) != 0 || !(events & ZMQ_POLLIN) || z->stopped) {
            ev_idle_stop(vg_server_loop(z->srv), &z->more);
            return;
        }
        if (!recv_one(z)) {
            ev_idle_stop(vg_server_loop(z->srv), &z->more);
            return;
        }
    }
    /* more may be waiting: come back after the loop has seen to the others */
    ev_idle_start(vg_server_loop(z->srv), &z->more);
}


static void
on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    pump(w->data);
}


static void
on_more(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)revents;
    pump(w->data);
}

/* ------------------------------------------------------------------ */

static int
hook_busy(vg_server *s, void *ud)
{
    (void)s;
    return (int)((vg_zmq_detector *)ud)->pending.n;
}


static void
hook_drain(vg_server *s, void *ud)
{
    vg_zmq_detector *z = ud;
    z->stopped = 1;   /* requests still arriving get the zero array until the socket closes */
    ev_idle_stop(vg_server_loop(s), &z->more);
    held_check(z, 1);
}


/* 1 when only this host can reach the endpoint: ipc:// (guarded by file permissions) or tcp:// on loopback. */
static int
endpoint_is_local(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0 || strncmp(ep, "inproc://", 9) == 0)
        return 1;
    if (strncmp(ep, "tcp://", 6) != 0)
        return 0;
    const char *host = ep + 6, *colon = strrchr(host, ':');
    size_t n = colon ? (size_t)(colon - host) : 0;
    if ((n == 5 && memcmp(host, "[::1]", 5) == 0) || (n == 9 && memcmp(host, "localhost", 9) == 0))
        return 1;
    if (n < 7 || n > 15 || memcmp(host, "127.", 4) != 0)
        return 0;
    for (size_t i = 4; i < n; i++)
        if (host[i] != '.' && (host[i] < '0' || host[i] > '9'))
            return 0;
    return 1;
}


/* Reads the server's CURVE secret key (40 Z85 characters, whitespace around allowed). 0, or -1 with err. */
static int
curve_key_read(const char *path, char key[41], char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "zmq: cannot read zmq.curve_secret_key_file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & 077))
        vg_warn("zmq", "%s (the CURVE secret key) can be read by other users: chmod 600 it", path);
    char buf[256];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = buf;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    size_t len = 0;
    while (p[len] && p[len] != ' ' && p[len] != '\t' && p[len] != '\r' && p[len] != '\n')
        len++;
    uint8_t raw[32];
    if (len == 40) {
        memcpy(key, p, 40);
        key[40] = '\0';
    }
    if (len != 40 || !zmq_z85_decode(raw, key)) {
        snprintf(err, errlen, "zmq: %s does not hold a CURVE secret key (40 Z85 characters, as "
                              "zmq.curve_keypair() or curve_keygen write)", path);
        return -1;
    }
    return 0;
}


/*
 * The endpoint's guard, set before bind: CURVE when a secret key is
 * configured; otherwise a local endpoint, or zmq.allow_insecure for a
 * reachable one (the protocol itself has no authentication).
 */
static int
secure_socket(vg_zmq_detector *z, const vg_config *cfg, char *err, size_t errlen)
{
    int major, minor, patch;
    zmq_version(&major, &minor, &patch);
    if (!cfg->zmq_curve_secret_key_file[0]) {
        if (endpoint_is_local(cfg->zmq_endpoint))
            return 0;
        if (!cfg->zmq_allow_insecure) {
            snprintf(err, errlen, "zmq: %s can be reached from other hosts and Frigate's zmq protocol has no "
                                  "authentication: bind ipc://PATH or tcp://127.0.0.1:PORT, or set "
                                  "zmq.curve_secret_key_file, or accept the risk with zmq.allow_insecure = true",
                     cfg->zmq_endpoint);
            return -1;
        }
        vg_warn("zmq", "INSECURE: %s is served without authentication (zmq.allow_insecure): anyone who reaches "
                       "it can run the models; keep it on a trusted network or use CURVE",
                cfg->zmq_endpoint);
        return 0;
    }
    if (!zmq_has("curve")) {
        snprintf(err, errlen, "zmq: zmq.curve_secret_key_file is set but this libzmq (%d.%d.%d) was built "
                              "without CURVE: install a libzmq with CURVE (libsodium) or clear the key file "
                              "and bind a local endpoint", major, minor, patch);
        return -1;
    }
    char secret[41], public[41];
    if (curve_key_read(cfg->zmq_curve_secret_key_file, secret, err, errlen) != 0)
        return -1;
    int on = 1;
    if (zmq_curve_public(public, secret) != 0 ||
        zmq_setsockopt(z->sock, ZMQ_CURVE_SERVER, &on, sizeof on) != 0 ||
        zmq_setsockopt(z->sock, ZMQ_CURVE_SECRETKEY, secret, 40) != 0) {
        snprintf(err, errlen, "zmq: cannot turn CURVE on: %s", zmq_strerror(errno));
        memset(secret, 0, sizeof secret);
        return -1;
    }
    memset(secret, 0, sizeof secret);
    vg_info("zmq", "CURVE on: clients need the server public key %s", public);
    return 0;
}


vg_zmq_detector *
vg_zmq_detector_create(vg_server *srv, vg_pool *pool, char *err, size_t errlen)
{
    const vg_config *cfg = vg_server_config(srv);
    if (errlen)
        err[0] = '\0';
    if (!cfg->zmq_endpoint[0])
        return NULL;
    vg_zmq_detector *z = vg_xcalloc(1, sizeof *z);
    z->srv = srv;
    z->pool = pool;
    z->ctx = zmq_ctx_new();
    if (!z->ctx) {
        snprintf(err, errlen, "zmq: cannot create a context: %s", zmq_strerror(errno));
        goto fail;
    }
    z->sock = zmq_socket(z->ctx, ZMQ_ROUTER);
    int64_t maxmsg = (int64_t)cfg->zmq_max_message;
    int linger = 0;
    size_t fdlen = sizeof z->fd;
    if (!z->sock || zmq_setsockopt(z->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(z->sock, ZMQ_LINGER, &linger, sizeof linger) != 0) {
        snprintf(err, errlen, "zmq: cannot set up the socket: %s", zmq_strerror(errno));
        goto fail;
    }
    if (secure_socket(z, cfg, err, errlen) != 0)
        goto fail;
    if (zmq_bind(z->sock, cfg->zmq_endpoint) != 0) {
        snprintf(err, errlen, "zmq: cannot bind %s: %s", cfg->zmq_endpoint, zmq_strerror(errno));
        goto fail;
    }
    if (zmq_getsockopt(z->sock, ZMQ_FD, &z->fd, &fdlen) != 0) {
        snprintf(err, errlen, "zmq: no file descriptor for the socket: %s", zmq_strerror(errno));
        goto fail;
    }
    char bound[256] = "";
    size_t blen = sizeof bound;
    if (zmq_getsockopt(z->sock, ZMQ_LAST_ENDPOINT, bound, &blen) != 0)
        snprintf(bound, sizeof bound, "%s", cfg->zmq_endpoint);
    ev_io_init(&z->io, on_io, z->fd, EV_READ);
    z->io.data = z;
    ev_io_start(vg_server_loop(srv), &z->io);
    ev_idle_init(&z->more, on_more);
    z->more.data = z;
    ev_init(&z->recheck, on_recheck);
    z->recheck.repeat = HELD_POLL;
    z->recheck.data = z;
    /* messages may have queued before the watcher existed */
    ev_idle_start(vg_server_loop(srv), &z->more);
    vg_server_hooks h;
    memset(&h, 0, sizeof h);
    h.busy = hook_busy;
    h.on_drain = hook_drain;
    h.ud = z;
    vg_server_add_hooks(srv, &h);
    vg_info("zmq", "Frigate zmq detector on %s", bound);
    return z;
fail:
    if (z->sock)
        zmq_close(z->sock);
    if (z->ctx)
        zmq_ctx_term(z->ctx);
    free(z);
    return NULL;
}


void
vg_zmq_detector_destroy(vg_zmq_detector *z)
{
    if (!z)
        return;
    z->stopped = 1;
    ev_io_stop(vg_server_loop(z->srv), &z->io);
    ev_idle_stop(vg_server_loop(z->srv), &z->more);
    ev_timer_stop(vg_server_loop(z->srv), &z->recheck);
    vg_list_each_safe(h, nxt, &z->held, held, link) {
        vg_list_remove(&z->held, &h->link);
        free(h);
    }
    /* callbacks of canceled jobs free their requests and answer no one */
    while (!vg_list_empty(&z->pending)) {
        zreq *q = vg_list_first(&z->pending, zreq, link);
        if (q->preq)
            vg_pool_cancel(q->preq);
        else {
            vg_list_remove(&z->pending, &q->link);
            free(q);
        }
    }
    zmq_close(z->sock);
    z->sock = NULL;
    zmq_ctx_term(z->ctx);
    free(z);
}
