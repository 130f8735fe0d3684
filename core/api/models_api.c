/* models_api: see models_api.h. */
#include "api/models_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/model_metrics.h"
#include "auth/auth.h"
#include "base/error.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "http/http.h"
#include "http/reply.h"
#include "pipeline/model.h"
#include "pool/pool.h"

struct vg_models_api {
    vg_pool *pool;
    vg_http *http;
    ev_timer stop_when_read;     /* a drain waits for the bodies of requests sent before it */
    int draining;                /* the server drains; the pool stops once no body is still arriving */
    int stopping;                /* vg_pool_stop called */
    int stopped;                 /* ... and finished */
    vg_model_metrics *metrics;   /* the per-model figures on /metrics */
};

/* ---- routes ---- */

static void
model_json(vg_jsonw *w, const vg_pool_model_stats *m, int full, const vg_pool *pool)
{
    vg_jsonw_obj(w);
    vg_jsonw_kstr(w, "name", m->name);
    vg_jsonw_kstr(w, "state", m->state);
    vg_jsonw_kstr(w, "why", m->why);
    vg_jsonw_kstr(w, "backend", m->backend);
    vg_jsonw_kstr(w, "device", m->device);
    vg_jsonw_kstr(w, "task", m->task == VG_POOL_TASK_CLASSIFY ? "classify" : "detect");  /* as its workers said */
    vg_jsonw_kstr(w, "description", m->description);
    if (m->alias)
        vg_jsonw_kstr(w, "alias", m->alias);   /* its jobs run on that model, its classes filtered */
    vg_jsonw_kobj(w, "input");
    vg_jsonw_kint(w, "width", m->input_w);
    vg_jsonw_kint(w, "height", m->input_h);
    vg_jsonw_kstr(w, "resize", m->resize);          /* stretch | letterbox */
    vg_jsonw_kstr(w, "resize_from", m->resize_why); /* manifest, cfg, default, or the backend */
    vg_jsonw_obj_end(w);
    if (m->head && m->head[0]) {
        vg_jsonw_kstr(w, "head", m->head);              /* yolov5 | yolov8 | boxes (ONNX detectors) */
        vg_jsonw_kstr(w, "head_from", m->head_from);    /* detected (from the output's shape) | manifest */
    }
    vg_jsonw_kint(w, "classes", m->classes);
    if (m->labels_from && m->labels_from[0])
        vg_jsonw_kstr(w, "labels_from", m->labels_from);  /* names file | plugin */
    vg_jsonw_kdouble(w, "threshold", m->threshold, 4);
    vg_jsonw_kdouble(w, "nms", m->nms, 4);
    vg_jsonw_kstr(w, "nms_kind", m->nms_kind);            /* default (IoU) | greedynms | diounms */
    vg_jsonw_kstr(w, "nms_kind_from", m->nms_kind_from);  /* manifest, cfg or default */
    vg_jsonw_key(w, "nms_diou_beta");                     /* the DIoU exponent; null: plain IoU */
    if (m->nms_diou_beta > 0)
        vg_jsonw_double_prec(w, m->nms_diou_beta, 4);
    else
        vg_jsonw_null(w);
    vg_jsonw_kobj(w, "workers");
    vg_jsonw_kuint(w, "configured", m->workers);
    vg_jsonw_kuint(w, "ready", m->workers_ready);
    vg_jsonw_kuint(w, "busy", m->workers_busy);
    vg_jsonw_obj_end(w);
    vg_jsonw_kobj(w, "queue");
    vg_jsonw_kuint(w, "depth", m->queue_depth);
    vg_jsonw_kuint(w, "max", m->queue_max);
    vg_jsonw_obj_end(w);
    vg_jsonw_kobj(w, "jobs");
    const char *jn[] = { "ok", "failed", "rejected", "timed_out", "retried" };
    uint64_t jv[] = { m->jobs_ok, m->jobs_failed, m->jobs_rejected, m->jobs_timedout, m->jobs_retried };
    for (int i = 0; i < 5; i++) {
        vg_jsonw_key(w, jn[i]);
        vg_jsonw_uint(w, jv[i]);
    }
    vg_jsonw_obj_end(w);
    vg_jsonw_kuint(w, "restarts", m->restarts);
    vg_jsonw_kuint(w, "crashes", m->crashes);
    vg_jsonw_kobj(w, "latency_ms");
    vg_jsonw_kdouble(w, "p50", m->p50_ms, 4);
    vg_jsonw_kdouble(w, "p90", m->p90_ms, 4);
    vg_jsonw_kdouble(w, "p99", m->p99_ms, 4);
    vg_jsonw_kdouble(w, "infer_p50", m->infer_p50_ms, 4);
    vg_jsonw_obj_end(w);
    if (full) {
        vg_jsonw_karr(w, "labels");
        for (int i = 0; i < m->classes && m->labels; i++)
            vg_jsonw_cstr(w, m->labels[i]);
        vg_jsonw_arr_end(w);
        vg_pool_worker_info wi[VG_MODEL_MAX_WORKERS * 2];
        int n = vg_pool_model_workers(pool, m->name, wi, sizeof wi / sizeof wi[0]);
        vg_jsonw_karr(w, "worker_processes");
        for (int i = 0; i < n && i < (int)(sizeof wi / sizeof wi[0]); i++) {
            vg_jsonw_obj(w);
            vg_jsonw_kint(w, "pid", wi[i].pid);
            vg_jsonw_kint(w, "index", wi[i].index);
            vg_jsonw_kint(w, "slot", wi[i].slot);
            vg_jsonw_kstr(w, "device", wi[i].device);
            vg_jsonw_kstr(w, "state", wi[i].state);
            vg_jsonw_kint(w, "busy", wi[i].busy);
            vg_jsonw_kuint(w, "rss_bytes", wi[i].rss);
            vg_jsonw_kdouble(w, "uptime_s", wi[i].uptime_s, 6);
            vg_jsonw_obj_end(w);
        }
        vg_jsonw_arr_end(w);
    }
    vg_jsonw_obj_end(w);
}


