/* store_api: see store_api.h. */
#include "api/store_api.h"

#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "api/history_api.h"
#include "base/log.h"
#include "http/http.h"
#include "store/store_client.h"
#include "api/users_api.h"

struct vg_store_api {
    vg_server *srv;
    vg_store *store;
    vg_auth *auth;
    vg_users_api *users;
    vg_history *history;
};


static int
hook_busy(vg_server *s, void *ud)
{
    (void)s;
    vg_store_api *a = ud;
    return (int)vg_store_pending(a->store);
}


static int
hook_ready(vg_server *s, void *ud, char *why, size_t whylen)
{
    (void)s;
    vg_store_api *a = ud;
    if (vg_store_pid(a->store) > 0)
        return 1;
    snprintf(why, whylen, "the store process is restarting");
    return 0;
}


void
vg_store_options_from_config(const vg_config *cfg, vg_store_options *o)
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
    o->hasher.t_cost = (uint32_t)cfg->argon2_iterations;
    o->hasher.m_cost_kib = (uint32_t)(cfg->argon2_memory / 1024);
    o->hasher.parallelism = (uint32_t)cfg->argon2_parallelism;
    o->max_pending = (size_t)cfg->store_max_pending;
    o->max_hash_pending = 64;
}


vg_store_api *
vg_store_api_create(vg_http *http, char *err, size_t errlen)
{
    vg_server *srv = vg_http_server(http);
    vg_store_api *a = vg_xcalloc(1, sizeof *a);
    a->srv = srv;
    vg_store_options o;
    vg_store_options_from_config(vg_server_config(srv), &o);
    if (vg_store_create(vg_server_loop(srv), &o, &a->store, err, errlen) != 0) {
        free(a);
        return NULL;
    }
    a->auth = vg_auth_create(http, a->store, err, errlen);
    if (!a->auth) {
        vg_store_destroy(a->store);
        free(a);
        return NULL;
    }
    a->users = vg_users_api_create(http, a->store);
    a->history = vg_history_create(http, a->store);
    vg_server_hooks h;
    memset(&h, 0, sizeof h);
    h.busy = hook_busy;
    h.ready = hook_ready;
    h.ud = a;
    vg_server_add_hooks(srv, &h);
    return a;
}


int
vg_store_api_bootstrap(vg_store_api *a, FILE *out)
{
    return vg_auth_bootstrap(a->auth, out);
}


struct vg_history *
vg_store_api_history(vg_store_api *a)
{
    return a ? a->history : NULL;
}


vg_store *
vg_store_api_store(vg_store_api *a)
{
    return a ? a->store : NULL;
}


void
vg_store_api_destroy(vg_store_api *a)
{
    if (!a)
        return;
    /* the store first: its last answers still reach the modules */
    vg_store_destroy(a->store);
    vg_history_destroy(a->history);
    vg_users_api_destroy(a->users);
    vg_auth_destroy(a->auth);
    free(a);
}
