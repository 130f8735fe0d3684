/*
 * repl: the store's side of replication between vigia nodes (docs/cluster.md,
 * "Shared state"). The store knows nothing of Redis: the cluster layer
 * carries entries, opaque byte strings, between nodes, and this module
 * makes and applies them.
 *
 *   - out: vg_store_on_commit() (store_client.h) hears each replicated
 *     write this node's store committed, as an entry (store/repl_entry.h):
 *     the request in the form another store applies;
 *   - in: vg_store_repl_apply() hands an entry from another node, with its
 *     stream id, to the local store, which applies it at most once, in the
 *     transaction that records the id (store.h, REPL); so a store killed
 *     mid-way applies each entry exactly once, and a node that was away
 *     resumes after vg_store_repl_position().
 *
 * Entries are applied in stream-id order; an id at or below the recorded
 * one is skipped (VG_STORE_REPL_SEEN), so the caller may resend from any
 * earlier point.
 */
#ifndef VG_STORE_REPL_H
#define VG_STORE_REPL_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/mpk.h"

typedef struct vg_store vg_store;

#define VG_STORE_REPL_MAX (1u << 20)   /* bytes of one entry (the store's frame limit) */

/*
 * The last entry applied: ms-seq, 0-0 when none, and the epoch of the
 * stream it came from (0: none recorded), in one short read snapshot.
 * 0 or a store read error (store_read.h).
 */
int vg_store_repl_position(vg_store *s, uint64_t *ms, uint64_t *seq, uint64_t *epoch);

/* Where an entry comes from (store.h, REPL). */
typedef struct vg_store_repl_id {
    uint64_t ms, seq;              /* its stream id */
    uint64_t epoch;                /* its stream's epoch (0: unnamed; another than the recorded one starts the ids over) */
    const char *origin;            /* its origin node's id (n bytes, at most 64), or NULL */
    size_t origin_n;
    uint64_t oseq;                 /* its number at the origin (0: none): an appended-again copy is skipped */
} vg_store_repl_id;

/*
 * Applies entry p (n bytes, copied) with its id. On 0 cb runs
 * once the store committed it or failed: status 0 with inner the entry's
 * own status (VG_STORE_REPL_SEEN: applied before), or a store error
 * (VG_E_STORE_DOWN when the store died: resend from vg_store_repl_position).
 * Errors without cb: VG_E_INVAL (empty, oversized or a 0-0 id),
 * VG_E_STORE_BUSY.
 */
int vg_store_repl_apply(vg_store *s, const vg_store_repl_id *id, const void *p, size_t n,
                        void (*cb)(int status, int64_t inner, void *ud), void *ud);

/*
 * The outbox (store.h, cfg.outbox): this node's replicated writes, each
 * put there in the commit of its write and numbered in order, until the
 * state Redis took them. vg_store_outbox_read() calls each() for the
 * entries numbered above `after`, in order, at most max (one short read
 * snapshot): how many, or a store read error. vg_store_outbox_done() has
 * the store delete those numbered up to `upto`; cb (may be NULL) hears
 * the status.
 */
int vg_store_outbox_read(vg_store *s, uint64_t after, size_t max,
                         void (*each)(uint64_t num, const void *p, size_t n, void *ud), void *ud);
int vg_store_outbox_done(vg_store *s, uint64_t upto, void (*cb)(int status, void *ud), void *ud);
/* How many entries the outbox holds (0 on a read error). */
size_t vg_store_outbox_count(vg_store *s);

#endif