static void
route_models(vg_req *r, void *ud)
{
    vg_models_api *api = ud;
    vg_reply out;
    vg_reply_init(&out);
    vg_jsonw_obj(&out.w);
    vg_jsonw_kstr(&out.w, "default", vg_pool_default_model(api->pool));
    vg_jsonw_karr(&out.w, "models");
    size_t n = vg_pool_model_count(api->pool);
    for (size_t i = 0; i < n; i++) {
        vg_pool_model_stats m;
        if (vg_pool_model_stats_at(api->pool, i, &m) == 0)
            model_json(&out.w, &m, 0, api->pool);
    }
    vg_jsonw_arr_end(&out.w);
    vg_jsonw_kobj(&out.w, "cluster");   /* the other nodes, in multi-node mode */
    if (!vg_pool_remote_describe(api->pool, &out.w))
        vg_jsonw_kbool(&out.w, "enabled", 0);
    vg_jsonw_obj_end(&out.w);
    vg_jsonw_obj_end(&out.w);
    vg_reply_send(&out, r, 200);
}


/* The {name} parameter, decoded and checked; NULL after answering 400/404. */
static const char *
model_param(vg_req *r, char *out, size_t cap)
{
    vg_str raw = vg_req_param(r, 0);
    vg_buf b;
    vg_buf_init(&b);
    int ok = vg_url_decode(raw.p, raw.n, &b, 0) == 0 && b.len < cap && vg_model_name_valid(vg_buf_cstr(&b));
    if (ok)
        memcpy(out, b.data, b.len + 1);
    vg_buf_release(&b);
    if (!ok) {
        vg_req_error(r, 400, "bad_request", "malformed model name");
        return NULL;
    }
    return out;
}


static void
route_model(vg_req *r, void *ud)
{
    vg_models_api *api = ud;
    char name[VG_MODEL_NAME_MAX + 1];
    if (!model_param(r, name, sizeof name))
        return;
    vg_pool_model_stats m;
    if (vg_pool_model_stats_by_name(api->pool, name, &m) != 0) {
        vg_req_error(r, 404, "no_such_model", "no model named '%s'", name);
        return;
    }
    vg_reply out;
    vg_reply_init(&out);
    model_json(&out.w, &m, 1, api->pool);
    vg_reply_send(&out, r, 200);
}


