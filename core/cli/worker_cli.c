/*
 * worker_cli: `vigia worker`: a pool of local workers serving the cluster
 * bus (see worker_cli.h), and with cluster.node_listen an HTTP listener of
 * its own for /health, /ready and /metrics (the pool's per-model figures,
 * the node's jobs, the process), nothing else. SIGTERM and SIGINT reach it
 * through libev's own signal watchers: the first drains the node (the jobs
 * it runs finish and answer, the rest stays for others; /ready answers 503),
 * bounded by server.drain_timeout; a second one stops at once.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "api/model_metrics.h"
#include "api/ops.h"
#include "base/buf.h"
#include "base/log.h"
#include "cli/serve.h"
#include "cli/worker_cli.h"
#include "cluster/bus.h"
#include "cluster/front.h"
#include "cluster/node.h"
#include "http/http.h"
#include "net/server.h"
#include "pool/pool.h"


int
vg_worker_cli_take_models(int argc, char **argv, char *out, size_t outlen)
{
    int o = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--models") == 0 && i + 1 < argc) {
            snprintf(out, outlen, "%s", argv[++i]);
            continue;
        }
        if (strncmp(argv[i], "--models=", 9) == 0) {
            snprintf(out, outlen, "%s", argv[i] + 9);
            continue;
        }
        argv[o++] = argv[i];
    }
    return o;
}


/* The node's /ready: its own state (vg_cluster_worker_ready). */
static int
node_ready(vg_server *s, void *ud, char *why, size_t whylen)
{
    (void)s;
    return vg_cluster_worker_ready(ud, why, whylen);
}


/* The node's HTTP side (cluster.node_listen). */
typedef struct node_http {
    vg_server *srv;
    vg_http *http;
    vg_model_metrics *metrics;
} node_http;


/*
 * Listens on cluster.node_listen (nothing when it is empty) with the ops
 * routes only; the server gets a config of its own (it owns and frees it):
 * the node's listen addresses, every other key at its default. 0, or -1
 * with a message.
 */
static int
node_http_start(struct ev_loop *loop, const vg_config *cfg, vg_pool *pool, vg_cluster_worker *node, node_http *h,
                char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    if (cfg->cluster_node_listen.n == 0)
        return 0;
    vg_config *hc = vg_xmalloc(sizeof *hc);
    vg_config_init(hc);
    vg_buf list;
    vg_buf_init(&list);
    for (int i = 0; i < cfg->cluster_node_listen.n; i++)
        vg_buf_printf(&list, "%s%s", i ? "," : "", cfg->cluster_node_listen.v[i]);
    int rc = vg_config_set(hc, "server", "listen", vg_buf_cstr(&list), err, errlen);
    vg_buf_release(&list);
    if (rc < 0) {
        vg_config_release(hc);
        free(hc);
        return -1;
    }
    h->srv = vg_server_create(loop, hc);
    vg_server_leave_signals(h->srv);
    h->http = vg_http_create(h->srv);
    vg_ops_register(h->http);
    h->metrics = vg_model_metrics_create(pool);
    vg_server_hooks hooks = { .ready = node_ready, .ud = node };
    vg_server_add_hooks(h->srv, &hooks);
    return vg_server_listen(h->srv, err, errlen);
}


static void
node_http_stop(node_http *h)
{
    vg_model_metrics_destroy(h->metrics);
    vg_server_destroy(h->srv);   /* its connections first, then the routes they used */
    vg_http_destroy(h->http);
}


typedef struct drain {
    struct ev_loop *loop;
    vg_cluster_worker *node;
    double timeout;                /* server.drain_timeout */
    ev_timer bound;
    int draining;
} drain;


static void
on_drained(void *ud)
{
    drain *d = ud;
    vg_info("cluster", "drained: every job this node ran is answered");
    ev_break(d->loop, EVBREAK_ALL);
}


static void
on_drain_bound(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t;
    (void)revents;
    vg_warn("cluster", "drain: jobs still running after server.drain_timeout: left for other nodes to claim");
    ev_break(loop, EVBREAK_ALL);
}


/* The first SIGTERM/SIGINT drains (bounded by server.drain_timeout); a second one stops at once. */
static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    drain *d = w->data;
    if (d->draining || d->timeout <= 0) {
        vg_info("cluster", "signal %d: stopping", w->signum);
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    d->draining = 1;
    ev_timer_init(&d->bound, on_drain_bound, d->timeout, 0);
    ev_timer_start(loop, &d->bound);
    ev_unref(loop);
    unsigned n = vg_cluster_worker_drain(d->node, on_drained, d);
    vg_info("cluster", "signal %d: draining: out of the view, no more pulls, %u job(s) running finish; what waits "
            "in the streams is left for other nodes", w->signum, n);
}


