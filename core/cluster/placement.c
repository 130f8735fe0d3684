/*
 * placement: advertising this node and reading every node's record, with
 * keys that expire (see placement.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <hiredis/hiredis.h>

#include "base/error.h"
#include "base/jsonw.h"
#include "base/log.h"
#include "cluster/placement.h"

struct vg_placement {
    struct ev_loop *loop;
    vg_bus *bus;
    char key[VG_CLUSTER_MAX_NAME + 16];     /* vigia:node:NAME */
    vg_cluster_node self;
    uint32_t interval_ms, ttl_ms;
    int read_view;
    vg_placement_fill_cb fill;
    void *ud;
    ev_timer tick;
    int reading;                   /* a view read is in flight */
    int *alive;                    /* set to 0 by destroy: replies in flight see it */
    size_t nnodes;                 /* the view */
    vg_cluster_node nodes[VG_PLACEMENT_MAX_NODES];
};


static void
advertise(vg_placement *pl)
{
    pl->self.nmodels = 0;
    if (pl->fill)
        pl->fill(&pl->self, pl->ud);
    vg_buf b;
    vg_buf_init(&b);
    vg_cluster_node_encode(&b, &pl->self);
    char ttl[16], score[24];
    snprintf(ttl, sizeof ttl, "%u", (unsigned)pl->ttl_ms);
    snprintf(score, sizeof score, "%lld", (long long)(vg_cluster_wall_ms() + pl->ttl_ms));
    const char *argv[] = { "SET", pl->key, b.data, "PX", ttl };
    size_t lens[] = { 3, strlen(pl->key), b.len, 2, strlen(ttl) };
    vg_bus_command(pl->bus, NULL, NULL, 5, argv, lens);
    vg_bus_commandv(pl->bus, NULL, NULL, "ZADD", "vigia:nodes", score, pl->self.name, NULL);
    vg_buf_release(&b);
}


typedef struct view_read {
    vg_placement *pl;
    int *alive;
} view_read;


static void
on_mget(vg_bus *bus, struct redisReply *r, void *ud)
{
    (void)bus;
    view_read *vr = ud;
    vg_placement *pl = *vr->alive ? vr->pl : NULL;
    if (!pl) {
        free(vr->alive);
        free(vr);
        return;
    }
    pl->reading = 0;
    if (r && r->type == REDIS_REPLY_ARRAY) {
        size_t n = 0;
        for (size_t i = 0; i < r->elements && n < VG_PLACEMENT_MAX_NODES; i++) {
            redisReply *e = r->element[i];
            char err[128];
            if (e->type != REDIS_REPLY_STRING)
                continue;   /* expired between the two reads */
            if (vg_cluster_node_decode(e->str, e->len, &pl->nodes[n], err, sizeof err) == 0)
                n++;
            else
                vg_warn("cluster", "placement: %s", err);
        }
        pl->nnodes = n;
    } else if (!r) {
        pl->nnodes = 0;
    }
    free(vr);
}


static void
on_names(vg_bus *bus, struct redisReply *r, void *ud)
{
    view_read *vr = ud;
    vg_placement *pl = *vr->alive ? vr->pl : NULL;
    if (!pl || !r || r->type != REDIS_REPLY_ARRAY) {
        if (pl) {
            pl->reading = 0;
            if (!r)
                pl->nnodes = 0;
        } else {
            free(vr->alive);
        }
        free(vr);
        return;
    }
    if (r->elements == 0) {
        pl->nnodes = 0;
        pl->reading = 0;
        free(vr);
        return;
    }
    size_t n = r->elements < VG_PLACEMENT_MAX_NODES ? r->elements : VG_PLACEMENT_MAX_NODES;
    const char *argv[VG_PLACEMENT_MAX_NODES + 1];
    size_t lens[VG_PLACEMENT_MAX_NODES + 1];
    char keys[VG_PLACEMENT_MAX_NODES][VG_CLUSTER_MAX_NAME + 16];
    size_t k = 0;
    argv[k] = "MGET";
    lens[k++] = 4;
    for (size_t i = 0; i < n; i++) {
        redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || !vg_cluster_name_ok(e->str, e->len))
            continue;
        int len = snprintf(keys[k - 1], sizeof keys[0], "vigia:node:%.*s", (int)e->len, e->str);
        argv[k] = keys[k - 1];
        lens[k++] = (size_t)len;
    }
    if (k == 1 || vg_bus_command(bus, on_mget, vr, (int)k, argv, lens) != 0) {
        pl->reading = 0;
        free(vr);
    }
}


static void
read_view(vg_placement *pl)
{
    if (pl->reading)
        return;
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)vg_cluster_wall_ms());
    vg_bus_commandv(pl->bus, NULL, NULL, "ZREMRANGEBYSCORE", "vigia:nodes", "-inf", now, NULL);
    view_read *vr = malloc(sizeof *vr);
    if (!vr)
        return;
    vr->pl = pl;
    vr->alive = pl->alive;
    if (vg_bus_commandv(pl->bus, on_names, vr, "ZRANGE", "vigia:nodes", "0", "-1", NULL) != 0) {
        free(vr);
        return;
    }
    pl->reading = 1;
}


