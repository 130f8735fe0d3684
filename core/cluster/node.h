/*
 * node: a worker node (`vigia worker --cluster URL --models a,b`): no HTTP
 * clients; the same pool of forked workers as a front end, fed from the
 * bus. Per model it reads vigia:jobs:MODEL in the consumer group
 * "workers" with XREADGROUP COUNT = its free slots (workers ready less jobs
 * it runs: pull is the back-pressure), runs each job on its pool, XADDs the
 * result to the job's reply stream and XACKs it. A live frame past its
 * deadline is dropped unrun; a job that killed workers twice (the pool's
 * VG_E_WORKERDIED) goes to vigia:dead:MODEL. Jobs another node left
 * unacknowledged for claim_after_ms are claimed (XPENDING, then XCLAIM);
 * a request job claimed after its second delivery is answered 503 and
 * dead-lettered, a live one is dropped. The node advertises its models
 * and free slots (placement.h), and counts its jobs on the process's
 * metrics (vigia_node_*).
 */
#ifndef VG_CLUSTER_NODE_H
#define VG_CLUSTER_NODE_H

#include "cluster/bus.h"
#include "cluster/front.h"
#include "pool/pool.h"

struct ev_loop;

typedef struct vg_cluster_worker vg_cluster_worker;

/*
 * Serves `models` (comma-separated; each must be loaded in pool) from the
 * bus at url. Errors: VG_E_INVAL (err says why), -ENOMEM.
 */
int vg_cluster_worker_create(struct ev_loop *loop, const vg_bus_url *url, const vg_cluster_options *o,
                             vg_pool *pool, const char *models, vg_cluster_worker **out, char *err, size_t errlen);
/*
 * Whether the node is ready (its /ready, `vigia worker --cluster-node-listen`):
 * not draining, the bus up, every model with a worker ready. 1, or 0 with
 * the reason in why.
 */
int vg_cluster_worker_ready(const vg_cluster_worker *w, char *why, size_t whylen);
/*
 * Stops pulling and claiming and leaves the placement view; the node makes
 * no more pool calls. Then destroy the pool: its jobs end with
 * VG_E_STOPPING and stay unacknowledged, for another node to claim.
 * Then vg_cluster_worker_destroy(). NULL is allowed for both.
 */
void vg_cluster_worker_stop(vg_cluster_worker *w);
void vg_cluster_worker_destroy(vg_cluster_worker *w);
/*
 * A graceful stop: stops as vg_cluster_worker_stop() (no more pulls or
 * claims, out of the view), lets the jobs it runs (and any a read in flight
 * brings) finish, answer and be acknowledged, then calls drained(ud) once.
 * What waits in the streams stays there for other nodes. Returns the jobs
 * running when it began. Stop the pool only after drained (or after the
 * caller's own bound: the rest are left unacknowledged, for others to claim).
 */
unsigned vg_cluster_worker_drain(vg_cluster_worker *w, void (*drained)(void *ud), void *ud);

#endif