int
vg_worker_cli_run(vg_config *cfg, const char *models, int argc, char **argv)
{
    char err[512] = "";
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: vigia worker --cluster redis://HOST:PORT[/DB] [--models a,b] [--cluster-node NAME]\n"
                   "                    [--workers N] [--paths-models DIR] [--cluster-node-listen HOST:PORT]\n"
                   "A worker node: runs the models' workers and takes their jobs from the cluster bus;\n"
                   "no HTTP API (--cluster-node-listen: /health, /ready and /metrics for Prometheus).\n"
                   "--models defaults to the default model. SIGTERM drains: the jobs running\n"
                   "finish and answer (up to --server-drain-timeout), the rest is left for other nodes.\n"
                   "The bus has no TLS (this hiredis\n"
                   "has none): between machines carry it over stunnel or WireGuard (docs/cluster.md).\n");
            return 0;
        }
        fprintf(stderr, "vigia worker: unknown option '%s' (see vigia worker --help)\n", argv[i]);
        return 2;
    }
    enum vg_log_level lvl;
    if (vg_log_level_parse(cfg->log_level, &lvl) == 0)
        vg_log_set_level(lvl);
    vg_log_set_process("node");
    vg_bus_url u;
    if (!cfg->cluster_url[0]) {
        fprintf(stderr, "vigia worker: --cluster redis://HOST:PORT is required\n");
        return 2;
    }
    if (vg_bus_url_parse(cfg->cluster_url, strlen(cfg->cluster_url), &u, err, sizeof err) != 0) {
        fprintf(stderr, "vigia worker: %s\n", err);
        return 2;
    }
    if (cfg->workers == 0) {
        fprintf(stderr, "vigia worker: --workers 0 leaves a worker node nothing to run\n");
        return 2;
    }
    const char *list = models && models[0] ? models : cfg->default_model;
    /* the pool loads exactly these */
    free(cfg->load_models);
    cfg->load_models = strdup(list);
    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    if (!loop || !cfg->load_models) {
        fprintf(stderr, "vigia worker: cannot start the event loop\n");
        return 1;
    }
    int rc = 1;
    vg_cluster_worker *node = NULL;
    node_http nh = { 0 };
    vg_pool *pool = vg_serve_pool(loop, cfg, err, sizeof err);
    if (!pool) {
        vg_error("cluster", "%s", err);
        goto out;
    }
    vg_cluster_options o;
    vg_serve_cluster_options(cfg, &o);
    if (vg_cluster_worker_create(loop, &u, &o, pool, list, &node, err, sizeof err) != 0) {
        vg_error("cluster", "%s", err);
        goto out;
    }
    if (node_http_start(loop, cfg, pool, node, &nh, err, sizeof err) != 0) {
        vg_error("cluster", "cluster.node_listen: %s", err);
        rc = 2;
        goto out;
    }
    drain d = { .loop = loop, .node = node, .timeout = cfg->drain_timeout };
    ev_signal term, intr;
    ev_signal_init(&term, on_signal, SIGTERM);
    ev_signal_init(&intr, on_signal, SIGINT);
    term.data = intr.data = &d;
    ev_signal_start(loop, &term);
    ev_signal_start(loop, &intr);
    ev_unref(loop);
    ev_unref(loop);
    printf("vigia worker node serving %s from redis://%s:%d/%d\n", list, u.host, u.port, u.db);
    fflush(stdout);
    if (nh.srv)
        vg_server_announce(nh.srv);   /* "vigia: serving URL" a listener */
    ev_run(loop, 0);
    ev_ref(loop);
    ev_ref(loop);
    ev_signal_stop(loop, &term);
    ev_signal_stop(loop, &intr);
    if (d.draining) {
        ev_ref(loop);
        ev_timer_stop(loop, &d.bound);
    }
    rc = 0;
out:
    node_http_stop(&nh);
    vg_cluster_worker_stop(node);   /* no more pulls; out of the view */
    if (pool)
        vg_pool_destroy(pool);   /* its jobs stay unacknowledged: another node claims them */
    vg_cluster_worker_destroy(node);
    return rc;
}
