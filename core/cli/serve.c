/* serve: see serve.h. */
#include "cli/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "vg_build.h"

#include "api/cpai_api.h"
#include "api/detect_api.h"
#include "api/compare_api.h"
#include "api/kserve_api.h"
#include "api/mjpeg_api.h"
#include "api/zmq_detector.h"
#include "api/mqtt_events.h"
#include "api/webhook_events.h"
#include "api/events_api.h"
#include "api/cameras_api.h"
#include "api/history_api.h"
#include "cli/shared_state.h"
#include "api/models_api.h"
#include "api/openapi_api.h"
#include "api/ops.h"
#include "api/users_api.h"
#include "auth/auth.h"
#include "api/stream_api.h"
#include "base/error.h"
#include "base/log.h"
#include "base/metrics.h"
#include "http/cors.h"
#include "http/http.h"
#include "http/static.h"
#include "net/server.h"
#include "pool/pool.h"
#include "cluster/bus.h"
#include "cluster/front.h"
#include "store/store_client.h"

static int
setup_log(const vg_config *cfg, char *err, size_t errlen)
{
    enum vg_log_level lvl;
    if (vg_log_level_parse(cfg->log_level, &lvl) == 0)
        vg_log_set_level(lvl);
    vg_log_set_format(strcmp(cfg->log_format, "json") == 0 ? VG_LOG_JSON : VG_LOG_TEXT);
    vg_log_set_flush(cfg->log_flush);
    if (cfg->log_file[0]) {
        int fd = open(cfg->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0) {
            snprintf(err, errlen, "log.file '%s': %s", cfg->log_file, strerror(errno));
            return -1;
        }
        vg_log_set_fd(fd);
    }
    return 0;
}


vg_pool *
vg_serve_pool(struct ev_loop *loop, const vg_config *cfg, char *err, size_t errlen)
{
    vg_pool_options o;
    vg_pool_options_init(&o);
    o.models_dir = cfg->models_dir;
    o.backend_dir = cfg->backends_dir[0] ? cfg->backends_dir : NULL;
    o.default_model = cfg->default_model[0] ? cfg->default_model : NULL;
    o.workers = (unsigned)cfg->workers;
    o.queue_max = (unsigned)cfg->queue_max;
    o.job_timeout_ms = (uint32_t)(cfg->job_timeout * 1000);
    o.nvr_priority = cfg->nvr_priority;
    o.nvr_workers = (unsigned)cfg->nvr_workers;
    o.nvr_burst = (unsigned)cfg->nvr_burst;
    o.start_timeout_ms = (uint32_t)(cfg->worker_start_timeout * 1000);
    o.mem_cap = cfg->worker_mem_cap;
    o.crash_limit = (unsigned)cfg->worker_crash_limit;
    o.crash_window_ms = (uint32_t)(cfg->worker_crash_window * 1000);
    o.max_image_bytes = cfg->max_upload;
    o.max_image_pixels = (uint64_t)cfg->max_pixels;
    o.full_decode = !cfg->scaled_decode;
    vg_pool *pool;
    int rc = vg_pool_create(loop, &o, &pool);
    if (rc != 0) {
        snprintf(err, errlen, "worker pool: %s", vg_err_str(rc));
        return NULL;
    }
    int found = vg_pool_scan(pool);
    if (found < 0)
        vg_warn("models", "cannot read the models directory '%s': %s", cfg->models_dir, vg_err_str(found));
    else
        vg_info("models", "%d model(s) in %s", found, cfg->models_dir);

    char list[1024];
    snprintf(list, sizeof list, "%s", cfg->load_models[0] ? cfg->load_models : cfg->default_model);
    if (cfg->workers == 0)
        list[0] = '\0';   /* --workers 0: no local model; every job goes to the cluster */
    char *save = NULL;
    for (char *name = strtok_r(list, ", ", &save); name; name = strtok_r(NULL, ", ", &save)) {
        char why[1024] = "";
        rc = vg_pool_model_load(pool, name, NULL, 0, why, sizeof why);
        if (rc != 0)
            vg_warn("models", "cannot load '%s': %s", name, why[0] ? why : vg_err_str(rc));
    }
    char why[1024];
    if (vg_pool_default_problem(pool, why, sizeof why))
        vg_error("models", "%s; requests that name no model are refused until then", why);
    return pool;
}


void
vg_serve_cluster_options(const vg_config *cfg, vg_cluster_options *o)
{
    vg_cluster_options_init(o);
    o->node = cfg->cluster_node[0] ? cfg->cluster_node : NULL;
    o->ttl_ms = (uint32_t)(cfg->cluster_ttl * 1000);
    o->interval_ms = o->ttl_ms / 3 ? o->ttl_ms / 3 : 1;
    o->claim_after_ms = (uint32_t)(cfg->cluster_claim_after * 1000);
    o->job_timeout_ms = (uint32_t)(cfg->job_timeout * 1000);
    o->max_inflight = (unsigned)cfg->cluster_max_inflight;
}


