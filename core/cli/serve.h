/*
 * serve: `vigia [serve]`, the server. Builds the process tree and the
 * layers in order: the reactor (net), HTTP with CORS, static files and the
 * probes (http, api/ops), the store and hasher processes with auth, users
 * and history (api/store_api), the worker pool and its models, the
 * detection, streaming and dialect routes; then listens and runs until
 * drained. It owns the pool and hands it to the modules that need it.
 */
#ifndef VG_SERVE_H
#define VG_SERVE_H

#include <stdio.h>

#include "base/config.h"

struct ev_loop;
struct vg_pool;
struct vg_server;
typedef struct vg_app vg_app;

/*
 * Every module of a server, assembled on `loop` (takes ownership of cfg):
 * forks the store, the hasher and the workers, registers every route and
 * hook; does not listen. NULL with a message (cfg is freed then too).
 */
vg_app *vg_app_create(struct ev_loop *loop, vg_config *cfg, char *err, size_t errlen);
struct vg_server *vg_app_server(const vg_app *app);
struct vg_pool *vg_app_pool(const vg_app *app);
/* On an empty database: the user "admin" with a one-time password printed on out once it is stored (1: out
 * must stay open until then, the loop running), else 0, or -1. */
int vg_app_bootstrap(vg_app *app, FILE *out);
void vg_app_destroy(vg_app *app);

/*
 * The worker pool from the config, with the models of detect.load (else the
 * default model) loading. Workers fork here: call it before anything
 * initialises libvips and before any listener exists for them to inherit.
 * NULL with a message.
 */
struct vg_pool *vg_serve_pool(struct ev_loop *loop, const vg_config *cfg, char *err, size_t errlen);

/*
 * Runs the server; takes ownership of cfg. config_path, argc and argv are
 * what SIGHUP reloads. Returns the exit status: 0 drained, 1 failure, 2 bad
 * config.
 */
struct vg_cluster_options;
struct vg_cluster_front;
/* The [cluster] settings as the cluster's options (strings point into cfg). */
void vg_serve_cluster_options(const vg_config *cfg, struct vg_cluster_options *o);
/*
 * Joins the cluster when cluster.url is set (*out NULL when not); -1 with
 * err on a bad URL or workers = 0 without a cluster.
 */
int vg_serve_cluster(struct ev_loop *loop, const vg_config *cfg, struct vg_pool *pool, struct vg_cluster_front **out,
                     char *err, size_t errlen);

int vg_serve(vg_config *cfg, const char *config_path, int argc, char **argv);

#endif
