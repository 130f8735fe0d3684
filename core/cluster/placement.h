/*
 * placement: which node of the cluster runs which model, through keys that
 * expire. Each node advertises itself every interval (SET vigia:node:NAME
 * with a TTL, and its name in the sorted set vigia:nodes scored by when it
 * expires); a node that stops (SIGSTOP, crash, lost network) leaves the view
 * within the TTL. Front ends read the view (every node's record) on the
 * same interval, and answer "who serves model M, with how many free slots".
 * Runs on a bus (bus.h); while the bus is down the view is empty.
 */
#ifndef VG_CLUSTER_PLACEMENT_H
#define VG_CLUSTER_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/bus.h"
#include "cluster/envelope.h"

struct ev_loop;
struct vg_jsonw;

typedef struct vg_placement vg_placement;

/* Fills this node's record (name and role are already set); called before each advertisement. */
typedef void (*vg_placement_fill_cb)(vg_cluster_node *self, void *ud);

#define VG_PLACEMENT_MAX_NODES 64

/*
 * Starts advertising `name` with `role` ("worker" or "front") on `bus`
 * every interval_ms with a TTL of ttl_ms, and, when `read_view` is set,
 * reading the cluster's view. Errors: VG_E_INVAL, -ENOMEM.
 */
int vg_placement_create(struct ev_loop *loop, vg_bus *bus, const char *name, const char *role,
                        uint32_t interval_ms, uint32_t ttl_ms, int read_view, vg_placement_fill_cb fill, void *ud,
                        vg_placement **out);
void vg_placement_destroy(vg_placement *pl);

/* Advertises now (after this node's state changed: a model became ready, slots freed). */
void vg_placement_kick(vg_placement *pl);

/*
 * The worker nodes that serve `model` ready or degraded (a worker
 * respawning: the job waits in the stream for it): how many (0: unplaced) and
 * their free slots together in *free. `why` (may be NULL) says why none
 * does: unknown to the cluster, or there but not ready (its state).
 */
unsigned vg_placement_find(const vg_placement *pl, const char *model, unsigned *free, char *why, size_t whylen);

/* Writes "nodes": [{name, role, models: [{name, state, ready, free}]}] into an open object. */
void vg_placement_describe(const vg_placement *pl, struct vg_jsonw *w);

#endif
