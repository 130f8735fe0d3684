/*
 * replica: the master's side of shared state between vigia nodes
 * (docs/cluster.md, "Shared state"): one Redis stream, `vigia:repl` on the
 * state Redis, carries every replicated write of every node as an opaque
 * entry with its origin node id.
 *
 *   - out: vg_replica_publish() queues an entry of this node (its store
 *     committed the write) and appends it in order with XADD on a bus of
 *     its own (trimmed to about maxlen entries). While the bus is down
 *     entries wait in a bounded queue (max_queue entries, max_queue_bytes);
 *     beyond it the oldest are dropped, counted and logged (a caller with
 *     a durable copy, the store's outbox, hands no more than there is room
 *     for and hears with sent() what Redis took).
 *   - in: another bus reads the stream with XREAD BLOCK from the position
 *     the local store recorded (position()), skips this node's own
 *     entries, and hands the others in order to apply(), a batch at a time
 *     (the next read waits for the batch's answers). A failed apply, a
 *     dropped bus or a store restart makes it re-read from the store's
 *     recorded position: the store skips what it applied (exactly once).
 *     When the stream was trimmed past that position, the gap is logged
 *     and counted, and reading goes on from the oldest entry left.
 *   - numbers: each entry of this node carries its number ("s", given
 *     by the caller, rising); an entry appended again (the bus
 *     dropped after Redis took it) carries the same number, and the store
 *     skips it (store.h, REPL: one last number per origin).
 *   - epoch: a random name for the stream, kept beside it at STREAM:epoch
 *     (SET NX by the first node to read); the store records it with the
 *     position. Another epoch than the recorded one means the state Redis
 *     lost its data and the stream started over: logged, counted, read
 *     from its start, and the store takes its ids afresh.
 *
 * Nothing blocks the loop. Callbacks run from the loop. The replica knows
 * nothing of the store: the caller hands it the two functions.
 */
#ifndef VG_CLUSTER_REPLICA_H
#define VG_CLUSTER_REPLICA_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/bus.h"

struct ev_loop;
typedef struct vg_replica vg_replica;

#define VG_REPLICA_MAX_NODE 64         /* bytes of a node id */
#define VG_REPLICA_MAX_ENTRY (1u << 20) /* bytes of one entry; a longer one read is skipped, logged */

/* Ends one apply: status 0 once the entry is durable, VG_REPLICA_SEEN when it was applied before, else an error. */
#define VG_REPLICA_SEEN 1
typedef void (*vg_replica_done_fn)(int status, void *done_ud);

/* Where an entry read comes from. */
typedef struct vg_replica_id {
    uint64_t ms, seq;              /* its stream id */
    uint64_t epoch;                /* its stream's epoch (0: unnamed) */
    const char *origin;            /* the node that appended it (origin_n bytes, 1..VG_REPLICA_MAX_NODE) */
    size_t origin_n;
    uint64_t oseq;                 /* its number at that node ("s"; 0: not numbered) */
} vg_replica_id;

typedef struct vg_replica_hooks {
    /*
     * Hands entry p (n bytes, valid during the call) with its id (its
     * fields valid during the call) to the local store. Returns 0 and calls done exactly once
     * later, or an error (done never called).
     */
    int (*apply)(const vg_replica_id *id, const void *p, size_t n, vg_replica_done_fn done, void *done_ud,
                 void *ud);
    /* The id of the last entry the local store applied (0-0: none) and its stream's epoch (0: none). 0 or an
     * error. */
    int (*position)(uint64_t *ms, uint64_t *seq, uint64_t *epoch, void *ud);
    /* Once, the first time the store has applied every entry there was (may be NULL). */
    void (*caught_up)(void *ud);
    /* The state Redis took (or refused: dropped) this node's entry oseq; called in order (may be NULL). */
    void (*sent)(uint64_t oseq, void *ud);
    void *ud;
} vg_replica_hooks;

typedef struct vg_replica_options {
    const char *node;              /* this node's id (copied), 1..VG_REPLICA_MAX_NODE bytes */
    const char *stream;            /* the stream key ("vigia:repl") */
    size_t maxlen;                 /* XADD MAXLEN ~ this (0: never trimmed) */
    size_t max_queue;              /* entries waiting for the bus (10000) */
    size_t max_queue_bytes;        /* their bytes (64 MiB) */
    uint32_t read_count;           /* entries per XREAD (64) */
    uint32_t block_ms;             /* XREAD BLOCK (1000) */
} vg_replica_options;

void vg_replica_options_init(vg_replica_options *o);

/*
 * Opens the two buses to `url` and starts reading once they are up.
 * Errors: VG_E_INVAL (options), -ENOMEM.
 */
int vg_replica_create(struct ev_loop *loop, const vg_bus_url *url, const vg_replica_options *o,
                      const vg_replica_hooks *h, vg_replica **out);
/* Stops; queued entries not yet appended are dropped (logged). NULL is allowed. */
void vg_replica_destroy(vg_replica *r);

/*
 * Queues entry p (n bytes, copied) of this node, numbered oseq (rising: one
 * at or below the last queued is taken as queued already, 0 returned), for
 * the stream. 0, VG_E_INVAL (size, oseq 0).
 */
int vg_replica_publish(vg_replica *r, uint64_t oseq, const void *p, size_t n);

typedef struct vg_replica_stats {
    uint64_t published;            /* entries appended to the stream */
    uint64_t dropped;              /* entries dropped from a full queue */
    uint64_t applied;              /* entries of other nodes the store applied */
    uint64_t skipped;              /* entries of other nodes it had applied before (read again) */
    uint64_t gaps;                 /* times the stream was found trimmed past the store's position */
    uint64_t resyncs;              /* times the stream was found made anew (another epoch) */
    size_t queued;                 /* entries waiting to be appended */
    size_t queued_bytes;           /* their bytes */
    int up;                        /* both buses up */
} vg_replica_stats;

void vg_replica_stats_get(const vg_replica *r, vg_replica_stats *st);

/* The bus that appends (not blocked by reads): for short commands of the caller's own. */
vg_bus *vg_replica_bus(vg_replica *r);

#endif