static void
respond_state(vg_req *r, vg_models_api *api, const char *name, int status)
{
    vg_pool_model_stats m;
    vg_buf b;
    vg_buf_init(&b);
    if (vg_pool_model_stats_by_name(api->pool, name, &m) == 0)
        vg_buf_printf(&b, "{\"model\":\"%s\",\"state\":\"%s\"}\n", name, m.state);
    else
        vg_buf_printf(&b, "{\"model\":\"%s\"}\n", name);
    vg_req_respond_buf(r, status, "application/json", &b);
    vg_buf_release(&b);
}


/* After a load or unload of `name` (rc from the pool): the error with `why`, or 202 with the model's state. */
static void
changed(vg_req *r, vg_models_api *api, const char *name, int rc, const char *why, const char *doing)
{
    if (rc != 0) {
        vg_req_error(r, vg_err_http_status(rc), vg_err_code(rc), "%s", why);
        return;
    }
    vg_info("models", "%s '%s' (asked by %s)", doing, name, vg_req_peer(r));
    respond_state(r, api, name, 202);
}


static void
route_model_load(vg_req *r, void *ud)
{
    vg_models_api *api = ud;
    char name[VG_MODEL_NAME_MAX + 1];
    if (!model_param(r, name, sizeof name))
        return;
    vg_buf backend, workers;
    vg_buf_init(&backend);
    vg_buf_init(&workers);
    int has_backend = vg_req_query_get(r, "backend", &backend) == 0;
    long nworkers = 0;
    if (vg_req_query_get(r, "workers", &workers) == 0) {
        char *end;
        nworkers = strtol(workers.data, &end, 10);
        if (*end || nworkers < 1 || nworkers > VG_MODEL_MAX_WORKERS) {
            vg_req_error(r, 400, "bad_request", "workers must be 1..%d", VG_MODEL_MAX_WORKERS);
            goto out;
        }
    }
    char err[512] = "";
    int rc = vg_pool_model_load(api->pool, name, has_backend ? backend.data : NULL, (unsigned)nworkers, err, sizeof err);
    changed(r, api, name, rc, err[0] ? err : vg_err_str(rc), "loading");
out:
    vg_buf_release(&backend);
    vg_buf_release(&workers);
}


static void
route_model_unload(vg_req *r, void *ud)
{
    vg_models_api *api = ud;
    char name[VG_MODEL_NAME_MAX + 1];
    if (!model_param(r, name, sizeof name))
        return;
    int rc = vg_pool_model_unload(api->pool, name);
    char why[VG_MODEL_NAME_MAX + 160];
    snprintf(why, sizeof why, "%s: %s", name, vg_err_str(rc));
    changed(r, api, name, rc, why, "unloading");
}

/* ---- server hooks and metrics ---- */

static int
hook_ready(vg_server *s, void *ud, char *why, size_t whylen)
{
    (void)s;
    vg_models_api *api = ud;
    if (vg_pool_default_problem(api->pool, why, whylen))
        return 0;
    if (vg_pool_is_ready(api->pool))
        return 1;
    if (vg_pool_has_remote(api->pool) && !vg_pool_default_model(api->pool))
        return 1;   /* a front end without local models (--workers 0): the cluster serves */
    /* the models that hold readiness back: those loaded and not ready, and the default model
     * when its manifest or files are wrong (its why names the missing file and what fetches
     * it); other invalid manifests were never asked to load and do not count */
    const char *def = vg_pool_configured_default(api->pool);
    size_t n = vg_pool_model_count(api->pool);
    size_t o = (size_t)snprintf(why, whylen, "models not ready:");
    for (size_t i = 0; i < n && o < whylen; i++) {
        vg_pool_model_stats m;
        if (vg_pool_model_stats_at(api->pool, i, &m) != 0 || strcmp(m.state, "unloaded") == 0 ||
            strcmp(m.state, "ready") == 0 || (strcmp(m.state, "invalid") == 0 && !(def && strcmp(def, m.name) == 0)))
            continue;
        o += (size_t)snprintf(why + o, whylen - o, " %s (%s%s%s)", m.name, m.state, m.why[0] ? ": " : "", m.why);
    }
    if (!vg_pool_default_model(api->pool) && o < whylen)
        snprintf(why + o, whylen - o, " no model is loaded");
    return 0;
}


