/*
 * shared_state: wires the state shared between nodes (docs/cluster.md,
 * "Shared state") when [cluster] state_url is set: the store's committed
 * writes, kept in its outbox in the same commit, go to the replica's stream
 * and leave the outbox once Redis took them (store/repl.h,
 * cluster/replica.h), the
 * other nodes' entries come back to the store, and on an empty database the
 * first admin is made only once this node has caught up with the stream
 * (so a node joining a cluster takes the cluster's users instead of
 * minting an admin of its own).
 */
#ifndef VG_CLI_SHARED_STATE_H
#define VG_CLI_SHARED_STATE_H

#include <stddef.h>
#include <stdio.h>

struct ev_loop;
struct vg_config;
struct vg_store;
struct vg_auth;
typedef struct vg_shared_state vg_shared_state;

/*
 * Starts sharing, or *out = NULL when state_url is empty. `boot_out`: where
 * the first admin's one-time password is printed (see vg_auth_bootstrap);
 * it must stay open. Returns 0, or -1 with a message (a bad URL, an
 * unreadable node id).
 */
int vg_shared_state_create(struct ev_loop *loop, const struct vg_config *cfg, struct vg_store *store,
                           struct vg_auth *auth, FILE *boot_out, vg_shared_state **out, char *err, size_t errlen);
/*
 * A camera's zones and lines that another node stored, once this node's
 * store applied them: id, and the shapes as stored (JSON; 0 bytes: the
 * camera's were removed). Called on the loop.
 */
typedef void (*vg_shared_camera_fn)(const char *id, const void *shapes, size_t n, void *ud);
void vg_shared_state_on_camera(vg_shared_state *s, vg_shared_camera_fn fn, void *ud);
/* After the store is destroyed (its last answers may still publish). NULL is allowed. */
void vg_shared_state_destroy(vg_shared_state *s);

#endif
