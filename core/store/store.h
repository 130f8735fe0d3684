/*
 * store: the process that owns every LMDB write of a running server, and
 * the password hasher. Both are forked from the master (core/store/chan.h) and
 * serve requests framed as in base/frame.h, answering each in order.
 *
 * Group commit: the store applies requests to one open write transaction
 * and commits it when commit_records requests are in it or commit_interval
 * has passed since the first, whichever comes first (or when the master
 * closes the socket). Answers go out only after the commit returned, so
 * an acknowledged write is on disk (LMDB fsyncs at commit) and survives a
 * kill -9 of any process. When the map is full the batch is rolled back,
 * the map doubled (up to map_max) and the batch replayed; at the cap each
 * request is retried alone and those that still do not fit are answered
 * VG_E_FULL (HTTP 507). Between batches the store enforces retention
 * (old detections, old images, expired sessions) in small transactions.
 *
 * Requests are msgpack arrays [op, ...]; answers are [status, ...] with
 * status 0 or a VG_E_* code:
 *   DET_ADD        [1, key bin16, uid, source, model, total_us, [[label, count]...],
 *                   record bin, image bin|nil]           -> [st]
 *                  The record's last entry is "img": a 32-byte bin the store
 *                  overwrites with the image's SHA-256 (it writes the file).
 *   USER_CREATE    [2, name, email, role, hash, now, must_change] -> [st, uid]
 *   USER_UPDATE    [3, uid, email|nil, role|nil, hash|nil, disabled|nil, now] -> [st]
 *                  (a new hash ends the user's sessions, revokes its API keys
 *                  and clears must_change)
 *   USER_DELETE    [4, uid]                              -> [st]
 *   SESSION_CREATE [5, token sha256, uid, family bin16, expires, now] -> [st]
 *   SESSION_ROTATE [6, old sha256, new sha256, now, expires(, grace)] -> [st, uid, family]
 *                  grace: seconds a spent token may come back while its
 *                  successor is unused (a lost answer; absent: 0)
 *   FAMILY_REVOKE  [7, uid, family]                      -> [st]
 *   APIKEY_CREATE  [8, key sha256, uid, name, role, prefix, now] -> [st, kid]
 *   APIKEY_REVOKE  [9, uid, kid]                         -> [st]
 *   FEEDBACK_ADD   [10, key bin16, detection bin16, uid, record bin] -> [st]
 *   SYNC           [11]                                  -> [0] after everything before it is durable
 *   REPL           [12, ms, seq, (epoch, (origin, oseq,)) request bin] -> [st, inner]
 *                  a write replicated from another node (store/repl.h), with
 *                  its stream id ms-seq: applied unless an id at or above it
 *                  was, in the transaction that records the id; inner is the
 *                  request's status, or VG_STORE_REPL_SEEN when skipped. In
 *                  it, USER_CREATE and APIKEY_CREATE end with the id the
 *                  origin node assigned, and REPL and SYNC are refused. The
 *                  epoch (u64; absent: 0) names the stream: one that differs
 *                  from the recorded non-zero epoch is a stream made anew
 *                  (its ids start over), where nothing counts as applied.
 *                  origin (str, 1-64 bytes) and oseq (u64, 0: none) name the
 *                  entry at its origin node: an oseq at or below the last one
 *                  applied of that origin is the same write appended again,
 *                  skipped (VG_STORE_REPL_SEEN) while its id is recorded.
 *   OUTBOX_DONE    [13, upto]                            -> [st]
 *                  the state Redis took the outbox entries numbered up to
 *                  upto: deleted. With cfg.outbox, every request whose write
 *                  is replicated (store/repl_entry.h) also puts its entry in
 *                  the outbox, numbered in order, in the same commit.
 *   EVENT_ADD      [14, key bin16, event JSON bin]       -> [st]
 *   CAMERA_PUT     [15, id, {zones, lines} JSON bin]     -> [st]  (an empty bin removes them)
 *   UNIQUE_ADD     [16, time_ms, label|nil, upper|nil, lower|nil] -> [st]
 *                  one unique tracked object (a label) and/or a person track's
 *                  colours, counted into the hour and day buckets of time_ms
 *                  (docs/api.md, /v1/stats)
 * Hasher: HASH [1, password] -> [st, encoded]; VERIFY [2, encoded, password] -> [st, ok]
 */
#ifndef VG_STORE_H
#define VG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store_ops.h"

#define VG_STORE_REPL_SEEN 1           /* REPL's inner status: applied before, skipped */

enum vg_hasher_op { VG_HASHER_HASH = 1, VG_HASHER_VERIFY = 2 };

#define VG_STORE_MAX_PASSWORD 1024

typedef struct vg_store_config {
    char data_dir[1024];
    size_t map_size;               /* initial LMDB map */
    size_t map_max;                /* the map grows up to this */
    unsigned commit_records;       /* N: commit after this many requests */
    double commit_interval;        /* M: ... or this many seconds after the first */
    double retention;              /* seconds detections are kept; 0 = forever */
    double image_retention;        /* seconds images are kept; 0 = as long as their detection */
    double sweep_interval;         /* seconds between retention passes */
    int nosync;                    /* benchmarks of the peer only */
    int outbox;                    /* shared state: each replicated write also goes to the outbox, same commit */
} vg_store_config;

typedef struct vg_hasher_config {
    uint32_t t_cost;               /* argon2id iterations */
    uint32_t m_cost_kib;           /* memory */
    uint32_t parallelism;
} vg_hasher_config;

/* Child bodies for vg_chan (arg: a vg_store_config / vg_hasher_config). */
void vg_store_main(int fd, void *arg);
void vg_hasher_main(int fd, void *arg);

/* Argon2id of a password (blocking; children and the CLI only). 0 or -1. */
int vg_password_hash(const vg_hasher_config *c, const char *pw, size_t n, char *out, size_t cap);
/* 1 match, 0 mismatch or malformed hash. */
int vg_password_verify(const char *encoded, const char *pw, size_t n);

#endif