int
vg_serve_cluster(struct ev_loop *loop, const vg_config *cfg, vg_pool *pool, vg_cluster_front **out, char *err,
                 size_t errlen)
{
    *out = NULL;
    if (!cfg->cluster_url[0]) {
        if (cfg->workers == 0) {
            snprintf(err, errlen, "%s", "--workers 0 runs no model here: it needs --cluster redis://HOST:PORT");
            return -1;
        }
        return 0;
    }
    vg_bus_url u;
    if (vg_bus_url_parse(cfg->cluster_url, strlen(cfg->cluster_url), &u, err, errlen) != 0)
        return -1;
    vg_cluster_options o;
    vg_serve_cluster_options(cfg, &o);
    return vg_cluster_front_create(loop, &u, &o, pool, out, err, errlen) != 0 ? -1 : 0;
}


/* The store's and the hasher's settings from the config. */
static void
store_options(const vg_config *cfg, vg_store_options *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->store.data_dir, sizeof o->store.data_dir, "%s", cfg->data_dir);
    o->store.map_size = cfg->store_map_size;
    o->store.map_max = cfg->store_map_max;
    o->store.commit_records = (unsigned)cfg->store_commit_records;
    o->store.commit_interval = cfg->store_commit_interval;
    o->store.retention = cfg->history_retention;
    o->store.image_retention = cfg->history_image_retention;
    o->store.sweep_interval = 30;
    o->store.outbox = cfg->cluster_state_url[0] != '\0';   /* shared state: replicated writes kept until sent */
    o->hasher.t_cost = (uint32_t)cfg->argon2_iterations;
    o->hasher.m_cost_kib = (uint32_t)(cfg->argon2_memory / 1024);
    o->hasher.parallelism = (uint32_t)cfg->argon2_parallelism;
    o->max_pending = (size_t)cfg->store_max_pending;
    o->max_hash_pending = 64;
}


/* A drain waits for the writes the store has not acknowledged. */
static int
store_busy(vg_server *s, void *ud)
{
    (void)s;
    return (int)vg_store_pending(ud);
}


/* /ready: the store process runs (it is respawned after a crash). */
static int
store_ready(vg_server *s, void *ud, char *why, size_t whylen)
{
    (void)s;
    if (vg_store_pid(ud) > 0)
        return 1;
    snprintf(why, whylen, "the store process is restarting");
    return 0;
}


struct vg_app {
    struct ev_loop *loop;
    vg_server *srv;
    vg_http *http;
    vg_static st;
    vg_store *store;
    vg_auth *auth;
    vg_users_api *users;
    vg_history *history;
    vg_pool *pool;
    vg_models_api *models;
    vg_detect_api *detect;
    vg_cpai_api *cpai;             /* CodeProject.AI's status and list routes */
    vg_stream_api *stream;
    vg_compare_api *compare;
    vg_kserve_api *kserve;
    vg_mjpeg_api *mjpeg;
    vg_openapi_api *openapi;       /* the OpenAPI document and the route list */
    vg_zmq_detector *zmq;          /* NULL when zmq.endpoint is empty */
    vg_cluster_front *cluster;     /* NULL when cluster.url is empty */
    vg_shared_state *shared;       /* users, sessions and history shared with other nodes; NULL: none */
    vg_mqtt_events *mqtt;          /* track events to MQTT; NULL when mqtt.url is empty */
    vg_webhook_events *webhooks;   /* track events to webhook.urls; NULL when none */
    vg_events_api *events;         /* track events kept in the history; GET /v1/events */
    vg_cameras_api *cameras;       /* named cameras' zones and lines; /v1/cameras/{id} */
};



/* SIGHUP: [webhook], [stream] cameras_file and [mqtt] again (docs/events.md); a refusal keeps the running ones. */
static int
events_out_reload(vg_server *s, const vg_config *next, void *ud, char *err, size_t errlen)
{
    (void)s;
    vg_app *app = ud;
    if (vg_webhook_events_reload(app->webhooks, next, err, errlen) < 0
        || vg_cameras_api_reload(app->cameras, next, err, errlen) < 0)
        return -1;
    return vg_mqtt_events_reload(app->mqtt, next, err, errlen);
}