static void
on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    vg_placement *pl = t->data;
    if (!vg_bus_is_up(pl->bus)) {
        pl->nnodes = 0;
        return;
    }
    advertise(pl);
    if (pl->read_view)
        read_view(pl);
}


int
vg_placement_create(struct ev_loop *loop, vg_bus *bus, const char *name, const char *role, uint32_t interval_ms,
                    uint32_t ttl_ms, int read_view_, vg_placement_fill_cb fill, void *ud, vg_placement **out)
{
    *out = NULL;
    if (!loop || !bus || !name || !vg_cluster_name_ok(name, strlen(name)) || !role || strlen(role) >= 16 ||
        interval_ms == 0 || ttl_ms <= interval_ms)
        return VG_E_INVAL;
    vg_placement *pl = calloc(1, sizeof *pl);
    int *alive = malloc(sizeof *alive);
    if (!pl || !alive) {
        free(pl);
        free(alive);
        return -ENOMEM;
    }
    *alive = 1;
    pl->alive = alive;
    pl->loop = loop;
    pl->bus = bus;
    snprintf(pl->key, sizeof pl->key, "vigia:node:%s", name);
    snprintf(pl->self.name, sizeof pl->self.name, "%s", name);
    snprintf(pl->self.role, sizeof pl->self.role, "%s", role);
    pl->interval_ms = interval_ms;
    pl->ttl_ms = ttl_ms;
    pl->read_view = read_view_;
    pl->fill = fill;
    pl->ud = ud;
    ev_timer_init(&pl->tick, on_tick, 0, interval_ms / 1000.0);
    pl->tick.data = pl;
    ev_timer_start(loop, &pl->tick);
    *out = pl;
    return 0;
}


void
vg_placement_destroy(vg_placement *pl)
{
    if (!pl)
        return;
    ev_timer_stop(pl->loop, &pl->tick);
    if (vg_bus_is_up(pl->bus)) {   /* leave the view now rather than at the TTL */
        vg_bus_commandv(pl->bus, NULL, NULL, "DEL", pl->key, NULL);
        vg_bus_commandv(pl->bus, NULL, NULL, "ZREM", "vigia:nodes", pl->self.name, NULL);
    }
    if (pl->reading)
        *pl->alive = 0;   /* the read in flight frees it */
    else
        free(pl->alive);
    free(pl);
}


void
vg_placement_kick(vg_placement *pl)
{
    if (pl && vg_bus_is_up(pl->bus))
        advertise(pl);
}


unsigned
vg_placement_find(const vg_placement *pl, const char *model, unsigned *free_, char *why, size_t whylen)
{
    unsigned nodes = 0, slots = 0;
    const char *state = NULL;
    for (size_t i = 0; i < pl->nnodes; i++) {
        const vg_cluster_node *n = &pl->nodes[i];
        if (strcmp(n->role, "worker") != 0)
            continue;
        for (size_t k = 0; k < n->nmodels; k++) {
            const vg_cluster_model *m = &n->models[k];
            if (strcmp(m->name, model) != 0)
                continue;
            /* degraded: a worker is respawning; the job waits in the stream until one pulls it */
            if (strcmp(m->state, "ready") == 0 || strcmp(m->state, "degraded") == 0) {
                nodes++;
                slots += m->free;
            } else {
                state = m->state;
            }
        }
    }
    if (free_)
        *free_ = slots;
    if (!nodes && why && whylen) {
        if (state)
            snprintf(why, whylen, "model '%.64s' is on a worker node of the cluster, but %s there", model, state);
        else
            snprintf(why, whylen, "no worker node of the cluster serves model '%.64s' (%zu node%s in view)", model,
                     pl->nnodes, pl->nnodes == 1 ? "" : "s");
    }
    return nodes;
}


void
vg_placement_describe(const vg_placement *pl, struct vg_jsonw *w)
{
    vg_jsonw_karr(w, "nodes");
    for (size_t i = 0; i < pl->nnodes; i++) {
        const vg_cluster_node *n = &pl->nodes[i];
        vg_jsonw_obj(w);
        vg_jsonw_kstr(w, "name", n->name);
        vg_jsonw_kstr(w, "role", n->role);
        vg_jsonw_karr(w, "models");
        for (size_t k = 0; k < n->nmodels; k++) {
            vg_jsonw_obj(w);
            vg_jsonw_kstr(w, "name", n->models[k].name);
            vg_jsonw_kstr(w, "state", n->models[k].state);
            vg_jsonw_kuint(w, "workers_ready", n->models[k].ready);
            vg_jsonw_kuint(w, "free", n->models[k].free);
            vg_jsonw_obj_end(w);
        }
        vg_jsonw_arr_end(w);
        vg_jsonw_obj_end(w);
    }
    vg_jsonw_arr_end(w);
}