static void
pool_stopped(void *ud)
{
    vg_models_api *api = ud;
    api->stopped = 1;
}


/* In-flight jobs finish; then the workers exit. */
static void
pool_stop(vg_models_api *api)
{
    ev_timer_stop(vg_server_loop(vg_http_server(api->http)), &api->stop_when_read);
    api->stopping = 1;
    vg_server *s = vg_http_server(api->http);
    vg_pool_stop(api->pool, (uint32_t)(vg_server_config(s)->drain_timeout * 1000), pool_stopped, api);
}


/*
 * A request whose head came before the drain is served, also when its body
 * is still arriving: the pool keeps taking jobs until no such body is left
 * (checked every 20 ms; the server's drain timeout bounds the wait).
 */
static void
on_stop_when_read(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    vg_models_api *api = w->data;
    if (vg_http_requests_reading(api->http) == 0)
        pool_stop(api);
}


static void
hook_drain(vg_server *s, void *ud)
{
    vg_models_api *api = ud;
    api->draining = 1;
    if (vg_http_requests_reading(api->http) == 0) {
        pool_stop(api);
        return;
    }
    ev_timer_init(&api->stop_when_read, on_stop_when_read, 0.02, 0.02);
    api->stop_when_read.data = api;
    ev_timer_start(vg_server_loop(s), &api->stop_when_read);
}


static int
hook_busy(vg_server *s, void *ud)
{
    (void)s;
    vg_models_api *api = ud;
    return api->draining && !api->stopped;
}


static int
hook_reload(vg_server *s, const vg_config *next, void *ud, char *err, size_t errlen)
{
    (void)s;
    (void)next;
    (void)err;
    (void)errlen;
    vg_models_api *api = ud;
    /* rolling restart of every loaded model: new workers first, old ones retire when they are ready */
    size_t n = vg_pool_model_count(api->pool);
    for (size_t i = 0; i < n; i++) {
        vg_pool_model_stats m;
        if (vg_pool_model_stats_at(api->pool, i, &m) != 0 || strcmp(m.state, "unloaded") == 0 ||
            strcmp(m.state, "invalid") == 0)
            continue;
        char name[VG_MODEL_NAME_MAX + 1], why[512] = "";
        snprintf(name, sizeof name, "%s", m.name);
        int rc = vg_pool_model_reload(api->pool, name, why, sizeof why);
        if (rc != 0)
            vg_warn("models", "reload of '%s' refused: %s", name, why[0] ? why : vg_err_str(rc));
        else
            vg_info("models", "rolling restart of '%s'", name);
    }
    return 0;
}


vg_models_api *
vg_models_api_create(vg_http *http, vg_pool *pool)
{
    vg_models_api *api = vg_xcalloc(1, sizeof *api);
    api->pool = pool;
    api->http = http;
    vg_http_route(http, VG_M_GET, "/v1/models", route_models, api, 0, VG_ACCESS_READ);
    vg_http_route(http, VG_M_GET, "/v1/models/{name}", route_model, api, 0, VG_ACCESS_READ);
    vg_http_route(http, VG_M_POST, "/v1/models/{name}/load", route_model_load, api, 0, VG_ACCESS_ADMIN);
    vg_http_route(http, VG_M_POST, "/v1/models/{name}/unload", route_model_unload, api, 0, VG_ACCESS_ADMIN);

    vg_server_hooks h;
    memset(&h, 0, sizeof h);
    h.ready = hook_ready;
    h.busy = hook_busy;
    h.on_drain = hook_drain;
    h.on_reload = hook_reload;
    h.ud = api;
    vg_server_add_hooks(vg_http_server(http), &h);
    api->metrics = vg_model_metrics_create(pool);
    return api;
}


void
vg_models_api_destroy(vg_models_api *api)
{
    if (api && api->http)
        ev_timer_stop(vg_server_loop(vg_http_server(api->http)), &api->stop_when_read);
    if (api)
        vg_model_metrics_destroy(api->metrics);
    free(api);
}