vg_app *
vg_app_create(struct ev_loop *loop, vg_config *cfg, char *err, size_t errlen)
{
    vg_app *app = vg_xcalloc(1, sizeof *app);
    app->loop = loop;
    app->srv = vg_server_create(loop, cfg);
    app->http = vg_http_create(app->srv);
    vg_cors_install(app->http);
    vg_ops_register(app->http);
    vg_static_init(&app->st, app->http, cfg->web_dir);
    app->openapi = vg_openapi_api_create(app->http, cfg->web_dir);
    /* the store and the hasher fork first, before workers and listeners */
    vg_store_options so;
    store_options(cfg, &so);
    if (vg_store_create(loop, &so, &app->store, err, errlen) != 0)
        goto fail;
    vg_server_hooks h = { .busy = store_busy, .ready = store_ready, .ud = app->store };
    vg_server_add_hooks(app->srv, &h);
    app->auth = vg_auth_create(app->http, app->store, err, errlen);
    if (!app->auth)
        goto fail;
    if (vg_shared_state_create(loop, cfg, app->store, app->auth, stdout, &app->shared, err, errlen) != 0)
        goto fail;
    app->users = vg_users_api_create(app->http, app->store);
    app->history = vg_history_create(app->http, app->store);
    app->pool = vg_serve_pool(loop, cfg, err, errlen);
    if (!app->pool)
        goto fail;
    if (vg_serve_cluster(loop, cfg, app->pool, &app->cluster, err, errlen) != 0)
        goto fail;
    app->models = vg_models_api_create(app->http, app->pool);
    app->detect = vg_detect_api_create(app->http, app->pool, app->history);
    app->cpai = vg_cpai_api_create(app->http, app->pool);
    app->stream = vg_stream_api_create(app->http, app->pool, app->history);
    /* the protocols other clients already speak */
    app->compare = vg_compare_api_create(app->http, app->pool, app->store);
    app->kserve = vg_kserve_api_create(app->http, app->pool);
    app->mjpeg = vg_mjpeg_api_create(app->http, app->stream);
    app->zmq = vg_zmq_detector_create(app->srv, app->pool, err, errlen);
    if (!app->zmq && err[0])
        goto fail;   /* zmq.endpoint is set and cannot be served */
    /* the streams' track events: kept in the history, to MQTT and to webhooks when configured */
    app->events = vg_events_api_create(app->http, app->store, app->history);
    app->cameras = vg_cameras_api_create(app->http, app->store, app->stream, err, errlen);
    if (!app->cameras)
        goto fail;
    vg_shared_state_on_camera(app->shared, vg_cameras_api_stored_elsewhere, app->cameras);
    app->mqtt = vg_mqtt_events_create(app->srv, err, errlen);
    if (!app->mqtt && err[0])
        goto fail;
    app->webhooks = vg_webhook_events_create(app->srv, err, errlen);
    if (!app->webhooks && err[0])
        goto fail;
    vg_server_hooks eh = { .on_reload = events_out_reload, .ud = app };
    vg_server_add_hooks(app->srv, &eh);
    const vg_stream_event_sink sinks[] = { { vg_events_api_on_event, app->events },
                                           { vg_mqtt_events_on_event, app->mqtt },
                                           { vg_webhook_events_on_event, app->webhooks } };
    for (size_t i = 0; i < sizeof sinks / sizeof sinks[0]; i++)
        if (sinks[i].ud)
            vg_stream_api_add_event_sink(app->stream, &sinks[i]);
    return app;
fail:
    vg_app_destroy(app);
    return NULL;
}


/* mkdir -p, 0750 as the store makes its own folders. */
static int
make_dir(const char *path)
{
    if (mkdir(path, 0750) == 0 || errno == EEXIST)
        return 0;
    if (errno != ENOENT)
        return -1;
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (!slash || slash == parent)
        return -1;
    *slash = '\0';
    if (make_dir(parent) < 0)
        return -1;
    return mkdir(path, 0750) == 0 || errno == EEXIST ? 0 : -1;
}


/* Who holds the lock on fd: F_GETLK's answer, else the pid the holder wrote (0 when neither says). */
static long
lock_holder(int fd)
{
    struct flock q = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK && q.l_pid > 0)
        return (long)q.l_pid;
    char buf[32] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    return strtol(buf, NULL, 10);
}


/*
 * One server per data directory: the master holds a write lock on
 * DIR/vigia.lock, which holds its pid, for its whole life. A POSIX record
 * lock rather than flock: forked children do not inherit it, so it goes
 * with the master the moment the master exits, SIGKILL included, and
 * F_GETLK names the holder. `vigia user add` takes no lock: it writes
 * beside a running server under LMDB's own locking. Returns the lock's fd,
 * or -1 with a message.
 */
