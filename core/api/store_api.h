/*
 * store_api: everything of the master that needs the store, created in one
 * call from serve(): the store and hasher processes (store_client.h), auth
 * and its request filter (auth.h), the users routes (users_api.h) and the
 * history, feedback and stats routes (history_api.h). Its server hooks make
 * a drain wait for unacknowledged writes and /ready report the store.
 */
#ifndef VG_STORE_API_H
#define VG_STORE_API_H

#include <stddef.h>
#include <stdio.h>

struct vg_http;
struct vg_history;
typedef struct vg_store_api vg_store_api;

/* Forks the store before any listener exists; registers the routes on http. NULL with a message on failure. */
vg_store_api *vg_store_api_create(struct vg_http *http, char *err, size_t errlen);
/* First start on an empty database: the one-time admin password goes to `out`. */
int vg_store_api_bootstrap(vg_store_api *s, FILE *out);
struct vg_history *vg_store_api_history(vg_store_api *s);
/* The store client, for modules that read the database (vg_store_db()). */
struct vg_store;
struct vg_store *vg_store_api_store(vg_store_api *s);
/* The store's options from the config (the CLI and benchmarks use them too). */
struct vg_config;
struct vg_store_options;
void vg_store_options_from_config(const struct vg_config *cfg, struct vg_store_options *o);
/* Lets the store commit and exit, then frees everything. */
void vg_store_api_destroy(vg_store_api *s);

#endif
