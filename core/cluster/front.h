/*
 * front: a front end's side of the cluster. It hands the pool a remote
 * (pool.h: vg_pool_remote) so that a job the local workers cannot take
 * (the model is not here, or its queue is full) goes on the bus: XADD to
 * vigia:jobs:MODEL with a deadline and this front end's reply stream
 * (vigia:reply:NODE), read back with XREAD BLOCK on a bus of its own.
 * It advertises this front end and reads the placement view (which node
 * serves what), answers 503 with the reason when no node serves the model,
 * 429 past max_inflight jobs of a model waiting on the cluster, and when
 * the bus goes down answers its waiting jobs 503 (local models keep
 * serving) and reconnects with backoff.
 */
#ifndef VG_CLUSTER_FRONT_H
#define VG_CLUSTER_FRONT_H

#include <stdint.h>

#include "cluster/bus.h"
#include "pool/pool.h"

struct ev_loop;

typedef struct vg_cluster_options {
    const char *node;              /* this node's name ([A-Za-z0-9._-], <= 64; NULL: host-pid) */
    uint32_t interval_ms;          /* placement advertised and read every (1000) */
    uint32_t ttl_ms;               /* a silent node leaves the view after (3000) */
    uint32_t claim_after_ms;       /* a job unacknowledged this long is claimed by another node (5000) */
    uint32_t job_timeout_ms;       /* deadline of a job that names none (30000) */
    unsigned max_inflight;         /* jobs of one model waiting on the cluster, per front end (64) */
    unsigned stream_max;           /* entries kept in a job or reply stream (XADD MAXLEN ~) (10000) */
} vg_cluster_options;

void vg_cluster_options_init(vg_cluster_options *o);

/* The node name of o (or a default made from the host name and pid) into out. */
void vg_cluster_node_name(const vg_cluster_options *o, char *out, size_t outlen);

typedef struct vg_cluster_front vg_cluster_front;

/*
 * Connects to url, advertises this front end, and sets itself as the
 * pool's remote. Errors: VG_E_INVAL (err says why), -ENOMEM.
 */
int vg_cluster_front_create(struct ev_loop *loop, const vg_bus_url *url, const vg_cluster_options *o,
                            vg_pool *pool, vg_cluster_front **out, char *err, size_t errlen);
/* Jobs still waiting answer VG_E_STOPPING inside this call; clears the pool's remote. */
void vg_cluster_front_destroy(vg_cluster_front *f);

#endif