static int
lock_data_dir(const char *dir, char *err, size_t errlen)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/vigia.lock", dir);
    int fd = -1;
    if (make_dir(dir) < 0 || (fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0) {
        snprintf(err, errlen, "data directory '%s': %s", dir, strerror(errno));
        return -1;
    }
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    if (fcntl(fd, F_SETLK, &fl) < 0) {
        if (errno == EACCES || errno == EAGAIN)
            snprintf(err, errlen, "data directory '%s' is in use by another vigia server (pid %ld, see its "
                     "vigia.lock): stop it first, or give this one its own --data", dir, lock_holder(fd));
        else
            snprintf(err, errlen, "cannot lock %s/vigia.lock: %s", dir, strerror(errno));
        close(fd);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        vg_warn("server", "%s: cannot write the pid: %s", path, strerror(errno));
    return fd;
}


/* Lets the data directory go: the pid in the file would name a process that is gone. */
static void
unlock_data_dir(int fd)
{
    if (fd < 0)
        return;
    if (ftruncate(fd, 0) < 0)
        vg_debug("server", "cannot empty the lock file: %s", strerror(errno));
    close(fd);
}


vg_server *vg_app_server(const vg_app *app) { return app->srv; }
vg_pool *vg_app_pool(const vg_app *app) { return app->pool; }


int
vg_app_bootstrap(vg_app *app, FILE *out)
{
    if (app->shared)
        return 0;   /* once caught up with the other nodes (cli/shared_state.h) */
    return vg_auth_bootstrap(app->auth, out);
}


void
vg_app_destroy(vg_app *app)
{
    if (!app)
        return;
    vg_shared_state_on_camera(app->shared, NULL, NULL);   /* the streams go before the store's last answers */
    vg_zmq_detector_destroy(app->zmq);
    vg_mqtt_events_destroy(app->mqtt);
    vg_webhook_events_destroy(app->webhooks);
    vg_mjpeg_api_destroy(app->mjpeg);
    vg_kserve_api_destroy(app->kserve);
    vg_compare_api_destroy(app->compare);
    vg_stream_api_destroy(app->stream);
    vg_cpai_api_destroy(app->cpai);
    vg_detect_api_destroy(app->detect);
    vg_models_api_destroy(app->models);
    vg_cluster_front_destroy(app->cluster);
    if (app->pool)
        vg_pool_destroy(app->pool);
    /* the store first: its last answers still reach the modules */
    if (app->store)
        vg_store_destroy(app->store);
    vg_shared_state_destroy(app->shared);
    vg_history_destroy(app->history);
    vg_events_api_destroy(app->events);
    vg_cameras_api_destroy(app->cameras);
    vg_users_api_destroy(app->users);
    vg_auth_destroy(app->auth);
    vg_openapi_api_destroy(app->openapi);
    vg_static_release(&app->st);
    /* the connections close before the HTTP layer they speak goes */
    vg_server_destroy(app->srv);
    vg_http_destroy(app->http);
    free(app);
}


int
vg_serve(vg_config *cfg, const char *config_path, int argc, char **argv)
{
    char err[512];
    if (setup_log(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "vigia: %s\n", err);
        vg_config_release(cfg);
        free(cfg);
        return 2;
    }
    vg_log_set_process("master");
    /* before any process of ours touches the data directory */
    int lock = lock_data_dir(cfg->data_dir, err, sizeof err);
    if (lock < 0) {
        vg_error("server", "%s", err);
        vg_config_release(cfg);
        free(cfg);
        return 1;
    }
    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    if (!loop) {
        fprintf(stderr, "vigia: cannot start the event loop\n");
        unlock_data_dir(lock);
        vg_config_release(cfg);
        free(cfg);
        return 1;
    }
    int rc = 1;
    vg_app *app = vg_app_create(loop, cfg, err, sizeof err);
    if (!app) {
        vg_error("server", "%s", err);
        goto out;
    }
    vg_server *srv = app->srv;
    vg_server_set_reload_args(srv, config_path, argc, argv);
    if (vg_server_listen(srv, err, sizeof err) < 0) {
        vg_error("server", "%s", err);
        goto out;
    }
    vg_log_attach(loop);
    vg_info("server", "vigia %s started (pid %d, config %s)", PACKAGE_VERSION, (int)getpid(),
            cfg->config_path ? cfg->config_path : "defaults");
    vg_server_announce(srv);
    vg_app_bootstrap(app, stdout);   /* the one-time admin password on an empty database */
    rc = vg_server_run(srv);
out:
    vg_app_destroy(app);   /* the store and the workers have exited: the directory is free */
    unlock_data_dir(lock);
    vg_metrics_reset();
    vg_log_set_blocking(1);
    ev_loop_destroy(loop);
    return rc;
}
